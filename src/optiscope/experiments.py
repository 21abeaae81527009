"""Run several optimizer specs on one function and collect tidy, JSON-ready results.

Specs of the same optimizer family run as ONE batch (one row per spec), so comparing ten
momentum values costs one vectorized run, not ten.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from optiscope import metrics
from optiscope.engine import (
    DIVERGENCE_KINDS,
    Trajectories,
    check_gradient_source,
    check_memory,
    check_steps,
    estimate_memory,
    has_schedule,
    run,
)
from optiscope.errors import OptiscopeError
from optiscope.objectives.base import Objective
from optiscope.optimizers import get_optimizer
from optiscope.optimizers.base import Optimizer
from optiscope.specs import parse_spec, to_float
from optiscope.stochastic import check_noise, examples_used, gradient_source, parse_batch_size


@dataclass(frozen=True)
class RunResult:
    """One optimizer setting's trajectory: row ``row`` of the batch ``trajectories``."""

    spec: str
    optimizer: Optimizer
    settings: dict[str, Any]
    trajectories: Trajectories
    row: int
    gradient: dict[str, Any] = field(default_factory=dict)  # batch_size / noise of this run

    @property
    def settings_label(self) -> str:
        """``"lr=0.1, momentum=0.9, batch_size=1"``: typed or non-default settings."""
        changed = settings_text(self.optimizer, self.settings, self.spec)
        return ", ".join(t for t in (changed, gradient_text(self.gradient)) if t)

    @property
    def label(self) -> str:
        """Short human label: the optimizer's name and its ``settings_label``."""
        text = self.settings_label
        return f"{self.optimizer.name}({text})" if text else self.optimizer.name


#: Spec keys that choose the gradient a run sees rather than the optimizer's arithmetic, so
#: one `compare` can put GD, SGD and mini-batch SGD side by side: sgd:lr=0.1,batch_size=1.
GRADIENT_KEYS = ("batch_size", "noise")


def split_gradient_options(spec: str) -> tuple[str, dict[str, str]]:
    """``"sgd:lr=0.1,batch_size=8"`` -> ``("sgd:lr=0.1", {"batch_size": "8"})``."""
    name, options = parse_spec(spec, "optimizer spec")
    gradient = {k: options.pop(k) for k in GRADIENT_KEYS if k in options}
    if not gradient:
        return spec, {}
    rest = ",".join(f"{k}={v}" for k, v in options.items())
    return (f"{name}:{rest}" if rest else name), gradient


def gradient_text(gradient: dict[str, Any]) -> str:
    """``"batch_size=1, noise=0.1"`` for the stochastic settings that are not the default."""
    parts = []
    if gradient.get("batch_size") not in (None, "full"):
        parts.append(f"batch_size={gradient['batch_size']}")
    if gradient.get("noise"):
        parts.append(f"noise={gradient['noise']:g}")
    return ", ".join(parts)


def settings_text(optimizer: Optimizer, settings: dict[str, Any], spec: str = "") -> str:
    """``"lr=0.1, momentum=0.9"``: the values the spec names or that differ from the defaults."""
    defaults = optimizer.defaults()
    typed = parse_spec(spec)[1] if spec else {}
    return ", ".join(
        f"{k}={_value_text(v)}"
        for k, v in settings.items()
        if k in typed or k not in defaults or v != defaults[k]
    )


