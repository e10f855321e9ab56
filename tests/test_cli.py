"""The command line, run in-process with click's CliRunner (pip-running paths: tests/test_third_party.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile

import click
import pytest
from click.testing import CliRunner
from plugin_dists import EXAMPLES, install

import mountkit
from mountkit import Kit, MountkitError, hookimpl, installer
from mountkit.cli import cli, make_cli

ALL_EXAMPLES = ",".join(EXAMPLES)
CORE = ["cameras", "install", "lenses", "mounts", "new-plugin", "plugins", "uninstall"]




@pytest.fixture(autouse=True)
def config_dir(tmp_path, monkeypatch):
    """Never touch the real user configuration directory."""
    path = tmp_path / "config"
    monkeypatch.setenv("MOUNTKIT_CONFIG_DIR", str(path))
    for var in ("MOUNTKIT_LOAD_PLUGINS", "MOUNTKIT_DISABLE_PLUGINS", "MOUNTKIT_TRACE_PLUGINS",
                "MOUNTKIT_STRICT_PLUGINS"):
        monkeypatch.delenv(var, raising=False)
    return path


def run(args, env=None, group=None):
    return CliRunner().invoke(group or cli, args, env=env, catch_exceptions=False)


def isolated(*plugins):
    """A kit factory for an isolated kit with just these plugins (and the built-ins)."""
    return lambda **kw: Kit(plugins=list(plugins), entry_points=False, warn=False, **kw)


def listed_commands(help_text: str) -> list[str]:
    lines = help_text.split("Commands:\n", 1)[1].splitlines()
    return [line.split()[0] for line in lines if line.startswith("  ") and line.split()]


# -- --help, --version, plugin commands ----------------------------------------


def test_version():
    result = run(["--version"])
    assert result.exit_code == 0
    assert result.stdout == f"mountkit, version {mountkit.__version__}\n"


def test_help_lists_core_and_plugin_commands(site):
    result = run(["--help"], env={"MOUNTKIT_LOAD_PLUGINS": "example"})
    assert result.exit_code == 0, result.output
    commands = listed_commands(result.stdout)
    assert set(CORE) <= set(commands)
    assert "example-info" in commands
    assert result.stderr == ""


def test_help_survives_broken_plugins_and_names_them_once(site):
    result = run(["--help"], env={"MOUNTKIT_LOAD_PLUGINS": ALL_EXAMPLES})
    assert result.exit_code == 0, result.output
    commands = listed_commands(result.stdout)
    assert set(CORE) | {"example-info"} <= set(commands)
    err = result.stderr
    assert err.count("Warning: plugin 'broken_import': import failed: RuntimeError: "
                     "mountkit-broken-import cannot be imported (on purpose)\n") == 1
    assert err.count("Warning: plugin 'broken_hook': mountkit_register_commands raised KeyError") == 1
    assert err.count("MOUNTKIT_DISABLE_PLUGINS") == 1  # one hint, not one per problem


def test_help_survives_strict_mode_with_a_broken_plugin(site):
    result = run(["--help"], env={"MOUNTKIT_LOAD_PLUGINS": ALL_EXAMPLES, "MOUNTKIT_STRICT_PLUGINS": "1"})
    assert result.exit_code == 0, result.output
    assert set(CORE) <= set(listed_commands(result.stdout))
    assert "plugin commands are unavailable: plugin 'broken_import'" in result.stderr


def test_strict_mode_makes_commands_that_need_plugins_fail(site):
    env = {"MOUNTKIT_LOAD_PLUGINS": "example,broken_import", "MOUNTKIT_STRICT_PLUGINS": "1"}
    result = run(["mounts"], env=env)
    assert result.exit_code == 1
    assert "Error: plugin 'broken_import': import failed: RuntimeError" in result.stderr
    result = run(["example-info"], env=env)
    assert result.exit_code == 1
    assert "plugin 'broken_import'" in result.stderr
    # commands that never load a plugin are unaffected
    assert run(["uninstall", "--help"], env=env).exit_code == 0
    assert run(["install", "--restore"], env=env).exit_code == 0


def test_plugin_command_gets_the_invocations_kit(site):
    result = run(["example-info"], env={"MOUNTKIT_LOAD_PLUGINS": "example"})
    assert result.exit_code == 0, result.output
    assert result.stdout == "Ricoh XR: flange 45.46 mm; Ricoh XR Rikenon 1:1.4 50mm from mountkit-example\n"


def test_each_invocation_gets_a_fresh_kit_and_fresh_plugin_commands(site):
    assert run(["example-info"], env={"MOUNTKIT_LOAD_PLUGINS": "example"}).exit_code == 0
    result = run(["example-info"], env={"MOUNTKIT_LOAD_PLUGINS": ""})
    assert result.exit_code == 2
    assert "No such command 'example-info'" in result.stderr


def test_plugins_cannot_replace_core_commands():
    class Hijack:
        @hookimpl
        def mountkit_register_commands(self, cli):
            @cli.command(name="uninstall")
            def fake():
                click.echo("hijacked")

    result = run(["uninstall", "mountkit"], group=make_cli(isolated(Hijack())))
    assert "hijacked" not in result.output
    assert "refusing to uninstall mountkit itself" in result.stderr
    assert "a plugin tried to replace the built-in command 'uninstall'" not in result.stderr  # not loaded at all
    result = run(["--help"], group=make_cli(isolated(Hijack())))
    assert "a plugin tried to replace the built-in command 'uninstall'" in result.stderr


def test_python_dash_m_mountkit():
    out = subprocess.run([sys.executable, "-m", "mountkit", "--version"], capture_output=True, text=True,
                         check=True, env={**os.environ, "MOUNTKIT_LOAD_PLUGINS": ""}).stdout
    assert out == f"mountkit, version {mountkit.__version__}\n"


# -- plugins --------------------------------------------------------------------


def test_plugins_json_lists_every_plugin_with_its_status(site):
    result = run(["plugins", "--json"], env={"MOUNTKIT_LOAD_PLUGINS": ALL_EXAMPLES})
    assert result.exit_code == 0, result.output
    infos = {i["name"]: i for i in json.loads(result.stdout)}
    assert {n: infos[n]["status"] for n in EXAMPLES} == {
        "example": "ok", "broken_import": "failed", "broken_hook": "partial", "malformed": "partial"}
    assert infos["example"]["version"] == "1.2.3"
    assert infos["example"]["distribution"] == "mountkit-example"
    assert infos["broken_import"]["error"].startswith("import failed: RuntimeError")
    assert any("mountkit_register_commands raised KeyError" in e for e in infos["broken_hook"]["errors"])
    assert not any(i["builtin"] for i in infos.values())
    assert result.stderr == ""  # the listing reports the problems itself


def test_plugins_all_includes_builtins_and_hook_filters(site):
    from mountkit.builtin import BUILTIN_PLUGINS

    infos = json.loads(run(["plugins", "--json", "--all"], env={"MOUNTKIT_LOAD_PLUGINS": ""}).stdout)
    assert [i["name"] for i in infos if i["builtin"]] == list(BUILTIN_PLUGINS)

    env = {"MOUNTKIT_LOAD_PLUGINS": ALL_EXAMPLES}
    for hook in ("register_lens_sources", "mountkit_register_lens_sources"):
        names = [i["name"] for i in json.loads(run(["plugins", "--json", "--hook", hook], env=env).stdout)]
        assert [n for n in names if n in EXAMPLES] == ["example", "malformed"]
    result = run(["plugins", "--hook", "register_lense_sources"], env=env)
    assert result.exit_code == 2
    assert "no hook named 'register_lense_sources'" in result.stderr


def test_plugins_table(site):
    result = run(["plugins"], env={"MOUNTKIT_LOAD_PLUGINS": "example,broken_import"})
    assert result.exit_code == 0
    rows = {line.split("│")[1].strip(): line for line in result.stdout.splitlines() if line.count("│") > 2}
    assert "1.2.3" in rows["example"] and "mountkit-example" in rows["example"] and " ok " in rows["example"]
    assert "lens_sources, mounts" in rows["example"]
    assert " failed " in rows["broken_import"] and "RuntimeError" in rows["broken_import"]


def test_plugins_in_strict_mode_lists_then_fails(site):
    result = run(["plugins", "--json"], env={"MOUNTKIT_LOAD_PLUGINS": "example,broken_import",
                                             "MOUNTKIT_STRICT_PLUGINS": "1"})
    assert result.exit_code == 1
    assert {i["name"]: i["status"] for i in json.loads(result.stdout)}["broken_import"] == "failed"
    ok = run(["plugins", "--json"], env={"MOUNTKIT_LOAD_PLUGINS": "example", "MOUNTKIT_STRICT_PLUGINS": "1"})
    assert ok.exit_code == 0


def test_disabled_plugins_are_listed_as_disabled_and_contribute_nothing(site):
    env = {"MOUNTKIT_LOAD_PLUGINS": "example", "MOUNTKIT_DISABLE_PLUGINS": "mountkit-example"}
    infos = {i["name"]: i for i in json.loads(run(["plugins", "--json"], env=env).stdout)}
    assert infos["example"]["status"] == "disabled"
    mounts = json.loads(run(["mounts", "--json"], env=env).stdout)
    assert "Ricoh XR" not in [m["name"] for m in mounts]


def test_trace_goes_to_stderr(site):
    result = run(["mounts", "--json"], env={"MOUNTKIT_LOAD_PLUGINS": "example", "MOUNTKIT_TRACE_PLUGINS": "1"})
    assert result.exit_code == 0
    json.loads(result.stdout)  # stdout stays clean JSON
    assert "mountkit-trace: mountkit_register_mounts <- example: Mount(name='Ricoh XR'" in result.stderr


# -- mounts, cameras, lenses --------------------------------------------------------


def test_mounts(example):
    group = make_cli(isolated(example))
    mounts = {m["name"]: m for m in json.loads(run(["mounts", "--json"], group=group).stdout)}
    assert mounts["Ricoh XR"] == {"name": "Ricoh XR", "flange_distance": 45.46, "throat_diameter": None,
                                  "compatible": ["Pentax K"], "aliases": [],
                                  "notes": "Pentax K bayonet with an extra aperture contact",
                                  "source": "mountkit_example"}
    table = run(["mounts"], group=group).stdout
    [row] = [line for line in table.splitlines() if "Ricoh XR" in line]
    assert [c.strip() for c in row.split("│")[1:-1]] == ["Ricoh XR", "45.46", "", "Pentax K", "mountkit_example"]


class PentaxKr:
    """The Pentax K-r body: 23.6 x 15.8 mm sensor, 4288 x 2848 pixels, 12 bits."""

    @hookimpl
    def mountkit_register_cameras(self, register):
        register(mountkit.Camera(maker="Pentax", model="K-r", mount="Pentax K", sensor_width=23.6,
                                 sensor_height=15.8, resolution=(4288, 2848), bit_depth=12))


def test_cameras_with_query():
    group = make_cli(isolated(PentaxKr()))
    cams = json.loads(run(["cameras", "--json", "pentax k-r"], group=group).stdout)
    assert len(cams) == 1
    cam = cams[0]
    assert (cam["name"], cam["mount"], cam["resolution"], cam["source"]) == ("Pentax K-r", "Pentax K",
                                                                             [4288, 2848], "PentaxKr")
    crop = (36**2 + 24**2) ** 0.5 / (23.6**2 + 15.8**2) ** 0.5
    assert cam["crop_factor"] == pytest.approx(crop)
    assert cam["pixel_pitch"] == pytest.approx(1000 * 23.6 / 4288)
    table = run(["cameras", "K-r"], group=group).stdout
    [row] = [line for line in table.splitlines() if "K-r" in line]
    assert [c.strip() for c in row.split("│")[1:-1]] == [
        "Pentax K-r", "Pentax K", "23.6 x 15.8", f"{crop:.3f}", "4288 x 2848", "12", "PentaxKr"]
    assert json.loads(run(["cameras", "--json", "Nikon"], group=group).stdout) == []
    result = run(["cameras", "Nikon"], group=group)
    assert result.exit_code == 1 and "no camera matches 'Nikon'" in result.stderr


def test_lenses_query_json_and_table(example):
    group = make_cli(isolated(example))
    lenses = json.loads(run(["lenses", "--json", "rikenon 50mm"], group=group).stdout)
    assert [lens["name"] for lens in lenses] == ["Ricoh XR Rikenon 1:1.4 50mm"]
    lens = lenses[0]
    assert (lens["calibrated"], lens["kinds"], lens["crop_factor"], lens["source"]) == (
        True, ["distortion", "tca"], 1.523, "mountkit-example")
    assert (lens["focal_min"], lens["focal_max"], lens["aperture_max"], lens["mounts"]) == (
        50, 50, 1.4, ["Ricoh XR", "Pentax K"])
    table = run(["lenses", "Rikenon"], group=group).stdout
    [row] = [line for line in table.splitlines() if "Rikenon" in line]
    assert [c.strip() for c in row.split("│")[1:-1]] == [
        "Ricoh XR Rikenon 1:1.4 50mm", "Ricoh XR, Pentax K", "50", "1.4", "distortion, tca", "mountkit-example"]


def test_lenses_without_match_lists_closest(example):
    result = run(["lenses", "Rikenon 55mm"], group=make_cli(isolated(example)))
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: no lens matches 'Rikenon 55mm'; closest: 'Ricoh XR Rikenon 1:1.4 50mm'")


def test_lenses_explain(example):
    class Shadowed:
        """A second source with the same lens identity, searched after the example's."""

        @hookimpl
        def mountkit_register_lens_sources(self, register):
            register(mountkit.LensSource("later-source", lambda: [example.RIKENON.__class__(
                maker="Ricoh", model="Ricoh XR Rikenon 1:1.4 50mm")], priority=90))

    group = make_cli(isolated(example, Shadowed()))
    found = json.loads(run(["lenses", "--explain", "Rikenon 1:1.4", "--json"], group=group).stdout)
    assert found["lens"]["name"] == "Ricoh XR Rikenon 1:1.4 50mm"
    assert found["source"] == "mountkit-example"
    assert found["shadowed"] == ["later-source"]
    text = run(["lenses", "--explain", "Rikenon 1:1.4"], group=group).stdout
    assert "-> Ricoh XR Rikenon 1:1.4 50mm" in text
    assert "calibrated: distortion, tca (calibration crop factor 1.523)" in text
    assert "data from: lensfun database, data/db/slr-ricoh.xml (CC-BY-SA-3.0)" in text
    assert "shadows: later-source" in text
    result = run(["lenses", "--explain", "Summaron 28"], group=group)
    assert result.exit_code == 1 and "Error: no lens matches 'Summaron 28'" in result.stderr
    assert run(["lenses", "x", "--explain", "y"], group=group).exit_code == 2


