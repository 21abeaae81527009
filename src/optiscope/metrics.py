"""Metrics: pure functions of a Trajectories object, one value per trajectory.

Every function takes a :class:`~optiscope.engine.Trajectories` (S steps, B rows, D coordinates)
and returns ``[B]`` (or ``[B, D]`` per coordinate / per eigen-direction) arrays, vectorized over
the batch; each docstring states the exact definition. In float arrays NaN means "not defined
here" (a gap when f_min is unknown, a zigzag fraction with no moves to compare); in integer
arrays -1 means "never" / "none". :func:`summary` turns them into JSON-ready dicts (None for
undefined, never NaN).

Conventions shared by several metrics:

- **frozen rows**: a row that diverged at step ``d`` is frozen at its last good point
  ``x_{d-1}`` from step ``d`` on. The frozen copies add zero-length steps and a flat tail,
  which no metric counts as movement (zigzag, path length) or as decay (rate); a diverged row
  has no cycle and no rate. A row the optimizer stopped at step ``k`` (``converged_at``, e.g.
  L-BFGS's tolerances) stays at ``x_{k-1}``; for the rate its run ends there.
- **target** ``x*``: the known minimizer nearest to the row's final point (its last good point).
  ``distance_final``, ``rate``, ``overshoot`` and the eigen-directions all use it.
- **eigen-directions**: the unit eigenvectors of the Hessian at ``x*`` (constant for quadratics,
  the local quadratic model otherwise), ordered by ascending eigenvalue (flat first, steep last),
  each signed so that its largest-magnitude component is positive. Undefined (NaN / None) when
  the function has no known minimizer or no Hessian, or the Hessian at ``x*`` is not finite.
- **quiet**: every public function runs under ``np.errstate(all="ignore")``: a path far out
  (huge but finite coordinates) may overflow a square to inf; the metric then reads inf or
  NaN (None in :func:`summary`), and no warning reaches the terminal. Running out of memory
  becomes an OptiscopeError naming the size and how to shrink it.
- **memory**: the path metrics work one coordinate (or eigen-direction) at a time on
  ``[S+1, B]`` arrays and never copy the whole ``[S+1, B, D]`` path; their peak is
  ``engine.METRICS_ARRAYS`` words per step and row (see ``engine.estimate_memory``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NamedTuple, TypeVar

import numpy as np

from optiscope.engine import Trajectories, memory_advice
from optiscope.errors import OptiscopeError

DEFAULT_TOL = 1e-6

STEP_NOISE = 1e-12  # zigzag: a move smaller than this x the largest step is "no move"
START_NOISE = 1e-9  # overshoot: a start offset below this x the start distance is "no offset"
AUC_FLOOR_DIVISOR = 100.0  # auc: a gap below tol / 100 counts as tol / 100
RATE_FLOOR = 1e-12  # rate: distances below this x (largest distance + |x*|) are at rounding level
RATE_PLATEAU = 0.01  # rate: the decay ends once log E is within this fraction of its total drop
RATE_TRANSIENT = 0.25  # rate: the first quarter of the decaying steps is the initial transient
RATE_MIN_POINTS = 4  # rate: fewer points in the fit window -> undefined
RATE_MIN_DECAY = 2.0  # rate: the envelope must fall by this factor across the fit window
RATE_SOME_DECAY = 1.1  # rate: below this factor the window shows no decay at all
RATE_ONGOING_TAIL_INV = 10  # rate: "lasts to the end": at most 1/10 of the decay after the fit
RATE_TREND = 0.5  # rate: the quantity itself must fall by half its envelope's fall (in log) ...
RATE_TREND_MIN = float(np.log(np.sqrt(2.0)))  # ... and by sqrt(2) at least (_quarter_falls)
RATE_NOISY_TREND = -0.8  # rate, stochastic runs: rank correlation of r with k at the end ...
RATE_NOISY_POINTS = 8  # ... over at least this many steps (see _falls_to_the_end)
ZIGZAG_MIN_PAIRS = 3  # zigzag: fewer counted step pairs in a direction -> undefined
CYCLE_MAX_PERIOD = 8
CYCLE_TOL = 1e-9  # cycle: absolute repeat tolerance, times (1 + the window's largest |coordinate|)
CYCLE_REL_TOL = 1e-6  # cycle: the repeat error must also be below this x the amplitude


_F = TypeVar("_F", bound=Callable[..., Any])


def _quiet(fn: _F) -> _F:
    """Run ``fn`` under ``np.errstate(all="ignore")`` (see "quiet" in the module notes).

    Running out of memory becomes an OptiscopeError that names the size and how to shrink it
    (a last resort: ``engine.run`` refuses jobs that would not fit before they start).
    """

    @functools.wraps(fn)
    def wrapper(traj: Trajectories, *args: Any, **kwargs: Any) -> Any:
        try:
            with np.errstate(all="ignore"):
                return fn(traj, *args, **kwargs)
        except MemoryError:
            advice = memory_advice(traj.steps, traj.batch, traj.positions.shape[2])
            raise OptiscopeError(advice) from None

    return wrapper  # type: ignore[return-value]


# --- basic metrics ------------------------------------------------------------------------


@_quiet
def loss_final(traj: Trajectories) -> np.ndarray:
    """f at the last recorded point (for a diverged row: its last good point). ``[B]``."""
    return traj.losses[-1].copy()


@_quiet
def gap(traj: Trajectories) -> np.ndarray:
    """``f(x_k) - f_min`` for every step, ``[S+1, B]``; NaN where f_min is unknown."""
    f_min = traj.objective.f_min
    if f_min is None:
        return np.full_like(traj.losses, np.nan)
    return traj.losses - f_min


@_quiet
def gap_final(traj: Trajectories) -> np.ndarray:
    """``loss_final - f_min``; NaN where f_min is unknown. ``[B]``."""
    return gap(traj)[-1]


@_quiet
def distance_final(traj: Trajectories) -> np.ndarray:
    """Euclidean distance from the last point to the nearest known minimizer; NaN if none known."""
    minimizers = _minimizers(traj)
    if minimizers is None:
        return np.full(traj.batch, np.nan)
    diff = traj.positions[-1][:, None, :] - minimizers[None, :, :]  # [B, M, D]
    return np.sqrt(np.sum(diff * diff, axis=2)).min(axis=1)


@_quiet
def steps_to_tol(traj: Trajectories, tol: float = DEFAULT_TOL) -> np.ndarray:
    """The first step k after which the gap stays <= ``tol`` for every later recorded step.

    A gap that dips below ``tol`` and rises again does not count until it stays below. ``[B]``
    int; -1 when that never happens within the run (or when the row diverged, or f_min is
    unknown).
    """
    g = gap(traj)  # [S+1, B]
    within = g <= tol  # NaN compares False
    # suffix_all[k] is True when every step from k to the end is within tolerance
    suffix_all = np.flip(np.logical_and.accumulate(np.flip(within, axis=0), axis=0), axis=0)
    reached = suffix_all.any(axis=0) & (traj.diverged_at < 0)
    first = np.argmax(suffix_all, axis=0)
    return np.where(reached, first, -1)


@_quiet
def first_to_tol(traj: Trajectories, tol: float = DEFAULT_TOL) -> np.ndarray:
    """The first step k at which the gap is <= ``tol``, whatever follows it. ``[B]`` int.

    -1 when the gap never gets there (or f_min is unknown). Unlike :func:`steps_to_tol`, a
    row that later rises above ``tol`` again, or diverges, keeps the step it first got there;
    ``first_to_tol <= steps_to_tol`` wherever both are defined.
    """
    within = gap(traj) <= tol  # [S+1, B]; NaN compares False
    return np.where(within.any(axis=0), np.argmax(within, axis=0), -1)


@_quiet
def auc(traj: Trajectories, tol: float = DEFAULT_TOL) -> np.ndarray:
    """The area under the log-gap curve per step: the mean over the recorded steps k = 0..S of
    ``log10(max(gap_k, tol / 100))``, ``gap_k = f(x_k) - f_min``. ``[B]``; lower is better.

    Every step counts, so a row that gets there sooner scores lower; below ``tol / 100``
    (``AUC_FLOOR_DIVISOR``) the gap earns nothing more, so rows that all reach that depth tie
    on how fast they got there, not on rounding noise. A diverged row's frozen tail counts at
    its recorded (last good) gap. NaN when f_min is unknown. The mean is the pairwise sum of
    each row's contiguous steps over S + 1 (what ``np.mean`` of the row alone gives), the
    order the compiled evaluator reproduces.
    """
    floor = tol / AUC_FLOOR_DIVISOR
    logs = np.log10(np.maximum(gap(traj), floor))  # [S+1, B]; NaN stays NaN
    return _sum_steps(logs) / (traj.steps + 1)


@_quiet
def evaluations(traj: Trajectories) -> np.ndarray:
    """Gradient evaluations consumed by the whole run (the final count), ``[B]`` int."""
    return traj.evaluations[-1].astype(np.int64)


@_quiet
def path_length(traj: Trajectories) -> np.ndarray:
    """``sum_k ||x_k - x_{k-1}||`` over all steps (Euclidean), ``[B]``; 0 for a path that never moves."""
    return _sum_steps(_step_norms(traj))


@_quiet
def efficiency(traj: Trajectories) -> np.ndarray:
    """``||x_S - x_0|| / path_length``: 1 for a straight path, smaller the more it wanders.

    ``[B]``; NaN when the path length is 0. For a diverged row ``x_S`` is its last good point.
    """
    length = path_length(traj)
    chord = np.sqrt(np.sum((traj.positions[-1] - traj.positions[0]) ** 2, axis=1))
    return _safe_divide(chord, length, length > 0)


# --- target and eigen-directions ----------------------------------------------------------


@_quiet
def target(traj: Trajectories) -> np.ndarray | None:
    """The known minimizer nearest each row's final point, ``[B, D]``; None if none is known."""
    minimizers = _minimizers(traj)
    if minimizers is None:
        return None
    diff = traj.positions[-1][:, None, :] - minimizers[None, :, :]  # [B, M, D]
    nearest = np.argmin(np.sum(diff * diff, axis=2), axis=1)  # [B]
    return minimizers[nearest]


