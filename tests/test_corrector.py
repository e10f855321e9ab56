"""The correction engine: API, frames, errors, properties, a third-party model, and the physical test.

Lens data comes from lensfun's database as the first-party plugin ``mountkit_lensfun`` reads it
(lensfunpy's bundled XML); a few synthetic lenses exercise edge cases.
"""

import math
import warnings

import numpy as np
import pytest
from division_model import DivisionPlugin
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from mountkit_lensfun.database import bundled_database
from scipy.ndimage import gaussian_filter

import mountkit
from mountkit import Calibration, Camera, CorrectionWarning, Corrector, Lens, LensProfile
from mountkit.charts import checkerboard, demo_chart
from mountkit.errors import CorrectionError, FrameError, NotFoundError
from mountkit.geometry import inside_frame
from mountkit.resample.numpy_backend import kernel_weights, remap

ONE_INCH = {"crop_factor": 2.64}


def lensfun_lens(model: str) -> Lens:
    """A lens of lensfun 0.3.4's database (as bundled with lensfunpy), by exact model name."""
    found = [lens for lens in bundled_database().lenses if lens.model == model]
    assert len(found) == 1, model
    return found[0]


@pytest.fixture(scope="module")
def kit():
    return mountkit.Kit(entry_points=False)


@pytest.fixture(scope="module")
def summicron():
    return lensfun_lens("Summicron-M 1:2/28 ASPH.")


@pytest.fixture(scope="module")
def zoom():
    """Distortion (ptlens), TCA (poly3) and 140 vignetting calibrations."""
    return lensfun_lens("Canon EF 24-70mm f/2.8L II USM")


def synthetic(distortion=None, tca=None, vignetting=None, focal=35.0, crop=1.0, **lens):
    cals = []
    if distortion:
        cals.append(Calibration("distortion", distortion[0], focal, distortion[1]))
    if tca:
        cals.append(Calibration("tca", tca[0], focal, tca[1]))
    if vignetting:
        cals.append(Calibration("vignetting", "pa", focal, vignetting, aperture=2.8, distance=1000))
    profile = LensProfile(crop_factor=crop, calibrations=tuple(cals))
    return Lens("Test", "Synthetic 35mm", focal_min=focal, profile=profile, **lens)


# -- construction and errors -------------------------------------------------------------


def test_kit_corrector_resolves_names_and_reports(kit, summicron):
    k = mountkit.Kit(plugins=["mountkit_lensfun"], entry_points=False)
    cor = k.corrector("Summicron-M 1:2/28 Asph.", crop_factor=2.64, size=(8192, 6144))
    assert isinstance(cor, Corrector)
    assert cor.lens.model.lower() == summicron.model.lower()
    assert cor.active == ("tca", "distortion") and cor.focal == 28.0
    d = cor.describe()
    assert d["corrections"]["distortion"]["model"] == "ptlens" and d["size"] == [8192, 6144]
    assert "ptlens" in repr(cor)
    # a camera by name gives the crop factor
    assert k.corrector("Summicron-M 1:2/28 Asph.", camera="Leica M10", size=(5976, 3992)).crop_factor == 1.0
    with pytest.raises(CorrectionError, match="size"):
        k.corrector("Summicron-M 1:2/28 Asph.", camera="Leica M10")  # lensfun does not know its resolution
    # the camera gives crop factor and size
    cam = Camera("Test", "One-inch", sensor_width=13.1072, sensor_height=9.8304, resolution=(8192, 6144))
    cor = kit.corrector(summicron, camera=cam)
    assert cor.size == (8192, 6144) and cor.crop_factor == pytest.approx(2.6407, abs=1e-4)


@pytest.mark.parametrize("options,error,match", [
    ({"size": (100, 80)}, CorrectionError, "crop factor"),
    ({"crop_factor": 1.5}, CorrectionError, "size"),
    ({"crop_factor": 1.5, "size": (0, 80)}, CorrectionError, "size"),
    ({"crop_factor": -1, "size": (100, 80)}, CorrectionError, "crop_factor"),
    ({"crop_factor": 1.5, "size": (100, 80), "interpolation": "cubic"}, CorrectionError, "interpolation"),
    ({"crop_factor": 1.5, "size": (100, 80), "corrections": ("vignette",)}, CorrectionError, "vignette"),
    ({"crop_factor": 1.5, "size": (100, 80), "scale": "max"}, CorrectionError, "scale"),
    ({"crop_factor": 1.5, "size": (100, 80), "scale": 0}, CorrectionError, "scale"),
    ({"crop_factor": 1.5, "size": (100, 80), "vignetting_strength": 3}, CorrectionError, "vignetting_strength"),
    ({"crop_factor": 1.5, "size": (100, 80), "resampler": "cuda"}, NotFoundError, "cuda"),
])
def test_bad_options_are_clear_errors(kit, summicron, options, error, match):
    with pytest.raises(error, match=match):
        kit.corrector(summicron, **options)


