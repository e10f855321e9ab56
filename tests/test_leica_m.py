"""The first-party Leica M plugin: mounts, bodies, the 6-bit code table, identification."""

from __future__ import annotations

import dataclasses
import doctest
import importlib.metadata as md
import math
import warnings
from pathlib import Path

import defusedxml.ElementTree as ET
import lensfunpy
import pytest
from hypothesis import given
from hypothesis import strategies as st

import mountkit_leica_m
from mountkit import Calibration, Kit, Lens, LensProfile, LensSource, PluginWarning, ProfileError, Provenance, hookimpl
from mountkit_leica_m import hardware, identification, lens_codes
from mountkit_leica_m.lens_codes import code_table, decode_lens_type, parse_code_table

LEICA = "Leica Camera AG"
LENSFUN_DB = Path(lensfunpy.__file__).parent / "db_files"


@pytest.fixture(scope="module")
def kit() -> Kit:
    return Kit(plugins=[mountkit_leica_m], entry_points=False, builtins=False)


def full_frame_diagonal_ratio(w: float, h: float) -> float:
    return math.sqrt(36.0**2 + 24.0**2) / math.sqrt(w * w + h * h)


# -- bodies -------------------------------------------------------------------------


def test_crop_factors_come_from_sensor_sizes(kit):
    xiaomi = kit.camera("Xiaomi 12S Ultra Concept")
    assert xiaomi.sensor_size == pytest.approx((13.1072, 9.8304), abs=1e-9)
    assert xiaomi.resolution == (8192, 6144) and xiaomi.bit_depth == 10
    assert xiaomi.pixel_pitch == pytest.approx(1.6)
    assert xiaomi.crop_factor == pytest.approx(2.64, abs=0.01)
    assert kit.camera("Leica M8").crop_factor == pytest.approx(1.33, abs=0.01)
    assert kit.camera("Epson R-D1").crop_factor == pytest.approx(1.53, abs=0.01)
    assert kit.camera("Leica M10").crop_factor == pytest.approx(1.0, abs=1e-12)
    for cam in kit.cameras():
        assert cam.mount == "Leica M"
        assert cam.crop_factor == pytest.approx(full_frame_diagonal_ratio(*cam.sensor_size), rel=1e-12)
        if cam.maker == LEICA and cam.model != "M8 Digital Camera":
            assert cam.crop_factor == pytest.approx(1.0, abs=1e-12), cam.name


def test_bodies_are_found_by_their_exif_make_and_model(kit):
    # EXIF Make/Model strings as rawspeed's cameras.xml records them
    for make, model in [(LEICA, "M8 Digital Camera"), (LEICA, "M9 Digital Camera"), (LEICA, "LEICA M (Typ 240)"),
                        (LEICA, "LEICA M10"), (LEICA, "LEICA M10-R"), (LEICA, "LEICA M11"),
                        (LEICA, "LEICA M11 Monochrom"), ("SEIKO EPSON CORP.", "R-D1"),
                        ("SEIKO EPSON CORP.", "R-D1x")]:
        cam = kit.camera(model, maker=make)
        assert (cam.maker, cam.model) == (make, model)
    assert kit.camera("Leica M9-P").model == "M9 Digital Camera"
    assert kit.camera("LEICA M10").model == "LEICA M10"


def test_every_lensfun_m_mount_body_resolves_to_ours_with_lensfuns_crop(kit):
    """lensfun is the oracle: its M-mount cameras, by its names, with its crop factors."""
    db = lensfunpy.Database()
    lensfun_bodies = [c for c in db.cameras if c.mount == "Leica M"]
    assert len(lensfun_bodies) >= 10
    for lf in lensfun_bodies:
        ours = kit.camera(lf.model, maker=lf.maker)
        assert ours.source == "mountkit_leica_m"
        assert ours.crop_factor == pytest.approx(lf.crop_factor, rel=0.01), lf.model
    assert kit.camera("Leica M10") is kit.camera("LEICA M10", maker=LEICA)


