"""Hostile and unusual input at the boundary: the CLI and the public Python API.

Whatever comes in, what goes out is an exit status in {0, 1, 2} (130 for Ctrl-C), at most one
line on stderr when it fails, never a traceback, strictly valid JSON with --json, and files that
are whole or absent. Three layers:

- the hostile inputs found so far, kept as regression cases (issue 7's list);
- a property-based test (hypothesis) that drives the CLI in-process with generated commands
  (the same 120 every run; ``OPTISCOPE_HYPOTHESIS=explore OPTISCOPE_FUZZ_EXAMPLES=10000``
  hunts with new ones);
- real processes for what only a process shows: Ctrl-C, /dev/full, a closed pipe, an ASCII
  terminal, a bad MPLBACKEND.
"""

from __future__ import annotations

import errno
import json
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import optiscope as osc
from optiscope import output
from optiscope.cli import main
from optiscope.errors import OptiscopeError

SECONDS_PER_COMMAND = 30.0  # generous on a shared 2-core machine; a hang is what it catches


def _no_constants(name: str) -> None:
    raise AssertionError(f"JSON holds the non-standard constant {name}")


def strict_json(text: str):
    """Parse ``text`` as standard JSON (NaN and Infinity are not JSON)."""
    return json.loads(text, parse_constant=_no_constants)


def check_outcome(argv: list[str], code: int, out: str, err: str, elapsed: float) -> None:
    """The contract every command keeps, whatever its arguments."""
    shown = " ".join(argv)[:200]
    assert code in (0, 1, 2), f"{shown}: exit status {code}"
    assert "Traceback" not in out + err, f"{shown}: {err[-2000:]}"
    assert elapsed < SECONDS_PER_COMMAND, f"{shown}: took {elapsed:.1f} s"
    if code != 0:
        lines = err.strip().splitlines()
        assert len(lines) == 1, f"{shown}: stderr is not one line: {err[-2000:]!r}"
        assert lines[0].startswith("optiscope"), lines[0]
        assert "\x1b" not in err, f"{shown}: escape sequence on stderr"
    elif "--json" in argv and "--help" not in argv:
        strict_json(out)


def cli(capsys, argv: list[str]) -> tuple[int, str, str]:
    start = time.perf_counter()
    code = main(list(argv))
    elapsed = time.perf_counter() - start
    captured = capsys.readouterr()
    check_outcome(argv, code, captured.out, captured.err, elapsed)
    return code, captured.out, captured.err


# --- the inputs of issue 7, kept ---------------------------------------------------------

