"""Correction models: the mathematics of each correction, as plugins.

A model is an instance of a :class:`CorrectionModel` subclass registered on
``mountkit_register_correction_models``.  The built-in models (lensfun
0.3.4's ``poly3``, ``poly5``, ``ptlens`` distortion, ``linear`` and
``poly3`` TCA, ``pa`` vignetting) are registered by the modules of this
package exactly as a third-party plugin registers its own.

Coordinates are lensfun's normalised coordinates (see ``docs/models.md``):
distortion and TCA take points relative to the optical centre in units of
half the calibration sensor's short side; vignetting takes a radius with 1 at
the calibration sensor's corner.
"""

from __future__ import annotations

from .base import CorrectionModel, DistortionModel, TCAModel, VignettingModel

__all__ = ["CorrectionModel", "DistortionModel", "TCAModel", "VignettingModel"]
