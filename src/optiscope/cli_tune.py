"""``optiscope tune``: every optimizer at its best with the same budget, ranked.

Registered on ``optiscope.cli.app`` when this module is imported (``cli.py`` imports it).
Messages, exit statuses and output follow ``optiscope.cli``: one line and status 2 for a
user's mistake, files written whole, strict JSON.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from optiscope import metrics
from optiscope.cli import (
    FunctionArg,
    JsonOpt,
    NoiseOpt,
    SeedOpt,
    StartOpt,
    TolOpt,
    _print_json,
    app,
    counted_progress,
    out,
)
from optiscope.output import figure_path, prepare_folder, printable, to_json, write_atomic
from optiscope.tune import TIE_BREAKERS, TuneReport, tune

TUNE_FOLDER = "tune_out"

OptimizersArg = Annotated[
    list[str],
    typer.Argument(
        metavar="OPT...", help="Optimizer names (see `optiscope optimizers`), e.g. momentum adam."
    ),
]


@app.command("tune")
def tune_command(
    function: FunctionArg,
    optimizers: OptimizersArg,
    budget: Annotated[
        int,
        typer.Option(
            "--budget",
            metavar="N",
            help="Evaluations per optimizer, the same for each: settings x starts x seeds "
            "(at least 8 settings per tuned hyperparameter).",
        ),
    ] = 2048,
    steps: Annotated[
        int, typer.Option("--steps", "-n", metavar="S", help="Steps per run (1 to 100000).")
    ] = 200,
    start: StartOpt = None,
    starts: Annotated[
        int,
        typer.Option(
            "--starts",
            metavar="K",
            help="Score every setting from K starts: the --start (or the function's own) and "
            "K-1 drawn in the function's plot box (seeded by --seed); the median counts.",
        ),
    ] = 1,
    seeds: Annotated[
        int,
        typer.Option(
            "--seeds", metavar="R", help="With --noise: score every setting over R noise seeds."
        ),
    ] = 1,
    noise: NoiseOpt = 0.0,
    objective: Annotated[
        str,
        typer.Option(
            "--objective",
            metavar="OBJ",
            help="What a run scores, lower is better: steps_to_tol (first step with "
            "f - f_min <= TOL; never: steps + 1, then gap_final), gap_final, auc (mean log10 "
            "gap per step), loss_final (needs no known minimum).",
        ),
    ] = "steps_to_tol",
    params: Annotated[
        str,
        typer.Option(
            "--params",
            metavar="P",
            help="method: the hyperparameters that define the method (lr, momentum, betas, "
            "alpha, rho, eps, lr_power, L-BFGS's history_size and line_search); all: adds "
            "weight_decay, dampening, FTRL's l1/l2/l2_shrinkage/beta, Adagrad's lr_decay and "
            "initial_accumulator_value (out by default: they move the minimizer or duplicate "
            "lr); or names, e.g. lr or lr,beta1.",
        ),
    ] = "method",
    booleans: Annotated[
        bool,
        typer.Option("--booleans", help="Also tune amsgrad (adam, adamw) and centered (rmsprop)."),
    ] = False,
    seed: SeedOpt = 0,
    tol: TolOpt = metrics.DEFAULT_TOL,
    out_dir: Annotated[
        Path,
        typer.Option(
            "--out",
            "-o",
            metavar="DIR",
            help="Folder for tune.parquet, tune.csv (every evaluated run), tune.json, tune.png.",
        ),
    ] = Path(TUNE_FOLDER),
    as_json: JsonOpt = False,
) -> None:
    """Tune each optimizer with the same budget and rank them at their best.

    Per optimizer: a Sobol' round over its search space (lr, eps on a log scale; momentum,
    alpha, betas, rho on a log scale of 1 - x), then rounds that shrink the box around the best
    settings; a setting's score is the median over its starts x seeds, so a setting that works
    from one lucky start does not win. Deterministic for a given --seed.

    Examples:

    \b
      optiscope tune aniso momentum sgd rmsprop adam --steps 100 --start 1,1
      optiscope tune rosenbrock adam --steps 500 --starts 5 --budget 10240 --objective gap_final
      optiscope tune rosenbrock adam --params lr --steps 500
      optiscope tune aniso momentum adam --noise 0.5 --seeds 4 --objective loss_final
    """
    prepare_folder(out_dir)
    figure_path(out_dir / "tune.png")  # a bad destination is refused before anything runs
    with counted_progress("tuning") as progress:
        report = tune(
            function, optimizers, budget=budget, steps=steps, start=start, starts=starts,
            seeds=seeds, objective=objective, seed=seed, noise=noise, tol=tol, params=params,
            booleans=booleans, progress=progress,
        )  # fmt: skip
    files = write_tune_files(report, out_dir)
    if as_json:
        _print_json({**report.to_json(), "files": [str(f) for f in files]})
        return
    print_tune(report, files)


def write_tune_files(report: TuneReport, out_dir: Path) -> list[Path]:
    """tune.parquet and tune.csv (every evaluated row), tune.png, then tune.json."""
    parquet = io.BytesIO()
    report.evaluated.to_parquet(parquet)
    files = [write_atomic(out_dir / "tune.parquet", parquet.getvalue(), "Parquet file")]
    files.append(write_atomic(out_dir / "tune.csv", report.evaluated.to_csv(), "CSV file"))
    files.append(tuned_figure(report, out_dir / "tune.png"))
    record = {**report.to_json(), "files": [str(f) for f in [*files, out_dir / "tune.json"]]}
    files.append(write_atomic(out_dir / "tune.json", to_json(record), "JSON file"))
    return files


def tuned_figure(report: TuneReport, path: Path) -> Path:
    """Paths and loss curves of every optimizer's tuned setting from every start and noise
    seed the tuning used (the same starts: ``experiments.draw_starts`` with the same seed):
    a median loss line with a spread band when there are several."""
    from optiscope.experiments import run_specs
    from optiscope.plots import comparison_figure, loss_figure, save_figure

    conditions = report.conditions
    results = run_specs(
        report.target,
        report.tuned_specs(),
        steps=conditions["steps"],
        start=tuple(float(v) for v in report.starts[0]),
        noise=conditions["noise"],
        seed=conditions["seed"],
        starts=conditions["starts"],
        seeds=conditions["seeds"] if conditions["noise"] > 0 else 1,
    )
    draw = comparison_figure if report.target.dim == 2 else loss_figure
    title = f"{report.target.name}: each optimizer at its tuned setting ({_repeats_text(report)})"
    # short labels (4 digits): the runs themselves use the tuned values in full
    labels = [
        f"{name} ({settings_text(settings)})"
        for name, settings in zip(
            report.ranking["optimizer"], report.ranking["settings"], strict=True
        )
    ]
    runs = [(label, r.trajectories, r.row) for label, r in zip(labels, results, strict=True)]
    repeats = [r.rows for r in results]
    if all(len(rows) == 1 for rows in repeats):
        fig = draw(runs, title)
    else:
        fig = draw(runs, title, repeats=repeats)
    return save_figure(fig, path)


def _repeats_text(report: TuneReport) -> str:
    c = report.conditions
    starts = f"{c['starts']} start" + ("s" if c["starts"] > 1 else "")
    text = f"{c['budget']:,} evaluations each: {c['settings']:,} settings x {starts}"
    return text + (f" x {c['seeds']} seeds" if c["seeds"] > 1 else "")


def print_tune(report: TuneReport, files: list[Path]) -> None:
    """The ranking table, the theory beside the tuned settings, the note's settings, files."""
    c = report.conditions
    objective = c["objective"]
    tie = TIE_BREAKERS[objective]
    noise = f", noise sigma {c['noise']:g}" if c["noise"] else ""
    out.print(
        f"{printable(report.target.name)}  {len(report.ranking)} "
        f"optimizer{'s' if len(report.ranking) > 1 else ''} tuned, "
        f"{_repeats_text(report)}, {c['steps']} steps{noise}, in {report.seconds:.2f} s",
        markup=False,
        highlight=False,
    )
    title = f"tuned by {objective} (median over starts x seeds" + (
        f"; ties: {tie})" if tie else ")"
    )
    table = Table(title=title)
    for column in ("rank", "optimizer", "tuned settings", objective, "worst", "spread", "rate"):
        table.add_column(column, justify="left" if column == "tuned settings" else "right")
    table.add_column("evaluations", justify="right")
    for row in report.ranking.to_dict(orient="records"):
        table.add_row(
            str(row["rank"]),
            printable(row["optimizer"]),
            settings_text(row["settings"]),
            _score(row["score"], objective, c["steps"], row.get("tie_break")),
            _score(row["worst"], objective, c["steps"]),
            _number(row["spread"]),
            _number(row["rate"]),
            f"{row['evaluations']:,}",
        )
    out.print(table)
    for name, beside in report.theory.items():
        out.print(theory_line(name, beside, report), markup=False, highlight=False, soft_wrap=True)
    tuned = dict(zip(report.ranking["optimizer"], report.ranking["score"], strict=True))
    for note in report.note:
        beside = ", ".join(
            f"tuned {n} {_score(tuned[n], objective, c['steps'])}" for n in note["beside"]
        )
        out.print(
            f"the note's {note['spec']}: {objective} "
            f"{_score(note['score'], objective, c['steps'])} (worst "
            f"{_score(note['worst'], objective, c['steps'])}); {beside}",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
    written = ", ".join(str(f) for f in files)
    out.print(f"wrote {written}", markup=False, highlight=False, soft_wrap=True)


def theory_line(name: str, beside: dict[str, Any], report: TuneReport) -> str:
    """One line: the theory's optimum, the tuned setting and its measured rate."""
    optimum = ", ".join(f"{k} {v:.4g}" for k, v in beside["setting"].items())
    row = report.ranking[report.ranking["optimizer"] == name].iloc[0]
    line = (
        f"theory ({beside['method']} on the quadratic, mu={beside['mu']:.4g}, "
        f"L={beside['L']:.4g}): optimal {optimum}, rate {beside['rate']:.4g}; tuned {name}: "
        f"{settings_text(row['settings'])}"
    )
    if beside["best_rate"] is None:
        return line + ", no measured rate"
    return line + (
        f", measured rate {beside['best_rate']:.4g} ({100 * beside['rate_gap']:+.1f}% from the "
        "theory's optimal rate)"
    )


def settings_text(settings: dict[str, Any]) -> str:
    """``"lr 0.1336, momentum 0.2491"``: the tuned values, 4 significant digits."""
    parts = []
    for key, value in settings.items():
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, float):
            text = f"{value:.4g}"
        else:
            text = printable(str(value))
        parts.append(f"{key} {text}")
    return ", ".join(parts)


def _score(value: Any, objective: str, steps: int, tie_break: Any = None) -> str:
    """A score as users read it: steps_to_tol beyond the horizon is "never" (with the median
    tie-breaker when known), an infinite score "diverged"."""
    if value is not None and float(value) == float("inf"):
        return "diverged"
    if objective == "steps_to_tol" and value is not None and float(value) > steps:
        gap = _number(tie_break)
        return "never" if gap == "-" else f"never (gap {gap})"
    return _number(value)


def _number(value: Any) -> str:
    if value is None:
        return "-"
    value = float(value)
    if value != value:
        return "-"
    return f"{value:.4g}"
