"""Process memory policy for batch work: freed frame buffers are kept for the next frame.

A batch allocates several arrays the size of a frame per file (the decoded
image, its float copy, the corrected frame, the encoded output).  glibc's
allocator serves each of them with a fresh ``mmap`` and returns it to the
system when it is freed, so every frame pays one page fault and one page of
zeroing per 4 KiB of every array: for 12-megapixel DNGs that was 40 % of a
frame's time in ``bench/bench_batch.py``.  :func:`keep_freed_memory` tells
the allocator to serve large blocks from its heap and to keep what is freed
(``mallopt(M_MMAP_MAX, 0)``, ``mallopt(M_TRIM_THRESHOLD, ...)``), so the
process settles at the size of its largest frame and reuses that memory.

It is a policy for the whole process, so mountkit applies it only to the
processes it owns: ``mountkit correct`` and its worker processes; a program
that uses the library calls it itself if it wants it.  Elsewhere than glibc
(macOS, Windows, musl) it does nothing and says so.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

#: mallopt parameters (glibc's malloc.h).
M_TRIM_THRESHOLD = -1
M_MMAP_MAX = -4

_applied = False


def keep_freed_memory() -> bool:
    """Keep freed large blocks in the process for reuse (glibc); True when the allocator took it."""
    global _applied
    if _applied:
        return True
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (musl has no mallopt)
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    ok = mallopt(M_MMAP_MAX, 0) == 1 and mallopt(M_TRIM_THRESHOLD, 2**31 - 1) == 1
    _applied = ok
    return ok


__all__ = ("keep_freed_memory",)
