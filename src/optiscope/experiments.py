"""Run several optimizer specs on one function and collect tidy, JSON-ready results.

Specs of the same optimizer family run as ONE batch (one row per spec), so comparing ten
momentum values costs one vectorized run, not ten.

**Repeats.** ``run_specs(..., starts=K, seeds=R)`` runs every spec K x R times in its group's
batch: from K start points (the given start, or the function's own, then K - 1 drawn uniformly
in the function's plot box ``objective.bounds`` by :func:`draw_starts`, seeded by ``seed``)
under R noise seeds (stochastic gradients only). Rows of a group are spec-major, then start,
then seed: the spec at position ``p`` of its group has rows ``p*K*R + k*R + r``. Repeat
``(k, r)`` of spec ``i`` (of ``n`` specs) reads random stream ``i + n*r``: seed index 0 is the
stream the spec has without repeats, so the first repeat of every spec is exactly the run it
would be alone (K = R = 1 changes nothing), and every start of one seed index sees the same
noise (only the start differs). ``RunResult.repeats`` lists each spec's repeats;
``spec_record`` adds them and their spread (``optiscope.repeats``) to the JSON.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
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
from optiscope.repeats import median_and_spread, spread_name
from optiscope.specs import parse_spec, to_float
from optiscope.stochastic import check_noise, examples_used, gradient_source, parse_batch_size

MAX_STARTS = 64  # start points per spec (the tune command's limit too)
MAX_SEEDS = 64  # noise seeds per spec


@dataclass(frozen=True)
class Repeat:
    """One of a spec's runs: row ``row`` of its batch, from start ``start_index`` (the point
    ``start``) under noise seed ``seed_index``, reading random stream ``stream``."""

    row: int
    start_index: int
    seed_index: int
    stream: int
    start: tuple[float, ...]


@dataclass(frozen=True)
class RunResult:
    """One optimizer setting's trajectory: row ``row`` of the batch ``trajectories``.

    ``repeats``: every run of the spec (from several starts, under several noise seeds) in the
    same batch, the first being ``row``; empty or one entry for a single run.
    """

    spec: str
    optimizer: Optimizer
    settings: dict[str, Any]
    trajectories: Trajectories
    row: int
    gradient: dict[str, Any] = field(default_factory=dict)  # batch_size / noise of this run
    repeats: tuple[Repeat, ...] = ()

    @property
    def rows(self) -> tuple[int, ...]:
        """The batch rows of every repeat, the first being ``row``."""
        return tuple(r.row for r in self.repeats) if self.repeats else (self.row,)

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
    starts: int = 1,
    seeds: int = 1,
    engine: str = "auto",
) -> list[RunResult]:
    """Parse and validate every spec first (so a typo costs nothing), then run them grouped.

    ``noise``, ``batch_size`` and ``seed`` make the gradients stochastic (see
    ``optiscope.stochastic``); spec ``i`` uses random stream ``i``, so each run's randomness
    is independent of the others and of how the specs are grouped. ``progress(done, total)``
    reports steps done over all groups.

    ``starts`` (K, 1 to ``MAX_STARTS``) and ``seeds`` (R, 1 to ``MAX_SEEDS``; above 1 only
    when some run has stochastic gradients) run every spec K x R times in its group's one
    batch (see the module notes for the rows, starts and streams); each result's
    ``repeats`` lists them. With K = R = 1 the results are exactly the single runs.
    ``engine``: ``engine.run``'s choice of engine for every group.
    """
    if isinstance(specs, str) or not isinstance(specs, Sequence):
        raise OptiscopeError(
            f"specs must be a list of optimizer specs such as ['sgd:lr=0.1'], "
            f"got {type(specs).__name__}"
        )
    check_steps(steps)
    count_k, count_r = check_repeat_counts(starts, seeds)
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
    check_seeds_need_noise(count_r, options)
    points = _start_points(objective, start, count_k, seed)
    groups: dict[tuple[str, Any, float], list[int]] = {}
    for i, (_, optimizer, _) in enumerate(parsed):
        key = (optimizer.name, options[i]["batch_size"], options[i]["noise"])
        groups.setdefault(key, []).append(i)
    _check_memory_of_groups(
        objective,
        [[parsed[i] for i in ix] for ix in groups.values()],
        steps,
        record_state,
        count_k * count_r,
    )
    results: list[RunResult | None] = [None] * len(parsed)
    total = steps * len(groups)
    for g, ((_, size, sigma), indices) in enumerate(groups.items()):
        optimizer = parsed[indices[0]][1]
        report_step = None if progress is None else _offset(progress, g * steps, total)
        repeats = [_repeats_of(i, p, len(parsed), points, count_r) for p, i in enumerate(indices)]
        flat = [rep for spec_repeats in repeats for rep in spec_repeats]
        traj = run(
            objective,
            optimizer,
            [parsed[i][2] for i in indices for _ in range(count_k * count_r)],
            steps=steps,
            # one start: passed on as without repeats (K = R = 1 is exactly the single run)
            start=start if points is None else np.array([rep.start for rep in flat]),
            record_state=record_state,
            gradient=gradient_source(
                objective, sigma, size, seed, np.array([rep.stream for rep in flat])
            ),
            progress=report_step,
            engine=engine,
        )
        for p, i in enumerate(indices):
            spec, _, settings = parsed[i]
            rows = tuple(_with_start(rep, traj) for rep in repeats[p])
            results[i] = RunResult(spec, optimizer, settings, traj, rows[0].row, options[i], rows)
    return [r for r in results if r is not None]


def _with_start(repeat: Repeat, traj: Trajectories) -> Repeat:
    """The repeat with its start point read from the trajectories when it was not known."""
    if repeat.start:
        return repeat
    return replace(repeat, start=tuple(float(v) for v in traj.positions[0, repeat.row]))


def check_repeat_counts(starts: Any, seeds: Any) -> tuple[int, int]:
    """``(starts, seeds)`` as ints, each checked against its limit."""
    return (
        check_count(starts, "starts", MAX_STARTS, " start points per spec"),
        check_count(seeds, "seeds", MAX_SEEDS, " noise seeds per spec"),
    )


def check_count(value: Any, name: str, largest: int, unit: str) -> int:
    """``value`` as an int when it is a whole number from 1 to ``largest``; OptiscopeError
    naming it and the valid range (``unit`` follows the range in the message) otherwise."""
    if (
        isinstance(value, bool)
        or not isinstance(value, int | np.integer)
        or not (1 <= value <= largest)
    ):
        raise OptiscopeError(f"invalid {name}: {value!r} (valid: 1 to {largest}{unit})")
    return int(value)


def check_seeds_need_noise(seeds: int, options: Sequence[dict[str, Any]]) -> None:
    """Refuse R > 1 noise seeds when no run has stochastic gradients (every seed would give
    the same run)."""
    stochastic = any(o["noise"] > 0 or o["batch_size"] != "full" for o in options)
    if seeds > 1 and not stochastic:
        raise OptiscopeError(
            f"invalid seeds: {seeds} with exact gradients (every seed gives the same run); "
            "seeds only matter with --noise or --batch-size (or a spec's noise= or "
            "batch_size=): add one or use 1 seed"
        )


def draw_starts(objective: Objective, first: Sequence[float], count: int, seed: int) -> np.ndarray:
    """``[count, D]`` start points: ``first``, then points drawn uniformly in the function's
    plot box (``objective.bounds``) where f and its gradient are finite.

    Seeded by ``seed`` through its own stream (``numpy.random.default_rng([seed, 1])``), the
    same rule as ``optiscope tune``: the same seed gives the same starts in both commands.
    """
    rng = np.random.default_rng([seed, 1])
    lo, hi = _plot_box(objective)
    points = [np.asarray(first, dtype=np.float64)]
    for _ in range(100):  # rejection rounds: enough unless the function is rarely finite
        if len(points) == count:
            break
        candidates = lo + rng.random((count, objective.dim)) * (hi - lo)
        with np.errstate(all="ignore"):
            f, g = objective.value(candidates), objective.grad(candidates)
        good = np.isfinite(f) & np.isfinite(g).all(axis=1)
        points += list(candidates[good][: count - len(points)])
    if len(points) < count:
        raise OptiscopeError(
            f"cannot draw {count} starts in {objective.name}'s plot box where it is finite; "
            "use fewer starts"
        )
    return np.stack(points)


def _plot_box(objective: Objective) -> tuple[np.ndarray, np.ndarray]:
    """``(low, high)`` ``[D]`` of the objective's plot box."""
    bounds = objective.bounds
    if len(bounds) != objective.dim:
        raise OptiscopeError(
            f"cannot draw starts for {objective.name}: its plot box has {len(bounds)} "
            f"coordinates, not {objective.dim}"
        )
    return (
        np.array([b[0] for b in bounds], dtype=np.float64),
        np.array([b[1] for b in bounds], dtype=np.float64),
    )


