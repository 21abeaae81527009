"""Where a run is in the landscape: stuck in a local minimum, or starting near a saddle.

- ``local_minimum_near(objective, x)``: the local minimizer a damped Newton descent from ``x``
  reaches (downhill only, so it lies in the basin ``x`` is in), with its value and Hessian
  eigenvalues; None when there is none (a saddle's attracting line, a kink, unbounded below).
- ``saddle_near(objective, start)``: the critical point a Newton search on the gradient finds
  from the start, when it is a saddle (one negative and one positive Hessian eigenvalue) and
  the start lies where that saddle's quadratic model holds. Along the negative-curvature
  direction (``lam < 0``) the linear methods *grow* the distance: GD by ``1 + lr*|lam|`` per
  step, heavy ball asymptotically by the larger root of ``s^2 - (1 + b + lr|lam|) s + b``,
  Nesterov by that of ``s^2 - (1 + b)(1 + h) s + b(1 + h)`` (``h = lr|lam|``): the same
  recurrences as at a minimum, with ``lam`` negative. So escaping from distance ``d0`` to
  ``d1`` along that direction takes about ``log(d1/d0)/log(growth)`` steps; ``escape_steps``
  gives the exact first step of the model's recurrence (its closed form) beyond ``d1``.

The neighbourhood radius ``d1`` is where the model stops describing the function: the largest
distance along the negative-curvature direction (probed on a geometric grid, up to half the
plot box's larger side) within which the curvature along both eigenvectors stays within a
factor ``MODEL_FACTOR`` of its value at the saddle, at every probe between the saddle and the
start's offset along the positive-curvature direction.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from optiscope.errors import OptiscopeError
from optiscope.objectives.base import Objective
from optiscope.theory.linear import LinearSetting, recurrence, root_modulus
from optiscope.theory.minimizer import _critical_point, _descend, _eigvalsh, _hessian, _polish

MODEL_FACTOR = 2.0  # the saddle's model holds while curvatures stay within this factor
RADIUS_STEPS = 80  # probe radii: half-box * 2^(-j/4), j = 0..RADIUS_STEPS-1
ESCAPE_STEPS_MAX = 10**6  # longer escapes are reported as "more than"
SIGN_TOL = 1e-8  # an eigenvalue below -SIGN_TOL * max|eigenvalue| counts as negative


@dataclass(frozen=True)
class LocalMinimum:
    """A local minimizer ``point`` with ``value`` and ascending Hessian ``eigenvalues``."""

    point: np.ndarray  # [2]
    value: float
    eigenvalues: np.ndarray  # [2]


@dataclass(frozen=True)
class Saddle:
    """A saddle near the start: ``point``, ascending ``eigenvalues`` (first < 0 < second),
    ``down`` the unit eigenvector of the negative one, ``d0`` the start's distance from the
    saddle along ``down``, ``d1`` the neighbourhood radius along it (see the module notes),
    ``box_limited`` True when ``d1`` is the half-box cap rather than a curvature change."""

    point: np.ndarray  # [2]
    eigenvalues: np.ndarray  # [2]
    down: np.ndarray  # [2]
    d0: float
    d1: float
    box_limited: bool


def local_minimum_near(objective: Objective, x: np.ndarray) -> LocalMinimum | None:
    """The local minimizer a damped Newton descent from ``x`` reaches, or None (never raises)."""
    if objective.hessian_fn is None or objective.dim != 2:
        return None
    x = np.asarray(x, dtype=np.float64)
    with np.errstate(all="ignore"):
        try:
            found = _descend(objective, x)
            if found is None:
                return None
            found = _polish(objective, found)
            lam = _eigvalsh(_hessian(objective, found))
            value = float(objective.value(found[None])[0])
        except (OptiscopeError, ArithmeticError, np.linalg.LinAlgError):
            return None
    if not (np.isfinite(lam).all() and lam[0] > 0.0 and math.isfinite(value)):
        return None
    return LocalMinimum(found, value, lam)


def saddle_near(objective: Objective, start: np.ndarray) -> Saddle | None:
    """The saddle whose quadratic model holds at ``start``, or None (never raises)."""
    if objective.hessian_fn is None or objective.dim != 2:
        return None
    start = np.asarray(start, dtype=np.float64)
    with np.errstate(all="ignore"):
        try:
            c = _critical_point(objective, start)
            if c is None:
                return None
            h = _hessian(objective, c)
            lam = _eigvalsh(h)
            if not np.isfinite(lam).all():
                return None
            scale = float(np.max(np.abs(lam)))
            if not (lam[0] < -SIGN_TOL * scale and lam[1] > SIGN_TOL * scale):
                return None  # a minimum, a maximum or a degenerate point
            vec = np.linalg.eigh(0.5 * (h + h.T))[1]
            return _saddle(objective, start, c, lam, vec)
        except (OptiscopeError, ArithmeticError, np.linalg.LinAlgError):
            return None


def _saddle(
    objective: Objective, start: np.ndarray, c: np.ndarray, lam: np.ndarray, vec: np.ndarray
) -> Saddle | None:
    down, up = vec[:, 0], vec[:, 1]
    offset = start - c
    d0 = abs(float(down @ offset))
    a0 = float(up @ offset)
    half_box = 0.5 * max(hi - lo for lo, hi in objective.bounds)
    radii = half_box * 2.0 ** (-np.arange(RADIUS_STEPS) / 4.0)  # descending
    radii = radii[radii > d0][::-1]  # ascending, beyond the start's offset
    if len(radii) == 0:
        return None
    if not _model_holds(objective, c, lam, vec, a0, np.array([max(d0, radii[0] * 1e-3)]))[0]:
        return None  # the start itself is outside the saddle's quadratic region
    holds = _model_holds(objective, c, lam, vec, a0, radii)
    if not holds[0]:
        return None
    failed = np.flatnonzero(~holds)
    last = len(radii) - 1 if len(failed) == 0 else int(failed[0]) - 1
    return Saddle(c, lam, _signed(down), d0, float(radii[last]), len(failed) == 0)


def _model_holds(
    objective: Objective,
    c: np.ndarray,
    lam: np.ndarray,
    vec: np.ndarray,
    a0: float,
    radii: np.ndarray,
) -> np.ndarray:
    """For each radius r: whether at every probe ``c + alpha*a0*up + beta*r*down``
    (``alpha`` in {0, 1/2, 1}, ``beta`` in {+-1/4, +-1/2, +-3/4, +-1}) the curvature along
    each eigenvector is within ``MODEL_FACTOR`` of the saddle's (same sign). ``[R]`` bool."""
    alphas = np.array([0.0, 0.5, 1.0])
    betas = np.array([-1.0, -0.75, -0.5, -0.25, 0.25, 0.5, 0.75, 1.0])
    a, b, r = np.meshgrid(alphas, betas, radii, indexing="ij")  # [3, 8, R]
    points = c + (a * a0)[..., None] * vec[:, 1] + (b * r)[..., None] * vec[:, 0]
    hs = np.asarray(objective.hessian(points.reshape(-1, 2)), dtype=np.float64)
    curv = np.einsum("ji,pjk,ki->pi", vec, hs, vec).reshape(*a.shape, 2)  # [3, 8, R, 2]
    ratio = curv / lam  # same sign: positive
    ok = np.isfinite(ratio) & (ratio >= 1.0 / MODEL_FACTOR) & (ratio <= MODEL_FACTOR)
    ok = ok.all(axis=(0, 1, 3))  # [R]
    return np.logical_and.accumulate(ok)  # a radius counts only if every smaller one does


