"""Learning-rate schedules: the lr each step uses, per trajectory.

(Placeholder during development: only constant learning rates.)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def learning_rates(settings: Sequence[dict[str, Any]], steps: int) -> np.ndarray | None:
    """``[S, B]`` learning rates per step, or None when every trajectory keeps its lr."""
    del settings, steps
    return None
