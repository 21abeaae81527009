"""Benchmark: optiscope.tune against Optuna (TPE) at the same budget, function and objective.

One run, both tuners on the same cases, several seeds of each, then the issue's verdicts:

    .venv/bin/python benchmarks/bench_tune.py              # 512 settings x 4 starts, 5 seeds
    .venv/bin/python benchmarks/bench_tune.py --quick      # tiny budget, 1 seed (CI, < 1 min)
    .venv/bin/python benchmarks/bench_tune.py --cases adam-rosenbrock --objectives steps_to_tol,auc
    .venv/bin/python benchmarks/bench_tune.py --markdown   # also Markdown tables

**The same problem for both.** Per case and seed: the same function, optimizer, steps, tol,
objective and starts (tune's: its first start is the case's, the others drawn in the
function's box from the seed; Optuna's trials are run from ``TuneReport.starts``), the same
search space (``optiscope.tune.search_space(optimizer, params)``) and the same budget of
evaluations (settings x starts; no noise, so one noise seed).

- ``tune``: ``optiscope.tune.tune(...)`` with that budget and seed.
- ``optuna``: a study with Optuna's default sampler (TPE, seeded with the seed), one setting
  per trial, ``budget / starts`` trials. A trial suggests each dimension on tune's scale: a
  "log" dimension with ``suggest_float(log=True)``, a "log1m" one (log of 1 - x) as a uniform
  ``u`` in [0, 1] mapped by ``Dimension.from_unit`` (exactly tune's space), "linear" with
  ``suggest_float``, a "choice" with ``suggest_categorical``. The setting is evaluated by
  ``optiscope.tune.evaluate`` (the fused engine, one setting from every start, the score tune
  uses: median over the starts, tie-breaker, worst). The trial's value is that score in the
  order tune ranks by (see ``optuna_value``): TPE only compares values, so it gets the same
  information tune uses.

**Cases** (200 steps, 4 starts): Adam on Rosenbrock from (-1.2, 1), objective ``gap_final``
by default, and heavy ball (``momentum``) on aniso from (1, 1), objective ``steps_to_tol``.
On Rosenbrock no setting comes within tol = 1e-6 in 200 steps (measured: every best scores
201), so ``steps_to_tol`` there ranks by its tie-breaker, the final gap: the same search as
``gap_final``, which says it directly (``--objectives`` runs every case with the ones named).

**Best score**: each tuner's best evaluated setting by tune's rule, lexicographic in (median
score, median tie-breaker, worst). Over the seeds a tuner's result is the middle one of its
seeds' bests in that order (the lower middle for an even count). Verdicts (the issue's
target): tune's middle score at least as good as Optuna's (on the score; when the scores are
equal the tie-breaker's verdict is printed beside it), and median Optuna wall time / median
tune wall time >= 50.

**lr only**: a second comparison, tune's Adam on Rosenbrock with every method hyperparameter
(``params="method"``) against lr alone (``params=["lr"]``) at the same budget and objective
(the case's, or the first of ``--objectives``), over the same seeds: does tuning the whole
method beat the best lr-only tuning (the middle seeds, in tune's order)?

Wall times are warm: every case's first calls (Numba compiles the fused loop) run before the
clock starts and are printed apart. On a shared machine times move with the load: compare the
ratios of one run.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from optiscope.tune import OBJECTIVES, Dimension, evaluate, search_space, tune

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import choose, machine, versions  # noqa: E402  (beside this file)

try:
    import optuna
except ImportError:  # the Optuna rows then say "not installed"
    optuna = None

LIBRARIES = ("numpy", "numba", "optuna")  # their versions go in the report
QUALITY_TARGET = "tune's best at least as good as Optuna's (middle of the seeds)"
SPEED_TARGET = 50.0  # median Optuna wall time / median tune wall time
INSTALL_HINT = "pip install 'optiscope[tune-bench]'"


@dataclass(frozen=True)
class Case:
    """One benchmark case: an optimizer on a function from a start."""

    name: str
    optimizer: str
    function: str
    start: tuple[float, float]
    label: str
    objective: str  # the default objective (module notes)


CASES = {
    c.name: c
    for c in (
        Case(
            "adam-rosenbrock", "adam", "rosenbrock", (-1.2, 1.0), "Adam on rosenbrock", "gap_final"
        ),
        Case(
            "momentum-aniso", "momentum", "aniso", (1.0, 1.0), "heavy ball on aniso", "steps_to_tol"
        ),
    )
}
LR_ONLY_CASE = "adam-rosenbrock"


@dataclass(frozen=True)
class Size:
    """How much work a run does: per tuner, per case, per seed."""

    settings: int  # Optuna's trials; tune's budget is settings x starts
    starts: int
    steps: int
    seeds: int  # benchmark seeds: 0 .. seeds - 1 for both tuners

    @property
    def budget(self) -> int:
        return self.settings * self.starts


FULL = Size(settings=512, starts=4, steps=200, seeds=5)
QUICK = Size(settings=32, starts=1, steps=100, seeds=1)


@dataclass(frozen=True)
class Best:
    """A tuner's best setting: its score by tune's rule, the wall time and the settings."""

    score: float  # median over the starts of the objective (lower is better)
    tie_break: float  # median of the objective's tie-breaker
    worst: float
    settings: dict[str, Any]
    seconds: float

    def key(self) -> tuple[float, float, float]:
        """The order tune ranks settings by: score, then tie-breaker, then worst."""
        return (self.score, self.tie_break, self.worst)


# ------------------------------------------------------------------ the two tuners


def run_tune(case: Case, objective: str, size: Size, seed: int, params: Any = "method"):
    """``(Best, starts)``: tune's best setting and the starts it used."""
    began = time.perf_counter()
    report = tune(
        case.function, case.optimizer, budget=size.budget, steps=size.steps, start=case.start,
        starts=size.starts, objective=objective, seed=seed, params=params,
    )  # fmt: skip
    seconds = time.perf_counter() - began
    top = report.ranking.iloc[0]
    best = Best(
        float(top["score"]), float(top["tie_break"]), float(top["worst"]),
        dict(top["settings"]), seconds,
    )  # fmt: skip
    return best, np.asarray(report.starts, dtype=np.float64)


