"""How the theory writes numbers and points: the project's number format, JSON-safe floats."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from optiscope.tables import num


def _json_float(v: float) -> float | None:
    return float(v) if math.isfinite(v) else None


def _fmt_point(p: Sequence[float] | np.ndarray) -> str:
    return "(" + ", ".join(num(v) for v in p) + ")"
