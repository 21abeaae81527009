"""Measure the reference's own sensitivity on every step-by-step conformance case.

Run ``python tests/measure_sensitivity.py [lbfgs] [torch] [ftrl]`` (about 4 min for L-BFGS on
two cores). For every path it reruns the reference nudged by one ulp before every step
(tests/sensitivity.py) and prints, for the paths where that matters at the test's tolerance: the
largest spread relative to 1 + |x|, the first step where FACTOR x spread exceeds the tight
tolerance (the end of the exact stretch), the step where the nudged runs lose the path (spread
> LOST |x|), the first step where ours leaves the reference by more than the tight tolerance,
and the largest |ours - ref| / spread over the sensitive steps compared (what FACTOR must
cover). Not a test: a measurement to rerun when cases or tolerances change, and on a new CPU.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

from sensitivity import (  # noqa: E402
    FACTOR,
    LOST,
    _differences,
    _first,
    check_against_spread,
    self_spread,
)


def lbfgs_cases():
    import optiscope as osc
    import test_lbfgs as t
    from optiscope.optimizers import get_optimizer

    cases = [
        (f, f"lbfgs:{c},history_size={h}", None, t.STEPS)
        for f in t.FUNCTIONS
        for c in t.CASES
        for h in (3, 10, 100)
    ]
    for params in t.test_equals_torch_through_convergence.pytestmark[0].args[1]:
        cases.append((*params, 100))
    for function, spec, starts, steps in cases:
        objective = osc.get_objective(function)
        optimizer, setting = get_optimizer(spec)
        starts = t._starts(objective) if starts is None else np.array(starts, dtype=np.float64)
        traj = osc.run(objective, optimizer, setting, steps=steps, start=starts)
        for b, start in enumerate(starts):
            j = int(traj.diverged_at[b])
            n = steps + 1 if j < 0 else j

            def reference(nudge, objective=objective, start=start, steps=steps, setting=setting):
                return t.torch_lbfgs(objective, start, steps, setting, nudge)[0]

            ref = reference(None)[:n]
            tight = t.POSITION_TOL * (1 + np.abs(ref))
            yield function, spec, start, traj.positions[:n, b], ref, reference, tight, t.MIN_STEPS


def torch_cases():
    import test_optimizers_torch as t

    for function in t.FUNCTIONS:
        for config in t.CONFIGS:
            spec = t._spec(config, function)
            starts = np.array(t.STARTS[function], dtype=np.float64)
            ours = t.run_optiscope(spec, function, starts)
            for b, start in enumerate(starts):

                def reference(nudge, spec=spec, function=function, start=start):
                    return t.run_torch(spec, function, start, nudge)

                ref = reference(None)
                tight = t.ATOL + t.RTOL * np.abs(ref)
                yield function, spec, start, ours[:, b], ref, reference, tight, t.MIN_STEPS


def ftrl_cases():
    import test_ftrl as t

    for function, starts in t.FUNCTIONS.items():
        grad = t.catalogue_grad(function)
        for case in t.KERAS_CASES:
            lr = t.LR_BY_POWER.get(case.get("lr_power"), t.LR)[function]
            ours, _ = t.run_ours(t._spec(lr, case), grad, np.array(starts))
            p = {**t.KERAS_DEFAULTS, **case}
            for b, start in enumerate(np.array(starts)):

                def reference(nudge, grad=grad, lr=lr, p=p, start=start):
                    nudged = grad if nudge is None else _nudged_keras(grad, nudge)
                    return t.keras_ftrl(
                        nudged, start, t.STEPS, [lr] * t.STEPS, p["lr_power"],
                        p["initial_accumulator_value"], p["l1"], p["l2"], p["l2_shrinkage"],
                        p["beta"],
                    )  # fmt: skip

                ref = reference(None)
                tight = t.TOL * np.maximum(1.0, np.abs(ref))
                yield function, t._spec(lr, case), start, ours[:, b], ref, reference, tight, 100


def _nudged_keras(grad, nudge):
    """The Keras transcription keeps w inside its loop: nudge the point its gradient sees
    (one ulp per coordinate, every step), the closest it offers to nudging w."""
    calls = iter(range(10**9))

    def g(w):
        return grad(list(nudge(next(calls), np.array(w, dtype=np.float64))))

    return g


def measure(name: str, cases) -> None:
    t0 = time.time()
    total = sensitive = lost = failed = 0
    worst_spread = worst_ratio = 0.0
    for function, spec, start, ours, ref, reference, tight, min_steps in cases:
        total += 1
        spread = self_spread(reference, ref)
        size = spread.max(axis=1)
        relative = float(np.nanmax(size / (1 + np.abs(ref).max(axis=1))))
        worst_spread = max(worst_spread, relative)
        exact = _first(FACTOR * size[:, None] > tight)
        gone = _first(~(size[:, None] <= LOST * np.abs(ref).max(axis=1, keepdims=True)))
        diff = _differences(ours, ref)
        off = _first(~(diff <= tight))
        end = len(ref) if gone is None else gone
        with np.errstate(all="ignore"):
            ratios = np.where(diff[:end] > tight[:end], diff[:end] / size[:end, None], 0.0)
        ratio = float(np.nanmax(ratios)) if end else 0.0
        worst_ratio = max(worst_ratio, ratio)
        try:
            check_against_spread(ours, ref, tight, spread, label="", min_steps=min_steps)
            verdict = "passes"
        except AssertionError as err:
            failed += 1
            verdict = f"FAILS{err}"
        sensitive += exact is not None
        lost += gone is not None
        if exact is not None or off is not None:
            print(
                f"{name:6s} {function:28.28s} {spec:62.62s} from {np.round(start, 3)!s:16s} "
                f"spread/(1+|x|) {relative:.1e}  exact to {exact}  lost at {gone}  "
                f"ours off at {off}  ratio {ratio:.2g}  {verdict}"
            )
    print(
        f"{name}: {total} paths, {sensitive} with FACTOR x spread above the tolerance somewhere, "
        f"{lost} lost, {failed} failing the rule; largest spread/(1+|x|) {worst_spread:.1e}, "
        f"largest |ours - ref| / spread {worst_ratio:.2g}; {time.time() - t0:.0f} s"
    )


if __name__ == "__main__":
    chosen = sys.argv[1:] or ["lbfgs", "torch", "ftrl"]
    sources = {"lbfgs": lbfgs_cases, "torch": torch_cases, "ftrl": ftrl_cases}
    for key in chosen:
        measure(key, sources[key]())
