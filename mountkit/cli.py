"""The ``mountkit`` command line: a thin layer over :class:`mountkit.Kit` and :mod:`mountkit.installer`.

Plugins add subcommands on the hook ``mountkit_register_commands(cli)``.  The
kit is built lazily, once per invocation: ``mountkit uninstall``,
``mountkit install`` and ``mountkit new-plugin`` never load a plugin, and
``mountkit --help`` and ``mountkit plugins`` load them but survive any
plugin failure, so a broken plugin can always be listed and removed.  Plugin
problems are printed once, on stderr, at the end of the command.

A plugin's command gets the invocation's kit with :func:`get_kit`::

    @mountkit.hookimpl
    def mountkit_register_commands(cli):
        @cli.command()
        def flanges():
            for mount in mountkit.cli.get_kit().mounts().values():
                click.echo(f"{mount.name}: {mount.flange_distance} mm")
"""

from __future__ import annotations

import json
import os
import sys
import warnings
from collections.abc import Callable
from typing import Any

import click

from . import installer
from .errors import MountkitError
from .kit import Kit, PluginWarning, _truthy, name_words

#: Builds the kit of one invocation; keyword arguments override Kit's (the
#: ``plugins`` command passes ``strict=False``).
KitFactory = Callable[..., Kit]


def default_kit_factory(**overrides: Any) -> Kit:
    """``Kit()`` with plugin problems recorded rather than warned about (the CLI prints them)."""
    return Kit(**{"warn": False, **overrides})


class MountkitGroup(click.Group):
    """The root command group: core commands, plus the commands plugins add, loaded on demand.

    Each invocation (each call of :meth:`main`) starts from the core
    commands and builds its own kit with ``kit_factory``.
    """

    def __init__(self, *args, kit_factory: KitFactory | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.kit_factory = kit_factory or default_kit_factory
        self._core: dict[str, click.Command] = {}
        self._reset()

    def _reset(self) -> None:
        self.commands = dict(self._core)
        self._kit: Kit | None = None
        self._plugins_loaded = False
        self._reported: set[tuple[str, str]] = set()
        self.quiet_problems = False

    def add_core_command(self, cmd: click.Command) -> None:
        self._core[cmd.name] = cmd
        self.add_command(cmd)

    # -- the kit of this invocation ------------------------------------------

    def kit(self, **overrides: Any) -> Kit:
        """This invocation's kit, built on first use (``overrides`` apply only then)."""
        if self._kit is None:
            self._kit = self.kit_factory(**overrides)
            self._plugins_loaded = True
            self._kit.add_commands(self)
            for name, cmd in self._core.items():
                if self.commands.get(name) is not cmd:
                    self.commands[name] = cmd
                    click.echo(f"Warning: a plugin tried to replace the built-in command {name!r}; "
                               "kept the built-in.", err=True)
        return self._kit

    def _load_plugin_commands(self) -> None:
        if not self._plugins_loaded:
            self.kit()

    def report_problems(self) -> None:
        """Print plugin problems not printed yet, one line each, on stderr."""
        if self._kit is None or self.quiet_problems:
            return
        new = [p for p in self._kit.problems() if p not in self._reported]
        for plugin, reason in new:
            self._reported.add((plugin, reason))
            click.echo(f"Warning: plugin {plugin!r}: {reason}", err=True)
        if new:
            click.echo("(`mountkit plugins` lists every plugin; MOUNTKIT_DISABLE_PLUGINS=NAME skips one)", err=True)

    # -- click ---------------------------------------------------------------

    def main(self, *args, **kwargs):
        self._reset()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", PluginWarning)  # printed by report_problems instead
            return super().main(*args, **kwargs)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        cmd = self.commands.get(cmd_name)
        if cmd is None and not self._plugins_loaded:
            try:
                self._load_plugin_commands()
            except MountkitError as exc:  # MOUNTKIT_STRICT_PLUGINS=1 and a broken plugin
                raise click.ClickException(str(exc)) from exc
            cmd = self.commands.get(cmd_name)
        return cmd

    def list_commands(self, ctx: click.Context) -> list[str]:
        if not self._plugins_loaded:
            try:
                self._load_plugin_commands()
            except MountkitError as exc:  # --help must work whatever the plugins do
                self._plugins_loaded = True
                click.echo(f"Warning: plugin commands are unavailable: {exc}", err=True)
            self.report_problems()
        return sorted(self.commands)

    def invoke(self, ctx: click.Context):
        ctx.call_on_close(self.report_problems)
        try:
            return super().invoke(ctx)
        except MountkitError as exc:
            raise click.ClickException(str(exc)) from exc


def get_kit() -> Kit:
    """The kit of the running ``mountkit`` invocation (for commands that plugins add)."""
    ctx = click.get_current_context()
    root = ctx.find_root()
    if isinstance(root.command, MountkitGroup):
        return root.command.kit()
    kit = root.meta.get("mountkit.kit")
    if kit is None:
        kit = root.meta["mountkit.kit"] = default_kit_factory()
    return kit


def _group() -> MountkitGroup:
    root = click.get_current_context().find_root().command
    if not isinstance(root, MountkitGroup):
        raise click.UsageError("this command must run under the mountkit command group")
    return root


# -- output helpers --------------------------------------------------------------


def _console():
    from rich.console import Console

    return Console(highlight=False, soft_wrap=False, width=None if sys.stdout.isatty() else 200)


def _table(columns: list[str], rows: list[list[Any]], title: str | None = None) -> None:
    from rich.table import Table

    table = Table(*columns, title=title, show_lines=False, header_style="bold")
    for row in rows:
        table.add_row(*("" if v is None else str(v) for v in row))
    _console().print(table)


def _json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False))


