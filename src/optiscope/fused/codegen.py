"""Source for the fused loop: an objective's scalar f and gradient and an optimizer's kernel.

Everything compiled is printed as Python source into one module per (objective, optimizer
kernel), written to a cache folder and imported from there, so that Numba's ``cache=True``
keeps the machine code across processes (:func:`load_module`). Nothing is printed from user
text:

- catalogue functions: the source of the very functions the batched objective applies to
  columns (``Pointwise.value``/``grad``), read with ``inspect`` and re-printed from their
  syntax tree; globals and closure constants become module constants (exact ``repr``),
  optiscope helpers they call are copied the same way, ``np.where(c, a, b)`` becomes
  ``a if c else b`` (the same value on scalars);
- typed formulas: one assignment per node of the formula's tape (built from the parsed
  Formula tree), operation for operation as :mod:`optiscope.objectives.tape` evaluates it;
- optimizer kernels: the kernel's source, with each ``h ** t`` (a hyperparameter to the power
  of the step count, Adam's bias corrections) taken out as an argument: the loop computes it
  once per row and step instead of once per coordinate (the same ``pow``, the same bits).
"""

from __future__ import annotations

import ast
import hashlib
import importlib.util
import inspect
import math
import os
import sys
import textwrap
import threading
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from optiscope.objectives.base import Objective

CACHE_ENV = "OPTISCOPE_CACHE_DIR"
_MODULES: dict[str, types.ModuleType] = {}  # hash -> imported module (this process)


class Unprintable(Exception):
    """A function whose source cannot be printed for Numba (the caller falls back to NumPy)."""


# --- copying Python functions ----------------------------------------------------------------
class SourceCollector:
    """Prints functions (and the optiscope helpers and constants they use) as module source.

    Each collected function gets a fresh name (``_f<k>_<name>``); constants become module
    globals (``_c<k>_<name> = repr``), which Numba freezes at compile time.
    """

    def __init__(self) -> None:
        self.chunks: list[str] = []
        self.names: dict[int, str] = {}
        self.constants: dict[tuple[str, str], str] = {}

    def function(self, fn: Any) -> str:
        """The module-level name under which ``fn`` is printed (printing it once)."""
        if id(fn) in self.names:
            return self.names[id(fn)]
        name = f"_f{len(self.names)}_{fn.__name__}"
        self.names[id(fn)] = name
        try:
            tree = ast.parse(textwrap.dedent(inspect.getsource(fn)))
        except (OSError, TypeError, SyntaxError) as err:
            raise Unprintable(f"no source for {fn.__qualname__}") from err
        node = tree.body[0]
        if not isinstance(node, ast.FunctionDef):
            raise Unprintable(f"{fn.__qualname__} is not a plain function")
        node.decorator_list = []
        node.name = name
        node.returns = None
        for arg in node.args.args:
            arg.annotation = None
        _Rewriter(self, fn, _local_names(node)).visit(node)
        ast.fix_missing_locations(node)
        self.chunks.append(ast.unparse(node))
        return name

    def constant(self, owner: str, name: str, value: Any) -> str:
        key = (owner, name)
        if key not in self.constants:
            self.constants[key] = f"_c{len(self.constants)}_{name}"
            self.chunks.insert(0, f"{self.constants[key]} = {_literal(value)}")
        return self.constants[key]

    def source(self) -> str:
        return "\n\n\n".join(self.chunks)


def _literal(value: Any) -> str:
    """Python source that reads back as exactly ``value`` (floats, ints, bools, their tuples)."""
    if isinstance(value, bool | np.bool_):
        return repr(bool(value))
    if isinstance(value, int | np.integer):
        return repr(int(value))
    if isinstance(value, float | np.floating):
        v = float(value)
        if math.isnan(v):
            return "math.nan"
        if math.isinf(v):
            return "math.inf" if v > 0 else "-math.inf"
        return repr(v)
    if isinstance(value, tuple) and value:
        return "(" + ", ".join(_literal(v) for v in value) + ",)"
    raise Unprintable(f"constant of type {type(value).__name__}")


def _local_names(node: ast.FunctionDef) -> set[str]:
    names = {a.arg for a in node.args.args}
    for sub in ast.walk(node):
        if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Store):
            names.add(sub.id)
    return names


_NUMERIC_MODULES = {"numpy": "np", "math": "math"}


