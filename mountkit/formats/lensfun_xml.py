"""lensfun's XML database format (version 1) to and from mountkit objects.

The reader follows lensfun 0.3.4 (``libs/lensfun/database.cpp``, ``lens.cpp``
and ``auxfun.cpp`` at tag ``v0.3.4``, the copy lensfunpy 1.18 vendors) in
everything that changes what a lens *is*:

* Multi-language strings: the text without ``lang=`` is the name (a later
  untranslated text replaces an earlier one, as ``lf_mlstr_add`` does); every
  other text (``lang="en"``, ``"de"``...) becomes an alias.  Leading white
  space is dropped, as lensfun does.
* Lens defaults: type rectilinear, aspect ratio 1.5.  ``<aspect-ratio>`` is
  ``a:b`` or a number.  Focal range and largest aperture, when the file does
  not give them, are guessed exactly as ``lfLens::GuessParameters`` does: from
  the model name with lensfun's three lens-name regular expressions, widened
  by the focal lengths (and vignetting apertures) of the calibrations.
* Calibrations: a ``<distortion>``/``<tca>`` entry with the focal length of an
  earlier one replaces it in place, whatever its model; a ``<vignetting>``
  entry replaces one with the same (focal, aperture, distance).  Entries of
  model ``none`` (or without ``model=``) take part in that replacement and
  are then dropped.  Parameters missing from an entry get lensfun's values
  (0; 1 for the TCA scales ``kr kb vr vb``), so every calibration carries the
  complete parameter set of its model.
* Identity: two lenses are the same entry when maker and model compare equal
  (case and runs of white space ignored) and their crop factors differ by
  less than 0.01; two cameras when maker, model and variant compare equal;
  two mounts by name.  A later entry replaces the earlier one, within a file
  and across files, as ``lfDatabase::AddLens`` does.  The same lens name
  with clearly different crop factors stays two lenses.

The reader is stricter than lensfun where lensfun silently reads garbage:
numbers must be decimal numbers (lensfun's ``atof`` reads ``"abc"`` as 0),
finite, and positive where the data needs it.  Unknown elements, attributes
and model names are errors in both.  Every error is a
:class:`mountkit.ProfileError` naming the file and the element path.  XML is
parsed with defusedxml: entity declarations and external references are
refused.

What mountkit objects cannot carry is kept on the :class:`LensfunDocument`
returned by the reader and can be given back to the writer: the languages of
translated names, translated maker names, and the calibration entries that
lensfun 0.3.4 uses only for projection conversion and cropping (never for
distortion, TCA or vignetting): ``<real-focal-length>``, ``<field_of_view>``
and ``<crop>`` (:class:`LensfunExtras`).

A camera's ``<variant>`` becomes the alias ``"<model> (<variant>)"``; the
writer turns such an alias back into ``<variant>``.

Format reference: lensfun's ``docs/manual/main.dox`` ("Database file format")
and the parser cited above.
"""

from __future__ import annotations

import math
import os
import re
import struct
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from types import MappingProxyType
from xml.etree import ElementTree as _StdET

import defusedxml.ElementTree as SafeET
import numpy as np
from defusedxml.common import DefusedXmlException

from ..errors import ProfileError
from ..hardware import Camera, Mount
from ..profile import LENS_TYPES, Calibration, Lens, LensProfile, Provenance
from .safe_files import read_bytes_limited, write_file_atomic

__all__ = [
    "DATABASE_VERSION",
    "MODEL_PARAMS",
    "LensfunDocument",
    "LensfunExtras",
    "guess_lens_parameters",
    "parse_lens_name",
    "parse_lensfun_xml",
    "read_lensfun_xml",
    "to_lensfun_xml",
    "write_lensfun_xml",
]

#: Newest database format version this reader understands (lensfun 0.3.4's
#: ``LF_MAX_DATABASE_VERSION``).
DATABASE_VERSION = 1

#: Parameter names of every model lensfun 0.3.4 knows, by (kind, model), in
#: the order of lensfun's ``Terms[]`` array.
MODEL_PARAMS: Mapping[tuple[str, str], tuple[str, ...]] = MappingProxyType({
    ("distortion", "poly3"): ("k1",),
    ("distortion", "poly5"): ("k1", "k2"),
    ("distortion", "ptlens"): ("a", "b", "c"),
    ("tca", "linear"): ("kr", "kb"),
    ("tca", "poly3"): ("vr", "vb", "cr", "cb", "br", "bb"),
    ("vignetting", "pa"): ("k1", "k2", "k3"),
})

_MODELS = {
    "distortion": ("none", "poly3", "poly5", "ptlens"),
    "tca": ("none", "linear", "poly3"),
    "vignetting": ("none", "pa"),
}

# XML attribute -> index into lensfun's Terms[] (database.cpp accepts either
# spelling for every model: "a" and "k1" both set Terms[0] of a distortion).
_TERM_ATTRS = {
    "distortion": {"a": 0, "k1": 0, "b": 1, "k2": 1, "c": 2},
    "tca": {"kr": 0, "vr": 0, "kb": 1, "vb": 1, "cr": 2, "cb": 3, "br": 4, "bb": 5},
    "vignetting": {"k1": 0, "k2": 1, "k3": 2},
}
_TERM_DEFAULTS = {"distortion": (0.0,) * 3, "tca": (1.0, 1.0, 0.0, 0.0, 0.0, 0.0), "vignetting": (0.0,) * 3}

_CROP_MODES = ("no_crop", "crop_rectangle", "crop_circle")