class EigenDirections(NamedTuple):
    """The Hessian's eigen-decomposition at each row's target ``x*``."""

    values: np.ndarray  # [B, D] ascending; NaN where undefined
    vectors: np.ndarray  # [B, D, D]; column i is direction i; NaN where undefined
    defined: np.ndarray  # [B] bool


@_quiet
def eigen_directions(traj: Trajectories) -> EigenDirections | None:
    """Eigenvalues (ascending) and unit eigenvectors of the Hessian at each row's target ``x*``.

    Each eigenvector is signed so that its largest-magnitude component is positive (the first
    such component on ties). None when the function has no known minimizer or no Hessian; a
    row whose Hessian at ``x*`` is not finite is marked undefined (NaN).
    """
    x_star = target(traj)
    if x_star is None or traj.objective.hessian_fn is None:
        return None
    with np.errstate(all="ignore"):  # a Hessian may be singular at x* (e.g. Ackley's kink)
        hess = np.asarray(traj.objective.hessian(x_star), dtype=np.float64)  # [B, D, D]
    defined = np.isfinite(hess).all(axis=(1, 2))
    dim = traj.objective.dim
    safe = np.where(defined[:, None, None], hess, np.eye(dim))
    safe = 0.5 * (safe + np.swapaxes(safe, 1, 2))
    values, vectors = np.linalg.eigh(safe)  # ascending eigenvalues, vectors in columns
    lead = np.argmax(np.abs(vectors), axis=1)  # [B, D]: row index of each column's largest entry
    sign = np.sign(np.take_along_axis(vectors, lead[:, None, :], axis=1))  # [B, 1, D]
    vectors = vectors * np.where(sign == 0, 1.0, sign)
    values = np.where(defined[:, None], values, np.nan)
    vectors = np.where(defined[:, None, None], vectors, np.nan)
    return EigenDirections(values, vectors, defined)


