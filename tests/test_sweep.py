"""optiscope.sweep: the table's shape and types, its metrics against single runs, chunking,
basin maps, ranking, interruption and size limits."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd
import pytest

import optiscope as osc
from optiscope import executor
from optiscope.errors import OptiscopeError
from optiscope.experiments import result_record, run_specs
from optiscope.objectives import get_objective
from optiscope.sweep import METRIC_COLUMNS, SweepInterrupted, assemble, evaluate_chunk, plan_sweep
from optiscope.sweep_ranking import best_settings, note_ranks, rank_of, theory_beside_best
from optiscope.theory import heavy_ball_optimal, local_model

SWEEP_OF = {  # one small sweep per optimizer: 2 settings each
    "sgd": "sgd:lr=0.05|0.2",
    "momentum": "momentum:lr=0.05,momentum=0.5|0.95",
    "nesterov": "nesterov:lr=0.02|0.3",
    "adam": "adam:lr=0.05,beta1=0.5|0.9",
    "adamw": "adamw:lr=0.01|0.1",
    "rmsprop": "rmsprop:lr=0.01,alpha=0.5|0.99",
    "adagrad": "adagrad:lr=0.1|1",
    "adadelta": "adadelta:lr=1|5",
    "ftrl": "ftrl:lr=0.1|1",
    "lbfgs": "lbfgs:lr=1,history_size=1|5",
}
COMPARED = [m for m in METRIC_COLUMNS if m not in ("divergence", "minimum")]


def _spec_of_row(name: str, row: pd.Series, hyper: list[str]) -> str:
    """The single-run spec of a sweep row: every hyperparameter at the row's value."""
    values = []
    for key in hyper:
        v = row[key]
        if isinstance(v, bool | np.bool_):
            text = str(bool(v)).lower()
        else:
            text = v if isinstance(v, str) else repr(_plain(v))
        values.append(f"{key}={text}")
    return name + ":" + ",".join(values)


def _plain(v):
    return v.item() if isinstance(v, np.generic) else v


def _same(a, b) -> bool:
    """Equal, both undefined, or floats within 1e-9 (the fused engine may sum differently)."""
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, float) or isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-300)
    return a == b


@pytest.mark.parametrize("name", list(SWEEP_OF))
def test_sweep_metrics_equal_single_run_metrics(name: str) -> None:
    steps, start = 40, (1.0, 1.0)
    frame = osc.sweep("aniso", SWEEP_OF[name], steps=steps, start=start)
    hyper = list(frame.columns[1 : list(frame.columns).index("start_w1")])
    objective = get_objective("aniso")
    for _, row in frame.iterrows():
        spec = _spec_of_row(name, row, hyper)
        result = run_specs(objective, [spec], steps=steps, start=start)[0]
        record = result_record(result)
        for metric in COMPARED:
            mine = None if pd.isna(row[metric]) else row[metric]
            mine = mine.item() if isinstance(mine, np.generic) else mine
            theirs = record["metrics"][metric]
            assert _same(mine, theirs), (spec, metric, mine, theirs)
        assert np.allclose([row["final_w1"], row["final_w2"]], record["x_final"], rtol=1e-9)


def test_columns_types_and_attrs() -> None:
    frame = osc.sweep("aniso", "sgd:lr=0.01..0.3@log3,nesterov=false|true,momentum=0.5", steps=20)
    hyper = ["lr", "momentum", "dampening", "weight_decay", "nesterov"]
    points = ["start_w1", "start_w2", "final_w1", "final_w2"]
    assert list(frame.columns) == ["optimizer", *hyper, *points, *METRIC_COLUMNS]
    assert len(frame) == 6 and list(frame.index) == list(range(6))
    assert frame["nesterov"].dtype == bool and frame["lr"].dtype == np.float64
    for column in ("steps_to_tol", "first_to_tol", "diverged_at", "cycle_period", "evaluations"):
        assert str(frame[column].dtype) == "Int64"
    assert str(frame["minimum"].dtype) == "Int64"
    assert frame["divergence"].dtype == object
    attrs = frame.attrs
    assert attrs["axes"][0]["name"] == "lr" and attrs["axes"][0]["log"]
    assert attrs["axes"][1] == {"name": "nesterov", "values": [False, True], "log": False}
    assert attrs["function"] == "aniso" and attrs["steps"] == 20 and attrs["start"] == [1.0, 1.0]
    assert attrs["engine"] in ("fused", "numpy", "fused+numpy")
    theory = local_model(get_objective("aniso"))
    assert attrs["theory"]["heavy_ball"] == heavy_ball_optimal(theory.mu, theory.L)
    assert [n["spec"] for n in attrs["note"]][:2] == ["sgd:lr=0.1", "momentum:lr=0.1,momentum=0.1"]


def test_choice_and_integer_columns() -> None:
    frame = osc.sweep("aniso", "lbfgs:history_size=2..4@3", steps=5)
    assert str(frame["history_size"].dtype) == "Int64"
    assert frame["history_size"].tolist() == [2, 3, 4]
    assert frame["line_search"].tolist() == ["none"] * 3
    frame = osc.sweep("aniso", "sgd:lr=0.1,momentum=0.5,momentum_form=torch|seed", steps=5)
    assert frame["momentum_form"].tolist() == ["torch", "seed"]


