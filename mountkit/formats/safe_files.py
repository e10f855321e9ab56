"""Safe file access for profile formats: size-limited reads and atomic, no-clobber writes.

Profiles are data that strangers send; a reader never loads an unbounded file,
and a writer never leaves a half-written file or silently replaces one.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

from ..errors import MountkitError, ProfileError

#: Largest profile file read (native TOML or XML), in bytes.  The largest
#: lensfun database file is about 1 MB and Adobe's largest LCP files a few MB.
MAX_FILE_BYTES = 32 * 1024 * 1024


def read_bytes_limited(path: str | os.PathLike, *, limit: int = MAX_FILE_BYTES, what: str = "profile") -> bytes:
    """The bytes of ``path``, refusing files larger than ``limit`` (before reading them).

    Raises
    ------
    ProfileError
        naming the file when it is missing, not a regular file, empty, or too large.
    """
    p = Path(path)
    try:
        st = p.stat()
    except FileNotFoundError:
        raise ProfileError(f"no such {what} file", source=str(p)) from None
    except OSError as exc:
        raise ProfileError(f"cannot read {what} file: {exc.strerror or exc}", source=str(p)) from None
    if not p.is_file():
        raise ProfileError(f"not a regular file (expected a {what} file)", source=str(p))
    if st.st_size > limit:
        raise ProfileError(
            f"file is {st.st_size / 2**20:.1f} MiB, larger than the {limit / 2**20:.0f} MiB a {what} file may be; "
            "is this the right file?", source=str(p))
    try:
        with open(p, "rb") as fh:
            data = fh.read(limit + 1)
    except OSError as exc:
        raise ProfileError(f"cannot read {what} file: {exc.strerror or exc}", source=str(p)) from None
    if len(data) > limit:  # the file grew while we looked
        raise ProfileError(f"file is larger than the {limit / 2**20:.0f} MiB a {what} file may be", source=str(p))
    if not data.strip():
        raise ProfileError(f"file is empty (expected a {what} file)", source=str(p))
    return data


def _write_temp(dest: Path, data: bytes) -> Path:
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return Path(tmp)


def _commit(tmp: Path, dest: Path, force: bool) -> None:
    """Move ``tmp`` to ``dest`` atomically; without ``force`` fail if ``dest`` exists."""
    if force:
        os.replace(tmp, dest)
        return
    try:
        os.link(tmp, dest)  # atomic, and fails if dest exists
    except FileExistsError:
        os.unlink(tmp)
        raise MountkitError(f"{dest}: already exists; pass --force (force=True) to overwrite it") from None
    except OSError:  # file systems without hard links
        if dest.exists():
            os.unlink(tmp)
            raise MountkitError(f"{dest}: already exists; pass --force (force=True) to overwrite it") from None
        os.replace(tmp, dest)
        return
    os.unlink(tmp)


def write_files_atomic(files: Iterable[tuple[str | os.PathLike, str | bytes]], *, force: bool = False) -> list[Path]:
    """Write several files all-or-nothing.

    Every destination is checked first (none may exist unless ``force``);
    each file is written to a temporary file beside it and renamed into
    place.  If any write fails, the files this call already put in place are
    removed again (files it replaced under ``force`` cannot be restored, but
    are never left half-written).

    Returns the paths written.
    """
    items = [(Path(p), d.encode("utf-8") if isinstance(d, str) else d) for p, d in files]
    seen: set[Path] = set()
    for dest, _ in items:
        key = dest.resolve()
        if key in seen:
            raise MountkitError(f"{dest}: two outputs would be written to the same file")
        seen.add(key)
        if dest.exists() and not force:
            raise MountkitError(f"{dest}: already exists; pass --force (force=True) to overwrite it")
    done: list[Path] = []
    created_dirs: list[Path] = []
    try:
        for dest, data in items:
            missing = [d for d in reversed(dest.parents) if not d.exists()]
            dest.parent.mkdir(parents=True, exist_ok=True)
            created_dirs.extend(missing)
            tmp = _write_temp(dest, data)
            _commit(tmp, dest, force)
            done.append(dest)
    except BaseException:
        if not force:
            for p in done:
                with contextlib.suppress(OSError):
                    p.unlink()
            for d in reversed(created_dirs):
                with contextlib.suppress(OSError):
                    d.rmdir()
        raise
    return done


def write_file_atomic(path: str | os.PathLike, data: str | bytes, *, force: bool = False) -> Path:
    """Write one file atomically (temporary file + rename); never overwrite without ``force``."""
    return write_files_atomic([(path, data)], force=force)[0]
