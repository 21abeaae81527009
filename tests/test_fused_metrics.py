"""The compiled metrics (``optiscope.fused.metrics_numba``) equal ``metrics.columns``.

Both evaluators measure the same recorded runs (``engine.run`` with the NumPy engine); every
column must be equal: same keys in the same order, same dtypes and shapes, floats equal or
both NaN, ints and rate notes equal. Two exceptions, by a tolerance and not by design:
``rate`` (``exp`` of a slope fitted on logs) and ``auc`` (a mean of ``log10``) are compared
with rtol 1e-12, because NumPy's ``log``, ``log10`` and ``exp`` (SIMD, SVML on AVX-512) and
the C library's that compiled code calls differ in the last bit now and then. No column
needs a tolerance for summation order: the compiled code sums in NumPy's pairwise order
wherever NumPy uses ``np.sum`` (path_length, auc, the least squares, the rank correlation,
distances over coordinates).
"""

from __future__ import annotations

import inspect

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import optiscope
from optiscope import engine, metrics
from optiscope.engine import Trajectories
from optiscope.fused import metrics_numba
from optiscope.optimizers import OPTIMIZERS, get_optimizer
from optiscope.stochastic import gradient_source

get_optimizer("sgd")  # loads the registry
FUNCTIONS = ["iso", "aniso", "rosenbrock", "himmelblau", "saddle", "w1**2 + 3*w2**2 + w1*w2"]
LR_FACTORS = [0.03, 1.0, 30.0, 1000.0]  # x the default lr: slow, default, fast, diverging
STARTS = np.array([(1.0, 1.0), (0.5, -1.5), (-3.0, 2.5)])
# columns of a libm function (see the module notes): compared with rtol 1e-12; auc's atol
# covers a mean of logs near 0 (terms of either sign, each within an ulp or two)
LIBM_DIFFERS = {"rate": 0.0, "auc": 1e-14}
RUN_ARGS = {"engine": "numpy"} if "engine" in inspect.signature(engine.run).parameters else {}


