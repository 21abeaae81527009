"""FTRL-Proximal (McMahan et al. 2013) in the Keras form: ``ftrl``."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from optiscope.optimizers import _common as c
from optiscope.optimizers.base import HParams, HyperParam, Optimizer


class FtrlState(NamedTuple):
    accumulator: np.ndarray  # [B, D] n: initial_accumulator_value + sum of g^2
    linear: np.ndarray  # [B, D] z: sum of (shrunk) gradients minus sigma*w corrections
    step: np.ndarray  # [B, 1] updates done


def ftrl_kernel(w, g, accumulator, linear, lr, lr_power, l1, l2, l2_shrinkage, beta):
    """One FTRL-Proximal step per coordinate (Keras's ``update_step``, operation for operation).

    Returns ``(w, accumulator, linear)``. Only arithmetic, ``np.sqrt``/``np.power`` and
    ``np.minimum``/``np.maximum`` (the clip), so it broadcasts over ``[B, D]`` and compiles
    under Numba. Where ``|linear| <= l1`` the clip returns ``linear`` itself, so ``w`` is
    exactly 0.
    """
    grad_to_use = g + (2.0 * l2_shrinkage) * w
    new_accum = accumulator + g * g
    power = -lr_power
    new_root = power_of(new_accum, power)
    sigma = (new_root - power_of(accumulator, power)) / lr
    linear = linear + (grad_to_use - sigma * w)
    quadratic = new_root / lr + 2.0 * (l2 + beta / (2.0 * lr))
    clipped = np.minimum(np.maximum(linear, -l1), l1)
    return (clipped - linear) / quadratic, new_accum, linear


def power_of(x, power):
    """``x ** power`` with the same bits whatever the batch size.

    NumPy's ``np.power`` gives ``sqrt(x)`` for a 0.5 exponent (and ``x*x`` for 2) on small
    arrays but a vectorized ``pow`` on long ones, 1 ulp apart in ~5% of cases: a batch would
    not equal its rows run alone. Those two exponents are therefore computed explicitly
    (selected arithmetically, like the boolean options); every other one is consistent.
    """
    half = 1.0 * (power == 0.5)
    two = 1.0 * (power == 2.0)
    rest = 1.0 - half - two
    return half * np.sqrt(x) + two * (x * x) + rest * np.power(x, power)


class Ftrl(Optimizer):
    """FTRL-Proximal, "Follow The (Proximally) Regularized Leader", as keras.optimizers.Ftrl
    (keras/src/optimizers/ftrl.py), batched.

    Keras form, per coordinate, p = lr_power, n starting at initial_accumulator_value, z at 0,
    and w at the start point w0::

        gs    = g + 2 * l2_shrinkage * w
        n'    = n + g^2
        z    <- z + gs - (n'^(-p) - n^(-p)) / lr * w
        q     = n'^(-p) / lr + 2 * (l2 + beta / (2 * lr))
        w    <- (clip(z, -l1, l1) - z) / q       (exactly 0 where |z| <= l1)
        n    <- n'

    McMahan et al. 2013, Algorithm 1 (per-coordinate learning rates alpha, beta; z = n = 0)::

        w = 0                                                   if |z| <= l1
        w = -(z - sign(z) * l1) / ((beta + sqrt(n)) / alpha + l2)   otherwise
        (observe g at w)
        sigma = (sqrt(n + g^2) - sqrt(n)) / alpha
        z    <- z + g - sigma * w
        n    <- n + g^2

    Mapping (docs/reference.md): lr = alpha, beta = beta, l1 = l1, Keras l2 = paper
    l2 / 2 (Keras's q carries 2*l2), lr_power = -0.5, initial_accumulator_value = 0,
    l2_shrinkage = 0 and start point w0 = 0; then the two give the same iterates to rounding.
    The paper computes w from (z, n) at the start of a round, Keras at the end of the previous
    step: the same numbers. Keras's form generalises the paper's in three ways: lr_power
    (sqrt(n) becomes n^(-lr_power); 0 is a fixed lr), a starting accumulator, and
    l2_shrinkage (an L2 penalty l2_shrinkage*w^2 on the loss, whose gradient enters z but not n).

    The start point: optiscope's start w0 is Keras's initial variable. The first step uses it
    in ``z -= sigma*w0`` (and in ``gs``), after which w is a function of (z, n) alone, so with
    l1 > 0 a coordinate whose |z| stays <= l1 sits at exactly 0, as the paper says.

    Division by zero, as Keras: q = 0 only when n' = 0 with lr_power < 0 and l2 = beta = 0,
    i.e. initial_accumulator_value = 0 and every gradient of that coordinate so far exactly
    0 (a start on a symmetry axis). Keras then divides 0 by 0 (NaN) or a nonzero number by
    0 (inf); so does this kernel, and the engine marks the trajectory diverged. The paper's
    rule would give w = 0 when |z| <= l1. Any of initial_accumulator_value > 0 (the default),
    beta > 0 or l2 > 0 keeps q > 0.

    Under a learning-rate schedule each step's lr enters sigma, q and beta/(2*lr), as Keras
    does with a LearningRateSchedule.

    Defaults (Keras's): lr=1e-3, lr_power=-0.5, initial_accumulator_value=0.1, l1=0, l2=0,
    l2_shrinkage=0, beta=0. Keras's keyword names: learning_rate, learning_rate_power,
    l1/l2/l2_shrinkage_regularization_strength.

    Reference: McMahan et al., "Ad Click Prediction: a View from the Trenches", KDD 2013,
    Algorithm 1; keras/src/optimizers/ftrl.py.
    """

    name = "ftrl"
    summary = "FTRL-Proximal (Keras form): per-coordinate adaptive lr, L1 gives exact zeros"
    reference = "keras/src/optimizers/ftrl.py; McMahan et al. KDD 2013, Algorithm 1"
    hyperparams = (
        c.lr(1e-3),
        HyperParam(
            "lr_power",
            -0.5,
            "the step shrinks as n^lr_power (n = sum of g^2); 0: fixed lr",
            high=0.0,
        ),
        HyperParam(
            "initial_accumulator_value", 0.1, "starting value of the accumulator n", low=0.0
        ),
        HyperParam("l1", 0.0, "L1 strength: w = 0 exactly while |z| <= l1", low=0.0),
        HyperParam("l2", 0.0, "L2 strength (Keras's; the paper's lambda2 / 2)", low=0.0),
        HyperParam(
            "l2_shrinkage", 0.0, "L2 penalty on the loss: 2*l2_shrinkage*w added to g", low=0.0
        ),
        HyperParam(
            "beta", 0.0, "the paper's beta: q gains beta/lr (damps the first steps)", low=0.0
        ),
    )
    plot_state = ("accumulator", "linear")
    state_meanings = {
        "accumulator": "n: initial_accumulator_value plus the sum of g^2",
        "linear": "z: accumulated gradients with the sigma*w corrections (w = 0 while |z| <= l1)",
    }
    kernel = staticmethod(ftrl_kernel)

    def init(self, params: np.ndarray, hp: HParams) -> FtrlState:
        return FtrlState(
            accumulator=c.zeros(params) + hp["initial_accumulator_value"],
            linear=c.zeros(params),
            step=c.step_zero(params),
        )

    def update(
        self, grad: np.ndarray, state: FtrlState, params: np.ndarray, hp: HParams
    ) -> tuple[np.ndarray, FtrlState]:
        w, accumulator, linear = self.kernel(
            c.as_float64(params),
            c.as_float64(grad),
            state.accumulator,
            state.linear,
            hp["lr"],
            hp["lr_power"],
            hp["l1"],
            hp["l2"],
            hp["l2_shrinkage"],
            hp["beta"],
        )
        return w, FtrlState(accumulator=accumulator, linear=linear, step=state.step + 1.0)