NESTED_4 = "((((3*w1)**100)**100)**100)**100"
NESTED_5 = "(((((3*w1)**100)**100)**100)**100)**100"
# (argv, exit status): 0 where a correct result exists, 2 where the input must be refused.
REGRESSIONS: list[tuple[list[str], int]] = [
    (["explain", "aniso", "sgd:lr=0.1,momentum=0.5,dampening=1"], 0),
    (["explain", "quadratic:kappa=1e308", "sgd:lr=0.1", "adam:lr=0.1"], 0),
    (["theory", "quadratic:kappa=1e308", "sgd:lr=0.1", "--json"], 2),
    (["explain", "aniso", "sgd:lr=1e308", "--json"], 0),
    (["theory", "abs(w1)**1.5+w2**2", "sgd:lr=0.1", "--start=0,1"], 2),
    (["theory", "1e-300*(w1**2+w2**2)"], 0),
    (["theory", "1e-300*(w1**2+w2**2)", "sgd:lr=5e-324", "--json"], 0),
    (["run", "rosenbrock", "sgd:lr=1e308", "--steps", "20"], 0),
    (["theory", "rosenbrock", "momentum:lr=5e-324,momentum=0.9", "--start=1e300,-1e300"], 0),
    (["explain", "himmelblau", "adam:lr=1e308", "--start=1e-300,1e-300", "--steps", "20"], 0),
    (["run", "((3*w1)**100)**100", "sgd:lr=0.1", "--start=0.1,0"], 2),
    (["run", NESTED_4, "sgd", "--steps", "5"], 2),
    (["run", NESTED_5, "sgd", "--steps", "5"], 2),
    (["run", "(" * 400 + "w1" + ")" * 400, "sgd", "--steps", "5"], 2),
    (["run", "w2" + "-" * 900 + "w1", "sgd", "--steps", "5"], 2),
    (["run", "w1**2+w2**2 # [/bold]", "sgd:lr=0.1"], 2),
    (["run", "w1**2+w2**2 # \\frac{\\frac{", "sgd:lr=0.1", "--steps", "5"], 2),
    (["run", "w1**2+w2**2 # \x1b]0;pwned\x07\x1b[2J", "sgd", "--steps", "5"], 2),
    (["run", "w1**2+w2**2 # [link=http://x]y[/link]", "sgd", "--steps", "5"], 2),
    (["run", "exp(log(w1))+w2**2", "sgd:lr=0.1", "--start=-1.5,1", "--json"], 2),
    (["run", "logreg:features=all,l2=1e-300", "sgd:lr=0.1", "--steps", "20"], 2),
    (["run", "\uff571**2+w2**2", "sgd"], 2),
    (["run", "aniso", "sgd:lr=\uff11"], 2),
    (["run", "aniso", "sgd:lr=\u0661"], 2),
    (["run", "aniso", "sgd", "--start", "\u0661,1"], 2),
    (["run", "aniso", "sgd:lr=1_0"], 2),
    (["run", "aniso", "sgd", "--plot", "x.pgf"], 2),
    (["run", "aniso", "sgd", "--plot", "/proc/optiscope/x.png"], 2),
    (["run", "aniso", "sgd", "--plot", "/dev/null"], 2),
    (["compare", "aniso", "sgd", "--out", "/proc/optiscope-test"], 2),
    (["run", "aniso", "sgd", "--plot", "/tmp/" + "a" * 300 + ".png"], 2),
    (["compare", "aniso", "sgd", "--out", "/tmp/" + "b" * 300], 2),
    (["run", "aniso", "sgd", "--plot", "/etc/hostname/x.png"], 2),
    (["compare", "aniso", "sgd", "--out", "/sys/optiscope-test"], 2),
    (["seed", "--out", "/proc/optiscope-test"], 2),
    (["run", "aniso", "sgd:lr=0.1\x1b[2J"], 2),
    (["run", "aniso\x1b]0;title\x07", "sgd"], 2),
    (["run", "aniso", "sgd", "--steps", "100000000000000000000"], 2),
    (["run", "aniso", "sgd", "--start", "1e309,0"], 2),
    (["run", "aniso", "sgd", "--tol", "nan"], 2),
    (["run", "aniso", "sgd", "--noise", "inf"], 2),
    (["run", "aniso", "sgd", "--seed", "-1"], 2),
    (["run", "linreg", "sgd", "--batch-size", "0"], 2),
    (["explain", "aniso", "sgd:lr=0.1", "--noise", "0.5", "--steps", "200", "--start", "1,1"], 0),
]


@pytest.mark.parametrize(
    ("argv", "expected"), REGRESSIONS, ids=[ascii(" ".join(a))[:50] for a, _ in REGRESSIONS]
)
def test_issue_7_inputs_give_a_result_or_one_line(capsys, argv, expected):
    code, out, err = cli(capsys, argv)
    assert code == expected, err
    if code == 0 and "--json" in argv:
        assert strict_json(out)


def test_a_folder_named_like_the_figure_is_refused(tmp_path, capsys):
    (tmp_path / "fig.png").mkdir()
    code, _, err = cli(capsys, ["run", "aniso", "sgd", "--plot", str(tmp_path / "fig.png")])
    assert code == 2 and "it is a folder" in err


def test_plot_on_dev_null_writes_nothing_beside_it(capsys):
    before = set(os.listdir("/dev"))
    code, _, err = cli(capsys, ["run", "aniso", "sgd", "--plot", "/dev/null"])
    assert code == 2 and "not a regular file" in err
    assert set(os.listdir("/dev")) - before == set()


def test_json_writes_non_finite_numbers_as_strings():
    text = output.to_json({"a": float("inf"), "b": [float("-inf"), np.float64("nan")], "c": 1})
    assert strict_json(text) == {"a": "inf", "b": ["-inf", "nan"], "c": 1}