# Which child elements each element may have.
_CHILDREN = {
    "lensdatabase": {"mount", "camera", "lens"},
    "mount": {"name", "compat"},
    "camera": {"maker", "model", "variant", "mount", "cropfactor"},
    "lens": {"maker", "model", "mount", "cropfactor", "aspect-ratio", "type", "focal", "aperture", "center",
             "calibration"},
    "calibration": {"distortion", "tca", "vignetting", "crop", "field_of_view", "real-focal-length"},
}
# Attributes each element may carry (those not listed may carry none).
_ATTRS = {
    "lensdatabase": {"version"},
    "maker": {"lang"}, "model": {"lang"}, "variant": {"lang"}, "name": {"lang"},
    "focal": {"min", "max", "value"},
    "aperture": {"min", "max", "value"},
    "center": {"x", "y"},
    "distortion": {"model", "focal", *_TERM_ATTRS["distortion"]},
    "tca": {"model", "focal", *_TERM_ATTRS["tca"]},
    "vignetting": {"model", "focal", "aperture", "distance", *_TERM_ATTRS["vignetting"]},
    "crop": {"focal", "mode", "left", "right", "top", "bottom"},
    "field_of_view": {"focal", "fov"},
    "real-focal-length": {"focal", "real-focal"},
}

_LENSFUN_SPACE = " \t\n\r"  # what database.cpp strips from the start of a text
_F32 = struct.Struct("f")


# -- lensfun's lens-name parsing and parameter guess ---------------------------------------------

# lens.cpp (v0.3.4) ``lens_name_regex``: POSIX extended, case-insensitive; the
# three numbers are the groups of (min focal, max focal, min aperture).
_S = r"[ \t\n\r\f\v]"
_LENS_NAME_REGEXES = (
    # [min focal]-[max focal]mm f/[min aperture]-[max aperture]
    (re.compile(rf"(?:{_S}+|^)([0-9]+[0-9.]*)(-[0-9]+[0-9.]*)?(?:mm)?{_S}+(?:f/|f|1/|1:)?([0-9.]+)(?:-[0-9.]+)?",
                re.IGNORECASE | re.ASCII), (1, 2, 3)),
    # 1:[min aperture]-[max aperture] [min focal]-[max focal]mm
    (re.compile(rf"{_S}+1:([0-9.]+)(?:-[0-9.]+)?{_S}+([0-9.]+)(-[0-9.]+)?(?:mm)?", re.IGNORECASE | re.ASCII),
     (2, 3, 1)),
    # [min aperture]-[max aperture]/[min focal]-[max focal]
    (re.compile(rf"([0-9.]+)(?:-[0-9.]+)?{_S}*/{_S}*([0-9.]+)(-[0-9.]+)?", re.IGNORECASE | re.ASCII), (2, 3, 1)),
)
_ATOF = re.compile(r"[0-9]*(?:\.[0-9]*)?")


def _atof_digits(text: str) -> float:
    """C ``atof`` of a string of digits and dots (what the lens-name groups capture)."""
    text = text[1:] if text.startswith("-") else text  # '-' separates a range; it is no minus sign
    m = _ATOF.match(text).group()
    return float(m) if m.strip(".") else 0.0


def parse_lens_name(model: str | None) -> tuple[float | None, float | None, float | None]:
    """Focal range and largest aperture written in a lens name, as lensfun 0.3.4 reads them.

    lensfun tries three patterns in turn, ``[min]-[max]mm f/[aperture]``,
    ``1:[aperture] [min]-[max]mm`` and ``[aperture]/[min]-[max]``, and takes
    the numbers of the first that matches.

    Parameters
    ----------
    model : str or None
        A lens model name.

    Returns
    -------
    (min_focal, max_focal, min_aperture)
        Each None where the name does not say.

    Examples
    --------
    >>> parse_lens_name("Summicron-M 1:2/28 Asph.")
    (28.0, None, 2.0)
    >>> parse_lens_name("EF 24-70mm f/2.8L USM")
    (24.0, 70.0, 2.8)
    """
    if not model:
        return (None, None, None)
    for regex, (i_min, i_max, i_ap) in _LENS_NAME_REGEXES:
        m = regex.search(model)
        if m is None:
            continue
        out = []
        for i in (i_min, i_max, i_ap):
            g = m.group(i)
            out.append(None if g is None else _atof_digits(g))
        return tuple(out)  # type: ignore[return-value]
    return (None, None, None)


def guess_lens_parameters(
    model: str | None,
    *,
    focal_min: float = 0.0,
    focal_max: float = 0.0,
    aperture_min: float = 0.0,
    aperture_max: float = 0.0,
    calibration_focals: Iterable[float] = (),
    calibration_apertures: Iterable[float] = (),
) -> tuple[float, float, float, float]:
    """lensfun 0.3.4's ``lfLens::GuessParameters``: fill unknown focal and aperture values.

    Values are in lensfun's conventions: 0 means unknown; ``aperture_min`` is
    lensfun's ``MinAperture``, the *smallest f-number* (largest aperture), and
    ``aperture_max`` its ``MaxAperture``.  When the focal range or the smallest
    f-number is unknown, the name is parsed with :func:`parse_lens_name`
    (unless it contains "adapter", "reducer", "booster", "extender" or
    "converter") and the range is widened by every calibration focal length,
    the f-numbers by every vignetting aperture.  Known values are kept.

    Returns
    -------
    (focal_min, focal_max, aperture_min, aperture_max)
    """
    big = float(2**31)  # float(INT_MAX) as lensfun compares it
    minf, maxf, mina, maxa = big, -big, big, -big
    if not aperture_min or not focal_min:
        if model and not any(w in model for w in ("adapter", "reducer", "booster", "extender", "converter")):
            pf_min, pf_max, pa_min = parse_lens_name(model)
            if pf_min is not None:
                minf = pf_min
            if pf_max is not None:
                maxf = pf_max
            if pa_min is not None:
                mina = pa_min
        # lensfun compares in float; rounding to float32 keeps the order of distinct values.
        for f in calibration_focals:
            f = float(f)
            minf = f if _f32(f) < _f32(minf) else minf
            maxf = f if _f32(f) > _f32(maxf) else maxf
        for a in calibration_apertures:
            a = float(a)
            mina = a if _f32(a) < _f32(mina) else mina
            maxa = a if _f32(a) > _f32(maxa) else maxa
    if minf != big and not focal_min:
        focal_min = minf
    if maxf != -big and not focal_max:
        focal_max = maxf
    if mina != big and not aperture_min:
        aperture_min = mina
    if maxa != -big and not aperture_max:
        aperture_max = maxa
    if not focal_max:
        focal_max = focal_min
    return focal_min, focal_max, aperture_min, aperture_max


