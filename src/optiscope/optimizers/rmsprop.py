"""RMSProp: per-coordinate step sizes from a running mean of squared gradients."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from optiscope.optimizers import _common as c
from optiscope.optimizers.base import HParams, HyperParam, Optimizer


class RMSpropState(NamedTuple):
    square_avg: np.ndarray  # [B, D] running mean of g^2
    grad_avg: np.ndarray  # [B, D] running mean of g (used when centered)
    momentum_buffer: np.ndarray  # [B, D] buffer of normalized steps (g/avg when momentum = 0)
    step: np.ndarray  # [B, 1] updates done


def rmsprop_kernel(
    w, g, square_avg, grad_avg, momentum_buffer, lr, alpha, eps, weight_decay, momentum, centered
):
    """One RMSprop step per coordinate; returns ``(w, square_avg, grad_avg, momentum_buffer)``."""
    g = c.coupled_decay(g, w, weight_decay)
    square_avg = square_avg * alpha + ((1.0 - alpha) * g) * g
    grad_avg = c.lerp(grad_avg, g, 1.0 - alpha)
    avg = np.sqrt(square_avg + (-centered * grad_avg) * grad_avg) + eps
    momentum_buffer = momentum_buffer * momentum + g / avg
    has_momentum = 1.0 * (momentum > 0.0)
    step = has_momentum * ((-lr) * momentum_buffer) + (1.0 - has_momentum) * ((-lr * g) / avg)
    return w + step, square_avg, grad_avg, momentum_buffer


class RMSprop(Optimizer):
    """torch.optim.RMSprop (torch/optim/rmsprop.py, ``_single_tensor_rmsprop``), batched.

    Update rule, per coordinate (v, gbar, buf start at 0; no bias correction)::

        g    <- g + weight_decay * w
        v    <- alpha * v + (1 - alpha) * g^2
        gbar <- gbar + (1 - alpha) * (g - gbar)                      (centered only)
        avg  <- sqrt(v - gbar^2) + eps  if centered else  sqrt(v) + eps
        buf  <- momentum * buf + g / avg;  w <- w - lr * buf         if momentum > 0
        w    <- w - lr * g / avg                                     otherwise

    eps is added OUTSIDE the square root (optax and Keras put it inside). Because v starts at
    0, the first step is lr * sign(g) / sqrt(1 - alpha) (ignoring eps): 10 * lr * sign(g) for
    alpha = 0.99.

    Defaults: lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0, centered=false.
    The seed note's RMSProp, s <- b*s + (1-b)*g^2, w <- w - lr*g/(sqrt(s) + 1e-10), is this
    optimizer with alpha = b and eps = 1e-10.

    References: Tieleman & Hinton, Coursera "Neural Networks for Machine Learning", lecture 6e,
    2012; Graves, "Generating Sequences With Recurrent Neural Networks", arXiv:1308.0850
    (centered form and momentum).
    """

    name = "rmsprop"
    summary = "per-coordinate step lr*g/(sqrt(mean g^2)+eps), optional centering and momentum"
    reference = "torch/optim/rmsprop.py; Tieleman & Hinton 2012 (lecture 6e); Graves 2013"
    hyperparams = (
        c.lr(1e-2),
        HyperParam(
            "alpha",
            0.99,
            "smoothing constant of the running mean of g^2",
            low=0.0,
            high=1.0,
            high_open=True,
        ),
        c.eps(1e-8, "added to sqrt(v) in the denominator"),
        c.weight_decay(),
        c.momentum(0.0, "momentum factor of the buffer of normalized steps"),
        c.flag("centered", False, "divide by the estimated standard deviation sqrt(v - gbar^2)"),
    )
    plot_state = ("square_avg", "grad_avg", "momentum_buffer")
    state_meanings = {
        "square_avg": "running mean of g^2 (v)",
        "grad_avg": "running mean of g (gbar, used when centered)",
        "momentum_buffer": "buffer of normalized steps g/avg",
    }
    kernel = staticmethod(rmsprop_kernel)

    def init(self, params: np.ndarray, hp: HParams) -> RMSpropState:
        z = c.zeros(params)
        return RMSpropState(z, z.copy(), z.copy(), c.step_zero(params))

    def update(
        self, grad: np.ndarray, state: RMSpropState, params: np.ndarray, hp: HParams
    ) -> tuple[np.ndarray, RMSpropState]:
        w, square_avg, grad_avg, buf = self.kernel(
            c.as_float64(params),
            c.as_float64(grad),
            state.square_avg,
            state.grad_avg,
            state.momentum_buffer,
            hp["lr"],
            hp["alpha"],
            hp["eps"],
            hp["weight_decay"],
            hp["momentum"],
            hp["centered"],
        )
        return w, RMSpropState(square_avg, grad_avg, buf, state.step + 1.0)
