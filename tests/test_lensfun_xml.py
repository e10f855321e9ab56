"""lensfun XML reader and writer (mountkit.formats.lensfun_xml).

Oracle: lensfunpy's own parse of the same files (lensfun 0.3.4).  Every
bundled lens, camera and mount is compared field by field; malformed inputs
are small files written by the tests.
"""

from __future__ import annotations

import collections
import importlib.resources
import math

import lensfunpy
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mountkit import Calibration, Camera, Lens, LensProfile, Mount, MountkitError, ProfileError, Provenance
from mountkit.formats.lensfun_xml import (
    MODEL_PARAMS,
    guess_lens_parameters,
    parse_lens_name,
    parse_lensfun_xml,
    read_lensfun_xml,
    to_lensfun_xml,
    write_lensfun_xml,
)

F32 = np.float32
DB_DIR = importlib.resources.files("lensfunpy") / "db_files"
DB_FILES = sorted(str(p) for p in DB_DIR.iterdir() if p.name.endswith(".xml"))
LENSFUN_TYPES = {
    "RECTILINEAR": "rectilinear", "FISHEYE": "fisheye", "PANORAMIC": "panoramic",
    "EQUIRECTANGULAR": "equirectangular", "FISHEYE_ORTHOGRAPHIC": "orthographic",
    "FISHEYE_STEREOGRAPHIC": "stereographic", "FISHEYE_EQUISOLID": "equisolid", "FISHEYE_THOBY": "fisheye_thoby",
}


def lens_key(maker, model, crop):
    return (maker, model, float(F32(crop)))


@pytest.fixture(scope="module")
def doc():
    return read_lensfun_xml(DB_FILES)


@pytest.fixture(scope="module")
def lfdb():
    return lensfunpy.Database(load_common=False)


@pytest.fixture(scope="module")
def pairs(doc, lfdb):
    """(lensfunpy lens, our lens) for every bundled lens."""
    ours = {lens_key(x.maker, x.model, x.profile.crop_factor): x for x in doc.lenses}
    assert len(ours) == len(doc.lenses)
    return [(lf, ours[lens_key(lf.maker, lf.model, lf.crop_factor)]) for lf in lfdb.lenses]


# -- the bundled database against lensfunpy -----------------------------------------------------------


def test_counts_equal_lensfunpy(doc, lfdb):
    assert len(doc.lenses) == len(lfdb.lenses)
    assert len(doc.cameras) == len(lfdb.cameras)
    assert len(doc.mounts) == len(lfdb.mounts)
    if lensfunpy.__version__ == "1.18.0":
        assert (len(doc.lenses), len(doc.cameras), len(doc.mounts)) == (1304, 948, 49)


def test_every_lens_field_equals_lensfunpy(pairs):
    lf = [p[0] for p in pairs]
    us = [p[1] for p in pairs]
    assert [x.maker for x in us] == [x.maker for x in lf]
    assert [x.model for x in us] == [x.model for x in lf]
    assert [list(x.mounts) for x in us] == [x.mounts for x in lf]
    assert [x.lens_type for x in us] == [LENSFUN_TYPES[x.type.name] for x in lf]
    # lensfun keeps these in float: equal to float32 precision
    ours = np.array([[x.focal_min or 0, x.focal_max or 0, x.aperture_max or 0, x.profile.crop_factor,
                      *x.profile.center] for x in us], dtype=np.float32)
    theirs = np.array([[x.min_focal, x.max_focal, x.min_aperture or 0, x.crop_factor, x.center_x, x.center_y]
                       for x in lf], dtype=np.float32)
    np.testing.assert_array_equal(ours, theirs)
    # the focal range is known for every bundled lens (given, or guessed as lensfun guesses it)
    assert all(x.focal_min and x.focal_max for x in us)
    assert sum(1 for x in us if x.aperture_max is not None) > 1000  # 1040 at lensfunpy 1.18


def _calib_rows(calibs, with_av=False):
    """(model, focal, [aperture, distance,] terms padded to 6) rows of one lens."""
    rows = []
    for c in calibs:
        model = c.model if isinstance(c, Calibration) else c.model.name.lower()
        if model == "none":
            continue
        terms = list(c.params.values()) if isinstance(c, Calibration) else list(c.terms)[:len(
            MODEL_PARAMS[(_kind(c), model)])]
        head = [c.focal] + ([c.aperture, c.distance] if with_av else [])
        rows.append((model, tuple(F32(head + terms + [0.0] * (6 - len(terms))))))
    return rows


