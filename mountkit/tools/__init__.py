"""Frame tools for shooting assistance: histogram, zebra stripes, focus peaking.

The Python API (functions over numpy arrays or :class:`mountkit.io.Frame`):

* :func:`histogram` -> :class:`Histogram` (per channel and luminance counts,
  clipping); :func:`plot_histogram` writes it as a PNG (matplotlib);
* :func:`zebra` -> :class:`Zebra` (stripe masks above a threshold and in a
  band); :func:`stripe_pattern`;
* :func:`peaking` -> :class:`Peaking` (focus-peaking mask);
  :func:`focus_contrast` (the contrast map it thresholds);
* :func:`compose` draws masks over a preview of the frame.

The same tools are registered as :class:`FrameTool` objects on the
``mountkit_register_frame_tools`` hook (``kit.frame_tools()``), where other
plugins add theirs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class FrameTool:
    """A frame tool, registered on ``mountkit_register_frame_tools``.

    ``run(frame, **options)`` returns a dict of numbers and, for tools that
    draw, an ``"overlay"`` entry (an (H, W) bool mask or (H, W, 4) RGBA array).
    """

    name: str
    run: Callable
    description: str = ""


from .histogram import ChannelHistogram, Histogram, histogram  # noqa: E402
from .levels import as_pixels, luminance  # noqa: E402
from .overlay import compose  # noqa: E402
from .peaking import Peaking, focus_contrast, peaking  # noqa: E402
from .zebra import Zebra, stripe_pattern, zebra  # noqa: E402


def plot_histogram(hist, path, **options):
    """Write a :class:`Histogram` as a PNG plot (see :func:`mountkit.tools.histogram_plot.plot_histogram`)."""
    from .histogram_plot import plot_histogram as _plot

    return _plot(hist, path, **options)


__all__ = [
    "ChannelHistogram",
    "FrameTool",
    "Histogram",
    "Peaking",
    "Zebra",
    "as_pixels",
    "compose",
    "focus_contrast",
    "histogram",
    "luminance",
    "peaking",
    "plot_histogram",
    "stripe_pattern",
    "zebra",
]
