"""The ``optiscope`` command: a thin shell over the Python API (parsing, messages, output).

A user's mistake (unknown name, bad value, unsafe formula, a bad output path) prints one line
on stderr and exits with status 2; a failing disk (full, I/O error) or a closed output pipe
exits with status 1; Ctrl-C prints "aborted" and exits with status 130. It never shows a
traceback. Output goes through ``optiscope.output``: JSON is strict (non-finite numbers are the
strings "inf", "-inf", "nan"), files are written whole or not at all, and text the user typed
is echoed with control characters escaped.
"""

from __future__ import annotations

import contextlib
import errno
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table
from typer.exceptions import Abort, Exit, TyperException

from optiscope import __version__, metrics
from optiscope.errors import OptiscopeError
from optiscope.experiments import RunResult, check_repeat_counts, report, run_specs
from optiscope.objectives import FUNCTIONS, Objective, get_objective
from optiscope.optimizers import OPTIMIZERS
from optiscope.output import (
    DISK_ERRORS,
    OutputError,
    figure_path,
    prepare_folder,
    printable,
    to_json,
    write_atomic,
)
from optiscope.specs import parse_point
from optiscope.stochastic import parse_batch_size
from optiscope.tables import markdown_table, results_table
from optiscope.theory import check_tol

app = typer.Typer(
    name="optiscope",
    help=(
        "See, measure and explain how gradient-based optimizers move.\n\n"
        "FUNCTION is a catalogue name with optional parameters "
        "(aniso, quadratic:kappa=50,angle=30; see `optiscope functions`) "
        "or a formula in w1, w2 such as '(1-w1)**2 + 100*(w2-w1**2)**2'. "
        "OPTSPEC is NAME or NAME:key=value,... such as momentum:lr=0.1,momentum=0.9 "
        "(see `optiscope optimizers`)."
    ),
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


class _Stdout:
    """``sys.stdout`` (looked up at each call), whose write errors become OutputErrors.

    A reader that leaves early (``| head``) or a full disk then ends the command with one line
    and status 1, wherever the output was being printed.
    """

    def write(self, text: str) -> int:
        try:
            return sys.stdout.write(text)
        except OSError as e:
            raise _stdout_error(e) from None

    def flush(self) -> None:
        try:
            sys.stdout.flush()
        except OSError as e:
            raise _stdout_error(e) from None

    def __getattr__(self, name: str) -> Any:
        return getattr(sys.stdout, name)


def _stdout_error(e: OSError) -> OutputError:
    _silence_stdout()
    if e.errno == errno.EPIPE:
        return OutputError("output closed early (broken pipe)", 1)
    return OutputError(f"cannot write output: {e.strerror or type(e).__name__}", 1)


out = Console(file=_Stdout(), width=None if sys.stdout.isatty() else 160)  # pipes: wide tables
err = Console(stderr=True, width=None if sys.stderr.isatty() else 400)

FunctionArg = Annotated[
    str, typer.Argument(metavar="FUNCTION", help="Catalogue spec or formula in w1, w2.")
]
OptspecsArg = Annotated[
    list[str], typer.Argument(metavar="OPTSPEC...", help="One or more optimizer specs.")
]
PlotOpt = Annotated[
    Path | None,
    typer.Option(
        "--plot",
        metavar="FILE",
        help="Write the figure (contour, 3-D, loss) here; the suffix names the format "
        "(.png, .pdf, .svg, ...).",
    ),
]
SurfaceOpt = Annotated[
    bool | None,
    typer.Option(
        "--surface/--no-surface",
        help="Force the figure's 3-D panel on or off. Default: on for at most 3 runs on a smooth "
        "function, off beyond (small multiples) or on rugged ones (rastrigin, ackley).",
    ),
]
InternalsOpt = Annotated[
    Path | None,
    typer.Option(
        "--internals",
        metavar="FILE",
        help="Also write the internals figure here: per run the path with velocity arrows, the "
        "state the optimizer carries (velocity, accumulators), the effective step per "
        "coordinate (rule, measured |dx|/|g|, lr/|g|), the lr when scheduled (at most 6 runs).",
    ),
]
StepsOpt = Annotated[
    int, typer.Option("--steps", "-n", metavar="N", help="Number of optimizer steps (1 to 100000).")
]
StartOpt = Annotated[
    str | None,
    typer.Option(
        "--start",
        metavar="W1,W2",
        help="Start point W1,W2 (default: the function's own start). "
        "Negative values: --start=-1.5,2",
    ),
]
TolOpt = Annotated[
    float,
    typer.Option(
        "--tol",
        metavar="TOL",
        help="Loss-gap tolerance: a run has reached it at a step where f - f_min <= TOL.",
    ),
]
JsonOpt = Annotated[
    bool, typer.Option("--json", help="Print one JSON object instead of the table or text.")
]
PathOpt = Annotated[
    bool, typer.Option("--path", help="With --json: include every run's path [[w1, w2], ...].")
]
NoiseOpt = Annotated[
    float,
    typer.Option(
        "--noise",
        metavar="SIGMA",
        help="Std of Gaussian noise added to every gradient (0: exact gradients).",
    ),
]
BatchOpt = Annotated[
    str,
    typer.Option(
        "--batch-size",
        metavar="SIZE",
        help="Data objectives: examples per gradient; full = GD, 1 = SGD, between = mini-batch.",
    ),
]
SeedOpt = Annotated[
    int,
    typer.Option(
        "--seed", metavar="SEED", help="Seed of the noise and the shuffles (same seed, same run)."
    ),
]
RepeatStartsOpt = Annotated[
    int,
    typer.Option(
        "--starts",
        metavar="K",
        help="Run every spec from K starts: the --start point (or the function's own), then "
        "K-1 drawn uniformly in the function's plot box, seeded by --seed (1 to 64). "
        "The table shows medians and their spread.",
    ),
]
RepeatSeedsOpt = Annotated[
    int,
    typer.Option(
        "--seeds",
        metavar="R",
        help="Stochastic runs (--noise, --batch-size): run every spec under R noise seeds "
        "(1 to 64).",
    ),
]


def _show_version(value: bool) -> None:
    if value:
        out.print(f"optiscope {__version__}", markup=False, highlight=False)
        raise Exit(0)


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", help="Print the version and exit.", is_eager=True, callback=_show_version
        ),
    ] = False,
) -> None:
    """See, measure and explain how gradient-based optimizers move."""


