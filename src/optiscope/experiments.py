"""Run several optimizer specs on one function and collect tidy, JSON-ready results.

Specs of the same optimizer family run as ONE batch (one row per spec), so comparing ten
momentum values costs one vectorized run, not ten.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from optiscope import metrics
from optiscope.engine import Trajectories, run
from optiscope.objectives.base import Objective
from optiscope.optimizers import get_optimizer
from optiscope.optimizers.base import Optimizer
from optiscope.specs import parse_spec
from optiscope.stochastic import gradient_source


@dataclass(frozen=True)
class RunResult:
    """One optimizer setting's trajectory: row ``row`` of the batch ``trajectories``."""

    spec: str
    optimizer: Optimizer
    settings: dict[str, Any]
    trajectories: Trajectories
    row: int

    @property
    def label(self) -> str:
        """Short human label: the name and the settings typed or differing from the defaults."""
        changed = settings_text(self.optimizer, self.settings, self.spec)
        return f"{self.optimizer.name}({changed})" if changed else self.optimizer.name


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
) -> list[RunResult]:
    """Parse and validate every spec first (so a typo costs nothing), then run them grouped.

    ``noise``, ``batch_size`` and ``seed`` make the gradients stochastic (see
    ``optiscope.stochastic``); spec ``i`` uses random stream ``i``, so each run's randomness
    is independent of the others and of how the specs are grouped.
    """
    parsed = [(spec, *get_optimizer(spec)) for spec in specs]
    gradient_source(objective, noise, batch_size, seed)  # validates before anything runs
    groups: dict[str, list[int]] = {}
    for i, (_, optimizer, _) in enumerate(parsed):
        groups.setdefault(optimizer.name, []).append(i)
    results: list[RunResult | None] = [None] * len(parsed)
    for indices in groups.values():
        optimizer = parsed[indices[0]][1]
        traj = run(
            objective,
            optimizer,
            [parsed[i][2] for i in indices],
            steps=steps,
            start=start,
            record_state=record_state,
            gradient=gradient_source(objective, noise, batch_size, seed, np.array(indices)),
        )
        for row, i in enumerate(indices):
            spec, _, settings = parsed[i]
            results[i] = RunResult(spec, optimizer, settings, traj, row)
    return [r for r in results if r is not None]


def result_record(
    result: RunResult, tol: float = metrics.DEFAULT_TOL, with_path: bool = False
) -> dict[str, Any]:
    """The JSON object of one run: optimizer, every hyperparameter, final point and metrics."""
    traj, b = result.trajectories, result.row
    summary = metrics.summary(traj.row(b), tol)[0]
    record: dict[str, Any] = {
        "optimizer": result.optimizer.name,
        "spec": result.spec,
        "params": dict(result.settings),
        "x_final": [float(v) for v in traj.positions[-1, b]],
        "loss_final": summary["loss_final"],
        "diverged_at": summary["diverged_at"],
        "converged_at": _step_or_none(traj.converged_at[b]),
        "evaluations": int(traj.evaluations[-1, b]),
        "evaluations_to_tol": _evaluations_at(traj, b, summary["steps_to_tol"]),
        "metrics": summary,
    }
    if with_path:
        record["path"] = traj.positions[:, b].tolist()
    return record


def _step_or_none(step: Any) -> int | None:
    return None if step < 0 else int(step)


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
    """The whole comparison as one JSON-ready object (the ``--json`` schema)."""
    return {
        "function": objective.name,
        "formula": objective.formula,
        "f_min": objective.f_min,
        "steps": steps,
        "start": [float(v) for v in start],
        "tol": tol,
        "runs": [result_record(r, tol, with_path) for r in results],
    }
