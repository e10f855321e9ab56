"""Parity with lensfun 0.3.4 (as lensfunpy 1.18 ships it), over its whole bundled database.

Three oracles, each written here independently of mountkit's code:

* **lensfun's exact mathematics**: the equations of lensfun 0.3.4's coordinate systems and
  models (``shared/reference/lensfun-math.md`` §2–§5, §8), evaluated in float64
  (:func:`exact_coordinates`, :func:`exact_gain`).  mountkit must agree to 0.01 px and 1e-4
  relative gain.
* **lensfunpy's output** (``apply_subpixel_geometry_distortion``, ``apply_color_modification``,
  ``interpolate_*``).  On x86 lensfun walks the pixel grid in float32 and its SSE code has a lane
  bug and approximate reciprocal square roots (reference §9, §12): coordinates must agree within
  that documented error, interpolated coefficients to float32 precision.
* **lensfun's own autoscale** (``lf_modifier_get_auto_scale``, called through ctypes in the
  library lensfunpy bundles): mountkit's ``scale="auto"`` must agree to 0.1 % (plus lensfun's
  own search tolerance) and never leave an empty border.

The lenses are those of the first-party plugin ``mountkit_lensfun`` (lensfunpy's XML, with the
``<aspect-ratio>`` lensfunpy does not expose).  The database is swept by sampling: every lens, every
crop factor, sizes and focal lengths rotating, a fixed set of pixels per frame.  Run with ``-s`` to
see the measured figures.
"""

from __future__ import annotations

import ctypes
import glob
import itertools
import math
import warnings
from pathlib import Path

import numpy as np
import pytest

lensfunpy = pytest.importorskip("lensfunpy")
from mountkit_lensfun.database import bundled_database  # noqa: E402

import mountkit  # noqa: E402
from mountkit import Calibration, Corrector  # noqa: E402
from mountkit.geometry import boundary_pixels  # noqa: E402
from mountkit.interpolate import first_model, interpolate_focal, interpolate_vignetting  # noqa: E402

CROPS = (1.0, 1.33, 1.53, 2.64, 5.6)
SIZES = ((1500, 1000), (1000, 1500), (640, 480), (8192, 6144))
EPS32 = float(np.finfo(np.float32).eps)
DIST_NAMES = {1: "poly3", 2: "poly5", 3: "ptlens"}
TCA_NAMES = {1: "linear", 2: "poly3"}

#: The lenses of the reference's lensfunpy comparison (§12), and the Leica M lens of the target case.
MATRIX = (
    "Canon EF 24-70mm f/2.8L II USM",
    "FE 16-35mm f/2.8 GM",
    "FE 100-400mm f/4.5-5.6 GM OSS",
    "Canon EF 70-300mm f/4.5-5.6 DO IS USM",
    "Canon PowerShot G12 & compatibles (Standard)",
    "Carl Zeiss Distagon T* 2,8/21 ZE",
    "24-70mm F2.8 DG DN | Art 019",
    "Olympus M.Zuiko Digital ED 12-40mm f/2.8 Pro",
    "Lumix G Vario 14-45mm f/3.5-5.6 Asph. Mega OIS",
    "Summicron-M 1:2/28 ASPH.",
)


def figure(name: str, value) -> None:
    """Print a measured figure (shown with ``pytest -s``; they go into the issue's closing note)."""
    print(f"\nFIGURE {name}: {value}")


# -- lensfun itself, through ctypes -------------------------------------------------------------


class _LensHead(ctypes.Structure):
    """The first fields of lensfun 0.3.4's ``struct lfLens`` (lensfun.h)."""

    _fields_ = [("Maker", ctypes.c_void_p), ("Model", ctypes.c_void_p), ("MinFocal", ctypes.c_float),
                ("MaxFocal", ctypes.c_float), ("MinAperture", ctypes.c_float), ("MaxAperture", ctypes.c_float),
                ("Mounts", ctypes.c_void_p), ("CenterX", ctypes.c_float), ("CenterY", ctypes.c_float),
                ("CropFactor", ctypes.c_float), ("AspectRatio", ctypes.c_float), ("Type", ctypes.c_int)]


def _mlstr(ptr: int) -> list[str]:
    """Every variant of a lensfun multi-language string ("default\\0lang\\0text\\0...\\0\\0")."""
    first = ctypes.string_at(ptr)
    out, p = [first.decode()], ptr + len(first) + 1
    while True:
        lang = ctypes.string_at(p)
        if not lang:
            return out
        p += len(lang) + 1
        text = ctypes.string_at(p)
        out.append(text.decode())
        p += len(text) + 1


