"""Pieces shared by the optimizer families: common hyperparameters and two tiny kernels.

Kernels are plain functions of arrays (or scalars): only arithmetic and ``np.sqrt`` /
``np.maximum``, no Python objects, so the same source runs under NumPy broadcasting
(``[B, D]`` state, ``[B, 1]`` hyperparameters) and can be compiled by Numba for a fused loop.

Boolean options arrive as 0.0/1.0 floats and pick a branch arithmetically,
``flag * a + (1.0 - flag) * b``, which returns ``a`` or ``b`` exactly when both are finite.

Order of operations follows torch's single-tensor code so results agree to rounding. torch's
CPU kernels fuse multiply-adds (``add(alpha=)``, ``addcmul``, ``lerp`` round once, as an FMA);
NumPy rounds the product first, so agreement is within an ulp per operation, not bit for bit.
"""

from __future__ import annotations

import numpy as np

from optiscope.optimizers.base import HyperParam


def lerp(start, end, weight):
    """torch.lerp: ``start + weight*(end - start)``, computed from ``end`` when ``weight >= 0.5``.

    Both branches are torch's (aten/src/ATen/native/Lerp.h); the second keeps precision near
    ``weight = 1``. ``weight`` is a per-trajectory ``[B, 1]`` array or a scalar.
    """
    small = 1.0 * (weight < 0.5)
    diff = end - start
    return small * (start + weight * diff) + (1.0 - small) * (end - diff * (1.0 - weight))


def coupled_decay(g, w, weight_decay):
    """L2 penalty folded into the gradient, torch's ``grad.add(param, alpha=weight_decay)``."""
    return g + weight_decay * w


def zeros(params: np.ndarray) -> np.ndarray:
    """A fresh ``[B, D]`` float64 state field."""
    return np.zeros(np.shape(params), dtype=np.float64)


def step_zero(params: np.ndarray) -> np.ndarray:
    """The step counter, ``[B, 1]`` float64 zeros (counts completed updates, like torch)."""
    return np.zeros((np.shape(params)[0], 1), dtype=np.float64)


def as_float64(x: np.ndarray) -> np.ndarray:
    return np.asarray(x, dtype=np.float64)


# -- hyperparameters shared by several families ------------------------------------------------


def lr(default: float) -> HyperParam:
    return HyperParam("lr", default, "learning rate (step size)", low=0.0, low_open=True)


def weight_decay(default: float = 0.0, decoupled: bool = False) -> HyperParam:
    meaning = (
        "decoupled weight decay: w *= 1 - lr*weight_decay before the step"
        if decoupled
        else "L2 penalty: weight_decay*w is added to the gradient"
    )
    return HyperParam("weight_decay", default, meaning, low=0.0)


def eps(default: float, meaning: str) -> HyperParam:
    return HyperParam("eps", default, meaning, low=0.0)


def momentum(default: float, meaning: str) -> HyperParam:
    return HyperParam("momentum", default, meaning, low=0.0, high=1.0, high_open=True)


def flag(name: str, default: bool, meaning: str) -> HyperParam:
    return HyperParam(name, default, meaning, kind="bool")
