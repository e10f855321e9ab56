"""Vignetting (lensfun ``pa``) and colour-shading calibration from flat fields.

A flat field is a shot of an evenly lit diffuser in front of the lens.  Only
linear data can be used (raw/DNG, or a linear TIFF): gamma-encoded frames,
clipped frames, frames too dark and unevenly lit frames are refused with a
reason (:class:`FlatRejected`).

Vignetting, per (focal length, aperture, distance), as lensfun's
``calibrate.py`` does it but with finer bins and robust radii:

1. each frame is reduced by block averages (linear data may be averaged) to
   about :data:`WORK_SIDE` pixels;
2. the green channel (the mean for grey frames) is binned by the vignetting
   radius (1 at the calibration sensor's corner) into :data:`BINS` rings, each
   represented by its median radius and median value (for a monotonic falloff
   the median value sits exactly at the median radius);
3. ``A (1 + k1 r^2 + k2 r^4 + k3 r^6)`` is fitted to the bins by linear least
   squares (it is linear in A, A k1, A k2, A k3); each frame's A normalises it
   and the frames of one group are pooled for the final fit.

Colour shading (:mod:`mountkit.calibrate.colour_shading`): what is left of
each channel once the common ``pa`` falloff is divided out, fitted with a
degree-4 polynomial in (u, v) by linear least squares and normalised to 1 at
the centre.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from .. import geometry as geo
from ..errors import MountkitError
from ..profile import Calibration
from .colour_shading import CHANNELS, EXPONENTS, monomials, param_name
from .frames import as_planes, block_centres, block_mean

#: Frames are reduced (by block averages) to about this many pixels on the long side.
WORK_SIDE = 400
#: Radial bins from the centre to the frame corner.
BINS = 40
#: A frame is clipped when more than this share of its pixels reach 99.9 % of the white level.
CLIPPED_SHARE = 1e-4
#: A frame is too dark when its centre is below this share of the range.
DARK_LEVEL = 0.03
#: A frame is uneven when, after dividing out the radial falloff, sectors differ by more than this.
UNEVEN_LIMIT = 0.03
SECTORS = 8
#: Colour shading is fitted to cell medians, about this many cells on the long side.
SHADING_CELLS = 48


class FlatRejected(MountkitError):
    """A flat-field frame cannot be used; ``reason`` says why."""

    def __init__(self, name: str, reason: str):
        self.name = name
        self.reason = reason
        super().__init__(f"{name}: {reason}" if name else reason)


@dataclass(frozen=True)
class FlatField:
    """One flat-field frame with what is known about it.

    ``data`` (H, W) or (H, W, 3) in the file's units; ``black_level`` and
    ``white_level`` in the same units; ``linear`` False for gamma-encoded data;
    ``focal`` (mm), ``aperture`` (f-number) and ``distance`` (focus distance, m).
    """

    name: str
    data: np.ndarray
    white_level: float
    black_level: float = 0.0
    linear: bool = True
    focal: float | None = None
    aperture: float | None = None
    distance: float | None = None


@dataclass(frozen=True)
class PreparedFlat:
    """A checked flat field reduced to the working size: per-channel planes in [0, 1] and their radii."""

    name: str
    planes: np.ndarray  # (C, h, w)
    radius: np.ndarray  # (h, w) vignetting radius
    u: np.ndarray
    v: np.ndarray
    scale: float  # the frame's centre level A
    k: tuple[float, float, float]


@dataclass(frozen=True)
class VignettingFit:
    """``pa`` coefficients for one (focal, aperture, distance) and how well they fit."""

    focal: float
    aperture: float
    distance: float
    params: Mapping[str, float]
    crop_factor: float
    aspect_ratio: float
    size: tuple[int, int]
    rms: float  # relative (0.001 = 0.1 %)
    max_error: float
    shots: tuple[tuple[str, float], ...]  # (name, relative RMS)
    bins_radius: np.ndarray = field(repr=False)
    bins_value: np.ndarray = field(repr=False)
    corner_radius: float = 1.0
    shading: Mapping[str, float] | None = None
    shading_rms: float | None = None
    shading_max: float | None = None

    def calibration(self) -> Calibration:
        return Calibration("vignetting", "pa", self.focal, dict(self.params), aperture=self.aperture,
                           distance=self.distance)

    def shading_calibration(self) -> Calibration | None:
        if self.shading is None:
            return None
        return Calibration("colour_shading", "poly4", self.focal, dict(self.shading), aperture=self.aperture,
                           distance=self.distance)

    def summary(self) -> str:
        text = (f"vignetting pa at {self.focal:g} mm f/{self.aperture:g} {self.distance:g} m: {len(self.shots)} "
                f"flat field(s), RMS {100 * self.rms:.2f} %, max {100 * self.max_error:.2f} %")
        if self.shading_rms is not None:
            text += f"; colour shading RMS {100 * self.shading_rms:.2f} %"
        return text


def falloff(r: np.ndarray, k: Sequence[float]) -> np.ndarray:
    """lensfun's ``pa`` relative illumination 1 + k1 r^2 + k2 r^4 + k3 r^6."""
    r2 = np.asarray(r, dtype=np.float64) ** 2
    return 1.0 + r2 * (k[0] + r2 * (k[1] + r2 * k[2]))


