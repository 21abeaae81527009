"""`explain` knows local minima, saddles, typed formulas and the optimizer's own stops.

Each sentence is checked against numbers the test computes itself (a Newton search, the
engine's path, the record's fields), not against a copy of the text.
"""

import math

import numpy as np
import pytest

import optiscope as osc
from optiscope.explain import explain, outcome_sentence
from optiscope.tables import num
from optiscope.theory import theory_report
from optiscope.theory.landscape import escape_steps, growth_factor, saddle_near
from optiscope.theory.linear import linear_setting
from optiscope.theory.minimizer import FOUND_NOTE, _found, with_found_minimum


def _text(run):
    return " ".join(run["text"])


# ----------------------------------------------------------------------------- local minima
@pytest.mark.parametrize("start", [None, (2.2, 2.2)])
def test_a_run_stuck_in_a_rastrigin_local_minimum_says_so(start):
    f = osc.get_objective("rastrigin")
    run = explain(f, ["sgd:lr=0.001"], steps=100, start=start)["runs"][0]
    where = run["where"]
    assert where["kind"] == "local_minimum" and where["stuck"]
    # the local minimizer is a critical point with a positive definite Hessian ...
    x = np.array(where["point"])
    assert np.linalg.norm(f.grad(x[None])[0]) < 1e-8
    assert min(np.linalg.eigvalsh(f.hessian(x[None])[0])) > 0
    # ... near the integer point the run started by, far above the global minimum
    assert where["loss"] == pytest.approx(float(f.value(x[None])[0]))
    assert where["excess"] == pytest.approx(where["loss"] - f.f_min) and where["excess"] > 1
    assert run["loss_final"] == pytest.approx(where["loss"], abs=1e-6)
    text = _text(run)
    point = "(" + ", ".join(num(v) for v in x) + ")"
    assert f"is stuck in a local minimum at {point} with loss {num(where['loss'])}" in text
    assert f"the global minimum {num(f.f_min)} at (0, 0) is {num(where['excess'])} lower" in text
    # neither the global minimum's theory nor a "round bowl" note
    assert run["theory"] is None and "round bowl" not in text and "Theory" not in text


def test_the_issue_case_loss_31_84():
    run = explain("rastrigin", ["sgd:lr=0.001"], steps=100)["runs"][0]
    assert num(run["loss_final"]) == "31.84" and "local minimum" in _text(run)


def test_a_run_heading_into_a_local_minimum_is_told_so():
    run = explain("rastrigin", ["sgd:lr=2e-05"], steps=100)["runs"][0]
    assert run["where"]["kind"] == "local_minimum" and not run["where"]["stuck"]
    assert "is heading into a local minimum" in _text(run)


def test_momentum_circling_into_a_local_minimum_is_heading_into_it():
    """Heavy ball with momentum 0.99 spirals into the basin of (1.99, 1.99): its distance to
    that minimizer oscillates, so its peaks, not its end point, show the approach."""
    f = osc.get_objective("rastrigin")
    spec = "momentum:lr=0.001,momentum=0.99"
    run = explain(f, [spec], steps=500, start=(2.2, 2.2))["runs"][0]
    assert run["where"]["kind"] == "local_minimum" and not run["where"]["stuck"]
    traj = osc.run(f, *osc.get_optimizer(spec), steps=500, start=(2.2, 2.2))
    dist = np.linalg.norm(traj.positions[-125:, 0] - np.array(run["where"]["point"]), axis=1)
    assert dist[62:].max() < dist[:62].max() and dist[-1] > dist[0]  # peaks fall, ends do not
    assert run["theory"] is None and "needs about" not in _text(run)


def test_a_run_bouncing_at_an_unstable_lr_is_not_called_stuck():
    run = explain("rastrigin", ["sgd:lr=0.1"], steps=100)["runs"][0]
    assert run["where"] is None and "cannot settle" in _text(run)


def test_a_run_at_the_global_minimum_has_no_local_minimum_sentence():
    run = explain("rastrigin", ["sgd:lr=0.001"], steps=200, start=(0.2, -0.1))["runs"][0]
    assert run["where"] is None and run["metrics"]["steps_to_tol"] is not None


def test_lbfgs_stopped_in_a_local_minimum():
    run = explain("six_hump_camel", ["lbfgs"], steps=500)["runs"][0]
    text = _text(run)
    assert run["stopped_at"] is not None and run["where"]["kind"] == "local_minimum"
    assert f"stopped at step {run['stopped_at']}" in text and "converged" not in text


