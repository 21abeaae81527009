"""Learning-rate schedules: torch.optim.lr_scheduler's numbers step by step, whole trajectories
under a schedule against torch.optim + scheduler, the two momentum forms, and spec errors.

Measured: every schedule's lr sequence equals torch's get_last_lr() bit for bit except
inverse_time (lr/(1+d*e) vs torch's lr*(1/(1+d*e)), <= 2.3e-16 relative); trajectories under
a schedule agree with torch.optim to <= 3.2e-13 relative, the seed form with its hand-written
loop to 2e-14, the two momentum forms at a constant lr to 2e-13 (tolerances asserted: 1e-10
for whole paths, like test_optimizers_torch.py, 1e-12 for the forms and lr sequences).
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from optiscope.cli import main
from optiscope.engine import run
from optiscope.errors import OptiscopeError
from optiscope.objectives import get_objective
from optiscope.optimizers import get_optimizer
from optiscope.schedules import KEYS, PARAMS, SCHEDULES, learning_rates
from torch_reference import torch_optimizer

sched = torch.optim.lr_scheduler

STEPS = 200
LR_RTOL = 1e-12
RTOL, ATOL = 1e-10, 1e-12

# (schedule part of the spec, lr, the torch scheduler for an optimizer ``o``)
CASES = [
    ("schedule=step,step_size=20,gamma=0.5", 0.5, lambda o: sched.StepLR(o, 20, gamma=0.5)),
    ("schedule=step,step_size=1,gamma=0.97", 0.1, lambda o: sched.StepLR(o, 1, gamma=0.97)),
    ("schedule=step,step_size=7", 0.3, lambda o: sched.StepLR(o, 7)),  # torch's gamma=0.1
    ("schedule=step,step_size=30,gamma=1", 0.2, lambda o: sched.StepLR(o, 30, gamma=1.0)),
    ("schedule=exponential,gamma=0.99", 0.2, lambda o: sched.ExponentialLR(o, 0.99)),
    ("schedule=exponential,gamma=0.7", 1.0, lambda o: sched.ExponentialLR(o, 0.7)),
    ("schedule=cosine,T_max=200", 0.1, lambda o: sched.CosineAnnealingLR(o, 200)),
    ("schedule=cosine,T_max=350", 0.1, lambda o: sched.CosineAnnealingLR(o, 350)),
    # past T_max: torch's recursion goes back up (several half periods here)
    (
        "schedule=cosine,T_max=50,eta_min=0.01",
        0.1,
        lambda o: sched.CosineAnnealingLR(o, 50, eta_min=0.01),
    ),
    (
        "schedule=cosine,T_max=7,eta_min=0.001",
        0.05,
        lambda o: sched.CosineAnnealingLR(o, 7, eta_min=0.001),
    ),
    ("schedule=cosine,T_max=1", 0.1, lambda o: sched.CosineAnnealingLR(o, 1)),
    (
        "schedule=inverse_time,decay=0.1",
        0.5,
        lambda o: sched.LambdaLR(o, lambda e: 1 / (1 + 0.1 * e)),
    ),
    (
        "schedule=inverse_time,decay=0.003",
        0.05,
        lambda o: sched.LambdaLR(o, lambda e: 1 / (1 + 0.003 * e)),
    ),
    (
        "schedule=inverse_sqrt",
        0.3,
        lambda o: sched.LambdaLR(o, lambda e: math.sqrt(1 / max(e + 1, 1))),
    ),
    (
        "schedule=inverse_sqrt,warmup=10",
        0.3,
        lambda o: sched.LambdaLR(o, lambda e: math.sqrt(10 / max(e + 1, 10))),
    ),
]
IDS = [c[0].replace("schedule=", "") for c in CASES]


def torch_lrs(factory, lr: float, steps: int = STEPS) -> np.ndarray:
    """get_last_lr() before each optimizer step of a torch.optim.SGD driven by the scheduler."""
    p = torch.zeros(2, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.SGD([p], lr=lr, foreach=False)
    scheduler = factory(opt)
    out = []
    for _ in range(steps):
        out.append(scheduler.get_last_lr()[0])
        assert opt.param_groups[0]["lr"] == out[-1]
        p.grad = torch.ones_like(p)
        opt.step()
        scheduler.step()
    return np.array(out)


def ours_lrs(spec: str, steps: int = STEPS) -> np.ndarray:
    _, setting = get_optimizer(spec)
    table = learning_rates([setting], steps)
    assert table is not None and table.shape == (steps, 1)
    return table[:, 0]


@pytest.mark.parametrize(("schedule", "lr", "factory"), CASES, ids=IDS)
def test_learning_rates_equal_torch_lr_scheduler(schedule, lr, factory) -> None:
    ours = ours_lrs(f"sgd:lr={lr},{schedule}")
    ref = torch_lrs(factory, lr)
    assert ours[0] == lr
    np.testing.assert_allclose(ours, ref, rtol=LR_RTOL, atol=0)
    if "inverse_time" not in schedule:  # the same operations as torch's: the same bits
        np.testing.assert_array_equal(ours, ref)


def test_cosine_is_the_closed_form_up_to_t_max() -> None:
    lr, eta_min, t_max = 0.1, 0.01, 120
    ours = ours_lrs(f"sgd:lr={lr},schedule=cosine,T_max={t_max},eta_min={eta_min}", t_max + 1)
    e = np.arange(t_max + 1)
    closed = eta_min + (lr - eta_min) * (1 + np.cos(np.pi * e / t_max)) / 2
    np.testing.assert_allclose(ours, closed, rtol=1e-13)
    assert ours[-1] == eta_min  # step T_max + 1 uses eta_min


def test_step_exponential_inverse_formulas() -> None:
    t = np.arange(1, STEPS + 1)
    np.testing.assert_allclose(
        ours_lrs("sgd:lr=0.5,schedule=step,step_size=20,gamma=0.5"),
        0.5 * 0.5 ** np.floor((t - 1) / 20),
        rtol=1e-15,
    )
    np.testing.assert_allclose(
        ours_lrs("sgd:lr=0.2,schedule=exponential,gamma=0.99"), 0.2 * 0.99 ** (t - 1), rtol=1e-13
    )
    np.testing.assert_allclose(
        ours_lrs("sgd:lr=0.5,schedule=inverse_time,decay=0.1"), 0.5 / (1 + 0.1 * (t - 1)), rtol=0
    )
    sqrt = ours_lrs("sgd:lr=0.3,schedule=inverse_sqrt,warmup=10")
    np.testing.assert_allclose(sqrt, 0.3 * np.sqrt(10 / np.maximum(t, 10)), rtol=1e-15)
    assert (sqrt[:10] == 0.3).all() and sqrt[10] < 0.3
    np.testing.assert_allclose(ours_lrs("sgd:lr=0.3,schedule=inverse_sqrt"), 0.3 / np.sqrt(t))


def test_inverse_time_is_adagrads_lr_decay() -> None:
    """adagrad:lr_decay=d equals adagrad with lr_decay=0 under schedule=inverse_time,decay=d."""
    objective = get_objective("rosenbrock")
    a_opt, a = get_optimizer("adagrad:lr=0.2,lr_decay=0.05")
    _, b = get_optimizer("adagrad:lr=0.2,schedule=inverse_time,decay=0.05")
    np.testing.assert_array_equal(
        run(objective, a_opt, a, steps=100).positions, run(objective, a_opt, b, steps=100).positions
    )


def test_constant_is_none_and_mixed_batches_are_per_row() -> None:
    _, plain = get_optimizer("sgd:lr=0.1")
    _, const = get_optimizer("sgd:lr=0.1,schedule=constant")
    assert const["schedule"] == "constant"
    assert learning_rates([plain, const], 50) is None
    specs = [
        "sgd:lr=0.1",
        "sgd:lr=0.5,schedule=step,step_size=20,gamma=0.5",
        "sgd:lr=0.2,schedule=cosine,T_max=30",
        "sgd:lr=0.3,schedule=cosine,T_max=7,eta_min=0.01",
        "sgd:lr=0.4,schedule=step,step_size=3,gamma=0.9",
        "sgd:lr=0.3,schedule=inverse_sqrt,warmup=5",
    ]
    settings = [get_optimizer(s)[1] for s in specs]
    table = learning_rates(settings, STEPS)
    assert table.shape == (STEPS, len(specs))
    assert (table[:, 0] == 0.1).all()
    for b, spec in enumerate(specs[1:], start=1):
        np.testing.assert_array_equal(table[:, b], ours_lrs(spec))


# -- whole trajectories under a schedule vs torch.optim + scheduler ----------------------------


def torch_path(spec: str, factory, function: str, start) -> np.ndarray:
    """[S+1, D] positions of torch.optim with the scheduler, fed our objective's gradient."""
    objective = get_objective(function)
    optimizer, setting = get_optimizer(spec)
    p = torch.tensor(start, dtype=torch.float64, requires_grad=True)
    opt = torch_optimizer(optimizer.name, setting, p)
    scheduler = factory(opt)
    out = [np.array(start, dtype=np.float64)]
    for _ in range(STEPS):
        g = objective.grad(p.detach().numpy()[None, :])[0]
        p.grad = torch.from_numpy(np.ascontiguousarray(g))
        opt.step()
        scheduler.step()
        out.append(p.detach().numpy().copy())
    return np.stack(out)


