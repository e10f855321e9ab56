"""Fast per-pixel fields (coordinate maps, gains): exact evaluation on a coarse grid of nodes, bilinear in between.

The correction engine needs, for every output pixel, where each channel is
sampled (a coordinate map) and by how much it is multiplied (a gain).  Both
are smooth functions of the pixel position, so they are evaluated *exactly*
(with the float64 mathematics of :mod:`mountkit.geometry`, whatever the
models: polynomials, analytic or numerical inverses, third-party or
positional models) only at the nodes of a coarse grid, and interpolated
bilinearly in between, one strip of rows at a time.

Layout (:class:`NodeGrid`): with a step of ``S`` pixels (a power of two),
node ``k`` of an axis lies at pixel position ``S k + (S - 1) / 2``; nodes run
from ``k = -1`` to one past the last pixel, so every pixel has a node on
each side.  This is the half-pixel convention of an integer-factor
upsampling (OpenCV's ``resize``), so the horizontal pass can use
``cv2.resize`` when OpenCV is installed; the numpy pass computes the same
weights.

Accuracy, per grid (:func:`build_field`): the bilinear interpolation error
of a cell is at most ``h^2 (|f_xx| + |f_yy|) / 8``; the second differences
of the node values estimate ``h^2 f_xx`` and ``h^2 f_yy`` at every node, so
the estimated error of a cell is ``(max |d2x| + max |d2y|) / 8`` over its
four corners (the Euclidean norm over the field's components).  The step
is halved until (nearly) every cell is below the tolerance; cells that are
still above it, and cells touching a node where the exact function has no
value (NaN: no inverse there), are *poisoned*: their nodes are set to NaN,
so every pixel that they support comes out NaN from the interpolation and is
evaluated exactly instead (:meth:`CoarseField.rows`).  The test suite
compares whole frames against the exact evaluation
(``tests/test_performance_paths.py``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from . import kernels

#: Largest and smallest grid step tried, in pixels (powers of two).
STEP_MAX = 32
STEP_MIN = 2
#: Share of cells allowed above the tolerance before the step is halved (they are evaluated exactly).
POISON_SHARE = 1e-3
#: Nodes evaluated per call of the exact function (bounds the temporaries of a numerical inverse).
EVAL_BLOCK = 1 << 16

#: ``exact(x, y) -> array (..., C)``: the field at pixel positions (float64, broadcast shapes).
ExactFn = Callable[[np.ndarray, np.ndarray], np.ndarray]


def _cv2():
    """OpenCV, or None when it is not installed (or hidden)."""
    try:
        import cv2
    except ImportError:
        return None
    return cv2


# -- layout -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NodeGrid:
    """Where the nodes of a grid of step ``step`` lie on a ``width`` x ``height`` frame.

    Node ``k`` (``k = -1, 0, ..., count - 2``) of an axis is at pixel
    position ``step * k + (step - 1) / 2``.

    Examples
    --------
    >>> g = NodeGrid(100, 50, 16)
    >>> g.nx, g.ny, g.xs()[:3].tolist()
    (8, 5, [-8.5, 7.5, 23.5])
    """

    width: int
    height: int
    step: int

    @staticmethod
    def count(n: int, step: int) -> int:
        """Nodes along an axis of ``n`` pixels (from k = -1 to the first node at or past the last pixel + 1)."""
        c0 = (step - 1) / 2.0
        return int(math.floor((n - 1 - c0) / step)) + 3

    @property
    def nx(self) -> int:
        return self.count(self.width, self.step)

    @property
    def ny(self) -> int:
        return self.count(self.height, self.step)

    def positions(self, n: int) -> np.ndarray:
        return self.step * (np.arange(n, dtype=np.float64) - 1.0) + (self.step - 1) / 2.0

    def xs(self) -> np.ndarray:
        """Pixel columns of the node columns."""
        return self.positions(self.nx)

    def ys(self) -> np.ndarray:
        """Pixel rows of the node rows."""
        return self.positions(self.ny)

    def index(self, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For pixel positions ``p``: the node index ``i`` (into xs()/ys()) on their left, the weight ``t`` of i+1."""
        u = (np.asarray(p, dtype=np.float64) - (self.step - 1) / 2.0) / self.step
        k = np.floor(u)
        return (k + 1).astype(np.intp), u - k

    def node_rows(self, a: int, b: int) -> tuple[int, int]:
        """The node rows ``[i0, i1)`` that support pixel rows ``[a, b)``."""
        i0 = int(self.index(np.array([a]))[0][0])
        i1 = int(self.index(np.array([b - 1]))[0][0]) + 2
        return i0, i1


