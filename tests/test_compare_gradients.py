"""GD, SGD and mini-batch SGD side by side in one `compare`: per-spec batch_size and noise."""

import json

import numpy as np
import pytest

from optiscope.cli import main
from optiscope.experiments import split_gradient_options

FUNCTION = "linreg:data=diabetes,features=bmi"
SPECS = ["sgd:lr=0.5", "sgd:lr=0.5,batch_size=32", "sgd:lr=0.05,batch_size=1"]


def compare_json(capsys, tmp_path, *extra):
    code = main(
        [
            "compare",
            FUNCTION,
            *SPECS,
            "--steps",
            "60",
            "--json",
            "--path",
            "--out",
            str(tmp_path),
            *extra,
        ]
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return json.loads(captured.out)


def test_split_gradient_options():
    assert split_gradient_options("sgd:lr=0.1,batch_size=8") == ("sgd:lr=0.1", {"batch_size": "8"})
    assert split_gradient_options("adam:noise=0.5") == ("adam", {"noise": "0.5"})
    assert split_gradient_options("adam:lr=0.1") == ("adam:lr=0.1", {})


def test_gd_sgd_and_minibatch_in_one_compare(capsys, tmp_path):
    data = compare_json(capsys, tmp_path)
    runs = data["runs"]
    assert [r["batch_size"] for r in runs] == ["full", 32, 1]
    assert "batch_size=1" in (tmp_path / "table.md").read_text()
    # GD is deterministic and converges; the stochastic rows wander around the minimum.
    gd, mini, single = (np.array(r["path"]) for r in runs)
    assert runs[0]["metrics"]["steps_to_tol"] is not None
    assert runs[1]["metrics"]["steps_to_tol"] is None and runs[2]["metrics"]["steps_to_tol"] is None
    assert not np.array_equal(mini, single)
    # Same command, same numbers (every random choice takes the seed).
    again = compare_json(capsys, tmp_path)
    assert [r["path"] for r in again["runs"]] == [r["path"] for r in runs]
    other = compare_json(capsys, tmp_path, "--seed", "7")
    assert other["runs"][0]["path"] == runs[0]["path"]  # GD does not use the seed
    assert other["runs"][2]["path"] != runs[2]["path"]


def _run_json(capsys, spec):
    code = main(["run", "aniso", spec, "--json", "--path", "--steps", "20"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return json.loads(captured.out)["runs"][0]


def test_per_spec_noise_on_a_test_function(capsys, tmp_path):
    run = _run_json(capsys, "sgd:lr=0.05,noise=0.5")
    assert run["noise"] == 0.5 and run["batch_size"] == "full"
    exact = _run_json(capsys, "sgd:lr=0.05")
    assert exact["noise"] == 0.0
    noisy, plain = np.array(run["path"]), np.array(exact["path"])
    assert noisy.shape == plain.shape == (21, 2)
    np.testing.assert_array_equal(noisy[0], plain[0])  # same start
    assert np.abs(noisy[1:] - plain[1:]).min() > 0  # the noise moves every step
    assert _run_json(capsys, "sgd:lr=0.05,noise=0.5")["path"] == run["path"]  # same command


def test_per_spec_bad_noise_names_the_value_not_a_flag(capsys):
    code = main(["run", "aniso", "sgd:noise=-1"])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert err.endswith("invalid noise: -1.0 (valid: a finite number >= 0)"), err
    assert "--" not in err and len(err.splitlines()) == 1


def test_line_search_with_noise_is_refused_before_anything_runs(monkeypatch):
    from optiscope import experiments
    from optiscope.errors import OptiscopeError
    from optiscope.objectives import get_objective

    def no_run(*args, **kwargs):
        raise AssertionError("a group ran before every spec was validated")

    monkeypatch.setattr(experiments, "run", no_run)
    objective = get_objective("aniso")
    for specs, options in (
        (["sgd", "adam", "lbfgs:noise=0.1"], {}),
        (["sgd", "lbfgs"], {"noise": 0.1}),
        (["sgd", "lbfgs:batch_size=8"], {}),
    ):
        target = get_objective(FUNCTION) if "batch_size=8" in specs[-1] else objective
        with pytest.raises(OptiscopeError, match="lbfgs searches along lines"):
            experiments.run_specs(target, specs, steps=100_000, **options)


def test_examples_count_the_training_examples_read(capsys):
    from optiscope.experiments import result_record, run_specs
    from optiscope.objectives import get_objective
    from optiscope.stochastic import MiniBatchGradient

    f = get_objective(FUNCTION)  # N = 442
    specs = [
        "sgd:lr=0.1",  # full gradient: 442 per step
        "sgd:lr=0.1,batch_size=1",  # SGD: 1 per step
        "sgd:lr=0.1,batch_size=100",  # 4 batches of 100 and one of 42 per epoch
        "lbfgs:line_search=strong_wolfe",  # every line-search trial reads all 442
    ]
    results = run_specs(f, specs, steps=7)
    records = [result_record(r) for r in results]
    full, single, hundred, lbfgs = records
    assert full["evaluations"] == 7 and full["examples"] == 7 * 442
    assert single["evaluations"] == 7 and single["examples"] == 7
    assert hundred["evaluations"] == 7 and hundred["examples"] == 442 + 2 * 100
    source = MiniBatchGradient(f, 100)  # independently: the sizes of the batches it hands out
    assert sum(source.indices(k, 1).shape[1] for k in range(1, 8)) == hundred["examples"]
    assert lbfgs["evaluations"] >= 1 and lbfgs["examples"] == lbfgs["evaluations"] * 442
    # A test function has no examples.
    (plain,) = run_specs(get_objective("aniso"), ["sgd:noise=0.1"], steps=5)
    assert result_record(plain)["examples"] is None
    code = main(["run", FUNCTION, "sgd:lr=0.1,batch_size=1", "--json", "--steps", "3"])
    assert code == 0 and json.loads(capsys.readouterr().out)["runs"][0]["examples"] == 3


@pytest.mark.parametrize(
    "spec", ["sgd:batch_size=0", "sgd:batch_size=100000", "sgd:noise=-1", "sgd:batch_size=abc"]
)
def test_bad_per_spec_gradient_options(capsys, spec):
    code = main(["run", FUNCTION, spec])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1


def test_batch_size_on_a_test_function_is_refused(capsys):
    code = main(["run", "aniso", "sgd:batch_size=4"])
    err = capsys.readouterr().err
    assert code == 2 and "data objective" in err


def test_table_shows_examples_read_for_data_objectives(capsys, tmp_path):
    from optiscope import get_objective

    data = compare_json(capsys, tmp_path)
    table = (tmp_path / "table.md").read_text()
    n = get_objective(FUNCTION).examples
    assert "examples read" in table
    assert data["runs"][0]["examples"] == 60 * n  # GD reads every example every step
    assert data["runs"][2]["examples"] == 60  # SGD reads one
    assert f"| {60 * n} |" in table
    code = main(["compare", "aniso", "sgd", "--steps", "3", "--out", str(tmp_path)])
    capsys.readouterr()
    assert code == 0 and "examples read" not in (tmp_path / "table.md").read_text()
