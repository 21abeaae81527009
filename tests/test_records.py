"""Honest records: steps to tolerance both ways, no rate on a plateau, why a run stopped or
diverged, the minimum's provenance, and a memory estimate that refuses jobs too big to run."""

import dataclasses
import json
import tracemalloc

import numpy as np
import pytest

import optiscope as osc
from optiscope import engine, metrics
from optiscope.cli import main
from optiscope.experiments import report, result_record, run_specs
from optiscope.stochastic import gradient_source
from optiscope.tables import markdown_table

pytestmark = pytest.mark.filterwarnings("error::RuntimeWarning")  # numpy must stay quiet


def _records(function, specs, steps, start=None, **kw):
    objective = osc.get_objective(function)
    results = run_specs(objective, specs, steps=steps, start=start, **kw)
    return [result_record(r) for r in results]


def _row(traj, tol=metrics.DEFAULT_TOL):
    (row,) = metrics.summary(traj, tol)
    json.dumps(row, allow_nan=False)
    return row


# --- steps to tolerance: first reached, and stays from ----------------------------------------


def test_first_reached_and_stays_below_differ_when_the_gap_comes_back():
    # Adam (lr 0.01) on the seed's bowl reaches a gap of 1e-6 early, then leaves x* again and
    # is back under the tolerance for good only near the end.
    (adam,) = _records("aniso", ["adam:lr=0.01"], 20000, start=(1.0, 1.0))
    m = adam["metrics"]
    assert m["first_to_tol"] == 290 and m["steps_to_tol"] == 19699
    gaps = osc.run(
        osc.get_objective("aniso"), *osc.get_optimizer("adam:lr=0.01"), steps=20000
    ).losses[:, 0]
    assert gaps[290] <= 1e-6 < gaps[289] and (gaps[291:19699] > 1e-6).any()
    table = markdown_table([adam], 1e-6)
    head = table.splitlines()[0]
    assert "| first gap <= 1e-06 | stays <= 1e-06 from | evals to stay |" in head
    assert "| 290 | 19699 | 19699 |" in table


def test_one_steps_column_when_first_and_stays_agree_everywhere():
    rows = _records("aniso", ["sgd:lr=0.1", "momentum:lr=0.1,momentum=0.99"], 50, (1.0, 1.0))
    assert [r["metrics"]["first_to_tol"] for r in rows] == [31, None]
    table = markdown_table(rows, 1e-6)
    assert "| gap <= 1e-06 from step | evals to gap |" in table.splitlines()[0]
    assert "first gap" not in table and "| 31 | 31 |" in table and "not reached" in table


def test_first_to_tol_on_a_constructed_path():
    objective = osc.get_objective("aniso")
    w1 = np.array([1.0, 1e-4, 0.1, 1e-4, 1e-5, 1e-6])  # gaps 1, 1e-8, 1e-2, 1e-8, ...
    positions = np.column_stack([w1, np.zeros(6)])[:, None, :]
    traj = engine.Trajectories(
        objective,
        "constructed",
        [{}],
        positions,
        (w1**2)[:, None],
        np.zeros((6, 1)),
        np.zeros((6, 1), dtype=np.int64),
        np.array([-1]),
    )
    assert metrics.first_to_tol(traj, 1e-6)[0] == 1 and metrics.steps_to_tol(traj, 1e-6)[0] == 3
    assert metrics.first_to_tol(traj, 1e-13)[0] == -1


# --- rate: only for a decay that lasts to the end --------------------------------------------


def test_noise_ball_and_limit_cycle_have_no_rate():
    # The two examples: a rate was reported for both (0.9906 and 0.7741).
    objective = osc.get_objective("aniso")
    sgd, setting = osc.get_optimizer("sgd:lr=0.1")
    noisy = osc.run(
        objective, sgd, setting, 1000, (1.0, 1.0), gradient=gradient_source(objective, 0.5)
    )
    row = _row(noisy)
    assert row["rate"] is None and row["rate_fit_range"] is None
    assert row["rate_note"] == "noise floor"
    (rms,) = _records("iso", ["rmsprop:lr=0.1,alpha=0.1,eps=1e-10"], 50, (1.0, 1.0))
    assert rms["metrics"]["rate"] is None and rms["metrics"]["rate_note"] == "limit cycle"
    assert "- (limit cycle)" in markdown_table([rms], 1e-6)


