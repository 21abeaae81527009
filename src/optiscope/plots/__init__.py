"""Figures drawn from Trajectories (they never run an optimizer).

- ``comparison_figure(runs, title, repeats, *, surface=None, small_multiples=None, zoom=True,
  theory=True, tol=1e-6)``: contour map (colour bar, zoom inset where motion hides), 3-D
  surface (where it helps) and loss curves (floor, theory's envelope) of several runs
  ``(label, trajectories, row)`` on one 2-D objective; one map per run from 5 runs on;
- ``loss_figure(runs, title, repeats, *, theory=True, tol=1e-6)``: loss curves only, for
  objectives of any dimension (data objectives with many features);
- ``save_figure(fig, path)``: write it (.png, .svg, .pdf, ...), creating folders, and close it.
"""

from optiscope.plots.compare import comparison_figure, save_figure
from optiscope.plots.loss_only import loss_figure

__all__ = ["comparison_figure", "loss_figure", "save_figure"]
