"""Figures drawn from Trajectories (they never run an optimizer).

- ``comparison_figure(runs, title)``: contour map, 3-D surface and loss curves of several runs
  ``(label, trajectories, row)`` on one 2-D objective;
- ``save_figure(fig, path)``: write it (.png, .svg, .pdf, ...), creating folders, and close it.
"""

from optiscope.plots.compare import comparison_figure, save_figure

__all__ = ["comparison_figure", "save_figure"]
