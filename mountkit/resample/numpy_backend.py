"""The built-in resampling backend, in plain numpy.

Exactly what it computes, so that other backends (an OpenCV one, say) can
match it:

* A source position ``(x, y)`` (column, row; pixel centres at integers) is
  *inside* the frame when ``-0.5 <= x <= width - 0.5`` and
  ``-0.5 <= y <= height - 0.5`` (the area the pixels cover, see
  :func:`mountkit.geometry.inside_frame`).  Positions outside, and NaN, give
  ``fill``.  Taps of an inside position that fall off the frame take the
  nearest edge pixel (OpenCV's ``BORDER_REPLICATE``).
* The sub-pixel offset is used exactly (OpenCV's ``remap`` rounds it to
  1/32 px; a backend built on it differs by up to that quantisation).
  With ``ix = floor(x)``, ``t = x - ix`` (likewise for y), the value is
  ``sum_k sum_l wy_l(ty) wx_k(tx) frame[iy + l, ix + k]`` with the
  separable weights:

  ``nearest``
      the pixel at ``rint(x), rint(y)`` (round half to even, as OpenCV's
      ``saturate_cast<int>``).
  ``bilinear``
      taps k = 0, 1: ``w = (1 - t, t)``.
  ``bicubic``
      taps k = -1..2, Keys' cubic convolution with a = -0.75, OpenCV's
      ``interpolateCubic``::

          w_-1 = ((a (t+1) - 5a) (t+1) + 8a) (t+1) - 4a
          w_0  = ((a+2) t - (a+3)) t^2 + 1
          w_1  = ((a+2) (1-t) - (a+3)) (1-t)^2 + 1
          w_2  = 1 - w_-1 - w_0 - w_1
  ``lanczos3``
      taps k = -2..3, ``w_k = L(t - k)`` with the Lanczos kernel of order
      3, ``L(d) = sinc(d) sinc(d / 3)`` (``sinc(u) = sin(pi u) / (pi u)``,
      ``sinc(0) = 1``), normalised so the six weights sum to 1.  This is
      OpenCV's ``interpolateLanczos4`` definition (windowed sinc, weights
      normalised to sum 1) with a = 3 instead of 4, i.e. 6 taps instead of
      8; for ``t = 0`` the weights are exactly (0, 0, 1, 0, 0, 0).

* Arithmetic is float32 for the frame values and weights; positions are
  used in the precision they are given in (float32 or float64).
"""

from __future__ import annotations

import numpy as np

from ..errors import FrameError
from ..geometry import inside_frame
from ..hookspecs import hookimpl
from . import INTERPOLATIONS, Resampler

#: Tap offsets (relative to floor(x)) of each interpolation.
TAPS = {
    "nearest": (0,),
    "bilinear": (0, 1),
    "bicubic": (-1, 0, 1, 2),
    "lanczos3": (-2, -1, 0, 1, 2, 3),
}

#: Keys' parameter, as OpenCV's INTER_CUBIC.
CUBIC_A = -0.75


