"""lensfun 0.3.4's distortion models: ``poly3``, ``poly5`` and ``ptlens``.

Every model maps a point of the corrected image to the captured frame by
multiplying it with a radial factor ``s(r)`` (lensfun's correction direction,
``modifier.cpp`` / ``mod-coord.cpp`` at tag v0.3.4)::

    poly3   s(r) = 1 - k1 + k1 r^2
    poly5   s(r) = 1 + k1 r^2 + k2 r^4
    ptlens  s(r) = a r^3 + b r^2 + c r + d,   d = 1 - a - b - c

``r`` is the radius in lensfun's normalised units (1 = half the short side of
the calibration sensor, see :mod:`mountkit.geometry`).  Terms missing from a
calibration are 0, as in lensfun's XML reader.  None of these models has a
closed-form inverse that is worth its complexity; the engine inverts them
numerically (see :func:`mountkit.geometry.invert_radial`).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ..hookspecs import hookimpl
from .base import DistortionModel


class Poly3(DistortionModel):
    """lensfun's ``poly3``: r_captured = k1 r^3 + (1 - k1) r."""

    name = "poly3"
    params = ("k1",)
    defaults = {"k1": 0.0}
    description = "cubic radial polynomial (lensfun poly3): r_d = r (1 - k1 + k1 r^2)"

    def radial_factor(self, r: np.ndarray, p: Mapping[str, float]) -> np.ndarray:
        k1 = p["k1"]
        return (1.0 - k1) + k1 * (r * r)


class Poly5(DistortionModel):
    """lensfun's ``poly5``: r_captured = r (1 + k1 r^2 + k2 r^4)."""

    name = "poly5"
    params = ("k1", "k2")
    defaults = {"k1": 0.0, "k2": 0.0}
    description = "quintic radial polynomial (lensfun poly5): r_d = r (1 + k1 r^2 + k2 r^4)"

    def radial_factor(self, r: np.ndarray, p: Mapping[str, float]) -> np.ndarray:
        r2 = r * r
        return 1.0 + r2 * (p["k1"] + p["k2"] * r2)


class PTLens(DistortionModel):
    """lensfun's ``ptlens`` (PanoTools): r_captured = r (a r^3 + b r^2 + c r + 1 - a - b - c)."""

    name = "ptlens"
    params = ("a", "b", "c")
    defaults = {"a": 0.0, "b": 0.0, "c": 0.0}
    description = "PanoTools quartic (lensfun ptlens): r_d = r (a r^3 + b r^2 + c r + d), d = 1 - a - b - c"

    def radial_factor(self, r: np.ndarray, p: Mapping[str, float]) -> np.ndarray:
        a, b, c = p["a"], p["b"], p["c"]
        d = 1.0 - a - b - c
        return ((a * r + b) * r + c) * r + d


#: The models this module registers.
MODELS = (Poly3(), Poly5(), PTLens())


@hookimpl
def mountkit_register_correction_models(register):
    for model in MODELS:
        register(model)
