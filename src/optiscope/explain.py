"""Plain-words diagnosis: sentences built from the measured metrics and the quadratic theory.

Templates choose the words; every number in a sentence is a value computed in this run (a
metric of the trajectory or a prediction of ``theory``), formatted by ``num``/``pct`` so that
tests can find it in the JSON.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from optiscope import metrics
from optiscope.errors import OptiscopeError
from optiscope.experiments import RunResult, result_record, run_specs, split_gradient_options
from optiscope.objectives.base import Objective
from optiscope.tables import num, pct
from optiscope.theory import theory_report

OVERSHOOT_WORTH_SAYING = 0.01  # below 1% of the starting distance an overshoot is not news


def direction_names(count: int, eigenvalues: Sequence[float] | None) -> list[str]:
    """``["the flat direction", "the steep direction"]`` in ascending-curvature order (2-D)."""
    if eigenvalues is not None and count == 2 and eigenvalues[0] != eigenvalues[-1]:
        return ["the flat direction", "the steep direction"]
    return [f"direction {i + 1}" for i in range(count)]


def _steps(n: int) -> str:
    return f"{n} step" if n == 1 else f"{n} steps"


def outcome_sentence(
    label: str, m: Mapping[str, Any], steps: int, tol: float, has_minimum: bool = True
) -> str:
    """Where the run ended: diverged, reached the tolerance, or not."""
    if m["diverged_at"] is not None:
        return (
            f"{label} diverged at step {m['diverged_at']}: its iterates blew up, so the run was "
            f"stopped there (last finite loss {num(m['loss_final'])})."
        )
    if m["steps_to_tol"] is not None:
        return (
            f"{label} reached a loss gap of {num(tol)} at step {m['steps_to_tol']} and ended at "
            f"loss {num(m['loss_final'])} after {_steps(steps)}."
        )
    if not has_minimum:
        return (
            f"{label} ran {_steps(steps)} and ended at loss {num(m['loss_final'])} (this function "
            f"has no known minimum, so there is no gap to reach)."
        )
    where = ""
    if m["distance_final"] is not None:
        where = f", {num(m['distance_final'])} away from the minimizer"
    return (
        f"{label} did not reach a loss gap of {num(tol)} in {_steps(steps)}: it ended at loss "
        f"{num(m['loss_final'])}{where}."
    )


def theory_sentences(th: Mapping[str, Any], tol: float, exact: bool = True) -> list[str]:
    """What the linear theory predicts for this setting (GD, heavy ball, Nesterov).

    ``exact`` is False when the theory is a local quadratic model of a non-quadratic function:
    an unstable setting then cannot settle at the minimizer, but need not blow up.
    """
    if th.get("method") == "adaptive":
        return [f"Theory note: {note}." for note in th.get("notes", [])]
    if th.get("predicted_rate") is None:
        reason = th.get("reason")
        return [f"Theory: no linear prediction: {reason}."] if reason else []
    method = {
        "gd": "gradient descent",
        "heavy_ball": "heavy-ball momentum",
        "nesterov": "Nesterov momentum",
    }[th["method"]]
    rate = th["predicted_rate"]
    if not th["stable"]:
        bound = f"lr must stay below {num(th['stable_lr_max'])}"
        if rate == 1.0:  # a root on the unit circle: neither grows nor decays
            fate = "its slowest mode keeps its size (a root of modulus 1), so it cannot converge"
        elif exact:
            fate = f"its fastest-growing mode grows by {num(rate)} per step, so it must diverge"
        else:
            fate = (
                f"near the minimizer its fastest-growing mode would grow by {num(rate)} per "
                f"step, so it cannot settle there"
            )
        return [f"Theory: {method} at this lr is unstable on this function ({bound}); {fate}."]
    if th["oscillates"]:
        shape = "oscillates around the minimum (complex roots)"
    elif th.get("zigzag"):
        shape = "zig-zags across the valley (a negative factor)"
    else:
        shape = "approaches the minimum without oscillating"
    steps = th.get("predicted_steps_to_tol")
    needs = f" and needs about {steps} steps to reach a loss gap of {num(tol)}" if steps else ""
    return [f"Theory: {method} {shape}, decaying by {num(rate)} per step{needs}."]


def measured_sentences(
    m: Mapping[str, Any], th: Mapping[str, Any] | None, eigenvalues: Sequence[float] | None
) -> list[str]:
    """Zig-zag, overshoot, rate and limit cycle as measured on the path."""
    out: list[str] = []
    per_dir = m.get("zigzag_per_direction")
    per = per_dir if per_dir is not None else m.get("zigzag_per_coordinate")
    if per:
        names = (
            direction_names(len(per), eigenvalues)
            if per_dir is not None
            else [f"w{i + 1}" for i in range(len(per))]
        )
        flips = [
            f"{pct(z)} of steps in {n}" if per_dir is not None else f"{pct(z)} in {n}"
            for z, n in zip(per, names, strict=True)
            if z is not None
        ]
        if any(z for z in per if z):
            out.append("Zig-zag: consecutive steps reversed direction in " + ", ".join(flips) + ".")
        elif flips:  # defined and all zero (undefined values say nothing)
            out.append("No zig-zag: consecutive steps never reversed direction.")
    diverged = m.get("diverged_at") is not None
    overshoot = m.get("overshoot")
    if not diverged and overshoot is not None and overshoot > OVERSHOOT_WORTH_SAYING:
        out.append(
            f"Overshoot: the path passed the minimizer by up to {pct(m['overshoot'])} of its "
            f"starting distance along an eigen-direction."
        )
    if m.get("cycle_period") is not None:
        out.append(
            f"Limit cycle: the last steps repeat with period {m['cycle_period']} and amplitude "
            f"{num(m['cycle_amplitude'])}: it stopped making progress."
        )
    elif m.get("rate") is not None and m.get("rate_fit_range"):
        a, b = m["rate_fit_range"]
        quantity = m.get("rate_of") or "distance to the minimizer"
        measured = (
            f"Measured rate: the {quantity} shrank by {num(m['rate'])} per step (steps {a}-{b})"
        )
        if th is not None and th.get("predicted_rate") is not None and th.get("stable"):
            measured += f"; theory predicts {num(th['predicted_rate'])}"
        out.append(measured + ".")
    return out


def _other_minimizer(
    objective: Objective, record: Mapping[str, Any], report: Mapping[str, Any] | None
) -> str | None:
    """A sentence when the run ended next to a known minimizer other than the modelled one."""
    minimizers = np.asarray(objective.minimizers, dtype=np.float64).reshape(-1, objective.dim)
    if report is None or record["diverged_at"] is not None or len(minimizers) < 2:
        return None
    final = np.asarray(record["x_final"])
    nearest = minimizers[np.argmin(np.linalg.norm(minimizers - final, axis=1))]
    modelled = np.asarray(report["point"])
    if np.allclose(nearest, modelled, rtol=1e-6, atol=1e-9):
        return None
    where = ", ".join(num(v) for v in nearest)
    other = ", ".join(num(v) for v in modelled)
    return (
        f"It ended near the minimizer ({where}), not the one at ({other}) nearest the start "
        f"that the theory models, so the theory's predictions do not apply to this run."
    )


def best_settings_sentences(report: Mapping[str, Any]) -> list[str]:
    """The theory's best settings for the function (quadratic or local quadratic model)."""
    gd, hb, nes = report["gd"], report["momentum"], report["nesterov"]
    return [
        f"Best settings by theory (kappa {num(report['kappa'])}): gradient descent lr "
        f"{num(gd['optimal_lr'])} (rate {num(gd['rate'])} per step); heavy-ball momentum lr "
        f"{num(hb['optimal_lr'])} with momentum {num(hb['optimal_momentum'])} (rate "
        f"{num(hb['rate'])}); Nesterov lr {num(nes['optimal_lr'])} with momentum "
        f"{num(nes['optimal_momentum'])} (rate {num(nes['rate'])})."
    ]