def _kind(c):
    return {"LensCalibDistortion": "distortion", "LensCalibTCA": "tca", "LensCalibVignetting": "vignetting"}[
        type(c).__name__]


def test_calibration_sets_equal_lensfunpy(pairs):
    """Every calibration entry, in lensfun's order after its same-focal replacement."""
    counts = collections.Counter()
    for lf, us in pairs:
        assert _calib_rows(us.profile.distortion) == _calib_rows(lf.calib_distortion), us.model
        assert _calib_rows(us.profile.tca) == _calib_rows(lf.calib_tca), us.model
        assert _calib_rows(us.profile.vignetting, True) == _calib_rows(lf.calib_vignetting, True), us.model
        for kind in ("distortion", "tca", "vignetting"):
            counts[kind] += len(us.profile.of_kind(kind))
    assert counts["distortion"] > 5000 and counts["tca"] > 3000 and counts["vignetting"] > 23000


def test_terms_equal_lensfunpy_interpolation_at_calibration_focals(pairs):
    """lensfunpy's interpolate_* at each calibration point returns that calibration: our terms, to float32."""
    ours, theirs = [], []
    for lf, us in pairs:
        prof = us.profile
        for kind, interp in (("distortion", lf.interpolate_distortion), ("tca", lf.interpolate_tca)):
            cals = prof.of_kind(kind)
            first = [c for c in cals if c.model == cals[0].model] if cals else []  # lensfun uses the first model
            for c in first:
                got = interp(c.focal)
                assert got is not None and got.model.name.lower() == c.model
                ours.append(list(c.params.values()) + [0.0] * (6 - len(c.params)))
                theirs.append(list(got.terms)[:len(c.params)] + [0.0] * (6 - len(c.params)))
        for c in prof.vignetting:
            got = lf.interpolate_vignetting(c.focal, c.aperture, c.distance)
            ours.append(list(c.params.values()) + [0.0] * 3)
            theirs.append(list(got.terms) + [0.0] * 3)
    assert len(ours) > 30000
    np.testing.assert_array_equal(np.array(ours, np.float32), np.array(theirs, np.float32))


def test_cameras_and_mounts_equal_lensfunpy(doc, lfdb):
    def variant(cam):
        tagged = [a for a in cam.aliases if a.startswith(cam.model + " (")]
        return tagged[0][len(cam.model) + 2:-1] if tagged else None

    ours = collections.Counter((c.maker, c.model, variant(c), c.mount, float(F32(c.crop_factor)))
                               for c in doc.cameras)
    theirs = collections.Counter((c.maker, c.model, c.variant, c.mount, float(F32(c.crop_factor)))
                                 for c in lfdb.cameras)
    assert ours == theirs
    assert {m.name: list(m.compatible) for m in doc.mounts} == {m.name: m.compat for m in lfdb.mounts}


def test_aspect_ratios_lensfunpy_does_not_expose(doc):
    by_name = {(x.maker, x.model, x.profile.crop_factor): x.profile.aspect_ratio for x in doc.lenses}
    assert by_name[("Olympus", "Olympus M.Zuiko Digital ED 12-40mm f/2.8 Pro", 2.0)] == 4 / 3
    assert by_name[("Panasonic", "Leica DG Summilux 25mm f/1.4 Asph.", 2.0)] == 4 / 3
    assert by_name[("DJI", "FC6310 & compatibles", 2.73)] == 16 / 9
    assert by_name[("Schneider", "Schneider 80mm Xenotar f/2.8", 0.51)] == 1.0
    assert by_name[("Leica Camera AG", "Summicron-M 1:2/28 ASPH.", 1.0)] == 1.5
    ratios = collections.Counter(round(v, 4) for v in by_name.values())
    declared = sum(n for r, n in ratios.items() if r != 1.5)
    assert 300 <= declared <= 360, ratios


def test_provenance_and_sources(doc):
    lens = next(x for x in doc.lenses if x.model == "Summicron-M 1:2/28 ASPH.")
    assert lens.source.endswith("rf-leica.xml") and lens.profile.source == lens.source
    assert lens.profile.provenance.source == "lensfun XML, rf-leica.xml"
    custom = read_lensfun_xml(DB_DIR / "rf-leica.xml",
                              provenance=lambda path: Provenance(source=f"from {path.rsplit('/', 1)[-1]}",
                                                                 licence="CC-BY-SA-3.0"))
    assert {x.profile.provenance for x in custom.lenses} == {Provenance(source="from rf-leica.xml",
                                                                        licence="CC-BY-SA-3.0")}


