"""Typed-in formulas against hostile and unusual input: only the formula gets through (no
comments, control characters or look-alikes), size and time stay bounded, the function run is
the function typed (domain included), and its LaTeX always renders."""

from __future__ import annotations

import ast
import math
import time

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from optiscope.cli import main
from optiscope.errors import OptiscopeError
from optiscope.objectives.expression import (
    MAX_LENGTH,
    objective_from_expression,
    parse_formula,
)


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _assert_one_clean_line(message: str) -> None:
    """An error is one line of printable ASCII: nothing the terminal or Rich would interpret."""
    assert message.isascii() and message.isprintable(), repr(message)


# --- the examples of the issue, through the command line ------------------------------------------
REFUSED_BY_THE_CLI = {
    "w1**2+w2**2 # [/bold]": "'#' at column 13: comments are not allowed",
    "w1**2+w2**2 # \\frac{": "comments are not allowed",
    "w1**2+w2**2 # \x1b]0;title\x07\x1b[2J": "comments are not allowed",
    "w1**2 + \x1b[2J w2**2": "control character U+001B (escape) at column 9",
    "w1**2\n+ w2**2": "control character U+000A (newline) at column 6",
    "w1**2\t+ w2**2": "control character U+0009 (tab) at column 6",
    "w1**2 + w2**2\x7f": "control character U+007F",
    "\uff571**2 + w2**2": "non-ASCII character U+FF57 (fullwidth latin small letter w) at column 1; "
    "type w1 in ASCII",
    "w1**2 + w2**\u0662": "non-ASCII character U+0662 (arabic-indic digit two) at column 13; "
    "type 2 in ASCII",
    "w1**2 + \U0001d4682**2": "U+1D468",  # mathematical bold italic w: Python reads it as w
    "w1**2\u00a0+ w2**2": "U+00A0",  # a no-break space
    "w1**2 + w2**2 \u2212 1": "U+2212",  # the minus sign
    "((3*w1)**100)**100": "effective exponent of 10000 (at most 100",
    "(((((3*w1)**100)**100)**100)**100)**100": "effective exponent of 10000",
    "(w1**10 + 1)**20": "effective exponent of 200",
    "((w1**-50)**-50)": "effective exponent of 2500",
    "(" * 300 + "w1" + ")" * 300: "too many nested parentheses",
    "w2+" + "-" * 900 + "w1": "nested deeper than 40 levels",
    "w1**" + "1" * 990: "too large",
    "1" * 999: "too large",
    "0x1F*w1": "not a decimal literal",
    "1_000*w1": "not a decimal literal",
}


@pytest.mark.parametrize("text", list(REFUSED_BY_THE_CLI), ids=lambda t: ascii(t[:30]))
def test_issue_examples_give_one_line_and_exit_2(capsys, text: str) -> None:
    start = time.perf_counter()
    code, out, err = _cli(capsys, "run", text, "sgd:lr=0.1", "--start=0.1,0")
    assert time.perf_counter() - start < 5.0
    assert code == 2 and out == ""
    lines = err.splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    assert REFUSED_BY_THE_CLI[text] in lines[0]
    _assert_one_clean_line(lines[0])
    if "column" in REFUSED_BY_THE_CLI[text]:  # a refused character: nothing after it is echoed
        column = int(lines[0].split(" at column ")[1].split(":")[0].split(";")[0])
        assert ascii(text[column:].strip())[1:-1] not in lines[0] or not text[column:].strip()


def test_user_text_never_reaches_the_output(capsys) -> None:
    """Neither escape sequences nor markup from a formula appear in what the CLI writes."""
    for text in ["w1**2 + w2**2 # [link=file:///etc]x[/link]", "w1 # \x1b]0;pwned\x07"]:
        code, out, err = _cli(capsys, "run", text, "sgd:lr=0.1")
        assert code == 2 and "\x1b" not in out + err and "\x07" not in out + err


