"""Sweep specs: ranges of hyperparameters and of start points, as grids or as samples.

A sweep spec is an optimizer spec whose values may be ranges::

    momentum:lr=0.001..1@log200,momentum=0..0.999@200,dampening=0

Each value is one of

- ``lo..hi@N``: N evenly spaced points from lo to hi, both included (``numpy.linspace``);
- ``lo..hi@logN``: N log-spaced points from lo to hi (``numpy.geomspace``; needs 0 < lo);
- ``a|b|c``: a list of values: numbers, booleans (``nesterov=false|true``) or choices
  (``momentum_form=torch|seed``, ``schedule=constant|cosine``);
- a plain value, fixed for every setting.

Rules: ``lo < hi``, ``2 <= N <= MAX_POINTS``, list items non-empty and distinct; every value
of a range must lie in the hyperparameter's valid interval (the message names both); a
range on an integer hyperparameter keeps the distinct rounded points; booleans and choices
take lists only. Start points sweep the same way, one range per coordinate
(``--starts -4..4@50,-4..4@50``; a plain number fixes that coordinate).

A **grid** is the Cartesian product of the swept values, the last axis varying fastest.
**Samples** (``method="random"`` or ``"sobol"``) draw K points in the box of the swept
ranges instead: uniform in ``[lo, hi]`` for a linear range, uniform in ``[log lo, log hi]``
for a log range, one of the items with equal probability for a list; ``random`` uses
NumPy's PCG64 seeded by ``seed``, ``sobol`` a scrambled Sobol' sequence
(``scipy.stats.qmc.Sobol``) seeded by ``seed``. The same seed gives the same settings.
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from optiscope import schedules
from optiscope.errors import OptiscopeError
from optiscope.optimizers import get_optimizer
from optiscope.optimizers.base import HyperParam, Optimizer
from optiscope.specs import parse_spec, to_float

MAX_POINTS = 1_000_000  # points of one range: more is surely a typo (the sweep caps rows too)
METHODS = ("grid", "random", "sobol")
MAX_SAMPLES = 5_000_000

_COUNT = re.compile(r"(log)?([0-9]+)")


@dataclass(frozen=True)
class Axis:
    """One swept dimension: its name, its grid ``values`` and how it is sampled.

    ``kind`` is ``"linear"``, ``"log"`` or ``"list"``; ``low``/``high`` bound a linear or log
    range (samples are drawn in ``[low, high]``); ``hyperparam`` the schema entry that
    checks and types the values (None for a start coordinate).
    """

    name: str
    values: tuple[Any, ...]
    kind: str
    low: float = math.nan
    high: float = math.nan
    hyperparam: HyperParam | None = None
    text: str = ""

    @property
    def log(self) -> bool:
        return self.kind == "log"

    def describe(self, values: Any = None) -> dict[str, Any]:
        """``{"name", "values", "log"}``: what ``df.attrs["axes"]`` holds for this axis."""
        shown = self.values if values is None else values
        return {"name": self.name, "values": [_plain(v) for v in shown], "log": self.log}

    def from_unit(self, u: np.ndarray) -> list[Any]:
        """Map uniforms ``u`` in [0, 1) onto this axis (the sampling rule of the module notes)."""
        if self.kind == "list":
            index = np.minimum((u * len(self.values)).astype(np.int64), len(self.values) - 1)
            return [self.values[i] for i in index]
        if self.kind == "log":
            lo, hi = math.log(self.low), math.log(self.high)
            points = np.exp(lo + u * (hi - lo))
        else:
            points = self.low + u * (self.high - self.low)
        points = np.clip(points, self.low, self.high)  # exp/rounding may step just outside
        if self.hyperparam is not None and self.hyperparam.kind == "int":
            return [int(v) for v in np.round(points)]
        return [float(v) for v in points]


@dataclass(frozen=True)
class SweepSpec:
    """A parsed sweep spec: the optimizer, its fixed values and its swept axes (spec order)."""

    text: str
    optimizer: Optimizer
    fixed: dict[str, Any]
    axes: tuple[Axis, ...]


def _plain(v: Any) -> Any:
    return v.item() if isinstance(v, np.generic) else v


def is_range(text: str) -> bool:
    """Whether a spec value sweeps (``..`` or ``|``) rather than fixes."""
    return ".." in text or "|" in text


def parse_range(text: str, name: str, hyperparam: HyperParam | None = None) -> Axis:
    """Parse one range value (``lo..hi@N``, ``lo..hi@logN`` or ``a|b|c``) into an Axis.

    ``hyperparam`` (None for a start coordinate: any finite number) converts and checks the
    values; OptiscopeError (one line naming ``name``) for any malformed or invalid range.
    """
    text = text.strip()
    if "|" in text:
        return _parse_list(text, name, hyperparam)
    return _parse_span(text, name, hyperparam)


def _parse_span(text: str, name: str, hyperparam: HyperParam | None) -> Axis:
    """``lo..hi@N`` / ``lo..hi@logN``."""
    shape = f"write lo..hi@N or lo..hi@logN, e.g. {name}=0.001..1@log50"
    if hyperparam is not None and hyperparam.kind in ("bool", "choice"):
        raise OptiscopeError(
            f"invalid range for {name}: {text!r}: {name} takes a list such as "
            f"{'|'.join(_list_example(hyperparam))}, not lo..hi"
        )
    bounds, at, count = text.partition("@")
    if not at or not count.strip():
        raise OptiscopeError(f"invalid range for {name}: {text!r} needs a count after '@'; {shape}")
    lo_text, dots, hi_text = bounds.partition("..")
    if not dots or not lo_text.strip() or not hi_text.strip():
        raise OptiscopeError(f"invalid range for {name}: {text!r} needs lo..hi; {shape}")
    lo = _number(lo_text, name, text)
    hi = _number(hi_text, name, text)
    match = _COUNT.fullmatch(count.strip())
    if match is None:
        raise OptiscopeError(
            f"invalid range for {name}: {text!r}: the count {count.strip()!r} is not N or logN; "
            f"{shape}"
        )
    log, n = bool(match.group(1)), int(match.group(2))
    if not 2 <= n <= MAX_POINTS:
        raise OptiscopeError(
            f"invalid range for {name}: {text!r}: {n} points (valid: 2 to {MAX_POINTS:,}; "
            "a single value is written plainly)"
        )
    if not lo < hi:
        raise OptiscopeError(f"invalid range for {name}: {text!r}: lo must be below hi")
    if log and lo <= 0:
        raise OptiscopeError(
            f"invalid range for {name}: {text!r}: a log range needs 0 < lo (got lo = {lo:g})"
        )
    points = np.geomspace(lo, hi, n) if log else np.linspace(lo, hi, n)
    points[0], points[-1] = lo, hi  # exactly the typed ends
    integer = hyperparam is not None and hyperparam.kind == "int"
    if integer:
        points = np.round(points)
    _check_values(points, name, text, hyperparam)
    if integer:
        values: tuple[Any, ...] = tuple(int(v) for v in dict.fromkeys(points))
    else:
        values = tuple(float(v) for v in points)
    kind = "log" if log else "linear"
    return Axis(name, values, kind, lo, hi, hyperparam, text)


def _parse_list(text: str, name: str, hyperparam: HyperParam | None) -> Axis:
    """``a|b|c``: each item converted (and checked) as a plain value would be."""
    items = [item.strip() for item in text.split("|")]
    if any(not item for item in items):
        raise OptiscopeError(
            f"invalid list for {name}: {text!r} has an empty item (write a|b|c, e.g. "
            f"{'|'.join(_list_example(hyperparam))})"
        )
    if hyperparam is None:
        values: list[Any] = [_number(item, name, text) for item in items]
    else:
        values = []
        for item in items:
            try:
                values.append(hyperparam.convert(item))
            except OptiscopeError as err:
                raise OptiscopeError(f"invalid list for {name}: {text!r}: {err}") from None
    if len(set(values)) != len(values):
        raise OptiscopeError(f"invalid list for {name}: {text!r} repeats a value")
    if len(values) > MAX_POINTS:
        raise OptiscopeError(f"invalid list for {name}: more than {MAX_POINTS:,} items")
    return Axis(name, tuple(values), "list", hyperparam=hyperparam, text=text)


def _list_example(hyperparam: HyperParam | None) -> tuple[str, ...]:
    if hyperparam is not None and hyperparam.kind == "bool":
        return ("false", "true")
    if hyperparam is not None and hyperparam.kind == "choice":
        return hyperparam.choices
    return ("0.1", "0.5", "0.9")


def _number(text: str, name: str, whole: str) -> float:
    try:
        return to_float(text.strip(), name)
    except OptiscopeError as err:
        raise OptiscopeError(f"invalid range for {name}: {whole!r}: {err}") from None


def _check_values(points: np.ndarray, name: str, text: str, hyperparam: HyperParam | None) -> None:
    """Refuse a range with a point outside the hyperparameter's valid interval (or non-finite
    points from a huge log span)."""
    if not np.isfinite(points).all():
        raise OptiscopeError(f"invalid range for {name}: {text!r}: its points overflow float64")
    if hyperparam is None:
        return
    try:
        hyperparam.check(points)
    except OptiscopeError:
        bad = _first_outside(points, hyperparam)
        raise OptiscopeError(
            f"invalid range for {name}: {text!r} reaches {bad:g}, outside the valid interval "
            f"{hyperparam.describe_range()}"
        ) from None


def _first_outside(points: np.ndarray, hyperparam: HyperParam) -> float:
    for v in points:
        try:
            hyperparam.check(np.array([v]))
        except OptiscopeError:
            return float(v)
    return float(points[0])  # unreachable: check() failed on some point


# --- the sweep spec -------------------------------------------------------------------------


def parse_sweep_spec(spec: str) -> SweepSpec:
    """Parse ``"OPT:key=RANGE,..."``: the optimizer, the fixed values (as typed, parsed later
    by the optimizer) and the swept axes in spec order; OptiscopeError for a bad key or range."""
    name, options = parse_spec(spec, "sweep spec")
    optimizer, _ = get_optimizer(name)
    schema = {h.name: h for h in (*optimizer.hyperparams, *optimizer.options)}
    schema |= schedules.PARAMS
    fixed: dict[str, Any] = {}
    axes: list[Axis] = []
    for key, value in options.items():
        if key not in schema:
            valid = ", ".join(h.name for h in (*optimizer.hyperparams, *optimizer.options))
            raise OptiscopeError(
                f"unknown hyperparameter {key!r} for {optimizer.name}; valid: {valid}; "
                f"schedule keys: {', '.join(schedules.KEYS)}"
            )
        if is_range(value):
            axes.append(parse_range(value, key, schema[key]))
        else:
            fixed[key] = value
    # one whole setting (the fixed values, every axis at its first value) names a bad
    # combination of fixed values now; each axis was checked against its interval above
    try:
        optimizer.resolve({**fixed, **{a.name: a.values[0] for a in axes}})
    except OptiscopeError as err:
        if not axes:
            raise
        first = ", ".join(f"{a.name}={a.values[0]}" for a in axes)
        raise OptiscopeError(
            f"{err}; the ranges' first setting ({first}) is invalid: every combination of a "
            "sweep's ranges must be valid, narrow them"
        ) from None
    return SweepSpec(spec, optimizer, fixed, tuple(axes))


def parse_starts(text: str, dim: int, coordinates: tuple[str, ...]) -> tuple[list[Axis], list]:
    """``"x0..x1@N,y0..y1@M"``: one range (or plain number) per coordinate.

    Returns the swept axes (named ``start_<coordinate>``) and, per coordinate, either the
    fixed float or the index of its axis.
    """
    if not isinstance(text, str):
        raise OptiscopeError(f"starts must be text such as '-2..2@50,-2..2@50', got {text!r}")
    parts = [p.strip() for p in text.split(",")]
    if len(parts) != dim or any(not p for p in parts):
        example = ",".join(["-2..2@50"] * dim)
        raise OptiscopeError(
            f"invalid starts {text!r}: expected {dim} comma-separated ranges or numbers "
            f"(e.g. {example})"
        )
    axes: list[Axis] = []
    layout: list = []
    for coordinate, part in zip(coordinates, parts, strict=True):
        if is_range(part):
            layout.append(len(axes))
            axes.append(parse_range(part, f"start_{coordinate}"))
        else:
            layout.append(to_float(part, f"start_{coordinate}"))
    return axes, layout


def grid(axes: tuple[Axis, ...] | list[Axis]) -> list[tuple[Any, ...]]:
    """Every combination of the axes' values, the last axis varying fastest."""
    import itertools

    return list(itertools.product(*(a.values for a in axes)))


