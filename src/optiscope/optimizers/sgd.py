"""Stochastic gradient descent with optional (Nesterov) momentum: ``sgd``, ``momentum``, ``nesterov``.

On a deterministic test function the gradient is exact, so ``sgd`` with momentum 0 is plain
gradient descent (the seed note's "SGD"). All three names run torch.optim.SGD's algorithm; they
differ only in their defaults.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from optiscope.errors import OptiscopeError
from optiscope.optimizers import _common as c
from optiscope.optimizers.base import HParams, HyperParam, Optimizer


class SGDState(NamedTuple):
    # [B, D] torch's ``buf`` (equals the gradient when momentum = 0); with momentum_form=seed
    # the seed's velocity v = lr*buf (the step itself, in units of w)
    momentum_buffer: np.ndarray
    step: np.ndarray  # [B, 1] updates done


def sgd_kernel(
    w, g, momentum_buffer, t, lr, momentum, dampening, weight_decay, nesterov, seed_form=0.0
):
    """One SGD step per coordinate; returns ``(w, momentum_buffer)``. ``t`` is the new step count.

    The buffer starts as the gradient itself (no dampening) on the first step, and also
    whenever momentum is 0 (torch keeps no buffer then).

    ``seed_form`` (``momentum_form``: 0.0 torch, 1.0 seed) moves lr inside the buffer: it
    accumulates ``lr*g`` (the seed's velocity) and w moves by the buffer itself. In torch's
    form ``inner`` is exactly 1.0 and ``outer`` exactly lr, so that path is unchanged.
    """
    g = c.coupled_decay(g, w, weight_decay)
    fresh = 1.0 * ((t == 1.0) | (momentum == 0.0))
    keep = 1.0 - fresh
    inner = seed_form * lr + (1.0 - seed_form)  # what g is scaled by inside the buffer
    outer = seed_form + (1.0 - seed_form) * lr  # what the buffer is scaled by in the step
    g = inner * g
    momentum_buffer = (momentum_buffer * momentum) * keep + (fresh + keep * (1.0 - dampening)) * g
    direction = nesterov * (g + momentum * momentum_buffer) + (1.0 - nesterov) * momentum_buffer
    return w + (-outer) * direction, momentum_buffer


MOMENTUM_FORM = HyperParam(
    "momentum_form",
    "torch",
    "torch: buf = mu*buf + g, w -= lr*buf; seed: v = mu*v + lr*g, w -= v (differ under a schedule)",
    kind="choice",
    choices=("torch", "seed"),
)


def _hyperparams(momentum: float, nesterov: bool) -> tuple[HyperParam, ...]:
    return (
        c.lr(1e-3),
        c.momentum(momentum, "momentum factor mu: buf = mu*buf + (1-dampening)*g"),
        HyperParam(
            "dampening",
            0.0,
            "fraction of the gradient held back from the buffer",
            low=0.0,
            high=1.0,
        ),
        c.weight_decay(),
        c.flag("nesterov", nesterov, "Nesterov momentum: step along g + mu*buf instead of buf"),
    )


class SGD(Optimizer):
    """torch.optim.SGD (torch/optim/sgd.py, ``_single_tensor_sgd``), batched.

    Update rule, per coordinate, with g the gradient at w and t = 1, 2, ...::

        g   <- g + weight_decay * w
        buf <- g                                  if t == 1 (or momentum == 0)
        buf <- momentum * buf + (1 - dampening) * g  otherwise
        d   <- g + momentum * buf   if nesterov else buf
        w   <- w - lr * d

    Defaults: lr=1e-3, momentum=0, dampening=0, weight_decay=0, nesterov=false (torch's).
    Nesterov needs momentum > 0 and dampening = 0. With momentum 0 this is gradient descent,
    w <- w - lr * g, the seed note's "SGD".

    ``momentum_form`` (option, default ``torch``) picks where lr enters when it changes from
    step to step (a learning-rate schedule, lr_t the lr of step t)::

        torch: buf <- momentum * buf + (1 - dampening) * g;  w <- w - lr_t * d(buf)
        seed:  v   <- momentum * v + (1 - dampening) * lr_t * g;  w <- w - d(v)
               (v = lr_1 * g on the first step; nesterov: d = lr_t * g + momentum * v)

    With a constant lr the two are the same iteration (v = lr * buf at every step, equal to
    rounding); under a schedule torch rescales the whole accumulated buffer by the current
    lr_t while the seed's v keeps each past gradient at the lr it was taken with, so the
    iterates differ. ``momentum_buffer`` holds buf in torch's form and v in the seed's.

    References: Robbins & Monro, "A Stochastic Approximation Method", 1951; Polyak, "Some
    methods of speeding up the convergence of iteration methods", 1964 (heavy ball);
    Sutskever, Martens, Dahl & Hinton, "On the importance of initialization and momentum in
    deep learning", ICML 2013 (the Nesterov form used by torch).
    """

    name = "sgd"
    summary = "gradient descent, optional heavy-ball or Nesterov momentum (torch.optim.SGD)"
    reference = "torch/optim/sgd.py; Polyak 1964; Sutskever et al. ICML 2013"
    hyperparams = _hyperparams(momentum=0.0, nesterov=False)
    options = (MOMENTUM_FORM,)
    plot_state = ("momentum_buffer",)
    state_meanings = {
        "momentum_buffer": "torch's momentum buffer buf (velocity / lr); momentum_form=seed: "
        "the velocity v itself"
    }
    kernel = staticmethod(sgd_kernel)

    def check_combination(self, hp: HParams) -> None:
        bad = (hp["nesterov"] != 0.0) & ((hp["momentum"] <= 0.0) | (hp["dampening"] != 0.0))
        if bad.any():
            i = np.flatnonzero(bad.ravel())[0]
            mu, damp = hp["momentum"].ravel()[i], hp["dampening"].ravel()[i]
            raise OptiscopeError(
                "invalid nesterov=true: Nesterov momentum requires momentum > 0 and dampening = 0 "
                f"(got momentum={mu:g}, dampening={damp:g})"
            )

    def init(self, params: np.ndarray, hp: HParams) -> SGDState:
        return SGDState(momentum_buffer=c.zeros(params), step=c.step_zero(params))

    def update(
        self, grad: np.ndarray, state: SGDState, params: np.ndarray, hp: HParams
    ) -> tuple[np.ndarray, SGDState]:
        t = state.step + 1.0
        w, buf = self.kernel(
            c.as_float64(params),
            c.as_float64(grad),
            state.momentum_buffer,
            t,
            hp["lr"],
            hp["momentum"],
            hp["dampening"],
            hp["weight_decay"],
            hp["nesterov"],
            hp.get("momentum_form", 0.0),
        )
        return w, SGDState(momentum_buffer=buf, step=t)


class Momentum(SGD):
    """Heavy-ball momentum: torch.optim.SGD with momentum=0.9 by default (lr=1e-3 as in torch).

    torch's rule (dampening 0): buf <- a*buf + g, w <- w - lr*buf.
    The seed note's (and most lectures') rule: v <- a*v + lr*g, w <- w - v.
    They are the same iteration when lr is constant: if v = lr*buf before a step, then
    v_new = a*v + lr*g = lr*(a*buf + g) = lr*buf_new, and both subtract the same amount
    lr*buf_new = v_new from w. It holds from the start: the seed's first v = a*0 + lr*g = lr*g
    and torch's first buf = g, so by induction v = lr*buf at every step. Under a learning-rate schedule they differ: torch
    rescales the whole accumulated buffer by the current lr. The recorded ``momentum_buffer``
    is torch's buf, so the seed's velocity is lr * momentum_buffer. ``momentum_form=seed``
    runs the seed's form instead (``momentum_buffer`` then holds v); see SGD.

    Defaults: lr=1e-3, momentum=0.9, dampening=0, weight_decay=0, nesterov=false.
    References: Polyak 1964; torch/optim/sgd.py.
    """

    name = "momentum"
    summary = "heavy-ball momentum, buf = mu*buf + g, w -= lr*buf (SGD with momentum=0.9)"
    reference = "torch/optim/sgd.py; Polyak 1964"
    hyperparams = _hyperparams(momentum=0.9, nesterov=False)


class Nesterov(SGD):
    """Nesterov momentum: torch.optim.SGD with momentum=0.9, nesterov=true by default.

    buf <- mu*buf + g (buf = g on the first step), w <- w - lr*(g + mu*buf). The iterate is
    the "look-ahead" point of Sutskever et al.'s formulation, so the gradient is taken where
    the plain momentum step would land.

    Defaults: lr=1e-3, momentum=0.9, dampening=0, weight_decay=0, nesterov=true.
    References: Nesterov, "A method for solving the convex programming problem with
    convergence rate O(1/k^2)", 1983; Sutskever et al. ICML 2013; torch/optim/sgd.py.
    """

    name = "nesterov"
    summary = "Nesterov accelerated momentum, w -= lr*(g + mu*buf) (SGD with nesterov=true)"
    reference = "torch/optim/sgd.py; Nesterov 1983; Sutskever et al. ICML 2013"
    hyperparams = _hyperparams(momentum=0.9, nesterov=True)
