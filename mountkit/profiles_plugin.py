"""Built-in plugin: native profile directories as lens sources, and the ``mountkit profile`` commands.

Lens sources (see :mod:`mountkit.profile_sources` for the search order):
``MOUNTKIT_PROFILE_PATH`` directories (priority 10), the user data directory
(20), the shipped ``profiles/`` (50).  Camera files (``[camera]``) found there
are registered as bodies.

Commands (thin layers over :mod:`mountkit.validate`,
:mod:`mountkit.profile_tools`, :mod:`mountkit.profile_summary`,
:mod:`mountkit.profile_report`)::

    mountkit profile validate PATH... [--json]
    mountkit profile import FILE... -o DIR [--format auto|lensfun|lcp|toml] [--force]
    mountkit profile export PROFILE --format lensfun [-o FILE] [--force]
    mountkit profile new --maker M --model M [...] -o PATH
    mountkit profile show NAME [--json]
    mountkit profile report NAME -o report.png|report.html
    mountkit profile dirs
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from . import profile_sources as ps
from .errors import MountkitError
from .hookspecs import hookimpl
from .kit import LensSource


@hookimpl
def mountkit_register_lens_sources(register):
    for d in ps.profile_dirs():
        register(LensSource(name=d.name, load=ps.lens_loader(d.path), priority=d.priority,
                            description=d.description))


@hookimpl
def mountkit_register_cameras(register):
    for d in ps.profile_dirs():
        for camera in ps.load_directory(d.path, warn=False)[1]:
            register(camera)


@hookimpl
def mountkit_register_commands(cli):
    cli.add_command(profile)


# -- the command line -------------------------------------------------------------


def _kit(ctx: click.Context):
    """The kit of this ``mountkit`` invocation (:func:`mountkit.cli.get_kit`)."""
    from .cli import get_kit

    return get_kit()


def _console(stderr: bool = False):
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=True)


def _fail(exc: Exception) -> None:
    raise click.ClickException(str(exc).replace("\n", " "))


@click.group("profile")
def profile():
    """Lens profiles: validate, import, export, create, show and report."""


@profile.command("validate")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.pass_context
def validate_cmd(ctx, paths, as_json):
    """Check profile files (directories: every *.toml below): schema and physical checks.

    Exits with status 1 when any file has an error.
    """
    from .validate import validate_paths

    try:
        report = validate_paths(paths, _kit(ctx))
    except MountkitError as exc:
        _fail(exc)
    if as_json:
        click.echo(report.to_json())
    else:
        out = _console()
        for f in report.files:
            if not f.issues:
                out.print(f"[green]ok[/green]     {f.file}" + (f"  ({f.name})" if f.name else ""))
            for i in f.issues:
                tag = "[red]error[/red]  " if i.severity == "error" else "[yellow]warning[/yellow]"
                where = f"{i.file}: {i.path}" if i.path else i.file
                out.print(f"{tag} {where}: {i.message} [dim]\\[{i.check}][/dim]")
        n_err, n_warn = len(report.errors), len(report.warnings)
        out.print(f"{len(report.files)} file(s), {n_err} error(s), {n_warn} warning(s)")
    ctx.exit(0 if report.ok else 1)


@profile.command("import")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("-o", "--output", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Directory to write <maker>/<lens>.toml (and cameras/...) into.")
@click.option("--format", "fmt", type=click.Choice(["auto", "lensfun", "lcp", "toml"]), default="auto",
              show_default=True)
@click.option("--force", is_flag=True, help="Overwrite existing files.")
@click.option("--mount", default=None, help="Keep only lenses (and cameras) of this mount, e.g. 'Leica M'.")
@click.option("--no-cameras", is_flag=True, help="Do not write camera bodies.")
@click.option("--maker", default=None, help="LCP: the lens maker (an LCP names none; default: first word).")
@click.option("--crop-factor", type=float, default=None, help="LCP: calibration crop factor, if the file lacks it.")
@click.option("--licence", default=None, help="Licence of the imported data (SPDX id); lensfun: CC-BY-SA-3.0.")
@click.option("--source", "prov_source", default=None, help="Provenance source text (e.g. database and commit).")
@click.pass_context
def import_cmd(ctx, files, out_dir, fmt, force, mount, no_cameras, maker, crop_factor, licence, prov_source):
    """Convert lensfun XML (database versions 1 and 2) or Adobe LCP files into native TOML profiles.

    Nothing is written unless every input converts; existing files are kept
    unless --force.
    """
    from .profile_tools import import_profiles
    from .validate import check_lens

    try:
        res = import_profiles(files, out_dir, fmt=fmt, force=force, cameras=not no_cameras, mount=mount,
                              maker=maker, crop_factor=crop_factor, licence=licence, provenance_source=prov_source)
    except MountkitError as exc:
        _fail(exc)
    err = _console(stderr=True)
    for w in res.warnings:
        err.print(f"[yellow]warning[/yellow] {w}")
    kit = _kit(ctx)
    for lens in res.lenses:
        for issue in check_lens(lens, kit):
            if issue.check != "provenance":
                err.print(f"[yellow]warning[/yellow] {lens.name}: {issue.path}: {issue.message}")
    for p in res.paths:
        click.echo(str(p))
    err.print(f"wrote {len(res.paths)} file(s): {len(res.lenses)} lens(es), {len(res.cameras)} camera(s)")


@profile.command("export")
@click.argument("name")
@click.option("--format", "fmt", type=click.Choice(["lensfun"]), default="lensfun", show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="File to write (default: print to stdout).")
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
@click.pass_context
def export_cmd(ctx, name, fmt, output, force):
    """Export a profile (a .toml file or a lens name) as lensfun XML that lensfun and lensfunpy load."""
    from .profile_tools import export_lensfun, resolve_lens

    try:
        lens = resolve_lens(name, _kit(ctx))
        text = export_lensfun(lens, output, force=force)
    except MountkitError as exc:
        _fail(exc)
    if output is None:
        click.echo(text, nl=False)
    else:
        click.echo(str(output))


@profile.command("new")
@click.option("--maker", default=None, help="Lens maker (prompted when missing).")
@click.option("--model", default=None, help="Lens model as the lens or EXIF names it (prompted when missing).")
@click.option("--mount", "mounts", multiple=True, help="Mount (repeatable); default 'Leica M'.")
@click.option("--type", "lens_type", default="rectilinear", show_default=True)
@click.option("--focal", default=None, help="Focal length in mm: 28, or a range 24-70.")
@click.option("--aperture", type=float, default=None, help="Largest aperture as an f-number (1.4).")
@click.option("--min-aperture", type=float, default=None, help="Smallest aperture as an f-number (16).")
@click.option("--leica-code", type=int, default=None, help="Leica M 6-bit lens code: fills in the identity.")
@click.option("--crop-factor", type=float, default=None, help="Crop factor of the calibration body (prompted).")
@click.option("--aspect-ratio", default="3:2", show_default=True, help="Calibration frame aspect ratio (4:3...).")
@click.option("--author", default="", help="Who measures it.")
@click.option("--body", default="", help="Body used for the calibration.")
@click.option("--licence", default="CC0-1.0", show_default=True, help="Licence of the data (SPDX id).")
@click.option("-o", "--output", type=click.Path(path_type=Path), required=True,
              help="A .toml file, or a directory (then <maker>/<lens>.toml inside it).")
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
@click.pass_context
def new_cmd(ctx, maker, model, mounts, lens_type, focal, aperture, min_aperture, leica_code, crop_factor,
            aspect_ratio, author, body, licence, output, force):
    """Scaffold a new, valid lens profile (identity, calibration body, provenance) to fill with calibrations."""
    from .formats import toml_profile
    from .profile_tools import new_profile

    interactive = sys.stdin.isatty()
    kit = _kit(ctx)
    try:
        if leica_code is None:
            if maker is None and interactive:
                maker = click.prompt("Lens maker")
            if model is None and interactive:
                model = click.prompt("Lens model")
        if crop_factor is None:
            crop_factor = click.prompt("Crop factor of the calibration body", type=float, default=1.0) \
                if interactive else 1.0
        ar = toml_profile.parse_aspect_ratio(aspect_ratio, field="--aspect-ratio")
        lens = new_profile(maker=maker, model=model, mounts=mounts or ("Leica M",), lens_type=lens_type,
                           focal=focal, aperture=aperture, aperture_min=min_aperture, leica_code=leica_code,
                           crop_factor=crop_factor, aspect_ratio=ar, author=author, body=body, licence=licence,
                           kit=kit)
        target = output if output.suffix.lower() == ".toml" else output / toml_profile.profile_relpath(lens)
        toml_profile.save(lens, target, force=force)
    except MountkitError as exc:
        _fail(exc)
    click.echo(str(target))


@profile.command("show")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
@click.pass_context
def show_cmd(ctx, name, as_json):
    """What a profile means at the frame corners, on the 1-inch body and on full frame.

    Distortion in %, vignetting in EV per aperture, lateral CA in pixels.
    NAME is a lens name or a .toml file.
    """
    from .profile_summary import DEFAULT_BODIES, corner_figures
    from .profile_tools import resolve_lens

    kit = _kit(ctx)
    try:
        lens = resolve_lens(name, kit)
    except (MountkitError, LookupError) as exc:
        _fail(exc)
    models = kit.models()
    figures = [corner_figures(lens, b, models) for b in DEFAULT_BODIES]
    if as_json:
        doc = {"lens": lens.name, "source": lens.source,
               "crop_factor": lens.profile.crop_factor if lens.profile else None,
               "bodies": [f.as_dict() for f in figures]}
        click.echo(json.dumps(doc, indent=2, ensure_ascii=False))
        return
    from rich.table import Table

    out = _console()
    out.print(f"[bold]{lens.name}[/bold]  [dim]{lens.source}[/dim]")
    if lens.profile is not None:
        p = lens.profile.provenance
        out.print(f"calibrated at crop {lens.profile.crop_factor:g}, aspect {lens.profile.aspect_ratio:.4g}"
                  + (f", on {p.body}" if p.body else "") + (f"; licence {p.licence}" if p.licence else ""))
        if p.source:
            out.print(f"[dim]source: {p.source}[/dim]")
    for f in figures:
        table = Table(title=f"{f.body.name} (crop {f.body.crop_factor:.3g})", title_justify="left")
        table.add_column("at the corners")
        table.add_column("focal", justify="right")
        table.add_column("value", justify="right")
        if not f.applicable:
            out.print(f"{f.body.name}: {f.reason}")
            continue
        for focal, v in f.distortion:
            table.add_row("distortion", f"{focal:g} mm", f"{v:+.2f} %")
        for focal, n, d, v in f.vignetting:
            table.add_row(f"vignetting f/{n:g} ({d:g} m)", f"{focal:g} mm", f"{v:+.2f} EV")
        for focal, r, b in f.tca:
            table.add_row("lateral CA red / blue", f"{focal:g} mm", f"{r:+.2f} / {b:+.2f} px")
        for kind, rows in (("distortion", f.distortion), ("vignetting", f.vignetting), ("lateral CA", f.tca)):
            if not rows:
                table.add_row(kind, "", "no calibration")
        for s in f.skipped:
            table.add_row("skipped", "", s)
        out.print(table)


@profile.command("report")
@click.argument("name")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="report.png, or report.html (with the PNG embedded).")
@click.option("--focal", type=float, default=None, help="Focal length for the vignetting plot (zooms).")
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
@click.pass_context
def report_cmd(ctx, name, output, focal, force):
    """Plot distortion, vignetting per aperture and lateral CA across the frame (1-inch and full frame)."""
    from .profile_report import write_report
    from .profile_tools import resolve_lens

    kit = _kit(ctx)
    try:
        lens = resolve_lens(name, kit)
        write_report(lens, output, kit.models(), force=force, focal=focal)
    except (MountkitError, LookupError) as exc:
        _fail(exc)
    click.echo(str(output))


@profile.command("dirs")
def dirs_cmd():
    """The profile directories, in search order (first wins)."""
    out = _console()
    for d in ps.profile_dirs():
        exists = "" if d.path.is_dir() else "  [dim](does not exist)[/dim]"
        out.print(f"{d.priority:>3}  {d.name:<18} {d.path}{exists}")
    out.print("then other plugins' sources (Leica M code table 80, lensfun database 90)")
