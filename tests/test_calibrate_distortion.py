"""Distortion and TCA calibration against the truth: synthetic chessboard shots rendered through known profiles.

Shots are rendered in the lens's distorting direction (``Corrector(reverse=True)``), blurred and
given noise, then calibrated; the calibrated correction is compared with the truth's over every
pixel of the frame (the corners included, where the fit extrapolates a little).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import mountkit
from mountkit import Calibration, Corrector, Lens, LensProfile
from mountkit.calibrate import calibrate_distortion, calibrate_tca, synthetic
from mountkit.calibrate.detection import Shot, detect_boards
from mountkit.calibrate.distortion_fit import calibration_geometry, radial_curve_px
from mountkit.calibrate.tca_fit import fit_tca

DIST_TOL_PX = 0.05
TCA_TOL_PX = 0.02
PATTERN = (12, 9)
SHOTS = 11
ONE_INCH = 2.64  # the 1-inch sensor (13.107 x 9.830 mm)


@pytest.fixture(scope="module")
def kit():
    return mountkit.Kit(entry_points=False)


def _lens(cals, crop, aspect):
    return Lens("Acme", "Truth", focal_min=cals[0].focal,
                profile=LensProfile(crop_factor=crop, aspect_ratio=aspect, calibrations=tuple(cals)))


def _shots(kit, lens, size, crop, *, channels=1, seed=0):
    """Render SHOTS chessboard shots of ``lens`` on a body of ``crop`` and ``size``; detect them."""
    w, h = size
    rev = Corrector(kit, lens, crop_factor=crop, size=size, reverse=True)
    fwd = Corrector(kit, lens, crop_factor=crop, size=size)
    mapper = synthetic.cached_mapper(synthetic.engine_mapper(rev), w, h, channels=(1,) if channels == 1 else (0, 1, 2))
    rng = np.random.default_rng(seed)
    poses = synthetic.board_homographies(w, h, PATTERN, SHOTS, rng=rng, mapper=mapper,
                                         inside=synthetic.inside_check(fwd))
    shots = [Shot(f"shot{k:02d}", lambda k=k, hom=hom: synthetic.render_board(
        w, h, hom, PATTERN, mapper, channels=channels, blur_px=1.0, noise=0.005, rng=np.random.default_rng(100 + k)))
        for k, hom in enumerate(poses)]
    return detect_boards(shots, PATTERN, per_channel=channels == 3, workers=2)


def _max_map_error(kit, truth: Lens, fitted: Lens, crop, size, channel=1, *, relative_to=None, scale_truth=1.0,
                   scale_fit=1.0):
    """Largest distance (px) between the two corrections' source positions over every pixel of the frame."""
    a = Corrector(kit, truth, crop_factor=crop, size=size, scale=scale_truth).source_coordinates(exact=True)
    b = Corrector(kit, fitted, crop_factor=crop, size=size, scale=scale_fit).source_coordinates(exact=True)
    da, db = a[..., channel, :], b[..., channel, :]
    if relative_to is not None:
        da = da - a[..., relative_to, :]
        db = db - b[..., relative_to, :]
    return float(np.hypot(*(da - db).transpose(2, 0, 1)).max())


# -- the 1-inch body, 4:3, ptlens distortion and poly3 TCA, colour shots ------------------------------------

TRUTH_PTLENS = {"a": 0.01, "b": -0.05, "c": 0.02}
TRUTH_TCA = {"vr": 1.0004, "vb": 0.9996, "br": 0.00012, "bb": -0.0001}


@pytest.fixture(scope="module")
def one_inch(kit):
    truth = _lens([Calibration("distortion", "ptlens", 28, TRUTH_PTLENS), Calibration("tca", "poly3", 28, TRUTH_TCA)],
                  ONE_INCH, 4 / 3)
    size = (1200, 900)
    return truth, size, _shots(kit, truth, size, ONE_INCH, channels=3)


def test_one_inch_shots_all_detected(one_inch):
    _, size, (dets, rejected) = one_inch
    assert rejected == []
    assert len(dets) == SHOTS
    assert all(d.size == size and d.count == PATTERN[0] * PATTERN[1] for d in dets)
    assert all(d.channel_corners.shape == (3, d.count, 2) for d in dets)


def test_ptlens_on_the_one_inch_body_matches_the_truth_over_the_whole_frame(kit, one_inch):
    truth, size, detections = one_inch
    fit = calibrate_distortion(focal=28, crop_factor=ONE_INCH, model="ptlens", kit=kit, detections=detections)
    assert fit.aspect_ratio == pytest.approx(4 / 3)  # 1200 x 900 is 4:3
    assert fit.rms_px < 0.02
    assert len(fit.shots) == SHOTS and not fit.rejected
    fitted = _lens([fit.calibration()], ONE_INCH, 4 / 3)
    err = _max_map_error(kit, truth, fitted, ONE_INCH, size)
    assert err <= DIST_TOL_PX, err
    # the parameters themselves come back (ptlens's a, b, c are correlated, so loosely)
    assert fit.params["b"] == pytest.approx(TRUTH_PTLENS["b"], abs=2e-3)


