"""mountkit's native profile format: one TOML file per lens (or camera body).

A lens file looks like this (the full description is ``docs/profiles.md``,
the JSON Schema ``profiles/schema.json``)::

    format_version = 1

    [lens]
    maker = "Leica Camera AG"
    model = "Summicron-M 1:2/28 Asph."
    mounts = ["Leica M"]
    lens_type = "rectilinear"
    focal_min = 28.0
    focal_max = 28.0
    aperture_max = 2.0

    [provenance]
    source = "lensfun database ..."
    licence = "CC-BY-SA-3.0"

    [calibration]
    crop_factor = 1.0
    aspect_ratio = "3:2"

    [[calibration.distortion]]
    model = "ptlens"
    focal = 28.0
    params = { a = 0.0135748, b = -0.0502846, c = 0.0486119 }

Every calibration kind is an array of tables under ``[calibration]``
(``distortion``, ``tca``, ``vignetting`` or any kind a plugin adds), each set
naming its model and its parameters.  Numbers are written with Python's
shortest round-trip representation, so reading a written file gives back the
same :class:`~mountkit.Lens` exactly.  A camera file has a ``[camera]`` table
instead of ``[lens]`` and no calibration.

This module is a pure format layer: bytes in, objects out, and back.  The
structure is checked against the JSON Schema (:mod:`mountkit.validate`); the
physical checks are in :mod:`mountkit.validate` too.
"""

from __future__ import annotations

import math
import os
import re
import sys
import unicodedata
from collections.abc import Mapping
from fractions import Fraction
from pathlib import Path
from typing import Any

from ..errors import ProfileError
from ..hardware import Camera
from ..profile import Calibration, Lens, LensProfile, Provenance
from .safe_files import MAX_FILE_BYTES, read_bytes_limited, write_file_atomic

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

#: The format version this module writes.
FORMAT_VERSION = 1
#: The format versions this module reads.
SUPPORTED_VERSIONS = (1,)

#: Largest native profile file read, in bytes.
MAX_TOML_BYTES = min(MAX_FILE_BYTES, 8 * 1024 * 1024)

PROVENANCE_FIELDS = ("source", "licence", "author", "body", "date", "method", "notes")
LENS_FIELDS = ("maker", "model", "aliases", "mounts", "lens_type", "focal_min", "focal_max",
               "aperture_max", "aperture_min", "leica_code")
CAMERA_FIELDS = ("maker", "model", "aliases", "mount", "sensor_width", "sensor_height", "crop_factor",
                 "resolution", "bit_depth", "notes")
#: Keys of ``[calibration]`` that are not calibration kinds.
CALIBRATION_SCALARS = ("crop_factor", "aspect_ratio", "center")


# -- reading --------------------------------------------------------------------


def parse_toml(data: bytes | str, source: str = "<string>") -> dict[str, Any]:
    """Parse TOML text into a dict; errors name ``source`` and the line."""
    if isinstance(data, bytes):
        if data.startswith(b"\xef\xbb\xbf"):
            data = data[3:]
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ProfileError(f"not UTF-8 text (byte {exc.start}): a profile is a UTF-8 TOML file",
                               source=source) from None
    else:
        text = data
    if not text.strip():
        raise ProfileError("file is empty (expected a TOML profile with format_version = 1)", source=source)
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(f"not valid TOML: {str(exc).splitlines()[0]}", source=source) from None
    except RecursionError:
        raise ProfileError("not valid TOML: nested too deeply", source=source) from None


def load_document(path: str | os.PathLike) -> dict[str, Any]:
    """Read and parse one profile file (size-limited), without checking its structure."""
    data = read_bytes_limited(path, limit=MAX_TOML_BYTES, what="TOML profile")
    return parse_toml(data, str(path))


def check_format_version(doc: Mapping[str, Any], source: str | None = None) -> int:
    """The document's ``format_version``; a clear error when missing or not supported."""
    if "format_version" not in doc:
        raise ProfileError(f"missing format_version (add `format_version = {FORMAT_VERSION}` at the top)",
                           source=source, field="format_version")
    v = doc["format_version"]
    if isinstance(v, bool) or not isinstance(v, int):
        raise ProfileError(f"expected an integer, got {type(v).__name__} {v!r}", source=source,
                           field="format_version")
    if v not in SUPPORTED_VERSIONS:
        newer = v > max(SUPPORTED_VERSIONS)
        raise ProfileError(
            f"unsupported format_version {v}: this mountkit reads version(s) "
            f"{', '.join(map(str, SUPPORTED_VERSIONS))}" + ("; upgrade mountkit to read it" if newer else ""),
            source=source, field="format_version")
    return v


