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


def test_per_spec_noise_on_a_test_function(capsys, tmp_path):
    code = main(["run", "aniso", "sgd:lr=0.05,noise=0.5", "--json", "--steps", "20"])
    run = json.loads(capsys.readouterr().out)["runs"][0]
    assert code == 0 and run["noise"] == 0.5 and run["batch_size"] == "full"


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
