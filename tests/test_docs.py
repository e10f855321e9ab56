"""docs/plugins.md against the code: every hook with its exact signature, and its examples run."""

from __future__ import annotations

import inspect
import re
import sys
import textwrap
import types
from pathlib import Path

import pytest
from click.testing import CliRunner

import mountkit
from mountkit import hookspecs
from mountkit.cli import CORE_COMMANDS, make_cli
from mountkit.kit import STATUSES

ROOT = Path(__file__).resolve().parent.parent
GUIDE = ROOT / "docs" / "plugins.md"


def hookspec_functions() -> dict[str, object]:
    return {name: fn for name, fn in vars(hookspecs).items()
            if callable(fn) and hasattr(fn, f"{hookspecs.PROJECT}_spec")}


@pytest.fixture(scope="module")
def guide() -> str:
    return GUIDE.read_text(encoding="utf-8")


def headings(text: str) -> list[str]:
    return [m.group(1).strip() for m in re.finditer(r"^#{1,6} (.+)$", text, re.M)]


def python_blocks(text: str) -> list[str]:
    return [textwrap.dedent(m.group(2)) for m in re.finditer(r"^( *)```python\n(.*?)^\1```", text, re.M | re.S)]


def test_there_are_hooks():
    assert len(hookspec_functions()) >= 9


@pytest.mark.parametrize("name", sorted(hookspec_functions()))
def test_every_hook_is_documented_with_its_exact_signature(guide, name):
    fn = hookspec_functions()[name]
    signature = f"{name}{inspect.signature(fn)}"
    assert f"`{signature}`" in headings(guide), f"docs/plugins.md needs a heading `{signature}`"


def test_every_documented_hook_exists(guide):
    documented = {re.match(r"`(mountkit_\w+)\(", h).group(1) for h in headings(guide) if h.startswith("`mountkit_")}
    assert documented == set(hookspec_functions())


@pytest.mark.parametrize("name", sorted(hookspec_functions()))
def test_every_hookspec_docstring_says_what_and_when(name):
    doc = inspect.getdoc(hookspec_functions()[name])
    assert doc and "Called once" in doc and ".. versionadded::" in doc
    assert ("register(" in doc) or name == "mountkit_register_commands"


def test_statuses_environment_and_commands_are_documented(guide):
    for status in STATUSES:
        assert f"| `{status}` |" in guide
    sources = [ROOT / "mountkit" / "kit.py", ROOT / "mountkit" / "installer.py"]
    variables = set(re.findall(r"MOUNTKIT_[A-Z_]+", "".join(p.read_text() for p in sources)))
    assert variables >= {"MOUNTKIT_LOAD_PLUGINS", "MOUNTKIT_DISABLE_PLUGINS", "MOUNTKIT_TRACE_PLUGINS",
                         "MOUNTKIT_STRICT_PLUGINS", "MOUNTKIT_CONFIG_DIR"}
    for var in variables:
        assert f"| `{var}" in guide, f"{var} is missing from the environment table"
    for cmd in CORE_COMMANDS:
        assert f"mountkit {cmd.name}" in guide
    assert "[project.entry-points.mountkit]" in guide


@pytest.fixture
def exakta(guide, monkeypatch):
    """The guide's complete example, as the module mountkit_exakta."""
    [source] = [b for b in python_blocks(guide) if b.startswith("# mountkit_exakta/__init__.py")]
    module = types.ModuleType("mountkit_exakta")
    module.__file__ = "docs/plugins.md (mountkit_exakta/__init__.py)"
    monkeypatch.setitem(sys.modules, "mountkit_exakta", module)
    exec(compile(source, module.__file__, "exec"), module.__dict__)
    return module


def test_the_complete_example_works(exakta):
    import mountkit.cli  # noqa: F401 - the example's command uses mountkit.cli.get_kit

    kit = mountkit.Kit(plugins=[exakta], entry_points=False)
    [info] = [p for p in kit.plugins() if p.name == "mountkit_exakta"]
    assert info.status == "ok", info.error
    assert info.hooks == ("mountkit_register_commands", "mountkit_register_identifiers",
                          "mountkit_register_lens_sources", "mountkit_register_mounts")
    assert kit.mount("Exakta bayonet").flange_distance == 44.7
    lens = kit.lens("Tessar 50mm")
    assert lens.name == "Carl Zeiss Jena Tessar 50mm f/2.8" and not lens.calibrated and lens.source == "exakta"
    assert kit.identify({"LensModel": "Tessar 50mm f/2.8"}) is exakta.TESSAR
    assert kit.identify({"LensModel": "Summicron 50"}) is not exakta.TESSAR

    cli = make_cli(lambda **kw: mountkit.Kit(plugins=[exakta], entry_points=False, warn=False, **kw))
    result = CliRunner().invoke(cli, ["exakta"])
    assert result.exit_code == 0, result.output
    assert result.output == "Exakta: flange 44.7 mm\n"


def test_the_testing_examples_pass(guide, exakta):
    blocks = [b for b in python_blocks(guide) if "def test_" in b]
    assert len(blocks) == 2
    for block in blocks:
        namespace: dict = {}
        exec(compile(block, "docs/plugins.md", "exec"), namespace)
        tests = [fn for name, fn in namespace.items() if name.startswith("test_")]
        assert tests
        for test in tests:
            test()
