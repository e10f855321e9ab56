"""mountkit_lensfun: lensfun's lens database (as lensfunpy ships it) as a mountkit plugin.

A first-party plugin, loaded through the ``mountkit`` entry point ``lensfun``
exactly like a third-party one.  It registers, from the XML files in
``lensfunpy/db_files/`` (read by :mod:`mountkit.formats.lensfun_xml`, every
field lensfun has, including ``<aspect-ratio>`` which lensfunpy's ``Lens``
does not expose):

* every mount, with lensfun's compatible mounts;
* every camera (maker, model, mount, crop factor);
* a lens source ``lensfun`` (priority 90, searched last) with every lens and
  its calibration, provenance "lensfun database (lensfunpy <version>),
  <file>.xml", licence CC-BY-SA-3.0;
* an identifier ``lensfun`` (priority 90) that finds the lens of a frame from
  its ``LensModel`` (and ``LensMake``) tags the way lensfun's
  ``lf_db_find_lenses_hd`` does, using the camera from ``Make``/``Model`` for
  its mount and crop factor (:mod:`mountkit_lensfun.matching`).

Examples
--------
>>> import mountkit, mountkit_lensfun
>>> kit = mountkit.Kit(plugins=[mountkit_lensfun], entry_points=False)
>>> lens = kit.lens("Summicron-M 1:2/28 Asph.")
>>> lens.maker, lens.model, lens.profile.crop_factor, lens.profile.provenance.licence
('Leica Camera AG', 'Summicron-M 1:2/28 ASPH.', 1.0, 'CC-BY-SA-3.0')
>>> kit.identify({"LensMake": "Leica Camera AG", "LensModel": "SUMMICRON-M 1:2/28 ASPH."}) is lens
True
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from mountkit import Identifier, LensSource, hookimpl
from mountkit.hardware import Camera
from mountkit.profile import Lens

from .database import bundled_database, db_files, lensfunpy_version, provenance_of
from .matching import LensPattern, find_lenses, fuzzy_score, fuzzy_words, lens_pattern, score_lens, strcmp_key

if TYPE_CHECKING:
    from mountkit.kit import Kit

#: Name of the lens source and of the identifier.
SOURCE_NAME = "lensfun"
#: The lensfun database is searched after user, shipped and plugin profiles.
LENS_SOURCE_PRIORITY = 90
#: Tried after identifiers that read exact lens codes.
IDENTIFIER_PRIORITY = 90


@hookimpl
def mountkit_register_mounts(register):
    for mount in bundled_database().mounts:
        register(mount)


@hookimpl
def mountkit_register_cameras(register):
    for camera in bundled_database().cameras:
        register(camera)


def _load_lenses() -> tuple[Lens, ...]:
    return bundled_database().lenses


@hookimpl
def mountkit_register_lens_sources(register):
    register(LensSource(
        name=SOURCE_NAME,
        load=_load_lenses,
        priority=LENS_SOURCE_PRIORITY,
        description=f"lensfun database shipped with lensfunpy {lensfunpy_version()} (CC BY-SA 3.0)",
    ))


@hookimpl
def mountkit_register_identifiers(register):
    register(Identifier(name=SOURCE_NAME, identify=identify, priority=IDENTIFIER_PRIORITY))


def _tag(metadata: Mapping[str, Any], name: str) -> str | None:
    value = metadata.get(name)
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def find_camera(make: str | None, model: str | None, kit: Kit | None = None) -> Camera | None:
    """The camera whose maker and model equal ``make``/``model`` (case and spacing ignored).

    lensfun's cameras first (maker translations and model aliases count),
    then the kit's other cameras; None when neither knows it.
    """
    if not model:
        return None
    db = bundled_database()
    mk, md = strcmp_key(make), strcmp_key(model)

    def maker_ok(cam: Camera) -> bool:
        if not make:
            return True
        names = {strcmp_key(cam.maker)} | {strcmp_key(t) for _, t in db.maker_names.get(cam.maker, ())}
        return mk in names

    for cam in db.cameras:
        if maker_ok(cam) and md in {strcmp_key(cam.model), *(strcmp_key(a) for a in cam.aliases)}:
            return cam
    if kit is not None:
        full = strcmp_key(f"{make} {model}" if make else model)
        for cam in kit.cameras():
            names = {strcmp_key(cam.name), strcmp_key(f"{cam.maker} {cam.model}")}
            names.update(strcmp_key(a) for a in cam.aliases)
            if (maker_ok(cam) and md == strcmp_key(cam.model)) or full in names:
                return cam
    return None


def compatible_mounts(mount: str | None, kit: Kit | None = None) -> tuple[str, ...]:
    """The mounts lensfun lists as compatible with ``mount`` (else the kit's mount, if it knows one)."""
    if not mount:
        return ()
    key = strcmp_key(mount)
    for m in bundled_database().mounts:
        if strcmp_key(m.name) == key:
            return m.compatible
    if kit is not None:
        for m in kit.mounts().values():
            if strcmp_key(m.name) == key or key in {strcmp_key(a) for a in m.aliases}:
                return m.compatible
    return ()


def identify(metadata: Mapping[str, Any], kit: Kit) -> Lens | None:
    """The lens that took a frame, found from its metadata as lensfun finds it, or None.

    Reads ``LensModel`` (required) and ``LensMake``; ``Make`` and ``Model``
    name the camera, whose mount and crop factor narrow the search (lenses
    calibrated on a smaller sensor than the camera's are never returned).
    Every lens of the kit is a candidate, so a profile that shadows a
    lensfun entry is the one returned.
    """
    model = _tag(metadata, "LensModel")
    if model is None:
        return None
    camera = find_camera(_tag(metadata, "Make"), _tag(metadata, "Model"), kit)
    pattern = lens_pattern(
        model, _tag(metadata, "LensMake"),
        mount=camera.mount if camera else None,
        compatible_mounts=compatible_mounts(camera.mount, kit) if camera else (),
        crop_factor=camera.crop_factor if camera else None,
    )
    found = find_lenses(pattern, kit.lenses(), bundled_database().maker_names)
    return found[0][1] if found else None


__all__ = [
    "IDENTIFIER_PRIORITY",
    "LENS_SOURCE_PRIORITY",
    "SOURCE_NAME",
    "LensPattern",
    "bundled_database",
    "compatible_mounts",
    "db_files",
    "find_camera",
    "find_lenses",
    "fuzzy_score",
    "fuzzy_words",
    "identify",
    "lens_pattern",
    "lensfunpy_version",
    "provenance_of",
    "score_lens",
]
