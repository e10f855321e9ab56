"""Frame I/O: TIFF, PNG, JPEG and DNG files written here and read back."""

from __future__ import annotations

import os
import struct

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mountkit.errors import FrameError
from mountkit.io import Frame
from mountkit.io.atomic import PART_SUFFIX, atomic_output, partial_files
from mountkit.io.colour import from_unit_float, linear_to_srgb, srgb_to_linear, to_unit_float
from mountkit.io.dng_writer import write_dng
from mountkit.io.images import read_image, write_jpeg, write_png
from mountkit.io.raw import read_raw
from mountkit.io.tiff import _icc_is_linear, read_tiff, write_tiff
from mountkit.io.tiffifd import ASCII, LONG, RATIONAL, SHORT, UNDEFINED, Entry, pack_ifd, parse_ifd

RNG = np.random.default_rng(7)


# -- colour ---------------------------------------------------------------------------


def test_srgb_curve_against_the_standard_points():
    # IEC 61966-2-1: the knee, mid grey and the ends
    x = np.array([0.0, 0.04045, 0.5, 1.0], dtype=np.float32)
    lin = srgb_to_linear(x)
    assert lin[0] == 0
    assert lin[1] == pytest.approx(0.04045 / 12.92, rel=1e-5)
    assert lin[2] == pytest.approx(((0.5 + 0.055) / 1.055) ** 2.4, rel=1e-5)
    assert lin[3] == pytest.approx(1.0, abs=1e-6)


@given(st.lists(st.floats(0, 1, width=32), min_size=1, max_size=50))
@settings(max_examples=60, deadline=None)
def test_srgb_round_trip(values):
    x = np.array(values, dtype=np.float32)
    np.testing.assert_allclose(linear_to_srgb(srgb_to_linear(x)), x, atol=2e-6)


def test_every_8bit_code_survives_linearise_and_encode():
    codes = np.arange(256, dtype=np.uint8)
    lin = srgb_to_linear(to_unit_float(codes, 255))
    back = from_unit_float(linear_to_srgb(lin), np.uint8)
    np.testing.assert_array_equal(back, codes)


def test_unit_float_with_black_and_white_levels():
    raw = np.array([64, 1023, 543], dtype=np.uint16)
    x = to_unit_float(raw, 1023, 64)
    np.testing.assert_allclose(x, [0.0, 1.0, (543 - 64) / 959], rtol=1e-6)
    np.testing.assert_array_equal(from_unit_float(np.array([-0.5, 0.5, 2.0]), np.uint16), [0, 32768, 65535])
    with pytest.raises(FrameError, match="white level"):
        to_unit_float(raw, 64, 64)


# -- TIFF -----------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
@pytest.mark.parametrize("channels", [None, 3])
def test_tiff_round_trip(tmp_path, dtype, channels):
    shape = (23, 31) if channels is None else (23, 31, channels)
    if dtype == np.float32:
        data = RNG.random(shape, dtype=np.float32) * 1.5  # over-range light is kept
    else:
        data = RNG.integers(0, np.iinfo(dtype).max, shape, endpoint=True).astype(dtype)
    path = tmp_path / "x.tif"
    write_tiff(path, Frame(data=data, white_level=None))
    frame = read_tiff(path)
    assert frame.data.dtype == dtype and frame.data.shape == shape
    np.testing.assert_array_equal(frame.data, data)
    assert frame.linear == (dtype == np.float32)  # integer TIFFs are taken as sRGB-encoded
    assert frame.white_level == (1.0 if dtype == np.float32 else np.iinfo(dtype).max)


def test_tiff_planar_and_rescaled_writes(tmp_path):
    import tifffile

    data = RNG.integers(0, 65535, (3, 10, 12), dtype=np.uint16)
    tifffile.imwrite(tmp_path / "planar.tif", data, photometric="rgb", planarconfig="separate")
    frame = read_tiff(tmp_path / "planar.tif")
    np.testing.assert_array_equal(frame.data, np.moveaxis(data, 0, -1))
    # sensor units (10-bit, black 64) rescaled to full 16-bit and to float32
    raw = np.array([[64, 1023], [543, 2000]], dtype=np.uint16)
    write_tiff(tmp_path / "u16.tif", Frame(data=raw, white_level=1023, black_level=64), dtype=np.uint16)
    np.testing.assert_array_equal(read_tiff(tmp_path / "u16.tif").data, [[0, 65535], [round(479 / 959 * 65535), 65535]])
    write_tiff(tmp_path / "f32.tif", Frame(data=raw, white_level=1023, black_level=64), dtype="float32")
    np.testing.assert_allclose(read_tiff(tmp_path / "f32.tif").data, (raw - 64) / 959.0, rtol=1e-6)


