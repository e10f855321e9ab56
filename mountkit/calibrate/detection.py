"""Chessboard detection for calibration: OpenCV's ``findChessboardCornersSB``, checks, and sub-pixel refinement.

A shot is accepted only when a whole board is found, sharp enough and large
enough to locate its corners well; otherwise it is rejected with a reason a
photographer can act on (:class:`BoardRejected`).

Large frames (the 1-inch sensor's 8192 x 6144) are searched on a downscaled
copy (:data:`DETECT_MAX_SIDE` pixels on the long side; larger copies when the
board is not found there) and the corners are then refined on the
full-resolution frame with ``cornerSubPix``; small frames are searched at full
size and refined the same way.  Corners are refined on the green plane of
colour frames, the reference of lensfun's distortion and TCA models.

Pixel convention: pixel centres at integer (column, row) positions, as in
:mod:`mountkit.geometry`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from ..errors import FrameError, MountkitError
from .frames import as_planes, grey, to_uint8

#: Frames whose long side exceeds this are searched on a downscaled copy first (then at twice
#: the size, then at full size, when the board is not found).
DETECT_MAX_SIDE = 1024
#: Smallest median square side (px) accepted: smaller squares cannot be located well.
MIN_SQUARE_PX = 8.0
#: Smallest share of the frame the board's corners must span (convex hull area / frame area).
MIN_COVERAGE = 0.01
#: Largest edge width (10-90 % rise, OpenCV's ``estimateChessboardSharpness``) relative to the square side.
MAX_EDGE_WIDTH_RATIO = 0.3
#: Smallest board accepted when its size is detected (inner corners per side).
MIN_BOARD = 3


class BoardRejected(MountkitError):
    """A calibration shot cannot be used; ``reason`` says why in the photographer's terms."""

    def __init__(self, name: str, reason: str):
        self.name = name
        self.reason = reason
        super().__init__(f"{name}: {reason}" if name else reason)


@dataclass(frozen=True)
class BoardDetection:
    """A chessboard found in one shot.

    Attributes
    ----------
    name : str
        The shot (file name or label).
    size : (int, int)
        Frame (width, height) in pixels.
    pattern : (int, int)
        Inner corners (columns, rows) of the board as detected.
    corners : ndarray (N, 2) float64
        Corner positions (column, row) in pixels of the full-resolution frame.
    board : ndarray (N, 2) float64
        The same corners on the board, in squares (integer grid).
    square_px : float
        Median side of a square in pixels.
    coverage : float
        Share of the frame spanned by the corners (convex hull area / frame area).
    edge_width_px : float
        Mean 10-90 % edge rise width at the corners (OpenCV's sharpness measure), in pixels.
    channel_corners : ndarray (3, N, 2) or None
        Corners refined separately on the red, green and blue planes (for TCA), when asked for.
    downscale : float
        Factor the frame was reduced by for the search (1 when searched at full size).
    """

    name: str
    size: tuple[int, int]
    pattern: tuple[int, int]
    corners: np.ndarray
    board: np.ndarray
    square_px: float
    coverage: float
    edge_width_px: float
    channel_corners: np.ndarray | None = None
    downscale: float = 1.0
    notes: tuple[str, ...] = field(default=())

    @property
    def count(self) -> int:
        return int(self.corners.shape[0])


def parse_pattern(text: str | Sequence[int] | None) -> tuple[int, int] | None:
    """``"9x6"`` or ``(9, 6)`` -> (9, 6) inner corners (columns, rows); None stays None."""
    if text is None:
        return None
    if isinstance(text, str):
        parts = text.lower().replace("*", "x").split("x")
        try:
            cols, rows = (int(p) for p in parts)
        except ValueError:
            raise MountkitError(f"board size {text!r}: expected COLSxROWS inner corners, e.g. 9x6") from None
    else:
        cols, rows = (int(v) for v in text)
    if cols < MIN_BOARD or rows < MIN_BOARD:
        raise MountkitError(f"board size {cols}x{rows}: a board needs at least {MIN_BOARD}x{MIN_BOARD} inner corners "
                            "(count the corners where four squares meet, not the squares)")
    return cols, rows


def _cv2():
    try:
        import cv2
    except ImportError as exc:  # pragma: no cover - a dependency of mountkit
        raise MountkitError("chessboard detection needs OpenCV: pip install opencv-python-headless") from exc
    return cv2


