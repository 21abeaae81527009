"""Finding the local minimizer to model when none is known: a damped Newton search.

When it finds none, it classifies the critical point a plain Newton search on the gradient
reaches (saddle, maximum, degenerate) to say why.
"""

from __future__ import annotations

import dataclasses
import math
from collections import OrderedDict
from collections.abc import Sequence

import numpy as np

from optiscope.errors import OptiscopeError
from optiscope.objectives.base import Objective
from optiscope.tables import num
from optiscope.theory.formatting import _fmt_point


def _norm(v: np.ndarray) -> float:
    """The Euclidean norm without underflow (numpy's squares first: 3e-300 gives 0)."""
    return math.hypot(*(float(c) for c in v))


def _hessian(objective: Objective, x: np.ndarray) -> np.ndarray:
    with np.errstate(all="ignore"):
        return np.asarray(objective.hessian(x[None]), dtype=np.float64)[0]


def _eigvalsh(h: np.ndarray) -> np.ndarray:
    """Eigenvalues (ascending) of the symmetric part of ``h``; NaN when ``h`` is not finite
    or LAPACK does not converge (never an exception: callers test ``np.isfinite``)."""
    if not np.isfinite(h).all():
        return np.full(h.shape[0], np.nan)
    try:
        return np.linalg.eigvalsh(0.5 * (h + h.T))
    except np.linalg.LinAlgError:
        return np.full(h.shape[0], np.nan)


def _solve(h: np.ndarray, rhs: np.ndarray) -> np.ndarray | None:
    """The least-squares solution of ``h x = rhs``; None when it is not finite or LAPACK's SVD
    does not converge (a Hessian with entries near overflow, or a kink)."""
    if not (np.isfinite(h).all() and np.isfinite(rhs).all()):
        return None
    try:
        x = np.linalg.lstsq(h, rhs, rcond=None)[0]
    except np.linalg.LinAlgError:
        return None
    return x if np.isfinite(x).all() else None


def _search_minimizer(objective: Objective, start: np.ndarray) -> np.ndarray:
    """Damped Newton descent from ``start`` (eigenvalue-modified Hessian, Armijo backtracking);
    if it finds no minimizer, classify the critical point a plain Newton search on the gradient
    finds, to say why (saddle, maximum, degenerate)."""
    name = objective.name
    with np.errstate(all="ignore"):
        x = _descend(objective, start)
        if x is not None:
            return _polish(objective, x)
        c = _critical_point(objective, start)
    if c is None and not np.isfinite(_hessian(objective, start)).all():
        raise OptiscopeError(
            f"{name}: the Hessian is not finite at the start {_fmt_point(start)} (the function "
            "is not twice differentiable there, e.g. a kink), so the Newton search for a "
            "minimizer cannot start; give another start"
        )
    if c is None:
        raise OptiscopeError(
            f"{name}: no minimizer found near the start {_fmt_point(start)} (a Newton search "
            "neither reached a point with zero gradient nor stayed bounded)"
        )
    lam = _eigvalsh(_hessian(objective, c))
    where, eig = _fmt_point(c), ", ".join(num(v) for v in lam)
    if not np.isfinite(lam).all():
        raise OptiscopeError(f"{name}: the Hessian at the critical point {where} is not finite")
    # relative to the curvature at the start too: a degenerate point's Hessian tends to 0
    at_start = np.abs(_hessian(objective, start))
    scale = float(np.max(np.abs(lam)))
    if np.isfinite(at_start).all():
        scale = max(scale, float(np.max(at_start)))
    if lam[0] < -1e-8 * scale:
        kind = "a maximum" if lam[-1] < -1e-8 * scale else "a saddle"
        raise OptiscopeError(
            f"{name} has no minimum near the start: its Hessian at the critical point {where} "
            f"has a negative eigenvalue ({num(lam[0])}): {kind} (eigenvalues {eig})"
        )
    raise OptiscopeError(
        f"{name} has no strict minimum near the start: the Hessian at the critical point {where} "
        f"is singular (eigenvalues {eig}): a degenerate critical point, which second-order "
        "theory cannot classify"
    )


def _descend(objective: Objective, x: np.ndarray, iters: int = 200) -> np.ndarray | None:
    """Modified Newton (``|eigenvalues|`` of the Hessian, floored) with Armijo backtracking.

    It runs until no step is accepted (or ``iters``): at a strict minimizer Newton converges
    quadratically to full precision; at a degenerate one only linearly. Any positive definite
    end point is returned, however ill-conditioned: ``local_model`` tells a degenerate minimum
    from an ill-conditioned one by how the curvature changes nearby.
    """
    f = float(objective.value(x[None])[0])
    g0 = _norm(objective.grad(x[None])[0])
    for _ in range(iters):
        g = objective.grad(x[None])[0]
        h = _hessian(objective, x)
        if not (np.isfinite(g).all() and np.isfinite(h).all() and math.isfinite(f)):
            return None
        if not np.any(g):
            break
        try:
            lam, vec = np.linalg.eigh(0.5 * (h + h.T))
        except np.linalg.LinAlgError:
            return None
        floor = 1e-8 * max(1.0, float(np.max(np.abs(lam))))
        step = -vec @ ((vec.T @ g) / np.maximum(np.abs(lam), floor))
        t, slope = 1.0, float(g @ step)
        while t > 1e-12:
            f_new = float(objective.value((x + t * step)[None])[0])
            if math.isfinite(f_new) and f_new <= f + 1e-4 * t * slope:
                break
            t *= 0.5
        else:
            break
        x, f = x + t * step, f_new
        if np.max(np.abs(x)) > 1e8 or f < -1e100:
            return None  # running away: unbounded below
    g = objective.grad(x[None])[0]
    lam = _eigvalsh(_hessian(objective, x))
    ok = np.isfinite(lam).all() and lam[0] > 0.0
    return x if ok and _norm(g) <= 1e-6 * max(1.0, g0) else None


