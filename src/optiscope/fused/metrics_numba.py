"""Every metric of :func:`optiscope.metrics.columns`, compiled with Numba, one row at a time.

The second evaluator of the run table's metrics: the same definitions as ``metrics.py`` (which
stays the readable truth; read its docstrings for the rules), computed from one row's recorded
arrays in compiled loops, so that the fused engine can measure each row of a block right after
running it, inside its ``prange`` loop, without ever holding a whole ``[S+1, B, D]`` run.

- :func:`metric_context` gathers, once per objective, what the metrics need to know of it
  (:class:`MetricContext`: known minimizers, ``f_min``, the Hessian's eigenvectors at each
  minimizer computed by ``metrics.eigen_directions`` itself, and the metrics' constants).
- :func:`row_metrics` (njit) measures row ``b``: ``row_metrics(pos [S+1, D], loss [S+1],
  gnorm [S+1], diverged_at, converged_at, evaluations_final, *context, tol, floats, per_dim,
  ints, b)``, the context's fields passed in their order, writing row ``b`` of the three
  output arrays made by :func:`new_outputs` (``rate_note`` as an int code: 0 for None, ``i``
  for ``RATE_NOTES[i - 1]``).
- :func:`outputs_to_columns` turns those arrays into the dict of ``metrics.columns`` (same
  keys, order, dtypes and shapes; ``rate_note`` an object array of str / None), and
  :func:`block_columns` does both for a whole recorded block.

Same numbers: every sum NumPy computes with ``np.sum`` (pairwise, 8 accumulators, blocks of
128) is computed here in the same order (:func:`_pairwise`), every sum NumPy accumulates one
coordinate at a time is accumulated in that order, so every column is equal bit for bit but
two: ``rate``, ``exp`` of a slope fitted on logarithms, and ``auc``, a mean of ``log10``,
since NumPy's ``log``, ``log10`` and ``exp`` (SIMD, SVML on AVX-512 machines) and the C
library's that compiled code calls differ in the last bit now and then (measured here: 18 of
2,000,000 logs, 48,409 of 2,000,000 log10s, 5% of exps; on 40,000 momentum rows, 1,761
rates differ, by 1 ulp, and nothing else; on 640 runs of 300 steps, 38 aucs differ, by at
most 7e-16 relative; their sums are in the same order). A log one bit off could in
principle move a threshold test of the rate fit (``k1``, a note) that sits exactly on its
edge; no test has met one. The constants are read from ``metrics.py`` at run time
(:attr:`MetricContext.constants`), never compiled in, so a cached compile cannot go stale
when they change.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numba
import numpy as np

from optiscope import metrics
from optiscope.engine import Trajectories
from optiscope.objectives.base import Objective

# --- output layout -------------------------------------------------------------------------

FLOAT_COLUMNS = (
    "loss_final",
    "gap_final",
    "distance_final",
    "zigzag",
    "overshoot",
    "rate",
    "cycle_amplitude",
    "path_length",
    "efficiency",
    "auc",
)
PER_DIM_COLUMNS = ("zigzag_per_coordinate", "zigzag_per_direction", "overshoot_per_direction")
INT_COLUMNS = (
    "steps_to_tol",
    "first_to_tol",
    "diverged_at",
    "rate_fit_start",
    "rate_fit_end",
    "rate_note",
    "cycle_period",
    "evaluations",
)
COLUMN_ORDER = metrics.COLUMN_NAMES  # the key order of metrics.columns

# Column indices (compiled in: they are this module's own layout).
(
    F_LOSS,
    F_GAP,
    F_DISTANCE,
    F_ZIGZAG,
    F_OVERSHOOT,
    F_RATE,
    F_AMPLITUDE,
    F_LENGTH,
    F_EFFICIENCY,
    F_AUC,
) = range(10)
P_ZIGZAG_COORD, P_ZIGZAG_DIR, P_OVERSHOOT_DIR = range(3)
I_STEPS_TO_TOL, I_FIRST_TO_TOL, I_DIVERGED, I_FIT_START, I_FIT_END, I_NOTE, I_PERIOD, I_EVALS = (
    range(8)
)

# Slots of MetricContext.constants (values from metrics.py, see _constants).
(
    C_STEP_NOISE,
    C_START_NOISE,
    C_RATE_FLOOR,
    C_RATE_PLATEAU,
    C_RATE_TRANSIENT,
    C_RATE_MIN_POINTS,
    C_LOG_MIN_DECAY,
    C_LOG_SOME_DECAY,
    C_TAIL_INV,
    C_RATE_TREND,
    C_RATE_TREND_MIN,
    C_NOISY_TREND,
    C_NOISY_POINTS,
    C_ZIGZAG_MIN_PAIRS,
    C_CYCLE_MAX_PERIOD,
    C_CYCLE_TOL,
    C_CYCLE_REL_TOL,
    C_NOTE_DIVERGED,
    C_NOTE_CYCLE,
    C_NOTE_NO_DECAY,
    C_NOTE_NOISE_FLOOR,
    C_NOTE_STALLED,
    C_NOTE_TOO_SHORT,
    C_AUC_FLOOR_DIVISOR,
    N_CONSTANTS,
) = range(25)

# numpy's pairwise summation: 8 accumulators over blocks of at most this many terms.
PAIRWISE_BLOCK = 128
# Stack slots for its recursion: 3 per level, about log2(n / 128) levels (100,001 terms: 10).
PAIRWISE_STACK = 64


class MetricContext(NamedTuple):
    """What the metrics know of the objective, as arrays a compiled function can take.

    Passed to :func:`row_metrics` field by field, in this order.
    """

    minimizers: np.ndarray  # [M, D] known global minimizers (M may be 0)
    f_min: float  # NaN when unknown
    eigenvalues: np.ndarray  # [M, D] ascending; NaN where undefined
    eigenvectors: np.ndarray  # [M, D, D], column i is direction i; NaN where undefined
    defined: np.ndarray  # [M] bool: the Hessian at that minimizer is finite
    has_eigen: bool  # False without a Hessian or without a known minimizer
    stochastic: bool  # the optimizer saw noisy gradients (the rate's noise-floor test)
    constants: np.ndarray  # [N_CONSTANTS] the metrics' constants (slots C_*)


def metric_context(objective: Objective, stochastic: bool) -> MetricContext:
    """The :class:`MetricContext` of ``objective`` (built once per objective, in Python).

    The eigen-decomposition at each minimizer is ``metrics.eigen_directions`` of a batch whose
    final points are the minimizers themselves (each is its own nearest minimizer), so it is
    the very computation (same Hessian, ``eigh`` and sign rule) the recorded-path metrics do at
    a row's target.
    """
    dim = objective.dim
    minimizers = np.asarray(objective.minimizers, dtype=np.float64).reshape(-1, dim)
    count = minimizers.shape[0]
    eig = _eigen_at(objective, minimizers) if count else None
    if eig is None:
        values = np.full((count, dim), np.nan)
        vectors = np.full((count, dim, dim), np.nan)
        defined = np.zeros(count, dtype=np.bool_)
    else:
        values, vectors, defined = eig.values, eig.vectors, eig.defined
    return MetricContext(
        minimizers=np.ascontiguousarray(minimizers),
        f_min=math.nan if objective.f_min is None else float(objective.f_min),
        eigenvalues=np.ascontiguousarray(values, dtype=np.float64),
        eigenvectors=np.ascontiguousarray(vectors, dtype=np.float64),
        defined=np.ascontiguousarray(defined, dtype=np.bool_),
        has_eigen=eig is not None,
        stochastic=bool(stochastic),
        constants=_constants(),
    )


def _eigen_at(objective: Objective, minimizers: np.ndarray) -> metrics.EigenDirections | None:
    """``metrics.eigen_directions`` with the minimizers as the final points of a batch."""
    count = minimizers.shape[0]
    at_minimizers = Trajectories(
        objective=objective,
        optimizer="",
        settings=[{}] * count,
        positions=minimizers[None],  # [1, M, D]: zero steps, each row ends at a minimizer
        losses=np.zeros((1, count)),
        grad_norms=np.zeros((1, count)),
        evaluations=np.zeros((1, count), dtype=np.int64),
        diverged_at=np.full(count, -1, dtype=np.int64),
    )
    return metrics.eigen_directions(at_minimizers)


def _constants() -> np.ndarray:
    """The metrics' constants in the slots ``C_*``, read from ``metrics.py`` (log thresholds
    taken with NumPy's log, as ``metrics._rate_fit`` does)."""
    notes = metrics.RATE_NOTES
    values = {
        C_STEP_NOISE: metrics.STEP_NOISE,
        C_START_NOISE: metrics.START_NOISE,
        C_RATE_FLOOR: metrics.RATE_FLOOR,
        C_RATE_PLATEAU: metrics.RATE_PLATEAU,
        C_RATE_TRANSIENT: metrics.RATE_TRANSIENT,
        C_RATE_MIN_POINTS: metrics.RATE_MIN_POINTS,
        C_LOG_MIN_DECAY: np.log(metrics.RATE_MIN_DECAY),
        C_LOG_SOME_DECAY: np.log(metrics.RATE_SOME_DECAY),
        C_TAIL_INV: metrics.RATE_ONGOING_TAIL_INV,
        C_RATE_TREND: metrics.RATE_TREND,
        C_RATE_TREND_MIN: metrics.RATE_TREND_MIN,
        C_NOISY_TREND: metrics.RATE_NOISY_TREND,
        C_NOISY_POINTS: metrics.RATE_NOISY_POINTS,
        C_ZIGZAG_MIN_PAIRS: metrics.ZIGZAG_MIN_PAIRS,
        C_CYCLE_MAX_PERIOD: metrics.CYCLE_MAX_PERIOD,
        C_CYCLE_TOL: metrics.CYCLE_TOL,
        C_CYCLE_REL_TOL: metrics.CYCLE_REL_TOL,
        C_NOTE_DIVERGED: notes.index("diverged") + 1,
        C_NOTE_CYCLE: notes.index("limit cycle") + 1,
        C_NOTE_NO_DECAY: notes.index("no decay") + 1,
        C_NOTE_NOISE_FLOOR: notes.index("noise floor") + 1,
        C_NOTE_STALLED: notes.index("stalled") + 1,
        C_NOTE_TOO_SHORT: notes.index("too short") + 1,
        C_AUC_FLOOR_DIVISOR: metrics.AUC_FLOOR_DIVISOR,
    }
    constants = np.empty(N_CONSTANTS)
    for slot, value in values.items():
        constants[slot] = float(value)
    return constants