def test_noise_floor_is_recognized_for_every_seed_and_length():
    objective = osc.get_objective("aniso")
    sgd, setting = osc.get_optimizer("sgd:lr=0.1")
    for steps in (50, 300, 1000):
        noise = gradient_source(objective, 0.5, None, 0, np.arange(20))
        traj = osc.run(objective, sgd, [setting] * 20, steps, (1.0, 1.0), gradient=noise)
        fit = metrics.rate_fit(traj)
        assert np.isnan(fit.rate).all() and set(fit.note) == {"noise floor"}, steps


def test_a_noisy_run_still_decaying_at_the_end_keeps_its_rate():
    # lr 0.01: GD's rate 0.98; noise 0.01 is far below the distance after 100 steps (0.13).
    objective = osc.get_objective("aniso")
    sgd, setting = osc.get_optimizer("sgd:lr=0.01")
    noise = gradient_source(objective, 0.01, None, 0, np.arange(10))
    traj = osc.run(objective, sgd, [setting] * 10, 100, (1.0, 1.0), gradient=noise)
    fit = metrics.rate_fit(traj)
    assert all(n is None for n in fit.note)
    np.testing.assert_allclose(fit.rate, 0.98, rtol=2e-3)


@pytest.mark.parametrize(
    ("function", "spec", "steps", "note"),
    [
        ("rastrigin", "sgd:lr=0.001", 300, "stalled"),  # a local minimum, not x*
        ("rastrigin", "sgd:lr=0.01", 300, "no decay"),  # unstable in every well: it wanders
        ("aniso", "rmsprop:lr=0.1,alpha=0.99,eps=1e-10", 50, "too short"),  # x* in one step
        ("aniso", "momentum:lr=0.1,momentum=0.99", 50, "too short"),  # falls < 2x in 50 steps
        ("aniso", "sgd:lr=1", 40, "diverged"),
        ("saddle", "sgd:lr=0.1", 30, "no decay"),  # the gradient norm grows along w2
    ],
)
def test_rate_notes_say_why_there_is_no_rate(function, spec, steps, note):
    start = (1.0, 0.1) if function == "saddle" else None
    (record,) = _records(function, [spec], steps, start)
    assert record["metrics"]["rate"] is None and record["metrics"]["rate_note"] == note


def test_gd_and_heavy_ball_rates_keep_no_note():
    rows = _records("aniso", ["sgd:lr=0.1", "momentum:lr=0.1,momentum=0.9"], 400, (1.0, 0.3))
    assert [r["metrics"]["rate_note"] for r in rows] == [None, None]
    assert rows[0]["metrics"]["rate"] == pytest.approx(0.8, rel=1e-3)
    assert rows[1]["metrics"]["rate"] == pytest.approx(0.9**0.5, rel=1e-2)


# --- L-BFGS: the stopping test by name -------------------------------------------------------


def test_lbfgs_stop_above_the_minimum_is_a_stop_not_a_convergence():
    # Six-hump camel from (-1.5, 1): L-BFGS stops by tolerance_change in a local minimum.
    (run,) = _records("six_hump_camel", ["lbfgs"], 100)
    assert run["stopped_at"] == 14 and run["steps_run"] == 14
    assert run["stop_reason"] == "tolerance_change"
    assert run["stop_text"] == (
        "the directional derivative g.d rose above -tolerance_change 1e-09: no descent left "
        "along the L-BFGS direction"
    )
    assert run["loss_final"] > osc.get_objective("six_hump_camel").f_min + 0.8
    assert "converged_at" not in run
    table = markdown_table([run], 1e-6)
    assert "stopped at step 14 (tolerance_change)" in table and "converged" not in table


