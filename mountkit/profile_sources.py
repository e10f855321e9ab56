"""Where native profiles are found, in which order, and loading them.

Search order (lower priority first; for the same lens the first wins, see
``kit.explain_lens``):

==========  ======================================  ==================================
priority    source name                             directory
==========  ======================================  ==================================
10          ``profile-path:<dir>`` (one per dir)    each directory in ``MOUNTKIT_PROFILE_PATH``
                                                    (``os.pathsep``-separated), in order
20          ``user-profiles``                       ``platformdirs.user_data_path("mountkit") / "profiles"``
50          ``shipped-profiles``                    ``profiles/`` of the source tree, installed as
                                                    the data package ``mountkit_profiles``
80, 90      other plugins, the lensfun database     (their own sources)
==========  ======================================  ==================================

Every ``*.toml`` file below a directory is a profile: lenses become
:class:`~mountkit.Lens` objects whose ``source`` is the file, camera files
(``[camera]``) become bodies.  A file that does not load is skipped with a
:class:`ProfileWarning` naming it and the reason (``mountkit profile
validate`` reports it in full); the other files keep working.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from .errors import ProfileError
from .hardware import Camera
from .profile import Lens

ENV_PROFILE_PATH = "MOUNTKIT_PROFILE_PATH"

PRIORITY_PROFILE_PATH = 10
PRIORITY_USER = 20
PRIORITY_SHIPPED = 50


class ProfileWarning(UserWarning):
    """A profile file was skipped because it does not load (the message names the file and why)."""


@dataclass(frozen=True)
class ProfileDir:
    """One directory searched for profiles."""

    name: str
    path: Path
    priority: int
    description: str


def shipped_profiles_dir() -> Path:
    """The directory of the shipped profiles (``profiles/`` or the installed ``mountkit_profiles``)."""
    try:
        from importlib.resources import files

        p = files("mountkit_profiles")
        return Path(str(p))
    except (ModuleNotFoundError, TypeError):  # pragma: no cover - running from an uninstalled tree
        return Path(__file__).resolve().parent.parent / "profiles"


def user_profiles_dir() -> Path:
    """The user's profile directory (``<user data dir>/mountkit/profiles``, by platformdirs)."""
    import platformdirs

    return Path(platformdirs.user_data_path("mountkit")) / "profiles"


def env_profile_dirs(env: Mapping[str, str] | None = None) -> list[Path]:
    """The directories listed in ``MOUNTKIT_PROFILE_PATH``, in order (empty entries ignored)."""
    env = os.environ if env is None else env
    raw = env.get(ENV_PROFILE_PATH, "")
    return [Path(os.path.expanduser(p)) for p in raw.split(os.pathsep) if p.strip()]


def profile_dirs(env: Mapping[str, str] | None = None) -> list[ProfileDir]:
    """Every profile directory, in search order."""
    out = [ProfileDir(f"profile-path:{p}", p, PRIORITY_PROFILE_PATH,
                      f"directory {p} from {ENV_PROFILE_PATH}") for p in env_profile_dirs(env)]
    out.append(ProfileDir("user-profiles", user_profiles_dir(), PRIORITY_USER,
                          "your profiles (user data directory)"))
    out.append(ProfileDir("shipped-profiles", shipped_profiles_dir(), PRIORITY_SHIPPED,
                          "profiles shipped with mountkit"))
    return out


def profile_files(directory: Path) -> list[Path]:
    """``*.toml`` files below ``directory``, sorted (none when it does not exist)."""
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.rglob("*.toml") if p.is_file() and not p.name.startswith("."))


def load_directory(directory: Path, *, warn: bool = True) -> tuple[list[Lens], list[Camera], list[str]]:
    """Load every profile below ``directory``: (lenses, cameras, problems).

    A file that fails to load is left out; its problem (one line naming the
    file) is returned and, with ``warn``, issued as a :class:`ProfileWarning`.
    """
    from .formats import toml_profile

    lenses: list[Lens] = []
    cameras: list[Camera] = []
    problems: list[str] = []
    for f in profile_files(directory):
        try:
            obj = toml_profile.load(f)
        except ProfileError as exc:
            problems.append(str(exc))
            if warn:
                warnings.warn(f"skipped profile: {exc}", ProfileWarning, stacklevel=2)
            continue
        (cameras if isinstance(obj, Camera) else lenses).append(obj)
    return lenses, cameras, problems


def lens_loader(directory: Path):
    """A ``LensSource.load`` callable for one directory."""

    def load() -> list[Lens]:
        return load_directory(directory)[0]

    return load
