"""Metrics: pure functions of a Trajectories object, one value per trajectory (``[B]``).

Each function states its exact definition. NaN means "not defined here" (for example a gap
when the function's minimum is unknown); -1 in an integer metric means "never".
"""

from __future__ import annotations

import numpy as np

from optiscope.engine import Trajectories

DEFAULT_TOL = 1e-6


def loss_final(traj: Trajectories) -> np.ndarray:
    """f at the last recorded point (for a diverged row: its last good point)."""
    return traj.losses[-1].copy()


def gap(traj: Trajectories) -> np.ndarray:
    """``f(x_k) - f_min`` for every step, ``[S+1, B]``; NaN where f_min is unknown."""
    f_min = traj.objective.f_min
    if f_min is None:
        return np.full_like(traj.losses, np.nan)
    return traj.losses - f_min


def gap_final(traj: Trajectories) -> np.ndarray:
    """``loss_final - f_min``; NaN where f_min is unknown."""
    return gap(traj)[-1]


def distance_final(traj: Trajectories) -> np.ndarray:
    """Euclidean distance from the last point to the nearest known minimizer; NaN if none known."""
    minimizers = np.asarray(traj.objective.minimizers, dtype=np.float64)
    if minimizers.size == 0:
        return np.full(traj.batch, np.nan)
    diff = traj.positions[-1][:, None, :] - minimizers[None, :, :]  # [B, M, D]
    return np.sqrt(np.sum(diff * diff, axis=2)).min(axis=1)


def steps_to_tol(traj: Trajectories, tol: float = DEFAULT_TOL) -> np.ndarray:
    """The first step k after which the gap stays <= ``tol`` for every later recorded step.

    -1 when that never happens within the run (or when the row diverged, or f_min is unknown).
    """
    g = gap(traj)  # [S+1, B]
    within = g <= tol  # NaN compares False
    # suffix_all[k] is True when every step from k to the end is within tolerance
    suffix_all = np.flip(np.logical_and.accumulate(np.flip(within, axis=0), axis=0), axis=0)
    reached = suffix_all.any(axis=0) & (traj.diverged_at < 0)
    first = np.argmax(suffix_all, axis=0)
    return np.where(reached, first, -1)


def summary(traj: Trajectories, tol: float = DEFAULT_TOL) -> list[dict[str, float | int | None]]:
    """The basic metrics of every row as plain JSON-ready dicts (None for undefined)."""
    columns = {
        "loss_final": loss_final(traj),
        "gap_final": gap_final(traj),
        "distance_final": distance_final(traj),
        "steps_to_tol": steps_to_tol(traj, tol),
        "diverged_at": traj.diverged_at,
    }
    rows = []
    for b in range(traj.batch):
        row: dict[str, float | int | None] = {}
        for name, values in columns.items():
            v = values[b]
            if np.issubdtype(np.asarray(values).dtype, np.integer):
                row[name] = None if v < 0 else int(v)
            else:
                row[name] = float(v) if np.isfinite(v) else None
        rows.append(row)
    return rows