def _start(objective: Objective, text: str | None) -> tuple[float, ...]:
    return objective.start if text is None else parse_point(text, objective.dim)


def _objective_and_start(function: str, start: str | None) -> tuple[Objective, tuple[float, ...]]:
    """The objective to run and the start point.

    A typed formula has no catalogue minimum: the local minimizer the theory finds from the
    start is found here once (``with_found_minimum``) and used by every metric, table, figure
    and sentence of the command, so gap, distance and steps to tolerance mean the same
    everywhere.
    """
    from optiscope.theory import with_found_minimum

    objective = get_objective(function)
    point = _start(objective, start)
    return with_found_minimum(objective, point), point


PROGRESS_MIN_STEPS = 20_000  # below this a run is over before a bar would help


@contextmanager
def progress_bar(work: int) -> Iterator[Callable[[int, int], None] | None]:
    """A progress bar on stderr for long runs in a terminal; None (no bar) otherwise."""
    if work < PROGRESS_MIN_STEPS or not err.is_terminal:
        yield None
        return
    with Progress(console=err, transient=True) as bar:
        task = bar.add_task("optimizing", total=work)
        yield lambda done, total: bar.update(task, completed=done, total=total)


def _execute(
    function: str,
    optspecs: list[str],
    steps: int,
    start: str | None,
    tol: float,
    with_path: bool,
    noise: float = 0.0,
    batch_size: str = "full",
    seed: int = 0,
    repeats: tuple[int, int] = (1, 1),
    record_state: bool = False,
) -> tuple[Objective, list[RunResult], dict[str, Any]]:
    check_tol(tol)
    check_repeat_counts(*repeats)  # before the function is built: a bad count costs nothing
    objective, point = _objective_and_start(function, start)
    results = _run_with_progress(
        objective, optspecs, steps, point, noise, batch_size, seed, repeats, record_state
    )
    data = report(objective, results, steps, point, tol, with_path)
    data.update(_gradient_settings(noise, batch_size, seed))
    return objective, results, data


def _run_with_progress(
    objective: Objective,
    optspecs: list[str],
    steps: int,
    point: tuple[float, ...],
    noise: float,
    batch_size: str,
    seed: int,
    repeats: tuple[int, int] = (1, 1),
    record_state: bool = False,
) -> list[RunResult]:
    """``run_specs`` with a progress bar on long runs; ``repeats`` = (starts, seeds);
    ``record_state``: keep the optimizers' state for the internals figure."""
    with progress_bar(steps * len(optspecs)) as progress:
        return run_specs(
            objective,
            optspecs,
            steps=steps,
            start=point,
            record_state=record_state,
            noise=noise,
            batch_size=batch_size,
            seed=seed,
            progress=progress,
            starts=repeats[0],
            seeds=repeats[1],
        )


def _gradient_settings(noise: float, batch_size: str, seed: int) -> dict[str, Any]:
    """``{"noise", "batch_size" ("full" or an int), "seed"}`` as the JSON reports them."""
    size = parse_batch_size(batch_size)
    return {"noise": float(noise), "batch_size": "full" if size is None else size, "seed": seed}


def _print_json(data: dict[str, Any]) -> None:
    out.file.write(to_json(data))
    out.file.flush()  # report a closed pipe or a full disk now, as an OutputError


def _print_header(objective: Objective, data: dict[str, Any]) -> None:
    from rich.text import Text

    start = ", ".join(f"{v:g}" for v in data["start"])
    line = Text(printable(objective.name), style="bold")
    line.append(f"  f = {printable(objective.formula)}   start ({start}), {data['steps']} steps")
    out.print(line, highlight=False)
    if objective.minimum_note and objective.f_min is not None:
        out.print(
            f"minimum: f = {objective.f_min:.6g} at {_points_text(objective.minimizers)}, "
            f"{objective.minimum_note}",
            markup=False,
            highlight=False,
        )
    if data.get("noise") or data.get("batch_size", "full") != "full":
        out.print(f"gradients: {_stochastic_text(objective, data)}", highlight=False)
    if "start_points" in data:
        out.print(_repeats_text(data), markup=False, highlight=False)


