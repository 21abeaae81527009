"""The comparison figure: several runs on one objective, panels side by side.

Up to 4 runs: a contour map (where the paths go; with a colour bar and, when a run's motion is
too small to see, a zoom inset: see ``contour``), the 3-D surface (the seed note's view; only
where it helps: see ``surface.surface_helps``) and the loss against step (how fast; with the
theory's envelope where it applies: see ``loss``). From 5 runs on, **small multiples**: one
map per run, in its colour, the other runs faint grey, all with the same window, contours and
colour bar, then the loss panel with every run. Each run has a colour, a line style and a
marker shape, so identical paths are both seen. One shared legend under the panels names each
run and the markers. The figure is a ``matplotlib.figure.Figure`` on the Agg canvas: no
pyplot, no global state, safe in threads and on machines without a display.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.mathtext import MathTextParser

from optiscope.objectives.base import Objective
from optiscope.output import figure_path, render_figure, write_atomic
from optiscope.plots._grid import inside, view_box
from optiscope.plots._runs import Run, RunPath, extract
from optiscope.plots.contour import (
    START_STYLE,
    add_colorbar,
    draw_contour,
    function_contours,
)
from optiscope.plots.loss import ENVELOPE_STYLE, TOLERANCE, draw_loss
from optiscope.plots.surface import draw_surface, surface_helps

FIGSIZE = (18.0, 6.6)  # map, 3-D panel, loss
FIGSIZE_2D = (13.5, 6.6)  # map and loss (no 3-D panel)
DPI = 120
SMALL_MULTIPLES_FROM = 5  # this many runs or more: one map per run
MULTIPLE_SIDE = 3.4  # inches per small map
MULTIPLE_GRID = 160  # the small maps' shared contour grid
COLORBAR_WIDTH, GAP_WIDTH, LOSS_WIDTH, SURFACE_WIDTH = (
    0.25,
    0.5,
    7.5,
    6.5,
)  # inches, beside the maps
TITLE_SIZE, PANEL_TITLE_SIZE, LABEL_SIZE, TICK_SIZE, LEGEND_SIZE = 15, 12.5, 12, 10.5, 11.5


def formula_text(objective: Objective) -> str:
    """The objective as mathtext (``$...$``) when its latex parses, else its plain formula."""
    tex = (objective.latex or "").strip()
    if tex:
        tex = tex if tex.startswith("$") else f"${tex}$"
        try:
            MathTextParser("path").parse(tex)
        except (ValueError, RecursionError):  # mathtext recurses per nesting level
            tex = ""
    return tex or objective.formula or objective.name


def comparison_figure(
    runs: Sequence[Run],
    title: str | None = None,
    repeats: Sequence[Sequence[int]] | None = None,
    *,
    surface: bool | None = None,
    small_multiples: bool | None = None,
    zoom: bool = True,
    theory: bool = True,
    tol: float = TOLERANCE,
) -> Figure:
    """Contours, surface and loss curves of ``runs`` = ``[(label, trajectories, row), ...]``.

    All runs must be on the same 2-D objective. ``title`` defaults to the objective's name and
    formula. Reads the trajectories only; never runs an optimizer.

    ``repeats`` (optional, one entry per run: the rows of the run's repeats in its
    trajectories, its own row first, e.g. ``RunResult.rows``): a run with several is drawn
    with every repeat's path thin on the contour map and its median loss with a band over the
    repeats; the 3-D panel keeps the run's own (first) path. Without repeats the figure is the
    one of single runs.

    Options (module notes): ``surface`` forces the 3-D panel on or off (None: the rule of
    ``surface.surface_helps``, at most 3 runs on a smooth function); ``small_multiples`` forces
    one map per run (None: beyond ``SMALL_MULTIPLES_FROM - 1`` = 4 runs); ``zoom`` allows the
    zoom inset; ``theory`` draws the theory's envelope on the loss panel; ``tol`` is the
    tolerance line, the loss axis stops two decades under it.
    """
    objective, paths = extract(runs, repeats=repeats)
    with np.errstate(all="ignore"):
        lo, hi = view_box(objective, [*paths, *_repeat_paths(paths)])
        many = len(paths) >= SMALL_MULTIPLES_FROM if small_multiples is None else small_multiples
        with_3d = surface_helps(objective, len(paths), lo, hi, surface)
        if many:
            fig, maps, ax_3d, ax_loss = _small_multiples(objective, paths, lo, hi, with_3d, zoom)
        else:
            fig, maps, ax_3d, ax_loss = _side_by_side(objective, paths, lo, hi, with_3d, zoom)
        if ax_3d is not None:
            draw_surface(ax_3d, objective, paths, lo, hi)
        draw_loss(ax_loss, objective, paths, tol=tol, theory=theory)
        head = f"{objective.name}:  f(w) = {formula_text(objective)}"
        fig.suptitle(head if title is None else f"{title}\n{head}", fontsize=TITLE_SIZE)
        for ax in [*maps, ax_loss, *([ax_3d] if ax_3d is not None else [])]:
            ax.title.set_fontsize(PANEL_TITLE_SIZE if ax in (ax_loss, ax_3d) or not many else 11)
            ax.xaxis.label.set_fontsize(LABEL_SIZE)
            ax.yaxis.label.set_fontsize(LABEL_SIZE)
            ax.tick_params(labelsize=TICK_SIZE)
        if ax_3d is not None:
            ax_3d.zaxis.label.set_fontsize(LABEL_SIZE)
        _legend(fig, objective, paths, lo, hi, ax_loss, tol)
    return fig


def _side_by_side(objective: Objective, paths: list[RunPath], lo, hi, with_3d: bool, zoom: bool):
    """Up to 4 runs: one map (with its colour bar), the 3-D panel when drawn, the loss."""
    width = FIGSIZE[0] if with_3d else FIGSIZE_2D[0]
    fig = Figure(figsize=(width, FIGSIZE[1]), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    panels = 3 if with_3d else 2
    ax_map = fig.add_subplot(1, panels, 1)
    ax_3d = None
    if with_3d:
        ax_3d = fig.add_subplot(1, panels, 2, projection="3d", computed_zorder=False)
    ax_loss = fig.add_subplot(1, panels, panels)
    draw_contour(ax_map, objective, paths, lo, hi, zoom=zoom)
    ax_map.set_gid("map")
    return fig, [ax_map], ax_3d, ax_loss


def multiples_grid(runs: int) -> tuple[int, int]:
    """``(rows, columns)`` of the small maps: one row up to 4 runs (when forced), 2 rows up to
    10 runs, then rows of 5."""
    rows = 1 if runs <= 4 else 2 if runs <= 10 else -(-runs // 5)
    return rows, -(-runs // rows)


def _small_multiples(objective: Objective, paths: list[RunPath], lo, hi, with_3d: bool, zoom: bool):
    """One map per run (the others faint grey, shared window and contours, one colour bar),
    then the 3-D panel when drawn and the loss panel with every run."""
    rows, cols = multiples_grid(len(paths))
    side = MULTIPLE_SIDE
    extra = [COLORBAR_WIDTH, GAP_WIDTH, LOSS_WIDTH] + ([SURFACE_WIDTH] if with_3d else [])
    width = cols * side + sum(extra) + 1.2
    fig = Figure(figsize=(width, rows * side + 2.0), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    grid = fig.add_gridspec(rows, cols + len(extra), width_ratios=[side] * cols + extra)
    found = function_contours(objective, lo, hi, MULTIPLE_GRID)
    maps, filled = [], None
    for i, p in enumerate(paths):
        ax = fig.add_subplot(grid[i // cols, i % cols])
        others = [q for q in paths if q is not p]
        alone = replace(p, index=0)  # alone in its map: the full-size end marker
        filled = draw_contour(
            ax, objective, [alone], lo, hi, colorbar=False, zoom=zoom, faint=others,
            contours=found, title=p.legend_label,
        )  # fmt: skip
        ax.title.set_color(p.color)
        ax.set_gid("map")
        if i // cols != rows - 1 and i + cols < len(paths):
            ax.set_xlabel("")
            ax.tick_params(labelbottom=False)
        if i % cols:
            ax.set_ylabel("")
            ax.tick_params(labelleft=False)
        maps.append(ax)
    if filled is not None and found:
        add_colorbar(maps, filled, found[3], cax=fig.add_subplot(grid[:, cols]))
    ax_3d = None
    if with_3d:
        ax_3d = fig.add_subplot(grid[:, cols + 3], projection="3d", computed_zorder=False)
    ax_loss = fig.add_subplot(grid[:, cols + 2])  # column cols + 1: an empty gap
    return fig, maps, ax_3d, ax_loss


def _repeat_paths(paths: Sequence[RunPath]) -> list[RunPath]:
    """Every repeat's path of the runs that have repeats (they widen the window too)."""
    return [r for p in paths if p.band is not None for r in p.band.paths]


