"""The native TOML profile format: lossless round trips, and clear one-line errors for bad input."""

from __future__ import annotations

import os
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mountkit import Calibration, Camera, Lens, LensProfile, MountkitError, ProfileError, Provenance
from mountkit.formats import toml_profile as tp
from mountkit.formats.safe_files import write_file_atomic, write_files_atomic
from mountkit.profile import LENS_TYPES

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

GOOD = """\
format_version = 1

[lens]
maker = "Leica Camera AG"
model = "Summicron-M 1:2/28 Asph."
mounts = ["Leica M"]
focal_min = 28.0
focal_max = 28.0
aperture_max = 2.0

[provenance]
source = "test"
licence = "CC0-1.0"

[calibration]
crop_factor = 1.0
aspect_ratio = "4:3"

[[calibration.distortion]]
model = "ptlens"
focal = 28.0
params = { a = 0.0135748, b = -0.0502846, c = 0.0486119 }

[[calibration.vignetting]]
model = "pa"
focal = 28.0
aperture = 2.0
distance = 10.0
params = { k1 = -0.5, k2 = 0.1, k3 = 0.0 }
"""


def _strip_sources(lens: Lens) -> Lens:
    prof = replace(lens.profile, source="") if lens.profile is not None else None
    return replace(lens, source="", profile=prof)


def _grouped(lens: Lens) -> Lens:
    """The lens with calibrations grouped by kind in first-seen order (the file's layout)."""
    if lens.profile is None:
        return lens
    cals = lens.profile.calibrations
    kinds = list(dict.fromkeys(c.kind for c in cals))
    ordered = tuple(c for k in kinds for c in cals if c.kind == k)
    return replace(lens, profile=replace(lens.profile, calibrations=ordered))


# -- reading and writing -------------------------------------------------------------


def test_reads_a_profile_with_every_field(tmp_path):
    p = tmp_path / "lens.toml"
    p.write_text(GOOD, encoding="utf-8")
    lens = tp.load_lens(p)
    assert lens.model == "Summicron-M 1:2/28 Asph." and lens.mounts == ("Leica M",)
    assert lens.source == str(p) and lens.profile.source == str(p)
    assert lens.profile.aspect_ratio == 4 / 3
    assert [c.kind for c in lens.profile.calibrations] == ["distortion", "vignetting"]
    assert dict(lens.profile.distortion[0].params) == {"a": 0.0135748, "b": -0.0502846, "c": 0.0486119}
    v = lens.profile.vignetting[0]
    assert (v.focal, v.aperture, v.distance) == (28.0, 2.0, 10.0)
    assert lens.profile.provenance == Provenance(source="test", licence="CC0-1.0")


def test_written_file_reads_back_identical_and_is_stable(tmp_path):
    lens = tp.loads(GOOD, "x.toml")
    text = tp.dumps(lens)
    assert tomllib.loads(text)["calibration"]["aspect_ratio"] == "4:3"
    again = tp.loads(text, "x.toml")
    assert again == lens
    assert tp.dumps(again) == text
    path = tp.save(lens, tmp_path / "a" / "b.toml")
    assert path.read_text(encoding="utf-8") == text


_name = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=40).filter(lambda s: s.strip())
_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=60)
_finite = st.floats(allow_nan=False, allow_infinity=False)
_focal = st.floats(min_value=0.5, max_value=10000, allow_nan=False)
_aperture = st.floats(min_value=0.3, max_value=1024, allow_nan=False)
_distance = st.floats(min_value=1e-3, max_value=1e6, allow_nan=False)
_kind = st.sampled_from(["distortion", "tca", "vignetting", "colour_shading", "x2"])
_model = st.from_regex(r"[A-Za-z0-9_.-]{1,12}", fullmatch=True)
_param = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,6}", fullmatch=True)


@st.composite
def _calibration(draw):
    kind = draw(_kind)
    needs = kind == "vignetting" or draw(st.booleans())
    return Calibration(kind=kind, model=draw(_model), focal=draw(_focal),
                       params=draw(st.dictionaries(_param, _finite, max_size=6)),
                       aperture=draw(_aperture) if needs else None, distance=draw(_distance) if needs else None)


