"""`explain` and `seed`: every number in the text comes from the JSON; seed files and parity."""

import json
import math

import numpy as np
import pytest

from optiscope import get_objective
from optiscope.cli import main
from optiscope.explain import direction_names, explain
from optiscope.seed import SEED_STEPS, seed_experiments
from optiscope.tables import num, pct
from optiscope.theory import heavy_ball_optimal
from seed_reference import SeedMomentum, SeedRMSProp, SeedSGD, seed_path

SPECS = [
    "sgd:lr=0.1",
    "momentum:lr=0.1,momentum=0.99",
    "rmsprop:lr=0.1,alpha=0.1,eps=1e-10",
    "nesterov:lr=0.1",  # unstable on aniso: diverges
]


@pytest.fixture(scope="module")
def explained():
    return explain(get_objective("aniso"), SPECS, steps=50, start=(1.0, 1.0))


def test_sentences_cite_the_measured_numbers(explained):
    for run in explained["runs"]:
        text = " ".join(run["text"])
        m = run["metrics"]
        assert num(m["loss_final"]) in text
        div = run.get("divergence")
        if div is not None and div["kind"] == "left_box":  # finite but outside the box
            where = ", ".join(num(v) for v in div["point"])
            assert f"left the box |w| <= {num(div['radius'])} at step {div['step']}" in text
            assert f"(at ({where}))" in text and "blew up" not in text
        elif m["diverged_at"] is not None:
            assert f"diverged at step {m['diverged_at']}" in text
        if m["steps_to_tol"] is not None:
            assert f"at step {m['steps_to_tol']}" in text
        if m["cycle_period"] is not None:
            assert f"period {m['cycle_period']}" in text and num(m["cycle_amplitude"]) in text
        elif m["rate"] is not None and m["diverged_at"] is None:
            assert num(m["rate"]) in text
        per = m["zigzag_per_direction"]
        names = direction_names(len(per), explained["theory"]["eigenvalues"])
        if any(per):  # each direction's share, named ("0%" alone would match "100%")
            for z, name in zip(per, names, strict=True):
                assert f"{pct(z)} of steps in {name}" in text
        else:
            assert "No zig-zag" in text
        th = run["theory"]
        if th.get("predicted_rate") is not None:
            assert num(th["predicted_rate"]) in text


def test_momentum_099_is_explained_as_slow_oscillation(explained):
    run = explained["runs"][1]
    th = run["theory"]
    # Complex roots decay by sqrt(momentum) per step.
    assert th["oscillates"] and th["predicted_rate"] == pytest.approx(math.sqrt(0.99), rel=1e-12)
    text = " ".join(run["text"])
    assert "oscillates" in text and f"{th['predicted_steps_to_tol']} steps" in text
    assert run["metrics"]["steps_to_tol"] is None and "did not reach" in text


def test_rmsprop_01_is_sign_descent_and_a_two_cycle(explained):
    run = explained["runs"][2]
    assert run["theory"]["sign_descent"]
    m = run["metrics"]
    assert m["cycle_period"] == 2
    assert m["cycle_amplitude"] == pytest.approx(0.05, abs=1e-8)  # lr / 2
    text = " ".join(run["text"])
    assert "sign-descent" in text and "period 2" in text


def test_unstable_setting_is_predicted_and_measured(explained):
    run = explained["runs"][3]
    assert run["theory"]["stable"] is False and run["metrics"]["diverged_at"] is not None
    assert "unstable" in " ".join(run["text"])


def test_best_settings_come_from_theory(explained):
    best = heavy_ball_optimal(2.0, 16.0)
    text = " ".join(explained["best"])
    assert num(best["optimal_lr"]) in text and num(best["optimal_momentum"]) in text


def test_explain_without_minimum_says_so(capsys):
    code = main(["explain", "saddle", "sgd:lr=0.1", "--steps", "20"])
    out = capsys.readouterr().out
    assert code == 0 and "no minimum" in out.lower()


def test_explain_and_theory_cli_json(capsys):
    code = main(["explain", "aniso", "momentum:lr=0.1,momentum=0.9", "--json", "--steps", "30"])
    data = json.loads(capsys.readouterr().out)
    assert code == 0 and data["runs"][0]["text"]
    code = main(["theory", "aniso", "momentum:lr=0.1,momentum=0.9", "--json"])
    data = json.loads(capsys.readouterr().out)
    assert code == 0
    assert data["eigenvalues"] == [2.0, 16.0] and data["kappa"] == 8.0
    assert data["gd"]["optimal_lr"] == pytest.approx(1 / 9) and data["gd"]["rate"] == pytest.approx(
        7 / 9
    )
    for key in ("optimal_lr", "optimal_momentum", "rate"):
        assert key in data["momentum"]
    run = data["runs"][0]
    for key in ("predicted_rate", "oscillates", "stable", "predicted_steps_to_tol"):
        assert key in run
    assert main(["theory", "saddle"]) == 2


