"""Profile sources and search order, lensfun import/export (checked through lensfunpy), new/show/report, packaging."""

from __future__ import annotations

import base64
import json
import math
import os
import re
import shutil
import struct
import subprocess
import sys
import warnings
from dataclasses import replace
from pathlib import Path

import lensfunpy
import numpy as np
import pytest
from click.testing import CliRunner

import mountkit
from mountkit import Calibration, Camera, Lens, LensProfile, ProfileError, Provenance
from mountkit.formats import toml_profile as tp
from mountkit.formats.lensfun_import import body_from_comment, import_lensfun_xml
from mountkit.profile_sources import ProfileWarning, profile_dirs, shipped_profiles_dir
from mountkit.profile_tools import export_lensfun, import_profiles, new_profile

REPO = Path(__file__).resolve().parent.parent
SHIPPED = sorted((REPO / "profiles").rglob("*.toml"))
SUMMICRON = "Summicron-M 1:2/28 Asph."


@pytest.fixture
def dirs(tmp_path, monkeypatch):
    """Isolated profile directories: two MOUNTKIT_PROFILE_PATH entries and the user data directory."""
    a, b, data = tmp_path / "a", tmp_path / "b", tmp_path / "xdg-data"
    for d in (a, b, data):
        d.mkdir()
    monkeypatch.setenv("MOUNTKIT_PROFILE_PATH", os.pathsep.join([str(a), str(b)]))
    monkeypatch.setenv("XDG_DATA_HOME", str(data))
    user = data / "mountkit" / "profiles"
    return a, b, user


def make_kit(**kw):
    """A kit with the built-ins and, of the entry points, only the lensfun database (priority 90)."""
    return mountkit.Kit(env={"MOUNTKIT_LOAD_PLUGINS": "lensfun"}, **kw)


def variant(path: Path, k: float, note: str) -> Lens:
    """The shipped Summicron-M 28 with another ptlens b, saved to ``path``."""
    lens = tp.load_lens(REPO / "profiles" / "leica" / "summicron-m-1-2-28-asph.toml")
    cals = tuple(replace(c, params={**c.params, "b": k}) if c.kind == "distortion" else c
                 for c in lens.profile.calibrations)
    lens = replace(lens, profile=replace(lens.profile, calibrations=cals,
                                         provenance=Provenance(source=note, licence="CC0-1.0")))
    tp.save(lens, path)
    return lens


# -- where profiles come from ----------------------------------------------------------


def test_profile_dirs_in_search_order(dirs):
    a, b, user = dirs
    got = [(d.name, d.path, d.priority) for d in profile_dirs()]
    assert got == [(f"profile-path:{a}", a, 10), (f"profile-path:{b}", b, 10), ("user-profiles", user, 20),
                   ("shipped-profiles", shipped_profiles_dir(), 50)]


def test_shipped_profiles_load_and_shadow_the_lensfun_database(dirs):
    kit = make_kit()
    lens = kit.lens(SUMMICRON)
    assert Path(lens.source) == shipped_profiles_dir() / "leica" / "summicron-m-1-2-28-asph.toml"
    assert lens.leica_code == 26 and lens.profile.provenance.body == "Leica M9 Digital Camera"
    found = kit.explain_lens(SUMMICRON)
    assert [s for s, _ in found["shadowed"]] == ["lensfun"]
    # every shipped profile is a lens the kit finds under its own name, from the shipped directory
    for f in SHIPPED:
        shipped = tp.load_lens(f)
        assert Path(kit.lens(shipped.model).source).name == f.name


