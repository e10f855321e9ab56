"""Atomic output files: write to a temporary file beside the destination, then rename.

Writers here work through libraries that want a path (tifffile, Pillow,
exiv2), so :func:`atomic_output` hands out a temporary path in the
destination's folder and moves it into place only when the block succeeds.
A failure or an interrupt (``KeyboardInterrupt`` included) removes the
temporary file; a process killed outright leaves it behind under a name that
:func:`partial_files` finds, and the batch sweeps those up.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

from ..errors import FrameError

#: Every temporary output ends with this suffix.
PART_SUFFIX = ".mountkit-part"


def temp_path_for(dest: Path) -> Path:
    """A fresh temporary name beside ``dest``: ``.NAME.<random>.mountkit-part``."""
    return dest.with_name(f".{dest.name}.{secrets.token_hex(4)}{PART_SUFFIX}")


def partial_files(dest: Path) -> list[Path]:
    """Temporary files left for ``dest`` by an interrupted write."""
    try:
        return sorted(dest.parent.glob(f".{_glob_escape(dest.name)}.*{PART_SUFFIX}"))
    except OSError:
        return []


def _glob_escape(name: str) -> str:
    return "".join(f"[{c}]" if c in "*?[]" else c for c in name)


def commit(tmp: Path, dest: Path, *, overwrite: bool) -> None:
    """Move ``tmp`` to ``dest``; without ``overwrite`` refuse (and remove ``tmp``) when ``dest`` exists.

    The no-clobber move uses a hard link, which fails atomically if ``dest``
    appeared in the meantime; where hard links are not supported it falls
    back to check-then-rename.
    """
    if overwrite:
        os.replace(tmp, dest)
        return
    try:
        os.link(tmp, dest)
    except FileExistsError:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise FrameError(f"{dest}: already exists; pass --overwrite to replace it") from None
    except OSError:
        if dest.exists():
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise FrameError(f"{dest}: already exists; pass --overwrite to replace it") from None
        os.replace(tmp, dest)
        return
    os.unlink(tmp)


@contextlib.contextmanager
def atomic_output(dest: str | os.PathLike, *, overwrite: bool = False) -> Iterator[Path]:
    """Context manager yielding a temporary path that becomes ``dest`` when the block succeeds.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> with atomic_output(d / "out.txt") as tmp:
    ...     _ = tmp.write_text("hello")
    >>> (d / "out.txt").read_text()
    'hello'
    """
    dest = Path(dest)
    if dest.exists() and not overwrite:
        raise FrameError(f"{dest}: already exists; pass --overwrite to replace it")
    tmp = temp_path_for(dest)
    try:
        yield tmp
        if not tmp.exists():
            raise FrameError(f"{dest}: the writer produced no file")
        commit(tmp, dest, overwrite=overwrite)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
