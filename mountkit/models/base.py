"""Base classes of correction models (the contract a model plugin implements)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import ClassVar

import numpy as np

from ..errors import ProfileError


class CorrectionModel:
    """A correction model.

    Class attributes a subclass sets:

    kind : str
        "distortion", "tca", "vignetting", or a new kind.
    name : str
        The model name profiles use ("ptlens").
    params : tuple of str
        Parameter names, in their conventional order.
    defaults : mapping
        Values for parameters a calibration leaves out (a parameter without a
        default is required).
    focal_scaled : tuple of str or None
        Parameters multiplied by the focal length before interpolating across
        focal lengths (lensfun does this for every distortion term and for
        the TCA terms other than vr/vb).  None means all.
    """

    kind: ClassVar[str] = ""
    name: ClassVar[str] = ""
    params: ClassVar[tuple[str, ...]] = ()
    defaults: ClassVar[Mapping[str, float]] = {}
    focal_scaled: ClassVar[tuple[str, ...] | None] = None
    description: ClassVar[str] = ""

    def check_declaration(self) -> None:
        """Raise ProfileError unless the class declares kind, name and parameters properly."""
        if not isinstance(self.kind, str) or not self.kind:
            raise ProfileError(f"{type(self).__name__}: kind must be a non-empty string")
        if not isinstance(self.name, str) or not self.name:
            raise ProfileError(f"{type(self).__name__}: name must be a non-empty string")
        if not all(isinstance(p, str) and p for p in self.params):
            raise ProfileError(f"{type(self).__name__}: params must be non-empty strings")
        unknown = set(self.defaults) - set(self.params)
        if unknown:
            raise ProfileError(f"{type(self).__name__}: defaults for undeclared params {sorted(unknown)}")

    def resolve_params(self, params: Mapping[str, float], *, where: str = "") -> dict[str, float]:
        """Complete ``params`` with defaults; reject unknown, missing and non-finite values."""
        prefix = f"{where}: " if where else ""
        unknown = set(params) - set(self.params)
        if unknown:
            raise ProfileError(f"{prefix}{self.kind} model {self.name!r} has no parameter(s) {sorted(unknown)}; "
                               f"it takes {list(self.params)}")
        out = {}
        for p in self.params:
            if p in params:
                v = float(params[p])
            elif p in self.defaults:
                v = float(self.defaults[p])
            else:
                raise ProfileError(f"{prefix}{self.kind} model {self.name!r} needs parameter {p!r}")
            if not math.isfinite(v):
                raise ProfileError(f"{prefix}{self.kind} model {self.name!r}: parameter {p!r} is {v}")
            out[p] = v
        return out

    def scaled(self) -> tuple[str, ...]:
        """The parameters scaled by focal length for interpolation."""
        return self.params if self.focal_scaled is None else self.focal_scaled

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.kind}/{self.name}>"


class DistortionModel(CorrectionModel):
    """A distortion model.

    ``distort(x, y, p)`` maps points of the corrected image to the captured
    frame (lensfun's correction direction) in normalised coordinates.
    A radial model implements ``radial_factor(r, p)`` instead, the factor s
    with r_captured = r * s(r); ``distort`` is then derived from it.
    ``undistort`` (captured -> corrected) may be given; the engine otherwise
    inverts ``distort`` numerically.
    """

    kind = "distortion"

    def radial_factor(self, r: np.ndarray, p: Mapping[str, float]) -> np.ndarray:
        raise NotImplementedError

    @property
    def is_radial(self) -> bool:
        return type(self).radial_factor is not DistortionModel.radial_factor

    def distort(self, x: np.ndarray, y: np.ndarray, p: Mapping[str, float]) -> tuple[np.ndarray, np.ndarray]:
        s = self.radial_factor(np.hypot(x, y), p)
        return x * s, y * s

    def undistort(self, x: np.ndarray, y: np.ndarray, p: Mapping[str, float]):
        """Inverse of :meth:`distort`; return NotImplemented to let the engine invert numerically."""
        return NotImplemented


class TCAModel(CorrectionModel):
    """A lateral chromatic aberration model.

    ``channel_factors(r, p)`` returns the factors (s_red, s_blue) that scale a
    point at radius r (after distortion) to where red and blue are found in
    the captured frame; green is the reference and is never moved.

    A model that is not radial about the profile's optical centre (its own
    principal point, tangential terms, per-plane warps) also defines the
    optional method ``channel_positions(x, y, p)``::

        def channel_positions(self, x, y, p) -> ((x_red, y_red), (x_blue, y_blue))

    where (x, y) are green positions *after distortion* in the engine's
    normalised coordinates (distortion/TCA units: origin on the profile's
    optical centre, 1 = half the short side of the calibration sensor) and
    the results are where red and blue are sampled, in the same units.  The
    engine then uses it, exactly, instead of ``channel_factors`` (which such
    a model still defines, as its best radial approximation, for code that
    needs one); the simulation (``reverse=True``) inverts it with Newton's
    method on the plane.  It must be vectorised over arrays of any shape.
    Base classes deliberately define no default for it: other code asks
    ``hasattr(model, "channel_positions")`` (or :attr:`is_radial`) to tell
    positional models from radial ones.
    """

    kind = "tca"

    @property
    def is_radial(self) -> bool:
        """True unless the model defines the positional form ``channel_positions``."""
        return not callable(getattr(self, "channel_positions", None))

    def channel_factors(self, r: np.ndarray, p: Mapping[str, float]) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def inverse_channel_factors(self, r: np.ndarray, p: Mapping[str, float]):
        """Optional inverse: factors taking a red/blue point at captured radius r back to the green position.

        Return NotImplemented (the default) to let the engine invert
        :meth:`channel_factors` numerically.
        """
        return NotImplemented


class VignettingModel(CorrectionModel):
    """A vignetting model.

    ``falloff(r, p)`` is the relative illumination c(r) at radius r (1 at the
    calibration sensor's corner); the correction multiplies the captured
    pixel by 1/c.

    A model whose centre is not the profile's optical centre also defines the
    optional method ``falloff_xy(x, y, p)``: the relative illumination at
    points (x, y) in *vignetting units*, i.e. the engine's normalised
    coordinates (origin on the profile's optical centre) divided by the
    calibration sensor's half-diagonal ``sqrt(AR^2 + 1)``, so that
    ``falloff_xy(x, y, p)`` of a centred model is ``falloff(hypot(x, y), p)``.
    The engine then uses it, exactly, instead of ``falloff``.  As for
    :class:`TCAModel`, there is no default: ``hasattr(model, "falloff_xy")``
    (or :attr:`is_radial`) tells positional models from radial ones.
    """

    kind = "vignetting"

    @property
    def is_radial(self) -> bool:
        """True unless the model defines the positional form ``falloff_xy``."""
        return not callable(getattr(self, "falloff_xy", None))

    def falloff(self, r: np.ndarray, p: Mapping[str, float]) -> np.ndarray:
        raise NotImplementedError