# ----------------------------------------------------------------------------- saddles
@pytest.mark.parametrize(
    "function,start,spec",
    [
        ("saddle", (1.0, 0.01), "sgd:lr=0.1"),
        ("saddle", (1.0, 0.01), "momentum:lr=0.05,momentum=0.5"),
        ("saddle", (1.0, -0.001), "nesterov:lr=0.05,momentum=0.5"),
        ("w1**2 - w2**2 + w2**4/4", (1.0, 0.01), "sgd:lr=0.1"),
        ("six_hump_camel", (0.0, 0.01), "sgd:lr=0.02"),
    ],
)
def test_saddle_escape_time_is_predicted_and_measured(function, start, spec):
    f = osc.get_objective(function)
    saddle = saddle_near(f, np.array(start))
    assert saddle is not None and saddle.eigenvalues[0] < 0 < saddle.eigenvalues[1]
    run = explain(f, [spec], steps=200, start=start)["runs"][0]
    entry = run["saddle"]
    optimizer, params = osc.get_optimizer(spec)
    setting = linear_setting(optimizer.name, params)
    lam = float(saddle.eigenvalues[0])
    # GD's growth 1 + lr|lambda|; heavy ball's the larger root of s^2-(1+b+lr|lam|)s+b
    if setting.method == "gd":
        assert entry["predicted_growth"] == pytest.approx(1 + setting.lr * abs(lam))
    if setting.method == "heavy_ball":
        b, h = setting.momentum, setting.lr * abs(lam)
        root = ((1 + b + h) + math.sqrt((1 + b + h) ** 2 - 4 * b)) / 2
        assert entry["predicted_growth"] == pytest.approx(root)
    estimate = math.log(saddle.d1 / saddle.d0) / math.log(growth_factor(setting, lam))
    assert abs(entry["predicted_steps"] - estimate) <= 2
    # measured on the engine's own path: the first step farther than d1 along the direction
    traj = osc.run(f, optimizer, params, steps=200, start=start)
    along = np.abs((traj.positions[:, 0] - saddle.point) @ saddle.down)
    measured = int(np.flatnonzero(along >= saddle.d1)[0])
    assert entry["measured_steps"] == measured
    if function == "saddle":  # an exact quadratic saddle: the model's recurrence is the run
        assert entry["predicted_steps"] == measured
    else:
        assert abs(entry["predicted_steps"] - measured) <= 1
    text = _text(run)
    assert f"= {num(estimate)} steps, {entry['predicted_steps']} by the exact recurrence" in text
    assert f"measured: it got there at step {measured}" in text


def test_a_start_on_the_attracting_line_never_escapes():
    run = explain("saddle", ["sgd:lr=0.1"], steps=50, start=(1.0, 0.0))["runs"][0]
    assert run["saddle"]["d0"] == 0.0 and run["saddle"]["measured_steps"] is None
    assert "never leaves it in exact arithmetic" in _text(run)


def test_adaptive_methods_get_the_measured_escape_only():
    run = explain("saddle", ["adam:lr=0.05"], steps=100, start=(1.0, 0.01))["runs"][0]
    assert run["saddle"]["predicted_steps"] is None
    assert "no time to escape" in _text(run)
    assert f"got there at step {run['saddle']['measured_steps']}" in _text(run)


def test_escape_steps_follow_the_recurrence():
    setting = linear_setting("sgd", {"lr": 0.1})
    # x_k = 1.2^k * d0: the first k with 1.2^k >= 100
    assert escape_steps(setting, -2.0, 0.01, 1.0) == math.ceil(math.log(100) / math.log(1.2))
    assert escape_steps(setting, -2.0, 0.0, 1.0) is None
    assert escape_steps(setting, 2.0, 0.01, 1.0) is None  # positive curvature: no growth


def test_no_saddle_near_a_minimum_or_far_from_one():
    assert saddle_near(osc.get_objective("aniso"), np.array([1.0, 1.0])) is None
    assert saddle_near(osc.get_objective("rastrigin"), np.array([-4.3, 3.7])) is None


# ----------------------------------------------------------------------------- typed formulas
ROSENBROCK = "(1-w1)**2 + 100*(w2-w1**2)**2"


def test_with_found_minimum_gives_the_theory_point_once():
    f = osc.get_objective(ROSENBROCK)
    _found.clear()
    g = with_found_minimum(f, (-1.2, 1.0))
    point = theory_report(f, start=(-1.2, 1.0))["point"]
    np.testing.assert_allclose(g.minimizers, [point], rtol=0, atol=0)
    assert g.f_min == float(f.value(np.array([point]))[0])
    assert g.minimum_note == FOUND_NOTE and f.f_min is None and f.minimum_note == ""
    assert len(_found) == 1
    h = with_found_minimum(osc.get_objective(ROSENBROCK), (-1.2, 1.0))  # cached
    assert len(_found) == 1 and h.f_min == g.f_min


def test_with_found_minimum_leaves_known_and_missing_minima_alone():
    aniso = osc.get_objective("aniso")
    assert with_found_minimum(aniso) is aniso
    saddle = osc.get_objective("saddle")
    assert with_found_minimum(saddle) is saddle
    flat = osc.get_objective("w1 + w2")
    assert with_found_minimum(flat) is flat


