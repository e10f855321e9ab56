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

    ``remap_multi(frame, map_x, map_y, interpolation, fill, out, valid=None)``
    is optional: the same for a frame of ``(h, w)`` or ``(h, w, C)`` float32
    values (``out`` then of the maps' shape, or that shape + ``(C,)``: every
    channel sampled at the same positions, the taps computed once), where
    ``valid`` may give the inside-frame test of the positions
    (:func:`mountkit.geometry.inside_frame`) or True when the caller knows
    they all lie inside (then nothing is filled); it is computed when None.
    The engine uses it when present, ``remap`` otherwise.
    """

    name: str
    remap: Callable
    priority: int = 50
    available: Callable[[], bool] = lambda: True
    description: str = ""
    remap_multi: Callable | None = None
