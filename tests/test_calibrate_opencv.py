"""Real shots: OpenCV's own chessboard samples, compared with OpenCV's published calibration.

OpenCV's regression test (``modules/python/test/test_calibration.py``) calibrates left01..left14
to (k1, k2, k3) = (-0.281326, 0.029113, 0.154866), fx 532.810, fy 532.933 (RMS 0.196 px).  In
lensfun units (r = 1 at s = (min(W, H) - 1) / 2 = 239.5 px) its radial mapping is
g(t) = t (1 + K1 t^2 + K2 t^4 + K3 t^6), Ki = ki (s / f)^(2i) (docs/calibration.md).  A ptlens or
poly5 fit, brought to centre magnification 1, must follow that curve within 1 px over the
radii the chessboards cover (distorted radius up to 1.22 units).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import mountkit
from mountkit.calibrate import calibrate_distortion, detect
from mountkit.calibrate.detection import detect_board
from mountkit.calibrate.distortion_fit import calibration_geometry, radial_curve_px

DATA = Path(__file__).parent / "data" / "opencv_chessboard"
IMAGES = sorted(DATA.glob("left*.jpg"))

pytestmark = pytest.mark.skipif(len(IMAGES) != 13, reason="OpenCV chessboard samples not present")

S = 239.5  # (min(640, 480) - 1) / 2
F = np.sqrt(532.80992189 * 532.93346422)
K = [-0.281325576 * (S / F) ** 2, 0.0291130406 * (S / F) ** 4, 0.154865844 * (S / F) ** 6]


def opencv_curve(t):
    t2 = t * t
    return t * (1 + K[0] * t2 + K[1] * t2 ** 2 + K[2] * t2 ** 3)


def test_reference_curve_as_published():
    # the published table of the conversion (docs/calibration.md, section 7.4)
    t = np.array([0.2, 0.6, 1.0, 1.3])
    np.testing.assert_allclose(opencv_curve(t), [0.19955, 0.58785, 0.94563, 1.18757], atol=1e-5)


@pytest.fixture(scope="module")
def kit():
    return mountkit.Kit(entry_points=False)


@pytest.fixture(scope="module")
def detections(kit):
    return detect(IMAGES, pattern="9x6", workers=2, kit=kit)


def test_every_sample_is_detected(detections):
    dets, rejected = detections
    assert rejected == []
    assert len(dets) == 13
    assert all(d.size == (640, 480) and d.count == 54 for d in dets)
    # squares 19-61 px (docs/calibration.md)
    assert 15 < min(d.square_px for d in dets) and max(d.square_px for d in dets) < 70


def test_board_size_is_detected_when_not_given():
    import cv2

    d = detect_board(cv2.imread(str(IMAGES[0]), cv2.IMREAD_GRAYSCALE), None, name=IMAGES[0].name)
    assert sorted(d.pattern) == [6, 9]
    assert d.count == 54


@pytest.mark.parametrize("model", ["ptlens", "poly5"])
def test_radial_mapping_matches_opencv_within_one_pixel(kit, detections, model):
    fit = calibrate_distortion(focal=3.6, crop_factor=7.0, model=model, kit=kit, detections=detections)
    assert fit.aspect_ratio == pytest.approx(4 / 3)
    assert fit.rms_px < 0.35  # OpenCV's centre-fixed radial fits: 0.34 px (its free-centre fit: 0.20 px)
    assert len(fit.shots) == 13
    g = calibration_geometry(640, 480, 7.0, fit.aspect_ratio)
    t = np.linspace(0.0, 1.3, 2001)
    t = t[opencv_curve(t) <= 1.22]  # the radii the chessboards cover
    ours = radial_curve_px(kit.model("distortion", model), fit.params, g, S * t)
    theirs = S * opencv_curve(t)
    assert np.abs(ours - theirs).max() <= 1.0
    # barrel of about 29 px at the edge of the covered area, as OpenCV finds
    assert theirs[-1] - S * t[-1] == pytest.approx(ours[-1] - S * t[-1], abs=1.0)
    assert S * t[-1] - theirs[-1] > 25