def test_chunking_and_noise_do_not_change_rows() -> None:
    plan = plan_sweep("rosenbrock", "adam:lr=0.001..0.1@log5,beta1=0.5|0.9", steps=30, noise=0.3)
    bounds = plan.chunk_bounds()
    whole = assemble(
        plan, {i: evaluate_chunk(plan.task(i, *b)) for i, b in enumerate(bounds)}, bounds, 0.0
    )
    small = dataclasses.replace(plan, chunk_rows=3, numpy_rows=2)
    pieces = small.chunk_bounds()
    assert len(pieces) == 4
    chunked = assemble(
        small, {i: evaluate_chunk(small.task(i, *b)) for i, b in enumerate(pieces)}, pieces, 0.0
    )
    pd.testing.assert_frame_equal(whole, chunked.set_axis(whole.index))
    quiet = osc.sweep("rosenbrock", "adam:lr=0.001..0.1@log5,beta1=0.5|0.9", steps=30)
    assert not np.allclose(quiet["final_w1"], whole["final_w1"])  # the noise is there


def test_basin_map_finds_himmelblau_minima() -> None:
    frame = osc.sweep("himmelblau", "sgd:lr=0.01", starts="-4..4@4,-4..4@4", steps=300)
    assert len(frame) == 16
    assert sorted(set(frame["start_w1"])) == [-4.0, -4 + 8 / 3, -4 + 16 / 3, 4.0]
    reached = frame["minimum"].to_numpy()
    assert set(reached.tolist()) == {0, 1, 2, 3}  # every one of the four minima is a basin
    objective = get_objective("himmelblau")
    for _, row in frame.iterrows():
        target = objective.minimizers[row["minimum"]]
        assert np.hypot(row["final_w1"] - target[0], row["final_w2"] - target[1]) < 5e-3
    assert [a["name"] for a in frame.attrs["axes"]] == ["start_w1", "start_w2"]
    assert frame.attrs["note"] == []


def test_best_setting_by_rate_matches_the_theory_optimum() -> None:
    frame = osc.sweep(
        "aniso", "momentum:lr=0.12..0.15@25,momentum=0.15..0.3@25", steps=300, start=(1, 1)
    )
    best = best_settings(frame, "rate", 1).iloc[0]
    theory = frame.attrs["theory"]["heavy_ball"]
    assert abs(best["rate"] / theory["rate"] - 1) < 0.02
    assert rank_of(frame, best.to_dict(), "rate") == 1
    ranks = note_ranks(frame, "rate")
    assert [r["spec"] for r in ranks][-1] == "momentum:lr=0.1,momentum=0.99"
    assert all(1 <= r["rank"] <= len(frame) + 1 for r in ranks)


def test_theory_beside_best_names_the_optimum_and_the_gap() -> None:
    frame = osc.sweep("aniso", "momentum:lr=0.12..0.15@9,momentum=0.2..0.26@7", steps=300)
    beside = theory_beside_best(frame)  # default metric: rate
    optimum = frame.attrs["theory"]["heavy_ball"]
    assert beside["setting"] == {
        "lr": optimum["optimal_lr"],
        "momentum": optimum["optimal_momentum"],
    }
    best_rate = best_settings(frame, "rate", 1)["rate"].iloc[0]
    assert beside["best_rate"] == best_rate
    assert beside["rate_gap"] == best_rate / optimum["rate"] - 1
    assert abs(beside["rate_gap"]) < 0.02
    adaptive = osc.sweep("aniso", "adam:lr=0.01|0.1", steps=20)
    assert theory_beside_best(adaptive) is None  # no closed-form optimum for Adam
    assert theory_beside_best(osc.sweep("rosenbrock", "sgd:lr=1e-3|2e-3", steps=20)) is None
    scheduled = "sgd:lr=0.1,schedule=step,step_size=1..5@3"  # no fixed linear map
    assert theory_beside_best(osc.sweep("aniso", scheduled, steps=20)) is None
    mixed = osc.sweep("aniso", "sgd:lr=0.05,momentum=0.5,nesterov=false|true", steps=20)
    assert theory_beside_best(mixed) is None
    assert theory_beside_best(mixed[mixed["nesterov"]])["method"] == "Nesterov"
    assert theory_beside_best(mixed[~mixed["nesterov"]])["method"] == "heavy ball"


def test_ranking_puts_diverged_rows_last() -> None:
    frame = osc.sweep("aniso", "sgd:lr=0.01|0.1|0.2", steps=50)  # lr 0.2 > 2/L diverges
    assert frame["diverged_at"].notna().tolist() == [False, False, True]
    order = best_settings(frame, "loss_final", 3)["lr"].tolist()
    assert order[-1] == 0.2
    assert best_settings(frame, "steps_to_tol", 1)["lr"].iloc[0] == 0.1


