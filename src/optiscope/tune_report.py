"""The record of a tune: the ranking, every evaluated row, the note's settings and the theory.

:class:`TuneReport` holds

- ``ranking``: one row per optimizer, best first: ``rank``, ``optimizer``, ``score`` (the
  tuned setting's median score), ``worst`` and ``best`` (its max and min over starts x
  seeds), ``spread`` (worst - best), ``tie_break`` (its median tie-breaker), ``rate`` (the
  median measured convergence rate of its rows, NaN where none), ``evaluations`` (the
  optimizer's whole budget spent), ``settings`` (the tuned values), ``spec`` (an OPTSPEC of
  the tuned setting that ``optiscope run`` accepts);
- ``evaluated``: every evaluated row: ``optimizer``, ``round``, ``setting`` (per optimizer,
  over all rounds), ``seed_index``, ``start_index``, the hyperparameters, ``start_*``,
  ``final_*``, every metric, ``score_primary``, ``score_secondary``;
- ``note``: on the note's function (``aniso``) the note's hand-picked settings of the tuned
  optimizers (``sweep.note_specs``), evaluated the same way (same starts, seeds, steps,
  objective), each with its score; else [];
- ``theory``: per optimizer of the SGD family whose tuned setting is gradient descent, heavy
  ball or Nesterov, on a quadratic: the theory's optimum beside it
  (``sweep_ranking.theory_beside_best``, its ``best_rate`` the tuned setting's median rate).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from optiscope.objectives import Objective
from optiscope.optimizers.base import Optimizer

if TYPE_CHECKING:
    from optiscope.tune import Search
    from optiscope.tune_space import Dimension

RANKING_COLUMNS = (
    "rank",
    "optimizer",
    "score",
    "worst",
    "best",
    "spread",
    "tie_break",
    "rate",
    "evaluations",
    "settings",
    "spec",
)


@dataclass
class TuneReport:
    """Everything a tune found (module notes); :meth:`to_json` is the CLI's ``--json``."""

    ranking: Any
    evaluated: Any
    target: Objective
    starts: np.ndarray
    conditions: dict[str, Any]
    spaces: dict[str, list[Dimension]]
    note: list[dict[str, Any]] = field(default_factory=list)
    theory: dict[str, dict[str, Any]] = field(default_factory=dict)
    seconds: float = 0.0

    def tuned_specs(self) -> list[str]:
        """The tuned OPTSPECs, best optimizer first."""
        return [str(s) for s in self.ranking["spec"]]

    def to_json(self) -> dict[str, Any]:
        """The whole record as plain JSON-ready values (inf stays a float: ``to_json``
        writes it as the string "inf")."""
        from optiscope.tune import TIE_BREAKERS

        conditions = dict(self.conditions)
        return {
            "function": self.target.name,
            "formula": self.target.formula,
            "objective": conditions.pop("objective"),
            "tie_breaker": TIE_BREAKERS[self.conditions["objective"]],
            **{k: plain(v) for k, v in conditions.items()},
            "start_points": self.starts.tolist(),
            "space": {n: [d.describe() for d in dims] for n, dims in self.spaces.items()},
            "ranking": [
                {k: plain(v) for k, v in row.items()}
                for row in self.ranking.to_dict(orient="records")
            ],
            "theory": self.theory,
            "note": self.note,
            "rows": len(self.evaluated),
            "seconds": self.seconds,
        }


def plain(value: Any) -> Any:
    """NumPy and pandas scalars as Python values; NaN and NA as None (inf kept)."""
    import pandas as pd

    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if value is None or value is pd.NA:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def build_report(
    target: Objective,
    chosen: dict[str, Optimizer],
    searches: dict[str, Search],
    starts: np.ndarray,
    conditions: dict[str, Any],
    began: float,
) -> TuneReport:
    """Rank the optimizers by their tuned settings and gather the record (module notes)."""
    import pandas as pd

    rows, frames = [], []
    theory: dict[str, dict[str, Any]] = {}
    for name, search in searches.items():
        frame = _evaluated_rows(search)
        frames.append(frame)
        row, beside = _tuned_row(chosen[name], search, frame)
        rows.append(row)
        if beside is not None:
            theory[name] = beside
    ranking = pd.DataFrame(rows)
    order = np.lexsort(
        (ranking["worst"].to_numpy(), ranking["tie_break"].to_numpy(), ranking["score"].to_numpy())
    )
    ranking = ranking.iloc[order].reset_index(drop=True)
    ranking.insert(0, "rank", np.arange(1, len(ranking) + 1))
    ranking = ranking[list(RANKING_COLUMNS)]
    evaluated = _concat(frames)
    note = _note_records(target, list(chosen), starts, conditions)
    spaces = {name: search.dims for name, search in searches.items()}
    return TuneReport(
        ranking, evaluated, target, starts, conditions, spaces, note, theory,
        time.perf_counter() - began,
    )  # fmt: skip