def test_tca_poly3_matches_the_truth_over_the_whole_frame(kit, one_inch):
    truth, size, detections = one_inch
    dist = calibrate_distortion(focal=28, crop_factor=ONE_INCH, model="ptlens", kit=kit, detections=detections)
    tca = calibrate_tca(focal=28, crop_factor=ONE_INCH, model="poly3", kit=kit, detections=detections)
    assert set(tca.params) == {"vr", "vb", "cr", "cb", "br", "bb"}
    assert tca.params["cr"] == 0.0 and tca.params["cb"] == 0.0  # not fitted by default
    assert tca.red.rms_px < 0.03 and tca.blue.rms_px < 0.03
    fitted = _lens([dist.calibration(), tca.calibration()], ONE_INCH, 4 / 3)
    for channel in (0, 2):
        err = _max_map_error(kit, truth, fitted, ONE_INCH, size, channel, relative_to=1)
        assert err <= TCA_TOL_PX, (channel, err)


def test_tca_linear_fit_from_exact_corners(kit):
    """The linear model: corners placed by the engine's own maps, with 0.01 px noise, on a 3:2 body."""
    truth = _lens([Calibration("tca", "linear", 35, {"kr": 1.0003, "kb": 0.99975})], 1.5, 1.5)
    size = (1500, 1000)
    fwd = Corrector(kit, truth, crop_factor=1.5, size=size)
    rng = np.random.default_rng(3)
    dets = []
    for k in range(6):
        ideal = np.column_stack([rng.uniform(0, size[0] - 1, 200), rng.uniform(0, size[1] - 1, 200)])
        cc = np.stack([np.column_stack(fwd.channel_points(ideal[:, 0], ideal[:, 1], c)) for c in range(3)])
        cc = cc + rng.normal(0.0, 0.01, cc.shape)
        dets.append(mountkit.calibrate.BoardDetection(
            name=f"s{k}", size=size, pattern=(20, 10), corners=cc[1], board=ideal, square_px=40.0, coverage=0.5,
            edge_width_px=2.0, channel_corners=cc))
    fit = fit_tca(dets, calibration_geometry(*size, 1.5, 1.5), model="linear", focal=35)
    assert set(fit.params) == {"kr", "kb"}
    fitted = _lens([fit.calibration()], 1.5, 1.5)
    for channel in (0, 2):
        assert _max_map_error(kit, truth, fitted, 1.5, size, channel, relative_to=1) <= TCA_TOL_PX


def test_tca_needs_colour_shots(kit, one_inch):
    _, _, (dets, _) = one_inch
    grey = [dataclasses.replace(d, channel_corners=None) for d in dets[:2]]
    with pytest.raises(mountkit.MountkitError, match="no usable colour chessboard shot"):
        fit_tca(grey, calibration_geometry(1200, 900, ONE_INCH, 4 / 3), focal=28)


# -- poly3 on an APS-C 3:2 body -------------------------------------------------------------------------------


def test_poly3_on_an_aps_c_body_matches_the_truth(kit):
    crop, size = 1.53, (900, 600)
    truth = _lens([Calibration("distortion", "poly3", 35, {"k1": -0.03})], crop, 1.5)
    detections = _shots(kit, truth, size, crop, seed=1)
    fit = calibrate_distortion(focal=35, crop_factor=crop, model="poly3", kit=kit, detections=detections)
    assert fit.aspect_ratio == pytest.approx(1.5)
    assert fit.params["k1"] == pytest.approx(-0.03, abs=3e-4)
    err = _max_map_error(kit, truth, _lens([fit.calibration()], crop, 1.5), crop, size)
    assert err <= DIST_TOL_PX, err


# -- poly5 of a full-frame 3:2 profile, calibrated on the 1-inch body, applied on other bodies -------------------


