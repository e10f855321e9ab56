"""Opcode lists read from DNG files written by the tests: each opcode, both layouts and byte orders,
malformed lists, undecodable pixels, and ``mountkit dng info``."""

from __future__ import annotations

import json
import math
import struct

import numpy as np
import pytest
import tifffile
from click.testing import CliRunner
from dng_synth import write_dng

import mountkit
from mountkit.cli import make_cli
from mountkit.dng.opcodes import (
    FLAG_OPTIONAL,
    FixVignetteRadial,
    GainMap,
    InvalidOpcode,
    OpcodeError,
    UnsupportedOpcode,
    WarpFisheye,
    WarpRectilinear,
    WarpRectilinear2,
    serialise_opcode_list,
)
from mountkit.dng.tags import read_opcode_lists
from mountkit.errors import FrameError


def raw_pixels(path) -> np.ndarray:
    with tifffile.TiffFile(path) as tf:
        page = tf.pages[0]
        if page.pages:
            page = page.pages[0]
        return page.asarray()


def cli():
    return make_cli(lambda **kw: mountkit.Kit(entry_points=False, **kw))


def gain_maps(width=96, height=64):
    yy, xx = np.mgrid[0:5, 0:7]
    maps = []
    for top, left in ((0, 0), (0, 1), (1, 0), (1, 1)):
        g = 1 + 0.1 * ((xx - 3) ** 2 + (yy - 2) ** 2) + 0.01 * (2 * top + left)
        maps.append(GainMap(top=top, left=left, bottom=height, right=width, row_pitch=2, col_pitch=2,
                            spacing=(1 / 4, 1 / 6), gains=g))
    return maps


ALL_OPCODES = {
    2: gain_maps(),
    3: [FixVignetteRadial(k=(0.4, -0.1, 0.02, 0, 0), center=(0.5, 0.5)),
        WarpRectilinear(radial=[(1.0003, -0.01, 0.002, 0), (1, -0.01, 0.002, 0), (0.9998, -0.01, 0.002, 0)],
                        tangential=[(1e-4, -1e-4)] * 3, center=(0.49, 0.51)),
        WarpRectilinear2(radial=[(1, 0.001, -0.02) + (0,) * 12], flags=FLAG_OPTIONAL),
        WarpFisheye(radial=[(1, -0.05, 0, 0)], center=(0.5, 0.5))],
    1: [UnsupportedOpcode(raw_id=5, data=struct.pack(">III", 0, 1, 0), flags=FLAG_OPTIONAL)],
}


@pytest.mark.parametrize("layout", ["subifd", "ifd0"])
@pytest.mark.parametrize("byteorder", ["<", ">"])
def test_every_opcode_reads_back_from_a_dng(tmp_path, layout, byteorder):
    blobs = {n: serialise_opcode_list(ops) for n, ops in ALL_OPCODES.items()}
    path = write_dng(tmp_path / "all.dng", lists=blobs, layout=layout, byteorder=byteorder,
                     active_area=(0, 0, 64, 96))
    info = read_opcode_lists(path)
    assert info.errors == {}
    assert info.ifd.path == ("IFD0/SubIFD0" if layout == "subifd" else "IFD0")
    assert (info.ifd.width, info.ifd.height, info.ifd.is_cfa) == (96, 64, True)
    assert info.ifd.stage_size(3) == (96, 64)
    for n, ops in ALL_OPCODES.items():
        got = info.stage(n)
        assert got.list_number == n and list(got) == ops
        assert got.to_bytes() == blobs[n]  # big-endian whatever the TIFF byte order
    kinds = info.embedded_kinds()
    assert set(kinds) == {"vignetting", "distortion", "tca"}
    assert kinds["tca"] == ["OpcodeList3 #2 WarpRectilinear"]


def test_active_area_sets_the_stage_size(tmp_path):
    path = write_dng(tmp_path / "a.dng", lists={3: serialise_opcode_list(ALL_OPCODES[3][:1])},
                     active_area=(2, 4, 62, 94))
    ifd = read_opcode_lists(path).ifd
    assert ifd.active_area == (2, 4, 62, 94)
    assert ifd.stage_size(1) == (96, 64) and ifd.stage_size(2) == (90, 60) and ifd.stage_size(3) == (90, 60)


def _malformed_lists():
    good = serialise_opcode_list([WarpRectilinear(radial=[(1, 0.01, 0, 0)])])
    truncated = good[:-5]
    wrong_count = bytearray(good)
    struct.pack_into(">I", wrong_count, 4 + 12, 60)  # the opcode's byte count says 60, not 68
    absurd_planes = bytearray(good)
    struct.pack_into(">I", absurd_planes, 4 + 16, 100000)
    nan = bytearray(good)
    struct.pack_into(">d", nan, 4 + 16 + 4 + 8, math.nan)
    gm = bytearray(serialise_opcode_list(gain_maps()[:1]))
    struct.pack_into(">I", gm, 4 + 16 + 72, 1 << 30)  # map planes
    return {
        "truncated": (bytes(truncated), "truncated"),
        "wrong byte count": (bytes(wrong_count), "bytes are left after the last"),
        "absurd plane count": (bytes(absurd_planes), "plane count 100000 is outside 1..4"),
        "NaN coefficient": (bytes(nan), "contains nan"),
        "absurd gain map planes": (bytes(gm), "map plane count 1073741824 is outside 1..4"),
    }