def _signed(v: np.ndarray) -> np.ndarray:
    """``v`` with its largest-magnitude component positive (a stable sign for printing)."""
    return v if v[np.argmax(np.abs(v))] >= 0 else -v


def growth_factor(setting: LinearSetting, lam: float) -> float:
    """The asymptotic factor by which the distance along a direction of curvature ``lam``
    (+ weight decay) grows per step: the largest root modulus of its recurrence."""
    p, q, _ = recurrence(setting, lam + setting.weight_decay)
    return root_modulus(p, q)


def escape_steps(setting: LinearSetting, lam: float, d0: float, d1: float) -> int | None:
    """The first step at which the model's distance along a direction of curvature ``lam < 0``
    reaches ``d1`` from ``d0`` (None: never, e.g. ``d0 = 0`` or weight decay making the
    curvature non-negative, or beyond ``ESCAPE_STEPS_MAX``).

    The recurrence ``x_{k+1} = p x_k - q x_{k-1}``, ``x_1 = c1 x_0`` is iterated in blocks
    (its values grow, so nothing underflows); on the model this is exact.
    """
    p, q, c1 = recurrence(setting, lam + setting.weight_decay)
    growth = root_modulus(p, q)
    if d0 <= 0.0 or not growth > 1.0:
        return None
    prev, x = 1.0, c1  # in units of d0
    target = d1 / d0
    if math.log(target) / math.log(growth) > ESCAPE_STEPS_MAX:
        return None
    if abs(prev) >= target:
        return 0
    for k in range(1, ESCAPE_STEPS_MAX + 1):
        if abs(x) >= target:
            return k
        if not math.isfinite(x):
            return None
        prev, x = x, p * x - q * prev
    return None
