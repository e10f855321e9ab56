"""Writing an OpcodeList3 into a DNG: every other byte kept, tags and pixels unchanged, the list read back,
and ``mountkit dng embed`` end to end."""

from __future__ import annotations

import hashlib
import json
import warnings

import numpy as np
import pytest
import tifffile
from click.testing import CliRunner
from dng_synth import bayer_frame, write_dng

import mountkit
from mountkit import Calibration, Lens, LensProfile
from mountkit.cli import make_cli
from mountkit.dng.embed import embed_profile, write_opcode_list
from mountkit.dng.gain import vignette_gain
from mountkit.dng.opcodes import FixVignetteRadial, GainMap, WarpRectilinear, serialise_opcode_list
from mountkit.dng.tags import read_opcode_lists
from mountkit.dng.warp import source_positions
from mountkit.errors import CorrectionWarning, FrameError

WR = WarpRectilinear(radial=[(1.0, -0.02, 0.003, 0.0)], center=(0.5, 0.5))
VIG = FixVignetteRadial(k=(0.4, -0.05, 0.01, 0.0, 0.0), center=(0.5, 0.5))
GM = GainMap(top=0, left=0, bottom=64, right=96, row_pitch=2, col_pitch=2, spacing=(0.5, 0.5),
             gains=np.full((3, 3), 1.25))


def all_tags(path) -> dict[tuple[str, int], object]:
    """Every tag of every IFD (chain and SubIFDs) by (IFD path, code), values as comparable Python data."""
    out = {}
    with tifffile.TiffFile(path) as tf:
        def walk(pages, prefix):
            for i, page in enumerate(pages):
                p = f"{prefix}/{i}"
                for tag in page.tags.values():
                    if tag.code in (330,):  # SubIFDs offsets: followed instead
                        continue
                    v = tag.value
                    if isinstance(v, np.ndarray):
                        v = v.tolist()
                    out[(p, tag.code)] = v
                if page.pages:
                    walk(page.pages, p)
        walk(tf.pages, "")
    return out


def raw_pixels(path):
    with tifffile.TiffFile(path) as tf:
        page = tf.pages[0]
        return (page.pages[0] if page.pages else page).asarray()


def changed_positions(a: bytes, b: bytes) -> np.ndarray:
    x = np.frombuffer(a, np.uint8)
    y = np.frombuffer(b[:len(a)], np.uint8)
    return np.flatnonzero(x != y)


@pytest.mark.parametrize("layout", ["subifd", "ifd0"])
@pytest.mark.parametrize("byteorder", ["<", ">"])
@pytest.mark.parametrize("old_version", [(1, 1, 0, 0), (1, 4, 0, 0)])
def test_new_list_keeps_every_other_byte(tmp_path, layout, byteorder, old_version):
    uid = bytes(range(16))
    src = write_dng(tmp_path / "in.dng", lists={2: serialise_opcode_list([GM])}, layout=layout,
                    byteorder=byteorder, dng_version=old_version, unique_id=uid, active_area=(0, 0, 64, 96))
    before = open(src, "rb").read()
    digest = hashlib.sha256(before).hexdigest()
    out = str(tmp_path / "out.dng")
    res = write_opcode_list(src, out, [VIG, WR])
    after = open(out, "rb").read()
    assert hashlib.sha256(open(src, "rb").read()).hexdigest() == digest  # input untouched
    # the original bytes: only the declared ranges differ, and they are few
    diff = changed_positions(before, after)
    declared = np.zeros(len(before), bool)
    for a, b in res.changed_ranges:
        declared[a:b] = True
    assert declared[diff].all()
    assert declared.sum() <= 4 + 4 + 16  # IFD pointer, DNGVersion, RawDataUniqueID
    assert len(after) == len(before) + res.appended_bytes
    # the file reads back: the new list, the old list 2, the same pixels and the same tags
    info = read_opcode_lists(out)
    assert list(info.stage(3)) == [VIG, WR] and info.stage(2).to_bytes() == serialise_opcode_list([GM])
    np.testing.assert_array_equal(raw_pixels(out), raw_pixels(src))
    t0, t1 = all_tags(src), all_tags(out)
    changed = {k for k in set(t0) | set(t1) if t0.get(k) != t1.get(k)}
    assert {code for _, code in changed} <= {51022, 50706, 50781}
    assert info.dng_version == max(old_version, (1, 3, 0, 0))
    assert t1[("/0", 50781)] != t0[("/0", 50781)]  # a new RawDataUniqueID
    assert any("RawDataUniqueID" in c for c in res.changes)


