"""mountkit: lens profiles and lens corrections for adapted lenses, through plugins.

Importing mountkit loads nothing; build a :class:`Kit` to load plugins.
"""

from __future__ import annotations

from .cache import MapCache
from .corrector import Corrector
from .errors import (
    CorrectionError,
    CorrectionWarning,
    FrameError,
    MountkitError,
    NotFoundError,
    PluginError,
    ProfileError,
)
from .hardware import Camera, Mount, crop_factor_from_sensor
from .hookspecs import hookimpl, hookspec
from .kit import Identifier, Kit, LensSource, PluginInfo, PluginWarning
from .profile import Calibration, Lens, LensProfile, Provenance

try:
    from importlib.metadata import version as _version

    __version__ = _version("mountkit")
except Exception:  # running from a source tree that is not installed
    __version__ = "0+unknown"


def correct(frame, lens, *, kit: Kit | None = None, **options):
    """Correct one frame in one call: ``Kit().corrector(lens, size=..., **options).apply(frame)``.

    The frame size is taken from ``frame``; ``white_level`` and ``fill`` go to
    :meth:`Corrector.apply`, every other option to :meth:`Kit.corrector`.
    """
    kit = kit or Kit()
    apply_opts = {k: options.pop(k) for k in ("white_level", "fill", "mask", "out") if k in options}
    h, w = frame.shape[:2]
    return kit.corrector(lens, size=(w, h), **options).apply(frame, **apply_opts)


__all__ = [
    "Calibration",
    "Camera",
    "CorrectionError",
    "CorrectionWarning",
    "FrameError",
    "Identifier",
    "Kit",
    "Lens",
    "LensProfile",
    "LensSource",
    "MapCache",
    "Mount",
    "MountkitError",
    "NotFoundError",
    "PluginError",
    "PluginInfo",
    "PluginWarning",
    "ProfileError",
    "Provenance",
    "correct",
    "crop_factor_from_sensor",
    "hookimpl",
    "hookspec",
]