def test_poly5_calibrated_on_the_one_inch_body_rescales_to_other_bodies(kit):
    """A full-frame lens profile (crop 1, 3:2), shot and calibrated at crop 2.64 4:3, stored with that body's
    crop factor and aspect ratio: applied on the 1-inch body and on others, it matches the truth."""
    truth = _lens([Calibration("distortion", "poly5", 50, {"k1": -0.012, "k2": 0.002})], 1.0, 1.5)
    size = (1000, 750)
    detections = _shots(kit, truth, size, ONE_INCH, seed=2)
    fit = calibrate_distortion(focal=50, crop_factor=ONE_INCH, model="poly5", kit=kit, detections=detections)
    assert (fit.crop_factor, fit.aspect_ratio) == (ONE_INCH, pytest.approx(4 / 3))
    fitted = _lens([fit.calibration()], fit.crop_factor, fit.aspect_ratio)
    # in the 1-inch normalisation the coefficients are the full-frame ones rescaled: r_ff = lam * r_1inch, lam the
    # ratio of the half short sides (4.92 mm / 12 mm); k1 and k2 are correlated, so k1 only loosely
    lam = np.hypot(1.5, 1) / np.hypot(4 / 3, 1) / ONE_INCH
    assert fit.params["k1"] == pytest.approx(-0.012 * lam ** 2, rel=0.05)
    bodies = [(ONE_INCH, size), (3.0, (900, 600)), (2.877, (1280, 720)), (ONE_INCH, (750, 1000))]
    for crop, frame in bodies:
        err = _max_map_error(kit, truth, fitted, crop, frame)
        assert err <= DIST_TOL_PX, (crop, frame, err)


def test_radial_curve_is_the_centre_magnification_one_mapping(kit):
    g = calibration_geometry(640, 480, 1.0, 4 / 3)
    m = kit.model("distortion", "ptlens")
    p = {"a": 0.011007, "b": -0.078548, "c": 0.002372}
    d = 1 - sum(p.values())
    rho = np.array([0.0, 50.0, 200.0])
    r = rho * g.norm_scale / d
    expected = r * (p["a"] * r ** 3 + p["b"] * r ** 2 + p["c"] * r + d) * g.norm_unscale
    np.testing.assert_allclose(radial_curve_px(m, p, g, rho), expected)
    # slope 1 at the centre
    assert radial_curve_px(m, p, g, np.array([1e-3]))[0] == pytest.approx(1e-3, rel=1e-6)


def _exact_detections(kit, truth, size, crop, poses, noise=0.01, seed=0):
    """Detections whose corners are placed by the engine's correction map (no rendering), with noise."""
    fwd = Corrector(kit, truth, crop_factor=crop, size=size)
    rng = np.random.default_rng(seed)
    jj, ii = np.mgrid[0:PATTERN[1], 0:PATTERN[0]]
    board = np.column_stack([ii.ravel(), jj.ravel()]).astype(np.float64)
    dets = []
    for k, hom in enumerate(poses):
        px, py = synthetic.board_to_pixel(hom, board[:, 0], board[:, 1])
        corners = np.column_stack(fwd.channel_points(px, py, 1)) + rng.normal(0, noise, (board.shape[0], 2))
        dets.append(mountkit.calibrate.BoardDetection(name=f"s{k}", size=size, pattern=PATTERN, corners=corners,
                                                      board=board, square_px=30.0, coverage=0.1, edge_width_px=2.0))
    return dets


def test_a_shot_that_disagrees_is_rejected_and_square_on_boards_fall_back_to_homographies(kit):
    size = (1200, 900)
    truth = _lens([Calibration("distortion", "poly3", 28, {"k1": -0.02})], ONE_INCH, 4 / 3)
    fwd = Corrector(kit, truth, crop_factor=ONE_INCH, size=size)
    poses = synthetic.board_homographies(*size, PATTERN, 9, inside=synthetic.inside_check(fwd))
    dets = _exact_detections(kit, truth, size, ONE_INCH, poses)
    # shot 3's board was bent: its rows sag by up to about 2 px
    bent = dets[3].corners.copy()
    x = bent[:, 0] - bent[:, 0].mean()
    bent[:, 1] += 2.0 * (x / np.abs(x).max()) ** 2
    dets[3] = dataclasses.replace(dets[3], corners=bent)
    g = calibration_geometry(*size, ONE_INCH, 4 / 3)
    fit = mountkit.calibrate.fit_distortion(dets, g, kit.model("distortion", "poly3"), focal=28)
    assert [r.name for r in fit.rejected] == ["s3"]
    assert fit.rejected[0].reason.startswith("does not agree with the other shots")
    assert fit.pose == "projection" and fit.camera_focal > 0
    assert fit.params["k1"] == pytest.approx(-0.02, abs=2e-4)
    # boards facing the camera squarely do not determine a pinhole focal length: homographies are used
    flat = synthetic.board_homographies(*size, PATTERN, 9, tilt=0.0, inside=synthetic.inside_check(fwd))
    fit = mountkit.calibrate.fit_distortion(_exact_detections(kit, truth, size, ONE_INCH, flat), g,
                                            kit.model("distortion", "poly3"), focal=28)
    assert fit.pose == "homography" and fit.camera_focal is None
    assert fit.params["k1"] == pytest.approx(-0.02, abs=2e-4)
    with pytest.raises(mountkit.MountkitError, match="no usable chessboard shot"):
        mountkit.calibrate.fit_distortion([], g, kit.model("distortion", "poly3"), focal=28)