def test_compare_writes_into_its_own_folder_by_default(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, _ = cli(capsys, ["compare", "aniso", "sgd", "--steps", "5"])
    assert code == 0
    assert sorted(p.name for p in (tmp_path / "compare_out").iterdir()) == [
        "compare.png",
        "runs.json",
        "table.md",
    ]
    assert not (tmp_path / "out").exists()


def test_version(capsys):
    code, out, _ = cli(capsys, ["--version"])
    assert code == 0 and out.strip() == f"optiscope {osc.__version__}"


# --- files are whole or absent --------------------------------------------------------------


def test_a_failed_write_leaves_the_old_file_and_no_partial_one(tmp_path, monkeypatch, capsys):
    target = tmp_path / "runs"
    code, _, _ = cli(capsys, ["compare", "aniso", "sgd", "--steps", "5", "--out", str(target)])
    assert code == 0
    before = {p.name: p.read_bytes() for p in target.iterdir()}

    def disk_full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(output.os, "fsync", disk_full)
    code, _, err = cli(capsys, ["compare", "aniso", "sgd", "--steps", "9", "--out", str(target)])
    assert code == 1 and "No space left on device" in err
    after = {p.name: p.read_bytes() for p in target.iterdir()}
    assert after == before  # old files intact, no temporary file left behind


# --- the property: any generated command keeps the contract ----------------------------------

CATALOGUE = [
    "iso",
    "aniso",
    "quadratic",
    "rosenbrock",
    "beale",
    "himmelblau",
    "booth",
    "matyas",
    "saddle",
    "monkey_saddle",
    "rastrigin",
    "ackley",
    "styblinski_tang",
    "goldstein_price",
    "six_hump_camel",
    "linreg",
    "logreg",
]
OPTIMIZER_KEYS = {
    "sgd": ["lr", "momentum", "dampening", "weight_decay", "nesterov"],
    "momentum": ["lr", "momentum", "momentum_form"],
    "nesterov": ["lr", "momentum"],
    "rmsprop": ["lr", "alpha", "eps", "centered", "momentum", "weight_decay"],
    "adam": ["lr", "beta1", "beta2", "eps", "amsgrad", "weight_decay"],
    "adamw": ["lr", "beta1", "beta2", "eps", "weight_decay"],
    "adagrad": ["lr", "lr_decay", "eps", "initial_accumulator_value", "weight_decay"],
    "adadelta": ["lr", "rho", "eps"],
    "ftrl": ["lr", "l1", "l2", "beta", "lr_power", "l2_shrinkage"],
    "lbfgs": ["lr", "history_size", "line_search", "tolerance_grad", "tolerance_change"],
}
SCHEDULE_KEYS = ["schedule", "step_size", "gamma", "T_max", "eta_min", "decay", "warmup"]
NASTY_TEXT = st.sampled_from(
    [
        "",
        " ",
        "nan",
        "inf",
        "-inf",
        "1e308",
        "-1e308",
        "5e-324",
        "1e-300",
        "0",
        "-0",
        "1",
        "2",
        "0.5",
        "0.999999999999",
        "1e400",
        "true",
        "false",
        "step",
        "cosine",
        "strong_wolfe",
        "torch",
        "\uff11",
        "\x1b[2J",
        "[bold]",
        "%s",
        "{}",
        "'",
        "=",
        ",",
        ":",
        "1" * 400,
    ]
)
NUMBER_TEXT = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    NASTY_TEXT,
)
FORMULA_PIECES = st.sampled_from(
    [
        "w1",
        "w2",
        "w1**2",
        "w2**2",
        "(w1-1)",
        "sin(w1)",
        "exp(w2)",
        "log(w1)",
        "sqrt(w2)",
        "abs(w1)",
        "tanh(w1)",
        "cosh(w2)",
        "1e-300",
        "1e12",
        "pi",
        "e",
        "3",
        "0",
        "**100",
        "**-3",
        "**0.5",
        "^2",
        "/0",
        "/w1",
        "(",
        ")",
        "+",
        "-",
        "*",
        "/",
        "#",
        "\x1b",
        "\uff57",
        "__import__",
        ".real",
        "[0]",
        "lambda",
        " ",
    ]
)


@st.composite
def functions(draw) -> str:
    kind = draw(st.sampled_from(["catalogue", "catalogue", "formula", "junk"]))
    if kind == "catalogue":
        name = draw(st.sampled_from(CATALOGUE))
        if draw(st.booleans()):
            key = draw(st.sampled_from(["kappa", "angle", "scale", "features", "l2", "x"]))
            return f"{name}:{key}={draw(NUMBER_TEXT)}"
        return name
    if kind == "formula":
        return "".join(draw(st.lists(FORMULA_PIECES, min_size=1, max_size=12)))
    return draw(st.text(max_size=40))


