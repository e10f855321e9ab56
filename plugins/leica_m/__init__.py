"""mountkit_leica_m: the Leica M mount, its 6-bit lens coding, and M-mount bodies.

A first-party mountkit plugin, loaded through the ``mountkit`` entry point
``leica_m`` exactly like a third-party one.  It registers

* mounts: "Leica M" (27.80 mm flange) and lensfun's "M39/1" (Leica thread
  mount, 28.80 mm; aliases "Leica M39", "LTM");
* camera bodies: Leica M8, M9, M (Typ 240/246/262), M10 and M11 families,
  Epson R-D1, and the Xiaomi 12S Ultra Concept's 1-inch sensor;
* a lens source ``leica_m`` (priority 80) listing every coded lens as an
  uncalibrated identity;
* an identifier ``leica_m`` (priority 20) that reads the LensType a Leica
  body writes (see :mod:`mountkit_leica_m.lens_codes`).

Examples
--------
>>> import mountkit, mountkit_leica_m
>>> kit = mountkit.Kit(plugins=[mountkit_leica_m], entry_points=False)
>>> kit.mount("Leica M").flange_distance
27.8
>>> round(kit.camera("Xiaomi 12S Ultra Concept").crop_factor, 2)
2.64
"""

from __future__ import annotations

from mountkit import Identifier, LensSource, hookimpl

from . import hardware
from .identification import SOURCE_NAME, coded_lens, coded_lenses, decode_metadata, identify
from .lens_codes import LensType, code_table, decode_lens_type

#: Priority of the identifier (tried before generic name matching).
IDENTIFIER_PRIORITY = 20
#: Priority of the lens source (plugins' conventional 80).
LENS_SOURCE_PRIORITY = 80


@hookimpl
def mountkit_register_mounts(register):
    for mount in hardware.mounts():
        register(mount)


@hookimpl
def mountkit_register_cameras(register):
    for camera in hardware.cameras():
        register(camera)


@hookimpl
def mountkit_register_lens_sources(register):
    register(LensSource(
        name=SOURCE_NAME,
        load=coded_lenses,
        priority=LENS_SOURCE_PRIORITY,
        description="Leica M lenses known by their 6-bit code (identities, no calibration)",
    ))


@hookimpl
def mountkit_register_identifiers(register):
    register(Identifier(name=SOURCE_NAME, identify=identify, priority=IDENTIFIER_PRIORITY))


__all__ = [
    "IDENTIFIER_PRIORITY",
    "LENS_SOURCE_PRIORITY",
    "LensType",
    "code_table",
    "coded_lens",
    "coded_lenses",
    "decode_lens_type",
    "decode_metadata",
    "identify",
]
