"""A lens profile's correction, for one frame, as DNG opcodes (WarpRectilinear, FixVignetteRadial).

The profile's own correction is what mountkit's engine computes for the
frame (:class:`mountkit.Corrector`: the interpolated calibration, the frame
geometry, the scale); this module finds the opcodes that reproduce it:

* the warp's optical centre is put on the profile's optical centre, so a
  radial profile stays radial;
* each colour plane's source positions are linear in the warp coefficients,
  so they are fitted by linear least squares on a grid of output pixels;
  WarpRectilinear has the powers r^0, r^2, r^4, r^6 (plus the two tangential
  terms when the profile is not radial), WarpRectilinear2 every power
  r^0..r^14.  lensfun's poly3 and poly5 with linear TCA are polynomials of
  those even powers, so WarpRectilinear reproduces them exactly; ptlens and
  poly3 TCA on top of distortion need odd or higher powers, which
  WarpRectilinear2 has (every lensfun 0.3.4 combination is a polynomial of
  degree <= 14), so a WarpRectilinear2 is added for readers of DNG 1.6 with
  the fitted WarpRectilinear after it as the fallback for older readers;
* vignetting gains (``1 / c``) are fitted with FixVignetteRadial's
  ``1 + k0 r^2 + ... + k4 r^10`` by least squares on the relative error; a
  reciprocal polynomial is never expressed exactly, so the residual is
  reported.

Every result carries its residual, measured on a dense grid of the frame
(every pixel of the border and a 257 x 193 grid inside): the largest
distance in pixels between the opcode's and the profile's source positions,
and the largest relative difference of the gains.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from .. import geometry as geo
from ..errors import CorrectionError
from .gain import vignette_center_and_radius, vignette_gain
from .opcodes import FLAG_OPTIONAL, FixVignetteRadial, Opcode, WarpRectilinear, WarpRectilinear2
from .warp import source_positions, warp_center_and_radius

if TYPE_CHECKING:
    from ..corrector import Corrector

#: Below this many pixels (or this relative gain) a fit counts as an exact representation.
EXACT_PX = 1e-6
EXACT_GAIN = 1e-9


@dataclass(frozen=True)
class Fit:
    """One fitted opcode and how well it reproduces the profile."""

    opcode: Opcode
    residual: float  # px for warps, relative gain for vignetting
    unit: str

    @property
    def exact(self) -> bool:
        return self.residual <= (EXACT_PX if self.unit == "px" else EXACT_GAIN)


@dataclass(frozen=True)
class Conversion:
    """The opcodes for OpcodeList3, in list order, with their residuals.

    ``opcodes`` is ``[FixVignetteRadial] [WarpRectilinear2 (optional)]
    [WarpRectilinear]``: vignetting first, so that it acts on the uncorrected
    grid as the profile's does; the WarpRectilinear2, when present, is
    optional and directly followed by its WarpRectilinear fallback (DNG 1.6
    skip rule).
    """

    vignette: Fit | None = None
    warp: Fit | None = None
    warp2: Fit | None = None
    scale: float = 1.0
    size: tuple[int, int] = (0, 0)
    kinds: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def opcodes(self) -> tuple[Opcode, ...]:
        return tuple(f.opcode for f in (self.vignette, self.warp2, self.warp) if f is not None)

    def describe(self) -> dict[str, Any]:
        def fit(f: Fit | None):
            if f is None:
                return None
            return {"opcode": f.opcode.label, "residual": f.residual, "unit": f.unit, "exact": f.exact,
                    "optional": f.opcode.optional}

        return {"size": list(self.size), "scale": self.scale, "kinds": list(self.kinds),
                "vignette": fit(self.vignette), "warp": fit(self.warp), "warp2": fit(self.warp2),
                "notes": list(self.notes)}


# -- sample grids -------------------------------------------------------------------


def check_grid(width: int, height: int, nx: int = 257, ny: int = 193) -> tuple[np.ndarray, np.ndarray]:
    """Pixel positions where residuals are measured: a regular grid plus every border pixel."""
    gx = np.unique(np.round(np.linspace(0, width - 1, min(nx, width))))
    gy = np.unique(np.round(np.linspace(0, height - 1, min(ny, height))))
    X, Y = np.meshgrid(gx, gy)
    bx, by = geo.boundary_pixels(width, height)
    return np.concatenate([X.ravel(), bx]), np.concatenate([Y.ravel(), by])


def fit_grid(width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel positions the fits use (coarser than :func:`check_grid`, corners and edges included)."""
    return check_grid(width, height, 97, 73)


