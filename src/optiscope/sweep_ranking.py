"""Ranking a sweep's rows, and the quadratic theory's optimum beside the best one.

Smaller is better for every rank metric but ``efficiency``; diverged rows come last, then the
metric (NaN last), then ``gap_final`` and ``loss_final`` break ties (:func:`rank_keys`). The
theory's optimum is named only where its closed form holds: gradient descent, heavy ball or
Nesterov with a constant lr and no weight decay or dampening, on a quadratic
(:func:`theory_beside_best`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from optiscope.errors import OptiscopeError

#: Metrics a sweep can be ranked by, and whether larger is better.
RANK_METRICS: dict[str, bool] = {
    "steps_to_tol": False,
    "gap_final": False,
    "loss_final": False,
    "distance_final": False,
    "first_to_tol": False,
    "rate": False,
    "auc": False,
    "zigzag": False,
    "overshoot": False,
    "path_length": False,
    "efficiency": True,
    "evaluations": False,
    "cycle_amplitude": False,
}
DEFAULT_METRIC = "rate"  # the fastest convergence; steps_to_tol ties often (integers)


_THEORY_KEYS = {
    "gd": {"lr": "optimal_lr"},
    "heavy_ball": {"lr": "optimal_lr", "momentum": "optimal_momentum"},
    "nesterov": {"lr": "optimal_lr", "momentum": "optimal_momentum"},
}
_SGD_FAMILY = ("sgd", "momentum", "nesterov")


def _linear_method(frame) -> str | None:
    """Which of the theory's linear methods every row runs: ``"gd"`` (no momentum),
    ``"heavy_ball"`` or ``"nesterov"``; None when the rows mix them, or when a schedule,
    weight decay or dampening puts them outside the optimum's closed form."""
    if str(frame["optimizer"].iloc[0]) not in _SGD_FAMILY:
        return None
    if "schedule" in frame and (frame["schedule"] != "constant").any():
        return None
    if (frame["weight_decay"] != 0).any() or (frame["dampening"] != 0).any():
        return None
    nesterov = frame["nesterov"].astype(bool)
    if nesterov.all():
        return "nesterov"
    if nesterov.any():
        return None
    return "gd" if (frame["momentum"] == 0).all() else "heavy_ball"


def theory_beside_best(frame, metric: str = DEFAULT_METRIC) -> dict[str, Any] | None:
    """The quadratic theory's optimal tuning for the swept method next to the sweep's best.

    On a quadratic (``attrs["theory"]``), when every row runs one of the theory's linear
    methods with a constant lr and no weight decay or dampening (gradient descent: momentum
    0; heavy ball; Nesterov): ``{"method", "mu", "L", "setting" (the optimal
    hyperparameters), "rate" (the predicted optimal rate), "best_rate" (the measured rate of
    the best row by ``metric``, None when it has none), "rate_gap" (best_rate / rate - 1)}``;
    None elsewhere (no theory, an adaptive optimizer, a schedule, mixed methods, no rows).
    """
    theory = frame.attrs.get("theory")
    method = _linear_method(frame) if len(frame) and theory is not None else None
    if method is None:
        return None
    optimum = theory[method]
    best = best_settings(frame, metric, 1)
    measured = float(best["rate"].iloc[0])
    measured = measured if np.isfinite(measured) else None
    names = {"gd": "gradient descent", "heavy_ball": "heavy ball", "nesterov": "Nesterov"}
    return {
        "method": names[method],
        "mu": float(theory["mu"]),
        "L": float(theory["L"]),
        "setting": {name: float(optimum[key]) for name, key in _THEORY_KEYS[method].items()},
        "rate": float(optimum["rate"]),
        "best_rate": measured,
        "rate_gap": None if measured is None else measured / float(optimum["rate"]) - 1.0,
    }


# --- ranking -------------------------------------------------------------------------------


def check_metric(metric: Any) -> str:
    if metric not in RANK_METRICS:
        raise OptiscopeError(f"invalid metric: {metric!r} (valid: {', '.join(RANK_METRICS)})")
    return metric


def rank_keys(frame, metric: str = DEFAULT_METRIC) -> list[np.ndarray]:
    """Sort keys, most significant first, smaller is better: diverged rows last, then
    ``metric`` (NaN/NA last; negated when larger is better), then ``gap_final`` and
    ``loss_final`` to break ties."""
    check_metric(metric)

    def values(name: str, larger_better: bool = False) -> np.ndarray:
        v = frame[name].to_numpy(dtype=np.float64, na_value=np.nan)
        v = -v if larger_better else v
        return np.where(np.isnan(v), np.inf, v)

    diverged = frame["diverged_at"].notna().to_numpy().astype(np.float64)
    return [
        diverged,
        values(metric, RANK_METRICS[metric]),
        values("gap_final"),
        values("loss_final"),
    ]


def best_settings(frame, metric: str = DEFAULT_METRIC, count: int = 10):
    """The ``count`` best rows by ``metric`` (see :func:`rank_keys`), best first."""
    keys = rank_keys(frame, metric)
    order = np.lexsort(keys[::-1])
    return frame.iloc[order[:count]]


def rank_of(frame, record: dict[str, Any], metric: str = DEFAULT_METRIC) -> int:
    """1 + the number of rows of ``frame`` strictly better than ``record`` (a row's values)."""
    import pandas as pd

    keys = rank_keys(frame, metric)
    own = rank_keys(pd.DataFrame([record]), metric)
    better = np.zeros(len(frame), dtype=bool)
    tied = np.ones(len(frame), dtype=bool)
    for key, mine in zip(keys, own, strict=True):
        better |= tied & (key < mine[0])
        tied &= key == mine[0]
    return int(better.sum()) + 1


def note_ranks(frame, metric: str = DEFAULT_METRIC) -> list[dict[str, Any]]:
    """The note's settings (``attrs["note"]``) with their ``metric`` value and rank."""
    return [
        {
            "spec": record["spec"],
            "value": record.get(metric),
            "rank": rank_of(frame, record, metric),
            "of": len(frame),
        }
        for record in frame.attrs.get("note", [])
    ]