# --- Python side ---------------------------------------------------------------------------


def new_outputs(batch: int, dim: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The arrays :func:`row_metrics` writes: ``floats [B, 10]`` (``FLOAT_COLUMNS``),
    ``per_dim [B, 3, D]`` (``PER_DIM_COLUMNS``), ``ints [B, 8]`` (``INT_COLUMNS``)."""
    floats = np.full((batch, len(FLOAT_COLUMNS)), np.nan)
    per_dim = np.full((batch, len(PER_DIM_COLUMNS), dim), np.nan)
    ints = np.full((batch, len(INT_COLUMNS)), -1, dtype=np.int64)
    return floats, per_dim, ints


def outputs_to_columns(
    floats: np.ndarray, per_dim: np.ndarray, ints: np.ndarray
) -> dict[str, np.ndarray]:
    """The dict of ``metrics.columns`` from :func:`row_metrics`' arrays (``rate_note`` back to
    an object array of None / one of ``metrics.RATE_NOTES``)."""
    found: dict[str, np.ndarray] = {}
    for i, name in enumerate(FLOAT_COLUMNS):
        found[name] = floats[:, i].copy()
    for i, name in enumerate(PER_DIM_COLUMNS):
        found[name] = per_dim[:, i, :].copy()
    for i, name in enumerate(INT_COLUMNS):
        found[name] = ints[:, i].copy()
    choices = np.array((None, *metrics.RATE_NOTES), dtype=object)
    found["rate_note"] = choices[ints[:, I_NOTE]]
    return {name: found[name] for name in COLUMN_ORDER}


def block_columns(
    positions: np.ndarray,
    losses: np.ndarray,
    grad_norms: np.ndarray,
    diverged_at: np.ndarray,
    converged_at: np.ndarray,
    evaluations_final: np.ndarray,
    context: MetricContext,
    tol: float,
) -> dict[str, np.ndarray]:
    """``metrics.columns`` of a recorded block, computed row by row in compiled code.

    ``positions [S+1, n, D]``, ``losses`` and ``grad_norms [S+1, n]``, ``diverged_at``,
    ``converged_at`` and ``evaluations_final [n]`` (int; -1 for never), as in a
    :class:`~optiscope.engine.Trajectories`; the rows run in parallel (Numba threads).
    """
    # row_metrics reads each row's path contiguously: rows first
    positions = np.ascontiguousarray(np.moveaxis(positions, 1, 0), dtype=np.float64)
    floats, per_dim, ints = new_outputs(positions.shape[0], positions.shape[2])
    _block_rows(
        positions,
        np.ascontiguousarray(np.asarray(losses).T, dtype=np.float64),
        np.ascontiguousarray(np.asarray(grad_norms).T, dtype=np.float64),
        np.ascontiguousarray(diverged_at, dtype=np.int64),
        np.ascontiguousarray(converged_at, dtype=np.int64),
        np.ascontiguousarray(evaluations_final, dtype=np.int64),
        *context,
        float(tol),
        floats,
        per_dim,
        ints,
    )
    return outputs_to_columns(floats, per_dim, ints)


# --- compiled: one row ---------------------------------------------------------------------

jit = numba.njit(cache=True, nogil=True)


@numba.njit(cache=True, nogil=True, parallel=True)
def _block_rows(
    positions,
    losses,
    grad_norms,
    diverged_at,
    converged_at,
    evaluations_final,
    minimizers,
    f_min,
    eigenvalues,
    eigenvectors,
    defined,
    has_eigen,
    stochastic,
    constants,
    tol,
    floats,
    per_dim,
    ints,
):  # pragma: no cover - compiled
    for b in numba.prange(positions.shape[0]):
        row_metrics(
            positions[b],
            losses[b],
            grad_norms[b],
            diverged_at[b],
            converged_at[b],
            evaluations_final[b],
            minimizers,
            f_min,
            eigenvalues,
            eigenvectors,
            defined,
            has_eigen,
            stochastic,
            constants,
            tol,
            floats,
            per_dim,
            ints,
            b,
        )


@jit
def row_metrics(
    pos,
    loss,
    gnorm,
    diverged_at,
    converged_at,
    evaluations_final,
    minimizers,
    f_min,
    eigenvalues,
    eigenvectors,
    defined,
    has_eigen,
    stochastic,
    constants,
    tol,
    floats,
    per_dim,
    ints,
    b,
):  # pragma: no cover - compiled
    """Every metric of one row, written to row ``b`` of ``floats``, ``per_dim`` and ``ints``.

    ``pos [S+1, D]`` (any strides: a row of a block), ``loss`` and ``gnorm [S+1]`` are the
    row's recorded path; the context's fields follow in :class:`MetricContext` order
    (``eigenvalues`` is not needed by any column).
    """
    steps = pos.shape[0] - 1
    dim = pos.shape[1]
    path = pos  # not copied: the block is in cache, and a contiguous copy measured no faster
    alive = diverged_at < 0
    floats[b, F_LOSS] = loss[steps]
    floats[b, F_GAP] = loss[steps] - f_min
    ints[b, I_DIVERGED] = diverged_at
    ints[b, I_EVALS] = evaluations_final
    first, settled = _tolerance_steps(loss, f_min, tol)
    ints[b, I_FIRST_TO_TOL] = first
    ints[b, I_STEPS_TO_TOL] = settled if alive else -1
    work = np.empty((4, steps + 1))
    floor = tol / constants[C_AUC_FLOOR_DIVISOR]
    floats[b, F_AUC] = _auc(loss, f_min, floor, work[0])  # work[0] is free again after it

    small = np.empty(dim)  # scratch for the pairwise sums over coordinates
    nearest, distance = _nearest_minimizer(path[steps], minimizers, small)
    floats[b, F_DISTANCE] = distance
    eigen = has_eigen and nearest >= 0 and defined[nearest]

    step_norms = work[0]
    largest = _step_norms(path, step_norms)
    length = 0.0 + _pairwise(step_norms, 0, steps)
    floats[b, F_LENGTH] = length
    floats[b, F_EFFICIENCY] = _efficiency(path, length, small)

    # zigzag: per coordinate always, per eigen-direction where defined
    noise = constants[C_STEP_NOISE] * largest
    min_pairs = constants[C_ZIGZAG_MIN_PAIRS]
    per_coordinate, per_direction = per_dim[b, P_ZIGZAG_COORD], per_dim[b, P_ZIGZAG_DIR]
    _zigzags(path, eigenvectors, nearest, eigen, noise, min_pairs, per_coordinate, per_direction)
    zig = _nan_max(per_direction)
    floats[b, F_ZIGZAG] = _nan_max(per_coordinate) if math.isnan(zig) else zig

    overshoots = per_dim[b, P_OVERSHOOT_DIR]
    overshoots[:] = np.nan
    if eigen and alive:
        start_noise = constants[C_START_NOISE]
        _overshoots(path, minimizers[nearest], eigenvectors[nearest], start_noise, overshoots)
    floats[b, F_OVERSHOOT] = _nan_max(overshoots)

    period, amplitude = _cycle(path, alive, constants)
    ints[b, I_PERIOD] = period if period >= 2 else -1
    floats[b, F_AMPLITUDE] = amplitude

    r = work[1]
    if nearest >= 0:
        scale = _fill_distances(path, minimizers[nearest], r, small)
    else:
        scale = _fill_gradient_norms(gnorm, r)
    end = converged_at - 1 if converged_at >= 1 else steps
    note, rate, k0, k1 = _rate_fit(
        r, work[2], work[3], end, scale, alive, period, stochastic, constants
    )
    ints[b, I_NOTE] = note
    floats[b, F_RATE] = rate
    ints[b, I_FIT_START] = k0
    ints[b, I_FIT_END] = k1


# --- compiled: the basic metrics -----------------------------------------------------------


@jit
def _tolerance_steps(loss, f_min, tol):  # pragma: no cover - compiled
    """``(first_to_tol, steps_to_tol before the divergence rule)``: the first step with the
    gap ``<= tol``, and the first step from which it stays there; -1 for never."""
    steps = loss.shape[0] - 1
    first = -1
    for k in range(steps + 1):
        if loss[k] - f_min <= tol:
            first = k
            break
    settled = -1
    k = steps
    while k >= 0 and loss[k] - f_min <= tol:
        settled = k
        k -= 1
    return first, settled


@jit
def _auc(loss, f_min, floor, logs):  # pragma: no cover - compiled
    """``metrics.auc`` of one row: ``log10(max(gap_k, floor))`` into ``logs [S+1]`` (scratch),
    summed in NumPy's pairwise order, over S + 1; NaN when ``f_min`` is (unknown)."""
    if math.isnan(f_min):
        return math.nan
    size = loss.shape[0]
    for k in range(size):
        logs[k] = math.log10(_maximum(loss[k] - f_min, floor))
    return (0.0 + _pairwise(logs, 0, size)) / size


