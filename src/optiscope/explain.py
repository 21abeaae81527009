"""Plain-words diagnosis: sentences built from the measured metrics and the quadratic theory.

Templates choose the words; every number in a sentence is a value computed in this run (a
metric of the trajectory, a point the landscape analysis found, or a prediction of ``theory``),
formatted by ``num``/``pct`` so that tests can find it in the JSON. What is said, per run:

1. the outcome: diverged (non-finite values) or left the box, stopped by the optimizer's own
   test (and why), reached the tolerance (first, and for good), or not; the steps actually run;
2. where it ended: stuck in (or heading into) a local minimum above the global one, below a
   minimum that was only found numerically (so that one is not global), or next to another
   global minimizer than the modelled one. Then the modelled minimum's theory is not applied;
3. the theory of the local quadratic model (noise-free part only, for stochastic gradients);
4. with noisy or mini-batch gradients, the stationary noise floor (``theory.noise``) and the
   mean loss gap measured over the run's tail;
5. near a saddle, the predicted and measured escape (``theory.landscape``);
6. measured zig-zag, overshoot, limit cycle and rate (no rate for noisy runs, or when the
   metrics give none: ``rate_note`` says why).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from optiscope import metrics
from optiscope.errors import OptiscopeError
from optiscope.experiments import RunResult, result_record, run_specs, split_gradient_options
from optiscope.objectives.base import Objective
from optiscope.stochastic import parse_batch_size
from optiscope.tables import num, pct
from optiscope.theory import linear_setting, local_model, theory_report
from optiscope.theory.adaptive import schedule_of
from optiscope.theory.formatting import _fmt_point, _json_float
from optiscope.theory.landscape import (
    Saddle,
    escape_steps,
    growth_factor,
    local_minimum_near,
    saddle_near,
)
from optiscope.theory.minimizer import with_found_minimum
from optiscope.theory.model import LocalQuadratic
from optiscope.theory.noise import gradient_noise, noise_floor
from optiscope.theory.predict import _steps_to_tol, check_tol

RATE_ROUNDING = 1e-12  # a predicted rate below this is an exact 0 up to rounding
OVERSHOOT_WORTH_SAYING = 0.01  # below 1% of the starting distance an overshoot is not news
TAIL_MIN_STEPS = 10  # fewer steps after the transient: the floor is not measured
TRANSIENT_SHARE = 0.01  # the transient ends when the noise-free gap is below 1% of the floor
LOCAL_STUCK_SHARE = 1e-3  # within this share of the local minimum's excess: "stuck" there
ZIGZAG_LISTED_MAX = 4  # more directions than this: the range, not one share each
METHOD_NAMES = {
    "gd": "gradient descent",
    "heavy_ball": "heavy-ball momentum",
    "nesterov": "Nesterov momentum",
}
RATE_NOTE_WORDS = {  # rate_note codes worth a sentence (the others have their own sentence)
    "stalled": "the run stalled (the distance stopped shrinking away from the minimizer)",
    "no decay": "the fitted quantity did not decay",
}


def direction_names(count: int, eigenvalues: Sequence[float] | None) -> list[str]:
    """``["the flat direction", "the steep direction"]`` in ascending-curvature order (2-D)."""
    if eigenvalues is not None and count == 2 and eigenvalues[0] != eigenvalues[-1]:
        return ["the flat direction", "the steep direction"]
    return [f"direction {i + 1}" for i in range(count)]


def _steps(n: int) -> str:
    return f"{n} step" if n == 1 else f"{n} steps"


# ---------------------------------------------------------------------------- the outcome
def steps_run(record: Mapping[str, Any], steps: int) -> int:
    """The steps the row actually took: the record's ``steps_run`` when it has one, else the
    optimizer's stop (``stopped_at``, formerly ``converged_at``), the step before a divergence,
    or ``steps``."""
    if record.get("steps_run") is not None:
        return int(record["steps_run"])
    stopped = record.get("stopped_at", record.get("converged_at"))
    if stopped is not None:
        return int(stopped)
    diverged = record.get("diverged_at")
    return int(diverged) - 1 if diverged is not None else steps


def _reached(m: Mapping[str, Any], tol: float) -> str:
    """``reached a loss gap of tol at step a`` or, when the gap dipped below tol before it
    stayed there, ``first reached ... at step a and stayed below it from step b``."""
    first, stays = m.get("first_to_tol"), m["steps_to_tol"]
    if first is None or first == stays:
        return f"reached a loss gap of {num(tol)} at step {stays}"
    return (
        f"first reached a loss gap of {num(tol)} at step {first} and stayed below it from "
        f"step {stays}"
    )


def _above_minimum(m: Mapping[str, Any]) -> str:
    """``", 0.05323 above the minimum 0.1504"`` (empty when there is no gap)."""
    gap = m.get("gap_final")
    if gap is None:
        return ""
    return f", {num(gap)} above the minimum {num(m['loss_final'] - gap)}"


def _diverged_sentence(label: str, m: Mapping[str, Any], record: Mapping[str, Any]) -> str:
    div = record.get("divergence") or {}
    k = div.get("step", m["diverged_at"])
    if div.get("kind") == "left_box":
        where = ""
        if div.get("point") is not None:
            where = f" (at {_fmt_point(div['point'])})"
        return (
            f"{label} left the box |w| <= {num(div['radius'])} at step {k}{where}, so the run "
            f"was stopped there (loss {num(m['loss_final'])} at its last point inside)."
        )
    return (
        f"{label} diverged at step {k}: the step gave a non-finite point, loss or gradient "
        "(an overflow, or a point where the function is undefined), so the run was stopped "
        f"there (last finite loss {num(m['loss_final'])})."
    )


def outcome_sentence(
    label: str,
    m: Mapping[str, Any],
    steps: int,
    tol: float,
    has_minimum: bool = True,
    record: Mapping[str, Any] | None = None,
) -> str:
    """Where the run ended: diverged or left the box, stopped by its own test (and why),
    reached the tolerance (first and for good), or not; ``record`` (the run record) adds the
    stop, the divergence kind and the steps actually run when it has them."""
    record = record or {}
    if m["diverged_at"] is not None:
        return _diverged_sentence(label, m, record)
    ran = steps_run(record, steps)
    stopped = record.get("stopped_at")
    if stopped is not None:
        why = record.get("stop_text") or "its own stopping test"
        if m["steps_to_tol"] is not None:
            return (
                f"{label} {_reached(m, tol)}; its own test stopped it at step {stopped} "
                f"({why}) at loss {num(m['loss_final'])}."
            )
        return (
            f"{label} stopped at step {stopped} without reaching a loss gap of {num(tol)}: "
            f"{why}; it ended at loss {num(m['loss_final'])}{_above_minimum(m)}."
        )
    if m["steps_to_tol"] is not None:
        return (
            f"{label} {_reached(m, tol)}; it ended at loss {num(m['loss_final'])} after "
            f"{_steps(ran)}."
        )
    if not has_minimum:
        return (
            f"{label} ran {_steps(ran)} and ended at loss {num(m['loss_final'])} (this function "
            f"has no known minimum, so there is no gap to reach)."
        )
    where = ""
    if m["distance_final"] is not None:
        where = f", {num(m['distance_final'])} away from the minimizer"
    if m.get("first_to_tol") is not None:
        return (
            f"{label} first reached a loss gap of {num(tol)} at step {m['first_to_tol']} but did "
            f"not stay below it: it ended at loss {num(m['loss_final'])} after {_steps(ran)}"
            f"{where}."
        )
    return (
        f"{label} did not reach a loss gap of {num(tol)} in {_steps(ran)}: it ended at loss "
        f"{num(m['loss_final'])}{where}."
    )


# ---------------------------------------------------------------------------- the theory
def theory_sentences(
    th: Mapping[str, Any],
    tol: float,
    exact: bool = True,
    noisy: bool = False,
    near_saddle: bool = False,
) -> list[str]:
    """What the linear theory predicts for this setting (GD, heavy ball, Nesterov).

    ``exact`` is False when the theory is a local quadratic model of a non-quadratic function:
    an unstable setting then cannot settle at the minimizer, but need not blow up. ``noisy``:
    the gradients are stochastic, so only the noise-free part is stated (the mean follows it
    until the noise floor), never the steps to the tolerance as what the run does.
    ``near_saddle``: the start is near a saddle, so the model's steps from the start (which
    ignore the escape) are not given.
    """
    if th.get("method") == "adaptive":
        return [f"Theory note: {note}." for note in th.get("notes", [])]
    if th.get("predicted_rate") is None:
        reason = th.get("reason")
        return [f"Theory: no linear prediction: {reason}."] if reason else []
    method = METHOD_NAMES[th["method"]]
    rate = th["predicted_rate"]
    if not th["stable"]:
        return [_unstable_sentence(th, method, rate, exact)]
    if th["oscillates"]:
        shape = "oscillates around the minimum (complex roots)"
    elif th.get("zigzag"):
        shape = "zig-zags across the valley (a negative factor)"
    else:
        shape = "approaches the minimum without oscillating"
    steps = th.get("predicted_steps_to_tol")
    head = "Theory" if exact else "Theory (local quadratic model at the minimizer)"
    if noisy:
        return [
            f"{head}, noise-free part: {method} {shape}; the mean error decays by {num(rate)} "
            "per step until the loss gap reaches the noise floor."
        ]
    if steps and near_saddle:
        needs = "; the steps to the tolerance are not predicted from a start near a saddle"
    elif steps:
        needs = f" and needs about {steps} steps to reach a loss gap of {num(tol)}"
    elif th.get("reason"):
        needs = f"; {th['reason']}"
    else:
        needs = ""
    return [f"{head}: {method} {shape}, decaying by {num(rate)} per step{needs}."]


def _unstable_sentence(th: Mapping[str, Any], method: str, rate: float, exact: bool) -> str:
    if th.get("reason") and not str(th["reason"]).startswith("unstable"):
        return f"Theory: {method} cannot converge here: {th['reason']}."  # dampening 1
    lr_max = th.get("stable_lr_max")
    bound = "" if lr_max is None else f" (lr must stay below {num(lr_max)})"
    if rate == 1.0:  # a root on the unit circle: neither grows nor decays
        fate = "its slowest mode keeps its size (a root of modulus 1), so it cannot converge"
    elif exact:
        fate = f"its fastest-growing mode grows by {num(rate)} per step, so it must diverge"
    else:
        fate = (
            f"near the minimizer its fastest-growing mode would grow by {num(rate)} per "
            f"step, so it cannot settle there"
        )
    return f"Theory: {method} at this lr is unstable on this function{bound}; {fate}."


# ---------------------------------------------------------------------------- measured
def measured_sentences(
    m: Mapping[str, Any],
    th: Mapping[str, Any] | None,
    eigenvalues: Sequence[float] | None,
    noisy: bool = False,
) -> list[str]:
    """Zig-zag, overshoot, limit cycle and rate as measured on the path.

    No rate sentence for a noisy run (its decay is a transient into the noise floor) or when
    the metrics give no rate (``rate_note`` says why; the reasons that no other sentence
    covers are stated).
    """
    out = _zigzag_sentences(m, eigenvalues)
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
    elif noisy:
        pass
    elif m.get("rate") is not None and m.get("rate_fit_range"):
        a, b = m["rate_fit_range"]
        quantity = m.get("rate_of") or "distance to the minimizer"
        measured = (
            f"Measured rate: the {quantity} shrank by {num(m['rate'])} per step (steps {a}-{b})"
        )
        if th is not None and th.get("predicted_rate") is not None and th.get("stable"):
            measured += f"; theory predicts {num(th['predicted_rate'])}"
        out.append(measured + ".")
    elif m.get("rate_note") in RATE_NOTE_WORDS and m.get("steps_to_tol") is None:
        out.append(f"No measured rate: {RATE_NOTE_WORDS[m['rate_note']]}.")
    return out


def _zigzag_sentences(m: Mapping[str, Any], eigenvalues: Sequence[float] | None) -> list[str]:
    per_dir = m.get("zigzag_per_direction")
    per = per_dir if per_dir is not None else m.get("zigzag_per_coordinate")
    if not per:
        return []
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
    if any(z for z in per if z) and len(per) > ZIGZAG_LISTED_MAX:
        return [_zigzag_range(per, per_dir is not None)]
    if any(z for z in per if z):
        return ["Zig-zag: consecutive steps reversed direction in " + ", ".join(flips) + "."]
    if flips:  # defined and all zero (undefined values say nothing)
        return ["No zig-zag: consecutive steps never reversed direction."]
    return []


def _zigzag_range(per: Sequence[float | None], eigen: bool) -> str:
    """Many directions (a data objective with all features): the range and the largest."""
    defined = [(z, i) for i, z in enumerate(per) if z is not None]
    low, high = min(z for z, _ in defined), max(defined)
    kind = "eigen-directions (ascending curvature)" if eigen else "coordinates"
    name = f"direction {high[1] + 1}" if eigen else f"w{high[1] + 1}"
    return (
        f"Zig-zag: consecutive steps reversed direction in {pct(low)} to {pct(high[0])} of "
        f"steps across the {len(defined)} {kind}, most in {name}."
    )


# ---------------------------------------------------------------------------- where it ended
def _minimum_words(objective: Objective) -> str:
    """How to name the objective's minimum: the global one, or the one found numerically."""
    if objective.minimum_note:
        return "the minimum found from the start"
    return "the global minimum"