def test_lens_errors(kit, zoom):
    with pytest.raises(NotFoundError, match="Noctilux-Q"):
        kit.corrector("Noctilux-Q 1:0.7/13", crop_factor=1.0, size=(100, 80))
    with pytest.raises(CorrectionError, match="no calibration"):
        kit.corrector(Lens("Leica", "Elmar-M 50 f/2.8"), crop_factor=1.0, size=(100, 80))
    with pytest.raises(CorrectionError, match="zoom.*focal="):
        kit.corrector(zoom, crop_factor=1.0, size=(150, 100))
    with pytest.raises(CorrectionError, match="aperture"):
        kit.corrector(zoom, crop_factor=1.0, size=(150, 100), focal=35)
    # without vignetting, no aperture is needed
    assert kit.corrector(zoom, crop_factor=1.0, size=(150, 100), focal=35,
                         corrections=("tca", "distortion")).active == ("tca", "distortion")
    with pytest.warns(CorrectionWarning) as got:
        kit.corrector(zoom, crop_factor=1.0, size=(150, 100), focal=100, corrections=("distortion",))
    messages = [str(w.message) for w in got]
    assert any("outside the lens's range (24-70 mm)" in m for m in messages)
    assert any("using the calibration at 70 mm unchanged" in m for m in messages)
    with pytest.warns(CorrectionWarning, match="not corrected"):
        cor = kit.corrector(zoom, crop_factor=1.0, size=(150, 100), focal=50, aperture=1.0)
    assert "vignetting" not in cor.active
    # a full-frame lens on a larger sensor: extrapolated, as lensfun does, with a warning
    with pytest.warns(CorrectionWarning, match="beyond the calibration"):
        kit.corrector(zoom, crop_factor=0.8, size=(150, 100), focal=50, corrections=("distortion",))


@pytest.mark.parametrize("frame,match", [
    (np.zeros((80, 100, 3, 1), np.float32), "shape"),
    (np.zeros((80, 100, 2), np.float32), "channels"),
    (np.zeros((80, 100, 4), np.uint8), "channels"),
    (np.zeros((0, 100), np.float32), "empty"),
    (np.zeros((100, 80), np.float32), "100x80 but this corrector was made for 100x80|80x100 but"),
    (np.zeros((80, 100), bool), "dtype"),
    (np.zeros((80, 100), complex), "dtype"),
    (np.full((80, 100), np.nan, np.float32), "NaN"),
    (np.where(np.eye(80, 100) > 0, np.inf, 0.0), "NaN or infinite"),
    ([[0.0] * 100] * 80, "numpy array"),
])
def test_bad_frames_are_clear_errors(kit, summicron, frame, match):
    cor = kit.corrector(summicron, crop_factor=2.64, size=(100, 80))
    with pytest.raises(FrameError, match=match):
        cor.apply(frame)


def test_apply_option_errors(kit, summicron):
    cor = kit.corrector(summicron, crop_factor=2.64, size=(100, 80))
    f = np.zeros((80, 100), np.float32)
    with pytest.raises(FrameError, match="white_level"):
        cor.apply(f, white_level=1023)
    with pytest.raises(FrameError, match="white_level"):
        cor.apply(f.astype(np.uint8), white_level=1023)
    with pytest.raises(FrameError, match="share memory"):
        cor.apply(f, out=f)
    with pytest.raises(FrameError, match="out must be"):
        cor.apply(f, out=np.zeros((80, 100), np.float64))


# -- maps and gains ---------------------------------------------------------------------