class Liblensfun:
    """lensfun 0.3.4's C API in the library lensfunpy bundles, on lensfunpy's database files."""

    LF_PF_F32, LF_RECTILINEAR = 3, 1
    LF_MODIFY_TCA, LF_MODIFY_DISTORTION = 0x1, 0x8

    def __init__(self):
        base = Path(lensfunpy.__file__).parent
        found = sorted(glob.glob(str(base.parent / "lensfunpy.libs" / "liblensfun*")))
        if not found:
            raise OSError("no liblensfun next to lensfunpy")
        lib = ctypes.CDLL(found[0])
        lib.lf_db_new.restype = ctypes.c_void_p
        lib.lf_db_load_file.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
        lib.lf_db_get_lenses.argtypes = [ctypes.c_void_p]
        lib.lf_db_get_lenses.restype = ctypes.POINTER(ctypes.c_void_p)
        lib.lf_modifier_new.argtypes = [ctypes.c_void_p, ctypes.c_float, ctypes.c_int, ctypes.c_int]
        lib.lf_modifier_new.restype = ctypes.c_void_p
        lib.lf_modifier_initialize.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int, ctypes.c_float,
                                               ctypes.c_float, ctypes.c_float, ctypes.c_float, ctypes.c_int,
                                               ctypes.c_int, ctypes.c_int]
        lib.lf_modifier_get_auto_scale.argtypes = [ctypes.c_void_p, ctypes.c_int]
        lib.lf_modifier_get_auto_scale.restype = ctypes.c_float
        lib.lf_modifier_destroy.argtypes = [ctypes.c_void_p]
        lib.lf_modifier_apply_color_modification.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_float,
                                                             ctypes.c_float, ctypes.c_int, ctypes.c_int,
                                                             ctypes.c_int, ctypes.c_int]
        lib.lf_modifier_apply_color_modification.restype = ctypes.c_int
        self.lib = lib
        self.db = lib.lf_db_new()
        for f in sorted((base / "db_files").glob("*.xml")):
            lib.lf_db_load_file(self.db, str(f).encode())
        arr = lib.lf_db_get_lenses(self.db)
        self.lenses: dict[tuple[str, str, float], tuple[int, _LensHead]] = {}
        n = 0
        while arr[n]:
            head = _LensHead.from_address(arr[n])
            for maker in _mlstr(head.Maker):
                for model in _mlstr(head.Model):
                    self.lenses[(maker, model, round(head.CropFactor, 3))] = (arr[n], head)
            n += 1

    LF_MODIFY_VIGNETTING = 0x2
    LF_CR_RGB = 4 | (5 << 4) | (6 << 8)  # LF_CR_3(RED, GREEN, BLUE)

    def gain_band(self, key, crop: float, width: int, height: int, focal: float, aperture: float,
                  distance: float, rows: int) -> np.ndarray | None:
        """``lf_modifier_apply_color_modification`` on float32 ones, the top ``rows`` rows of the frame."""
        ptr = self.lenses[key][0]
        mod = self.lib.lf_modifier_new(ptr, crop, width, height)
        self.lib.lf_modifier_initialize(mod, ptr, self.LF_PF_F32, focal, aperture, distance, 1.0,
                                        self.LF_RECTILINEAR, self.LF_MODIFY_VIGNETTING, 0)
        band = np.ones((rows, width, 3), np.float32)
        done = self.lib.lf_modifier_apply_color_modification(mod, band.ctypes.data, 0.0, 0.0, width, rows,
                                                              self.LF_CR_RGB, width * 3 * 4)
        self.lib.lf_modifier_destroy(mod)
        return band[..., 1] if done else None

    def auto_scale(self, key, crop: float, width: int, height: int, focal: float, tca: bool) -> float:
        """``lf_modifier_get_auto_scale`` for distortion (and TCA) without a projection change."""
        ptr = self.lenses[key][0]
        mod = self.lib.lf_modifier_new(ptr, crop, width, height)
        flags = self.LF_MODIFY_DISTORTION | (self.LF_MODIFY_TCA if tca else 0)
        self.lib.lf_modifier_initialize(mod, ptr, self.LF_PF_F32, focal, 8.0, 1000.0, 1.0, self.LF_RECTILINEAR,
                                        flags, 0)
        scale = self.lib.lf_modifier_get_auto_scale(mod, 0)
        self.lib.lf_modifier_destroy(mod)
        return float(scale)


# -- lensfun's exact mathematics, independently ---------------------------------------------------