# -- documents ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LensfunExtras:
    """Calibration entries of one lens that mountkit's corrections do not use.

    lensfun 0.3.4 uses them only to convert projections (real focal length,
    field of view) and to crop; they are kept so that a lens read from
    lensfun XML is written back unchanged.

    Attributes
    ----------
    real_focal : tuple of (focal, real_focal)
        ``<real-focal-length focal= real-focal=>`` entries, in mm.
    field_of_view : tuple of (focal, fov)
        Deprecated ``<field_of_view focal= fov=>`` entries (fov in degrees).
    crop : tuple of (focal, mode, left, right, top, bottom)
        ``<crop>`` entries; ``mode`` is "no_crop", "crop_rectangle" or "crop_circle".
    """

    real_focal: tuple[tuple[float, float], ...] = ()
    field_of_view: tuple[tuple[float, float], ...] = ()
    crop: tuple[tuple[float, str, float, float, float, float], ...] = ()

    def __bool__(self) -> bool:
        return bool(self.real_focal or self.field_of_view or self.crop)


@dataclass(frozen=True)
class LensfunDocument:
    """The content of one or more lensfun XML files, as mountkit objects.

    Attributes
    ----------
    mounts, cameras, lenses : tuples
        :class:`mountkit.Mount`, :class:`mountkit.Camera` and
        :class:`mountkit.Lens` objects (each lens with a
        :class:`mountkit.LensProfile`, possibly without calibrations), in file
        order, after lensfun's replacement of duplicate entries.
    extras : mapping of Lens to LensfunExtras
        The lenses that have real-focal-length, field-of-view or crop entries.
    maker_names : mapping of str to tuple of (lang, text)
        Translated maker names by maker (``"Nikon Corporation"`` ->
        ``(("en", "Nikon"),)``), gathered over all entries.
    languages : mapping of str to str
        The ``lang=`` of every translated name (alias text -> language).
    replaced : tuple of str
        One line per entry that a later entry replaced (as lensfun does).
    sources : tuple of str
        The files read.
    """

    mounts: tuple[Mount, ...] = ()
    cameras: tuple[Camera, ...] = ()
    lenses: tuple[Lens, ...] = ()
    extras: Mapping[Lens, LensfunExtras] = field(default_factory=dict)
    maker_names: Mapping[str, tuple[tuple[str, str], ...]] = field(default_factory=dict)
    languages: Mapping[str, str] = field(default_factory=dict)
    replaced: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()

    def to_xml(self) -> str:
        """This document as lensfun XML (see :func:`to_lensfun_xml`)."""
        return to_lensfun_xml(self.lenses, self.cameras, self.mounts, extras=self.extras,
                              maker_names=self.maker_names, languages=self.languages)


# -- raw entries (lensfun's view, before conversion) ---------------------------------------------------


def _f32(x: float) -> float:
    """``x`` rounded to float32, as lensfun stores it."""
    return _F32.unpack(_F32.pack(x))[0]


def _key(text: str | None) -> str:
    """lensfun's ``_lf_strcmp`` equality: case and runs of white space ignored."""
    return " ".join((text or "").split()).lower()


@dataclass
class _Names:
    """A lensfun multi-language string: the default text and the translations."""

    default: str | None = None
    translations: list[tuple[str, str]] = field(default_factory=list)

    def add(self, text: str, lang: str | None) -> None:
        if lang is None:
            self.default = text  # a later untranslated text replaces the earlier one
        else:
            self.translations.append((lang, text))

    def aliases(self) -> list[str]:
        out: list[str] = []
        for _, t in self.translations:
            if t != self.default and t not in out:
                out.append(t)
        return out


@dataclass
class _RawCalib:
    kind: str
    model: str
    focal: float
    terms: tuple[float, ...]
    aperture: float | None = None
    distance: float | None = None

    def slot(self) -> tuple:
        """What lensfun compares (in float) to decide that a later entry replaces this one."""
        if self.kind == "vignetting":
            return (self.kind, _f32(self.focal), _f32(self.aperture), _f32(self.distance))
        return (self.kind, _f32(self.focal))


@dataclass
class _RawLens:
    where: str
    maker: _Names = field(default_factory=_Names)
    model: _Names = field(default_factory=_Names)
    mounts: list[str] = field(default_factory=list)
    crop: float = 0.0
    aspect: float = 1.5
    lens_type: str = "rectilinear"
    focal_min: float = 0.0
    focal_max: float = 0.0
    aperture_min: float = 0.0
    aperture_max: float = 0.0
    aperture_max_given: bool = False
    center: tuple[float, float] = (0.0, 0.0)
    calibs: list[_RawCalib] = field(default_factory=list)
    slots: dict[tuple, int] = field(default_factory=dict)
    real_focal: list[tuple[float, float]] = field(default_factory=list)
    fov: list[tuple[float, float]] = field(default_factory=list)
    crops: list[tuple[float, str, float, float, float, float]] = field(default_factory=list)
    source: str = ""
    provenance: Provenance = field(default_factory=Provenance)

    def add_calib(self, c: _RawCalib) -> None:
        slot = c.slot()
        if slot in self.slots:
            self.calibs[self.slots[slot]] = c  # lensfun replaces the entry in place (_lf_addobj)
        else:
            self.slots[slot] = len(self.calibs)
            self.calibs.append(c)

    def identity(self) -> tuple[str, str]:
        return (_key(self.maker.default), _key(self.model.default))


