"""Optimizer internals: each rule checked against the recorded trajectory, the internals figure's
panels, and the CLI's --internals flags.

Gradients of aniso, f = w1^2 + 8*w2^2, are written out here (g = (2*w1, 16*w2)) so that the
measured steps are recomputed independently of the library.
"""

import numpy as np
import pytest
from PIL import Image

from optiscope.cli import main
from optiscope.errors import OptiscopeError
from optiscope.experiments import run_specs
from optiscope.internals import (
    effective_step_sentence,
    internals_of,
    measured_step,
    settled_steps,
)
from optiscope.objectives import get_objective

ANISO = get_objective("aniso")
SPECS = [
    "sgd:lr=0.05",
    "rmsprop:lr=0.05,alpha=0.9,eps=1e-10",
    "rmsprop:lr=0.01,alpha=0.9,centered=true",
    "adam:lr=0.1",
    "adam:lr=0.1,amsgrad=true,beta2=0.9",
    "adagrad:lr=0.5,lr_decay=0.1",
    "adadelta:lr=1,rho=0.9",
    "ftrl:lr=0.5,beta=0.1,l2=0.01",
    "momentum:lr=0.05,momentum=0.9",
    "nesterov:lr=0.05,momentum=0.9",
    "sgd:lr=0.1,schedule=step,step_size=5,gamma=0.5",
]


def aniso_grad(x):
    return x * np.array([2.0, 16.0])


@pytest.fixture(scope="module")
def runs():
    results = run_specs(ANISO, SPECS, steps=30, start=(1.0, 1.0), record_state=True)
    return {r.spec: r for r in results}


def path_of(result):
    return result.trajectories.positions[:, result.row]


def state_of(result, name):
    return result.trajectories.states[name][:, result.row]


def measured(result):
    x = path_of(result)
    return np.abs(np.diff(x, axis=0)) / np.abs(aniso_grad(x[:-1]))


def test_gradient_descent_steps_by_lr(runs):
    it = internals_of(runs["sgd:lr=0.05"])
    np.testing.assert_allclose(measured(runs["sgd:lr=0.05"]), 0.05, rtol=1e-12)
    np.testing.assert_allclose(it.step_measured.values, 0.05, rtol=1e-12)
    np.testing.assert_allclose(it.step_rule.values, 0.05, rtol=0)
    assert it.sign_reference is None and it.velocity == () and it.lr is None


@pytest.mark.parametrize(
    "spec", ["rmsprop:lr=0.05,alpha=0.9,eps=1e-10", "rmsprop:lr=0.01,alpha=0.9,centered=true"]
)
def test_rmsprop_rule_is_the_measured_step(runs, spec):
    result = runs[spec]
    eps = result.settings["eps"]
    v = state_of(result, "square_avg")[1:]
    gbar = state_of(result, "grad_avg")[1:] if result.settings["centered"] else 0.0
    rule = result.settings["lr"] / (np.sqrt(v - gbar**2) + eps)
    np.testing.assert_allclose(measured(result), rule, rtol=1e-12)
    it = internals_of(result)
    np.testing.assert_allclose(it.step_rule.values, rule, rtol=1e-14)
    assert [s.name for s in it.accumulators] == (
        ["square_avg", "grad_avg"] if result.settings["centered"] else ["square_avg"]
    )
    assert it.velocity == ()  # momentum 0: the buffer is not a velocity


@pytest.mark.parametrize("spec", ["adam:lr=0.1", "adam:lr=0.1,amsgrad=true,beta2=0.9"])
def test_adam_step_is_rule_times_m(runs, spec):
    result = runs[spec]
    s = result.settings
    k = np.arange(1, 31)[:, None]
    v = state_of(result, "max_exp_avg_sq" if s["amsgrad"] else "exp_avg_sq")[1:]
    rule = s["lr"] / (1 - s["beta1"] ** k) / (np.sqrt(v) / np.sqrt(1 - s["beta2"] ** k) + s["eps"])
    m = state_of(result, "exp_avg")[1:]
    np.testing.assert_allclose(
        np.abs(np.diff(path_of(result), axis=0)), rule * np.abs(m), rtol=1e-12
    )
    it = internals_of(result)
    np.testing.assert_allclose(it.step_rule.values, rule, rtol=1e-14)
    assert [s.name for s in it.velocity] == ["exp_avg"]
    # the arrows: beta1 times the displacement m caused at that step
    np.testing.assert_allclose(it.drift[1:], -s["beta1"] * rule * m, rtol=1e-14)


