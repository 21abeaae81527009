"""Benchmark: the compiled metrics of a recorded block against ``metrics.columns``.

Records one run with the NumPy engine (a momentum lr x momentum grid on aniso, 40,000 rows x
500 steps by default), then times the metrics alone: ``fused.metrics_numba.block_columns``
(compiled, rows in parallel on Numba's threads; the first call, which loads or compiles it,
is not timed) and, unless ``--no-numpy``, ``metrics.columns`` on the same run:

    .venv/bin/python benchmarks/bench_fused_metrics.py
    .venv/bin/python benchmarks/bench_fused_metrics.py --side 100 --steps 200 --threads 1
    .venv/bin/python benchmarks/bench_fused_metrics.py --side 100 --passes --no-numpy

``--passes`` also times each compiled pass of ``row_metrics`` alone over the same rows
(each row's path contiguous), to show where the metrics' time goes.
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
    parser.add_argument("--passes", action="store_true", help="time each compiled pass too")
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
    if args.passes:
        _time_passes(traj, context, args.repeat)


def _time_passes(traj, context, repeat: int) -> None:
    """Each compiled pass of ``row_metrics`` over every row (rows in parallel), alone."""
    paths = np.ascontiguousarray(np.moveaxis(traj.positions, 1, 0))  # [B, S+1, D]
    losses = np.ascontiguousarray(traj.losses.T)
    alive = traj.diverged_at < 0
    c = context.constants
    x_star, vectors = context.minimizers[0], context.eigenvectors[0]
    passes = {
        "step norms + path length": (_pass_step_norms, (paths,)),
        "zig-zag (4 components)": (_pass_zigzag, (paths, vectors)),
        "overshoot": (_pass_overshoot, (paths, x_star, vectors, c)),
        "cycle": (_pass_cycle, (paths, alive, c)),
        "distances to x*": (_pass_distances, (paths, x_star)),
        "distances + rate fit": (_pass_rate, (paths, x_star, alive, c)),
        "steps to tolerance": (_pass_tolerance, (losses,)),
    }
    for name, (fn, arguments) in passes.items():
        fn(*arguments)  # compile
        best = min(_seconds(lambda fn=fn, a=arguments: fn(*a)) for _ in range(repeat))
        print(f"  pass {name:<26} {best * 1e3:7.1f} ms")


mn = metrics_numba


@numba.njit(parallel=True)
def _pass_step_norms(paths):  # pragma: no cover - compiled
    total = 0.0
    for b in numba.prange(paths.shape[0]):
        out = np.empty(paths.shape[1])
        total += mn._step_norms(paths[b], out) + mn._pairwise(out, 0, paths.shape[1] - 1)
    return total


@numba.njit(parallel=True)
def _pass_zigzag(paths, vectors):  # pragma: no cover - compiled
    total = 0.0
    eigenvectors = vectors.reshape((1, *vectors.shape))
    for b in numba.prange(paths.shape[0]):
        by_coordinate, by_direction = np.empty(2), np.empty(2)
        mn._zigzags(paths[b], eigenvectors, 0, True, 1e-12, 4, by_coordinate, by_direction)
        total += by_coordinate[0] + by_direction[0]
    return total


@numba.njit(parallel=True)
def _pass_overshoot(paths, x_star, vectors, constants):  # pragma: no cover - compiled
    total = 0.0
    for b in numba.prange(paths.shape[0]):
        out = np.empty(2)
        mn._overshoots(paths[b], x_star, vectors, constants[mn.C_START_NOISE], out)
        total += out[0]
    return total


@numba.njit(parallel=True)
def _pass_cycle(paths, alive, constants):  # pragma: no cover - compiled
    total = 0
    for b in numba.prange(paths.shape[0]):
        period, _ = mn._cycle(paths[b], alive[b], constants)
        total += period
    return total


@numba.njit(parallel=True)
def _pass_distances(paths, x_star):  # pragma: no cover - compiled
    total = 0.0
    for b in numba.prange(paths.shape[0]):
        r, small = np.empty(paths.shape[1]), np.empty(2)
        total += mn._fill_distances(paths[b], x_star, r, small)
    return total


@numba.njit(parallel=True)
def _pass_rate(paths, x_star, alive, constants):  # pragma: no cover - compiled
    total = 0
    steps = paths.shape[1] - 1
    for b in numba.prange(paths.shape[0]):
        work, small = np.empty((3, steps + 1)), np.empty(2)
        scale = mn._fill_distances(paths[b], x_star, work[0], small)
        _, _, k0, _ = mn._rate_fit(
            work[0], work[1], work[2], steps, scale, alive[b], 0, False, constants
        )
        total += k0
    return total


@numba.njit(parallel=True)
def _pass_tolerance(losses):  # pragma: no cover - compiled
    total = 0
    for b in numba.prange(losses.shape[0]):
        first, _ = mn._tolerance_steps(losses[b], 0.0, 1e-6)
        total += first
    return total


def _seconds(work) -> float:
    start = time.perf_counter()
    work()
    return time.perf_counter() - start


if __name__ == "__main__":
    main()