def fit_pa(radius: np.ndarray, value: np.ndarray, weight: np.ndarray | None = None) -> tuple[float, np.ndarray]:
    """Least-squares ``A (1 + k1 r^2 + k2 r^4 + k3 r^6)`` through (radius, value): returns (A, (k1, k2, k3))."""
    r2 = np.asarray(radius, dtype=np.float64) ** 2
    a = np.stack([np.ones_like(r2), r2, r2 ** 2, r2 ** 3], axis=1)
    b = np.asarray(value, dtype=np.float64)
    if weight is not None:
        w = np.sqrt(np.asarray(weight, dtype=np.float64))
        a, b = a * w[:, None], b * w
    coef, *_ = np.linalg.lstsq(a, b, rcond=None)
    if not coef[0] > 0:
        raise MountkitError("the flat field's centre level came out non-positive: is this a flat field?")
    return float(coef[0]), coef[1:] / coef[0]


def radial_bins(radius: np.ndarray, value: np.ndarray, bins: int = BINS) -> tuple[np.ndarray, np.ndarray,
                                                                                   np.ndarray]:
    """Median radius, median value and sample count of ``bins`` equal-width rings (empty rings dropped)."""
    r = radius.ravel()
    v = value.ravel()
    edges = np.linspace(0.0, r.max() * (1 + 1e-12), bins + 1)
    idx = np.clip(np.searchsorted(edges, r, side="right") - 1, 0, bins - 1)
    order = np.argsort(idx, kind="stable")
    idx_s, r_s, v_s = idx[order], r[order], v[order]
    starts = np.searchsorted(idx_s, np.arange(bins))
    stops = np.searchsorted(idx_s, np.arange(bins), side="right")
    rb, vb, nb = [], [], []
    for a, b in zip(starts, stops, strict=True):
        if b - a >= 3:
            rb.append(np.median(r_s[a:b]))
            vb.append(np.median(v_s[a:b]))
            nb.append(b - a)
    return np.array(rb), np.array(vb), np.array(nb, dtype=np.float64)


#: Names of the sectors centred on the angles 0, 45, ... 315 degrees (rows grow downwards).
DIRECTIONS = ("right", "lower right", "bottom", "lower left", "left", "upper left", "top", "upper right")


