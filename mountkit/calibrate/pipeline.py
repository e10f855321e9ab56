"""From shots to fits: the Python API the ``mountkit calibrate`` commands are a thin layer over.

Shots are file paths (read through :mod:`mountkit.io`, one at a time, when
they are processed), numpy arrays, or ``(name, array)`` pairs.  Every function
returns its fit with the shots it rejected and why; nothing is written here
(see :mod:`mountkit.calibrate.profile_output` and :mod:`mountkit.calibrate.report`).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import FrameError, MountkitError
from .detection import BoardDetection, BoardRejected, Shot, detect_boards, parse_pattern
from .distortion_fit import DistortionFit, calibration_geometry, fit_distortion
from .profile_output import sensor_aspect_ratio
from .tca_fit import TCAFit, fit_tca
from .vignetting_fit import FlatField, FlatRejected, VignettingFit, calibrate_flats

ShotLike = str | os.PathLike | np.ndarray | tuple[str, np.ndarray]


def _reader(path: Path, kit):
    def load() -> np.ndarray:
        from ..io.formats import read_frame

        return read_frame(path, kit).data

    return load


def as_shots(images: Iterable[ShotLike], kit=None) -> list[Shot]:
    """Lazy :class:`Shot` objects for paths, arrays or ``(name, array)`` pairs."""
    shots = []
    for k, item in enumerate(images):
        if isinstance(item, Shot):
            shots.append(item)
        elif isinstance(item, (str, os.PathLike)):
            p = Path(item)
            if not p.is_file():
                raise FrameError(f"{p}: no such file")
            shots.append(Shot(str(p), _reader(p, kit)))
        elif isinstance(item, tuple) and len(item) == 2:
            name, arr = item
            shots.append(Shot(str(name), lambda a=arr: np.asarray(a)))
        elif isinstance(item, np.ndarray):
            shots.append(Shot(f"shot {k + 1}", lambda a=item: a))
        else:
            raise MountkitError(f"shot {k + 1}: expected a file path, an array or (name, array), "
                                f"got {type(item).__name__}")
    if not shots:
        raise MountkitError("no shots given")
    return shots


def detect(images: Iterable[ShotLike], *, pattern=None, per_channel: bool = False, workers: int = 1,
           kit=None) -> tuple[list[BoardDetection], list[BoardRejected]]:
    """Detect the chessboard in every shot (see :func:`mountkit.calibrate.detection.detect_boards`)."""
    return detect_boards(as_shots(images, kit), parse_pattern(pattern), per_channel=per_channel, workers=workers)


def _geometry(dets: list[BoardDetection], rejected, crop_factor: float, aspect_ratio: float | None):
    if not dets:
        reasons = "; ".join(str(r) for r in rejected) or "no shots"
        raise MountkitError(f"no chessboard found in any shot: {reasons}")
    w, h = dets[0].size
    return calibration_geometry(w, h, crop_factor, frame_aspect_ratio(w, h, aspect_ratio))


def frame_aspect_ratio(width: int, height: int, aspect_ratio: float | None) -> float:
    """The aspect ratio to calibrate with: the frames' (4:3, 3:2... when close), checked against a given one.

    The calibration sensor is the area the frames cover; frames of another
    shape than the sensor (a 16:9 mode of a 4:3 sensor) cover a smaller area,
    of another crop factor.

    Raises
    ------
    MountkitError
        ``aspect_ratio`` differs from the frames' by more than 1 %.
    """
    own = sensor_aspect_ratio(width, height)
    if aspect_ratio is None:
        return own
    ar = aspect_ratio if aspect_ratio >= 1 else 1.0 / aspect_ratio
    if abs(own / ar - 1) > 0.01:
        raise MountkitError(f"the frames are {width}x{height} (aspect ratio {own:.4g}) but the sensor's aspect ratio "
                            f"is {ar:.4g}: frames cropped in the camera cover a smaller area; give --crop-factor of "
                            "that area and leave out --camera/--aspect-ratio")
    return ar


def calibrate_distortion(images: Iterable[ShotLike] | None = None, *, focal: float, crop_factor: float,
                         aspect_ratio: float | None = None, model: str = "ptlens", pattern=None, kit=None,
                         workers: int = 1, detections: tuple[list[BoardDetection], list[BoardRejected]] | None = None
                         ) -> DistortionFit:
    """Fit lensfun distortion (``ptlens``, ``poly3``, ``poly5``) to chessboard shots of one lens at one focal length.

    Parameters
    ----------
    images : iterable of paths, arrays or (name, array)
        The chessboard shots (ignored when ``detections`` is given).
    focal : float
        Focal length in mm.
    crop_factor : float
        Crop factor of the body that took the shots (2.64 for the 1-inch 8192 x 6144 sensor).
    aspect_ratio : float, optional
        Of the body's sensor; default: that of the frames (4:3, 3:2... when close).
    model : str
        A radial distortion model registered in the kit.
    pattern : "COLSxROWS" or (cols, rows), optional
        Inner corners of the board; detected when omitted.
    workers : int
        Shots processed in parallel.
    detections : (detections, rejections), optional
        Reuse an earlier detection (e.g. the same shots for distortion and TCA).

    Examples
    --------
    >>> fit = calibrate_distortion(sorted(Path("shots").glob("*.dng")), focal=28,
    ...                            crop_factor=2.64, model="ptlens")  # doctest: +SKIP
    >>> fit.params, fit.rms_px  # doctest: +SKIP
    """
    from ..kit import Kit

    kit = kit if kit is not None else Kit()
    m = kit.model("distortion", model)
    if detections is None:
        detections = detect(images or (), pattern=pattern, workers=workers, kit=kit)
    dets, rejected = detections
    g = _geometry(dets, rejected, crop_factor, aspect_ratio)
    return fit_distortion(dets, g, m, focal=focal, rejected=rejected)


def calibrate_tca(images: Iterable[ShotLike] | None = None, *, focal: float, crop_factor: float,
                  aspect_ratio: float | None = None, model: str = "poly3", full: bool = False, pattern=None, kit=None,
                  workers: int = 1, detections: tuple[list[BoardDetection], list[BoardRejected]] | None = None
                  ) -> TCAFit:
    """Fit lensfun TCA (``linear`` or ``poly3``) to colour chessboard shots (see :func:`calibrate_distortion`).

    ``detections`` must have been made with ``per_channel=True``.
    """
    if detections is None:
        detections = detect(images or (), pattern=pattern, per_channel=True, workers=workers, kit=kit)
    dets, rejected = detections
    g = _geometry(dets, rejected, crop_factor, aspect_ratio)
    return fit_tca(dets, g, model=model, focal=focal, full=full, rejected=rejected)


def _number(meta: dict[str, Any], key: str) -> float | None:
    v = meta.get(key)
    try:
        v = float(v)
    except (TypeError, ValueError):
        return None
    return v if v > 0 else None


def read_flat(path: str | os.PathLike, kit=None, *, focal: float | None = None, aperture: float | None = None,
              distance: float | None = None) -> FlatField:
    """A flat field from a file: pixels, levels, linearity, and focal/aperture/distance from flags or metadata."""
    from ..io.formats import read_frame

    p = Path(path)
    frame = read_frame(p, kit)
    meta = dict(frame.metadata)
    if focal is None or aperture is None or distance is None:
        try:
            from ..io.metadata import read_metadata

            meta.update(read_metadata(p))
        except (FrameError, ImportError):
            pass
    white = frame.white_level if frame.white_level is not None else (
        float(np.iinfo(frame.data.dtype).max) if frame.data.dtype.kind in "ui" else 1.0)
    return FlatField(name=str(p), data=frame.data, white_level=float(white), black_level=float(frame.black_level),
                     linear=bool(frame.linear), focal=focal if focal is not None else _number(meta, "FocalLength"),
                     aperture=aperture if aperture is not None else _number(meta, "FNumber"),
                     distance=distance if distance is not None else _number(meta, "FocusDistance"))


def calibrate_vignetting(flats: Iterable[FlatField | str | os.PathLike], *, crop_factor: float,
                         aspect_ratio: float | None = None, focal: float | None = None, aperture: float | None = None,
                         distance: float | None = None, colour_shading: bool = True, kit=None
                         ) -> tuple[list[VignettingFit], list[FlatRejected]]:
    """Fit ``pa`` vignetting (and colour shading) per (focal, aperture, distance) to flat fields.

    ``flats`` are :class:`FlatField` objects or file paths (raw/DNG or linear
    TIFF); ``focal``, ``aperture`` and ``distance`` (m) override the files'
    metadata.
    """
    items = []
    for f in flats:
        if isinstance(f, FlatField):
            items.append(dataclasses.replace(f, **{k: v for k, v in (("focal", focal), ("aperture", aperture),
                                                                     ("distance", distance)) if v is not None}))
        else:
            items.append(read_flat(f, kit, focal=focal, aperture=aperture, distance=distance))
    if not items:
        raise MountkitError("no flat fields given")
    h, w = items[0].data.shape[:2]
    g = calibration_geometry(w, h, crop_factor, frame_aspect_ratio(w, h, aspect_ratio))
    fits, rejected = calibrate_flats(items, g, colour_shading=colour_shading)
    if not fits:
        raise MountkitError("no usable flat field: " + "; ".join(str(r) for r in rejected))
    return fits, rejected
