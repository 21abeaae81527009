"""FTRL-Proximal against two independent transcriptions written here as scalar loops:
the Keras update formula (keras/src/optimizers/ftrl.py ``update_step``) and McMahan et al.
2013, Algorithm 1, under the mapping of docs/reference.md (lr = alpha, Keras l2 =
paper l2 / 2, lr_power = -0.5, initial_accumulator_value = 0, w0 = 0).

Measured worst differences over 200 steps, every case below, relative to max(1, |w|):
Keras transcription 1.4e-15 (the same operations; libm pow vs sqrt for the 0.5 power),
paper transcription 1.1e-13 (sqrt(n) and (beta + sqrt(n))/alpha + l2 grouped differently,
amplified along the path). The tolerance asserted is 1e-12.

These paths are well-conditioned, so the tight tolerance holds all the way (no need for the
measured-sensitivity rule of tests/sensitivity.py): the Keras transcription with the point its
gradient sees nudged by one ulp per step moves at most 1.5e-15 of 1 + |w| over every Keras
case (``python tests/measure_sensitivity.py ftrl``); on the paper's cases, the same dynamics
(Keras form under the mapping) started 2.2e-16 off w = 0 moves at most 3.1e-13 of
max(1, |w|) (the Rosenbrock ones; the rest at most 8.9e-16).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from optiscope.cli import main
from optiscope.engine import run
from optiscope.errors import OptiscopeError
from optiscope.objectives import get_objective
from optiscope.optimizers import OPTIMIZERS, get_optimizer
from optiscope.schedules import learning_rates

STEPS = 200
TOL = 1e-12

# -- the two references, one coordinate at a time, Python floats ------------------------------


def keras_ftrl(grad, w0, steps, lrs, lr_power, iav, l1, l2, l2_shrinkage, beta):
    """Keras ``Ftrl.update_step`` per coordinate; ``lrs[t]`` is the lr of step t + 1."""
    w = [float(v) for v in w0]
    n = [float(iav)] * len(w)
    z = [0.0] * len(w)
    path = [list(w)]
    for t in range(steps):
        lr = lrs[t]
        g = grad(w)
        for i in range(len(w)):
            grad_to_use = g[i] + 2 * l2_shrinkage * w[i]
            new_n = n[i] + g[i] ** 2
            sigma = (new_n ** (-lr_power) - n[i] ** (-lr_power)) / lr
            z[i] = z[i] + (grad_to_use - sigma * w[i])
            l2_reg = l2 + beta / (2.0 * lr)
            quadratic = new_n ** (-lr_power) / lr + 2 * l2_reg
            clipped = min(max(z[i], -l1), l1)
            w[i] = (clipped - z[i]) / quadratic
            n[i] = new_n
        path.append(list(w))
    return np.array(path)


def paper_ftrl(grad, dim, steps, alpha, beta, lambda1, lambda2):
    """McMahan et al. 2013, Algorithm 1 (per-coordinate FTRL-Proximal, z = n = 0).

    Returns the points w_1 .. w_{steps+1} at which the gradients are observed (and the last).
    Also returns the z values behind each point.
    """
    z = [0.0] * dim
    n = [0.0] * dim
    path, zs = [], []
    for t in range(steps + 1):
        w = []
        for i in range(dim):
            if abs(z[i]) <= lambda1:
                w.append(0.0)
            else:
                sgn = 1.0 if z[i] > 0 else -1.0
                w.append(-(z[i] - sgn * lambda1) / ((beta + math.sqrt(n[i])) / alpha + lambda2))
        path.append(w)
        zs.append(list(z))
        if t == steps:
            break
        g = grad(w)
        for i in range(dim):
            sigma = (math.sqrt(n[i] + g[i] ** 2) - math.sqrt(n[i])) / alpha
            z[i] = z[i] + g[i] - sigma * w[i]
            n[i] = n[i] + g[i] ** 2
    return np.array(path), np.array(zs)


# -- gradients the references and optiscope both see ------------------------------------------


def catalogue_grad(name: str):
    objective = get_objective(name)
    return lambda w: [float(v) for v in objective.grad(np.array([w], dtype=np.float64))[0]]


def shifted_aniso_grad(w):
    """(w1 - 1)^2 + 8 (w2 + 0.5)^2: the seed's bowl moved off the origin (paper starts at 0)."""
    return [2.0 * (w[0] - 1.0), 16.0 * (w[1] + 0.5)]


