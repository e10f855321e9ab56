"""Write an OpcodeList3 into a DNG, keeping every other byte of the file.

The file is edited surgically (classic TIFF, either byte order):

* the new list is appended at the end of the file (word-aligned), or written
  over the old list's value when it fits there (the rest of the old value is
  zeroed);
* when the raw IFD already has an OpcodeList3 entry, only that entry's count
  and offset change; otherwise the raw IFD is copied, with the new entry in
  tag order, to the end of the file, and the one pointer to it (the TIFF
  header, the previous IFD's next-IFD offset or the parent's SubIFDs value)
  is changed.  The old IFD stays in the file, unreferenced;
* two IFD0 values change, as the DNG specification expects of a tool that
  edits opcode lists: DNGVersion is raised to 1.3.0.0 when it is lower
  (opcode lists are a DNG 1.3 feature), and RawDataUniqueID, when present,
  is replaced by a new identifier (Adobe's SDK includes the opcode lists in
  it, so that caches do not confuse the edited file with the original).

Every changed byte range is recorded; :func:`write_opcode_list` checks
that everything else is identical to the input and that the result reads
back with tifffile.  Outputs are written atomically (temporary file, then
rename); the input is never modified.
"""

from __future__ import annotations

import hashlib
import os
import struct
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import CorrectionError, FrameError
from .opcodes import OPCODE_LIST_TAGS, Opcode, OpcodeList, serialise_opcode_list
from .tags import TAG_DNG_VERSION, TAG_RAW_DATA_UNIQUE_ID, read_opcode_lists

if TYPE_CHECKING:
    from ..corrector import Corrector
    from ..kit import Kit
    from ..profile import Lens
    from .convert import Conversion

TAG_SUBIFDS = 330
TYPE_SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 13: 4}
TAG_OPCODE_LIST3 = OPCODE_LIST_TAGS[3]
MIN_OPCODE_DNG_VERSION = (1, 3, 0, 0)


# -- a minimal classic-TIFF structure reader ----------------------------------------------


@dataclass
class _Entry:
    pos: int  # file position of the 12-byte entry
    tag: int
    type: int
    count: int
    field: bytes  # the 4-byte value/offset field as stored

    def nbytes(self) -> int:
        return TYPE_SIZES.get(self.type, 1) * self.count


@dataclass
class _IFD:
    offset: int
    entries: list[_Entry]
    next_pos: int  # position of the next-IFD offset
    pointer_pos: int  # position of the 4-byte pointer that references this IFD
    path: str


@dataclass
class _Tiff:
    bo: str
    ifds: list[_IFD]

    def find(self, offset: int) -> _IFD:
        for ifd in self.ifds:
            if ifd.offset == offset:
                return ifd
        raise FrameError(f"no IFD at offset {offset}")


