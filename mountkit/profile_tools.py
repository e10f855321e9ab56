"""Profile work as a Python API: import, export, scaffold, look up (the ``mountkit profile`` commands call these).

Every function that writes does so all-or-nothing: outputs are prepared in
memory first, written to temporary files and renamed into place, and an
existing file is replaced only with ``force``.
"""

from __future__ import annotations

import datetime as _dt
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from .errors import MountkitError, NotFoundError, ProfileError
from .formats import toml_profile
from .formats.safe_files import read_bytes_limited, write_file_atomic, write_files_atomic
from .hardware import Camera
from .profile import LENS_TYPES, Lens, LensProfile, Provenance

#: Licence proposed for new profiles (public domain dedication: anyone, lensfun included, may reuse them).
DEFAULT_NEW_LICENCE = "CC0-1.0"

IMPORT_FORMATS = ("auto", "lensfun", "lcp", "toml")


@dataclass
class ImportResult:
    """What :func:`import_profiles` wrote (or would write) and what it noticed."""

    lenses: list[Lens] = field(default_factory=list)
    cameras: list[Camera] = field(default_factory=list)
    paths: list[Path] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def detect_format(path: Path, data: bytes) -> str:
    """``lcp``, ``lensfun`` or ``toml`` from the suffix, else from the content."""
    suffix = path.suffix.lower()
    if suffix == ".lcp":
        return "lcp"
    if suffix == ".toml":
        return "toml"
    head = data[:4096]
    if b"CameraProfiles" in data[:65536] or b"camera-profile" in head:
        return "lcp"
    if b"<lensdatabase" in head:
        return "lensfun"
    if suffix == ".xml":
        return "lensfun"
    raise ProfileError("cannot tell the format (expected lensfun XML, an Adobe .lcp or a mountkit .toml); "
                       "pass --format", source=str(path))


def read_any(path: str | os.PathLike, *, fmt: str = "auto", maker: str | None = None,
             crop_factor: float | None = None, licence: str | None = None,
             provenance_source: str | None = None) -> ImportResult:
    """Read one file of any supported format into lenses (and cameras), without writing anything."""
    from .formats import lcp, lensfun_import

    path = Path(path)
    if fmt not in IMPORT_FORMATS:
        raise MountkitError(f"unknown format {fmt!r}; use one of {', '.join(IMPORT_FORMATS)}")
    data = read_bytes_limited(path, what="profile")
    kind = detect_format(path, data) if fmt == "auto" else fmt
    res = ImportResult()
    if kind == "lcp":
        got = lcp.loads_lcp(data, str(path), maker=maker, crop_factor=crop_factor)
        res.lenses.append(got.lens)
        res.warnings.extend(f"{path}: {w}" for w in got.warnings)
    elif kind == "lensfun":
        prov = Provenance(source=provenance_source or f"lensfun XML {path.name}",
                          licence=licence if licence is not None else lensfun_import.LENSFUN_DB_LICENCE)
        got = lensfun_import.import_lensfun_xml(data, str(path), provenance=prov)
        res.lenses.extend(got.lenses)
        res.cameras.extend(got.cameras)
        res.warnings.extend(got.warnings)
    else:
        obj = toml_profile.loads(data, str(path))
        (res.cameras if isinstance(obj, Camera) else res.lenses).append(obj)
    if kind != "lensfun" and (licence is not None or provenance_source is not None):
        res.lenses = [_with_provenance(lens, licence, provenance_source) for lens in res.lenses]
    return res


def _with_provenance(lens: Lens, licence: str | None, source: str | None) -> Lens:
    if lens.profile is None:
        return lens
    prov = lens.profile.provenance
    prov = replace(prov, licence=licence if licence is not None else prov.licence,
                   source=source if source is not None else prov.source)
    return replace(lens, profile=replace(lens.profile, provenance=prov))


