"""Maps of a sweep: one metric over the swept hyperparameters, and basin maps over start points.

Reads the table ``optiscope.sweep`` returns (one row per setting and start; ``df.attrs``:
``function``, ``axes`` = ``[{"name", "values", "log"}, ...]``, ``steps``, ``tol``, and
``starts`` when start points were swept); never runs an optimizer.

- **The map**: the metric as coloured cells over the first two swept hyperparameters (cell
  edges halfway between the swept values, in log space on a log axis), a colour bar naming the
  metric and its unit. Cells where the run diverged (``diverged_at`` not NA) are one red,
  whatever the metric; cells where the metric is undefined (NaN: never within tolerance, no
  rate to fit ...) show the hatched grey background; cells not run (a sweep stopped early)
  are white. A star marks the best measured setting (lowest for steps, gaps, losses, rates;
  for metrics with no better side, the best by steps to tolerance, then final gap).
- **Theory**: on a function that is exactly quadratic, for sgd/momentum/nesterov over
  ``lr x momentum``, the stability boundary, the iso-rate curves and the optimum of the
  linear theory (``_sweep_theory``); over ``lr`` alone, the predicted rate and the bound.
- **More axes**: one panel per value of the third axis (at most ``MAX_PANELS``, evenly chosen,
  always including the best setting's), the axes beyond the third held at the best setting's
  values (a slice through it). One axis: the metric against it as a line.
- **Samples** (random or Sobol settings, not a grid): one dot per setting over the first two
  axes.
- **Basins**: when start points were swept (``start_w1 x start_w2``), a second figure (the only
  one when no hyperparameter was swept) colours each start by the known minimizer its run
  reached (column ``minimum``: a qualitative colour per minimizer, grey for none, red for
  diverged) over the function's contour lines, next to the metric over the same starts. With
  hyperparameters swept too, it shows the best setting's starts.

Several starts per setting: the hyperparameter map shows per setting the median of the metric
over the starts that did not diverge, and calls the setting diverged when more than half of its
starts did.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import BoundaryNorm, FuncNorm, ListedColormap, LogNorm, Normalize
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter

from optiscope.errors import OptiscopeError
from optiscope.objectives import get_objective
from optiscope.objectives.base import Objective
from optiscope.output import figure_path
from optiscope.plots import _sweep_theory as theory
from optiscope.plots.compare import DPI, save_figure
from optiscope.plots.contour import function_contours

DIVERGED_COLOR = "#d62728"
UNDEFINED_COLOR = "0.86"
UNDEFINED_HATCH = "///"
HATCH_COLOR = "0.62"
NOT_RUN_COLOR = "white"
NONE_COLOR = "0.55"  # basin map: a start that reached no known minimizer
MAX_PANELS = 6
CONTOUR_GRID = 200
LOG_SPAN = 30.0  # a positive metric spanning more than this factor gets a log colour scale
ZERO_FLOOR = 1e-3  # on a log scale, zeros are drawn at this fraction of the smallest positive
TITLE_SIZE, LABEL_SIZE, LEGEND_SIZE = 13, 12, 10
SHORT_DIGITS = 6  # a swept value with at most this many significant digits is printed exactly
RATE_TICKS = (0.0, 0.5, 0.8, 0.9, 0.95, 0.99, 0.999, 0.9999)
RATE_CLOSEST = 1 - 1e-6  # the rate scale ends here: -log10(1 - rate) is at most 6
FIXED_WIDTH = 110
LEGEND_WIDTH = 64  # characters per line of a legend entry  # characters per line of the "other settings" line of the title
# a basin palette without red (diverged) and grey (none): tab10 then the lighter tab20 shades
_TAB10 = [colormaps["tab10"](i) for i in (0, 1, 2, 4, 5, 6, 8, 9)]
_TAB20_LIGHT = [colormaps["tab20"](i) for i in (1, 3, 5, 9, 11, 13, 17, 19)]
BASIN_COLORS = _TAB10 + _TAB20_LIGHT


@dataclass(frozen=True)
class MetricInfo:
    """How a metric is named and coloured: ``words`` and ``unit`` for the colour bar,
    ``better`` (``"lower"``, ``"higher"`` or None), ``log`` (a log colour scale suits it when
    its values are positive and span more than ``LOG_SPAN``)."""

    words: str
    unit: str
    better: str | None
    log: bool


METRICS: dict[str, MetricInfo] = {
    "loss_final": MetricInfo("final loss f(w)", "value of f", "lower", True),
    "gap_final": MetricInfo("final gap f(w) − f_min", "value of f", "lower", True),
    "distance_final": MetricInfo("final distance to the minimizer", "units of w", "lower", True),
    "steps_to_tol": MetricInfo("steps until the gap stays ≤ {tol}", "steps", "lower", True),
    "first_to_tol": MetricInfo("first step with the gap ≤ {tol}", "steps", "lower", True),
    "diverged_at": MetricInfo("step at which the run diverged", "step", None, True),
    "zigzag": MetricInfo("zig-zag: share of moves that reverse direction", "fraction", None, False),
    "overshoot": MetricInfo(
        "overshoot past the minimizer", "fraction of the start offset", None, False
    ),
    "rate": MetricInfo(
        "measured rate: the distance shrinks by this factor per step",
        "factor per step",
        "lower",
        False,
    ),
    "auc": MetricInfo(
        "auc: mean log10 gap per step (floor {tol} / 100)", "log10 of the gap", "lower", False
    ),
    "cycle_period": MetricInfo("period of the limit cycle", "steps", None, False),
    "cycle_amplitude": MetricInfo("amplitude of the limit cycle", "units of w", None, True),
    "path_length": MetricInfo("length of the path", "units of w", None, True),
    "efficiency": MetricInfo(
        "efficiency: straight distance / path length", "fraction", "higher", False
    ),
    "evaluations": MetricInfo("gradient evaluations", "count", "lower", True),
    "minimum": MetricInfo("known minimizer reached", "index", None, False),
}
UNDEFINED_PHRASE = {
    "steps_to_tol": "never stayed within tolerance",
    "first_to_tol": "never within tolerance",
    "rate": "no rate (cycle, stall, too short ...)",
    "diverged_at": "did not diverge",
    "cycle_period": "no limit cycle",
    "cycle_amplitude": "no limit cycle",
}


# --- reading the table --------------------------------------------------------------------


@dataclass(frozen=True)
class Axis:
    """One swept dimension: its ``name`` (a column), the swept ``values`` in order, ``log``."""

    name: str
    values: tuple
    log: bool

    @property
    def numeric(self) -> bool:
        return all(_is_number(v) for v in self.values)

    @property
    def positions(self) -> np.ndarray:
        """Where the values sit on the plot: the numbers themselves, or 0..n-1 for choices."""
        if self.numeric:
            return np.asarray(self.values, dtype=np.float64)
        return np.arange(len(self.values), dtype=np.float64)

    @property
    def scale_log(self) -> bool:
        return self.log and self.numeric and bool(np.all(self.positions > 0))

    def edges(self) -> np.ndarray:
        """Cell edges: halfway between neighbours (in log10 on a log axis), half a spacing
        beyond the ends."""
        p = np.log10(self.positions) if self.scale_log else self.positions
        mid = (p[1:] + p[:-1]) / 2
        e = np.concatenate([[p[0] - (mid[0] - p[0])], mid, [p[-1] + (p[-1] - mid[-1])]])
        return 10.0**e if self.scale_log else e

    def index_of(self, column: pd.Series) -> np.ndarray | None:
        """The index of each entry of ``column`` among the values; None if one is not there."""
        if self.numeric:
            col = pd.to_numeric(column, errors="coerce").to_numpy(dtype=np.float64)
            if not np.isfinite(col).all():
                return None
            unique, inverse = np.unique(col, return_inverse=True)
            pos = self.positions
            nearest = np.abs(unique[:, None] - pos[None, :]).argmin(axis=1)
            close = np.abs(pos[nearest] - unique) <= 1e-9 * np.maximum(1.0, np.abs(unique))
            return nearest[inverse] if close.all() else None
        keys = {_key(v): i for i, v in enumerate(self.values)}
        found = [keys.get(_key(v), -1) for v in column]
        return None if -1 in found else np.asarray(found, dtype=np.int64)

    @cached_property
    def digits(self) -> int:
        """Significant digits that tell every swept value apart (4 at least): 0.99999 must not
        print as 1 next to 0.9999."""
        numbers = [float(v) for v in self.values if _is_number(v)]
        for digits in range(4, 17):
            if len({f"{v:.{digits}g}" for v in numbers}) == len(numbers):
                return digits
        return 17

    def text(self, value: Any) -> str:
        """The value as typed when that is short (``0.99999``), else to ``digits`` digits."""
        if not _is_number(value):
            return str(value)
        for digits in range(1, SHORT_DIGITS + 1):
            if float(f"{value:.{digits}g}") == float(value):
                return f"{value:.{digits}g}"
        return f"{value:.{self.digits}g}"


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float | np.integer | np.floating) and not isinstance(
        v, bool | np.bool_
    )


def _key(v: Any) -> str:
    return str(v).strip().lower()


def swept_axes(df: pd.DataFrame) -> tuple[list[Axis], list[Axis]]:
    """``(hyperparameter axes, start axes)`` with at least two values each, from ``df.attrs``.

    Start axes are those named ``start_*``; when ``df.attrs["starts"]`` is set and no axis
    names them, the ``start_*`` columns with more than one value are the start axes.
    """
    axes: list[Axis] = []
    for entry in df.attrs.get("axes") or []:
        name = entry.get("name") if isinstance(entry, dict) else None
        if name not in df.columns:
            raise OptiscopeError(
                f"sweep table: axis {name!r} is not a column; columns: {', '.join(df.columns)}"
            )
        values = entry.get("values")
        if values is None or len(values) == 0:
            values = sorted(pd.unique(df[name]))
        values = tuple(dict.fromkeys(v.item() if hasattr(v, "item") else v for v in values))
        if len(values) >= 2:
            axes.append(Axis(name, values, bool(entry.get("log", False))))
    params = [a for a in axes if not a.name.startswith("start_")]
    starts = [a for a in axes if a.name.startswith("start_")]
    if not starts and df.attrs.get("starts") is not None:
        for name in (c for c in df.columns if c.startswith("start_")):
            values = tuple(float(v) for v in np.unique(df[name].to_numpy(dtype=np.float64)))
            if len(values) >= 2:
                starts.append(Axis(name, values, False))
    return params, starts


def _floats(column: pd.Series) -> np.ndarray:
    """A metric column as float64, NA and None as NaN."""
    return pd.to_numeric(column, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)


def _diverged(df: pd.DataFrame) -> np.ndarray:
    if "diverged_at" not in df.columns:
        return np.zeros(len(df), dtype=bool)
    d = _floats(df["diverged_at"])
    return np.isfinite(d) & (d >= 0)


def check_metric(df: pd.DataFrame, metric: str) -> MetricInfo:
    """The metric's description; OptiscopeError naming the valid metrics when unknown."""
    valid = [m for m in METRICS if m in df.columns]
    if metric not in valid:
        raise OptiscopeError(f"unknown metric {metric!r} for a map; valid: {', '.join(valid)}")
    return METRICS[metric]


