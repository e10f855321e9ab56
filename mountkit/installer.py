"""Installing plugins with pip, in mountkit's own interpreter, and remembering what the user installed.

``mountkit install`` runs ``python -m pip install`` with the interpreter that
runs mountkit (so the plugin lands where mountkit can load it, whether
mountkit lives in a virtual environment, pipx or uv tool) and records each
requested distribution in a *manifest*, ``plugins.json`` in the user
configuration directory (:func:`config_dir`).  Upgrading or reinstalling
mountkit with pipx/uv replaces its environment and loses the plugins;
``mountkit install --restore`` installs everything in the manifest again.
``mountkit uninstall`` removes distributions and their manifest entries.

The configuration directory is ``platformdirs.user_config_dir("mountkit")``,
or ``$MOUNTKIT_CONFIG_DIR`` when that is set.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import urllib.parse
import urllib.request
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .errors import MountkitError
from .kit import ENTRY_POINT_GROUP, normalize_name

MANIFEST_NAME = "plugins.json"
MANIFEST_VERSION = 1

_REQUIREMENT_NAME = re.compile(r"^\s*([A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)\s*(?:$|[\[<>=!~;@ (])")


@dataclass(frozen=True)
class ManifestEntry:
    """One user-installed distribution.

    ``name`` is the distribution name; ``requirement`` what pip is given to
    install it again (a requirement such as ``mountkit-foo>=1.2``, or an
    absolute path to a wheel, an sdist or a project directory); ``editable``
    whether it was installed with ``-e``.
    """

    name: str
    requirement: str
    editable: bool = False


@dataclass
class InstallResult:
    """What :func:`install` did."""

    returncode: int
    recorded: list[ManifestEntry] = field(default_factory=list)
    not_plugins: list[str] = field(default_factory=list)  # installed, but declare no mountkit entry point
    unrecorded: list[str] = field(default_factory=list)  # installed, but the name could not be told


def config_dir() -> Path:
    """mountkit's user configuration directory (``$MOUNTKIT_CONFIG_DIR`` overrides it)."""
    env = os.environ.get("MOUNTKIT_CONFIG_DIR")
    if env:
        return Path(env)
    import platformdirs

    return Path(platformdirs.user_config_dir("mountkit", appauthor=False))


def manifest_path() -> Path:
    """Where the manifest of user-installed plugins lives."""
    return config_dir() / MANIFEST_NAME


def read_manifest(path: Path | None = None) -> list[ManifestEntry]:
    """The manifest's entries; an absent file is an empty manifest."""
    path = manifest_path() if path is None else Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    try:
        data = json.loads(text)
        entries = [ManifestEntry(name=str(e["name"]), requirement=str(e["requirement"]),
                                 editable=bool(e.get("editable", False)))
                   for e in data["plugins"]]
    except (ValueError, KeyError, TypeError) as exc:
        raise MountkitError(f"{path}: not a mountkit plugin manifest ({type(exc).__name__}: {exc}); "
                            "fix or delete the file (it lists plugins for `mountkit install --restore`)") from None
    return entries


def write_manifest(entries: Iterable[ManifestEntry], path: Path | None = None) -> Path:
    """Write the manifest atomically (temporary file, then rename)."""
    path = manifest_path() if path is None else Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {"version": MANIFEST_VERSION, "plugins": [asdict(e) for e in entries]}
    fd, tmp = tempfile.mkstemp(prefix=".plugins-", suffix=".json", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=2)
            f.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def merge_entries(old: Sequence[ManifestEntry], new: Iterable[ManifestEntry]) -> list[ManifestEntry]:
    """``old`` with ``new`` added; a new entry replaces an old one of the same distribution."""
    merged = {normalize_name(e.name): e for e in old}
    for e in new:
        merged[normalize_name(e.name)] = e
    return list(merged.values())


def remove_entries(old: Sequence[ManifestEntry], names: Iterable[str]) -> list[ManifestEntry]:
    """``old`` without the distributions ``names``."""
    gone = {normalize_name(n) for n in names}
    return [e for e in old if normalize_name(e.name) not in gone]


def local_path(arg: str) -> Path | None:
    """The absolute path ``arg`` names, when it names an existing file or directory."""
    if "://" in arg:
        return None
    path = Path(arg).expanduser()
    return path.resolve() if path.exists() else None


def requirement_name(arg: str) -> str | None:
    """The distribution name a pip argument installs, when it can be told without installing.

    Understands requirements (``name``, ``name[extra]>=1``, ``name @ url``),
    wheel and sdist files and URLs, and project directories with a
    ``pyproject.toml`` that names the project.

    >>> requirement_name("mountkit-foo[test]>=1.2")
    'mountkit-foo'
    >>> requirement_name("https://example.org/mountkit_foo-1.2.3-py3-none-any.whl")
    'mountkit_foo'
    """
    path = local_path(arg)
    base = None
    if path is not None:
        if path.is_dir():
            return _project_name(path)
        if path.suffix == ".whl":
            return _wheel_name(path) or path.name.split("-")[0]
        base = path.name
    elif "://" in arg and not re.match(r"^\s*[A-Za-z0-9][A-Za-z0-9._-]*\s*(\[[^\]]*\])?\s*@", arg):
        parsed = urllib.parse.urlparse(arg)
        egg = re.search(r"[#&]egg=([A-Za-z0-9._-]+)", arg)
        if egg:
            return egg.group(1)
        base = Path(urllib.parse.unquote(parsed.path)).name
    if base is not None:
        if base.endswith(".whl"):
            return base.split("-")[0]
        for suffix in (".tar.gz", ".zip", ".tar.bz2", ".tgz"):
            if base.endswith(suffix):
                stem = base[: -len(suffix)]
                return stem.rsplit("-", 1)[0] if "-" in stem else stem
        return None
    m = _REQUIREMENT_NAME.match(arg)
    return m.group(1) if m else None


