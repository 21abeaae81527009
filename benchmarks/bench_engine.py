"""Benchmark: one batched run of many settings against one run per setting (and torch.optim).

Prints per-trajectory-step costs and their ratios, all measured in this one run, so the
numbers compare like with like on whatever machine runs it:

    .venv/bin/python benchmarks/bench_engine.py            # B = 4096 settings, 200 steps
    .venv/bin/python benchmarks/bench_engine.py --batch 400 --steps 100

Targets (the design's "speed by design"): a batched grid is orders of magnitude cheaper per
trajectory than a Python loop of single runs, and far cheaper than a torch.optim loop.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import optiscope as osc


def per_trajectory_step(seconds: float, trajectories: int, steps: int) -> float:
    return seconds / (trajectories * steps)


def time_batched(objective, optimizer, settings, steps) -> float:
    t0 = time.perf_counter()
    osc.run(objective, optimizer, settings, steps=steps)
    return time.perf_counter() - t0


def time_looped(objective, optimizer, settings, steps) -> float:
    t0 = time.perf_counter()
    for s in settings:
        osc.run(objective, optimizer, s, steps=steps)
    return time.perf_counter() - t0


def time_torch(objective, settings, steps) -> float | None:
    try:
        import torch
    except ImportError:
        return None
    t0 = time.perf_counter()
    for s in settings:
        p = torch.tensor(objective.start, dtype=torch.float64, requires_grad=True)
        opt = torch.optim.SGD([p], lr=s["lr"], momentum=s["momentum"])
        for _ in range(steps):
            g = objective.grad(p.detach().numpy()[None, :])[0]
            p.grad = torch.from_numpy(g)
            opt.step()
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=4096, help="settings in the batched run")
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--loop", type=int, default=64, help="settings timed one by one")
    args = parser.parse_args()

    objective = osc.get_objective("quadratic:kappa=50,angle=30")
    optimizer, base = osc.get_optimizer("momentum")
    rng = np.random.default_rng(0)
    grid = [
        {**base, "lr": float(lr), "momentum": float(m)}
        for lr, m in zip(
            rng.uniform(1e-3, 2e-2, args.batch), rng.uniform(0, 0.99, args.batch), strict=True
        )
    ]
    batched = time_batched(objective, optimizer, grid, args.steps)
    looped = time_looped(objective, optimizer, grid[: args.loop], args.steps)
    torch_s = time_torch(objective, grid[: args.loop], args.steps)

    b = per_trajectory_step(batched, args.batch, args.steps)
    lo = per_trajectory_step(looped, args.loop, args.steps)
    print(f"momentum on {objective.name}, {args.steps} steps")
    print(
        f"batched  ({args.batch:6d} trajectories): {batched:8.3f} s  {b * 1e9:10.1f} ns per trajectory-step"
    )
    print(
        f"looped   ({args.loop:6d} single runs) : {looped:8.3f} s  {lo * 1e9:10.1f} ns per trajectory-step"
    )
    print(f"ratio looped / batched: {lo / b:8.1f}x")
    if torch_s is not None:
        t = per_trajectory_step(torch_s, args.loop, args.steps)
        print(
            f"torch.optim loop ({args.loop:3d} runs)   : {torch_s:8.3f} s  {t * 1e9:10.1f} ns per trajectory-step"
        )
        print(f"ratio torch / batched: {t / b:8.1f}x")
    else:
        print("torch not installed: torch comparison skipped")


if __name__ == "__main__":
    main()
