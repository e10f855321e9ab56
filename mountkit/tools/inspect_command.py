"""``mountkit inspect FRAME``: histogram, zebra and focus peaking on one frame.

A thin layer over the frame tools registered on the kit
(``kit.frame_tools()``): it reads the frame, runs the tools asked for,
prints their numbers (a table, or JSON with ``--json``), and draws their
overlays over the frame (``-o overlay.png``) and the histogram as a plot
(``--histogram-plot``).
"""

from __future__ import annotations

import inspect as _inspect
import json
import math
from pathlib import Path
from typing import Any

import click
import numpy as np

from ..errors import MountkitError, NotFoundError
from ..kit import Kit
from .histogram import Histogram
from .overlay import COLORS, PALETTE, compose, parse_color
from .zebra import DEFAULT_SKIN_BAND, DEFAULT_THRESHOLD

BUILTIN_ORDER = ("histogram", "zebra", "peaking")


def _kit() -> Kit:
    """The invocation's kit (:func:`mountkit.cli.get_kit`)."""
    from ..cli import get_kit

    return get_kit()


def _accepts(func, name: str) -> bool:
    try:
        params = _inspect.signature(func).parameters.values()
    except (TypeError, ValueError):
        return True
    return any(p.name == name or p.kind is p.VAR_KEYWORD for p in params)


