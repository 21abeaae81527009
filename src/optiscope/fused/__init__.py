"""The fused compiled engine: engine.run's semantics in one Numba loop per (objective, optimizer).

``engine.run`` stays the readable reference; this package runs the same iteration (same
kernels, same divergence test and freeze, same schedules, same noise stream) compiled, for
test functions with a pointwise form (the 2-D catalogue and typed formulas) and the
elementwise optimizers. :func:`unsupported_reason` says when it cannot; callers then use
``engine.run``.

- :func:`run_trajectories`: an ``engine.Trajectories`` equal to ``engine.run``'s;
- :func:`run_columns`: ``metrics.columns`` of every row plus the final points, each prange
  block of rows measured by ``metrics_numba.row_metrics`` right after it ran, while its
  record is in cache: memory ``O(B)`` plus one block's record per thread.

Each call's loop is specialized to the options all its rows share (``nesterov``,
``amsgrad``, ``weight_decay = 0`` ...: :func:`fixed_arguments`, :mod:`.specialize`); a
specialized kernel equals the general one except, possibly, at the step where a row's
arithmetic overflows (a diverging row: see :mod:`.specialize`).

Equality with ``engine.run``: bit for bit where both do the same operations on the same
doubles: the kernels' arithmetic, polynomial functions, ``sqrt``, ``x**2`` and Adam's
``beta ** t`` (taken from NumPy's own ``power``, see ``loop.power_tables``). Within an ulp or
so per step where NumPy's vectorized ``sin``/``cos``/``exp``/``tanh``/``pow`` (AVX-512 on this
machine) and the C library's scalar ones differ: catalogue functions and typed formulas that
use them, integer powers ``x**3`` of the catalogue (NumPy's ``pow`` against Numba's repeated
products), FTRL's general ``lr_power`` and the noise's Box-Muller ``log``/``cos``.

Cost: a first compile of a (function, optimizer kernel, schedule?, noise?, fixed options)
combination takes
seconds (4.4 s measured for momentum on aniso); the machine code is cached on disk
(``$OPTISCOPE_CACHE_DIR/fused``, default ``~/.cache/optiscope/fused``), so a later process
pays ~0.5 s once (importing Numba and loading the cache) and then milliseconds per call.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from optiscope import engine, metrics
from optiscope.errors import OptiscopeError
from optiscope.fused import codegen, metrics_numba
from optiscope.fused.loop import compiled_loop, noise_key, power_tables
from optiscope.fused.metrics_numba import metric_context
from optiscope.objectives.base import Objective
from optiscope.optimizers.base import HParams, Optimizer
from optiscope.schedules import learning_rates
from optiscope.stochastic import ExactGradient, GaussianNoise, MiniBatchGradient

#: bytes of one prange block's record of its rows (kept in cache while the block runs)
BLOCK_BYTES = 2**20
#: bytes of one run_columns block's record (measured while in the core's L2 cache)
COLUMN_BLOCK_BYTES = 512 * 2**10


@dataclass(frozen=True, eq=False)
class FusedResult:
    """What :func:`run_columns` returns for B rows.

    ``columns``: exactly ``metrics.columns`` of the rows; ``final`` ``[B, D]`` the last good
    point; ``start`` ``[B, D]``; ``diverged_at`` ``[B]`` (-1: never); ``divergence_kind``
    ``[B]`` (index into ``engine.DIVERGENCE_KINDS``); ``divergence_point`` ``[B, D]``;
    ``stochastic``: whether the gradients were noisy.
    """

    columns: dict[str, np.ndarray]
    final: np.ndarray
    start: np.ndarray
    diverged_at: np.ndarray
    divergence_kind: np.ndarray
    divergence_point: np.ndarray
    stochastic: bool


def unsupported_reason(
    objective: Any, optimizer: Any, settings: Any = None, stochastic: Any = None
) -> str | None:
    """None when the fused engine can run this, else a short reason (callers use engine.run).

    ``stochastic``: None or a noise level (exact gradients, or Gaussian noise: supported), or
    a gradient source (``GaussianNoise`` on the exact gradient is supported; mini-batches are
    not).
    """
    if not isinstance(objective, Objective) or not isinstance(optimizer, Optimizer):
        return "not an Objective and an Optimizer"
    if getattr(optimizer, "evaluates", False):
        return f"{optimizer.name} searches along lines"
    if not hasattr(optimizer, "kernel"):
        return f"{optimizer.name} has no per-coordinate kernel"
    if hasattr(objective, "examples") or hasattr(objective, "batch_grad"):
        return "data objective"
    if objective.pointwise is None or objective.dim != 2:
        return f"{objective.name} has no pointwise 2-D form"
    if isinstance(stochastic, MiniBatchGradient):
        return "mini-batch gradients"
    if stochastic is not None and not isinstance(stochastic, int | float):
        if not isinstance(stochastic, GaussianNoise):
            return "a gradient source other than Gaussian noise"
        if not isinstance(stochastic.base, ExactGradient):
            return "mini-batch gradients"
    try:
        _loop_for(objective, optimizer, schedule=False, noise=False)
    except codegen.Unprintable as err:
        return f"cannot compile: {err}"
    return None


def run_trajectories(
    objective: Objective,
    optimizer: Optimizer,
    settings: Mapping[str, Any] | Sequence[Mapping[str, Any]],
    starts: Any = None,
    steps: int = 100,
    tol: float = metrics.DEFAULT_TOL,
    noise: float = 0.0,
    seed: int = 0,
    streams: Any = None,
    record_state: bool = False,
) -> engine.Trajectories:
    """``engine.run(objective, optimizer, settings, steps, starts, gradient=noise source)``,
    compiled: the same :class:`engine.Trajectories` (``tol`` is unused, for symmetry)."""
    if record_state:
        raise OptiscopeError("the fused engine does not record optimizer state; use engine.run")
    job = _Job(objective, optimizer, settings, starts, steps, noise, seed, streams)
    rec = job.run_rows(0, job.batch)
    return job.trajectories(rec, 0, job.batch)


def run_columns(
    objective: Objective,
    optimizer: Optimizer,
    settings: Sequence[Mapping[str, Any]] | None,
    starts: Any,
    steps: int,
    tol: float = metrics.DEFAULT_TOL,
    noise: float = 0.0,
    seed: int = 0,
    streams: Any = None,
    *,
    stacked: HParams | None = None,
    measure: bool = True,
) -> FusedResult:
    """``metrics.columns`` of every row, each block of rows measured (by
    ``metrics_numba.row_metrics``) right after it ran, while its record is in cache: memory
    ``O(B)`` plus one block's record per thread (``COLUMN_BLOCK_BYTES``).

    ``settings``: complete settings (``Optimizer.complete_all``); or None and ``stacked``,
    the settings already stacked (``Optimizer.stack_columns``, ``[B or 1, 1]`` each, no
    schedule): no dict per row. ``measure=False`` skips the metrics (``columns`` is then
    empty): the loop's own cost, for benchmarks."""
    if (settings is None) == (stacked is None):
        raise OptiscopeError("run_columns takes settings or stacked hyperparameters, not both")
    job = _Job(
        objective,
        optimizer,
        settings,
        starts,
        steps,
        noise,
        seed,
        streams,
        complete=False,
        stacked=stacked,
    )
    batch, dim = job.batch, objective.dim
    floats, per_dim, ints = metrics_numba.new_outputs(batch, dim)
    final = np.empty((batch, dim))
    diverged = np.full(batch, -1, dtype=np.int64)
    kinds = np.zeros(batch, dtype=np.int64)
    points = np.full((batch, dim), np.nan)
    job.compiled.columns(
        *job.loop_inputs(0, batch),
        column_block_rows(steps),
        *job.context(),
        float(tol),
        floats,
        per_dim,
        ints,
        final,
        diverged,
        kinds,
        points,
        bool(measure),
    )
    return FusedResult(
        columns=metrics_numba.outputs_to_columns(floats, per_dim, ints) if measure else {},
        final=final,
        start=job.x.copy(),
        diverged_at=diverged,
        divergence_kind=kinds,
        divergence_point=points,
        stochastic=job.noise > 0,
    )


