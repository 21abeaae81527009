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

Each run gets a colour and also a line style and a marker shape (``RunPath.linestyle``,
``RunPath.marker``: run i takes ``LINE_STYLES[i % 4]`` and ``MARKERS[i % 8]``), so two runs
with identical paths (Adagrad under FTRL on Rosenbrock) are both visible: a dashed line over
a solid one shows both colours.

A run may carry its **repeats** (the same spec from other starts or under other noise seeds,
rows of the same batch): ``extract(runs, repeats=...)`` gives its RunPath a ``band``, every
repeat's path (for the contour's thin lines) and the median loss with its spread per step (for
the loss panel), by the rule of ``optiscope.repeats``. A diverged repeat counts with its
recorded losses, frozen at its last good point, as in the metrics.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from matplotlib import colormaps

from optiscope.engine import LEFT_BOX, Trajectories
from optiscope.errors import OptiscopeError
from optiscope.objectives.base import Objective
from optiscope.repeats import median_and_spread, spread_name

Run = tuple[str, Trajectories, int]
MAX_POINTS = 4000  # per path, in figures only
LINE_STYLES = ("-", "--", ":", "-.")
MARKERS = ("o", "s", "^", "D", "v", "P", "h", "<")


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
class RepeatBand:
    """A spec's repeats: their paths and the median loss with its spread at each drawn step.

    ``median``, ``low``, ``high`` ``[n]`` are losses (f, not the gap) at steps ``steps``;
    ``statistic`` is ``"min..max"`` or ``"10-90%"``.
    """

    paths: tuple[RunPath, ...]
    steps: np.ndarray
    median: np.ndarray
    low: np.ndarray
    high: np.ndarray
    statistic: str

    @property
    def count(self) -> int:
        return len(self.paths)

    @property
    def diverged(self) -> int:
        return sum(p.diverged for p in self.paths)


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
    band: RepeatBand | None = None  # the spec's repeats, when it ran several times
    linestyle: str = "-"
    marker: str = "o"
    beyond: np.ndarray | None = None  # [2]: where a run that left the box went next, if known
    optimizer: str = ""  # the optimizer's name and its settings (for the theory's envelope)
    settings: dict[str, Any] | None = None
    stochastic: bool = False
    index: int = 0  # the run's place in the figure (staggers its markers against the others')

    @property
    def steps_drawn(self) -> np.ndarray:
        """The step of every point in ``xy`` and ``losses``."""
        return np.arange(len(self.xy)) if self.step_numbers is None else self.step_numbers

    @property
    def diverged(self) -> bool:
        return self.diverged_at >= 0

    @property
    def legend_label(self) -> str:
        if self.band is not None:
            diverged = f", {self.band.diverged} diverged" if self.band.diverged else ""
            return f"{self.label} ({self.band.count} runs{diverged})"
        if self.diverged:
            verb = "left the box" if self.left_box else "diverged"
            return f"{self.label} ({verb} at step {self.diverged_at})"
        return self.label


def run_colors(n: int) -> list[tuple[float, float, float, float]]:
    """``n`` distinct qualitative colours, never grey (grey is for the other runs of a small
    map and for the neutral markers) and never pale: tab10 without its grey (9 colours), then
    Dark2 without its grey (7 more), cycling beyond 16."""
    tab10, dark2 = colormaps["tab10"], colormaps["Dark2"]
    palette = [tab10(i) for i in (0, 1, 2, 3, 4, 5, 6, 8, 9)] + [dark2(i) for i in range(7)]
    return [palette[i % len(palette)] for i in range(n)]


def extract(
    runs: Sequence[Run], any_dim: bool = False, repeats: Sequence[Sequence[int]] | None = None
) -> tuple[Objective, list[RunPath]]:
    """Check the runs share one 2-D objective and pull each chosen row out as a RunPath.

    ``any_dim=True`` (loss-only figures) accepts any dimension; ``xy`` then holds all D
    coordinates. ``repeats`` (one entry per run: the rows of its repeats in the same
    trajectories, its own row first) gives each run with more than one a ``band``.
    """
    if not runs:
        raise OptiscopeError("nothing to plot: give at least one (label, trajectories, row) run")
    if repeats is not None and len(repeats) != len(runs):
        raise OptiscopeError(f"{len(repeats)} lists of repeats for {len(runs)} runs")
    objective = runs[0][1].objective
    if objective.dim != 2 and not any_dim:
        raise OptiscopeError(
            f"plots need a 2-D objective, got {objective.name} with dim {objective.dim}"
        )
    paths = []
    for i, ((label, traj, b), color) in enumerate(zip(runs, run_colors(len(runs)), strict=True)):
        if traj.objective is not objective and traj.objective.name != objective.name:
            raise OptiscopeError(
                f"all runs must share one objective: {label!r} is on {traj.objective.name}, "
                f"not {objective.name}"
            )
        path = _path(str(label), color, traj, b)
        path = replace(
            path,
            linestyle=LINE_STYLES[i % len(LINE_STYLES)],
            marker=MARKERS[i % len(MARKERS)],
            optimizer=str(traj.optimizer),
            settings=dict(traj.settings[b]) if len(traj.settings) > b else None,
            stochastic=bool(traj.stochastic),
            index=i,
        )
        rows = [] if repeats is None else list(repeats[i])
        if len(rows) > 1:
            path = replace(path, band=_band(path, traj, rows))
        paths.append(path)
    return objective, paths


def _path(label: str, color, traj: Trajectories, b: Any) -> RunPath:
    """Row ``b`` of ``traj`` ready to draw (to its last good point when it diverged)."""
    if not (isinstance(b, int | np.integer) and 0 <= b < traj.batch):
        raise OptiscopeError(f"invalid row {b} for {label!r}: valid 0 <= row < {traj.batch}")
    k = int(traj.diverged_at[b])
    stop = traj.steps + 1 if k < 0 else max(k, 1)
    keep = kept_steps(stop)
    left_box = k >= 0 and int(traj.divergence_kind[b]) == LEFT_BOX
    beyond = np.asarray(traj.divergence_point[b, :2], dtype=np.float64) if left_box else None
    return RunPath(
        label=label,
        color=color,
        xy=np.asarray(traj.positions[keep, b, :], dtype=np.float64),
        losses=np.asarray(traj.losses[keep, b], dtype=np.float64),
        diverged_at=k,
        steps=traj.steps,
        left_box=left_box,
        step_numbers=keep,
        beyond=beyond,
    )


def _band(path: RunPath, traj: Trajectories, rows: Sequence[int]) -> RepeatBand:
    """The repeats' paths and their median loss and spread at each drawn step."""
    paths = tuple(_path(path.label, path.color, traj, b) for b in rows)
    keep = kept_steps(traj.steps + 1)
    losses = np.asarray(traj.losses[keep][:, list(rows)], dtype=np.float64).T  # [R, n]
    losses = np.where(np.isnan(losses), np.inf, losses)  # an undefined loss counts as worst
    median, low, high = median_and_spread(losses, axis=0)
    return RepeatBand(paths, keep, median, low, high, spread_name(len(rows)))
