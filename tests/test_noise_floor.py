"""The stationary noise floor: closed forms, the Lyapunov equation, and long engine runs.

The simulations are one batched engine run over many independent random streams (rows),
started at the minimizer; the floor is the mean loss gap over rows and over the steps after
the transient.
"""

import math

import numpy as np
import pytest

import optiscope as osc
from optiscope.explain import explain
from optiscope.stochastic import gradient_source
from optiscope.tables import num
from optiscope.theory import linear_setting, local_model
from optiscope.theory.noise import (
    epoch_variance,
    gradient_noise,
    lyapunov_variance,
    noise_floor,
    per_example_gradients,
    stationary_variance,
)

SPECS = [
    "sgd:lr=0.1",
    "momentum:lr=0.05,momentum=0.5",
    "momentum:lr=0.02,momentum=0.9",
    "nesterov:lr=0.05,momentum=0.5",
    "sgd:lr=0.05,momentum=0.5,dampening=0.3,weight_decay=0.5",
]


def _setting(spec):
    optimizer, params = osc.get_optimizer(spec)
    return optimizer, params, linear_setting(optimizer.name, params)


@pytest.mark.parametrize("spec", SPECS)
@pytest.mark.parametrize("lam", [0.5, 2.0, 16.0])
def test_closed_form_solves_the_lyapunov_equation(spec, lam):
    setting = _setting(spec)[2]
    closed = stationary_variance(setting, lam, 0.25)
    assert closed == pytest.approx(lyapunov_variance(setting, lam, 0.25), rel=1e-10)


def test_closed_forms_of_the_module_notes():
    lr, b, lam, s2 = 0.05, 0.5, 3.0, 0.7
    gd = _setting("sgd:lr=0.05")[2]
    hb = _setting("momentum:lr=0.05,momentum=0.5")[2]
    ne = _setting("nesterov:lr=0.05,momentum=0.5")[2]
    h = lr * lam
    assert stationary_variance(gd, lam, s2) == pytest.approx(lr * s2 / (lam * (2 - h)))
    assert stationary_variance(hb, lam, s2) == pytest.approx(
        lr * s2 * (1 + b) / (lam * (1 - b) * (2 * (1 + b) - h))
    )
    assert stationary_variance(ne, lam, s2) == pytest.approx(
        lr
        * s2
        * (1 + b + b * h + 2 * b * b * h)
        / (lam * (1 - b + b * h) * (2 + 2 * b - (1 + 2 * b) * h))
    )
    unstable = _setting("sgd:lr=0.2")[2]  # lr*lam = 3.2 > 2
    assert stationary_variance(unstable, 16.0, s2) is None


@pytest.mark.parametrize("spec", SPECS)
def test_floor_matches_many_seeds_of_the_engine(spec):
    f = osc.get_objective("aniso")
    model = local_model(f, (1.0, 1.0))
    optimizer, params, setting = _setting(spec)
    predicted = noise_floor(model, setting, gradient_noise(f, model, sigma=0.5))["floor"]
    rows, steps, burn = 2000, 300, 150
    traj = osc.run(
        f,
        optimizer,
        params,
        steps=steps,
        start=np.zeros((rows, 2)),
        gradient=gradient_source(f, 0.5, None, seed=3, streams=np.arange(rows)),
    )
    measured = float(np.mean(traj.losses[burn:]))  # f_min = 0
    # 2000 rows x 150 correlated steps: the mean is known to about 1%
    assert measured == pytest.approx(predicted, rel=0.04)


def test_gd_floor_on_aniso_is_the_sum_of_two_directions():
    f = osc.get_objective("aniso")
    model = local_model(f, (1.0, 1.0))
    floor = noise_floor(model, _setting("sgd:lr=0.1")[2], gradient_noise(f, model, 0.5))
    lr, s2 = 0.1, 0.25
    expected = [lr * s2 / (2 * (2 - lr * lam)) for lam in (2.0, 16.0)]
    assert floor["per_direction"] == pytest.approx(expected)
    assert floor["floor"] == pytest.approx(sum(expected))
    assert num(floor["floor"]) == "0.03819"


@pytest.mark.parametrize("batch", [8, 32, 100])
def test_mini_batch_floor_without_replacement_matches_the_engine(batch):
    """Batches of one epoch are negatively correlated (they sum to the full gradient): the
    epoch computation predicts the measured floor; the independent-noise formula with the
    finite-population factor does not (about 3.3x too high at m = 100)."""
    f = osc.get_objective("linreg")
    model = local_model(f)
    optimizer, params, setting = _setting("sgd:lr=0.1")
    noise = gradient_noise(f, model, 0.0, batch)
    predicted = noise_floor(model, setting, noise)["floor"]
    independent = sum(
        lam / 2 * stationary_variance(setting, lam, v)
        for lam, v in zip(model.eigenvalues, noise.step_variance(), strict=True)
    )
    rows, steps = 200, 600
    traj = osc.run(
        f,
        optimizer,
        params,
        steps=steps,
        start=np.repeat(model.point[None], rows, axis=0),
        gradient=gradient_source(f, 0.0, batch, seed=1, streams=np.arange(rows)),
    )
    measured = float(np.mean(traj.losses[200:] - f.f_min))
    assert measured == pytest.approx(predicted, rel=0.06)
    assert abs(independent - measured) > 3 * abs(predicted - measured)