def kernel_weights(t: np.ndarray, interpolation: str) -> list[np.ndarray]:
    """The weights of the taps ``TAPS[interpolation]`` for fractional offsets ``t`` in [0, 1).

    >>> [float(w[0]) for w in kernel_weights(np.array([0.0], np.float32), "bicubic")]
    [0.0, 1.0, 0.0, 0.0]
    """
    t = np.asarray(t, dtype=np.float32)
    if interpolation == "nearest":
        return [np.ones_like(t)]
    if interpolation == "bilinear":
        return [1.0 - t, t]
    if interpolation == "bicubic":
        # OpenCV's interpolateCubic, written with fewer temporaries
        a = np.float32(CUBIC_A)
        t1 = t + np.float32(1.0)
        w0 = a * t1 - np.float32(5.0) * a
        w0 *= t1
        w0 += np.float32(8.0) * a
        w0 *= t1
        w0 -= np.float32(4.0) * a
        w1 = (a + np.float32(2.0)) * t - (a + np.float32(3.0))
        w1 *= t
        w1 *= t
        w1 += np.float32(1.0)
        u = np.float32(1.0) - t
        w2 = (a + np.float32(2.0)) * u - (a + np.float32(3.0))
        w2 *= u
        w2 *= u
        w2 += np.float32(1.0)
        w3 = np.float32(1.0) - w0
        w3 -= w1
        w3 -= w2
        return [w0, w1, w2, w3]
    if interpolation == "lanczos3":
        # L(t - k) = 3 sin(pi (t-k)) sin(pi (t-k) / 3) / (pi (t-k))^2, with sin(pi (t-k)) = (-1)^k sin(pi t)
        # and sin(pi (t-k)/3) by angle addition (OpenCV's trick for INTER_LANCZOS4), then normalised
        td = t.astype(np.float64)
        tiny = td < np.finfo(np.float32).eps
        safe = np.where(tiny, 0.5, td)
        s1 = np.sin(np.pi * safe)
        s3 = np.sin(np.pi / 3.0 * safe)
        c3 = np.cos(np.pi / 3.0 * safe)
        ws = []
        for k in TAPS["lanczos3"]:
            num = (-1.0) ** k * 3.0 * s1 * (s3 * np.cos(np.pi * k / 3.0) - c3 * np.sin(np.pi * k / 3.0))
            d = safe - k
            ws.append(num / (np.pi * np.pi * d * d))
        total = sum(ws)
        out = []
        for k, w in zip(TAPS["lanczos3"], ws, strict=True):
            w = w / total
            out.append(np.where(tiny, 1.0 if k == 0 else 0.0, w).astype(np.float32))
        return out
    raise ValueError(f"unknown interpolation {interpolation!r}; use one of {', '.join(INTERPOLATIONS)}")


def _clamp(a: np.ndarray, hi: int) -> np.ndarray:
    """Clamp integer indices to [0, hi] in place (edge replication)."""
    np.maximum(a, 0, out=a)
    np.minimum(a, hi, out=a)
    return a


def _sample(src: np.ndarray, mx: np.ndarray, my: np.ndarray, valid: np.ndarray, interpolation: str,
            fill: float, out: np.ndarray) -> None:
    """Write into ``out`` the frame ``src`` ((h, w) or (h, w, C)) sampled at (mx, my); ``fill`` where not ``valid``."""
    h, w = src.shape[:2]
    multi = src.ndim == 3
    ftype = mx.dtype if mx.dtype in (np.float32, np.float64) else np.float64
    x = np.where(valid, mx, 0).astype(ftype, copy=False)
    y = np.where(valid, my, 0).astype(ftype, copy=False)
    flat = src.reshape(h * w, -1) if multi else src.ravel()
    shape = mx.shape + src.shape[2:]
    if interpolation == "nearest":
        ix = _clamp(np.rint(x).astype(np.intp), w - 1)
        iy = _clamp(np.rint(y).astype(np.intp), h - 1)
        iy *= w
        iy += ix
        val = flat.take(iy, axis=0)
    else:
        fx = np.floor(x)
        fy = np.floor(y)
        wx = kernel_weights(x - fx, interpolation)
        wy = kernel_weights(y - fy, interpolation)
        if multi:
            wx = [v[..., None] for v in wx]
            wy = [v[..., None] for v in wy]
        ix = fx.astype(np.intp)
        iy = fy.astype(np.intp)
        taps = TAPS[interpolation]
        cols = [_clamp(ix + k, w - 1) for k in taps]
        val = np.zeros(shape, dtype=np.float32)
        acc = np.empty(shape, dtype=np.float32)
        tmp = np.empty(shape, dtype=np.float32)
        idx = np.empty(mx.shape, dtype=np.intp)
        for l_, wyl in zip(taps, wy, strict=True):
            row = _clamp(iy + l_, h - 1)
            row *= w
            acc.fill(0.0)
            for col, wxk in zip(cols, wx, strict=True):
                np.add(row, col, out=idx)
                flat.take(idx, axis=0, out=tmp)
                tmp *= wxk
                acc += tmp
            acc *= wyl
            val += acc
    if multi:
        valid = valid[..., None]
    np.copyto(out, np.where(valid, val, np.float32(fill)), casting="unsafe")


