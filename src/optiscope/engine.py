"""The step loop: B trajectories advanced together, one vectorized update per step.

There is no Python loop over trajectories: every step is a handful of array operations on
``[B, D]`` arrays, whatever B is. Divergence is a result, not an error: a trajectory whose new
point is non-finite, whose loss or gradient is non-finite, or that leaves the escape box is
frozen at its last good point (position, loss and optimizer state stop changing) and the step
at which it happened is recorded in ``diverged_at``, with its kind: ``"left_box"`` (the new
point is finite but farther than the escape radius, 1e6 plot radii: torch would carry on with
finite numbers) or ``"non_finite"`` (the point, the loss or the gradient overflowed or became
NaN).

A run holds every position, ``[S+1, B, D]``: :func:`estimate_memory` states the peak memory
of a run and its metrics, and :func:`run` refuses up front a job that would not fit.
"""

from __future__ import annotations

import math
import resource
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import numpy as np

from optiscope.errors import OptiscopeError
from optiscope.objectives.base import Objective
from optiscope.optimizers.base import Optimizer
from optiscope.schedules import learning_rates
from optiscope.stochastic import check_source_matches

MAX_STEPS = 100_000  # more is almost surely a typo; it would also hold [S+1, B, D] in memory
ESCAPE_FACTOR = 1e6  # a point farther than this many plot-box radii away has diverged

#: ``Trajectories.divergence_kind`` codes: index -> name (0: the row did not diverge).
DIVERGENCE_KINDS = (None, "left_box", "non_finite")
LEFT_BOX, NON_FINITE = 1, 2

WORD_BYTES = 8  # float64 and int64
# The metrics' peak beyond the run's own arrays, in 8-byte words per (step, row) they work on:
# measured 6.3 (exact gradients) and 7.8 (stochastic: rate_fit's rank test) with tracemalloc.
METRICS_ARRAYS = 8
MEMORY_MARGIN = 1.05  # estimate_memory: the arrays it counts, plus 5% ...
MEMORY_SAFETY = 0.8  # a job may use at most this share of the memory available


