"""An example mountkit plugin, installed by the tests as a third party would install it.

It adds the Ricoh XR bayonet and one calibrated lens on it.  The calibration
numbers are lensfun's (data/db/slr-ricoh.xml, "Ricoh XR Rikenon 1:1.4 50mm",
measured on a Pentax K-r; CC BY-SA 3.0), copied as facts.  The Ricoh XR mount
is the Pentax K bayonet (flange focal distance 45.46 mm) with an extra
aperture contact, so Pentax K lenses fit it.
"""

from __future__ import annotations

import click

import mountkit

SOURCE = "mountkit-example"

RIKENON = mountkit.Lens(
    maker="Ricoh",
    model="Ricoh XR Rikenon 1:1.4 50mm",
    mounts=("Ricoh XR", "Pentax K"),
    focal_min=50,
    aperture_max=1.4,
    profile=mountkit.LensProfile(
        crop_factor=1.523,
        calibrations=(
            mountkit.Calibration("distortion", "poly3", 50, {"k1": -0.00302}),
            mountkit.Calibration("tca", "poly3", 50,
                                 {"br": -0.0000276, "vr": 1.0001338, "bb": 0.0000254, "vb": 0.9998300}),
        ),
        provenance=mountkit.Provenance(
            source="lensfun database, data/db/slr-ricoh.xml",
            licence="CC-BY-SA-3.0",
            body="Pentax K-r",
        ),
        source=SOURCE,
    ),
)


@mountkit.hookimpl
def mountkit_register_mounts(register):
    register(mountkit.Mount(
        name="Ricoh XR",
        flange_distance=45.46,
        compatible=("Pentax K",),
        notes="Pentax K bayonet with an extra aperture contact",
    ))


@mountkit.hookimpl
def mountkit_register_lens_sources(register):
    register(mountkit.LensSource(name=SOURCE, load=lambda: [RIKENON], priority=80,
                                 description="the example plugin's one lens"))


@mountkit.hookimpl
def mountkit_register_commands(cli):
    @cli.command(name="example-info")
    def example_info():
        """Show the example plugin's mount and lens (a plugin-added command)."""
        from mountkit.cli import get_kit

        kit = get_kit()
        mount = kit.mount("Ricoh XR")
        lens = kit.lens("Ricoh XR Rikenon 1:1.4 50mm")
        click.echo(f"{mount.name}: flange {mount.flange_distance} mm; {lens.name} from {lens.source}")
