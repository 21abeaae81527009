"""Panel 1: the paths on a contour map of the objective, seen from above.

The map is the objective over its plot box (grown to hold the paths, see ``_grid.view_box``),
with log-spaced levels (see ``levels``) so an elongated bowl shows nested ellipses down to the
minimum and gradient descent's zig-zag across them is plain. Equal aspect: a round bowl looks
round and the direction of each step is true. Each run is a line with small dots (one per step)
in its own color; a white-filled circle marks the start, a filled circle the end, an ``X`` the
last good point of a diverged run, and a gold star each known global minimizer.

A run with repeats (``RunPath.band``) also shows every repeat's path as a thin line in the
run's color, its start a small white-filled circle and its end a small dot (``x`` when it
diverged), under the run's own path; at most ``MAX_THIN_PATHS`` of them per run.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.colors import BoundaryNorm

from optiscope.objectives.base import Objective
from optiscope.plots._grid import evaluate_grid, inside
from optiscope.plots._runs import RunPath
from optiscope.plots.levels import Levels, contour_levels

GRID = 300
FILL_CMAP = "YlGnBu_r"  # dark at the bottom of a bowl, pale on its walls
SIGNED_CMAP = "RdBu_r"  # f of both signs (saddles): blue below 0, red above
MAX_MARKERS = 150  # beyond this many steps, dots are drawn on every k-th step only
MAX_THIN_PATHS = 200  # repeats drawn per run (the first ones); more would only blot the map


def function_contours(
    objective: Objective, lo: np.ndarray, hi: np.ndarray, n: int = GRID
) -> tuple[np.ndarray, np.ndarray, np.ma.MaskedArray, Levels] | None:
    """``(X, Y, Z, levels)`` for contours of the objective over the window: an ``n x n`` grid,
    non-finite values masked, log-spaced levels (``levels.contour_levels``); None when the
    function is flat there (fewer than two levels)."""
    X, Y, Z = evaluate_grid(objective, lo, hi, n)
    levels = contour_levels(Z, objective.f_min)
    if levels is None or len(levels.values) < 2:
        return None
    return X, Y, np.ma.masked_invalid(Z), levels


def draw_contour(
    ax: Axes, objective: Objective, paths: Sequence[RunPath], lo: np.ndarray, hi: np.ndarray
) -> None:
    """Draw the contour map, the minimizers and every path on ``ax`` (2-D axes)."""
    found = function_contours(objective, lo, hi)
    if found is not None:
        X, Y, Zm, levels = found
        cmap = colormaps[SIGNED_CMAP if levels.signed else FILL_CMAP]
        norm = BoundaryNorm(levels.values, cmap.N, extend="both")
        alpha = 0.45 if levels.signed else 0.55
        ax.contourf(
            X, Y, Zm, levels=levels.values, cmap=cmap, norm=norm, extend="both", alpha=alpha
        )
        ax.contour(X, Y, Zm, levels=levels.values, colors="0.25", linewidths=0.5, alpha=0.6)
        ax.set_title(f"Paths on contours\n({levels.description})")
    else:
        ax.set_title("Paths (the function is flat over this window)")

    mins = np.asarray(objective.minimizers, dtype=np.float64).reshape(-1, 2)
    mins = mins[inside(mins, lo, hi)]
    if len(mins):
        ax.plot(
            mins[:, 0],
            mins[:, 1],
            ls="none",
            marker="*",
            ms=17,
            color="gold",
            mec="black",
            mew=0.9,
            zorder=8,
            gid="minimizer",
        )

    for p in paths:
        if p.band is not None:
            draw_thin_paths(ax, p.band.paths[1 : MAX_THIN_PATHS + 1], lo, hi)
    for p in paths:
        every = max(1, len(p.xy) // MAX_MARKERS)
        ax.plot(
            p.xy[:, 0],
            p.xy[:, 1],
            "-",
            marker="o",
            ms=3.2,
            markevery=every,
            lw=1.5,
            color=p.color,
            label=p.legend_label,
            alpha=0.75 if p.diverged else 1.0,
            zorder=3 if p.diverged else 4,  # converging runs on top of a blow-up
            gid="path",
        )
        start, end = p.xy[0], np.clip(p.xy[-1], lo, hi)  # an end off the map sits on its edge
        ax.plot(*start, marker="o", ms=9, mfc="white", mec=p.color, mew=2.2, zorder=5, gid="start")
        if p.diverged:
            ax.plot(*end, marker="X", ms=13, color=p.color, mec="black", mew=1, zorder=7, gid="end")
        else:
            ax.plot(
                *end, marker="o", ms=9, color=p.color, mec="black", mew=1.2, zorder=7, gid="end"
            )

    ax.set_xlim(lo[0], hi[0])
    ax.set_ylim(lo[1], hi[1])
    ax.set_aspect("equal", adjustable="box")
    ax.set_xlabel("$w_1$")
    ax.set_ylabel("$w_2$")


def draw_thin_paths(ax: Axes, paths: Sequence[RunPath], lo: np.ndarray, hi: np.ndarray) -> None:
    """A run's repeats: thin lines, a small white-filled start, a small end (module notes)."""
    for p in paths:
        ax.plot(*p.xy.T, "-", lw=1.0, color=p.color, alpha=0.6, zorder=2.5, gid="repeat")
        ax.plot(*p.xy[0], marker="o", ms=4, mfc="white", mec=p.color, mew=1.2, zorder=2.6,
                gid="repeat_start")  # fmt: skip
        end = np.clip(p.xy[-1], lo, hi)
        mark = dict(marker="x", ms=5, mew=1.4) if p.diverged else dict(marker="o", ms=3.5, mew=0)
        ax.plot(*end, color=p.color, zorder=2.6, gid="repeat_end", **mark)
