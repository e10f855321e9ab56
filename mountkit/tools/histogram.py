"""Histograms of a frame per channel and of its luminance, with clipped-pixel counts.

Binning (exactly ``np.histogram``'s, so results can be checked against it):

* integer data with white level ``W``: the histogram covers ``[0, W + 1)``;
  with the default ``bins = W + 1`` (1024 for 10-bit data) bin ``i`` holds
  code value ``i``, i.e. ``np.bincount``.  Values above ``W`` count in the
  last bin, negative values in the first.
* floating-point data: ``bins`` (default 1024) equal bins over ``[0, W]``,
  the last one closed; values outside are counted in the end bins and NaNs
  are left out.

Luminance (:func:`mountkit.tools.levels.luminance`) of integer RGB data is
rounded to the nearest code value (halves up) before binning.

Clipping: a value is clipped low when ``<= black_level`` and clipped high
when ``>= white_level`` (for integer luminance: its rounded code value).
Percentages are ``100 * count / n`` with ``n`` the channel's non-NaN values.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import FrameError
from .levels import Pixels, as_pixels, at_or_above, at_or_below, luminance

#: Default number of bins for floating-point frames.
FLOAT_BINS = 1024


@dataclass(frozen=True)
class ChannelHistogram:
    """The histogram of one channel (or of luminance) and its clipping.

    Attributes
    ----------
    counts : ndarray of int64, shape (bins,)
    clipped_low, clipped_high : int
        Values ``<= black_level`` and ``>= white_level``.
    total : int
        Values counted (pixels, less NaNs).
    """

    counts: np.ndarray
    clipped_low: int
    clipped_high: int
    total: int

    @property
    def clipped_low_percent(self) -> float:
        return 100.0 * self.clipped_low / self.total if self.total else 0.0

    @property
    def clipped_high_percent(self) -> float:
        return 100.0 * self.clipped_high / self.total if self.total else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "counts": self.counts.tolist(),
            "clipped_low": self.clipped_low,
            "clipped_high": self.clipped_high,
            "clipped_low_percent": self.clipped_low_percent,
            "clipped_high_percent": self.clipped_high_percent,
            "total": self.total,
        }


@dataclass(frozen=True)
class Histogram:
    """Histograms of every channel and of luminance.

    Attributes
    ----------
    edges : ndarray of float64, shape (bins + 1,)
        Bin edges, as ``np.histogram`` returns them.
    channels : dict of str to ChannelHistogram
        ``"R"``, ``"G"``, ``"B"`` and ``"Y"`` (luminance) for colour frames;
        ``"Y"`` alone for one-channel frames.
    white_level, black_level : float
    white_level_source : str
        Where the white level came from (see :class:`mountkit.tools.levels.Pixels`).
    """

    edges: np.ndarray
    channels: dict[str, ChannelHistogram]
    white_level: float
    black_level: float
    white_level_source: str

    @property
    def bins(self) -> int:
        return len(self.edges) - 1

    def as_dict(self) -> dict[str, Any]:
        """Plain numbers for JSON: bins, levels, and per channel counts and clipping."""
        return {
            "bins": self.bins,
            "range": [float(self.edges[0]), float(self.edges[-1])],
            "white_level": self.white_level,
            "black_level": self.black_level,
            "white_level_source": self.white_level_source,
            "channels": {name: ch.as_dict() for name, ch in self.channels.items()},
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Histogram:
        """The histogram back from :meth:`as_dict` (the histogram tool's numbers)."""
        try:
            lo, hi = d["range"]
            edges = np.linspace(float(lo), float(hi), int(d["bins"]) + 1)
            channels = {
                name: ChannelHistogram(np.asarray(c["counts"], np.int64), int(c["clipped_low"]),
                                       int(c["clipped_high"]), int(c["total"]))
                for name, c in d["channels"].items()
            }
            return cls(edges, channels, float(d["white_level"]), float(d["black_level"]),
                       str(d.get("white_level_source", "given")))
        except (KeyError, TypeError, ValueError) as exc:
            raise FrameError(f"not a histogram's numbers: {type(exc).__name__}: {exc}") from None


def histogram(frame: Any, *, bins: int | None = None, white_level: float | None = None,
              black_level: float | None = None) -> Histogram:
    """Histogram of each channel and of luminance, with clipped-pixel counts.

    Parameters
    ----------
    frame : ndarray or Frame
        (H, W) or (H, W, 3/4) integer or floating-point pixels.
    bins : int, optional
        Number of bins; default one per code value (``white_level + 1``) for
        integer data, 1024 for floating point.
    white_level, black_level : float, optional
        See :func:`mountkit.tools.levels.as_pixels`.

    Returns
    -------
    Histogram

    Examples
    --------
    >>> frame = np.array([[0, 5], [1023, 1023]], dtype=np.uint16)
    >>> h = histogram(frame)
    >>> h.bins, int(h.channels["Y"].counts[1023]), h.channels["Y"].clipped_high_percent
    (1024, 2, 50.0)
    """
    px = as_pixels(frame, white_level=white_level, black_level=black_level)
    if px.is_integer:
        native = int(px.white_level) + 1
        bins = native if bins is None else bins
        lo, hi = 0.0, float(native)
    else:
        bins = FLOAT_BINS if bins is None else bins
        lo, hi = 0.0, px.white_level
    if isinstance(bins, bool) or not isinstance(bins, (int, np.integer)) or bins < 1:
        raise FrameError(f"bins must be a positive integer, got {bins!r}")
    bins = int(bins)
    edges = np.linspace(lo, hi, bins + 1)
    channels: dict[str, ChannelHistogram] = {}
    if px.data.ndim == 3:
        for i, name in enumerate(px.channels):
            channels[name] = _channel(px.channel(i), px, edges)
        y = luminance(px)
        if px.is_integer:
            y = luminance_codes(y, int(px.white_level))
        channels["Y"] = _channel(y, px, edges)
    else:
        channels["Y"] = _channel(px.data, px, edges)
    return Histogram(edges, channels, px.white_level, px.black_level, px.white_level_source)


def _channel(values: np.ndarray, px: Pixels, edges: np.ndarray) -> ChannelHistogram:
    values = values.ravel()
    if values.dtype.kind in "ui":
        codes = code_counts(values, int(px.white_level))
        counts = _regroup(codes, edges)
        black = int(np.floor(px.black_level))
        low = int(codes[: black + 1].sum()) if black >= 0 else 0
        return ChannelHistogram(counts, low, int(codes[-1]), int(values.size))
    nan = np.isnan(values)
    if nan.any():
        values = values[~nan]
    counts = float_counts(values, edges)
    low = int(np.count_nonzero(at_or_below(values, px.black_level)))
    high = int(np.count_nonzero(at_or_above(values, px.white_level)))
    return ChannelHistogram(counts, low, high, int(values.size))


def luminance_codes(y: np.ndarray, white_level: int) -> np.ndarray:
    """Luminance rounded to integer code values: ``floor(y + 0.5)`` within ``[0, white_level]``.

    ``y`` (float32, as :func:`mountkit.tools.levels.luminance` returns it) is
    overwritten.

    Examples
    --------
    >>> luminance_codes(np.array([0.49, 0.5, 1022.7, 1030.0], np.float32), 1023).tolist()
    [0, 1, 1023, 1023]
    """
    y += np.float32(0.5)
    np.clip(y, 0, white_level, out=y)
    return y.astype(np.uint16 if white_level <= np.iinfo(np.uint16).max else np.int64)


def code_counts(values: np.ndarray, white_level: int) -> np.ndarray:
    """Occurrences of each code value ``0..white_level`` in integer ``values``.

    Values above the white level are counted at the white level, negative
    values at 0.  Equals ``np.bincount(np.clip(values, 0, white_level))``.
    """
    if values.dtype in (np.uint8, np.uint16):
        counts = np.bincount(values, minlength=white_level + 1)
    else:
        counts = np.bincount(np.clip(values, 0, white_level).astype(np.intp, copy=False),
                             minlength=white_level + 1)
    if counts.size > white_level + 1:
        counts[white_level] += counts[white_level + 1:].sum()
        counts = counts[: white_level + 1]
    return counts.astype(np.int64, copy=False)


def _regroup(codes: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Per-code counts regrouped into ``np.histogram`` bins with these edges."""
    bins = len(edges) - 1
    if bins == codes.size and edges[0] == 0 and edges[-1] == codes.size:
        return codes
    values = np.arange(codes.size, dtype=np.float64)
    idx = np.clip(np.searchsorted(edges, values, side="right") - 1, 0, bins - 1)
    return np.bincount(idx, weights=codes, minlength=bins).astype(np.int64)


def float_counts(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """``np.histogram(np.clip(values.astype(float64), lo, hi), edges)[0]`` for equal bins, faster.

    ``values`` must hold no NaN; values outside the edges count in the end
    bins.  The first guess of each bin index is
    corrected against the edges, as numpy does, so the counts are identical.
    """
    bins = len(edges) - 1
    lo, hi = float(edges[0]), float(edges[-1])  # Python floats keep float32 data in float32
    x = np.clip(values, lo, hi)
    scale = bins / (hi - lo)
    idx = ((x - lo) * scale).astype(np.intp)
    np.clip(idx, 0, bins - 1, out=idx)
    idx[x < edges[idx]] -= 1
    inc = (x >= edges[idx + 1]) & (idx != bins - 1)
    idx[inc] += 1
    return np.bincount(idx, minlength=bins).astype(np.int64)