@st.composite
def optimizer_specs(draw) -> str:
    name = draw(st.sampled_from([*OPTIMIZER_KEYS, "nosuch"]))
    keys = OPTIMIZER_KEYS.get(name, ["lr"]) + SCHEDULE_KEYS + ["noise", "batch_size", "bogus"]
    pairs = draw(
        st.lists(
            st.tuples(st.sampled_from(keys), NUMBER_TEXT), max_size=3, unique_by=lambda p: p[0]
        )
    )
    if not pairs:
        return name
    return name + ":" + ",".join(f"{k}={v}" for k, v in pairs)


@st.composite
def commands(draw, folder: Path) -> list[str]:
    command = draw(
        st.sampled_from(["run", "run", "compare", "theory", "explain", "explain", "functions"])
    )
    if command == "functions":
        return [command]
    argv = [command, draw(functions())]
    count = 1 if command == "run" else draw(st.integers(min_value=0, max_value=3))
    argv += [draw(optimizer_specs()) for _ in range(count)]
    if command != "theory":
        steps = draw(st.one_of(st.integers(min_value=-5, max_value=300), NASTY_TEXT))
        argv += ["--steps", str(steps)]
    if draw(st.booleans()):
        argv += [f"--start={draw(NUMBER_TEXT)},{draw(NUMBER_TEXT)}"]
    if draw(st.booleans()):
        argv += ["--tol", draw(NUMBER_TEXT)]
    if command in ("run", "compare", "explain") and draw(st.booleans()):
        argv += ["--noise", draw(NUMBER_TEXT)]
    if command in ("run", "compare", "explain") and draw(st.booleans()):
        argv += ["--batch-size", draw(st.sampled_from(["full", "1", "8", "0", "-1", "x", "1e9"]))]
    if command in ("run", "explain") and draw(st.integers(0, 4)) == 0:
        name = draw(
            st.sampled_from(["f.png", "f.svg", "f", "f.pgf", "f.docx", "sub/f.pdf", "n" * 300])
        )
        argv += ["--plot", str(folder / name)]
    if command == "compare":
        argv += ["--out", str(folder / "cmp")]
    if command != "compare" and draw(st.booleans()):
        argv += ["--json"]
    return argv