@jit
def _nearest_minimizer(x, minimizers, small):  # pragma: no cover - compiled
    """``(index, distance)`` of the known minimizer nearest ``x`` (``metrics.target`` and
    ``metrics.distance_final``: squared distances summed as ``np.sum`` does, the first of equal
    ones, NaN first); ``(-1, NaN)`` when none is known."""
    dim = x.shape[0]
    nearest = -1
    best = math.nan
    for j in range(minimizers.shape[0]):
        for d in range(dim):
            diff = x[d] - minimizers[j, d]
            small[d] = diff * diff
        squared = 0.0 + _pairwise(small, 0, dim)
        if math.isnan(squared):
            return j, math.nan
        if nearest < 0 or squared < best:
            nearest, best = j, squared
    return nearest, math.sqrt(best)


@jit
def _step_norms(pos, out):  # pragma: no cover - compiled
    """``out[k-1] = ||x_k - x_{k-1}||`` (squares added coordinate by coordinate); returns the
    largest (NaN if any is NaN), 0 for a run of no steps."""
    steps, dim = pos.shape[0] - 1, pos.shape[1]
    largest = 0.0
    for k in range(1, steps + 1):
        total = 0.0
        for d in range(dim):
            move = pos[k, d] - pos[k - 1, d]
            total += move * move
        norm = math.sqrt(total)
        out[k - 1] = norm
        largest = norm if k == 1 else _maximum(largest, norm)
    return largest


