"""Adagrad: per-coordinate step sizes from the SUM of all past squared gradients."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from optiscope.optimizers import _common as c
from optiscope.optimizers.base import HParams, HyperParam, Optimizer


class AdagradState(NamedTuple):
    sum: np.ndarray  # [B, D] accumulated g^2 (plus the initial value)
    step: np.ndarray  # [B, 1] updates done


def adagrad_kernel(w, g, state_sum, t, lr, lr_decay, weight_decay, eps):
    """One Adagrad step per coordinate; ``t`` is the new step count. Returns ``(w, sum)``."""
    g = c.coupled_decay(g, w, weight_decay)
    clr = lr / (1.0 + (t - 1.0) * lr_decay)
    state_sum = state_sum + g * g
    std = np.sqrt(state_sum) + eps
    return w + (-clr * g) / std, state_sum


class Adagrad(Optimizer):
    """torch.optim.Adagrad (torch/optim/adagrad.py, ``_single_tensor_adagrad``), batched.

    Update rule, per coordinate, t = 1, 2, ... (sum starts at initial_accumulator_value)::

        g   <- g + weight_decay * w
        clr = lr / (1 + (t - 1) * lr_decay)
        sum <- sum + g^2
        w   <- w - clr * g / (sqrt(sum) + eps)

    The effective step only shrinks: on a smooth function Adagrad slows down for good once it
    has seen large gradients.

    Defaults: lr=1e-2, lr_decay=0, weight_decay=0, initial_accumulator_value=0, eps=1e-10
    (optax uses 0.1 and 1e-7 inside the root).

    Reference: Duchi, Hazan & Singer, "Adaptive Subgradient Methods for Online Learning and
    Stochastic Optimization", JMLR 12, 2011.
    """

    name = "adagrad"
    summary = "per-coordinate step lr*g/(sqrt(sum of all g^2)+eps); steps only shrink"
    reference = "torch/optim/adagrad.py; Duchi, Hazan & Singer, JMLR 2011"
    hyperparams = (
        c.lr(1e-2),
        HyperParam("lr_decay", 0.0, "lr is divided by 1 + (t-1)*lr_decay at step t", low=0.0),
        c.weight_decay(),
        HyperParam("initial_accumulator_value", 0.0, "starting value of the sum of g^2", low=0.0),
        c.eps(1e-10, "added to sqrt(sum) in the denominator"),
    )
    plot_state = ("sum",)
    state_meanings = {"sum": "accumulated sum of g^2"}
    kernel = staticmethod(adagrad_kernel)

    def init(self, params: np.ndarray, hp: HParams) -> AdagradState:
        return AdagradState(
            sum=c.zeros(params) + hp["initial_accumulator_value"], step=c.step_zero(params)
        )

    def update(
        self, grad: np.ndarray, state: AdagradState, params: np.ndarray, hp: HParams
    ) -> tuple[np.ndarray, AdagradState]:
        t = state.step + 1.0
        w, state_sum = self.kernel(
            c.as_float64(params),
            c.as_float64(grad),
            state.sum,
            t,
            hp["lr"],
            hp["lr_decay"],
            hp["weight_decay"],
            hp["eps"],
        )
        return w, AdagradState(sum=state_sum, step=t)
