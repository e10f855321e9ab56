"""Built-in plugin: the ``mountkit calibrate distortion|tca|vignetting`` commands.

A thin layer over :mod:`mountkit.calibrate.pipeline`,
:mod:`mountkit.calibrate.profile_output` and :mod:`mountkit.calibrate.report`;
registered on ``mountkit_register_commands`` like any plugin's commands::

    mountkit calibrate distortion IMAGES... --lens NAME --focal F (--camera NAME | --crop-factor C)
                                  [--model ptlens|poly3|poly5] [--board 9x6] -o PROFILE.toml [--report r.png]
    mountkit calibrate tca IMAGES... --lens NAME --focal F (--camera | --crop-factor) [--model linear|poly3] -o ...
    mountkit calibrate vignetting IMAGES... --lens NAME (--camera | --crop-factor)
                                  [--focal F] [--aperture N] [--distance M] -o ...
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import click

from ..errors import MountkitError, NotFoundError
from ..hookspecs import hookimpl


@hookimpl
def mountkit_register_commands(cli):
    cli.add_command(calibrate)


def _kit():
    from ..cli import get_kit

    return get_kit()


def _console(stderr: bool = False):
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=True)


def _aspect(text: str | None) -> float | None:
    if text is None:
        return None
    from ..formats.toml_profile import parse_aspect_ratio

    try:
        return parse_aspect_ratio(text if ":" in text else float(text), field="--aspect-ratio")
    except (ValueError, MountkitError) as exc:
        raise click.BadParameter(str(exc), param_hint="--aspect-ratio") from None


def resolve_body(kit, camera: str | None, crop_factor: float | None, aspect_ratio: str | None):
    """(crop factor, aspect ratio or None, body description) from --camera / --crop-factor / --aspect-ratio."""
    if (camera is None) == (crop_factor is None):
        raise click.UsageError("give the body that took the shots: --camera NAME or --crop-factor C (not both)")
    ar = _aspect(aspect_ratio)
    if camera is not None:
        cam = kit.camera(camera)
        if ar is None and cam.sensor_width and cam.sensor_height:
            from .profile_output import sensor_aspect_ratio

            ar = sensor_aspect_ratio(cam.sensor_width, cam.sensor_height)
        return float(cam.crop_factor), ar, cam.name
    if not crop_factor > 0:
        raise click.BadParameter("must be positive", param_hint="--crop-factor")
    return float(crop_factor), ar, f"unnamed body, crop factor {crop_factor:g}"


def resolve_lens(kit, name: str, maker: str | None) -> tuple[str, str, tuple[str, ...]]:
    """(maker, model, mounts): a known lens of that exact name, else --maker (or the name's first word) and the rest."""
    try:
        lens = kit.lens(name, maker=maker)
    except NotFoundError:
        lens = None
    if lens is not None:
        names = {" ".join(n.casefold().split()) for n in (lens.name, lens.model, *lens.aliases)}
        if " ".join(name.casefold().split()) in names:
            return lens.maker, lens.model, tuple(lens.mounts)
    words = name.split()
    if maker:
        model = name[len(maker):].strip() if name.casefold().startswith(maker.casefold() + " ") else name
        return maker, model, ()
    if len(words) < 2:
        raise click.UsageError(f"--lens {name!r}: give the maker and the model (e.g. 'Leica Summicron-M 28 f/2'), "
                               "or --maker")
    return words[0], " ".join(words[1:]), ()


def common_options(fn):
    opts = [
        click.option("--lens", "lens_name", required=True, help="Lens name (maker and model), as it should appear."),
        click.option("--maker", default=None, help="Lens maker, when not the first word of --lens."),
        click.option("--mount", "mounts", multiple=True, help="Lens mount (repeatable), e.g. 'Leica M'."),
        click.option("--camera", default=None, help="The body that took the shots (gives crop factor and aspect)."),
        click.option("--crop-factor", type=float, default=None, help="Crop factor of the body (without --camera)."),
        click.option("--aspect-ratio", default=None,
                     help="Aspect ratio of the body's sensor, e.g. 4:3 (default: the camera's, else the frames')."),
        click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path),
                     help="Profile (.toml) to create, or to merge the new calibration into."),
        click.option("--report", type=click.Path(dir_okay=False, path_type=Path), default=None,
                     help="Also write residual plots (PNG)."),
        click.option("--author", default=None, help="Who made the calibration (provenance)."),
        click.option("--licence", default=None, help="Licence of the calibration data (SPDX id, e.g. CC0-1.0)."),
        click.option("--json", "as_json", is_flag=True, help="Print the result as JSON."),
    ]
    for opt in reversed(opts):
        fn = opt(fn)
    return fn


def _workers() -> int:
    return max(1, min(2, os.cpu_count() or 1))


def _print_rejected(out, rejected) -> None:
    for r in rejected:
        out.print(f"[yellow]rejected[/yellow] {r.name}: {r.reason}")