STARTS = {"aniso": [(1.0, 1.0), (-1.2, 0.4), (0.3, -1.4)], "rosenbrock": [(-1.2, 1.0)]}
TRAJECTORY_CASES = [
    ("sgd:lr=0.1", "aniso", 0),
    ("momentum:lr=0.05,momentum=0.9", "aniso", 0),
    ("momentum:lr=0.05,momentum=0.9", "aniso", 6),
    ("momentum:lr=0.05,momentum=0.9", "aniso", 11),
    ("nesterov:lr=0.05,momentum=0.8", "aniso", 0),
    ("nesterov:lr=0.05,momentum=0.8", "aniso", 8),
    ("sgd:lr=0.05,momentum=0.7,dampening=0.3,weight_decay=0.1", "aniso", 4),
    ("momentum:lr=0.001,momentum=0.9", "rosenbrock", 13),
    ("rmsprop:lr=0.02", "aniso", 0),
    ("rmsprop:lr=0.03,momentum=0.5,centered=true", "aniso", 8),
    ("adam:lr=0.05", "aniso", 6),
    ("adam:lr=0.02,amsgrad=true", "rosenbrock", 8),
    ("adamw:lr=0.05,weight_decay=0.1", "aniso", 4),
    ("adagrad:lr=0.3", "aniso", 11),
    ("adadelta:lr=0.5", "aniso", 12),
]