def hyperparameter_columns(df: pd.DataFrame) -> list[str]:
    """The columns between ``optimizer`` and the first ``start_*`` column (the sweep's order)."""
    cols = list(df.columns)
    if "optimizer" not in cols:
        return []
    rest = cols[cols.index("optimizer") + 1 :]
    stop = next((i for i, c in enumerate(rest) if c.startswith("start_")), len(rest))
    return rest[:stop]


def settings_table(df: pd.DataFrame, axes: Sequence[Axis], metric: str, many: bool) -> pd.DataFrame:
    """One row per setting: the hyperparameters, ``_value`` (the metric), ``_diverged``, and
    the tie-breakers ``_gap``, ``_steps``.

    ``many`` (several starts per setting): the median over the starts that did not diverge
    (over those that did, for ``diverged_at``), diverged when more than half did.
    """
    div = _diverged(df)
    table = pd.DataFrame(
        {
            c: df[c].to_numpy()
            for c in dict.fromkeys(hyperparameter_columns(df) + [a.name for a in axes])
        }
    )
    table["_diverged"] = div
    use = div if metric == "diverged_at" else ~div
    for out, col in (("_value", metric), ("_gap", "gap_final"), ("_steps", "steps_to_tol")):
        values = _floats(df[col]) if col in df.columns else np.full(len(df), np.nan)
        table[out] = np.where(use if out == "_value" else ~div, values, np.nan)
    if not many or not axes:
        return table
    keys = [a.name for a in axes]
    groups = table.groupby(keys, sort=False, dropna=False)
    agg = {c: "first" for c in table.columns if c not in keys}
    agg.update({"_diverged": "mean", "_value": "median", "_gap": "median", "_steps": "median"})
    out = groups.agg(agg).reset_index()
    out["_diverged"] = out["_diverged"] > 0.5
    return out