def _start_points(
    objective: Objective, start: Sequence[float] | None, count: int, seed: int
) -> np.ndarray | None:
    """``[K, D]``: the given start (or the function's own), then ``draw_starts``'s points;
    None for one start (the engine takes and checks ``start`` as it always did)."""
    if count == 1:
        return None
    first = objective.start if start is None else start
    try:
        point = np.asarray(first, dtype=np.float64)
    except (TypeError, ValueError):
        point = np.empty(0)
    if point.shape != (objective.dim,) or not np.isfinite(point).all():
        raise OptiscopeError(
            f"invalid start: expected {objective.dim} finite coordinates such as "
            f"{tuple(float(v) for v in objective.start)}, got {first!r}"
        )
    return draw_starts(objective, point, count, seed)


def _repeats_of(
    spec: int, position: int, specs: int, points: np.ndarray | None, seeds: int
) -> list[Repeat]:
    """The repeats of spec ``spec`` at ``position`` in its group (module notes: rows, streams);
    ``points`` None: one start, filled in from the trajectories once they ran."""
    starts = 1 if points is None else len(points)
    return [
        Repeat(
            row=position * starts * seeds + k * seeds + r,
            start_index=k,
            seed_index=r,
            stream=spec + specs * r,
            start=() if points is None else tuple(float(v) for v in points[k]),
        )
        for k in range(starts)
        for r in range(seeds)
    ]


