"""Reading and writing frames (arrays with metadata) from and to files."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class Frame:
    """Pixels and what is known about them.

    ``data`` is (H, W) or (H, W, C); ``metadata`` uses EXIF / maker-note tag
    names; ``white_level`` is the value of full scale for integer data (1023
    for 10-bit data in uint16); ``linear`` tells whether values are
    proportional to light.
    """

    data: np.ndarray
    metadata: dict[str, Any] = field(default_factory=dict)
    white_level: float | None = None
    black_level: float = 0.0
    linear: bool = True
    path: str | None = None


@dataclass(frozen=True)
class FrameFormat:
    """A file format, registered on ``mountkit_register_frame_formats``."""

    name: str
    suffixes: tuple[str, ...]
    read: Callable[..., Frame] | None = None
    write: Callable[..., None] | None = None
    priority: int = 50
    available: Callable[[], bool] = lambda: True
    description: str = ""
