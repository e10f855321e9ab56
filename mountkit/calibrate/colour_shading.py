"""Colour shading: a new correction kind, ``colour_shading``, and its model ``poly4`` (a correction-model plugin).

Wide rangefinder lenses on digital sensors cast colour towards the frame's
edges (rays reach the sensor's microlenses and colour filters at steep
angles), and not always symmetrically.  Vignetting (``pa``) corrects
brightness with one radial gain for all channels; colour shading is what is
left per channel: a smooth, not necessarily radial, relative illumination
s_c(u, v) of each channel c, corrected by multiplying the captured channel by
``1 / s_c`` (after the vignetting gain, on linear data)::

    s_c(u, v) = 1 + sum over 1 <= i + j <= 4 of  c_ij u^i v^j        c in r, g, b

``(u, v)`` are lensfun's normalised coordinates divided by the calibration
sensor's half-diagonal (the vignetting unit): the calibration sensor's
corners are at distance 1 from the centre, u grows to the right, v downwards
(rows), in the frame as stored by the sensor.  Being tied to the calibration
sensor like every other kind, the model rescales to other bodies through the
profile's crop factor and aspect ratio.  Parameters are named
``<channel><i><j>`` (``r10``, ``b22``...) and default to 0.

This module registers the model on ``mountkit_register_correction_models``,
exactly as a third-party plugin would.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

import numpy as np

from .. import geometry as geo
from ..hookspecs import hookimpl
from ..models.base import CorrectionModel

#: The new correction kind.
KIND = "colour_shading"
#: Largest total degree of the polynomial.
DEGREE = 4
#: Exponents (i, j) of u^i v^j, constant term excluded, by increasing degree.
EXPONENTS: tuple[tuple[int, int], ...] = tuple((d - j, j) for d in range(1, DEGREE + 1) for j in range(d + 1))
CHANNELS = ("r", "g", "b")


def param_name(channel: str, i: int, j: int) -> str:
    """``("r", 2, 1)`` -> ``"r21"``."""
    return f"{channel}{i}{j}"


def monomials(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """u^i v^j for every exponent pair of :data:`EXPONENTS`, stacked on the last axis."""
    u = np.asarray(u, dtype=np.float64)
    v = np.asarray(v, dtype=np.float64)
    return np.stack([u ** i * v ** j for i, j in EXPONENTS], axis=-1)


class ColourShadingModel(CorrectionModel):
    """Base class of colour-shading models: ``shading(u, v, p)`` -> relative illumination per channel."""

    kind: ClassVar[str] = KIND
    focal_scaled: ClassVar[tuple[str, ...] | None] = ()  # nothing scales with the focal length

    def shading(self, u: np.ndarray, v: np.ndarray, p: Mapping[str, float]) -> np.ndarray:
        """Relative illumination s_c at (u, v), shape ``(3,) + broadcast(u, v).shape`` (R, G, B)."""
        raise NotImplementedError


class Poly4Shading(ColourShadingModel):
    """Per-channel bivariate polynomial of total degree 4 with s_c(0, 0) = 1."""

    name = "poly4"
    params = tuple(param_name(c, i, j) for c in CHANNELS for i, j in EXPONENTS)
    defaults = {p: 0.0 for p in params}
    description = ("per-channel colour shading: s_c(u, v) = 1 + sum c_ij u^i v^j, 1 <= i + j <= 4, "
                   "u, v in units of the calibration sensor's half-diagonal")

    def coefficients(self, p: Mapping[str, float]) -> np.ndarray:
        """(3, len(EXPONENTS)) coefficient array from parameters."""
        return np.array([[float(p.get(param_name(c, i, j), 0.0)) for i, j in EXPONENTS] for c in CHANNELS])

    def shading(self, u, v, p):
        m = monomials(u, v)
        return 1.0 + np.moveaxis(m @ self.coefficients(p).T, -1, 0)


def frame_uv(g: geo.FrameGeometry, i, j) -> tuple[np.ndarray, np.ndarray]:
    """(u, v) of pixel positions: normalised coordinates over the calibration half-diagonal."""
    x, y = geo.pixel_to_normalized(g, i, j)
    return x / g.calibration_diagonal, y / g.calibration_diagonal


def shading_gains(g: geo.FrameGeometry, model: ColourShadingModel, params: Mapping[str, float], *,
                  rows: slice | None = None, reverse: bool = False) -> np.ndarray:
    """The per-channel factor of every pixel, (3, H, W) float64: 1/s_c to correct, s_c with ``reverse``.

    Where s_c is not positive (far outside the calibrated area) the factor is 0.
    """
    r0, r1, _ = (rows or slice(None)).indices(g.height)
    xs = np.arange(g.width, dtype=np.float64)[None, :]
    ys = np.arange(r0, r1, dtype=np.float64)[:, None]
    u, v = frame_uv(g, xs, ys)
    s = model.shading(u, v, params)
    if reverse:
        return np.where(s > 0, s, 0.0)
    with np.errstate(divide="ignore"):
        return np.where(s > 0, 1.0 / np.where(s > 0, s, 1.0), 0.0)


#: The models this module registers.
MODELS = (Poly4Shading(),)


@hookimpl
def mountkit_register_correction_models(register):
    for model in MODELS:
        register(model)
