"""The plugin registry: isolation, entry points, environment variables, broken plugins, look-ups."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
import types
import warnings

import click
import pytest
from plugin_dists import EXAMPLES, TEST_MODULES, write_dist_info

import mountkit
from mountkit import Kit, LensSource, NotFoundError, PluginError, PluginWarning, hookimpl, hookspecs
from mountkit.kit import STATUSES, Identifier, normalize_name

HOOKS = sorted(n for n in dir(hookspecs) if n.startswith("mountkit_"))




def info(kit: Kit, name: str):
    found = [i for i in kit.plugins(all=True) if i.name == name]
    assert len(found) == 1, [i.name for i in kit.plugins(all=True)]
    return found[0]


def example_statuses(kit: Kit) -> dict[str, str]:
    """Status of the four example plugins (other installed plugins are not this test's business)."""
    return {i.name: i.status for i in kit.plugins() if i.name in EXAMPLES}


def quiet_kit(**kw) -> Kit:
    """A kit whose plugin problems are recorded, not warned about."""
    return Kit(warn=False, **kw)


def module_plugin(name: str, **functions) -> types.ModuleType:
    mod = types.ModuleType(name)
    for fname, fn in functions.items():
        setattr(mod, fname, fn)
    return mod


# -- isolation and import-time behaviour -----------------------------------------


def test_importing_mountkit_loads_no_plugin(site):
    code = ("import json, sys, mountkit, mountkit_example; "
            "print(json.dumps(sorted(m for m in sys.modules if m.startswith('mountkit'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={"PYTHONPATH": str(site), "PATH": ""}).stdout
    loaded = json.loads(out)
    assert "mountkit_example" in loaded  # importable, and imported only because the code asked
    assert not [m for m in loaded if m.startswith("mountkit_") and m != "mountkit_example"]


def test_isolated_kit_uses_only_the_plugins_given(site, example):
    kit = Kit(plugins=[example], entry_points=False)
    mount = kit.mount("Ricoh XR")
    assert mount.flange_distance == 45.46
    assert mount.source == "mountkit_example"
    assert [i.name for i in kit.plugins()] == ["mountkit_example"]
    assert info(kit, "mountkit_example").status == "ok"
    assert info(kit, "mountkit_example").hooks == (
        "mountkit_register_commands", "mountkit_register_lens_sources", "mountkit_register_mounts")
    # installed distributions on sys.path are not looked at
    assert "mountkit_broken_import" not in sys.modules
    assert not any(p.distribution == "mountkit-example" for p in kit.plugins(all=True))


def test_plugin_given_as_module_name(site):
    kit = Kit(plugins=["mountkit_example"], entry_points=False)
    assert kit.mount("ricoh xr").name == "Ricoh XR"
    assert info(kit, "mountkit_example").module == "mountkit_example"


def test_objects_of_one_class_get_distinct_names():
    class Adds:
        def __init__(self, mount):
            self.mount = mount

        @hookimpl
        def mountkit_register_mounts(self, register):
            register(self.mount)

    kit = Kit(plugins=[Adds(mountkit.Mount("Exakta", 44.7)), Adds(mountkit.Mount("Leica R", 47.0))],
              entry_points=False, builtins=False)
    assert set(kit.mounts()) == {"Exakta", "Leica R"}
    assert [i.name for i in kit.plugins()] == ["Adds", "Adds-2"]
    assert {m.source for m in kit.mounts().values()} == {"Adds", "Adds-2"}


def test_the_same_module_twice_is_reported_and_the_first_kept(site, example):
    kit = quiet_kit(plugins=[example, "mountkit_example"], entry_points=False, builtins=False)
    infos = kit.plugins()
    assert [(i.name, i.status) for i in infos] == [("mountkit_example", "ok"), ("mountkit_example", "failed")]
    assert "already registered" in infos[1].error
    assert kit.mount("Ricoh XR").source == "mountkit_example"


def test_builtins_register_through_the_same_hooks(site, monkeypatch):
    # A module listed in BUILTIN_PLUGINS is registered on the same manager and hooks as any plugin ...
    monkeypatch.setattr("mountkit.builtin.BUILTIN_PLUGINS", ("mountkit_example",))
    kit = Kit(entry_points=False)
    assert kit.plugins() == []  # built-ins are listed with all=True only
    builtin = info(kit, "mountkit_example")
    assert builtin.builtin and builtin.status == "ok"
    assert builtin.distribution == "mountkit"
    assert kit.plugin_manager.get_plugin("mountkit_example") is sys.modules["mountkit_example"]
    assert kit.mount("Ricoh XR").source == "mountkit_example"
    # ... and with builtins=False it is not.
    assert "Ricoh XR" not in Kit(entry_points=False, builtins=False).mounts()


def test_shipped_builtins_load_cleanly():
    from mountkit.builtin import BUILTIN_PLUGINS

    kit = Kit(entry_points=False)  # PluginWarning is an error in this test suite
    infos = {i.name: i for i in kit.plugins(all=True)}
    assert list(infos) == list(BUILTIN_PLUGINS)
    for name in BUILTIN_PLUGINS:
        assert infos[name].builtin and infos[name].status == "ok", infos[name].error
        assert infos[name].hooks and set(infos[name].hooks) <= set(HOOKS), name
        assert kit.plugin_manager.get_plugin(name) is sys.modules[name]


# -- entry points and the environment ----------------------------------------------


def test_entry_points_of_installed_distributions(site):
    kit = Kit(env={"MOUNTKIT_LOAD_PLUGINS": "example"})
    ex = info(kit, "example")
    assert (ex.version, ex.distribution, ex.module, ex.status) == ("1.2.3", "mountkit-example",
                                                                   "mountkit_example", "ok")
    assert "mountkit_register_mounts" in ex.hooks
    assert kit.mount("Ricoh XR").source == "example"
    lens = kit.lens("Rikenon 1:1.4 50mm")
    assert lens.calibrated and lens.source == "mountkit-example"
    assert lens.profile.crop_factor == 1.523
    assert lens.profile.of_kind("distortion")[0].params["k1"] == -0.00302
    json.dumps([i.as_dict() for i in kit.plugins(all=True)])  # serialisable as `mountkit plugins --json`


@pytest.mark.parametrize("value", ["example", "mountkit-example", "MOUNTKIT_EXAMPLE", " example , nothing-else"])
def test_load_plugins_by_entry_point_or_distribution_name(site, value):
    kit = quiet_kit(env={"MOUNTKIT_LOAD_PLUGINS": value})
    statuses = {i.name: i.status for i in kit.plugins()}
    assert statuses["example"] == "ok"
    for other in ("broken_import", "broken_hook", "malformed"):
        assert statuses[other] == "disabled"
    assert "mountkit_broken_import" not in sys.modules
    # every other entry point installed in this environment is left out too
    assert {s for n, s in statuses.items() if n != "example"} <= {"disabled", "missing"}


def test_load_plugins_empty_string_loads_none(site):
    kit = Kit(env={"MOUNTKIT_LOAD_PLUGINS": ""})
    entry_point_plugins = [i for i in kit.plugins(all=True) if not i.builtin]
    assert {i.name for i in entry_point_plugins} >= {"example", "broken_import", "broken_hook", "malformed"}
    assert {i.status for i in entry_point_plugins} == {"disabled"}
    assert not any(m.split(".")[0] in TEST_MODULES for m in sys.modules)
    assert "Ricoh XR" not in kit.mounts()
    assert kit.problems() == []


def test_load_plugins_naming_an_absent_plugin_is_reported(site):
    with pytest.warns(PluginWarning, match="no-such-plugin"):
        kit = Kit(env={"MOUNTKIT_LOAD_PLUGINS": "example,no_such.plugin"})
    missing = info(kit, "no-such-plugin")
    assert missing.status == "missing"
    assert "MOUNTKIT_LOAD_PLUGINS" in missing.error
    assert info(kit, "example").status == "ok"


def test_disable_plugins(site):
    env = {"MOUNTKIT_LOAD_PLUGINS": ",".join(EXAMPLES),
           "MOUNTKIT_DISABLE_PLUGINS": "broken_import,Mountkit-Broken-Hook,mountkit-malformed"}
    kit = Kit(env=env)  # nothing broken is loaded, so nothing is warned about
    assert example_statuses(kit) == {
        "broken_hook": "disabled", "broken_import": "disabled", "example": "ok", "malformed": "disabled"}
    assert "mountkit_broken_import" not in sys.modules and "mountkit_malformed" not in sys.modules
    assert kit.problems() == []
    # disabling wins over loading
    kit = Kit(env={"MOUNTKIT_LOAD_PLUGINS": "example", "MOUNTKIT_DISABLE_PLUGINS": "example"})
    assert info(kit, "example").status == "disabled"
    assert "Ricoh XR" not in kit.mounts()


def test_trace_plugins_prints_hook_calls_and_results_to_stderr(site, capsys):
    kit = Kit(env={"MOUNTKIT_LOAD_PLUGINS": "example", "MOUNTKIT_TRACE_PLUGINS": "1"})
    kit.mounts()
    kit.lenses()
    out, err = capsys.readouterr()
    assert out == ""
    assert "mountkit-trace: registered example (mountkit_example)" in err
    assert "mountkit-trace: calling mountkit_register_mounts in example" in err
    assert "mountkit-trace: mountkit_register_mounts <- example: Mount(name='Ricoh XR'" in err
    assert "mountkit-trace: mountkit_register_lens_sources <- example: LensSource(name='mountkit-example'" in err
    assert "mountkit-trace: disabled broken_import" in err

    Kit(env={"MOUNTKIT_LOAD_PLUGINS": "example"}).mounts()
    assert capsys.readouterr().err == ""


def test_strict_plugins_turns_failures_into_errors(site):
    with pytest.raises(PluginError) as exc:
        Kit(env={"MOUNTKIT_STRICT_PLUGINS": "1", "MOUNTKIT_LOAD_PLUGINS": "example,broken_import"})
    assert exc.value.plugin == "broken_import"
    assert "import failed: RuntimeError: mountkit-broken-import cannot be imported" in str(exc.value)

    kit = Kit(env={"MOUNTKIT_STRICT_PLUGINS": "yes", "MOUNTKIT_LOAD_PLUGINS": "broken_hook"})
    with pytest.raises(PluginError, match="broken_hook.*mountkit_register_mounts raised ValueError"):
        kit.mounts()

    kit = Kit(env={"MOUNTKIT_STRICT_PLUGINS": "1", "MOUNTKIT_LOAD_PLUGINS": "malformed"})
    with pytest.raises(PluginError, match="malformed.*expected a mountkit.Mount, got dict"):
        kit.mounts()

    # strict=False overrides the environment
    kit = quiet_kit(strict=False, env={"MOUNTKIT_STRICT_PLUGINS": "1", "MOUNTKIT_LOAD_PLUGINS": "broken_import"})
    assert info(kit, "broken_import").status == "failed"


# -- broken plugins are reported by name and skipped -------------------------------


def test_plugin_that_fails_to_import(site):
    with pytest.warns(PluginWarning, match="'broken_import' skipped: import failed: RuntimeError"):
        kit = Kit(env={"MOUNTKIT_LOAD_PLUGINS": "example,broken_import"})
    broken = info(kit, "broken_import")
    assert broken.status == "failed"
    assert broken.error == "import failed: RuntimeError: mountkit-broken-import cannot be imported (on purpose)"
    assert (broken.version, broken.distribution) == ("0.1.0", "mountkit-broken-import")
    assert broken.hooks == ()
    assert kit.problems() == [("broken_import", broken.error)]
    assert kit.mount("Ricoh XR").source == "example"  # the rest keep working


def test_hook_that_raises_is_rolled_back_and_reported(site):
    kit = quiet_kit(env={"MOUNTKIT_LOAD_PLUGINS": "example,broken_hook"})
    mounts = kit.mounts()
    assert "Ricoh XR" in mounts
    assert "Half-registered mount" not in mounts  # registered before the hook raised: rolled back
    broken = info(kit, "broken_hook")
    assert broken.status == "partial"
    assert broken.error.startswith("mountkit_register_mounts raised ValueError: mount table is corrupt (on purpose) (")
    assert "mountkit_broken_hook" in broken.error  # the file and line at fault

    cli = click.Group("mountkit")
    kit.add_commands(cli)
    assert "example-info" in cli.commands
    assert any("mountkit_register_commands raised KeyError" in e for e in info(kit, "broken_hook").errors)


def test_hook_failure_keeps_the_plugins_other_hooks(example):
    class Half:
        @hookimpl
        def mountkit_register_mounts(self, register):
            raise OSError("mount file missing")

        @hookimpl
        def mountkit_register_lens_sources(self, register):
            register(LensSource("half", lambda: [example.RIKENON]))

    kit = quiet_kit(plugins=[Half()], entry_points=False, builtins=False)
    assert kit.mounts() == {}
    assert [lens.name for lens in kit.lenses()] == ["Ricoh XR Rikenon 1:1.4 50mm"]
    assert info(kit, "Half").status == "partial"
    assert kit.problems()[0][1].startswith("mountkit_register_mounts raised OSError: mount file missing")


def test_malformed_registrations_are_dropped_and_reported(site):
    kit = quiet_kit(env={"MOUNTKIT_LOAD_PLUGINS": "malformed"})
    assert kit.mount("Exakta").flange_distance == 44.7  # the valid registration survives
    assert kit.lenses("Tessar") == []
    bad = info(kit, "malformed")
    assert bad.status == "partial"
    assert bad.errors == [
        "mountkit_register_mounts: expected a mountkit.Mount, got dict",
        "mountkit_register_mounts: malformed registration: TypeError: "
        + bad.errors[1].split("TypeError: ", 1)[1],
        "lens source 'malformed-lenses' yielded str, not a mountkit.Lens",
    ]
    assert "missing 1 required positional argument" in bad.errors[1]


def test_invalid_values_are_rejected_with_the_plugins_name():
    class Bad:
        @hookimpl
        def mountkit_register_lens_sources(self, register):
            register(LensSource("bad", self.load))

        def load(self):
            return [mountkit.Lens("Zeiss", "Tessar 50mm f/2.8", focal_min=-50)]

    kit = quiet_kit(plugins=[Bad()], entry_points=False, builtins=False)
    assert kit.lenses() == []
    [(plugin, reason)] = kit.problems()
    assert plugin == "Bad"
    assert reason.startswith("lens source 'bad' raised ProfileError: ")
    assert "focal_min must be a positive finite number, got -50" in reason


def test_warn_false_records_problems_without_warning(site):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        kit = Kit(env={"MOUNTKIT_LOAD_PLUGINS": ",".join(EXAMPLES)}, warn=False)
        kit.plugins()
    assert not [w for w in caught if issubclass(w.category, PluginWarning)]
    assert {name for name, _ in kit.problems()} == {"broken_import", "broken_hook", "malformed"}
    assert example_statuses(kit) == {
        "broken_hook": "partial", "broken_import": "failed", "example": "ok", "malformed": "partial"}
    assert all(i.status in STATUSES for i in kit.plugins(all=True))


def test_same_entry_point_name_in_two_distributions(site):
    write_dist_info(site, "mountkit-example-fork", "9.0", {"mountkit": {"example": "mountkit_example"}})
    importlib.invalidate_caches()
    kit = quiet_kit(env={"MOUNTKIT_LOAD_PLUGINS": "example"})
    first, second = [i for i in kit.plugins() if i.name == "example"]
    assert (first.distribution, first.status) == ("mountkit-example", "ok")
    assert (second.distribution, second.status) == ("mountkit-example-fork", "failed")
    assert "already used by mountkit-example" in second.error


# -- the hook contract -------------------------------------------------------------


def test_unknown_hook_is_an_error_naming_the_plugin():
    def mountkit_register_mount(register):  # one letter short
        register(mountkit.Mount("Exakta", 44.7))

    def mountkit_register_cameras(register):
        raise AssertionError("a plugin with an unknown hook must not be called at all")

    typo = module_plugin("typo_plugin", mountkit_register_mount=hookimpl(mountkit_register_mount),
                         mountkit_register_cameras=hookimpl(mountkit_register_cameras))
    with pytest.warns(PluginWarning, match="typo_plugin"):
        kit = Kit(plugins=[typo], entry_points=False, builtins=False)
    bad = info(kit, "typo_plugin")
    assert bad.status == "failed"
    assert "unknown hook implementation(s): mountkit_register_mount (did you mean mountkit_register_mounts?)" \
        in bad.error
    assert kit.cameras() == [] and kit.mounts() == {}
    assert kit.plugin_manager.get_plugin("typo_plugin") is None

    with pytest.raises(PluginError) as exc:
        Kit(plugins=[typo], entry_points=False, builtins=False, strict=True)
    assert exc.value.plugin == "typo_plugin"


def test_unmarked_mountkit_functions_are_hook_implementations_too():
    def mountkit_register_mounts(register):
        register(mountkit.Mount("Exakta", 44.7))

    def mountkit_regsiter_cameras(register):
        pass

    good = module_plugin("unmarked", mountkit_register_mounts=mountkit_register_mounts)
    assert Kit(plugins=[good], entry_points=False, builtins=False).mount("Exakta").source == "unmarked"

    typo = module_plugin("unmarked_typo", mountkit_regsiter_cameras=mountkit_regsiter_cameras)
    kit = quiet_kit(plugins=[typo], entry_points=False, builtins=False)
    assert "mountkit_regsiter_cameras (did you mean mountkit_register_cameras?)" in info(kit, "unmarked_typo").error


def test_optional_hooks_newer_than_mountkit_are_allowed():
    def mountkit_register_future_things(register):
        pass

    def mountkit_register_mounts(register):
        register(mountkit.Mount("Exakta", 44.7))

    plugin = module_plugin("forward", mountkit_register_future_things=hookimpl(optionalhook=True)(
        mountkit_register_future_things), mountkit_register_mounts=mountkit_register_mounts)
    kit = Kit(plugins=[plugin], entry_points=False, builtins=False)
    assert info(kit, "forward").status == "ok"
    assert info(kit, "forward").hooks == ("mountkit_register_mounts",)
    assert "Exakta" in kit.mounts()


def test_argument_not_in_the_hookspec_is_refused():
    def mountkit_register_mounts(register, kit):
        pass

    kit = quiet_kit(plugins=[module_plugin("extra_arg", mountkit_register_mounts=mountkit_register_mounts)],
                    entry_points=False, builtins=False)
    bad = info(kit, "extra_arg")
    assert bad.status == "failed"
    assert "registration refused: PluginValidationError" in bad.error and "'kit'" in bad.error
    assert kit.plugin_manager.get_plugin("extra_arg") is None


def test_hook_wrappers_are_refused():
    def mountkit_register_mounts(register):
        yield

    plugin = module_plugin("wrapper", mountkit_register_mounts=hookimpl(wrapper=True)(mountkit_register_mounts))
    kit = quiet_kit(plugins=[plugin], entry_points=False, builtins=False)
    assert "hook wrappers are not supported" in info(kit, "wrapper").error


def test_implementation_may_take_no_arguments():
    calls = []

    def mountkit_register_mounts():
        calls.append(1)

    kit = Kit(plugins=[module_plugin("noargs", mountkit_register_mounts=mountkit_register_mounts)],
              entry_points=False, builtins=False)
    assert kit.mounts() == {} and calls == [1]
    kit.mounts()
    assert calls == [1]  # hooks are called once per kit


# -- look-ups ----------------------------------------------------------------------


def test_lens_lookup_raises_lookup_error_listing_closest_names(example):
    kit = Kit(plugins=[example], entry_points=False)
    assert kit.lens("ricoh xr rikenon 1:1.4 50mm") is kit.lens("Rikenon 50mm")
    with pytest.raises(LookupError) as exc:
        kit.lens("Ricoh XR Rikenon 1:1.4 55mm")
    assert isinstance(exc.value, NotFoundError)
    assert "Ricoh XR Rikenon 1:1.4 50mm" in exc.value.suggestions
    assert "no lens matches 'Ricoh XR Rikenon 1:1.4 55mm'; closest: " in str(exc.value)
    assert "'Ricoh XR Rikenon 1:1.4 50mm'" in str(exc.value)

    with pytest.raises(LookupError) as exc:
        kit.mount("Ricoh X")
    assert "Ricoh XR" in exc.value.suggestions


def test_identify_reports_a_raising_identifier_by_plugin_and_asks_the_next(example):
    class Identifiers:
        @hookimpl
        def mountkit_register_identifiers(self, register):
            register(Identifier("crashes", self.crash, priority=10))
            register(Identifier("by-lens-model", self.by_model, priority=20))

        @staticmethod
        def crash(metadata, kit):
            raise KeyError("LensType")

        @staticmethod
        def by_model(metadata, kit):
            return kit.lens(metadata["LensModel"]) if "LensModel" in metadata else None

    kit = quiet_kit(plugins=[example, Identifiers()], entry_points=False)
    lens = kit.identify({"Make": "PENTAX", "LensModel": "Ricoh XR Rikenon 1:1.4 50mm"})
    assert lens is example.RIKENON or lens.model == example.RIKENON.model
    assert kit.identify({"Make": "PENTAX"}) is None
    ident = info(kit, "Identifiers")
    assert ident.status == "partial"
    assert ident.errors == ["identifier 'crashes' raised KeyError: 'LensType'"]


def test_normalize_name():
    assert normalize_name("Mountkit_Leica.M") == normalize_name("mountkit-leica-m") == "mountkit-leica-m"


def test_a_mountkit_error_raised_inside_a_hook_is_isolated_too():
    def mountkit_register_mounts(register):
        raise PluginError("some-other-plugin", "raised from a plugin's own code")

    kit = quiet_kit(plugins=[module_plugin("raises_plugin_error", mountkit_register_mounts=mountkit_register_mounts)],
                    entry_points=False, builtins=False)
    assert kit.mounts() == {}
    assert "mountkit_register_mounts raised PluginError" in info(kit, "raises_plugin_error").error