def median_square(corners: np.ndarray, pattern: tuple[int, int]) -> float:
    """Median distance (px) between neighbouring corners of a (rows x cols) row-major corner grid."""
    cols, rows = pattern
    grid = corners.reshape(rows, cols, 2)
    d = np.concatenate([np.linalg.norm(np.diff(grid, axis=1), axis=2).ravel(),
                        np.linalg.norm(np.diff(grid, axis=0), axis=2).ravel()])
    return float(np.median(d))


def hull_coverage(corners: np.ndarray, width: int, height: int) -> float:
    """Convex hull area of the corners over the frame area."""
    cv2 = _cv2()
    hull = cv2.convexHull(corners.astype(np.float32))
    return float(cv2.contourArea(hull)) / float(width * height)


def subpix_window(square_px: float) -> int:
    """Half-size of the ``cornerSubPix`` search window for squares of ``square_px`` pixels.

    A quarter of the square (OpenCV's regression test uses 5 for the 19-61 px squares
    of its samples; larger windows reach into the neighbouring corners and bias them).
    """
    return int(min(max(round(square_px / 4.0), 2), 40))


def refine_corners(plane: np.ndarray, corners: np.ndarray, square_px: float) -> np.ndarray:
    """Refine corner positions on one full-resolution plane: ``cornerSubPix``, then :func:`refine_corners_symmetric`.

    Returns (N, 2) float64; the input is not modified.
    """
    corners = np.asarray(corners, dtype=np.float64)
    if corners.size == 0:
        return corners.copy()
    # work on the board's region only (large frames)
    h, w = plane.shape[:2]
    pad = 2 * subpix_window(square_px) + 24
    x0 = int(max(0, np.floor(corners[:, 0].min()) - pad))
    x1 = int(min(w, np.ceil(corners[:, 0].max()) + pad + 1))
    y0 = int(max(0, np.floor(corners[:, 1].min()) - pad))
    y1 = int(min(h, np.ceil(corners[:, 1].max()) + pad + 1))
    region = np.ascontiguousarray(plane[y0:y1, x0:x1], dtype=np.float32)
    local = corners - (x0, y0)
    return refine_corners_symmetric(region, subpix_corners(region, local, square_px), square_px) + (x0, y0)


def subpix_corners(plane: np.ndarray, corners: np.ndarray, square_px: float) -> np.ndarray:
    """OpenCV's ``cornerSubPix`` on one float plane (window from :func:`subpix_window`), (N, 2) float64."""
    cv2 = _cv2()
    win = subpix_window(square_px)
    img = np.ascontiguousarray(plane, dtype=np.float32)
    pts = np.ascontiguousarray(corners, dtype=np.float32).reshape(-1, 1, 2).copy()
    criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_COUNT, 60, 1e-4)
    cv2.cornerSubPix(img, pts, (win, win), (-1, -1), criteria)
    return pts.reshape(-1, 2).astype(np.float64)


def _bspline_weights(t: np.ndarray):
    """Cubic B-spline weights and their derivatives for taps floor(t)-1 .. floor(t)+2."""
    i = np.floor(t)
    f = t - i
    f2, f3 = f * f, f * f * f
    w = np.stack([(1 - f) ** 3 / 6, (3 * f3 - 6 * f2 + 4) / 6, (-3 * f3 + 3 * f2 + 3 * f + 1) / 6, f3 / 6])
    dw = np.stack([-((1 - f) ** 2) / 2, (3 * f2 - 4 * f) / 2, (-3 * f2 + 2 * f + 1) / 2, f2 / 2])
    return i.astype(np.intp), w, dw


def _sample(coef: np.ndarray, k: np.ndarray, y: np.ndarray, x: np.ndarray):
    """Value and gradient (d/dx, d/dy) of per-patch cubic splines at (y, x); ``k`` indexes the patch."""
    iy, wy, dwy = _bspline_weights(y)
    ix, wx, dwx = _bspline_weights(x)
    val = np.zeros(x.shape)
    gx = np.zeros(x.shape)
    gy = np.zeros(x.shape)
    for a in range(4):
        rows = iy + (a - 1)
        for b in range(4):
            c = coef[k, rows, ix + (b - 1)]
            val += wy[a] * wx[b] * c
            gx += wy[a] * dwx[b] * c
            gy += dwy[a] * wx[b] * c
    return val, gx, gy


