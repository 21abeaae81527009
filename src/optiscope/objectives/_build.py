"""Small helpers shared by the catalogue modules: build a batched Objective from column maths.

Each catalogue function is written as plain formulas of the two coordinate columns ``w1`` and
``w2`` (each of shape ``[B]``); ``make_objective`` stacks them into the ``[B]``, ``[B, 2]`` and
``[B, 2, 2]`` arrays that ``Objective`` promises.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np

from optiscope.objectives.base import Objective, Pointwise

Col = np.ndarray | float
ValueFn = Callable[[np.ndarray, np.ndarray], Col]  # (w1, w2) -> f
GradFn = Callable[[np.ndarray, np.ndarray], tuple[Col, Col]]  # (w1, w2) -> (f_1, f_2)
HessFn = Callable[[np.ndarray, np.ndarray], tuple[Col, Col, Col]]  # -> (f_11, f_12, f_22)


def _col(v: Col, like: np.ndarray) -> np.ndarray:
    """``v`` (array or constant) as a float64 column shaped like ``like`` (``[B]``)."""
    return np.broadcast_to(np.asarray(v, dtype=np.float64), like.shape)


def make_objective(
    name: str,
    *,
    formula: str,
    latex: str,
    value: ValueFn,
    grad: GradFn,
    hessian: HessFn,
    bounds: tuple[tuple[float, float], tuple[float, float]],
    start: tuple[float, float],
    minimizers: Sequence[Sequence[float]] | np.ndarray = (),
    f_min: float | None,
    citation: str,
    description: str,
    params: Mapping[str, float] | None = None,
) -> Objective:
    """An ``Objective`` in ``w = (w1, w2)`` from value, gradient and Hessian of columns."""

    def value_fn(x: np.ndarray) -> np.ndarray:  # [B, 2] -> [B]
        w1, w2 = x[:, 0], x[:, 1]
        return np.array(_col(value(w1, w2), w1))

    def grad_fn(x: np.ndarray) -> np.ndarray:  # [B, 2] -> [B, 2]
        w1, w2 = x[:, 0], x[:, 1]
        g1, g2 = grad(w1, w2)
        return np.stack([_col(g1, w1), _col(g2, w1)], axis=-1)

    def hessian_fn(x: np.ndarray) -> np.ndarray:  # [B, 2] -> [B, 2, 2]
        w1, w2 = x[:, 0], x[:, 1]
        h11, h12, h22 = (_col(h, w1) for h in hessian(w1, w2))
        return np.stack([np.stack([h11, h12], -1), np.stack([h12, h22], -1)], -2)

    mins = np.array(minimizers, dtype=np.float64).reshape(-1, 2)  # [M, 2]
    mins.flags.writeable = False
    return Objective(
        name=name,
        formula=formula,
        value_fn=value_fn,
        grad_fn=grad_fn,
        dim=2,
        bounds=tuple((float(lo), float(hi)) for lo, hi in bounds),
        minimizers=mins,
        f_min=None if f_min is None else float(f_min),
        start=(float(start[0]), float(start[1])),
        citation=citation,
        latex=latex,
        hessian_fn=hessian_fn,
        params=dict(params or {}),
        description=description,
        pointwise=Pointwise(value=value, grad=grad),
    )


def newton_polish(
    grad: GradFn, hessian: HessFn, guesses: Sequence[Sequence[float]], steps: int = 8
) -> np.ndarray:
    """Critical points near ``guesses`` (``[M, 2]``) to full double precision by Newton steps.

    Used at import so that minimizers that have no closed form are not typed-in, truncated
    literature values.
    """
    x = np.array(guesses, dtype=np.float64).reshape(-1, 2)  # [M, 2]
    for _ in range(steps):
        g = np.stack([_col(c, x[:, 0]) for c in grad(x[:, 0], x[:, 1])], -1)  # [M, 2]
        h11, h12, h22 = (_col(c, x[:, 0]) for c in hessian(x[:, 0], x[:, 1]))
        det = h11 * h22 - h12 * h12
        # x -= H^-1 g, with the 2x2 inverse written out
        x = x - np.stack(
            [(h22 * g[:, 0] - h12 * g[:, 1]) / det, (h11 * g[:, 1] - h12 * g[:, 0]) / det], -1
        )
    return x


def fmt(v: float) -> str:
    """Shortest text that reads back as ``v``: ``%g`` when exact (``50``, ``0.5``), else repr."""
    text = f"{v:g}"
    return text if float(text) == v else repr(float(v))
