"""Calibration output: new and merged TOML profiles with provenance, validation before writing, atomic writes."""

from __future__ import annotations

import pytest

import mountkit
from mountkit import Calibration
from mountkit.calibrate import CalibrationRecord, sensor_aspect_ratio, write_profile
from mountkit.errors import MountkitError, ProfileError
from mountkit.formats import toml_profile as tp
from mountkit.validate import validate_paths

ONE_INCH = 2.64


@pytest.fixture(scope="module")
def kit():
    return mountkit.Kit(entry_points=False)


def rec(kind, model, focal, params, summary=None, **kw):
    cal = Calibration(kind, model, focal, params, **kw)
    return CalibrationRecord(cal, summary or f"{kind} {model} at {focal:g} mm: RMS 0.01 px", f"{kind}: test method")


DIST = rec("distortion", "ptlens", 28, {"a": 0.01, "b": -0.03, "c": 0.01})
TCA = rec("tca", "poly3", 28, {"vr": 1.0003, "vb": 0.9998, "br": 0.0001, "bb": 0.0, "cr": 0.0, "cb": 0.0})


def write(path, records, kit, **kw):
    args = dict(maker="Leica", model="Summicron-M 28 f/2 ASPH.", crop_factor=ONE_INCH, aspect_ratio=4 / 3,
                body="Xiaomi 12S Ultra Concept", author="A. Photographer", licence="CC0-1.0", mounts=("Leica M",),
                date="2026-11-29", kit=kit)
    args.update(kw)
    return write_profile(path, records, **args)


def test_new_profile_has_the_body_provenance_and_validates(kit, tmp_path):
    path = tmp_path / "summicron28.toml"
    lens = write(path, [DIST], kit)
    text = path.read_text()
    assert 'aspect_ratio = "4:3"' in text and "crop_factor = 2.64" in text
    back = tp.load_lens(path)
    assert back.profile.crop_factor == ONE_INCH and back.profile.aspect_ratio == pytest.approx(4 / 3)
    assert back.profile.calibrations == (DIST.calibration,)
    p = back.profile.provenance
    assert (p.author, p.body, p.date, p.licence) == ("A. Photographer", "Xiaomi 12S Ultra Concept", "2026-11-29",
                                                     "CC0-1.0")
    assert p.source == "own measurement with mountkit calibrate"
    assert p.method == "distortion: test method"
    assert p.notes == DIST.summary
    assert (back.focal_min, back.focal_max, back.mounts) == (28.0, 28.0, ("Leica M",))
    assert lens.name == back.name
    report = validate_paths([path], kit)
    assert report.ok and not report.warnings


def test_merging_adds_kinds_replaces_remeasured_sets_and_keeps_the_rest(kit, tmp_path):
    path = tmp_path / "lens.toml"
    write(path, [DIST], kit)
    write(path, [TCA], kit, author="B. Second", body="Leica M10")
    again = rec("distortion", "ptlens", 28, {"a": 0.011, "b": -0.031, "c": 0.01}, "distortion ptlens at 28 mm: new")
    write(path, [again, rec("distortion", "ptlens", 35, {"a": 0.0, "b": -0.01, "c": 0.0})], kit)
    back = tp.load_lens(path)
    dist = back.profile.distortion
    assert [c.focal for c in dist] == [28.0, 35.0]
    assert dist[0] == again.calibration  # measured again: replaced
    assert back.profile.tca == (TCA.calibration,)  # kept
    assert (back.focal_min, back.focal_max) == (28.0, 35.0)
    p = back.profile.provenance
    assert p.author == "A. Photographer; B. Second"
    assert p.body == "Xiaomi 12S Ultra Concept; Leica M10"
    notes = p.notes.splitlines()
    assert "distortion ptlens at 28 mm: new" in notes and DIST.summary not in notes and TCA.summary in notes
    assert validate_paths([path], kit).ok


def test_vignetting_and_colour_shading_sets_merge_per_aperture(kit, tmp_path):
    path = tmp_path / "lens.toml"
    v2 = rec("vignetting", "pa", 28, {"k1": -0.5, "k2": 0.1, "k3": 0.0}, aperture=2.0, distance=1000.0)
    v4 = rec("vignetting", "pa", 28, {"k1": -0.3, "k2": 0.05, "k3": 0.0}, aperture=4.0, distance=1000.0)
    s2 = rec("colour_shading", "poly4", 28, {"r10": 0.01, "b02": -0.02}, aperture=2.0, distance=1000.0)
    write(path, [v4, v2, s2], kit)
    back = tp.load_lens(path)
    assert [c.aperture for c in back.profile.vignetting] == [2.0, 4.0]
    assert back.profile.of_kind("colour_shading")[0].params["b02"] == -0.02
    report = validate_paths([path], kit)
    assert report.ok, [str(i) for i in report.issues]


def test_another_sensor_size_or_model_is_refused_and_the_file_is_untouched(kit, tmp_path):
    path = tmp_path / "lens.toml"
    write(path, [DIST], kit)
    before = path.read_bytes()
    with pytest.raises(ProfileError, match="crop factor 2.64, these shots at 1.5"):
        write(path, [TCA], kit, crop_factor=1.5)
    with pytest.raises(ProfileError, match="aspect ratio"):
        write(path, [TCA], kit, aspect_ratio=1.5)
    with pytest.raises(ProfileError, match="uses model 'ptlens', the new one 'poly5'"):
        write(path, [rec("distortion", "poly5", 35, {"k1": -0.01, "k2": 0.0})], kit)
    with pytest.raises(ProfileError, match="describes 'Leica Summicron-M 28 f/2 ASPH.'"):
        write(path, [TCA], kit, model="Elmarit-M 28")
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lens.toml"]  # no temporary files left


def test_implausible_results_are_not_written(kit, tmp_path):
    path = tmp_path / "lens.toml"
    folding = rec("distortion", "poly3", 28, {"k1": -0.5})
    with pytest.raises(ProfileError, match="does not validate.*folds over"):
        write(path, [folding], kit)
    assert not path.exists()
    with pytest.raises(MountkitError, match="nothing to write"):
        write(path, [], kit)


def test_sensor_aspect_ratio():
    assert sensor_aspect_ratio(8192, 6144) == 4 / 3
    assert sensor_aspect_ratio(13.107, 9.830) == 4 / 3
    assert sensor_aspect_ratio(6000, 4000) == 1.5
    assert sensor_aspect_ratio(1000, 1500) == 1.5
    assert sensor_aspect_ratio(1920, 1080) == 16 / 9
    assert sensor_aspect_ratio(1000, 731) == pytest.approx(1000 / 731)


def test_frames_of_another_shape_than_the_sensor_are_refused():
    from mountkit.calibrate.pipeline import frame_aspect_ratio

    assert frame_aspect_ratio(8192, 6144, None) == 4 / 3
    assert frame_aspect_ratio(640, 480, 4 / 3) == 4 / 3
    assert frame_aspect_ratio(480, 640, 0.75) == 4 / 3
    with pytest.raises(MountkitError, match="1920x1080.*give --crop-factor of that area"):
        frame_aspect_ratio(1920, 1080, 4 / 3)
