"""DNG and camera raw frames through rawpy (LibRaw).

Two ways to read a raw file:

``mode="rgb"`` (default)
    Demosaiced RGB, linear, in the **sensor's units**: LibRaw's scaling is
    neutralised (black 0, saturation 65535, no maximum adjustment, no auto
    brightness, gamma 1), so a 10-bit sensor's values stay 10-bit values in
    uint16 and the frame carries the file's black and white levels.  With
    ``colour="camera"`` (default) no white balance or colour matrix is
    applied: every output value is an interpolation of raw values.  With
    ``colour="srgb"`` LibRaw white-balances (as shot) and converts to linear
    sRGB primaries; the frame then runs from black 0 to white 65535.
``mode="cfa"``
    The visible raw mosaic (H, W) as stored, uint16, with the CFA pattern in
    ``metadata["CFAPattern"]`` (e.g. "RGGB") for corrections that work on the
    mosaic.

DNG opcode lists (GainMap, WarpRectilinear) are **not** applied by LibRaw;
their presence is reported in the metadata (``OpcodeList1..3``) so that a
correction is not applied twice unknowingly.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..errors import FrameError
from . import Frame

#: suffixes read through rawpy (LibRaw reads many more; these are the common ones)
RAW_SUFFIXES = (".dng", ".cr2", ".cr3", ".crw", ".nef", ".nrw", ".arw", ".srf", ".sr2", ".raf", ".rw2",
                ".orf", ".pef", ".srw", ".x3f", ".3fr", ".fff", ".iiq", ".mos", ".mef", ".mrw", ".erf",
                ".kdc", ".dcr", ".rwl", ".raw")


def _open(path: Path):
    import rawpy

    try:
        return rawpy.imread(str(path))
    except Exception as exc:  # rawpy raises LibRawError subclasses, OSError...
        kind = type(exc).__name__
        hint = ""
        if "FileUnsupported" in kind:
            hint = " (not a raw file LibRaw knows, or the file is damaged)"
        elif "IOError" in kind or "DataError" in kind or "Truncated" in kind:
            hint = " (the file is truncated or damaged)"
        raise FrameError(f"{path}: cannot read as raw{hint}: {kind}: {exc}") from None


def cfa_pattern(raw) -> str:
    """The 2x2 CFA pattern as letters, row by row ("RGGB", "BGGR"...)."""
    desc = raw.color_desc.decode("ascii", "replace")
    pat = np.asarray(raw.raw_pattern)
    return "".join(desc[int(i)] for i in pat[:2, :2].ravel()).replace("G2", "G")


def read_raw(path: str | os.PathLike, *, mode: str = "rgb", colour: str = "camera",
             demosaic: str = "AHD", prepare_cfa=None) -> Frame:
    """Read a DNG or camera raw file as a linear :class:`Frame`.

    Parameters
    ----------
    path : path-like
    mode : {"rgb", "cfa"}
        Demosaiced RGB or the raw mosaic (see the module docstring).
    colour : {"camera", "srgb"}
        For ``mode="rgb"``: camera RGB in sensor units, or white-balanced
        linear sRGB primaries.
    demosaic : str
        LibRaw demosaicing algorithm name (``"AHD"``, ``"LINEAR"``, ``"VNG"``,
        ``"PPG"``, ``"DHT"``, ``"AAHD"``...).
    prepare_cfa : callable, optional
        ``prepare_cfa(mosaic, {"black": ..., "white": ...})`` may modify the
        visible raw mosaic (uint16, in place) before it is demosaiced or
        returned; ``black`` is the black level of every pixel.  Used to apply
        a DNG's OpcodeList2 GainMaps (:mod:`mountkit.dng.apply`).

    Returns
    -------
    Frame
        ``data`` uint16 (H, W, 3) or (H, W); ``black_level`` and
        ``white_level`` in the data's units; ``metadata`` with ``RawBlackLevels``
        (per CFA channel), ``RawWhiteLevel``, ``CFAPattern``, ``RawColour``.

    Raises
    ------
    FrameError
        naming the file when LibRaw cannot open or decode it.
    """
    import rawpy

    p = Path(path)
    if mode not in ("rgb", "cfa"):
        raise FrameError(f"raw read mode must be 'rgb' or 'cfa', got {mode!r}")
    if colour not in ("camera", "srgb"):
        raise FrameError(f"raw colour must be 'camera' or 'srgb', got {colour!r}")
    with _open(p) as raw:
        try:
            blacks = [float(b) for b in raw.black_level_per_channel]
            white = float(raw.white_level)
            pattern = cfa_pattern(raw)
            meta = {"FileFormat": "RAW", "RawBlackLevels": blacks, "RawWhiteLevel": white, "CFAPattern": pattern,
                    "RawColour": colour if mode == "rgb" else "cfa",
                    "RawSize": (int(raw.sizes.width), int(raw.sizes.height))}
            black = float(np.mean(blacks))
            if prepare_cfa is not None:
                visible = raw.raw_image_visible
                per_pixel = np.asarray(blacks, dtype=np.float32)[np.asarray(raw.raw_colors_visible)]
                prepare_cfa(visible, {"black": per_pixel, "white": white})
            if mode == "cfa":
                data = np.array(raw.raw_image_visible, dtype=np.uint16, copy=True)
                return Frame(data=data, metadata=meta, white_level=white, black_level=black, linear=True,
                             path=str(p))
            algo = getattr(rawpy.DemosaicAlgorithm, demosaic.upper(), None)
            if algo is None:
                raise FrameError(f"unknown demosaicing algorithm {demosaic!r}")
            common = dict(demosaic_algorithm=algo, gamma=(1.0, 1.0), no_auto_bright=True, output_bps=16,
                          user_flip=0, adjust_maximum_thr=0.0, highlight_mode=rawpy.HighlightMode.Clip)
            if colour == "camera":
                # neutralise LibRaw's scaling: black 0 and saturation 65535 leave raw values as they are
                rgb = raw.postprocess(user_black=0, user_cblack=[0, 0, 0, 0], user_sat=65535,
                                      user_wb=[1.0, 1.0, 1.0, 1.0], output_color=rawpy.ColorSpace.raw, **common)
                frame_black, frame_white = black, white
            else:
                rgb = raw.postprocess(use_camera_wb=True, output_color=rawpy.ColorSpace.sRGB, **common)
                frame_black, frame_white = 0.0, 65535.0
        except FrameError:
            raise
        except Exception as exc:
            raise FrameError(f"{p}: cannot decode raw data: {type(exc).__name__}: {exc}") from None
    return Frame(data=np.ascontiguousarray(rgb, dtype=np.uint16), metadata=meta, white_level=frame_white,
                 black_level=frame_black, linear=True, path=str(p))
