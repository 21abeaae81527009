"""Typed-in formulas in ``w1``, ``w2``: a whitelisting parser and the Objective built from it.

User text is never evaluated. It is first checked character by character, then parsed by
``ast.parse(text, mode="eval")`` only, and the syntax tree is walked against a whitelist into a
small tree of optiscope's own (:class:`Formula`). That tree is what runs: it is compiled into a
NumPy tape (:mod:`optiscope.objectives.tape`) operation for operation, so the function evaluated
is the function typed, with its domain: ``exp(log(w1))`` is NaN for ``w1 < 0`` and ``w1/w1`` is
NaN at 0. There is no symbolic algebra (no SymPy: nothing is simplified, expanded or rewritten),
no ``eval``, ``exec``, ``sympify``, ``parse_expr`` or ``lambdify``.

What a formula may contain (one line of printable ASCII):

* numbers: decimal literals (``3``, ``0.5``, ``.5``, ``1e-3``; not ``0x1F``, ``0b1`` or
  ``1_000``) with ``|value| <= 1e12``;
* names: ``w1``, ``w2`` (the coordinates), ``pi`` and ``e``;
* operators ``+ - * / **``, unary ``+`` and ``-``, and parentheses. ``^`` is read as power too,
  because people type it (``w1^2`` is ``w1**2``; Python's xor means nothing here). It has the
  precedence and right associativity of ``**``: ``-w1^2`` is ``-(w1**2)``, ``2^3^2`` is ``2**9``;
* functions ``sin cos tan exp log sqrt abs tanh sinh cosh``, one positional argument each.

Refused before parsing, with the column and the character's code: comments (``#``), control
characters (newline, tab, escape, anything below U+0020, and U+007F) and every non-ASCII
character, look-alikes included (a fullwidth ``ｗ1`` or Arabic-Indic digits would otherwise be
read as ASCII by Python's parser); the message gives the ASCII spelling when there is one.

Bounds (all checked before anything is computed, so every accepted formula builds in
milliseconds; the build is linear in the formula's size):

* at most 1000 characters, 500 syntax nodes, nesting depth 40 (a chain ``a + b - c`` of one
  operator class counts as one level);
* in ``a ** c`` with a constant ``c``: ``|c| <= 100``; along nested constant powers the
  product of the exponents (the effective exponent, e.g. 10000 in ``((3*w1)**100)**100``)
  must stay ``<= 100`` as well. The chain runs through ``+ - * /`` and unary minus
  (``(w1**10 + 1)**20`` has effective exponent 200) and restarts inside a function call and
  at a power with a variable exponent;
* every constant sub-expression (folded in float64 while parsing) must be a finite real number
  of magnitude at most 1e300: ``1/0``, ``log(0)``, ``sqrt(-1)``, ``tan(pi/2)``, ``(-8)**(1/3)``,
  ``9**9**9`` and ``exp(1000)`` are refused (a constant power must also stay above 1e-300).
  Constants are floats: no integer ever grows.

Measured on a shared 2-core machine over 1,800 generated and adversarial formulas of up to 1000
characters: the slowest parse + tape + derivatives took 32 ms (34 ms with value, gradient and
Hessian at 8 points; at most ~2,100 tape nodes). tests/test_expression_hostile.py holds each
adversarial formula to 1 s.

A formula without ``w1`` or ``w2`` (``"3"``, ``"pi"``) is accepted: a constant function whose
gradient and Hessian are zero. Any other name is refused with the list of allowed names.
A sub-expression that is zero everywhere but not constant (``w2 - w2``) is not simplified: it is
computed, so ``w1 / (w2 - w2)`` is infinite or NaN everywhere and a run on it diverges at once.

Gradient and Hessian are exact, from the chain rule applied to the tape; they are NaN wherever
the value is NaN (outside the typed function's domain). The Objective's ``name`` and
``formula`` are the validated text; its ``latex`` is printed from the tree by this module, with
nesting at most 10 groups and at most 2000 characters (Matplotlib's mathtext recurses once per
group), else ``""`` (plain-text titles).
"""

from __future__ import annotations

import ast
import math
import re
import unicodedata
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from optiscope.errors import OptiscopeError
from optiscope.objectives.base import Objective, Pointwise
from optiscope.objectives.tape import Tape

MAX_LENGTH = 1000
MAX_DEPTH = 40
MAX_NODES = 500
MAX_LITERAL = 1e12
MAX_EXPONENT = 100  # |c| in a ** c, and the product of |c| along nested powers
MAX_CONSTANT = 1e300
MAX_LATEX_DEPTH = 10
MAX_LATEX_LENGTH = 2000
MAX_TAPE_NODES = 200_000  # a guard: the largest accepted formula measured needs far fewer

