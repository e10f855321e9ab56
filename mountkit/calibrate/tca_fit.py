"""Lateral chromatic aberration (TCA) calibration: red and blue radial scale relative to green.

Each chessboard corner is located separately on the red, green and blue
planes (:func:`mountkit.calibrate.detection.detect_board` with
``per_channel=True``).  lensfun's TCA models scale the green (distorted)
position to where red and blue are captured::

    p_R = p_G * f_R(|p_G|),   p_B = p_G * f_B(|p_G|)      (normalised coordinates)

    linear   f = k                    (kr, kb)
    poly3    f = v + c r + b r^2      (vr, cr, br; vb, cb, bb)

Both are linear in their parameters, so each channel is a linear least-squares
problem over every corner of every shot (both coordinates), solved once,
then again without corners off by more than :data:`OUTLIER_FACTOR` times the
median residual.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from .. import geometry as geo
from ..errors import MountkitError
from ..profile import Calibration
from .detection import BoardDetection, BoardRejected

OUTLIER_FACTOR = 6.0
OUTLIER_MIN_PX = 0.2

#: Terms fitted for each model (per channel, in the order of the basis 1, r, r^2).
TCA_TERMS = {"linear": ("k",), "poly3": ("v", "b"), "poly3-full": ("v", "c", "b")}


@dataclass(frozen=True)
class ChannelResidual:
    """Residuals of one channel (red or blue) in pixels, overall and per shot."""

    channel: str
    rms_px: float
    max_px: float
    per_shot: tuple[tuple[str, float], ...]
    dropped: int


@dataclass(frozen=True)
class TCAFit:
    """The result of :func:`fit_tca`: lensfun TCA parameters and their residuals."""

    model: str
    params: Mapping[str, float]
    focal: float
    crop_factor: float
    aspect_ratio: float
    size: tuple[int, int]
    red: ChannelResidual
    blue: ChannelResidual
    shots: tuple[str, ...]
    rejected: tuple[BoardRejected, ...]
    radius: np.ndarray = field(repr=False)
    red_shift_px: np.ndarray = field(repr=False)
    blue_shift_px: np.ndarray = field(repr=False)
    radius_covered: float = 0.0
    corner_radius: float = 0.0

    @property
    def rms_px(self) -> float:
        return math.sqrt(0.5 * (self.red.rms_px ** 2 + self.blue.rms_px ** 2))

    def calibration(self) -> Calibration:
        return Calibration("tca", self.model, self.focal, dict(self.params))

    def summary(self) -> str:
        return (f"tca {self.model} at {self.focal:g} mm: {len(self.shots)} shots, {self.radius.size} corners, "
                f"RMS red {self.red.rms_px:.3f} px, blue {self.blue.rms_px:.3f} px")


def _basis(r: np.ndarray, terms: Sequence[str]) -> np.ndarray:
    powers = {"k": 0, "v": 0, "c": 1, "b": 2}
    return np.stack([r ** powers[t] for t in terms], axis=1)


def fit_channel(green: np.ndarray, other: np.ndarray, terms: Sequence[str]) -> np.ndarray:
    """Least-squares coefficients of ``other = green * sum(coef * r^power)`` (normalised (N, 2) positions)."""
    r = np.hypot(green[:, 0], green[:, 1])
    basis = _basis(r, terms)
    a = np.concatenate([basis * green[:, 0:1], basis * green[:, 1:2]])
    b = np.concatenate([other[:, 0], other[:, 1]])
    coef, *_ = np.linalg.lstsq(a, b, rcond=None)
    return coef


def channel_factor(r: np.ndarray, coef: np.ndarray, terms: Sequence[str]) -> np.ndarray:
    """The fitted scale factor f(r)."""
    return _basis(np.asarray(r, dtype=np.float64), terms) @ coef


def _params(model: str, red: np.ndarray, blue: np.ndarray, terms: Sequence[str]) -> dict[str, float]:
    if model == "linear":
        return {"kr": float(red[0]), "kb": float(blue[0])}
    out = {"vr": 1.0, "vb": 1.0, "cr": 0.0, "cb": 0.0, "br": 0.0, "bb": 0.0}
    for t, cr, cb in zip(terms, red, blue, strict=True):
        out[f"{t}r"] = float(cr)
        out[f"{t}b"] = float(cb)
    return out


def fit_tca(detections: Sequence[BoardDetection], geometry: geo.FrameGeometry, *, model: str = "poly3",
            focal: float, full: bool = False, rejected: Sequence[BoardRejected] = ()) -> TCAFit:
    """Fit lensfun TCA (``linear`` or ``poly3``) to per-channel chessboard corners.

    Parameters
    ----------
    detections : sequence of BoardDetection
        With ``channel_corners`` (detected with ``per_channel=True``).
    geometry : FrameGeometry
        The shooting camera's normalisation (see :func:`calibration_geometry`).
    model : {"poly3", "linear"}
    focal : float
        Focal length (mm).
    full : bool
        poly3 only: also fit the linear-in-r terms cr, cb (by default vr, br, vb, bb,
        as lensfun's calibration script writes them).
    """
    if model not in ("linear", "poly3"):
        raise MountkitError(f"unknown TCA model {model!r}: use 'linear' or 'poly3'")
    dets = [d for d in detections if d.channel_corners is not None]
    rejected = list(rejected) + [BoardRejected(d.name, "no per-channel corners (not a colour frame)")
                                 for d in detections if d.channel_corners is None]
    if not dets:
        raise MountkitError("no usable colour chessboard shot for TCA: " + (
            "; ".join(str(r) for r in rejected) or "no shots given"))
    terms = TCA_TERMS["poly3-full" if (model == "poly3" and full) else model]
    g = geometry
    cc = np.concatenate([d.channel_corners for d in dets], axis=1)  # (3, N, 2)
    index = np.concatenate([np.full(d.count, i) for i, d in enumerate(dets)])
    norm = [np.column_stack(geo.pixel_to_normalized(g, cc[c, :, 0], cc[c, :, 1])) for c in range(3)]
    green = norm[1]
    if green.shape[0] < 2 * len(terms) + 2:
        raise MountkitError(f"too few corners ({green.shape[0]}) for a TCA fit")
    coefs, channel_res, shifts = [], [], []
    r = np.hypot(green[:, 0], green[:, 1])
    for c, name in ((0, "red"), (2, "blue")):
        keep = np.ones(r.size, dtype=bool)
        for _ in range(2):
            coef = fit_channel(green[keep], norm[c][keep], terms)
            pred = green * channel_factor(r, coef, terms)[:, None]
            err = np.hypot(*(pred - norm[c]).T) * g.norm_unscale
            limit = max(OUTLIER_FACTOR * float(np.median(err[keep])), OUTLIER_MIN_PX)
            new_keep = err <= limit
            if np.array_equal(new_keep, keep):
                break
            keep = new_keep
        e = err[keep]
        per_shot = tuple((d.name, math.sqrt(float(np.mean(err[(index == i) & keep] ** 2))) if np.any(
            (index == i) & keep) else float("nan")) for i, d in enumerate(dets))
        channel_res.append(ChannelResidual(name, math.sqrt(float(np.mean(e ** 2))), float(e.max()), per_shot,
                                           int((~keep).sum())))
        coefs.append(coef)
        # measured radial shift of the channel against green, in pixels (for the report)
        rc = np.hypot(norm[c][:, 0], norm[c][:, 1])
        shifts.append((rc - r) * g.norm_unscale)
    return TCAFit(model=model, params=_params(model, coefs[0], coefs[1], terms), focal=float(focal),
                  crop_factor=g.crop_factor, aspect_ratio=g.aspect_ratio, size=(g.width, g.height),
                  red=channel_res[0], blue=channel_res[1], shots=tuple(d.name for d in dets),
                  rejected=tuple(rejected), radius=r, red_shift_px=shifts[0], blue_shift_px=shifts[1],
                  radius_covered=float(r.max()), corner_radius=g.corner_radius)
