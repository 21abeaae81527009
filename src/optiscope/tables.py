"""The run table of `run` and `compare`: one row per run, for the terminal and for Markdown.

Rows are the JSON records of ``experiments.result_record`` (with a ``settings`` label), so the
table shows exactly the numbers that ``--json`` prints.
"""

from __future__ import annotations

from typing import Any

from rich.table import Table


def num(v: float) -> str:
    """How every number appears in tables and sentences: 4 significant digits."""
    return f"{v:.4g}"


def pct(v: float) -> str:
    """A fraction as a whole percentage."""
    return f"{100 * v:.0f}%"


def _fmt(value: Any) -> str:
    """A cell: "-" for an undefined value, ``num`` for floats."""
    if value is None:
        return "-"
    return num(value) if isinstance(value, float) else str(value)


def pct_cell(value: float | None) -> str:
    """A percentage cell; "-" where the metric is undefined."""
    return "-" if value is None else pct(value)


def steps_cell(m: dict[str, Any]) -> str:
    """Steps to the gap tolerance; "-" when there is no gap (the minimum is unknown)."""
    if m["steps_to_tol"] is not None:
        return str(m["steps_to_tol"])
    return "-" if m["gap_final"] is None else "not reached"


def _has_examples(rows: list[dict[str, Any]]) -> bool:
    """Data objectives count the training examples read: then the table shows them."""
    return any(row.get("examples") is not None for row in rows)


def _table_header(tol: float, examples: bool = False) -> list[str]:
    return [
        "optimizer",
        "settings",
        "final loss",
        "distance to min",
        f"steps to gap {tol:g}",
        "evals to gap",
        "evals",
        *(["examples read"] if examples else []),
        "zig-zag",
        "overshoot",
        "rate",
        "end",
    ]


def _table_cells(row: dict[str, Any], examples: bool = False) -> list[str]:
    """One run's cells: the basic metrics, evaluations, shape metrics and how it ended."""
    m = row["metrics"]
    if row.get("diverged_at") is not None:
        stopped = f"diverged at step {row['diverged_at']}"
    elif row.get("converged_at") is not None:
        stopped = f"converged at step {row['converged_at']}"
    elif m.get("cycle_period") is not None:
        stopped = f"{m['cycle_period']}-cycle, amplitude {_fmt(m['cycle_amplitude'])}"
    else:
        stopped = "-"
    return [
        row["optimizer"],
        row["settings"] or "defaults",
        _fmt(m["loss_final"]),
        _fmt(m["distance_final"]),
        steps_cell(m),
        _fmt(row.get("evaluations_to_tol")),
        _fmt(row.get("evaluations")),
        *([_fmt(row.get("examples"))] if examples else []),
        pct_cell(m.get("zigzag")),
        pct_cell(m.get("overshoot")),
        _fmt(m.get("rate")),
        stopped,
    ]


def results_table(rows: list[dict[str, Any]], tol: float) -> Table:
    """Terminal table: one row per run with its metrics."""
    table = Table(show_lines=False)
    examples = _has_examples(rows)
    for column in _table_header(tol, examples):
        justify = "left" if column in ("optimizer", "settings", "end") else "right"
        table.add_column(column, justify=justify, overflow="fold")  # wrap, never cut a number
    for row in rows:
        table.add_row(*_table_cells(row, examples))
    return table


def markdown_table(rows: list[dict[str, Any]], tol: float) -> str:
    """The same table as Markdown, for files."""
    examples = _has_examples(rows)
    head = _table_header(tol, examples)
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(_table_cells(row, examples)) + " |" for row in rows]
    return "\n".join(lines) + "\n"
