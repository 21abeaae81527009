"""The engine: shapes, divergence freezing, state recording, broadcasting, batched == looped."""

import warnings

import numpy as np
import pytest

import optiscope as osc
from optiscope.engine import escape_radius


def _run(function, spec, **kw):
    objective = osc.get_objective(function)
    optimizer, settings = osc.get_optimizer(spec)
    return osc.run(objective, optimizer, settings, **kw)


def test_shapes_and_gd_closed_form():
    traj = _run("aniso", "sgd:lr=0.1", steps=30, start=(1.0, 1.0))
    assert traj.positions.shape == (31, 1, 2)
    assert traj.losses.shape == traj.grad_norms.shape == traj.evaluations.shape == (31, 1)
    k = np.arange(31)
    # GD on w1^2 + 8 w2^2 multiplies w1 by (1 - 0.1*2) and w2 by (1 - 0.1*16) each step.
    np.testing.assert_allclose(traj.positions[:, 0, 0], 0.8**k, rtol=1e-13)
    np.testing.assert_allclose(traj.positions[:, 0, 1], (-0.6) ** k, rtol=1e-13, atol=1e-300)
    w = traj.positions[:, 0]
    np.testing.assert_allclose(traj.losses[:, 0], w[:, 0] ** 2 + 8 * w[:, 1] ** 2, rtol=1e-14)
    np.testing.assert_allclose(
        traj.grad_norms[:, 0], np.hypot(2 * w[:, 0], 16 * w[:, 1]), rtol=1e-14
    )
    np.testing.assert_array_equal(traj.evaluations[:, 0], k)
    assert traj.diverged_at[0] == -1


def test_divergence_is_frozen_and_reported_without_warnings():
    objective = osc.get_objective("aniso")
    optimizer, settings = osc.get_optimizer("sgd:lr=1")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        traj = osc.run(
            objective, optimizer, [settings, {**settings, "lr": 0.1}], steps=40, start=(1.0, 1.0)
        )
    # w2 is multiplied by (1 - 16) = -15 per step; it diverges at the first step past the box.
    radius = escape_radius(objective, np.ones((1, 2)))
    expected = next(k for k in range(1, 40) if 15.0**k > radius)
    assert traj.diverged_at.tolist() == [expected, -1]
    frozen = traj.positions[expected - 1 :, 0]
    assert np.all(frozen == frozen[0]), "a diverged row stays at its last good point"
    assert np.isfinite(traj.positions).all() and np.isfinite(traj.losses).all()
    assert traj.evaluations[-1, 0] == expected - 1


def test_non_finite_gradient_counts_as_divergence():
    traj = _run("log(w1) + w2**2", "sgd:lr=1", steps=5, start=(0.5, 0.5))
    # w1 -> 0.5 - 1/0.5 = -1.5: log of a negative number is NaN.
    assert traj.diverged_at[0] == 1
    np.testing.assert_array_equal(traj.positions[-1, 0], [0.5, 0.5])


def test_record_state_tracks_the_momentum_buffer():
    traj = _run(
        "aniso", "momentum:lr=0.1,momentum=0.9", steps=10, start=(1.0, 1.0), record_state=True
    )
    assert traj.states is not None and traj.states
    ((name, buf),) = [(k, v) for k, v in traj.states.items() if "momentum" in k or "buf" in k]
    assert buf.shape == (11, 1, 2)
    # torch form: w_{k+1} = w_k - lr * buf_{k+1}
    np.testing.assert_allclose(
        traj.positions[1:, 0] - traj.positions[:-1, 0], -0.1 * buf[1:, 0], rtol=1e-12
    )


def test_batched_equals_looped_bit_for_bit():
    objective = osc.get_objective("rosenbrock")
    optimizer, _ = osc.get_optimizer("adam")
    settings = [
        osc.get_optimizer(f"adam:lr={lr},beta1={b1}")[1]
        for lr, b1 in [(0.01, 0.9), (0.05, 0.5), (0.002, 0.0), (0.1, 0.99)]
    ]
    starts = np.array([[-1.2, 1.0], [0.5, -0.5], [-1.0, 2.0], [1.5, 1.5]])
    batched = osc.run(objective, optimizer, settings, steps=150, start=starts)
    for b in range(4):
        single = osc.run(objective, optimizer, settings[b], steps=150, start=starts[b])
        np.testing.assert_array_equal(batched.positions[:, b], single.positions[:, 0])
        np.testing.assert_array_equal(batched.losses[:, b], single.losses[:, 0])


