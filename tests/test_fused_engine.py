"""The fused compiled engine against engine.run, the NumPy reference.

Bit for bit where both do the same floating-point operations: the kernels' arithmetic, the
polynomial catalogue functions (aniso, rosenbrock, himmelblau), sqrt, and Adam's ``beta ** t``
(the fused engine takes it from NumPy's own ``power``). Within 1e-12 (relative) where NumPy's
vectorized transcendental functions and the C library's scalar ones may differ by an ulp: a
typed formula with ``sin``, and the noise (Box-Muller's ``log`` and ``cos``); those runs are
short and well conditioned, so an ulp per step stays far below the tolerance.

Each (function, optimizer kernel, schedule, noise) combination compiles once (a few seconds
cold, cached on disk after), so the cases below share combinations on purpose.
"""

import ast

import numba
import numpy as np
import pytest

from optiscope import engine, fused, metrics
from optiscope.errors import OptiscopeError
from optiscope.fused.specialize import specialize_kernel
from optiscope.objectives import get_objective
from optiscope.optimizers import get_optimizer
from optiscope.stochastic import gradient_source

RECORDED = ("positions", "losses", "grad_norms", "evaluations", "diverged_at")
PER_ROW = ("divergence_kind", "divergence_point", "converged_at", "stop_codes")
STARTS = np.array([[1.0, 1.0], [-0.7, 0.4], [0.3, -1.2]])


def optimizer(name):
    return get_optimizer(name)[0]


def assert_same_run(got, want, rtol=0.0):
    """Every recorded array equal (NaN where NaN), exactly or within ``rtol``."""
    for name in RECORDED + PER_ROW:
        a, b = np.asarray(getattr(got, name)), np.asarray(getattr(want, name))
        assert a.shape == b.shape, name
        if rtol == 0.0 or a.dtype.kind != "f":
            assert np.array_equal(a, b, equal_nan=True), name
        else:
            np.testing.assert_allclose(a, b, rtol=rtol, atol=0.0, err_msg=name)
    if want.learning_rates is None:
        assert got.learning_rates is None
    else:
        assert np.array_equal(got.learning_rates, want.learning_rates)