def save_figure(fig: Figure, path: str | Path) -> Path:
    """Write ``fig`` to ``path`` whole or not at all, and close it; return the path written.

    The format comes from the suffix (none means ``.png``; see ``output.figure_path`` for the
    formats and the refusals). The figure is drawn in memory first, then written atomically
    (``output.write_atomic``), so a failed write never leaves a partial file. Parent folders are
    created.
    """
    target, fmt = figure_path(path)
    try:
        data = render_figure(fig, fmt, DPI)
    finally:
        _close(fig)
    return write_atomic(target, data, "figure")


def _close(fig: Figure) -> None:
    """Release the figure: through pyplot if pyplot manages it, else by clearing it."""
    if getattr(fig.canvas, "manager", None) is not None:
        from matplotlib import pyplot

        pyplot.close(fig)
    else:
        fig.clear()


def _legend(fig: Figure, objective: Objective, paths: list[RunPath], lo, hi, ax_loss, tol) -> None:
    """One legend under the panels: each run's line, then what the markers mean."""
    handles = [
        Line2D([], [], color=p.color, lw=2, ls=p.linestyle, marker=p.marker, ms=5,
               label=p.legend_label)
        for p in paths
    ]  # fmt: skip
    key = dict(ls="none", color="0.35", mec="black")
    handles.append(Line2D([], [], ms=9, mew=1.5, label="start", **START_STYLE))
    if any(p.band is not None for p in paths):
        handles.append(
            Line2D([], [], color="0.35", lw=0.8, marker="o", ms=4, mfc="white", mec="black",
                   label="other starts / seeds (thin)")
        )  # fmt: skip
    if not all(p.diverged for p in paths):
        handles.append(Line2D([], [], marker="o", ms=8, label="end", **key))
    if any(p.diverged for p in paths):
        handles.append(
            Line2D([], [], marker="X", ms=10, label="where it left the window / blew up", **key)
        )
    handles += reference_handles(objective, lo, hi, tol)
    if any(line.get_gid() == "envelope" for line in ax_loss.get_lines()):
        style = {k: v for k, v in ENVELOPE_STYLE.items() if k != "alpha"}
        handles.append(
            Line2D([], [], color="0.3", label="theory: C·rate^(2k), rate per step", **style)
        )
    ncol = min(len(handles), 4 if len(paths) > 3 else len(handles))
    ncol = legend_columns([h.get_label() for h in handles], ncol, fig.get_figwidth())
    fig.legend(
        handles=handles, loc="outside lower center", ncol=ncol, frameon=False, fontsize=LEGEND_SIZE
    )


