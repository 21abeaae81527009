"""Learning-rate schedules: the lr each step uses, per trajectory, for every optimizer.

Any optimizer spec takes ``schedule=NAME`` and that schedule's keys, e.g.
``sgd:lr=0.5,schedule=step,step_size=20,gamma=0.5``; ``lr`` is the lr of the first step.
Optimizer step ``t = 1, 2, ...`` uses the lr after ``e = t - 1`` calls of torch's
``scheduler.step()`` (torch's ``last_epoch``), the usual loop
``for t: opt.step(); sched.step()``::

    schedule      lr used at step t (e = t - 1)              torch.optim.lr_scheduler
    constant      lr                                         (no scheduler)
    step          lr * gamma^floor(e / step_size)            StepLR(step_size, gamma=0.1)
    exponential   lr * gamma^e                               ExponentialLR(gamma)
    cosine        eta_min + (lr - eta_min)                   CosineAnnealingLR(T_max, eta_min=0)
                    * (1 + cos(pi * e / T_max)) / 2
    inverse_time  lr / (1 + decay * e)                       LambdaLR(lambda e: 1/(1 + decay*e))
    inverse_sqrt  lr * sqrt(warmup / max(t, warmup))         none (a LambdaLR of that factor)

The numbers are torch's, not only its formulas: StepLR and ExponentialLR multiply the current
lr by gamma (a running product, reproduced with a sequential ``cumprod``), and
CosineAnnealingLR uses its recursion
``lr_e = eta_min + (lr_{e-1} - eta_min) (1 + cos(pi e/T_max)) / (1 + cos(pi (e-1)/T_max))``
with its own restart term when ``(e - 1 - T_max) % (2 T_max) == 0``; it equals the closed form
above to rounding, reaches eta_min at step ``T_max + 1`` and then rises again (period
``2 T_max``), as torch's does. ``inverse_time`` is Adagrad's ``lr_decay`` rule. ``inverse_sqrt``
holds lr for the first ``warmup`` steps, then decays as ``1/sqrt(t)`` (warmup = 1: lr/sqrt(t)).

Validation (decided here, stricter than torch where torch accepts nonsense): step_size, T_max
and warmup are integers from 1 to ``MAX_PERIOD`` = 10**9 (ten thousand times the longest run,
engine.MAX_STEPS = 100000, so any larger value would mean the same as 10**9 for every run,
while values near 2**63 overflow the integer step arithmetic); gamma is in (0, 1] (these are
decays); decay >= 0 (a huge decay makes the lr underflow to 0 after step 1);
0 <= eta_min <= lr. A schedule key without ``schedule=``, or one that the chosen schedule
does not take, is an error. step_size, gamma (exponential), T_max and decay have no torch
default and must be given.

Under a schedule, momentum forms that agree for a constant lr differ (see ``optimizers/sgd.py``,
``momentum_form``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from optiscope.errors import OptiscopeError
from optiscope.optimizers.base import HyperParam, _fmt

MAX_PERIOD = 10**9  # step_size, T_max, warmup: longer than any run (engine.MAX_STEPS = 1e5)


@dataclass(frozen=True)
class Schedule:
    """One schedule: its keys with their defaults (None: required), rule, torch counterpart."""

    name: str
    keys: dict[str, float | int | None]
    rule: str
    torch: str
    example: str


SCHEDULES: dict[str, Schedule] = {
    s.name: s
    for s in (
        Schedule("constant", {}, "lr", "no scheduler", "schedule=constant"),
        Schedule(
            "step",
            {"step_size": None, "gamma": 0.1},
            "lr * gamma^floor((t-1)/step_size)",
            "StepLR",
            "schedule=step,step_size=20,gamma=0.5",
        ),
        Schedule(
            "exponential",
            {"gamma": None},
            "lr * gamma^(t-1)",
            "ExponentialLR",
            "schedule=exponential,gamma=0.95",
        ),
        Schedule(
            "cosine",
            {"T_max": None, "eta_min": 0.0},
            "eta_min + (lr-eta_min)*(1+cos(pi*(t-1)/T_max))/2",
            "CosineAnnealingLR",
            "schedule=cosine,T_max=100",
        ),
        Schedule(
            "inverse_time",
            {"decay": None},
            "lr / (1 + decay*(t-1))",
            "LambdaLR; Adagrad's lr_decay",
            "schedule=inverse_time,decay=0.1",
        ),
        Schedule(
            "inverse_sqrt",
            {"warmup": 1},
            "lr * sqrt(warmup / max(t, warmup))",
            "none",
            "schedule=inverse_sqrt,warmup=10",
        ),
    )
}

SCHEDULE = HyperParam(
    "schedule",
    "constant",
    "learning-rate schedule; lr is the lr of step 1",
    kind="choice",
    choices=tuple(SCHEDULES),
)
PARAMS: dict[str, HyperParam] = {
    h.name: h
    for h in (
        SCHEDULE,
        HyperParam("step_size", 1, "step: lr is multiplied by gamma every step_size steps",
                   low=1, high=MAX_PERIOD, kind="int"),
        HyperParam("gamma", 0.1, "step, exponential: the decay factor", low=0.0, low_open=True,
                   high=1.0),
        HyperParam("T_max", 1, "cosine: steps from lr down to eta_min (a half period)", low=1,
                   high=MAX_PERIOD, kind="int"),
        HyperParam("eta_min", 0.0, "cosine: the lowest lr (at step T_max + 1), <= lr", low=0.0),
        HyperParam("decay", 0.0, "inverse_time: lr / (1 + decay*(t-1))", low=0.0),
        HyperParam("warmup", 1, "inverse_sqrt: steps held at lr before the 1/sqrt(t) decay",
                   low=1, high=MAX_PERIOD, kind="int"),
    )
}  # fmt: skip
#: Every schedule key, in listing order; any optimizer accepts them.
KEYS: tuple[str, ...] = tuple(PARAMS)


def _users(key: str) -> str:
    return ", ".join(s.name for s in SCHEDULES.values() if key in s.keys)


def resolve(options: Mapping[str, Any], lr: float | None) -> dict[str, Any]:
    """The schedule part of a setting from the spec's schedule keys (strings are parsed).

    Returns ``{}`` when no schedule key was given, else ``{"schedule": NAME, key: value, ...}``
    with the chosen schedule's keys only, defaults filled in; raises OptiscopeError.
    """
    if not options:
        return {}
    values: dict[str, Any] = {}
    for key, raw in options.items():
        h = PARAMS[key]
        values[key] = h.convert(raw) if isinstance(raw, str) else raw
    name = values.get("schedule")
    setting: dict[str, Any] = {} if name is None else {"schedule": name}
    if name in SCHEDULES:
        for key, default in SCHEDULES[name].keys.items():
            if key in values or default is not None:
                setting[key] = values.get(key, default)
    for key, value in values.items():
        setting.setdefault(key, value)  # keys foreign to the schedule: check() names them
    if lr is None and name not in (None, "constant"):
        raise OptiscopeError("a learning-rate schedule needs an optimizer with an lr")
    check({**setting, "lr": lr})
    for key in setting:
        if PARAMS[key].kind == "int":
            setting[key] = int(setting[key])
    return setting


def check(setting: Mapping[str, Any]) -> str:
    """Validate the schedule part of a complete setting; return the schedule's name."""
    name = _check_keys(setting)
    schedule = SCHEDULES[name]
    values = {k: np.array([float(setting.get(k, d))]) for k, d in schedule.keys.items()}
    lr = setting.get("lr")
    _check_values(name, values, np.array([np.nan if lr is None else float(lr)]))
    return name