def exact_coordinates(i, j, *, width, height, crop, lens_crop, aspect, dist=None, tca=None, scale=1.0):
    """Source (x, y) of R, G, B for output pixels (i, j): reference §2.1, §3, §4, §5, in float64.

    ``dist`` and ``tca`` are (model name, terms) in lensfun's term order.
    """
    big_w, big_h = max(width - 1, 1), max(height - 1, 1)
    size = min(big_w, big_h)
    iar = max(big_w, big_h) / size
    cc = 1.0 / math.sqrt(iar * iar + 1.0) * lens_crop / crop * math.sqrt(aspect * aspect + 1.0)
    ns = 2.0 / size * cc
    cx, cy = big_w / size * cc, big_h / size * cc
    x = (np.asarray(i, float) * ns - cx) * (1.0 / scale)
    y = (np.asarray(j, float) * ns - cy) * (1.0 / scale)
    r2 = x * x + y * y
    r = np.sqrt(r2)
    s = np.ones_like(r)
    if dist is not None:
        name, t = dist
        if name == "poly3":
            s = (1 - t[0]) + t[0] * r2
        elif name == "poly5":
            s = 1 + t[0] * r2 + t[1] * r2 * r2
        elif name == "ptlens":
            s = t[0] * r2 * r + t[1] * r2 + t[2] * r + (1 - t[0] - t[1] - t[2])
    xd, yd = x * s, y * s
    rd = np.sqrt(xd * xd + yd * yd)
    fr = fb = np.ones_like(rd)
    if tca is not None:
        name, t = tca
        if name == "linear":
            fr, fb = fr * t[0], fb * t[1]
        else:  # poly3: [vr, vb, cr, cb, br, bb]
            fr = t[4] * rd * rd + t[2] * rd + t[0]
            fb = t[5] * rd * rd + t[3] * rd + t[1]
    out = np.empty(np.shape(r) + (3, 2))
    for c, f in enumerate((fr, 1.0, fb)):
        out[..., c, 0] = (xd * f + cx) / ns
        out[..., c, 1] = (yd * f + cy) / ns
    return out


def exact_gain(i, j, *, width, height, crop, lens_crop, aspect, terms):
    """Vignetting gain 1 / (1 + k1 r^2 + k2 r^4 + k3 r^6) at pixels (i, j): reference §8.1, in float64."""
    big_w, big_h = max(width - 1, 1), max(height - 1, 1)
    size = min(big_w, big_h)
    iar = max(big_w, big_h) / size
    arc = math.sqrt(aspect * aspect + 1.0)
    cc = 1.0 / math.sqrt(iar * iar + 1.0) * lens_crop / crop * arc
    ns = 2.0 / size * cc
    x = np.asarray(i, float) * ns - big_w / size * cc
    y = np.asarray(j, float) * ns - big_h / size * cc
    r2 = (x * x + y * y) / (arc * arc)
    return 1.0 / (1 + terms[0] * r2 + terms[1] * r2**2 + terms[2] * r2**3)


# -- fixtures ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def kit():
    return mountkit.Kit(entry_points=False)


@pytest.fixture(scope="module")
def pairs():
    """(mountkit lens, lensfunpy lens) for every lens of the database, matched by maker, model and crop."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        db = lensfunpy.Database()
    index = {(lf.maker, lf.model, round(lf.crop_factor, 3)): lf for lf in db.lenses}
    out = []
    for lens in bundled_database().lenses:
        key = (lens.maker, lens.model, round(lens.profile.crop_factor, 3))
        out.append((lens, index[key]))
    assert len(out) == len(db.lenses) > 1300
    return out


@pytest.fixture(scope="module")
def liblensfun():
    try:
        return Liblensfun()
    except OSError as exc:  # e.g. a lensfunpy build without the bundled library
        pytest.skip(f"lensfun's C library is not reachable through lensfunpy: {exc}")


def key_of(lens):
    return (lens.maker, lens.model, round(lens.profile.crop_factor, 3))


def test_profiles_carry_lensfuns_crop_factor_and_aspect_ratio(pairs, liblensfun):
    """The data mountkit feeds its engine is lensfun's: crop factor and <aspect-ratio> of every lens."""
    ratios = {}
    for lens, _ in pairs:
        _, head = liblensfun.lenses[key_of(lens)]
        assert lens.profile.crop_factor == pytest.approx(head.CropFactor, rel=1e-6)
        assert lens.profile.aspect_ratio == pytest.approx(head.AspectRatio, rel=1e-6), lens.name
        assert lens.profile.center == (head.CenterX, head.CenterY) == (0.0, 0.0)
        ratios[round(head.AspectRatio, 3)] = ratios.get(round(head.AspectRatio, 3), 0) + 1
    figure("lenses by aspect ratio", ratios)
    assert ratios[1.333] > 300


# -- interpolation -------------------------------------------------------------------------------


def calibrations_from_lensfunpy(kind, items, names):
    """Calibrations holding exactly lensfun's stored (float32) values, from lensfunpy's lists."""
    cals = []
    for c in items:
        name = names.get(c.model.value, "none")
        if kind == "vignetting":
            cals.append(Calibration(kind, "pa", c.focal, dict(zip(("k1", "k2", "k3"), c.terms, strict=True)),
                                    aperture=c.aperture, distance=c.distance))
        else:
            params = {} if name == "none" else dict(zip(PARAMS[kind][name], c.terms, strict=False))
            cals.append(Calibration(kind, name, c.focal, params))
    return cals


