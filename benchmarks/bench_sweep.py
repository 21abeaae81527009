"""Benchmark: optiscope.sweep against what a user would pick instead, on a hyperparameter grid.

One run, every competitor on the same cases, in trajectory-steps per second (settings x steps
per second of wall time; higher is better) and as ratios "sweep / entry" checked against the
issue's targets:

    .venv/bin/python benchmarks/bench_sweep.py                 # 200 x 200 grid, 500 steps
    .venv/bin/python benchmarks/bench_sweep.py --quick         # tiny grid, for CI (< 1 min)
    .venv/bin/python benchmarks/bench_sweep.py --cases adam-aniso --only jax,numba,sweep
    .venv/bin/python benchmarks/bench_sweep.py --markdown      # also a Markdown table

Cases: Adam (lr x beta1, other hyperparameters default) and heavy ball (``momentum``, torch's
form, lr x momentum) on ``aniso`` from (1, 1) and ``rosenbrock`` from (-1.2, 1). Entries:

- ``note``: the seed note's Python classes in a loop, one trajectory at a time (a subset of
  the settings is timed and the rate scaled to the grid);
- ``torch-loop``: torch.optim one trajectory at a time (a 2-element parameter,
  ``loss.backward()``, ``opt.step()``), as the visualisation repos do (subset, scaled);
- ``torch-batch``: torch on one (N, 2) float64 tensor, the update rule written with tensor
  ops and per-row hyperparameters (torch.optim takes one value per parameter group), the
  gradient written analytically (cheaper than autograd: torch's best case);
- ``jax``: JAX + optax with ``jit(vmap(scan))``, float64: (a) per-row hyperparameters, the
  optax optimizer built inside the vmapped function, (b) one setting shared by every row
  (the best case for JAX); compile time excluded but printed; the better one is "JAX best";
- ``numba``: a hand-fused Numba kernel written here (prange over blocks of rows, the block's
  state in L1, only the final point and loss, no divergence bookkeeping): the practical limit;
- ``numpy``: optiscope's NumPy engine on a subset (scaled), and its metrics timed apart;
- ``parts``: the sweep's compiled call alone (``fused.run_columns``), with its metrics and
  without them (``measure=False``): where the sweep's time goes;
- ``sweep``: ``optiscope.sweep`` on the full grid, metrics included, warm (the first call,
  which compiles, is printed too), in a subprocess so that its peak RSS is its own: VmHWM
  from /proc over both calls (the target), and what the warm call added above the RSS it
  started from.

Every entry's final point for one setting of the grid is checked against optiscope's
reference (NumPy) engine: it must agree within 1e-9 (relative to max(1, |point|)), so no
entry is timed doing different work. Missing libraries give "not installed" rows. Batched
entries report the fastest of a few warm runs; loops are timed once. On a shared machine the
rates move with the load: compare the ratios of one run, not numbers from different runs.
"""

from __future__ import annotations

import argparse
import inspect
import json
import math
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _seed_classes as seed  # noqa: E402  (the note's classes, beside this file)
from _common import choose, machine, versions  # noqa: E402

try:
    import numba
except ImportError:  # the hand-fused row then says "not installed"
    numba = None

LIBRARIES = ("numpy", "numba", "jax", "optax", "torch")  # their versions go in the report
ENTRIES = ("note", "torch-loop", "torch-batch", "jax", "numba", "numpy", "parts", "sweep")
CHECK_TOLERANCE = 1e-9
RSS_TARGET_MB = 400.0
BLOCK = 256  # rows per block of the hand-fused kernel: 6 state arrays of 2 KB stay in L1
ADAM_BETA2, ADAM_EPS = 0.999, 1e-8  # torch's defaults, kept by every entry


@dataclass(frozen=True)
class Case:
    """One benchmark case: an optimizer, a function, a start and the swept box."""

    name: str
    optimizer: str  # optiscope's name: "momentum" (heavy ball) or "adam"
    function: str  # "aniso" or "rosenbrock"
    start: tuple[float, float]
    lr: tuple[float, float]  # log-spaced
    second: str  # the other swept hyperparameter: "momentum" or "beta1"
    second_range: tuple[float, float]  # linear
    check: tuple[float, float]  # (lr, second) checked against the reference: nearest grid point

    def spec(self, n: int) -> str:
        """The sweep's SPEC string for an n x n grid."""
        (lo, hi), (lo2, hi2) = self.lr, self.second_range
        return f"{self.optimizer}:lr={lo:g}..{hi:g}@log{n},{self.second}={lo2:g}..{hi2:g}@{n}"


