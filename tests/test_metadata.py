"""Metadata: EXIF and Leica maker notes read from files written here; EXIF and the record written to outputs."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from mountkit.errors import FrameError
from mountkit.io import Frame
from mountkit.io.dng_writer import write_dng
from mountkit.io.images import write_jpeg, write_png
from mountkit.io.metadata import decode_leica_makernote, read_metadata, read_record, write_metadata
from mountkit.io.tiff import read_tiff, write_tiff
from mountkit.io.tiffifd import ASCII, LONG, SHORT, Entry, pack_ifd

CFA = np.random.default_rng(3).integers(64, 1024, (48, 64)).astype(np.uint16)


def m8_note(stored: int, bo: str = "<") -> bytes:
    """A Leica M8 maker note: "LEICA\\0\\0\\0", then an IFD with LensType (0x0310)."""
    return b"LEICA\0\0\0" + pack_ifd([Entry(0x0300, SHORT, 1), Entry(0x0310, LONG, stored)], byteorder=bo, start=8)


def m9_note(stored: int, bo: str = "<") -> bytes:
    """A Leica M9 maker note: "LEICA0\\x03\\0", sub-IFD 0x3400 holding LensType (0x3405)."""
    sub = [Entry(0x3402, LONG, 25), Entry(0x3405, LONG, stored)]
    return b"LEICA0\x03\0" + pack_ifd([Entry(0x3400, LONG, sub)], byteorder=bo, start=0 + 8)


def typ240_note(name: str) -> bytes:
    return b"LEICA\0\x02\xff" + pack_ifd([Entry(0x0303, ASCII, name)], byteorder="<", start=8)


def test_dng_exif_focal_fnumber_lens_and_distance(tmp_path):
    p = tmp_path / "a.dng"
    write_dng(p, CFA, black_level=64, white_level=1023, make="Xiaomi", model="1-inch test body",
              exif={"FocalLength": 8.7, "FNumber": 1.63, "LensMake": "Xiaomi", "LensModel": "Main camera",
                    "SubjectDistance": 2.5, "FocalLengthIn35mmFilm": 23})
    md = read_metadata(p)
    assert md["Make"] == "Xiaomi" and md["Model"] == "1-inch test body"
    assert md["FocalLength"] == pytest.approx(8.7) and md["FNumber"] == pytest.approx(1.63)
    assert md["LensMake"] == "Xiaomi" and md["LensModel"] == "Main camera"
    assert md["FocusDistance"] == pytest.approx(2.5)
    assert md["FocalLengthIn35mmFilm"] == 23
    assert md["DNGVersion"] == "1 4 0 0"
    assert "LensType" not in md


def test_aperture_value_in_apex_when_fnumber_is_missing(tmp_path):
    p = tmp_path / "a.dng"
    write_dng(p, CFA, exif={"ApertureValue": 4.0})  # APEX 4 = f/4
    assert read_metadata(p)["FNumber"] == pytest.approx(4.0)


@pytest.mark.parametrize("bo", ["<", ">"])
@pytest.mark.parametrize("note", [m8_note, m9_note])
def test_leica_lens_type_from_dng_maker_note(tmp_path, note, bo):
    stored = (29 << 2) | 2  # Summilux-M 35mm f/1.4 ASPH., frame bits 2
    p = tmp_path / "leica.dng"
    write_dng(p, CFA, black_level=64, white_level=1023, make="Leica Camera AG", model="M9 Digital Camera",
              exif={"FocalLength": 35.0, "FNumber": 2.0, "MakerNote": note(stored, bo)})
    md = read_metadata(p)
    assert md["LensType"] == 118 and md["LensTypeCode"] == 29 and md["LensTypeFrameBits"] == 2
    assert md["FocalLength"] == 35.0


def test_leica_lens_type_reaches_the_leica_identifier(tmp_path):
    mountkit_leica_m = pytest.importorskip("mountkit_leica_m")
    import mountkit

    p = tmp_path / "leica.dng"
    write_dng(p, CFA, make="Leica Camera AG", model="M9 Digital Camera",
              exif={"MakerNote": m9_note((29 << 2) | 2)})
    kit = mountkit.Kit(plugins=[mountkit_leica_m], entry_points=False)
    lens = kit.identify(read_metadata(p))
    assert lens is not None and "35" in lens.model and "1.4" in lens.model


def test_leica_note_string_lens_type_and_damaged_notes():
    assert decode_leica_makernote(typ240_note("Summilux-M 1:1.4/35 ASPH.")) == {
        "LensType": "Summilux-M 1:1.4/35 ASPH."}
    assert decode_leica_makernote(b"Nikon\0\x02\x10\0\0") == {}
    assert decode_leica_makernote(b"LEICA\0\0\0\xff\xff\xff") == {}
    # a claimed sub-IFD offset outside the note is skipped, not an error
    bad = b"LEICA0\x03\0" + struct.pack("<HHHII I", 1, 0x3400, 4, 1, 10_000, 0)
    assert decode_leica_makernote(bad) == {}


def test_jpeg_exif_written_by_pillow(tmp_path):
    from PIL import Image

    exif = Image.Exif()
    exif[0x010F], exif[0x0110] = "Leica Camera AG", "LEICA M10"
    ifd = exif.get_ifd(0x8769)
    ifd[0x920A], ifd[0x829D], ifd[0xA434] = 50.0, 2.8, "Summicron-M 1:2/50"
    p = tmp_path / "a.jpg"
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(p, exif=exif)
    md = read_metadata(p)
    assert md["Model"] == "LEICA M10" and md["LensModel"] == "Summicron-M 1:2/50"
    assert md["FocalLength"] == 50.0 and md["FNumber"] == 2.8


@pytest.mark.parametrize("content", [b"", b"plain text pretending to be an image\n"])
def test_unreadable_files_raise_frame_error_naming_the_file(tmp_path, content):
    p = tmp_path / "x.jpg"
    p.write_bytes(content)
    with pytest.raises(FrameError, match="x.jpg"):
        read_metadata(p)


@pytest.mark.parametrize("suffix", [".tif", ".jpg", ".png"])
def test_exif_copied_and_record_written(tmp_path, suffix):
    src = tmp_path / "in.dng"
    write_dng(src, CFA, make="Leica Camera AG", model="M9 Digital Camera", orientation=6,
              exif={"FocalLength": 35.0, "FNumber": 2.0, "LensModel": "Summilux-M 1:1.4/35 ASPH.",
                    "MakerNote": m9_note(118)})
    out = tmp_path / f"out{suffix}"
    frame = Frame(data=np.full((12, 20, 3), 100, np.uint8))
    {".tif": write_tiff, ".jpg": write_jpeg, ".png": write_png}[suffix](out, frame)
    record = {"mountkit_version": "9.9", "profile": "Leica Summilux-M 35mm f/1.4 ASPH.",
              "profile_source": "lensfun", "corrections": ["distortion", "vignetting"],
              "parameters": {"focal": 35.0, "aperture": 2.0}, "linear": False}
    notes = write_metadata(out, source=src, record=record, software="mountkit 9.9")
    assert notes == []
    md = read_metadata(out)
    assert md["Make"] == "Leica Camera AG" and md["Model"] == "M9 Digital Camera"
    assert md["FocalLength"] == 35.0 and md["FNumber"] == 2.0
    assert md["LensModel"] == "Summilux-M 1:1.4/35 ASPH."
    assert md["Orientation"] == 6
    assert md["LensType"] == 118  # the maker note travelled too
    assert read_record(out) == record
    if suffix == ".tif":  # pixels untouched, raw layout tags not copied
        back = read_tiff(out)
        np.testing.assert_array_equal(back.data, frame.data)
        assert back.linear is False