def _wheel_name(wheel: Path) -> str | None:
    """The ``Name`` in a wheel's METADATA."""
    import zipfile
    from email.parser import HeaderParser

    try:
        with zipfile.ZipFile(wheel) as zf:
            meta = [n for n in zf.namelist() if n.count("/") == 1 and n.endswith(".dist-info/METADATA")]
            if len(meta) != 1:
                return None
            return HeaderParser().parsestr(zf.read(meta[0]).decode("utf-8", "replace")).get("Name")
    except (OSError, zipfile.BadZipFile):
        return None


def _project_name(directory: Path) -> str | None:
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib
    try:
        data = tomllib.loads((directory / "pyproject.toml").read_text(encoding="utf-8"))
        name = data["project"]["name"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return name if isinstance(name, str) else None


def _pip(python: str | None) -> list[str]:
    return [python or sys.executable, "-m", "pip", "--disable-pip-version-check"]


def _declares_plugin(name: str) -> bool | None:
    """Whether the installed distribution ``name`` has a ``mountkit`` entry point (None: not found here)."""
    import importlib
    import importlib.metadata as md

    importlib.invalidate_caches()
    try:
        dist = md.distribution(name)
    except md.PackageNotFoundError:
        return None
    return any(ep.group == ENTRY_POINT_GROUP for ep in dist.entry_points)


def _names_from_report(report: Path) -> dict[str, str]:
    """Local path (or URL) -> distribution name, for the requested items of a pip installation report."""
    try:
        data = json.loads(report.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    out = {}
    for item in data.get("install", []):
        if not item.get("requested"):
            continue
        url = (item.get("download_info") or {}).get("url", "")
        name = (item.get("metadata") or {}).get("name")
        if not (url and name):
            continue
        if url.startswith("file:"):
            out[str(Path(urllib.request.url2pathname(urllib.parse.urlparse(url).path)).resolve())] = name
        out[url] = name
    return out


def install(requirements: Sequence[str] = (), *, editable: Sequence[str] = (), upgrade: bool = False,
            restore: bool = False, python: str | None = None, manifest: Path | None = None,
            pip_args: Sequence[str] = ()) -> InstallResult:
    """pip-install plugins into mountkit's environment and record them in the manifest.

    Parameters
    ----------
    requirements : sequence of str
        Anything ``pip install`` accepts: names with versions, wheel or sdist
        paths, URLs, project directories.
    editable : sequence of str
        Project directories to install in editable mode (``pip install -e``).
    upgrade : bool
        Pass ``--upgrade`` to pip.
    restore : bool
        Also install everything the manifest lists.
    python : str, optional
        The interpreter whose pip to run (default: the one running mountkit).
    manifest : Path, optional
        The manifest file (default :func:`manifest_path`).
    pip_args : sequence of str
        Further arguments for ``pip install``.

    Returns
    -------
    InstallResult
        pip's return code; on success, the manifest entries written.
    """
    old = read_manifest(manifest)
    planned: list[tuple[str, bool, str | None]] = []  # (requirement as recorded, editable, name or None)
    for arg, is_editable in [(r, False) for r in requirements] + [(e, True) for e in editable]:
        path = local_path(arg)
        planned.append((str(path) if path else arg, is_editable, requirement_name(arg)))
    if restore:
        planned += [(e.requirement, e.editable, e.name) for e in old]
    if not planned:
        where = manifest or manifest_path()
        raise MountkitError(f"nothing to install: name one or more plugins, or -e PATH"
                            + (f"; the manifest {where} lists no plugins to restore" if restore else ""))

    cmd = _pip(python) + ["install", *pip_args]
    if upgrade:
        cmd.append("--upgrade")
    for req, is_editable, _ in planned:
        cmd += ["-e", req] if is_editable else [req]
    with tempfile.TemporaryDirectory(prefix="mountkit-pip-") as tmp:
        report = Path(tmp) / "report.json"
        if any(name is None for _, _, name in planned):
            cmd += ["--report", str(report)]  # pip >= 22.2: tells the names we could not
        returncode = subprocess.run(cmd).returncode
        if returncode != 0:
            return InstallResult(returncode)
        from_report = _names_from_report(report) if report.exists() else {}

    result = InstallResult(0)
    for req, is_editable, name in planned:
        name = name or from_report.get(req)
        if name is None:
            result.unrecorded.append(req)
            continue
        if normalize_name(name) == "mountkit":
            continue  # `mountkit install -U mountkit` upgrades mountkit itself; not a plugin
        result.recorded.append(ManifestEntry(name=name, requirement=req, editable=is_editable))
        if python in (None, sys.executable) and _declares_plugin(name) is False:
            result.not_plugins.append(name)
    if result.recorded:
        write_manifest(merge_entries(old, result.recorded), manifest)
    return result


def uninstall(names: Sequence[str], *, yes: bool = False, python: str | None = None,
              manifest: Path | None = None) -> int:
    """pip-uninstall distributions from mountkit's environment and drop them from the manifest.

    Returns pip's return code.  Refuses to uninstall mountkit itself.
    """
    if not names:
        raise MountkitError("nothing to uninstall: name one or more plugin distributions")
    if any(normalize_name(n) == "mountkit" for n in names):
        raise MountkitError("refusing to uninstall mountkit itself from its own command line; "
                            "use pip (or pipx/uv) directly")
    cmd = _pip(python) + ["uninstall", *(["-y"] if yes else []), *names]
    returncode = subprocess.run(cmd).returncode
    if returncode == 0:
        old = read_manifest(manifest)
        new = remove_entries(old, names)
        if len(new) != len(old):
            write_manifest(new, manifest)
    return returncode