def test_existing_list_needs_replace_and_is_rewritten_in_place_when_it_fits(tmp_path):
    src = write_dng(tmp_path / "in.dng", lists={3: serialise_opcode_list([VIG, WR])})
    with pytest.raises(FrameError, match=r"already has an OpcodeList3 \(2 opcode\(s\): FixVignetteRadial, "
                                         r"WarpRectilinear\); pass replace=True"):
        write_opcode_list(src, tmp_path / "x.dng", [WR])
    assert not (tmp_path / "x.dng").exists()
    before = open(src, "rb").read()
    res = write_opcode_list(src, tmp_path / "small.dng", [WR], replace=True)
    assert res.appended_bytes == 0 and res.replaced is not None and len(res.replaced) == 2
    after = open(tmp_path / "small.dng", "rb").read()
    assert len(after) == len(before)
    assert set(changed_positions(before, after)) <= {i for a, b in res.changed_ranges for i in range(a, b)}
    old_value = [r for r in res.changed_ranges if r[1] - r[0] > 8]
    assert len(old_value) == 1 and old_value[0][1] - old_value[0][0] == len(serialise_opcode_list([VIG, WR]))
    assert list(read_opcode_lists(tmp_path / "small.dng").stage(3)) == [WR]
    # a longer list is appended and the entry repointed
    res = write_opcode_list(src, tmp_path / "big.dng", [VIG, WR, VIG, WR], replace=True)
    assert res.appended_bytes >= len(serialise_opcode_list([VIG, WR, VIG, WR]))
    assert sum(b - a for a, b in res.changed_ranges) == 8  # the entry's count and offset
    assert len(read_opcode_lists(tmp_path / "big.dng").stage(3)) == 4


def test_empty_and_tiny_lists_are_stored_inline(tmp_path):
    src = write_dng(tmp_path / "in.dng")
    write_opcode_list(src, tmp_path / "empty.dng", [])
    info = read_opcode_lists(tmp_path / "empty.dng")
    assert 3 in info.lists and len(info.stage(3)) == 0
    write_opcode_list(tmp_path / "empty.dng", tmp_path / "full.dng", [WR], replace=True)
    assert list(read_opcode_lists(tmp_path / "full.dng").stage(3)) == [WR]
    write_opcode_list(tmp_path / "full.dng", tmp_path / "empty2.dng", [], replace=True)
    assert len(read_opcode_lists(tmp_path / "empty2.dng").stage(3)) == 0


def test_refusals(tmp_path):
    src = write_dng(tmp_path / "in.dng")
    with pytest.raises(FrameError, match="never modifies its input"):
        write_opcode_list(src, src, [WR])
    bad = tmp_path / "bad.dng"
    bad.write_bytes(b"II+\0" + b"\0" * 20)
    with pytest.raises(FrameError):
        write_opcode_list(bad, tmp_path / "o.dng", [WR])


def test_malformed_existing_list_can_be_replaced(tmp_path):
    src = write_dng(tmp_path / "in.dng", lists={3: b"\0\0\0\x05garbage"})
    with pytest.raises(FrameError, match="a malformed list"):
        write_opcode_list(src, tmp_path / "o.dng", [WR])
    write_opcode_list(src, tmp_path / "o.dng", [WR], replace=True)
    info = read_opcode_lists(tmp_path / "o.dng")
    assert 3 not in info.errors and list(info.stage(3)) == [WR]


def summicron_like() -> Lens:
    return Lens("Test", "Summicron-like 28", focal_min=28, profile=LensProfile(crop_factor=1.0, calibrations=(
        Calibration("distortion", "poly5", 28, {"k1": -0.05, "k2": 0.01}),
        Calibration("tca", "linear", 28, {"kr": 1.0003, "kb": 0.9997}),
        Calibration("vignetting", "pa", 28, {"k1": -0.6, "k2": 0.3, "k3": -0.1}, aperture=2.8, distance=1000))))