def refine_corners_symmetric(plane: np.ndarray, corners: np.ndarray, square_px: float, *,
                             iterations: int = 8) -> np.ndarray:
    """Refine corners to the centre of point symmetry of the image around them.

    A chessboard corner seen through any symmetric blur is point-symmetric:
    ``I(c + v) = I(c - v)`` (opposite squares share a colour).  This finds c
    minimising the sum of ``(I(c + v) - I(c - v))^2`` over a disc of offsets
    (radius a third of the square, Gaussian-weighted) by Gauss-Newton, with the
    image interpolated by cubic splines.  Unlike ``cornerSubPix``, whose result
    depends on where the corner falls between pixel centres (about 0.03 px on
    sharp synthetic corners), this has no such bias.  Corners whose refinement
    moves more than 1.5 px keep their input position.

    Returns (N, 2) float64 (column, row).
    """
    from scipy.ndimage import spline_filter1d

    corners = np.asarray(corners, dtype=np.float64)
    n = corners.shape[0]
    if n == 0:
        return corners.copy()
    radius = int(min(max(round(square_px / 3.0), 3), 14))
    half = radius + 4
    h, w = plane.shape[:2]
    cen = np.rint(corners).astype(np.intp)
    oy, ox = np.mgrid[-half:half + 1, -half:half + 1]
    rows = np.clip(cen[:, 1, None, None] + oy[None], 0, h - 1)
    cols = np.clip(cen[:, 0, None, None] + ox[None], 0, w - 1)
    patches = np.asarray(plane[rows, cols], dtype=np.float64)
    coef = spline_filter1d(spline_filter1d(patches, 3, axis=1, mode="mirror"), 3, axis=2, mode="mirror")
    # offsets: a half disc (v and -v give the same term)
    vy, vx = np.mgrid[-radius:radius + 1, -radius:radius + 1]
    keep = (vx * vx + vy * vy <= radius * radius) & ((vy > 0) | ((vy == 0) & (vx > 0)))
    vx, vy = vx[keep].astype(np.float64), vy[keep].astype(np.float64)
    wgt = np.exp(-(vx * vx + vy * vy) / (2.0 * (0.5 * radius) ** 2))
    c = corners - cen + half  # position inside the patch
    kk = np.arange(n)[:, None]
    active = np.ones(n, dtype=bool)
    for _ in range(iterations):
        cx, cy = c[:, 0:1], c[:, 1:2]
        v1, gx1, gy1 = _sample(coef, kk, cy + vy, cx + vx)
        v2, gx2, gy2 = _sample(coef, kk, cy - vy, cx - vx)
        r = v1 - v2
        jx, jy = gx1 - gx2, gy1 - gy2
        a11 = (wgt * jx * jx).sum(1)
        a12 = (wgt * jx * jy).sum(1)
        a22 = (wgt * jy * jy).sum(1)
        b1 = (wgt * jx * r).sum(1)
        b2 = (wgt * jy * r).sum(1)
        det = a11 * a22 - a12 * a12
        ok = det > 1e-12 * np.maximum(a11 * a22, 1e-300)
        with np.errstate(divide="ignore", invalid="ignore"):
            dx = np.where(ok, -(a22 * b1 - a12 * b2) / det, 0.0)
            dy = np.where(ok, -(-a12 * b1 + a11 * b2) / det, 0.0)
        step = np.column_stack([dx, dy])
        step[~active] = 0.0
        c = c + step
        moved = np.hypot(*(c - (corners - cen + half)).T)
        active &= ok & (moved <= 1.5)
        if np.all(np.hypot(dx, dy)[active] < 1e-5):
            break
    out = c + cen - half
    out[~active] = corners[~active]
    return out


#: Outer rows or columns of an automatically sized board whose corners' asymmetry exceeds this are dropped.
MAX_ASYMMETRY = 0.25


def corner_asymmetry(plane: np.ndarray, corners: np.ndarray, square_px: float) -> np.ndarray:
    """How far each corner is from point symmetry: 0 for a chessboard X-corner, about 1 for a T-junction.

    ``sum (I(c + v) - I(c - v))^2 / sum ((I(c + v) - m)^2 + (I(c - v) - m)^2)`` over a disc of
    offsets (bilinear samples), m the mean over the disc.
    """
    from scipy.ndimage import map_coordinates

    radius = max(2.0, 0.3 * square_px)
    vy, vx = np.mgrid[-4:5, -4:5] * (radius / 4.0)
    keep = (vx * vx + vy * vy <= radius * radius) & ((vy > 0) | ((vy == 0) & (vx > 0)))
    vx, vy = vx[keep], vy[keep]
    cx, cy = corners[:, 0:1], corners[:, 1:2]
    a = map_coordinates(plane, [cy + vy, cx + vx], order=1, mode="nearest")
    b = map_coordinates(plane, [cy - vy, cx - vx], order=1, mode="nearest")
    m = 0.5 * (a.mean(1, keepdims=True) + b.mean(1, keepdims=True))
    den = ((a - m) ** 2 + (b - m) ** 2).sum(1)
    return ((a - b) ** 2).sum(1) / np.maximum(den, 1e-12)


