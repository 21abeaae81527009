"""Several starts and noise seeds per spec in run/compare (``--starts K``, ``--seeds R``)."""

import json

import numpy as np
import pytest

import optiscope as osc
from optiscope import engine, experiments
from optiscope.cli import main
from optiscope.experiments import draw_starts, report, run_specs, spec_record
from optiscope.stochastic import gradient_source
from optiscope.tables import markdown_table


def test_one_start_one_seed_is_the_single_run_and_the_first_repeat_too():
    f = osc.get_objective("aniso")
    specs = ["sgd:lr=0.1", "momentum:lr=0.05,momentum=0.9", "sgd:lr=0.05"]
    kw = dict(steps=30, start=(1.0, 1.0), noise=0.3, seed=7)
    results = run_specs(f, specs, starts=1, seeds=1, **kw)
    # the engine called as run_specs always called it: one batch per optimizer, stream = index
    sgd, _ = osc.get_optimizer("sgd")
    alone = engine.run(
        f,
        sgd,
        [results[0].settings, results[2].settings],
        steps=30,
        start=(1.0, 1.0),
        gradient=gradient_source(f, 0.3, None, 7, np.array([0, 2])),
    )
    np.testing.assert_array_equal(results[0].trajectories.positions, alone.positions)
    assert [r.rows for r in results] == [(0,), (0,), (1,)]
    data = report(f, results, 30, (1.0, 1.0))
    assert not {"starts", "seeds", "start_points", "spread_statistic"} & data.keys()
    assert all("repeats" not in run and "spread" not in run for run in data["runs"])
    assert data["runs"] == [experiments.result_record(r) for r in results]

    repeated = run_specs(f, specs, starts=3, seeds=2, **kw)
    for one, many in zip(results, repeated, strict=True):
        first = many.trajectories.positions[:, many.row]
        np.testing.assert_array_equal(first, one.trajectories.positions[:, one.row])
        assert spec_record(many)["repeats"][0]["metrics"] == spec_record(one)["metrics"]


def test_starts_are_distinct_in_the_box_first_given_and_seeded():
    f = osc.get_objective("rosenbrock")  # box (-2, 2) x (-1, 3)
    points = draw_starts(f, (0.5, -0.25), 6, seed=3)
    assert points.shape == (6, 2) and tuple(points[0]) == (0.5, -0.25)
    assert len({tuple(p) for p in points}) == 6
    (lo1, hi1), (lo2, hi2) = f.bounds
    assert ((points[1:, 0] >= lo1) & (points[1:, 0] <= hi1)).all()
    assert ((points[1:, 1] >= lo2) & (points[1:, 1] <= hi2)).all()
    np.testing.assert_array_equal(points, draw_starts(f, (0.5, -0.25), 6, seed=3))
    assert not np.array_equal(points[1:], draw_starts(f, (0.5, -0.25), 6, seed=4)[1:])

    (result,) = run_specs(f, ["adam:lr=0.05"], steps=5, start=(0.5, -0.25), starts=6, seed=3)
    starts = [rep.start for rep in result.repeats]
    np.testing.assert_array_equal(starts, points)
    np.testing.assert_array_equal(result.trajectories.positions[0, list(result.rows)], points)
    own = run_specs(f, ["adam:lr=0.05"], steps=5, starts=2)[0].repeats[0].start
    assert own == tuple(f.start)  # no --start: the function's own start comes first


def test_noise_seeds_give_different_paths_exact_ones_the_same():
    f = osc.get_objective("aniso")
    noisy, exact = run_specs(
        f, ["sgd:lr=0.1,noise=0.5", "sgd:lr=0.1"], steps=20, start=(1, 1), seeds=3, seed=2
    )
    assert [rep.seed_index for rep in noisy.repeats] == [0, 1, 2]
    assert [rep.stream for rep in noisy.repeats] == [0, 2, 4]  # spec i, seed r: i + n*r
    ends = noisy.trajectories.positions[-1, list(noisy.rows)]
    assert len({tuple(e) for e in ends}) == 3
    same = exact.trajectories.positions[:, list(exact.rows)]
    np.testing.assert_array_equal(same[:, 1], same[:, 0])
    np.testing.assert_array_equal(same[:, 2], same[:, 0])