def test_a_typed_formula_is_explained_with_its_found_minimum():
    data = explain(ROSENBROCK, ["adam:lr=0.05"], steps=500, start=(-1.2, 1.0))
    run = data["runs"][0]
    assert data["minimum_note"] == FOUND_NOTE
    m = run["metrics"]
    assert m["gap_final"] is not None and m["distance_final"] is not None
    assert m["gap_final"] == pytest.approx(run["loss_final"])  # f_min = 0 at (1, 1)
    assert "no known minimum" not in _text(run)


def test_a_run_below_the_found_minimum_is_no_success():
    formula = "(w1**2-1)**2 + w2**2 + 0.3*w1"  # minima near w1 = 0.96 and w1 = -1.04
    data = explain(formula, ["momentum:lr=0.05,momentum=0.9"], steps=200, start=(1.5, 1.0))
    run = data["runs"][0]
    f = with_found_minimum(osc.get_objective(formula), (1.5, 1.0))
    depth = f.f_min - run["loss_final"]
    assert depth > 0.5 and run["where"]["kind"] == "below_found_minimum"
    text = _text(run)
    assert f"{num(depth)} below the minimum found numerically from the start" in text
    assert f"f_min {num(f.f_min)}" in text and "only a local one" in text
    assert "reached a loss gap" not in text and run["theory"] is None


# ----------------------------------------------------------------------------- stops, steps
def test_lbfgs_stopped_early_says_why_and_by_how_much():
    run = explain("rosenbrock", ["lbfgs:tolerance_change=1e-4"], steps=500)["runs"][0]
    m = run["metrics"]
    assert run["stopped_at"] is not None and run["stop_reason"] == "tolerance_change"
    text = _text(run)
    assert f"stopped at step {run['stopped_at']} without reaching" in text
    assert run["stop_text"] in text and f"{num(m['gap_final'])} above the minimum" in text
    assert "converged" not in text and "after 500 steps" not in text


def test_steps_are_the_steps_run():
    run = explain("rosenbrock", ["lbfgs"], steps=500)["runs"][0]
    assert run["steps_run"] == run["stopped_at"] < 500
    assert "500 steps" not in _text(run)


def test_first_reached_and_stayed_below_are_both_said():
    run = explain("iso", ["momentum:lr=0.1,momentum=0.9"], steps=100, tol=1e-2)["runs"][0]
    m = run["metrics"]
    assert m["first_to_tol"] < m["steps_to_tol"]
    assert (
        f"first reached a loss gap of 0.01 at step {m['first_to_tol']} and stayed below it "
        f"from step {m['steps_to_tol']}" in _text(run)
    )


def test_leaving_the_box_is_not_blowing_up():
    run = explain("aniso", ["nesterov:lr=0.1"], steps=100, start=(1.0, 1.0))["runs"][0]
    div = run["divergence"]
    assert div["kind"] == "left_box"
    text = _text(run)
    assert f"left the box |w| <= {num(div['radius'])} at step {div['step']}" in text
    assert "blew up" not in text


def test_outcome_sentence_without_the_new_fields_still_works():
    m = {
        "diverged_at": None,
        "steps_to_tol": 12,
        "loss_final": 1e-9,
        "distance_final": 1e-5,
        "gap_final": 1e-9,
    }
    assert outcome_sentence("sgd", m, 50, 1e-6) == (
        "sgd reached a loss gap of 1e-06 at step 12; it ended at loss 1e-09 after 50 steps."
    )


def test_no_rate_sentence_without_a_rate():
    run = explain("rastrigin", ["sgd:lr=0.001"], steps=100)["runs"][0]
    m = run["metrics"]
    assert m["rate"] is None and "Measured rate" not in _text(run)
    assert m.get("rate_note") == "stalled" and "No measured rate" in _text(run)


def test_results_given_are_judged_against_the_found_minimum():
    from optiscope.experiments import run_specs

    f = osc.get_objective(ROSENBROCK)
    results = run_specs(f, ["sgd:lr=0.001"], steps=50, start=(-1.2, 1.0))
    data = explain(f, ["sgd:lr=0.001"], steps=50, start=(-1.2, 1.0), results=results)
    assert data["runs"][0]["metrics"]["gap_final"] is not None
    assert f.f_min is None  # the caller's objective is not modified
    assert results[0].trajectories.objective is f


def test_no_steps_from_the_start_when_it_is_near_a_saddle():
    run = explain("w1**2 - w2**2 + w2**4/4", ["sgd:lr=0.1"], steps=100, start=(1.0, 0.01))
    run = run["runs"][0]
    text = _text(run)
    assert run["saddle"] is not None and run["theory"]["predicted_steps_to_tol"] is not None
    assert "needs about" not in text and "not predicted from a start near a saddle" in text