CASES = {
    c.name: c
    for c in (
        Case(
            "adam-aniso",
            "adam",
            "aniso",
            (1.0, 1.0),
            (1e-4, 1.0),
            "beta1",
            (0.0, 0.99),
            (1e-3, 0.9),
        ),
        Case(
            "adam-rosenbrock",
            "adam",
            "rosenbrock",
            (-1.2, 1.0),
            (1e-4, 1.0),
            "beta1",
            (0.0, 0.99),
            (1e-3, 0.9),
        ),
        Case(
            "momentum-aniso",
            "momentum",
            "aniso",
            (1.0, 1.0),
            (1e-3, 1.0),
            "momentum",
            (0.0, 0.999),
            (2e-3, 0.5),
        ),
        Case(
            "momentum-rosenbrock",
            "momentum",
            "rosenbrock",
            (-1.2, 1.0),
            (1e-5, 1e-2),
            "momentum",
            (0.0, 0.999),
            (1e-3, 0.9),
        ),
    )
}

# sweep / entry must reach these (the targets); entries absent here have none
TARGETS = {"note": 500.0, "torch-batch": 10.0, "jax best": 1.5, "numba": 0.7}


@dataclass(frozen=True)
class Size:
    n: int  # grid points per axis
    steps: int
    note_subset: int
    torch_loop_subset: int
    numpy_subset: int
    repeats: int  # warm runs of the batched entries; the fastest counts


FULL = Size(n=200, steps=500, note_subset=200, torch_loop_subset=50, numpy_subset=4000, repeats=3)
QUICK = Size(n=12, steps=60, note_subset=12, torch_loop_subset=4, numpy_subset=144, repeats=1)


@dataclass
class Grid:
    """The n x n settings of a case, flattened: row k is (lr[k], second[k])."""

    lr: np.ndarray
    second: np.ndarray
    check: int  # the row whose final point every entry must reproduce

    @property
    def size(self) -> int:
        return self.lr.size


def make_grid(case: Case, n: int) -> Grid:
    lr_axis = np.geomspace(*case.lr, n)
    second_axis = np.linspace(*case.second_range, n)
    lr, second = (a.ravel() for a in np.meshgrid(lr_axis, second_axis, indexing="ij"))
    distance = np.abs(np.log(lr / case.check[0])) + np.abs(second - case.check[1])
    return Grid(lr, second, int(np.argmin(distance)))


def subset(grid: Grid, count: int) -> np.ndarray:
    """``count`` rows spread evenly over the grid (so the diverged share is typical), plus the
    check row."""
    rows = np.linspace(0, grid.size - 1, min(count, grid.size)).round().astype(int)
    return np.unique(np.append(rows, grid.check))


@dataclass
class Entry:
    """One timed competitor: its rate, how it was measured, and its correctness check."""

    name: str
    rate: float | None = None  # trajectory-steps per second
    note: str = ""
    check: float | None = None  # max error of the check row against the reference
    extra: dict = field(default_factory=dict)


# ------------------------------------------------------------------ helpers


def best_time(fn: Callable[[], object], repeats: int) -> tuple[float, object]:
    """The fastest of ``repeats`` calls of ``fn`` and the last result."""
    best, result = math.inf, None
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t0)
    return best, result


def reference_final(case: Case, lr: float, second: float, steps: int) -> np.ndarray:
    """The check row's last point from optiscope's reference (NumPy) engine."""
    import optiscope as osc

    objective = osc.get_objective(case.function)
    optimizer, base = osc.get_optimizer(case.optimizer)
    setting = {**base, "lr": float(lr), case.second: float(second)}
    traj = osc.run(objective, optimizer, setting, steps=steps, start=case.start, **numpy_engine())
    return traj.positions[-1, 0]


def numpy_engine() -> dict:
    """``engine="numpy"`` when engine.run has that keyword (the fused engine exists), else {}."""
    import optiscope as osc

    return {"engine": "numpy"} if "engine" in inspect.signature(osc.run).parameters else {}


def check_error(final, reference: np.ndarray) -> float:
    """Largest coordinate error relative to max(1, |reference|)."""
    final = np.asarray(final, dtype=np.float64)
    scale = max(1.0, float(np.max(np.abs(reference))))
    error = float(np.max(np.abs(final - reference))) / scale
    return error if math.isfinite(error) else math.inf


# ------------------------------------------------------------------ 1. the note's loop


def run_note(case: Case, grid: Grid, size: Size, ref: np.ndarray) -> Entry:
    rows = subset(grid, size.note_subset)

    def loop():
        return [
            seed.note_loop(
                case.optimizer,
                case.function,
                float(grid.lr[k]),  # Python floats, as in the note (NumPy scalars are slower)
                float(grid.second[k]),
                case.start,
                size.steps,
            )
            for k in rows
        ]

    seconds, finals = best_time(loop, 1)
    check = check_error(finals[int(np.searchsorted(rows, grid.check))], ref)
    note = f"{rows.size} of {grid.size:,} settings timed, scaled"
    return Entry("note", rows.size * size.steps / seconds, note, check)