def _concat(frames: list[Any]):
    """Every optimizer's rows in one table; a boolean column missing for some optimizer
    becomes pandas' nullable ``boolean`` (NA there) so Parquet keeps its type."""
    import pandas as pd

    kinds = {}
    for frame in frames:
        for column in frame.columns:
            if frame[column].dtype == bool:
                kinds[column] = "boolean"
    frames = [f.astype({c: k for c, k in kinds.items() if c in f.columns}) for f in frames]
    return pd.concat(frames, ignore_index=True)


def _evaluated_rows(search: Search):
    """One optimizer's rows of every round, ``round`` and ``setting`` (over all rounds)."""
    import pandas as pd

    frames, offset = [], 0
    for index, evaluation in enumerate(search.evaluations):
        frame = evaluation.frame.copy()
        frame["setting"] = frame["setting"].to_numpy() + offset
        frame.insert(1, "round", index)
        offset += len(evaluation.median)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def _tuned_row(optimizer: Optimizer, search: Search, frame) -> tuple[dict[str, Any], Any]:
    """The ranking row of one optimizer's best setting, and the theory beside it (or None)."""
    from optiscope.tune import rank_settings

    _, median, secondary, worst = search.scores()
    best_index = int(rank_settings(median, secondary, worst)[0])
    rows = frame[frame["setting"] == best_index]
    first = rows.iloc[0]
    settings = {d.name: plain(first[d.name]) for d in search.dims}
    best = float(rows["score_primary"].min())
    rates = rows["rate"].to_numpy(dtype=np.float64)
    rate = float(np.median(rates)) if np.isfinite(rates).all() else math.nan
    row = {
        "optimizer": optimizer.name,
        "score": float(median[best_index]),
        "worst": float(worst[best_index]),
        "best": best,
        "spread": float(worst[best_index] - best) if math.isfinite(best) else math.inf,
        "tie_break": float(secondary[best_index]),
        "rate": rate,
        "evaluations": len(frame),
        "settings": settings,
        "spec": spec_text(optimizer.name, settings),
    }
    return row, _theory_beside(search, rows, rate)


def spec_text(name: str, settings: dict[str, Any]) -> str:
    """``"momentum:lr=0.1364...,momentum=0.228..."``: floats at full precision."""

    def text(value: Any) -> str:
        if isinstance(value, bool):
            return "true" if value else "false"
        return repr(value) if isinstance(value, float) else str(value)

    if not settings:
        return name
    return name + ":" + ",".join(f"{k}={text(v)}" for k, v in settings.items())


def _theory_beside(search: Search, rows, rate: float) -> dict[str, Any] | None:
    """``theory_beside_best`` for the tuned setting's rows, with its median measured rate."""
    from optiscope.sweep_ranking import theory_beside_best

    theory = search.evaluations[0].theory
    if theory is None:
        return None
    rows = rows.copy()
    rows.attrs = {"theory": theory}
    beside = theory_beside_best(rows, "rate")
    if beside is None:
        return None
    measured = rate if math.isfinite(rate) else None
    beside["best_rate"] = measured
    beside["rate_gap"] = None if measured is None else measured / beside["rate"] - 1.0
    return beside


def _note_records(
    target: Objective, names: list[str], starts: np.ndarray, conditions: dict[str, Any]
) -> list[dict[str, Any]]:
    """The note's settings of the tuned optimizers on the note's function, evaluated the same
    way; [] elsewhere."""
    from optiscope.optimizers import get_optimizer
    from optiscope.sweep import NOTE_FUNCTION, note_specs
    from optiscope.tune import evaluate

    if target.name != NOTE_FUNCTION:
        return []
    specs: dict[str, list[str]] = {}
    for name in names:
        for spec in note_specs(name):
            specs.setdefault(spec, []).append(name)
    records = []
    options = {k: conditions[k] for k in ("steps", "objective", "tol", "noise", "seed")}
    for spec, beside in specs.items():
        optimizer, setting = get_optimizer(spec)
        evaluation = evaluate(
            target, optimizer, setting, {}, starts, conditions["seeds"], **options
        )
        records.append(
            {
                "spec": spec,
                "beside": beside,
                "score": float(evaluation.median[0]),
                "worst": float(evaluation.worst[0]),
                "tie_break": float(evaluation.secondary[0]),
            }
        )
    return records