_VARIABLES = {"w1": 0, "w2": 1}
_CONSTANTS = {"pi": (math.pi, r"\pi"), "e": (math.e, "e")}
# name -> float function used to fold and check constant arguments
_FUNCTIONS: dict[str, Callable[[float], float]] = {
    "sin": math.sin,
    "cos": math.cos,
    "tan": math.tan,
    "exp": math.exp,
    "log": math.log,
    "sqrt": math.sqrt,
    "abs": abs,
    "tanh": math.tanh,
    "sinh": math.sinh,
    "cosh": math.cosh,
}
ALLOWED_NAMES: tuple[str, ...] = (*_VARIABLES, *_CONSTANTS)
ALLOWED_FUNCTIONS: tuple[str, ...] = tuple(_FUNCTIONS)
ALLOWED_SUMMARY = (
    f"numbers, the names {', '.join(ALLOWED_NAMES)}, the operators + - * / ** (^ also means power), "
    f"parentheses and the functions {', '.join(ALLOWED_FUNCTIONS)}"
)
ALLOWED_CHARACTERS = "ASCII letters, digits, spaces and + - * / ^ ( ) . ,"

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
_ADDITIVE, _MULTIPLICATIVE = (ast.Add, ast.Sub), (ast.Mult, ast.Div)
_DECIMAL = re.compile(r"(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")  # not 0x1F, 0b1, 1_000
_OP_SYMBOL = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/"}


# --- the validated tree ---------------------------------------------------------------------
@dataclass(frozen=True)
class Num:
    """A number: a literal, ``pi`` or ``e`` (``latex`` is set for the named ones)."""

    value: float
    latex: str = ""


@dataclass(frozen=True)
class Var:
    """The coordinate ``w1`` (index 0) or ``w2`` (index 1)."""

    index: int


@dataclass(frozen=True)
class Neg:
    operand: FormulaNode


@dataclass(frozen=True)
class Chain:
    """``first op_1 t_1 op_2 t_2 ...`` evaluated left to right; ops all from ``+ -`` or ``* /``."""

    first: FormulaNode
    rest: tuple[tuple[str, FormulaNode], ...]

    @property
    def additive(self) -> bool:
        return self.rest[0][0] in "+-"


@dataclass(frozen=True)
class Power:
    base: FormulaNode
    exponent: FormulaNode


@dataclass(frozen=True)
class Call:
    name: str
    argument: FormulaNode


FormulaNode = Num | Var | Neg | Chain | Power | Call


@dataclass(frozen=True)
class Formula:
    """A validated formula: its text (trimmed), its tree, its LaTeX (or "") and, when it has
    neither ``w1`` nor ``w2``, its constant value."""

    text: str
    root: FormulaNode
    latex: str
    constant: float | None


# --- parsing ----------------------------------------------------------------------------------
def parse_formula(text: str) -> Formula:
    """Validate ``text`` (see the module docstring) and return it as a :class:`Formula`.

    Raises OptiscopeError, with a one-line message naming the problem, for anything not allowed.
    """
    if not isinstance(text, str):
        raise OptiscopeError(f"formula must be text, got {type(text).__name__}")
    if len(text) > MAX_LENGTH:
        raise OptiscopeError(f"formula is too long ({len(text)} characters, at most {MAX_LENGTH})")
    _check_characters(text)
    source = text.strip(" ")
    if not source:
        raise OptiscopeError(
            f"empty formula: write an expression in w1, w2 using {ALLOWED_SUMMARY}"
        )
    lead = len(text) - len(text.lstrip(" "))
    python_source = source.replace("^", "**")
    try:
        with warnings.catch_warnings():  # "1if w1 else 2" warns before it fails: one line only
            warnings.simplefilter("ignore", SyntaxWarning)
            tree = ast.parse(python_source, mode="eval")
    except SyntaxError as err:
        where = ""
        if err.offset:
            where = f" at column {lead + _original_column(source, err.offset)}"
        reason = " ".join(str(err.msg).split())
        raise OptiscopeError(
            f"invalid formula {_short(text)}: {reason}{where}; a formula may use {ALLOWED_SUMMARY}"
        ) from None
    except (RecursionError, MemoryError, ValueError) as err:
        raise OptiscopeError(
            f"invalid formula {_short(text)}: could not be parsed ({type(err).__name__})"
        ) from None
    root, value, _ = _Builder(python_source, text).build(tree.body, 1)
    return Formula(source, root, _latex_or_plain(root), value)


