"""Reading the FRAME of ``mountkit inspect``: the kit's frame formats, plus ``.npy`` arrays.

``.npy`` files (``numpy.save``, no pickles) are read here; every other
suffix goes to the frame formats registered on the kit
(``mountkit_register_frame_formats``).  Should no registered format handle
the suffix, PNG, JPEG and TIFF files are read with Pillow (or tifffile for
TIFF) as they are, without colour conversion.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import FrameError
from ..io import Frame

_FALLBACK_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff")


def read_frame(path: str | os.PathLike, kit: Any = None) -> Frame:
    """Read a frame for the frame tools.

    Parameters
    ----------
    path : path-like
    kit : mountkit.Kit, optional
        Whose frame formats to use (default: a new ``Kit()``).

    Raises
    ------
    FrameError
        The file is missing, of an unknown kind, or unreadable.
    """
    path = Path(path)
    if not path.is_file():
        raise FrameError(f"{path}: no such file")
    suffix = path.suffix.lower()
    if suffix == ".npy":
        return _read_npy(path)
    if kit is None:
        from ..kit import Kit

        kit = Kit()
    formats = sorted((f for f in kit.frame_formats().values() if suffix in f.suffixes and f.read is not None),
                     key=lambda f: f.priority)
    for fmt in formats:
        if fmt.available():
            frame = fmt.read(path)
            if not isinstance(frame, Frame):
                raise FrameError(f"{path}: frame format {fmt.name!r} returned {type(frame).__name__}, not a Frame")
            return frame
    if suffix in _FALLBACK_SUFFIXES:
        return _read_image(path)
    known = sorted({s for f in kit.frame_formats().values() if f.read is not None for s in f.suffixes}
                   | {".npy", *_FALLBACK_SUFFIXES})
    raise FrameError(f"{path}: no frame format reads {suffix or 'files without a suffix'!r}; "
                     f"known: {', '.join(known)}")


def _read_npy(path: Path) -> Frame:
    try:
        data = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise FrameError(f"{path}: not a readable .npy array ({exc})") from exc
    return Frame(data=data, path=str(path))


def _read_image(path: Path) -> Frame:
    if path.suffix.lower() in (".tif", ".tiff"):
        try:
            import tifffile
        except ImportError:
            tifffile = None
        if tifffile is not None:
            try:
                return Frame(data=np.asarray(tifffile.imread(path)), path=str(path))
            except Exception as exc:  # tifffile raises many types on bad input
                raise FrameError(f"{path}: not a readable TIFF ({exc})") from exc
    try:
        from PIL import Image
    except ImportError:
        raise FrameError(f"{path}: reading {path.suffix} files needs Pillow (pip install Pillow)") from None
    try:
        with Image.open(path) as im:
            if im.mode in ("P", "PA", "CMYK", "YCbCr", "LAB", "HSV", "1"):
                im = im.convert("RGBA" if "A" in im.mode or "transparency" in im.info else "RGB")
            data = np.asarray(im)
    except Exception as exc:  # Pillow raises many types on bad input
        raise FrameError(f"{path}: not a readable image ({exc})") from exc
    if data.dtype.byteorder not in ("=", "|"):
        data = data.astype(data.dtype.newbyteorder("="))
    return Frame(data=data, path=str(path))
