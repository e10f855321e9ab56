"""PNG and JPEG frames through Pillow.

Both store sRGB-encoded samples, so frames read here are marked
``linear=False`` (the batch linearises them before vignetting and encodes
them again, unless the user says ``--linear``).  Pixels stay in stored
orientation: lens corrections are made in sensor geometry and the EXIF
Orientation tag is copied to the output unchanged.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..errors import FrameError
from . import Frame

#: Pillow modes read as they are, and those converted first
_DIRECT = {"L": np.uint8, "RGB": np.uint8, "RGBA": np.uint8, "LA": np.uint8, "I;16": np.uint16,
           "I;16B": np.uint16, "I;16L": np.uint16}


def read_image(path: str | os.PathLike) -> Frame:
    """Read a PNG or JPEG file as a :class:`Frame` (8-bit, or 16-bit greyscale PNG).

    16-bit colour PNGs are refused (see :func:`_refuse_16bit_colour_png`).

    Raises
    ------
    FrameError
        naming the file when Pillow cannot identify or decode it (zero-byte,
        truncated, not an image).
    """
    from PIL import Image, UnidentifiedImageError

    p = Path(path)
    _refuse_16bit_colour_png(p)
    try:
        with Image.open(p) as im:
            fmt = im.format
            im.load()
            mode = im.mode
            if mode == "P" or mode == "PA":
                im = im.convert("RGBA" if "transparency" in im.info or mode == "PA" else "RGB")
                mode = im.mode
            elif mode == "1":
                im = im.convert("L")
                mode = "L"
            elif mode == "I":
                arr = np.asarray(im)
                if arr.min() < 0 or arr.max() > 65535:
                    raise FrameError(f"{p}: 32-bit integer samples are not supported")
                im = None
                data = arr.astype(np.uint16)
            elif mode == "CMYK":
                raise FrameError(f"{p}: CMYK images are not supported; convert to RGB first")
            elif mode not in _DIRECT:
                im = im.convert("RGB")
                mode = "RGB"
            if im is not None:
                data = np.asarray(im)
                if mode.startswith("I;16"):
                    data = data.astype(np.uint16)
    except FrameError:
        raise
    except UnidentifiedImageError:
        raise FrameError(f"{p}: not a readable PNG or JPEG image (empty, damaged or another format)") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise FrameError(f"{p}: cannot decode image ({exc})") from None
    white = float(np.iinfo(data.dtype).max)
    return Frame(data=np.ascontiguousarray(data), metadata={"FileFormat": fmt or p.suffix.lstrip(".").upper()},
                 white_level=white, black_level=0.0, linear=False, path=str(p))


def _refuse_16bit_colour_png(p: Path) -> None:
    """Pillow reads 16-bit RGB(A) PNGs as 8-bit; refuse them rather than lose the low bits silently.

    PNG IHDR (PNG spec section 11.2.2): bit depth at byte 24, colour type at
    byte 25 (2 = RGB, 6 = RGBA, 4 = grey + alpha).
    """
    try:
        with open(p, "rb") as fh:
            head = fh.read(26)
    except OSError:
        return
    if head[:8] == b"\x89PNG\r\n\x1a\n" and len(head) == 26 and head[12:16] == b"IHDR":
        if head[24] == 16 and head[25] in (2, 4, 6):
            raise FrameError(f"{p}: 16-bit colour PNG files are not supported (Pillow would keep only 8 bits); "
                             "convert it to a 16-bit TIFF first")


def write_jpeg(path: str | os.PathLike, frame: Frame, *, quality: int = 95) -> None:
    """Write an 8-bit frame as a baseline JPEG (4:4:4 chroma, ``quality`` 1-95)."""
    from PIL import Image

    data = _as_uint8(path, frame)
    if data.ndim == 3 and data.shape[2] in (2, 4):
        data = data[:, :, :-1]  # JPEG has no alpha
        if data.shape[2] == 1:
            data = data[:, :, 0]
    Image.fromarray(data).save(path, format="JPEG", quality=int(quality), subsampling=0, optimize=False)


def write_png(path: str | os.PathLike, frame: Frame) -> None:
    """Write a frame as PNG: 8-bit L/LA/RGB/RGBA, or 16-bit greyscale."""
    from PIL import Image

    data = np.asarray(frame.data)
    if data.dtype == np.uint16 and data.ndim == 2:
        Image.fromarray(np.ascontiguousarray(data.astype("<u2"))).save(path, format="PNG")
        return
    Image.fromarray(_as_uint8(path, frame)).save(path, format="PNG")


def _as_uint8(path, frame: Frame) -> np.ndarray:
    data = np.asarray(frame.data)
    if data.dtype == np.uint8:
        return data
    from .colour import from_unit_float, to_unit_float

    if data.dtype.kind in "uif":
        return from_unit_float(to_unit_float(data, frame.white_level, frame.black_level), np.uint8)
    raise FrameError(f"{path}: cannot write {data.dtype} samples as an 8-bit image")
