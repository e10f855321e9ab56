"""The fast paths of the correction engine (issue 4) against the exact ones: maps, gains, backends, strips, cache.

* Maps from a coarse grid (:mod:`mountkit.maps`) against the exact float64 evaluation at every pixel of whole
  frames, for every model kind: lensfun's strongest distortions (fisheyes, moustache), TCA, a third-party division
  model with an analytic inverse, Adobe's non-radial and positional models (numerical planar inverses), forward
  and reverse, scaled; and at the full 1-inch frame (8192 x 6144) on sampled rows.
* The OpenCV and numpy backends agree to float32 rounding, and everything works with OpenCV hidden.
* Strip processing: the same result whatever the strips and threads; bounded memory (traced); integer frames stay
  integer; vignetting applied in the resampling pass agrees with the separate multiplication.
* The map cache: keys, sharing, LRU by bytes, configuration.

No timing assertions: speed is measured by ``bench/bench_correct.py``.
"""

from __future__ import annotations

import sys
import tracemalloc
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from division_model import DivisionPlugin
from mountkit_lensfun.database import bundled_database
from scipy.ndimage import gaussian_filter

import mountkit
from mountkit import Calibration, Lens, LensProfile, kernels, strips
from mountkit import corrector as corrector_mod
from mountkit import maps as fm
from mountkit.cache import MapCache, default_cache
from mountkit.errors import CorrectionError, MountkitError
from mountkit.geometry import inside_frame
from mountkit.resample import numpy_backend, opencv_backend

cv2 = pytest.importorskip("cv2")

#: The issue's bound on the fast maps' coordinate error.
MAX_ERROR_PX = 0.005


@pytest.fixture(scope="module")
def kit():
    return mountkit.Kit(entry_points=False)


def lensfun_lens(model: str, crop: float | None = None) -> Lens:
    found = [lens for lens in bundled_database().lenses if lens.model == model
             and (crop is None or abs(lens.profile.crop_factor - crop) < 0.01)]
    assert len(found) == 1, model
    return found[0]


def synthetic(cals, crop=1.0, focal=35.0):
    return Lens("Test", "Synthetic", focal_min=focal, profile=LensProfile(crop_factor=crop, calibrations=tuple(cals)))


class _Errors:
    """Running comparison of fast against exact coordinates: worst error, edge flips, NaN mismatches."""

    def __init__(self, w: int, h: int):
        self.w, self.h = w, h
        self.worst, self.flips, self.nan_mismatch = 0.0, 0, 0

    def add(self, fx, fy, ex, ey) -> None:
        """Counted where either lands on the frame (elsewhere the pixel is filled whatever its position)."""
        d = np.hypot(fx - ex, fy - ey)
        ins_e, ins_f = inside_frame(ex, ey, self.w, self.h), inside_frame(fx, fy, self.w, self.h)
        self.nan_mismatch += int(np.count_nonzero(np.isnan(fx) != np.isnan(ex)))
        rel = (ins_e | ins_f) & np.isfinite(d)
        if rel.any():
            self.worst = max(self.worst, float(d[rel].max()))
        self.flips += int(np.count_nonzero((ins_e != ins_f) & ~(d <= MAX_ERROR_PX)))

    def result(self) -> tuple[float, int, int]:
        return self.worst, self.flips, self.nan_mismatch


def fast_and_exact(cor, rows=None):
    """Max coordinate error of the fast maps vs the exact ones, over the given rows (default: every row).

    Counted where either lands on the frame (elsewhere the pixel is filled whatever its position); also returns
    the pixels that one calls inside and the other outside by more than the bound, and the NaN mismatches.
    """
    plan = cor.plan()
    w, h = cor.size
    rows = range(h) if rows is None else rows
    xs = np.arange(w, dtype=np.float64)
    errors = _Errors(w, h)
    for c, field in plan.maps.items():
        for a in rows:
            fx, fy = field.rows(a, a + 1)[:, 0]
            errors.add(fx, fy, *cor.channel_points(xs, float(a), c))
    return errors.result()