def to_json_value(value: Any) -> Any:
    """A tool result made JSON-ready: arrays (overlays) dropped, numpy scalars converted, NaN to None."""
    if isinstance(value, dict):
        return {str(k): to_json_value(v) for k, v in value.items() if not isinstance(v, np.ndarray)}
    if isinstance(value, (list, tuple)):
        return [to_json_value(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if hasattr(value, "as_dict"):
        return to_json_value(value.as_dict())
    return str(value)


def _write_overlay(path: Path, rgb: np.ndarray, kit: Kit, overwrite: bool) -> None:
    """Write 8-bit RGB with the frame format the suffix of ``path`` selects, atomically."""
    from ..io import Frame
    from ..io.atomic import atomic_output
    from ..io.formats import format_for

    fmt = format_for(path, kit, writing=True)
    with atomic_output(path, overwrite=overwrite) as tmp:
        fmt.write(tmp, Frame(data=rgb, white_level=255.0, linear=False))


def _print_table(frame_info: dict[str, Any], results: dict[str, dict[str, Any]]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    console.print(f"[bold]{frame_info['path']}[/bold]  {' x '.join(map(str, frame_info['shape']))}  "
                  f"{frame_info['dtype']}")
    for name, res in results.items():
        table = Table(title=name, title_justify="left")
        if name == "histogram":
            table.add_column("channel")
            for col in ("clipped low", "%", "clipped high", "%"):
                table.add_column(col, justify="right")
            for ch, c in res["channels"].items():
                table.add_row(ch, str(c["clipped_low"]), f"{c['clipped_low_percent']:.3f}",
                              str(c["clipped_high"]), f"{c['clipped_high_percent']:.3f}")
            table.caption = (f"{res['bins']} bins over [{res['range'][0]:g}, {res['range'][1]:g}); "
                             f"white level {res['white_level']:g} ({res['white_level_source']})")
        else:
            table.add_column("quantity")
            table.add_column("value", justify="right")
            for key, value in to_json_value(res).items():
                if isinstance(value, float):
                    value = f"{value:.6g}"
                table.add_row(key, str(value))
        console.print(table)


@click.command("inspect")
@click.argument("frame", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--histogram", "do_histogram", is_flag=True, help="Histogram and clipped pixels per channel.")
@click.option("--zebra", type=float, is_flag=False, flag_value=DEFAULT_THRESHOLD, default=None,
              metavar="FRACTION", help=f"Zebra stripes at or above FRACTION of the white level "
                                       f"(alone: {DEFAULT_THRESHOLD}).")
@click.option("--skin", type=float, is_flag=False, flag_value=DEFAULT_SKIN_BAND[0], default=None,
              metavar="CENTER", help=f"Zebra band around CENTER of the white level (alone: {DEFAULT_SKIN_BAND[0]}).")
@click.option("--skin-tolerance", type=float, default=DEFAULT_SKIN_BAND[1], show_default=True,
              help="Half width of the --skin band, fraction of the white level.")
@click.option("--stripe-width", type=float, default=8.0, show_default=True, help="Zebra stripe width, pixels.")
@click.option("--stripe-angle", type=float, default=45.0, show_default=True,
              help="Zebra stripe angle, degrees counter-clockwise from horizontal.")
@click.option("--zebra-measure", type=click.Choice(["luminance", "max"]), default="luminance", show_default=True,
              help="Compare luminance, or the largest colour channel.")
@click.option("--peaking", "do_peaking", is_flag=True, help="Focus peaking.")
@click.option("--sensitivity", type=float, default=0.5, show_default=True,
              help="Peaking sensitivity in [0, 1): higher marks more.")
@click.option("--thin", is_flag=True, help="Thin peaking to one-pixel lines.")
@click.option("--tool", "extra_tools", multiple=True, metavar="NAME",
              help="Also run this registered frame tool (repeatable; see --list-tools).")
@click.option("--list-tools", is_flag=True, help="List the registered frame tools and exit.")
@click.option("--bins", type=int, default=None, help="Histogram bins (default: one per code value).")
@click.option("--white-level", type=float, default=None, metavar="N",
              help="Full-scale value, e.g. 1023 for 10-bit data (default: from the file or the data type).")
@click.option("--black-level", type=float, default=None, metavar="N", help="Value of black (default 0).")
@click.option("--histogram-plot", type=click.Path(dir_okay=False, path_type=Path), default=None,
              metavar="PNG", help="Write the histogram as a PNG plot.")
@click.option("--log", "log_scale", is_flag=True, help="Logarithmic counts in the histogram plot.")
@click.option("--json", "as_json", is_flag=True, help="Print the numbers as JSON.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None, metavar="PNG",
              help="Write the frame with the zebra and peaking overlays (PNG, or any format the kit writes).")
@click.option("--overwrite", is_flag=True, help="Replace output files that exist.")
@click.option("--peaking-color", default="red", show_default=True, help="Peaking colour: a name or #rrggbb.")
@click.option("--zebra-color", default="magenta", show_default=True, help="Zebra colour: a name or #rrggbb.")
def inspect(frame: Path, do_histogram: bool, zebra: float | None, skin: float | None,
            skin_tolerance: float, stripe_width: float, stripe_angle: float, zebra_measure: str,
            do_peaking: bool, sensitivity: float, thin: bool, extra_tools: tuple[str, ...], list_tools: bool,
            bins: int | None, white_level: float | None, black_level: float | None,
            histogram_plot: Path | None, log_scale: bool, as_json: bool, output: Path | None,
            overwrite: bool, peaking_color: str, zebra_color: str) -> None:
    """Histogram, zebra stripes and focus peaking on FRAME (.npy, or any format the kit reads).

    With no tool option, runs the histogram, zebra (0.95) and peaking.

    \b
    Examples:
      mountkit inspect shot.tif --zebra 0.9 --peaking -o overlay.png
      mountkit inspect shot.npy --white-level 1023 --histogram --json
    """
    kit = _kit()
    try:
        tools = kit.frame_tools()
        if list_tools:
            for name, tool in tools.items():
                click.echo(f"{name}\t{tool.description}")
            return
        colors = {"zebra": parse_color(zebra_color), "peaking": parse_color(peaking_color)}
        wanted: dict[str, dict[str, Any]] = {}
        if do_histogram or histogram_plot is not None:
            wanted["histogram"] = {"bins": bins}
        if zebra is not None or skin is not None:
            wanted["zebra"] = {"threshold": zebra, "band": None if skin is None else (skin, skin_tolerance),
                               "width": stripe_width, "angle": stripe_angle, "measure": zebra_measure}
        if do_peaking:
            wanted["peaking"] = {"sensitivity": sensitivity, "thin": thin}
        for name in extra_tools:
            wanted.setdefault(name, {})
        if not wanted:
            wanted = {"histogram": {"bins": bins},
                      "zebra": {"threshold": DEFAULT_THRESHOLD, "width": stripe_width, "angle": stripe_angle,
                                "measure": zebra_measure},
                      "peaking": {"sensitivity": sensitivity, "thin": thin}}
        missing = [name for name in wanted if name not in tools]
        if missing:
            raise NotFoundError("frame tool", missing[0], list(tools))
        for out in (output, histogram_plot):
            if out is not None and out.exists() and not overwrite:
                raise MountkitError(f"{out}: already exists; pass --overwrite to replace it")

        from .frame_reading import read_frame

        data = read_frame(frame, kit)
        results: dict[str, dict[str, Any]] = {}
        for name, options in wanted.items():
            run = tools[name].run
            for key, value in (("white_level", white_level), ("black_level", black_level)):
                if value is not None and _accepts(run, key):
                    options[key] = value
            try:
                result = run(data, **options)
            except MountkitError:
                raise
            except Exception as exc:  # a plugin's tool may raise anything: name it
                raise MountkitError(f"frame tool {name!r} failed: {type(exc).__name__}: {exc}") from exc
            if not isinstance(result, dict):
                raise MountkitError(f"frame tool {name!r} returned {type(result).__name__}, not a dict")
            results[name] = result

        if histogram_plot is not None:
            from .histogram_plot import plot_histogram

            plot_histogram(Histogram.from_dict(results["histogram"]), histogram_plot, log=log_scale,
                           title=frame.name, overwrite=overwrite)
        if output is not None:
            layers = _layers(results, colors)
            _write_overlay(output, compose(data, layers, white_level=white_level, black_level=black_level), kit,
                           overwrite)
    except MountkitError as exc:
        raise click.ClickException(str(exc)) from exc

    pixels = data.data
    frame_info = {"path": str(frame), "shape": list(pixels.shape), "dtype": str(pixels.dtype)}
    if as_json:
        click.echo(json.dumps({"frame": frame_info, "tools": to_json_value(results)}))
    else:
        _print_table(frame_info, results)


def _layers(results: dict[str, dict[str, Any]], colors: dict[str, tuple[int, int, int]]):
    """Overlay layers in drawing order: zebra band, zebra, other tools, peaking on top."""
    layers = []
    palette = iter(PALETTE * 8)
    order = [n for n in ("zebra",) if n in results] + [n for n in results if n not in BUILTIN_ORDER] + \
        [n for n in ("peaking",) if n in results]
    for name in order:
        res = results[name]
        if name == "zebra" and res.get("band_overlay") is not None:
            layers.append((res["band_overlay"], COLORS["band"]))
        overlay = res.get("overlay")
        if overlay is None:
            continue
        color = colors.get(name)
        if color is None and np.asarray(overlay).ndim == 2:
            color = next(palette)
        layers.append((overlay, color))
    return layers
