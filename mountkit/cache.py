"""The map cache: correction plans (coordinate maps and gains) reused across frames, LRU-bounded by bytes.

A :class:`~mountkit.Corrector` computes, on its first frame, everything that
depends only on its settings (the coordinate maps of each channel and the
vignetting gains, see :mod:`mountkit.maps`) and stores it in a
:class:`MapCache` under a key made of the resolved settings: the frame size
and geometry, the models with their interpolated parameters (so the
profile, the focal length, aperture and distance and the corrections chosen),
the scale, the direction (correct or simulate), the vignetting strength and
the interpolation.  Every later frame with the same key (a batch, a video)
skips that work, whichever corrector asks.

The process-wide cache (:func:`default_cache`) holds at most
``MOUNTKIT_MAP_CACHE_MB`` megabytes (environment variable, default 512);
change it with ``default_cache().max_bytes = ...``.  A corrector made with
``cache=MapCache(...)`` uses that cache, ``cache=False`` none (it then keeps
its own plan).  Entries larger than the bound are not stored.

Examples
--------
>>> c = MapCache(max_bytes=100)
>>> class Entry:
...     nbytes = 60
>>> a = c.get_or_build("a", Entry)
>>> c.get_or_build("a", Entry) is a
True
>>> _ = c.get_or_build("b", Entry)   # 120 bytes > 100: "a", the least recently used, goes
>>> "a" in c, "b" in c, c.info().hits, c.info().misses
(False, True, 1, 2)
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

from .errors import MountkitError

#: Environment variable with the default cache's bound, in megabytes.
ENV_MAX_MB = "MOUNTKIT_MAP_CACHE_MB"
#: Default bound of the process-wide cache, in megabytes.
DEFAULT_MAX_MB = 512


@dataclass(frozen=True)
class CacheInfo:
    """Counters and size of a :class:`MapCache`."""

    hits: int
    misses: int
    entries: int
    bytes: int
    max_bytes: int


class MapCache:
    """A thread-safe least-recently-used cache bounded by the bytes of its entries.

    Parameters
    ----------
    max_bytes : int
        Upper bound of the sum of the entries' ``nbytes``; 0 disables storing.

    Notes
    -----
    Values must have an ``nbytes`` attribute (their memory footprint).  Two
    threads asking for the same missing key may both build it; the first
    stored is kept and returned to both.
    """

    def __init__(self, max_bytes: int = DEFAULT_MAX_MB << 20):
        self._lock = threading.Lock()
        self._entries: OrderedDict[Hashable, Any] = OrderedDict()
        self._sizes: dict[Hashable, int] = {}
        self._bytes = 0
        self._hits = 0
        self._misses = 0
        self._max = 0
        self.max_bytes = max_bytes

    @property
    def max_bytes(self) -> int:
        """The bound, in bytes; setting it evicts entries as needed."""
        return self._max

    @max_bytes.setter
    def max_bytes(self, value: int) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise MountkitError(f"map cache max_bytes must be a non-negative integer, got {value!r}")
        with self._lock:
            self._max = value
            self._evict()

    def _evict(self) -> None:
        while self._entries and self._bytes > self._max:
            key, _ = self._entries.popitem(last=False)
            self._bytes -= self._sizes.pop(key)

    def get(self, key: Hashable) -> Any | None:
        """The entry for ``key`` (now the most recently used), or None."""
        with self._lock:
            value = self._entries.get(key)
            if value is None:
                self._misses += 1
                return None
            self._entries.move_to_end(key)
            self._hits += 1
            return value

    def put(self, key: Hashable, value: Any) -> Any:
        """Store ``value`` under ``key`` unless it is larger than the bound; return the stored entry."""
        size = int(value.nbytes)
        with self._lock:
            if key in self._entries:
                self._entries.move_to_end(key)
                return self._entries[key]
            if size > self._max:
                return value
            self._entries[key] = value
            self._sizes[key] = size
            self._bytes += size
            self._evict()
            return value

    def refresh(self, key: Hashable) -> None:
        """Count again the bytes of the entry ``key`` (it grew or shrank), evicting as needed."""
        with self._lock:
            value = self._entries.get(key)
            if value is None:
                return
            self._bytes += int(value.nbytes) - self._sizes.get(key, 0)
            self._sizes[key] = int(value.nbytes)
            self._entries.move_to_end(key)
            self._evict()

    def get_or_build(self, key: Hashable, build: Callable[[], Any]) -> Any:
        """The entry for ``key``, built with ``build()`` and stored when missing."""
        value = self.get(key)
        if value is not None:
            return value
        return self.put(key, build())

    def clear(self) -> None:
        """Drop every entry (the counters are kept)."""
        with self._lock:
            self._entries.clear()
            self._sizes.clear()
            self._bytes = 0

    def info(self) -> CacheInfo:
        """Hits, misses, entries and bytes held."""
        with self._lock:
            return CacheInfo(self._hits, self._misses, len(self._entries), self._bytes, self._max)

    def __contains__(self, key: Hashable) -> bool:
        with self._lock:
            return key in self._entries

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def __repr__(self) -> str:
        i = self.info()
        return f"<MapCache {i.entries} entries, {i.bytes / 2**20:.1f} of {i.max_bytes / 2**20:.0f} MiB>"


_DEFAULT: MapCache | None = None
_DEFAULT_LOCK = threading.Lock()


def _env_max_bytes() -> int:
    raw = os.environ.get(ENV_MAX_MB)
    if raw is None or raw.strip() == "":
        return DEFAULT_MAX_MB << 20
    try:
        mb = float(raw)
    except ValueError:
        raise MountkitError(f"{ENV_MAX_MB}={raw!r} is not a number of megabytes; set it to e.g. 512") from None
    if not mb >= 0:
        raise MountkitError(f"{ENV_MAX_MB}={raw!r} must be 0 or more megabytes")
    return int(mb * (1 << 20))


def default_cache() -> MapCache:
    """The process-wide map cache, bounded by ``MOUNTKIT_MAP_CACHE_MB`` (default 512 MB) when first used."""
    global _DEFAULT
    with _DEFAULT_LOCK:
        if _DEFAULT is None:
            _DEFAULT = MapCache(_env_max_bytes())
        return _DEFAULT