def _nearest_minimizer(objective: Objective, x: np.ndarray) -> np.ndarray:
    known = np.asarray(objective.minimizers, dtype=np.float64).reshape(-1, objective.dim)
    return known[np.argmin(np.sum((known - x) ** 2, axis=1))]


def below_found_minimum(
    objective: Objective, record: Mapping[str, Any], tol: float
) -> tuple[str, dict[str, Any]] | None:
    """A sentence when the run ended lower than a minimum that was only found numerically:
    that minimum is then a local one, and the gap to it (negative) is no success."""
    m = record["metrics"]
    if not objective.minimum_note or objective.f_min is None:
        return None
    if m["diverged_at"] is not None or m["gap_final"] is None:
        return None
    depth = -m["gap_final"]
    if not depth > max(tol, 1e-9 * abs(objective.f_min)):
        return None
    x_star = _nearest_minimizer(objective, np.asarray(record["x_final"]))
    sentence = (
        f"It ended at loss {num(m['loss_final'])}, {num(depth)} below the minimum found "
        f"numerically from the start (f_min {num(objective.f_min)} at {_fmt_point(x_star)}): "
        "that minimum is only a local one, not the global minimum, so the gap to it is no "
        "measure of success and its theory does not apply."
    )
    return sentence, {"kind": "below_found_minimum", "depth": depth}


