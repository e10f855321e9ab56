"""Zebra stripes: diagonal stripes over pixels at or above a level, or inside a band.

Levels are fractions of the range from the black level to the white level:
``threshold`` 0.95 marks pixels whose value is ``>= black + 0.95 * (white -
black)``.  The value of a pixel is its luminance (the default, as cameras
do) or its largest channel (``measure="max"``, which warns of any channel
clipping).  A second, "skin" band marks values within ``center +/-
tolerance`` (inclusive), with stripes at the mirrored angle so the two are
told apart.

The stripe pattern (:func:`stripe_pattern`): with the angle ``a`` measured
counter-clockwise from the image's x axis as displayed (rows go down), a
pixel at (row ``r``, column ``c``) lies on a stripe when
``floor((c * sin a + r * cos a) / width)`` is even: stripes ``width`` pixels
wide, measured across the stripe, separated by gaps of the same width.
``a = 0`` gives horizontal stripes, 90 vertical ones, 45 stripes rising to
the right.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from ..errors import FrameError
from .levels import Pixels, as_pixels, at_or_above, at_or_below, fraction_level, luminance

#: Default threshold (fraction of the white level) and skin band (center, tolerance).
DEFAULT_THRESHOLD = 0.95
DEFAULT_SKIN_BAND = (0.70, 0.05)

MEASURES = ("luminance", "max")


@dataclass(frozen=True)
class Zebra:
    """Zebra masks and counts.

    Attributes
    ----------
    mask : ndarray of bool, (H, W)
        Striped pixels at or above the threshold (all False without a threshold).
    band_mask : ndarray of bool or None
        Striped pixels inside the band, when a band was asked for.
    above : int
        Pixels at or above the threshold (striped or not).
    in_band : int
        Pixels inside the band (0 without a band).
    threshold_value : float or None
        The threshold in the frame's units.
    band_values : (float, float) or None
        The band's limits in the frame's units.
    """

    mask: np.ndarray
    band_mask: np.ndarray | None
    above: int
    in_band: int
    threshold_value: float | None
    band_values: tuple[float, float] | None

    @property
    def marked(self) -> int:
        """Striped pixels at or above the threshold."""
        return int(np.count_nonzero(self.mask))

    @property
    def band_marked(self) -> int:
        """Striped pixels inside the band."""
        return 0 if self.band_mask is None else int(np.count_nonzero(self.band_mask))


def stripe_pattern(shape: tuple[int, int], *, width: float = 8.0, angle: float = 45.0) -> np.ndarray:
    """The zebra stripe pattern: True on stripes (see the module documentation).

    The result is read-only (copy it to modify it); the last few patterns up
    to :data:`CACHED_PATTERN_PIXELS` are cached, for video frames.

    Examples
    --------
    >>> stripe_pattern((4, 4), width=1, angle=0)[:, 0].tolist()
    [True, False, True, False]
    """
    h, w = int(shape[0]), int(shape[1])
    if h < 1 or w < 1:
        raise FrameError(f"stripe pattern shape {shape} must be positive")
    width, angle = float(width), float(angle)
    if not (math.isfinite(width) and width > 0):
        raise FrameError(f"stripe width must be a positive number of pixels, got {width}")
    if not math.isfinite(angle):
        raise FrameError(f"stripe angle must be finite, got {angle}")
    if h * w <= CACHED_PATTERN_PIXELS:
        return _cached_stripes(h, w, width, angle % 360.0)
    return _stripes(h, w, width, angle % 360.0)


#: Patterns up to this size (a 4K UHD frame) are cached, a few at a time.
CACHED_PATTERN_PIXELS = 3840 * 2160


def _stripes(h: int, w: int, width: float, angle: float) -> np.ndarray:
    a = math.radians(angle)
    # exact 0/1 at the axis angles, so 0 and 90 degrees give exact rows/columns
    s = 0.0 if angle in (0.0, 180.0) else (1.0 if angle == 90.0 else (-1.0 if angle == 270.0 else math.sin(a)))
    c = 0.0 if angle in (90.0, 270.0) else (1.0 if angle == 0.0 else (-1.0 if angle == 180.0 else math.cos(a)))
    cols = np.arange(w, dtype=np.float64) * (s / width) + 1e-9  # keeps whole multiples on the stripe side
    rows = np.arange(h, dtype=np.float64) * (c / width)
    out = np.empty((h, w), bool)
    step = max(1, (1 << 20) // w)  # rows per block, so large frames need no frame-sized float64 temporaries
    for r0 in range(0, h, step):
        u = np.floor(rows[r0:r0 + step, None] + cols[None, :])
        out[r0:r0 + step] = (u.astype(np.int64) & 1) == 0
    out.flags.writeable = False
    return out


@lru_cache(maxsize=4)
def _cached_stripes(h: int, w: int, width: float, angle: float) -> np.ndarray:
    return _stripes(h, w, width, angle)


def zebra_level(pixels: Pixels, measure: str = "luminance") -> np.ndarray:
    """The value zebras compare: luminance or the largest channel, (H, W), in the frame's units."""
    if measure not in MEASURES:
        raise FrameError(f"zebra measure must be one of {', '.join(MEASURES)}, got {measure!r}")
    data = pixels.data
    if data.ndim == 2:
        return data
    if measure == "luminance":
        return luminance(pixels)
    return np.maximum(np.maximum(data[..., 0], data[..., 1]), data[..., 2])