def _check_characters(text: str) -> None:
    """A formula is one line of printable ASCII without ``#``: say which character is not.

    The message quotes only the text before the character: what follows it (a comment, an
    escape sequence) is never echoed.
    """
    for column, char in enumerate(text, start=1):
        code = ord(char)
        before = "invalid formula" + (
            f" (after {_short(text[: column - 1][-40:])})" if column > 1 else ""
        )
        if char == "#":
            raise OptiscopeError(
                f"{before}: '#' at column {column}: comments are not allowed, a formula is one "
                f"expression using {ALLOWED_SUMMARY}"
            )
        if code < 0x20 or code == 0x7F:
            raise OptiscopeError(
                f"{before}: control character U+{code:04X} ({_char_name(char)}) at column "
                f"{column}; a formula is one line of {ALLOWED_CHARACTERS}"
            )
        if code > 0x7F:
            ascii_word = _ascii_spelling(text, column - 1)
            hint = (
                f"type {ascii_word} in ASCII"
                if ascii_word
                else f"a formula may contain only {ALLOWED_CHARACTERS}"
            )
            raise OptiscopeError(
                f"{before}: non-ASCII character U+{code:04X} ({_char_name(char)}) at column "
                f"{column}; {hint}"
            )


def _char_name(char: str) -> str:
    names = {
        "\x00": "null",
        "\n": "newline",
        "\r": "carriage return",
        "\t": "tab",
        "\x1b": "escape",
    }
    return names.get(char) or unicodedata.name(char, "unnamed").lower()


def _ascii_spelling(text: str, index: int) -> str:
    """The word around ``text[index]`` in ASCII (``ｗ1`` -> ``w1``, ``٢`` -> ``2``), or ""."""
    start, end = index, index + 1
    while start > 0 and (text[start - 1].isalnum() or text[start - 1] == "_"):
        start -= 1
    while end < len(text) and (text[end].isalnum() or text[end] == "_"):
        end += 1
    spelled = []
    for char in text[start:end] or text[index]:
        folded = unicodedata.normalize("NFKC", char)
        if not (folded.isascii() and folded.isprintable()):
            digit = unicodedata.decimal(char, None)
            if digit is None:
                return ""
            folded = str(digit)
        spelled.append(folded)
    word = "".join(spelled)
    return word if word.strip() and "#" not in word else ""


def _original_column(source: str, offset: int) -> int:
    """Column in ``source`` (with ``^``) of 1-based ``offset`` in the text where ``^`` is ``**``."""
    position = 0
    for column, char in enumerate(source, start=1):
        position += 2 if char == "^" else 1
        if position >= offset:
            return column
    return len(source) + 1


def _short(text: str, limit: int = 60) -> str:
    """The (stripped, shortened) text quoted with ``ascii``: one line of plain ASCII."""
    text = text.strip()
    return ascii(text if len(text) <= limit else text[: limit - 3] + "...")


Built = tuple[FormulaNode, float | None, float]  # node, constant value (or None), reach