def test_lensfun_replaces_the_same_lens_within_001_crop(doc):
    pentax = [x for x in doc.lenses if x.model == "smc Pentax-DA 55-300mm f/4-5.8 ED"]
    assert [(x.profile.crop_factor, x.mounts, x.calibrated) for x in pentax] == [(1.522, ("Pentax KAF",), False)]
    assert any("smc Pentax-DA 55-300mm f/4-5.8 ED" in r for r in doc.replaced)
    sony = sorted(x.profile.crop_factor for x in doc.lenses if x.model == "FE 24-70mm f/4 ZA OSS")
    assert sony == [1.0, 1.534]


# -- lensfun's lens-name parsing and parameter guess ------------------------------------------------------


@pytest.mark.parametrize("name, expected", [
    ("Summicron-M 1:2/28 Asph.", (28.0, None, 2.0)),
    ("Canon EF 24-70mm f/2.8L USM", (24.0, 70.0, 2.8)),
    ("Nikkor 1:1.4 50mm", (50.0, None, 1.4)),
    ("Zeiss Batis 2.8/18", (18.0, None, 2.8)),
    ("Olympus M.Zuiko Digital ED 14-42mm f/3.5-5.6", (14.0, 42.0, 3.5)),
    ("Fisheye converter", (None, None, None)),
])
def test_parse_lens_name(name, expected):
    assert parse_lens_name(name) == expected


def test_guess_keeps_given_values_and_widens_by_calibrations():
    assert guess_lens_parameters("Foo 24-70mm f/2.8", calibration_focals=[20, 28]) == (20.0, 70.0, 2.8, 0.0)
    assert guess_lens_parameters("Foo 24-70mm f/2.8", focal_min=24, focal_max=70, aperture_min=2.8,
                                 calibration_focals=[20]) == (24, 70, 2.8, 0.0)
    assert guess_lens_parameters("Foo 1.4x extender", calibration_focals=[50]) == (50.0, 50.0, 0.0, 0.0)
    assert guess_lens_parameters("Lens", calibration_focals=[35], calibration_apertures=[2, 16]) == (35, 35, 2, 16)


# -- small files the tests write ----------------------------------------------------------------------------


def xml_lens(body: str, *, head: str = "<maker>Acme</maker><model>Acme 50mm f/2</model>"
             "<mount>Leica M</mount><cropfactor>1</cropfactor>") -> str:
    return f'<lensdatabase version="1"><lens>{head}{body}</lens></lensdatabase>'


