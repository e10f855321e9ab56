"""Built-in plugin: the DNG opcode correction models and the ``mountkit dng`` commands.

Registered through the same hooks as third-party plugins:

* ``mountkit_register_correction_models``: ``distortion/dng_warp``,
  ``distortion/dng_warp_fisheye``, ``tca/dng_warp``, ``vignetting/dng_vignette``
  (:mod:`mountkit.dng.models`);
* ``mountkit_register_commands``: ``mountkit dng info FILE [--json]`` and
  ``mountkit dng embed PROFILE IN.dng -o OUT.dng``.
"""

from __future__ import annotations

import json
import os
from typing import Any

import click

from ..hookspecs import hookimpl
from .models import MODELS


@hookimpl
def mountkit_register_correction_models(register):
    for model in MODELS:
        register(model)


@hookimpl
def mountkit_register_commands(cli):
    cli.add_command(dng_group)


# -- formatting ---------------------------------------------------------------------


def _num(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.6g}"
    if isinstance(v, (list, tuple)):
        return "(" + ", ".join(_num(x) for x in v) + ")"
    return str(v)


def _opcode_lines(op: dict[str, Any]) -> list[str]:
    flags = []
    if op["optional"]:
        flags.append("optional")
    if op["skip_if_preview"]:
        flags.append("skip for preview")
    extra = ", " + ", ".join(flags) if flags else ""
    head = f"{op['name']} (id {op['id']}, DNG {op['version']}, {op['bytes']} bytes{extra})"
    lines = [head]
    if op.get("invalid"):
        lines.append(f"    MALFORMED: {op['error']}")
    elif op.get("decoded") is False:
        lines.append("    not decoded by mountkit" + ("" if op.get("known") else " (unknown opcode id)"))
    elif op["name"] in ("WarpRectilinear", "WarpRectilinear2"):
        lines.append(f"    centre {_num(op['center'])}, {op['planes']} plane(s)"
                     + (", reciprocal" if op.get("reciprocal") else ""))
        for i, c in enumerate(op["coefficients"]):
            extra = f", valid r {_num(c['valid_range'])}" if "valid_range" in c else ""
            lines.append(f"    plane {i}: kr {_num(c['kr'])}, kt {_num(c['kt'])}{extra}")
    elif op["name"] == "WarpFisheye":
        lines.append(f"    centre {_num(op['center'])}, {op['planes']} plane(s)")
        for i, c in enumerate(op["coefficients"]):
            lines.append(f"    plane {i}: kr {_num(c)}")
    elif op["name"] == "FixVignetteRadial":
        lines.append(f"    k {_num(op['k'])}, centre {_num(op['center'])}")
    elif op["name"] == "GainMap":
        a = op["area"]
        lines.append(f"    area rows {a['top']}..{a['bottom']} step {op['row_pitch']}, "
                     f"columns {a['left']}..{a['right']} step {op['col_pitch']}, "
                     f"planes {op['plane']}..{op['plane'] + op['planes'] - 1}")
        lines.append(f"    map {op['points'][0]} x {op['points'][1]} x {op['map_planes']}, "
                     f"spacing {_num(op['spacing'])}, origin {_num(op['origin'])}; "
                     f"gains {op['gain_min']:.4f}..{op['gain_max']:.4f}, "
                     f"centre {_num(op['gain_centre'])}")
    return lines