def _num(value: float | None, fmt: str = "{:g}") -> str:
    return "" if value is None else fmt.format(value)


def mount_dict(mount) -> dict:
    return {"name": mount.name, "flange_distance": mount.flange_distance,
            "throat_diameter": mount.throat_diameter, "compatible": list(mount.compatible),
            "aliases": list(mount.aliases), "notes": mount.notes, "source": mount.source}


def camera_dict(camera) -> dict:
    return {"name": camera.name, "maker": camera.maker, "model": camera.model, "mount": camera.mount,
            "sensor_width": camera.sensor_width, "sensor_height": camera.sensor_height,
            "crop_factor": camera.crop_factor, "resolution": list(camera.resolution) if camera.resolution else None,
            "bit_depth": camera.bit_depth, "pixel_pitch": camera.pixel_pitch, "aliases": list(camera.aliases),
            "notes": camera.notes, "source": camera.source}


def lens_dict(lens) -> dict:
    profile = lens.profile
    return {"name": lens.name, "maker": lens.maker, "model": lens.model, "mounts": list(lens.mounts),
            "aliases": list(lens.aliases), "lens_type": lens.lens_type, "focal_min": lens.focal_min,
            "focal_max": lens.focal_max, "aperture_max": lens.aperture_max, "aperture_min": lens.aperture_min,
            "leica_code": lens.leica_code, "calibrated": lens.calibrated,
            "kinds": list(profile.kinds) if profile else [],
            "crop_factor": profile.crop_factor if profile else None, "source": lens.source}


def _focal(lens) -> str:
    if lens.focal_min is None:
        return ""
    if lens.focal_min == lens.focal_max:
        return _num(lens.focal_min)
    return f"{_num(lens.focal_min)}-{_num(lens.focal_max)}"


def _matches(query: str, names) -> bool:
    words = name_words(query)
    hay: set[str] = set()
    for n in names:
        hay.update(name_words(n))
    return all(w in hay for w in words)


# -- core commands ---------------------------------------------------------------


@click.command(name="plugins")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.option("--all", "show_all", is_flag=True, help="Include mountkit's built-in plugins.")
@click.option("--hook", "hook", metavar="HOOK", help="Only plugins implementing HOOK (e.g. register_mounts).")
def plugins_command(as_json: bool, show_all: bool, hook: str | None) -> None:
    """List installed plugins: name, version, distribution, hooks, status, error.

    Works even when plugins are broken: that is what it is for.  With
    MOUNTKIT_STRICT_PLUGINS=1 it exits with status 1 when any plugin failed.
    """
    from . import hookspecs

    group = _group()
    group.quiet_problems = True  # this command reports them itself
    kit = group.kit(strict=False)
    infos = kit.plugins(all=show_all)
    if hook:
        full = hook if hook.startswith("mountkit_") else f"mountkit_{hook}"
        known = sorted(n for n in dir(hookspecs) if n.startswith("mountkit_"))
        if full not in known:
            raise click.UsageError(f"no hook named {hook!r}; hooks: {', '.join(known)}")
        infos = [i for i in infos if full in i.hooks]
    if as_json:
        _json([i.as_dict() for i in infos])
    elif not infos:
        click.echo("No plugins installed." if not hook else f"No plugin implements {hook}.")
    else:
        rows = [[i.name, i.version, i.distribution, i.status,
                 ", ".join(h.removeprefix("mountkit_").removeprefix("register_") for h in i.hooks),
                 "; ".join(i.errors)] for i in infos]
        _table(["Name", "Version", "Distribution", "Status", "Hooks", "Problems"], rows)
    if _truthy(os.environ.get("MOUNTKIT_STRICT_PLUGINS")) and any(i.status in ("failed", "partial", "missing")
                                                                  for i in kit.plugins(all=True)):
        raise click.exceptions.Exit(1)