class _Builder:
    """Walks a syntax tree against the whitelist into a :class:`Formula` tree.

    Each ``build`` returns the node, its value when it is constant (folded with Python floats
    and checked) and its *reach*: the effective exponent of ``w1``, ``w2`` in it along nested
    constant powers (0 for a constant, 1 for a coordinate or a function call of one).
    """

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
            operand, value, reach = self.build(node.operand, depth + 1)
            if isinstance(node.op, ast.UAdd):
                return operand, value, reach
            return Neg(operand), None if value is None else -value, reach
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Pow):
            return self.power(node, depth)
        if isinstance(node, ast.BinOp) and isinstance(node.op, _ADDITIVE + _MULTIPLICATIVE):
            return self.chain(node, depth)
        if isinstance(node, ast.Call):
            return self.call(node, depth)
        raise self.fail(f"{_describe(node)} is not allowed", node)

    def constant(self, node: ast.Constant) -> Built:
        value = node.value
        if type(value) not in (int, float):
            shown = "True/False" if isinstance(value, bool) else f"{type(value).__name__} {value!r}"
            raise self.fail(f"{shown} is not allowed (only real numbers)", node)
        literal = ast.get_source_segment(self.source, node) or ""
        if not _DECIMAL.fullmatch(literal):
            raise self.fail(
                f"number {_short(literal, 30)} is not a decimal literal (write 3, 0.5 or 1e-3)",
                node,
            )
        if not abs(value) <= MAX_LITERAL:  # compared before float(): a huge int cannot convert
            raise self.fail(
                f"number {_short(str(value), 30)} is too large (|number| <= 1e12)", node
            )
        return Num(float(value)), float(value), 0.0

    def name(self, node: ast.Name) -> Built:
        if node.id in _VARIABLES:
            return Var(_VARIABLES[node.id]), None, 1.0
        if node.id in _CONSTANTS:
            value, latex = _CONSTANTS[node.id]
            return Num(value, latex), value, 0.0
        if node.id in _FUNCTIONS:
            raise self.fail(f"{node.id} is a function: call it as {node.id}(...)", node)
        raise self.fail(
            f"unknown name {node.id!r} (allowed names: {', '.join(ALLOWED_NAMES)})", node
        )

    def chain(self, node: ast.BinOp, depth: int) -> Built:
        """``a + b - c`` or ``a * b / c``: a left-associative chain of one operator class is one
        level of nesting, built term by term (Python's parser nests it to the left)."""
        kinds = _ADDITIVE if isinstance(node.op, _ADDITIVE) else _MULTIPLICATIVE
        steps: list[tuple[ast.operator, ast.expr]] = []
        left: ast.expr = node
        while isinstance(left, ast.BinOp) and isinstance(left.op, kinds):
            steps.append((left.op, left.right))
            left = left.left
        self.count += len(steps) - 1  # the chain's operators beyond the one build() counted
        first, value, reach = self.build(left, depth + 1)
        rest: list[tuple[str, FormulaNode]] = []
        for op, right in reversed(steps):
            term, rvalue, rreach = self.build(right, depth + 1)
            if isinstance(op, ast.Div) and rvalue == 0.0:
                raise self.fail("division by zero", right)
            rest.append((_OP_SYMBOL[type(op)], term))
            reach = max(reach, rreach)
            if value is not None and rvalue is not None:
                value = self.checked(lambda a=value, b=rvalue, op=op: _arith(op, a, b), right)
            else:
                value = None
        return Chain(first, tuple(rest)), value, reach

    def power(self, node: ast.BinOp, depth: int) -> Built:
        base, bvalue, breach = self.build(node.left, depth + 1)
        exponent, evalue, ereach = self.build(node.right, depth + 1)
        if evalue is None:  # a variable exponent: a new quantity, like a function call
            return Power(base, exponent), None, 1.0
        if abs(evalue) > MAX_EXPONENT:
            raise self.fail(
                f"exponent {evalue:g} is too large (|exponent| <= {MAX_EXPONENT})", node
            )
        reach = breach * abs(evalue)
        if reach > MAX_EXPONENT:
            raise self.fail(
                f"nested powers raise w1, w2 to an effective exponent of {reach:g} "
                f"(at most {MAX_EXPONENT}: the product of the exponents along nested powers)",
                node,
                allowed=False,
            )
        value = None
        if bvalue is not None:
            if bvalue == 0.0 and evalue < 0:
                raise self.fail("division by zero (0 to a negative power)", node)
            if bvalue != 0.0 and abs(evalue * math.log10(abs(bvalue))) > math.log10(MAX_CONSTANT):
                raise self.fail(
                    "constant power out of range (its magnitude must lie within 1e-300 .. 1e300)",
                    node,
                )
            value = self.checked(lambda: bvalue**evalue, node)
        return Power(base, exponent), value, reach

    def call(self, node: ast.Call, depth: int) -> Built:
        if not isinstance(node.func, ast.Name):
            raise self.fail("calling an expression is not allowed", node)
        name = node.func.id
        if name not in _FUNCTIONS:
            if name in ALLOWED_NAMES:
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
        argument, avalue, areach = self.build(node.args[0], depth + 1)
        value = None
        if avalue is not None:
            if name == "tan" and _is_odd_multiple_of_half_pi(avalue):
                raise self.fail(f"tan of {avalue:g} is undefined (an odd multiple of pi/2)", node)
            value = self.checked(lambda: _FUNCTIONS[name](avalue), node, f"{name} of {avalue:g}")
        return Call(name, argument), value, 1.0 if areach > 0 else 0.0

    def checked(self, compute: Callable[[], float], node: ast.AST, what: str = "") -> float:
        """Fold a constant: it must be a finite real number of magnitude <= 1e300."""
        what = what or "constant"
        try:
            value = compute()
        except ZeroDivisionError:
            raise self.fail("division by zero", node) from None
        except (ValueError, OverflowError) as err:
            raise self.fail(f"{what} is not a finite real number ({err})", node) from None
        if isinstance(value, complex):
            raise self.fail(f"{what} is not a real number", node)
        if not math.isfinite(value):
            raise self.fail(f"{what} is not finite", node)
        if abs(value) > MAX_CONSTANT:
            raise self.fail(f"{what} {value:g} is too large (at most 1e300)", node)
        return float(value)


