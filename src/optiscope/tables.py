"""The run table of `run` and `compare`: one row per run, for the terminal and for Markdown.

Rows are the JSON records of ``experiments.result_record`` (with a ``settings`` label), so the
table shows exactly the numbers that ``--json`` prints.

Steps to the gap tolerance have two meanings (``metrics.first_to_tol`` and
``metrics.steps_to_tol``): the first step with the gap <= tol, and the step from which it
stays there. When they agree in every row the table shows one column, "gap <= tol from step";
otherwise two, "first gap <= tol" and "stays <= tol from".

A spec that ran several times (``--starts``, ``--seeds``: its record has a ``spread``, see
``experiments.spec_record``) gets one row of medians with their spread, ``"13 (12..15)"``
(the terminal puts the spread on a second line, without the parentheses; just the median
when every run agrees; the ends to 2 significant digits, more where they would look equal),
by the rule of ``optiscope.repeats`` (min..max below 10 runs, else the 10-90% range; the
title says which and over how many runs), and how many of its runs diverged ("1 of 8"). A
step count some runs never reached reads "never" where the statistic falls on them; a metric
only some runs have (a rate, a cycle) says on how many: ``"0.47 [4 of 6]"``.
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
    """Terminal table: one row per run with its metrics (per spec with medians and spread
    when the specs ran several times; see the module notes)."""
    if _repeated(rows):
        return _spread_table(rows, tol)
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
    if _repeated(rows):
        head, body = _spread_header(rows, tol), [_spread_cells(row, rows) for row in rows]
        intro = f"{spread_title(rows)}\n\n"
    else:
        examples, split = _has_examples(rows), split_steps(rows)
        head, intro = _table_header(tol, examples, split), ""
        body = [_table_cells(row, examples, split) for row in rows]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(cells) + " |" for cells in body]
    return intro + "\n".join(lines) + "\n"


# ---------------------------------------------------------------- specs run several times
def _repeated(rows: list[dict[str, Any]]) -> bool:
    return any("spread" in row for row in rows)


def spread_title(rows: list[dict[str, Any]]) -> str:
    """``"Per spec: the median (min..max) over 6 runs"``: what the cells of a spread table are."""
    counts = sorted({row.get("repeat_count", 1) for row in rows})
    statistic = _statistic_name(rows)
    runs = " or ".join(str(c) for c in counts)
    return f"Per spec: the median ({statistic}) over {runs} runs"


def _statistic_name(rows: list[dict[str, Any]]) -> str:
    names = {s["statistic"] for row in rows for s in row.get("spread", {}).values()}
    return " or ".join(sorted(names)) or "min..max"


def _all_metrics(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The metrics of every run of every row (the repeats' when there are any)."""
    return [rep["metrics"] for row in rows for rep in row.get("repeats", [row])]


def _spread_header(rows: list[dict[str, Any]], tol: float) -> list[str]:
    examples, split = _has_examples(rows), split_steps(_all_metrics(rows))
    return [*_table_header(tol, examples, split)[:-1], "diverged"]


def _spread_cells(row: dict[str, Any], rows: list[dict[str, Any]], sep: str = " ") -> list[str]:
    """One spec's cells: each metric's median and spread, how many of its runs diverged;
    ``sep`` goes between a median and its spread (a new line in the terminal)."""
    examples, split = _has_examples(rows), split_steps(_all_metrics(rows))
    spread, count = row.get("spread", {}), row.get("repeat_count", 1)
    steps = ["first_to_tol", "steps_to_tol"] if split else ["steps_to_tol"]
    stay = "evaluations_to_tol"
    diverged = row.get("diverged_count", 0)
    return [
        row["optimizer"],
        row["settings"] or "defaults",
        spread_cell(spread.get("loss_final"), count, sep=sep),
        spread_cell(spread.get("distance_final"), count, sep=sep),
        *(spread_cell(spread.get(name), count, sep=sep) for name in steps),
        spread_cell(spread.get(stay), count, sep=sep),
        spread_cell(spread.get("evaluations"), count, sep=sep),
        *([spread_cell(spread.get("examples"), count, sep=sep)] if examples else []),
        spread_cell(spread.get("zigzag"), count, pct, sep),
        spread_cell(spread.get("overshoot"), count, pct, sep),
        spread_cell(spread.get("rate"), count, sep=sep),
        f"{diverged} of {count}",
    ]


def spread_cell(stat: dict[str, Any] | None, count: int, fmt=None, sep: str = " ") -> str:
    """``"13 (12..15)"``: a metric's median and spread over ``count`` runs (module notes);
    with ``sep="\\n"`` the spread goes on a second line, ``"13\\n12..15"`` (terminal cells)."""
    if stat is None or (stat["median"] is None and "never" not in stat):
        return "-"
    median = _stat_text(stat["median"], fmt or _fmt_stat)
    if stat["low"] == stat["high"] == stat["median"]:
        text = median
    else:
        low, high = _end_texts(stat["low"], stat["high"], fmt)
        text = f"{median} ({low}..{high})" if sep == " " else f"{median}{sep}{low}..{high}"
    if "never" not in stat and stat["values"] < count:
        text += f" [{stat['values']} of {count}]"
    return text


def _stat_text(value: Any, show) -> str:
    return "never" if value is None else show(value)


def _fmt_stat(value: float | int) -> str:
    return str(value) if isinstance(value, int) else num(value)


def _end_texts(low: Any, high: Any, fmt=None) -> tuple[str, str]:
    """A spread's ends: counts in full, other numbers to 2 significant digits (a third
    rarely matters and widens every cell), more (up to 4) where 2 would make them look equal."""
    if fmt is not None:
        return _stat_text(low, fmt), _stat_text(high, fmt)
    for digits in (2, 3, 4):
        texts = tuple(
            _stat_text(v, lambda x, d=digits: str(x) if isinstance(x, int) else f"{x:.{d}g}")
            for v in (low, high)
        )
        if texts[0] != texts[1]:
            break
    return texts


def _spread_table(rows: list[dict[str, Any]], tol: float) -> Table:
    table = Table(show_lines=False, title=spread_title(rows))
    for column in _spread_header(rows, tol):
        justify = "left" if column in ("optimizer", "settings") else "right"
        table.add_column(column, justify=justify, overflow="fold")  # wrap, never cut a number
    for row in rows:
        table.add_row(*_spread_cells(row, rows, "\n"))
    return table
