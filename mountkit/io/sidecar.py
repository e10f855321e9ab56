"""Folder sidecars: ``mountkit.toml`` sets settings for every file in its folder.

The manual-lens case: "all of this roll was shot with the Summilux 35 at
f/2".  A sidecar looks like this::

    # mountkit.toml
    lens = "Leica Summilux-M 35mm f/1.4 ASPH."
    camera = "Xiaomi 1-inch"          # or crop_factor = 2.64
    aperture = 2.0                    # f-number
    distance = 3.0                    # focus distance, metres
    corrections = ["distortion", "tca", "vignetting"]

    [override]                        # wins over what the files' metadata say
    aperture = 2.0                    # (e.g. a phone that writes its own lens's f-number)

    [files."L100*.DNG"]               # settings for some files only (glob on the name)
    aperture = 4.0

Top-level keys are **defaults**: a file's own metadata (EXIF) wins over them,
command-line flags win over everything.  Keys under ``[override]`` win over
the metadata too (but not over flags).  ``[files."pattern"]`` tables apply to
the files whose name matches, on top of the folder's keys.  A sidecar in a
subfolder adds to (and wins over) the sidecars of the folders above it, up to
the folder given on the command line.
"""

from __future__ import annotations

import fnmatch
import math
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import MountkitError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

SIDECAR_NAME = "mountkit.toml"

#: key -> (type description, validator)
KEYS: dict[str, str] = {
    "lens": "a lens name (string)",
    "camera": "a camera name (string)",
    "crop_factor": "a positive number",
    "focal": "a focal length in mm (positive number)",
    "aperture": "an f-number (positive number)",
    "distance": "a focus distance in metres (positive number)",
    "corrections": 'a list of "distortion", "tca", "vignetting"',
    "linear": "true or false (the files hold linear data, not sRGB)",
    "scale": 'a positive number or "auto"',
    "vignetting_strength": "a number from 0 to 2",
}
_SECTIONS = ("override", "files")


class SidecarError(MountkitError, ValueError):
    """A ``mountkit.toml`` sidecar cannot be used: bad TOML, unknown key or bad value."""


def _check_value(path: Path, where: str, key: str, value: Any) -> Any:
    def bad():
        return SidecarError(f"{path}: {where}{key} = {value!r}: expected {KEYS[key]}")

    if key in ("lens", "camera"):
        if not isinstance(value, str) or not value.strip():
            raise bad()
        return value.strip()
    if key in ("crop_factor", "focal", "aperture", "distance"):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
            raise bad()
        return float(value)
    if key == "corrections":
        if not isinstance(value, list) or not all(v in ("distortion", "tca", "vignetting") for v in value):
            raise bad()
        return tuple(value)
    if key == "linear":
        if not isinstance(value, bool):
            raise bad()
        return value
    if key == "scale":
        if value == "auto":
            return value
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
            raise bad()
        return float(value)
    if key == "vignetting_strength":
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 2:
            raise bad()
        return float(value)
    raise AssertionError(key)


def _check_table(path: Path, where: str, table: Mapping[str, Any], *, sections: bool) -> dict[str, Any]:
    import difflib

    out = {}
    for key, value in table.items():
        if sections and key in _SECTIONS:
            continue
        if key not in KEYS:
            close = difflib.get_close_matches(key, list(KEYS) + (list(_SECTIONS) if sections else []), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else f"; known keys: {', '.join(KEYS)}"
            raise SidecarError(f"{path}: unknown key {where}{key!r}{hint}")
        out[key] = _check_value(path, where, key, value)
    return out


@dataclass(frozen=True)
class Sidecar:
    """One parsed ``mountkit.toml``."""

    path: Path
    defaults: dict[str, Any] = field(default_factory=dict)
    override: dict[str, Any] = field(default_factory=dict)
    files: tuple[tuple[str, dict[str, Any]], ...] = ()

    def for_file(self, name: str) -> tuple[dict[str, Any], dict[str, Any]]:
        """(defaults, overrides) for the file called ``name`` in this folder."""
        defaults = dict(self.defaults)
        for pattern, table in self.files:
            if fnmatch.fnmatchcase(name, pattern) or fnmatch.fnmatch(name.lower(), pattern.lower()):
                defaults.update(table)
        return defaults, dict(self.override)


def read_sidecar(path: str | os.PathLike) -> Sidecar:
    """Parse and validate one sidecar file.

    Raises
    ------
    SidecarError
        naming the file and the key at fault.
    """
    p = Path(path)
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise SidecarError(f"{p}: not valid TOML ({exc})") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SidecarError(f"{p}: cannot read ({exc})") from None
    defaults = _check_table(p, "", data, sections=True)
    override = data.get("override", {})
    if not isinstance(override, dict):
        raise SidecarError(f"{p}: 'override' must be a table ([override])")
    override = _check_table(p, "override.", override, sections=False)
    files = data.get("files", {})
    if not isinstance(files, dict) or not all(isinstance(v, dict) for v in files.values()):
        raise SidecarError(f'{p}: \'files\' must hold tables ([files."pattern"])')
    per_file = tuple((pattern, _check_table(p, f"files.{pattern!r}.", table, sections=False))
                     for pattern, table in files.items())
    return Sidecar(path=p, defaults=defaults, override=override, files=per_file)


class SidecarFinder:
    """Finds and caches the sidecars that apply to a file (one parse per folder)."""

    def __init__(self) -> None:
        self._cache: dict[Path, Sidecar | None] = {}

    def at(self, folder: Path) -> Sidecar | None:
        folder = Path(folder)
        if folder not in self._cache:
            candidate = folder / SIDECAR_NAME
            self._cache[folder] = read_sidecar(candidate) if candidate.is_file() else None
        return self._cache[folder]

    def chain(self, file: Path, root: Path | None = None) -> list[Sidecar]:
        """Sidecars from ``root`` (the folder given on the command line) down to the file's folder."""
        folder = Path(file).parent
        folders = [folder]
        if root is not None:
            try:
                rel = folder.resolve().relative_to(Path(root).resolve())
            except ValueError:
                rel = None
            if rel is not None:
                folders = [Path(root)]
                for part in rel.parts:
                    folders.append(folders[-1] / part)
        return [s for s in (self.at(f) for f in folders) if s is not None]

    def settings_for(self, file: Path, root: Path | None = None) -> tuple[dict[str, tuple[Any, str]],
                                                                           dict[str, tuple[Any, str]]]:
        """(defaults, overrides) for ``file``: key -> (value, "where it comes from")."""
        defaults: dict[str, tuple[Any, str]] = {}
        override: dict[str, tuple[Any, str]] = {}
        for side in self.chain(file, root):
            d, o = side.for_file(Path(file).name)
            defaults.update({k: (v, f"{side.path} ({k})") for k, v in d.items()})
            override.update({k: (v, f"{side.path} ([override] {k})") for k, v in o.items()})
        return defaults, override