def test_search_order_is_user_first(dirs):
    a, b, user = dirs
    variant(user / "leica" / "s28.toml", -0.04, "user")
    kit = make_kit()
    assert kit.lens(SUMMICRON).profile.provenance.source == "user"
    variant(b / "s28.toml", -0.03, "b")
    kit = make_kit()
    assert kit.lens(SUMMICRON).profile.provenance.source == "b"
    variant(a / "deep" / "s28.toml", -0.02, "a")
    kit = make_kit()
    lens = kit.lens(SUMMICRON)
    assert lens.profile.provenance.source == "a" and lens.source == str(a / "deep" / "s28.toml")
    found = kit.explain_lens(SUMMICRON)
    assert found["source"] == str(a / "deep" / "s28.toml")
    assert [s for s, _ in found["shadowed"]] == [f"profile-path:{b}", "user-profiles", "shipped-profiles", "lensfun"]
    assert [Path(f).name for _, f in found["shadowed"][:3]] == ["s28.toml", "s28.toml",
                                                                  "summicron-m-1-2-28-asph.toml"]


def test_lenses_explain_command_shows_the_winning_file(dirs):
    from mountkit.cli import make_cli

    a, b, user = dirs
    variant(a / "s28.toml", -0.02, "mine")
    r = CliRunner().invoke(make_cli(lambda **kw: make_kit(**kw)), ["lenses", "--explain", SUMMICRON])
    assert r.exit_code == 0, r.output
    assert str(a / "s28.toml") in r.output
    assert "shipped-profiles" in r.output and "lensfun" in r.output
    r = CliRunner().invoke(make_cli(lambda **kw: make_kit(**kw)), ["lenses", "--explain", SUMMICRON, "--json"])
    doc = json.loads(r.output)
    assert doc["source"] == str(a / "s28.toml")
    assert doc["shadowed"] == [f"profile-path:{a}"][:0] + ["shipped-profiles", "lensfun"]


def test_a_broken_file_is_skipped_with_a_warning_and_the_rest_load(dirs):
    a, _, _ = dirs
    (a / "broken.toml").write_text("format_version = 1\n[lens]\nmaker = 'A'\n")
    variant(a / "good.toml", -0.02, "good")
    with pytest.warns(ProfileWarning, match=r"broken.toml.*missing required key 'model'"):
        kit = make_kit()
        lens = kit.lens(SUMMICRON)
    assert lens.profile.provenance.source == "good"


def test_camera_files_become_bodies(dirs):
    a, _, _ = dirs
    cam = Camera(maker="Xiaomi", model="12S Ultra Concept (test rig)", mount="Leica M", sensor_width=13.1072,
                 sensor_height=9.8304, resolution=(8192, 6144), bit_depth=10)
    tp.save(cam, a / "cameras" / "rig.toml")
    kit = mountkit.Kit(entry_points=False)
    got = kit.camera("12S Ultra Concept (test rig)", maker="Xiaomi")
    assert got.resolution == (8192, 6144) and got.source == str(a / "cameras" / "rig.toml")


# -- lensfun import (database versions 1 and 2) ---------------------------------------------

V2 = """<!DOCTYPE lensdatabase SYSTEM "lensfun-database.dtd">
<lensdatabase version="2">
    <mount><name>Leica M</name><compat>M39/1</compat></mount>
    <camera>
        <maker>Leica Camera AG</maker><model>Leica M11</model><mount>Leica M</mount><cropfactor>1</cropfactor>
    </camera>
    <lens>
        <maker>Acme</maker>
        <model>Acme 35mm f/2</model>
        <model lang="en">Acme Thirty-Five</model>
        <mount>Leica M</mount>
        <cropfactor>1.0</cropfactor>
        <calibration>
            <!-- Taken with Leica M11, at home -->
            <distortion model="ptlens" focal="35" a="0.01" b="-0.03" c="0.02" real-focal="35.4"/>
            <tca model="poly3" focal="35" vr="1.0002" vb="0.9998"/>
            <vignetting model="pa" focal="35" aperture="2" distance="10" k1="-0.6" k2="0.1" k3="-0.02"/>
        </calibration>
        <calibration cropfactor="2.0" aspect-ratio="1.3333333333333333">
            <!-- Taken with an Olympus E-M5 -->
            <distortion model="poly3" focal="35" k1="-0.004"/>
        </calibration>
        <calibration>
            <tca model="linear" focal="35" kr="1.0001" kb="0.9999"/>
        </calibration>
    </lens>
</lensdatabase>
"""


