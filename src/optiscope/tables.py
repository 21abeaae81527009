"""The run table of `run` and `compare`: one row per run, for the terminal and for Markdown.

Rows are the JSON records of ``experiments.result_record`` (with a ``settings`` label), so the
table shows exactly the numbers that ``--json`` prints.

Steps to the gap tolerance have two meanings (``metrics.first_to_tol`` and
``metrics.steps_to_tol``): the first step with the gap <= tol, and the step from which it
stays there. When they agree in every row the table shows one column, "gap <= tol from step";
otherwise two, "first gap <= tol" and "stays <= tol from".
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


def first_cell(m: dict[str, Any]) -> str:
    """The first step with the gap <= tol; "-" without a gap (the minimum is unknown)."""
    if m.get("first_to_tol") is not None:
        return str(m["first_to_tol"])
    return "-" if m["gap_final"] is None else "not reached"


def steps_cell(m: dict[str, Any]) -> str:
    """The step from which the gap stays <= tol; "-" without a gap (the minimum is unknown).

    A row that got there but ends above it again (or diverged) reads "not at the end".
    """
    if m["steps_to_tol"] is not None:
        return str(m["steps_to_tol"])
    if m["gap_final"] is None:
        return "-"
    return "not at the end" if m.get("first_to_tol") is not None else "not reached"


def split_steps(rows: list[dict[str, Any]]) -> bool:
    """Whether the table needs both step columns: the first step under tol and the step from
    which the gap stays there differ in some row (records or metrics dicts)."""
    metrics = [row.get("metrics", row) for row in rows]
    return any(m.get("first_to_tol") != m.get("steps_to_tol") for m in metrics)


def steps_headers(tol: float, split: bool) -> list[str]:
    """The step column headers (see the module notes)."""
    if split:
        return [f"first gap <= {tol:g}", f"stays <= {tol:g} from"]
    return [f"gap <= {tol:g} from step"]


def steps_cells(m: dict[str, Any], split: bool) -> list[str]:
    """The step cells matching :func:`steps_headers`."""
    return [first_cell(m), steps_cell(m)] if split else [steps_cell(m)]


def rate_cell(m: dict[str, Any]) -> str:
    """The measured rate, or "-" with the reason there is none: "- (limit cycle)"."""
    if m.get("rate") is not None:
        return num(m["rate"])
    return f"- ({m['rate_note']})" if m.get("rate_note") else "-"


def end_cell(row: dict[str, Any]) -> str:
    """How a run ended: left the box / diverged, stopped by its own test, a cycle, or "-"."""
    m = row["metrics"]
    if row.get("diverged_at") is not None:
        kind = (row.get("divergence") or {}).get("kind")
        verb = "left the box" if kind == "left_box" else "diverged"
        return f"{verb} at step {row['diverged_at']}"
    if row.get("stopped_at") is not None:
        reason = f" ({row['stop_reason']})" if row.get("stop_reason") else ""
        return f"stopped at step {row['stopped_at']}{reason}"
    if m.get("cycle_period") is not None:
        return f"{m['cycle_period']}-cycle, amplitude {_fmt(m['cycle_amplitude'])}"
    return "-"


def _has_examples(rows: list[dict[str, Any]]) -> bool:
    """Data objectives count the training examples read: then the table shows them."""
    return any(row.get("examples") is not None for row in rows)


def _table_header(tol: float, examples: bool = False, split: bool = False) -> list[str]:
    return [
        "optimizer",
        "settings",
        "final loss",
        "distance to min",
        *steps_headers(tol, split),
        "evals to stay" if split else "evals to gap",
        "evals",
        *(["examples read"] if examples else []),
        "zig-zag",
        "overshoot",
        "rate",
        "end",
    ]


def _table_cells(row: dict[str, Any], examples: bool = False, split: bool = False) -> list[str]:
    """One run's cells: the basic metrics, evaluations, shape metrics and how it ended."""
    m = row["metrics"]
    return [
        row["optimizer"],
        row["settings"] or "defaults",
        _fmt(m["loss_final"]),
        _fmt(m["distance_final"]),
        *steps_cells(m, split),
        _fmt(row.get("evaluations_to_tol")),
        _fmt(row.get("evaluations")),
        *([_fmt(row.get("examples"))] if examples else []),
        pct_cell(m.get("zigzag")),
        pct_cell(m.get("overshoot")),
        rate_cell(m),
        end_cell(row),
    ]


def results_table(rows: list[dict[str, Any]], tol: float) -> Table:
    """Terminal table: one row per run with its metrics."""
    table = Table(show_lines=False)
    examples, split = _has_examples(rows), split_steps(rows)
    for column in _table_header(tol, examples, split):
        justify = "left" if column in ("optimizer", "settings", "end") else "right"
        table.add_column(column, justify=justify, overflow="fold")  # wrap, never cut a number
    for row in rows:
        table.add_row(*_table_cells(row, examples, split))
    return table


def markdown_table(rows: list[dict[str, Any]], tol: float) -> str:
    """The same table as Markdown, for files."""
    examples, split = _has_examples(rows), split_steps(rows)
    head = _table_header(tol, examples, split)
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(_table_cells(row, examples, split)) + " |" for row in rows]
    return "\n".join(lines) + "\n"
