"""DNG opcodes as correction models, and a file's OpcodeList3 as a lens profile the engine applies.

Three models, registered by :mod:`mountkit.dng.plugin` like any other:

``distortion/dng_warp``
    WarpRectilinear and WarpRectilinear2 (one coefficient set, or the green
    plane's): the SDK's ratio ``sum k_i r^i`` (r clamped to the valid range,
    reciprocal when flagged) and tangential terms, about the warp's own centre.
``tca/dng_warp``
    The red and blue planes of a three-plane warp, relative to green: the
    engine gives the distorted green position q; the model finds the output
    point p with W_G(p) = q and returns W_R(p) and W_B(p).
``vignetting/dng_vignette``
    FixVignetteRadial: the falloff is 1 / (1 + k0 r^2 + ... + k4 r^10).

The engine works in lensfun's normalised coordinates; the parameters carry
the opcode's centre ``cx``, ``cy`` and normalisation radius ``m`` converted to
those units for one frame (see :func:`opcode_calibrations`), so a
calibration made from a file's opcodes is valid for frames of that file's size.
The TCA and vignetting models are position-based
(:meth:`DngWarpTCA.channel_positions`, :meth:`DngVignette.falloff_xy`), and
the engine uses those forms, so off-centre planes and tangential terms are
applied exactly; :func:`embedded_lens` puts the profile's optical centre on
the vignette's (or the warp's) centre.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from .. import geometry as geo
from ..errors import CorrectionError
from ..models.base import DistortionModel, TCAModel, VignettingModel
from ..profile import Calibration, Lens, LensProfile, Provenance
from .gain import vignette_center_and_radius, vignette_polynomial
from .opcodes import FixVignetteRadial, Opcode, WarpFisheye, WarpRectilinear, WarpRectilinear2
from .warp import fisheye_ratio, rectilinear2_ratio, tangential_offset, warp_center_and_radius

_K = tuple(f"k{i}" for i in range(15))
_PLANE = _K + ("kt0", "kt1", "rmin", "rmax")
_COMMON = ("reciprocal", "cx", "cy", "m")
_PLANE_DEFAULTS = {**{k: 0.0 for k in _K}, "k0": 1.0, "kt0": 0.0, "kt1": 0.0, "rmin": 0.0, "rmax": 1.0}


def _plane(p: Mapping[str, float], prefix: str = "") -> tuple[list[float], tuple[float, float], tuple[float, float]]:
    return ([p[prefix + k] for k in _K], (p[prefix + "kt0"], p[prefix + "kt1"]),
            (p[prefix + "rmin"], p[prefix + "rmax"]))


def warp_points(x, y, kr: Sequence[float], kt: Sequence[float], valid: Sequence[float], reciprocal: bool,
                cx: float, cy: float, m: float):
    """The DNG rectilinear warp (WarpRectilinear2 form) of points (x, y) in any units, centre and m in the same."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    dx = (x - cx) / m
    dy = (y - cy) / m
    r2 = np.minimum(dx * dx + dy * dy, 1.0)
    ratio = rectilinear2_ratio(r2, kr, valid, reciprocal)
    tx, ty = tangential_offset(dx, dy, r2, kt)
    return cx + m * (dx * ratio + tx), cy + m * (dy * ratio + ty)


class DngWarp(DistortionModel):
    """DNG WarpRectilinear / WarpRectilinear2 as a distortion model (corrected -> captured)."""

    name = "dng_warp"
    params = _PLANE + _COMMON
    defaults = {**_PLANE_DEFAULTS, "reciprocal": 0.0, "cx": 0.0, "cy": 0.0}
    focal_scaled = ()
    description = "DNG WarpRectilinear(2): ratio sum k_i r^i and tangential kt0, kt1 about the opcode's centre"

    def distort(self, x, y, p):
        kr, kt, valid = _plane(p)
        return warp_points(x, y, kr, kt, valid, bool(p["reciprocal"]), p["cx"], p["cy"], p["m"])