@settings(
    max_examples=int(os.environ.get("OPTISCOPE_FUZZ_EXAMPLES", "120")),
    deadline=None,  # the elapsed time is checked per command against SECONDS_PER_COMMAND
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_generated_commands_keep_the_contract(capsys, tmp_path_factory, data):
    folder = tmp_path_factory.getbasetemp() / "fuzz"
    argv = data.draw(commands(folder))
    cli(capsys, argv)


def test_generated_commands_stay_within_memory():
    """The whole fuzz run above must not have needed more than a few GB (ru_maxrss, KiB)."""
    peak_gib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    assert peak_gib < 4.0, f"peak memory {peak_gib:.2f} GiB"


# --- the public Python API ---------------------------------------------------------------------


def _aniso_sgd():
    return osc.get_objective("aniso"), *osc.get_optimizer("sgd")


API_CALLS = {
    "get_optimizer(None)": lambda: osc.get_optimizer(None),
    "get_optimizer(['sgd'])": lambda: osc.get_optimizer(["sgd"]),
    "get_objective(123)": lambda: osc.get_objective(123),
    "get_objective(b'aniso')": lambda: osc.get_objective(b"aniso"),
    "run(f, opt, {'lr': 'a'})": lambda: osc.run(*_aniso_sgd()[:2], {"lr": "a"}),
    "run(f, opt, {'lr': None})": lambda: osc.run(*_aniso_sgd()[:2], {"lr": None}),
    "run(f, opt, {'lr': [0.1]})": lambda: osc.run(*_aniso_sgd()[:2], {"lr": [0.1]}),
    "run(f, opt, {'bogus': 1})": lambda: osc.run(*_aniso_sgd()[:2], {"bogus": 1}),
    "run(f, opt, [1, 2])": lambda: osc.run(*_aniso_sgd()[:2], [1, 2]),
    "run(f, opt, hp, start='1,1')": lambda: osc.run(*_aniso_sgd(), start="1,1"),
    "run(f, opt, hp, start=[1, 2, 3])": lambda: osc.run(*_aniso_sgd(), start=[1, 2, 3]),
    "run('aniso', opt, hp)": lambda: osc.run("aniso", *_aniso_sgd()[1:]),
    "run(f, 'sgd', hp)": lambda: osc.run(_aniso_sgd()[0], "sgd", _aniso_sgd()[2]),
    "run(f, opt, hp, steps='5')": lambda: osc.run(*_aniso_sgd(), steps="5"),
    "run(f, opt, hp, gradient=3)": lambda: osc.run(*_aniso_sgd(), gradient=3),
}


@pytest.mark.parametrize("call", list(API_CALLS), ids=list(API_CALLS))
def test_public_api_refuses_bad_arguments_by_name(call):
    with pytest.raises(OptiscopeError) as err:
        API_CALLS[call]()
    message = str(err.value)
    assert "\n" not in message and len(message) < 400, message


def test_run_fills_missing_hyperparameters_with_defaults():
    f, opt, hp = _aniso_sgd()
    partial = osc.run(f, opt, {"lr": 0.1}, steps=5)
    full = osc.run(f, opt, {**hp, "lr": 0.1}, steps=5)
    np.testing.assert_array_equal(partial.positions, full.positions)


def test_explain_refuses_a_bare_string_of_specs():
    from optiscope.explain import explain

    with pytest.raises(OptiscopeError, match="list"):
        explain(osc.get_objective("aniso"), "sgd")


def test_a_mini_batch_source_of_another_data_set_is_refused():
    from optiscope.stochastic import gradient_source

    linreg, logreg = osc.get_objective("linreg"), osc.get_objective("logreg")
    opt, hp = osc.get_optimizer("sgd")
    source = gradient_source(logreg, 0.0, 8, 0)
    with pytest.raises(OptiscopeError, match="built for"):
        osc.run(linreg, opt, hp, steps=3, gradient=source)


# --- what only a real process shows ------------------------------------------------------------


def _process(argv: list[str], env: dict[str, str] | None = None, **kwargs):
    return subprocess.run(
        [sys.executable, "-m", "optiscope", *argv],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
        **kwargs,
    )


def test_ctrl_c_says_aborted_and_exits_130():
    # L-BFGS runs on the NumPy engine (the fused one would finish before the signal)
    proc = subprocess.Popen(
        [sys.executable, "-m", "optiscope", "compare", "aniso", "lbfgs", "--steps", "100000"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=os.environ.get("TMPDIR", "/tmp"),
    )
    time.sleep(4.0)  # imports done, the run is under way
    proc.send_signal(signal.SIGINT)
    with proc:
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert err.strip() == "optiscope: aborted"
    assert "Traceback" not in err


@pytest.mark.parametrize("argv", [["functions"], ["run", "aniso", "sgd", "--json"]])
def test_a_full_disk_on_stdout_is_one_line_and_status_1(argv):
    with open("/dev/full", "w") as full:
        proc = subprocess.run(
            [sys.executable, "-m", "optiscope", *argv],
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
        )
    assert proc.returncode == 1
    assert proc.stderr.strip() == "optiscope: error: cannot write output: No space left on device"


def test_a_reader_that_leaves_early_is_one_line_and_status_1():
    """Like ``optiscope ... | head -c 0``: the reader is gone before the JSON is written.

    (A reader that leaves in the middle of one large write is not reliably reported by every
    kernel: the one here completes the write; so the test closes the pipe first.)
    """
    writer = subprocess.Popen(
        [sys.executable, "-m", "optiscope", "run", "aniso", "sgd", "--steps", "50", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    writer.stdout.close()
    _, err = writer.communicate(timeout=120)
    assert writer.returncode == 1, err
    assert err.decode().strip() == "optiscope: error: output closed early (broken pipe)"


def test_an_ascii_terminal_and_a_bad_matplotlib_backend(tmp_path):
    proc = _process(["seed", "--out", str(tmp_path)], env={"PYTHONIOENCODING": "ascii"})
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    figure = tmp_path / "f.png"
    proc = _process(["run", "aniso", "sgd", "--plot", str(figure)], env={"MPLBACKEND": "nosuch"})
    assert proc.returncode == 0, proc.stderr
    assert figure.stat().st_size > 10_000


def test_atomic_files_get_the_mode_of_a_plain_open(tmp_path):
    """The temporary file of an atomic write is private (mkstemp: 0600); the file it becomes
    must be readable as any file the user creates (0666 less the umask)."""
    old = os.umask(0o022)
    try:
        written = output.write_atomic(tmp_path / "table.md", "x")
        plain = tmp_path / "plain.txt"
        plain.write_text("x")
    finally:
        os.umask(old)
    assert written.stat().st_mode & 0o777 == plain.stat().st_mode & 0o777 == 0o644
