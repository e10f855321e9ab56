"""Adobe LCP import: the three XML spellings, APEX apertures, unit conversion, Adobe's models, bad files.

Every LCP here is written by the test itself.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from lcp_synth import HEAD, TAIL, elements

import mountkit
from mountkit import ProfileError
from mountkit.formats import toml_profile as tp
from mountkit.formats.lcp import apex_to_fnumber, loads_lcp, normalisation_unit, read_lcp
from mountkit.models.adobe import acm_distort, acm_falloff

W, H = 6000, 4000

CAMERA = {"Make": "Leica Camera AG", "Model": "LEICA M10", "CameraPrettyName": "Leica M10",
          "Lens": "Leica Summilux-M 1:1.4/35 ASPH.", "LensPrettyName": "Leica Summilux-M 35mm f/1.4 ASPH.",
          "LensInfo": "35/1 35/1 14/10 160/10", "ImageWidth": str(W), "ImageLength": str(H),
          "SensorFormatFactor": "1.000000", "CameraRawProfile": "True", "ProfileName": "test profile",
          "Author": "mountkit tests"}


def submodel(flx, xc, yc, k, tangential=(0.0, 0.0), scale=None):
    m = {"FocalLengthX": f"{flx:.6f}", "FocalLengthY": f"{flx:.6f}", "ImageXCenter": f"{xc:.6f}",
         "ImageYCenter": f"{yc:.6f}"}
    for i, v in enumerate(k, 1):
        m[f"RadialDistortParam{i}"] = f"{v:.6f}"
    if any(tangential):
        m["TangentialDistortParam1"], m["TangentialDistortParam2"] = (f"{t:.6f}" for t in tangential)
    if scale is not None:
        m["ScaleFactor"] = f"{scale:.6f}"
    return m


def frame(av, distance, k1, *, vignette=(-1.2, 0.4, -0.05), focal=35.0):
    persp = submodel(0.97, 0.512, 0.487, (k1, 0.02, -0.001), (1.5e-4, -2.5e-4))
    persp["ChromaticGreenModel"] = submodel(0.9702, 0.512, 0.487, (k1, 0.02, 0.0))
    persp["ChromaticRedGreenModel"] = submodel(0.9702, 0.511, 0.488, (0.0021, -0.001, 0.0), (1e-5, 0.0), 1.000321)
    persp["ChromaticBlueGreenModel"] = submodel(0.9702, 0.513, 0.486, (-0.0017, 0.0, 0.0), (0.0, -2e-5), 0.999612)
    v = submodel(0.97, 0.505, 0.495, ())
    v.update({f"VignetteModelParam{i}": f"{a:.6f}" for i, a in enumerate(vignette, 1)})
    persp["VignetteModel"] = v
    f = dict(CAMERA, FocalLength=f"{focal:.6f}", ApertureValue=f"{av:.6f}", FocusDistance=f"{distance:.6f}")
    f["PerspectiveModel"] = persp
    return f


#: Three frames of a 35 mm prime: f/2 at 1.5 m, f/8 at "infinity" (10000 m), f/4 at 3 m (APEX values).
FRAMES = [frame(2.0, 1.5, -0.081), frame(6.0, 10000.0, -0.085), frame(4.0, 3.0, -0.083)]

def _attrs(fields: dict) -> str:
    return " ".join(f'stCamera:{k}="{v}"' for k, v in fields.items() if not isinstance(v, dict))


def _subs_as_attrs(fields: dict) -> str:
    return "".join(f"<stCamera:{k} {_attrs(v)}/>" for k, v in fields.items() if isinstance(v, dict))


def lcp_text(frames, style: str) -> str:
    """An LCP in one of Adobe's three spellings: 'element', 'description' or 'attributes'."""
    body = []
    for f in frames:
        pm_name = "PerspectiveModel" if "PerspectiveModel" in f else "FisheyeModel"
        pm = f.get(pm_name, {})
        if style == "element":
            body.append(f'<rdf:li rdf:parseType="Resource">\n{elements(f)}</rdf:li>\n')
        elif style == "description":
            body.append(f"<rdf:li><rdf:Description {_attrs(f)}><stCamera:{pm_name}><rdf:Description {_attrs(pm)}>"
                        f"{_subs_as_attrs(pm)}</rdf:Description></stCamera:{pm_name}></rdf:Description></rdf:li>\n")
        else:
            body.append(f"<rdf:li {_attrs(f)}><stCamera:{pm_name} {_attrs(pm)}>{_subs_as_attrs(pm)}"
                        f"</stCamera:{pm_name}></rdf:li>\n")
    return HEAD + "".join(body) + TAIL


STYLES = ("element", "description", "attributes")


@pytest.fixture(scope="module")
def kit():
    return mountkit.Kit(entry_points=False)