def document_kind(doc: Mapping[str, Any]) -> str:
    """``"camera"`` for a camera body document, else ``"lens"``."""
    return "camera" if "camera" in doc and "lens" not in doc else "lens"


def check_document(doc: Mapping[str, Any], source: str | None = None) -> None:
    """Raise :class:`ProfileError` for the first structural problem (format version, then schema)."""
    check_format_version(doc, source)
    from ..validate import schema_issues  # late import: validate builds on this module

    issues = schema_issues(doc)
    if issues:
        first = issues[0]
        more = f" (and {len(issues) - 1} more problem(s); run `mountkit profile validate`)" if len(issues) > 1 else ""
        raise ProfileError(first.message + more, source=source, field=first.path or None)


def parse_aspect_ratio(value: Any, source: str | None = None, field: str = "calibration.aspect_ratio") -> float:
    """An aspect ratio from a number or an ``"a:b"`` string (as lensfun writes ``4:3``)."""
    if isinstance(value, str):
        m = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*:\s*([0-9]+(?:\.[0-9]+)?)\s*", value)
        if not m or float(m.group(2)) == 0:
            raise ProfileError(f"expected a number or 'width:height' such as '4:3', got {value!r}",
                               source=source, field=field)
        return float(m.group(1)) / float(m.group(2))
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ProfileError(f"expected a number or 'width:height', got {value!r}", source=source, field=field)
    return float(value)


def _profile_from_calibration(cal: Mapping[str, Any], provenance: Provenance, source: str) -> LensProfile:
    sets: list[Calibration] = []
    for kind, entries in cal.items():
        if kind in CALIBRATION_SCALARS:
            continue
        for i, e in enumerate(entries):
            try:
                sets.append(Calibration(kind=kind, model=e["model"], focal=e["focal"], params=e.get("params", {}),
                                        aperture=e.get("aperture"), distance=e.get("distance")))
            except ProfileError as exc:
                raise ProfileError(str(exc), source=source, field=f"calibration.{kind}[{i}]") from None
    center = tuple(cal.get("center", (0.0, 0.0)))
    return LensProfile(crop_factor=cal["crop_factor"],
                       aspect_ratio=parse_aspect_ratio(cal.get("aspect_ratio", 1.5), source),
                       center=center, calibrations=tuple(sets), provenance=provenance, source=source)


def lens_from_document(doc: Mapping[str, Any], source: str = "<string>") -> Lens:
    """Build a :class:`Lens` (with its :class:`LensProfile` when calibrated) from a parsed document."""
    check_document(doc, source)
    if document_kind(doc) != "lens":
        raise ProfileError("this is a camera profile, not a lens profile", source=source, field="camera")
    ident = doc["lens"]
    prov_doc = doc.get("provenance", {})
    provenance = Provenance(**{k: prov_doc.get(k, "") for k in PROVENANCE_FIELDS})
    profile = None
    if "calibration" in doc:
        profile = _profile_from_calibration(doc["calibration"], provenance, source)
    return Lens(
        maker=ident["maker"], model=ident["model"], mounts=tuple(ident.get("mounts", ())),
        aliases=tuple(ident.get("aliases", ())), lens_type=ident.get("lens_type", "rectilinear"),
        focal_min=ident.get("focal_min"), focal_max=ident.get("focal_max"),
        aperture_max=ident.get("aperture_max"), aperture_min=ident.get("aperture_min"),
        leica_code=ident.get("leica_code"), profile=profile, source=source,
    )


def camera_from_document(doc: Mapping[str, Any], source: str = "<string>") -> Camera:
    """Build a :class:`Camera` from a parsed camera document."""
    check_document(doc, source)
    if document_kind(doc) != "camera":
        raise ProfileError("this is a lens profile, not a camera profile", source=source, field="lens")
    c = doc["camera"]
    res = c.get("resolution")
    return Camera(
        maker=c["maker"], model=c["model"], mount=c.get("mount"), sensor_width=c.get("sensor_width"),
        sensor_height=c.get("sensor_height"), resolution=tuple(res) if res is not None else None,
        bit_depth=c.get("bit_depth"), aliases=tuple(c.get("aliases", ())), crop_factor=c.get("crop_factor", 0.0),
        notes=c.get("notes", ""), source=source,
    )