@dataclass(frozen=True, eq=False)
class Trajectories:
    """What a batched run produced (S steps, B trajectories, D coordinates).

    - ``positions`` ``[S+1, B, D]``: the start and the point after every step;
    - ``losses`` ``[S+1, B]`` and ``grad_norms`` ``[S+1, B]`` (Euclidean) at those points;
    - ``evaluations`` ``[S+1, B]``: gradient evaluations the optimizer consumed to get there;
    - ``diverged_at`` ``[B]``: the first step whose result was non-finite or escaped, -1 if none
      (from that step on the row is frozen at its last good point);
    - ``divergence_kind`` ``[B]`` int: 0 none (or unknown), else an index into
      ``DIVERGENCE_KINDS``: 1 ``"left_box"``, 2 ``"non_finite"`` (see the module notes);
      ``divergence_point`` ``[B, D]``: for ``left_box`` the point outside the box, for
      ``non_finite`` the last good point, NaN for rows that did not diverge;
      ``escape_radius``: the box half-width R (NaN when unknown);
    - ``converged_at`` ``[B]``: the step at which the optimizer's own stopping test stopped
      the row (e.g. L-BFGS), -1 if never; the row stays from then on at the point it had
      after the step before. The name is historical: a stop is not proof of convergence.
      ``stop_codes`` ``[B]`` (0: none) says which test fired, and ``stop_reasons`` (the
      optimizer's declaration) maps each code to ``(name, phrase)``, the phrase a
      ``str.format`` template filled in with the row's settings (``"{tolerance_grad:g}"``);
    - ``states``: optional ``{field: [S+1, B, D]}`` of the optimizer's internal state over time
      (velocity, accumulators), for explanation plots;
    - ``learning_rates``: optional ``[S, B]``, the lr each step used, when a schedule varied it;
    - ``stochastic``: whether the optimizer saw noisy or mini-batch gradients (the recorded
      losses and gradient norms are the exact objective's either way);
    - ``settings``: the B complete hyperparameter settings; ``optimizer`` its name.
    """

    objective: Objective
    optimizer: str
    settings: list[dict[str, Any]]
    positions: np.ndarray
    losses: np.ndarray
    grad_norms: np.ndarray
    evaluations: np.ndarray
    diverged_at: np.ndarray
    converged_at: np.ndarray | None = None  # None: never (filled with -1)
    states: dict[str, np.ndarray] | None = field(default=None)
    learning_rates: np.ndarray | None = field(default=None)
    stop_codes: np.ndarray | None = None  # None: no stops (filled with 0)
    stop_reasons: Mapping[int, tuple[str, str]] = field(default_factory=dict)
    divergence_kind: np.ndarray | None = None  # None: unknown (filled with 0)
    divergence_point: np.ndarray | None = None  # None: unknown (filled with NaN)
    escape_radius: float = math.nan
    stochastic: bool = False

    def __post_init__(self) -> None:
        defaults = {
            "converged_at": lambda: np.full(self.batch, -1, dtype=np.int64),
            "stop_codes": lambda: np.zeros(self.batch, dtype=np.int64),
            "divergence_kind": lambda: np.zeros(self.batch, dtype=np.int64),
            "divergence_point": lambda: np.full((self.batch, self.positions.shape[2]), np.nan),
        }
        for name, make in defaults.items():
            if getattr(self, name) is None:
                object.__setattr__(self, name, make())

    @property
    def steps(self) -> int:
        return self.positions.shape[0] - 1

    @property
    def batch(self) -> int:
        return self.positions.shape[1]

    def row(self, b: int) -> Trajectories:
        """The b-th trajectory alone, as a batch of one."""
        s = slice(b, b + 1)
        per_step = ("positions", "losses", "grad_norms", "evaluations", "learning_rates")
        per_row = (
            "diverged_at",
            "converged_at",
            "stop_codes",
            "divergence_kind",
            "divergence_point",
        )
        changes: dict[str, Any] = {"settings": [self.settings[b]]}
        for name in per_step:
            value = getattr(self, name)
            changes[name] = None if value is None else value[:, s]
        for name in per_row:
            changes[name] = getattr(self, name)[s]
        if self.states is not None:
            changes["states"] = {k: v[:, s] for k, v in self.states.items()}
        return replace(self, **changes)


def escape_radius(objective: Objective, starts: np.ndarray) -> float:
    """The box half-width beyond which a point counts as diverged (generous: 1e6 plot radii)."""
    box = max(abs(v) for lo_hi in objective.bounds for v in lo_hi)
    return ESCAPE_FACTOR * max(1.0, box, float(np.max(np.abs(starts))))


class GradientSource(Protocol):
    """What the optimizer is given as "the gradient" at step k: exact, noisy or a mini-batch's.

    ``source(x [B, D], k) -> [B, D]``. The engine still records the loss and gradient norm of
    the full, exact objective, so a stochastic run is judged on the real function.
    """

    def __call__(self, x: np.ndarray, step: int) -> np.ndarray: ...