def remap(frame: np.ndarray, map_x: np.ndarray, map_y: np.ndarray, interpolation: str = "bicubic",
          fill: float = 0.0, out: np.ndarray | None = None) -> np.ndarray:
    """Sample a 2-D frame at source positions ``(map_x, map_y)``.

    Parameters
    ----------
    frame : ndarray (H, W)
        One channel, any real dtype.
    map_x, map_y : ndarray
        Source columns and rows (same shape), pixel centres at integers.
    interpolation : str
        ``nearest``, ``bilinear``, ``bicubic`` or ``lanczos3`` (see the module documentation).
    fill : float
        Value of positions outside the frame.
    out : ndarray, optional
        float32 array of the maps' shape to write into.

    Returns
    -------
    ndarray, float32, shape of the maps

    Examples
    --------
    >>> f = np.arange(12, dtype=np.float32).reshape(3, 4)
    >>> remap(f, np.array([1.5, 9.0]), np.array([1.0, 0.0]), "bilinear", fill=-1).tolist()
    [5.5, -1.0]
    """
    if interpolation not in TAPS:
        raise ValueError(f"unknown interpolation {interpolation!r}; use one of {', '.join(INTERPOLATIONS)}")
    src = np.asarray(frame)
    if src.ndim != 2 or src.size == 0:
        raise FrameError(f"remap needs a non-empty 2-D frame, got shape {src.shape}")
    src = src.astype(np.float32, copy=False)
    h, w = src.shape
    mx = np.asarray(map_x)
    my = np.asarray(map_y)
    if mx.shape != my.shape:
        raise FrameError(f"map_x and map_y differ in shape: {mx.shape} vs {my.shape}")
    if out is None:
        out = np.empty(mx.shape, dtype=np.float32)
    elif out.shape != mx.shape or out.dtype != np.float32:
        raise FrameError(f"out must be float32 of shape {mx.shape}, got {out.dtype} {out.shape}")
    _sample(src, mx, my, inside_frame(mx, my, w, h), interpolation, fill, out)
    return out


def remap_multi(frame: np.ndarray, map_x: np.ndarray, map_y: np.ndarray, interpolation: str = "bicubic",
                fill: float = 0.0, out: np.ndarray | None = None, valid=None) -> np.ndarray:
    """:func:`remap` for a frame of one or more channels, with an optional inside-frame test.

    ``frame`` is (h, w) or (h, w, C); the taps and weights are computed once
    for all channels.  ``valid`` may give the inside-frame test of the
    positions (True: all inside); it is computed when None.
    """
    if interpolation not in TAPS:
        raise ValueError(f"unknown interpolation {interpolation!r}; use one of {', '.join(INTERPOLATIONS)}")
    src = np.asarray(frame)
    if src.ndim not in (2, 3) or src.size == 0:
        raise FrameError(f"remap needs a non-empty (h, w) or (h, w, C) frame, got shape {src.shape}")
    mx = np.asarray(map_x)
    my = np.asarray(map_y)
    if mx.shape != my.shape:
        raise FrameError(f"map_x and map_y differ in shape: {mx.shape} vs {my.shape}")
    src = src.astype(np.float32, copy=False)
    h, w = src.shape[:2]
    shape = mx.shape + src.shape[2:]
    if out is None:
        out = np.empty(shape, dtype=np.float32)
    elif out.shape != shape or out.dtype != np.float32:
        raise FrameError(f"out must be float32 of shape {shape}, got {out.dtype} {out.shape}")
    if valid is None:
        valid = inside_frame(mx, my, w, h)
    elif valid is True:
        valid = np.ones(mx.shape, dtype=bool)
    _sample(src, mx, my, valid, interpolation, fill, out)
    return out


RESAMPLER = Resampler(
    name="numpy",
    remap=remap,
    remap_multi=remap_multi,
    priority=50,
    description="pure numpy: nearest, bilinear, bicubic (Keys a=-0.75, as OpenCV INTER_CUBIC), "
                "lanczos3 (6-tap windowed sinc, normalised)",
)


@hookimpl
def mountkit_register_resamplers(register):
    register(RESAMPLER)
