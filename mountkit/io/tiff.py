"""TIFF frames through tifffile: 8/16-bit integer and float32, RGB and mono.

Reading keeps the samples as stored (no scaling): ``white_level`` is the
integer type's full scale (255, 65535) or 1.0 for float data.  Whether the
values are linear is decided by :func:`tiff_is_linear`: float data is linear;
integer data is taken as sRGB-encoded unless the file says otherwise (a
mountkit record marking it linear, or an ICC profile whose tone curves are
the identity).
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

import numpy as np

from ..errors import FrameError
from . import Frame

#: sample types a TIFF frame may have
TIFF_DTYPES = (np.dtype(np.uint8), np.dtype(np.uint16), np.dtype(np.float32))


def _icc_is_linear(icc: bytes) -> bool | None:
    """True when the ICC profile's rTRC/gTRC/bTRC (or kTRC) curves are the identity (gamma 1.0).

    Reads the tag table (ICC.1:2010 section 7.3) and ``curv`` entries
    (section 10.6): count 0 is the identity, count 1 a u8Fixed8 gamma.
    None when the profile has no such curves or cannot be parsed.
    """
    try:
        (n,) = struct.unpack_from(">I", icc, 128)
        curves = []
        for i in range(min(n, 200)):
            sig, off, size = struct.unpack_from(">4sII", icc, 132 + 12 * i)
            if sig in (b"rTRC", b"gTRC", b"bTRC", b"kTRC"):
                body = icc[off: off + size]
                if body[:4] != b"curv":
                    return False
                (count,) = struct.unpack_from(">I", body, 8)
                if count == 0:
                    curves.append(True)
                elif count == 1:
                    (g,) = struct.unpack_from(">H", body, 12)
                    curves.append(abs(g / 256.0 - 1.0) < 0.01)
                else:
                    curves.append(False)
        return all(curves) if curves else None
    except struct.error:
        return None


def tiff_is_linear(dtype: np.dtype, xmp: str | None, icc: bytes | None) -> bool:
    """Decide whether TIFF samples are linear light (see the module docstring)."""
    if dtype.kind == "f":
        return True
    if xmp and "mountkit" in xmp:
        rec = record_from_xmp(xmp)
        if rec is not None and "linear" in rec:
            return bool(rec["linear"])
    if icc:
        lin = _icc_is_linear(icc)
        if lin is not None:
            return lin
    return False


def record_from_xmp(xmp: str) -> dict | None:
    """The mountkit record (JSON) in an XMP packet, or None."""
    from .metadata import parse_record_from_xmp

    return parse_record_from_xmp(xmp)


def read_tiff(path: str | os.PathLike) -> Frame:
    """Read the first image of a TIFF file as a :class:`Frame`.

    Raises
    ------
    FrameError
        naming the file when it is not a TIFF, is damaged or truncated, or
        holds samples mountkit cannot correct (palette, CMYK, CFA mosaics:
        read those as DNG).
    """
    import tifffile

    p = Path(path)
    try:
        with tifffile.TiffFile(p) as tif:
            if not tif.pages:
                raise FrameError(f"{p}: TIFF file has no image")
            page = tif.pages.first
            photometric = int(page.photometric)
            if photometric == 32803:
                raise FrameError(f"{p}: this TIFF holds a CFA mosaic (a raw file); name it .dng to read it as raw")
            if photometric not in (0, 1, 2, 6):
                raise FrameError(f"{p}: TIFF photometric interpretation {page.photometric.name} is not supported "
                                 "(use RGB or greyscale)")
            data = page.asarray()
            axes = page.axes
            tags = page.tags
            xmp = tags.get(700)
            xmp_text = None
            if xmp is not None:
                v = xmp.value
                xmp_text = v.decode("utf-8", "replace") if isinstance(v, (bytes, bytearray)) else str(v)
            icc_tag = tags.get(34675)
            icc = bytes(icc_tag.value) if icc_tag is not None else None
    except FrameError:
        raise
    except Exception as exc:  # tifffile raises many kinds on damaged files
        raise FrameError(f"{p}: cannot read as TIFF ({type(exc).__name__}: {exc})") from None
    if "S" in axes and axes.index("S") == 0 and data.ndim == 3:
        data = np.moveaxis(data, 0, -1)
    data = np.squeeze(data) if data.ndim > 3 else data
    if data.ndim not in (2, 3):
        raise FrameError(f"{p}: TIFF image has shape {data.shape}; expected (H, W) or (H, W, C)")
    if photometric == 0 and data.dtype.kind in "ui":  # min-is-white
        data = np.iinfo(data.dtype).max - data
    if data.dtype == np.float64:
        data = data.astype(np.float32)
    elif data.dtype == np.float16:
        data = data.astype(np.float32)
    if data.dtype not in TIFF_DTYPES:
        raise FrameError(f"{p}: TIFF samples of type {data.dtype} are not supported (8/16-bit integer or float32)")
    white = 1.0 if data.dtype.kind == "f" else float(np.iinfo(data.dtype).max)
    linear = tiff_is_linear(data.dtype, xmp_text, icc)
    meta = {"FileFormat": "TIFF"}
    if icc:
        meta["ICCProfile"] = icc
    return Frame(data=np.ascontiguousarray(data), metadata=meta, white_level=white, black_level=0.0,
                 linear=linear, path=str(p))


def _is_full_scale(have: np.dtype, want: np.dtype, frame: Frame) -> bool:
    """True when samples of type ``have`` with the frame's levels are already ``want`` at full scale."""
    if have != want:
        return False
    full = 1.0 if have.kind == "f" else float(np.iinfo(have).max)
    return not frame.black_level and frame.white_level in (None, full)


def write_tiff(path: str | os.PathLike, frame: Frame, *, dtype: np.dtype | str | None = None,
               compression: str | None = None) -> None:
    """Write ``frame`` as a TIFF (uncompressed by default).

    ``frame.data`` must already have the sample type wanted (uint8, uint16
    or float32) unless ``dtype`` is given, in which case samples are rescaled
    from the frame's black/white levels to that type's full scale (float32:
    0..1).  Metadata (EXIF, the mountkit record) is added afterwards by
    :func:`mountkit.io.metadata.write_metadata`.
    """
    import tifffile

    from .colour import from_unit_float, to_unit_float

    data = np.asarray(frame.data)
    if dtype is not None and not _is_full_scale(data.dtype, np.dtype(dtype), frame):
        data = from_unit_float(to_unit_float(data, frame.white_level, frame.black_level), np.dtype(dtype))
    if data.dtype not in TIFF_DTYPES:
        raise FrameError(f"{path}: cannot write {data.dtype} samples to TIFF (uint8, uint16 or float32)")
    if data.ndim == 3 and data.shape[2] == 1:
        data = data[:, :, 0]
    if data.ndim == 2:
        photometric, extrasamples = "minisblack", None
    elif data.shape[2] in (3, 4):
        photometric = "rgb"
        extrasamples = ("unassalpha",) if data.shape[2] == 4 else None
    elif data.shape[2] == 2:
        photometric, extrasamples = "minisblack", ("unassalpha",)
    else:
        raise FrameError(f"{path}: cannot write a {data.shape[2]}-channel image to TIFF")
    kw = {}
    if extrasamples:
        kw["extrasamples"] = extrasamples
    tifffile.imwrite(path, data, photometric=photometric, compression=compression, bigtiff=False,
                     metadata=None, software=False, **kw)
