"""Frame tools: histogram, zebra, focus peaking, the frame-tools hook and ``mountkit inspect``."""

from __future__ import annotations

import importlib
import json
import math

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import ndimage as ndi

import mountkit
from mountkit.cli import make_cli
from mountkit.errors import FrameError
from mountkit.io import Frame
from mountkit.tools import FrameTool, focus_contrast, histogram, luminance, peaking, stripe_pattern, zebra
from mountkit.tools.histogram import Histogram
from mountkit.tools.peaking import noise_sigma

# -- helpers --------------------------------------------------------------------


def ten_bit(rng, shape):
    return rng.integers(0, 1024, shape, dtype=np.uint16)


def stripes_oracle(h, w, width, angle):
    """The documented stripe rule, computed independently in float64."""
    r, c = np.mgrid[0:h, 0:w].astype(np.float64)
    a = math.radians(angle)
    u = (c * math.sin(a) + r * math.cos(a)) / width
    return np.floor(u + 1e-9).astype(np.int64) % 2 == 0


# -- histogram ------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(4))
def test_histogram_counts_equal_bincount_and_np_histogram_on_10_bit_frames(seed):
    rng = np.random.default_rng(seed)
    h, w = rng.integers(1, 200, 2)
    frame = ten_bit(rng, (h, w, 3))
    result = histogram(frame)
    assert result.bins == 1024
    for i, name in enumerate("RGB"):
        counts = result.channels[name].counts
        assert np.array_equal(counts, np.bincount(frame[..., i].ravel(), minlength=1024))
        assert np.array_equal(counts, np.histogram(frame[..., i], bins=1024, range=(0, 1024))[0])
    assert result.channels["Y"].counts.sum() == h * w
    mono = frame[..., 1]
    assert np.array_equal(histogram(mono).channels["Y"].counts, np.bincount(mono.ravel(), minlength=1024))


def test_histogram_of_grey_rgb_luminance_equals_the_channel():
    rng = np.random.default_rng(7)
    grey = ten_bit(rng, (64, 80))
    rgb = np.repeat(grey[..., None], 3, axis=2)
    result = histogram(rgb)
    assert np.array_equal(result.channels["Y"].counts, result.channels["G"].counts)
    assert result.channels["Y"].clipped_high == np.count_nonzero(grey == 1023)


@pytest.mark.parametrize("bins", [1, 7, 100, 256, 1000, 1023, 2048])
def test_histogram_bins_option_equals_np_histogram(bins):
    frame = ten_bit(np.random.default_rng(bins), (90, 70, 3))
    result = histogram(frame, bins=bins)
    assert result.bins == bins
    assert np.array_equal(result.edges, np.histogram_bin_edges(frame[..., 0], bins=bins, range=(0, 1024)))
    for i, name in enumerate("RGB"):
        assert np.array_equal(result.channels[name].counts,
                              np.histogram(frame[..., i], bins=bins, range=(0, 1024))[0]), name


def test_histogram_clipping_counts_and_percentages_exact():
    rng = np.random.default_rng(3)
    frame = ten_bit(rng, (123, 77, 3))
    frame[rng.random(frame.shape) < 0.05] = 0
    frame[rng.random(frame.shape) < 0.03] = 1023
    n = 123 * 77
    result = histogram(frame)
    for i, name in enumerate("RGB"):
        ch = result.channels[name]
        low, high = int(np.count_nonzero(frame[..., i] == 0)), int(np.count_nonzero(frame[..., i] == 1023))
        assert (ch.clipped_low, ch.clipped_high, ch.total) == (low, high, n)
        assert ch.clipped_low_percent == 100.0 * low / n
        assert ch.clipped_high_percent == 100.0 * high / n
    numbers = result.as_dict()["channels"]["G"]
    assert numbers["clipped_high_percent"] == 100.0 * np.count_nonzero(frame[..., 1] == 1023) / n


def test_histogram_levels_above_white_and_black_level_count_as_clipped():
    rng = np.random.default_rng(4)
    frame = ten_bit(rng, (50, 60))
    result = histogram(frame, white_level=1000, black_level=64)
    counts = result.channels["Y"].counts
    assert result.bins == 1001 and counts.sum() == frame.size
    assert counts[1000] == np.count_nonzero(frame >= 1000)
    assert np.array_equal(counts[:1000], np.bincount(frame.ravel(), minlength=1024)[:1000])
    assert result.channels["Y"].clipped_high == np.count_nonzero(frame >= 1000)
    assert result.channels["Y"].clipped_low == np.count_nonzero(frame <= 64)
    framed = histogram(Frame(data=frame, white_level=1000, black_level=64))
    assert framed.white_level_source == "frame"
    assert np.array_equal(framed.channels["Y"].counts, counts)


