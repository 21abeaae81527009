"""Catalogue self-checks: derivatives, optima, metadata, the quadratic family and the registry."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from optiscope.errors import OptiscopeError
from optiscope.objectives import catalogue  # noqa: F401  (importing registers the catalogue)
from optiscope.objectives.data import DATA_FOR
from optiscope.objectives.quadratic import quadratic
from optiscope.objectives.registry import FUNCTIONS, get_objective

# The 2-D test functions; the data objectives (linreg, logreg) are checked in
# test_data_objectives.py.
NAMES = [name for name in FUNCTIONS if name not in DATA_FOR]
SPECS = NAMES + [
    "quadratic:kappa=50,angle=30",
    "quadratic:kappa=1,angle=-75,scale=3",
    "quadratic:kappa=1000,angle=135,scale=0.01",
]
EXPECTED = {
    "iso", "aniso", "quadratic", "rosenbrock", "beale", "himmelblau", "booth", "matyas",
    "saddle", "monkey_saddle", "rastrigin", "ackley", "styblinski_tang", "goldstein_price",
    "six_hump_camel",
}  # fmt: skip

# Literature optima (independent of the module, which computes some of them at import).
LITERATURE_F_MIN = {
    "iso": 0.0,
    "aniso": 0.0,
    "quadratic": 0.0,
    "rosenbrock": 0.0,
    "beale": 0.0,
    "himmelblau": 0.0,
    "booth": 0.0,
    "matyas": 0.0,
    "rastrigin": 0.0,
    "ackley": 0.0,
    "styblinski_tang": -78.33233140754282,
    "goldstein_price": 3.0,
    "six_hump_camel": -1.031628453489877,
}
LITERATURE_MINIMIZERS = {  # rounded published values; ours must lie within `tol` of them
    "rosenbrock": ([(1, 1)], 0.0),
    "beale": ([(3, 0.5)], 0.0),
    "booth": ([(1, 3)], 0.0),
    "goldstein_price": ([(0, -1)], 0.0),
    "himmelblau": (
        [(3, 2), (-2.805118, 3.131312), (-3.779310, -3.283186), (3.584428, -1.848126)],
        1e-6,
    ),
    "styblinski_tang": ([(-2.903534, -2.903534)], 1e-6),
    "six_hump_camel": ([(0.0898, -0.7126), (-0.0898, 0.7126)], 1e-4),
}
# A direction along which each function without a minimum decreases without bound.
DOWNHILL = {"saddle": (0.0, 1.0), "monkey_saddle": (-1.0, 0.0)}


def points(f, n: int, seed: int) -> np.ndarray:
    """``n`` uniform points in the plot box of ``f``: ``[n, 2]``."""
    lo, hi = np.array(f.bounds).T
    return np.random.default_rng(seed).uniform(lo, hi, size=(n, f.dim))


def central_diff(fn, x: np.ndarray) -> np.ndarray:
    """Central differences of ``fn`` (``[B, D] -> [B, ...]``) per coordinate: ``[B, ..., D]``."""
    cols = []
    for d in range(x.shape[1]):
        h = 1e-6 * np.maximum(1.0, np.abs(x[:, d]))
        xp, xm = x.copy(), x.copy()
        xp[:, d] += h
        xm[:, d] -= h
        step = (xp[:, d] - xm[:, d]).reshape((-1,) + (1,) * (fn(x).ndim - 1))  # exact 2h
        cols.append((fn(xp) - fn(xm)) / step)
    return np.stack(cols, axis=-1)


def derivative_error(exact: np.ndarray, approx: np.ndarray) -> float:
    """Largest error relative to ``1 + |exact|_max`` per row."""
    axes = tuple(range(1, exact.ndim))
    err = np.abs(exact - approx).max(axis=axes)
    return float((err / (1.0 + np.abs(exact).max(axis=axes))).max())


# ---------------------------------------------------------------- derivatives
@pytest.mark.parametrize("spec", SPECS)
def test_gradient_matches_central_differences(spec):
    f = get_objective(spec)
    x = points(f, 300, seed=1)
    approx = central_diff(f.value, x)
    assert derivative_error(f.grad(x), approx) < 1e-6


@pytest.mark.parametrize("spec", SPECS)
def test_hessian_matches_central_differences_of_gradient(spec):
    f = get_objective(spec)
    x = points(f, 300, seed=2)
    H = f.hessian(x)
    np.testing.assert_array_equal(H, np.swapaxes(H, 1, 2))
    approx = central_diff(f.grad, x)  # [B, D, D]: approx[b, i, j] = d g_i / d w_j
    assert derivative_error(H, approx) < 1e-6


def test_derivative_check_detects_a_small_error():
    f = get_objective("rosenbrock")
    x = points(f, 300, seed=3)
    approx = central_diff(f.value, x)
    assert derivative_error(f.grad(x) * (1 + 1e-4), approx) > 1e-6
    H = f.hessian(x)
    H[:, 0, 1] += 1e-3
    assert derivative_error(H, central_diff(f.grad, x)) > 1e-6


# ---------------------------------------------------------------- optima
@pytest.mark.parametrize("name", NAMES)
def test_value_and_gradient_at_minimizers(name):
    f = get_objective(name)
    if f.f_min is None:
        assert f.minimizers.shape == (0, 2)
        return
    m = f.minimizers
    assert m.ndim == 2 and m.shape[0] >= 1 and m.shape[1] == 2
    np.testing.assert_allclose(f.value(m), f.f_min, rtol=1e-12, atol=1e-12)
    assert np.abs(f.grad(m)).max() < 1e-9
    eig = np.linalg.eigvalsh(np.where(np.isfinite(f.hessian(m)), f.hessian(m), 1e300))
    assert (eig > 0).all(), f"{name}: Hessian not positive definite at a minimizer: {eig}"


@pytest.mark.parametrize("name", NAMES)
def test_f_min_matches_literature(name):
    f = get_objective(name)
    if name in DOWNHILL:
        assert f.f_min is None
        return
    assert f.f_min == pytest.approx(LITERATURE_F_MIN[name], rel=1e-12, abs=1e-12)
    if name in LITERATURE_MINIMIZERS:
        published, tol = LITERATURE_MINIMIZERS[name]
        assert f.minimizers.shape == (len(published), 2)
        for p in published:
            assert np.abs(f.minimizers - np.array(p)).max(axis=1).min() <= tol, p


@pytest.mark.parametrize("name", NAMES)
def test_f_min_is_a_lower_bound(name):
    f = get_objective(name)
    if f.f_min is None:
        return
    rng = np.random.default_rng(4)
    near = np.concatenate([m + rng.normal(scale=1e-3, size=(200, 2)) for m in f.minimizers])
    x = np.concatenate([points(f, 5000, seed=5), near])
    assert f.value(x).min() >= f.f_min - 1e-12 * (1 + abs(f.f_min))


@pytest.mark.parametrize("name", sorted(DOWNHILL))
def test_unbounded_functions_decrease_without_bound(name):
    f = get_objective(name)
    assert f.f_min is None and f.minimizers.shape == (0, 2)
    ray = np.outer([1.0, 1e3, 1e6], DOWNHILL[name])
    v = f.value(ray)
    assert (np.diff(v) < 0).all() and v[-1] < -1e11


def test_every_function_without_f_min_has_a_downhill_direction():
    assert {n for n in NAMES if get_objective(n).f_min is None} == set(DOWNHILL)


def test_ackley_origin_is_not_nan():
    f = get_objective("ackley")
    origin = np.zeros((1, 2))
    np.testing.assert_array_equal(f.grad(origin), [[0.0, 0.0]])
    assert np.isinf(np.diagonal(f.hessian(origin), axis1=1, axis2=2)).all()
    tiny = np.array([[1e-200, 0.0], [0.0, -1e-300]])
    assert np.isfinite(f.grad(tiny)).all()


# ---------------------------------------------------------------- metadata
def test_catalogue_is_complete():
    assert set(NAMES) == EXPECTED


@pytest.mark.parametrize("spec", SPECS)
def test_metadata(spec):
    f = get_objective(spec)
    entry = FUNCTIONS[spec.split(":")[0]]
    assert f.dim == 2 and len(f.bounds) == 2
    lo, hi = np.array(f.bounds).T
    margin = 0.05 * (hi - lo)
    for p in [np.array(f.start), *f.minimizers]:
        assert ((p >= lo + margin) & (p <= hi - margin)).all(), (spec, p, f.bounds)
    assert np.linalg.norm(f.grad(np.array([f.start]))) > 1e-3  # the start is not a critical point
    assert f.formula.isascii() and f.formula.strip()
    assert f.latex.startswith("$") and f.latex.endswith("$")
    assert f.citation.strip() and f.description.strip()
    assert entry.summary.strip() and "\n" not in entry.summary and entry.formula.isascii()
    assert f.hessian_fn is not None


@pytest.mark.parametrize("spec", SPECS)
def test_latex_renders_in_matplotlib(spec):
    from matplotlib.mathtext import MathTextParser

    MathTextParser("path").parse(get_objective(spec).latex)


@pytest.mark.parametrize("spec", SPECS)
def test_name_recreates_the_objective(spec):
    f = get_objective(spec)
    g = get_objective(f.name)
    assert g.name == f.name and dict(g.params) == dict(f.params)
    x = points(f, 20, seed=6)
    np.testing.assert_array_equal(f.value(x), g.value(x))


# ---------------------------------------------------------------- shapes
@pytest.mark.parametrize("spec", SPECS)
@pytest.mark.parametrize("batch", [1, 7])
def test_shapes_and_rows_independent(spec, batch):
    f = get_objective(spec)
    x = points(f, batch, seed=7)
    x_before = x.copy()
    v, g, H = f.value(x), f.grad(x), f.hessian(x)
    assert v.shape == (batch,) and g.shape == (batch, 2) and H.shape == (batch, 2, 2)
    assert v.dtype == g.dtype == H.dtype == np.float64
    np.testing.assert_array_equal(x, x_before)
    for b in range(batch):  # a row's result does not depend on the other rows
        np.testing.assert_array_equal(f.value(x[b : b + 1]), v[b : b + 1])
        np.testing.assert_array_equal(f.grad(x[b : b + 1]), g[b : b + 1])
        np.testing.assert_array_equal(f.hessian(x[b : b + 1]), H[b : b + 1])


def test_bad_shape_is_refused():
    with pytest.raises(ValueError, match=r"\[B, 2\]"):
        get_objective("aniso").value(np.zeros(2))


# ---------------------------------------------------------------- the quadratic family
@settings(max_examples=60, deadline=None)
@given(
    kappa=st.floats(1.1, 1e4),
    angle=st.floats(-360, 360),
    scale=st.floats(1e-3, 1e3),
)
def test_quadratic_eigen_structure(kappa, angle, scale):
    f = quadratic(kappa=kappa, angle=angle, scale=scale)
    t = math.radians(angle)
    long_axis, steep_axis = (
        np.array([math.cos(t), math.sin(t)]),
        np.array([-math.sin(t), math.cos(t)]),
    )
    H = f.hessian(np.zeros((1, 2)))[0]
    eig, vec = np.linalg.eigh(H)
    np.testing.assert_allclose(eig, [2 * scale, 2 * scale * kappa], rtol=1e-12)
    # convention: the large eigenvalue's eigenvector points at angle + 90 degrees
    assert abs(vec[:, 1] @ steep_axis) == pytest.approx(1.0, abs=1e-10)
    # and, from values alone: curvature 2*scale along the long axis, 2*scale*kappa across it
    r = np.array([0.5 * long_axis, 0.5 * steep_axis])
    # rounding in the rotation leaks about eps * kappa of the steep curvature into the flat axis
    tol = 1e-14 * scale * kappa
    np.testing.assert_allclose(
        f.value(r), [0.25 * scale, 0.25 * scale * kappa], rtol=1e-12, atol=tol
    )


def test_quadratic_kappa8_angle0_is_aniso_exactly():
    q, a = get_objective("quadratic:kappa=8,angle=0,scale=1"), get_objective("aniso")
    x = points(a, 500, seed=8)
    np.testing.assert_array_equal(q.value(x), a.value(x))
    np.testing.assert_array_equal(q.grad(x), a.grad(x))
    np.testing.assert_array_equal(q.hessian(x), np.broadcast_to(np.diag([2.0, 16.0]), (500, 2, 2)))
    assert q.start == a.start == (1.0, 1.0)


def test_quadratic_kappa1_is_scaled_iso():
    q, i = get_objective("quadratic:kappa=1,angle=40,scale=3"), get_objective("iso")
    x = points(i, 100, seed=9)
    np.testing.assert_allclose(q.value(x), 3 * i.value(x), rtol=1e-13)


def test_quadratic_spec_and_canonical_name():
    f = get_objective("quadratic:kappa=50,angle=30")
    assert f.name == "quadratic:kappa=50,angle=30,scale=1"
    assert dict(f.params) == {"kappa": 50.0, "angle": 30.0, "scale": 1.0}
    assert get_objective("quadratic").name == "quadratic:kappa=10,angle=30,scale=1"
    assert get_objective(" quadratic : angle = -45 , kappa=2.5").name == (
        "quadratic:kappa=2.5,angle=-45,scale=1"
    )


@settings(max_examples=60, deadline=None)
@given(
    kappa=st.floats(1, 1e12),
    angle=st.floats(-1e3, 1e3),
    scale=st.floats(1e-6, 1e6),
)
def test_quadratic_name_round_trips_exactly(kappa, angle, scale):
    f = quadratic(kappa=kappa, angle=angle, scale=scale)
    g = get_objective(f.name)
    assert g.name == f.name
    assert dict(g.params) == {"kappa": kappa, "angle": angle, "scale": scale}


# ---------------------------------------------------------------- registry validation
@pytest.mark.parametrize(
    "spec, pieces",
    [
        ("quadratic:foo=1", ["'foo'", "valid: kappa, angle, scale"]),
        ("quadratic:kappa=0.5", ["kappa=0.5", ">= 1"]),
        ("quadratic:kappa=nan", ["kappa", "'nan'", "finite"]),
        ("quadratic:kappa=inf", ["kappa", "finite"]),
        ("quadratic:kappa=ten", ["kappa", "not a number"]),
        ("quadratic:scale=0", ["scale=0", "> 0"]),
        ("quadratic:scale=-1", ["scale=-1", "> 0"]),
        ("quadratic:kappa=2,kappa=3", ["'kappa' given twice"]),
        ("quadratic:kappa", ["key=value"]),
        ("rosenbrock:a=2", ["'a'", "valid: none"]),
        ("rosenbrok:a=2", ["unknown function", "did you mean 'rosenbrock'"]),
    ],
)
def test_bad_specs_raise_clear_errors(spec, pieces):
    with pytest.raises(OptiscopeError) as err:
        get_objective(spec)
    for piece in pieces:
        assert piece in str(err.value), (piece, str(err.value))


@settings(max_examples=50, deadline=None)
@given(kappa=st.floats(-1e6, 1.0, exclude_max=True))
def test_every_kappa_below_one_is_refused(kappa):
    with pytest.raises(OptiscopeError, match="kappa"):
        get_objective(f"quadratic:kappa={kappa!r}")


@pytest.mark.parametrize(
    "kwargs", [{"kappa": 0.5}, {"kappa": math.nan}, {"scale": 0.0}, {"angle": math.inf}]
)
def test_direct_factory_call_validates_too(kwargs):
    with pytest.raises(OptiscopeError):
        quadratic(**kwargs)
