"""The Objective type: a batched function with its analytic gradient and its metadata."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

ArrayFn = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True, eq=False)
class Pointwise:
    """f and its gradient at ONE point of a 2-D function, for compiled loops (``optiscope.fused``).

    Either ``value(w1, w2) -> f`` and ``grad(w1, w2) -> (f_1, f_2)``: the very functions the
    batched Objective applies to columns, written in plain arithmetic and ``np``/``math``
    functions so that the same source also runs on two floats; or ``tape`` (a typed formula's
    :class:`~optiscope.objectives.tape.Tape`) with ``outputs``, the slots of f, f_1 and f_2.
    """

    value: Callable[..., Any] | None = None
    grad: Callable[..., Any] | None = None
    tape: Any = None
    outputs: tuple[int, ...] = ()


@dataclass(frozen=True, eq=False)
class Objective:
    """A differentiable test function evaluated on a batch of points.

    ``value(x)`` maps ``x`` of shape ``[B, D]`` to ``[B]``; ``grad(x)`` to ``[B, D]``;
    ``hessian(x)`` (when known) to ``[B, D, D]``. All float64.

    Metadata: ``name`` (the spec that recreates it), ``formula`` (plain text), ``latex``,
    plot ``bounds`` (one ``(low, high)`` per coordinate), the known global ``minimizers``
    (``[M, D]``, possibly empty), ``f_min`` (None when unbounded below or unknown), a default
    ``start``, a ``citation`` and the ``params`` it was built with.

    ``minimum_note`` says where ``minimizers`` and ``f_min`` come from when they are not the
    catalogue's (e.g. "a local minimizer found numerically from the start" for a typed formula);
    empty for catalogue functions. Metrics use the minimum the same way either way; reports
    carry the note so that a reader knows what the gap and the distance are measured against.

    ``pointwise`` (:class:`Pointwise`, None when there is none: data objectives) is how to
    compute f and its gradient at a single point, for the compiled engine.
    """

    name: str
    formula: str
    value_fn: ArrayFn
    grad_fn: ArrayFn
    dim: int = 2
    bounds: tuple[tuple[float, float], ...] = ((-2.0, 2.0), (-2.0, 2.0))
    minimizers: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))
    f_min: float | None = None
    start: tuple[float, ...] = (1.0, 1.0)
    citation: str = ""
    latex: str = ""
    hessian_fn: ArrayFn | None = None
    params: Mapping[str, float] = field(default_factory=dict)
    description: str = ""
    minimum_note: str = ""
    pointwise: Pointwise | None = None

    def value(self, x: np.ndarray) -> np.ndarray:
        """f at each row of ``x``: ``[B, D] -> [B]``."""
        return self.value_fn(self._check(x))

    def grad(self, x: np.ndarray) -> np.ndarray:
        """Gradient at each row of ``x``: ``[B, D] -> [B, D]``."""
        return self.grad_fn(self._check(x))

    def hessian(self, x: np.ndarray) -> np.ndarray:
        """Hessian at each row of ``x``: ``[B, D] -> [B, D, D]``; raises if not known."""
        if self.hessian_fn is None:
            raise NotImplementedError(f"{self.name} has no Hessian")
        return self.hessian_fn(self._check(x))

    def _check(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != self.dim:
            raise ValueError(
                f"{self.name}: expected points of shape [B, {self.dim}], got {x.shape}"
            )
        return x