def suggest_setting(trial, dims: list[Dimension]) -> dict[str, Any]:
    """One value per dimension, suggested on the dimension's own scale (module notes)."""
    setting: dict[str, Any] = {}
    for dim in dims:
        if dim.scale == "log":
            setting[dim.name] = trial.suggest_float(dim.name, dim.low, dim.high, log=True)
        elif dim.scale == "log1m":
            u = trial.suggest_float(f"{dim.name}_unit", 0.0, 1.0)
            setting[dim.name] = float(dim.from_unit(np.array([u]))[0])
        elif dim.scale == "linear":
            setting[dim.name] = trial.suggest_float(dim.name, dim.low, dim.high)
        elif dim.scale == "choice":
            setting[dim.name] = trial.suggest_categorical(dim.name, list(dim.choices))
        else:
            raise ValueError(f"dimension {dim.name}: unknown scale {dim.scale!r}")
    return setting


def optuna_value(score: float, tie_break: float, objective: str) -> float:
    """The number Optuna minimises: ordered as tune ranks (score, then tie-breaker).

    ``steps_to_tol`` medians are whole or half steps, so a tie-breaker squashed into
    [0, 0.4] (monotone in log10 of the gap) adds its order without crossing the next score;
    the other objectives are continuous, where ties have no room to matter: the score alone.
    A diverged setting (score inf) stays inf, which Optuna accepts.
    """
    if objective != "steps_to_tol" or not math.isfinite(score):
        return score
    if math.isnan(tie_break) or tie_break == math.inf:
        return score + 0.4
    exponent = math.log10(max(tie_break, 1e-300))  # -300 .. ~308
    return score + 0.4 * (exponent + 300.0) / 610.0


def run_optuna(case: Case, objective: str, size: Size, seed: int, starts: np.ndarray) -> Best:
    """Optuna's best setting: TPE (seeded), one setting per trial, each through ``evaluate``."""
    dims = search_space(case.optimizer)
    scored: list[tuple[tuple[float, float, float], dict[str, Any]]] = []

    def trial_value(trial) -> float:
        setting = suggest_setting(trial, dims)
        swept = {name: np.array([value]) for name, value in setting.items()}
        result = evaluate(case.function, case.optimizer, {}, swept, starts, 1, size.steps,
                          objective)  # fmt: skip
        key = (float(result.median[0]), float(result.secondary[0]), float(result.worst[0]))
        scored.append((key, setting))
        return optuna_value(key[0], key[1], objective)

    began = time.perf_counter()
    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=seed))
    study.optimize(trial_value, n_trials=size.settings)
    seconds = time.perf_counter() - began
    key, setting = min(scored, key=lambda item: item[0])
    return Best(*key, setting, seconds)


