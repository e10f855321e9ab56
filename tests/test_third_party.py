"""The third-party path, for real: wheels of the example plugins pip-installed next to mountkit in a fresh venv.

One virtual environment for the whole module (about a minute to build: it
installs mountkit from a copy of this working tree, with its dependencies
from pip's cache or index).  Every ``mountkit`` command runs as the console
script of that environment, so entry points, package data and the
interpreter-local pip are the installed ones, not this checkout's.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
BIN = "Scripts" if os.name == "nt" else "bin"


@dataclass
class Venv:
    root: Path
    python: Path
    wheels: dict[str, Path]
    config: Path

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("MOUNTKIT_", "PYTEST_")) and k not in ("PYTHONPATH", "VIRTUAL_ENV")}
        env["PATH"] = str(self.python.parent) + os.pathsep + env.get("PATH", "")
        env["MOUNTKIT_CONFIG_DIR"] = str(self.config)
        env.update(extra)
        return env

    def run(self, *args: str, env: dict[str, str] | None = None, cwd: Path | None = None,
            timeout: float = 600) -> subprocess.CompletedProcess:
        return subprocess.run([str(a) for a in args], capture_output=True, text=True, env=env or self.env(),
                              cwd=cwd or self.root, timeout=timeout)

    def mountkit(self, *args: str, **env: str) -> subprocess.CompletedProcess:
        return self.run(self.python.parent / "mountkit", *args, env=self.env(**env))

    def pip(self, *args: str) -> subprocess.CompletedProcess:
        proc = self.run(self.python, "-m", "pip", "--disable-pip-version-check", *args)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        return proc

    def manifest(self) -> list[dict]:
        path = self.config / "plugins.json"
        return json.loads(path.read_text())["plugins"] if path.exists() else []


def ok(proc: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert proc.returncode == 0, f"exit {proc.returncode}\nstdout:\n{proc.stdout[-3000:]}\nstderr:\n{proc.stderr[-3000:]}"
    return proc


def plugins(venv: Venv, **env: str) -> dict[str, dict]:
    return {p["name"]: p for p in json.loads(ok(venv.mountkit("plugins", "--json", **env)).stdout)}


@pytest.fixture(scope="module")
def venv(tmp_path_factory) -> Venv:
    root = tmp_path_factory.mktemp("third_party")
    # Build from a copy, so that no build/ or *.egg-info lands in the working tree.
    src = root / "src"
    shutil.copytree(REPO, src, ignore=shutil.ignore_patterns(
        ".git", "build", "dist", "*.egg-info", "__pycache__", ".pytest_cache", ".hypothesis", ".venv", "venv",
        "results"))
    subprocess.run([sys.executable, "-m", "venv", str(root / "venv")], check=True, timeout=300)
    venv = Venv(root=root, python=root / "venv" / BIN / ("python.exe" if os.name == "nt" else "python"),
                wheels={}, config=root / "config")
    # The build backend once, then no isolated build environments: faster, same result.
    # --no-compile: byte-compiling all of numpy and scipy up front costs more than the few modules imported.
    venv.pip("install", "-q", "--no-compile", "setuptools>=68", "wheel")
    venv.pip("install", "-q", "--no-compile", "--no-build-isolation", src)
    venv.pip("wheel", "-q", "--no-deps", "--no-build-isolation", "-w", root / "wheels",
             src / "tests" / "plugins" / "example", src / "tests" / "plugins" / "broken_import")
    for wheel in (root / "wheels").glob("*.whl"):
        venv.wheels[wheel.name.split("-")[0]] = wheel
    assert set(venv.wheels) == {"mountkit_example", "mountkit_broken_import"}
    return venv


def test_example_plugin_installs_works_hides_and_uninstalls(venv):
    wheel = venv.wheels["mountkit_example"]
    proc = ok(venv.mountkit("install", wheel))
    assert "Recorded mountkit-example in" in proc.stderr
    assert venv.manifest() == [{"name": "mountkit-example", "requirement": str(wheel), "editable": False}]

    # listed with its version, next to whatever else is installed
    listed = plugins(venv)
    ex = listed["example"]
    assert (ex["version"], ex["distribution"], ex["status"]) == ("1.2.3", "mountkit-example", "ok")
    assert ex["hooks"] == ["mountkit_register_commands", "mountkit_register_lens_sources",
                           "mountkit_register_mounts"]
    assert all(p["status"] == "ok" for p in listed.values()), listed  # the shipped plugins load cleanly

    # its mount and lens are usable
    mounts = {m["name"]: m for m in json.loads(ok(venv.mountkit("mounts", "--json",
                                                                 MOUNTKIT_LOAD_PLUGINS="example")).stdout)}
    assert mounts["Ricoh XR"]["flange_distance"] == 45.46 and mounts["Ricoh XR"]["source"] == "example"
    lenses = json.loads(ok(venv.mountkit("lenses", "--json", "Rikenon 1:1.4",
                                         MOUNTKIT_LOAD_PLUGINS="example")).stdout)
    assert [(lens["name"], lens["calibrated"], lens["kinds"], lens["source"]) for lens in lenses] == [
        ("Ricoh XR Rikenon 1:1.4 50mm", True, ["distortion", "tca"], "mountkit-example")]
    explained = json.loads(ok(venv.mountkit("lenses", "--explain", "Ricoh XR Rikenon 1:1.4 50mm", "--json")).stdout)
    assert explained["lens"]["calibrated"] is True
    assert "mountkit-example" in [explained["source"], *explained["shadowed"]]  # whichever source wins
    proc = ok(venv.mountkit("example-info", MOUNTKIT_LOAD_PLUGINS="example"))
    assert proc.stdout == "Ricoh XR: flange 45.46 mm; Ricoh XR Rikenon 1:1.4 50mm from mountkit-example\n"

    # MOUNTKIT_DISABLE_PLUGINS hides it
    assert plugins(venv, MOUNTKIT_DISABLE_PLUGINS="mountkit-example")["example"]["status"] == "disabled"
    mounts = json.loads(ok(venv.mountkit("mounts", "--json", MOUNTKIT_DISABLE_PLUGINS="example")).stdout)
    assert "Ricoh XR" not in [m["name"] for m in mounts]
    assert "example-info" not in ok(venv.mountkit("--help", MOUNTKIT_DISABLE_PLUGINS="example")).stdout

    # uninstall removes it, and its manifest entry
    ok(venv.mountkit("uninstall", "-y", "mountkit-example"))
    assert "example" not in plugins(venv)
    assert venv.manifest() == []
    assert venv.mountkit("example-info", MOUNTKIT_LOAD_PLUGINS="example").returncode == 2

    # the manifest brings back what `mountkit install` installed (as after reinstalling mountkit)
    ok(venv.mountkit("install", wheel))
    ok(venv.run(venv.python, "-m", "pip", "uninstall", "-y", "-q", "mountkit-example"))  # behind mountkit's back
    ok(venv.mountkit("install", "--restore"))
    assert plugins(venv, MOUNTKIT_LOAD_PLUGINS="example")["example"]["status"] == "ok"
    ok(venv.mountkit("uninstall", "-y", "mountkit-example"))


def test_plugin_that_raises_on_import_is_named_and_every_command_still_works(venv, tmp_path):
    ok(venv.mountkit("install", venv.wheels["mountkit_broken_import"]))
    try:
        broken = plugins(venv)["broken_import"]
        assert (broken["status"], broken["version"]) == ("failed", "0.1.0")
        assert broken["error"] == ("import failed: RuntimeError: mountkit-broken-import cannot be imported "
                                   "(on purpose)")

        for args in (["--help"], ["plugins"], ["mounts"], ["cameras", "--json"], ["lenses", "--json"]):
            proc = ok(venv.mountkit(*args))
            if args == ["plugins"]:  # shows it in its table instead
                assert "broken_import" in proc.stdout and "failed" in proc.stdout
                assert "Warning" not in proc.stderr
            else:
                assert proc.stderr.count("Warning: plugin 'broken_import': import failed: RuntimeError") == 1, \
                    (args, proc.stderr)
        ok(venv.mountkit("new-plugin", "after-breakage", "-o", tmp_path))
        assert (tmp_path / "mountkit-after-breakage" / "pyproject.toml").is_file()

        strict = venv.mountkit("mounts", MOUNTKIT_STRICT_PLUGINS="1")
        assert strict.returncode == 1
        assert "Error: plugin 'broken_import': import failed" in strict.stderr
    finally:
        # uninstall works even in strict mode, since it never loads a plugin
        ok(venv.mountkit("uninstall", "-y", "mountkit-broken-import", MOUNTKIT_STRICT_PLUGINS="1"))
    assert "broken_import" not in plugins(venv)
    assert "Warning" not in ok(venv.mountkit("mounts")).stderr


def test_new_plugin_installs_and_its_own_tests_pass(venv):
    gen = venv.root / "generated"
    ok(venv.mountkit("new-plugin", "zeiss-contax", "-o", gen))
    project = gen / "mountkit-zeiss-contax"
    ok(venv.mountkit("install", "-e", project))
    assert venv.manifest() == [{"name": "mountkit-zeiss-contax", "requirement": str(project), "editable": True}]
    info = plugins(venv, MOUNTKIT_LOAD_PLUGINS="zeiss_contax")["zeiss_contax"]
    assert (info["distribution"], info["version"], info["status"]) == ("mountkit-zeiss-contax", "0.1.0", "ok")

    venv.pip("install", "-q", "--no-compile", "pytest")
    proc = venv.run(venv.python, "-m", "pytest", "-q", "-p", "no:cacheprovider", cwd=project)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "2 passed" in proc.stdout

    ok(venv.mountkit("uninstall", "-y", "mountkit-zeiss-contax"))
    assert "zeiss_contax" not in plugins(venv)