def run(
    objective: Objective,
    optimizer: Optimizer,
    settings: Mapping[str, Any] | Sequence[Mapping[str, Any]],
    steps: int = 100,
    start: Sequence[float] | np.ndarray | None = None,
    record_state: bool = False,
    gradient: GradientSource | None = None,
    progress: Callable[[int], None] | None = None,
    engine: str = "auto",
) -> Trajectories:
    """Run ``optimizer`` on ``objective`` for ``steps`` steps, all trajectories at once.

    ``settings`` is one hyperparameter setting (a dict; missing hyperparameters take their
    defaults, strings are parsed as in a spec: ``Optimizer.complete``) or a list of B of
    them; ``start`` is one point ``[D]`` shared by all, or ``[B, D]``
    (default: the objective's start). A single setting with B starts, or B settings with one
    start, is broadcast. A start where f or its gradient is not finite is refused
    (OptiscopeError): no metric could be measured from there. ``gradient`` replaces the exact
    gradient the optimizer sees (noise, mini-batches); a learning-rate schedule in the
    settings sets each step's lr. ``progress(k)`` is called after every step (for progress
    bars on long runs).

    Two kinds of optimizer are driven: elementwise ones through ``update(g, state, x, hp)``
    (one gradient per step), and ones with their own line search (``optimizer.evaluates``)
    through ``step(evaluate, state, x, f, g, hp) -> (x, state, evaluations [B])``. An
    optimizer with stopping tests of its own keeps a ``stop_code`` state field (``[B]`` or
    ``[B, 1]``, 0 while running) and declares ``stop_reasons`` (code -> (name, phrase)).

    Memory: a job whose :func:`estimate_memory` exceeds the memory available
    (:func:`check_memory`) is refused before anything runs, with an OptiscopeError naming the
    size and how to shrink it; running out of memory anyway gives the same kind of error.


    ``engine``: ``"numpy"`` runs the loop below (the readable reference); ``"fused"`` runs
    the same iteration compiled (``optiscope.fused``: elementwise optimizers on 2-D test
    functions and typed formulas, exact or Gaussian-noise gradients), OptiscopeError with the
    reason when it cannot; ``"auto"`` (default) uses the fused engine when it can, no state is
    recorded and the job is worth ``FUSED_MIN_WORK`` trajectory-steps of NumPy time (see
    ``STEP_COST_ROWS``: e.g. 10,000 steps of one trajectory, or 500 steps of 3,800); below
    that the NumPy loop is done in under about half a second; ``"prefer_fused"`` uses the
    fused engine whenever it can, however small the job (an interactive page: once compiled,
    500 steps take a millisecond or so against tens on the NumPy loop), the NumPy loop
    otherwise. With the fused engine ``progress`` is called once, with ``steps``, when the
    run is done.
    """
    _check_api_types(objective, optimizer)
    check_source_matches(gradient, objective)
    settings, x = _broadcast(objective, optimizer, settings, start)
    check_steps(steps)
    batch = x.shape[0]
    hp = optimizer.stack(settings)
    optimizer.validate(hp)
    check_gradient_source(optimizer, gradient is not None)
    traced = optimizer.plot_state if record_state else ()
    size = (steps, batch, objective.dim, len(traced))
    check_memory(estimate_memory(*size, schedule=has_schedule(settings)))
    work = steps * (batch + STEP_COST_ROWS)
    if _fused_applies(engine, objective, optimizer, gradient, record_state, work):
        traj = _run_fused(objective, optimizer, settings, x, int(steps), gradient, progress, engine)
        if traj is not None:
            return traj
    try:
        return _run(objective, optimizer, settings, x, hp, int(steps), traced, gradient, progress)
    except MemoryError:
        raise OptiscopeError(memory_advice(*size)) from None


ENGINES = ("auto", "fused", "numpy", "prefer_fused")
#: engine="auto": the NumPy loop costs about STEP_COST_ROWS rows' worth of work per step on top
#: of its rows (Python and NumPy call overhead, ~50 us against ~0.25 us per row), so a job is
#: ``steps * (batch + STEP_COST_ROWS)`` trajectory-steps of NumPy time; from FUSED_MIN_WORK
#: of them on (about half a second of NumPy) the fused engine is used. Its cost once the
#: machine code is cached: ~1.3 s the first time in a process (importing Numba and loading
#: the cache), then milliseconds; a first compile ever costs seconds per (function, optimizer).
STEP_COST_ROWS = 200
FUSED_MIN_WORK = 2_000_000


