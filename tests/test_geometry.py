"""lensfun 0.3.4's coordinate systems, the correction and simulation maps, and the automatic scale."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mountkit import geometry as geo
from mountkit.geometry import FrameGeometry, ModelTerms
from mountkit.models.distortion import Poly3, Poly5, PTLens
from mountkit.models.tca import LinearTCA, Poly3TCA
from mountkit.models.vignetting import PAVignetting

CROPS = [1.0, 1.33, 1.53, 2.64, 5.6]


def test_one_inch_worked_example():
    """reference §2.1: full-frame 3:2 calibration on 8192 x 6144 at crop 2.64."""
    g = FrameGeometry(8192, 6144, crop_factor=2.64, lens_crop_factor=1.0)
    assert (g.span_x, g.span_y, g.size) == (8191.0, 6143.0, 6143.0)
    assert g.image_aspect == pytest.approx(1.333387, abs=1e-6)
    assert g.coordinate_correction == pytest.approx(0.409711, abs=1e-6)
    assert g.norm_scale == pytest.approx(1.333912e-4, rel=1e-6)
    assert g.norm_unscale == pytest.approx(7496.747, rel=1e-6)
    assert g.center_x == pytest.approx(0.546304, abs=1e-6)
    assert g.center_y == pytest.approx(0.409711, abs=1e-6)
    assert g.corner_radius == pytest.approx(0.6829, abs=1e-4)
    x, y = geo.pixel_to_normalized(g, [8191, 4095.5], [3071.5, 0])
    assert np.hypot(x, y) == pytest.approx([0.5463, 0.4097], abs=1e-4)
    assert geo.vignetting_radius(g, *geo.pixel_to_normalized(g, 0, 0)) == pytest.approx(1 / 2.64, rel=1e-12)


def test_cc_uses_the_pixel_centre_distances():
    # 1500 x 1000 at crop 1 on a 3:2 calibration: iar = 1499/999, not 1.5
    g = FrameGeometry(1500, 1000, crop_factor=1.0, lens_crop_factor=1.0)
    assert g.coordinate_correction == pytest.approx(0.999769, abs=1e-6)
    # aspect ratio 4:3 calibration (lensfun <aspect-ratio>4:3</aspect-ratio>) changes cc by ARC
    g43 = FrameGeometry(1500, 1000, crop_factor=2.0, lens_crop_factor=2.0, aspect_ratio=4 / 3)
    ratio = g43.coordinate_correction / g.coordinate_correction
    assert ratio == pytest.approx(math.hypot(4 / 3, 1) / math.hypot(1.5, 1))
    # a 3:4 ratio is normalised to >= 1
    portrait = FrameGeometry(10, 10, crop_factor=1, lens_crop_factor=1, aspect_ratio=0.75)
    assert portrait.aspect_ratio == pytest.approx(4 / 3)


@settings(max_examples=60, deadline=None)
@given(w=st.integers(2, 9000), h=st.integers(2, 9000), crop=st.sampled_from(CROPS),
       lens_crop=st.sampled_from(CROPS), ar=st.sampled_from([1.5, 4 / 3, 16 / 9, 1.0]))
def test_frame_corner_is_at_the_physical_radius(w, h, crop, lens_crop, ar):
    """Crop factors are diagonal ratios: a frame's corner lies at r_v = lens_crop / crop, whatever its size."""
    g = FrameGeometry(w, h, crop_factor=crop, lens_crop_factor=lens_crop, aspect_ratio=ar)
    rv = geo.vignetting_radius(g, *geo.pixel_to_normalized(g, [0, w - 1], [0, h - 1]))
    assert rv == pytest.approx([lens_crop / crop] * 2, rel=1e-12)
    # and the optical centre is the frame centre
    x, y = geo.pixel_to_normalized(g, (w - 1) / 2, (h - 1) / 2)
    assert abs(x) < 1e-12 and abs(y) < 1e-12


