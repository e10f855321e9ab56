"""Strip processing: a frame corrected one band of rows at a time, on every core.

:class:`Plan` holds what a :class:`~mountkit.Corrector` computes once for
its settings (:mod:`mountkit.cache` keeps it across frames): the coordinate
map of each channel and the gains, as fields (:mod:`mountkit.maps`), the
partition of the frame into strips of rows and, for each strip, the band of
source rows its pixels sample and whether they all lie inside the frame.

:func:`apply_plan` then corrects a frame strip by strip, in a thread pool
(numpy and OpenCV release the GIL): for each strip and channel it

1. interpolates the strip's map from the field (no full-frame map exists),
   relative to the first row of the strip's source band;
2. converts the source band of the channel to float32, multiplied by the
   gain when correcting (vignetting acts on the captured frame), so an
   integer frame is never converted as a whole;
3. resamples it with the backend into a float32 strip;
4. when simulating (``reverse``) multiplies by the gain of the output pixels;
5. rounds and clips integer results and writes them into the output.

Peak memory beyond the input and output frames is a few strips per thread.
Without TCA every channel shares one map, and a backend with ``remap_multi``
resamples the three channels in one call.

With the compiled kernels (:mod:`mountkit.kernels`), steps 1, 2 and 5 are one
pass each in C: the band is converted to float32 planes times their gains at
once, and, per-channel maps going block by block, each block of rows is
resampled, filled at the edges and stored (rounded, clipped, interleaved)
before the next, so the buffers are a band and a block per thread.  The
buffers of one frame are kept for the next (:func:`release_scratch` frees
them).
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from . import kernels
from .errors import MountkitError
from .resample import Resampler

#: Environment variable with the default number of threads (default: the machine's cores).
ENV_THREADS = "MOUNTKIT_THREADS"
#: Target pixels per strip (the strip's map then stays in the processor's cache).
STRIP_PIXELS = 1 << 20
#: Rows per block of a strip whose maps are interpolated and resampled together (per-channel maps).
BLOCK_ROWS = 64
#: Rows of source taps beyond floor(y) on each side, per interpolation (before, after), plus one for rounding.
TAP_ROWS = {"nearest": (1, 2), "bilinear": (1, 2), "bicubic": (2, 3), "lanczos3": (3, 4)}
#: Key of a gain shared by every channel.
ALL = -1

Field = object  # maps.CoarseField or maps.DenseField


def default_threads() -> int:
    """Threads used per frame: ``MOUNTKIT_THREADS`` or the number of cores."""
    raw = os.environ.get(ENV_THREADS, "").strip()
    if raw:
        try:
            n = int(raw)
        except ValueError:
            raise MountkitError(f"{ENV_THREADS}={raw!r} is not a whole number of threads") from None
        if n < 1:
            raise MountkitError(f"{ENV_THREADS}={raw!r} must be at least 1")
        return n
    return max(1, os.cpu_count() or 1)


def thread_map(threads: int) -> Callable:
    """``run(fn, items)``: call ``fn`` on every item, in ``threads`` threads (in this one when 1)."""

    def run(fn, items):
        items = list(items)
        if threads <= 1 or len(items) <= 1:
            for it in items:
                fn(it)
            return
        with ThreadPoolExecutor(max_workers=min(threads, len(items)), thread_name_prefix="mountkit") as ex:
            for _ in ex.map(fn, items):
                pass

    return run


def strip_rows(width: int, height: int, pixels: int | None = None) -> list[tuple[int, int]]:
    """The frame's rows cut into strips of about ``pixels`` (default :data:`STRIP_PIXELS`) pixels, >= 8 rows.

    >>> strip_rows(1000, 300, pixels=100_000)
    [(0, 100), (100, 200), (200, 300)]
    """
    per = max(8, int(round((STRIP_PIXELS if pixels is None else pixels) / max(width, 1))))
    return [(a, min(a + per, height)) for a in range(0, height, per)]


@dataclass(eq=False)
class Plan:
    """Everything a correction needs that depends on the settings only (cached across frames).

    Attributes
    ----------
    width, height : int
    mode : str
        ``"grid"`` (fields interpolated from a coarse grid) or ``"exact"`` (every pixel evaluated).
    maps : dict or None
        Channel (0 R, 1 G, 2 B) -> coordinate field (2 components, pixels);
        only channel 1 without TCA; None when no pixel moves.
    gains : dict or None
        Channel, or :data:`ALL` for all, -> gain field (1 component); None without gain.
    reverse : bool
        The gain multiplies the output (simulation) instead of the source (correction).
    interpolation : str
    strips : list of (int, int)
        Row ranges.
    bands : ndarray (n, 2) int
        Source rows [r0, r1) of each strip (all channels); -1 where they are found per frame
        (strips with exactly evaluated pixels).
    safe : ndarray (n, 2) int
        Columns [x0, x1) of each strip whose positions lie inside the frame in every channel;
        only the others are tested (and filled).
    """

    width: int
    height: int
    mode: str
    maps: dict[int, Field] | None
    gains: dict[int, Field] | None
    reverse: bool
    interpolation: str
    strips: list[tuple[int, int]] = field(default_factory=list)
    bands: np.ndarray = field(default=None)
    safe: np.ndarray = field(default=None)
    keep: bool = False
    strip_maps: list[dict[int, np.ndarray]] | None = field(default=None, repr=False)
    strip_outside: list[dict[int, tuple[np.ndarray, np.ndarray]]] | None = field(default=None, repr=False)
    dense_gains: dict[int, np.ndarray] | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _uses: int = 0
    _state: int = 0  # 0: maps interpolated per frame, 1: being kept by a frame, 2: kept
    _out_state: int = 0  # the same for the edge pixels that fall off the frame

    def __post_init__(self):
        if not self.strips:
            self.strips = strip_rows(self.width, self.height)
        if self.bands is None:
            self.bands, self.safe = self._bands()

    @property
    def nbytes(self) -> int:
        n = self.bands.nbytes + self.safe.nbytes
        for group in (self.maps or {}, self.gains or {}):
            n += sum(f.nbytes for f in group.values())
        for maps in self.strip_maps or ():
            n += sum(m.nbytes for m in maps.values())
        for outside in self.strip_outside or ():
            n += sum(r.nbytes + c.nbytes for r, c in outside.values())
        n += sum(g.nbytes for g in (self.dense_gains or {}).values())
        return int(n)

    def dense_bytes(self) -> int:
        """What keeping the maps (:meth:`begin_fill`) adds: float32 maps and gains at every pixel."""
        px = self.width * self.height
        return px * (8 * len(self.maps or {}) + 4 * len(self.gains or {}))

    def begin_fill(self) -> dict | None:
        """Called by each :func:`apply_plan`: what this frame should collect for the next ones.

        The first frame collects which edge pixels fall off the frame (a few kilobytes).  From the second
        frame on, a plan that wants its maps kept (``keep``) collects every strip's maps (rows relative
        to its band, as the backends take them) and the gains at full resolution, which spares warm
        frames their interpolation: faster frames for more memory (:meth:`dense_bytes`; the corrector
        decides, see ``DENSE_MAPS_MAX_BYTES``), which a one-off frame never pays.  One frame at a time
        collects; results are unchanged.
        """
        with self._lock:
            self._uses += 1
            outside = self.maps is not None and self._out_state == 0
            dense = self.keep and self._state == 0 and self._uses >= 2
            if outside:
                self._out_state = 1
            if dense:
                self._state = 1
        if not (outside or dense):
            return None
        n = len(self.strips)
        return {"dense": dense, "outside": [None] * n if outside else None, "maps": [None] * n,
                "bands": self.bands.copy(),
                "gains": {k: np.empty((self.height, self.width), np.float32) for k in (self.gains or {})}
                if dense else {}}

    def end_fill(self, fill: dict | None, ok: bool) -> bool:
        """Keep what :meth:`begin_fill` collected (when the frame went through); True when the plan grew."""
        if fill is None:
            return False
        with self._lock:
            if fill["outside"] is not None:
                if ok:
                    self.strip_outside = [o or {} for o in fill["outside"]]
                self._out_state = 2 if ok else 0
            if fill["dense"]:
                if not ok:
                    self._state = 0
                    return fill["outside"] is not None
                for g in fill["gains"].values():
                    g.flags.writeable = False
                self.dense_gains = fill["gains"] or None
                self.bands = fill["bands"]
                if self.maps is not None:
                    self.strip_maps = fill["maps"]
                self._state = 2
            return ok

    def gain_rows(self, channel: int, a: int, b: int, alloc: Callable | None = None) -> np.ndarray:
        """The gain of a channel on rows [a, b), (b - a, width) float32 (read only)."""
        key = ALL if ALL in self.gains else channel
        if self.dense_gains is not None:
            return self.dense_gains[key][a:b]
        return self.gains[key].rows(a, b, alloc=alloc)[0]

    @property
    def shared_map(self) -> bool:
        """True when every channel is sampled at the same positions (no TCA)."""
        return self.maps is not None and set(self.maps) == {1}

    @property
    def shared_gain(self) -> bool:
        """True when every channel has the same gain (or none)."""
        return self.gains is None or ALL in self.gains

    def map_of(self, channel: int) -> Field:
        return self.maps[channel] if channel in self.maps else self.maps[1]

    def gain_of(self, channel: int) -> Field | None:
        if self.gains is None:
            return None
        return self.gains.get(ALL, self.gains.get(channel))

    def _bands(self) -> tuple[np.ndarray, np.ndarray]:
        n = len(self.strips)
        bands = np.full((n, 2), -1, dtype=np.int64)
        safe = np.zeros((n, 2), dtype=np.int64)
        if self.maps is None:
            for i, (a, b) in enumerate(self.strips):
                bands[i] = (a, b)
                safe[i] = (0, self.width)
            return bands, safe
        eps = 1e-3
        lo = (-0.5 + eps, -0.5 + eps)
        hi = (self.width - 0.5 - eps, self.height - 0.5 - eps)
        fields = list(self.maps.values())
        for i, (a, b) in enumerate(self.strips):
            cols = [f.safe_columns(a, b, lo, hi) for f in fields]
            x0, x1 = max(c[0] for c in cols), min(c[1] for c in cols)
            safe[i] = (x0, x1) if x1 > x0 else (0, 0)
            if any(f.needs_exact(a, b) for f in fields):
                continue
            y_lo = min(float(f.bounds(a, b)[0][1]) for f in fields)
            y_hi = max(float(f.bounds(a, b)[1][1]) for f in fields)
            bands[i] = source_band(y_lo, y_hi, self.height, self.interpolation)
        return bands, safe


def source_band(y_lo: float, y_hi: float, height: int, interpolation: str) -> tuple[int, int]:
    """Rows [r0, r1) of the source that positions with rows in [y_lo, y_hi] sample (taps included), clipped.

    >>> source_band(10.2, 20.7, 100, "bilinear")
    (9, 23)
    >>> source_band(-50.0, -40.0, 100, "bicubic")   # all outside: one row, filled anyway
    (0, 1)
    """
    before, after = TAP_ROWS[interpolation]
    if not (math.isfinite(y_lo) and math.isfinite(y_hi)):
        return 0, height
    r0 = min(max(math.floor(y_lo) - before, 0), height - 1)
    r1 = max(min(math.floor(y_hi) + after + 1, height), r0 + 1)
    return r0, r1


def _inside(mx: np.ndarray, my: np.ndarray, r0: int, width: int, height: int) -> np.ndarray:
    """The inside-frame test of band-relative map planes (rows measured from r0)."""
    return (mx >= -0.5) & (mx <= width - 0.5) & (my >= -0.5 - r0) & (my <= height - 0.5 - r0)


class Scratch:
    """Reusable buffers of one thread: fresh large arrays cost a page fault per 4 KiB every time.

    ``scratch(name, shape, dtype)`` is a view of the buffer ``name``, grown when needed.
    """

    def __init__(self, sizes: dict[str, int] | None = None):
        self._bufs: dict[str, np.ndarray] = {}
        self._sizes = dict(sizes or {})

    def __call__(self, name: str, shape: tuple[int, ...], dtype) -> np.ndarray:
        n = math.prod(shape)
        dt = np.dtype(dtype)
        buf = self._bufs.get(name)
        if buf is None or buf.size < n or buf.dtype != dt:
            del buf
            self._bufs.pop(name, None)
            # at the largest size the plan needs (``sizes``), else with headroom: the bands' heights vary
            buf = np.empty(max(n + n // 4, self._sizes.get(name, 0), 1), dtype=dt)
            self._bufs[name] = buf
        return buf[:n].reshape(shape)

    def alloc(self, name: str) -> Callable:
        """``alloc(shape, dtype)`` on the buffer ``name``."""
        return lambda shape, dtype: self(name, shape, dtype)


#: Idle per-thread buffers, reused by the next frames: fresh memory costs a page fault per 4 KiB, which
#: was up to 30 % of a warm 4K frame's time (0.074 s against 0.052 s with the buffers reused).  At most one set per thread of the largest
#: recent frame is kept (:func:`release_scratch` frees them).
_IDLE: list[Scratch] = []
_IDLE_LOCK = threading.Lock()


def _take_scratch(sizes: dict[str, int]) -> Scratch:
    with _IDLE_LOCK:
        sc = _IDLE.pop() if _IDLE else None
    if sc is None:
        return Scratch(sizes)
    sc._sizes = dict(sizes)
    return sc


def _give_scratch(scratches: list[Scratch], keep: int) -> None:
    with _IDLE_LOCK:
        _IDLE.extend(scratches)
        del _IDLE[:-max(keep, 1)]


def release_scratch() -> int:
    """Free the buffers kept between frames; returns how many bytes they held."""
    with _IDLE_LOCK:
        n = sum(b.nbytes for sc in _IDLE for b in sc._bufs.values())
        _IDLE.clear()
    return int(n)


def fm_step_max() -> int:
    from .maps import STEP_MAX

    return STEP_MAX


def _cv2():
    try:
        import cv2
    except ImportError:
        return None
    return cv2


#: Output dtypes that cv2.merge writes.
_CV_MERGE = tuple(np.dtype(t) for t in (np.uint8, np.int8, np.uint16, np.int16, np.int32, np.float32, np.float64))


def apply_plan(frame: np.ndarray, out: np.ndarray, plan: Plan, *, resampler: Resampler, interpolation: str,
               fill: float, limits: tuple[float, float] | None, valid: np.ndarray | None,
               threads: int = 1) -> bool:
    """Correct ``frame`` (H, W, C) into ``out`` (same shape and dtype) following ``plan``.

    Returns True when the plan grew (it kept this frame's maps, see :meth:`Plan.begin_fill`).

    Parameters
    ----------
    frame, out : ndarray (H, W, C)
        C is 1 (mono: the green map) or 3.  ``out`` must not overlap ``frame``.
    plan : Plan
    resampler : Resampler
    interpolation : str
    fill : float
        Value of output pixels sampled outside the frame.
    limits : (float, float) or None
        Integer frames: results are rounded and clipped to [lo, hi].
    valid : ndarray (H, W) bool or None
        When given, cleared where some channel was sampled outside the frame.
    threads : int
    """
    h, w, nc = frame.shape
    mono = nc == 1
    channels = [1] if mono else list(range(nc))
    multi = getattr(resampler, "remap_multi", None)
    fill32 = np.float32(fill)
    cv2 = _cv2()
    # OpenCV interleaves the three channels' planes into the output (a strided numpy write costs twice as much)
    merge_out = cv2 is not None and nc == 3 and out.flags.c_contiguous and out.dtype in _CV_MERGE
    split_in = cv2 is not None and nc == 3 and frame.flags.c_contiguous and frame.dtype in (
        np.uint8, np.uint16, np.int16, np.float32)

    local = threading.local()
    compiled = kernels.available() and frame.dtype in kernels.DTYPES
    keeping = plan.begin_fill()
    rows_max = max(b - a for a, b in plan.strips)
    known = plan.bands[:, 0] >= 0
    band_max = int(np.max(plan.bands[known, 1] - plan.bands[known, 0])) if known.any() else h
    padded = w + 2 * fm_step_max() + 8
    sizes = {"map": 2 * rows_max * padded, "gain": band_max * padded, "ogain": rows_max * padded,
             "src": band_max * w, "src3": band_max * w * nc, "res": rows_max * w, "res3": rows_max * w * nc,
             **{f"in{k}": band_max * w for k in range(nc)},
             **{f"res{k}": rows_max * w for k in range(nc)}, **{f"u{k}": rows_max * w for k in range(nc)}}

    taken: list[Scratch] = []

    def scratch() -> Scratch:
        sc = getattr(local, "scratch", None)
        if sc is None:
            sc = local.scratch = _take_scratch(sizes)
            taken.append(sc)
        return sc

    # unsigned data resampled by convex weights (and gains >= 0, a fill >= 0) cannot go below 0: only the
    # upper limit needs clipping
    upper_only = (limits is not None and frame.dtype.kind == "u" and interpolation in ("nearest", "bilinear")
                  and fill >= limits[0])

    def clip(res: np.ndarray) -> None:
        np.rint(res, out=res)
        if upper_only:
            np.minimum(res, limits[1], out=res)
        else:
            np.clip(res, limits[0], limits[1], out=res)

    def finish(res: np.ndarray, a: int, b: int, k: int | None) -> None:
        """Store a (n, w) plane of channel k, or a (n, w, C) strip (k None), rounded and clipped."""
        if limits is not None:
            clip(res)
        if k is None:
            out[a:b] = res
        else:
            out[a:b, :, k] = res

    def finish_planes(planes: list[np.ndarray], a: int, b: int) -> None:
        if compiled and kernels.store_planes(planes, out[a:b], limits):
            return
        if not merge_out:
            for k, p in enumerate(planes):
                finish(p, a, b, k)
            return
        if limits is not None or out.dtype != np.float32:
            typed = []
            for k, p in enumerate(planes):
                if limits is not None:
                    clip(p)
                t = scratch()(f"u{k}", p.shape, out.dtype)
                np.copyto(t, p, casting="unsafe")
                typed.append(t)
            planes = typed
        cv2.merge(planes, dst=out[a:b])

    def to_float(band: np.ndarray, gain: np.ndarray | None, name: str) -> np.ndarray:
        """A float32 copy of a source band, times the gain (broadcast); the band itself when it is float32."""
        if gain is None and band.dtype == np.float32 and band.flags.c_contiguous:
            return band
        buf = scratch()(name, band.shape, np.float32)
        np.copyto(buf, band, casting="unsafe")  # then a float32 product: faster than one mixed-type multiply
        if gain is not None:
            np.multiply(buf, gain, out=buf)
        return buf

    def resample(src: np.ndarray, mx: np.ndarray, my: np.ndarray, res: np.ndarray) -> None:
        if multi is not None:
            multi(src, mx, my, interpolation, fill, res, valid=True)  # outside positions are filled below
        elif src.ndim == 2:
            resampler.remap(src, mx, my, interpolation, fill, res)
        else:
            plane = np.empty(res.shape[:2], dtype=np.float32)
            for k in range(src.shape[2]):
                resampler.remap(np.ascontiguousarray(src[..., k]), mx, my, interpolation, fill, plane)
                res[..., k] = plane

    def outside(m: np.ndarray, r0: int, x0: int, x1: int, row0: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """(rows + row0, columns) of the map's positions off the frame, tested outside columns [x0, x1)."""
        rows, cols = [np.zeros(0, np.int32)], [np.zeros(0, np.int32)]
        for c0, c1 in ([(0, w)] if x1 <= x0 else [(0, x0), (x1, w)]):
            if c1 > c0:  # in one compiled pass when the kernels are in use
                got = kernels.outside(m[0], m[1], c0, c1, w - 0.5, -0.5 - r0, h - 0.5 - r0, row0)
                if got is not None:
                    rows.append(got[0])
                    cols.append(got[1])
                    continue
                ri, ci = np.nonzero(~_inside(m[0, :, c0:c1], m[1, :, c0:c1], r0, w, h))
                rows.append((ri + row0).astype(np.int32))
                cols.append((ci + c0).astype(np.int32))
        return np.concatenate(rows), np.concatenate(cols)

    def edges(m: np.ndarray | None, r0: int, res: np.ndarray, i: int, key: int, x0: int, x1: int,
              found: tuple[np.ndarray, np.ndarray] | None = None) -> None:
        """Fill, and clear ``valid``, where positions fall off the frame (kept by the plan, or found now)."""
        a = plan.strips[i][0]
        kept = plan.strip_outside[i].get(key) if plan.strip_outside is not None else None
        if kept is None:
            kept = found if found is not None else outside(m, r0, x0, x1)
            if keeping is not None and keeping["outside"] is not None:
                keeping["outside"][i] = {**(keeping["outside"][i] or {}), key: kept}
        ri, ci = kept
        if ri.size:
            res[ri, ci] = fill32
            if valid is not None:
                valid[ri + a, ci] = False

    def gains_only(i: int) -> None:
        a, b = plan.strips[i]
        sc = scratch()
        if keeping is not None and keeping["dense"]:
            for k, f in plan.gains.items():
                keeping["gains"][k][a:b] = f.rows(a, b, alloc=sc.alloc("keep"))[0]
        if plan.shared_gain and not mono:
            g = plan.gain_rows(1, a, b, sc.alloc("gain"))[..., None]
            finish(np.multiply(frame[a:b], g, dtype=np.float32, out=sc("res3", (b - a, w, nc), np.float32)),
                   a, b, None)
            return
        for k, c in enumerate(channels):
            g = plan.gain_rows(c, a, b, sc.alloc("gain"))
            finish(np.multiply(frame[a:b, :, k], g, dtype=np.float32, out=sc("res", (b - a, w), np.float32)),
                   a, b, k)

    def by_block(i: int, a: int, b: int, r0: int, x0: int, x1: int, floats: list[np.ndarray],
                 out_gain: np.ndarray | None, sc: Scratch) -> None:
        """The strip's float planes resampled and stored a block of rows at a time (compiled kernels).

        Per block and channel: the map, the resampling, the gain of the output (simulating), the edges;
        then the block's rows are rounded and interleaved into the output, so the buffers are a block's.
        """
        keys = [c if c in plan.maps else 1 for c in channels]
        kept = plan.strip_outside[i] if plan.strip_outside is not None else {}
        found: dict[int, list] = {key: [] for key in keys if key not in kept}
        rev = plan.gains is not None and plan.reverse
        for sa in range(a, b, BLOCK_ROWS):
            sb = min(sa + BLOCK_ROWS, b)
            planes = []
            for k, (c, key) in enumerate(zip(channels, keys, strict=True)):
                res = sc(f"blk{k}", (sb - sa, w), np.float32)
                m = plan.map_of(key).rows(sa, sb, alloc=sc.alloc("bmap"), offset=(0.0, r0) if r0 else None)
                resample(floats[k], m[0], m[1], res)
                if rev:
                    res *= out_gain[sa - a:sb - a] if out_gain is not None else \
                        plan.gain_rows(c, sa, sb, sc.alloc("ogain"))
                if key in kept:
                    ri, ci = kept[key]
                    sel = (ri >= sa - a) & (ri < sb - a)
                    ri, ci = ri[sel] - (sa - a), ci[sel]
                else:
                    ri, ci = outside(m, r0, x0, x1)
                    found[key].append((ri + (sa - a), ci))
                if ri.size:
                    res[ri, ci] = fill32
                    if valid is not None:
                        valid[ri + sa, ci] = False
                planes.append(res)
            if mono:
                finish(planes[0], sa, sb, 0)
            else:
                finish_planes(planes, sa, sb)
        if keeping is not None and keeping["outside"] is not None and found:
            keeping["outside"][i] = {**(keeping["outside"][i] or {}), **{
                key: (np.concatenate([f[0] for f in got]).astype(np.int32),
                      np.concatenate([f[1] for f in got]).astype(np.int32)) for key, got in found.items()}}

    def strip(i: int) -> None:
        a, b = plan.strips[i]
        kept_maps = plan.strip_maps  # read before the bands: a plan that keeps maps sets its bands first
        r0, r1 = (int(v) for v in plan.bands[i])
        x0, x1 = (int(v) for v in plan.safe[i])
        sc = scratch()
        exact_maps: dict[int, np.ndarray] = dict(kept_maps[i]) if kept_maps is not None else {}
        if r0 < 0:  # exactly evaluated pixels: the band comes from the strip's maps
            for c in {(1 if c not in plan.maps else c) for c in channels}:
                exact_maps[c] = np.array(plan.map_of(c).rows(a, b))  # a copy: shifted below
            ys = np.concatenate([m[1].ravel() for m in exact_maps.values()])
            ys = ys[np.isfinite(ys)]
            r0, r1 = source_band(float(ys.min()), float(ys.max()), h, interpolation) if ys.size else (0, 1)
            for m in exact_maps.values():
                m[1] -= np.float32(r0)
                m.flags.writeable = False
            if keeping is not None and keeping["dense"]:
                keeping["maps"][i] = dict(exact_maps)
                keeping["bands"][i] = (r0, r1)
        if keeping is not None and keeping["dense"] and plan.gains is not None:  # and the gains of its rows
            for k, f in plan.gains.items():
                keeping["gains"][k][a:b] = f.rows(a, b, alloc=sc.alloc("keep"))[0]

        def map_for(c: int) -> np.ndarray:
            """The strip's map of channel c, rows relative to the band's first row r0.

            The float32 rows are shifted by the integer r0 after interpolation: exact in float32, so the
            positions, and the result, do not depend on how the frame is cut into strips.
            """
            key = c if c in plan.maps else 1
            if key in exact_maps:  # kept by the plan, or evaluated for this strip
                return exact_maps[key]
            if last and last[0] == key:  # the channels share this map (no TCA)
                return last[1]
            m = plan.map_of(key).rows(a, b, alloc=sc.alloc("map"), offset=(0.0, r0) if r0 else None)
            if keeping is not None and keeping["dense"]:  # the plan keeps this frame's maps
                m = np.array(m)
                m.flags.writeable = False
                keeping["maps"][i] = {**(keeping["maps"][i] or {}), key: m}
            last[:] = [key, m]
            return m

        last: list = []

        fwd = plan.gains is not None and not plan.reverse
        rev = plan.gains is not None and plan.reverse
        band = frame[r0:r1]
        if plan.shared_map and not mono and multi is not None and plan.shared_gain:
            m = map_for(1)
            g = plan.gain_rows(1, r0, r1, sc.alloc("gain"))[..., None] if fwd else None
            src = to_float(band, g, "src3")
            res = sc("res3", (b - a, w, nc), np.float32)
            resample(src, m[0], m[1], res)
            if rev:
                res *= plan.gain_rows(1, a, b, sc.alloc("gain"))[..., None]
            edges(m, r0, res, i, 1, x0, x1)
            finish(res, a, b, None)
            return
        band_gain = plan.gain_rows(1, r0, r1, sc.alloc("gain")) if fwd and plan.shared_gain else None
        out_gain = plan.gain_rows(1, a, b, sc.alloc("ogain")) if rev and plan.shared_gain else None
        planes_in = floats = None
        if compiled and band.flags.c_contiguous:  # float32 planes times their gains, in one pass
            gs = [None] * nc
            if fwd:
                gs = [band_gain if band_gain is not None else
                      plan.gain_rows(c, r0, r1, sc.alloc(f"gain{k}"))
                      for k, c in enumerate(channels)]
            floats = [sc(f"src{k}", band.shape[:2], np.float32) for k in range(nc)]
            if not kernels.band_planes(band, floats, gs):
                floats = None
        if floats is None and split_in:
            planes_in = cv2.split(band, [sc(f"in{k}", band.shape[:2], band.dtype) for k in range(nc)])
        results = []
        # maps interpolated for this frame alone go in blocks of rows that stay in the processor's cache
        # between their interpolation and the resampling (when the channels do not share them)
        blocks = not plan.shared_map and not exact_maps and not (keeping is not None and keeping["dense"])
        if blocks and floats is not None:
            by_block(i, a, b, r0, x0, x1, floats, out_gain, sc)
            return
        for k, c in enumerate(channels):
            key = c if c in plan.maps else 1
            g = None
            if fwd and floats is None:
                g = band_gain if band_gain is not None else \
                    plan.gain_rows(c, r0, r1, sc.alloc("gain"))
            if floats is not None:
                src = floats[k]
            else:
                src = to_float(planes_in[k] if planes_in is not None else band[:, :, k], g, "src")
            res = sc(f"res{k}", (b - a, w), np.float32)
            if blocks:
                need = plan.strip_outside is None or key not in plan.strip_outside[i]
                found = []
                for sa in range(a, b, BLOCK_ROWS):
                    sb = min(sa + BLOCK_ROWS, b)
                    m = plan.map_of(key).rows(sa, sb, alloc=sc.alloc("map"), offset=(0.0, r0) if r0 else None)
                    resample(src, m[0], m[1], res[sa - a:sb - a])
                    if need:
                        found.append(outside(m, r0, x0, x1, sa - a))
                m = None
                found = (np.concatenate([f[0] for f in found]), np.concatenate([f[1] for f in found])) \
                    if need else None
            else:
                m = map_for(c)
                resample(src, m[0], m[1], res)
                found = None
            if rev:
                res *= out_gain if out_gain is not None else \
                    plan.gain_rows(c, a, b, sc.alloc("ogain"))
            edges(m, r0, res, i, key, x0, x1, found)
            results.append(res)
        if mono:
            finish(results[0], a, b, 0)
        else:
            finish_planes(results, a, b)

    work = strip if plan.maps is not None else gains_only
    ok = False
    try:
        thread_map(threads)(work, range(len(plan.strips)))
        ok = True
    finally:
        grew = plan.end_fill(keeping, ok)
        _give_scratch(taken, threads)
    return grew


def plan_fields(build: Callable[[Callable, int], Field], functions: dict[int, Callable],
                components: int) -> dict[int, Field]:
    """Build a field for each entry of ``functions`` (channel -> exact function)."""
    return {c: build(fn, components) for c, fn in functions.items()}


__all__: Sequence[str] = ("Plan", "apply_plan", "default_threads", "source_band", "strip_rows", "thread_map", "ALL")
