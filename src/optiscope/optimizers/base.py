"""The Optimizer contract: a hyperparameter schema plus pure, batched ``init``/``update``.

Hyperparameters are arrays, one value per trajectory, shape ``[B, 1]`` (broadcasting over the
D coordinates), so a grid of settings is a single batched run. Boolean options (``nesterov``,
``centered``, ``amsgrad``) are float arrays holding 0.0 or 1.0; a choice (``momentum_form``)
holds the index of the chosen string in ``HyperParam.choices``.

A setting (the dict ``resolve`` returns) holds every hyperparameter, then the optional ones
(``Optimizer.options``) that were given, then the learning-rate schedule's keys when a
schedule was given (``schedules.py``; they apply to every optimizer and are not stacked).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, NamedTuple

import numpy as np

from optiscope.errors import OptiscopeError
from optiscope.specs import closest_names, to_bool, to_float

HParams = dict[str, np.ndarray]  # name -> [B, 1] float64
Evaluate = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]  # x [B, D] -> (f [B], g [B, D])


@dataclass(frozen=True)
class HyperParam:
    """One hyperparameter: torch.optim name and default, a one-line meaning and its valid range.

    ``low``/``high`` bound the value; ``low_open``/``high_open`` make the bound strict.
    ``kind`` is ``"float"``, ``"int"``, ``"bool"`` or ``"choice"`` (a string among
    ``choices``; stacked as its index).
    """

    name: str
    default: float | bool | str
    meaning: str
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    kind: str = "float"
    choices: tuple[str, ...] = ()

    def describe_range(self) -> str:
        if self.kind == "bool":
            return "true or false"
        if self.kind == "choice":
            return " | ".join(self.choices)
        lo = "" if self.low is None else f"{self.low:g} {'<' if self.low_open else '<='} "
        hi = "" if self.high is None else f" {'<' if self.high_open else '<='} {self.high:g}"
        return f"{lo}{self.name}{hi}" if (lo or hi) else "any finite number"

    def convert(self, text: str) -> float | bool:
        """Parse a user string and check the range; raises OptiscopeError."""
        if self.kind == "bool":
            return to_bool(text, self.name)
        if self.kind == "choice":
            self.encode(text.strip())
            return text.strip()
        try:
            value = to_float(text, self.name)
        except OptiscopeError as err:
            raise OptiscopeError(f"{err}; valid: {self.describe_range()}") from None
        self.check(np.array([value]))
        return int(value) if self.kind == "int" else value

    def check(self, values: np.ndarray) -> None:
        """Raise OptiscopeError naming the first value outside the valid range."""
        v = np.asarray(values, dtype=np.float64).ravel()
        bad = ~np.isfinite(v)
        if self.kind == "bool":
            bad |= (v != 0.0) & (v != 1.0)
        elif self.kind == "choice":
            bad |= (v != np.round(v)) | (v < 0) | (v >= len(self.choices))
        else:
            if self.low is not None:
                bad |= (v <= self.low) if self.low_open else (v < self.low)
            if self.high is not None:
                bad |= (v >= self.high) if self.high_open else (v > self.high)
            if self.kind == "int":
                bad |= v != np.round(v)
        if bad.any():
            value = v[np.argmax(bad)]
            raise OptiscopeError(
                f"invalid {self.name}: {_fmt(value)} (valid: {self.describe_range()})"
            )

    def encode(self, value: Any) -> float:
        """The float stacked for ``value``: a choice's index, else ``float(value)``."""
        if self.kind != "choice":
            return float(value)
        if value not in self.choices:
            raise OptiscopeError(
                f"invalid {self.name}: {value!r}{closest_names(str(value), list(self.choices))} "
                f"(valid: {', '.join(self.choices)})"
            )
        return float(self.choices.index(value))

    def default_text(self) -> str:
        if self.kind == "bool":
            return "true" if self.default else "false"
        if self.kind == "choice":
            return str(self.default)
        return f"{self.default:g}"