def _repeats_text(data: dict[str, Any]) -> str:
    """``"runs per spec: 4 starts x 2 noise seeds = 8; the first start (1, 1), the others
    drawn in the plot box (seed 0)"``."""
    starts, seeds = data["starts"], data["seeds"]
    parts = [f"{starts} start{'s' * (starts > 1)}"]
    if seeds > 1:
        parts.append(f"{seeds} noise seeds")
    first = _points_text(data["start_points"][:1])
    where = (
        f"the first start {first}, the others drawn in the plot box (seed {data.get('seed', 0)})"
    )
    return f"runs per spec: {' x '.join(parts)} = {starts * seeds}; " + (
        where if starts > 1 else f"start {first}"
    )


def _points_text(points) -> str:
    """``"(1, 2); (-3, 0.5)"``: points as the tables write them (6 significant digits)."""
    return "; ".join("(" + ", ".join(f"{v:.6g}" for v in p) + ")" for p in points)


def _stochastic_text(objective: Objective, data: dict[str, Any]) -> str:
    """``"mini-batch SGD, 32 of 442 examples per step, seed 0"``: what the optimizer saw."""
    parts = []
    size = data.get("batch_size", "full")
    if size != "full":
        n = getattr(objective, "examples", "?")
        kind = "SGD" if size == 1 else ("GD (shuffled)" if size == n else "mini-batch SGD")
        parts.append(f"{kind}, {size} of {n} examples per step")
    if data.get("noise"):
        parts.append(f"Gaussian noise sigma {data['noise']:g}")
    return ", ".join(parts) + f", seed {data.get('seed', 0)}"


@app.command("run")
def run_command(
    function: FunctionArg,
    optspec: Annotated[
        str, typer.Argument(metavar="OPTSPEC", help="Optimizer spec, e.g. adam:lr=0.1.")
    ],
    steps: StepsOpt = 100,
    start: StartOpt = None,
    tol: TolOpt = metrics.DEFAULT_TOL,
    as_json: JsonOpt = False,
    with_path: PathOpt = False,
    plot: PlotOpt = None,
    noise: NoiseOpt = 0.0,
    batch_size: BatchOpt = "full",
    seed: SeedOpt = 0,
    starts: RepeatStartsOpt = 1,
    seeds: RepeatSeedsOpt = 1,
    internals: InternalsOpt = None,
    surface: SurfaceOpt = None,
) -> None:
    """Run one optimizer on one function and report where it ended.

    With --starts K (and --seeds R for stochastic gradients) the optimizer runs K x R times
    in one batch, from K starts (the first is --start) under R noise seeds; the table gives
    the median of each metric with its spread (min..max, or 10-90% from 10 runs), the JSON
    every run ("repeats") and the figure every path with a median loss line and a band.

    Examples:

    \b
      optiscope run aniso momentum:lr=0.1,momentum=0.9 --steps 50 --start 1,1
      optiscope run '(1-w1)**2 + 100*(w2-w1**2)**2' adam:lr=0.05 --start=-1.2,1 --plot r.png
      optiscope run linreg:features=bmi sgd:lr=0.5 --batch-size 1 --seed 3
      optiscope run rosenbrock adam:lr=0.05 --steps 300 --starts 8 --plot r8.png
      optiscope run aniso sgd:lr=0.1 --noise 0.5 --seeds 10 --start 1,1
      optiscope run aniso rmsprop:lr=0.1,alpha=0.1,eps=1e-10 --start 1,1 --internals i.png
    """
    _check_internals(internals, 1)
    objective, results, data = _execute(
        function, [optspec], steps, start, tol, with_path, noise, batch_size, seed,
        (starts, seeds), internals is not None,
    )  # fmt: skip
    figure = None if plot is None else _write_figure(objective, results, plot, data, surface, tol)
    internals_file = (
        None if internals is None else _write_internals(objective, results, internals, data)
    )
    if as_json:
        _print_json(data)
        return
    _print_header(objective, data)
    out.print(results_table(data["runs"], tol))
    first = " (the first run)" if "repeats" in data["runs"][0] else ""
    final = ", ".join(f"{v:.6g}" for v in data["runs"][0]["x_final"])
    out.print(f"final point{first}: ({final})")
    if figure is not None:
        out.print(f"figure: {figure}")
    if internals_file is not None:
        out.print(f"internals: {internals_file}")


COMPARE_FOLDER = "compare_out"  # not seed's out/: a comparison never overwrites the seed's files


