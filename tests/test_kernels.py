"""The compiled kernels (:mod:`mountkit.kernels`, ``mountkit/_kernels.c``) against the numpy they replace.

Each kernel is compared with its numpy counterpart on the same inputs (bit for bit where both compute the same
float32 expression), and whole corrections with the kernels on and off agree to rounding.  Where a C compiler is
installed, the library must have been built: an extension that failed to compile would otherwise be skipped
silently (it is optional so that installing without a compiler works).
"""

from __future__ import annotations

import shutil
import sysconfig

import numpy as np
import pytest
from mountkit_lensfun.database import bundled_database

import mountkit
from mountkit import kernels, strips
from mountkit import maps as fm
from mountkit.cache import MapCache
from mountkit.geometry import inside_frame

needs_kernels = pytest.mark.skipif(not kernels.available(), reason=f"compiled kernels: {kernels.describe()}")


def test_built_wherever_a_compiler_is_installed(monkeypatch):
    compiler = (sysconfig.get_config_var("CC") or "cc").split()[0]
    if not (shutil.which(compiler) or shutil.which("cc")):
        pytest.skip("no C compiler: the kernels are optional")
    assert kernels.library_path() is not None, "mountkit/_kernels.c did not compile when mountkit was installed"
    assert kernels.available() and kernels.describe() == "in use"
    monkeypatch.setenv(kernels.ENV_KERNELS, "0")
    assert not kernels.available() and "off" in kernels.describe()


@needs_kernels
@pytest.mark.parametrize("step", [2, 16, 32])
def test_field_rows_equal_the_numpy_interpolation(step):
    rng = np.random.default_rng(step)
    width, height = 1000 + step, 70
    grid = fm.NodeGrid(width, height, step)
    rows = (rng.normal(0, 300, (height, 2, grid.nx))).astype(np.float32)
    want = fm.upsample_columns(rows, width, step, use_cv2=False)
    got = np.empty((2, height, width), np.float32)
    assert kernels.field_rows(rows, width, step, 0, height, got)
    assert np.max(np.abs(got - want)) <= 2 * np.spacing(np.float32(2000))  # the same lerp, written v0 + d t
    a, b = 13, 41  # some rows, minus an offset, into a wider buffer
    wide = np.full((2, b - a, width + 40), -1.0, np.float32)
    view = wide[:, :, :width + 40]
    assert kernels.field_rows(rows, width, step, a, b, view, offset=(0.0, 17.0))
    assert np.array_equal(wide[..., width:], np.full((2, b - a, 40), -1.0, np.float32))
    assert np.array_equal(wide[1, :, :width], got[1, a:b] - np.float32(17.0))
    assert np.array_equal(wide[0, :, :width], got[0, a:b])
    # buffers the kernel cannot take are refused, untouched
    assert not kernels.field_rows(rows.astype(np.float64), width, step, 0, height, got)
    assert not kernels.field_rows(rows, width, step, 0, height, np.empty((2, height, width - 1), np.float32))


@needs_kernels
def test_coarse_field_rows_with_and_without_kernels(monkeypatch):
    def f(x, y):
        return np.stack([x + 1e-4 * x * y, y - 2e-5 * x * x], axis=-1)

    field = fm.build_field(f, 640, 480, 2, tol=0.01)
    on = field.rows(100, 160, offset=(0.0, 95.0))
    monkeypatch.setenv(kernels.ENV_KERNELS, "0")
    assert not kernels.available() and kernels.lib() is None  # read once, then used by every kernel
    field_off = fm.build_field(f, 640, 480, 2, tol=0.01)
    off = field_off.rows(100, 160, offset=(0.0, 95.0))
    assert np.array_equal(field._rows, field_off._rows)  # node_rows: the same float64 expression
    assert np.max(np.abs(on - off)) <= 2e-4  # float32 rounding of values up to 640


