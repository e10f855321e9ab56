"""Writing minimal DNG files (a CFA mosaic with its levels and EXIF) through tifffile.

Enough of DNG 1.4 for LibRaw to read the file back: IFD0 holds the mosaic
(PhotometricInterpretation 32803 = CFA, CFARepeatPatternDim, CFAPattern),
DNGVersion, UniqueCameraModel, BlackLevel, WhiteLevel, ColorMatrix1 and
AsShotNeutral; EXIF (focal length, f-number, lens, maker note...) goes to an
EXIF IFD appended after tifffile has written the image (tifffile does not
write tag 34665 itself).  Used by the tests and benchmarks to make raw files
with known content, and as a starting point for writing corrected mosaics.

Tag numbers: Adobe DNG Specification 1.4.0.0, chapter 4; TIFF/EP (ISO
12234-2) for the CFA tags; EXIF 2.32 for the EXIF IFD.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..errors import FrameError
from .tiffifd import ASCII, LONG, RATIONAL, SHORT, UNDEFINED, Entry, append_ifd0_entries

_CFA_CODES = {"R": 0, "G": 1, "B": 2}

#: EXIF tags :func:`write_dng` knows by name: tag, type
EXIF_TAGS: dict[str, tuple[int, int]] = {
    "ExposureTime": (0x829A, RATIONAL),
    "FNumber": (0x829D, RATIONAL),
    "ISOSpeedRatings": (0x8827, SHORT),
    "DateTimeOriginal": (0x9003, ASCII),
    "ApertureValue": (0x9202, RATIONAL),
    "SubjectDistance": (0x9206, RATIONAL),
    "FocalLength": (0x920A, RATIONAL),
    "MakerNote": (0x927C, UNDEFINED),
    "FocalLengthIn35mmFilm": (0xA405, SHORT),
    "BodySerialNumber": (0xA431, ASCII),
    "LensMake": (0xA433, ASCII),
    "LensModel": (0xA434, ASCII),
    "LensSerialNumber": (0xA435, ASCII),
}


def write_dng(path: str | os.PathLike, cfa: np.ndarray, *, black_level: int = 0, white_level: int = 65535,
              pattern: str = "RGGB", make: str = "mountkit", model: str = "Test camera",
              exif: Mapping[str, Any] | None = None, orientation: int = 1,
              color_matrix: Sequence[float] = (1, 0, 0, 0, 1, 0, 0, 0, 1),
              as_shot_neutral: Sequence[float] = (1, 1, 1)) -> None:
    """Write a CFA mosaic as a DNG file.

    Parameters
    ----------
    path : path-like
    cfa : ndarray, (H, W) uint16
        The mosaic in sensor units (10-bit data stays 0..1023).
    black_level, white_level : int
    pattern : str
        The 2x2 colour filter pattern, row by row ("RGGB", "BGGR", "GRBG", "GBRG").
    make, model : str
    exif : mapping, optional
        EXIF values by the names in :data:`EXIF_TAGS` (``FocalLength`` in mm,
        ``FNumber``, ``LensModel``, ``MakerNote`` bytes...).
    orientation : int
        EXIF orientation of IFD0.
    color_matrix, as_shot_neutral : sequences of float
        ColorMatrix1 (XYZ to camera, 9 values) and AsShotNeutral.
    """
    import tifffile

    cfa = np.asarray(cfa)
    if cfa.ndim != 2 or cfa.dtype != np.uint16:
        raise FrameError(f"a DNG mosaic must be a 2-D uint16 array, got {cfa.dtype} {cfa.shape}")
    if len(pattern) != 4 or any(c not in _CFA_CODES for c in pattern.upper()):
        raise FrameError(f"CFA pattern must be four letters of R, G, B, got {pattern!r}")
    unknown = set(exif or {}) - set(EXIF_TAGS)
    if unknown:
        raise FrameError(f"unknown EXIF names {sorted(unknown)}; known: {', '.join(EXIF_TAGS)}")

    def srational(values):
        out = []
        for v in values:
            out += [int(round(v * 10000)), 10000]
        return tuple(out)

    def urational(values):
        out = []
        for v in values:
            out += [int(round(v * 10000)), 10000]
        return tuple(out)

    extratags = [
        (50706, "B", 4, (1, 4, 0, 0), True),  # DNGVersion
        (50707, "B", 4, (1, 1, 0, 0), True),  # DNGBackwardVersion
        (50708, "s", 0, f"{make} {model}", True),  # UniqueCameraModel
        (271, "s", 0, make, True),
        (272, "s", 0, model, True),
        (274, "H", 1, (int(orientation),), True),
        (33421, "H", 2, (2, 2), True),  # CFARepeatPatternDim
        (33422, "B", 4, tuple(_CFA_CODES[c] for c in pattern.upper()), True),  # CFAPattern
        (50710, "B", 3, (0, 1, 2), True),  # CFAPlaneColor
        (50711, "H", 1, (1,), True),  # CFALayout: rectangular
        (50714, "I", 1, (int(black_level),), True),  # BlackLevel
        (50717, "I", 1, (int(white_level),), True),  # WhiteLevel
        (50721, "2i", 9, srational(color_matrix), True),  # ColorMatrix1
        (50728, "2I", 3, urational(as_shot_neutral), True),  # AsShotNeutral
        (50778, "H", 1, (21,), True),  # CalibrationIlluminant1: D65
    ]
    tifffile.imwrite(path, cfa, photometric=32803, extratags=extratags, bigtiff=False, software=False,
                     metadata=None)
    if exif:
        entries = []
        for name, value in exif.items():
            tag, typ = EXIF_TAGS[name]
            entries.append(Entry(tag, typ, value))
        append_ifd0_entries(os.fspath(path), [Entry(34665, LONG, entries)])