@app.command("compare")
def compare_command(
    function: FunctionArg,
    optspecs: OptspecsArg,
    steps: StepsOpt = 100,
    start: StartOpt = None,
    tol: TolOpt = metrics.DEFAULT_TOL,
    out_dir: Annotated[
        Path,
        typer.Option(
            "--out",
            "-o",
            metavar="DIR",
            help="Folder for compare.png, table.md, runs.json (and internals.png).",
        ),
    ] = Path(COMPARE_FOLDER),
    as_json: JsonOpt = False,
    with_path: PathOpt = False,
    noise: NoiseOpt = 0.0,
    batch_size: BatchOpt = "full",
    seed: SeedOpt = 0,
    starts: RepeatStartsOpt = 1,
    seeds: RepeatSeedsOpt = 1,
    internals: Annotated[
        bool,
        typer.Option(
            "--internals",
            help="Also write internals.png in the --out folder: per run the state the optimizer "
            "carries and its effective step per coordinate (at most 6 specs).",
        ),
    ] = False,
    surface: SurfaceOpt = None,
) -> None:
    """Run several optimizers from the same start; write a figure and a table.

    --starts K runs every spec from K starts (the first is --start, the others drawn in
    the function's plot box, seeded by --seed) and --seeds R under R noise seeds (with
    --noise or --batch-size), all in one batch per optimizer: one table row per spec with the
    median of each metric and its spread (min..max, or 10-90% from 10 runs) and how many of
    its runs diverged; runs.json keeps every run; the figure draws every path thin and the median
    loss with a band.

    Examples (the first is the seed note's comparison):

    \b
      optiscope compare aniso sgd:lr=0.1 momentum:lr=0.1,momentum=0.9 \\
          rmsprop:lr=0.1,alpha=0.9,eps=1e-10 --steps 50 --start 1,1
      optiscope compare himmelblau sgd:lr=0.01 adam:lr=0.1 --steps 200 --starts 16
      optiscope compare aniso sgd:lr=0.1 momentum:lr=0.05,momentum=0.9 --start 1,1 \\
          --noise 0.5 --seeds 20 --steps 100
      optiscope compare aniso momentum:lr=0.1,momentum=0.99 adam:lr=0.1 --start 1,1 \\
          --internals
    """
    _check_internals(out_dir / "internals.png" if internals else None, len(optspecs))
    objective, results, data = _execute(
        function, optspecs, steps, start, tol, with_path, noise, batch_size, seed,
        (starts, seeds), internals,
    )  # fmt: skip
    prepare_folder(out_dir)
    figure = _write_figure(objective, results, out_dir / "compare.png", data, surface, tol)
    written = [figure]
    if internals:
        written.append(_write_internals(objective, results, out_dir / "internals.png", data))
    write_atomic(out_dir / "table.md", markdown_table(data["runs"], tol), "table")
    write_atomic(out_dir / "runs.json", to_json(data), "JSON file")
    if as_json:
        _print_json(data)
        return
    _print_header(objective, data)
    out.print(results_table(data["runs"], tol))
    files = [*written, out_dir / "table.md", out_dir / "runs.json"]
    out.print("wrote " + ", ".join(str(f) for f in files))


def _write_figure(
    objective: Objective,
    results: list[RunResult],
    path: Path,
    data: dict[str, Any] | None = None,
    surface: bool | None = None,
    tol: float = metrics.DEFAULT_TOL,
) -> Path:
    """Contour, surface and loss for a 2-D objective; loss curves only for more parameters.

    ``surface`` forces the 3-D panel on or off (None: the figure decides); ``tol`` sets the
    loss panel's tolerance line and floor (tol / 100)."""
    from optiscope.plots import comparison_figure, loss_figure, save_figure

    stochastic = data is not None and (data.get("noise") or data.get("batch_size") != "full")
    title = f"stochastic gradients: {_stochastic_text(objective, data)}" if stochastic else None
    figure_path(path)  # a bad destination is refused before anything is drawn
    options: dict[str, Any] = {"tol": tol}
    if objective.dim == 2:
        draw, options["surface"] = comparison_figure, surface
    else:
        draw = loss_figure
    runs = [(r.label, r.trajectories, r.row) for r in results]
    repeats = [r.rows for r in results]
    if all(len(rows) == 1 for rows in repeats):
        fig = draw(runs, title, **options)  # single runs: exactly the figure without repeats
    else:
        fig = draw(runs, title, repeats=repeats, **options)
    return save_figure(fig, path)


def _check_internals(path: Path | None, runs: int) -> None:
    """Refuse, before anything runs, a bad --internals destination or too many runs for it."""
    if path is None:
        return
    figure_path(path)
    from optiscope.plots.internals import MAX_RUNS

    if runs > MAX_RUNS:
        raise OptiscopeError(
            f"--internals draws one row per optimizer spec, at most {MAX_RUNS}; got {runs} "
            "specs: leave --internals out or pass fewer specs"
        )


def _add_internals_sentences(data: dict[str, Any], results: list[RunResult]) -> None:
    """Append to each run's explanation where its effective steps settled (adaptive
    optimizers whose steps settled; ``internals.effective_step_sentence``)."""
    from optiscope.internals import effective_step_sentence, internals_of
    from optiscope.plots.labels import parameter_names

    for record, result in zip(data["runs"], results, strict=True):
        it = internals_of(result)
        sentence = effective_step_sentence(it, parameter_names(it.objective))
        if sentence is not None:
            record["text"].append(sentence)


def _write_internals(
    objective: Objective, results: list[RunResult], path: Path, data: dict[str, Any] | None = None
) -> Path:
    """The internals figure (``plots.internals``) of runs recorded with their state."""
    from optiscope.plots import save_figure
    from optiscope.plots.internals import internals_figure

    stochastic = data is not None and (data.get("noise") or data.get("batch_size") != "full")
    title = f"stochastic gradients: {_stochastic_text(objective, data)}" if stochastic else None
    return save_figure(internals_figure(results, title), path)