def best_row(table: pd.DataFrame, info: MetricInfo) -> tuple[int | None, str]:
    """The position of the best setting in ``table`` and what it is best by.

    By the metric when it has a better side (ties broken by the lower final gap, then fewer
    steps); otherwise by steps to tolerance, then the final gap. Diverged settings never win.
    """
    ok = ~table["_diverged"].to_numpy()
    keys = [("_value", info.better)] if info.better else []
    keys += [("_steps", "lower"), ("_gap", "lower")]
    by = "the metric" if info.better else "steps to tol, then gap"
    order = np.arange(len(table))
    for col, side in reversed(keys):  # stable sorts, last key first
        v = table[col].to_numpy(dtype=np.float64)[order]
        v = -v if side == "higher" else v
        order = order[np.argsort(np.where(np.isnan(v), np.inf, v), kind="stable")]
    first = table[keys[0][0]].to_numpy(dtype=np.float64)
    candidates = [i for i in order if ok[i] and np.isfinite(first[i])]
    return (int(candidates[0]) if candidates else None), by


# --- colours ------------------------------------------------------------------------------


def color_scale(values: np.ndarray, info: MetricInfo, metric: str) -> tuple[Normalize, Any]:
    """The norm and colormap of a metric: log for positive values spanning more than
    ``LOG_SPAN`` when the metric suits it (zeros drawn at the floor), linear otherwise; the
    rate and fractions on ``[0, 1]`` when they fit; brighter is better when there is a better."""
    finite = values[np.isfinite(values)]
    cmap = colormaps["viridis_r" if info.better == "lower" else "viridis"]
    if finite.size == 0:
        return Normalize(0.0, 1.0), cmap
    lo, hi = float(finite.min()), float(finite.max())
    positive = finite[finite > 0]
    if info.log and lo >= 0 and positive.size and positive.max() > LOG_SPAN * positive.min():
        floor = float(positive.min()) * (ZERO_FLOOR if lo == 0 else 1.0)
        return LogNorm(floor, float(positive.max()), clip=True), cmap
    if metric == "rate" and lo >= 0 and hi <= 1 and hi > lo:
        return rate_norm(lo, hi), cmap
    if info.unit == "fraction" and lo >= 0 and hi <= 1:
        return Normalize(0.0, 1.0), cmap
    if hi == lo:
        return Normalize(lo - 0.5, hi + 0.5), cmap
    return Normalize(lo, hi), cmap


def _colorbar(fig, mappable, ax, ctx, shrink: float, values: np.ndarray | None = None) -> None:
    """The colour bar named by the metric and its unit. It points down (``extend``) when some
    values sit below its floor (zeros on a log scale); ticks are plain numbers on a log scale
    spanning under three decades (``40``, not ``4 x 10^1``)."""
    norm = mappable.norm
    values = ctx.table["_value"].to_numpy(dtype=np.float64) if values is None else values
    below = np.isfinite(values) & (values < norm.vmin)
    bar = fig.colorbar(mappable, ax=ax, shrink=shrink, extend="min" if below.any() else "neither")
    bar.set_label(
        _colorbar_label(ctx.metric, ctx.info, ctx.df.attrs.get("tol")), fontsize=LABEL_SIZE
    )
    if isinstance(norm, LogNorm) and norm.vmax < 1e3 * norm.vmin:
        bar.ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        bar.ax.yaxis.set_minor_formatter(FuncFormatter(_minor_label))
    if isinstance(norm, FuncNorm):
        ticks = [t for t in RATE_TICKS if norm.vmin <= t <= norm.vmax]
        bar.set_ticks(ticks, labels=[f"{t:g}" for t in ticks])
        bar.ax.minorticks_off()


def _minor_label(value: float, _pos: Any) -> str:
    """Minor log ticks: only 2, 3 and 5 times a power of ten are labelled."""
    mantissa = value / 10.0 ** math.floor(math.log10(value) + 1e-9)
    return (
        f"{value:g}"
        if round(mantissa) in (2, 3, 5) and abs(mantissa - round(mantissa)) < 1e-6
        else ""
    )


