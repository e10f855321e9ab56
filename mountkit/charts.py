"""Synthetic test charts, rendered analytically (no aliasing, any size).

A chart is a function of the pixel grid only, so it can be rendered at the
1-inch sensor's full 8192 x 6144 in a fraction of a second and used as ground
truth: simulate a lens on it (``Corrector(reverse=True)``), correct it, and
compare with the chart.
"""

from __future__ import annotations

import numpy as np


def _edge_coverage(coord: np.ndarray, period: float, offset: float) -> np.ndarray:
    """Fraction of each pixel (box filter, 1 px wide) lying in the 'even' stripes.

    Stripes are ``period`` wide and start at ``offset``; the pixel centred at
    ``coord`` covers [coord - 0.5, coord + 0.5].  Exact for a box filter:
    the integral of the stripe indicator over the pixel.
    """

    def cumulative(t):
        # integral of the even-stripe indicator from offset to t
        u = (t - offset) / period
        whole = np.floor(u / 2.0)
        frac = u - 2.0 * whole  # in [0, 2)
        return period * (whole + np.minimum(frac, 1.0))

    return cumulative(coord + 0.5) - cumulative(coord - 0.5)


def checkerboard(width: int, height: int, *, squares_high: int = 24, low: float = 0.1, high: float = 0.9,
                 dtype=np.float32) -> np.ndarray:
    """An anti-aliased checkerboard centred on the frame, (height, width) in [low, high].

    Parameters
    ----------
    width, height : int
        Frame size in pixels.
    squares_high : int
        Number of squares across the frame's height.
    low, high : float
        Values of the dark and light squares.

    Examples
    --------
    >>> c = checkerboard(64, 48, squares_high=4)
    >>> c.shape, float(c.min()), float(c.max())
    ((48, 64), 0.1, 0.9)
    """
    if width < 1 or height < 1:
        raise ValueError(f"chart size must be positive, got {width} x {height}")
    period = height / squares_high
    cx, cy = (width - 1) / 2.0, (height - 1) / 2.0
    # an edge passes through the centre in x and in y
    sx = _edge_coverage(np.arange(width, dtype=np.float64), period, cx).astype(np.float32)
    sy = _edge_coverage(np.arange(height, dtype=np.float64), period, cy).astype(np.float32)
    even = sy[:, None] * sx[None, :] + (1.0 - sy[:, None]) * (1.0 - sx[None, :])
    out = np.asarray(low + (high - low) * even, dtype=dtype)
    return out


def demo_chart(width: int, height: int, *, squares_high: int = 24, white: int | None = None) -> np.ndarray:
    """The demo chart: a checkerboard under slightly warm light.

    Returns (height, width, 3) linear light: float32 in [0, 1], or, with
    ``white``, uint16 values rounded to ``white`` times those (10-bit data:
    ``white=1023``).  The channels differ, so lateral chromatic aberration
    shows as coloured fringes on the edges.
    """
    grey = checkerboard(width, height, squares_high=squares_high)
    tint = (1.0, 0.92, 0.85)  # warm light
    rgb = np.empty((height, width, 3), dtype=np.float32 if white is None else np.uint16)
    plane = np.empty((height, width), dtype=np.float32)
    for c in range(3):
        if white is None:
            np.multiply(grey, tint[c], out=rgb[..., c])
        else:
            np.multiply(grey, np.float32(tint[c] * white), out=plane)
            np.rint(plane, out=plane)
            rgb[..., c] = plane
    return rgb
