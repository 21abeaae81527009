"""Closed-form predictions of a linear method's run: the whole path and the steps to a tolerance."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from optiscope.errors import OptiscopeError
from optiscope.tables import num
from optiscope.theory.linear import LinearSetting, char_roots, recurrence, root_modulus
from optiscope.theory.model import LocalQuadratic, _as_point

EXACT_STEPS_MAX = 2_000_000  # longer predictions use the envelope alone (an overestimate)
STEPS_MAX = 10**9


def _lucas_u(p: float, q: float, k: np.ndarray) -> np.ndarray:
    """``u_k = (s1^k - s2^k)/(s1 - s2)`` (``k s^(k-1)`` for a double root): ``u_0 = 0``,
    ``u_1 = 1``, ``u_{k+1} = p u_k - q u_{k-1}``. The error is ``x_k = x_1 u_k - q x_0 u_{k-1}``."""
    s1, s2 = char_roots(p, q)
    k = np.asarray(k, dtype=np.float64)
    with np.errstate(all="ignore"):
        if abs(s1 - s2) <= 1e-8 * max(abs(s1), 1e-300):
            s = 0.5 * p
            u = k * np.power(s, np.maximum(k - 1.0, 0.0))
        else:
            u = ((np.power(s1, k) - np.power(s2, k)) / (s1 - s2)).real
    return np.where(k <= 0.0, 0.0, u)


def _u_bound(p: float, q: float, k: np.ndarray) -> np.ndarray:
    """An upper bound of ``|u_k|``: ``r^(k-1) min(k, 2r/|s1 - s2|)``, ``r`` the largest modulus."""
    s1, s2 = char_roots(p, q)
    r, gap = abs(s1), abs(s1 - s2)
    k = np.asarray(k, dtype=np.float64)
    cap = 2.0 * r / gap if gap > 0.0 else math.inf
    with np.errstate(all="ignore"):
        u = np.power(r, np.maximum(k - 1.0, 0.0)) * np.minimum(k, cap)
    return np.where(k <= 0.0, 0.0, u)


def _eigen_setup(
    model: LocalQuadratic, setting: LinearSetting, start: np.ndarray
) -> tuple[np.ndarray, np.ndarray, list[tuple[float, float, float]]]:
    """Eigen-coordinates of a run: ``d`` (fixed point minus minimizer), ``e0`` (start minus
    fixed point) and each direction's ``(p, q, c1)``.

    Weight decay moves the fixed point: the model's gradient is ``H (x - x*) + wd x``, zero at
    ``(H + wd I) x = H x*``, i.e. ``lam x*_i/(lam + wd)`` in eigen-coordinates.
    """
    lam, vec, wd = model.eigenvalues, model.eigenvectors, setting.weight_decay
    x_star = vec.T @ model.point  # [2]
    fixed = lam * x_star / (lam + wd)
    recs = [recurrence(setting, float(li) + wd) for li in lam]
    return fixed - x_star, vec.T @ start - fixed, recs


def _errors(recs, e0: np.ndarray, k: np.ndarray, bound: bool = False) -> np.ndarray:
    """Error along each eigenvector after ``k`` steps, ``[K, 2]``: the closed form
    ``x_k = c1 x_0 u_k - q x_0 u_{k-1}`` (or, ``bound``, an upper bound of ``|x_k|``)."""
    cols = []
    for ei, (p, q, c1) in zip(e0, recs, strict=True):
        if bound:
            x = abs(c1 * ei) * _u_bound(p, q, k) + abs(q * ei) * _u_bound(p, q, k - 1.0)
        else:
            x = c1 * ei * _lucas_u(p, q, k) - q * ei * _lucas_u(p, q, k - 1.0)
        cols.append(np.where(k == 0, abs(ei) if bound else ei, x))
    return np.stack(cols, axis=-1)


def predicted_path(
    model: LocalQuadratic,
    setting: LinearSetting,
    steps: int,
    start: Sequence[float] | None = None,
) -> np.ndarray:
    """The iterates ``[steps + 1, 2]`` of ``setting`` on the quadratic model, in closed form.

    ``x*_wd + sum_i x_i(k) v_i``, with ``x_i(k)`` the solution of direction i's recurrence
    (see ``recurrence``) and ``x*_wd`` the fixed point (the minimizer unless weight decay moves
    it). On a quadratic objective it equals the engine's trajectory up to rounding.
    """
    x0 = _as_point(model.start if start is None else start, "start")
    d, e0, recs = _eigen_setup(model, setting, x0)
    k = np.arange(int(steps) + 1, dtype=np.float64)
    return model.point + (d + _errors(recs, e0, k)) @ model.eigenvectors.T


def _steps_to_tol(
    model: LocalQuadratic, setting: LinearSetting, start: np.ndarray, tol: float
) -> tuple[int | None, str]:
    """``(steps, how)``; steps None when it never gets there, ``how`` then says why."""
    lam = model.eigenvalues
    d, e0, recs = _eigen_setup(model, setting, start)
    floor = 0.5 * float(np.sum(lam * d * d))
    if floor >= tol:
        return None, (
            f"weight decay moves the fixed point off the minimizer: the loss gap stays at "
            f"{num(floor)} or more"
        )
    if any(root_modulus(p, q) >= 1.0 for p, q, _ in recs):
        return None, "unstable or not contracting: the loss gap does not go to zero"

    def gap(k: np.ndarray, bound: bool) -> np.ndarray:
        x = _errors(recs, e0, k, bound)  # [K, 2]
        shift = np.abs(d) if bound else d
        return np.sum(0.5 * lam * (shift + x) ** 2, axis=-1)

    # the bound is non-increasing from k_mono on; find where it drops below tol
    k_mono = 2
    for p, q, _ in recs:
        s1, s2 = char_roots(p, q)
        r, sep = root_modulus(p, q), abs(s1 - s2)
        cap = 2.0 * r / sep if sep > 0.0 else math.inf
        turn = min(cap, r / (1.0 - r), float(STEPS_MAX))  # r -> 1: past STEPS_MAX is "never"
        k_mono = max(k_mono, int(math.ceil(turn)) + 2)
    lo = k_mono
    if gap(np.array([lo]), True)[0] <= tol:
        hi = lo
    else:
        hi = lo
        while gap(np.array([hi]), True)[0] > tol:
            lo, hi = hi, 2 * hi
            if hi > STEPS_MAX:
                return None, f"more than {STEPS_MAX} steps"
        while hi - lo > 1:
            mid = (lo + hi) // 2
            lo, hi = (lo, mid) if gap(np.array([mid]), True)[0] <= tol else (mid, hi)
    if hi > EXACT_STEPS_MAX:
        return hi, "envelope bound (an overestimate): the exact error was not evaluated"
    k = np.arange(hi + 1, dtype=np.float64)
    above = np.flatnonzero(gap(k, False) > tol)
    return (int(above[-1]) + 1 if len(above) else 0), "exact"


def predicted_steps_to_tol(
    model: LocalQuadratic,
    setting: LinearSetting,
    start: Sequence[float] | None = None,
    tol: float = 1e-6,
) -> int | None:
    """The first step after which the loss gap ``f - f(x*)`` stays ``<= tol`` (None: never),
    for a run from ``start`` (default: the point the model's search began from, ``model.start``).

    The start offset is decomposed in eigen-coordinates, ``c_i = v_i . (start - x*)``; the gap is
    ``sum_i 1/2 lam_i x_i(k)^2`` with ``x_i(k) = x_1 u_k - q x_0 u_{k-1}`` the closed-form
    solution of each direction's recurrence (``u_k = (s1^k - s2^k)/(s1 - s2)``; each term
    decays like ``|s_i|^(2k)``, like ``k^2 |s|^(2k)`` for a double root). The envelope
    ``|u_k| <= r^(k-1) min(k, 2r/|s1 - s2|)`` bounds the search; then the exact gap is checked
    step by step, so on a quadratic the prediction is the exact answer of the linear iteration
    (beyond ``EXACT_STEPS_MAX`` steps the envelope alone is returned, an overestimate). On
    other functions it is the local model's estimate, good once the run is near ``x*``.
    """
    x0 = _as_point(model.start if start is None else start, "start")
    return _steps_to_tol(model, setting, x0, check_tol(tol))[0]


def check_tol(tol: float) -> float:
    """``tol`` as a float if it is a finite positive number; else OptiscopeError.

    The one check of a loss-gap tolerance (the theory's ``tol``, the CLI's ``--tol``).
    """
    if not (isinstance(tol, int | float) and math.isfinite(tol) and tol > 0.0):
        raise OptiscopeError(f"invalid tol: {tol} (must be a positive number)")
    return float(tol)
