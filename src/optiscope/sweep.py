"""``optiscope.sweep``: one optimizer over a grid (or a sample) of settings and start points.

The result is a pandas DataFrame with one row per (setting, start), settings-major (every
start of setting 0, then of setting 1, ...), index = that row number. Columns, in order:

- ``optimizer``; every hyperparameter of the optimizer under its own name, swept or not
  (floats as float64, booleans as bool, choices as str, integers as Int64), then the options
  and schedule keys the spec gives;
- ``start_<c>`` and ``final_<c>`` per coordinate ``c`` (``w1``, ``w2``, ...; a data objective's
  parameter names); ``final`` is the last good point (a diverged row is frozen there);
- the metrics under the run JSON's names (``metrics.columns``, same definitions):
  ``loss_final``, ``gap_final``, ``distance_final``, ``steps_to_tol``, ``first_to_tol``,
  ``diverged_at``, ``divergence`` (``"left_box"``, ``"non_finite"`` or None), ``zigzag``,
  ``overshoot``, ``rate``, ``rate_note``, ``auc``, ``cycle_period``, ``cycle_amplitude``,
  ``path_length``, ``efficiency``, ``evaluations`` and ``minimum``: the index into
  ``objective.minimizers`` of the minimizer nearest the final point when it is within
  ``MINIMUM_RADIUS`` times the plot box's half-width (the largest over coordinates), else -1;
  NA when no minimizer is known. Integer metrics are pandas ``Int64`` with NA where
  undefined; float metrics NaN where undefined.

``df.attrs``: ``function``, ``spec``, ``axes`` (``[{"name", "values", "log"}]``, the swept
hyperparameters in spec order, then ``start_<c>`` for swept start coordinates; sampled axes
list the values drawn, sorted), ``steps``, ``tol``, ``start`` (the single start, or None),
``starts`` (the start ranges, or None), ``method``, ``samples``, ``seed``, ``noise``,
``engine`` (``"fused"``, ``"numpy"`` or ``"fused+numpy"``), ``seconds``, ``rows``,
``finished`` and ``chunks`` (chunks finished of all), ``theory`` (on a quadratic: ``mu``,
``L``, ``kappa`` and the optimal tunings ``gd``, ``heavy_ball``, ``nesterov`` from
``optiscope.theory``; else None) and ``note`` (on the note's ``aniso``: the seed note's
settings of this optimizer run under the same conditions, one record each with every
metric; else []).

**Chunks.** Rows run in chunks: on the fused engine (``optiscope.fused``, when it can run
the job) chunks of about ``FUSED_CHUNK_WORK`` trajectory-steps, whose memory is O(rows); on
the NumPy engine (``engine.run`` + ``metrics.columns``: L-BFGS, data objectives, or no fused
engine installed) chunks small enough that their ``[steps + 1, rows, D]`` paths and metrics
stay within ``NUMPY_CHUNK_BYTES``, so a sweep never holds the whole sweep's paths. Every
chunk is a pure function of its task, so chunks run here or on Dask (``executor.py``) give
the same table. With ``noise``, row r draws random stream r: the numbers do not depend on
the chunking or on the machine.

**Ctrl-C.** :func:`sweep` raises :class:`SweepInterrupted` (a KeyboardInterrupt) whose
``frame`` holds the rows of the chunks that finished, with ``attrs["finished"]`` < ``attrs
["chunks"]``; nothing is returned partially by accident.

**Limits.** More than ``MAX_ROWS`` rows or ``MAX_WORK`` trajectory-steps is refused before
anything runs, with the size and how to narrow it.
"""

from __future__ import annotations

import functools
import inspect
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from optiscope import metrics, schedules
from optiscope.engine import (
    DIVERGENCE_KINDS,
    check_gradient_source,
    check_memory,
    check_steps,
    estimate_memory,
)
from optiscope.errors import OptiscopeError
from optiscope.executor import ChunksInterrupted, check_scheduler, run_chunks
from optiscope.objectives import Objective, get_objective
from optiscope.optimizers.base import Optimizer
from optiscope.ranges import (
    Axis,
    SweepSpec,
    check_method,
    grid_size,
    parse_starts,
    parse_sweep_spec,
    sample,
    typed_fixed,
)
from optiscope.stochastic import check_noise, check_seed, gradient_source

