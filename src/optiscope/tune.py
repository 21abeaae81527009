"""``optiscope.tune``: every optimizer at its best, found with the same budget.

**Budget.** For each optimizer the same number of evaluations, ``budget = settings x starts x
seeds`` (``settings = budget // (starts * seeds)``; every optimizer gets exactly that many).
An evaluation is one run of ``steps`` steps of one setting from one start under one noise seed.

**Strategy** (per optimizer, in the unit box of its :func:`~optiscope.tune_space.search_space`):

1. a scrambled Sobol' round over the whole box: ``SOBOL_SHARE`` of the settings;
2. ``REFINE_ROUNDS`` rounds sharing the rest: each draws Sobol' points in the box spanned by
   the ``TOP`` best settings so far, padded by ``PAD`` of its width on each side and at least
   ``MIN_WIDTH`` wide (unit coordinates), moved inside the unit box.

Every round is one batched :func:`optiscope.sweep.sweep_settings` call per noise seed (the
fused engine). The Sobol' points, the starts and the noise are seeded by ``seed``: the same
seed gives the same result.

**Score** (lower is better) of one row, by ``objective``:

- ``steps_to_tol``: the first step at which ``f - f_min <= tol``, ``steps + 1`` when never
  reached; tie-breaker ``gap_final``;
- ``gap_final``: ``f - f_min`` at the end; tie-breaker ``steps_to_tol``;
- ``auc``: the mean log10 gap per step (the ``auc`` metric); tie-breaker ``gap_final``;
- ``loss_final``: f at the end (needs no known minimum); no tie-breaker.

A diverged row, or one without a value, scores ``inf``. A setting's score is the **median**
over its starts x seeds rows (its ``worst`` the max, ``best`` the min), its tie-breaker the
median of the rows' tie-breakers: a setting that works from one lucky start does not win.
Settings (and optimizers) rank by score, then tie-breaker, then worst.

**Starts**: K points, the first the given start (default the function's own), the others
uniform in the function's plot box (``objective.bounds``), seeded; every optimizer sees the
same starts and the same noise seeds ``seed, seed + 1, ...``.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from optiscope import metrics
from optiscope.engine import check_steps
from optiscope.errors import OptiscopeError
from optiscope.experiments import MAX_SEEDS, MAX_STARTS, check_count, draw_starts
from optiscope.objectives import Objective
from optiscope.optimizers.base import Optimizer
from optiscope.stochastic import MAX_SEED, check_noise, check_seed
from optiscope.sweep import check_size, objective_and_start, sweep_settings
from optiscope.tune_report import TuneReport, build_report
from optiscope.tune_space import Dimension, optimizer_of, search_space

OBJECTIVES = ("steps_to_tol", "gap_final", "auc", "loss_final")
NEEDS_MINIMUM = ("steps_to_tol", "gap_final", "auc")
TIE_BREAKERS: dict[str, str | None] = {
    "steps_to_tol": "gap_final",
    "gap_final": "steps_to_tol",
    "auc": "gap_final",
    "loss_final": None,
}
SOBOL_SHARE = 0.25  # measured: 0.25 with 12 refinements halves the median gap of 0.5 with 4
REFINE_ROUNDS = 12
TOP = 5
PAD = 0.25
MIN_WIDTH = 0.02
MIN_SETTINGS_PER_DIMENSION = 8

Progress = Callable[[int, int], None]

__all__ = [
    "OBJECTIVES",
    "Dimension",
    "Evaluation",
    "TuneReport",
    "evaluate",
    "search_space",
    "tune",
]


# --- checks --------------------------------------------------------------------------------


def check_objective(objective: Any) -> str:
    if objective not in OBJECTIVES:
        raise OptiscopeError(f"invalid objective: {objective!r} (valid: {', '.join(OBJECTIVES)})")
    return objective


def check_supported(target: Objective, objective: str) -> None:
    """Refuse an objective that needs the minimum value on a function without a known one."""
    if objective in NEEDS_MINIMUM and target.f_min is None:
        raise OptiscopeError(
            f"objective {objective} measures the gap f - f_min, and {target.name} has no known "
            "minimum (none in the catalogue and none found from the start: unbounded below, "
            "or a saddle); use --objective loss_final"
        )


def check_repeats(starts: Any, seeds: Any, noise: float) -> tuple[int, int]:
    """``(starts, seeds)`` checked: seeds > 1 only with noise."""
    k = check_count(starts, "starts", MAX_STARTS, "; each start costs a share of the budget")
    r = check_count(seeds, "seeds", MAX_SEEDS, "")
    if r > 1 and noise <= 0:
        raise OptiscopeError(
            f"seeds {r} without noise: noise seeds only matter with --noise SIGMA > 0 "
            "(exact gradients give the same run for every seed); drop --seeds or add --noise"
        )
    return k, r


def settings_per_optimizer(
    budget: Any, spaces: dict[str, list[Dimension]], starts: int, seeds: int
) -> int:
    """``budget // (starts * seeds)``, refused when below ``MIN_SETTINGS_PER_DIMENSION``
    settings per tuned dimension of the largest space."""
    if isinstance(budget, bool) or not isinstance(budget, int | np.integer) or budget < 1:
        raise OptiscopeError(f"invalid budget: {budget!r} (valid: a positive integer)")
    name, dims = max(spaces.items(), key=lambda item: len(item[1]))
    need = MIN_SETTINGS_PER_DIMENSION * len(dims)
    per = starts * seeds
    settings = int(budget) // per
    if settings < need:
        repeats = f" x {starts} starts" + (f" x {seeds} seeds" if seeds > 1 else "")
        raise OptiscopeError(
            f"budget {budget} too small: {name} tunes {len(dims)} hyperparameters, which needs at "
            f"least {MIN_SETTINGS_PER_DIMENSION} x {len(dims)} = {need} settings{repeats} = "
            f"{need * per} evaluations; raise --budget to {need * per}, or use fewer starts or "
            "seeds, or tune fewer hyperparameters (--params)"
        )
    return settings


# --- scores --------------------------------------------------------------------------------


def row_scores(frame, objective: str, steps: int) -> tuple[np.ndarray, np.ndarray]:
    """``(primary, secondary)`` per row (module notes): lower is better, inf for a diverged
    row or one without a value."""
    if objective not in frame.columns:
        raise OptiscopeError(
            f"objective {objective}: the run table has no {objective} column in this version"
        )

    def column(name: str | None) -> np.ndarray:
        if name is None:
            return np.zeros(len(frame))
        values = frame[name].to_numpy(dtype=np.float64, na_value=np.nan)
        if name == "steps_to_tol":
            values = np.where(np.isnan(values), steps + 1.0, values)
        return values

    diverged = frame["diverged_at"].notna().to_numpy()
    primary = column(objective)
    secondary = column(TIE_BREAKERS[objective])
    bad = diverged | np.isnan(primary)
    primary = np.where(bad, np.inf, primary)
    secondary = np.where(bad | np.isnan(secondary), np.inf, secondary)
    return primary, secondary


def rank_settings(median: np.ndarray, secondary: np.ndarray, worst: np.ndarray) -> np.ndarray:
    """Setting indices, best first: by median score, then tie-breaker, then worst."""
    return np.lexsort((worst, secondary, median))


# --- evaluate ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Evaluation:
    """Every setting of one :func:`evaluate` call, scored.

    ``frame``: the rows (``sweep_settings``'s columns after ``setting``, ``seed_index``,
    ``start_index``, ``score_primary``, ``score_secondary``), seed-major then setting-major;
    ``median``, ``worst``, ``best``, ``secondary`` (the median tie-breaker): ``[N]`` per
    setting; ``theory``: the quadratic theory's optimum (``sweep``'s ``attrs["theory"]``).
    """

    frame: Any
    median: np.ndarray
    worst: np.ndarray
    best: np.ndarray
    secondary: np.ndarray
    theory: dict[str, Any] | None = None


def evaluate(
    function: str | Objective,
    optimizer: str | Optimizer,
    base: dict[str, Any],
    swept: dict[str, Any],
    starts: Any,
    seeds: int,
    steps: int,
    objective: str,
    tol: float = metrics.DEFAULT_TOL,
    noise: float = 0.0,
    seed: int = 0,
    scheduler: str | None = None,
    progress: Progress | None = None,
) -> Evaluation:
    """Every setting (``swept[name]``: ``[N]`` values; ``base``: shared values) from every
    start (``[K, D]``) under every noise seed (``seeds`` of them when ``noise > 0``, else
    one), scored by ``objective`` (module notes). ``progress(done, total)`` counts rows."""
    import pandas as pd

    check_objective(objective)
    opt = optimizer_of(optimizer)
    points = np.atleast_2d(np.asarray(starts, dtype=np.float64))
    target, _ = objective_and_start(function, points[0] if points.size else None)
    check_supported(target, objective)
    repeats = check_count(seeds, "seeds", MAX_SEEDS, "") if noise > 0 else 1
    frames = []
    theory = None
    for r in range(repeats):
        report = _offset(progress, r, repeats)
        frame = sweep_settings(
            target, opt, base, swept, points, steps=steps, tol=tol, noise=noise,
            seed=(seed + r) % (MAX_SEED + 1), scheduler=scheduler, progress=report,
        )  # fmt: skip
        theory = frame.attrs.get("theory") if r == 0 else theory
        setting, start = np.divmod(np.arange(len(frame)), len(points))
        primary, secondary = row_scores(frame, objective, steps)
        frame = frame.reset_index(drop=True)
        frame.attrs = {}
        for position, (name, values) in enumerate(
            (("setting", setting), ("seed_index", np.full(len(frame), r)), ("start_index", start))
        ):
            frame.insert(1 + position, name, values)
        frame["score_primary"] = primary
        frame["score_secondary"] = secondary
        frames.append(frame)
    rows = pd.concat(frames, ignore_index=True)
    return _summarised(rows, repeats, len(points), theory)


def _summarised(rows, repeats: int, starts: int, theory: dict[str, Any] | None) -> Evaluation:
    """Per-setting median, worst, best and median tie-breaker of seed-major rows."""
    count = len(rows) // (repeats * starts)
    primary = _by_setting(rows["score_primary"].to_numpy(np.float64), repeats, count, starts)
    secondary = _by_setting(rows["score_secondary"].to_numpy(np.float64), repeats, count, starts)
    return Evaluation(
        rows, _median(primary), primary.max(axis=1), primary.min(axis=1), _median(secondary),
        theory,
    )  # fmt: skip


def _by_setting(values: np.ndarray, repeats: int, count: int, starts: int) -> np.ndarray:
    """Seed-major rows ``[R * N * K]`` as ``[N, R * K]``."""
    return values.reshape(repeats, count, starts).transpose(1, 0, 2).reshape(count, -1)


def _median(values: np.ndarray) -> np.ndarray:
    """The median of each row, inf when more than half are inf (an even count's middle pair
    with an inf is inf)."""
    ordered = np.sort(values, axis=1)
    n = ordered.shape[1]
    low, high = ordered[:, (n - 1) // 2], ordered[:, n // 2]
    return np.where(np.isinf(high), np.inf, (low + high) / 2)


def _offset(progress: Progress | None, part: int, parts: int) -> Progress | None:
    """``progress`` for one of ``parts`` equal calls (rows done before it added)."""
    if progress is None:
        return None
    return lambda done, total: progress(part * total + done, parts * total)


# --- the search ----------------------------------------------------------------------------


def round_sizes(settings: int) -> list[int]:
    """Settings per round: ``SOBOL_SHARE`` in the first, the rest shared by the refinements."""
    first = max(1, round(settings * SOBOL_SHARE))
    rest = settings - first
    sizes = [first] + [
        rest // REFINE_ROUNDS + (i < rest % REFINE_ROUNDS) for i in range(REFINE_ROUNDS)
    ]
    return [s for s in sizes if s > 0]


def sobol_points(dims: int, count: int, seed: int, round_index: int) -> np.ndarray:
    """``[count, dims]`` scrambled Sobol' points in [0, 1), seeded by (seed, round)."""
    from scipy.stats import qmc

    state = int(np.random.SeedSequence([seed, 0, round_index]).generate_state(1)[0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # balance properties need 2**m points: fine to lose
        return qmc.Sobol(dims, scramble=True, seed=state).random(count)


def refined_box(units: np.ndarray, order: np.ndarray, finite: np.ndarray):
    """``(lo, hi)``: the unit box spanned by the ``TOP`` best finite settings, padded by
    ``PAD`` of its width each side, at least ``MIN_WIDTH`` wide, inside [0, 1]; the whole
    box when no setting scored."""
    dims = units.shape[1]
    best = [i for i in order if finite[i]][:TOP]
    if not best:
        return np.zeros(dims), np.ones(dims)
    top = units[best]
    lo, hi = top.min(axis=0), top.max(axis=0)
    half = np.maximum((hi - lo) * (0.5 + PAD), MIN_WIDTH / 2)
    centre = (lo + hi) / 2
    lo, hi = centre - half, centre + half
    shift = np.maximum(-lo, 0.0) - np.maximum(hi - 1.0, 0.0)  # slide back inside [0, 1]
    lo, hi = lo + shift, hi + shift
    return np.clip(lo, 0.0, 1.0), np.clip(hi, 0.0, 1.0)


@dataclass
class Search:
    """One optimizer's search so far: the unit points and the evaluations of every round."""

    dims: list[Dimension]
    units: list[np.ndarray]
    evaluations: list[Evaluation]

    def scores(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """``(units [N, d], median, secondary, worst)`` over every setting so far."""
        units = np.concatenate(self.units) if self.units else np.zeros((0, len(self.dims)))
        parts = [(e.median, e.secondary, e.worst) for e in self.evaluations]
        median, secondary, worst = (np.concatenate(p) for p in zip(*parts, strict=True))
        return units, median, secondary, worst

    def next_box(self):
        units, median, secondary, worst = self.scores()
        order = rank_settings(median, secondary, worst)
        return refined_box(units, order, np.isfinite(median))


def search_optimizer(
    target: Objective,
    optimizer: Optimizer,
    dims: list[Dimension],
    settings: int,
    points: np.ndarray,
    seeds: int,
    options: dict[str, Any],
    counter: ProgressCounter,
) -> Search:
    """Sobol' over the whole box, then ``REFINE_ROUNDS`` shrinking boxes (module notes)."""
    search = Search(dims, [], [])
    for index, size in enumerate(round_sizes(settings)):
        lo, hi = (np.zeros(len(dims)), np.ones(len(dims))) if index == 0 else search.next_box()
        units = lo + sobol_points(len(dims), size, options["seed"], index) * (hi - lo)
        swept = {d.name: d.from_unit(units[:, i]) for i, d in enumerate(dims)}
        evaluation = evaluate(target, optimizer, {}, swept, points, seeds,
                              progress=counter.during(), **options)  # fmt: skip
        counter.add(len(evaluation.frame))
        search.units.append(units)
        search.evaluations.append(evaluation)
    return search


class ProgressCounter:
    """Evaluations done over a whole tune, reported through ``progress(done, total)``."""

    def __init__(self, progress: Progress | None, total: int) -> None:
        self.progress, self.total, self.done = progress, total, 0

    def during(self) -> Progress | None:
        """A callback for one call's own ``(done, total)``, reported as the tune's."""
        if self.progress is None:
            return None
        return lambda done, _total: self.progress(self.done + done, self.total)

    def add(self, rows: int) -> None:
        self.done += rows


def tune(
    function: str | Objective,
    optimizers: str | Sequence[str],
    budget: int = 2048,
    steps: int = 200,
    start: Any = None,
    starts: int = 1,
    seeds: int = 1,
    objective: str = "steps_to_tol",
    seed: int = 0,
    noise: float = 0.0,
    tol: float = metrics.DEFAULT_TOL,
    params: str | Sequence[str] = "method",
    booleans: bool = False,
    scheduler: str | None = None,
    progress: Progress | None = None,
) -> TuneReport:
    """Tune every optimizer with the same budget and rank them by tuned score.

    ``function``: a FUNCTION spec or an Objective; ``optimizers``: names (``"adam"`` or a
    list); ``budget``: evaluations per optimizer (settings x starts x seeds); ``start``: the
    first start (default the function's own); ``starts``: K starts (the others drawn in the
    plot box); ``seeds``: R noise seeds (needs ``noise > 0``); ``objective``: one of
    ``OBJECTIVES``; ``params``/``booleans``: the search space (``tune_space``);
    ``progress(done, total)``: evaluations done. Strategy, scores, starts: module notes.
    Bad input raises OptiscopeError (one line) before anything runs.
    """
    from optiscope.theory import check_tol

    began = time.perf_counter()
    check_objective(objective)
    check_steps(steps)
    tol, noise, seed = check_tol(tol), check_noise(noise), check_seed(seed)
    k, r = check_repeats(starts, seeds, noise)
    names = _optimizer_names(optimizers)
    chosen = {name: optimizer_of(name) for name in names}
    spaces = {name: search_space(opt, params, booleans) for name, opt in chosen.items()}
    settings = settings_per_optimizer(budget, spaces, k, r)
    check_size(settings, k * r, steps)
    target, first = objective_and_start(function, start)
    point = np.asarray(first, dtype=np.float64)
    check_supported(target, objective)
    points = draw_starts(target, point, k, seed)
    options = {"steps": steps, "objective": objective, "tol": tol, "noise": noise, "seed": seed,
               "scheduler": scheduler}  # fmt: skip
    counter = ProgressCounter(progress, settings * k * r * len(names))
    searches = {
        name: search_optimizer(target, opt, spaces[name], settings, points, r, options, counter)
        for name, opt in chosen.items()
    }
    conditions = {
        "budget": int(budget), "settings": settings, "starts": k, "seeds": r,
        "params": params if isinstance(params, str) else list(params), "booleans": booleans,
        **options,
    }  # fmt: skip
    conditions.pop("scheduler")
    return build_report(target, chosen, searches, points, conditions, began)


def _optimizer_names(optimizers: str | Sequence[str]) -> list[str]:
    """The optimizer names, in order, each once; OptiscopeError for none or a repeat."""
    names = [optimizers] if isinstance(optimizers, str) else list(optimizers)
    if not names:
        raise OptiscopeError("tune needs at least one optimizer name, e.g. momentum adam")
    texts = [n.strip() if isinstance(n, str) else n for n in names]
    repeated = sorted({n for n in texts if texts.count(n) > 1}, key=str)
    if repeated:
        raise OptiscopeError(
            f"optimizer {repeated[0]!r} named twice: every optimizer is tuned once"
        )
    return texts