# --- zigzag -------------------------------------------------------------------------------


@_quiet
def zigzag_per_coordinate(traj: Trajectories) -> np.ndarray:
    """Fraction of consecutive moves that reverse direction, per coordinate, ``[B, D]``.

    With ``d_k = x_k - x_{k-1}`` (k = 1..S) and its component ``d_k[i]``: a move counts when
    ``|d_k[i]| > 1e-12 * max_j ||d_j||`` (the row's largest step), so rounding noise and the
    exact zeros of a converged or frozen tail do not. Over the pairs of consecutive steps
    ``(k, k+1)`` that both count, the zigzag is the fraction with ``sign(d_{k+1}[i]) !=
    sign(d_k[i])``: 0 for a path that keeps its direction, 1 for one that reverses every step.
    NaN when fewer than 3 pairs count (``ZIGZAG_MIN_PAIRS``): one or two pairs, e.g. a path
    that lands on the minimum in one step and then moves at rounding level, say nothing.
    """
    noise = _move_noise(traj)
    per_coordinate = [_flip_fraction(_moves(traj, d), noise) for d in range(traj.objective.dim)]
    return np.stack(per_coordinate, axis=1)


@_quiet
def zigzag_per_direction(traj: Trajectories) -> np.ndarray:
    """:func:`zigzag_per_coordinate` along the Hessian's eigen-directions, ``[B, D]``.

    The displacements are projected on the eigenvectors at ``x*`` (ascending eigenvalue: flat
    direction first). All NaN where the eigen-directions are undefined (see the module notes).
    """
    return _zigzag_per_direction(traj, eigen_directions(traj))


def _zigzag_per_direction(traj: Trajectories, eig: EigenDirections | None) -> np.ndarray:
    if eig is None:
        return np.full((traj.batch, traj.objective.dim), np.nan)
    vectors = np.nan_to_num(eig.vectors)  # [B, D, D]
    noise = _move_noise(traj)
    dims = range(traj.objective.dim)
    flips = np.stack([_flip_fraction(_moves_along(traj, vectors[:, :, i]), noise) for i in dims])
    return np.where(eig.defined[:, None], flips.T, np.nan)


@_quiet
def zigzag(traj: Trajectories) -> np.ndarray:
    """One zigzag number per row, ``[B]``: the largest of :func:`zigzag_per_direction`.

    Where the eigen-directions are undefined, the largest of :func:`zigzag_per_coordinate`
    instead. Undefined entries are skipped; NaN when all are.
    """
    return _zigzag(traj, _zigzag_per_direction(traj, eigen_directions(traj)))


def _zigzag(traj: Trajectories, per_direction: np.ndarray) -> np.ndarray:
    has_direction = ~np.isnan(per_direction).all(axis=1, keepdims=True)
    chosen = np.where(has_direction, per_direction, zigzag_per_coordinate(traj))
    return _nan_max(chosen)


# --- overshoot ----------------------------------------------------------------------------


@_quiet
def overshoot_per_direction(traj: Trajectories) -> np.ndarray:
    """How far the path passes beyond ``x*`` along each eigen-direction, ``[B, D]``.

    With ``c_k[i] = e_i . (x_k - x*)`` the offset along eigenvector ``e_i``:
    ``overshoot[i] = max_k max(0, -sign(c_0[i]) * c_k[i]) / |c_0[i]|``, the largest excursion to
    the side opposite the start, relative to the starting offset along that direction. 0 when
    the path never crosses; NaN when ``|c_0[i]| <= 1e-9 * ||x_0 - x*||`` (no start offset along
    it), the eigen-directions are undefined, or the row diverged (an overshoot is a swing past
    the minimum; a path that ran away has no swing to measure).
    """
    return _overshoot_per_direction(traj, eigen_directions(traj))


