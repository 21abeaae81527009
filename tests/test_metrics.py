"""Metrics: known answers on constructed paths, the seed's runs, batching, no warnings."""

import dataclasses
import json
import math

import numpy as np
import pytest

from optiscope import metrics
from optiscope.engine import Trajectories, run
from optiscope.objectives import get_objective
from optiscope.optimizers import get_optimizer

pytestmark = pytest.mark.filterwarnings("error")

SEED_RMSPROP = "rmsprop:lr=0.1,alpha=0.1,eps=1e-10"


def _traj(path, function="aniso", diverged_at=None) -> Trajectories:
    """A Trajectories built directly from positions ``[S+1, D]`` or ``[S+1, B, D]``."""
    objective = get_objective(function)
    positions = np.asarray(path, dtype=np.float64)
    if positions.ndim == 2:
        positions = positions[:, None, :]
    steps, batch = positions.shape[0] - 1, positions.shape[1]
    flat = positions.reshape(-1, objective.dim)
    kwargs = {
        "objective": objective,
        "optimizer": "constructed",
        "settings": [{}] * batch,
        "positions": positions,
        "losses": objective.value(flat).reshape(steps + 1, batch),
        "grad_norms": np.linalg.norm(objective.grad(flat), axis=1).reshape(steps + 1, batch),
        "evaluations": np.repeat(np.arange(steps + 1)[:, None], batch, axis=1),
        "diverged_at": np.full(batch, -1) if diverged_at is None else np.asarray(diverged_at),
    }
    if "converged_at" in {f.name for f in dataclasses.fields(Trajectories)}:
        kwargs["converged_at"] = np.full(batch, -1)
    return Trajectories(**kwargs)


def _run(function, spec, steps, start=(1.0, 1.0)):
    optimizer, settings = get_optimizer(spec)
    return run(get_objective(function), optimizer, settings, steps=steps, start=start)


def _one(traj, tol=metrics.DEFAULT_TOL):
    (row,) = metrics.summary(traj, tol)
    json.dumps(row, allow_nan=False)  # JSON-ready: no NaN, no numpy scalars
    return row


# --- cycle --------------------------------------------------------------------------------


def test_pure_two_cycle_period_and_amplitude():
    a, b = np.array([0.3, -0.1]), np.array([-0.2, 0.1])
    traj = _traj([a if k % 2 == 0 else b for k in range(41)])
    c = metrics.cycle(traj)
    assert c.period[0] == 2
    np.testing.assert_allclose(c.amplitude_per_coordinate[0], [0.25, 0.1], rtol=1e-15)
    row = _one(traj)
    assert row["cycle_period"] == 2
    assert row["cycle_amplitude"] == pytest.approx(0.25, rel=1e-15)
    assert row["rate"] is None and row["rate_fit_range"] is None  # the distance never decays
    assert row["zigzag_per_coordinate"] == [1.0, 1.0]


def test_period_three_cycle():
    points = np.array([[0.3, 0.1], [-0.2, 0.4], [0.1, -0.3]])
    traj = _traj([points[k % 3] for k in range(49)])
    c = metrics.cycle(traj)
    assert c.period[0] == 3
    np.testing.assert_allclose(c.amplitude_per_coordinate[0], [0.25, 0.35], rtol=1e-15)
    assert _one(traj)["cycle_amplitude"] == pytest.approx(0.35, rel=1e-15)


def test_seed_rmsprop_ends_in_a_two_cycle_of_half_lr():
    # The seed note's RMSProp beta = 0.1 run on w1^2 + 8 w2^2, lr 0.1, 50 steps from (1, 1).
    traj = _run("aniso", SEED_RMSPROP, 50)
    c = metrics.cycle(traj)
    assert c.period[0] == 2
    np.testing.assert_allclose(c.amplitude_per_coordinate[0], [0.05, 0.05], atol=1e-9)
    row = _one(traj)
    assert row["cycle_period"] == 2
    assert row["cycle_amplitude"] == pytest.approx(0.1 / 2, abs=1e-9)
    assert row["steps_to_tol"] is None and row["diverged_at"] is None
    # the distance fell 20x on the approach, but the run ends on the cycle: no rate
    assert row["rate"] is None and row["rate_fit_range"] is None
    assert row["rate_note"] == "limit cycle"