PARAMS = {"distortion": {"poly3": ("k1",), "poly5": ("k1", "k2"), "ptlens": ("a", "b", "c")},
          "tca": {"linear": ("kr", "kb"), "poly3": ("vr", "vb", "cr", "cb", "br", "bb")}}


def focal_tests(focals):
    """On every calibration, between neighbours (float32-exact), and outside on both sides."""
    fs = sorted(set(focals))
    between = [float(np.float32(a + (b - a) * u)) for a, b in zip(fs, fs[1:], strict=False)
               for u in (0.5, 0.3)]
    return fs + between + [float(np.float32(fs[0] * 0.8)), float(np.float32(fs[-1] * 1.25))]


def test_interpolated_distortion_and_tca_equal_lensfunpy(kit, pairs):
    """Every distortion and TCA calibration set of the database, on, between and outside calibrations."""
    worst, n = 0.0, 0
    for lens, lf in pairs:
        for kind, items, names, fn in (("distortion", lf.calib_distortion, DIST_NAMES, lf.interpolate_distortion),
                                       ("tca", lf.calib_tca, TCA_NAMES, lf.interpolate_tca)):
            if not items:
                continue
            cals = calibrations_from_lensfunpy(kind, items, names)
            name, used, _ = first_model(cals)
            model = kit.model(kind, name)
            scaled = np.array([p in model.scaled() for p in model.params])
            mags = np.max([[abs(c.params[p]) * (c.focal if s else 1.0)
                            for p, s in zip(model.params, scaled, strict=True)] for c in used], axis=0)
            for f in focal_tests(c.focal for c in used):
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    ours = interpolate_focal(cals, f, model)
                theirs = fn(f)
                assert theirs is not None and ours.model == name
                got = np.array([ours.params[p] for p in model.params])
                want = np.array(theirs.terms[:len(got)])
                # float32 precision: units in the last place of the largest spline value (term x focal, / f)
                scale = np.where(scaled, mags / f, mags)
                err = np.abs(got - want) / np.maximum(scale, 1e-30) / EPS32
                worst = max(worst, float(err.max()))
                n += 1
                assert err.max() <= 4, (lens.name, kind, f, got, want)
    figure("interpolate_distortion/tca vs lensfunpy", f"{n} cases, worst {worst:.2f} float32 ulps of the data")


def test_interpolated_vignetting_equals_lensfunpy(kit, pairs):
    """Every lens with vignetting data: on calibrations, between them, and beyond lensfun's reach."""
    model = kit.model("vignetting", "pa")
    rng = np.random.default_rng(7)
    worst, n, none = 0.0, 0, 0
    for lens, lf in pairs:
        items = lf.calib_vignetting
        if not items:
            continue
        cals = calibrations_from_lensfunpy("vignetting", items, {})
        mags = np.max(np.abs([c.terms[:3] for c in items]), axis=0)
        pts = [(c.focal, c.aperture, c.distance) for c in items]
        picks = [pts[i] for i in rng.choice(len(pts), min(2, len(pts)), replace=False)]
        tests = []
        for f, a, d in picks:
            zoom = lf.max_focal > lf.min_focal
            tests += [(f, a, d), (f, a * 1.19, d), (f * 1.07 if zoom else f, a, d * 0.7), (f, a * 0.5, d),
                      (f, a, 0.05)]
        for f, a, d in tests:
            f, a, d = (float(np.float32(v)) for v in (f, a, d))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ours = interpolate_vignetting(cals, f, a, d, model, focal_min=lf.min_focal, focal_max=lf.max_focal)
            theirs = lf.interpolate_vignetting(f, a, d)
            n += 1
            assert (ours is None) == (theirs is None), (lens.name, f, a, d)
            if ours is None:
                none += 1
                continue
            got = np.array([ours.params[k] for k in model.params])
            # lensfun sums every calibration's weighted terms in float32: a few ulps per term
            err = np.abs(got - np.array(theirs.terms[:3])) / np.maximum(mags, 1e-30) / EPS32 / (len(items) + 4)
            worst = max(worst, float(err.max()))
            assert err.max() <= 1, (lens.name, f, a, d, got, theirs.terms)
    figure("interpolate_vignetting vs lensfunpy",
           f"{n} cases ({none} beyond reach, no correction in both), worst {worst:.3f} x (n_cal + 4) float32 ulps")


# -- the database sweep against the exact maths -------------------------------------------------------