def test_version_2_per_calibration_crop_factor_and_aspect_ratio():
    got = import_lensfun_xml(V2.encode(), "acme.xml")
    assert got.version == 2
    by_crop = {lens.profile.crop_factor: lens for lens in got.lenses}
    assert sorted(by_crop) == [1.0, 2.0]
    ff, m43 = by_crop[1.0], by_crop[2.0]
    assert ff.profile.aspect_ratio == 1.5 and [c.kind for c in ff.profile.calibrations] == [
        "distortion", "tca", "vignetting"]
    # the third block inherits the attributes of the second (lensfun master's parser keeps them)
    assert m43.profile.aspect_ratio == 4 / 3
    assert [(c.kind, c.model) for c in m43.profile.calibrations] == [("distortion", "poly3"), ("tca", "linear")]
    assert ff.profile.provenance.body == "Leica M11" and m43.profile.provenance.body == "Olympus E-M5"
    assert ff.aliases == ("Acme Thirty-Five",) and ff.profile.provenance.licence == "CC-BY-SA-3.0"
    assert [c.model for c in got.cameras] == ["Leica M11"]


def test_version_1_file_bundled_with_lensfunpy():
    import importlib.resources as ir

    data = (ir.files("lensfunpy") / "db_files" / "rf-leica.xml").read_bytes()
    got = import_lensfun_xml(data, "rf-leica.xml")
    assert got.version == 1 and len(got.lenses) == 4
    lens = next(x for x in got.lenses if x.model == "Summicron-M 1:2/50")
    assert lens.profile.provenance.body == "Leica M (Typ 240)"
    assert "Model 11819/11825/11826/11816" in lens.profile.provenance.notes


@pytest.mark.parametrize("comment, body", [
    ("Taken with Leica M9 Digital Camera", "Leica M9 Digital Camera"),
    ("Taken Leica M (Typ 240)", "Leica M (Typ 240)"),
    ("Taken with ILCE-7CM2, tca & vignetting coefficients fitted", "ILCE-7CM2"),
    ("Model 11819/11825", None),
])
def test_body_from_comment(comment, body):
    assert body_from_comment(comment) == body


def test_import_command_all_or_nothing(tmp_path):
    good = tmp_path / "acme.xml"
    good.write_text(V2)
    bad = tmp_path / "bad.xml"
    bad.write_text(V2.replace('k1="-0.004"', 'k1="nan"'))
    out = tmp_path / "out"
    with pytest.raises(ProfileError) as ei:
        import_profiles([good, bad], out)
    assert "bad.xml" in str(ei.value) and "\n" not in str(ei.value)
    assert not out.exists()
    res = import_profiles([good], out)
    names = sorted(str(p.relative_to(out)) for p in res.paths)
    assert names == ["acme/35mm-f-2-crop1.toml", "acme/35mm-f-2-crop2.toml", "cameras/leica/leica-m11.toml"]
    with pytest.raises(mountkit.MountkitError, match="already exists"):
        import_profiles([good], out)


@pytest.mark.parametrize("text, words", [
    ("", "empty"),
    ("<lensdatabase version='3'/>", "version 3 is not supported"),
    ("<lensdatabase version='1'><lens>", "not well-formed"),
    ("<other/>", "expected <lensdatabase>"),
    ('<!DOCTYPE l [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]><lensdatabase version="1">&b;</lensdatabase>',
     "billion laughs"),
    ('<!DOCTYPE l [<!ENTITY e SYSTEM "file:///etc/passwd">]><lensdatabase version="1">&e;</lensdatabase>',
     "refused"),
    (V2.replace('cropfactor="2.0"', 'cropfactor="-2"'), "positive"),
    (V2.replace('cropfactor="2.0"', 'crop="2.0"'), "no attribute 'crop'"),
])
def test_bad_lensfun_xml(text, words):
    with pytest.raises(ProfileError) as ei:
        import_lensfun_xml(text.encode(), "db.xml")
    assert words in str(ei.value) and "db.xml" in str(ei.value) and "\n" not in str(ei.value)