@pytest.fixture(scope="module")
def imported():
    return {s: loads_lcp(lcp_text(FRAMES, s), f"summilux-{s}.lcp") for s in STYLES}


# -- the three spellings --------------------------------------------------------------


def test_three_spellings_give_the_same_profile(imported):
    lenses = [imported[s].lens for s in STYLES]
    cals = [lens.profile.calibrations for lens in lenses]
    assert cals[0] == cals[1] == cals[2]
    assert len(cals[0]) == 1 + 1 + 3  # distortion and TCA per focal length, vignetting per frame
    ident = {(lens.maker, lens.model, lens.aliases, lens.focal_min, lens.aperture_max, lens.aperture_min,
              lens.profile.crop_factor, lens.profile.aspect_ratio) for lens in lenses}
    assert ident == {("Leica", "Leica Summilux-M 35mm f/1.4 ASPH.", ("Leica Summilux-M 1:1.4/35 ASPH.",), 35.0,
                      1.4, 16.0, 1.0, 1.5)}
    assert all(imported[s].warnings == [] for s in STYLES)


def test_aperture_value_is_apex(imported):
    vig = imported["element"].lens.profile.vignetting
    assert [(c.aperture, c.distance) for c in vig] == [(2.0, 1.5), (4.0, 3.0), (8.0, 1000.0)]


@pytest.mark.parametrize("n", [1.0, 1.4, 2.0, 2.8, 4.0, 5.6, 8.0, 11.0, 16.0, 22.0])
def test_apex_to_fnumber(n):
    assert apex_to_fnumber(2 * math.log2(n)) == pytest.approx(n, abs=1e-4)


def test_distortion_and_tca_come_from_the_frame_focused_farthest(imported):
    prof = imported["attributes"].lens.profile
    (d,) = prof.distortion
    assert d.model == "adobe" and d.params["k1"] == -0.085  # the f/8 frame at 10000 m
    assert (d.params["k4"], d.params["k5"]) == (1.5e-4, -2.5e-4)
    (t,) = prof.tca
    assert t.params["rs"] == 1.000321 and t.params["bs"] == 0.999612 and t.params["rk4"] == 1e-5


def test_units_are_converted_to_normalised_coordinates(imported):
    (d,) = imported["element"].lens.profile.distortion
    unit = math.hypot(W - 1, H - 1) / (2 * math.hypot(1.5, 1.0))
    assert unit == normalisation_unit(W, H)
    assert d.params["fx"] == pytest.approx(0.97 * W / unit, rel=1e-15)
    assert d.params["cx"] == pytest.approx((0.512 * W - (W - 1) / 2) / unit, rel=1e-15)
    assert d.params["cy"] == pytest.approx((0.487 * H - (H - 1) / 2) / unit, rel=1e-15)
    v = imported["element"].lens.profile.vignetting[0]
    diag = math.hypot(1.5, 1.0)
    assert v.params["fx"] == pytest.approx(0.97 * W / unit / diag, rel=1e-15)
    assert (v.params["a1"], v.params["a2"], v.params["a3"]) == (-1.2, 0.4, -0.05)


def test_provenance(imported):
    prov = imported["element"].lens.profile.provenance
    assert prov.body == "Leica M10" and prov.author == "mountkit tests"
    assert "summilux-element.lcp" in prov.source and "raw data" in prov.method
    assert prov.licence == ""  # an LCP names none: the user says (--licence)


# -- Adobe's models, exactly ---------------------------------------------------------------


def _rt_pixel(u, v, m: dict, scale=1.0, green=None):
    """Where RawTherapee's LCP maths (reference §1.6-1.9) puts pixel (u, v): focal units from max(W, H)."""
    fx = float(m["FocalLengthX"]) * max(W, H)
    fy = float(m["FocalLengthY"]) * max(W, H)
    u0, v0 = float(m["ImageXCenter"]) * W, float(m["ImageYCenter"]) * H
    k = [float(m.get(f"RadialDistortParam{i}", 0)) for i in (1, 2, 3)]
    t = [float(m.get(f"TangentialDistortParam{i}", 0)) for i in (1, 2)]
    xd, yd = acm_distort((u - u0) / fx, (v - v0) / fy, *k, *t)
    return scale * xd * fx + u0, scale * yd * fy + v0


def test_engine_applies_adobe_distortion_exactly(imported, kit):
    lens = imported["description"].lens
    cor = kit.corrector(lens, crop_factor=1.0, size=(W, H), focal=35, corrections=("distortion",))
    rng = np.random.default_rng(5)
    u = np.concatenate([rng.uniform(0, W - 1, 500), [0, W - 1, 0, W - 1]])
    v = np.concatenate([rng.uniform(0, H - 1, 500), [0, 0, H - 1, H - 1]])
    got = cor.source_points(u, v)[:, 1]  # green
    ref = np.stack(_rt_pixel(u, v, FRAMES[1]["PerspectiveModel"]), axis=-1)
    assert np.abs(got - ref).max() < 1e-6