def batched(grad):
    def g(x: np.ndarray) -> np.ndarray:
        return np.array([grad(list(row)) for row in x], dtype=np.float64)

    return g


def run_ours(spec: str, grad, starts: np.ndarray, steps: int = STEPS, lrs=None):
    """[S+1, B, D] positions and the states, all starts as one batch, through ``update``."""
    optimizer, setting = get_optimizer(spec)
    hp = optimizer.stack([setting] * len(starts))
    x = np.array(starts, dtype=np.float64)
    state = optimizer.init(x, hp)
    out, states = [x], [state]
    g = batched(grad)
    for k in range(steps):
        hp_k = hp if lrs is None else {**hp, "lr": np.full((len(starts), 1), lrs[k])}
        x, state = optimizer.update(g(x), state, x, hp_k)
        out.append(x)
        states.append(state)
    return np.stack(out), states


def _close(ours: np.ndarray, ref: np.ndarray) -> float:
    """Worst error relative to max(1, |ref|) (absolute near 0, relative elsewhere)."""
    return float(np.max(np.abs(ours - ref) / np.maximum(1.0, np.abs(ref))))


# -- Keras form -------------------------------------------------------------------------------

FUNCTIONS = {
    "aniso": [(1.0, 1.0), (-1.2, 0.4), (0.3, -1.4)],
    "rosenbrock": [(-1.2, 1.0), (0.5, 1.5), (1.6, 2.0)],
    "quadratic:kappa=20,angle=30": [(0.366, 1.366), (-1.5, 0.5), (1.0, -1.0)],
}
LR = {"aniso": 0.3, "rosenbrock": 0.05, "quadratic:kappa=20,angle=30": 0.3}
# lr_power changes the scale of the step a lot: these lrs move every start without blowing up.
LR_BY_POWER = {
    0.0: {"aniso": 0.05, "rosenbrock": 1e-3, "quadratic:kappa=20,angle=30": 0.02},
    -1.0: {"aniso": 5.0, "rosenbrock": 10.0, "quadratic:kappa=20,angle=30": 5.0},
}
KERAS_CASES = [
    {},
    {"lr_power": -0.3, "initial_accumulator_value": 0.5},
    {"lr_power": 0.0},
    {"lr_power": -1.0, "initial_accumulator_value": 1.0},
    {"l1": 0.05},
    {"l2": 0.2},
    {"l1": 0.02, "l2": 0.1, "beta": 1.0},
    {"l2_shrinkage": 0.1},
    {"l1": 0.05, "l2": 0.05, "l2_shrinkage": 0.05, "beta": 0.5, "initial_accumulator_value": 0.0},
]
KERAS_DEFAULTS = {
    "lr_power": -0.5,
    "initial_accumulator_value": 0.1,
    "l1": 0.0,
    "l2": 0.0,
    "l2_shrinkage": 0.0,
    "beta": 0.0,
}


def _spec(lr: float, case: dict) -> str:
    return "ftrl:" + ",".join(f"{k}={v!r}" for k, v in {"lr": lr, **case}.items())


