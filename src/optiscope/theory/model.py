"""The local quadratic model at a strict minimizer: Hessian, eigen-directions, valley shape.

Near a strict local minimizer ``x*`` every smooth function is, to second order, the quadratic
``f(x) ~ f(x*) + 1/2 (x - x*)^T H (x - x*)`` with ``H`` its Hessian there (analytic for the
catalogue, exact derivatives of the formula tree for typed-in formulas). ``local_model`` builds that model.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from optiscope.errors import OptiscopeError
from optiscope.objectives.base import Objective
from optiscope.tables import num
from optiscope.theory.formatting import _fmt_point
from optiscope.theory.minimizer import _hessian, _search_minimizer

AXIS_TOL_DEG = 1e-6  # a valley within this many degrees of an axis counts as axis-aligned
# kappa above this is not resolved in float64: the smallest eigenvalue of a rotated Hessian is
# off by about eps*kappa relative (eps = 2.2e-16): ~1% at 1e14, ~6% at 1e15, ~50% at 1e16
KAPPA_MAX = 1e14
PROBE_DISTANCE = 1e-4  # the curvature test's distance from x*, times max(1, |x*|)
CURVATURE_CHANGE_MAX = 10.0  # curvature changing by more than this factor: not quadratic there
CURVATURE_NOISE = 1e-12  # rounding allowance, relative to the largest curvature
FLOAT_TINY = float(np.finfo(np.float64).tiny)  # 2.2e-308: smaller curvatures are subnormal
FLOAT_HUGE = float(np.finfo(np.float64).max) / 8  # 2.2e307: 3L + mu must not overflow


@dataclass(frozen=True, eq=False)
class LocalQuadratic:
    """The quadratic model ``f(x*) + 1/2 (x - x*)^T H (x - x*)`` at a strict local minimizer.

    ``eigenvalues`` ascending (``mu``, ``L``), ``eigenvectors`` as columns (``[:, i]`` belongs to
    ``eigenvalues[i]``), ``kappa = L/mu``. ``valley_angle_deg`` is the direction of the flat
    axis (eigenvector of ``mu``) from the w1 axis, in ``[0, 180)`` (None when ``kappa = 1``: no
    valley); ``misalignment_deg`` its angle to the nearest coordinate axis (0..45);
    ``best_diagonal_kappa`` the condition number left after the best fixed per-coordinate
    scaling ``D H D`` (for 2x2 the Jacobi scaling: ``(1 + |r|)/(1 - |r|)``, ``r`` the Hessian's
    correlation ``h12/sqrt(h11 h22)``): what a diagonal preconditioner can at best achieve.
    ``quadratic`` is True when the Hessian is the same everywhere we looked (the model is
    exact); ``source`` says where ``point`` came from and ``start`` where the search began.
    """

    function: str
    start: np.ndarray  # [2]
    point: np.ndarray  # [2]
    value: float
    hessian: np.ndarray  # [2, 2]
    eigenvalues: np.ndarray  # [2] ascending
    eigenvectors: np.ndarray  # [2, 2] columns
    valley_angle_deg: float | None
    misalignment_deg: float
    best_diagonal_kappa: float
    quadratic: bool
    source: str

    @property
    def mu(self) -> float:
        return float(self.eigenvalues[0])

    @property
    def L(self) -> float:
        return float(self.eigenvalues[-1])

    @property
    def kappa(self) -> float:
        return self.L / self.mu

    @property
    def axis_aligned(self) -> bool:
        return self.misalignment_deg <= AXIS_TOL_DEG


def local_model(objective: Objective, point: Sequence[float] | None = None) -> LocalQuadratic:
    """The local quadratic model of ``objective`` at the minimizer nearest ``point``.

    ``point`` (default: the objective's start) only says where to look: the model is built at
    the known minimizer nearest to it or, when none is known (typed-in formulas, saddles), at
    the local minimizer that a damped Newton search from it finds (bounded iterations;
    accepted only with a vanishing gradient and a positive definite Hessian). Raises
    OptiscopeError when there is no Hessian, no minimizer near ``point`` (a saddle, a maximum,
    unbounded below), the Hessian there is not finite or not positive definite, the minimum is
    degenerate (``_check_quadratic_near``: the curvature changes by orders of magnitude within
    a short distance, as at the minimum of ``w1^4 + w2^4``), or ``kappa > KAPPA_MAX`` (too
    ill-conditioned for float64). A large but resolvable ``kappa`` (``1e10``) is accepted.
    """
    name = objective.name
    if objective.hessian_fn is None:
        raise OptiscopeError(
            f"{name} has no Hessian: the quadratic theory needs second derivatives"
        )
    if objective.dim != 2:
        raise OptiscopeError(f"{name}: the theory covers 2-D functions only")
    start = _as_point(objective.start if point is None else point, "point")
    with np.errstate(all="ignore"):  # overflow and 0/0 are checked for, never printed
        known = np.asarray(objective.minimizers, dtype=np.float64).reshape(-1, 2)  # [M, 2]
        if len(known):
            x = known[np.argmin(np.sum((known - start) ** 2, axis=1))]
            # a minimum found numerically (with_found_minimum) says so in its note
            source = objective.minimum_note or "known minimizer nearest the start"
        else:
            x = _search_minimizer(objective, start)
            source = "local minimizer found by a damped Newton search from the start"
        h = _hessian(objective, x)
        where = _fmt_point(x)
        if not np.isfinite(h).all():
            raise OptiscopeError(
                f"{name}: the Hessian at the minimizer {where} is not finite: the function is "
                "not twice differentiable there (a kink), so no local quadratic model applies"
            )
        lam, vec = _eigh(h)
        if not (np.isfinite(lam).all() and np.isfinite(vec).all()):
            raise OptiscopeError(
                f"{name}: the Hessian at the minimizer {where} has entries too large for "
                f"float64 ({num(float(np.max(np.abs(h))))}): its eigenvalues overflow; rescale "
                "the function"
            )
        if lam[0] <= 0.0:
            raise OptiscopeError(
                f"{name}: degenerate minimum at {where}: the Hessian there is singular or not "
                f"positive definite (eigenvalues {num(lam[0])}, {num(lam[1])}): a degenerate "
                "minimum has no linear rate"
            )
        if lam[0] < FLOAT_TINY:
            raise OptiscopeError(
                f"{name}: the curvature at the minimizer {where} ({num(lam[0])}) is below "
                f"float64's normal range ({num(FLOAT_TINY)}): step sizes like 2/L overflow; "
                "rescale the function"
            )
        if lam[1] > FLOAT_HUGE:
            raise OptiscopeError(
                f"{name}: the curvature at the minimizer {where} ({num(lam[1])}) is too close "
                f"to float64's largest number: sums like L + mu overflow; rescale the function"
            )
        _check_quadratic_near(objective, x, start, lam, vec)
        if lam[1] > KAPPA_MAX * lam[0]:
            raise OptiscopeError(
                f"{name}: too ill-conditioned for float64 at the minimizer {where}: eigenvalues "
                f"{num(lam[0])}, {num(lam[1])}, kappa {num(lam[1] / lam[0])} > {num(KAPPA_MAX)}: "
                "the smallest eigenvalue is not resolved next to the largest (it may even be 0, "
                "a degenerate minimum)"
            )
        value = float(objective.value(x[None])[0])
        if not math.isfinite(value):
            raise OptiscopeError(f"{name}: the value at the minimizer {where} is not finite")
        return LocalQuadratic(
            function=name,
            start=start,
            point=x,
            value=value,
            hessian=h,
            eigenvalues=lam,
            eigenvectors=vec,
            valley_angle_deg=_valley_angle(lam, vec),
            misalignment_deg=_misalignment(lam, vec),
            best_diagonal_kappa=_best_diagonal_kappa(h),
            quadratic=_is_quadratic(objective, x, start, h),
            source=source,
        )


def _check_quadratic_near(
    objective: Objective, x: np.ndarray, start: np.ndarray, lam: np.ndarray, vec: np.ndarray
) -> None:
    """Raise unless the quadratic model describes ``objective`` near ``x``.

    A positive definite Hessian is not enough in floating point: at the minimum of
    ``w1^4 + w2^4`` a search ends a little off 0, where the Hessian ``12 w^2`` is tiny but
    positive, and ill-conditioning alone (``kappa = 2e10``) is no fault. What tells them apart
    is how the curvature changes nearby. Along each eigenvector ``v_i`` the curvature
    ``v_i^T H(y) v_i`` is measured at ``y = x +- delta v_i`` and ``delta`` towards the start,
    ``delta = PROBE_DISTANCE * max(1, |x|)``: a quadratic's does not change, a strict
    minimum's changes in proportion to ``delta`` (Rosenbrock's by 5%, Beale's by 0.3%), a
    degenerate one's by orders of magnitude (``w1^4``: from ~1e-15 to ~1e-7). A change by
    more than the factor ``CURVATURE_CHANGE_MAX``, beyond rounding (``CURVATURE_NOISE``
    times the largest curvature), means the function is not quadratic near ``x``.
    """
    delta = PROBE_DISTANCE * max(1.0, float(np.max(np.abs(x))))
    dirs = [vec[:, 0], -vec[:, 0], vec[:, 1], -vec[:, 1]]
    away = start - x
    if np.any(away):
        dirs.append(away / math.hypot(*away))
    hs = np.asarray(objective.hessian(x + delta * np.array(dirs)), dtype=np.float64)  # [P, 2, 2]
    curv = np.einsum("ji,pjk,ki->pi", vec, hs, vec)  # [P, 2] curvature along each eigenvector
    noise = CURVATURE_NOISE * max(float(lam[-1]), float(np.max(np.abs(curv))))
    bad = ~np.isfinite(curv) | (curv > CURVATURE_CHANGE_MAX * lam + noise)
    bad |= curv < lam / CURVATURE_CHANGE_MAX - noise
    if not bad.any():
        return
    p, i = np.argwhere(bad)[0]
    raise OptiscopeError(
        f"{objective.name}: degenerate minimum at {_fmt_point(x)}: the curvature along "
        f"{_fmt_point(vec[:, i])} is {num(lam[i])} there but {num(curv[p, i])} at distance "
        f"{num(delta)}: the function is not quadratic near that point (flatter, like w^4), so "
        "no local quadratic model applies and there is no linear rate"
    )


def _eigh(h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.linalg.eigh`` of the symmetric part; NaN instead of LAPACK's LinAlgError."""
    try:
        return np.linalg.eigh(0.5 * (h + h.T))
    except np.linalg.LinAlgError:
        return np.full(2, np.nan), np.full((2, 2), np.nan)


def _as_point(p: Sequence[float] | np.ndarray, what: str) -> np.ndarray:
    try:
        x = np.asarray(p, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        raise OptiscopeError(f"invalid {what}: expected two numbers, got {p!r}") from None
    if x.shape != (2,) or not np.isfinite(x).all():
        raise OptiscopeError(f"invalid {what}: expected two finite numbers, got {p!r}")
    return x


def _valley_angle(lam: np.ndarray, vec: np.ndarray) -> float | None:
    if lam[1] - lam[0] <= 1e-12 * lam[1]:
        return None  # round: every direction is a principal one
    v = vec[:, 0]
    angle = math.degrees(math.atan2(v[1], v[0])) % 180.0
    return 0.0 if angle >= 180.0 - 1e-12 else angle


def _misalignment(lam: np.ndarray, vec: np.ndarray) -> float:
    angle = _valley_angle(lam, vec)
    if angle is None:
        return 0.0
    m = angle % 90.0
    return min(m, 90.0 - m)


def _best_diagonal_kappa(h: np.ndarray) -> float:
    prod = h[0, 0] * h[1, 1]
    if math.isfinite(prod) and prod >= FLOAT_TINY:
        root = math.sqrt(prod)
    else:  # the product under- or overflows (curvatures ~1e-300): two roots instead
        root = math.sqrt(h[0, 0]) * math.sqrt(h[1, 1])
    r = min(abs(h[0, 1]) / root, 1.0)
    return math.inf if r >= 1.0 else (1.0 + r) / (1.0 - r)


def _is_quadratic(objective: Objective, x: np.ndarray, start: np.ndarray, h: np.ndarray) -> bool:
    radius = max(1.0, float(np.max(np.abs(start - x))))
    probes = x + radius * np.array([[0.0, 0.0], [1.0, 0.0], [0.0, -1.0], [0.7, 0.3]])
    probes = np.vstack([probes, start])
    with np.errstate(all="ignore"):
        hs = np.asarray(objective.hessian(probes), dtype=np.float64)
    return bool(
        np.isfinite(hs).all() and np.allclose(hs, h, rtol=1e-9, atol=1e-12 * np.abs(h).max())
    )
