"""`optiscope sweep` at the boundary: files, strict JSON, one-line errors, Ctrl-C."""

from __future__ import annotations

import json
import sys

import pandas as pd
import pytest

from optiscope.cli import main


def _no_constants(name: str) -> None:
    raise AssertionError(f"JSON holds the non-standard constant {name}")


def test_sweep_writes_tables_and_strict_json(tmp_path, capsys) -> None:
    out = tmp_path / "out"
    code = main(
        ["sweep", "aniso", "momentum:lr=0.05..0.2@log4,momentum=0..0.6@3", "--steps", "60",
         "--start", "1,1", "--metric", "rate", "--out", str(out), "--json"]
    )  # fmt: skip
    captured = capsys.readouterr()
    assert code == 0, captured.err
    data = json.loads(captured.out, parse_constant=_no_constants)
    assert data["rows"] == 12 and data["function"] == "aniso" and data["metric"] == "rate"
    assert [a["name"] for a in data["axes"]] == ["lr", "momentum"]
    rates = [row["rate"] for row in data["best"]]
    defined = [r for r in rates if r is not None]
    assert defined and rates[: len(defined)] == sorted(defined)  # best first, undefined last
    assert [n["spec"] for n in data["note"]][0] == "sgd:lr=0.1"
    parquet = pd.read_parquet(out / "sweep.parquet")
    csv = pd.read_csv(out / "sweep.csv", index_col="row")
    assert list(parquet.columns) == list(csv.columns) and len(parquet) == len(csv) == 12
    assert str(out / "sweep.parquet") in data["files"]


def test_sweep_table_names_the_best_and_the_note(tmp_path, capsys) -> None:
    code = main(["sweep", "aniso", "sgd:lr=0.01..0.12@4", "--steps", "40", "--out", str(tmp_path)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "best settings by rate" in captured.out  # the default metric
    assert "the note's sgd:lr=0.1" in captured.out and "rank" in captured.out
    assert "theory (gradient descent on the quadratic, mu=2, L=16): optimal lr 0.1111" in (
        captured.out
    )


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["sweep", "aniso", "sgd:lr=1.."], "count after '@'"),
        (["sweep", "aniso", "sgd:lr=a..b@3"], "not a number"),
        (["sweep", "aniso", "sgd:lr=1..2@0"], "0 points"),
        (["sweep", "aniso", "sgd:lr=0..1@log5"], "0 < lo"),
        (["sweep", "aniso", "sgd:lr=1..2@"], "count after '@'"),
        (["sweep", "aniso", "sgd:lr=|"], "empty item"),
        (["sweep", "aniso", "momentum:momentum=0..2@3"], "outside the valid interval"),
        (["sweep", "aniso", "momentum:beta=0..1@3"], "unknown hyperparameter 'beta'"),
        (["sweep", "aniso", "sgd:lr=0.001..1@log3000,momentum=0..0.9@3000"], "sweep too large"),
        (["sweep", "aniso", "sgd:lr=0.1", "--metric", "speed"], "invalid metric"),
        (["sweep", "aniso", "sgd:lr=0.1", "--method", "random"], "add --samples"),
        (
            ["sweep", "aniso", "sgd:lr=0.1..1@3", "--samples", "4", "--method", "x"],
            "invalid method",
        ),
        (["sweep", "aniso", "sgd:lr=0.1", "--dask", "remote"], "invalid --dask"),
        (["sweep", "aniso", "sgd:lr=0.1", "--starts", "1..2@3"], "expected 2 comma-separated"),
        (["sweep", "nosuch", "sgd:lr=0.1"], "nosuch"),
    ],
)
def test_bad_sweeps_exit_2_with_one_line(argv, words, tmp_path, capsys) -> None:
    code = main([*argv, "--out", str(tmp_path / "o")])
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert code == 2, captured.err
    assert len(lines) == 1 and lines[0].startswith("optiscope"), captured.err
    assert words in lines[0]
    assert "Traceback" not in captured.err


def test_ctrl_c_writes_finished_rows_and_exits_130(tmp_path, capsys, monkeypatch) -> None:
    sweep_module = sys.modules["optiscope.sweep"]
    monkeypatch.setattr(sweep_module, "FUSED_CHUNK_ROWS", 3)
    monkeypatch.setattr(sweep_module, "NUMPY_CHUNK_ROWS", 3)
    monkeypatch.setattr(sweep_module, "NUMPY_MIN_WORK", 1)
    real = sweep_module.evaluate_chunk

    def interrupted_at_second_chunk(task):
        if task.index == 1:
            raise KeyboardInterrupt
        return real(task)

    monkeypatch.setattr(sweep_module, "evaluate_chunk", interrupted_at_second_chunk)
    code = main(["sweep", "aniso", "sgd:lr=0.01..0.1@9", "--steps", "20", "--out", str(tmp_path)])
    captured = capsys.readouterr()
    assert code == 130
    assert "aborted after 3 of 9 settings; wrote" in captured.err
    assert len(pd.read_parquet(tmp_path / "sweep.parquet")) == 3
    assert len(pd.read_csv(tmp_path / "sweep.csv")) == 3


def test_maps_default_to_the_metric_steps_and_zigzag_and_can_be_chosen(tmp_path, capsys) -> None:
    base = ["sweep", "aniso", "momentum:lr=0.05..0.2@3,momentum=0..0.5@3", "--steps", "30"]
    assert main([*base, "--out", str(tmp_path / "a")]) == 0
    assert sorted(p.name for p in (tmp_path / "a").glob("*.png")) == [
        "rate.png",
        "steps_to_tol.png",
        "zigzag.png",
    ]
    assert main([*base, "--out", str(tmp_path / "b"), "--maps", "overshoot,gap_final"]) == 0
    assert sorted(p.name for p in (tmp_path / "b").glob("*.png")) == [
        "gap_final.png",
        "overshoot.png",
    ]
    assert main([*base, "--out", str(tmp_path / "c"), "--maps", "none"]) == 0
    assert not list((tmp_path / "c").glob("*.png"))
    capsys.readouterr()
    assert main([*base, "--out", str(tmp_path / "d"), "--maps", "speed"]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("optiscope: error: invalid metric: 'speed' (valid: ")
    assert "\n" not in error and not (tmp_path / "d" / "sweep.csv").exists()