def test_converged_path_is_not_a_cycle():
    traj = _run("aniso", "sgd:lr=0.1", 400)
    assert metrics.cycle(traj).period[0] == 1  # stationary, reported as converged
    row = _one(traj)
    assert row["cycle_period"] is None and row["cycle_amplitude"] is None
    still = _traj(np.ones((40, 2)))
    assert metrics.cycle(still).period[0] == 1 and _one(still)["cycle_period"] is None


def test_slowly_decaying_zigzag_is_not_a_cycle():
    # |x_k - x_{k-2}| ~ 2e-10 is within the absolute tolerance, but the path still shrinks by
    # 2% per two steps: the repeat error is not small relative to its amplitude.
    k = np.arange(201)
    traj = _traj(np.outer(1e-8 * (-0.99) ** (k - 200), [1.0, 0.5]))
    assert metrics.cycle(traj).period[0] == 0


def test_short_run_tests_only_periods_that_fit_twice_in_the_window():
    points = np.array([[0.3, 0.1], [-0.2, 0.4], [0.1, -0.3]])
    # S = 23: window W = 23 // 4 = 5 steps, periods up to 2 only
    assert metrics.cycle(_traj([points[k % 3] for k in range(24)])).period[0] == 0
    # S = 24: W = 6, period 3 fits twice
    assert metrics.cycle(_traj([points[k % 3] for k in range(25)])).period[0] == 3


# --- rate ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ratio", "steps", "fit_range"),
    [
        (0.8, 50, [12, 50]),  # never reaches the floor: the whole run, less the first quarter
        (0.5, 60, [9, 39]),  # 0.5^40 < 1e-12: the fit stops at the floor (step 39)
        (-0.9, 80, [20, 80]),  # alternating signs: the distance still decays as 0.9^k
    ],
)
def test_geometric_sequence_gives_its_ratio(ratio, steps, fit_range):
    k = np.arange(steps + 1)
    traj = _traj(np.outer(ratio**k, [0.6, -0.8]))
    fit = metrics.rate_fit(traj)
    assert fit.rate[0] == pytest.approx(abs(ratio), rel=1e-12)
    assert [fit.fit_start[0], fit.fit_end[0]] == fit_range
    row = _one(traj)
    assert row["rate"] == pytest.approx(abs(ratio), rel=1e-12)
    assert row["rate_fit_range"] == fit_range


def test_a_decay_that_ends_on_a_plateau_has_no_rate():
    k = np.minimum(np.arange(61), 20)  # 0.5^k until step 20, then the path stays put at 1e-6
    row = _one(_traj(np.outer(0.5**k, [1.0, 1.0])))
    assert row["rate"] is None and row["rate_fit_range"] is None
    assert row["rate_note"] == "stalled"
    # the same path stopped there by the optimizer's own test: the run ends at the stop
    stopped = dataclasses.replace(_traj(np.outer(0.5**k, [1.0, 1.0])), converged_at=np.array([21]))
    row = _one(stopped)
    assert row["rate"] == pytest.approx(0.5, rel=1e-12) and row["rate_note"] is None
    assert row["rate_fit_range"] == [5, 20]


def test_rate_is_undefined_without_decay_or_with_too_few_points():
    assert _one(_traj(np.ones((30, 2))))["rate"] is None  # constant distance
    assert _one(_traj(np.outer(1.1 ** np.arange(30), [1.0, 0.0])))["rate"] is None  # growing
    exact = _traj([[1.0, 1.0], [0.1, 0.1], [0.01, 0.01]] + [[0.0, 0.0]] * 20)
    assert _one(exact)["rate"] is None  # hits the minimizer exactly at step 3


def _heavy_ball_rate(lr, beta, eigenvalues=(2.0, 16.0)):
    """Spectral radius of the heavy-ball iteration on a quadratic (REFERENCE.md)."""
    return max(np.abs(np.roots([1.0, -(1.0 + beta - lr * lam), beta])).max() for lam in eigenvalues)