@st.composite
def _lens(draw):
    profile = None
    if draw(st.booleans()):
        aspect = draw(st.one_of(st.floats(min_value=1.0, max_value=10.0, allow_nan=False),
                                st.sampled_from([4 / 3, 1.5, 16 / 9, 1.0, 3.0])))
        profile = LensProfile(
            crop_factor=draw(st.floats(min_value=0.01, max_value=100, allow_nan=False)), aspect_ratio=aspect,
            center=(draw(st.floats(-1, 1)), draw(st.floats(-1, 1))),
            calibrations=tuple(draw(st.lists(_calibration(), max_size=6))),
            provenance=Provenance(**{k: draw(_text) for k in tp.PROVENANCE_FIELDS}))
    fmin = draw(st.one_of(st.none(), _focal))
    fmax = None if fmin is None else draw(st.floats(min_value=fmin, max_value=10000, allow_nan=False))
    return Lens(maker=draw(_name), model=draw(_name), mounts=tuple(draw(st.lists(_name, max_size=3))),
                aliases=tuple(draw(st.lists(_name, max_size=3))), lens_type=draw(st.sampled_from(LENS_TYPES)),
                focal_min=fmin, focal_max=fmax, aperture_max=draw(st.one_of(st.none(), _aperture)),
                aperture_min=draw(st.one_of(st.none(), _aperture)),
                leica_code=draw(st.one_of(st.none(), st.integers(0, 63))), profile=profile)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_lens())
def test_round_trip_is_lossless(lens):
    text = tp.dumps(lens)
    back = tp.loads(text, "rt.toml")
    assert _strip_sources(back) == _strip_sources(_grouped(lens))
    assert tp.dumps(back) == text  # byte-stable


@settings(max_examples=60, deadline=None)
@given(st.builds(Camera, maker=_name, model=_name, mount=st.one_of(st.none(), _name),
                 crop_factor=st.floats(min_value=0.01, max_value=100, allow_nan=False),
                 resolution=st.one_of(st.none(), st.tuples(st.integers(1, 100000), st.integers(1, 100000))),
                 bit_depth=st.one_of(st.none(), st.integers(1, 32)), aliases=st.lists(_name, max_size=2).map(tuple),
                 notes=_text))
def test_camera_round_trip_is_lossless(camera):
    back = tp.loads(tp.dumps(camera), "cam.toml")
    assert back == replace(camera, source="cam.toml")


def test_camera_with_sensor_size_round_trips():
    cam = Camera(maker="Xiaomi", model="12S Ultra Concept", mount="Leica M", sensor_width=13.1072,
                 sensor_height=9.8304, resolution=(8192, 6144), bit_depth=10)
    back = tp.loads(tp.dumps(cam), "c.toml")
    assert back.sensor_size == (13.1072, 9.8304) and back.crop_factor == cam.crop_factor
    assert back.resolution == (8192, 6144) and back.bit_depth == 10


def test_aspect_ratio_written_as_ratio_when_exact():
    assert tp.format_aspect_ratio(4 / 3) == "4:3"
    assert tp.format_aspect_ratio(1.5) == "3:2"
    assert tp.format_aspect_ratio(16 / 9) == "16:9"
    assert tp.format_aspect_ratio(1.0) == "1:1"
    assert tp.format_aspect_ratio(1.5012987012987014) == 1.5012987012987014


def test_file_names():
    lens = Lens(maker="Voigtländer", model="Nokton 28mm F1.5 Aspherical")
    assert tp.profile_relpath(lens) == Path("voigtlander/nokton-28mm-f1.5-aspherical.toml")
    assert tp.profile_relpath(Lens(maker="Leica Camera AG", model="Summicron-M 1:2/28 Asph.")) == \
        Path("leica/summicron-m-1-2-28-asph.toml")
    assert tp.profile_relpath(Camera(maker="Leica Camera AG", model="Leica M11", crop_factor=1.0)) == \
        Path("cameras/leica/leica-m11.toml")


# -- bad input: one clear line naming the file and the field ------------------------------


def _error(tmp_path, text: str | bytes, name="bad.toml") -> ProfileError:
    p = tmp_path / name
    p.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    with pytest.raises(ProfileError) as ei:
        tp.load(p)
    msg = str(ei.value)
    assert "\n" not in msg
    assert str(p) in msg
    return ei.value