def _overshoot_per_direction(traj: Trajectories, eig: EigenDirections | None) -> np.ndarray:
    if eig is None:
        return np.full((traj.batch, traj.objective.dim), np.nan)
    x_star = target(traj)
    vectors = np.nan_to_num(eig.vectors)  # [B, D, D]
    start = _distance(traj.positions[:1], x_star)[0]  # [B]
    c0, excursion = np.empty_like(x_star), np.empty_like(x_star)  # [B, D]
    for i in range(traj.objective.dim):  # one direction at a time: [S+1, B], not [S+1, B, D]
        c = _offset_along(traj, vectors[:, :, i], x_star)  # [S+1, B]
        c0[:, i] = c[0]
        excursion[:, i] = np.maximum(0.0, -np.sign(c[0])[None] * c).max(axis=0)
    defined = (np.abs(c0) > START_NOISE * start[:, None]) & eig.defined[:, None]
    defined &= (traj.diverged_at < 0)[:, None]
    return _safe_divide(excursion, np.abs(c0), defined)


@_quiet
def overshoot(traj: Trajectories) -> np.ndarray:
    """The largest of :func:`overshoot_per_direction`, ``[B]``; NaN when all are undefined."""
    return _nan_max(overshoot_per_direction(traj))


# --- rate ---------------------------------------------------------------------------------


class RateFit(NamedTuple):
    """The empirical linear convergence rate, the steps it was fitted on, or why there is none."""

    rate: np.ndarray  # [B] exp(slope) per step; NaN where undefined
    fit_start: np.ndarray  # [B] int, first step of the fit; -1 where undefined
    fit_end: np.ndarray  # [B] int, last step of the fit (inclusive); -1 where undefined
    note: np.ndarray  # [B] object: None where a rate is reported, else one of RATE_NOTES


#: Why a row has no rate (``RateFit.note``; ``rate_note`` in :func:`summary`).
RATE_NOTES = ("diverged", "limit cycle", "no decay", "noise floor", "stalled", "too short")


@_quiet
def rate_fit(traj: Trajectories) -> RateFit:
    """Empirical linear convergence rate: a geometric (log-linear) fit of the distance.

    **When a rate is reported.** Only when the fitted quantity really decays, geometrically
    or faster, up to the end of the run: it falls to the rounding floor, or it is still
    falling at the last step (for a row stopped by the optimizer's own test: the step before
    the stop, after which it stays put). A run that ends on a plateau gets no rate, whatever
    it did before: a limit cycle, a noise floor (stochastic gradients), or a stall (at a
    point that is not the minimizer, e.g. a local minimum; a path that reached ``x*`` and
    left it). Then ``note`` says which, from ``RATE_NOTES``.

    Definition, per row:

    1. ``r_k = ||x_k - x*||`` (``x*`` the target; where no minimizer is known, the gradient
       norm instead) and its upper envelope ``E_k = max_{j >= k} r_j`` (non-increasing; an
       oscillating decay is followed through its peaks, and exact or near zeros of ``r`` at
       crossings do not break the fit). ``end``: the last step, or the step before the
       optimizer stopped the row.
    2. Floor: only steps ``k <= end`` with ``E_k > 1e-12 * (E_0 + ||x*||)`` (gradient mode:
       ``1e-12 * E_0``) are used; below it the distance is at rounding level. ``K`` is the
       last such step (``K < end``: the decay reached the floor).
    3. Decaying steps: from ``peak``, the last step where ``E`` still equals its maximum
       ``E_0`` (the start, unless the path first moved away), to ``k1``, the first step at
       which ``log E_k - log E_K <= 0.01 * (log E_0 - log E_K)``.
    4. Transient: the first quarter of those decaying steps is skipped; the fit runs from
       ``k0 = peak + floor((k1 - peak) / 4)`` to ``k1``.
    5. Least squares of ``log E_k`` against ``k`` on ``[k0, k1]``; ``rate = exp(slope)``.

    No rate (NaN, range -1), with the first note that applies:

    - ``"diverged"``: the row diverged;
    - ``"limit cycle"``: :func:`cycle` finds a period 2..8 at the end;
    - ``"no decay"``: ``E`` never falls below ``E_0`` (the distance at the end, or at the
      rounding floor from the start, is as large as it ever was);
    - ``"noise floor"`` / ``"stalled"`` (stochastic gradients / exact ones): the run ends on
      a plateau: more than a tenth of the decaying steps ``peak..K`` lie after ``k1`` (the
      decay did not last to the end), or ``r`` was at the floor's level at two consecutive
      steps before ``k1`` (the path had reached ``x*`` to rounding and left it, as RMSProp
      with a tiny eps can; its envelope falls while the distance itself grows);
    - ``"noise floor"`` (stochastic gradients): ``r`` over the last half of the window does
      not fall with a Spearman rank correlation <= -0.8 over >= 8 steps (a noise floor
      scatters around a level, and its envelope, a suffix maximum, falls at the end of any
      run; see ``_falls_to_the_end``);
    - ``"too short"``: the decay spans fewer than 4 points (it reached the floor within 3
      steps);
    - ``"noise floor"`` / ``"stalled"``: the quantity itself does not fall with its
      envelope: the log of the largest ``r`` over the window's first quarter, less that over
      its last quarter, is below half the envelope's fall between the two quarters' starts
      (see ``_quarter_falls``; a bounded wandering, e.g. chaotic steps among local minima);
    - ``"no decay"``: the envelope falls by less than 10% across the fit window;
    - ``"too short"``: it falls by less than 2x (too few steps to measure the decay);
    - ``"noise floor"`` / ``"stalled"``: the quarters' largest ``r`` fall by less than
      sqrt(2) (a geometric decay of 2x across the window falls by 2^0.75 between them);
    - ``"no decay"``: the fit's slope is not negative.

    Which quantity was fitted is :func:`rate_quantity`. A geometric sequence gives its ratio
    exactly; for GD and heavy ball on quadratics (including the oscillating, complex-root
    regime, where the envelope's steps average out over many periods) it matches the
    asymptotic rate to about 1-2% once the fit spans a few dozen steps. Near-critically-damped
    heavy ball (double roots, distance ~ k s^k) converges to ``s`` only slowly in k.
    """
    return _rate_fit(traj, cycle(traj).period)


