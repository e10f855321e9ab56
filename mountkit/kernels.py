"""Compiled element-wise kernels of the correction engine (``_kernels.c``), with numpy doing the same without them.

The engine corrects a frame strip by strip (:mod:`mountkit.strips`); around
the resampling, each strip needs its maps interpolated from the coarse fields
(:mod:`mountkit.maps`), its source band converted to float32 planes times the
gain, and its results clipped, rounded and interleaved into the output.  In
numpy and OpenCV those are several passes over the strip each; the C kernels
do each in one: a warm 50-megapixel frame takes about a third less time
(``bench/README.md``).

The library is built when mountkit is installed (``setup.py``: an optional
extension, so without a C compiler the installation goes on and numpy does
the work).  It has no Python C API calls and is loaded with :mod:`ctypes`,
which releases the GIL during the calls, so strips run in parallel.
``MOUNTKIT_KERNELS=0`` turns it off; :func:`available` tells whether it is in use.

Every function here computes the same float32 numbers as its numpy
counterpart (``tests/test_kernels.py``).
"""

from __future__ import annotations

import ctypes
import importlib.machinery
import os
from functools import lru_cache
from pathlib import Path

import numpy as np

#: Environment variable that turns the compiled kernels off when set to 0 (or "no", "false", "off").
ENV_KERNELS = "MOUNTKIT_KERNELS"
#: The library's interface version (``mk_abi()``), checked when it is loaded.
ABI = 3

_DTYPES = {np.dtype(np.uint8): 0, np.dtype(np.uint16): 1, np.dtype(np.float32): 2}
#: dtypes of frames the band and store kernels take.
DTYPES = tuple(_DTYPES)

_P = ctypes.c_void_p
_I = ctypes.c_int


def library_path() -> Path | None:
    """The built library next to this module (``_kernels`` + an extension suffix), or None."""
    here = Path(__file__).resolve().parent
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        p = here / f"_kernels{suffix}"
        if p.is_file():
            return p
    return None


def disabled() -> bool:
    return os.environ.get(ENV_KERNELS, "").strip().lower() in ("0", "no", "false", "off")


@lru_cache(maxsize=1)
def _load():
    path = library_path()
    if path is None:
        return None
    try:
        lib = ctypes.CDLL(str(path))
        if lib.mk_abi() != ABI:
            return None
    except (OSError, AttributeError):
        return None
    lib.mk_field_rows.argtypes = [_P, _I, _I, _P, _P, _P, _I, _I, _I, _P, _P, ctypes.c_ssize_t]
    lib.mk_field_rows.restype = None
    lib.mk_band_planes.argtypes = [_P, _I, _I, _I, _I, _P, _P]
    lib.mk_band_planes.restype = _I
    lib.mk_store_planes.argtypes = [_P, _I, _I, _I, _P, _I, ctypes.c_float, ctypes.c_float]
    lib.mk_store_planes.restype = _I
    lib.mk_node_rows.argtypes = [_P, _I, _P, _P, _I, _P]
    lib.mk_node_rows.restype = None
    lib.mk_outside.argtypes = [_P, _P, ctypes.c_ssize_t, _I, _I, _I, ctypes.c_float, ctypes.c_float, ctypes.c_float,
                               _I, _P, _P, ctypes.c_int64]
    lib.mk_outside.restype = ctypes.c_int64
    return lib


#: Whether MOUNTKIT_KERNELS turned the kernels off, as last read by :func:`available` (the engine calls it once
#: per frame; the kernels themselves, called a few hundred times per frame, do not read the environment).
_OFF: list[bool] = []


def lib():
    """The loaded library, or None (not built, of another interface version, or turned off)."""
    if not _OFF:
        _OFF.append(disabled())
    return None if _OFF[0] else _load()


def available() -> bool:
    """True when the compiled kernels are built, load, and are not turned off by ``MOUNTKIT_KERNELS=0``
    (read now, and then used by the kernels until the next call)."""
    _OFF[:] = [disabled()]
    return lib() is not None