def stuck_in_local_minimum(
    objective: Objective,
    record: Mapping[str, Any],
    tol: float,
    path: np.ndarray | None = None,
) -> tuple[str, dict[str, Any]] | None:
    """A sentence when the run ended in (or is heading into) a local minimum above f_min.

    A damped Newton descent from the final point finds the local minimizer of its basin. When
    that minimizer's value is above ``f_min`` by more than ``tol``, the run is *stuck* there
    if its loss is within ``max(tol, LOCAL_STUCK_SHARE * excess)`` of the local minimum's
    value, or *heading into* it if its ``path`` (``[S+1, D]``, the steps run) approached it
    over the last quarter of the run (``_approaching``); a run that merely wanders through
    the basin (an unstable lr) is neither.
    """
    m = record["metrics"]
    if objective.f_min is None or m["diverged_at"] is not None:
        return None
    if m["gap_final"] is None or m["gap_final"] <= tol:
        return None
    final = np.asarray(record["x_final"], dtype=np.float64)
    local = local_minimum_near(objective, final)
    if local is None:
        return None
    excess = local.value - objective.f_min
    if not excess > tol:
        return None  # the basin's minimum is a global one
    x_star = _nearest_minimizer(objective, local.point)
    stuck = m["loss_final"] - local.value <= max(tol, LOCAL_STUCK_SHARE * excess)
    if not stuck and (path is None or not _approaching(path, local.point)):
        return None
    state = "is stuck in" if stuck else "is heading into"
    sentence = (
        f"It {state} a local minimum at {_fmt_point(local.point)} with loss "
        f"{num(local.value)} (Hessian eigenvalues {num(local.eigenvalues[0])}, "
        f"{num(local.eigenvalues[1])}); {_minimum_words(objective)} {num(objective.f_min)} at "
        f"{_fmt_point(x_star)} is {num(excess)} lower, so the theory of that minimum does not "
        "apply to this run."
    )
    info = {
        "kind": "local_minimum",
        "stuck": bool(stuck),
        "point": local.point.tolist(),
        "loss": local.value,
        "eigenvalues": local.eigenvalues.tolist(),
        "f_min": objective.f_min,
        "excess": excess,
    }
    return sentence, info