def sample_pixels(width, height, seed):
    """Corners, edge midpoints, centre, 24 interior and 12 boundary pixels (fixed per size)."""
    rng = np.random.default_rng(seed)
    w1, h1 = width - 1, height - 1
    fixed = [(0, 0), (w1, 0), (0, h1), (w1, h1), (w1 / 2, 0), (w1 / 2, h1), (0, h1 / 2), (w1, h1 / 2), (w1 / 2, h1 / 2)]
    inner = list(zip(rng.uniform(0, w1, 24), rng.uniform(0, h1, 24), strict=True))
    edge = [(rng.uniform(0, w1), 0.0) for _ in range(6)] + [(0.0, rng.uniform(0, h1)) for _ in range(6)]
    pts = np.array(fixed + inner + edge, float)
    return pts[:, 0], pts[:, 1]


def lensfun_terms(lf, focal):
    d = lf.interpolate_distortion(focal) if lf.calib_distortion else None
    t = lf.interpolate_tca(focal) if lf.calib_tca else None
    dist = (DIST_NAMES[d.model.value], list(d.terms)) if d is not None and d.model.value in DIST_NAMES else None
    tca = (TCA_NAMES[t.model.value], list(t.terms)) if t is not None and t.model.value in TCA_NAMES else None
    return dist, tca


def sweep(pairs):
    """Every lens with distortion or TCA data x every crop factor; frame size and focal length rotate."""
    n = 0
    for lens, lf in pairs:
        if not (lf.calib_distortion or lf.calib_tca):
            continue
        focals = focal_tests(c.focal for c in list(lf.calib_distortion) + list(lf.calib_tca))[:-2]
        for m, crop in enumerate(CROPS):
            size = SIZES[(n + m) % len(SIZES)]
            focal = focals[(n + 3 * m) % len(focals)]
            yield n, m, lens, lf, crop, size, focal
        n += 1


def test_database_sweep_coordinates_equal_lensfuns_exact_maths(kit, pairs):
    """Every lens with distortion or TCA, crops {1, 1.33, 1.53, 2.64, 5.6}, four frame sizes, scale 1."""
    pix = {size: sample_pixels(*size, seed=i) for i, size in enumerate(SIZES)}
    worst = {}
    lenses, cases = set(), 0
    for _, _, lens, lf, crop, size, focal in sweep(pairs):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cor = Corrector(kit, lens, crop_factor=crop, size=size, focal=focal, corrections=("tca", "distortion"))
        x, y = pix[size]
        ours = cor.source_points(x, y)
        dist, tca = lensfun_terms(lf, focal)
        ref = exact_coordinates(x, y, width=size[0], height=size[1], crop=crop, lens_crop=lens.profile.crop_factor,
                                aspect=lens.profile.aspect_ratio, dist=dist, tca=tca)
        err = np.abs(ours - ref)
        # extrapolated far outside the calibration (crop-5.6 lenses at crop 1) coordinates reach 1e5 px:
        # there the terms' float32 storage in lensfun limits the comparison to 1e-7 relative
        tol = np.maximum(0.01, 1e-7 * np.abs(ref))
        assert np.all(err <= tol), (lens.name, crop, size, focal, float(err.max()))
        inside = crop >= 0.96 * lens.profile.crop_factor
        k = (size, "calibrated" if inside else "extrapolated")
        worst[k] = max(worst.get(k, 0.0), float(err.max()))
        lenses.add(key_of(lens))
        cases += 1
    figure("sweep coordinates vs exact maths, scale 1",
           f"{len(lenses)} lenses, {cases} frames; max |d| px by size: "
           + ", ".join(f"{s[0]}x{s[1]} {w}: {v:.2e}" for (s, w), v in sorted(worst.items())))
    assert len(lenses) > 1200 and cases > 6000


