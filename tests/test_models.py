"""The built-in correction models: equations, declarations, registration, inverses."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import mountkit
from mountkit.errors import ProfileError
from mountkit.models import CorrectionModel, DistortionModel, TCAModel, VignettingModel
from mountkit.models.distortion import Poly3, Poly5, PTLens
from mountkit.models.tca import LinearTCA, Poly3TCA
from mountkit.models.vignetting import PAVignetting

R = np.linspace(0.0, 1.6, 33)


@pytest.fixture(scope="module")
def kit():
    return mountkit.Kit(entry_points=False)


def test_builtin_models_are_registered_through_the_hook(kit):
    models = kit.models()
    expected = {("distortion", "poly3"), ("distortion", "poly5"), ("distortion", "ptlens"),
                ("tca", "linear"), ("tca", "poly3"), ("vignetting", "pa")}
    assert expected <= set(models)
    assert isinstance(kit.model("distortion", "ptlens"), DistortionModel)
    assert isinstance(kit.model("tca", "poly3"), TCAModel)
    assert isinstance(kit.model("vignetting", "pa"), VignettingModel)
    with pytest.raises(mountkit.NotFoundError, match="fov1"):
        kit.model("distortion", "fov1")


@pytest.mark.parametrize("model,params", [
    (Poly3(), ("k1",)), (Poly5(), ("k1", "k2")), (PTLens(), ("a", "b", "c")),
    (LinearTCA(), ("kr", "kb")), (Poly3TCA(), ("vr", "vb", "cr", "cb", "br", "bb")),
    (PAVignetting(), ("k1", "k2", "k3")),
])
def test_parameter_names_are_lensfuns(model, params):
    model.check_declaration()
    assert model.params == params


def test_lensfun_defaults_and_focal_scaling():
    assert Poly3TCA().resolve_params({}) == {"vr": 1.0, "vb": 1.0, "cr": 0.0, "cb": 0.0, "br": 0.0, "bb": 0.0}
    assert LinearTCA().resolve_params({"kr": 1.001}) == {"kr": 1.001, "kb": 1.0}
    assert PTLens().resolve_params({"a": 0.01}) == {"a": 0.01, "b": 0.0, "c": 0.0}
    # lensfun scales every distortion term by F, TCA only the c and b terms
    assert set(PTLens().scaled()) == {"a", "b", "c"}
    assert set(Poly3TCA().scaled()) == {"cr", "cb", "br", "bb"}
    assert LinearTCA().scaled() == ()
    with pytest.raises(ProfileError, match="no parameter"):
        Poly3().resolve_params({"k2": 0.1})
    with pytest.raises(ProfileError, match="nan"):
        Poly3().resolve_params({"k1": float("nan")})


def test_distortion_equations():
    r = R
    assert np.allclose(r * Poly3().radial_factor(r, {"k1": -0.03}), -0.03 * r**3 + 1.03 * r, atol=1e-15)
    assert np.allclose(r * Poly5().radial_factor(r, {"k1": 0.02, "k2": -0.004}),
                       r * (1 + 0.02 * r**2 - 0.004 * r**4), atol=1e-15)
    a, b, c = 0.0135748, -0.0502846, 0.0486119
    d = 1 - a - b - c
    assert np.allclose(r * PTLens().radial_factor(r, {"a": a, "b": b, "c": c}),
                       a * r**4 + b * r**3 + c * r**2 + d * r, atol=1e-15)


@pytest.mark.parametrize("model,p", [(Poly3(), {"k1": 0.07}), (PTLens(), {"a": 0.02, "b": -0.05, "c": 0.01})])
def test_radius_one_is_fixed(model, p):
    """d = 1 - a - b - c (1 - k1 for poly3) keeps half the calibration short side in place."""
    assert model.radial_factor(np.array([1.0]), p)[0] == pytest.approx(1.0, abs=1e-15)
    assert model.radial_factor(np.array([0.0]), p)[0] != 1.0


def test_distort_is_radial_scaling():
    m = PTLens()
    p = {"a": 0.01, "b": -0.04, "c": 0.02}
    x, y = np.array([0.3, -0.7, 0.0]), np.array([0.4, 0.1, -0.9])
    xd, yd = m.distort(x, y, p)
    s = m.radial_factor(np.hypot(x, y), p)
    assert np.array_equal(xd, x * s) and np.array_equal(yd, y * s)
    assert m.is_radial


def test_tca_equations():
    r = R
    fr, fb = Poly3TCA().channel_factors(r, {"vr": 1.0002, "vb": 0.9997, "cr": 1e-4, "cb": -2e-4,
                                            "br": 3e-5, "bb": -1e-5})
    assert np.allclose(fr, 3e-5 * r**2 + 1e-4 * r + 1.0002, rtol=0, atol=1e-15)
    assert np.allclose(fb, -1e-5 * r**2 - 2e-4 * r + 0.9997, rtol=0, atol=1e-15)
    fr, fb = LinearTCA().channel_factors(r, {"kr": 1.0003, "kb": 0.9995})
    assert fr.shape == r.shape and np.all(fr == 1.0003) and np.all(fb == 0.9995)
    ir, ib = LinearTCA().inverse_channel_factors(r, {"kr": 1.0003, "kb": 0.9995})
    assert np.allclose(ir * 1.0003, 1) and np.allclose(ib * 0.9995, 1)
    assert Poly3TCA().inverse_channel_factors(r, {}) is NotImplemented


def test_vignetting_equation():
    r = np.linspace(0, 1, 11)
    c = PAVignetting().falloff(r, {"k1": -0.3, "k2": 0.1, "k3": -0.05})
    assert np.allclose(c, 1 - 0.3 * r**2 + 0.1 * r**4 - 0.05 * r**6, atol=1e-15)


@settings(max_examples=50, deadline=None)
@given(k1=st.floats(-0.2, 0.2), k2=st.floats(-0.05, 0.05), r=st.floats(0, 1.2))
def test_models_are_vectorised_elementwise(k1, k2, r):
    """Evaluating on an array equals evaluating each element (no cross-talk between lanes)."""
    rr = np.array([r, 0.5 * r, 0.0, 1.0])
    m = Poly5()
    p = {"k1": k1, "k2": k2}
    whole = m.radial_factor(rr, p)
    single = np.array([m.radial_factor(np.array([v]), p)[0] for v in rr])
    assert np.array_equal(whole, single)


def test_declaration_errors_are_reported():
    class NoName(DistortionModel):
        params = ("k",)

    with pytest.raises(ProfileError, match="name"):
        NoName().check_declaration()

    class BadDefaults(CorrectionModel):
        kind, name, params, defaults = "distortion", "bad", ("k",), {"q": 1.0}

    with pytest.raises(ProfileError, match="undeclared"):
        BadDefaults().check_declaration()
