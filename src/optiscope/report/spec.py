"""The experiments file of ``optiscope report``: TOML, read and checked before anything runs.

The format (TOML 1.0, read with Python's ``tomllib``; every key optional unless marked)::

    title = "Momentum on a narrow valley"        # the page's heading
    intro = "Why the note's momentum 0.99 fails" # a paragraph under it

    [defaults]                                   # apply to every experiment
    steps = 50                                   # 1 to 100000 (default 100)
    start = [1.0, 1.0]                           # or "1,1" (default: the function's own)
    tol = 1e-6                                   # loss-gap tolerance (default 1e-6)
    noise = 0.0                                  # Gaussian gradient noise (default 0)
    batch_size = "full"                          # data objectives: "full" or an integer
    seed = 0                                     # seed of the noise and the shuffles
    starts = 1                                   # runs per spec from K starts (1 to 64)
    seeds = 1                                    # runs per spec under R noise seeds (1 to 64)
    animate = false                              # embed an animated GIF of the paths
    internals = false                            # embed the optimizer-internals figure
    plot3d = false                               # embed an interactive 3-D view (Plotly)

    [[experiment]]                               # one table per experiment, in page order
    name = "zig-zag"                             # required: the section's heading
    function = "aniso"                           # required: catalogue spec or formula in w1, w2
    specs = ["sgd:lr=0.1", "momentum:lr=0.1,momentum=0.9"]  # required: optimizer specs
    caption = "SGD zig-zags across the valley."  # a paragraph under the heading
    # ... and any key of [defaults], for this experiment only

Every value is checked here, before the first run: unknown keys (named, with the valid ones),
wrong TOML types, missing keys, TOML syntax (line and column), unknown functions, optimizers
and hyperparameters (the library's own messages, by building the objective and parsing every
spec), and extras a function cannot have (3-D views and animations need two parameters).
Each problem is one line: ``FILE: experiment 2 (zig-zag): ...``, an ``OptiscopeError``.
Formulas go through optiscope's formula parser; no text from the file is ever evaluated.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from optiscope import metrics
from optiscope.errors import OptiscopeError
from optiscope.output import printable
from optiscope.specs import closest_names, parse_point

MAX_EXPERIMENTS = 100
MAX_TEXT = 10_000  # characters of a title, intro or caption
MAX_NAME = 200
EXTRAS = ("animate", "internals", "plot3d")
OPTION_KEYS = ("steps", "start", "tol", "noise", "batch_size", "seed", "starts", "seeds", *EXTRAS)
EXPERIMENT_KEYS = ("name", "function", "specs", "caption", *OPTION_KEYS)
TOP_KEYS = ("title", "intro", "defaults", "experiment")
DEFAULT_TITLE = "optiscope report"


@dataclass(frozen=True)
class Experiment:
    """One section of the report: a function, the optimizer specs run on it, and the options.

    ``start`` None means the function's own start; ``batch_size`` is ``"full"`` or an int.
    """

    name: str
    function: str
    specs: tuple[str, ...]
    caption: str = ""
    steps: int = 100
    start: tuple[float, ...] | str | None = None
    tol: float = metrics.DEFAULT_TOL
    noise: float = 0.0
    batch_size: str | int = "full"
    seed: int = 0
    starts: int = 1
    seeds: int = 1
    animate: bool = False
    internals: bool = False
    plot3d: bool = False


@dataclass(frozen=True)
class ReportSpec:
    """A whole experiments file: the page's title and intro, and its experiments in order."""

    title: str
    intro: str
    experiments: tuple[Experiment, ...]


def _toml_type(value: Any) -> str:
    """The TOML name of a parsed value's type, for messages."""
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a float"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "a table"
    return "a date/time"


def _shown(value: Any) -> str:
    text = repr(value)
    return printable(text if len(text) <= 60 else text[:57] + "...")


class _Where:
    """Where a value sits in the file, as the start of an error message."""

    def __init__(self, source: str, place: str = "") -> None:
        self.source, self.place = source, place

    def error(self, message: str) -> OptiscopeError:
        prefix = f"{self.source}: {self.place}: " if self.place else f"{self.source}: "
        return OptiscopeError(prefix + message)

    def wrong_type(self, key: str, expected: str, value: Any) -> OptiscopeError:
        return self.error(f"{key} must be {expected}, got {_toml_type(value)} {_shown(value)}")


def _check_keys(table: Mapping[str, Any], valid: Sequence[str], where: _Where) -> None:
    for key in table:
        if key not in valid:
            hint = closest_names(key, list(valid))
            raise where.error(f"unknown key {_shown(key)}{hint} (valid: {', '.join(valid)})")


