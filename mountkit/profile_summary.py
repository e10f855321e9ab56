"""What a lens profile means on a body, in a photographer's units: pure functions over numpy arrays.

For a body (sensor size and pixel count) and a profile calibrated on a sensor
of crop factor ``c_cal`` and aspect ratio ``AR``, a point at a fraction ``t``
of the way from the centre to the body's frame corner lies at the normalised
radius (lensfun 0.3.4's units, see :mod:`mountkit.geometry`)::

    r_n = t * sqrt(AR^2 + 1) * c_cal / c_body      (distortion, TCA: 1 = half short side)
    r_v = t * c_cal / c_body                       (vignetting: 1 = calibration corner)

and one normalised unit is ``half_diagonal_px / r_n(1)`` pixels of the body.

* distortion: the radial displacement in % relative to the centre's
  magnification, 100 (|d(p)| / (m0 |p|) - 1), negative for barrel;
* vignetting: the relative illumination in EV, log2 c (negative = darker);
* TCA: the radial displacement of red and blue from green, in pixels of the
  body (positive = outwards).

A body whose crop factor is smaller than the calibration's (more than 4 %
below, as lensfun refuses) is not covered by the profile.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from .hardware import crop_factor_from_sensor
from .profile import Calibration, Lens, LensProfile

#: lensfun uses a profile on bodies down to 0.96 x its calibration crop factor.
CROP_TOLERANCE = 0.96


@dataclass(frozen=True)
class Body:
    """A sensor to show a profile on: size in mm and in pixels."""

    name: str
    width_mm: float
    height_mm: float
    width_px: int
    height_px: int

    @property
    def crop_factor(self) -> float:
        return crop_factor_from_sensor(self.width_mm, self.height_mm)

    @property
    def half_diagonal_px(self) -> float:
        """Centre-to-corner distance between pixel centres (lensfun's width - 1 convention)."""
        return math.hypot(self.width_px - 1, self.height_px - 1) / 2.0

    @property
    def corner_angle(self) -> float:
        return math.atan2(self.height_px - 1, self.width_px - 1)


#: The body mountkit was made for: the 1-inch IMX989 of the Xiaomi 12S Ultra Concept (8192 x 6144 at 1.6 um).
ONE_INCH = Body("1-inch 13.1 x 9.8 mm, 8192 x 6144", 13.1072, 9.8304, 8192, 6144)
#: A full-frame body (36 x 24 mm, 24 MP).
FULL_FRAME = Body("full frame 36 x 24 mm, 6000 x 4000", 36.0, 24.0, 6000, 4000)
DEFAULT_BODIES = (ONE_INCH, FULL_FRAME)


def covers(profile: LensProfile, body: Body) -> bool:
    """True when lensfun would apply ``profile`` on ``body`` (body crop >= 0.96 x calibration crop)."""
    return body.crop_factor >= CROP_TOLERANCE * profile.crop_factor


def corner_radius(profile: LensProfile, body: Body) -> float:
    """The body's frame corner in normalised distortion units of the profile."""
    return math.hypot(profile.aspect_ratio, 1.0) * profile.crop_factor / body.crop_factor


def px_per_unit(profile: LensProfile, body: Body) -> float:
    """Body pixels per normalised distortion unit."""
    return body.half_diagonal_px / corner_radius(profile, body)


def _diagonal(profile: LensProfile, body: Body, t: np.ndarray, quadrant: tuple[int, int] = (1, 1)):
    r = np.asarray(t, float) * corner_radius(profile, body)
    a = body.corner_angle
    return quadrant[0] * r * math.cos(a), quadrant[1] * r * math.sin(a)


QUADRANTS = ((1, 1), (-1, 1), (-1, -1), (1, -1))


def distortion_percent(model, params: Mapping[str, float], profile: LensProfile, body: Body, t,
                       quadrant=(1, 1)) -> np.ndarray:
    """Radial distortion in % at fractions ``t`` of the corner distance, relative to the centre magnification."""
    t = np.asarray(t, float)
    x, y = _diagonal(profile, body, t, quadrant)
    xd, yd = model.distort(x, y, params)
    # magnification at the centre, along the same direction (central difference for non-radial models)
    x0, y0 = model.distort(np.array([0.0]), np.array([0.0]), params)
    if getattr(model, "is_radial", False):
        m0 = float(np.asarray(model.radial_factor(np.array([0.0]), params), float)[0])
    else:
        ex, ey = _diagonal(profile, body, np.array([1e-5, -1e-5]), quadrant)
        px, py = model.distort(ex, ey, params)
        m0 = float(np.hypot(px[0] - px[1], py[0] - py[1]) / np.hypot(ex[0] - ex[1], ey[0] - ey[1]))
    with np.errstate(invalid="ignore", divide="ignore"):
        pct = 100.0 * (np.hypot(xd - x0, yd - y0) / (m0 * np.hypot(x, y)) - 1.0)
    return np.where(t > 0, pct, 0.0)


def vignetting_ev(model, params: Mapping[str, float], profile: LensProfile, body: Body, t,
                  quadrant=(1, 1)) -> np.ndarray:
    """Relative illumination in EV (log2; negative = darker) at fractions ``t`` of the corner distance."""
    t = np.asarray(t, float)
    if hasattr(model, "falloff_xy"):
        x, y = _diagonal(profile, body, t, quadrant)
        diag = math.hypot(profile.aspect_ratio, 1.0)
        c = model.falloff_xy(x / diag, y / diag, params)
    else:
        c = model.falloff(t * profile.crop_factor / body.crop_factor, params)
    c = np.asarray(c, float)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(c > 0, np.log2(np.where(c > 0, c, 1.0)), -np.inf)


def tca_pixels(model, params: Mapping[str, float], profile: LensProfile, body: Body, t,
               quadrant=(1, 1)) -> tuple[np.ndarray, np.ndarray]:
    """Radial displacement of red and blue from green, in body pixels, at fractions ``t`` of the corner."""
    t = np.asarray(t, float)
    x, y = _diagonal(profile, body, t, quadrant)
    r = np.hypot(x, y)
    scale = px_per_unit(profile, body)
    if hasattr(model, "channel_positions"):
        (xr, yr), (xb, yb) = model.channel_positions(x, y, params)
        with np.errstate(invalid="ignore", divide="ignore"):
            ux, uy = np.where(r > 0, x / r, 0.0), np.where(r > 0, y / r, 0.0)
        red = ((xr - x) * ux + (yr - y) * uy) * scale
        blue = ((xb - x) * ux + (yb - y) * uy) * scale
        return red, blue
    fr, fb = model.channel_factors(r, params)
    return (np.asarray(fr, float) - 1.0) * r * scale, (np.asarray(fb, float) - 1.0) * r * scale


def _worst(values: list[float]) -> float:
    """The value of largest magnitude (keeping its sign)."""
    return max(values, key=lambda v: (abs(v) if math.isfinite(v) else math.inf))


@dataclass
class CornerFigures:
    """The corner figures of one profile on one body."""

    body: Body
    applicable: bool
    reason: str = ""
    distortion: list[tuple[float, float]] = field(default_factory=list)  # (focal, % at corner)
    vignetting: list[tuple[float, float, float, float]] = field(default_factory=list)  # (focal, N, m, EV)
    tca: list[tuple[float, float, float]] = field(default_factory=list)  # (focal, red px, blue px)
    skipped: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {
            "body": self.body.name, "crop_factor": round(self.body.crop_factor, 4),
            "applicable": self.applicable, "reason": self.reason,
            "distortion_percent": [{"focal": f, "corner": v} for f, v in self.distortion],
            "vignetting_ev": [{"focal": f, "aperture": a, "distance": d, "corner": v}
                              for f, a, d, v in self.vignetting],
            "tca_px": [{"focal": f, "red": r, "blue": b} for f, r, b in self.tca],
            "skipped": self.skipped,
        }


def _model(models, cal: Calibration):
    return models.get((cal.kind, cal.model))


def vignetting_sets_for_display(profile: LensProfile) -> list[Calibration]:
    """One vignetting set per (focal, aperture): the one focused farthest, sorted by focal then aperture."""
    best: dict[tuple[float, float], Calibration] = {}
    for c in profile.vignetting:
        key = (c.focal, c.aperture)
        if key not in best or (c.distance or 0) > (best[key].distance or 0):
            best[key] = c
    return [best[k] for k in sorted(best)]


def corner_figures(lens: Lens, body: Body, models: Mapping) -> CornerFigures:
    """Distortion %, vignetting EV and TCA px at the corners of ``body`` for every calibration set.

    ``models`` maps (kind, name) to correction models (``kit.models()``).
    Non-radial models are evaluated at the four corners and the largest
    magnitude is reported.
    """
    prof = lens.profile
    if prof is None or not prof.calibrations:
        return CornerFigures(body, False, "the lens has no calibration")
    if not covers(prof, body):
        return CornerFigures(body, False, f"calibrated on a smaller sensor (crop {prof.crop_factor:g}) than this "
                                          f"body's (crop {body.crop_factor:.3g}); lensfun does not apply it")
    out = CornerFigures(body, True)
    one = np.array([1.0])
    for cal in prof.calibrations:
        m = _model(models, cal)
        if m is None:
            out.skipped.append(f"{cal.kind} model {cal.model!r} at {cal.focal:g} mm: no plugin provides it")
            continue
        p = m.resolve_params(cal.params)
        if cal.kind == "distortion":
            out.distortion.append((cal.focal, _worst([float(distortion_percent(m, p, prof, body, one, q)[0])
                                                      for q in QUADRANTS])))
        elif cal.kind == "tca":
            reds, blues = [], []
            for q in QUADRANTS:
                r, b = tca_pixels(m, p, prof, body, one, q)
                reds.append(float(r[0]))
                blues.append(float(b[0]))
            out.tca.append((cal.focal, _worst(reds), _worst(blues)))
    for cal in vignetting_sets_for_display(prof):
        m = _model(models, cal)
        if m is None:
            out.skipped.append(f"vignetting model {cal.model!r}: no plugin provides it")
            continue
        p = m.resolve_params(cal.params)
        ev = min(float(vignetting_ev(m, p, prof, body, one, q)[0]) for q in QUADRANTS)
        out.vignetting.append((cal.focal, cal.aperture, cal.distance, ev))
    return out


@dataclass
class RadialCurves:
    """Curves from the centre (t = 0) to the corner (t = 1) of one body, per calibration set."""

    body: Body
    t: np.ndarray
    distortion: list[tuple[float, np.ndarray]] = field(default_factory=list)
    vignetting: list[tuple[float, float, np.ndarray]] = field(default_factory=list)
    tca: list[tuple[float, np.ndarray, np.ndarray]] = field(default_factory=list)


def radial_curves(lens: Lens, body: Body, models: Mapping, *, samples: int = 101,
                  focal: float | None = None) -> RadialCurves:
    """Distortion %, vignetting EV per aperture and TCA px per channel from centre to corner (along +x +y).

    Vignetting is given at one focal length: ``focal`` if given (the nearest
    calibrated one), else the shortest.
    """
    t = np.linspace(0.0, 1.0, samples)
    out = RadialCurves(body, t)
    prof = lens.profile
    if prof is None or not covers(prof, body):
        return out
    for cal in prof.calibrations:
        m = _model(models, cal)
        if m is None:
            continue
        p = m.resolve_params(cal.params)
        if cal.kind == "distortion":
            out.distortion.append((cal.focal, distortion_percent(m, p, prof, body, t)))
        elif cal.kind == "tca":
            r, b = tca_pixels(m, p, prof, body, t)
            out.tca.append((cal.focal, r, b))
    vsets = vignetting_sets_for_display(prof)
    if vsets:
        focals = sorted({c.focal for c in vsets})
        f0 = focals[0] if focal is None else min(focals, key=lambda f: abs(f - focal))
        for cal in vsets:
            m = _model(models, cal)
            if cal.focal != f0 or m is None:
                continue
            out.vignetting.append((cal.focal, cal.aperture, vignetting_ev(m, m.resolve_params(cal.params),
                                                                          prof, body, t)))
    return out
