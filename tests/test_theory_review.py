"""Review fixes of the theory: text hyperparameters, degenerate vs ill-conditioned minima,
rounding at kappa = 1, no warnings on tiny scales, one number format and one tol check."""

import json
import math
import warnings

import numpy as np
import pytest

import optiscope as osc
from optiscope import tables
from optiscope.cli import main
from optiscope.errors import OptiscopeError
from optiscope.theory import (
    KAPPA_MAX,
    check_tol,
    gd_optimal,
    heavy_ball_optimal,
    local_model,
    nesterov_optimal,
    theory_report,
    theory_text,
)

NO_PREDICTION = ("predicted_rate", "stable", "oscillates", "predicted_steps_to_tol")


# ----------------------------------------------------------------------------- 1. text values
@pytest.mark.parametrize(
    "spec,key,text",
    [
        ("lbfgs", "line_search", "none"),
        ("lbfgs:line_search=strong_wolfe", "line_search", "strong_wolfe"),
        ("sgd:lr=0.1,momentum_form=seed", "momentum_form", "seed"),
        ("momentum:lr=0.1,schedule=step,step_size=10", "schedule", "step"),
        ("adam:lr=0.1,schedule=cosine,T_max=50", "schedule", "cosine"),
    ],
)
def test_text_valued_hyperparameters_are_kept_and_do_not_crash(spec, key, text):
    r = theory_report("aniso", [spec])
    run = r["runs"][0]
    assert run["params"][key] == text
    assert all(isinstance(v, bool | str | float) for v in run["params"].values())
    json.dumps(r, allow_nan=False)
    lines = theory_text(r)
    assert any(line.startswith(f"{spec} -> ") for line in lines)


def test_cli_theory_and_explain_accept_text_values(capsys):
    specs = ["lbfgs:line_search=strong_wolfe", "momentum:lr=0.1,schedule=step,step_size=10"]
    assert main(["theory", "aniso", *specs]) == 0
    assert main(["explain", "aniso", "lbfgs", "adam:lr=0.1,schedule=cosine,T_max=50"]) == 0
    out = capsys.readouterr()
    assert "Traceback" not in out.err and "no fixed linear rate" in out.out


def test_lbfgs_has_no_linear_rate():
    run = theory_report("aniso", ["lbfgs"])["runs"][0]
    assert run["method"] == "quasi_newton"
    for key in (*NO_PREDICTION, "stable_lr_max", "zigzag"):
        assert run[key] is None
    assert run["per_direction"] == [] and "curvature model" in run["reason"]


def test_ftrl_is_adaptive_like_adagrad():
    run = theory_report("aniso", ["ftrl"])["runs"][0]
    assert run["method"] == "adaptive"
    for key in NO_PREDICTION:
        assert run[key] is None
    assert "no linear rate" in run["reason"]
    assert any("like Adagrad" in n for n in run["notes"])


@pytest.mark.parametrize(
    "spec,method",
    [
        ("momentum:lr=0.1,schedule=step,step_size=10", "heavy_ball"),
        ("sgd:lr=0.1,schedule=exponential,gamma=0.9", "gd"),
        ("sgd:lr=0.1,momentum=0.5,momentum_form=seed,schedule=step,step_size=5", "heavy_ball"),
        ("nesterov:lr=0.05,schedule=cosine,T_max=50", "nesterov"),
    ],
)
def test_a_schedule_gets_no_linear_prediction(spec, method):
    run = theory_report("aniso", [spec])["runs"][0]
    assert run["method"] == method
    for key in (*NO_PREDICTION, "stable_lr_max"):
        assert run[key] is None
    assert "constant lr" in run["reason"] and "schedule=" in run["reason"]
    assert any("stable for lr <" in n for n in run["notes"])