def test_exp_log_keeps_its_domain_through_the_cli(capsys) -> None:
    """exp(log(w1)) is undefined for w1 < 0: the start -1.5 is refused, not run as w1."""
    code, _, err = _cli(capsys, "run", "exp(log(w1))+w2**2", "sgd:lr=0.1", "--start=-1.5,1.5")
    assert code == 2 and "nan" in err and len(err.splitlines()) == 1
    code, out, _ = _cli(
        capsys, "run", "exp(log(w1))+w2**2", "sgd:lr=0.1", "--start=-1.5,1.5", "--json"
    )
    assert code == 2 and out == ""
    obj = objective_from_expression("exp(log(w1))+w2**2")
    x = np.array([[-1.5, 1.5], [2.0, 1.0]])
    assert np.isnan(obj.value(x)[0]) and obj.value(x)[1] == pytest.approx(3.0, rel=1e-15)
    assert np.isnan(obj.grad(x)[0]).all() and np.isnan(obj.hessian(x)[0]).all()


def test_formula_within_its_domain_runs(capsys) -> None:
    """From w1 = 2 the typed function is w1 + w2^2 there: gradient descent moves w1 by -lr."""
    code, out, err = _cli(
        capsys, "run", "exp(log(w1))+w2**2", "sgd:lr=0.1", "--start=2,0", "--steps=5", "--json"
    )
    assert code == 0, err
    import json

    (run,) = json.loads(out)["runs"]
    np.testing.assert_allclose(run["x_final"], [1.5, 0.0], rtol=1e-13)


# --- the function run is the function typed ---------------------------------------------------------
def _ieee_divide(a: float, b: float) -> float:
    if b != 0.0 or math.isnan(b):
        return a / b if not math.isnan(a) else math.nan
    if a == 0.0 or math.isnan(a):
        return math.nan
    return math.copysign(math.inf, a) * math.copysign(1.0, b)


def _ieee_power(a: float, b: float) -> float:
    if math.isnan(a) or math.isnan(b):
        return math.nan  # an undefined operand makes the power undefined
    odd = b == int(b) and int(b) % 2 == 1 if math.isfinite(b) else False
    try:
        return math.pow(a, b)
    except ValueError:  # a negative base with a fractional exponent, or 0 ** negative
        if a == 0.0:
            return math.copysign(math.inf, a) if odd else math.inf
        return math.nan
    except OverflowError:
        return -math.inf if a < 0 and odd else math.inf


def _guarded(fn, low: float = -math.inf):
    """``fn`` with math's exceptions turned into IEEE results: domain -> NaN, overflow -> inf."""

    def run(a: float) -> float:
        if math.isnan(a):
            return math.nan
        if a < low:
            return math.nan
        try:
            return fn(a)
        except ValueError:
            return math.nan  # sin(inf), ...
        except OverflowError:
            return math.copysign(math.inf, a) if fn is math.sinh else math.inf

    return run


def _log(a: float) -> float:
    return -math.inf if a == 0.0 else math.log(a)


REFERENCE_FUNCTIONS = {
    "sin": _guarded(math.sin),
    "cos": _guarded(math.cos),
    "tan": _guarded(math.tan),
    "exp": _guarded(math.exp),
    "log": _guarded(_log, low=0.0),
    "sqrt": _guarded(math.sqrt, low=0.0),
    "abs": _guarded(abs),
    "tanh": _guarded(math.tanh),
    "sinh": _guarded(math.sinh),
    "cosh": _guarded(math.cosh),
}