@settings(max_examples=50, deadline=None)
@given(w=st.integers(2, 9000), h=st.integers(2, 9000), i=st.floats(-100, 9100), j=st.floats(-100, 9100),
       cx=st.floats(-0.1, 0.1), cy=st.floats(-0.1, 0.1))
def test_pixel_normalised_round_trip(w, h, i, j, cx, cy):
    g = FrameGeometry(w, h, crop_factor=1.53, lens_crop_factor=1.0, center=(cx, cy))
    x, y = geo.pixel_to_normalized(g, i, j)
    i2, j2 = geo.normalized_to_pixel(g, x, y)
    assert i2 == pytest.approx(i, abs=1e-9) and j2 == pytest.approx(j, abs=1e-9)


def test_centre_offset_is_in_half_short_sides():
    g = FrameGeometry(1500, 1000, crop_factor=1.0, lens_crop_factor=1.0, center=(0.1, -0.05))
    # optical centre moves by center * size / 2 pixels
    i, j = geo.normalized_to_pixel(g, 0.0, 0.0)
    assert i == pytest.approx(749.5 + 0.1 * 999 / 2) and j == pytest.approx(499.5 - 0.05 * 999 / 2)


def test_portrait_is_the_rotated_landscape():
    d = ModelTerms(PTLens(), {"a": 0.02, "b": -0.06, "c": 0.03})
    t = ModelTerms(Poly3TCA(), {"vr": 1.0004, "vb": 0.9993, "cr": 2e-4})
    maps = {}
    for w, h in [(64, 48), (48, 64)]:
        g = FrameGeometry(w, h, crop_factor=1.53, lens_crop_factor=1.0)
        x, y = geo.pixel_to_normalized(g, np.arange(w)[None, :], np.arange(h)[:, None])
        m = geo.correction_map(*np.broadcast_arrays(x, y), scale=1.02, distortion=d, tca=t)
        px, py = geo.normalized_to_pixel(g, m[..., 0], m[..., 1])
        maps[(w, h)] = np.stack([px, py], -1)
    land, port = maps[(64, 48)], maps[(48, 64)]
    assert np.allclose(port.transpose(1, 0, 2, 3)[..., ::-1], land, atol=1e-9)


def test_correction_map_order_scale_distortion_tca():
    d = ModelTerms(Poly3(), {"k1": -0.05})
    t = ModelTerms(Poly3TCA(), {"vr": 1.001, "vb": 0.998, "cr": 0.002, "cb": -0.001, "br": 0.0005, "bb": 0.0})
    x, y = np.array([0.3, -0.8]), np.array([0.2, 0.45])
    m = geo.correction_map(x, y, scale=1.1, distortion=d, tca=t)
    px, py = x / 1.1, y / 1.1
    r = np.hypot(px, py)
    s = 1.05 - 0.05 * r**2
    gx, gy = px * s, py * s
    rd = np.hypot(gx, gy)  # TCA at the distorted radius
    fr = 0.0005 * rd**2 + 0.002 * rd + 1.001
    fb = -0.001 * rd + 0.998
    assert np.allclose(m[:, 1, 0], gx, atol=1e-15) and np.allclose(m[:, 1, 1], gy, atol=1e-15)
    assert np.allclose(m[:, 0, 0], gx * fr, atol=1e-15) and np.allclose(m[:, 2, 1], gy * fb, atol=1e-15)
    # without models the map is the scaled identity for every channel
    m0 = geo.correction_map(x, y, scale=2.0)
    assert np.allclose(m0[:, :, 0], (x / 2)[:, None]) and np.allclose(m0[:, :, 1], (y / 2)[:, None])