@pytest.mark.parametrize(
    ("function", "spec", "lr", "beta", "steps"),
    [
        ("aniso", "sgd:lr=0.1", 0.1, 0.0, 60),  # GD: 0.8 (0.6 is the transient)
        ("aniso", "sgd:lr=0.05", 0.05, 0.0, 200),  # GD: max |1 - lr*lambda| = 0.9
        ("aniso", "sgd:lr=0.1,momentum=0.1", 0.1, 0.1, 80),  # real roots, 0.770
        ("aniso", "sgd:lr=0.1,momentum=0.5", 0.1, 0.5, 150),  # oscillating, sqrt(0.5)
        ("aniso", "sgd:lr=0.1,momentum=0.9", 0.1, 0.9, 400),  # oscillating, sqrt(0.9)
        ("quadratic:kappa=8,angle=30", "sgd:lr=0.1,momentum=0.9", 0.1, 0.9, 400),
    ],
)
def test_rate_matches_linear_theory_on_quadratics(function, spec, lr, beta, steps):
    traj = _run(function, spec, steps, start=(1.0, 0.3))
    assert metrics.rate(traj)[0] == pytest.approx(_heavy_ball_rate(lr, beta), rel=0.01)


# --- zigzag and overshoot -----------------------------------------------------------------


def test_gd_on_aniso_zigzags_in_the_steep_direction_only():
    # lr * lambda = 0.1 * 16 = 1.6 > 1: the steep direction flips every step; 0.2 < 1: the
    # flat one never does. Directions are ordered by ascending eigenvalue: [flat, steep].
    row = _one(_run("aniso", "sgd:lr=0.1", 50))
    assert row["zigzag_per_direction"] == [0.0, 1.0]
    assert row["zigzag_per_coordinate"] == [0.0, 1.0]
    assert row["zigzag"] == 1.0
    assert row["overshoot_per_direction"] == [0.0, pytest.approx(0.6, rel=1e-12)]
    assert row["overshoot"] == pytest.approx(0.6, rel=1e-12)


def test_eigen_directions_follow_a_rotated_valley():
    # Rotated by 30 degrees the coordinates mix both modes, the eigen-directions do not.
    traj = _run("quadratic:kappa=8,angle=30", "sgd:lr=0.1", 50, start=(0.3, 1.0))
    eig = metrics.eigen_directions(traj)
    np.testing.assert_allclose(eig.values[0], [2.0, 16.0], rtol=1e-12)
    t = np.deg2rad(30.0)
    np.testing.assert_allclose(eig.vectors[0][:, 0], [np.cos(t), np.sin(t)], atol=1e-12)
    np.testing.assert_allclose(eig.vectors[0][:, 1], [-np.sin(t), np.cos(t)], atol=1e-12)
    row = _one(traj)
    assert row["zigzag_per_direction"] == [0.0, 1.0]
    assert row["zigzag_per_coordinate"] != [0.0, 1.0]


def test_rounding_noise_along_an_unexcited_direction_is_not_a_move():
    # Started on one eigen-axis of a rotated valley, the other direction's component is pure
    # rounding noise (~1e-17): it must not count as zigzag, nor as a start offset.
    t = np.deg2rad(30.0)
    steep_start = _one(
        _run("quadratic:kappa=8,angle=30", "sgd:lr=0.1", 60, (-np.sin(t), np.cos(t)))
    )
    assert steep_start["zigzag_per_direction"] == [None, 1.0]
    assert steep_start["overshoot_per_direction"] == [None, pytest.approx(0.6)]
    flat_start = _one(_run("quadratic:kappa=8,angle=30", "sgd:lr=0.1", 60, (np.cos(t), np.sin(t))))
    assert flat_start["zigzag_per_direction"] == [0.0, None]
    assert flat_start["efficiency"] == pytest.approx(1.0, rel=1e-12)


def test_overshoot_of_a_path_that_crosses_once():
    # Along w1 (flat, eigenvalue 2): from 1 past the minimizer to -0.3, then back toward 0.
    # Along w2 (steep, eigenvalue 16): from 2 straight in, never crossing.
    w1 = [1.0, 0.5, -0.3, -0.1, -0.05, -0.02, 0.0, 0.0]
    w2 = [2.0, 1.0, 0.5, 0.2, 0.1, 0.05, 0.02, 0.01]
    row = _one(_traj(np.column_stack([w1, w2])))
    assert row["overshoot_per_direction"] == [pytest.approx(0.3), 0.0]
    assert row["overshoot"] == pytest.approx(0.3)