class DngWarpFisheye(DistortionModel):
    """DNG WarpFisheye as a distortion model: source radius ``sum k_i atan(r)^(2i+1)``."""

    name = "dng_warp_fisheye"
    params = ("k0", "k1", "k2", "k3", "cx", "cy", "m")
    defaults = {"k0": 1.0, "k1": 0.0, "k2": 0.0, "k3": 0.0, "cx": 0.0, "cy": 0.0}
    focal_scaled = ()
    description = "DNG WarpFisheye: r_src = k0 t + k1 t^3 + k2 t^5 + k3 t^7, t = atan(r)"

    def distort(self, x, y, p):
        x = np.asarray(x, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        cx, cy, m = p["cx"], p["cy"], p["m"]
        dx = (x - cx) / m
        dy = (y - cy) / m
        ratio = fisheye_ratio(np.minimum(dx * dx + dy * dy, 1.0), [p["k0"], p["k1"], p["k2"], p["k3"]])
        return cx + m * dx * ratio, cy + m * dy * ratio


class DngWarpTCA(TCAModel):
    """The red and blue planes of a three-plane DNG warp, relative to its green plane.

    Parameters: the plane parameters of :class:`DngWarp` prefixed ``r``,
    ``g`` and ``b`` (``rk0``..``rk14``, ``rkt0``, ``rkt1``, ``rrmin``,
    ``rrmax``...), and the shared ``reciprocal``, ``cx``, ``cy``, ``m``.
    """

    name = "dng_warp"
    params = tuple(c + k for c in "rgb" for k in _PLANE) + _COMMON
    defaults = {**{c + k: v for c in "rgb" for k, v in _PLANE_DEFAULTS.items()}, "reciprocal": 0.0,
                "cx": 0.0, "cy": 0.0}
    focal_scaled = ()
    description = "DNG WarpRectilinear(2) with one coefficient set per plane: red and blue relative to green"

    def _warp(self, c: str, x, y, p):
        kr, kt, valid = _plane(p, c)
        return warp_points(x, y, kr, kt, valid, bool(p["reciprocal"]), p["cx"], p["cy"], p["m"])

    def channel_positions(self, x, y, p):
        """Exact red and blue positions ``((xr, yr), (xb, yb))`` of distorted green points (x, y)."""
        tol = 1e-12 * max(abs(p["m"]), 1.0)
        u, v = geo.invert_planar(lambda a, b: self._warp("g", a, b, p), x, y, tol=tol)
        return self._warp("r", u, v, p), self._warp("b", u, v, p)

    def channel_factors(self, r, p):
        """Radial factors about the model's centre (exact without tangential terms and with a centred profile)."""
        r = np.asarray(r, dtype=np.float64)
        m = p["m"]
        recip = bool(p["reciprocal"])

        def ratio(c: str, rho):
            kr, _, valid = _plane(p, c)
            return rectilinear2_ratio((rho / m) ** 2, kr, valid, recip)

        rho = geo.invert_radial(lambda s: s * ratio("g", s), r, tol=1e-13 * max(m, 1.0))
        g = ratio("g", rho)
        return ratio("r", rho) / g, ratio("b", rho) / g


class DngVignette(VignettingModel):
    """DNG FixVignetteRadial: relative illumination ``1 / (1 + k0 r^2 + ... + k4 r^10)``.

    ``cx``, ``cy`` and ``m`` are in vignetting units (1 = the calibration
    sensor's corner); r is the distance from (cx, cy) over m, clamped to 1.
    """

    name = "dng_vignette"
    params = ("k0", "k1", "k2", "k3", "k4", "cx", "cy", "m")
    defaults = {"k0": 0.0, "k1": 0.0, "k2": 0.0, "k3": 0.0, "k4": 0.0, "cx": 0.0, "cy": 0.0}
    focal_scaled = ()
    description = "DNG FixVignetteRadial: gain 1 + k0 r^2 + k1 r^4 + k2 r^6 + k3 r^8 + k4 r^10"

    @staticmethod
    def _k(p):
        return [p["k0"], p["k1"], p["k2"], p["k3"], p["k4"]]

    def falloff_xy(self, x, y, p):
        """Exact relative illumination at points (x, y) in vignetting units."""
        dx = (np.asarray(x, dtype=np.float64) - p["cx"]) / p["m"]
        dy = (np.asarray(y, dtype=np.float64) - p["cy"]) / p["m"]
        return 1.0 / vignette_polynomial(dx * dx + dy * dy, self._k(p))

    def falloff(self, r, p):
        r = np.asarray(r, dtype=np.float64)
        return 1.0 / vignette_polynomial((r / p["m"]) ** 2, self._k(p))


#: The models :mod:`mountkit.dng.plugin` registers.
MODELS = (DngWarp(), DngWarpFisheye(), DngWarpTCA(), DngVignette())


# -- opcodes -> calibrations ------------------------------------------------------------


def _plane_params(op: Opcode, s: int) -> dict[str, float]:
    if isinstance(op, WarpRectilinear):
        kr = [0.0] * 15
        kr[0], kr[2], kr[4], kr[6] = op.radial[s]
        valid = (0.0, 1.0)
    else:
        kr = list(op.radial[s])
        valid = op.valid_range[s]
    out = {f"k{i}": float(v) for i, v in enumerate(kr)}
    out.update(kt0=op.tangential[s][0], kt1=op.tangential[s][1], rmin=valid[0], rmax=valid[1])
    return out


def _is_identity(plane: Mapping[str, float]) -> bool:
    return plane["k0"] == 1.0 and not any(plane[f"k{i}"] for i in range(1, 15)) and not plane["kt0"] \
        and not plane["kt1"]


def opcode_calibrations(opcodes: Sequence[Opcode], g: geo.FrameGeometry, *, focal: float, aperture: float,
                        distance: float) -> list[Calibration]:
    """Calibrations that make the engine apply OpcodeList3 opcodes on frames of ``g``'s geometry.

    Parameters
    ----------
    opcodes : sequence of Opcode
        The opcodes to apply, in list order (see :meth:`OpcodeList.applicable`):
        at most one FixVignetteRadial and one warp; the vignette must come
        before the warp (the engine applies vignetting on the captured grid).
    g : FrameGeometry
        The geometry the engine will use (frame size and the profile's
        crop factors, aspect ratio and centre).
    focal, aperture, distance : float
        Shooting parameters the calibrations are filed under.

    Raises
    ------
    CorrectionError
        For what the engine's pipeline cannot reproduce: several warps,
        a vignette after a warp, a GainMap in list 3, a per-plane WarpFisheye.
    """
    width, height = g.width, g.height
    cals: list[Calibration] = []
    seen_warp = False
    for op in opcodes:
        if isinstance(op, FixVignetteRadial):
            if seen_warp:
                raise CorrectionError(f"{op.label} after a warp acts on the corrected grid; the engine applies "
                                      "vignetting before resampling")
            if any(c.kind == "vignetting" for c in cals):
                raise CorrectionError("more than one FixVignetteRadial in the list")
            cx, cy, m = vignette_center_and_radius(op.center, width, height)
            nx, ny = geo.pixel_to_normalized(g, cx, cy)
            scale = g.norm_scale / g.calibration_diagonal  # vignetting units per pixel
            params = {f"k{i}": float(v) for i, v in enumerate(op.k)}
            params.update(cx=float(nx) / g.calibration_diagonal, cy=float(ny) / g.calibration_diagonal,
                          m=m * scale)
            cals.append(Calibration("vignetting", "dng_vignette", focal, params, aperture=aperture,
                                    distance=distance))
        elif isinstance(op, (WarpRectilinear, WarpRectilinear2, WarpFisheye)):
            if seen_warp:
                raise CorrectionError("more than one warp in the list; the engine resamples once through one "
                                      "distortion model")
            seen_warp = True
            cx, cy, m = warp_center_and_radius(op.center, width, height)
            nx, ny = geo.pixel_to_normalized(g, cx, cy)
            common = {"cx": float(nx), "cy": float(ny), "m": m * g.norm_scale}
            if isinstance(op, WarpFisheye):
                if op.planes > 1 and len(set(op.radial)) > 1:
                    raise CorrectionError("a WarpFisheye with different planes (lateral CA) has no TCA model")
                params = {f"k{i}": float(v) for i, v in enumerate(op.radial[0])}
                cals.append(Calibration("distortion", "dng_warp_fisheye", focal, {**params, **common}))
                continue
            recip = 1.0 if getattr(op, "reciprocal", 0) else 0.0
            green = _plane_params(op, 1 if op.planes == 3 else 0)
            per_plane = op.planes > 1 and len({tuple(_plane_params(op, s).items()) for s in range(op.planes)}) > 1
            if not (per_plane and _is_identity(green)):
                cals.append(Calibration("distortion", "dng_warp", focal, {**green, **common, "reciprocal": recip}))
            if per_plane:
                if op.planes != 3:
                    raise CorrectionError(f"a {op.label} with {op.planes} planes on an RGB image")
                params = {**common, "reciprocal": recip}
                for c, s in zip("rgb", range(3), strict=False):
                    params.update({c + k: v for k, v in _plane_params(op, s).items()})
                cals.append(Calibration("tca", "dng_warp", focal, params))
        else:
            raise CorrectionError(f"{op.label} has no correction model in the engine")
    return cals


def embedded_lens(opcodes: Sequence[Opcode], size: tuple[int, int], *, crop_factor: float = 1.0,
                  focal: float = 50.0, aperture: float = 8.0, distance: float = 1000.0,
                  name: str = "embedded opcodes", source: str = "") -> Lens:
    """A lens whose profile applies OpcodeList3 ``opcodes`` through the engine on frames of ``size``.

    Use it with ``kit.corrector(lens, size=size, crop_factor=crop_factor,
    focal=focal, aperture=aperture, distance=distance, scale=1)``.  The
    profile's calibration sensor is the frame itself (same crop factor,
    aspect ratio of the frame, enlarged just enough to cover the frame when
    the centre is off the middle), and its optical centre is the vignette's
    centre, else the warp's.

    Examples
    --------
    >>> lens = embedded_lens([WarpRectilinear(radial=[(1.0, 0.01, 0.0, 0.0)])], (600, 400))
    >>> [c.model for c in lens.profile.calibrations]
    ['dng_warp']
    """
    width, height = size
    w, h = max(width - 1, 1), max(height - 1, 1)
    aspect = max(w, h) / min(w, h)
    # the optical centre: the vignette's centre when there is one, else the warp's (every model is
    # position-based, so this choice only sets where lensfun-style radii are measured from)
    center = (0.0, 0.0)
    vig = next((op for op in opcodes if isinstance(op, FixVignetteRadial)), None)
    warp = next((op for op in opcodes if isinstance(op, (WarpRectilinear, WarpRectilinear2, WarpFisheye))), None)
    if vig is not None:
        px, py, _ = vignette_center_and_radius(vig.center, width, height)
    elif warp is not None:
        px, py, _ = warp_center_and_radius(warp.center, width, height)
    if vig is not None or warp is not None:
        short = min(w, h)
        center = ((2.0 * px - w) / short, (2.0 * py - h) / short)
    g = geo.FrameGeometry(width, height, crop_factor=crop_factor, lens_crop_factor=crop_factor,
                          aspect_ratio=aspect, center=center)
    lens_crop = crop_factor
    if g.corner_radius > g.calibration_diagonal:
        # an off-centre optical centre: make the calibration sensor cover the whole frame
        lens_crop = crop_factor * g.calibration_diagonal / g.corner_radius * (1 - 1e-9)
        g = geo.FrameGeometry(width, height, crop_factor=crop_factor, lens_crop_factor=lens_crop,
                              aspect_ratio=aspect, center=center)
    cals = opcode_calibrations(opcodes, g, focal=focal, aperture=aperture, distance=distance)
    profile = LensProfile(crop_factor=lens_crop, aspect_ratio=aspect, center=center, calibrations=tuple(cals),
                          provenance=Provenance(source=source or "DNG opcode list",
                                                method="DNG OpcodeList3 opcodes converted by mountkit.dng"),
                          source=source)
    return Lens("DNG", name, focal_min=focal, focal_max=focal, profile=profile, source=source or "dng")