def _ours_path(spec: str, function: str) -> np.ndarray:
    optimizer, setting = get_optimizer(spec)
    starts = np.array(STARTS[function])
    traj = run(get_objective(function), optimizer, setting, steps=STEPS, start=starts)
    assert (traj.diverged_at == -1).all()
    return traj


@pytest.mark.parametrize(
    ("config", "function", "case"),
    TRAJECTORY_CASES,
    ids=[f"{c}-{f}-{IDS[k]}" for c, f, k in TRAJECTORY_CASES],
)
def test_trajectory_under_a_schedule_equals_torch(config: str, function: str, case: int) -> None:
    schedule, _, factory = CASES[case]
    spec = f"{config},{schedule}"
    traj = _ours_path(spec, function)
    np.testing.assert_array_equal(traj.learning_rates, learning_rates(traj.settings, STEPS))
    constant = _ours_path(config, function)
    assert np.abs(constant.positions - traj.positions).max() > 1e-6  # the schedule mattered
    for b, start in enumerate(STARTS[function]):
        ref = torch_path(spec, factory, function, start)
        np.testing.assert_allclose(traj.positions[:, b], ref, rtol=RTOL, atol=ATOL)


def test_batched_schedules_equal_looped_bit_for_bit() -> None:
    specs = [
        "momentum:lr=0.002,momentum=0.9,schedule=step,step_size=10,gamma=0.5",
        "momentum:lr=0.001,momentum=0.5,schedule=cosine,T_max=40",
        "momentum:lr=0.002,momentum=0.9,momentum_form=seed,schedule=step,step_size=10,gamma=0.5",
        "momentum:lr=0.001",
        "momentum:lr=0.002,nesterov=true,momentum_form=seed,schedule=exponential,gamma=0.98",
    ]
    optimizer = get_optimizer(specs[0])[0]
    settings = [get_optimizer(s)[1] for s in specs]
    objective = get_objective("rosenbrock")
    starts = np.array(objective.start) + 0.05 * np.arange(len(specs))[:, None]
    batch = run(objective, optimizer, settings, steps=STEPS, start=starts)
    assert (batch.diverged_at == -1).all()
    assert len({batch.positions[-1, b].tobytes() for b in range(len(specs))}) == len(specs)
    for b, setting in enumerate(settings):
        alone = run(objective, optimizer, setting, steps=STEPS, start=starts[b])
        np.testing.assert_array_equal(batch.positions[:, b : b + 1], alone.positions)
        row = batch.row(b).learning_rates
        if alone.learning_rates is None:
            assert (row == setting["lr"]).all()
        else:
            np.testing.assert_array_equal(row, alone.learning_rates)