def warm_up(case: Case, objective: str, size: Size) -> float:
    """Seconds of the first calls (the fused loop compiles): both tuners' paths, untimed."""
    dims = search_space(case.optimizer)
    began = time.perf_counter()
    _, starts = run_tune(case, objective, Size(8 * len(dims), size.starts, size.steps, 1), 0)
    swept = {d.name: d.from_unit(np.array([0.5])) for d in dims}
    evaluate(case.function, case.optimizer, {}, swept, starts, 1, size.steps, objective)
    return time.perf_counter() - began


# ------------------------------------------------------------------ one case


@dataclass
class CaseResult:
    case: Case
    objective: str
    tune: list[Best]
    optuna: list[Best]  # empty when Optuna is not installed
    compile_s: float


def compare_case(case: Case, objective: str, size: Size) -> CaseResult:
    """Both tuners on one case, every seed; prints a row per seed as it is measured."""
    print(
        f"\n== {case.label} from {case.start}: objective {objective}, {size.steps} steps, "
        f"budget {size.budget} evaluations ({size.settings} settings x {size.starts} starts) "
        f"per tuner, seeds 0..{size.seeds - 1} =="
    )
    compile_s = warm_up(case, objective, size)
    print(f"first calls (Numba compiles, not timed): {compile_s:.2f} s")
    print(seed_header())
    result = CaseResult(case, objective, [], [], compile_s)
    for seed in range(size.seeds):
        tuned, starts = run_tune(case, objective, size, seed)
        result.tune.append(tuned)
        found = run_optuna(case, objective, size, seed, starts) if optuna else None
        if found:
            result.optuna.append(found)
        print(seed_row(str(seed), tuned, found), flush=True)
    if not optuna:
        print(f"optuna: not installed ({INSTALL_HINT})")
    return result