def trim_grid(plane: np.ndarray, corners: np.ndarray, pattern: tuple[int, int]):
    """Drop outer rows and columns of a detected corner grid that are not chessboard corners.

    OpenCV's search for a board of unknown size (``CALIB_CB_LARGER``) can
    extend the grid onto the board's edge when a narrow white border meets a
    darker background; those "corners" are T-junctions, not X-corners.
    Returns (corners, pattern).
    """
    cols, rows = pattern
    grid = corners.reshape(rows, cols, 2)
    score = corner_asymmetry(plane, corners, median_square(corners, pattern)).reshape(rows, cols)
    while True:
        r, c = grid.shape[:2]
        sides = {"top": np.median(score[0]), "bottom": np.median(score[-1]),
                 "left": np.median(score[:, 0]), "right": np.median(score[:, -1])}
        side = max(sides, key=sides.get)
        if sides[side] <= MAX_ASYMMETRY:
            break
        if side in ("top", "bottom") and r > MIN_BOARD:
            sl = (slice(1, None) if side == "top" else slice(None, -1), slice(None))
        elif side in ("left", "right") and c > MIN_BOARD:
            sl = (slice(None), slice(1, None) if side == "left" else slice(None, -1))
        else:
            break
        grid, score = grid[sl], score[sl]
    return grid.reshape(-1, 2), (grid.shape[1], grid.shape[0])


def _find(cv2, u8: np.ndarray, pattern: tuple[int, int] | None):
    # CALIB_CB_ACCURACY is left out: it costs 3-4x the time and the cornerSubPix step that follows
    # (on the full-resolution float frame) is as accurate on its own
    flags = cv2.CALIB_CB_NORMALIZE_IMAGE
    if pattern is not None:
        ok, corners = cv2.findChessboardCornersSB(u8, pattern, flags=flags)
        if not ok:
            ok, corners = cv2.findChessboardCornersSB(u8, pattern, flags=flags | cv2.CALIB_CB_EXHAUSTIVE)
        return (corners.reshape(-1, 2).astype(np.float64), pattern) if ok else (None, pattern)
    # the exhaustive search finds the whole board; without it LARGER often stops at a part of it
    ok, corners, meta = cv2.findChessboardCornersSBWithMeta(
        u8, (MIN_BOARD, MIN_BOARD), flags=flags | cv2.CALIB_CB_LARGER | cv2.CALIB_CB_EXHAUSTIVE)
    if not ok:
        return None, None
    rows, cols = meta.shape[:2]
    return corners.reshape(-1, 2).astype(np.float64), (int(cols), int(rows))


