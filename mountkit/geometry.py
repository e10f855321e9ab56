"""lensfun 0.3.4's coordinate systems, and the correction maps built on them.

Pure functions over numpy arrays, evaluated in float64.  The conventions are
those of lensfun 0.3.4 (``modifier.cpp``, tag v0.3.4), summarised here and in
``docs/models.md``:

* Pixel centres are at integer coordinates; distances use ``W = width - 1``
  and ``H = height - 1`` (each at least 1), the short side ``size = min(W, H)``
  and the image aspect ratio ``iar = max(W, H) / size``.  Because only ``size``
  and ``iar`` enter, a portrait frame is treated exactly as the rotated
  landscape frame.
* Distortion and TCA use *normalised* coordinates centred on the optical
  centre, in which r = 1 is half the short side of the **calibration**
  sensor.  A frame of crop factor ``crop`` taken with a lens calibrated at
  ``lens_crop`` with aspect ratio ``AR`` is mapped with the coordinate
  correction ``cc = lens_crop / crop * sqrt(AR^2 + 1) / sqrt(iar^2 + 1)``::

      x_n = cc * ((2 i - W) / size - center_x)
      y_n = cc * ((2 j - H) / size - center_y)

  so that a pixel's normalised radius depends only on its physical distance
  (in mm) from the optical axis.  ``center`` is the lens centre offset in
  units of the image's half short side.
* Vignetting uses the radius ``r_v = |(x_n, y_n)| / sqrt(AR^2 + 1)``: 1 at the
  calibration sensor's corner.

The correction map (lensfun's direction: corrected output pixel -> position
in the captured frame) is, for an output point ``o`` in normalised units::

    p   = o / scale                      (scale > 1 zooms in)
    p_d = distort(p)                     (green samples here)
    p_R = p_d * s_R(|p_d|),  p_B = p_d * s_B(|p_d|)     (TCA at the distorted radius)

A TCA model with the positional form ``channel_positions`` gives
``(p_R, p_B) = channel_positions(p_d)`` instead, exactly; likewise a
vignetting model with ``falloff_xy`` is evaluated at the point, in
vignetting units ``(x_n, y_n) / sqrt(AR^2 + 1)``, rather than at ``r_v``
(see :mod:`mountkit.models.base`).

The simulation map (``reverse=True``) is its exact inverse, computed with the
models' analytic inverses where they give one and by Newton's method
otherwise (on the radius for radial models, on the plane for the others).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np

from .errors import CorrectionError, CorrectionWarning
from .models.base import CorrectionModel, DistortionModel, TCAModel, VignettingModel

#: Safety factor lensfun multiplies its automatic scale by (once more with TCA).
AUTOSCALE_MARGIN = 1.001

#: Tolerance of the numerical inverses, in pixels of the frame.
INVERSE_TOLERANCE_PX = 1e-7


# -- coordinate systems -----------------------------------------------------------


@dataclass(frozen=True)
class FrameGeometry:
    """lensfun's normalisation of one frame for one calibration.

    Parameters
    ----------
    width, height : int
        Frame size in pixels.
    crop_factor : float
        Crop factor of the camera (sensor area) that took the frame.
    lens_crop_factor : float
        Crop factor of the calibration sensor (lensfun's ``<cropfactor>``).
    aspect_ratio : float
        Aspect ratio of the calibration sensor (lensfun's ``<aspect-ratio>``, 1.5 by default).
    center : (float, float)
        Lens centre offset in units of the image's half short side (lensfun's ``<center>``).

    Attributes
    ----------
    span_x, span_y : float
        ``W = width - 1`` and ``H = height - 1`` (at least 1).
    size : float
        ``min(W, H)``.
    image_aspect : float
        ``max(W, H) / size`` (lensfun's ``iar``).
    calibration_diagonal : float
        ``sqrt(AR^2 + 1)``: the calibration half-diagonal in normalised units.
    coordinate_correction : float
        lensfun's ``cc``.
    norm_scale : float
        Normalised units per pixel, ``2 cc / size``.
    norm_unscale : float
        Pixels per normalised unit.
    center_x, center_y : float
        Normalised coordinates of pixel (0, 0) negated: ``x_n = i * norm_scale - center_x``.

    Examples
    --------
    The 1-inch sensor (8192 x 6144, crop 2.64) with a full-frame 3:2 calibration:

    >>> g = FrameGeometry(8192, 6144, crop_factor=2.64, lens_crop_factor=1.0)
    >>> round(g.coordinate_correction, 6), round(g.corner_radius, 4)
    (0.409711, 0.6829)
    """

    width: int
    height: int
    crop_factor: float
    lens_crop_factor: float
    aspect_ratio: float = 1.5
    center: tuple[float, float] = (0.0, 0.0)
    span_x: float = field(init=False)
    span_y: float = field(init=False)
    size: float = field(init=False)
    image_aspect: float = field(init=False)
    calibration_diagonal: float = field(init=False)
    coordinate_correction: float = field(init=False)
    norm_scale: float = field(init=False)
    norm_unscale: float = field(init=False)
    center_x: float = field(init=False)
    center_y: float = field(init=False)

    def __post_init__(self):
        for name in ("width", "height"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise CorrectionError(f"frame {name} must be a positive integer, got {v!r}")
            object.__setattr__(self, name, int(v))
        for name in ("crop_factor", "lens_crop_factor", "aspect_ratio"):
            v = getattr(self, name)
            try:
                v = float(v)
            except (TypeError, ValueError):
                raise CorrectionError(f"{name} must be a number, got {v!r}") from None
            if not (math.isfinite(v) and v > 0):
                raise CorrectionError(f"{name} must be a positive finite number, got {v!r}")
            object.__setattr__(self, name, v)
        ar = self.aspect_ratio if self.aspect_ratio >= 1 else 1.0 / self.aspect_ratio
        cx, cy = (float(c) for c in self.center)
        if not (math.isfinite(cx) and math.isfinite(cy)):
            raise CorrectionError(f"lens centre offset must be finite, got {self.center!r}")
        w = float(max(self.width - 1, 1))
        h = float(max(self.height - 1, 1))
        size = min(w, h)
        iar = max(w, h) / size
        arc = math.sqrt(ar * ar + 1.0)
        cc = arc / math.sqrt(iar * iar + 1.0) * self.lens_crop_factor / self.crop_factor
        values = {
            "aspect_ratio": ar,
            "center": (cx, cy),
            "span_x": w,
            "span_y": h,
            "size": size,
            "image_aspect": iar,
            "calibration_diagonal": arc,
            "coordinate_correction": cc,
            "norm_scale": 2.0 * cc / size,
            "norm_unscale": size / (2.0 * cc),
            "center_x": (w / size + cx) * cc,
            "center_y": (h / size + cy) * cc,
        }
        for k, v in values.items():
            object.__setattr__(self, k, v)

    @property
    def corner_radius(self) -> float:
        """Normalised radius of the farthest frame corner from the optical centre."""
        x0, y0 = -self.center_x, -self.center_y
        x1, y1 = self.span_x * self.norm_scale + x0, self.span_y * self.norm_scale + y0
        return max(math.hypot(x, y) for x in (x0, x1) for y in (y0, y1))

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """The rectangle of pixel centres in normalised units: (x_min, x_max, y_min, y_max)."""
        return (-self.center_x, self.span_x * self.norm_scale - self.center_x,
                -self.center_y, self.span_y * self.norm_scale - self.center_y)


def pixel_to_normalized(g: FrameGeometry, i, j) -> tuple[np.ndarray, np.ndarray]:
    """Normalised coordinates (distortion/TCA units) of pixel positions ``i`` (column), ``j`` (row)."""
    i = np.asarray(i, dtype=np.float64)
    j = np.asarray(j, dtype=np.float64)
    return i * g.norm_scale - g.center_x, j * g.norm_scale - g.center_y


def normalized_to_pixel(g: FrameGeometry, x, y) -> tuple[np.ndarray, np.ndarray]:
    """Pixel positions (column, row) of normalised coordinates."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    return (x + g.center_x) * g.norm_unscale, (y + g.center_y) * g.norm_unscale


def vignetting_radius(g: FrameGeometry, x, y) -> np.ndarray:
    """Vignetting radius (1 at the calibration sensor's corner) of normalised points."""
    return np.hypot(x, y) / g.calibration_diagonal


def inside_frame(i, j, width: int, height: int) -> np.ndarray:
    """True where pixel position (i, j) lies on the frame: within [-0.5, width - 0.5] x [-0.5, height - 0.5].

    This is the area the frame's pixels cover; NaN positions are outside.
    Resamplers fill positions outside with the fill value and replicate the
    edge pixels for taps that fall off the frame from positions inside.
    """
    i = np.asarray(i)
    j = np.asarray(j)
    return (i >= -0.5) & (i <= width - 0.5) & (j >= -0.5) & (j <= height - 0.5)


def boundary_pixels(width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """Column and row indices of every pixel on the frame's edge (each once)."""
    xs = np.arange(width, dtype=np.float64)
    ys = np.arange(1, max(height - 1, 1), dtype=np.float64) if height > 2 else np.zeros(0)
    top = (xs, np.zeros_like(xs))
    bottom = (xs, np.full_like(xs, height - 1.0)) if height > 1 else (np.zeros(0), np.zeros(0))
    left = (np.zeros_like(ys), ys)
    right = (np.full_like(ys, width - 1.0), ys) if width > 1 else (np.zeros(0), np.zeros(0))
    i = np.concatenate([top[0], bottom[0], left[0], right[0]])
    j = np.concatenate([top[1], bottom[1], left[1], right[1]])
    return i, j


# -- models with their parameters ---------------------------------------------------


@dataclass(frozen=True)
class ModelTerms:
    """A correction model together with the parameters to evaluate it with.

    ``params`` are completed with the model's defaults and checked on
    construction (:meth:`CorrectionModel.resolve_params`).
    """

    model: CorrectionModel
    params: Mapping[str, float]

    def __post_init__(self):
        object.__setattr__(self, "params", MappingProxyType(self.model.resolve_params(self.params)))

    @property
    def kind(self) -> str:
        return self.model.kind

    @property
    def name(self) -> str:
        return self.model.name


def _check(terms: ModelTerms | None, cls: type) -> None:
    if terms is not None and not isinstance(terms.model, cls):
        raise CorrectionError(f"expected a {cls.__name__}, got {type(terms.model).__name__} ({terms.model!r})")


# -- numerical inverses -------------------------------------------------------------


def invert_radial(fn: Callable[[np.ndarray], np.ndarray], target, *, tol: float, max_iter: int = 40) -> np.ndarray:
    """Solve ``fn(r) = target`` for r >= 0 by Newton's method, element-wise.

    ``fn`` maps radii to radii (vectorised) with ``fn(0) = 0``.  Newton starts
    at ``r = target`` (as lensfun does), with a central-difference derivative.
    The root returned is on an increasing branch of ``fn``; elements that do
    not converge to ``|fn(r) - target| <= tol``, or converge where ``fn`` is
    not increasing, are NaN.
    """
    t = np.asarray(target, dtype=np.float64)
    r = t.copy()
    for _ in range(max_iter):
        f = fn(r) - t
        h = 1e-7 * np.maximum(np.abs(r), 1e-3)
        d = (fn(r + h) - fn(r - h)) / (2.0 * h)
        with np.errstate(divide="ignore", invalid="ignore"):
            step = f / d
        r = r - step
        if np.all(~np.isfinite(r) | (np.abs(step) <= 1e-3 * tol)):
            break
    f = fn(r) - t
    h = 1e-7 * np.maximum(np.abs(r), 1e-3)
    d = (fn(r + h) - fn(r - h)) / (2.0 * h)
    ok = np.isfinite(r) & (np.abs(f) <= tol) & (r >= -tol) & (d > 0)
    return np.where(ok, np.maximum(r, 0.0), np.nan)


def invert_planar(fn: Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]], x, y, *, tol: float,
                  max_iter: int = 40) -> tuple[np.ndarray, np.ndarray]:
    """Solve ``fn(u, v) = (x, y)`` by Newton's method with a finite-difference Jacobian, element-wise.

    Starts at ``(u, v) = (x, y)``; elements that do not converge to within
    ``tol`` (Euclidean), or whose Jacobian is not orientation-preserving, are NaN.
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    u, v = x.copy(), y.copy()
    for _ in range(max_iter + 1):
        fu, fv = fn(u, v)
        ex, ey = fu - x, fv - y
        h = 1e-7 * np.maximum(np.hypot(u, v), 1e-3)
        au, av = fn(u + h, v)
        bu, bv = fn(u, v + h)
        j11, j21 = (au - fu) / h, (av - fv) / h
        j12, j22 = (bu - fu) / h, (bv - fv) / h
        det = j11 * j22 - j12 * j21
        converged = np.hypot(ex, ey) <= tol
        if np.all(converged | ~np.isfinite(u)):
            break
        with np.errstate(divide="ignore", invalid="ignore"):
            du = (j22 * ex - j12 * ey) / det
            dv = (-j21 * ex + j11 * ey) / det
        u = np.where(converged, u, u - du)
        v = np.where(converged, v, v - dv)
    ok = np.isfinite(u) & np.isfinite(v) & converged & (det > 0)
    return np.where(ok, u, np.nan), np.where(ok, v, np.nan)


# -- the correction chain ---------------------------------------------------------


def distort_points(x, y, distortion: ModelTerms | None):
    """Apply a distortion model in lensfun's direction (corrected -> captured)."""
    if distortion is None:
        return x, y
    return distortion.model.distort(x, y, distortion.params)


def undistort_points(x, y, distortion: ModelTerms | None, *, tol: float):
    """Inverse of :func:`distort_points` (captured -> corrected); NaN where it has no solution."""
    if distortion is None:
        return x, y
    model: DistortionModel = distortion.model
    p = distortion.params
    got = model.undistort(x, y, p)
    if got is not NotImplemented:
        return got
    if model.is_radial:
        rd = np.hypot(x, y)
        ru = invert_radial(lambda r: r * model.radial_factor(r, p), rd, tol=tol)
        with np.errstate(divide="ignore", invalid="ignore"):
            k = np.where(rd > 0, ru / rd, 1.0)
        return x * k, y * k
    return invert_planar(lambda u, v: model.distort(u, v, p), x, y, tol=tol)


def tca_factors(r, tca: ModelTerms | None):
    """The (red, blue) factors of a TCA model at radius r (1 and 1 without TCA).

    For a positional model (``tca.model.is_radial`` False) these are only its
    radial approximation; the maps use :func:`tca_channel_points`.
    """
    if tca is None:
        one = np.ones_like(np.asarray(r, dtype=np.float64))
        return one, one
    return tca.model.channel_factors(r, tca.params)


def tca_channel_points(x, y, tca: ModelTerms | None):
    """Where red and blue are sampled for distorted green points (x, y): ``((xr, yr), (xb, yb))``.

    The model's exact positional form ``channel_positions`` when it has one,
    else ``p * s_c(|p|)`` from its radial ``channel_factors``; (x, y) both
    times without TCA.
    """
    if tca is None:
        return (x, y), (x, y)
    model: TCAModel = tca.model
    if not model.is_radial:
        (xr, yr), (xb, yb) = model.channel_positions(x, y, tca.params)
        return (np.asarray(xr, dtype=np.float64), np.asarray(yr, dtype=np.float64)), \
            (np.asarray(xb, dtype=np.float64), np.asarray(yb, dtype=np.float64))
    fr, fb = model.channel_factors(np.hypot(x, y), tca.params)
    return (x * fr, y * fr), (x * fb, y * fb)


def tca_points(x, y, tca: ModelTerms | None, channel: int):
    """The TCA step for one channel (0 red, 1 green, 2 blue): distorted green position -> captured position."""
    if tca is None or channel == 1:
        return x, y
    model: TCAModel = tca.model
    if not model.is_radial:
        return tca_channel_points(x, y, tca)[0 if channel == 0 else 1]
    fr, fb = model.channel_factors(np.hypot(x, y), tca.params)
    f = fr if channel == 0 else fb
    return x * f, y * f


def untca_points(x, y, tca: ModelTerms | None, channel: int, *, tol: float):
    """Inverse of the TCA step for one channel (0 red, 1 green, 2 blue): captured -> distorted position.

    Radial models: the model's ``inverse_channel_factors`` or Newton on the
    radius; positional models: Newton on the plane (:func:`invert_planar`)
    through ``channel_positions``.  NaN where there is no solution.
    """
    if tca is None or channel == 1:
        return x, y
    model: TCAModel = tca.model
    p = tca.params
    if not model.is_radial:
        return invert_planar(lambda u, v: tca_points(u, v, tca, channel), x, y, tol=tol)
    rq = np.hypot(x, y)
    got = model.inverse_channel_factors(rq, p)
    if got is not NotImplemented:
        k = got[0] if channel == 0 else got[1]
        return x * k, y * k
    idx = 0 if channel == 0 else 1
    rd = invert_radial(lambda r: r * model.channel_factors(r, p)[idx], rq, tol=tol)
    with np.errstate(divide="ignore", invalid="ignore"):
        k = np.where(rq > 0, rd / rq, 1.0)
    return x * k, y * k


def channel_map(x, y, channel: int, *, scale: float = 1.0, distortion: ModelTerms | None = None,
                tca: ModelTerms | None = None, reverse: bool = False, tol: float = 1e-12):
    """One channel (0 red, 1 green, 2 blue) of :func:`correction_map` or, with ``reverse``, :func:`simulation_map`.

    Returns the normalised ``(x, y)`` arrays of that channel only, which is
    cheaper than the three-channel maps when channels are resampled one at a time.
    """
    _check(distortion, DistortionModel)
    _check(tca, TCAModel)
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if reverse:
        xd, yd = untca_points(x, y, tca, channel, tol=tol)
        xu, yu = undistort_points(xd, yd, distortion, tol=tol)
        if scale != 1.0:
            xu, yu = xu * scale, yu * scale
        return xu, yu
    if scale != 1.0:
        inv = 1.0 / scale
        x, y = x * inv, y * inv
    xd, yd = distort_points(x, y, distortion)
    return tca_points(xd, yd, tca, channel)


def correction_map(x, y, *, scale: float = 1.0, distortion: ModelTerms | None = None,
                   tca: ModelTerms | None = None) -> np.ndarray:
    """lensfun's correction map on normalised points: where R, G, B of output point (x, y) are captured.

    Parameters
    ----------
    x, y : array_like
        Output (corrected) points in normalised units.
    scale : float
        Magnification of the output (> 1 zooms in); points are divided by it first.
    distortion, tca : ModelTerms or None
        The models to apply (None: no such correction).

    Returns
    -------
    ndarray, shape ``x.shape + (3, 2)``, float64
        Normalised (x, y) in the captured frame for red, green and blue.

    Examples
    --------
    >>> from mountkit.models.distortion import Poly3
    >>> m = correction_map(np.array([0.5]), np.array([0.0]), distortion=ModelTerms(Poly3(), {"k1": 0.1}))
    >>> float(m[0, 1, 0])  # 0.1 * 0.5**3 + 0.9 * 0.5
    0.4625
    """
    _check(distortion, DistortionModel)
    _check(tca, TCAModel)
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if scale != 1.0:
        inv = 1.0 / scale
        x, y = x * inv, y * inv
    xd, yd = distort_points(x, y, distortion)
    out = np.empty(np.broadcast(xd, yd).shape + (3, 2), dtype=np.float64)
    out[..., 1, 0] = xd
    out[..., 1, 1] = yd
    if tca is None:
        out[..., 0, :] = out[..., 1, :]
        out[..., 2, :] = out[..., 1, :]
    else:
        (out[..., 0, 0], out[..., 0, 1]), (out[..., 2, 0], out[..., 2, 1]) = tca_channel_points(xd, yd, tca)
    return out


def simulation_map(x, y, *, scale: float = 1.0, distortion: ModelTerms | None = None,
                   tca: ModelTerms | None = None, tol: float = 1e-12) -> np.ndarray:
    """The exact inverse of :func:`correction_map`: where R, G, B of a captured point come from.

    For each channel c, solves ``correction_map(o)[c] = (x, y)`` for the
    undistorted point ``o`` (``reverse=True``: apply the lens's defects to a
    perfect image).  ``tol`` is the tolerance of the numerical inverses in
    normalised units.  Points without a solution (outside the region where
    the models are invertible) are NaN.

    Returns
    -------
    ndarray, shape ``x.shape + (3, 2)``, float64
    """
    _check(distortion, DistortionModel)
    _check(tca, TCAModel)
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    x, y = np.broadcast_arrays(x, y)
    out = np.empty(x.shape + (3, 2), dtype=np.float64)
    for c in (1, 0, 2):
        if c != 1 and tca is None:
            out[..., c, :] = out[..., 1, :]
            continue
        out[..., c, 0], out[..., c, 1] = channel_map(x, y, c, scale=scale, distortion=distortion, tca=tca,
                                                     reverse=True, tol=tol)
    return out


def vignetting_falloff(g: FrameGeometry, x, y, vignetting: ModelTerms) -> np.ndarray:
    """The relative illumination c of a vignetting model at normalised points (x, y).

    The model's exact positional form ``falloff_xy(x / d, y / d, p)`` when it
    has one (``d = sqrt(AR^2 + 1)``, the calibration half-diagonal: vignetting
    units), else ``falloff(r_v, p)`` at the vignetting radius.
    """
    model: VignettingModel = vignetting.model
    if not model.is_radial:
        d = g.calibration_diagonal
        c = model.falloff_xy(np.asarray(x, dtype=np.float64) / d, np.asarray(y, dtype=np.float64) / d,
                             vignetting.params)
    else:
        c = model.falloff(vignetting_radius(g, x, y), vignetting.params)
    return np.asarray(c, dtype=np.float64)


def vignetting_gain(g: FrameGeometry, x, y, vignetting: ModelTerms | None, *, strength: float = 1.0,
                    reverse: bool = False) -> np.ndarray:
    """The factor that multiplies a pixel at normalised position (x, y) to remove (or add) vignetting.

    The correction gain is ``1 / c(r_v)`` (lensfun), raised to ``strength``
    (0: no correction, 1: lensfun's, 2: twice as many stops); with
    ``reverse`` it is ``c(r_v) ** strength`` (simulating the falloff).  Where
    the polynomial is not positive (far outside its calibrated radius) the
    gain is 0, which is what lensfun's clamping of negative results gives.
    ``c`` comes from :func:`vignetting_falloff` (positional models exactly).
    """
    _check(vignetting, VignettingModel)
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if vignetting is None:
        return np.ones(np.broadcast(x, y).shape)
    c = vignetting_falloff(g, x, y, vignetting)
    pos = c > 0
    safe = np.where(pos, c, 1.0)
    if reverse:
        gain = safe if strength == 1.0 else safe ** strength
    else:
        gain = 1.0 / safe if strength == 1.0 else safe ** (-strength)
    return np.where(pos, gain, 0.0)


# -- automatic scale ---------------------------------------------------------------


def _first_crossing(fn: Callable[[np.ndarray], np.ndarray], targets: np.ndarray, r_hi: float,
                    n: int = 2048, grid: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """Smallest r in [0, r_hi] with fn(r) = target, for each target > 0 (inf where fn stays below).

    ``grid`` may give the samples ``(r, fn(r))`` (r from 0 to r_hi) used to bracket the crossings.
    """
    targets = np.asarray(targets, dtype=np.float64)
    if grid is None:
        grid = np.linspace(0.0, r_hi, n + 1)
        vals = fn(grid)
    else:
        grid, vals = grid
        n = len(grid) - 1
    vals = np.where(np.isfinite(vals), vals, -np.inf)
    cm = np.maximum.accumulate(vals)
    k = np.searchsorted(cm, targets, side="left")
    unreachable = k > n
    k = np.clip(k, 1, n)
    lo, hi = grid[k - 1], grid[k]
    flo, fhi = vals[k - 1] - targets, vals[k] - targets
    # start from the chord, then safeguarded Newton inside the bracket flo < 0 <= fhi
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.where(fhi > flo, lo - flo * (hi - lo) / (fhi - flo), hi)
    for _ in range(30):
        f = fn(r) - targets
        lo = np.where(f < 0, r, lo)
        hi = np.where(f >= 0, r, hi)
        h = 1e-7 * np.maximum(np.abs(r), 1e-3)
        d = (fn(r + h) - fn(r - h)) / (2.0 * h)
        with np.errstate(divide="ignore", invalid="ignore"):
            nxt = r - f / d
        nxt = np.where((nxt >= lo) & (nxt <= hi), nxt, 0.5 * (lo + hi))
        done = (np.abs(f) <= 1e-15 * np.maximum(targets, 1.0)) | (np.abs(nxt - r) <= 1e-15 * np.maximum(r, 1e-3))
        r = np.where(done, r, nxt)
        if np.all(done | unreachable):
            break
    return np.where(unreachable, np.inf, r)


def _edge_ratio(fn: Callable[[np.ndarray], np.ndarray], rho_min: float, rho_max: float, reverse: bool,
                samples: int) -> float:
    """The extreme over rho in [rho_min, rho_max] of rho / R^-1(rho), R = ``fn`` a radial map, R^-1 its first crossing.

    Where R is at a running maximum (R(r) >= R(r') for r' < r), rho = R(r) has first crossing r and
    the ratio is R(r) / r; so the extreme is that of R(r) / r over those r between the crossings of
    rho_min and rho_max.  Largest for the forward map, smallest (over reachable radii) for ``reverse``.
    Radii the map never reaches give no constraint (0 forward, inf reverse).
    """
    pick = np.argmin if reverse else np.argmax
    none = math.inf if reverse else 0.0
    r_top = 4.0 * rho_max + 1.0
    grid = np.linspace(0.0, r_top, samples + 1)
    vals = fn(grid)
    vals = np.where(np.isfinite(vals), vals, -np.inf)
    lo_hi = _first_crossing(fn, np.array([rho_min, rho_max]), r_top, grid=(grid, vals))
    r_lo, r_hi = float(lo_hi[0]), float(lo_hi[1])
    if not math.isfinite(r_lo):
        return none
    cands = [rho_min / r_lo]
    if math.isfinite(r_hi):
        cands.append(rho_max / r_hi)
    else:
        r_hi = r_top
    cm = np.maximum.accumulate(vals)
    record = (vals >= cm) & (grid > r_lo) & (grid < r_hi)
    if np.any(record):
        idx = np.nonzero(record)[0]
        q = vals[idx] / grid[idx]
        k = int(idx[pick(q)])
        cands.append(float(vals[k] / grid[k]))
        # refine around the extreme between the neighbouring samples
        fine = np.linspace(max(grid[k - 1], r_lo), min(grid[min(k + 1, samples)], r_hi), 65)
        fv = fn(fine)
        ok = (fv >= cm[k - 1]) & (fine > 0)
        if np.any(ok):
            rf, qf = fine[ok], fv[ok] / fine[ok]
            m = int(pick(qf))
            cands.append(float(qf[m]))
            if 0 < m < len(qf) - 1:  # the vertex of the parabola through the extreme and its neighbours
                (a, b, c), (qa, qb, qc) = rf[m - 1:m + 2], qf[m - 1:m + 2]
                den = (b - a) * (qb - qc) - (b - c) * (qb - qa)
                if den != 0:
                    v = b - 0.5 * ((b - a) ** 2 * (qb - qc) - (b - c) ** 2 * (qb - qa)) / den
                    if a < v < c:
                        fvv = float(fn(np.array([v]))[0])
                        cands.append(fvv / v)
    return float(min(cands) if reverse else max(cands))


def auto_scale(g: FrameGeometry, *, distortion: ModelTerms | None = None, tca: ModelTerms | None = None,
               reverse: bool = False, samples: int = 512) -> float:
    """lensfun's automatic scale: the zoom that leaves no empty border, times lensfun's safety margins.

    lensfun 0.3.4 (``lfModifier::GetAutoScale``) searches 8 directions (edge
    midpoints and corners) for the output radius that distortion moves onto
    the frame's edge, and returns the largest ratio times 1.001, times 1.001
    again when TCA is on (TCA itself is ignored); without distortion it
    returns 1.001 with TCA and 1 without.  This function computes the same
    quantity exactly, over the whole frame boundary rather than 8 directions
    and over all three channels, so it also leaves no empty border where
    distortion is not monotonic along an edge or TCA exceeds the margin::

        s_G   = max over the boundary of rho / R_G^-1(rho)     (green: distortion only)
        s_all = the same over red, green and blue
        scale = s_G * 1.001 * max(1.001, s_all / s_G)  with TCA,   s_G * 1.001 without

    where ``rho`` is the distance from the optical centre to the frame edge in
    each direction and ``R_c`` the radial map of channel c (the first
    crossing is used, so fold-back beyond a polynomial's turning point cannot
    hide an empty border).  With ``reverse`` the result is the largest scale
    whose simulated frame has no empty border, divided by the margins.

    Radial models are handled in one dimension; a non-radial distortion
    model or a positional TCA model (``channel_positions``) falls back to a
    bisection over the boundary pixels through the exact maps.
    """
    _check(distortion, DistortionModel)
    _check(tca, TCAModel)
    if distortion is None and tca is None:
        return 1.0
    if (distortion is not None and not distortion.model.is_radial) or (tca is not None and not tca.model.is_radial):
        return _auto_scale_planar(g, distortion, tca, reverse)
    x0, x1, y0, y1 = g.bounds
    # distances from the optical centre to the frame edge: every value from the nearest edge to the farthest corner
    rho_min = min(abs(v) for v in (x0, x1, y0, y1)) if (x0 < 0 < x1 and y0 < 0 < y1) else 1e-9
    rho_max = g.corner_radius

    def radial(channel: int):
        # distance from the centre of where a point at radius r is sampled (a negative factor, far
        # outside a polynomial's calibrated range, mirrors the point through the centre)
        def fn(r):
            r = np.asarray(r, dtype=np.float64)
            rd = np.abs(r * distortion.model.radial_factor(r, distortion.params)) if distortion is not None else r
            if channel == 1 or tca is None:
                return rd
            fr, fb = tca.model.channel_factors(rd, tca.params)
            return np.abs(rd * (fr if channel == 0 else fb))

        return fn

    ratios = {c: _edge_ratio(radial(c), rho_min, rho_max, reverse, samples)
              for c in ((1,) if tca is None else (1, 0, 2))}
    if reverse:
        s_g = ratios[1] if np.isfinite(ratios[1]) else 1.0
        s_all = min(ratios.values())
        if distortion is None:
            return float(min(1.0 / AUTOSCALE_MARGIN, s_all))
        s = s_g / AUTOSCALE_MARGIN
        if tca is not None:
            s /= max(AUTOSCALE_MARGIN, s_g / s_all)
        return float(s)
    if distortion is not None and max(ratios.values()) < 0.01:
        warnings.warn("automatic scale: the distortion model never carries the frame's edge out of the frame "
                      "(the polynomial turns back beyond its calibrated radius); using lensfun's floor, 0.01 "
                      "(a 100x zoom). Pass a numeric scale instead.", CorrectionWarning, stacklevel=3)
    s_g = max(ratios[1], 0.01) if distortion is not None else 1.0
    s_all = max(ratios.values())
    if distortion is None:
        return float(max(AUTOSCALE_MARGIN, s_all))
    s = s_g * AUTOSCALE_MARGIN
    if tca is not None:
        s *= max(AUTOSCALE_MARGIN, s_all / s_g)
    return float(s)


def _auto_scale_planar(g: FrameGeometry, distortion: ModelTerms | None, tca: ModelTerms | None,
                       reverse: bool) -> float:
    """Automatic scale for non-radial models: bisection on the scale over every boundary pixel.

    The margins are those of :func:`auto_scale`; with TCA alone (no
    distortion) the scale is ``max(1.001, s_all)`` (reverse:
    ``min(1/1.001, s_all)``), as on the radial path.
    """
    bi, bj = boundary_pixels(g.width, g.height)
    ox, oy = pixel_to_normalized(g, bi, bj)
    x0, x1, y0, y1 = g.bounds
    slack = 1e-12

    tol = INVERSE_TOLERANCE_PX * g.norm_scale
    unscaled: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def channel(c: int, s: float) -> tuple[np.ndarray, np.ndarray]:
        if not reverse:
            return channel_map(ox, oy, c, scale=s, distortion=distortion, tca=tca)
        # the simulation map is scale * (a map independent of the scale): solve the inverses once
        if c not in unscaled:
            unscaled[c] = channel_map(ox, oy, c, distortion=distortion, tca=tca, reverse=True, tol=tol)
        mx, my = unscaled[c]
        return mx * s, my * s

    def fits(s: float, channels) -> bool:
        for c in channels:
            mx, my = channel(c, s)
            ok = (mx >= x0 - slack) & (mx <= x1 + slack) & (my >= y0 - slack) & (my <= y1 + slack)
            if not np.all(ok):
                return False
        return True

    def solve(channels) -> float:
        lo, hi = math.log(0.01), math.log(100.0)
        # forward: fits for large s; reverse: fits for small s
        for _ in range(60):
            mid = 0.5 * (lo + hi)
            good = fits(math.exp(mid), channels)
            if good != reverse:
                hi = mid
            else:
                lo = mid
        return math.exp(hi if not reverse else lo)

    if distortion is None:
        s_all = solve((0, 1, 2))
        return min(1.0 / AUTOSCALE_MARGIN, s_all) if reverse else max(AUTOSCALE_MARGIN, s_all)
    s_g = solve((1,))
    if tca is None:
        return s_g * AUTOSCALE_MARGIN if not reverse else s_g / AUTOSCALE_MARGIN
    s_all = solve((0, 1, 2))
    if reverse:
        return s_g / AUTOSCALE_MARGIN / max(AUTOSCALE_MARGIN, s_g / s_all)
    return s_g * AUTOSCALE_MARGIN * max(AUTOSCALE_MARGIN, s_all / s_g)
