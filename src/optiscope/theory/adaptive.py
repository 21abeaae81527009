"""Notes for the per-coordinate adaptive methods (RMSProp, Adam, Adagrad, Adadelta, FTRL).

They are not linear iterations, so there is no rate: only robust facts (sign descent, the
band a constant lr ends in, first-step sizes, what a diagonal preconditioner can fix).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from optiscope.tables import num
from optiscope.theory.model import LocalQuadratic

SIGN_DESCENT_MAX = 0.5  # alpha (RMSProp) or beta1 and beta2 (Adam) at or below: sign descent


def _adaptive_note(model: LocalQuadratic) -> str:
    diag = num(model.best_diagonal_kappa)
    if model.valley_angle_deg is None:
        return "round bowl (kappa = 1): nothing for a per-coordinate step size to fix"
    if model.axis_aligned:
        return (
            f"the valley is axis-aligned (flat axis at {num(model.valley_angle_deg)} deg): "
            "per-coordinate step sizes (RMSProp, Adam, Adagrad) can remove its anisotropy "
            f"(kappa {num(model.kappa)} -> {diag} after the best diagonal scaling)"
        )
    return (
        f"the valley is rotated: flat axis at {num(model.valley_angle_deg)} deg from w1, "
        f"{num(model.misalignment_deg)} deg from the nearest axis; per-coordinate step sizes "
        "(diagonal preconditioners: RMSProp, Adam, Adagrad) remove axis-aligned anisotropy "
        f"only: the best diagonal scaling leaves kappa {diag} of {num(model.kappa)}"
    )


def schedule_of(params: Mapping[str, Any]) -> str | None:
    """The learning-rate schedule's name when it changes lr during the run, else None."""
    schedule = params.get("schedule")
    return None if schedule in (None, "constant") else str(schedule)


def _no_prediction(method: str, reason: str, notes: list[str], **extra: Any) -> dict[str, Any]:
    """A run entry without predictions: every predicted value None, ``reason`` says why."""
    return {
        "method": method,
        "predicted_rate": None,
        "stable": None,
        "stable_lr_max": None,
        "oscillates": None,
        "zigzag": None,
        "per_direction": [],
        "predicted_steps_to_tol": None,
        "reason": reason,
        **extra,
        "notes": notes,
    }


def _adadelta_note(lr: float, eps: float, rho: float) -> str:
    """Adadelta's first step ``lr*sqrt(eps)/sqrt((1-rho) g^2 + eps) * g``: about
    ``lr*sqrt(eps/(1-rho))`` per coordinate when ``(1-rho) g^2 >> eps``; at ``rho = 1`` both
    running means stay 0 and every step is ``lr*g`` (plain gradient descent)."""
    if rho == 1.0:
        return (
            "rho 1: both of Adadelta's running means stay 0, so every step is "
            "lr*sqrt(eps)/sqrt(eps)*g = lr*g: plain gradient descent with lr " + num(lr)
        )
    first = lr * math.sqrt(eps / (1.0 - rho))
    size = num(first) if math.isfinite(first) else "beyond float64's range"
    return (
        f"Adadelta's first step is about lr*sqrt(eps/(1-rho)) = {size} per coordinate "
        "(its update accumulator starts at 0), then grows"
    )