# -- error estimate --------------------------------------------------------------------------------


def cell_errors(values: np.ndarray) -> np.ndarray:
    """Estimated bilinear interpolation error of every cell of a node grid.

    Parameters
    ----------
    values : ndarray (ny, nx, C)
        Node values (NaN where the function has none).

    Returns
    -------
    ndarray (ny - 1, nx - 1)
        ``hypot`` over the components of ``(max |d2x| + max |d2y|) / 8`` over
        the cell's corners, with ``d2x``/``d2y`` the second differences along
        each axis at the nodes (edge nodes take their neighbour's); inf where
        a corner or a difference involves NaN.

    Examples
    --------
    A quadratic has the same second difference everywhere; the estimate is exact (h^2 f''/8):

    >>> k = np.arange(6.0)
    >>> v = np.broadcast_to((0.1 * k**2)[None, :, None], (4, 6, 1))
    >>> round(float(cell_errors(v).max()), 12)
    0.025
    """
    v = np.asarray(values, dtype=np.float64)
    ny, nx, nc = v.shape
    d2x = np.zeros_like(v)
    d2y = np.zeros_like(v)
    with np.errstate(invalid="ignore", over="ignore"):
        if nx >= 3:  # |v[j-1] - 2 v[j] + v[j+1]|, written in place (NaN and inf propagate)
            inner = d2x[:, 1:-1]  # (-2 v[j] + v[j-1]) + v[j+1]: the same roundings as v[j-1] - 2 v[j] + v[j+1]
            np.multiply(v[:, 1:-1], -2.0, out=inner)
            inner += v[:, :-2]
            inner += v[:, 2:]
            np.abs(inner, out=inner)
            d2x[:, 0] = d2x[:, 1]
            d2x[:, -1] = d2x[:, -2]
        if ny >= 3:
            inner = d2y[1:-1]
            np.multiply(v[1:-1], -2.0, out=inner)
            inner += v[:-2]
            inner += v[2:]
            np.abs(inner, out=inner)
            d2y[0] = d2y[1]
            d2y[-1] = d2y[-2]

        def corners_max(a: np.ndarray) -> np.ndarray:  # NaN propagates (np.maximum)
            return np.maximum(np.maximum(a[:-1, :-1], a[:-1, 1:]), np.maximum(a[1:, :-1], a[1:, 1:]))

        per = corners_max(d2x)
        per += corners_max(d2y)
        per /= 8.0  # (ny-1, nx-1, C)
        sq = per[..., 0] * per[..., 0]
        for k in range(1, nc):  # the components one at a time: a reduction over the short last axis is slow
            sq += per[..., k] * per[..., k]
        err = np.sqrt(sq)
    # inf where a corner is not finite, or a second difference involved a value that is not
    bad = ~_finite_nodes(v)
    err[bad[:-1, :-1] | bad[:-1, 1:] | bad[1:, :-1] | bad[1:, 1:] | ~np.isfinite(err)] = np.inf
    return err


def _finite_nodes(values: np.ndarray) -> np.ndarray:
    """(ny, nx) bool: every component of the node is finite (one component at a time: a reduction over
    the short last axis is slow in numpy)."""
    ok = np.isfinite(values[..., 0])
    for k in range(1, values.shape[2]):
        ok &= np.isfinite(values[..., k])
    return ok


def _longest_run(flags: np.ndarray) -> tuple[int, int]:
    """[start, stop) of the longest run of True in a 1-D bool array ((0, 0) when none).

    >>> _longest_run(np.array([0, 1, 1, 0, 1, 1, 1, 0], bool))
    (4, 7)
    """
    f = np.concatenate([[False], np.asarray(flags, dtype=bool), [False]])
    d = np.diff(f.astype(np.int8))
    starts, stops = np.nonzero(d == 1)[0], np.nonzero(d == -1)[0]
    if starts.size == 0:
        return 0, 0
    k = int(np.argmax(stops - starts))
    return int(starts[k]), int(stops[k])


# -- upsampling -------------------------------------------------------------------------------------


@lru_cache(maxsize=32)
def _column_weights(width: int, step: int) -> tuple[np.ndarray, np.ndarray]:
    g = NodeGrid(width, 1, step)
    i, t = g.index(np.arange(width, dtype=np.float64))
    return i, t.astype(np.float32)


