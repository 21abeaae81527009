"""The theory report: everything the theory says about a function and optimizer specs, as JSON."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from optiscope.objectives.base import Objective
from optiscope.tables import num
from optiscope.theory.adaptive import _adaptive_note, _adaptive_run, _no_prediction, schedule_of
from optiscope.theory.formatting import _json_float
from optiscope.theory.linear import LinearSetting, direction, linear_setting, stable_lr_max
from optiscope.theory.model import LocalQuadratic, local_model
from optiscope.theory.optimal import gd_optimal, heavy_ball_optimal, nesterov_optimal
from optiscope.theory.predict import _steps_to_tol, check_tol

EPS = float(np.finfo(np.float64).eps)  # 2.2e-16: the spacing of float64 numbers at 1
LBFGS_REASON = (
    "L-BFGS builds its own curvature model from gradient differences (and line searches), so "
    "its step is not a fixed linear map of the error: no fixed linear rate"
)


def theory_report(
    objective: Objective | str,
    specs: Sequence[str] = (),
    start: Sequence[float] | None = None,
    tol: float = 1e-6,
) -> dict[str, Any]:
    """Everything the theory says about ``objective`` and each optimizer spec, JSON-ready.

    Keys: ``function``, ``point``, ``value``, ``source``, ``quadratic``, ``start``, ``tol``,
    ``eigenvalues`` (ascending), ``eigenvectors`` (``eigenvectors[i]`` the unit vector of
    ``eigenvalues[i]``), ``mu``, ``L``, ``kappa``, ``valley_angle_deg``, ``misalignment_deg``,
    ``axis_aligned``, ``best_diagonal_kappa``, ``gd`` {stable_lr_max, optimal_lr, rate},
    ``momentum`` and ``nesterov`` {optimal_lr, optimal_momentum, rate, stable_lr_max},
    ``adaptive_note`` and ``runs``: one dict per spec with ``spec``, ``optimizer``,
    ``params`` (numbers as floats, text and flags as given), ``method`` (gd, heavy_ball,
    nesterov, adaptive, quasi_newton), ``predicted_rate``, ``stable``, ``stable_lr_max``,
    ``oscillates``, ``zigzag``, ``per_direction``, ``predicted_steps_to_tol``, ``reason`` (why a
    value is None), ``notes``; adaptive runs add ``sign_descent`` and ``band_half_width``.
    Bad specs raise OptiscopeError.

    No prediction (those values None, ``reason`` says why) for adaptive methods (FTRL among
    them), for L-BFGS (``quasi_newton``: it builds its own curvature model, no fixed linear
    rate), and for any method under a learning-rate schedule other than ``constant``: the
    linear theory is for a constant lr, and predicting with the schedule's first lr would be
    wrong as soon as it changes (a note gives the constant-lr stability limit instead).
    ``momentum_form=seed`` with a constant lr is torch's iteration, so it is predicted.

    Every number is finite (None where undefined). Settings at float64's edges get a reason
    instead of inf or NaN: an lr whose ``(lr*lambda)^2`` overflows is unstable without roots;
    dampening 1 (the gradient never enters the buffer again) cannot converge; a setting that
    is stable in exact arithmetic but whose rate rounds to 1 (``lr = 5e-324``, momentum
    ``1 - 1e-16``) stays ``stable`` with no steps to the tolerance.
    """
    from optiscope.objectives import get_objective
    from optiscope.optimizers import get_optimizer

    resolved = [(spec, *get_optimizer(spec)) for spec in specs]
    tol = check_tol(tol)
    if isinstance(objective, str):
        objective = get_objective(objective)
    with np.errstate(all="ignore"):  # overflow and 0/0 are checked for, never printed
        return _report(objective, resolved, local_model(objective, start), tol)


def _report(objective: Objective, resolved, model: LocalQuadratic, tol: float) -> dict[str, Any]:
    x0 = model.start
    mu, L = model.mu, model.L
    report: dict[str, Any] = {
        "function": objective.name,
        "point": model.point.tolist(),
        "value": model.value,
        "source": model.source,
        "quadratic": model.quadratic,
        "start": x0.tolist(),
        "tol": tol,
        "eigenvalues": model.eigenvalues.tolist(),
        "eigenvectors": model.eigenvectors.T.tolist(),
        "mu": mu,
        "L": L,
        "kappa": model.kappa,
        "valley_angle_deg": model.valley_angle_deg,
        "misalignment_deg": model.misalignment_deg,
        "axis_aligned": model.axis_aligned,
        "best_diagonal_kappa": _json_float(model.best_diagonal_kappa),
        "gd": gd_optimal(mu, L),
        "momentum": heavy_ball_optimal(mu, L),
        "nesterov": nesterov_optimal(mu, L),
        "adaptive_note": _adaptive_note(model),
        "runs": [],
    }
    for spec, optimizer, params in resolved:
        report["runs"].append(_run_report(model, spec, optimizer.name, params, x0, tol))
    return report


def _run_report(
    model: LocalQuadratic, spec: str, name: str, params: Mapping[str, Any], x0, tol: float
) -> dict[str, Any]:
    run: dict[str, Any] = {
        "spec": spec,
        "optimizer": name,
        "params": {k: (v if isinstance(v, bool | str) else float(v)) for k, v in params.items()},
    }
    if name == "lbfgs":
        return run | _no_prediction("quasi_newton", LBFGS_REASON, [])
    setting = linear_setting(name, params)
    if setting is None:
        return run | _adaptive_run(model, name, params)
    schedule = schedule_of(params)
    if schedule is not None:
        return run | _scheduled_run(model, setting, schedule)
    overflow = _overflow_run(model, setting)
    if overflow is not None:
        return run | overflow
    wd = setting.weight_decay
    dirs = [direction(setting, float(lam) + wd) for lam in model.eigenvalues]
    rate = max(d["rate"] for d in dirs)
    stable = rate < 1.0
    lr_max = stable_lr_max(setting, model.L)
    notes: list[str] = []
    if params.get("momentum_form") == "seed":
        notes.append(
            "momentum_form=seed: with a constant lr the seed's v = momentum*v + lr*g, w -= v is "
            "torch's iteration (v = lr*buf), so these predictions hold for it"
        )
    if not model.quadratic:
        notes.append(
            "local quadratic model: the prediction holds once the run is near the minimizer"
        )
    if setting.method == "heavy_ball" and setting.dampening > 0.0:
        notes.append(
            f"dampening {num(setting.dampening)}: from the second step the gradient enters the "
            f"buffer with weight {num(1 - setting.dampening)}, so the rate is that of lr "
            f"{num(setting.effective_lr)}"
        )
    if wd > 0.0:
        notes.append(
            f"weight decay {num(wd)}: the iteration sees H + {num(wd)}*I (every eigenvalue + {num(wd)})"
            + ("" if not np.any(model.point) else "; its fixed point is pulled towards 0")
        )
    if any(d["repeated"] for d in dirs):
        notes.append(
            "repeated root (critical damping) in some direction: the error there decays like "
            "k*rate^k, slower than rate^k by the factor k"
        )
    steps, how = _steps_to_tol(model, setting, x0, tol) if stable else (None, "")
    if setting.effective_lr == 0.0:  # dampening 1
        reason = (
            "dampening 1: from the second step on the gradient never enters the buffer, which "
            "only decays (a root of modulus 1): the iterate coasts to a stop and cannot converge"
        )
    elif not stable and 0.0 < setting.effective_lr < lr_max:
        stable = True  # stable in exact arithmetic; float64 cannot show the decay
        reason = (
            f"stable in exact arithmetic, but the rate rounds to 1 in float64 (lr*lambda = "
            f"{num(setting.effective_lr * model.mu)}, momentum {num(setting.momentum)}: 1 - rate "
            f"is below float64's resolution {num(EPS)}), so no step changes the error measurably"
        )
    elif not stable:
        reason = "unstable: the largest root modulus is >= 1, so the error grows (or stalls)"
    elif steps is None:
        reason = how
    else:
        reason = None
        if how != "exact":
            notes.append(f"steps to tol: {how}")
    return run | {
        "method": setting.method,
        "effective_lr": setting.effective_lr,
        "momentum": setting.momentum,
        "predicted_rate": rate,
        "stable": stable,
        "stable_lr_max": _json_float(lr_max),
        "oscillates": any(d["oscillates"] for d in dirs),
        "zigzag": any(d["zigzag"] for d in dirs),
        "per_direction": [
            _direction_json(d, lam, v, setting.method)
            for d, lam, v in zip(dirs, model.eigenvalues, model.eigenvectors.T, strict=True)
        ],
        "predicted_steps_to_tol": steps,
        "reason": reason,
        "notes": notes,
    }


def _overflow_run(model: LocalQuadratic, setting: LinearSetting) -> dict[str, Any] | None:
    """A no-prediction entry when ``(lr*lambda)^2`` (with the weight-decayed curvature)
    overflows float64: the roots' discriminant, so roots and rates, would be inf or NaN.
    Such an lr is far beyond the stability limit, so the entry says unstable, with that
    limit; None when the numbers are finite."""
    curv = model.L + setting.weight_decay
    h = setting.lr * curv * (1.0 + setting.momentum)
    if math.isfinite(h * h):  # the roots' discriminant squares p ~ lr*lambda
        return None
    lr_max = stable_lr_max(setting, model.L)
    limit = "" if not math.isfinite(lr_max) else f"; the stability limit is lr < {num(lr_max)}"
    return _no_prediction(
        setting.method,
        f"lr*lambda = {num(setting.lr)}*{num(curv)} overflows float64{limit}: unstable",
        [],
        effective_lr=setting.effective_lr,
        momentum=setting.momentum,
    ) | {"stable": False, "stable_lr_max": _json_float(lr_max)}


def _scheduled_run(model: LocalQuadratic, setting: LinearSetting, schedule: str) -> dict[str, Any]:
    """A linear method under a learning-rate schedule: no prediction, by choice.

    The rates, stability and steps are those of a constant lr; a schedule changes lr during
    the run, so the iteration is no longer one fixed linear map. Predicting with the first lr
    would describe only the steps before the lr first changes, so nothing is predicted; a note
    gives the constant-lr stability limit the schedule starts against.
    """
    lr_max = stable_lr_max(setting, model.L)
    limit = "any lr" if math.isinf(lr_max) else f"lr < {num(lr_max)}"
    return _no_prediction(
        setting.method,
        f"the linear theory is for a constant lr; schedule={schedule} changes it during the "
        "run, so no rate, stability or steps are predicted",
        [
            f"with a constant lr this {setting.method.replace('_', ' ')} setting is stable for "
            f"{limit}; the schedule starts at lr {num(setting.lr)}"
        ],
        effective_lr=setting.effective_lr,
        momentum=setting.momentum,
    )


def _direction_json(d: dict[str, Any], lam: float, v: np.ndarray, method: str) -> dict[str, Any]:
    out: dict[str, Any] = {
        "eigenvalue": float(lam),
        "direction": v.tolist(),
        "rate": d["rate"],
        "oscillates": d["oscillates"],
        "zigzag": d["zigzag"],
        "repeated": d["repeated"],
    }
    if method == "gd":
        out["factor"] = d["roots"][0].real
    else:
        out["roots"] = [[s.real, s.imag] for s in d["roots"]]
        out["root_moduli"] = [abs(s) for s in d["roots"]]
    if "period" in d:
        out["period"] = d["period"]
    return out