def _checked_value(schema: Mapping[str, HyperParam], key: str, value: Any) -> Any:
    """``value`` if its type fits hyperparameter ``key`` of ``schema`` (text is parsed later;
    an unknown key is named by ``Optimizer.resolve``); OptiscopeError otherwise."""
    h = schema.get(key)
    if h is None or isinstance(value, str):
        return value
    if isinstance(value, np.generic):
        value = value.item()
    numeric = isinstance(value, int | float) and not isinstance(value, bool)
    fits = {"bool": isinstance(value, bool) or (numeric and value in (0, 1)), "choice": False}
    if not fits.get(h.kind, numeric):
        raise OptiscopeError(
            f"invalid {key}: {value!r} of type {type(value).__name__} (valid: {h.describe_range()})"
        )
    return value


def _fmt(value: float) -> str:
    value = float(value)  # repr of np.float64 would read "np.float64(0.0)"
    return repr(value) if math.isfinite(value) else str(value)


class Optimizer:
    """Base class. Subclasses set ``name``, ``summary``, ``hyperparams``, ``reference`` and
    implement ``init`` and ``update``; both are pure functions of arrays.

    - ``init(params [B, D], hp) -> State`` (a NamedTuple of arrays; ``step`` counts updates)
    - ``update(grad [B, D], state, params [B, D], hp) -> (new_params [B, D], new_state)``
    """

    name: ClassVar[str]
    summary: ClassVar[str]
    reference: ClassVar[str] = ""
    hyperparams: ClassVar[tuple[HyperParam, ...]]
    #: Optional hyperparameters: in a setting only when given, their default otherwise.
    options: ClassVar[tuple[HyperParam, ...]] = ()
    #: State fields (each ``[B, D]``) worth plotting over time, most telling first; the engine
    #: records exactly these when asked to (``run(..., record_state=True)``).
    plot_state: ClassVar[tuple[str, ...]] = ()
    #: One line per state field: what it holds (for plot labels and explanations).
    state_meanings: ClassVar[Mapping[str, str]] = {}
    #: Optimizers with their own stopping test (L-BFGS): the codes their ``stop_code`` state
    #: field takes, each with a name and a plain phrase (``{1: ("tolerance_grad", "...")}``).
    stop_reasons: ClassVar[Mapping[int, tuple[str, str]]] = {}

    # -- schema ---------------------------------------------------------------------------
    def defaults(self) -> dict[str, float | bool]:
        return {h.name: h.default for h in self.hyperparams}

    def schema(self) -> dict[str, HyperParam]:
        return {h.name: h for h in self.hyperparams}

    def resolve(self, overrides: Mapping[str, str | float | bool]) -> dict[str, Any]:
        """Defaults updated with ``overrides`` (strings are parsed), validated as a whole.

        Schedule keys (``schedule=step,step_size=20,...``) are resolved by ``schedules.py``.
        """
        from optiscope import schedules  # schedules.py imports HyperParam from this module

        schema = self.schema() | {h.name: h for h in self.options}
        values: dict[str, Any] = self.defaults()
        schedule_keys: dict[str, Any] = {}
        for key, raw in overrides.items():
            if key in schedules.KEYS:
                schedule_keys[key] = raw
                continue
            if key not in schema:
                raise OptiscopeError(
                    f"unknown hyperparameter {key!r} for {self.name}; valid: {', '.join(schema)}"
                    f"; schedule keys: {', '.join(schedules.KEYS)}"
                )
            h = schema[key]
            values[key] = h.convert(raw) if isinstance(raw, str) else raw
        values.update(schedules.resolve(schedule_keys, values.get("lr")))
        self.validate(self.stack([values]))
        return values

    def complete(self, setting: Any) -> dict[str, Any]:
        """A full, validated setting from a mapping of some hyperparameters (the rest default).

        This is the Python API's door (``run(objective, optimizer, {"lr": 0.1})``): values may
        be numbers, booleans or the strings a spec holds; a key that is not a hyperparameter,
        a value of the wrong type or out of range raises OptiscopeError naming it.
        """
        if not isinstance(setting, Mapping):
            raise OptiscopeError(
                f"a {self.name} setting must be a dict of hyperparameters such as "
                f"{{'lr': 0.1}}, got {type(setting).__name__}"
            )
        schema = self._value_schema()
        return self.resolve({str(k): _checked_value(schema, str(k), v) for k, v in setting.items()})

    def complete_all(self, settings: Sequence[Any]) -> list[dict[str, Any]]:
        """:meth:`complete` for B settings, fast for the common case of a grid.

        A setting that already names every hyperparameter, with numbers (or a choice's text)
        and nothing else (no schedule, no text to parse), is only type-checked here: its ranges
        and combinations are checked once for the whole stacked batch by :meth:`validate`,
        which ``engine.run`` calls. Any other setting goes through :meth:`complete`.
        """
        schema = self._value_schema()
        names = {h.name: h for h in (*self.hyperparams, *self.options)}
        required = {h.name for h in self.hyperparams}
        done = []
        for setting in settings:
            plain = (
                isinstance(setting, Mapping)
                and required <= setting.keys() <= names.keys()
                and all(
                    not isinstance(v, str) or names[k].kind == "choice" for k, v in setting.items()
                )
            )
            if plain:
                done.append({k: _checked_value(schema, k, v) for k, v in setting.items()})
            else:
                done.append(self.complete(setting))
        return done

    def _value_schema(self) -> dict[str, HyperParam]:
        """Every name a setting may hold: hyperparameters, options and schedule keys."""
        from optiscope import schedules  # schedules.py imports HyperParam from this module

        return self.schema() | {h.name: h for h in self.options} | schedules.PARAMS

    def stack(self, settings: Sequence[Mapping[str, Any]]) -> HParams:
        """Turn B complete settings into ``{name: [B, 1] float64}`` (options: default if absent)."""
        hp = {
            h.name: np.array([h.encode(s[h.name]) for s in settings], dtype=np.float64)[:, None]
            for h in self.hyperparams
        }
        for h in self.options:
            values = [h.encode(s.get(h.name, h.default)) for s in settings]
            hp[h.name] = np.array(values, dtype=np.float64)[:, None]
        return hp

    def stack_columns(self, base: Mapping[str, Any], swept: Mapping[str, Any]) -> HParams:
        """:meth:`stack` for settings given as columns (a sweep's plan): ``base`` the complete
        setting every row shares, ``swept[name]`` ``[B]`` the row values of the swept ones.
        Values are encoded (a choice's index, a bool as 0/1), not checked: :meth:`validate`
        checks the result. Options in neither take their default, as in :meth:`stack`."""
        count = len(next(iter(swept.values()))) if swept else 1
        hp = {}
        for h in (*self.hyperparams, *self.options):
            if h.name in swept:
                column = swept[h.name]
                encoded = [h.encode(v) for v in column] if h.kind == "choice" else column
                hp[h.name] = np.asarray(encoded, dtype=np.float64).reshape(count, 1)
            else:
                hp[h.name] = np.full((count, 1), h.encode(base.get(h.name, h.default)))
        return hp

    def validate(self, hp: HParams) -> None:
        """Check every value's range, then the rules between hyperparameters (``check_combination``)."""
        for h in self.hyperparams:
            h.check(hp[h.name])
        for h in self.options:
            if h.name in hp:
                h.check(hp[h.name])
        self.check_combination(hp)

    def check_combination(self, hp: HParams) -> None:  # noqa: B027 - optional hook
        """Rules linking several hyperparameters (e.g. nesterov needs momentum > 0)."""

    # -- the algorithm ----------------------------------------------------------------------
    #: False: ``update`` takes one gradient per step. True: the optimizer evaluates the
    #: function itself (a line search) through ``step``; the engine counts its evaluations.
    evaluates: ClassVar[bool] = False

    def step(
        self,
        evaluate: Evaluate,
        state: NamedTuple,
        params: np.ndarray,
        loss: np.ndarray,
        grad: np.ndarray,
        hp: HParams,
    ) -> tuple[np.ndarray, NamedTuple, np.ndarray]:
        """For ``evaluates`` optimizers: one iteration using ``evaluate(x [B, D]) -> (f [B],
        g [B, D])`` as often as it needs; returns (new params, new state, evaluations used [B]).
        """
        raise NotImplementedError

    def init(self, params: np.ndarray, hp: HParams) -> NamedTuple:
        raise NotImplementedError

    def update(
        self, grad: np.ndarray, state: NamedTuple, params: np.ndarray, hp: HParams
    ) -> tuple[np.ndarray, NamedTuple]:
        raise NotImplementedError
