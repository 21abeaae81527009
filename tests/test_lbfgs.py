"""L-BFGS: torch.optim.LBFGS step by step, scipy's L-BFGS-B minima, evaluation counts,
convergence reporting, batched == looped, validation and the command line.

Many of the step-by-step cases are chaotic past some step: torch nudged by one ulp per step
ends elsewhere (Beale from (-1, 1.5) walks its flat valley to w1 = -1000; line-search bracket
choices flip). Measured over the 191 paths below (``python tests/measure_sensitivity.py
lbfgs``): on 49, torch's nudged spread times 10 exceeds POSITION_TOL somewhere, from step 3 (the
stalled line search on 1e8*(w1-0.3)**2 + ...) and otherwise from step 16 on; 24 lose their path
(spread above 0.1% of |w|), the largest spread reaching 2.5e3 x (1 + |w|). The comparison
therefore follows tests/sensitivity.py: exact (POSITION_TOL) while torch reproduces itself,
within 10x torch's own spread after, not at all where the nudged runs have lost the path;
evaluation counts, stops and escapes are compared over the well-conditioned stretch. Ours and
torch agree bit for bit on this CPU (the FMA emulation) except on one path (Beale's valley
walk, from step 84), so the spread is measured only where they part.
"""

from __future__ import annotations

import inspect
import json

import numpy as np
import pytest
import scipy.optimize
import torch

import optiscope as osc
from optiscope.cli import main
from optiscope.engine import escape_radius
from optiscope.errors import OptiscopeError
from optiscope.optimizers import get_optimizer
from sensitivity import Nudge, compare_with_reference

FUNCTIONS = ["aniso", "rosenbrock", "beale", "quadratic:kappa=20,angle=30"]
OTHER_STARTS = [(0.5, -0.7), (-1.0, 1.5)]
STEPS = 150
POSITION_TOL = 1e-8  # |ours - torch| <= 1e-8 * (1 + |torch|): absolute near 0, relative beyond
# Steps a comparison must cover before torch's nudged runs lose its path (measured: at least
# 27 on every case below, also with ATEN_CPU_CAPABILITY=default).
MIN_STEPS = 20


def _starts(objective) -> np.ndarray:
    return np.array([objective.start, *OTHER_STARTS], dtype=np.float64)  # [B, D]


