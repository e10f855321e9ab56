"""The whole plugin contract of mountkit.

A plugin is a module (or any object) with functions named after the hooks
below, marked with ``@mountkit.hookimpl``.  It is found through the
entry-point group ``mountkit``; mountkit's own functionality is registered
through these same hooks (see ``mountkit.kit.BUILTIN_PLUGINS``).

Every hook but one takes a ``register`` callback: the plugin calls it once
per thing it adds.  The registry checks what it receives; something malformed
is reported with the plugin's name and skipped, the rest keeps working.  An
implementation may accept any subset of a hook's arguments (pluggy prunes
them), so new arguments never break old plugins.

Hooks are called lazily: a :class:`mountkit.Kit` calls a hook the first time
something asks for what it provides (``kit.mounts()`` calls
``mountkit_register_mounts`` once), and caches the result.
"""

from __future__ import annotations

import pluggy

PROJECT = "mountkit"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def mountkit_register_mounts(register):
    """Add lens mounts.

    Call ``register(mount)`` with a :class:`mountkit.Mount` for every mount
    the plugin knows (name, flange distance in mm, compatible mounts).
    Called once, the first time a kit is asked for mounts, cameras or lenses.
    """


@hookspec
def mountkit_register_cameras(register):
    """Add camera bodies.

    Call ``register(camera)`` with a :class:`mountkit.Camera` for every
    body: maker, model, mount, sensor size in mm (the crop factor is computed
    from it) or a crop factor alone, resolution in pixels, bit depth.
    Called once, the first time a kit is asked for cameras.
    """


@hookspec
def mountkit_register_lens_sources(register):
    """Add sources of lenses and lens profiles.

    Call ``register(source)`` with a :class:`mountkit.LensSource`: a name, a
    ``load`` callable returning an iterable of :class:`mountkit.Lens` (with
    or without a :class:`mountkit.LensProfile`), and a ``priority``.  Sources
    are searched in ascending priority and, for the same lens identity, the
    first source wins (see ``kit.lenses(explain=...)``).  Conventional
    priorities: 10 user profile directories, 50 shipped profiles, 80 plugins,
    90 the lensfun database.  ``load`` is called once, lazily, the first
    time lenses are needed.
    """


@hookspec
def mountkit_register_correction_models(register):
    """Add correction models.

    Call ``register(model)`` with an instance of a
    :class:`mountkit.models.CorrectionModel` subclass: it declares its
    ``kind`` ("distortion", "tca", "vignetting", or a new kind), its
    ``name`` (the model name profiles use, e.g. "ptlens"), its parameter
    names, and vectorised numpy functions in lensfun's direction.  Called
    once, the first time a corrector or a profile check needs a model.
    """


@hookspec
def mountkit_register_identifiers(register):
    """Add lens identifiers: functions from frame metadata to a lens.

    Call ``register(identifier)`` with a :class:`mountkit.Identifier`: a
    name, a priority, and ``identify(metadata, kit)``, which receives a mapping of EXIF/maker-note tag
    names (``Make``, ``Model``, ``LensModel``, ``LensMake``, ``LensType``,
    ``FocalLength``, ``FNumber``...) and the kit, and returns a
    :class:`mountkit.Lens` or None.  ``kit.identify`` tries identifiers in
    ascending priority and returns the first lens found.
    """


@hookspec
def mountkit_register_resamplers(register):
    """Add resampling backends.

    Call ``register(resampler)`` with a
    :class:`mountkit.resample.Resampler`: a ``name``, a ``priority`` (the
    available backend with the lowest priority is the default) and a
    ``remap(frame, map_x, map_y, interpolation, fill, out)`` function
    that samples ``frame`` at the given source coordinates.
    """


@hookspec
def mountkit_register_frame_formats(register):
    """Add frame readers and writers.

    Call ``register(fmt)`` with a :class:`mountkit.io.FrameFormat`: a name,
    the file suffixes it handles, and ``read(path) -> Frame`` and/or
    ``write(path, frame)`` functions.  Formats are chosen by suffix, then by
    content sniffing where a format provides it.
    """


@hookspec
def mountkit_register_frame_tools(register):
    """Add frame tools (histogram, zebra, focus peaking...).

    Call ``register(tool)`` with a :class:`mountkit.tools.FrameTool`: a
    name, a ``run(frame, **options)`` function returning the tool's numbers
    and/or an overlay, and a description.
    """


@hookspec
def mountkit_register_commands(cli):
    """Add ``mountkit`` subcommands.

    ``cli`` is the root :class:`click.Group`; add commands with
    ``cli.command()`` or ``cli.add_command(cmd)``.  Called when the command
    line starts, after the built-in commands exist; a plugin whose hook
    raises is reported and the other commands keep working.
    """
