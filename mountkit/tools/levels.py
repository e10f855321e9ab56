"""Pixel levels shared by the frame tools: channels, white and black level, luminance.

Every frame tool accepts either a numpy array, (H, W) or (H, W, C) with C in
1, 3 or 4 (the fourth channel is alpha and is ignored), or a
:class:`mountkit.io.Frame` (anything with ``data``, ``white_level`` and
``black_level`` attributes).  Levels are in the frame's own units; the white
level is the value of full scale.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import FrameError

#: Rec. 709 / sRGB luminance weights of R, G, B (ITU-R BT.709-6, item 3.2).
LUMA_WEIGHTS = (0.2126, 0.7152, 0.0722)

#: Bit depths tried, in order, when the white level of unsigned 16-bit data is not given.
INFERRED_BIT_DEPTHS = (10, 12, 14, 16)


@dataclass(frozen=True)
class Pixels:
    """A frame's pixel array with the levels the tools work in.

    Attributes
    ----------
    data : ndarray
        (H, W) or (H, W, C) with C in 1, 3 (alpha already dropped).
    white_level : float
        Value of full scale.
    black_level : float
        Value of no light (0 unless the frame says otherwise).
    white_level_source : str
        ``"given"``, ``"frame"``, ``"dtype"`` or ``"inferred"`` (from the data maximum).
    channels : tuple of str
        Channel names: ``("Y",)`` for one channel, ``("R", "G", "B")`` for three.
    """

    data: np.ndarray
    white_level: float
    black_level: float
    white_level_source: str
    channels: tuple[str, ...]

    @property
    def is_integer(self) -> bool:
        return self.data.dtype.kind in "ui"

    @property
    def shape(self) -> tuple[int, int]:
        return self.data.shape[0], self.data.shape[1]

    def channel(self, i: int) -> np.ndarray:
        """Channel ``i`` as an (H, W) view."""
        return self.data if self.data.ndim == 2 else self.data[..., i]


def inferred_white_level(data: np.ndarray) -> float:
    """The white level of an integer array whose bit depth is not stated.

    ``uint8`` is 255.  Other integer types take the smallest of 10, 12, 14 and
    16 bits (then 2**b - 1 for larger b) whose full scale covers the data's
    maximum: 10-bit data stored in uint16 gives 1023.  Pass ``white_level``
    explicitly when the data does not reach its top bit depth.

    Examples
    --------
    >>> inferred_white_level(np.array([[0, 900]], dtype=np.uint16))
    1023.0
    """
    if data.dtype == np.uint8:
        return 255.0
    top = int(data.max()) if data.size else 0
    for bits in INFERRED_BIT_DEPTHS + tuple(range(17, 64)):
        if top <= (1 << bits) - 1:
            return float((1 << bits) - 1)
    raise FrameError(f"cannot infer a white level for maximum value {top}; pass white_level")


def pixel_array(frame: Any) -> np.ndarray:
    """The pixel array of a frame, checked, with a single or alpha channel dropped (a view, no copy).

    Raises
    ------
    FrameError
        Not an array or Frame, wrong shape, empty, or not an integer/float dtype.
    """
    data = frame if isinstance(frame, np.ndarray) else getattr(frame, "data", None)
    if not isinstance(data, np.ndarray):
        raise FrameError(f"expected a numpy array or a mountkit.io.Frame, got {type(frame).__name__}")
    if data.ndim == 3 and data.shape[2] in (1, 3, 4):
        data = data[..., 0] if data.shape[2] == 1 else data[..., :3]
    elif data.ndim != 2:
        raise FrameError(f"frame shape {data.shape} is not (H, W) or (H, W, C) with C in 1, 3, 4")
    if data.size == 0:
        raise FrameError(f"frame of shape {data.shape} is empty")
    if data.dtype.kind not in "uif":
        raise FrameError(f"frame dtype {data.dtype} is not an integer or floating-point type")
    return data


def as_pixels(frame: Any, *, white_level: float | None = None, black_level: float | None = None) -> Pixels:
    """Check a frame and resolve its levels.

    Parameters
    ----------
    frame : ndarray or Frame
        (H, W) or (H, W, C), C in 1, 3, 4; integer or floating point.
    white_level : float, optional
        Full-scale value.  Default: the frame's ``white_level``, else 255 for
        uint8, 1.0 for floating point, or inferred from the data maximum
        (:func:`inferred_white_level`) for other integer types.
    black_level : float, optional
        Default: the frame's ``black_level``, else 0.

    Returns
    -------
    Pixels

    Raises
    ------
    FrameError
        Wrong shape or dtype, an empty frame, or levels that are not finite or
        with white not above black.
    """
    data = pixel_array(frame)
    is_frame = not isinstance(frame, np.ndarray)
    if white_level is None:
        white_level = getattr(frame, "white_level", None) if is_frame else None
        source = "frame" if white_level is not None else None
    else:
        source = "given"
    if black_level is None:
        black_level = (getattr(frame, "black_level", None) if is_frame else None) or 0.0
    if white_level is None:
        if data.dtype.kind == "f":
            white_level, source = 1.0, "dtype"
        elif data.dtype == np.uint8:
            white_level, source = 255.0, "dtype"
        else:
            white_level, source = inferred_white_level(data), "inferred"
    white_level, black_level = float(white_level), float(black_level)
    if not (np.isfinite(white_level) and np.isfinite(black_level) and white_level > black_level):
        raise FrameError(f"white level {white_level} must be finite and above the black level {black_level}")
    if data.dtype.kind in "ui" and white_level != int(white_level):
        raise FrameError(f"white level {white_level} of integer data must be an integer (e.g. 1023 for 10 bits)")
    channels = ("Y",) if data.ndim == 2 else ("R", "G", "B")
    return Pixels(data, white_level, black_level, source, channels)


def luminance(frame: Any) -> np.ndarray:
    """Rec. 709 luminance of a frame, float32, in the frame's own units.

    One-channel frames are returned as float32 unchanged in value (a copy);
    for RGB the weights are :data:`LUMA_WEIGHTS`.

    Examples
    --------
    >>> luminance(np.full((1, 1, 3), 100, np.uint8))[0, 0]
    np.float32(100.0)
    """
    data = pixel_array(frame)
    if data.ndim == 2:
        return data.astype(np.float32)  # always a new array
    return data.astype(np.float32, copy=False) @ np.asarray(LUMA_WEIGHTS, np.float32)


def fraction_level(pixels: Pixels, fraction: float) -> float:
    """The value at ``fraction`` of the way from black to white: ``black + fraction * (white - black)``."""
    return pixels.black_level + fraction * (pixels.white_level - pixels.black_level)


def at_or_above(values: np.ndarray, limit: float) -> np.ndarray:
    """``values >= limit`` exactly as real numbers, without promoting ``values`` to float64.

    For integer arrays the limit is rounded up to an integer; for float32 it
    is moved up to the nearest float32 not below it.
    """
    return values >= _limit_in_dtype(values.dtype, limit, up=True)


def at_or_below(values: np.ndarray, limit: float) -> np.ndarray:
    """``values <= limit`` exactly as real numbers (see :func:`at_or_above`)."""
    return values <= _limit_in_dtype(values.dtype, limit, up=False)


def _limit_in_dtype(dtype: np.dtype, limit: float, *, up: bool):
    if dtype.kind in "ui":
        v = math.ceil(limit) if up else math.floor(limit)
        info = np.iinfo(dtype)
        # outside the type's range a float64 limit keeps the comparison exact (all or nothing)
        return dtype.type(v) if info.min <= v <= info.max else np.float64(v)
    f = dtype.type(limit)
    # compare as Python floats: a Python float against a float32 scalar would be cast to float32
    if up and float(f) < limit:
        f = np.nextafter(f, dtype.type(np.inf))
    elif not up and float(f) > limit:
        f = np.nextafter(f, dtype.type(-np.inf))
    return f
