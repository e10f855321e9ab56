"""Synthetic calibration shots rendered through a known lens: the ground truth for tests and benchmarks.

A chessboard is rendered analytically (box-filtered edges, no aliasing) in
the *perfect* frame and seen through a lens by sampling it where the lens
simulation map says each captured pixel comes from -- the engine's distorting
direction, ``Corrector(reverse=True)`` -- then blurred and given noise.
Flat fields are the engine's simulated falloff times an optional per-channel
shading.  Nothing here is used by the fitters themselves.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from .. import geometry as geo

#: (xs, ys, channel) -> (columns, rows) in the perfect frame, for captured pixel positions.
Mapper = Callable[[np.ndarray, np.ndarray, int], tuple[np.ndarray, np.ndarray]]

#: Rows rendered at a time (bounds memory on large frames).
BLOCK_ROWS = 512


def engine_mapper(corrector) -> Mapper:
    """The simulation map of a ``Corrector(reverse=True)``: captured pixel -> perfect-frame pixel, per channel."""
    if not corrector.reverse:
        raise ValueError("engine_mapper needs a Corrector made with reverse=True (the lens's distorting direction)")
    return corrector.channel_points


def cached_mapper(mapper: Mapper, width: int, height: int, channels=(0, 1, 2)) -> Mapper:
    """A mapper evaluated once for every pixel of a frame (one row beyond each edge) and then looked up.

    The simulation map depends on the lens only, so every shot of one lens can
    share it; it answers the whole-row queries :func:`render_board` makes.
    """
    xs = np.arange(width, dtype=np.float64)[None, :]
    cache: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def get(c: int):
        if c not in cache:
            ys = np.arange(-1, height + 1, dtype=np.float64)[:, None]
            mx, my = mapper(xs, ys, c)
            cache[c] = np.broadcast_arrays(np.asarray(mx), np.asarray(my))
        return cache[c]

    for c in channels:
        get(c)

    def lookup(qx, qy, channel: int = 1):
        qx = np.asarray(qx)
        qy = np.asarray(qy)
        if qx.ndim == 2 and qx.shape[0] == 1 and qy.ndim == 2 and qy.shape[1] == 1:
            rows = qy[:, 0].astype(np.intp) + 1
            cols = qx[0].astype(np.intp)
            if (np.all(rows >= 0) and np.all(rows < height + 2) and np.all(qy[:, 0] == rows - 1)
                    and np.all(cols >= 0) and np.all(cols < width) and np.all(qx[0] == cols)):
                mx, my = get(channel)
                return mx[rows][:, cols], my[rows][:, cols]
        return mapper(qx, qy, channel)

    return lookup


def radial_lut_mapper(g: geo.FrameGeometry, distortion: geo.ModelTerms, *, samples: int = 200001) -> Mapper:
    """A fast simulation map for radial distortion (green only): the inverse radius from a dense table.

    Equivalent to the engine's Newton inverse to about 1e-9 of the radius; used
    to render full-resolution frames in benchmarks quickly.
    """
    r_hi = 1.5 * g.corner_radius + 0.5
    ru = np.linspace(0.0, r_hi, samples)
    rd = ru * np.asarray(distortion.model.radial_factor(ru, distortion.params), dtype=np.float64)
    inc = np.concatenate([[True], np.diff(rd) > 0])
    stop = int(np.argmin(inc)) if not inc.all() else samples
    ru, rd = ru[:stop], rd[:stop]

    def mapper(xs, ys, channel: int = 1):
        x, y = geo.pixel_to_normalized(g, xs, ys)
        x, y = np.broadcast_arrays(x, y)
        r = np.hypot(x, y)
        u = np.interp(r, rd, ru, right=np.nan)
        with np.errstate(invalid="ignore", divide="ignore"):
            k = np.where(r > 0, u / r, 1.0)
        return geo.normalized_to_pixel(g, x * k, y * k)

    return mapper


def _stripes(t: np.ndarray, width: np.ndarray) -> np.ndarray:
    """Box-filtered square wave of period 2 (+1 on [0, 1), -1 on [1, 2)) over a footprint ``width``."""
    frac = t - np.floor(t)
    sign = np.where(np.floor(t) % 2 == 0, 1.0, -1.0)
    dist = np.minimum(frac, 1.0 - frac) * sign
    return np.clip(dist / np.maximum(0.5 * width, 1e-6), -1.0, 1.0)


def _step(t: np.ndarray, edge: float, width: np.ndarray) -> np.ndarray:
    """Box-filtered indicator of ``t < edge`` (1 inside, 0 outside)."""
    return np.clip(0.5 + (edge - t) / np.maximum(width, 1e-6), 0.0, 1.0)


def chart_values(bx: np.ndarray, by: np.ndarray, wx: np.ndarray, wy: np.ndarray, pattern: tuple[int, int], *,
                 low: float = 0.08, high: float = 0.92, background: float = 0.45) -> np.ndarray:
    """A chessboard on board coordinates (squares; inner corners at integer (i, j), 0 <= i < cols, 0 <= j < rows).

    Squares span [-1, cols] x [-1, rows]; a white margin one square wide
    surrounds them, then ``background``.  ``wx``, ``wy`` are each pixel's
    footprint in board units, over which edges are box-filtered.
    """
    cols, rows = pattern
    checker = _stripes(bx, wx) * _stripes(by, wy)  # +1 where floor(bx)+floor(by) is even
    squares = 0.5 * (high + low) - 0.5 * (high - low) * checker
    inside = (_step(-bx, 1.0, wx) * _step(bx, cols, wx) * _step(-by, 1.0, wy) * _step(by, rows, wy))
    margin = (_step(-bx, 2.0, wx) * _step(bx, cols + 1.0, wx) * _step(-by, 2.0, wy) * _step(by, rows + 1.0, wy))
    return background + margin * (high - background) + inside * (squares - high)


def board_to_pixel(h: np.ndarray, bx, by) -> tuple[np.ndarray, np.ndarray]:
    """Apply a homography (board -> perfect-frame pixels) to board coordinates."""
    bx = np.asarray(bx, dtype=np.float64)
    by = np.asarray(by, dtype=np.float64)
    w = h[2, 0] * bx + h[2, 1] * by + h[2, 2]
    return (h[0, 0] * bx + h[0, 1] * by + h[0, 2]) / w, (h[1, 0] * bx + h[1, 1] * by + h[1, 2]) / w


def render_board(width: int, height: int, homography: np.ndarray, pattern: tuple[int, int], mapper: Mapper, *,
                 channels: int = 1, blur_px: float = 0.7, noise: float = 0.005, rng: np.random.Generator | None = None,
                 low: float = 0.08, high: float = 0.92, channel_levels=(0.9, 1.0, 0.8)) -> np.ndarray:
    """A chessboard shot seen through a lens: float32 (H, W) or (H, W, 3) in [0, 1].

    Parameters
    ----------
    homography : (3, 3) array
        Board coordinates (squares) -> perfect-frame pixels.
    mapper : callable
        Captured pixel -> perfect-frame pixel, per channel (:func:`engine_mapper`).
    channels : 1 or 3
        Grey (green map) or RGB (each channel through its own map: TCA).
    blur_px : float
        Gaussian blur sigma in pixels, after sampling (lens and sensor blur).
    noise : float
        Standard deviation of additive Gaussian noise.
    channel_levels : 3 floats
        Brightness of R, G, B (raw colour channels differ).
    """
    rng = rng if rng is not None else np.random.default_rng(0)
    hinv = np.linalg.inv(homography)
    chans = (1,) if channels == 1 else (0, 1, 2)
    levels = [1.0] if channels == 1 else [channel_levels[c] for c in chans]
    background = 0.45
    out = np.empty((height, width, channels), dtype=np.float32)
    out[...] = np.asarray(levels, dtype=np.float32) * background
    # only the board's region is evaluated: find it on a coarse grid
    step = 16
    gx = np.unique(np.r_[np.arange(0, width, step), width - 1]).astype(np.float64)
    gy = np.unique(np.r_[np.arange(0, height, step), height - 1]).astype(np.float64)
    cols, rows = pattern
    near = np.zeros((gy.size, gx.size), dtype=bool)
    for c in chans:
        qx, qy = mapper(gx[None, :], gy[:, None], c)
        bx, by = board_to_pixel(hinv, *np.broadcast_arrays(qx, qy))
        near |= (bx > -3.5) & (bx < cols + 2.5) & (by > -3.5) & (by < rows + 2.5)
    if not near.any():
        return _finish(out, channels, blur_px, noise, rng)
    r0 = max(0, int(gy[near.any(axis=1)].min()) - 2 * step)
    r1 = min(height, int(gy[near.any(axis=1)].max()) + 2 * step + 1)
    c0 = max(0, int(gx[near.any(axis=0)].min()) - 2 * step)
    c1 = min(width, int(gx[near.any(axis=0)].max()) + 2 * step + 1)
    xs = np.arange(c0, c1, dtype=np.float64)[None, :]
    for a in range(r0, r1, BLOCK_ROWS):
        b = min(r1, a + BLOCK_ROWS)
        ys = np.arange(a - 1, b + 1, dtype=np.float64)[:, None]  # one extra row each side for the footprint
        for k, c in enumerate(chans):
            qx, qy = mapper(xs, ys, c)
            qx, qy = np.broadcast_arrays(qx, qy)
            bx, by = board_to_pixel(hinv, qx, qy)
            bx = np.where(np.isfinite(bx), bx, -1e6)
            by = np.where(np.isfinite(by), by, -1e6)
            gx_r, gx_c = np.gradient(bx)
            gy_r, gy_c = np.gradient(by)
            wx = np.abs(gx_r) + np.abs(gx_c)
            wy = np.abs(gy_r) + np.abs(gy_c)
            vals = chart_values(bx, by, wx, wy, pattern, low=low, high=high, background=background)[1:-1]
            out[a:b, c0:c1, k] = vals * levels[k]
    return _finish(out, channels, blur_px, noise, rng)


def _finish(out: np.ndarray, channels: int, blur_px: float, noise: float, rng: np.random.Generator) -> np.ndarray:
    """Blur, noise and clipping of a rendered (H, W, C) float32 frame, in place."""
    import cv2

    height, width = out.shape[:2]
    for k in range(channels):
        plane = np.ascontiguousarray(out[:, :, k])
        if blur_px > 0:
            cv2.GaussianBlur(plane, (0, 0), blur_px, dst=plane, borderType=cv2.BORDER_REPLICATE)
        if noise > 0:
            for a in range(0, height, BLOCK_ROWS):
                b = min(height, a + BLOCK_ROWS)
                plane[a:b] += np.float32(noise) * rng.standard_normal((b - a, width), dtype=np.float32)
        np.clip(plane, 0.0, 1.0, out=plane)
        out[:, :, k] = plane
    return out[:, :, 0] if channels == 1 else out


def rotation(rx: float, ry: float, rz: float) -> np.ndarray:
    """Rotation matrix R = Rz Ry Rx (radians)."""
    cx, sx, cy, sy, cz, sz = math.cos(rx), math.sin(rx), math.cos(ry), math.sin(ry), math.cos(rz), math.sin(rz)
    rot_x = np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
    rot_y = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    rot_z = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
    return rot_z @ rot_y @ rot_x


def board_homographies(width: int, height: int, pattern: tuple[int, int], n: int, *,
                       rng: np.random.Generator | None = None, board_fraction: float = 0.42, tilt: float = 0.35,
                       focal_px: float | None = None, mapper: Mapper | None = None,
                       inside: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None) -> list[np.ndarray]:
    """Board poses covering the whole frame, seen by one pinhole camera: homographies board -> perfect-frame pixels.

    The camera has focal length ``focal_px`` (default: the frame's long side)
    and its principal point at the frame centre; the board is tilted by up
    to ``tilt`` radians about both axes and rolled a little.  The first nine
    poses push the board against the frame's corners, edges and centre, the
    next four put a smaller, less tilted board deep in each corner; the rest
    are random.

    ``mapper`` (the lens's simulation map) gives the region of the perfect
    frame the captured frame sees; ``inside(columns, rows)`` (perfect-frame
    positions -> bool, see :func:`inside_check`) says whether a pose's white
    margin lands on the captured frame.  Without them the frame itself is used.
    """
    rng = rng if rng is not None else np.random.default_rng(1)
    cols, rows = pattern
    f = float(focal_px if focal_px is not None else max(width, height))
    k_mat = np.array([[f, 0, (width - 1) / 2.0], [0, f, (height - 1) / 2.0], [0, 0, 1]])
    if mapper is not None:
        bi, bj = geo.boundary_pixels(width, height)
        qx, qy = mapper(bi, bj, 1)
        x0, x1, y0, y1 = np.nanmin(qx), np.nanmax(qx), np.nanmin(qy), np.nanmax(qy)
    else:
        x0, x1, y0, y1 = 0.0, width - 1.0, 0.0, height - 1.0
    if inside is None:
        def inside(px, py):
            return (px >= 1) & (px <= width - 2) & (py >= 1) & (py <= height - 2)
    bw, bh = cols + 3.0, rows + 3.0  # the board with its margin spans [-2, cols + 1] x [-2, rows + 1]
    centre = np.array([(cols - 1) / 2.0, (rows - 1) / 2.0, 0.0])
    t = np.linspace(0.0, 1.0, 40)
    ex = np.concatenate([-2 + bw * t, np.full_like(t, cols + 1.0), -2 + bw * t, np.full_like(t, -2.0)])
    ey = np.concatenate([np.full_like(t, -2.0), -2 + bh * t, np.full_like(t, rows + 1.0), -2 + bh * t])
    grid = [(fx, fy, 1.0) for fy in (0.0, 0.5, 1.0) for fx in (0.0, 0.5, 1.0)]
    grid += [(fx, fy, 0.5) for fy in (0.0, 1.0) for fx in (0.0, 1.0)]
    out = []
    for k in range(n):
        fx, fy, size = grid[k] if k < len(grid) else (rng.uniform(0, 1), rng.uniform(0, 1), rng.uniform(0.8, 1.2))
        deep = 9 <= k < len(grid)
        a = tilt * (0.3 if deep else 1.0)
        rot = rotation(rng.uniform(-a, a), rng.uniform(-a, a), 0.0 if deep else rng.uniform(-0.15, 0.15))
        # distance at which the board (with margin) spans board_fraction * size of the frame
        span = board_fraction * size * min(width / bw, height / bh)  # pixels per square
        inset = 0.0
        for _ in range(400):
            z = f / span
            qw, qh = bw * span, bh * span
            cx = x0 + inset * (x1 - x0) + 0.5 * qw + fx * max(0.0, (1 - 2 * inset) * (x1 - x0) - qw)
            cy = y0 + inset * (y1 - y0) + 0.5 * qh + fy * max(0.0, (1 - 2 * inset) * (y1 - y0) - qh)
            ray = np.linalg.solve(k_mat, np.array([cx, cy, 1.0]))
            trans = z * ray - rot @ centre
            h = k_mat @ np.column_stack([rot[:, 0], rot[:, 1], trans])
            h = h / h[2, 2]
            px, py = board_to_pixel(h, ex, ey)
            w_ok = (rot[2, 0] * ex + rot[2, 1] * ey + trans[2]) > 0
            if bool(np.all(w_ok)) and bool(np.all(inside(px, py))):
                out.append(h)
                break
            inset += 0.005
            if inset > 0.3:
                inset, span = 0.0, span * 0.9
        else:
            raise ValueError("cannot place the board inside the frame; the distortion is too strong")
    return out


def inside_check(corrector_forward, margin_px: float = 2.0) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """``inside(columns, rows)`` for :func:`board_homographies`: perfect-frame points the lens maps onto the frame.

    ``corrector_forward`` is a ``Corrector`` in the correction direction
    (``reverse=False``), whose map takes perfect-frame positions to captured ones.
    """
    w, h = corrector_forward.size

    def inside(px, py):
        best = None
        for c in (0, 1, 2):
            mx, my = corrector_forward.channel_points(px, py, c)
            ok = (mx >= margin_px) & (mx <= w - 1 - margin_px) & (my >= margin_px) & (my <= h - 1 - margin_px)
            best = ok if best is None else best & ok
        return best

    return inside


def render_flat_field(falloff: np.ndarray, *, level: float = 0.6, shading: np.ndarray | None = None,
                      gradient: tuple[float, float] = (0.0, 0.0), noise: float = 0.002,
                      rng: np.random.Generator | None = None, white_level: int = 1023) -> np.ndarray:
    """A flat-field shot: ``level`` x falloff x per-channel shading (x a linear gradient), as uint16 RGB.

    Parameters
    ----------
    falloff : (H, W) array
        Relative illumination (the engine's simulated vignetting, ``Corrector(reverse=True).vignetting_gain()``).
    shading : (3, H, W) array or None
        Per-channel relative gain (colour shading).
    gradient : (gx, gy)
        Uneven lighting: a factor ``1 + gx * u + gy * v`` with u, v from -1 to 1 across the frame.
    noise : float
        Relative standard deviation of Gaussian noise.
    white_level : int
        Full scale of the uint16 output (1023 for 10-bit raw data).
    """
    rng = rng if rng is not None else np.random.default_rng(2)
    h, w = falloff.shape
    u = np.linspace(-1.0, 1.0, w)[None, :]
    v = np.linspace(-1.0, 1.0, h)[:, None]
    light = (1.0 + gradient[0] * u + gradient[1] * v) * falloff * level
    out = np.empty((h, w, 3), dtype=np.uint16)
    for c in range(3):
        plane = light * (shading[c] if shading is not None else 1.0)
        plane = plane * (1.0 + rng.normal(0.0, noise, size=plane.shape))
        out[:, :, c] = np.clip(np.rint(plane * white_level), 0, white_level).astype(np.uint16)
    return out