def test_histogram_8_bit_and_float_frames():
    rng = np.random.default_rng(5)
    frame8 = rng.integers(0, 256, (40, 50, 4), dtype=np.uint8)  # alpha is ignored
    result = histogram(frame8)
    assert result.bins == 256 and list(result.channels) == ["R", "G", "B", "Y"]
    assert np.array_equal(result.channels["B"].counts, np.bincount(frame8[..., 2].ravel(), minlength=256))

    x = rng.normal(0.5, 0.4, (60, 70)).astype(np.float32)
    x[0, :5] = [0.0, 1.0, 0.25, np.nan, 2.0]
    for bins in (1024, 100, 3):
        ch = histogram(x, bins=bins).channels["Y"]
        finite = x[~np.isnan(x)].astype(np.float64)
        assert np.array_equal(ch.counts, np.histogram(np.clip(finite, 0.0, 1.0), bins=bins, range=(0, 1))[0])
        assert ch.total == x.size - 1
        assert ch.clipped_low == np.count_nonzero(finite <= 0)
        assert ch.clipped_high == np.count_nonzero(finite >= 1)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**32 - 1), st.sampled_from([np.uint8, np.uint16, np.int32, np.float32, np.float64]),
       st.integers(1, 40), st.integers(1, 40), st.sampled_from([1, 3]))
def test_histogram_counts_every_pixel_once(seed, dtype, h, w, c):
    rng = np.random.default_rng(seed)
    shape = (h, w) if c == 1 else (h, w, c)
    if np.issubdtype(dtype, np.floating):
        frame = rng.uniform(-0.2, 1.2, shape).astype(dtype)
    else:
        top = 255 if dtype == np.uint8 else 4095
        frame = rng.integers(0, top + 1, shape).astype(dtype)
    before = frame.copy()
    result = histogram(frame)
    assert np.array_equal(frame, before)
    for ch in result.channels.values():
        assert ch.counts.sum() == h * w == ch.total
        assert ch.counts[0] >= 0 and ch.clipped_low <= h * w
    back = Histogram.from_dict(json.loads(json.dumps(result.as_dict())))
    assert back.as_dict() == result.as_dict()


def test_histogram_rejects_bad_input():
    with pytest.raises(FrameError, match="bins"):
        histogram(np.zeros((4, 4), np.uint8), bins=0)
    with pytest.raises(FrameError, match="white level"):
        histogram(np.zeros((4, 4), np.uint16), white_level=0)
    with pytest.raises(FrameError, match="shape"):
        histogram(np.zeros((4, 4, 2), np.uint8))
    with pytest.raises(FrameError, match="dtype"):
        histogram(np.zeros((4, 4), bool))


def test_histogram_plot_writes_png(tmp_path):
    from PIL import Image

    from mountkit.tools import plot_histogram

    result = histogram(ten_bit(np.random.default_rng(0), (60, 80, 3)))
    paths = []
    for log in (False, True):
        path = plot_histogram(result, tmp_path / f"hist_{log}.png", log=log, size=(6, 3), dpi=50)
        with Image.open(path) as im:
            assert im.format == "PNG" and im.size == (300, 150)
        paths.append(path.read_bytes())
    assert paths[0] != paths[1]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hist_False.png", "hist_True.png"]