def _check_memory_of_groups(
    objective: Objective,
    groups: Sequence[Sequence[tuple[str, Optimizer, dict[str, Any]]]],
    steps: int,
    record_state: bool,
    repeats: int = 1,
) -> None:
    """Refuse, before anything runs, a comparison whose groups together would not fit in
    memory: every group's trajectories are kept until the end (``engine.estimate_memory``).

    ``groups``: the parsed ``(spec, optimizer, settings)`` of each batch that will run;
    ``repeats``: the runs of each spec (starts x seeds).
    """
    needed = 0
    for group in groups:
        optimizer, settings = group[0][1], [p[2] for p in group]
        fields = len(optimizer.plot_state) if record_state else 0
        schedule = has_schedule(settings)
        rows = len(group) * repeats
        needed += estimate_memory(steps, rows, objective.dim, fields, schedule=schedule)
    specs = sum(len(g) for g in groups)
    what = f"{specs} settings" if repeats == 1 else f"{specs} settings x {repeats} repeats"
    check_memory(needed, f"{steps} steps x {what}")


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


#: The keys of a repeat's record (``spec_record``): what changes from one repeat to another.
REPEAT_KEYS = (
    "x_final",
    "loss_final",
    "diverged_at",
    "divergence",
    "stopped_at",
    "stop_reason",
    "stop_text",
    "steps_run",
    "evaluations",
    "examples",
    "evaluations_to_tol",
    "metrics",
    "path",
)
#: Step counts where None means "never got there": they rank after every reached value
#: (``inf`` in the statistic) when the gap is known, so a spec that rarely reaches the
#: tolerance has a median of never (None in ``spread``).
NEVER_IS_LAST = ("steps_to_tol", "first_to_tol", "evaluations_to_tol")
#: Record keys (outside ``metrics``) that get a spread.
RECORD_SPREAD_KEYS = ("evaluations_to_tol", "evaluations", "examples", "steps_run")
#: Metrics without a spread: the divergence step (counted instead) and the fit's bookkeeping.
NO_SPREAD = ("diverged_at", "evaluations")


