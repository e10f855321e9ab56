"""Leica M 6-bit lens codes: the code table, lens names, and LensType decoding.

The table itself is data (``leica_lens_codes.toml``, transcribed from
ExifTool's ``%leicaLensTypes``, see the file's header for the exact source).
This module reads it, derives each lens's optics from its name, and decodes the
``LensType`` value Leica M bodies write, in every form a user is likely to hand
over:

* the stored integer (M8 maker-note tag 0x0310, M9 tag 0x3405), e.g. ``118``,
  or the same as a decimal string ``"118"``;
* ExifTool's numeric form ``"29 2"`` (``exiftool -n``: ``value >> 2``, then
  ``value & 3``), or a 2-sequence ``(29, 2)``;
* ExifTool's printed form, e.g. ``"Summilux-M 35mm f/1.4 ASPH."``,
  ``"Tri-Elmar-M 16-18-21mm f/4 ASPH. (at 18mm)"``, ``"Uncoded lens"`` or
  ``"Unknown (60 1)"``;
* Leica's own spelling that later bodies write as a string LensType (M Typ
  240) or as EXIF ``LensModel`` (M10, M11): ``"Summilux-M 1:1.4/35 ASPH."``.

Everything here is a pure function of its arguments (plus the table, read
once); the plugin hooks live in ``mountkit_leica_m.__init__`` and the
metadata-to-lens logic in ``mountkit_leica_m.identification``.
"""

from __future__ import annotations

import functools
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

from mountkit.errors import ProfileError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

#: File name of the code table inside this package.
TABLE_FILE = "leica_lens_codes.toml"

#: What the low 2 bits of LensType mean for a single-focal lens on the M8
#: (ExifTool's notes on %leicaLensTypes, its ref. 10).
FRAME_LINES = {1: "28/90 mm", 2: "24/35 mm", 3: "50/75 mm"}

_KEY = re.compile(r"^(\d+)(?: (\d))?$")
# ExifTool's lens names: "<family> <focal[-focal...]>mm f/<aperture><rest>".
_EXIFTOOL_NAME = re.compile(
    r"^(?P<family>\S+) (?P<focals>\d+(?:-\d+)*)mm f/(?P<aperture>\d+(?:\.\d+)?)(?P<rest>.*)$")
# Leica's spelling: "<family> 1:<aperture>/<focal[-focal...]><rest>".
_LEICA_NAME = re.compile(
    r"^(?:leica\s+)?(?P<family>\S+)\s+1\s*:\s*(?P<aperture>\d+(?:[.,]\d+)?)\s*/\s*(?P<focals>\d+(?:-\d+)*)"
    r"(?:\s*mm)?(?P<rest>.*)$", re.IGNORECASE)
_AT_FOCAL = re.compile(r"\s*\(at (\d+)mm\)$")
_VERSION = re.compile(r"\s*(\([IVX]+(?:[,/]\s*[IVX]+)*\))$")
_UNKNOWN = re.compile(r"^unknown\s*\((\d+) (\d+)\)$", re.IGNORECASE)


@dataclass(frozen=True)
class LensName:
    """What a Leica M lens name says about the lens.

    Parameters
    ----------
    family : str
        The name before the focal length, e.g. ``"Summilux-M"``.
    focals : tuple of float
        The focal lengths in mm (one for a prime, three for a Tri-Elmar-M).
    aperture : float
        The largest aperture as an f-number.
    asph : str
        ``""``, ``"ASPH."`` or ``"ASPHERICAL"`` (ExifTool keeps the old
        Summilux-M 35 mm f/1.4 ASPHERICAL apart from the later ASPH.).
    version : str
        A version mark such as ``"(IV, V)"``, or ``""``.
    """

    family: str
    focals: tuple[float, ...]
    aperture: float
    asph: str = ""
    version: str = ""

    @property
    def focal_min(self) -> float:
        return min(self.focals)

    @property
    def focal_max(self) -> float:
        return max(self.focals)

    def leica_style(self, *, with_version: bool = True) -> str:
        """The name as Leica and lensfun spell it, e.g. ``"Summicron-M 1:2/28 ASPH."``."""
        focals = "-".join(_num(f) for f in self.focals)
        out = f"{self.family} 1:{_num(self.aperture)}/{focals}"
        if self.asph:
            out += f" {self.asph}"
        if with_version and self.version:
            out += f" {self.version}"
        return out


