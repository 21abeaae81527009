"""Typed-in formulas in ``w1``, ``w2``: a whitelisting parser and the Objective built from it.

User text is never evaluated. It goes through ``ast.parse(text, mode="eval")`` only, and the
syntax tree is walked against a whitelist; the SymPy expression is then built node by node from
that tree (no ``eval``, ``exec``, ``sympify``, ``parse_expr`` or ``lambdify``).

What a formula may contain:

* numbers: integer and decimal literals (``3``, ``0.5``, ``1e-3``) with ``|value| <= 1e12``;
* names: ``w1``, ``w2`` (the coordinates), ``pi`` and ``e``;
* operators ``+ - * / **``, unary ``+`` and ``-``, and parentheses. ``^`` is read as power too,
  because people type it (``w1^2`` is ``w1**2``; Python's xor means nothing here). It has the
  precedence and right associativity of ``**``: ``-w1^2`` is ``-(w1**2)``, ``2^3^2`` is ``2**9``;
* functions ``sin cos tan exp log sqrt abs tanh sinh cosh``, one positional argument each.

Limits, checked before any big number is computed: at most 1000 characters (checked before
parsing), 500 syntax nodes and nesting depth 40 (a chain ``a + b - c * d`` of left-associative
operators counts as one level); in ``a ** b`` with a constant ``b``, ``|b| <= 100``; a constant
power must stay within ``1e-300 .. 1e300`` in magnitude; every constant sub-expression must be a
finite real number (``1/0``, ``log(0)``, ``sqrt(-1)`` are refused). So ``9**9**9``, ``2**1000``
and ``w1**(10**10)`` are refused at once.

A formula without ``w1`` or ``w2`` (``"3"``, ``"pi"``) is accepted: a constant function whose
gradient and Hessian are zero. Any other name is refused with the list of allowed names.

The symbols are real (``W1``, ``W2``, printed ``w_1``, ``w_2``), so SymPy may simplify
``sqrt(w1**2)`` to ``|w1|``. Gradient and Hessian are exact, from the chain rule applied to the
compiled expression in :mod:`optiscope.objectives.tape` (not ``sympy.diff``: see there why).
"""

from __future__ import annotations

import ast
import math
import warnings
from collections.abc import Callable

import numpy as np
import sympy as sp

from optiscope.errors import OptiscopeError
from optiscope.objectives.base import Objective
from optiscope.objectives.tape import Tape

MAX_LENGTH = 1000
MAX_DEPTH = 40
MAX_NODES = 500
MAX_LITERAL = 1e12
MAX_EXPONENT = 100
MAX_CONSTANT_LOG10 = 300

W1, W2 = sp.Symbol("w_1", real=True), sp.Symbol("w_2", real=True)
SYMBOLS = (W1, W2)

_NAMES: dict[str, tuple[sp.Expr, float | None]] = {
    "w1": (W1, None),
    "w2": (W2, None),
    "pi": (sp.pi, math.pi),
    "e": (sp.E, math.e),
}
# name -> (SymPy function, float function used to check constant arguments)
_FUNCTIONS: dict[str, tuple[Callable[[sp.Expr], sp.Expr], Callable[[float], float]]] = {
    "sin": (sp.sin, math.sin),
    "cos": (sp.cos, math.cos),
    "tan": (sp.tan, math.tan),
    "exp": (sp.exp, math.exp),
    "log": (sp.log, math.log),
    "sqrt": (sp.sqrt, math.sqrt),
    "abs": (sp.Abs, abs),
    "tanh": (sp.tanh, math.tanh),
    "sinh": (sp.sinh, math.sinh),
    "cosh": (sp.cosh, math.cosh),
}
ALLOWED_NAMES: tuple[str, ...] = tuple(_NAMES)
ALLOWED_FUNCTIONS: tuple[str, ...] = tuple(_FUNCTIONS)
ALLOWED_SUMMARY = (
    f"numbers, the names {', '.join(ALLOWED_NAMES)}, the operators + - * / ** (^ also means power), "
    f"parentheses and the functions {', '.join(ALLOWED_FUNCTIONS)}"
)

