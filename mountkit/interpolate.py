"""Calibration interpolation exactly as lensfun 0.3.4 does it (``lens.cpp``).

* Distortion and TCA across focal length (:func:`interpolate_focal`): a
  cubic Hermite spline through the calibrations around the requested focal
  length, with Catmull-Rom tangents taken in *index* space (the uneven
  spacing of the focal lengths is ignored), on ``term * focal`` for the terms
  the model marks as focal-scaled; outside the calibrated range the nearest
  calibration is used unchanged (no extrapolation).
* Vignetting across focal length, aperture and distance
  (:func:`interpolate_vignetting`): inverse distance weighting with power 3.5
  over every calibration, on the axes ``(f - f_min)/(f_max - f_min)``,
  ``4 / aperture`` and ``0.1 / distance``; no correction at all when the
  nearest calibration is farther than 1 in that space.
* Only the calibrations of the first model found are used; calibrations of
  another model are ignored with a warning, as lensfun does.

lensfun computes in float32; these functions compute in float64, so their
results equal lensfun's to float32 precision.  Everything here is a pure
function of the calibration sets.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

from .errors import CorrectionError, CorrectionWarning
from .models.base import CorrectionModel
from .profile import Calibration

#: Inverse-distance-weighting power of lensfun's vignetting interpolation.
IDW_POWER = 3.5
#: Below this distance a vignetting calibration is used as it is.
IDW_EXACT = 1e-4
#: Beyond this distance to the nearest calibration lensfun applies no vignetting correction.
IDW_REACH = 1.0


@dataclass(frozen=True)
class Interpolated:
    """The parameters of one kind of correction at the requested shooting parameters.

    Attributes
    ----------
    kind, model : str
        What is corrected and with which model.
    params : Mapping[str, float]
        Every parameter of the model (defaults filled in).
    calibrated : bool
        True when the request lies on a calibration point or inside the
        calibrated range; False when the nearest calibration was used instead
        (lensfun's behaviour outside the range).
    ignored : tuple of Calibration
        Calibrations of another model, ignored as lensfun ignores them.
    note : str
        How the parameters were obtained, for reports.
    """

    kind: str
    model: str
    params: Mapping[str, float]
    calibrated: bool = True
    ignored: tuple[Calibration, ...] = ()
    note: str = field(default="", compare=False)

    def __post_init__(self):
        object.__setattr__(self, "params", MappingProxyType(dict(self.params)))


def first_model(calibrations: Sequence[Calibration]) -> tuple[str | None, tuple[Calibration, ...],
                                                                tuple[Calibration, ...]]:
    """Split calibrations of one kind into those of the first model found and the rest.

    Calibrations with model ``"none"`` are skipped (lensfun's
    ``LF_DIST_MODEL_NONE``).  Returns ``(model_name, used, ignored)``.
    """
    name = None
    used, ignored = [], []
    for c in calibrations:
        if c.model == "none":
            continue
        if name is None:
            name = c.model
        (used if c.model == name else ignored).append(c)
    return name, tuple(used), tuple(ignored)


def _dedupe(calibrations: Sequence[Calibration], key) -> list[Calibration]:
    """lensfun's ``_lf_addobj``: a calibration with the same key as an earlier one replaces it in place.

    The key is the focal length for distortion and TCA and (focal, distance,
    aperture) for vignetting, whatever the model (lensfun's ``cmp_*``).
    """
    out: list[Calibration] = []
    index: dict = {}
    for c in calibrations:
        k = key(c)
        if k in index:
            out[index[k]] = c
        else:
            index[k] = len(out)
            out.append(c)
    return out


def _warn_ignored(kind: str, name: str, ignored: Sequence[Calibration], where: str) -> None:
    if ignored:
        others = sorted({c.model for c in ignored})
        warnings.warn(f"{where}{kind}: {len(ignored)} calibration(s) of model(s) {others} ignored; "
                      f"only the first model found ({name!r}) is used, as lensfun does",
                      CorrectionWarning, stacklevel=3)


def hermite(y0: float | None, y1: float, y2: float, y3: float | None, t: float) -> float:
    """lensfun's ``_lf_interpolate``: cubic Hermite between y1 (t=0) and y2 (t=1).

    Tangents are central differences in index space, ``(y2 - y0) / 2`` and
    ``(y3 - y1) / 2``, or the chord ``y2 - y1`` where the outer point is missing.

    >>> hermite(None, 0.0, 1.0, None, 0.5)
    0.5
    """
    m1 = (y2 - y1) if y0 is None else 0.5 * (y2 - y0)
    m2 = (y2 - y1) if y3 is None else 0.5 * (y3 - y1)
    t2 = t * t
    t3 = t2 * t
    return ((2 * t3 - 3 * t2 + 1) * y1 + (t3 - 2 * t2 + t) * m1
            + (-2 * t3 + 3 * t2) * y2 + (t3 - t2) * m2)


def interpolate_focal(calibrations: Sequence[Calibration], focal: float, model: CorrectionModel, *,
                      where: str = "") -> Interpolated | None:
    """Distortion or TCA parameters at ``focal``, interpolated as lensfun does.

    Parameters
    ----------
    calibrations : sequence of Calibration
        The calibrations of one kind, in source order (all models; only the
        first model found is used).
    focal : float
        Focal length in mm.
    model : CorrectionModel
        The model of the first calibration (gives the parameter names,
        defaults and which parameters are scaled by the focal length).
    where : str
        Prefix for warnings and errors (e.g. the lens name).

    Returns
    -------
    Interpolated or None
        None when there is no calibration of this kind.

    Warns
    -----
    CorrectionWarning
        When ``focal`` lies outside the calibrated range (the nearest
        calibration is used unchanged) or calibrations of another model are
        ignored.

    Examples
    --------
    >>> from mountkit.models.distortion import Poly3
    >>> cals = [Calibration("distortion", "poly3", f, {"k1": k}) for f, k in [(10, 0.1), (20, 0.0)]]
    >>> round(interpolate_focal(cals, 15, Poly3()).params["k1"], 12)  # spline(k1 f) / f
    0.033333333333
    """
    focal = float(focal)
    if not (math.isfinite(focal) and focal > 0):
        raise CorrectionError(f"{where}focal length must be a positive number of mm, got {focal!r}")
    name, used, ignored = first_model(_dedupe(calibrations, lambda c: c.focal))
    if name is None:
        return None
    kind = used[0].kind
    if model.name != name:
        raise CorrectionError(f"{where}{kind} calibrations use model {name!r}, but model {model.name!r} was given")
    _warn_ignored(kind, name, ignored, where)

    def params(c: Calibration) -> dict[str, float]:
        return model.resolve_params(c.params, where=f"{where}{kind} calibration at {c.focal:g} mm")

    for c in used:
        if c.focal == focal:
            return Interpolated(kind, name, params(c), True, ignored, f"calibration at {c.focal:g} mm")
    above = sorted((c for c in used if c.focal > focal), key=lambda c: c.focal)[:2]
    below = sorted((c for c in used if c.focal < focal), key=lambda c: -c.focal)[:2]
    if not above or not below:
        near = above[0] if above else below[0]
        lo = min(c.focal for c in used)
        hi = max(c.focal for c in used)
        rng = f"{lo:g} mm" if lo == hi else f"{lo:g}-{hi:g} mm"
        warnings.warn(f"{where}focal length {focal:g} mm is outside the {kind} calibration ({rng}); "
                      f"using the calibration at {near.focal:g} mm unchanged, as lensfun does",
                      CorrectionWarning, stacklevel=2)
        return Interpolated(kind, name, params(near), False, ignored, f"nearest calibration, {near.focal:g} mm")
    # ascending order: P0 < P1 < focal < P2 < P3 (lensfun's descending order is the mirror image)
    p1f, p1 = below[0].focal, params(below[0])
    p0f, p0 = (below[1].focal, params(below[1])) if len(below) > 1 else (None, None)
    p2f, p2 = above[0].focal, params(above[0])
    p3f, p3 = (above[1].focal, params(above[1])) if len(above) > 1 else (None, None)
    t = (focal - p1f) / (p2f - p1f)
    scaled = set(model.scaled())
    out = {}
    for k in model.params:
        ys = [None if p is None else (p[k] * f if k in scaled else p[k])
              for f, p in ((p0f, p0), (p1f, p1), (p2f, p2), (p3f, p3))]
        v = hermite(ys[0], ys[1], ys[2], ys[3], t)
        out[k] = v / focal if k in scaled else v
    return Interpolated(kind, name, out, True, ignored, f"interpolated between {p1f:g} and {p2f:g} mm")


def vignetting_distance(focal: float, aperture: float, distance: float, cal: Calibration,
                        focal_min: float, focal_max: float) -> float:
    """lensfun's ``__vignetting_dist``: distance between a request and a vignetting calibration.

    Axes: focal length scaled to [0, 1] over the lens's focal range (raw mm
    for a prime), ``4 / aperture`` and ``0.1 / distance`` (metres).
    """
    f1, f2 = focal - focal_min, cal.focal - focal_min
    df = focal_max - focal_min
    if df != 0:
        f1 /= df
        f2 /= df
    a1, a2 = 4.0 / aperture, 4.0 / cal.aperture
    d1, d2 = 0.1 / distance, 0.1 / cal.distance
    return math.sqrt((f2 - f1) ** 2 + (a2 - a1) ** 2 + (d2 - d1) ** 2)


def interpolate_vignetting(calibrations: Sequence[Calibration], focal: float, aperture: float, distance: float,
                           model: CorrectionModel, *, focal_min: float, focal_max: float,
                           where: str = "") -> Interpolated | None:
    """Vignetting parameters at (focal, aperture, distance), by lensfun's inverse distance weighting.

    Parameters
    ----------
    calibrations : sequence of Calibration
        The vignetting calibrations, in source order.
    focal, aperture, distance : float
        Focal length (mm), f-number, focus distance (m).
    model : CorrectionModel
        The model of the first calibration.
    focal_min, focal_max : float
        The lens's focal range (lensfun's MinFocal, MaxFocal).

    Returns
    -------
    Interpolated or None
        None when there is no calibration, or when the nearest one is farther
        than 1 (lensfun then applies no vignetting correction; a
        :class:`CorrectionWarning` says so).
    """
    for what, v in (("focal length", focal), ("aperture", aperture), ("distance", distance)):
        if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
            raise CorrectionError(f"{where}vignetting needs a positive {what}, got {v!r}")
    name, used, ignored = first_model(_dedupe(calibrations, lambda c: (c.focal, c.distance, c.aperture)))
    if name is None:
        return None
    if model.name != name:
        raise CorrectionError(f"{where}vignetting calibrations use model {name!r}, but model {model.name!r} was given")
    _warn_ignored("vignetting", name, ignored, where)
    total_w = 0.0
    acc = dict.fromkeys(model.params, 0.0)
    nearest = math.inf
    for c in used:
        p = model.resolve_params(c.params, where=f"{where}vignetting calibration at {c.focal:g} mm "
                                                   f"f/{c.aperture:g} {c.distance:g} m")
        dist = vignetting_distance(focal, aperture, distance, c, focal_min, focal_max)
        if dist < IDW_EXACT:
            return Interpolated("vignetting", name, p, True, ignored,
                                f"calibration at {c.focal:g} mm f/{c.aperture:g} {c.distance:g} m")
        nearest = min(nearest, dist)
        w = abs(1.0 / dist ** IDW_POWER)
        for k in acc:
            acc[k] += w * p[k]
        total_w += w
    if nearest > IDW_REACH or total_w <= 0:
        warnings.warn(f"{where}no vignetting calibration near {focal:g} mm f/{aperture:g} {distance:g} m "
                      f"(nearest at distance {nearest:.3g} > {IDW_REACH:g} in lensfun's interpolation space); "
                      "vignetting is not corrected, as lensfun does", CorrectionWarning, stacklevel=2)
        return None
    return Interpolated("vignetting", name, {k: v / total_w for k, v in acc.items()}, True, ignored,
                        f"inverse-distance weighted over {len(used)} calibrations (nearest {nearest:.3g})")