# ------------------------------------------------------------------ 2-3. torch


def _torch():
    try:
        import torch
    except ImportError:
        return None
    return torch


def torch_loss(function: str, p):
    if function == "aniso":
        return p[0] ** 2 + 8.0 * p[1] ** 2
    return (1.0 - p[0]) ** 2 + 100.0 * (p[1] - p[0] ** 2) ** 2


def torch_one_trajectory(torch, case: Case, lr: float, second: float, steps: int) -> np.ndarray:
    """torch.optim the usual way: a 2-element parameter, backward(), step()."""
    p = torch.tensor(case.start, dtype=torch.float64, requires_grad=True)
    if case.optimizer == "momentum":
        opt = torch.optim.SGD([p], lr=float(lr), momentum=float(second))
    else:
        opt = torch.optim.Adam([p], lr=float(lr), betas=(float(second), ADAM_BETA2), eps=ADAM_EPS)
    for _ in range(steps):
        opt.zero_grad()
        torch_loss(case.function, p).backward()
        opt.step()
    return p.detach().numpy().copy()


def run_torch_loop(case: Case, grid: Grid, size: Size, ref: np.ndarray) -> Entry:
    torch = _torch()
    if torch is None:
        return Entry("torch-loop", note="not installed")
    rows = subset(grid, size.torch_loop_subset)
    torch_one_trajectory(torch, case, grid.lr[0], grid.second[0], 2)  # warm-up: first-call costs

    def loop():
        return [
            torch_one_trajectory(torch, case, grid.lr[k], grid.second[k], size.steps) for k in rows
        ]

    seconds, finals = best_time(loop, 1)
    check = check_error(finals[int(np.searchsorted(rows, grid.check))], ref)
    note = f"{rows.size} of {grid.size:,} settings timed, scaled"
    return Entry("torch-loop", rows.size * size.steps / seconds, note, check)


def torch_gradient(torch, function: str, w):
    """The analytic gradient of the (N, 2) batch, in tensor ops."""
    if function == "aniso":
        return w * torch.tensor([2.0, 16.0], dtype=torch.float64)
    w1, w2 = w[:, 0], w[:, 1]
    r = w2 - w1 * w1
    return torch.stack((-2.0 * (1.0 - w1) - 400.0 * w1 * r, 200.0 * r), dim=1)


def torch_batch(torch, case: Case, grid: Grid, steps: int) -> np.ndarray:
    """Every row at once on (N, 2) tensors; hyperparameters as (N, 1) columns."""
    n = grid.size
    w = torch.tensor(case.start, dtype=torch.float64).repeat(n, 1)
    lr = torch.from_numpy(grid.lr).reshape(n, 1)
    second = torch.from_numpy(grid.second).reshape(n, 1)
    with torch.no_grad():
        if case.optimizer == "momentum":  # buf <- mu*buf + g; w <- w - lr*buf
            buf = torch.zeros_like(w)
            for _ in range(steps):
                buf.mul_(second).add_(torch_gradient(torch, case.function, w))
                w.sub_(lr * buf)
        else:  # torch's Adam rule, beta1 per row
            m, v = torch.zeros_like(w), torch.zeros_like(w)
            one_minus_beta1 = 1.0 - second
            beta1_power = torch.ones_like(second)
            for t in range(1, steps + 1):
                g = torch_gradient(torch, case.function, w)
                m.mul_(second).add_(one_minus_beta1 * g)
                v.mul_(ADAM_BETA2).addcmul_(g, g, value=1.0 - ADAM_BETA2)
                beta1_power.mul_(second)
                denom = (v.sqrt() / math.sqrt(1.0 - ADAM_BETA2**t)).add_(ADAM_EPS)
                w.sub_((lr / (1.0 - beta1_power)) * m / denom)
    return w.numpy()


def run_torch_batch(case: Case, grid: Grid, size: Size, ref: np.ndarray) -> Entry:
    torch = _torch()
    if torch is None:
        return Entry("torch-batch", note="not installed")
    torch_batch(torch, case, make_grid(case, 2), 2)  # warm-up: first-call costs
    seconds, finals = best_time(lambda: torch_batch(torch, case, grid, size.steps), size.repeats)
    note = f"full grid, float64, {torch.get_num_threads()} threads"
    return Entry(
        "torch-batch", grid.size * size.steps / seconds, note, check_error(finals[grid.check], ref)
    )


# ------------------------------------------------------------------ 4. JAX + optax


