"""The template ``mountkit new-plugin`` writes: an installable plugin package.

The files under ``plugin/`` are :class:`string.Template` texts (``$dist``,
``$module``, ``$entry_point``, ``$title``, ``$mountkit_version``); a path
part ``__module__`` becomes the package name and the ``.tmpl`` suffix is
dropped.
"""

from __future__ import annotations

import os
import re
import shutil
import string
import tempfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from ..errors import MountkitError

_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9]*(?:[-_][A-Za-z0-9]+)*$")


@dataclass(frozen=True)
class PluginNames:
    """The names of a new plugin, all derived from the one the user gives.

    >>> PluginNames.from_name("my-lenses")
    PluginNames(dist='mountkit-my-lenses', module='mountkit_my_lenses', entry_point='my_lenses', title='My Lenses')
    """

    dist: str
    module: str
    entry_point: str
    title: str

    @classmethod
    def from_name(cls, name: str) -> PluginNames:
        short = re.sub(r"^mountkit[-_]", "", name.strip(), flags=re.IGNORECASE)
        if not _NAME.match(short):
            raise MountkitError(f"plugin name {name!r}: use letters, digits, '-' and '_', starting with a letter "
                                "(e.g. 'zeiss-contax' for the distribution mountkit-zeiss-contax)")
        short = short.lower().replace("_", "-")
        return cls(
            dist=f"mountkit-{short}",
            module=f"mountkit_{short.replace('-', '_')}",
            entry_point=short.replace("-", "_"),
            title=" ".join(w.capitalize() for w in short.split("-")),
        )


def _mountkit_version() -> str:
    try:
        from importlib.metadata import version

        v = version("mountkit")
    except Exception:  # not installed: a source checkout
        return "0.1"
    m = re.match(r"^(\d+)\.(\d+)", v)
    return f"{m.group(1)}.{m.group(2)}" if m else "0.1"


def new_plugin(name: str, directory: str | os.PathLike = ".") -> Path:
    """Write a new plugin package ``mountkit-NAME`` into ``directory`` and return its path.

    The package has a ``pyproject.toml`` declaring the ``mountkit`` entry
    point, a module with one hook implementation, a README and a test that
    passes once the package is installed (``pip install -e '.[test]' && pytest``).
    The directory is written completely or not at all; an existing one is
    never overwritten.
    """
    names = PluginNames.from_name(name)
    target = Path(directory) / names.dist
    if target.exists():
        raise MountkitError(f"{target} already exists; choose another name or directory (-o)")
    values = {
        "dist": names.dist,
        "module": names.module,
        "entry_point": names.entry_point,
        "title": names.title,
        "mountkit_version": _mountkit_version(),
    }
    root = resources.files(__name__) / "plugin"
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{names.dist}-", dir=target.parent))
    try:
        for rel, text in _walk(root):
            out = tmp / rel.replace("__module__", names.module).removesuffix(".tmpl")
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(string.Template(text).substitute(values), encoding="utf-8")
        os.rename(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def _walk(node, prefix: str = ""):
    """(relative path, text) of every ``.tmpl`` file under a resources directory."""
    for child in sorted(node.iterdir(), key=lambda c: c.name):
        rel = f"{prefix}{child.name}"
        if child.is_dir():
            if child.name != "__pycache__":
                yield from _walk(child, rel + "/")
        elif child.name.endswith(".tmpl"):
            yield rel, child.read_text(encoding="utf-8")