@needs_kernels
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
@pytest.mark.parametrize("nc", [1, 3, 4])
@pytest.mark.parametrize("gain", [True, False])
def test_band_planes_equal_numpy(dtype, nc, gain):
    rng = np.random.default_rng(nc)
    band = (rng.random((9, 37, nc)) * (255 if dtype == np.uint8 else 1023)).astype(dtype)
    gains = [rng.uniform(0.5, 3.0, (9, 37)).astype(np.float32) for _ in range(nc)] if gain else [None] * nc
    planes = [np.empty((9, 37), np.float32) for _ in range(nc)]
    assert kernels.band_planes(band, planes, gains)
    for c in range(nc):
        want = band[..., c].astype(np.float32)
        if gain:
            want = want * gains[c]
        assert np.array_equal(planes[c], want)
    if nc > 1:  # a gain for some channels only is refused
        assert not kernels.band_planes(band, planes, [gains[0]] + [None] * (nc - 1)) or not gain


@needs_kernels
@pytest.mark.parametrize("dtype,limits", [(np.uint8, (0.0, 255.0)), (np.uint16, (0.0, 1023.0)),
                                          (np.uint16, (64.0, 65535.0)), (np.float32, None)])
@pytest.mark.parametrize("nc", [1, 3])
def test_store_planes_round_half_to_even_and_clip_like_numpy(dtype, limits, nc):
    rng = np.random.default_rng(7)
    planes = [rng.uniform(-50, 70000, (5, 33)).astype(np.float32) for _ in range(nc)]
    planes[0][0, :8] = [0.5, 1.5, 2.5, -0.5, 1022.5, 1023.5, 254.5, 3.4999998]  # ties and near-ties
    planes[0][1, :3] = [np.nan, -np.inf, np.inf]
    dst = np.zeros((5, 33, nc), dtype)
    assert kernels.store_planes(planes, dst, limits)
    for c in range(nc):
        p = planes[c]
        if limits is None:
            want = p
        else:
            with np.errstate(invalid="ignore"):
                want = np.clip(np.rint(np.nan_to_num(p, nan=limits[0])), *limits).astype(dtype)
        assert np.array_equal(dst[..., c], want, equal_nan=True), c
    # limits the dtype cannot hold, fractional limits, and float output with limits are refused
    assert not kernels.store_planes(planes, np.zeros((5, 33, nc), np.uint8), (0.0, 1023.0))
    assert not kernels.store_planes(planes, np.zeros((5, 33, nc), np.uint16), (0.0, 1022.5))
    assert not kernels.store_planes(planes, np.zeros((5, 33, nc), np.float32), (0.0, 1.0))
    assert not kernels.store_planes(planes, np.zeros((5, 33, nc), np.int16), (0.0, 100.0))


@needs_kernels
def test_outside_finds_what_inside_frame_rejects():
    rng = np.random.default_rng(3)
    w, h, r0 = 300, 200, 40
    mx = rng.uniform(-3, w + 3, (25, w)).astype(np.float32)
    my = rng.uniform(-3 - r0, h + 3 - r0, (25, w)).astype(np.float32)
    mx[3, 7] = np.nan
    my[4, 9] = -0.5 - r0  # on the edge: inside
    got = kernels.outside(mx, my, 20, 250, w - 0.5, -0.5 - r0, h - 0.5 - r0, row0=5)
    bad = ~inside_frame(mx, my + r0, w, h)
    bad[:, :20] = bad[:, 250:] = False
    ri, ci = np.nonzero(bad)
    assert np.array_equal(got[0], (ri + 5).astype(np.int32)) and np.array_equal(got[1], ci.astype(np.int32))
    far = (mx * 3 - 300).astype(np.float32)  # mostly off the frame
    got = kernels.outside(far, my, 0, w, w - 0.5, -0.5 - r0, h - 0.5 - r0)
    ri, ci = np.nonzero(~inside_frame(far, my + r0, w, h))
    assert got[0].size == ri.size > 0.5 * far.size and np.array_equal(got[1], ci.astype(np.int32))


# -- whole corrections -------------------------------------------------------------------------------------


def lensfun_lens(model: str):
    (lens,) = [lens for lens in bundled_database().lenses if lens.model == model]
    return lens


@pytest.fixture(scope="module")
def kit():
    return mountkit.Kit(entry_points=False)