def _text(value: Any, key: str, where: _Where, longest: int = MAX_TEXT) -> str:
    if not isinstance(value, str):
        raise where.wrong_type(key, "a string", value)
    if len(value) > longest:
        raise where.error(f"{key} is too long ({len(value)} characters, at most {longest})")
    return value


def _integer(value: Any, key: str, where: _Where) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise where.wrong_type(key, "an integer", value)
    return value


def _number(value: Any, key: str, where: _Where) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise where.wrong_type(key, "a number", value)
    if not math.isfinite(value):
        raise where.error(f"{key} must be a finite number, got {_shown(value)}")
    return float(value)


def _flag(value: Any, key: str, where: _Where) -> bool:
    if not isinstance(value, bool):
        raise where.wrong_type(key, "true or false", value)
    return value


def _start(value: Any, where: _Where) -> tuple[float, ...] | str:
    """A start as numbers (``[1, 1]``) or text (``"1,1"``, checked later against the
    function's dimension)."""
    if isinstance(value, str):
        return _text(value, "start", where, 1000)
    if not isinstance(value, list) or not value:
        raise where.wrong_type("start", 'an array of numbers such as [1.0, 1.0], or "1,1"', value)
    return tuple(_number(v, f"start[{i}]", where) for i, v in enumerate(value))


def _batch_size(value: Any, where: _Where) -> str | int:
    if isinstance(value, str):
        return _text(value, "batch_size", where, 100)
    return _integer(value, "batch_size", where)


_READERS = {
    "steps": lambda v, w: _integer(v, "steps", w),
    "start": _start,
    "tol": lambda v, w: _number(v, "tol", w),
    "noise": lambda v, w: _number(v, "noise", w),
    "batch_size": _batch_size,
    "seed": lambda v, w: _integer(v, "seed", w),
    "starts": lambda v, w: _integer(v, "starts", w),
    "seeds": lambda v, w: _integer(v, "seeds", w),
    **{key: (lambda k: lambda v, w: _flag(v, k, w))(key) for key in EXTRAS},
}


def _options(table: Mapping[str, Any], where: _Where) -> dict[str, Any]:
    """The option keys of ``table`` (``[defaults]`` or an experiment), each type-checked."""
    return {key: _READERS[key](table[key], where) for key in OPTION_KEYS if key in table}


def _specs(value: Any, where: _Where) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise where.wrong_type("specs", 'an array of optimizer specs such as ["sgd:lr=0.1"]', value)
    if not value:
        raise where.error('specs is empty: give at least one optimizer spec, e.g. ["sgd:lr=0.1"]')
    return tuple(_text(s, f"specs[{i}]", where, 2000) for i, s in enumerate(value))


def parse_experiments(text: str, source: str = "experiments file") -> ReportSpec:
    """The experiments in TOML ``text``, fully checked (see the module notes).

    ``source`` names the file in messages. Raises OptiscopeError (one line) on any problem.
    """
    where = _Where(printable(source))
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise where.error(f"invalid TOML: {err}") from None
    _check_keys(data, TOP_KEYS, where)
    title = _text(data.get("title", DEFAULT_TITLE), "title", where, MAX_NAME) or DEFAULT_TITLE
    intro = _text(data.get("intro", ""), "intro", where)
    defaults_table = data.get("defaults", {})
    if not isinstance(defaults_table, dict):
        raise where.wrong_type("defaults", "a table ([defaults])", defaults_table)
    defaults_where = _Where(where.source, "[defaults]")
    _check_keys(defaults_table, OPTION_KEYS, defaults_where)
    defaults = _options(defaults_table, defaults_where)
    tables = data.get("experiment")
    if tables is None:
        raise where.error(
            "no experiments: add at least one [[experiment]] table with name, function and specs"
        )
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        raise where.wrong_type("experiment", "an array of tables ([[experiment]])", tables)
    if len(tables) > MAX_EXPERIMENTS:
        raise where.error(f"too many experiments: {len(tables)} (at most {MAX_EXPERIMENTS})")
    experiments: list[Experiment] = []
    for i, table in enumerate(tables, start=1):
        experiments.append(_experiment(table, defaults, where.source, i))
    seen: dict[str, int] = {}
    for i, exp in enumerate(experiments, start=1):
        if exp.name in seen:
            raise where.error(
                f"experiments {seen[exp.name]} and {i} have the same name {_shown(exp.name)}: "
                "names must be unique (they are the page's section titles)"
            )
        seen[exp.name] = i
    spec = ReportSpec(title, intro, tuple(experiments))
    check_report(spec, where.source)
    return spec


