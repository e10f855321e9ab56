"""Draw tool overlays over a preview of the frame, as 8-bit RGB."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from ..errors import FrameError
from .levels import as_pixels

#: Default overlay colours (8-bit RGB).
COLORS: dict[str, tuple[int, int, int]] = {
    "peaking": (255, 0, 0),
    "zebra": (255, 0, 255),
    "band": (255, 160, 0),
}
#: Colours given in turn to other tools' masks.
PALETTE: tuple[tuple[int, int, int], ...] = ((0, 255, 255), (0, 255, 0), (255, 255, 0), (0, 128, 255))

_NAMED = {
    "red": (255, 0, 0), "green": (0, 255, 0), "blue": (0, 0, 255), "yellow": (255, 255, 0),
    "cyan": (0, 255, 255), "magenta": (255, 0, 255), "orange": (255, 160, 0), "white": (255, 255, 255),
    "black": (0, 0, 0),
}


def parse_color(text: str) -> tuple[int, int, int]:
    """An 8-bit RGB colour from a name (red, green, ..., see ``_NAMED``) or ``#rrggbb``.

    Examples
    --------
    >>> parse_color("#ff8000"), parse_color("cyan")
    ((255, 128, 0), (0, 255, 255))
    """
    t = text.strip().lower()
    if t in _NAMED:
        return _NAMED[t]
    h = t[1:] if t.startswith("#") else t
    if len(h) == 6:
        try:
            return int(h[0:2], 16), int(h[2:4], 16), int(h[4:6], 16)
        except ValueError:
            pass
    raise FrameError(f"colour {text!r} is neither #rrggbb nor one of {', '.join(sorted(_NAMED))}")


def preview(frame: Any, *, white_level: float | None = None, black_level: float | None = None) -> np.ndarray:
    """The frame as 8-bit RGB for display: black..white mapped linearly to 0..255.

    Returns
    -------
    ndarray of uint8, (H, W, 3)
    """
    px = as_pixels(frame, white_level=white_level, black_level=black_level)
    data = px.data.astype(np.float32)
    if px.black_level:
        data -= np.float32(px.black_level)
    data *= np.float32(255.0 / (px.white_level - px.black_level))
    np.clip(data, 0, 255, out=data)
    data += np.float32(0.5)
    out = data.astype(np.uint8)
    if out.ndim == 2:
        out = np.repeat(out[..., None], 3, axis=2)
    return out


def paint(rgb: np.ndarray, layer: np.ndarray, color: tuple[int, int, int] | None = None) -> np.ndarray:
    """Draw one overlay layer into ``rgb`` (modified in place and returned).

    ``layer`` is an (H, W) bool mask, drawn in ``color``, or an (H, W, 4)
    RGBA array (uint8, or float in [0, 1]), alpha-composited.
    """
    h, w = rgb.shape[:2]
    layer = np.asarray(layer)
    if layer.shape[:2] != (h, w):
        raise FrameError(f"overlay of shape {layer.shape} does not match the frame's {h} x {w}")
    if layer.ndim == 2 and layer.dtype == bool:
        if color is None:
            raise FrameError("a mask overlay needs a colour")
        rgb[layer] = color
        return rgb
    if layer.ndim == 3 and layer.shape[2] == 4:
        rgba = layer.astype(np.float32)
        if layer.dtype.kind in "ui":
            rgba /= 255.0
        alpha = np.clip(rgba[..., 3:4], 0, 1)
        mixed = rgb.astype(np.float32) * (1 - alpha) + np.clip(rgba[..., :3], 0, 1) * 255.0 * alpha
        rgb[...] = np.clip(mixed + 0.5, 0, 255).astype(np.uint8)
        return rgb
    raise FrameError(f"overlay must be an (H, W) bool mask or an (H, W, 4) RGBA array, "
                     f"got shape {layer.shape} of {layer.dtype}")


def compose(frame: Any, layers: Iterable[tuple[np.ndarray, tuple[int, int, int] | None]], *,
            white_level: float | None = None, black_level: float | None = None) -> np.ndarray:
    """A preview of ``frame`` with ``(layer, colour)`` overlays drawn in order (later on top).

    Examples
    --------
    >>> frame = np.zeros((2, 2), np.uint8)
    >>> mask = np.array([[True, False], [False, False]])
    >>> compose(frame, [(mask, (255, 0, 0))])[0, 0].tolist()
    [255, 0, 0]
    """
    rgb = preview(frame, white_level=white_level, black_level=black_level)
    for layer, color in layers:
        paint(rgb, layer, color)
    return rgb
