"""The whole plugin contract of mountkit.

A plugin is a module (or any object) with functions named after the hooks
below, marked with ``@mountkit.hookimpl``.  Installed plugins are found
through the entry-point group ``mountkit``; mountkit's own functionality is
registered through these same hooks (see
:data:`mountkit.builtin.BUILTIN_PLUGINS`).  The plugin author's guide is
``docs/plugins.md``.

Every hook but one takes a ``register`` callback: the plugin calls it once
per thing it adds.  The registry checks what it receives; something malformed
is reported with the plugin's name and skipped, the rest keeps working.  A
hook that raises loses what it registered in that call and is reported the
same way.  An implementation may accept any subset of a hook's arguments
(pluggy prunes them), so new arguments never break old plugins; a function
named ``mountkit_*`` that is not a hook below makes the plugin fail to load,
unless it is marked ``@mountkit.hookimpl(optionalhook=True)`` (for hooks of
a newer mountkit).  Hook wrappers are not supported.

Hooks are called lazily and once per kit: a :class:`mountkit.Kit` calls a
hook the first time something asks for what it provides (``kit.mounts()``
calls ``mountkit_register_mounts``), and caches the result.  Plugins are
called in registration order: built-ins, then plugins passed to ``Kit``,
then entry points sorted by name.
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
    the plugin knows: ``name`` (as lensfun spells it, where lensfun knows
    it), ``flange_distance`` and ``throat_diameter`` in mm (None when
    unknown), ``compatible`` (mounts whose lenses fit through a plain
    adapter), ``aliases`` and ``notes``; ``source`` is filled in with the
    plugin's name.  When two plugins register the same name, the first
    registration wins.
    Called once per kit, the first time it is asked for mounts
    (``kit.mounts()``, ``kit.mount(name)``).

    .. versionadded:: 0.1
    """


@hookspec
def mountkit_register_cameras(register):
    """Add camera bodies.

    Call ``register(camera)`` with a :class:`mountkit.Camera` for every
    body: ``maker``, ``model``, ``mount``, the sensor size in mm
    (``sensor_width``, ``sensor_height``; the crop factor is computed from
    it) or, when only that is known, a ``crop_factor``, the ``resolution``
    in pixels (width, height), ``bit_depth`` and ``aliases``.
    Called once per kit, the first time it is asked for cameras
    (``kit.cameras()``, ``kit.camera(name)``).

    .. versionadded:: 0.1
    """


@hookspec
def mountkit_register_lens_sources(register):
    """Add sources of lenses and lens profiles.

    Call ``register(source)`` with a :class:`mountkit.LensSource`: a
    ``name``, a ``load`` callable taking no argument and returning an
    iterable of :class:`mountkit.Lens` (with a :class:`mountkit.LensProfile`
    when calibrated, without one for a lens known only by its identity), a
    ``priority`` and a ``description``.  Sources are searched in ascending
    priority and, for the same lens identity (maker and model), the first
    source wins (``kit.explain_lens(name)`` shows which and what it
    shadows).  Conventional priorities: 10 user profile directories, 50
    shipped profiles, 80 plugins, 90 the lensfun database.
    Called once per kit, the first time it is asked for lenses or for the
    plugin list; ``load`` is called once, the first time lenses are
    needed.  A ``load`` that raises, or an item that is not a Lens, is
    reported under the plugin's name and skipped.

    .. versionadded:: 0.1
    """


@hookspec
def mountkit_register_correction_models(register):
    """Add correction models.

    Call ``register(model)`` with an instance of a
    :class:`mountkit.models.CorrectionModel` subclass
    (:class:`~mountkit.models.DistortionModel`,
    :class:`~mountkit.models.TCAModel`,
    :class:`~mountkit.models.VignettingModel`, or a subclass for a new kind):
    it declares its ``kind`` ("distortion", "tca", "vignetting", or a new
    kind), its ``name`` (the model name profiles use, e.g. "ptlens"), its
    parameter names and defaults, and vectorised numpy functions in
    lensfun's direction.  A second model with the same kind and name is
    reported and ignored.
    Called once per kit, the first time a corrector or a profile check
    needs a model (``kit.models()``, ``kit.model(kind, name)``).

    .. versionadded:: 0.1
    """


@hookspec
def mountkit_register_identifiers(register):
    """Add lens identifiers: functions from frame metadata to a lens.

    Call ``register(identifier)`` with a :class:`mountkit.Identifier`: a
    ``name``, a ``priority``, and ``identify(metadata, kit)``, which
    receives a mapping of EXIF/maker-note tag names (``Make``, ``Model``,
    ``LensModel``, ``LensMake``, ``LensType``, ``FocalLength``,
    ``FNumber``...) and the kit, and returns a :class:`mountkit.Lens` or
    None.  ``kit.identify(metadata)`` tries identifiers in ascending
    priority and returns the first lens found; an identifier that raises is
    reported under its plugin's name and the next one is tried.
    Called once per kit, the first time it identifies a lens.

    .. versionadded:: 0.1
    """


@hookspec
def mountkit_register_resamplers(register):
    """Add resampling backends.

    Call ``register(resampler)`` with a
    :class:`mountkit.resample.Resampler`: a ``name``, a ``priority`` (the
    available backend with the lowest priority is the default), an
    ``available()`` function (are its dependencies importable?) and a
    ``remap(frame, map_x, map_y, interpolation, fill, out)`` function
    that samples the 2-D ``frame`` at the float32 source coordinates
    ``map_x``/``map_y`` into ``out``.
    Called once per kit, the first time it needs a resampler
    (``kit.resamplers()``, ``kit.resampler(name)``).

    .. versionadded:: 0.1
    """


@hookspec
def mountkit_register_frame_formats(register):
    """Add frame readers and writers.

    Call ``register(fmt)`` with a :class:`mountkit.io.FrameFormat`: a
    ``name``, the file ``suffixes`` it handles, ``read(path, **options) ->
    Frame`` and/or ``write(path, frame, **options)`` functions, a
    ``priority`` and an ``available()`` function.  A file is handled by the
    available format with the lowest priority among those claiming its
    suffix.
    Called once per kit, the first time it reads or writes a frame
    (``kit.frame_formats()``).

    .. versionadded:: 0.1
    """


@hookspec
def mountkit_register_frame_tools(register):
    """Add frame tools (histogram, zebra, focus peaking...).

    Call ``register(tool)`` with a :class:`mountkit.tools.FrameTool`: a
    ``name``, a ``run(frame, **options)`` function returning a dict of the
    tool's numbers and, for tools that draw, an ``"overlay"`` entry, and a
    ``description``.
    Called once per kit, the first time it is asked for tools
    (``kit.frame_tools()``).

    .. versionadded:: 0.1
    """


@hookspec
def mountkit_register_commands(cli):
    """Add ``mountkit`` subcommands.

    ``cli`` is the root :class:`click.Group`; add commands with
    ``cli.command()`` or ``cli.add_command(cmd)``, and get the invocation's
    kit inside a command with :func:`mountkit.cli.get_kit`.  A command may
    not replace a built-in one (``plugins``, ``install``...).
    Called once per command-line invocation, when the command line first
    needs a command that is not built in (or lists them for ``--help``);
    a plugin whose hook raises is reported and the other commands keep
    working.

    .. versionadded:: 0.1
    """