@dataclass
class _RawCamera:
    where: str
    maker: _Names = field(default_factory=_Names)
    model: _Names = field(default_factory=_Names)
    variant: _Names = field(default_factory=_Names)
    mount: str | None = None
    crop: float = 0.0

    def identity(self) -> tuple[str, str, str]:
        return (_key(self.maker.default), _key(self.model.default), _key(self.variant.default))


@dataclass
class _RawMount:
    where: str
    name: _Names = field(default_factory=_Names)
    compat: list[str] = field(default_factory=list)


# -- parsing -----------------------------------------------------------------------------------------------


class _Parser:
    """Walks one parsed XML tree, checking it as lensfun 0.3.4's parser does."""

    def __init__(self, source: str, provenance: Provenance):
        self.source = source
        self.provenance = provenance
        self.mounts: list[_RawMount] = []
        self.cameras: list[_RawCamera] = []
        self.lenses: list[_RawLens] = []

    def fail(self, message: str, path: str, fld: str | None = None) -> ProfileError:
        return ProfileError(message, source=self.source, field=f"{path}/@{fld}" if fld else path)

    # values

    def number(self, text: str | None, path: str, fld: str | None = None, *, positive: bool = False,
               what: str = "value") -> float:
        if text is None:
            raise self.fail(f"{what} is missing", path, fld)
        try:
            v = float(text)
        except ValueError:
            v = None
        # float() also takes "1_000" and non-ASCII digits; a lensfun file has neither
        if v is None or "_" in text or not text.isascii():
            raise self.fail(f"{what} must be a decimal number, got {text!r}", path, fld)
        if not math.isfinite(v):
            raise self.fail(f"{what} must be a finite number, got {text!r}", path, fld)
        if positive and v <= 0:
            raise self.fail(f"{what} must be positive, got {text!r}", path, fld)
        return v

    def text(self, el, path: str) -> str | None:
        t = el.text or ""
        t = t.lstrip(_LENSFUN_SPACE)
        return t or None

    def check(self, el, path: str) -> None:
        allowed = _ATTRS.get(el.tag, set())
        for name in el.attrib:
            if name not in allowed:
                raise self.fail(f"<{el.tag}> has no attribute {name!r}"
                                + (f" (allowed: {', '.join(sorted(allowed))})" if allowed else ""), path, name)

    def children(self, el, path: str):
        """The child elements (comments skipped), each checked, with its path."""
        kids = _CHILDREN.get(el.tag, set())
        counts: dict[str, int] = {}
        for child in el:
            if not isinstance(child.tag, str):  # comments, processing instructions
                continue
            if child.tag not in kids:
                raise self.fail(f"unexpected element <{child.tag}> inside <{el.tag}>", f"{path}/{child.tag}")
            n = counts[child.tag] = counts.get(child.tag, 0) + 1
            cpath = f"{path}/{child.tag}[{n}]"
            self.check(child, cpath)
            yield child, cpath

    @staticmethod
    def label(el, path: str) -> str:
        """``path`` with the entry's model name (the last untranslated one, else the English one) appended."""
        default = english = None
        for c in el:
            if c.tag == "model" and (c.text or "").lstrip(_LENSFUN_SPACE):
                if c.get("lang") is None:
                    default = c.text.lstrip(_LENSFUN_SPACE)
                elif c.get("lang") == "en" and english is None:
                    english = c.text.lstrip(_LENSFUN_SPACE)
        name = default or english
        return f"{path}[{name}]" if name else path

    def names(self, names: _Names, el, path: str) -> None:
        t = self.text(el, path)
        if t is not None:
            names.add(t, el.get("lang"))

    @staticmethod
    def settle(names: _Names) -> None:
        """A name given only in translations takes its English text as the name."""
        if names.default is None:
            for i, (lang, text) in enumerate(names.translations):
                if lang == "en":
                    names.default = text
                    del names.translations[i]
                    return

    # elements

    def database(self, root) -> None:
        if root.tag != "lensdatabase":
            raise self.fail(f"root element is <{root.tag}>, expected <lensdatabase>", root.tag)
        self.check(root, "lensdatabase")
        version = root.get("version", "0").strip()
        if not re.fullmatch(r"[0-9]+", version):
            raise self.fail(f"database version must be an integer, got {version!r}", "lensdatabase", "version")
        if int(version) > DATABASE_VERSION:
            raise self.fail(f"database format version {version} is not supported (this reader reads versions "
                            f"0 to {DATABASE_VERSION}, as lensfun 0.3.4 and lensfunpy ship them)",
                            "lensdatabase", "version")
        for el, path in self.children(root, "lensdatabase"):
            if el.tag == "mount":
                self.mount(el, path)
            elif el.tag == "camera":
                self.camera(el, path)
            else:
                self.lens(el, path)

    def mount(self, el, path: str) -> None:
        m = _RawMount(where=path)
        for c, cpath in self.children(el, path):
            if c.tag == "name":
                self.names(m.name, c, cpath)
            else:
                t = self.text(c, cpath)
                if t is not None:
                    m.compat.append(t)
        self.settle(m.name)
        if m.name.default is None:
            raise self.fail("mount has no <name>", path)
        self.mounts.append(m)

    def camera(self, el, path: str) -> None:
        path = self.label(el, path)
        cam = _RawCamera(where=path)
        for c, cpath in self.children(el, path):
            if c.tag in ("maker", "model", "variant"):
                self.names(getattr(cam, c.tag), c, cpath)
            elif c.tag == "mount":
                cam.mount = self.text(c, cpath) or cam.mount
            else:
                cam.crop = self.number(c.text, cpath, positive=True, what="crop factor")
        for what in ("maker", "model", "variant"):
            self.settle(getattr(cam, what))
        for what in ("maker", "model"):
            if getattr(cam, what).default is None:
                raise self.fail(f"camera has no <{what}>", path)
        label = f"camera {cam.model.default!r}"
        if cam.mount is None:
            raise self.fail(f"{label} has no <mount>", path)
        if not cam.crop:
            raise self.fail(f"{label} has no <cropfactor>", path)
        self.cameras.append(cam)

    def lens(self, el, path: str) -> None:
        path = self.label(el, path)
        lens = _RawLens(where=path, source=self.source, provenance=self.provenance)
        for c, cpath in self.children(el, path):
            tag = c.tag
            if tag in ("maker", "model"):
                self.names(getattr(lens, tag), c, cpath)
            elif tag == "mount":
                t = self.text(c, cpath)
                if t is not None:
                    lens.mounts.append(t)
            elif tag == "cropfactor":
                lens.crop = self.number(c.text, cpath, positive=True, what="crop factor")
            elif tag == "aspect-ratio":
                lens.aspect = self.aspect_ratio(c.text, cpath)
            elif tag == "type":
                t = (self.text(c, cpath) or "").strip().lower()
                if t not in LENS_TYPES:
                    raise self.fail(f"unknown lens type {c.text!r} (lensfun knows {', '.join(LENS_TYPES)})", cpath)
                lens.lens_type = t
            elif tag in ("focal", "aperture"):
                lo, hi = f"{tag}_min", f"{tag}_max"
                for name in c.attrib:  # in document order, as lensfun applies them
                    v = self.number(c.get(name), cpath, name, positive=True, what=f"{tag} {name}")
                    if name in ("min", "value"):
                        setattr(lens, lo, v)
                    if name in ("max", "value"):
                        setattr(lens, hi, v)
                        if tag == "aperture":
                            lens.aperture_max_given = True
            elif tag == "center":
                x = self.number(c.get("x", "0"), cpath, "x", what="center x")
                y = self.number(c.get("y", "0"), cpath, "y", what="center y")
                lens.center = (x, y)
            else:
                self.calibration(lens, c, cpath)
        self.finish_lens(lens, path)
        self.lenses.append(lens)

    def aspect_ratio(self, text: str | None, path: str) -> float:
        t = (text or "").strip()
        if ":" in t:
            a, _, b = t.partition(":")
            v = self.number(a, path, positive=True, what="aspect ratio") / self.number(
                b, path, positive=True, what="aspect ratio")
        else:
            v = self.number(t, path, positive=True, what="aspect ratio")
        if v < 1:
            raise self.fail(f"aspect ratio {t!r} is below 1 (lensfun wants long side : short side)", path)
        return v

    def calibration(self, lens: _RawLens, el, path: str) -> None:
        for c, cpath in self.children(el, path):
            tag = c.tag
            focal = self.number(c.get("focal"), cpath, "focal", positive=True, what="focal length")
            if tag in _TERM_ATTRS:
                model = c.get("model", "none")
                if model not in _MODELS[tag]:
                    raise self.fail(f"unknown {tag} model {model!r} (lensfun 0.3.4 knows "
                                    f"{', '.join(_MODELS[tag])})", cpath, "model")
                terms = list(_TERM_DEFAULTS[tag])
                for name, index in _TERM_ATTRS[tag].items():
                    if name in c.attrib:
                        terms[index] = self.number(c.get(name), cpath, name, what=f"{tag} parameter {name!r}")
                aperture = distance = None
                if tag == "vignetting":
                    aperture = self.number(c.get("aperture"), cpath, "aperture", positive=True, what="aperture")
                    distance = self.number(c.get("distance"), cpath, "distance", positive=True, what="distance")
                lens.add_calib(_RawCalib(tag, model, focal, tuple(terms), aperture, distance))
            elif tag == "real-focal-length":
                real = self.number(c.get("real-focal"), cpath, "real-focal", positive=True, what="real focal length")
                _replace_by_focal(lens.real_focal, (focal, real))
            elif tag == "field_of_view":
                fov = self.number(c.get("fov"), cpath, "fov", positive=True, what="field of view")
                _replace_by_focal(lens.fov, (focal, fov))
            else:
                mode = c.get("mode", "no_crop")
                if mode not in _CROP_MODES:
                    raise self.fail(f"unknown crop mode {mode!r} (lensfun knows {', '.join(_CROP_MODES)})",
                                    cpath, "mode")
                sides = tuple(self.number(c.get(s, "0"), cpath, s, what=f"crop {s}")
                              for s in ("left", "right", "top", "bottom"))
                _replace_by_focal(lens.crops, (focal, mode, *sides))

    def finish_lens(self, lens: _RawLens, path: str) -> None:
        self.settle(lens.maker)
        self.settle(lens.model)
        if lens.model.default is None:
            raise self.fail("lens has no <model>", path)
        label = f"lens {lens.model.default!r}"
        if not lens.mounts:
            raise self.fail(f"{label} has no <mount>", path)
        if not lens.crop:
            raise self.fail(f"{label} has no <cropfactor>", path)
        focals = [c.focal for c in lens.calibs]
        focals += [f for f, _ in lens.real_focal] + [f for f, _ in lens.fov] + [c[0] for c in lens.crops]
        apertures = [c.aperture for c in lens.calibs if c.kind == "vignetting"]
        (lens.focal_min, lens.focal_max, lens.aperture_min, lens.aperture_max) = guess_lens_parameters(
            lens.model.default, focal_min=lens.focal_min, focal_max=lens.focal_max,
            aperture_min=lens.aperture_min, aperture_max=lens.aperture_max,
            calibration_focals=focals, calibration_apertures=apertures)
        if lens.focal_min > lens.focal_max:
            raise self.fail(f"{label}: focal min {lens.focal_min:g} mm is above focal max {lens.focal_max:g} mm",
                            f"{path}/focal")
        if lens.aperture_max and lens.aperture_min > lens.aperture_max:
            raise self.fail(f"{label}: aperture min f/{lens.aperture_min:g} is above aperture max "
                            f"f/{lens.aperture_max:g}", f"{path}/aperture")