def test_resolutions_agree_with_sensor_aspect(kit):
    for cam in kit.cameras():
        if cam.resolution is None:
            continue
        w, h = cam.resolution
        # pixels are square within 1.5 % (nominal sensor sizes are rounded)
        assert (w / h) / (cam.sensor_width / cam.sensor_height) == pytest.approx(1.0, abs=0.015), cam.name


# -- mounts -------------------------------------------------------------------------


def test_mounts_and_flange_distances(kit):
    m = kit.mount("Leica M")
    assert m.flange_distance == pytest.approx(27.80)
    assert m.throat_diameter == pytest.approx(44.0)
    assert "no electrical contacts" in m.notes
    ltm = kit.mount("M39/1")
    assert ltm.flange_distance == pytest.approx(28.80)
    for alias in ("Leica M39", "LTM", "leica thread mount"):
        assert kit.mount(alias) is ltm
    assert ltm.flange_distance - m.flange_distance == pytest.approx(1.0, abs=1e-9)
    assert hardware.LTM_TO_M_ADAPTER_MM == pytest.approx(1.0, abs=1e-9)
    assert "M39/1" in m.compatible
    assert "39 mm x 26 threads per inch" in ltm.notes


def test_mount_names_and_compatibility_are_lensfuns():
    """Our mount names exist in lensfunpy's bundled XML, and "Leica M" declares lensfun's compat list."""
    declared: dict[str, list[str]] = {}
    for xml in sorted(LENSFUN_DB.glob("*.xml")):
        for mount in ET.parse(xml).getroot().iter("mount"):
            name = mount.findtext("name")
            if name:
                declared.setdefault(name, []).extend(c.text for c in mount.findall("compat"))
    ours = {m.name: m for m in hardware.mounts()}
    assert set(ours) <= set(declared)
    assert set(ours["Leica M"].compatible) == set(declared["Leica M"])


# -- the code table -----------------------------------------------------------------


def test_code_table_parses_with_every_entry():
    table = code_table()
    assert table.source["repository"] == "exiftool/exiftool"
    assert table.source["path"] == "lib/Image/ExifTool/Panasonic.pm"
    assert len(table.source["commit"]) == 40
    assert len(table.entries) == 58
    assert len(table.by_key) == 58
    bare = sorted(e.code for e in table.entries if e.bits is None)
    assert bare == [1, 3, 4, 5, 6, 7, 9, 11, 12, 16, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37,
                    38, 39, 40, 41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, 52, 53, 58]
    exact = sorted(e.key for e in table.entries if e.bits is not None)
    assert exact == sorted(["0 0", "6 0", "9 0", "16 1", "16 2", "16 3", "29 0", "31 0", "39 0", "41 3",
                            "42 1", "42 2", "42 3", "51 2", "53 2", "53 3"])
    assert table.by_key["29"].name == "Summilux-M 35mm f/1.4 ASPH."
    assert table.by_key["29"].catalogue == ("11874", "11883")
    assert table.by_key["58"].name == "Noctilux-M 75mm f/1.25 ASPH."
    assert table.by_key["0 0"].name == "Uncoded lens" and table.by_key["0 0"].lens_name is None
    assert len(table.frame_selector_bits) == 38
    assert all(str(code) in table.by_key for code in table.frame_selector_bits)


