import numpy as np
import pytest

from mountkit.charts import checkerboard, demo_chart


def supersampled(width, height, squares_high, sup=64):
    """Brute-force box-filtered checkerboard, the oracle for the analytic coverage."""
    xs = (np.arange(width * sup) + 0.5) / sup - 0.5
    ys = (np.arange(height * sup) + 0.5) / sup - 0.5
    period = height / squares_high
    ex = np.floor((xs - (width - 1) / 2) / period) % 2 == 0
    ey = np.floor((ys - (height - 1) / 2) / period) % 2 == 0
    even = (ey[:, None] == ex[None, :]).astype(float).reshape(height, sup, width, sup).mean((1, 3))
    return 0.1 + 0.8 * even


@pytest.mark.parametrize("size", [(37, 29, 3), (64, 48, 4), (50, 31, 5)])
def test_checkerboard_is_box_filtered_exactly(size):
    w, h, n = size
    got = checkerboard(w, h, squares_high=n)
    # supersampling at 64 x 64 is within 0.8 / 64 of the exact box filter per axis
    assert np.abs(got - supersampled(w, h, n)).max() <= 2 * 0.8 / 64 + 1e-6


def test_checkerboard_edges_meet_at_the_centre():
    c = checkerboard(65, 49, squares_high=7)
    # centre pixel straddles the corner of four squares: mean of high and low
    assert c[24, 32] == pytest.approx(0.5, abs=1e-6)


def test_demo_chart_shape_and_range():
    d = demo_chart(160, 120)
    assert d.shape == (120, 160, 3) and d.dtype == np.float32
    assert 0 <= d.min() and d.max() <= 1
    assert not np.array_equal(d[..., 0], d[..., 2])


def test_bad_size():
    with pytest.raises(ValueError):
        checkerboard(0, 10)


def test_demo_chart_in_integers_is_the_rounded_float_chart():
    f = demo_chart(97, 61)
    u = demo_chart(97, 61, white=1023)
    assert u.dtype == np.uint16
    assert np.abs(u.astype(np.float64) - f.astype(np.float64) * 1023).max() <= 0.5 + 1e-3
