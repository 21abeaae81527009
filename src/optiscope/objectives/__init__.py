"""Test functions: the catalogue (by name, with parameters) and typed-in formulas.

``get_objective(spec)`` accepts a registry spec (``"aniso"``, ``"quadratic:kappa=50,angle=30"``)
or an expression in ``w1``, ``w2`` (``"(1-w1)**2 + 100*(w2-w1**2)**2"``).
"""

from optiscope.objectives.base import Objective
from optiscope.objectives.registry import (
    FUNCTIONS,
    FunctionEntry,
    Param,
    get_objective,
    register,
)

__all__ = ["FUNCTIONS", "FunctionEntry", "Objective", "Param", "get_objective", "register"]