def jax_trajectory(jax, optax, case: Case, steps: int):
    """``trajectory(lr, second, w0) -> (w_final, loss_final)`` with optax and lax.scan."""
    if case.function == "aniso":

        def loss(w):
            return w[0] ** 2 + 8.0 * w[1] ** 2
    else:

        def loss(w):
            return (1.0 - w[0]) ** 2 + 100.0 * (w[1] - w[0] ** 2) ** 2

    grad = jax.grad(loss)

    def optimizer(lr, second):
        if case.optimizer == "momentum":
            return optax.sgd(lr, momentum=second)
        return optax.adam(lr, b1=second, b2=ADAM_BETA2, eps=ADAM_EPS)

    def trajectory(lr, second, w0):
        opt = optimizer(lr, second)

        def step(carry, _):
            w, state = carry
            updates, state = opt.update(grad(w), state, w)
            return (optax.apply_updates(w, updates), state), None

        (w, _), _ = jax.lax.scan(step, (w0, opt.init(w0)), None, length=steps)
        return w, loss(w)

    return trajectory


def run_jax(case: Case, grid: Grid, size: Size, ref: np.ndarray) -> list[Entry]:
    try:
        import jax
        import optax
    except ImportError:
        return [Entry("jax best", note="not installed (jax, optax)")]
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    trajectory = jax_trajectory(jax, optax, case, size.steps)
    lr, second = jnp.asarray(grid.lr), jnp.asarray(grid.second)
    w0 = jnp.asarray(case.start, dtype=jnp.float64)
    starts = jnp.tile(w0, (grid.size, 1))
    shared_lr, shared_second = float(grid.lr[grid.check]), float(grid.second[grid.check])
    configs = {
        "jax per-row": (jax.vmap(trajectory, in_axes=(0, 0, None)), (lr, second, w0)),
        "jax shared": (jax.vmap(lambda w: trajectory(shared_lr, shared_second, w)), (starts,)),
    }
    entries = []
    for name, (fn, args) in configs.items():
        t0 = time.perf_counter()
        compiled = jax.jit(fn).lower(*args).compile()
        compile_s = time.perf_counter() - t0

        def call(compiled=compiled, args=args):
            return jax.block_until_ready(compiled(*args))

        seconds, (finals, _) = best_time(call, size.repeats)
        what = f"lr, {case.second} per row" if name == "jax per-row" else "one setting broadcast"
        note = f"{what}; compile {compile_s:.2f} s excluded"
        check = check_error(np.asarray(finals)[grid.check], ref)
        entries.append(Entry(name, grid.size * size.steps / seconds, note, check))
    best = max(entries, key=lambda e: e.rate)
    entries.append(Entry("jax best", best.rate, f"= {best.name}", best.check))
    return entries


# ------------------------------------------------------------------ 5. hand-fused Numba