def both(function, name, settings, steps=40, starts=STARTS, rtol=0.0):
    """Both engines on every (setting, start) pair; returns the fused run."""
    objective, opt = get_objective(function), optimizer(name)
    starts = np.asarray(starts, dtype=float)
    settings = [s for s in settings for _ in starts]  # every setting from every start
    starts = np.tile(starts, (len(settings) // len(starts), 1))
    got = fused.run_trajectories(objective, opt, settings, starts, steps)
    want = engine.run(objective, opt, settings, steps, starts, engine="numpy")
    assert_same_run(got, want, rtol)
    return got


# one batch per kernel: every boolean and choice option, weight decay, both values of each
CASES = {
    "sgd": (
        "aniso",
        "sgd",
        [
            {"lr": 0.05},
            {"lr": 0.05, "momentum": 0.9},
            {"lr": 0.05, "momentum": 0.9, "nesterov": True},
            {"lr": 0.05, "momentum": 0.5, "dampening": 0.3, "weight_decay": 0.1},
            {"lr": 0.05, "momentum": 0.8, "momentum_form": "seed"},
        ],
    ),
    "momentum-rosenbrock": ("rosenbrock", "momentum", [{"lr": 1e-3}, {"lr": 5e-4}]),
    "adam": (
        "aniso",
        "adam",
        [
            {"lr": 0.1},
            {"lr": 0.1, "amsgrad": True},
            {"lr": 0.05, "beta1": 0.5, "weight_decay": 0.1},
        ],
    ),
    "adamw": ("rosenbrock", "adamw", [{"lr": 0.05}, {"lr": 0.02, "amsgrad": True}]),
    "rmsprop": (
        "aniso",
        "rmsprop",
        [
            {"lr": 0.01},
            {"lr": 0.01, "centered": True},
            {"lr": 0.01, "momentum": 0.5, "weight_decay": 0.1},
            {"lr": 0.01, "momentum": 0.5, "centered": True},
        ],
    ),
    "adagrad": (
        "himmelblau",
        "adagrad",
        [{"lr": 0.5}, {"lr": 0.5, "lr_decay": 0.1, "initial_accumulator_value": 0.1}],
    ),
    "adadelta": ("rosenbrock", "adadelta", [{"lr": 1.0}, {"lr": 0.5, "rho": 0.5}]),
    "ftrl": ("aniso", "ftrl", [{"lr": 0.5}, {"lr": 0.5, "l1": 0.05, "l2": 0.1, "beta": 0.5}]),
}


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_fused_equals_engine_bit_for_bit(case):
    function, name, settings = CASES[case]
    both(function, name, settings)


# every option value alone in its call: the loop prints it into the kernel and folds it
FOLDED = {
    "sgd-nesterov": ("aniso", "sgd", {"lr": 0.05, "momentum": 0.9, "nesterov": True}),
    "sgd-seed-dampening": (
        "aniso",
        "sgd",
        {"lr": 0.05, "momentum": 0.8, "momentum_form": "seed", "dampening": 0.3},
    ),
    "adam-amsgrad": ("rosenbrock", "adam", {"lr": 0.02, "amsgrad": True}),
    "adamw": ("rosenbrock", "adamw", {"lr": 0.02}),
    "rmsprop-centered": ("aniso", "rmsprop", {"lr": 0.01, "centered": True}),
}


@pytest.mark.parametrize("case", FOLDED, ids=list(FOLDED))
def test_options_folded_into_the_kernel_bit_for_bit(case):
    function, name, setting = FOLDED[case]
    opt = optimizer(name)
    hp = opt.stack(opt.complete_all([setting]))
    names = list(hp)
    fixed = fused.fixed_arguments(opt, names, np.concatenate([hp[k].T for k in names]))
    options = {h.name for h in opt.options} | {
        h.name for h in opt.hyperparams if h.kind in ("bool", "choice")
    }
    assert {fused._KERNEL_NAMES.get(n, n) for n in options} <= fixed.keys()
    both(function, name, [setting], steps=60)


def test_folding_rules():
    source = (
        "def k(w, g, flag, zero, t):\n"
        "    g = helper(g, w, zero)\n"
        "    pick = 1.0 * ((t == 1.0) | (flag == 1.0))\n"
        "    inner = flag * g + (1.0 - flag) * (w * 2.0)\n"
        "    other = 0.0 * w + w / 1.0 - 0.0\n"
        "    return inner, pick, other\n"
    )
    helper = "def helper(g, w, wd):\n    'doc'\n    return g + wd * w\n"
    kernel = ast.parse(source).body[0]
    helpers = {"helper": ast.parse(helper).body[0]}
    text = ast.unparse(specialize_kernel(kernel, {"flag": 1.0, "zero": 0.0}, helpers))
    assert "inner = g\n" in text and "other = w\n" in text  # selects and identities folded
    assert "pick = 1.0\n" in text and "helper(" not in text  # logic folded, helper inlined
    assert "g = _in0_g\n" in text  # g + 0.0 * w is g
    namespace = {}
    exec(compile(text, "<folded>", "exec"), namespace)  # noqa: S102 - our own printed source
    assert namespace["k"](3.0, 2.0, 1.0, 0.0, 5.0) == (2.0, 1.0, 3.0)
    # the documented exception: 0.0 * inf is NaN unfolded, 0.0 once folded
    unfolded = {}
    exec(compile(source + helper, "<unfolded>", "exec"), unfolded)  # noqa: S102
    assert np.isnan(unfolded["k"](np.inf, 2.0, 1.0, 0.0, 5.0)[0])
    assert namespace["k"](np.inf, 2.0, 1.0, 0.0, 5.0)[0] == 2.0


def test_typed_formula_within_rounding():
    # sin: NumPy's vectorized sin and the C library's may differ by an ulp
    both("w1**2 + 3*sin(w2)**2", "momentum", [{"lr": 0.05}, {"lr": 0.1}], rtol=1e-12)


def test_schedule_bit_for_bit():
    settings = [
        {"lr": 0.05, "momentum": 0.9, "schedule": "step", "step_size": 5, "gamma": 0.5},
        {"lr": 0.05, "momentum": 0.9, "momentum_form": "seed", "schedule": "cosine", "T_max": 30},
        {"lr": 0.02},  # constant among scheduled rows
    ]
    got = both("aniso", "sgd", settings)
    assert got.learning_rates is not None


def test_divergence_and_freezing_bit_for_bit():
    # lr far past 2/L: the rows grow geometrically until they leave the box (and freeze)
    got = both("aniso", "sgd", [{"lr": 0.05}, {"lr": 0.3}, {"lr": 1.5}], 200, [[1.0, 1.0]])
    d = got.diverged_at
    assert d[0] == -1 and d[1] > 0 and d[2] > 0
    assert list(got.divergence_kind) == [0, 1, 1]
    for b in (1, 2):  # frozen at the last good point from the divergence step on
        frozen = got.positions[d[b] :, b]
        assert np.array_equal(frozen, np.broadcast_to(got.positions[d[b] - 1, b], frozen.shape))
        assert got.evaluations[-1, b] == d[b] - 1


def test_non_finite_divergence():
    # log(w1) is NaN once w1 < 0: a step past 0 is a non-finite divergence, not left_box
    got = both("log(w1 + 2) + w2**2", "sgd", [{"lr": 3.0}], starts=[[1.0, 1.0]], rtol=1e-12)
    assert got.diverged_at[0] > 0 and got.divergence_kind[0] == engine.NON_FINITE


def noisy(steps=30, **extra):
    objective, opt = get_objective("aniso"), optimizer("momentum")
    settings = [{"lr": 0.05}, {"lr": 0.1}, {"lr": 0.02}, {"lr": 0.07}] * 5
    starts = np.tile([1.0, 1.0], (len(settings), 1))
    return fused.run_trajectories(
        objective, opt, settings, starts, steps, noise=0.5, seed=7, **extra
    )


def test_noise_does_not_depend_on_block_size_or_threads(monkeypatch):
    first = noisy()
    monkeypatch.setattr(fused, "BLOCK_BYTES", 8 * 31 * 4 * 3)  # blocks of 3 rows
    assert fused.block_rows(30) == 3
    previous = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        small_blocks_one_thread = noisy()
    finally:
        numba.set_num_threads(previous)
    assert_same_run(small_blocks_one_thread, first)
    # row b's noise depends on its stream id alone: a row run alone with its id is the same
    alone = fused.run_trajectories(
        get_objective("aniso"),
        optimizer("momentum"),
        [{"lr": 0.1}],
        [[1.0, 1.0]],
        30,
        noise=0.5,
        seed=7,
        streams=[5],
    )
    assert np.array_equal(alone.positions[:, 0], first.positions[:, 5])


def test_noise_matches_the_numpy_stream():
    objective, opt = get_objective("aniso"), optimizer("momentum")
    settings = [{"lr": 0.05}, {"lr": 0.1}] * 10
    starts = np.tile([1.0, 1.0], (len(settings), 1))
    source = gradient_source(objective, noise=0.5, seed=7)
    want = engine.run(objective, opt, settings, 30, starts, gradient=source, engine="numpy")
    got = engine.run(objective, opt, settings, 30, starts, gradient=source, engine="fused")
    assert got.stochastic and want.stochastic
    assert_same_run(got, want, rtol=1e-12)  # log/cos of Box-Muller: an ulp apart at most
    assert not np.array_equal(got.positions, noisy().positions[:, : len(settings)])


# the rate and auc take logs: the C library's log/log10 that compiled code calls and NumPy's
# vectorized ones differ in the last bit now and then (an ulp apart, see metrics_numba's notes)
SUMMED_DIFFERENTLY = {"rate", "auc"}


@pytest.mark.parametrize(
    "function, name",
    [("aniso", "sgd"), ("himmelblau", "adam")],
    ids=["aniso-sgd", "himmelblau-adam"],
)
def test_run_columns_equal_metrics_columns(function, name):
    objective, opt = get_objective(function), optimizer(name)
    lrs, mus = (0.002, 0.02, 0.1, 0.3, 1.5), (0.0, 0.5, 0.9)
    if name == "sgd":  # converging, zig-zagging, cycling and diverging rows
        settings = [{"lr": lr, "momentum": mu} for lr in lrs for mu in mus]
    else:
        settings = [{"lr": lr, "beta1": mu} for lr in lrs for mu in mus]
    starts = np.tile([1.0, 1.0], (len(settings), 1))
    got = fused.run_columns(objective, opt, settings, starts, 150)
    traj = engine.run(objective, opt, settings, 150, starts, engine="numpy")
    want = metrics.columns(traj)
    assert got.columns.keys() == want.keys()
    for key, value in want.items():
        if value.dtype == object:
            assert list(got.columns[key]) == list(value), key
        elif key in SUMMED_DIFFERENTLY:
            np.testing.assert_allclose(got.columns[key], value, rtol=1e-12, err_msg=key)
        else:
            assert np.array_equal(got.columns[key], value, equal_nan=True), key
    assert np.array_equal(got.final, traj.positions[-1])
    assert np.array_equal(got.diverged_at, traj.diverged_at)
    assert np.array_equal(got.divergence_point, traj.divergence_point, equal_nan=True)
    assert not got.stochastic and (got.diverged_at > 0).any() == (name == "sgd")


def test_run_columns_from_stacked_columns_equals_dicts():
    # a sweep hands its settings over as columns (Optimizer.stack_columns), with a choice
    # swept too: the same rows as the completed dicts, bit for bit
    objective, opt = get_objective("aniso"), optimizer("sgd")
    lr = np.array([0.01, 0.1, 0.3, 0.01, 0.1, 0.3])
    nesterov = np.array([False, False, False, True, True, True])
    base = opt.resolve({"momentum": 0.9})
    stacked = opt.stack_columns(base, {"lr": lr, "nesterov": nesterov})
    dicts = [{**base, "lr": a, "nesterov": bool(n)} for a, n in zip(lr, nesterov, strict=True)]
    got = fused.run_columns(objective, opt, None, (1.0, 1.0), 80, stacked=stacked)
    want = fused.run_columns(objective, opt, opt.complete_all(dicts), (1.0, 1.0), 80)
    for key, value in want.columns.items():
        if value.dtype == object:
            assert list(got.columns[key]) == list(value), key
        else:
            assert np.array_equal(got.columns[key], value, equal_nan=True), key
    assert np.array_equal(got.final, want.final)
    assert (got.columns["zigzag"][:3] != got.columns["zigzag"][3:]).any()  # nesterov mattered


def test_run_columns_refuses_unclear_settings():
    objective, opt = get_objective("aniso"), optimizer("sgd")
    stacked = opt.stack_columns(opt.resolve({}), {"lr": np.array([0.1, 0.2])})
    with pytest.raises(OptiscopeError, match="not both"):
        fused.run_columns(objective, opt, [opt.resolve({})], (1.0, 1.0), 5, stacked=stacked)
    with pytest.raises(OptiscopeError, match="must name exactly: lr, momentum"):
        fused.run_columns(objective, opt, None, (1.0, 1.0), 5, stacked={"lr": stacked["lr"]})
    with pytest.raises(OptiscopeError, match="do not broadcast"):
        fused.run_columns(objective, opt, None, np.ones((3, 2)), 5, stacked=stacked)
    bad = opt.stack_columns(opt.resolve({}), {"lr": np.array([0.1, -1.0])})
    with pytest.raises(OptiscopeError, match="invalid lr"):
        fused.run_columns(objective, opt, None, (1.0, 1.0), 5, stacked=bad)


def test_unsupported_reasons():
    aniso = get_objective("aniso")
    assert fused.unsupported_reason(aniso, optimizer("adam")) is None
    assert "line" in fused.unsupported_reason(aniso, optimizer("lbfgs"))
    data = get_objective("linreg:data=diabetes")
    assert "data objective" in fused.unsupported_reason(data, optimizer("sgd"))
    batches = gradient_source(data, batch_size=8)
    assert "mini-batch" in fused.unsupported_reason(aniso, optimizer("sgd"), None, batches)


def test_engine_argument():
    aniso, sgd = get_objective("aniso"), optimizer("sgd")
    with pytest.raises(OptiscopeError, match="searches along lines"):
        engine.run(aniso, optimizer("lbfgs"), {}, 5, engine="fused")
    with pytest.raises(OptiscopeError, match="records optimizer state"):
        engine.run(aniso, sgd, {"lr": 0.1}, 5, record_state=True, engine="fused")
    with pytest.raises(OptiscopeError, match="invalid engine"):
        engine.run(aniso, sgd, {"lr": 0.1}, 5, engine="jit")
    # auto: a job worth FUSED_MIN_WORK trajectory-steps of NumPy time runs fused, the same
    settings = [{"lr": 0.05 + 0.001 * i} for i in range(4)]
    steps = -(-engine.FUSED_MIN_WORK // (len(settings) + engine.STEP_COST_ROWS))
    calls = []
    auto = engine.run(aniso, sgd, settings, steps, progress=calls.append)
    assert calls == [steps]  # the fused engine reports once, at the end
    assert_same_run(auto, engine.run(aniso, sgd, settings, steps, engine="numpy"))


def test_prefer_fused_runs_small_jobs_compiled_and_equals_the_reference():
    objective, opt = get_objective("aniso"), optimizer("sgd")
    settings = [{"lr": 0.1, "momentum": 0.9}, {"lr": 0.05, "momentum": 0.5}]
    calls = []
    got = engine.run(
        objective, opt, settings, 40, (1.0, 1.0), engine="prefer_fused", progress=calls.append
    )
    want = engine.run(objective, opt, settings, 40, (1.0, 1.0), engine="numpy")
    assert_same_run(got, want)
    assert calls == [40]  # the fused engine reports once, at the end: it ran compiled
    # where the fused engine does not apply (it records state), the NumPy loop runs instead
    traced = engine.run(
        objective, opt, settings, 40, (1.0, 1.0), engine="prefer_fused", record_state=True
    )
    assert traced.states is not None


def test_compiled_loops_are_remembered_by_spec_not_by_object(monkeypatch):
    # a server builds a new objective per request: the loop's source is printed once
    from optiscope.fused import _loop_for, loop

    opt = optimizer("sgd")
    first = _loop_for(get_objective("aniso"), opt, schedule=False, noise=False)

    def no_printing(*args, **kwargs):
        raise AssertionError("the source was printed again")

    monkeypatch.setattr(loop, "generate", no_printing)
    assert _loop_for(get_objective("aniso"), opt, schedule=False, noise=False) is first
    # a hand-built objective that no spec rebuilds is remembered by its object instead
    from dataclasses import replace

    odd = replace(get_objective("aniso"), name="not a spec")
    with pytest.raises(AssertionError, match="printed again"):
        _loop_for(odd, opt, schedule=False, noise=False)
