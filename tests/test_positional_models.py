"""The engine applies positional TCA and vignetting models exactly (``channel_positions``, ``falloff_xy``).

Adobe LCP profiles (off-centre principal points, tangential CA terms, a
vignetting centre 3 % of the width off the middle) and DNG WarpRectilinear /
FixVignetteRadial opcodes (off-centre, tangential terms, the vignette's
centre away from the warp's) are corrected by the engine and compared with
independent evaluations of Adobe's and the DNG specification's equations
written here from ``lcp-and-dng.md`` (§1.6, 1.7, 1.9, 1.10 and §2.4, 2.5,
2.7), in the pixels of the calibration image or of the DNG.  Each test also
measures how far the radial approximation (``channel_factors``, ``falloff``)
is from the truth, so that it would fail if the engine fell back to it.
Run with ``-s`` to see the figures.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lcp_synth import HEAD, TAIL, elements

import mountkit
from mountkit import geometry as geo
from mountkit.dng.apply import embedded_corrector
from mountkit.dng.models import embedded_lens
from mountkit.dng.opcodes import FixVignetteRadial, WarpRectilinear
from mountkit.formats.lcp import loads_lcp
from mountkit.models.base import TCAModel, VignettingModel
from mountkit.models.tca import LinearTCA
from mountkit.models.vignetting import PAVignetting

# -- an Adobe LCP, written here ---------------------------------------------------------------

#: Calibration image of the LCP (full frame, 3:2).
CW, CH = 3000, 2000
DMAX = max(CW, CH)

PERSPECTIVE = {"FocalLengthX": 0.95, "FocalLengthY": 0.951, "ImageXCenter": 0.508, "ImageYCenter": 0.494,
               "RadialDistortParam1": -0.07, "RadialDistortParam2": 0.02, "RadialDistortParam3": -0.001,
               "TangentialDistortParam1": 2e-4, "TangentialDistortParam2": -3e-4}
RED = {"FocalLengthX": 0.9502, "FocalLengthY": 0.9502, "ImageXCenter": 0.515, "ImageYCenter": 0.485,
       "RadialDistortParam1": 0.0021, "RadialDistortParam2": -0.001, "TangentialDistortParam1": 3e-4,
       "TangentialDistortParam2": -2e-4, "ScaleFactor": 1.00032}
BLUE = {"FocalLengthX": 0.9498, "FocalLengthY": 0.9499, "ImageXCenter": 0.501, "ImageYCenter": 0.51,
        "RadialDistortParam1": -0.0017, "TangentialDistortParam1": -2.5e-4, "TangentialDistortParam2": 1.5e-4,
        "ScaleFactor": 0.99961}
#: The vignetting centre 3 % of the width right of the middle and 2 % of the height above it.
VIGNETTE = {"FocalLengthX": 0.95, "FocalLengthY": 0.95, "ImageXCenter": 0.53, "ImageYCenter": 0.48,
            "VignetteModelParam1": -1.2, "VignetteModelParam2": 0.4, "VignetteModelParam3": -0.05}

CAMERA = {"Make": "Leica Camera AG", "Model": "LEICA M10", "CameraPrettyName": "Leica M10",
          "Lens": "Test Lens 1:2/35", "LensPrettyName": "Test Lens 35mm f/2", "LensInfo": "35/1 35/1 20/10 160/10",
          "ImageWidth": str(CW), "ImageLength": str(CH), "SensorFormatFactor": "1", "CameraRawProfile": "True",
          "FocalLength": "35", "ApertureValue": "6", "FocusDistance": "10000"}


def _lcp() -> str:
    persp = dict(PERSPECTIVE, ChromaticGreenModel=dict(PERSPECTIVE), ChromaticRedGreenModel=RED,
                 ChromaticBlueGreenModel=BLUE, VignetteModel=VIGNETTE)
    frame = dict(CAMERA, PerspectiveModel=persp)
    return HEAD + f'<rdf:li rdf:parseType="Resource">\n{elements(frame)}</rdf:li>\n' + TAIL


# Adobe's equations, on pixels of the calibration image (pixel centres on integers), as the reference states them:
# §1.6 x = (u - u0) / fx, y = (v - v0) / fy with fx = FocalLengthX * max(W, H), u0 = ImageXCenter * W;
# §1.7 R = 1 + k1 r² + k2 r⁴ + k3 r⁶, x_d = x R + 2 (k4 y + k5 x) x + k5 r², y_d = y R + 2 (k4 y + k5 x) y + k4 r²;
# §1.9 red = ScaleFactor * D_RG(green), each sub-model normalised with its own focal length and centre;
# §1.10 falloff = 1 + a1 r² + a2 r⁴ + a3 r⁶, corrected = observed / falloff.


def _normalise(u, v, m):
    fx, fy = m["FocalLengthX"] * DMAX, m["FocalLengthY"] * DMAX
    u0, v0 = m["ImageXCenter"] * CW, m["ImageYCenter"] * CH
    return (u - u0) / fx, (v - v0) / fy, (fx, fy, u0, v0)


def adobe_submodel(u, v, m):
    """Pixel (u, v) through one Adobe rectilinear sub-model (ScaleFactor included), in pixels."""
    x, y, (fx, fy, u0, v0) = _normalise(u, v, m)
    k1, k2, k3 = (m.get(f"RadialDistortParam{i}", 0.0) for i in (1, 2, 3))
    k4, k5 = (m.get(f"TangentialDistortParam{i}", 0.0) for i in (1, 2))
    s = m.get("ScaleFactor", 1.0)
    r2 = x * x + y * y
    radial = 1.0 + k1 * r2 + k2 * r2 * r2 + k3 * r2 * r2 * r2
    common = 2.0 * (k4 * y + k5 * x)
    xd = x * radial + common * x + k5 * r2
    yd = y * radial + common * y + k4 * r2
    return s * xd * fx + u0, s * yd * fy + v0


def adobe_truth(u, v):
    """Where R, G, B of corrected calibration-image pixel (u, v) are sampled, and the vignetting gain there."""
    ug, vg = adobe_submodel(u, v, PERSPECTIVE)
    x, y, _ = _normalise(u, v, VIGNETTE)
    r2 = x * x + y * y
    a1, a2, a3 = (VIGNETTE[f"VignetteModelParam{i}"] for i in (1, 2, 3))
    falloff = 1.0 + a1 * r2 + a2 * r2 ** 2 + a3 * r2 ** 3
    return adobe_submodel(ug, vg, RED), (ug, vg), adobe_submodel(ug, vg, BLUE), 1.0 / falloff


def frame_to_calibration(width, height, crop):
    """Affine map of frame pixels to calibration-image pixels, by physical distance from the (centred) axis.

    Both diagonals, measured between the outer pixel centres, span their sensor's diagonal (43.27 mm / crop).
    """
    k = math.hypot(CW - 1, CH - 1) * 1.0 / (crop * math.hypot(width - 1, height - 1))
    cu, cv = (CW - 1) / 2, (CH - 1) / 2
    fu, fv = (width - 1) / 2, (height - 1) / 2
    to = lambda i, j: (cu + k * (i - fu), cv + k * (j - fv))  # noqa: E731
    back = lambda u, v: (fu + (u - cu) / k, fv + (v - cv) / k)  # noqa: E731
    return to, back


@pytest.fixture(scope="module")
def kit():
    return mountkit.Kit(entry_points=False)


@pytest.fixture(scope="module")
def lcp_lens():
    imported = loads_lcp(_lcp(), "test-lens.lcp")
    assert imported.warnings == []
    kinds = {(c.kind, c.model) for c in imported.lens.profile.calibrations}
    assert kinds == {("distortion", "adobe"), ("tca", "adobe"), ("vignetting", "adobe")}
    return imported.lens


def _corrector(kit, lens, size, crop, **kw):
    return kit.corrector(lens, crop_factor=crop, size=size, focal=35, aperture=8, distance=1000, scale=1.0, **kw)


def _grid(width, height, step):
    xs = np.unique(np.r_[np.arange(0, width, step), width - 1]).astype(np.float64)
    ys = np.unique(np.r_[np.arange(0, height, step), height - 1]).astype(np.float64)
    return xs[None, :], ys[:, None]


def _compare(cor, to, back, xs, ys):
    """Largest position error (px) per channel and relative gain error of ``cor`` against Adobe's equations."""
    got = cor.source_points(xs, ys)
    gain = cor.gain_points(xs, ys)
    u, v = to(*np.broadcast_arrays(xs, ys))
    *truth, tgain = adobe_truth(u, v)
    errs = []
    for c in range(3):
        tx, ty = back(*truth[c])
        errs.append(float(np.max(np.hypot(got[..., c, 0] - tx, got[..., c, 1] - ty))))
    return errs, float(np.max(np.abs(gain / tgain - 1.0))), (truth, tgain, u, v)


