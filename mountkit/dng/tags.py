"""Read the opcode lists (tags 51008, 51009, 51022) and what they need from a DNG file.

Only TIFF structure and tag values are read (with tifffile); pixel data are
never decoded, so this works on every DNG whatever its compression -- lossless
JPEG, JPEG XL, GoPro's VC-5 (TIFF compression 9) -- and on files whose image
data were stripped.

The lists belong to the raw image's IFD (NewSubfileType 0): a SubIFD in
Adobe-converted files, IFD0 in GoPro and Android files.  Opcode lists found in
other IFDs (previews) are reported but not used.  A malformed list is
recorded as an error for its stage only; the rest of the file stays readable.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from ..errors import FrameError
from .opcodes import (
    OPCODE_LIST_TAGS,
    STAGES,
    FixVignetteRadial,
    GainMap,
    InvalidOpcode,
    OpcodeError,
    OpcodeList,
    WarpFisheye,
    WarpRectilinear,
    WarpRectilinear2,
    parse_opcode_list,
)

TAG_NEW_SUBFILE_TYPE = 254
TAG_IMAGE_WIDTH = 256
TAG_IMAGE_LENGTH = 257
TAG_COMPRESSION = 259
TAG_PHOTOMETRIC = 262
TAG_SAMPLES_PER_PIXEL = 277
TAG_DNG_VERSION = 50706
TAG_ACTIVE_AREA = 50829
TAG_RAW_DATA_UNIQUE_ID = 50781

PHOTOMETRIC_CFA = 32803
PHOTOMETRIC_LINEAR_RAW = 34892

#: Compression codes worth naming when the pixels cannot be decoded by generic readers.
COMPRESSION_NAMES = {1: "uncompressed", 7: "JPEG (lossless)", 8: "Deflate", 9: "VC-5 (GoPro)", 34892: "lossy JPEG",
                     52546: "JPEG XL"}


@dataclass(frozen=True)
class RawIFD:
    """The IFD holding the raw image: where it is and what size the opcode stages work on."""

    path: str
    offset: int
    subfile_type: int
    width: int
    height: int
    compression: int | None = None
    photometric: int | None = None
    samples_per_pixel: int = 1
    active_area: tuple[int, int, int, int] | None = None  # top, left, bottom, right

    @property
    def is_cfa(self) -> bool:
        return self.photometric == PHOTOMETRIC_CFA

    def stage_size(self, list_number: int) -> tuple[int, int]:
        """(width, height) of the image an opcode list applies to.

        OpcodeList1 works on the stored raw image; lists 2 and 3 on the
        active area (linearisation trims to ActiveArea).
        """
        if list_number == 1 or self.active_area is None:
            return self.width, self.height
        top, left, bottom, right = self.active_area
        return right - left, bottom - top


@dataclass
class DngOpcodes:
    """The opcode lists of one DNG file.

    ``lists`` holds the parsed lists by number, ``errors`` the lists that
    could not be parsed (by number).  :meth:`stage` returns a list or raises
    its error.
    """

    path: str
    ifd: RawIFD | None
    dng_version: tuple[int, ...] | None = None
    lists: dict[int, OpcodeList] = field(default_factory=dict)
    errors: dict[int, OpcodeError] = field(default_factory=dict)
    elsewhere: list[tuple[str, int]] = field(default_factory=list)
    exif: dict[str, Any] = field(default_factory=dict)

    @property
    def has_opcodes(self) -> bool:
        return bool(self.lists or self.errors)

    def stage(self, list_number: int) -> OpcodeList:
        """The list of one stage (empty when the file has none); raises its :class:`OpcodeError` if malformed."""
        if list_number in self.errors:
            raise self.errors[list_number]
        return self.lists.get(list_number, OpcodeList((), list_number=list_number, source=self.path))

    def embedded_kinds(self) -> dict[str, list[str]]:
        """Correction kinds the file carries (distortion, tca, vignetting), each with the opcodes providing it.

        A malformed list contributes nothing; see ``errors``.
        """
        kinds: dict[str, list[str]] = {}

        def add(kind: str, what: str) -> None:
            kinds.setdefault(kind, []).append(what)

        for n, lst in sorted(self.lists.items()):
            for i, op in enumerate(lst):
                what = f"OpcodeList{n} #{i + 1} {op.label}"
                if isinstance(op, (WarpRectilinear, WarpRectilinear2, WarpFisheye)):
                    if _warp_moves(op):
                        add("distortion", what)
                    if op.planes > 1 and len(set(_warp_signature(op, p) for p in range(op.planes))) > 1:
                        add("tca", what)
                elif isinstance(op, (FixVignetteRadial, GainMap)):
                    add("vignetting", what)
        return kinds

    def describe(self, *, full: bool = False) -> dict[str, Any]:
        """A JSON-ready description of the file's opcode lists."""
        ifd = self.ifd
        out: dict[str, Any] = {
            "file": self.path,
            "dng_version": ".".join(map(str, self.dng_version)) if self.dng_version else None,
            "raw_ifd": None if ifd is None else {
                "path": ifd.path, "width": ifd.width, "height": ifd.height,
                "active_area": list(ifd.active_area) if ifd.active_area else None,
                "compression": ifd.compression,
                "compression_name": COMPRESSION_NAMES.get(ifd.compression or 0),
                "cfa": ifd.is_cfa,
            },
            "lists": [],
            "embedded_kinds": self.embedded_kinds(),
            "elsewhere": [{"ifd": p, "list": n} for p, n in self.elsewhere],
        }
        for n in (1, 2, 3):
            if n in self.errors:
                out["lists"].append({"list": n, "tag": OPCODE_LIST_TAGS[n], "stage": STAGES[n],
                                     "error": str(self.errors[n])})
            elif n in self.lists:
                d = self.lists[n].describe(full=full)
                if ifd is not None:
                    d["image_size"] = list(ifd.stage_size(n))
                out["lists"].append(d)
        return out