def _num(x: float) -> str:
    return f"{x:g}"


def _split_rest(rest: str) -> tuple[str, str, float | None]:
    """(asph, version, at_focal) from what follows the aperture in a name."""
    rest = rest.strip()
    at = None
    m = _AT_FOCAL.search(rest)
    if m:
        at = float(m.group(1))
        rest = rest[: m.start()].strip()
    version = ""
    m = _VERSION.search(rest)
    if m:
        version = re.sub(r",\s*", ", ", m.group(1))
        rest = rest[: m.start()].strip()
    word = rest.rstrip(".").casefold()
    if word == "aspherical":
        asph = "ASPHERICAL"
    elif word == "asph":
        asph = "ASPH."
    elif word == "":
        asph = ""
    else:
        raise ValueError(f"unexpected text {rest!r} after the aperture")
    return asph, version, at


def parse_exiftool_name(name: str) -> tuple[LensName, float | None] | None:
    """Parse an ExifTool lens name: ``(LensName, focal selected by '(at NNmm)' or None)``.

    Returns None for names that describe no optics (``"Macro-Adapter M"``,
    ``"Uncoded lens"``).

    >>> lens, at = parse_exiftool_name("Tri-Elmar-M 16-18-21mm f/4 ASPH. (at 18mm)")
    >>> lens.leica_style(), at
    ('Tri-Elmar-M 1:4/16-18-21 ASPH.', 18.0)
    """
    m = _EXIFTOOL_NAME.match(name.strip())
    if not m:
        return None
    try:
        asph, version, at = _split_rest(m.group("rest"))
    except ValueError:
        return None
    focals = tuple(float(f) for f in m.group("focals").split("-"))
    return LensName(m.group("family"), focals, float(m.group("aperture")), asph, version), at


def parse_leica_name(name: str) -> LensName | None:
    """Parse Leica's spelling of an M lens (``"Summilux-M 1:1.4/35 ASPH."``), or None.

    >>> parse_leica_name("APO-Summicron-M 1:2/75 ASPH.").focals
    (75.0,)
    """
    m = _LEICA_NAME.match(" ".join(name.split()))
    if not m:
        return None
    try:
        asph, version, _ = _split_rest(m.group("rest"))
    except ValueError:
        return None
    focals = tuple(float(f) for f in m.group("focals").split("-"))
    aperture = float(m.group("aperture").replace(",", "."))
    return LensName(m.group("family"), focals, aperture, asph, version)


# -- the table ------------------------------------------------------------------


@dataclass(frozen=True)
class CodeEntry:
    """One entry of ExifTool's ``%leicaLensTypes``.

    ``key`` is ExifTool's key: ``"29"`` (any low bits) or ``"29 0"`` (exactly
    these low bits).  ``lens_name`` is the lens the entry identifies (the name
    without ExifTool's ``"(at NNmm)"`` suffix) and ``at_focal`` the focal
    length that suffix selects; both are None for ``"Uncoded lens"``.
    """

    key: str
    code: int
    bits: int | None
    name: str
    lens_name: str | None
    at_focal: float | None = None
    catalogue: tuple[str, ...] = ()
    note: str = ""


@dataclass(frozen=True)
class CodeTable:
    """The parsed code table (see :func:`code_table`)."""

    entries: tuple[CodeEntry, ...]
    by_key: Mapping[str, CodeEntry]
    frame_selector_bits: Mapping[int, int]
    same_lens: Mapping[str, str]
    source: Mapping[str, str]