_OPERATOR_TEXT = {
    ast.FloorDiv: "//",
    ast.Mod: "%",
    ast.MatMult: "@",
    ast.LShift: "<<",
    ast.RShift: ">>",
    ast.BitOr: "|",
    ast.BitAnd: "&",
    ast.BitXor: "^",
    ast.Invert: "~",
    ast.Not: "not",
}
_NODE_TEXT = {
    ast.Attribute: "attribute access",
    ast.Subscript: "indexing",
    ast.Lambda: "lambda",
    ast.ListComp: "a comprehension",
    ast.SetComp: "a comprehension",
    ast.DictComp: "a comprehension",
    ast.GeneratorExp: "a comprehension",
    ast.Compare: "a comparison",
    ast.BoolOp: "and/or",
    ast.IfExp: "if/else",
    ast.NamedExpr: "assignment (:=)",
    ast.Starred: "*-unpacking",
    ast.JoinedStr: "an f-string",
    ast.List: "a list",
    ast.Tuple: "a tuple",
    ast.Set: "a set",
    ast.Dict: "a dict",
    ast.Slice: "a slice",
    ast.Await: "await",
}

_UNDEFINED = (sp.zoo, sp.nan, sp.oo, sp.S.NegativeInfinity, sp.I)
Built = tuple[sp.Expr, float | None]  # the SymPy expression and its value when it is constant


def parse_formula(text: str) -> sp.Expr:
    """Validate ``text`` (see the module docstring) and return it as a SymPy expression.

    The expression is in the real symbols ``W1``, ``W2`` (printed ``w_1``, ``w_2``). Raises
    OptiscopeError, with a one-line message naming the problem, for anything not allowed.
    """
    if not isinstance(text, str):
        raise OptiscopeError(f"formula must be text, got {type(text).__name__}")
    if len(text) > MAX_LENGTH:
        raise OptiscopeError(f"formula is too long ({len(text)} characters, at most {MAX_LENGTH})")
    source = text.strip()
    if not source:
        raise OptiscopeError(
            f"empty formula: write an expression in w1, w2 using {ALLOWED_SUMMARY}"
        )
    source = source.replace("^", "**")
    try:
        with warnings.catch_warnings():  # "1if w1 else 2" warns before it fails: one line only
            warnings.simplefilter("ignore", SyntaxWarning)
            tree = ast.parse(source, mode="eval")
    except SyntaxError as err:
        where = f" at column {err.offset}" if err.offset else ""
        reason = " ".join(str(err.msg).split())
        raise OptiscopeError(
            f"invalid formula {_short(text)}: {reason}{where}; a formula may use {ALLOWED_SUMMARY}"
        ) from None
    except (RecursionError, MemoryError, ValueError) as err:
        raise OptiscopeError(
            f"invalid formula {_short(text)}: could not be parsed ({type(err).__name__})"
        ) from None
    expr, _ = _Builder(source, text).build(tree.body, 1)
    if expr.has(*_UNDEFINED):
        raise OptiscopeError(
            f"invalid formula {_short(text)}: undefined or complex (it simplifies to {_short(str(expr))})"
        )
    return expr


def objective_from_expression(text: str) -> Objective:
    """An Objective for a formula in ``w1``, ``w2`` (validated by :func:`parse_formula`).

    Value, gradient and Hessian are exact (chain rule on the compiled expression, see
    ``optiscope.objectives.tape``) and batched: ``[B, 2] -> [B]``, ``[B, 2]``, ``[B, 2, 2]``.
    Non-finite results are returned as they are, without warnings.
    """
    expr = parse_formula(text)
    tape = Tape(2)
    f = tape.from_sympy(expr, SYMBOLS)
    g1, g2 = tape.derivative(f, 0), tape.derivative(f, 1)
    h11, h12, h22 = tape.derivative(g1, 0), tape.derivative(g1, 1), tape.derivative(g2, 1)
    value, grad, hess = (
        tape.evaluator([f]),
        tape.evaluator([g1, g2]),
        tape.evaluator([h11, h12, h22]),
    )

    def value_fn(x: np.ndarray) -> np.ndarray:  # [B, 2] -> [B]
        return value(x)[0]

    def grad_fn(x: np.ndarray) -> np.ndarray:  # [B, 2] -> [B, 2]
        return np.stack(grad(x), axis=1)

    def hessian_fn(x: np.ndarray) -> np.ndarray:  # [B, 2] -> [B, 2, 2]
        a, b, c = hess(x)
        return np.stack([np.stack([a, b], axis=1), np.stack([b, c], axis=1)], axis=1)

    name = text.strip()
    return Objective(
        name=name,
        formula=name,
        value_fn=value_fn,
        grad_fn=grad_fn,
        hessian_fn=hessian_fn,
        dim=2,
        bounds=((-2.0, 2.0), (-2.0, 2.0)),
        minimizers=np.zeros((0, 2)),
        f_min=None,
        start=(-1.5, 1.5),
        citation="typed-in formula",
        latex=f"${sp.latex(expr)}$",
        params={},
        description="formula typed by the user",
    )


