"""Typed-in formulas: values against an independent NumPy evaluation, derivatives against finite
differences and ``sympy.diff``, known cases, and hostile input refused quickly and without eval."""

from __future__ import annotations

import ast
import builtins
import importlib
import time
import warnings
from collections.abc import Callable
from unittest import mock

import numpy as np
import pytest
import sympy as sp
import sympy.parsing.sympy_parser
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from optiscope.errors import OptiscopeError
from optiscope.objectives import Objective, get_objective
from optiscope.objectives.expression import (
    ALLOWED_FUNCTIONS,
    ALLOWED_NAMES,
    Neg,
    Num,
    Power,
    Var,
    objective_from_expression,
    parse_formula,
)

# --- random formulas with an independent NumPy evaluation ---------------------------------------
# A tree is (text, fn) where fn(w1, w2) -> (value, scale) and scale is the largest magnitude of
# any intermediate value (it sets the rounding tolerance). Wrappers keep every value finite:
# tan(sin(.)), exp(sin(.)), log((.)**2 + 1), a / (b**2 + 1), ...
Fn = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


def _leaf(text: str, fn: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> tuple[str, Fn]:
    def run(w1: np.ndarray, w2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        v = np.broadcast_to(fn(w1, w2), w1.shape).astype(float)
        return v, np.abs(v)

    return text, run


LEAVES = [
    _leaf("w1", lambda w1, w2: w1),
    _leaf("w2", lambda w1, w2: w2),
    _leaf("pi", lambda w1, w2: np.pi),
    _leaf("e", lambda w1, w2: np.e),
    *[_leaf(t, lambda w1, w2, t=t: float(t)) for t in ["0", "1", "2", "3", "0.5", "1.25", "3e-1"]],
]
UNARY: dict[str, tuple[str, Callable[[np.ndarray], np.ndarray]]] = {
    "neg": ("-({a})", np.negative),
    "pos": ("+({a})", lambda a: a),
    "sin": ("sin({a})", np.sin),
    "cos": ("cos({a})", np.cos),
    "tanh": ("tanh({a})", np.tanh),
    "tan": ("tan(sin({a}))", lambda a: np.tan(np.sin(a))),
    "exp": ("exp(sin({a}))", lambda a: np.exp(np.sin(a))),
    "sinh": ("sinh(cos({a}))", lambda a: np.sinh(np.cos(a))),
    "cosh": ("cosh(sin({a}))", lambda a: np.cosh(np.sin(a))),
    "log": ("log(({a})**2 + 1)", lambda a: np.log(a**2 + 1)),
    "sqrt": ("sqrt(({a})^2 + 1)", lambda a: np.sqrt(a**2 + 1)),
    "square": ("({a})^2", lambda a: a**2),
    "cube": ("({a})**3", lambda a: a**3),
    "rpow": ("(({a})**2 + 1)**(-1.5)", lambda a: (a**2 + 1) ** -1.5),
    "abs": ("abs({a})", np.abs),  # not smooth: left out of the derivative tests
}
BINARY: dict[str, tuple[str, Callable[[np.ndarray, np.ndarray], np.ndarray]]] = {
    "add": ("({a}) + ({b})", np.add),
    "sub": ("({a}) - ({b})", np.subtract),
    "mul": ("({a}) * ({b})", np.multiply),
    "div": ("({a}) / (({b})**2 + 1)", lambda a, b: a / (b**2 + 1)),
    "vpow": ("(({a})**2 + 1)**sin({b})", lambda a, b: (a**2 + 1) ** np.sin(b)),
}


def _unary(name: str, sub: tuple[str, Fn]) -> tuple[str, Fn]:
    template, op = UNARY[name]

    def run(w1: np.ndarray, w2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        a, scale = sub[1](w1, w2)
        v = op(a)
        return v, np.maximum(scale, np.abs(v))

    return template.format(a=sub[0]), run


def _binary(name: str, left: tuple[str, Fn], right: tuple[str, Fn]) -> tuple[str, Fn]:
    template, op = BINARY[name]

    def run(w1: np.ndarray, w2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        (a, sa), (b, sb) = left[1](w1, w2), right[1](w1, w2)
        v = op(a, b)
        return v, np.maximum.reduce([sa, sb, np.abs(v)])

    return template.format(a=left[0], b=right[0]), run


def formulas(depth: int, smooth: bool = False) -> st.SearchStrategy[tuple[str, Fn]]:
    leaves = st.sampled_from(LEAVES)
    if depth == 0:
        return leaves
    sub = formulas(depth - 1, smooth)
    unary = sorted(n for n in UNARY if not (smooth and n == "abs"))
    return st.one_of(
        leaves,
        st.builds(_unary, st.sampled_from(unary), sub),
        st.builds(_binary, st.sampled_from(sorted(BINARY)), sub, sub),
    )


def _points(seed: int, n: int = 8) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-2.0, 2.0, size=(n, 2))  # [n, 2]


def _reference(fn: Fn, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    with np.errstate(all="ignore"):
        return fn(x[:, 0].copy(), x[:, 1].copy())


def _central(f: Callable[[np.ndarray], np.ndarray], x: np.ndarray, h: float) -> np.ndarray:
    """Central differences of ``f`` along each coordinate: out[..., k] ~ df/dx_k."""
    cols = []
    for k in range(x.shape[1]):
        step = np.zeros_like(x)
        step[:, k] = h
        cols.append((f(x + step) - f(x - step)) / (2 * h))
    return np.stack(cols, axis=-1)


SLOW = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SLOW
@given(formulas(4), st.integers(0, 2**32 - 1))
def test_value_matches_independent_numpy(formula: tuple[str, Fn], seed: int) -> None:
    text, fn = formula
    x = _points(seed)
    ours = objective_from_expression(text).value(x)
    ref, scale = _reference(fn, x)
    ok = np.isfinite(ref) & np.isfinite(scale)
    assume(ok.any())  # a formula undefined at every sample point has nothing to compare
    assert np.all(np.isfinite(ours[ok])), text
    np.testing.assert_array_less(np.abs(ours - ref)[ok], 1e-9 * (1 + scale[ok]), err_msg=text)


@SLOW
@given(formulas(3, smooth=True), st.integers(0, 2**32 - 1))
def test_gradient_and_hessian_match_central_differences(formula: tuple[str, Fn], seed: int) -> None:
    text, fn = formula
    obj = objective_from_expression(text)
    x = _points(seed)
    _, scale = _reference(fn, x)
    ok = scale < 1e6  # finite differences lose their digits beyond this
    assume(ok.any())  # e.g. a constant (((pi)**3)**3)**3 puts every point beyond it
    g, h = obj.grad(x), obj.hessian(x)  # [B, 2], [B, 2, 2]
    fd_g = _central(obj.value, x, 1e-6)
    fd_h = _central(obj.grad, x, 1e-6)  # [B, 2 (grad), 2 (coordinate)]
    size = (1 + scale + np.abs(g).max(axis=1) + np.abs(h).max(axis=(1, 2)))[ok]
    assert np.all(np.abs(g - fd_g)[ok].max(axis=1) <= 1e-5 * size), text
    assert np.all(np.abs(h - fd_h)[ok].max(axis=(1, 2)) <= 1e-5 * size), text
    np.testing.assert_array_equal(h[:, 0, 1], h[:, 1, 0])


W1, W2 = sp.symbols("w1 w2", real=True)
_SYMPY_FUNCTIONS = {
    "sin": sp.sin,
    "cos": sp.cos,
    "tan": sp.tan,
    "exp": sp.exp,
    "log": sp.log,
    "sqrt": sp.sqrt,
    "abs": sp.Abs,
    "tanh": sp.tanh,
    "sinh": sp.sinh,
    "cosh": sp.cosh,
}
_SYMPY_OPERATORS = {
    ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b,
    ast.Div: lambda a, b: a / b,
    ast.Pow: lambda a, b: a**b,
}


def _sympy_of(node: ast.AST) -> sp.Expr:
    """This test's own translation of a (test-generated) formula's syntax tree into SymPy."""
    if isinstance(node, ast.Constant):
        return sp.Float(node.value) if isinstance(node.value, float) else sp.Integer(node.value)
    if isinstance(node, ast.Name):
        return {"w1": W1, "w2": W2, "pi": sp.pi, "e": sp.E}[node.id]
    if isinstance(node, ast.UnaryOp):
        inner = _sympy_of(node.operand)
        return -inner if isinstance(node.op, ast.USub) else inner
    if isinstance(node, ast.BinOp):
        return _SYMPY_OPERATORS[type(node.op)](_sympy_of(node.left), _sympy_of(node.right))
    assert isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
    return _SYMPY_FUNCTIONS[node.func.id](_sympy_of(node.args[0]))


@settings(max_examples=40, deadline=None)
@given(formulas(3, smooth=True), st.integers(0, 2**32 - 1))
def test_derivatives_match_sympy_diff(formula: tuple[str, Fn], seed: int) -> None:
    """The tape's chain rule gives what sympy.diff gives (evaluated by SymPy's own printer)."""
    text, _ = formula
    expr = _sympy_of(ast.parse(text.replace("^", "**"), mode="eval").body)
    g = [sp.diff(expr, w) for w in (W1, W2)]
    h = [sp.diff(g[0], W1), sp.diff(g[0], W2), sp.diff(g[1], W2)]
    run = sp.lambdify((W1, W2), g + h, modules="numpy")
    x = _points(seed)
    with np.errstate(all="ignore"):
        want = np.stack(
            [np.broadcast_to(np.asarray(v, dtype=float), (len(x),)) for v in run(x[:, 0], x[:, 1])],
            axis=1,
        )  # [B, 5]
    obj = objective_from_expression(text)
    hess = obj.hessian(x)
    got = np.concatenate([obj.grad(x), hess[:, 0, :], hess[:, 1, 1:]], axis=1)
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9, err_msg=text)


# --- known cases ----------------------------------------------------------------------------------
ROSENBROCK = "(1-w1)**2 + 100*(w2-w1**2)**2"


def test_rosenbrock_value_gradient_hessian() -> None:
    obj = objective_from_expression(ROSENBROCK)
    x = np.array([[1.0, 1.0], [-1.2, 1.0], [0.3, -0.7]])
    a, b = x[:, 0], x[:, 1]
    np.testing.assert_allclose(obj.value(x), (1 - a) ** 2 + 100 * (b - a**2) ** 2, rtol=1e-14)
    grad = np.stack([-2 * (1 - a) - 400 * a * (b - a**2), 200 * (b - a**2)], axis=1)
    np.testing.assert_allclose(obj.grad(x), grad, rtol=1e-13)
    hess = np.empty((3, 2, 2))
    hess[:, 0, 0] = 2 - 400 * b + 1200 * a**2
    hess[:, 0, 1] = hess[:, 1, 0] = -400 * a
    hess[:, 1, 1] = 200
    np.testing.assert_allclose(obj.hessian(x), hess, rtol=1e-13)
    assert obj.value(x[:1])[0] == 0.0
    np.testing.assert_array_equal(obj.grad(x[:1]), [[0.0, 0.0]])
    np.testing.assert_allclose(obj.grad(x[1:2]), [[-215.6, -88.0]], rtol=1e-12)


def test_caret_is_power() -> None:
    caret, stars = (
        objective_from_expression("w1^2 + 8*w2^2"),
        objective_from_expression("w1**2 + 8*w2**2"),
    )
    x = _points(1)
    np.testing.assert_array_equal(caret.value(x), stars.value(x))
    np.testing.assert_array_equal(caret.grad(x), stars.grad(x))
    np.testing.assert_array_equal(caret.hessian(x), stars.hessian(x))
    assert caret.latex == stars.latex == "$w_{1}^{2} + 8 w_{2}^{2}$"
    # ^ takes the precedence and right associativity of **
    assert parse_formula("w1^2 + 8*w2^2").root == parse_formula("w1**2 + 8*w2**2").root
    assert parse_formula("2^3^2").constant == 512.0
    assert parse_formula("-w1^2").root == Neg(Power(Var(0), Num(2.0)))


def test_metadata_and_shapes() -> None:
    obj = objective_from_expression("  sin(w1) * w2 + pi  ")
    assert isinstance(obj, Objective)
    assert obj.name == obj.formula == "sin(w1) * w2 + pi"
    assert obj.latex.startswith("$") and obj.latex.endswith("$") and "w_{1}" in obj.latex
    assert obj.bounds == ((-2.0, 2.0), (-2.0, 2.0)) and obj.start == (-1.5, 1.5) and obj.dim == 2
    assert obj.minimizers.shape == (0, 2) and obj.f_min is None and dict(obj.params) == {}
    assert obj.citation == "typed-in formula" and obj.description == "formula typed by the user"
    for batch in (1, 5):
        x = _points(batch, batch)
        assert obj.value(x).shape == (batch,) and obj.value(x).dtype == np.float64
        assert obj.grad(x).shape == (batch, 2) and obj.hessian(x).shape == (batch, 2, 2)


def test_constant_formula_is_a_flat_function() -> None:
    obj = objective_from_expression("3*pi - e")
    x = _points(2, 4)
    np.testing.assert_allclose(obj.value(x), np.full(4, 3 * np.pi - np.e), rtol=1e-15)
    np.testing.assert_array_equal(obj.grad(x), np.zeros((4, 2)))
    np.testing.assert_array_equal(obj.hessian(x), np.zeros((4, 2, 2)))


def test_kinks_and_cancellations() -> None:
    x = np.array([[-2.0, 0.5], [0.0, 0.5], [3.0, -1.0]])
    np.testing.assert_array_equal(
        objective_from_expression("abs(w1)").grad(x)[:, 0], [-1.0, 0.0, 1.0]
    )
    np.testing.assert_array_equal(
        objective_from_expression("abs(w1)").hessian(x), np.zeros((3, 2, 2))
    )
    obj = objective_from_expression("w1 - w1 + w2**3")
    np.testing.assert_array_equal(obj.grad(x), np.stack([np.zeros(3), 3 * x[:, 1] ** 2], axis=1))
    tan = objective_from_expression("tan(pi/2 - w1)")  # cot(w1), computed as typed
    np.testing.assert_allclose(tan.value(x[2:]), [1 / np.tan(3.0)], rtol=1e-12)
    np.testing.assert_allclose(tan.grad(x[2:])[0, 0], -1 / np.sin(3.0) ** 2, rtol=1e-12)


def test_non_finite_values_without_warnings() -> None:
    x = np.array([[-1.0, 0.0], [50.0, 1.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        log = objective_from_expression("log(w1) + sqrt(w1) * w2")
        assert np.isnan(log.value(x)[0]) and np.isfinite(log.value(x)[1])
        assert np.isnan(log.grad(x)[0]).any()
        big = objective_from_expression("exp(exp(w1))")
        assert np.isinf(big.value(x)[1]) and not np.isfinite(big.hessian(x)[1]).all()
        assert np.all(np.isfinite(objective_from_expression("1/w1").value(x)))
        assert np.isinf(objective_from_expression("1/w2").value(x)[0])


def test_long_sums_and_deep_but_legal_nesting() -> None:
    long_sum = "+".join(f"{k}*w1" for k in range(1, 100))  # 99 terms: a flat chain, not nesting
    assert len(long_sum) <= 1000
    np.testing.assert_allclose(objective_from_expression(long_sum).value(np.ones((1, 2))), [4950.0])
    nested = "sin(" * 30 + "w1" + ")" * 30
    assert np.isfinite(objective_from_expression(nested).hessian(_points(3))).all()


def test_large_product_is_fast() -> None:
    """SymPy's own Hessian of this takes tens of seconds; the tape differentiates it linearly."""
    text = "*".join(f"sin(w1+{k}*w2)" for k in range(1, 60))
    start = time.perf_counter()
    obj = objective_from_expression(text)
    obj.hessian(_points(4))
    assert time.perf_counter() - start < 5.0


def test_registry_falls_back_to_formulas() -> None:
    obj = get_objective("w1^2 + 8*w2^2")
    np.testing.assert_allclose(obj.grad(np.array([[1.0, 1.0]])), [[2.0, 16.0]])


@pytest.mark.parametrize(
    "text",
    [f"{f}(0.3*w1 - 0.2*w2 + 1)" for f in ALLOWED_FUNCTIONS]
    + ["(w1**2 + 1)**(w2/3)", "2**(w1*w2)", "(0.5*w1 + 1.2)**-2.5", "1/(w1 + 3)", "w1**3 * w2**2"],
)
def test_each_rule_against_central_differences(text: str) -> None:
    """Every function and power rule, deterministically (arguments stay in their domains)."""
    obj = objective_from_expression(text)
    x = np.random.default_rng(7).uniform(-1.0, 1.0, size=(16, 2))
    np.testing.assert_allclose(obj.grad(x), _central(obj.value, x, 1e-6), rtol=1e-7, atol=1e-8)
    np.testing.assert_allclose(obj.hessian(x), _central(obj.grad, x, 1e-6), rtol=1e-7, atol=1e-8)


def test_allowed_names_and_functions() -> None:
    assert ALLOWED_NAMES == ("w1", "w2", "pi", "e")
    assert set(ALLOWED_FUNCTIONS) == {
        "sin",
        "cos",
        "tan",
        "exp",
        "log",
        "sqrt",
        "abs",
        "tanh",
        "sinh",
        "cosh",
    }
    for name in ALLOWED_FUNCTIONS:
        assert np.isfinite(
            objective_from_expression(f"{name}(w1**2 + 1)").grad(np.ones((1, 2)))
        ).all()


# --- refusals -------------------------------------------------------------------------------------
HOSTILE = {
    "__import__('os').system('x')": "calling",
    "__import__('os')": "__import__",
    "w1.__class__": "attribute",
    "lambda: 0": "lambda",
    "9**9**9": "exponent",
    "2**1000": "exponent",
    "w1**(10**10)": "exponent",
    "e**e**e**e": "exponent",
    "a" * 100_000: "too long",
    "(" * 5000 + "w1" + ")" * 5000: "too long",
    "-" * 900 + "w1": "deeper",
    "+".join(["w1"] * 300): "500",
    "[w1 for w1 in ()]": "comprehension",
    "open('f')": "open",
    "w1 if w2 else 0": "if/else",
    "sin(w1, w2)": "one argument",
    "sin(x=w1)": "keyword",
    "sin(*w1)": "unpacking",
    "sin()": "one argument",
    "w1 < w2": "comparison",
    "w1 and w2": "and/or",
    "not w1": "not",
    "w1 // 2": "//",
    "w1 % 2": "%",
    "w1 @ w2": "@",
    "'abc'": "str",
    "b'abc'": "bytes",
    "f'{w1}'": "f-string",
    "1j*w1": "complex",
    "True": "True",
    "None": "None",
    "...": "ellipsis",
    "(w1, w2)": "tuple",
    "[w1]": "list",
    "{w1: 1}": "dict",
    "w1[0]": "indexing",
    "(w1 := 2)": ":=",
    "": "empty",
    "   ": "empty",
    "w1 +": "syntax",
    "w1 \x00": "null",
    "exp": "function",
    "sin": "function",
    "w1(2)": "not a function",
    "e.__class__": "attribute",
    "getattr(w1,'x')": "getattr",
    "x + y": "'x'",
    "foo": "'foo'",
    "__builtins__": "__builtins__",
    "1e13 * w1": "too large",
    "w1 / 0": "division by zero",
    "0**-1 + w1": "division by zero",
    "log(0)": "log",
    "sqrt(-1) * w1": "sqrt",
    "(-8)**(1/3)": "real",
    "tan(pi/2) + w1": "undefined",
    "exp(1000) * w1": "exp",
    "sin(exp(700))": "too large",
    "10**12**25 * w1": "exponent",
    "(1e12**25)**2": "range",
}


@pytest.mark.parametrize("text", list(HOSTILE), ids=lambda t: repr(t[:30]))
def test_hostile_input_refused_quickly_with_one_line(text: str) -> None:
    start = time.perf_counter()
    with pytest.raises(OptiscopeError) as info:
        objective_from_expression(text)
    assert time.perf_counter() - start < 1.0
    message = str(info.value)
    assert "\n" not in message and len(message) < 500
    assert HOSTILE[text] in message


def test_allowed_list_in_grammar_errors() -> None:
    message = str(pytest.raises(OptiscopeError, objective_from_expression, "w1.real").value)
    assert all(name in message for name in (*ALLOWED_NAMES, *ALLOWED_FUNCTIONS))
    message = str(pytest.raises(OptiscopeError, objective_from_expression, "x + w1").value)
    assert "w1, w2, pi, e" in message


def test_non_text_refused() -> None:
    with pytest.raises(OptiscopeError, match="text"):
        objective_from_expression(None)  # type: ignore[arg-type]


FUZZ_ALPHABET = st.sampled_from(list("w12 +-*/^().,episncoatlgqrbxhk0123456789_[]'<>=%@&|~:;{}j"))


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(FUZZ_ALPHABET, max_size=40), st.text(max_size=40)))
def test_any_text_gives_an_objective_or_an_optiscope_error(text: str) -> None:
    start = time.perf_counter()
    try:
        obj = objective_from_expression(text)
    except OptiscopeError as err:
        assert "\n" not in str(err)
    else:
        x = _points(0)
        assert obj.value(x).shape == (8,) and obj.hessian(x).shape == (8, 2, 2)
    assert time.perf_counter() - start < 1.0


# --- nothing evaluates the text -----------------------------------------------------------------
SAMPLES = [
    ROSENBROCK,
    "w1^2 + 8*w2^2",
    "sin(w1)*exp(-w2**2) + abs(w1) - log(w2**2 + 1)",
    "pi*e + tan(w1)",
]


def test_no_eval_exec_sympify_or_lambdify() -> None:
    for text in SAMPLES:  # warm up: any lazy imports happen before the patches
        objective_from_expression(text)
    # sympy.core.sympify and sympy.utilities.lambdify are shadowed by the functions they define
    sympify_module = importlib.import_module("sympy.core.sympify")
    lambdify_module = importlib.import_module("sympy.utilities.lambdify")
    original_sympify = sympify_module.sympify
    text_sympified: list[object] = []

    def sympify_no_text(a: object, *args: object, **kwargs: object) -> object:
        if isinstance(a, str):
            text_sympified.append(a)
            raise AssertionError(f"sympify called on text {a!r}")
        return original_sympify(a, *args, **kwargs)

    original_compile = builtins.compile
    compiled_code: list[object] = []

    def compile_ast_only(
        source: object, filename: str, mode: str, flags: int = 0, *a: object, **k: object
    ):
        if not flags & ast.PyCF_ONLY_AST:  # ast.parse is the one allowed use: it builds a tree
            compiled_code.append(source)
            raise AssertionError("compile to code called")
        return original_compile(source, filename, mode, flags, *a, **k)

    forbidden = AssertionError("forbidden call")
    with (
        mock.patch.object(builtins, "eval", side_effect=forbidden) as eval_,
        mock.patch.object(builtins, "exec", side_effect=forbidden) as exec_,
        mock.patch.object(builtins, "compile", side_effect=compile_ast_only) as compile_,
        mock.patch.object(sympy, "sympify", side_effect=forbidden) as sympify_,
        mock.patch.object(sympify_module, "sympify", side_effect=sympify_no_text),
        mock.patch.object(
            sympy.parsing.sympy_parser, "parse_expr", side_effect=forbidden
        ) as parse_,
        mock.patch.object(sympy, "parse_expr", side_effect=forbidden) as parse2_,
        mock.patch.object(sympy, "lambdify", side_effect=forbidden) as lambdify_,
        mock.patch.object(lambdify_module, "lambdify", side_effect=forbidden) as lambdify2_,
    ):
        for text in SAMPLES:
            obj = objective_from_expression(text)
            x = _points(5)
            obj.value(x), obj.grad(x), obj.hessian(x)
        with pytest.raises(OptiscopeError):
            objective_from_expression("__import__('os').system('x')")
    for patched in (eval_, exec_, sympify_, parse_, parse2_, lambdify_, lambdify2_):
        assert patched.call_count == 0
    assert compile_.call_count >= len(SAMPLES)  # ast.parse went through the check
    assert text_sympified == [] and compiled_code == []