def spec_record(
    result: RunResult, tol: float = metrics.DEFAULT_TOL, with_path: bool = False
) -> dict[str, Any]:
    """The JSON object of one spec: ``result_record`` of its first run, and when it ran more
    than once (several starts or seeds) also:

    - ``repeats``: every run's record (``start_index``, ``seed_index``, ``stream``,
      ``start`` and the ``REPEAT_KEYS`` of ``result_record``), the first being the run above;
    - ``spread``: per metric (every number of ``metrics`` except ``diverged_at``, and
      ``evaluations_to_tol``, ``evaluations``, ``examples``, ``steps_run``) its
      ``median``, ``min``, ``max``, ``low`` and ``high`` (the spread by the rule of
      ``optiscope.repeats``: min..max below 10 repeats, else 10-90%), ``statistic`` (which),
      ``values`` (repeats with a value) and, for ``NEVER_IS_LAST`` steps, ``never``
      (repeats that never got there; a statistic that falls on them is None);
    - ``repeat_count`` and ``diverged_count``.
    """
    record = result_record(result, tol, with_path)
    if len(result.rows) <= 1:
        return record
    repeats = [repeat_record(result, rep, tol, with_path) for rep in result.repeats]
    record["repeat_count"] = len(repeats)
    record["diverged_count"] = sum(r["diverged_at"] is not None for r in repeats)
    record["repeats"] = repeats
    record["spread"] = spread_of(repeats)
    return record


def repeat_record(
    result: RunResult, repeat: Repeat, tol: float = metrics.DEFAULT_TOL, with_path: bool = False
) -> dict[str, Any]:
    """One repeat of a spec: where it started, its seed index and stream, and how it ran."""
    full = result_record(replace(result, row=repeat.row), tol, with_path)
    return {
        "start_index": repeat.start_index,
        "seed_index": repeat.seed_index,
        "stream": repeat.stream,
        "start": list(repeat.start),
        **{k: full[k] for k in REPEAT_KEYS if k in full},
    }


def spread_of(repeats: Sequence[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per metric, the median and spread over ``repeats`` (records of ``repeat_record``)."""
    gap_known = repeats[0]["metrics"].get("gap_final") is not None
    names = [k for k in repeats[0]["metrics"] if k not in NO_SPREAD]
    columns = {name: [r["metrics"].get(name) for r in repeats] for name in names}
    columns |= {name: [r.get(name) for r in repeats] for name in RECORD_SPREAD_KEYS}
    spread = {}
    for name, values in columns.items():
        if not all(v is None or _is_number(v) for v in values):
            continue  # lists (per-direction metrics) and words (rate_of, rate_note)
        if all(v is None for v in values) and not (gap_known and name in NEVER_IS_LAST):
            continue
        spread[name] = _statistic(values, never_last=gap_known and name in NEVER_IS_LAST)
    return spread


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _statistic(values: Sequence[Any], never_last: bool) -> dict[str, Any]:
    """``{"median", "min", "max", "low", "high", "statistic", "values"[, "never"]}``."""
    numbers = [float(v) for v in values if v is not None and not np.isnan(v)]
    never = sum(v is None for v in values) if never_last else 0
    data = np.array(numbers + [np.inf] * never, dtype=np.float64)
    out: dict[str, Any] = {"statistic": spread_name(len(values)), "values": len(numbers)}
    if never_last:
        out["never"] = never
    if len(data) == 0:
        return {"median": None, "min": None, "max": None, "low": None, "high": None, **out}
    median, low, high = median_and_spread(data, repeats=len(values))
    stats = {"median": median, "min": data.min(), "max": data.max(), "low": low, "high": high}
    as_int = all(isinstance(v, int) for v in values if v is not None)
    return {k: _stat_value(v, as_int, never_last) for k, v in stats.items()} | out


def _stat_value(value: float, as_int: bool, never_last: bool) -> float | int | None:
    """A statistic as JSON: None for "never" (inf of a step count), an int for counts."""
    value = float(value)
    if never_last and value == np.inf:
        return None
    return int(value) if as_int and value.is_integer() else value


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
    Each spec is a ``spec_record``; when the specs ran several times, ``starts``, ``seeds``,
    ``start_points`` (``[K][D]``) and ``spread_statistic`` say how (``_repeat_settings``).
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
        "runs": [spec_record(r, tol, with_path) for r in results],
    }
    data |= _repeat_settings(results)
    return data


def _repeat_settings(results: Sequence[RunResult]) -> dict[str, Any]:
    """``starts``, ``seeds``, ``start_points`` and ``spread_statistic`` of a comparison whose
    specs ran more than once; ``{}`` otherwise (the JSON of single runs is unchanged)."""
    repeats = max((r.repeats for r in results), key=len, default=())
    if len(repeats) <= 1:
        return {}
    points = {rep.start_index: list(rep.start) for rep in repeats}
    return {
        "starts": len(points),
        "seeds": len({rep.seed_index for rep in repeats}),
        "start_points": [points[k] for k in sorted(points)],
        "spread_statistic": spread_name(len(repeats)),
    }
