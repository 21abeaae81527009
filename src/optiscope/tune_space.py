"""What ``optiscope.tune`` searches: one :class:`Dimension` per tuned hyperparameter.

A dimension maps the unit interval onto values (``from_unit``) and back (``to_unit``):

- ``"log"``: ``low * (high / low) ** u`` (lr 1e-5..10, eps 1e-12..1, weight decay 1e-6..1,
  ...): every decade gets the same share of the draws;
- ``"log1m"``: ``1 - (1 - low) * ((1 - high) / (1 - low)) ** u``, a log scale of ``1 - x``
  (momentum, alpha, beta1, beta2, rho over 0..0.9999; momentum from 1e-4 where Nesterov
  may be on, as it needs momentum > 0): 0..0.9, 0.9..0.99 and 0.99..0.999
  each get a quarter of the draws (the decades of 1 - x);
- ``"linear"``: ``low + u * (high - low)`` (FTRL's lr_power -1..0, dampening 0..1);
- ``"choice"``: ``choices[floor(u * n)]`` (booleans with ``booleans=True``, L-BFGS's
  integer ``history_size`` as a list, its ``line_search``); ``to_unit`` gives the centre of
  the value's cell.

Every range lies inside the hyperparameter's valid interval (checked when the space is
built), so no drawn value is ever refused.

**Which hyperparameters** (``params``):

- ``"method"``: those that define the method and leave the problem alone: lr, momentum,
  alpha, beta1, beta2, rho, eps, lr_power, RMSProp's momentum, L-BFGS's history_size and
  line_search. The presets keep their identity: ``sgd`` is plain gradient descent (momentum
  stays 0), ``momentum`` is heavy ball and ``nesterov`` Nesterov (their ``nesterov`` flag is
  never tuned: compare them side by side instead).
- ``"all"`` adds weight_decay, dampening, FTRL's l1, l2, l2_shrinkage and beta, Adagrad's
  lr_decay, and initial_accumulator_value (Adagrad's and FTRL's). They are out by default because they
  change the problem (weight decay and the l1/l2 terms move the minimizer: a tuned run then
  converges to another point) or only duplicate lr (dampening scales the momentum buffer's
  input, lr_decay and initial_accumulator_value the step size, beta the first steps).
  Dampening is never tuned for ``sgd`` (no effect without momentum) or Nesterov (it needs
  dampening 0).
- a list of names tunes exactly those (e.g. ``["lr"]``: lr only).

``booleans=True`` adds ``amsgrad`` (Adam, AdamW) and ``centered`` (RMSProp) as choices.
L-BFGS's stopping tests (tolerance_grad, tolerance_change) and ``momentum_form`` are tuned
only when named. Hyperparameters not tuned keep their defaults (AdamW's weight_decay 0.01).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from optiscope.errors import OptiscopeError
from optiscope.optimizers import OPTIMIZERS, get_optimizer
from optiscope.optimizers.base import HyperParam, Optimizer

SCALES = ("log", "log1m", "linear", "choice")
PARAM_MODES = ("method", "all")

#: Value ranges and scales of the continuous hyperparameters tune searches.
RANGES: dict[str, tuple[str, float, float]] = {
    "lr": ("log", 1e-5, 10.0),
    "eps": ("log", 1e-12, 1.0),
    "weight_decay": ("log", 1e-6, 1.0),
    "momentum": ("log1m", 0.0, 0.9999),
    "alpha": ("log1m", 0.0, 0.9999),
    "beta1": ("log1m", 0.0, 0.9999),
    "beta2": ("log1m", 0.0, 0.9999),
    "rho": ("log1m", 0.0, 0.9999),
    "dampening": ("linear", 0.0, 1.0),
    "lr_power": ("linear", -1.0, 0.0),
    "lr_decay": ("log", 1e-6, 1.0),
    "initial_accumulator_value": ("log", 1e-6, 10.0),
    "l1": ("log", 1e-6, 1.0),
    "l2": ("log", 1e-6, 1.0),
    "l2_shrinkage": ("log", 1e-6, 1.0),
    "beta": ("log", 1e-3, 10.0),
    "tolerance_grad": ("log", 1e-12, 1e-2),
    "tolerance_change": ("log", 1e-12, 1e-2),
}
#: L-BFGS's integer history, tuned as a list (curvature pairs kept).
HISTORY_SIZES = (1, 2, 3, 5, 10, 20, 50, 100)

METHOD = ("lr", "momentum", "alpha", "beta1", "beta2", "rho", "eps", "lr_power")
METHOD_CHOICES = ("history_size", "line_search")
ALL_EXTRA = (
    "weight_decay",
    "dampening",
    "l1",
    "l2",
    "l2_shrinkage",
    "beta",
    "lr_decay",
    "initial_accumulator_value",
)
BOOLEANS = ("amsgrad", "centered")
SGD_FAMILY = ("sgd", "momentum", "nesterov")
NESTEROV_MIN_MOMENTUM = 1e-4  # momentum's lower end where Nesterov may be on (it needs > 0)


@dataclass(frozen=True)
class Dimension:
    """One tuned hyperparameter: its name, scale and value range (module notes)."""

    name: str
    scale: str  # "log", "log1m" (log of 1 - x), "linear", "choice"
    low: float  # value-space bounds (choice: NaN)
    high: float
    choices: tuple = ()

    def from_unit(self, u: np.ndarray) -> np.ndarray:
        """Uniforms ``u`` in [0, 1] onto values (float64; a choice's values keep their type)."""
        u = np.clip(np.asarray(u, dtype=np.float64), 0.0, 1.0)
        if self.scale == "choice":
            index = np.minimum((u * len(self.choices)).astype(np.int64), len(self.choices) - 1)
            return typed_array([self.choices[i] for i in index])
        if self.scale == "log":
            lo, hi = math.log(self.low), math.log(self.high)
            values = np.exp(lo + u * (hi - lo))
        elif self.scale == "log1m":
            lo, hi = math.log1p(-self.low), math.log1p(-self.high)
            values = -np.expm1(lo + u * (hi - lo))
        else:
            values = self.low + u * (self.high - self.low)
        return np.clip(values, self.low, self.high)  # exp may round just outside

    def to_unit(self, values: Any) -> np.ndarray:
        """Values back onto [0, 1] (a choice: the centre of its cell)."""
        if self.scale == "choice":
            index = [self.choices.index(_plain(v)) for v in np.asarray(values, dtype=object)]
            return (np.asarray(index, dtype=np.float64) + 0.5) / len(self.choices)
        v = np.asarray(values, dtype=np.float64)
        if self.scale == "log":
            lo, hi = math.log(self.low), math.log(self.high)
            u = (np.log(v) - lo) / (hi - lo)
        elif self.scale == "log1m":
            lo, hi = math.log1p(-self.low), math.log1p(-self.high)
            u = (np.log1p(-v) - lo) / (hi - lo)
        else:
            u = (v - self.low) / (self.high - self.low)
        return np.clip(u, 0.0, 1.0)

    def describe(self) -> dict[str, Any]:
        """``{"name", "scale", "low", "high", "choices"}`` for the JSON record."""
        if self.scale == "choice":
            return {"name": self.name, "scale": self.scale, "choices": list(self.choices)}
        return {"name": self.name, "scale": self.scale, "low": self.low, "high": self.high}


def typed_array(values: Sequence[Any]) -> np.ndarray:
    """Values as an array of their type: bool, int64, object (text) or float64."""
    values = [_plain(v) for v in values]
    if values and all(isinstance(v, bool) for v in values):
        return np.array(values, dtype=bool)
    if values and all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return np.array(values, dtype=np.int64)
    if values and all(isinstance(v, str) for v in values):
        return np.array(values, dtype=object)
    return np.array(values, dtype=np.float64)


def _plain(v: Any) -> Any:
    return v.item() if isinstance(v, np.generic) else v


def optimizer_of(optimizer: str | Optimizer) -> Optimizer:
    """The registered optimizer of a name (or the Optimizer itself); OptiscopeError naming
    the valid names otherwise."""
    if isinstance(optimizer, Optimizer):
        return optimizer
    if not isinstance(optimizer, str) or ":" in optimizer:
        get_optimizer("sgd")  # loads the catalogue for the message
        raise OptiscopeError(
            f"invalid optimizer {optimizer!r}: give a name (valid: {', '.join(OPTIMIZERS)}); "
            "tune chooses the hyperparameters itself"
        )
    found, _ = get_optimizer(optimizer.strip())
    return found


def search_space(
    optimizer: str | Optimizer, params: str | Sequence[str] = "method", booleans: bool = False
) -> list[Dimension]:
    """The dimensions tune searches for ``optimizer`` (module notes), in the optimizer's
    hyperparameter order. ``params``: ``"method"``, ``"all"``, or names (a list, or text
    ``"lr,beta1"``); an unknown name or an impossible combination raises OptiscopeError."""
    opt = optimizer_of(optimizer)
    names = _chosen_names(opt, params, booleans)
    schema = {h.name: h for h in (*opt.hyperparams, *opt.options)}
    dims = [_dimension(schema[name]) for name in names]
    if opt.name in SGD_FAMILY and ("nesterov" in names or opt.defaults()["nesterov"]):
        # Nesterov needs momentum > 0: the range starts at NESTEROV_MIN_MOMENTUM instead
        dims = [replace(d, low=NESTEROV_MIN_MOMENTUM) if d.name == "momentum" else d for d in dims]
    return dims


def parse_params(params: str | Sequence[str]) -> str | tuple[str, ...]:
    """``"method"``, ``"all"`` or a tuple of names (from a list or ``"lr,beta1"``)."""
    if isinstance(params, str):
        text = params.strip()
        if text in PARAM_MODES:
            return text
        params = text.split(",")
    if not isinstance(params, Sequence) or not all(isinstance(p, str) for p in params):
        raise OptiscopeError(
            f"invalid params: {params!r} (valid: method, all, or names such as lr,momentum)"
        )
    names = tuple(dict.fromkeys(p.strip() for p in params))
    if not names or any(not n for n in names):
        raise OptiscopeError(
            f"invalid params: {params!r} has an empty name (valid: method, all, or names such "
            "as lr,momentum)"
        )
    return names


def _chosen_names(opt: Optimizer, params: str | Sequence[str], booleans: bool) -> list[str]:
    mode = parse_params(params)
    own = [h.name for h in opt.hyperparams]
    if isinstance(mode, tuple):
        return _named(opt, mode)
    wanted = set(METHOD) | set(METHOD_CHOICES)
    if mode == "all":
        wanted |= set(ALL_EXTRA)
    if booleans:
        wanted |= set(BOOLEANS)
    if opt.name == "sgd":
        wanted -= {"momentum", "dampening"}  # plain gradient descent
    if opt.name == "nesterov":
        wanted.discard("dampening")  # Nesterov needs dampening 0
    return [name for name in own if name in wanted]


def _named(opt: Optimizer, names: tuple[str, ...]) -> list[str]:
    """Exactly the names given, checked against the optimizer and each other."""
    own = [h.name for h in (*opt.hyperparams, *opt.options)]
    for name in names:
        if name not in own:
            raise OptiscopeError(
                f"unknown hyperparameter {name!r} for {opt.name} in params; valid: "
                f"{', '.join(own)} (or method, all)"
            )
    defaults = {**opt.defaults(), **{h.name: h.default for h in opt.options}}
    if opt.name in SGD_FAMILY:
        nesterov = "nesterov" in names or defaults["nesterov"]
        if nesterov and "dampening" in names:
            raise OptiscopeError(
                f"cannot tune dampening for {opt.name} with Nesterov momentum: Nesterov needs "
                "dampening 0; drop dampening from params"
            )
        if "nesterov" in names and "momentum" not in names and defaults["momentum"] <= 0:
            raise OptiscopeError(
                f"cannot tune nesterov for {opt.name} with momentum 0: Nesterov needs "
                "momentum > 0; add momentum to params (or tune the momentum optimizer)"
            )
    return [name for name in own if name in names]


def _dimension(h: HyperParam) -> Dimension:
    """The dimension of one hyperparameter, its range checked against the valid interval."""
    if h.kind == "bool":
        return Dimension(h.name, "choice", math.nan, math.nan, (False, True))
    if h.kind == "choice":
        return Dimension(h.name, "choice", math.nan, math.nan, tuple(h.choices))
    if h.name == "history_size":
        sizes = tuple(s for s in HISTORY_SIZES if h.high is None or s <= h.high)
        return Dimension(h.name, "choice", math.nan, math.nan, sizes)
    if h.kind == "int" or h.name not in RANGES:
        raise OptiscopeError(f"tune has no search range for {h.name}; leave it out of params")
    scale, low, high = RANGES[h.name]
    h.check(np.array([low, high]))  # a range outside the valid interval is a bug here
    return Dimension(h.name, scale, low, high)
