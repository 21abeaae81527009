"""``optiscope report``: experiments described in a TOML file, as one self-contained HTML page.

Registered on ``optiscope.cli.app`` when this module is imported (``cli.py`` imports it).
Messages, exit statuses and output follow ``optiscope.cli``: the whole file is checked before
anything runs (one line and status 2 for any mistake in it, and no file written), progress goes
to stderr, the page is written whole or not at all.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from optiscope.cli import app, err, out
from optiscope.output import check_target, printable


@app.command("report")
def report_command(
    experiments: Annotated[
        Path,
        typer.Argument(
            metavar="EXPERIMENTS", help="The experiments file, TOML (see the format below)."
        ),
    ],
    out_file: Annotated[
        Path,
        typer.Option("--out", "-o", metavar="FILE", help="Where to write the HTML page."),
    ] = Path("report.html"),
) -> None:
    """Run the experiments of a TOML file and write one self-contained HTML page.

    The page opens offline: per experiment its caption, setup, comparison figure (embedded),
    the results table of `optiscope compare`, what the theory predicts, the diagnosis of
    `optiscope explain`, and on request an animation (animate), the optimizer-internals
    figure (internals) and an interactive 3-D view (plot3d, with the installed plotly.js
    inlined once). A full example: docs/examples/experiments.toml.

    \b
    title = "Momentum on a narrow valley"
    intro = "What the note's settings do, measured."
    [defaults]                 # for every experiment; each may override them
    steps = 50                 # also: start = [1.0, 1.0] (or "1,1"), tol, noise,
    start = [1.0, 1.0]         #   batch_size, seed, starts, seeds, and the extras
                               #   animate, internals, plot3d = true|false
    [[experiment]]             # one table per section, in page order
    name = "zig-zag"           # required (unique)
    function = "aniso"         # required: catalogue spec or formula in w1, w2
    specs = ["sgd:lr=0.1", "momentum:lr=0.1,momentum=0.9"]   # required
    caption = "SGD zig-zags; momentum 0.9 overshoots."
    plot3d = true

    Every key and value is checked before the first run: a mistake is one line naming it
    (unknown keys with the valid ones, TOML syntax with its line and column) and exit 2.
    """
    from optiscope.report import load_experiments, write_report

    spec = load_experiments(experiments)
    check_target(out_file, "report")  # a bad destination is refused before anything runs
    began = time.perf_counter()

    def progress(i: int, n: int, exp) -> None:
        err.print(f"[{i}/{n}] {printable(exp.name)}", markup=False, highlight=False)

    path = write_report(spec, out_file, progress)
    size = path.stat().st_size
    out.print(
        f"wrote {printable(str(path))} ({len(spec.experiments)} experiments, "
        f"{size / 1e6:.2f} MB) in {time.perf_counter() - began:.1f} s",
        markup=False,
        highlight=False,
    )