def _rate_fit(traj: Trajectories, period: np.ndarray) -> RateFit:
    """:func:`rate_fit` with the rows' cycle periods (``[B]``) computed by the caller."""
    x_star = target(traj)
    if x_star is None:
        r = traj.grad_norms.astype(np.float64)  # [S+1, B]
        scale = np.zeros(traj.batch)
    else:
        r = _distance(traj.positions, x_star)  # [S+1, B]
        scale = np.sqrt(np.sum(x_star * x_star, axis=1))
    r = np.where(np.isfinite(r), r, 0.0)
    envelope = np.flip(np.maximum.accumulate(np.flip(r, axis=0), axis=0), axis=0)  # [S+1, B]
    end = _last_informative_step(traj)  # [B]
    steps = np.arange(traj.steps + 1)[:, None]  # [S+1, 1]
    floor = RATE_FLOOR * (envelope[0] + scale)  # [B]
    # a prefix of the steps, since E is non-increasing
    above = (envelope > floor[None]) & (steps <= end[None])
    last = above.sum(axis=0) - 1  # [B] K; -1 when no step is above the floor
    peak = (envelope == envelope[0][None]).sum(axis=0) - 1  # [B] last step at the maximum
    log_e = np.log(np.where(above, envelope, 1.0))  # [S+1, B]
    log_end = np.take_along_axis(log_e, np.maximum(last, 0)[None], axis=0)[0]  # [B]
    drop = log_e[0] - log_end
    k1 = (above & (log_e - log_end[None] > RATE_PLATEAU * drop[None])).sum(axis=0)  # [B]
    k0 = peak + np.floor(RATE_TRANSIENT * np.maximum(k1 - peak, 0)).astype(np.int64)
    window = (steps >= k0[None]) & (steps <= k1[None]) & above  # [S+1, B]
    n = window.sum(axis=0)
    slope = _least_squares_slope(steps, log_e, window)
    at = np.clip(np.stack([k0, k1]), 0, traj.steps)  # [2, B]
    log_k0, log_k1 = np.take_along_axis(log_e, at, axis=0)  # [B] each
    at_floor = r <= floor[None]  # [S+1, B]; single zeros at crossings are fine, two in a row
    twice = at_floor[1:] & at_floor[:-1]  # [S, B] are x* reached (a 2-step recursion stays)
    departed = twice.any(axis=0) & (np.argmax(twice, axis=0) < k1)
    ongoing = (last - k1) * RATE_ONGOING_TAIL_INV <= (last - peak)
    noisy_floor = np.zeros(traj.batch, dtype=bool)
    if traj.stochastic:  # a noise floor's envelope falls too: ask the distances themselves
        noisy_floor = ~_falls_to_the_end(r, steps, k0, k1)
    plateau = "noise floor" if traj.stochastic else "stalled"
    fall, envelope_fall = _quarter_falls(r, log_e, steps, k0, k1)
    final = np.take_along_axis(envelope, end[None], axis=0)[0]  # [B] E at the end
    note = _first_note(
        [
            (traj.diverged_at >= 0, "diverged"),
            (period >= 2, "limit cycle"),
            ((last < 0) | (final >= envelope[0]), "no decay"),
            (~ongoing | departed, plateau),
            (noisy_floor, "noise floor"),
            (n < RATE_MIN_POINTS, "too short"),
            (~(fall >= RATE_TREND * envelope_fall), plateau),
            (log_k0 - log_k1 < np.log(RATE_SOME_DECAY), "no decay"),
            (log_k0 - log_k1 < np.log(RATE_MIN_DECAY), "too short"),
            (~(fall >= RATE_TREND_MIN), plateau),
            (~(slope < 0), "no decay"),
        ]
    )
    ok = np.array([v is None for v in note], dtype=bool)
    rate = np.where(ok, np.exp(np.where(ok, slope, 0.0)), np.nan)
    return RateFit(rate, np.where(ok, k0, -1), np.where(ok, k1, -1), note)


