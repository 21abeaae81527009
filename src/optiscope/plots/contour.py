"""Panel 1: the paths on a contour map of the objective, seen from above.

The map is the objective over its plot box (grown to hold the paths, see ``_grid.view_box``),
with log-spaced levels (see ``levels``) so an elongated bowl shows nested ellipses down to the
minimum and gradient descent's zig-zag across them is plain; a colour bar under the map names
the level scale. Equal aspect: a round bowl looks round and the direction of each step is true; the axes
carry the objective's parameter names (``labels.axis_names``).

Each run is a line in its own colour, line style and marker shape (``RunPath.linestyle`` and
``marker``: identical paths stay visible), with a dot per step (beyond ``MAX_MARKERS`` points,
dots evenly spaced along the drawn path, staggered between runs); one neutral marker (white, black edge) marks the
start shared by the runs, a filled marker of the run's shape its end (runs later in the list
get smaller ones, so that ends at one point all show), and a gold star each known
global minimizer. A diverged run is drawn until it leaves the window and ends with an ``X`` on
the window's edge where it left (``_grid.exit_path``); the window is not grown for it.

**Zoom inset.** When a run's last motion is too small to see on the map but has not settled
(``_grid.hidden_motion``: its last quarter of points spans under 5% of the window while its
last step is still at least a tenth of that span: a limit cycle, a slow spiral, a noise ball),
an inset in the emptiest corner of the map shows that region (``_grid.zoom_box``) with its own
contours, the paths' last steps, small end markers and the minimizer; a rectangle on the map
marks where it is. A converging run (ever smaller steps) never triggers it.

A run with repeats (``RunPath.band``) also shows every repeat's path as a thin line in the
run's color, its start a small neutral circle and its end a small dot (``x`` when it
diverged), under the run's own path; at most ``MAX_THIN_PATHS`` of them per run. ``faint``
paths (the other runs of a small-multiples panel) are drawn thin and grey under everything.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.cm import ScalarMappable
from matplotlib.colors import BoundaryNorm, ListedColormap, Normalize
from matplotlib.contour import QuadContourSet
from matplotlib.ticker import MaxNLocator

from optiscope.objectives.base import Objective
from optiscope.plots._grid import evaluate_grid, exit_path, inside, zoom_box
from optiscope.plots._runs import RunPath
from optiscope.plots.labels import axis_names
from optiscope.plots.levels import Levels, contour_levels

GRID = 300
ZOOM_GRID = 120  # the inset's own contour grid
FILL_CMAP = "YlGnBu_r"  # dark at the bottom of a bowl, pale on its walls
SIGNED_CMAP = "RdBu_r"  # f of both signs (saddles): blue below 0, red above
MAX_MARKERS = 60  # beyond this many points, a path's dots are spaced along its drawn length
MARKER_SPACING = 0.03  # ... this fraction of the map's diagonal apart, each run starting at
# its own offset so that runs along the same path show their markers in turn
MAX_THIN_PATHS = 200  # repeats drawn per run (the first ones); more would only blot the map
INSET_SIZE = 0.36  # the zoom inset's side, as a fraction of the map's
COLORBAR_TICKS = 6  # at most this many labelled levels on the colour bar
FAINT = "0.45"
START_STYLE = dict(marker="o", mfc="white", mec="black", ls="none")

Contours = tuple[np.ndarray, np.ndarray, np.ma.MaskedArray, Levels]


def function_contours(
    objective: Objective, lo: np.ndarray, hi: np.ndarray, n: int = GRID, *, local: bool = False
) -> Contours | None:
    """``(X, Y, Z, levels)`` for contours of the objective over the window: an ``n x n`` grid,
    non-finite values masked, log-spaced levels (``levels.contour_levels``); None when the
    function is flat there (fewer than two levels). ``local``: levels spaced above the lowest
    value in the window even when ``f_min`` is known (a zoom into a local minimum far above
    the global one still shows its bowl)."""
    X, Y, Z = evaluate_grid(objective, lo, hi, n)
    levels = contour_levels(Z, None if local else objective.f_min)
    if levels is None or len(levels.values) < 2:
        return None
    return X, Y, np.ma.masked_invalid(Z), levels


def fill_contours(ax: Axes, found: Contours, lines: float = 0.5) -> QuadContourSet:
    """Filled contours plus thin level lines of ``found`` on ``ax``; returns the filled set."""
    X, Y, Zm, levels = found
    cmap = colormaps[SIGNED_CMAP if levels.signed else FILL_CMAP]
    norm = BoundaryNorm(levels.values, cmap.N, extend="both")
    alpha = 0.45 if levels.signed else 0.55
    filled = ax.contourf(
        X, Y, Zm, levels=levels.values, cmap=cmap, norm=norm, extend="both", alpha=alpha
    )
    ax.contour(X, Y, Zm, levels=levels.values, colors="0.25", linewidths=lines, alpha=0.6)
    return filled


def draw_contour(
    ax: Axes,
    objective: Objective,
    paths: Sequence[RunPath],
    lo: np.ndarray,
    hi: np.ndarray,
    *,
    colorbar: bool = True,
    zoom: bool = True,
    faint: Sequence[RunPath] = (),
    contours: Contours | None | bool = True,
    title: str | None = None,
) -> QuadContourSet | None:
    """Draw the contour map, the minimizers and every path on ``ax`` (2-D axes).

    ``colorbar``: add a colour bar of the levels beside ``ax``; ``zoom``: add the zoom inset
    when some run's motion hides (module notes); ``faint``: other paths drawn thin and grey;
    ``contours``: a ``function_contours`` result to reuse (``True``: compute it here);
    ``title``: the panel title (default: what the levels are). Returns the filled contour set
    (for a shared colour bar), None when the function is flat over the window.
    """
    found = function_contours(objective, lo, hi) if contours is True else contours
    filled = None
    if found:
        filled = fill_contours(ax, found)
        ax.set_title(f"Paths on contours\n({found[3].description})" if title is None else title)
        if colorbar:
            add_colorbar(ax, filled, found[3])
    else:
        ax.set_title("Paths (the function is flat over this window)" if title is None else title)

    mins = np.asarray(objective.minimizers, dtype=np.float64).reshape(-1, 2)
    mins = mins[inside(mins, lo, hi)]
    draw_minimizers(ax, mins, 17)
    for p in faint:
        pts, _ = exit_path(p, lo, hi) if p.diverged else (p.xy, None)
        ax.plot(*pts[:, :2].T, "-", lw=0.9, color=FAINT, alpha=0.55, zorder=2.2, gid="faint")
    for p in paths:
        if p.band is not None:
            draw_thin_paths(ax, p.band.paths[1 : MAX_THIN_PATHS + 1], lo, hi)
    for p in paths:
        draw_path(ax, p, lo, hi)
    draw_starts(ax, [*paths, *faint], 10, lo, hi)

    ax.set_xlim(lo[0], hi[0])
    ax.set_ylim(lo[1], hi[1])
    ax.set_aspect("equal", adjustable="box")
    x_name, y_name = axis_names(objective)
    ax.set_xlabel(x_name)
    ax.set_ylabel(y_name)
    if zoom:
        box = zoom_box(paths, lo, hi, objective.minimizers)
        if box is not None:
            draw_zoom(ax, objective, paths, faint, box, lo, hi)
    return filled


def draw_path(ax: Axes, p: RunPath, lo: np.ndarray, hi: np.ndarray, scale: float = 1.0) -> None:
    """One run: its line (style and marker shape), its end marker or its exit ``X``."""
    pts, exit_point = exit_path(p, lo, hi) if p.diverged else (p.xy[:, :2], None)
    every: int | tuple[float, float] = 1  # short paths: a dot per step shows the step sizes
    if len(pts) > MAX_MARKERS:
        every = (MARKER_SPACING * (p.index % 4) / 4, MARKER_SPACING)
    ax.plot(
        pts[:, 0],
        pts[:, 1],
        ls=p.linestyle,
        marker=p.marker,
        ms=3.2 * scale,
        markevery=every,
        lw=(2.0 if p.linestyle == ":" else 1.6) * scale,
        color=p.color,
        label=p.legend_label,
        alpha=0.75 if p.diverged else 1.0,
        zorder=3 if p.diverged else 4,  # converging runs on top of a blow-up
        gid="path",
    )
    if p.diverged:
        end = pts[-1] if exit_point is None else exit_point
        ax.plot(*end, marker="X", ms=13 * scale, color=p.color, mec="black", mew=1, zorder=7,
                gid="end", clip_on=False)  # fmt: skip
    else:
        size = 10.0 - 1.5 * (p.index % 3)  # later runs smaller: ends at one point all show
        ax.plot(*np.clip(pts[-1], lo, hi), marker=p.marker, ms=size * scale, color=p.color,
                mec="black", mew=1.2, zorder=9, gid="end")  # fmt: skip


def draw_starts(ax: Axes, paths: Sequence[RunPath], size: float, lo, hi) -> None:
    """One neutral marker per distinct start point (usually one for all the runs)."""
    starts = np.array([p.xy[0, :2] for p in paths if np.isfinite(p.xy[0, :2]).all()])
    if len(starts) == 0:
        return
    side = float(np.max(hi - lo))
    key = np.round(starts / (1e-9 * side)) if side > 0 else starts
    _, first = np.unique(key, axis=0, return_index=True)
    for s in starts[np.sort(first)]:
        ax.plot(*s, ms=size, mew=1.8, zorder=6, gid="start", **START_STYLE)


def draw_minimizers(ax: Axes, mins: np.ndarray, size: float) -> None:
    """The known global minimizers as gold stars."""
    if len(mins):
        ax.plot(mins[:, 0], mins[:, 1], ls="none", marker="*", ms=size, color="gold",
                mec="black", mew=0.9, zorder=8, gid="minimizer")  # fmt: skip


def add_colorbar(
    ax: Axes | Sequence[Axes], filled: QuadContourSet, levels: Levels, cax: Axes | None = None
) -> None:
    """A colour bar of the contour fill under ``ax`` (or in ``cax``): one equal slot per band
    of the fill (the levels are log-spaced, so equal slots are a log scale), ticks at up to
    ``COLORBAR_TICKS`` levels labelled with ``f - ref`` (the quantity the levels are
    log-spaced in), the scale named.

    It is drawn from the fill's own band colours on a plain linear scale: a colour bar of the
    contour set itself maps every tick through the levels in Python, which made each figure
    about 0.4 s slower to lay out.
    """
    axes = [ax] if isinstance(ax, Axes) else list(ax)
    fig = axes[0].figure
    colors = np.asarray(filled.get_facecolor())  # [bands, 4], one per band, in order
    bands, values = len(colors), levels.values
    if bands < 1:
        return
    slots = ScalarMappable(norm=Normalize(0, bands), cmap=ListedColormap(colors))
    if cax is not None:
        bar = fig.colorbar(slots, cax=cax)
    else:
        # below the map: a square map leaves room there, and a bar on its right would meet
        # the 3-D panel's z label
        bar = fig.colorbar(slots, ax=axes, location="bottom", shrink=0.8, pad=0.02,
                           fraction=0.05, aspect=35)  # fmt: skip
    offset = max(0, (bands - (len(values) - 1)) // 2)  # bands below the lowest level
    step = max(1, int(np.ceil(len(values) / COLORBAR_TICKS)))
    chosen = np.arange(0, len(values), step)
    bar.set_ticks(chosen + offset)
    bar.set_ticklabels([f"{values[i] - levels.ref:.2g}" for i in chosen])
    bar.minorticks_off()
    bar.ax.tick_params(labelsize=9)
    scale = "log-spaced in |f|" if levels.signed else "log-spaced"
    bar.set_label(f"{levels.quantity}  (levels {scale})")
    bar.ax.set_gid("colorbar")


def draw_zoom(
    ax: Axes,
    objective: Objective,
    paths: Sequence[RunPath],
    faint: Sequence[RunPath],
    box: tuple[np.ndarray, np.ndarray],
    lo: np.ndarray,
    hi: np.ndarray,
) -> Axes:
    """The zoom inset over ``box`` in the map's emptiest corner, and its rectangle on the map."""
    z_lo, z_hi = box
    inset = ax.inset_axes(_inset_bounds(paths, box, lo, hi))
    inset.set_gid("zoom")
    found = function_contours(objective, z_lo, z_hi, ZOOM_GRID, local=True)
    if found:
        fill_contours(inset, found, lines=0.4)
    draw_minimizers(inset, np.asarray(objective.minimizers, dtype=np.float64).reshape(-1, 2), 10)
    for p in faint:
        if not p.diverged:
            inset.plot(*p.xy[:, :2].T, "-", lw=0.7, color=FAINT, alpha=0.5, gid="faint")
    for p in paths:
        if p.diverged:
            continue
        n = max(2, len(p.xy) // 2)  # the second half: the zoom shows how the runs end
        tail = p.xy[-n:, :2]
        inset.plot(*tail.T, ls=p.linestyle, marker=p.marker, ms=3, lw=1.3, color=p.color,
                   zorder=4, gid="zoom_path")  # fmt: skip
        inset.plot(*tail[-1], marker=p.marker, ms=6, color=p.color, mec="black", mew=0.8,
                   zorder=9, gid="zoom_end")  # fmt: skip
    inset.set_xlim(z_lo[0], z_hi[0])
    inset.set_ylim(z_lo[1], z_hi[1])
    inset.set_aspect("equal", adjustable="box")
    inset.tick_params(labelsize=7, length=2, pad=1)
    inset.xaxis.set_major_locator(MaxNLocator(3))
    inset.yaxis.set_major_locator(MaxNLocator(3))
    for spine in inset.spines.values():
        spine.set_linewidth(1.2)
    factor = float(np.max(hi - lo) / np.max(z_hi - z_lo))
    inset.set_title(f"zoom ×{factor:,.0f}", fontsize=8, pad=2)
    indicator = ax.indicate_inset_zoom(inset, edgecolor="black", alpha=0.9, lw=1.0)
    indicator.set_gid("zoom_box")
    return inset


def _inset_bounds(
    paths: Sequence[RunPath], box: tuple[np.ndarray, np.ndarray], lo: np.ndarray, hi: np.ndarray
) -> list[float]:
    """``[x0, y0, w, h]`` in axes fraction: the corner (upper right, upper left, lower right,
    lower left, in that order of preference) holding the fewest path points and not covering
    the zoomed region itself. The inset keeps inside the map with room for its own tick
    labels (left and below it) and title (above it)."""
    size = INSET_SIZE
    left, right, below, above = 0.12, 1 - size - 0.02, 0.08, 1 - size - 0.07
    pts = np.concatenate([np.zeros((0, 2))] + [p.xy[:, :2] for p in paths])
    pts = pts[inside(pts, lo, hi)]
    frac = (pts - lo) / (hi - lo)
    z0, z1 = (box[0] - lo) / (hi - lo), (box[1] - lo) / (hi - lo)
    best, best_cost = [right, above, size, size], np.inf
    for x0, y0 in ((right, above), (left, above), (right, below), (left, below)):
        c0, c1 = np.array([x0 - 0.1, y0 - 0.07]), np.array([x0 + size, y0 + size + 0.07])
        covered = int(np.sum(np.all((frac >= c0) & (frac <= c1), axis=1)))
        overlaps = bool(np.all(z0 <= c1) and np.all(z1 >= c0))
        cost = covered + (10**9 if overlaps else 0)
        if cost < best_cost:
            best, best_cost = [float(x0), float(y0), size, size], cost
    return best


def draw_thin_paths(ax: Axes, paths: Sequence[RunPath], lo: np.ndarray, hi: np.ndarray) -> None:
    """A run's repeats: thin lines, a small neutral start, a small end (module notes)."""
    for p in paths:
        ax.plot(*p.xy.T, "-", lw=1.0, color=p.color, alpha=0.6, zorder=2.5, gid="repeat")
        ax.plot(*p.xy[0], ms=4, mew=1.0, zorder=2.6, gid="repeat_start", **START_STYLE)
        end = np.clip(p.xy[-1], lo, hi)
        mark = dict(marker="x", ms=5, mew=1.4) if p.diverged else dict(marker="o", ms=3.5, mew=0)
        ax.plot(*end, color=p.color, zorder=2.6, gid="repeat_end", **mark)