def _replace_by_focal(entries: list, entry: tuple) -> None:
    for i, old in enumerate(entries):
        if _f32(old[0]) == _f32(entry[0]):
            entries[i] = entry
            return
    entries.append(entry)


def _parse_tree(data: bytes | str, source: str):
    try:
        return SafeET.fromstring(data)
    except DefusedXmlException as exc:
        raise ProfileError(f"refused unsafe XML ({type(exc).__name__}: {exc}); lensfun files need no DTD, "
                           "entities or external references", source=source) from None
    except _StdET.ParseError as exc:
        line, col = getattr(exc, "position", (0, 0))
        raise ProfileError(f"malformed XML at line {line}, column {col + 1}: {exc}", source=source) from None


def _merge(parsers: Iterable[_Parser]):
    """Apply lensfun's identity rules (AddMount, AddCamera, AddLens) over several files in order."""
    mounts: list[_RawMount] = []
    cameras: list[_RawCamera] = []
    lenses: list[_RawLens] = []
    replaced: list[str] = []
    mount_at: dict[str, int] = {}
    camera_at: dict[tuple, int] = {}
    lens_at: dict[tuple[str, str], list[int]] = {}
    for p in parsers:
        for m in p.mounts:
            k = _key(m.name.default)
            if k in mount_at:
                replaced.append(f"{p.source}: {m.where} {m.name.default!r} replaces an earlier mount of that name")
                mounts[mount_at[k]] = m
            else:
                mount_at[k] = len(mounts)
                mounts.append(m)
        for c in p.cameras:
            k = c.identity()
            if k in camera_at:
                replaced.append(f"{p.source}: {c.where} replaces an earlier camera of that maker, model and variant")
                cameras[camera_at[k]] = c
            else:
                camera_at[k] = len(cameras)
                cameras.append(c)
        for lens in p.lenses:
            slots = lens_at.setdefault(lens.identity(), [])
            for i in slots:
                # lens.cpp _lf_lens_compare: int((crop1 - crop2) * 100) == 0, in float
                d = np.float32(np.float32(lenses[i].crop) - np.float32(lens.crop)) * np.float32(100)
                if int(d) == 0:
                    replaced.append(f"{p.source}: {lens.where} (crop {lens.crop:g}) replaces {lenses[i].where} "
                                    f"(crop {lenses[i].crop:g}) of {lenses[i].source}, as lensfun does")
                    lenses[i] = lens
                    break
            else:
                slots.append(len(lenses))
                lenses.append(lens)
    return mounts, cameras, lenses, replaced


