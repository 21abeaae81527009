"""The local quadratic model at a strict minimizer: Hessian, eigen-directions, valley shape.

Near a strict local minimizer ``x*`` every smooth function is, to second order, the quadratic
``f(x) ~ f(x*) + 1/2 (x - x*)^T H (x - x*)`` with ``H`` its Hessian there (analytic for the
catalogue, symbolic for typed-in formulas). ``local_model`` builds that model.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from optiscope.errors import OptiscopeError
from optiscope.objectives.base import Objective
from optiscope.theory.formatting import _fmt_point, _g
from optiscope.theory.minimizer import _hessian, _search_minimizer

AXIS_TOL_DEG = 1e-6  # a valley within this many degrees of an axis counts as axis-aligned


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
    unbounded below), or the Hessian there is not finite or not positive definite.
    """
    name = objective.name
    if objective.hessian_fn is None:
        raise OptiscopeError(
            f"{name} has no Hessian: the quadratic theory needs second derivatives"
        )
    if objective.dim != 2:
        raise OptiscopeError(f"{name}: the theory covers 2-D functions only")
    start = _as_point(objective.start if point is None else point, "point")
    known = np.asarray(objective.minimizers, dtype=np.float64).reshape(-1, 2)  # [M, 2]
    if len(known):
        x = known[np.argmin(np.sum((known - start) ** 2, axis=1))]
        source = "known minimizer nearest the start"
    else:
        x = _search_minimizer(objective, start)
        source = "local minimizer found by a damped Newton search from the start"
    h = _hessian(objective, x)
    where = _fmt_point(x)
    if not np.isfinite(h).all():
        raise OptiscopeError(
            f"{name}: the Hessian at the minimizer {where} is not finite: the function is not "
            "twice differentiable there (a kink), so no local quadratic model applies"
        )
    lam, vec = np.linalg.eigh(0.5 * (h + h.T))
    scale = max(float(np.max(np.abs(lam))), 1e-300)
    if lam[0] <= 1e-10 * scale:
        raise OptiscopeError(
            f"{name}: the Hessian at the minimizer {where} is singular or not "
            f"positive definite (eigenvalues {_g(lam[0])}, {_g(lam[1])}): a degenerate minimum "
            "has no linear rate"
        )
    return LocalQuadratic(
        function=name,
        start=start,
        point=x,
        value=float(objective.value(x[None])[0]),
        hessian=h,
        eigenvalues=lam,
        eigenvectors=vec,
        valley_angle_deg=_valley_angle(lam, vec),
        misalignment_deg=_misalignment(lam, vec),
        best_diagonal_kappa=_best_diagonal_kappa(h),
        quadratic=_is_quadratic(objective, x, start, h),
        source=source,
    )


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
    r = min(abs(h[0, 1]) / math.sqrt(h[0, 0] * h[1, 1]), 1.0)
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