def _warp_signature(op, plane: int) -> tuple:
    if isinstance(op, WarpFisheye):
        return tuple(op.radial[plane])
    if isinstance(op, WarpRectilinear2):
        return (op.radial[plane], op.tangential[plane], op.valid_range[plane])
    return (op.radial[plane], op.tangential[plane])


def _warp_moves(op) -> bool:
    """True unless the warp's reference plane (green of three, else the first) is the identity."""
    if isinstance(op, WarpFisheye):
        return True
    p = 1 if op.planes == 3 else 0
    radial = tuple(op.radial[p])
    return not (radial[0] == 1.0 and not any(radial[1:]) and not any(op.tangential[p]))


def _walk(pages, prefix: str) -> Iterator[tuple[str, Any]]:
    for i, page in enumerate(pages):
        path = f"{prefix}{'/' if prefix else ''}{'SubIFD' if prefix else 'IFD'}{i}"
        yield path, page
        try:
            sub = page.pages
        except Exception:  # tifffile raises on broken SubIFD offsets
            sub = None
        if sub:
            yield from _walk(sub, path)


def _tag_value(page, code: int, default=None):
    tag = page.tags.get(code)
    return default if tag is None else tag.value


def _int_or_none(v) -> int | None:
    try:
        return None if v is None else int(v)
    except (TypeError, ValueError):
        return None


def _read_raw_bytes(fh, tag, path: str, list_number: int) -> bytes:
    """The bytes of an opcode list tag, read straight from the file (tifffile may not load large values)."""
    if tag.dtype not in (1, 7):  # BYTE, UNDEFINED
        raise OpcodeError(f"has TIFF type {int(tag.dtype)}; opcode lists are UNDEFINED (7) byte blobs",
                          source=path, list_number=list_number)
    count = int(tag.count)
    if count <= 4:
        value = tag.value
        return bytes(value)[:count] if isinstance(value, (bytes, bytearray)) else bytes(value)
    size = os.fstat(fh.fileno()).st_size if hasattr(fh, "fileno") else None
    if size is not None and tag.valueoffset + count > size:
        raise OpcodeError(f"its {count} bytes at offset {tag.valueoffset} run past the end of the file "
                          f"({size} bytes); the file is truncated", source=path, list_number=list_number)
    fh.seek(tag.valueoffset)
    data = fh.read(count)
    if len(data) != count:
        raise OpcodeError(f"could read only {len(data)} of its {count} bytes; the file is truncated",
                          source=path, list_number=list_number)
    return data


