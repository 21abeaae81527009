"""The catalogues the page builds its controls from: functions and optimizers, as JSON.

Both are the same for every request: built once per process (``functions_json``,
``optimizers_json`` are cached) from optiscope's registries, never written by hand.
A slider's ``scale`` and ``slider`` range are the tuner's (``optiscope.tune_space.RANGES``:
lr 1e-5..10 on a log scale, momentum-like factors 0..0.9999 on a log scale of 1 - x);
a hyperparameter the tuner has no range for gets a linear slider over its valid interval
when that is bounded, else none.
"""

from __future__ import annotations

import functools
import math
from typing import Any

from optiscope.objectives import FUNCTIONS, get_objective
from optiscope.objectives.registry import FunctionEntry, Param
from optiscope.optimizers import OPTIMIZERS, get_optimizer
from optiscope.optimizers.base import HyperParam, Optimizer
from optiscope.output import json_safe
from optiscope.schedules import PARAMS as SCHEDULE_PARAMS
from optiscope.schedules import SCHEDULES
from optiscope.tune_space import NESTEROV_MIN_MOMENTUM, RANGES, SGD_FAMILY


@functools.cache
def functions_json() -> dict[str, Any]:
    """``{"functions": [...]}``: every 2-D catalogue function at its default parameters."""
    get_objective("iso")  # loads the catalogue
    entries = []
    for entry in FUNCTIONS.values():
        objective = entry.factory()
        if objective.dim == 2:
            entries.append(_function_entry(entry, objective))
    return json_safe({"functions": entries})


def _function_entry(entry: FunctionEntry, objective) -> dict[str, Any]:
    return {
        "name": entry.name,
        "summary": entry.summary,
        "formula": objective.formula,
        "latex": objective.latex,
        "description": objective.description,
        "bounds": [list(b) for b in objective.bounds],
        "start": list(objective.start),
        "minimizers": objective.minimizers.tolist(),
        "f_min": objective.f_min,
        "params": [_param_entry(p) for p in entry.params],
    }


def _param_entry(p: Param) -> dict[str, Any]:
    return {
        "name": p.name,
        "default": p.default,
        "meaning": p.meaning,
        "low": p.low,
        "high": p.high,
        "low_open": p.low_open,
        "kind": p.kind,
        "choices": list(p.choices),
    }


@functools.cache
def optimizers_json() -> dict[str, Any]:
    """``{"optimizers": [...], "schedules": [...]}``: every optimizer's hyperparameters with
    their torch defaults, meanings, valid ranges and slider scales; the lr schedules."""
    get_optimizer("sgd")  # loads the catalogue
    return json_safe(
        {
            "optimizers": [_optimizer_entry(o) for o in OPTIMIZERS.values()],
            "schedules": [_schedule_entry(s) for s in SCHEDULES.values()],
        }
    )


def _optimizer_entry(optimizer: Optimizer) -> dict[str, Any]:
    return {
        "name": optimizer.name,
        "summary": optimizer.summary,
        "hyperparams": [
            _hyperparam_entry(optimizer, h) for h in (*optimizer.hyperparams, *optimizer.options)
        ],
        "state": {name: optimizer.state_meanings.get(name, "") for name in optimizer.plot_state},
    }


def _hyperparam_entry(optimizer: Optimizer, h: HyperParam) -> dict[str, Any]:
    scale, slider = slider_of(optimizer, h)
    return {
        "name": h.name,
        "default": h.default,
        "kind": h.kind,
        "meaning": h.meaning,
        "low": h.low,
        "high": h.high,
        "low_open": h.low_open,
        "high_open": h.high_open,
        "choices": list(h.choices),
        "scale": scale,
        "slider": slider,
    }


def slider_of(optimizer: Optimizer, h: HyperParam) -> tuple[str | None, list[float] | None]:
    """``(scale, [low, high])`` of a slider for ``h``; ``(None, None)`` for flags and choices."""
    if h.kind in ("bool", "choice"):
        return None, None
    if h.name in RANGES:
        scale, low, high = RANGES[h.name]
        nesterov = optimizer.name in SGD_FAMILY and bool(optimizer.defaults().get("nesterov"))
        if h.name == "momentum" and nesterov:
            low = NESTEROV_MIN_MOMENTUM  # Nesterov needs momentum > 0
        return scale, [low, high]
    bounded = h.low is not None and h.high is not None
    if bounded and math.isfinite(h.low) and math.isfinite(h.high):
        return "linear", [h.low, h.high]
    return None, None


def _schedule_entry(schedule) -> dict[str, Any]:
    return {
        "name": schedule.name,
        "rule": schedule.rule,
        "torch": schedule.torch,
        "example": schedule.example,
        "keys": [
            {
                "name": key,
                "default": default,
                "meaning": SCHEDULE_PARAMS[key].meaning,
                "kind": SCHEDULE_PARAMS[key].kind,
                "low": SCHEDULE_PARAMS[key].low,
                "high": SCHEDULE_PARAMS[key].high,
            }
            for key, default in schedule.keys.items()
        ],
    }
