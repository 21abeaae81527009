"""The seed note's experiments, registered by name and reproduced in one call.

The study note (docs/seed-note.md) ran gradient descent ("SGD"), Momentum and RMSProp with lr
0.1 for 50 steps from (1, 1) on the isotropic bowl ``w1^2 + w2^2`` and the anisotropic bowl
``w1^2 + 8*w2^2``. ``run_seed`` repeats every one of those runs, adds the setting the theory
says is best for momentum on the anisotropic bowl, and writes one figure per experiment, a
``summary.md`` table with the measured metrics, the predicted rate and a diagnosis, and
``summary.json`` with every number (paths included).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from optiscope import metrics
from optiscope.experiments import run_specs
from optiscope.explain import explain, measured_sentences, outcome_sentence
from optiscope.objectives import get_objective
from optiscope.output import to_json, write_atomic
from optiscope.tables import first_cell, num, pct_cell, rate_cell, split_steps, steps_cell
from optiscope.theory import heavy_ball_optimal, local_model

if TYPE_CHECKING:  # the report package is imported only when a page or an animation is made
    from optiscope.experiments import RunResult
    from optiscope.objectives import Objective
    from optiscope.report import Experiment, Section

SEED_LR = 0.1
SEED_STEPS = 50
SEED_START = (1.0, 1.0)
GD = "sgd:lr=0.1"
REPORT_FILE = "report.html"
SEED_INTRO = (
    "The study note ran gradient descent (SGD), Momentum and RMSProp with lr {lr} for {steps} "
    "steps from (1, 1) on the isotropic bowl w1^2 + w2^2 and the anisotropic bowl "
    "w1^2 + 8*w2^2. Every run is repeated here, measured, and explained with what the theory "
    "of quadratics predicts; the last section adds the momentum setting the theory says is "
    "fastest on the anisotropic bowl."
)
OVERVIEW_NOTE = (
    "One row per distinct run (SGD appears in several figures, listed once). Zig-zag: share "
    "of consecutive steps that reverse direction along the flat / steep eigen-direction. "
    "Rates are per step."
)
NUMERIC_COLUMNS = range(3, 9)  # TABLE_HEAD's final loss .. predicted rate: right-aligned


def momentum(alpha: float) -> str:
    """The seed's Momentum class (v = a*v + lr*g; w -= v) in optiscope terms."""
    return f"momentum:lr=0.1,momentum={alpha:g}"


def rmsprop(beta: float) -> str:
    """The seed's RMSProp class (eps 1e-10 outside the root) in optiscope terms."""
    return f"rmsprop:lr=0.1,alpha={beta:g},eps=1e-10"


@dataclass(frozen=True)
class SeedExperiment:
    """One figure of the note: a function and the optimizers drawn on it."""

    key: str
    function: str
    specs: tuple[str, ...]
    caption: str


def optimal_momentum_spec() -> str:
    """Heavy-ball momentum at the theory's optimal (lr, momentum) for the note's aniso bowl."""
    model = local_model(get_objective("aniso"))
    best = heavy_ball_optimal(model.mu, model.L)
    return f"momentum:lr={best['optimal_lr']!r},momentum={best['optimal_momentum']!r}"


def seed_experiments() -> tuple[SeedExperiment, ...]:
    """Every experiment of the note, in its order, plus the theory-optimal momentum."""
    return (
        SeedExperiment(
            "iso_momentum0.9_rmsprop0.1",
            "iso",
            (GD, momentum(0.9), rmsprop(0.1)),
            "Isotropic bowl: SGD does not zig-zag; momentum alpha 0.9, RMSProp beta 0.1.",
        ),
        SeedExperiment(
            "iso_momentum0.1_rmsprop0.9",
            "iso",
            (GD, momentum(0.1), rmsprop(0.9)),
            "Isotropic bowl: momentum alpha 0.1, RMSProp beta 0.9.",
        ),
        SeedExperiment(
            "aniso_momentum0.1",
            "aniso",
            (GD, momentum(0.1)),
            "Anisotropic bowl: SGD zig-zags; momentum alpha 0.1.",
        ),
        SeedExperiment(
            "aniso_momentum0.9",
            "aniso",
            (GD, momentum(0.9)),
            "Anisotropic bowl: momentum alpha 0.9 (the usual default) overshoots.",
        ),
        SeedExperiment(
            "aniso_momentum0.99",
            "aniso",
            (GD, momentum(0.99)),
            "Anisotropic bowl: momentum alpha 0.99 'does not converge: it overshoots'.",
        ),
        SeedExperiment(
            "aniso_rmsprop0.1", "aniso", (GD, rmsprop(0.1)), "Anisotropic bowl: RMSProp beta 0.1."
        ),
        SeedExperiment(
            "aniso_rmsprop0.99",
            "aniso",
            (GD, rmsprop(0.99)),
            "Anisotropic bowl: RMSProp beta 0.99.",
        ),
        SeedExperiment(
            "aniso_momentum_theory_optimal",
            "aniso",
            (GD, momentum(0.9), optimal_momentum_spec()),
            "Not in the note: the (lr, momentum) that theory says is fastest on the "
            "anisotropic bowl, beside the note's alpha 0.9.",
        ),
    )