def test_each_lbfgs_stop_has_its_code_name_and_phrase():
    (at_min,) = _records("rosenbrock", ["lbfgs"], 5, start=(1.0, 1.0))
    assert (at_min["stopped_at"], at_min["stop_reason"]) == (1, "tolerance_grad")
    assert at_min["stop_text"].endswith("tolerance_grad 1e-07 or below")
    function = "1e8*(w1-0.3)**2 + (w2-0.7)**2 + w1*w2"
    spec = "lbfgs:line_search=strong_wolfe,tolerance_grad=0,tolerance_change=0"
    (stall,) = _records(function, [spec], 40, start=(1.0, 1.0))
    assert stall["stop_reason"] == "zero_step" and stall["stop_text"].startswith("the step left")
    (adam,) = _records("rosenbrock", ["adam"], 20)
    assert adam["stopped_at"] is adam["stop_reason"] is adam["stop_text"] is None
    assert adam["steps_run"] == 20


def test_stop_codes_are_batched_like_the_rest():
    objective = osc.get_objective("rosenbrock")
    optimizer = osc.get_optimizer("lbfgs")[0]
    settings = [osc.get_optimizer(s)[1] for s in ("lbfgs", "lbfgs:tolerance_grad=1e-2")]
    starts = np.array([[1.0, 1.0], [-1.2, 1.0]])
    together = osc.run(objective, optimizer, settings, 80, starts)
    assert together.stop_reasons == optimizer.stop_reasons
    for b in range(2):
        alone = osc.run(objective, optimizer, settings[b], 80, starts[b])
        assert together.stop_codes[b] == alone.stop_codes[0] > 0
        assert together.converged_at[b] == alone.converged_at[0]
        assert together.row(b).stop_codes.tolist() == [together.stop_codes[b]]


# --- divergence: left the box, or non-finite -------------------------------------------------


def test_leaving_the_box_is_told_apart_from_overflow():
    objective = osc.get_objective("aniso")
    (left,) = _records("aniso", ["sgd:lr=1"], 40, (1.0, 1.0))
    k = left["diverged_at"]
    radius = engine.escape_radius(objective, np.ones((1, 2)))
    assert left["divergence"]["kind"] == "left_box" and left["divergence"]["step"] == k
    assert left["divergence"]["radius"] == radius
    point = np.array(left["divergence"]["point"])
    assert np.isfinite(point).all() and np.abs(point).max() > radius  # the escaped point
    np.testing.assert_allclose(point, [(-1.0) ** k, (-15.0) ** k], rtol=1e-12)
    assert left["steps_run"] == k - 1
    assert f"left the box at step {k}" in markdown_table([left], 1e-6)

    (nan,) = _records("log(w1) + w2**2", ["sgd:lr=1"], 5, (0.5, 0.5))
    assert nan["divergence"] == {
        "step": 1,
        "kind": "non_finite",
        "radius": nan["divergence"]["radius"],
        "point": [0.5, 0.5],  # the last good point
    }
    assert "diverged at step 1" in markdown_table([nan], 1e-6)


def test_figure_legend_says_left_the_box():
    from optiscope.plots import comparison_figure

    objective = osc.get_objective("aniso")
    optimizer, setting = osc.get_optimizer("sgd:lr=1")
    traj = osc.run(objective, optimizer, setting, 40, (1.0, 1.0))
    fig = comparison_figure([("GD lr=1", traj, 0)])
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert f"GD lr=1 (left the box at step {traj.diverged_at[0]})" in labels
    import matplotlib.pyplot as plt

    plt.close(fig)


# --- the minimum's provenance ----------------------------------------------------------------


def test_report_carries_the_minimum_note_only_when_there_is_one():
    objective = osc.get_objective("aniso")
    results = run_specs(objective, ["sgd:lr=0.1"], steps=5)
    assert "minimum_note" not in report(objective, results, 5, objective.start)
    noted = dataclasses.replace(objective, minimum_note="a local minimizer found numerically")
    data = report(noted, results, 5, objective.start)
    assert data["minimum_note"] == "a local minimizer found numerically"
    assert list(data)[:4] == ["function", "formula", "f_min", "minimum_note"]


