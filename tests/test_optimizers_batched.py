"""Batched equals looped, purity, the state contract, spec parsing and validation messages."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from optiscope.errors import OptiscopeError
from optiscope.objectives import get_objective
from optiscope.optimizers import OPTIMIZERS, get_optimizer
from optiscope.optimizers.registry import _ensure_loaded

_ensure_loaded()

# One batch per optimizer: rows differ in lr and in every option that changes the code path
# (momentum on/off, nesterov, dampening, centered, amsgrad, weight decay, lr_decay ...).
BATCHES = {
    "sgd": [
        "sgd:lr=0.002",
        "sgd:lr=0.001,momentum=0.9",
        "sgd:lr=0.0005,momentum=0.5,dampening=0.3",
        "sgd:lr=0.001,momentum=0.7,nesterov=true",
        "sgd:lr=0.001,weight_decay=0.1",
        "sgd:lr=0.0003,momentum=0.95,nesterov=true,weight_decay=0.01",
    ],
    "momentum": ["momentum", "momentum:lr=0.002,momentum=0.5", "momentum:nesterov=true"],
    "nesterov": ["nesterov", "nesterov:lr=0.0005,momentum=0.99", "nesterov:nesterov=false"],
    "rmsprop": [
        "rmsprop:lr=0.01",
        "rmsprop:lr=0.005,centered=true",
        "rmsprop:lr=0.003,momentum=0.5",
        "rmsprop:lr=0.002,momentum=0.9,centered=true,alpha=0.9",
        "rmsprop:lr=0.01,alpha=0.3,eps=1e-10",
        "rmsprop:lr=0.01,weight_decay=0.1,eps=1e-4",
    ],
    "adam": [
        "adam:lr=0.01",
        "adam:lr=0.02,amsgrad=true",
        "adam:lr=0.005,beta1=0.3,beta2=0.5",
        "adam:lr=0.01,weight_decay=0.1,amsgrad=true",
        "adam:lr=0.03,beta1=0,beta2=0.9,eps=1e-6",
    ],
    "adamw": ["adamw:lr=0.01", "adamw:lr=0.02,weight_decay=0.5,amsgrad=true", "adamw:beta1=0.6"],
    "adagrad": [
        "adagrad:lr=0.1",
        "adagrad:lr=0.2,lr_decay=0.01",
        "adagrad:lr=0.05,initial_accumulator_value=0.1,eps=1e-6",
        "adagrad:lr=0.1,weight_decay=0.1",
    ],
    "adadelta": [
        "adadelta",
        "adadelta:lr=0.5,rho=0.7",
        "adadelta:rho=0.99,eps=1e-4",
        "adadelta:lr=0.0005,weight_decay=0.1,rho=1",  # rho=1: delta = g
    ],
}


def _setting_batch(specs: list[str]):
    optimizer = None
    settings_ = []
    for spec in specs:
        optimizer, setting = get_optimizer(spec)
        settings_.append(setting)
    return optimizer, settings_


def _run(optimizer, hp, function: str, starts: np.ndarray, steps: int):
    """Positions [S+1, B, D] and the state after every step (list of NamedTuples)."""
    objective = get_objective(function)
    x = starts.copy()
    state = optimizer.init(x, hp)
    positions, states = [x], [state]
    for _ in range(steps):
        x, state = optimizer.update(objective.grad(x), state, x, hp)
        positions.append(x)
        states.append(state)
    return np.stack(positions), states


NAMES = list(BATCHES)  # the elementwise (torch.optim) families of this package


def test_every_elementwise_optimizer_is_registered_and_has_a_batch() -> None:
    assert set(BATCHES) <= set(OPTIMIZERS)
    assert list(OPTIMIZERS)[: len(BATCHES)] == NAMES  # listed in this order


@pytest.mark.parametrize("function", ["rosenbrock", "aniso"])
@pytest.mark.parametrize("name", NAMES)
def test_batched_equals_looped_bit_for_bit(name: str, function: str) -> None:
    optimizer, settings_ = _setting_batch(BATCHES[name])
    batch = len(settings_)
    start = np.array(get_objective(function).start)
    starts = start + 0.1 * np.arange(batch)[:, None] * np.array([1.0, -0.5])  # [B, D]
    hp = optimizer.stack(settings_)
    together, states = _run(optimizer, hp, function, starts, steps=100)
    assert np.isfinite(together).all()
    assert len({together[-1, b].tobytes() for b in range(batch)}) == batch  # rows differ
    for b in range(batch):
        alone, alone_states = _run(
            optimizer, optimizer.stack([settings_[b]]), function, starts[b : b + 1], steps=100
        )
        np.testing.assert_array_equal(together[:, b : b + 1], alone, err_msg=BATCHES[name][b])
        for field in states[-1]._fields:
            for k in (1, 2, 50, 100):
                np.testing.assert_array_equal(
                    getattr(states[k], field)[b : b + 1],
                    getattr(alone_states[k], field),
                    err_msg=f"{BATCHES[name][b]}: {field} at step {k}",
                )


def _frozen(a: np.ndarray) -> np.ndarray:
    a = np.array(a, dtype=np.float64, copy=True)
    a.setflags(write=False)  # any in-place write raises ValueError
    return a


@pytest.mark.parametrize("name", NAMES)
def test_init_and_update_do_not_mutate_inputs(name: str) -> None:
    optimizer, settings_ = _setting_batch(BATCHES[name])
    batch = len(settings_)
    rng = np.random.default_rng(0)
    params = _frozen(rng.normal(size=(batch, 2)))
    hp = {k: _frozen(v) for k, v in optimizer.stack(settings_).items()}
    saved_hp = {k: v.copy() for k, v in hp.items()}
    state = optimizer.init(params, hp)
    for _ in range(3):  # past the first step, so every state field is non-trivial
        state = optimizer.update(_frozen(rng.normal(size=(batch, 2))), state, params, hp)[1]
    state = type(state)(*(_frozen(v) for v in state))
    saved_state = [v.copy() for v in state]
    grad = _frozen(rng.normal(size=(batch, 2)))
    new_params, new_state = optimizer.update(grad, state, params, hp)
    assert new_params is not params
    for old, saved in zip(state, saved_state, strict=True):
        np.testing.assert_array_equal(old, saved)
    for k in hp:
        np.testing.assert_array_equal(hp[k], saved_hp[k])
    assert not np.array_equal(new_params, params)


@pytest.mark.parametrize("name", NAMES)
def test_state_contract(name: str) -> None:
    """State is a NamedTuple of float arrays, [B, D] each, ``step`` [B, 1] counting updates,
    so the engine can freeze diverged rows with np.where over every field."""
    optimizer, settings_ = _setting_batch(BATCHES[name])
    batch = len(settings_)
    hp = optimizer.stack(settings_)
    params = np.ones((batch, 2))
    state = optimizer.init(params, hp)
    assert hasattr(state, "_fields") and "step" in state._fields
    for _ in range(2):
        params, state = optimizer.update(np.full((batch, 2), 0.5), state, params, hp)
    for field, value in zip(state._fields, state, strict=True):
        assert isinstance(value, np.ndarray) and value.dtype == np.float64, field
        assert value.shape == ((batch, 1) if field == "step" else (batch, 2)), field
    np.testing.assert_array_equal(state.step, 2.0)
    assert optimizer.plot_state and set(optimizer.plot_state) <= set(state._fields) - {"step"}
    assert set(optimizer.state_meanings) == set(optimizer.plot_state)


@pytest.mark.parametrize("name", NAMES)
def test_metadata_and_docstrings(name: str) -> None:
    optimizer = OPTIMIZERS[name]
    assert optimizer.name == name
    assert optimizer.summary and "\n" not in optimizer.summary
    assert "torch/optim/" in optimizer.reference
    doc = type(optimizer).__doc__ or ""
    assert "Defaults:" in doc and "lr" in doc
    for h in optimizer.hyperparams:
        assert h.meaning and "\n" not in h.meaning, h.name
        assert h.describe_range(), h.name
    assert [h.name for h in optimizer.hyperparams][0] == "lr"


# -- specs ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (
            "momentum:lr=0.1,momentum=0.9",
            {"lr": 0.1, "momentum": 0.9, "dampening": 0.0, "weight_decay": 0.0, "nesterov": False},
        ),
        (
            "adam:amsgrad=true",
            {
                "lr": 1e-3,
                "beta1": 0.9,
                "beta2": 0.999,
                "eps": 1e-8,
                "weight_decay": 0.0,
                "amsgrad": True,
            },
        ),
        (
            "rmsprop:lr=0.1,alpha=0.9,eps=1e-10",
            {
                "lr": 0.1,
                "alpha": 0.9,
                "eps": 1e-10,
                "weight_decay": 0.0,
                "momentum": 0.0,
                "centered": False,
            },
        ),
        (
            "adamw",
            {
                "lr": 1e-3,
                "beta1": 0.9,
                "beta2": 0.999,
                "eps": 1e-8,
                "weight_decay": 1e-2,
                "amsgrad": False,
            },
        ),
        (
            "adagrad:lr_decay=0.5",
            {
                "lr": 1e-2,
                "lr_decay": 0.5,
                "weight_decay": 0.0,
                "initial_accumulator_value": 0.0,
                "eps": 1e-10,
            },
        ),
        ("adadelta:rho=0.95", {"lr": 1.0, "rho": 0.95, "eps": 1e-6, "weight_decay": 0.0}),
        (
            "nesterov",
            {"lr": 1e-3, "momentum": 0.9, "dampening": 0.0, "weight_decay": 0.0, "nesterov": True},
        ),
    ],
)
def test_spec_returns_every_hyperparameter(spec: str, expected: dict) -> None:
    optimizer, setting = get_optimizer(spec)
    assert optimizer.name == spec.split(":")[0]
    assert setting == expected
    assert list(setting) == [h.name for h in optimizer.hyperparams]
    assert all(type(v) is type(expected[k]) for k, v in setting.items())


@pytest.mark.parametrize(
    ("spec", "fragments"),
    [
        ("adamm", ["unknown optimizer 'adamm'", "did you mean 'adam'", "valid: sgd, momentum"]),
        ("lbfgs2", ["unknown optimizer", "adadelta"]),
        ("sgd:mom=0.9", ["unknown hyperparameter 'mom'", "valid: lr, momentum, dampening"]),
        ("adam:betas=0.9", ["unknown hyperparameter 'betas'", "beta1, beta2"]),
        ("sgd:lr=0", ["invalid lr: 0.0", "valid: 0 < lr"]),
        ("sgd:lr=-1", ["invalid lr: -1.0", "valid: 0 < lr"]),
        ("sgd:lr=nan", ["lr", "'nan'", "finite", "valid: 0 < lr"]),
        ("sgd:lr=inf", ["lr", "finite"]),
        ("momentum:momentum=1", ["invalid momentum: 1.0", "valid: 0 <= momentum < 1"]),
        ("momentum:momentum=-0.1", ["invalid momentum: -0.1", "valid: 0 <= momentum < 1"]),
        ("sgd:nesterov=true", ["Nesterov momentum requires momentum > 0 and dampening = 0"]),
        ("nesterov:momentum=0", ["Nesterov", "got momentum=0"]),
        ("nesterov:dampening=0.1", ["Nesterov", "dampening=0.1"]),
        ("adam:beta1=1", ["invalid beta1: 1.0", "valid: 0 <= beta1 < 1"]),
        ("adam:beta1=-0.1", ["invalid beta1: -0.1"]),
        ("adamw:beta2=1.5", ["invalid beta2: 1.5", "valid: 0 <= beta2 < 1"]),
        ("rmsprop:alpha=1", ["invalid alpha: 1.0", "valid: 0 <= alpha < 1"]),
        ("rmsprop:eps=-1e-8", ["invalid eps", "valid: 0 <= eps"]),
        ("adadelta:rho=1.5", ["invalid rho: 1.5", "valid: 0 <= rho <= 1"]),
        ("adagrad:lr_decay=-1", ["invalid lr_decay", "valid: 0 <= lr_decay"]),
        ("adagrad:initial_accumulator_value=-0.1", ["initial_accumulator_value"]),
        ("sgd:weight_decay=-1", ["invalid weight_decay", "valid: 0 <= weight_decay"]),
        ("sgd:dampening=2", ["invalid dampening", "valid: 0 <= dampening <= 1"]),
        ("adam:amsgrad=maybe", ["amsgrad", "'maybe'", "true or false"]),
        ("sgd:lr=abc", ["lr", "'abc' is not a number", "valid: 0 < lr"]),
        ("sgd:lr=", ["'lr='", "key=value"]),
        ("sgd:", ["nothing after ':'"]),
        ("sgd:lr=0.1,lr=0.2", ["'lr' given twice"]),
    ],
)
def test_bad_spec_gives_one_line_message(spec: str, fragments: list[str]) -> None:
    with pytest.raises(OptiscopeError) as info:
        get_optimizer(spec)
    message = str(info.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message, (spec, message)


def test_validate_names_the_bad_row_of_a_batch() -> None:
    optimizer, good = get_optimizer("sgd:momentum=0.9,nesterov=true")
    _, bad = get_optimizer("sgd:momentum=0.5")
    optimizer.validate(optimizer.stack([good, good]))
    with pytest.raises(OptiscopeError, match="got momentum=0, dampening=0"):
        optimizer.validate(optimizer.stack([good, {**bad, "nesterov": True, "momentum": 0.0}]))
    with pytest.raises(OptiscopeError, match="invalid lr: -0.5"):
        optimizer.validate(optimizer.stack([good, {**good, "lr": -0.5}]))


@settings(max_examples=200, deadline=None)
@given(st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=8))
def test_any_momentum_value_is_accepted_in_range_or_refused_cleanly(value) -> None:
    text = repr(value) if isinstance(value, float) else value
    try:
        _, setting = get_optimizer(f"momentum:momentum={text}")
    except OptiscopeError as err:
        assert "momentum" in str(err) or "key=value" in str(err) or "spec" in str(err)
        return
    assert 0.0 <= setting["momentum"] < 1.0


# -- the seed note's forms (docstrings of momentum and rmsprop claim these identities) -------


def _seed_run(update, steps: int = 50):
    """The seed's experiment: w1^2 + 8*w2^2 from (1, 1), its analytic gradient, scalars."""
    w1, w2, path = 1.0, 1.0, [(1.0, 1.0)]
    for _ in range(steps):
        w1, w2 = update(w1, w2, 2 * w1, 16 * w2)
        path.append((w1, w2))
    return np.array(path)