def prepare_flat(flat: FlatField, geometry: geo.FrameGeometry, *, work_side: int = WORK_SIDE) -> PreparedFlat:
    """Check a flat field and reduce it to the working size (see the module docstring).

    Raises
    ------
    FlatRejected
        gamma-encoded, clipped, too dark, unevenly lit, or of the wrong size.
    """
    name = flat.name
    if not flat.linear:
        raise FlatRejected(name, "not linear data (a gamma-encoded JPEG, PNG or TIFF): vignetting needs raw/DNG "
                           "files or a linear 16-bit TIFF")
    planes = as_planes(flat.data, what=name)
    h, w = planes.shape[:2]
    if (w, h) != (geometry.width, geometry.height):
        raise FlatRejected(name, f"frame is {w}x{h}, the others are {geometry.width}x{geometry.height}")
    white, black = float(flat.white_level), float(flat.black_level)
    if not white > black:
        raise FlatRejected(name, f"white level {white:g} is not above the black level {black:g}")
    step = max(1, (h // 256) or 1)
    sample = planes[::step, ::step]
    clipped = float(np.mean(np.any(sample >= black + 0.999 * (white - black), axis=2)))
    if clipped > CLIPPED_SHARE:
        raise FlatRejected(name, f"clipped: {100 * clipped:.2f} % of the pixels are at the white level; expose "
                           "about 1 EV less (the centre around half of the range)")
    factor = max(1, int(round(max(w, h) / float(work_side))))
    small = np.stack([(block_mean(planes[:, :, c], factor) - black) / (white - black)
                      for c in range(planes.shape[2])])
    xs = block_centres(small.shape[2], factor)[None, :]
    ys = block_centres(small.shape[1], factor)[:, None]
    x, y = geo.pixel_to_normalized(geometry, xs, ys)
    x, y = np.broadcast_arrays(x, y)
    radius = np.hypot(x, y) / geometry.calibration_diagonal
    lum = small[1] if small.shape[0] == 3 else small[0]
    rb, vb, nb = radial_bins(radius, lum)
    scale, k = fit_pa(rb, vb)
    if scale < DARK_LEVEL:
        raise FlatRejected(name, f"too dark: the centre is at {100 * scale:.1f} % of the range; expose more "
                           f"(the centre around half of the range)")
    # evenness: what is left after the radial falloff, by angular sector away from the centre
    ratio = lum / (scale * falloff(radius, k))
    angle = np.arctan2(y, x)
    sector = np.rint(angle / (2 * math.pi / SECTORS)).astype(int) % SECTORS
    outer = radius > 0.35 * radius.max()
    means = np.array([np.median(ratio[outer & (sector == s)]) if np.any(outer & (sector == s)) else 1.0
                      for s in range(SECTORS)])
    spread = float(means.max() - means.min())
    if spread > UNEVEN_LIMIT:
        raise FlatRejected(name, f"unevenly lit: the light differs by {100 * spread:.1f} % around the frame "
                           f"(brightest towards the {DIRECTIONS[int(np.argmax(means))]}); light the diffuser evenly or "
                           "rotate the camera between shots")
    return PreparedFlat(name=name, planes=small, radius=radius, u=x / geometry.calibration_diagonal,
                        v=y / geometry.calibration_diagonal, scale=scale, k=tuple(float(v) for v in k))


def cell_medians(plane: np.ndarray, cells: int = SHADING_CELLS) -> np.ndarray:
    """Median of ``plane`` over a grid of about ``cells`` cells on the long side (ragged edge dropped)."""
    h, w = plane.shape
    size = max(1, int(math.ceil(max(h, w) / float(cells))))
    hh, ww = h // size, w // size
    view = plane[: hh * size, : ww * size].reshape(hh, size, ww, size)
    return np.median(view.transpose(0, 2, 1, 3).reshape(hh, ww, size * size), axis=2)


def fit_colour_shading(flats: Sequence[PreparedFlat], k: Sequence[float]) -> tuple[dict[str, float], float, float]:
    """Per-channel degree-4 shading over the frames of one group, after dividing out ``pa`` falloff ``k``.

    Each channel's ratio to the common falloff is reduced to cell medians
    (robust to dust and hot pixels), each frame is normalised by its own
    centre level (exposure and channel sensitivity), and the pooled cells are
    fitted by linear least squares.  Returns (parameters, relative RMS,
    relative max residual) of the cells.
    """
    params: dict[str, float] = {}
    errs = []
    cells_uv = [(cell_medians(f.u), cell_medians(f.v)) for f in flats]
    basis = [np.concatenate([np.ones((cu.size, 1)), monomials(cu.ravel(), cv.ravel())], axis=1)
             for cu, cv in cells_uv]
    for c, ch in enumerate(CHANNELS):
        values = [cell_medians(f.planes[c] / falloff(f.radius, k)).ravel() for f in flats]
        levels = [np.linalg.lstsq(a, b, rcond=None)[0][0] for a, b in zip(basis, values, strict=True)]
        a = np.concatenate(basis)
        b = np.concatenate([bb / lv for bb, lv in zip(values, levels, strict=True)])
        coef, *_ = np.linalg.lstsq(a, b, rcond=None)
        rel = coef[1:] / coef[0]
        for (i, j), value in zip(EXPONENTS, rel, strict=True):
            params[param_name(ch, i, j)] = float(value)
        pred = a @ coef
        errs.append((b - pred) / pred)
    e = np.concatenate(errs)
    return params, float(np.sqrt(np.mean(e ** 2))), float(np.abs(e).max())


def fit_vignetting(flats: Sequence[PreparedFlat], geometry: geo.FrameGeometry, *, focal: float, aperture: float,
                   distance: float, colour_shading: bool = True) -> VignettingFit:
    """Pool the prepared flat fields of one (focal, aperture, distance) and fit ``pa`` (and colour shading)."""
    if not flats:
        raise MountkitError(f"no usable flat field at {focal:g} mm f/{aperture:g}")
    rb, vb, wb, owner = [], [], [], []
    for i, f in enumerate(flats):
        lum = f.planes[1] if f.planes.shape[0] == 3 else f.planes[0]
        r, v, n = radial_bins(f.radius, lum / f.scale)
        rb.append(r)
        vb.append(v)
        wb.append(n)
        owner.append(np.full(r.size, i))
    r, v, n, owner = (np.concatenate(a) for a in (rb, vb, wb, owner))
    scale, k = fit_pa(r, v)
    pred = scale * falloff(r, k)
    rel = (v - pred) / pred
    shots = tuple((f.name, float(np.sqrt(np.mean(rel[owner == i] ** 2)))) for i, f in enumerate(flats))
    shading = shading_rms = shading_max = None
    if colour_shading and all(f.planes.shape[0] == 3 for f in flats):
        shading, shading_rms, shading_max = fit_colour_shading(flats, k)
    return VignettingFit(focal=float(focal), aperture=float(aperture), distance=float(distance),
                         params={"k1": float(k[0]), "k2": float(k[1]), "k3": float(k[2])},
                         crop_factor=geometry.crop_factor, aspect_ratio=geometry.aspect_ratio,
                         size=(geometry.width, geometry.height), rms=float(np.sqrt(np.mean(rel ** 2))),
                         max_error=float(np.abs(rel).max()), shots=shots, bins_radius=r, bins_value=v / scale,
                         corner_radius=geometry.corner_radius / geometry.calibration_diagonal, shading=shading,
                         shading_rms=shading_rms, shading_max=shading_max)


def group_key(flat: FlatField) -> tuple[float, float, float]:
    """(focal, aperture, distance) of a flat field; a clear error naming what is missing."""
    missing = [n for n in ("focal", "aperture", "distance") if getattr(flat, n) is None]
    if missing:
        raise MountkitError(f"{flat.name}: unknown {', '.join(missing)} (not in the file's metadata): give "
                            + ", ".join(f"--{m}" for m in missing))
    return (float(flat.focal), float(flat.aperture), float(flat.distance))


def calibrate_flats(flats: Sequence[FlatField], geometry: geo.FrameGeometry, *, colour_shading: bool = True
                    ) -> tuple[list[VignettingFit], list[FlatRejected]]:
    """Check, group by (focal, aperture, distance) and fit every group of flat fields."""
    groups: dict[tuple[float, float, float], list[PreparedFlat]] = {}
    rejected: list[FlatRejected] = []
    for f in flats:
        key = group_key(f)
        try:
            groups.setdefault(key, []).append(prepare_flat(f, geometry))
        except FlatRejected as exc:
            rejected.append(exc)
            groups.setdefault(key, [])
    fits = []
    for (focal, aperture, distance), prepared in sorted(groups.items()):
        if prepared:
            fits.append(fit_vignetting(prepared, geometry, focal=focal, aperture=aperture, distance=distance,
                                       colour_shading=colour_shading))
    return fits, rejected