def test_constant_schedule_and_seed_form_keep_the_prediction():
    base = "sgd:lr=0.1,momentum=0.5"
    r = theory_report("aniso", [base, base + ",schedule=constant", base + ",momentum_form=seed"])
    torch_form, constant, seed = r["runs"]
    for key in ("method", "predicted_rate", "stable", "predicted_steps_to_tol", "per_direction"):
        assert constant[key] == torch_form[key] and seed[key] == torch_form[key]
    assert any("momentum_form=seed" in n for n in seed["notes"])
    # and the seed form's run meets the tolerance when the theory says
    optimizer, params = osc.get_optimizer(base + ",momentum_form=seed")
    steps = seed["predicted_steps_to_tol"]
    traj = osc.run(osc.get_objective("aniso"), optimizer, [params], steps=steps + 20)
    gap = traj.losses[:, 0]
    assert (gap[steps:] <= r["tol"]).all() and gap[steps - 1] > r["tol"]


def test_a_schedule_drops_the_constant_lr_band():
    spec = "rmsprop:lr=0.1,alpha=0.1,eps=1e-10"
    constant, scheduled = theory_report("aniso", [spec, spec + ",schedule=exponential,gamma=0.9"])[
        "runs"
    ]
    assert constant["band_half_width"] == pytest.approx(0.05)
    assert scheduled["band_half_width"] is None
    assert not any("a fixed lr cannot converge" in n for n in scheduled["notes"])
    assert any("schedule=exponential" in n for n in scheduled["notes"])


# ----------------------------------------------------------------------------- 2. degenerate
@pytest.mark.parametrize(
    "formula", ["w1**4+w2**4", "w1**4+w2**2", "cosh(w1)+w2**4", "(w1-1)**4+(w2+2)**4"]
)
def test_degenerate_minima_are_refused(formula):
    with pytest.raises(OptiscopeError, match="degenerate minimum"):
        theory_report(formula, ["sgd:lr=0.1"])


def test_degenerate_minimum_refused_on_the_cli(capsys):
    assert main(["theory", "w1**4+w2**4", "sgd:lr=0.1"]) == 2
    err = capsys.readouterr().err
    assert "degenerate minimum" in err and "best lr" not in err


@pytest.mark.parametrize("angle", [0.0, 30.0])
def test_ill_conditioned_quadratic_is_accepted(angle):
    r = theory_report(f"quadratic:kappa=2e10,angle={angle}", ["sgd:lr=1e-11"])
    np.testing.assert_allclose(r["eigenvalues"], [2.0, 4e10], rtol=1e-4)
    assert r["kappa"] == pytest.approx(2e10, rel=1e-4)
    assert r["runs"][0]["stable"] is True


def test_ill_conditioned_minimum_found_by_the_search_is_accepted():
    r = theory_report("(w1-1)**2+1e-10*w2**2")
    np.testing.assert_allclose(r["eigenvalues"], [2e-10, 2.0], rtol=1e-9)
    np.testing.assert_allclose(r["point"], [1.0, 0.0], atol=1e-9)


def test_strict_minimum_with_quartic_terms_is_accepted():
    r = theory_report("w1**4+w2**4+0.01*(w1**2+w2**2)")
    np.testing.assert_allclose(r["eigenvalues"], [0.02, 0.02], rtol=1e-9)


def test_beyond_float64_resolution_is_too_ill_conditioned():
    assert KAPPA_MAX < 2e14
    with pytest.raises(OptiscopeError, match="too ill-conditioned for float64"):
        theory_report("quadratic:kappa=2e14,angle=30")


@pytest.mark.parametrize(
    "function",
    [
        "rosenbrock",
        "beale",
        "himmelblau",
        "booth",
        "matyas",
        "six_hump_camel",
        "styblinski_tang",
        "goldstein_price",
        "rastrigin",
        "(1-w1)**2+100*(w2-w1**2)**2",
    ],
)
def test_catalogue_minima_are_still_accepted(function):
    objective = osc.get_objective(function)
    model = local_model(objective)
    np.testing.assert_allclose(model.hessian, objective.hessian(model.point[None])[0])
    assert 0.0 < model.mu <= model.L and model.kappa < 1e4
    if objective.minimizers is not None and len(objective.minimizers):
        assert any(np.allclose(model.point, m) for m in np.reshape(objective.minimizers, (-1, 2)))


