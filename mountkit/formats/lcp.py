"""Adobe Lens Correction Profiles (``.lcp``): import into a mountkit :class:`~mountkit.Lens`.

An LCP is an XMP packet whose ``photoshop:CameraProfiles`` sequence holds one
``rdf:li`` per calibration frame (focal length, aperture, focus distance).
Adobe writes the same data in three spellings, all read here
(``../shared/reference/lcp-and-dng.md`` §1.2-1.3):

1. element style: every field a child element (``rdf:parseType="Resource"``);
2. attributes on an ``rdf:Description`` inside ``rdf:li`` and inside each model;
3. attributes directly on ``rdf:li`` and on the model elements.

What becomes of the frames (rectilinear ``PerspectiveModel`` frames only;
``FisheyeModel`` frames are reported and skipped):

* distortion (model ``adobe``, :mod:`mountkit.models.adobe`): one set per focal
  length, from the frame focused farthest, then with the aperture closest to
  f/8 (the choice of lensfun's ``lensfun-convert-lcp``), since mountkit's
  distortion depends on the focal length only;
* TCA (model ``adobe``): likewise, from the frames that have both
  ``ChromaticRedGreenModel`` and ``ChromaticBlueGreenModel``;
* vignetting (model ``adobe``): one set per frame with a ``VignetteModel``,
  at its focal length, aperture and focus distance.

``ApertureValue`` is an APEX value: the f-number is N = 2^(Av/2), rounded to
4 decimals.  ``FocusDistance`` is in metres; a frame without one is taken as
focused at infinity (lensfun's 1000 m) and the profile's notes say so.
Coefficients are copied as written; only their units are converted
(focal-length units and principal points relative to the calibration image,
to lensfun's normalised units, see :func:`normalisation_unit`).

Parsing uses defusedxml: entity declarations (the "billion laughs" bomb) and
external entities are refused with a clear error.
"""

from __future__ import annotations

import math
import os
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from ..errors import ProfileError
from ..profile import Calibration, Lens, LensProfile, Provenance
from .safe_files import MAX_FILE_BYTES, read_bytes_limited

RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
PHOTOSHOP = "http://ns.adobe.com/photoshop/1.0/"
CAMERA = "http://ns.adobe.com/photoshop/1.0/camera-profile"

#: The f-number whose frame is preferred for distortion and TCA (lensfun-convert-lcp's choice).
PREFERRED_APERTURE = 8.0
#: Focus distance given to frames that have none (lensfun's "infinity").
INFINITY_M = 1000.0

_LIST_ELEMENTS = ("AlternateLensIDs", "AlternateLensNames", "VignetteModelPiecewiseParam")


# -- XML ------------------------------------------------------------------------


def parse_xml_safely(data: bytes, source: str, what: str = "XML"):
    """Parse XML with defusedxml, refusing entity declarations and external references.

    Returns the root element; errors are :class:`ProfileError` naming ``source``.
    """
    import defusedxml
    from defusedxml import ElementTree as DET

    try:
        return DET.fromstring(data, forbid_dtd=False, forbid_entities=True, forbid_external=True)
    except defusedxml.EntitiesForbidden as exc:
        raise ProfileError(f"refused: the {what} declares the entity {exc.name!r} (entity expansion is not "
                           "allowed: possible 'billion laughs' XML bomb)", source=source) from None
    except defusedxml.ExternalReferenceForbidden as exc:
        raise ProfileError(f"refused: the {what} references the external resource {exc.sysid or exc.pubid!r} "
                           "(external entities are not allowed)", source=source) from None
    except defusedxml.DefusedXmlException as exc:
        raise ProfileError(f"refused unsafe {what}: {exc}", source=source) from None
    except DET.ParseError as exc:
        raise ProfileError(f"not well-formed {what}: {exc}", source=source) from None
    except RecursionError:
        raise ProfileError(f"not usable {what}: nested too deeply", source=source) from None


def _local(tag: str) -> tuple[str, str]:
    if tag.startswith("{"):
        ns, _, name = tag[1:].partition("}")
        return ns, name
    return "", tag


def _node(el):
    """The element that holds an entry's or model's fields: its rdf:Description child, or itself."""
    for child in el:
        if child.tag == f"{{{RDF}}}Description":
            return child
    return el