def torch_lbfgs(
    objective, start, steps: int, setting: dict, nudge: Nudge | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """torch.optim.LBFGS(max_iter=1, max_eval=25) on the same objective: positions [S+1, D]
    and torch's cumulative ``state['func_evals']`` [S+1] after every ``.step()`` call.
    ``nudge(k, w)`` (tests/sensitivity.py) moves the parameter before step k."""
    p = torch.tensor(np.array(start, dtype=np.float64), requires_grad=True)
    line_search = setting["line_search"]
    opt = torch.optim.LBFGS(
        [p],
        lr=setting["lr"],
        max_iter=1,
        max_eval=25,
        tolerance_grad=setting["tolerance_grad"],
        tolerance_change=setting["tolerance_change"],
        history_size=setting["history_size"],
        line_search_fn=None if line_search == "none" else line_search,
    )

    def closure():
        x = p.detach().numpy()[None].copy()
        with np.errstate(all="ignore"):  # torch's path goes on past where ours diverged
            p.grad = torch.tensor(objective.grad(x)[0])
            return torch.tensor(float(objective.value(x)[0]), dtype=torch.float64)

    positions, evals = [p.detach().numpy().copy()], [0]
    for k in range(steps):
        if nudge is not None:
            with torch.no_grad():
                p.copy_(torch.from_numpy(nudge(k, p.detach().numpy().copy())))
        opt.step(closure)
        positions.append(p.detach().numpy().copy())
        evals.append(opt.state[p]["func_evals"])
    return np.array(positions), np.array(evals)


def _check_against_torch(function: str, spec: str, starts=None, steps: int = STEPS) -> None:
    """Assert ours == torch for every start under the rule of tests/sensitivity.py: within
    POSITION_TOL where torch nudged by one ulp per step reproduces its own path, within that
    spread (times a modest factor) where it does not, nothing where the nudged runs have lost
    the path. Evaluation counts, stops and escapes are discrete choices: they must
    match torch's over the well-conditioned stretch."""
    objective = osc.get_objective(function)
    optimizer, setting = get_optimizer(spec)
    starts = _starts(objective) if starts is None else np.asarray(starts, dtype=np.float64)
    traj = osc.run(objective, optimizer, setting, steps=steps, start=starts)
    radius = escape_radius(objective, starts)

    for b, start in enumerate(starts):
        positions, evals = torch_lbfgs(objective, start, steps, setting)
        j = int(traj.diverged_at[b])  # ours froze at step j-1: compare steps 0 .. j-1
        n = len(positions) if j < 0 else j
        k = int(traj.converged_at[b])
        last = len(evals) - 1 if k < 0 else k  # torch's func_evals counts on after a stop
        counted = min(last + 1, n)
        same_evals = np.array_equal(traj.evaluations[:counted, b], evals[:counted])
        result = compare_with_reference(
            traj.positions[:n, b],
            positions[:n],
            POSITION_TOL * (1 + np.abs(positions[:n])),
            lambda nudge, start=start: torch_lbfgs(objective, start, steps, setting, nudge)[0],
            label=f"{spec} on {function} from {start}",
            min_steps=MIN_STEPS,
            measure=not same_evals,
        )
        exact = result.exact_steps  # torch's own discrete choices are reproducible up to here
        if j >= 0 and exact == n:  # ours escaped at step j: torch's step j escaped too
            with np.errstate(all="ignore"):
                loss = objective.value(positions[j][None])[0]
            assert not (np.abs(positions[j]).max() <= radius and np.isfinite(loss))
        # Evaluations: torch's func_evals increments, until the row stopped; then 0.
        upto = min(counted, exact)
        np.testing.assert_array_equal(traj.evaluations[:upto, b], evals[:upto])
        if k >= 0:
            assert (traj.evaluations[k:, b] == traj.evaluations[k, b]).all()
            if k < exact:
                assert (positions[k - 1 :] == positions[k - 1]).all(), "torch stops there too"


CASES = [
    "line_search=none,lr=1",
    "line_search=none,lr=0.5",
    "line_search=none,lr=0.1",
    "line_search=strong_wolfe,lr=1",
    "line_search=strong_wolfe,lr=0.3",
]


@pytest.mark.parametrize("history_size", [3, 10, 100])
@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("function", FUNCTIONS)
def test_equals_torch_step_by_step(function: str, case: str, history_size: int) -> None:
    _check_against_torch(function, f"lbfgs:{case},history_size={history_size}")


def test_a_chaotic_case_is_judged_by_its_measured_sensitivity() -> None:
    """Beale from (-1, 1.5) with the strong-Wolfe search walks off along the flat valley to
    w1 = -1000, where torch nudged by one ulp per step loses its own path. The spread is
    measured here on every machine (not only where ours and torch part): the comparison is
    exact over the well-conditioned start, bounded by torch's own spread after, and stops where
    the nudged runs lose the path (measured: exact for 22 steps, lost at step 71)."""
    objective = osc.get_objective("beale")
    optimizer, setting = get_optimizer("lbfgs:line_search=strong_wolfe,lr=1,history_size=10")
    start = np.array([-1.0, 1.5])
    ours = osc.run(objective, optimizer, setting, steps=STEPS, start=start).positions[:, 0]

    def reference(nudge: Nudge | None) -> np.ndarray:
        return torch_lbfgs(objective, start, STEPS, setting, nudge)[0]

    ref = reference(None)
    tight = POSITION_TOL * (1 + np.abs(ref))
    result = compare_with_reference(
        ours, ref, tight, reference, label="beale valley", min_steps=MIN_STEPS, measure=True
    )
    assert result.measured and result.lost_at is not None
    assert MIN_STEPS <= result.exact_steps <= result.lost_at < STEPS
    assert np.abs(ref[-1, 0]) > 500  # the walk-off that makes it chaotic


@pytest.mark.parametrize(
    ("function", "spec", "start"),
    [
        # non-default tolerances: rows stop early through both tests of torch's .step()
        ("rosenbrock", "lbfgs:tolerance_grad=1e-4,tolerance_change=1e-6", None),
        ("beale", "lbfgs:line_search=strong_wolfe,tolerance_grad=1e-3,history_size=1", None),
        ("aniso", "lbfgs:tolerance_grad=0,tolerance_change=0", None),
        # the line search stalls (t = 0): w no longer changes although g != 0
        (
            "1e8*(w1-0.3)**2 + (w2-0.7)**2 + w1*w2",
            "lbfgs:line_search=strong_wolfe,tolerance_grad=0,tolerance_change=0",
            [(1.0, 1.0)],
        ),
        # started at the minimizer: max|g| = 0 <= tolerance_grad at once
        ("rosenbrock", "lbfgs:line_search=strong_wolfe", [(1.0, 1.0)]),
    ],
)
def test_equals_torch_through_convergence(function: str, spec: str, start) -> None:
    _check_against_torch(function, spec, starts=start, steps=100)


def test_names_and_defaults_are_torchs() -> None:
    _, setting = get_optimizer("lbfgs")
    signature = inspect.signature(torch.optim.LBFGS)
    torch_defaults = {k: p.default for k, p in signature.parameters.items()}
    for key in ("lr", "history_size", "tolerance_grad", "tolerance_change"):
        assert setting[key] == torch_defaults[key], key
    assert torch_defaults["line_search_fn"] is None and setting["line_search"] == "none"
    assert type(setting["history_size"]) is int


# -- scipy ------------------------------------------------------------------------------------


def test_final_point_agrees_with_scipy_lbfgsb() -> None:
    """Where both converge (tight tolerances on both sides), the minimizers agree to 1e-6."""
    compared = 0
    for function in [*FUNCTIONS, "quadratic:kappa=100,angle=60"]:
        objective = osc.get_objective(function)
        starts = _starts(objective)
        for line_search in ("strong_wolfe", "none"):
            optimizer, setting = get_optimizer(
                f"lbfgs:line_search={line_search},history_size=10,"
                "tolerance_grad=1e-10,tolerance_change=0"
            )
            traj = osc.run(objective, optimizer, setting, steps=300, start=starts)
            for b, start in enumerate(starts):

                def fun(w, objective=objective):
                    return objective.value(w[None])[0], objective.grad(w[None])[0]

                ref = scipy.optimize.minimize(
                    fun,
                    start,
                    jac=True,
                    method="L-BFGS-B",
                    options={"gtol": 1e-10, "ftol": 1e-15, "maxiter": 1000},
                )
                if not (ref.success and traj.converged_at[b] >= 0):
                    continue
                np.testing.assert_allclose(traj.positions[-1, b], ref.x, rtol=0, atol=1e-6)
                compared += 1
    assert compared >= 25  # beale from (-1, 1.5) wanders off to its flat plateau in both


# -- convergence, divergence, evaluations ---------------------------------------------------


def _run(function: str, spec: str, steps: int = 100, start=None):
    optimizer, setting = get_optimizer(spec)
    return osc.run(osc.get_objective(function), optimizer, setting, steps=steps, start=start)


def test_converged_rows_stop_moving_and_are_not_diverged() -> None:
    traj = _run("rosenbrock", "lbfgs", steps=200)
    k = int(traj.converged_at[0])
    assert 0 < k < 200 and traj.diverged_at[0] == -1
    x = traj.positions[:, 0]
    assert not np.array_equal(x[k - 2], x[k - 1])  # it moved until then ...
    assert (x[k - 1 :] == x[k - 1]).all()  # ... and not from step k on
    assert (traj.evaluations[k:, 0] == traj.evaluations[k, 0]).all()
    # without a line search, one evaluation (the gradient at the current point) per step
    np.testing.assert_array_equal(traj.evaluations[: k + 1, 0], np.arange(k + 1))
    assert traj.losses[-1, 0] < 1e-10


def test_each_stopping_test_is_reported_as_convergence() -> None:
    # 1. max|g| <= tolerance_grad: at the minimizer, the first step stops.
    traj = _run("rosenbrock", "lbfgs", steps=5, start=(1.0, 1.0))
    assert traj.converged_at[0] == 1 and traj.evaluations[:, 0].tolist() == [0, 1, 1, 1, 1, 1]
    # 2. g.d > -tolerance_change with max|g| still above tolerance_grad.
    objective = osc.get_objective("aniso")
    traj = _run("aniso", "lbfgs", steps=30, start=(1.0, 1.0))
    k = int(traj.converged_at[0])
    g = objective.grad(traj.positions[k - 1, :])[0]
    assert k > 0 and np.abs(g).max() > 1e-7
    assert (traj.positions[k - 1 :, 0] == traj.positions[k - 1, 0]).all()
    # 3. a stalled line search (w unchanged, g != 0) with both tolerances 0.
    function = "1e8*(w1-0.3)**2 + (w2-0.7)**2 + w1*w2"
    spec = "lbfgs:line_search=strong_wolfe,tolerance_grad=0,tolerance_change=0"
    traj = _run(function, spec, steps=40, start=(1.0, 1.0))
    k = int(traj.converged_at[0])
    g = osc.get_objective(function).grad(traj.positions[k - 1, :])[0]
    assert k > 0 and np.abs(g).max() > 0 and traj.diverged_at[0] == -1
    assert (traj.positions[k - 1 :, 0] == traj.positions[k - 1, 0]).all()


@pytest.mark.parametrize("line_search", ["none", "strong_wolfe"])
def test_divergence_is_divergence_not_convergence(line_search: str) -> None:
    # Concave: y.s < 0 is never stored, so each step moves outward; the row escapes.
    # A converging row in the same batch (history [B, H, D] with B != H) is unaffected.
    objective = osc.get_objective("-(w1**2 + w2**2) + 0*w1")
    optimizer, setting = get_optimizer(f"lbfgs:line_search={line_search},history_size=3")
    traj = osc.run(objective, optimizer, setting, steps=60, start=[(0.3, 0.2), (0.0, 0.0)])
    assert traj.diverged_at[0] > 0 and traj.converged_at[0] == -1
    assert traj.converged_at[1] == 1 and traj.diverged_at[1] == -1  # g = 0 at the start
    assert np.isfinite(traj.positions).all()


def test_strong_wolfe_counts_its_trials() -> None:
    traj = _run("rosenbrock", "lbfgs:line_search=strong_wolfe", steps=100)
    used = np.diff(traj.evaluations[:, 0])
    k = int(traj.converged_at[0])
    assert (used[: k - 1] >= 2).all() and (used[: k - 1] <= 26).all()  # 1 + (1 .. 25) trials
    assert used[k - 1] == 1 and (used[k:] == 0).all()  # the step that stops, then nothing


# -- batched == looped ------------------------------------------------------------------------


@pytest.mark.parametrize("function", ["rosenbrock", "beale"])
def test_batched_equals_looped_bit_for_bit(function: str) -> None:
    specs = [
        "lbfgs",
        "lbfgs:history_size=1",
        "lbfgs:history_size=3,lr=0.5",
        "lbfgs:line_search=strong_wolfe",
        "lbfgs:line_search=strong_wolfe,history_size=2,lr=0.7",
        "lbfgs:line_search=strong_wolfe,tolerance_grad=1e-3,tolerance_change=1e-5",
    ]
    objective = osc.get_objective(function)
    optimizer = get_optimizer("lbfgs")[0]
    settings = [get_optimizer(s)[1] for s in specs]
    starts = np.array(objective.start) + 0.1 * np.arange(len(specs))[:, None] * [1.0, -0.5]
    together = osc.run(objective, optimizer, settings, steps=120, start=starts, record_state=True)
    assert len({together.positions[-1, b].tobytes() for b in range(len(specs))}) == len(specs)
    for b, setting in enumerate(settings):
        alone = osc.run(
            objective, optimizer, setting, steps=120, start=starts[b], record_state=True
        )
        for name in ("positions", "losses", "evaluations"):
            np.testing.assert_array_equal(
                getattr(together, name)[:, b], getattr(alone, name)[:, 0], err_msg=specs[b]
            )
        assert together.converged_at[b] == alone.converged_at[0], specs[b]
        for field, values in together.states.items():
            np.testing.assert_array_equal(values[:, b], alone.states[field][:, 0], err_msg=field)


def test_step_does_not_mutate_its_inputs() -> None:
    objective = osc.get_objective("rosenbrock")
    optimizer, setting = get_optimizer("lbfgs:line_search=strong_wolfe,history_size=2")
    hp = optimizer.stack([setting, setting])
    x = np.array([[-1.2, 1.0], [0.5, 0.5]])
    state = optimizer.init(x, hp)

    def evaluate(points):
        return objective.value(points), objective.grad(points)

    for _ in range(4):  # past a full history, so the ring buffer shifts
        x, state, _ = optimizer.step(evaluate, state, x, *evaluate(x), hp)
    frozen = [np.array(v) for v in state]
    for v in state:
        v.setflags(write=False)
    x.setflags(write=False)
    new_x, new_state, used = optimizer.step(evaluate, state, x, *evaluate(x), hp)
    assert not np.array_equal(new_x, x) and used.shape == (2,)
    for old, saved in zip(state, frozen, strict=True):
        np.testing.assert_array_equal(old, saved)


# -- validation and the command line --------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "fragments"),
    [
        ("lbfgs:history_size=0", ["invalid history_size: 0", "1 <= history_size"]),
        ("lbfgs:history_size=2.5", ["invalid history_size: 2.5"]),
        ("lbfgs:history_size=100000", ["invalid history_size", "history_size <= 1000"]),
        ("lbfgs:history_size=1001", ["invalid history_size: 1001", "history_size <= 1000)"]),
        ("lbfgs:lr=0", ["invalid lr: 0", "0 < lr"]),
        ("lbfgs:line_search=foo", ["invalid line_search: 'foo'", "none", "strong_wolfe"]),
        ("lbfgs:tolerance_grad=-1", ["invalid tolerance_grad: -1", "0 <= tolerance_grad"]),
        ("lbfgs:tolerance_change=-1e-9", ["invalid tolerance_change"]),
        ("lbfgs:max_iter=5", ["unknown hyperparameter 'max_iter'", "history_size"]),
    ],
)
def test_bad_settings_give_one_line(spec: str, fragments: list[str], capsys) -> None:
    with pytest.raises(OptiscopeError) as info:
        get_optimizer(spec)
    message = str(info.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message, (spec, message)
    assert main(["run", "rosenbrock", spec]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("optiscope: error: ") and fragments[0] in err


def test_cli_compare_shows_evaluations_and_stops(tmp_path, capsys) -> None:
    argv = ["compare", "rosenbrock", "lbfgs", "lbfgs:line_search=strong_wolfe", "adam:lr=0.02"]
    code = main([*argv, "--steps", "100", "--json", "--out", str(tmp_path)])
    out, err = capsys.readouterr()
    assert code == 0, err
    plain, wolfe, adam = json.loads(out)["runs"]
    assert plain["params"]["line_search"] == "none"
    assert wolfe["params"]["line_search"] == "strong_wolfe"
    for run in (plain, wolfe):
        assert run["diverged_at"] is None and 0 < run["stopped_at"] < 100
        assert run["stop_reason"] == "tolerance_change" and run["steps_run"] == run["stopped_at"]
        assert run["loss_final"] < 1e-8
        assert run["evaluations"] == run["metrics"]["evaluations"]
    assert plain["evaluations"] == plain["stopped_at"]  # one per step until it stopped
    assert wolfe["evaluations"] > wolfe["stopped_at"] + 10  # line-search trials count too
    assert wolfe["evaluations_to_tol"] >= wolfe["metrics"]["steps_to_tol"]
    assert adam["stopped_at"] is None and adam["evaluations"] == 100
    assert (tmp_path / "compare.png").stat().st_size > 0
    table = (tmp_path / "table.md").read_text()
    assert "| evals |" in table and f"stopped at step {wolfe['stopped_at']}" in table

    assert main([*argv, "--steps", "100", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "evals" in out and "stopped at" in out


def test_cli_describes_lbfgs(capsys) -> None:
    assert main(["optimizers", "lbfgs"]) == 0
    out = capsys.readouterr().out
    for fragment in ("strong_wolfe", "history_size", "tolerance_change", "max_eval=25"):
        assert fragment in out


def test_history_size_cap_is_1000() -> None:
    # The two-loop recursion loops over the history slots: the cap keeps a step affordable.
    optimizer, setting = get_optimizer("lbfgs:history_size=1000")
    assert setting["history_size"] == 1000
    with pytest.raises(OptiscopeError, match="invalid history_size: 1001"):
        get_optimizer("lbfgs:history_size=1001")