def reference_value(text: str, w1: float, w2: float) -> tuple[float, float]:
    """The formula evaluated in float64 by walking its syntax tree with ``math`` (never eval):
    IEEE semantics (poles give inf, NaN propagates, undefined operations give NaN). Returns the
    value and the largest finite magnitude met on the way (the scale of rounding errors)."""
    names = {"w1": w1, "w2": w2, "pi": math.pi, "e": math.e}
    scale = [0.0]

    def walk(node: ast.AST) -> float:
        if isinstance(node, ast.Constant):
            value = float(node.value)
        elif isinstance(node, ast.Name):
            value = names[node.id]
        elif isinstance(node, ast.UnaryOp):
            value = walk(node.operand) * (-1.0 if isinstance(node.op, ast.USub) else 1.0)
        elif isinstance(node, ast.BinOp):
            a, b = walk(node.left), walk(node.right)
            if isinstance(node.op, ast.Add):
                value = a + b
            elif isinstance(node.op, ast.Sub):
                value = a - b
            elif isinstance(node.op, ast.Mult):
                value = a * b
            elif isinstance(node.op, ast.Div):
                value = _ieee_divide(a, b)
            else:
                value = _ieee_power(a, b)
        else:
            assert isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
            value = REFERENCE_FUNCTIONS[node.func.id](walk(node.args[0]))
        if math.isfinite(value):
            scale[0] = max(scale[0], abs(value))
        return value

    value = walk(ast.parse(text.replace("^", "**"), mode="eval").body)
    return value, scale[0]


DOMAIN_CASES = [
    "exp(log(w1)) + w2**2",
    "sqrt(w1)**2 + w2",
    "(w1**0.5)**2 - w2",
    "w1/w1 + w2",
    "sqrt(w1**2) + w2",
    "log(exp(w1)) + w2",
    "0*log(w1) + w2",
    "log(w1)**0 + w2",
    "1**log(w1) * w2",
    "(w1 - w1)/(w2 - w2)",
    "w1**w2",
    "(-w1)**1.5 + log(-w2)",
    "sqrt(w1*w2) - log(w1 + w2)",
    "w1/(w2 - 1)",
    "exp(w1*400) - exp(w1*400)",
]


def _compare_with_reference(text: str, x: np.ndarray) -> None:
    obj = objective_from_expression(text)
    ours = obj.value(x)
    grad = obj.grad(x)
    for (w1, w2), got, g in zip(x, ours, grad, strict=True):
        want, scale = reference_value(text, float(w1), float(w2))
        where = f"{text} at ({w1!r}, {w2!r})"
        if math.isnan(want):
            assert np.isnan(got), f"{where}: expected NaN (outside the domain), got {got}"
            assert np.isnan(g).all(), f"{where}: gradient {g} where the function is undefined"
        elif math.isinf(want):
            assert got == want, f"{where}: expected {want}, got {got}"
        else:
            assert abs(got - want) <= 1e-9 * (1.0 + scale), f"{where}: {got} != {want}"