@pytest.mark.parametrize("function", list(FUNCTIONS))
@pytest.mark.parametrize("case", KERAS_CASES, ids=lambda c: ",".join(c) or "defaults")
def test_equals_the_keras_update_formula(function: str, case: dict) -> None:
    lr = LR_BY_POWER.get(case.get("lr_power"), LR)[function]
    starts = np.array(FUNCTIONS[function])
    grad = catalogue_grad(function)
    ours, _ = run_ours(_spec(lr, case), grad, starts)
    assert np.isfinite(ours).all()
    assert (np.linalg.norm(ours[-1] - ours[0], axis=1) > 1e-2).all(), "barely moves: weak test"
    p = {**KERAS_DEFAULTS, **case}
    for b, start in enumerate(starts):
        ref = keras_ftrl(
            grad,
            start,
            STEPS,
            [lr] * STEPS,
            p["lr_power"],
            p["initial_accumulator_value"],
            p["l1"],
            p["l2"],
            p["l2_shrinkage"],
            p["beta"],
        )
        assert _close(ours[:, b], ref) <= TOL, (function, case, start)


def test_equals_keras_under_a_learning_rate_schedule() -> None:
    """A schedule's lr of step t enters sigma, q and beta/(2 lr), as Keras with a schedule."""
    spec = "ftrl:lr=0.5,l1=0.01,beta=0.3,schedule=cosine,T_max=60,eta_min=0.05"
    optimizer, setting = get_optimizer(spec)
    lrs = learning_rates([setting], STEPS)[:, 0]
    assert lrs[0] == 0.5 and lrs.min() == 0.05  # annealed to eta_min at step 61, then back up
    starts = np.array(FUNCTIONS["aniso"])
    grad = catalogue_grad("aniso")
    ours = run(get_objective("aniso"), optimizer, setting, steps=STEPS, start=starts).positions
    for b, start in enumerate(starts):
        ref = keras_ftrl(grad, start, STEPS, list(lrs), -0.5, 0.1, 0.01, 0.0, 0.0, 0.3)
        assert _close(ours[:, b], ref) <= TOL
    constant, _ = run_ours("ftrl:lr=0.5,l1=0.01,beta=0.3", grad, starts)
    assert np.abs(constant - ours).max() > 1e-3  # the schedule changed the path


# -- the paper's Algorithm 1 under the mapping --------------------------------------------------

PAPER_FUNCTIONS = {  # the paper starts at w = 0: every gradient coordinate there is nonzero
    "shifted_aniso": (shifted_aniso_grad, 0.5),
    "himmelblau": (catalogue_grad("himmelblau"), 1.0),
    "booth": (catalogue_grad("booth"), 1.0),
    "rosenbrock": (catalogue_grad("rosenbrock"), 0.1),  # dL/dw2 = 0 at 0: needs beta or l2 > 0
}
PAPER_CASES = [  # (alpha, beta, lambda1, paper lambda2) as multiples of the function's alpha
    {"beta": 0.0, "l1": 0.0, "l2": 0.0},
    {"beta": 1.0, "l1": 0.0, "l2": 0.0},
    {"beta": 0.0, "l1": 0.5, "l2": 0.0},
    {"beta": 0.0, "l1": 0.0, "l2": 1.0},
    {"beta": 0.5, "l1": 0.3, "l2": 0.4},
]


# Rosenbrock's dL/dw2 is 0 at the origin: with beta = l2 = 0, q = 0 there on the first step
# (Keras's 0/0, documented and tested below; the paper's w = 0), so it runs with beta or l2 > 0.
PAPER_PAIRS = [
    (function, case)
    for function in PAPER_FUNCTIONS
    for case in PAPER_CASES
    if function != "rosenbrock" or case["beta"] > 0 or case["l2"] > 0
]