def test_snippet_names_variants_extras_and_defaults():
    text = """<lensdatabase version="1">
      <mount><name>Acme X</name><name lang="de">Acme-X-Bajonett</name><compat>Leica M</compat></mount>
      <camera><maker>ACME CORP.</maker><maker lang="en">Acme</maker><model>  X1</model>
        <model lang="en">Acme X1</model><variant>16:9</variant><mount>Acme X</mount><cropfactor>2.5</cropfactor>
      </camera>
      <lens><maker>Acme</maker><model>Old name</model><model>Acme 1:2/35</model><model lang="de">Acme Zwei</model>
        <mount>Acme X</mount><mount>Leica M</mount><type>FISHEYE</type><center x="0.01" y="-0.02"/>
        <cropfactor>1.5</cropfactor><aspect-ratio>16:9</aspect-ratio>
        <calibration>
          <distortion model="poly3" focal="35" k1="0.1"/>
          <distortion model="ptlens" focal="35" b="0.02"/>
          <tca model="poly3" focal="35" vr="1.001" br="0.0002"/>
          <distortion model="poly5" focal="40" a="0.1" b="0.2"/>
          <vignetting model="pa" focal="35" aperture="2" distance="10" k1="-0.3"/>
          <vignetting model="pa" focal="35" aperture="2" distance="10" k1="-0.4" k2="0.1"/>
          <distortion focal="40"/>
          <real-focal-length focal="35" real-focal="34.2"/>
          <field_of_view focal="35" fov="62"/>
          <crop focal="35" mode="crop_circle" left="0.1" right="0.9" top="0" bottom="1"/>
        </calibration>
      </lens></lensdatabase>"""
    d = parse_lensfun_xml(text, source="snippet.xml")
    (mount,), (cam,), (lens,) = d.mounts, d.cameras, d.lenses
    assert mount == Mount(name="Acme X", compatible=("Leica M",), aliases=("Acme-X-Bajonett",))
    assert (cam.maker, cam.model, cam.mount, cam.crop_factor) == ("ACME CORP.", "X1", "Acme X", 2.5)
    assert cam.aliases == ("Acme X1", "X1 (16:9)")
    assert d.maker_names["ACME CORP."] == (("en", "Acme"),)
    assert d.languages["Acme Zwei"] == "de"
    assert (lens.model, lens.aliases, lens.mounts) == ("Acme 1:2/35", ("Acme Zwei",), ("Acme X", "Leica M"))
    assert (lens.lens_type, lens.focal_min, lens.focal_max, lens.aperture_max, lens.aperture_min) == (
        "fisheye", 35.0, 40.0, 2.0, None)
    prof = lens.profile
    assert (prof.crop_factor, prof.aspect_ratio, prof.center) == (1.5, 16 / 9, (0.01, -0.02))
    # the ptlens entry replaced the poly3 one in place; "none" at 40 mm replaced poly5 and is dropped
    assert prof.calibrations == (
        Calibration("distortion", "ptlens", 35, {"a": 0, "b": 0.02, "c": 0}),
        Calibration("tca", "poly3", 35, {"vr": 1.001, "vb": 1, "cr": 0, "cb": 0, "br": 0.0002, "bb": 0}),
        Calibration("vignetting", "pa", 35, {"k1": -0.4, "k2": 0.1, "k3": 0}, aperture=2, distance=10),
    )
    ex = d.extras[lens]
    assert ex.real_focal == ((35.0, 34.2),) and ex.field_of_view == ((35.0, 62.0),)
    assert ex.crop == ((35.0, "crop_circle", 0.1, 0.9, 0.0, 1.0),)
    # and back: identical objects, extras and names
    again = parse_lensfun_xml(d.to_xml(), source="snippet.xml")
    assert (again.mounts, again.cameras, again.lenses) == (d.mounts, d.cameras, d.lenses)
    assert dict(again.extras) == dict(d.extras) and dict(again.maker_names) == dict(d.maker_names)


ROUND_TRIP_PROVENANCE = Provenance(source="lensfun", licence="CC-BY-SA-3.0")


@pytest.fixture(scope="module")
def written():
    """(file, document read from it, our XML for that document) for every bundled file."""
    out = []
    for path in DB_FILES:
        d = read_lensfun_xml(path, source="same", provenance=ROUND_TRIP_PROVENANCE)
        out.append((path, d, d.to_xml()))
    return out


def test_written_xml_loads_in_lensfunpy_identically(tmp_path, written):
    """Every bundled file, written by our writer, loads in lensfunpy to the same lenses and calibrations."""
    for i, (_, _, xml) in enumerate(written):
        (tmp_path / f"{i:02d}.xml").write_text(xml, encoding="utf-8")
    mine = lensfunpy.Database(paths=sorted(str(p) for p in tmp_path.glob("*.xml")), load_bundled=False,
                              load_common=False)
    orig = lensfunpy.Database(load_common=False)

    def summary(db):
        lenses = sorted((x.maker, x.model, float(F32(x.crop_factor)), x.min_focal, x.max_focal, x.min_aperture,
                         tuple(x.mounts), x.type.name,
                         tuple((c.model.name, c.focal, tuple(c.terms)) for c in x.calib_distortion),
                         tuple((c.model.name, c.focal, tuple(c.terms)) for c in x.calib_tca),
                         tuple((c.focal, c.aperture, c.distance, tuple(c.terms)) for c in x.calib_vignetting))
                        for x in db.lenses)
        cams = sorted((c.maker, c.model, c.variant or "", c.mount, c.crop_factor) for c in db.cameras)
        return lenses, cams, sorted((m.name, tuple(m.compat)) for m in db.mounts)

    assert summary(mine) == summary(orig)


def test_round_trip_every_bundled_file_is_identical(written):
    total = 0
    for path, a, xml in written:
        b = parse_lensfun_xml(xml, source="same", provenance=ROUND_TRIP_PROVENANCE)
        assert (b.mounts, b.cameras, b.lenses) == (a.mounts, a.cameras, a.lenses), path
        assert dict(b.extras) == dict(a.extras) and dict(b.languages) == dict(a.languages), path
        assert dict(b.maker_names) == dict(a.maker_names), path
        total += len(a.lenses)
    assert total == len(lensfunpy.Database(load_common=False).lenses)  # no entry replaced across files


