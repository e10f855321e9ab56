"""lensfun's calibration interpolation: focal-length spline (distortion, TCA) and vignetting IDW.

The database-wide comparison with lensfunpy's ``interpolate_*`` is in test_lensfun_parity.py;
these tests pin the rules on small hand-made profiles.
"""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mountkit import Calibration, CorrectionWarning
from mountkit.errors import CorrectionError
from mountkit.interpolate import first_model, hermite, interpolate_focal, interpolate_vignetting, vignetting_distance
from mountkit.models.distortion import Poly3, PTLens
from mountkit.models.tca import LinearTCA, Poly3TCA
from mountkit.models.vignetting import PAVignetting


def dist(f, **p):
    return Calibration("distortion", "ptlens" if "a" in p else "poly3", f, p)


def vig(f, a, d, k1, k2=0.0, k3=0.0):
    return Calibration("vignetting", "pa", f, {"k1": k1, "k2": k2, "k3": k3}, aperture=a, distance=d)


def catmull_rom_reference(fs, ys, f):
    """lensfun's rule written out for ascending focal lengths fs (all terms focal-scaled)."""
    k = max(i for i in range(len(fs)) if fs[i] < f)
    y = [v * F for v, F in zip(ys, fs, strict=True)]
    y1, y2 = y[k], y[k + 1]
    m1 = (y2 - y[k - 1]) / 2 if k >= 1 else y2 - y1
    m2 = (y[k + 2] - y1) / 2 if k + 2 < len(fs) else y2 - y1
    t = (f - fs[k]) / (fs[k + 1] - fs[k])
    h00, h10, h01, h11 = 2 * t**3 - 3 * t**2 + 1, t**3 - 2 * t**2 + t, -2 * t**3 + 3 * t**2, t**3 - t**2
    return (h00 * y1 + h10 * m1 + h01 * y2 + h11 * m2) / f


def test_hermite_end_conditions():
    assert hermite(None, 2.0, 4.0, None, 0.0) == 2.0
    assert hermite(None, 2.0, 4.0, None, 1.0) == 4.0
    assert hermite(0.0, 2.0, 4.0, 6.0, 0.25) == pytest.approx(2.5)  # linear data stays linear
    assert hermite(None, 2.0, 4.0, 9.0, 0.5) != pytest.approx(3.0)  # the outer point bends the curve


@settings(max_examples=60, deadline=None)
@given(focals=st.lists(st.floats(8, 400), min_size=2, max_size=7, unique=True),
       seed=st.integers(0, 10**6), u=st.floats(0.01, 0.99))
def test_focal_spline_is_catmull_rom_in_index_space_on_term_times_focal(focals, seed, u):
    fs = sorted(focals)
    if min(np.diff(fs)) < 0.05:
        return
    ks = np.random.default_rng(seed).uniform(-0.05, 0.05, len(fs))
    cals = [dist(f, k1=float(k)) for f, k in zip(fs, ks, strict=True)]
    i = int(u * (len(fs) - 1))
    f = fs[i] + (u * (len(fs) - 1) - i) * (fs[i + 1] - fs[i])
    if f in fs:
        return
    got = interpolate_focal(cals, f, Poly3())
    assert got.calibrated
    assert got.params["k1"] == pytest.approx(catmull_rom_reference(fs, list(ks), f), rel=1e-12, abs=1e-15)


def test_interpolated_terms_are_not_a_plain_spline_of_the_terms():
    # halfway between 24 and 28 mm: spline(a F) / f, not spline(a)
    cals = [dist(24, a=0.01, b=0.0, c=0.0), dist(28, a=0.02, b=0.0, c=0.0)]
    got = interpolate_focal(cals, 26, PTLens()).params["a"]
    assert got == pytest.approx((0.5 * 0.01 * 24 + 0.5 * 0.02 * 28) / 26, rel=1e-12)
    assert got != pytest.approx(0.015, rel=1e-6)


def test_exact_calibration_is_returned_unchanged_with_defaults():
    cals = [dist(24, a=0.01, b=-0.02), dist(70, a=0.0, b=0.001, c=0.002)]
    got = interpolate_focal(cals, 24.0, PTLens())
    assert dict(got.params) == {"a": 0.01, "b": -0.02, "c": 0.0}
    assert got.calibrated


def test_outside_the_range_uses_the_nearest_calibration_with_a_warning():
    cals = [dist(24, k1=-0.03), dist(35, k1=-0.01), dist(70, k1=0.02)]
    for f, expect in [(18.0, -0.03), (105.0, 0.02)]:
        with pytest.warns(CorrectionWarning, match="outside the distortion calibration"):
            got = interpolate_focal(cals, f, Poly3())
        assert got.params["k1"] == expect and not got.calibrated
    # one calibration only: it is the nearest for every other focal length
    with pytest.warns(CorrectionWarning):
        assert interpolate_focal(cals[:1], 28.0, Poly3()).params["k1"] == -0.03