def diagnosis(run: dict[str, Any], steps: int, tol: float, eigenvalues) -> str:
    """The single most telling sentence for a table cell."""
    m, th = run["metrics"], run["theory"]
    if m["diverged_at"] is not None or m["cycle_period"] is not None:
        first = outcome_sentence(run["optimizer"], m, steps, tol)
        cycle = [s for s in measured_sentences(m, th, eigenvalues) if s.startswith("Limit")]
        return cycle[0] if cycle else first
    if th is not None and th.get("method") != "adaptive":
        return next(s for s in run["text"] if s.startswith("Theory"))
    return run["text"][0]


TABLE_HEAD = (
    "experiment",
    "optimizer",
    "settings",
    "final loss",
    "steps to gap",
    "zig-zag flat/steep",
    "overshoot",
    "measured rate",
    "predicted rate",
    "cycle",
    "diagnosis",
)


def steps_header(tol: float, split: bool) -> str:
    """The seed table's one steps column: "gap <= tol from step" when the first step under tol
    is also the step from which the gap stays there in every row, else both, "first / stays"."""
    if split:
        return f"first gap <= {tol:g} / stays from"
    return f"gap <= {tol:g} from step"


def table_row(key: str, run: dict[str, Any], diag: str, split: bool = False) -> list[str]:
    """One summary row; every number comes from the run's metrics or theory.

    ``split``: the steps cell shows "first / stays" (see :func:`steps_header`).
    """
    m, th = run["metrics"], run["theory"] or {}
    zz = m["zigzag_per_direction"] or m["zigzag_per_coordinate"]
    return [
        key,
        run["optimizer"],
        run["settings"],
        num(m["loss_final"]),
        f"{first_cell(m)} / {steps_cell(m)}" if split else steps_cell(m),
        " / ".join(pct_cell(z) for z in zz) if zz else "-",
        pct_cell(m["overshoot"]),
        rate_cell(m),
        "-" if th.get("predicted_rate") is None else num(th["predicted_rate"]),
        "-"
        if m["cycle_period"] is None
        else f"period {m['cycle_period']}, amplitude {num(m['cycle_amplitude'])}",
        diag,
    ]


def as_experiment(
    exp: SeedExperiment, tol: float = metrics.DEFAULT_TOL, animate: bool = False
) -> Experiment:
    """The seed experiment as a report experiment (``optiscope.report``): same function,
    specs, steps and start; its key is the section's name."""
    from optiscope.report import Experiment

    return Experiment(
        name=exp.key,
        function=exp.function,
        specs=exp.specs,
        caption=exp.caption,
        steps=SEED_STEPS,
        start=SEED_START,
        tol=tol,
        animate=animate,
    )