def _fields(el) -> dict[str, Any]:
    """Fields of an entry or model: attributes and child elements in the camera-profile namespace.

    Sub-models (names ending in ``Model``) become nested dicts; lists
    (alternate lens names) become lists of strings; other values strings.
    """
    node = _node(el)
    out: dict[str, Any] = {}
    for holder in {id(el): el, id(node): node}.values():
        for key, value in holder.attrib.items():
            ns, name = _local(key)
            if ns == CAMERA:
                out[name] = value
    for child in node:
        ns, name = _local(child.tag)
        if ns != CAMERA:
            continue
        if name.endswith("Model"):
            out[name] = _fields(child)
        elif name in _LIST_ELEMENTS or len(child):
            out[name] = [(li.text or "").strip() for li in child.iter(f"{{{RDF}}}li") if (li.text or "").strip()]
        else:
            out[name] = (child.text or "").strip()
    return out


# -- frames -------------------------------------------------------------------


@dataclass
class LCPFrame:
    """One calibration frame (``rdf:li``) of an LCP, fields as written (strings and nested dicts)."""

    index: int
    fields: dict[str, Any]

    def text(self, name: str) -> str | None:
        v = self.fields.get(name)
        return v if isinstance(v, str) and v else None

    def number(self, name: str, source: str, *, model: str | None = None) -> float | None:
        """A numeric field (of the frame, or of one of its models), checked finite."""
        holder = self.fields if model is None else self.model(model) or {}
        raw = holder.get(name)
        if raw is None or raw == "":
            return None
        where = f"frame {self.index + 1}" + (f" {model}" if model else "")
        try:
            v = float(str(raw).strip())
        except ValueError:
            raise ProfileError(f"{where}: {name} is not a number: {raw!r}", source=source,
                               field=f"{where}.{name}") from None
        if not math.isfinite(v):
            raise ProfileError(f"{where}: {name} is {raw!r}; expected a finite number", source=source,
                               field=f"{where}.{name}")
        return v

    def model(self, path: str) -> dict | None:
        """A (nested) model by path, e.g. ``"PerspectiveModel/VignetteModel"``."""
        cur: Any = self.fields
        for part in path.split("/"):
            if not isinstance(cur, dict) or not isinstance(cur.get(part), dict):
                return None
            cur = cur[part]
        return cur


def read_frames(data: bytes, source: str = "<lcp>") -> list[LCPFrame]:
    """The calibration frames of an LCP document, in file order."""
    root = parse_xml_safely(data, source, "LCP (XMP) file")
    frames: list[LCPFrame] = []
    for profiles in root.iter(f"{{{PHOTOSHOP}}}CameraProfiles"):
        for seq in profiles:
            for li in seq:
                if li.tag == f"{{{RDF}}}li":
                    frames.append(LCPFrame(index=len(frames), fields=_fields(li)))
    if not frames:
        raise ProfileError("no calibration frames: an Adobe LCP holds photoshop:CameraProfiles/rdf:Seq/rdf:li "
                           "entries; is this an LCP file?", source=source)
    return frames


# -- units --------------------------------------------------------------------


def apex_to_fnumber(av: float) -> float:
    """f-number from an APEX aperture value, N = 2^(Av/2), rounded to 4 decimals.

    >>> apex_to_fnumber(2.643856), apex_to_fnumber(4.970854), apex_to_fnumber(6.918863)
    (2.5, 5.6, 11.0)
    """
    return round(2.0 ** (av / 2.0), 4)


def normalisation_unit(width: float, height: float) -> float:
    """Pixels per lensfun normalised unit on the calibration image itself.

    mountkit (after lensfun 0.3.4) puts r = 1 at half the short side of the
    calibration sensor, measured between pixel centres through the diagonal:
    unit = hypot(W - 1, H - 1) / (2 hypot(AR, 1)), AR = max/min of the image
    size (the profile's aspect ratio).
    """
    ar = max(width, height) / min(width, height)
    return math.hypot(width - 1.0, height - 1.0) / (2.0 * math.hypot(ar, 1.0))