def test_only_the_first_model_is_used_and_later_duplicates_replace():
    cals = [dist(24, k1=-0.03), dist(50, a=0.01, b=0.0, c=0.0), dist(70, k1=0.02), dist(24, k1=-0.04)]
    assert first_model(cals)[0] == "poly3"
    with pytest.warns(CorrectionWarning, match="ignored"):
        got = interpolate_focal(cals, 24.0, Poly3())
    assert got.params["k1"] == -0.04  # the later 24 mm entry replaced the first
    assert len(got.ignored) == 1 and got.ignored[0].model == "ptlens"
    # a later entry of another model at the same focal length replaces it too (lensfun's loader),
    # which makes ptlens the first model found
    cals2 = [dist(24, k1=-0.03), dist(70, k1=0.02), dist(24, a=0.01)]
    with pytest.raises(CorrectionError, match="model 'ptlens'"):
        interpolate_focal(cals2, 24.0, Poly3())
    with pytest.warns(CorrectionWarning, match=r"\['poly3'\] ignored"):
        got = interpolate_focal(cals2, 24.0, PTLens())
    assert got.model == "ptlens" and got.params["a"] == 0.01


def test_none_model_entries_are_skipped():
    cals = [Calibration("distortion", "none", 18, {}), dist(24, k1=-0.03)]
    with pytest.warns(CorrectionWarning):
        assert interpolate_focal(cals, 18.0, Poly3()).params["k1"] == -0.03
    assert interpolate_focal([], 18.0, Poly3()) is None


def test_tca_vr_vb_are_not_focal_scaled():
    cals = [Calibration("tca", "poly3", 20, {"vr": 1.001, "vb": 0.999, "cr": 0.001}),
            Calibration("tca", "poly3", 40, {"vr": 1.003, "vb": 0.997, "cr": 0.003})]
    got = interpolate_focal(cals, 30, Poly3TCA()).params
    assert got["vr"] == pytest.approx(1.002, rel=1e-12)  # plain Hermite of vr (linear end tangents)
    assert got["cr"] == pytest.approx((0.5 * 0.001 * 20 + 0.5 * 0.003 * 40) / 30, rel=1e-12)
    lin = [Calibration("tca", "linear", 20, {"kr": 1.001, "kb": 0.999}),
           Calibration("tca", "linear", 40, {"kr": 1.003, "kb": 0.997})]
    assert interpolate_focal(lin, 30, LinearTCA()).params["kb"] == pytest.approx(0.998, rel=1e-12)


def test_bad_focal_is_an_error():
    with pytest.raises(CorrectionError, match="positive"):
        interpolate_focal([dist(24, k1=0.0)], -3, Poly3())


ZOOM = (24.0, 70.0)


def test_vignetting_distance_axes():
    c = vig(24, 2.8, 10, -0.3)
    # focal scaled by the zoom range, 4/aperture, 0.1/distance
    d = vignetting_distance(47.0, 4.0, 1000.0, c, *ZOOM)
    assert d == pytest.approx(math.sqrt(0.5**2 + (4 / 2.8 - 1) ** 2 + (0.01 - 0.0001) ** 2), rel=1e-12)
    # prime: raw millimetres
    assert vignetting_distance(50.5, 2.8, 10, vig(50, 2.8, 10, 0), 50.0, 50.0) == pytest.approx(0.5)


def test_vignetting_idw_weights_and_exact_points():
    cals = [vig(24, 2.8, 10, -0.5), vig(24, 5.6, 10, -0.2), vig(70, 2.8, 10, -0.4), vig(70, 5.6, 10, -0.1)]
    model = PAVignetting()
    exact = interpolate_vignetting(cals, 70.0, 5.6, 10.0, model, focal_min=24, focal_max=70)
    assert exact.params["k1"] == -0.1
    f, a, d = 40.0, 4.0, 10.0
    got = interpolate_vignetting(cals, f, a, d, model, focal_min=24, focal_max=70)
    ws = np.array([vignetting_distance(f, a, d, c, *ZOOM) ** -3.5 for c in cals])
    expect = (ws * [-0.5, -0.2, -0.4, -0.1]).sum() / ws.sum()
    assert got.params["k1"] == pytest.approx(expect, rel=1e-12)
    assert got.params["k2"] == 0.0


def test_vignetting_too_far_from_every_calibration_is_not_corrected():
    cals = [vig(50, 2.8, 10, -0.5), vig(50, 8, 10, -0.1)]
    model = PAVignetting()
    # f/1.4 on a lens calibrated from f/2.8: 4/1.4 - 4/2.8 = 1.43 > 1
    with pytest.warns(CorrectionWarning, match="not corrected"):
        assert interpolate_vignetting(cals, 50.0, 1.4, 10.0, model, focal_min=50, focal_max=50) is None
    # f/2 is within reach (0.57)
    assert interpolate_vignetting(cals, 50.0, 2.0, 10.0, model, focal_min=50, focal_max=50) is not None
    with pytest.raises(CorrectionError, match="aperture"):
        interpolate_vignetting(cals, 50.0, 0.0, 10.0, model, focal_min=50, focal_max=50)