def from_document(doc: Mapping[str, Any], source: str = "<string>") -> Lens | Camera:
    """A :class:`Lens` or a :class:`Camera`, whichever the document describes."""
    if document_kind(doc) == "camera":
        return camera_from_document(doc, source)
    return lens_from_document(doc, source)


def loads(text: str | bytes, source: str = "<string>") -> Lens | Camera:
    """Parse a profile from TOML text."""
    return from_document(parse_toml(text, source), source)


def load(path: str | os.PathLike) -> Lens | Camera:
    """Read a lens or camera profile file.

    Raises
    ------
    ProfileError
        one line naming the file, the key path and what is wrong.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from mountkit import Lens
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "x.toml"
    >>> _ = p.write_text('format_version = 1\\n[lens]\\nmaker = "Acme"\\nmodel = "50mm f/2"\\n')
    >>> load(p).name
    'Acme 50mm f/2'
    """
    return from_document(load_document(path), str(path))


def load_lens(path: str | os.PathLike) -> Lens:
    """Read a lens profile file (a camera file is an error)."""
    return lens_from_document(load_document(path), str(path))


def load_camera(path: str | os.PathLike) -> Camera:
    """Read a camera profile file (a lens file is an error)."""
    return camera_from_document(load_document(path), str(path))


# -- writing --------------------------------------------------------------------


def format_aspect_ratio(value: float) -> float | str:
    """``"a:b"`` when ``value`` is exactly a ratio of small integers (4/3 -> "4:3"), else the number."""
    frac = Fraction(value).limit_denominator(32)
    if frac.denominator > 1 and frac.numerator <= 64 and frac.numerator / frac.denominator == value:
        return f"{frac.numerator}:{frac.denominator}"
    if frac.denominator == 1 and float(frac) == value:
        return f"{frac.numerator}:1"
    return float(value)


def lens_to_document(lens: Lens) -> dict[str, Any]:
    """The document (plain dict, in writing order) describing ``lens``."""
    ident: dict[str, Any] = {"maker": lens.maker, "model": lens.model}
    if lens.aliases:
        ident["aliases"] = list(lens.aliases)
    ident["mounts"] = list(lens.mounts)
    ident["lens_type"] = lens.lens_type
    for name in ("focal_min", "focal_max", "aperture_max", "aperture_min"):
        v = getattr(lens, name)
        if v is not None:
            ident[name] = float(v)
    if lens.leica_code is not None:
        ident["leica_code"] = int(lens.leica_code)
    doc: dict[str, Any] = {"format_version": FORMAT_VERSION, "lens": ident}
    prof = lens.profile
    if prof is not None:
        prov = {k: getattr(prof.provenance, k) for k in PROVENANCE_FIELDS if getattr(prof.provenance, k)}
        if prov:
            doc["provenance"] = prov
        cal: dict[str, Any] = {"crop_factor": float(prof.crop_factor),
                               "aspect_ratio": format_aspect_ratio(prof.aspect_ratio)}
        if tuple(prof.center) != (0.0, 0.0):
            cal["center"] = [float(prof.center[0]), float(prof.center[1])]
        for kind in prof.kinds:
            entries = []
            for c in prof.of_kind(kind):
                e: dict[str, Any] = {"model": c.model, "focal": float(c.focal)}
                if c.aperture is not None:
                    e["aperture"] = float(c.aperture)
                if c.distance is not None:
                    e["distance"] = float(c.distance)
                e["params"] = {k: float(v) for k, v in c.params.items()}
                entries.append(e)
            cal[kind] = entries
        doc["calibration"] = cal
    return doc


def camera_to_document(camera: Camera) -> dict[str, Any]:
    """The document (plain dict, in writing order) describing ``camera``."""
    c: dict[str, Any] = {"maker": camera.maker, "model": camera.model}
    if camera.aliases:
        c["aliases"] = list(camera.aliases)
    if camera.mount:
        c["mount"] = camera.mount
    if camera.sensor_width is not None:
        c["sensor_width"] = float(camera.sensor_width)
        c["sensor_height"] = float(camera.sensor_height)
    else:
        c["crop_factor"] = float(camera.crop_factor)
    if camera.resolution is not None:
        c["resolution"] = [int(camera.resolution[0]), int(camera.resolution[1])]
    if camera.bit_depth is not None:
        c["bit_depth"] = int(camera.bit_depth)
    if camera.notes:
        c["notes"] = camera.notes
    return {"format_version": FORMAT_VERSION, "camera": c}