def _write(ctx_obj: dict, records, *, as_json: bool, extra: dict) -> None:
    from .profile_output import write_profile

    kit = ctx_obj["kit"]
    lens = write_profile(ctx_obj["output"], records, maker=ctx_obj["maker"], model=ctx_obj["model"],
                         crop_factor=ctx_obj["crop_factor"], aspect_ratio=ctx_obj["aspect_ratio"],
                         body=ctx_obj["body"], author=ctx_obj["author"] or "", licence=ctx_obj["licence"] or "",
                         mounts=ctx_obj["mounts"], kit=kit)
    if as_json:
        click.echo(json.dumps({**extra, "profile": str(ctx_obj["output"]), "lens": lens.name}, indent=2))
    else:
        out = _console()
        out.print(f"wrote {ctx_obj['output']} ({lens.name}, crop factor {lens.profile.crop_factor:g}, "
                  f"aspect ratio {lens.profile.aspect_ratio:.4g})")
        if ctx_obj.get("report"):
            out.print(f"wrote {ctx_obj['report']}")


def _setup(kit, lens_name, maker, mounts, camera, crop_factor, aspect_ratio, output, author, licence, report):
    crop, ar, body = resolve_body(kit, camera, crop_factor, aspect_ratio)
    lmaker, lmodel, lmounts = resolve_lens(kit, lens_name, maker)
    return {"kit": kit, "crop_factor": crop, "aspect_ratio": ar, "body": body, "maker": lmaker, "model": lmodel,
            "mounts": tuple(mounts) or lmounts, "output": output, "author": author, "licence": licence,
            "report": report}


@click.group("calibrate")
def calibrate():
    """Make a lens profile from your own shots: distortion, TCA and vignetting.

    Results go into a native TOML profile (created, or merged into), with the
    body's crop factor and aspect ratio so that it rescales to other bodies,
    and provenance (author, body, date, method, residuals).  See
    docs/calibration.md for how to shoot.
    """


