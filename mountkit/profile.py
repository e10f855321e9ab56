"""Lens identity and lens calibration data.

A :class:`Lens` is what a lens *is* (maker, model, mounts, focal range...).
A :class:`LensProfile` is what was *measured* on it: calibration sets for
distortion, lateral chromatic aberration (TCA), vignetting and any other kind
a correction plugin provides, in lensfun 0.3.4's conventions (normalised
radius relative to the calibration sensor, see ``docs/models.md``), with the
calibration sensor's crop factor and aspect ratio and the provenance of the
numbers.  Both are immutable and validated on construction.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from .errors import ProfileError

#: Kinds of calibration that the engine knows how to apply.  Plugins may add
#: more kinds (e.g. ``colour_shading``); the engine applies those that a
#: registered correction model declares.
KNOWN_KINDS = ("distortion", "tca", "vignetting")

#: Lens projection types, as lensfun names them.
LENS_TYPES = (
    "rectilinear",
    "fisheye",
    "panoramic",
    "equirectangular",
    "orthographic",
    "stereographic",
    "equisolid",
    "fisheye_thoby",
)


def _finite_positive(value, what: str, source: str | None, field_: str | None = None) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ProfileError(f"{what} must be a number, got {value!r}", source=source, field=field_) from None
    if not math.isfinite(v) or v <= 0:
        raise ProfileError(f"{what} must be a positive finite number, got {value!r}", source=source, field=field_)
    return v


@dataclass(frozen=True)
class Provenance:
    """Where calibration numbers come from.

    ``source`` names the measurement or the public source (e.g. "lensfun
    0.3.4 database, rf-leica.xml"), ``licence`` its licence (SPDX id where
    there is one).
    """

    source: str = ""
    licence: str = ""
    author: str = ""
    body: str = ""
    date: str = ""
    method: str = ""
    notes: str = ""


@dataclass(frozen=True)
class Calibration:
    """One calibration set.

    Parameters
    ----------
    kind : str
        ``"distortion"``, ``"tca"``, ``"vignetting"`` or a kind a plugin adds.
    model : str
        Model name within the kind (``"ptlens"``, ``"poly3"``, ``"pa"``...).
    focal : float
        Focal length in mm the set was measured at.
    params : Mapping[str, float]
        The model's parameters by name (finite numbers).
    aperture, distance : float or None
        f-number and focus distance in metres (vignetting sets need both).
    """

    kind: str
    model: str
    focal: float
    params: Mapping[str, float]
    aperture: float | None = None
    distance: float | None = None

    def __post_init__(self):
        if not isinstance(self.kind, str) or not self.kind:
            raise ProfileError(f"calibration kind must be a non-empty string, got {self.kind!r}")
        if not isinstance(self.model, str) or not self.model:
            raise ProfileError(f"{self.kind} calibration: model must be a non-empty string, got {self.model!r}")
        where = f"{self.kind} calibration ({self.model})"
        object.__setattr__(self, "focal", _finite_positive(self.focal, f"{where}: focal", None, "focal"))
        if self.aperture is not None:
            object.__setattr__(self, "aperture", _finite_positive(self.aperture, f"{where}: aperture", None, "aperture"))
        if self.distance is not None:
            object.__setattr__(self, "distance", _finite_positive(self.distance, f"{where}: distance", None, "distance"))
        if self.kind == "vignetting" and (self.aperture is None or self.distance is None):
            raise ProfileError(f"{where} at {self.focal} mm needs an aperture and a distance")
        params = {}
        for name, value in dict(self.params).items():
            try:
                v = float(value)
            except (TypeError, ValueError):
                raise ProfileError(f"{where}: parameter {name!r} must be a number, got {value!r}", field=name) from None
            if not math.isfinite(v):
                raise ProfileError(f"{where} at {self.focal} mm: parameter {name!r} is {value!r}", field=name)
            params[str(name)] = v
        object.__setattr__(self, "params", MappingProxyType(params))

    def __hash__(self):
        return hash((self.kind, self.model, self.focal, self.aperture, self.distance, tuple(sorted(self.params.items()))))

    def __eq__(self, other):
        if not isinstance(other, Calibration):
            return NotImplemented
        return (self.kind, self.model, self.focal, self.aperture, self.distance, dict(self.params)) == (
            other.kind, other.model, other.focal, other.aperture, other.distance, dict(other.params))


@dataclass(frozen=True)
class LensProfile:
    """Calibration data for one lens on one calibration sensor.

    Parameters
    ----------
    crop_factor : float
        Crop factor of the sensor the calibration was made on (lensfun's
        ``<cropfactor>``).  The normalised radius r = 1 is half the short side
        of that sensor.
    aspect_ratio : float
        Aspect ratio (long / short side) of the calibration sensor, 1.5 by
        default as in lensfun.
    center : (float, float)
        Lens centre offset in units of the image's half short side (lensfun's
        ``<center>``), (0, 0) for none.
    calibrations : tuple of Calibration
        All sets, in source order (lensfun uses the first model found of each
        kind; see :func:`mountkit.interpolate`).
    provenance : Provenance
    source : str
        File or plugin the profile was read from (for error messages).
    """

    crop_factor: float
    aspect_ratio: float = 1.5
    center: tuple[float, float] = (0.0, 0.0)
    calibrations: tuple[Calibration, ...] = ()
    provenance: Provenance = field(default_factory=Provenance)
    source: str = ""

    def __post_init__(self):
        src = self.source or None
        object.__setattr__(self, "crop_factor", _finite_positive(self.crop_factor, "crop_factor", src, "crop_factor"))
        object.__setattr__(self, "aspect_ratio", _finite_positive(self.aspect_ratio, "aspect_ratio", src, "aspect_ratio"))
        if self.aspect_ratio < 1:
            object.__setattr__(self, "aspect_ratio", 1.0 / self.aspect_ratio)
        cx, cy = self.center
        if not (math.isfinite(cx) and math.isfinite(cy)):
            raise ProfileError(f"center must be finite, got {self.center!r}", source=src, field="center")
        object.__setattr__(self, "center", (float(cx), float(cy)))
        cals = tuple(self.calibrations)
        for c in cals:
            if not isinstance(c, Calibration):
                raise ProfileError(f"calibrations must be Calibration objects, got {type(c).__name__}", source=src)
        object.__setattr__(self, "calibrations", cals)

    def of_kind(self, kind: str) -> tuple[Calibration, ...]:
        """The calibration sets of one kind, in source order."""
        return tuple(c for c in self.calibrations if c.kind == kind)

    @property
    def distortion(self) -> tuple[Calibration, ...]:
        return self.of_kind("distortion")

    @property
    def tca(self) -> tuple[Calibration, ...]:
        return self.of_kind("tca")

    @property
    def vignetting(self) -> tuple[Calibration, ...]:
        return self.of_kind("vignetting")

    @property
    def kinds(self) -> tuple[str, ...]:
        """The kinds this profile has data for, in first-seen order."""
        return tuple(dict.fromkeys(c.kind for c in self.calibrations))


@dataclass(frozen=True)
class Lens:
    """A lens: its identity, and its calibration when one exists.

    ``profile`` is None for a lens that is known (from a mount plugin's code
    table, say) but not calibrated yet; :attr:`calibrated` tells.
    ``focal_min``/``focal_max`` give the zoom range (equal for a prime) and
    ``aperture_max`` the largest aperture as an f-number (1.4 for f/1.4).
    """

    maker: str
    model: str
    mounts: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()
    lens_type: str = "rectilinear"
    focal_min: float | None = None
    focal_max: float | None = None
    aperture_max: float | None = None
    aperture_min: float | None = None
    leica_code: int | None = None
    profile: LensProfile | None = None
    source: str = ""

    def __post_init__(self):
        src = self.source or (self.profile.source if self.profile else None) or None
        if not isinstance(self.maker, str) or not isinstance(self.model, str) or not self.model.strip():
            raise ProfileError(f"lens needs a maker and a model, got {self.maker!r} {self.model!r}", source=src)
        if self.lens_type not in LENS_TYPES:
            raise ProfileError(
                f"lens {self.model!r}: unknown lens type {self.lens_type!r} (known: {', '.join(LENS_TYPES)})",
                source=src, field="lens_type")
        for name in ("focal_min", "focal_max", "aperture_max", "aperture_min"):
            v = getattr(self, name)
            if v is not None:
                object.__setattr__(self, name, _finite_positive(v, f"lens {self.model!r}: {name}", src, name))
        if self.focal_min is not None and self.focal_max is None:
            object.__setattr__(self, "focal_max", self.focal_min)
        if self.focal_max is not None and self.focal_min is None:
            object.__setattr__(self, "focal_min", self.focal_max)
        if self.focal_min is not None and self.focal_min > self.focal_max:
            raise ProfileError(f"lens {self.model!r}: focal_min {self.focal_min} > focal_max {self.focal_max}",
                               source=src, field="focal_min")
        object.__setattr__(self, "mounts", tuple(self.mounts))
        object.__setattr__(self, "aliases", tuple(self.aliases))

    @property
    def name(self) -> str:
        """``maker model``, without repeating the maker when the model starts with it."""
        if not self.maker or self.model.lower().startswith(self.maker.lower()):
            return self.model
        return f"{self.maker} {self.model}"

    @property
    def calibrated(self) -> bool:
        """True when a profile with at least one calibration set is attached."""
        return self.profile is not None and bool(self.profile.calibrations)

    @property
    def is_prime(self) -> bool:
        return self.focal_min is not None and self.focal_min == self.focal_max

    def __str__(self) -> str:
        return self.name
