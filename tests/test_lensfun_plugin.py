"""The lensfun database plugin (mountkit_lensfun): registration, look-up and identification.

Oracle: lensfunpy (lensfun 0.3.4): its database for the counts and its
``find_lenses`` for the search scores and order.
"""

from __future__ import annotations

import collections
import random

import lensfunpy
import mountkit_lensfun
import numpy as np
import pytest
from mountkit_lensfun import (
    bundled_database,
    find_camera,
    find_lenses,
    fuzzy_score,
    fuzzy_words,
    lens_pattern,
    score_lens,
)

import mountkit
from mountkit import Kit, Lens, LensProfile, LensSource, NotFoundError, hookimpl

F32 = np.float32


@pytest.fixture(scope="module")
def kit():
    """A kit with only this plugin: every lens it knows comes from the lensfun database."""
    return Kit(plugins=[mountkit_lensfun], entry_points=False, builtins=False)


@pytest.fixture(scope="module")
def lfdb():
    return lensfunpy.Database(load_common=False)


def key(maker, model, crop):
    return (maker, model, float(F32(crop)))


# -- registration -------------------------------------------------------------------------------------------


def test_loaded_as_an_entry_point_like_any_plugin():
    info = {p.name: p for p in Kit().plugins()}["lensfun"]
    assert info.status == "ok" and info.module == "mountkit_lensfun"
    assert set(info.hooks) == {"mountkit_register_mounts", "mountkit_register_cameras",
                               "mountkit_register_lens_sources", "mountkit_register_identifiers"}


def test_everything_in_the_database_is_registered(kit, lfdb):
    assert len(kit.lenses()) == len(lfdb.lenses)
    assert len(kit.cameras()) == len(lfdb.cameras)
    assert len(kit.mounts()) == len(lfdb.mounts)
    sources = {s.name: s for _, s in kit._lens_sources()}
    assert sources["lensfun"].priority == 90
    assert list(kit.mount("Sony E").compatible) == lfdb.find_mount("Sony E").compat
    d7200 = kit.camera("Nikon D7200")
    oracle = lfdb.find_cameras("Nikon Corporation", "Nikon D7200")[0]
    assert (d7200.maker, d7200.mount, F32(d7200.crop_factor)) == (oracle.maker, oracle.mount, F32(oracle.crop_factor))


def test_lens_lookup_through_the_kit(kit):
    lens = kit.lens("Summicron-M 1:2/28 Asph.")
    assert (lens.maker, lens.model, lens.mounts) == ("Leica Camera AG", "Summicron-M 1:2/28 ASPH.", ("Leica M",))
    assert (lens.focal_min, lens.focal_max, lens.aperture_max) == (28.0, 28.0, 2.0)
    prof = lens.profile
    assert (prof.crop_factor, prof.aspect_ratio) == (1.0, 1.5)
    assert [(c.kind, c.model, c.focal) for c in prof.calibrations] == [("distortion", "ptlens", 28.0),
                                                                        ("tca", "poly3", 28.0)]
    assert dict(prof.distortion[0].params) == {"a": 0.0135748, "b": -0.0502846, "c": 0.0486119}
    assert prof.provenance.source == f"lensfun database (lensfunpy {lensfunpy.__version__}), rf-leica.xml"
    assert prof.provenance.licence == "CC-BY-SA-3.0"
    assert lens.source.endswith("rf-leica.xml")
    assert kit.lens("Elmarit-M 1:2.8/90").focal_min == 90.0
    mft = kit.lens("Olympus M.Zuiko Digital ED 12-40mm f/2.8 Pro")
    assert (mft.profile.crop_factor, mft.profile.aspect_ratio) == (2.0, 4 / 3)
    with pytest.raises(NotFoundError):
        kit.lens("Noctilux-Q 1:0.5/12")


def test_full_kit_resolves_the_same_names():
    kit = Kit()
    for name in ("Summicron-M 1:2/28 Asph.", "Elmarit-M 1:2.8/28 ASPH.", "Canon EF 24-70mm f/2.8L USM"):
        assert kit.lens(name).model.casefold() == name.casefold()


def test_same_name_on_two_crop_factors_stays_two_lenses(kit):
    fe = [x for x in kit.lenses() if x.model == "FE 24-70mm f/4 ZA OSS"]
    assert sorted(x.profile.crop_factor for x in fe) == [1.0, 1.534]
    assert kit.lens("FE 24-70mm f/4 ZA OSS", crop_factor=1.0).profile.crop_factor == 1.0
    assert kit.lens("FE 24-70mm f/4 ZA OSS", crop_factor=1.534).profile.crop_factor == 1.534
    assert kit.lens("FE 24-70mm f/4 ZA OSS", camera="Sony ILCE-6000").profile.crop_factor == 1.534