@dataclass
class _Record:
    pos: np.ndarray  # [S+1, n, D]
    loss: np.ndarray  # [S+1, n]
    gnorm: np.ndarray  # [S+1, n]
    diverged_at: np.ndarray  # [n]
    kind: np.ndarray  # [n]
    point: np.ndarray  # [n, D]


class _Job:
    """Validated arguments of one fused run, as engine.run validates them.

    ``complete=False``: the settings are already complete (``Optimizer.complete_all``, as
    :func:`run_columns` asks), so they are not completed a second time (a sweep of 40,000
    settings: ~0.15 s); their values are still checked, stacked, by ``optimizer.validate``.
    """

    def __init__(
        self,
        objective,
        optimizer,
        settings,
        starts,
        steps,
        noise,
        seed,
        streams,
        complete=True,
        stacked=None,
    ):
        engine._check_api_types(objective, optimizer)
        if stacked is not None:
            hp, self.x = _broadcast_stacked(objective, optimizer, stacked, starts)
            self.settings = None
        elif complete:
            self.settings, self.x = engine._broadcast(objective, optimizer, settings, starts)
        else:
            self.settings, self.x = _broadcast_complete(objective, optimizer, settings, starts)
        engine.check_steps(steps)
        reason = unsupported_reason(objective, optimizer)
        if reason is not None:
            raise OptiscopeError(f"the fused engine cannot run this: {reason}")
        self.objective, self.optimizer, self.steps = objective, optimizer, int(steps)
        self.batch = self.x.shape[0]
        if stacked is None:
            try:
                hp = optimizer.stack(self.settings)
            except (KeyError, TypeError, ValueError) as err:
                raise OptiscopeError(
                    f"incomplete or invalid {optimizer.name} settings ({err}): complete them "
                    "with Optimizer.complete_all"
                ) from None
        optimizer.validate(hp)
        self.hp_names = list(hp)
        self.hp = np.ascontiguousarray(np.concatenate([hp[k].T for k in self.hp_names]))
        with np.errstate(all="ignore"):
            self.lr_table = None if stacked is not None else learning_rates(self.settings, steps)
            state = optimizer.init(self.x, hp)
            self.f0 = objective.value(self.x)
            self.g0 = objective.grad(self.x)
        engine._check_start(self.x, self.f0, self.g0)
        self.noise = float(noise)
        if not (math.isfinite(self.noise) and self.noise >= 0):
            raise OptiscopeError(f"invalid noise: {noise} (valid: a finite number >= 0)")
        self.seed = seed
        ids = np.arange(self.batch) if streams is None else np.asarray(streams).reshape(-1)
        if ids.shape[0] != self.batch:
            raise OptiscopeError(f"{ids.shape[0]} stream ids for {self.batch} trajectories")
        self.streams = ids.astype(np.uint64)
        self.radius = engine.escape_radius(objective, self.x)
        self._context = None
        self.compiled = _loop_for(
            objective,
            optimizer,
            schedule=self.lr_table is not None,
            noise=self.noise > 0,
            fixed=fixed_arguments(optimizer, self.hp_names, self.hp),
        )
        fields = self.compiled.plan.state
        self.state0 = np.ascontiguousarray(
            np.stack([np.broadcast_to(getattr(state, f), self.x.shape) for f in fields])
            if fields
            else np.zeros((0, self.batch, 2))
        )

    def context(self):
        """The metrics' view of the objective (built once per job, on first use)."""
        if self._context is None:
            self._context = metric_context(self.objective, self.noise > 0)
        return self._context

    def loop_inputs(self, lo: int, hi: int) -> tuple:
        """The compiled loops' leading arguments for rows lo..hi (through ``steps``)."""
        n = hi - lo
        table = self.lr_table[:, lo:hi] if self.lr_table is not None else np.zeros((1, n))
        hp = np.ascontiguousarray(self.hp[:, lo:hi])
        pows, index = power_tables(hp, self.compiled.hoisted, self.steps)
        return (
            self.x[lo:hi],
            self.f0[lo:hi],
            self.g0[lo:hi],
            hp,
            np.ascontiguousarray(self.state0[:, lo:hi]),
            np.ascontiguousarray(table),
            pows,
            index,
            self.noise,
            noise_key(self.seed),
            self.streams[lo:hi],
            self.radius,
            self.steps,
        )

    def run_rows(self, lo: int, hi: int) -> _Record:
        n, steps = hi - lo, self.steps
        rec = _Record(
            pos=np.empty((steps + 1, n, 2)),
            loss=np.empty((steps + 1, n)),
            gnorm=np.empty((steps + 1, n)),
            diverged_at=np.full(n, -1, dtype=np.int64),
            kind=np.zeros(n, dtype=np.int64),
            point=np.full((n, 2), np.nan),
        )
        self.compiled.loop(
            *self.loop_inputs(lo, hi),
            block_rows(steps),
            rec.pos,
            rec.loss,
            rec.gnorm,
            rec.diverged_at,
            rec.kind,
            rec.point,
        )
        return rec

    def trajectories(self, rec: _Record, lo: int, hi: int) -> engine.Trajectories:
        k = np.arange(self.steps + 1)[:, None]
        last = np.where(rec.diverged_at > 0, rec.diverged_at - 1, self.steps)
        evaluations = np.minimum(k, last[None, :]).astype(np.int64, copy=False)
        table = None if self.lr_table is None else self.lr_table[:, lo:hi]
        return engine.Trajectories(
            objective=self.objective,
            optimizer=self.optimizer.name,
            settings=self.settings[lo:hi],
            positions=rec.pos,
            losses=rec.loss,
            grad_norms=rec.gnorm,
            evaluations=evaluations,
            diverged_at=rec.diverged_at,
            converged_at=np.full(hi - lo, -1, dtype=np.int64),
            learning_rates=table,
            stop_codes=np.zeros(hi - lo, dtype=np.int64),
            stop_reasons=dict(self.optimizer.stop_reasons),
            divergence_kind=rec.kind,
            divergence_point=rec.point,
            escape_radius=self.radius,
            stochastic=self.noise > 0,
        )