def format_info(d: dict[str, Any]) -> str:
    """The human-readable form of :meth:`mountkit.dng.tags.DngOpcodes.describe`."""
    out = [f"{d['file']}"]
    out.append(f"  DNG version {d['dng_version'] or 'unknown (no DNGVersion tag)'}")
    raw = d["raw_ifd"]
    if raw is None:
        out.append("  no raw image IFD (NewSubfileType 0)")
    else:
        comp = raw["compression_name"] or f"compression {raw['compression']}"
        area = f", active area {raw['active_area']}" if raw["active_area"] else ""
        out.append(f"  raw image in {raw['path']}: {raw['width']} x {raw['height']}"
                   f"{' CFA' if raw['cfa'] else ''}, {comp}{area}")
        out.append("  (opcodes are read from the TIFF tags; pixel data are not decoded)")
    if not d["lists"]:
        out.append("  no opcode lists")
    for lst in d["lists"]:
        title = f"  OpcodeList{lst['list']} (tag {lst['tag']}): {lst['stage']}"
        if "error" in lst:
            out.append(title)
            out.append(f"    MALFORMED, not usable: {lst['error']}")
            continue
        size = f"; image {lst['image_size'][0]} x {lst['image_size'][1]}" if "image_size" in lst else ""
        out.append(f"{title}{size}; {lst['count']} opcode(s)")
        for i, op in enumerate(lst["opcodes"]):
            lines = _opcode_lines(op)
            out.append(f"    #{i + 1} {lines[0]}")
            out.extend("  " + line for line in lines[1:])
    if d["embedded_kinds"]:
        out.append("  corrections carried: " + ", ".join(f"{k} ({len(v)} opcode(s))"
                                                        for k, v in d["embedded_kinds"].items()))
    for e in d["elsewhere"]:
        out.append(f"  note: {e['ifd']} (not the raw image) also has an OpcodeList{e['list']}; ignored")
    return "\n".join(out)


# -- commands -------------------------------------------------------------------------


@click.group(name="dng")
def dng_group() -> None:
    """DNG opcode lists: show the corrections a DNG carries, write a profile's into one."""


@dng_group.command(name="info")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@click.option("--full", is_flag=True, help="With --json: include every GainMap value.")
def info_command(files: tuple[str, ...], as_json: bool, full: bool) -> None:
    """Show the opcode lists (OpcodeList1/2/3) of DNG FILES, decoded.

    Works whatever the pixel compression (VC-5 included): only tags are read.
    A malformed list is reported and the others are still shown.
    """
    from ..errors import MountkitError
    from .tags import read_opcode_lists

    results, failed = [], False
    for path in files:
        try:
            results.append(read_opcode_lists(path).describe(full=full))
        except MountkitError as exc:
            failed = True
            results.append({"file": path, "error": str(exc)})
    if as_json:
        click.echo(json.dumps(results[0] if len(results) == 1 else results, indent=2))
    else:
        for i, d in enumerate(results):
            if i:
                click.echo("")
            click.echo(f"{d['file']}: {d['error']}" if "error" in d and "lists" not in d else format_info(d))
    if failed:
        raise SystemExit(1)


@dng_group.command(name="embed")
@click.argument("profile")
@click.argument("source", type=click.Path(exists=True, dir_okay=False))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="The DNG to write.")
@click.option("--camera", help="Camera body (name), for its crop factor; default: the file's Make and Model.")
@click.option("--crop-factor", type=float, help="Crop factor of the camera, instead of --camera.")
@click.option("--focal", type=float, help="Focal length in mm (default: the file's EXIF).")
@click.option("--aperture", type=float, help="f-number (default: the file's EXIF).")
@click.option("--distance", type=float, help="Focus distance in metres (default: EXIF, else 1000).")
@click.option("--scale", default="auto", show_default=True,
              help="Magnification built into the warp: a number, or 'auto' (no empty borders).")
@click.option("--no-vignetting", is_flag=True, help="Leave vignetting out.")
@click.option("--no-tca", is_flag=True, help="Leave lateral CA out.")
@click.option("--no-distortion", is_flag=True, help="Leave distortion out.")
@click.option("--warp2", type=click.Choice(["auto", "always", "never"]), default="auto", show_default=True,
              help="Add an optional WarpRectilinear2 (DNG 1.6, exact for every lensfun model) before the "
                   "WarpRectilinear: when WarpRectilinear cannot express the profile exactly, always, or never.")
