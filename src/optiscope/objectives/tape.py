"""A NumPy "tape" for typed-in formulas: the formula's own operations, with exact derivatives.

No ``exec``, ``eval``, ``sympy.lambdify`` or symbolic algebra: the caller pushes operations
(``add``, ``mul``, ``div``, ``powc``, ``pow``, ``fn``) one by one; the tape keeps them as a list
of nodes (a DAG in topological order, identical sub-expressions shared). Evaluation runs that
list with NumPy on a batch ``x`` of shape ``[B, D]``; every output has shape ``[B]``.

Two kinds of construction, for two purposes:

* **Faithful** (the public operations): a node computes exactly the floating-point operation
  that was asked for. Nothing is simplified except operations whose operands are all constants
  (folded with the same NumPy arithmetic that evaluation uses) and ``a ** 1``. In particular
  ``0 * a``, ``a / a`` and ``a ** 0`` are kept, so the value is NaN wherever a sub-expression
  is undefined (``0 * log(w1)`` at ``w1 = -1``). ``a ** 0`` and ``a ** b`` are NaN when an
  operand is NaN (NumPy's ``power`` would give 1, hiding an undefined sub-expression).
* **Derivative** (:meth:`Tape.derivative`): the chain rule applied node by node
  (forward-mode symbolic differentiation), linear in the size of the tape. Here the algebra of
  derivatives may fold ``0 * a -> 0`` and ``1 * a -> a`` (the partial derivative of ``w2`` with
  respect to ``w1`` is exactly 0). A derivative may therefore be finite where the function is
  undefined: the caller masks derivatives with the value's NaN (see
  :func:`optiscope.objectives.expression.objective_from_expression`).

Conventions: ``d|a|/da = sign(a)`` (0 at the kink) and ``d sign(a)/da = 0``. Evaluation happens
under ``np.errstate(all="ignore")``: NaN or inf is a result (the engine treats it as divergence).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

# ("var", k) | ("const", c) | ("add"|"mul"|"div"|"pow", i, j) | ("powc", i, c) | ("fn", name, i)
Node = tuple

FUNCTIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "sin": np.sin,
    "cos": np.cos,
    "tan": np.tan,
    "exp": np.exp,
    "log": np.log,
    "sqrt": np.sqrt,
    "abs": np.abs,
    "sign": np.sign,
    "tanh": np.tanh,
    "sinh": np.sinh,
    "cosh": np.cosh,
}
_COMMUTATIVE = ("add", "mul")
_BINARY = ("add", "mul", "div", "pow")


class Tape:
    """A DAG of scalar operations over ``D`` input coordinates (see the module docstring)."""

    def __init__(self, dim: int) -> None:
        self.dim = dim
        self.nodes: list[Node] = []
        self._index: dict[Node, int] = {}
        self._derivs: dict[tuple[int, int], int] = {}

    def __len__(self) -> int:
        return len(self.nodes)

    # -- faithful construction (each returns the slot of the node) ----------------------------
    def const(self, c: float) -> int:
        return self._push(("const", float(c)))

    def var(self, k: int) -> int:
        return self._push(("var", k))

    def add(self, a: int, b: int) -> int:
        return self._binary("add", a, b)

    def mul(self, a: int, b: int) -> int:
        return self._binary("mul", a, b)

    def div(self, a: int, b: int) -> int:
        return self._binary("div", a, b)

    def pow(self, a: int, b: int) -> int:
        """``a ** b``; a constant ``b`` becomes :meth:`powc`."""
        vb = self.value_of(b)
        if vb is not None:
            return self.powc(a, vb)
        return self._binary("pow", a, b)

    def powc(self, a: int, c: float) -> int:
        """``a ** c`` for a constant ``c`` (``a ** 1`` is ``a``: equal for every float)."""
        if c == 1.0:
            return a
        return self._fold_or_push(("powc", a, float(c)), [a])

    def fn(self, name: str, a: int) -> int:
        return self._fold_or_push(("fn", name, a), [a])

    def value_of(self, slot: int) -> float | None:
        """The number a constant node holds; None for a node that depends on ``x``."""
        node = self.nodes[slot]
        return node[1] if node[0] == "const" else None

    def _binary(self, kind: str, a: int, b: int) -> int:
        if kind in _COMMUTATIVE:
            a, b = sorted((a, b))  # a + b == b + a exactly in floating point
        return self._fold_or_push((kind, a, b), [a, b])

    def _fold_or_push(self, node: Node, operands: list[int]) -> int:
        """Push ``node``, or fold it into a constant when every operand is a constant."""
        values = [self.value_of(s) for s in operands]
        if all(v is not None for v in values):
            known = dict(zip(operands, values, strict=True))
            with np.errstate(all="ignore"):
                return self.const(float(_run(node, known, np.zeros((1, self.dim)))))
        return self._push(node)

    def _push(self, node: Node) -> int:
        slot = self._index.get(node)
        if slot is None:
            slot = self._index[node] = len(self.nodes)
            self.nodes.append(node)
        return slot

    # -- derivative algebra: folds 0 and 1 (see the module docstring) -------------------------
    def _is(self, slot: int, c: float) -> bool:
        return self.value_of(slot) == c

    def _dadd(self, a: int, b: int) -> int:
        return b if self._is(a, 0.0) else a if self._is(b, 0.0) else self.add(a, b)

    def _dmul(self, a: int, b: int) -> int:
        if self._is(a, 0.0) or self._is(b, 0.0):
            return self.const(0.0)
        return b if self._is(a, 1.0) else a if self._is(b, 1.0) else self.mul(a, b)

    def _ddiv(self, a: int, b: int) -> int:
        if self._is(a, 0.0):
            return self.const(0.0)
        return a if self._is(b, 1.0) else self.div(a, b)

    def _dpowc(self, a: int, c: float) -> int:
        return self.const(1.0) if c == 0.0 else self.powc(a, c)

    # -- differentiation ----------------------------------------------------------------------
    def _reachable(self, targets: Sequence[int]) -> list[int]:
        """Slots that ``targets`` depend on, in topological (ascending) order."""
        seen: set[int] = set()
        stack = list(targets)
        while stack:
            slot = stack.pop()
            if slot in seen:
                continue
            seen.add(slot)
            stack += _operands(self.nodes[slot])
        return sorted(seen)

    def derivative(self, slot: int, k: int) -> int:
        """Slot of d(node)/d(x_k), built by the chain rule over the nodes it depends on."""
        for s in self._reachable([slot]):
            if (s, k) not in self._derivs:
                self._derivs[s, k] = self._derive(s, k)
        return self._derivs[slot, k]

    def _derive(self, slot: int, k: int) -> int:
        node, d = self.nodes[slot], self._derivs
        kind = node[0]
        if kind == "var":
            return self.const(1.0 if node[1] == k else 0.0)
        if kind == "const":
            return self.const(0.0)
        if kind == "add":
            return self._dadd(d[node[1], k], d[node[2], k])
        if kind == "mul":
            a, b = node[1], node[2]
            return self._dadd(self._dmul(d[a, k], b), self._dmul(a, d[b, k]))
        if kind == "div":  # (a/b)' = (a' - (a/b) b') / b
            a, b = node[1], node[2]
            minus = self._dmul(self.const(-1.0), self._dmul(slot, d[b, k]))
            return self._ddiv(self._dadd(d[a, k], minus), b)
        if kind == "powc":  # (a^c)' = c a^(c-1) a'
            a, c = node[1], node[2]
            if c == 0.0:
                return self.const(0.0)
            return self._dmul(self._dmul(self.const(c), self._dpowc(a, c - 1.0)), d[a, k])
        if kind == "pow":  # (a^b)' = b a^(b-1) a' + a^b log(a) b'
            a, b = node[1], node[2]
            da, db = d[a, k], d[b, k]
            term = self.const(0.0)
            if not self._is(da, 0.0):
                shifted = self.pow(a, self.add(b, self.const(-1.0)))
                term = self._dmul(self._dmul(b, shifted), da)
            if self._is(db, 0.0):
                return term
            return self._dadd(term, self._dmul(self._dmul(slot, self.fn("log", a)), db))
        name, a = node[1], node[2]
        return self._dmul(self._outer_derivative(name, slot, a), d[a, k])

    def _outer_derivative(self, name: str, slot: int, a: int) -> int:
        """f'(a) for the function node ``slot = f(a)``."""
        one, minus_one = self.const(1.0), self.const(-1.0)
        rules = {
            "sin": lambda: self.fn("cos", a),
            "cos": lambda: self._dmul(minus_one, self.fn("sin", a)),
            "tan": lambda: self._dadd(one, self._dmul(slot, slot)),
            "exp": lambda: slot,
            "log": lambda: self._ddiv(one, a),
            "sqrt": lambda: self._ddiv(self.const(0.5), slot),
            "abs": lambda: self.fn("sign", a),
            "sign": lambda: self.const(0.0),
            "tanh": lambda: self._dadd(one, self._dmul(minus_one, self._dmul(slot, slot))),
            "sinh": lambda: self.fn("cosh", a),
            "cosh": lambda: self.fn("sinh", a),
        }
        return rules[name]()

    # -- evaluation ---------------------------------------------------------------------------
    def evaluator(self, outputs: Sequence[int]) -> Callable[[np.ndarray], list[np.ndarray]]:
        """A function ``x [B, D] -> [out_1 [B], ...]`` that runs only the nodes it needs."""
        program = [(slot, self.nodes[slot]) for slot in self._reachable(outputs)]
        outputs = list(outputs)

        def evaluate(x: np.ndarray) -> list[np.ndarray]:
            values: dict[int, np.ndarray | float] = {}
            with np.errstate(all="ignore"):
                for slot, node in program:
                    values[slot] = _run(node, values, x)
            batch = (x.shape[0],)
            return [np.array(np.broadcast_to(values[o], batch), dtype=np.float64) for o in outputs]

        return evaluate