distortions = st.one_of(
    st.builds(lambda k1: ModelTerms(Poly3(), {"k1": k1}), st.floats(-0.08, 0.08)),
    st.builds(lambda k1, k2: ModelTerms(Poly5(), {"k1": k1, "k2": k2}), st.floats(-0.08, 0.08), st.floats(-0.02, 0.02)),
    st.builds(lambda a, b, c: ModelTerms(PTLens(), {"a": a, "b": b, "c": c}),
              st.floats(-0.03, 0.03), st.floats(-0.08, 0.08), st.floats(-0.06, 0.06)),
)
tcas = st.one_of(
    st.none(),
    st.builds(lambda kr, kb: ModelTerms(LinearTCA(), {"kr": kr, "kb": kb}),
              st.floats(0.998, 1.002), st.floats(0.998, 1.002)),
    st.builds(lambda vr, vb, cr, br: ModelTerms(Poly3TCA(), {"vr": vr, "vb": vb, "cr": cr, "cb": -cr, "br": br,
                                                              "bb": br}),
              st.floats(0.998, 1.002), st.floats(0.998, 1.002), st.floats(-1e-3, 1e-3), st.floats(-1e-3, 1e-3)),
)


@settings(max_examples=80, deadline=None)
@given(d=distortions, t=tcas, scale=st.floats(0.9, 1.1),
       pts=st.lists(st.tuples(st.floats(-0.9, 0.9), st.floats(-0.6, 0.6)), min_size=1, max_size=20))
def test_simulation_map_inverts_the_correction_map(d, t, scale, pts):
    x, y = np.array(pts).T
    sim = geo.simulation_map(x, y, scale=scale, distortion=d, tca=t, tol=1e-13)
    for c in range(3):
        back = geo.correction_map(sim[:, c, 0], sim[:, c, 1], scale=scale, distortion=d, tca=t)
        assert np.allclose(back[:, c, 0], x, atol=1e-11) and np.allclose(back[:, c, 1], y, atol=1e-11)
    # and one channel at a time gives the same numbers
    for c in range(3):
        cx, cy = geo.channel_map(x, y, c, scale=scale, distortion=d, tca=t, reverse=True, tol=1e-13)
        assert np.array_equal(cx, sim[:, c, 0]) and np.array_equal(cy, sim[:, c, 1])


def test_invert_radial_precision_and_failure():
    fn = lambda r: r * (1 - 0.5 * r * r)  # noqa: E731 - increasing up to r = sqrt(2/3), max 0.544
    r = geo.invert_radial(fn, np.array([0.1, 0.4, 0.54, 0.6]), tol=1e-14)
    assert np.allclose(fn(r[:3]), [0.1, 0.4, 0.54], atol=1e-14)
    assert np.all(r[:3] < math.sqrt(2 / 3))
    assert np.isnan(r[3])  # beyond the fold: no solution


def test_invert_planar_for_non_radial_maps():
    fn = lambda u, v: (u + 0.1 * u * v, v + 0.05 * u * u)  # noqa: E731
    x, y = np.array([0.2, -0.5, 0.7]), np.array([0.3, 0.4, -0.6])
    u, v = geo.invert_planar(fn, x, y, tol=1e-13)
    fu, fv = fn(u, v)
    assert np.allclose(fu, x, atol=1e-12) and np.allclose(fv, y, atol=1e-12)


def probe_scale(g, d):
    """lensfun's autoscale (§6) evaluated exactly: 8 directions, bisection for the edge crossing, x 1.001."""
    x0, x1, y0, y1 = g.bounds
    w2, h2 = x1, y1  # centred frame
    probes = [(w2, 0.0), (w2, h2), (0.0, h2)]
    worst = 0.0
    for px, py in probes:
        rho = math.hypot(px, py)
        ux, uy = px / rho, py / rho
        lo, hi = 0.0, 4 * rho
        for _ in range(200):
            mid = 0.5 * (lo + hi)
            s = d.model.radial_factor(np.array(mid), d.params)
            if max(abs(mid * s * ux) - w2, abs(mid * s * uy) - h2) < 0:
                lo = mid
            else:
                hi = mid
        worst = max(worst, rho / lo)
    return worst * 1.001