def test_database_sweep_autoscale_matches_lensfun_and_leaves_no_empty_border(kit, pairs, liblensfun):
    """Every lens with distortion or TCA at one (crop, size, focal) combination each (rotating), scale="auto"."""
    rel_worst, rel_ratio, cases, lensfun_empty, coord_worst, degenerate = 0.0, 0.0, 0, [], 0.0, []
    boundaries = {size: boundary_pixels(*size) for size in SIZES}
    for n, m, lens, lf, crop, size, focal in sweep(pairs):
        if (n + m) % 5 != 0:
            continue
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            cor = Corrector(kit, lens, crop_factor=crop, size=size, focal=focal, scale="auto",
                            corrections=("tca", "distortion"))
        w, h = size
        bi, bj = boundaries[size]
        src = cor.source_points(bi, bj)
        if any("never carries the frame's edge" in str(c.message) for c in caught):
            # a calibration used far outside its sensor (e.g. a crop-6.4 action camera at crop 1): the
            # polynomial turns back and no zoom can fill the frame; lensfun returns its floor 0.01 too
            assert crop < lens.profile.crop_factor and cor.scale == pytest.approx(0.01001)
            degenerate.append(f"{lens.name} at crop {crop}")
            continue
        # no empty border: every boundary pixel, every channel, samples within the captured frame
        assert np.all((src[..., 0] >= 0) & (src[..., 0] <= w - 1) & (src[..., 1] >= 0) & (src[..., 1] <= h - 1)), \
            (lens.name, crop, size, focal, cor.scale)
        # and the coordinates at that scale are lensfun's exact maths
        dist, tca = lensfun_terms(lf, focal)
        x, y = sample_pixels(w, h, seed=0)
        ref = exact_coordinates(x, y, width=w, height=h, crop=crop, lens_crop=lens.profile.crop_factor,
                                aspect=lens.profile.aspect_ratio, dist=dist, tca=tca, scale=cor.scale)
        coord_worst = max(coord_worst, float(np.abs(cor.source_points(x, y) - ref).max()))
        if crop < 0.96 * lens.profile.crop_factor:
            continue  # lensfun never uses a calibration on a larger sensor (lens lookup rejects it)
        theirs = liblensfun.auto_scale(key_of(lens), crop, w, h, focal, tca=bool(lf.calib_tca))
        rel = cor.scale / theirs - 1
        # lensfun's secant search stops at a residual of 1e-3 normalised units, i.e. 1e-3 / cc relative
        tol = 1e-3 + 1e-3 / cor.geometry.coordinate_correction
        cases += 1
        if abs(rel) > tol:
            # only where lensfun's own scale leaves an empty border (its 8 directions miss the binding one)
            assert rel > 0, (lens.name, crop, size, focal, cor.scale, theirs)
            at_theirs = exact_coordinates(bi, bj, width=w, height=h, crop=crop, lens_crop=lens.profile.crop_factor,
                                          aspect=lens.profile.aspect_ratio, dist=dist, tca=tca, scale=theirs)
            assert not np.all((at_theirs[..., 0] >= 0) & (at_theirs[..., 0] <= w - 1) &
                              (at_theirs[..., 1] >= 0) & (at_theirs[..., 1] <= h - 1))
            lensfun_empty.append(f"{lens.name} crop {crop} {w}x{h} f={focal:g}: {cor.scale:.5f} vs {theirs:.5f}")
            continue
        rel_worst = max(rel_worst, abs(rel))
        rel_ratio = max(rel_ratio, abs(rel) / tol)
    assert coord_worst <= 0.01
    figure("autoscale vs lf_modifier_get_auto_scale",
           f"{cases} cases; max |rel| {rel_worst:.2e} (max {rel_ratio:.2f} of 1e-3 + 1e-3/cc); "
           f"{len(lensfun_empty)} where lensfun's scale leaves an empty border: {lensfun_empty}; "
           f"{len(degenerate)} extrapolated cases without any valid zoom: {degenerate}")
    figure("coordinates at autoscale vs exact maths", f"max |d| {coord_worst:.2e} px")
    assert cases > 700 and len(lensfun_empty) <= 0.01 * cases


def test_database_sweep_vignetting_equals_lensfuns_exact_maths(kit, pairs):
    """Every lens with vignetting, on and between calibration points, every crop factor, sizes rotating."""
    pix = {size: sample_pixels(*size, seed=10 + i) for i, size in enumerate(SIZES)}
    worst, cases, lenses = 0.0, 0, 0
    for n, (lens, lf) in enumerate(pairs):
        items = lf.calib_vignetting
        if not items:
            continue
        lenses += 1
        pts = sorted({(c.focal, c.aperture, c.distance) for c in items})
        for m, crop in enumerate(CROPS):
            f, a, d = pts[(n + m) % len(pts)]
            if m % 2:  # between calibration points: another aperture and focus distance
                f, a, d = f, a * 1.19, d * 0.8
            size = SIZES[(n + m) % len(SIZES)]
            f, a, d = (float(np.float32(v)) for v in (f, a, d))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                cor = Corrector(kit, lens, crop_factor=crop, size=size, focal=f, aperture=a, distance=d,
                                corrections=("vignetting",))
            theirs = lf.interpolate_vignetting(f, a, d)
            assert ("vignetting" in cor.active) == (theirs is not None)
            if theirs is None:
                continue
            x, y = pix[size]
            ref = exact_gain(x, y, width=size[0], height=size[1], crop=crop, lens_crop=lens.profile.crop_factor,
                             aspect=lens.profile.aspect_ratio, terms=list(theirs.terms))
            ours = cor.gain_points(x, y)
            ok = (ref > 0.01) & (ref < 100)  # where lensfun's polynomial is not extrapolated into its roots
            rel = np.abs(ours[ok] / ref[ok] - 1)
            assert rel.max(initial=0) <= 1e-4, (lens.name, crop, size, (f, a, d))
            worst = max(worst, float(rel.max(initial=0)))
            cases += 1
    figure("sweep vignetting gain vs exact maths", f"{lenses} lenses, {cases} frames, max relative {worst:.2e}")
    assert lenses > 500 and cases > 1500


# -- against lensfunpy's actual output --------------------------------------------------------------