def _short(text: str, limit: int = 60) -> str:
    """``repr`` of the (stripped, shortened) text: one line, whatever the text holds."""
    text = text.strip()
    return repr(text if len(text) <= limit else text[: limit - 3] + "...")


class _Builder:
    """Walks a whitelisted syntax tree into SymPy, tracking the value of constant parts."""

    def __init__(self, source: str, text: str) -> None:
        self.source, self.text, self.count = source, text, 0

    def fail(
        self, problem: str, node: ast.AST | None = None, allowed: bool = True
    ) -> OptiscopeError:
        where = ""
        if node is not None:
            segment = ast.get_source_segment(self.source, node) or ""
            if segment and segment != self.source:
                where = f" in {_short(segment, 40)}"
        tail = f"; a formula may use {ALLOWED_SUMMARY}" if allowed else ""
        return OptiscopeError(f"invalid formula {_short(self.text)}: {problem}{where}{tail}")

    def build(self, node: ast.AST, depth: int) -> Built:
        if depth > MAX_DEPTH:
            raise self.fail(f"nested deeper than {MAX_DEPTH} levels", allowed=False)
        self.count += 1
        if self.count > MAX_NODES:
            raise self.fail(
                f"more than {MAX_NODES} numbers, names, operators and calls", allowed=False
            )
        if isinstance(node, ast.Constant):
            return self.constant(node)
        if isinstance(node, ast.Name):
            return self.name(node)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.UAdd | ast.USub):
            expr, value = self.build(node.operand, depth + 1)
            if isinstance(node.op, ast.UAdd):
                return expr, value
            return -expr, None if value is None else -value
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Pow):
            return self.power(node, depth)
        if isinstance(node, ast.BinOp) and isinstance(
            node.op, ast.Add | ast.Sub | ast.Mult | ast.Div
        ):
            return self.chain(node, depth)
        if isinstance(node, ast.Call):
            return self.call(node, depth)
        raise self.fail(f"{_describe(node)} is not allowed", node)

    def constant(self, node: ast.Constant) -> Built:
        value = node.value
        if type(value) not in (int, float):
            shown = "True/False" if isinstance(value, bool) else f"{type(value).__name__} {value!r}"
            raise self.fail(f"{shown} is not allowed (only real numbers)", node)
        if not abs(value) <= MAX_LITERAL:
            raise self.fail(f"number {value!r} is too large (|number| <= {MAX_LITERAL:g})", node)
        return (sp.Integer(value) if type(value) is int else sp.Float(value)), float(value)

    def name(self, node: ast.Name) -> Built:
        if node.id in _NAMES:
            return _NAMES[node.id]
        if node.id in _FUNCTIONS:
            raise self.fail(f"{node.id} is a function: call it as {node.id}(...)", node)
        raise self.fail(
            f"unknown name {node.id!r} (allowed names: {', '.join(ALLOWED_NAMES)})", node
        )

    def chain(self, node: ast.BinOp, depth: int) -> Built:
        """``a + b - c * d / e``: left-associative chains are one level, built term by term."""
        steps: list[tuple[ast.operator, ast.expr]] = []
        left: ast.expr = node
        while isinstance(left, ast.BinOp) and isinstance(
            left.op, ast.Add | ast.Sub | ast.Mult | ast.Div
        ):
            steps.append((left.op, left.right))
            left = left.left
        self.count += len(steps) - 1  # the chain's operators beyond the one build() counted
        expr, value = self.build(left, depth + 1)
        terms: list[sp.Expr] = []  # pending operands of the current run of + - (or of * /)
        additive = True
        for op, right in reversed(steps):
            rexpr, rvalue = self.build(right, depth + 1)
            if isinstance(op, ast.Div) and rvalue == 0.0:
                raise self.fail("division by zero", right)
            is_add = isinstance(op, ast.Add | ast.Sub)
            if not terms or is_add != additive:
                expr = _combine(additive, terms) if terms else expr
                terms, additive = [expr], is_add
            terms.append(
                -rexpr
                if isinstance(op, ast.Sub)
                else 1 / rexpr
                if isinstance(op, ast.Div)
                else rexpr
            )
            if value is not None and rvalue is not None:
                value = _arith(op, value, rvalue)
                self.check_value(value, right)
            else:
                value = None
        expr = _combine(additive, terms) if terms else expr
        return self.constant_of(expr, value, node)

    def power(self, node: ast.BinOp, depth: int) -> Built:
        base, bvalue = self.build(node.left, depth + 1)
        exponent, evalue = self.build(node.right, depth + 1)
        if evalue is not None and abs(evalue) > MAX_EXPONENT:
            raise self.fail(
                f"exponent {evalue:g} is too large (|exponent| <= {MAX_EXPONENT})", node
            )
        value = None
        if bvalue is not None and evalue is not None:
            if bvalue == 0.0 and evalue < 0:
                raise self.fail("division by zero (0 to a negative power)", node)
            if bvalue != 0.0 and abs(evalue * math.log10(abs(bvalue))) > MAX_CONSTANT_LOG10:
                raise self.fail(
                    f"constant power out of range (beyond 1e±{MAX_CONSTANT_LOG10})", node
                )
            value = bvalue**evalue
            self.check_value(value, node)
            if base.is_Rational and exponent.is_Rational and _exact_bits(base, exponent) > 4096:
                base = sp.Float(base)  # (1 + 1e-12)**100**... would grow without bound if exact
        return self.constant_of(base**exponent, value, node)

    def call(self, node: ast.Call, depth: int) -> Built:
        if not isinstance(node.func, ast.Name):
            raise self.fail("calling an expression is not allowed", node)
        name = node.func.id
        if name not in _FUNCTIONS:
            if name in _NAMES:
                raise self.fail(f"{name} is not a function", node)
            raise self.fail(
                f"unknown function {name!r} (allowed functions: {', '.join(ALLOWED_FUNCTIONS)})",
                node,
            )
        if node.keywords:
            raise self.fail(f"keyword arguments are not allowed ({name} takes one argument)", node)
        if any(isinstance(arg, ast.Starred) for arg in node.args):
            raise self.fail("*-unpacking is not allowed", node)
        if len(node.args) != 1:
            raise self.fail(f"{name}() takes exactly one argument (got {len(node.args)})", node)
        arg, avalue = self.build(node.args[0], depth + 1)
        sym_fn, float_fn = _FUNCTIONS[name]
        value = None
        if avalue is not None:
            try:
                value = float_fn(avalue)
            except (ValueError, OverflowError) as err:
                raise self.fail(
                    f"{name} of {avalue:g} is not a finite real number ({err})", node
                ) from None
            self.check_value(value, node)
        return self.constant_of(sym_fn(arg), value, node)

    def check_value(self, value: float | complex, node: ast.AST) -> None:
        """A constant sub-expression must be a finite real number of magnitude <= 1e300."""
        if isinstance(value, complex):
            raise self.fail(f"constant {value:g} is not a real number", node)
        if not math.isfinite(value):
            raise self.fail(f"constant {value} is not finite", node)
        if abs(value) > 10.0**MAX_CONSTANT_LOG10:
            raise self.fail(
                f"constant {value:g} is too large (at most 1e{MAX_CONSTANT_LOG10})", node
            )

    def constant_of(self, expr: sp.Expr, value: float | None, node: ast.AST) -> Built:
        """Check a constant ``expr``; find its value when SymPy made it constant (``w1 - w1``)."""
        if expr.free_symbols:
            return expr, None
        if expr.has(*_UNDEFINED):
            raise self.fail(f"undefined value {expr} (like 1/0 or tan(pi/2))", node)
        if value is None:
            try:
                value = complex(expr.evalf())
            except (TypeError, ValueError, OverflowError):
                raise self.fail(f"undefined value {_short(str(expr), 40)}", node) from None
            value = value.real if value.imag == 0 else value
            self.check_value(value, node)
        return expr, value


def _exact_bits(base: sp.Rational, exponent: sp.Rational) -> float:
    """Roughly how many bits the exact rational ``base**exponent`` needs."""
    size = abs(base.p).bit_length() + base.q.bit_length()
    return abs(exponent.p) * size / exponent.q


def _combine(additive: bool, terms: list[sp.Expr]) -> sp.Expr:
    return sp.Add(*terms) if additive else sp.Mul(*terms)


def _arith(op: ast.operator, a: float, b: float) -> float:
    if isinstance(op, ast.Add):
        return a + b
    if isinstance(op, ast.Sub):
        return a - b
    if isinstance(op, ast.Mult):
        return a * b
    return a / b


def _describe(node: ast.AST) -> str:
    if isinstance(node, ast.BinOp | ast.UnaryOp):
        return f"operator {_OPERATOR_TEXT.get(type(node.op), type(node.op).__name__)}"
    return _NODE_TEXT.get(type(node), type(node).__name__)
