"""Applying a DNG's own corrections: the policy, GainMaps on the CFA, list 3 through the opcode models, the
single-pass stack with a profile, and ``mountkit correct`` end to end."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from click.testing import CliRunner

import mountkit
from mountkit import Calibration, Lens, LensProfile
from mountkit.cli import make_cli
from mountkit.dng.apply import StackedCorrector, gain_map_cfa_hook, plan_embedded
from mountkit.dng.embed import write_opcode_list
from mountkit.dng.gain import gain_map_values, vignette_gain
from mountkit.dng.opcodes import (
    FixVignetteRadial,
    GainMap,
    OpcodeError,
    WarpFisheye,
    WarpRectilinear,
    WarpRectilinear2,
    serialise_opcode_list,
)
from mountkit.dng.warp import source_positions
from mountkit.errors import CorrectionWarning
from mountkit.io.dng_writer import write_dng
from mountkit.io.metadata import read_record
from mountkit.io.raw import read_raw

W, H = 96, 64
BLACK, WHITE = 64, 1023
KIT = mountkit.Kit(entry_points=False)


def phase_maps(gains=(1.5, 1.25, 1.125, 2.0)):
    """Four GainMaps, one per Bayer phase, each a 3 x 3 map rising from the centre (like a phone's)."""
    yy, xx = np.mgrid[-1:2, -1:2]
    shape = 1 + 0.5 * (xx**2 + yy**2)
    return [GainMap(top=t, left=c, bottom=H, right=W, row_pitch=2, col_pitch=2, spacing=(0.5, 0.5),
                    gains=g * shape) for (t, c), g in zip(((0, 0), (0, 1), (1, 0), (1, 1)), gains, strict=False)]


WARP = WarpRectilinear(radial=[(1.0004, -0.03, 0.004, 0.0), (1.0, -0.03, 0.004, 0.0), (0.9996, -0.03, 0.004, 0.0)],
                       center=(0.5, 0.5))
VIG = FixVignetteRadial(k=(0.3, 0.05, 0.0, 0.0, 0.0), center=(0.5, 0.5))


@pytest.fixture(scope="module")
def dngs(tmp_path_factory):
    d = tmp_path_factory.mktemp("dng")
    cfa = np.full((H, W), 464, np.uint16)
    cfa[10:14, 20:24] = 1000  # near white: the gain must clip
    plain = d / "plain.dng"
    write_dng(plain, cfa, black_level=BLACK, white_level=WHITE, make="Phone", model="One",
              exif={"FocalLength": 8.7, "FNumber": 1.8})
    l2 = d / "l2.dng"
    write_opcode_list(plain, l2, phase_maps(), list_number=2)
    both = d / "both.dng"
    write_opcode_list(l2, both, [VIG, WARP])
    return {"plain": plain, "l2": l2, "both": both, "cfa": cfa}


def test_policy_decisions(dngs):
    p = plan_embedded(dngs["both"])  # auto, no profile chosen: the file's own
    assert p.use_embedded and not p.use_profile and "no profile was chosen" in p.reason
    assert [op.label for op in p.stage2] == ["GainMap"] * 4 and [op.label for op in p.stage3] == [
        "FixVignetteRadial", "WarpRectilinear"]
    assert set(p.carries) == {"vignetting", "distortion", "tca"}
    p = plan_embedded(dngs["both"], explicit_profile=True)  # auto with a chosen lens: never both silently
    assert not p.use_embedded and p.use_profile and "ignored" in p.notes[0] and "both" in p.notes[0]
    p = plan_embedded(dngs["both"], "profile")
    assert (p.use_embedded, p.use_profile) == (False, True) and "ignored" in p.notes[0]
    p = plan_embedded(dngs["both"], "both")
    assert (p.use_embedded, p.use_profile) == (True, True)
    p = plan_embedded(dngs["both"], "none")
    assert (p.use_embedded, p.use_profile) == (False, False)
    p = plan_embedded(dngs["plain"])
    assert (p.use_embedded, p.use_profile) == (False, True) and p.carries == {}
    p = plan_embedded(dngs["plain"], "embedded")
    assert "carries no opcode corrections" in p.notes[0]
    # kinds filter the opcodes
    p = plan_embedded(dngs["both"], "embedded", kinds=("distortion",))
    assert p.stage2 == () and [op.label for op in p.stage3] == ["WarpRectilinear"]
    lines = plan_embedded(dngs["both"]).dry_run_lines()
    assert lines[0].startswith("embedded corrections: vignetting: OpcodeList2 #1 GainMap")
    assert "policy auto -> embedded" in lines[1]


def test_policy_refuses_a_required_malformed_list(tmp_path):
    blob = bytearray(serialise_opcode_list([WarpRectilinear(radial=[(1, 0.01, 0, 0)], flags=0)]))
    blob[4 + 16 + 4:4 + 16 + 12] = b"\x7f\xf8" + b"\0" * 6  # NaN
    from dng_synth import write_dng as synth

    path = synth(tmp_path / "bad.dng", lists={3: bytes(blob)})
    with pytest.raises(OpcodeError, match="required opcode is malformed"):
        plan_embedded(path, "embedded")
    # the profile alone is still possible
    assert plan_embedded(path, "profile").use_profile


def test_gain_maps_on_the_cfa_before_demosaicing(dngs):
    plan = plan_embedded(dngs["l2"])
    opts = plan.read_options()
    got = read_raw(dngs["l2"], mode="cfa", **opts).data.astype(np.float64)
    cfa = dngs["cfa"].astype(np.float64)
    expected = cfa.copy()
    for op in phase_maps():
        rows, cols = np.arange(op.top, H, 2), np.arange(op.left, W, 2)
        g = gain_map_values(op, rows, cols, H, W)
        expected[op.top::2, op.left::2] = BLACK + (cfa[op.top::2, op.left::2] - BLACK) * g
    expected = np.rint(np.clip(expected, BLACK, WHITE))
    np.testing.assert_array_equal(got, expected)
    assert got[10:14, 20:24].max() == WHITE  # clipped at the white level, as the SDK clips
    # without the hook the mosaic is as stored
    np.testing.assert_array_equal(read_raw(dngs["l2"], mode="cfa").data, dngs["cfa"])
    # a mosaic of the wrong size is refused
    hook = gain_map_cfa_hook(phase_maps(), (W + 2, H), "x.dng")
    with pytest.raises(mountkit.FrameError, match="applies to the 98 x 64 active area"):
        hook(np.zeros((H, W), np.uint16), {"black": 0, "white": 1023})


def ramp(c: int) -> np.ndarray:
    """A linear ramp per channel: every interpolation kernel reproduces it exactly."""
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float64)
    return 0.2 + 0.004 * xx + (0.002 + 0.001 * c) * yy