# -- zebra ----------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["uint8", "10-bit", "float32"])
@pytest.mark.parametrize("threshold", [0.95, 0.5])
def test_zebra_marks_exactly_the_stripes_over_pixels_at_or_above_threshold(kind, threshold):
    rng = np.random.default_rng(11)
    shape = (97, 131)
    if kind == "uint8":
        frame, white = rng.integers(0, 256, shape, dtype=np.uint8), 255
    elif kind == "10-bit":
        frame, white = ten_bit(rng, shape), 1023
    else:
        frame, white = rng.random(shape, dtype=np.float32), 1.0
    limit = threshold * white
    if kind != "float32":  # put pixels exactly at and just below the limit
        frame[:5] = math.ceil(limit)
        frame[5:10] = math.ceil(limit) - 1
    above = frame.astype(np.float64) >= limit
    z = zebra(frame, threshold, width=6, angle=45)
    pattern = stripes_oracle(*shape, 6, 45)
    assert z.above == np.count_nonzero(above)
    assert not (z.mask & ~above).any()
    assert np.array_equal(z.mask, above & pattern)
    assert z.marked == np.count_nonzero(above & pattern) > 0
    if kind != "float32":
        assert z.mask[:5].any() and not z.mask[5:10].any()


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16])
def test_zebra_threshold_is_exact_for_float_frames(dtype):
    below = np.asarray(0.95, dtype)  # the float nearest 0.95
    if float(below) >= 0.95:
        below = np.nextafter(below, dtype(0))
    above = np.nextafter(below, dtype(1))
    frame = np.tile(np.array([below, above], dtype), (4, 4))
    z = zebra(frame, 0.95, width=100, angle=0)  # one stripe over the whole frame
    assert np.array_equal(z.mask, frame.astype(np.float64) >= 0.95)
    assert z.above == 16 and not z.mask[:, 0::2].any()
    band = zebra(frame, None, band=(0.9, float(below) - 0.9), width=100, angle=0).band_mask
    assert band[:, 0::2].all() and not band[:, 1::2].any()


def test_zebra_on_rgb_luminance_and_max_channel():
    rng = np.random.default_rng(12)
    frame = ten_bit(rng, (64, 64, 3))
    limit = 0.8 * 1023
    pattern = stripes_oracle(64, 64, 4, 30)
    y = luminance(frame).astype(np.float64)
    assert np.array_equal(zebra(frame, 0.8, width=4, angle=30).mask, (y >= limit) & pattern)
    top = frame.max(axis=2).astype(np.float64)
    z = zebra(frame, 0.8, width=4, angle=30, measure="max")
    assert np.array_equal(z.mask, (top >= limit) & pattern)
    assert z.above == np.count_nonzero(top >= limit)


def test_zebra_band_marks_only_inside_the_band_with_mirrored_stripes():
    rng = np.random.default_rng(13)
    frame = rng.random((80, 90)).astype(np.float32)
    z = zebra(frame, None, band=(0.70, 0.05), width=5, angle=45)
    inside = (frame.astype(np.float64) >= 0.65) & (frame.astype(np.float64) <= 0.75)
    assert not z.mask.any() and z.above == 0
    assert z.in_band == np.count_nonzero(inside)
    assert np.array_equal(z.band_mask, inside & stripes_oracle(80, 90, 5, -45))
    both = zebra(frame, 0.95, band=(0.70, 0.05), width=5, angle=45)
    assert not (both.mask & both.band_mask).any()