def _adaptive_run(model: LocalQuadratic, name: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """Notes for a per-coordinate adaptive method: no linear rate, but two robust facts.

    Sign descent: with ``v ~ g^2`` (RMSProp ``alpha <= 0.5``; Adam ``beta1, beta2 <= 0.5``,
    ``SIGN_DESCENT_MAX``) the step is about ``lr*sign(g)`` from the start. End state: a
    normalized step does not shrink with the gradient, so RMSProp (non-centered, no momentum,
    ``eps`` much smaller than the gradient at the band) ends in a 2-cycle at ``+-lr/2`` per
    coordinate around the minimizer (step ``lr`` across), for any alpha: where the effective
    step ``lr/sqrt(v)`` reaches the edge of stability (docs/reference.md; the seed's RMSProp
    alpha = 0.1, lr = 0.1 ends at ``+-0.05``). In a rotated narrow valley it may first crawl a
    long time along the valley. The band is a constant lr's: under a learning-rate schedule
    (``schedule`` other than constant) it follows the schedule's lr, so no band is given.
    FTRL keeps per-coordinate accumulators like Adagrad (its step scale ``lr*n^lr_power``).
    """
    lr = float(params["lr"])
    schedule = schedule_of(params)
    notes = [_adaptive_note(model)]
    sign = False
    band = None
    if name == "rmsprop":
        plain = not params.get("centered") and float(params.get("momentum", 0.0)) == 0.0
        sign = plain and float(params["alpha"]) <= SIGN_DESCENT_MAX
        if plain and schedule is None and float(params["eps"]) < 0.01 * model.mu * lr / 2.0:
            band = lr / 2.0
            notes.append(
                f"constant lr: the normalized step lr*g/sqrt(v) does not shrink with g, so in the "
                f"long run (once v has forgotten the large early gradients) it settles into a "
                f"2-cycle at about +-{num(band)} (lr/2) per coordinate, a band about lr = {num(lr)} "
                f"wide, whatever alpha"
            )
        first = lr / math.sqrt(1.0 - float(params["alpha"]))
        if plain and math.isfinite(first):
            notes.append(
                f"its first step is lr*g/sqrt((1-alpha)*g^2) = lr/sqrt(1-alpha) = {num(first)} "
                f"per coordinate, whatever the gradient's size"
            )
    elif name in ("adam", "adamw"):
        b1, b2 = float(params["beta1"]), float(params["beta2"])
        sign = b1 <= SIGN_DESCENT_MAX and b2 <= SIGN_DESCENT_MAX
        if sign and b1 == 0.0 and schedule is None:
            band = lr / 2.0
    elif name == "adagrad":
        notes.append(
            "Adagrad's step lr*g/sqrt(sum g^2) only shrinks (its first step is lr*sign(g)); "
            "the final per-coordinate scaling depends on the path"
        )
    elif name == "adadelta":
        notes.append(_adadelta_note(lr, float(params["eps"]), float(params["rho"])))
    elif name == "ftrl":
        power = float(params["lr_power"])
        notes.append(
            "FTRL's per-coordinate step scale lr*n^lr_power (n = initial_accumulator_value plus "
            "the sum of g^2) only shrinks, like Adagrad's lr/sqrt(sum g^2); the final "
            "per-coordinate scaling depends on the path"
            if power < 0.0
            else "FTRL with lr_power 0: a fixed step scale lr, the gradients summed in z"
        )
    if sign:
        which = "alpha" if name == "rmsprop" else "beta1 and beta2"
        head = (
            f"sign-descent regime ({which} <= {num(SIGN_DESCENT_MAX)}): v follows g^2, so each "
            "step is about "
        )
        notes.append(
            head
            + f"lr*sign(g) = {num(lr)} per coordinate; a fixed lr cannot converge: the run ends "
            "oscillating in a band about lr wide"
            if schedule is None
            else head + f"lr_t*sign(g) per coordinate (lr_t the schedule's lr at step t, "
            f"{num(lr)} at first): the run oscillates in a band about lr_t wide"
        )
    if schedule is not None:
        notes.append(f"schedule={schedule}: the lr changes during the run, from {num(lr)}")
    reason = f"{name} adapts its per-coordinate step sizes every step: no linear rate"
    if name == "ftrl":
        reason = (
            "ftrl (follow the regularized leader) sets w from accumulated gradients with "
            "per-coordinate step sizes: no linear rate"
        )
    return _no_prediction("adaptive", reason, notes, sign_descent=sign, band_half_width=band)