def test_source_coordinates_layout(kit, zoom):
    cor = kit.corrector(zoom, crop_factor=1.53, size=(61, 40), focal=35, corrections=("tca", "distortion"))
    coords = cor.source_coordinates()
    assert coords.shape == (40, 61, 3, 2) and coords.dtype == np.float32
    exact = cor.source_coordinates(exact=True)
    assert exact.dtype == np.float64 and np.abs(coords - exact).max() < 1e-4
    assert np.array_equal(cor.source_coordinates(rows=slice(10, 13), exact=True), exact[10:13])
    assert np.array_equal(cor.source_points(7.0, 12.0), exact[12, 7])
    for c in range(3):
        x, y = cor.channel_points(np.arange(61.0), 12.0, c)
        assert np.allclose(x, exact[12, :, c, 0], atol=1e-12) and np.allclose(y, exact[12, :, c, 1], atol=1e-12)
    # TCA moves red and blue, never green relative to the distortion-only map
    dist_only = kit.corrector(zoom, crop_factor=1.53, size=(61, 40), focal=35, corrections=("distortion",))
    assert np.array_equal(dist_only.source_coordinates(exact=True)[..., 1, :], exact[..., 1, :])
    assert np.abs(exact[..., 0, :] - exact[..., 1, :]).max() > 1e-3


def test_portrait_frames_are_rotated_landscape(kit, zoom):
    land = kit.corrector(zoom, crop_factor=2.64, size=(48, 36), focal=50, corrections=("tca", "distortion"))
    port = kit.corrector(zoom, crop_factor=2.64, size=(36, 48), focal=50, corrections=("tca", "distortion"))
    a = land.source_coordinates(exact=True)
    b = port.source_coordinates(exact=True)
    assert np.allclose(b.transpose(1, 0, 2, 3)[..., ::-1], a, atol=1e-9)


def test_vignetting_gain_is_the_pa_polynomial(kit, zoom):
    cor = kit.corrector(zoom, crop_factor=1.0, size=(75, 50), focal=35, aperture=4.0, distance=2.0,
                        corrections=("vignetting",))
    p = cor.models["vignetting"].params
    g = cor.geometry
    jj, ii = np.mgrid[0:50, 0:75]
    # independent: radius in units of the calibration half-diagonal (reference §8.1)
    r = np.hypot(ii - 37.0, jj - 24.5) * (2 / 49) * g.coordinate_correction / math.hypot(1.5, 1)
    c = 1 + p["k1"] * r**2 + p["k2"] * r**4 + p["k3"] * r**6
    gain = cor.vignetting_gain()
    assert gain.dtype == np.float32 and gain.shape == (50, 75)
    assert np.allclose(gain, 1 / c, rtol=1e-6)
    half = kit.corrector(zoom, crop_factor=1.0, size=(75, 50), focal=35, aperture=4.0, distance=2.0,
                         corrections=("vignetting",), vignetting_strength=0.5)
    assert np.allclose(half.vignetting_gain(exact=True), c**-0.5, rtol=1e-12)
    # a float frame of ones comes back as the gain (lensfunpy's apply_color_modification on ones)
    ones = np.ones((50, 75, 3), np.float32)
    assert np.array_equal(cor.apply(ones), np.repeat(gain[..., None], 3, axis=2))


# -- frames -------------------------------------------------------------------------------


def test_apply_is_vignetting_then_one_resampling_per_channel(kit, zoom):
    cor = kit.corrector(zoom, crop_factor=1.53, size=(90, 60), focal=35, aperture=2.8, interpolation="bicubic")
    assert cor.active == ("vignetting", "tca", "distortion")
    rng = np.random.default_rng(1)
    frame = rng.uniform(0, 1, (60, 90, 3)).astype(np.float32)
    gain = cor.vignetting_gain()
    coords = cor.source_coordinates(exact=True).astype(np.float32)
    out = cor.apply(frame, fill=-1.0)
    for c in range(3):
        expect = remap(frame[..., c] * gain, coords[..., c, 0], coords[..., c, 1], "bicubic", fill=-1.0)
        assert np.allclose(out[..., c], expect, atol=2e-6)