def test_plugin_problems_are_printed_once_on_stderr(site):
    result = run(["mounts", "--json"], env={"MOUNTKIT_LOAD_PLUGINS": ALL_EXAMPLES})
    assert result.exit_code == 0, result.output
    mounts = {m["name"]: m for m in json.loads(result.stdout)}
    assert mounts["Ricoh XR"]["source"] == "example" and mounts["Exakta"]["source"] == "malformed"
    assert "Half-registered mount" not in mounts
    lines = result.stderr.splitlines()
    warnings = [line for line in lines if line.startswith("Warning: plugin ")]
    assert len(warnings) == len(set(warnings))
    assert [w.split("'")[1] for w in warnings] == ["broken_import", "broken_hook", "broken_hook",
                                                   "malformed", "malformed"]
    assert len(lines) == len(warnings) + 1  # and one hint
    assert all(len(line) < 300 for line in lines)


# -- install, uninstall (without running pip) ------------------------------------------


def test_install_needs_something_to_install():
    result = run(["install"])
    assert result.exit_code == 2
    assert "name one or more plugins to install" in result.stderr


def test_install_restore_with_an_empty_manifest(config_dir):
    result = run(["install", "--restore"])
    assert result.exit_code == 0
    assert result.stdout == f"Nothing to restore: {config_dir / 'plugins.json'} lists no plugins.\n"