def test_hundred_megabyte_xml_is_refused(tmp_path):
    p = tmp_path / "huge.xml"
    with open(p, "wb") as fh:
        fh.truncate(100 * 2**20)
    with pytest.raises(ProfileError, match="larger than"):
        import_profiles([p], tmp_path / "out")
    assert not (tmp_path / "out").exists()


# -- export to lensfun, checked through lensfunpy -----------------------------------------


def _lensfunpy_lens(lens: Lens, tmp_path: Path):
    path = tmp_path / "export.xml"
    export_lensfun(lens, path, force=True)
    db = lensfunpy.Database(paths=[str(path)], load_common=False, load_bundled=False)
    (lf,) = db.lenses
    return lf


@pytest.mark.parametrize("profile", SHIPPED, ids=lambda p: p.stem)
def test_exported_profile_corrects_like_mountkit_in_lensfunpy(profile, tmp_path):
    lens = tp.load_lens(profile)
    lf = _lensfunpy_lens(lens, tmp_path)
    assert (lf.model, lf.crop_factor) == (lens.model, lens.profile.crop_factor)
    kit = mountkit.Kit(entry_points=False)
    focal = lens.focal_min
    vig = lens.profile.vignetting
    aperture, distance = (vig[0].aperture, vig[0].distance) if vig else (2.8, 1000.0)
    d = lf.interpolate_distortion(focal)
    assert d is not None and np.allclose(d.terms[:3], [lens.profile.distortion[0].params.get(k, 0.0) for k in
                                                       {"ptlens": "abc", "poly3": ["k1"], "poly5": ["k1", "k2"]}[
                                                           lens.profile.distortion[0].model]] + [0.0] * (
        3 - len({"ptlens": "abc", "poly3": ["k1"], "poly5": ["k1", "k2"]}[lens.profile.distortion[0].model])),
        rtol=1e-6, atol=1e-9)
    for crop, (w, h) in ((1.0, (600, 400)), (2.6408, (640, 480))):  # full frame; the 1-inch sensor (4:3)
        mod = lensfunpy.Modifier(lf, crop, w, h)
        mod.initialize(focal, aperture, distance, scale=1.0, pixel_format=np.float32)
        ref = mod.apply_subpixel_geometry_distortion()
        cor = kit.corrector(lens, crop_factor=crop, size=(w, h), focal=focal, aperture=aperture, distance=distance)
        diff = np.abs(cor.source_coordinates() - ref)
        # lensfunpy (liblensfun 0.3.4) walks the grid in float32 and has an SSE lane bug in ptlens/poly3
        assert diff.mean() < 0.005 and diff.max() < 0.1, (crop, diff.mean(), diff.max())
        if vig:
            ones = np.ones((h, w, 3), np.float32)
            mod.apply_color_modification(ones)
            assert np.allclose(ones[..., 1], cor.vignetting_gain(), rtol=1e-4)


def test_export_command_writes_xml_lensfunpy_loads(tmp_path):
    from mountkit.cli import make_cli

    out = tmp_path / "nokton.xml"
    cli = make_cli(lambda **kw: mountkit.Kit(entry_points=False, **kw))
    src = REPO / "profiles" / "voigtlander" / "voigtlander-nokton-28mm-f1.5-aspherical.toml"
    r = CliRunner().invoke(cli, ["profile", "export", str(src), "--format", "lensfun", "-o", str(out)])
    assert r.exit_code == 0, r.output
    db = lensfunpy.Database(paths=[str(out)], load_common=False, load_bundled=False)
    (lf,) = db.lenses
    assert len(lf.calib_vignetting) == 12 and lf.mounts == ["Sony E", "Nikon Z", "Leica M"]
    r = CliRunner().invoke(cli, ["profile", "export", str(src), "-o", str(out)])
    assert r.exit_code != 0 and "already exists" in r.output
    r = CliRunner().invoke(cli, ["profile", "export", "Voigtlander Nokton 28mm F1.5 Aspherical"])
    assert r.exit_code == 0 and r.output.startswith("<lensdatabase")