class _Rewriter(ast.NodeTransformer):
    """Resolves the free names of one function's tree (see :class:`SourceCollector`)."""

    def __init__(self, collector: SourceCollector, fn: Any, local: set[str]) -> None:
        self.collector, self.fn, self.local = collector, fn, local
        closure = fn.__closure__ or ()
        cells = (c.cell_contents for c in closure)
        self.cells = dict(zip(fn.__code__.co_freevars, cells, strict=True))

    def lookup(self, name: str) -> tuple[bool, Any]:
        if name in self.cells:
            return True, self.cells[name]
        if name in self.fn.__globals__:
            return True, self.fn.__globals__[name]
        return False, None

    def visit_Name(self, node: ast.Name) -> ast.AST:
        if not isinstance(node.ctx, ast.Load) or node.id in self.local:
            return node
        found, value = self.lookup(node.id)
        if not found:
            return node  # a builtin (enumerate, abs, ...)
        return ast.Name(id=self.resolve(node.id, value), ctx=ast.Load())

    def resolve(self, name: str, value: Any) -> str:
        if isinstance(value, types.ModuleType):
            if value.__name__ in _NUMERIC_MODULES:
                return _NUMERIC_MODULES[value.__name__]
            raise Unprintable(f"module {value.__name__} used as a value")
        if inspect.isfunction(value) and value.__module__.startswith("optiscope."):
            return self.collector.function(value)
        return self.collector.constant(f"{self.fn.__module__}.{self.fn.__qualname__}", name, value)

    def visit_Attribute(self, node: ast.Attribute) -> ast.AST:
        base = node.value
        if isinstance(base, ast.Name) and base.id not in self.local:
            module = self.lookup(base.id)[1]
            if isinstance(module, types.ModuleType) and module.__name__.startswith("optiscope."):
                target = getattr(module, node.attr)
                return ast.Name(id=self.resolve(node.attr, target), ctx=ast.Load())
        return self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> ast.AST:
        func = node.func
        if (
            isinstance(func, ast.Attribute)
            and func.attr == "where"
            and isinstance(func.value, ast.Name)
            and self.lookup(func.value.id)[1] is np
            and len(node.args) == 3
        ):
            cond, a, b = (self.visit(arg) for arg in node.args)
            return ast.IfExp(test=cond, body=a, orelse=b)  # np.where on scalars
        return self.generic_visit(node)


# --- objectives -------------------------------------------------------------------------------
def objective_source(objective: Objective, collector: SourceCollector) -> str:
    """Source of ``objective_fg(w1, w2) -> (f, f_1, f_2)`` (plus what it needs) for Numba."""
    pw = objective.pointwise
    if pw is None or objective.dim != 2:
        raise Unprintable("no pointwise form")
    if pw.tape is not None:
        return _tape_source(pw.tape, pw.outputs)
    value = collector.function(pw.value)
    grad = collector.function(pw.grad)
    return (
        "def objective_fg(w1, w2):\n"
        f"    f = {value}(w1, w2)\n"
        f"    g1, g2 = {grad}(w1, w2)\n"
        "    return float(f), float(g1), float(g2)\n"
    )


_TAPE_FUNCTIONS = ("sin", "cos", "tan", "exp", "log", "sqrt", "abs", "sign", "tanh", "sinh", "cosh")


def _tape_source(tape: Any, outputs: tuple[int, ...]) -> str:
    """One statement per tape node the outputs need (see :mod:`optiscope.objectives.tape`)."""
    f, g1, g2 = outputs
    lines = ["def objective_fg(w1, w2):"]
    for slot in tape._reachable(list(outputs)):
        lines.append(f"    t{slot} = {_tape_expression(tape.nodes[slot])}")
    # the gradient is undefined where the value is (Objective.grad's NaN mask)
    lines.append(f"    if t{f} != t{f}:")
    lines.append(f"        return t{f}, math.nan, math.nan")
    lines.append(f"    return t{f}, t{g1}, t{g2}")
    return "\n".join(lines) + "\n"


def _tape_expression(node: tuple) -> str:
    kind = node[0]
    if kind == "var":
        return ("w1", "w2")[node[1]]
    if kind == "const":
        return f"float({_literal(float(node[1]))})"
    if kind in ("add", "mul", "div"):
        op = {"add": "+", "mul": "*", "div": "/"}[kind]
        return f"t{node[1]} {op} t{node[2]}"
    if kind == "powc":
        a, c = f"t{node[1]}", float(node[2])
        if c == 2.0:
            return f"{a} * {a}"
        if c == -1.0:
            return f"1.0 / {a}"
        if c == 0.0:
            return f"math.nan if {a} != {a} else 1.0"
        return f"np.power({a}, {_literal(c)})"
    if kind == "pow":
        a, b = f"t{node[1]}", f"t{node[2]}"
        return f"math.nan if ({a} != {a} or {b} != {b}) else np.power({a}, {b})"
    name = node[1]
    if name not in _TAPE_FUNCTIONS:
        raise Unprintable(f"tape function {name}")
    return f"np.{name}(t{node[2]})"