def _radial_approximation(cor, xs, ys):
    """What the engine gave before positional models: red/blue from channel_factors, gain from falloff(r_v)."""
    g = cor.geometry
    xn, yn = geo.pixel_to_normalized(g, *np.broadcast_arrays(xs, ys))
    d, t, vig = cor.models["distortion"], cor.models["tca"], cor.models["vignetting"]
    xd, yd = d.model.distort(xn, yn, d.params)
    fr, fb = t.model.channel_factors(np.hypot(xd, yd), t.params)
    red = geo.normalized_to_pixel(g, xd * fr, yd * fr)
    blue = geo.normalized_to_pixel(g, xd * fb, yd * fb)
    gain = 1.0 / vig.model.falloff(geo.vignetting_radius(g, xn, yn), vig.params)
    return red, blue, gain


def test_lcp_positional_models_are_what_the_engine_applies(kit, lcp_lens):
    cor = _corrector(kit, lcp_lens, (CW, CH), 1.0)
    assert cor.active == ("vignetting", "tca", "distortion")
    assert not cor.models["tca"].model.is_radial and not cor.models["vignetting"].model.is_radial
    assert LinearTCA().is_radial and PAVignetting().is_radial


def test_lcp_on_its_calibration_frame_equals_adobe_equations(kit, lcp_lens):
    """Every pixel of the 3000 x 2000 calibration frame: positions of R, G, B and the vignetting gain."""
    cor = _corrector(kit, lcp_lens, (CW, CH), 1.0)
    to, back = frame_to_calibration(CW, CH, 1.0)
    worst = [0.0, 0.0, 0.0]
    worst_gain = 0.0
    xs = np.arange(CW, dtype=np.float64)[None, :]
    for a in range(0, CH, 250):
        ys = np.arange(a, min(a + 250, CH), dtype=np.float64)[:, None]
        errs, gerr, _ = _compare(cor, to, back, xs, ys)
        worst = [max(w, e) for w, e in zip(worst, errs, strict=True)]
        worst_gain = max(worst_gain, gerr)
    print(f"\nLCP on its 3000x2000 calibration frame, all pixels: R/G/B {worst[0]:.2e}/{worst[1]:.2e}/"
          f"{worst[2]:.2e} px, gain {worst_gain:.2e} relative")
    assert max(worst) < 0.01 and worst_gain < 1e-4
    assert max(worst) < 1e-6 and worst_gain < 1e-9  # in fact exact to rounding