def upsample_columns(rows: np.ndarray, width: int, step: int, *, use_cv2: bool | None = None,
                     alloc: Callable | None = None) -> np.ndarray:
    """Bilinear interpolation along x of node rows to every pixel column.

    Parameters
    ----------
    rows : ndarray (n, C, nx) float32
        For each of n pixel rows and C components, the values at the node
        columns of ``NodeGrid(width, ., step)``.
    width, step : int
    use_cv2 : bool, optional
        Use ``cv2.resize`` (default: when OpenCV is importable) or numpy; both
        compute ``v_i (1 - t) + v_{i+1} t`` in float32.
    alloc : callable, optional
        ``alloc(shape, dtype)`` gives the array to write into (reused buffers
        spare the page faults of fresh large arrays).

    Returns
    -------
    ndarray (C, n, width) float32
        One plane per component, rows strided (a view into a wider array).
    """
    rows = np.ascontiguousarray(rows, dtype=np.float32)
    n, c, nx = rows.shape
    if nx != NodeGrid.count(width, step):
        raise ValueError(f"{nx} node columns do not cover {width} pixels at step {step}")
    cv2 = _cv2() if use_cv2 in (None, True) else None
    if use_cv2 and cv2 is None:
        raise RuntimeError("OpenCV is not available")
    if cv2 is not None and step > 1:
        # one single-channel resize of all the rows (OpenCV's single-channel path is the fast one); the
        # vertical scale is 1: row r is 1 * row r + 0 * row r+1, exact for finite values (a NaN in row r+1
        # makes row r NaN too, which only sends more pixels to the exact evaluation)
        dst = alloc((n * c, nx * step), np.float32) if alloc is not None else None
        up = cv2.resize(rows.reshape(n * c, nx), (nx * step, n * c), dst=dst, interpolation=cv2.INTER_LINEAR)
        # dst column d is pixel column d - step (node -1 is the first node)
        return np.moveaxis(up.reshape(n, c, nx * step)[:, :, step:step + width], 1, 0)
    i, t = _column_weights(width, step)
    left = np.take(rows, i, axis=2, out=alloc((n, c, width), np.float32) if alloc is not None else None)
    right = rows[:, :, i + 1]
    right -= left
    right *= t
    left += right
    return np.moveaxis(left, 1, 0)


# -- fields -----------------------------------------------------------------------------------------