def _check_keys(setting: Mapping[str, Any]) -> str:
    """The structural checks of :func:`check` (name, foreign and missing keys); the name."""
    present = [k for k in KEYS[1:] if k in setting]
    if "schedule" not in setting:
        if present:
            key = present[0]
            raise OptiscopeError(
                f"{key} needs a learning-rate schedule: add schedule=NAME "
                f"(schedules that take {key}: {_users(key)})"
            )
        return "constant"
    name = setting["schedule"]
    SCHEDULE.encode(name)  # unknown name: lists the valid ones
    schedule = SCHEDULES[name]
    for key in present:
        if key not in schedule.keys:
            takes = ", ".join(schedule.keys) or "no keys"
            raise OptiscopeError(
                f"{key} does not apply to schedule={name} (it takes {takes}; "
                f"schedules that take {key}: {_users(key)})"
            )
    for key, default in schedule.keys.items():
        if default is None and key not in setting:
            raise OptiscopeError(f"schedule={name} needs {key} (e.g. {schedule.example})")
    return name


def _check_values(name: str, values: Mapping[str, np.ndarray], lr: np.ndarray) -> None:
    """The range checks of :func:`check`, column-wise: ``values[key]`` and ``lr`` are ``[b]``
    (lr NaN where the setting has none); names the first bad value."""
    for key in SCHEDULES[name].keys:
        PARAMS[key].check(values[key])
    if name == "cosine":
        bad = values["eta_min"] > lr  # NaN (no lr) compares False
        if bad.any():
            i = int(np.argmax(bad))
            raise OptiscopeError(
                f"invalid eta_min: {_fmt(values['eta_min'][i])} "
                f"(valid: 0 <= eta_min <= lr = {_fmt(lr[i])})"
            )