def boundary_sources(g, **maps):
    bi, bj = geo.boundary_pixels(g.width, g.height)
    m = geo.correction_map(*geo.pixel_to_normalized(g, bi, bj), **maps)
    return geo.normalized_to_pixel(g, m[..., 0], m[..., 1])


def no_empty_border(g, **maps):
    i, j = boundary_sources(g, **maps)
    return bool(np.all((i >= 0) & (i <= g.width - 1) & (j >= 0) & (j <= g.height - 1)))


@pytest.mark.parametrize("d", [ModelTerms(PTLens(), {"a": 0.004, "b": 0.01, "c": -0.01}),
                               ModelTerms(Poly3(), {"k1": -0.02}), ModelTerms(Poly3(), {"k1": 0.03})])
@pytest.mark.parametrize("size,crop", [((1500, 1000), 1.0), ((1000, 1500), 1.53), ((8192, 6144), 2.64)])
def test_auto_scale_is_lensfuns_for_monotonic_distortion(d, size, crop):
    g = FrameGeometry(*size, crop_factor=crop, lens_crop_factor=1.0)
    s = geo.auto_scale(g, distortion=d)
    assert s == pytest.approx(probe_scale(g, d), rel=1e-9)
    assert no_empty_border(g, distortion=d, scale=s)
    assert not no_empty_border(g, distortion=d, scale=s / 1.0011)  # and it is the smallest such zoom


@pytest.mark.parametrize("d,crop,size,excess", [
    (ModelTerms(Poly5(), {"k1": 0.05, "k2": -0.016}), 1.0, (1500, 1000), 3e-3),
    # lensfun's Summicron-M 28 ASPH on the 1-inch sensor: s(r) peaks at r = 0.66, between the
    # long edge's midpoint (0.546) and the corner (0.683)
    (ModelTerms(PTLens(), {"a": 0.0135748, "b": -0.0502846, "c": 0.0486119}), 2.64, (8192, 6144), 1e-5),
])
def test_auto_scale_catches_moustache_distortion_lensfun_misses(d, crop, size, excess):
    """s(r) peaks inside the frame: lensfun's 8 probes leave an empty border, the exact search does not."""
    g = FrameGeometry(*size, crop_factor=crop, lens_crop_factor=1.0)
    lensfun_like = probe_scale(g, d)
    ours = geo.auto_scale(g, distortion=d)
    assert ours > lensfun_like * (1 + excess)
    # without the 1.001 safety margin, lensfun's 8 directions leave an empty border; the exact search does not
    assert not no_empty_border(g, distortion=d, scale=lensfun_like / 1.001)
    assert no_empty_border(g, distortion=d, scale=ours / 1.001 * (1 + 1e-9))
    assert no_empty_border(g, distortion=d, scale=ours)


def test_auto_scale_with_tca():
    g = FrameGeometry(1500, 1000, crop_factor=1.53, lens_crop_factor=1.0)
    d = ModelTerms(PTLens(), {"a": 0.01, "b": -0.03, "c": 0.02})
    small = ModelTerms(LinearTCA(), {"kr": 1.0002, "kb": 0.9998})
    big = ModelTerms(LinearTCA(), {"kr": 1.004, "kb": 0.999})
    base = geo.auto_scale(g, distortion=d)
    assert geo.auto_scale(g, distortion=d, tca=small) == pytest.approx(base * 1.001, rel=1e-12)  # lensfun's rule
    s = geo.auto_scale(g, distortion=d, tca=big)  # TCA beyond the margin: all channels counted
    assert s > base * 1.003
    assert no_empty_border(g, distortion=d, tca=big, scale=s)
    assert not no_empty_border(g, distortion=d, tca=big, scale=s / 1.001 / (1 + 1e-7))
    assert no_empty_border(g, distortion=d, tca=big, scale=s / 1.001 * (1 + 1e-7))
    assert not no_empty_border(g, distortion=d, tca=big, scale=base)
    # without distortion: 1.001 with TCA, 1 with nothing (lensfun)
    assert geo.auto_scale(g, tca=small) == 1.001
    assert geo.auto_scale(g) == 1.0


