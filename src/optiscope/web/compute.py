"""The computations behind the API: the CLI's records, built by the CLI's own functions.

Each function takes a request (``optiscope.web.models``), the app's ``Limits`` and a
``Deadline``, checks the limits first (nothing runs for a refused request), then returns a
JSON-ready dict:

- :func:`run_record`: ``optiscope compare --json --path``'s record (``experiments.report``
  plus the gradient settings, exactly as the CLI's ``_execute`` builds it), each run with its
  ``losses`` and, on request, its ``state`` and ``effective_step``; ``command`` is the
  equivalent command line;
- :func:`theory_record`: ``optiscope theory --json`` (``theory.theory_report``);
- :func:`explain_record`: ``optiscope explain --json`` (``explain.explain``);
- :func:`contour_record`: the function on a grid with the figures' log-spaced levels.

Typed formulas go through ``get_objective`` (optiscope's whitelisting parser), never eval.
"""

from __future__ import annotations

import math
import shlex
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from optiscope.errors import OptiscopeError
from optiscope.experiments import RunResult, report, run_specs
from optiscope.internals import measured_step
from optiscope.metrics import DEFAULT_TOL
from optiscope.objectives import Objective, get_objective
from optiscope.plots._grid import evaluate_grid
from optiscope.plots.levels import contour_levels
from optiscope.stochastic import parse_batch_size
from optiscope.theory import check_tol, theory_report, with_found_minimum
from optiscope.web.limits import Deadline, Limits
from optiscope.web.models import ContourRequest, ExplainRequest, RunRequest, TheoryRequest


def objective_of(function: str, limits: Limits) -> Objective:
    """The objective of a catalogue spec or a formula, the formula's length checked first."""
    return get_objective(limits.check_function(function))


def start_of(objective: Objective, start: Sequence[float] | None) -> tuple[float, ...]:
    """The start point: the function's own when None; OptiscopeError unless it has the
    function's dimension and finite coordinates."""
    if start is None:
        return tuple(objective.start)
    if len(start) != objective.dim or not all(math.isfinite(v) for v in start):
        raise OptiscopeError(
            f"invalid start {list(start)!r}: expected {objective.dim} finite numbers such as "
            f"{list(objective.start)!r}"
        )
    return tuple(float(v) for v in start)


def _checked_run(
    request: RunRequest | ExplainRequest, limits: Limits, least_specs: int = 1
) -> tuple[Objective, tuple[float, ...]]:
    """Limits and arguments of a run, checked before anything is built or run; the objective
    (with the minimum found from the start, for a formula, as the CLI does) and the start."""
    limits.check_steps(request.steps)
    limits.check_specs(request.specs, least_specs)
    check_tol(request.tol)
    objective = objective_of(request.function, limits)
    point = start_of(objective, request.start)
    return with_found_minimum(objective, point), point


def _results(
    objective: Objective,
    request: RunRequest | ExplainRequest,
    point: tuple[float, ...],
    deadline: Deadline,
    record_state: bool = False,
) -> list[RunResult]:
    """``run_specs`` with the deadline checked after every step."""
    results = run_specs(
        objective,
        request.specs,
        steps=request.steps,
        start=point,
        record_state=record_state,
        noise=request.noise,
        batch_size=str(request.batch_size),
        seed=request.seed,
        progress=deadline.tick,
        engine="numpy" if record_state else compiled.engine_for(objective, request, point),
    )
    deadline.tick()
    return results


class CompiledRuns:
    """Which (function, specs' optimizers) run on the fused engine in this process.

    Compiled, a slider move's 3 x 500 steps take a few ms instead of ~120 on the NumPy loop;
    but a first compile of a (function, optimizer) pair costs seconds (once per machine: the
    code is cached on disk, then loading takes ~0.5 s per process). So a request for a pair
    not yet loaded runs on the NumPy loop at once, and the compile happens in the background
    (one thread) for the requests after it.
    """

    def __init__(self) -> None:
        self.ready: set[tuple[Any, ...]] = set()
        self.pending: set[tuple[Any, ...]] = set()
        self.worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="optiscope-compile")

    @staticmethod
    def key(request: RunRequest | ExplainRequest) -> tuple[Any, ...]:
        """What selects the compiled loops: the function, the specs, and the gradient options
        (a noisy run is another loop: keyed without them, the first noisy request after a
        noiseless one compiled inside the request, seconds)."""
        gradient = (float(request.noise), str(request.batch_size))
        return request.function, tuple(sorted(request.specs)), gradient

    def engine_for(self, objective, request, point) -> str:
        key = self.key(request)
        if key in self.ready:
            return "prefer_fused"
        if key not in self.pending:
            self.pending.add(key)
            self.worker.submit(self._compile, objective, request, point, key)
        return "numpy"

    def _compile(self, objective, request, point, key) -> None:
        try:
            run_specs(
                objective,
                list(request.specs),
                steps=2,
                start=point,
                noise=request.noise,
                batch_size=str(request.batch_size),
                seed=request.seed,
                engine="prefer_fused",
            )
            self.ready.add(key)
        except Exception:  # noqa: BLE001 - a pair that cannot compile stays on the NumPy loop
            pass
        finally:
            self.pending.discard(key)


compiled = CompiledRuns()


def gradient_settings(noise: float, batch_size: str | int, seed: int) -> dict[str, Any]:
    """``{"noise", "batch_size" ("full" or an int), "seed"}`` as ``compare --json`` writes them."""
    size = parse_batch_size(batch_size)
    return {"noise": float(noise), "batch_size": "full" if size is None else size, "seed": seed}