def read_opcode_lists(path: str | os.PathLike) -> DngOpcodes:
    """Read and parse the opcode lists of a DNG file.

    Parameters
    ----------
    path : path-like
        A DNG (or any TIFF-based raw file).

    Returns
    -------
    DngOpcodes
        The raw IFD, the parsed lists and, separately, the lists that are
        malformed (their :class:`OpcodeError`), plus EXIF values useful to
        choose a profile's calibration (``FocalLength``, ``FNumber``,
        ``SubjectDistance``, ``Make``, ``Model``, ``LensModel``).

    Raises
    ------
    FrameError
        When the file cannot be read as TIFF at all.
    """
    import tifffile

    spath = os.fspath(path)
    try:
        tf = tifffile.TiffFile(spath)
    except FileNotFoundError:
        raise FrameError(f"{spath}: no such file") from None
    except Exception as exc:  # tifffile raises TiffFileError, ValueError, struct.error...
        raise FrameError(f"{spath}: not a readable TIFF/DNG file ({type(exc).__name__}: {exc})") from None
    with tf:
        try:
            pages = list(_walk(tf.pages, ""))
        except Exception as exc:
            raise FrameError(f"{spath}: cannot walk the TIFF directories ({type(exc).__name__}: {exc})") from None
        if not pages:
            raise FrameError(f"{spath}: the file has no image directories")
        first = pages[0][1]
        version = _tag_value(first, TAG_DNG_VERSION)
        raw_path, raw_page = None, None
        for p, page in pages:
            if _tag_value(page, TAG_NEW_SUBFILE_TYPE, 0) == 0:
                raw_path, raw_page = p, page
                break
        result = DngOpcodes(path=spath, ifd=None, dng_version=tuple(version) if version is not None else None,
                            exif=_exif(first))
        if raw_page is not None:
            area = _tag_value(raw_page, TAG_ACTIVE_AREA)
            result.ifd = RawIFD(
                path=raw_path, offset=int(raw_page.offset),
                subfile_type=int(_tag_value(raw_page, TAG_NEW_SUBFILE_TYPE, 0)),
                width=int(_tag_value(raw_page, TAG_IMAGE_WIDTH, 0)),
                height=int(_tag_value(raw_page, TAG_IMAGE_LENGTH, 0)),
                compression=_int_or_none(_tag_value(raw_page, TAG_COMPRESSION)),
                photometric=_int_or_none(_tag_value(raw_page, TAG_PHOTOMETRIC)),
                samples_per_pixel=int(_tag_value(raw_page, TAG_SAMPLES_PER_PIXEL, 1)),
                active_area=tuple(int(v) for v in area) if area is not None and len(area) == 4 else None,
            )
            for n, code in OPCODE_LIST_TAGS.items():
                tag = raw_page.tags.get(code)
                if tag is None:
                    continue
                try:
                    data = _read_raw_bytes(tf.filehandle, tag, spath, n)
                    result.lists[n] = parse_opcode_list(data, source=spath, list_number=n)
                except OpcodeError as exc:
                    result.errors[n] = exc
        for p, page in pages:
            if page is raw_page:
                continue
            for n, code in OPCODE_LIST_TAGS.items():
                if code in page.tags:
                    result.elsewhere.append((p, n))
    return result


_EXIF_KEYS = ("FocalLength", "FNumber", "SubjectDistance", "FocalLengthIn35mmFilm", "LensModel", "LensMake",
              "Make", "Model", "ApertureValue")


def _exif(page) -> dict[str, Any]:
    """A few EXIF values, from IFD0 (TIFF/EP places them there) and its EXIF IFD."""
    out: dict[str, Any] = {}
    sources = []
    try:
        exif = page.tags.get(34665)
        if exif is not None and isinstance(exif.value, dict):
            sources.append(exif.value)
    except Exception:
        pass
    sources.append({t.name: t.value for t in page.tags.values()})
    for src in sources:
        for k in _EXIF_KEYS:
            if k in src and k not in out:
                v = src[k]
                if isinstance(v, tuple) and len(v) == 2 and all(isinstance(x, int) for x in v):
                    v = v[0] / v[1] if v[1] else None
                elif isinstance(v, bytes):
                    v = v.decode("ascii", "replace").rstrip("\0")
                if isinstance(v, str):
                    v = v.strip().rstrip("\0")
                if v is not None and v != "":
                    out[k] = v
    return out


def has_invalid_opcodes(lst: OpcodeList) -> bool:
    """True when the list holds an opcode with malformed parameters."""
    return any(isinstance(op, InvalidOpcode) for op in lst)
