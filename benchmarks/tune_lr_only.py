"""Tuning every hyperparameter of Adam against tuning its learning rate alone, same budget.

Adam on Rosenbrock from (-1.2, 1), 500 steps, seeds 0..4 of ``optiscope.tune``, for four
(starts, objective, budget) rows; prints a Markdown table of the median best score of each
search space and on how many seeds the full search scored strictly better:

    .venv/bin/python benchmarks/tune_lr_only.py
"""

from __future__ import annotations

import time

import numpy as np

from optiscope import tune

ROWS = (
    (5, "gap_final", 10240),
    (5, "steps_to_tol", 10240),
    (1, "gap_final", 2048),
    (1, "steps_to_tol", 2048),
)
SEEDS = range(5)


def best_score(params, starts: int, objective: str, budget: int, seed: int) -> float:
    report = tune(
        "rosenbrock",
        ["adam"],
        budget=budget,
        steps=500,
        start=(-1.2, 1.0),
        starts=starts,
        objective=objective,
        seed=seed,
        params=params,
    )
    return float(report.ranking["score"].iloc[0])


def main() -> None:
    began = time.perf_counter()
    print("| starts, objective (budget) | all of Adam's hyperparameters | lr only | full better |")
    print("|---|---|---|---|")
    for starts, objective, budget in ROWS:
        full = [best_score("method", starts, objective, budget, s) for s in SEEDS]
        lr = [best_score(["lr"], starts, objective, budget, s) for s in SEEDS]
        better = sum(f < g for f, g in zip(full, lr, strict=True))
        plural = "s" if starts > 1 else ""
        print(
            f"| {starts} start{plural}, {objective} ({budget:,}) | median {np.median(full):.3g} "
            f"| median {np.median(lr):.3g} | {better} of {len(SEEDS)} seeds |",
            flush=True,
        )
    print(f"({time.perf_counter() - began:.1f} s)")


if __name__ == "__main__":
    main()