def test_icc_profile_with_identity_curves_marks_tiff_linear():
    def icc(gamma_u8f8: int | None) -> bytes:
        curv = b"curv" + b"\0" * 4 + (struct.pack(">I", 0) if gamma_u8f8 is None
                                      else struct.pack(">IH", 1, gamma_u8f8) + b"\0\0")
        tags = [b"rTRC", b"gTRC", b"bTRC"]
        off = 132 + 12 * len(tags)
        table = b"".join(struct.pack(">4sII", t, off, len(curv)) for t in tags)
        return b"\0" * 128 + struct.pack(">I", len(tags)) + table + curv

    assert _icc_is_linear(icc(None)) is True
    assert _icc_is_linear(icc(256)) is True  # gamma 1.0
    assert _icc_is_linear(icc(563)) is False  # gamma 2.2
    assert _icc_is_linear(b"\0" * 10) is None


def test_cfa_tiff_and_damaged_tiff_are_refused(tmp_path):
    write_dng(tmp_path / "mosaic.tif", np.zeros((8, 8), np.uint16))
    with pytest.raises(FrameError, match="CFA mosaic"):
        read_tiff(tmp_path / "mosaic.tif")
    good = tmp_path / "good.tif"
    write_tiff(good, Frame(data=np.ones((64, 64, 3), np.uint16)))
    cut = tmp_path / "cut.tif"
    cut.write_bytes(good.read_bytes()[:200])
    with pytest.raises(FrameError, match="cut.tif"):
        read_tiff(cut)


# -- PNG / JPEG ------------------------------------------------------------------------


def test_png_round_trips_8bit_rgb_rgba_and_16bit_grey(tmp_path):
    for data in (RNG.integers(0, 256, (9, 11, 3), dtype=np.uint8),
                 RNG.integers(0, 256, (9, 11, 4), dtype=np.uint8),
                 RNG.integers(0, 65536, (9, 11), dtype=np.uint16)):
        write_png(tmp_path / "x.png", Frame(data=data))
        frame = read_image(tmp_path / "x.png")
        np.testing.assert_array_equal(frame.data, data)
        assert frame.linear is False


def test_jpeg_round_trip_is_close(tmp_path):
    y, x = np.mgrid[0:64, 0:96]
    data = np.stack([x * 2, y * 3, (x + y)], axis=-1).astype(np.uint8)
    write_jpeg(tmp_path / "x.jpg", Frame(data=data), quality=95)
    frame = read_image(tmp_path / "x.jpg")
    assert frame.data.dtype == np.uint8 and frame.data.shape == data.shape
    assert np.abs(frame.data.astype(int) - data).mean() < 2.0
    assert frame.linear is False and frame.white_level == 255


@pytest.mark.parametrize("content", [b"", b"this is a text file, not a JPEG\n", b"\xff\xd8\xff\xe0\x00\x10JFIF"])
def test_unreadable_jpeg_names_the_file(tmp_path, content):
    p = tmp_path / "bad.jpg"
    p.write_bytes(content)
    with pytest.raises(FrameError, match="bad.jpg"):
        read_image(p)


# -- DNG through rawpy ------------------------------------------------------------------


def _mosaic(h=48, w=64, black=64, white=1023):
    return RNG.integers(black, white + 1, (h, w)).astype(np.uint16)


def test_dng_cfa_reads_back_exactly_with_levels(tmp_path):
    cfa = _mosaic()
    write_dng(tmp_path / "a.dng", cfa, black_level=64, white_level=1023, pattern="BGGR")
    frame = read_raw(tmp_path / "a.dng", mode="cfa")
    np.testing.assert_array_equal(frame.data, cfa)
    assert (frame.black_level, frame.white_level) == (64, 1023)
    assert frame.metadata["CFAPattern"] == "BGGR"
    assert frame.linear


def test_dng_rgb_stays_in_sensor_units(tmp_path):
    # a flat field per CFA colour demosaics to exactly those values: no scaling, no gamma,
    # no white balance, no auto brightness
    cfa = np.zeros((32, 48), np.uint16)
    cfa[0::2, 0::2], cfa[0::2, 1::2], cfa[1::2, 0::2], cfa[1::2, 1::2] = 300, 600, 600, 900
    write_dng(tmp_path / "flat.dng", cfa, black_level=64, white_level=1023, pattern="RGGB")
    frame = read_raw(tmp_path / "flat.dng")
    assert frame.data.dtype == np.uint16 and frame.data.shape == (32, 48, 3)
    for c, v in enumerate((300, 600, 900)):
        assert (frame.data[..., c] == v).all()
    assert (frame.black_level, frame.white_level) == (64, 1023)
    # a horizontal ramp stays a ramp (linear demosaicing reproduces it)
    ramp = np.tile(np.linspace(100, 1000, 64), (32, 1)).round().astype(np.uint16)
    write_dng(tmp_path / "ramp.dng", ramp, black_level=64, white_level=1023)
    g = read_raw(tmp_path / "ramp.dng", demosaic="LINEAR").data[4:-4, 4:-4, 1].astype(int)
    assert np.abs(g - ramp[4:-4, 4:-4]).max() <= 1