@dataclass(eq=False)
class CoarseField:
    """A smooth per-pixel field (C components) as exact values on a node grid.

    Attributes
    ----------
    grid : NodeGrid
    values : ndarray (ny, nx, C) float64
        Node values; NaN at poisoned nodes (pixels they support are evaluated exactly).
    exact : callable
        ``exact(x, y) -> (..., C)``: the field evaluated exactly at pixel positions.
    estimated_error : float
        Largest estimated interpolation error of the cells not poisoned.
    poisoned_cells : int
        Cells evaluated exactly (error above the tolerance, or no value at a corner).
    """

    grid: NodeGrid
    values: np.ndarray
    exact: ExactFn = field(repr=False)
    estimated_error: float = 0.0
    poisoned_cells: int = 0
    _nan_rows: np.ndarray = field(init=False, repr=False)
    _lo: np.ndarray = field(init=False, repr=False)
    _hi: np.ndarray = field(init=False, repr=False)
    _rows: np.ndarray = field(init=False, repr=False)

    def __post_init__(self):
        v = self.values
        self._nan_rows = ~_finite_nodes(v).all(axis=1)
        # per node row and component, over the finite nodes (reduced along a contiguous axis: faster)
        vt = np.ascontiguousarray(np.moveaxis(v, 2, 1))  # (ny, C, nx)
        finite = np.isfinite(vt)
        with np.errstate(invalid="ignore"):
            self._lo = np.where(finite, vt, np.inf).min(axis=2)  # (ny, C)
            self._hi = np.where(finite, vt, -np.inf).max(axis=2)
        # the vertical interpolation, done once for every pixel row: (height, C, nx) float32, a fraction
        # (components * nx / width) of one full-resolution plane
        g = self.grid
        out = np.empty((g.height, v.shape[2], v.shape[1]), dtype=np.float32)
        i, t = g.index(np.arange(g.height, dtype=np.float64))
        if not kernels.node_rows(vt, i, t, out):
            # the pixel rows between two node rows at once: lo + (hi - lo) t, in float64
            starts = np.flatnonzero(np.r_[True, i[1:] != i[:-1]]).tolist() + [g.height]
            for a, b in zip(starts[:-1], starts[1:], strict=False):
                k = int(i[a])
                lo = vt[k]
                np.copyto(out[a:b], lo + (vt[k + 1] - lo) * t[a:b, None, None], casting="same_kind")
        self._rows = out

    @property
    def components(self) -> int:
        return self.values.shape[2]

    @property
    def poisoned_share(self) -> float:
        """The share of cells evaluated exactly."""
        ny, nx = self.values.shape[:2]
        return self.poisoned_cells / max(1, (ny - 1) * (nx - 1))

    @property
    def nbytes(self) -> int:
        return int(self.values.nbytes + self._lo.nbytes + self._hi.nbytes + self._nan_rows.nbytes
                   + self._rows.nbytes)

    def needs_exact(self, a: int, b: int) -> bool:
        """True when some pixel of rows [a, b) is evaluated exactly (a poisoned node supports it)."""
        if not self.poisoned_cells:
            return False
        i0, i1 = self.grid.node_rows(a, b)
        return bool(self._nan_rows[i0:i1].any())

    def has_nan(self, a: int, b: int) -> bool:
        """True when rows [a, b) may hold NaN (some of their pixels are evaluated exactly)."""
        return self.needs_exact(a, b)

    def bounds(self, a: int, b: int) -> tuple[np.ndarray, np.ndarray]:
        """Per-component (min, max) of the interpolated values of rows [a, b), from the nodes (not exact pixels)."""
        i0, i1 = self.grid.node_rows(a, b)
        return self._lo[i0:i1].min(axis=0), self._hi[i0:i1].max(axis=0)

    def safe_columns(self, a: int, b: int, lo: Sequence[float], hi: Sequence[float]) -> tuple[int, int]:
        """Pixel columns [x0, x1) of rows [a, b) whose values surely lie within [lo, hi] (per component).

        Bilinear values lie between their nodes' values, so a pixel whose four
        nodes are finite and within the bounds is within them; the longest
        run of such cells gives the columns.  (0, 0) when there is none.
        """
        g = self.grid
        i0, i1 = g.node_rows(a, b)
        v = self.values[i0:i1]
        ok = _finite_nodes(v)
        for k in range(v.shape[2]):
            with np.errstate(invalid="ignore"):
                ok &= (v[..., k] >= lo[k]) & (v[..., k] <= hi[k])
        col = ok.all(axis=0)
        cell = col[:-1] & col[1:]
        k_lo, k_hi = _longest_run(cell)
        if k_hi <= k_lo:
            return 0, 0
        c0 = (g.step - 1) / 2.0
        x0 = 0 if k_lo == 0 else math.ceil(g.step * (k_lo - 1) + c0)
        x1 = g.width if k_hi == len(cell) else math.ceil(g.step * (k_hi - 1) + c0)
        x0, x1 = max(0, min(x0, g.width)), max(0, min(x1, g.width))
        return (x0, x1) if x1 > x0 else (0, 0)

    def rows(self, a: int, b: int, *, offset: np.ndarray | None = None, use_cv2: bool | None = None,
             alloc: Callable | None = None) -> np.ndarray:
        """The field at every pixel of rows ``[a, b)``, (C, b - a, width) float32, minus ``offset`` (per component).

        Interpolated bilinearly from the nodes (by the compiled kernel of
        :mod:`mountkit.kernels` when it is in use and ``use_cv2`` is None, else
        by :func:`upsample_columns`), then the offset subtracted in float32;
        pixels supported by a poisoned
        node are evaluated exactly (NaN where the function itself is NaN).
        ``alloc(shape, dtype)`` may give the buffer to write into.  The result
        is the caller's to change.
        """
        g = self.grid
        c = self._rows.shape[1]
        out = None
        if use_cv2 is None and kernels.lib() is not None:  # one compiled pass, the offset included
            out = alloc((c, b - a, g.width), np.float32) if alloc is not None else \
                np.empty((c, b - a, g.width), np.float32)
            if not kernels.field_rows(self._rows, g.width, g.step, a, b, out, offset):
                out = None
        if out is None:
            out = upsample_columns(self._rows[a:b], g.width, g.step, use_cv2=use_cv2, alloc=alloc)
            if offset is not None:
                out -= np.asarray(offset, dtype=np.float32)[:, None, None]
        if self.needs_exact(a, b):
            bad = np.isnan(out).any(axis=0)
            ri, ci = np.nonzero(bad)
            if ri.size:
                exact = np.asarray(self.exact(ci.astype(np.float64), (ri + a).astype(np.float64)),
                                   dtype=np.float64).reshape(ri.size, -1)
                if offset is not None:
                    exact = exact - np.asarray(offset, dtype=np.float64)
                out[:, ri, ci] = exact.T
        return out


