"""Writing calibration results into a native TOML profile: new or merged, validated, atomic.

A calibration made on a body is stored with that body's crop factor and
aspect ratio (lensfun's ``<cropfactor>`` and ``<aspect-ratio>``), so that the
engine rescales it to any other body.  Merging into an existing profile
replaces the sets measured again (same kind, focal length, and aperture and
distance where they apply) and keeps the others; a profile calibrated on
another sensor size, or a kind already calibrated with another model, is
refused rather than mixed.  Provenance records the author, body, date and
method, and one line of residuals per calibration in ``notes``.  The result
must pass :mod:`mountkit.validate` (no errors) before it is written, and it is
written atomically (temporary file, then rename).
"""

from __future__ import annotations

import datetime as _dt
import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path

from ..errors import MountkitError, ProfileError
from ..formats import toml_profile as tp
from ..profile import Calibration, Lens, LensProfile, Provenance

#: What ``provenance.source`` says for measured profiles.
SOURCE = "own measurement with mountkit calibrate"
#: Relative tolerance when comparing the crop factors of a profile and a new calibration.
CROP_TOLERANCE = 1e-3


@dataclass(frozen=True)
class CalibrationRecord:
    """A calibration set to store, with the line that describes how it was measured."""

    calibration: Calibration
    summary: str
    method: str


def sensor_aspect_ratio(width: float, height: float) -> float:
    """The aspect ratio to store for a sensor or frame: a simple ratio (4:3, 3:2, 16:9...) when within 0.5 %.

    lensfun writes ratios such as ``4:3``; 8192 x 6144 gives exactly 4/3.
    """
    ratio = max(width, height) / min(width, height)
    for frac in (Fraction(4, 3), Fraction(3, 2), Fraction(16, 9), Fraction(1, 1), Fraction(5, 4), Fraction(16, 10),
                 Fraction(7, 5), Fraction(17, 9), Fraction(2, 1), Fraction(21, 9)):
        if abs(ratio / float(frac) - 1) < 5e-3:
            return float(frac)
    return ratio


def _key(c: Calibration) -> tuple:
    return (c.kind, c.focal, c.aperture, c.distance)


def merge_calibrations(old: Sequence[Calibration], new: Sequence[Calibration], *, source: str = "") -> tuple[
        Calibration, ...]:
    """Old sets not measured again, then the new ones, each kind in ascending focal (aperture, distance).

    Raises
    ------
    ProfileError
        A kind that the profile holds in another model (lensfun uses only the first model of a kind).
    """
    for c in new:
        others = {o.model for o in old if o.kind == c.kind and o.model != c.model}
        others |= {n.model for n in new if n.kind == c.kind and n.model != c.model}
        if others:
            raise ProfileError(f"the profile's {c.kind} calibration uses model {sorted(others)[0]!r}, the new one "
                               f"{c.model!r}; lensfun uses only the first model of a kind: calibrate with the same "
                               "model, or write to a new profile", source=source or None,
                               field=f"calibration.{c.kind}")
    replaced = {_key(c) for c in new}
    kept = [c for c in old if _key(c) not in replaced]
    merged = kept + list(new)
    kinds = list(dict.fromkeys([c.kind for c in old] + [c.kind for c in new]))

    def order(c: Calibration):
        return (c.focal, c.aperture or 0.0, c.distance or 0.0)

    return tuple(c for kind in kinds for c in sorted((m for m in merged if m.kind == kind), key=order))


def _merge_notes(old: str, records: Iterable[CalibrationRecord]) -> str:
    lines = [ln for ln in old.splitlines() if ln.strip()]
    for rec in records:
        head = rec.summary.split(":", 1)[0]
        lines = [ln for ln in lines if ln.split(":", 1)[0] != head]
        lines.append(rec.summary)
    return "\n".join(lines)


def _merge_methods(old: str, methods: Iterable[str]) -> str:
    parts = [p.strip() for p in old.split(";") if p.strip()]
    for m in methods:
        if m not in parts:
            parts.append(m)
    return "; ".join(parts)