def lensfunpy_modifier(lf, crop, w, h, focal, scale, aperture=8.0, distance=1000.0, pixel_format=np.float32,
                       flags=None):
    mod = lensfunpy.Modifier(lf, crop, w, h)
    if flags is None:
        flags = lensfunpy.ModifyFlags.DISTORTION | lensfunpy.ModifyFlags.TCA | lensfunpy.ModifyFlags.SCALE
    mod.initialize(focal, aperture, distance, scale=scale, pixel_format=pixel_format, flags=flags)
    return mod


@pytest.fixture(scope="module")
def matrix(pairs):
    by_model = {lf.model: (lens, lf) for lens, lf in pairs}
    return [by_model[m] for m in MATRIX]


def test_coordinates_agree_with_lensfunpy_within_its_documented_error(kit, matrix, liblensfun):
    """lensfunpy's apply_subpixel_geometry_distortion vs mountkit (reference §12.2 bounds).

    lensfunpy differs from the exact maths by its float32 grid walk, the SSE lane bug and rsqrt
    approximations: <= 0.17 px at 1500 px, <= 0.91 px at 8192 px (crop >= lens crop), 0.17-0.24 px
    for full-frame lenses on 8192 x 6144 at crop 2.64.  mountkit is compared row-sampled (every 16th
    row, all columns so the SSE lane pattern is covered) at lensfun's own scale.
    """
    results = {}
    for lens, lf in matrix:
        focals = sorted({c.focal for c in lf.calib_distortion})
        picks = [focals[0], float(np.float32((focals[0] + focals[1]) / 2))] if len(focals) > 1 else focals
        crops = sorted({max(1.0, round(lens.profile.crop_factor, 3)), 2.64})
        for crop, size, (focal, auto) in itertools.product(crops, ((1500, 1000), (1000, 1500)),
                                                           [(f, False) for f in picks] + [(picks[-1], True)]):
            w, h = size
            results.setdefault(("small", lens.name), []).append(
                compare_with_lensfunpy(kit, lens, lf, liblensfun, crop, w, h, focal, auto, rows=range(0, h, 8)))
        if lens.profile.crop_factor == 1.0:  # the 1-inch target case, in four bands of 16 rows
            for auto in (False, True):
                results.setdefault(("one-inch", lens.name), []).append(
                    compare_with_lensfunpy(kit, lens, lf, liblensfun, 2.64, 8192, 6144, focals[-1], auto,
                                           bands=(0, 2048, 4096, 6128)))
    small = max(max(v) for (k, _), v in results.items() if k == "small")
    target = {name: max(v) for (k, name), v in results.items() if k == "one-inch"}
    figure("coordinates vs lensfunpy, 1500x1000 and 1000x1500, crop 1 (or the lens's) and 2.64",
           f"max |d| {small:.3f} px")
    figure("coordinates vs lensfunpy, full-frame lenses on 8192x6144 at crop 2.64 (16-row bands)",
           ", ".join(f"{k}: {v:.3f}" for k, v in target.items()))
    assert small <= 0.17
    assert all(0.1 <= v <= 0.25 for v in target.values())  # lensfunpy's float32 grid walk is really there