def test_overshoot_in_a_rotated_frame():
    traj_dir = get_objective("quadratic:kappa=4,angle=30")
    t = np.deg2rad(30.0)
    flat, steep = np.array([np.cos(t), np.sin(t)]), np.array([-np.sin(t), np.cos(t)])
    a = np.array([2.0, 1.0, -0.5, -0.1, 0.0])  # along flat: 0.5 / 2 = 0.25 beyond
    b = np.array([-1.0, 0.8, -0.3, 0.1, 0.0])  # along steep: 0.8 / 1 beyond
    traj = _traj(np.outer(a, flat) + np.outer(b, steep), function=traj_dir.name)
    np.testing.assert_allclose(metrics.overshoot_per_direction(traj)[0], [0.25, 0.8], rtol=1e-12)


def test_overshoot_is_undefined_without_a_start_offset():
    row = _one(_traj([[1.0, 0.0], [-0.5, 0.0], [0.2, 0.0], [0.0, 0.0]]))
    assert row["overshoot_per_direction"] == [pytest.approx(0.5), None]
    assert row["overshoot"] == pytest.approx(0.5)


def test_straight_path_has_efficiency_one_and_no_zigzag():
    s = np.array([0.0, 0.1, 0.15, 0.5, 0.55, 0.9, 1.0])  # uneven steps along one line
    start, end = np.array([1.0, 2.0]), np.array([0.2, 0.4])
    traj = _traj(start + np.outer(s, end - start))
    row = _one(traj)
    assert row["efficiency"] == pytest.approx(1.0, rel=1e-14)
    assert row["path_length"] == pytest.approx(np.linalg.norm(end - start), rel=1e-14)
    assert row["zigzag_per_coordinate"] == [0.0, 0.0]
    assert row["zigzag_per_direction"] == [0.0, 0.0]
    assert row["zigzag"] == 0.0


def test_alternating_steps_zigzag_one_and_converged_tail_does_not_count():
    k = np.arange(8)
    alternating = np.outer((-0.5) ** k, [1.0, 2.0])
    tail = np.zeros((30, 2))  # exact zeros after the minimizer is reached: no moves
    row = _one(_traj(np.vstack([alternating, tail])))
    assert row["zigzag_per_coordinate"] == [1.0, 1.0]
    assert row["zigzag_per_direction"] == [1.0, 1.0]
    assert row["zigzag"] == 1.0
    still = _one(_traj(np.ones((10, 2))))
    assert still["zigzag"] is None and still["zigzag_per_coordinate"] == [None, None]
    assert still["efficiency"] is None and still["path_length"] == 0.0


def test_path_length_efficiency_and_evaluations():
    traj = _traj([[0.0, 0.0], [3.0, 4.0], [3.0, 0.0]])
    row = _one(traj)
    assert row["path_length"] == 9.0
    assert row["efficiency"] == pytest.approx(3.0 / 9.0)
    assert row["evaluations"] == 2


# --- steps_to_tol, divergence, functions without minimizers or Hessian --------------------


def test_steps_to_tol_counts_only_once_the_gap_stays_below():
    # gaps w1^2: 1, 1e-8 (dip below 1e-6), 1e-2 (back up), 1e-8, 1e-10, 1e-12
    w1 = [1.0, 1e-4, 0.1, 1e-4, 1e-5, 1e-6]
    traj = _traj(np.column_stack([w1, np.zeros(6)]))
    assert metrics.steps_to_tol(traj, 1e-6)[0] == 3
    assert _one(traj, 1e-6)["steps_to_tol"] == 3
    assert _one(traj, 1e-9)["steps_to_tol"] == 4
    assert _one(traj, 1e-13)["steps_to_tol"] is None


def test_diverged_row_gives_finite_or_none_metrics_without_warnings():
    objective = get_objective("aniso")
    optimizer, _ = get_optimizer("sgd:lr=0.1")
    settings = [optimizer.resolve({"lr": "0.1"}), optimizer.resolve({"lr": "0.2"})]
    traj = run(objective, optimizer, settings, steps=60)
    assert traj.diverged_at[0] == -1 and traj.diverged_at[1] > 0
    good, bad = metrics.summary(traj)
    json.dumps([good, bad], allow_nan=False)
    assert bad["diverged_at"] == traj.diverged_at[1]
    assert bad["steps_to_tol"] is None and bad["rate"] is None and bad["cycle_period"] is None
    assert bad["overshoot"] is None and bad["overshoot_per_direction"] == [None, None]
    assert bad["evaluations"] == traj.diverged_at[1] - 1
    assert bad["zigzag_per_direction"] == [0.0, 1.0]  # |1 - 0.2*16| = 2.2: flips, grows
    for key in ("path_length", "efficiency", "loss_final", "distance_final"):
        assert np.isfinite(bad[key])
    assert good["rate"] == pytest.approx(0.8, rel=1e-4)