@jit
def _efficiency(pos, length, small):  # pragma: no cover - compiled
    """``||x_S - x_0|| / path_length``; NaN when the length is not positive."""
    steps, dim = pos.shape[0] - 1, pos.shape[1]
    for d in range(dim):
        diff = pos[steps, d] - pos[0, d]
        small[d] = diff * diff
    chord = math.sqrt(0.0 + _pairwise(small, 0, dim))
    return chord / length if length > 0 else math.nan


@jit
def _maximum(a, b):  # pragma: no cover - compiled
    """``np.maximum``: the larger, NaN when either is NaN."""
    return a if (a >= b or math.isnan(a)) else b


@jit
def _minimum(a, b):  # pragma: no cover - compiled
    """``np.minimum``: the smaller, NaN when either is NaN."""
    return a if (a <= b or math.isnan(a)) else b


@jit
def _nan_max(values):  # pragma: no cover - compiled
    """The largest value, skipping NaN; NaN when all are."""
    best = math.nan
    for v in values:
        if not math.isnan(v) and (math.isnan(best) or v > best):
            best = v
    return best


@jit
def _pairwise(a, lo, n):  # pragma: no cover - compiled
    """``a[lo:lo+n]`` summed in NumPy's pairwise order (``np.sum`` of a contiguous axis adds
    this to its initial 0).

    NumPy recurses: a block of at most 128 terms is summed on 8 accumulators, a longer range
    is the sum of its first ``half`` terms (``n // 2`` cut down to a multiple of 8) plus the
    sum of the rest. Here the recursion runs on an explicit stack: a cached Numba function
    that calls itself crashes when it is loaded back from the cache (Numba 0.68).
    """
    if n <= PAIRWISE_BLOCK:
        return _pairwise_block(a, lo, n)
    tasks = np.empty((PAIRWISE_STACK, 2), dtype=np.int64)  # (start, size); size -1: add two
    values = np.empty(PAIRWISE_STACK)
    tasks[0, 0], tasks[0, 1] = lo, n
    pending, known = 1, 0
    while pending > 0:
        pending -= 1
        start, size = tasks[pending, 0], tasks[pending, 1]
        if size < 0:  # both halves are summed: left + right
            known -= 1
            values[known - 1] = values[known - 1] + values[known]
        elif size <= PAIRWISE_BLOCK:
            values[known] = _pairwise_block(a, start, size)
            known += 1
        else:  # popped in the order: left half, right half, then their sum
            half = size // 2
            half -= half % 8
            tasks[pending, 0], tasks[pending, 1] = 0, -1
            tasks[pending + 1, 0], tasks[pending + 1, 1] = start + half, size - half
            tasks[pending + 2, 0], tasks[pending + 2, 1] = start, half
            pending += 3
    return values[0]