def test_every_coded_lens_is_an_uncalibrated_identity(kit):
    lenses = kit.lenses()
    assert len(lenses) == 48  # 58 entries - uncoded - 6 "(at NNmm)" - 3 names repeated under other keys
    assert all(not lens.calibrated and lens.profile is None for lens in lenses)
    assert all(lens.maker == "Leica" and lens.mounts == ("Leica M",) and lens.source == "leica_m"
               for lens in lenses)
    names = {lens.model for lens in lenses}
    assert names == {e.lens_name for e in code_table().entries if e.lens_name}
    summilux = kit.lens("Summilux-M 1:1.4/35 ASPH.")  # Leica's spelling is an alias
    assert summilux.model == "Summilux-M 35mm f/1.4 ASPH."
    assert (summilux.focal_min, summilux.focal_max, summilux.aperture_max, summilux.leica_code) == (35, 35, 1.4, 29)
    tri = kit.lens("Tri-Elmar-M 16-18-21mm f/4 ASPH.")
    assert (tri.focal_min, tri.focal_max, tri.aperture_max) == (16, 21, 4)
    assert kit.lens("Noctilux-M 50mm f/0.95 ASPH.").aperture_max == 0.95
    assert kit.lens("Apo-Telyt-M 135mm f/3.4").leica_code == 53  # also code 9 with low bits 0
    adapter = kit.lens("Macro-Adapter M")
    assert adapter.focal_min is None and adapter.leica_code == 40


def _table_text() -> str:
    return (Path(mountkit_leica_m.__file__).parent / lens_codes.TABLE_FILE).read_text(encoding="utf-8")


@pytest.mark.parametrize("bad, message", [
    ('[[lens_type]]\nkey = "29"\nname = "A-M 35mm f/2"\n[[lens_type]]\nkey = "29"\nname = "B-M 35mm f/2"\n',
     "key '29' appears twice"),
    ('[[lens_type]]\nkey = "29 x"\nname = "A-M 35mm f/2"\n', "key must look like"),
    ('[[lens_type]]\nkey = "64"\nname = "A-M 35mm f/2"\n', "not a 6-bit value"),
    ('[[lens_type]]\nkey = "7"\nname = "Summicron-M fast"\n', "cannot read focal length"),
    ('[[lens_type]]\nkey = "7"\nname = ""\n', "non-empty name"),
    ("[[lens_type]\n", "not valid TOML"),
])
def test_malformed_code_tables_are_refused_naming_the_fault(bad, message):
    with pytest.raises(ProfileError, match=message) as err:
        parse_code_table(bad, source="codes.toml")
    assert "codes.toml" in str(err.value)


def test_shipped_table_text_round_trips_through_the_parser():
    assert parse_code_table(_table_text()) == code_table()


# -- decoding LensType --------------------------------------------------------------

REAL_VALUES = [
    # stored value, ExifTool's "code bits", printed name, focal selected, frame lines
    (118, "29 2", "Summilux-M 35mm f/1.4 ASPH.", None, "24/35 mm"),
    (116, "29 0", "Summilux-M 35mm f/1.4 ASPHERICAL", None, None),
    (26, "6 2", "Summicron-M 35mm f/2 (IV)", None, "24/35 mm"),
    (24, "6 0", "Summilux-M 35mm f/1.4", None, None),
    (105, "26 1", "Summicron-M 28mm f/2 ASPH.", None, "28/90 mm"),
    (65, "16 1", "Tri-Elmar-M 16-18-21mm f/4 ASPH. (at 16mm)", 16.0, None),
    (66, "16 2", "Tri-Elmar-M 16-18-21mm f/4 ASPH. (at 18mm)", 18.0, None),
    (67, "16 3", "Tri-Elmar-M 16-18-21mm f/4 ASPH. (at 21mm)", 21.0, None),
    (64, "16 0", "Tri-Elmar-M 16-18-21mm f/4 ASPH.", None, None),
    (169, "42 1", "Tri-Elmar-M 28-35-50mm f/4 ASPH. (at 28mm)", 28.0, None),
    (171, "42 3", "Tri-Elmar-M 28-35-50mm f/4 ASPH. (at 50mm)", 50.0, None),
    (124, "31 0", "Noctilux-M 50mm f/1.2", None, None),
    (127, "31 3", "Noctilux-M 50mm f/1", None, "50/75 mm"),
    (205, "51 1", "Super-Elmar-M 21mm f/3.4 Asph", None, "28/90 mm"),
    (206, "51 2", "Super-Elmar-M 14mm f/3.8 Asph", None, None),
    (156, "39 0", "Tele-Elmar-M 135mm f/4 (II)", None, None),
    (157, "39 1", "Macro-Elmar-M 90mm f/4", None, "28/90 mm"),
    (215, "53 3", "Apo-Summicron-M 50mm f/2 (VI)", None, None),
    (233, "58 1", "Noctilux-M 75mm f/1.25 ASPH.", None, "28/90 mm"),
]