@app.command("functions")
def functions_command() -> None:
    """List the catalogue of test functions with formulas, parameters and minima."""
    get_objective("iso")  # loads the catalogue
    out.print("[bold]Test functions[/bold] (FUNCTION: name, or name:key=value,... for parameters)")
    for entry in FUNCTIONS.values():
        f = entry.factory()
        out.print(f"\n[bold cyan]{entry.name}[/bold cyan]  {entry.formula}", highlight=False)
        if f.description:
            out.print(f"  {f.description}", markup=False, highlight=False)
        for p in entry.params:
            out.print(f"  {p.name}={p.default_text}: {p.meaning}", markup=False, highlight=False)
        if f.f_min is None:
            minimum = "none (unbounded below)"
        else:
            minimum = f"f = {f.f_min:.10g} at {_points_text(f.minimizers)}"
        start = "(" + ", ".join(f"{v:g}" for v in f.start) + ")"
        out.print(f"  minimum: {minimum}; default start {start}", markup=False, highlight=False)
    from optiscope.objectives.expression import ALLOWED_FUNCTIONS

    out.print(
        "\nOr type a formula in w1, w2 with + - * / ** (or ^), numbers, pi, e and "
        + ", ".join(sorted(ALLOWED_FUNCTIONS))
        + ", e.g. optiscope run '(1-w1)**2 + 100*(w2-w1**2)**2' adam:lr=0.05",
        markup=False,
        highlight=False,
    )


STOCHASTIC_HELP = """
GD, SGD and mini-batch SGD are one optimizer (sgd) fed different gradients:
  GD             sgd with --batch-size full (the default): the exact gradient of the whole loss
  SGD            sgd with --batch-size 1: the gradient of one example per step
  mini-batch SGD sgd with --batch-size m, 1 < m < N: the average over m examples per step
--batch-size needs a data objective (linreg, logreg: real data shipped with scikit-learn);
examples are drawn without replacement, a fresh shuffle every epoch. On test functions
--noise SIGMA adds N(0, SIGMA^2) noise to every gradient instead. Every optimizer (momentum,
adam, ...) takes the same flags; --seed fixes the randomness (same seed, same numbers)."""


@app.command("optimizers")
def optimizers_command(
    name: Annotated[
        str | None,
        typer.Argument(metavar="[NAME]", help="Show one optimizer in full (its update rule)."),
    ] = None,
) -> None:
    """List the optimizers with their hyperparameters, defaults and meanings."""
    from optiscope.optimizers import get_optimizer

    if name is not None:
        optimizer, _ = get_optimizer(name)  # validates the name
        out.print(f"[bold]{optimizer.name}[/bold]: {optimizer.summary}")
        out.print(_plain_text(type(optimizer).__doc__ or ""), markup=False, highlight=False)
        out.print(_hyperparameter_table(optimizer))
        out.print("Any optimizer also takes a learning-rate schedule (see `optiscope optimizers`).")
        return
    get_optimizer("sgd")  # loads the catalogue
    for optimizer in OPTIMIZERS.values():
        out.print(f"[bold]{optimizer.name}[/bold]: {optimizer.summary}")
        out.print(_hyperparameter_table(optimizer))
    from optiscope.schedules import describe

    for line in describe():
        out.print(line, markup=False, highlight=False, soft_wrap=True)
    out.print(
        "OPTSPEC: NAME or NAME:key=value,...  e.g. momentum:lr=0.1,momentum=0.9. "
        "Run `optiscope optimizers NAME` for the update rule."
    )
    out.print(STOCHASTIC_HELP, markup=False, highlight=False)


def _plain_text(doc: str) -> str:
    """A docstring as terminal text: dedented, without reStructuredText's ``code`` quotes
    and ``::`` block markers."""
    import inspect
    import re

    text = inspect.cleandoc(doc)
    text = re.sub(r"``(.+?)``", r"\1", text)
    return text.replace("::\n", ":\n")


def _hyperparameter_table(optimizer) -> Table:
    table = Table(show_header=True, box=None, pad_edge=False)
    for column in ("hyperparameter", "default", "valid", "meaning"):
        table.add_column(column)
    for h in (*optimizer.hyperparams, *optimizer.options):
        table.add_row("  " + h.name, h.default_text(), h.describe_range(), h.meaning)
    return table


@app.command("theory")
def theory_command(
    function: FunctionArg,
    optspecs: Annotated[
        list[str] | None,
        typer.Argument(metavar="[OPTSPEC...]", help="Optimizer specs to predict (optional)."),
    ] = None,
    start: StartOpt = None,
    tol: TolOpt = metrics.DEFAULT_TOL,
    as_json: JsonOpt = False,
) -> None:
    """What the theory of quadratics predicts: curvatures, kappa, best settings, rates.

    For a non-quadratic function the local quadratic model at the minimizer (its Hessian) is
    used. With OPTSPECs: each setting's predicted rate, oscillation, stability and steps to tol.
    """
    from optiscope.theory import theory_report, theory_text

    check_tol(tol)
    objective = get_objective(function)
    point = _start(objective, start)
    report_data = theory_report(objective, list(optspecs or []), start=point, tol=tol)
    if as_json:
        _print_json(report_data)
        return
    for line in theory_text(report_data):
        out.print(line, markup=False, highlight=False, soft_wrap=True)