def test_lcp_on_the_one_inch_frame_equals_adobe_equations(kit, lcp_lens):
    """The full-frame LCP on the 1-inch sensor (8192 x 6144, crop 2.64), every 16th pixel and the edges."""
    size, crop = (8192, 6144), 2.64
    cor = _corrector(kit, lcp_lens, size, crop)
    to, back = frame_to_calibration(*size, crop)
    xs, ys = _grid(*size, 16)
    errs, gerr, (truth, tgain, _, _) = _compare(cor, to, back, xs, ys)
    red, blue, rgain = _radial_approximation(cor, xs, ys)
    rad_r = float(np.max(np.hypot(*np.subtract(red, back(*truth[0])))))
    rad_b = float(np.max(np.hypot(*np.subtract(blue, back(*truth[2])))))
    rad_g = float(np.max(np.abs(rgain / tgain - 1.0)))
    print(f"\nLCP on 8192x6144 crop 2.64: R/G/B {errs[0]:.2e}/{errs[1]:.2e}/{errs[2]:.2e} px, gain {gerr:.2e}; "
          f"the radial approximation: R/B {rad_r:.3f}/{rad_b:.3f} px, gain {rad_g:.2e}")
    assert max(errs) < 0.01 and gerr < 1e-4
    assert max(errs) < 1e-6 and gerr < 1e-9
    # the test tells: the radial forms miss by far more than the tolerance
    assert min(rad_r, rad_b) > 0.05 and rad_g > 1e-3


