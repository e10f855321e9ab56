"""Built-in plugin: the TIFF, PNG, JPEG and raw frame formats and the ``mountkit correct`` command.

Registered through the same hooks as third-party plugins
(``mountkit_register_frame_formats``, ``mountkit_register_commands``).
"""

from __future__ import annotations

import importlib.util

from ..hookspecs import hookimpl
from . import FrameFormat
from .raw import RAW_SUFFIXES


def _has(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def _read_tiff(path, **_options):
    from .tiff import read_tiff

    return read_tiff(path)


def _write_tiff(path, frame, *, dtype=None, **_options):
    from .tiff import write_tiff

    write_tiff(path, frame, dtype=dtype)


def _read_image(path, **_options):
    from .images import read_image

    return read_image(path)


def _write_jpeg(path, frame, *, quality: int = 95, **_options):
    from .images import write_jpeg

    write_jpeg(path, frame, quality=quality)


def _write_png(path, frame, **_options):
    from .images import write_png

    write_png(path, frame)


def _read_raw(path, *, raw_mode: str = "rgb", raw_colour: str = "camera", demosaic: str = "AHD",
              prepare_cfa=None, **_options):
    from .raw import read_raw

    return read_raw(path, mode=raw_mode, colour=raw_colour, demosaic=demosaic, prepare_cfa=prepare_cfa)


FORMATS = (
    FrameFormat("tiff", (".tif", ".tiff"), read=_read_tiff, write=_write_tiff, priority=50,
                available=lambda: _has("tifffile"),
                description="TIFF via tifffile: 8/16-bit integer or float32, RGB or greyscale"),
    FrameFormat("png", (".png",), read=_read_image, write=_write_png, priority=50,
                available=lambda: _has("PIL"),
                description="PNG via Pillow: 8-bit, or 16-bit greyscale; sRGB-encoded"),
    FrameFormat("jpeg", (".jpg", ".jpeg", ".jpe"), read=_read_image, write=_write_jpeg, priority=50,
                available=lambda: _has("PIL"), description="JPEG via Pillow: 8-bit, sRGB-encoded"),
    FrameFormat("raw", RAW_SUFFIXES, read=_read_raw, write=None, priority=50,
                available=lambda: _has("rawpy"),
                description="DNG and camera raw via rawpy (LibRaw): linear demosaiced RGB or the CFA mosaic"),
)


@hookimpl
def mountkit_register_frame_formats(register):
    for fmt in FORMATS:
        register(fmt)


@hookimpl
def mountkit_register_commands(cli):
    from .command import correct

    cli.add_command(correct)
