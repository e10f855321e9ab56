"""The exceptions mountkit raises.

Every error names what is at fault (file, field, plugin or value) and, where
there is one, what to do about it.  All derive from :class:`MountkitError`, so
``except mountkit.MountkitError`` catches everything the library raises on
purpose.
"""

from __future__ import annotations

from collections.abc import Sequence


class MountkitError(Exception):
    """Base class of every error mountkit raises on purpose."""


class PluginError(MountkitError):
    """A plugin failed to import, raised in a hook, or registered something malformed."""

    def __init__(self, plugin: str, reason: str):
        self.plugin = plugin
        self.reason = reason
        super().__init__(f"plugin {plugin!r}: {reason}")


class ProfileError(MountkitError, ValueError):
    """A lens or camera profile is malformed or physically implausible.

    ``source`` names the file (or plugin) the profile came from and ``field``
    the key path at fault, when known.
    """

    def __init__(self, message: str, *, source: str | None = None, field: str | None = None):
        self.source = source
        self.field = field
        where = ", ".join(p for p in (source, f"field {field!r}" if field else None) if p)
        super().__init__(f"{where}: {message}" if where else message)


class NotFoundError(MountkitError, LookupError):
    """A named mount, camera, lens, model or backend does not exist.

    ``suggestions`` lists the closest known names, best first.
    """

    def __init__(self, kind: str, name: str, suggestions: Sequence[str] = ()):
        self.kind = kind
        self.name = name
        self.suggestions = tuple(suggestions)
        msg = f"no {kind} matches {name!r}"
        if self.suggestions:
            msg += "; closest: " + ", ".join(repr(s) for s in self.suggestions)
        super().__init__(msg)


class FrameError(MountkitError, ValueError):
    """A frame (array or file) cannot be used as given: shape, dtype, values or content."""


class CorrectionError(MountkitError, ValueError):
    """The requested correction cannot be computed (missing parameter, no calibration...)."""


class CorrectionWarning(UserWarning):
    """A correction was computed, but outside what the calibration covers (as lensfun would)."""