def test_uninstall_refuses_mountkit_itself():
    result = run(["uninstall", "-y", "Mountkit"])
    assert result.exit_code == 1
    assert "refusing to uninstall mountkit itself" in result.stderr


def test_manifest_round_trip_and_merge(config_dir):
    E = installer.ManifestEntry
    assert installer.read_manifest() == []
    path = installer.write_manifest([E("mountkit-example", "mountkit-example>=1"),
                                     E("mountkit_dev", "/src/dev", editable=True)])
    assert path == config_dir / "plugins.json"
    assert sorted(p.name for p in config_dir.iterdir()) == ["plugins.json"]  # no temporary file left
    assert json.loads(path.read_text())["version"] == 1
    entries = installer.read_manifest()
    assert entries == [E("mountkit-example", "mountkit-example>=1"), E("mountkit_dev", "/src/dev", True)]
    merged = installer.merge_entries(entries, [E("Mountkit.Example", "mountkit-example==2.0")])
    assert merged == [E("Mountkit.Example", "mountkit-example==2.0"), E("mountkit_dev", "/src/dev", True)]
    assert installer.remove_entries(merged, ["MOUNTKIT-DEV"]) == [E("Mountkit.Example", "mountkit-example==2.0")]


def test_corrupt_manifest_is_an_error_naming_the_file(config_dir):
    config_dir.mkdir()
    (config_dir / "plugins.json").write_text('{"plugins": [{"name": "x"}]}')
    with pytest.raises(MountkitError, match="plugins.json: not a mountkit plugin manifest"):
        installer.read_manifest()
    result = run(["install", "--restore"])
    assert result.exit_code == 1 and "fix or delete the file" in result.stderr


