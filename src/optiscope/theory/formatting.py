"""How the theory writes numbers and points: 4 significant digits, JSON-safe floats."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np


def _json_float(v: float) -> float | None:
    return float(v) if math.isfinite(v) else None


def _g(v: float) -> str:
    return f"{float(v):.4g}"


def _fmt_point(p: Sequence[float] | np.ndarray) -> str:
    return "(" + ", ".join(_g(v) for v in p) + ")"
