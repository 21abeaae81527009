"""The figure for objectives with more than two parameters: loss curves only.

A data objective with all its features (``linreg:features=all``: 11 parameters) has no contour
map or surface to draw; what is left is the loss of the full objective against the step (the
gap ``f - f_min`` on a log axis when the minimum is known), one line per run, drawn by the same
panel code as the comparison figure's third panel.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from optiscope.plots._runs import Run, extract
from optiscope.plots.compare import DPI, LEGEND_SIZE, TITLE_SIZE
from optiscope.plots.loss import TOLERANCE, draw_loss

FIGSIZE = (10.0, 6.8)


def loss_figure(
    runs: Sequence[Run],
    title: str | None = None,
    repeats: Sequence[Sequence[int]] | None = None,
    *,
    theory: bool = True,
    tol: float = TOLERANCE,
) -> Figure:
    """Loss (gap) against step of ``runs`` = ``[(label, trajectories, row), ...]``, any dimension.

    ``title`` defaults to the objective's name and dimension. Reads the trajectories only.
    ``repeats``: as in ``comparison_figure`` (a median line and a band per run with several);
    ``theory`` and ``tol``: as there (the envelope applies to 2-D objectives only).
    """
    objective, paths = extract(runs, any_dim=True, repeats=repeats)
    with np.errstate(all="ignore"):
        fig = Figure(figsize=FIGSIZE, dpi=DPI, layout="constrained")
        FigureCanvasAgg(fig)
        ax = fig.add_subplot(1, 1, 1)
        draw_loss(ax, objective, paths, tol=tol, theory=theory)
        head = f"{objective.name}\n{objective.dim} parameters: the loss of the full objective"
        fig.suptitle(head if title is None else f"{title}\n{head}", fontsize=TITLE_SIZE - 2)
        ax.legend(loc="best", fontsize=LEGEND_SIZE, frameon=False)
    return fig
