"""The seed note's way of optimizing, written out for the sweep benchmark.

The note keeps the two weights as Python floats, one optimizer object per run with its state
in attributes, an ``update(w1, w2, grad_w1, grad_w2)`` method, per-coordinate gradient
functions, and a loop that appends every point to a path list. Its heavy ball is
``v = alpha*v + lr*g; w -= v``. The note has no Adam; ``AdamOptimizer`` follows the same
pattern with torch's Adam rule (bias-corrected moments, eps after the corrected square root),
using ``math.sqrt`` (faster on a float than NumPy's scalar ``sqrt``, so the loop is not
handicapped).
"""

from __future__ import annotations

import math


class MomentumOptimizer:
    """Heavy ball in the note's form: ``v <- alpha*v + lr*g``, ``w <- w - v`` per coordinate."""

    def __init__(self, learning_rate: float, alpha: float = 0.9) -> None:
        self.learning_rate = learning_rate
        self.alpha = alpha
        self.v_w1 = 0.0
        self.v_w2 = 0.0

    def update(self, w1: float, w2: float, grad_w1: float, grad_w2: float) -> tuple[float, float]:
        self.v_w1 = self.alpha * self.v_w1 + self.learning_rate * grad_w1
        self.v_w2 = self.alpha * self.v_w2 + self.learning_rate * grad_w2
        return w1 - self.v_w1, w2 - self.v_w2


class AdamOptimizer:
    """Adam in the note's style, torch's rule: with t = 1, 2, ... and m, s starting at 0::

    m <- beta1*m + (1 - beta1)*g;   s <- beta2*s + (1 - beta2)*g^2
    w <- w - lr/(1 - beta1^t) * m / (sqrt(s)/sqrt(1 - beta2^t) + eps)
    """

    def __init__(
        self, learning_rate: float, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8
    ) -> None:
        self.learning_rate = learning_rate
        self.beta1 = beta1
        self.beta2 = beta2
        self.eps = eps
        self.t = 0
        self.m_w1 = self.m_w2 = 0.0
        self.s_w1 = self.s_w2 = 0.0

    def update(self, w1: float, w2: float, grad_w1: float, grad_w2: float) -> tuple[float, float]:
        self.t += 1
        b1, b2 = self.beta1, self.beta2
        self.m_w1 = b1 * self.m_w1 + (1 - b1) * grad_w1
        self.m_w2 = b1 * self.m_w2 + (1 - b1) * grad_w2
        self.s_w1 = b2 * self.s_w1 + (1 - b2) * grad_w1 * grad_w1
        self.s_w2 = b2 * self.s_w2 + (1 - b2) * grad_w2 * grad_w2
        step_size = self.learning_rate / (1 - b1**self.t)
        root_correction = math.sqrt(1 - b2**self.t)
        w1 -= step_size * self.m_w1 / (math.sqrt(self.s_w1) / root_correction + self.eps)
        w2 -= step_size * self.m_w2 / (math.sqrt(self.s_w2) / root_correction + self.eps)
        return w1, w2


def aniso_gradient(w1: float, w2: float) -> tuple[float, float]:
    """Gradient of the note's ``w1^2 + 8*w2^2``: ``(2*w1, 2*8*w2)``."""
    return 2 * w1, 2 * 8 * w2


def rosenbrock_gradient(w1: float, w2: float) -> tuple[float, float]:
    """Gradient of ``(1 - w1)^2 + 100*(w2 - w1^2)^2``."""
    r = w2 - w1 * w1
    return -2.0 * (1.0 - w1) - 400.0 * w1 * r, 200.0 * r


GRADIENTS = {"aniso": aniso_gradient, "rosenbrock": rosenbrock_gradient}


def make_optimizer(kind: str, lr: float, second: float):
    """The note-style optimizer: ``momentum`` (second = alpha) or ``adam`` (second = beta1)."""
    if kind == "momentum":
        return MomentumOptimizer(lr, alpha=second)
    return AdamOptimizer(lr, beta1=second)


def note_loop(kind: str, function: str, lr: float, second: float, start, steps: int):
    """One trajectory the note's way (path recorded as the note does); returns the last point."""
    optimizer = make_optimizer(kind, lr, second)
    gradient = GRADIENTS[function]
    w1, w2 = start
    path = [(w1, w2)]
    for _ in range(steps):
        grad_w1, grad_w2 = gradient(w1, w2)
        w1, w2 = optimizer.update(w1, w2, grad_w1, grad_w2)
        path.append((w1, w2))
    return path[-1]
