"""Importing lensfun XML into native profiles: database versions 1 and 2, and what comments say.

:mod:`mountkit.formats.lensfun_xml` reads lensfun 0.3.4's format (database
version 1, as lensfunpy ships it).  lensfun's master branch writes version 2,
where one lens may carry several ``<calibration>`` blocks, each with its own
``cropfactor`` and ``aspect-ratio`` attributes, and where ``<distortion>``
may carry a ``real-focal`` attribute.  This module reads both:

* version 2 is rewritten as version 1 first, as lensfun master's parser
  reads it (``libs/lensfun/database.cpp`` at commit 1c8b8f0): the
  calibration attributes start from the lens's ``<cropfactor>`` and
  ``<aspect-ratio>`` (default 1 and 3:2) and each ``<calibration>``'s
  attributes change them for that block and the blocks after it.  Every
  distinct (crop factor, aspect ratio) becomes a lens entry of its own
  (mountkit's :class:`~mountkit.LensProfile` has one calibration sensor);
  ``real-focal`` becomes 0.3.4's ``<real-focal-length>``;
* XML comments inside a lens, which the database uses to name the body the
  calibration was made on ("Taken with Leica M9 Digital Camera"), go to the
  profile's provenance: ``body`` and ``notes``.

Provenance (source, licence) is given by the caller; a lensfun database file
is CC BY-SA 3.0.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from xml.etree import ElementTree as StdET

from ..errors import ProfileError
from ..hardware import Camera, Mount
from ..profile import Lens, Provenance
from .lensfun_xml import parse_lensfun_xml
from .safe_files import read_bytes_limited

#: Licence of the lensfun database (``data/db`` of lensfun/lensfun).
LENSFUN_DB_LICENCE = "CC-BY-SA-3.0"

_TAKEN = re.compile(r"^\s*taken\s+(?:with\s+|on\s+|by\s+)?(?:an?\s+|the\s+)?(?P<body>.+?)\s*$", re.IGNORECASE | re.S)


@dataclass
class LensfunImport:
    """What a lensfun XML import yields."""

    lenses: list[Lens] = field(default_factory=list)
    cameras: list[Camera] = field(default_factory=list)
    mounts: list[Mount] = field(default_factory=list)
    version: int = 1
    warnings: list[str] = field(default_factory=list)


def _parse_with_comments(data: bytes, source: str):
    """Parse safely (defusedxml), keeping comments in the tree."""
    import defusedxml
    from defusedxml.ElementTree import DefusedXMLParser

    try:
        parser = DefusedXMLParser(target=StdET.TreeBuilder(insert_comments=True), forbid_dtd=False,
                                  forbid_entities=True, forbid_external=True)
        parser.feed(data)
        return parser.close()
    except defusedxml.EntitiesForbidden as exc:
        raise ProfileError(f"refused: the XML declares the entity {exc.name!r} (entity expansion is not allowed: "
                           "possible 'billion laughs' XML bomb)", source=source) from None
    except defusedxml.ExternalReferenceForbidden as exc:
        raise ProfileError(f"refused: the XML references the external resource {exc.sysid or exc.pubid!r} "
                           "(external entities are not allowed)", source=source) from None
    except defusedxml.DefusedXmlException as exc:
        raise ProfileError(f"refused unsafe XML: {exc}", source=source) from None
    except StdET.ParseError as exc:
        raise ProfileError(f"not well-formed XML: {exc}", source=source) from None
    except RecursionError:
        raise ProfileError("not usable XML: nested too deeply", source=source) from None


def _is_comment(el) -> bool:
    return el.tag is StdET.Comment


def _text(el) -> str:
    return " ".join((el.text or "").split())


def body_from_comment(comment: str) -> str | None:
    """The body named by a lensfun comment ("Taken with Leica M9 Digital Camera" -> "Leica M9 Digital Camera").

    Text after a comma is not part of the body ("Taken with ILCE-7CM2, tca &
    vignetting ... fitted" -> "ILCE-7CM2").

    >>> body_from_comment(" Taken with LEICA M (Typ 240) ")
    'LEICA M (Typ 240)'
    >>> body_from_comment("Model 11819/11825") is None
    True
    """
    m = _TAKEN.match(comment)
    if not m:
        return None
    body = m.group("body").split(",")[0].strip().rstrip(".")
    return body or None


def _number(text: str | None, what: str, source: str, path: str) -> float:
    try:
        v = float((text or "").strip())
    except ValueError:
        raise ProfileError(f"{what} must be a number, got {text!r}", source=source, field=path) from None
    if not (v > 0 and v < float("inf")):
        raise ProfileError(f"{what} must be a positive finite number, got {text!r}", source=source, field=path)
    return v


def _aspect(text: str, source: str, path: str) -> float:
    t = text.strip()
    if ":" in t:
        a, _, b = t.partition(":")
        return _number(a, "aspect ratio", source, path) / _number(b, "aspect ratio", source, path)
    return _number(t, "aspect ratio", source, path)


def _fmt(v: float) -> str:
    s = repr(float(v))
    return s[:-2] if s.endswith(".0") else s


@dataclass
class _LensNotes:
    maker: str
    model: str
    crop: float
    comments: list[str]


def _v2_to_v1(root, source: str, warnings: list[str]) -> tuple[bytes, list[_LensNotes]]:
    """Rewrite a parsed version-2 tree as a version-1 document; collect each lens's comments."""
    out = StdET.Element("lensdatabase", version="1")
    notes: list[_LensNotes] = []
    for i, el in enumerate(root):
        if _is_comment(el) or not isinstance(el.tag, str):
            continue
        if el.tag != "lens":
            out.append(_strip_comments(el))
            continue
        path = f"lensdatabase/lens[{i + 1}]"
        crop, aspect = 1.0, 1.5
        head = []
        blocks = []
        lens_comments = [c.text.strip() for child in el if child.tag != "calibration"
                         for c in ([child] if _is_comment(child) else child.iter())
                         if _is_comment(c) and c.text and c.text.strip()]
        for child in el:
            if _is_comment(child):
                continue
            if child.tag == "cropfactor":
                crop = _number(child.text, "crop factor", source, f"{path}/cropfactor")
            elif child.tag == "aspect-ratio":
                aspect = _aspect(child.text or "", source, f"{path}/aspect-ratio")
            if child.tag == "calibration":
                blocks.append(child)
            elif child.tag not in ("cropfactor", "aspect-ratio"):
                head.append(child)
        groups: dict[tuple[float, float], list] = {}
        group_comments: dict[tuple[float, float], list[str]] = {}
        for b in blocks:
            for name, value in b.attrib.items():
                if name == "cropfactor":
                    crop = _number(value, "calibration cropfactor", source, f"{path}/calibration/@cropfactor")
                elif name == "aspect-ratio":
                    aspect = _aspect(value, source, f"{path}/calibration/@aspect-ratio")
                else:
                    raise ProfileError(f"<calibration> has no attribute {name!r} (allowed: cropfactor, aspect-ratio)",
                                       source=source, field=f"{path}/calibration/@{name}")
            groups.setdefault((crop, aspect), []).extend(
                c for c in b if not _is_comment(c) and isinstance(c.tag, str))
            group_comments.setdefault((crop, aspect), []).extend(
                c.text.strip() for c in b.iter() if _is_comment(c) and c.text and c.text.strip())
        if not groups:
            groups[(crop, aspect)] = []
        crops = [c for c, _ in groups]
        for (gcrop, gaspect), entries in groups.items():
            if crops.count(gcrop) > 1:
                warnings.append(f"{source}: {path}: calibrations with crop factor {gcrop:g} but different aspect "
                                "ratios; lensfun identifies a lens by maker, model and crop factor, so only the "
                                "last set is kept")
            lens = StdET.SubElement(out, "lens")
            for h in head:
                lens.append(_strip_comments(h))
            StdET.SubElement(lens, "cropfactor").text = _fmt(gcrop)
            if gaspect != 1.5:
                StdET.SubElement(lens, "aspect-ratio").text = _fmt(gaspect)
            if entries:
                cal = StdET.SubElement(lens, "calibration")
                for e in entries:
                    e = _strip_comments(e)
                    real = e.attrib.pop("real-focal", None)
                    cal.append(e)
                    if real is not None:
                        StdET.SubElement(cal, "real-focal-length", {"focal": e.get("focal", ""), "real-focal": real})
            maker = next((_text(h) for h in head if h.tag == "maker" and "lang" not in h.attrib), "")
            model = next((_text(h) for h in head if h.tag == "model" and "lang" not in h.attrib), "")
            notes.append(_LensNotes(maker, model, gcrop, lens_comments + group_comments.get((gcrop, gaspect), [])))
    return StdET.tostring(out, encoding="utf-8"), notes


def _strip_comments(el):
    """A copy of ``el`` without comment nodes."""
    copy = StdET.Element(el.tag, dict(el.attrib))
    copy.text, copy.tail = el.text, None
    for child in el:
        if _is_comment(child):
            continue
        copy.append(_strip_comments(child))
    return copy


def _v1_notes(root) -> list[_LensNotes]:
    notes = []
    for el in root:
        if _is_comment(el) or el.tag != "lens":
            continue
        maker = next((_text(h) for h in el if h.tag == "maker" and "lang" not in h.attrib), "")
        model = next((_text(h) for h in el if h.tag == "model" and "lang" not in h.attrib), "")
        crop_el = next((h for h in el if h.tag == "cropfactor"), None)
        try:
            crop = float((crop_el.text or "").strip()) if crop_el is not None else 0.0
        except ValueError:
            crop = 0.0
        comments = [c.text.strip() for c in el.iter() if _is_comment(c) and c.text and c.text.strip()]
        notes.append(_LensNotes(maker, model, crop, comments))
    return notes


def _key(maker: str, model: str, crop: float) -> tuple[str, str, float]:
    return (" ".join(maker.casefold().split()), " ".join(model.casefold().split()), round(crop, 2))


def import_lensfun_xml(data: bytes, source: str = "<lensfun XML>", *,
                       provenance: Provenance | None = None) -> LensfunImport:
    """Import a lensfun XML document (database version 1 or 2; a whole file or one contribution).

    Parameters
    ----------
    data : bytes
        The XML.
    source : str
        File name for messages and ``Lens.source``.
    provenance : Provenance, optional
        Provenance of every lens (source, licence...); default: the file
        name, licence :data:`LENSFUN_DB_LICENCE`.  Each lens's ``body`` and
        ``notes`` are filled from its XML comments.
    """
    if isinstance(data, str):
        data = data.encode("utf-8")
    if not data.strip():
        raise ProfileError("file is empty (expected lensfun XML)", source=source)
    root = _parse_with_comments(data, source)
    if root.tag != "lensdatabase":
        raise ProfileError(f"root element is <{root.tag}>, expected <lensdatabase> (a lensfun database file or "
                           "contribution)", source=source)
    version_text = (root.get("version") or "1").strip()
    if not version_text.isdigit():
        raise ProfileError(f"database version must be an integer, got {version_text!r}", source=source,
                           field="lensdatabase/@version")
    version = int(version_text)
    warnings: list[str] = []
    if version > 2:
        raise ProfileError(f"lensfun database format version {version} is not supported (versions 1 and 2 are)",
                           source=source, field="lensdatabase/@version")
    if version == 2:
        v1, notes = _v2_to_v1(root, source, warnings)
    else:
        v1, notes = data, _v1_notes(root)
    base = provenance or Provenance(source=f"lensfun XML {Path(source).name}", licence=LENSFUN_DB_LICENCE)
    doc = parse_lensfun_xml(v1, source=source, provenance=base)
    by_key: dict[tuple, _LensNotes] = {}
    for n in notes:
        by_key[_key(n.maker, n.model, n.crop)] = n
    lenses = []
    for lens in doc.lenses:
        n = by_key.get(_key(lens.maker, lens.model, lens.profile.crop_factor if lens.profile else 0.0))
        if n is not None and n.comments and lens.profile is not None:
            bodies = [b for b in (body_from_comment(c) for c in n.comments) if b]
            prov = lens.profile.provenance
            extra = "; ".join(f"lensfun comment: {c}" for c in n.comments)
            prov = replace(prov, body=prov.body or "; ".join(dict.fromkeys(bodies)),
                           notes="; ".join(p for p in (prov.notes, extra) if p))
            lens = replace(lens, profile=replace(lens.profile, provenance=prov))
        lenses.append(lens)
    warnings.extend(doc.replaced)
    return LensfunImport(lenses=lenses, cameras=list(doc.cameras), mounts=list(doc.mounts), version=version,
                         warnings=warnings)


def read_lensfun_file(path: str | os.PathLike, *, provenance: Provenance | None = None) -> LensfunImport:
    """:func:`import_lensfun_xml` of a file (size-limited)."""
    data = read_bytes_limited(path, what="lensfun XML")
    return import_lensfun_xml(data, str(path), provenance=provenance)