# -- momentum forms ----------------------------------------------------------------------------


def seed_loop(function: str, start, lrs, momentum, dampening=0.0, nesterov=False, wd=0.0):
    """The seed/lecture form, hand-written per coordinate: v = mu*v + lr_t*g, w -= v
    (first step v = lr*g; dampening after; nesterov: w -= lr_t*g + mu*v)."""
    objective = get_objective(function)
    w = [float(c) for c in start]
    v = [0.0] * len(w)
    path = [list(w)]
    for t, lr in enumerate(lrs):
        g = [float(c) for c in objective.grad(np.array([w]))[0]]
        for i in range(len(w)):
            gi = g[i] + wd * w[i]
            v[i] = lr * gi if t == 0 else momentum * v[i] + (1 - dampening) * lr * gi
            w[i] = w[i] - (lr * gi + momentum * v[i] if nesterov else v[i])
        path.append(list(w))
    return np.array(path)


FORM_CONFIGS = [
    "momentum:lr=0.05,momentum=0.9",
    "momentum:lr=0.05,momentum=0.5,dampening=0.3",
    "nesterov:lr=0.05,momentum=0.7",
    "sgd:lr=0.05,momentum=0.8,weight_decay=0.1",
]


@pytest.mark.parametrize("function", ["aniso", "rosenbrock"])
@pytest.mark.parametrize("config", FORM_CONFIGS)
def test_momentum_forms_agree_for_a_constant_lr(config: str, function: str) -> None:
    if function == "rosenbrock":
        config = config.replace("lr=0.05", "lr=0.001")
    optimizer, torch_form = get_optimizer(config)
    _, seed_form = get_optimizer(f"{config},momentum_form=seed")
    starts = np.array(STARTS["aniso"]) if function == "aniso" else np.array(STARTS[function])
    objective = get_objective(function)
    a = run(objective, optimizer, torch_form, steps=STEPS, start=starts, record_state=True)
    b = run(objective, optimizer, seed_form, steps=STEPS, start=starts, record_state=True)
    assert a.learning_rates is None and b.learning_rates is None
    np.testing.assert_allclose(b.positions, a.positions, rtol=1e-12, atol=1e-14)
    # the buffers: seed's velocity v = lr * torch's buf
    lr = torch_form["lr"]
    np.testing.assert_allclose(
        b.states["momentum_buffer"], lr * a.states["momentum_buffer"], rtol=1e-12, atol=1e-15
    )


SCHEDULED = [
    ("schedule=step,step_size=5,gamma=0.5", lambda o: sched.StepLR(o, 5, gamma=0.5)),
    (
        "schedule=cosine,T_max=30,eta_min=0.01",
        lambda o: sched.CosineAnnealingLR(o, 30, eta_min=0.01),
    ),
]