def _operands(node: Node) -> list[int]:
    if node[0] in _BINARY:
        return [node[1], node[2]]
    if node[0] == "powc":
        return [node[1]]
    if node[0] == "fn":
        return [node[2]]
    return []


def _run(node: Node, v: dict[int, np.ndarray | float], x: np.ndarray) -> np.ndarray | float:
    kind = node[0]
    if kind == "var":
        return x[:, node[1]]
    if kind == "const":
        return node[1]
    if kind == "add":
        return v[node[1]] + v[node[2]]
    if kind == "mul":
        return v[node[1]] * v[node[2]]
    if kind == "div":
        return np.divide(v[node[1]], v[node[2]])
    if kind == "powc":
        return _power_constant(v[node[1]], node[2])
    if kind == "pow":
        a, b = v[node[1]], v[node[2]]
        # NumPy gives 1 ** nan = nan ** 0 = 1: an undefined operand must stay undefined.
        return np.where(np.isnan(a) | np.isnan(b), np.nan, np.power(a, b))
    return FUNCTIONS[node[1]](v[node[2]])


def _power_constant(a: np.ndarray | float, c: float) -> np.ndarray | float:
    if c == 2.0:
        return a * a
    if c == -1.0:
        return np.divide(1.0, a)
    if c == 0.0:
        return np.where(np.isnan(a), np.nan, 1.0)
    return np.power(a, c)
