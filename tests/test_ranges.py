"""Sweep specs: range syntax, validation against hyperparameter intervals, grids and samples."""

from __future__ import annotations

import math

import numpy as np
import pytest

from optiscope.errors import OptiscopeError
from optiscope.optimizers import get_optimizer
from optiscope.ranges import grid, parse_range, parse_starts, parse_sweep_spec, sample


def test_linear_log_list_and_fixed_values() -> None:
    spec = parse_sweep_spec(
        "momentum:lr=0.001..1@log4,momentum=0..0.9@4,nesterov=false|true,dampening=0"
    )
    lr, mu, nesterov = spec.axes
    assert lr.log and lr.values[0] == 0.001 and lr.values[-1] == 1.0
    assert np.allclose(np.diff(np.log10(lr.values)), 1.0)  # log-spaced: one decade apart
    assert not mu.log and np.allclose(mu.values, [0.0, 0.3, 0.6, 0.9])
    assert nesterov.values == (False, True) and nesterov.kind == "list"
    assert spec.fixed == {"dampening": "0"}
    assert spec.optimizer.name == "momentum"


def test_choices_and_integer_ranges() -> None:
    spec = parse_sweep_spec("sgd:lr=0.1,momentum_form=torch|seed")
    assert spec.axes[0].values == ("torch", "seed")
    history = get_optimizer("lbfgs")[0].schema()["history_size"]
    axis = parse_range("1..3@5", "history_size", history)
    assert axis.values == (1, 2, 3)  # rounded, distinct points of an integer range
    assert all(isinstance(v, int) for v in axis.values)


def test_grid_crosses_axes_last_fastest() -> None:
    spec = parse_sweep_spec("sgd:lr=0.1|0.2,momentum=0|0.5|0.9")
    assert grid(spec.axes) == [
        (0.1, 0.0), (0.1, 0.5), (0.1, 0.9), (0.2, 0.0), (0.2, 0.5), (0.2, 0.9)
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        ("sgd:lr=1..", "count after '@'"),
        ("sgd:lr=a..b@3", "not a number"),
        ("sgd:lr=1..2@0", "0 points"),
        ("sgd:lr=0..2@log5", "0 < lo"),
        ("sgd:lr=-1..2@log5", "0 < lo"),
        ("sgd:lr=0.1..1@", "count after '@'"),
        ("sgd:lr=0.1..1", "count after '@'"),
        ("sgd:lr=0.1..1@x3", "is not N or logN"),
        ("sgd:lr=|", "empty item"),
        ("sgd:lr=0.1||0.2", "empty item"),
        ("sgd:lr=0.1|0.1", "repeats"),
        ("sgd:lr=2..1@3", "lo must be below hi"),
        ("sgd:lr=..1@3", "needs lo..hi"),
        ("sgd:nesterov=0..1@2", "takes a list"),
        ("sgd:lr=1e-300..1e300@log3", None),  # valid: huge but finite
    ],
)
def test_malformed_ranges_are_one_line_errors(spec: str, words: str | None) -> None:
    if words is None:
        parse_sweep_spec(spec)
        return
    with pytest.raises(OptiscopeError) as err:
        parse_sweep_spec(spec)
    assert words in str(err.value) and "\n" not in str(err.value)


def test_range_outside_the_valid_interval_names_both() -> None:
    with pytest.raises(OptiscopeError) as err:
        parse_sweep_spec("momentum:lr=0.1,momentum=0..1.5@4")
    message = str(err.value)
    assert "momentum" in message and "1.5" in message and "0 <= momentum" in message
    with pytest.raises(OptiscopeError, match="outside the valid interval"):
        parse_sweep_spec("adam:beta2=0.9..1@3")  # beta2 < 1
    with pytest.raises(OptiscopeError, match="invalid list for nesterov"):
        parse_sweep_spec("sgd:nesterov=false|maybe")


def test_unknown_hyperparameter_and_optimizer() -> None:
    with pytest.raises(OptiscopeError, match="unknown hyperparameter 'beta'.*valid: lr"):
        parse_sweep_spec("momentum:beta=0..1@3")
    with pytest.raises(OptiscopeError, match="unknown optimizer|did you mean"):
        parse_sweep_spec("momentun:lr=0..1@3")


def test_samples_are_seeded_and_inside_the_box() -> None:
    spec = parse_sweep_spec("adam:lr=1e-4..1@log5,beta1=0.5..0.99@5,amsgrad=false|true")
    for method in ("random", "sobol"):
        a = sample(spec.axes, 256, method, seed=3)
        assert a == sample(spec.axes, 256, method, seed=3)
        assert a != sample(spec.axes, 256, method, seed=4)
        lr, beta1, ams = (np.array(c) for c in zip(*a, strict=True))
        assert lr.min() >= 1e-4 and lr.max() <= 1.0
        assert beta1.min() >= 0.5 and beta1.max() <= 0.99
        assert set(ams.tolist()) == {False, True}
        # log range drawn uniformly in log space: a quarter of the draws below 1e-3
        below = np.mean(lr < 1e-3)
        assert 0.15 < below < 0.35, below
    assert sample(spec.axes, 64, "random", 0) != sample(spec.axes, 64, "sobol", 0)


def test_sampling_needs_a_method_and_a_range() -> None:
    spec = parse_sweep_spec("sgd:lr=0.1..1@3")
    with pytest.raises(OptiscopeError, match="random or sobol"):
        sample(spec.axes, 10, "grid", 0)
    with pytest.raises(OptiscopeError, match="at least one range"):
        sample((), 10, "random", 0)
    with pytest.raises(OptiscopeError, match="invalid samples"):
        sample(spec.axes, 0, "random", 0)


def test_start_ranges() -> None:
    axes, layout = parse_starts("-2..2@5,1.5", 2, ("w1", "w2"))
    assert [a.name for a in axes] == ["start_w1"] and layout == [0, 1.5]
    assert axes[0].values == (-2.0, -1.0, 0.0, 1.0, 2.0)
    with pytest.raises(OptiscopeError, match="expected 2 comma-separated"):
        parse_starts("-2..2@5", 2, ("w1", "w2"))
    with pytest.raises(OptiscopeError, match="start_w2"):
        parse_starts("-2..2@5,x", 2, ("w1", "w2"))
    assert math.isclose(
        parse_starts("1e-3..1@log3,0", 2, ("w1", "w2"))[0][0].values[1], 0.031622776601683794
    )
