"""Reading the FRAME of ``mountkit inspect``: ``.npy`` arrays, and every format the kit reads.

``.npy`` files (``numpy.save``; pickles refused) are read here, as they
are: raw arrays for scripts and tests.  Every other suffix goes to the frame
formats registered on the kit (:func:`mountkit.io.formats.read_frame`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import FrameError
from ..io import Frame


def read_frame(path: str | os.PathLike, kit: Any = None) -> Frame:
    """Read a frame for the frame tools.

    Parameters
    ----------
    path : path-like
    kit : mountkit.Kit, optional
        Whose frame formats to use (default: a new ``Kit()``).

    Raises
    ------
    FrameError
        The file is missing, of a kind no format reads, or unreadable.
    """
    path = Path(path)
    if path.suffix.lower() != ".npy":
        from ..io.formats import read_frame as read_with_formats

        return read_with_formats(path, kit)
    if not path.is_file():
        raise FrameError(f"{path}: no such file")
    try:
        data = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise FrameError(f"{path}: not a readable .npy array ({exc})") from exc
    if not isinstance(data, np.ndarray):
        raise FrameError(f"{path}: holds several arrays (.npz); save one array with numpy.save")
    return Frame(data=data, path=str(path))
