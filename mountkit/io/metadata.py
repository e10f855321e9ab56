"""Frame metadata: read EXIF / DNG / maker-note tags, write EXIF and the mountkit record.

Reading and writing go through **python-exiv2** (PyPI ``exiv2``, libexiv2 in
binary wheels): it reads EXIF, XMP and many maker notes from TIFF, DNG, every
TIFF-based raw, CR3, RAF, RW2, ORF, JPEG and PNG, reports damage as warnings
instead of refusing the file, and writes EXIF and XMP into TIFF, JPEG and
PNG outputs.  (Why this library and not exifread, pyexiv2 or piexif: see
docs/files.md.)  libexiv2 does not decode Leica M maker notes, so the Leica
lens code is decoded here from the maker-note bytes
(:func:`decode_leica_makernote`).

:func:`read_metadata` returns a flat dict keyed by EXIF tag names, the
vocabulary of ``kit.identify`` (see ``mountkit_register_identifiers``):

=====================  =====================================================
``Make``, ``Model``    camera maker and model (str)
``LensMake``,          lens maker and model (str); ``LensModel`` falls back
``LensModel``          to XMP ``aux:Lens``
``FocalLength``        mm (float)
``FNumber``            f-number (float); from ``ApertureValue`` (APEX) when
                       FNumber is absent
``FocusDistance``      metres (float): EXIF SubjectDistance or XMP
                       ``aux:ApproximateFocusDistance``
``LensType``           Leica's LensType as stored (int: 6-bit lens code << 2
                       | two low bits) from an M8/M9-style maker note, or the
                       lens name string later maker notes store under the
                       same tag
``LensTypeCode``,      the stored value split: the 6-bit lens code and the
``LensTypeFrameBits``  two low bits (frame selector or focal position)
``Orientation``        EXIF orientation (int)
``OpcodeList1..3``     True when a DNG carries that opcode list
``MountkitRecord``     the record of a previous mountkit correction (dict)
=====================  =====================================================
"""

from __future__ import annotations

import json
import os
import struct
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import FrameError
from .tiffifd import LONG, parse_ifd

#: XMP namespace of the mountkit record (an identifier, not a web page).
XMP_NS = "http://ns.mountkit.invalid/record/1.0/"
XMP_PREFIX = "mountkit"

_EXIV2_READY = False


def _exiv2():
    """Import exiv2 once per process, silence its log and register our XMP namespace."""
    global _EXIV2_READY
    import exiv2

    if not _EXIV2_READY:
        exiv2.LogMsg.setLevel(exiv2.LogMsg.Level.mute)
        try:
            exiv2.XmpProperties.registerNs(XMP_NS, XMP_PREFIX)
        except Exception:  # already registered under this prefix
            pass
        _EXIV2_READY = True
    return exiv2


def _open_image(path: Path):
    exiv2 = _exiv2()
    try:
        st = path.stat()
    except OSError as exc:
        raise FrameError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if st.st_size == 0:
        raise FrameError(f"{path}: the file is empty (0 bytes)")
    try:
        image = exiv2.ImageFactory.open(str(path))
        image.readMetadata()
    except Exception as exc:
        msg = exc.args[1] if isinstance(exc.args, tuple) and len(exc.args) > 1 else str(exc)
        raise FrameError(f"{path}: cannot read metadata ({msg})") from None
    return image


# -- Leica maker notes ----------------------------------------------------------------

# Layouts from ExifTool's tables (lib/Image/ExifTool/MakerNotes.pm, Panasonic.pm,
# Leica2/Leica4/Leica5/Leica6 tables): an 8-byte header, then an IFD.
#   "LEICA\0\0\0"      M8:   tag 0x0310 LensType int32u = code << 2 | frame bits
#   "LEICA0\x03\0"     M9, M Monochrom: sub-IFD 0x3400 holds 0x3405 LensType, same packing
#   "LEICA\0\x02\xff" / Typ 240 and later: tag 0x0303 LensType is the lens name (string)
# Offsets inside the note are relative to the note's start in DNG files and to
# the IFD start (note + 8) in JPEG files written by the M8; both are tried.


def _guess_order(blob: bytes, at: int) -> str | None:
    if len(blob) < at + 2:
        return None
    le, be = struct.unpack_from("<H", blob, at)[0], struct.unpack_from(">H", blob, at)[0]
    if 0 < le <= 256 and (le <= be or be == 0):
        return "<"
    if 0 < be <= 256:
        return ">"
    return None


