"""Frames as the calibration fitters want them: grey or per-channel float planes, block-averaged copies.

Pure functions over numpy arrays; reading files goes through :mod:`mountkit.io`.
"""

from __future__ import annotations

import numpy as np

from ..errors import FrameError


def as_planes(data: np.ndarray, *, what: str = "frame") -> np.ndarray:
    """A frame as (H, W, C) without copying: C is 1 for grey frames, 3 for RGB (an alpha channel is dropped)."""
    data = np.asarray(data)
    if data.ndim == 2:
        return data[:, :, None]
    if data.ndim == 3 and data.shape[2] in (1, 3):
        return data
    if data.ndim == 3 and data.shape[2] in (2, 4):
        return data[:, :, :-1]
    raise FrameError(f"{what}: expected an (H, W) or (H, W, 3) image, got shape {data.shape}")


def grey(data: np.ndarray, *, what: str = "frame") -> np.ndarray:
    """The mean of the colour channels as float32 (H, W), in the data's own units."""
    planes = as_planes(data, what=what)
    if planes.dtype.kind not in "uif" or planes.dtype == np.bool_:
        raise FrameError(f"{what}: samples must be integers or floats, got {planes.dtype}")
    if planes.shape[2] == 1:
        return planes[:, :, 0].astype(np.float32)
    out = planes[:, :, 0].astype(np.float32)  # channel by channel: no float copy of the whole frame
    for c in range(1, planes.shape[2]):
        out += planes[:, :, c]
    out *= np.float32(1.0 / planes.shape[2])
    return out


def to_uint8(plane: np.ndarray) -> np.ndarray:
    """A float plane stretched to 0..255 between its 0.5th and 99.5th percentiles (for OpenCV's detectors)."""
    sample = plane[:: max(1, plane.shape[0] // 256), :: max(1, plane.shape[1] // 256)]
    lo, hi = np.percentile(sample, [0.5, 99.5])
    if not hi > lo:
        return np.zeros(plane.shape, dtype=np.uint8)
    out = (plane - lo) * (255.0 / (hi - lo))
    return np.clip(out, 0, 255).astype(np.uint8)


def block_mean(plane: np.ndarray, factor: int) -> np.ndarray:
    """Average ``factor`` x ``factor`` blocks of a 2-D plane (the ragged right/bottom edge is dropped).

    Block ``(j, i)`` is centred on pixel position ``(factor * i + (factor - 1) / 2, factor * j + (factor - 1) / 2)``.
    """
    if factor <= 1:
        return np.asarray(plane, dtype=np.float64)
    h, w = plane.shape[:2]
    hh, ww = h // factor, w // factor
    if hh == 0 or ww == 0:
        raise FrameError(f"frame of {w}x{h} pixels is smaller than one {factor}x{factor} block")
    view = np.asarray(plane[: hh * factor, : ww * factor], dtype=np.float64)
    return view.reshape(hh, factor, ww, factor, *plane.shape[2:]).mean(axis=(1, 3))


def block_centres(n: int, factor: int) -> np.ndarray:
    """Pixel positions of the centres of ``n`` blocks of ``factor`` pixels (see :func:`block_mean`)."""
    return factor * np.arange(n, dtype=np.float64) + (factor - 1) / 2.0
