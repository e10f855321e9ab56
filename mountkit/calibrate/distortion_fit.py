"""Distortion calibration: a lensfun radial model and one homography per shot, fitted jointly to chessboard corners.

The forward model of a corner is lensfun's (``docs/models.md``), in the
normalised coordinates of the *shooting* camera (the calibration sensor is the
camera itself: crop factor and aspect ratio of the body, distortion centre at
the frame centre)::

    (u, v)   = H_k (X, Y)                   board square (X, Y) -> perfect image, shot k (8 parameters)
    (x, y)   = (u, v) * s(|(u, v)|; theta)   lensfun's distortion (captured = corrected * s)
    pixel    = normalized_to_pixel(x, y)

and :func:`scipy.optimize.least_squares` minimises the pixel distances to the
detected corners over the model's parameters theta and every H_k at once,
with an analytic Jacobian.  The model's own convention fixes the scale that a
homography could otherwise trade against distortion (ptlens and poly3 keep
r = 1 fixed, poly5 keeps the centre's magnification at 1).

Corners far off the fit (more than :data:`OUTLIER_FACTOR` times the median
residual) are dropped, and shots whose residual is far above the others' (or
with more than :data:`MAX_OUTLIER_SHARE` of their corners off) are rejected
with a reason, before the final fit.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from .. import geometry as geo
from ..errors import MountkitError
from ..models.base import DistortionModel
from ..profile import Calibration
from .detection import BoardDetection, BoardRejected

#: Corners whose residual exceeds this many times the median residual (and OUTLIER_MIN_PX) are dropped.
OUTLIER_FACTOR = 6.0
OUTLIER_MIN_PX = 0.5
#: Shots whose RMS exceeds this many times the median shot RMS (and SHOT_MIN_PX) are rejected.
SHOT_FACTOR = 3.0
SHOT_MIN_PX = 0.5
#: Shots with a larger share of outlying corners are rejected as a whole.
MAX_OUTLIER_SHARE = 0.2
_STEP = 1e-6


@dataclass(frozen=True)
class ShotResidual:
    """How well one shot fits: corners used, RMS and largest residual in pixels."""

    name: str
    count: int
    rms_px: float
    max_px: float
    dropped: int = 0


@dataclass(frozen=True)
class DistortionFit:
    """The result of :func:`fit_distortion`.

    ``params`` are the model's parameters in lensfun's convention for a
    calibration sensor of ``crop_factor`` and ``aspect_ratio`` (the shooting
    camera); ``rms_px`` and ``max_px`` are the corner residuals in pixels;
    ``radius_covered`` the largest normalised (captured) radius a corner
    reached and ``corner_radius`` that of the frame corner (beyond the first,
    the correction is extrapolated).  ``pose`` is the pose model used
    (``projection``: ``camera_focal`` is the pinhole focal length in normalised
    units and ``poses`` the (rvec, t) of each shot; ``homography``: ``poses``
    are the homographies).
    """

    model: str
    params: Mapping[str, float]
    focal: float
    crop_factor: float
    aspect_ratio: float
    size: tuple[int, int]
    rms_px: float
    max_px: float
    shots: tuple[ShotResidual, ...]
    rejected: tuple[BoardRejected, ...]
    points: np.ndarray = field(repr=False)
    residuals: np.ndarray = field(repr=False)
    shot_index: np.ndarray = field(repr=False)
    poses: np.ndarray = field(repr=False)
    pose: str = "projection"
    camera_focal: float | None = None
    radius_covered: float = 0.0
    corner_radius: float = 0.0

    @property
    def count(self) -> int:
        return int(self.points.shape[0])

    def calibration(self) -> Calibration:
        """The fit as a profile's distortion set."""
        return Calibration("distortion", self.model, self.focal, dict(self.params))

    def summary(self) -> str:
        """One line for a profile's provenance notes."""
        return (f"distortion {self.model} at {self.focal:g} mm: {len(self.shots)} shots, {self.count} corners, "
                f"RMS {self.rms_px:.3f} px, max {self.max_px:.3f} px")