MAX_ROWS = 5_000_000
MAX_WORK = 10**10  # trajectory-steps: hours on the fused engine of one machine
NUMPY_CHUNK_BYTES = 128 * 2**20  # paths + metrics of one NumPy chunk
NUMPY_MIN_WORK = 10**6  # trajectory-steps: >= ~0.25 s per NumPy chunk, worth a Dask task
NUMPY_CHUNK_ROWS = 4096  # rows per NumPy chunk unless NUMPY_MIN_WORK needs more (few steps)
FUSED_CHUNK_WORK = 5 * 10**7  # trajectory-steps per fused chunk: >= ~100 ms compiled
FUSED_CHUNK_ROWS = 1 << 17  # O(rows) columns of a fused chunk: ~30 MB at most
MINIMUM_RADIUS = 1e-3  # `minimum`: reached when within this x the plot box's half-width

#: The metric columns, in order (``metrics.columns`` names, plus divergence and minimum).
METRIC_COLUMNS = (
    "loss_final",
    "gap_final",
    "distance_final",
    "steps_to_tol",
    "first_to_tol",
    "diverged_at",
    "divergence",
    "zigzag",
    "overshoot",
    "rate",
    "rate_note",
    "auc",
    "cycle_period",
    "cycle_amplitude",
    "path_length",
    "efficiency",
    "evaluations",
    "minimum",
)
TEXT_METRICS = ("divergence", "rate_note")  # object columns: a name or None
INT_METRICS = ("steps_to_tol", "first_to_tol", "diverged_at", "cycle_period", "evaluations")
_FROM_COLUMNS = tuple(m for m in METRIC_COLUMNS if m not in ("divergence", "minimum"))


class SweepInterrupted(KeyboardInterrupt):
    """Ctrl-C during :func:`sweep`; ``frame`` is the DataFrame of the finished chunks."""

    def __init__(self, frame: Any) -> None:
        attrs = frame.attrs
        super().__init__(f"sweep interrupted after {attrs['finished']} of {attrs['chunks']} chunks")
        self.frame = frame


# --- one chunk -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ChunkTask:
    """Rows ``first .. first + len(starts) - 1`` of a sweep: everything needed to run them.

    ``base`` holds the values every row shares; ``swept[name]`` the row values of each swept
    hyperparameter; ``streams`` the rows' random streams (their row numbers).
    """

    index: int
    first: int
    objective: Objective
    optimizer: Optimizer
    base: dict[str, Any]
    swept: dict[str, np.ndarray]
    starts: np.ndarray
    streams: np.ndarray
    steps: int
    tol: float
    noise: float
    seed: int
    numpy_rows: int

    def __getstate__(self) -> dict[str, Any]:
        """Pickled (for a Dask worker) with the objective by its spec when the spec rebuilds
        it: a function pickled by value has no source the fused engine could compile."""
        return {**self.__dict__, "objective": _ObjectiveRef.of(self.objective)}

    def __setstate__(self, state: dict[str, Any]) -> None:
        objective = state["objective"]
        if isinstance(objective, _ObjectiveRef):
            objective = objective.build()
        self.__dict__.update({**state, "objective": objective})

    def settings(self) -> list[dict[str, Any]]:
        """The rows' settings as dicts (plain Python values)."""
        values = {k: v.tolist() for k, v in self.swept.items()}
        return [
            {**self.base, **{k: column[i] for k, column in values.items()}}
            for i in range(len(self.starts))
        ]


@dataclass(frozen=True)
class _ObjectiveRef:
    """An objective as its spec (``Objective.name``) and the minimum it was given."""

    name: str
    minimizers: np.ndarray
    f_min: float | None
    minimum_note: str

    @staticmethod
    def of(objective: Objective) -> _ObjectiveRef | Objective:
        """A reference when ``get_objective(objective.name)`` rebuilds the same function."""
        try:
            rebuilt = _rebuild(objective.name)
        except OptiscopeError:
            return objective
        if rebuilt.formula != objective.formula or rebuilt.dim != objective.dim:
            return objective
        minimizers = np.asarray(objective.minimizers, dtype=np.float64)
        return _ObjectiveRef(objective.name, minimizers, objective.f_min, objective.minimum_note)

    def build(self) -> Objective:
        from dataclasses import replace

        return replace(
            _rebuild(self.name),
            minimizers=self.minimizers,
            f_min=self.f_min,
            minimum_note=self.minimum_note,
        )


@functools.lru_cache(maxsize=8)
def _rebuild(name: str) -> Objective:
    return get_objective(name)


@dataclass(frozen=True)
class ChunkResult:
    """A chunk's metric columns (``[n]`` arrays), final points ``[n, D]``, divergence kinds
    ``[n]`` and the engines that served it."""

    index: int
    columns: dict[str, np.ndarray]
    final: np.ndarray
    divergence_kind: np.ndarray
    engines: tuple[str, ...] = field(default=())


