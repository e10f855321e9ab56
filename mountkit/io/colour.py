"""Transfer functions and sample scaling: sRGB encode/decode, integer <-> float.

Vignetting is a gain on light, so corrections run on values proportional to
light.  JPEG and PNG files (and most 8-bit TIFFs) store sRGB-encoded values;
these functions take them to linear light and back.  The sRGB curve is the
piecewise one of IEC 61966-2-1:1999 (linear segment below 0.04045 encoded /
0.0031308 linear, slope 12.92, exponent 2.4, offset 0.055).
"""

from __future__ import annotations

import numpy as np

from ..errors import FrameError

_A = 0.055
_GAMMA = 2.4
_SLOPE = 12.92
_ENC_KNEE = 0.04045
_LIN_KNEE = 0.0031308


def srgb_to_linear(encoded: np.ndarray) -> np.ndarray:
    """Decode sRGB values in [0, 1] to linear light in [0, 1] (float32).

    >>> float(srgb_to_linear(np.float32(0.5)))  # doctest: +ELLIPSIS
    0.2140...
    """
    x = np.asarray(encoded, dtype=np.float32)
    out = np.empty_like(x)
    low = x <= _ENC_KNEE
    out[low] = x[low] / _SLOPE
    hi = ~low
    out[hi] = ((np.maximum(x[hi], 0) + _A) / (1 + _A)) ** _GAMMA
    return out


def linear_to_srgb(linear: np.ndarray) -> np.ndarray:
    """Encode linear light in [0, 1] to sRGB values in [0, 1] (float32); the inverse of :func:`srgb_to_linear`."""
    y = np.asarray(linear, dtype=np.float32)
    out = np.empty_like(y)
    low = y <= _LIN_KNEE
    out[low] = y[low] * _SLOPE
    hi = ~low
    out[hi] = (1 + _A) * np.power(y[hi], 1 / _GAMMA) - _A
    return out


def to_unit_float(data: np.ndarray, white_level: float | None, black_level: float = 0.0) -> np.ndarray:
    """Samples as float32 with black at 0 and white at 1 (not clipped).

    Integer data needs ``white_level`` (the value of full scale); float data
    with ``white_level`` None is taken as already normalised.
    """
    x = np.asarray(data)
    if white_level is None:
        if np.issubdtype(x.dtype, np.integer):
            white_level = float(np.iinfo(x.dtype).max)
        else:
            white_level = 1.0
    span = float(white_level) - float(black_level)
    if not span > 0:
        raise FrameError(f"white level {white_level} must be above black level {black_level}")
    out = x.astype(np.float32)
    if black_level:
        out -= np.float32(black_level)
    if span != 1.0:
        out *= np.float32(1.0 / span)
    return out


def from_unit_float(x: np.ndarray, dtype: np.dtype | type) -> np.ndarray:
    """Unit-range float samples to ``dtype``: integers are clipped, scaled to full range and rounded.

    float32 output keeps values as they are (no clipping: over-range light is kept).
    """
    dtype = np.dtype(dtype)
    if dtype.kind == "f":
        return np.asarray(x, dtype=dtype)
    if dtype.kind not in "ui":
        raise FrameError(f"cannot store samples as {dtype}")
    top = np.float32(np.iinfo(dtype).max)
    # clip(x, 0, 1) * top + 0.5 as clip(x * top + 0.5, 0.5, top + 0.5): one new array, worked on in place
    # (fresh arrays of a 50-megapixel frame cost more in page faults than the arithmetic)
    y = np.multiply(x, top, dtype=np.float32)
    y += np.float32(0.5)
    np.clip(y, np.float32(0.5), top + np.float32(0.5), out=y)
    return y.astype(dtype)