@pytest.mark.parametrize("width", [1, 3, 8])
def test_stripe_pattern_axis_angles_and_diagonals(width):
    rows = np.arange(40)
    horizontal = stripe_pattern((40, 30), width=width, angle=0)
    assert np.array_equal(horizontal, np.broadcast_to(((rows // width) % 2 == 0)[:, None], (40, 30)))
    vertical = stripe_pattern((30, 40), width=width, angle=90)
    assert np.array_equal(vertical, np.broadcast_to(((rows // width) % 2 == 0)[None, :], (30, 40)))
    diagonal = stripe_pattern((50, 60), width=width, angle=45)
    assert np.array_equal(diagonal[1:, :-1], diagonal[:-1, 1:])  # constant along rows-up-columns-right
    assert abs(diagonal.mean() - 0.5) < 0.06
    with pytest.raises(ValueError):
        diagonal[0, 0] = False  # cached patterns are read-only


def test_stripe_pattern_uncached_equals_cached_and_the_rule(monkeypatch):
    zebra_module = importlib.import_module("mountkit.tools.zebra")  # the package's `zebra` is the function

    cached = stripe_pattern((300, 500), width=7.5, angle=-30)
    monkeypatch.setattr(zebra_module, "CACHED_PATTERN_PIXELS", 100)
    uncached = stripe_pattern((300, 500), width=7.5, angle=-30)
    assert uncached is not cached and np.array_equal(uncached, cached)
    assert np.array_equal(cached, stripes_oracle(300, 500, 7.5, -30))


def test_zebra_leaves_input_alone_and_rejects_bad_options():
    frame = np.full((8, 8), 250, np.uint8)
    before = frame.copy()
    zebra(frame)
    assert np.array_equal(frame, before)
    with pytest.raises(FrameError, match="measure"):
        zebra(frame, measure="median")
    with pytest.raises(FrameError, match="width"):
        zebra(frame, width=0)
    with pytest.raises(FrameError, match="band"):
        zebra(frame, band=0.7)


# -- peaking --------------------------------------------------------------------


def half_blurred_scene(h=256, w=512, seed=0, noise=0.0):
    """Binary blocks and disks (0.2 / 0.8); left half sharp, right half Gaussian-blurred (sigma 3)."""
    rng = np.random.default_rng(seed)
    cells = rng.integers(0, 2, (h // 16 + 1, w // 16 + 1))
    sharp = np.kron(cells, np.ones((16, 16)))[:h, :w] * 0.6 + 0.2
    yy, xx = np.mgrid[:h, :w]
    for _ in range(20):
        cy, cx, r = rng.integers(0, h), rng.integers(0, w), rng.integers(5, 25)
        sharp[(yy - cy) ** 2 + (xx - cx) ** 2 < r * r] = rng.choice([0.2, 0.8])
    frame = sharp.copy()
    frame[:, w // 2:] = ndi.gaussian_filter(sharp, 3.0, mode="nearest")[:, w // 2:]
    if noise:
        frame += rng.normal(0.0, noise, frame.shape)
    return sharp, frame.astype(np.float32)


def halves(h, w, margin=8):
    """Interior of the sharp and blurred halves, away from the frame border and the seam."""
    return (slice(2, h - 2), slice(2, w // 2 - margin)), (slice(2, h - 2), slice(w // 2 + margin, w - 2))


@pytest.mark.parametrize("noise", [0.0, 0.02])
@pytest.mark.parametrize("as_10_bit", [False, True])
def test_peaking_precision_recall_sharp_half_and_quiet_blurred_half(noise, as_10_bit):
    sharp, frame = half_blurred_scene(noise=noise)
    if as_10_bit:
        frame = np.clip(np.rint(frame * 1023), 0, 1023).astype(np.uint16)
    h, w = sharp.shape
    truth = ndi.maximum_filter(sharp, 3) != ndi.minimum_filter(sharp, 3)  # pixels beside a step
    left, right = halves(h, w)
    mask = peaking(frame).mask
    marked, edges = mask[left], truth[left]
    hits = np.count_nonzero(marked & edges)
    precision, recall = hits / np.count_nonzero(marked), hits / np.count_nonzero(edges)
    assert precision >= 0.9 and recall >= 0.9, (precision, recall)
    assert mask[right].mean() < 0.01


def test_peaking_thin_keeps_one_pixel_per_edge():
    sharp, frame = half_blurred_scene(noise=0.01, seed=1)
    h, w = sharp.shape
    left, _ = halves(h, w)
    full, thin = peaking(frame).mask, peaking(frame, thin=True).mask
    assert not (thin & ~full).any()
    assert thin[left].sum() < 0.6 * full[left].sum()
    s, t = sharp[left], thin[left]
    # every horizontal and vertical step keeps a mark on one side or the other
    steps_x, steps_y = s[:, :-1] != s[:, 1:], s[:-1, :] != s[1:, :]
    kept = np.count_nonzero(steps_x & (t[:, :-1] | t[:, 1:])) + np.count_nonzero(steps_y & (t[:-1] | t[1:]))
    assert kept >= 0.9 * (np.count_nonzero(steps_x) + np.count_nonzero(steps_y))


def test_peaking_is_relative_to_the_frames_contrast_and_deterministic():
    _, frame = half_blurred_scene(seed=2)
    p = peaking(frame)
    dim = peaking(frame * np.float32(0.25))  # exact in binary: every contrast scales by 1/4
    assert np.array_equal(p.mask, dim.mask) and dim.threshold == pytest.approx(p.threshold / 4)
    assert np.array_equal(p.mask, peaking(frame, workers=1).mask)
    assert peaking(frame, sensitivity=0.8).marked > p.marked > peaking(frame, sensitivity=0.1).marked
    assert peaking(np.full((64, 64), 0.5, np.float32)).marked == 0


def test_focus_contrast_of_a_ramp_and_noise_estimate():
    ramp = np.tile(np.arange(64, dtype=np.float32) * 4, (40, 1))  # slope 4 codes / pixel
    contrast = focus_contrast(ramp, white_level=1023)
    assert np.allclose(contrast[:, 2:-2], 4 / 1023, rtol=1e-5)
    rng = np.random.default_rng(9)
    for sigma in (0.005, 0.03):
        assert noise_sigma(rng.normal(0.5, sigma, (500, 500)).astype(np.float32)) == pytest.approx(sigma, rel=0.05)


def test_peaking_takes_non_finite_values_as_black():
    _, frame = half_blurred_scene(h=64, w=128, seed=3)
    holed = frame.copy()
    holed[10:12, 10:12] = np.nan
    holed[40, 100] = np.inf
    cleaned = np.where(np.isfinite(holed), holed, 0).astype(np.float32)
    assert np.array_equal(peaking(holed).mask, peaking(cleaned).mask)
    assert peaking(holed).marked > 0


def test_peaking_rejects_bad_options():
    with pytest.raises(FrameError, match="sensitivity"):
        peaking(np.zeros((8, 8), np.uint8), sensitivity=1.0)


# -- the hook: built-in and third-party tools ------------------------------------


class MeanTool:
    """A third-party plugin adding a frame tool through the hook."""

    @mountkit.hookimpl
    def mountkit_register_frame_tools(self, register):
        register(FrameTool("brightest", self.run, "Marks the brightest pixel; reports the mean"))

    @staticmethod
    def run(frame, *, white_level=None):
        data = np.asarray(getattr(frame, "data", frame), np.float64)
        data = data.mean(axis=2) if data.ndim == 3 else data
        overlay = np.zeros(data.shape, bool)
        overlay[np.unravel_index(np.argmax(data), data.shape)] = True
        return {"mean": float(data.mean()), "white_level": white_level, "overlay": overlay}


class BrokenTool:
    @mountkit.hookimpl
    def mountkit_register_frame_tools(self, register):
        register(FrameTool("broken", lambda frame: 1 / 0))


def test_builtin_tools_are_registered_through_the_hook():
    kit = mountkit.Kit(entry_points=False)
    tools = kit.frame_tools()
    assert {"histogram", "zebra", "peaking"} <= set(tools)
    frame = ten_bit(np.random.default_rng(1), (30, 40, 3))
    numbers = tools["histogram"].run(frame)
    assert numbers["channels"]["R"]["counts"] == np.bincount(frame[..., 0].ravel(), minlength=1024).tolist()
    z = tools["zebra"].run(frame, threshold=0.9, band=(0.5, 0.1))
    assert z["zebra_pixels"] == np.count_nonzero(z["overlay"]) and z["band_overlay"].shape == (30, 40)
    p = tools["peaking"].run(frame, thin=True)
    assert p["peaking_pixels"] == np.count_nonzero(p["overlay"])


def test_third_party_tool_registered_through_the_hook():
    kit = mountkit.Kit(plugins=[MeanTool()], entry_points=False)
    tools = kit.frame_tools()
    assert {"histogram", "zebra", "peaking", "brightest"} <= set(tools)
    frame = np.arange(12, dtype=np.uint8).reshape(3, 4)
    result = tools["brightest"].run(frame)
    assert result["mean"] == 5.5 and result["overlay"][2, 3]


def test_malformed_tool_registration_is_reported_and_skipped():
    class Bad:
        @mountkit.hookimpl
        def mountkit_register_frame_tools(self, register):
            register("not a tool")

    kit = mountkit.Kit(plugins=[Bad()], entry_points=False)
    with pytest.warns(mountkit.PluginWarning, match="FrameTool"):
        tools = kit.frame_tools()
    assert {"histogram", "zebra", "peaking"} <= set(tools)


# -- the command line -------------------------------------------------------------


def invoke(args, *plugins):
    """``mountkit inspect ARGS`` through the real command group, on an isolated kit with ``plugins``."""
    group = make_cli(lambda **kw: mountkit.Kit(plugins=list(plugins), entry_points=False, **kw))
    return CliRunner().invoke(group, ["inspect", *args], catch_exceptions=False)


def test_inspect_json_numbers_from_a_real_file(tmp_path):
    rng = np.random.default_rng(21)
    frame = ten_bit(rng, (48, 64, 3))
    frame[:8] = 1023
    path = tmp_path / "frame.npy"
    np.save(path, frame)
    result = invoke([str(path), "--histogram", "--zebra", "0.9", "--peaking", "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert out["frame"]["shape"] == [48, 64, 3]
    hist = out["tools"]["histogram"]
    assert hist["bins"] == 1024 and hist["white_level"] == 1023
    for i, name in enumerate("RGB"):
        ch = hist["channels"][name]
        assert ch["counts"] == np.bincount(frame[..., i].ravel(), minlength=1024).tolist()
        assert ch["clipped_high_percent"] == 100.0 * np.count_nonzero(frame[..., i] == 1023) / frame[..., 0].size
    z = zebra(frame, 0.9)
    assert out["tools"]["zebra"]["zebra_pixels"] == z.marked and out["tools"]["zebra"]["above_pixels"] == z.above
    assert out["tools"]["peaking"]["peaking_pixels"] == peaking(frame).marked
    assert set(out["tools"]) == {"histogram", "zebra", "peaking"}


def test_inspect_writes_overlay_and_histogram_plot(tmp_path):
    from PIL import Image

    sharp, frame = half_blurred_scene(h=96, w=160)
    frame[:20, :40] = 1.0  # a clipped patch for the zebra
    frame16 = np.clip(np.rint(frame * 1023), 0, 1023).astype(np.uint16)
    src = tmp_path / "frame.png"
    Image.fromarray(frame16).save(src)  # 16-bit greyscale PNG holding 10-bit data
    out, plot = tmp_path / "overlay.png", tmp_path / "hist.png"
    result = invoke([str(src), "--white-level", "1023", "--zebra", "--peaking", "--histogram-plot", str(plot),
                     "--log", "-o", str(out)])
    assert result.exit_code == 0, result.output
    with Image.open(out) as im:
        rgb = np.asarray(im.convert("RGB"))
    z, p = zebra(frame16, 0.95, white_level=1023), peaking(frame16, white_level=1023)
    assert z.marked > 0 and p.marked > 0
    assert (rgb[p.mask] == (255, 0, 0)).all()
    assert (rgb[z.mask & ~p.mask] == (255, 0, 255)).all()
    rest = ~(z.mask | p.mask)
    grey = np.clip(np.floor(frame16 * (255 / 1023) + 0.5), 0, 255).astype(np.uint8)
    assert np.array_equal(rgb[rest], np.repeat(grey[rest][:, None], 3, axis=1))
    with Image.open(plot) as im:
        assert im.format == "PNG"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["frame.png", "hist.png", "overlay.png"]

    before = out.read_bytes()
    again = invoke([str(src), "--white-level", "1023", "--peaking", "-o", str(out)])
    assert again.exit_code == 1 and "already exists; pass --overwrite" in again.output
    assert out.read_bytes() == before
    forced = invoke([str(src), "--white-level", "1023", "--zebra", "0.5", "-o", str(out), "--overwrite"])
    assert forced.exit_code == 0 and out.read_bytes() != before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["frame.png", "hist.png", "overlay.png"]


def test_inspect_runs_a_third_party_tool(tmp_path):
    from PIL import Image

    frame = np.zeros((20, 30), np.uint8)
    frame[4, 7] = 200
    src = tmp_path / "f.npy"
    np.save(src, frame)
    result = invoke([str(src), "--tool", "brightest", "--white-level", "255", "--json", "-o",
                     str(tmp_path / "o.png")], MeanTool())
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert out["tools"] == {"brightest": {"mean": 200 / 600, "white_level": 255.0}}
    with Image.open(tmp_path / "o.png") as im:
        rgb = np.asarray(im.convert("RGB"))
    assert rgb[4, 7].tolist() == [0, 255, 255] and rgb[0, 0].tolist() == [0, 0, 0]
    listing = invoke([str(src), "--list-tools"], MeanTool())
    assert "brightest\tMarks the brightest pixel" in listing.output


def test_inspect_reports_errors_clearly(tmp_path):
    missing = invoke([str(tmp_path / "nope.npy")])
    assert missing.exit_code == 1 and "nope.npy: no such file" in missing.output
    np.save(tmp_path / "f.npy", np.zeros((4, 4), np.uint8))
    unknown = invoke([str(tmp_path / "f.npy"), "--tool", "sharpness"])
    assert unknown.exit_code == 1 and "no frame tool matches 'sharpness'" in unknown.output
    bad = invoke([str(tmp_path / "f.npy"), "--peaking", "--sensitivity", "2"])
    assert bad.exit_code == 1 and "sensitivity" in bad.output
    broken = invoke([str(tmp_path / "f.npy"), "--tool", "broken"], BrokenTool())
    assert broken.exit_code == 1 and "frame tool 'broken' failed: ZeroDivisionError" in broken.output
    (tmp_path / "f.xyz").write_bytes(b"x")
    odd = invoke([str(tmp_path / "f.xyz")])
    assert odd.exit_code == 1 and "no frame format can read .xyz" in odd.output
