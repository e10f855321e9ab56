"""TIFF image file directories (IFDs) as bytes: pack, parse, and append to a file.

tifffile writes pixels and top-level tags but refuses the EXIF IFD pointer
(tag 34665); these few functions fill the gap.  They pack an IFD (with its
out-of-line values and nested IFDs) into bytes, parse one from bytes (for
maker notes, which are IFDs inside an EXIF value), and append tags to IFD0 of
a classic TIFF written by tifffile (the old IFD0 is left orphaned, the header
points at a new copy with the extra entries).

Byte layouts: TIFF 6.0 section 2 (12-byte entries sorted by tag, values of 4
bytes or less stored inline, words aligned), EXIF 2.32 section 4.6.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from ..errors import FrameError

# type code -> (struct format of one value, size in bytes)
TYPES: dict[int, tuple[str, int]] = {
    1: ("B", 1),  # BYTE
    2: ("s", 1),  # ASCII
    3: ("H", 2),  # SHORT
    4: ("I", 4),  # LONG
    5: ("II", 8),  # RATIONAL
    6: ("b", 1),  # SBYTE
    7: ("s", 1),  # UNDEFINED
    8: ("h", 2),  # SSHORT
    9: ("i", 4),  # SLONG
    10: ("ii", 8),  # SRATIONAL
    11: ("f", 4),  # FLOAT
    12: ("d", 8),  # DOUBLE
    13: ("I", 4),  # IFD
}

BYTE, ASCII, SHORT, LONG, RATIONAL, SBYTE, UNDEFINED, SSHORT, SLONG, SRATIONAL, FLOAT, DOUBLE, IFD = range(1, 14)


@dataclass(frozen=True)
class Entry:
    """One IFD entry.

    ``value`` is ``str`` for ASCII, ``bytes`` for UNDEFINED/BYTE blobs, a
    sequence of numbers otherwise (rationals as floats or ``(num, den)``
    pairs), or a sequence of :class:`Entry` for a nested IFD (type LONG or
    IFD: the entry then holds the nested IFD's offset).
    """

    tag: int
    type: int
    value: Any


def _rational(v: Any, signed: bool) -> tuple[int, int]:
    if isinstance(v, (tuple, list)) and len(v) == 2:
        return int(v[0]), int(v[1])
    v = float(v)
    if not math.isfinite(v):
        return (0, 0)
    lim = 2**31 - 1 if signed else 2**32 - 1
    f = Fraction(v).limit_denominator(100000)
    while abs(f.numerator) > lim or f.denominator > lim:
        f = Fraction(v).limit_denominator(max(1, f.denominator // 10))
    return f.numerator, f.denominator


def _values_bytes(entry: Entry, bo: str) -> tuple[int, bytes]:
    """(count, packed bytes) of a non-IFD entry."""
    t = entry.type
    if t not in TYPES:
        raise FrameError(f"TIFF tag {entry.tag}: unknown field type {t}")
    v = entry.value
    if t == ASCII:
        b = v.encode("utf-8", "replace") if isinstance(v, str) else bytes(v)
        if not b.endswith(b"\0"):
            b += b"\0"
        return len(b), b
    if t in (UNDEFINED, BYTE) and isinstance(v, (bytes, bytearray)):
        return len(v), bytes(v)
    if isinstance(v, (int, float)):
        v = (v,)
    fmt, _ = TYPES[t]
    if t in (RATIONAL, SRATIONAL):
        pairs = [_rational(x, t == SRATIONAL) for x in v]
        return len(pairs), b"".join(struct.pack(bo + fmt, *p) for p in pairs)
    if t in (FLOAT, DOUBLE):
        return len(v), struct.pack(bo + fmt * len(v), *(float(x) for x in v))
    return len(v), struct.pack(bo + fmt * len(v), *(int(x) for x in v))


def pack_ifd(entries: Iterable[Entry], *, byteorder: str = "<", start: int = 0, next_ifd: int = 0) -> bytes:
    """Pack an IFD and everything it points to into one blob.

    Parameters
    ----------
    entries : iterable of Entry
        Sorted by tag here; an entry whose value is a sequence of
        :class:`Entry` becomes a nested IFD placed after the values.
    byteorder : {"<", ">"}
    start : int
        The offset (as the reader will compute offsets) of the blob's first
        byte: the file position for ordinary IFDs, or the position relative
        to the maker note's base for maker notes.
    next_ifd : int
        Offset of the next IFD (0 for none).

    Returns
    -------
    bytes
        The IFD (2-byte count, 12-byte entries, 4-byte next offset), then the
        out-of-line values, then nested IFDs, each word-aligned.
    """
    bo = byteorder
    ents = sorted(entries, key=lambda e: e.tag)
    n = len(ents)
    ifd_size = 2 + 12 * n + 4
    data = bytearray()
    nested: list[tuple[int, Sequence[Entry]]] = []
    raw_entries: list[tuple[int, int, int, bytes | None, int]] = []  # tag, type, count, inline, slot
    for e in ents:
        if isinstance(e.value, (list, tuple)) and e.value and isinstance(e.value[0], Entry):
            nested.append((len(raw_entries), e.value))
            raw_entries.append((e.tag, e.type if e.type in (LONG, IFD) else LONG, 1, None, -1))
            continue
        count, payload = _values_bytes(e, bo)
        if len(payload) <= 4:
            raw_entries.append((e.tag, e.type, count, payload.ljust(4, b"\0"), -1))
        else:
            pos = ifd_size + len(data)
            data += payload
            if len(data) % 2:
                data += b"\0"
            raw_entries.append((e.tag, e.type, count, None, pos))
    blobs = bytearray()
    nested_pos: dict[int, int] = {}
    for idx, sub in nested:
        pos = ifd_size + len(data) + len(blobs)
        blob = pack_ifd(sub, byteorder=bo, start=start + pos)
        nested_pos[idx] = pos
        blobs += blob
        if len(blobs) % 2:
            blobs += b"\0"
    out = bytearray(struct.pack(bo + "H", n))
    for i, (tag, typ, count, inline, pos) in enumerate(raw_entries):
        if i in nested_pos:
            out += struct.pack(bo + "HHII", tag, typ, 1, start + nested_pos[i])
        elif inline is not None:
            out += struct.pack(bo + "HHI", tag, typ, count) + inline
        else:
            out += struct.pack(bo + "HHII", tag, typ, count, start + pos)
    out += struct.pack(bo + "I", next_ifd)
    return bytes(out + data + blobs)


@dataclass(frozen=True)
class RawEntry:
    """An entry as parsed: tag, type, count, and the decoded value."""

    tag: int
    type: int
    count: int
    value: Any
    value_offset: int  # where the value (or the pointer to it) sits in the data


def _decode(typ: int, count: int, raw: bytes, bo: str) -> Any:
    if typ == ASCII:
        return raw.split(b"\0", 1)[0].decode("utf-8", "replace").strip()
    if typ in (UNDEFINED,):
        return bytes(raw)
    fmt, size = TYPES[typ]
    if typ in (RATIONAL, SRATIONAL):
        vals = struct.unpack(bo + fmt * count, raw[: size * count])
        return tuple((vals[i] / vals[i + 1]) if vals[i + 1] else float("nan") for i in range(0, len(vals), 2))
    return struct.unpack(bo + fmt * count, raw[: size * count])


def parse_ifd(data: bytes, offset: int, *, byteorder: str, base: int = 0,
              max_entries: int = 1000) -> list[RawEntry]:
    """Parse the IFD at ``offset`` in ``data``.

    Out-of-line values are looked up at ``stored_offset - base`` in ``data``.
    Entries whose values fall outside ``data`` or whose type is unknown are
    skipped (maker notes are often damaged).  Raises :class:`FrameError` when
    the directory itself does not fit.
    """
    bo = byteorder
    if offset < 0 or offset + 2 > len(data):
        raise FrameError(f"IFD offset {offset} is outside the {len(data)}-byte block")
    (n,) = struct.unpack_from(bo + "H", data, offset)
    if n > max_entries or offset + 2 + 12 * n > len(data):
        raise FrameError(f"IFD at {offset} claims {n} entries; the block has {len(data)} bytes")
    out = []
    for i in range(n):
        p = offset + 2 + 12 * i
        tag, typ, count = struct.unpack_from(bo + "HHI", data, p)
        if typ not in TYPES:
            continue
        size = TYPES[typ][1] * count
        if size <= 4:
            raw, vo = data[p + 8: p + 8 + size], p + 8
        else:
            (off,) = struct.unpack_from(bo + "I", data, p + 8)
            vo = off - base
            if vo < 0 or vo + size > len(data):
                continue
            raw = data[vo: vo + size]
        try:
            value = _decode(typ, count, raw, bo)
        except struct.error:
            continue
        out.append(RawEntry(tag, typ, count, value, vo))
    return out


def append_ifd0_entries(path: str, entries: Sequence[Entry]) -> None:
    """Add ``entries`` to IFD0 of the classic TIFF at ``path``, in place.

    Appends the new entries' values (and nested IFDs) and a new IFD0 holding
    the old entries plus the new ones (a new entry replaces an old one of the
    same tag), then points the header at it.  Out-of-line values of the old
    entries stay where they are.  Meant for files mountkit has just written
    (a temporary output), never for inputs.
    """
    with open(path, "r+b") as fh:
        head = fh.read(8)
        if head[:4] not in (b"II*\0", b"MM\0*"):
            raise FrameError(f"{path}: not a classic TIFF file (header {head[:4]!r})")
        bo = "<" if head[:2] == b"II" else ">"
        (ifd0,) = struct.unpack(bo + "I", head[4:8])
        fh.seek(ifd0)
        (n,) = struct.unpack(bo + "H", fh.read(2))
        old = fh.read(12 * n)
        next_ifd = struct.unpack(bo + "I", fh.read(4))[0]
        new_tags = {e.tag for e in entries}
        kept = [old[12 * i: 12 * i + 12] for i in range(n)
                if struct.unpack_from(bo + "H", old, 12 * i)[0] not in new_tags]
        fh.seek(0, 2)
        end = fh.tell()
        if end % 2:
            fh.write(b"\0")
            end += 1
        # pack the new entries as a throw-away IFD to get their values placed
        blob = pack_ifd(entries, byteorder=bo, start=end)
        fh.write(blob)
        m = len(list(entries))
        new_raw = [blob[2 + 12 * i: 14 + 12 * i] for i in range(m)]
        all_raw = sorted(kept + new_raw, key=lambda r: struct.unpack_from(bo + "H", r)[0])
        pos = end + len(blob)
        if pos % 2:
            fh.write(b"\0")
            pos += 1
        fh.write(struct.pack(bo + "H", len(all_raw)) + b"".join(all_raw) + struct.pack(bo + "I", next_ifd))
        fh.seek(4)
        fh.write(struct.pack(bo + "I", pos))
