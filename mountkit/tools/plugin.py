"""Built-in plugin: the histogram, zebra and peaking frame tools and the ``mountkit inspect`` command.

Registered through the same hooks as third-party plugins
(``mountkit_register_frame_tools``, ``mountkit_register_commands``).  Each
tool's ``run(frame, **options)`` returns plain numbers (JSON-ready) and, for
the tools that draw, ``"overlay"`` (an (H, W) bool mask); the zebra adds
``"band_overlay"`` when a band is asked for.
"""

from __future__ import annotations

from typing import Any

from ..hookspecs import hookimpl
from . import FrameTool
from .histogram import histogram
from .peaking import DEFAULT_SENSITIVITY, peaking
from .zebra import DEFAULT_THRESHOLD, zebra


def run_histogram(frame: Any, *, bins: int | None = None, white_level: float | None = None,
                  black_level: float | None = None) -> dict[str, Any]:
    """Histogram tool: :meth:`mountkit.tools.histogram.Histogram.as_dict` of :func:`histogram`."""
    return histogram(frame, bins=bins, white_level=white_level, black_level=black_level).as_dict()


def run_zebra(frame: Any, *, threshold: float | None = DEFAULT_THRESHOLD, band: tuple[float, float] | None = None,
              width: float = 8.0, angle: float = 45.0, measure: str = "luminance",
              white_level: float | None = None, black_level: float | None = None) -> dict[str, Any]:
    """Zebra tool: masks and pixel counts of :func:`mountkit.tools.zebra.zebra`."""
    z = zebra(frame, threshold, band=band, width=width, angle=angle, measure=measure,
              white_level=white_level, black_level=black_level)
    pixels = int(z.mask.size)
    out: dict[str, Any] = {
        "overlay": z.mask,
        "pixels": pixels,
        "threshold": threshold,
        "threshold_value": z.threshold_value,
        "above_pixels": z.above,
        "above_percent": 100.0 * z.above / pixels,
        "zebra_pixels": z.marked,
        "measure": measure,
        "stripe_width": width,
        "stripe_angle": angle,
    }
    if band is not None:
        out.update({
            "band_overlay": z.band_mask,
            "band": [float(band[0]), float(band[1])],
            "band_values": list(z.band_values),
            "band_pixels": z.in_band,
            "band_percent": 100.0 * z.in_band / pixels,
            "band_zebra_pixels": z.band_marked,
        })
    return out


def run_peaking(frame: Any, *, sensitivity: float = DEFAULT_SENSITIVITY, thin: bool = False,
                white_level: float | None = None, black_level: float | None = None,
                workers: int | None = None) -> dict[str, Any]:
    """Peaking tool: mask and numbers of :func:`mountkit.tools.peaking.peaking`."""
    p = peaking(frame, sensitivity=sensitivity, thin=thin, white_level=white_level, black_level=black_level,
                workers=workers)
    pixels = int(p.mask.size)
    return {
        "overlay": p.mask,
        "pixels": pixels,
        "peaking_pixels": p.marked,
        "peaking_percent": 100.0 * p.marked / pixels,
        "threshold": p.threshold,
        "reference_contrast": p.reference,
        "noise_sigma": p.noise,
        "sensitivity": sensitivity,
        "thin": thin,
    }


TOOLS = (
    FrameTool("histogram", run_histogram,
              "Histogram per channel and of luminance, one bin per code value, with clipped-pixel counts"),
    FrameTool("zebra", run_zebra,
              "Diagonal stripes over pixels at or above a fraction of the white level, and an optional band"),
    FrameTool("peaking", run_peaking,
              "Focus peaking: pixels of high local contrast relative to the frame's own contrast"),
)


@hookimpl
def mountkit_register_frame_tools(register):
    for tool in TOOLS:
        register(tool)


@hookimpl
def mountkit_register_commands(cli):
    from .inspect_command import inspect

    cli.add_command(inspect)
