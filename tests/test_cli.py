"""The command line end to end: exit codes, JSON schema, files written, one-line errors."""

import json
import subprocess
import sys

import numpy as np
import pytest

from optiscope.cli import main
from optiscope.engine import escape_radius
from optiscope.objectives import get_objective


def cli(capsys, *argv):
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_run_json_schema_and_values(capsys):
    code, out, err = cli(
        capsys, "run", "aniso", "sgd:lr=0.1", "--steps", "50", "--start", "1,1", "--json"
    )
    assert code == 0, err
    data = json.loads(out)
    assert data["function"] == "aniso" and data["steps"] == 50 and data["start"] == [1.0, 1.0]
    (run,) = data["runs"]
    assert run["optimizer"] == "sgd"
    assert run["params"] == {
        "lr": 0.1,
        "momentum": 0.0,
        "dampening": 0.0,
        "weight_decay": 0.0,
        "nesterov": False,
    }
    # Gradient descent multiplies w1 by 1 - 0.1*2 and w2 by 1 - 0.1*16 per step.
    np.testing.assert_allclose(run["x_final"], [0.8**50, 0.6**50], rtol=1e-12)
    assert run["loss_final"] == pytest.approx(0.8**100 + 8 * 0.6**100, rel=1e-12)
    assert run["diverged_at"] is None
    assert "path" not in run


def test_run_json_with_path(capsys):
    code, out, _ = cli(capsys, "run", "iso", "momentum:lr=0.1", "--steps", "7", "--json", "--path")
    assert code == 0
    path = json.loads(out)["runs"][0]["path"]
    assert len(path) == 8 and all(len(p) == 2 for p in path)
    assert path[0] == list(get_objective("iso").start)


def test_diverging_run_is_a_result(capsys):
    code, out, _ = cli(capsys, "run", "aniso", "sgd:lr=1", "--start", "1,1", "--json")
    assert code == 0
    run = json.loads(out)["runs"][0]
    radius = escape_radius(get_objective("aniso"), np.ones((1, 2)))
    expected = next(k for k in range(1, 100) if 15.0**k > radius)
    assert run["diverged_at"] == expected
    code, out, _ = cli(capsys, "run", "aniso", "sgd:lr=1", "--start", "1,1")
    assert code == 0
    assert f"step {expected}" in out


def test_compare_writes_figure_table_and_json(tmp_path, capsys):
    import matplotlib.image as mpimg

    code, out, err = cli(
        capsys,
        "compare",
        "aniso",
        "sgd:lr=0.1",
        "momentum:lr=0.1,momentum=0.9",
        "rmsprop:lr=0.1,alpha=0.9,eps=1e-10",
        "--steps",
        "50",
        "--start",
        "1,1",
        "--out",
        str(tmp_path),
    )
    assert code == 0, err
    png = tmp_path / "compare.png"
    assert png.stat().st_size > 10_000
    assert mpimg.imread(png).ndim == 3
    table = (tmp_path / "table.md").read_text()
    for name in ("sgd", "momentum", "rmsprop"):
        assert name in table and name in out
    data = json.loads((tmp_path / "runs.json").read_text())
    assert [r["optimizer"] for r in data["runs"]] == ["sgd", "momentum", "rmsprop"]
    assert data["runs"][2]["params"]["eps"] == 1e-10


def test_run_with_typed_formula_and_plot(tmp_path, capsys):
    png = tmp_path / "fig" / "rosen.png"
    code, out, err = cli(
        capsys,
        "run",
        "(1-w1)**2 + 100*(w2-w1**2)**2",
        "adam:lr=0.05",
        "--steps",
        "300",
        "--start=-1.2,1",
        "--plot",
        str(png),
        "--json",
    )
    assert code == 0, err
    assert png.stat().st_size > 10_000
    run = json.loads(out)["runs"][0]
    assert run["loss_final"] < 24.2  # below the start's loss 24.2: it moved downhill


def test_listings(capsys):
    code, out, _ = cli(capsys, "functions")
    assert code == 0
    for name in ("iso", "aniso", "quadratic", "rosenbrock", "six_hump_camel", "kappa"):
        assert name in out
    code, out, _ = cli(capsys, "optimizers")
    assert code == 0
    for name in (
        "sgd",
        "momentum",
        "nesterov",
        "rmsprop",
        "adam",
        "adamw",
        "adagrad",
        "adadelta",
        "lr_decay",
        "amsgrad",
    ):
        assert name in out
    code, out, _ = cli(capsys, "optimizers", "rmsprop")
    assert code == 0 and "alpha" in out


