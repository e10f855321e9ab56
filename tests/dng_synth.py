"""Small DNG files written with tifffile for the DNG tests (no external sample files).

Two layouts, as real producers write them:

* ``layout="subifd"`` (Adobe DNG Converter): IFD0 is an RGB preview
  (NewSubfileType 1) whose SubIFD holds the raw CFA image and the opcode lists;
* ``layout="ifd0"`` (Android DngCreator, GoPro): the raw image and the opcode
  lists are in IFD0.
"""

from __future__ import annotations

import numpy as np
import tifffile

OPCODE_TAGS = {1: 51008, 2: 51009, 3: 51022}


def bayer_frame(width: int = 96, height: int = 64, seed: int = 0) -> np.ndarray:
    """A 10-bit-looking uint16 CFA mosaic with a smooth gradient and some noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    base = 200 + 500 * (xx / max(width - 1, 1)) * (1 - 0.5 * yy / max(height - 1, 1))
    return np.clip(base + rng.normal(0, 3, base.shape), 0, 1023).astype(np.uint16)


def write_dng(path, *, lists: dict[int, bytes] | None = None, cfa: np.ndarray | None = None,
              layout: str = "subifd", byteorder: str = "<", dng_version=(1, 4, 0, 0),
              active_area: tuple[int, int, int, int] | None = None, exif: dict | None = None,
              unique_id: bytes | None = None, preview_lists: dict[int, bytes] | None = None) -> str:
    """Write a minimal DNG carrying the given opcode list blobs (by list number); return the path."""
    cfa = bayer_frame() if cfa is None else cfa
    exif = exif or {}
    ifd0_tags = [
        (50706, 1, 4, tuple(dng_version), True),  # DNGVersion
        (50707, 1, 4, (1, 1, 0, 0), True),  # DNGBackwardVersion
        (271, "s", 0, "mountkit", True),  # Make
        (272, "s", 0, "Synthetic DNG", True),  # Model
        (50708, "s", 0, "mountkit Synthetic DNG", True),  # UniqueCameraModel
    ]
    if "FocalLength" in exif:
        ifd0_tags.append((37386, 5, 1, _rational(exif["FocalLength"]), True))
    if "FNumber" in exif:
        ifd0_tags.append((33437, 5, 1, _rational(exif["FNumber"]), True))
    if "SubjectDistance" in exif:
        ifd0_tags.append((37382, 5, 1, _rational(exif["SubjectDistance"]), True))
    if unique_id is not None:
        ifd0_tags.append((50781, 1, 16, tuple(unique_id), True))
    raw_tags = [
        (33421, 3, 2, (2, 2), True),  # CFARepeatPatternDim
        (33422, 1, 4, (0, 1, 1, 2), True),  # CFAPattern RGGB
        (50717, 4, 1, 1023, True),  # WhiteLevel
    ]
    if active_area is not None:
        raw_tags.append((50829, 4, 4, tuple(active_area), True))
    for n, blob in sorted((lists or {}).items()):
        raw_tags.append((OPCODE_TAGS[n], 7, len(blob), blob, True))
    with tifffile.TiffWriter(path, byteorder=byteorder) as tw:
        if layout == "subifd":
            preview_tags = list(ifd0_tags)
            for n, blob in sorted((preview_lists or {}).items()):
                preview_tags.append((OPCODE_TAGS[n], 7, len(blob), blob, True))
            tw.write(np.full((8, 12, 3), 128, np.uint8), photometric="rgb", subfiletype=1, subifds=1,
                     extratags=sorted(preview_tags))
            tw.write(cfa, photometric=32803, subfiletype=0, extratags=raw_tags)
        elif layout == "ifd0":
            tw.write(cfa, photometric=32803, subfiletype=0, extratags=sorted(ifd0_tags + raw_tags))
        else:
            raise ValueError(layout)
    return str(path)


def _rational(v: float) -> tuple[int, int]:
    from fractions import Fraction

    f = Fraction(v).limit_denominator(10000)
    return (f.numerator, f.denominator)
