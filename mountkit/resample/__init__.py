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
    """

    name: str
    remap: Callable
    priority: int = 50
    available: Callable[[], bool] = lambda: True
    description: str = ""
