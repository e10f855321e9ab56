"""Lens mounts and camera bodies: the hardware a lens profile is applied on."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from .errors import ProfileError

#: Diagonal of the 36 x 24 mm frame, the reference of every crop factor (mm).
FULL_FRAME_DIAGONAL = math.hypot(36.0, 24.0)


def crop_factor_from_sensor(width_mm: float, height_mm: float) -> float:
    """Crop factor of a sensor: the 36 x 24 mm diagonal over the sensor's diagonal.

    >>> round(crop_factor_from_sensor(13.1072, 9.8304), 3)
    2.641
    """
    if not (width_mm > 0 and height_mm > 0):
        raise ProfileError(f"sensor size must be positive, got {width_mm} x {height_mm} mm")
    return FULL_FRAME_DIAGONAL / math.hypot(width_mm, height_mm)


def _positive(value, what: str, source: str) -> None:
    if value is not None and not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
        raise ProfileError(f"{what} must be a positive finite number, got {value!r}", source=source)


@dataclass(frozen=True)
class Mount:
    """A lens mount.

    Parameters
    ----------
    name : str
        The mount's name as lensfun spells it where lensfun knows it ("Leica M").
    flange_distance : float or None
        Flange focal distance in mm (None when unknown).
    throat_diameter : float or None
        Inner diameter of the mount in mm.
    compatible : tuple of str
        Mounts whose lenses fit this one through a plain adapter.
    notes : str
        Free text: electrical contacts, coding, adapters.
    source : str
        The plugin that registered it (filled in by the registry).
    """

    name: str
    flange_distance: float | None = None
    throat_diameter: float | None = None
    compatible: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()
    notes: str = ""
    source: str = ""

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name.strip():
            raise ProfileError(f"mount name must be a non-empty string, got {self.name!r}", source=self.source or None)
        _positive(self.flange_distance, f"mount {self.name!r}: flange_distance", self.source)
        _positive(self.throat_diameter, f"mount {self.name!r}: throat_diameter", self.source)
        object.__setattr__(self, "compatible", tuple(self.compatible))
        object.__setattr__(self, "aliases", tuple(self.aliases))


@dataclass(frozen=True)
class Camera:
    """A camera body.

    The crop factor is computed from the sensor size when it is given
    (diagonal ratio to 36 x 24 mm); databases that only know a crop factor
    (lensfun) give ``crop_factor`` directly and leave the sensor size unknown.
    """

    maker: str
    model: str
    mount: str | None = None
    sensor_width: float | None = None  # mm
    sensor_height: float | None = None  # mm
    resolution: tuple[int, int] | None = None  # (width, height) px
    bit_depth: int | None = None
    aliases: tuple[str, ...] = ()
    crop_factor: float = field(default=0.0)
    notes: str = ""
    source: str = ""

    def __post_init__(self):
        src = self.source or None
        if not self.maker or not self.model:
            raise ProfileError(f"camera needs a maker and a model, got {self.maker!r} {self.model!r}", source=src)
        has_sensor = self.sensor_width is not None or self.sensor_height is not None
        if has_sensor:
            _positive(self.sensor_width, f"camera {self.name!r}: sensor_width", self.source)
            _positive(self.sensor_height, f"camera {self.name!r}: sensor_height", self.source)
            if self.sensor_width is None or self.sensor_height is None:
                raise ProfileError(f"camera {self.name!r}: give both sensor_width and sensor_height", source=src)
            computed = crop_factor_from_sensor(self.sensor_width, self.sensor_height)
            if self.crop_factor and abs(self.crop_factor - computed) > 0.01 * computed:
                raise ProfileError(
                    f"camera {self.name!r}: crop_factor {self.crop_factor} contradicts the sensor size "
                    f"{self.sensor_width} x {self.sensor_height} mm (crop {computed:.4f})",
                    source=src,
                )
            object.__setattr__(self, "crop_factor", computed)
        else:
            _positive(self.crop_factor or None, f"camera {self.name!r}: crop_factor", self.source)
            if not self.crop_factor:
                raise ProfileError(f"camera {self.name!r}: give a sensor size or a crop_factor", source=src)
        if self.resolution is not None:
            w, h = self.resolution
            if not (isinstance(w, int) and isinstance(h, int) and w > 0 and h > 0):
                raise ProfileError(f"camera {self.name!r}: resolution must be two positive integers", source=src)
            object.__setattr__(self, "resolution", (w, h))
        object.__setattr__(self, "aliases", tuple(self.aliases))

    @property
    def name(self) -> str:
        """``maker model``, without repeating the maker when the model starts with it."""
        if self.model.lower().startswith(self.maker.lower()):
            return self.model
        return f"{self.maker} {self.model}"

    @property
    def sensor_size(self) -> tuple[float, float] | None:
        """(width, height) of the sensor in mm, or None when only the crop factor is known."""
        if self.sensor_width is None:
            return None
        return (self.sensor_width, self.sensor_height)

    @property
    def pixel_pitch(self) -> float | None:
        """Pixel pitch in micrometres, when sensor size and resolution are both known."""
        if self.sensor_width is None or self.resolution is None:
            return None
        return 1000.0 * self.sensor_width / self.resolution[0]