@pytest.mark.parametrize("text, field, words", [
    ("format_version = 1\n[lens]\nmaker = \"A\"\nmodel = [\n", None, "not valid TOML"),
    (GOOD.replace("focal_min = 28.0", 'focal_min = "28"'), "lens.focal_min", "expected a finite number, got string"),
    (GOOD.replace("mounts = [\"Leica M\"]", "mounts = \"Leica M\""), "lens.mounts", "expected an array"),
    (GOOD.replace("crop_factor = 1.0", "crop_factor = nan"), "calibration.crop_factor", "finite number"),
    (GOOD.replace("c = 0.0486119", "c = inf"), "calibration.distortion[0].params.c", "finite number"),
    (GOOD.replace("crop_factor = 1.0", "crop_factor = -inf"), "calibration.crop_factor", "finite number"),
    (GOOD.replace("focal = 28.0\nparams = { a", "focal = 1e9\nparams = { a"), "calibration.distortion[0].focal",
     "must be <= 10000"),
    (GOOD.replace("crop_factor = 1.0", "crop_factor = 0.0"), "calibration.crop_factor", "must be >= 0.01"),
    (GOOD.replace("aperture = 2.0", "aperture = 0.01"), "calibration.vignetting[0].aperture", "must be >= 0.3"),
    (GOOD.replace("distance = 10.0\n", ""), "calibration.vignetting[0]", "missing required key 'distance'"),
    (GOOD.replace("format_version = 1", "format_version = 2"), "format_version", "unsupported format_version 2"),
    (GOOD.replace("format_version = 1\n", ""), "format_version", "missing format_version"),
    (GOOD.replace('aspect_ratio = "4:3"', 'aspect_ratio = "4/3"'), "calibration.aspect_ratio", "width:height"),
    (GOOD.replace("maker = \"Leica Camera AG\"", "maker = \"  \""), "lens.maker", "must not be empty"),
    (GOOD.replace("[provenance]", "[provenance]\nlicense = \"MIT\""), "provenance", "did you mean 'licence'"),
    (GOOD.replace("lens_type", "x").replace("focal_min", 'lens_type = "fish"\nfocal_min'), "lens.lens_type",
     "expected one of"),
    (GOOD.replace("leica_code", "x").replace("focal_min", "leica_code = 64\nfocal_min"), "lens.leica_code",
     "must be <= 63"),
    (GOOD.replace("[[calibration.vignetting]]", "[[calibration.Vignetting]]"), "calibration", "not a valid name"),
])
def test_bad_values_name_file_field_and_expectation(tmp_path, text, field, words):
    err = _error(tmp_path, text)
    assert err.field == field
    assert words in str(err)


def test_empty_and_blank_files(tmp_path):
    assert "empty" in str(_error(tmp_path, b""))
    assert "empty" in str(_error(tmp_path, b" \n\t\n"))


def test_not_utf8(tmp_path):
    assert "UTF-8" in str(_error(tmp_path, b'format_version = 1\n[lens]\nmaker = "\xff"\n'))


def test_hundred_megabyte_file_is_refused_before_reading(tmp_path):
    p = tmp_path / "huge.toml"
    with open(p, "wb") as fh:  # sparse: no 100 MB written to disk
        fh.truncate(100 * 2**20)
    with pytest.raises(ProfileError) as ei:
        tp.load(p)
    assert "100.0 MiB" in str(ei.value) and str(p) in str(ei.value) and "\n" not in str(ei.value)


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(ProfileError, match="no such"):
        tp.load(tmp_path / "nope.toml")
    with pytest.raises(ProfileError, match="not a regular file"):
        tp.load(tmp_path)


def test_lens_and_camera_loaders_refuse_the_other_kind(tmp_path):
    p = tmp_path / "c.toml"
    p.write_text('format_version = 1\n[camera]\nmaker = "A"\nmodel = "B"\ncrop_factor = 1.5\n')
    with pytest.raises(ProfileError, match="camera profile, not a lens"):
        tp.load_lens(p)
    assert tp.load_camera(p).crop_factor == 1.5
    p.write_text('format_version = 1\n[camera]\nmaker = "A"\nmodel = "B"\n')
    with pytest.raises(ProfileError, match="crop_factor, or sensor_width"):
        tp.load_camera(p)


def test_values_the_schema_allows_but_the_model_refuses(tmp_path):
    err = _error(tmp_path, GOOD.replace("focal_max = 28.0", "focal_max = 20.0"))
    assert "focal_min 28.0 > focal_max 20.0" in str(err)


# -- writes are atomic and never clobber -----------------------------------------------


def test_no_overwrite_without_force_and_nothing_half_written(tmp_path):
    target = tmp_path / "p.toml"
    target.write_text("old")
    with pytest.raises(MountkitError, match="already exists; pass --force"):
        write_file_atomic(target, "new")
    assert target.read_text() == "old"
    write_file_atomic(target, "new", force=True)
    assert target.read_text() == "new"
    assert sorted(os.listdir(tmp_path)) == ["p.toml"]  # no temporary files left


def test_several_files_all_or_nothing(tmp_path):
    (tmp_path / "b.toml").write_text("keep")
    with pytest.raises(MountkitError, match="b.toml: already exists"):
        write_files_atomic([(tmp_path / "d" / "a.toml", "1"), (tmp_path / "b.toml", "2")])
    assert sorted(os.listdir(tmp_path)) == ["b.toml"] and (tmp_path / "b.toml").read_text() == "keep"


def test_failed_write_rolls_back_the_files_already_written(tmp_path):
    blocker = tmp_path / "x"
    blocker.write_text("a file where a directory is needed")
    with pytest.raises(OSError):
        write_files_atomic([(tmp_path / "ok" / "a.toml", "1"), (blocker / "b.toml", "2")])
    assert sorted(os.listdir(tmp_path)) == ["x"]


def test_writer_refuses_non_finite_numbers():
    doc = {"format_version": 1, "lens": {"maker": "A", "model": "B", "focal_min": float("nan")}}
    with pytest.raises(ProfileError, match="non-finite"):
        tp.dumps_document(doc)