def _approaching(path: np.ndarray, point: np.ndarray) -> bool:
    """Whether the path closed in on ``point`` over the last quarter of the run: the largest
    distance in the quarter's second half is below the largest in its first half. Peaks are
    compared so that an oscillating approach
    (momentum circling into the basin) counts; a run that bounces through the basin at an
    unstable lr does not."""
    with np.errstate(all="ignore"):
        dist = np.sqrt(np.sum((path - point) ** 2, axis=1))
    quarter = dist[-max(4, len(dist) // 4) :]
    half = len(quarter) // 2
    closer = np.max(quarter[half:]) < np.max(quarter[:half])
    return bool(np.isfinite(quarter).all() and closer)


def _other_minimizer(
    objective: Objective, record: Mapping[str, Any], report: Mapping[str, Any] | None
) -> str | None:
    """A sentence when the run ended next to a known minimizer other than the modelled one."""
    minimizers = np.asarray(objective.minimizers, dtype=np.float64).reshape(-1, objective.dim)
    if report is None or record["diverged_at"] is not None or len(minimizers) < 2:
        return None
    nearest = _nearest_minimizer(objective, np.asarray(record["x_final"]))
    modelled = np.asarray(report["point"])
    if np.allclose(nearest, modelled, rtol=1e-6, atol=1e-9):
        return None
    return (
        f"It ended near the minimizer {_fmt_point(nearest)}, not the one at "
        f"{_fmt_point(modelled)} nearest the start that the theory models, so the theory's "
        "predictions do not apply to this run."
    )


# ---------------------------------------------------------------------------- noise
def _is_noisy(gradient: Mapping[str, Any]) -> bool:
    return bool(gradient.get("noise")) or gradient.get("batch_size") not in (None, "full")


def _noise_words(sigma: float, batch: int | None, examples: int | None) -> str:
    parts = []
    if batch is not None:
        parts.append(f"mini-batches of {batch} of {examples} examples (drawn without replacement)")
    if sigma:
        parts.append(f"gradient noise sigma {num(sigma)}")
    return " and ".join(parts)


def _tail(losses: np.ndarray, f_min: float | None, start: int, end: int) -> dict[str, Any] | None:
    """The loss gap over steps ``start..end`` (inclusive): its mean, its per-step standard
    deviation and the standard error of the mean (``_standard_error``)."""
    if f_min is None or end - start + 1 < TAIL_MIN_STEPS:
        return None
    with np.errstate(all="ignore"):
        gaps = losses[start : end + 1] - f_min
        mean, sd = float(np.mean(gaps)), float(np.std(gaps))
        error = _standard_error(gaps) if math.isfinite(sd) else None
    if not (math.isfinite(mean) and math.isfinite(sd)):
        return None
    return {
        "measured_mean": mean,
        "measured_sd": sd,
        "measured_error": error,
        "measured_steps": [start, end],
    }


def _standard_error(values: np.ndarray) -> float | None:
    """The standard error of the mean of a correlated series: ``sd * sqrt(tau / n)`` with the
    integrated autocorrelation time ``tau = 1 + 2 sum_k rho_k``, summed while the
    autocorrelation ``rho_k`` stays positive (up to lag n/4). On 300 noisy GD runs (see
    tests/test_noise_floor.py) (mean - floor)/error had a spread of 1.16 over 100 steps, 1.00
    over 500."""
    n = len(values)
    dev = values - np.mean(values)
    var = float(np.dot(dev, dev)) / n
    if not (math.isfinite(var) and var > 0.0):
        return None
    tau = 1.0
    for k in range(1, n // 4):
        rho = float(np.dot(dev[:-k], dev[k:])) / (n * var)
        if not rho > 0.0:
            break
        tau += 2.0 * rho
    return _json_float(math.sqrt(var * tau / n))


def _measured_words(measured: dict[str, Any]) -> str:
    """``0.04964 +- 0.008 (standard error; per-step sd 0.04458)``."""
    error = measured["measured_error"]
    spread = f"per-step sd {num(measured['measured_sd'])}"
    if error is None:
        return f"{num(measured['measured_mean'])} ({spread})"
    return f"{num(measured['measured_mean'])} +- {num(error)} (standard error; {spread})"


def _transient_steps(
    model: LocalQuadratic, setting, start: np.ndarray, floor: dict[str, Any]
) -> int | None:
    """Steps until the noise-free gap stays below ``TRANSIENT_SHARE`` of the floor's noise
    part (plus the weight-decay offset): from there on the run samples the floor."""
    target = floor["offset"] + TRANSIENT_SHARE * (floor["floor"] - floor["offset"])
    if not target > 0.0:
        return None
    try:
        return _steps_to_tol(model, setting, start, target)[0]
    except (OptiscopeError, ArithmeticError):
        return None


def noise_entry(
    objective: Objective,
    model: LocalQuadratic | None,
    result: RunResult,
    record: Mapping[str, Any],
    th: Mapping[str, Any] | None,
    steps: int,
    tol: float,
) -> tuple[list[str], dict[str, Any]]:
    """The noise-floor sentence and JSON entry of a noisy or mini-batch run.

    For a stable constant-lr linear method the theory's floor (``theory.noise``) is compared
    with the mean loss gap measured after the transient (``_transient_steps``, and never
    before the second half of the run); for the others only the measured mean over the last
    half is given, with the reason why there is no prediction.
    """
    sigma = float(result.gradient.get("noise") or 0.0)
    batch = parse_batch_size(result.gradient.get("batch_size"))
    examples = getattr(objective, "examples", None)
    words = _noise_words(sigma, batch, examples)
    m = record["metrics"]
    entry: dict[str, Any] = {"noise": sigma, "batch_size": batch, "predicted": None}
    if m["diverged_at"] is not None:
        return [], entry | {"reason": "the run diverged"}
    end = steps_run(record, steps)
    losses = result.trajectories.losses[:, result.row]
    setting = linear_setting(result.optimizer.name, result.settings)
    why = _no_floor_reason(result, setting, th, model)
    if why is not None:
        measured = _tail(losses, objective.f_min, end // 2, end)
        entry |= {"reason": why} | (measured or {})
        said = f"Noise: with {words}, {result.optimizer.name} keeps moving; {why}"
        if measured:
            said += (
                f"; measured mean loss gap {_measured_words(measured)} over steps {end // 2}-{end}"
            )
        return [said + "."], entry
    assert model is not None and setting is not None and th is not None
    floor = noise_floor(model, setting, gradient_noise(objective, model, sigma, batch))
    if floor["floor"] is None:
        why = "no stationary floor: some direction does not contract (in float64)"
        said = f"Noise: with {words}, {result.optimizer.name} has {why}."
        return [said], entry | {"reason": why}
    entry |= {"predicted": floor["floor"], "per_direction": floor["per_direction"]}
    method = METHOD_NAMES[setting.method]
    transient = _transient_steps(model, setting, model.start, floor)
    first = max(end // 2, transient if transient is not None else end + 1)
    measured = _tail(losses, objective.f_min, first, end)
    settle = "cannot settle" if floor["floor"] > tol else "fluctuates"
    said = (
        f"Noise: with {words}, {method} {settle}: the theory's noise floor is a mean loss "
        f"gap of {num(floor['floor'])}"
    )
    if measured:
        entry |= measured
        said += f"; measured {_measured_words(measured)} over steps {first}-{end}."
    else:
        entry["reason"] = "the run is too short to reach the floor"
        said += (
            f"; the run is too short to measure it (the noise-free part falls to "
            f"{pct(TRANSIENT_SHARE)} of the floor only after about {transient} steps)."
        )
    return [said], entry


def _no_floor_reason(result: RunResult, setting, th, model) -> str | None:
    """Why no noise floor is predicted for this run (None: it is)."""
    name = result.optimizer.name
    if model is None or th is None:
        return "no quadratic model of the minimum applies, so no floor is predicted"
    if setting is None:
        return (
            f"this theory does not predict the noise floor of {name} (an adaptive method "
            "rescales the noise by its own running averages)"
        )
    if schedule_of(result.settings) is not None:
        return "the floor is predicted for a constant lr only; the schedule changes lr"
    if not th.get("stable"):
        return "the setting is unstable, so there is no stationary floor"
    if th.get("predicted_rate") is None or th["predicted_rate"] >= 1.0:
        return "the setting does not contract in float64, so there is no stationary floor"
    return None


# ---------------------------------------------------------------------------- saddles
def saddle_entry(
    saddle: Saddle, result: RunResult, record: Mapping[str, Any], steps: int
) -> tuple[list[str], dict[str, Any]]:
    """The saddle-escape sentence: predicted (GD, heavy ball, Nesterov at a constant lr, no
    noise) and measured (the first step the distance along the downhill direction reaches
    the neighbourhood radius ``d1``)."""
    lam = saddle.eigenvalues
    positions = result.trajectories.positions[: steps_run(record, steps) + 1, result.row]
    along = np.abs((positions - saddle.point) @ saddle.down)
    left = np.flatnonzero(along >= saddle.d1)
    measured = int(left[0]) if len(left) else None
    edge = "the edge of the plot box" if saddle.box_limited else "where its quadratic model "
    if not saddle.box_limited:
        edge += "stops holding"
    head = (
        f"Saddle: the start is near the saddle point {_fmt_point(saddle.point)} (Hessian "
        f"eigenvalues {num(lam[0])}, {num(lam[1])}), {num(saddle.d0)} from it along its "
        f"downhill direction {_fmt_point(saddle.down)}"
    )
    entry: dict[str, Any] = {
        "point": saddle.point.tolist(),
        "eigenvalues": lam.tolist(),
        "direction": saddle.down.tolist(),
        "d0": saddle.d0,
        "d1": saddle.d1,
        "predicted_growth": None,
        "predicted_steps": None,
        "measured_steps": measured,
    }
    target = f"{num(saddle.d1)} ({edge})"
    seen = (
        f"measured: it got there at step {measured}"
        if measured is not None
        else f"measured: it had not got there after {_steps(len(along) - 1)}"
    )
    setting = linear_setting(result.optimizer.name, result.settings)
    if setting is None or schedule_of(result.settings) is not None or _is_noisy(result.gradient):
        why = (
            "the gradient noise pushes it off the saddle too"
            if _is_noisy(result.gradient)
            else f"{result.optimizer.name} is not a constant-lr linear method"
        )
        return [f"{head}; no time to escape to {target} is predicted ({why}); {seen}."], entry
    method = METHOD_NAMES[setting.method]
    if saddle.d0 == 0.0:
        return [
            f"{head}: it lies on the saddle's attracting line, and {method} never leaves it in "
            f"exact arithmetic (escaping means reaching {target}); {seen}."
        ], entry
    growth = growth_factor(setting, float(lam[0]))
    predicted = escape_steps(setting, float(lam[0]), saddle.d0, saddle.d1)
    entry |= {"predicted_growth": _json_float(growth), "predicted_steps": predicted}
    if not (math.isfinite(growth) and growth > 1.0):
        return [
            f"{head}; {method} does not grow that distance (weight decay outweighs the negative "
            f"curvature), so it does not escape to {target}; {seen}."
        ], entry
    estimate = math.log(saddle.d1 / saddle.d0) / math.log(growth)
    exact = "" if predicted is None else f", {predicted} by the exact recurrence"
    return [
        f"{head}; {method} multiplies that distance by {num(growth)} per step, so reaching "
        f"{target} takes log({num(saddle.d1)}/{num(saddle.d0)})/log({num(growth)}) = "
        f"{num(estimate)} steps{exact}; {seen}."
    ], entry


# ---------------------------------------------------------------------------- best settings
def best_settings_sentences(report: Mapping[str, Any]) -> list[str]:
    """The theory's best settings for the minimum it models (quadratic or local model).

    The sentence names that minimum: after a run stuck elsewhere it is still the one the
    theory is about. A rate below ``RATE_ROUNDING`` is the rounding of an exact 0 (a round
    bowl, where lr = 1/L lands on the minimum in one step) and reads 0.
    """
    gd, hb, nes = report["gd"], report["momentum"], report["nesterov"]

    def rate(value: float) -> str:
        return num(0.0 if abs(value) < RATE_ROUNDING else value)

    return [
        f"Best settings by theory for the minimum at {_fmt_point(report['point'])} (kappa "
        f"{num(report['kappa'])}): gradient descent lr {num(gd['optimal_lr'])} (rate "
        f"{rate(gd['rate'])} per step); heavy-ball momentum lr {num(hb['optimal_lr'])} with "
        f"momentum {num(hb['optimal_momentum'])} (rate {rate(hb['rate'])}); Nesterov lr "
        f"{num(nes['optimal_lr'])} with momentum {num(nes['optimal_momentum'])} (rate "
        f"{rate(nes['rate'])})."
    ]


# ---------------------------------------------------------------------------- explain
def _check_arguments(
    objective: Objective | str, specs: Sequence[str], start: Sequence[float] | None
) -> tuple[Objective, list[str], tuple[float, ...]]:
    """The objective, the specs as a list and the start, checked (one-line OptiscopeError)."""
    if isinstance(objective, str):
        from optiscope.objectives import get_objective

        objective = get_objective(objective)
    if not isinstance(objective, Objective):
        raise OptiscopeError(
            f"explain: objective must be an Objective (from get_objective) or a function "
            f"spec, got {type(objective).__name__}"
        )
    if isinstance(specs, str) or not isinstance(specs, Sequence):
        raise OptiscopeError(
            f"explain: specs must be a list of optimizer specs such as ['sgd:lr=0.1'], got "
            f"{type(specs).__name__} {str(specs)[:40]!r}"
        )
    if not specs or not all(isinstance(s, str) for s in specs):
        raise OptiscopeError(
            "explain: specs must be a non-empty list of optimizer spec strings, e.g. ['sgd:lr=0.1']"
        )
    raw = objective.start if start is None else start
    try:
        point = np.asarray(raw, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        raise OptiscopeError(
            f"explain: invalid start {str(raw)[:40]!r}: expected {objective.dim} numbers"
        ) from None
    if point.shape != (objective.dim,) or not np.isfinite(point).all():
        raise OptiscopeError(
            f"explain: invalid start {str(raw)[:40]!r}: expected {objective.dim} finite numbers"
        )
    return objective, list(specs), tuple(float(v) for v in point)


def _on_objective(objective: Objective, result: RunResult) -> RunResult:
    """``result`` judged against ``objective`` (a copy carrying a found minimum)."""
    if result.trajectories.objective is objective:
        return result
    traj = dataclasses.replace(result.trajectories, objective=objective)
    return dataclasses.replace(result, trajectories=traj)


def _theory(
    objective: Objective, specs: Sequence[str], point: tuple[float, ...], tol: float
) -> tuple[dict[str, Any] | None, LocalQuadratic | None, str | None]:
    """The theory report and its model, or the reason there is none (never raises)."""
    try:
        with np.errstate(all="ignore"):
            report = theory_report(objective, specs, start=point, tol=tol)
            model = local_model(objective, point)
    except OptiscopeError as err:  # no minimum, no Hessian: say so, still explain the runs
        return None, None, str(err)
    return report, model, None


def explain(
    objective: Objective | str,
    specs: Sequence[str],
    steps: int = 100,
    start: Sequence[float] | None = None,
    tol: float = metrics.DEFAULT_TOL,
    results: Sequence[RunResult] | None = None,
    noise: float = 0.0,
    batch_size: str | int | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """Run the specs (unless ``results`` are given) and explain each run in sentences.

    ``noise``, ``batch_size`` and ``seed`` are passed to ``experiments.run_specs`` (a spec's
    own ``noise=`` / ``batch_size=`` wins). An objective without a known minimum (a typed
    formula) is judged against the minimizer the theory's Newton search finds from the
    start (``with_found_minimum``), with the runs given in ``results`` too.

    Returns ``{"function", "steps", "start", "tol", "noise", "batch_size", "seed",
    "minimum_note", "theory" (report or None), "theory_error", "runs": [{... the run record
    ..., "theory", "text": [sentences], "where" (local minimum / below the found minimum, or
    None), "noise_floor" (or None), "saddle" (or None)}], "best": [...]}``.
    """
    objective, specs, point = _check_arguments(objective, specs, start)
    tol = check_tol(tol)
    objective = with_found_minimum(objective, point)
    if results is None:
        results = run_specs(
            objective,
            specs,
            steps=steps,
            start=point,
            noise=noise,
            batch_size=batch_size,
            seed=seed,
        )
    results = [_on_objective(objective, r) for r in results]
    optimizer_specs = [split_gradient_options(spec)[0] for spec in specs]  # no noise/batch keys
    report, model, theory_error = _theory(objective, optimizer_specs, point, tol)
    saddle = saddle_near(objective, np.asarray(point)) if objective.dim == 2 else None
    runs = []
    for i, result in enumerate(results):
        th = None if report is None else report["runs"][i]
        runs.append(_explain_run(objective, result, th, report, model, saddle, steps, tol))
    best = [] if report is None or report.get("gd") is None else best_settings_sentences(report)
    if theory_error:
        best = [f"No quadratic theory for this function: {theory_error}."]
    return {
        "function": objective.name,
        "steps": steps,
        "start": list(point),
        "tol": tol,
        "noise": noise,
        "batch_size": batch_size,
        "seed": seed,
        "minimum_note": objective.minimum_note,
        "theory": report,
        "theory_error": theory_error,
        "runs": runs,
        "best": best,
    }


def _explain_run(
    objective: Objective,
    result: RunResult,
    th: dict[str, Any] | None,
    report: dict[str, Any] | None,
    model: LocalQuadratic | None,
    saddle: Saddle | None,
    steps: int,
    tol: float,
) -> dict[str, Any]:
    """One run's record with its theory, its sentences and the landscape and noise entries."""
    record = result_record(result, tol)
    m = record["metrics"]
    noisy = _is_noisy(result.gradient)
    text = [outcome_sentence(result.label, m, steps, tol, objective.f_min is not None, record)]
    path = result.trajectories.positions[: steps_run(record, steps) + 1, result.row]
    where = below_found_minimum(objective, record, tol) or stuck_in_local_minimum(
        objective, record, tol, path
    )
    elsewhere = None if where is not None else _other_minimizer(objective, record, report)
    if where is not None:
        if where[1]["kind"] == "below_found_minimum":
            text = [
                f"{result.label} ran {_steps(steps_run(record, steps))} and ended at loss "
                f"{num(m['loss_final'])}."
            ]
        text.append(where[0])
        th = None  # the modelled minimum is not where this run is
    elif elsewhere is not None:
        text.append(elsewhere)
        th = None  # the theory describes another minimum than the one this run found
    elif th is not None:
        exact = bool(report and report.get("quadratic"))
        text += theory_sentences(th, tol, exact, noisy, near_saddle=saddle is not None)
    floor = None
    if noisy and where is None and elsewhere is None:
        said, floor = noise_entry(objective, model, result, record, th, steps, tol)
        text += said
    escape = None
    if saddle is not None:
        said, escape = saddle_entry(saddle, result, record, steps)
        text += said
    text += measured_sentences(m, th, None if report is None else report["eigenvalues"], noisy)
    return {
        **record,
        "theory": th,
        "text": [" ".join(s.split()) for s in text],  # one line each, whatever went in
        "where": None if where is None else where[1],
        "noise_floor": floor,
        "saddle": escape,
    }
