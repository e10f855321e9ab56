"""Vignetting (pa) and colour-shading calibration from flat fields rendered through known profiles."""

from __future__ import annotations

import numpy as np
import pytest

import mountkit
from mountkit import Calibration, Corrector, Lens, LensProfile
from mountkit.calibrate import FlatField, calibrate_vignetting, read_flat, synthetic
from mountkit.calibrate.colour_shading import EXPONENTS, Poly4Shading, monomials, shading_gains
from mountkit.calibrate.distortion_fit import calibration_geometry
from mountkit.calibrate.vignetting_fit import falloff, fit_pa, prepare_flat, radial_bins
from mountkit.errors import MountkitError

GAIN_TOL = 0.005  # 0.5 %
SIZE = (900, 675)
CROP = 2.64
TRUTH = {2.0: {"k1": -0.62, "k2": 0.21, "k3": -0.06}, 4.0: {"k1": -0.31, "k2": 0.05, "k3": 0.0}}
SHADING = {"r10": 0.015, "r20": -0.03, "r02": -0.02, "g11": 0.004, "b02": -0.035, "b20": -0.02, "b40": 0.01}


@pytest.fixture(scope="module")
def kit():
    return mountkit.Kit(entry_points=False)


def truth_lens(aperture):
    cal = Calibration("vignetting", "pa", 21, TRUTH[aperture], aperture=aperture, distance=1000.0)
    return Lens("Acme", "Wide 21mm", focal_min=21,
                profile=LensProfile(crop_factor=CROP, aspect_ratio=4 / 3, calibrations=(cal,)))


@pytest.fixture(scope="module")
def flats(kit):
    g = calibration_geometry(*SIZE, CROP, 4 / 3)
    model = Poly4Shading()
    shading = shading_gains(g, model, model.resolve_params(SHADING), reverse=True)
    out = []
    for aperture in TRUTH:
        c = Corrector(kit, truth_lens(aperture), crop_factor=CROP, size=SIZE, aperture=aperture,
                      reverse=True).vignetting_gain(exact=True)
        for k in range(2):
            data = synthetic.render_flat_field(c, level=0.45 + 0.1 * k, shading=shading, noise=0.01,
                                               rng=np.random.default_rng(int(10 * aperture) + k))
            out.append(FlatField(f"f{aperture:g}-{k}", data, white_level=1023, black_level=0.0, focal=21.0,
                                 aperture=aperture, distance=1000.0))
    return out


def test_pa_and_colour_shading_match_the_truth_over_the_whole_frame(kit, flats):
    fits, rejected = calibrate_vignetting(flats, crop_factor=CROP, kit=kit)
    assert rejected == []
    assert [(f.focal, f.aperture, f.distance) for f in fits] == [(21.0, 2.0, 1000.0), (21.0, 4.0, 1000.0)]
    g = calibration_geometry(*SIZE, CROP, 4 / 3)
    model = Poly4Shading()
    true_shading = shading_gains(g, model, model.resolve_params(SHADING))
    for f in fits:
        assert f.aspect_ratio == pytest.approx(4 / 3) and f.crop_factor == CROP
        assert f.rms < 0.002
        assert [s for s, _ in f.shots] == [f"f{f.aperture:g}-0", f"f{f.aperture:g}-1"]
        # vignetting: the engine's gain with the fitted set against the truth's, at every pixel
        fitted = Lens("Acme", "Wide 21mm", focal_min=21, profile=LensProfile(
            crop_factor=f.crop_factor, aspect_ratio=f.aspect_ratio, calibrations=(f.calibration(),)))
        a = Corrector(kit, truth_lens(f.aperture), crop_factor=CROP, size=SIZE,
                      aperture=f.aperture).vignetting_gain(exact=True)
        b = Corrector(kit, fitted, crop_factor=CROP, size=SIZE, aperture=f.aperture).vignetting_gain(exact=True)
        assert np.abs(b / a - 1).max() <= GAIN_TOL
        # colour shading: every channel's gain at every pixel
        sc = f.shading_calibration()
        assert (sc.kind, sc.model, sc.aperture) == ("colour_shading", "poly4", f.aperture)
        got = shading_gains(g, model, model.resolve_params(sc.params))
        assert np.abs(got / true_shading - 1).max() <= GAIN_TOL


def test_grey_flats_fit_vignetting_without_colour_shading(kit, flats):
    grey = [FlatField(f.name, f.data[:, :, 1], f.white_level, focal=f.focal, aperture=f.aperture,
                      distance=f.distance) for f in flats[:2]]
    fits, _ = calibrate_vignetting(grey, crop_factor=CROP, kit=kit)
    assert fits[0].shading is None and fits[0].shading_calibration() is None
    r = np.linspace(0, 1, 200)
    k = list(TRUTH[2.0].values())
    assert np.abs(falloff(r, k) / falloff(r, list(fits[0].params.values())) - 1).max() <= GAIN_TOL


