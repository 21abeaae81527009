"""Parsing of ``NAME`` / ``NAME:key=value,key=value`` specs (optimizers, registry functions).

Values stay strings here; each consumer converts them against its own schema so that the
error message can name the hyperparameter and its valid range.
"""

from __future__ import annotations

import math
import re

from optiscope.errors import OptiscopeError

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")  # ASCII only, matched whole (fullmatch)
# A plain ASCII decimal number: float() alone would also read "１" (fullwidth), Arabic-Indic
# digits, "1_000" and "nan", which a user did not mean as these numbers.
_NUMBER = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?")
MAX_SPEC_LENGTH = 2000


def parse_spec(spec: str, what: str = "spec") -> tuple[str, dict[str, str]]:
    """Split ``"name:k1=v1,k2=v2"`` into ``("name", {"k1": "v1", "k2": "v2"})``.

    Raises OptiscopeError for an empty name, a missing ``=``, an empty key or a repeated key.
    """
    if not isinstance(spec, str):
        raise OptiscopeError(
            f"{what} must be text such as 'momentum:lr=0.1,momentum=0.9', got {type(spec).__name__}"
        )
    if len(spec) > MAX_SPEC_LENGTH:
        raise OptiscopeError(
            f"{what} is too long ({len(spec)} characters, at most {MAX_SPEC_LENGTH})"
        )
    name, sep, rest = spec.strip().partition(":")
    name = name.strip()
    if not _NAME.fullmatch(name):
        raise OptiscopeError(f"invalid {what} {spec!r}: expected NAME or NAME:key=value,key=value")
    options: dict[str, str] = {}
    if sep and not rest.strip():
        raise OptiscopeError(f"invalid {what} {spec!r}: nothing after ':' (expected key=value,...)")
    if sep:
        for item in rest.split(","):
            key, eq, value = item.partition("=")
            key, value = key.strip(), value.strip()
            if not eq or not _NAME.fullmatch(key) or not value:
                raise OptiscopeError(
                    f"invalid {what} {spec!r}: {item.strip()!r} is not of the form key=value"
                )
            if key in options:
                raise OptiscopeError(f"invalid {what} {spec!r}: {key!r} given twice")
            options[key] = value
    return name, options


_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


def to_float(text: str, name: str) -> float:
    """Convert ``text`` (a plain ASCII decimal number) to a finite float, or raise an
    OptiscopeError naming ``name``."""
    if isinstance(text, str) and text.strip().lower().lstrip("+-") in ("inf", "infinity", "nan"):
        raise OptiscopeError(f"invalid value for {name}: {text!r} (must be a finite number)")
    if not isinstance(text, str) or not _NUMBER.fullmatch(text.strip()):
        raise OptiscopeError(
            f"invalid value for {name}: {text!r} is not a number (write digits, '.', "
            "and an exponent such as 1e-3, in ASCII)"
        )
    value = float(text)
    if not math.isfinite(value):
        raise OptiscopeError(f"invalid value for {name}: {text!r} (must be a finite number)")
    return value


def to_bool(text: str, name: str) -> bool:
    """Convert ``true/false/1/0/yes/no/on/off`` to a bool, or raise an OptiscopeError."""
    low = text.strip().lower()
    if low in _TRUE:
        return True
    if low in _FALSE:
        return False
    raise OptiscopeError(f"invalid value for {name}: {text!r} (use true or false)")


def parse_point(text: str, dim: int, what: str = "start") -> tuple[float, ...]:
    """Parse ``"w1,w2"`` into a tuple of ``dim`` finite floats."""
    parts = [p.strip() for p in text.split(",")]
    if len(parts) != dim or any(not p for p in parts):
        raise OptiscopeError(
            f"invalid {what} {text!r}: expected {dim} comma-separated numbers (e.g. "
            + ",".join(["1.0"] * dim)
            + ")"
        )
    return tuple(to_float(p, what) for p in parts)


def closest_names(name: str, choices: list[str]) -> str:
    """Return ``"; did you mean X?"`` when a close match exists, else ``""``."""
    import difflib

    match = difflib.get_close_matches(name, choices, n=1)
    return f"; did you mean {match[0]!r}?" if match else ""
