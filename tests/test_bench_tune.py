"""The tune-vs-Optuna benchmark runs end to end (tiny budget) and poses Optuna tune's problem.

Speed and quality targets live in the benchmark, not here: this checks that ``--quick`` runs
and prints a result of both tuners for every case, that an Optuna trial draws from exactly
tune's search space, and that the number Optuna minimises keeps tune's ranking order.
"""

from __future__ import annotations

import importlib.util
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import optuna

from optiscope.tune import search_space

BENCH = Path(__file__).resolve().parent.parent / "benchmarks" / "bench_tune.py"


def _bench_module():
    spec = importlib.util.spec_from_file_location("bench_tune", BENCH)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


bench = _bench_module()


def test_quick_benchmark_prints_both_tuners_for_every_case():
    proc = subprocess.run(
        [sys.executable, str(BENCH), "--quick", "--markdown"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    out = proc.stdout
    assert "not installed" not in out
    for case in bench.CASES.values():
        # one Markdown row per case: tune's best, then Optuna's, both as "score (tie-break)"
        rows = [line for line in out.splitlines() if line.startswith(f"| {case.label} |")]
        assert rows, out
        for row in rows:
            cells = [c.strip() for c in row.strip("|").split("|")]
            tune_best, optuna_best = cells[2], cells[3]
            assert "(" in tune_best and "(" in optuna_best, row
            assert all(math.isfinite(float(b.split()[0])) for b in (tune_best, optuna_best))
            assert cells[7].endswith("(PASS)") or cells[7].endswith("(FAIL)"), row
    assert "| params method |" in out and "| params lr only |" in out


def test_an_optuna_trial_draws_from_tunes_search_space():
    dims = search_space("adam")
    fixed = {"lr": 0.01, "beta1_unit": 0.5, "beta2_unit": 0.75, "eps": 1e-8}
    setting = bench.suggest_setting(optuna.trial.FixedTrial(fixed), dims)
    # log1m: u = 0.5 is 1 - x = 10**-2 over 0..0.9999, u = 0.75 is 10**-3
    assert setting["lr"] == 0.01 and setting["eps"] == 1e-8
    assert math.isclose(setting["beta1"], 0.99, rel_tol=1e-12)
    assert math.isclose(setting["beta2"], 0.999, rel_tol=1e-12)

    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=3))
    drawn = []
    study.optimize(lambda t: drawn.append(bench.suggest_setting(t, dims)) or 0.0, n_trials=30)
    for dim in dims:
        values = np.array([s[dim.name] for s in drawn])
        assert values.min() >= dim.low and values.max() <= dim.high
        units = dim.to_unit(values)
        assert units.min() < 0.3 and units.max() > 0.7  # the whole range is reachable


def test_optuna_value_keeps_tunes_order_of_score_then_tie_break():
    rng = np.random.default_rng(0)
    scores = rng.integers(1, 40, 300) / 2.0  # medians of whole steps: whole or half
    scores[:5] = math.inf  # diverged
    gaps = 10.0 ** rng.uniform(-300, 5, 300)
    gaps[5:10] = 0.0
    gaps[10:12] = math.inf
    pairs = list(zip(scores.tolist(), gaps.tolist(), strict=True))
    by_tune = sorted(pairs)
    by_value = sorted(pairs, key=lambda p: bench.optuna_value(*p, "steps_to_tol"))
    finite = [p for p in by_tune if math.isfinite(p[0])]
    assert [p for p in by_value if math.isfinite(p[0])] == finite
    assert bench.optuna_value(0.25, 3.0, "gap_final") == 0.25


def test_the_middle_seed_is_taken_in_tunes_order():
    def best(score, tie):
        return bench.Best(score, tie, score, {}, 0.0)

    bests = [best(201, 0.5), best(201, 0.1), best(30, 9.0), best(math.inf, 0.0), best(201, 0.2)]
    assert bench.middle(bests).key() == (201, 0.2, 201)
    assert bench.middle(bests[:4]).key() == (201, 0.1, 201)  # the lower middle of four
