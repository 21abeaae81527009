"""Theory as oracle: closed forms on quadratics against batched engine runs, and its claims.

Every engine run here is one batched call over a grid of settings (rows), never a loop of
runs over settings.
"""

import json
import math

import numpy as np
import pytest

import optiscope as osc
from optiscope.errors import OptiscopeError
from optiscope.objectives.base import Objective
from optiscope.theory import (
    LinearSetting,
    direction,
    heavy_ball_optimal,
    linear_setting,
    local_model,
    nesterov_optimal,
    predicted_path,
    predicted_rate,
    predicted_steps_to_tol,
    stable_lr_max,
    theory_report,
    theory_text,
)

SQ8 = math.sqrt(8.0)


def _sgd_rows(rows):
    """Complete torch.optim.SGD settings from (lr, momentum, nesterov[, dampening, wd]) rows."""
    _, base = osc.get_optimizer("sgd")
    out = []
    for lr, beta, nesterov, *rest in rows:
        damp, wd = (rest + [0.0, 0.0])[:2]
        out.append(
            {**base, "lr": lr, "momentum": beta, "nesterov": nesterov, "dampening": damp}
            | {"weight_decay": wd}
        )
    return out


def _method(beta, nesterov):
    return "gd" if beta == 0 else ("nesterov" if nesterov else "heavy_ball")


