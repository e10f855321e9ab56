"""Plot a :class:`mountkit.tools.histogram.Histogram` to a PNG file with matplotlib."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..io.atomic import atomic_output
from .histogram import Histogram

_LINE_COLORS = {"R": "#d62728", "G": "#2ca02c", "B": "#1f77b4", "Y": "#404040"}


def plot_histogram(hist: Histogram, path: str | os.PathLike, *, log: bool = False, title: str | None = None,
                   size: tuple[float, float] = (8.0, 4.0), dpi: int = 100, overwrite: bool = False) -> Path:
    """Write the histogram as a PNG plot: one line per channel, clipping in the legend.

    Parameters
    ----------
    hist : Histogram
    path : path-like
        Output file; written to a temporary file beside it, then renamed
        (:func:`mountkit.io.atomic.atomic_output`).
    log : bool
        Logarithmic count axis (empty bins are left out of the lines).
    title : str, optional
    size : (float, float)
        Figure size in inches.
    dpi : int
    overwrite : bool
        Replace ``path`` if it exists (otherwise a :class:`FrameError`).

    Returns
    -------
    Path
        ``path``.
    """
    from matplotlib.figure import Figure  # no pyplot: no global state, no GUI backend

    path = Path(path)
    fig = Figure(figsize=size, dpi=dpi)
    ax = fig.add_subplot()
    x = (hist.edges[:-1] + hist.edges[1:]) / 2.0
    for name, ch in hist.channels.items():
        counts = ch.counts.astype(np.float64)
        if log:
            counts[counts == 0] = np.nan
        label = (f"{name}: clipped {ch.clipped_low_percent:.2f}% low, "
                 f"{ch.clipped_high_percent:.2f}% high")
        ax.plot(x, counts, color=_LINE_COLORS.get(name, None), linewidth=0.8, label=label,
                drawstyle="steps-mid")
    if log:
        ax.set_yscale("log")
    ax.set_xlim(hist.edges[0], hist.edges[-1])
    ax.set_xlabel(f"value (white level {hist.white_level:g})")
    ax.set_ylabel("pixels" + (" (log)" if log else ""))
    ax.legend(fontsize="small", loc="upper center")
    if title:
        ax.set_title(title)
    fig.tight_layout()
    with atomic_output(path, overwrite=overwrite) as tmp:
        fig.savefig(tmp, format="png")
    return path