def test_requirement_names(tmp_path):
    name = installer.requirement_name
    assert name("mountkit-foo") == "mountkit-foo"
    assert name("mountkit_foo[test] >= 1.2; python_version >= '3.10'") == "mountkit_foo"
    assert name("mountkit-foo @ https://example.org/x.whl") == "mountkit-foo"
    assert name("git+https://github.com/someone/mountkit-foo#egg=mountkit-foo") == "mountkit-foo"
    assert name("https://example.org/dl/mountkit_foo-1.0-py3-none-any.whl") == "mountkit_foo"
    assert name("https://example.org/dl/mountkit-foo-1.0.tar.gz") == "mountkit-foo"
    assert name(str(installer.Path(__file__).parent / "plugins" / "example")) == "mountkit-example"
    assert name(str(tmp_path)) is None  # a directory that is not a project
    wheel = tmp_path / "mountkit_foo-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr("mountkit_foo-1.0.dist-info/METADATA", "Metadata-Version: 2.1\nName: Mountkit.Foo\nVersion: 1.0\n")
    assert name(str(wheel)) == "Mountkit.Foo"
    assert installer.local_path(str(wheel)) == wheel.resolve()
    assert installer.local_path("mountkit-foo") is None


# -- new-plugin ------------------------------------------------------------------------