@pytest.mark.parametrize("value, pair, name, focal, frames", REAL_VALUES)
def test_real_lenstype_values_decode_as_exiftool_prints_them(value, pair, name, focal, frames):
    for form in (value, str(value), pair, tuple(int(x) for x in pair.split()), [value], float(value),
                 str(value).encode()):
        got = decode_lens_type(form)
        assert got is not None, form
        assert got.name == name, form
        assert got.value == value
        assert got.focal == focal
        assert got.frame_lines == frames
    printed = decode_lens_type(name)
    assert printed.name == name and printed.lens_name == decode_lens_type(value).lens_name


def test_unknown_and_uncoded_values():
    assert decode_lens_type(0).name == "Uncoded lens" and decode_lens_type(0).lens_name is None
    for value in (1, 2, 3, 240, 255, "60 1", "Unknown (60 1)", "0 2"):
        got = decode_lens_type(value)
        assert got is not None and got.entry is None, value
    for value in (None, "", "banana", -4, True, [1, 2, 3], 3.5, "29 7"):
        assert decode_lens_type(value) is None, value


@given(st.integers(min_value=0, max_value=(1 << 20) - 1))
def test_every_form_of_a_value_decodes_alike(value):
    code, bits = (value >> 2) & 0xFFFF, value & 3
    as_int = decode_lens_type(value)
    assert (as_int.code, as_int.bits) == (code, bits)
    for form in (str(value), f"{code} {bits}", (code, bits)):
        assert decode_lens_type(form).entry == as_int.entry
    if code >= 64:
        assert as_int.entry is None
    if as_int.name is not None:  # ExifTool's printed name leads back to the same lens
        assert decode_lens_type(as_int.name).lens_name == as_int.lens_name


def test_default_frame_selector_bits_decode_to_the_bare_entry():
    """ExifTool writes code << 2 | frameSelectorBits[code]; reading it back names the same lens."""
    table = code_table()
    for code, bits in table.frame_selector_bits.items():
        assert decode_lens_type(code << 2 | bits).lens_name == table.by_key[str(code)].lens_name, code


# -- identification -----------------------------------------------------------------


def test_identify_leica_metadata_in_isolation(kit):
    m9 = {"Make": LEICA, "Model": "M9 Digital Camera", "LensType": "Summicron-M 28mm f/2 ASPH.",
          "FocalLength": 28.0, "FNumber": 2.8}
    lens = kit.identify(m9)
    assert (lens.maker, lens.model, lens.mounts) == ("Leica", "Summicron-M 28mm f/2 ASPH.", ("Leica M",))
    assert (lens.focal_min, lens.focal_max, lens.aperture_max, lens.leica_code) == (28, 28, 2, 26)
    assert not lens.calibrated
    m8 = {"Make": LEICA, "Model": "M8 Digital Camera", "LensType": 118, "FocalLength": 35.0}
    assert kit.identify(m8).model == "Summilux-M 35mm f/1.4 ASPH."
    m9n = {"Make": LEICA, "Model": "M9 Digital Camera", "LensType": "16 2"}  # exiftool -n
    assert kit.identify(m9n).model == "Tri-Elmar-M 16-18-21mm f/4 ASPH."
    # later bodies write Leica's spelling (LensModel of an M Monochrom Typ 246 / M11 DNG)
    m246 = {"Make": LEICA, "Model": "LEICA M MONOCHROM (Typ 246)", "LensModel": "Summilux-M 1:1.4/35 ASPH."}
    assert kit.identify(m246).model == "Summilux-M 35mm f/1.4 ASPH."
    m11 = {"Make": LEICA, "Model": "LEICA M11", "LensModel": "SUMMILUX-M 1:1.4/35 ASPH.", "FocalLength": 35}
    assert kit.identify(m11).model == "Summilux-M 35mm f/1.4 ASPH."
    m240 = {"Make": LEICA, "Model": "LEICA M (Typ 240)", "LensType": "Noctilux-M 1:0.95/50 ASPH."}
    assert kit.identify(m240).leica_code == 49
    # PyExifTool's group-prefixed keys
    grouped = {"EXIF:Make": LEICA, "EXIF:Model": "M9 Digital Camera", "MakerNotes:LensType": "42 2"}
    assert kit.identify(grouped).model == "Tri-Elmar-M 28-35-50mm f/4 ASPH."