def test_dng_srgb_mode_scales_to_16bit(tmp_path):
    write_dng(tmp_path / "w.dng", np.full((32, 32), 1023, np.uint16), black_level=64, white_level=1023)
    frame = read_raw(tmp_path / "w.dng", colour="srgb")
    assert (frame.black_level, frame.white_level) == (0, 65535)
    assert frame.data.min() > 60000


def test_truncated_and_fake_raw_files_raise_frame_error(tmp_path):
    write_dng(tmp_path / "a.dng", _mosaic(256, 256), black_level=64, white_level=1023)
    blob = (tmp_path / "a.dng").read_bytes()
    (tmp_path / "cut.dng").write_bytes(blob[:400])
    (tmp_path / "text.dng").write_text("not a raw file at all\n" * 10)
    for name in ("cut.dng", "text.dng"):
        with pytest.raises(FrameError, match=name):
            read_raw(tmp_path / name)


# -- IFD packing ----------------------------------------------------------------------


def test_pack_and_parse_ifd_round_trip_with_nested_ifd():
    entries = [Entry(0x0310, LONG, (29 << 2) | 1), Entry(0x0100, ASCII, "hello world"),
               Entry(0x0200, RATIONAL, (35.0, 1.4)), Entry(0x0300, SHORT, (1, 2, 3)),
               Entry(0x0400, UNDEFINED, b"\x01\x02\x03\x04\x05"),
               Entry(0x3400, LONG, [Entry(0x3405, LONG, 7)])]
    for bo in "<>":
        blob = b"LEICA\0\0\0" + pack_ifd(entries, byteorder=bo, start=8)
        got = {e.tag: e.value for e in parse_ifd(blob, 8, byteorder=bo)}
        assert got[0x0310] == ((29 << 2) | 1,)
        assert got[0x0100] == "hello world"
        assert got[0x0200] == pytest.approx((35.0, 1.4))
        assert got[0x0300] == (1, 2, 3)
        assert got[0x0400] == b"\x01\x02\x03\x04\x05"
        sub = {e.tag: e.value for e in parse_ifd(blob, got[0x3400][0], byteorder=bo)}
        assert sub[0x3405] == (7,)


def test_parse_ifd_refuses_impossible_directories():
    with pytest.raises(FrameError):
        parse_ifd(b"\xff\xff" + b"\0" * 10, 0, byteorder="<")
    with pytest.raises(FrameError):
        parse_ifd(b"\0" * 4, 10, byteorder="<")


# -- atomic outputs ---------------------------------------------------------------------


def test_atomic_output_commits_refuses_and_cleans_up(tmp_path):
    dest = tmp_path / "out.tif"
    with atomic_output(dest) as tmp:
        assert tmp.parent == tmp_path and tmp.name.endswith(PART_SUFFIX)
        tmp.write_bytes(b"one")
    assert dest.read_bytes() == b"one"
    with pytest.raises(FrameError, match="already exists"):
        with atomic_output(dest) as tmp:
            tmp.write_bytes(b"two")
    with atomic_output(dest, overwrite=True) as tmp:
        tmp.write_bytes(b"three")
    assert dest.read_bytes() == b"three"
    for exc in (RuntimeError("boom"), KeyboardInterrupt()):
        with pytest.raises(type(exc)):
            with atomic_output(tmp_path / "never.tif") as tmp:
                tmp.write_bytes(b"partial")
                raise exc
    assert not (tmp_path / "never.tif").exists()
    assert sorted(os.listdir(tmp_path)) == ["out.tif"]
    # a part file left by a killed process is found for the sweep
    left = tmp_path / f".never.tif.deadbeef{PART_SUFFIX}"
    left.write_bytes(b"x")
    assert partial_files(tmp_path / "never.tif") == [left]


def test_16bit_colour_png_is_refused_not_truncated(tmp_path):
    import zlib

    h, w = 4, 5
    a = (np.arange(h * w * 3).reshape(h, w, 3) * 1000).astype(">u2")
    raw = b"".join(b"\0" + a[i].tobytes() for i in range(h))

    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)

    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0))
           + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
    (tmp_path / "rgb16.png").write_bytes(png)
    with pytest.raises(FrameError, match="16-bit colour PNG"):
        read_image(tmp_path / "rgb16.png")