def output_paths(lenses: Sequence[Lens], cameras: Sequence[Camera], out_dir: Path) -> list[tuple[Path, object]]:
    """Where each lens and camera goes under ``out_dir``; same-named lenses get their crop factor in the name."""
    objs: list[object] = [*lenses, *cameras]
    base = [toml_profile.profile_relpath(o) for o in objs]
    counts: dict[Path, int] = {}
    for p in base:
        counts[p] = counts.get(p, 0) + 1
    paths = []
    for o, p in zip(objs, base, strict=True):
        if counts[p] > 1 and isinstance(o, Lens) and o.profile is not None:
            p = toml_profile.profile_relpath(o, suffix=f"-crop{o.profile.crop_factor:g}")
        paths.append(p)
    # names that still collide (same name and crop, or cameras whose names differ only in
    # punctuation or variant) are numbered in input order: name.toml, name-2.toml, ...
    seen: dict[Path, int] = {}
    out: list[tuple[Path, object]] = []
    for o, p in zip(objs, paths, strict=True):
        n = seen[p] = seen.get(p, 0) + 1
        if n > 1:
            p = p.with_name(f"{p.stem}-{n}{p.suffix}")
        out.append((out_dir / p, o))
    return out


def import_profiles(paths: Iterable[str | os.PathLike], out_dir: str | os.PathLike, *, fmt: str = "auto",
                    force: bool = False, cameras: bool = True, mount: str | None = None, **options) -> ImportResult:
    """Import lens (and camera) files into native TOML profiles under ``out_dir``.

    Every input is read and converted before anything is written; then all
    outputs are written atomically, none replacing an existing file unless
    ``force``.  ``mount`` keeps only lenses with that mount (e.g. "Leica M").
    Other ``options`` go to :func:`read_any`.

    Returns
    -------
    ImportResult
        with the paths written.
    """
    total = ImportResult()
    for p in paths:
        got = read_any(p, fmt=fmt, **options)
        lenses = got.lenses
        if mount is not None:
            key = mount.casefold()
            lenses = [lens for lens in lenses if any(m.casefold() == key for m in lens.mounts)]
        total.lenses.extend(lenses)
        if cameras:
            cams = got.cameras
            if mount is not None:
                cams = [c for c in cams if (c.mount or "").casefold() == mount.casefold()]
            total.cameras.extend(cams)
        total.warnings.extend(got.warnings)
    if not total.lenses and not total.cameras:
        raise ProfileError("nothing to import: no lens" + (f" with mount {mount!r}" if mount else "")
                           + " or camera in " + ", ".join(map(str, paths)))
    planned = output_paths(total.lenses, total.cameras, Path(out_dir))
    texts = [(p, toml_profile.dumps(obj)) for p, obj in planned]
    total.paths = write_files_atomic(texts, force=force)
    return total


def resolve_lens(name: str, kit=None) -> Lens:
    """A lens from a profile file path (``.toml``) or a lens name looked up in the kit."""
    p = Path(name)
    if p.suffix.lower() == ".toml" and (p.exists() or os.sep in name or "/" in name):
        obj = toml_profile.load(p)
        if not isinstance(obj, Lens):
            raise ProfileError("this is a camera profile; give a lens profile", source=str(p))
        return obj
    if kit is None:
        from .kit import Kit

        kit = Kit()
    return kit.lens(name)


