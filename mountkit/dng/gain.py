"""The mathematics of the DNG gain opcodes: FixVignetteRadial and GainMap.

Conventions follow the Adobe DNG SDK 1.6:

* FixVignetteRadial (``dng_opcode_FixVignetteRadial::Prepare``): pixels are
  evaluated at their centres (column + 0.5, row + 0.5) in a frame whose
  bounds are ``[0, width] x [0, height]``; the optical centre is
  ``(cx * width, cy * height)``; m is the largest distance from the centre to
  a corner of the bounds; r^2 = d^2 / m^2, clamped to [0, 1]; the gain is
  ``1 + k0 r^2 + k1 r^4 + k2 r^6 + k3 r^8 + k4 r^10`` and multiplies the pixel.
* GainMap (``dng_gain_map_interpolator``): a pixel's map position is
  ``((row + 0.5) / height - origin_v) / spacing_v`` (likewise for columns)
  relative to the whole image, bilinear between map points, clamped to the
  edge values outside the map; image plane p uses map plane
  ``min(p, map_planes - 1)``.

Pixel coordinates here are mountkit's: pixel centres on integers.  All
functions are pure and vectorised.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from .opcodes import FixVignetteRadial, GainMap


def vignette_center_and_radius(center: Sequence[float], width: int, height: int) -> tuple[float, float, float]:
    """Optical centre (in mountkit pixel coordinates) and normalisation radius of FixVignetteRadial.

    >>> vignette_center_and_radius((0.5, 0.5), 4, 2)
    (1.5, 0.5, 2.23606797749979)
    """
    cx = float(center[0]) * width
    cy = float(center[1]) * height
    m = math.hypot(max(cx, width - cx), max(cy, height - cy))
    return cx - 0.5, cy - 0.5, m


def vignette_polynomial(r2: np.ndarray, k: Sequence[float]) -> np.ndarray:
    """``1 + k0 r^2 + k1 r^4 + ... + k4 r^10`` for r^2 clamped to [0, 1]."""
    x = np.clip(r2, 0.0, 1.0)
    acc = np.zeros_like(x, dtype=np.float64)
    for c in k[::-1]:
        acc = x * (c + acc)
    return 1.0 + acc


def vignette_gain(opcode: FixVignetteRadial, x: np.ndarray, y: np.ndarray, width: int, height: int) -> np.ndarray:
    """The gain FixVignetteRadial multiplies into the pixels at (x, y) of a ``width`` x ``height`` image."""
    cx, cy, m = vignette_center_and_radius(opcode.center, width, height)
    dx = (np.asarray(x, dtype=np.float64) - cx) / m
    dy = (np.asarray(y, dtype=np.float64) - cy) / m
    return vignette_polynomial(dx * dx + dy * dy, opcode.k)


def _axis_weights(index_f: np.ndarray, points: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Lower index, upper index and fraction for linear interpolation with edge clamping."""
    f = np.clip(index_f, 0.0, points - 1)
    i0 = np.minimum(np.floor(f).astype(np.intp), points - 1)
    i1 = np.minimum(i0 + 1, points - 1)
    return i0, i1, f - i0


def gain_map_values(opcode: GainMap, rows: np.ndarray, cols: np.ndarray, height: int, width: int,
                    plane: int = 0) -> np.ndarray:
    """Gains of a GainMap on the grid ``rows`` x ``cols`` (1-D arrays of pixel indices), shape (len(rows), len(cols)).

    ``height`` and ``width`` are those of the whole image the opcode applies
    to; ``plane`` is the image plane (it selects map plane
    ``min(plane, map_planes - 1)``).
    """
    pv, ph = opcode.points
    sv, sh = opcode.effective_spacing
    ov, oh = opcode.effective_origin
    g = opcode.gains[:, :, min(plane, opcode.map_planes - 1)].astype(np.float64)
    vi = ((np.asarray(rows, dtype=np.float64) + 0.5) / height - ov) / sv
    hj = ((np.asarray(cols, dtype=np.float64) + 0.5) / width - oh) / sh
    r0, r1, fr = _axis_weights(vi, pv)
    c0, c1, fc = _axis_weights(hj, ph)
    along_rows = g[r0, :] * (1.0 - fr)[:, None] + g[r1, :] * fr[:, None]
    return along_rows[:, c0] * (1.0 - fc)[None, :] + along_rows[:, c1] * fc[None, :]


def gain_map_area(opcode: GainMap, height: int, width: int) -> tuple[slice, slice]:
    """Row and column slices of the pixels a GainMap modifies (area clipped to the image)."""
    top, left = max(opcode.top, 0), max(opcode.left, 0)
    # keep the phase of the pitch when the area starts outside the image
    if top > opcode.top:
        top = opcode.top + -(-(top - opcode.top) // opcode.row_pitch) * opcode.row_pitch
    if left > opcode.left:
        left = opcode.left + -(-(left - opcode.left) // opcode.col_pitch) * opcode.col_pitch
    return (slice(top, min(opcode.bottom, height), opcode.row_pitch),
            slice(left, min(opcode.right, width), opcode.col_pitch))


def apply_gain_map(image: np.ndarray, opcode: GainMap, *, clip: float | None = None) -> np.ndarray:
    """Multiply a GainMap into a copy of ``image`` (H, W) or (H, W, planes), as float32.

    A 2-D image (a CFA mosaic) has one plane.  ``clip`` limits the result
    (the SDK clips to its white level, 1.0); None keeps values above it.
    """
    img = np.asarray(image)
    out = img.astype(np.float32, copy=True)
    planes = 1 if out.ndim == 2 else out.shape[2]
    h, w = out.shape[:2]
    rs, cs = gain_map_area(opcode, h, w)
    rows = np.arange(h)[rs]
    cols = np.arange(w)[cs]
    if rows.size == 0 or cols.size == 0:
        return out
    for p in range(opcode.plane, min(opcode.plane + opcode.planes, planes)):
        gains = gain_map_values(opcode, rows, cols, h, w, p).astype(np.float32)
        view = out[rs, cs] if out.ndim == 2 else out[rs, cs, p]
        view *= gains
        if clip is not None:
            np.minimum(view, clip, out=view)
    return out