def _broadcast_complete(objective, optimizer, settings, starts):
    """``engine._broadcast`` for settings already complete (every hyperparameter named,
    nothing unknown): the start is checked as there (by ``_broadcast`` on the first setting
    alone), the settings are not completed again; any other settings go through
    ``_broadcast``."""
    if isinstance(settings, Mapping):
        settings = [settings]
    if isinstance(settings, str | bytes) or not isinstance(settings, Sequence):
        return engine._broadcast(objective, optimizer, settings, starts)  # its error
    settings = list(settings)
    required = {h.name for h in optimizer.hyperparams}
    allowed = set(optimizer._value_schema())
    if not settings or not all(
        isinstance(s, Mapping) and required <= s.keys() <= allowed for s in settings
    ):  # not complete: completed (or refused) as engine.run does
        return engine._broadcast(objective, optimizer, settings, starts)
    _, x = engine._broadcast(objective, optimizer, settings[:1], starts)
    batch = max(len(settings), x.shape[0])
    if len(settings) not in (1, batch) or x.shape[0] not in (1, batch):
        raise OptiscopeError(f"{len(settings)} settings and {x.shape[0]} starts do not broadcast")
    return settings * (batch // len(settings)), np.repeat(x, batch // x.shape[0], axis=0)


def _broadcast_stacked(objective, optimizer, stacked, starts):
    """``(hp, x)``: stacked hyperparameters (``{name: [1 or B, 1]}``, every one the optimizer
    stacks) and the starts (checked as ``engine._broadcast`` checks them), broadcast to B."""
    names = [h.name for h in (*optimizer.hyperparams, *optimizer.options)]
    if not isinstance(stacked, Mapping) or set(stacked) != set(names):
        raise OptiscopeError(
            f"stacked {optimizer.name} hyperparameters must name exactly: {', '.join(names)} "
            "(Optimizer.stack_columns)"
        )
    columns = {k: np.asarray(stacked[k], dtype=np.float64).reshape(-1, 1) for k in names}
    _, x = engine._broadcast(objective, optimizer, [optimizer.resolve({})], starts)
    rows = {len(c) for c in columns.values()} - {1}
    if len(rows | {x.shape[0]} - {1}) > 1:
        raise OptiscopeError(f"{max(rows)} settings and {x.shape[0]} starts do not broadcast")
    batch = max([x.shape[0], *rows])
    hp = {k: np.broadcast_to(c, (batch, 1)) for k, c in columns.items()}
    return hp, np.repeat(x, batch // x.shape[0], axis=0)


def block_rows(steps: int) -> int:
    """Rows per prange block: its record (4 numbers per row and step) fits BLOCK_BYTES,
    in multiples of 8 rows (one AVX-512 vector) when there is room, at least 1."""
    rows = BLOCK_BYTES // ((steps + 1) * 4 * 8)
    return max(1, rows // 8 * 8 if rows >= 8 else rows)


def column_block_rows(steps: int) -> int:
    """Rows per prange block of :func:`run_columns`: the block's record (at most 4 numbers
    per row and step) fits COLUMN_BLOCK_BYTES, in multiples of 8 rows when there is room."""
    rows = COLUMN_BLOCK_BYTES // ((steps + 1) * 4 * 8)
    return max(1, rows // 8 * 8 if rows >= 8 else rows)


def fixed_arguments(optimizer: Optimizer, hp_names: list[str], hp: np.ndarray) -> dict:
    """The kernel arguments every row holds at one value the loop may print into the kernel
    (:mod:`optiscope.fused.specialize`): options (bool and choice hyperparameters) at any
    value, numbers only at 0 when 0 is their default (weight decay, dampening ...); keyed by
    the kernel's argument names. Few values, so few compiled variants."""
    kinds = {h.name: h for h in (*optimizer.hyperparams, *optimizer.options)}
    fixed = {}
    for index, name in enumerate(hp_names):
        column = hp[index]
        if column.size == 0 or not (column == column[0]).all():
            continue
        value, spec = float(column[0]), kinds.get(name)
        if spec is None:
            continue
        if spec.kind in ("bool", "choice") or (value == 0.0 and spec.encode(spec.default) == 0.0):
            fixed[_KERNEL_NAMES.get(name, name)] = value
    return fixed


#: hyperparameter -> the kernel's argument name, where they differ (codegen.ALIASES reversed)
_KERNEL_NAMES = {known: arg for arg, known in codegen.ALIASES.items()}


def _loop_for(
    objective: Objective,
    optimizer: Optimizer,
    schedule: bool,
    noise: bool,
    fixed: Mapping[str, float] | None = None,
):
    """The compiled loop, its state fields and hyperparameter order read from the optimizer."""
    defaults = optimizer.stack([optimizer.resolve({})])
    state = optimizer.init(np.zeros((1, objective.dim)), defaults)
    fields = tuple(f for f in state._fields if f != "step")
    return compiled_loop(objective, optimizer, fields, list(defaults), schedule, noise, fixed)