def test_embed_profile_reproduces_the_corrector_on_the_file(tmp_path):
    cfa = bayer_frame(192, 128)
    src = write_dng(tmp_path / "in.dng", cfa=cfa, exif={"FocalLength": 28, "FNumber": 2.8})
    kit = mountkit.Kit(entry_points=False)
    lens = summicron_like()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CorrectionWarning)
        res = embed_profile(kit, lens, src, tmp_path / "out.dng", crop_factor=2.64)
        cor = kit.corrector(lens, crop_factor=2.64, size=(192, 128), focal=28, aperture=2.8, scale="auto")
    ops = list(read_opcode_lists(tmp_path / "out.dng").stage(3))
    assert [op.label for op in ops] == ["FixVignetteRadial", "WarpRectilinear"]
    jj, ii = np.mgrid[0:128, 0:192]
    x, y = ii.ravel().astype(float), jj.ravel().astype(float)
    truth = cor.source_points(x, y)
    for p in range(3):
        sx, sy = source_positions(ops[1], x, y, 192, 128, plane=p, image_planes=3)
        assert np.max(np.hypot(sx - truth[:, p, 0], sy - truth[:, p, 1])) < 1e-6
    assert np.max(np.abs(vignette_gain(ops[0], x, y, 192, 128) / cor.gain_points(x, y) - 1)) < 1e-6
    assert res.conversion.scale == pytest.approx(cor.scale)
    # missing information is asked for
    with pytest.raises(mountkit.CorrectionError, match="crop factor of the camera"):
        embed_profile(kit, lens, src, tmp_path / "o2.dng")
    # an adapted lens on a phone: the phone's own focal length and f-number in EXIF are not the lens's
    phone = write_dng(tmp_path / "phone.dng", cfa=cfa, exif={"FocalLength": 8.7, "FNumber": 1.8})
    lens2 = Lens("Test", "f/2 28", focal_min=28, aperture_max=2.0, profile=lens.profile)
    with pytest.raises(mountkit.CorrectionError, match=r"no usable FNumber \(EXIF FocalLength 8.7 mm ignored.*"
                                                       r"EXIF FNumber f/1.8 ignored: wider than the lens opens"):
        embed_profile(kit, lens2, phone, tmp_path / "o4.dng", crop_factor=2.64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CorrectionWarning)
        res = embed_profile(kit, lens2, phone, tmp_path / "o5.dng", crop_factor=2.64, aperture=2.8)
    assert res.notes == ["EXIF FocalLength 8.7 mm ignored: outside the lens's range"]
    assert res.conversion is not None
    plain = write_dng(tmp_path / "noexif.dng")
    with pytest.raises(mountkit.CorrectionError, match="needs the aperture"):
        embed_profile(kit, lens, plain, tmp_path / "o3.dng", crop_factor=2.64, focal=28)


def test_embed_command(tmp_path):
    src = write_dng(tmp_path / "in.dng", cfa=bayer_frame(192, 128), exif={"FocalLength": 28, "FNumber": 2.8})
    group = make_cli(lambda **kw: mountkit.Kit(entry_points=False, **kw))
    out = tmp_path / "out.dng"
    r = CliRunner().invoke(group, ["dng", "embed", "Summicron-M 1:2/28 Asph.", src, "-o", str(out),
                                   "--crop-factor", "2.64"], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    assert "WarpRectilinear2: exact" in r.output and "WarpRectilinear: fitted" in r.output
    assert "every other byte" in r.output
    assert [op.label for op in read_opcode_lists(out).stage(3)] == ["WarpRectilinear2", "WarpRectilinear"]
    r = CliRunner().invoke(group, ["dng", "embed", "Summicron-M 1:2/28 Asph.", src, "-o", str(out),
                                   "--crop-factor", "2.64", "--warp2", "never", "--no-tca", "--json"],
                           catch_exceptions=False)
    d = json.loads(r.output)
    assert [op["name"] for op in d["opcodes"]] == ["WarpRectilinear"] and d["opcodes"][0]["planes"] == 1
    assert d["conversion"]["warp"]["exact"] is False and d["conversion"]["warp"]["residual"] > 0
    r = CliRunner().invoke(group, ["dng", "embed", "Summicron-M 1:2/28 Asph.", str(out), "-o",
                                   str(tmp_path / "again.dng"), "--crop-factor", "2.64"])
    assert r.exit_code != 0 and "--replace" in r.output