@calibrate.command("distortion")
@click.argument("images", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--focal", type=float, required=True, help="Focal length in mm.")
@click.option("--model", "model_name", type=click.Choice(["ptlens", "poly3", "poly5"]), default="ptlens",
              show_default=True, help="lensfun distortion model.")
@click.option("--board", default=None, help="Inner corners COLSxROWS (e.g. 9x6); detected when omitted.")
@common_options
def distortion_cmd(images, focal, model_name, board, lens_name, maker, mounts, camera, crop_factor, aspect_ratio,
                   output, report, author, licence, as_json):
    """Fit lensfun distortion to chessboard shots (one focal length, the board filling various parts of the frame)."""
    from .distortion_fit import DistortionFit
    from .pipeline import calibrate_distortion
    from .profile_output import CalibrationRecord

    kit = _kit()
    ctx = _setup(kit, lens_name, maker, mounts, camera, crop_factor, aspect_ratio, output, author, licence, report)
    fit: DistortionFit = calibrate_distortion(images, focal=focal, crop_factor=ctx["crop_factor"],
                                              aspect_ratio=ctx["aspect_ratio"], model=model_name, pattern=board,
                                              kit=kit, workers=_workers())
    ctx["aspect_ratio"] = fit.aspect_ratio
    if not as_json:
        from rich.table import Table

        out = _console()
        table = Table("shot", "corners", "RMS px", "max px", "dropped", title=f"distortion {fit.model}")
        for s in fit.shots:
            table.add_row(s.name, str(s.count), f"{s.rms_px:.3f}", f"{s.max_px:.3f}", str(s.dropped))
        out.print(table)
        _print_rejected(out, fit.rejected)
        out.print(f"{fit.model}: " + ", ".join(f"{k} = {v:.6g}" for k, v in fit.params.items())
                  + f"; RMS {fit.rms_px:.3f} px over {fit.count} corners in {len(fit.shots)} shots")
        if fit.radius_covered < 0.9 * fit.corner_radius:
            out.print(f"[yellow]note[/yellow] the corners reach {100 * fit.radius_covered / fit.corner_radius:.0f} % "
                      "of the way to the frame corner; beyond, the correction is extrapolated: add shots with the "
                      "board in the corners")
    if report:
        from .report import write_report

        write_report(report, distortion=(fit, kit.model("distortion", fit.model)))
    poses = "a pinhole pose per shot" if fit.pose == "projection" else "a homography per shot"
    rec = CalibrationRecord(fit.calibration(), fit.summary(),
                            "distortion: chessboard corners (OpenCV findChessboardCornersSB, refined to their "
                            f"centre of symmetry), joint least squares of the model with {poses}")
    _write(ctx, [rec], as_json=as_json, extra={
        "kind": "distortion", "model": fit.model, "params": dict(fit.params), "rms_px": fit.rms_px,
        "max_px": fit.max_px, "shots": [s.__dict__ for s in fit.shots],
        "rejected": [{"name": r.name, "reason": r.reason} for r in fit.rejected]})


@calibrate.command("tca")
@click.argument("images", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--focal", type=float, required=True, help="Focal length in mm.")
@click.option("--model", "model_name", type=click.Choice(["poly3", "linear"]), default="poly3", show_default=True,
              help="lensfun TCA model.")
@click.option("--full", is_flag=True, help="poly3: also fit the cr/cb terms.")
@click.option("--board", default=None, help="Inner corners COLSxROWS; detected when omitted.")
@common_options
def tca_cmd(images, focal, model_name, full, board, lens_name, maker, mounts, camera, crop_factor, aspect_ratio,
            output, report, author, licence, as_json):
    """Fit lensfun TCA (red and blue scale against green) to colour chessboard shots (linear data preferred)."""
    from .pipeline import calibrate_tca
    from .profile_output import CalibrationRecord

    kit = _kit()
    ctx = _setup(kit, lens_name, maker, mounts, camera, crop_factor, aspect_ratio, output, author, licence, report)
    fit = calibrate_tca(images, focal=focal, crop_factor=ctx["crop_factor"], aspect_ratio=ctx["aspect_ratio"],
                        model=model_name, full=full, pattern=board, kit=kit, workers=_workers())
    ctx["aspect_ratio"] = fit.aspect_ratio
    if not as_json:
        out = _console()
        _print_rejected(out, fit.rejected)
        out.print(f"tca {fit.model}: " + ", ".join(f"{k} = {v:.7g}" for k, v in fit.params.items())
                  + f"; RMS red {fit.red.rms_px:.3f} px, blue {fit.blue.rms_px:.3f} px over {fit.radius.size} corners")
    if report:
        from .report import write_report

        write_report(report, tca=fit)
    rec = CalibrationRecord(fit.calibration(), fit.summary(),
                            "tca: chessboard corners located per colour channel, linear least squares")
    _write(ctx, [rec], as_json=as_json, extra={
        "kind": "tca", "model": fit.model, "params": dict(fit.params), "rms_red_px": fit.red.rms_px,
        "rms_blue_px": fit.blue.rms_px, "rejected": [{"name": r.name, "reason": r.reason} for r in fit.rejected]})


@calibrate.command("vignetting")
@click.argument("images", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--focal", type=float, default=None, help="Focal length in mm (default: from the files).")
@click.option("--aperture", type=float, default=None, help="f-number (default: from the files).")
@click.option("--distance", type=float, default=None, help="Focus distance in metres (default: from the files).")
@click.option("--colour-shading/--no-colour-shading", default=True, show_default=True,
              help="Also fit per-channel colour shading (kind colour_shading, model poly4).")
@common_options
def vignetting_cmd(images, focal, aperture, distance, colour_shading, lens_name, maker, mounts, camera, crop_factor,
                   aspect_ratio, output, report, author, licence, as_json):
    """Fit lensfun pa vignetting (and colour shading) to flat fields, per focal length, aperture and distance.

    Flat fields: an evenly lit diffuser against the lens, raw/DNG or linear
    TIFF, the centre around half of the range; several apertures.
    """
    from .pipeline import calibrate_vignetting
    from .profile_output import CalibrationRecord

    kit = _kit()
    ctx = _setup(kit, lens_name, maker, mounts, camera, crop_factor, aspect_ratio, output, author, licence, report)
    fits, rejected = calibrate_vignetting(images, crop_factor=ctx["crop_factor"], aspect_ratio=ctx["aspect_ratio"],
                                          focal=focal, aperture=aperture, distance=distance,
                                          colour_shading=colour_shading, kit=kit)
    ctx["aspect_ratio"] = fits[0].aspect_ratio
    method = "vignetting: flat fields, radial medians, linear least squares of pa"
    records = []
    for f in fits:
        records.append(CalibrationRecord(f.calibration(), f.summary(), method))
        sc = f.shading_calibration()
        if sc is not None:
            records.append(CalibrationRecord(sc, f"colour_shading poly4 at {f.focal:g} mm f/{f.aperture:g} "
                                             f"{f.distance:g} m: RMS {100 * (f.shading_rms or 0):.2f} %",
                                             "colour shading: per-channel degree-4 polynomial over flat fields"))
    if not as_json:
        out = _console()
        _print_rejected(out, rejected)
        for f in fits:
            out.print(f.summary() + ": " + ", ".join(f"{k} = {v:.5g}" for k, v in f.params.items()))
    if report:
        from .report import write_report

        write_report(report, vignetting=fits)
    _write(ctx, records, as_json=as_json, extra={
        "kind": "vignetting", "fits": [{"focal": f.focal, "aperture": f.aperture, "distance": f.distance,
                                        "params": dict(f.params), "rms": f.rms, "colour_shading": f.shading}
                                       for f in fits],
        "rejected": [{"name": r.name, "reason": r.reason} for r in rejected]})