def detect_board(image: np.ndarray, pattern: tuple[int, int] | None = None, *, name: str = "",
                 per_channel: bool = False, max_side: int = DETECT_MAX_SIDE) -> BoardDetection:
    """Find a chessboard in one shot and locate its inner corners to a fraction of a pixel.

    Parameters
    ----------
    image : ndarray, (H, W) or (H, W, 3)
        The shot, any integer or float type; its tone curve does not matter.
    pattern : (int, int) or None
        Inner corners (columns, rows); None detects the board's size.
    name : str
        The shot's name, for messages.
    per_channel : bool
        Also refine the corners on the red, green and blue planes separately
        (``channel_corners``; needs an RGB frame).
    max_side : int
        Frames with a longer side are searched on a copy downscaled to it.

    Raises
    ------
    BoardRejected
        No board found, the board blurred, too small, or not a colour frame when ``per_channel``.
    """
    cv2 = _cv2()
    what = name or "shot"
    planes = as_planes(image, what=what)
    h, w = planes.shape[:2]
    if per_channel and planes.shape[2] != 3:
        raise BoardRejected(name, "TCA needs colour (RGB) frames; this one is greyscale")
    full = grey(planes, what=what)
    found = None
    side = max_side
    while found is None:
        factor = max(w, h) / float(side)
        if factor > 1.05:
            small = cv2.resize(full, (round(w / factor), round(h / factor)), interpolation=cv2.INTER_AREA)
            fx, fy = w / small.shape[1], h / small.shape[0]
        else:
            small, fx, fy = full, 1.0, 1.0
        u8 = to_uint8(small)
        found, pat = _find(cv2, u8, pattern)
        if factor <= 1.05 or side >= 2 * max_side:
            break
        side *= 2
    if found is None:
        advice = "the whole board must be in the frame, evenly lit, with a white border around it"
        if pattern is None:
            raise BoardRejected(name, f"no chessboard found: {advice}")
        raise BoardRejected(name, f"no {pattern[0]}x{pattern[1]} chessboard found: {advice}; check the board "
                            "size (inner corners, columns x rows)")
    small_corners = found
    if pattern is None:
        small_corners, pat = trim_grid(small.astype(np.float64), small_corners, pat)
    sharp = cv2.estimateChessboardSharpness(u8, pat, small_corners.astype(np.float32).reshape(-1, 1, 2))
    edge_small = float(sharp[0][0])
    corners = np.column_stack([(small_corners[:, 0] + 0.5) * fx - 0.5, (small_corners[:, 1] + 0.5) * fy - 0.5])
    square = median_square(corners, pat)
    edge = edge_small * math.sqrt(fx * fy)
    coverage = hull_coverage(corners, w, h)
    if square < MIN_SQUARE_PX:
        raise BoardRejected(name, f"board too small: its squares are {square:.1f} px wide; fill more of the "
                            f"frame (squares of at least {MIN_SQUARE_PX:g} px, better 20 or more)")
    if coverage < MIN_COVERAGE:
        raise BoardRejected(name, f"board too small: it covers {100 * coverage:.1f} % of the frame; "
                            f"move closer (at least {100 * MIN_COVERAGE:g} %)")
    if not math.isfinite(edge) or edge > MAX_EDGE_WIDTH_RATIO * square:
        raise BoardRejected(name, f"board blurred: its edges are {edge:.1f} px wide for {square:.0f} px squares "
                            f"(at most {MAX_EDGE_WIDTH_RATIO * 100:.0f} %); focus on the board, use a faster "
                            "shutter speed or a tripod")
    channel_corners = None
    if per_channel:
        channel_corners = np.stack([refine_corners(planes[:, :, c], corners, square) for c in range(3)])
        corners = channel_corners[1]
    elif planes.shape[2] == 3:
        corners = refine_corners(planes[:, :, 1], corners, square)
    else:
        corners = refine_corners(full, corners, square)
    cols, rows = pat
    jj, ii = np.mgrid[0:rows, 0:cols]
    board = np.column_stack([ii.ravel(), jj.ravel()]).astype(np.float64)
    return BoardDetection(name=name, size=(w, h), pattern=pat, corners=corners, board=board, square_px=square,
                          coverage=coverage, edge_width_px=edge, channel_corners=channel_corners,
                          downscale=float(max(fx, fy)))


@dataclass(frozen=True)
class Shot:
    """A calibration shot to load lazily: a name and a function returning its pixels."""

    name: str
    load: Callable[[], np.ndarray]


def detect_boards(shots: Iterable[Shot], pattern: tuple[int, int] | None = None, *, per_channel: bool = False,
                  workers: int = 1, max_side: int = DETECT_MAX_SIDE
                  ) -> tuple[list[BoardDetection], list[BoardRejected]]:
    """Detect boards in many shots, loading each only when it is processed.

    With ``workers`` > 1, shots are processed in that many threads (OpenCV
    releases the GIL), so at most ``workers`` frames are in memory at once.
    All shots must have the same size; a shot of another size is rejected.
    Without ``pattern``, the board's size is detected in the first shot
    where a board is found and then required in the others.

    Returns
    -------
    (detections, rejections)
        in the order of ``shots``.
    """
    shots = list(shots)

    def one(shot: Shot):
        try:
            image = shot.load()
            return detect_board(image, pattern, name=shot.name, per_channel=per_channel, max_side=max_side)
        except BoardRejected as exc:
            return exc
        except FrameError as exc:
            return BoardRejected(shot.name, f"cannot be read: {exc}")

    results: list = []
    while pattern is None and len(results) < len(shots):
        r = one(shots[len(results)])
        results.append(r)
        if isinstance(r, BoardDetection):
            pattern = r.pattern
    rest = shots[len(results):]
    if workers > 1 and len(rest) > 1:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            results += list(pool.map(one, rest))
    else:
        results += [one(s) for s in rest]
    found = [r for r in results if isinstance(r, BoardDetection)]
    rejected = [r for r in results if isinstance(r, BoardRejected)]
    if found:
        sizes = {}
        for d in found:
            sizes.setdefault(d.size, []).append(d)
        main = max(sizes, key=lambda s: len(sizes[s]))
        for d in found:
            if d.size != main:
                rejected.append(BoardRejected(d.name, f"frame is {d.size[0]}x{d.size[1]} but the other shots are "
                                              f"{main[0]}x{main[1]}: calibrate one frame size at a time"))
        found = [d for d in found if d.size == main]
    return found, rejected
