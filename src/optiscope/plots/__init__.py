"""Figures drawn from Trajectories (they never run an optimizer).

- ``comparison_figure(runs, title)``: contour map, 3-D surface and loss curves of several runs
  ``(label, trajectories, row)`` on one 2-D objective;
- ``loss_figure(runs, title)``: loss curves only, for objectives of any dimension (data
  objectives with many features);
- ``save_figure(fig, path)``: write it (.png, .svg, .pdf, ...), creating folders, and close it.
"""

from optiscope.plots.compare import comparison_figure, save_figure
from optiscope.plots.loss_only import loss_figure

__all__ = ["comparison_figure", "loss_figure", "save_figure"]
