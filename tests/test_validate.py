"""Profile validation: the schema (file, key path, expected type) and each physical check."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import mountkit
from mountkit import Calibration, Lens, LensProfile, Provenance
from mountkit.formats import toml_profile as tp
from mountkit.models import DistortionModel
from mountkit.profile_sources import shipped_profiles_dir
from mountkit.validate import (
    TCA_TOLERANCE,
    VIGNETTING_FACTOR_MAX,
    check_lens,
    distortion_problem,
    load_schema,
    validate_file,
    validate_paths,
    vignetting_problem,
)

REPO_PROFILES = Path(__file__).resolve().parent.parent / "profiles"
PROV = Provenance(source="test", licence="CC0-1.0")


@pytest.fixture(scope="module")
def kit():
    return mountkit.Kit(entry_points=False)


def lens_with(*cals, focal=(28.0, 28.0), aspect=1.5, model="Test 28mm f/2") -> Lens:
    return Lens(maker="Acme", model=model, mounts=("Leica M",), focal_min=focal[0], focal_max=focal[1],
                profile=LensProfile(crop_factor=1.0, aspect_ratio=aspect, calibrations=tuple(cals), provenance=PROV))


def issues(lens, kit, check=None):
    out = check_lens(lens, kit)
    return [i for i in out if check is None or i.check == check]


# -- the shipped profiles -----------------------------------------------------------


def test_every_shipped_profile_validates_cleanly(kit):
    files = sorted(REPO_PROFILES.rglob("*.toml"))
    assert len(files) >= 8
    report = validate_paths([REPO_PROFILES], kit)
    assert [str(i) for i in report.issues] == []
    assert {f.kind for f in report.files} == {"lens"}
    # the installed data package is the same directory (editable) or a copy of it (wheel)
    installed = sorted(p.relative_to(shipped_profiles_dir()) for p in shipped_profiles_dir().rglob("*.toml"))
    assert installed == [p.relative_to(REPO_PROFILES) for p in files]


def test_shipped_profiles_carry_provenance_and_lensfun_licence(kit):
    for f in sorted(REPO_PROFILES.rglob("*.toml")):
        lens = tp.load_lens(f)
        prov = lens.profile.provenance
        assert prov.licence == "CC-BY-SA-3.0", f
        assert "lensfun database" in prov.source and "commit 1c8b8f078aae6104c810702790efe38e672b5bb9" in prov.source
        assert prov.body, f"{f}: no body"
        assert "Leica M" in lens.mounts


def test_schema_is_valid_draft_2020_12():
    import jsonschema

    jsonschema.Draft202012Validator.check_schema(load_schema())


# -- schema errors name file, key path and expected type ------------------------------------


def test_schema_errors_in_a_file(tmp_path, kit):
    p = tmp_path / "bad.toml"
    p.write_text('format_version = 1\n[lens]\nmaker = "A"\nmodel = "B"\nfocal_min = "wide"\naliases = "x"\n'
                 '[calibration]\ncrop_factor = 1.0\n[[calibration.tca]]\nmodel = "poly3"\nfocal = 28\n'
                 'params = { vr = true }\n')
    rep = validate_file(p, kit)
    got = {(i.path, i.message) for i in rep.issues}
    assert ("lens.focal_min", "expected a finite number, got string 'wide'") in got
    assert ("lens.aliases", "expected an array, got string 'x'") in got
    assert ("calibration.tca[0].params.vr", "expected a finite number, got boolean True") in got
    assert all(i.file == str(p) and i.check == "schema" and i.severity == "error" for i in rep.issues)


def test_toml_and_version_errors_are_issues_not_crashes(tmp_path, kit):
    a = tmp_path / "a.toml"
    a.write_text("format_version = 1\n[lens\n")
    b = tmp_path / "b.toml"
    b.write_text('format_version = 7\n[lens]\nmaker = "A"\nmodel = "B"\n')
    c = tmp_path / "c.toml"
    c.write_text("")
    rep = validate_paths([tmp_path], kit)
    by_file = {Path(f.file).name: f.issues for f in rep.files}
    assert by_file["a.toml"][0].check == "toml" and "not valid TOML" in by_file["a.toml"][0].message
    assert by_file["b.toml"][0].check == "format-version"
    assert "unsupported format_version 7" in by_file["b.toml"][0].message
    assert "empty" in by_file["c.toml"][0].message
    assert not rep.ok


# -- physical checks, each with its message -------------------------------------------------


def test_plausible_profile_has_no_issues(kit):
    lens = lens_with(Calibration("distortion", "ptlens", 28, {"a": 0.0135748, "b": -0.0502846, "c": 0.0486119}),
                     Calibration("tca", "poly3", 28, {"vr": 1.0001441, "vb": 0.999967}),
                     Calibration("vignetting", "pa", 28, {"k1": -0.5, "k2": 0.1, "k3": 0.0}, aperture=2, distance=10))
    assert issues(lens, kit) == []


def test_distortion_folding_over_inside_the_frame(kit):
    # poly3 with k1 = -0.5: r_d = r (1.5 - 0.5 r^2) stops increasing at r = 1, inside the 3:2 corner at 1.80
    lens = lens_with(Calibration("distortion", "poly3", 28, {"k1": -0.5}))
    (i,) = issues(lens, kit, "distortion-monotonic")
    assert i.path == "calibration.distortion[0]" and "folds over at r = 1.000" in i.message and "1.803" in i.message
    # k1 = -0.1 folds at r = sqrt(1.1 / 0.3) = 1.91, just beyond the 3:2 corner (1.80): fine
    assert distortion_problem(kit.model("distortion", "poly3"), {"k1": -0.1}, 1.5) is None
    # but not on a 16:9 calibration frame, whose corner is at 2.04
    assert "folds over at r = 1.91" in distortion_problem(kit.model("distortion", "poly3"), {"k1": -0.1}, 16 / 9)


def test_distortion_not_finite(kit):
    lens = lens_with(Calibration("distortion", "poly5", 28, {"k1": 1e308, "k2": 1e308}))
    (i,) = issues(lens, kit, "distortion-monotonic")
    assert "not finite" in i.message


def test_non_radial_distortion_checked_by_jacobian(kit):
    m = kit.model("distortion", "adobe")
    good = {"fx": 3.0, "fy": 3.0, "cx": 0.05, "cy": -0.02, "k1": -0.1, "k2": 0.01, "k3": 0.0, "k4": 1e-4, "k5": -1e-4}
    assert distortion_problem(m, good, 1.5) is None
    bad = dict(good, k1=-2.0)  # r/fx reaches 0.6: 1 - 2 r^2 folds at r = 0.41
    assert "folds over near" in distortion_problem(m, bad, 1.5)


def test_tca_scale_outside_one_percent(kit):
    lens = lens_with(Calibration("tca", "poly3", 28, {"vr": 1.0 + 2 * TCA_TOLERANCE, "vb": 1.0}))
    (i,) = issues(lens, kit, "tca-range")
    assert "red scale factor reaches 1.02000" in i.message and i.path == "calibration.tca[0]"
    lens = lens_with(Calibration("tca", "linear", 28, {"kr": 1.0, "kb": 0.98}))
    (i,) = issues(lens, kit, "tca-range")
    assert "blue scale factor reaches 0.98000" in i.message


@pytest.mark.parametrize("k, words", [
    ((-2.0, 0.0, 0.0), "relative illumination falls to"),
    ((-0.95, 0.0, 0.0), f"beyond the plausible {VIGNETTING_FACTOR_MAX:g}"),
    ((1.5, 0.0, 0.0), "below the plausible 0.5 (corners brighter"),
    ((1e308, 1e308, 1e308), "not finite"),
])
def test_vignetting_implausible(kit, k, words):
    params = dict(zip(("k1", "k2", "k3"), k, strict=True))
    lens = lens_with(Calibration("vignetting", "pa", 28, params, aperture=2, distance=10))
    (i,) = issues(lens, kit, "vignetting-range")
    assert words in i.message and "f/2" in i.message


def test_vignetting_bounds_match_the_falloff(kit):
    m = kit.model("vignetting", "pa")
    # c(1) = 1 - 0.9 = 0.1 -> factor 10, inside the bounds; 0.05 -> 20, outside
    assert vignetting_problem(m, {"k1": -0.9, "k2": 0.0, "k3": 0.0}) is None
    assert vignetting_problem(m, {"k1": -0.95, "k2": 0.0, "k3": 0.0}) is not None


def test_focal_outside_declared_range(kit):
    lens = lens_with(Calibration("distortion", "poly3", 35, {"k1": 0.0}), focal=(28.0, 28.0))
    (i,) = issues(lens, kit, "focal-range")
    assert i.path == "calibration.distortion[0].focal" and "35 mm is outside the lens's range 28-28 mm" in i.message


def test_unknown_model_and_parameters(kit):
    lens = lens_with(Calibration("distortion", "division", 28, {"k": 0.1}),
                     Calibration("tca", "poly3", 28, {"vr": 1.0, "zz": 1.0}))
    (u,) = issues(lens, kit, "unknown-model")
    assert u.path == "calibration.distortion[0].model"
    assert "unknown distortion model 'division'" in u.message and "poly3" in u.message and "ptlens" in u.message
    (p,) = issues(lens, kit, "parameters")
    assert "no parameter(s) ['zz']" in p.message


class DivisionModel(DistortionModel):
    name = "division"
    params = ("k",)
    defaults = {"k": 0.0}

    def radial_factor(self, r, p):
        return 1.0 / (1.0 + p["k"] * r * r)


class DivisionPlugin:
    @mountkit.hookimpl
    def mountkit_register_correction_models(self, register):
        register(DivisionModel())


def test_a_model_from_a_plugin_is_known_and_checked():
    kit = mountkit.Kit(plugins=[DivisionPlugin()], entry_points=False)
    assert issues(lens_with(Calibration("distortion", "division", 28, {"k": 0.05})), kit) == []
    (i,) = issues(lens_with(Calibration("distortion", "division", 28, {"k": 2.0})), kit, "distortion-monotonic")
    assert "folds over" in i.message


def test_duplicate_sets_and_mixed_models(kit):
    lens = lens_with(Calibration("distortion", "poly3", 28, {"k1": 0.01}),
                     Calibration("distortion", "poly3", 28, {"k1": 0.01}),
                     Calibration("distortion", "ptlens", 28, {"a": 0.0, "b": 0.0, "c": 0.0}))
    (d,) = issues(lens, kit, "duplicate-set")
    assert d.path == "calibration.distortion[1]" and "same as calibration.distortion[0]" in d.message
    (m,) = issues(lens, kit, "mixed-models")
    assert m.severity == "warning" and "poly3, ptlens" in m.message


def test_missing_provenance_is_a_warning(kit):
    lens = Lens("Acme", "X", profile=LensProfile(1.0, calibrations=(Calibration("distortion", "poly3", 28, {}),)))
    got = {i.path: i.severity for i in check_lens(lens, kit)}
    assert got == {"provenance.licence": "warning", "provenance.source": "warning"}


def test_duplicate_identities_across_files(tmp_path, kit):
    lens = lens_with(Calibration("distortion", "poly3", 28, {"k1": 0.01}))
    tp.save(lens, tmp_path / "a.toml")
    # the same lens spelled in capitals with doubled spaces: the same identity, as lensfun compares names
    tp.save(replace(lens, model=lens.model.upper().replace(" ", "  ")), tmp_path / "sub" / "b.toml")
    # the same name calibrated on another sensor is another profile
    tp.save(replace(lens, profile=replace(lens.profile, crop_factor=2.0)), tmp_path / "c.toml")
    rep = validate_paths([tmp_path], kit)
    dups = [i for i in rep.issues if i.check == "duplicate-identity"]
    assert len(dups) == 1
    assert dups[0].file.endswith("b.toml") and "a.toml" in dups[0].message and "duplicate lens" in dups[0].message


# -- the command ----------------------------------------------------------------------


def _run(args):
    from mountkit.cli import make_cli

    return CliRunner().invoke(make_cli(lambda **kw: mountkit.Kit(entry_points=False, **kw)), args)


def test_cli_validate_exit_codes_and_json(tmp_path):
    good = tmp_path / "good.toml"
    tp.save(lens_with(Calibration("distortion", "poly3", 28, {"k1": 0.01})), good)
    r = _run(["profile", "validate", str(good)])
    assert r.exit_code == 0, r.output
    assert "0 error(s)" in r.output
    bad = tmp_path / "bad.toml"
    tp.save(lens_with(Calibration("tca", "poly3", 28, {"vr": 1.05}), model="Other 28mm"), bad)
    r = _run(["profile", "validate", str(tmp_path), "--json"])
    assert r.exit_code == 1
    doc = json.loads(r.output)
    assert doc["ok"] is False and doc["errors"] == 1
    (f,) = [f for f in doc["files"] if f["file"] == str(bad)]
    (issue,) = f["issues"]
    assert issue["path"] == "calibration.tca[0]" and issue["check"] == "tca-range"
    r = _run(["profile", "validate", str(bad)])
    assert r.exit_code == 1 and "tca-range" in r.output and str(bad) in r.output


def test_cli_validate_shipped_profiles():
    r = _run(["profile", "validate", str(REPO_PROFILES)])
    assert r.exit_code == 0, r.output
    assert "0 error(s), 0 warning(s)" in r.output


def test_validate_nothing_is_an_error(tmp_path):
    r = _run(["profile", "validate", str(tmp_path)])
    assert r.exit_code != 0 and "no profile files" in r.output


def test_checks_are_vectorised_over_many_samples(kit):
    # the radial check looks at every sample: a fold narrower than a tenth of the radius is found
    m = kit.model("distortion", "ptlens")
    r = np.linspace(0, 1.8, 2001)
    p = {"a": 0.2, "b": -0.7, "c": 0.4}
    rd = r * m.radial_factor(r, p)
    assert (np.diff(rd) <= 0).any() == (distortion_problem(m, p, 1.5) is not None)


def test_foreign_formats_are_pointed_to_import(tmp_path, kit):
    p = tmp_path / "db.xml"
    p.write_text("<lensdatabase/>")
    (i,) = validate_file(p, kit).issues
    assert "lensfun XML file, not a mountkit profile" in i.message and "mountkit profile import" in i.message