def describe() -> str:
    """One line for diagnostics: whether the kernels are in use, and why not."""
    if disabled():
        return f"off ({ENV_KERNELS}=0)"
    if library_path() is None:
        return "not built (no C compiler when mountkit was installed): numpy does their work"
    return "in use" if _load() is not None else f"unusable ({library_path()}): numpy does their work"


def _ptrs(arrays) -> ctypes.Array:
    arr = (ctypes.c_void_p * 4)()
    for k, a in enumerate(arrays):
        arr[k] = a.ctypes.data if a is not None else None
    return arr


# -- fields ------------------------------------------------------------------------------------------


@lru_cache(maxsize=32)
def column_runs(width: int, step: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For a node grid of ``step`` px on ``width`` columns: the weight (float32) of the right node at
    every column, as :func:`mountkit.maps.upsample_columns`, and the runs of columns between two node
    columns (the first column of each run and the end, int32; the node column left of each, int32).
    """
    from .maps import _column_weights

    i, t = _column_weights(width, step)
    starts = np.flatnonzero(np.r_[True, i[1:] != i[:-1]])
    out = (np.ascontiguousarray(t, dtype=np.float32), np.ascontiguousarray(np.r_[starts, width], dtype=np.int32),
           np.ascontiguousarray(i[starts], dtype=np.int32))
    for a in out:
        a.flags.writeable = False
    return out


def field_rows(rows: np.ndarray, width: int, step: int, a: int, b: int, out: np.ndarray,
               offset: np.ndarray | None = None) -> bool:
    """Rows ``[a, b)`` of a field at every pixel column, into ``out`` (C, b - a, >= width) float32.

    ``rows`` is the field's (height, C, nx) float32 C-contiguous array of values interpolated along y
    (``CoarseField._rows``); the result is ``v_k + (v_{k+1} - v_k) t - offset[c]`` in float32, as
    :func:`mountkit.maps.upsample_columns` followed by subtracting the offset.  Returns False (and
    leaves ``out`` alone) when the library is not in use or the arrays do not fit it.
    """
    lib_ = lib()
    if lib_ is None or rows.dtype != np.float32 or not rows.flags.c_contiguous or out.dtype != np.float32:
        return False
    n, comps = b - a, rows.shape[1]
    if out.ndim != 3 or out.shape[0] != comps or out.shape[1] != n or out.shape[2] < width \
            or out.strides[2] != 4 or out.strides[0] != out.strides[1] * n or out.strides[1] % 4:
        return False
    t, run_x, run_k = column_runs(width, step)
    off = None
    if offset is not None:
        off = np.ascontiguousarray(offset, dtype=np.float32).reshape(comps)
    lib_.mk_field_rows(rows.ctypes.data, comps, rows.shape[2], t.ctypes.data, run_x.ctypes.data,
                       run_k.ctypes.data, run_k.size, a, b, off.ctypes.data if off is not None else None,
                       out.ctypes.data, out.strides[1] // 4)
    return True


def node_rows(values: np.ndarray, i: np.ndarray, t: np.ndarray, out: np.ndarray) -> bool:
    """``out[y] = float32(values[i[y]] + (values[i[y] + 1] - values[i[y]]) * t[y])``, computed in float64.

    ``values`` (ny, ...) float64, ``out`` (len(i), ...) float32 with the same trailing size, both
    C-contiguous; ``i`` intp and ``t`` float64 per output row, ``0 <= i < ny - 1``.  Returns False
    (nothing done) when the library is not in use or the arrays do not fit it.
    """
    lib_ = lib()
    if lib_ is None or values.dtype != np.float64 or out.dtype != np.float32:
        return False
    if not (values.shape[0] and out.shape[0] == len(i) > 0 and values.flags.c_contiguous
            and out.flags.c_contiguous and out[0].size == values[0].size):
        return False
    m = values[0].size
    i64 = np.ascontiguousarray(i, dtype=np.int64)
    t64 = np.ascontiguousarray(t, dtype=np.float64)
    if i64.size and (i64.min() < 0 or i64.max() + 1 >= values.shape[0]):
        return False
    lib_.mk_node_rows(values.ctypes.data, m, i64.ctypes.data, t64.ctypes.data, len(i64), out.ctypes.data)
    return True


def outside(mx: np.ndarray, my: np.ndarray, c0: int, c1: int, xmax: float, ylo: float, yhi: float,
            row0: int = 0) -> tuple[np.ndarray, np.ndarray] | None:
    """(rows + row0, columns) of the positions in columns ``[c0, c1)`` of (rows, width) float32 maps
    that fall off ``-0.5 <= x <= xmax``, ``ylo <= y <= yhi`` (NaN too), as int32; None when the library
    is not in use or the maps do not fit it.
    """
    lib_ = lib()
    if lib_ is None or mx.dtype != np.float32 or my.dtype != np.float32 or mx.shape != my.shape \
            or mx.ndim != 2 or mx.strides != my.strides or mx.strides[1] != 4 or mx.strides[0] % 4:
        return None
    rows = mx.shape[0]
    args = (mx.ctypes.data, my.ctypes.data, mx.strides[0] // 4, rows, c0, c1, xmax, ylo, yhi, row0)
    # room for every position: one pass, and only the pages written are touched
    cap = max(1, rows * max(0, c1 - c0))
    ri = np.empty(cap, np.int32)
    ci = np.empty(cap, np.int32)
    n = lib_.mk_outside(*args, ri.ctypes.data, ci.ctypes.data, cap)
    return ri[:n].copy(), ci[:n].copy()


# -- bands and results ----------------------------------------------------------------------------------


def band_planes(band: np.ndarray, planes: list[np.ndarray], gains: list[np.ndarray | None]) -> bool:
    """``planes[c][...] = float32(band[..., c]) * gains[c]`` (no product where a gain is None).

    ``band`` is (rows, width, C) C-contiguous of a dtype in :data:`DTYPES`; planes and gains (rows, width)
    float32 C-contiguous, gains given for every channel or for none.  Returns False (nothing done) when
    the library is not in use or the arrays do not fit it.
    """
    lib_ = lib()
    if lib_ is None or band.ndim != 3 or band.dtype not in _DTYPES or not band.flags.c_contiguous:
        return False
    rows, width, nc = band.shape
    if not 1 <= nc <= 4 or len(planes) != nc or len(gains) != nc:
        return False
    if len({g is None for g in gains}) > 1:
        return False
    for p in (*planes, *(g for g in gains if g is not None)):
        if p.shape != (rows, width) or p.dtype != np.float32 or not p.flags.c_contiguous:
            return False
    return lib_.mk_band_planes(band.ctypes.data, _DTYPES[band.dtype], width, rows, nc, _ptrs(planes),
                               _ptrs(gains)) == 0


def store_planes(planes: list[np.ndarray], dst: np.ndarray, limits: tuple[float, float] | None) -> bool:
    """Interleave float32 planes into ``dst`` (rows, width, C), clipped to ``limits`` and rounded half to
    even for integer ``dst`` (as ``np.rint`` then ``np.clip``).

    Returns False (nothing done) when the library is not in use or the arrays do not fit it (integer
    ``dst`` needs whole-number limits within its dtype's range).
    """
    lib_ = lib()
    if lib_ is None or dst.ndim != 3 or dst.dtype not in _DTYPES or not dst.flags.c_contiguous:
        return False
    rows, width, nc = dst.shape
    if not 1 <= nc <= 4 or len(planes) != nc:
        return False
    for p in planes:
        if p.shape != (rows, width) or p.dtype != np.float32 or not p.flags.c_contiguous:
            return False
    if dst.dtype.kind == "u":
        if limits is None:
            return False
        lo, hi = limits
        info = np.iinfo(dst.dtype)
        if not (float(lo).is_integer() and float(hi).is_integer() and info.min <= lo <= hi <= info.max):
            return False
    elif limits is not None:
        return False
    lo, hi = limits if limits is not None else (0.0, 0.0)
    return lib_.mk_store_planes(_ptrs(planes), width, rows, nc, dst.ctypes.data, _DTYPES[dst.dtype],
                                float(lo), float(hi)) == 0


__all__ = ("available", "band_planes", "column_runs", "describe", "field_rows", "library_path", "node_rows",
           "outside", "store_planes")