def rate_norm(lo: float, hi: float) -> FuncNorm:
    """Rates on the scale ``-log10(1 - rate)``: 0.9, 0.99, 0.999 equally far apart, as the
    steps they need per decade of progress are (10x apart); a linear scale would paint every
    rate above 0.9 the same."""

    def forward(r):
        return -np.log10(1.0 - np.clip(r, 0.0, RATE_CLOSEST))

    def inverse(t):
        return 1.0 - 10.0 ** (-np.asarray(t, dtype=np.float64))

    return FuncNorm((forward, inverse), vmin=lo, vmax=min(hi, RATE_CLOSEST), clip=True)


def _colorbar_label(metric: str, info: MetricInfo, tol: Any) -> str:
    words = info.words.format(tol=f"{float(tol):g}" if tol is not None else "tol")
    return f"{words}  ({info.unit})"


# --- the grid of one panel ----------------------------------------------------------------


@dataclass
class Cells:
    """A panel's cells, ``[ny, nx]``: the metric (NaN undefined), diverged, present (run)."""

    value: np.ndarray
    diverged: np.ndarray
    present: np.ndarray
    rows: np.ndarray  # the table row in each cell, -1 where none


def grid_cells(table: pd.DataFrame, x: Axis, y: Axis | None) -> Cells | None:
    """The panel's rows placed on the ``x`` (and ``y``) values; None when they are not a grid
    (a value off the axes, or two settings in one cell: sampled settings)."""
    ix = x.index_of(table[x.name])
    iy = np.zeros(len(table), dtype=np.int64) if y is None else y.index_of(table[y.name])
    if ix is None or iy is None:
        return None
    nx, ny = len(x.values), 1 if y is None else len(y.values)
    flat = iy * nx + ix
    if len(np.unique(flat)) < len(flat):
        return None
    rows = np.full(ny * nx, -1, dtype=np.int64)
    rows[flat] = np.arange(len(table))
    rows = rows.reshape(ny, nx)
    present = rows >= 0
    pick = np.where(present, rows, 0)
    value = np.where(present, table["_value"].to_numpy(dtype=np.float64)[pick], np.nan)
    diverged = present & table["_diverged"].to_numpy(dtype=bool)[pick]
    return Cells(value, diverged, present, rows)


def _style_axis(ax: Axes, axis: Axis, which: str) -> None:
    """Scale, limits, label and (for choices) tick labels of one side of a panel."""
    edges = axis.edges()
    set_scale, set_lim, set_label = (
        (ax.set_xscale, ax.set_xlim, ax.set_xlabel)
        if which == "x"
        else (ax.set_yscale, ax.set_ylim, ax.set_ylabel)
    )
    set_scale("log" if axis.scale_log else "linear")
    set_lim(edges[0], edges[-1])
    set_label(axis.name + ("  (log scale)" if axis.scale_log else ""), fontsize=LABEL_SIZE)
    if not axis.numeric:
        ticks = ax.set_xticks if which == "x" else ax.set_yticks
        ticks(axis.positions, [axis.text(v) for v in axis.values])


def draw_cells(
    ax: Axes,
    cells: Cells,
    x: Axis,
    y: Axis,
    norm: Normalize,
    cmap: Any,
    show_divergence: bool = True,
) -> None:
    """The metric's cells, the diverged ones in red, unrun ones white, undefined ones hatched
    grey (the axes background shows through the masked cells). gids: ``metric``,
    ``diverged``, ``not_run``."""
    ax.patch.set_facecolor(UNDEFINED_COLOR)
    ax.patch.set_hatch(UNDEFINED_HATCH)
    ax.patch.set_hatchcolor(HATCH_COLOR)
    X, Y = np.meshgrid(x.edges(), y.edges())
    hidden = cells.diverged if show_divergence else np.zeros_like(cells.diverged)
    shown = cells.present & ~hidden & np.isfinite(cells.value)
    ax.pcolormesh(
        X,
        Y,
        np.ma.array(cells.value, mask=~shown),
        cmap=cmap,
        norm=norm,
        gid="metric",
        rasterized=True,
    )
    for gid, mask, color in (
        ("diverged", hidden, DIVERGED_COLOR),
        ("not_run", ~cells.present, NOT_RUN_COLOR),
    ):
        if mask.any():
            ax.pcolormesh(
                X,
                Y,
                np.ma.array(np.zeros(mask.shape), mask=~mask),
                cmap=ListedColormap([color]),
                vmin=-1,
                vmax=1,
                gid=gid,
                rasterized=True,
            )
    _style_axis(ax, x, "x")
    _style_axis(ax, y, "y")


def mark_best(ax: Axes, x: Axis, y: Axis | None, row: pd.Series, value: float | None) -> Line2D:
    px = _position(x, row[x.name])
    py = 0.0 if y is None else _position(y, row[y.name])
    (mark,) = ax.plot(
        [px],
        [py if y is not None else value],
        ls="none",
        marker="*",
        ms=20,
        color="white",
        mec="black",
        mew=1.6,
        zorder=9,
        gid="best",
    )
    return mark


def _position(axis: Axis, value: Any) -> float:
    if axis.numeric:
        return float(value)
    keys = [_key(v) for v in axis.values]
    return float(keys.index(_key(value)))


# --- figures ------------------------------------------------------------------------------


@dataclass
class Context:
    """What every figure of one call shares."""

    df: pd.DataFrame
    metric: str
    info: MetricInfo
    objective: Objective | None
    optimizer: str
    table: pd.DataFrame
    best: int | None
    best_by: str


