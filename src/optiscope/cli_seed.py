"""``optiscope seed``: the seed note's experiments reproduced, measured and explained.

Registered on ``optiscope.cli.app`` when this module is imported (``cli.py`` imports it).
Messages, exit statuses and output follow ``optiscope.cli``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from optiscope import metrics
from optiscope.cli import TolOpt, app, err, out
from optiscope.output import check_target, prepare_folder
from optiscope.theory import check_tol


@app.command("seed")
def seed_command(
    out_dir: Annotated[
        Path,
        typer.Option(
            "--out", "-o", metavar="DIR", help="Folder for the figures, summary.md, summary.json."
        ),
    ] = Path("out"),
    tol: TolOpt = metrics.DEFAULT_TOL,
    html: Annotated[
        bool,
        typer.Option(
            "--html",
            help="Also write DIR/report.html: every experiment on one self-contained page "
            "(figures, tables, theory, diagnosis) that opens offline.",
        ),
    ] = False,
    animate: Annotated[
        bool,
        typer.Option(
            "--animate",
            help="Also write DIR/<experiment>.gif beside each figure: the paths growing step by "
            "step (embedded in the page with --html).",
        ),
    ] = False,
) -> None:
    """Reproduce every experiment of the seed study note, measured and explained.

    lr 0.1, 50 steps from (1, 1): the isotropic and anisotropic bowls with SGD, momentum
    0.1/0.9/0.99 and RMSProp 0.1/0.9/0.99, plus the theory-optimal momentum. Writes one figure
    per experiment, summary.md (table + explanations) and summary.json (every number); with
    --html also report.html (the page of `optiscope report`), with --animate one GIF each.
    """
    from optiscope.seed import REPORT_FILE, run_seed

    check_tol(tol)
    prepare_folder(out_dir)
    if html:
        check_target(out_dir / REPORT_FILE, "report")  # refused before anything runs
    summary = run_seed(
        out_dir,
        tol=tol,
        progress=lambda msg: err.print(msg, highlight=False),
        html=html,
        animate=animate,
    )
    table = Table(title="The seed note's experiments (lr 0.1, 50 steps from (1, 1))")
    keep = (1, 2, 3, 4, 5, 7, 8, 9)  # experiment names and diagnoses are in summary.md
    table.add_column("function")
    for i in keep:
        table.add_column(summary["columns"][i], overflow="fold")
    for row in summary["rows"]:
        table.add_row(row[0].split("_")[0], *(row[i] for i in keep))
    out.print(table)
    extra = ""
    if animate:
        extra += f", {len(summary['experiments'])} animations"
    if html:
        extra += f", {out_dir / REPORT_FILE}"
    out.print(
        f"wrote {len(summary['experiments'])} figures{extra}, {out_dir / 'summary.md'}, "
        f"{out_dir / 'summary.json'}",
        highlight=False,
    )