def decode_leica_makernote(blob: bytes, byteorder: str | None = None) -> dict[str, Any]:
    """Leica lens identification from the bytes of an EXIF MakerNote.

    Returns ``{"LensType": stored, "LensTypeCode": stored >> 2,
    "LensTypeFrameBits": stored & 3}`` for the numeric value of M8/M9-style notes, ``{"LensType": "name"}`` for
    later notes that store a name, or ``{}`` when the note is not a Leica
    note or carries no lens type.  Never raises on damaged notes.

    >>> import struct
    >>> note = b"LEICA\\0\\0\\0" + struct.pack("<HHHII I", 1, 0x0310, 4, 1, (29 << 2) | 2, 0)
    >>> decode_leica_makernote(note)
    {'LensType': 118, 'LensTypeCode': 29, 'LensTypeFrameBits': 2}
    """
    if not blob.startswith(b"LEICA") or len(blob) < 10:
        return {}
    bo = _guess_order(blob, 8) or byteorder or "<"
    for base in (0, 8):
        try:
            entries = {e.tag: e for e in parse_ifd(blob, 8, byteorder=bo, base=base)}
        except FrameError:
            return {}
        numeric = None
        if 0x0310 in entries and entries[0x0310].type == LONG:
            numeric = entries[0x0310].value[0]
        elif 0x3400 in entries:
            sub_off = entries[0x3400].value[0] - base
            try:
                sub = {e.tag: e for e in parse_ifd(blob, sub_off, byteorder=bo, base=base)}
            except FrameError:
                continue
            if 0x3405 in sub and sub[0x3405].type == LONG:
                numeric = sub[0x3405].value[0]
        elif 0x0303 in entries and isinstance(entries[0x0303].value, str) and entries[0x0303].value:
            return {"LensType": entries[0x0303].value.strip()}
        if numeric is not None:
            return {"LensType": int(numeric), "LensTypeCode": int(numeric) >> 2,
                    "LensTypeFrameBits": int(numeric) & 0x3}
    return {}


# -- reading ----------------------------------------------------------------------------


def _num(datum) -> float | None:
    try:
        v = float(datum.toFloat(0))
    except Exception:
        return None
    if v != v or v in (float("inf"), float("-inf")):
        return None
    return float(f"{v:.6g}")  # libexiv2 converts through float32


def _text(datum) -> str | None:
    try:
        s = datum.toString().strip().strip("\0").strip()
    except Exception:
        return None
    return s or None


def _first(d: Mapping[str, Any], *keys: str):
    for k in keys:
        if k in d:
            return d[k]
    return None


def read_metadata(path: str | os.PathLike) -> dict[str, Any]:
    """The metadata of an image or raw file as a flat dict of EXIF tag names (see the module docstring).

    Raises
    ------
    FrameError
        naming the file when it is empty, unreadable or not an image format
        libexiv2 knows.
    """
    p = Path(path)
    image = _open_image(p)
    exif = {d.key(): d for d in image.exifData()}
    xmp = {d.key(): d for d in image.xmpData()}
    out: dict[str, Any] = {}

    for name, keys in {
        "Make": ("Exif.Image.Make",),
        "Model": ("Exif.Image.Model", "Exif.Image.UniqueCameraModel"),
        "LensMake": ("Exif.Photo.LensMake",),
        "LensModel": ("Exif.Photo.LensModel",),
        "LensSerialNumber": ("Exif.Photo.LensSerialNumber",),
        "BodySerialNumber": ("Exif.Photo.BodySerialNumber",),
        "DateTimeOriginal": ("Exif.Photo.DateTimeOriginal",),
    }.items():
        d = _first(exif, *keys)
        if d is not None and (s := _text(d)):
            out[name] = s
    if "LensModel" not in out:
        d = _first(xmp, "Xmp.aux.Lens", "Xmp.exifEX.LensModel")
        if d is not None and (s := _text(d)):
            out["LensModel"] = s
    for name, keys in {
        "FocalLength": ("Exif.Photo.FocalLength", "Exif.Image.FocalLength"),
        "FNumber": ("Exif.Photo.FNumber", "Exif.Image.FNumber"),
        "FocalLengthIn35mmFilm": ("Exif.Photo.FocalLengthIn35mmFilm",),
    }.items():
        d = _first(exif, *keys)
        if d is not None and (v := _num(d)) is not None and v > 0:
            out[name] = v
    if "FNumber" not in out:
        d = _first(exif, "Exif.Photo.ApertureValue", "Exif.Image.ApertureValue")
        if d is not None and (v := _num(d)) is not None:
            out["FNumber"] = round(2 ** (v / 2), 2)
    d = _first(exif, "Exif.Photo.SubjectDistance", "Exif.Image.SubjectDistance")
    dist = _num(d) if d is not None else None
    if dist is None:
        d = _first(xmp, "Xmp.aux.ApproximateFocusDistance")
        dist = _num(d) if d is not None else None
    if dist is not None and dist > 0:
        out["FocusDistance"] = dist
    d = exif.get("Exif.Image.Orientation")
    if d is not None and (v := _num(d)) is not None:
        out["Orientation"] = int(v)
    for key in exif:
        for n in (1, 2, 3):
            if key.endswith(f".OpcodeList{n}"):
                out[f"OpcodeList{n}"] = True
    if "Exif.Image.DNGVersion" in exif:
        out["DNGVersion"] = _text(exif["Exif.Image.DNGVersion"])
    mn = exif.get("Exif.Photo.MakerNote")
    if mn is not None:
        try:
            blob = bytes(mn.value().data())
        except Exception:
            blob = b""
        out.update(decode_leica_makernote(blob))
    rec = _first(xmp, f"Xmp.{XMP_PREFIX}.Record")
    if rec is not None:
        try:
            out["MountkitRecord"] = json.loads(rec.toString())
        except (ValueError, TypeError):
            pass
    return out


