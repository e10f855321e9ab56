"""Resampling backends: sample a frame at given source coordinates."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

#: Interpolation methods every backend supports.
INTERPOLATIONS = ("nearest", "bilinear", "bicubic", "lanczos3")


@dataclass(frozen=True)
class Resampler:
    """A resampling backend, registered on ``mountkit_register_resamplers``.

    ``remap(frame, map_x, map_y, interpolation, fill, out)`` samples a 2-D
    ``frame`` (one channel) at the float32 source coordinates
    ``map_x``/``map_y`` (pixel centres at integers) and writes the result
    into ``out`` (float32, same shape as the maps); coordinates outside the
    frame give ``fill``.  ``available()`` tells whether the backend's
    dependencies are importable; the available backend with the lowest
    ``priority`` is the default.

    ``remap_xy(frame, map_xy, interpolation, fill, out)`` is optional: the
    same with one interleaved ``(H, W, 2)`` float32 map (OpenCV's
    ``CV_32FC2`` layout, which the engine produces) and a frame of
    ``(h, w)`` or ``(h, w, C)`` float32 values (``out`` then ``(H, W)`` or
    ``(H, W, C)``, every channel sampled at the same positions).  The engine
    uses it when present, ``remap`` otherwise.
    """

    name: str
    remap: Callable
    priority: int = 50
    available: Callable[[], bool] = lambda: True
    description: str = ""
    remap_xy: Callable | None = None