def _inside(sx, sy, margin=2.0):
    return (sx > margin) & (sx < W - 1 - margin) & (sy > margin) & (sy < H - 1 - margin)


def test_list3_alone_through_the_opcode_models(dngs):
    plan = plan_embedded(dngs["both"])
    cor, _ = plan.corrector_for(KIT, (W, H), lambda: (_ for _ in ()).throw(AssertionError("no profile")),
                                interpolation="bilinear")
    frame = np.stack([ramp(c) for c in range(3)], axis=2).astype(np.float32)
    out = cor.apply(frame)
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float64)
    for c in range(3):
        sx, sy = source_positions(WARP, xx, yy, W, H, plane=c, image_planes=3)
        f = 0.2 + 0.004 * sx + (0.002 + 0.001 * c) * sy
        expected = f * vignette_gain(VIG, sx, sy, W, H)  # gain on the captured grid, then resampled
        ok = _inside(sx, sy)
        # the gain multiplies the captured grid and is resampled with the ramp: bilinear interpolation is
        # exact for the ramp, and off by (ramp * gain)'' / 8 ~ 1e-5 for the smooth gain; red and blue move by
        # (s - 1) / 2 px ~ 2e-4 px because the engine's TCA is radial about the vignette's centre
        np.testing.assert_allclose(out[..., c][ok], expected[ok], rtol=1e-4)


def test_both_composes_embedded_then_profile_in_one_pass(dngs):
    lens = Lens("Test", "L", focal_min=28, profile=LensProfile(crop_factor=1.0, calibrations=(
        Calibration("distortion", "poly3", 28, {"k1": 0.05}),
        Calibration("vignetting", "pa", 28, {"k1": -0.5, "k2": 0.1, "k3": 0.0}, aperture=2.8, distance=1000))))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CorrectionWarning)
        prof = KIT.corrector(lens, crop_factor=2.0, size=(W, H), aperture=2.8, interpolation="bilinear")
    plan = plan_embedded(dngs["both"], "both", kinds=("distortion", "tca"))  # the warp only
    cor, _ = plan.corrector_for(KIT, (W, H), lambda: (prof, ()))
    assert isinstance(cor, StackedCorrector) and set(cor.active) == {"distortion", "tca", "vignetting"}
    frame = np.stack([ramp(c) for c in range(3)], axis=2).astype(np.float32)
    out = cor.apply(frame)
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float64)
    for c in range(3):
        px, py = prof.channel_points(xx, yy, c)
        sx, sy = source_positions(WARP, px, py, W, H, plane=c, image_planes=3)
        expected = (0.2 + 0.004 * sx + (0.002 + 0.001 * c) * sy) * prof.gain_points(px, py)
        ok = _inside(sx, sy)
        np.testing.assert_allclose(out[..., c][ok], expected[ok], rtol=1e-5)
    d = cor.describe()
    assert "profile distortion" in d["corrections"] and "embedded distortion" in d["corrections"]
    assert d["embedded"]["decision"] == "both"


