"""Adobe's lens models (the "Adobe Camera Model" of Lens Correction Profiles), as correction-model plugins.

Imported LCP profiles (:mod:`mountkit.formats.lcp`) keep Adobe's own models,
exactly, rather than approximating them with lensfun's: every kind is
registered under the model name ``adobe``.

Adobe normalises a point by the focal length in pixels and a principal point
of its own, per sub-model (``../shared/reference/lcp-and-dng.md`` §1.6-1.10,
after RawTherapee's ``rtengine/lcp.cc`` and lensfun's documentation of its
ACM models).  mountkit works in lensfun's normalised coordinates (distortion
and TCA: 1 = half the short side of the calibration sensor; vignetting: 1 =
its corner), so each model carries its focal length ``fx``, ``fy`` and
principal point ``cx``, ``cy`` in those units; the importer converts them from
the LCP's ``FocalLengthX/Y`` and ``ImageX/YCenter`` and the calibration image
size.  With (x, y) the point relative to the principal point in focal-length
units and r^2 = x^2 + y^2:

distortion (``PerspectiveModel``), ideal -> captured::

    R   = 1 + k1 r^2 + k2 r^4 + k3 r^6
    x_d = x R + 2 (k4 y + k5 x) x + k5 r^2
    y_d = y R + 2 (k4 y + k5 x) y + k4 r^2

lateral CA (``ChromaticRedGreenModel``, ``ChromaticBlueGreenModel``): the red
(blue) point is the green point, distorted by the same polynomial with the
channel's own coefficients, then scaled by the channel's ``ScaleFactor`` (s)::

    p_red = s_r * D_r(p_green)

vignetting (``VignetteModel``): relative illumination, the correction divides
by it::

    c = 1 + a1 r^2 + a2 r^4 + a3 r^6

The exact, position-based forms are :meth:`AdobeDistortion.distort`,
:meth:`AdobeTCA.channel_positions` and :meth:`AdobeVignetting.falloff_xy`.
The radial forms the engine's base classes ask for
(:meth:`AdobeTCA.channel_factors`, :meth:`AdobeVignetting.falloff`) are
exact when the sub-model's principal point is the image centre and its
tangential terms are zero; otherwise they evaluate the model about the image
centre without the tangential terms.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ..hookspecs import hookimpl
from .base import DistortionModel, TCAModel, VignettingModel

_K = ("k1", "k2", "k3", "k4", "k5")


# -- the mathematics ------------------------------------------------------------


def acm_distort(x: np.ndarray, y: np.ndarray, k1: float, k2: float, k3: float, k4: float = 0.0,
                k5: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Adobe's rectilinear distortion of a point in focal-length units (ideal -> captured).

    ``k1..k3`` are the radial (RadialDistortParam1..3) and ``k4``, ``k5`` the
    tangential (TangentialDistortParam1..2) coefficients; k4 plays the part of
    OpenCV's p1 and k5 of p2.

    >>> acm_distort(np.array(0.1), np.array(0.0), -0.5, 0.0, 0.0)[0].round(6)
    np.float64(0.0995)
    """
    r2 = x * x + y * y
    radial = 1.0 + r2 * (k1 + r2 * (k2 + r2 * k3))
    common = 2.0 * (k4 * y + k5 * x)
    return x * radial + common * x + k5 * r2, y * radial + common * y + k4 * r2


def acm_falloff(r2: np.ndarray, a1: float, a2: float, a3: float) -> np.ndarray:
    """Adobe's vignetting: relative illumination 1 + a1 r^2 + a2 r^4 + a3 r^6 from r^2 (focal-length units)."""
    return 1.0 + r2 * (a1 + r2 * (a2 + r2 * a3))


def _through(x, y, fx, fy, cx, cy, k, scale=1.0):
    """Apply an Adobe sub-model to normalised points: to its focal units, distort, scale, back."""
    xl = (x - cx) / fx
    yl = (y - cy) / fy
    xd, yd = acm_distort(xl, yl, *k)
    return scale * xd * fx + cx, scale * yd * fy + cy


# -- the models -----------------------------------------------------------------