def _fused_applies(engine, objective, optimizer, gradient, record_state, work) -> bool:
    """Whether :func:`run` uses the fused engine (see its ``engine`` argument)."""
    if engine not in ENGINES:
        raise OptiscopeError(f"invalid engine: {engine!r} (valid: {', '.join(ENGINES)})")
    if engine == "numpy":
        return False
    from optiscope import fused  # imports numba: only when asked for

    reason = "it records optimizer state" if record_state else None
    reason = reason or fused.unsupported_reason(objective, optimizer, None, gradient)
    if engine == "fused" and reason is not None:
        raise OptiscopeError(f"the fused engine cannot run this: {reason}; use engine='numpy'")
    return reason is None and (engine != "auto" or work >= FUSED_MIN_WORK)


def _run_fused(objective, optimizer, settings, x, steps, gradient, progress, engine):
    """:func:`run` by ``optiscope.fused`` (exact gradients or Gaussian noise on them). If
    Numba cannot compile the generated loop: None with ``engine="auto"`` (the NumPy loop
    runs instead), an OptiscopeError with ``engine="fused"``."""
    from numba.core.errors import NumbaError

    from optiscope import fused

    noise, seed, streams = 0.0, 0, None
    if gradient is not None:  # a GaussianNoise on the exact gradient (unsupported_reason)
        noise, seed, streams = gradient.sigma, gradient.seed, gradient.streams
    try:
        traj = fused.run_trajectories(
            objective, optimizer, settings, x, steps, noise=noise, seed=seed, streams=streams
        )
    except NumbaError as err:
        if engine != "fused":  # auto, prefer_fused: the NumPy loop runs instead
            return None
        first = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise OptiscopeError(f"the fused engine could not compile this: {first}") from None
    if progress is not None:
        progress(steps)
    return traj


def has_schedule(settings: Sequence[Mapping[str, Any]]) -> bool:
    """Whether some setting changes its learning rate over the steps (a ``[S, B]`` table)."""
    return any(s.get("schedule") not in (None, "constant") for s in settings)