def parse_code_table(text: str, *, source: str = TABLE_FILE) -> CodeTable:
    """Parse and validate the TOML text of a Leica code table.

    Raises
    ------
    ProfileError
        Naming ``source`` and the entry at fault when a key is malformed or
        repeated, a name is empty, or a lens name cannot be parsed.
    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(f"not valid TOML: {exc}", source=source) from None
    entries: list[CodeEntry] = []
    by_key: dict[str, CodeEntry] = {}
    for i, raw in enumerate(data.get("lens_type", [])):
        where = f"lens_type[{i}]"
        key, name = raw.get("key"), raw.get("name")
        if not isinstance(key, str) or not _KEY.match(key):
            raise ProfileError(f"key must look like '29' or '29 0', got {key!r}", source=source, field=where)
        if key in by_key:
            raise ProfileError(f"key {key!r} appears twice", source=source, field=where)
        if not isinstance(name, str) or not name.strip():
            raise ProfileError(f"entry {key!r} needs a non-empty name", source=source, field=where)
        km = _KEY.match(key)
        code, bits = int(km.group(1)), (int(km.group(2)) if km.group(2) is not None else None)
        if not 0 <= code < 64:
            raise ProfileError(f"code {code} is not a 6-bit value", source=source, field=where)
        parsed = parse_exiftool_name(name)
        if code == 0:
            lens_name, at = None, None
        elif parsed is None:
            if name.startswith("Macro-Adapter"):
                lens_name, at = name, None
            else:
                raise ProfileError(f"cannot read focal length and aperture from {name!r}", source=source,
                                   field=where)
        else:
            at = parsed[1]
            lens_name = _AT_FOCAL.sub("", name).strip() if at is not None else name
        entry = CodeEntry(key, code, bits, name, lens_name, at, tuple(raw.get("catalogue", ())),
                          str(raw.get("note", "")))
        entries.append(entry)
        by_key[key] = entry
    for e in entries:
        if e.at_focal is not None and e.lens_name not in {x.name for x in entries}:
            raise ProfileError(f"{e.name!r} refers to a lens that has no entry of its own", source=source,
                               field=e.key)
    bits = {}
    for k, v in data.get("frame_selector_bits", {}).items():
        if not (k.isdigit() and isinstance(v, int) and 0 <= v <= 3):
            raise ProfileError(f"frame_selector_bits: bad entry {k!r} = {v!r}", source=source)
        bits[int(k)] = v
    same = {}
    for raw in data.get("same_lens", []):
        if raw.get("leica") not in {e.lens_name for e in entries}:
            raise ProfileError(f"same_lens names an unknown lens {raw.get('leica')!r}", source=source)
        same[raw["leica"]] = str(raw["lensfun"])
    return CodeTable(tuple(entries), by_key, bits, same, dict(data.get("source", {})))


@functools.lru_cache(maxsize=1)
def code_table() -> CodeTable:
    """The code table shipped with the plugin (read once)."""
    text = resources.files(__package__).joinpath(TABLE_FILE).read_text(encoding="utf-8")
    return parse_code_table(text, source=f"{__package__}/{TABLE_FILE}")


# -- decoding LensType ------------------------------------------------------------


@dataclass(frozen=True)
class LensType:
    """A decoded LensType value.

    Parameters
    ----------
    code, bits : int
        The 6-bit lens code and the low 2 bits.
    entry : CodeEntry or None
        The table entry ExifTool would print for it (None: unknown code).
    """

    code: int
    bits: int
    entry: CodeEntry | None

    @property
    def value(self) -> int:
        """The integer a Leica body stores: ``code << 2 | bits``."""
        return self.code << 2 | self.bits

    @property
    def name(self) -> str | None:
        """What ExifTool prints for this value, or None for an unknown code."""
        return self.entry.name if self.entry else None

    @property
    def lens_name(self) -> str | None:
        """The lens identified (None for unknown codes and uncoded lenses)."""
        return self.entry.lens_name if self.entry else None

    @property
    def focal(self) -> float | None:
        """The focal length the low bits select on a multi-focal lens, else None."""
        return self.entry.at_focal if self.entry else None

    @property
    def frame_lines(self) -> str | None:
        """The frame lines the low bits indicate (M8 meaning), for single-focal lenses.

        None when the bits are part of the identification (entries such as
        ``"51 2"`` or ``"6 0"``) or select a focal length.
        """
        if self.entry is None or self.entry.lens_name is None or self.entry.bits is not None or self.bits == 0:
            return None
        parsed = parse_exiftool_name(self.entry.lens_name)
        if parsed is not None and len(parsed[0].focals) > 1:
            return None
        return FRAME_LINES.get(self.bits)


def lookup(code: int, bits: int, table: CodeTable | None = None) -> LensType:
    """Decode a (code, bits) pair as ExifTool does: key ``"code bits"``, else ``"code"``."""
    table = table or code_table()
    entry = table.by_key.get(f"{code} {bits}") or table.by_key.get(str(code))
    return LensType(code, bits, entry)


def split_value(value: int) -> tuple[int, int]:
    """Split a stored LensType integer into (code, low bits).

    The code is masked to 16 bits, as ExifTool does for the M9's Data1 copy
    of the tag.

    >>> split_value(118)
    (29, 2)
    """
    if value < 0:
        raise ValueError(f"LensType must not be negative, got {value}")
    return (value >> 2) & 0xFFFF, value & 0x3


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def decode_lens_type(value: Any, table: CodeTable | None = None) -> LensType | None:
    """Decode a LensType value in any of the forms listed in the module docstring.

    Returns None when ``value`` is not a Leica M LensType (or is empty).  An
    unknown code gives a :class:`LensType` whose ``entry`` is None.

    >>> decode_lens_type(118).name
    'Summilux-M 35mm f/1.4 ASPH.'
    >>> decode_lens_type("16 2").name
    'Tri-Elmar-M 16-18-21mm f/4 ASPH. (at 18mm)'
    """
    table = table or code_table()
    if value is None:
        return None
    if isinstance(value, (bytes, bytearray)):
        value = bytes(value).split(b"\0", 1)[0].decode("latin-1")
    n = _as_int(value)
    if n is not None:
        return lookup(*split_value(n), table) if n >= 0 else None
    if isinstance(value, Sequence) and not isinstance(value, str):
        if len(value) == 1:
            return decode_lens_type(value[0], table)
        ints = [_as_int(v) for v in value]
        if len(ints) == 2 and None not in ints and 0 <= ints[1] <= 3 and ints[0] >= 0:
            return lookup(ints[0], ints[1], table)
        return None
    if not isinstance(value, str):
        return None
    text = " ".join(value.split())
    if not text:
        return None
    if text.isdigit():
        return lookup(*split_value(int(text)), table)
    m = re.match(r"^(\d+) (\d)$", text) or _UNKNOWN.match(text)
    if m and int(m.group(2)) <= 3:
        return lookup(int(m.group(1)), int(m.group(2)), table)
    folded = text.casefold()
    for e in table.entries:  # ExifTool's printed names
        if e.name.casefold() == folded:
            return LensType(e.code, e.bits if e.bits is not None else table.frame_selector_bits.get(e.code, 0), e)
    return None


def entries_for_lens(lens_name: str, table: CodeTable | None = None) -> tuple[CodeEntry, ...]:
    """Every table entry that identifies ``lens_name`` (e.g. codes 53 and '9 0')."""
    table = table or code_table()
    return tuple(e for e in table.entries if e.lens_name == lens_name)


def primary_code(lens_name: str, table: CodeTable | None = None) -> int:
    """The code that identifies ``lens_name`` for any low bits if there is one, else its first code."""
    entries = entries_for_lens(lens_name, table)
    if not entries:
        raise KeyError(lens_name)
    for e in entries:
        if e.bits is None:
            return e.code
    return entries[0].code