def whole_frame_error(cor):
    """:func:`fast_and_exact` over every pixel, strip by strip (each strip's maps exactly as the engine makes them)."""
    plan = cor.plan()
    w, h = cor.size
    xs = np.arange(w, dtype=np.float64)
    errors = _Errors(w, h)
    for c, field in plan.maps.items():
        for a, b in plan.strips:
            fx, fy = field.rows(a, b)
            errors.add(fx, fy, *np.broadcast_arrays(*cor.channel_points(
                xs[None, :], np.arange(a, b, dtype=np.float64)[:, None], c)))
    return errors.result()


# -- maps: every model, whole frames -------------------------------------------------------------------

ADOBE = {
    "distortion": {"fx": 1.9, "fy": 1.9, "cx": 0.03, "cy": -0.02, "k1": -0.12, "k2": 0.03, "k3": -0.004,
                   "k4": 0.002, "k5": -0.0015},
    "tca": {"rs": 1.0006, "rfx": 1.9, "rfy": 1.9, "rcx": 0.01, "rk1": 0.002, "rk4": 2e-4,
            "bs": 0.9994, "bfx": 1.9, "bfy": 1.9, "bcy": -0.01, "bk1": -0.0015, "bk5": -1e-4},
}

CASES = {
    # lensfun's strongest distortions: fisheyes and a moustache (ptlens), over the whole sensor
    "canon-8-15-fisheye": (lambda: lensfun_lens("Canon EF 8-15mm f/4L Fisheye USM"), 1.0, 8.0, 1.0),
    "sigma-8-circular": (lambda: lensfun_lens("Sigma 8mm f/3.5 EX DG Circular", 1.52), 1.52, 8.0, 1.0),
    "sigma-17-50-moustache": (lambda: lensfun_lens("Sigma 17-50mm f/2.8 EX DC HSM"), 1.0, 17.0, 1.0),
    # poly5 and poly3 with TCA, zoomed out
    "poly5+tca-poly3": (lambda: synthetic([
        Calibration("distortion", "poly5", 35, {"k1": -0.09, "k2": 0.02}),
        Calibration("tca", "poly3", 35, {"vr": 1.0004, "vb": 0.9995, "cr": 3e-4, "br": 2e-4, "bb": -2e-4})]),
        1.5, 35.0, 0.97),
    "poly3+tca-linear": (lambda: synthetic([
        Calibration("distortion", "poly3", 35, {"k1": 0.05}),
        Calibration("tca", "linear", 35, {"kr": 1.0008, "kb": 0.9993})]), 1.0, 35.0, 1.03),
    # the demo's Leica M lens on the 1-inch sensor (ptlens, TCA poly3)
    "summicron-1-inch": (lambda: lensfun_lens("Summicron-M 1:2/28 ASPH."), 2.64, 28.0, 1.0),
    # Adobe's non-radial distortion (tangential terms, own principal point) and positional TCA
    "adobe-planar": (lambda: synthetic([Calibration("distortion", "adobe", 35, ADOBE["distortion"]),
                                        Calibration("tca", "adobe", 35, ADOBE["tca"])]), 1.0, 35.0, 1.0),
}