def test_table_and_json_hold_the_median_and_spread_of_the_repeats():
    f = osc.get_objective("rosenbrock")
    (result,) = run_specs(f, ["sgd:lr=0.002"], steps=100, starts=8)
    record = spec_record(result)
    repeats = record["repeats"]
    assert len(repeats) == record["repeat_count"] == 8
    diverged = sum(r["diverged_at"] is not None for r in repeats)
    assert 0 < diverged < 8 and record["diverged_count"] == diverged
    losses = [r["metrics"]["loss_final"] for r in repeats]
    spread = record["spread"]["loss_final"]
    assert spread["median"] == np.median(losses)
    assert (spread["min"], spread["max"]) == (min(losses), max(losses))
    assert (spread["low"], spread["high"]) == (min(losses), max(losses))  # 8 < 10: min..max
    steps = [r["metrics"]["steps_to_tol"] for r in repeats]
    assert record["spread"]["steps_to_tol"]["never"] == steps.count(None)

    table = markdown_table([record], 1e-6)
    assert "Per spec: the median (min..max) over 8 runs" in table
    assert f"{spread['median']:.4g} ({spread['min']:.2g}..{spread['max']:.2g})" in table
    assert f"| {diverged} of 8 |" in table

    many = run_specs(f, ["sgd:lr=0.002"], steps=20, starts=12)[0]
    values = [r["metrics"]["distance_final"] for r in spec_record(many)["repeats"]]
    wide = spec_record(many)["spread"]["distance_final"]
    assert wide["statistic"] == "10-90%"
    order = sorted(values)
    assert (wide["low"], wide["high"]) == (order[1], order[10])  # nearest ranks 1.1, 9.9


def test_figures_draw_bands_and_thin_paths(tmp_path, capsys):
    code = main(
        ["compare", "aniso", "sgd:lr=0.1", "adam:lr=0.1", "--steps", "30", "--start", "1,1",
         "--starts", "3", "--noise", "0.3", "--seeds", "2", "--out", str(tmp_path), "--json"]
    )  # fmt: skip
    assert code == 0, capsys.readouterr().err
    data = json.loads(capsys.readouterr().out)
    assert (data["starts"], data["seeds"], len(data["start_points"])) == (3, 2, 3)
    assert [len(run["repeats"]) for run in data["runs"]] == [6, 6]
    assert json.loads((tmp_path / "runs.json").read_text()) == data
    assert (tmp_path / "compare.png").stat().st_size > 0

    from optiscope.plots import comparison_figure

    f = osc.get_objective("aniso")
    results = run_specs(f, ["sgd:lr=0.1", "adam:lr=0.1"], steps=30, starts=3, start=(1, 1))
    runs = [(r.label, r.trajectories, r.row) for r in results]
    fig = comparison_figure(runs, repeats=[r.rows for r in results])
    ax_map, _, ax_loss = fig.axes[:3]
    thin = [line for line in ax_map.lines if line.get_gid() == "repeat"]
    assert len(thin) == 2 * 2  # the repeats after each spec's first
    bands = [c for c in ax_loss.collections if c.get_gid() == "band"]
    assert len(bands) == 2 and "median of 3 runs" in ax_loss.get_title()
    median = [line for line in ax_loss.lines if line.get_gid() == "median"][0]
    gaps = results[0].trajectories.losses[:, list(results[0].rows)]  # aniso: f_min = 0
    np.testing.assert_allclose(median.get_ydata(), np.median(gaps, axis=1))


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--starts", "0"], "invalid starts: 0 (valid: 1 to 64"),
        (["--starts", "65"], "invalid starts: 65 (valid: 1 to 64"),
        (["--seeds", "2"], "seeds only matter with --noise or --batch-size"),
    ],
)
def test_bad_repeat_counts_are_one_line_exit_2(capsys, args, words):
    code = main(["run", "aniso", "sgd:lr=0.1", "--steps", "5", *args])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and words in err, err
