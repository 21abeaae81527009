"""Adadelta: steps scaled by the ratio of running RMS of past updates to RMS of gradients."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from optiscope.optimizers import _common as c
from optiscope.optimizers.base import HParams, HyperParam, Optimizer


class AdadeltaState(NamedTuple):
    square_avg: np.ndarray  # [B, D] running mean of g^2
    acc_delta: np.ndarray  # [B, D] running mean of squared updates
    step: np.ndarray  # [B, 1] updates done


def adadelta_kernel(w, g, square_avg, acc_delta, lr, rho, eps, weight_decay):
    """One Adadelta step per coordinate; returns ``(w, square_avg, acc_delta)``."""
    g = c.coupled_decay(g, w, weight_decay)
    square_avg = square_avg * rho + ((1.0 - rho) * g) * g
    std = np.sqrt(square_avg + eps)
    delta = np.sqrt(acc_delta + eps) / std * g
    acc_delta = acc_delta * rho + ((1.0 - rho) * delta) * delta
    return w + (-lr) * delta, square_avg, acc_delta


class Adadelta(Optimizer):
    """torch.optim.Adadelta (torch/optim/adadelta.py, ``_single_tensor_adadelta``), batched.

    Update rule, per coordinate (v and u start at 0)::

        g     <- g + weight_decay * w
        v     <- rho * v + (1 - rho) * g^2
        delta = sqrt(u + eps) / sqrt(v + eps) * g
        u     <- rho * u + (1 - rho) * delta^2
        w     <- w - lr * delta

    eps sits inside both roots; with u = 0 at the start the first steps are about
    sqrt(eps / (1 - rho)) in size, so Adadelta starts very slowly from eps alone.

    Defaults: lr=1.0, rho=0.9, eps=1e-6, weight_decay=0 (torch's; lr multiplies delta and is
    not in the paper).

    Reference: Zeiler, "ADADELTA: An Adaptive Learning Rate Method", arXiv:1212.5701, 2012.
    """

    name = "adadelta"
    summary = "step = RMS(past updates)/RMS(gradients) * g; unit-free, starts from eps"
    reference = "torch/optim/adadelta.py; Zeiler 2012 (arXiv:1212.5701)"
    hyperparams = (
        c.lr(1.0),
        HyperParam(
            "rho", 0.9, "decay rate of the running means of g^2 and delta^2", low=0.0, high=1.0
        ),
        c.eps(1e-6, "added inside both square roots"),
        c.weight_decay(),
    )
    plot_state = ("square_avg", "acc_delta")
    state_meanings = {
        "square_avg": "running mean of g^2 (v)",
        "acc_delta": "running mean of squared updates (u)",
    }
    kernel = staticmethod(adadelta_kernel)

    def init(self, params: np.ndarray, hp: HParams) -> AdadeltaState:
        z = c.zeros(params)
        return AdadeltaState(z, z.copy(), c.step_zero(params))

    def update(
        self, grad: np.ndarray, state: AdadeltaState, params: np.ndarray, hp: HParams
    ) -> tuple[np.ndarray, AdadeltaState]:
        w, square_avg, acc_delta = self.kernel(
            c.as_float64(params),
            c.as_float64(grad),
            state.square_avg,
            state.acc_delta,
            hp["lr"],
            hp["rho"],
            hp["eps"],
            hp["weight_decay"],
        )
        return w, AdadeltaState(square_avg, acc_delta, state.step + 1.0)