_num = st.floats(min_value=-0.5, max_value=0.5, allow_nan=False, allow_subnormal=False)
_pos = st.floats(min_value=0.5, max_value=2000, allow_nan=False)


@st.composite
def lenses(draw):
    cals = []
    for focal in draw(st.lists(_pos, min_size=0, max_size=4, unique_by=lambda f: float(F32(f)))):
        kind, model = draw(st.sampled_from(sorted(MODEL_PARAMS)))
        params = {p: draw(_num) for p in MODEL_PARAMS[(kind, model)]}
        if kind == "vignetting":
            cals.append(Calibration(kind, model, focal, params, aperture=draw(_pos), distance=draw(_pos)))
        elif not any(c.kind == kind and F32(c.focal) == F32(focal) for c in cals):
            cals.append(Calibration(kind, model, focal, params))
    fmin = draw(_pos)
    prof = LensProfile(crop_factor=draw(_pos), aspect_ratio=draw(st.sampled_from([1.5, 4 / 3, 16 / 9, 1.0, 1.25])),
                       center=(draw(_num), draw(_num)), calibrations=tuple(cals), source="h.xml")
    words = st.text(alphabet="abcXYZ -_/.:&<>\"'é", min_size=1, max_size=12).map(lambda s: "L" + s.strip())
    return Lens(maker=draw(words), model=draw(words), mounts=tuple(draw(st.lists(words, min_size=1, max_size=2))),
                aliases=tuple(draw(st.lists(words, max_size=2, unique=True))),
                lens_type=draw(st.sampled_from(["rectilinear", "fisheye", "equisolid"])),
                focal_min=fmin, focal_max=fmin * draw(st.sampled_from([1.0, 2.5])),
                aperture_max=draw(_pos), profile=prof, source="h.xml")


@settings(max_examples=60, deadline=None)
@given(lenses())
def test_round_trip_property(lens):
    lens_aliases = tuple(a for a in dict.fromkeys(lens.aliases) if a != lens.model)
    lens = Lens(**{**lens.__dict__, "aliases": lens_aliases})
    back = parse_lensfun_xml(to_lensfun_xml([lens]), source="h.xml", provenance=Provenance())
    assert back.lenses == (lens,)


# -- malformed input ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("text, field, words", [
    (xml_lens("<calibration><distortion model='poly3' focal='28' k1='NaN'/></calibration>"),
     "lensdatabase/lens[1][Acme 50mm f/2]/calibration[1]/distortion[1]/@k1", "finite"),
    (xml_lens("<calibration><distortion model='poly7' focal='28' k1='0.1'/></calibration>"),
     "lensdatabase/lens[1][Acme 50mm f/2]/calibration[1]/distortion[1]/@model", "poly7"),
    (xml_lens("<calibration><tca model='linear' focal='abc' kr='1'/></calibration>"),
     "lensdatabase/lens[1][Acme 50mm f/2]/calibration[1]/tca[1]/@focal", "decimal number"),
    (xml_lens("<calibration><vignetting model='pa' focal='28' distance='10' k1='0'/></calibration>"),
     "lensdatabase/lens[1][Acme 50mm f/2]/calibration[1]/vignetting[1]/@aperture", "missing"),
    (xml_lens("<calibration><vignetting model='pa' focal='28' aperture='2' distance='-1' k1='0'/></calibration>"),
     "lensdatabase/lens[1][Acme 50mm f/2]/calibration[1]/vignetting[1]/@distance", "positive"),
    (xml_lens("<calibration><distortion model='ptlens' focal='28' d='0.1'/></calibration>"),
     "lensdatabase/lens[1][Acme 50mm f/2]/calibration[1]/distortion[1]/@d", "no attribute"),
    (xml_lens("<colour>red</colour>"), "lensdatabase/lens[1][Acme 50mm f/2]/colour", "unexpected element"),
    (xml_lens("<aspect-ratio>2:3</aspect-ratio>"), "lensdatabase/lens[1][Acme 50mm f/2]/aspect-ratio[1]", "below 1"),
    (xml_lens("<type>pinhole</type>"), "lensdatabase/lens[1][Acme 50mm f/2]/type[1]", "unknown lens type"),
    (xml_lens("", head="<maker>A</maker><model>A 50mm</model><mount>M</mount>"),
     "lensdatabase/lens[1][A 50mm]", "no <cropfactor>"),
    (xml_lens("", head="<maker>A</maker><model>A 50mm</model><cropfactor>1</cropfactor>"),
     "lensdatabase/lens[1][A 50mm]", "no <mount>"),
    (xml_lens("<focal min='70' max='24'/>"), "lensdatabase/lens[1][Acme 50mm f/2]/focal", "above"),
    ('<lensdatabase version="2"></lensdatabase>', "lensdatabase/@version", "version 2"),
    ("<lenses></lenses>", "lenses", "expected <lensdatabase>"),
    ("<lensdatabase><camera><maker>A</maker><model>B</model><cropfactor>1</cropfactor></camera></lensdatabase>",
     "lensdatabase/camera[1][B]", "no <mount>"),
])
def test_bad_values_name_file_and_field(tmp_path, text, field, words):
    path = tmp_path / "bad.xml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ProfileError) as err:
        read_lensfun_xml(path)
    assert err.value.source == str(path)
    assert err.value.field == field
    assert str(path) in str(err.value) and words in str(err.value)