def _polish(objective: Objective, x: np.ndarray) -> np.ndarray:
    """Plain Newton steps on the gradient from the minimizer ``_descend`` found.

    At a strict minimizer they change nothing beyond rounding (it has converged). Where the
    descent stopped early they finish the job: at a degenerate minimum (Newton converges
    only linearly, and the descent's eigenvalue floor slows it further) they go much closer,
    so the curvature test in ``local_model`` sees how flat the point is; on a function of tiny
    scale (``1e-300*(w1^2 + w2^2)``, where every gradient passes the descent's absolute
    tolerance at once) they reach the minimizer instead of stopping at the start. A point
    with a higher value (beyond rounding) is not taken.
    """
    p = _critical_point(objective, x)
    if p is None:
        return x
    f_x = float(objective.value(x[None])[0])
    f_p = float(objective.value(p[None])[0])
    ok = math.isfinite(f_p) and f_p <= f_x + 1e-12 * max(abs(f_x), abs(f_p))
    return p if ok else x


def _critical_point(objective: Objective, x: np.ndarray, iters: int = 200) -> np.ndarray | None:
    """Newton's method on ``grad = 0`` with backtracking on ``|grad|``: any kind of critical point.

    It runs until no step reduces ``|grad|`` (or ``iters``), so that at a degenerate critical
    point (linear convergence) the Hessian found is clearly singular, not merely small.
    """
    g = objective.grad(x[None])[0]
    g0 = _norm(g)
    for _ in range(iters):
        norm = _norm(g)
        if not math.isfinite(norm) or norm == 0.0:
            break
        step = _solve(_hessian(objective, x), -g)
        if step is None:
            break
        t = 1.0
        while t > 1e-12:
            g_new = objective.grad((x + t * step)[None])[0]
            if np.isfinite(g_new).all() and _norm(g_new) < norm:
                break
            t *= 0.5
        else:
            break
        x, g = x + t * step, g_new
    ok = np.isfinite(g).all() and _norm(g) <= 1e-6 * max(1.0, g0)
    return x if ok else None


FOUND_NOTE = "a local minimizer found numerically from the start (a Newton search)"
_FOUND_CACHE_SIZE = 256
_found: OrderedDict[tuple[str, str, tuple[float, ...]], np.ndarray | None] = OrderedDict()


def with_found_minimum(objective: Objective, start: Sequence[float] | None = None) -> Objective:
    """The objective with the minimizer that ``theory`` finds, for one without a known minimum.

    For an objective with neither ``minimizers`` nor ``f_min`` (a typed-in formula), the damped
    Newton search of ``local_model`` runs from ``start`` (default: the objective's start); when
    it finds a local minimizer ``x*`` the result is a copy with ``minimizers = [x*]``,
    ``f_min = f(x*)`` and ``minimum_note`` saying where they come from. Otherwise (a known minimum, no Hessian, no minimizer found: a saddle,
    unbounded below) the objective is returned unchanged. The search runs once per formula
    and start (a bounded cache). Never raises for a search that fails.
    """
    known = np.asarray(objective.minimizers, dtype=np.float64).reshape(-1, objective.dim)
    if len(known) or objective.f_min is not None or objective.hessian_fn is None:
        return objective
    if objective.dim != 2:
        return objective
    point = np.asarray(objective.start if start is None else start, dtype=np.float64).reshape(-1)
    if point.shape != (2,) or not np.isfinite(point).all():
        return objective
    key = (objective.name, objective.formula, tuple(float(v) for v in point))
    if key in _found:
        _found.move_to_end(key)
    else:
        _found[key] = _find(objective, point)
        if len(_found) > _FOUND_CACHE_SIZE:
            _found.popitem(last=False)
    x = _found[key]
    if x is None:
        return objective
    with np.errstate(all="ignore"):
        f_min = float(objective.value(x[None])[0])
    return dataclasses.replace(
        objective, minimizers=x[None].copy(), f_min=f_min, minimum_note=FOUND_NOTE
    )


def _find(objective: Objective, start: np.ndarray) -> np.ndarray | None:
    """The search's minimizer, or None when it finds none (or the value there is not finite)."""
    try:
        with np.errstate(all="ignore"):
            x = _search_minimizer(objective, start)
            value = float(objective.value(x[None])[0])
    except (OptiscopeError, ArithmeticError, np.linalg.LinAlgError):
        return None
    return x if math.isfinite(value) and np.isfinite(x).all() else None