# --- optimizer kernels ------------------------------------------------------------------------
#: kernel argument -> the hyperparameter or state field it is, where the names differ
ALIASES = {"seed_form": "momentum_form", "state_sum": "sum"}


@dataclass(frozen=True)
class KernelPlan:
    """How the loop calls one optimizer's kernel (read from its signature and state).

    ``state``: the state fields passed after ``w, g`` and returned after ``w``, in order;
    ``args``: every argument after the state, each ``("t",)`` (the new step count),
    ``("hp", index)`` (a column of the stacked hyperparameters), ``("const", value)`` (an
    attribute of the optimizer, e.g. AdamW's ``decoupled``) or ``("pow", base_arg)`` (a hoisted
    ``base ** t``).
    """

    kernel: Any
    state: tuple[str, ...]
    args: tuple[tuple, ...]
    names: tuple[str, ...]


def kernel_plan(optimizer: Any, state_fields: tuple[str, ...], hp_names: list[str]) -> KernelPlan:
    """The :class:`KernelPlan` of ``optimizer.kernel`` (Unprintable when a name is unknown)."""
    kernel = optimizer.kernel
    params = list(inspect.signature(kernel).parameters)
    if params[:2] != ["w", "g"]:
        raise Unprintable(f"{kernel.__name__} does not start with (w, g)")
    state, args, names = [], [], []
    for name in params[2:]:
        known = ALIASES.get(name, name)
        if known in state_fields and not args:
            state.append(known)
        elif name == "t":
            args.append(("t",))
            names.append(name)
        elif known in hp_names:
            args.append(("hp", hp_names.index(known)))
            names.append(name)
        elif isinstance(getattr(optimizer, name, None), int | float):
            args.append(("const", float(getattr(optimizer, name))))
            names.append(name)
        else:
            raise Unprintable(f"{kernel.__name__} argument {name}")
    return KernelPlan(kernel, tuple(state), tuple(args), tuple(names))


def kernel_source(plan: KernelPlan, collector: SourceCollector) -> tuple[str, tuple[str, ...]]:
    """Print the kernel with every ``h ** t`` hoisted into a new trailing argument.

    Returns the kernel's printed name and the hyperparameter names whose power is hoisted
    (argument ``<h>_pow_t``, in that order).
    """
    name = collector.function(plan.kernel)
    index = next(i for i, chunk in enumerate(collector.chunks) if f"def {name}(" in chunk)
    tree = ast.parse(collector.chunks[index])
    hoister = _PowHoister(set(plan.names) - {"t"})
    hoister.visit(tree)
    func = tree.body[0]
    for base in hoister.found:
        func.args.args.append(ast.arg(arg=f"{base}_pow_t"))
    ast.fix_missing_locations(tree)
    collector.chunks[index] = ast.unparse(tree)
    return name, tuple(hoister.found)


class _PowHoister(ast.NodeTransformer):
    def __init__(self, hyper: set[str]) -> None:
        self.hyper, self.found = hyper, []

    def visit_BinOp(self, node: ast.BinOp) -> ast.AST:
        node = self.generic_visit(node)
        if (
            isinstance(node.op, ast.Pow)
            and isinstance(node.left, ast.Name)
            and node.left.id in self.hyper
            and isinstance(node.right, ast.Name)
            and node.right.id == "t"
        ):
            if node.left.id not in self.found:
                self.found.append(node.left.id)
            return ast.Name(id=f"{node.left.id}_pow_t", ctx=ast.Load())
        return node


# --- the module on disk -----------------------------------------------------------------------
def cache_dir() -> Path:
    """Where generated modules live: ``$OPTISCOPE_CACHE_DIR/fused`` (default
    ``~/.cache/optiscope/fused``); Numba's cache sits beside them in ``__pycache__``."""
    base = os.environ.get(CACHE_ENV) or os.path.join(Path.home(), ".cache", "optiscope")
    return Path(base) / "fused"


def load_module(source: str) -> types.ModuleType:
    """Import ``source`` from ``<cache_dir>/optiscope_fused_<hash>.py`` (written once, atomically)."""
    key = hashlib.sha256(source.encode()).hexdigest()[:24]
    with _LOADING:  # a server's threads may ask for the same module at once
        if key in _MODULES:
            return _MODULES[key]
        name = f"optiscope_fused_{key}"
        folder = cache_dir()
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{name}.py"
        if not path.exists() or path.read_text() != source:
            # unique per process and thread: other processes may write the same file
            tmp = folder / f".{name}.{os.getpid()}.{threading.get_ident()}.tmp"
            tmp.write_text(source)
            os.replace(tmp, path)
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
        _MODULES[key] = module
        return module


_LOADING = threading.Lock()