def middle(bests: list[Best]) -> Best:
    """The middle of the seeds' bests in tune's order (the lower middle for an even count)."""
    ordered = sorted(bests, key=Best.key)
    return ordered[(len(ordered) - 1) // 2]


def median_seconds(bests: list[Best]) -> float:
    return float(np.median([b.seconds for b in bests]))


def quality_ok(case: CaseResult) -> bool | None:
    """tune's middle score at least as good as Optuna's (the score alone)."""
    if not case.optuna:
        return None
    return middle(case.tune).score <= middle(case.optuna).score


def quality_text(case: CaseResult) -> str:
    """The verdict, with the tie-breaker's when the scores are equal."""
    text = pass_fail(quality_ok(case))
    t, o = middle(case.tune), middle(case.optuna)
    if t.score == o.score:
        text += f", equal scores; tie-break: {better_of(t, o, ('tune', 'optuna'))}"
    return text


def speed_ratio(case: CaseResult) -> float | None:
    if not case.optuna:
        return None
    return median_seconds(case.optuna) / median_seconds(case.tune)


def wins(case: CaseResult) -> str:
    """Seeds where tune's best score is at least as good as Optuna's, of all seeds."""
    count = sum(t.score <= o.score for t, o in zip(case.tune, case.optuna, strict=True))
    return f"{count}/{len(case.optuna)}"


# ------------------------------------------------------------------ lr only


@dataclass
class ParamsResult:
    objective: str
    method: list[Best]
    lr_only: list[Best]


def compare_params(size: Size, objective: str) -> ParamsResult:
    """tune's Adam on Rosenbrock: every method hyperparameter against lr alone, same budget."""
    case = CASES[LR_ONLY_CASE]
    names = ", ".join(d.name for d in search_space(case.optimizer))
    print(
        f"\n== tune's {case.label}: params method ({names}) vs lr only, objective "
        f"{objective}, {size.steps} steps, budget {size.budget}, seeds 0..{size.seeds - 1} =="
    )
    print(f"{'seed':<6} {'method score':>12} {'tie-break':>10} {'lr-only score':>13} "
          f"{'tie-break':>10}  better  method setting | lr-only setting")  # fmt: skip
    result = ParamsResult(objective, [], [])
    for seed in range(size.seeds):
        method, _ = run_tune(case, objective, size, seed)
        lr_only, _ = run_tune(case, objective, size, seed, params=["lr"])
        result.method.append(method)
        result.lr_only.append(lr_only)
        print(params_row(str(seed), method, lr_only), flush=True)
    print(params_row("middle", middle(result.method), middle(result.lr_only)))
    return result


def params_row(label: str, method: Best, lr_only: Best) -> str:
    better = better_of(method, lr_only, ("method", "lr"))
    return (
        f"{label:<6} {score_text(method.score):>12} {tie_text(method.tie_break):>10} "
        f"{score_text(lr_only.score):>13} {tie_text(lr_only.tie_break):>10}  {better:<6}  "
        f"{settings_text(method.settings)} | {settings_text(lr_only.settings)}"
    )


# ------------------------------------------------------------------ text


def seed_header() -> str:
    return (
        f"{'seed':<6} {'tune score':>10} {'tie-break':>10} {'tune s':>8} {'optuna score':>12} "
        f"{'tie-break':>10} {'optuna s':>9} {'optuna/tune':>11}  better  tune setting | "
        "optuna setting"
    )


def seed_row(label: str, tuned: Best, found: Best | None) -> str:
    head = (
        f"{label:<6} {score_text(tuned.score):>10} {tie_text(tuned.tie_break):>10} "
        f"{tuned.seconds:8.3f}"
    )
    if found is None:
        return f"{head} {'-':>12} {'-':>10} {'-':>9} {'-':>11}  -       {settings_text(tuned.settings)}"
    better = better_of(tuned, found, ("tune", "optuna"))
    if tuned.score == found.score:  # equal scores: the tie-breaker decides
        better = f"={better}" if better != "tie" else better
    return (
        f"{head} {score_text(found.score):>12} {tie_text(found.tie_break):>10} "
        f"{found.seconds:9.2f} {found.seconds / tuned.seconds:10.0f}x  {better:<6}  "
        f"{settings_text(tuned.settings)} | {settings_text(found.settings)}"
    )


def better_of(first: Best, second: Best, names: tuple[str, str]) -> str:
    """The name of the better of two bests in tune's order, or "tie"."""
    if first.key() == second.key():
        return "tie"
    return names[0] if first.key() < second.key() else names[1]


def score_text(value: float) -> str:
    return "inf" if value == math.inf else f"{value:.4g}"


def tie_text(value: float) -> str:
    return "inf" if value == math.inf else f"{value:.3g}"


def settings_text(settings: dict[str, Any]) -> str:
    return ",".join(
        f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in settings.items()
    )


def pass_fail(ok: bool | None) -> str:
    return "n/a" if ok is None else "PASS" if ok else "FAIL"


def summary(cases: list[CaseResult], params: ParamsResult | None, quick: bool) -> list[str]:
    caveat = (
        " (--quick: a tiny budget and one seed, so these verdicts mean nothing)" if quick else ""
    )
    lines = [f"\n== verdicts{caveat} =="]
    for case in cases:
        t = middle(case.tune)
        head = f"{case.case.name:<16} {case.objective:<13} tune {score_text(t.score)} ({tie_text(t.tie_break)})"
        if not case.optuna:
            lines.append(f"{head}; optuna not installed")
            continue
        o, ratio = middle(case.optuna), speed_ratio(case)
        lines.append(
            f"{head} vs optuna {score_text(o.score)} ({tie_text(o.tie_break)}): "
            f"{quality_text(case)} ({wins(case)} seeds tune >= optuna); "
            f"wall {median_seconds(case.tune):.3f} s vs {median_seconds(case.optuna):.2f} s = "
            f"{ratio:.0f}x, target >= {SPEED_TARGET:g}x: {pass_fail(ratio >= SPEED_TARGET)}"
        )
    if params is not None:
        m, lr = middle(params.method), middle(params.lr_only)
        lines.append(
            f"{'lr only':<30} method {score_text(m.score)} ({tie_text(m.tie_break)}) vs lr only "
            f"{score_text(lr.score)} ({tie_text(lr.tie_break)}): method beats lr only: "
            f"{pass_fail(m.key() < lr.key())}"
        )
    return lines


def command_text() -> str:
    return " ".join(
        [f".venv/bin/{Path(sys.executable).name}", "benchmarks/bench_tune.py", *sys.argv[1:]]
    )


def markdown(cases: list[CaseResult], params: ParamsResult | None, size: Size) -> list[str]:
    """The verdicts as Markdown tables, with the machine and the command."""
    lines = [
        f"Machine: {machine()}; {versions(('numpy', 'numba', 'optuna'))}.",
        f"Command: `{command_text()}` ({size.steps} steps, budget {size.budget} evaluations = "
        f"{size.settings} settings x {size.starts} starts per tuner, seeds 0..{size.seeds - 1}; "
        "score: the median over the starts, its tie-breaker in brackets; each tuner's middle "
        "seed; wall times: median over the seeds, warm).",
        "",
        "| case | objective | tune best | Optuna (TPE) best | tune >= Optuna | tune s | Optuna s | Optuna / tune |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for case in cases:
        t = middle(case.tune)
        if not case.optuna:
            lines.append(
                f"| {case.case.label} | {case.objective} | {best_text(t)} | not installed | - | "
                f"{median_seconds(case.tune):.3f} | - | - |"
            )
            continue
        o, ratio = middle(case.optuna), speed_ratio(case)
        lines.append(
            f"| {case.case.label} | {case.objective} | {best_text(t)} | {best_text(o)} | "
            f"{quality_text(case)} ({wins(case)} seeds) | {median_seconds(case.tune):.3f} | "
            f"{median_seconds(case.optuna):.2f} | {ratio:.0f}x ({pass_fail(ratio >= SPEED_TARGET)}) |"
        )
    if params is not None:
        m, lr = middle(params.method), middle(params.lr_only)
        lines += [
            "",
            f"| tune's Adam on rosenbrock, same budget, {params.objective} | best | setting |",
            "|---|---|---|",
            f"| params method | {best_text(m)} | {settings_text(m.settings)} |",
            f"| params lr only | {best_text(lr)} | {settings_text(lr.settings)} |",
            f"| method beats lr only | {pass_fail(m.key() < lr.key())} | |",
        ]
    return lines


def best_text(best: Best) -> str:
    return f"{score_text(best.score)} ({tie_text(best.tie_break)})"


# ------------------------------------------------------------------ command line


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny budget, one seed (CI)")
    parser.add_argument(
        "--cases", default="all", help=f"comma list of {', '.join(CASES)} (default: all)"
    )
    parser.add_argument(
        "--objectives",
        help=f"comma list of {', '.join(OBJECTIVES)}, each run on every case (default: the "
        "case's own: gap_final on Rosenbrock, steps_to_tol on aniso)",
    )
    parser.add_argument("--seeds", type=int, help="benchmark seeds 0..N-1 (default 5; quick 1)")
    parser.add_argument("--no-lr-only", action="store_true", help="skip the lr-only comparison")
    parser.add_argument("--markdown", action="store_true", help="also print Markdown tables")
    args = parser.parse_args(argv)
    args.cases = choose(args.cases, tuple(CASES), "--cases", parser)
    if args.objectives is not None:
        args.objectives = choose(args.objectives, OBJECTIVES, "--objectives", parser)
    if args.seeds is not None and args.seeds < 1:
        parser.error(f"--seeds: {args.seeds} (valid: 1 or more)")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    size = QUICK if args.quick else FULL
    if args.seeds is not None:
        size = Size(size.settings, size.starts, size.steps, args.seeds)
    if optuna is not None:
        optuna.logging.set_verbosity(optuna.logging.WARNING)
    print(f"bench_tune: {machine()}; {versions(('numpy', 'numba', 'optuna'))}")
    print(f"command: {command_text()}")
    print(
        "score: the median over the starts of the objective (lower is better; steps_to_tol "
        f"counts {size.steps + 1} when never within tol), its tie-breaker beside it; 'better' "
        "compares (score, tie-break, worst); wall times are warm"
    )
    cases = [
        compare_case(CASES[name], objective, size)
        for name in args.cases
        for objective in (args.objectives or [CASES[name].objective])
    ]
    lr_case = CASES[LR_ONLY_CASE]
    lr_objective = args.objectives[0] if args.objectives else lr_case.objective
    params = None if args.no_lr_only else compare_params(size, lr_objective)
    print("\n".join(summary(cases, params, args.quick)))
    if args.markdown:
        print("\n" + "\n".join(markdown(cases, params, size)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