def _probe_points(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    special = np.array([[-1.5, 1.5], [0.0, 0.0], [0.0, 1.0], [-1.0, -1.0], [1.0, 1.0]])
    return np.vstack([special, rng.uniform(-3.0, 3.0, size=(20, 2))])


@pytest.mark.parametrize("text", DOMAIN_CASES)
def test_domain_is_the_typed_domain(text: str) -> None:
    _compare_with_reference(text, _probe_points(0))


def test_simplifying_identities_are_not_applied() -> None:
    x = np.array([[-1.5, 0.5], [0.0, 0.5], [4.0, 0.5]])
    np.testing.assert_array_equal(
        np.isnan(objective_from_expression("exp(log(w1))").value(x)), [True, False, False]
    )
    np.testing.assert_array_equal(
        np.isnan(objective_from_expression("sqrt(w1)**2").value(x)), [True, False, False]
    )
    np.testing.assert_array_equal(
        np.isnan(objective_from_expression("w1/w1").value(x)), [False, True, False]
    )
    assert objective_from_expression("sqrt(w1**2)").value(x).tolist() == [1.5, 0.0, 4.0]
    assert objective_from_expression("log(exp(w1))").value(x)[2] == pytest.approx(4.0)


# Grammar of formulas in the typed function's domain and out of it: log, sqrt and fractional
# powers of quantities of any sign, divisions by quantities that may vanish.
_LEAF = st.sampled_from(["w1", "w2", "pi", "e", "0", "1", "2", "0.5", "3e-1", "1.5"])


def _domain_formulas() -> st.SearchStrategy[str]:
    def extend(sub: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
        unary = st.sampled_from(
            ["sin({})", "cos({})", "tanh({})", "exp({})", "log({})", "sqrt({})", "abs({})",
             "-({})", "({})**2", "({})**0.5", "({})**-1", "({})**1.5", "({})**0"]
        )  # fmt: skip
        binary = st.sampled_from(
            ["({}) + ({})", "({}) - ({})", "({}) * ({})", "({}) / ({})", "({})**({})"]
        )
        return st.one_of(
            st.builds(lambda t, a: t.format(a), unary, sub),
            st.builds(lambda t, a, b: t.format(a, b), binary, sub, sub),
        )

    return st.recursive(_LEAF, extend, max_leaves=8)


def _accepted(text: str) -> bool:
    try:
        parse_formula(text)
    except OptiscopeError:
        return False
    return True


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_domain_formulas().filter(_accepted), st.integers(0, 2**32 - 1))
def test_value_equals_a_direct_float_evaluation(text: str, seed: int) -> None:
    """On random points inside and outside the domain: NaN exactly where the typed formula is
    undefined, the same infinities, and the same finite values up to rounding."""
    x = np.random.default_rng(seed).uniform(-3.0, 3.0, size=(6, 2))
    x[0] = [0.0, 0.0]
    _compare_with_reference(text, x)


# --- bounded size and time ------------------------------------------------------------------------
ADVERSARIAL = {
    "product of sines": "*".join(f"sin(w1+{k}*w2)" for k in range(1, 60)),
    "exp tower": "exp(" * 38 + "w1" + ")" * 38,
    "sine tower": "sin(" * 39 + "w1" + ")" * 39,
    "power tower": "**".join(["(w1+w2)"] * 18),
    "nested powers within the bound": "(" * 6 + "w1" + ")**2.15" * 6,
    "long product": "*".join(["w1"] * 240),
    "long quotient": "/".join(["w2"] * 240),
    "sum of high powers": "+".join(f"(w1+{k})**99" for k in range(60)),
    "large constants": "+".join(["999999999999*w1**99"] * 45),
    "variable powers": "*".join("(w1**w2)**(w2**w1)" for _ in range(40)),
    "power of a product": "(" + "*".join(f"(w1-{k})" for k in range(1, 50)) + ")**100",
    "exponentials of powers": "*".join("exp(w1)**w2" for _ in range(80)),
}


@pytest.mark.parametrize("name", list(ADVERSARIAL))
def test_adversarial_formulas_build_fast(name: str) -> None:
    text = ADVERSARIAL[name]
    assert len(text) <= MAX_LENGTH
    start = time.perf_counter()
    obj = objective_from_expression(text)
    x = _probe_points(1)
    obj.value(x), obj.grad(x), obj.hessian(x)
    assert time.perf_counter() - start < 1.0


# Tokens allowed and not: the property test below glues them at random.
_TOKENS = [
    *["w1", "w2", "pi", "e", "sin(", "cos(", "exp(", "log(", "sqrt(", "abs(", "tan(", "tanh("],
    *["(", ")", ")", "+", "-", "*", "/", "**", "^", " ", "0", "1", "2", "3.5", "1e3", "100"],
    *["**100", "**-100", "**0.5", "**2", ")**100", "((3*w1)**100)", "999999999999"],
    *["#", "# [/bold]", "\\frac{", "\n", "\t", "\r", "\x1b[2J", "\x1b]0;t\x07", "\x7f", "\x00"],
    *["\uff57", "\u0661", "\u00e9", "\u00a0", "\u200b", "\U0001d464", "\u2212", "\ufeff"],
    *["$", "'", "[", "]", "{", "}", "%", "@", ",", ":", ";", "lambda", "__import__", "1e400"],
    *["9" * 30, "...", "if", "=", "<", "!", "?", "`", "\\", "_", "j", "0x1F", "1_0"],
]


def _nested_power(depth: int) -> st.SearchStrategy[str]:
    """``((b**x1)**x2)...`` with bases whose constants SymPy would have expanded into integers."""
    exponent = st.sampled_from(["2", "3", "10", "99", "100", "0.5", "-1", "1.1", "(1/3)", "w2"])
    base = st.sampled_from(["w1", "3*w1", "w1+1", "1e12*w1", "0.5*w1-w2", "1e-12*w1"])
    return st.tuples(base, st.lists(exponent, min_size=1, max_size=depth)).map(
        lambda pair: "(" * (len(pair[1]) + 1) + pair[0] + ")" + "".join(f")**{x}" for x in pair[1])
    )


RANDOM_TEXT = st.one_of(
    st.lists(st.sampled_from(_TOKENS), max_size=60).map("".join),
    _nested_power(8),
    st.text(max_size=50),
    _domain_formulas(),
)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(RANDOM_TEXT)
def test_any_text_gives_one_line_or_a_fast_objective(text: str) -> None:
    """Either an OptiscopeError of one clean line, or an Objective evaluated within 2 s."""
    start = time.perf_counter()
    try:
        obj = objective_from_expression(text)
    except OptiscopeError as err:
        _assert_one_clean_line(str(err))
    else:
        assert obj.name.isascii() and obj.name.isprintable() and "#" not in obj.name
        x = _probe_points(2)
        assert obj.value(x).shape == (len(x),) and obj.grad(x).shape == (len(x), 2)
        assert obj.hessian(x).shape == (len(x), 2, 2)
    assert time.perf_counter() - start < 2.0


def test_worst_build_time_of_generated_formulas_is_small() -> None:
    """Build and evaluate many long random formulas; the slowest stays well under a second."""
    rng = np.random.default_rng(3)
    pieces = ["sin(w1)", "exp(w2)", "w1**2", "(w1+w2)**w2", "log(w1)", "sqrt(w2)", "tanh(w1*w2)"]
    worst = 0.0
    for _ in range(40):
        terms = rng.choice(pieces, size=120)
        ops = rng.choice(["+", "-", "*", "/"], size=120)
        text = "".join(f"{t}{o}" for t, o in zip(terms, ops, strict=True))[:-1][:MAX_LENGTH]
        text = text.rstrip("+-*/(")
        start = time.perf_counter()
        try:
            obj = objective_from_expression(text)
        except OptiscopeError:
            continue
        obj.hessian(_probe_points(4))
        worst = max(worst, time.perf_counter() - start)
    assert 0.0 < worst < 0.5


# --- LaTeX renders, or is left out --------------------------------------------------------------
def _accepted_formulas() -> st.SearchStrategy[str]:
    leaf = st.sampled_from(["w1", "w2", "pi", "e", "0", "7", "0.25", "1e-7", "2.5e11", "123456"])

    def extend(sub: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
        unary = st.sampled_from(
            ["sin({})", "exp({})", "log({})", "sqrt({})", "abs({})", "cosh({})", "-{}", "+{}",
             "({})^2", "{}**-1.5", "({})**0.5", "(-{})"]
        )  # fmt: skip
        binary = st.sampled_from(
            ["{} + {}", "{} - ({})", "{}*{}", "{}/{}", "({})/({})", "({})**({})", "{}^{}",
             "{} * -{}", "({}) - -{}"]
        )  # fmt: skip
        return st.one_of(
            st.builds(lambda t, a: t.format(a), unary, sub),
            st.builds(lambda t, a, b: t.format(a, b), binary, sub, sub),
        )

    return st.recursive(leaf, extend, max_leaves=14).filter(_accepted)


def _deeply_nested_formulas() -> st.SearchStrategy[str]:
    """Chains of up to 14 wrappers: the LaTeX nests up to and past the 10 groups allowed."""
    wrapper = st.sampled_from(
        ["sqrt({})", "abs({})", "sin({})", "1/({})", "({})**2", "2**({})", "-({})", "({})/w2"]
    )
    return st.tuples(st.lists(wrapper, min_size=1, max_size=14), _LEAF).map(
        lambda pair: _wrap(pair[1], pair[0])
    )


def _wrap(text: str, wrappers: list[str]) -> str:
    for template in wrappers:
        text = template.format(text)
    return text


def _at_stack_depth(frames: int, fn):
    """Call ``fn`` from ``frames`` frames deeper: a figure title is parsed deep in savefig."""
    return fn() if frames == 0 else _at_stack_depth(frames - 1, fn)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(_accepted_formulas(), _deeply_nested_formulas().filter(_accepted)))
def test_latex_of_accepted_formulas_parses_in_mathtext(text: str) -> None:
    from matplotlib.mathtext import MathTextParser

    latex = parse_formula(text).latex
    if latex == "":  # nested too deep for mathtext: the plain formula is the title
        return
    assert latex.startswith("$") and latex.endswith("$") and latex.count("$") == 2
    _at_stack_depth(300, lambda: MathTextParser("path").parse(latex))


@pytest.mark.parametrize(
    "wrapper", ["sqrt({})", "1/({})", "({})**w2", "2**({})", "abs({})", "sin({})"]
)
def test_latex_at_the_nesting_limit_parses_deep_in_a_stack(wrapper: str) -> None:
    """The costliest groups nested as deep as the LaTeX is kept, parsed 400 frames down."""
    from matplotlib.mathtext import MathTextParser

    kept = 0
    for depth in range(1, 25):
        latex = parse_formula(_wrap("w1", [wrapper] * depth)).latex
        if latex:
            kept = depth
            _at_stack_depth(400, lambda latex=latex: MathTextParser("path").parse(latex))
    assert kept >= 5  # nesting within the limit keeps its LaTeX


def test_deep_formulas_fall_back_to_plain_text_and_shallow_ones_draw() -> None:
    import matplotlib

    matplotlib.use("agg")
    import matplotlib.pyplot as plt

    deep = "sqrt(" * 30 + "w1" + ")" * 30
    assert objective_from_expression(deep).latex == ""
    long = "*".join(["sin(w1)"] * 120)
    assert objective_from_expression(long).latex == ""  # longer than 2000 characters
    for text in [
        "sqrt(" * 10 + "w1" + ")" * 10,
        "1/(1/(1/(1/(1/(1/(1/(1/(1/(1/w1)))))))))",
        "(((w1**2)**1.5)**2)**0.5 + abs(w2)**-2.5 / 1e-7",
        "(1-w1)**2 + 100*(w2-w1**2)**2",
    ]:
        latex = objective_from_expression(text).latex
        assert latex, text
        fig = plt.figure()
        fig.suptitle(latex)
        fig.canvas.draw()
        plt.close(fig)


def test_latex_is_printed_from_the_tree() -> None:
    cases = {
        "w1^2 + 8*w2^2": "$w_{1}^{2} + 8 w_{2}^{2}$",
        "-w1^2": "$-w_{1}^{2}$",
        "(-w1)**2": r"$\left(-w_{1}\right)^{2}$",
        "w1 - (w2 - 1)": r"$w_{1} - \left(w_{2} - 1\right)$",
        "w1*w2/3": r"$\frac{w_{1} w_{2}}{3}$",
        "w1*2": r"$w_{1} \cdot 2$",
        "sin(w1)**2": r"$\left(\sin\left(w_{1}\right)\right)^{2}$",
        "abs(w1)**2 + sqrt(w2)": r"$\left|w_{1}\right|^{2} + \sqrt{w_{2}}$",
        "1e-5*w1 + 2.5e-7*pi": r"$10^{-5} w_{1} + 2.5 \cdot 10^{-7} \pi$",
        "2^3^2": "$2^{3^{2}}$",
        "exp(log(w1))": r"$\exp\left(\log\left(w_{1}\right)\right)$",
    }
    for text, latex in cases.items():
        assert parse_formula(text).latex == latex, text