@click.command(name="install")
@click.argument("names", nargs=-1)
@click.option("-U", "--upgrade", is_flag=True, help="Upgrade the named plugins to their newest versions.")
@click.option("-e", "--editable", multiple=True, metavar="PATH",
              type=click.Path(exists=True, file_okay=False), help="Install a project directory in editable mode.")
@click.option("--restore", is_flag=True,
              help="Reinstall every plugin recorded in the manifest (after reinstalling or upgrading mountkit).")
def install_command(names: tuple[str, ...], upgrade: bool, editable: tuple[str, ...], restore: bool) -> None:
    """Install plugins with pip into mountkit's own environment.

    NAMES are anything pip accepts: distribution names with versions, wheel
    files, project directories, URLs.  What you install is recorded in a
    manifest in your configuration directory, so that `mountkit install
    --restore` can reinstall it after mountkit itself was reinstalled.
    """
    if not (names or editable or restore):
        raise click.UsageError("name one or more plugins to install, or give -e PATH or --restore")
    if restore and not (names or editable) and not installer.read_manifest():
        click.echo(f"Nothing to restore: {installer.manifest_path()} lists no plugins.")
        return
    result = installer.install(names, editable=editable, upgrade=upgrade, restore=restore)
    if result.returncode != 0:
        raise click.exceptions.Exit(result.returncode)
    if result.recorded:
        click.echo(f"Recorded {', '.join(e.name for e in result.recorded)} in {installer.manifest_path()}", err=True)
    for name in result.not_plugins:
        click.echo(f"Warning: {name} declares no 'mountkit' entry point; mountkit will not load it.", err=True)
    for req in result.unrecorded:
        click.echo(f"Warning: could not tell which distribution {req} installed; not recorded for --restore.",
                   err=True)


@click.command(name="uninstall")
@click.argument("names", nargs=-1, required=True)
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
def uninstall_command(names: tuple[str, ...], yes: bool) -> None:
    """Uninstall plugin distributions from mountkit's environment (never loads a plugin)."""
    returncode = installer.uninstall(names, yes=yes)
    if returncode != 0:
        raise click.exceptions.Exit(returncode)


@click.command(name="mounts")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def mounts_command(as_json: bool) -> None:
    """List lens mounts: flange focal distance, throat, compatible mounts, source plugin."""
    mounts = sorted(get_kit().mounts().values(), key=lambda m: m.name.casefold())
    if as_json:
        _json([mount_dict(m) for m in mounts])
        return
    _table(["Mount", "Flange (mm)", "Throat (mm)", "Compatible", "Plugin"],
           [[m.name, _num(m.flange_distance), _num(m.throat_diameter), ", ".join(m.compatible), m.source]
            for m in mounts])