def _is_odd_multiple_of_half_pi(a: float) -> bool:
    """True when ``cos(a)`` is zero up to the rounding of ``a`` (``tan(a)`` is undefined)."""
    return abs(math.cos(a)) <= 4.0 * math.ulp(max(1.0, abs(a)))


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


# --- compiling the tree into a tape -------------------------------------------------------------
def compile_formula(formula: Formula, tape: Tape) -> int:
    """Push ``formula``'s operations onto ``tape``, in the order typed; return the root's slot."""

    def emit(node: FormulaNode) -> int:
        if isinstance(node, Num):
            return tape.const(node.value)
        if isinstance(node, Var):
            return tape.var(node.index)
        if isinstance(node, Neg):
            return tape.mul(tape.const(-1.0), emit(node.operand))
        if isinstance(node, Chain):
            slot = emit(node.first)
            for op, term in node.rest:
                right = emit(term)
                if op == "+":
                    slot = tape.add(slot, right)
                elif op == "-":  # a - b == a + (-1 * b) exactly in floating point
                    slot = tape.add(slot, tape.mul(tape.const(-1.0), right))
                elif op == "*":
                    slot = tape.mul(slot, right)
                else:
                    slot = tape.div(slot, right)
            return slot
        if isinstance(node, Power):
            return tape.pow(emit(node.base), emit(node.exponent))
        return tape.fn(node.name, emit(node.argument))

    return emit(formula.root)


def objective_from_expression(text: str) -> Objective:
    """An Objective for a formula in ``w1``, ``w2`` (validated by :func:`parse_formula`).

    Value, gradient and Hessian are exact (chain rule on the tape, see
    ``optiscope.objectives.tape``) and batched: ``[B, 2] -> [B]``, ``[B, 2]``, ``[B, 2, 2]``.
    Non-finite results are returned as they are, without warnings; the gradient and Hessian
    are NaN wherever the value is NaN (outside the domain of the formula typed).
    """
    formula = parse_formula(text)
    tape = Tape(2)
    f = compile_formula(formula, tape)
    g1, g2 = tape.derivative(f, 0), tape.derivative(f, 1)
    h11, h12, h22 = tape.derivative(g1, 0), tape.derivative(g1, 1), tape.derivative(g2, 1)
    if len(tape) > MAX_TAPE_NODES:  # not reached by any formula within the bounds above
        raise OptiscopeError(
            f"invalid formula {_short(text)}: too complex to differentiate "
            f"({len(tape)} operations, at most {MAX_TAPE_NODES})"
        )
    value = tape.evaluator([f])
    grad = tape.evaluator([f, g1, g2])
    hess = tape.evaluator([f, h11, h12, h22])

    def value_fn(x: np.ndarray) -> np.ndarray:  # [B, 2] -> [B]
        return value(x)[0]

    def grad_fn(x: np.ndarray) -> np.ndarray:  # [B, 2] -> [B, 2]
        v, a, b = grad(x)
        return _undefined_where_nan(v, np.stack([a, b], axis=1))

    def hessian_fn(x: np.ndarray) -> np.ndarray:  # [B, 2] -> [B, 2, 2]
        v, a, b, c = hess(x)
        h = np.stack([np.stack([a, b], axis=1), np.stack([b, c], axis=1)], axis=1)
        return _undefined_where_nan(v, h)

    return Objective(
        name=formula.text,
        formula=formula.text,
        value_fn=value_fn,
        grad_fn=grad_fn,
        hessian_fn=hessian_fn,
        dim=2,
        bounds=((-2.0, 2.0), (-2.0, 2.0)),
        minimizers=np.zeros((0, 2)),
        f_min=None,
        start=(-1.5, 1.5),
        citation="typed-in formula",
        latex=formula.latex,
        params={},
        description="formula typed by the user",
        pointwise=Pointwise(tape=tape, outputs=(f, g1, g2)),
    )