@jit
def _pairwise_block(a, lo, n):  # pragma: no cover - compiled
    """NumPy's sum of at most 128 terms: in order below 8 terms, else on 8 accumulators
    (``r[j]`` takes terms ``j, j+8, ...``), combined as ``((r0+r1)+(r2+r3))+((r4+r5)+(r6+r7))``,
    then the terms past the last multiple of 8 added in order."""
    if n < 8:
        total = -0.0
        for i in range(lo, lo + n):
            total += a[i]
        return total
    r0, r1, r2, r3 = a[lo], a[lo + 1], a[lo + 2], a[lo + 3]
    r4, r5, r6, r7 = a[lo + 4], a[lo + 5], a[lo + 6], a[lo + 7]
    whole = n - n % 8
    i = 8
    while i < whole:
        j = lo + i
        r0 += a[j]
        r1 += a[j + 1]
        r2 += a[j + 2]
        r3 += a[j + 3]
        r4 += a[j + 4]
        r5 += a[j + 5]
        r6 += a[j + 6]
        r7 += a[j + 7]
        i += 8
    total = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    while i < n:
        total += a[lo + i]
        i += 1
    return total


# --- compiled: zigzag and overshoot ---------------------------------------------------------


@jit
def _zigzags(
    pos, eigenvectors, nearest, along, noise, min_pairs, by_coordinate, by_direction
):  # pragma: no cover - compiled
    """``metrics._flip_fraction`` per coordinate into ``by_coordinate [D]`` and, when
    ``along``, per eigen-direction of minimizer ``nearest`` into ``by_direction [D]`` (NaN
    otherwise); the projections are summed coordinate by coordinate, as
    ``metrics._moves_along`` does."""
    dim = pos.shape[1]
    for i in range(dim):
        by_coordinate[i] = _flip_fraction(pos, eigenvectors, nearest, i, False, noise, min_pairs)
        by_direction[i] = (
            _flip_fraction(pos, eigenvectors, nearest, i, True, noise, min_pairs)
            if along
            else math.nan
        )