def test_lcp_corrected_frames_equal_adobe_equations(kit, lcp_lens):
    """apply(): a linear ramp resampled bilinearly reads back the source positions; a flat frame the gain."""
    size = (900, 600)  # the calibration sensor at a lower resolution
    to, back = frame_to_calibration(*size, 1.0)
    xs, ys = np.arange(size[0], dtype=np.float64)[None, :], np.arange(size[1], dtype=np.float64)[:, None]
    u, v = to(*np.broadcast_arrays(xs, ys))
    *truth, tgain = adobe_truth(u, v)
    geom = _corrector(kit, lcp_lens, size, 1.0, corrections=("tca", "distortion"), interpolation="bilinear")
    ramp_x = np.broadcast_to(xs[..., None], (size[1], size[0], 3)).astype(np.float64)
    ramp_y = np.broadcast_to(ys[..., None], (size[1], size[0], 3)).astype(np.float64)
    out_x, ok = geom.apply(ramp_x, mask=True)
    out_y = geom.apply(ramp_y)
    worst = []
    for c in range(3):
        tx, ty = back(*truth[c])
        worst.append(float(np.max(np.hypot(out_x[..., c] - tx, out_y[..., c] - ty)[ok])))
    assert ok.mean() > 0.95
    vig = _corrector(kit, lcp_lens, size, 1.0, corrections=("vignetting",))
    flat = vig.apply(np.ones((size[1], size[0], 3)))
    gerr = float(np.max(np.abs(flat / tgain[..., None] - 1.0)))
    print(f"\nLCP apply() on 900x600: R/G/B {worst[0]:.2e}/{worst[1]:.2e}/{worst[2]:.2e} px "
          f"({ok.mean():.1%} of pixels inside), gain {gerr:.2e}")
    assert max(worst) < 0.01 and gerr < 1e-4


# -- DNG opcodes --------------------------------------------------------------------------------

DW, DH = 1200, 900
WARP = WarpRectilinear(radial=((1.0004, -0.012, 0.003, -0.0004), (1.0, -0.011, 0.0031, 0.0),
                               (0.9995, -0.0105, 0.0028, 0.0002)),
                       tangential=((4e-4, -3e-4), (1e-4, 2e-4), (-2e-4, 5e-4)), center=(0.53, 0.47))
VIG = FixVignetteRadial(k=(0.6, -0.2, 0.1, 0.02, -0.01), center=(0.47, 0.52))


# The DNG specification's equations (reference §2.4, 2.5, 2.7) on pixels of the image: Cx = cx W, Cy = cy H,
# m = the largest distance from (Cx, Cy) to a corner of [0, W] x [0, H]; the warp at integer pixel coordinates,
# the vignette at pixel centres (col + 0.5, row + 0.5).


def _centre(center):
    cx, cy = center[0] * DW, center[1] * DH
    return cx, cy, math.hypot(max(cx, DW - cx), max(cy, DH - cy))


