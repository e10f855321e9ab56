"""Install plugin distributions into a directory, for tests that run in this process.

``install(source_dir, site)`` does what ``pip install --target site`` does for
a pure-Python setuptools project that lists its packages in
``[tool.setuptools] packages``: it copies the packages and writes a
``NAME-VERSION.dist-info`` directory (``METADATA``, ``entry_points.txt``,
``RECORD``) from the project's own ``pyproject.toml``.  With ``site`` on
``sys.path``, ``importlib.metadata`` sees a real installed distribution and
its entry points, and nothing touches the shared development environment.
``tests/test_third_party.py`` installs the same projects with pip for real.
"""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

PLUGINS = Path(__file__).resolve().parent / "plugins"

#: The example distributions kept in tests/plugins/, by directory.
EXAMPLES = ("example", "broken_import", "broken_hook", "malformed")


def write_dist_info(site: Path, name: str, version: str, entry_points: dict[str, dict[str, str]],
                    files: list[Path] = ()) -> Path:
    """Write ``site/NAME-VERSION.dist-info`` for an installed distribution."""
    dist_info = site / f"{name.replace('-', '_')}-{version}.dist-info"
    dist_info.mkdir(parents=True)
    (dist_info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    lines = []
    for group, eps in entry_points.items():
        lines.append(f"[{group}]")
        lines.extend(f"{ep} = {target}" for ep, target in eps.items())
        lines.append("")
    (dist_info / "entry_points.txt").write_text("\n".join(lines))
    (dist_info / "INSTALLER").write_text("mountkit-tests\n")
    with open(dist_info / "RECORD", "w", newline="") as f:
        writer = csv.writer(f)
        for path in [*files, *sorted(dist_info.iterdir())]:
            writer.writerow([path.relative_to(site).as_posix(), "", ""])
        writer.writerow([(dist_info / "RECORD").relative_to(site).as_posix(), "", ""])
    return dist_info


def install(source: str | Path, site: Path) -> str:
    """Install the project in ``source`` (a directory name under tests/plugins/, or a path) into ``site``.

    Returns the distribution name.
    """
    src = Path(source)
    if not src.is_absolute():
        src = PLUGINS / src
    meta = tomllib.loads((src / "pyproject.toml").read_text())
    project = meta["project"]
    files = []
    for package in meta["tool"]["setuptools"]["packages"]:
        target = site / package.replace(".", "/")
        shutil.copytree(src / package.replace(".", "/"), target,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        files.extend(sorted(p for p in target.rglob("*") if p.is_file()))
    write_dist_info(site, project["name"], project["version"], project.get("entry-points", {}), files)
    return project["name"]


#: Top-level modules of the example distributions (and of the plugin `new-plugin` writes in the CLI tests).
TEST_MODULES = ("mountkit_example", "mountkit_broken_import", "mountkit_broken_hook", "mountkit_malformed",
                "mountkit_my_lenses")


def forget_test_modules() -> None:
    """Drop the example plugins' modules from sys.modules, so the next import finds them afresh."""
    import sys

    for name in list(sys.modules):
        if name.split(".")[0] in TEST_MODULES:
            del sys.modules[name]