def evaluate_nodes(exact: ExactFn, grid: NodeGrid, components: int, *, block: int = EVAL_BLOCK,
                   map_rows: Callable | None = None) -> np.ndarray:
    """The exact field at every node of ``grid``, (ny, nx, C) float64, computed in blocks of rows.

    ``map_rows(fn, blocks)`` may run ``fn`` over the blocks (e.g. in threads);
    by default they run one after the other.
    """
    xs, ys = grid.xs(), grid.ys()
    out = np.empty((len(ys), len(xs), components), dtype=np.float64)
    per = max(1, block // len(xs))
    blocks = [(a, min(a + per, len(ys))) for a in range(0, len(ys), per)]

    def run(ab):
        a, b = ab
        got = np.asarray(exact(xs[None, :], ys[a:b, None]), dtype=np.float64)
        out[a:b] = got.reshape(b - a, len(xs), components)

    if map_rows is None or len(blocks) == 1:  # threads only pay for more than one block
        for ab in blocks:
            run(ab)
    else:
        map_rows(run, blocks)
    return out


def cells_beyond(values: np.ndarray, lo: Sequence[float], hi: Sequence[float], margin: float = 1.0) -> np.ndarray:
    """Cells whose four nodes all lie beyond the same bound (by ``margin``) in some component.

    Every value interpolated in such a cell lies beyond that bound too, so
    when the field is a coordinate map and the bounds are the frame's, its
    pixels are sampled outside the frame (filled) whatever the
    interpolation error: that error does not matter there.
    """
    v = np.asarray(values, dtype=np.float64)
    out = np.zeros((v.shape[0] - 1, v.shape[1] - 1), dtype=bool)
    with np.errstate(invalid="ignore"):
        for k in range(v.shape[2]):
            for side in (v[..., k] < lo[k] - margin, v[..., k] > hi[k] + margin):
                out |= side[:-1, :-1] & side[:-1, 1:] & side[1:, :-1] & side[1:, 1:]
    return out


def build_field(exact: ExactFn, width: int, height: int, components: int, *, tol: float,
                step_max: int = STEP_MAX, step_min: int = STEP_MIN, map_rows: Callable | None = None,
                irrelevant: Callable[[np.ndarray], np.ndarray] | None = None) -> CoarseField:
    """Evaluate ``exact`` on the coarsest grid whose cells interpolate it to within ``tol``.

    Parameters
    ----------
    exact : callable
        ``exact(x, y) -> (..., C)`` at pixel positions (the field's exact mathematics).
    width, height : int
        Frame size.
    components : int
        C (2 for a coordinate map, 1 for a gain).
    tol : float
        Largest interpolation error allowed (in the field's units: pixels for
        maps), as estimated by :func:`cell_errors`.
    step_max, step_min : int
        Powers of two: the grid steps tried.  Below ``step_min`` the cells
        still above the tolerance are poisoned (evaluated exactly per pixel).
    map_rows : callable, optional
        Runs the node evaluation over blocks (see :func:`evaluate_nodes`).
    irrelevant : callable, optional
        ``irrelevant(values) -> (ny - 1, nx - 1) bool``: cells whose error does
        not matter (e.g. :func:`cells_beyond` the frame for a coordinate map).

    Returns
    -------
    CoarseField
    """
    if not (step_max >= step_min >= 1 and step_max & (step_max - 1) == 0 and step_min & (step_min - 1) == 0):
        raise ValueError(f"steps must be powers of two with step_max >= step_min, got {step_max}, {step_min}")
    step = step_max
    while True:
        grid = NodeGrid(width, height, step)
        values = evaluate_nodes(exact, grid, components, map_rows=map_rows)
        err = cell_errors(values)
        if irrelevant is not None:
            fin = _finite_nodes(values)
            err[irrelevant(values) & fin[:-1, :-1] & fin[1:, 1:] & fin[:-1, 1:] & fin[1:, :-1]] = 0.0
        finite = np.isfinite(err)
        over = (err > tol) & finite
        if step <= step_min or over.sum() <= POISON_SHARE * err.size:
            break
        # the error grows as step^2: the step that brings the worst (bar a few) cells under tol
        q = float(np.quantile(err[finite], 1.0 - POISON_SHARE)) if finite.any() else math.inf
        want = step * math.sqrt(tol / q) if q > 0 else step
        nxt = step // 2
        while nxt > step_min and nxt > want:
            nxt //= 2
        step = max(nxt, step_min)
    poison = ~finite | (err > tol)
    v = values.copy()
    if poison.any():
        cy, cx = np.nonzero(poison)
        for dy in (0, 1):
            for dx in (0, 1):
                v[cy + dy, cx + dx] = np.nan
    ok = err[~poison]
    return CoarseField(grid, v, exact, float(ok.max()) if ok.size else 0.0, int(poison.sum()))


@dataclass(eq=False)
class DenseField:
    """A field evaluated exactly at every pixel, stored as float32 (small frames; same interface as CoarseField).

    Attributes
    ----------
    values : ndarray (C, height, width) float32
        One plane per component; NaN where the function has no value.
    """

    values: np.ndarray
    _lo: np.ndarray = field(init=False, repr=False)
    _hi: np.ndarray = field(init=False, repr=False)
    _nan_rows: np.ndarray = field(init=False, repr=False)

    def __post_init__(self):
        v = self.values
        finite = np.isfinite(v)
        self._nan_rows = ~finite.all(axis=(0, 2))
        self._lo = np.where(finite, v, np.inf).min(axis=2).T  # (height, C)
        self._hi = np.where(finite, v, -np.inf).max(axis=2).T

    @property
    def components(self) -> int:
        return self.values.shape[0]

    @property
    def nbytes(self) -> int:
        return int(self.values.nbytes + self._lo.nbytes + self._hi.nbytes + self._nan_rows.nbytes)

    def needs_exact(self, a: int, b: int) -> bool:
        return False

    def has_nan(self, a: int, b: int) -> bool:
        return bool(self._nan_rows[a:b].any())

    def bounds(self, a: int, b: int) -> tuple[np.ndarray, np.ndarray]:
        return self._lo[a:b].min(axis=0), self._hi[a:b].max(axis=0)

    def safe_columns(self, a: int, b: int, lo: Sequence[float], hi: Sequence[float]) -> tuple[int, int]:
        """All columns when rows [a, b) hold no NaN and lie within [lo, hi], else (0, 0) (small frames)."""
        if self.has_nan(a, b):
            return 0, 0
        vlo, vhi = self.bounds(a, b)
        if all(vlo[k] >= lo[k] and vhi[k] <= hi[k] for k in range(len(vlo))):
            return 0, self.values.shape[2]
        return 0, 0

    def rows(self, a: int, b: int, *, offset: np.ndarray | None = None, use_cv2: bool | None = None,
             alloc: Callable | None = None) -> np.ndarray:
        """Rows [a, b), (C, b - a, width) float32, minus ``offset``: a copy the caller may change."""
        v = self.values[:, a:b]
        out = alloc(v.shape, np.float32) if alloc is not None else np.empty(v.shape, np.float32)
        if offset is None:
            np.copyto(out, v)
        else:
            np.subtract(v, np.asarray(offset, dtype=np.float32)[:, None, None], out=out)
        return out


def dense_field(exact: ExactFn, width: int, height: int, components: int, *, block: int = EVAL_BLOCK,
                map_rows: Callable | None = None) -> DenseField:
    """``exact`` at every pixel of the frame (float64 evaluation, float32 planes), in blocks of rows."""
    out = np.empty((components, height, width), dtype=np.float32)
    xs = np.arange(width, dtype=np.float64)
    per = max(1, block // width)
    blocks = [(a, min(a + per, height)) for a in range(0, height, per)]

    def run(ab):
        a, b = ab
        got = np.asarray(exact(xs[None, :], np.arange(a, b, dtype=np.float64)[:, None]), dtype=np.float64)
        out[:, a:b] = np.moveaxis(got.reshape(b - a, width, components), 2, 0)

    if map_rows is None:
        for ab in blocks:
            run(ab)
    else:
        map_rows(run, blocks)
    return DenseField(out)
