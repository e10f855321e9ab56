"""Chessboard detection: accuracy of the corners against the rendered truth, and rejections with reasons."""

from __future__ import annotations

import numpy as np
import pytest

from mountkit.calibrate import synthetic
from mountkit.calibrate.detection import (
    BoardRejected,
    Shot,
    detect_board,
    detect_boards,
    parse_pattern,
    refine_corners_symmetric,
    subpix_corners,
)
from mountkit.errors import MountkitError

W, H = 640, 480


def identity(xs, ys, channel=1):
    return np.broadcast_arrays(np.asarray(xs, dtype=np.float64), np.asarray(ys, dtype=np.float64))


def board_shot(pattern=(9, 6), *, fraction=0.5, blur=1.0, noise=0.005, pose=4, size=(W, H), channels=1, seed=0):
    hom = synthetic.board_homographies(size[0], size[1], pattern, pose + 1, board_fraction=fraction,
                                       rng=np.random.default_rng(seed))[pose]
    img = synthetic.render_board(size[0], size[1], hom, pattern, identity, blur_px=blur, noise=noise,
                                 channels=channels, rng=np.random.default_rng(seed + 1))
    cols, rows = pattern
    jj, ii = np.mgrid[0:rows, 0:cols]
    truth = np.column_stack(synthetic.board_to_pixel(hom, ii.ravel(), jj.ravel()))
    return img, truth


def nearest_error(found, truth):
    d = np.linalg.norm(found[:, None, :] - truth[None, :, :], axis=2)
    assert len(set(d.argmin(1))) == len(truth)  # one detected corner per true corner
    return d.min(1)


def test_corners_are_located_to_a_hundredth_of_a_pixel():
    img, truth = board_shot()
    d = detect_board(img, (9, 6), name="a")
    assert d.pattern == (9, 6) and d.count == 54 and d.size == (W, H)
    err = nearest_error(d.corners, truth)
    assert np.sqrt(np.mean(err ** 2)) < 0.015
    assert err.max() < 0.05
    # the point-symmetry step improves on cornerSubPix
    sub = nearest_error(subpix_corners(img, d.corners, d.square_px), truth)
    assert np.sqrt(np.mean(err ** 2)) < np.sqrt(np.mean(sub ** 2))


def test_symmetric_refinement_converges_from_a_pixel_away():
    img, truth = board_shot(noise=0.0)
    start = truth + np.random.default_rng(5).uniform(-0.6, 0.6, truth.shape)
    got = refine_corners_symmetric(img, start, 26.0)
    assert np.abs(got - truth).max() < 0.02


def test_integer_frames_and_colour_frames_are_accepted():
    img, truth = board_shot(channels=3)
    d = detect_board((img * 1023).astype(np.uint16), (9, 6), per_channel=True)
    assert d.channel_corners.shape == (3, 54, 2)
    assert nearest_error(d.channel_corners[0], truth).max() < 0.06
    np.testing.assert_array_equal(d.corners, d.channel_corners[1])  # green is the reference


def test_board_size_is_detected():
    img, _ = board_shot((12, 9), fraction=0.6)
    d = detect_board(img, None)
    assert sorted(d.pattern) == [9, 12]


def test_large_frames_are_searched_downscaled_and_refined_at_full_size():
    size = (2600, 1950)
    img, truth = board_shot(size=size, blur=1.5)
    d = detect_board(img, (9, 6))
    assert d.downscale > 2
    err = nearest_error(d.corners, truth)
    assert np.sqrt(np.mean(err ** 2)) < 0.02


@pytest.mark.parametrize("case, reason", [
    ("blank", "no 9x6 chessboard found"),
    ("blurred", "board blurred"),
    ("small", "board too small: its squares are"),
    ("grey-for-tca", "TCA needs colour"),
])
def test_unusable_shots_are_rejected_with_a_reason(case, reason):
    per_channel = False
    pattern = (9, 6)
    if case == "blank":
        img = np.full((H, W), 0.5, np.float32)
    elif case == "blurred":
        img, _ = board_shot(blur=4.0)
    elif case == "small":
        pattern = (4, 3)
        img, _ = board_shot(pattern, fraction=0.08, blur=0.8)
    else:
        img, _ = board_shot()
        per_channel = True
    with pytest.raises(BoardRejected) as info:
        detect_board(img, pattern, name=case, per_channel=per_channel)
    assert info.value.reason.startswith(reason)
    assert str(info.value).startswith(f"{case}: ")


def test_detect_boards_keeps_order_rejects_other_sizes_and_unreadable_shots():
    good, _ = board_shot()
    other, _ = board_shot(size=(800, 600))

    def broken():
        from mountkit.errors import FrameError

        raise FrameError("x.jpg: cannot decode image")

    shots = [Shot("a", lambda: good), Shot("b", lambda: np.zeros((H, W))), Shot("c", lambda: other),
             Shot("d", lambda: good), Shot("e", broken)]
    found, rejected = detect_boards(shots, (9, 6), workers=2)
    assert [d.name for d in found] == ["a", "d"]
    reasons = {r.name: r.reason for r in rejected}
    assert set(reasons) == {"b", "c", "e"}
    assert reasons["c"].startswith("frame is 800x600 but the other shots are 640x480")
    assert reasons["e"].startswith("cannot be read")


def test_parse_pattern():
    assert parse_pattern("9x6") == (9, 6)
    assert parse_pattern((12, 9)) == (12, 9)
    assert parse_pattern(None) is None
    with pytest.raises(MountkitError, match="inner corners"):
        parse_pattern("2x6")
    with pytest.raises(MountkitError, match="COLSxROWS"):
        parse_pattern("nine by six")


def test_grid_extended_onto_the_board_edge_is_trimmed():
    """Corners on the boundary between the outer squares and the white margin are T-junctions, not X-corners."""
    from mountkit.calibrate.detection import corner_asymmetry, trim_grid

    pattern = (9, 6)
    hom = synthetic.board_homographies(W, H, pattern, 5, board_fraction=0.5, rng=np.random.default_rng(0))[4]
    img = synthetic.render_board(W, H, hom, pattern, identity, blur_px=1.0, noise=0.005)
    jj, ii = np.mgrid[0:7, -1:9]  # one row (j = 6) and one column (i = -1) too many: on the squares' edge
    grid = np.column_stack(synthetic.board_to_pixel(hom, ii.ravel(), jj.ravel()))
    score = corner_asymmetry(img.astype(np.float64), grid, 26.0).reshape(7, 10)
    assert score[:6, 1:].max() < 0.1 and score[6].min() > 0.3 and score[:, 0].min() > 0.3
    corners, pat = trim_grid(img.astype(np.float64), grid, (10, 7))
    assert pat == (9, 6)
    np.testing.assert_allclose(corners, grid.reshape(7, 10, 2)[:6, 1:].reshape(-1, 2))


def test_board_size_found_once_then_required():
    pattern = (9, 6)
    homs = synthetic.board_homographies(W, H, pattern, 9, board_fraction=0.5, rng=np.random.default_rng(4))
    shots = [Shot(f"s{k}", lambda h=h, k=k: synthetic.render_board(W, H, h, pattern, identity, channels=3,
                                                                 rng=np.random.default_rng(k)))
             for k, h in enumerate(homs[:5])]
    found, rejected = detect_boards(shots, None, workers=2)
    assert rejected == [] and len(found) == 5
    assert all(sorted(d.pattern) == [6, 9] and d.count == 54 for d in found)
