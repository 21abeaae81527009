"""The statistic of repeated runs: one spec run from K starts under R noise seeds.

Every place that summarises repeats (the run table, the JSON's ``spread``, the loss plot's
band) uses the same rule, so the numbers agree wherever they are read:

- the **median** (``numpy.median``: the mean of the two middle values for an even count);
- the **spread**: ``min..max`` for fewer than ``QUANTILE_FROM`` repeats, else the **10-90%**
  range, whose ends are repeats' own values (the order statistics nearest to the 10% and 90%
  positions, ``numpy.quantile(method="nearest")``), never an interpolation: a step count stays
  a step count and a never-reached step (``inf``) stays never.

A step metric a repeat never reached (steps to the tolerance) counts as ``inf``: it sorts
after every reached step, so a spec that reaches the tolerance from only a third of its starts
has a median of "never".
"""

from __future__ import annotations

import numpy as np

QUANTILE_FROM = 10  # from this many repeats on, the spread is the 10-90% range
LOW_QUANTILE, HIGH_QUANTILE = 0.1, 0.9


def spread_name(count: int) -> str:
    """``"min..max"`` or ``"10-90%"``: which spread ``count`` repeats get."""
    return "min..max" if count < QUANTILE_FROM else "10-90%"


def median_and_spread(
    values: np.ndarray, axis: int = 0, repeats: int | None = None
) -> tuple[np.ndarray, ...]:
    """``(median, low, high)`` of ``values`` along ``axis`` (the repeats), by the module rule.

    ``values`` must hold no NaN (drop undefined values first); ``inf`` is allowed.
    ``repeats``: the number of repeats that picks the spread (default: the values'), so a
    metric that only some of 12 runs have still gets the 10-90% range the title announces.
    """
    values = np.asarray(values, dtype=np.float64)
    count = values.shape[axis]
    if count == 0:
        raise ValueError("no repeats to summarise")
    with np.errstate(invalid="ignore"):  # inf + inf in the median of two middle infs
        median = np.median(values, axis=axis)
    if (count if repeats is None else repeats) < QUANTILE_FROM:
        return median, values.min(axis=axis), values.max(axis=axis)
    low = np.quantile(values, LOW_QUANTILE, axis=axis, method="nearest")
    high = np.quantile(values, HIGH_QUANTILE, axis=axis, method="nearest")
    return median, low, high
