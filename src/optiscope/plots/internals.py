"""The internals figure: what each optimizer carries over time and the step it takes per coordinate.

One row per run (at most ``MAX_RUNS``), the same columns in every row, one shared step axis:

- **path** (2-D objectives): the run on the contour map (``contour.draw_contour``, with its
  zoom inset when the last motion is too small to see), and, for optimizers that carry a
  velocity, arrows at every k-th point showing the velocity's share of the next step, drawn to
  scale (an arrow is the displacement it causes; ``internals.Internals.drift``);
  **parameters** (more than 2 parameters): each coordinate against the step (symmetric log),
  at most ``MAX_COORDINATES`` of them, those largest in size at the end, named in the title;
- **velocity / signed state** (symmetric log): momentum buffers, Adam's m, FTRL's z, RMSProp's
  centred gbar;
- **accumulators** (log): running means or sums of g^2 (RMSProp/Adam v, Adagrad's sum,
  Adadelta's v and u, FTRL's n);
- **effective step per coordinate** (log): the optimizer's rule as a line, the measured
  ``|dx_i| / |g_i|`` as dots, the sign-descent reference ``lr / |g_i|`` dashed (adaptive
  optimizers: on it, every coordinate moves by lr) and the lr dotted black;
- **learning rate** per step, when a schedule varies it;
- **exact zeros** among the parameters (more than 2 parameters; FTRL with l1).

Colours name coordinates, line styles name quantities; each panel's title states its rule in
words. A run that lacks a column's quantity says so in that panel ("no velocity: momentum =
0"). The figure is a ``matplotlib.figure.Figure`` on the Agg canvas (no pyplot).
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure, SubFigure
from matplotlib.lines import Line2D
from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

from optiscope.errors import OptiscopeError
from optiscope.experiments import RunResult
from optiscope.internals import Internals, Series, internals_of
from optiscope.plots._grid import inside, view_box
from optiscope.plots._runs import extract, kept_steps
from optiscope.plots.compare import DPI, formula_text
from optiscope.plots.contour import draw_contour
from optiscope.plots.labels import parameter_names

MAX_RUNS = 6  # rows
MAX_COORDINATES = 6  # curves per panel on objectives with more parameters
MAX_STEP_COORDINATES = 3  # ... and in the effective-step panel (three lines each)
MAX_ARROWS = 16  # velocity arrows per path
MAX_DOTS = 60  # measured dots per coordinate (sparse: the lines stay visible between them)
PANEL_SIZE = (4.3, 3.7)  # inches per column and per row
TITLE_SIZE, ROW_TITLE_SIZE, PANEL_TITLE_SIZE, LABEL_SIZE, TICK_SIZE, LEGEND_SIZE = (
    15, 13, 10.5, 10.5, 9.5, 8.5
)  # fmt: skip
WRAP = 42  # characters per panel-title line
STYLES = ("-", "-.", ":")  # first, second, third quantity of a state panel
ARROW_COLOR = "#b2182b"

COLUMNS = ("path", "parameters", "signed", "accumulators", "step", "lr", "zeros")


def internals_figure(results: Sequence[RunResult], title: str | None = None) -> Figure:
    """The internals of ``results`` (runs made with ``record_state=True``), one row each.

    Columns (module notes): the path on the contour map (2-D) or the parameters over time,
    the velocity and other signed state, the accumulators, the effective step per coordinate,
    the lr (when scheduled) and the count of exact zeros (more than 2 parameters). ``title``
    goes above the objective's name and formula. Reads the results only; runs nothing.
    """
    results = list(results)
    if not results:
        raise OptiscopeError("nothing to plot: give at least one run recorded with its state")
    if len(results) > MAX_RUNS:
        raise OptiscopeError(
            f"the internals figure has one row per run and shows at most {MAX_RUNS}; "
            f"got {len(results)}: pass at most {MAX_RUNS} optimizer specs"
        )
    runs = [internals_of(r) for r in results]
    columns = _columns(runs)
    with np.errstate(all="ignore"):
        fig = Figure(
            figsize=(PANEL_SIZE[0] * len(columns), PANEL_SIZE[1] * len(runs) + 1.0),
            dpi=DPI,
            layout="constrained",
        )
        FigureCanvasAgg(fig)
        rows = fig.subfigures(len(runs), 1, squeeze=False)[:, 0]
        # one step axis for every time panel: the same limits (not sharex: axes shared across
        # subfigures redraw the whole figure on every limit change)
        span = (0.0, float(max(max(r.trajectories.steps for r in results), 1)))
        for sub, result, it in zip(rows, results, runs, strict=True):
            _row(sub, result, it, columns, span)
        objective = runs[0].objective
        head = f"Optimizer internals on {objective.name}:  f(w) = {formula_text(objective)}"
        fig.suptitle(head if title is None else f"{title}\n{head}", fontsize=TITLE_SIZE)
    return fig


def _columns(runs: Sequence[Internals]) -> list[str]:
    """The columns every row shares: those some run has something to show in."""
    wanted = {"step"}
    for it in runs:
        wanted.add("path" if it.positions.shape[1] == 2 else "parameters")
        if any(s.signed for s in _state(it)):
            wanted.add("signed")
        if any(not s.signed for s in _state(it)):
            wanted.add("accumulators")
        if it.lr is not None:
            wanted.add("lr")
        if it.zeros is not None and (_l1(it) or np.any(it.zeros.values[1:] > 0)):
            wanted.add("zeros")
    return [c for c in COLUMNS if c in wanted]


def _state(it: Internals) -> tuple[Series, ...]:
    return (*it.velocity, *it.accumulators, *it.other)


def _l1(it: Internals) -> bool:
    return it.optimizer == "ftrl" and float(it.settings.get("l1", 0.0)) > 0.0


@dataclass(frozen=True)
class _Row:
    """What every panel of one row needs: the run, its coordinates' names and colours, which
    coordinates are drawn (``coords``, index order) and which the step panel draws (``few``,
    largest first), and whether panels name coordinates in their own legends (``named``:
    with 2 or 3 parameters; beyond, the parameters panel's legend names them once)."""

    it: Internals
    names: list[str]
    colors: list[tuple[float, float, float, float]]
    coords: list[int]
    few: list[int]
    named: bool


def _row(
    sub: SubFigure, result: RunResult, it: Internals, columns: list[str], span: tuple[float, float]
) -> None:
    """One run's panels in ``sub``; every time axis spans the steps ``span``."""
    axes = sub.subplots(1, len(columns), squeeze=False)[0]
    names = parameter_names(it.objective)
    order = _coordinates(it)
    row = _Row(
        it=it,
        names=names,
        colors=_coordinate_colors(len(names), order[:MAX_COORDINATES]),
        coords=sorted(order[:MAX_COORDINATES]),
        few=order[:MAX_STEP_COORDINATES] if len(names) > 3 else sorted(order),
        named=len(names) <= 3,
    )
    status = ""
    if it.diverged_at >= 0:
        status = f"  (diverged at step {it.diverged_at}: drawn up to step {it.steps})"
    sub.suptitle(it.label + status, fontsize=ROW_TITLE_SIZE, fontweight="bold", x=0.01, ha="left")
    draw = {
        "parameters": _parameters_panel,
        "signed": _signed_panel,
        "accumulators": _accumulators_panel,
        "step": _step_panel,
        "lr": _lr_panel,
        "zeros": _zeros_panel,
    }
    for ax, column in zip(axes, columns, strict=True):
        ax.set_gid(f"internals:{column}")
        if column == "path":
            _path_panel(ax, result, it)
        else:
            if draw[column](ax, row) is not False:  # False: an empty panel with a note
                pad = 0.02 * (span[1] - span[0])
                ax.set_xlim(span[0] - pad, span[1] + pad)
                ax.set_xlabel("step", fontsize=LABEL_SIZE)
        ax.title.set_fontsize(PANEL_TITLE_SIZE)
        ax.tick_params(labelsize=TICK_SIZE)
        ax.xaxis.label.set_fontsize(LABEL_SIZE)
        ax.yaxis.label.set_fontsize(LABEL_SIZE)


# -- columns -----------------------------------------------------------------------------------


def _path_panel(ax: Axes, result: RunResult, it: Internals) -> None:
    """The path on the contour map, with the velocity's arrows to scale."""
    _, paths = extract([(it.label, result.trajectories, result.row)])
    lo, hi = view_box(it.objective, paths)
    draw_contour(ax, it.objective, paths, lo, hi, colorbar=False)
    title = "path on the contour map"
    if it.drift is not None and it.steps > 0:
        every = max(1, -(-it.steps // MAX_ARROWS))
        at = np.arange(1, it.steps + 1, every)
        base, arrow = it.positions[at], it.drift[at]
        keep = inside(base, lo, hi) & np.isfinite(arrow).all(axis=1)
        if keep.any():
            ax.quiver(*base[keep].T, *arrow[keep].T, angles="xy", scale_units="xy", scale=1.0,
                      color=ARROW_COLOR, width=0.006, headwidth=3.5, headlength=4.5, zorder=6,
                      gid="velocity_arrows")  # fmt: skip
        rule = it.drift_rule.split(":")[0]
        title += f"\narrows: the velocity's share of the\nnext step, {rule}, to scale"
        label = "velocity" + (f" (every {every} steps)" if every > 1 else "")
        handle = Line2D([], [], color=ARROW_COLOR, lw=2, marker=">", ms=5, label=label)
        ax.legend(handles=[handle], fontsize=LEGEND_SIZE, loc="lower left", framealpha=0.85)
    ax.set_title(title)


def _parameters_panel(ax: Axes, row: _Row) -> bool | None:
    it = row.it
    steps = np.arange(it.steps + 1)
    keep = kept_steps(len(steps))
    for i in row.coords:
        ax.plot(steps[keep], it.positions[keep, i], color=row.colors[i], lw=1.5,
                label=row.names[i])  # fmt: skip
    scale = _symlog(ax, it.positions[:, row.coords])
    total = it.positions.shape[1]
    which = f" ({len(row.coords)} of {total}: the largest |w| at the end)"
    ax.set_title(_wrap("parameters over time" + ("" if len(row.coords) == total else which)))
    ax.set_ylabel(f"value ({scale})")
    ax.legend(fontsize=LEGEND_SIZE, ncol=3, loc="upper center", bbox_to_anchor=(0.5, -0.19),
              frameon=False)  # fmt: skip


def _signed_panel(ax: Axes, row: _Row) -> bool | None:
    it = row.it
    series = [s for s in _state(it) if s.signed]
    if not series:
        return _empty(ax, _no_velocity(it))
    _state_curves(ax, series, row)
    scale = _symlog(ax, np.concatenate([s.values[:, row.coords] for s in series], axis=1))
    kind = "velocity" if it.velocity else "signed state"
    ax.set_title(_wrap(f"{kind}: " + "; ".join(s.rule for s in series)))
    ax.set_ylabel(f"value ({scale})")


def _accumulators_panel(ax: Axes, row: _Row) -> bool | None:
    series = [s for s in _state(row.it) if not s.signed]
    if not series:
        return _empty(ax, "no accumulator: the step does not adapt per coordinate")
    _state_curves(ax, series, row, positive=True)
    ax.set_yscale("log")
    ax.set_title(_wrap("accumulators: " + "; ".join(s.rule for s in series)))
    ax.set_ylabel("value (log)")


def _step_panel(ax: Axes, row: _Row) -> bool | None:
    """The rule's line, the measured dots, the sign-descent reference and the lr."""
    it = row.it
    n = it.steps
    if n == 0:
        return _empty(ax, "no step before the divergence")
    steps = np.arange(1, n + 1)
    keep = kept_steps(n)
    dots = _dot_steps(n)
    shown = []
    for i in row.few:
        c = row.colors[i]
        if it.sign_reference is not None:
            ref = _positive(it.sign_reference.values[:, i])
            # thin dashes on top of the rule's broad band: on it, the step is sign descent's
            ax.plot(steps[keep], ref[keep], "--", color=_darker(c), lw=1.3, zorder=3)
            shown.append(ref)
        if it.step_rule is not None:
            rule = _positive(it.step_rule.values[:, i])
            ax.plot(steps[keep], rule[keep], "-", color=c, lw=3.4, alpha=0.45, zorder=2)
            shown.append(rule)
        measured = _positive(it.step_measured.values[:, i])
        ax.plot(steps[dots], measured[dots], "o", color=c, ms=3.2, mec="black", mew=0.3,
                alpha=0.85, zorder=4)  # fmt: skip
        shown.append(measured)
    lr = _lr_values(it)
    ax.plot(steps[keep], lr[keep], ":", color="black", lw=1.6, zorder=5)
    shown.append(lr)
    ax.set_yscale("log")
    core = [it.step_rule.values[:, row.few]] if it.step_rule is not None else [lr]
    _log_limits(ax, shown, core)
    rule = it.step_rule.rule if it.step_rule is not None else "none per coordinate: measured only"
    which = "" if row.named else f" ({len(row.few)} of {len(row.names)}: the largest |w|)"
    ax.set_title(f"effective step per coordinate{which}\n" + _wrap(rule))
    ax.set_ylabel("step / |gradient|  (log)")
    handles = [Line2D([], [], color=row.colors[i], lw=2, label=row.names[i]) for i in row.few]
    handles += _step_key(it)
    ax.legend(
        title=_last_steps(row),
        title_fontsize=LEGEND_SIZE,
        handles=handles,
        fontsize=LEGEND_SIZE,
        ncol=3,
        loc="upper center",
        bbox_to_anchor=(0.5, -0.19),
        frameon=False,
    )  # fmt: skip under: never on the data


def _last_steps(row: _Row) -> str:
    """The last step's size per coordinate, |x_S - x_(S-1)|, beside that step's lr (equal
    sizes of about lr in every coordinate: sign descent)."""
    it = row.it
    last = np.abs(it.positions[-1] - it.positions[-2])
    sizes = ", ".join(f"{row.names[i]} {last[i]:.3g}" for i in row.few)
    return f"last step |dx|: {sizes}  (lr {_lr_values(it)[-1]:.3g})"


def _step_key(it: Internals) -> list[Line2D]:
    key = dict(color="0.3")
    out = []
    if it.step_rule is not None:
        out.append(Line2D([], [], ls="-", lw=3.4, alpha=0.45, label="rule", **key))
    out.append(
        Line2D([], [], ls="none", marker="o", ms=4, mec="black", mew=0.3, label="measured |dx|/|g|",
               **key)
    )  # fmt: skip
    if it.sign_reference is not None:
        out.append(Line2D([], [], ls="--", lw=1.3, label="lr/|g| (sign descent)", **key))
    out.append(Line2D([], [], ls=":", lw=1.6, color="black", label="lr"))
    return out


def _lr_panel(ax: Axes, row: _Row) -> bool | None:
    it = row.it
    if it.lr is None:
        return _empty(ax, f"constant lr = {float(it.settings.get('lr', np.nan)):g}")
    ax.plot(it.lr.steps, _positive(it.lr.values), color="black", lw=1.8)
    ax.set_yscale("log")
    ax.set_title(_wrap("learning rate per step: " + it.lr.rule.split(": ", 1)[1]))
    ax.set_ylabel("lr (log)")


def _zeros_panel(ax: Axes, row: _Row) -> bool | None:
    it = row.it
    if it.zeros is None:
        return _empty(ax, "2 parameters: no count of zeros")
    total = it.positions.shape[1]
    ax.step(it.zeros.steps, it.zeros.values, where="post", color="black", lw=1.8)
    ax.set_ylim(-0.5, total + 0.5)
    what = f"l1 = {float(it.settings['l1']):g} holds w at 0 while |z| <= l1" if _l1(it) else "no l1"
    ax.set_title(f"parameters exactly 0 (of {total})\n{what}")
    ax.set_ylabel("count")


# -- pieces --------------------------------------------------------------------------------------


def _state_curves(ax: Axes, series: Sequence[Series], row: _Row, positive: bool = False) -> None:
    """Each quantity (line style) per coordinate (colour), with a legend of both."""
    for j, s in enumerate(series):
        keep = kept_steps(len(s.steps))
        for i in row.coords:
            values = s.values[keep, i]
            if positive:
                values = _positive(values)
            ax.plot(s.steps[keep], values, STYLES[j % len(STYLES)], color=row.colors[i], lw=1.6)
    handles = []
    if row.named:
        handles = [
            Line2D([], [], color=row.colors[i], lw=2, label=row.names[i]) for i in row.coords
        ]
    if len(series) > 1:
        handles += [
            Line2D([], [], ls=STYLES[j % len(STYLES)], color="0.3", lw=1.6, label=s.name)
            for j, s in enumerate(series)
        ]
    if handles:
        ax.legend(handles=handles, fontsize=LEGEND_SIZE, loc="best", framealpha=0.85)


def _no_velocity(it: Internals) -> str:
    if it.optimizer in ("sgd", "momentum", "nesterov", "rmsprop"):
        return "no velocity: momentum = 0"
    return f"no velocity: {it.optimizer} carries none"


def _empty(ax: Axes, text: str) -> bool:
    """A panel with nothing to draw for this run: a grey note saying why; returns False."""
    ax.text(0.5, 0.5, "\n".join(textwrap.wrap(text, 30)), ha="center", va="center",
            fontsize=PANEL_TITLE_SIZE, color="0.35", transform=ax.transAxes)  # fmt: skip
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_color("0.85")
    return False


def _coordinates(it: Internals) -> list[int]:
    """Every coordinate, largest |w| at the end first (ties: the largest |w| at any step,
    then the index)."""
    dim = it.positions.shape[1]
    final = np.nan_to_num(np.abs(it.positions[-1]), nan=0.0)
    ever = np.nan_to_num(np.nanmax(np.abs(it.positions), axis=0), nan=0.0)
    return [int(i) for i in np.lexsort((np.arange(dim), -ever, -final))]


def _coordinate_colors(dim: int, drawn: Sequence[int]) -> list[tuple[float, float, float, float]]:
    """One tab10 colour per coordinate: the drawn ones (at most ten) get distinct colours in
    index order (w1 blue, w2 orange on a 2-D function); the others grey (never drawn)."""
    cmap = colormaps["tab10"]
    colors = [(0.5, 0.5, 0.5, 1.0)] * dim
    for rank, i in enumerate(sorted(drawn)):
        colors[i] = cmap(rank % 10)
    return colors


def _darker(color) -> tuple[float, float, float]:
    """``color`` at 60% brightness (dashes that stay visible on the colour's own band)."""
    r, g, b = color[:3]
    return (0.6 * r, 0.6 * g, 0.6 * b)


def _lr_values(it: Internals) -> np.ndarray:
    if it.lr is not None:
        return np.asarray(it.lr.values, dtype=np.float64)
    return np.full(it.steps, float(it.settings.get("lr", np.nan)))


def _dot_steps(n: int) -> np.ndarray:
    """Indices of the measured dots: every step up to ``MAX_DOTS``, else evenly spaced."""
    if n <= MAX_DOTS:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, MAX_DOTS).round().astype(np.int64))


def _positive(values: np.ndarray) -> np.ndarray:
    """Values for a log axis: non-positive or non-finite ones become NaN (gaps)."""
    v = np.asarray(values, dtype=np.float64)
    return np.where(np.isfinite(v) & (v > 0), v, np.nan)


def _log_limits(ax: Axes, arrays: Sequence[np.ndarray], core: Sequence[np.ndarray]) -> None:
    """Log limits holding the data, at most ``SPAN`` decades around the ``core`` quantities
    (the rule and the lr): a reference that grows without bound near the minimum (lr/|g| as
    g -> 0) must not squash the rule into a line."""
    span = 8.0
    values = np.concatenate([_positive(np.ravel(a)) for a in arrays])
    values = values[np.isfinite(values)]
    if not len(values):
        return
    low, high = np.log10(values.min()), np.log10(values.max())
    middle = np.concatenate([_positive(np.ravel(a)) for a in core])
    middle = middle[np.isfinite(middle)]
    if len(middle) and high - low > span:
        centre = np.log10(np.median(middle))
        low, high = max(low, centre - span / 2), min(high, centre + span / 2)
    pad = 0.15 * max(high - low, 0.5)
    ax.set_ylim(10 ** (low - pad), 10 ** (high + pad))


def _symlog(ax: Axes, values: np.ndarray) -> str:
    """A symmetric-log y axis for ``values`` ``[n, curves]``, or a linear one when every curve
    has about the same size (largest |value| of each within 10x of the overall largest) and
    the nonzero |values| span under two decades (10th percentile above 1% of the largest).

    The symmetric log is linear through 0 up to the 10th percentile of the nonzero |values|,
    kept within 1e-4 .. 1e-1 of the largest (at most 4 decades of log on each side, so an
    oscillation keeps its shape and a decay stays visible); ticks at 0 and at the decades,
    written as plain numbers. Returns the scale's name for the axis label.
    """
    v = np.asarray(values, dtype=np.float64).reshape(len(values), -1)
    v = np.where(np.isfinite(v), v, 0.0)
    size = np.abs(v[v != 0])
    top = float(size.max()) if len(size) else 1.0
    low = float(np.percentile(size, 10)) if len(size) else top
    ax.axhline(0.0, color="0.6", lw=0.8, zorder=1)
    curve_tops = np.abs(v).max(axis=0) if v.size else np.array([top])
    if low > top * 1e-2 and curve_tops.min() > top / 10:
        return "linear"
    linthresh = min(max(low, top * 1e-4), top * 1e-1)
    ax.set_yscale("symlog", linthresh=linthresh)
    first, last = int(np.ceil(np.log10(linthresh))), int(np.floor(np.log10(top)))
    every = max(1, -(-(last - first + 1) // 3))  # at most about 3 decades labelled per side
    decades = [10.0**d for d in range(last, first - 1, -every)]
    ticks = [0.0]
    if v.size and v.max() > 0:
        ticks += decades
    if v.size and v.min() < 0:
        ticks += [-d for d in decades]
    ax.yaxis.set_major_locator(FixedLocator(sorted(ticks)))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda y, _: f"{y:g}"))
    ax.yaxis.set_minor_locator(NullLocator())
    return "symmetric log"


def _wrap(text: str) -> str:
    return "\n".join(textwrap.wrap(text, WRAP))