def test_adobe_tca_model_matches_the_reference_formula(imported, kit):
    lens = imported["element"].lens
    (t,) = lens.profile.tca
    m = kit.model("tca", "adobe")
    p = m.resolve_params(t.params)
    unit = normalisation_unit(W, H)
    rng = np.random.default_rng(2)
    u, v = rng.uniform(0, W - 1, 300), rng.uniform(0, H - 1, 300)
    xn, yn = (u - (W - 1) / 2) / unit, (v - (H - 1) / 2) / unit
    (xr, yr), (xb, yb) = m.channel_positions(xn, yn, p)
    pm = FRAMES[1]["PerspectiveModel"]
    ur, vr = _rt_pixel(u, v, pm["ChromaticRedGreenModel"], scale=1.000321)
    ub, vb = _rt_pixel(u, v, pm["ChromaticBlueGreenModel"], scale=0.999612)
    back = lambda x, y: (x * unit + (W - 1) / 2, y * unit + (H - 1) / 2)  # noqa: E731
    assert np.abs(np.subtract(back(xr, yr), (ur, vr))).max() < 1e-8
    assert np.abs(np.subtract(back(xb, yb), (ub, vb))).max() < 1e-8
    # on the radial axis through the centre, with no tangential term, channel_factors agree with it
    q = dict(p, rcx=0.0, rcy=0.0, rk4=0.0, rk5=0.0, bcx=0.0, bcy=0.0, bk4=0.0, bk5=0.0)
    r = np.linspace(0.01, 1.8, 50)
    (xr, _), (xb, _) = m.channel_positions(r, np.zeros_like(r), q)
    fr, fb = m.channel_factors(r, q)
    assert np.allclose(xr / r, fr, rtol=1e-14) and np.allclose(xb / r, fb, rtol=1e-14)


def test_adobe_vignetting_model_matches_the_reference_formula(imported, kit):
    v = imported["element"].lens.profile.vignetting[0]
    m = kit.model("vignetting", "adobe")
    p = m.resolve_params(v.params)
    unit = normalisation_unit(W, H)
    diag = math.hypot(1.5, 1.0)
    u, vv = np.array([0.0, W - 1, 3000.0, 1234.0]), np.array([0.0, H - 1, 2000.0, 77.0])
    c = m.falloff_xy((u - (W - 1) / 2) / unit / diag, (vv - (H - 1) / 2) / unit / diag, p)
    vm = FRAMES[0]["PerspectiveModel"]["VignetteModel"]
    f = 0.97 * max(W, H)
    r2 = ((u - 0.505 * W) / f) ** 2 + ((vv - 0.495 * H) / f) ** 2
    ref = acm_falloff(r2, *(float(vm[f"VignetteModelParam{i}"]) for i in (1, 2, 3)))
    assert np.allclose(c, ref, rtol=1e-13)


def test_imported_lcp_validates_and_round_trips(imported, kit, tmp_path):
    from mountkit.validate import check_lens

    lens = imported["attributes"].lens
    assert [i.check for i in check_lens(lens, kit)] == ["provenance"]  # only: no licence given
    back = tp.loads(tp.dumps(lens), "x.toml")
    assert back.profile.calibrations == lens.profile.calibrations


def test_show_figures_for_an_lcp_profile(imported, kit):
    from mountkit.profile_summary import FULL_FRAME, ONE_INCH, corner_figures

    lens = imported["element"].lens
    ff = corner_figures(lens, FULL_FRAME, kit.models())
    one = corner_figures(lens, ONE_INCH, kit.models())
    assert ff.applicable and one.applicable
    (_, d_ff), (_, d_one) = ff.distortion[0], one.distortion[0]
    assert d_ff < d_one < 0  # barrel, stronger at the full-frame corner
    assert [a for _, a, _, _ in ff.vignetting] == [2.0, 4.0, 8.0]


# -- fisheye frames, unusable files, bombs ------------------------------------------------


def _fisheye():
    f = dict(CAMERA, FocalLength="8.000000", ApertureValue="4.000000", FocusDistance="1.000000")
    f["FisheyeModel"] = submodel(0.3, 0.5, 0.5, (0.01, 0.001))
    return f


def test_fisheye_frames_are_skipped_with_a_warning():
    got = loads_lcp(lcp_text([*FRAMES, _fisheye()], "element"), "mixed.lcp")
    assert any("1 fisheye frame(s)" in w for w in got.warnings)
    assert len(got.lens.profile.calibrations) == 5


