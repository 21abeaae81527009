"""The function registry: names -> factories with a parameter schema; spec resolution."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from optiscope.errors import OptiscopeError
from optiscope.objectives.base import Objective
from optiscope.specs import closest_names, parse_spec, to_bool, to_float


@dataclass(frozen=True)
class Param:
    """A parameter of a catalogue function (e.g. ``kappa`` of ``quadratic``).

    ``kind`` is ``"float"`` (the default: a finite number within ``low``/``high``), ``"bool"``
    (true/false), ``"choice"`` (one of ``choices``) or ``"text"`` (a name the factory itself
    checks, e.g. a data set's feature).
    """

    name: str
    default: float | bool | str
    meaning: str
    low: float | None = None  # inclusive lower bound, None = unbounded
    high: float | None = None  # inclusive upper bound
    low_open: bool = False  # True: value must be > low (not >=)
    kind: str = "float"
    choices: tuple[str, ...] = ()

    @property
    def default_text(self) -> str:
        """The default as a user would type it."""
        if self.kind == "bool":
            return "true" if self.default else "false"
        if self.kind in ("choice", "text"):
            return str(self.default)
        return f"{self.default:g}"

    def convert(self, text: str, function: str) -> float | bool | str:
        if self.kind == "bool":
            return to_bool(text, f"{function} parameter {self.name}")
        if self.kind == "text":
            return text.strip()
        if self.kind == "choice":
            if text.strip() not in self.choices:
                raise OptiscopeError(
                    f"invalid {function} parameter {self.name}={text}; "
                    f"valid: {', '.join(self.choices)}"
                )
            return text.strip()
        value = to_float(text, f"{function} parameter {self.name}")
        if self.low is not None and (value < self.low or (self.low_open and value == self.low)):
            op = ">" if self.low_open else ">="
            raise OptiscopeError(
                f"invalid {function} parameter {self.name}={text}: must be {op} {self.low:g}"
            )
        if self.high is not None and value > self.high:
            raise OptiscopeError(
                f"invalid {function} parameter {self.name}={text}: must be <= {self.high:g}"
            )
        return value


@dataclass(frozen=True)
class FunctionEntry:
    """One catalogue function: ``factory(**params) -> Objective``."""

    name: str
    summary: str
    formula: str
    factory: Callable[..., Objective]
    params: tuple[Param, ...] = ()


FUNCTIONS: dict[str, FunctionEntry] = {}


def register(
    name: str, summary: str, formula: str, params: tuple[Param, ...] = ()
) -> Callable[[Callable[..., Objective]], Callable[..., Objective]]:
    """Decorator adding a factory to the catalogue under ``name``."""

    def decorate(factory: Callable[..., Objective]) -> Callable[..., Objective]:
        FUNCTIONS[name] = FunctionEntry(name, summary, formula, factory, params)
        return factory

    return decorate


MAX_FUNCTION_LENGTH = 1000  # a formula longer than this is a mistake or an attack
_REGISTRY_SPEC = re.compile(r"^\s*[A-Za-z_][A-Za-z0-9_]*\s*(:.*)?$", re.S)


def get_objective(spec: str) -> Objective:
    """Resolve a registry spec or a typed-in expression into an Objective.

    A spec whose name is in the catalogue (optionally followed by ``:key=value,...``) is a
    catalogue function; anything else is parsed as a formula in ``w1``, ``w2`` by the
    whitelisting parser (never ``eval``).
    """
    _ensure_loaded()
    if not isinstance(spec, str):
        raise OptiscopeError(
            "function must be text: a catalogue name such as 'aniso' (see `optiscope "
            f"functions`) or a formula in w1, w2; got {type(spec).__name__}"
        )
    if not spec.strip():
        raise OptiscopeError(
            "empty function: give a catalogue name (see `optiscope functions`) "
            "or a formula in w1, w2"
        )
    if len(spec) > MAX_FUNCTION_LENGTH:
        raise OptiscopeError(
            f"function is too long ({len(spec)} characters, at most {MAX_FUNCTION_LENGTH})"
        )
    head = spec.split(":", 1)[0].strip()
    if head in FUNCTIONS and _REGISTRY_SPEC.match(spec):
        return _from_registry(spec)
    if ":" in spec and _REGISTRY_SPEC.match(spec):
        raise OptiscopeError(
            f"unknown function {head!r}{closest_names(head, list(FUNCTIONS))}; "
            f"valid: {', '.join(FUNCTIONS)}"
        )
    from optiscope.objectives.expression import objective_from_expression

    try:
        return objective_from_expression(spec)
    except OptiscopeError as err:
        if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", spec.strip()):
            raise OptiscopeError(
                f"unknown function {spec.strip()!r}{closest_names(spec.strip(), list(FUNCTIONS))}; "
                f"valid: {', '.join(FUNCTIONS)}, or a formula in w1, w2"
            ) from None
        raise err


def _from_registry(spec: str) -> Objective:
    name, options = parse_spec(spec, "function spec")
    entry = FUNCTIONS[name]
    known = {p.name: p for p in entry.params}
    values: dict[str, float | bool | str] = {}
    for key, text in options.items():
        if key not in known:
            valid = ", ".join(known) if known else "none"
            raise OptiscopeError(f"unknown parameter {key!r} for function {name!r}; valid: {valid}")
        values[key] = known[key].convert(text, name)
    return entry.factory(**values)


def _ensure_loaded() -> None:
    # Importing the catalogue registers its functions (kept lazy to avoid an import cycle).
    from optiscope.objectives import (
        catalogue,  # noqa: F401
        data,  # noqa: F401  (linreg, logreg on real data)
    )