def run_seed(
    out_dir: Path,
    tol: float = metrics.DEFAULT_TOL,
    progress: Callable[[str], None] | None = None,
    html: bool = False,
    animate: bool = False,
) -> dict[str, Any]:
    """Run every seed experiment; write figures, summary.md and summary.json into ``out_dir``.

    Returns the summary object (also written as summary.json): the setup, one entry per
    experiment with its figure file and the explained runs (paths included), and the table rows.

    ``animate``: also write ``<key>.gif`` beside each figure (the paths growing step by step,
    ``plots.animate``), named in the experiment's ``"animation"`` entry. ``html``: also write
    ``report.html``, the report page of ``optiscope report`` holding every experiment (with
    its animation when ``animate``), built from these same runs and figures.
    """
    from optiscope.plots import comparison_figure
    from optiscope.plots.compare import DPI
    from optiscope.report.sections import figure_png

    out_dir.mkdir(parents=True, exist_ok=True)
    experiments, table_runs, seen, sections = [], [], set(), []
    for i, exp in enumerate(seed_experiments(), start=1):
        if progress:
            progress(f"[{i}/{len(seed_experiments())}] {exp.key}")
        objective = get_objective(exp.function)
        results = run_specs(objective, exp.specs, steps=SEED_STEPS, start=SEED_START)
        explained = explain(objective, exp.specs, SEED_STEPS, SEED_START, tol, results=results)
        figure = out_dir / f"{exp.key}.png"
        fig = comparison_figure(
            [(r.label, r.trajectories, r.row) for r in results],
            title=f"{exp.caption}\nlr {SEED_LR}, {SEED_STEPS} steps from (1, 1)",
        )
        png = figure_png(fig, DPI)  # the bytes save_figure writes, kept for the page
        write_atomic(figure, png, "figure")
        entry = {"key": exp.key, "function": exp.function, "caption": exp.caption}
        entry["figure"] = figure.name
        gif = None
        if animate:
            gif = seed_animation(results, exp)
            entry["animation"] = write_atomic(out_dir / f"{exp.key}.gif", gif, "animation").name
        if html:
            sections.append(_section(exp, objective, results, explained, png, gif, tol, animate))
        eigenvalues = None if explained["theory"] is None else explained["theory"]["eigenvalues"]
        for result, run in zip(results, explained["runs"], strict=True):
            run["path"] = result.trajectories.positions[:, result.row].tolist()
            if (exp.function, result.spec) not in seen:  # GD appears in several figures
                seen.add((exp.function, result.spec))
                diag = diagnosis(run, SEED_STEPS, tol, eigenvalues)
                table_runs.append((exp.key, run, diag))
        entry |= {"best": explained["best"], "runs": explained["runs"]}
        experiments.append(entry)
    split = split_steps([run["metrics"] for _, run, _ in table_runs])
    summary = {
        "setup": {"lr": SEED_LR, "steps": SEED_STEPS, "start": list(SEED_START), "tol": tol},
        "columns": [steps_header(tol, split) if c == "steps to gap" else c for c in TABLE_HEAD],
        "rows": [table_row(key, run, diag, split) for key, run, diag in table_runs],
        "experiments": experiments,
    }
    write_atomic(out_dir / "summary.json", to_json(summary), "JSON file")
    write_atomic(out_dir / "summary.md", summary_markdown(summary), "summary")
    if html:
        write_atomic(out_dir / REPORT_FILE, seed_page(summary, sections), "report")
    return summary


def seed_animation(results: Sequence[RunResult], exp: SeedExperiment) -> bytes:
    """The experiment's paths growing step by step, as GIF bytes."""
    from optiscope.report.sections import animation_gif

    return animation_gif(results, exp.caption)


def _section(
    exp: SeedExperiment,
    objective: Objective,
    results: Sequence[RunResult],
    explained: dict[str, Any],
    png: bytes,
    gif: bytes | None,
    tol: float,
    animate: bool,
) -> Section:
    """The report section of ``exp`` from the runs, sentences and figure the seed made."""
    from optiscope.report import build_section

    return build_section(
        as_experiment(exp, tol, animate),
        objective,
        SEED_START,
        results,
        figure=png,
        explained=explained,
        animation=gif,
    )


def seed_page(summary: dict[str, Any], sections: Sequence[Section]) -> str:
    """report.html: the seed's table of every run, then one report section per experiment."""
    from optiscope.report.page import render_page
    from optiscope.report.sections import TableData

    setup = summary["setup"]
    overview = TableData(
        header=tuple(summary["columns"]),
        rows=tuple(tuple(row) for row in summary["rows"]),
        numeric=tuple(i in NUMERIC_COLUMNS for i in range(len(summary["columns"]))),
    )
    return render_page(
        "The seed note's experiments, measured and explained",
        SEED_INTRO.format(lr=setup["lr"], steps=setup["steps"]),
        sections,
        overview=overview,
        overview_note=OVERVIEW_NOTE,
    )


def summary_markdown(summary: dict[str, Any]) -> str:
    """summary.md: the table, then each experiment's figure and explanation."""
    setup = summary["setup"]
    head = summary["columns"]
    lines = [
        "# The seed note's experiments, measured and explained",
        "",
        f"lr {setup['lr']}, {setup['steps']} steps from ({setup['start'][0]:g}, "
        f"{setup['start'][1]:g}), as in the note. Zig-zag: share of consecutive steps that "
        "reverse direction along the flat / steep eigen-direction. Rates are per step.",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "---|" * len(head),
    ]
    lines += [
        "| " + " | ".join(cell.replace("|", "/") for cell in row) + " |" for row in summary["rows"]
    ]
    for exp in summary["experiments"]:
        lines += [
            "",
            f"## {exp['key']}",
            "",
            exp["caption"],
            "",
            f"![{exp['key']}]({exp['figure']})",
            "",
        ]
        for run in exp["runs"]:
            lines.append("- " + " ".join(run["text"]))
        lines += [f"- {s}" for s in exp["best"]]
    return "\n".join(lines) + "\n"