def test_adagrad_rule_with_lr_decay(runs):
    result = runs["adagrad:lr=0.5,lr_decay=0.1"]
    k = np.arange(1, 31)[:, None]
    rule = 0.5 / (1 + (k - 1) * 0.1) / (np.sqrt(state_of(result, "sum")[1:]) + 1e-10)
    np.testing.assert_allclose(measured(result), rule, rtol=1e-12)
    np.testing.assert_allclose(internals_of(result).step_rule.values, rule, rtol=1e-14)


def test_adadelta_rule_uses_the_previous_update_average(runs):
    result = runs["adadelta:lr=1,rho=0.9"]
    u, v = state_of(result, "acc_delta"), state_of(result, "square_avg")
    rule = 1.0 * np.sqrt(u[:-1] + 1e-6) / np.sqrt(v[1:] + 1e-6)
    np.testing.assert_allclose(measured(result), rule, rtol=1e-12)
    np.testing.assert_allclose(internals_of(result).step_rule.values, rule, rtol=1e-14)


def test_ftrl_rate_is_the_measured_step_after_the_first(runs):
    result = runs["ftrl:lr=0.5,beta=0.1,l2=0.01"]
    n = state_of(result, "accumulator")[1:]
    rate = 0.5 / (np.sqrt(n) + 0.1 + 2 * 0.01 * 0.5)  # alpha / (beta + sqrt(n)), Keras's l2
    # from step 2 on, w_k = w_(k-1) - rate_k * g: z's sigma*w term cancels the change of q
    np.testing.assert_allclose(measured(result)[1:], rate[1:], rtol=1e-12)
    it = internals_of(result)
    np.testing.assert_allclose(it.step_rule.values, rate, rtol=1e-14)
    assert [(s.name, s.signed) for s in it.accumulators] == [
        ("accumulator", False),
        ("linear", True),
    ]


@pytest.mark.parametrize("nesterov", [False, True])
def test_momentum_velocity_and_arrows(runs, nesterov):
    result = runs["nesterov:lr=0.05,momentum=0.9" if nesterov else "momentum:lr=0.05,momentum=0.9"]
    x, buf = path_of(result), state_of(result, "momentum_buffer")
    dx = np.diff(x, axis=0)
    direction = aniso_grad(x[:-1]) + 0.9 * buf[1:] if nesterov else buf[1:]
    np.testing.assert_allclose(dx, -0.05 * direction, rtol=1e-12, atol=1e-15)
    it = internals_of(result)
    np.testing.assert_allclose(it.step_rule.values, 0.05)
    carry = 0.81 if nesterov else 0.9
    np.testing.assert_allclose(it.drift[1:], -carry * 0.05 * buf[1:], rtol=1e-14)
    if not nesterov:  # heavy ball: the carried part is mu times the step just taken
        np.testing.assert_allclose(it.drift[1:], 0.9 * dx, rtol=1e-12, atol=1e-15)
    assert it.drift[0].tolist() == [0.0, 0.0] and it.velocity[0].signed