@app.command("explain")
def explain_command(
    function: FunctionArg,
    optspecs: OptspecsArg,
    steps: StepsOpt = 100,
    start: StartOpt = None,
    tol: TolOpt = metrics.DEFAULT_TOL,
    as_json: JsonOpt = False,
    plot: PlotOpt = None,
    noise: NoiseOpt = 0.0,
    batch_size: BatchOpt = "full",
    seed: SeedOpt = 0,
    internals: InternalsOpt = None,
    surface: SurfaceOpt = None,
) -> None:
    """Run the optimizers and say in plain words what happened and why.

    Every number in the text is measured in this run or predicted by the theory of quadratics
    (with --noise or --batch-size: the noise floor it predicts and the one measured). With
    --internals, a sentence per adaptive optimizer says where its effective steps |dx|/|g|
    settled, measured over the last 10 steps (e.g. at lr/|g|: it moves like sign descent).
    Examples:

    \b
      optiscope explain aniso momentum:lr=0.1,momentum=0.99 --steps 50 --start 1,1
      optiscope explain aniso sgd:lr=0.1 --noise 0.5 --steps 200 --start 1,1
      optiscope explain rastrigin sgd:lr=0.001 --start 2.2,2.2 --plot rastrigin.png
      optiscope explain aniso rmsprop:lr=0.1,alpha=0.1,eps=1e-10 --start 1,1 --internals i.png
    """
    from optiscope.explain import explain

    check_tol(tol)
    if plot is not None:
        figure_path(plot)  # refuse a bad destination before running anything
    _check_internals(internals, len(optspecs))
    objective, point = _objective_and_start(function, start)
    record = internals is not None
    results = _run_with_progress(
        objective, optspecs, steps, point, noise, batch_size, seed, record_state=record
    )
    data = explain(
        objective,
        optspecs,
        steps=steps,
        start=point,
        tol=tol,
        results=results,
        noise=noise,
        batch_size=batch_size,
        seed=seed,
    )
    if plot is not None:
        figure_data = _gradient_settings(noise, batch_size, seed)
        data["figure"] = str(_write_figure(objective, results, plot, figure_data, surface, tol))
    if internals is not None:
        figure_data = _gradient_settings(noise, batch_size, seed)
        data["internals"] = str(_write_internals(objective, results, internals, figure_data))
        _add_internals_sentences(data, results)
    if as_json:
        _print_json(data)
        return
    for run in data["runs"]:
        out.print(f"[bold]{run['spec']}[/bold]", highlight=False)
        for sentence in run["text"]:
            out.print(f"  {sentence}", markup=False, highlight=False, soft_wrap=True)
    for sentence in data["best"]:
        out.print(sentence, markup=False, highlight=False, soft_wrap=True)
    if plot is not None:
        out.print(f"figure: {printable(data['figure'])}", markup=False, highlight=False)
    if internals is not None:
        out.print(f"internals: {printable(data['internals'])}", markup=False, highlight=False)


SWEEP_FOLDER = "sweep_out"


@app.command("sweep")
def sweep_command(
    function: FunctionArg,
    spec: Annotated[
        str,
        typer.Argument(
            metavar="SPEC",
            help="OPT:key=RANGE,... e.g. momentum:lr=0.001..1@log200,momentum=0..0.999@200",
        ),
    ],
    steps: Annotated[
        int, typer.Option("--steps", "-n", metavar="N", help="Steps per run (1 to 100000).")
    ] = 500,
    start: StartOpt = None,
    starts: Annotated[
        str | None,
        typer.Option(
            "--starts",
            metavar="RANGES",
            help="Sweep the start point: one range per coordinate, e.g. --starts=-5..5@100,-5..5@100",
        ),
    ] = None,
    samples: Annotated[
        int | None,
        typer.Option("--samples", metavar="K", help="Draw K settings in the ranges' box."),
    ] = None,
    method: Annotated[
        str | None,
        typer.Option(
            "--method", metavar="METHOD", help="With --samples: random or sobol (the default)."
        ),
    ] = None,
    seed: SeedOpt = 0,
    tol: TolOpt = metrics.DEFAULT_TOL,
    metric: Annotated[
        str,
        typer.Option(
            "--metric",
            metavar="M",
            help="Rank the settings by M (then gap_final): rate (the measured convergence "
            "factor per step; settings without one rank last), steps_to_tol, gap_final, ...",
        ),
    ] = "rate",
    noise: NoiseOpt = 0.0,
    out_dir: Annotated[
        Path,
        typer.Option(
            "--out", "-o", metavar="DIR", help="Folder for sweep.parquet, sweep.csv, M.png."
        ),
    ] = Path(SWEEP_FOLDER),
    as_json: JsonOpt = False,
    scheduler: Annotated[
        str | None,
        typer.Option(
            "--scheduler",
            metavar="ADDR",
            help="Run the chunks on a Dask cluster (tcp://HOST:PORT).",
        ),
    ] = None,
    dask: Annotated[
        str | None,
        typer.Option(
            "--dask", metavar="local", help="--dask local: a Dask cluster on this machine."
        ),
    ] = None,
    top: Annotated[
        int, typer.Option("--top", metavar="N", help="Rows of the best-settings table (1 to 1000).")
    ] = 10,
    maps: Annotated[
        str | None,
        typer.Option(
            "--maps",
            metavar="M,M",
            help="Metrics to map, one DIR/M.png each, or none (default: the --metric, "
            "steps_to_tol and zigzag).",
        ),
    ] = None,
) -> None:
    """Sweep hyperparameters (and start points): a table of every setting, the best, maps.

    RANGE is lo..hi@N (N evenly spaced points, ends included), lo..hi@logN (N log-spaced
    points, 0 < lo), a|b|c (a list: numbers, true|false, choices) or a plain value (fixed).
    The grid crosses every range (rows: settings x starts); --samples K draws K settings in
    the ranges' box instead (log ranges in log space), seeded by --seed.

    Examples:

    \b
      optiscope sweep aniso "momentum:lr=0.001..1@log200,momentum=0..0.999@200" --start 1,1
      optiscope sweep rosenbrock "adam:lr=1e-4..1@log50,beta1=0.5..0.99@20" --metric gap_final
      optiscope sweep aniso "sgd:lr=0.01..0.2@20,nesterov=false|true,momentum=0.5"
      optiscope sweep himmelblau sgd:lr=0.01 --starts=-5..5@100,-5..5@100 --steps 200
      optiscope sweep rastrigin "adam:lr=1e-3..1@log8,beta1=0.5..0.99@8" --samples 500 --method random

    Writes DIR/sweep.parquet and DIR/sweep.csv (one row per setting and start: every
    hyperparameter, start_*, final_* and every metric) and DIR/M.png for each metric of
    --maps (the map over two swept axes; a basin map when start points were swept). Ctrl-C
    writes the rows that finished and exits with status 130.
    """
    from optiscope.sweep import sweep
    from optiscope.sweep_ranking import check_metric

    check_metric(metric)
    mapped = _mapped_metrics(maps, metric)
    if not 1 <= top <= 1000:
        raise OptiscopeError(f"invalid --top: {top} (valid: 1 to 1000)")
    address = _scheduler_address(scheduler, dask)
    prepare_folder(out_dir)
    if samples is None and method is not None:
        raise OptiscopeError(f"--method {printable(method)} draws samples: add --samples K")
    method_used = "grid" if samples is None else (method or "sobol")
    try:
        with counted_progress("sweeping") as progress:
            frame = sweep(
                function, spec, steps=steps, start=start, starts=starts, samples=samples,
                method=method_used, seed=seed, tol=tol, scheduler=address, noise=noise,
                progress=progress,
            )  # fmt: skip
    except KeyboardInterrupt as stop:
        partial = getattr(stop, "frame", None)
        if partial is None:
            raise
        files = _write_sweep_files(partial, out_dir, ())
        written = ", ".join(str(f) for f in files)
        _silence_stdout()
        with contextlib.suppress(OSError):
            err.print(
                f"optiscope: aborted after {len(partial):,} of {partial.attrs['rows']:,} "
                f"settings; wrote {printable(written)}",
                markup=False,
                highlight=False,
                soft_wrap=True,
            )
        raise Exit(130) from None
    files = _write_sweep_files(frame, out_dir, mapped)
    if as_json:
        _print_json(_sweep_json(frame, metric, top, files))
        return
    _print_sweep(frame, metric, top, files)