SEED_CLASSES = {
    "sgd": lambda s: SeedSGD(0.1),
    "momentum": lambda s: SeedMomentum(0.1, alpha=s["momentum"]),
    "rmsprop": lambda s: SeedRMSProp(0.1, beta=s["alpha"]),
}


def test_seed_command_writes_everything_and_reproduces_the_note(tmp_path, capsys):
    code = main(["seed", "--out", str(tmp_path)])
    assert code == 0
    out = capsys.readouterr().out
    assert "rmsprop" in out and "momentum" in out
    summary = json.loads((tmp_path / "summary.json").read_text())
    md = (tmp_path / "summary.md").read_text()
    keys = [e.key for e in seed_experiments()]
    assert [e["key"] for e in summary["experiments"]] == keys
    for key in keys:
        png = tmp_path / f"{key}.png"
        assert png.stat().st_size > 20_000 and f"({key}.png)" in md
    # The JSON paths are the note's own classes' paths (seed parity through the whole pipeline).
    c2 = {"iso": 1.0, "aniso": 8.0}
    checked = 0
    for exp in summary["experiments"]:
        for run in exp["runs"]:
            make = SEED_CLASSES.get(run["optimizer"])
            off_seed = exp["key"].endswith("theory_optimal") and run["params"]["lr"] != 0.1
            if make is None or off_seed:  # the theory-optimal lr is not the note's 0.1
                continue
            expected = seed_path(make(run["params"]), c2[exp["function"]])
            np.testing.assert_allclose(run["path"], expected, rtol=0, atol=1e-12)
            assert len(run["path"]) == SEED_STEPS + 1
            checked += 1
    assert checked >= 15
    # The theory-optimal momentum row is there, at the closed-form optimum.
    best = heavy_ball_optimal(2.0, 16.0)
    optimal = [
        r
        for r in summary["experiments"][-1]["runs"]
        if r["params"].get("momentum") == pytest.approx(best["optimal_momentum"])
    ]
    assert optimal and optimal[0]["params"]["lr"] == pytest.approx(best["optimal_lr"])
    assert optimal[0]["metrics"]["steps_to_tol"] is not None
    # Every table row has all columns; the RMSProp 0.1 rows show the 2-cycle.
    assert all(len(row) == len(summary["columns"]) for row in summary["rows"])
    cycle_rows = [r for r in summary["rows"] if "alpha=0.1" in r[2]]
    assert cycle_rows and all("period 2, amplitude 0.05" in r[9] for r in cycle_rows)


def test_a_run_that_finds_another_minimum_is_not_judged_by_the_first_ones_theory():
    data = explain(get_objective("himmelblau"), ["sgd:lr=0.01"], steps=300, start=(-0.5, -0.5))
    run = data["runs"][0]
    text = " ".join(run["text"])
    assert "not the one at (3, 2)" in text and "theory predicts" not in text
    assert run["theory"] is None


def test_unstable_on_a_non_quadratic_means_cannot_settle_not_must_diverge():
    run = explain(get_objective("rastrigin"), ["sgd:lr=0.1"], steps=100)["runs"][0]
    text = " ".join(run["text"])
    assert run["metrics"]["diverged_at"] is None
    assert "cannot settle" in text and "must diverge" not in text


def test_a_root_of_modulus_one_is_not_called_growth():
    run = explain(get_objective("iso"), ["sgd:lr=1"], steps=20)["runs"][0]
    text = " ".join(run["text"])
    assert "modulus 1" in text and "must diverge" not in text


def test_undefined_zigzag_is_not_reported_as_none():
    run = explain(get_objective("aniso"), ["sgd:lr=0.1"], steps=1)["runs"][0]
    assert run["metrics"]["zigzag_per_direction"] == [None, None]
    assert not any(s.startswith(("Zig-zag", "No zig-zag")) for s in run["text"])


def test_gradient_options_do_not_break_the_theory():
    data = explain(get_objective("aniso"), ["sgd:lr=0.1,noise=0.1"], steps=20)
    assert data["theory_error"] is None and data["runs"][0]["theory"]["method"] == "gd"
