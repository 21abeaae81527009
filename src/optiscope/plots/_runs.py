"""What every panel needs from one (label, Trajectories, row) triple, extracted once.

A diverged row is frozen at its last good point from ``diverged_at`` on; the panels draw it only
up to that point (the frozen tail would look like convergence) and end it with an ``x``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from matplotlib import colormaps

from optiscope.engine import Trajectories
from optiscope.errors import OptiscopeError
from optiscope.objectives.base import Objective

Run = tuple[str, Trajectories, int]


@dataclass(frozen=True)
class RunPath:
    """One trajectory ready to draw.

    ``xy`` ``[n, 2]`` and ``losses`` ``[n]`` hold steps ``0 .. n-1``: all of them, or, for a
    diverged row, those before the step that diverged (its last good point is ``xy[-1]``).
    """

    label: str
    color: tuple[float, float, float, float]
    xy: np.ndarray  # [n, 2]
    losses: np.ndarray  # [n]
    diverged_at: int  # -1 = did not diverge
    steps: int  # steps the run was given (a diverged row stops short of it)

    @property
    def diverged(self) -> bool:
        return self.diverged_at >= 0

    @property
    def legend_label(self) -> str:
        if self.diverged:
            return f"{self.label} (diverged at step {self.diverged_at})"
        return self.label


def run_colors(n: int) -> list[tuple[float, float, float, float]]:
    """``n`` distinct qualitative colors (tab10, tab20 beyond ten runs, cycling beyond that)."""
    cmap = colormaps["tab10" if n <= 10 else "tab20"]
    return [cmap(i % cmap.N) for i in range(n)]


def extract(runs: Sequence[Run], any_dim: bool = False) -> tuple[Objective, list[RunPath]]:
    """Check the runs share one 2-D objective and pull each chosen row out as a RunPath.

    ``any_dim=True`` (loss-only figures) accepts any dimension; ``xy`` then holds all D
    coordinates.
    """
    if not runs:
        raise OptiscopeError("nothing to plot: give at least one (label, trajectories, row) run")
    objective = runs[0][1].objective
    if objective.dim != 2 and not any_dim:
        raise OptiscopeError(
            f"plots need a 2-D objective, got {objective.name} with dim {objective.dim}"
        )
    paths = []
    for (label, traj, b), color in zip(runs, run_colors(len(runs)), strict=True):
        if traj.objective is not objective and traj.objective.name != objective.name:
            raise OptiscopeError(
                f"all runs must share one objective: {label!r} is on {traj.objective.name}, "
                f"not {objective.name}"
            )
        if not (isinstance(b, int | np.integer) and 0 <= b < traj.batch):
            raise OptiscopeError(f"invalid row {b} for {label!r}: valid 0 <= row < {traj.batch}")
        k = int(traj.diverged_at[b])
        stop = traj.steps + 1 if k < 0 else max(k, 1)
        paths.append(
            RunPath(
                label=str(label),
                color=color,
                xy=np.asarray(traj.positions[:stop, b, :], dtype=np.float64),
                losses=np.asarray(traj.losses[:stop, b], dtype=np.float64),
                diverged_at=k,
                steps=traj.steps,
            )
        )
    return objective, paths