def dng_warp_truth(i, j, plane):
    cx, cy, m = _centre(WARP.center)
    kr0, kr1, kr2, kr3 = WARP.radial[plane]
    kt0, kt1 = WARP.tangential[plane]
    dx, dy = (i - cx) / m, (j - cy) / m
    r2 = dx * dx + dy * dy
    f = kr0 + kr1 * r2 + kr2 * r2 ** 2 + kr3 * r2 ** 3
    tx = kt1 * (r2 + 2 * dx * dx) + 2 * kt0 * dx * dy
    ty = kt0 * (r2 + 2 * dy * dy) + 2 * kt1 * dx * dy
    return cx + m * (f * dx + tx), cy + m * (f * dy + ty)


def dng_gain_truth(i, j):
    cx, cy, m = _centre(VIG.center)
    r2 = ((i + 0.5 - cx) / m) ** 2 + ((j + 0.5 - cy) / m) ** 2
    return 1.0 + sum(k * r2 ** (n + 1) for n, k in enumerate(VIG.k))


def test_dng_opcodes_through_the_engine_equal_the_specification(kit):
    cor = embedded_corrector(kit, [VIG, WARP], (DW, DH))
    assert cor.active == ("vignetting", "tca", "distortion")
    assert not cor.models["tca"].model.is_radial and not cor.models["vignetting"].model.is_radial
    xs, ys = _grid(DW, DH, 2)  # every other pixel and the edges
    i, j = np.broadcast_arrays(xs, ys)
    got = cor.source_points(xs, ys)
    errs = [float(np.max(np.hypot(*np.subtract((got[..., c, 0], got[..., c, 1]), dng_warp_truth(i, j, c)))))
            for c in range(3)]
    gerr = float(np.max(np.abs(cor.gain_points(xs, ys) / dng_gain_truth(i, j) - 1.0)))
    # the radial approximation about the profile's centre (the vignette's)
    g = cor.geometry
    xn, yn = geo.pixel_to_normalized(g, i, j)
    d, t = cor.models["distortion"], cor.models["tca"]
    xd, yd = d.model.distort(xn, yn, d.params)
    fr, _ = t.model.channel_factors(np.hypot(xd, yd), t.params)
    rad_r = float(np.max(np.hypot(*np.subtract(geo.normalized_to_pixel(g, xd * fr, yd * fr),
                                               dng_warp_truth(i, j, 0)))))
    print(f"\nDNG WarpRectilinear + FixVignetteRadial on {DW}x{DH}, every other pixel: R/G/B {errs[0]:.2e}/"
          f"{errs[1]:.2e}/{errs[2]:.2e} px, gain {gerr:.2e}; the radial approximation: R {rad_r:.3f} px")
    assert max(errs) < 0.01 and gerr < 1e-4
    assert max(errs) < 1e-6 and gerr < 1e-9
    # embedded_lens puts the profile's centre on the vignette's, so only TCA (about the warp's centre, 72 px
    # away, with tangential terms) tells the radial approximation from the exact form
    assert rad_r > 0.05


# -- forward then reverse ------------------------------------------------------------------------


def _round_trip(kit, lens, size, crop, step, **kw):
    fwd = kit.corrector(lens, crop_factor=crop, size=size, scale=1.0, corrections=("tca", "distortion"), **kw)
    rev = kit.corrector(lens, crop_factor=crop, size=size, scale=1.0, corrections=("tca", "distortion"),
                        reverse=True, **kw)
    xs, ys = _grid(*size, step)
    xs, ys = np.broadcast_arrays(xs, ys)
    src = fwd.source_points(xs, ys)
    worst = []
    for c in range(3):
        bx, by = rev.channel_points(src[..., c, 0], src[..., c, 1], c)
        worst.append(float(np.max(np.hypot(bx - xs, by - ys))))  # NaN (no inverse) fails
    return worst