def test_toml_lensfun_toml_round_trip(tmp_path):
    for f in SHIPPED:
        lens = tp.load_lens(f)
        back = import_lensfun_xml(export_lensfun(lens).encode(), "x.xml").lenses[0]
        assert back.profile.calibrations == lens.profile.calibrations
        assert (back.maker, back.model, back.mounts, back.focal_min, back.aperture_max) == (
            lens.maker, lens.model, lens.mounts, lens.focal_min, lens.aperture_max)


# -- new, show, report ------------------------------------------------------------------


def _cli(**kw):
    from mountkit.cli import make_cli

    return make_cli(lambda **k: mountkit.Kit(env={"MOUNTKIT_LOAD_PLUGINS": "leica_m"}, **{**kw, **k}))


def test_new_profile_from_flags_validates(tmp_path, dirs):
    out = tmp_path / "new"
    r = CliRunner().invoke(_cli(), ["profile", "new", "--maker", "Leica", "--model", "Summilux-M 1:1.4/35 ASPH.",
                                    "--focal", "35", "--aperture", "1.4", "--crop-factor", "2.6408",
                                    "--aspect-ratio", "4:3", "--author", "me", "-o", str(out)])
    assert r.exit_code == 0, r.output
    path = Path(r.output.strip())
    assert path == out / "leica" / "summilux-m-1-1.4-35-asph.toml"
    lens = tp.load_lens(path)
    assert lens.profile.aspect_ratio == 4 / 3 and lens.profile.provenance.licence == "CC0-1.0"
    r = CliRunner().invoke(_cli(), ["profile", "validate", str(path)])
    assert r.exit_code == 0 and "0 error(s), 0 warning(s)" in r.output, r.output


def test_new_profile_from_a_leica_code(tmp_path, dirs):
    r = CliRunner().invoke(_cli(), ["profile", "new", "--leica-code", "26", "--crop-factor", "1", "-o",
                                    str(tmp_path / "x.toml")])
    assert r.exit_code == 0, r.output
    lens = tp.load_lens(tmp_path / "x.toml")
    assert lens.leica_code == 26 and "28" in lens.model and lens.focal_min == 28.0 and lens.aperture_max == 2.0
    r = CliRunner().invoke(_cli(), ["profile", "new", "--leica-code", "64", "-o", str(tmp_path / "y.toml")])
    assert r.exit_code != 0 and "outside 0-63" in r.output
    r = CliRunner().invoke(_cli(), ["profile", "new", "-o", str(tmp_path / "z.toml")], input="")
    assert r.exit_code != 0 and "maker and a model" in r.output
    assert not (tmp_path / "y.toml").exists() and not (tmp_path / "z.toml").exists()


def test_new_profile_api_scaffold():
    lens = new_profile(maker="Acme", model="50mm f/2", focal="24-70", aperture=2.8, date="2026-01-01")
    assert (lens.focal_min, lens.focal_max, lens.calibrated) == (24.0, 70.0, False)
    assert tp.loads(tp.dumps(lens)).profile.provenance.date == "2026-01-01"


def _corner(profile_crop, aspect, body_crop):
    return math.hypot(aspect, 1.0) * profile_crop / body_crop


