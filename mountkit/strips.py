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
Without TCA every channel shares one map, and a backend with ``remap_xy``
resamples the three channels in one call.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from .errors import MountkitError
from .resample import Resampler

#: Environment variable with the default number of threads (default: the machine's cores).
ENV_THREADS = "MOUNTKIT_THREADS"
#: Target pixels per strip (the strip's map then stays in the processor's cache).
STRIP_PIXELS = 1 << 17
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


def strip_rows(width: int, height: int, pixels: int = STRIP_PIXELS) -> list[tuple[int, int]]:
    """The frame's rows cut into strips of about ``pixels`` pixels (at least 8 rows).

    >>> strip_rows(1000, 300, pixels=100_000)
    [(0, 100), (100, 200), (200, 300)]
    """
    per = max(8, int(round(pixels / max(width, 1))))
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
        return int(n)

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


def _inside(m: np.ndarray, r0: int, width: int, height: int) -> np.ndarray:
    """The inside-frame test of a band-relative map strip (rows measured from r0)."""
    x, y = m[..., 0], m[..., 1]
    return (x >= -0.5) & (x <= width - 0.5) & (y >= -0.5 - r0) & (y <= height - 0.5 - r0)


def apply_plan(frame: np.ndarray, out: np.ndarray, plan: Plan, *, resampler: Resampler, interpolation: str,
               fill: float, limits: tuple[float, float] | None, valid: np.ndarray | None,
               threads: int = 1) -> None:
    """Correct ``frame`` (H, W, C) into ``out`` (same shape and dtype) following ``plan``.

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
    remap_xy = getattr(resampler, "remap_xy", None)
    fill32 = np.float32(fill)

    def finish(res: np.ndarray, a: int, b: int, k: int | None) -> None:
        if limits is not None:
            np.rint(res, out=res)
            np.clip(res, limits[0], limits[1], out=res)
        if k is None:
            out[a:b] = res
        else:
            out[a:b, :, k] = res

    def to_float(band: np.ndarray, gain: np.ndarray | None) -> np.ndarray:
        """A float32 copy of a source band (a view of the frame), times the gain (broadcast)."""
        if gain is not None:
            return np.multiply(band, gain, dtype=np.float32)
        if band.dtype == np.float32 and band.flags.c_contiguous:
            return band
        return np.ascontiguousarray(band, dtype=np.float32)

    def resample(src: np.ndarray, m: np.ndarray, res: np.ndarray) -> None:
        if remap_xy is not None:
            remap_xy(src, m, interpolation, fill, res, valid=True)  # outside positions are filled below
        elif src.ndim == 2:
            resampler.remap(src, m[..., 0], m[..., 1], interpolation, fill, res)
        else:
            plane = np.empty(res.shape[:2], dtype=np.float32)
            for k in range(src.shape[2]):
                resampler.remap(np.ascontiguousarray(src[..., k]), m[..., 0], m[..., 1], interpolation, fill, plane)
                res[..., k] = plane

    def edges(m: np.ndarray, r0: int, res: np.ndarray, a: int, b: int, x0: int, x1: int) -> None:
        """Fill, and clear ``valid``, where positions outside [x0, x1) fall off the frame."""
        spans = [(0, w)] if x1 <= x0 else [(0, x0), (x1, w)]
        for c0, c1 in spans:
            if c1 <= c0:
                continue
            ins = _inside(m[:, c0:c1], r0, w, h)
            if ins.all():
                continue
            part = res[:, c0:c1]
            part[~ins] = fill32
            if valid is not None:
                valid[a:b, c0:c1] &= ins

    def gains_only(i: int) -> None:
        a, b = plan.strips[i]
        if plan.shared_gain and not mono:
            finish(np.multiply(frame[a:b], plan.gain_of(1).rows(a, b), dtype=np.float32), a, b, None)
            return
        for k, c in enumerate(channels):
            g = plan.gain_of(c).rows(a, b)[..., 0]
            finish(np.multiply(frame[a:b, :, k], g, dtype=np.float32), a, b, k)

    def strip(i: int) -> None:
        a, b = plan.strips[i]
        r0, r1 = (int(v) for v in plan.bands[i])
        x0, x1 = (int(v) for v in plan.safe[i])
        maps_now: dict[int, np.ndarray] = {}
        if r0 < 0:  # exactly evaluated pixels: the band comes from the strip's maps
            for c in {(1 if c not in plan.maps else c) for c in channels}:
                maps_now[c] = plan.map_of(c).rows(a, b, offset=(0.0, 0.0))  # a new array: shifted below
            ys = np.concatenate([m[..., 1].ravel() for m in maps_now.values()])
            ys = ys[np.isfinite(ys)]
            r0, r1 = source_band(float(ys.min()), float(ys.max()), h, interpolation) if ys.size else (0, 1)
            for m in maps_now.values():
                m[..., 1] -= r0

        def map_for(c: int) -> np.ndarray:
            key = c if c in plan.maps else 1
            if key not in maps_now:
                maps_now[key] = plan.map_of(key).rows(a, b, offset=(0.0, float(r0)))
            return maps_now[key]

        fwd = plan.gains is not None and not plan.reverse
        rev = plan.gains is not None and plan.reverse
        band = frame[r0:r1]
        if plan.shared_map and not mono and remap_xy is not None and plan.shared_gain:
            m = map_for(1)
            src = to_float(band, plan.gain_of(1).rows(r0, r1) if fwd else None)
            res = np.empty((b - a, w, nc), dtype=np.float32)
            resample(src, m, res)
            if rev:
                res *= plan.gain_of(1).rows(a, b)
            edges(m, r0, res, a, b, x0, x1)
            finish(res, a, b, None)
            return
        band_gain = plan.gain_of(1).rows(r0, r1)[..., 0] if fwd and plan.shared_gain else None
        out_gain = plan.gain_of(1).rows(a, b)[..., 0] if rev and plan.shared_gain else None
        for k, c in enumerate(channels):
            m = map_for(c)
            if fwd:
                g = band_gain if band_gain is not None else plan.gain_of(c).rows(r0, r1)[..., 0]
            else:
                g = None
            src = to_float(band[:, :, k], g)
            res = np.empty((b - a, w), dtype=np.float32)
            resample(src, m, res)
            if rev:
                res *= out_gain if out_gain is not None else plan.gain_of(c).rows(a, b)[..., 0]
            edges(m, r0, res, a, b, x0, x1)
            finish(res, a, b, k)

    work = strip if plan.maps is not None else gains_only
    thread_map(threads)(work, range(len(plan.strips)))


def plan_fields(build: Callable[[Callable, int], Field], functions: dict[int, Callable],
                components: int) -> dict[int, Field]:
    """Build a field for each entry of ``functions`` (channel -> exact function)."""
    return {c: build(fn, components) for c, fn in functions.items()}


__all__: Sequence[str] = ("Plan", "apply_plan", "default_threads", "source_band", "strip_rows", "thread_map", "ALL")
