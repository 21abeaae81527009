"""Closed-form theory of gradient methods on quadratics and on local quadratic models.

Near a strict local minimizer ``x*`` every smooth function is, to second order, the quadratic
``f(x) ~ f(x*) + 1/2 (x - x*)^T H (x - x*)`` with ``H`` its Hessian there (analytic for the
catalogue, symbolic for typed-in formulas). ``local_model`` builds that model; the rest is the
linear-iteration theory of that quadratic (nothing here runs an optimizer):

- eigenvalues ``mu = lambda_min <= L = lambda_max`` of ``H``, ``kappa = L/mu``, the direction of
  the flat (slow) valley axis relative to the axes;
- GD, heavy-ball momentum and Nesterov momentum are linear iterations. In each eigen-direction
  (eigenvalue ``lam``) the error obeys ``x_{k+1} = p x_k - q x_{k-1}``; the characteristic roots
  ``s^2 - p s + q = 0`` give the rate (``max |s|``), stability (``max |s| < 1``), oscillation
  (complex roots) and, in closed form, the whole error sequence;
- adaptive methods (RMSProp, Adam, Adagrad, Adadelta) are not linear: only notes.

Sources: Polyak 1964, "Some methods of speeding up the convergence of iteration methods",
USSR Comput. Math. Math. Phys. 4(5) (heavy ball, its optimal tuning); Goh 2017, "Why Momentum
Really Works", Distill (eigen-direction analysis, critical damping); Lessard, Recht & Packard
2016, "Analysis and design of optimization algorithms via integral quadratic constraints",
SIAM J. Optim. 26(1) (Nesterov's tuning for quadratics). The iterations are torch.optim.SGD's
(see shared/REFERENCE.md): for a constant lr the seed's momentum form is the same iteration.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from optiscope.errors import OptiscopeError
from optiscope.objectives.base import Objective

LINEAR_METHODS = ("gd", "heavy_ball", "nesterov")
SIGN_DESCENT_MAX = 0.5  # alpha (RMSProp) or beta1 and beta2 (Adam) at or below: sign descent
AXIS_TOL_DEG = 1e-6  # a valley within this many degrees of an axis counts as axis-aligned
REPEATED_RTOL = 1e-6  # roots closer than this (relative) count as repeated (critical damping)
EXACT_STEPS_MAX = 2_000_000  # longer predictions use the envelope alone (an overestimate)
STEPS_MAX = 10**9


# ----------------------------------------------------------------------------- local model
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


def _hessian(objective: Objective, x: np.ndarray) -> np.ndarray:
    with np.errstate(all="ignore"):
        return np.asarray(objective.hessian(x[None]), dtype=np.float64)[0]


def _search_minimizer(objective: Objective, start: np.ndarray) -> np.ndarray:
    """Damped Newton descent from ``start`` (eigenvalue-modified Hessian, Armijo backtracking);
    if it finds no minimizer, classify the critical point a plain Newton search on the gradient
    finds, to say why (saddle, maximum, degenerate)."""
    name = objective.name
    with np.errstate(all="ignore"):
        x = _descend(objective, start)
        if x is not None:
            return x
        c = _critical_point(objective, start)
    if c is None:
        raise OptiscopeError(
            f"{name}: no minimizer found near the start {_fmt_point(start)} (a Newton search "
            "neither reached a point with zero gradient nor stayed bounded)"
        )
    lam = np.linalg.eigvalsh(_hessian(objective, c))
    where, eig = _fmt_point(c), ", ".join(_g(v) for v in lam)
    if not np.isfinite(lam).all():
        raise OptiscopeError(f"{name}: the Hessian at the critical point {where} is not finite")
    # relative to the curvature at the start too: a degenerate point's Hessian tends to 0
    scale = max(float(np.max(np.abs(lam))), float(np.max(np.abs(_hessian(objective, start)))))
    if lam[0] < -1e-8 * scale:
        kind = "a maximum" if lam[-1] < -1e-8 * scale else "a saddle"
        raise OptiscopeError(
            f"{name} has no minimum near the start: its Hessian at the critical point {where} "
            f"has a negative eigenvalue ({_g(lam[0])}): {kind} (eigenvalues {eig})"
        )
    raise OptiscopeError(
        f"{name} has no strict minimum near the start: the Hessian at the critical point {where} "
        f"is singular (eigenvalues {eig}): second-order theory cannot classify it"
    )


def _descend(objective: Objective, x: np.ndarray, iters: int = 200) -> np.ndarray | None:
    """Modified Newton (``|eigenvalues|`` of the Hessian, floored) with Armijo backtracking.

    It runs until no step is accepted (or ``iters``): at a strict minimizer Newton converges
    quadratically to full precision; at a degenerate one only linearly, so the Hessian it ends
    at is clearly singular and the point is rejected.
    """
    f = float(objective.value(x[None])[0])
    g0 = float(np.linalg.norm(objective.grad(x[None])[0]))
    for _ in range(iters):
        g = objective.grad(x[None])[0]
        h = _hessian(objective, x)
        if not (np.isfinite(g).all() and np.isfinite(h).all() and math.isfinite(f)):
            return None
        if not np.any(g):
            break
        lam, vec = np.linalg.eigh(0.5 * (h + h.T))
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
    lam = np.linalg.eigvalsh(_hessian(objective, x))
    ok = np.isfinite(lam).all() and lam[0] > 1e-12 * max(float(np.max(np.abs(lam))), 1e-300)
    return x if ok and np.linalg.norm(g) <= 1e-6 * max(1.0, g0) else None


def _critical_point(objective: Objective, x: np.ndarray, iters: int = 200) -> np.ndarray | None:
    """Newton's method on ``grad = 0`` with backtracking on ``|grad|``: any kind of critical point.

    It runs until no step reduces ``|grad|`` (or ``iters``), so that at a degenerate critical
    point (linear convergence) the Hessian found is clearly singular, not merely small.
    """
    g = objective.grad(x[None])[0]
    g0 = float(np.linalg.norm(g))
    for _ in range(iters):
        norm = float(np.linalg.norm(g))
        if not math.isfinite(norm) or norm == 0.0:
            break
        step = np.linalg.lstsq(_hessian(objective, x), -g, rcond=None)[0]
        t = 1.0
        while t > 1e-12:
            g_new = objective.grad((x + t * step)[None])[0]
            if np.isfinite(g_new).all() and np.linalg.norm(g_new) < norm:
                break
            t *= 0.5
        else:
            break
        x, g = x + t * step, g_new
    ok = np.isfinite(g).all() and np.linalg.norm(g) <= 1e-6 * max(1.0, g0)
    return x if ok else None


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


# ----------------------------------------------------------------------------- closed forms
def gd_optimal(mu: float, L: float) -> dict[str, float]:
    """Gradient descent on a quadratic (Polyak 1964; Goh 2017).

    Each eigen-coordinate is multiplied by ``1 - lr*lam`` per step: stable iff
    ``0 < lr < 2/L``; the best lr ``2/(L + mu)`` balances ``|1 - lr mu| = |1 - lr L|`` and gives
    the rate ``(kappa - 1)/(kappa + 1)``.
    """
    kappa = L / mu
    return {
        "stable_lr_max": 2.0 / L,
        "optimal_lr": 2.0 / (L + mu),
        "rate": (kappa - 1.0) / (kappa + 1.0),
    }


def heavy_ball_optimal(mu: float, L: float) -> dict[str, float]:
    """Polyak's heavy ball, optimally tuned for eigenvalues in ``[mu, L]`` (Polyak 1964).

    ``lr = 4/(sqrt(L) + sqrt(mu))^2``, ``momentum = ((sqrt(kappa) - 1)/(sqrt(kappa) + 1))^2``,
    rate ``sqrt(momentum) = (sqrt(kappa) - 1)/(sqrt(kappa) + 1)``. At this setting both extreme
    eigen-directions are critically damped (repeated roots, Goh 2017): their error decays
    like ``k * rate^k``, a little slower than ``rate^k``.
    """
    sk = math.sqrt(L / mu)
    beta = ((sk - 1.0) / (sk + 1.0)) ** 2
    return {
        "optimal_lr": 4.0 / (math.sqrt(L) + math.sqrt(mu)) ** 2,
        "optimal_momentum": beta,
        "rate": (sk - 1.0) / (sk + 1.0),
        "stable_lr_max": (2.0 + 2.0 * beta) / L,
    }


def nesterov_optimal(mu: float, L: float) -> dict[str, float]:
    """Nesterov momentum tuned for quadratics (Lessard, Recht & Packard 2016).

    ``lr = 4/(3L + mu)``, ``momentum = (sqrt(3 kappa + 1) - 2)/(sqrt(3 kappa + 1) + 2)``, rate
    ``1 - 2/sqrt(3 kappa + 1)``. At this setting the ``mu`` direction is critically damped
    (repeated root equal to the rate). ``tests/test_theory.py`` checks numerically that the
    rate is the largest root modulus of the characteristic polynomial and that no other
    ``(lr, momentum)`` does better.
    """
    r = math.sqrt(3.0 * L / mu + 1.0)
    beta = (r - 2.0) / (r + 2.0)
    return {
        "optimal_lr": 4.0 / (3.0 * L + mu),
        "optimal_momentum": beta,
        "rate": 1.0 - 2.0 / r,
        "stable_lr_max": (2.0 + 2.0 * beta) / ((1.0 + 2.0 * beta) * L),
    }


# ----------------------------------------------------------------------------- linear iterations
@dataclass(frozen=True)
class LinearSetting:
    """A linear method on a quadratic: ``method`` in ``gd``, ``heavy_ball``, ``nesterov``.

    torch.optim.SGD semantics: ``weight_decay`` adds ``wd*w`` to the gradient, so the iteration
    sees ``H + wd*I`` (every eigenvalue shifted by ``wd``, and a fixed point moved towards 0);
    ``dampening`` scales the gradient in the buffer by ``1 - dampening`` from the second step
    on (the first step uses the full gradient), so the asymptotic behaviour is that of
    ``lr * (1 - dampening)``.
    """

    method: str
    lr: float
    momentum: float = 0.0
    dampening: float = 0.0
    weight_decay: float = 0.0

    @property
    def effective_lr(self) -> float:
        return self.lr * (1.0 - self.dampening)


def linear_setting(optimizer: str, params: Mapping[str, Any]) -> LinearSetting | None:
    """Map an optimizer's resolved settings to a LinearSetting (None for adaptive methods).

    ``sgd`` with momentum 0 is GD; ``sgd``/``momentum``/``nesterov`` with momentum > 0 are
    heavy ball (``nesterov`` false) or Nesterov (true).
    """
    if optimizer not in ("sgd", "momentum", "nesterov"):
        return None
    beta = float(params.get("momentum", 0.0))
    method = "gd" if beta == 0.0 else ("nesterov" if params.get("nesterov") else "heavy_ball")
    return LinearSetting(
        method=method,
        lr=float(params["lr"]),
        momentum=beta,
        dampening=float(params.get("dampening", 0.0)) if method == "heavy_ball" else 0.0,
        weight_decay=float(params.get("weight_decay", 0.0)),
    )


def recurrence(setting: LinearSetting, lam: float) -> tuple[float, float, float]:
    """``(p, q, c1)`` of one eigen-direction: ``x_{k+1} = p x_k - q x_{k-1}``, ``x_1 = c1 x_0``.

    ``lam`` is the curvature the iteration sees (Hessian eigenvalue + weight decay); ``x`` the
    error along that eigenvector. With ``h = lr*lam``, ``b = momentum`` (torch.optim.SGD):

    - GD: ``x_{k+1} = (1 - h) x_k``: ``p = 1 - h``, ``q = 0``;
    - heavy ball (buf = b buf + g, w -= lr buf): ``x_{k+1} = (1 + b - h') x_k - b x_{k-1}`` with
      ``h' = h (1 - dampening)``; the first step is a GD step, ``x_1 = (1 - h) x_0``
      (Polyak 1964; Goh 2017);
    - Nesterov (w -= lr (g + b buf), the look-ahead iterate):
      ``x_{k+1} = (1 + b)(1 - h) x_k - b (1 - h) x_{k-1}`` and ``x_1 = (1 - (1 + b) h) x_0``
      (shared/REFERENCE.md; the same polynomial as Lessard et al. 2016's form).
    """
    h, b = setting.lr * lam, setting.momentum
    if setting.method == "gd":
        return 1.0 - h, 0.0, 1.0 - h
    if setting.method == "heavy_ball":
        return 1.0 + b - setting.effective_lr * lam, b, 1.0 - h
    if setting.method == "nesterov":
        return (1.0 + b) * (1.0 - h), b * (1.0 - h), 1.0 - (1.0 + b) * h
    raise OptiscopeError(f"unknown linear method {setting.method!r}; valid: {LINEAR_METHODS}")


def char_roots(p: float, q: float) -> tuple[complex, complex]:
    """The roots of ``s^2 - p s + q = 0``, larger modulus first (stable for real roots)."""
    disc = 0.25 * p * p - q
    if disc < 0.0:
        im = math.sqrt(-disc)
        return complex(0.5 * p, im), complex(0.5 * p, -im)
    big = 0.5 * p + math.copysign(math.sqrt(disc), p)
    small = q / big if big != 0.0 else 0.0
    return complex(big), complex(small)


def direction(setting: LinearSetting, lam: float) -> dict[str, Any]:
    """One eigen-direction's behaviour: roots, rate (max modulus), oscillation, zig-zag.

    ``oscillates``: complex roots, the error rotates with modulus ``sqrt(q)`` per step
    (``sqrt(momentum)`` for heavy ball) and period ``2*pi/arg(s)`` steps; ``zigzag``: the
    dominant root is real and negative (the sign flips every step; for GD iff ``lr*lam > 1``);
    ``repeated``: a double root (critical damping): the error decays like ``k * s^k``.
    """
    p, q, _ = recurrence(setting, lam)
    s1, s2 = char_roots(p, q)
    rate = max(abs(s1), abs(s2))
    repeated = setting.method != "gd" and abs(s1 - s2) <= REPEATED_RTOL * max(rate, 1e-300)
    complex_roots = s1.imag != 0.0 and not repeated
    out: dict[str, Any] = {
        "lam": lam,
        "rate": rate,
        "oscillates": bool(complex_roots),
        "zigzag": bool(not complex_roots and s1.real < 0.0),
        "repeated": bool(repeated),
        "roots": [s1] if setting.method == "gd" else [s1, s2],
    }
    if complex_roots:
        out["period"] = 2.0 * math.pi / abs(math.atan2(s1.imag, s1.real))
    return out


def predicted_rate(setting: LinearSetting, eigenvalues: Sequence[float]) -> float:
    """``max |s|`` over the eigen-directions: the asymptotic factor by which the distance to the
    fixed point shrinks per step (the loss gap shrinks by its square). >= 1: no convergence."""
    wd = setting.weight_decay
    return max(direction(setting, float(lam) + wd)["rate"] for lam in eigenvalues)


def stable_lr_max(setting: LinearSetting, L: float) -> float:
    """The largest stable lr at this momentum (stable iff ``0 < lr < stable_lr_max``):

    GD ``2/L``; heavy ball ``lr (1 - dampening) L < 2 + 2b`` (Polyak 1964; Goh 2017); Nesterov
    ``lr L < (2 + 2b)/(1 + 2b)`` (Jury's test on ``s^2 - (1+b)(1-h) s + b(1-h)``), with
    ``L`` shifted by weight decay. ``inf`` when no lr diverges (dampening 1).
    """
    b, curv = setting.momentum, L + setting.weight_decay
    if setting.method == "gd":
        return 2.0 / curv
    if setting.method == "heavy_ball":
        damp = 1.0 - setting.dampening
        return math.inf if damp == 0.0 else (2.0 + 2.0 * b) / (damp * curv)
    return (2.0 + 2.0 * b) / ((1.0 + 2.0 * b) * curv)


# ----------------------------------------------------------------------------- steps to tol
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
            f"{_g(floor)} or more"
        )
    if any(max(abs(s) for s in char_roots(p, q)) >= 1.0 for p, q, _ in recs):
        return None, "unstable or not contracting: the loss gap does not go to zero"

    def gap(k: np.ndarray, bound: bool) -> np.ndarray:
        x = _errors(recs, e0, k, bound)  # [K, 2]
        shift = np.abs(d) if bound else d
        return np.sum(0.5 * lam * (shift + x) ** 2, axis=-1)

    # the bound is non-increasing from k_mono on; find where it drops below tol
    k_mono = 2
    for p, q, _ in recs:
        s1, s2 = char_roots(p, q)
        r, sep = abs(s1), abs(s1 - s2)
        cap = 2.0 * r / sep if sep > 0.0 else math.inf
        k_mono = max(k_mono, int(math.ceil(min(cap, r / (1.0 - r)))) + 2)
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
    return _steps_to_tol(model, setting, x0, _check_tol(tol))[0]


def _check_tol(tol: float) -> float:
    if not (isinstance(tol, int | float) and math.isfinite(tol) and tol > 0.0):
        raise OptiscopeError(f"invalid tol: {tol!r} (valid: a number > 0)")
    return float(tol)


# ----------------------------------------------------------------------------- report
def theory_report(
    objective: Objective | str,
    specs: Sequence[str] = (),
    start: Sequence[float] | None = None,
    tol: float = 1e-6,
) -> dict[str, Any]:
    """Everything the theory says about ``objective`` and each optimizer spec, JSON-ready.

    Keys: ``function``, ``point``, ``value``, ``source``, ``quadratic``, ``start``, ``tol``,
    ``eigenvalues`` (ascending), ``eigenvectors`` (``eigenvectors[i]`` the unit vector of
    ``eigenvalues[i]``), ``mu``, ``L``, ``kappa``, ``valley_angle_deg``, ``misalignment_deg``,
    ``axis_aligned``, ``best_diagonal_kappa``, ``gd`` {stable_lr_max, optimal_lr, rate},
    ``momentum`` and ``nesterov`` {optimal_lr, optimal_momentum, rate, stable_lr_max},
    ``adaptive_note`` and ``runs``: one dict per spec with ``spec``, ``optimizer``,
    ``params``, ``method`` (gd, heavy_ball, nesterov, adaptive), ``predicted_rate``,
    ``stable``, ``stable_lr_max``, ``oscillates``, ``zigzag``, ``per_direction``,
    ``predicted_steps_to_tol``, ``reason`` (why a value is None), ``notes``; adaptive runs add
    ``sign_descent`` and ``band_half_width``. Bad specs raise OptiscopeError.
    """
    from optiscope.objectives import get_objective
    from optiscope.optimizers import get_optimizer

    resolved = [(spec, *get_optimizer(spec)) for spec in specs]
    tol = _check_tol(tol)
    if isinstance(objective, str):
        objective = get_objective(objective)
    model = local_model(objective, start)
    x0 = model.start
    mu, L = model.mu, model.L
    report: dict[str, Any] = {
        "function": objective.name,
        "point": model.point.tolist(),
        "value": model.value,
        "source": model.source,
        "quadratic": model.quadratic,
        "start": x0.tolist(),
        "tol": tol,
        "eigenvalues": model.eigenvalues.tolist(),
        "eigenvectors": model.eigenvectors.T.tolist(),
        "mu": mu,
        "L": L,
        "kappa": model.kappa,
        "valley_angle_deg": model.valley_angle_deg,
        "misalignment_deg": model.misalignment_deg,
        "axis_aligned": model.axis_aligned,
        "best_diagonal_kappa": _json_float(model.best_diagonal_kappa),
        "gd": gd_optimal(mu, L),
        "momentum": heavy_ball_optimal(mu, L),
        "nesterov": nesterov_optimal(mu, L),
        "adaptive_note": _adaptive_note(model),
        "runs": [],
    }
    for spec, optimizer, params in resolved:
        report["runs"].append(_run_report(model, spec, optimizer.name, params, x0, tol))
    return report


def _run_report(
    model: LocalQuadratic, spec: str, name: str, params: Mapping[str, Any], x0, tol: float
) -> dict[str, Any]:
    run: dict[str, Any] = {
        "spec": spec,
        "optimizer": name,
        "params": {k: (v if isinstance(v, bool) else float(v)) for k, v in params.items()},
    }
    setting = linear_setting(name, params)
    if setting is None:
        return run | _adaptive_run(model, name, params)
    wd = setting.weight_decay
    dirs = [direction(setting, float(lam) + wd) for lam in model.eigenvalues]
    rate = max(d["rate"] for d in dirs)
    stable = rate < 1.0
    notes: list[str] = []
    if not model.quadratic:
        notes.append(
            "local quadratic model: the prediction holds once the run is near the minimizer"
        )
    if setting.method == "heavy_ball" and setting.dampening > 0.0:
        notes.append(
            f"dampening {_g(setting.dampening)}: from the second step the gradient enters the "
            f"buffer with weight {_g(1 - setting.dampening)}, so the rate is that of lr "
            f"{_g(setting.effective_lr)}"
        )
    if wd > 0.0:
        notes.append(
            f"weight decay {_g(wd)}: the iteration sees H + {_g(wd)}*I (every eigenvalue + {_g(wd)})"
            + ("" if not np.any(model.point) else "; its fixed point is pulled towards 0")
        )
    if any(d["repeated"] for d in dirs):
        notes.append(
            "repeated root (critical damping) in some direction: the error there decays like "
            "k*rate^k, slower than rate^k by the factor k"
        )
    steps, how = _steps_to_tol(model, setting, x0, tol) if stable else (None, "")
    if not stable:
        reason = "unstable: the largest root modulus is >= 1, so the error grows (or stalls)"
    elif steps is None:
        reason = how
    else:
        reason = None
        if how != "exact":
            notes.append(f"steps to tol: {how}")
    lr_max = stable_lr_max(setting, model.L)
    return run | {
        "method": setting.method,
        "effective_lr": setting.effective_lr,
        "momentum": setting.momentum,
        "predicted_rate": rate,
        "stable": stable,
        "stable_lr_max": _json_float(lr_max),
        "oscillates": any(d["oscillates"] for d in dirs),
        "zigzag": any(d["zigzag"] for d in dirs),
        "per_direction": [
            _direction_json(d, lam, v, setting.method)
            for d, lam, v in zip(dirs, model.eigenvalues, model.eigenvectors.T, strict=True)
        ],
        "predicted_steps_to_tol": steps,
        "reason": reason,
        "notes": notes,
    }


def _direction_json(d: dict[str, Any], lam: float, v: np.ndarray, method: str) -> dict[str, Any]:
    out: dict[str, Any] = {
        "eigenvalue": float(lam),
        "direction": v.tolist(),
        "rate": d["rate"],
        "oscillates": d["oscillates"],
        "zigzag": d["zigzag"],
        "repeated": d["repeated"],
    }
    if method == "gd":
        out["factor"] = d["roots"][0].real
    else:
        out["roots"] = [[s.real, s.imag] for s in d["roots"]]
        out["root_moduli"] = [abs(s) for s in d["roots"]]
    if "period" in d:
        out["period"] = d["period"]
    return out


def _adaptive_note(model: LocalQuadratic) -> str:
    diag = _g(model.best_diagonal_kappa)
    if model.valley_angle_deg is None:
        return "round bowl (kappa = 1): nothing for a per-coordinate step size to fix"
    if model.axis_aligned:
        return (
            f"the valley is axis-aligned (flat axis at {_g(model.valley_angle_deg)} deg): "
            "per-coordinate step sizes (RMSProp, Adam, Adagrad) can remove its anisotropy "
            f"(kappa {_g(model.kappa)} -> {diag} after the best diagonal scaling)"
        )
    return (
        f"the valley is rotated: flat axis at {_g(model.valley_angle_deg)} deg from w1, "
        f"{_g(model.misalignment_deg)} deg from the nearest axis; per-coordinate step sizes "
        "(diagonal preconditioners: RMSProp, Adam, Adagrad) remove axis-aligned anisotropy "
        f"only: the best diagonal scaling leaves kappa {diag} of {_g(model.kappa)}"
    )


def _adaptive_run(model: LocalQuadratic, name: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """Notes for a per-coordinate adaptive method: no linear rate, but two robust facts.

    Sign descent: with ``v ~ g^2`` (RMSProp ``alpha <= 0.5``; Adam ``beta1, beta2 <= 0.5``,
    ``SIGN_DESCENT_MAX``) the step is about ``lr*sign(g)`` from the start. End state: a
    normalized step does not shrink with the gradient, so RMSProp (non-centered, no momentum,
    ``eps`` much smaller than the gradient at the band) ends in a 2-cycle at ``+-lr/2`` per
    coordinate around the minimizer (step ``lr`` across), for any alpha: where the effective
    step ``lr/sqrt(v)`` reaches the edge of stability (shared/REFERENCE.md; the seed's RMSProp
    alpha = 0.1, lr = 0.1 ends at ``+-0.05``). In a rotated narrow valley it may first crawl a
    long time along the valley.
    """
    lr = float(params["lr"])
    notes = [_adaptive_note(model)]
    sign = False
    band = None
    if name == "rmsprop":
        plain = not params.get("centered") and float(params.get("momentum", 0.0)) == 0.0
        sign = plain and float(params["alpha"]) <= SIGN_DESCENT_MAX
        if plain and float(params["eps"]) < 0.01 * model.mu * lr / 2.0:
            band = lr / 2.0
            notes.append(
                f"constant lr: the normalized step lr*g/sqrt(v) does not shrink with g, so in the "
                f"long run (once v has forgotten the large early gradients) it settles into a "
                f"2-cycle at about +-{_g(band)} (lr/2) per coordinate, a band about lr = {_g(lr)} "
                f"wide, whatever alpha"
            )
        if plain:
            first = lr / math.sqrt(1.0 - float(params["alpha"]))
            notes.append(
                f"its first step is lr*g/sqrt((1-alpha)*g^2) = lr/sqrt(1-alpha) = {_g(first)} "
                f"per coordinate, whatever the gradient's size"
            )
    elif name in ("adam", "adamw"):
        b1, b2 = float(params["beta1"]), float(params["beta2"])
        sign = b1 <= SIGN_DESCENT_MAX and b2 <= SIGN_DESCENT_MAX
        if sign and b1 == 0.0:
            band = lr / 2.0
    elif name == "adagrad":
        notes.append(
            "Adagrad's step lr*g/sqrt(sum g^2) only shrinks (its first step is lr*sign(g)); "
            "the final per-coordinate scaling depends on the path"
        )
    elif name == "adadelta":
        first = float(params["lr"]) * math.sqrt(float(params["eps"]) / (1.0 - float(params["rho"])))
        notes.append(
            f"Adadelta's first step is about lr*sqrt(eps/(1-rho)) = {_g(first)} per coordinate "
            "(its update accumulator starts at 0), then grows"
        )
    if sign:
        notes.append(
            f"sign-descent regime ({'alpha' if name == 'rmsprop' else 'beta1 and beta2'} <= "
            f"{_g(SIGN_DESCENT_MAX)}): v follows g^2, so each step is about lr*sign(g) = "
            f"{_g(lr)} per coordinate; a fixed lr cannot converge: the run ends oscillating in "
            f"a band about lr wide"
        )
    return {
        "method": "adaptive",
        "predicted_rate": None,
        "stable": None,
        "stable_lr_max": None,
        "oscillates": None,
        "zigzag": None,
        "per_direction": [],
        "predicted_steps_to_tol": None,
        "reason": f"{name} adapts its per-coordinate step sizes every step: no linear rate",
        "sign_descent": sign,
        "band_half_width": band,
        "notes": notes,
    }


def theory_text(report: Mapping[str, Any]) -> list[str]:
    """Plain lines for the terminal, every number taken from ``report``."""
    g = _g
    lines = [
        f"{report['function']}: local quadratic model at {_fmt_point(report['point'])} "
        f"({report['source']}; {'exact: the function is quadratic' if report['quadratic'] else 'valid near that point'})",
        f"Hessian eigenvalues mu = {g(report['mu'])}, L = {g(report['L'])}; "
        f"condition number kappa = {g(report['kappa'])}",
    ]
    angle = report["valley_angle_deg"]
    if angle is None:
        lines.append("round bowl: no valley direction")
    else:
        aligned = (
            "axis-aligned"
            if report["axis_aligned"]
            else (f"{g(report['misalignment_deg'])} deg from the nearest axis")
        )
        lines.append(f"flat valley axis at {g(angle)} deg from the w1 axis ({aligned})")
    gd, hb, ng = report["gd"], report["momentum"], report["nesterov"]
    lines += [
        f"GD: stable for lr < {g(gd['stable_lr_max'])} (2/L); best lr {g(gd['optimal_lr'])} "
        f"(2/(L+mu)) gives rate {g(gd['rate'])} per step ((kappa-1)/(kappa+1))",
        f"heavy ball: best lr {g(hb['optimal_lr'])}, momentum {g(hb['optimal_momentum'])} "
        f"give rate {g(hb['rate'])} ((sqrt(kappa)-1)/(sqrt(kappa)+1); critically damped, "
        "error ~ k*rate^k); stable iff lr*lambda < 2 + 2*momentum",
        f"Nesterov: tuned lr {g(ng['optimal_lr'])}, momentum {g(ng['optimal_momentum'])} "
        f"give rate {g(ng['rate'])} (1 - 2/sqrt(3*kappa+1)); stable iff "
        "lr*lambda < (2 + 2*momentum)/(1 + 2*momentum)",
        f"adaptive methods: {report['adaptive_note']}",
    ]
    for run in report["runs"]:
        lines.append(_run_text(run, report["tol"]))
        lines += [f"  note: {n}" for n in run["notes"] if n != report["adaptive_note"]]
    return lines


def _run_text(run: Mapping[str, Any], tol: float) -> str:
    g = _g
    head = f"{run['spec']} -> {run['method'].replace('_', ' ')}"
    if run["method"] == "adaptive":
        return f"{head}: {run['reason']}"
    lr_max = run["stable_lr_max"]
    bound = "" if lr_max is None else f" (stability limit lr < {g(lr_max)})"
    if not run["stable"]:
        return f"{head}: UNSTABLE{bound}: largest root modulus {g(run['predicted_rate'])} >= 1"
    parts = [f"{head}: stable{bound}, rate {g(run['predicted_rate'])} per step"]
    for d in run["per_direction"]:
        where = f"along lambda = {g(d['eigenvalue'])}"
        if d["oscillates"]:
            parts.append(
                f"oscillates {where} (complex roots, |s| = {g(d['rate'])}, period "
                f"{g(d['period'])} steps)"
            )
        elif d["zigzag"]:
            parts.append(f"zig-zags {where} (factor {g(-d['rate'])})")
        if d["repeated"]:
            parts.append(f"critically damped {where}")
    steps = run["predicted_steps_to_tol"]
    parts.append(
        f"loss gap <= {g(tol)} after {steps} steps" if steps is not None else str(run["reason"])
    )
    return "; ".join(parts)


def _json_float(v: float) -> float | None:
    return float(v) if math.isfinite(v) else None


def _g(v: float) -> str:
    return f"{float(v):.4g}"


def _fmt_point(p: Sequence[float] | np.ndarray) -> str:
    return "(" + ", ".join(_g(v) for v in p) + ")"