# --- memory: an honest estimate, and a refusal up front --------------------------------------


@pytest.mark.parametrize(("noise", "batched"), [(0.0, True), (0.1, True), (0.0, False)])
def test_memory_estimate_is_an_upper_bound_within_30_percent(noise, batched):
    objective = osc.get_objective("aniso")
    optimizer, setting = osc.get_optimizer("sgd:lr=0.01")
    batch, steps = 20, 20_000
    source = gradient_source(objective, noise, None, 0, np.arange(batch)) if noise else None
    tracemalloc.start()
    try:
        # the reference engine: the estimate is of its [S+1, B, D] arrays (the first fused call
        # of a process would also count Numba's own import in the peak)
        traj = osc.run(
            objective, optimizer, [setting] * batch, steps, gradient=source, engine="numpy"
        )
        if batched:
            metrics.summary(traj)
        else:
            for b in range(batch):
                metrics.summary(traj.row(b))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    rows = batch if batched else 1
    estimate = engine.estimate_memory(steps, batch, objective.dim, metrics_rows=rows)
    assert peak <= estimate <= 1.3 * peak


def test_a_job_too_big_for_memory_is_refused_before_it_runs(monkeypatch, capsys, tmp_path):
    monkeypatch.setattr(engine, "available_memory", lambda: 10**9)  # 1 GB
    objective = osc.get_objective("aniso")
    optimizer, setting = osc.get_optimizer("sgd")
    with pytest.raises(osc.OptiscopeError) as info:
        osc.run(objective, optimizer, [setting] * 2000, steps=100_000)
    needed = engine.estimate_memory(100_000, 2000, 2)
    assert 8.0e9 < needed < 8.5e9  # 100001 steps x 2000 rows x (2 + 3) words, plus 5%
    assert str(info.value) == (
        f"this run needs about {needed / 1e9:.2g} GB of memory, more than the 0.8 GB it may "
        "use (80% of the 1 GB available); run fewer steps or fewer settings at once"
    )
    osc.run(objective, optimizer, [setting] * 2, steps=1000)  # a small job still runs

    seen = []  # a comparison is refused as a whole, before its first group runs
    specs = [f"sgd:lr={0.001 * i:g}" for i in range(1, 201)] + ["adam"] * 200
    with pytest.raises(osc.OptiscopeError, match="100000 steps x 400 settings needs about"):
        run_specs(objective, specs, steps=100_000, progress=lambda *a: seen.append(a))
    assert seen == []

    code = main(["compare", "aniso", *specs, "--steps", "100000", "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "GB of memory" in err


def test_running_out_of_memory_anyway_is_one_line(monkeypatch):
    objective = osc.get_objective("aniso")
    optimizer, setting = osc.get_optimizer("sgd")

    def no_memory(*args, **kwargs):
        raise MemoryError

    monkeypatch.setattr(engine, "_run", no_memory)
    with pytest.raises(osc.OptiscopeError, match="out of memory: 100 steps x 1 settings need"):
        osc.run(objective, optimizer, setting, steps=100)
    monkeypatch.undo()
    traj = osc.run(objective, optimizer, setting, steps=100)
    monkeypatch.setattr(metrics, "_rate_fit", no_memory)
    with pytest.raises(osc.OptiscopeError, match="fewer steps or fewer settings"):
        metrics.summary(traj)


def test_available_memory_reads_the_system_and_the_limits(monkeypatch):
    free = engine.available_memory()
    assert free is None or free > 0
    if free is None:
        return
    used = engine._proc_kib("/proc/self/status", ("VmSize",))["VmSize"]
    limits = {engine.resource.RLIMIT_AS: (used + 12345, engine.resource.RLIM_INFINITY)}
    monkeypatch.setattr(
        engine.resource,
        "getrlimit",
        lambda which: limits.get(which, (engine.resource.RLIM_INFINITY,) * 2),
    )
    assert engine.available_memory() <= 12345 + 2**20  # VmSize moves a little in between
