"""Profile validation: the JSON Schema (structure) and physical checks (numbers).

:func:`validate_paths` checks profile files the way ``mountkit profile
validate`` reports them: every problem as an :class:`Issue` naming the file,
the key path and what is wrong.  The checks:

structure (``profiles/schema.json``)
    keys, types (finite numbers only), ranges of identity fields, required keys.
physical (needs the correction models, from a :class:`mountkit.Kit`)
    * the model of every calibration set is provided by a plugin and its
      parameters are the model's;
    * distortion: the mapping is finite and monotonic over the calibration
      frame, corners included (radial models: the radius mapping is strictly
      increasing; other models: the Jacobian determinant stays positive);
    * TCA: the red and blue scale factors stay within 1 +/- 0.01 over the frame;
    * vignetting: the relative illumination is positive and finite over the
      frame, and the correction factor stays within
      [:data:`VIGNETTING_FACTOR_MIN`, :data:`VIGNETTING_FACTOR_MAX`];
    * calibration focal lengths lie inside the lens's declared focal range;
    * no two sets of one kind share their focal length (and aperture and
      distance for vignetting);
    * no two files describe the same lens (maker, model and calibration crop
      factor, compared as lensfun does: case-insensitive, spaces collapsed).

The mathematics of the checks are small pure functions over numpy arrays
(:func:`distortion_problem`, :func:`tca_problem`, :func:`vignetting_problem`).
"""

from __future__ import annotations

import difflib
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from .errors import MountkitError, ProfileError
from .hardware import Camera
from .profile import Lens

#: Largest tolerated deviation of a TCA scale factor from 1.
TCA_TOLERANCE = 0.01
#: Bounds of the vignetting correction factor 1 / c(r) over the frame (c: relative illumination).
VIGNETTING_FACTOR_MIN = 0.5
VIGNETTING_FACTOR_MAX = 16.0
#: Radial samples used by the physical checks, centre to corner.
RADIAL_SAMPLES = 2001


@dataclass(frozen=True)
class Issue:
    """One problem found in one file.

    ``path`` is the key path inside the file (``calibration.distortion[0].params.k1``),
    empty for the whole file; ``check`` names the check (``toml``, ``schema``,
    ``distortion-monotonic``...); ``severity`` is ``error`` or ``warning``.
    """

    file: str
    path: str
    message: str
    check: str
    severity: str = "error"

    def __str__(self) -> str:
        where = f"{self.file}: {self.path}" if self.path else self.file
        return f"{where}: {self.severity}: {self.message} [{self.check}]"


@dataclass
class FileReport:
    """What validation found in one file."""

    file: str
    kind: str = ""  # lens | camera | ""
    name: str = ""
    issues: list[Issue] = field(default_factory=list)
    obj: Any = None

    @property
    def ok(self) -> bool:
        return not any(i.severity == "error" for i in self.issues)


@dataclass
class ValidationReport:
    """What validation found in every file."""

    files: list[FileReport] = field(default_factory=list)

    @property
    def issues(self) -> list[Issue]:
        return [i for f in self.files for i in f.issues]

    @property
    def errors(self) -> list[Issue]:
        return [i for i in self.issues if i.severity == "error"]

    @property
    def warnings(self) -> list[Issue]:
        return [i for i in self.issues if i.severity == "warning"]

    @property
    def ok(self) -> bool:
        return not self.errors

    def as_dict(self) -> dict:
        return {
            "ok": self.ok,
            "errors": len(self.errors),
            "warnings": len(self.warnings),
            "files": [{"file": f.file, "kind": f.kind, "name": f.name, "ok": f.ok,
                       "issues": [asdict(i) for i in f.issues]} for f in self.files],
        }

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), indent=2, ensure_ascii=False)


# -- the schema ---------------------------------------------------------------


def schema_path() -> Path:
    """The published JSON Schema, ``profiles/schema.json`` (installed as ``mountkit_profiles``)."""
    try:
        from importlib.resources import files

        p = files("mountkit_profiles") / "schema.json"
        if p.is_file():
            return Path(str(p))
    except (ModuleNotFoundError, TypeError):  # pragma: no cover - broken install
        pass
    return Path(__file__).resolve().parent.parent / "profiles" / "schema.json"  # pragma: no cover


@lru_cache(maxsize=1)
def load_schema() -> dict:
    """The profile JSON Schema as a dict."""
    return json.loads(schema_path().read_text(encoding="utf-8"))


def _finite_number(checker, instance) -> bool:
    return (isinstance(instance, (int, float)) and not isinstance(instance, bool)
            and math.isfinite(instance))