def _parse_tiff(data: bytes, path: str) -> _Tiff:
    if len(data) < 8:
        raise FrameError(f"{path}: too short to be a TIFF/DNG file")
    if data[:2] == b"II":
        bo = "<"
    elif data[:2] == b"MM":
        bo = ">"
    else:
        raise FrameError(f"{path}: not a TIFF/DNG file (no II/MM byte-order mark)")
    (magic,) = struct.unpack_from(bo + "H", data, 2)
    if magic == 43:
        raise FrameError(f"{path}: BigTIFF; DNG files are classic TIFF and mountkit edits only those")
    if magic != 42:
        raise FrameError(f"{path}: not a TIFF/DNG file (magic {magic})")
    ifds: list[_IFD] = []
    seen: set[int] = set()

    def read_ifd(offset: int, pointer_pos: int, path_: str) -> _IFD:
        if offset in seen:
            raise FrameError(f"{path}: IFD loop at offset {offset}")
        if offset + 2 > len(data):
            raise FrameError(f"{path}: IFD offset {offset} is past the end of the file")
        seen.add(offset)
        (n,) = struct.unpack_from(bo + "H", data, offset)
        end = offset + 2 + 12 * n + 4
        if end > len(data):
            raise FrameError(f"{path}: the IFD at {offset} runs past the end of the file")
        entries = []
        for i in range(n):
            pos = offset + 2 + 12 * i
            tag, typ, count = struct.unpack_from(bo + "HHI", data, pos)
            entries.append(_Entry(pos, tag, typ, count, data[pos + 8:pos + 12]))
        ifd = _IFD(offset, entries, offset + 2 + 12 * n, pointer_pos, path_)
        ifds.append(ifd)
        for e in entries:
            if e.tag == TAG_SUBIFDS and e.type in (4, 13):
                if e.count == 1:
                    children = [(struct.unpack(bo + "I", e.field)[0], e.pos + 8)]
                else:
                    (base,) = struct.unpack(bo + "I", e.field)
                    children = [(struct.unpack_from(bo + "I", data, base + 4 * k)[0], base + 4 * k)
                                for k in range(e.count)]
                for k, (child, ppos) in enumerate(children):
                    if child:
                        read_ifd(child, ppos, f"{path_}/SubIFD{k}")
        return ifd

    (first,) = struct.unpack_from(bo + "I", data, 4)
    pointer, k = 4, 0
    offset = first
    while offset:
        ifd = read_ifd(offset, pointer, f"IFD{k}")
        pointer = ifd.next_pos
        (offset,) = struct.unpack_from(bo + "I", data, ifd.next_pos)
        k += 1
    return _Tiff(bo, ifds)


# -- the edit -----------------------------------------------------------------------


@dataclass
class EmbedResult:
    """What :func:`write_opcode_list` (or :func:`embed_profile`) did."""

    source: str
    output: str
    opcodes: tuple[Opcode, ...]
    changes: list[str] = field(default_factory=list)
    changed_ranges: list[tuple[int, int]] = field(default_factory=list)  # [start, end) in the input
    appended_bytes: int = 0
    replaced: OpcodeList | None = None
    conversion: Conversion | None = None
    notes: list[str] = field(default_factory=list)

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "input": self.source, "output": self.output,
            "opcodes": [op.describe() for op in self.opcodes],
            "changes": list(self.changes),
            "changed_bytes_of_input": sum(b - a for a, b in self.changed_ranges),
            "appended_bytes": self.appended_bytes,
            "replaced": self.replaced.describe() if self.replaced is not None else None,
            "notes": list(self.notes),
        }
        if self.conversion is not None:
            out["conversion"] = self.conversion.describe()
        return out


class _Editor:
    def __init__(self, data: bytes, bo: str):
        self.orig_len = len(data)
        self.buf = bytearray(data)
        self.bo = bo
        self.ranges: list[tuple[int, int]] = []

    def patch(self, pos: int, new: bytes) -> None:
        self.buf[pos:pos + len(new)] = new
        if pos < self.orig_len:
            self.ranges.append((pos, min(pos + len(new), self.orig_len)))

    def append(self, blob: bytes) -> int:
        if len(self.buf) % 2:
            self.buf += b"\0"
        at = len(self.buf)
        self.buf += blob
        if len(self.buf) >= 2**32:
            raise FrameError("the edited file would exceed classic TIFF's 4 GB limit")
        return at

    def u32(self, v: int) -> bytes:
        return struct.pack(self.bo + "I", v)