@pytest.mark.parametrize(("schedule", "factory"), SCHEDULED, ids=["step", "cosine"])
@pytest.mark.parametrize("config", FORM_CONFIGS)
def test_momentum_forms_differ_under_a_schedule(config: str, schedule: str, factory) -> None:
    """Each form equals its own reference (torch.optim + scheduler; the hand-written seed
    loop), and the two differ by far more than rounding."""
    optimizer, torch_form = get_optimizer(f"{config},{schedule}")
    _, seed_form = get_optimizer(f"{config},{schedule},momentum_form=seed")
    objective = get_objective("aniso")
    starts = np.array(STARTS["aniso"])
    a = run(objective, optimizer, torch_form, steps=STEPS, start=starts)
    b = run(objective, optimizer, seed_form, steps=STEPS, start=starts)
    lrs = a.learning_rates[:, 0]
    np.testing.assert_array_equal(b.learning_rates[:, 0], lrs)
    difference = np.abs(a.positions - b.positions).max()
    assert difference > 1e-3, difference
    for k, start in enumerate(starts):
        ref = torch_path(f"{config},{schedule}", factory, "aniso", start)
        np.testing.assert_allclose(a.positions[:, k], ref, rtol=RTOL, atol=ATOL)
        seed = seed_loop(
            "aniso",
            start,
            lrs,
            torch_form["momentum"],
            torch_form["dampening"],
            bool(torch_form["nesterov"]),
            torch_form["weight_decay"],
        )
        np.testing.assert_allclose(b.positions[:, k], seed, rtol=RTOL, atol=ATOL)


def test_the_one_step_difference_is_mu_times_the_lr_change_times_the_buffer() -> None:
    """From the same point and the same velocity, when lr drops from lr1 to lr2 the torch form
    moves lr2*(mu*buf + g) and the seed form mu*lr1*buf + lr2*g: they differ by
    mu*(lr1 - lr2)*buf, the part of the past the torch form rescales."""
    optimizer, setting = get_optimizer("momentum:lr=0.1,momentum=0.9")
    _, seed_setting = get_optimizer("momentum:lr=0.1,momentum=0.9,momentum_form=seed")
    hp_t, hp_s = optimizer.stack([setting]), optimizer.stack([seed_setting])
    lr1, lr2, mu = 0.1, 0.05, 0.9
    w = np.array([[0.7, -0.3]])
    g = np.array([[1.5, -2.0]])
    buf = np.array([[0.4, 0.8]])  # torch's buffer; the seed's velocity for it is lr1*buf
    state_t = optimizer.init(w, hp_t)._replace(momentum_buffer=buf, step=np.array([[5.0]]))
    state_s = state_t._replace(momentum_buffer=lr1 * buf)
    w_t, _ = optimizer.update(g, state_t, w, {**hp_t, "lr": np.array([[lr2]])})
    w_s, _ = optimizer.update(g, state_s, w, {**hp_s, "lr": np.array([[lr2]])})
    np.testing.assert_allclose(w_s - w_t, mu * (lr2 - lr1) * buf, rtol=1e-12)
    np.testing.assert_allclose(w_t, w - lr2 * (mu * buf + g), rtol=1e-15)
    np.testing.assert_allclose(w_s, w - (mu * lr1 * buf + lr2 * g), rtol=1e-15)


def test_momentum_form_option_in_settings() -> None:
    _, plain = get_optimizer("momentum:lr=0.1")
    assert "momentum_form" not in plain  # optional: only when given
    _, seed = get_optimizer("momentum:lr=0.1,momentum_form=seed")
    assert seed["momentum_form"] == "seed"
    json.dumps(seed)
    _, nesterov_seed = get_optimizer("nesterov:momentum_form=seed")
    assert nesterov_seed["nesterov"] is True
    with pytest.raises(OptiscopeError, match="unknown hyperparameter 'momentum_form' for adam"):
        get_optimizer("adam:momentum_form=seed")


# -- specs and errors --------------------------------------------------------------------------


def test_spec_keeps_only_the_chosen_schedules_keys_with_defaults() -> None:
    _, s = get_optimizer("sgd:lr=0.5,schedule=step,step_size=20,gamma=0.5")
    assert s == {
        "lr": 0.5,
        "momentum": 0.0,
        "dampening": 0.0,
        "weight_decay": 0.0,
        "nesterov": False,
        "schedule": "step",
        "step_size": 20,
        "gamma": 0.5,
    }
    assert type(s["step_size"]) is int
    _, s = get_optimizer("adam:schedule=cosine,T_max=100")
    assert {k: s[k] for k in ("schedule", "T_max", "eta_min")} == {
        "schedule": "cosine",
        "T_max": 100,
        "eta_min": 0.0,
    }
    assert "gamma" not in s
    _, s = get_optimizer("ftrl:lr=0.1,schedule=step,step_size=5")
    assert s["gamma"] == 0.1  # torch's StepLR default
    json.dumps(s, allow_nan=False)
    assert set(KEYS) == set(PARAMS) and list(SCHEDULES) == list(PARAMS["schedule"].choices)


