"""DNG opcode lists (OpcodeList1/2/3): the opcodes as data, parsed from and serialised to bytes.

An opcode list is a byte blob, always big-endian whatever the TIFF byte order
(layout in ``docs/dng.md``; DNG specification 1.4/1.6 chapter 6, checked
against the Adobe DNG SDK's ``dng_opcode_list::Parse`` and the parameter
readers of ``dng_lens_correction.cpp`` and ``dng_gain_map.cpp``)::

    uint32 count
    count times:  uint32 id, 4 bytes minimum DNG version, uint32 flags,
                  uint32 byte count B, B bytes of parameters

This module only moves between bytes and validated objects; the mathematics
of each opcode lives in :mod:`mountkit.dng.warp` and :mod:`mountkit.dng.gain`.

Opcodes mountkit decodes: WarpRectilinear (1), WarpFisheye (2),
FixVignetteRadial (3), GainMap (9) and WarpRectilinear2 (14).  Every other
opcode is kept as an :class:`UnsupportedOpcode` with its raw parameters, so a
list round-trips byte for byte.  An opcode whose header is sound but whose
parameters are not (wrong byte count, absurd plane count, NaN...) becomes an
:class:`InvalidOpcode` carrying the error; a list whose structure is broken
(truncated, inconsistent byte counts) raises :class:`OpcodeError`.
:meth:`OpcodeList.applicable` then decides, for one processing stage, which
opcodes run, which are skipped (optional ones mountkit cannot apply) and
refuses the stage when a required one cannot be applied.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

import numpy as np

from ..errors import FrameError

#: TIFF tags of the three opcode lists, by list number.
OPCODE_LIST_TAGS: dict[int, int] = {1: 51008, 2: 51009, 3: 51022}

#: Processing stage of each list (DNG 1.4 chapter 6): what the opcodes act on.
STAGES: dict[int, str] = {
    1: "raw data as stored, before linearisation",
    2: "linearised CFA mosaic, before demosaicing",
    3: "demosaiced RGB image",
}

#: Opcode names by id (DNG 1.4 table "Opcode IDs", WarpRectilinear2 from DNG 1.6).
OPCODE_NAMES: dict[int, str] = {
    1: "WarpRectilinear",
    2: "WarpFisheye",
    3: "FixVignetteRadial",
    4: "FixBadPixelsConstant",
    5: "FixBadPixelsList",
    6: "TrimBounds",
    7: "MapTable",
    8: "MapPolynomial",
    9: "GainMap",
    10: "DeltaPerRow",
    11: "DeltaPerColumn",
    12: "ScalePerRow",
    13: "ScalePerColumn",
    14: "WarpRectilinear2",
}

FLAG_OPTIONAL = 1
FLAG_SKIP_IF_PREVIEW = 2

#: The SDK's limit on colour planes (``kMaxColorPlanes``).
MAX_PLANES = 4

_HEADER = struct.Struct(">IBBBBII")  # id, version[4], flags, byte count


class OpcodeError(FrameError):
    """An opcode list, or one opcode in it, is malformed or cannot be applied.

    Attributes name where: ``source`` (file), ``list_number`` (1, 2 or 3),
    ``index`` (0-based position in the list), ``opcode`` (name) and
    ``field`` (parameter).  The message says what to do.
    """

    def __init__(self, message: str, *, source: str | None = None, list_number: int | None = None,
                 index: int | None = None, opcode: str | None = None, field: str | None = None):
        self.reason = message
        self.source = source
        self.list_number = list_number
        self.index = index
        self.opcode = opcode
        self.field = field
        super().__init__(self._compose())

    def _compose(self) -> str:
        where = []
        if self.source:
            where.append(str(self.source))
        if self.list_number is not None:
            where.append(f"OpcodeList{self.list_number} (tag {OPCODE_LIST_TAGS.get(self.list_number, '?')})")
        if self.index is not None:
            where.append(f"opcode #{self.index + 1}" + (f" ({self.opcode})" if self.opcode else ""))
        elif self.opcode:
            where.append(self.opcode)
        if self.field:
            where.append(f"field {self.field!r}")
        return f"{', '.join(where)}: {self.reason}" if where else self.reason

    def located(self, **where: Any) -> OpcodeError:
        """A copy with more location filled in (existing values win)."""
        merged = {k: getattr(self, k) for k in ("source", "list_number", "index", "opcode", "field")}
        for k, v in where.items():
            if merged.get(k) is None:
                merged[k] = v
        return OpcodeError(self.reason, **merged)


# -- helpers --------------------------------------------------------------------


def _floats(values: Iterable[Any], n: int, what: str, *, opcode: str) -> tuple[float, ...]:
    vals = tuple(values)
    if len(vals) != n:
        raise OpcodeError(f"needs {n} values, got {len(vals)}", opcode=opcode, field=what)
    out = []
    for v in vals:
        try:
            f = float(v)
        except (TypeError, ValueError):
            raise OpcodeError(f"must be numbers, got {v!r}", opcode=opcode, field=what) from None
        if not math.isfinite(f):
            raise OpcodeError(f"contains {f}; the opcode is corrupt (coefficients must be finite)",
                              opcode=opcode, field=what)
        out.append(f)
    return tuple(out)


def _center(center: Sequence[Any], opcode: str) -> tuple[float, float]:
    cx, cy = _floats(center, 2, "center", opcode=opcode)
    if not (0.0 <= cx <= 1.0 and 0.0 <= cy <= 1.0):
        raise OpcodeError(f"optical centre ({cx}, {cy}) is outside 0..1 (it is relative to the image width "
                          "and height)", opcode=opcode, field="center")
    return cx, cy


def _planes(n: Any, opcode: str) -> int:
    if not isinstance(n, (int, np.integer)) or not 1 <= int(n) <= MAX_PLANES:
        raise OpcodeError(f"plane count {n!r} is outside 1..{MAX_PLANES}", opcode=opcode, field="planes")
    return int(n)


def _version(v: Sequence[int]) -> tuple[int, int, int, int]:
    t = tuple(int(x) for x in v)
    if len(t) != 4 or not all(0 <= x <= 255 for x in t):
        raise OpcodeError(f"DNG version must be 4 bytes, got {v!r}", field="version")
    return t  # type: ignore[return-value]


def _uint32(v: Any, what: str, opcode: str, *, minimum: int = 0) -> int:
    if not isinstance(v, (int, np.integer)) or not minimum <= int(v) <= 0xFFFFFFFF:
        raise OpcodeError(f"must be an integer in {minimum}..4294967295, got {v!r}", opcode=opcode, field=what)
    return int(v)


# -- opcodes --------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Opcode:
    """Common part of every opcode: the minimum DNG version it needs and its flags.

    ``flags`` bit 0 (``FLAG_OPTIONAL``): a reader that cannot apply the opcode
    may skip it; bit 1 (``FLAG_SKIP_IF_PREVIEW``): it may be skipped for
    previews.  Subclasses set ``opcode_id`` and ``name`` and implement
    ``params_bytes`` and ``from_params``.
    """

    opcode_id: ClassVar[int] = 0
    name: ClassVar[str] = ""
    default_version: ClassVar[tuple[int, int, int, int]] = (1, 3, 0, 0)

    version: tuple[int, int, int, int] = (1, 3, 0, 0)
    flags: int = FLAG_OPTIONAL

    def __post_init__(self) -> None:
        object.__setattr__(self, "version", _version(self.version))
        object.__setattr__(self, "flags", _uint32(self.flags, "flags", self.label))

    @property
    def id(self) -> int:
        return self.opcode_id

    @property
    def label(self) -> str:
        return self.name or OPCODE_NAMES.get(self.id, f"opcode {self.id}")

    @property
    def optional(self) -> bool:
        """True when a reader that cannot apply this opcode may skip it."""
        return bool(self.flags & FLAG_OPTIONAL)

    @property
    def skip_if_preview(self) -> bool:
        return bool(self.flags & FLAG_SKIP_IF_PREVIEW)

    @property
    def version_string(self) -> str:
        return ".".join(str(x) for x in self.version)

    def params_bytes(self) -> bytes:
        """The parameter block, big-endian."""
        raise NotImplementedError

    def to_bytes(self) -> bytes:
        """Header and parameters, as stored in a list."""
        params = self.params_bytes()
        return _HEADER.pack(self.id, *self.version, self.flags, len(params)) + params

    def describe(self, *, full: bool = False) -> dict[str, Any]:
        """A JSON-ready description (parameters by name)."""
        out: dict[str, Any] = {
            "id": self.id,
            "name": self.label,
            "version": self.version_string,
            "optional": self.optional,
            "skip_if_preview": self.skip_if_preview,
            "bytes": len(self.params_bytes()),
        }
        out.update(self._describe_params(full))
        return out

    def _describe_params(self, full: bool) -> dict[str, Any]:
        return {}


@dataclass(frozen=True, kw_only=True)
class WarpRectilinear(Opcode):
    """WarpRectilinear (id 1): radial and tangential warp, one coefficient set or one per plane.

    ``radial[p] = (kr0, kr1, kr2, kr3)`` and ``tangential[p] = (kt0, kt1)``
    for plane p (one set applies to all planes); ``center = (cx, cy)``
    relative to the image width and height.  Maps a corrected pixel to the
    source pixel to sample (see :func:`mountkit.dng.warp.rectilinear_source`).
    """

    opcode_id: ClassVar[int] = 1
    name: ClassVar[str] = "WarpRectilinear"

    radial: tuple[tuple[float, float, float, float], ...]
    tangential: tuple[tuple[float, float], ...] | None = None
    center: tuple[float, float] = (0.5, 0.5)

    def __post_init__(self) -> None:
        super().__post_init__()
        n = _planes(len(self.radial), self.name)
        radial = tuple(_floats(r, 4, f"radial[{p}]", opcode=self.name) for p, r in enumerate(self.radial))
        tan = self.tangential if self.tangential is not None else ((0.0, 0.0),) * n
        if len(tan) != n:
            raise OpcodeError(f"has {len(tan)} sets for {n} planes", opcode=self.name, field="tangential")
        tangential = tuple(_floats(t, 2, f"tangential[{p}]", opcode=self.name) for p, t in enumerate(tan))
        object.__setattr__(self, "radial", radial)
        object.__setattr__(self, "tangential", tangential)
        object.__setattr__(self, "center", _center(self.center, self.name))

    @property
    def planes(self) -> int:
        return len(self.radial)

    @staticmethod
    def param_size(planes: int) -> int:
        return 4 + 48 * planes + 16

    def params_bytes(self) -> bytes:
        parts = [struct.pack(">I", self.planes)]
        for r, t in zip(self.radial, self.tangential, strict=False):
            parts.append(struct.pack(">6d", *r, *t))
        parts.append(struct.pack(">2d", *self.center))
        return b"".join(parts)

    @classmethod
    def from_params(cls, data: bytes, **header: Any) -> WarpRectilinear:
        n = _read_planes(data, cls.name)
        _expect_size(data, cls.param_size(n), cls.name, f"{n} plane(s)")
        vals = struct.unpack_from(f">{6 * n + 2}d", data, 4)
        radial = tuple(tuple(vals[6 * p:6 * p + 4]) for p in range(n))
        tangential = tuple(tuple(vals[6 * p + 4:6 * p + 6]) for p in range(n))
        return cls(radial=radial, tangential=tangential, center=vals[-2:], **header)

    def _describe_params(self, full: bool) -> dict[str, Any]:
        sets = zip(self.radial, self.tangential, strict=True)
        return {"planes": self.planes, "center": list(self.center),
                "coefficients": [{"kr": list(r), "kt": list(t)} for r, t in sets]}


@dataclass(frozen=True, kw_only=True)
class WarpFisheye(Opcode):
    """WarpFisheye (id 2): ``radial[p] = (kr0..kr3)`` in powers of theta = atan(r), no tangential terms."""

    opcode_id: ClassVar[int] = 2
    name: ClassVar[str] = "WarpFisheye"

    radial: tuple[tuple[float, float, float, float], ...]
    center: tuple[float, float] = (0.5, 0.5)

    def __post_init__(self) -> None:
        super().__post_init__()
        _planes(len(self.radial), self.name)
        object.__setattr__(self, "radial", tuple(_floats(r, 4, f"radial[{p}]", opcode=self.name)
                                                 for p, r in enumerate(self.radial)))
        object.__setattr__(self, "center", _center(self.center, self.name))

    @property
    def planes(self) -> int:
        return len(self.radial)

    @staticmethod
    def param_size(planes: int) -> int:
        return 4 + 32 * planes + 16

    def params_bytes(self) -> bytes:
        return (struct.pack(">I", self.planes) + b"".join(struct.pack(">4d", *r) for r in self.radial)
                + struct.pack(">2d", *self.center))

    @classmethod
    def from_params(cls, data: bytes, **header: Any) -> WarpFisheye:
        n = _read_planes(data, cls.name)
        _expect_size(data, cls.param_size(n), cls.name, f"{n} plane(s)")
        vals = struct.unpack_from(f">{4 * n + 2}d", data, 4)
        return cls(radial=tuple(tuple(vals[4 * p:4 * p + 4]) for p in range(n)), center=vals[-2:], **header)

    def _describe_params(self, full: bool) -> dict[str, Any]:
        return {"planes": self.planes, "center": list(self.center), "coefficients": [list(r) for r in self.radial]}


@dataclass(frozen=True, kw_only=True)
class FixVignetteRadial(Opcode):
    """FixVignetteRadial (id 3): gain ``1 + k0 r^2 + k1 r^4 + ... + k4 r^10`` for all planes."""

    opcode_id: ClassVar[int] = 3
    name: ClassVar[str] = "FixVignetteRadial"

    k: tuple[float, float, float, float, float]
    center: tuple[float, float] = (0.5, 0.5)

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "k", _floats(self.k, 5, "k", opcode=self.name))
        object.__setattr__(self, "center", _center(self.center, self.name))

    def params_bytes(self) -> bytes:
        return struct.pack(">7d", *self.k, *self.center)

    @classmethod
    def from_params(cls, data: bytes, **header: Any) -> FixVignetteRadial:
        _expect_size(data, 56, cls.name, "5 coefficients and a centre")
        vals = struct.unpack(">7d", data)
        return cls(k=vals[:5], center=vals[5:], **header)

    def _describe_params(self, full: bool) -> dict[str, Any]:
        return {"k": list(self.k), "center": list(self.center)}


@dataclass(frozen=True, kw_only=True, eq=False)
class GainMap(Opcode):
    """GainMap (id 9): a grid of gains, bilinearly interpolated, multiplied into an area of some planes.

    The area spec selects rows ``top, top + row_pitch, ... < bottom``,
    columns ``left, left + col_pitch, ... < right`` and planes ``plane ..
    plane + planes - 1``; ``gains`` has shape (points_v, points_h,
    map_planes).  Map positions are relative to the whole image (0..1), from
    ``origin`` in steps of ``spacing``.
    """

    opcode_id: ClassVar[int] = 9
    name: ClassVar[str] = "GainMap"

    top: int
    left: int
    bottom: int
    right: int
    plane: int = 0
    planes: int = 1
    row_pitch: int = 1
    col_pitch: int = 1
    spacing: tuple[float, float]  # (vertical, horizontal)
    origin: tuple[float, float] = (0.0, 0.0)  # (vertical, horizontal)
    gains: np.ndarray = field(repr=False)

    def __post_init__(self) -> None:
        super().__post_init__()
        n = self.name
        for f in ("top", "left", "bottom", "right"):
            v = getattr(self, f)
            if not isinstance(v, (int, np.integer)) or not -(2**31) <= int(v) < 2**31:
                raise OpcodeError(f"must be a 32-bit integer, got {v!r}", opcode=n, field=f)
            object.__setattr__(self, f, int(v))
        if not (self.top < self.bottom and self.left < self.right):
            raise OpcodeError(f"area top={self.top} left={self.left} bottom={self.bottom} right={self.right} is "
                              "empty", opcode=n, field="area")
        object.__setattr__(self, "plane", _uint32(self.plane, "plane", n))
        planes = _uint32(self.planes, "planes", n, minimum=1)
        if self.plane + planes > MAX_PLANES:
            raise OpcodeError(f"planes {self.plane}..{self.plane + planes - 1} exceed the {MAX_PLANES} colour "
                              "planes a DNG image can have", opcode=n, field="planes")
        object.__setattr__(self, "planes", planes)
        object.__setattr__(self, "row_pitch", _uint32(self.row_pitch, "row_pitch", n, minimum=1))
        object.__setattr__(self, "col_pitch", _uint32(self.col_pitch, "col_pitch", n, minimum=1))
        object.__setattr__(self, "spacing", _floats(self.spacing, 2, "spacing", opcode=n))
        object.__setattr__(self, "origin", _floats(self.origin, 2, "origin", opcode=n))
        try:
            g = np.asarray(self.gains).astype(np.float32)  # a native-endian copy
        except (TypeError, ValueError):
            raise OpcodeError("gains must be an array of numbers", opcode=n, field="gains") from None
        if g.ndim == 2:
            g = g[:, :, None]
        if g.ndim != 3 or min(g.shape) < 1:
            raise OpcodeError(f"gains must have shape (points_v, points_h, map_planes), got {g.shape}",
                              opcode=n, field="gains")
        if g.shape[2] > MAX_PLANES:
            raise OpcodeError(f"map has {g.shape[2]} planes; at most {MAX_PLANES} are meaningful",
                              opcode=n, field="map_planes")
        if not np.all(np.isfinite(g)):
            bad = np.argwhere(~np.isfinite(g))[0]
            raise OpcodeError(f"gain at map point (row {bad[0]}, column {bad[1]}, plane {bad[2]}) is "
                              f"{g[tuple(bad)]}; the map is corrupt", opcode=n, field="gains")
        g.setflags(write=False)
        object.__setattr__(self, "gains", g)
        for axis, pts in (("vertical", g.shape[0]), ("horizontal", g.shape[1])):
            i = 0 if axis == "vertical" else 1
            if pts > 1 and not self.spacing[i] > 0:
                raise OpcodeError(f"{axis} map spacing {self.spacing[i]} must be positive", opcode=n,
                                  field="spacing")

    @property
    def points(self) -> tuple[int, int]:
        """(points_v, points_h)."""
        return self.gains.shape[0], self.gains.shape[1]

    @property
    def map_planes(self) -> int:
        return self.gains.shape[2]

    @property
    def effective_spacing(self) -> tuple[float, float]:
        """Spacing as applied: 1 along an axis with a single map point (SDK ``dng_gain_map::GetStream``)."""
        pv, ph = self.points
        return (1.0 if pv == 1 else self.spacing[0], 1.0 if ph == 1 else self.spacing[1])

    @property
    def effective_origin(self) -> tuple[float, float]:
        pv, ph = self.points
        return (0.0 if pv == 1 else self.origin[0], 0.0 if ph == 1 else self.origin[1])

    @staticmethod
    def param_size(points_v: int, points_h: int, map_planes: int) -> int:
        return 76 + 4 * points_v * points_h * map_planes

    def params_bytes(self) -> bytes:
        pv, ph, mp = self.gains.shape
        head = struct.pack(">4i6I4dI", self.top, self.left, self.bottom, self.right, self.plane, self.planes,
                           self.row_pitch, self.col_pitch, pv, ph, *self.spacing, *self.origin, mp)
        return head + self.gains.astype(">f4").tobytes()

    @classmethod
    def from_params(cls, data: bytes, **header: Any) -> GainMap:
        if len(data) < 76:
            raise OpcodeError(f"has {len(data)} parameter bytes; the area spec and map header need 76",
                              opcode=cls.name, field="byte count")
        (top, left, bottom, right, plane, planes, row_pitch, col_pitch, pv, ph, sv, sh, ov, oh,
         mp) = struct.unpack_from(">4i6I4dI", data, 0)
        if pv < 1 or ph < 1 or mp < 1:
            raise OpcodeError(f"map has {pv} x {ph} points and {mp} planes; each must be at least 1",
                              opcode=cls.name, field="map points")
        if mp > MAX_PLANES:
            raise OpcodeError(f"map plane count {mp} is outside 1..{MAX_PLANES}", opcode=cls.name,
                              field="map_planes")
        _expect_size(data, cls.param_size(pv, ph, mp), cls.name, f"a {pv} x {ph} x {mp} map")
        gains = np.frombuffer(data, dtype=">f4", count=pv * ph * mp, offset=76).reshape(pv, ph, mp)
        return cls(top=top, left=left, bottom=bottom, right=right, plane=plane, planes=planes,
                   row_pitch=row_pitch, col_pitch=col_pitch, spacing=(sv, sh), origin=(ov, oh), gains=gains,
                   **header)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, GainMap):
            return NotImplemented
        return self.to_bytes() == other.to_bytes()

    def __hash__(self) -> int:
        return hash(self.to_bytes())

    def _describe_params(self, full: bool) -> dict[str, Any]:
        g = self.gains
        out: dict[str, Any] = {
            "area": {"top": self.top, "left": self.left, "bottom": self.bottom, "right": self.right},
            "plane": self.plane, "planes": self.planes,
            "row_pitch": self.row_pitch, "col_pitch": self.col_pitch,
            "points": list(self.points), "map_planes": self.map_planes,
            "spacing": list(self.spacing), "origin": list(self.origin),
            "gain_min": float(g.min()), "gain_max": float(g.max()),
            "gain_centre": [float(v) for v in g[g.shape[0] // 2, g.shape[1] // 2]],
        }
        if full:
            out["gains"] = g.tolist()
        return out


@dataclass(frozen=True, kw_only=True)
class WarpRectilinear2(Opcode):
    """WarpRectilinear2 (id 14, DNG 1.6): 15 radial terms in r^0..r^14, valid radius range, reciprocal flag.

    ``radial[p]`` has 15 coefficients (odd powers included), ``tangential[p]
    = (kt0, kt1)``, ``valid_range[p] = (min, max)`` radius with
    ``0 <= min < max <= 1``; with ``reciprocal`` the ratio is 1/poly.
    """

    opcode_id: ClassVar[int] = 14
    name: ClassVar[str] = "WarpRectilinear2"
    default_version: ClassVar[tuple[int, int, int, int]] = (1, 6, 0, 0)
    TERMS: ClassVar[int] = 15

    version: tuple[int, int, int, int] = (1, 6, 0, 0)
    radial: tuple[tuple[float, ...], ...]
    tangential: tuple[tuple[float, float], ...] | None = None
    valid_range: tuple[tuple[float, float], ...] | None = None
    center: tuple[float, float] = (0.5, 0.5)
    reciprocal: int = 0  # the stored uint32; non-zero means 1 / poly

    def __post_init__(self) -> None:
        super().__post_init__()
        n = _planes(len(self.radial), self.name)
        radial = tuple(_floats(r, self.TERMS, f"radial[{p}]", opcode=self.name) for p, r in enumerate(self.radial))
        tan = self.tangential if self.tangential is not None else ((0.0, 0.0),) * n
        rng = self.valid_range if self.valid_range is not None else ((0.0, 1.0),) * n
        if len(tan) != n or len(rng) != n:
            raise OpcodeError(f"tangential/valid_range must have one entry per plane ({n})", opcode=self.name)
        tangential = tuple(_floats(t, 2, f"tangential[{p}]", opcode=self.name) for p, t in enumerate(tan))
        valid = tuple(_floats(v, 2, f"valid_range[{p}]", opcode=self.name) for p, v in enumerate(rng))
        for p, (lo, hi) in enumerate(valid):
            if not 0.0 <= lo < hi <= 1.0:
                raise OpcodeError(f"valid radius range ({lo}, {hi}) must satisfy 0 <= min < max <= 1",
                                  opcode=self.name, field=f"valid_range[{p}]")
        object.__setattr__(self, "radial", radial)
        object.__setattr__(self, "tangential", tangential)
        object.__setattr__(self, "valid_range", valid)
        object.__setattr__(self, "center", _center(self.center, self.name))
        object.__setattr__(self, "reciprocal", _uint32(int(self.reciprocal), "reciprocal", self.name))

    @property
    def planes(self) -> int:
        return len(self.radial)

    @classmethod
    def param_size(cls, planes: int) -> int:
        return 4 + planes * (cls.TERMS + 4) * 8 + 16 + 4

    def params_bytes(self) -> bytes:
        parts = [struct.pack(">I", self.planes)]
        for r, t, v in zip(self.radial, self.tangential, self.valid_range, strict=False):
            parts.append(struct.pack(f">{self.TERMS + 4}d", *r, *t, *v))
        parts.append(struct.pack(">2dI", *self.center, self.reciprocal))
        return b"".join(parts)

    @classmethod
    def from_params(cls, data: bytes, **header: Any) -> WarpRectilinear2:
        n = _read_planes(data, cls.name)
        _expect_size(data, cls.param_size(n), cls.name, f"{n} plane(s)")
        per = cls.TERMS + 4
        vals = struct.unpack_from(f">{per * n + 2}d", data, 4)
        (recip,) = struct.unpack_from(">I", data, len(data) - 4)
        blocks = [vals[per * p:per * (p + 1)] for p in range(n)]
        return cls(radial=tuple(b[:cls.TERMS] for b in blocks),
                   tangential=tuple(b[cls.TERMS:cls.TERMS + 2] for b in blocks),
                   valid_range=tuple(b[cls.TERMS + 2:] for b in blocks),
                   center=vals[-2:], reciprocal=recip, **header)

    def _describe_params(self, full: bool) -> dict[str, Any]:
        return {"planes": self.planes, "center": list(self.center), "reciprocal": bool(self.reciprocal),
                "coefficients": [{"kr": list(r), "kt": list(t), "valid_range": list(v)}
                                 for r, t, v in zip(self.radial, self.tangential, self.valid_range, strict=False)]}


@dataclass(frozen=True, kw_only=True)
class UnsupportedOpcode(Opcode):
    """An opcode mountkit does not decode, kept with its raw parameter bytes."""

    raw_id: int
    data: bytes = field(default=b"", repr=False)

    @property
    def id(self) -> int:
        return self.raw_id

    def params_bytes(self) -> bytes:
        return bytes(self.data)

    def _describe_params(self, full: bool) -> dict[str, Any]:
        return {"known": self.raw_id in OPCODE_NAMES, "decoded": False}


@dataclass(frozen=True, kw_only=True)
class InvalidOpcode(Opcode):
    """An opcode whose header is sound but whose parameters are malformed; ``error`` says what is wrong."""

    raw_id: int
    data: bytes = field(default=b"", repr=False)
    error: OpcodeError | None = None

    @property
    def id(self) -> int:
        return self.raw_id

    def params_bytes(self) -> bytes:
        return bytes(self.data)

    def _describe_params(self, full: bool) -> dict[str, Any]:
        return {"invalid": True, "error": self.error.reason if self.error else "malformed"}


#: Opcode classes mountkit decodes, by id.
DECODERS: dict[int, type[Opcode]] = {c.opcode_id: c for c in
                                     (WarpRectilinear, WarpFisheye, FixVignetteRadial, GainMap, WarpRectilinear2)}


def _read_planes(data: bytes, name: str) -> int:
    if len(data) < 4:
        raise OpcodeError(f"has {len(data)} parameter bytes, too few for the plane count", opcode=name,
                          field="byte count")
    (n,) = struct.unpack_from(">I", data, 0)
    return _planes(n, name)


def _expect_size(data: bytes, size: int, name: str, what: str) -> None:
    if len(data) != size:
        raise OpcodeError(f"has {len(data)} parameter bytes; {what} need exactly {size}", opcode=name,
                          field="byte count")


# -- lists ----------------------------------------------------------------------


@dataclass(frozen=True)
class Skipped:
    """An opcode :meth:`OpcodeList.applicable` leaves out, and why."""

    index: int
    opcode: Opcode
    reason: str


@dataclass(frozen=True)
class OpcodeList:
    """One opcode list: its opcodes in order, where it came from and which list it is."""

    opcodes: tuple[Opcode, ...] = ()
    list_number: int | None = None
    source: str = ""

    def __post_init__(self) -> None:
        ops = tuple(self.opcodes)
        for op in ops:
            if not isinstance(op, Opcode):
                raise TypeError(f"OpcodeList holds Opcode objects, got {type(op).__name__}")
        object.__setattr__(self, "opcodes", ops)

    def __iter__(self) -> Iterator[Opcode]:
        return iter(self.opcodes)

    def __len__(self) -> int:
        return len(self.opcodes)

    def __getitem__(self, i: int) -> Opcode:
        return self.opcodes[i]

    def to_bytes(self) -> bytes:
        """The list as stored in the TIFF tag (big-endian)."""
        return serialise_opcode_list(self.opcodes)

    def of_type(self, cls: type[Opcode]) -> tuple[Opcode, ...]:
        return tuple(op for op in self.opcodes if isinstance(op, cls))

    def applicable(self, supported: Iterable[int] | None = None) -> tuple[tuple[Opcode, ...], tuple[Skipped, ...]]:
        """The opcodes to apply at this list's stage, and those skipped.

        ``supported`` are the opcode ids the caller can apply (default: the
        decoded ones, :data:`DECODERS`).  An unsupported or invalid opcode is
        skipped when its optional flag allows, otherwise the whole stage is
        refused with :class:`OpcodeError`.  DNG 1.6's rule is honoured: a
        WarpRectilinear or WarpFisheye that directly follows an applied
        optional WarpRectilinear2 is skipped (it is the fallback for readers
        without WarpRectilinear2).
        """
        ids = set(DECODERS) if supported is None else set(supported)
        apply: list[Opcode] = []
        skipped: list[Skipped] = []
        prev_optional_wr2 = False
        for i, op in enumerate(self.opcodes):
            where = {"source": self.source or None, "list_number": self.list_number, "index": i,
                     "opcode": op.label}
            if prev_optional_wr2 and op.id in (WarpRectilinear.opcode_id, WarpFisheye.opcode_id):
                skipped.append(Skipped(i, op, "fallback for the WarpRectilinear2 before it"))
                prev_optional_wr2 = False
                continue
            problem = None
            if isinstance(op, InvalidOpcode):
                problem = f"is malformed ({op.error.reason if op.error else 'bad parameters'})"
            elif isinstance(op, UnsupportedOpcode) or op.id not in ids:
                problem = ("is not supported by mountkit" if op.id in OPCODE_NAMES
                           else f"has unknown id {op.id}")
            if problem is not None:
                if op.optional:
                    skipped.append(Skipped(i, op, f"optional opcode that {problem}"))
                    prev_optional_wr2 = False
                    continue
                raise OpcodeError(f"required opcode {problem}; mountkit cannot apply this list. Use "
                                  "--corrections profile or none to process the file without its embedded "
                                  "corrections", **where)
            apply.append(op)
            prev_optional_wr2 = op.optional and op.id == WarpRectilinear2.opcode_id
        return tuple(apply), tuple(skipped)

    def describe(self, *, full: bool = False) -> dict[str, Any]:
        return {
            "list": self.list_number,
            "tag": OPCODE_LIST_TAGS.get(self.list_number) if self.list_number else None,
            "stage": STAGES.get(self.list_number) if self.list_number else None,
            "count": len(self.opcodes),
            "opcodes": [op.describe(full=full) for op in self.opcodes],
        }


def parse_opcode_list(data: bytes, *, source: str = "", list_number: int | None = None) -> OpcodeList:
    """Parse an opcode list from the bytes of its TIFF tag.

    Parameters
    ----------
    data : bytes
        The tag's value (big-endian, whatever the file's byte order).
    source, list_number : optional
        File name and list number (1, 2 or 3), used in error messages.

    Returns
    -------
    OpcodeList
        Decoded opcodes; unknown ones as :class:`UnsupportedOpcode`, ones
        with malformed parameters as :class:`InvalidOpcode`.

    Raises
    ------
    OpcodeError
        When the list's structure is broken: truncated, an opcode count or
        byte count that does not fit the data, or bytes left over.

    Examples
    --------
    >>> op = FixVignetteRadial(k=(0.5, 0, 0, 0, 0))
    >>> parse_opcode_list(serialise_opcode_list([op]))[0] == op
    True
    """
    data = bytes(data)
    where = {"source": source or None, "list_number": list_number}
    if len(data) < 4:
        raise OpcodeError(f"the list is {len(data)} bytes long, too short even for its opcode count (4 bytes); "
                          "the tag is truncated", **where)
    (count,) = struct.unpack_from(">I", data, 0)
    room = (len(data) - 4) // _HEADER.size
    if count > room:
        raise OpcodeError(f"declares {count} opcodes but its {len(data)} bytes hold at most {room}; the count is "
                          "corrupt or the list is truncated", **where)
    pos = 4
    ops: list[Opcode] = []
    for i in range(count):
        if len(data) - pos < _HEADER.size:
            raise OpcodeError(f"the list ends {len(data) - pos} bytes into this opcode's 16-byte header; the list "
                              "is truncated", index=i, **where)
        oid, v0, v1, v2, v3, flags, nbytes = _HEADER.unpack_from(data, pos)
        name = OPCODE_NAMES.get(oid)
        pos += _HEADER.size
        if nbytes > len(data) - pos:
            raise OpcodeError(f"declares {nbytes} parameter bytes but only {len(data) - pos} remain in the list; "
                              "the list is truncated or the byte count is corrupt", index=i, opcode=name, **where)
        params = data[pos:pos + nbytes]
        pos += nbytes
        header = {"version": (v0, v1, v2, v3), "flags": flags}
        decoder = DECODERS.get(oid)
        if decoder is None:
            ops.append(UnsupportedOpcode(raw_id=oid, data=params, **header))
            continue
        try:
            ops.append(decoder.from_params(params, **header))
        except OpcodeError as exc:
            err = exc.located(index=i, opcode=decoder.name, **where)
            ops.append(InvalidOpcode(raw_id=oid, data=params, error=err, **header))
    if pos != len(data):
        raise OpcodeError(f"{len(data) - pos} bytes are left after the last of its {count} opcodes; the opcode "
                          "count or a byte count is wrong", **where)
    return OpcodeList(tuple(ops), list_number=list_number, source=source)


def serialise_opcode_list(opcodes: Iterable[Opcode]) -> bytes:
    """The bytes of an opcode list tag (big-endian) holding ``opcodes`` in order."""
    ops = list(opcodes)
    return struct.pack(">I", len(ops)) + b"".join(op.to_bytes() for op in ops)


def opcode_fields(op: Opcode) -> dict[str, Any]:
    """The dataclass fields of an opcode by name (for copying with changes)."""
    return {f.name: getattr(op, f.name) for f in fields(op)}