def _run(objective, optimizer, settings, x, hp, steps, traced, gradient, progress):
    """The step loop of :func:`run`, on validated arguments."""
    batch = x.shape[0]
    with np.errstate(all="ignore"):  # huge schedule values overflow to an lr of 0 or inf
        lr_table = learning_rates(settings, steps)  # [S, B] or None when every lr is constant
    radius = escape_radius(objective, x)

    positions = np.empty((steps + 1, batch, objective.dim))
    losses = np.empty((steps + 1, batch))
    grad_norms = np.empty((steps + 1, batch))
    evaluations = np.zeros((steps + 1, batch), dtype=np.int64)
    diverged_at = np.full(batch, -1, dtype=np.int64)
    divergence_kind = np.zeros(batch, dtype=np.int64)
    divergence_point = np.full((batch, objective.dim), np.nan)
    converged_at = np.full(batch, -1, dtype=np.int64)
    stop_codes = np.zeros(batch, dtype=np.int64)
    alive = np.ones(batch, dtype=bool)

    def evaluate(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return objective.value(points), objective.grad(points)

    with np.errstate(all="ignore"):  # overflow is expected on diverging rows; it is reported
        state = optimizer.init(x, hp)
        f, g = evaluate(x)
        _check_start(x, f, g)
        states = {k: np.empty((steps + 1, batch, objective.dim)) for k in traced}
        _record(0, x, f, g, state, positions, losses, grad_norms, states)
        for k in range(1, steps + 1):
            hp_k = hp if lr_table is None else {**hp, "lr": lr_table[k - 1][:, None]}
            if optimizer.evaluates:
                x_new, state_new, used = optimizer.step(evaluate, state, x, f, g, hp_k)
            else:
                seen = g if gradient is None else gradient(x, k)
                x_new, state_new = optimizer.update(seen, state, x, hp_k)
                used = 1
            f_new, g_new = evaluate(x_new)
            finite = np.isfinite(x_new).all(axis=1)
            left_box = finite & (np.abs(x_new) > radius).any(axis=1)
            bad = ~finite | left_box | ~np.isfinite(f_new) | ~np.isfinite(g_new).all(axis=1)
            newly = alive & bad
            if newly.any():
                diverged_at[newly] = k
                divergence_kind[newly] = np.where(left_box[newly], LEFT_BOX, NON_FINITE)
                escaped = left_box[newly][:, None]
                divergence_point[newly] = np.where(escaped, x_new[newly], x[newly])
            alive &= ~bad
            keep = alive[:, None]  # [B, 1]
            x = np.where(keep, x_new, x)
            f = np.where(alive, f_new, f)
            g = np.where(keep, g_new, g)
            state = type(state)(
                *(
                    np.where(_rows(alive, new), new, old)  # fields [B], [B, D], [B, H, D] ...
                    for new, old in zip(state_new, state, strict=True)
                )
            )
            evaluations[k] = evaluations[k - 1] + np.where(alive, used, 0)
            codes = _stop_codes(state)
            stopped = (converged_at < 0) & (codes > 0) & alive
            converged_at[stopped] = k
            stop_codes[stopped] = codes[stopped]
            _record(k, x, f, g, state, positions, losses, grad_norms, states)
            if progress is not None:
                progress(k)

    return Trajectories(
        objective=objective,
        optimizer=optimizer.name,
        settings=settings,
        positions=positions,
        losses=losses,
        grad_norms=grad_norms,
        evaluations=evaluations,
        diverged_at=diverged_at,
        converged_at=converged_at,
        states=states if traced else None,
        learning_rates=lr_table,
        stop_codes=stop_codes,
        stop_reasons=dict(optimizer.stop_reasons),
        divergence_kind=divergence_kind,
        divergence_point=divergence_point,
        escape_radius=radius,
        stochastic=gradient is not None,
    )


def check_gradient_source(optimizer: Optimizer, stochastic: bool) -> None:
    """Refuse a noisy or mini-batch gradient for an optimizer that searches along lines.

    ``stochastic``: whether the run replaces the exact gradient (noise, mini-batches). Called
    by :func:`run` and, before anything runs, by ``experiments.run_specs`` for every spec.
    """
    if stochastic and optimizer.evaluates:
        raise OptiscopeError(
            f"{optimizer.name} searches along lines of the exact function itself; gradient "
            "noise and mini-batches apply to the gradient-step optimizers only"
        )


# --- memory -------------------------------------------------------------------------------


def check_steps(steps: Any) -> None:
    """Refuse a number of steps that is not an integer in ``1 .. MAX_STEPS``."""
    if isinstance(steps, bool) or not (
        isinstance(steps, int | np.integer) and 1 <= steps <= MAX_STEPS
    ):
        raise OptiscopeError(f"invalid steps: {steps!r} (valid: 1 <= steps <= {MAX_STEPS})")


def estimate_memory(
    steps: int,
    batch: int,
    dim: int,
    record_state_fields: int = 0,
    metrics_rows: int = 1,
    schedule: bool = False,
) -> int:
    """An upper bound, in bytes, on the peak memory of ``run`` plus the metrics of its rows.

    A run of S steps, B rows and D coordinates keeps, in 8-byte words (float64, int64):

    - ``positions`` ``[S+1, B, D]`` and one ``[S+1, B, D]`` array per recorded state field;
    - ``losses``, ``grad_norms``, ``evaluations`` ``[S+1, B]`` each, and with a learning-rate
      ``schedule`` the ``[S, B]`` table of rates;
    - the metrics work one coordinate at a time on ``[S+1, R]`` arrays for the ``R =
      metrics_rows`` rows they are given at once (1 for the reports, which measure row by row;
      B for ``metrics.summary`` of a whole batch); at their peak (the rate fit) they hold
      ``METRICS_ARRAYS`` words per step and row.

    So ``8 * (S+1) * (B * (D * (1 + fields) + 3 + schedule) + R * METRICS_ARRAYS)`` bytes,
    plus 5% and 1 MiB for the step loop's temporaries and the bookkeeping (settings, state,
    records). Not counted: the optimizer's state (``[B, D]``; ``[B, history, D]`` for L-BFGS) and the
    interpreter with its libraries (about 100 MB), which do not grow with S, and the Python
    lists of a record's ``path`` (``--path``: about 16 words per step and row).
    ``tests/test_records.py`` measures the peak of a run and its metrics: the estimate is an
    upper bound within 30%.
    """
    per_row = dim * (1 + record_state_fields) + 3 + int(schedule)
    words = (steps + 1) * (batch * per_row + metrics_rows * METRICS_ARRAYS)
    return math.ceil(WORD_BYTES * words * MEMORY_MARGIN) + 2**20


def available_memory() -> int | None:
    """Bytes this process may still allocate, or None when unknown (no ``/proc``, no limits).

    The least of the system's MemAvailable (``/proc/meminfo``) and the headroom under this
    process's RLIMIT_AS (address space, less VmSize) and RLIMIT_DATA (less VmData) limits.
    """
    known = list(_proc_kib("/proc/meminfo", ("MemAvailable",)).values())
    usage = _proc_kib("/proc/self/status", ("VmSize", "VmData"))
    for which, used in ((resource.RLIMIT_AS, "VmSize"), (resource.RLIMIT_DATA, "VmData")):
        soft = resource.getrlimit(which)[0]
        if soft != resource.RLIM_INFINITY and used in usage:
            known.append(max(0, soft - usage[used]))
    return min(known) if known else None


def check_memory(needed: int, what: str = "this run") -> None:
    """Refuse (OptiscopeError, one line) a job needing more than ``MEMORY_SAFETY`` times the
    :func:`available_memory`; there is nothing to check when that is unknown."""
    available = available_memory()
    if available is None or needed <= MEMORY_SAFETY * available:
        return
    raise OptiscopeError(
        f"{what} needs about {_gb(needed)} GB of memory, more than the "
        f"{_gb(MEMORY_SAFETY * available)} GB it may use ({MEMORY_SAFETY:.0%} of the "
        f"{_gb(available)} GB available); run fewer steps or fewer settings at once"
    )


def memory_advice(steps: int, batch: int, dim: int, record_state_fields: int = 0) -> str:
    """The one-line error for running out of memory anyway (a last resort)."""
    needed = estimate_memory(steps, batch, dim, record_state_fields)
    return (
        f"out of memory: {steps} steps x {batch} settings need about {_gb(needed)} GB; "
        "run fewer steps or fewer settings at once"
    )


def _gb(n: float) -> str:
    return f"{n / 1e9:.2g}"


def _proc_kib(path: str, keys: tuple[str, ...]) -> dict[str, int]:
    """The ``key: N kB`` lines of a /proc file (``/proc/meminfo``, ``/proc/self/status``) for
    ``keys``, in bytes; {} when the file cannot be read."""
    found = {}
    try:
        with open(path) as f:
            for line in f:
                key, _, value = line.partition(":")
                if key in keys:
                    found[key] = int(value.split()[0]) * 1024
    except (OSError, ValueError, IndexError):
        return {}
    return found


def _check_start(x: np.ndarray, f: np.ndarray, g: np.ndarray) -> None:
    """Refuse a start where f or its gradient is not finite (nothing could be measured)."""
    bad_f = ~np.isfinite(f)  # [B]
    bad_g = ~np.isfinite(g)  # [B, D]
    bad = bad_f | bad_g.any(axis=1)
    if not bad.any():
        return
    b = int(np.argmax(bad))
    what = f"f is {float(f[b])}" if bad_f[b] else f"its gradient is {float(g[b][bad_g[b]][0])}"
    point = ", ".join(f"{float(v):g}" for v in x[b])
    raise OptiscopeError(
        f"invalid start ({point}): {what} there; pick a point where the function and its "
        "gradient are finite"
    )


def _check_api_types(objective: Any, optimizer: Any) -> None:
    """Refuse (OptiscopeError naming the argument) what is not an Objective or an Optimizer."""
    if not isinstance(objective, Objective):
        raise OptiscopeError(
            "objective must be an Objective, e.g. optiscope.get_objective('aniso'), got "
            f"{type(objective).__name__}"
        )
    if not isinstance(optimizer, Optimizer):
        raise OptiscopeError(
            "optimizer must be an Optimizer, e.g. optiscope.get_optimizer('sgd')[0], got "
            f"{type(optimizer).__name__}"
        )


def _broadcast(
    objective: Objective,
    optimizer: Optimizer,
    settings: Mapping[str, Any] | Sequence[Mapping[str, Any]],
    start: Sequence[float] | np.ndarray | None,
) -> tuple[list[dict[str, Any]], np.ndarray]:
    """B complete settings and a ``[B, D]`` start array, broadcasting a single setting or
    start; every setting is completed and checked by ``optimizer.complete_all``."""
    if isinstance(settings, Mapping):
        settings = [settings]
    if isinstance(settings, str | bytes) or not isinstance(settings, Sequence | np.ndarray):
        raise OptiscopeError(
            "settings must be a dict of hyperparameters such as {'lr': 0.1} or a list of them, "
            f"got {type(settings).__name__}"
        )
    settings = optimizer.complete_all(settings)
    if not settings:
        raise OptiscopeError("no hyperparameter settings to run")
    x0 = _start_array(objective.start if start is None else start)
    if x0.ndim != 2 or x0.shape[1] != objective.dim:
        raise OptiscopeError(
            f"invalid start: expected {objective.dim} coordinates, got shape {x0.shape[-1]}"
        )
    if not np.isfinite(x0).all():
        raise OptiscopeError("invalid start: coordinates must be finite numbers")
    batch = max(len(settings), x0.shape[0])
    if len(settings) not in (1, batch) or x0.shape[0] not in (1, batch):
        raise OptiscopeError(f"{len(settings)} settings and {x0.shape[0]} starts do not broadcast")
    return settings * (batch // len(settings)), np.repeat(x0, batch // x0.shape[0], axis=0)


def _start_array(start: Any) -> np.ndarray:
    """``start`` as a 2-D float array ``[1 or B, D]``; OptiscopeError for text or non-numbers."""
    if isinstance(start, str | bytes):
        raise OptiscopeError(f"invalid start: expected numbers such as (1.0, 1.0), got {start!r}")
    try:
        return np.atleast_2d(np.asarray(start, dtype=np.float64))
    except (TypeError, ValueError):
        raise OptiscopeError(
            f"invalid start: expected numbers such as (1.0, 1.0), got {type(start).__name__}"
        ) from None


def _rows(mask: np.ndarray, field: np.ndarray) -> np.ndarray:
    """A ``[B]`` row mask shaped to broadcast over a state field ``[B, ...]``."""
    return mask.reshape((-1,) + (1,) * (np.ndim(field) - 1))


def _stop_codes(state: Any) -> np.ndarray:
    """``[B]`` int: the code of the stopping test each row's optimizer reports met (its
    ``stop_code`` state field), 0 where none or when the optimizer has no such tests."""
    codes = getattr(state, "stop_code", None)
    if codes is None:
        return np.zeros(np.shape(state[0])[0], dtype=np.int64)
    return np.asarray(codes).reshape(-1).astype(np.int64)


def _record(k, x, f, g, state, positions, losses, grad_norms, states) -> None:
    positions[k] = x
    losses[k] = f
    grad_norms[k] = np.sqrt(np.sum(g * g, axis=1))
    for name in states:
        states[name][k] = getattr(state, name)