def learning_rates(settings: Sequence[Mapping[str, Any]], steps: int) -> np.ndarray | None:
    """``[S, B]``: the lr step ``t = 1..S`` of trajectory b uses, or None when every
    trajectory keeps its lr (no schedule, or ``schedule=constant``). Rows may use different
    schedules. Raises OptiscopeError for an invalid schedule in any setting.

    Validation is column-wise: the keys once per group of rows that name the same schedule
    and keys, the values once per column, so a sweep of 40,000 settings checks fast."""
    groups: dict[tuple[Any, tuple[str, ...]], list[int]] = {}
    for b, s in enumerate(settings):
        shape = (s.get("schedule"), tuple(k for k in KEYS[1:] if k in s))
        groups.setdefault(shape, []).append(b)
    by_name: dict[str, list[int]] = {}
    for rows in groups.values():
        by_name.setdefault(_check_keys(settings[rows[0]]), []).extend(rows)
    if set(by_name) <= {"constant"}:
        return None
    table = np.empty((steps, len(settings)), dtype=np.float64)
    for name, rows in by_name.items():
        rows.sort()
        lr = np.array([float(settings[b]["lr"]) for b in rows], dtype=np.float64)  # [b]
        params = {
            key: np.array([float(settings[b].get(key, default)) for b in rows])
            for key, default in SCHEDULES[name].keys.items()
        }
        _check_values(name, params, lr)
        table[:, rows] = schedule_table(name, lr, params, steps)
    return table


def schedule_table(
    name: str, lr: np.ndarray, params: Mapping[str, np.ndarray], steps: int
) -> np.ndarray:
    """``[S, b]`` lrs for ``b`` rows of one schedule (``lr`` and each param ``[b]``)."""
    e = np.arange(steps)[:, None]  # [S, 1] scheduler steps before optimizer step t = e + 1
    lr = np.asarray(lr, dtype=np.float64)[None, :]  # [1, b]
    if name == "constant":
        return np.repeat(lr, steps, axis=0)
    if name in ("step", "exponential"):
        if name == "step":
            size = params["step_size"].astype(np.int64)[None, :]
            decays = (e > 0) & (e % size == 0)
        else:
            decays = np.broadcast_to(e > 0, (steps, lr.shape[1]))
        factors = np.where(decays, params["gamma"][None, :], 1.0)  # [S, b]
        factors[0] = lr[0]
        return np.cumprod(factors, axis=0)  # sequential: torch's lr = lr * gamma, step by step
    if name == "cosine":
        return _cosine(lr[0], params["T_max"].astype(np.int64), params["eta_min"], steps)
    if name == "inverse_time":
        return lr / (1.0 + params["decay"][None, :] * e)
    if name == "inverse_sqrt":
        warmup = params["warmup"][None, :]
        return lr * np.sqrt(warmup / np.maximum(e + 1.0, warmup))
    raise OptiscopeError(f"unknown schedule {name!r}")  # unreachable after check()


def _cosine(base: np.ndarray, t_max: np.ndarray, eta_min: np.ndarray, steps: int) -> np.ndarray:
    """torch's CosineAnnealingLR.get_lr recursion, operation for operation ([S, b]).

    The cosines come from ``math.cos`` like torch's (NumPy's vectorized cos may differ in the
    last bit), one ``[S, U]`` table for the U distinct T_max values; ``pi * k / T_max`` is
    formed with the same two roundings as torch's Python expression.
    """
    distinct, column = np.unique(t_max, return_inverse=True)  # [U], [b]: t_max = distinct[column]
    periods = distinct.astype(np.float64)  # exact: T_max <= MAX_PERIOD < 2**53
    angles = (math.pi * np.arange(steps, dtype=np.float64))[:, None] / periods[None, :]  # [S, U]
    table = np.fromiter(map(math.cos, angles.ravel()), np.float64, angles.size)
    cos = table.reshape(angles.shape)[:, column]  # [S, b] cos(pi*e/T_max)
    first = np.fromiter(map(math.cos, math.pi / periods), np.float64, periods.size)  # [U]
    restart = (base - eta_min) * (1 - first[column]) / 2  # [b]
    out = np.empty((steps, base.shape[0]))
    out[0] = base
    with np.errstate(divide="ignore", invalid="ignore"):  # the restart rows divide by 0
        for k in range(1, steps):
            prev = out[k - 1]
            rising = (k - 1 - t_max) % (2 * t_max) == 0
            annealed = (1 + cos[k]) / (1 + cos[k - 1]) * (prev - eta_min) + eta_min
            out[k] = np.where(rising, prev + restart, annealed)
    return out


def describe() -> list[str]:
    """Lines for ``optiscope optimizers``: every schedule, then every schedule key."""
    lines = [
        "schedules (any optimizer): add schedule=NAME and its keys to the OPTSPEC, e.g. "
        "sgd:lr=0.5,schedule=step,step_size=20,gamma=0.5; step t = 1, 2, ... uses",
    ]
    for s in SCHEDULES.values():
        keys = ", ".join(
            f"{k} (required)" if d is None else f"{k}={d:g}" for k, d in s.keys.items()
        )
        torch = "" if s.torch in ("none", "no scheduler") else f"  [torch {s.torch}]"
        lines.append(f"  {s.name:<13} {s.rule:<50}{keys}{torch}")
    lines.append("  schedule keys:")
    width = max(len(h.describe_range()) for h in PARAMS.values())
    for h in PARAMS.values():
        lines.append(f"    {h.name:<10} valid: {h.describe_range():<{width}}  {h.meaning}")
    return lines