# -- lensfun's search -------------------------------------------------------------------------------------


def test_fuzzy_words_as_lensfun_splits_them():
    assert fuzzy_words("Summicron-M 1:2/28 Asph.") == ("1", "2", "28", "asph", "m", "summicron")
    assert fuzzy_words("Tamron SP 1.4x Teleconverter +") == ("+", "1.4", "sp", "tamron", "teleconverter", "x")
    assert fuzzy_words("AF-S f/2.8") == ("2.8", "af", "s")
    assert fuzzy_score("summicron 28", "Summicron-M 1:2/28 Asph.") == 200 * 2 // 8
    assert fuzzy_score("summicron 35", "Summicron-M 1:2/28 Asph.") == 0


def test_crop_rules():
    ff = Lens("L", "L 28mm f/2", mounts=("Leica M",), focal_min=28, aperture_max=2,
              profile=LensProfile(crop_factor=1.0))
    aps = Lens("L", "L 28mm f/2", mounts=("Leica M",), focal_min=28, aperture_max=2,
               profile=LensProfile(crop_factor=1.53))
    one_inch = lens_pattern("L 28mm f/2", mount="Leica M", crop_factor=2.64)
    # full-frame calibration on the 1-inch body: +2 (crop), +10 +10 +10 (focal, focal, aperture), +10 mount, model
    assert score_lens(one_inch, ff) == 2 + 30 + 10 + max(1, (200 * 3 // 6) * 4 // 10)
    assert score_lens(lens_pattern("L 28mm f/2", crop_factor=1.0), aps) == 0  # smaller sensor: never
    assert score_lens(lens_pattern("L 35mm f/2", crop_factor=1.0), ff) == 0  # focal disagrees
    assert score_lens(lens_pattern("L 28mm f/2", mount="Nikon F"), ff) == 0  # does not fit the mount


def fitting(lfdb, cam):
    """The lenses that fit a camera's mount, directly or through a compatible mount."""
    mounts = {cam.mount, *lfdb.find_mount(cam.mount).compat}
    return [x for x in lfdb.lenses if mounts & set(x.mounts)]


BODIES = [("Leica Camera AG", "Leica M10"), ("Nikon Corporation", "Nikon D7200"), ("Sony", "ILCE-7M2"),
          ("Olympus Imaging Corp.", "E-M5")]


def test_search_equals_lensfunpy_find_lenses(lfdb):
    """Scores and order of lensfun's own search, for a sample of names on several bodies."""
    db = bundled_database()
    cams = [c for b in BODIES for c in lfdb.cameras if (c.maker, c.model) == b]
    assert len(cams) == len(BODIES)
    rng = random.Random(3)
    common = [(None, q) for q in ("Summicron-M 1:2/28 ASPH.", "50mm f/1.4", "Zeiss", "35mm f/2", "18-55mm")]
    common += [("Nikon", "Coolpix P1000"), ("KMZ", "Helios 44")] + [(None, x.model) for x in rng.sample(lfdb.lenses, 8)]
    compared = matched = 0
    for cam in cams:
        compat = mountkit_lensfun.compatible_mounts(cam.mount)
        own = rng.sample(fitting(lfdb, cam), 25)
        queries = common + [(None, x.model) for x in own[:20]] + [(x.maker.upper(), x.model) for x in own[20:]]
        for maker, model in queries:
            theirs = [(x.score, key(x.maker, x.model, x.crop_factor)) for x in lfdb.find_lenses(cam, maker, model)]
            pattern = lens_pattern(model, maker, mount=cam.mount, compatible_mounts=compat,
                                   crop_factor=cam.crop_factor)
            ours = [(s, key(x.maker, x.model, x.profile.crop_factor))
                    for s, x in find_lenses(pattern, db.lenses, db.maker_names)]
            assert ours == theirs, (cam.model, maker, model)
            compared += 1
            matched += bool(ours)
    assert compared == len(cams) * (len(common) + 25) and matched > compared // 2


# -- identification from metadata ------------------------------------------------------------------------------


def test_identify_from_lens_model(kit):
    lens = kit.identify({"LensModel": "SUMMICRON-M 1:2/28 ASPH."})
    assert lens is kit.lens("Summicron-M 1:2/28 ASPH.")
    nikon = {"Make": "NIKON CORPORATION", "Model": "NIKON D7200",
             "LensModel": "Nikkor AF-P 10-20mm f/4.5-5.6G DX VR"}  # the English alias
    found = kit.identify(nikon)
    assert (found.model, found.profile.crop_factor) == ("Nikon AF-P DX Nikkor 10-20mm f/4.5-5.6G VR", 1.534)
    # a translated maker name counts, as in lensfun
    p1000 = kit.identify({"LensMake": "Nikon", "LensModel": "Coolpix P1000"})
    assert (p1000.maker, p1000.model) == ("NIKON CORPORATION", "Coolpix P1000")
    assert kit.identify({"LensMake": "Canon", "LensModel": "Coolpix P1000"}) is None


def test_identify_uses_the_camera_crop_and_mount(kit):
    aps_only = {"LensModel": "Nikkor AF-P 10-20mm f/4.5-5.6G DX VR"}
    assert kit.identify(aps_only) is not None
    # lenses calibrated on a smaller sensor than the camera's are never returned
    assert kit.identify({**aps_only, "Make": "Leica Camera AG", "Model": "Leica M10"}) is None
    # on the M10 the Leica lens fits its own mount; a Nikon body does not take it
    summicron = {"LensModel": "Summicron-M 1:2/28 ASPH."}
    assert kit.identify({**summicron, "Make": "Leica Camera AG", "Model": "Leica M10"}) is not None
    assert kit.identify({**summicron, "Make": "NIKON CORPORATION", "Model": "NIKON D7200"}) is None
    assert find_camera("LEICA CAMERA AG", "leica  m10").crop_factor == 1.0


def test_identify_top_result_equals_lensfunpy(kit, lfdb):
    rng = random.Random(5)
    cams = [c for b in BODIES for c in lfdb.cameras if (c.maker, c.model) == b]
    got = collections.Counter()
    for cam in cams:
        for lf in rng.sample(fitting(lfdb, cam), 10) + rng.sample(lfdb.lenses, 3):
            expected = lfdb.find_lenses(cam, None, lf.model)
            lens = kit.identify({"Make": cam.maker, "Model": cam.model, "LensModel": lf.model})
            if not expected:
                assert lens is None
                got["none"] += 1
                continue
            top = expected[0]
            assert key(lens.maker, lens.model, lens.profile.crop_factor) == key(top.maker, top.model,
                                                                                 top.crop_factor)
            got["found"] += 1
    assert got["found"] >= 30 and got["none"] >= 1


def test_identify_without_or_with_unknown_lens_model(kit):
    assert kit.identify({}) is None
    assert kit.identify({"LensModel": "   ", "Make": "Leica Camera AG"}) is None
    assert kit.identify({"LensModel": "----"}) is None
    assert kit.identify({"LensModel": "Noctilux-Q 1:0.5/12"}) is None


class ShadowingProfiles:
    """A test plugin: a user profile for a lens that the lensfun database also has."""

    lens = Lens("Leica Camera AG", "Summicron-M 1:2/28 ASPH.", mounts=("Leica M",), focal_min=28, aperture_max=2,
                profile=LensProfile(crop_factor=1.0), source="user profile")

    @hookimpl
    def mountkit_register_lens_sources(self, register):
        register(LensSource(name="user", load=lambda: [self.lens], priority=10))


def test_identify_returns_the_lens_that_shadows_the_database():
    kit = Kit(plugins=[ShadowingProfiles(), mountkit_lensfun], entry_points=False, builtins=False)
    assert kit.identify({"LensModel": "Summicron-M 1:2/28 ASPH."}) is ShadowingProfiles.lens
    assert kit.explain_lens("Summicron-M 1:2/28 ASPH.")["shadowed"] == [
        ("lensfun", bundled_database().lenses[[x.model for x in bundled_database().lenses].index(
            "Summicron-M 1:2/28 ASPH.")].source)]


def test_plugin_reads_only_lensfunpys_files():
    files = mountkit_lensfun.db_files()
    assert files and all(f.parent.name == "db_files" and f.parent.parent.name == "lensfunpy" for f in files)
    assert bundled_database().sources == tuple(str(f) for f in files)
    assert mountkit_lensfun.bundled_database() is bundled_database()  # read once per process
    assert isinstance(mountkit.Kit(plugins=[mountkit_lensfun], entry_points=False).lens("Summicron-M 1:2/50"),
                      Lens)
