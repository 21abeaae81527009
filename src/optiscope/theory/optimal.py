"""Closed-form best tunings of GD, heavy ball and Nesterov for eigenvalues in ``[mu, L]``.

Rates and momenta are >= 0 in exact arithmetic; at ``kappa = 1`` rounding could make them a
few ulps negative (``-5.6e-17``), so they are clamped at 0 (``_nonneg``).
"""

from __future__ import annotations

import math


def _nonneg(v: float) -> float:
    return max(v, 0.0)


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
        "rate": _nonneg((kappa - 1.0) / (kappa + 1.0)),
    }


def heavy_ball_optimal(mu: float, L: float) -> dict[str, float]:
    """Polyak's heavy ball, optimally tuned for eigenvalues in ``[mu, L]`` (Polyak 1964).

    ``lr = 4/(sqrt(L) + sqrt(mu))^2``, ``momentum = ((sqrt(kappa) - 1)/(sqrt(kappa) + 1))^2``,
    rate ``sqrt(momentum) = (sqrt(kappa) - 1)/(sqrt(kappa) + 1)``. At this setting both extreme
    eigen-directions are critically damped (repeated roots, Goh 2017): their error decays
    like ``k * rate^k``, a little slower than ``rate^k``.
    """
    sk = math.sqrt(L / mu)
    beta = _nonneg(((sk - 1.0) / (sk + 1.0)) ** 2)
    return {
        "optimal_lr": 4.0 / (math.sqrt(L) + math.sqrt(mu)) ** 2,
        "optimal_momentum": beta,
        "rate": _nonneg((sk - 1.0) / (sk + 1.0)),
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
    beta = _nonneg((r - 2.0) / (r + 2.0))
    return {
        "optimal_lr": 4.0 / (3.0 * L + mu),
        "optimal_momentum": beta,
        "rate": _nonneg(1.0 - 2.0 / r),
        "stable_lr_max": (2.0 + 2.0 * beta) / ((1.0 + 2.0 * beta) * L),
    }