def test_forward_then_reverse_is_the_identity_for_positional_tca(kit, lcp_lens):
    lcp = _round_trip(kit, lcp_lens, (8192, 6144), 2.64, 64, focal=35)
    dng = _round_trip(kit, embedded_lens([VIG, WARP], (DW, DH), focal=50), (DW, DH), 1.0, 16, focal=50)
    print(f"\nforward then reverse, R/G/B: LCP on 8192x6144 {lcp[0]:.1e}/{lcp[1]:.1e}/{lcp[2]:.1e} px, "
          f"DNG on {DW}x{DH} {dng[0]:.1e}/{dng[1]:.1e}/{dng[2]:.1e} px")
    assert max(lcp + dng) < 0.01
    assert max(lcp + dng) < 1e-6  # the engine's inverses stop at 1e-7 px


def test_simulated_vignetting_undoes_the_correction(kit, lcp_lens):
    size = (8192, 6144)
    fwd = _corrector(kit, lcp_lens, size, 2.64, corrections=("vignetting",))
    rev = _corrector(kit, lcp_lens, size, 2.64, corrections=("vignetting",), reverse=True)
    xs, ys = _grid(*size, 32)
    assert np.max(np.abs(fwd.gain_points(xs, ys) * rev.gain_points(xs, ys) - 1.0)) < 1e-12


@pytest.mark.parametrize("reverse", [False, True])
def test_auto_scale_leaves_no_empty_border_with_positional_tca(kit, lcp_lens, reverse):
    """scale="auto" through the exact maps: every channel of every edge pixel samples within the pixel centres."""
    size = (8192, 6144)

    def on_frame(scale):
        cor = kit.corrector(lcp_lens, crop_factor=2.64, size=size, focal=35, scale=scale, reverse=reverse,
                            corrections=("tca", "distortion"))
        src = cor.source_points(*geo.boundary_pixels(*size))
        x, y = src[..., 0], src[..., 1]
        return cor.scale, bool(np.all((x >= -1e-6) & (x <= size[0] - 1 + 1e-6) & (y >= -1e-6)
                                      & (y <= size[1] - 1 + 1e-6)))

    scale, fits = on_frame("auto")
    assert fits
    # and it is tight: without lensfun's margins (1.001 twice) and 0.01 % more, a border appears
    tighter = (1.001 ** 2 * 1.0001) if reverse else 1 / (1.001 ** 2 * 1.0001)
    assert not on_frame(scale * tighter)[1]


# -- the contract, for any model --------------------------------------------------------------------


class DecentredLinearTCA(TCAModel):
    """A test model: red and blue scaled by kr, kb about their own centre (cx, cy), in normalised units."""

    name = "decentred_linear"
    params = ("kr", "kb", "cx", "cy")
    defaults = {"kr": 1.0, "kb": 1.0, "cx": 0.0, "cy": 0.0}

    def channel_positions(self, x, y, p):
        cx, cy = p["cx"], p["cy"]
        return ((cx + p["kr"] * (x - cx), cy + p["kr"] * (y - cy)),
                (cx + p["kb"] * (x - cx), cy + p["kb"] * (y - cy)))

    def channel_factors(self, r, p):
        one = np.ones_like(np.asarray(r, dtype=float))
        return p["kr"] * one, p["kb"] * one


class DecentredPA(VignettingModel):
    """A test model: lensfun's pa polynomial about a centre (cx, cy) in vignetting units."""

    name = "decentred_pa"
    params = ("k1", "k2", "k3", "cx", "cy")
    defaults = {"k1": 0.0, "k2": 0.0, "k3": 0.0, "cx": 0.0, "cy": 0.0}

    def falloff_xy(self, x, y, p):
        r2 = (x - p["cx"]) ** 2 + (y - p["cy"]) ** 2
        return 1.0 + p["k1"] * r2 + p["k2"] * r2 ** 2 + p["k3"] * r2 ** 3

    def falloff(self, r, p):
        return self.falloff_xy(r, 0.0 * r, dict(p, cx=0.0, cy=0.0))