def _scheduler_address(scheduler: str | None, dask: str | None) -> str | None:
    """--scheduler ADDR or --dask local (not both) as the executor's scheduler."""
    if dask is not None and dask != "local":
        raise OptiscopeError(f"invalid --dask: {dask!r} (valid: local; or --scheduler ADDR)")
    if dask is not None and scheduler is not None:
        raise OptiscopeError("give --scheduler ADDR or --dask local, not both")
    return scheduler if dask is None else "local"


@contextmanager
def counted_progress(what: str) -> Iterator[Callable[[int, int], None] | None]:
    """A progress bar called ``what`` fed by ``progress(done, total)`` (the sweep's rows, the
    tuner's evaluations) on a terminal; None otherwise."""
    if not err.is_terminal:
        yield None
        return
    with Progress(console=err, transient=True) as bar:
        task = bar.add_task(what, total=None)
        yield lambda done, total: bar.update(task, completed=done, total=total)


def _mapped_metrics(maps: str | None, metric: str) -> tuple[str, ...]:
    """The metrics --maps names (checked), ``()`` for none; by default the ranking metric,
    steps_to_tol and zigzag."""
    from optiscope.sweep_ranking import check_metric

    if maps is None:
        return tuple(dict.fromkeys((metric, "steps_to_tol", "zigzag")))
    if maps.strip() == "none":
        return ()
    names = [name.strip() for name in maps.split(",")]
    return tuple(dict.fromkeys(check_metric(name) for name in names))


def _write_sweep_files(frame, out_dir: Path, maps: Sequence[str]) -> list[Path]:
    """sweep.parquet and sweep.csv (same columns), then one map per metric in ``maps``."""
    import io

    from optiscope.plots.sweep_map import draw_maps

    parquet = io.BytesIO()
    frame.to_parquet(parquet)
    files = [write_atomic(out_dir / "sweep.parquet", parquet.getvalue(), "Parquet file")]
    files.append(write_atomic(out_dir / "sweep.csv", frame.to_csv(), "CSV file"))
    for metric in maps:
        files += [Path(p) for p in draw_maps(frame, metric, out_dir / f"{metric}.png")]
    return files


def _sweep_records(rows) -> list[dict[str, Any]]:
    """DataFrame rows as JSON-ready dicts (NA and NaN -> None)."""
    import pandas as pd

    records = []
    for row in rows.to_dict(orient="records"):
        records.append(
            {k: None if (v is None or v is pd.NA or v != v) else v for k, v in row.items()}
        )
    return records


def _sweep_json(frame, metric: str, top: int, files: list[Path]) -> dict[str, Any]:
    from optiscope.sweep_ranking import best_settings, note_ranks, theory_beside_best

    attrs = frame.attrs
    return {
        "function": attrs["function"],
        "spec": attrs["spec"],
        "axes": attrs["axes"],
        "metric": metric,
        "best": _sweep_records(best_settings(frame, metric, top)),
        "note": note_ranks(frame, metric),
        "theory": theory_beside_best(frame, metric),
        "rows": len(frame),
        "engine": attrs["engine"],
        "seconds": attrs["seconds"],
        "files": [str(f) for f in files],
    }