if numba is not None:

    @numba.njit(cache=True)
    def _aniso_gradient(w1, w2):
        return 2.0 * w1, 16.0 * w2

    @numba.njit(cache=True)
    def _rosenbrock_gradient(w1, w2):
        r = w2 - w1 * w1
        return -2.0 * (1.0 - w1) - 400.0 * w1 * r, 200.0 * r

    @numba.njit(cache=True)
    def _aniso_loss(w1, w2):
        return w1 * w1 + 8.0 * w2 * w2

    @numba.njit(cache=True)
    def _rosenbrock_loss(w1, w2):
        return (1.0 - w1) ** 2 + 100.0 * (w2 - w1 * w1) ** 2

    @numba.njit(parallel=True)
    def _heavy_ball_kernel(gradient, loss, lr, mu, x0, y0, steps, out):
        """Heavy ball on every row: buf <- mu*buf + g, w <- w - lr*buf; out[k] = (w1, w2, f)."""
        n = lr.size
        for block in numba.prange((n + BLOCK - 1) // BLOCK):
            lo = block * BLOCK
            m = min(BLOCK, n - lo)
            w1, w2 = np.full(m, x0), np.full(m, y0)
            b1, b2 = np.zeros(m), np.zeros(m)
            a, u = lr[lo : lo + m], mu[lo : lo + m]
            for _ in range(steps):  # steps outside, rows inside: the row loop vectorizes
                for i in range(m):
                    g1, g2 = gradient(w1[i], w2[i])
                    b1[i] = u[i] * b1[i] + g1
                    b2[i] = u[i] * b2[i] + g2
                    w1[i] = w1[i] - a[i] * b1[i]
                    w2[i] = w2[i] - a[i] * b2[i]
            for i in range(m):
                out[lo + i, 0], out[lo + i, 1] = w1[i], w2[i]
                out[lo + i, 2] = loss(w1[i], w2[i])

    @numba.njit(parallel=True)
    def _adam_kernel(gradient, loss, lr, beta1, beta2, eps, x0, y0, steps, out):
        """torch's Adam on every row (beta1 per row, beta2 and eps shared); out as above."""
        n = lr.size
        inverse_root_correction = 1.0 / np.sqrt(1.0 - beta2 ** np.arange(1.0, steps + 1.0))
        for block in numba.prange((n + BLOCK - 1) // BLOCK):
            lo = block * BLOCK
            m = min(BLOCK, n - lo)
            w1, w2 = np.full(m, x0), np.full(m, y0)
            m1, m2, v1, v2 = np.zeros(m), np.zeros(m), np.zeros(m), np.zeros(m)
            power = np.ones(m)  # beta1^t, per row
            a, b = lr[lo : lo + m], beta1[lo : lo + m]
            for t in range(steps):
                c = inverse_root_correction[t]
                for i in range(m):
                    g1, g2 = gradient(w1[i], w2[i])
                    m1[i] = b[i] * m1[i] + (1.0 - b[i]) * g1
                    m2[i] = b[i] * m2[i] + (1.0 - b[i]) * g2
                    v1[i] = beta2 * v1[i] + ((1.0 - beta2) * g1) * g1
                    v2[i] = beta2 * v2[i] + ((1.0 - beta2) * g2) * g2
                    power[i] *= b[i]
                    step_size = a[i] / (1.0 - power[i])
                    w1[i] = w1[i] - step_size * m1[i] / (np.sqrt(v1[i]) * c + eps)
                    w2[i] = w2[i] - step_size * m2[i] / (np.sqrt(v2[i]) * c + eps)
            for i in range(m):
                out[lo + i, 0], out[lo + i, 1] = w1[i], w2[i]
                out[lo + i, 2] = loss(w1[i], w2[i])


def numba_call(case: Case, grid: Grid, steps: int, out: np.ndarray) -> np.ndarray:
    gradient, loss = {
        "aniso": (_aniso_gradient, _aniso_loss),
        "rosenbrock": (_rosenbrock_gradient, _rosenbrock_loss),
    }[case.function]
    x0, y0 = case.start
    if case.optimizer == "momentum":
        _heavy_ball_kernel(gradient, loss, grid.lr, grid.second, x0, y0, steps, out)
    else:
        _adam_kernel(gradient, loss, grid.lr, grid.second, ADAM_BETA2, ADAM_EPS, x0, y0, steps, out)
    return out


def run_numba(case: Case, grid: Grid, size: Size, ref: np.ndarray) -> Entry:
    if numba is None:
        return Entry("numba", note="not installed")
    out = np.empty((grid.size, 3))
    t0 = time.perf_counter()
    numba_call(case, grid, size.steps, out)
    first = time.perf_counter() - t0
    seconds, finals = best_time(lambda: numba_call(case, grid, size.steps, out), size.repeats)
    note = f"full grid, {numba.get_num_threads()} threads; first call (compile + run) {first:.2f} s"
    return Entry(
        "numba", grid.size * size.steps / seconds, note, check_error(finals[grid.check, :2], ref)
    )


# ------------------------------------------------------------------ 6. optiscope NumPy engine


def run_numpy(case: Case, grid: Grid, size: Size, ref: np.ndarray) -> list[Entry]:
    import optiscope as osc
    from optiscope import metrics

    objective = osc.get_objective(case.function)
    optimizer, base = osc.get_optimizer(case.optimizer)
    rows = subset(grid, size.numpy_subset)
    settings = [{**base, "lr": grid.lr[k], case.second: grid.second[k]} for k in rows]
    t0 = time.perf_counter()
    traj = osc.run(
        objective, optimizer, settings, steps=size.steps, start=case.start, **numpy_engine()
    )
    run_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    metrics.columns(traj)
    metrics_s = time.perf_counter() - t0
    work = rows.size * size.steps
    check = check_error(traj.positions[-1, int(np.searchsorted(rows, grid.check))], ref)
    note = f"{rows.size:,} of {grid.size:,} settings timed, scaled"
    return [
        Entry("numpy run", work / run_s, note, check),
        Entry(
            "numpy run+metrics",
            work / (run_s + metrics_s),
            f"metrics {metrics_s:.2f} s of it",
            check,
        ),
    ]


# ------------------------------------------------------------------ 7. the sweep's two parts


def run_parts(case: Case, grid: Grid, size: Size, ref: np.ndarray) -> list[Entry]:
    """The sweep's compiled call timed without the rest of the sweep, on the full grid, with
    and without its metrics (``fused.run_columns(..., measure=False)``: the same loop, each
    block's path recorded in cache, no metric computed): where the sweep's time goes."""
    import optiscope as osc
    from optiscope import fused

    objective = osc.get_objective(case.function)
    optimizer, base = osc.get_optimizer(case.optimizer)
    stacked = optimizer.stack_columns(base, {"lr": grid.lr, case.second: grid.second})

    def call(measure: bool):
        return fused.run_columns(
            objective, optimizer, None, case.start, size.steps, stacked=stacked, measure=measure
        )

    entries = []
    for measure, name in ((False, "fused loop"), (True, "fused columns")):
        call(measure)  # compiles (or loads) on the first call
        seconds, result = best_time(lambda measure=measure: call(measure), size.repeats)
        check = check_error(result.final[grid.check], ref)
        entries.append(Entry(name, grid.size * size.steps / seconds, "full grid", check))
    return entries


# ------------------------------------------------------------------ 8. optiscope.sweep


def find_sweep():
    """``optiscope.sweep`` (the function), or None while it does not exist."""
    import optiscope

    sweep = getattr(optiscope, "sweep", None)
    if callable(sweep):
        return sweep
    try:
        from optiscope.sweep import sweep
    except ImportError:
        return None
    return sweep if callable(sweep) else None


def sweep_child(case: Case, size: Size) -> dict:
    """Time the sweep in this process (run by the parent as a subprocess): first and warm call."""
    sweep = find_sweep()
    if sweep is None:
        return {"status": "not available"}
    spec = case.spec(size.n)
    try:
        t0 = time.perf_counter()
        sweep(case.function, spec, steps=size.steps, start=case.start)
        first = time.perf_counter() - t0
        first_peak = peak_rss_mb()
        was_reset = reset_peak_rss()
        before_warm = proc_status_mb("VmRSS")
        t0 = time.perf_counter()
        df = sweep(case.function, spec, steps=size.steps, start=case.start)
        warm = time.perf_counter() - t0
        warm_peak = peak_rss_mb() if was_reset else None
        warm_added = warm_peak - before_warm if warm_peak and before_warm else None
    except Exception as exc:  # noqa: BLE001  (report any failure as a row, keep going)
        return {"status": f"failed: {type(exc).__name__}: {exc}".splitlines()[0]}
    lr, second = df["lr"].to_numpy(float), df[case.second].to_numpy(float)
    k = int(np.argmin(np.abs(np.log(lr / case.check[0])) + np.abs(second - case.check[1])))
    ref = reference_final(case, lr[k], second[k], size.steps)
    final = df[["final_w1", "final_w2"]].to_numpy(float)[k]
    return {
        "status": "ok",
        "rows": len(df),
        "first": first,
        "warm": warm,
        "check": check_error(final, ref),
        "diverged": float(df["diverged_at"].notna().mean()),
        "engine": str(df.attrs.get("engine", "?")),
        "peak_mb": max(first_peak or 0.0, warm_peak or 0.0) or None,  # the whole process
        "warm_added_mb": warm_added,  # what the warm call added above the RSS it started at
    }


def run_sweep(case: Case, size: Size, quick: bool) -> Entry:
    """Run ``--only sweep`` for this case in a subprocess, so its peak RSS is its own."""
    command = [sys.executable, __file__, "--child", "--only", "sweep", "--cases", case.name]
    command += ["--quick"] if quick else []
    child = subprocess.run(command, capture_output=True, text=True, check=False)
    last_error = " ".join(child.stderr.strip().splitlines()[-1:])
    result = next(
        (json.loads(line[7:]) for line in child.stdout.splitlines() if line.startswith("RESULT ")),
        {"status": f"failed: exit {child.returncode}: {last_error}"},
    )
    if result["status"] != "ok":
        return Entry("sweep", note=f"sweep: {result['status']}")
    extra = {"peak_mb": result.get("peak_mb"), "warm_added_mb": result.get("warm_added_mb")}
    note = (
        f"full grid, metrics included; first call {result['first']:.2f} s; "
        f"engine {result['engine']}; {result['diverged']:.0%} rows diverged"
    )
    extra.update(first=result["first"], warm=result["warm"])
    return Entry(
        "sweep", result["rows"] * size.steps / result["warm"], note, result["check"], extra
    )


def reset_peak_rss() -> bool:
    """Reset VmHWM to the current RSS (Linux >= 4.0), so the next peak is the warm call's own."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def peak_rss_mb() -> float | None:
    """This process's peak resident memory (VmHWM), in MB.

    Read from /proc rather than ru_maxrss: the kernel carries ru_maxrss across exec, so a
    child started from a parent that holds torch and JAX would report the parent's size.
    """
    return proc_status_mb("VmHWM")


def proc_status_mb(key: str) -> float | None:
    """A kB field of /proc/self/status in MB (None where there is no /proc)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return None


# ------------------------------------------------------------------ one case, the report

LABELS = {
    "note": "note's classes, Python loop",
    "torch-loop": "torch.optim, one at a time",
    "torch-batch": "torch, one (N, 2) tensor",
    "jax per-row": "JAX+optax, per-row hp",
    "jax shared": "JAX+optax, shared hp",
    "jax best": "JAX+optax, best of the two",
    "numba": "hand-fused Numba kernel",
    "numpy run": "optiscope NumPy engine",
    "numpy run+metrics": "optiscope NumPy + metrics",
    "fused loop": "sweep's loop, no metrics",
    "fused columns": "sweep's loop + metrics",
    "sweep": "optiscope.sweep (+metrics)",
}
RUNNERS = {
    "note": run_note,
    "torch-loop": run_torch_loop,
    "torch-batch": run_torch_batch,
    "jax": run_jax,
    "numba": run_numba,
    "numpy": run_numpy,
    "parts": run_parts,
}


def run_case(case: Case, size: Size, entries: list[str], quick: bool) -> list[Entry]:
    """Measure every chosen entry on one case, printing each row as it is measured."""
    grid = make_grid(case, size.n)
    k = grid.check
    ref = reference_final(case, grid.lr[k], grid.second[k], size.steps)
    print(
        f"\n== {case.optimizer} on {case.function}: {grid.size:,} settings (lr {case.lr[0]:g}.."
        f"{case.lr[1]:g} log x {case.second} {case.second_range[0]:g}..{case.second_range[1]:g}),"
        f" {size.steps} steps, start {case.start}; check row lr={grid.lr[k]:.4g}, "
        f"{case.second}={grid.second[k]:.4g} =="
    )
    print(header())
    work = grid.size * size.steps
    # the sweep first, alone on the machine, so its ratio is known when the others print
    sweep = run_sweep(case, size, quick) if "sweep" in entries else None
    results = [sweep] if sweep else []
    if sweep:
        print(row(sweep, sweep, work))
    for name in entries:
        if name == "sweep":
            continue
        measured = RUNNERS[name](case, grid, size, ref)
        for entry in measured if isinstance(measured, list) else [measured]:
            print(row(entry, sweep, work), flush=True)
            results.append(entry)
    if sweep and sweep.extra.get("peak_mb") is not None:
        print(f"sweep peak RSS: {rss_text(sweep.extra)}")
    return results


def rss_text(extra: dict) -> str:
    """The sweep process's peak RSS with its verdict, and what the warm call added."""
    peak, added = extra["peak_mb"], extra.get("warm_added_mb")
    text = f"{peak:.0f} MB, target < {RSS_TARGET_MB:.0f} MB: {pass_fail(peak < RSS_TARGET_MB)}"
    return text + (f" (the warm call added {added:.0f} MB)" if added is not None else "")


def header() -> str:
    return (
        f"{'entry':<30} {'traj-steps/s':>12} {'grid s':>8} {'sweep/x':>8} {'target':>12} "
        f"{'check':>12}  how"
    )


def row(entry: Entry, sweep: Entry | None, work: int) -> str:
    """One table line; ``work`` is the grid's trajectory-steps (for the "grid s" column)."""
    label = LABELS.get(entry.name, entry.name)
    if entry.rate is None:
        return f"{label:<30} {'-':>12} {'-':>8} {'-':>8} {'-':>12} {'-':>12}  {entry.note}"
    grid_s = f"{work / entry.rate:8.2f}"
    ratio = sweep_ratio(entry, sweep)
    ratio_text = f"{ratio:7.3g}x" if ratio is not None else f"{'-':>8}"
    return (
        f"{label:<30} {rate_text(entry.rate):>12} {grid_s} {ratio_text} "
        f"{target_text(entry.name, ratio):>12} {check_text(entry.check):>12}  {entry.note}"
    )


def sweep_ratio(entry: Entry, sweep: Entry | None) -> float | None:
    if sweep is None or sweep.rate is None or entry.rate is None or entry is sweep:
        return None
    return sweep.rate / entry.rate


def target_text(name: str, ratio: float | None) -> str:
    target = TARGETS.get(name)
    if target is None:
        return "-"
    if ratio is None:
        return f">={target:g}x n/a"
    return f">={target:g}x {pass_fail(ratio >= target)}"


def pass_fail(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def check_text(error: float | None) -> str:
    if error is None:
        return "-"
    return f"{'ok' if error <= CHECK_TOLERANCE else 'BAD'} {error:.0e}"


def rate_text(rate: float | None) -> str:
    if rate is None:
        return "-"
    for scale, unit in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if rate >= scale:
            return f"{rate / scale:.3g} {unit}"
    return f"{rate:.3g}"


# ------------------------------------------------------------------ summary and Markdown


def summary(results: dict[str, list[Entry]], quick: bool) -> list[str]:
    """One line per case: every target's verdict, the RSS, and any failed check."""
    caveat = " (--quick: a tiny grid, so these verdicts mean nothing)" if quick else ""
    lines = [f"\n== targets (sweep / entry, metrics included){caveat} =="]
    for case, entries in results.items():
        by_name = {e.name: e for e in entries}
        sweep = by_name.get("sweep")
        verdicts = [
            f"{name} {target_text(name, sweep_ratio(by_name[name], sweep))}"
            for name in TARGETS
            if name in by_name and by_name[name].rate is not None
        ]
        if sweep and sweep.extra.get("peak_mb") is not None:
            verdicts.append(f"RSS {rss_text(sweep.extra)}")
        bad = [e.name for e in entries if e.check is not None and e.check > CHECK_TOLERANCE]
        verdicts += [f"CHECK FAILED: {', '.join(bad)}"] if bad else []
        lines.append(f"{case:<20} " + "; ".join(verdicts or ["(no sweep: no ratios)"]))
    return lines


def markdown(results: dict[str, list[Entry]], size: Size) -> list[str]:
    """The result table as Markdown: entries down, cases across, "rate (sweep ratio)" cells."""
    cases = list(results)
    names = [n for n in LABELS if any(e.name == n for es in results.values() for e in es)]
    lines = [
        f"Machine: {machine()}; {versions(('numpy', 'numba', 'jax', 'optax', 'torch'))}.",
        f"Command: `{Path(sys.executable).name} benchmarks/bench_sweep.py {' '.join(sys.argv[1:])}`"
        f" ({size.n} x {size.n} grid, {size.steps} steps). Cells: trajectory-steps per second "
        "(sweep / entry, target).",
        "",
        "| entry | " + " | ".join(cases) + " |",
        "|---|" + "---|" * len(cases),
    ]
    for name in names:
        cells = []
        for case in cases:
            by_name = {e.name: e for e in results[case]}
            entry, sweep = by_name.get(name), by_name.get("sweep")
            cells.append(markdown_cell(entry, sweep))
        lines.append(f"| {LABELS[name]} | " + " | ".join(cells) + " |")
    peaks = []
    for case in cases:
        sweep = next((e for e in results[case] if e.name == "sweep"), None)
        peak = sweep.extra.get("peak_mb") if sweep else None
        added = sweep.extra.get("warm_added_mb") if sweep else None
        warm_text = f"; warm call +{added:.0f} MB" if added is not None else ""
        cell = f"{peak:.0f} MB ({pass_fail(peak < RSS_TARGET_MB)}{warm_text})" if peak else "-"
        peaks.append(cell)
    lines.append("| sweep peak RSS (< 400 MB) | " + " | ".join(peaks) + " |")
    return lines


def markdown_cell(entry: Entry | None, sweep: Entry | None) -> str:
    if entry is None:
        return "-"
    if entry.rate is None:
        return entry.note
    ratio = sweep_ratio(entry, sweep)
    if entry.name == "sweep" or ratio is None:
        return rate_text(entry.rate)
    target = TARGETS.get(entry.name)
    verdict = f", {target_text(entry.name, ratio)}" if target else ""
    return f"{rate_text(entry.rate)} ({ratio:.3g}x{verdict})"


# ------------------------------------------------------------------ command line


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny grid and few steps (CI)")
    parser.add_argument(
        "--cases", default="all", help=f"comma list of {', '.join(CASES)} (default: all)"
    )
    parser.add_argument(
        "--only", default="all", help=f"comma list of entries: {', '.join(ENTRIES)} (default: all)"
    )
    parser.add_argument("--markdown", action="store_true", help="also print a Markdown table")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.cases = choose(args.cases, tuple(CASES), "--cases", parser)
    args.only = choose(args.only, ENTRIES, "--only", parser)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    size = QUICK if args.quick else FULL
    if args.child:  # the sweep alone, for run_sweep in the parent
        for name in args.cases:
            result = {"case": name, "peak_mb": peak_rss_mb(), **sweep_child(CASES[name], size)}
            print("RESULT " + json.dumps(result), flush=True)
        return 0
    print(f"bench_sweep: {machine()}")
    print(f"command: {' '.join([Path(sys.executable).name, *sys.argv])}")
    print(
        "rates are trajectory-steps per second (settings x steps / wall seconds); 'grid s' is the"
        " time that rate takes for the sweep's grid; 'sweep/x' = sweep rate / entry rate;"
        f" 'check' = the check row's final point against optiscope's reference engine (<= {CHECK_TOLERANCE:g})"
    )
    results = {}
    for name in args.cases:
        results[name] = run_case(CASES[name], size, args.only, args.quick)
    print("\n".join(summary(results, args.quick)))
    if args.markdown:
        print("\n" + "\n".join(markdown(results, size)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