def _model_columns(model: DistortionModel, r: np.ndarray, p: dict[str, float], names: Sequence[str]):
    """s(r), ds/dr and ds/dtheta_i (central differences; exact for models linear in their parameters)."""
    s = np.asarray(model.radial_factor(r, p), dtype=np.float64)
    ds_dr = (np.asarray(model.radial_factor(r + _STEP, p)) - np.asarray(model.radial_factor(r - _STEP, p))) / (
        2 * _STEP)
    cols = []
    for n in names:
        hi = dict(p)
        lo = dict(p)
        hi[n] += _STEP
        lo[n] -= _STEP
        cols.append((np.asarray(model.radial_factor(r, hi)) - np.asarray(model.radial_factor(r, lo))) / (2 * _STEP))
    return s, ds_dr, cols


def _homographies_from(x: np.ndarray, m: int, k: int) -> np.ndarray:
    return x[m:].reshape(k, 8)


def predict(model: DistortionModel, params: Mapping[str, float], hom: np.ndarray, board: np.ndarray,
            index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Normalised captured positions of board points: distortion of the homography images.

    ``hom`` is (K, 8) (row-major homographies with the last element 1),
    ``board`` (N, 2) board coordinates and ``index`` (N,) the shot of each point.
    """
    h = hom[index]
    bx, by = board[:, 0], board[:, 1]
    w = h[:, 6] * bx + h[:, 7] * by + 1.0
    u = (h[:, 0] * bx + h[:, 1] * by + h[:, 2]) / w
    v = (h[:, 3] * bx + h[:, 4] * by + h[:, 5]) / w
    s = np.asarray(model.radial_factor(np.hypot(u, v), dict(params)), dtype=np.float64)
    return u * s, v * s


class _Problem:
    """Residuals (pixels) and their Jacobian for the joint fit."""

    def __init__(self, model: DistortionModel, names: Sequence[str], fixed: Mapping[str, float], board: np.ndarray,
                 index: np.ndarray, observed: np.ndarray, k: int, unscale: float):
        self.model, self.names, self.fixed = model, list(names), dict(fixed)
        self.bx, self.by = board[:, 0], board[:, 1]
        self.index, self.k, self.unscale = index, k, unscale
        self.ox, self.oy = observed[:, 0], observed[:, 1]
        self.m = len(self.names)

    def params(self, x: np.ndarray) -> dict[str, float]:
        p = dict(self.fixed)
        p.update(zip(self.names, (float(v) for v in x[: self.m]), strict=True))
        return p

    def _forward(self, x):
        h = _homographies_from(x, self.m, self.k)[self.index]
        w = h[:, 6] * self.bx + h[:, 7] * self.by + 1.0
        u = (h[:, 0] * self.bx + h[:, 1] * self.by + h[:, 2]) / w
        v = (h[:, 3] * self.bx + h[:, 4] * self.by + h[:, 5]) / w
        return h, w, u, v

    def residuals(self, x: np.ndarray) -> np.ndarray:
        _, _, u, v = self._forward(x)
        s = np.asarray(self.model.radial_factor(np.hypot(u, v), self.params(x)), dtype=np.float64)
        return np.concatenate([u * s - self.ox, v * s - self.oy]) * self.unscale

    def jacobian(self, x: np.ndarray) -> np.ndarray:
        _, w, u, v = self._forward(x)
        r = np.hypot(u, v)
        s, ds_dr, cols = _model_columns(self.model, r, self.params(x), self.names)
        with np.errstate(invalid="ignore", divide="ignore"):
            g = np.where(r > 0, ds_dr / r, 0.0)  # ds/dr / r, so that d s / du = g u
        dxu, dxv = s + g * u * u, g * u * v
        dyu, dyv = g * v * u, s + g * v * v
        n = u.shape[0]
        jac = np.zeros((2 * n, self.m + 8 * self.k))
        for i, c in enumerate(cols):
            jac[:n, i] = u * c
            jac[n:, i] = v * c
        # d(u, v) / d(h0..h7)
        bx, by = self.bx, self.by
        du = np.stack([bx / w, by / w, 1 / w, 0 * w, 0 * w, 0 * w, -u * bx / w, -u * by / w], axis=1)
        dv = np.stack([0 * w, 0 * w, 0 * w, bx / w, by / w, 1 / w, -v * bx / w, -v * by / w], axis=1)
        cols0 = self.m + 8 * self.index
        rows = np.arange(n)
        for j in range(8):
            jac[rows, cols0 + j] = dxu * du[:, j] + dxv * dv[:, j]
            jac[n + rows, cols0 + j] = dyu * du[:, j] + dyv * dv[:, j]
        return jac * self.unscale


def initial_homography(board: np.ndarray, observed: np.ndarray) -> np.ndarray:
    """Least-squares homography board -> normalised positions (distortion ignored), as 8 numbers."""
    import cv2

    h, _ = cv2.findHomography(board.astype(np.float64), observed.astype(np.float64), 0)
    if h is None or not np.all(np.isfinite(h)) or abs(h[2, 2]) < 1e-12:
        raise MountkitError("cannot compute a board pose: the detected corners are degenerate")
    return (h / h[2, 2]).ravel()[:8]


def _solve(problem: _Problem, x0: np.ndarray) -> np.ndarray:
    from scipy.optimize import least_squares

    res = least_squares(problem.residuals, x0, jac=problem.jacobian, method="lm", x_scale="jac",
                        xtol=1e-12, ftol=1e-12, gtol=1e-12, max_nfev=200)
    return res.x


def rodrigues(rvec: np.ndarray) -> np.ndarray:
    """Rotation matrices (K, 3, 3) of rotation vectors (K, 3) (axis times angle)."""
    rvec = np.asarray(rvec, dtype=np.float64).reshape(-1, 3)
    theta = np.linalg.norm(rvec, axis=1)
    safe = np.where(theta > 1e-12, theta, 1.0)
    k = rvec / safe[:, None]
    kx, ky, kz = k[:, 0], k[:, 1], k[:, 2]
    zero = np.zeros_like(kx)
    cross = np.stack([np.stack([zero, -kz, ky], 1), np.stack([kz, zero, -kx], 1), np.stack([-ky, kx, zero], 1)], 1)
    c, s_ = np.cos(theta)[:, None, None], np.sin(theta)[:, None, None]
    rot = c * np.eye(3) + s_ * cross + (1 - c) * k[:, :, None] * k[:, None, :]
    small = theta <= 1e-12
    if np.any(small):
        rot[small] = np.eye(3)
    return rot


def focal_from_homographies(hom: np.ndarray) -> float | None:
    """The pinhole focal length (normalised units) shared by board homographies, principal point at 0.

    Zhang's two constraints per homography with square pixels and a known
    principal point, solved for 1/f^2 by least squares; None when the poses do
    not determine it (boards facing the camera squarely).
    """
    rows, rhs = [], []
    for h8 in hom:
        h = np.append(h8, 1.0).reshape(3, 3)
        h1, h2 = h[:, 0], h[:, 1]
        rows.append(h1[0] * h2[0] + h1[1] * h2[1])
        rhs.append(-h1[2] * h2[2])
        rows.append(h1[0] ** 2 + h1[1] ** 2 - h2[0] ** 2 - h2[1] ** 2)
        rhs.append(-(h1[2] ** 2 - h2[2] ** 2))
    a = np.array(rows)
    b = np.array(rhs)
    if not np.any(np.abs(b) > 1e-9 * np.abs(a).max(initial=1.0)):
        return None
    inv_f2 = float(a @ b / (a @ a))
    if not (inv_f2 > 0 and math.isfinite(inv_f2)):
        return None
    return 1.0 / math.sqrt(inv_f2)


def pose_from_homography(h8: np.ndarray, f: float) -> np.ndarray:
    """Rotation vector and translation (6 numbers) of a board from its homography and the focal length."""
    import cv2

    h = np.append(h8, 1.0).reshape(3, 3)
    m = np.diag([1.0 / f, 1.0 / f, 1.0]) @ h
    lam = 2.0 / (np.linalg.norm(m[:, 0]) + np.linalg.norm(m[:, 1]))
    if m[2, 2] * lam < 0:
        lam = -lam
    r1, r2, t = lam * m[:, 0], lam * m[:, 1], lam * m[:, 2]
    u, _, vt = np.linalg.svd(np.column_stack([r1, r2, np.cross(r1, r2)]))
    rot = u @ vt
    if np.linalg.det(rot) < 0:
        rot = u @ np.diag([1, 1, -1]) @ vt
    rvec, _ = cv2.Rodrigues(rot)
    return np.concatenate([rvec.ravel(), t])


class _ProjectionProblem:
    """Residuals (pixels) of the full-projection model: shared focal length, a pose (rvec, t) per shot."""

    def __init__(self, model: DistortionModel, names: Sequence[str], fixed: Mapping[str, float], board: np.ndarray,
                 index: np.ndarray, observed: np.ndarray, k: int, unscale: float):
        self.model, self.names, self.fixed = model, list(names), dict(fixed)
        self.board = np.column_stack([board, np.zeros(board.shape[0])])
        self.index, self.k, self.unscale = index, k, unscale
        self.ox, self.oy = observed[:, 0], observed[:, 1]
        self.m = len(self.names)
        self.g = self.m + 1  # global parameters: the model's and the focal length

    def params(self, x: np.ndarray) -> dict[str, float]:
        p = dict(self.fixed)
        p.update(zip(self.names, (float(v) for v in x[: self.m]), strict=True))
        return p

    def project(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        f = x[self.m]
        poses = x[self.g:].reshape(self.k, 6)
        rot = rodrigues(poses[:, :3])[self.index]
        cam = np.einsum("nij,nj->ni", rot, self.board) + poses[self.index, 3:]
        return f * cam[:, 0] / cam[:, 2], f * cam[:, 1] / cam[:, 2]

    def residuals(self, x: np.ndarray) -> np.ndarray:
        u, v = self.project(x)
        s = np.asarray(self.model.radial_factor(np.hypot(u, v), self.params(x)), dtype=np.float64)
        return np.concatenate([u * s - self.ox, v * s - self.oy]) * self.unscale

    def jacobian(self, x: np.ndarray) -> np.ndarray:
        """Central differences; the per-shot columns of all shots are perturbed together (their rows differ)."""
        n = self.index.shape[0]
        jac = np.zeros((2 * n, x.shape[0]))
        for j in range(self.g):
            h = _STEP * max(1.0, abs(x[j]))
            xp, xm = x.copy(), x.copy()
            xp[j] += h
            xm[j] -= h
            jac[:, j] = (self.residuals(xp) - self.residuals(xm)) / (2 * h)
        rows = np.arange(2 * n)
        shot = np.concatenate([self.index, self.index])
        for j in range(6):
            cols = self.g + 6 * np.arange(self.k) + j
            h = _STEP * np.maximum(1.0, np.abs(x[cols]))
            xp, xm = x.copy(), x.copy()
            xp[cols] += h
            xm[cols] -= h
            jac[rows, self.g + 6 * shot + j] = (self.residuals(xp) - self.residuals(xm)) / (2 * h[shot])
        return jac


def fit_distortion(detections: Sequence[BoardDetection], geometry: geo.FrameGeometry, model: DistortionModel, *,
                   focal: float, fixed: Mapping[str, float] | None = None, pose: str = "projection",
                   rejected: Sequence[BoardRejected] = ()) -> DistortionFit:
    """Fit a radial lensfun distortion model to the corners of several chessboard shots.

    Parameters
    ----------
    detections : sequence of BoardDetection
        Boards found in shots of ``geometry``'s size (one lens, one focal length, one focus).
    geometry : FrameGeometry
        The shooting camera's normalisation (``lens_crop_factor`` = the camera's crop factor).
    model : DistortionModel
        A radial model (``poly3``, ``poly5``, ``ptlens`` or a plugin's).
    focal : float
        Focal length in mm the shots were taken at.
    fixed : mapping, optional
        Parameters held at a value instead of fitted (e.g. ``{"a": 0, "c": 0}``).
    pose : {"projection", "homography"}
        How each shot's board is placed: a pinhole camera shared by all shots
        (one focal length, principal point at the distortion centre, a rotation
        and translation per shot: 6 parameters), or a free homography per shot
        (8 parameters; always the first stage, and the fallback when the poses
        do not determine a focal length).  The shared camera separates
        distortion from perspective better.
    rejected : sequence of BoardRejected
        Shots already rejected by detection, carried into the result.

    Returns
    -------
    DistortionFit

    Raises
    ------
    MountkitError
        No usable shot, a non-radial model, or too few corners.
    """
    if not model.is_radial:
        raise MountkitError(f"distortion model {model.name!r} is not radial; calibration fits radial models "
                            "(poly3, poly5, ptlens)")
    rejected = list(rejected)
    dets = list(detections)
    if not dets:
        reasons = "; ".join(str(r) for r in rejected) or "no shots given"
        raise MountkitError(f"no usable chessboard shot ({reasons})")
    fixed = {k: float(v) for k, v in (fixed or {}).items()}
    unknown = set(fixed) - set(model.params)
    if unknown:
        raise MountkitError(f"{model.name} has no parameter(s) {sorted(unknown)}; it takes {list(model.params)}")
    names = [n for n in model.params if n not in fixed]
    base = {n: float(model.defaults.get(n, 0.0)) for n in model.params}
    base.update(fixed)
    g = geometry
    dropped = {d.name: 0 for d in dets}
    x_prev = None
    for _round in range(3):
        board = np.concatenate([d.board for d in dets])
        index = np.concatenate([np.full(d.count, i) for i, d in enumerate(dets)])
        ox, oy = geo.pixel_to_normalized(g, np.concatenate([d.corners[:, 0] for d in dets]),
                                         np.concatenate([d.corners[:, 1] for d in dets]))
        observed = np.column_stack([ox, oy])
        k = len(dets)
        if 2 * observed.shape[0] <= len(names) + 8 * k:
            raise MountkitError(f"too few corners ({observed.shape[0]}) for a {model.name} fit over {k} shot(s)")
        problem = _Problem(model, names, base, board, index, observed, k, g.norm_unscale)
        if x_prev is None:
            x0 = np.concatenate([[base[n] for n in names]] + [
                initial_homography(d.board, observed[index == i]) for i, d in enumerate(dets)])
        else:
            x0 = x_prev
        x = _solve(problem, x0)
        res = problem.residuals(x)
        n = observed.shape[0]
        err = np.hypot(res[:n], res[n:])
        limit = max(OUTLIER_FACTOR * float(np.median(err)), OUTLIER_MIN_PX)
        keep = err <= limit
        shot_rms = np.array([math.sqrt(float(np.mean(err[(index == i) & keep] ** 2))) if np.any(
            (index == i) & keep) else np.inf for i in range(k)])  # its outlying corners are counted apart
        outlier_share = np.array([float(np.mean(~keep[index == i])) for i in range(k)])
        bad_shots = [i for i in range(k) if k > 2 and (
            shot_rms[i] > max(SHOT_FACTOR * float(np.median(shot_rms)), SHOT_MIN_PX)
            or outlier_share[i] > MAX_OUTLIER_SHARE)]
        if keep.all() and not bad_shots:
            break
        new, kept = [], []
        for i, d in enumerate(dets):
            if i in bad_shots:
                rejected.append(BoardRejected(d.name, f"does not agree with the other shots (residual RMS "
                                              f"{shot_rms[i]:.2f} px against a median of "
                                              f"{float(np.median(shot_rms)):.2f} px, "
                                              f"{100 * outlier_share[i]:.0f} % of its corners off): was the board "
                                              "bent, the lens refocused or zoomed, or the frame cropped?"))
                continue
            mask = keep[index == i]
            dropped[d.name] += int((~mask).sum())
            if mask.sum() < 4:
                rejected.append(BoardRejected(d.name, "too few corners agree with the fit"))
                continue
            new.append(BoardDetection(name=d.name, size=d.size, pattern=d.pattern, corners=d.corners[mask],
                                      board=d.board[mask], square_px=d.square_px, coverage=d.coverage,
                                      edge_width_px=d.edge_width_px, channel_corners=None if d.channel_corners is None
                                      else d.channel_corners[:, mask], downscale=d.downscale))
            kept.append(i)
        if not new:
            raise MountkitError("no shot agrees with the fit: " + "; ".join(str(r) for r in rejected))
        x_prev = np.concatenate([x[: len(names)], _homographies_from(x, len(names), k)[kept].ravel()])
        dets = new
    if pose not in ("projection", "homography"):
        raise MountkitError(f"pose must be 'projection' or 'homography', got {pose!r}")
    used = "homography"
    if pose == "projection":
        hom = _homographies_from(x, len(names), len(dets))
        f0 = focal_from_homographies(hom)
        if f0 is not None:
            proj = _ProjectionProblem(model, names, base, board, index, observed, len(dets), g.norm_unscale)
            x0 = np.concatenate([x[: len(names)], [f0]] + [pose_from_homography(h8, f0) for h8 in hom])
            xp = _solve(proj, x0)
            res_p = proj.residuals(xp)
            if np.all(np.isfinite(res_p)):
                problem, x, res, used = proj, xp, res_p, "projection"
    params = problem.params(x)
    n = observed.shape[0]
    resid = np.column_stack([res[:n], res[n:]])
    err = np.hypot(resid[:, 0], resid[:, 1])
    shots = tuple(ShotResidual(d.name, int((index == i).sum()), math.sqrt(float(np.mean(err[index == i] ** 2))),
                               float(err[index == i].max()), dropped.get(d.name, 0)) for i, d in enumerate(dets))
    return DistortionFit(
        model=model.name, params={k_: params[k_] for k_ in model.params}, focal=float(focal),
        crop_factor=g.crop_factor, aspect_ratio=g.aspect_ratio, size=(g.width, g.height),
        rms_px=math.sqrt(float(np.mean(err ** 2))), max_px=float(err.max()), shots=shots, rejected=tuple(rejected),
        points=np.column_stack(geo.normalized_to_pixel(g, observed[:, 0], observed[:, 1])), residuals=resid,
        shot_index=index, pose=used, poses=x[len(names) + (1 if used == "projection" else 0):].reshape(
            len(dets), -1).copy(), camera_focal=float(x[len(names)]) if used == "projection" else None,
        radius_covered=float(np.hypot(observed[:, 0], observed[:, 1]).max()), corner_radius=g.corner_radius)


def calibration_geometry(width: int, height: int, crop_factor: float, aspect_ratio: float) -> geo.FrameGeometry:
    """The normalisation of the shooting camera used as calibration sensor (lens crop = camera crop)."""
    return geo.FrameGeometry(width, height, crop_factor=crop_factor, lens_crop_factor=crop_factor,
                             aspect_ratio=aspect_ratio)


def centre_magnification(model: DistortionModel, params: Mapping[str, float]) -> float:
    """s(0): the magnification of the model at the centre (d = 1 - a - b - c for ptlens, 1 for poly5)."""
    return float(np.asarray(model.radial_factor(np.array([0.0]), dict(params)))[0])


def radial_curve_px(model: DistortionModel, params: Mapping[str, float], geometry: geo.FrameGeometry,
                    rho_px: np.ndarray) -> np.ndarray:
    """Captured radius (px) of a perfect-image radius ``rho_px`` in the centre-magnification-1 frame.

    The perfect image is rescaled so that the centre is not magnified (``calibration.md`` §7.5), which
    makes models with different conventions (and OpenCV's) comparable as curves.
    """
    d = centre_magnification(model, params)
    r = np.asarray(rho_px, dtype=np.float64) * geometry.norm_scale / d
    return r * np.asarray(model.radial_factor(r, dict(params))) * geometry.norm_unscale