@pytest.mark.parametrize("case", list(_malformed_lists()))
def test_malformed_list_is_a_clear_error_and_the_file_stays_readable(tmp_path, case):
    blob, message = _malformed_lists()[case]
    good2 = serialise_opcode_list(gain_maps())
    path = write_dng(tmp_path / "bad.dng", lists={2: good2, 3: blob})
    info = read_opcode_lists(path)
    # the other list is intact
    assert info.stage(2).to_bytes() == good2
    # the bad one gives a clear error for its stage, naming file, list and what is wrong
    if 3 in info.errors:  # the list's structure is broken: the whole stage is unusable
        with pytest.raises(OpcodeError) as exc:
            info.stage(3)
        error = exc.value
    else:  # one opcode's parameters are bad: it is kept as InvalidOpcode, skipped as it is optional
        (op,) = info.stage(3)
        assert isinstance(op, InvalidOpcode) and op.optional
        run, skipped = info.stage(3).applicable()
        assert run == () and "malformed" in skipped[0].reason
        error = op.error
    text = str(error)
    assert text.startswith(str(path)) and "OpcodeList3 (tag 51022)" in text and message in text
    # the pixels still read, and the rest of the file with them
    np.testing.assert_array_equal(raw_pixels(path), raw_pixels(write_dng(tmp_path / "ref.dng")))
    # the command line reports the problem and still shows the good list
    result = CliRunner().invoke(cli(), ["dng", "info", path], catch_exceptions=False)
    assert result.exit_code == 0
    assert "OpcodeList2 (tag 51009)" in result.output and "GainMap" in result.output
    assert "MALFORMED" in result.output


def test_required_malformed_opcode_refuses_the_stage(tmp_path):
    blob = bytearray(serialise_opcode_list([WarpRectilinear(radial=[(1, 0.01, 0, 0)], flags=0)]))
    struct.pack_into(">d", blob, 4 + 16 + 4, math.inf)
    info = read_opcode_lists(write_dng(tmp_path / "r.dng", lists={3: bytes(blob)}))
    with pytest.raises(OpcodeError, match=r"opcode #1 \(WarpRectilinear\): required opcode is malformed"):
        info.stage(3).applicable()


def test_opcodes_read_where_pixels_cannot_be_decoded(tmp_path):
    """GoPro GPR files store VC-5 pixels (compression 9); the opcode tags are plain TIFF data."""
    blobs = {2: serialise_opcode_list(gain_maps())}
    path = write_dng(tmp_path / "vc5.dng", lists=blobs, layout="ifd0")
    data = bytearray(open(path, "rb").read())
    with tifffile.TiffFile(path) as tf:
        pos = tf.pages[0].tags[259].offset  # the Compression entry
    struct.pack_into("<H", data, pos + 8, 9)
    open(path, "wb").write(bytes(data))
    with pytest.raises(Exception):  # noqa: B017 - tifffile has no codec for compression 9; any error will do
        raw_pixels(path)
    info = read_opcode_lists(path)
    assert info.ifd.compression == 9 and info.stage(2).to_bytes() == blobs[2]
    result = CliRunner().invoke(cli(), ["dng", "info", path], catch_exceptions=False)
    assert "VC-5 (GoPro)" in result.output and "pixel data are not decoded" in result.output


def test_negative_control_and_preview_lists(tmp_path):
    plain = read_opcode_lists(write_dng(tmp_path / "plain.dng"))
    assert not plain.has_opcodes and plain.embedded_kinds() == {} and len(plain.stage(3)) == 0
    blob = serialise_opcode_list(ALL_OPCODES[3][:1])
    prev = read_opcode_lists(write_dng(tmp_path / "prev.dng", preview_lists={3: blob}))
    assert prev.lists == {} and prev.elsewhere == [("IFD0", 3)]


def test_unreadable_files_raise_frame_error(tmp_path):
    p = tmp_path / "not.dng"
    p.write_bytes(b"hello, not a tiff")
    with pytest.raises(FrameError, match="not a readable TIFF/DNG"):
        read_opcode_lists(p)
    with pytest.raises(FrameError, match="no such file"):
        read_opcode_lists(tmp_path / "missing.dng")
    result = CliRunner().invoke(cli(), ["dng", "info", str(p)], catch_exceptions=False)
    assert result.exit_code == 1 and "not a readable TIFF/DNG" in result.output


def test_info_json(tmp_path):
    blobs = {n: serialise_opcode_list(ops) for n, ops in ALL_OPCODES.items()}
    path = write_dng(tmp_path / "j.dng", lists=blobs, exif={"FocalLength": 28, "FNumber": 2.8})
    result = CliRunner().invoke(cli(), ["dng", "info", "--json", path], catch_exceptions=False)
    d = json.loads(result.output)
    assert [lst["list"] for lst in d["lists"]] == [1, 2, 3]
    l3 = d["lists"][2]
    assert [op["name"] for op in l3["opcodes"]] == ["FixVignetteRadial", "WarpRectilinear", "WarpRectilinear2",
                                                    "WarpFisheye"]
    assert l3["opcodes"][1]["coefficients"][0]["kr"] == [1.0003, -0.01, 0.002, 0]
    assert d["lists"][0]["opcodes"][0]["name"] == "FixBadPixelsList"
    assert d["raw_ifd"]["width"] == 96