def test_a_centred_positional_model_is_its_radial_twin():
    """The units of the contract: centred, the positional forms give exactly what lensfun's linear and pa give."""
    g = geo.FrameGeometry(640, 480, crop_factor=2.64, lens_crop_factor=1.0, center=(0.02, -0.01))
    x, y = geo.pixel_to_normalized(g, *np.meshgrid(np.arange(0, 640, 7.0), np.arange(0, 480, 5.0)))
    pos = geo.ModelTerms(DecentredLinearTCA(), {"kr": 1.0007, "kb": 0.9994})
    lin = geo.ModelTerms(LinearTCA(), {"kr": 1.0007, "kb": 0.9994})
    assert np.allclose(geo.correction_map(x, y, tca=pos), geo.correction_map(x, y, tca=lin), rtol=0, atol=1e-15)
    assert np.allclose(geo.simulation_map(x, y, tca=pos, tol=1e-13), geo.simulation_map(x, y, tca=lin),
                       rtol=0, atol=2e-13)  # Newton stops at a residual of 1e-13
    k = {"k1": -0.4, "k2": 0.1, "k3": -0.02}
    a = geo.vignetting_gain(g, x, y, geo.ModelTerms(DecentredPA(), k))
    b = geo.vignetting_gain(g, x, y, geo.ModelTerms(PAVignetting(), k))
    assert np.allclose(a, b, rtol=1e-14, atol=0)
    # decentred: the gain is the polynomial about the model's centre, in vignetting units
    dec = geo.ModelTerms(DecentredPA(), dict(k, cx=0.05, cy=-0.03))
    d = g.calibration_diagonal
    r2 = (x / d - 0.05) ** 2 + (y / d + 0.03) ** 2
    assert np.allclose(geo.vignetting_gain(g, x, y, dec), 1.0 / (1 - 0.4 * r2 + 0.1 * r2 ** 2 - 0.02 * r2 ** 3),
                       rtol=1e-14, atol=0)


_coef = st.floats(-1.0, 1.0)


@settings(max_examples=40, deadline=None)
@given(scale=st.tuples(st.floats(0.998, 1.002), st.floats(0.998, 1.002)),
       centre=st.tuples(st.floats(-0.3, 0.3), st.floats(-0.3, 0.3), st.floats(-0.3, 0.3), st.floats(-0.3, 0.3)),
       radial=st.tuples(_coef, _coef, _coef, _coef), tangential=st.tuples(_coef, _coef, _coef, _coef))
def test_positional_tca_inverse_property(kit, scale, centre, radial, tangential):
    """Random Adobe CA models (off-centre, tangential terms up to a few px): forward then reverse to 1e-6 px."""
    g = geo.FrameGeometry(8192, 6144, crop_factor=2.64, lens_crop_factor=1.0)
    p = {"rs": scale[0], "bs": scale[1], "rfx": 3.2, "rfy": 3.21, "bfx": 3.19, "bfy": 3.2,
         "rcx": centre[0], "rcy": centre[1], "bcx": centre[2], "bcy": centre[3],
         "rk1": 0.01 * radial[0], "rk2": 0.01 * radial[1], "bk1": 0.01 * radial[2], "bk2": 0.01 * radial[3],
         "rk4": 1e-3 * tangential[0], "rk5": 1e-3 * tangential[1], "bk4": 1e-3 * tangential[2],
         "bk5": 1e-3 * tangential[3]}
    tca = geo.ModelTerms(kit.model("tca", "adobe"), p)
    x, y = geo.pixel_to_normalized(g, *np.meshgrid(np.linspace(0, 8191, 23), np.linspace(0, 6143, 17)))
    tol = geo.INVERSE_TOLERANCE_PX * g.norm_scale
    for c in (0, 2):
        qx, qy = geo.channel_map(x, y, c, tca=tca)
        bx, by = geo.channel_map(qx, qy, c, tca=tca, reverse=True, tol=tol)
        assert np.max(np.hypot(bx - x, by - y)) * g.norm_unscale < 1e-6