def test_identify_gives_none_when_it_cannot_be_sure(kit):
    leica = {"Make": LEICA, "Model": "M9 Digital Camera"}
    assert kit.identify({**leica, "LensType": 0}) is None  # uncoded
    assert kit.identify({**leica, "LensType": "Uncoded lens"}) is None
    assert kit.identify({**leica, "LensType": "Unknown (60 1)"}) is None
    assert kit.identify(leica) is None
    # two optical designs are coded as Summicron-M 50 mm f/2 (23 and 33): the name alone is ambiguous
    assert kit.identify({**leica, "LensModel": "Summicron-M 1:2/50"}) is None
    # other makers' LensType numbers mean something else
    assert kit.identify({"Make": "Canon", "Model": "Canon EOS 5D", "LensType": 118}) is None
    assert kit.identify({"LensType": 118}) is None
    assert kit.identify({"Make": "Xiaomi", "Model": "2203121C", "LensModel": "Summilux-M 1:1.4/35 ASPH."}) is None
    # an ExifTool printed name is unambiguous whatever the body
    assert kit.identify({"LensType": "Summilux-M 35mm f/1.4 ASPH."}).leica_code == 29


def test_every_unknown_code_identifies_nothing(kit):
    table = code_table()
    known = {e.code for e in table.entries if e.lens_name}
    for code in range(64):
        for bits in range(4):
            lens = kit.identify({"Make": LEICA, "Model": "M9 Digital Camera", "LensType": code << 2 | bits})
            expected = lens_codes.lookup(code, bits).lens_name
            if code not in known:
                assert lens is None
            assert (lens.model if lens else None) == expected


# -- identification with calibrated profiles ----------------------------------------

_MODELS = {lensfunpy.DistortionModel.POLY3: ("poly3", ("k1",)),
           lensfunpy.DistortionModel.POLY5: ("poly5", ("k1", "k2")),
           lensfunpy.DistortionModel.PTLENS: ("ptlens", ("a", "b", "c"))}


def lensfun_m_lenses() -> list[Lens]:
    """lensfunpy's bundled Leica M lenses with their distortion calibration, as mountkit lenses."""
    out = []
    for lf in lensfunpy.Database().lenses:
        if "Leica M" not in [str(m) for m in lf.mounts]:
            continue
        cal = lf.interpolate_distortion(lf.min_focal)
        if cal is None or cal.model not in _MODELS:
            continue
        model, names = _MODELS[cal.model]
        profile = LensProfile(
            crop_factor=lf.crop_factor,
            calibrations=(Calibration("distortion", model, lf.min_focal, dict(zip(names, cal.terms))),),
            provenance=Provenance(source="lensfun database bundled with lensfunpy", licence="CC-BY-SA-3.0"))
        out.append(Lens(maker=lf.maker, model=lf.model, mounts=tuple(str(m) for m in lf.mounts),
                        focal_min=lf.min_focal, focal_max=lf.max_focal, aperture_max=lf.max_aperture,
                        profile=profile, source="lensfun-bundled"))
    return out


