"""Choosing a frame format for a file, and reading or writing through it.

Formats come from the ``mountkit_register_frame_formats`` hook; the one for a
file is chosen by suffix (lowest ``priority`` first among those whose
``available()`` is true).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..errors import FrameError
from . import Frame, FrameFormat


def _kit(kit):
    if kit is None:
        from ..kit import Kit

        kit = Kit()
    return kit


def format_for(path: str | os.PathLike, kit=None, *, writing: bool = False) -> FrameFormat:
    """The frame format that reads (or writes) ``path``, chosen by its suffix.

    Raises
    ------
    FrameError
        naming the suffix and the suffixes that are supported.
    """
    suffix = Path(path).suffix.lower()
    formats = sorted(_kit(kit).frame_formats().values(), key=lambda f: f.priority)
    known = set()
    for fmt in formats:
        fn = fmt.write if writing else fmt.read
        if fn is None:
            continue
        known.update(fmt.suffixes)
        if suffix in fmt.suffixes and fmt.available():
            return fmt
    verb = "write" if writing else "read"
    raise FrameError(f"{path}: no frame format can {verb} {suffix or 'files without a suffix'} files "
                     f"(supported: {', '.join(sorted(known))})")


def read_frame(path: str | os.PathLike, kit=None, **options: Any) -> Frame:
    """Read ``path`` with the format its suffix selects; ``options`` go to the reader."""
    fmt = format_for(path, kit)
    p = Path(path)
    if not p.is_file():
        raise FrameError(f"{p}: no such file")
    if p.stat().st_size == 0:
        raise FrameError(f"{p}: the file is empty (0 bytes)")
    return fmt.read(p, **options)


def write_frame(path: str | os.PathLike, frame: Frame, kit=None, **options: Any) -> None:
    """Write ``frame`` to ``path`` with the format its suffix selects; ``options`` go to the writer."""
    fmt = format_for(path, kit, writing=True)
    fmt.write(Path(path), frame, **options)