@pytest.mark.parametrize(
    ("spec", "fragments"),
    [
        ("sgd:schedule=linear", ["invalid schedule: 'linear'", "valid: constant, step, expon"]),
        ("sgd:schedule=cosin,T_max=5", ["did you mean 'cosine'"]),
        ("sgd:gamma=0.5", ["gamma needs a learning-rate schedule", "step, exponential"]),
        ("sgd:T_max=10", ["T_max needs a learning-rate schedule", "cosine"]),
        ("sgd:schedule=step", ["schedule=step needs step_size", "e.g. schedule=step,step_size"]),
        ("sgd:schedule=exponential", ["schedule=exponential needs gamma"]),
        ("sgd:schedule=cosine", ["schedule=cosine needs T_max"]),
        ("sgd:schedule=inverse_time", ["schedule=inverse_time needs decay"]),
        ("sgd:schedule=step,step_size=0", ["invalid step_size: 0.0", "valid: 1 <= step_size"]),
        ("sgd:schedule=step,step_size=2.5", ["invalid step_size: 2.5"]),
        ("sgd:schedule=cosine,T_max=0", ["invalid T_max: 0.0", "valid: 1 <= T_max"]),
        ("sgd:schedule=cosine,T_max=5,eta_min=-0.1", ["invalid eta_min: -0.1", "0 <= eta_min"]),
        ("sgd:lr=0.1,schedule=cosine,T_max=5,eta_min=0.2", ["eta_min <= lr = 0.1"]),
        ("sgd:schedule=step,step_size=5,gamma=0", ["invalid gamma: 0.0", "0 < gamma <= 1"]),
        ("sgd:schedule=exponential,gamma=1.5", ["invalid gamma: 1.5", "0 < gamma <= 1"]),
        ("sgd:schedule=exponential,gamma=-0.5", ["invalid gamma: -0.5"]),
        ("sgd:schedule=inverse_time,decay=-1", ["invalid decay: -1.0", "0 <= decay"]),
        ("sgd:schedule=inverse_sqrt,warmup=0", ["invalid warmup: 0.0", "1 <= warmup"]),
        (
            "sgd:lr=0.1,schedule=step,step_size=1e30",
            ["invalid step_size: 1e+30", "1 <= step_size <= 1e+09"],
        ),
        ("sgd:lr=0.1,schedule=cosine,T_max=1e20", ["invalid T_max: 1e+20", "T_max <= 1e+09"]),
        ("sgd:schedule=inverse_sqrt,warmup=1000000001", ["invalid warmup: 1000000001.0"]),
        ("sgd:schedule=cosine,T_max=5,gamma=0.5", ["gamma does not apply to schedule=cosine"]),
        ("sgd:schedule=constant,step_size=3", ["step_size does not apply to schedule=constant"]),
        ("sgd:schedule=step,step_size=abc", ["step_size", "'abc' is not a number"]),
        ("sgd:momentum_form=lecture", ["invalid momentum_form: 'lecture'", "valid: torch, seed"]),
        ("sgd:sched=step", ["unknown hyperparameter 'sched'", "schedule keys: schedule, step"]),
    ],
)
def test_bad_schedule_specs_are_one_line_errors_and_exit_2(spec, fragments, capsys) -> None:
    with pytest.raises(OptiscopeError) as info:
        get_optimizer(spec)
    message = str(info.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message, (spec, message)
    assert main(["run", "aniso", spec]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.count("\n") == 1
    assert captured.err.startswith("optiscope: error: ") and fragments[0] in captured.err


def test_settings_given_directly_are_checked_by_the_engine() -> None:
    optimizer, setting = get_optimizer("sgd:lr=0.1")
    objective = get_objective("aniso")
    for bad, message in [
        ({"schedule": "warp"}, "invalid schedule: 'warp'"),
        ({"gamma": 0.5}, "gamma needs a learning-rate schedule"),
        ({"schedule": "step", "step_size": 0}, "invalid step_size"),
        ({"schedule": "step", "step_size": 1e30}, "invalid step_size: 1e\\+30"),
        ({"schedule": "cosine", "T_max": 1e20}, "invalid T_max: 1e\\+20"),
        ({"schedule": "cosine", "T_max": 5, "eta_min": 0.5}, "invalid eta_min: 0.5"),
        ({"schedule": "step"}, "needs step_size"),
        ({"momentum_form": "both"}, "invalid momentum_form"),
    ]:
        with pytest.raises(OptiscopeError, match=message):
            run(objective, optimizer, {**setting, **bad}, steps=3)


# -- command line ------------------------------------------------------------------------------


def test_cli_run_with_a_schedule(capsys) -> None:
    spec = "sgd:lr=0.1,schedule=step,step_size=10,gamma=0.5"
    code = main(["run", "aniso", spec, "--json", "--steps", "30", "--start", "1,1"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    (record,) = json.loads(captured.out)["runs"]
    assert record["params"]["schedule"] == "step"
    assert record["params"]["step_size"] == 10 and record["params"]["gamma"] == 0.5
    # gradient descent on w1^2 + 8 w2^2: each coordinate is multiplied by 1 - lr_t * (2, 16)
    lrs = 0.1 * 0.5 ** (np.arange(30) // 10)
    expected = [np.prod(1 - 2 * lrs), np.prod(1 - 16 * lrs)]
    np.testing.assert_allclose(record["x_final"], expected, rtol=1e-12)
    assert "schedule=step" in record["settings"]


def test_cli_optimizers_lists_schedules_once(capsys) -> None:
    assert main(["optimizers"]) == 0
    out = capsys.readouterr().out
    assert out.count("schedules (any optimizer)") == 1
    for name in SCHEDULES:
        assert f"  {name} " in out
    for key in KEYS:
        assert key in out
    assert "momentum_form" in out and "StepLR" in out and "CosineAnnealingLR" in out
    assert main(["optimizers", "momentum"]) == 0
    out = capsys.readouterr().out
    assert "momentum_form" in out and "seed" in out


# -- limits, speed, warnings -------------------------------------------------------------------


@pytest.mark.filterwarnings("error")
def test_extreme_schedule_values_are_quiet_or_refused() -> None:
    # The largest periods are accepted and mean "never within this run".
    for spec in (
        "sgd:lr=0.1,schedule=step,step_size=1000000000",
        "sgd:lr=0.1,schedule=cosine,T_max=1e9",
        "sgd:lr=0.1,schedule=inverse_sqrt,warmup=1e9",
    ):
        np.testing.assert_allclose(ours_lrs(spec, 50), 0.1, rtol=1e-12)
    # A huge decay overflows to an lr of 0 inside the engine's errstate: no RuntimeWarning.
    optimizer, setting = get_optimizer("sgd:lr=0.1,schedule=inverse_time,decay=1e308")
    traj = run(get_objective("aniso"), optimizer, setting, steps=5)
    assert traj.learning_rates[0, 0] == 0.1 and (traj.learning_rates[2:, 0] == 0.0).all()
    assert (traj.positions[1:, 0] == traj.positions[1, 0]).all()  # lr 1e-309, then 0


def test_cosine_with_many_distinct_t_max_is_linear_and_exact() -> None:
    import time

    b = 40_000
    settings = [
        {"lr": 0.1, "schedule": "cosine", "T_max": t, "eta_min": 0.001 * (t % 3)}
        for t in range(1, b + 1)
    ]
    started = time.perf_counter()
    table = learning_rates(settings, 100)
    elapsed = time.perf_counter() - started
    assert table.shape == (100, b)
    assert elapsed < 4.0, elapsed  # 8.6 s when each distinct T_max masked every row
    for t in (1, 2, 7, 50, 99, 100, 101, 12_345, b):  # bit-identical to each row alone
        np.testing.assert_array_equal(table[:, t - 1], learning_rates([settings[t - 1]], 100)[:, 0])
    for t, lr in ((7, 0.1), (50, 0.1), (350, 0.1)):  # and to torch's
        ref = torch_lrs(
            lambda o, t=t: sched.CosineAnnealingLR(o, t, eta_min=0.001 * (t % 3)), lr, 100
        )
        np.testing.assert_array_equal(table[:, t - 1], ref)