class Profiles:
    """A plugin with a lens source of given lenses."""

    def __init__(self, lenses, name="profiles", priority=90):
        self.lenses, self.name, self.priority = list(lenses), name, priority

    @hookimpl
    def mountkit_register_lens_sources(self, register):
        register(LensSource(self.name, lambda: self.lenses, priority=self.priority))


@pytest.fixture(scope="module")
def calibrated_kit() -> Kit:
    return Kit(plugins=[mountkit_leica_m, Profiles(lensfun_m_lenses())], entry_points=False, builtins=False)


@pytest.mark.parametrize("code, expected", [
    (26, "Summicron-M 1:2/28 ASPH."),
    (28, "Elmarit-M 1:2.8/28 ASPH."),
    (38, "Elmarit-M 1:2.8/90"),
    (33, "Summicron-M 1:2/50"),  # lensfun's entry names catalogue numbers 11819/11825/11826/11816 = code 33
])
def test_identify_returns_the_calibrated_profile_of_the_same_lens(calibrated_kit, code, expected):
    for bits in range(4):
        meta = {"Make": LEICA, "Model": "M9 Digital Camera", "LensType": code << 2 | bits}
        lens = calibrated_kit.identify(meta)
        assert lens.calibrated and lens.model == expected and lens.source == "lensfun-bundled", bits
        assert lens.maker == LEICA


def test_calibrated_matches_agree_with_lensfuns_own_lookup(calibrated_kit):
    """lensfun, asked with Leica's spelling of each version-less coded lens, finds the lens we return."""
    db = lensfunpy.Database()
    m9 = db.find_cameras(LEICA, "M9 Digital Camera")[0]
    checked = 0
    for lens in mountkit_leica_m.coded_lenses():
        spec = identification._lens_spec(lens.model)
        if spec is None or spec.version or spec.asph == "ASPHERICAL":
            continue
        ours = identification.calibrated_match(calibrated_kit, lens.model)
        found = [lf for lf in db.find_lenses(m9, None, spec.leica_style()) if "Leica" in lf.maker]
        exact = [lf for lf in found if lf.model.casefold() == spec.leica_style().casefold()]
        if exact:
            assert ours is not None and ours.model == exact[0].model, lens.model
            checked += 1
        else:
            assert ours is None, (lens.model, ours)
    assert checked == 3


def test_versioned_or_different_lenses_stay_uncalibrated(calibrated_kit):
    for code in (23, 3, 27, 29, 30, 32, 16):  # Summicron-M 50 (III), Elmarit-M 28 (III)/(IV), ...
        lens = calibrated_kit.identify({"Make": LEICA, "Model": "M9 Digital Camera", "LensType": code << 2})
        assert lens is not None and not lens.calibrated and lens.source == "leica_m", code
    assert calibrated_kit.identify({"Make": LEICA, "LensType": 23 << 2 | 3}).model == "Summicron-M 50mm f/2 (III)"


def test_profiles_that_contradict_the_code_are_not_used():
    real = {lens.model: lens for lens in lensfun_m_lenses()}["Summicron-M 1:2/28 ASPH."]
    decoys = [
        dataclasses.replace(real, focal_min=35.0, focal_max=35.0),  # wrong focal length
        dataclasses.replace(real, maker="Voigtlander"),  # not a Leica lens
        dataclasses.replace(real, mounts=("Sony E",)),  # another mount
        dataclasses.replace(real, aperture_max=2.8),  # wrong aperture
    ]
    for decoy in decoys:
        kit = Kit(plugins=[mountkit_leica_m, Profiles([decoy])], entry_points=False, builtins=False)
        lens = kit.identify({"Make": LEICA, "Model": "M9 Digital Camera", "LensType": 26 << 2 | 1})
        assert not lens.calibrated and lens.model == "Summicron-M 28mm f/2 ASPH.", decoy
    # a user profile (priority 10) spelled exactly like the coded lens is used, version mark and all
    mine = dataclasses.replace(real, model="Summicron-M 50mm f/2 (III)", focal_min=50.0, focal_max=50.0,
                               aperture_max=2.0, maker="Leica")
    kit = Kit(plugins=[mountkit_leica_m, Profiles([mine], priority=10)], entry_points=False, builtins=False)
    assert kit.identify({"Make": LEICA, "LensType": 23 << 2 | 3}) is mine