@needs_kernels
@pytest.mark.parametrize("interpolation", ["bilinear", "bicubic"])
@pytest.mark.parametrize("reverse", [False, True], ids=["correct", "simulate"])
def test_corrections_agree_with_kernels_on_and_off(kit, monkeypatch, interpolation, reverse):
    lens = lensfun_lens("Canon EF 16-35mm f/2.8L II USM")
    w, h = 1536, 1024
    rng = np.random.default_rng(11)
    frame = rng.integers(0, 1024, (h, w, 3)).astype(np.uint16)
    floats = frame.astype(np.float32) / 1023
    opts = dict(crop_factor=2.64, size=(w, h), focal=24, aperture=4, distance=3, interpolation=interpolation,
                reverse=reverse, threads=2)
    results = {}
    for on in (True, False):
        monkeypatch.setenv(kernels.ENV_KERNELS, "1" if on else "0")
        cor = kit.corrector(lens, **opts, cache=MapCache())
        assert cor.active == ("vignetting", "tca", "distortion")
        first = cor.apply(frame, white_level=1023, fill=5, mask=True)
        again = cor.apply(frame, white_level=1023, fill=5, mask=True)  # edges kept by the plan
        assert np.array_equal(first[0], again[0]) and np.array_equal(first[1], again[1])
        results[on] = (first, cor.apply(floats), cor.apply(frame[..., 1]))
    (u_on, v_on), f_on, m_on = results[True]
    (u_off, v_off), f_off, m_off = results[False]
    d = np.abs(u_on.astype(int) - u_off.astype(int))
    assert d.max() <= 1 and np.count_nonzero(d) < 1e-3 * d.size  # float32 ties of the map lerp's two forms
    assert np.count_nonzero(v_on != v_off) <= 10  # positions within float32 rounding of the frame's edge
    assert np.max(np.abs(f_on - f_off)[v_on & v_off]) < 1e-4
    assert u_on.max() <= 1023 and u_on.dtype == np.uint16
    assert np.count_nonzero(np.abs(m_on.astype(int) - m_off.astype(int)) > 1) == 0


@needs_kernels
def test_scratch_buffers_are_reused_across_frames_and_released(kit):
    lens = lensfun_lens("Canon EF 16-35mm f/2.8L II USM")
    frame = np.random.default_rng(1).integers(0, 1024, (600, 900, 3)).astype(np.uint16)
    cor = kit.corrector(lens, crop_factor=2.64, size=(900, 600), focal=24, aperture=4, threads=2, cache=MapCache())
    a = cor.apply(frame, white_level=1023)
    strips.release_scratch()
    b = cor.apply(frame, white_level=1023)
    kept = strips.release_scratch()
    assert kept > 0 and strips.release_scratch() == 0
    assert np.array_equal(a, b) and np.array_equal(cor.apply(frame, white_level=1023), a)


def test_missing_library_means_numpy_does_the_work(monkeypatch):
    monkeypatch.setattr(kernels, "library_path", lambda: None)
    kernels._load.cache_clear()
    try:
        assert not kernels.available() and kernels.lib() is None
        assert "not built" in kernels.describe()
        rows = np.zeros((4, 2, fm.NodeGrid(64, 4, 16).nx), np.float32)
        assert not kernels.field_rows(rows, 64, 16, 0, 4, np.empty((2, 4, 64), np.float32))
        assert not kernels.store_planes([np.zeros((2, 3), np.float32)], np.zeros((2, 3, 1), np.uint8), (0.0, 255.0))
    finally:
        monkeypatch.undo()
        kernels._load.cache_clear()
        kernels.available()


def test_a_build_without_a_c_compiler_still_makes_a_wheel(tmp_path):
    """The extension is optional: with no working compiler the wheel is built without it (numpy does the work)."""
    import os
    import subprocess
    import sys
    import zipfile
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    if not (root / "setup.py").is_file():
        pytest.skip("not a source checkout")
    src = tmp_path / "src"  # a copy without build/ leftovers, which setuptools would reuse
    shutil.copytree(root, src, ignore=shutil.ignore_patterns("build", "*.egg-info", "*.so", ".git", "__pycache__",
                                                              ".pytest_cache", ".hypothesis"))
    env = {**os.environ, "CC": "false"}
    got = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                          "-w", str(tmp_path / "wheels"), str(src)], capture_output=True, text=True, env=env,
                         timeout=600)
    assert got.returncode == 0, got.stderr[-2000:]
    (wheel,) = (tmp_path / "wheels").glob("mountkit-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "mountkit/kernels.py" in names and not any("_kernels" in n and not n.endswith(".c") for n in names)