def model_geometry(m: dict, frame: LCPFrame, width: float, height: float, source: str, name: str,
                   *, unit: float) -> dict[str, float]:
    """``fx``, ``fy``, ``cx``, ``cy`` of one LCP (sub-)model in units of ``unit`` pixels.

    FocalLengthX/Y are in units of the larger image side, ImageX/YCenter
    fractions of the width and the height (RawTherapee's reading, see the
    reference §1.6); the principal point is given from the image centre
    (pixel centres at integer coordinates, centre at ((W-1)/2, (H-1)/2)).
    A model with neither FocalLengthX nor FocalLengthY is refused
    (RawTherapee estimates one from the 35 mm focal length: a guess).
    """
    dmax = max(width, height)

    def num(key):
        raw = m.get(key)
        if raw is None or raw == "":
            return None
        try:
            v = float(raw)
        except (TypeError, ValueError):
            raise ProfileError(f"frame {frame.index + 1} {name}: {key} is not a number: {raw!r}",
                               source=source) from None
        if not math.isfinite(v):
            raise ProfileError(f"frame {frame.index + 1} {name}: {key} is {raw!r}", source=source)
        return v

    flx = num("FocalLengthX")
    fly = num("FocalLengthY")
    if flx is None and fly is None:
        raise ProfileError(f"frame {frame.index + 1} {name}: no FocalLengthX/FocalLengthY", source=source)
    flx = flx if flx is not None else fly
    fly = fly if fly is not None else flx
    if flx <= 0 or fly <= 0:
        raise ProfileError(f"frame {frame.index + 1} {name}: focal length must be positive, got {flx}, {fly}",
                           source=source)
    xc = num("ImageXCenter")
    yc = num("ImageYCenter")
    xc = 0.5 if xc is None else xc
    yc = 0.5 if yc is None else yc
    return {
        "fx": flx * dmax / unit,
        "fy": fly * dmax / unit,
        "cx": (xc * width - (width - 1.0) / 2.0) / unit,
        "cy": (yc * height - (height - 1.0) / 2.0) / unit,
    }


def _coeffs(m: dict, frame: LCPFrame, source: str, name: str) -> list[float]:
    out = []
    for key, legacy in (("RadialDistortParam1", None), ("RadialDistortParam2", None), ("RadialDistortParam3", None),
                        ("TangentialDistortParam1", "RadialDistortParam4"),
                        ("TangentialDistortParam2", "RadialDistortParam5")):
        raw = m.get(key, m.get(legacy) if legacy else None)
        if raw is None or raw == "":
            out.append(0.0)
            continue
        try:
            v = float(raw)
        except (TypeError, ValueError):
            raise ProfileError(f"frame {frame.index + 1} {name}: {key} is not a number: {raw!r}",
                               source=source) from None
        if not math.isfinite(v):
            raise ProfileError(f"frame {frame.index + 1} {name}: {key} is {raw!r}", source=source)
        out.append(v)
    return out


# -- conversion ---------------------------------------------------------------


@dataclass
class LCPImport:
    """The result of importing an LCP: the lens and what was left out, and why."""

    lens: Lens
    warnings: list[str] = field(default_factory=list)
    frames: int = 0


def _lensinfo(text: str | None) -> list[float | None]:
    """LensInfo "minF maxF minN maxN" as rationals ("135/1 135/1 25/10 320/10")."""
    out: list[float | None] = []
    for part in (text or "").split():
        try:
            n, _, d = part.partition("/")
            v = float(n) / float(d or 1)
            out.append(v if math.isfinite(v) and v > 0 else None)
        except (ValueError, ZeroDivisionError):
            out.append(None)
    return (out + [None] * 4)[:4]


def _pick(frames: list[tuple[LCPFrame, float, float | None, float]]) -> LCPFrame:
    """The frame lensfun-convert-lcp would take: farthest focus, then aperture closest to f/8."""
    return sorted(frames, key=lambda f: (-f[3], abs((f[2] or PREFERRED_APERTURE) - PREFERRED_APERTURE),
                                         f[0].index))[0][0]