BAD_INPUTS = [
    (["run", "nosuchfunction", "sgd"], "nosuchfunction"),
    (["run", "aniso", "nosuchopt"], "nosuchopt"),
    (["run", "aniso", "sgd:foo=1"], "foo"),
    (["run", "aniso", "sgd:lr=0"], "lr"),
    (["run", "aniso", "sgd:lr=-1"], "lr"),
    (["run", "aniso", "sgd:lr=nan"], "lr"),
    (["run", "aniso", "momentum:momentum=1"], "momentum"),
    (["run", "aniso", "momentum:momentum=1.5"], "momentum"),
    (["run", "aniso", "sgd", "--start", "1,2,3"], "start"),
    (["run", "aniso", "sgd", "--start", "a,b"], "start"),
    (["run", "aniso", "sgd", "--steps", "0"], "steps"),
    (["run", "aniso", "sgd", "--steps", "1000000000"], "steps"),
    (["run", "aniso", "sgd", "--steps", "x"], "steps"),
    (["run", "aniso", "sgd", "--tol", "-1"], "tol"),
    (["run", "__import__('os').system('x')", "sgd"], "not allowed"),
    (["run", "w1.__class__", "sgd"], "not allowed"),
    (["run", "lambda: 0", "sgd"], "lambda"),
    (["run", "lambda x: x", "sgd"], "lambda"),
    (["run", "9**9**9", "sgd"], "exponent"),
    (["run", "w1" * 50_000, "sgd"], "long"),
    (["run", "quadratic:kappa=0.5", "sgd"], "kappa"),
    (["run", "quadratic:tilt=3", "sgd"], "tilt"),
    (["compare", "aniso"], "OPTSPEC"),
    (["run"], "function"),
    (["frobnicate"], "frobnicate"),
]


@pytest.mark.parametrize(
    ("argv", "needle"), BAD_INPUTS, ids=[" ".join(a)[:40] for a, _ in BAD_INPUTS]
)
def test_bad_input_exits_2_with_one_line(capsys, argv, needle):
    code, out, err = cli(capsys, *argv)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    assert needle.lower() in lines[0].lower(), lines[0]


def test_console_script_exit_status():
    """The real process: exit status 2 and a single stderr line, no traceback."""
    proc = subprocess.run(
        [sys.executable, "-m", "optiscope", "run", "aniso", "sgd:lr=-1"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "lr" in proc.stderr
    proc = subprocess.run(
        [sys.executable, "-m", "optiscope", "run", "aniso", "sgd:lr=0.1", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0 and json.loads(proc.stdout)["runs"][0]["optimizer"] == "sgd"


def test_formula_that_python_warns_about_still_gives_one_line():
    """ast.parse warns (SyntaxWarning) on '1if ...' before failing; stderr must stay one line."""
    proc = subprocess.run(
        [sys.executable, "-m", "optiscope", "run", "1if w1 else 2", "sgd"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "SyntaxWarning" not in proc.stderr


def test_plot_reports_the_file_it_wrote(tmp_path, capsys):
    code, out, _ = cli(
        capsys, "run", "aniso", "sgd", "--steps", "5", "--plot", str(tmp_path / "fig")
    )
    assert code == 0
    assert (tmp_path / "fig.png").stat().st_size > 10_000
    assert f"figure: {tmp_path / 'fig.png'}" in out


def _first_row(path):
    return (path / "table.md").read_text().splitlines()[2].split("|")


def test_steps_to_tol_is_blank_without_a_known_minimum(tmp_path, capsys):
    code, _, _ = cli(
        capsys, "compare", "w1**2 - w2**2", "sgd:lr=0.1", "--steps", "20", "--out", str(tmp_path)
    )
    assert code == 0
    assert _first_row(tmp_path)[5].strip() == "-"  # a saddle: no minimum, no gap to reach
    code, _, _ = cli(
        capsys, "compare", "iso", "sgd:lr=0.01", "--steps", "5", "--out", str(tmp_path)
    )
    assert _first_row(tmp_path)[5].strip() == "not reached"


def test_a_typed_formula_gets_the_minimum_the_theory_finds(tmp_path, capsys):
    """The same bowl typed in and from the catalogue: the same steps to tolerance, because the
    formula's minimizer is found once (from the start) and used by the metrics."""
    rows = []
    for function in ("w1**2 + w2**2", "iso"):
        argv = ["compare", function, "sgd:lr=0.1", "--steps", "50", "--start=-1.5,1.5"]
        code, out, _ = cli(capsys, *argv, "--out", str(tmp_path))
        assert code == 0
        rows.append(_first_row(tmp_path)[3:6])
    assert rows[0] == rows[1] and rows[0][2].strip().isdigit()
    code, out, _ = cli(capsys, "run", "w1**2 + w2**2", "sgd:lr=0.1", "--start=-1.5,1.5")
    assert "minimum: f = 0 at (0, 0), a local minimizer found numerically" in out
