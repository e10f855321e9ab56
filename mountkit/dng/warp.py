"""The mathematics of the DNG warp opcodes: where each corrected pixel samples the source.

Conventions follow the Adobe DNG SDK 1.6 (``dng_filter_warp`` and the
``dng_warp_params_*`` classes in ``dng_lens_correction.cpp``):

* pixel (column i, row j) sits at coordinate (i, j) -- pixel centres on
  integers, as mountkit's resamplers expect;
* the optical centre is ``(cx * width, cy * height)`` in those coordinates;
* the normalisation radius m is the largest distance from the centre to a
  corner of the image bounds ``[0, width] x [0, height]``;
* with (dx, dy) = (pixel - centre) / m and r^2 = min(dx^2 + dy^2, 1), the
  source position is ``centre + m * (ratio(r^2) * (dx, dy) + tangential)``.

Square pixels are assumed (PixelAspectRatio 1).  All functions are pure and
vectorised: coordinates are numpy arrays of any (equal) shape, float64.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from .opcodes import Opcode, OpcodeError, WarpFisheye, WarpRectilinear, WarpRectilinear2

WARP_OPCODES = (WarpRectilinear, WarpFisheye, WarpRectilinear2)


def warp_center_and_radius(center: Sequence[float], width: int, height: int) -> tuple[float, float, float]:
    """Optical centre in pixel coordinates and the normalisation radius m, as the SDK's warp computes them.

    >>> warp_center_and_radius((0.5, 0.5), 4, 2)
    (2.0, 1.0, 2.23606797749979)
    """
    cx = float(center[0]) * width
    cy = float(center[1]) * height
    m = math.hypot(max(cx, width - cx), max(cy, height - cy))
    return cx, cy, m


def rectilinear_ratio(r2: np.ndarray, kr: Sequence[float]) -> np.ndarray:
    """WarpRectilinear radial ratio ``kr0 + kr1 r^2 + kr2 r^4 + kr3 r^6``."""
    k0, k1, k2, k3 = kr
    return k0 + r2 * (k1 + r2 * (k2 + r2 * k3))


def rectilinear2_ratio(r2: np.ndarray, kr: Sequence[float], valid: Sequence[float], reciprocal: bool) -> np.ndarray:
    """WarpRectilinear2 radial ratio: ``sum k_i r^i`` (i = 0..14), r clamped to the valid range."""
    lo, hi = valid
    r = np.sqrt(np.clip(r2, lo * lo, hi * hi))
    poly = np.full_like(r, kr[-1])
    for c in kr[-2::-1]:
        poly = poly * r + c
    return 1.0 / poly if reciprocal else poly


def fisheye_ratio(r2: np.ndarray, kr: Sequence[float]) -> np.ndarray:
    """WarpFisheye ratio ``(kr0 t + kr1 t^3 + kr2 t^5 + kr3 t^7) / r`` with t = atan(r); 1 near r = 0."""
    k0, k1, k2, k3 = kr
    r = np.sqrt(r2)
    t = np.arctan(r)
    t2 = t * t
    val = t * (k0 + t2 * (k1 + t2 * (k2 + t2 * k3)))
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = val / r
    return np.where(r2 < 1e-12, 1.0, ratio)


def tangential_offset(dx: np.ndarray, dy: np.ndarray, r2: np.ndarray, kt: Sequence[float]):
    """Tangential terms (kt0 pairs with the vertical axis, kt1 with the horizontal: OpenCV's p1, p2)."""
    kt0, kt1 = kt
    tx = kt1 * (r2 + 2.0 * dx * dx) + 2.0 * kt0 * dx * dy
    ty = kt0 * (r2 + 2.0 * dy * dy) + 2.0 * kt1 * dx * dy
    return tx, ty


def coefficient_set(opcode: Opcode, plane: int, image_planes: int) -> int:
    """Which coefficient set of a warp applies to ``plane`` of an image with ``image_planes`` planes.

    One set applies to every plane; otherwise there must be one per plane
    (SDK ``IsValidForNegative``).
    """
    n = opcode.planes  # type: ignore[attr-defined]
    if n != 1 and n != image_planes:
        raise OpcodeError(f"has {n} coefficient sets for an image of {image_planes} plane(s); it needs 1 or "
                          f"{image_planes}", opcode=opcode.label, field="planes")
    return 0 if n == 1 else plane


def source_positions(opcode: Opcode, x: np.ndarray, y: np.ndarray, width: int, height: int, plane: int = 0,
                     image_planes: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Source coordinates sampled for corrected pixels (x, y) by one warp opcode on one plane.

    Parameters
    ----------
    opcode : WarpRectilinear, WarpFisheye or WarpRectilinear2
    x, y : arrays
        Corrected (output) pixel coordinates, pixel centres on integers.
    width, height : int
        Size of the image the opcode applies to (the stage-3 image: the
        active area of the raw frame).
    plane, image_planes : int
        Which plane, of how many (3 for RGB).

    Returns
    -------
    (xs, ys) : arrays
        Where to sample the uncorrected image.  Not clamped: the SDK clamps
        them to the image, which a resampler's edge mode reproduces.
    """
    if not isinstance(opcode, WARP_OPCODES):
        raise TypeError(f"{opcode.label} is not a warp opcode")
    s = coefficient_set(opcode, plane, image_planes)
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    cx, cy, m = warp_center_and_radius(opcode.center, width, height)
    dx = (x - cx) / m
    dy = (y - cy) / m
    r2 = np.minimum(dx * dx + dy * dy, 1.0)
    if isinstance(opcode, WarpFisheye):
        ratio = fisheye_ratio(r2, opcode.radial[s])
        return cx + m * (dx * ratio), cy + m * (dy * ratio)
    if isinstance(opcode, WarpRectilinear):
        ratio = rectilinear_ratio(r2, opcode.radial[s])
    else:
        ratio = rectilinear2_ratio(r2, opcode.radial[s], opcode.valid_range[s], opcode.reciprocal)
    tx, ty = tangential_offset(dx, dy, r2, opcode.tangential[s])
    return cx + m * (dx * ratio + tx), cy + m * (dy * ratio + ty)


def compose_source_positions(opcodes: Sequence[Opcode], x: np.ndarray, y: np.ndarray, width: int, height: int,
                             plane: int = 0, image_planes: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Source coordinates of several warps applied in list order, as one map.

    The list applies the first warp, then the next to its result: the output
    pixel p samples warp_n(p) in the image the previous warps produced, which
    sampled warp_{n-1}(warp_n(p)), and so on -- so the maps compose from the
    last opcode to the first.  Resampling once through the composed map
    differs from the SDK's repeated resampling only by interpolation blur.
    """
    xs, ys = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    for op in reversed(list(opcodes)):
        xs, ys = source_positions(op, xs, ys, width, height, plane, image_planes)
    return xs, ys