def _write_atomic(path: str, data: bytes) -> None:
    directory = os.path.dirname(os.path.abspath(path)) or "."
    fd, tmp = tempfile.mkstemp(prefix=".mountkit-", suffix=".dng.tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def write_opcode_list(source: str | os.PathLike, output: str | os.PathLike, opcodes: Sequence[Opcode], *,
                      replace: bool = False, bump_version: bool = True, new_unique_id: bool = True,
                      list_number: int = 3) -> EmbedResult:
    """Write ``opcodes`` as the OpcodeList3 (or ``list_number``) of the raw image of ``source``, into ``output``.

    Parameters
    ----------
    source, output : path-like
        The input DNG (never modified) and the file to write (not the same).
    opcodes : sequence of Opcode
        The new list, in order.
    replace : bool
        Allow replacing an OpcodeList3 the file already has (otherwise an
        error: stacking corrections silently would correct twice).
    bump_version : bool
        Raise DNGVersion to 1.3.0.0 when it is lower (default).
    new_unique_id : bool
        Replace RawDataUniqueID, when present, by an identifier derived from
        the old one and the new list (default).
    list_number : int
        Which list to write: 3 (default), or 2 / 1.

    Returns
    -------
    EmbedResult
        The changes, and the byte ranges of the input they touched.

    Raises
    ------
    FrameError
        Unreadable or unsupported file, no raw IFD, same input and output,
        an existing OpcodeList3 without ``replace``, or a result that fails
        the read-back checks.
    """
    src, dst = os.fspath(source), os.fspath(output)
    if list_number not in OPCODE_LIST_TAGS:
        raise FrameError(f"opcode list number must be 1, 2 or 3, got {list_number!r}")
    tag = OPCODE_LIST_TAGS[list_number]
    name = f"OpcodeList{list_number}"
    if os.path.exists(dst) and os.path.samefile(src, dst):
        raise FrameError(f"{dst}: the output must be a new file; mountkit never modifies its input")
    info = read_opcode_lists(src)
    if info.ifd is None:
        raise FrameError(f"{src}: no raw image IFD (NewSubfileType 0); not a DNG mountkit can embed into")
    with open(src, "rb") as fh:
        data = fh.read()
    tiff = _parse_tiff(data, src)
    raw = tiff.find(info.ifd.offset)
    ed = _Editor(data, tiff.bo)
    result = EmbedResult(source=src, output=dst, opcodes=tuple(opcodes))
    blob = serialise_opcode_list(opcodes)

    existing = next((e for e in raw.entries if e.tag == tag), None)
    if existing is not None and existing.type not in (1, 7):
        # counts are in bytes only for BYTE/UNDEFINED; anything else is rewritten as a new UNDEFINED value
        raise FrameError(f"{src}: the {name} entry has TIFF type {existing.type}, not UNDEFINED (7) or BYTE (1); "
                         "mountkit does not edit such a file")
    if existing is not None or list_number in info.errors:
        old = info.lists.get(list_number)
        if not replace:
            what = (f"{len(old)} opcode(s): " + ", ".join(op.label for op in old)) if old is not None else \
                "a malformed list"
            raise FrameError(f"{src}: the raw image already has an {name} ({what}); pass replace=True "
                             "(--replace) to replace it, rather than correcting twice")
        result.replaced = old

    # 1. IFD0 values: DNGVersion and RawDataUniqueID (patched in place; a moved IFD copies the patch)
    ifd0 = tiff.ifds[0]
    version = next((e for e in ifd0.entries if e.tag == TAG_DNG_VERSION), None)
    if bump_version and version is not None and version.type == 1 and version.count == 4:
        cur = tuple(version.field)
        if cur < MIN_OPCODE_DNG_VERSION:
            ed.patch(version.pos + 8, bytes(MIN_OPCODE_DNG_VERSION))
            result.changes.append(f"DNGVersion {'.'.join(map(str, cur))} -> 1.3.0.0 (opcode lists need DNG 1.3)")
    uid = next((e for e in ifd0.entries if e.tag == TAG_RAW_DATA_UNIQUE_ID), None)
    if new_unique_id and uid is not None and uid.nbytes() == 16:
        (at,) = struct.unpack(tiff.bo + "I", uid.field)
        old_id = data[at:at + 16]
        new_id = hashlib.md5(b"mountkit " + name.encode() + b"\0" + old_id + blob).digest()
        ed.patch(at, new_id)
        result.changes.append(f"RawDataUniqueID {old_id.hex()} -> {new_id.hex()} (the opcode lists changed)")

    # 2. the list's value and the raw IFD's entry (values of 4 bytes or less live in the entry itself)
    def value_field() -> bytes:
        if len(blob) <= 4:
            return blob + b"\0" * (4 - len(blob))
        at = ed.append(blob)
        result.changes.append(f"{name} appended at offset {at} ({len(blob)} bytes)")
        return ed.u32(at)

    if existing is not None:
        old_n = existing.nbytes()
        (old_at,) = struct.unpack(tiff.bo + "I", existing.field)
        if old_n > 4 and 4 < len(blob) <= old_n:
            ed.patch(old_at, blob + b"\0" * (old_n - len(blob)))
            ed.patch(existing.pos + 4, struct.pack(tiff.bo + "I", len(blob)))
            result.changes.append(f"{name} rewritten in place at offset {old_at} ({len(blob)} of "
                                  f"{old_n} bytes; the rest zeroed)")
        else:
            ed.patch(existing.pos + 4, struct.pack(tiff.bo + "I", len(blob)) + value_field())
            result.changes.append(f"{name} entry of {raw.path} updated")
    else:
        new_entry = struct.pack(tiff.bo + "HHI", tag, 7, len(blob)) + value_field()
        rows = [(e.tag, bytes(ed.buf[e.pos:e.pos + 12])) for e in raw.entries] + [(tag, new_entry)]
        rows.sort(key=lambda r: r[0])
        nxt = bytes(ed.buf[raw.next_pos:raw.next_pos + 4])
        ifd_bytes = struct.pack(tiff.bo + "H", len(rows)) + b"".join(r for _, r in rows) + nxt
        new_ifd = ed.append(ifd_bytes)
        ed.patch(raw.pointer_pos, ed.u32(new_ifd))
        result.changes.append(f"{raw.path} copied to offset {new_ifd} with the {name} entry added; its "
                              f"pointer at offset {raw.pointer_pos} updated (the old copy at {raw.offset} is "
                              "left unreferenced)")
    out = bytes(ed.buf)
    result.appended_bytes = len(out) - len(data)
    result.changed_ranges = _merge(ed.ranges)
    _check_untouched(data, out, result.changed_ranges, src)
    _write_atomic(dst, out)
    _check_readback(src, dst, blob, info, list_number)
    return result