@click.command(name="cameras")
@click.argument("query", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def cameras_command(query: str | None, as_json: bool) -> None:
    """List camera bodies (those whose name has every word of QUERY): sensor, crop factor, resolution, mount."""
    cameras = get_kit().cameras()
    if query:
        cameras = [c for c in cameras if _matches(query, [c.name, *c.aliases])]
    if as_json:
        _json([camera_dict(c) for c in cameras])
        return
    if query and not cameras:
        raise click.ClickException(f"no camera matches {query!r}")
    _table(["Camera", "Mount", "Sensor (mm)", "Crop", "Resolution", "Bits", "Plugin"],
           [[c.name, c.mount, f"{c.sensor_width:g} x {c.sensor_height:g}" if c.sensor_size else "",
             f"{c.crop_factor:.3f}", f"{c.resolution[0]} x {c.resolution[1]}" if c.resolution else "",
             c.bit_depth, c.source] for c in cameras])


@click.command(name="lenses")
@click.argument("query", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.option("--explain", "explain", metavar="NAME",
              help="Show which lens NAME resolves to, from which source, and what it shadows.")
def lenses_command(query: str | None, as_json: bool, explain: str | None) -> None:
    """List lenses (those whose name has every word of QUERY), calibrated or not, and where each comes from."""
    kit = get_kit()
    if explain:
        if query:
            raise click.UsageError("give either QUERY or --explain NAME")
        _explain(kit, explain, as_json)
        return
    lenses = kit.lenses(query)
    if as_json:
        _json([lens_dict(lens) for lens in lenses])
        return
    if query and not lenses:
        from .kit import _suggest

        close = _suggest(query, [lens.name for lens in kit.lenses()])
        raise click.ClickException(f"no lens matches {query!r}"
                                   + ("; closest: " + ", ".join(repr(c) for c in close) if close else ""))
    _table(["Lens", "Mount", "Focal (mm)", "f/", "Calibrated", "Source"],
           [[lens.name, ", ".join(lens.mounts), _focal(lens), _num(lens.aperture_max),
             ", ".join(lens.profile.kinds) if lens.calibrated else "no", lens.source] for lens in lenses])


def _explain(kit: Kit, name: str, as_json: bool) -> None:
    found = kit.explain_lens(name)
    lens = found["lens"]
    shadowed = list(dict.fromkeys(src for src, _ in found["shadowed"]))
    if as_json:
        _json({"query": name, "lens": lens_dict(lens), "source": found["source"], "shadowed": shadowed})
        return
    click.echo(f"{name!r} -> {lens.name}")
    click.echo(f"  source: {found['source']}")
    if lens.calibrated:
        p = lens.profile
        click.echo(f"  calibrated: {', '.join(p.kinds)} (calibration crop factor {p.crop_factor:g})")
        if p.provenance.source:
            click.echo(f"  data from: {p.provenance.source}" + (f" ({p.provenance.licence})" if p.provenance.licence
                                                                else ""))
    else:
        click.echo("  calibrated: no (identity only)")
    click.echo("  shadows: " + (", ".join(shadowed) if shadowed else "nothing"))


@click.command(name="new-plugin")
@click.argument("name")
@click.option("-o", "--output", "directory", default=".", show_default=True,
              type=click.Path(file_okay=False), help="Directory to write the plugin package into.")
def new_plugin_command(name: str, directory: str) -> None:
    """Write a new plugin package mountkit-NAME: pyproject with the entry point, a hook, a test."""
    from .templates import new_plugin

    path = new_plugin(name, directory)
    click.echo(f"Wrote {path}")
    click.echo(f"Next: cd {path} && pip install -e '.[test]' && pytest")


CORE_COMMANDS = (plugins_command, install_command, uninstall_command, mounts_command, cameras_command,
                 lenses_command, new_plugin_command)


def make_cli(kit_factory: KitFactory | None = None) -> MountkitGroup:
    """The root ``mountkit`` group with the core commands.

    ``kit_factory(**overrides)`` builds each invocation's kit (default:
    :func:`default_kit_factory`); tests pass one that builds an isolated kit.
    """
    from . import __version__

    group = MountkitGroup(
        name="mountkit",
        kit_factory=kit_factory,
        help="Lens profiles and lens corrections for adapted lenses, through plugins.\n\n"
             "Environment: MOUNTKIT_LOAD_PLUGINS=a,b (only these; empty: none), MOUNTKIT_DISABLE_PLUGINS=a,b, "
             "MOUNTKIT_TRACE_PLUGINS=1 (hook calls on stderr), MOUNTKIT_STRICT_PLUGINS=1 (plugin problems "
             "are errors).",
    )
    click.version_option(__version__, "--version", prog_name="mountkit")(group)
    for cmd in CORE_COMMANDS:
        group.add_core_command(cmd)
    return group


#: The root group (a fresh set of plugin commands and a fresh kit on every invocation).
cli = make_cli()


def main(argv: list[str] | None = None) -> Any:
    """Console-script entry point: ``mountkit``."""
    return cli.main(args=argv, prog_name="mountkit")
