"""The opcode mathematics against independent forms: Adobe's LCP model, closed forms, symmetries."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mountkit.dng.gain import apply_gain_map, gain_map_values, vignette_gain
from mountkit.dng.opcodes import FixVignetteRadial, GainMap, WarpFisheye, WarpRectilinear, WarpRectilinear2
from mountkit.dng.warp import compose_source_positions, source_positions, warp_center_and_radius
from mountkit.models.adobe import acm_distort

W, H = 600, 400
rng = np.random.default_rng(7)
X = rng.uniform(0, W - 1, 500)
Y = rng.uniform(0, H - 1, 500)
small = st.floats(-0.05, 0.05)


def test_identity_warp_and_centre_conventions():
    ident = WarpRectilinear(radial=[(1, 0, 0, 0)])
    sx, sy = source_positions(ident, X, Y, W, H)
    np.testing.assert_allclose(sx, X, atol=1e-12)
    np.testing.assert_allclose(sy, Y, atol=1e-12)
    # the SDK puts the centre at cx * width with pixels on integers, and m at the farthest bounds corner
    assert warp_center_and_radius((0.5, 0.5), W, H) == (300.0, 200.0, np.hypot(300, 200))
    # a pure magnification about (cx * W, cy * H)
    mag = WarpRectilinear(radial=[(1.001, 0, 0, 0)], center=(0.25, 0.75))
    sx, sy = source_positions(mag, X, Y, W, H)
    np.testing.assert_allclose(sx, 150 + 1.001 * (X - 150), atol=1e-9)
    np.testing.assert_allclose(sy, 300 + 1.001 * (Y - 300), atol=1e-9)


@settings(max_examples=60, deadline=None)
@given(st.tuples(st.floats(0.9, 1.1), small, small, small), st.tuples(small, small), st.floats(0.3, 0.7),
       st.floats(0.3, 0.7))
def test_warp_rectilinear_is_warp_rectilinear2_with_even_terms(kr, kt, cx, cy):
    """The SDK's SetWarpRectilinear_1_3: kr0..kr3 are the r^0, r^2, r^4, r^6 terms of WarpRectilinear2."""
    wr = WarpRectilinear(radial=[kr], tangential=[kt], center=(cx, cy))
    terms = [0.0] * 15
    terms[0], terms[2], terms[4], terms[6] = kr
    wr2 = WarpRectilinear2(radial=[terms], tangential=[kt], center=(cx, cy))
    a = source_positions(wr, X, Y, W, H)
    b = source_positions(wr2, X, Y, W, H)
    np.testing.assert_allclose(a, b, atol=1e-9)


@settings(max_examples=60, deadline=None)
@given(st.tuples(small, small, small), st.tuples(st.floats(-0.01, 0.01), st.floats(-0.01, 0.01)),
       st.floats(0.4, 0.6), st.floats(0.4, 0.6), st.floats(0.5, 2.0))
def test_warp_rectilinear_equals_adobe_camera_model(k, kt, cx, cy, focal):
    """lcp-and-dng.md 3.1: an LCP model (k1..k5, focal F, centre) is the WarpRectilinear with
    kr = (1, k1 rho^2, k2 rho^4, k3 rho^6), kt = (k4 rho, k5 rho), rho = m / F.  Checked against
    mountkit's Adobe model (a separate implementation), which pins the tangential terms' orientation."""
    k1, k2, k3 = k
    k4, k5 = kt
    C_x, C_y, m = warp_center_and_radius((cx, cy), W, H)
    F = focal * max(W, H)
    rho = m / F
    wr = WarpRectilinear(radial=[(1.0, k1 * rho**2, k2 * rho**4, k3 * rho**6)], tangential=[(k4 * rho, k5 * rho)],
                         center=(cx, cy))
    sx, sy = source_positions(wr, X, Y, W, H)
    xd, yd = acm_distort((X - C_x) / F, (Y - C_y) / F, k1, k2, k3, k4, k5)
    np.testing.assert_allclose(sx, C_x + F * xd, atol=1e-8)
    np.testing.assert_allclose(sy, C_y + F * yd, atol=1e-8)


def test_warp_fisheye_is_equidistant_with_kr0_one():
    fe = WarpFisheye(radial=[(1, 0, 0, 0)], center=(0.5, 0.5))
    cx, cy, m = warp_center_and_radius((0.5, 0.5), W, H)
    sx, sy = source_positions(fe, X, Y, W, H)
    r = np.hypot(X - cx, Y - cy) / m
    ratio = np.arctan(r) / r
    np.testing.assert_allclose(sx, cx + (X - cx) * ratio, atol=1e-9)
    np.testing.assert_allclose(sy, cy + (Y - cy) * ratio, atol=1e-9)
    # at the centre the ratio is 1
    assert source_positions(fe, np.array([cx]), np.array([cy]), W, H)[0][0] == cx


