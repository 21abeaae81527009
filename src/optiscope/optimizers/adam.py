"""Adam and AdamW: momentum on g plus RMSProp-style scaling, both bias-corrected.

Hyperparameter specs are ``key=value``, so torch's ``betas=(beta1, beta2)`` is spelled
``beta1=...,beta2=...`` here: ``adam:beta1=0.8,beta2=0.99`` is
``torch.optim.Adam(params, betas=(0.8, 0.99))``.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from optiscope.optimizers import _common as c
from optiscope.optimizers.base import HParams, HyperParam, Optimizer


class AdamState(NamedTuple):
    exp_avg: np.ndarray  # [B, D] first moment m (running mean of g)
    exp_avg_sq: np.ndarray  # [B, D] second moment v (running mean of g^2)
    max_exp_avg_sq: np.ndarray  # [B, D] running max of v (used when amsgrad)
    step: np.ndarray  # [B, 1] updates done


def adam_kernel(
    w,
    g,
    exp_avg,
    exp_avg_sq,
    max_exp_avg_sq,
    t,
    lr,
    beta1,
    beta2,
    eps,
    weight_decay,
    amsgrad,
    decoupled,
):
    """One Adam (``decoupled`` = 0) or AdamW (``decoupled`` = 1) step per coordinate.

    ``t`` is the new step count. Returns ``(w, exp_avg, exp_avg_sq, max_exp_avg_sq)``.
    """
    w = w * (1.0 - lr * weight_decay * decoupled)
    g = c.coupled_decay(g, w, weight_decay * (1.0 - decoupled))
    exp_avg = c.lerp(exp_avg, g, 1.0 - beta1)
    exp_avg_sq = exp_avg_sq * beta2 + ((1.0 - beta2) * g) * g
    max_exp_avg_sq = np.maximum(max_exp_avg_sq, exp_avg_sq)
    v = amsgrad * max_exp_avg_sq + (1.0 - amsgrad) * exp_avg_sq
    step_size = lr / (1.0 - beta1**t)
    denom = np.sqrt(v) / np.sqrt(1.0 - beta2**t) + eps
    return w + (-step_size * exp_avg) / denom, exp_avg, exp_avg_sq, max_exp_avg_sq


def _hyperparams(weight_decay: HyperParam) -> tuple[HyperParam, ...]:
    def beta(name: str, default: float, index: int, what: str) -> HyperParam:
        meaning = f"decay rate of the running mean of {what} (torch betas[{index}])"
        return HyperParam(name, default, meaning, low=0.0, high=1.0, high_open=True)

    return (
        c.lr(1e-3),
        beta("beta1", 0.9, 0, "g"),
        beta("beta2", 0.999, 1, "g^2"),
        c.eps(1e-8, "added to the bias-corrected sqrt(v) in the denominator"),
        weight_decay,
        c.flag("amsgrad", False, "divide by the running maximum of v (AMSGrad)"),
    )


class Adam(Optimizer):
    """torch.optim.Adam (torch/optim/adam.py, ``_single_tensor_adam``), batched.

    Update rule, per coordinate, t = 1, 2, ... (m, v, vmax start at 0)::

        g    <- g + weight_decay * w
        m    <- m + (1 - beta1) * (g - m)          (torch: exp_avg.lerp_(g, 1 - beta1))
        v    <- beta2 * v + (1 - beta2) * g^2
        vmax <- max(vmax, v)                       (amsgrad; the UNcorrected v, unlike optax)
        denom = sqrt(vmax if amsgrad else v) / sqrt(1 - beta2^t) + eps
        w    <- w - lr / (1 - beta1^t) * m / denom

    Defaults: lr=1e-3, beta1=0.9, beta2=0.999 (torch betas=(0.9, 0.999)), eps=1e-8,
    weight_decay=0, amsgrad=false. eps is added after the bias correction of sqrt(v) (the
    paper's form; Keras adds its eps before correcting).

    AMSGrad follows torch: the max is taken over the uncorrected v, and the bias correction
    is applied to the max, ``denom = sqrt(vmax) / sqrt(1 - beta2^t) + eps``. optax's
    ``scale_by_amsgrad`` (optax/_src/transform.py) takes the max of the corrected v instead,
    ``nu_max <- max(nu_max, v / (1 - beta2^t))`` and ``denom = sqrt(nu_max + eps_root) + eps``
    (its default ``bias_correction_nu=True``; with False it takes the max of the uncorrected
    v and divides by it uncorrected). Since 1 - beta2^s <= 1 - beta2^t for s <= t, optax's
    denominator is never smaller than torch's: equal at step 1 (both |g_1| + eps) and while
    the corrected v stands at its running max, larger once it has fallen from an earlier max.
    The gap outlives the bias correction, because optax's max keeps early corrected values
    (g_1^2 at step 1) that torch's max of the uncorrected v ((1 - beta2) g_1^2) never held.
    tests/test_optimizers_torch.py shows the two rules apart.

    References: Kingma & Ba, "Adam: A Method for Stochastic Optimization", ICLR 2015,
    arXiv:1412.6980; Reddi, Kale & Kumar, "On the Convergence of Adam and Beyond", ICLR 2018
    (AMSGrad).
    """

    name = "adam"
    summary = "momentum + per-coordinate scaling by sqrt(mean g^2), bias-corrected"
    reference = "torch/optim/adam.py; Kingma & Ba 2015 (arXiv:1412.6980); Reddi et al. 2018"
    hyperparams = _hyperparams(c.weight_decay(0.0))
    plot_state = ("exp_avg", "exp_avg_sq", "max_exp_avg_sq")
    state_meanings = {
        "exp_avg": "first moment m, running mean of g",
        "exp_avg_sq": "second moment v, running mean of g^2",
        "max_exp_avg_sq": "running max of v (used when amsgrad)",
    }
    kernel = staticmethod(adam_kernel)
    decoupled: float = 0.0

    def init(self, params: np.ndarray, hp: HParams) -> AdamState:
        z = c.zeros(params)
        return AdamState(z, z.copy(), z.copy(), c.step_zero(params))

    def update(
        self, grad: np.ndarray, state: AdamState, params: np.ndarray, hp: HParams
    ) -> tuple[np.ndarray, AdamState]:
        t = state.step + 1.0
        w, m, v, vmax = self.kernel(
            c.as_float64(params),
            c.as_float64(grad),
            state.exp_avg,
            state.exp_avg_sq,
            state.max_exp_avg_sq,
            t,
            hp["lr"],
            hp["beta1"],
            hp["beta2"],
            hp["eps"],
            hp["weight_decay"],
            hp["amsgrad"],
            self.decoupled,
        )
        return w, AdamState(m, v, vmax, t)


class AdamW(Adam):
    """torch.optim.AdamW (torch/optim/adamw.py: Adam with ``decoupled_weight_decay=True``).

    Adam whose weight decay shrinks the weights directly instead of entering the gradient
    (and so the moments)::

        w <- w * (1 - lr * weight_decay)
        then Adam's rule above with weight_decay = 0

    Defaults: lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=1e-2, amsgrad=false.

    Reference: Loshchilov & Hutter, "Decoupled Weight Decay Regularization", ICLR 2019,
    arXiv:1711.05101.
    """

    name = "adamw"
    summary = "Adam with decoupled weight decay, w *= 1 - lr*weight_decay each step"
    reference = "torch/optim/adamw.py; Loshchilov & Hutter 2019 (arXiv:1711.05101)"
    hyperparams = _hyperparams(c.weight_decay(1e-2, decoupled=True))
    decoupled = 1.0
