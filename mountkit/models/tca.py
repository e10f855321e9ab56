"""lensfun 0.3.4's lateral chromatic aberration (TCA) models: ``linear`` and ``poly3``.

A TCA model scales a point, already moved by distortion, separately for the
red and blue channels (green is the reference and never moves)::

    linear  p_R = kr p,                       p_B = kb p
    poly3   p_R = p (br r^2 + cr r + vr),     p_B = p (bb r^2 + cb r + vb),   r = |p|

Missing terms default as in lensfun: kr = kb = vr = vb = 1, the others 0.
When interpolating across focal lengths lensfun scales cr, cb, br, bb by the
focal length but not kr, kb, vr, vb (``__parameter_scales`` in lens.cpp).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ..hookspecs import hookimpl
from .base import TCAModel


class LinearTCA(TCAModel):
    """lensfun's ``linear`` TCA: red and blue magnified by constant factors."""

    name = "linear"
    params = ("kr", "kb")
    defaults = {"kr": 1.0, "kb": 1.0}
    focal_scaled = ()
    description = "constant magnification of red and blue (lensfun linear TCA)"

    def channel_factors(self, r: np.ndarray, p: Mapping[str, float]):
        one = np.ones_like(r)
        return one * p["kr"], one * p["kb"]

    def inverse_channel_factors(self, r: np.ndarray, p: Mapping[str, float]):
        kr, kb = p["kr"], p["kb"]
        if kr == 0 or kb == 0:
            return NotImplemented
        one = np.ones_like(r)
        return one / kr, one / kb


class Poly3TCA(TCAModel):
    """lensfun's ``poly3`` TCA: a quadratic magnification per channel."""

    name = "poly3"
    params = ("vr", "vb", "cr", "cb", "br", "bb")
    defaults = {"vr": 1.0, "vb": 1.0, "cr": 0.0, "cb": 0.0, "br": 0.0, "bb": 0.0}
    focal_scaled = ("cr", "cb", "br", "bb")
    description = "quadratic radial magnification of red and blue (lensfun poly3 TCA)"

    def channel_factors(self, r: np.ndarray, p: Mapping[str, float]):
        red = (p["br"] * r + p["cr"]) * r + p["vr"]
        blue = (p["bb"] * r + p["cb"]) * r + p["vb"]
        return red, blue


#: The models this module registers.
MODELS = (LinearTCA(), Poly3TCA())


@hookimpl
def mountkit_register_correction_models(register):
    for model in MODELS:
        register(model)