@pytest.mark.parametrize(
    ("function", "case"),
    PAPER_PAIRS,
    ids=[f + "-" + "-".join(f"{k}{v}" for k, v in c.items()) for f, c in PAPER_PAIRS],
)
def test_equals_the_papers_algorithm_1_under_the_mapping(function: str, case: dict) -> None:
    grad, alpha = PAPER_FUNCTIONS[function]
    paper, _ = paper_ftrl(grad, 2, STEPS, alpha, case["beta"], case["l1"], case["l2"])
    spec = (
        f"ftrl:lr={alpha},lr_power=-0.5,initial_accumulator_value=0,"
        f"l1={case['l1']},l2={case['l2'] / 2},beta={case['beta']}"
    )
    ours, _ = run_ours(spec, grad, np.zeros((1, 2)))
    assert np.isfinite(ours).all()
    assert np.linalg.norm(ours[-1, 0]) > 0.1, "barely moves: weak test"
    assert _close(ours[:, 0], paper) <= TOL, (function, case)
    # exact zeros are exact on both sides
    np.testing.assert_array_equal(ours[:, 0] == 0.0, paper == 0.0)


def test_l1_gives_exact_zeros_where_the_paper_says() -> None:
    """w_i is exactly 0 iff |z_i| <= l1, at every step, on both sides; some coordinates sit
    at zero for a while and later move (the test would fail if l1 did nothing)."""
    grad, alpha, l1 = shifted_aniso_grad, 0.5, 6.0
    paper, zs = paper_ftrl(grad, 2, STEPS, alpha, 0.0, l1, 0.0)
    ours, states = run_ours(
        f"ftrl:lr={alpha},initial_accumulator_value=0,l1={l1}", grad, np.zeros((1, 2))
    )
    zero = paper == 0.0
    assert zero[1:].any() and (~zero[1:]).any()
    held = zero[1:, 0]  # w1 sits at exactly zero while |z1| <= l1, then moves
    assert held[:3].all() and not held[-1]
    np.testing.assert_array_equal(ours[:, 0] == 0.0, zero)
    np.testing.assert_array_equal(zero, np.abs(zs) <= l1)
    linear = np.stack([s.linear[0] for s in states])  # our z after each step
    np.testing.assert_array_equal(ours[1:, 0] == 0.0, np.abs(linear[1:]) <= l1)
    np.testing.assert_allclose(linear[1:], zs[1:], rtol=TOL, atol=TOL)
    assert _close(ours[:, 0], paper) <= TOL


def test_l1_keeps_a_coordinate_at_zero_from_any_start() -> None:
    """A start w0 enters z once (-sigma*w0); with l1 larger than every |z| reached, the next
    iterate and all later ones are exactly 0 (the lasso effect), on a whole batch."""
    starts = np.array(FUNCTIONS["aniso"])
    ours, states = run_ours("ftrl:lr=0.3,l1=100", catalogue_grad("aniso"), starts, steps=20)
    assert (ours[1:] == 0.0).all()
    assert all((np.abs(s.linear) <= 100).all() for s in states)


# -- contract: batched, pure, engine, validation ----------------------------------------------

BATCH = [
    "ftrl:lr=0.3",
    "ftrl:lr=0.2,l1=0.05,l2=0.1",
    "ftrl:lr=0.001,lr_power=0,beta=1",
    "ftrl:lr=0.4,l2_shrinkage=0.1,initial_accumulator_value=1",
]


def test_batched_equals_looped_bit_for_bit() -> None:
    optimizer = OPTIMIZERS["ftrl"] if "ftrl" in OPTIMIZERS else get_optimizer("ftrl")[0]
    settings = [get_optimizer(s)[1] for s in BATCH]
    objective = get_objective("rosenbrock")
    starts = np.array(objective.start) + 0.1 * np.arange(len(BATCH))[:, None]
    together = run(objective, optimizer, settings, steps=100, start=starts)
    assert (together.diverged_at == -1).all()
    assert len({together.positions[-1, b].tobytes() for b in range(len(BATCH))}) == len(BATCH)
    for b, setting in enumerate(settings):
        alone = run(objective, optimizer, setting, steps=100, start=starts[b])
        np.testing.assert_array_equal(together.positions[:, b : b + 1], alone.positions)