def test_constructed_diverged_row_ignores_its_frozen_tail():
    k = np.arange(21)
    path = np.outer(0.5**k, [1.0, 1.0])
    path[12:] = path[11]  # diverged at step 12: frozen at the last good point
    traj = _traj(path, diverged_at=[12])
    row = _one(traj)
    assert row["diverged_at"] == 12 and row["cycle_period"] is None
    # it decayed as 0.5^k until then, but a diverged run has no rate
    assert row["rate"] is None and row["rate_note"] == "diverged"
    # gap 9 * 0.25^k: first <= 1e-5 at step 10; a diverged row never "stays" there
    assert _one(traj, 1e-5)["first_to_tol"] == 10 and _one(traj, 1e-5)["steps_to_tol"] is None


def test_function_without_minimizer_has_no_eigen_metrics():
    traj = _run("saddle", "sgd:lr=0.1", 30, start=(1.0, 0.1))
    row = _one(traj)
    assert row["zigzag_per_direction"] is None and row["overshoot_per_direction"] is None
    assert row["overshoot"] is None and row["distance_final"] is None
    assert row["zigzag_per_coordinate"] == [0.0, 0.0]
    assert row["zigzag"] == 0.0
    assert row["rate"] is None  # the gradient norm grows along the unstable w2


def test_rate_falls_back_to_the_gradient_norm_without_minimizer():
    # On the saddle w1^2 - w2^2, GD from (1, 0) stays on the w1 axis: x_k = 0.8^k (1, 0).
    row = _one(_run("saddle", "sgd:lr=0.1", 40, start=(1.0, 0.0)))
    assert row["rate"] == pytest.approx(0.8, rel=1e-12)


def test_singular_hessian_at_the_minimizer_leaves_eigen_metrics_undefined():
    row = _one(_run("ackley", "sgd:lr=0.01", 20, start=(0.5, 0.3)))
    assert row["zigzag_per_direction"] is None and row["overshoot"] is None
    assert row["zigzag"] is not None  # falls back to the coordinates


# --- auc ----------------------------------------------------------------------------------


def _with_gaps(gaps) -> Trajectories:
    """A run on aniso (f_min = 0) whose recorded losses are ``gaps`` (``[S+1, B]``)."""
    gaps = np.asarray(gaps, dtype=np.float64)
    steps, batch = gaps.shape
    traj = _traj(np.zeros((steps, batch, 2)))
    return dataclasses.replace(traj, losses=gaps)


def test_auc_of_a_geometric_decay_is_its_mean_log10_gap():
    # gap_k = 3 * 0.5^k, k = 0..40: mean log10 = log10(3) + (40 / 2) * log10(0.5)
    k = np.arange(41)
    traj = _with_gaps((3.0 * 0.5**k)[:, None])
    expected = math.log10(3.0) + 20 * math.log10(0.5)
    assert metrics.auc(traj, tol=1e-20)[0] == pytest.approx(expected, rel=1e-13)
    assert _one(traj, 1e-20)["auc"] == pytest.approx(expected, rel=1e-13)


def test_auc_stops_rewarding_below_a_hundredth_of_tol():
    # gaps 10^-k, k = 0..12; tol 1e-6: the floor 1e-8 holds steps 9..12 at -8
    k = np.arange(13)
    gaps = np.column_stack([10.0**-k, np.zeros(13), np.full(13, -1e-20)])
    floored = metrics.auc(_with_gaps(gaps), tol=1e-6)
    assert floored[0] == pytest.approx((-sum(range(9)) - 4 * 8) / 13, rel=1e-14)
    # a gap of 0 (or rounding below f_min) counts as the floor itself
    assert floored[1] == pytest.approx(-8.0, rel=1e-14) and floored[2] == floored[1]
    # a tol whose floor (1e-14) is below every gap: the plain mean of 0, -1, ..., -12
    assert metrics.auc(_with_gaps(gaps[:, :1]), tol=1e-12)[0] == pytest.approx(-6.0, rel=1e-14)