def _merge(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for a, b in sorted(ranges):
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def _check_untouched(before: bytes, after: bytes, ranges: list[tuple[int, int]], src: str) -> None:
    import numpy as np

    a = np.frombuffer(before, dtype=np.uint8)
    b = np.frombuffer(after[:len(before)], dtype=np.uint8)
    keep = np.ones(len(before), dtype=bool)
    for s, e in ranges:
        keep[s:e] = False
    if len(after) < len(before) or not np.array_equal(a[keep], b[keep]):
        raise FrameError(f"{src}: internal error, the edit changed bytes outside the recorded ranges; nothing written")


def _check_readback(src: str, dst: str, blob: bytes, before, list_number: int) -> None:
    after = read_opcode_lists(dst)
    ok = list_number in after.lists and after.lists[list_number].to_bytes() == blob
    for n in {1, 2, 3} - {list_number}:
        if (n in before.lists) != (n in after.lists) or (
                n in before.lists and before.lists[n].to_bytes() != after.lists[n].to_bytes()):
            ok = False
    if not ok or after.ifd is None or (after.ifd.width, after.ifd.height) != (before.ifd.width, before.ifd.height):
        try:
            os.unlink(dst)
        except OSError:
            pass
        raise FrameError(f"{dst}: the written file does not read back as expected; removed")


# -- a profile into a file -------------------------------------------------------------


def embed_corrector(corrector: Corrector, source, output, *, warp2: str | bool = "auto", replace: bool = False,
                    **options) -> EmbedResult:
    """Convert a corrector's correction to opcodes (:func:`mountkit.dng.convert.corrector_to_opcodes`) and write them.

    The corrector must be made for the DNG's stage-3 image size (its active
    area, un-oriented); see :func:`embed_profile`.
    """
    from .convert import corrector_to_opcodes

    conv = corrector_to_opcodes(corrector, warp2=warp2)
    if not conv.opcodes:
        raise CorrectionError(f"{corrector.lens.name}: the profile has nothing to correct at these settings "
                              f"({corrector!r}); no opcode list written")
    result = write_opcode_list(source, output, conv.opcodes, replace=replace, **options)
    result.conversion = conv
    return result


def shooting_parameters(info, *, focal: float | None = None, aperture: float | None = None,
                        distance: float | None = None) -> tuple[float | None, float | None, float | None]:
    """Focal length, f-number and focus distance: the arguments, else the file's EXIF."""
    exif = info.exif
    f = focal if focal is not None else exif.get("FocalLength")
    a = aperture if aperture is not None else exif.get("FNumber")
    d = distance if distance is not None else exif.get("SubjectDistance")
    return (float(f) if f else None, float(a) if a else None, float(d) if d and float(d) > 0 else None)


def embed_profile(kit: Kit, lens: Lens | str, source, output, *, camera=None, crop_factor: float | None = None,
                  focal: float | None = None, aperture: float | None = None, distance: float | None = None,
                  scale: float | str = "auto", corrections: Sequence[str] = ("vignetting", "tca", "distortion"),
                  warp2: str | bool = "auto", replace: bool = False, **options) -> EmbedResult:
    """Write a lens profile's distortion, TCA and vignetting for one DNG as its OpcodeList3.

    Parameters
    ----------
    kit : Kit
    lens : Lens or str
        The lens (with its profile) or a name for ``kit.lens``.
    source, output : path-like
        Input DNG (never modified) and output file.
    camera, crop_factor : optional
        The body (or its crop factor); default: the camera matching the
        file's Make and Model in the kit.
    focal, aperture, distance : float, optional
        Shooting parameters; default: the file's EXIF (FocalLength, FNumber,
        SubjectDistance).  Vignetting needs the aperture.
    scale : float or "auto"
        Magnification built into the warp ("auto": the smallest without
        empty borders, as lensfun).
    corrections, warp2, replace, **options
        Passed on to the corrector, :func:`corrector_to_opcodes` and
        :func:`write_opcode_list`.
    """
    info = read_opcode_lists(source)
    if info.ifd is None:
        raise FrameError(f"{os.fspath(source)}: no raw image IFD (NewSubfileType 0)")
    f, a, d = shooting_parameters(info, focal=focal, aperture=aperture, distance=distance)
    if isinstance(lens, str):
        lens = kit.lens(lens, crop_factor=crop_factor)
    notes: list[str] = []
    # an adapted lens: the body's EXIF describes its own lens (a phone's 8.7 mm f/1.8), not this one
    if focal is None and f is not None and lens.focal_min is not None and not (
            0.95 * lens.focal_min <= f <= 1.05 * lens.focal_max):
        notes.append(f"EXIF FocalLength {f:g} mm ignored: outside the lens's range")
        f = None
    if aperture is None and a is not None and lens.aperture_max is not None and a < 0.95 * lens.aperture_max:
        notes.append(f"EXIF FNumber f/{a:g} ignored: wider than the lens opens (f/{lens.aperture_max:g})")
        a = None
    if camera is None and crop_factor is None:
        make, model = info.exif.get("Make"), info.exif.get("Model")
        if model:
            try:
                camera = kit.camera(str(model), maker=str(make) if make else None)
            except Exception:
                camera = None
        if camera is None:
            raise CorrectionError(f"{os.fspath(source)}: the crop factor of the camera ({make} {model}) is "
                                  "unknown; pass camera= or crop_factor= (--camera / --crop-factor)")
    kinds = tuple(corrections)
    if "vignetting" in kinds and a is None:
        raise CorrectionError(f"{os.fspath(source)}: vignetting needs the aperture and the file has no usable "
                              "FNumber" + (f" ({'; '.join(notes)})" if notes else "")
                              + "; pass aperture= (--aperture) or leave vignetting out (--no-vignetting)")
    width, height = info.ifd.stage_size(3)
    cor = kit.corrector(lens, camera=camera, crop_factor=crop_factor, size=(width, height), focal=f, aperture=a,
                        distance=d, corrections=kinds, scale=scale)
    result = embed_corrector(cor, source, output, warp2=warp2, replace=replace, **options)
    result.notes[:0] = notes
    return result
