"""The report's interactive 3-D view: the function's surface with every path drawn on it.

A Plotly figure as plain JSON-ready data (``{"data": [...], "layout": {...}}``), drawn in the
page by the plotly.js of the installed plotly package (inlined once; see ``report.page``).

- The surface is ``f`` on a ``GRID x GRID`` grid over the comparison figure's window
  (``plots._grid.view_box``: the function's plot box grown to hold the paths).
- Heights follow the static figure's 3-D panel (``plots.surface.height_map``): ``f`` itself,
  or ``log10(f - f_min)`` when a few steep corners dominate the range (Rosenbrock), or ``f``
  cut at a quantile; the z axis and the title say which. Hovering shows ``f`` itself.
- Each path is drawn at the height of ``f(x_k)`` (lifted by ``LIFT`` of the height range so the
  surface does not hide it), up to its last finite point inside the window, with at most
  ``MAX_POINTS`` points, its start an open circle and its end a large dot; the known
  minimizers in the window are gold diamonds.
- Text (the function's name, run labels) is HTML-escaped: Plotly reads a few tags in labels.
- Numbers are rounded to 6 significant digits (the page carries them as text); non-finite
  values become null (a gap).
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from typing import Any

import numpy as np
from matplotlib import colormaps
from matplotlib.colors import to_hex

from optiscope.experiments import RunResult
from optiscope.objectives import Objective

GRID = 100
MAX_POINTS = 1500
CAMERA_EYE = {"x": -1.0, "y": -1.3, "z": 1.7}  # from above, as the static 3-D panel looks
LIFT = 0.01
START_SIZE, DOT_SIZE, END_SIZE = (
    8,
    2.5,
    7,
)  # marker sizes: start (open circle), steps, end  # paths float this share of the height range above the surface


def _rounded(values: np.ndarray) -> list[Any]:
    """Nested lists of floats to 6 significant digits; non-finite values -> None."""
    out = np.asarray(values, dtype=np.float64)
    flat = [float(f"{v:.6g}") if np.isfinite(v) else None for v in out.ravel()]
    if out.ndim == 1:
        return flat
    width = out.shape[-1]
    return [flat[i : i + width] for i in range(0, len(flat), width)]


def _path(result: RunResult, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(xy [n, 2], f [n])``: the run's points up to its last finite one inside the window."""
    traj, b = result.trajectories, result.row
    xy = np.asarray(traj.positions[:, b, :2], dtype=np.float64)
    f = np.asarray(traj.losses[:, b], dtype=np.float64)
    with np.errstate(invalid="ignore"):
        good = np.isfinite(xy).all(axis=1) & np.isfinite(f) & ((xy >= lo) & (xy <= hi)).all(axis=1)
    stop = len(good) if good.all() else max(int(np.argmin(good)), 1)
    keep = np.unique(np.linspace(0, stop - 1, min(stop, MAX_POINTS)).round().astype(int))
    return xy[keep], f[keep]


def _heights(objective: Objective, Z: np.ndarray) -> tuple[Any, str, str]:
    """The static figure's height rule (``plots.surface.height_map``), its axis label and a
    note for the title."""
    from optiscope.plots.surface import height_map

    height = height_map(Z, objective.f_min)
    if height.log_ref is not None:
        what = "f - f_min" if objective.f_min is not None else "f - min f"
        return height, f"log10({what})", f"height log10({what}) (f has a huge range)"
    if height.clipped:
        return height, "f", f"surface cut at f = {height.high:.4g}"
    return height, "f", "height f"