def evaluate_chunk(task: ChunkTask) -> ChunkResult:
    """Run one chunk on the fused engine when it applies, else on the NumPy engine."""
    fused = _fused_engine()
    if fused is not None and _fused_reason(fused, task) is None:
        # settings without a schedule go in as stacked columns: no dict per row (a sweep of
        # 40,000 settings completed as dicts took ~0.2 s, more than its whole fused run)
        scheduled = any(k in schedules.PARAMS for k in (*task.base, *task.swept))
        result = fused.run_columns(
            task.objective,
            task.optimizer,
            task.optimizer.complete_all(task.settings()) if scheduled else None,
            task.starts,
            task.steps,
            task.tol,
            noise=task.noise,
            seed=task.seed,
            streams=task.streams,
            stacked=None if scheduled else task.optimizer.stack_columns(task.base, task.swept),
        )
        columns = {k: np.asarray(result.columns[k]) for k in _FROM_COLUMNS}
        kind = np.asarray(result.divergence_kind)
        return ChunkResult(task.index, columns, np.asarray(result.final), kind, ("fused",))
    settings = task.optimizer.complete_all(task.settings())
    parts = [
        _numpy_part(task, settings, lo, min(lo + task.numpy_rows, len(settings)))
        for lo in range(0, len(settings), task.numpy_rows)
    ]
    columns = {k: np.concatenate([p[0][k] for p in parts]) for k in _FROM_COLUMNS}
    final = np.concatenate([p[1] for p in parts])
    kind = np.concatenate([p[2] for p in parts])
    return ChunkResult(task.index, columns, final, kind, ("numpy",))


def _numpy_part(task: ChunkTask, settings: list[dict[str, Any]], lo: int, hi: int):
    """``engine.run`` + ``metrics.columns`` on rows ``lo:hi`` of a chunk."""
    from optiscope import engine

    gradient = gradient_source(task.objective, task.noise, None, task.seed, task.streams[lo:hi])
    kwargs = {"engine": "numpy"} if "engine" in inspect.signature(engine.run).parameters else {}
    traj = engine.run(
        task.objective,
        task.optimizer,
        settings[lo:hi],
        steps=task.steps,
        start=task.starts[lo:hi],
        gradient=gradient,
        **kwargs,
    )
    columns = metrics.columns(traj, task.tol)
    return columns, traj.positions[-1].copy(), np.asarray(traj.divergence_kind)


def _fused_engine():
    """``optiscope.fused`` when it is installed and complete, else None (NumPy serves)."""
    try:
        from optiscope import fused
    except ImportError:
        return None
    if not (hasattr(fused, "run_columns") and hasattr(fused, "unsupported_reason")):
        return None
    return fused


def _fused_reason(fused, task: ChunkTask) -> str | None:
    return fused.unsupported_reason(task.objective, task.optimizer, stochastic=task.noise > 0)


# --- the plan ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    """A validated sweep: settings as columns (one entry per setting), starts, chunking."""

    objective: Objective
    spec: SweepSpec
    base: dict[str, Any]
    swept: dict[str, np.ndarray]  # [settings] per swept hyperparameter
    axes: list[dict[str, Any]]
    starts: np.ndarray  # [n_starts, D]
    starts_text: str | None
    steps: int
    tol: float
    noise: float
    seed: int
    method: str
    samples: int | None
    chunk_rows: int
    numpy_rows: int
    engine: str

    @property
    def optimizer(self) -> Optimizer:
        return self.spec.optimizer

    @property
    def settings_count(self) -> int:
        return len(next(iter(self.swept.values()))) if self.swept else 1

    @property
    def rows(self) -> int:
        return self.settings_count * len(self.starts)

    def chunk_bounds(self) -> list[tuple[int, int]]:
        return [
            (lo, min(lo + self.chunk_rows, self.rows))
            for lo in range(0, self.rows, self.chunk_rows)
        ]

    def task(self, index: int, lo: int, hi: int) -> ChunkTask:
        rows = np.arange(lo, hi)
        setting, start = np.divmod(rows, len(self.starts))
        return ChunkTask(
            index=index,
            first=lo,
            objective=self.objective,
            optimizer=self.optimizer,
            base=self.base,
            swept={k: v[setting] for k, v in self.swept.items()},
            starts=self.starts[start],
            streams=rows.astype(np.int64),
            steps=self.steps,
            tol=self.tol,
            noise=self.noise,
            seed=self.seed,
            numpy_rows=self.numpy_rows,
        )