def parse_record_from_xmp(xmp: str) -> dict | None:
    """The mountkit record in an XMP packet's text, or None (parsed with defusedxml)."""
    from defusedxml import ElementTree

    try:
        root = ElementTree.fromstring(xmp.strip().strip("\0").encode("utf-8"))
    except Exception:
        start, end = xmp.find("<x:xmpmeta"), xmp.find("</x:xmpmeta>")
        if start < 0 or end < 0:
            return None
        try:
            root = ElementTree.fromstring(xmp[start: end + len("</x:xmpmeta>")].encode("utf-8"))
        except Exception:
            return None
    key = f"{{{XMP_NS}}}Record"
    for el in root.iter():
        if key in el.attrib:
            text = el.attrib[key]
            break
        if el.tag == key:
            text = el.text or ""
            break
    else:
        return None
    try:
        rec = json.loads(text)
    except ValueError:
        return None
    return rec if isinstance(rec, dict) else None


def read_record(path: str | os.PathLike) -> dict | None:
    """The mountkit record written into a corrected file, or None."""
    return read_metadata(path).get("MountkitRecord")


# -- writing ----------------------------------------------------------------------------

#: top-level (IFD0) EXIF tags copied to outputs; the others describe the
#: input's pixel layout (or a raw file's) and must not be copied
IFD0_COPIED = ("Make", "Model", "Orientation", "DateTime", "Artist", "Copyright", "ImageDescription",
               "XResolution", "YResolution", "ResolutionUnit", "LensInfo")
_SKIPPED_GROUPS = ("Image", "Image2", "Image3", "Thumbnail", "SubImage", "SubThumb", "MpfInfo", "PanasonicRaw")


def _copied(key: str) -> bool:
    parts = key.split(".")
    if len(parts) != 3:
        return False
    group, tag = parts[1], parts[2]
    if group == "Image":
        return tag in IFD0_COPIED
    if group.startswith(_SKIPPED_GROUPS):
        return False
    if group == "Photo" and tag in ("PixelXDimension", "PixelYDimension", "InteroperabilityTag"):
        return False
    return True


def write_metadata(path: str | os.PathLike, *, source: str | os.PathLike | None = None,
                   record: Mapping[str, Any] | None = None, software: str | None = None) -> list[str]:
    """Copy EXIF (and XMP) from ``source`` into the image at ``path`` and add the mountkit record.

    ``path`` is a file mountkit has just written (TIFF, JPEG or PNG), never
    an input.  Tags describing the source's pixel layout (sizes, strips,
    DNG raw tags, thumbnails) are not copied.  ``record`` goes to XMP as
    JSON (``mountkit:Record``) with a few readable properties beside it.

    Returns
    -------
    list of str
        Notes on what could not be copied (empty when everything went).
    """
    exiv2 = _exiv2()
    notes: list[str] = []
    dest = exiv2.ImageFactory.open(str(path))
    dest.readMetadata()
    exif = dest.exifData()
    xmp = dest.xmpData()
    if source is not None:
        try:
            src = _open_image(Path(source))
            for d in src.exifData():
                key = d.key()
                if _copied(key):
                    try:
                        exif[key] = d.value()
                    except Exception as exc:
                        notes.append(f"EXIF {key} not copied: {exc}")
            for d in src.xmpData():
                key = d.key()
                if not key.startswith(f"Xmp.{XMP_PREFIX}."):
                    try:
                        xmp[key] = d.value()
                    except Exception as exc:
                        notes.append(f"XMP {key} not copied: {exc}")
        except FrameError as exc:
            notes.append(f"no metadata copied: {exc}")
    if software:
        exif["Exif.Image.Software"] = software
    if record is not None:
        xmp[f"Xmp.{XMP_PREFIX}.Record"] = json.dumps(record, sort_keys=True, default=str)
        for prop, key in (("Version", "mountkit_version"), ("Profile", "profile"),
                          ("ProfileSource", "profile_source")):
            if record.get(key):
                xmp[f"Xmp.{XMP_PREFIX}.{prop}"] = str(record[key])
        if record.get("corrections"):
            xmp[f"Xmp.{XMP_PREFIX}.Corrections"] = ", ".join(record["corrections"])
    try:
        dest.writeMetadata()
    except Exception as exc:
        # keep the pixels; say what is missing
        notes.append(f"metadata not written: {exc}")
        if record is not None:
            raise FrameError(f"{path}: cannot write the mountkit record ({exc})") from None
    return notes
