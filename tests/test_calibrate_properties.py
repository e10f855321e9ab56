"""Properties of the calibration fitters on exact data (hypothesis): what goes in comes back out."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mountkit
from mountkit import Calibration, Corrector, Lens, LensProfile
from mountkit.calibrate import BoardDetection, fit_distortion, synthetic
from mountkit.calibrate.distortion_fit import calibration_geometry
from mountkit.calibrate.profile_output import merge_calibrations
from mountkit.calibrate.tca_fit import channel_factor, fit_channel
from mountkit.calibrate.vignetting_fit import falloff, fit_pa

KIT = mountkit.Kit(entry_points=False)
finite = dict(allow_nan=False, allow_infinity=False)


@given(k1=st.floats(-1.5, 0.3, **finite), k2=st.floats(-0.5, 0.8, **finite), k3=st.floats(-0.3, 0.3, **finite),
       level=st.floats(0.05, 0.9, **finite))
def test_pa_fit_recovers_any_falloff(k1, k2, k3, level):
    r = np.linspace(0.0, 1.0, 64)
    a, k = fit_pa(r, level * falloff(r, (k1, k2, k3)))
    assert abs(a - level) < 1e-9 * max(1.0, level)
    np.testing.assert_allclose(k, (k1, k2, k3), atol=1e-7)


@given(v=st.floats(0.998, 1.002, **finite), c=st.floats(-0.002, 0.002, **finite), b=st.floats(-0.002, 0.002, **finite))
def test_tca_channel_fit_recovers_any_poly3(v, c, b):
    rng = np.random.default_rng(0)
    green = rng.uniform(-1.6, 1.6, (300, 2))
    r = np.hypot(green[:, 0], green[:, 1])
    other = green * (v + c * r + b * r * r)[:, None]
    coef = fit_channel(green, other, ("v", "c", "b"))
    np.testing.assert_allclose(channel_factor(r, coef, ("v", "c", "b")), v + c * r + b * r * r, atol=1e-12)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(model=st.sampled_from(["poly3", "poly5", "ptlens"]), s1=st.floats(-0.04, 0.02, **finite),
       s2=st.floats(-0.01, 0.01, **finite), crop=st.sampled_from([1.0, 1.53, 2.64]))
def test_distortion_fit_recovers_the_model_from_exact_corners(model, s1, s2, crop):
    params = {"poly3": {"k1": s1}, "poly5": {"k1": s1, "k2": s2}, "ptlens": {"a": s2, "b": s1, "c": 0.5 * s2}}[model]
    size = (1200, 900) if crop == 2.64 else (1200, 800)
    aspect = 4 / 3 if crop == 2.64 else 1.5
    truth = Lens("Acme", "T", focal_min=28, profile=LensProfile(crop_factor=crop, aspect_ratio=aspect, calibrations=(
        Calibration("distortion", model, 28, params),)))
    fwd = Corrector(KIT, truth, crop_factor=crop, size=size)
    poses = synthetic.board_homographies(*size, (12, 9), 9, inside=synthetic.inside_check(fwd))
    jj, ii = np.mgrid[0:9, 0:12]
    board = np.column_stack([ii.ravel(), jj.ravel()]).astype(np.float64)
    dets = []
    for k, hom in enumerate(poses):
        px, py = synthetic.board_to_pixel(hom, board[:, 0], board[:, 1])
        dets.append(BoardDetection(f"s{k}", size, (12, 9), np.column_stack(fwd.channel_points(px, py, 1)), board,
                                   30.0, 0.1, 2.0))
    fit = fit_distortion(dets, calibration_geometry(*size, crop, aspect), KIT.model("distortion", model), focal=28)
    assert fit.rms_px < 1e-4 and not fit.rejected
    m = KIT.model("distortion", model)
    r = np.linspace(0, fit.corner_radius, 200)
    err = np.abs(r * m.radial_factor(r, params) - r * m.radial_factor(r, dict(fit.params))).max()
    assert err * fwd.geometry.norm_unscale < 1e-3


cal = st.builds(lambda kind, focal, ap: Calibration(kind, {"distortion": "ptlens", "tca": "poly3",
                                                             "vignetting": "pa"}[kind], focal, {},
                                                    aperture=ap if kind == "vignetting" else None,
                                                    distance=1000.0 if kind == "vignetting" else None),
                st.sampled_from(["distortion", "tca", "vignetting"]), st.sampled_from([21.0, 28.0, 35.0]),
                st.sampled_from([2.0, 4.0]))


@given(old=st.lists(cal, max_size=6), new=st.lists(cal, max_size=4))
def test_merge_keeps_every_measured_point_once_and_is_idempotent(old, new):
    def key(c):
        return (c.kind, c.focal, c.aperture, c.distance)

    old = list({key(c): c for c in old}.values())
    new = list({key(c): c for c in new}.values())
    merged = merge_calibrations(old, new)
    assert sorted(map(key, merged)) == sorted(set(map(key, old)) | set(map(key, new)))
    assert all(c in merged for c in new)
    assert merge_calibrations(merged, new) == merged