def coordinate_names(objective: Objective) -> tuple[str, ...]:
    """``w1, w2, ...``, or a data objective's parameter names (``w_bmi``, ``b``)."""
    names = tuple(getattr(objective, "coordinates", ()) or ())
    if len(names) == objective.dim:
        return names
    return tuple(f"w{i + 1}" for i in range(objective.dim))


def plan_sweep(
    function: str | Objective,
    spec: str,
    steps: int = 500,
    start: Any = None,
    starts: str | None = None,
    samples: int | None = None,
    method: str = "grid",
    seed: int = 0,
    tol: float = metrics.DEFAULT_TOL,
    noise: float = 0.0,
) -> Plan:
    """Parse and check everything, refuse a sweep too large, choose the chunks (runs nothing)."""
    from optiscope.theory import check_tol

    check_steps(steps)
    check_tol(tol)
    noise = check_noise(noise)
    seed = check_seed(seed)
    check_method(method)
    if samples is None and method != "grid":
        raise OptiscopeError(f"method {method} draws samples: give samples=K (e.g. 1000)")
    parsed = parse_sweep_spec(spec)
    optimizer = parsed.optimizer
    check_gradient_source(optimizer, noise > 0)
    objective, point = objective_and_start(function, start)
    start_axes: list[Axis] = []
    layout: list = list(point)
    if starts is not None:
        if start is not None:
            raise OptiscopeError("give start (one point) or starts (ranges), not both")
        start_axes, layout = parse_starts(starts, objective.dim, coordinate_names(objective))
    n_starts = grid_size(start_axes)
    n_settings = samples if samples is not None else grid_size(parsed.axes)
    check_size(n_settings, n_starts, steps)
    values = (
        sample(parsed.axes, samples, method, seed) if samples is not None else _grid(parsed.axes)
    )
    swept = _columns_of(parsed.axes, values)
    start_points = _start_points(start_axes, layout)
    _check_starts(objective, start_points)
    base = {**optimizer.defaults(), **typed_fixed(optimizer, parsed.fixed)}
    _validate_settings(optimizer, base, swept)
    axes = _axes_attr(parsed.axes, swept, samples is not None) + [a.describe() for a in start_axes]
    plan = Plan(
        objective, parsed, base, swept, axes, start_points, starts, int(steps), float(tol),
        noise, seed, method, samples, 1, 1, "numpy",
    )  # fmt: skip
    return _chunked(plan)


def check_size(settings: int, starts: int, steps: int) -> None:
    """Refuse more than ``MAX_ROWS`` rows or ``MAX_WORK`` trajectory-steps, in one line."""
    rows = settings * starts
    work = rows * steps
    if rows <= MAX_ROWS and work <= MAX_WORK:
        return
    what = f"{settings:,} settings" + (f" x {starts:,} starts" if starts > 1 else "")
    limit = f"at most {MAX_ROWS:,} rows" if rows > MAX_ROWS else f"at most {MAX_WORK:.0e}"
    raise OptiscopeError(
        f"sweep too large: {what} = {rows:,} rows x {steps:,} steps = {work:.2g} "
        f"trajectory-steps ({limit}); narrow it: fewer points per range (@N), fewer ranges, "
        "samples (--samples K) instead of the grid, or fewer steps"
    )


def objective_and_start(function: str | Objective, start: Any) -> tuple[Objective, tuple]:
    """The objective (a typed formula gets its minimum found from the start once) and the
    single start point (text ``"x,y"``, numbers, or None: the function's own); shared by
    ``sweep`` and ``tune``."""
    from optiscope.specs import parse_point
    from optiscope.theory import with_found_minimum

    if isinstance(function, Objective):
        objective = function
    elif isinstance(function, str):
        objective = get_objective(function)
    else:
        raise OptiscopeError(
            f"function must be a FUNCTION spec such as 'aniso' or an Objective, got "
            f"{type(function).__name__}"
        )
    if start is None:
        point = tuple(float(v) for v in objective.start)
    elif isinstance(start, str):
        point = parse_point(start, objective.dim)
    else:
        try:
            point = tuple(float(v) for v in np.asarray(start, dtype=np.float64).ravel())
        except (TypeError, ValueError):
            raise OptiscopeError(f"invalid start: expected numbers, got {start!r}") from None
        if len(point) != objective.dim or not np.isfinite(point).all():
            raise OptiscopeError(
                f"invalid start: expected {objective.dim} finite coordinates, got {start!r}"
            )
    return with_found_minimum(objective, point), point