def test_correct_command_end_to_end(tmp_path, dngs):
    group = make_cli(lambda **kw: mountkit.Kit(entry_points=False, **kw))
    src = tmp_path / "in"
    src.mkdir()
    (src / "phone.dng").write_bytes(open(dngs["both"], "rb").read())
    out = tmp_path / "out"
    r = CliRunner().invoke(group, ["correct", str(src), "-o", str(out), "--dry-run"], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    assert "embedded corrections: vignetting: OpcodeList2 #1 GainMap" in r.output
    assert "policy auto -> embedded" in r.output and "OpcodeList3 WarpRectilinear" in r.output
    r = CliRunner().invoke(group, ["correct", str(src), "-o", str(out), "-j", "1"], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    (result,) = list(out.iterdir())
    rec = read_record(result)
    assert rec["embedded"]["decision"] == "embedded"
    assert rec["embedded"]["applied"] == ["OpcodeList2 GainMap"] * 4 + ["OpcodeList3 FixVignetteRadial",
                                                                        "OpcodeList3 WarpRectilinear"]
    # --corrections none: the raw file is only decoded
    r = CliRunner().invoke(group, ["correct", str(src), "-o", str(tmp_path / "none"), "-j", "1", "--corrections",
                                   "none"], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    rec = read_record(next((tmp_path / "none").iterdir()))
    assert rec["embedded"]["decision"] == "none" and rec["corrections"] == []
    # a policy and kinds combine; two policies are refused
    r = CliRunner().invoke(group, ["correct", str(src), "-o", str(tmp_path / "x"), "--corrections",
                                   "embedded,profile"])
    assert r.exit_code == 2 and "at most one of" in r.output


@pytest.mark.parametrize("op", [
    WarpRectilinear(radial=[(1.0, -0.05, 0.01, 0.0)], tangential=[(2e-3, -1e-3)], center=(0.45, 0.55)),
    WarpRectilinear(radial=[(1.001, -0.05, 0.01, 0), (1, -0.05, 0.01, 0), (0.999, -0.04, 0.01, 0)],
                    center=(0.45, 0.55)),
    WarpRectilinear2(
        radial=[(1.0, 0.01, -0.08) + (0.0,) * 12, (1.0, 0.0, -0.08) + (0.0,) * 12, (1.0, -0.01, -0.08) + (0.0,) * 12],
        valid_range=[(0.0, 0.9)] * 3, reciprocal=True),
    WarpFisheye(radial=[(1.0, -0.1, 0.0, 0.0)], center=(0.5, 0.5)),
], ids=["rectilinear-tangential-offcentre", "rectilinear-3-planes", "rectilinear2-reciprocal", "fisheye"])
def test_engine_applies_each_warp_opcode_exactly(op):
    """The registered opcode models, through kit.corrector, give the opcode's own source positions."""
    from mountkit.dng.models import embedded_lens

    size = (300, 200)
    lens = embedded_lens([op], size)
    cor = KIT.corrector(lens, crop_factor=1.0, size=size, focal=50, scale=1.0)
    yy, xx = np.mgrid[0:200:7, 0:300:7].astype(np.float64)
    got = cor.source_points(xx, yy)
    planes = op.planes
    for c in range(3):
        sx, sy = source_positions(op, xx, yy, *size, plane=c if planes == 3 else 0, image_planes=3)
        np.testing.assert_allclose(got[..., c, 0], sx, atol=1e-6)
        np.testing.assert_allclose(got[..., c, 1], sy, atol=1e-6)


def test_list3_gain_map_multiplies_the_rgb_frame(tmp_path, dngs):
    """DJI-style: a GainMap in OpcodeList3 acts on the demosaiced planes (here one map plane per colour)."""
    gm = GainMap(top=0, left=0, bottom=H, right=W, plane=0, planes=3, spacing=(1.0, 1.0),
                 gains=np.array([[[1.0, 1.5, 2.0], [1.2, 1.7, 2.2]], [[1.4, 1.9, 2.4], [1.6, 2.1, 2.6]]]))
    path = tmp_path / "dji.dng"
    write_opcode_list(dngs["plain"], path, [gm])
    plan = plan_embedded(path)
    assert plan.carries == {"vignetting": ("OpcodeList3 #1 GainMap",)}
    cor, _ = plan.corrector_for(KIT, (W, H), None)
    out = cor.apply(np.ones((H, W, 3), np.float32))
    rows, cols = np.arange(H), np.arange(W)
    for c in range(3):
        np.testing.assert_allclose(out[..., c], gain_map_values(gm, rows, cols, H, W, c), rtol=1e-6)
    assert cor.active == ("vignetting",) and not cor.moves_pixels