def recorded(function, optimizer, settings_list, steps, starts=None, gradient=None):
    """The reference engine's run of every setting from every start (or the default start)."""
    objective = optiscope.get_objective(function) if isinstance(function, str) else function
    opt = OPTIMIZERS[optimizer]
    if starts is not None:
        settings_list = [s for s in settings_list for _ in starts]
        starts = np.tile(starts, (len(settings_list) // len(starts), 1))
    return engine.run(objective, opt, settings_list, steps, starts, gradient=gradient, **RUN_ARGS)


def assert_same_columns(traj: Trajectories, tol: float = metrics.DEFAULT_TOL) -> dict:
    """block_columns of the run == metrics.columns of it (see the module notes); returns
    metrics.columns, for the tests' checks that the case they built is there."""
    expected = metrics.columns(traj, tol)
    found = metrics_numba.block_columns(
        traj.positions,
        traj.losses,
        traj.grad_norms,
        traj.diverged_at,
        traj.converged_at,
        traj.evaluations[-1],
        metrics_numba.metric_context(traj.objective, traj.stochastic),
        tol,
    )
    assert list(found) == list(expected)
    for name, want in expected.items():
        got = found[name]
        assert got.dtype == want.dtype and got.shape == want.shape, name
        if want.dtype == object:
            assert list(got) == list(want), name
        elif name in LIBM_DIFFERS:
            atol = LIBM_DIFFERS[name]
            np.testing.assert_allclose(got, want, rtol=1e-12, atol=atol, err_msg=name)
        else:
            np.testing.assert_array_equal(got, want, err_msg=name)  # NaN == NaN here
    return expected


def lr_grid(optimizer):
    default = OPTIMIZERS[optimizer].complete({})["lr"]
    return [{"lr": default * factor} for factor in LR_FACTORS]


@pytest.mark.parametrize("optimizer", [n for n in OPTIMIZERS if n != "lbfgs"])
def test_every_gradient_optimizer_on_every_function(optimizer):
    diverged = 0
    for function in FUNCTIONS:
        traj = recorded(function, optimizer, lr_grid(optimizer), 150, STARTS)
        assert_same_columns(traj)
        diverged += int((traj.diverged_at >= 0).sum())
    if optimizer in ("sgd", "momentum", "nesterov"):
        assert diverged > 0, "the grid should reach the diverging learning rates"


def test_lbfgs_rows_it_stopped():
    grid = [{"lr": lr, "line_search": s} for lr in (0.5, 1.0) for s in ("none", "strong_wolfe")]
    stopped = 0
    for function in FUNCTIONS:
        traj = recorded(function, "lbfgs", grid, 60, STARTS)
        assert_same_columns(traj)
        stopped += int((traj.converged_at >= 0).sum())
    assert stopped > 0, "L-BFGS should stop some rows by its own tolerances"


def test_himmelblau_rows_measured_at_each_of_its_four_minima():
    starts = np.array([(4.0, 3.0), (-3.0, 4.0), (-4.0, -4.0), (4.0, -3.0), (0.0, 0.0)])
    traj = recorded("himmelblau", "momentum", [{"lr": 0.002}, {"lr": 0.01}], 300, starts)
    assert_same_columns(traj)
    targets = {tuple(x) for x in metrics.target(traj)}
    assert len(targets) == 4


@pytest.mark.parametrize(
    "spec", ["linreg:data=diabetes,features=all", "logreg:data=breast_cancer,features=all"]
)
def test_data_objectives_with_many_coordinates(spec):
    """D >= 8: NumPy's sums over coordinates are pairwise too; D x D eigen-directions."""
    objective = optiscope.get_objective(spec)
    assert objective.dim >= 8
    for optimizer in ("momentum", "adam"):
        assert_same_columns(recorded(objective, optimizer, lr_grid(optimizer), 200))


def test_noisy_gradients_and_their_noise_floor():
    notes = set()
    for function in ("iso", "aniso", "himmelblau"):
        objective = optiscope.get_objective(function)
        for optimizer in ("sgd", "momentum", "adam"):
            noisy = gradient_source(objective, noise=0.3, seed=1)
            traj = recorded(objective, optimizer, lr_grid(optimizer), 300, gradient=noisy)
            assert traj.stochastic
            notes |= set(assert_same_columns(traj)["rate_note"])
    assert "noise floor" in notes


def test_diverged_rows():
    traj = recorded("aniso", "momentum", [{"lr": 3.0}, {"lr": 30.0}, {"lr": 0.01}], 100)
    expected = assert_same_columns(traj)
    assert (traj.diverged_at[:2] >= 0).all() and traj.diverged_at[2] < 0
    assert list(expected["rate_note"][:2]) == ["diverged", "diverged"]


def test_rmsprop_limit_cycles():
    grid = [
        {"lr": lr, "alpha": alpha, "eps": 1e-10}
        for lr in (0.01, 0.03, 0.1, 0.3)
        for alpha in (0.9, 0.99, 0.999)
    ]
    expected = assert_same_columns(recorded("aniso", "rmsprop", grid, 600))
    assert (expected["cycle_period"] >= 2).any()
    assert "limit cycle" in set(expected["rate_note"])


@pytest.mark.parametrize("steps", range(1, 9))
def test_short_runs(steps):
    grid = [{"lr": 0.1}, {"lr": 0.5}, {"lr": 5.0}]
    assert_same_columns(recorded("aniso", "momentum", grid, steps, STARTS))


def test_a_long_run_sums_in_numpys_order():
    """Over 8,000 steps NumPy's pairwise sum recurses several levels deep."""
    grid = [{"lr": 0.001, "momentum": 0.99}, {"lr": 1e-4, "momentum": 0.5}]
    expected = assert_same_columns(recorded("rosenbrock", "momentum", grid, 8000))
    assert np.isfinite(expected["rate"]).any()


def test_a_block_measures_each_row_alone():
    """A slice of the rows (a strided block, as a fused loop hands them) gives those rows'
    values, whatever else is in the batch."""
    traj = recorded("aniso", "adam", lr_grid("adam"), 120, STARTS)
    context = metrics_numba.metric_context(traj.objective, False)
    rows = slice(3, 9, 2)
    part = metrics_numba.block_columns(
        traj.positions[:, rows],
        traj.losses[:, rows],
        traj.grad_norms[:, rows],
        traj.diverged_at[rows],
        traj.converged_at[rows],
        traj.evaluations[-1, rows],
        context,
        1e-6,
    )
    whole = metrics.columns(traj)
    for name, values in part.items():
        if values.dtype == object:
            assert list(values) == list(whole[name][rows]), name
        elif name in LIBM_DIFFERS:
            atol = LIBM_DIFFERS[name]
            np.testing.assert_allclose(values, whole[name][rows], rtol=1e-12, atol=atol)
        else:
            np.testing.assert_array_equal(values, whole[name][rows], err_msg=name)


def test_auc_at_its_floor_and_without_f_min():
    """The same rows with a tol whose floor (tol / 100) they reach and with one they never
    reach, and a function without f_min (NaN from both)."""
    grid = [{"lr": 0.01}, {"lr": 0.1}, {"lr": 0.12}]
    traj = recorded("aniso", "momentum", grid, 200, STARTS)
    final_gap = metrics.gap(traj)[-1]
    for tol, on_floor in ((1e-3, True), (1e-9, False)):
        auc = assert_same_columns(traj, tol)["auc"]
        assert np.isfinite(auc).all() and (auc > np.log10(tol / 100)).all()
        assert list(final_gap < tol / 100) == [on_floor] * traj.batch
    saddle = assert_same_columns(recorded("saddle", "sgd", grid, 50, STARTS))
    assert np.isnan(saddle["auc"]).all()


def test_constants_are_read_from_metrics_at_run_time(monkeypatch):
    """A changed constant in metrics.py changes both evaluators alike (nothing compiled in)."""
    traj = recorded("aniso", "momentum", lr_grid("momentum"), 120, STARTS)
    before = metrics.columns(traj)
    monkeypatch.setattr(metrics, "ZIGZAG_MIN_PAIRS", 200)
    monkeypatch.setattr(metrics, "RATE_MIN_DECAY", 1e6)
    monkeypatch.setattr(metrics, "AUC_FLOOR_DIVISOR", 1e-300)  # the floor above every gap
    after = assert_same_columns(traj)
    assert after["auc"] == pytest.approx(np.full(traj.batch, 294.0), rel=1e-14)
    assert np.isnan(after["zigzag"]).all() and not np.isnan(before["zigzag"]).all()
    assert not np.isfinite(after["rate"]).any() and np.isfinite(before["rate"]).any()


@settings(max_examples=30)
@given(
    optimizer=st.sampled_from([n for n in OPTIMIZERS if n != "lbfgs"]),
    function=st.sampled_from(FUNCTIONS),
    log_lrs=st.lists(st.floats(-4.0, 1.0), min_size=1, max_size=5),
    steps=st.integers(1, 120),
    start=st.tuples(st.floats(-3.0, 3.0), st.floats(-3.0, 3.0)),
    noise=st.sampled_from([0.0, 0.0, 0.2]),
    tol=st.sampled_from([1e-6, 1e-3]),
)
def test_property_random_settings(optimizer, function, log_lrs, steps, start, noise, tol):
    objective = optiscope.get_objective(function)
    x0 = np.array([start])
    grid = [{"lr": 10.0**e} for e in log_lrs]
    noisy = gradient_source(objective, noise=noise, seed=3) if noise else None
    assert_same_columns(recorded(objective, optimizer, grid, steps, x0, noisy), tol)


def built_rows(seed, steps, batch, stochastic, function):
    """Paths made up to reach the metrics' rarer branches, as a Trajectories: per coordinate
    a geometric decay ``c * rho^k`` (rho in -1..1: oscillating, stalling, exact repeats),
    some faster than geometric, some with noise, some ending in an exact cycle; rows frozen
    after a divergence or a stop;
    gradient norms (the fitted quantity without a known minimizer) with exact zeros and ties.
    """
    rng = np.random.default_rng(seed)
    k = np.arange(steps + 1)[:, None, None]
    # -0.9999975 with the scale 1e-4: a 2-cycle decaying too slowly for the absolute
    # tolerance to see, caught by the relative one
    rho = rng.choice([-1.0, -0.9999975, -0.9, -0.5, 0.3, 0.8, 0.97, 1.0], size=(1, batch, 2))
    scale = rng.choice([1.0, 1e-4], size=(1, batch, 1)) * rng.uniform(-2, 2, (1, batch, 2))
    positions = scale * rho**k
    faster = rng.random(batch) < 0.25  # a decay that speeds up, as Newton-like steps do
    width = rng.uniform(0.1, 1.0) * steps
    positions[:, faster] *= np.exp(-((k / width) ** rng.choice([2.0, 3.0])))
    positions += rng.choice([0.0, 1e-3, 1e-9], (1, batch, 1)) * rng.standard_normal(positions.shape)
    diverged_at = np.full(batch, -1, dtype=np.int64)
    converged_at = np.full(batch, -1, dtype=np.int64)
    for b in range(batch):
        how = rng.integers(5)
        at = int(rng.integers(1, steps + 1))
        if how == 0:  # a divergence: frozen at the last good point from step `at` on
            diverged_at[b] = at
            positions[at:, b] = positions[at - 1, b]
        elif how == 1:  # the optimizer's stop: stays at the point of the step before
            converged_at[b] = at
            positions[at:, b] = positions[at - 1, b]
        elif how == 2 and at >= 2:  # an exact cycle of period 2..4 from `at` on
            period = int(rng.integers(2, 5))
            for j in range(at, steps + 1):
                positions[j, b] = positions[max(j - period, 0), b]
    objective = optiscope.get_objective(function)
    losses = objective.value(positions.reshape(-1, 2)).reshape(steps + 1, batch)
    grad_norms = np.abs(positions).sum(axis=2) * rng.choice([0.0, 1.0, 1.0], (steps + 1, 1))
    return Trajectories(
        objective=objective,
        optimizer="made up",
        settings=[{}] * batch,
        positions=positions,
        losses=losses,
        grad_norms=np.round(grad_norms, int(rng.integers(1, 16))),
        evaluations=np.tile(k[:, :, 0], (1, batch)),
        diverged_at=diverged_at,
        converged_at=converged_at,
        stochastic=stochastic,
    )


def test_built_paths():
    """Many made-up batches, each rule of the metrics met by some rows."""
    for seed in range(300):
        steps = 1 + seed % 7 if seed % 10 == 0 else 20 + (seed * 37) % 280
        function = "saddle" if seed % 3 == 0 else "iso"
        traj = built_rows(seed, steps, 6, seed % 2 == 0, function)
        assert_same_columns(traj, tol=1e-4)


@settings(max_examples=30)
@given(
    seed=st.integers(0, 2**32 - 1),
    steps=st.integers(1, 200),
    batch=st.integers(1, 6),
    stochastic=st.booleans(),
    function=st.sampled_from(["iso", "saddle"]),
)
def test_property_built_paths(seed, steps, batch, stochastic, function):
    assert_same_columns(built_rows(seed, steps, batch, stochastic, function), tol=1e-4)
