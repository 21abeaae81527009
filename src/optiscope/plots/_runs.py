"""What every panel needs from one (label, Trajectories, row) triple, extracted once.

A diverged row is frozen at its last good point from ``diverged_at`` on; the panels draw it only
up to that point (the frozen tail would look like convergence) and end it with an ``x``. Its
legend says "left the box at step k" when the engine stopped it for leaving the escape box (its
numbers were still finite), "diverged at step k" otherwise.

Figures are drawn at a bounded resolution: a path of more than ``MAX_POINTS`` points keeps its
first ``MAX_POINTS // 2`` steps in full (where zig-zag and overshoot happen) and evenly spaced
steps after that, always including its last point (``step_numbers`` says which steps were
kept). A figure of 200 runs of 100,000 steps then draws 1 M points, not 20 M. Only the picture
is thinned: every metric, table and JSON number comes from every step.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from matplotlib import colormaps

from optiscope.engine import LEFT_BOX, Trajectories
from optiscope.errors import OptiscopeError
from optiscope.objectives.base import Objective

Run = tuple[str, Trajectories, int]
MAX_POINTS = 4000  # per path, in figures only


def kept_steps(count: int, limit: int = MAX_POINTS) -> np.ndarray:
    """Indices ``0 .. count-1`` of the points a figure draws: all of them up to ``limit``;
    beyond, the first ``limit // 2`` and then ``limit - limit // 2`` evenly spaced ones ending
    at the last."""
    if count <= limit:
        return np.arange(count)
    head = limit // 2
    tail = np.linspace(head, count - 1, limit - head).round().astype(np.int64)
    return np.unique(np.concatenate([np.arange(head), tail]))


@dataclass(frozen=True)
class RunPath:
    """One trajectory ready to draw.

    ``xy`` ``[n, 2]`` and ``losses`` ``[n]`` hold the points at steps ``step_numbers`` ``[n]``:
    steps ``0 .. n-1`` (for a diverged row, those before the step that diverged; its last good
    point is ``xy[-1]``), thinned to at most ``MAX_POINTS`` for long runs (see the module notes).
    """

    label: str
    color: tuple[float, float, float, float]
    xy: np.ndarray  # [n, 2]
    losses: np.ndarray  # [n]
    diverged_at: int  # -1 = did not diverge
    steps: int  # steps the run was given (a diverged row stops short of it)
    left_box: bool = False  # diverged by leaving the escape box, with finite numbers
    step_numbers: np.ndarray | None = None  # [n]; None: 0 .. n-1

    @property
    def steps_drawn(self) -> np.ndarray:
        """The step of every point in ``xy`` and ``losses``."""
        return np.arange(len(self.xy)) if self.step_numbers is None else self.step_numbers

    @property
    def diverged(self) -> bool:
        return self.diverged_at >= 0

    @property
    def legend_label(self) -> str:
        if self.diverged:
            verb = "left the box" if self.left_box else "diverged"
            return f"{self.label} ({verb} at step {self.diverged_at})"
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
        keep = kept_steps(stop)
        paths.append(
            RunPath(
                label=str(label),
                color=color,
                xy=np.asarray(traj.positions[keep, b, :], dtype=np.float64),
                losses=np.asarray(traj.losses[keep, b], dtype=np.float64),
                diverged_at=k,
                steps=traj.steps,
                left_box=k >= 0 and int(traj.divergence_kind[b]) == LEFT_BOX,
                step_numbers=keep,
            )
        )
    return objective, paths