def zebra(frame: Any, threshold: float | None = DEFAULT_THRESHOLD, *,
          band: tuple[float, float] | None = None, width: float = 8.0, angle: float = 45.0,
          measure: str = "luminance", white_level: float | None = None,
          black_level: float | None = None) -> Zebra:
    """Zebra stripes over pixels at or above ``threshold`` and, optionally, inside a band.

    Parameters
    ----------
    frame : ndarray or Frame
        8-bit, 10/12/14/16-bit in uint16, or floating-point pixels.
    threshold : float or None
        Fraction of the white level (0.95 by default); None for no threshold zebra.
    band : (center, tolerance), optional
        A second zebra over values within ``center +/- tolerance`` (fractions of
        the white level), e.g. :data:`DEFAULT_SKIN_BAND`, striped at ``-angle``.
    width : float
        Stripe width in pixels, measured across the stripes.
    angle : float
        Stripe angle in degrees, counter-clockwise from horizontal.
    measure : {"luminance", "max"}
        Compare luminance, or the largest of the colour channels.
    white_level, black_level : float, optional
        See :func:`mountkit.tools.levels.as_pixels`.

    Returns
    -------
    Zebra

    Examples
    --------
    >>> frame = np.zeros((4, 4), np.uint8); frame[:, 2:] = 250
    >>> zebra(frame, 0.95, width=1, angle=90).mask.astype(int).tolist()[0]
    [0, 0, 1, 0]
    """
    px = as_pixels(frame, white_level=white_level, black_level=black_level)
    level = zebra_level(px, measure)
    pattern = stripe_pattern(px.shape, width=width, angle=angle)
    threshold_value = band_values = None
    above = in_band = 0
    if threshold is None:
        mask = np.zeros(px.shape, bool)
    else:
        threshold_value = fraction_level(px, _fraction(threshold, "threshold"))
        hit = at_or_above(level, threshold_value)
        above = int(np.count_nonzero(hit))
        mask = np.logical_and(hit, pattern, out=hit)
    band_mask = None
    if band is not None:
        try:
            center, tolerance = (float(v) for v in band)
        except (TypeError, ValueError):
            raise FrameError(f"zebra band must be (center, tolerance), got {band!r}") from None
        _fraction(center, "band center")
        if not (math.isfinite(tolerance) and tolerance >= 0):
            raise FrameError(f"zebra band tolerance must be >= 0, got {tolerance}")
        band_values = (fraction_level(px, center - tolerance), fraction_level(px, center + tolerance))
        inside = at_or_above(level, band_values[0])
        inside &= at_or_below(level, band_values[1])
        in_band = int(np.count_nonzero(inside))
        band_mask = np.logical_and(inside, stripe_pattern(px.shape, width=width, angle=-angle), out=inside)
    return Zebra(mask, band_mask, above, in_band, threshold_value, band_values)


def _fraction(value: float, what: str) -> float:
    value = float(value)
    if not math.isfinite(value):
        raise FrameError(f"zebra {what} must be a finite fraction of the white level, got {value}")
    return value