def sweep_figures(df: pd.DataFrame, metric: str) -> list[tuple[str, Figure]]:
    """The figures of a sweep as ``(suffix, figure)``: ``""`` for the metric's map, ``"_basins"``
    for the basin map when start points were swept besides hyperparameters (alone, the basin
    map is the main figure). Empty when nothing was swept (one setting, one start)."""
    if not isinstance(df, pd.DataFrame):
        raise OptiscopeError(f"a sweep map needs the sweep's DataFrame, got {type(df).__name__}")
    info = check_metric(df, metric)
    params, starts = swept_axes(df)
    ctx = _context(df, metric, info, params, many=bool(starts))
    figures: list[tuple[str, Figure]] = []
    if params:
        figures.append(("", _parameter_figure(ctx, params)))
    if len(starts) >= 2:
        suffix = "_basins" if params else ""
        figures.append((suffix, _basin_figure(ctx, params, starts[:2])))
    elif starts and not params:
        ctx = _context(df, metric, info, starts, many=False)
        figures.append(("", _parameter_figure(ctx, starts)))
    return figures


def draw_maps(df: pd.DataFrame, metric: str, path: str | Path) -> list[Path]:
    """Draw the maps of ``metric`` from a sweep table and write them; return the paths written.

    ``path`` is the main figure's file (format from its suffix, PNG without one); a basin map
    beside a hyperparameter map goes to ``<stem>_basins<suffix>``. Each file is written whole
    or not at all (``save_figure``). Nothing is written when nothing was swept.
    """
    target, _ = figure_path(path)
    written = []
    for suffix, fig in sweep_figures(df, metric):
        written.append(save_figure(fig, target.with_name(f"{target.stem}{suffix}{target.suffix}")))
    return written


def _context(df, metric, info, axes, many) -> Context:
    table = settings_table(df, axes, metric, many)
    best, by = best_row(table, info)
    optimizer = str(df["optimizer"].iloc[0]) if "optimizer" in df.columns and len(df) else ""
    return Context(df, metric, info, _objective(df), optimizer, table, best, by)


def _objective(df: pd.DataFrame) -> Objective | None:
    """The swept function rebuilt from its spec, or None when it cannot be (a data objective
    built in code): the figure then has no contours and no theory."""
    spec = df.attrs.get("function")
    if isinstance(spec, Objective):
        return spec
    try:
        return get_objective(str(spec)) if spec is not None else None
    except OptiscopeError:
        return None


