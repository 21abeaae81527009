"""The comparison figure: several runs on one objective, three panels side by side.

Contour map (where the paths go), 3-D surface (the seed note's view), loss against step (how
fast). One shared legend under the panels names each run and the markers. The figure is a
``matplotlib.figure.Figure`` on the Agg canvas: no pyplot, no global state, safe in threads and
on machines without a display.
"""

from __future__ import annotations

from collections.abc import Sequence
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
from optiscope.plots.contour import draw_contour
from optiscope.plots.loss import TOLERANCE, draw_loss
from optiscope.plots.surface import draw_surface

FIGSIZE = (18.0, 6.6)
DPI = 120
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
) -> Figure:
    """Contours, surface and loss curves of ``runs`` = ``[(label, trajectories, row), ...]``.

    All runs must be on the same 2-D objective. ``title`` defaults to the objective's name and
    formula. Reads the trajectories only; never runs an optimizer.

    ``repeats`` (optional, one entry per run: the rows of the run's repeats in its
    trajectories, its own row first, e.g. ``RunResult.rows``): a run with several is drawn
    with every repeat's path thin on the contour map and its median loss with a band over the
    repeats; the 3-D panel keeps the run's own (first) path. Without repeats the figure is the
    one of single runs.
    """
    objective, paths = extract(runs, repeats=repeats)
    with np.errstate(all="ignore"):
        fig = Figure(figsize=FIGSIZE, dpi=DPI, layout="constrained")
        FigureCanvasAgg(fig)
        lo, hi = view_box(objective, [*paths, *_repeat_paths(paths)])
        ax_map = fig.add_subplot(1, 3, 1)
        ax_3d = fig.add_subplot(1, 3, 2, projection="3d", computed_zorder=False)
        ax_loss = fig.add_subplot(1, 3, 3)
        draw_contour(ax_map, objective, paths, lo, hi)
        draw_surface(ax_3d, objective, paths, lo, hi)
        draw_loss(ax_loss, objective, paths)
        head = f"{objective.name}:  f(w) = {formula_text(objective)}"
        fig.suptitle(head if title is None else f"{title}\n{head}", fontsize=TITLE_SIZE)
        for ax in (ax_map, ax_3d, ax_loss):
            ax.title.set_fontsize(PANEL_TITLE_SIZE)
            ax.xaxis.label.set_fontsize(LABEL_SIZE)
            ax.yaxis.label.set_fontsize(LABEL_SIZE)
            ax.tick_params(labelsize=TICK_SIZE)
        ax_3d.zaxis.label.set_fontsize(LABEL_SIZE)
        _legend(fig, objective, paths, lo, hi)
    return fig


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


def _legend(fig: Figure, objective: Objective, paths: list[RunPath], lo, hi) -> None:
    """One legend under the panels: each run's line, then what the markers mean."""
    handles = [
        Line2D([], [], color=p.color, lw=2, marker="o", ms=4, label=p.legend_label) for p in paths
    ]
    key = dict(ls="none", color="0.35", mec="black")
    handles.append(Line2D([], [], marker="o", ms=8, mfc="white", mew=1.5, label="start", **key))
    if any(p.band is not None for p in paths):
        handles.append(
            Line2D([], [], color="0.35", lw=0.8, marker="o", ms=4, mfc="white", mec="0.35",
                   label="other starts / seeds (thin)")
        )  # fmt: skip
    if not all(p.diverged for p in paths):
        handles.append(Line2D([], [], marker="o", ms=8, label="end", **key))
    if any(p.diverged for p in paths):
        handles.append(
            Line2D([], [], marker="X", ms=10, label="last point before divergence", **key)
        )
    mins = np.asarray(objective.minimizers, dtype=np.float64).reshape(-1, 2)
    if inside(mins, lo, hi).any():
        handles.append(
            Line2D(
                [],
                [],
                ls="none",
                marker="*",
                ms=14,
                color="gold",
                mec="black",
                label="global minimum",
            )
        )
    if objective.f_min is not None:
        handles.append(
            Line2D([], [], ls=":", color="0.3", lw=1.3, label=f"tolerance {TOLERANCE:g}")
        )
    ncol = min(len(handles), 4 if len(paths) > 3 else len(handles))
    ncol = legend_columns([h.get_label() for h in handles], ncol, fig.get_figwidth())
    fig.legend(
        handles=handles, loc="outside lower center", ncol=ncol, frameon=False, fontsize=LEGEND_SIZE
    )


def legend_columns(labels: Sequence[str], most: int, width_inches: float) -> int:
    """The most columns (at most ``most``) whose legend fits the figure's width.

    Matplotlib fills a legend's columns top to bottom, each as wide as its widest entry; an
    entry is estimated at its label's length in characters (0.55 em each, a rough average)
    plus the handle and the gaps (5 em).
    """
    room = 0.96 * width_inches * 72.0  # points
    for ncol in range(max(1, most), 1, -1):
        rows = -(-len(labels) // ncol)
        columns = [labels[i : i + rows] for i in range(0, len(labels), rows)]
        widths = [max(len(t) for t in column) * 0.55 + 5.0 for column in columns]
        if sum(widths) * LEGEND_SIZE <= room:
            return ncol
    return 1