def test_one_setting_many_starts_broadcasts():
    traj = _run("iso", "sgd:lr=0.1", steps=3, start=np.array([[1.0, 0.0], [0.0, 2.0]]))
    assert traj.batch == 2 and len(traj.settings) == 2


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"steps": 0}, "steps"),
        ({"steps": 10**9}, "steps"),
        ({"start": (1.0, 2.0, 3.0)}, "start"),
        ({"start": (np.nan, 1.0)}, "start"),
    ],
)
def test_run_rejects_bad_arguments(kwargs, message):
    with pytest.raises(osc.OptiscopeError, match=message):
        _run("aniso", "sgd", **kwargs)


def test_progress_is_reported_every_step():
    seen = []
    _run("aniso", "sgd:lr=0.1", steps=7, progress=seen.append)
    assert seen == list(range(1, 8))


def test_run_specs_reports_progress_over_all_groups():
    from optiscope.experiments import run_specs

    seen = []
    run_specs(
        osc.get_objective("aniso"),
        ["sgd:lr=0.1", "adam", "sgd:lr=0.05"],
        steps=5,
        progress=lambda done, total: seen.append((done, total)),
    )
    # two groups (sgd twice in one batch, adam alone): 10 steps in all, reported in order
    assert seen == [(k, 10) for k in range(1, 11)]


START_MESSAGE = "pick a point where the function and its gradient are finite"


@pytest.mark.filterwarnings("error")
@pytest.mark.parametrize(
    ("function", "start", "message"),
    [
        ("aniso", (1e200, 1e200), "invalid start (1e+200, 1e+200): f is inf there; "),
        ("log(w1)+w2**2", (-1.0, 1.0), "invalid start (-1, 1): f is nan there; "),
        ("sqrt(w1)+w2**2", (0.0, 1.0), "invalid start (0, 1): its gradient is inf there; "),
    ],
)
def test_start_where_f_or_its_gradient_is_not_finite_is_refused(function, start, message):
    with pytest.raises(osc.OptiscopeError) as info:
        _run(function, "sgd", steps=5, start=start)
    assert str(info.value) == message + START_MESSAGE
    # One bad row among several starts is named too.
    starts = np.array([[1.0, 1.0], start])
    with pytest.raises(osc.OptiscopeError, match="invalid start"):
        _run(function, "sgd", steps=5, start=starts)


@pytest.mark.filterwarnings("error")
@pytest.mark.parametrize("command", ["run", "explain", "compare"])
def test_cli_refuses_a_non_finite_start_in_one_line(command, capsys, tmp_path):
    from optiscope.cli import main

    extra = ["--out", str(tmp_path)] if command == "compare" else []
    code = main([command, "aniso", "sgd", "--start=1e200,1e200", *extra])
    captured = capsys.readouterr()
    assert code == 2
    assert captured.err == (
        f"optiscope: error: invalid start (1e+200, 1e+200): f is inf there; {START_MESSAGE}\n"
    )


def test_gradient_source_check_is_shared():
    from optiscope.engine import check_gradient_source

    lbfgs, _ = osc.get_optimizer("lbfgs")
    sgd, _ = osc.get_optimizer("sgd")
    check_gradient_source(lbfgs, False)
    check_gradient_source(sgd, True)
    with pytest.raises(osc.OptiscopeError, match="lbfgs searches along lines"):
        check_gradient_source(lbfgs, True)


def test_divergence_kind_and_point_are_recorded_per_row():
    objective = osc.get_objective("log(w1) + w2**2")
    optimizer, setting = osc.get_optimizer("sgd:lr=1")
    starts = np.array([[0.5, 0.5], [3.0, 0.0]])
    traj = osc.run(objective, optimizer, setting, steps=3, start=starts)
    assert traj.escape_radius == escape_radius(objective, starts)
    # row 0: w1 -> 0.5 - 1/0.5 = -1.5, where log is NaN; row 1: w1 = 3, 2.67, 2.29, 1.85
    assert traj.diverged_at.tolist() == [1, -1]
    assert traj.divergence_kind.tolist() == [2, 0]  # non_finite
    np.testing.assert_array_equal(traj.divergence_point[0], [0.5, 0.5])  # last good point
    assert np.isnan(traj.divergence_point[1]).all()
    aniso = osc.get_objective("aniso")
    gd, fast = osc.get_optimizer("sgd:lr=1")
    escaped = osc.run(aniso, gd, fast, steps=40, start=(1.0, 1.0))
    k = int(escaped.diverged_at[0])
    assert escaped.divergence_kind[0] == 1  # left_box: the escaped point is still finite
    np.testing.assert_allclose(escaped.divergence_point[0], [(-1.0) ** k, (-15.0) ** k])
    assert np.abs(escaped.divergence_point[0]).max() > escaped.escape_radius
    row = escaped.row(0)
    assert row.divergence_kind.tolist() == [1] and row.divergence_point.shape == (1, 2)
