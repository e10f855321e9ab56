"""Regenerate the shipped profiles in profiles/ from lensfun's database (every M-mount lens it calibrates).

Sources, both CC BY-SA 3.0 (the lensfun database licence):

* lensfun's master branch: data/db/rf-leica.xml and data/db/misc.xml (database
  version 2), from a lensfun checkout at a known commit;
* the copy bundled with the installed lensfunpy (database version 1).

Every lens with the mount "Leica M" is imported with mountkit's own importer
(mountkit.formats.lensfun_import); coefficients are copied, never made up.
A lens in both sources is written once, from master, with the names the
lensfunpy copy uses added as aliases; its provenance names both.  Leica's
6-bit lens code is added where the Leica M plugin's code table (ExifTool's
%leicaLensTypes) has exactly one entry for the lens (see LEICA_CODES).

Usage::

    python -m mountkit.formats.shipped_profiles --lensfun-checkout PATH --commit SHA [--force]
"""

from __future__ import annotations

import argparse
import importlib.metadata as md
import importlib.resources as ir
import sys
from dataclasses import replace
from pathlib import Path

from mountkit.formats import toml_profile
from mountkit.formats.lensfun_import import LENSFUN_DB_LICENCE, read_lensfun_file
from mountkit.formats.safe_files import write_files_atomic
from mountkit.profile import Provenance
from mountkit.profile_tools import output_paths

MOUNT = "Leica M"
MASTER_FILES = ("data/db/rf-leica.xml", "data/db/misc.xml")

#: lensfun model -> (Leica 6-bit code, ExifTool's name for it).  Each is the
#: only entry of %leicaLensTypes for that lens; the Summicron-M 50 and 35
#: entries also agree with the catalogue numbers lensfun gives.
LEICA_CODES = {
    "Elmarit-M 1:2.8/28 Asph.": (28, "Elmarit-M 28mm f/2.8 ASPH."),
    "Elmarit-M 1:2.8/90": (38, "Elmarit-M 90mm f/2.8"),
    "Summicron-M 1:2/50": (33, "Summicron-M 50mm f/2 (IV, V)"),
    "Summicron-M 1:2/28 Asph.": (26, "Summicron-M 28mm f/2 ASPH."),
    "Summicron-M 1:2/35 Asph.": (30, "Summicron-M 35mm f/2 ASPH."),
    "APO-Summicron-M 1:2/75 Asph.": (36, "Apo-Summicron-M 75mm f/2 ASPH."),
}


def _key(lens):
    return (lens.maker.casefold(), " ".join(lens.model.casefold().split()), round(lens.profile.crop_factor, 2))


def _check_codes():
    """Each code's table entry must name the lens we attach it to."""
    try:
        from mountkit_leica_m.lens_codes import code_table
    except ImportError:
        sys.exit("the Leica M plugin (mountkit_leica_m) is needed to check the lens codes")
    names = {(e.code, e.lens_name) for e in code_table().entries}
    for model, (code, name) in LEICA_CODES.items():
        if (code, name) not in names:
            sys.exit(f"code table has no entry {code} {name!r} (for {model!r})")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lensfun-checkout", type=Path, required=True)
    ap.add_argument("--commit", required=True, help="commit of the lensfun checkout (recorded in provenance)")
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent.parent / "profiles")
    ap.add_argument("--force", action="store_true")
    args = ap.parse_args(argv)
    _check_codes()
    lfpy = md.version("lensfunpy")
    master = {}
    for rel in MASTER_FILES:
        src = (f"lensfun database (CC BY-SA 3.0), {rel} of lensfun/lensfun master at commit {args.commit} "
               "(database version 2)")
        got = read_lensfun_file(args.lensfun_checkout / rel,
                                provenance=Provenance(source=src, licence=LENSFUN_DB_LICENCE))
        for lens in got.lenses:
            if MOUNT in lens.mounts and lens.calibrated:
                master[_key(lens)] = lens
    bundled = {}
    for f in sorted((ir.files("lensfunpy") / "db_files").iterdir(), key=lambda p: p.name):
        if not f.name.endswith(".xml"):
            continue
        src = (f"lensfun database (CC BY-SA 3.0), {f.name} as bundled with lensfunpy {lfpy} "
               "(lensfun 0.3.4, database version 1)")
        got = read_lensfun_file(Path(str(f)), provenance=Provenance(source=src, licence=LENSFUN_DB_LICENCE))
        for lens in got.lenses:
            if MOUNT in lens.mounts and lens.calibrated:
                bundled[_key(lens)] = lens
    out = []
    for key, lens in master.items():
        other = bundled.pop(key, None)
        prov = lens.profile.provenance
        aliases = list(lens.aliases)
        if other is not None:
            if set(other.profile.calibrations) != set(lens.profile.calibrations):
                prov = replace(prov, notes="; ".join(p for p in (prov.notes, f"the copy bundled with lensfunpy {lfpy} "
                                                                  "has different calibration values") if p))
            else:
                prov = replace(prov, source=prov.source + f"; the same calibration is in the copy bundled with "
                                                          f"lensfunpy {lfpy} (database version 1)")
            for name in (other.model, *other.aliases):
                if name.casefold() != lens.model.casefold() and name not in aliases:
                    aliases.append(name)
        code = None
        if lens.model in LEICA_CODES:
            code, exif_name = LEICA_CODES[lens.model]
            if exif_name not in aliases:
                aliases.append(exif_name)
        out.append(replace(lens, aliases=tuple(aliases), leica_code=code,
                           profile=replace(lens.profile, provenance=prov)))
    out.extend(bundled.values())
    planned = output_paths(out, [], args.out)
    written = write_files_atomic([(p, toml_profile.dumps(obj)) for p, obj in planned], force=args.force)
    for p in written:
        print(p)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