def test_auc_counts_a_diverged_rows_frozen_gaps_as_recorded():
    k = np.arange(21)
    path = np.outer(0.5**k, [1.0, 1.0])
    path[12:] = path[11]  # diverged at step 12: frozen at the last good point
    traj = _traj(path, diverged_at=[12])
    # gap 9 * 0.25^min(k, 11): sum of the exponents 0 + 1 + ... + 11 + 9 * 11 = 165
    expected = math.log10(9.0) + 165 / 21 * math.log10(0.25)
    assert metrics.columns(traj)["auc"][0] == pytest.approx(expected, rel=1e-13)


def test_auc_is_undefined_without_f_min_and_lower_for_faster_runs():
    assert _one(_run("saddle", "sgd:lr=0.1", 30, start=(1.0, 0.1)))["auc"] is None
    assert np.isnan(metrics.auc(_run("saddle", "sgd:lr=0.1", 30, start=(1.0, 0.1)))[0])
    slow = _one(_run("aniso", "sgd:lr=0.01", 60))["auc"]
    fast = _one(_run("aniso", "sgd:lr=0.1", 60))["auc"]
    assert fast < slow < math.log10(9.0)  # both start at gap 9 and fall


# --- batching -----------------------------------------------------------------------------


def test_batched_rows_give_the_same_metrics_as_single_rows():
    objective = get_objective("quadratic:kappa=8,angle=30")
    optimizer, _ = get_optimizer("sgd:lr=0.1")
    specs = [{"lr": "0.1"}, {"lr": "0.1", "momentum": "0.9"}, {"lr": "0.2"}, {"lr": "0.02"}]
    settings = [optimizer.resolve(s) for s in specs]
    traj = run(objective, optimizer, settings, steps=120, start=(1.0, -0.4))
    batched = metrics.summary(traj)
    for b in range(traj.batch):
        assert batched[b] == metrics.summary(traj.row(b))[0]
    cycles = _traj(
        np.stack(
            [
                [[0.3, -0.1] if k % 2 == 0 else [-0.2, 0.1] for k in range(41)],
                [[0.8**k, 0.0] for k in range(41)],
                [[1.0, 2.0]] * 41,
            ],
            axis=1,
        )
    )
    rows = metrics.summary(cycles)
    assert [r["cycle_period"] for r in rows] == [2, None, None]
    for b in range(3):
        assert rows[b] == metrics.summary(cycles.row(b))[0]
    rms = _run("aniso", SEED_RMSPROP, 50, start=np.array([[1.0, 1.0], [0.5, -1.5]]))
    assert metrics.summary(rms)[0] == metrics.summary(rms.row(0))[0]


def test_columns_keys_are_the_declared_column_names():
    assert tuple(metrics.columns(_run("aniso", "sgd:lr=0.1", 10))) == metrics.COLUMN_NAMES


def test_summary_keeps_the_basic_keys_and_adds_the_new_ones():
    row = _one(_run("aniso", "sgd:lr=0.1", 30))
    assert list(row) == [
        "loss_final",
        "gap_final",
        "distance_final",
        "steps_to_tol",
        "first_to_tol",
        "diverged_at",
        "zigzag",
        "zigzag_per_coordinate",
        "zigzag_per_direction",
        "overshoot",
        "overshoot_per_direction",
        "rate",
        "rate_fit_range",
        "rate_of",
        "rate_note",
        "auc",
        "cycle_period",
        "cycle_amplitude",
        "path_length",
        "efficiency",
        "evaluations",
    ]
    assert row["loss_final"] == pytest.approx(0.8**60 + 8 * 0.6**60, rel=1e-12)
    assert row["evaluations"] == 30


# --- review fixes: quiet overflow, a real decay for the rate, enough pairs for zigzag -------


def test_huge_but_finite_positions_give_no_warning():
    # 1e200 squared overflows: the metrics read inf / None, silently (module: warnings are errors).
    path = np.outer(0.5 ** np.arange(30), [1e200, -1e200])
    with np.errstate(all="ignore"):  # building the fixture evaluates f = inf
        traj = _traj(path)
    row = _one(traj)  # JSON-ready, no RuntimeWarning
    assert row["distance_final"] is None and row["path_length"] is None  # inf: undefined
    assert metrics.rate_fit(traj).rate.shape == (1,)