def test_per_example_gradients_average_to_the_gradient():
    f = osc.get_objective("logreg")
    x = np.array([0.3, -0.2])
    per = per_example_gradients(f, x)
    assert per.shape == (f.examples, 2)
    np.testing.assert_allclose(per.mean(axis=0), f.grad(x[None])[0], rtol=1e-12, atol=1e-14)


def test_full_batch_has_no_noise_and_one_example_batches_have_all_of_it():
    f = osc.get_objective("linreg")
    model = local_model(f)
    setting = _setting("sgd:lr=0.1")[2]
    full = gradient_noise(f, model, 0.0, f.examples)
    assert noise_floor(model, setting, full)["floor"] == pytest.approx(0.0, abs=1e-20)
    ones = gradient_noise(f, model, 0.0, 1)
    # batch 1: Var = S2 (N-1)/(N-1) = S2 per step
    np.testing.assert_allclose(ones.step_variance(), ones.example_variance, rtol=1e-12)
    assert epoch_variance(setting, 1.0, ones, 0) > 0.0


def test_explain_states_the_floor_and_its_measured_value():
    data = explain("aniso", ["sgd:lr=0.1"], steps=200, start=(1.0, 1.0), noise=0.5)
    run = data["runs"][0]
    floor = run["noise_floor"]
    text = " ".join(run["text"])
    a, b = floor["measured_steps"]
    assert "With gradient noise sigma 0.5, gradient descent cannot settle" in text.replace(
        "Noise: with", "With"
    )
    assert f"noise floor is a mean loss gap of {num(floor['predicted'])}" in text
    assert f"measured {num(floor['measured_mean'])}" in text and f"over steps {a}-{b}" in text
    assert floor["predicted"] == pytest.approx(0.25 * 0.1 / 2 * (1 / 1.8 + 1 / 0.4))
    # the measured mean is that of the run's own loss gaps over those steps
    path = osc.run(
        osc.get_objective("aniso"),
        *osc.get_optimizer("sgd:lr=0.1"),
        steps=200,
        start=(1.0, 1.0),
        gradient=gradient_source(osc.get_objective("aniso"), 0.5, None, 0, np.array([0])),
    )
    assert floor["measured_mean"] == pytest.approx(float(np.mean(path.losses[a : b + 1])))
    # the noise-free steps and rate are not presented as what the run does
    assert "needs about" not in text and "theory predicts" not in text
    assert "until the loss gap reaches the noise floor" in text


def test_adaptive_methods_under_noise_get_no_predicted_floor():
    data = explain("aniso", ["adam:lr=0.05"], steps=100, start=(1.0, 1.0), noise=0.5)
    run = data["runs"][0]
    text = " ".join(run["text"])
    assert run["noise_floor"]["predicted"] is None
    assert "does not predict the noise floor of adam" in text
    assert num(run["noise_floor"]["measured_mean"]) in text


def test_a_floor_below_the_tolerance_is_reachable():
    data = explain("aniso", ["sgd:lr=0.01"], steps=400, start=(1.0, 1.0), noise=1e-4, tol=1e-6)
    floor = data["runs"][0]["noise_floor"]
    assert floor["predicted"] < 1e-6
    assert "fluctuates" in " ".join(data["runs"][0]["text"])


def test_mini_batch_run_is_explained_with_its_floor():
    data = explain("linreg", ["sgd:lr=0.1"], steps=300, batch_size="32")
    run = data["runs"][0]
    text = " ".join(run["text"])
    assert "mini-batches of 32 of 442 examples (drawn without replacement)" in text
    assert num(run["noise_floor"]["predicted"]) in text
    assert math.isfinite(run["noise_floor"]["measured_mean"])


def test_the_standard_error_of_the_measured_floor_is_calibrated():
    """(measured mean - floor) / standard error over many independent runs has a spread
    near 1: the error bar explain prints is neither too small nor too large."""
    from optiscope.explain import _standard_error

    f = osc.get_objective("aniso")
    rows, steps = 300, 400
    traj = osc.run(
        f,
        *osc.get_optimizer("sgd:lr=0.1"),
        steps=steps,
        start=np.ones((rows, 2)),
        gradient=gradient_source(f, 0.5, None, seed=5, streams=np.arange(rows)),
    )
    floor = 0.25 * 0.1 / 2 * (1 / 1.8 + 1 / 0.4)
    tail = traj.losses[steps // 2 :]
    z = [(np.mean(tail[:, b]) - floor) / _standard_error(tail[:, b]) for b in range(rows)]
    assert 0.8 < float(np.std(z)) < 1.3 and abs(float(np.mean(z))) < 0.3