@pytest.mark.parametrize("case, reason", [
    ("gamma", "not linear data"),
    ("clipped", "clipped"),
    ("uneven", "unevenly lit"),
    ("dark", "too dark"),
])
def test_unusable_flats_are_refused_with_a_reason(kit, flats, case, reason):
    base = flats[0]
    data, linear = base.data, True
    if case == "gamma":
        linear = False
    elif case == "clipped":
        data = np.minimum(base.data.astype(np.int64) * 3, 1023).astype(np.uint16)
    elif case == "uneven":
        c = Corrector(kit, truth_lens(2.0), crop_factor=CROP, size=SIZE, aperture=2.0,
                      reverse=True).vignetting_gain(exact=True)
        data = synthetic.render_flat_field(c, gradient=(0.0, 0.08), rng=np.random.default_rng(7))
    else:
        data = (base.data // 40).astype(np.uint16)
    bad = FlatField("bad", data, 1023, linear=linear, focal=21.0, aperture=2.0, distance=1000.0)
    fits, rejected = calibrate_vignetting([bad, flats[1]], crop_factor=CROP, kit=kit)
    assert len(fits) == 1 and [r.name for r in rejected] == ["bad"]
    assert rejected[0].reason.startswith(reason)
    if case == "uneven":
        assert "bottom" in rejected[0].reason
    with pytest.raises(MountkitError, match="no usable flat field"):
        calibrate_vignetting([bad], crop_factor=CROP, kit=kit)


def test_missing_aperture_is_an_error_naming_the_flag(kit, flats):
    f = flats[0]
    with pytest.raises(MountkitError, match="unknown aperture.*--aperture"):
        calibrate_vignetting([FlatField("x.dng", f.data, 1023, focal=21.0, distance=1000.0)], crop_factor=CROP, kit=kit)


def test_flat_fields_from_files(kit, flats, tmp_path):
    """A float32 TIFF is linear; an 8-bit PNG is gamma-encoded and refused."""
    from mountkit.io import Frame
    from mountkit.io.formats import write_frame

    data = flats[0].data.astype(np.float32) / 1023
    write_frame(tmp_path / "flat.tif", Frame(data=data, white_level=1.0), kit)
    write_frame(tmp_path / "flat.png", Frame(data=(data * 255).astype(np.uint8), white_level=255.0, linear=False), kit)
    f = read_flat(tmp_path / "flat.tif", kit, focal=21, aperture=2, distance=1000)
    assert f.linear and f.white_level == 1.0 and (f.focal, f.aperture, f.distance) == (21, 2, 1000)
    fits, rejected = calibrate_vignetting([tmp_path / "flat.tif", tmp_path / "flat.png"], crop_factor=CROP,
                                          focal=21, aperture=2, distance=1000, kit=kit)
    assert [r.name for r in rejected] == [str(tmp_path / "flat.png")]
    r = np.linspace(0, 1, 200)
    assert np.abs(falloff(r, list(TRUTH[2.0].values())) / falloff(r, list(fits[0].params.values())) - 1).max() < 0.01


def test_pa_least_squares_and_bins_are_exact_on_exact_data():
    r = np.linspace(0, 1, 500)
    k = (-0.4, 0.1, -0.02)
    a, got = fit_pa(r, 0.7 * falloff(r, k))
    assert a == pytest.approx(0.7) and np.allclose(got, k)
    rb, vb, nb = radial_bins(r, falloff(r, k), bins=10)
    np.testing.assert_allclose(vb, falloff(rb, k), rtol=1e-5)  # the median value sits at the median radius
    assert nb.sum() == r.size


def test_colour_shading_model_is_registered_and_evaluates(kit):
    model = kit.model("colour_shading", "poly4")
    assert model.kind == "colour_shading" and len(model.params) == 3 * len(EXPONENTS) == 42
    p = model.resolve_params({"r10": 0.1, "b22": -0.5})
    s = model.shading(np.array([0.5, 0.0]), np.array([0.2, 0.0]), p)
    np.testing.assert_allclose(s[:, 1], [1, 1, 1])  # 1 at the centre
    assert s[0, 0] == pytest.approx(1.05) and s[2, 0] == pytest.approx(1 - 0.5 * 0.25 * 0.04)
    assert monomials(np.array(2.0), np.array(3.0)).shape == (len(EXPONENTS),)
    with pytest.raises(mountkit.ProfileError, match="no parameter"):
        model.resolve_params({"x10": 1.0})


def test_prepare_flat_refuses_another_frame_size(flats):
    g = calibration_geometry(800, 600, CROP, 4 / 3)
    with pytest.raises(mountkit.calibrate.FlatRejected, match="frame is 900x675"):
        prepare_flat(flats[0], g)


def test_the_corrector_applies_colour_shading_per_channel(kit):
    """Simulate a flat field with vignetting and colour shading through the engine, then correct it: flat again."""
    g = calibration_geometry(*SIZE, CROP, 4 / 3)
    model = Poly4Shading()
    cals = (Calibration("vignetting", "pa", 21, TRUTH[2.0], aperture=2.0, distance=1000.0),
            Calibration("colour_shading", "poly4", 21, SHADING, aperture=2.0, distance=1000.0))
    lens = Lens("Acme", "Wide 21mm", focal_min=21, profile=LensProfile(crop_factor=CROP, aspect_ratio=4 / 3,
                                                                       calibrations=cals))
    sim = Corrector(kit, lens, crop_factor=CROP, size=SIZE, aperture=2.0, reverse=True)
    assert sim.active == ("vignetting", "colour_shading")
    flat = sim.apply(np.full((SIZE[1], SIZE[0], 3), 0.5, np.float32))
    expected = 0.5 * sim.vignetting_gain(exact=True)[None] * shading_gains(g, model, model.resolve_params(SHADING),
                                                                         reverse=True)
    np.testing.assert_allclose(np.moveaxis(flat, 2, 0), expected, rtol=1e-5)
    assert flat[0, -1, 2] < flat[0, -1, 0] and flat[0, 0, 2] > flat[0, 0, 0]  # not radial: red leans right
    back = Corrector(kit, lens, crop_factor=CROP, size=SIZE, aperture=2.0).apply(flat)
    np.testing.assert_allclose(back, 0.5, rtol=1e-5)
    # mono frames take the green channel's shading; without the kind requested nothing changes
    only_vig = Corrector(kit, lens, crop_factor=CROP, size=SIZE, aperture=2.0, corrections=("vignetting",))
    assert only_vig.active == ("vignetting",)
    np.testing.assert_allclose(only_vig.shading_gain(0), 1.0)