@pytest.mark.parametrize(
    ("function", "spec", "steps"),
    [
        ("ackley", "momentum:lr=0.01", 100),  # distance 4.12 -> 4.21: a stall, not a decay
        ("aniso", "rmsprop:lr=0.1,alpha=0.99,eps=1e-10", 3000),  # window falls 4.3x, plateau
        ("aniso", "rmsprop:lr=0.1,alpha=0.99,eps=1e-10", 800),  # reached x*, left it again
    ],
)
def test_rate_needs_a_real_decay(function, spec, steps):
    row = _one(_run(function, spec, steps))
    assert row["rate"] is None and row["rate_fit_range"] is None and row["rate_of"] is None


def test_rate_decay_thresholds_on_constructed_paths():
    def rate_of_path(radii):
        return _one(_traj(np.outer(radii, [0.6, -0.8])))["rate"]

    k = np.arange(241)
    # A decay followed by a long plateau has no rate, however much it fell ...
    assert rate_of_path(0.95 ** np.minimum(k, 40)) is None  # 0.95^30: 4.6x
    assert rate_of_path(0.9 ** np.minimum(k, 40)) is None  # 0.9^30: 24x
    assert rate_of_path(0.9 ** np.minimum(k, 200)) is None  # 0.9^150: 7e6x, then 40 flat steps
    # ... nor one that flattens only in its last tenth: 2x down to the end is enough.
    assert rate_of_path(0.9 ** np.minimum(k, 220)) == pytest.approx(0.9, rel=1e-12)
    assert rate_of_path(0.99 ** k[:101]) == pytest.approx(0.99, rel=1e-12)  # 0.99^75: 2.1x
    assert rate_of_path(0.995 ** k[:101]) is None  # 0.995^75: 1.46x
    # Two consecutive steps at x* (to rounding), then a departure: not a convergence.
    left = np.concatenate([0.5 ** k[:20], [0.0, 0.0], 0.1 * 0.9 ** k[:60]])
    assert rate_of_path(left) is None
    # A single exact zero at a crossing does not break the fit.
    crossing = 0.8 ** k[:60] * np.where(k[:60] == 10, 0.0, 1.0)
    assert rate_of_path(crossing) == pytest.approx(0.8, rel=1e-12)


def test_rate_of_names_the_fitted_quantity():
    gd = _one(_run("aniso", "sgd:lr=0.01", 100))  # 0.98: falls 4.5x, still decaying at the end
    assert gd["rate"] == pytest.approx(0.98, rel=1e-5) and gd["rate_of"] == "distance"
    saddle = _one(_run("saddle", "sgd:lr=0.1", 40, start=(1.0, 0.0)))
    assert saddle["rate"] == pytest.approx(0.8, rel=1e-12) and saddle["rate_of"] == "gradient norm"
    assert metrics.rate_quantity(_run("saddle", "sgd:lr=0.1", 3)) == "gradient norm"


def test_zigzag_needs_three_counted_pairs():
    def moves_to_path(moves):
        return np.vstack([[1.0, 1.0], 1.0 + np.cumsum(moves, axis=0)])

    two_pairs = [[-0.5, 0.1], [0.3, 0.1], [-0.2, 0.1]] + [[0.0, 0.0]] * 10
    three_pairs = [[-0.5, 0.1], [0.3, 0.1], [-0.2, 0.1], [0.1, 0.1]] + [[0.0, 0.0]] * 10
    row = _one(_traj(moves_to_path(two_pairs), function="iso"))
    assert row["zigzag_per_coordinate"] == [None, None] and row["zigzag"] is None
    row = _one(_traj(moves_to_path(three_pairs), function="iso"))
    assert row["zigzag_per_coordinate"] == [1.0, 0.0]
    # RMSProp (alpha 0.99) lands on aniso's minimum in one step; what follows is at 1e-10 scale
    # and shrinking: a handful of tiny moves are not a zigzag measurement.
    rms = _one(_run("aniso", "rmsprop:lr=0.1,alpha=0.99,eps=1e-10", 100))
    assert rms["zigzag_per_direction"] == [None, None] and rms["zigzag"] is None


def test_summary_computes_the_eigen_directions_once(monkeypatch):
    traj = _run("aniso", "sgd:lr=0.1", 30)
    expected = metrics.summary(traj)
    calls = []
    original = metrics.eigen_directions

    def counting(t):
        calls.append(1)
        return original(t)

    monkeypatch.setattr(metrics, "eigen_directions", counting)
    assert metrics.summary(traj) == expected
    assert len(calls) == 1
    calls.clear()
    metrics.columns(traj)
    assert len(calls) == 1