def _print_sweep(frame, metric: str, top: int, files: list[Path]) -> None:
    from optiscope.sweep_ranking import best_settings, note_ranks, theory_beside_best

    attrs = frame.attrs
    swept = [a["name"] for a in attrs["axes"]]
    out.print(
        f"{printable(attrs['function'])}  {printable(attrs['spec'])}: {len(frame):,} runs of "
        f"{attrs['steps']} steps in {attrs['seconds']:.2f} s ({attrs['engine']} engine)",
        markup=False,
        highlight=False,
    )
    best = best_settings(frame, metric, top)
    shown = [*swept, metric] + [m for m in ("steps_to_tol", "gap_final", "rate") if m != metric]
    table = Table(title=f"best settings by {metric} (then gap_final)")
    for column in ("rank", *shown):
        table.add_column(column, justify="right")
    for rank, row in enumerate(_sweep_records(best[shown]), start=1):
        table.add_row(str(rank), *(_cell(row[c]) for c in shown))
    out.print(table)
    for note in note_ranks(frame, metric):
        out.print(
            f"the note's {note['spec']}: {metric} {_cell(note['value'])}, rank "
            f"{note['rank']:,} of {note['of']:,}",
            markup=False,
            highlight=False,
        )
    beside = theory_beside_best(frame, metric)
    if beside is not None:
        out.print(_theory_text(beside), markup=False, highlight=False)
    out.print(f"wrote {', '.join(str(f) for f in files)}", markup=False, highlight=False)


def _theory_text(beside: dict[str, Any]) -> str:
    """One line: the theory's optimal tuning and how far the best measured rate is from it."""
    tuned = ", ".join(f"{k} {v:.4g}" for k, v in beside["setting"].items())
    line = (
        f"theory ({beside['method']} on the quadratic, mu={beside['mu']:.4g}, "
        f"L={beside['L']:.4g}): optimal {tuned}, rate {beside['rate']:.4g}"
    )
    measured = beside["best_rate"]
    if measured is None:
        return line + "; no measured rate among the settings"
    return line + (
        f"; best measured rate {measured:.4g} ({100 * beside['rate_gap']:+.1f}% from the theory's optimal rate)"
    )


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return printable(str(value))


def main(argv: list[str] | None = None) -> int:
    """Entry point: runs the app; every way out is an exit status and at most one line.

    0 done; 2 a user's mistake (OptiscopeError, a usage error); 1 a failing disk or a closed
    output pipe; 130 Ctrl-C. The text of an error is the message alone, with control
    characters escaped (it may quote what the user typed).
    """
    args = sys.argv[1:] if argv is None else list(argv)
    # The CLI only writes files: a display backend (or a bad MPLBACKEND) must not matter.
    os.environ["MPLBACKEND"] = "agg"
    _tolerant_streams()
    try:
        code = app(args=args or ["--help"], prog_name="optiscope", standalone_mode=False)
        out.file.flush()
    except OutputError as e:
        return _fail(str(e), e.exit_code)
    except OptiscopeError as e:
        return _fail(str(e), 2)
    except TyperException as e:  # usage errors: missing argument, unknown option, bad int
        ctx = getattr(e, "ctx", None)
        command = ctx.command_path if ctx is not None else "optiscope"
        return _fail(f"{e.format_message()} (see {command} --help)", 2, command)
    except (Abort, KeyboardInterrupt):
        return _aborted()
    except Exit as e:
        return e.exit_code
    except SystemExit as e:  # typer's own answer to a closed pipe while printing help
        if type(sys.stdout).__name__ == "PacifyFlushWrapper":
            return _fail("output closed early (broken pipe)", 1)
        return e.code if isinstance(e.code, int) else 1
    except MemoryError:
        return _fail("out of memory: run fewer steps or fewer settings at once", 1)
    except OSError as e:  # stdout written by something else than `out` (help text)
        if e.errno == errno.EPIPE or e.errno in DISK_ERRORS:
            return _fail(str(_stdout_error(e)), 1)
        raise
    if code == 130:  # typer turns Ctrl-C into this exit code without a word
        return _aborted()
    return code if isinstance(code, int) else 0


def _fail(message: str, code: int, command: str = "optiscope") -> int:
    """Print ``command: error: message`` as one line on stderr; return ``code``."""
    text = " ".join(printable(message).split())
    with contextlib.suppress(OSError):  # stderr itself gone: the exit status is all there is
        err.print(f"{command}: error: {text}", markup=False, highlight=False, soft_wrap=True)
    return code


def _aborted() -> int:
    _silence_stdout()
    with contextlib.suppress(OSError):
        err.print("optiscope: aborted", markup=False, highlight=False)
    return 130


def _tolerant_streams() -> None:
    """Characters the terminal's encoding lacks (PYTHONIOENCODING=ascii) become escapes."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            with contextlib.suppress(ValueError, OSError):
                reconfigure(errors="backslashreplace")


def _silence_stdout() -> None:
    """Point stdout at /dev/null so Python's final flush cannot fail a second time."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):  # not a real file (pytest's capture)
        pass


# `animate`, `report`, `seed`, `tune` and `serve` live in their own modules, which register the commands on `app`
from optiscope import cli_animate, cli_report, cli_seed, cli_serve, cli_tune  # noqa: E402, F401

if __name__ == "__main__":
    sys.exit(main())