def _ours(spec: str, steps: int = 50) -> np.ndarray:
    optimizer, setting = get_optimizer(spec)
    hp = optimizer.stack([setting])
    x = np.array([[1.0, 1.0]])
    state, out = optimizer.init(x, hp), [x[0]]
    for _ in range(steps):
        x, state = optimizer.update(np.array([[2 * x[0, 0], 16 * x[0, 1]]]), state, x, hp)
        out.append(x[0])
    return np.array(out)


@pytest.mark.parametrize("alpha", [0.1, 0.9, 0.99])
def test_momentum_is_the_seeds_velocity_form(alpha: float) -> None:
    lr, v = 0.1, [0.0, 0.0]

    def update(w1, w2, g1, g2):
        v[0] = alpha * v[0] + lr * g1
        v[1] = alpha * v[1] + lr * g2
        return w1 - v[0], w2 - v[1]

    seed = _seed_run(update)
    np.testing.assert_allclose(
        _ours(f"momentum:lr={lr},momentum={alpha}"), seed, rtol=1e-9, atol=1e-12
    )


@pytest.mark.parametrize("beta", [0.1, 0.9, 0.99])
def test_rmsprop_is_the_seeds_with_alpha_beta_and_eps_1e_10(beta: float) -> None:
    lr, s = 0.1, [0.0, 0.0]

    def update(w1, w2, g1, g2):
        s[0] = beta * s[0] + (1 - beta) * g1**2
        s[1] = beta * s[1] + (1 - beta) * g2**2
        return w1 - lr * g1 / (np.sqrt(s[0]) + 1e-10), w2 - lr * g2 / (np.sqrt(s[1]) + 1e-10)

    seed = _seed_run(update)
    ours = _ours(f"rmsprop:lr={lr},alpha={beta},eps=1e-10")
    np.testing.assert_allclose(ours, seed, rtol=1e-9, atol=1e-12)
    assert np.abs(_ours(f"rmsprop:lr={lr},alpha={beta}") - seed).max() > 0  # eps matters