def export_lensfun(lens: Lens, path: str | os.PathLike | None = None, *, force: bool = False) -> str:
    """lensfun XML (database version 1, which lensfunpy loads) for one lens; written to ``path`` when given."""
    from .formats.lensfun_xml import MODEL_PARAMS, to_lensfun_xml

    if lens.profile is None or not lens.calibrated:
        raise ProfileError(f"lens {lens.name!r} has no calibration to export", source=lens.source or None)
    foreign = sorted({f"{c.kind}/{c.model}" for c in lens.profile.calibrations
                      if (c.kind, c.model) not in MODEL_PARAMS})
    if foreign:
        known = ", ".join(f"{k}/{m}" for k, m in MODEL_PARAMS)
        raise ProfileError(f"lens {lens.name!r}: model(s) {', '.join(foreign)} have no lensfun equivalent "
                           f"(lensfun 0.3.4 knows {known}); such a profile can only be used by mountkit",
                           source=lens.source or None)
    if not lens.mounts:
        raise ProfileError(f"lens {lens.name!r} has no mount; lensfun needs one (add lens.mounts)",
                           source=lens.source or None, field="lens.mounts")
    text = to_lensfun_xml([lens])
    if path is not None:
        write_file_atomic(path, text, force=force)
    return text


def parse_focal(text: str | float | None) -> tuple[float | None, float | None]:
    """``"28"`` -> (28, 28); ``"24-70"`` -> (24, 70)."""
    if text is None or text == "":
        return None, None
    if isinstance(text, (int, float)):
        return float(text), float(text)
    t = str(text).lower().replace("mm", "").strip()
    lo, sep, hi = t.partition("-")
    try:
        a = float(lo)
        b = float(hi) if sep else a
    except ValueError:
        raise MountkitError(f"focal length {text!r}: expected a number (28) or a range (24-70)") from None
    return a, b


def lenses_with_leica_code(code: int, kit) -> list[Lens]:
    """Lenses (from every source) that carry Leica 6-bit code ``code``."""
    return [lens for lens in kit.lenses() if lens.leica_code == code]


def new_profile(*, maker: str | None = None, model: str | None = None, mounts: Sequence[str] = (),
                lens_type: str = "rectilinear", focal: str | float | None = None, aperture: float | None = None,
                aperture_min: float | None = None, leica_code: int | None = None, crop_factor: float = 1.0,
                aspect_ratio: float = 1.5, author: str = "", body: str = "", licence: str = DEFAULT_NEW_LICENCE,
                method: str = "", source: str = "", date: str | None = None, kit=None) -> Lens:
    """A new, valid lens profile with no calibration sets yet (identity, calibration sensor, provenance).

    With ``leica_code``, the identity (maker, model, focal length, aperture)
    of the lens that carries that code is filled in (given values win); the
    code table comes from the Leica M plugin.
    """
    if leica_code is not None:
        if not 0 <= int(leica_code) <= 63:
            raise MountkitError(f"Leica lens code {leica_code} is outside 0-63 (a 6-bit code)")
        if kit is None:
            from .kit import Kit

            kit = Kit()
        found = lenses_with_leica_code(int(leica_code), kit)
        if not found:
            raise NotFoundError("lens with Leica code", str(leica_code))
        ident = found[0]
        maker = maker or ident.maker
        model = model or ident.model
        mounts = tuple(mounts) or ident.mounts
        if focal is None and ident.focal_min is not None:
            same = ident.focal_min == ident.focal_max
            focal = ident.focal_min if same else f"{ident.focal_min:g}-{ident.focal_max:g}"
        aperture = aperture if aperture is not None else ident.aperture_max
    if not maker or not model:
        raise MountkitError("a profile needs a maker and a model (--maker, --model, or --leica-code)")
    if lens_type not in LENS_TYPES:
        raise MountkitError(f"unknown lens type {lens_type!r}; one of {', '.join(LENS_TYPES)}")
    fmin, fmax = parse_focal(focal)
    prov = Provenance(source=source or "own measurement", licence=licence, author=author, body=body,
                      date=date if date is not None else _dt.date.today().isoformat(), method=method)
    profile = LensProfile(crop_factor=crop_factor, aspect_ratio=aspect_ratio, provenance=prov)
    return Lens(maker=maker, model=model, mounts=tuple(mounts), lens_type=lens_type, focal_min=fmin,
                focal_max=fmax, aperture_max=aperture, aperture_min=aperture_min,
                leica_code=int(leica_code) if leica_code is not None else None, profile=profile)