def lcp_to_lens(frames: list[LCPFrame], source: str = "<lcp>", *, maker: str | None = None,
                crop_factor: float | None = None) -> LCPImport:
    """Convert parsed LCP frames into a :class:`Lens` with a profile of ``adobe`` models.

    ``maker`` overrides the lens maker (an LCP names none; by default the
    first word of the lens name); ``crop_factor`` is needed only when the
    file has no ``SensorFormatFactor``.
    """
    warnings: list[str] = []
    first = frames[0]
    name = first.text("LensPrettyName") or first.text("Lens")
    if not name:
        raise ProfileError("no lens name (stCamera:LensPrettyName or stCamera:Lens)", source=source,
                           field="LensPrettyName")
    maker = maker or name.split()[0]
    aliases = []
    for alias in [first.text("Lens"), first.text("LensPrettyName"), *(first.fields.get("AlternateLensNames") or [])]:
        if alias and alias != name and alias not in aliases:
            aliases.append(alias)
    crop = first.number("SensorFormatFactor", source) or crop_factor
    if crop is None or crop <= 0:
        raise ProfileError("no SensorFormatFactor (the calibration camera's crop factor): pass crop_factor "
                           "(--crop-factor) to import it", source=source, field="SensorFormatFactor")
    width = first.number("ImageWidth", source)
    height = first.number("ImageLength", source)
    if not width or not height or width <= 1 or height <= 1:
        raise ProfileError("no ImageWidth/ImageLength (the calibration image size, needed to convert Adobe's "
                           "focal-length units)", source=source, field="ImageWidth")
    aspect = max(width, height) / min(width, height)
    unit = normalisation_unit(width, height)
    info = _lensinfo(first.text("LensInfo"))

    usable: list[tuple[LCPFrame, float, float | None, float]] = []
    fisheye = no_focal = no_distance = 0
    for fr in frames:
        for key in ("ImageWidth", "ImageLength"):
            v = fr.number(key, source)
            if v is not None and v != (width if key == "ImageWidth" else height):
                raise ProfileError(f"frame {fr.index + 1}: {key} {v:g} differs from the first frame's; one LCP "
                                   "import needs one calibration image size", source=source)
        if fr.model("PerspectiveModel") is None:
            if fr.model("FisheyeModel") is not None:
                fisheye += 1
            continue
        focal = fr.number("FocalLength", source)
        if focal is None and info[0] is not None and info[0] == info[1]:
            focal = info[0]  # a prime: LensInfo states the focal length
        if focal is None or focal <= 0:
            no_focal += 1
            continue
        av = fr.number("ApertureValue", source)
        aperture = apex_to_fnumber(av) if av is not None else None
        dist = fr.number("FocusDistance", source)
        if dist is None or dist <= 0:
            no_distance += 1
            dist = INFINITY_M
        usable.append((fr, focal, aperture, min(dist, INFINITY_M)))
    if fisheye:
        warnings.append(f"{fisheye} fisheye frame(s) (FisheyeModel) skipped: only rectilinear frames are imported")
    if no_focal:
        warnings.append(f"{no_focal} frame(s) without FocalLength skipped (the lens is not a prime per LensInfo)")
    if not usable:
        raise ProfileError(f"no usable frames: none of the {len(frames)} frame(s) is a rectilinear "
                           "(PerspectiveModel) frame with a focal length", source=source)

    sets: list[Calibration] = []
    by_focal: dict[float, list] = {}
    for u in usable:
        by_focal.setdefault(u[1], []).append(u)
    for focal in sorted(by_focal):
        group = by_focal[focal]
        fr = _pick(group)
        pm = fr.model("PerspectiveModel")
        k = _coeffs(pm, fr, source, "PerspectiveModel")
        geo = model_geometry(pm, fr, width, height, source, "PerspectiveModel", unit=unit)
        sets.append(Calibration(kind="distortion", model="adobe", focal=focal,
                                params={**geo, **dict(zip(("k1", "k2", "k3", "k4", "k5"), k, strict=True))}))
    for focal in sorted(by_focal):
        group = [u for u in by_focal[focal]
                 if u[0].model("PerspectiveModel/ChromaticRedGreenModel") is not None
                 and u[0].model("PerspectiveModel/ChromaticBlueGreenModel") is not None]
        if not group:
            continue
        fr = _pick(group)
        params: dict[str, float] = {}
        for c, mname in (("r", "ChromaticRedGreenModel"), ("b", "ChromaticBlueGreenModel")):
            m = fr.model(f"PerspectiveModel/{mname}")
            geo = model_geometry(m, fr, width, height, source, mname, unit=unit)
            k = _coeffs(m, fr, source, mname)
            scale = fr.number("ScaleFactor", source, model=f"PerspectiveModel/{mname}")
            params[f"{c}s"] = 1.0 if scale is None else scale
            params.update({f"{c}{key}": v for key, v in geo.items()})
            params.update({f"{c}k{i + 1}": v for i, v in enumerate(k)})
        sets.append(Calibration(kind="tca", model="adobe", focal=focal, params=params))
    diag = math.hypot(aspect, 1.0)  # corner radius in distortion units: vignetting units are 1 there
    seen_vig: set[tuple] = set()
    skipped_vig = 0
    for fr, focal, aperture, dist in sorted(usable, key=lambda u: (u[1], u[2] or 0, u[3], u[0].index)):
        vm = fr.model("PerspectiveModel/VignetteModel")
        if vm is None:
            continue
        if aperture is None:
            skipped_vig += 1
            continue
        key = (focal, aperture, dist)
        if key in seen_vig:
            warnings.append(f"frame {fr.index + 1}: a second vignetting frame at {focal:g} mm f/{aperture:g} "
                            f"{dist:g} m skipped")
            continue
        seen_vig.add(key)
        geo = model_geometry(vm, fr, width, height, source, "VignetteModel", unit=unit * diag)
        alphas = {}
        for i in (1, 2, 3):
            v = fr.number(f"VignetteModelParam{i}", source, model="PerspectiveModel/VignetteModel")
            alphas[f"a{i}"] = 0.0 if v is None else v
        sets.append(Calibration(kind="vignetting", model="adobe", focal=focal, aperture=aperture, distance=dist,
                                params={**geo, **alphas}))
    if skipped_vig:
        warnings.append(f"{skipped_vig} vignetting frame(s) without ApertureValue skipped")

    focals = sorted(by_focal)
    fmin = info[0] if info[0] is not None else focals[0]
    fmax = info[1] if info[1] is not None else focals[-1]
    if not (fmin <= focals[0] and focals[-1] <= fmax):
        fmin, fmax = min(fmin, focals[0]), max(fmax, focals[-1])
        warnings.append("LensInfo's focal range does not cover the frames' focal lengths; range widened to the frames")
    body = first.text("CameraPrettyName") or " ".join(p for p in (first.text("Make"), first.text("Model")) if p)
    raw = (first.text("CameraRawProfile") or "").lower()
    notes = []
    if no_distance:
        notes.append(f"{no_distance} frame(s) had no FocusDistance and were taken as focused at infinity "
                     f"({INFINITY_M:g} m)")
    notes.append(f"{len(frames)} LCP frame(s); distortion and TCA per focal length from the frame focused "
                 "farthest, aperture closest to f/8")
    author = first.text("Author") or ""
    prov = Provenance(
        source=f"Adobe Lens Correction Profile {os.path.basename(source)!r}"
               + (f" ({first.text('ProfileName')})" if first.text("ProfileName") else ""),
        licence="",
        author=author,
        body=body,
        method="Adobe Camera Model (LCP), calibrated on " + ("camera JPEGs" if raw == "false" else "raw data"),
        notes="; ".join(notes),
    )
    profile = LensProfile(crop_factor=crop, aspect_ratio=aspect, calibrations=tuple(sets), provenance=prov,
                          source=source)
    ap_max = info[2] if info[2] is not None else None
    ap_min = info[3] if info[3] is not None and (ap_max is None or info[3] >= ap_max) else None
    lens = Lens(maker=maker, model=name, aliases=tuple(aliases), lens_type="rectilinear", focal_min=fmin,
                focal_max=fmax, aperture_max=ap_max, aperture_min=ap_min, profile=profile, source=source)
    counts = Counter(c.kind for c in sets)
    if not counts.get("tca"):
        warnings.append("no frame has both ChromaticRedGreenModel and ChromaticBlueGreenModel: no TCA imported")
    if not counts.get("vignetting"):
        warnings.append("no frame has a VignetteModel: no vignetting imported")
    return LCPImport(lens=lens, warnings=warnings, frames=len(frames))


def loads_lcp(data: bytes | str, source: str = "<lcp>", **options) -> LCPImport:
    """Import an LCP from its bytes (see :func:`lcp_to_lens` for the options)."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    if not data.strip():
        raise ProfileError("file is empty (expected an Adobe LCP file)", source=source)
    return lcp_to_lens(read_frames(data, source), source, **options)


def read_lcp(path: str | os.PathLike, **options) -> LCPImport:
    """Import an Adobe LCP file (size-limited; see :func:`lcp_to_lens` for the options).

    Raises
    ------
    ProfileError
        one line naming the file (and the frame or field) at fault.
    """
    data = read_bytes_limited(path, limit=MAX_FILE_BYTES, what="LCP")
    return loads_lcp(data, str(path), **options)
