"""The ``optiscope`` command: a thin shell over the Python API (parsing, messages, output).

A user's mistake (unknown name, bad value, unsafe formula) prints one line on stderr and exits
with status 2; it never shows a traceback.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from typer.exceptions import Abort, Exit, TyperException

from optiscope import metrics
from optiscope.errors import OptiscopeError
from optiscope.experiments import RunResult, report, run_specs, settings_text
from optiscope.objectives import FUNCTIONS, Objective, get_objective
from optiscope.optimizers import OPTIMIZERS
from optiscope.specs import parse_point

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
out = Console()
err = Console(stderr=True)

StepsOpt = Annotated[
    int, typer.Option("--steps", "-n", help="Number of optimizer steps (1 to 100000).")
]
StartOpt = Annotated[
    str | None,
    typer.Option(
        "--start",
        help="Start point W1,W2 (default: the function's own start). "
        "Negative values: --start=-1.5,2",
    ),
]
TolOpt = Annotated[
    float, typer.Option("--tol", help="Loss-gap tolerance for 'steps to tol' (f - f_min <= tol).")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object instead of a table.")]
PathOpt = Annotated[
    bool, typer.Option("--path", help="With --json: include every run's path [[w1, w2], ...].")
]


def _start(objective: Objective, text: str | None) -> tuple[float, ...]:
    return objective.start if text is None else parse_point(text, objective.dim)


def _check_tol(tol: float) -> None:
    if not (math.isfinite(tol) and tol > 0):
        raise OptiscopeError(f"invalid --tol: {tol} (must be a positive number)")


def _fmt(value: Any, digits: int = 4) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return str(value)


def results_table(rows: list[dict[str, Any]], tol: float) -> Table:
    """Terminal table: one row per run with the basic metrics."""
    table = Table(show_lines=False)
    for column in (
        "optimizer",
        "settings",
        "final loss",
        "distance to min",
        f"steps to gap {tol:g}",
        "diverged at",
    ):
        table.add_column(column, justify="left" if column in ("optimizer", "settings") else "right")
    for row in rows:
        m = row["metrics"]
        table.add_row(
            row["optimizer"],
            row["settings"] or "defaults",
            _fmt(m["loss_final"]),
            _fmt(m["distance_final"]),
            "not reached" if m["steps_to_tol"] is None else str(m["steps_to_tol"]),
            "-" if m["diverged_at"] is None else f"step {m['diverged_at']}",
        )
    return table


def markdown_table(rows: list[dict[str, Any]], tol: float) -> str:
    """The same table as Markdown, for files."""
    head = [
        "optimizer",
        "settings",
        "final loss",
        "distance to min",
        f"steps to gap {tol:g}",
        "diverged at",
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in rows:
        m = row["metrics"]
        cells = [
            row["optimizer"],
            row["settings"] or "defaults",
            _fmt(m["loss_final"]),
            _fmt(m["distance_final"]),
            "not reached" if m["steps_to_tol"] is None else str(m["steps_to_tol"]),
            "-" if m["diverged_at"] is None else f"step {m['diverged_at']}",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _execute(
    function: str, optspecs: list[str], steps: int, start: str | None, tol: float, with_path: bool
) -> tuple[Objective, list[RunResult], dict[str, Any]]:
    _check_tol(tol)
    objective = get_objective(function)
    if objective.dim != 2 and start is not None:
        raise OptiscopeError(f"--start needs {objective.dim} coordinates for {objective.name}")
    point = _start(objective, start)
    results = run_specs(objective, optspecs, steps=steps, start=point)
    data = report(objective, results, steps, point, tol, with_path)
    for record, result in zip(data["runs"], results, strict=True):
        record["settings"] = settings_text(result.optimizer, result.settings)
    return objective, results, data


def _print_json(data: dict[str, Any]) -> None:
    out.file.write(json.dumps(data, indent=2, allow_nan=False) + "\n")


def _print_header(objective: Objective, data: dict[str, Any]) -> None:
    start = ", ".join(f"{v:g}" for v in data["start"])
    out.print(
        f"[bold]{objective.name}[/bold]  f = {objective.formula}   start ({start}), "
        f"{data['steps']} steps"
    )


@app.command("run")
def run_command(
    function: Annotated[str, typer.Argument(help="Catalogue spec or formula in w1, w2.")],
    optspec: Annotated[str, typer.Argument(help="Optimizer spec, e.g. adam:lr=0.1.")],
    steps: StepsOpt = 100,
    start: StartOpt = None,
    tol: TolOpt = metrics.DEFAULT_TOL,
    as_json: JsonOpt = False,
    with_path: PathOpt = False,
    plot: Annotated[
        Path | None, typer.Option("--plot", help="Write the figure (contour, 3-D, loss) here.")
    ] = None,
) -> None:
    """Run one optimizer on one function and report where it ended."""
    objective, results, data = _execute(function, [optspec], steps, start, tol, with_path)
    if plot is not None:
        _write_figure(objective, results, plot)
    if as_json:
        _print_json(data)
        return
    _print_header(objective, data)
    out.print(results_table(data["runs"], tol))
    out.print(f"final point: ({', '.join(f'{v:.6g}' for v in data['runs'][0]['x_final'])})")
    if plot is not None:
        out.print(f"figure: {plot}")


@app.command("compare")
def compare_command(
    function: Annotated[str, typer.Argument(help="Catalogue spec or formula in w1, w2.")],
    optspecs: Annotated[list[str], typer.Argument(help="One or more optimizer specs.")],
    steps: StepsOpt = 100,
    start: StartOpt = None,
    tol: TolOpt = metrics.DEFAULT_TOL,
    out_dir: Annotated[
        Path, typer.Option("--out", "-o", help="Folder for compare.png, table.md, runs.json.")
    ] = Path("out"),
    as_json: JsonOpt = False,
    with_path: PathOpt = False,
) -> None:
    """Run several optimizers from the same start; write a figure and a table.

    Example (the seed note's comparison):
      optiscope compare aniso sgd:lr=0.1 momentum:lr=0.1,momentum=0.9
      rmsprop:lr=0.1,alpha=0.9,eps=1e-10 --steps 50 --start 1,1
    """
    objective, results, data = _execute(function, optspecs, steps, start, tol, with_path)
    figure = _write_figure(objective, results, out_dir / "compare.png")
    (out_dir / "table.md").write_text(markdown_table(data["runs"], tol))
    (out_dir / "runs.json").write_text(json.dumps(data, indent=2, allow_nan=False) + "\n")
    if as_json:
        _print_json(data)
        return
    _print_header(objective, data)
    out.print(results_table(data["runs"], tol))
    out.print(f"wrote {figure}, {out_dir / 'table.md'}, {out_dir / 'runs.json'}")


def _write_figure(objective: Objective, results: list[RunResult], path: Path) -> Path:
    from optiscope.plots import comparison_figure, save_figure

    if objective.dim != 2:
        raise OptiscopeError(f"figures need a 2-D function; {objective.name} has {objective.dim}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OptiscopeError(f"cannot create folder {path.parent}: {e.strerror}") from None
    fig = comparison_figure([(r.label, r.trajectories, r.row) for r in results])
    try:
        return save_figure(fig, path)
    except (OSError, ValueError) as e:
        raise OptiscopeError(f"cannot write figure {path}: {e}") from None


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
            out.print(f"  {p.name}={p.default:g}: {p.meaning}", markup=False, highlight=False)
        if f.f_min is None:
            minimum = "none (unbounded below)"
        else:
            points = "; ".join("(" + ", ".join(f"{v:.6g}" for v in m) + ")" for m in f.minimizers)
            minimum = f"f = {f.f_min:.10g} at {points}"
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


@app.command("optimizers")
def optimizers_command(
    name: Annotated[
        str | None, typer.Argument(help="Show one optimizer in full (its update rule).")
    ] = None,
) -> None:
    """List the optimizers with their hyperparameters, defaults and meanings."""
    from optiscope.optimizers import get_optimizer

    if name is not None:
        optimizer, _ = get_optimizer(name)  # validates the name
        out.print(f"[bold]{optimizer.name}[/bold]: {optimizer.summary}")
        out.print(type(optimizer).__doc__ or "", markup=False)
        out.print(_hyperparameter_table(optimizer))
        return
    get_optimizer("sgd")  # loads the catalogue
    for optimizer in OPTIMIZERS.values():
        out.print(f"[bold]{optimizer.name}[/bold]: {optimizer.summary}")
        out.print(_hyperparameter_table(optimizer))
    out.print(
        "OPTSPEC: NAME or NAME:key=value,...  e.g. momentum:lr=0.1,momentum=0.9. "
        "Run `optiscope optimizers NAME` for the update rule."
    )


def _hyperparameter_table(optimizer) -> Table:
    table = Table(show_header=True, box=None, pad_edge=False)
    for column in ("hyperparameter", "default", "valid", "meaning"):
        table.add_column(column)
    for h in optimizer.hyperparams:
        default = ("true" if h.default else "false") if h.kind == "bool" else f"{h.default:g}"
        table.add_row("  " + h.name, default, h.describe_range(), h.meaning)
    return table


def main(argv: list[str] | None = None) -> int:
    """Entry point: runs the app and turns user errors into one line and exit status 2."""
    args = sys.argv[1:] if argv is None else list(argv)
    try:
        app(args=args or ["--help"], prog_name="optiscope", standalone_mode=False)
    except OptiscopeError as e:
        err.print(f"optiscope: error: {e}", markup=False, highlight=False, soft_wrap=True)
        return 2
    except TyperException as e:  # usage errors: missing argument, unknown option, bad int
        ctx = getattr(e, "ctx", None)
        command = ctx.command_path if ctx is not None else "optiscope"
        err.print(
            f"{command}: error: {e.format_message()} (see {command} --help)",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
        return 2
    except Abort:
        err.print("optiscope: aborted", markup=False)
        return 130
    except Exit as e:
        return e.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