def compare_with_lensfunpy(kit, lens, lf, liblensfun, crop, w, h, focal, auto, rows=None, bands=None):
    """Max |mountkit - lensfunpy| in px over sampled rows of the whole frame, or over row bands.

    lensfunpy restarts its float32 grid walk at the top of each band (reference §2.2).
    """
    scale = liblensfun.auto_scale(key_of(lens), crop, w, h, focal, tca=bool(lf.calib_tca)) if auto else 1.0
    mod = lensfunpy_modifier(lf, crop, w, h, focal, 0.0 if auto else 1.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cor = Corrector(kit, lens, crop_factor=crop, size=(w, h), focal=focal, scale=scale,
                        corrections=("tca", "distortion"))
    xs = np.arange(w, dtype=float)[None, :]
    if bands is None:
        r = np.array(list(rows))
        theirs = mod.apply_subpixel_geometry_distortion()[r]
        return float(np.abs(cor.source_points(xs, r[:, None].astype(float)) - theirs).max())
    worst = 0.0
    for y0 in bands:
        theirs = mod.apply_subpixel_geometry_distortion(0, y0, w, 16)
        ours = cor.source_points(xs, np.arange(y0, y0 + 16, dtype=float)[:, None])
        worst = max(worst, float(np.abs(ours - theirs).max()))
    return worst


def test_vignetting_agrees_with_lensfunpy(kit, pairs, liblensfun):
    """apply_color_modification on float32 ones vs vignetting_gain (reference §12.6 bounds).

    lensfunpy for 1500x1000 and 1000x1500; for 8192x6144 lensfun's C call on the top 64 rows (which
    hold the frame's corners), as lensfunpy only takes whole frames.
    """
    models = ("Canon EF 24-70mm f/2.8L II USM", "FE 24-70mm f/2.8 GM", "Canon EF 16-35mm f/2.8L II USM",
              "FE 100-400mm f/4.5-5.6 GM OSS", "Olympus M.Zuiko Digital ED 12-40mm f/2.8 Pro")
    by_model = {lf.model: (lens, lf) for lens, lf in pairs}
    worst_target, worst_all, cases = 0.0, 0.0, 0
    for model in models:
        lens, lf = by_model[model]
        items = lf.calib_vignetting
        f = float(np.float32(items[len(items) // 2].focal * 1.05))
        a, d = float(np.float32(items[0].aperture * 1.3)), 5.0
        for crop, (w, h) in itertools.product((1.0, 1.534, 2.64, 5.6), ((1500, 1000), (1000, 1500), (8192, 6144))):
            if crop < lens.profile.crop_factor:
                continue
            if h > 2000:
                rows = 64
                theirs = liblensfun.gain_band(key_of(lens), crop, w, h, f, a, d, rows)
            else:
                rows = h
                mod = lensfunpy_modifier(lf, crop, w, h, f, 1.0, aperture=a, distance=d,
                                         flags=lensfunpy.ModifyFlags.VIGNETTING)
                ones = np.ones((h, w, 3), np.float32)
                assert mod.apply_color_modification(ones)
                theirs = ones[..., 1]
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                cor = Corrector(kit, lens, crop_factor=crop, size=(w, h), focal=f, aperture=a, distance=d,
                                corrections=("vignetting",))
            ours = cor.vignetting_gain(rows=slice(0, rows))
            rel = float(np.abs(ours / theirs - 1).max())
            worst_all = max(worst_all, rel)
            cases += 1
            if (w, h, crop) == (8192, 6144, 2.64) and lens.profile.crop_factor == 1.0:
                worst_target = max(worst_target, rel)
            assert rel <= 4.6e-4, (model, crop, w, h)
    figure("vignetting gain vs lensfun", f"{cases} cases, max relative {worst_all:.2e}; full-frame lenses on "
                                         f"8192x6144 at crop 2.64: {worst_target:.2e}")
    assert 0 < worst_target <= 1.9e-5


def test_corrector_float32_maps_against_lensfunpy_whole_frame(kit, matrix):
    """The float32 source_coordinates() of whole frames, as a user would remap them, vs lensfunpy."""
    lens, lf = matrix[0]
    mod = lensfunpy_modifier(lf, 1.534, 1500, 1000, 35.0, 1.0)
    theirs = mod.apply_subpixel_geometry_distortion()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cor = Corrector(kit, lens, crop_factor=1.534, size=(1500, 1000), focal=35.0, corrections=("tca", "distortion"))
    ours = cor.source_coordinates()
    assert ours.shape == theirs.shape and ours.dtype == theirs.dtype == np.float32
    d = float(np.abs(ours - theirs).max())
    figure("EF 24-70 II at 35 mm, crop 1.534, 1500x1000, whole frame vs lensfunpy", f"{d:.3f} px")
    assert 0.005 < d <= 0.17


def test_autoscale_where_lensfuns_eight_directions_leave_an_empty_border(kit, pairs, liblensfun):
    """Sigma's 4.5 mm circular fisheye (distortion only, no projection change) at crop 1.53: lensfun's search
    gives up in some directions and its scale leaves the frame's edge empty; mountkit's does not."""
    lens, lf = next(p for p in pairs if p[1].model == "Sigma 4.5mm f/2.8 EX DC HSM circular fisheye")
    w, h, crop = 8192, 6144, 1.53
    with pytest.warns(mountkit.CorrectionWarning, match="beyond the calibration sensor"):  # 1.53 < 1.534
        cor = Corrector(kit, lens, crop_factor=crop, size=(w, h), scale="auto", corrections=("tca", "distortion"))
    theirs = liblensfun.auto_scale(key_of(lens), crop, w, h, 4.5, tca=bool(lf.calib_tca))
    bi, bj = boundary_pixels(w, h)
    dist, tca = lensfun_terms(lf, 4.5)

    def fills(scale):
        m = exact_coordinates(bi, bj, width=w, height=h, crop=crop, lens_crop=lens.profile.crop_factor,
                              aspect=lens.profile.aspect_ratio, dist=dist, tca=tca, scale=scale)
        return bool(np.all((m[..., 0] >= 0) & (m[..., 0] <= w - 1) & (m[..., 1] >= 0) & (m[..., 1] <= h - 1)))

    figure("Sigma 4.5 mm circular fisheye at crop 1.53, 8192x6144: autoscale",
           f"{cor.scale:.4f} vs lensfun {theirs:.4f}")
    assert cor.scale > theirs * 1.05
    assert fills(cor.scale) and not fills(theirs)
