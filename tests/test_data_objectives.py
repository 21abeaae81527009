"""Data objectives (linreg on diabetes, logreg on breast_cancer): their claims checked.

Gradients and Hessians against finite differences, minimizers against independent solves
(numpy lstsq, scikit-learn's LogisticRegression), GD converging to the least-squares solution,
the condition number story (raw units elongate the valley, standardizing rounds it), and the
spec parameters' validation.
"""

import numpy as np
import pytest

from optiscope.engine import run
from optiscope.errors import OptiscopeError
from optiscope.objectives import FUNCTIONS, Param, get_objective
from optiscope.objectives.data import DataObjective
from optiscope.optimizers import get_optimizer

SPECS = [
    "linreg",
    "linreg:scale=false",
    "linreg:features=bmi+bp+s5",
    "linreg:features=all,scale=false",
    "logreg",
    "logreg:scale=false",
    "logreg:features=worst_area+mean_texture,l2=0",
    "logreg:features=all",
]


def _points(f, n=4, seed=0):
    """Points around the minimizer at the scale of the plot box (and the start)."""
    rng = np.random.default_rng(seed)
    half = np.array([(hi - lo) / 2 for lo, hi in f.bounds])
    pts = f.minimizers[0] + 0.3 * half * rng.standard_normal((n, f.dim))
    return np.vstack([pts, np.asarray(f.start)[None]])


@pytest.mark.parametrize("spec", SPECS)
def test_gradient_matches_central_differences(spec):
    f = get_objective(spec)
    x = _points(f)
    g = f.grad(x)
    fd = np.empty_like(g)
    for j in range(f.dim):
        h = 1e-5 * max(1.0, float(np.max(np.abs(x[:, j]))))
        e = np.zeros(f.dim)
        e[j] = h
        fd[:, j] = (f.value(x + e) - f.value(x - e)) / (2 * h)
    scale = np.abs(g).max(axis=1, keepdims=True) + 1e-12
    np.testing.assert_allclose(g / scale, fd / scale, atol=2e-5)


@pytest.mark.parametrize("spec", SPECS)
def test_hessian_matches_differences_of_the_gradient(spec):
    f = get_objective(spec)
    x = _points(f, n=3)
    hess = f.hessian(x)
    assert hess.shape == (x.shape[0], f.dim, f.dim)
    np.testing.assert_allclose(hess, np.swapaxes(hess, 1, 2))
    for j in range(f.dim):
        h = 1e-5 * max(1.0, float(np.max(np.abs(x[:, j]))))
        e = np.zeros(f.dim)
        e[j] = h
        column = (f.grad(x + e) - f.grad(x - e)) / (2 * h)  # [B, D]
        scale = np.abs(hess).max(axis=(1, 2))[:, None] + 1e-12
        np.testing.assert_allclose(hess[:, :, j] / scale, column / scale, atol=1e-5)


@pytest.mark.parametrize("spec", SPECS)
def test_minimizer_is_a_minimum(spec):
    f = get_objective(spec)
    w = f.minimizers
    g0 = np.linalg.norm(f.grad(np.asarray(f.start)[None]))
    assert np.linalg.norm(f.grad(w)) <= 1e-9 * g0
    assert f.value(w)[0] == pytest.approx(f.f_min, rel=1e-14, abs=1e-14)
    assert np.all(np.linalg.eigvalsh(f.hessian(w)[0]) > 0)  # strictly convex there
    rng = np.random.default_rng(1)
    near = w + 1e-3 * rng.standard_normal((50, f.dim))
    assert np.all(f.value(near) >= f.f_min)


def _diabetes(columns, scale):
    from sklearn.datasets import load_diabetes

    bunch = load_diabetes(scaled=False)
    x = bunch.data[:, [list(bunch.feature_names).index(c) for c in columns]]
    if scale:
        x = (x - x.mean(0)) / x.std(0)
    return np.column_stack([x, np.ones(len(x))]), bunch.target


@pytest.mark.parametrize("scale", [True, False])
def test_linreg_minimizer_is_the_least_squares_solution(scale):
    a, y = _diabetes(["bmi", "bp", "s5"], scale)
    w, *_ = np.linalg.lstsq(a, y, rcond=None)
    f = get_objective(f"linreg:features=bmi+bp+s5,scale={str(scale).lower()}")
    np.testing.assert_allclose(f.minimizers[0], w, rtol=1e-10)
    assert f.f_min == pytest.approx(np.sum((a @ w - y) ** 2) / (2 * len(y)), rel=1e-12)
    # The loss is literally the mean squared error / 2 at any point.
    x = np.array([[1.0, -2.0, 3.0, 100.0], [0.0, 0.0, 0.0, 0.0]])
    direct = np.sum((x @ a.T - y) ** 2, axis=1) / (2 * len(y))
    np.testing.assert_allclose(f.value(x), direct, rtol=1e-12)