# -- warps --------------------------------------------------------------------------


def _design(dx: np.ndarray, dy: np.ndarray, powers: Iterable[int], tangential: bool, m: float):
    """Rows of the linear system ``source - centre = m * (dx * ratio + t)`` (x rows, then y rows).

    ``powers`` are the powers of r in the radial ratio.
    """
    r2 = np.minimum(dx * dx + dy * dy, 1.0)
    r = np.sqrt(r2)
    cols_x, cols_y = [], []
    for k in powers:
        rk = r2 ** (k // 2) if k % 2 == 0 else r ** k
        cols_x.append(dx * rk)
        cols_y.append(dy * rk)
    if tangential:
        cols_x += [2.0 * dx * dy, r2 + 2.0 * dx * dx]  # kt0, kt1
        cols_y += [r2 + 2.0 * dy * dy, 2.0 * dx * dy]
    a = np.vstack([np.column_stack(cols_x), np.column_stack(cols_y)])
    return m * a


def _solve(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(a, axis=0)
    norms[norms == 0] = 1.0
    sol, *_ = np.linalg.lstsq(a / norms, b, rcond=None)
    return sol / norms


def fit_warp(target: np.ndarray, x: np.ndarray, y: np.ndarray, width: int, height: int,
             center: tuple[float, float], *, tangential: bool, rectilinear2: bool = False) -> Opcode:
    """Fit a WarpRectilinear (or WarpRectilinear2) to per-channel source positions.

    Parameters
    ----------
    target : ndarray, shape (N, planes, 2)
        Source (column, row) of the output pixels (x, y), per plane.
    center : (float, float)
        The warp's optical centre, relative to width and height.
    tangential : bool
        Fit the tangential terms too (otherwise they are 0).
    rectilinear2 : bool
        Fit a WarpRectilinear2 (powers 0..14) instead of a WarpRectilinear (0, 2, 4, 6).
    """
    cx, cy, m = warp_center_and_radius(center, width, height)
    dx = (x - cx) / m
    dy = (y - cy) / m
    powers = range(15) if rectilinear2 else (0, 2, 4, 6)
    a = _design(dx, dy, powers, tangential, m)
    radial, tan = [], []
    n_r = len(tuple(powers))
    for p in range(target.shape[1]):
        if np.max(np.abs(target[:, p, 0] - x)) < 1e-9 and np.max(np.abs(target[:, p, 1] - y)) < 1e-9:
            sol = np.zeros(a.shape[1])  # this plane does not move: write the exact identity
            sol[0] = 1.0
        else:
            sol = _solve(a, np.concatenate([target[:, p, 0] - cx, target[:, p, 1] - cy]))
        radial.append(tuple(float(v) for v in sol[:n_r]))
        tan.append(tuple(float(v) for v in sol[n_r:]) if tangential else (0.0, 0.0))
    if rectilinear2:
        return WarpRectilinear2(radial=radial, tangential=tan, center=center, flags=FLAG_OPTIONAL)
    return WarpRectilinear(radial=radial, tangential=tan, center=center, flags=FLAG_OPTIONAL)


def warp_residual(op: Opcode, target: np.ndarray, x: np.ndarray, y: np.ndarray, width: int, height: int) -> float:
    """Largest distance (px) between the opcode's source positions and ``target`` (N, planes, 2)."""
    planes = target.shape[1]
    worst = 0.0
    for p in range(planes):
        sx, sy = source_positions(op, x, y, width, height, plane=p, image_planes=planes)
        d = np.hypot(sx - target[:, p, 0], sy - target[:, p, 1])
        worst = max(worst, float(np.nanmax(d)))
    return worst


# -- vignetting ---------------------------------------------------------------------


def fit_vignette(gains: np.ndarray, x: np.ndarray, y: np.ndarray, width: int, height: int,
                 center: tuple[float, float]) -> FixVignetteRadial:
    """Fit FixVignetteRadial's k0..k4 to gains at pixels (x, y), minimising the relative error."""
    cx, cy, m = vignette_center_and_radius(center, width, height)
    r2 = np.clip(((x - cx) ** 2 + (y - cy) ** 2) / (m * m), 0.0, 1.0)
    a = np.column_stack([r2 ** (i + 1) for i in range(5)]) / gains[:, None]
    b = (gains - 1.0) / gains
    k = _solve(a, b)
    return FixVignetteRadial(k=tuple(float(v) for v in k), center=center, flags=FLAG_OPTIONAL)


def vignette_residual(op: FixVignetteRadial, gains: np.ndarray, x: np.ndarray, y: np.ndarray, width: int,
                      height: int) -> float:
    """Largest relative difference between the opcode's gains and ``gains``."""
    got = vignette_gain(op, x, y, width, height)
    return float(np.max(np.abs(got / gains - 1.0)))


# -- the conversion -------------------------------------------------------------------


def _radial(corrector: Corrector) -> bool:
    """True when the corrector's geometric models are radial about its optical centre."""
    d = corrector.models.get("distortion")
    t = corrector.models.get("tca")
    if d is not None and not d.model.is_radial:
        return False
    if t is not None and hasattr(t.model, "channel_positions"):
        return False
    return True


def corrector_to_opcodes(corrector: Corrector, *, warp2: str | bool = "auto") -> Conversion:
    """The OpcodeList3 opcodes that reproduce a corrector's correction on its frame.

    Parameters
    ----------
    corrector : Corrector
        Made for the raw frame's size (the DNG's active area, un-oriented),
        crop factor and shooting parameters; its scale is built into the warp.
    warp2 : "auto", True or False
        Add an optional WarpRectilinear2 before the WarpRectilinear:
        "auto" when WarpRectilinear cannot express the profile exactly.

    Returns
    -------
    Conversion
        The opcodes and their residuals.

    Raises
    ------
    CorrectionError
        When the corrector simulates instead of correcting, or its optical
        centre lies outside the frame (DNG centres are relative, 0..1).
    """
    if corrector.reverse:
        raise CorrectionError("a DNG opcode list corrects; make the corrector with reverse=False")
    width, height = corrector.size
    g = corrector.geometry
    ox, oy = (float(v) for v in geo.normalized_to_pixel(g, 0.0, 0.0))
    notes: list[str] = []
    kinds = corrector.active
    vignette = warp = wr2 = None
    fx, fy = fit_grid(width, height)
    cx_, cy_ = check_grid(width, height)

    if "vignetting" in kinds:
        vc = ((ox + 0.5) / width, (oy + 0.5) / height)
        if not (0 <= vc[0] <= 1 and 0 <= vc[1] <= 1):
            raise CorrectionError(f"the optical centre ({ox:.1f}, {oy:.1f}) px lies outside the frame; "
                                  "DNG opcodes cannot express it")
        op = fit_vignette(corrector.gain_points(fx, fy), fx, fy, width, height, vc)
        vignette = Fit(op, vignette_residual(op, corrector.gain_points(cx_, cy_), cx_, cy_, width, height),
                       "relative gain")
        if np.any(vignette_gain(op, cx_, cy_, width, height) <= 0):
            notes.append("the fitted vignetting gain is not positive everywhere")

    if corrector.moves_pixels:
        wc = (ox / width, oy / height)
        if not (0 <= wc[0] <= 1 and 0 <= wc[1] <= 1):
            raise CorrectionError(f"the optical centre ({ox:.1f}, {oy:.1f}) px lies outside the frame; "
                                  "DNG opcodes cannot express it")
        planes = [0, 1, 2] if "tca" in kinds else [1]
        tangential = not _radial(corrector)
        target_fit = corrector.source_points(fx, fy)[:, planes, :]
        target_chk = corrector.source_points(cx_, cy_)[:, planes, :]
        op = fit_warp(target_fit, fx, fy, width, height, wc, tangential=tangential)
        warp = Fit(op, warp_residual(op, target_chk, cx_, cy_, width, height), "px")
        if warp2 is True or (warp2 == "auto" and not warp.exact):
            op2 = fit_warp(target_fit, fx, fy, width, height, wc, tangential=tangential, rectilinear2=True)
            wr2 = Fit(op2, warp_residual(op2, target_chk, cx_, cy_, width, height), "px")
            if warp2 == "auto" and wr2.residual >= warp.residual:
                notes.append("WarpRectilinear2 fits no better than WarpRectilinear; left out")
                wr2 = None
        if not warp.exact:
            notes.append(f"WarpRectilinear cannot express the profile exactly: fitted, residual "
                         f"{warp.residual:.3g} px" + (f"; WarpRectilinear2 residual {wr2.residual:.3g} px"
                                                     if wr2 is not None else ""))
    return Conversion(vignette=vignette, warp=warp, warp2=wr2, scale=corrector.scale, size=(width, height),
                      kinds=kinds, notes=tuple(notes))