def test_state_contract_and_purity() -> None:
    optimizer, setting = get_optimizer("ftrl:lr=0.3,l1=0.01")
    hp = optimizer.stack([setting] * 3)
    params = np.ones((3, 2))
    params.setflags(write=False)
    state = optimizer.init(params, hp)
    np.testing.assert_array_equal(state.accumulator, 0.1)
    np.testing.assert_array_equal(state.linear, 0.0)
    for v in state:
        v.setflags(write=False)
    w, new = optimizer.update(np.full((3, 2), 0.5), state, params, hp)
    assert new._fields == ("accumulator", "linear", "step")
    assert new.accumulator.shape == new.linear.shape == (3, 2) and new.step.shape == (3, 1)
    np.testing.assert_array_equal(new.step, 1.0)
    np.testing.assert_array_equal(new.accumulator, 0.1 + 0.25)
    assert not np.array_equal(w, params)
    assert set(optimizer.plot_state) == set(optimizer.state_meanings) <= set(new._fields)
    doc = type(optimizer).__doc__ or ""
    for fragment in ("Algorithm 1", "Mapping", "Keras l2 = paper", "Defaults", "w0"):
        assert fragment in doc


def test_keras_defaults() -> None:
    _, setting = get_optimizer("ftrl")
    assert setting == {"lr": 1e-3, **KERAS_DEFAULTS}


def test_zero_accumulator_and_zero_gradient_diverges_like_keras() -> None:
    """q = 0 (initial_accumulator_value = 0, g = 0 so far, l2 = beta = 0): Keras's 0/0 is NaN;
    the engine freezes the row and marks it diverged at step 1. beta > 0 keeps it finite."""
    optimizer, setting = get_optimizer("ftrl:lr=0.1,initial_accumulator_value=0")
    traj = run(get_objective("rosenbrock"), optimizer, setting, steps=5, start=[0.0, 0.0])
    assert traj.diverged_at[0] == 1
    _, ok = get_optimizer("ftrl:lr=0.1,initial_accumulator_value=0,beta=1")
    traj = run(get_objective("rosenbrock"), optimizer, ok, steps=5, start=[0.0, 0.0])
    assert traj.diverged_at[0] == -1 and np.isfinite(traj.positions).all()


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        ("ftrl:lr_power=0.5", "invalid lr_power: 0.5 (valid: lr_power <= 0)"),
        ("ftrl:l1=-1", "invalid l1: -1.0 (valid: 0 <= l1)"),
        ("ftrl:l2=-0.1", "invalid l2: -0.1 (valid: 0 <= l2)"),
        ("ftrl:l2_shrinkage=-1", "invalid l2_shrinkage: -1.0"),
        ("ftrl:beta=-1", "invalid beta: -1.0 (valid: 0 <= beta)"),
        ("ftrl:initial_accumulator_value=-0.1", "invalid initial_accumulator_value: -0.1"),
        ("ftrl:lr=0", "invalid lr: 0.0 (valid: 0 < lr)"),
        ("ftrl:l1=abc", "'abc' is not a number"),
        ("ftrl:learning_rate=0.1", "unknown hyperparameter 'learning_rate' for ftrl"),
    ],
)
def test_bad_values_are_one_line_errors_and_exit_2(spec: str, fragment: str, capsys) -> None:
    with pytest.raises(OptiscopeError) as info:
        get_optimizer(spec)
    assert fragment in str(info.value) and "\n" not in str(info.value)
    assert main(["run", "aniso", spec]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and fragment in err and "Traceback" not in err


def test_cli_run_json(capsys) -> None:
    import json

    code = main(["run", "aniso", "ftrl:lr=0.3,l1=0.01", "--json", "--steps", "50"])
    out = capsys.readouterr().out
    assert code == 0
    (record,) = json.loads(out)["runs"]
    assert record["params"] == {"lr": 0.3, **KERAS_DEFAULTS, "l1": 0.01}
