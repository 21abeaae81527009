"""Optimizer registry and ``NAME:key=value`` spec resolution."""

from __future__ import annotations

from optiscope.errors import OptiscopeError
from optiscope.optimizers.base import Optimizer
from optiscope.specs import closest_names, parse_spec

OPTIMIZERS: dict[str, Optimizer] = {}


def register(optimizer: Optimizer) -> Optimizer:
    OPTIMIZERS[optimizer.name] = optimizer
    return optimizer


def get_optimizer(spec: str) -> tuple[Optimizer, dict[str, float | bool]]:
    """``"adam:lr=0.01,amsgrad=true"`` -> (the Adam optimizer, every hyperparameter's value)."""
    _ensure_loaded()
    name, options = parse_spec(spec, "optimizer spec")
    if name not in OPTIMIZERS:
        raise OptiscopeError(
            f"unknown optimizer {name!r}{closest_names(name, list(OPTIMIZERS))}; "
            f"valid: {', '.join(OPTIMIZERS)}"
        )
    optimizer = OPTIMIZERS[name]
    return optimizer, optimizer.resolve(options)


def _ensure_loaded() -> None:
    # Importing the family modules registers them.
    from optiscope.optimizers import catalogue  # noqa: F401