def explain(
    objective: Objective,
    specs: Sequence[str],
    steps: int = 100,
    start: Sequence[float] | None = None,
    tol: float = metrics.DEFAULT_TOL,
    results: Sequence[RunResult] | None = None,
) -> dict[str, Any]:
    """Run the specs (unless ``results`` are given) and explain each run in sentences.

    Returns ``{"function", "steps", "start", "tol", "theory" (report or None), "theory_error",
    "runs": [{... the run record ..., "theory": {...}, "text": [sentences]}], "best": [...]}``.
    """
    point = tuple(objective.start if start is None else start)
    if results is None:
        results = run_specs(objective, specs, steps=steps, start=point)
    optimizer_specs = [split_gradient_options(spec)[0] for spec in specs]  # no noise/batch keys
    try:
        report: dict[str, Any] | None = theory_report(
            objective, optimizer_specs, start=point, tol=tol
        )
        theory_error = None
    except OptiscopeError as err:  # no minimum, no Hessian: say so, still explain the runs
        report, theory_error = None, str(err)
    eigenvalues = None if report is None else report["eigenvalues"]
    runs = []
    for i, result in enumerate(results):
        record = result_record(result, tol)
        th = None if report is None else report["runs"][i]
        m = record["metrics"]
        text = [outcome_sentence(result.label, m, steps, tol, objective.f_min is not None)]
        elsewhere = _other_minimizer(objective, record, report)
        if elsewhere is not None:
            text.append(elsewhere)
            th = None  # the theory describes another minimum than the one this run found
        elif th is not None:
            text += theory_sentences(th, tol, exact=bool(report.get("quadratic")))
        text += measured_sentences(m, th, eigenvalues)
        runs.append({**record, "theory": th, "text": text})
    best = [] if report is None or report.get("gd") is None else best_settings_sentences(report)
    if theory_error:
        best = [f"No quadratic theory for this function: {theory_error}."]
    return {
        "function": objective.name,
        "steps": steps,
        "start": [float(v) for v in point],
        "tol": tol,
        "theory": report,
        "theory_error": theory_error,
        "runs": runs,
        "best": best,
    }