def test_per_plane_sets_and_composition():
    wr = WarpRectilinear(radial=[(1.001, 0, 0, 0), (1, 0, 0, 0), (0.999, 0, 0, 0)])
    for p, k in enumerate((1.001, 1.0, 0.999)):
        sx, _ = source_positions(wr, X, Y, W, H, plane=p, image_planes=3)
        np.testing.assert_allclose(sx, 300 + k * (X - 300), atol=1e-9)
    with pytest.raises(Exception, match="needs 1 or 4"):
        source_positions(wr, X, Y, W, H, plane=0, image_planes=4)
    # two magnifications applied in list order compose into their product
    a = WarpRectilinear(radial=[(1.01, 0, 0, 0)])
    b = WarpRectilinear(radial=[(0.98, 0, 0, 0)])
    sx, _ = compose_source_positions([a, b], X, Y, W, H)
    np.testing.assert_allclose(sx, 300 + 1.01 * 0.98 * (X - 300), atol=1e-9)


def test_vignette_uses_pixel_centres_and_the_corner_radius():
    op = FixVignetteRadial(k=(0.5, 0.25, -0.1, 0.05, 0.01), center=(0.5, 0.5))
    jj, ii = np.mgrid[0:H, 0:W]
    g = vignette_gain(op, ii, jj, W, H)
    # symmetric about the middle of the pixel grid: the SDK's +0.5 pixel centres
    np.testing.assert_allclose(g, g[::-1, ::-1], rtol=1e-14)
    # at a corner pixel r^2 = (299.5^2 + 199.5^2) / (300^2 + 200^2)
    r2 = (299.5**2 + 199.5**2) / (300**2 + 200**2)
    expected = 1 + 0.5 * r2 + 0.25 * r2**2 - 0.1 * r2**3 + 0.05 * r2**4 + 0.01 * r2**5
    assert g[0, 0] == pytest.approx(expected, rel=1e-14)
    # an off-centre vignette: the farthest corner defines r = 1
    off = FixVignetteRadial(k=(1.0, 0, 0, 0, 0), center=(0.0, 0.0))
    assert vignette_gain(off, np.array([W - 0.5]), np.array([H - 0.5]), W, H)[0] == pytest.approx(2.0)


def test_gain_map_is_bilinear_with_edge_clamping():
    # gains linear in the map position: bilinear interpolation reproduces them exactly inside the map
    pv, ph = 5, 7
    sv, sh, ov, oh = 0.2, 0.1, 0.1, 0.2
    v = ov + sv * np.arange(pv)
    h = oh + sh * np.arange(ph)
    gains = 1 + 0.5 * v[:, None] + 0.25 * h[None, :]
    op = GainMap(top=0, left=0, bottom=H, right=W, spacing=(sv, sh), origin=(ov, oh), gains=gains)
    rows, cols = np.arange(H), np.arange(W)
    got = gain_map_values(op, rows, cols, H, W)
    vr = np.clip((rows + 0.5) / H, v[0], v[-1])
    hr = np.clip((cols + 0.5) / W, h[0], h[-1])
    np.testing.assert_allclose(got, 1 + 0.5 * vr[:, None] + 0.25 * hr[None, :], rtol=1e-6)
    # a single map point: spacing and origin do not matter
    one = GainMap(top=0, left=0, bottom=H, right=W, spacing=(0.0, 0.0), origin=(5, 5), gains=[[1.5]])
    assert np.all(gain_map_values(one, rows, cols, H, W) == 1.5)


def test_gain_map_on_a_cfa_touches_only_its_phase():
    cfa = np.full((H, W), 100, np.uint16)
    op = GainMap(top=1, left=0, bottom=H, right=W, row_pitch=2, col_pitch=2, spacing=(1, 1), gains=[[2.0, 2.0],
                                                                                                      [2.0, 2.0]])
    out = apply_gain_map(cfa, op)
    assert out.dtype == np.float32 and np.all(cfa == 100)  # input untouched
    assert np.all(out[1::2, 0::2] == 200) and np.all(out[0::2, :] == 100) and np.all(out[1::2, 1::2] == 100)
    assert np.all(apply_gain_map(cfa, op, clip=150)[1::2, 0::2] == 150)
    # an RGB image: planes select channels, map planes beyond the last reuse the last
    rgb = np.ones((H, W, 3), np.float32)
    op3 = GainMap(top=0, left=0, bottom=H, right=W, plane=1, planes=2, spacing=(1, 1), gains=[[[3.0, 5.0]]])
    out = apply_gain_map(rgb, op3)
    assert np.all(out[..., 0] == 1) and np.all(out[..., 1] == 5) and np.all(out[..., 2] == 5)