def _variant_alias(model: str, variant: str) -> str:
    return f"{model} ({variant})"


def _convert(parsers: list[_Parser], replaced_extra: Iterable[str] = ()) -> LensfunDocument:
    mounts_r, cameras_r, lenses_r, replaced = _merge(parsers)
    languages: dict[str, str] = {}
    maker_names: dict[str, list[tuple[str, str]]] = {}

    def note(names: _Names) -> None:
        for lang, text in names.translations:
            if text != names.default:
                languages.setdefault(text, lang)

    def note_maker(names: _Names) -> None:
        note(names)
        bucket = maker_names.setdefault(names.default, [])
        for pair in names.translations:
            if pair not in bucket and pair[1] != names.default:
                bucket.append(pair)

    mounts = []
    for m in mounts_r:
        note(m.name)
        mounts.append(Mount(name=m.name.default, compatible=tuple(m.compat), aliases=tuple(m.name.aliases())))
    cameras = []
    for c in cameras_r:
        note_maker(c.maker)
        note(c.model)
        aliases = c.model.aliases()
        if c.variant.default is not None:
            aliases.append(_variant_alias(c.model.default, c.variant.default))
        cameras.append(Camera(maker=c.maker.default, model=c.model.default, mount=c.mount, crop_factor=c.crop,
                              aliases=tuple(dict.fromkeys(aliases))))
    lenses = []
    extras: dict[Lens, LensfunExtras] = {}
    for r in lenses_r:
        if r.maker.default is not None:
            note_maker(r.maker)
        note(r.model)
        cals = []
        for c in r.calibs:
            if c.model == "none":
                continue
            names = MODEL_PARAMS[(c.kind, c.model)]
            params = dict(zip(names, c.terms[:len(names)], strict=True))
            cals.append(Calibration(kind=c.kind, model=c.model, focal=c.focal, params=params,
                                    aperture=c.aperture, distance=c.distance))
        profile = LensProfile(crop_factor=r.crop, aspect_ratio=r.aspect, center=r.center, calibrations=tuple(cals),
                              provenance=r.provenance, source=r.source)
        lens = Lens(maker=r.maker.default or "", model=r.model.default, mounts=tuple(r.mounts),
                    aliases=tuple(r.model.aliases()), lens_type=r.lens_type,
                    focal_min=r.focal_min or None, focal_max=r.focal_max or None,
                    aperture_max=r.aperture_min or None,
                    # lensfun's guessed MaxAperture is only the largest vignetting f-number: not kept
                    aperture_min=r.aperture_max if r.aperture_max_given else None,
                    profile=profile, source=r.source)
        lenses.append(lens)
        ex = LensfunExtras(tuple(r.real_focal), tuple(r.fov), tuple(r.crops))
        if ex:
            extras[lens] = ex
    return LensfunDocument(
        mounts=tuple(mounts), cameras=tuple(cameras), lenses=tuple(lenses), extras=MappingProxyType(extras),
        maker_names=MappingProxyType({k: tuple(v) for k, v in maker_names.items() if v}),
        languages=MappingProxyType(languages), replaced=tuple([*replaced_extra, *replaced]),
        sources=tuple(dict.fromkeys(p.source for p in parsers)))