def test_auto_scale_reverse_leaves_no_empty_border_in_the_simulation():
    g = FrameGeometry(640, 480, crop_factor=1.53, lens_crop_factor=1.0)
    d = ModelTerms(Poly3(), {"k1": -0.04})  # barrel: the simulated corners would be empty at scale 1
    s = geo.auto_scale(g, distortion=d, reverse=True)
    bi, bj = geo.boundary_pixels(g.width, g.height)
    for scale, ok in [(s, True), (s * 1.0011, False)]:
        m = geo.simulation_map(*geo.pixel_to_normalized(g, bi, bj), scale=scale, distortion=d, tol=1e-13)
        i, j = geo.normalized_to_pixel(g, m[..., 0], m[..., 1])
        inside = np.all((i >= 0) & (i <= g.width - 1) & (j >= 0) & (j <= g.height - 1))
        assert inside == ok


def test_auto_scale_planar_fallback_agrees_with_the_radial_solution():
    class Wrapped(Poly3):
        """The same model, declared without a radial factor (non-radial code path)."""

        name = "poly3-planar"

        def distort(self, x, y, p):
            s = Poly3.radial_factor(self, np.hypot(x, y), p)
            return x * s, y * s

    Wrapped.radial_factor = geo.DistortionModel.radial_factor
    g = FrameGeometry(320, 240, crop_factor=1.53, lens_crop_factor=1.0)
    p = {"k1": 0.03}
    planar = ModelTerms(Wrapped(), p)
    assert not planar.model.is_radial
    assert geo.auto_scale(g, distortion=planar) == pytest.approx(geo.auto_scale(g, distortion=ModelTerms(Poly3(), p)),
                                                                 rel=1e-6)


def test_vignetting_gain_strength_and_reverse():
    g = FrameGeometry(640, 480, crop_factor=2.0, lens_crop_factor=1.0)
    v = ModelTerms(PAVignetting(), {"k1": -0.5, "k2": 0.1, "k3": -0.02})
    x, y = geo.pixel_to_normalized(g, np.array([0.0, 319.5, 100.0]), np.array([0.0, 239.5, 50.0]))
    r = geo.vignetting_radius(g, x, y)
    c = 1 - 0.5 * r**2 + 0.1 * r**4 - 0.02 * r**6
    assert np.allclose(geo.vignetting_gain(g, x, y, v), 1 / c, rtol=1e-15)
    assert np.allclose(geo.vignetting_gain(g, x, y, v, strength=0.5), c**-0.5, rtol=1e-15)
    assert np.allclose(geo.vignetting_gain(g, x, y, v, strength=0.0), 1.0)
    assert np.allclose(geo.vignetting_gain(g, x, y, v, reverse=True), c, rtol=1e-15)
    assert geo.vignetting_gain(g, x, y, v)[1] == 1.0  # optical centre
    # where the extrapolated polynomial is not positive the pixel goes to 0 (lensfun clamps to 0)
    bad = ModelTerms(PAVignetting(), {"k1": -8.0})
    assert geo.vignetting_gain(g, x[:1], y[:1], bad)[0] == 0.0


def test_inside_frame_and_boundary():
    assert geo.inside_frame(np.array([-0.5, -0.51, 9.5, 9.6, np.nan]), np.zeros(5), 10, 4).tolist() == \
        [True, False, True, False, False]
    i, j = geo.boundary_pixels(7, 5)
    assert len(i) == 2 * 7 + 2 * 5 - 4 == len(set(zip(i.tolist(), j.tolist(), strict=True)))
    assert set(i.tolist()) == set(range(7)) and set(j.tolist()) == set(range(5))