def _grid(axes: Sequence[Axis]) -> list[np.ndarray]:
    """Per axis, its value at every grid point (the last axis varying fastest)."""
    if not axes:
        return []
    index = np.indices([len(a.values) for a in axes]).reshape(len(axes), -1)
    return [_array(a.values)[i] for a, i in zip(axes, index, strict=True)]


def _array(values: Sequence[Any]) -> np.ndarray:
    """Values as an array that keeps their type: float64, int64, bool or object (str)."""
    if all(isinstance(v, bool) for v in values):
        return np.array(values, dtype=bool)
    if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return np.array(values, dtype=np.int64)
    if all(isinstance(v, str) for v in values):
        return np.array(values, dtype=object)
    return np.array(values, dtype=np.float64)


def _columns_of(axes: Sequence[Axis], values: Any) -> dict[str, np.ndarray]:
    """``{axis name: [settings] values}`` from grid columns or sampled tuples."""
    if values and isinstance(values[0], tuple):  # samples: one tuple per setting
        return {a.name: _array([v[i] for v in values]) for i, a in enumerate(axes)}
    return {a.name: column for a, column in zip(axes, values, strict=True)}


def _start_points(axes: list[Axis], layout: list) -> np.ndarray:
    """``[n_starts, D]``: the grid of the start axes, fixed coordinates filled in."""
    columns = _grid(axes)
    count = len(columns[0]) if columns else 1
    return np.stack(
        [
            np.full(count, float(c)) if isinstance(c, float) else columns[c].astype(np.float64)
            for c in layout
        ],
        axis=1,
    )


def _check_starts(objective: Objective, points: np.ndarray) -> None:
    """Refuse a start where f or its gradient is not finite (named, before anything runs)."""
    with np.errstate(all="ignore"):
        f, g = objective.value(points), objective.grad(points)
    bad = ~np.isfinite(f) | ~np.isfinite(g).all(axis=1)
    if bad.any():
        point = ", ".join(f"{v:g}" for v in points[np.argmax(bad)])
        raise OptiscopeError(
            f"invalid start ({point}): the function or its gradient is not finite there; "
            "pick starts where both are finite"
        )


def _validate_settings(
    optimizer: Optimizer, base: dict[str, Any], swept: dict[str, np.ndarray]
) -> None:
    """Check every setting's ranges and combinations at once (``Optimizer.validate`` on the
    stacked columns), and the schedules column-wise, before anything runs."""
    count = len(next(iter(swept.values()))) if swept else 1
    try:
        optimizer.validate(optimizer.stack_columns(base, swept))
    except OptiscopeError as err:
        if not swept:
            raise
        raise OptiscopeError(
            f"{err}; every combination of a sweep's ranges must be valid: narrow the ranges"
        ) from None
    if any(k in schedules.PARAMS for k in (*base, *swept)):
        step = 65536
        for lo in range(0, count, step):
            chunk = {k: v[lo : lo + step].tolist() for k, v in swept.items()}
            settings = [
                optimizer.complete({**base, **{k: c[i] for k, c in chunk.items()}})
                for i in range(min(step, count - lo))
            ]
            schedules.learning_rates(settings, 1)


def _axes_attr(axes: Sequence[Axis], swept: dict[str, np.ndarray], sampled: bool) -> list:
    """``attrs["axes"]``: grid values, or the sorted distinct values drawn."""
    if not sampled:
        return [a.describe() for a in axes]
    return [a.describe(sorted(set(swept[a.name].tolist()))) for a in axes]