def reference_handles(objective: Objective, lo, hi, tol: float) -> list[Line2D]:
    """Legend entries of what every map and loss panel shares: the gold star when a known
    global minimizer is in the window ``lo``..``hi``, the dotted tolerance line when f_min is
    known (the animation's legend uses them too)."""
    handles = []
    mins = np.asarray(objective.minimizers, dtype=np.float64).reshape(-1, 2)
    if inside(mins, lo, hi).any():
        handles.append(
            Line2D([], [], ls="none", marker="*", ms=14, color="gold", mec="black",
                   label="global minimum")
        )  # fmt: skip
    if objective.f_min is not None:
        handles.append(Line2D([], [], ls=":", color="0.3", lw=1.3, label=f"tolerance {tol:g}"))
    return handles


def legend_columns(
    labels: Sequence[str], most: int, width_inches: float, fontsize: float = LEGEND_SIZE
) -> int:
    """The most columns (at most ``most``) whose legend fits the figure's width.

    Matplotlib splits ``n`` entries into ``ncol`` columns as evenly as it can, the first
    ``n % ncol`` one entry longer, each column as wide as its widest entry; an entry is
    estimated at its label's length in characters (0.55 em each, a rough average) plus the
    handle and the gaps (5 em).
    """
    room = 0.96 * width_inches * 72.0  # points
    for ncol in range(max(1, most), 1, -1):
        sizes = [len(labels) // ncol + (1 if i < len(labels) % ncol else 0) for i in range(ncol)]
        bounds = np.cumsum([0, *sizes])
        columns = [labels[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True) if b > a]
        widths = [max(len(t) for t in column) * 0.55 + 5.0 for column in columns]
        if sum(widths) * fontsize <= room:
            return ncol
    return 1