def to_document(obj: Lens | Camera) -> dict[str, Any]:
    """The document describing a lens or a camera."""
    if isinstance(obj, Camera):
        return camera_to_document(obj)
    if isinstance(obj, Lens):
        return lens_to_document(obj)
    raise TypeError(f"expected a mountkit Lens or Camera, got {type(obj).__name__}")


_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"}


def _str(s: str) -> str:
    out = []
    for ch in s:
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _key(k: str) -> str:
    return k if _BARE_KEY.fullmatch(k) else _str(k)


def _value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if not math.isfinite(v):
            raise ProfileError(f"cannot write the non-finite number {v!r}")
        return repr(v)
    if isinstance(v, str):
        return _str(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    if isinstance(v, Mapping):
        if not v:
            return "{}"
        return "{ " + ", ".join(f"{_key(k)} = {_value(x)}" for k, x in v.items()) + " }"
    raise TypeError(f"cannot write {type(v).__name__} to TOML")


def _is_table_array(v: Any) -> bool:
    return isinstance(v, list) and bool(v) and all(isinstance(x, Mapping) for x in v)


HEADER = "# mountkit profile: format described in docs/profiles.md, schema in profiles/schema.json\n"


def dumps_document(doc: Mapping[str, Any], *, header: str = HEADER) -> str:
    """Write a profile document as TOML, in the layout of the shipped profiles.

    Top-level scalars first, then one ``[table]`` per top-level table, with
    nested lists of tables (calibration sets) as ``[[table.kind]]`` blocks
    whose ``params`` are one inline table.
    """
    lines: list[str] = [header.rstrip("\n")] if header else []
    for k, v in doc.items():
        if not isinstance(v, Mapping):
            lines.append(f"{_key(k)} = {_value(v)}")
    for k, table in doc.items():
        if not isinstance(table, Mapping):
            continue
        lines.append("")
        lines.append(f"[{_key(k)}]")
        for tk, tv in table.items():
            if not _is_table_array(tv):
                lines.append(f"{_key(tk)} = {_value(tv)}")
        for tk, tv in table.items():
            if _is_table_array(tv):
                for entry in tv:
                    lines.append("")
                    lines.append(f"[[{_key(k)}.{_key(tk)}]]")
                    for ek, ev in entry.items():
                        lines.append(f"{_key(ek)} = {_value(ev)}")
    return "\n".join(lines) + "\n"


def dumps(obj: Lens | Camera) -> str:
    """A lens or camera profile as TOML text.

    Examples
    --------
    >>> from mountkit import Lens
    >>> print(dumps(Lens(maker="Acme", model="50mm f/2", focal_min=50)).splitlines()[1])
    format_version = 1
    """
    return dumps_document(to_document(obj))


def save(obj: Lens | Camera, path: str | os.PathLike, *, force: bool = False) -> Path:
    """Write a profile atomically; an existing file is replaced only with ``force``."""
    return write_file_atomic(path, dumps(obj), force=force)


# -- file names -----------------------------------------------------------------


def slug(text: str) -> str:
    """A file-name-safe, lower-case ASCII form of a name ("Voigtländer" -> "voigtlander")."""
    ascii_ = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    s = re.sub(r"[^a-z0-9.]+", "-", ascii_.lower()).strip("-.")
    s = re.sub(r"\.+", ".", s)
    return s or "unnamed"


def _short_maker(maker: str) -> str:
    words = maker.split()
    legal = {"ag", "gmbh", "co.", "corp.", "corp", "inc.", "inc", "ltd.", "ltd", "camera", "optical", "co"}
    while len(words) > 1 and words[-1].lower() in legal:
        words.pop()
    return " ".join(words) or maker


def profile_relpath(obj: Lens | Camera, *, suffix: str = "") -> Path:
    """Where a profile lives inside a profile directory.

    Lenses: ``<maker>/<model>.toml``; cameras: ``cameras/<maker>/<model>.toml``.
    ``suffix`` is added to the stem to tell apart profiles of the same lens
    (e.g. calibrated on two crop factors).
    """
    maker_dir = slug(_short_maker(obj.maker))
    model = obj.model
    if model.lower().startswith(obj.maker.lower() + " "):
        model = model[len(obj.maker) + 1:]
    name = slug(model) + suffix + ".toml"
    if isinstance(obj, Camera):
        return Path("cameras") / maker_dir / name
    return Path(maker_dir) / name