def test_scheduled_lr(runs):
    result = runs["sgd:lr=0.1,schedule=step,step_size=5,gamma=0.5"]
    k = np.arange(1, 31)
    lr = 0.1 * 0.5 ** ((k - 1) // 5)
    it = internals_of(result)
    np.testing.assert_allclose(it.lr.values, lr, rtol=1e-15)
    np.testing.assert_allclose(measured(result), lr[:, None] * np.ones((1, 2)), rtol=1e-12)
    np.testing.assert_allclose(it.step_rule.values, lr[:, None] * np.ones((1, 2)), rtol=1e-15)


def test_done_when_rmsprop_moves_like_sign_descent():
    (result,) = run_specs(
        ANISO, ["rmsprop:lr=0.1,alpha=0.1,eps=1e-10"], steps=100, start=(1, 1), record_state=True
    )
    it = internals_of(result)
    ratio = it.step_rule.values / it.sign_reference.values  # effective / (lr / |g_i|)
    late = slice(20, None)  # after the first steps
    np.testing.assert_allclose(ratio[late], 1.0, rtol=0.03)
    moved = np.abs(np.diff(it.positions, axis=0))
    np.testing.assert_allclose(moved[late], 0.1, rtol=0.03)  # |dx_i| ~ lr in both coordinates
    assert np.abs(it.positions[-1]).tolist() == pytest.approx([0.05, 0.05], rel=1e-6)  # 2-cycle
    sentence = effective_step_sentence(it, ["w1", "w2"])
    assert "settled to 1 (w1) and 0.125 (w2)" in sentence and "sign descent" in sentence
    assert "steps of 0.1, 0.1 per coordinate" in sentence


def test_no_sentence_before_the_steps_settle(runs):
    assert effective_step_sentence(internals_of(runs["sgd:lr=0.05"]), ["w1", "w2"]) is None
    adam = internals_of(runs["adam:lr=0.1"])  # Adam's |dx|/|g| swings with m: never settled
    assert settled_steps(adam) is None and effective_step_sentence(adam, ["w1", "w2"]) is None


def test_measured_step_is_the_web_apis_rule(runs):
    from optiscope.web.compute import effective_step

    result = runs["momentum:lr=0.05,momentum=0.9"]
    web = np.array(effective_step(result), dtype=float)  # None -> nan
    ours = measured_step(ANISO, path_of(result))
    np.testing.assert_array_equal(np.isnan(web), np.isnan(ours))
    np.testing.assert_allclose(web, ours, rtol=0)
    np.testing.assert_allclose(ours, measured(result), rtol=1e-12)
    zero = measured_step(ANISO, np.array([[0.0, 1.0], [0.0, 0.5]]))  # g_1 = 0: undefined
    assert np.isnan(zero[0, 0]) and zero[0, 1] == pytest.approx(0.5 / 16)


def test_diverged_run_is_cut_before_it_diverged():
    (result,) = run_specs(ANISO, ["sgd:lr=0.2"], steps=100, start=(1, 1), record_state=True)
    k = int(result.trajectories.diverged_at[result.row])
    assert k > 0
    it = internals_of(result)
    assert it.steps == k - 1 and np.isfinite(it.positions).all()
    np.testing.assert_allclose(it.step_measured.values, 0.2, rtol=1e-12)


def test_needs_recorded_state():
    (result,) = run_specs(ANISO, ["sgd:lr=0.1"], steps=5)
    with pytest.raises(OptiscopeError, match="record_state=True"):
        internals_of(result)


@pytest.fixture(scope="module")
def ftrl_data():
    objective = get_objective("linreg:features=all")  # 10 features and the bias
    return run_specs(objective, ["ftrl:lr=20,l1=50", "adam:lr=1"], steps=20, record_state=True)


def test_zero_counts_on_a_data_objective(ftrl_data):
    for result in ftrl_data:
        x = result.trajectories.positions[:, result.row]
        counts = [int(np.sum(point == 0.0)) for point in x]
        it = internals_of(result)
        assert it.zeros.values.tolist() == counts
    ftrl = internals_of(ftrl_data[0])
    assert ftrl.zeros.values[1:].max() > 0  # l1 holds weights at exactly 0
    assert internals_of(ftrl_data[1]).zeros.values[1:].max() == 0


# -- the figure ------------------------------------------------------------------------------


def rows(fig):
    return [
        {
            ax.get_gid().split(":")[1]: ax
            for ax in sub.axes
            if (ax.get_gid() or "").startswith("internals:")
        }
        for sub in fig.subfigs
    ]


def test_figure_panels_per_family(runs):
    from optiscope.plots.internals import internals_figure

    picked = [
        runs["rmsprop:lr=0.05,alpha=0.9,eps=1e-10"],
        runs["momentum:lr=0.05,momentum=0.9"],
        runs["adam:lr=0.1"],
        runs["sgd:lr=0.1,schedule=step,step_size=5,gamma=0.5"],
    ]
    fig = internals_figure(picked)
    rmsprop, momentum, adam, scheduled = rows(fig)
    columns = ["path", "signed", "accumulators", "step", "lr"]
    assert all(list(r) == columns for r in (rmsprop, momentum, adam, scheduled))
    assert "lr / (sqrt(v) + eps)" in rmsprop["step"].get_title()
    assert "v = alpha*v + (1-alpha)*g^2" in rmsprop["accumulators"].get_title()
    assert "no velocity" in rmsprop["signed"].texts[0].get_text()
    assert rmsprop["accumulators"].get_yscale() == "log"
    assert rmsprop["step"].get_yscale() == "log"
    assert "buf = mu*buf + g" in momentum["signed"].get_title()
    assert any(c.get_gid() == "velocity_arrows" for c in momentum["path"].collections)
    assert not any(c.get_gid() == "velocity_arrows" for c in rmsprop["path"].collections)
    assert "m = m + (1-beta1)*(g - m)" in adam["signed"].get_title()
    assert "step" in scheduled["lr"].get_title() and scheduled["lr"].get_yscale() == "log"
    # the same step axis everywhere
    limits = {r[c].get_xlim() for r in (rmsprop, adam) for c in ("accumulators", "step")}
    assert len(limits) == 1


def test_figure_on_a_data_objective(ftrl_data):
    from optiscope.plots.internals import internals_figure

    fig = internals_figure(ftrl_data)
    ftrl, adam = rows(fig)
    assert list(ftrl) == ["parameters", "signed", "accumulators", "step", "zeros"]
    assert "6 of 11" in ftrl["parameters"].get_title()
    assert "l1 = 50" in ftrl["zeros"].get_title()
    (line,) = ftrl["zeros"].get_lines()
    assert line.get_ydata().tolist() == internals_of(ftrl_data[0]).zeros.values.tolist()


def test_figure_limits():
    from optiscope.plots.internals import MAX_RUNS, internals_figure

    results = run_specs(ANISO, ["sgd:lr=0.1"] * (MAX_RUNS + 1), steps=3, record_state=True)
    with pytest.raises(OptiscopeError, match=f"at most {MAX_RUNS}"):
        internals_figure(results)
    with pytest.raises(OptiscopeError, match="nothing to plot"):
        internals_figure([])


# -- the CLI -----------------------------------------------------------------------------------


def cli(capsys, *argv):
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_png(path):
    with Image.open(path) as image:
        assert image.format == "PNG" and image.width > 500 and image.height > 300


def test_cli_flags_write_the_figure(tmp_path, capsys):
    spec, start = "rmsprop:lr=0.1,alpha=0.1,eps=1e-10", "--start=1,1"
    code, out, err = cli(capsys, "run", "aniso", spec, start, "-n", "8", "--internals",
                         str(tmp_path / "run.png"))  # fmt: skip
    assert code == 0, err
    assert_png(tmp_path / "run.png") and "internals:" in out
    code, out, err = cli(capsys, "compare", "aniso", "momentum:lr=0.1", start, "-n", "8",
                         "--internals", "--out", str(tmp_path / "c"))  # fmt: skip
    assert code == 0, err
    assert_png(tmp_path / "c" / "internals.png")
    assert_png(tmp_path / "c" / "compare.png")
    code, out, err = cli(capsys, "explain", "aniso", spec, start, "-n", "30", "--internals",
                         str(tmp_path / "e.png"))  # fmt: skip
    assert code == 0, err
    assert_png(tmp_path / "e.png")
    assert "settled to 1 (w1) and 0.125 (w2)" in out  # measured by the internals


@pytest.mark.parametrize(
    "argv",
    [
        ["run", "aniso", "sgd", "--internals", "x.pgf"],
        ["explain", "aniso", "sgd", "--internals", "/dev/null"],
        ["run", "aniso", "sgd", "--internals", "figure.xyz"],
        ["compare", "aniso", *(["sgd"] * 7), "--internals", "--out", "OUT"],
    ],
)
def test_cli_bad_internals_is_one_line_before_running(tmp_path, capsys, monkeypatch, argv):
    import optiscope.cli as cli_module

    def refuse(*args, **kwargs):
        raise AssertionError("ran before refusing")

    monkeypatch.setattr(cli_module, "run_specs", refuse)
    argv = [str(tmp_path / "out") if a == "OUT" else a for a in argv]
    code, out, err = cli(capsys, *argv)
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and err.startswith("optiscope: error:")
    assert not (tmp_path / "out").exists()