@pytest.mark.parametrize("reverse", [False, True], ids=["correct", "simulate"])
@pytest.mark.parametrize("case", list(CASES))
def test_fast_maps_match_the_exact_maps_over_whole_frames(kit, monkeypatch, case, reverse):
    """<= 0.005 px everywhere on the frame; the strips with exactly evaluated cells are exercised too."""
    make, crop, focal, scale = CASES[case]
    # keep the grid even where most cells are poisoned (the engine would store exact maps instead)
    monkeypatch.setattr(corrector_mod, "DENSE_SHARE", 1.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cor = kit.corrector(make(), crop_factor=crop, size=(1152, 864), focal=focal, scale=scale,
                            corrections=("tca", "distortion"), reverse=reverse, fast_maps=True, cache=False)
    assert cor.plan().mode == "grid" and all(isinstance(f, fm.CoarseField) for f in cor.plan().maps.values())
    worst, flips, nan_mismatch = whole_frame_error(cor)
    assert worst <= MAX_ERROR_PX, (case, worst)
    assert flips == 0 and nan_mismatch == 0
    print(f"\nFIGURE fast-map error {case} {'reverse' if reverse else 'forward'}: {worst:.2e} px, steps "
          f"{sorted({f.grid.step for f in cor.plan().maps.values()})}, "
          f"exact cells {sum(f.poisoned_cells for f in cor.plan().maps.values())}")


def test_third_party_division_model_fast_maps(monkeypatch):
    kit = mountkit.Kit(plugins=[DivisionPlugin()], entry_points=False)
    lens = synthetic([Calibration("distortion", "division", 35, {"k": 0.08})])
    for reverse in (False, True):
        cor = kit.corrector(lens, crop_factor=1.0, size=(1200, 800), reverse=reverse, fast_maps=True, cache=False)
        worst, flips, nan_mismatch = whole_frame_error(cor)
        assert worst <= MAX_ERROR_PX and flips == 0 and nan_mismatch == 0


@pytest.mark.parametrize("reverse", [False, True], ids=["correct", "simulate"])
def test_fast_maps_at_the_full_one_inch_frame(kit, reverse):
    """8192 x 6144 with the demo's lens: every 61st row and the last, every column, all channels."""
    lens = lensfun_lens("Summicron-M 1:2/28 ASPH.")
    cor = kit.corrector(lens, crop_factor=2.64, size=(8192, 6144), reverse=reverse, cache=False)
    assert cor.fast_maps and cor.plan().mode == "grid"
    assert min(f.grid.step for f in cor.plan().maps.values()) >= 16  # a coarse grid: cheap maps
    worst, flips, nan_mismatch = fast_and_exact(cor, rows=[*range(0, 6144, 61), 6143])
    assert worst <= MAX_ERROR_PX and flips == 0 and nan_mismatch == 0


def test_fast_gains_match_the_exact_gains(kit):
    zoom = lensfun_lens("Canon EF 24-70mm f/2.8L II USM")
    for reverse in (False, True):
        cor = kit.corrector(zoom, crop_factor=1.0, size=(1500, 1000), focal=24, aperture=2.8, reverse=reverse,
                            corrections=("vignetting",), fast_maps=True, cache=False)
        field = cor.plan().gains[strips.ALL]
        fast = np.concatenate([field.rows(a, b)[0] for a, b in cor.plan().strips])
        exact = cor.vignetting_gain(exact=True)
        assert (exact.min() < 0.67) if reverse else (exact.max() > 1.5)  # strong vignetting wide open
        assert np.max(np.abs(fast / exact - 1)) < 1e-5


def test_exact_and_grid_layout_helpers():
    g = fm.NodeGrid(8192, 6144, 32)
    i, t = g.index(np.array([0.0, 15.5, 8191.0]))
    assert g.xs()[i[1]] == 15.5 and t[1] == 0.0
    assert g.xs()[i[0]] <= 0 < g.xs()[i[0] + 1] and g.xs()[i[2]] <= 8191 < g.xs()[i[2] + 1]
    # bilinear upsampling reproduces linear functions exactly (both implementations)
    xs = g.xs()
    rows = np.broadcast_to((2.5 * xs - 7.0)[None, None, :], (3, 1, g.nx)).astype(np.float32)
    for use_cv2 in (True, False):
        up = fm.upsample_columns(rows, 8192, 32, use_cv2=use_cv2)
        assert up.shape == (1, 3, 8192) and np.allclose(up[0], 2.5 * np.arange(8192) - 7.0, atol=4e-3)
    # a NaN node makes exactly the pixels it supports NaN (and, with OpenCV, the row above them)
    rows = np.ones((4, 2, g.nx), np.float32)
    rows[2, 1, 10] = np.nan
    for use_cv2 in (True, False):
        bad = np.isnan(fm.upsample_columns(rows, 8192, 32, use_cv2=use_cv2)).any(axis=0)
        assert set(np.nonzero(bad[2])[0]) == set(range(32 * 8 + 16, 32 * 10 + 16))
        assert not bad[0].any() and not bad[3].any()
    # a quadratic's estimated error is exact: h^2 f'' / 8
    k = np.arange(10.0)
    v = np.broadcast_to((0.3 * k * k)[None, :, None], (5, 10, 1))
    assert np.allclose(fm.cell_errors(v), 0.3 * 2 / 8)
    assert strips.source_band(10.2, 20.7, 100, "bicubic") == (8, 24)


# -- backends ------------------------------------------------------------------------------------------


@pytest.mark.skipif(not opencv_backend.available(), reason="OpenCV without exact positions (OpenCV < 5)")
@pytest.mark.parametrize("interpolation", ["nearest", "bilinear", "bicubic", "lanczos3"])
def test_opencv_and_numpy_backends_agree(interpolation):
    rng = np.random.default_rng(7)
    frame = rng.uniform(0, 1000, (70, 90)).astype(np.float32)
    mx = rng.uniform(-3, 92, (40, 60)).astype(np.float32)
    my = rng.uniform(-3, 72, (40, 60)).astype(np.float32)
    mx[0, :5] = [np.nan, -0.5, 89.5, -0.51, 89.51]  # NaN, and the edges of the frame's area
    my[0, :5] = [3.0, 4.0, 69.5, 5.0, 6.0]
    a = opencv_backend.remap(frame, mx, my, interpolation, fill=-7.0)
    b = numpy_backend.remap(frame, mx, my, interpolation, fill=-7.0)
    assert np.array_equal(a == -7.0, b == -7.0)
    assert np.max(np.abs(a - b)) <= 1e-5 * 1000  # float32 rounding of values up to 1000
    if interpolation == "lanczos3":  # no OpenCV counterpart: the numpy implementation itself
        assert np.array_equal(a, b)
    # several channels at once, with the inside test given or computed
    frame3 = rng.uniform(0, 1, (70, 90, 3)).astype(np.float32)
    valid = inside_frame(mx, my, 90, 70)
    for multi in (opencv_backend.remap_multi, numpy_backend.remap_multi):
        for v in (None, valid):
            got = multi(frame3, mx, my, interpolation, -1.0, None, v)
            for c in range(3):
                assert np.allclose(got[..., c], numpy_backend.remap(frame3[..., c], mx, my, interpolation, -1.0),
                                   atol=1e-5)


def test_backends_agree_on_whole_corrections(kit):
    lens = lensfun_lens("Canon EF 24-70mm f/2.8L II USM")
    rng = np.random.default_rng(3)
    frame = rng.integers(0, 1024, (900, 1200, 3)).astype(np.uint16)
    outs = {}
    for name in ("opencv", "numpy"):
        for reverse in (False, True):
            cor = kit.corrector(lens, crop_factor=1.53, size=(1200, 900), focal=35, aperture=2.8,
                                interpolation="bilinear", resampler=name, reverse=reverse, fast_maps=True)
            outs[name, reverse] = cor.apply(frame, white_level=1023, mask=True)
    for reverse in (False, True):
        (a, va), (b, vb) = outs["opencv", reverse], outs["numpy", reverse]
        assert np.array_equal(va, vb)
        assert np.max(np.abs(a.astype(int) - b.astype(int))) <= 1  # rounding of float32 ties


def test_default_backend_and_opencv_hidden(monkeypatch):
    """Without OpenCV the numpy backend is the default, the maps are upsampled in numpy, results agree."""
    lens = lensfun_lens("Summicron-M 1:2/28 ASPH.")
    rng = np.random.default_rng(5)
    frame = rng.uniform(0, 1, (768, 1536, 3)).astype(np.float32)
    options = dict(crop_factor=2.64, size=(1536, 768), interpolation="bicubic", fast_maps=True, cache=False)
    with_cv = mountkit.Kit(entry_points=False)
    assert with_cv.resampler().name == ("opencv" if opencv_backend.available() else "numpy")
    ref = with_cv.corrector(lens, **options).apply(frame)
    monkeypatch.setitem(sys.modules, "cv2", None)  # import cv2 now raises ImportError
    opencv_backend.exact_positions.cache_clear()
    try:
        hidden = mountkit.Kit(entry_points=False)
        assert not hidden.resamplers()["opencv"].available()
        cor = hidden.corrector(lens, **options)
        assert cor.resampler.name == "numpy"
        got = cor.apply(frame)
    finally:
        opencv_backend.exact_positions.cache_clear()
    assert np.max(np.abs(got - ref)) < 1e-4


# -- strips, memory, integers, vignetting ------------------------------------------------------------------


def test_strips_and_threads_do_not_change_the_result(kit, monkeypatch):
    """Each strip's positions are the same float32 numbers however the frame is cut (the band offset is exact)."""
    lens = lensfun_lens("Canon EF 24-70mm f/2.8L II USM")
    frame = np.random.default_rng(9).integers(0, 4096, (1000, 1500, 3)).astype(np.uint16)
    results = []
    for pixels, threads in ((1 << 19, 2), (9000, 1), (50_000, 2), (1 << 19, 1)):
        monkeypatch.setattr(strips, "STRIP_PIXELS", pixels)
        cor = kit.corrector(lens, crop_factor=1.0, size=(1500, 1000), focal=24, aperture=2.8, threads=threads,
                            fast_maps=True, cache=False)
        results.append(cor.apply(frame, mask=True))
    for out, valid in results[1:]:
        assert np.array_equal(out, results[0][0]) and np.array_equal(valid, results[0][1])


@pytest.mark.parametrize("tca", [True, False], ids=["per-channel", "shared-map"])
def test_peak_memory_is_a_few_strips(kit, monkeypatch, tca):
    """A 12 MP uint16 frame: beyond the output, the buffers of a few strips per thread (numpy's, traced).

    A full-frame float32 plane would be 2/3 of the frame's bytes, float64 maps of three channels 8 times them;
    the strips' buffers are about 70 bytes per strip pixel and thread (up to 120 where cells near the optical
    centre are evaluated exactly).
    """
    monkeypatch.setattr(strips, "STRIP_PIXELS", 1 << 17)
    lens = lensfun_lens("Canon EF 16-35mm f/2.8L II USM")
    w, h = 4096, 3072
    frame = np.random.default_rng(1).integers(0, 1024, (h, w, 3)).astype(np.uint16)
    out = np.empty_like(frame)
    cor = kit.corrector(lens, crop_factor=2.64, size=(w, h), focal=24, aperture=4, distance=3, threads=2,
                        corrections=("vignetting", "tca", "distortion") if tca else ("vignetting", "distortion"),
                        interpolation="bilinear", cache=MapCache())
    cor.plan()
    tracemalloc.start()
    try:
        cor.apply(frame, white_level=1023, out=out)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 2 * 128 * strips.STRIP_PIXELS and peak < frame.nbytes / 2, peak / frame.nbytes
    assert out.dtype == np.uint16 and out.max() <= 1023


def reference(cor, frame, fill=0.0):
    """The engine's definition, computed the slow way: exact gains and maps, numpy backend, per channel."""
    w, h = cor.size
    gain = cor.vignetting_gain(exact=True).astype(np.float32)
    coords = cor.source_coordinates(exact=True).astype(np.float32)
    out = np.empty(frame.shape, np.float32)
    for c in range(3):
        x, y = coords[..., c, 0], coords[..., c, 1]
        if cor.reverse:
            plane = numpy_backend.remap(frame[..., c].astype(np.float32), x, y, cor.interpolation, fill) * gain
            out[..., c] = np.where(inside_frame(x, y, w, h), plane, fill)
        else:
            out[..., c] = numpy_backend.remap(frame[..., c].astype(np.float32) * gain, x, y, cor.interpolation, fill)
    return out


@pytest.mark.parametrize("reverse", [False, True], ids=["correct", "simulate"])
def test_integer_frames_stay_integer_and_vignetting_in_the_same_pass(kit, reverse):
    """uint16 in, uint16 out; the one-pass result is the slow exact definition's to within rounding (1 DN)."""
    lens = lensfun_lens("Canon EF 24-70mm f/2.8L II USM")
    w, h = 1280, 960
    cor = kit.corrector(lens, crop_factor=1.53, size=(w, h), focal=24, aperture=2.8, interpolation="bicubic",
                        reverse=reverse, fast_maps=True, cache=False)
    assert cor.active == ("vignetting", "tca", "distortion")
    # a scene with detail at every scale: noise blurred a little (as a lens would), 10-bit
    noise = gaussian_filter(np.random.default_rng(2).normal(0, 1, (h, w, 3)), (1.2, 1.2, 0))
    truth = np.clip(np.rint(500 + 300 * noise / noise.std()), 0, 1023).astype(np.uint16)
    out = cor.apply(truth, white_level=1023, fill=3)
    assert out.dtype == np.uint16
    ref = np.clip(np.rint(reference(cor, truth, fill=3)), 0, 1023)
    diff = np.abs(out.astype(np.float64) - ref)
    assert diff.max() <= 1
    assert np.mean(diff) < 0.05  # ties and the maps' few thousandths of a pixel move a few percent by 1
    # floats: to float32 rounding of the map and gain approximations
    f = truth.astype(np.float32) / 1023
    assert np.max(np.abs(cor.apply(f, fill=3 / 1023) - reference(cor, f, fill=3 / 1023))) < 2e-3


def test_colour_shading_and_mono_frames_on_the_fast_path(kit):
    cals = (Calibration("distortion", "poly3", 35, {"k1": 0.02}),
            Calibration("vignetting", "pa", 35, {"k1": -0.4}, aperture=2.8, distance=1000),
            Calibration("colour_shading", "poly4", 35, {"r10": 0.05, "b01": -0.04, "g20": 0.02},
                        aperture=2.8, distance=1000))
    lens = synthetic(cals)
    cor = kit.corrector(lens, crop_factor=1.0, size=(1200, 900), aperture=2.8, fast_maps=True, cache=False)
    assert set(cor.plan().gains) == {0, 1, 2}
    exact = kit.corrector(lens, crop_factor=1.0, size=(1200, 900), aperture=2.8, fast_maps=False, cache=False)
    frame = np.random.default_rng(4).uniform(0.2, 0.8, (900, 1200, 3)).astype(np.float32)
    (a, va), (b, vb) = cor.apply(frame, mask=True), exact.apply(frame, mask=True)
    assert np.count_nonzero(va != vb) <= 10  # pixels sampled within a few thousandths of a pixel of the edge
    both = va & vb
    assert np.max(np.abs(a - b)[both]) < 2e-3
    assert np.array_equal(exact.apply(frame), b) and np.array_equal(cor.apply(frame), a)  # plans stay unchanged
    ones = np.ones((900, 1200, 3), np.float32)
    scale1 = kit.corrector(lens, crop_factor=1.0, size=(1200, 900), aperture=2.8, fast_maps=True, cache=False,
                           corrections=("vignetting", "colour_shading"))
    for c in range(3):  # gains only: no resampling
        want = scale1.shading_gain(c, exact=True) * scale1.vignetting_gain(exact=True)
        assert np.allclose(scale1.apply(ones)[..., c], want, rtol=1e-5)
    grey = frame[..., 1].copy()
    assert np.array_equal(cor.apply(grey), cor.apply(frame)[..., 1])


# -- the cache -------------------------------------------------------------------------------------------


def test_map_cache_is_shared_keyed_and_bounded(kit):
    lens = lensfun_lens("Canon EF 24-70mm f/2.8L II USM")
    cache = MapCache(max_bytes=64 << 20)
    options = dict(crop_factor=1.53, size=(1600, 1200), focal=35, aperture=4, cache=cache)
    a = kit.corrector(lens, **options)
    b = kit.corrector(lens, **options)
    assert a.cache_key() == b.cache_key()
    plan = a.plan()
    assert b.plan() is plan and cache.info().hits == 1 and cache.info().misses == 1
    # every setting that changes the maps changes the key
    for change in ({"focal": 50}, {"size": (1200, 1600)}, {"aperture": 8}, {"scale": 1.02}, {"reverse": True},
                   {"interpolation": "bilinear"}, {"corrections": ("distortion",)}, {"vignetting_strength": 0.5},
                   {"crop_factor": 2.0}):
        other = kit.corrector(lens, **{**options, **change})
        assert other.cache_key() != a.cache_key(), change
    # warm (cached) frames are the cold frame
    frame = np.random.default_rng(8).integers(0, 1024, (1200, 1600, 3)).astype(np.uint16)
    cold = kit.corrector(lens, **{**options, "cache": False}).apply(frame)
    assert np.array_equal(a.apply(frame), cold) and np.array_equal(b.apply(frame), cold)
    # LRU by bytes
    small = MapCache(max_bytes=int(plan.nbytes * 2.5))
    cors = [kit.corrector(lens, **{**options, "cache": small, "focal": f}) for f in (30, 40, 50)]
    for c in cors:
        c.plan()
    assert len(small) == 2 and small.info().bytes <= small.max_bytes
    assert cors[0].cache_key() not in small and cors[2].cache_key() in small
    cors[1].plan()  # a hit moves it to the front: the next entry evicts focal 50, not 40
    kit.corrector(lens, **{**options, "cache": small, "focal": 60}).plan()
    assert cors[1].cache_key() in small and cors[2].cache_key() not in small
    small.max_bytes = 0
    assert len(small) == 0 and small.info().bytes == 0
    # an entry larger than the bound is computed, used, and not stored
    assert kit.corrector(lens, **{**options, "cache": small}).plan().nbytes > 0 and len(small) == 0


def test_maps_kept_at_full_resolution_from_the_second_frame(kit, monkeypatch):
    """Without the compiled kernels, video-sized frames keep their maps after the first reuse: same output, and
    the cache counts the bytes.  With them, nothing is kept (interpolating the maps costs little there)."""
    lens = lensfun_lens("Canon EF 24-70mm f/2.8L II USM")
    if kernels.available():
        with_kernels = kit.corrector(lens, crop_factor=1.53, size=(1920, 1080), focal=35, aperture=2.8,
                                     cache=MapCache(max_bytes=256 << 20))
        assert not with_kernels.plan().keep
    monkeypatch.setenv(kernels.ENV_KERNELS, "0")
    cache = MapCache(max_bytes=256 << 20)
    frame = np.random.default_rng(6).integers(0, 1024, (1080, 1920, 3)).astype(np.uint16)
    for reverse in (False, True):
        cor = kit.corrector(lens, crop_factor=1.53, size=(1920, 1080), focal=35, aperture=2.8, reverse=reverse,
                            interpolation="bicubic", cache=cache)
        plan = cor.plan()
        assert plan.keep and plan.dense_bytes() <= corrector_mod.DENSE_MAPS_MAX_BYTES
        first = cor.apply(frame, white_level=1023, mask=True)
        assert plan.strip_maps is None  # a single frame does not pay the memory
        second = cor.apply(frame, white_level=1023, mask=True)
        assert plan.strip_maps is not None and plan.dense_gains is not None
        assert cache.info().bytes >= plan.nbytes > plan.dense_bytes()
        third = cor.apply(frame, white_level=1023, mask=True)
        for got in (second, third):
            assert np.array_equal(got[0], first[0]) and np.array_equal(got[1], first[1])
        # concurrent frames on one plan, while one of them keeps the maps
        fresh = kit.corrector(lens, crop_factor=1.53, size=(1920, 1080), focal=35, aperture=2.8, reverse=reverse,
                              interpolation="bicubic", cache=MapCache(max_bytes=256 << 20))
        fresh.apply(frame, white_level=1023)
        with ThreadPoolExecutor(3) as ex:
            outs = list(ex.map(lambda _, c=fresh: c.apply(frame, white_level=1023), range(4)))
        assert fresh.plan().strip_maps is not None
        assert all(np.array_equal(o, first[0]) for o in outs)
    # a frame whose maps would not fit the budget interpolates them every time
    big = kit.corrector(lens, crop_factor=1.53, size=(1920, 1080), focal=35, aperture=2.8,
                        cache=MapCache(max_bytes=64 << 20))
    assert not big.plan().keep


def test_cache_options_and_configuration(kit, monkeypatch):
    lens = lensfun_lens("Summicron-M 1:2/28 ASPH.")
    own = kit.corrector(lens, crop_factor=2.64, size=(640, 480), cache=False)
    assert own.cache is None and own.plan() is own.plan()
    assert kit.corrector(lens, crop_factor=2.64, size=(640, 480)).cache is default_cache()
    with pytest.raises(CorrectionError, match="cache"):
        kit.corrector(lens, crop_factor=2.64, size=(640, 480), cache={})
    with pytest.raises(CorrectionError, match="threads"):
        kit.corrector(lens, crop_factor=2.64, size=(640, 480), threads=0)
    with pytest.raises(MountkitError, match="max_bytes"):
        MapCache(max_bytes=-1)
    from mountkit import cache as cache_mod

    monkeypatch.setenv(cache_mod.ENV_MAX_MB, "12.5")
    assert cache_mod._env_max_bytes() == int(12.5 * (1 << 20))
    monkeypatch.setenv(cache_mod.ENV_MAX_MB, "lots")
    with pytest.raises(MountkitError, match="MOUNTKIT_MAP_CACHE_MB"):
        cache_mod._env_max_bytes()
    monkeypatch.setenv(strips.ENV_THREADS, "3")
    assert strips.default_threads() == 3
    monkeypatch.setenv(strips.ENV_THREADS, "none")
    with pytest.raises(MountkitError, match="MOUNTKIT_THREADS"):
        strips.default_threads()


def _cell_errors_by_hand(v: np.ndarray) -> np.ndarray:
    """cell_errors' docstring, read literally, one cell at a time."""
    ny, nx, nc = v.shape

    def d2(i, j, k, axis):  # the second difference at node (i, j); edge nodes take their neighbour's
        if axis == 1:
            j = min(max(j, 1), nx - 2)
            return abs(v[i, j - 1, k] - 2 * v[i, j, k] + v[i, j + 1, k])
        i = min(max(i, 1), ny - 2)
        return abs(v[i - 1, j, k] - 2 * v[i, j, k] + v[i + 1, j, k])

    def top(xs):  # a NaN anywhere makes the maximum NaN
        xs = list(xs)
        return np.nan if any(np.isnan(x) for x in xs) else max(xs)

    out = np.empty((ny - 1, nx - 1))
    for i in range(ny - 1):
        for j in range(nx - 1):
            corners = [(i, j), (i, j + 1), (i + 1, j), (i + 1, j + 1)]
            comps = [(top(d2(a, b, k, 1) for a, b in corners) + top(d2(a, b, k, 0) for a, b in corners)) / 8
                     for k in range(nc)]
            e = float(np.sqrt(sum(c * c for c in comps)))
            out[i, j] = e if np.isfinite(e) and np.isfinite(v[i:i + 2, j:j + 2]).all() else np.inf
    return out


def test_cell_errors_against_a_direct_reading_of_the_definition():
    rng = np.random.default_rng(5)
    for shape in ((9, 12, 2), (7, 5, 1), (3, 3, 2)):
        v = rng.normal(0, 500, shape)
        v[1, 2, 0] = np.nan
        want, got = _cell_errors_by_hand(v), fm.cell_errors(v)
        assert np.array_equal(np.isinf(got), np.isinf(want)) and np.isinf(got).any()
        assert np.allclose(got[np.isfinite(want)], want[np.isfinite(want)], rtol=1e-12, atol=1e-9)
