"""``mountkit correct INPUT... -o OUTDIR``: the command line over :mod:`mountkit.batch`.

A thin layer: it parses flags, calls :func:`mountkit.batch.plan`,
:func:`mountkit.batch.resolve` and :func:`mountkit.batch.run`, and shows
progress, a per-file status line and a summary table with rich.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import click
from rich.markup import escape

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


_POLICIES = ("auto", "embedded", "profile", "both", "none")  # DNG opcode lists, see mountkit.dng.apply


def _corrections(ctx, param, value):
    if value is None:
        return None
    items = tuple(v.strip() for v in value.split(",") if v.strip())
    bad = [v for v in items if v not in ("distortion", "tca", "vignetting") + _POLICIES]
    if bad or not items or sum(v in _POLICIES for v in items) > 1:
        raise click.BadParameter(f"use a comma-separated list of distortion, tca, vignetting and at most one of "
                                 f"{', '.join(_POLICIES)} (got {value!r})")
    return items


def _scale(ctx, param, value):
    if value is None or value == "auto":
        return value
    try:
        v = float(value)
    except ValueError:
        raise click.BadParameter(f"a positive number or 'auto', got {value!r}") from None
    if not v > 0:
        raise click.BadParameter(f"a positive number or 'auto', got {value!r}")
    return v


_POSITIVE = click.FloatRange(min=0, min_open=True)


@click.command("correct")
@click.argument("inputs", nargs=-1, required=True, metavar="INPUT...")
@click.option("-o", "--outdir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder for the corrected files (created if needed); names mirror the inputs.")
@click.option("-r", "--recursive", is_flag=True, help="Descend into subfolders of folder inputs.")
@click.option("--lens", help="Lens (profile) name for every file; overrides metadata and sidecars.")
@click.option("--camera", help="Camera name (gives the crop factor).")
@click.option("--crop-factor", type=_POSITIVE, help="Crop factor of the frames (e.g. 2.64 for a 1-inch sensor).")
@click.option("--focal", type=_POSITIVE, help="Focal length in mm.")
@click.option("--aperture", type=_POSITIVE, help="f-number (needed for vignetting).")
@click.option("--distance", type=_POSITIVE, help="Focus distance in metres (vignetting; default infinity).")
@click.option("--corrections", callback=_corrections, metavar="LIST",
              help="Comma-separated: distortion,tca,vignetting (default: all the profile has), and what to do "
                   "with corrections a DNG carries: auto (default: the file's own unless a lens is chosen), "
                   "embedded, profile, both, none.")
@click.option("--linear", is_flag=True, default=None,
              help="The inputs hold linear data: do not linearise JPEG/PNG/TIFF samples as sRGB.")
@click.option("--scale", callback=_scale, metavar="N|auto", help="Output magnification, or 'auto' (no empty borders).")
@click.option("--vignetting-strength", type=click.FloatRange(0, 2), help="0..2, 1 = full correction.")
@click.option("--interpolation", type=click.Choice(["nearest", "bilinear", "bicubic", "lanczos3"]),
              default="bicubic", show_default=True)
@click.option("--format", "output_format", type=click.Choice(["auto", "tiff16", "float32"]), default="auto",
              show_default=True, help="auto: 16-bit TIFF for raw input, else the input's format.")
@click.option("--suffix", default="", help="Text added to output names (e.g. _lc).")
@click.option("--quality", type=click.IntRange(1, 100), default=95, show_default=True, help="JPEG quality.")
@click.option("--raw-colour", type=click.Choice(["camera", "srgb"]), default="camera", show_default=True,
              help="Raw files: camera RGB in sensor units, or white-balanced linear sRGB.")
@click.option("--demosaic", default="AHD", show_default=True, help="LibRaw demosaicing algorithm.")
@click.option("--overwrite", is_flag=True, help="Replace existing outputs (inputs are never replaced).")
@click.option("-n", "--dry-run", is_flag=True, help="Show, per file, the profile chosen, why, and the parameters.")
@click.option("-j", "--workers", type=click.IntRange(min=1), help="Worker processes (default: one per CPU).")
@click.option("--scheduler", metavar="tcp://HOST:8786|local:N",
              help="Run on a Dask cluster (mountkit[distributed]): a scheduler's address, a scheduler file, "
                   "or local:N for N worker processes here. See docs/distributed.md.")
def correct(inputs, outdir, recursive, lens, camera, crop_factor, focal, aperture, distance, corrections, linear,
            scale, vignetting_strength, interpolation, output_format, suffix, quality, raw_colour, demosaic,
            overwrite, dry_run, workers, scheduler=None):
    """Correct lens distortion, lateral CA and vignetting in image and raw files.

    INPUT may be files, folders (with -r, their subfolders too) or glob
    patterns.  Settings come, in order of precedence, from the flags, a
    folder's mountkit.toml [override] table, each file's metadata, and the
    mountkit.toml defaults.  Outputs are written atomically; existing files
    are kept unless --overwrite.  Exit status: 0 all corrected, 1 some files
    failed, 2 nothing could run, 130 interrupted.
    """
    from rich.console import Console

    from ..batch import MissingSetting, Options, PlanError, plan, resolve, run
    from ..errors import MountkitError
    from ..io.sidecar import SidecarFinder
    from ..kit import Kit

    out = Console(soft_wrap=True)  # long paths stay on one line in logs
    err = Console(stderr=True, soft_wrap=True)
    root = click.get_current_context().find_root().command
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        kit = root.kit() if callable(getattr(root, "kit", None)) else Kit()
    if outdir.exists() and not outdir.is_dir():
        err.print(f"[red]error:[/] {escape(str(outdir))} exists and is not a folder")
        sys.exit(EXIT_USAGE)
    if scheduler is not None:  # a Dask cluster runs the batch (mountkit.distributed)
        from ..distributed import runner_for

        try:
            run = runner_for(scheduler, workers)
        except MountkitError as exc:
            err.print(f"[red]error:[/] {escape(str(exc))}")
            sys.exit(EXIT_USAGE)
    try:
        jobs = plan(inputs, outdir, recursive=recursive, output_format=output_format, suffix=suffix, kit=kit)
    except PlanError as exc:
        err.print(f"[red]error:[/] {escape(str(exc))}")
        sys.exit(EXIT_USAGE)
    if not jobs:
        err.print("[yellow]nothing to correct[/]: no readable image or raw files in the inputs")
        sys.exit(EXIT_USAGE)
    policy = next((c for c in corrections or () if c in _POLICIES), None)
    corrections = tuple(c for c in corrections or () if c not in _POLICIES) or None
    options = Options(lens=lens, camera=camera, crop_factor=crop_factor, focal=focal, aperture=aperture,
                      distance=distance, corrections=corrections, embedded=policy, linear=linear, scale=scale,
                      vignetting_strength=vignetting_strength, interpolation=interpolation,
                      output_format=output_format, jpeg_quality=quality, raw_colour=raw_colour,
                      demosaic=demosaic, overwrite=overwrite)
    sidecars = SidecarFinder()
    work = []
    with err.status(f"reading metadata of {len(jobs)} file(s)..."):
        for job in jobs:
            if job.error:
                work.append((job, None, job.error))
                continue
            try:
                work.append((job, resolve(job, options, kit=kit, sidecars=sidecars), None))
            except (MissingSetting, MountkitError) as exc:
                work.append((job, None, str(exc)))
    if dry_run:
        _print_plan(out, work, kit)
        sys.exit(EXIT_FAILED if any(e for _, _, e in work) else EXIT_OK)
    outdir.mkdir(parents=True, exist_ok=True)
    try:
        report = _run_with_progress(err, work, workers, run)
    except MountkitError as exc:  # --scheduler: the cluster cannot be reached or cannot see the files

        err.print(f"[red]error:[/] {escape(str(exc))}")
        sys.exit(EXIT_USAGE)
    _print_summary(out, report, outdir)
    if report.interrupted:
        err.print("[yellow]interrupted[/]: files not finished were removed; finished files are kept")
    sys.exit(report.exit_code)


def _run_with_progress(err, work, workers, run):
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    with Progress(SpinnerColumn(), TextColumn("[bold]correcting"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), TextColumn("{task.fields[last]}"), console=err, transient=False) as progress:
        task = progress.add_task("correct", total=len(work), last="")

        def on_result(r):
            mark = {"ok": "[green]ok[/]", "failed": "[red]failed[/]", "skipped": "[yellow]skipped[/]"}[r.status]
            line = f"{mark} {escape(str(r.input))}"
            if r.status == "ok":
                line += f" -> {escape(str(r.output))} ({r.seconds:.1f} s)"
            else:
                line += f": {escape(_strip_path(r.message, r.input))}"
            progress.console.print(line, highlight=False, markup=True, soft_wrap=True)
            for note in r.notes:
                progress.console.print(f"  [yellow]note:[/] {escape(str(note))}", highlight=False)
            progress.update(task, advance=1, last=r.input.name)

        from ..memory import keep_freed_memory

        keep_freed_memory()  # this process is ours: frames reuse the memory of the previous ones
        return run(work, workers=workers, on_result=on_result)


def _strip_path(message: str, path: Path) -> str:
    prefix = f"{path}: "
    return message[len(prefix):] if message.startswith(prefix) else message


def _print_plan(out, work, kit):

    from ..batch import frame_size

    for job, s, error in work:
        out.print(f"[bold]{escape(str(job.input))}[/] -> {escape(str(job.output))}", highlight=False)
        if error:
            out.print(f"  [red]cannot correct:[/] {escape(_strip_path(error, job.input))}", highlight=False)
            continue
        why = dict(s.why)
        out.print(f"  profile: {escape(s.lens.name)} (source: {escape(s.lens.source or '?')})", highlight=False)
        out.print(f"    why: {escape(why.get('lens', ''))}", highlight=False)
        cam = s.camera.name if s.camera is not None else "unknown body"
        out.print(f"  camera: {escape(cam)}, crop factor {s.crop_factor:.4g} ({escape(why.get('crop_factor', ''))})",
                  highlight=False)
        for key, label, unit in (("focal", "focal length", " mm"), ("aperture", "aperture f/", ""),
                                 ("distance", "focus distance", " m")):
            v = getattr(s, key)
            if v is not None:
                text = f"{label}{v:g}{unit}" if label.endswith("/") else f"{label} {v:g}{unit}"
                out.print(f"  {text} ({escape(why.get(key, ''))})", highlight=False)
        if s.embedded is not None:  # what a DNG carries and what of it is applied (mountkit.dng.apply)
            for line in s.embedded.dry_run_lines():
                out.print(f"  {escape(line)}", highlight=False)
            if not s.embedded.use_profile:
                continue
        size = frame_size(job.input)
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                cor = kit.corrector(s.lens, camera=s.camera, crop_factor=s.crop_factor, size=size or (3000, 2000),
                                    focal=s.focal, aperture=s.aperture, distance=s.distance,
                                    corrections=s.corrections, interpolation=s.interpolation, scale=s.scale,
                                    vignetting_strength=s.vignetting_strength)
            desc = cor.describe()
            applied = ", ".join(cor.active) or "nothing (the profile has no data for the requested corrections)"
            out.print(f"  corrections: {applied} (requested: {', '.join(s.corrections)}; "
                      f"{escape(why.get('corrections', ''))})", highlight=False)
            for kind, terms in desc["corrections"].items():
                params = ", ".join(f"{k}={v:.6g}" for k, v in terms["params"].items())
                how = f" ({escape(str(terms['how']))})" if terms.get("how") else ""
                out.print(f"    {kind}: {terms['model']} {params}{how}", highlight=False)
            for w in caught:
                out.print(f"  [yellow]note:[/] {escape(str(w.message))}", highlight=False)
        except Exception as exc:
            out.print(f"  [red]cannot correct:[/] {escape(str(exc))}", highlight=False)


def _print_summary(out, report, outdir):
    from rich.table import Table

    table = Table(title=f"mountkit correct -> {outdir}", show_lines=False)
    table.add_column("file", overflow="fold")
    table.add_column("status")
    table.add_column("profile / error", overflow="fold")
    table.add_column("corrections")
    table.add_column("time", justify="right")
    for r in sorted(report.results, key=lambda r: str(r.input)):
        style = {"ok": "green", "failed": "red", "skipped": "yellow"}[r.status]
        if r.status == "ok" and r.record:
            what, corr = r.record.get("profile", ""), ", ".join(r.record.get("corrections", []))
        else:
            what, corr = _strip_path(r.message, r.input), ""
        table.add_row(escape(str(r.input)), f"[{style}]{r.status}[/]", escape(what), corr, f"{r.seconds:.1f} s")
    out.print(table)
    ok = sum(r.status == "ok" for r in report.results)
    failed = len(report.failed)
    out.print(f"{ok} corrected, {failed} failed" + (", interrupted" if report.interrupted else ""))