def test_logreg_minimizer_matches_scikit_learn():
    """scikit-learn minimizes C*sum(loss) + |w|^2/2 (bias not penalized): l2 = 1/(C N)."""
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression

    bunch = load_breast_cancer()
    x = bunch.data[:, [0, 1]]  # mean radius, mean texture
    x = (x - x.mean(0)) / x.std(0)
    l2 = 0.01
    model = LogisticRegression(C=1.0 / (l2 * len(x)), tol=1e-12, max_iter=10_000)
    model.fit(x, bunch.target)
    f = get_objective(f"logreg:features=mean_radius+mean_texture,l2={l2}")
    expected = np.concatenate([model.coef_[0], model.intercept_])
    np.testing.assert_allclose(f.minimizers[0], expected, rtol=1e-5, atol=1e-6)
    p = 1 / (1 + np.exp(-(x @ model.coef_[0] + model.intercept_[0])))
    y = bunch.target
    loss = -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)) + l2 / 2 * np.sum(model.coef_**2)
    assert f.f_min == pytest.approx(loss, rel=1e-9)


@pytest.mark.parametrize("spec", ["linreg", "linreg:features=bmi+bp+s5"])
def test_gradient_descent_reaches_the_linear_solve_to_1e_8(spec):
    f = get_objective(spec)
    a = f.inputs
    w_solve = np.linalg.solve(a.T @ a, a.T @ f.targets)  # the normal equations, independently
    big = float(np.linalg.eigvalsh(f.hessian(f.minimizers)[0]).max())
    optimizer, setting = get_optimizer("sgd")
    settings = [{**setting, "lr": c / big} for c in (1.0, 0.5)]
    starts = np.vstack([np.zeros(f.dim), np.full(f.dim, 50.0)])
    traj = run(f, optimizer, settings, steps=6000, start=starts)  # one batch of 2
    assert traj.batch == 2 and (traj.diverged_at < 0).all()
    for b in range(2):
        assert np.max(np.abs(traj.positions[-1, b] - w_solve)) < 1e-8
    assert np.all(traj.losses[-1] - f.f_min < 1e-12)


def test_standardizing_rounds_the_valley():
    def kappa(spec):
        f = get_objective(spec)
        return float(np.linalg.cond(f.hessian(f.minimizers)[0]))

    raw, scaled = kappa("linreg:scale=false"), kappa("linreg:scale=true")
    assert raw > 1e4 and scaled == pytest.approx(1.0, abs=1e-9)
    assert kappa("linreg:features=all,scale=false") > 1e4 * kappa("linreg:features=all")
    assert kappa("logreg:scale=false") > 1e3 * kappa("logreg:scale=true")
    assert get_objective("linreg:scale=false").condition_number == pytest.approx(raw)


def test_spec_round_trip_and_metadata():
    f = get_objective("linreg:features=bmi,scale=false")
    assert isinstance(f, DataObjective)
    assert f.name == "linreg:data=diabetes,features=bmi,scale=false"
    assert get_objective(f.name) is f  # cached: same spec, same object
    assert f.dim == 2 and f.examples == 442 and f.coordinates == ("w_bmi", "b")
    assert f.start == (0.0, 0.0)
    lo, hi = np.array(f.bounds).T
    assert np.all((lo < f.minimizers[0]) & (f.minimizers[0] < hi))
    assert np.all((lo < 0) & (hi > 0))  # the start is in the plot box
    g = get_objective("logreg:features=all")
    assert g.dim == 31 and g.examples == 569 and g.name.endswith("l2=0.001")
    assert get_objective("logreg:features=Mean Radius").name == get_objective("logreg").name
    assert "linreg" in FUNCTIONS and "logreg" in FUNCTIONS


@pytest.mark.parametrize(
    ("spec", "needle"),
    [
        ("linreg:data=iris", "valid: diabetes"),
        ("logreg:data=diabetes", "valid: breast_cancer"),
        ("linreg:features=bmii", "did you mean 'bmi'"),
        ("linreg:features=bmi+bmi", "twice"),
        ("logreg:features=radius", "valid: mean_radius"),
        ("linreg:scale=maybe", "true or false"),
        ("logreg:l2=-1", "l2"),
        ("logreg:l2=abc", "l2"),
        ("linreg:l2=0.1", "valid: data, features, scale"),
        ("logreg:features=all,l2=0", "separate the classes"),
    ],
)
def test_bad_specs_are_refused_with_a_clear_message(spec, needle):
    with pytest.raises(OptiscopeError, match=None) as info:
        get_objective(spec)
    assert needle in str(info.value)
    assert "\n" not in str(info.value)