def _undefined_where_nan(value: np.ndarray, derivative: np.ndarray) -> np.ndarray:
    """``derivative`` ``[B, ...]`` with NaN in the rows where ``value`` ``[B]`` is NaN."""
    bad = np.isnan(value)
    if bad.any():
        derivative = derivative.copy()
        derivative[bad] = np.nan
    return derivative


# --- LaTeX --------------------------------------------------------------------------------------
# Precedence of what a printed piece is, lowest first: it decides where parentheses go.
_SUM, _NEG, _PRODUCT, _POWER, _ATOM = range(5)
_LATEX_FUNCTIONS = {
    "sin": r"\sin",
    "cos": r"\cos",
    "tan": r"\tan",
    "exp": r"\exp",
    "log": r"\log",
    "tanh": r"\tanh",
    "sinh": r"\sinh",
    "cosh": r"\cosh",
}


@dataclass(frozen=True)
class _Tex:
    text: str
    precedence: int
    depth: int  # groups nested in it: \left( \right), ^{}, \frac{}{}, \sqrt{}


def _latex_or_plain(root: FormulaNode) -> str:
    """``$...$`` for mathtext, or "" when it would nest or run too deep for Matplotlib."""
    tex = _latex(root)
    if tex.depth > MAX_LATEX_DEPTH or len(tex.text) > MAX_LATEX_LENGTH:
        return ""
    return f"${tex.text}$"


def _latex(node: FormulaNode) -> _Tex:
    """The formula as typed (same operations, same order), printed in mathtext's LaTeX subset."""
    if isinstance(node, Num):
        return _Tex(node.latex, _ATOM, 0) if node.latex else _number_latex(node.value)
    if isinstance(node, Var):
        return _Tex(f"w_{{{node.index + 1}}}", _ATOM, 0)
    if isinstance(node, Neg):
        inner = _latex(node.operand)
        inner = _parenthesized(inner) if inner.precedence <= _NEG else inner
        return _Tex(f"-{inner.text}", _NEG, inner.depth)
    if isinstance(node, Chain):
        return _chain_latex(node)
    if isinstance(node, Power):
        base, exponent = _latex(node.base), _latex(node.exponent)
        if base.precedence <= _POWER or isinstance(node.base, Call) and node.base.name != "abs":
            base = _parenthesized(base)
        depth = max(base.depth, exponent.depth + 1)
        return _Tex(f"{base.text}^{{{exponent.text}}}", _POWER, depth)
    argument = _latex(node.argument)
    if node.name == "sqrt":
        return _Tex(rf"\sqrt{{{argument.text}}}", _ATOM, argument.depth + 1)
    if node.name == "abs":
        return _Tex(rf"\left|{argument.text}\right|", _ATOM, argument.depth + 1)
    inner = _parenthesized(argument)
    return _Tex(rf"{_LATEX_FUNCTIONS[node.name]}{inner.text}", _ATOM, inner.depth)


def _chain_latex(node: Chain) -> _Tex:
    text, depth = _latex(node.first), 0
    if not node.additive and text.precedence <= _SUM:
        text = _parenthesized(text)
    depth = text.depth
    out = text.text
    for op, term in node.rest:
        right = _latex(term)
        if op == "/":
            out = rf"\frac{{{out}}}{{{right.text}}}"
            depth = max(depth, right.depth) + 1
            continue
        limit = _NEG if node.additive else _PRODUCT
        if right.precedence <= limit:
            right = _parenthesized(right)
        depth = max(depth, right.depth)
        if op in "+-":
            out = f"{out} {op} {right.text}"
        else:
            joint = r" \cdot " if right.text[:1].isdigit() or right.text[:1] == "." else " "
            out = f"{out}{joint}{right.text}"
    return _Tex(out, _SUM if node.additive else _PRODUCT, depth)


def _parenthesized(tex: _Tex) -> _Tex:
    return _Tex(rf"\left({tex.text}\right)", _ATOM, tex.depth + 1)


def _number_latex(value: float) -> _Tex:
    """``3``, ``0.25``, ``10^{-5}``, ``2.5 \\cdot 10^{20}`` from the float (never the typed text)."""
    if value == int(value) and abs(value) < 1e15:
        return _Tex(str(int(value)), _ATOM, 0)
    text = repr(value)
    if "e" not in text:
        return _Tex(text, _ATOM, 0)
    mantissa, exponent = text.split("e")
    power = f"10^{{{int(exponent)}}}"
    if float(mantissa) == 1.0:
        return _Tex(power, _POWER, 1)
    return _Tex(rf"{mantissa} \cdot {power}", _PRODUCT, 1)
