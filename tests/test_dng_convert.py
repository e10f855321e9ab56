"""Profile -> DNG opcodes -> mountkit's opcode models, against the profile's own correction.

The body is the 1-inch phone sensor (13.107 x 9.830 mm, 8192 x 6144, crop about 2.64).  Where
WarpRectilinear can express the profile (poly3 / poly5 distortion with linear TCA) the opcodes must
reproduce the engine's source positions within 0.01 px; the vignetting fit within 1e-4 relative gain.
Where it cannot (ptlens, poly3 TCA on top of distortion) the fitted residual is reported, and the
optional WarpRectilinear2 is exact.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import mountkit
from mountkit import Calibration, Lens, LensProfile
from mountkit.dng.convert import EXACT_PX, corrector_to_opcodes
from mountkit.dng.gain import vignette_gain
from mountkit.dng.models import embedded_lens
from mountkit.dng.opcodes import FixVignetteRadial, WarpRectilinear, WarpRectilinear2
from mountkit.dng.warp import source_positions
from mountkit.errors import CorrectionWarning
from mountkit.hardware import crop_factor_from_sensor

SIZE = (8192, 6144)
CROP = crop_factor_from_sensor(13.107, 9.830)
KIT = mountkit.Kit(entry_points=False)

rng = np.random.default_rng(11)
# random pixels, plus the four corners and the edge midpoints
PX = np.concatenate([rng.uniform(0, SIZE[0] - 1, 3000), [0, SIZE[0] - 1, 0, SIZE[0] - 1, 4095.5, 0, 8191]])
PY = np.concatenate([rng.uniform(0, SIZE[1] - 1, 3000), [0, 0, SIZE[1] - 1, SIZE[1] - 1, 0, 3071.5, 3071.5]])


def lens_with(*cals: Calibration, focal: float = 28.0) -> Lens:
    return Lens("Test", f"lens {id(cals)}", focal_min=focal, profile=LensProfile(crop_factor=1.0,
                                                                                calibrations=tuple(cals)))


def corrector(lens: Lens, scale=1.0, size=SIZE, crop=CROP):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CorrectionWarning)
        return KIT.corrector(lens, crop_factor=crop, size=size, aperture=2.8, distance=1000, scale=scale)


def opcode_errors(conv, cor, x=PX, y=PY):
    """Largest source-position error (px) of each warp opcode and relative gain error of the vignette."""
    truth = cor.source_points(x, y)
    planes = [0, 1, 2] if "tca" in cor.active else [1]
    out = {}
    for fit in (conv.warp, conv.warp2):
        if fit is None:
            continue
        err = 0.0
        for i, p in enumerate(planes):
            sx, sy = source_positions(fit.opcode, x, y, *cor.size, plane=i, image_planes=len(planes))
            err = max(err, float(np.max(np.hypot(sx - truth[:, p, 0], sy - truth[:, p, 1]))))
        out[fit.opcode.label] = err
    if conv.vignette is not None:
        g = vignette_gain(conv.vignette.opcode, x, y, *cor.size)
        out["FixVignetteRadial"] = float(np.max(np.abs(g / cor.gain_points(x, y) - 1)))
    return out


def engine_errors(conv, cor, x=PX, y=PY):
    """The same, through the registered opcode models applied by the engine (kit.corrector)."""
    lens = embedded_lens(conv.opcodes, cor.size, crop_factor=cor.crop_factor, focal=28, aperture=2.8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CorrectionWarning)
        emb = KIT.corrector(lens, crop_factor=cor.crop_factor, size=cor.size, focal=28, aperture=2.8,
                            distance=1000, scale=1.0)
    a, b = cor.source_points(x, y), emb.source_points(x, y)
    channels = [0, 1, 2] if "tca" in cor.active else [1]
    px = float(np.max(np.hypot(a[:, channels, 0] - b[:, channels, 0], a[:, channels, 1] - b[:, channels, 1])))
    gain = float(np.max(np.abs(emb.gain_points(x, y) / cor.gain_points(x, y) - 1)))
    return px, gain, emb


PA = Calibration("vignetting", "pa", 28, {"k1": -0.62, "k2": 0.31, "k3": -0.11}, aperture=2.8, distance=1000)
EXACT_CASES = {
    "poly3": (Calibration("distortion", "poly3", 28, {"k1": -0.025}),),
    "poly5 + linear TCA + pa": (Calibration("distortion", "poly5", 28, {"k1": -0.06, "k2": 0.012}),
                                Calibration("tca", "linear", 28, {"kr": 1.00031, "kb": 0.99962}), PA),
    "poly3 + linear TCA + pa": (Calibration("distortion", "poly3", 28, {"k1": 0.018}),
                                Calibration("tca", "linear", 28, {"kr": 0.99978, "kb": 1.00041}), PA),
    "linear TCA only": (Calibration("tca", "linear", 28, {"kr": 1.0004, "kb": 0.9996}),),
    "pa only": (PA,),
}


@pytest.mark.parametrize("case", list(EXACT_CASES))
@pytest.mark.parametrize("scale", [1.0, "auto"])
def test_expressible_profiles_are_reproduced_on_the_one_inch_body(case, scale):
    cor = corrector(lens_with(*EXACT_CASES[case]), scale=scale)
    conv = corrector_to_opcodes(cor)
    ops = conv.opcodes
    assert all(op.optional for op in ops)
    assert not any(isinstance(op, WarpRectilinear2) for op in ops)  # WarpRectilinear is exact here
    if cor.moves_pixels:
        assert isinstance(ops[-1], WarpRectilinear) and conv.warp.exact and conv.warp.residual < EXACT_PX
        assert ops[-1].planes == (3 if "tca" in cor.active else 1)
    if "vignetting" in cor.active:
        assert isinstance(ops[0], FixVignetteRadial)  # first: it acts on the uncorrected grid
    errs = opcode_errors(conv, cor)
    assert errs.get("WarpRectilinear", 0.0) < 0.01
    assert errs.get("FixVignetteRadial", 0.0) < 1e-4
    px, gain, emb = engine_errors(conv, cor)
    assert px < 0.01 and gain < 1e-4
    if cor.scale == 1.0:  # (a scale moves the green plane: the embedded profile then has a distortion)
        assert set(emb.active) == set(cor.active)


@settings(max_examples=12, deadline=None)
@given(st.floats(-0.08, 0.08), st.floats(-0.03, 0.03), st.floats(0.9995, 1.0005), st.floats(0.9995, 1.0005),
       st.floats(-1.0, 0.0), st.floats(-0.3, 0.5), st.floats(-0.3, 0.1))
def test_random_poly5_linear_pa_profiles_are_reproduced(k1, k2, kr, kb, v1, v2, v3):
    lens = lens_with(Calibration("distortion", "poly5", 28, {"k1": k1, "k2": k2}),
                     Calibration("tca", "linear", 28, {"kr": kr, "kb": kb}),
                     Calibration("vignetting", "pa", 28, {"k1": v1, "k2": v2, "k3": v3}, aperture=2.8, distance=1000))
    cor = corrector(lens, scale="auto")
    conv = corrector_to_opcodes(cor)
    errs = opcode_errors(conv, cor, PX[::6], PY[::6])
    assert errs["WarpRectilinear"] < 0.01 and errs["FixVignetteRadial"] < 1e-4


# shipped profiles (lensfun data): name -> whether WarpRectilinear expresses them exactly
REAL = {"Summicron-M 1:2/28 Asph.": False,  # ptlens + poly3 TCA
        "APO-Summicron-M 1:2/75 Asph.": False,  # ptlens + poly3 TCA
        "Voigtlander Nokton 28mm F1.5 Aspherical": False,  # ptlens + poly3 TCA + pa
        "Summicron-M 1:2/50": True}  # poly3 + a TCA with only vr, vb: exact


@pytest.mark.parametrize("name", list(REAL))
def test_shipped_profiles_exact_or_fitted_with_honest_residuals(name, record_property):
    """ptlens and poly3 TCA need odd or higher powers: WarpRectilinear is then a fit (its residual is
    reported) and the optional WarpRectilinear2 before it is exact."""
    lens = KIT.lens(name)
    cor = corrector(lens, scale="auto")
    conv = corrector_to_opcodes(cor)
    errs = opcode_errors(conv, cor)
    record_property("residuals", conv.describe())
    # the reported residual is the measured one (on its own dense grid), not an underestimate
    assert errs["WarpRectilinear"] <= conv.warp.residual * 1.05 + 1e-9
    if "vignetting" in cor.active:
        assert errs["FixVignetteRadial"] <= conv.vignette.residual * 1.05 + 1e-12
        assert conv.vignette.residual < 1e-4
    if REAL[name]:
        assert conv.warp.exact and conv.warp2 is None and errs["WarpRectilinear"] < 0.01
        return
    assert not conv.warp.exact and conv.warp.residual < 5.0  # a usable fallback for DNG 1.3 readers
    assert conv.warp2 is not None and conv.warp2.exact and errs["WarpRectilinear2"] < 0.01
    assert [op.label for op in conv.opcodes][-2:] == ["WarpRectilinear2", "WarpRectilinear"]
    assert any("cannot express the profile exactly" in n for n in conv.notes)
    # a DNG 1.6 reader applies the WarpRectilinear2 and skips its fallback; so does the engine
    run, skipped = mountkit.dng.OpcodeList(conv.opcodes).applicable()
    assert [s.opcode.label for s in skipped] == ["WarpRectilinear"]
    px, gain, _ = engine_errors(type(conv)(vignette=conv.vignette, warp=conv.warp2), cor)
    assert px < 0.01 and gain < 1e-4


def test_full_frame_vignetting_residual_is_reported():
    """On a full-frame body the falloff reaches the calibration corner, where 1/c is harder to fit."""
    cor = corrector(lens_with(PA), size=(3000, 2000), crop=1.0)
    conv = corrector_to_opcodes(cor)
    errs = opcode_errors(conv, cor, PX[::5] * 3000 / 8192, PY[::5] * 2000 / 6144)
    assert errs["FixVignetteRadial"] <= conv.vignette.residual * 1.05 + 1e-12
    assert conv.vignette.residual > 1e-7  # a genuine fit, not exact
    assert conv.vignette.residual < 5e-3


def test_reverse_corrector_is_refused():
    cor = KIT.corrector(lens_with(*EXACT_CASES["poly3"]), crop_factor=CROP, size=(600, 400), reverse=True)
    with pytest.raises(mountkit.CorrectionError, match="reverse=False"):
        corrector_to_opcodes(cor)