class AdobeDistortion(DistortionModel):
    """Adobe's ``PerspectiveModel``: radial k1..k3 and tangential k4, k5 about its own principal point.

    Parameters: ``fx``, ``fy`` (focal length in units of half the calibration
    sensor's short side), ``cx``, ``cy`` (principal point, same units, from
    the image centre), ``k1``..``k5``.
    """

    name = "adobe"
    params = ("fx", "fy", "cx", "cy") + _K
    defaults = {"cx": 0.0, "cy": 0.0, "k1": 0.0, "k2": 0.0, "k3": 0.0, "k4": 0.0, "k5": 0.0}
    focal_scaled = ()
    description = "Adobe Camera Model distortion (LCP PerspectiveModel): radial k1..k3, tangential k4, k5"

    def distort(self, x: np.ndarray, y: np.ndarray, p: Mapping[str, float]):
        return _through(x, y, p["fx"], p["fy"], p["cx"], p["cy"], [p[k] for k in _K])


class AdobeTCA(TCAModel):
    """Adobe's lateral CA: red and blue as green distorted by their own models and scaled.

    Parameters, for the red (``r``) and blue (``b``) channel models:
    ``rs``/``bs`` (ScaleFactor), ``rfx``, ``rfy``, ``rcx``, ``rcy`` (focal
    length and principal point as in :class:`AdobeDistortion`) and ``rk1``..``rk5``.
    """

    name = "adobe"
    params = tuple(f"{c}{n}" for c in "rb" for n in ("s", "fx", "fy", "cx", "cy") + _K)
    defaults = {f"{c}{n}": (1.0 if n == "s" else 0.0) for c in "rb" for n in ("s", "cx", "cy") + _K}
    focal_scaled = ()
    description = "Adobe Camera Model lateral CA (LCP ChromaticRedGreen/BlueGreen models)"

    @staticmethod
    def _channel(c: str, p: Mapping[str, float]):
        return p[f"{c}fx"], p[f"{c}fy"], p[f"{c}cx"], p[f"{c}cy"], [p[f"{c}{k}"] for k in _K], p[f"{c}s"]

    def channel_positions(self, x: np.ndarray, y: np.ndarray, p: Mapping[str, float]):
        """Exact red and blue positions ``((xr, yr), (xb, yb))`` of green points (x, y), normalised units."""
        fx, fy, cx, cy, k, s = self._channel("r", p)
        red = _through(x, y, fx, fy, cx, cy, k, s)
        fx, fy, cx, cy, k, s = self._channel("b", p)
        blue = _through(x, y, fx, fy, cx, cy, k, s)
        return red, blue

    def channel_factors(self, r: np.ndarray, p: Mapping[str, float]):
        r = np.asarray(r, dtype=float)
        out = []
        for c in "rb":
            fx, fy, _, _, k, s = self._channel(c, p)
            f = np.sqrt(fx * fy)
            rl2 = (r / f) ** 2
            out.append(s * (1.0 + rl2 * (k[0] + rl2 * (k[1] + rl2 * k[2]))))
        return out[0], out[1]


class AdobeVignetting(VignettingModel):
    """Adobe's ``VignetteModel``: relative illumination 1 + a1 r^2 + a2 r^4 + a3 r^6.

    Parameters: ``fx``, ``fy``, ``cx``, ``cy`` in vignetting units (1 = the
    calibration sensor's corner) and ``a1``..``a3`` (VignetteModelParam1..3).
    """

    name = "adobe"
    params = ("fx", "fy", "cx", "cy", "a1", "a2", "a3")
    defaults = {"cx": 0.0, "cy": 0.0, "a1": 0.0, "a2": 0.0, "a3": 0.0}
    focal_scaled = ()
    description = "Adobe Camera Model vignetting (LCP VignetteModel): 1 + a1 r^2 + a2 r^4 + a3 r^6"

    def falloff_xy(self, x: np.ndarray, y: np.ndarray, p: Mapping[str, float]) -> np.ndarray:
        """Exact relative illumination at points (x, y) in vignetting units (1 = calibration corner)."""
        xl = (x - p["cx"]) / p["fx"]
        yl = (y - p["cy"]) / p["fy"]
        return acm_falloff(xl * xl + yl * yl, p["a1"], p["a2"], p["a3"])

    def falloff(self, r: np.ndarray, p: Mapping[str, float]) -> np.ndarray:
        r = np.asarray(r, dtype=float)
        f = np.sqrt(p["fx"] * p["fy"])
        return acm_falloff((r / f) ** 2, p["a1"], p["a2"], p["a3"])


#: The models this module registers.
MODELS = (AdobeDistortion(), AdobeTCA(), AdobeVignetting())


@hookimpl
def mountkit_register_correction_models(register):
    for model in MODELS:
        register(model)
