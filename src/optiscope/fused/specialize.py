"""Specializing an optimizer kernel's printed source to the options one call holds fixed.

The kernels pick their branches arithmetically (``flag * a + (1.0 - flag) * b``, see
``optimizers._common``), so that one source serves every row of a batch. When every row of a
call has the same value of an option (``nesterov``, ``amsgrad``, ``centered``,
``momentum_form``, AdamW's ``decoupled``) or a zero-default hyperparameter is 0 for all of
them (``weight_decay``, ``dampening``, ``lr_decay`` ...), the fused loop prints that value
into the kernel as a literal and folds the arithmetic it makes trivial: the helper calls of
the kernel's top-level assignments are inlined, literal values propagate through the
straight-line assignments, and

- ``1.0 * x``, ``x * 1.0``, ``x / 1.0``, ``x - 0.0`` become ``x`` (the same bits, always);
- ``0.0 * x`` and ``x * 0.0`` become ``0.0``, ``x + 0.0`` and ``0.0 + x`` become ``x``;
- arithmetic and comparisons of literals are evaluated (IEEE doubles, as compiled code
  would), ``True | x`` is ``True``, ``False | x`` is ``x`` (``&`` likewise), a conditional
  expression on a literal test is its branch.

When results can differ from the unfolded kernel (``engine.run``): the second group is exact
for every finite ``x`` except for the sign of a zero (``+0.0`` against ``-0.0``, equal under
``==`` and in every later sum or product that is not itself zero); for ``x`` infinite or NaN
the folded ``0.0 * x`` is 0 where the unfolded is NaN. ``x`` there is a kernel intermediate
built from finite state, so it is infinite only when the row's arithmetic overflows, the step
where the row is diverging anyway: the unfolded kernel then returns NaN (divergence kind
``non_finite``) where the folded one may return a point that is still finite, so that row's
divergence step, kind or point can differ. Nothing else can.
"""

from __future__ import annotations

import ast
import copy
import itertools
from collections.abc import Mapping

_LITERAL_TYPES = (bool, int, float)


def specialize_kernel(
    kernel: ast.FunctionDef, fixed: Mapping[str, float], helpers: Mapping[str, ast.FunctionDef]
) -> ast.FunctionDef:
    """A copy of ``kernel`` with the arguments in ``fixed`` printed as literals and folded.

    ``helpers``: the printed helper functions (by name) that may be inlined. The arguments
    keep their places in the signature (the loop's call does not change).
    """
    tree = copy.deepcopy(kernel)
    assigned = {
        t.id
        for node in ast.walk(tree)
        if isinstance(node, ast.Assign)
        for t in node.targets
        if isinstance(t, ast.Name)
    }
    env: dict[str, ast.Constant] = {
        name: ast.Constant(value=float(value))
        for name, value in fixed.items()
        if name not in assigned  # an argument the kernel rebinds stays an argument
    }
    counter = itertools.count()
    body: list[ast.stmt] = []
    for statement in tree.body:
        body.extend(_inline(statement, helpers, counter))
    tree.body = _propagate(body, env)
    ast.fix_missing_locations(tree)
    return tree


def _inline(
    statement: ast.stmt, helpers: Mapping[str, ast.FunctionDef], counter: itertools.count
) -> list[ast.stmt]:
    """``target = helper(args)`` replaced by the helper's body (locals renamed), repeatedly."""
    call = statement.value if isinstance(statement, ast.Assign) else None
    if not (
        isinstance(call, ast.Call)
        and isinstance(call.func, ast.Name)
        and call.func.id in helpers
        and not call.keywords
        and _straight_line(helpers[call.func.id])
    ):
        return [statement]
    helper = helpers[call.func.id]
    params = [a.arg for a in helper.args.args]
    if len(params) != len(call.args):
        return [statement]
    prefix = f"_in{next(counter)}_"
    renamed = copy.deepcopy(helper)
    local = {a.arg for a in helper.args.args} | {
        n.id for n in ast.walk(helper) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)
    }
    for node in ast.walk(renamed):
        if isinstance(node, ast.Name) and node.id in local:
            node.id = prefix + node.id
    out: list[ast.stmt] = [
        ast.Assign(targets=[ast.Name(id=prefix + p, ctx=ast.Store())], value=arg)
        for p, arg in zip(params, call.args, strict=True)
    ]
    *steps, result = _without_docstring(renamed.body)
    out.extend(steps)
    out.append(ast.Assign(targets=statement.targets, value=result.value))
    return [s for part in out for s in _inline(part, helpers, counter)]


def _without_docstring(body: list[ast.stmt]) -> list[ast.stmt]:
    first = body[0] if body else None
    if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
        return body[1:]
    return body


def _straight_line(helper: ast.FunctionDef) -> bool:
    """Assignments to plain names, then one ``return``: what :func:`_inline` can copy."""
    body = _without_docstring(helper.body)
    if not body:
        return False
    *steps, last = body
    return (
        isinstance(last, ast.Return)
        and last.value is not None
        and all(
            isinstance(s, ast.Assign) and all(isinstance(t, ast.Name) for t in s.targets)
            for s in steps
        )
    )