def test_param_kinds_are_backward_compatible():
    number = Param("kappa", 10.0, "condition number", low=1.0)
    assert number.convert("50", "quadratic") == 50.0 and number.default_text == "10"
    with pytest.raises(OptiscopeError, match="kappa"):
        number.convert("0.5", "quadratic")
    flag = Param("scale", True, "standardize", kind="bool")
    assert flag.convert("false", "f") is False and flag.default_text == "true"
    choice = Param("data", "a", "data set", kind="choice", choices=("a", "b"))
    assert choice.convert("b", "f") == "b"
    with pytest.raises(OptiscopeError, match="valid: a, b"):
        choice.convert("c", "f")
    assert get_objective("quadratic:kappa=50").params["kappa"] == 50.0


def test_logistic_solve_uses_the_objectives_own_functions(monkeypatch):
    """One implementation of the logistic loss: the minimizer's scipy/Newton solve calls the
    same batched value/gradient/Hessian the objective exposes (on one-row batches)."""
    from optiscope.objectives import data

    made, one_row_calls = [], []
    original = data._logistic_functions

    def recording(a, y, l2):
        functions = original(a, y, l2)

        def spy(fn):
            def wrapped(x):
                if x.shape[0] == 1:
                    one_row_calls.append(fn.__name__)
                return fn(x)

            return wrapped

        made.append(tuple(spy(fn) for fn in functions))
        return made[-1]

    monkeypatch.setattr(data, "_logistic_functions", recording)
    f = data.build.__wrapped__("logreg", "breast_cancer", "mean_radius+mean_texture", True, 0.01)
    assert len(made) == 1
    assert (f.value_fn, f.grad_fn, f.hessian_fn) == made[0]
    assert {"value_fn", "grad_fn", "hessian_fn"} <= set(one_row_calls)
    # The solve reached the objective's own stationarity to rounding.
    g = f.grad(f.minimizers)[0]
    assert np.linalg.norm(g) <= 1e-8 * max(1.0, np.linalg.norm(f.grad(np.zeros((1, f.dim)))))


# --- a minimizer is claimed only when rounding determines it ------------------------------------
def test_tiny_l2_on_separable_classes_is_refused_not_made_up(capsys):
    """With l2=1e-300 the loss is flat to rounding far out: no "exact" minimum is invented."""
    from optiscope.cli import main

    with pytest.raises(OptiscopeError, match="cannot be certified") as info:
        get_objective("logreg:features=all,l2=1e-300")
    message = str(info.value)
    assert "\n" not in message and "separable" in message and "larger l2" in message
    assert main(["run", "logreg:features=all,l2=1e-300", "sgd:lr=0.1"]) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and "cannot be certified" in err


def test_l2_has_an_upper_bound():
    with pytest.raises(OptiscopeError, match="l2=1e308: must be <= 1e\\+06"):
        get_objective("logreg:l2=1e308")


def test_tiny_l2_is_fine_when_the_classes_overlap():
    """One feature does not separate the classes: the minimizer exists without a penalty, so
    l2=1e-300 is certified and equals l2=0's to rounding."""
    tiny = get_objective("logreg:features=mean_radius,l2=1e-300")
    none = get_objective("logreg:features=mean_radius,l2=0")
    np.testing.assert_allclose(tiny.minimizers, none.minimizers, rtol=1e-12)


def _toy_separable():
    """Two separable examples, x = +1 (label 1) and x = -1 (label 0), and the bias column."""
    return np.array([[1.0, 1.0], [-1.0, 1.0]]), np.array([1.0, 0.0])


@pytest.mark.parametrize("l2", [1.0, 1e-2, 1e-4])
def test_certified_minimizers_are_stationary_and_determined(l2):
    from optiscope.objectives import data

    a, y = _toy_separable()
    functions = data._logistic_functions(a, y, l2)
    w = data._logistic_minimum(a, y, l2, "toy", functions)
    g, h = functions[1](w[None])[0], functions[2](w[None])[0]
    # By symmetry the bias is 0 and the weight solves sigmoid(-w) = l2 w (stationarity).
    assert abs(w[1]) <= 1e-12
    assert abs(1.0 / (1.0 + np.exp(w[0])) - l2 * w[0]) <= 1e-14
    uncertainty, _, lowest = data._minimizer_uncertainty(a, l2, w, g, h)
    assert lowest > 0 and uncertainty <= data.MINIMIZER_PRECISION * max(1.0, np.linalg.norm(w))


@pytest.mark.parametrize("l2", [1e-300, 1e-30])
def test_uncertain_minimizers_are_refused(l2):
    """For l2 -> 0 the exact weight grows like log(1/l2) while the curvature falls like l2:
    rounding in the gradient (~1e-16) then moves the minimizer by far more than 1e-6 of it."""
    from optiscope.objectives import data

    a, y = _toy_separable()
    with pytest.raises(OptiscopeError, match="cannot be certified") as info:
        data._logistic_minimum(a, y, l2, "toy", data._logistic_functions(a, y, l2))
    assert "separable" in str(info.value) and "\n" not in str(info.value)
