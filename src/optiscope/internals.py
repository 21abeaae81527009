"""What an optimizer carries over time, from a run that recorded its state (no plotting here).

A run made with ``record_state=True`` (``experiments.run_specs(..., record_state=True)``)
holds the optimizer's state after every step, ``traj.states = {field: [S+1, B, D]}`` (index 0
as initialised), and, when a schedule varied the learning rate, ``traj.learning_rates``
``[S, B]``. :func:`internals_of` turns one run (a ``RunResult``) into the quantities that
explain its path, each a :class:`Series` with a name, a one-line rule and its values:

- **velocity** (signed): SGD's momentum buffer (torch: ``buf = mu*buf + (1-dampening)*g``,
  the step ``lr*buf``; Nesterov ``lr*(g + mu*buf)``; ``momentum_form=seed``: ``v = mu*v +
  lr*g``, the step ``v``), Adam's first moment ``m``, RMSProp's buffer of normalized steps
  when momentum > 0;
- **accumulators**: RMSProp's ``v`` (and ``gbar`` when centered), Adagrad's ``sum``,
  Adadelta's ``v`` and ``u``, Adam's ``v`` (and ``vmax`` with amsgrad), FTRL's ``n`` and ``z``
  (``z`` is signed);
- the **effective step per coordinate**, by the optimizer's rule (the multiplier its update
  applies per coordinate; step ``k`` uses the state after step ``k``, Adadelta's ``u`` before
  it)::

      sgd / momentum / nesterov  lr_k                    (the multiplier of g, buf or v)
      rmsprop                    lr_k / (sqrt(v) + eps)   centered: lr_k / (sqrt(v - gbar^2) + eps)
      adam / adamw               lr_k / (1 - beta1^k) / (sqrt(v) / sqrt(1 - beta2^k) + eps)
                                 (v: vmax with amsgrad; the multiplier of m)
      adagrad                    lr_k / (1 + (k-1)*lr_decay) / (sqrt(sum) + eps)
      adadelta                   lr_k * sqrt(u_{k-1} + eps) / sqrt(v_k + eps)
      ftrl                       1/q = lr_k / (n^(-lr_power) + beta + 2*l2*lr_k)
                                 (Keras: w = (clip(z, -l1, l1) - z)/q; McMahan et al.'s
                                 per-coordinate rate alpha / (beta + sqrt(n)))

  and, for every optimizer, the **measured** one, ``|x_k - x_{k-1}| / |g_i(x_{k-1})|``
  (:func:`measured_step`; the exact gradient of the objective at the step's start);
- the **sign-descent reference** ``lr_k / |g_i(x_{k-1})|`` for the adaptive optimizers
  (RMSProp, Adam, Adagrad, Adadelta, FTRL): the effective step of a method that moves every
  coordinate by exactly lr (``w -= lr * sign(g)``); an effective step on this line means the
  optimizer moves like sign descent;
- the **learning rate** of each step when a schedule varies it;
- the **number of exact zeros** among the parameters after each step, for objectives with more
  than 2 parameters (data objectives: FTRL with l1 > 0 holds a weight at exactly 0 while
  ``|z| <= l1``).

When the rule and the measurement agree: GD, RMSProp without momentum, Adagrad (``|dx| =
rule * |g|``); Adam (``|dx| = rule * |m|``); FTRL with l1 = 0, no l2_shrinkage and a constant lr
from step 2 on (then ``w_k = w_{k-1} - (1/q_k) g``: the sigma*w term of z cancels the change of
q). With momentum the step follows the buffer, not g, so the measured ratio departs from the
rule. Weight decay (added to g by torch's optimizers, or AdamW's decoupled shrink) and noisy
or mini-batch gradients also move the step away from ``rule * |g|`` with the exact gradient.

The **drift** (for the arrows on a contour map): at each point ``x_k`` the part of the next
step that the velocity carries, before the next gradient enters: its decay factor times the
displacement the velocity caused at step k. Heavy ball ``-mu * lr_k * buf_k`` (``mu*(x_k -
x_{k-1})``), Nesterov ``-mu^2 * lr_k * buf_k``, the seed form ``-mu * v_k`` (Nesterov
``-mu^2 * v_k``), RMSProp with momentum ``-mu * lr_k * buf_k``, Adam ``-beta1 * rule_k * m_k``.

A diverged row is cut before the step that diverged (its frozen tail is not motion).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from optiscope.errors import OptiscopeError
from optiscope.experiments import RunResult
from optiscope.objectives.base import Objective
from optiscope.optimizers.adadelta import Adadelta
from optiscope.optimizers.adagrad import Adagrad
from optiscope.optimizers.adam import Adam
from optiscope.optimizers.ftrl import Ftrl, power_of
from optiscope.optimizers.rmsprop import RMSprop
from optiscope.optimizers.sgd import SGD

ADAPTIVE = (RMSprop, Adam, Adagrad, Adadelta, Ftrl)


@dataclass(frozen=True)
class Series:
    """One quantity over time: ``values`` ``[n, D]`` (or ``[n]``) at steps ``steps`` ``[n]``.

    ``rule`` is one line stating how it is computed; ``signed``: it takes both signs (drawn on
    a symmetric-log axis) rather than being positive (a log axis).
    """

    name: str
    rule: str
    values: np.ndarray
    steps: np.ndarray
    signed: bool = False


@dataclass(frozen=True)
class Internals:
    """One run's internals (see the module notes for every rule).

    ``positions`` ``[S+1, D]`` and ``gradients`` ``[S+1, D]`` (the objective's exact gradient)
    at steps ``0 .. S``, where S is the number of steps before any divergence;
    ``velocity``/``accumulators``/``other`` the recorded state; ``step_rule`` (None when the
    optimizer has no per-coordinate rule: L-BFGS), ``step_measured`` and ``sign_reference``
    (adaptive optimizers only) ``[S, D]`` at steps ``1 .. S``; ``lr`` ``[S]`` when a schedule
    varied it; ``zeros`` ``[S+1]`` when D > 2; ``drift`` ``[S+1, D]`` (None without a velocity)
    the velocity's carried displacement at each point, ``drift_rule`` its rule.
    """

    label: str
    optimizer: str
    settings: dict[str, Any]
    objective: Objective
    positions: np.ndarray
    gradients: np.ndarray
    velocity: tuple[Series, ...]
    accumulators: tuple[Series, ...]
    other: tuple[Series, ...]
    step_rule: Series | None
    step_measured: Series
    sign_reference: Series | None
    lr: Series | None
    zeros: Series | None
    drift: np.ndarray | None
    drift_rule: str
    diverged_at: int

    @property
    def steps(self) -> int:
        """Steps drawn: those before any divergence."""
        return self.positions.shape[0] - 1

    @property
    def adaptive(self) -> bool:
        return self.sign_reference is not None


def measured_step(objective: Objective, positions: np.ndarray) -> np.ndarray:
    """``[S, D]``: ``|x_k - x_{k-1}| / |g_i(x_{k-1})|`` per step k and coordinate i, with the
    objective's exact gradient at the step's start ``positions`` ``[S+1, D]``; NaN where that
    gradient is 0 or the ratio is not finite. For gradient descent every value is the lr."""
    positions = np.asarray(positions, dtype=np.float64)
    with np.errstate(all="ignore"):
        grad = np.abs(objective.grad(positions[:-1]))
        moved = np.abs(np.diff(positions, axis=0))
        ratio = moved / grad
    return np.where(np.isfinite(ratio) & (grad > 0), ratio, np.nan)


def internals_of(result: RunResult) -> Internals:
    """The quantities of the module notes for one run recorded with ``record_state=True``."""
    traj, row = result.trajectories, result.row
    if not traj.states:
        raise OptiscopeError(
            f"{result.label} has no recorded state: run it with record_state=True "
            "(optiscope.experiments.run_specs(..., record_state=True))"
        )
    k_bad = int(traj.diverged_at[row])
    count = traj.steps if k_bad < 0 else max(k_bad - 1, 0)  # steps before the divergence
    positions = np.asarray(traj.positions[: count + 1, row], dtype=np.float64)
    states = {k: np.asarray(v[: count + 1, row], dtype=np.float64) for k, v in traj.states.items()}
    settings = dict(result.settings)
    scheduled = settings.get("schedule") not in (None, "constant")
    if traj.learning_rates is not None:
        lr_steps = np.asarray(traj.learning_rates[:count, row], dtype=np.float64)
    else:
        lr_steps = np.full(count, float(settings.get("lr", np.nan)))
    with np.errstate(all="ignore"):
        gradients = np.asarray(traj.objective.grad(positions), dtype=np.float64)
        parts = _parts(result.optimizer, settings, states, lr_steps[:, None])
        sign_ref = None
        if isinstance(result.optimizer, ADAPTIVE):
            ref = lr_steps[:, None] / np.abs(gradients[:-1])
            sign_ref = Series(
                "lr/|g|",
                "lr / |g_i|: the effective step of sign descent (every coordinate moves by lr)",
                np.where(np.isfinite(ref), ref, np.nan),
                np.arange(1, count + 1),
            )
    steps_after = np.arange(1, count + 1)
    measured = Series(
        "measured",
        "|x_k - x_(k-1)| / |g_i(x_(k-1))|: the step taken over the gradient, per coordinate",
        measured_step(traj.objective, positions),
        steps_after,
    )
    lr = None
    if scheduled:
        lr = Series("lr", f"lr of each step: {_schedule_rule(settings)}", lr_steps, steps_after)
    zeros = None
    if positions.shape[1] > 2:
        zeros = Series(
            "zeros",
            "number of parameters exactly 0 (FTRL's l1 holds w at 0 while |z| <= l1)",
            np.count_nonzero(positions == 0.0, axis=1),
            np.arange(count + 1),
        )
    return Internals(
        label=result.label,
        optimizer=result.optimizer.name,
        settings=settings,
        objective=traj.objective,
        positions=positions,
        gradients=gradients,
        velocity=parts.velocity,
        accumulators=parts.accumulators,
        other=parts.other,
        step_rule=parts.rule,
        step_measured=measured,
        sign_reference=sign_ref,
        lr=lr,
        zeros=zeros,
        drift=parts.drift,
        drift_rule=parts.drift_rule,
        diverged_at=k_bad,
    )


@dataclass(frozen=True)
class _Parts:
    velocity: tuple[Series, ...] = ()
    accumulators: tuple[Series, ...] = ()
    other: tuple[Series, ...] = ()
    rule: Series | None = None
    drift: np.ndarray | None = None
    drift_rule: str = ""


def _parts(optimizer, settings: dict[str, Any], s: dict[str, np.ndarray], lr) -> _Parts:
    """Velocity, accumulators, the step rule and the drift of one optimizer family.

    ``s[field]`` ``[S+1, D]`` is the state after each step (row 0: as initialised); ``lr``
    ``[S, 1]`` the lr of steps 1 .. S.
    """
    count = lr.shape[0]
    after = np.arange(1, count + 1)
    at = np.arange(count + 1)
    t = after[:, None].astype(np.float64)  # the step counter k of steps 1 .. S, [S, 1]
    hp = {k: _number(v) for k, v in settings.items()}

    def state(name: str, rule: str, signed: bool = False) -> Series:
        return Series(name, rule, s[name], at, signed)

    def rule(text: str, values: np.ndarray) -> Series:
        return Series("rule", text, np.broadcast_to(values, (count, _dim(s))).copy(), after)

    if isinstance(optimizer, SGD):
        mu, damp = hp["momentum"], hp["dampening"]
        nesterov, seed = bool(hp["nesterov"]), settings.get("momentum_form") == "seed"
        if mu == 0.0:
            return _Parts(rule=rule("lr: w -= lr * g (gradient descent)", lr))
        if seed:
            buf_rule = "v = mu*v + lr*g; the step is " + ("lr*g + mu*v" if nesterov else "v")
            step_text = "lr: v = mu*v + lr*g, the gradient enters the velocity at lr"
        else:
            buf_rule = f"buf = mu*buf + {_damp(damp)}g; the step is lr*" + (
                "(g + mu*buf)" if nesterov else "buf"
            )
            step_text = "lr: w -= lr * " + ("(g + mu*buf)" if nesterov else "buf")
        carry = mu * mu if nesterov else mu
        scale = np.ones_like(lr) if seed else lr
        buf = s["momentum_buffer"]
        drift = _with_zero_row(-carry * scale * buf[1:])
        what = "v" if seed else "lr*buf"
        drift_rule = (
            f"-{'mu^2' if nesterov else 'mu'}*{what}: the velocity's share of the next step"
        )
        return _Parts(
            velocity=(state("momentum_buffer", buf_rule, signed=True),),
            rule=rule(step_text, lr),
            drift=drift,
            drift_rule=drift_rule,
        )
    if isinstance(optimizer, RMSprop):
        centered, mu, eps = bool(hp["centered"]), hp["momentum"], hp["eps"]
        v, gbar = s["square_avg"][1:], s["grad_avg"][1:]
        avg = np.sqrt(v + (-float(centered) * gbar) * gbar) + eps  # the kernel's arithmetic
        acc = [state("square_avg", "v = alpha*v + (1-alpha)*g^2")]
        if centered:
            acc.append(state("grad_avg", "gbar = gbar + (1-alpha)*(g - gbar)", signed=True))
        text = "lr / (sqrt(v - gbar^2) + eps)" if centered else "lr / (sqrt(v) + eps)"
        parts = _Parts(accumulators=tuple(acc), rule=rule(text, lr / avg))
        if mu > 0.0:
            buf = s["momentum_buffer"]
            return _Parts(
                velocity=(
                    state(
                        "momentum_buffer", "buf = mu*buf + g/avg; the step is lr*buf", signed=True
                    ),
                ),  # fmt: skip
                accumulators=parts.accumulators,
                rule=rule(text + " (the multiplier of g in buf)", lr / avg),
                drift=_with_zero_row(-mu * lr * buf[1:]),
                drift_rule="-mu*lr*buf: the velocity's share of the next step",
            )
        return parts
    if isinstance(optimizer, Adam):
        b1, b2, eps, ams = hp["beta1"], hp["beta2"], hp["eps"], bool(hp["amsgrad"])
        v = s["max_exp_avg_sq" if ams else "exp_avg_sq"][1:]
        multiplier = (lr / (1.0 - b1**t)) / (np.sqrt(v) / np.sqrt(1.0 - b2**t) + eps)
        acc = [state("exp_avg_sq", "v = beta2*v + (1-beta2)*g^2")]
        if ams:
            acc.append(state("max_exp_avg_sq", "vmax = max(vmax, v)"))
        vname = "vmax" if ams else "v"
        text = f"lr/(1-beta1^k) / (sqrt({vname})/sqrt(1-beta2^k) + eps): the multiplier of m"
        m = s["exp_avg"]
        return _Parts(
            velocity=(state("exp_avg", "m = m + (1-beta1)*(g - m); the step is rule*m", True),),
            accumulators=tuple(acc),
            rule=rule(text, multiplier),
            drift=_with_zero_row(-b1 * multiplier * m[1:]),
            drift_rule="-beta1*rule*m: the first moment's share of the next step",
        )
    if isinstance(optimizer, Adagrad):
        clr = lr / (1.0 + (t - 1.0) * hp["lr_decay"])
        text = "lr / (sqrt(sum) + eps)"
        if hp["lr_decay"]:
            text = "lr/(1 + (k-1)*lr_decay) / (sqrt(sum) + eps)"
        return _Parts(
            accumulators=(state("sum", "sum = sum + g^2 (from initial_accumulator_value)"),),
            rule=rule(text, clr / (np.sqrt(s["sum"][1:]) + hp["eps"])),
        )
    if isinstance(optimizer, Adadelta):
        eps = hp["eps"]
        u_before, v = s["acc_delta"][:-1], s["square_avg"][1:]
        return _Parts(
            accumulators=(
                state("square_avg", "v = rho*v + (1-rho)*g^2"),
                state("acc_delta", "u = rho*u + (1-rho)*delta^2 (delta = step / lr)"),
            ),
            rule=rule(
                "lr * sqrt(u + eps) / sqrt(v + eps)",
                lr * (np.sqrt(u_before + eps) / np.sqrt(v + eps)),
            ),
        )
    if isinstance(optimizer, Ftrl):
        n = s["accumulator"][1:]
        q = power_of(n, -hp["lr_power"]) / lr + 2.0 * (hp["l2"] + hp["beta"] / (2.0 * lr))
        root = "sqrt(n)" if hp["lr_power"] == -0.5 else "n^(-lr_power)"
        text = f"lr / ({root} + beta + 2*l2*lr): 1/q in w = (clip(z,-l1,l1) - z)/q"
        return _Parts(
            accumulators=(
                state("accumulator", "n = n + g^2 (from initial_accumulator_value)"),
                state("linear", "z = z + g - sigma*w (w = 0 while |z| <= l1)", signed=True),
            ),
            rule=rule(text, 1.0 / q),
        )
    meanings = getattr(optimizer, "state_meanings", {})
    other = tuple(state(k, meanings.get(k, k), signed=True) for k in s)
    return _Parts(other=other)


def _dim(s: dict[str, np.ndarray]) -> int:
    return next(iter(s.values())).shape[1]


def _with_zero_row(values: np.ndarray) -> np.ndarray:
    """``[S, D]`` drift after steps 1 .. S, with a zero row for the start (nothing carried)."""
    return np.concatenate([np.zeros((1, values.shape[1])), values])


def _damp(dampening: float) -> str:
    return f"{1.0 - dampening:g}*" if dampening else ""


def _number(value: Any) -> Any:
    if isinstance(value, bool):
        return float(value)
    return value


def _schedule_rule(settings: dict[str, Any]) -> str:
    from optiscope.schedules import SCHEDULES

    name = str(settings.get("schedule"))
    schedule = SCHEDULES.get(name)
    if schedule is None:
        return name
    keys = ", ".join(f"{k}={settings[k]:g}" for k in schedule.keys if k in settings)
    return f"{name}, {schedule.rule}" + (f" ({keys})" if keys else "")


def settled_steps(internals: Internals, tail: int = 10) -> np.ndarray | None:
    """``[D]``: the measured effective step of each coordinate over the last ``tail`` steps,
    their median, when it has settled there (every value within 10% of it); None when the run
    is shorter than ``tail`` steps, a value is undefined (zero gradient) or has not settled."""
    values = internals.step_measured.values[-tail:]
    if len(values) < tail or not np.isfinite(values).all() or not (values > 0).all():
        return None
    middle = np.median(values, axis=0)
    if (np.abs(values / middle - 1.0) > 0.1).any():
        return None
    return middle


def effective_step_sentence(internals: Internals, names: list[str], tail: int = 10) -> str | None:
    """One plain sentence on where an adaptive optimizer's effective steps settled, measured
    over the last ``tail`` steps and set against the sign-descent reference lr/|g|; None for
    non-adaptive optimizers or when the steps have not settled (:func:`settled_steps`)."""
    settled = settled_steps(internals, tail)
    if internals.sign_reference is None or settled is None:
        return None
    reference = np.median(internals.sign_reference.values[-tail:], axis=0)
    moved = np.median(np.abs(np.diff(internals.positions[-tail - 1 :], axis=0)), axis=0)
    lr = internals.lr.values[-1] if internals.lr is not None else internals.settings["lr"]
    steps = " and ".join(f"{v:.3g} ({n})" for v, n in zip(settled, names, strict=True))
    ratio = settled / reference
    head = f"Internals: its effective steps |dx|/|g| settled to {steps}"
    if (np.abs(ratio - 1.0) <= 0.05).all():
        sizes = ", ".join(f"{v:.3g}" for v in moved)
        return (
            f"{head}: about lr/|g| in every coordinate, so it moves like sign descent, "
            f"steps of {sizes} per coordinate for lr = {float(lr):g}."
        )
    if (ratio < 0.5).all():
        return (
            f"{head}: in the end it is gradient descent with a fixed lr per coordinate, far "
            "below the sign-descent step lr/|g|."
        )
    ratios = " and ".join(f"{r:.3g}" for r in ratio)
    return f"{head}: {ratios} times lr/|g| (1 would be sign descent, a step of lr per coordinate)."