@click.option("--replace", is_flag=True, help="Replace an OpcodeList3 the file already has.")
@click.option("--json", "as_json", is_flag=True, help="Print what was done as JSON.")
def embed_command(profile: str, source: str, output: str, camera: str | None, crop_factor: float | None,
                  focal: float | None, aperture: float | None, distance: float | None, scale: str,
                  no_vignetting: bool, no_tca: bool, no_distortion: bool, warp2: str, replace: bool,
                  as_json: bool) -> None:
    """Write PROFILE's corrections for SOURCE as its OpcodeList3, into a new DNG.

    PROFILE is a lens name or a profile file (mountkit .toml, lensfun .xml,
    Adobe .lcp).  The distortion, lateral CA and vignetting at the file's
    focal length, aperture and distance become a FixVignetteRadial and a
    WarpRectilinear that Adobe Camera Raw, Lightroom and other DNG readers
    apply.  Every other byte of the file is kept (see docs/dng.md).
    """
    import warnings

    from ..cli import get_kit
    from ..errors import CorrectionWarning
    from .embed import embed_profile

    kit = get_kit()
    try:
        scale_v: float | str = scale if scale == "auto" else float(scale)
    except ValueError:
        raise click.BadParameter(f"{scale!r} is neither a number nor 'auto'", param_hint="--scale") from None
    kinds = [k for k, off in (("vignetting", no_vignetting), ("tca", no_tca), ("distortion", no_distortion))
             if not off]
    if not kinds:
        raise click.UsageError("nothing to embed: every correction is switched off")
    lens = _resolve_profile(kit, profile, crop_factor)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", CorrectionWarning)
        result = embed_profile(kit, lens, source, output, camera=camera, crop_factor=crop_factor, focal=focal,
                               aperture=aperture, distance=distance, scale=scale_v, corrections=kinds,
                               warp2={"auto": "auto", "always": True, "never": False}[warp2], replace=replace)
    notes = [str(w.message) for w in caught if issubclass(w.category, CorrectionWarning)]
    if as_json:
        d = result.describe()
        d["warnings"] = notes
        click.echo(json.dumps(d, indent=2))
        return
    conv = result.conversion
    click.echo(f"Wrote {result.output}: OpcodeList3 with " + ", ".join(op.label for op in result.opcodes))
    if conv is not None:
        click.echo(f"  {lens.name} on {conv.size[0]} x {conv.size[1]}, scale {conv.scale:.6g}; "
                   f"corrections: {', '.join(conv.kinds)}")
        for fit in (conv.vignette, conv.warp2, conv.warp):
            if fit is not None:
                how = "exact" if fit.exact else "fitted"
                unit = "px" if fit.unit == "px" else "relative gain"
                click.echo(f"  {fit.opcode.label}: {how}, largest difference to the profile {fit.residual:.3g} {unit}"
                           + (" (optional; DNG 1.6 readers use it, older ones the WarpRectilinear after it)"
                              if fit.opcode.label == "WarpRectilinear2" else ""))
    for c in result.changes:
        click.echo(f"  changed: {c}")
    click.echo(f"  {result.appended_bytes} bytes appended; every other byte of {os.path.basename(result.source)} "
               "is unchanged")
    for n in result.notes + notes + list(conv.notes if conv is not None else ()):
        click.echo(f"  note: {n}", err=True)


def _resolve_profile(kit, profile: str, crop_factor: float | None):
    """A lens from a profile file (any format mountkit imports) or a lens name."""
    from ..errors import ProfileError

    if os.path.isfile(profile):
        from ..profile_tools import read_any

        got = read_any(profile)
        lenses = [lens for lens in got.lenses if lens.calibrated]
        if len(lenses) != 1:
            names = ", ".join(lens.name for lens in lenses) or "none"
            raise ProfileError(f"the file holds {len(lenses)} calibrated lenses ({names}); give a file with one, "
                               "or a lens name", source=profile)
        return lenses[0]
    return kit.lens(profile, crop_factor=crop_factor)