def test_truncated_empty_and_unsafe_xml(tmp_path):
    good = (DB_DIR / "rf-leica.xml").read_text(encoding="utf-8")
    cases = {
        "truncated.xml": (good[: len(good) // 2], "malformed XML at line"),
        "empty.xml": ("", "empty"),
        "bomb.xml": ('<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]>'
                     "<lensdatabase>&b;</lensdatabase>", "refused unsafe XML"),
        "external.xml": ('<?xml version="1.0"?><!DOCTYPE l [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
                         "<lensdatabase>&x;</lensdatabase>", "refused unsafe XML"),
    }
    for name, (text, words) in cases.items():
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        with pytest.raises(ProfileError, match=words) as err:
            read_lensfun_xml(path)
        assert err.value.source == str(path), name
    with pytest.raises(ProfileError, match="no such"):
        read_lensfun_xml(tmp_path / "missing.xml")


# -- writer ------------------------------------------------------------------------------------------------------


def test_writer_refuses_what_lensfun_cannot_hold():
    prof = LensProfile(crop_factor=1.0, calibrations=(Calibration("distortion", "division", 28, {"k": 0.1}),))
    with pytest.raises(ProfileError, match="division.*no lensfun equivalent"):
        to_lensfun_xml([Lens("A", "A 28", mounts=("Leica M",), profile=prof)])
    with pytest.raises(ProfileError, match="no mount"):
        to_lensfun_xml([Lens("A", "A 28", profile=LensProfile(crop_factor=1.0))])
    with pytest.raises(ProfileError, match="no profile"):
        to_lensfun_xml([Lens("A", "A 28", mounts=("Leica M",))])
    bad = LensProfile(crop_factor=1.0, calibrations=(Calibration("distortion", "poly3", 28, {"k1": 0.1, "k9": 1}),))
    with pytest.raises(ProfileError, match="k9"):
        to_lensfun_xml([Lens("A", "A 28", mounts=("Leica M",), profile=bad)])
    with pytest.raises(ProfileError, match="no mount"):
        to_lensfun_xml(cameras=[Camera("A", "B", crop_factor=1.0)])


def test_write_is_atomic_and_never_overwrites(tmp_path, doc):
    lens = next(x for x in doc.lenses if x.model == "Summicron-M 1:2/28 ASPH.")
    path = tmp_path / "out.xml"
    write_lensfun_xml(path, [lens])
    first = path.read_bytes()
    with pytest.raises(MountkitError, match="already exists"):
        write_lensfun_xml(path, [lens, lens])
    assert path.read_bytes() == first
    write_lensfun_xml(path, [lens], force=True)
    assert [p.name for p in tmp_path.iterdir()] == ["out.xml"]  # no temporary file left behind
    back = read_lensfun_xml(path, source=lens.source, provenance=lens.profile.provenance)
    assert back.lenses == (lens,)
    lf = lensfunpy.Database(paths=[str(path)], load_bundled=False, load_common=False).lenses
    assert [(x.model, x.crop_factor, [c.focal for c in x.calib_distortion]) for x in lf] == [
        ("Summicron-M 1:2/28 ASPH.", 1.0, [28.0])]
    assert math.isclose(lf[0].calib_distortion[0].terms[1], lens.profile.distortion[0].params["b"], rel_tol=1e-7)