def test_show_figures_match_the_formulas(dirs):
    r = CliRunner().invoke(_cli(), ["profile", "show", SUMMICRON, "--json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.output)
    one, ff = doc["bodies"]
    a, b, c = 0.0135748, -0.0502846, 0.0486119
    d = 1 - a - b - c
    one_inch_crop = math.hypot(36, 24) / math.hypot(13.1072, 9.8304)
    for body, crop, (w, h) in ((ff, 1.0, (6000, 4000)), (one, one_inch_crop, (8192, 6144))):
        r_c = _corner(1.0, 1.5, crop)
        pct = 100 * (a * r_c**3 + b * r_c**2 + c * r_c) / d
        assert body["distortion_percent"][0]["corner"] == pytest.approx(pct, rel=1e-6)
        half_diag = math.hypot(w - 1, h - 1) / 2
        assert body["tca_px"][0]["red"] == pytest.approx((1.0001441 - 1) * half_diag, rel=1e-6)
        assert body["tca_px"][0]["blue"] == pytest.approx((0.999967 - 1) * half_diag, rel=1e-6)
    assert ff["distortion_percent"][0]["corner"] == pytest.approx(0.379, abs=1e-3)
    assert one["distortion_percent"][0]["corner"] == pytest.approx(1.424, abs=1e-3)


def test_show_vignetting_per_aperture(dirs):
    r = CliRunner().invoke(_cli(), ["profile", "show", "Voigtlander Nokton 28mm F1.5 Aspherical", "--json"])
    one, ff = json.loads(r.output)["bodies"]
    assert [v["aperture"] for v in ff["vignetting_ev"]] == [1.5, 2.0, 2.8, 4.0, 11.0, 16.0]
    assert all(v["distance"] == 1000.0 for v in ff["vignetting_ev"])
    k = (-2.1713419, 2.273646, -0.9439038)
    assert ff["vignetting_ev"][0]["corner"] == pytest.approx(math.log2(1 + sum(k)), rel=1e-9)
    rv = 1 / (math.hypot(36, 24) / math.hypot(13.1072, 9.8304))
    assert one["vignetting_ev"][0]["corner"] == pytest.approx(
        math.log2(1 + k[0] * rv**2 + k[1] * rv**4 + k[2] * rv**6), rel=1e-9)
    r = CliRunner().invoke(_cli(), ["profile", "show", "Voigtlander Nokton 28mm F1.5 Aspherical"])
    assert r.exit_code == 0 and "f/1.5" in r.output and "EV" in r.output and "px" in r.output


def test_show_a_profile_not_usable_on_full_frame(tmp_path, dirs):
    lens = Lens("Acme", "APS-C 23mm", mounts=("X",), focal_min=23, profile=LensProfile(
        1.53, calibrations=(Calibration("distortion", "poly3", 23, {"k1": -0.01}),),
        provenance=Provenance(source="t", licence="CC0-1.0")))
    tp.save(lens, tmp_path / "apsc.toml")
    r = CliRunner().invoke(_cli(), ["profile", "show", str(tmp_path / "apsc.toml"), "--json"])
    one, ff = json.loads(r.output)["bodies"]
    assert one["applicable"] and not ff["applicable"] and "smaller sensor" in ff["reason"]


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


def test_report_png_and_html(tmp_path, dirs):
    png = tmp_path / "r.png"
    r = CliRunner().invoke(_cli(), ["profile", "report", "Voigtlander Nokton 28mm F1.5 Aspherical", "-o", str(png)])
    assert r.exit_code == 0, r.output
    w, h = _png_size(png.read_bytes())
    assert w > 1000 and h > 600
    html = tmp_path / "r.html"
    r = CliRunner().invoke(_cli(), ["profile", "report", SUMMICRON, "-o", str(html)])
    assert r.exit_code == 0, r.output
    page = html.read_text(encoding="utf-8")
    m = re.search(r"data:image/png;base64,([A-Za-z0-9+/=]+)", page)
    assert m and _png_size(base64.b64decode(m.group(1)))[0] > 1000
    assert "CC-BY-SA-3.0" in page and "lateral CA" in page and "+0.38 %" in page
    r = CliRunner().invoke(_cli(), ["profile", "report", SUMMICRON, "-o", str(html)])
    assert r.exit_code != 0 and "already exists" in r.output
    r = CliRunner().invoke(_cli(), ["profile", "report", SUMMICRON, "-o", str(tmp_path / "r.pdf")])
    assert r.exit_code != 0 and ".png or .html" in r.output


def test_report_curves_are_the_show_figures_at_the_corner(dirs):
    from mountkit.profile_summary import ONE_INCH, corner_figures, radial_curves

    kit = mountkit.Kit(entry_points=False)
    lens = tp.load_lens(REPO / "profiles" / "voigtlander" / "voigtlander-nokton-28mm-f1.5-aspherical.toml")
    curves = radial_curves(lens, ONE_INCH, kit.models())
    fig = corner_figures(lens, ONE_INCH, kit.models())
    assert curves.distortion[0][1][-1] == pytest.approx(fig.distortion[0][1])
    assert [ev[-1] for _, _, ev in curves.vignetting] == pytest.approx([v[3] for v in fig.vignetting])
    assert curves.tca[0][1][-1] == pytest.approx(fig.tca[0][1]) and curves.tca[0][1][0] == 0.0


# -- packaging ----------------------------------------------------------------------------


def test_shipped_profiles_are_in_a_regular_wheel_install(tmp_path):
    """``pip install .`` (not editable) must bring profiles/ along, as the data package mountkit_profiles."""
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, src / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", "build")
    for name in ("mountkit", "plugins", "profiles"):
        shutil.copytree(REPO / name, src / name, ignore=ignore)
    target = tmp_path / "site"
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    # a regular (non-editable) build; without a new enough setuptools here, pip builds in isolation
    isolation = ["--no-build-isolation"] if _setuptools_version() >= (77,) else []
    done = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", *isolation,
                           "--target", str(target), str(src)], env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    shutil.rmtree(src)  # the installed copy must not need the source tree
    code = ("import sys, json; from mountkit.profile_sources import shipped_profiles_dir;"
            "from mountkit.validate import validate_paths; import mountkit;"
            "d = shipped_profiles_dir(); r = validate_paths([d], mountkit.Kit(entry_points=False));"
            "print(json.dumps({'dir': str(d), 'files': len(r.files), 'errors': len(r.errors),"
            "'mod': mountkit.__file__, 'license': (d / 'LICENSE').is_file(),"
            "'schema': (d / 'schema.json').is_file()}))")
    out = subprocess.run([sys.executable, "-c", code], env={**env, "PYTHONPATH": str(target)}, check=True,
                         capture_output=True, text=True, timeout=120, cwd=tmp_path)
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["dir"].startswith(str(target)) and got["mod"].startswith(str(target))
    assert got["files"] == len(SHIPPED) and got["errors"] == 0 and got["license"] and got["schema"]


def _setuptools_version() -> tuple[int, ...]:
    try:
        import importlib.metadata as md

        return tuple(int(x) for x in md.version("setuptools").split(".")[:2])
    except Exception:
        return (0,)


def test_no_warnings_from_loading_the_shipped_profiles(dirs):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        make_kit().lenses()


def test_same_named_cameras_and_lenses_get_distinct_files_and_are_no_duplicates(tmp_path):
    xml = tmp_path / "cams.xml"
    xml.write_text("""<lensdatabase version="1">
        <camera><maker>Panasonic</maker><model>DMC-LX1</model><variant>4:3</variant><mount>lx1</mount>
            <cropfactor>4.4</cropfactor></camera>
        <camera><maker>Panasonic</maker><model>DMC-LX1</model><variant>16:9</variant><mount>lx1</mount>
            <cropfactor>4.1</cropfactor></camera>
        <lens><maker>Acme</maker><model>Acme 35mm f/2</model><mount>lx1</mount><cropfactor>1</cropfactor></lens>
        <lens><maker>Acme</maker><model>Acme 35mm  F/2</model><mount>lx1</mount><cropfactor>1.5</cropfactor></lens>
    </lensdatabase>""")
    res = import_profiles([xml], tmp_path / "out")
    names = sorted(str(p.relative_to(tmp_path / "out")) for p in res.paths)
    assert names == ["acme/35mm-f-2-crop1.5.toml", "acme/35mm-f-2-crop1.toml", "cameras/panasonic/dmc-lx1-2.toml",
                     "cameras/panasonic/dmc-lx1.toml"]
    from mountkit.validate import validate_paths

    rep = validate_paths([tmp_path / "out"], mountkit.Kit(entry_points=False))
    assert [i for i in rep.issues if i.severity == "error"] == []
