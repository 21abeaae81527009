"""Panel 2: the seed note's 3-D view, made legible.

The note drew the surface and the path as dots (light = early, dark = late, red = end). Here the
surface is a translucent mesh (60x60 samples) with its contours projected on the floor, so the
path stays visible through it; each run is a line with dots at height f in its own color, its
start a white circle and its end large.

Functions whose range is dominated by a few steep corners (Rosenbrock: 2500 at a corner of its
box, under 1 along the valley) would show as a flat sheet with walls. For those the height is
``log10(f - f_min)`` (or of ``f - min f`` over the window), said on the z axis and in the title:
the valley the optimizer travels then has a shape. If f takes both signs without a known
minimum, the height is f clipped at a quantile instead.

**When the panel is drawn** (``surface_helps``): by default only for at most ``MAX_RUNS`` (3)
runs on a smooth function. Beyond 3 runs the paths turn into spaghetti on a 3-D view, and on a
rugged function (``rugged``: on a ``GRID x GRID`` grid over the window, the grid lines have on
average at least ``RUGGED_MINIMA`` (4) strict local minima each, as for rastrigin (11) and
ackley (9); bowls, Rosenbrock, Himmelblau, Goldstein-Price and the six-hump camel have at most
2.5) the surface is a field of spikes that hides the paths. ``comparison_figure(surface=True)``
forces it on, ``surface=False`` off.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from matplotlib import colormaps
from matplotlib.ticker import MaxNLocator
from mpl_toolkits.mplot3d import Axes3D

from optiscope.objectives.base import Objective
from optiscope.plots._grid import evaluate_grid, inside
from optiscope.plots._runs import RunPath
from optiscope.plots.labels import axis_names

GRID = 60
SURFACE_CMAP = "viridis"
WIDE_QUANTILE = 0.5
WIDE_RATIO = 8.0  # "huge range": the range exceeds this many times the median's height
# (a quadratic bowl on any box is about 4 times its median; Rosenbrock on its box about 17)
LOG_DECADES = 4  # the log surface's floor: this many decades under the median height
VIEW = (32.0, -128.0)  # elevation, azimuth in degrees
MAX_MARKERS = 100
MAX_RUNS = 3  # the 3-D panel is drawn by default for at most this many runs ...
RUGGED_MINIMA = 4.0  # ... on a function whose grid lines have fewer local minima on average


def rugged(
    objective: Objective, lo: np.ndarray, hi: np.ndarray, Z: np.ndarray | None = None
) -> bool:
    """True when the function has many local minima over the window (see the module notes):
    the mean number of strict local minima along the rows and columns of its grid values
    ``Z`` (computed on a ``GRID x GRID`` grid when not given) is at least ``RUGGED_MINIMA``."""
    if Z is None:
        _, _, Z = evaluate_grid(objective, lo, hi, GRID)
    counts = []
    for grid in (Z, Z.T):
        d = np.diff(grid, axis=1)
        with np.errstate(invalid="ignore"):
            counts.append(np.sum((d[:, :-1] < 0) & (d[:, 1:] > 0), axis=1))
    return float(np.mean(np.concatenate(counts))) >= RUGGED_MINIMA


def surface_helps(
    objective: Objective, runs: int, lo: np.ndarray, hi: np.ndarray, surface: bool | None = None
) -> bool:
    """Whether the comparison figure draws the 3-D panel: ``surface`` when given, else at most
    ``MAX_RUNS`` runs on a function that is not ``rugged``."""
    if surface is not None:
        return bool(surface)
    return runs <= MAX_RUNS and not rugged(objective, lo, hi)


@dataclass(frozen=True)
class Height:
    """How f maps to the drawn height: identity, clipped, or ``log10(f - ref)``."""

    low: float
    high: float
    log_ref: float | None = None  # not None: z = log10(max(f - log_ref, 10**low))
    clipped: bool = False

    def __call__(self, f: np.ndarray) -> np.ndarray:
        with np.errstate(all="ignore"):
            if self.log_ref is not None:
                f = np.log10(np.maximum(f - self.log_ref, 10.0**self.low))
            return np.clip(f, self.low, self.high)


def height_map(Z: np.ndarray, f_min: float | None) -> Height:
    """Choose the height for grid values ``Z`` (NaN = not finite); see the module docstring."""
    finite = Z[np.isfinite(Z)]
    if finite.size == 0:
        return Height(0.0, 1.0)
    z_lo, z_hi = float(finite.min()), float(finite.max())
    if not z_hi > z_lo:
        return Height(z_lo - 0.5, z_lo + 0.5)
    q = float(np.quantile(finite, WIDE_QUANTILE))
    if not (q > z_lo and z_hi - z_lo > WIDE_RATIO * (q - z_lo)):
        return Height(z_lo, z_hi)
    ref = z_lo if f_min is None else min(float(f_min), z_lo)
    if f_min is not None or z_lo >= 0:
        floor = np.log10(q - ref) - LOG_DECADES
        return Height(float(floor), float(np.log10(z_hi - ref)), log_ref=ref)
    return Height(z_lo, q, clipped=True)


def draw_surface(
    ax: Axes3D, objective: Objective, paths: Sequence[RunPath], lo: np.ndarray, hi: np.ndarray
) -> None:
    """Draw the surface and the paths at height f on ``ax`` (3-D axes, computed_zorder off)."""
    X, Y, Z = evaluate_grid(objective, lo, hi, GRID)
    h = height_map(Z, objective.f_min)
    # +inf (overflow) is clipped to the top; NaN (undefined, e.g. log of a negative) stays a hole
    H = h(np.where(np.isnan(Z), np.nan, np.where(np.isfinite(Z), Z, np.inf)))
    cmap = colormaps[SURFACE_CMAP]
    ax.plot_surface(
        X,
        Y,
        H,
        cmap=cmap,
        vmin=h.low,
        vmax=h.high,
        rstride=2,
        cstride=2,
        alpha=0.38,
        linewidth=0.25,
        edgecolor=(0.3, 0.3, 0.3, 0.25),
        antialiased=True,
        zorder=1,
    )
    ax.contour(
        X, Y, H, levels=12, zdir="z", offset=h.low, cmap=cmap, linewidths=0.7, alpha=0.6, zorder=0
    )

    for p in paths:
        ok = inside(p.xy, lo, hi) & np.isfinite(p.losses)
        x = np.where(ok, p.xy[:, 0], np.nan)  # a gap where the path leaves the window
        y = np.where(ok, p.xy[:, 1], np.nan)
        z = np.where(ok, h(p.losses), np.nan)
        every = max(1, len(z) // MAX_MARKERS)
        ax.plot(
            x,
            y,
            z,
            ls=p.linestyle,
            marker=p.marker,
            ms=2.8,
            markevery=every,
            lw=1.6,
            color=p.color,
            zorder=2.5 if p.diverged else 3,
            gid="surface_path",
        )
        if ok[0]:
            ax.plot([x[0]], [y[0]], [z[0]], marker="o", ms=8, mfc="white", mec="black", mew=1.6,
                    zorder=4)  # fmt: skip
        if ok[-1]:
            ax.plot(
                [x[-1]],
                [y[-1]],
                [z[-1]],
                marker="X" if p.diverged else p.marker,
                ms=11 if p.diverged else 9,
                color=p.color,
                mec="black",
                mew=1.1,
                zorder=5,
            )

    ax.set_xlim(lo[0], hi[0])
    ax.set_ylim(lo[1], hi[1])
    ax.set_zlim(h.low, h.high)
    for axis in (ax.xaxis, ax.yaxis, ax.zaxis):
        axis.set_major_locator(MaxNLocator(5, steps=[1, 2, 5, 10]))
    ax.view_init(elev=VIEW[0], azim=VIEW[1])
    x_name, y_name = axis_names(objective)
    ax.set_xlabel(x_name)
    ax.set_ylabel(y_name)
    title = "Surface f(w) with the paths at height f"
    if h.log_ref is not None:
        what = "f − f_min" if objective.f_min is not None else "f − min f"
        ax.set_zlabel(f"log10({what})", labelpad=4)
        title = f"Surface, height log10({what}) (f has a huge range)"
    else:
        ax.set_zlabel("f", labelpad=2)
    if h.clipped:
        title += f"\n(f clipped at {h.high:.3g} so the low region shows)"
    ax.set_title(title)