ProvenanceArg = Provenance | Callable[[str], Provenance] | None


def _provenance_for(provenance: ProvenanceArg, source: str) -> Provenance:
    if provenance is None:
        return Provenance(source=f"lensfun XML, {Path(source).name}")
    if isinstance(provenance, Provenance):
        return provenance
    return provenance(source)


def parse_lensfun_xml(data: str | bytes, *, source: str = "<lensfun XML>",
                      provenance: ProvenanceArg = None) -> LensfunDocument:
    """Parse lensfun XML held in memory.

    Parameters
    ----------
    data : str or bytes
        The XML text.
    source : str
        Name used in error messages and as ``Lens.source`` / ``LensProfile.source``.
    provenance : Provenance or callable, optional
        Provenance of every lens profile, or a function of ``source`` giving
        it.  Default: ``Provenance(source="lensfun XML, <name>")`` with no
        licence.

    Returns
    -------
    LensfunDocument

    Raises
    ------
    ProfileError
        Naming ``source`` and the element path, for malformed or unsafe XML
        and for values lensfun would reject or misread.
    """
    return _convert([_parse_one(data, source, provenance)])


def _parse_one(data: str | bytes, source: str, provenance: ProvenanceArg) -> _Parser:
    root = _parse_tree(data, source)
    p = _Parser(source, _provenance_for(provenance, source))
    p.database(root)
    return p


