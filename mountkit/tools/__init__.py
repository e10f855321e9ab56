"""Frame tools for shooting assistance: histogram, zebra stripes, focus peaking."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class FrameTool:
    """A frame tool, registered on ``mountkit_register_frame_tools``.

    ``run(frame, **options)`` returns a dict of numbers and, for tools that
    draw, an ``"overlay"`` entry (an (H, W) bool mask or (H, W, 4) RGBA array).
    """

    name: str
    run: Callable
    description: str = ""