def test_new_plugin_writes_a_package_whose_own_tests_pass(tmp_path):
    result = run(["new-plugin", "My_Lenses", "-o", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    project = tmp_path / "out" / "mountkit-my-lenses"
    assert result.stdout.startswith(f"Wrote {project}\n")
    assert sorted(str(p.relative_to(project)) for p in project.rglob("*") if p.is_file()) == [
        "README.md", "mountkit_my_lenses/__init__.py", "pyproject.toml", "tests/test_mountkit_my_lenses.py"]
    pyproject = (project / "pyproject.toml").read_text()
    assert '[project.entry-points.mountkit]\nmy_lenses = "mountkit_my_lenses"' in pyproject
    assert 'name = "mountkit-my-lenses"' in pyproject

    # install it (as pip would, into a directory) and run its own tests there
    site = tmp_path / "site"
    site.mkdir()
    install(project, site)
    env = {**os.environ, "PYTHONPATH": str(site)}
    for var in [v for v in env if v.startswith("MOUNTKIT_") or v.startswith("PYTEST_")]:
        del env[var]
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"], cwd=project,
                          capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "2 passed" in proc.stdout

    again = run(["new-plugin", "my-lenses", "-o", str(tmp_path / "out")])
    assert again.exit_code == 1 and "already exists" in again.stderr
    bad = run(["new-plugin", "3d-lenses", "-o", str(tmp_path / "out")])
    assert bad.exit_code == 1 and "plugin name '3d-lenses'" in bad.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["mountkit-my-lenses"]


def test_names_from_a_real_pip_report(tmp_path):
    """For a project whose name cannot be read without building it, the name comes from pip's report."""
    project = tmp_path / "legacy"
    project.mkdir()
    (project / "setup.py").write_text(
        "from setuptools import setup\n"
        "setup(name='mountkit-legacy', version='0.3', py_modules=['mountkit_legacy'],\n"
        "      entry_points={'mountkit': ['legacy = mountkit_legacy']})\n")
    (project / "mountkit_legacy.py").write_text("")
    assert installer.requirement_name(str(project)) is None
    report = tmp_path / "report.json"
    proc = subprocess.run([sys.executable, "-m", "pip", "install", "--dry-run", "--no-deps", "--no-build-isolation",
                           "--no-index", "-q", "--report", str(report), str(project)],
                          capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    names = installer._names_from_report(report)
    assert names[str(project.resolve())] == "mountkit-legacy"