def _measured_rates(dist: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per row of ``dist`` ``[S+1, B]``: the empirical linear rate and the decades it spans.

    Window: the second half of the steps before the distance falls below 1e-250. The
    distance is replaced by its tail maximum (the envelope, robust to oscillation), and the
    rate is exp of the least-squares slope of its log.
    """
    rates, decades = [], []
    for d in dist.T:
        ok = np.flatnonzero((d > 1e-250) & np.isfinite(d))
        end = int(ok[-1])
        if end < 8:  # (nearly) exact in a few steps: nothing to fit
            rates.append(0.0)
            decades.append(0.0)
            continue
        k = np.arange(end // 2, end + 1)
        tail = np.maximum.accumulate(d[k][::-1])[::-1]
        slope = np.polyfit(k, np.log(tail), 1)[0]
        rates.append(math.exp(slope))
        decades.append(math.log10(tail[0] / tail[-1]))
    return np.array(rates), np.array(decades)


# ----------------------------------------------------------------------------- closed forms
def test_closed_forms_on_aniso():
    r = theory_report("aniso")
    mu, L = 2.0, 16.0
    np.testing.assert_allclose(r["eigenvalues"], [mu, L], rtol=1e-15)
    assert r["kappa"] == pytest.approx(8.0, rel=1e-15)
    assert r["gd"]["optimal_lr"] == pytest.approx(1 / 9, rel=1e-15)
    assert r["gd"]["rate"] == pytest.approx(7 / 9, rel=1e-15)
    assert r["gd"]["stable_lr_max"] == pytest.approx(1 / 8, rel=1e-15)
    assert r["momentum"]["optimal_lr"] == pytest.approx(
        4 / (math.sqrt(L) + math.sqrt(mu)) ** 2, rel=1e-15
    )
    assert r["momentum"]["optimal_momentum"] == pytest.approx(((SQ8 - 1) / (SQ8 + 1)) ** 2)
    assert r["momentum"]["rate"] == pytest.approx((SQ8 - 1) / (SQ8 + 1), rel=1e-15)
    assert r["nesterov"]["optimal_lr"] == pytest.approx(4 / (3 * L + mu), rel=1e-15)
    assert r["nesterov"]["rate"] == pytest.approx(1 - 2 / math.sqrt(25), rel=1e-15)
    assert r["valley_angle_deg"] == 0.0 and r["axis_aligned"] is True
    assert r["quadratic"] is True and r["point"] == [0.0, 0.0]
    json.dumps(r, allow_nan=False)  # JSON-ready, no NaN/inf


def _rate_grid(mu, L, lr, beta, method):
    """Largest characteristic-root modulus on a grid, computed here independently (numpy)."""
    worst = np.zeros(np.broadcast(lr, beta).shape)
    for lam in (mu, L):
        h = lr * lam
        if method == "heavy_ball":
            p, q = 1 + beta - h, beta + 0 * h
        else:
            p, q = (1 + beta) * (1 - h), beta * (1 - h)
        root = np.sqrt((0.25 * p * p - q).astype(complex))
        worst = np.maximum(worst, np.maximum(abs(0.5 * p + root), abs(0.5 * p - root)))
    return worst


def _grid_minimum(mu, L, method):
    """min over (lr, momentum) of the worst root modulus, by repeated grid refinement."""
    lr_lo, lr_hi, b_lo, b_hi = 0.0, 4.0 / L, 0.0, 0.999
    best = (math.inf, 0.0, 0.0)
    for _ in range(14):
        lr, beta = np.meshgrid(np.linspace(lr_lo, lr_hi, 161), np.linspace(b_lo, b_hi, 161))
        rate = _rate_grid(mu, L, lr, beta, method)
        i = np.unravel_index(np.argmin(rate), rate.shape)
        best = min(best, (float(rate[i]), float(lr[i]), float(beta[i])))
        _, lr_c, b_c = best
        dl, db = (lr_hi - lr_lo) / 8, (b_hi - b_lo) / 8
        lr_lo, lr_hi = max(lr_c - dl, 0.0), lr_c + dl
        b_lo, b_hi = max(b_c - db, 0.0), min(b_c + db, 0.999999)
    return best


@pytest.mark.parametrize("kappa", [2.0, 8.0, 100.0, 1000.0])
def test_momentum_and_nesterov_tunings_are_the_optimum_of_the_root_modulus(kappa):
    mu, L = 2.0, 2.0 * kappa
    for method, tuned in (
        ("heavy_ball", heavy_ball_optimal(mu, L)),
        ("nesterov", nesterov_optimal(mu, L)),
    ):
        setting = LinearSetting(method, tuned["optimal_lr"], tuned["optimal_momentum"])
        # the reported rate is the largest root modulus of the polynomial at that setting
        modulus = _rate_grid(mu, L, np.array(setting.lr), np.array(setting.momentum), method)
        assert tuned["rate"] == pytest.approx(float(modulus), rel=1e-7, abs=1e-9)
        assert predicted_rate(setting, [mu, L]) == pytest.approx(tuned["rate"], rel=1e-7)
        # and no other (lr, momentum) does better
        best, lr, beta = _grid_minimum(mu, L, method)
        assert best >= tuned["rate"] * (1 - 1e-7), (method, best, lr, beta, tuned)
        assert best <= tuned["rate"] * (1 + 1e-5), (method, best, tuned)


def test_characteristic_roots_match_numpy():
    rng = np.random.default_rng(0)
    for _ in range(300):
        method = ["gd", "heavy_ball", "nesterov"][rng.integers(3)]
        lam, lr, beta = rng.uniform(0.1, 10), rng.uniform(0.0, 0.5), rng.uniform(0.0, 0.99)
        beta = 0.0 if method == "gd" else beta
        d = direction(LinearSetting(method, lr, beta), lam)
        h = lr * lam
        if method == "nesterov":
            poly = [1, -(1 + beta) * (1 - h), beta * (1 - h)]
        else:
            poly = [1, -(1 + beta - h), beta]
        expected = np.abs(np.roots(poly)).max()
        assert d["rate"] == pytest.approx(expected, rel=1e-6, abs=1e-12)
        complex_roots = np.iscomplex(np.roots(poly)).any()
        if not d["repeated"]:
            assert d["oscillates"] == bool(complex_roots)
        if method == "gd":
            assert d["zigzag"] == (h > 1)


def test_heavy_ball_optimum_is_critically_damped_and_flagged():
    r = theory_report(
        "aniso",
        [f"momentum:lr={4 / (4 + math.sqrt(2)) ** 2!r},momentum={((SQ8 - 1) / (SQ8 + 1)) ** 2!r}"],
    )
    run = r["runs"][0]
    assert all(d["repeated"] for d in run["per_direction"])
    assert run["predicted_rate"] == pytest.approx(r["momentum"]["rate"], rel=1e-6)
    assert any("k*rate^k" in n for n in run["notes"])


# ----------------------------------------------------------------------------- rates vs engine
def _grid_rows(L):
    """(lr, momentum, nesterov) rows: fractions of each method's stability bound."""
    rows = []
    for frac in (0.1, 0.3, 0.6, 0.9, 0.97):
        rows.append((frac * 2 / L, 0.0, False))
    for beta in (0.3, 0.6, 0.9):
        for frac in (0.1, 0.4, 0.7, 0.95):
            rows.append((frac * (2 + 2 * beta) / L, beta, False))
            rows.append((frac * (2 + 2 * beta) / ((1 + 2 * beta) * L), beta, True))
    return rows


@pytest.mark.parametrize(
    "function",
    [
        "iso",
        "quadratic:kappa=10,angle=0",
        "quadratic:kappa=10,angle=30",
        "quadratic:kappa=100,angle=30",
        "quadratic:kappa=100,angle=75",
        "quadratic:kappa=1000,angle=60",
    ],
)
def test_measured_rates_match_predicted(function):
    objective = osc.get_objective(function)
    model = local_model(objective)
    rows = _grid_rows(model.L)
    gd, hb = osc.get_optimizer("sgd")[0], heavy_ball_optimal(model.mu, model.L)
    rows.append((gd_lr := 2 / (model.L + model.mu), 0.0, False))  # optimal GD
    rows.append((nesterov_optimal(model.mu, model.L)["optimal_lr"], 0.0, False))
    rows.append((hb["optimal_lr"] * 0.9, hb["optimal_momentum"], False))
    steps = 6000 if model.kappa > 100 else 2500
    traj = osc.run(objective, gd, _sgd_rows(rows), steps=steps)
    assert (traj.diverged_at == -1).all()
    dist = np.linalg.norm(traj.positions - model.point, axis=2)  # [S+1, B]
    measured, decades = _measured_rates(dist)
    predicted = np.array(
        [
            predicted_rate(LinearSetting(_method(b, n), lr, b), model.eigenvalues)
            for lr, b, n in rows
        ]
    )
    assert gd_lr > 0
    keep = predicted > 0.05  # rate ~0 (one-step convergence) cannot be measured
    np.testing.assert_allclose(measured[keep], predicted[keep], rtol=0.02)
    # where the window spans many decades the exponent itself must agree closely
    deep = keep & (decades > 2)
    assert deep.sum() >= 10
    np.testing.assert_allclose(
        np.log(measured[deep]), np.log(predicted[deep]), rtol=0.02, atol=1e-4
    )


@pytest.mark.parametrize(
    "function", ["quadratic:kappa=10,angle=20", "quadratic:kappa=100,angle=50"]
)
def test_stability_boundary(function):
    objective = osc.get_objective(function)
    model = local_model(objective)
    rows, kinds = [], []
    for method, beta in [
        ("gd", 0.0),
        ("heavy_ball", 0.3),
        ("heavy_ball", 0.9),
        ("nesterov", 0.3),
        ("nesterov", 0.6),
        ("nesterov", 0.9),
    ]:
        bound = stable_lr_max(LinearSetting(method, 1.0, beta), model.L)
        for factor in (0.98, 1.02):
            rows.append((bound * factor, beta, method == "nesterov"))
            kinds.append(factor < 1)
            setting = LinearSetting(method, bound * factor, beta)
            assert (predicted_rate(setting, model.eigenvalues) < 1) == (factor < 1)
    traj = osc.run(objective, osc.get_optimizer("sgd")[0], _sgd_rows(rows), steps=1500)
    dist = np.linalg.norm(traj.positions - model.point, axis=2)
    converges = (traj.diverged_at == -1) & (dist[-1] < 1e-3 * dist[0])
    diverges = (traj.diverged_at >= 0) | (dist[-1] > 1e3 * dist[0])
    assert converges.tolist() == kinds
    assert diverges.tolist() == [not k for k in kinds]


@pytest.mark.parametrize("function", ["quadratic:kappa=30,angle=40", "booth"])
def test_closed_form_path_equals_the_engine(function):
    """The closed-form iterates (first step, dampening, weight decay, Nesterov) are the run's."""
    objective = osc.get_objective(function)
    model = local_model(objective)
    L = model.L
    rows = [
        (1.5 / L, 0.0, False),
        (0.7 / L, 0.0, False, 0.0, 0.5),  # weight decay: booth's fixed point moves
        (1.0 / L, 0.6, False),
        (2.5 / L, 0.5, False, 0.4),  # dampening 0.4
        (0.9 / L, 0.7, False, 0.2, 0.1),
        (0.6 / L, 0.8, True),
        (1.2 / L, 0.3, True, 0.0, 0.3),
    ]
    settings = _sgd_rows(rows)
    traj = osc.run(objective, osc.get_optimizer("sgd")[0], settings, steps=60)
    for b, s in enumerate(settings):
        path = predicted_path(model, linear_setting("sgd", s), 60)  # [61, 2]
        np.testing.assert_allclose(traj.positions[:, b], path, rtol=0, atol=1e-10, err_msg=str(s))


# ----------------------------------------------------------------------------- steps to tol
def _first_step_below(gap: np.ndarray, tol: float) -> np.ndarray:
    """Per row of ``gap`` ``[S+1, B]``: the first step after which it stays <= tol."""
    above = gap > tol
    last = np.where(above.any(axis=0), above.shape[0] - 1 - np.argmax(above[::-1], axis=0), -1)
    return last + 1


@pytest.mark.parametrize(
    "function,start",
    [("aniso", None), ("quadratic:kappa=50,angle=20", (0.3, -1.7)), ("matyas", None)],
)
def test_predicted_steps_to_tol_match_the_run(function, start):
    objective = osc.get_objective(function)
    model = local_model(objective)
    L = model.L
    rows = [
        (0.5 / L, 0.0, False),
        (1.9 / L, 0.0, False),
        (1.0 / L, 0.5, False),
        (0.3 / L, 0.9, False),
        (1.2 / L, 0.5, False, 0.3),  # dampening: the first step differs from the rest
        (0.8 / L, 0.0, False, 0.0, 0.05 * model.mu),  # weight decay (minimizer at 0)
        (0.5 / L, 0.8, True),
        (1.1 / L, 0.3, True),
    ]
    settings = _sgd_rows(rows)
    tol = 1e-8
    predicted = []
    for s in settings:
        setting = linear_setting("sgd", s)
        predicted.append(predicted_steps_to_tol(model, setting, start, tol=tol))
    steps = max(predicted) + 50
    traj = osc.run(objective, osc.get_optimizer("sgd")[0], settings, steps=steps, start=start)
    measured = _first_step_below(traj.losses - objective.f_min, tol)
    assert measured.min() > 5  # the tolerance is not met at the start
    np.testing.assert_allclose(predicted, measured, atol=1, rtol=0)  # exact up to rounding


def test_steps_to_tol_near_a_non_quadratic_minimizer():
    objective = osc.get_objective("rosenbrock")
    model = local_model(objective)
    assert not model.quadratic
    start = model.point + 1e-3 * model.eigenvectors @ np.array([1.0, 1.0])
    rows = [(1.0 / model.L, 0.0, False), (1.5 / model.L, 0.9, False)]
    settings = _sgd_rows(rows)
    predicted = [
        predicted_steps_to_tol(model, linear_setting("sgd", s), start, tol=1e-14) for s in settings
    ]
    traj = osc.run(
        objective, osc.get_optimizer("sgd")[0], settings, steps=max(predicted) * 2, start=start
    )
    measured = _first_step_below(traj.losses - objective.f_min, 1e-14)
    np.testing.assert_allclose(predicted, measured, rtol=0.05)


def test_unstable_and_adaptive_runs_give_none_with_a_reason():
    r = theory_report("aniso", ["sgd:lr=0.2", "adam:lr=0.1"])
    unstable, adam = r["runs"]
    assert unstable["stable"] is False and unstable["predicted_steps_to_tol"] is None
    assert "unstable" in unstable["reason"]
    assert adam["method"] == "adaptive"
    for key in ("predicted_rate", "oscillates", "stable", "predicted_steps_to_tol"):
        assert adam[key] is None
    assert "no linear rate" in adam["reason"]


# ----------------------------------------------------------------------------- geometry, notes
@pytest.mark.parametrize("angle", [0.0, 30.0, 75.0, 90.0, 120.0, -45.0, 200.0])
def test_valley_angle_is_the_rotation_parameter(angle):
    r = theory_report(f"quadratic:kappa=10,angle={angle}")
    assert r["valley_angle_deg"] == pytest.approx(angle % 180.0, abs=1e-9)
    m = angle % 90.0
    assert r["misalignment_deg"] == pytest.approx(min(m, 90 - m), abs=1e-9)
    assert r["axis_aligned"] == (angle % 90.0 == 0.0)
    np.testing.assert_allclose(r["eigenvalues"], [2.0, 20.0], rtol=1e-12)


def test_adaptive_note_axis_alignment():
    rotated = theory_report("quadratic:kappa=10,angle=30", ["rmsprop"])
    assert rotated["axis_aligned"] is False
    assert "rotated" in rotated["adaptive_note"] and "30 deg" in rotated["adaptive_note"]
    assert 1.0 < rotated["best_diagonal_kappa"] < 10.0
    aligned = theory_report("aniso", ["adam"])
    assert aligned["axis_aligned"] is True and "axis-aligned" in aligned["adaptive_note"]
    assert aligned["best_diagonal_kappa"] == pytest.approx(1.0)
    assert aligned["runs"][0]["notes"][0] == aligned["adaptive_note"]


def test_sign_descent_flag_and_the_band_it_predicts():
    specs = ["rmsprop:lr=0.1,alpha=0.1,eps=1e-10", "rmsprop:lr=0.1,alpha=0.99,eps=1e-10"]
    r = theory_report("aniso", specs)
    small, large = r["runs"]
    assert small["sign_descent"] is True and large["sign_descent"] is False
    assert any("sign-descent" in n for n in small["notes"])
    assert not any("sign-descent" in n for n in large["notes"])
    # both end in the 2-cycle at +-lr/2 that the band note predicts
    objective = osc.get_objective("aniso")
    optimizer = osc.get_optimizer(specs[0])[0]
    settings = [osc.get_optimizer(s)[1] for s in specs]
    traj = osc.run(objective, optimizer, settings, steps=4000)
    tail = np.abs(traj.positions[-20:])  # [20, 2, 2]
    for b, run in enumerate((small, large)):
        np.testing.assert_allclose(tail[:, b], run["band_half_width"], rtol=0.01)


def test_weight_decay_and_dampening_are_mapped():
    s = linear_setting(
        "sgd", osc.get_optimizer("sgd:lr=0.1,momentum=0.5,dampening=0.4,weight_decay=0.2")[1]
    )
    assert (s.method, s.effective_lr, s.weight_decay) == ("heavy_ball", pytest.approx(0.06), 0.2)
    assert linear_setting("nesterov", osc.get_optimizer("nesterov:lr=0.1")[1]).method == "nesterov"
    assert linear_setting("momentum", osc.get_optimizer("momentum:momentum=0")[1]).method == "gd"
    assert linear_setting("adam", osc.get_optimizer("adam")[1]) is None
    r = theory_report("aniso", ["sgd:lr=0.1,weight_decay=1"])
    run = r["runs"][0]
    assert [d["factor"] for d in run["per_direction"]] == pytest.approx([1 - 0.1 * 3, 1 - 0.1 * 17])
    assert any("H + 1*I" in n for n in run["notes"])


# ----------------------------------------------------------------------------- errors, text
def test_functions_without_a_minimum_or_hessian_say_so():
    with pytest.raises(OptiscopeError, match=r"saddle has no minimum.*negative eigenvalue \(-2\)"):
        theory_report("saddle")
    with pytest.raises(OptiscopeError, match="singular"):
        theory_report("monkey_saddle")
    with pytest.raises(OptiscopeError, match="not finite"):
        theory_report("ackley")
    flat = Objective(
        name="no-hessian",
        formula="w1^2",
        value_fn=lambda x: x[:, 0] ** 2,
        grad_fn=lambda x: np.stack([2 * x[:, 0], 0 * x[:, 0]], -1),
    )
    with pytest.raises(OptiscopeError, match="no Hessian"):
        local_model(flat)
    with pytest.raises(OptiscopeError, match="unknown optimizer"):
        theory_report("aniso", ["nosuch:lr=1"])
    with pytest.raises(OptiscopeError, match="invalid tol"):
        theory_report("aniso", tol=0.0)


def _typed(name, f, g, h, start):
    """An Objective like a typed-in formula: Hessian known, no minimizers."""

    def hess(x):
        a, b, c = np.broadcast_arrays(*h(x[:, 0], x[:, 1]))
        return np.stack([np.stack([a, b], -1), np.stack([b, c], -1)], -2).astype(float)

    return Objective(
        name=name,
        formula=name,
        value_fn=lambda x: f(x[:, 0], x[:, 1]),
        grad_fn=lambda x: np.stack(np.broadcast_arrays(*g(x[:, 0], x[:, 1])), -1).astype(float),
        hessian_fn=hess,
        start=start,
    )


def test_minimizer_search_for_functions_without_known_minimizers():
    rosen = _typed(
        "rosen",
        lambda a, b: (1 - a) ** 2 + 100 * (b - a * a) ** 2,
        lambda a, b: (-2 * (1 - a) - 400 * a * (b - a * a), 200 * (b - a * a)),
        lambda a, b: (2 - 400 * b + 1200 * a * a, -400 * a, 200 + 0 * a),
        (-1.2, 1.0),
    )
    m = local_model(rosen)
    np.testing.assert_allclose(m.point, [1.0, 1.0], atol=1e-12)
    assert "Newton" in m.source and not m.quadratic
    maximum = _typed(
        "bump",
        lambda a, b: -(a * a + b * b),
        lambda a, b: (-2 * a, -2 * b),
        lambda a, b: (-2 + 0 * a, 0 * a, -2 + 0 * a),
        (1.0, 1.0),
    )
    with pytest.raises(OptiscopeError, match="maximum"):
        local_model(maximum)
    quartic = _typed(
        "quartic",
        lambda a, b: a**4 + b * b,
        lambda a, b: (4 * a**3, 2 * b),
        lambda a, b: (12 * a * a, 0 * a, 2 + 0 * a),
        (1.0, 1.0),
    )
    with pytest.raises(OptiscopeError, match="degenerate|singular"):
        local_model(quartic)
    tilted = _typed(
        "tilted",
        lambda a, b: a + b * b,
        lambda a, b: (1 + 0 * a, 2 * b),
        lambda a, b: (0 * a, 0 * a, 2 + 0 * a),
        (1.0, 1.0),
    )
    with pytest.raises(OptiscopeError, match="no minimizer found near the start"):
        local_model(tilted)


def test_typed_in_formula():
    r = theory_report("(w1 - 1)**2 + 10*(w2 + 2)**2", ["sgd:lr=0.01"])
    np.testing.assert_allclose(r["point"], [1.0, -2.0], atol=1e-10)
    np.testing.assert_allclose(r["eigenvalues"], [2.0, 20.0], rtol=1e-10)
    with pytest.raises(OptiscopeError, match="negative eigenvalue"):
        theory_report("w1**2 - w2**2")


def test_text_takes_its_numbers_from_the_report():
    r = theory_report(
        "quadratic:kappa=10,angle=30",
        ["momentum:lr=0.05,momentum=0.5", "sgd:lr=1", "rmsprop:alpha=0.1"],
    )
    lines = theory_text(r)
    text = "\n".join(lines)
    for value in (r["kappa"], r["gd"]["optimal_lr"], r["momentum"]["rate"], r["nesterov"]["rate"]):
        assert f"{value:.4g}" in text
    assert str(r["runs"][0]["predicted_steps_to_tol"]) in text
    assert "UNSTABLE" in text and "sign-descent" in text
    r["gd"]["optimal_lr"] = 0.123456
    assert "0.1235" in "\n".join(theory_text(r))
