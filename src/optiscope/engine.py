"""The step loop: B trajectories advanced together, one vectorized update per step.

There is no Python loop over trajectories: every step is a handful of array operations on
``[B, D]`` arrays, whatever B is. Divergence is a result, not an error: a trajectory whose new
point is non-finite, whose loss or gradient is non-finite, or that leaves the escape box is
frozen at its last good point (position, loss and optimizer state stop changing) and the step
at which it happened is recorded in ``diverged_at``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import numpy as np

from optiscope.errors import OptiscopeError
from optiscope.objectives.base import Objective
from optiscope.optimizers.base import Optimizer
from optiscope.schedules import learning_rates

MAX_STEPS = 100_000  # more is almost surely a typo; it would also hold [S+1, B, D] in memory
ESCAPE_FACTOR = 1e6  # a point farther than this many plot-box radii away has diverged


@dataclass(frozen=True, eq=False)
class Trajectories:
    """What a batched run produced (S steps, B trajectories, D coordinates).

    - ``positions`` ``[S+1, B, D]``: the start and the point after every step;
    - ``losses`` ``[S+1, B]`` and ``grad_norms`` ``[S+1, B]`` (Euclidean) at those points;
    - ``evaluations`` ``[S+1, B]``: gradient evaluations the optimizer consumed to get there;
    - ``diverged_at`` ``[B]``: the first step whose result was non-finite or escaped, -1 if none
      (from that step on the row is frozen at its last good point);
    - ``converged_at`` ``[B]``: the step at which the optimizer declared itself done (its own
      stopping tolerance, e.g. L-BFGS), -1 if never; the row stays put from then on;
    - ``states``: optional ``{field: [S+1, B, D]}`` of the optimizer's internal state over time
      (velocity, accumulators), for explanation plots;
    - ``learning_rates``: optional ``[S, B]``, the lr each step used, when a schedule varied it;
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

    def __post_init__(self) -> None:
        if self.converged_at is None:
            object.__setattr__(self, "converged_at", np.full(self.batch, -1, dtype=np.int64))

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
        per_row = ("diverged_at", "converged_at")
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
) -> Trajectories:
    """Run ``optimizer`` on ``objective`` for ``steps`` steps, all trajectories at once.

    ``settings`` is one complete hyperparameter setting or a list of B of them (see
    ``Optimizer.resolve``); ``start`` is one point ``[D]`` shared by all, or ``[B, D]``
    (default: the objective's start). A single setting with B starts, or B settings with one
    start, is broadcast. A start where f or its gradient is not finite is refused
    (OptiscopeError): no metric could be measured from there. ``gradient`` replaces the exact gradient the optimizer sees (noise,
    mini-batches); a learning-rate schedule in the settings sets each step's lr. ``progress(k)``
    is called after every step (for progress bars on long runs).

    Two kinds of optimizer are driven: elementwise ones through ``update(g, state, x, hp)``
    (one gradient per step), and ones with their own line search (``optimizer.evaluates``)
    through ``step(evaluate, state, x, f, g, hp) -> (x, state, evaluations [B])``.
    """
    settings, x = _broadcast(objective, settings, start)
    if not (isinstance(steps, int | np.integer) and 1 <= steps <= MAX_STEPS):
        raise OptiscopeError(f"invalid steps: {steps} (valid: 1 <= steps <= {MAX_STEPS})")
    batch = x.shape[0]
    hp = optimizer.stack(settings)
    optimizer.validate(hp)
    check_gradient_source(optimizer, gradient is not None)
    with np.errstate(all="ignore"):  # huge schedule values overflow to an lr of 0 or inf
        lr_table = learning_rates(settings, steps)  # [S, B] or None when every lr is constant
    radius = escape_radius(objective, x)

    positions = np.empty((steps + 1, batch, objective.dim))
    losses = np.empty((steps + 1, batch))
    grad_norms = np.empty((steps + 1, batch))
    evaluations = np.zeros((steps + 1, batch), dtype=np.int64)
    diverged_at = np.full(batch, -1, dtype=np.int64)
    converged_at = np.full(batch, -1, dtype=np.int64)
    alive = np.ones(batch, dtype=bool)

    def evaluate(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return objective.value(points), objective.grad(points)

    with np.errstate(all="ignore"):  # overflow is expected on diverging rows; it is reported
        state = optimizer.init(x, hp)
        f, g = evaluate(x)
        _check_start(x, f, g)
        traced = optimizer.plot_state if record_state else ()
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
            bad = (
                ~np.isfinite(x_new).all(axis=1)
                | (np.abs(x_new) > radius).any(axis=1)
                | ~np.isfinite(f_new)
                | ~np.isfinite(g_new).all(axis=1)
            )
            diverged_at[alive & bad] = k
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
            done = _done(state)
            converged_at[(converged_at < 0) & done & alive] = k
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
        states=states if record_state else None,
        learning_rates=lr_table,
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


def _broadcast(
    objective: Objective,
    settings: Mapping[str, Any] | Sequence[Mapping[str, Any]],
    start: Sequence[float] | np.ndarray | None,
) -> tuple[list[dict[str, Any]], np.ndarray]:
    """B settings and a ``[B, D]`` start array, broadcasting a single setting or start."""
    if isinstance(settings, Mapping):
        settings = [settings]
    settings = [dict(s) for s in settings]
    if not settings:
        raise OptiscopeError("no hyperparameter settings to run")
    x0 = np.atleast_2d(np.asarray(objective.start if start is None else start, dtype=np.float64))
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


def _rows(mask: np.ndarray, field: np.ndarray) -> np.ndarray:
    """A ``[B]`` row mask shaped to broadcast over a state field ``[B, ...]``."""
    return mask.reshape((-1,) + (1,) * (np.ndim(field) - 1))


def _done(state: Any) -> np.ndarray:
    """Rows whose optimizer reports its own stopping test met (a ``done`` state field)."""
    done = getattr(state, "done", None)
    if done is None:
        return np.zeros(np.shape(state[0])[0], dtype=bool)
    return np.asarray(done, dtype=bool).reshape(-1)


def _record(k, x, f, g, state, positions, losses, grad_norms, states) -> None:
    positions[k] = x
    losses[k] = f
    grad_norms[k] = np.sqrt(np.sum(g * g, axis=1))
    for name in states:
        states[name][k] = getattr(state, name)
