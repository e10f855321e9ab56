"""lensfun 0.3.4's vignetting model ``pa``.

Relative illumination at radius r (1 = the calibration sensor's corner)::

    pa   c(r) = 1 + k1 r^2 + k2 r^4 + k3 r^6

The correction multiplies the captured pixel by 1/c (``mod-color.cpp``).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ..hookspecs import hookimpl
from .base import VignettingModel


class PAVignetting(VignettingModel):
    """lensfun's ``pa`` (PanoTools / Adobe) vignetting polynomial in r^2."""

    name = "pa"
    params = ("k1", "k2", "k3")
    defaults = {"k1": 0.0, "k2": 0.0, "k3": 0.0}
    description = "even polynomial falloff c(r) = 1 + k1 r^2 + k2 r^4 + k3 r^6 (lensfun pa)"

    def falloff(self, r: np.ndarray, p: Mapping[str, float]) -> np.ndarray:
        r2 = r * r
        return 1.0 + r2 * (p["k1"] + r2 * (p["k2"] + r2 * p["k3"]))


#: The models this module registers.
MODELS = (PAVignetting(),)


@hookimpl
def mountkit_register_correction_models(register):
    for model in MODELS:
        register(model)