def grid_size(axes: tuple[Axis, ...] | list[Axis]) -> int:
    return math.prod(len(a.values) for a in axes)


def sample(
    axes: tuple[Axis, ...] | list[Axis], count: int, method: str, seed: int
) -> list[tuple[Any, ...]]:
    """``count`` points drawn in the axes' box (module notes), as tuples in axis order."""
    check_method(method)
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_SAMPLES:
        raise OptiscopeError(f"invalid samples: {count!r} (valid: 1 to {MAX_SAMPLES:,})")
    if method == "grid":
        raise OptiscopeError("samples need method random or sobol (grid takes every point)")
    if not axes:
        raise OptiscopeError("samples need at least one range in the spec to draw from")
    units = _unit_points(len(axes), count, method, seed)  # [K, d]
    columns = [axis.from_unit(units[:, i]) for i, axis in enumerate(axes)]
    return list(zip(*columns, strict=True))


def _unit_points(dims: int, count: int, method: str, seed: int) -> np.ndarray:
    """``[count, dims]`` points in [0, 1): PCG64 uniforms or scrambled Sobol' points."""
    if method == "random":
        return np.random.default_rng(seed).random((count, dims))
    from scipy.stats import qmc

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # balance properties need 2**m points: fine to lose
        return qmc.Sobol(dims, scramble=True, seed=seed).random(count)


def check_method(method: Any) -> str:
    if method not in METHODS:
        raise OptiscopeError(f"invalid method: {method!r} (valid: {', '.join(METHODS)})")
    return method


def typed_fixed(optimizer: Optimizer, fixed: Mapping[str, Any]) -> dict[str, Any]:
    """The fixed spec values parsed by their hyperparameters (text -> float, bool, str)."""
    schema = {h.name: h for h in (*optimizer.hyperparams, *optimizer.options)}
    schema |= schedules.PARAMS
    return {k: schema[k].convert(v) if isinstance(v, str) else v for k, v in fixed.items()}