@jit
def _flip_fraction(
    pos, eigenvectors, nearest, i, along, noise, min_pairs
):  # pragma: no cover - compiled
    """The zigzag of one component of the moves: coordinate ``i``, or (``along``) the
    projection on eigenvector ``i`` of minimizer ``nearest``.

    A move counts when its component exceeds ``noise``; over consecutive counted pairs, the
    fraction that reverse sign; NaN with fewer than ``min_pairs`` pairs or fewer than 2 steps.
    """
    steps, dim = pos.shape[0] - 1, pos.shape[1]
    if steps < 2:
        return math.nan
    previous = 0.0  # the last move's component; 0.0 when it did not count (a counted one is not)
    pairs = 0
    flips = 0
    for k in range(1, steps + 1):
        if along:
            now = (pos[k, 0] - pos[k - 1, 0]) * eigenvectors[nearest, 0, i]
            for d in range(1, dim):
                now += (pos[k, d] - pos[k - 1, d]) * eigenvectors[nearest, d, i]
        else:
            now = pos[k, i] - pos[k - 1, i]
        if abs(now) > noise:
            if previous != 0.0:
                pairs += 1
                flips += (now > 0.0) != (previous > 0.0)
            previous = now
        else:
            previous = 0.0
    return flips / pairs if pairs >= min_pairs else math.nan


@jit
def _overshoots(pos, x_star, vectors, start_noise, out):  # pragma: no cover - compiled
    """``metrics._overshoot_per_direction`` of a row that did not diverge and has defined
    eigen-directions ``vectors [D, D]`` at ``x_star``, into ``out [D]`` (NaN where the start
    has no offset along the direction).

    With ``c_k = e_i . (x_k - x*)`` summed coordinate by coordinate (``metrics._offset_along``):
    the largest ``max(0, -sign(c_0) c_k)`` over the steps (NaN if any is), over ``|c_0|``.
    """
    steps, dim = pos.shape[0] - 1, pos.shape[1]
    start = 0.0
    for d in range(dim):
        diff = pos[0, d] - x_star[d]
        start += diff * diff
    start = math.sqrt(start)
    for i in range(dim):
        c0 = _offset_along(pos, 0, x_star, vectors, i)
        if not abs(c0) > start_noise * start:
            out[i] = math.nan  # no start offset along it
            continue
        excursion = 0.0  # every max(0, .) is >= 0: starting at 0 changes nothing
        for k in range(1, steps + 1):
            c = _offset_along(pos, k, x_star, vectors, i)
            away = -c if c0 > 0.0 else c  # -sign(c0) * c
            if away > excursion or math.isnan(away):
                excursion = away
                if math.isnan(away):
                    break
        out[i] = excursion / abs(c0)


@numba.njit(cache=True, nogil=True, inline="always")
def _offset_along(pos, k, x_star, vectors, i):  # pragma: no cover - compiled
    """``e_i . (x_k - x*)``, summed coordinate by coordinate (``metrics._offset_along``)."""
    total = (pos[k, 0] - x_star[0]) * vectors[0, i]
    for d in range(1, pos.shape[1]):
        total += (pos[k, d] - x_star[d]) * vectors[d, i]
    return total


# --- compiled: cycle -----------------------------------------------------------------------