def _chunked(plan: Plan) -> Plan:
    """Choose the engine the chunks are sized for and the chunk size (module notes)."""
    from dataclasses import replace

    dim = plan.objective.dim
    per_row = estimate_memory(plan.steps, 2, dim, metrics_rows=2) - estimate_memory(
        plan.steps, 1, dim, metrics_rows=1
    )
    numpy_rows = max(1, NUMPY_CHUNK_BYTES // per_row)
    numpy_rows = min(numpy_rows, max(NUMPY_CHUNK_ROWS, -(-NUMPY_MIN_WORK // plan.steps)))
    numpy_rows = min(numpy_rows, plan.rows)
    check_memory(
        estimate_memory(plan.steps, numpy_rows, plan.objective.dim, metrics_rows=numpy_rows),
        f"{plan.steps} steps x {numpy_rows} settings (one chunk)",
    )
    engine = "numpy"
    fused = _fused_engine()
    if fused is not None:
        probe = replace(plan, chunk_rows=min(64, plan.rows), numpy_rows=numpy_rows).task(
            0, 0, min(64, plan.rows)
        )
        if _fused_reason(fused, probe) is None:
            engine = "fused"
    if engine == "fused":
        chunk = min(FUSED_CHUNK_ROWS, max(1, -(-FUSED_CHUNK_WORK // plan.steps)))
    else:
        chunk = numpy_rows
    return replace(
        plan, chunk_rows=max(1, min(chunk, plan.rows)), numpy_rows=numpy_rows, engine=engine
    )


# --- the sweep -----------------------------------------------------------------------------


def sweep(
    function: str | Objective,
    spec: str,
    steps: int = 500,
    start: Any = None,
    starts: str | None = None,
    samples: int | None = None,
    method: str = "grid",
    seed: int = 0,
    tol: float = metrics.DEFAULT_TOL,
    scheduler: str | None = None,
    noise: float = 0.0,
    progress: Callable[[int, int], None] | None = None,
):
    """Run ``spec``'s settings (crossed with the start points) and return the DataFrame.

    ``function``: a FUNCTION spec (``"aniso"``, a formula) or an Objective; ``spec``:
    ``"OPT:key=RANGE,..."`` (``optiscope.ranges``); ``start``: one point (default the
    function's start) or ``starts``: ranges per coordinate, e.g. ``"-4..4@50,-4..4@50"``;
    ``samples=K`` with ``method`` ``"random"`` or ``"sobol"`` draws K settings in the ranges'
    box instead of the grid (``seed`` seeds it, and the gradient noise); ``tol`` the gap
    tolerance of ``steps_to_tol``; ``noise`` the std of Gaussian gradient noise; ``scheduler``
    None (here), ``"local"`` or a Dask scheduler address; ``progress(done_rows, rows)`` after
    every chunk. Columns and attrs: see the module notes. Bad input raises OptiscopeError
    before anything runs; Ctrl-C raises :class:`SweepInterrupted` with the finished rows.
    """
    began = time.perf_counter()
    check_scheduler(scheduler)
    plan = plan_sweep(function, spec, steps, start, starts, samples, method, seed, tol, noise)
    return _run_plan(plan, scheduler, progress, began, with_note=True)


def sweep_settings(
    function: str | Objective,
    optimizer: Optimizer,
    base: dict[str, Any],
    swept: dict[str, Any],
    starts: Any,
    steps: int = 500,
    tol: float = metrics.DEFAULT_TOL,
    noise: float = 0.0,
    seed: int = 0,
    scheduler: str | None = None,
    progress: Callable[[int, int], None] | None = None,
):
    """The sweep's engine for settings the caller chose (``optiscope.tune``): every setting
    from every start, one row each (setting-major), as :func:`sweep`'s DataFrame.

    ``base``: the values every setting shares (others default); ``swept[name]``: ``[N]``
    values per setting; ``starts``: ``[K, D]`` points (or one point). ``seed`` seeds the
    gradient noise (row r uses stream r). The settings are checked as a sweep's are.
    """
    began = time.perf_counter()
    check_scheduler(scheduler)
    check_steps(steps)
    noise, seed = check_noise(noise), check_seed(seed)
    check_gradient_source(optimizer, noise > 0)
    objective, _ = objective_and_start(function, None)
    points = np.atleast_2d(np.asarray(starts, dtype=np.float64))
    if points.ndim != 2 or points.shape[1] != objective.dim or not np.isfinite(points).all():
        raise OptiscopeError(
            f"invalid starts: expected finite points of {objective.dim} coordinates"
        )
    _check_starts(objective, points)
    swept = {k: np.asarray(v) for k, v in swept.items()}
    check_size(len(next(iter(swept.values()))) if swept else 1, len(points), steps)
    base = {**optimizer.defaults(), **base}
    _validate_settings(optimizer, base, swept)
    spec = SweepSpec(optimizer.name, optimizer, dict(base), ())
    starts_text = None if len(points) == 1 else f"{len(points)} given points"
    plan = Plan(
        objective, spec, base, swept, [], points, starts_text, int(steps), float(tol), noise,
        seed, "given", None, 1, 1, "numpy",
    )  # fmt: skip
    return _run_plan(_chunked(plan), scheduler, progress, began, with_note=False)


def _run_plan(plan: Plan, scheduler, progress, began: float, with_note: bool):
    """Run a plan's chunks here or on Dask, and assemble the finished rows."""
    bounds = plan.chunk_bounds()
    tasks = [plan.task(i, lo, hi) for i, (lo, hi) in enumerate(bounds)]
    finished_rows = [0]

    def report(i: int) -> None:
        finished_rows[0] += bounds[i][1] - bounds[i][0]
        if progress is not None:
            progress(finished_rows[0], plan.rows)

    try:
        results = run_chunks(evaluate_chunk, tasks, scheduler, report)
    except ChunksInterrupted as stop:
        frame = assemble(plan, stop.done, bounds, time.perf_counter() - began)
        raise SweepInterrupted(frame) from None
    done = dict(enumerate(results))
    note = _note_records(plan) if with_note else []
    return assemble(plan, done, bounds, time.perf_counter() - began, note)


def assemble(
    plan: Plan,
    done: dict[int, ChunkResult],
    bounds: list[tuple[int, int]],
    seconds: float,
    note: list[dict[str, Any]] | None = None,
):
    """The DataFrame of the finished chunks, in chunk order (module notes)."""
    import pandas as pd

    order = sorted(done)
    rows = (
        np.concatenate([np.arange(*bounds[i]) for i in order]) if order else np.zeros(0, np.int64)
    )
    setting, start = np.divmod(rows, len(plan.starts))
    data: dict[str, Any] = {"optimizer": np.full(len(rows), plan.optimizer.name, dtype=object)}
    data.update(_hyperparameter_columns(plan, setting))
    names = coordinate_names(plan.objective)
    final = _stack([done[i].final for i in order], (0, plan.objective.dim))
    for d, c in enumerate(names):
        data[f"start_{c}"] = plan.starts[start, d]
    for d, c in enumerate(names):
        data[f"final_{c}"] = final[:, d]
    columns = {k: _stack([done[i].columns[k] for i in order], (0,)) for k in _FROM_COLUMNS}
    kinds = _stack([done[i].divergence_kind for i in order], (0,)).astype(np.int64)
    data.update(_metric_columns(plan.objective, columns, kinds, final))
    index = pd.Index(rows, name="row")
    names_in_order = list(data)
    text = {k: data.pop(k) for k in TEXT_METRICS}  # None stays None (not NaN in a str column)
    frame = pd.DataFrame(data, index=index)
    frame = frame.assign(**{k: pd.Series(v, index=index, dtype=object) for k, v in text.items()})
    frame = frame[names_in_order]
    engines = sorted({e for i in order for e in done[i].engines}) or [plan.engine]
    frame.attrs.update(
        {
            "function": plan.objective.name,
            "spec": plan.spec.text,
            "axes": plan.axes,
            "steps": plan.steps,
            "tol": plan.tol,
            "start": None if plan.starts_text else [float(v) for v in plan.starts[0]],
            "starts": plan.starts_text,
            "method": plan.method,
            "samples": plan.samples,
            "seed": plan.seed,
            "noise": plan.noise,
            "engine": "+".join(engines),
            "seconds": float(seconds),
            "rows": int(plan.rows),
            "finished": len(order),
            "chunks": len(bounds),
            "theory": _theory(plan),
            "note": note or [],
        }
    )
    return frame


def _stack(parts: list[np.ndarray], empty_shape: tuple[int, ...]) -> np.ndarray:
    return np.concatenate(parts) if parts else np.zeros(empty_shape)


def _hyperparameter_columns(plan: Plan, setting: np.ndarray) -> dict[str, Any]:
    """Every hyperparameter, then given options and schedule keys, typed (module notes)."""
    import pandas as pd

    optimizer = plan.optimizer
    kinds = {h.name: h.kind for h in (*optimizer.hyperparams, *optimizer.options)}
    kinds |= {k: h.kind for k, h in schedules.PARAMS.items()}
    names = [h.name for h in optimizer.hyperparams]
    names += [h.name for h in optimizer.options if h.name in plan.base or h.name in plan.swept]
    names += [k for k in schedules.KEYS if k in plan.base or k in plan.swept]
    out: dict[str, Any] = {}
    for name in names:
        if name in plan.swept:
            values = plan.swept[name][setting]
        else:
            values = np.full(len(setting), plan.base[name], dtype=object)
        kind = kinds[name]
        if kind == "bool":
            out[name] = values.astype(bool)
        elif kind == "int":
            out[name] = pd.array(values.astype(np.int64), dtype="Int64")
        elif kind == "choice":
            out[name] = pd.array([str(v) for v in values], dtype="str")
        else:
            out[name] = values.astype(np.float64)
    return out


def _metric_columns(
    objective: Objective, columns: dict[str, np.ndarray], kinds: np.ndarray, final: np.ndarray
) -> dict[str, Any]:
    import pandas as pd

    out: dict[str, Any] = {}
    for name in METRIC_COLUMNS:
        if name == "divergence":
            out[name] = [DIVERGENCE_KINDS[k] for k in kinds]
        elif name == "minimum":
            out[name] = _minimum_column(objective, final, columns["distance_final"])
        elif name == "rate_note":
            out[name] = [None if v is None else str(v) for v in columns[name]]
        elif name in INT_METRICS:
            v = np.asarray(columns[name], dtype=np.int64)
            out[name] = pd.arrays.IntegerArray(v, v < 0)
        else:
            out[name] = np.asarray(columns[name], dtype=np.float64)
    return out


def _minimum_column(objective: Objective, final: np.ndarray, distance: np.ndarray):
    """Index of the known minimizer reached (within ``MINIMUM_RADIUS`` box half-widths), -1
    if none is reached, NA when no minimizer is known."""
    import pandas as pd

    known = np.asarray(objective.minimizers, dtype=np.float64).reshape(-1, objective.dim)
    if len(known) == 0:
        return pd.arrays.IntegerArray(np.zeros(len(final), np.int64), np.ones(len(final), bool))
    with np.errstate(all="ignore"):
        diff = final[:, None, :] - known[None, :, :]
        nearest = np.argmin(np.sum(diff * diff, axis=2), axis=1) if len(final) else final[:, 0]
    half_width = max((hi - lo) / 2 for lo, hi in objective.bounds)
    reached = np.asarray(distance) <= MINIMUM_RADIUS * half_width  # NaN compares False
    index = np.where(reached, nearest, -1).astype(np.int64)
    return pd.arrays.IntegerArray(index, np.zeros(len(index), bool))


def _theory(plan: Plan) -> dict[str, Any] | None:
    """The quadratic theory's curvatures and optimal tunings, on a quadratic; else None."""
    from optiscope.theory import gd_optimal, heavy_ball_optimal, local_model, nesterov_optimal

    objective = plan.objective
    if objective.dim != 2 or objective.hessian_fn is None:
        return None
    try:
        model = local_model(objective, plan.starts[0])
    except OptiscopeError:
        return None
    if not model.quadratic:
        return None
    mu, big_l = model.mu, model.L
    return {
        "mu": mu,
        "L": big_l,
        "kappa": model.kappa,
        "gd": gd_optimal(mu, big_l),
        "heavy_ball": heavy_ball_optimal(mu, big_l),
        "nesterov": nesterov_optimal(mu, big_l),
    }


NOTE_FUNCTION = "aniso"
SAME_FAMILY = ({"sgd", "momentum"},)  # optimizers with the same hyperparameters and iteration


def note_specs(optimizer: str) -> list[str]:
    """The seed note's settings on aniso that this optimizer can express (in note order)."""
    from optiscope.seed import seed_experiments

    specs: list[str] = []
    for experiment in seed_experiments():
        if experiment.function != NOTE_FUNCTION or experiment.key.endswith("theory_optimal"):
            continue
        for spec in experiment.specs:
            name = spec.partition(":")[0]
            same = name == optimizer or any({name, optimizer} <= f for f in SAME_FAMILY)
            if same and spec not in specs:
                specs.append(spec)
    return specs


def _note_records(plan: Plan) -> list[dict[str, Any]]:
    """The note's settings run under the sweep's conditions (steps, start, tol, noise), one
    record each; [] off the note's function or when the starts are swept."""
    from optiscope.optimizers import get_optimizer

    if plan.objective.name != NOTE_FUNCTION or plan.starts_text is not None:
        return []
    specs = note_specs(plan.optimizer.name)
    if not specs:
        return []
    settings = []
    for spec in specs:
        optimizer, setting = get_optimizer(spec)
        settings.append(optimizer.complete(setting))
    keys = sorted({k for s in settings for k in s})
    swept = {k: _array([s.get(k, plan.base.get(k)) for s in settings]) for k in keys}
    task = ChunkTask(
        index=0,
        first=0,
        objective=plan.objective,
        optimizer=plan.optimizer,
        base={},
        swept=swept,
        starts=np.repeat(plan.starts[:1], len(specs), axis=0),
        streams=np.arange(len(specs), dtype=np.int64),
        steps=plan.steps,
        tol=plan.tol,
        noise=plan.noise,
        seed=plan.seed,
        numpy_rows=len(specs),
    )
    result = evaluate_chunk(task)
    kinds = result.divergence_kind.astype(np.int64)
    columns = _metric_columns(plan.objective, result.columns, kinds, result.final)
    records = []
    for i, spec in enumerate(specs):
        record: dict[str, Any] = {"spec": spec}
        for name in METRIC_COLUMNS:
            value = columns[name][i]
            record[name] = None if value is None or value is pd_na() else _plain(value)
        records.append(record)
    return records


def pd_na():
    import pandas as pd

    return pd.NA


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value