def test_identify_with_the_lensfun_plugin_when_installed():
    lensfun_plugin = pytest.importorskip("mountkit_lensfun")
    metadata = {"Make": LEICA, "Model": "M9 Digital Camera", "LensType": 26 << 2 | 1}
    kit = Kit(plugins=[mountkit_leica_m, lensfun_plugin], entry_points=False, builtins=False, warn=False)
    lens = kit.identify(metadata)
    assert lens.calibrated and lens.model == "Summicron-M 1:2/28 ASPH." and lens.source.endswith("rf-leica.xml")
    # with the built-ins, the shipped profile of the same lens (priority 50) wins over lensfun's (90)
    shipped = Kit(plugins=[mountkit_leica_m, lensfun_plugin], entry_points=False, warn=False).identify(metadata)
    assert shipped.calibrated and shipped.model.casefold() == "summicron-m 1:2/28 asph."
    assert shipped.source.endswith(".toml")


# -- loading ------------------------------------------------------------------------


def test_plugin_in_isolation(kit):
    infos = {i.name: i for i in kit.plugins(all=True)}
    assert list(infos) == ["mountkit_leica_m"]
    info = infos["mountkit_leica_m"]
    assert info.status == "ok" and info.error is None
    assert info.hooks == ("mountkit_register_cameras", "mountkit_register_identifiers",
                          "mountkit_register_lens_sources", "mountkit_register_mounts")
    assert [(i.name, i.priority) for i in kit.identifiers()] == [("leica_m", 20)]
    assert set(kit.mounts()) == {"Leica M", "M39/1"}


def test_plugin_loads_through_its_entry_point():
    eps = [ep for ep in md.entry_points(group="mountkit") if ep.name == "leica_m"]
    assert len(eps) == 1 and eps[0].value == "mountkit_leica_m"
    assert eps[0].load() is mountkit_leica_m
    only = Kit(builtins=False, env={"MOUNTKIT_LOAD_PLUGINS": "leica_m"})
    statuses = {i.name: i.status for i in only.plugins()}
    assert statuses["leica_m"] == "ok"
    assert {s for name, s in statuses.items() if name != "leica_m"} <= {"disabled"}
    assert only.mount("Leica M").source == "leica_m"
    blocked = Kit(builtins=False, env={"MOUNTKIT_DISABLE_PLUGINS": "leica_m", "MOUNTKIT_LOAD_PLUGINS": "leica_m"})
    assert {i.name: i.status for i in blocked.plugins()}["leica_m"] == "disabled"
    assert blocked.identify({"Make": LEICA, "LensType": 118}) is None


def test_default_kit_loads_the_plugin():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PluginWarning)  # other plugins' troubles are not this test's business
        kit = Kit()
    info = {i.name: i for i in kit.plugins()}["leica_m"]
    assert info.status == "ok", info.error
    assert info.distribution == "mountkit"
    lens = kit.identify({"Make": LEICA, "Model": "M8 Digital Camera", "LensType": 118})
    assert lens is not None and lens.leica_code == 29
    assert any(c.source == "leica_m" and c.model == "LEICA M10" for c in kit.cameras())


def test_doctests():
    for module in (mountkit_leica_m, lens_codes, identification):
        result = doctest.testmod(module)
        assert result.failed == 0 and result.attempted > 0, module.__name__