@jit
def _cycle(pos, alive, constants):  # pragma: no cover - compiled
    """``(period, amplitude)`` of ``metrics.cycle``: period 0 none, 1 stationary, 2..8 a cycle
    (amplitude NaN unless a cycle); over the last ``W = S // 4`` steps."""
    steps, dim = pos.shape[0] - 1, pos.shape[1]
    window = steps // 4
    if window < 2 or not alive:
        return 0, math.nan
    lo = steps - window
    largest = 0.0  # every |coordinate| is >= 0
    for k in range(lo, steps + 1):
        for d in range(dim):
            largest = _maximum(largest, abs(pos[k, d]))
    tol = constants[C_CYCLE_TOL] * (1.0 + largest)
    if _repeats(pos, lo, 1, tol):
        return 1, math.nan
    longest = min(int(constants[C_CYCLE_MAX_PERIOD]), window // 2)
    for p in range(2, longest + 1):
        amplitude = _half_range(pos, steps - p + 1)
        if not amplitude > tol:
            continue
        # err <= tol and err <= CYCLE_REL_TOL * amplitude, stopping at the first pair above
        if _repeats(pos, lo, p, min(tol, constants[C_CYCLE_REL_TOL] * amplitude)):
            return p, amplitude
    return 0, math.nan


@jit
def _repeats(pos, lo, p, limit):  # pragma: no cover - compiled
    """Whether ``|x_k[d] - x_{k-p}[d]| <= limit`` for every pair inside the window (from
    ``lo``) and every coordinate; False at the first one above it (or NaN)."""
    steps, dim = pos.shape[0] - 1, pos.shape[1]
    for k in range(lo + p, steps + 1):
        for d in range(dim):
            if not abs(pos[k, d] - pos[k - p, d]) <= limit:
                return False
    return True


@jit
def _half_range(pos, first):  # pragma: no cover - compiled
    """The largest over coordinates of half the peak-to-peak range of ``x_first .. x_S``
    (NaN propagates)."""
    steps, dim = pos.shape[0] - 1, pos.shape[1]
    best = 0.0
    for d in range(dim):
        high = pos[first, d]
        low = pos[first, d]
        for k in range(first + 1, steps + 1):
            high = _maximum(high, pos[k, d])
            low = _minimum(low, pos[k, d])
        amplitude = 0.5 * (high - low)
        best = amplitude if d == 0 else _maximum(best, amplitude)
    return best


# --- compiled: rate ------------------------------------------------------------------------


@jit
def _fill_distances(pos, x_star, r, small):  # pragma: no cover - compiled
    """``r_k = ||x_k - x*||`` (0 where not finite); returns ``||x*||`` (pairwise sum)."""
    steps, dim = pos.shape[0] - 1, pos.shape[1]
    for k in range(steps + 1):
        total = 0.0
        for d in range(dim):
            diff = pos[k, d] - x_star[d]
            total += diff * diff
        v = math.sqrt(total)
        r[k] = v if math.isfinite(v) else 0.0
    for d in range(dim):
        small[d] = x_star[d] * x_star[d]
    return math.sqrt(0.0 + _pairwise(small, 0, dim))


@jit
def _fill_gradient_norms(gnorm, r):  # pragma: no cover - compiled
    """``r_k`` = the gradient norm (0 where not finite); the scale is 0."""
    for k in range(gnorm.shape[0]):
        v = gnorm[k]
        r[k] = v if math.isfinite(v) else 0.0
    return 0.0


@jit
def _rate_fit(
    r, envelope, log_e, end, scale, alive, period, stochastic, constants
):  # pragma: no cover - compiled
    """``(note code, rate, k0, k1)`` of ``metrics._rate_fit`` for one row's ``r [S+1]``.

    ``envelope`` and ``log_e`` are ``[S+1]`` scratch. The notes are tried in the order of
    ``metrics.rate_fit``'s list, and each quantity is computed only once a note needs it.
    """
    steps = r.shape[0] - 1
    plateau = constants[C_NOTE_NOISE_FLOOR] if stochastic else constants[C_NOTE_STALLED]
    if not alive:
        return int(constants[C_NOTE_DIVERGED]), math.nan, -1, -1
    if period >= 2:
        return int(constants[C_NOTE_CYCLE]), math.nan, -1, -1

    # 1. the upper envelope E_k = max_{j >= k} r_j
    envelope[steps] = r[steps]
    for k in range(steps - 1, -1, -1):
        envelope[k] = r[k] if r[k] >= envelope[k + 1] else envelope[k + 1]
    top = envelope[0]
    # 2. the floor; "above" is a prefix 0..last (E non-increasing, k <= end)
    floor = constants[C_RATE_FLOOR] * (top + scale)
    last = -1
    peak = -1
    for k in range(steps + 1):
        if envelope[k] > floor and k <= end:
            last = k
        if envelope[k] == top:
            peak = k
    if last < 0 or envelope[end] >= top:
        return int(constants[C_NOTE_NO_DECAY]), math.nan, -1, -1

    # 3. the decaying steps peak..k1 (log E relative to its end)
    for k in range(steps + 1):
        if k > last:
            log_e[k] = 0.0  # log(1.0)
        elif k > 0 and envelope[k] == envelope[k - 1]:
            log_e[k] = log_e[k - 1]
        else:
            log_e[k] = math.log(envelope[k])
    log_end = log_e[last]
    drop = log_e[0] - log_end
    plateau_level = constants[C_RATE_PLATEAU] * drop
    k1 = 0
    for k in range(last + 1):
        if log_e[k] - log_end > plateau_level:
            k1 += 1
    # 4. the transient: the first quarter of the decaying steps is skipped
    k0 = peak + int(math.floor(constants[C_RATE_TRANSIENT] * max(k1 - peak, 0)))
    hi = min(k1, last)  # the fit window is k0..hi
    n = max(hi - k0 + 1, 0)

    ongoing = (last - k1) * constants[C_TAIL_INV] <= last - peak
    if not ongoing or _departed(r, floor, k1):
        return int(plateau), math.nan, -1, -1
    # from here on the envelope itself is no longer needed: its array is the sums' scratch
    if stochastic and not _falls_to_the_end(r, k0, k1, envelope, constants):
        return int(constants[C_NOTE_NOISE_FLOOR]), math.nan, -1, -1
    if n < constants[C_RATE_MIN_POINTS]:
        return int(constants[C_NOTE_TOO_SHORT]), math.nan, -1, -1
    fall, envelope_fall = _quarter_falls(r, log_e, k0, k1)
    if not fall >= constants[C_RATE_TREND] * envelope_fall:
        return int(plateau), math.nan, -1, -1
    decay = log_e[min(max(k0, 0), steps)] - log_e[min(max(k1, 0), steps)]
    if decay < constants[C_LOG_SOME_DECAY]:
        return int(constants[C_NOTE_NO_DECAY]), math.nan, -1, -1
    if decay < constants[C_LOG_MIN_DECAY]:
        return int(constants[C_NOTE_TOO_SHORT]), math.nan, -1, -1
    if not fall >= constants[C_RATE_TREND_MIN]:
        return int(plateau), math.nan, -1, -1
    # 5. least squares of log E_k against k on the window
    slope = _least_squares_slope(log_e, k0, hi, envelope)
    if not slope < 0.0:
        return int(constants[C_NOTE_NO_DECAY]), math.nan, -1, -1
    return 0, math.exp(slope), k0, k1


@jit
def _departed(r, floor, k1):  # pragma: no cover - compiled
    """Whether ``r`` was at the floor's level at two consecutive steps, the first before k1."""
    for k in range(r.shape[0] - 1):
        if r[k] <= floor and r[k + 1] <= floor:
            return k < k1
    return False


@jit
def _quarter_falls(r, log_e, k0, k1):  # pragma: no cover - compiled
    """``metrics._quarter_falls`` of one row: ``(log top_1 - log top_4, log E_k0 - log E_k4)``."""
    steps = r.shape[0] - 1
    quarter = max((k1 - k0 + 1) // 4, 1)
    k4 = k1 - quarter + 1
    top_1 = 0.0
    for k in range(max(k0, 0), min(k0 + quarter - 1, steps) + 1):
        if r[k] > top_1:
            top_1 = r[k]
    top_4 = 0.0
    for k in range(max(k4, 0), min(k1, steps) + 1):
        if r[k] > top_4:
            top_4 = r[k]
    at_k0 = min(max(k0, 0), steps)
    at_k4 = min(max(k4, 0), steps)
    return math.log(top_1) - math.log(top_4), log_e[at_k0] - log_e[at_k4]


@jit
def _falls_to_the_end(r, k0, k1, scratch, constants):  # pragma: no cover - compiled
    """``metrics._falls_to_the_end``: Spearman's rank correlation of ``r`` with the step over
    the last half of ``[k0, k1]`` is <= ``RATE_NOISY_TREND``, over enough steps.

    The ranks come from a stable argsort of the half window (ties in step order, as NumPy's
    stable argsort); the products are summed over a ``[S+1]`` array, zeros past the ``n``
    ranks, in NumPy's pairwise order. ``scratch [S+1]`` is overwritten.
    """
    steps = r.shape[0] - 1
    start = (k0 + k1 + 1) // 2
    lo = max(start, 0)
    hi = min(k1, steps)
    n = hi - lo + 1 if hi >= lo else 0
    if n < constants[C_NOISY_POINTS]:
        return False  # rho undefined (NaN): not a fall
    order = np.argsort(r[lo : hi + 1], kind="mergesort")
    mean = (n - 1) / 2.0
    for i in range(steps + 1):
        scratch[i] = (order[i] + lo - start - mean) * (i - mean) if i < n else 0.0
    variance = n * (n * n - 1) / 12.0
    rho = (0.0 + _pairwise(scratch, 0, steps + 1)) / variance
    return rho <= constants[C_NOISY_TREND]


@jit
def _least_squares_slope(y, lo, hi, scratch):  # pragma: no cover - compiled
    """``metrics._least_squares_slope`` over the window ``lo..hi``: each sum is taken over a
    ``[S+1]`` array, zeros outside the window, in NumPy's pairwise order. ``scratch [S+1]`` is
    overwritten; NaN with fewer than 2 distinct points."""
    size = y.shape[0]
    n_safe = max(hi - lo + 1, 1)
    scratch[:] = 0.0
    for k in range(lo, hi + 1):
        scratch[k] = float(k)
    k_mean = (0.0 + _pairwise(scratch, 0, size)) / n_safe
    for k in range(lo, hi + 1):
        scratch[k] = y[k]
    y_mean = (0.0 + _pairwise(scratch, 0, size)) / n_safe
    for k in range(lo, hi + 1):
        dk = k - k_mean
        scratch[k] = dk * dk
    sxx = 0.0 + _pairwise(scratch, 0, size)
    for k in range(lo, hi + 1):
        scratch[k] = (k - k_mean) * (y[k] - y_mean)
    sxy = 0.0 + _pairwise(scratch, 0, size)
    return sxy / sxx if sxx > 0 else math.nan