def run_record(request: RunRequest, limits: Limits, deadline: Deadline) -> dict[str, Any]:
    """``optiscope compare --json --path``'s record for the request, plus per run ``losses``
    ([steps + 1]) and, with ``state``, ``state`` and ``effective_step``; and ``command``."""
    objective, point = _checked_run(request, limits)
    results = _results(objective, request, point, deadline, record_state=request.state)
    data = report(objective, results, request.steps, point, request.tol, with_path=True)
    data.update(gradient_settings(request.noise, request.batch_size, request.seed))
    for record, result in zip(data["runs"], results, strict=True):
        record["losses"] = result.trajectories.losses[:, result.row].tolist()
        if request.state:
            record["state"] = state_of(result)
            record["effective_step"] = effective_step(result)
    data["command"] = compare_command(request, point)
    deadline.tick()
    return data


def state_of(result: RunResult) -> dict[str, list[list[float]]]:
    """``{field: [S + 1][D]}``: the optimizer's recorded state after each step (index 0: as
    initialised), the fields its ``plot_state`` names."""
    states = result.trajectories.states or {}
    return {name: values[:, result.row].tolist() for name, values in states.items()}


def effective_step(result: RunResult) -> list[list[float | None]]:
    """``[S][D]``: per step and coordinate, the step taken divided by the gradient,
    ``|x_{k+1} - x_k| / |g(x_k)|`` with the exact gradient at the step's start; None where
    that gradient is 0 or not finite (for plain gradient descent every value is the lr).
    The rule is ``optiscope.internals.measured_step``'s (the internals figure draws it too)."""
    traj = result.trajectories
    ratio = measured_step(traj.objective, traj.positions[:, result.row])
    return [[None if np.isnan(v) else float(v) for v in row] for row in ratio]


def compare_command(request: RunRequest, point: Sequence[float]) -> str:
    """The ``optiscope compare`` command line that gives the same record, shell-quoted."""
    words = ["optiscope", "compare", request.function, *request.specs]
    words += ["--steps", str(request.steps), "--start=" + ",".join(repr(float(v)) for v in point)]
    if request.noise:
        words += ["--noise", repr(float(request.noise))]
    if str(request.batch_size).strip().lower() != "full":
        words += ["--batch-size", str(request.batch_size)]
    if request.seed:
        words += ["--seed", str(request.seed)]
    if request.tol != DEFAULT_TOL:
        words += ["--tol", repr(float(request.tol))]
    return " ".join(shlex.quote(w) for w in words) + " --json --path"


def explain_record(request: ExplainRequest, limits: Limits, deadline: Deadline) -> dict[str, Any]:
    """``optiscope explain --json``'s record for the request."""
    from optiscope.explain import explain

    objective, point = _checked_run(request, limits)
    results = _results(objective, request, point, deadline)
    data = explain(
        objective,
        request.specs,
        steps=request.steps,
        start=point,
        tol=request.tol,
        results=results,
        noise=request.noise,
        batch_size=str(request.batch_size),
        seed=request.seed,
    )
    deadline.tick()
    return data


def theory_record(request: TheoryRequest, limits: Limits, deadline: Deadline) -> dict[str, Any]:
    """``optiscope theory --json``'s record: the quadratic model at the minimizer, the optimal
    settings per method, and each spec's predicted rate and stability (0 to 6 specs)."""
    limits.check_specs(request.specs, least=0)
    check_tol(request.tol)
    objective = objective_of(request.function, limits)
    point = start_of(objective, request.start)
    data = theory_report(objective, list(request.specs), start=point, tol=request.tol)
    deadline.tick()
    return data


def contour_record(request: ContourRequest, limits: Limits, deadline: Deadline) -> dict[str, Any]:
    """The function on an ``n x n`` grid (``z[i][j]`` = f(x[j], y[i]), None where not finite)
    over ``bounds`` (default: its plot box), with the figures' log-spaced contour levels."""
    n = limits.check_grid(request.n)
    objective = objective_of(request.function, limits)
    if objective.dim != 2:
        raise OptiscopeError(
            f"{objective.name} has {objective.dim} parameters: a contour needs 2 (choose "
            "2 features)"
        )
    lo, hi = bounds_of(objective, request.bounds)
    X, Y, Z = evaluate_grid(objective, lo, hi, n)
    levels = contour_levels(Z, objective.f_min)
    deadline.tick()
    return {
        "function": objective.name,
        "formula": objective.formula,
        "bounds": [[float(lo[0]), float(hi[0])], [float(lo[1]), float(hi[1])]],
        "x": X[0].tolist(),
        "y": Y[:, 0].tolist(),
        "z": [[v if math.isfinite(v) else None for v in row] for row in Z.tolist()],
        "levels": [] if levels is None else levels.values.tolist(),
        "levels_description": "" if levels is None else levels.description,
        "minimizers": objective.minimizers.tolist(),
        "f_min": objective.f_min,
    }


def bounds_of(
    objective: Objective, bounds: Sequence[Sequence[float]] | None
) -> tuple[np.ndarray, np.ndarray]:
    """``(low [2], high [2])`` of the window: the function's plot box, or ``bounds`` checked
    (two finite pairs, low < high, a finite width)."""
    if bounds is None:
        bounds = objective.bounds
    pairs = len(bounds) == 2 and all(len(b) == 2 for b in bounds)
    box = np.array([list(b) for b in bounds], dtype=np.float64) if pairs else np.zeros((2, 2))
    with np.errstate(over="ignore"):  # a width that overflows is refused below
        width = box[:, 1] - box[:, 0]
    if not pairs or not np.isfinite(box).all() or not (np.isfinite(width) & (width > 0)).all():
        raise OptiscopeError(
            f"invalid bounds {[list(b) for b in bounds]!r}: expected [[w1_low, w1_high], "
            "[w2_low, w2_high]] with finite numbers, each low < high"
        )
    return box[:, 0], box[:, 1]