def _err(data, name="bad.lcp", **kw) -> str:
    with pytest.raises(ProfileError) as ei:
        loads_lcp(data, name, **kw)
    msg = str(ei.value)
    assert "\n" not in msg and name in msg
    return msg


def test_no_usable_frames():
    msg = _err(lcp_text([_fisheye()], "attributes"))
    assert "no usable frames" in msg and "1 frame(s)" in msg


def test_no_frames_at_all_and_not_an_lcp():
    assert "no calibration frames" in _err(HEAD + TAIL)
    assert "no calibration frames" in _err("<x>hello</x>")


def test_missing_fields_name_what_is_missing():
    f = {k: v for k, v in FRAMES[0].items() if k != "SensorFormatFactor"}
    assert "SensorFormatFactor" in _err(lcp_text([f], "element"))
    assert loads_lcp(lcp_text([f], "element"), "x.lcp", crop_factor=1.0).lens.profile.crop_factor == 1.0
    f = {k: v for k, v in FRAMES[0].items() if k != "ImageWidth"}
    assert "ImageWidth" in _err(lcp_text([f], "description"))
    f = dict(FRAMES[0], FocalLength="abc")
    assert "frame 1: FocalLength is not a number: 'abc'" in _err(lcp_text([f], "element"))
    f = dict(FRAMES[0], FocusDistance="nan")
    assert "FocusDistance is 'nan'" in _err(lcp_text([f], "element"))


def test_malformed_and_empty():
    assert "not well-formed" in _err(lcp_text(FRAMES, "element")[:-40])
    assert "empty" in _err(b"")


BOMB = """<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<x:xmpmeta xmlns:x="adobe:ns:meta/">&lol3;</x:xmpmeta>
"""

EXTERNAL = """<?xml version="1.0"?>
<!DOCTYPE x [<!ENTITY ext SYSTEM "file:///etc/passwd">]>
<x:xmpmeta xmlns:x="adobe:ns:meta/">&ext;</x:xmpmeta>
"""


def test_xml_bomb_and_external_entities_are_refused():
    assert "entity expansion is not allowed" in _err(BOMB) and "billion laughs" in _err(BOMB)
    msg = _err(EXTERNAL)
    assert "refused" in msg and ("external" in msg or "entity" in msg)


def test_file_size_limit_and_missing_file(tmp_path):
    big = tmp_path / "big.lcp"
    with open(big, "wb") as fh:
        fh.truncate(100 * 2**20)
    with pytest.raises(ProfileError, match="larger than"):
        read_lcp(big)
    with pytest.raises(ProfileError, match="no such LCP file"):
        read_lcp(tmp_path / "none.lcp")


# -- the command ----------------------------------------------------------------------


def test_cli_import_lcp_writes_a_valid_profile(tmp_path):
    from mountkit.cli import make_cli

    src = tmp_path / "Leica M10 (Summilux 35) - RAW.lcp"
    src.write_text(lcp_text(FRAMES, "description"), encoding="utf-8")
    out = tmp_path / "out"
    cli = make_cli(lambda **kw: mountkit.Kit(entry_points=False, **kw))
    r = CliRunner().invoke(cli, ["profile", "import", str(src), "-o", str(out), "--licence", "CC0-1.0"])
    assert r.exit_code == 0, r.output
    written = out / "leica" / "summilux-m-35mm-f-1.4-asph.toml"
    assert written.is_file() and str(written) in r.output
    r = CliRunner().invoke(cli, ["profile", "validate", str(out)])
    assert r.exit_code == 0 and "0 error(s), 0 warning(s)" in r.output, r.output
    # importing again without --force changes nothing
    before = written.read_bytes()
    r = CliRunner().invoke(cli, ["profile", "import", str(src), "-o", str(out)])
    assert r.exit_code != 0 and "already exists" in r.output and written.read_bytes() == before
    # exporting Adobe models to lensfun is refused with the reason
    r = CliRunner().invoke(cli, ["profile", "export", str(written), "--format", "lensfun"])
    assert r.exit_code != 0 and "no lensfun equivalent" in r.output


def test_lcp_bomb_via_cli_writes_nothing(tmp_path):
    from mountkit.cli import make_cli

    good = tmp_path / "good.lcp"
    good.write_text(lcp_text(FRAMES, "element"), encoding="utf-8")
    bad = tmp_path / "bomb.lcp"
    bad.write_text(BOMB, encoding="utf-8")
    out = tmp_path / "out"
    cli = make_cli(lambda **kw: mountkit.Kit(entry_points=False, **kw))
    r = CliRunner().invoke(cli, ["profile", "import", str(good), str(bad), "-o", str(out)])
    assert r.exit_code != 0 and "billion laughs" in r.output
    assert not out.exists()


def test_sources_are_not_read_from_shared():
    assert "/work/shared" not in Path(__file__).read_text().replace('"/work/shared" not in', "")
