"""One experiment of a report: run it, then gather what its section shows.

A :class:`Section` holds only finished pieces (text, table cells, image bytes, a Plotly figure
as JSON-ready data), so the page (``report.page``) is a pure function of the sections:

- the comparison figure (``plots.comparison_figure``; loss curves only, ``plots.loss_figure``,
  beyond two parameters) as PNG bytes;
- the results table with the cells of ``optiscope compare``'s table
  (``tables.results_table`` of ``experiments.report``'s records: the same numbers);
- the theory's lines (``theory.theory_text``, what ``optiscope theory`` prints) and the
  diagnosis in sentences (``explain.explain``, what ``optiscope explain`` prints);
- on request: an animated GIF of the paths (``plots.animate.animation_bytes``), the internals
  figure (``plots.internals.internals_figure``, from a run that recorded the optimizer's state)
  and an interactive 3-D view (``report.surface3d``).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from optiscope.experiments import RunResult, report, run_specs
from optiscope.objectives import Objective, get_objective
from optiscope.output import render_figure
from optiscope.report.spec import Experiment, start_point

FIGURE_DPI = 100  # 18 x 6.6 in -> 1800 x 660 px: sharp in a 1200 px column, ~200 kB
ANIMATION_FPS = 20


@dataclass(frozen=True)
class TableData:
    """A table as text cells: ``header[i]`` names column ``i``; ``numeric[i]`` right-aligns it.
    A cell may hold a line break (a median over its spread)."""

    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    numeric: tuple[bool, ...]
    title: str = ""


@dataclass(frozen=True)
class RunText:
    """One run's diagnosis: its spec and label, and the sentences that explain it."""

    spec: str
    label: str
    sentences: tuple[str, ...]


@dataclass(frozen=True)
class Section:
    """Everything one experiment's section shows (see the module notes)."""

    experiment: Experiment
    function_name: str
    formula: str
    setup: tuple[tuple[str, str], ...]  # (what, value) pairs
    figure_png: bytes
    table: TableData
    theory: tuple[str, ...]
    runs: tuple[RunText, ...]
    best: tuple[str, ...]
    animation_gif: bytes | None = None
    internals_png: bytes | None = None
    plot3d: dict[str, Any] | None = None
    seconds: float = 0.0
    loss_only: bool = False  # more than two parameters: the figure is loss curves only


def figure_png(fig, dpi: int = FIGURE_DPI) -> bytes:
    """``fig`` drawn as PNG bytes, then released (nothing touches the disk)."""
    try:
        return render_figure(fig, "png", dpi)
    finally:
        fig.clear()


def prepare(exp: Experiment) -> tuple[Objective, tuple[float, ...]]:
    """The objective the experiment runs on and its start.

    A typed formula has no catalogue minimum: the local minimizer the theory finds from the
    start is found once here (``with_found_minimum``, as the CLI does) and used by the table,
    the figure and the sentences alike.
    """
    from optiscope.theory import with_found_minimum

    objective = get_objective(exp.function)
    point = start_point(exp, objective.dim) or tuple(objective.start)
    return with_found_minimum(objective, point), point


def run_experiment(exp: Experiment) -> Section:
    """Run ``exp`` (every spec, with its options) and build its section."""
    began = time.perf_counter()
    objective, point = prepare(exp)
    results = run_specs(
        objective,
        exp.specs,
        steps=exp.steps,
        start=point,
        record_state=exp.internals,
        noise=exp.noise,
        batch_size=exp.batch_size,
        seed=exp.seed,
        starts=exp.starts,
        seeds=exp.seeds,
    )
    return build_section(exp, objective, point, results, began=began)


def build_section(
    exp: Experiment,
    objective: Objective,
    point: Sequence[float],
    results: Sequence[RunResult],
    *,
    figure: bytes | None = None,
    explained: dict[str, Any] | None = None,
    animation: bytes | None = None,
    began: float | None = None,
) -> Section:
    """The section of ``exp`` from its finished runs.

    ``figure`` (PNG bytes), ``explained`` (``explain.explain``'s result for these runs) and
    ``animation`` (GIF bytes) are used as given when a caller has them already (``optiscope
    seed`` writes the same figure to a file); missing ones are made here.
    """
    from optiscope.explain import explain
    from optiscope.theory import theory_text

    began = time.perf_counter() if began is None else began
    point = tuple(float(v) for v in point)
    data = report(objective, results, exp.steps, point, exp.tol)
    if explained is None:
        explained = explain(
            objective,
            list(exp.specs),
            steps=exp.steps,
            start=point,
            tol=exp.tol,
            results=results,
            noise=exp.noise,
            batch_size=exp.batch_size,
            seed=exp.seed,
        )
    best = tuple(explained["best"])
    if explained["theory"] is not None:
        theory = tuple(theory_text(explained["theory"]))
    else:  # the reason is explain's "best" sentence: said once, under Theory
        theory, best = best or ("No quadratic theory for this function.",), ()
    runs = tuple(
        RunText(run["spec"], result.label, tuple(run["text"]))
        for run, result in zip(explained["runs"], results, strict=True)
    )
    if figure is None:
        figure = comparison_png(objective, results, exp)
    if exp.animate and animation is None:
        animation = animation_gif(results, exp.name)
    return Section(
        experiment=exp,
        function_name=objective.name,
        formula=objective.formula,
        setup=setup_items(exp, objective, point, data),
        figure_png=figure,
        table=results_cells(data["runs"], exp.tol),
        theory=theory,
        runs=runs,
        best=best,
        animation_gif=animation,
        internals_png=internals_png(results, exp.name) if exp.internals else None,
        plot3d=surface_view(objective, results) if exp.plot3d else None,
        seconds=time.perf_counter() - began,
        loss_only=objective.dim != 2,
    )


