"""The OpenCV resampling backend (``cv2.remap``): the default when OpenCV is installed.

It computes what the numpy backend computes (:mod:`mountkit.resample.numpy_backend`
states the definition) with OpenCV's vectorised, multi-threaded ``remap``:

* ``nearest``, ``bilinear`` and ``bicubic`` are OpenCV's ``INTER_NEAREST``,
  ``INTER_LINEAR`` and ``INTER_CUBIC`` (Keys' cubic with a = -0.75, the
  numpy backend's definition).  OpenCV 5 samples at the exact float
  positions; OpenCV 4 rounded them to 1/32 px.  :func:`available` probes
  which one is installed and reports the backend unavailable (so it is not
  the default) when the positions are rounded; it can still be chosen by
  name, and then agrees with the numpy backend to that rounding.
* ``lanczos3`` has no OpenCV counterpart (OpenCV's Lanczos has 8 taps, a =
  4): the numpy backend's implementation is used, so the numbers are the
  same whichever backend is chosen.
* Taps that fall off the frame replicate the edge pixel (``BORDER_REPLICATE``);
  positions outside the frame (:func:`mountkit.geometry.inside_frame`) and
  NaN positions give ``fill``, decided here with the same test.
* Frames with a side longer than 32767 pixels (OpenCV's limit for remap)
  go to the numpy backend.

Both agree to float32 rounding (about 1e-6 of the values' range, checked in
``tests/test_performance_paths.py``).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from ..errors import FrameError
from ..geometry import inside_frame
from ..hookspecs import hookimpl
from . import INTERPOLATIONS, Resampler, numpy_backend

#: OpenCV's largest frame side for remap.
MAX_SIDE = 32767


def _cv2():
    try:
        import cv2
    except ImportError:
        return None
    return cv2


def _flags(cv2) -> dict[str, int]:
    return {"nearest": cv2.INTER_NEAREST, "bilinear": cv2.INTER_LINEAR, "bicubic": cv2.INTER_CUBIC}


@lru_cache(maxsize=1)
def exact_positions() -> bool:
    """True when the installed OpenCV samples at exact sub-pixel positions (OpenCV 5; False for 4 or none)."""
    cv2 = _cv2()
    if cv2 is None:
        return False
    ramp = np.arange(64, dtype=np.float32).reshape(8, 8) * np.float32(0.25)
    x = np.array([[2.51, 3.77]], np.float32)
    y = np.array([[4.26, 1.03]], np.float32)
    try:
        for name, flag in (("bilinear", cv2.INTER_LINEAR), ("bicubic", cv2.INTER_CUBIC)):
            got = cv2.remap(ramp, x, y, flag, borderMode=cv2.BORDER_REPLICATE)
            want = numpy_backend.remap(ramp, x, y, name)
            if not np.allclose(got, want, rtol=0, atol=1e-4):
                return False
    except Exception:  # an OpenCV build without remap, or a broken one
        return False
    return True


def available() -> bool:
    """OpenCV is importable and samples at exact positions."""
    return exact_positions()


def _check(frame: np.ndarray, shape: tuple[int, ...], out: np.ndarray | None, interpolation: str) -> np.ndarray:
    if interpolation not in INTERPOLATIONS:
        raise ValueError(f"unknown interpolation {interpolation!r}; use one of {', '.join(INTERPOLATIONS)}")
    if out is None:
        out = np.empty(shape, dtype=np.float32)
    elif out.shape != shape or out.dtype != np.float32:
        raise FrameError(f"out must be float32 of shape {shape}, got {out.dtype} {out.shape}")
    return out


def _fill(out: np.ndarray, valid, mx, my, w: int, h: int, fill: float) -> None:
    """Write ``fill`` where the position is outside the frame (``valid`` False; computed when None)."""
    if valid is True:
        return
    if valid is None:
        valid = inside_frame(mx, my, w, h)
    if out.ndim == 3:
        valid = valid[..., None]
    np.copyto(out, np.float32(fill), where=~valid)


def remap(frame: np.ndarray, map_x: np.ndarray, map_y: np.ndarray, interpolation: str = "bicubic",
          fill: float = 0.0, out: np.ndarray | None = None) -> np.ndarray:
    """Sample a 2-D frame at ``(map_x, map_y)`` with ``cv2.remap`` (the numpy backend's contract).

    Examples
    --------
    >>> f = np.arange(12, dtype=np.float32).reshape(3, 4)
    >>> remap(f, np.array([1.5, 9.0]), np.array([1.0, 0.0]), "bilinear", fill=-1).tolist()
    [5.5, -1.0]
    """
    cv2 = _cv2()
    src = np.asarray(frame)
    if src.ndim != 2 or src.size == 0:
        raise FrameError(f"remap needs a non-empty 2-D frame, got shape {src.shape}")
    mx = np.asarray(map_x)
    my = np.asarray(map_y)
    if mx.shape != my.shape:
        raise FrameError(f"map_x and map_y differ in shape: {mx.shape} vs {my.shape}")
    h, w = src.shape
    if cv2 is None or interpolation == "lanczos3" or max(h, w) > MAX_SIDE or mx.ndim > 2:
        return numpy_backend.remap(src, mx, my, interpolation, fill, out)
    out = _check(src, mx.shape, out, interpolation)
    if mx.size == 0:
        return out
    shape2 = mx.shape if mx.ndim == 2 else (1, mx.size)
    x32 = np.ascontiguousarray(mx, dtype=np.float32).reshape(shape2)
    y32 = np.ascontiguousarray(my, dtype=np.float32).reshape(shape2)
    src32 = np.ascontiguousarray(src, dtype=np.float32)
    res = cv2.remap(src32, x32, y32, _flags(cv2)[interpolation], borderMode=cv2.BORDER_REPLICATE)
    out[...] = res.reshape(mx.shape)
    _fill(out, None, mx, my, w, h, fill)
    return out


def remap_multi(frame: np.ndarray, map_x: np.ndarray, map_y: np.ndarray, interpolation: str = "bicubic",
                fill: float = 0.0, out: np.ndarray | None = None, valid=None) -> np.ndarray:
    """Sample a frame of one or more channels at the float32 positions ``(map_x, map_y)`` with ``cv2.remap``.

    Parameters
    ----------
    frame : ndarray (h, w) or (h, w, C), float32
    map_x, map_y : ndarray (H, W) float32
        Source column and row of every output pixel (rows may be strided).
    interpolation : str
    fill : float
    out : ndarray (H, W) or (H, W, C) float32, optional
    valid : ndarray (H, W) bool, True or None
        Which positions lie inside the frame (:func:`~mountkit.geometry.inside_frame`),
        True when the caller knows they all do (nothing is filled); computed when None.
    """
    cv2 = _cv2()
    src = np.asarray(frame)
    if src.ndim not in (2, 3) or src.size == 0:
        raise FrameError(f"remap needs a non-empty (h, w) or (h, w, C) frame, got shape {src.shape}")
    mx = np.asarray(map_x)
    my = np.asarray(map_y)
    if mx.shape != my.shape or mx.ndim != 2:
        raise FrameError(f"map_x and map_y must be 2-D of one shape, got {mx.shape} and {my.shape}")
    h, w = src.shape[:2]
    shape = mx.shape + src.shape[2:]
    if cv2 is None or interpolation == "lanczos3" or max(h, w) > MAX_SIDE or (src.ndim == 3 and src.shape[2] > 4):
        return numpy_backend.remap_multi(src, mx, my, interpolation, fill, out, valid)
    out = _check(src, shape, out, interpolation)
    x32 = mx if mx.dtype == np.float32 else mx.astype(np.float32)
    y32 = my if my.dtype == np.float32 else my.astype(np.float32)
    src32 = src if src.dtype == np.float32 else src.astype(np.float32)
    res = cv2.remap(src32, x32, y32, _flags(cv2)[interpolation], dst=out if out.flags.c_contiguous else None,
                    borderMode=cv2.BORDER_REPLICATE)
    if res is not out:
        out[...] = res.reshape(shape)
    _fill(out, valid, mx, my, w, h, fill)
    return out


RESAMPLER = Resampler(
    name="opencv",
    remap=remap,
    priority=40,
    available=available,
    description="OpenCV remap (exact positions from OpenCV 5): nearest, bilinear, bicubic (Keys a=-0.75); "
                "lanczos3 through the numpy backend",
    remap_multi=remap_multi,
)


@hookimpl
def mountkit_register_resamplers(register):
    register(RESAMPLER)