def test_fill_and_mask(kit, summicron):
    # pincushion on the 1-inch frame at scale 1: the corners sample outside the captured frame
    w, h = 1024, 768
    cor = kit.corrector(summicron, crop_factor=2.64, size=(w, h))
    frame = np.full((h, w, 3), 0.5, np.float32)
    out, valid = cor.apply(frame, fill=7.0, mask=True)
    coords = cor.source_coordinates()
    inside = np.all(inside_frame(coords[..., 0], coords[..., 1], w, h), axis=-1)
    assert np.array_equal(valid, inside)
    assert not valid[0, 0] and valid[h // 2, w // 2]
    assert np.allclose(out[valid], 0.5, atol=1e-6)
    assert np.all(np.any(out[~valid] == 7.0, axis=-1))
    # with scale="auto" nothing is empty
    out, valid = kit.corrector(summicron, crop_factor=2.64, size=(w, h), scale="auto").apply(frame, mask=True)
    assert valid.all()


def test_integer_frames_are_rounded_and_clipped(kit, zoom):
    cor = kit.corrector(zoom, crop_factor=1.0, size=(75, 50), focal=24, aperture=2.8, corrections=("vignetting",))
    gain = cor.vignetting_gain(exact=True)
    assert gain.max() > 1.5
    ten_bit = np.full((50, 75, 3), 800, np.uint16)
    out = cor.apply(ten_bit, white_level=1023)
    assert out.dtype == np.uint16 and out.max() == 1023
    assert np.array_equal(out[..., 0], np.minimum(np.rint(800 * gain.astype(np.float32) * np.float32(1)), 1023))
    assert cor.apply(ten_bit).max() > 1023  # without white_level: the dtype's range
    eight = np.full((50, 75), 200, np.uint8)
    assert cor.apply(eight).max() == 255
    signed = np.full((50, 75), -100, np.int16)
    assert cor.apply(signed).min() < -100  # signed data keeps its sign, clipped to the dtype
    # float stays float and is not clipped
    f = cor.apply(np.full((50, 75), 0.9, np.float64))
    assert f.dtype == np.float64 and f.max() > 1.3


def test_out_parameter_and_inputs_untouched(kit, zoom):
    cor = kit.corrector(zoom, crop_factor=1.53, size=(40, 30), focal=35, aperture=4)
    frame = np.random.default_rng(2).integers(0, 4000, (30, 40, 3)).astype(np.uint16)
    keep = frame.copy()
    out = np.empty_like(frame)
    got = cor.apply(frame, out=out)
    assert got is out and np.array_equal(frame, keep)
    assert np.array_equal(out, cor.apply(frame))


def test_mono_frames_use_the_green_map(kit, zoom):
    cor = kit.corrector(zoom, crop_factor=1.53, size=(64, 48), focal=35, aperture=4)
    grey = np.random.default_rng(3).uniform(0, 1, (48, 64)).astype(np.float32)
    rgb = cor.apply(np.repeat(grey[..., None], 3, axis=2))
    assert np.array_equal(cor.apply(grey), rgb[..., 1])
    assert np.array_equal(cor.apply(grey[..., None])[..., 0], rgb[..., 1])


def test_one_shot_correct(zoom):
    frame = np.random.default_rng(4).uniform(0, 1, (30, 45, 3)).astype(np.float32)
    kit = mountkit.Kit(entry_points=False)
    got = mountkit.correct(frame, zoom, kit=kit, crop_factor=1.53, focal=35, aperture=4, fill=0.25)
    assert np.array_equal(got, kit.corrector(zoom, crop_factor=1.53, size=(45, 30), focal=35, aperture=4)
                          .apply(frame, fill=0.25))


# -- properties -----------------------------------------------------------------------------

lens_params = st.fixed_dictionaries({
    "a": st.floats(-0.03, 0.03), "b": st.floats(-0.08, 0.08), "c": st.floats(-0.06, 0.06),
    "vr": st.floats(0.999, 1.001), "vb": st.floats(0.999, 1.001), "cr": st.floats(-5e-4, 5e-4),
})


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(p=lens_params, crop=st.sampled_from([1.0, 1.33, 1.53, 2.64, 5.6]),
       size=st.tuples(st.integers(8, 9000), st.integers(8, 9000)), scale=st.floats(0.95, 1.05),
       seed=st.integers(0, 2**32 - 1))
def test_forward_then_reverse_is_the_identity(kit, p, crop, size, scale, seed):
    lens = synthetic(("ptlens", {k: p[k] for k in "abc"}), ("poly3", {k: p[k] for k in ("vr", "vb", "cr")}))
    w, h = size
    fwd = Corrector(kit, lens, crop_factor=crop, size=size, scale=scale)
    # a lens whose mapping folds over inside the frame has no inverse there: not a lens to test
    # (mountkit.validate refuses such profiles).  d(r s(r))/dr > 0 up to past the corner:
    r = np.linspace(0.0, 1.1 * fwd.geometry.corner_radius / min(scale, 1.0), 512)
    a, b, c = p["a"], p["b"], p["c"]
    assume(np.all(4 * a * r**3 + 3 * b * r**2 + 2 * c * r + (1 - a - b - c) > 0.05))
    rev = Corrector(kit, lens, crop_factor=crop, size=size, scale=scale, reverse=True)
    rng = np.random.default_rng(seed)
    x, y = rng.uniform(0, w - 1, 64), rng.uniform(0, h - 1, 64)
    src = fwd.source_points(x, y)
    for c in range(3):
        sx, sy = src[:, c, 0], src[:, c, 1]
        inside = inside_frame(sx, sy, w, h)
        bx, by = rev.channel_points(sx, sy, c)
        assert np.all(np.hypot(bx - x, by - y)[inside] <= 0.01)
        assert np.all(np.hypot(bx - x, by - y)[inside] <= 1e-6)  # what the engine actually achieves


frames = st.builds(
    lambda dtype, shape, seed: (np.random.default_rng(seed).uniform(0, 1, shape) *
                                (np.iinfo(dtype).max if np.dtype(dtype).kind == "u" else 1)).astype(dtype),
    st.sampled_from([np.uint8, np.uint16, np.float32, np.float64]),
    st.sampled_from([(24, 32), (24, 32, 1), (24, 32, 3)]),
    st.integers(0, 2**32 - 1),
)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(frame=frames, corrections=st.sampled_from([(), ("vignetting",), ("tca",), ("distortion",),
                                                  ("vignetting", "tca", "distortion")]),
       interpolation=st.sampled_from(["nearest", "bilinear", "bicubic", "lanczos3"]), reverse=st.booleans())
def test_dtype_and_shape_are_preserved_and_off_is_identity(kit, zoom, frame, corrections, interpolation, reverse):
    cor = kit.corrector(zoom, crop_factor=1.53, size=(32, 24), focal=35, aperture=4, corrections=corrections,
                        interpolation=interpolation, reverse=reverse)
    out = cor.apply(frame)
    assert out.dtype == frame.dtype and out.shape == frame.shape
    if not corrections:
        assert cor.active == () and np.array_equal(out, frame)


def test_corrections_off_even_for_a_lens_without_the_data(kit, summicron):
    cor = kit.corrector(summicron, crop_factor=2.64, size=(32, 24), corrections=("vignetting",))
    assert cor.active == ()  # the Summicron has no vignetting calibration in lensfun 0.3.4
    frame = np.arange(32 * 24 * 3, dtype=np.uint16).reshape(24, 32, 3)
    assert np.array_equal(cor.apply(frame), frame)


# -- resampling kernels --------------------------------------------------------------------------


def keys(d, a=-0.75):
    d = abs(d)
    if d <= 1:
        return (a + 2) * d**3 - (a + 3) * d**2 + 1
    if d < 2:
        return a * d**3 - 5 * a * d**2 + 8 * a * d - 4 * a
    return 0.0


@pytest.mark.parametrize("t", [0.0, 0.1, 0.25, 0.5, 0.77, 0.999])
def test_kernels(t):
    tt = np.array([t], np.float32)
    w = [float(v[0]) for v in kernel_weights(tt, "bicubic")]
    assert w == pytest.approx([keys(t + 1), keys(t), keys(1 - t), keys(2 - t)], abs=1e-6)
    lz = [float(v[0]) for v in kernel_weights(tt, "lanczos3")]
    raw = [np.sinc(t - k) * np.sinc((t - k) / 3) for k in range(-2, 4)]
    assert lz == pytest.approx(list(np.array(raw) / sum(raw)), abs=1e-6)
    for name in ("bilinear", "bicubic", "lanczos3"):
        assert sum(float(v[0]) for v in kernel_weights(tt, name)) == pytest.approx(1.0, abs=1e-6)


def test_remap_reproduces_samples_constants_and_ramps_and_fills_outside():
    yy, xx = np.mgrid[0:20, 0:30].astype(np.float32)
    ramp = 3 * xx - 2 * yy + 5
    x = np.array([3.3, 10.5, 17.75, 29.4, -0.6, 12.0], np.float32)
    y = np.array([4.2, 9.5, 0.25, 10.0, 3.0, 19.6], np.float32)
    inside = np.array([True, True, True, True, False, False])
    ix, iy = np.array([0, 7, 29], np.float32), np.array([19, 3, 0], np.float32)
    for name in ("nearest", "bilinear", "bicubic", "lanczos3"):
        got = remap(ramp, x, y, name, fill=-9)
        assert np.all(got[~inside] == -9)
        assert np.array_equal(remap(ramp, ix, iy, name), ramp[iy.astype(int), ix.astype(int)])  # samples
        assert np.allclose(remap(np.full((20, 30), 0.7, np.float32), x, y, name)[inside], 0.7, atol=1e-6)
    # bilinear is exact on linear data; Keys' a = -0.75 (OpenCV's choice) is not: it sharpens
    assert np.allclose(remap(ramp, x, y, "bilinear")[:3], (3 * x - 2 * y + 5)[:3], atol=2e-5)
    t = np.float32(0.3)
    weights = kernel_weights(np.array([t]), "bicubic")
    expect = sum(float(w[0]) * (3 * (3 + k) - 2 * 4 + 5) for k, w in zip((-1, 0, 1, 2), weights, strict=True))
    got = remap(ramp, np.array([3.3], np.float32), np.array([4.0], np.float32), "bicubic")[0]
    assert got == pytest.approx(expect, abs=1e-5)
    near = remap(ramp, np.array([3.5, 4.5, 3.49]), np.array([2.0, 2.0, 2.0]), "nearest")
    assert near.tolist() == [ramp[2, 4], ramp[2, 4], ramp[2, 3]]  # ties to even, as OpenCV


def test_resampler_is_registered(kit):
    r = kit.resampler("numpy")
    assert r.name == "numpy" and r.priority == 50 and r.available()
    # the default is the available backend with the lowest priority (OpenCV when installed, issue 4)
    assert kit.resampler() is min((b for b in kit.resamplers().values() if b.available()), key=lambda b: b.priority)


# -- a third-party model ---------------------------------------------------------------------


def test_third_party_division_model_corrects_a_frame():
    K = 0.05  # corners move outwards by 6 %
    kit = mountkit.Kit(plugins=[DivisionPlugin()], entry_points=False)
    assert kit.model("distortion", "division").name == "division"
    lens = Lens("Test", "Division 35mm", focal_min=35, profile=LensProfile(
        crop_factor=1.0, calibrations=(Calibration("distortion", "division", 35, {"k": K}),)))
    w, h = 600, 400
    cor = kit.corrector(lens, crop_factor=1.0, size=(w, h))
    # where a corrected pixel comes from: r_u = r_d / (1 + k r_d^2) solved for r_d
    g = cor.geometry
    x, y = 590.0, 10.0
    xn, yn = x * g.norm_scale - g.center_x, y * g.norm_scale - g.center_y
    ru = math.hypot(xn, yn)
    rd = (1 - math.sqrt(1 - 4 * K * ru * ru)) / (2 * K * ru)
    src = cor.source_points(x, y)[1]
    assert src == pytest.approx([(xn * rd / ru + g.center_x) * g.norm_unscale,
                                 (yn * rd / ru + g.center_y) * g.norm_unscale], abs=1e-9)
    # reverse uses the model's analytic inverse: r_u = r_d / (1 + k r_d^2)
    back = kit.corrector(lens, crop_factor=1.0, size=(w, h), reverse=True).source_points(*src)[1]
    assert back == pytest.approx([x, y], abs=1e-9)
    # the corrected frame is the captured one resampled at the model's coordinates, computed here independently
    chart = gaussian_filter(checkerboard(w, h, squares_high=4), 1.0)  # edges as soft as a good lens makes them
    sim = kit.corrector(lens, crop_factor=1.0, size=(w, h), reverse=True).apply(chart)
    assert np.abs(sim - chart).max() > 0.5
    out, valid = cor.apply(sim, mask=True)
    jj, ii = np.mgrid[0:h, 0:w].astype(np.float64)
    xn, yn = ii * g.norm_scale - g.center_x, jj * g.norm_scale - g.center_y
    ru = np.hypot(xn, yn)
    ratio = np.where(ru > 0, (1 - np.sqrt(1 - 4 * K * ru * ru)) / (2 * K * np.maximum(ru, 1e-300) ** 2), 1.0)
    sx, sy = (xn * ratio + g.center_x) * g.norm_unscale, (yn * ratio + g.center_y) * g.norm_unscale
    assert np.allclose(out, remap(sim, sx.astype(np.float32), sy.astype(np.float32), "bicubic"), atol=1e-5)
    assert np.array_equal(valid, inside_frame(sx, sy, w, h))
    # and the round trip gives the chart back
    assert 0.7 < valid.mean() < 1  # the corners and edges sample beyond the captured frame
    assert 10 * np.log10(1 / np.mean((out - chart)[valid] ** 2)) > 50


# -- physical: the 1-inch body with a full-frame M lens ------------------------------------------


def edge_positions(img, valid, period, centre, half=6, guard=8):
    """Sub-pixel x of the checkerboard's vertical edges x = centre + k period, row by row.

    Gradient centroid over +-half px around the nominal position (exact for a box-filtered
    step); rows within ``guard`` px of a horizontal edge (the squares' corners) and windows
    touching filled pixels are skipped.
    """
    h, w = img.shape
    grad = np.abs(np.diff(img.astype(np.float64), axis=1))  # at x + 0.5
    rows = np.arange(h)
    to_corner = np.abs(((rows - (h - 1) / 2) / period + 0.5) % 1 - 0.5) * period
    out = []
    for k in range(-int(w / period), int(w / period) + 1):
        x0 = int(np.floor(centre + k * period))
        lo, hi = x0 - half, x0 + half + 1
        if lo < 1 or hi > w - 2:
            continue
        ok = (to_corner > guard) & valid[:, lo:hi + 1].all(axis=1)
        g = grad[ok, lo:hi]
        out.append((rows[ok], (g * (np.arange(lo, hi) + 0.5)).sum(1) / g.sum(1)))
    return out


def max_line_deviation(img, valid, period):
    """Largest distance of an edge point from the straight line fitted to its edge, over all edges."""
    h, w = img.shape
    worst, n = 0.0, 0
    for im, va, centre in ((img, valid, (w - 1) / 2), (img.T, valid.T, (h - 1) / 2)):
        for t, pos in edge_positions(im, va, period, centre):
            a = np.stack([np.ones_like(t, dtype=float), t], 1)
            coef, *_ = np.linalg.lstsq(a, pos, rcond=None)
            worst = max(worst, float(np.abs(pos - a @ coef).max()))
            n += 1
    return worst, n


def test_one_inch_body_with_summicron_m_28_straightens_lines(kit, summicron):
    """lensfun's full-frame Summicron-M 1:2/28 ASPH. profile on the 1-inch sensor (crop 2.64, 4:3).

    The frame is the 8192 x 6144 sensor binned 4 x 4 (2048 x 1536: same crop factor, aspect ratio and
    normalised geometry); the checkerboard's squares are 256 px, as the 24-square chart's on 8192 x 6144.
    """
    w, h, squares = 2048, 1536, 6
    period = h / squares
    chart = checkerboard(w, h, squares_high=squares)
    straight, n = max_line_deviation(chart, np.ones((h, w), bool), period)
    assert straight < 1e-6 and n == 12
    sim = kit.corrector(summicron, **ONE_INCH, size=(w, h), reverse=True).apply(chart)
    bent, _ = max_line_deviation(sim, np.ones((h, w), bool), period)
    assert bent > 0.8  # the lens bows the lines by about 1.2 px at this size
    out, valid = kit.corrector(summicron, **ONE_INCH, size=(w, h), interpolation="bicubic").apply(sim, mask=True)
    dev, _ = max_line_deviation(out, valid, period)
    assert dev <= 0.05
    psnr = 10 * np.log10(1.0 / np.mean((out - chart)[valid] ** 2))
    assert psnr >= 40.0
    assert valid.mean() > 0.99  # at scale 1 only the corners (pincushion) are filled


def test_one_inch_body_rgb_with_tca(kit, summicron):
    """The demo chart in colour: TCA (poly3) and distortion undone together, every channel straight."""
    w, h, squares = 1024, 768, 3
    chart = demo_chart(w, h, squares_high=squares)
    sim = kit.corrector(summicron, **ONE_INCH, size=(w, h), reverse=True).apply(chart)
    out, valid = kit.corrector(summicron, **ONE_INCH, size=(w, h)).apply(sim, mask=True)
    for c in range(3):
        dev, n = max_line_deviation(out[..., c], valid, h / squares)
        assert dev <= 0.05 and n >= 4
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        psnr = 10 * np.log10(1.0 / np.mean((out - chart)[valid] ** 2))
    assert psnr >= 40.0