# ----------------------------------------------------------------------------- 3. rounding
def test_kappa_one_gives_zero_not_negative_rounding():
    mu = L = 396.78417604357435  # rastrigin's: 3*L/mu rounds to 2.9999999999999996
    for tuned in (gd_optimal(mu, L), heavy_ball_optimal(mu, L), nesterov_optimal(mu, L)):
        assert tuned["rate"] == 0.0
        assert tuned.get("optimal_momentum", 0.0) == 0.0
    r = theory_report("rastrigin")
    assert r["nesterov"]["optimal_momentum"] == 0.0 and r["nesterov"]["rate"] == 0.0
    text = "\n".join(theory_text(r))
    assert "e-16" not in text and "e-17" not in text
    assert "momentum 0 give rate 0 (1 - 2/sqrt" in text


def test_tuned_values_are_never_negative():
    rng = np.random.default_rng(1)
    for lam in rng.uniform(1e-3, 1e3, 500):
        for tuned in (
            gd_optimal(lam, lam),
            heavy_ball_optimal(lam, lam),
            nesterov_optimal(lam, lam),
        ):
            assert tuned["rate"] >= 0.0 and tuned.get("optimal_momentum", 0.0) >= 0.0


# ----------------------------------------------------------------------------- 4. warnings
def test_tiny_scale_gives_the_right_minimizer_and_no_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        r = theory_report("1e-300*(w1**2+w2**2)", ["sgd:lr=1e299"])
    np.testing.assert_allclose(r["point"], [0.0, 0.0], atol=1e-12)  # not the start (-1.5, 1.5)
    np.testing.assert_allclose(r["eigenvalues"], [2e-300, 2e-300], rtol=1e-12)
    assert r["runs"][0]["predicted_rate"] == pytest.approx(0.8)
    json.dumps(r, allow_nan=False)


def test_subnormal_curvature_is_a_clear_error():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(OptiscopeError, match="below float64's normal range"):
            theory_report("1e-310*(w1**2+w2**2)")


def test_cli_prints_no_warning_for_a_tiny_scale(capfd):
    assert main(["theory", "1e-300*(w1**2+w2**2)"]) == 0
    out, err = capfd.readouterr()
    assert "Warning" not in err and "Warning" not in out
    assert "model at (-1.5, 1.5)" not in out and "mu = 2e-300" in out


# ----------------------------------------------------------------------------- 5. one format
def test_theory_uses_the_project_number_format():
    from optiscope.theory import adaptive, formatting, minimizer, model, predict, report, text

    assert not hasattr(formatting, "_g")
    for module in (adaptive, formatting, minimizer, model, predict, report, text):
        assert module.num is tables.num


def test_theory_text_is_unchanged():
    lines = theory_text(theory_report("aniso", ["momentum:lr=0.1,momentum=0.99"]))
    assert lines[1] == "Hessian eigenvalues mu = 2, L = 16; condition number kappa = 8"
    assert lines[3] == (
        "GD: stable for lr < 0.125 (2/L); best lr 0.1111 (2/(L+mu)) gives rate 0.7778 per step "
        "((kappa-1)/(kappa+1))"
    )
    assert lines[-1] == (
        "momentum:lr=0.1,momentum=0.99 -> heavy ball: stable (stability limit lr < 0.2487), "
        "rate 0.995 per step; oscillates along lambda = 2 (complex roots, |s| = 0.995, period "
        "13.9 steps); oscillates along lambda = 16 (complex roots, |s| = 0.995, period 4.574 "
        "steps); loss gap <= 1e-06 after 1629 steps"
    )


@pytest.mark.parametrize("bad", [0, 0.0, -1e-3, math.nan, math.inf, "1e-6", None])
def test_check_tol_is_public_with_one_message(bad):
    with pytest.raises(OptiscopeError, match=r"^invalid tol: .* \(must be a positive number\)$"):
        check_tol(bad)
    assert check_tol(1e-3) == 1e-3 and isinstance(check_tol(1), float)
    with pytest.raises(OptiscopeError, match=r"invalid tol: 0 \(must be a positive number\)"):
        theory_report("aniso", tol=0)