def _propagate(body: list[ast.stmt], env: dict[str, ast.Constant]) -> list[ast.stmt]:
    """Substitute the known literals, fold, and learn the names assigned a literal."""
    out = []
    for statement in body:
        simple = isinstance(statement, ast.Assign | ast.Return)
        if simple:
            statement = _Folder(env).visit(statement)
        if isinstance(statement, ast.Assign):
            for target in statement.targets:
                for node in ast.walk(target):
                    if isinstance(node, ast.Name):
                        env.pop(node.id, None)
            value = statement.value
            if (
                len(statement.targets) == 1
                and isinstance(statement.targets[0], ast.Name)
                and _literal(value) is not None
            ):
                env[statement.targets[0].id] = value
        elif not simple:  # a compound statement: forget what it may rebind
            for node in ast.walk(statement):
                if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                    env.pop(node.id, None)
        out.append(statement)
    return out


def _literal(node: ast.AST) -> float | bool | None:
    """The value of a literal number or bool (``-c`` included), else None."""
    if isinstance(node, ast.Constant) and isinstance(node.value, _LITERAL_TYPES):
        return node.value
    if (
        isinstance(node, ast.UnaryOp)
        and isinstance(node.op, ast.USub)
        and isinstance(node.operand, ast.Constant)
        and isinstance(node.operand.value, int | float)
        and not isinstance(node.operand.value, bool)
    ):
        return -node.operand.value
    return None


def _is(node: ast.AST, value: float) -> bool:
    """Whether ``node`` is a literal number equal to ``value`` (0.0 matches -0.0)."""
    v = _literal(node)
    return v is not None and not isinstance(v, bool) and v == value


def _maybe_bool(node: ast.AST) -> bool:
    """Whether ``node`` may be a bool (``1.0 * test`` is how the kernels make it a float)."""
    if isinstance(node, ast.Compare | ast.BoolOp):
        return True
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr | ast.BitAnd):
        return True
    return isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not)


def _const(value: float | bool) -> ast.AST:
    if isinstance(value, float) and (value < 0 or (value == 0 and str(value).startswith("-"))):
        return ast.UnaryOp(op=ast.USub(), operand=ast.Constant(value=-value))
    return ast.Constant(value=value)


_ARITHMETIC = {
    ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b,
    ast.Div: lambda a, b: a / b,
}
_COMPARE = {
    ast.Eq: lambda a, b: a == b,
    ast.NotEq: lambda a, b: a != b,
    ast.Lt: lambda a, b: a < b,
    ast.LtE: lambda a, b: a <= b,
    ast.Gt: lambda a, b: a > b,
    ast.GtE: lambda a, b: a >= b,
}


class _Folder(ast.NodeTransformer):
    """Substitutes ``env``'s literals for names and folds bottom-up (module docstring)."""

    def __init__(self, env: Mapping[str, ast.AST]) -> None:
        self.env = env

    def visit_Name(self, node: ast.Name) -> ast.AST:
        if isinstance(node.ctx, ast.Load) and node.id in self.env:
            return copy.deepcopy(self.env[node.id])
        return node

    def visit_UnaryOp(self, node: ast.UnaryOp) -> ast.AST:
        node = self.generic_visit(node)
        v = _literal(node.operand)
        if isinstance(node.op, ast.USub) and v is not None and not isinstance(v, bool):
            return _const(-float(v))
        return node

    def visit_BinOp(self, node: ast.BinOp) -> ast.AST:
        node = self.generic_visit(node)
        a, b = _literal(node.left), _literal(node.right)
        op = type(node.op)
        if op in (ast.BitOr, ast.BitAnd):
            return self._logic(node, op, a, b)
        if op not in _ARITHMETIC:
            return node
        if a is not None and b is not None and not (op is ast.Div and b == 0):
            return _const(float(_ARITHMETIC[op](a, b)))
        left, right = node.left, node.right
        if op is ast.Mult:
            if _is(left, 1.0) and not _maybe_bool(right):
                return right
            if _is(right, 1.0) and not _maybe_bool(left):
                return left
            if _is(left, 0.0) or _is(right, 0.0):
                return ast.Constant(value=0.0)
        elif op is ast.Add:
            if _is(left, 0.0):
                return right
            if _is(right, 0.0):
                return left
        elif op is ast.Sub:
            if _is(right, 0.0):
                return left
        elif op is ast.Div and _is(right, 1.0):
            return left
        return node

    @staticmethod
    def _logic(node: ast.BinOp, op: type, a, b) -> ast.AST:
        for known, other in ((a, node.right), (b, node.left)):
            if isinstance(known, bool):
                if op is ast.BitOr:
                    return ast.Constant(value=True) if known else other
                return other if known else ast.Constant(value=False)
        return node

    def visit_Compare(self, node: ast.Compare) -> ast.AST:
        node = self.generic_visit(node)
        if len(node.ops) != 1 or type(node.ops[0]) not in _COMPARE:
            return node
        a, b = _literal(node.left), _literal(node.comparators[0])
        if a is None or b is None:
            return node
        return ast.Constant(value=bool(_COMPARE[type(node.ops[0])](a, b)))

    def visit_IfExp(self, node: ast.IfExp) -> ast.AST:
        node = self.generic_visit(node)
        test = _literal(node.test)
        if test is None:
            return node
        return node.body if test else node.orelse
