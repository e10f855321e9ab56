"""A mountkit plugin that registers malformed things next to one good one (for tests).

The Exakta bayonet (Ihagee, 1936) has a flange focal distance of 44.7 mm.
"""

import mountkit


@mountkit.hookimpl
def mountkit_register_mounts(register):
    register({"name": "Exakta", "flange_distance": 44.7})  # a dict, not a mountkit.Mount
    register()  # nothing at all
    register(mountkit.Mount(name="Exakta", flange_distance=44.7))


@mountkit.hookimpl
def mountkit_register_lens_sources(register):
    register(mountkit.LensSource(name="malformed-lenses", load=lambda: ["Zeiss Tessar 50mm f/2.8"], priority=80))