def test_interrupt_keeps_finished_chunks(monkeypatch) -> None:
    import sys

    sweep_module = sys.modules["optiscope.sweep"]  # the attribute osc.sweep is the function

    monkeypatch.setattr(sweep_module, "FUSED_CHUNK_ROWS", 4)
    monkeypatch.setattr(sweep_module, "NUMPY_CHUNK_ROWS", 4)
    monkeypatch.setattr(sweep_module, "NUMPY_MIN_WORK", 1)
    calls = []

    def stop_after_two(done: int, total: int) -> None:
        calls.append(done)
        if len(calls) == 2:
            raise KeyboardInterrupt

    with pytest.raises(SweepInterrupted) as stop:
        osc.sweep("aniso", "sgd:lr=0.01..0.1@12", steps=10, progress=stop_after_two)
    frame = stop.value.frame
    assert isinstance(stop.value, KeyboardInterrupt)
    assert frame.attrs["finished"] == 2 and frame.attrs["chunks"] == 3
    assert list(frame.index) == list(range(8)) and frame.attrs["rows"] == 12
    full = osc.sweep("aniso", "sgd:lr=0.01..0.1@12", steps=10)
    pd.testing.assert_frame_equal(frame, full.iloc[:8], check_like=False)


def test_executor_keeps_order_and_reports_interrupts() -> None:
    assert executor.run_chunks(lambda t: t * 2, [1, 2, 3]) == [2, 4, 6]

    def fail_on_three(t: int) -> int:
        if t == 3:
            raise KeyboardInterrupt
        return t

    with pytest.raises(executor.ChunksInterrupted) as stop:
        executor.run_chunks(fail_on_three, [1, 2, 3, 4])
    assert stop.value.done == {0: 1, 1: 2}


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"spec": "sgd:lr=0.001..1@log3000,momentum=0..0.9@3000"}, "sweep too large: 9,000,000"),
        ({"spec": "sgd:lr=0.001..1@log1000,momentum=0..0.9@1000", "steps": 20_000}, "narrow it"),
        ({"spec": "sgd:lr=0.1", "start": (1, 1), "starts": "0..1@2,0..1@2"}, "not both"),
        ({"spec": "sgd:lr=0.1..1@3", "method": "random"}, "give samples"),
        ({"spec": "sgd:lr=0.1..1@3", "samples": 5}, "random or sobol"),
        ({"spec": "lbfgs:lr=0.1..1@3", "noise": 0.1}, "searches along lines"),
        ({"spec": "sgd:lr=0.1..1@3", "metric": None, "scheduler": "nowhere"}, "invalid scheduler"),
        ({"spec": "sgd:lr=0.1..1@3", "steps": 0}, "invalid steps"),
        ({"spec": "nesterov:lr=0.1,momentum=0|0.5"}, "Nesterov momentum requires momentum > 0"),
        ({"spec": "nesterov:lr=0.1,momentum=0..0.9@4"}, "first setting (momentum=0.0) is invalid"),
        ({"spec": "nesterov:lr=0.1,momentum=0.5|0"}, "every combination of a sweep's ranges"),
    ],
)
def test_bad_sweeps_are_refused_before_running(kwargs, words) -> None:
    kwargs = {k: v for k, v in kwargs.items() if k != "metric"}
    spec = kwargs.pop("spec")
    with pytest.raises(OptiscopeError) as err:
        osc.sweep("aniso", spec, **kwargs)
    assert words in str(err.value) and "\n" not in str(err.value)


def test_sweep_settings_equals_the_sweep_of_the_same_settings() -> None:
    from optiscope.sweep import sweep_settings

    grid = osc.sweep("aniso", "momentum:lr=0.05|0.1,momentum=0.5|0.9", steps=60, start=(1, 1))
    optimizer, _ = osc.get_optimizer("momentum")
    given = sweep_settings(
        "aniso",
        optimizer,
        {},
        {"lr": grid["lr"].to_numpy(), "momentum": grid["momentum"].to_numpy()},
        [(1.0, 1.0)],
        steps=60,
    )
    for column in ("lr", "momentum", "final_w1", "final_w2", "rate", "steps_to_tol", "zigzag"):
        assert given[column].equals(grid[column]), column


def test_sweep_settings_runs_every_setting_from_every_start_and_refuses_bad_starts() -> None:
    from optiscope.sweep import sweep_settings

    optimizer, _ = osc.get_optimizer("sgd")
    frame = sweep_settings(
        "aniso", optimizer, {}, {"lr": np.array([0.01, 0.1])}, [(1, 1), (-1, 2), (0.5, 0)], 20
    )
    assert list(frame["lr"]) == [0.01] * 3 + [0.1] * 3
    assert list(frame["start_w1"]) == [1.0, -1.0, 0.5] * 2
    with pytest.raises(OptiscopeError, match="invalid starts"):
        sweep_settings("aniso", optimizer, {}, {"lr": np.array([0.1])}, [(1, 2, 3)], 20)
    with pytest.raises(OptiscopeError, match="invalid lr"):
        sweep_settings("aniso", optimizer, {}, {"lr": np.array([-0.1])}, [(1, 1)], 20)