def _value_text(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return v
    return f"{v:g}"


def run_specs(
    objective: Objective,
    specs: Sequence[str],
    steps: int = 100,
    start: Sequence[float] | None = None,
    record_state: bool = False,
    noise: float = 0.0,
    batch_size: str | int | None = None,
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> list[RunResult]:
    """Parse and validate every spec first (so a typo costs nothing), then run them grouped.

    ``noise``, ``batch_size`` and ``seed`` make the gradients stochastic (see
    ``optiscope.stochastic``); spec ``i`` uses random stream ``i``, so each run's randomness
    is independent of the others and of how the specs are grouped. ``progress(done, total)``
    reports steps done over all groups.
    """
    if isinstance(specs, str) or not isinstance(specs, Sequence):
        raise OptiscopeError(
            f"specs must be a list of optimizer specs such as ['sgd:lr=0.1'], "
            f"got {type(specs).__name__}"
        )
    check_steps(steps)
    parsed, options = [], []
    for spec in specs:
        optimizer_spec, gradient = split_gradient_options(spec)
        size = parse_batch_size(gradient.get("batch_size", batch_size))
        sigma = check_noise(to_float(gradient["noise"], "noise") if "noise" in gradient else noise)
        source = gradient_source(objective, sigma, size, seed)  # validates before anything runs
        optimizer, settings = get_optimizer(optimizer_spec)
        check_gradient_source(optimizer, source is not None)  # e.g. lbfgs with noise
        parsed.append((spec, optimizer, settings))
        options.append({"batch_size": "full" if size is None else size, "noise": sigma})
    groups: dict[tuple[str, Any, float], list[int]] = {}
    for i, (_, optimizer, _) in enumerate(parsed):
        key = (optimizer.name, options[i]["batch_size"], options[i]["noise"])
        groups.setdefault(key, []).append(i)
    _check_memory_of_groups(
        objective, [[parsed[i] for i in ix] for ix in groups.values()], steps, record_state
    )
    results: list[RunResult | None] = [None] * len(parsed)
    total = steps * len(groups)
    for g, ((_, size, sigma), indices) in enumerate(groups.items()):
        optimizer = parsed[indices[0]][1]
        report_step = None if progress is None else _offset(progress, g * steps, total)
        traj = run(
            objective,
            optimizer,
            [parsed[i][2] for i in indices],
            steps=steps,
            start=start,
            record_state=record_state,
            gradient=gradient_source(objective, sigma, size, seed, np.array(indices)),
            progress=report_step,
        )
        for row, i in enumerate(indices):
            spec, _, settings = parsed[i]
            results[i] = RunResult(spec, optimizer, settings, traj, row, options[i])
    return [r for r in results if r is not None]


def _check_memory_of_groups(
    objective: Objective,
    groups: Sequence[Sequence[tuple[str, Optimizer, dict[str, Any]]]],
    steps: int,
    record_state: bool,
) -> None:
    """Refuse, before anything runs, a comparison whose groups together would not fit in
    memory: every group's trajectories are kept until the end (``engine.estimate_memory``).

    ``groups``: the parsed ``(spec, optimizer, settings)`` of each batch that will run.
    """
    needed = 0
    for group in groups:
        optimizer, settings = group[0][1], [p[2] for p in group]
        fields = len(optimizer.plot_state) if record_state else 0
        schedule = has_schedule(settings)
        needed += estimate_memory(steps, len(group), objective.dim, fields, schedule=schedule)
    check_memory(needed, f"{steps} steps x {sum(len(g) for g in groups)} settings")


def _offset(
    progress: Callable[[int, int], None], done_before: int, total: int
) -> Callable[[int], None]:
    """Turn one group's step count into steps done over the whole comparison."""
    return lambda k: progress(done_before + k, total)


def result_record(
    result: RunResult, tol: float = metrics.DEFAULT_TOL, with_path: bool = False
) -> dict[str, Any]:
    """The JSON object of one run: optimizer, every hyperparameter, final point and metrics.

    How the run ended:

    - ``stopped_at``: the step at which the optimizer's own stopping test stopped the row
      (L-BFGS), None if it ran every step; ``stop_reason`` the test's name (e.g.
      ``"tolerance_grad"``, ``"tolerance_change"``) and ``stop_text`` its plain phrase with
      the row's tolerance, both None without a stop. A stop is not a convergence: compare
      ``loss_final`` with ``f_min``;
    - ``diverged_at`` and ``divergence``: None, or ``{"step", "kind", "radius", "point"}``:
      ``kind`` ``"left_box"`` (the new point was finite but farther than ``radius``, 1e6 plot
      radii; ``point`` is that point) or ``"non_finite"`` (the point, loss or gradient
      overflowed or became NaN; ``point`` is the last good point);
    - ``steps_run``: the steps actually taken: ``stopped_at``, ``diverged_at - 1`` or all.

    ``evaluations`` counts gradient evaluations (a mini-batch gradient counts as one);
    ``examples`` counts the training examples those evaluations read, the honest cost on a
    data objective: N per evaluation for the full gradient, the mini-batch sizes for SGD (see
    ``stochastic.examples_used``); None on a test function, which has no examples.
    """
    traj, b = result.trajectories, result.row
    summary = metrics.summary(traj.row(b), tol)[0]
    stopped_at = _step_or_none(traj.converged_at[b])
    reason, text = stop_reason(traj, b)
    record: dict[str, Any] = {
        "optimizer": result.optimizer.name,
        "spec": result.spec,
        "params": dict(result.settings),
        "settings": result.settings_label,
        **result.gradient,
        "x_final": [float(v) for v in traj.positions[-1, b]],
        "loss_final": summary["loss_final"],
        "diverged_at": summary["diverged_at"],
        "divergence": divergence(traj, b),
        "stopped_at": stopped_at,
        "stop_reason": reason,
        "stop_text": text,
        "steps_run": steps_run(traj, b),
        "evaluations": int(traj.evaluations[-1, b]),
        "examples": _examples(result),
        "evaluations_to_tol": _evaluations_at(traj, b, summary["steps_to_tol"]),
        "metrics": summary,
    }
    if with_path:
        record["path"] = traj.positions[:, b].tolist()
    return record


def _examples(result: RunResult) -> int | None:
    """Training examples the run's gradients read (None on a test function)."""
    traj, b = result.trajectories, result.row
    size = parse_batch_size(result.gradient.get("batch_size"))
    examples = getattr(traj.objective, "examples", None)
    return examples_used(examples, size, int(traj.evaluations[-1, b]))


def _step_or_none(step: Any) -> int | None:
    return None if step < 0 else int(step)


def stop_reason(traj: Trajectories, b: int) -> tuple[str | None, str | None]:
    """``(name, phrase)`` of the test that stopped row ``b``; ``(None, None)`` without a stop.

    The phrase is the optimizer's template filled in with the row's settings; a code the
    optimizer did not declare reads ``("code N", "the optimizer's stopping test N")``.
    """
    code = int(traj.stop_codes[b])
    if traj.converged_at[b] < 0 or code <= 0:
        return None, None
    name, template = traj.stop_reasons.get(
        code, (f"code {code}", f"the optimizer's stopping test {code}")
    )
    return name, template.format(**traj.settings[b])


def divergence(traj: Trajectories, b: int) -> dict[str, Any] | None:
    """``{"step", "kind", "radius", "point"}`` for a row that diverged, else None (see
    ``result_record``); ``kind`` and ``point`` are None when the trajectories do not say."""
    step = int(traj.diverged_at[b])
    if step < 0:
        return None
    point = traj.divergence_point[b]
    radius = float(traj.escape_radius)
    return {
        "step": step,
        "kind": DIVERGENCE_KINDS[int(traj.divergence_kind[b])],
        "radius": radius if np.isfinite(radius) else None,
        "point": [float(v) for v in point] if np.isfinite(point).all() else None,
    }


def steps_run(traj: Trajectories, b: int) -> int:
    """The steps row ``b`` actually took: to its stop, to the step before it diverged, or all."""
    if traj.converged_at[b] >= 0:
        return int(traj.converged_at[b])
    if traj.diverged_at[b] >= 0:
        return int(traj.diverged_at[b]) - 1
    return traj.steps


def _evaluations_at(traj: Trajectories, b: int, step: int | None) -> int | None:
    """Function+gradient evaluations used up to ``step`` (None when the step is None)."""
    return None if step is None else int(traj.evaluations[step, b])


def report(
    objective: Objective,
    results: Sequence[RunResult],
    steps: int,
    start: Sequence[float] | np.ndarray,
    tol: float = metrics.DEFAULT_TOL,
    with_path: bool = False,
) -> dict[str, Any]:
    """The whole comparison as one JSON-ready object (the ``--json`` schema).

    ``minimum_note`` (present only when the objective has one) says where ``f_min`` and the
    minimizers come from when they are not the catalogue's (``Objective.minimum_note``).
    """
    data: dict[str, Any] = {
        "function": objective.name,
        "formula": objective.formula,
        "f_min": objective.f_min,
    }
    if objective.minimum_note:
        data["minimum_note"] = objective.minimum_note
    data |= {
        "steps": steps,
        "start": [float(v) for v in start],
        "tol": tol,
        "runs": [result_record(r, tol, with_path) for r in results],
    }
    return data
