"""Fitzgibbon's division model as a third-party correction-model plugin, for the tests that need one."""

from __future__ import annotations

import numpy as np

import mountkit
from mountkit.models import DistortionModel


class DivisionModel(DistortionModel):
    """Fitzgibbon's division model: r_corrected = r_captured / (1 + k r_captured^2), with its analytic inverse."""

    name = "division"
    params = ("k",)
    description = "one-parameter division model (test plugin)"

    def radial_factor(self, r, p):
        # lensfun's direction: the captured radius of a corrected one (root of k r_d^2 r_u - r_d + r_u = 0);
        # NaN beyond the model's domain, where there is no such point
        with np.errstate(invalid="ignore"):
            return 2.0 / (1.0 + np.sqrt(1.0 - 4.0 * p["k"] * r * r))

    def undistort(self, x, y, p):
        s = 1.0 / (1.0 + p["k"] * (x * x + y * y))
        return x * s, y * s


class DivisionPlugin:
    @mountkit.hookimpl
    def mountkit_register_correction_models(self, register):
        register(DivisionModel())