def _new_figure(size: tuple[float, float]) -> Figure:
    fig = Figure(figsize=size, dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _title(ctx: Context, what: str, swept: Sequence[str]) -> str:
    """Three lines: optimizer, function, steps; what is drawn; the settings held fixed."""
    attrs = ctx.df.attrs
    head = f"{ctx.optimizer or 'optimizer'} optimizer on {attrs.get('function', '?')}"
    if attrs.get("steps") is not None:
        head += f": {attrs['steps']} steps"
    start = _single_start(ctx.df)
    if start:
        head += f" from {start}"
    lines = [head, what]
    fixed = []
    for col in hyperparameter_columns(ctx.df):
        if col in swept:
            continue
        values = pd.unique(ctx.df[col])
        if len(values) == 1 and not (isinstance(values[0], float) and math.isnan(values[0])):
            v = values[0]
            fixed.append(f"{col}={v:.4g}" if _is_number(v) else f"{col}={v}")
    if fixed:
        lines += textwrap.wrap("other settings: " + ", ".join(fixed), FIXED_WIDTH)
    return "\n".join(lines)


def _single_start(df: pd.DataFrame) -> str:
    """``"(1, 1)"`` when every row starts from the same point, else ``""``."""
    cols = [c for c in df.columns if c.startswith("start_")]
    if not cols or not len(df) or any(df[c].nunique() != 1 for c in cols):
        return ""
    return "(" + ", ".join(f"{float(df[c].iloc[0]):.4g}" for c in cols) + ")"


def _status_handles(cells: Sequence[Cells], metric: str, show_divergence: bool) -> list[Any]:
    """Legend patches for the diverged, undefined and not-run cells that appear."""
    handles = []
    if show_divergence and any(c.diverged.any() for c in cells):
        handles.append(Patch(facecolor=DIVERGED_COLOR, label="diverged"))
    undefined = any(
        (c.present & ~(c.diverged if show_divergence else False) & ~np.isfinite(c.value)).any()
        for c in cells
    )
    if undefined:
        handles.append(
            Patch(
                facecolor=UNDEFINED_COLOR,
                hatch=UNDEFINED_HATCH,
                edgecolor=HATCH_COLOR,
                label=UNDEFINED_PHRASE.get(metric, "metric undefined"),
            )
        )
    if any((~c.present).any() for c in cells):
        handles.append(Patch(facecolor=NOT_RUN_COLOR, edgecolor="0.5", label="not run"))
    return handles


def _best_text(ctx: Context, axes: Sequence[Axis]) -> str:
    row = ctx.table.iloc[ctx.best]
    where = ", ".join(f"{a.name} {a.text(row[a.name])}" for a in axes)
    value = row["_value"]
    shown = f" ({ctx.metric} {_fmt(value)})" if np.isfinite(value) else ""
    by = "" if ctx.info.better else f" by {ctx.best_by}"
    return f"best measured{by}: {where}{shown}"


def _fmt(v: Any) -> str:
    return f"{v:.4g}" if _is_number(v) else str(v)


def _legend(fig: Figure, handles: list[Any]) -> None:
    """One legend under the panels, two columns, long entries wrapped so none runs off."""
    if handles:
        labels = [textwrap.fill(h.get_label(), LEGEND_WIDTH) for h in handles]
        fig.legend(
            handles=handles,
            labels=labels,
            loc="outside lower center",
            ncol=2 if len(handles) > 2 else len(handles),
            fontsize=LEGEND_SIZE,
            frameon=False,
        )


def _theory_params(ctx: Context, rows: pd.DataFrame) -> dict[str, Any] | None:
    """The fixed settings of a panel when the quadratic theory applies to it, else None."""
    if ctx.objective is None or not len(rows):
        return None
    params = {c: rows[c].iloc[0] for c in hyperparameter_columns(ctx.df) if c in rows.columns}
    if not theory.applies(ctx.optimizer, params):
        return None
    return params


def _parameter_figure(ctx: Context, axes: Sequence[Axis]) -> Figure:
    """The metric over one, two or more swept axes (line, map, small multiples or dots)."""
    if len(axes) == 1:
        return _line_figure(ctx, axes[0])
    if not _is_grid(ctx.table, axes):
        return _scatter_figure(ctx, axes[0], axes[1], len(axes))
    return _maps_figure(ctx, axes)


def _is_grid(table: pd.DataFrame, axes: Sequence[Axis]) -> bool:
    index = [a.index_of(table[a.name]) for a in axes]
    if any(i is None for i in index):
        return False
    flat = np.ravel_multi_index(tuple(index), tuple(len(a.values) for a in axes))
    return len(np.unique(flat)) == len(flat)


def _panels(ctx: Context, axes: Sequence[Axis]) -> list[tuple[str, pd.DataFrame]]:
    """``(title, rows)`` per panel: one panel for two axes; else the third axis's values (at
    most ``MAX_PANELS``, evenly spread, the best setting's included) with axes beyond the third
    fixed at the best setting's values."""
    table = ctx.table
    if len(axes) == 2:
        return [("", table)]
    ref = table.iloc[ctx.best if ctx.best is not None else 0]
    for a in axes[3:]:
        table = table[a.index_of(table[a.name]) == a.index_of(pd.Series([ref[a.name]]))[0]]
    third = axes[2]
    n = len(third.values)
    chosen = list(np.unique(np.linspace(0, n - 1, min(n, MAX_PANELS)).round().astype(int)))
    best_i = int(third.index_of(pd.Series([ref[third.name]]))[0])
    if best_i not in chosen:
        chosen[int(np.argmin([abs(c - best_i) for c in chosen]))] = best_i
        chosen.sort()
    index = third.index_of(table[third.name])
    return [(f"{third.name} = {third.text(third.values[i])}", table[index == i]) for i in chosen]


def _maps_figure(ctx: Context, axes: Sequence[Axis]) -> Figure:
    x, y = axes[0], axes[1]
    panels = _panels(ctx, axes)
    cells = [grid_cells(rows, x, y) for _, rows in panels]
    norm, cmap = color_scale(ctx.table["_value"].to_numpy(dtype=np.float64), ctx.info, ctx.metric)
    n = len(panels)
    ncols = 1 if n == 1 else min(3, n)
    nrows = math.ceil(n / ncols)
    size = (10.5, 9.0) if n == 1 else (4.9 * ncols + 1.6, 4.3 * nrows + 2.6)
    fig = _new_figure(size)
    grid = fig.subplots(nrows, ncols, squeeze=False, sharex=True, sharey=True)
    model = theory.quadratic_model(ctx.objective)
    show_div = ctx.metric != "diverged_at"
    handles: list[Any] = []
    best_label = None
    for k, ((title, rows), c) in enumerate(zip(panels, cells, strict=True)):
        ax = grid[k // ncols, k % ncols]
        draw_cells(ax, c, x, y, norm, cmap, show_div)
        if title:
            ax.set_title(title, fontsize=LABEL_SIZE)
        theory_handles = _plane_theory(ctx, ax, x, y, rows, model)
        if theory_handles and not handles:
            handles = theory_handles
        if ctx.best is not None and ctx.table.index[ctx.best] in rows.index:
            mark = mark_best(ax, x, y, ctx.table.iloc[ctx.best], None)
            mark.set_label(_best_text(ctx, axes))
            best_label = mark
    for k in range(n, nrows * ncols):
        grid[k // ncols, k % ncols].set_visible(False)
    for ax in grid.ravel():  # shared axes: labels on the outer panels only
        ax.label_outer()
    _colorbar(fig, grid[0, 0].collections[0], grid, ctx, 0.9 if n == 1 else 0.8)
    legend = (
        ([best_label] if best_label else [])
        + handles
        + _status_handles(cells, ctx.metric, show_div)
    )
    _legend(fig, legend)
    what = "Map of the " + ctx.info.words.format(tol=f"{float(ctx.df.attrs.get('tol', 1e-6)):g}")
    if len(axes) > 3:
        what += "; " + ", ".join(a.name for a in axes[3:]) + " held at the best setting's values"
    fig.suptitle(_title(ctx, what, [a.name for a in axes]), fontsize=TITLE_SIZE)
    return fig


def _plane_theory(ctx, ax, x: Axis, y: Axis, rows, model) -> list[Any]:
    """The theory on an ``lr x momentum`` panel, when it applies."""
    names = {x.name, y.name}
    if model is None or names != {"lr", "momentum"} or not (x.numeric and y.numeric):
        return []
    params = _theory_params(ctx, rows)
    if params is None:
        return []
    lr, mom = (x, y) if x.name == "lr" else (y, x)
    e_lr, e_m = lr.edges(), mom.edges()
    return theory.draw_plane_theory(
        ax,
        (e_lr[0], e_lr[-1], lr.scale_log),
        (max(e_m[0], 0.0), e_m[-1], mom.scale_log),
        x.name == "lr",
        ctx.optimizer,
        params,
        model,
    )


def _line_figure(ctx: Context, x: Axis) -> Figure:
    """The metric against the one swept axis; diverged and undefined settings as shaded spans."""
    fig = _new_figure((10.0, 6.8))
    ax = fig.add_subplot(1, 1, 1)
    cells = grid_cells(ctx.table, x, None)
    pos = x.positions
    edges = x.edges()
    value = cells.value[0] if cells is not None else ctx.table["_value"].to_numpy(dtype=np.float64)
    diverged = cells.diverged[0] if cells is not None else ctx.table["_diverged"].to_numpy(bool)
    present = cells.present[0] if cells is not None else np.ones(len(value), bool)
    show_div = ctx.metric != "diverged_at"
    for i in range(len(pos)):
        if show_div and diverged[i]:
            ax.axvspan(edges[i], edges[i + 1], color=DIVERGED_COLOR, lw=0, gid="diverged")
        elif present[i] and not np.isfinite(value[i]):
            ax.axvspan(
                edges[i],
                edges[i + 1],
                facecolor=UNDEFINED_COLOR,
                hatch=UNDEFINED_HATCH,
                edgecolor=HATCH_COLOR,
                lw=0,
                gid="undefined",
            )
    ok = present & np.isfinite(value) & ~(diverged if show_div else False)
    ax.plot(
        pos,
        np.where(ok, value, np.nan),
        "-o",
        color="#1f4e8c",
        ms=4,
        lw=1.6,
        gid="metric",
        label=ctx.metric,
    )
    norm, _ = color_scale(value, ctx.info, ctx.metric)
    if isinstance(norm, LogNorm):
        ax.set_yscale("log")
    _style_axis(ax, x, "x")
    ax.set_ylabel(
        _colorbar_label(ctx.metric, ctx.info, ctx.df.attrs.get("tol")), fontsize=LABEL_SIZE
    )
    ax.grid(True, alpha=0.3)
    handles: list[Any] = [ax.lines[0]]
    if ctx.best is not None:
        row = ctx.table.iloc[ctx.best]
        mark = mark_best(ax, x, None, row, row["_value"] if np.isfinite(row["_value"]) else None)
        mark.set_label(_best_text(ctx, [x]))
        handles.append(mark)
    model = theory.quadratic_model(ctx.objective)
    params = _theory_params(ctx, ctx.table)
    if model is not None and params is not None and x.name == "lr" and x.numeric:
        handles += theory.draw_line_theory(
            ax,
            (edges[0], edges[-1], x.scale_log),
            ctx.optimizer,
            params,
            model,
            same_axis=ctx.metric == "rate",
        )
    handles += _status_handles(
        [Cells(value[None], diverged[None], present[None], np.zeros((1, 0)))], ctx.metric, show_div
    )
    _legend(fig, handles)
    what = (
        ctx.info.words.format(tol=f"{float(ctx.df.attrs.get('tol', 1e-6)):g}")
        + f" against {x.name}"
    )
    fig.suptitle(_title(ctx, what, [x.name]), fontsize=TITLE_SIZE)
    return fig


def _scatter_figure(ctx: Context, x: Axis, y: Axis, n_axes: int) -> Figure:
    """Sampled settings: one dot per setting over the first two axes, diverged ones red."""
    fig = _new_figure((9.5, 8.6))
    ax = fig.add_subplot(1, 1, 1)
    t = ctx.table
    px = np.array([_position(x, v) for v in t[x.name]])
    py = np.array([_position(y, v) for v in t[y.name]])
    value = t["_value"].to_numpy(dtype=np.float64)
    div = (
        t["_diverged"].to_numpy(dtype=bool)
        if ctx.metric != "diverged_at"
        else np.zeros(len(t), bool)
    )
    norm, cmap = color_scale(value, ctx.info, ctx.metric)
    ok = np.isfinite(value) & ~div
    dots = ax.scatter(
        px[ok], py[ok], c=value[ok], cmap=cmap, norm=norm, s=28, edgecolors="none", gid="metric"
    )
    handles: list[Any] = []
    if div.any():
        handles.append(
            ax.scatter(
                px[div],
                py[div],
                color=DIVERGED_COLOR,
                marker="x",
                s=30,
                gid="diverged",
                label="diverged",
            )
        )
    undefined = ~np.isfinite(value) & ~div
    if undefined.any():
        handles.append(
            ax.scatter(
                px[undefined],
                py[undefined],
                color="0.6",
                marker=".",
                s=30,
                gid="undefined",
                label=UNDEFINED_PHRASE.get(ctx.metric, "metric undefined"),
            )
        )
    _style_axis(ax, x, "x")
    _style_axis(ax, y, "y")
    ax.grid(True, alpha=0.3)
    if ctx.best is not None:
        mark = mark_best(ax, x, y, t.iloc[ctx.best], None)
        mark.set_label(_best_text(ctx, [x, y]))
        handles.insert(0, mark)
    _colorbar(fig, dots, ax, ctx, 1.0, value)
    _legend(fig, handles)
    what = f"{len(t)} sampled settings: " + ctx.info.words.format(
        tol=f"{float(ctx.df.attrs.get('tol', 1e-6)):g}"
    )
    if n_axes > 2:
        what += f" (projected on {x.name} x {y.name})"
    fig.suptitle(_title(ctx, what, [x.name, y.name]), fontsize=TITLE_SIZE)
    return fig


# --- basins -------------------------------------------------------------------------------


def _basin_figure(ctx: Context, params: Sequence[Axis], starts: Sequence[Axis]) -> Figure:
    """Which minimizer each start reaches (left) and the metric over the starts (right)."""
    df = ctx.df
    note = ""
    if params and ctx.best is not None:  # the best setting's starts
        ref = ctx.table.iloc[ctx.best]
        keep = np.ones(len(df), dtype=bool)
        for a in params:
            keep &= a.index_of(df[a.name]) == a.index_of(pd.Series([ref[a.name]]))[0]
        df = df[keep]
        note = "; at the best setting " + ", ".join(
            f"{a.name} {a.text(ref[a.name])}" for a in params
        )
    x, y = starts
    table = settings_table(df, starts, ctx.metric, many=False)
    cells = grid_cells(table, x, y)
    fig = _new_figure((15.0, 7.8))
    left, right = fig.subplots(1, 2)
    handles: list[Any] = []
    if cells is None:
        raise OptiscopeError("the swept start points are not a grid: cannot draw a basin map")
    minimum = _floats(df["minimum"]) if "minimum" in df.columns else np.full(len(df), -1.0)
    handles += _draw_basins(left, cells, minimum, x, y, ctx.objective)
    norm, cmap = color_scale(table["_value"].to_numpy(dtype=np.float64), ctx.info, ctx.metric)
    show_div = ctx.metric != "diverged_at"
    draw_cells(right, cells, x, y, norm, cmap, show_div)
    for ax in (left, right):
        _contour_lines(ax, ctx.objective, x, y)
        ax.set_aspect("equal", adjustable="box")
    mins = _minimizers(ctx.objective)
    if len(mins):
        right.plot(
            mins[:, 0],
            mins[:, 1],
            ls="none",
            marker="*",
            ms=16,
            color="white",
            mec="black",
            mew=1.0,
            zorder=8,
            gid="minimizer",
        )
    _colorbar(fig, right.collections[0], right, ctx, 0.85, table["_value"].to_numpy(np.float64))
    left.set_title("Which known minimizer each start reaches", fontsize=LABEL_SIZE)
    right.set_title(
        ctx.info.words.format(tol=f"{float(ctx.df.attrs.get('tol', 1e-6)):g}") + " from each start",
        fontsize=LABEL_SIZE,
    )
    handles += _status_handles([cells], ctx.metric, show_div)[
        1 if cells.diverged.any() and show_div else 0 :
    ]
    _legend(fig, handles)
    swept = [a.name for a in params]
    fig.suptitle(
        _title(ctx, "Basins of attraction over the start points" + note, swept), fontsize=TITLE_SIZE
    )
    return fig


def _minimizers(objective: Objective | None) -> np.ndarray:
    if objective is None or objective.dim != 2:
        return np.zeros((0, 2))
    return np.asarray(objective.minimizers, dtype=np.float64).reshape(-1, 2)


def _draw_basins(ax, cells: Cells, minimum: np.ndarray, x: Axis, y: Axis, objective) -> list[Any]:
    """Colour each start cell by the minimizer reached (``BASIN_COLORS`` by index), ``NONE_COLOR``
    for none, ``DIVERGED_COLOR`` for diverged; mark each minimizer in its colour. gid
    ``basins``; returns the legend handles."""
    mins = _minimizers(objective)
    count = max(len(mins), int(np.nanmax(minimum, initial=-1)) + 1)
    palette = [BASIN_COLORS[i % len(BASIN_COLORS)] for i in range(count)]
    code = np.full(cells.value.shape, np.nan)
    pick = np.where(cells.present, cells.rows, 0)
    reached = np.where(cells.present, minimum[pick], np.nan)
    code = np.where(reached >= 0, reached, count)  # none: the code after the minimizers
    code = np.where(cells.diverged, count + 1, code)
    colors = ListedColormap(palette + [NONE_COLOR, DIVERGED_COLOR])
    norm = BoundaryNorm(np.arange(count + 3) - 0.5, count + 2)
    X, Y = np.meshgrid(x.edges(), y.edges())
    ax.pcolormesh(
        X,
        Y,
        np.ma.array(code, mask=~cells.present),
        cmap=colors,
        norm=norm,
        gid="basins",
        rasterized=True,
    )
    ax.set_facecolor(NOT_RUN_COLOR)
    _style_axis(ax, x, "x")
    _style_axis(ax, y, "y")
    handles: list[Any] = []
    seen = set(np.unique(code[cells.present]).astype(int))
    for i in range(count):
        if i < len(mins):
            ax.plot(
                mins[i, 0],
                mins[i, 1],
                ls="none",
                marker="*",
                ms=18,
                color="white",
                mec="black",
                mew=1.2,
                zorder=8,
                gid="minimizer",
            )
        if i in seen:
            where = f" at ({mins[i, 0]:.3g}, {mins[i, 1]:.3g})" if i < len(mins) else ""
            handles.append(Patch(facecolor=palette[i], label=f"reaches minimizer {i}{where}"))
    if count in seen:
        handles.append(Patch(facecolor=NONE_COLOR, label="reaches no known minimizer"))
    if count + 1 in seen:
        handles.append(Patch(facecolor=DIVERGED_COLOR, label="diverged"))
    if len(mins):
        handles.append(
            Line2D(
                [],
                [],
                ls="none",
                marker="*",
                ms=14,
                color="white",
                mec="black",
                label="known minimizers (star)",
            )
        )
    return handles


def _contour_lines(ax: Axes, objective: Objective | None, x: Axis, y: Axis) -> None:
    """Thin contour lines of the function over the start window (log-spaced levels)."""
    if objective is None or objective.dim != 2:
        return
    ex, ey = x.edges(), y.edges()
    lo, hi = np.array([ex[0], ey[0]]), np.array([ex[-1], ey[-1]])
    found = function_contours(objective, lo, hi, CONTOUR_GRID)
    if found is None:
        return
    X, Y, Z, levels = found
    lines = ax.contour(
        X,
        Y,
        Z,
        levels=levels.values,
        colors="0.1",
        linewidths=0.6,
        alpha=0.55,
        zorder=4,
    )
    lines.set_gid("contours")