@lru_cache(maxsize=1)
def _validator():
    import jsonschema

    base = jsonschema.Draft202012Validator
    checker = base.TYPE_CHECKER.redefine("number", _finite_number)
    cls = jsonschema.validators.extend(base, type_checker=checker)
    schema = load_schema()
    base.check_schema(schema)
    return cls(schema)


_TYPE_NAMES = {"number": "a finite number", "integer": "an integer", "string": "a string",
               "array": "an array", "object": "a table", "boolean": "true or false"}


def _toml_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "float" if math.isfinite(value) else "non-finite float"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "table"
    return type(value).__name__


def format_path(parts: Iterable[Any]) -> str:
    """``("calibration", "distortion", 0, "params")`` -> ``calibration.distortion[0].params``."""
    out = ""
    for p in parts:
        if isinstance(p, int):
            out += f"[{p}]"
        else:
            out += ("." if out else "") + str(p)
    return out


def _short(value: Any) -> str:
    s = repr(value)
    return s if len(s) <= 60 else s[:57] + "..."


def _describe(error) -> tuple[str, str]:
    """(key path, message) of one jsonschema error, in a photographer's words."""
    path = format_path(error.absolute_path)
    v, vv, inst = error.validator, error.validator_value, error.instance
    if v == "type":
        expected = vv if isinstance(vv, str) else vv[0]
        want = _TYPE_NAMES.get(expected, expected)
        return path, f"expected {want}, got {_toml_type(inst)} {_short(inst)}"
    if v == "required":
        key = error.message.split(" is a required property")[0]
        return path, f"missing required key {key}"
    if v == "additionalProperties":
        allowed = sorted((error.schema.get("properties") or {}).keys())
        extras = [k for k in inst if k not in allowed] if isinstance(inst, dict) else []
        parts = []
        for k in extras:
            close = difflib.get_close_matches(k, allowed, n=1)
            parts.append(f"{k!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
        return path, f"unknown key {', '.join(parts)}; allowed keys: {', '.join(allowed)}"
    if v == "enum":
        if list(error.absolute_path) == ["format_version"]:
            return path, f"unsupported format_version {inst!r}"
        return path, f"expected one of {', '.join(map(repr, vv))}, got {_short(inst)}"
    if v in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        op = {"minimum": ">=", "maximum": "<=", "exclusiveMinimum": ">", "exclusiveMaximum": "<"}[v]
        return path, f"must be {op} {vv}, got {_short(inst)}"
    if v == "minLength" or (v == "pattern" and vv == "\\S"):
        return path, "must not be empty"
    if v == "maxLength":
        return path, f"is longer than {vv} characters"
    if v in ("minItems", "maxItems"):
        n = len(inst) if isinstance(inst, list) else 0
        lo = error.schema.get("minItems")
        hi = error.schema.get("maxItems")
        want = f"exactly {lo}" if lo == hi else (f"at least {lo}" if v == "minItems" else f"at most {hi}")
        return path, f"expected {want} item(s), got {n}"
    if v == "propertyNames":
        return path, f"key {inst!r}: {error.message}"
    if v == "pattern":
        return path, f"{_short(inst)} is not of the expected form (pattern {vv})"
    if v == "oneOf" and path.endswith("aspect_ratio"):
        return path, f"expected a number or 'width:height' such as '4:3', got {_short(inst)}"
    if v == "anyOf" and isinstance(inst, dict) and "maker" in inst:
        return path, "give crop_factor, or sensor_width and sensor_height (mm)"
    return path, error.message.splitlines()[0]


def schema_issues(doc: Mapping[str, Any], file: str = "") -> list[Issue]:
    """Every structural problem of a parsed document, in key-path order."""
    errors = []
    for err in _validator().iter_errors(doc):
        if "propertyNames" in err.absolute_schema_path:  # err.instance is the offending key
            parent = format_path(err.absolute_path)
            what = ("a parameter name such as 'k1'" if parent.endswith("params")
                    else "a calibration kind such as 'distortion', in lower case")
            errors.append((parent, f"key {err.instance!r} is not a valid name: expected {what}"))
            continue
        errors.append(_describe(err))
    seen = set()
    out = []
    for path, msg in sorted(errors, key=lambda pm: pm[0]):
        if (path, msg) in seen:
            continue
        seen.add((path, msg))
        out.append(Issue(file=file, path=path, message=msg, check="schema"))
    return out


# -- physical checks: the mathematics -------------------------------------------


def frame_corner_radius(aspect_ratio: float) -> float:
    """Corner of the calibration frame in distortion units (r = 1 at half the short side)."""
    return math.hypot(aspect_ratio, 1.0)


def distortion_problem(model, params: Mapping[str, float], aspect_ratio: float) -> str | None:
    """Why a distortion set is not physical over the calibration frame, or None.

    Radial models: the captured radius r * s(r) must be finite and strictly
    increasing from the centre to the frame corner.  Other models: the
    mapping must be finite and its Jacobian determinant positive on a grid
    over the frame, corners included.
    """
    rc = frame_corner_radius(aspect_ratio)
    with np.errstate(all="ignore"):
        if getattr(model, "is_radial", False):
            r = np.linspace(0.0, rc, RADIAL_SAMPLES)
            rd = r * np.asarray(model.radial_factor(r, params), dtype=float)
            if not np.all(np.isfinite(rd)):
                bad = r[~np.isfinite(rd)][0]
                return f"the distortion mapping is not finite at r = {bad:.3f} (frame corner at {rc:.3f})"
            d = np.diff(rd)
            if np.any(d <= 0):
                i = int(np.argmax(d <= 0))
                return (f"the distortion mapping folds over at r = {r[i]:.3f} of the frame's {rc:.3f} "
                        "(radius no longer increasing): the coefficients are implausible")
            return None
        nx, ny = 97, 65
        x = np.linspace(-aspect_ratio, aspect_ratio, nx)
        y = np.linspace(-1.0, 1.0, ny)
        X, Y = np.meshgrid(x, y)
        xd, yd = model.distort(X, Y, params)
        xd, yd = np.asarray(xd, float), np.asarray(yd, float)
        if not (np.all(np.isfinite(xd)) and np.all(np.isfinite(yd))):
            return "the distortion mapping is not finite everywhere in the frame"
        dxdx = np.diff(xd, axis=1)[:-1, :]
        dydy = np.diff(yd, axis=0)[:, :-1]
        dxdy = np.diff(xd, axis=0)[:, :-1]
        dydx = np.diff(yd, axis=1)[:-1, :]
        det = dxdx * dydy - dxdy * dydx
        if np.any(det <= 0):
            j, i = np.unravel_index(int(np.argmin(det)), det.shape)
            return (f"the distortion mapping folds over near (x, y) = ({x[i]:.3f}, {y[j]:.3f}) "
                    "(Jacobian not positive): the coefficients are implausible")
    return None


def tca_problem(model, params: Mapping[str, float], aspect_ratio: float) -> str | None:
    """Why a TCA set is not plausible (scales beyond 1 +/- :data:`TCA_TOLERANCE`), or None."""
    rc = frame_corner_radius(aspect_ratio)
    r = np.linspace(0.0, rc, RADIAL_SAMPLES)
    with np.errstate(all="ignore"):
        sr, sb = model.channel_factors(r, params)
        sr = np.broadcast_to(np.asarray(sr, float), r.shape)
        sb = np.broadcast_to(np.asarray(sb, float), r.shape)
    for name, s in (("red", sr), ("blue", sb)):
        if not np.all(np.isfinite(s)):
            return f"the {name} scale factor is not finite everywhere in the frame"
        dev = np.abs(s - 1.0)
        if dev.max() > TCA_TOLERANCE:
            i = int(np.argmax(dev))
            return (f"the {name} scale factor reaches {s[i]:.5f} at r = {r[i]:.3f}, outside 1 +/- {TCA_TOLERANCE} "
                    "(lateral CA is a fraction of a percent): check the coefficients")
    return None


def vignetting_problem(model, params: Mapping[str, float]) -> str | None:
    """Why a vignetting set is not plausible, or None.

    The relative illumination c(r), r from the centre (0) to the calibration
    frame's corner (1), must be positive and finite, and the correction factor
    1/c within [:data:`VIGNETTING_FACTOR_MIN`, :data:`VIGNETTING_FACTOR_MAX`].
    """
    r = np.linspace(0.0, 1.0, RADIAL_SAMPLES)
    with np.errstate(all="ignore"):
        c = np.broadcast_to(np.asarray(model.falloff(r, params), float), r.shape)
    if not np.all(np.isfinite(c)):
        return "the vignetting gain is not finite everywhere in the frame"
    if np.any(c <= 0):
        i = int(np.argmax(c <= 0))
        return (f"the relative illumination falls to {c[i]:.3g} at r = {r[i]:.3f} of the corner "
                "(it must stay positive): the coefficients are implausible")
    f = 1.0 / c
    if f.max() > VIGNETTING_FACTOR_MAX:
        i = int(np.argmax(f))
        return (f"the correction factor reaches {f[i]:.3g} ({math.log2(f[i]):+.1f} EV) at r = {r[i]:.3f}, "
                f"beyond the plausible {VIGNETTING_FACTOR_MAX:g}: check the coefficients")
    if f.min() < VIGNETTING_FACTOR_MIN:
        i = int(np.argmin(f))
        return (f"the correction factor falls to {f[i]:.3g} ({math.log2(f[i]):+.1f} EV) at r = {r[i]:.3f}, "
                f"below the plausible {VIGNETTING_FACTOR_MIN:g} (corners brighter than the centre)")
    return None


# -- physical checks on a lens ----------------------------------------------------


def _set_path(kind: str, index: int) -> str:
    return f"calibration.{kind}[{index}]"


def physical_issues(lens: Lens, kit=None, *, file: str = "") -> list[Issue]:
    """Physical checks of one lens profile (see the module docstring).

    ``kit`` provides the correction models (a default :class:`mountkit.Kit`
    when None).
    """
    issues: list[Issue] = []
    prof = lens.profile
    if prof is None:
        return issues
    if kit is None:
        from .kit import Kit

        kit = Kit()
    models = kit.models()

    def add(path, msg, check, severity="error"):
        issues.append(Issue(file=file, path=path, message=msg, check=check, severity=severity))

    lo, hi = lens.focal_min, lens.focal_max
    for kind in prof.kinds:
        sets = prof.of_kind(kind)
        seen: dict[tuple, int] = {}
        used_models = []
        for i, cal in enumerate(sets):
            path = _set_path(kind, i)
            key = (cal.model, cal.focal, cal.aperture, cal.distance)
            if key in seen:
                what = f"focal {cal.focal:g} mm" + (
                    f", f/{cal.aperture:g}, {cal.distance:g} m" if cal.aperture is not None else "")
                add(path, f"duplicate {kind} set ({what}): same as {_set_path(kind, seen[key])}", "duplicate-set")
            seen.setdefault(key, i)
            if cal.model not in used_models:
                used_models.append(cal.model)
            if lo is not None and hi is not None and not (lo * (1 - 1e-9) <= cal.focal <= hi * (1 + 1e-9)):
                add(f"{path}.focal", f"focal length {cal.focal:g} mm is outside the lens's range "
                    f"{lo:g}-{hi:g} mm (lens.focal_min/focal_max)", "focal-range")
            model = models.get((kind, cal.model))
            if model is None:
                known = sorted(n for k, n in models if k == kind)
                hint = f"known {kind} models: {', '.join(known)}" if known else f"no plugin provides {kind} models"
                add(f"{path}.model", f"unknown {kind} model {cal.model!r} (no installed plugin provides it; {hint})",
                    "unknown-model")
                continue
            try:
                params = model.resolve_params(cal.params)
            except ProfileError as exc:
                add(f"{path}.params", str(exc), "parameters")
                continue
            try:
                if kind == "distortion":
                    problem = distortion_problem(model, params, prof.aspect_ratio)
                    check = "distortion-monotonic"
                elif kind == "tca":
                    problem = tca_problem(model, params, prof.aspect_ratio)
                    check = "tca-range"
                elif kind == "vignetting":
                    problem = vignetting_problem(model, params)
                    check = "vignetting-range"
                else:
                    problem, check = None, ""
            except Exception as exc:  # a plugin model failing on its own parameters
                problem, check = f"model {kind}/{cal.model} raised {type(exc).__name__}: {exc}", "model-error"
            if problem:
                at = f"at {cal.focal:g} mm" + (f", f/{cal.aperture:g}, {cal.distance:g} m"
                                               if cal.aperture is not None else "")
                add(path, f"{kind} {at}: {problem}", check)
        if len(used_models) > 1:
            add(f"calibration.{kind}", f"{kind} sets mix models {', '.join(used_models)}; lensfun uses only the "
                f"first ({used_models[0]}): use one model per kind", "mixed-models", "warning")
    if not prof.provenance.licence:
        add("provenance.licence", "no licence: say under which licence the calibration data may be shared "
            "(an SPDX id such as CC0-1.0 or CC-BY-SA-3.0)", "provenance", "warning")
    if not prof.provenance.source:
        add("provenance.source", "no source: say where the numbers come from (your measurement, a database)",
            "provenance", "warning")
    return issues


# -- files --------------------------------------------------------------------


def identity_key(lens: Lens) -> tuple[str, str, float | None]:
    """A lens's identity as lensfun's database check compares it: maker, model, calibration crop factor."""
    crop = round(lens.profile.crop_factor, 4) if lens.profile is not None else None
    return (" ".join(lens.maker.casefold().split()), " ".join(lens.model.casefold().split()), crop)


def expand_paths(paths: Iterable[str | Path]) -> list[Path]:
    """Files to validate: files as given, directories searched recursively for ``*.toml``."""
    out: list[Path] = []
    for p in paths:
        p = Path(p)
        if p.is_dir():
            out.extend(sorted(q for q in p.rglob("*.toml") if q.is_file()))
        else:
            out.append(p)
    return out


def validate_file(path: str | Path, kit=None) -> FileReport:
    """Structure and physical checks of one file."""
    from .formats import toml_profile as tp

    file = str(path)
    rep = FileReport(file=file)
    suffix = Path(path).suffix.lower()
    if suffix in (".xml", ".lcp"):
        what = "an Adobe LCP" if suffix == ".lcp" else "lensfun XML"
        rep.issues.append(Issue(file=file, path="", check="toml",
                                message=f"this is {what} file, not a mountkit profile: convert it first with "
                                        f"`mountkit profile import {path} -o DIR`, then validate DIR"))
        return rep
    try:
        doc = tp.load_document(path)
    except ProfileError as exc:
        rep.issues.append(Issue(file=file, path=exc.field or "", message=_strip_where(exc, file), check="toml"))
        return rep
    try:
        tp.check_format_version(doc, file)
    except ProfileError as exc:
        rep.issues.append(Issue(file=file, path="format_version", message=_strip_where(exc, file),
                                check="format-version"))
        return rep
    rep.kind = tp.document_kind(doc)
    issues = schema_issues(doc, file)
    if issues:
        rep.issues.extend(issues)
        return rep
    try:
        obj = tp.from_document(doc, file)
    except ProfileError as exc:
        rep.issues.append(Issue(file=file, path=exc.field or "", message=_strip_where(exc, file), check="values"))
        return rep
    rep.obj = obj
    rep.name = obj.name
    if isinstance(obj, Lens):
        rep.issues.extend(physical_issues(obj, kit, file=file))
    return rep


def _strip_where(exc: ProfileError, file: str) -> str:
    """The message of a ProfileError without the 'file, field ...:' prefix (reported separately)."""
    msg = str(exc)
    where = ", ".join(p for p in (exc.source, f"field {exc.field!r}" if exc.field else None) if p)
    if where and msg.startswith(where + ": "):
        return msg[len(where) + 2:]
    return msg


def validate_paths(paths: Sequence[str | Path], kit=None) -> ValidationReport:
    """Validate profile files (directories are searched for ``*.toml``), including duplicates across files."""
    if kit is None:
        from .kit import Kit

        kit = Kit()
    files = expand_paths(paths)
    if not files:
        raise MountkitError("no profile files to validate (give .toml files or directories holding them)")
    report = ValidationReport()
    first_of: dict[tuple, str] = {}
    for f in files:
        rep = validate_file(f, kit)
        if isinstance(rep.obj, Lens):
            key = identity_key(rep.obj)
            if key in first_of:
                rep.issues.append(Issue(
                    file=rep.file, path="lens", check="duplicate-identity",
                    message=f"duplicate lens: {rep.obj.name!r} (crop factor {key[2]}) is also described by "
                            f"{first_of[key]}; keep one file per lens and calibration crop factor"))
            else:
                first_of[key] = rep.file
        elif isinstance(rep.obj, Camera):
            cam = rep.obj
            # lensfun tells cameras apart by maker, model and variant; a variant is the alias "<model> (<variant>)"
            variants = tuple(sorted(" ".join(a.casefold().split()) for a in cam.aliases
                                    if a.startswith(f"{cam.model} (") and a.endswith(")")))
            key = ("camera",) + identity_key(Lens(maker=cam.maker, model=cam.model))[:2] + variants
            if key in first_of:
                rep.issues.append(Issue(file=rep.file, path="camera", check="duplicate-identity",
                                        message=f"duplicate camera: {rep.obj.name!r} is also described by "
                                                f"{first_of[key]}"))
            else:
                first_of[key] = rep.file
        report.files.append(rep)
    return report


def check_lens(lens: Lens, kit=None) -> list[Issue]:
    """Physical checks of a :class:`Lens` object (no file): a convenience for importers and tests."""
    return physical_issues(lens, kit, file=lens.source or "")


__all__ = [
    "FileReport",
    "Issue",
    "ValidationReport",
    "check_lens",
    "distortion_problem",
    "load_schema",
    "physical_issues",
    "schema_issues",
    "tca_problem",
    "validate_file",
    "validate_paths",
    "vignetting_problem",
]
