"""Benchmark: the compiled metrics of a recorded block against ``metrics.columns``.

Records one run with the NumPy engine (a momentum lr x momentum grid on aniso, 40,000 rows x
500 steps by default), then times the metrics alone: ``fused.metrics_numba.block_columns``
(compiled, rows in parallel on Numba's threads; the first call, which loads or compiles it,
is not timed) and, unless ``--no-numpy``, ``metrics.columns`` on the same run:

    .venv/bin/python benchmarks/bench_fused_metrics.py
    .venv/bin/python benchmarks/bench_fused_metrics.py --side 100 --steps 200 --threads 1
"""

from __future__ import annotations

import argparse
import time

import numba
import numpy as np

import optiscope as osc
from optiscope import engine, metrics
from optiscope.fused import metrics_numba


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--side", type=int, default=200, help="grid side: side^2 rows")
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--threads", type=int, default=numba.config.NUMBA_NUM_THREADS)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-numpy", action="store_true", help="skip metrics.columns")
    args = parser.parse_args()
    numba.set_num_threads(args.threads)

    objective = osc.get_objective("aniso")
    optimizer, _ = osc.get_optimizer("momentum")
    grid = [
        {"lr": lr, "momentum": m}
        for lr in np.geomspace(1e-3, 1.0, args.side)
        for m in np.linspace(0.0, 0.999, args.side)
    ]
    traj = engine.run(objective, optimizer, grid, args.steps, (1.0, 1.0))
    context = metrics_numba.metric_context(objective, traj.stochastic)
    block = (
        traj.positions,
        traj.losses,
        traj.grad_norms,
        traj.diverged_at,
        traj.converged_at,
        traj.evaluations[-1],
    )
    metrics_numba.block_columns(
        *(a[:, :2] for a in block[:3]), *(a[:2] for a in block[3:]), context, 1e-6
    )  # load (or compile) before timing
    rows = len(grid)
    print(f"{rows} rows x {args.steps} steps, {args.threads} thread(s)")
    best = min(
        _seconds(lambda: metrics_numba.block_columns(*block, context, 1e-6))
        for _ in range(args.repeat)
    )
    print(f"block_columns (compiled): {best:.3f} s, {best / rows * 1e6:.2f} us per row")
    if not args.no_numpy:
        numpy_s = _seconds(lambda: metrics.columns(traj, 1e-6))
        print(f"metrics.columns (NumPy):  {numpy_s:.3f} s ({numpy_s / best:.0f}x)")


def _seconds(work) -> float:
    start = time.perf_counter()
    work()
    return time.perf_counter() - start


if __name__ == "__main__":
    main()
