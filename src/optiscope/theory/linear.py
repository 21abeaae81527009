"""GD, heavy ball and Nesterov on a quadratic as linear iterations, one eigen-direction at a time.

In each eigen-direction (eigenvalue ``lam``) the error obeys ``x_{k+1} = p x_k - q x_{k-1}``; the
characteristic roots ``s^2 - p s + q = 0`` give the rate (``max |s|``), stability
(``max |s| < 1``), oscillation (complex roots) and zig-zag (a negative dominant root).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from optiscope.errors import OptiscopeError

LINEAR_METHODS = ("gd", "heavy_ball", "nesterov")
REPEATED_RTOL = 1e-6  # roots closer than this (relative) count as repeated (critical damping)


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
      (docs/reference.md; the same polynomial as Lessard et al. 2016's form).
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


def root_modulus(p: float, q: float) -> float:
    """The largest modulus of the roots of ``s^2 - p s + q``: ``sqrt(q)`` exactly for complex
    roots (``abs`` of the complex root may round it up to 1 when ``q = 1 - 1e-16``)."""
    s1, s2 = char_roots(p, q)
    return math.sqrt(q) if s1.imag != 0.0 else max(abs(s1), abs(s2))


def direction(setting: LinearSetting, lam: float) -> dict[str, Any]:
    """One eigen-direction's behaviour: roots, rate (max modulus), oscillation, zig-zag.

    ``oscillates``: complex roots, the error rotates with modulus ``sqrt(q)`` per step
    (``sqrt(momentum)`` for heavy ball) and period ``2*pi/arg(s)`` steps; ``zigzag``: the
    dominant root is real and negative (the sign flips every step; for GD iff ``lr*lam > 1``);
    ``repeated``: a double root (critical damping): the error decays like ``k * s^k``.
    """
    p, q, _ = recurrence(setting, lam)
    s1, s2 = char_roots(p, q)
    rate = root_modulus(p, q)
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