def surface_figure(objective: Objective, results: Sequence[RunResult]) -> dict[str, Any]:
    """The Plotly figure (data and layout) of ``results`` on the 2-D ``objective``."""
    from optiscope.plots._grid import view_box
    from optiscope.plots._runs import extract

    runs = [(r.label, r.trajectories, r.row) for r in results]
    _, paths = extract(runs)
    lo, hi = (np.asarray(v, dtype=np.float64) for v in view_box(objective, paths))
    xs, ys = np.linspace(lo[0], hi[0], GRID), np.linspace(lo[1], hi[1], GRID)
    X, Y = np.meshgrid(xs, ys)
    with np.errstate(all="ignore"):
        Z = np.asarray(objective.value(np.column_stack([X.ravel(), Y.ravel()])), np.float64)
    Z = Z.reshape(X.shape)
    drawn = [_path(r, lo, hi) for r in results]
    height, label, note = _heights(objective, Z)
    lift = LIFT * max(height.high - height.low, 1e-12)
    names = _axis_names(objective)
    colors = colormaps["tab10" if len(results) <= 10 else "tab20"]
    data: list[dict[str, Any]] = [
        {
            "type": "surface",
            "x": _rounded(xs),
            "y": _rounded(ys),
            "z": _rounded(height(Z)),
            "colorscale": "Viridis",
            "opacity": 0.75,
            "showscale": True,
            "colorbar": {"title": {"text": label}, "len": 0.6},
            "name": "f",
            "customdata": _rounded(Z),
            "hovertemplate": f"{names[0]} %{{x:.4g}}<br>{names[1]} %{{y:.4g}}<br>"
            "f %{customdata:.4g}<extra></extra>",
        }
    ]
    for i, (result, (xy, f)) in enumerate(zip(results, drawn, strict=True)):
        color = to_hex(colors(i % colors.N))
        data.append(
            {
                "type": "scatter3d",
                "mode": "lines+markers",
                "name": escape(result.label),
                "x": _rounded(xy[:, 0]),
                "y": _rounded(xy[:, 1]),
                "z": _rounded(height(f) + lift),
                "customdata": _rounded(f),
                "line": {"color": color, "width": 6},
                "marker": {
                    "color": color,
                    "size": [START_SIZE] + [DOT_SIZE] * (len(f) - 2) + [END_SIZE],
                    "symbol": ["circle-open"] + ["circle"] * (len(f) - 1),
                },
                "hovertemplate": f"{names[0]} %{{x:.4g}}<br>{names[1]} %{{y:.4g}}<br>"
                "f %{customdata:.4g}",
            }
        )
    data += _minimizers(objective, height, lo, hi, lift)
    return {
        "data": data,
        "layout": {
            "title": {
                "text": f"{escape(objective.name)}: {note}; drag to turn, scroll to zoom",
                "font": {"size": 14},
            },
            "height": 620,
            "margin": {"l": 0, "r": 0, "t": 50, "b": 0},
            "legend": {"orientation": "h", "y": -0.02},
            "scene": {
                "xaxis": {"title": {"text": names[0]}},
                "yaxis": {"title": {"text": names[1]}},
                "zaxis": {"title": {"text": label}},
                "aspectmode": "manual",
                "aspectratio": {"x": 1.2, "y": 1.2, "z": 0.6},
                "camera": {"eye": CAMERA_EYE},
            },
        },
    }


def _minimizers(objective: Objective, height, lo, hi, lift: float) -> list[dict[str, Any]]:
    """The known minimizers inside the window as gold diamonds (none: an empty list)."""
    points = np.asarray(objective.minimizers, dtype=np.float64).reshape(-1, objective.dim)
    if objective.f_min is None or points.shape[0] == 0:
        return []
    xy = points[:, :2]
    xy = xy[np.isfinite(xy).all(axis=1) & ((xy >= lo) & (xy <= hi)).all(axis=1)]
    if xy.shape[0] == 0:
        return []
    z = height(np.full(xy.shape[0], float(objective.f_min))) + lift
    return [
        {
            "type": "scatter3d",
            "mode": "markers",
            "name": "minimum",
            "x": _rounded(xy[:, 0]),
            "y": _rounded(xy[:, 1]),
            "z": _rounded(z),
            "marker": {"color": "gold", "size": 7, "symbol": "diamond", "line": {"width": 1}},
            "hovertemplate": f"minimum f = {objective.f_min:.6g}<extra></extra>",
        }
    ]


def _axis_names(objective: Objective) -> list[str]:
    """Plain names of the first two parameters (``w1``, ``w2`` or a data objective's)."""
    from optiscope.plots.labels import parameter_names

    return parameter_names(objective)[:2]
