"""From Leica metadata to a lens: the coded lenses as identities, and the identifier.

Each lens in the code table becomes one uncalibrated :class:`mountkit.Lens`
(maker "Leica", ExifTool's name as the model, Leica's own spelling as an
alias, focal range, largest aperture, ``leica_code``).  :func:`identify` maps
frame metadata to one of them, and returns instead a *calibrated* lens of the
kit when one is, beyond doubt, the same lens (see :func:`calibrated_match`).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from mountkit.errors import NotFoundError
from mountkit.kit import name_words
from mountkit.profile import Lens

from .lens_codes import (
    LensName,
    LensType,
    code_table,
    decode_lens_type,
    parse_exiftool_name,
    parse_leica_name,
    primary_code,
)

if TYPE_CHECKING:
    from mountkit.kit import Kit

#: Name of the lens source and of the identifier.
SOURCE_NAME = "leica_m"
MAKER = "Leica"
MOUNT = "Leica M"

# Tolerances when checking that a calibrated lens is the coded lens.
_FOCAL_TOL_MM = 0.5
_APERTURE_TOL = 0.03  # relative
_IGNORED_WORDS = {"mm", "f", "leica", "camera", "ag"}


@functools.lru_cache(maxsize=1)
def _identities() -> tuple[dict[str, Lens], dict[str, LensName | None]]:
    table = code_table()
    lenses: dict[str, Lens] = {}
    names: dict[str, LensName | None] = {}
    for entry in table.entries:
        ln = entry.lens_name
        if ln is None or ln in lenses:
            continue
        parsed = parse_exiftool_name(ln)
        spec = parsed[0] if parsed else None
        names[ln] = spec
        aliases = (spec.leica_style(),) if spec else ()
        lenses[ln] = Lens(
            maker=MAKER,
            model=ln,
            mounts=(MOUNT,),
            aliases=aliases,
            focal_min=spec.focal_min if spec else None,
            focal_max=spec.focal_max if spec else None,
            aperture_max=spec.aperture if spec else None,
            leica_code=primary_code(ln, table),
            source=SOURCE_NAME,
        )
    return lenses, names


def coded_lenses() -> tuple[Lens, ...]:
    """Every lens of the code table as an uncalibrated identity, in table order."""
    return tuple(_identities()[0].values())


def coded_lens(lens_name: str) -> Lens:
    """The identity of one lens by its ExifTool name (KeyError if unknown)."""
    return _identities()[0][lens_name]


def _lens_spec(lens_name: str) -> LensName | None:
    return _identities()[1].get(lens_name)


# -- finding a calibrated profile for a coded lens --------------------------------


def _alpha_words(name: str) -> set[str]:
    return {w for w in name_words(name) if w.isalpha() and w not in _IGNORED_WORDS}


def _optics(lens: Lens) -> tuple[float | None, float | None, float | None]:
    """(focal_min, focal_max, aperture) of a lens, from its fields or else from its Leica-spelled name.

    lensfun's database gives no aperture for most M lenses, but its names
    carry it ("Summicron-M 1:2/28 ASPH.").
    """
    fmin, fmax, ap = lens.focal_min, lens.focal_max, lens.aperture_max
    if fmin is None or ap is None:
        parsed = next((p for p in map(parse_leica_name, (lens.model, *lens.aliases)) if p), None)
        if parsed is not None:
            fmin = parsed.focal_min if fmin is None else fmin
            fmax = parsed.focal_max if fmax is None else fmax
            ap = parsed.aperture if ap is None else ap
    return fmin, fmax, ap


def _same_optics(spec: LensName, lens: Lens) -> bool:
    fmin, fmax, ap = _optics(lens)
    if fmin is None or fmax is None or ap is None:
        return False
    if abs(fmin - spec.focal_min) > _FOCAL_TOL_MM or abs(fmax - spec.focal_max) > _FOCAL_TOL_MM:
        return False
    if abs(ap - spec.aperture) > _APERTURE_TOL * spec.aperture:
        return False
    if "leica" not in lens.maker.casefold():
        return False
    if lens.mounts and not any(" ".join(m.casefold().split()) == "leica m" for m in lens.mounts):
        return False
    return True


def calibrated_match(kit: Kit, lens_name: str) -> Lens | None:
    """A calibrated lens of ``kit`` that is the coded lens ``lens_name``, or None.

    Candidates come from ``kit.lens`` and ``kit.lenses`` searched with
    Leica's spelling of the name (lensfun uses it: "Summicron-M 1:2/28
    ASPH.") and with ExifTool's.  A candidate is accepted only when it is
    calibrated, made by Leica for the Leica M mount (when it names mounts),
    its focal range agrees within 0.5 mm and its largest aperture within 3 %
    (taken from its name when the lens does not give it),
    and its name is

    * exactly our name or an alias (version marks included), or the lensfun
      name the table's ``same_lens`` section records for it; or
    * the same words as ours (family, "APO", "ASPH.") when our name has no
      version mark and is not the "ASPHERICAL" variant: a version-less
      calibrated "Summicron-M 1:2/50" could be any of three optical designs,
      so versioned lenses match only by exact name or ``same_lens``.
    """
    spec = _lens_spec(lens_name)
    if spec is None:
        return None
    ours = coded_lens(lens_name)
    exact = {" ".join(n.casefold().split()) for n in (ours.model, *ours.aliases)}
    explicit = code_table().same_lens.get(lens_name)
    if explicit:
        exact.add(" ".join(explicit.casefold().split()))
    loose_ok = not spec.version and spec.asph != "ASPHERICAL"
    our_words = _alpha_words(spec.leica_style(with_version=False))
    queries = [q for q in (explicit, spec.leica_style(with_version=False), ours.model) if q]
    seen: set[int] = set()
    for query in queries:
        candidates: list[Lens] = []
        try:
            candidates.append(kit.lens(query))
        except NotFoundError:
            pass
        candidates.extend(kit.lenses(query))
        for cand in candidates:
            if id(cand) in seen:
                continue
            seen.add(id(cand))
            if not cand.calibrated or not _same_optics(spec, cand):
                continue
            names = {" ".join(n.casefold().split()) for n in (cand.model, *cand.aliases)}
            if names & exact:
                return cand
            if loose_ok and any(_alpha_words(n) == our_words for n in (cand.model, *cand.aliases)):
                return cand
    return None


# -- the identifier -------------------------------------------------------------------


def _text(metadata: Mapping[str, Any], key: str) -> str:
    value = metadata.get(key)
    if isinstance(value, (bytes, bytearray)):
        value = bytes(value).split(b"\0", 1)[0].decode("latin-1")
    return " ".join(str(value).split()) if value is not None else ""


def is_leica_body(metadata: Mapping[str, Any]) -> bool:
    """True when Make (or, without Make, Model) names Leica."""
    make = _text(metadata, "Make").casefold()
    if make:
        return "leica" in make
    return _text(metadata, "Model").casefold().startswith("leica")


def lens_from_leica_name(text: str) -> str | None:
    """The coded lens a Leica-spelled name ("Summilux-M 1:1.4/35 ASPH.") denotes, if exactly one."""
    parsed = parse_leica_name(text)
    if parsed is None:
        return None
    hits = []
    for ln, spec in _identities()[1].items():
        if spec is None:
            continue
        if (spec.family.casefold() == parsed.family.casefold() and spec.focals == parsed.focals
                and abs(spec.aperture - parsed.aperture) < 1e-6 and spec.asph == parsed.asph
                and (not parsed.version or parsed.version == spec.version)):
            hits.append(ln)
    return hits[0] if len(hits) == 1 else None


def _plain_keys(metadata: Mapping[str, Any]) -> Mapping[str, Any]:
    """Metadata with ExifTool group prefixes dropped ("MakerNotes:LensType" -> "LensType")."""
    if not any(isinstance(k, str) and ":" in k for k in metadata):
        return metadata
    out: dict[str, Any] = {}
    for key, value in metadata.items():
        if isinstance(key, str):
            out.setdefault(key.rsplit(":", 1)[-1], value)
    for key, value in metadata.items():  # unprefixed keys win
        if isinstance(key, str) and ":" not in key:
            out[key] = value
    return out


def decode_metadata(metadata: Mapping[str, Any]) -> tuple[str | None, LensType | None]:
    """(coded lens name, decoded LensType) for a frame's metadata.

    Numeric LensType values are read only for Leica bodies (other makers'
    LensType tags mean something else); ExifTool's printed names and Leica's
    spelling are accepted from any body.  Leica's spelling in ``LensModel``
    is read when the body or ``LensMake`` is Leica.  Keys may carry ExifTool
    group prefixes ("EXIF:Make", "MakerNotes:LensType"), as PyExifTool
    returns them.
    """
    metadata = _plain_keys(metadata)
    raw = metadata.get("LensType")
    decoded = None
    if raw is not None:
        numeric = not isinstance(raw, str) or raw.strip().replace(" ", "").isdigit() \
            or raw.strip().casefold().startswith("unknown")
        if not numeric or is_leica_body(metadata):
            decoded = decode_lens_type(raw)
        if decoded is not None and decoded.lens_name is not None:
            return decoded.lens_name, decoded
        if decoded is None and isinstance(raw, str):
            name = lens_from_leica_name(raw)
            if name:
                return name, None
    lens_make = _text(metadata, "LensMake").casefold()
    if is_leica_body(metadata) or "leica" in lens_make:
        for key in ("LensModel", "Lens"):
            text = _text(metadata, key)
            if text:
                name = lens_from_leica_name(text)
                if name:
                    return name, None
    return None, decoded


def identify(metadata: Mapping[str, Any], kit: Kit) -> Lens | None:
    """The lens a Leica frame was taken with, or None.

    Reads ``LensType`` (the 6-bit code, see :mod:`mountkit_leica_m.lens_codes`)
    or Leica's spelling in ``LensModel``; returns the kit's calibrated lens when
    :func:`calibrated_match` finds one, otherwise the uncalibrated identity.
    An uncoded lens, an unknown code or foreign metadata give None.

    Examples
    --------
    >>> import mountkit, mountkit_leica_m
    >>> kit = mountkit.Kit(plugins=[mountkit_leica_m], entry_points=False)
    >>> kit.identify({"Make": "Leica Camera AG", "Model": "M9 Digital Camera", "LensType": 118}).model
    'Summilux-M 35mm f/1.4 ASPH.'
    """
    lens_name, _ = decode_metadata(metadata)
    if lens_name is None:
        return None
    return calibrated_match(kit, lens_name) or coded_lens(lens_name)