def read_lensfun_xml(paths: str | os.PathLike | Iterable[str | os.PathLike], *, source: str | None = None,
                     provenance: ProvenanceArg = None) -> LensfunDocument:
    """Read one lensfun XML file, or several merged in order as lensfun loads a database.

    Parameters
    ----------
    paths : path or iterable of paths
        lensfun database files (format version 0 or 1).  With several files a
        later entry replaces an earlier one with the same identity (see the
        module documentation).
    source : str, optional
        Label used instead of the file path in errors and ``source`` fields
        (one file only).
    provenance : Provenance or callable, optional
        As for :func:`parse_lensfun_xml`; a callable receives the file path.

    Returns
    -------
    LensfunDocument

    Examples
    --------
    >>> import importlib.resources
    >>> db = importlib.resources.files("lensfunpy") / "db_files" / "rf-leica.xml"
    >>> doc = read_lensfun_xml(db)
    >>> lens = next(l for l in doc.lenses if l.model == "Summicron-M 1:2/28 ASPH.")
    >>> lens.focal_min, lens.aperture_max, lens.profile.crop_factor, [c.kind for c in lens.profile.calibrations]
    (28.0, 2.0, 1.0, ['distortion', 'tca'])
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    paths = [Path(p) for p in paths]
    if source is not None and len(paths) != 1:
        raise ValueError("source= names one file; give one path with it")
    parsers = []
    for p in paths:
        label = source if source is not None else str(p)
        data = read_bytes_limited(p, what="lensfun XML")
        parsers.append(_parse_one(data, label, _provenance_for(provenance, str(p))))
    return _convert(parsers)


# -- writing -----------------------------------------------------------------------------------------------


def _fmt(v: float) -> str:
    """Shortest text that reads back as the same float ("28", "0.01265", "1e-05")."""
    s = repr(float(v))
    return s[:-2] if s.endswith(".0") else s


def _fmt_aspect(v: float) -> str:
    fr = Fraction(v).limit_denominator(64)
    if fr.denominator > 1 and fr.numerator / fr.denominator == v or v == 1.0:
        return f"{fr.numerator}:{fr.denominator}"
    return _fmt(v)


def _sub(parent, tag: str, text: str | None = None, **attrs: str):
    el = _StdET.SubElement(parent, tag, attrs)
    if text is not None:
        el.text = text
    return el


def _names(parent, tag: str, default: str, aliases: Iterable[str], languages: Mapping[str, str]) -> None:
    _sub(parent, tag, default)
    for a in aliases:
        if a != default:
            _sub(parent, tag, a, lang=languages.get(a, "en"))


def _write_maker(parent, maker: str, maker_names: Mapping[str, tuple[tuple[str, str], ...]]) -> None:
    _sub(parent, "maker", maker)
    for lang, text in maker_names.get(maker, ()):
        _sub(parent, "maker", text, lang=lang)


def _unwritable(message: str, what: str) -> ProfileError:
    return ProfileError(f"cannot write to lensfun XML: {message}", source=what)


def to_lensfun_xml(
    lenses: Iterable[Lens] = (),
    cameras: Iterable[Camera] = (),
    mounts: Iterable[Mount] = (),
    *,
    extras: Mapping[Lens, LensfunExtras] | None = None,
    maker_names: Mapping[str, tuple[tuple[str, str], ...]] | None = None,
    languages: Mapping[str, str] | None = None,
) -> str:
    """lensfun database XML (format version 1) for lenses, cameras and mounts.

    :func:`read_lensfun_xml` reads the result back to equal objects.  lensfun
    0.3.4 (and lensfunpy) load it.

    Parameters
    ----------
    lenses : iterable of Lens
        Each needs a profile (for the calibration crop factor) and at least
        one mount; calibrations must use lensfun's models
        (:data:`MODEL_PARAMS`).
    cameras : iterable of Camera
        Each needs a mount.  An alias ``"<model> (<variant>)"`` is written as
        ``<variant>``.
    mounts : iterable of Mount
    extras : mapping, optional
        Real-focal-length, field-of-view and crop entries per lens
        (:attr:`LensfunDocument.extras`).
    maker_names, languages : mapping, optional
        Translated maker names and the language of each alias
        (:class:`LensfunDocument`); aliases of unknown language are written
        with ``lang="en"``.

    Raises
    ------
    ProfileError
        For data that lensfun XML cannot hold (a model lensfun does not know,
        a lens without mount or profile), naming the lens and the field.
    """
    extras = extras or {}
    maker_names = maker_names or {}
    languages = languages or {}
    root = _StdET.Element("lensdatabase", version=str(DATABASE_VERSION))
    for m in mounts:
        el = _sub(root, "mount")
        _names(el, "name", m.name, m.aliases, languages)
        for c in m.compatible:
            _sub(el, "compat", c)
    for cam in cameras:
        if not cam.mount:
            raise _unwritable(f"camera {cam.name!r} has no mount (lensfun needs one)", cam.source or cam.name)
        el = _sub(root, "camera")
        _write_maker(el, cam.maker, maker_names)
        prefix = f"{cam.model} ("
        variants = [a for a in cam.aliases if a.startswith(prefix) and a.endswith(")")]
        _names(el, "model", cam.model, [a for a in cam.aliases if a not in variants[:1]], languages)
        if variants:
            _sub(el, "variant", variants[0][len(prefix):-1])
        _sub(el, "mount", cam.mount)
        _sub(el, "cropfactor", _fmt(cam.crop_factor))
    for lens in lenses:
        _write_lens(root, lens, extras.get(lens), maker_names, languages)
    _StdET.indent(root, space="    ")
    return _StdET.tostring(root, encoding="unicode") + "\n"


def _write_lens(root, lens: Lens, ex: LensfunExtras | None, maker_names, languages) -> None:
    what = lens.source or lens.name
    if lens.profile is None:
        raise _unwritable(f"lens {lens.name!r} has no profile (lensfun needs its calibration crop factor)", what)
    if not lens.mounts:
        raise _unwritable(f"lens {lens.name!r} has no mount (lensfun needs at least one)", what)
    prof = lens.profile
    el = _sub(root, "lens")
    _write_maker(el, lens.maker, maker_names)
    _names(el, "model", lens.model, lens.aliases, languages)
    for m in lens.mounts:
        _sub(el, "mount", m)
    if lens.focal_min is not None:
        if lens.focal_min == lens.focal_max:
            _sub(el, "focal", value=_fmt(lens.focal_min))
        else:
            _sub(el, "focal", min=_fmt(lens.focal_min), max=_fmt(lens.focal_max))
    if lens.aperture_max is not None:
        if lens.aperture_min is None:
            _sub(el, "aperture", min=_fmt(lens.aperture_max))
        elif lens.aperture_min == lens.aperture_max:
            _sub(el, "aperture", value=_fmt(lens.aperture_max))
        else:
            _sub(el, "aperture", min=_fmt(lens.aperture_max), max=_fmt(lens.aperture_min))
    if lens.lens_type != "rectilinear":
        _sub(el, "type", lens.lens_type)
    if prof.center != (0.0, 0.0):
        _sub(el, "center", x=_fmt(prof.center[0]), y=_fmt(prof.center[1]))
    _sub(el, "cropfactor", _fmt(prof.crop_factor))
    if prof.aspect_ratio != 1.5:
        _sub(el, "aspect-ratio", _fmt_aspect(prof.aspect_ratio))
    if not prof.calibrations and not ex:
        return
    cal_el = _sub(el, "calibration")
    for c in prof.calibrations:
        names = MODEL_PARAMS.get((c.kind, c.model))
        if names is None:
            known = ", ".join(f"{k}/{m}" for k, m in MODEL_PARAMS)
            raise _unwritable(f"lens {lens.name!r}: {c.kind} model {c.model!r} has no lensfun equivalent "
                              f"(lensfun 0.3.4 knows {known})", what)
        unknown = set(c.params) - set(names)
        if unknown:
            raise _unwritable(f"lens {lens.name!r}: {c.kind} model {c.model!r} at {c.focal:g} mm has parameters "
                              f"{sorted(unknown)} that lensfun does not know (it takes {list(names)})", what)
        attrs = {"model": c.model, "focal": _fmt(c.focal)}
        if c.kind == "vignetting":
            attrs["aperture"] = _fmt(c.aperture)
            attrs["distance"] = _fmt(c.distance)
        defaults = dict(zip(names, _TERM_DEFAULTS[c.kind][:len(names)], strict=True))
        for n in names:
            attrs[n] = _fmt(c.params.get(n, defaults[n]))
        _sub(cal_el, c.kind, **attrs)
    if ex:
        for focal, real in ex.real_focal:
            _sub(cal_el, "real-focal-length", **{"focal": _fmt(focal), "real-focal": _fmt(real)})
        for focal, fov in ex.field_of_view:
            _sub(cal_el, "field_of_view", focal=_fmt(focal), fov=_fmt(fov))
        for focal, mode, left, right, top, bottom in ex.crop:
            attrs = {"focal": _fmt(focal), "mode": mode}
            if mode != "no_crop":
                attrs.update(left=_fmt(left), right=_fmt(right), top=_fmt(top), bottom=_fmt(bottom))
            _sub(cal_el, "crop", **attrs)


def write_lensfun_xml(path: str | os.PathLike, lenses: Iterable[Lens] = (), cameras: Iterable[Camera] = (),
                      mounts: Iterable[Mount] = (), *, force: bool = False, **options) -> Path:
    """Write :func:`to_lensfun_xml` to ``path`` atomically (temporary file + rename).

    An existing file is never replaced unless ``force`` is true.  ``options``
    go to :func:`to_lensfun_xml`.  Returns the path written.
    """
    text = to_lensfun_xml(lenses, cameras, mounts, **options)
    return write_file_atomic(path, text, force=force)