def build_lens(records: Sequence[CalibrationRecord], *, maker: str, model: str, crop_factor: float,
               aspect_ratio: float, body: str, author: str = "", licence: str = "", mounts: Sequence[str] = (),
               date: str | None = None, existing: Lens | None = None, source: str = "") -> Lens:
    """The lens to write: ``existing`` (if any) with ``records`` merged in, or a new one.

    Raises
    ------
    ProfileError
        ``existing`` was calibrated at another crop factor or aspect ratio, or mixes models.
    """
    date = date or _dt.date.today().isoformat()
    new = [r.calibration for r in records]
    focals = [c.focal for c in new]
    if existing is not None and existing.profile is not None:
        prof = existing.profile
        if not math.isclose(prof.crop_factor, crop_factor, rel_tol=CROP_TOLERANCE):
            raise ProfileError(f"the profile was calibrated at crop factor {prof.crop_factor:g}, these shots at "
                               f"{crop_factor:g}; a calibration belongs to one sensor size: write to a new file",
                               source=source or None, field="calibration.crop_factor")
        if not math.isclose(prof.aspect_ratio, aspect_ratio, rel_tol=CROP_TOLERANCE):
            raise ProfileError(f"the profile was calibrated at aspect ratio {prof.aspect_ratio:.4g}, these shots at "
                               f"{aspect_ratio:.4g}: write to a new file", source=source or None,
                               field="calibration.aspect_ratio")
        cals = merge_calibrations(prof.calibrations, new, source=source)
        p = prof.provenance
        bodies = [b.strip() for b in p.body.split(";") if b.strip()]
        if body and body not in bodies:
            bodies.append(body)
        authors = [a.strip() for a in p.author.split(";") if a.strip()]
        if author and author not in authors:
            authors.append(author)
        provenance = Provenance(source=p.source or SOURCE, licence=licence or p.licence, author="; ".join(authors),
                                body="; ".join(bodies), date=date,
                                method=_merge_methods(p.method, [r.method for r in records]),
                                notes=_merge_notes(p.notes, records))
        profile = LensProfile(crop_factor=prof.crop_factor, aspect_ratio=prof.aspect_ratio, center=prof.center,
                              calibrations=cals, provenance=provenance)
        lo = min([v for v in (existing.focal_min,) if v is not None] + focals)
        hi = max([v for v in (existing.focal_max,) if v is not None] + focals)
        return replace(existing, profile=profile, focal_min=lo, focal_max=hi, source="")
    provenance = Provenance(source=SOURCE, licence=licence, author=author, body=body, date=date,
                            method=_merge_methods("", [r.method for r in records]),
                            notes=_merge_notes("", records))
    profile = LensProfile(crop_factor=crop_factor, aspect_ratio=aspect_ratio,
                          calibrations=merge_calibrations((), new, source=source), provenance=provenance)
    return Lens(maker=maker, model=model, mounts=tuple(mounts), focal_min=min(focals), focal_max=max(focals),
                profile=profile)


def check_lens_document(lens: Lens, kit=None, *, file: str = "") -> None:
    """Raise :class:`ProfileError` listing every validation error of the profile ``lens`` would be written as."""
    from ..validate import check_lens, schema_issues

    issues = schema_issues(tp.lens_to_document(lens), file)
    if not issues:
        issues = [i for i in check_lens(lens, kit) if i.severity == "error"]
    errors = [i for i in issues if i.severity == "error"]
    if errors:
        raise ProfileError("the calibrated profile does not validate: " + "; ".join(
            f"{i.path}: {i.message}" if i.path else i.message for i in errors), source=file or None)


def write_profile(path: str | os.PathLike, records: Sequence[CalibrationRecord], *, maker: str, model: str,
                  crop_factor: float, aspect_ratio: float, body: str, author: str = "", licence: str = "",
                  mounts: Sequence[str] = (), date: str | None = None, kit=None) -> Lens:
    """Create or merge the profile at ``path`` with ``records``; validate; write atomically.

    Returns the lens written.  The file is left untouched when anything fails.
    """
    if not records:
        raise MountkitError("nothing to write: no calibration succeeded")
    p = Path(path)
    existing = tp.load_lens(p) if p.exists() else None
    if existing is not None and (maker, model) != (existing.maker, existing.model):
        if " ".join(f"{maker} {model}".casefold().split()) != " ".join(existing.name.casefold().split()):
            raise ProfileError(f"this profile describes {existing.name!r}, not {maker} {model}: write to another "
                               "file", source=str(p), field="lens")
    lens = build_lens(records, maker=maker, model=model, crop_factor=crop_factor, aspect_ratio=aspect_ratio,
                      body=body, author=author, licence=licence, mounts=mounts, date=date, existing=existing,
                      source=str(p))
    check_lens_document(lens, kit, file=str(p))
    if not p.parent.exists():
        raise MountkitError(f"{p.parent}: no such directory for the profile")
    tp.save(lens, p, force=True)
    return replace(lens, source=str(p))