def _points(points: Sequence[Sequence[float]]) -> str:
    return "; ".join("(" + ", ".join(f"{v:.6g}" for v in p) + ")" for p in points)


def setup_items(
    exp: Experiment, objective: Objective, point: Sequence[float], data: dict[str, Any]
) -> tuple[tuple[str, str], ...]:
    """What was run, as (what, value) pairs for the section's setup list."""
    items = [("function", f"{objective.name}: f = {objective.formula}")]
    if objective.f_min is not None:
        where = _points(np.asarray(objective.minimizers)[:4])
        note = f" ({objective.minimum_note})" if objective.minimum_note else ""
        items.append(("minimum", f"f = {objective.f_min:.6g} at {where}{note}"))
    items.append(("optimizers", ", ".join(exp.specs)))
    items.append(("steps", str(exp.steps)))
    items.append(("start", _points([point])))
    if "start_points" in data:
        items.append(
            (
                "repeats",
                f"{_repeats_words(data['starts'], data['seeds'])} per spec: the start above"
                + (
                    f", the others drawn in the function's plot box (seed {exp.seed})"
                    if data["starts"] > 1
                    else ""
                )
                + f"; table cells are medians with their {data['spread_statistic']} spread",
            )
        )
    items.append(("tolerance", f"loss gap f - f_min <= {exp.tol:g}"))
    stochastic = exp.noise > 0 or str(exp.batch_size).strip().lower() != "full"
    if stochastic:
        parts = []
        if str(exp.batch_size).strip().lower() != "full":
            parts.append(f"{exp.batch_size} examples per gradient")
        if exp.noise > 0:
            parts.append(f"Gaussian gradient noise sigma {exp.noise:g}")
        items.append(("gradients", ", ".join(parts) + f", seed {exp.seed}"))
    return tuple(items)


def _repeats_words(starts: int, seeds: int) -> str:
    """``"4 starts"``, ``"3 noise seeds"``, ``"4 starts x 3 noise seeds"``."""
    parts = [f"{starts} starts"] if starts > 1 else []
    if seeds > 1:
        parts.append(f"{seeds} noise seeds")
    return " x ".join(parts) or "1 run"


def results_cells(rows: list[dict[str, Any]], tol: float) -> TableData:
    """The cells of ``optiscope compare``'s table (``tables.results_table``) for these
    records: the same headers, the same numbers, the same spread notation."""
    from optiscope.tables import results_table

    table = results_table(rows, tol)
    columns = list(table.columns)
    cells = [[str(c) for c in column.cells] for column in columns]
    count = max((len(c) for c in cells), default=0)
    return TableData(
        header=tuple(str(c.header) for c in columns),
        rows=tuple(tuple(c[i] if i < len(c) else "" for c in cells) for i in range(count)),
        numeric=tuple(c.justify == "right" for c in columns),
        title=str(table.title or ""),
    )


def _mathtext_safe(text: str) -> str:
    """User text as a literal matplotlib title (a ``$`` would start mathtext)."""
    return text.replace("\\", "\\\\").replace("$", r"\$")


def comparison_png(objective: Objective, results: Sequence[RunResult], exp: Experiment) -> bytes:
    """The comparison figure (contours, surface, loss; loss only beyond two parameters)."""
    from optiscope.plots import comparison_figure, loss_figure

    draw = comparison_figure if objective.dim == 2 else loss_figure
    runs = [(r.label, r.trajectories, r.row) for r in results]
    repeats = [r.rows for r in results]
    title = _mathtext_safe(exp.name)
    if all(len(rows) == 1 for rows in repeats):
        fig = draw(runs, title)
    else:
        fig = draw(runs, title, repeats=repeats)
    return figure_png(fig)


def animation_gif(results: Sequence[RunResult], title: str) -> bytes:
    """The runs' paths growing over the contours, as GIF bytes (``plots.animate``)."""
    from optiscope.plots.animate import animation_bytes

    runs = [(r.label, r.trajectories, r.row) for r in results]
    return animation_bytes(runs, "gif", fps=ANIMATION_FPS, title=_mathtext_safe(title))


def internals_png(results: Sequence[RunResult], title: str) -> bytes:
    """What each optimizer carries over time (``plots.internals``), as PNG bytes."""
    from optiscope.plots.internals import internals_figure

    return figure_png(internals_figure(results, title=_mathtext_safe(title)))


def surface_view(objective: Objective, results: Sequence[RunResult]) -> dict[str, Any]:
    """The interactive 3-D view's Plotly figure (``report.surface3d``)."""
    from optiscope.report.surface3d import surface_figure

    return surface_figure(objective, results)