def _quarter_falls(
    r: np.ndarray, log_e: np.ndarray, steps: np.ndarray, k0: np.ndarray, k1: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """How much the quantity itself, and its envelope, fall across each row's window.

    With ``q = max(1, (k1 - k0 + 1) // 4)`` steps per quarter, ``k4 = k1 - q + 1`` the start
    of the last quarter, and ``top_1``, ``top_4`` the largest ``r`` over the window's first
    and last quarters: returns ``(log top_1 - log top_4, log E_k0 - log E_k4)``, ``[B]``
    each. A decay, geometric or faster, has its quarters' peaks fall as its envelope does; a
    bounded wandering or a noise has an envelope (a suffix maximum) that falls at the end
    of any run while the peaks of its quarters do not.
    """
    quarter = np.maximum((k1 - k0 + 1) // 4, 1)  # [B]
    k4 = k1 - quarter + 1
    first = (steps >= k0[None]) & (steps < (k0 + quarter)[None])  # [S+1, B]
    final = (steps >= k4[None]) & (steps <= k1[None])
    top_1 = np.where(first, r, 0.0).max(axis=0)
    top_4 = np.where(final, r, 0.0).max(axis=0)
    at = np.clip(np.stack([k0, k4]), 0, r.shape[0] - 1)  # [2, B]
    log_k0, log_k4 = np.take_along_axis(log_e, at, axis=0)
    return np.log(top_1) - np.log(top_4), log_k0 - log_k4


def _falls_to_the_end(
    r: np.ndarray, steps: np.ndarray, k0: np.ndarray, k1: np.ndarray
) -> np.ndarray:
    """Whether ``r`` still falls over the last half of each row's window ``[k0, k1]``: its
    Spearman rank correlation with the step there is at most ``RATE_NOISY_TREND`` (-0.8),
    over at least ``RATE_NOISY_POINTS`` (8) steps. ``[B]`` bool.

    For stochastic gradients only: a run on its noise floor scatters around a constant
    level (correlation near 0), a run still decaying falls almost monotonically (near -1).
    """
    start = (k0 + k1 + 1) // 2  # [B]
    half = (steps >= start[None]) & (steps <= k1[None])  # [S+1, B]
    n = half.sum(axis=0)
    # order[i] is the step holding the i-th smallest r of the half window (for i < n; the
    # steps outside it sort last): the Pearson correlation of (rank i, step order[i] - start),
    # both a permutation of 0..n-1, is Spearman's.
    order = np.argsort(np.where(half, r, np.inf), axis=0, kind="stable")  # [S+1, B]
    mean = (np.maximum(n, 1) - 1) / 2.0
    rank = np.arange(r.shape[0])[:, None]
    terms = (order - start[None] - mean[None]) * np.where(rank < n[None], rank - mean[None], 0.0)
    var = n * (n * n - 1) / 12.0
    rho = _safe_divide(_sum_steps(terms), var, n >= RATE_NOISY_POINTS)
    return rho <= RATE_NOISY_TREND


def _least_squares_slope(steps: np.ndarray, y: np.ndarray, window: np.ndarray) -> np.ndarray:
    """Slope of the least-squares line through ``(k, y_k)`` over each row's ``window``.

    ``steps`` ``[S+1, 1]``, ``y`` and ``window`` ``[S+1, B]``; ``[B]``, NaN with fewer than 2
    distinct points.
    """
    n_safe = np.maximum(window.sum(axis=0), 1)
    k_mean = _sum_steps(np.where(window, steps, 0.0)) / n_safe
    y_mean = _sum_steps(np.where(window, y, 0.0)) / n_safe
    dk = np.where(window, steps - k_mean[None], 0.0)
    sxx = _sum_steps(dk * dk)
    sxy = _sum_steps(dk * np.where(window, y - y_mean[None], 0.0))
    return _safe_divide(sxy, sxx, sxx > 0)


def _first_note(rules: list[tuple[np.ndarray, str]]) -> np.ndarray:
    """Per row, the note of the first rule (``[B]`` mask, note) that holds; None if none does."""
    note = np.full(rules[0][0].shape, None, dtype=object)
    for applies, text in reversed(rules):  # later rules are overwritten by earlier ones
        note[applies] = text
    return note


def _last_informative_step(traj: Trajectories) -> np.ndarray:
    """``[B]``: the last step, or for a row the optimizer stopped at step k, the step k - 1
    after which it did not move again."""
    stopped = traj.converged_at >= 1
    return np.where(stopped, traj.converged_at - 1, traj.steps).astype(np.int64)


@_quiet
def rate(traj: Trajectories) -> np.ndarray:
    """The rate of :func:`rate_fit` alone, ``[B]`` (NaN where undefined)."""
    return rate_fit(traj).rate


def rate_quantity(traj: Trajectories) -> str:
    """What :func:`rate_fit` fits: ``"distance"`` (to the target ``x*``) or, for a function
    without a known minimizer, ``"gradient norm"``."""
    return "gradient norm" if _minimizers(traj) is None else "distance"


# --- cycle --------------------------------------------------------------------------------


class Cycle(NamedTuple):
    """Limit-cycle detection over the last quarter of the run."""

    period: np.ndarray  # [B] int: 0 none, 1 stationary (converged, not a cycle), 2..8 a cycle
    amplitude: np.ndarray  # [B] largest per-coordinate amplitude; NaN unless period >= 2
    amplitude_per_coordinate: np.ndarray  # [B, D]; NaN unless period >= 2


@_quiet
def cycle(traj: Trajectories) -> Cycle:
    """Detect a limit cycle: the end of the path repeating with a period ``p <= 8``.

    Window: the last quarter of the run, ``W = S // 4`` steps (positions ``x_{S-W} .. x_S``);
    a period ``p`` is tested only when the window holds two periods (``2 p <= W``), so p = 8
    needs ``S >= 64``. With ``err_p = max ||x_k - x_{k-p}||_inf`` over the pairs inside the
    window and ``tol = 1e-9 * (1 + max |coordinate| in the window)``:

    - period 1 (stationary: converged or stopped, *not* a cycle) when ``err_1 <= tol``;
    - otherwise the smallest ``p`` in 2..8 with ``err_p <= tol``, ``err_p <= 1e-6 * amplitude``
      and ``amplitude > tol`` (the relative test keeps a slowly decaying zigzag from passing
      as a cycle once it gets small);
    - 0 (none) otherwise, and for diverged rows.

    The amplitude is half the peak-to-peak range of each coordinate over the last period
    (``x_{S-p+1} .. x_S``), and its maximum over coordinates.
    """
    batch, dim, steps = traj.batch, traj.objective.dim, traj.steps
    window = steps // 4
    period = np.zeros(batch, dtype=np.int64)
    amp_coord = np.full((batch, dim), np.nan)
    if window >= 2:
        xs = traj.positions[steps - window :]  # [W+1, B, D], a view
        tol = CYCLE_TOL * (1.0 + _largest_over_coordinates(xs, lambda c: np.abs(c)))  # [B]
        alive = traj.diverged_at < 0
        stationary = alive & (_repeat_error(xs, 1) <= tol)
        period[stationary] = 1
        for p in range(2, min(CYCLE_MAX_PERIOD, window // 2) + 1):
            err = _repeat_error(xs, p)  # [B]
            last = xs[-p:]  # [p, B, D]
            amp = 0.5 * (last.max(axis=0) - last.min(axis=0))  # [B, D]
            amp_max = amp.max(axis=1)
            found = (
                alive
                & (period == 0)
                & (err <= tol)
                & (err <= CYCLE_REL_TOL * amp_max)
                & (amp_max > tol)
            )
            period[found] = p
            amp_coord[found] = amp[found]
    return Cycle(period, amp_coord.max(axis=1), amp_coord)


def _repeat_error(xs: np.ndarray, p: int) -> np.ndarray:
    """``max_k ||x_k - x_{k-p}||_inf`` over the window ``xs`` ``[W+1, B, D]``: ``[B]``."""
    return _largest_over_coordinates(xs, lambda c: np.abs(c[p:] - c[:-p]))


def _largest_over_coordinates(xs: np.ndarray, values: Callable) -> np.ndarray:
    """The largest of ``values(xs[:, :, d])`` (``[K, B]``) over steps and coordinates: ``[B]``."""
    return np.max([values(xs[:, :, d]).max(axis=0) for d in range(xs.shape[2])], axis=0)


# --- all together -------------------------------------------------------------------------


@_quiet
def columns(traj: Trajectories, tol: float = DEFAULT_TOL) -> dict[str, np.ndarray]:
    """Every metric as one array per name: ``[B]`` (or ``[B, D]`` for the per-* lists).

    Undefined values are NaN (float) or -1 (int); the tidy-table form of :func:`summary`.
    """
    return _columns(traj, tol, eigen_directions(traj))


#: The keys of :func:`columns`, in order (the fused engine's evaluator returns the same).
COLUMN_NAMES = (
    "loss_final",
    "gap_final",
    "distance_final",
    "steps_to_tol",
    "first_to_tol",
    "diverged_at",
    "zigzag",
    "zigzag_per_coordinate",
    "zigzag_per_direction",
    "overshoot",
    "overshoot_per_direction",
    "rate",
    "rate_fit_start",
    "rate_fit_end",
    "rate_note",
    "auc",
    "cycle_period",
    "cycle_amplitude",
    "path_length",
    "efficiency",
    "evaluations",
)


def _columns(traj: Trajectories, tol: float, eig: EigenDirections | None) -> dict[str, np.ndarray]:
    """:func:`columns` with the eigen-directions computed once by the caller."""
    cyc = cycle(traj)
    fit = _rate_fit(traj, cyc.period)
    per_direction = _zigzag_per_direction(traj, eig)
    overshoot_dirs = _overshoot_per_direction(traj, eig)
    return {
        "loss_final": loss_final(traj),
        "gap_final": gap_final(traj),
        "distance_final": distance_final(traj),
        "steps_to_tol": steps_to_tol(traj, tol),
        "first_to_tol": first_to_tol(traj, tol),
        "diverged_at": np.asarray(traj.diverged_at, dtype=np.int64),
        "zigzag": _zigzag(traj, per_direction),
        "zigzag_per_coordinate": zigzag_per_coordinate(traj),
        "zigzag_per_direction": per_direction,
        "overshoot": _nan_max(overshoot_dirs),
        "overshoot_per_direction": overshoot_dirs,
        "rate": fit.rate,
        "rate_fit_start": fit.fit_start,
        "rate_fit_end": fit.fit_end,
        "rate_note": fit.note,
        "auc": auc(traj, tol),
        "cycle_period": np.where(cyc.period >= 2, cyc.period, -1),
        "cycle_amplitude": cyc.amplitude,
        "path_length": path_length(traj),
        "efficiency": efficiency(traj),
        "evaluations": evaluations(traj),
    }


@_quiet
def summary(traj: Trajectories, tol: float = DEFAULT_TOL) -> list[dict[str, Any]]:
    """Every metric of every row as a plain JSON-ready dict (None for undefined, never NaN).

    Keys: loss_final, gap_final, distance_final, steps_to_tol (the step from which the gap
    stays <= tol), first_to_tol (the first step with the gap <= tol), diverged_at, zigzag,
    zigzag_per_coordinate (list), zigzag_per_direction (list, or None without eigen-directions),
    overshoot, overshoot_per_direction (list or None), rate, rate_fit_range ([start, end] or
    None), rate_of (the fitted quantity, ``"distance"`` or ``"gradient norm"``, see
    :func:`rate_quantity`; None when the rate is), rate_note (None when there is a rate, else
    why not, one of ``RATE_NOTES``, see :func:`rate_fit`), auc (the mean log10 gap per step,
    see :func:`auc`; None without f_min), cycle_period (2..8 or None; a stationary end is not
    a cycle), cycle_amplitude, path_length, efficiency, evaluations.
    """
    eig = eigen_directions(traj)  # once: the per-direction metrics all use it
    cols = _columns(traj, tol, eig)
    defined = np.zeros(traj.batch, dtype=bool) if eig is None else eig.defined
    quantity = rate_quantity(traj)
    rows = []
    for b in range(traj.batch):
        row: dict[str, Any] = {}
        for name, values in cols.items():
            if name in ("rate_fit_start", "rate_fit_end", "rate_note"):
                continue
            if name in ("zigzag_per_direction", "overshoot_per_direction") and not defined[b]:
                row[name] = None
            elif np.ndim(values) == 2:
                row[name] = [_json(v) for v in values[b]]
            else:
                row[name] = _json(values[b])
            if name == "rate":
                start, end = cols["rate_fit_start"][b], cols["rate_fit_end"][b]
                row["rate_fit_range"] = None if start < 0 else [int(start), int(end)]
                row["rate_of"] = None if start < 0 else quantity
                row["rate_note"] = cols["rate_note"][b]
        rows.append(row)
    return rows


# --- helpers ------------------------------------------------------------------------------


def _json(v: Any) -> float | int | None:
    if np.issubdtype(np.asarray(v).dtype, np.integer):
        return None if v < 0 else int(v)
    return float(v) if np.isfinite(v) else None


def _minimizers(traj: Trajectories) -> np.ndarray | None:
    minimizers = np.asarray(traj.objective.minimizers, dtype=np.float64)
    if minimizers.size == 0:
        return None
    return minimizers.reshape(-1, traj.objective.dim)


# The path helpers below work one coordinate (or direction) at a time, on [S+1, B] or [S, B]
# arrays: a metric never makes a temporary copy of the whole [S+1, B, D] path.


def _moves(traj: Trajectories, d: int) -> np.ndarray:
    """Coordinate ``d`` of every step's displacement ``x_k - x_{k-1}``, ``[S, B]``."""
    return np.diff(traj.positions[:, :, d], axis=0)


def _moves_along(traj: Trajectories, vectors: np.ndarray) -> np.ndarray:
    """Displacements projected on one direction per row (``vectors`` ``[B, D]``), ``[S, B]``."""
    total = _moves(traj, 0) * vectors[None, :, 0]
    for d in range(1, traj.objective.dim):
        total += _moves(traj, d) * vectors[None, :, d]
    return total


def _offset_along(traj: Trajectories, vectors: np.ndarray, origin: np.ndarray) -> np.ndarray:
    """``e . (x_k - origin)`` per step for one direction ``e`` per row (``[B, D]``), ``[S+1, B]``."""
    total = (traj.positions[:, :, 0] - origin[None, :, 0]) * vectors[None, :, 0]
    for d in range(1, traj.objective.dim):
        total += (traj.positions[:, :, d] - origin[None, :, d]) * vectors[None, :, d]
    return total


def _distance(positions: np.ndarray, origin: np.ndarray) -> np.ndarray:
    """``||x_k - origin||`` for ``positions`` ``[K, B, D]`` and ``origin`` ``[B, D]``: ``[K, B]``."""
    total = np.zeros(positions.shape[:2])
    for d in range(positions.shape[2]):
        diff = positions[:, :, d] - origin[None, :, d]
        total += diff * diff
    return np.sqrt(total)


def _step_norms(traj: Trajectories) -> np.ndarray:
    """``||x_k - x_{k-1}||`` for every step, ``[S, B]``."""
    total = np.zeros((traj.steps, traj.batch))
    for d in range(traj.objective.dim):
        move = _moves(traj, d)
        total += move * move
    return np.sqrt(total)


def _move_noise(traj: Trajectories) -> np.ndarray:
    """The size below which a move is "no move" (see zigzag): ``[B]``."""
    if traj.steps == 0:
        return np.zeros(traj.batch)
    return STEP_NOISE * _step_norms(traj).max(axis=0)


def _flip_fraction(moves: np.ndarray, noise: np.ndarray) -> np.ndarray:
    """Fraction of consecutive counted moves (``[S, B]``, one component) that reverse, ``[B]``."""
    if moves.shape[0] < 2:
        return np.full(moves.shape[1:], np.nan)
    counted = np.abs(moves) > noise[None, :]  # [S, B]
    pairs = counted[1:] & counted[:-1]
    flips = pairs & (np.sign(moves[1:]) != np.sign(moves[:-1]))
    n = pairs.sum(axis=0)
    return _safe_divide(
        flips.sum(axis=0).astype(np.float64), n.astype(np.float64), n >= ZIGZAG_MIN_PAIRS
    )


def _sum_steps(values: np.ndarray) -> np.ndarray:
    """Sum over the step axis (axis 0) in an order independent of the batch size.

    NumPy sums a contiguous axis pairwise but a strided one sequentially; summing each row's
    steps contiguously makes a row's metrics bit-identical batched or alone.
    """
    return np.ascontiguousarray(np.moveaxis(values, 0, -1)).sum(axis=-1)


def _safe_divide(num: np.ndarray, den: np.ndarray, where: np.ndarray) -> np.ndarray:
    """``num / den`` where ``where``, NaN elsewhere, without warnings."""
    out = np.full(np.broadcast(num, den, where).shape, np.nan)
    np.divide(num, den, out=out, where=where)
    return out


def _nan_max(values: np.ndarray) -> np.ndarray:
    """Max over the last axis skipping NaN; NaN where all are NaN (no warning)."""
    nan = np.isnan(values)
    best = np.where(nan, -np.inf, values).max(axis=-1)
    return np.where(nan.all(axis=-1), np.nan, best)