def _experiment(
    table: Mapping[str, Any], defaults: Mapping[str, Any], source: str, index: int
) -> Experiment:
    name = table.get("name")
    label = f"experiment {index}"
    if isinstance(name, str) and name.strip():
        label += f" ({printable(name.strip()[:60])})"
    where = _Where(source, label)
    _check_keys(table, EXPERIMENT_KEYS, where)
    for key in ("name", "function", "specs"):
        if key not in table:
            raise where.error(f"missing {key} (required: name, function, specs)")
    name = _text(table["name"], "name", where, MAX_NAME).strip()
    if not name:
        raise where.error("name is empty")
    function = _text(table["function"], "function", where, 2000)
    options = {**defaults, **_options(table, where)}
    return Experiment(
        name=name,
        function=function,
        specs=_specs(table["specs"], where),
        caption=_text(table.get("caption", ""), "caption", where),
        **options,
    )


def load_experiments(path: Path | str) -> ReportSpec:
    """Read and check the experiments file at ``path`` (see :func:`parse_experiments`)."""
    path = Path(path)
    shown = printable(str(path))
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise OptiscopeError(f"{shown}: no such file") from None
    except IsADirectoryError:
        raise OptiscopeError(f"{shown}: is a folder, not an experiments file") from None
    except OSError as err:
        raise OptiscopeError(
            f"{shown}: cannot read: {err.strerror or type(err).__name__}"
        ) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise OptiscopeError(
            f"{shown}: not UTF-8 text (byte {err.start}): TOML files are UTF-8"
        ) from None
    return parse_experiments(text, str(path))


# ------------------------------------------------------------------ checks against the library
def check_report(spec: ReportSpec, source: str = "experiments file") -> None:
    """Check every experiment against the library (see :func:`check_experiment`)."""
    for i, exp in enumerate(spec.experiments, start=1):
        check_experiment(exp, _Where(source, f"experiment {i} ({printable(exp.name[:60])})"))


def check_experiment(exp: Experiment, where: _Where | None = None) -> None:
    """Build the objective and parse every spec and option as ``run_specs`` will, without
    running anything; an OptiscopeError (prefixed with ``where``) names the first problem."""
    where = where or _Where("experiment", printable(exp.name[:60]))
    try:
        _check_with_library(exp)
    except OptiscopeError as err:
        raise where.error(str(err)) from None


def _check_with_library(exp: Experiment) -> None:
    from optiscope.engine import check_gradient_source, check_steps
    from optiscope.experiments import (
        check_repeat_counts,
        check_seeds_need_noise,
        split_gradient_options,
    )
    from optiscope.objectives import get_objective
    from optiscope.optimizers import get_optimizer
    from optiscope.specs import to_float
    from optiscope.stochastic import check_noise, check_seed, gradient_source, parse_batch_size
    from optiscope.theory import check_tol

    check_steps(exp.steps)
    check_tol(exp.tol)
    check_seed(exp.seed)
    _, seeds = check_repeat_counts(exp.starts, exp.seeds)
    noise = check_noise(exp.noise)
    parse_batch_size(exp.batch_size)
    objective = get_objective(exp.function)
    start_point(exp, objective.dim)
    options = []
    for spec in exp.specs:
        optimizer_spec, gradient = split_gradient_options(spec)
        size = parse_batch_size(gradient.get("batch_size", exp.batch_size))
        sigma = check_noise(to_float(gradient["noise"], "noise") if "noise" in gradient else noise)
        source = gradient_source(objective, sigma, size, exp.seed)
        optimizer, _ = get_optimizer(optimizer_spec)
        check_gradient_source(optimizer, source is not None)
        options.append({"batch_size": "full" if size is None else size, "noise": sigma})
    check_seeds_need_noise(seeds, options)
    if exp.internals:
        from optiscope.plots.internals import MAX_RUNS

        if len(exp.specs) > MAX_RUNS:
            raise OptiscopeError(
                f"internals draws one row per optimizer spec, at most {MAX_RUNS}; got "
                f"{len(exp.specs)} (set internals = false or split the experiment)"
            )
    for extra in ("plot3d", "animate"):
        if getattr(exp, extra) and objective.dim != 2:
            raise OptiscopeError(
                f"{extra} needs a function of two parameters; {printable(exp.function[:60])} "
                f"has {objective.dim} (set {extra} = false)"
            )


def start_point(exp: Experiment, dim: int) -> tuple[float, ...] | None:
    """The experiment's start as ``dim`` numbers (None: the function's own start)."""
    if exp.start is None:
        return None
    if isinstance(exp.start, str):
        return parse_point(exp.start, dim)
    if len(exp.start) != dim:
        raise OptiscopeError(
            f"invalid start {_shown(list(exp.start))}: expected {dim} numbers for this function"
        )
    return tuple(exp.start)
