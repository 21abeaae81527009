"""Notes for the per-coordinate adaptive methods (RMSProp, Adam, Adagrad, Adadelta).

They are not linear iterations, so there is no rate: only robust facts (sign descent, the
band a constant lr ends in, first-step sizes, what a diagonal preconditioner can fix).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from optiscope.theory.formatting import _g
from optiscope.theory.model import LocalQuadratic

SIGN_DESCENT_MAX = 0.5  # alpha (RMSProp) or beta1 and beta2 (Adam) at or below: sign descent


def _adaptive_note(model: LocalQuadratic) -> str:
    diag = _g(model.best_diagonal_kappa)
    if model.valley_angle_deg is None:
        return "round bowl (kappa = 1): nothing for a per-coordinate step size to fix"
    if model.axis_aligned:
        return (
            f"the valley is axis-aligned (flat axis at {_g(model.valley_angle_deg)} deg): "
            "per-coordinate step sizes (RMSProp, Adam, Adagrad) can remove its anisotropy "
            f"(kappa {_g(model.kappa)} -> {diag} after the best diagonal scaling)"
        )
    return (
        f"the valley is rotated: flat axis at {_g(model.valley_angle_deg)} deg from w1, "
        f"{_g(model.misalignment_deg)} deg from the nearest axis; per-coordinate step sizes "
        "(diagonal preconditioners: RMSProp, Adam, Adagrad) remove axis-aligned anisotropy "
        f"only: the best diagonal scaling leaves kappa {diag} of {_g(model.kappa)}"
    )


def _adaptive_run(model: LocalQuadratic, name: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """Notes for a per-coordinate adaptive method: no linear rate, but two robust facts.

    Sign descent: with ``v ~ g^2`` (RMSProp ``alpha <= 0.5``; Adam ``beta1, beta2 <= 0.5``,
    ``SIGN_DESCENT_MAX``) the step is about ``lr*sign(g)`` from the start. End state: a
    normalized step does not shrink with the gradient, so RMSProp (non-centered, no momentum,
    ``eps`` much smaller than the gradient at the band) ends in a 2-cycle at ``+-lr/2`` per
    coordinate around the minimizer (step ``lr`` across), for any alpha: where the effective
    step ``lr/sqrt(v)`` reaches the edge of stability (shared/REFERENCE.md; the seed's RMSProp
    alpha = 0.1, lr = 0.1 ends at ``+-0.05``). In a rotated narrow valley it may first crawl a
    long time along the valley.
    """
    lr = float(params["lr"])
    notes = [_adaptive_note(model)]
    sign = False
    band = None
    if name == "rmsprop":
        plain = not params.get("centered") and float(params.get("momentum", 0.0)) == 0.0
        sign = plain and float(params["alpha"]) <= SIGN_DESCENT_MAX
        if plain and float(params["eps"]) < 0.01 * model.mu * lr / 2.0:
            band = lr / 2.0
            notes.append(
                f"constant lr: the normalized step lr*g/sqrt(v) does not shrink with g, so in the "
                f"long run (once v has forgotten the large early gradients) it settles into a "
                f"2-cycle at about +-{_g(band)} (lr/2) per coordinate, a band about lr = {_g(lr)} "
                f"wide, whatever alpha"
            )
        if plain:
            first = lr / math.sqrt(1.0 - float(params["alpha"]))
            notes.append(
                f"its first step is lr*g/sqrt((1-alpha)*g^2) = lr/sqrt(1-alpha) = {_g(first)} "
                f"per coordinate, whatever the gradient's size"
            )
    elif name in ("adam", "adamw"):
        b1, b2 = float(params["beta1"]), float(params["beta2"])
        sign = b1 <= SIGN_DESCENT_MAX and b2 <= SIGN_DESCENT_MAX
        if sign and b1 == 0.0:
            band = lr / 2.0
    elif name == "adagrad":
        notes.append(
            "Adagrad's step lr*g/sqrt(sum g^2) only shrinks (its first step is lr*sign(g)); "
            "the final per-coordinate scaling depends on the path"
        )
    elif name == "adadelta":
        first = float(params["lr"]) * math.sqrt(float(params["eps"]) / (1.0 - float(params["rho"])))
        notes.append(
            f"Adadelta's first step is about lr*sqrt(eps/(1-rho)) = {_g(first)} per coordinate "
            "(its update accumulator starts at 0), then grows"
        )
    if sign:
        notes.append(
            f"sign-descent regime ({'alpha' if name == 'rmsprop' else 'beta1 and beta2'} <= "
            f"{_g(SIGN_DESCENT_MAX)}): v follows g^2, so each step is about lr*sign(g) = "
            f"{_g(lr)} per coordinate; a fixed lr cannot converge: the run ends oscillating in "
            f"a band about lr wide"
        )
    return {
        "method": "adaptive",
        "predicted_rate": None,
        "stable": None,
        "stable_lr_max": None,
        "oscillates": None,
        "zigzag": None,
        "per_direction": [],
        "predicted_steps_to_tol": None,
        "reason": f"{name} adapts its per-coordinate step sizes every step: no linear rate",
        "sign_descent": sign,
        "band_half_width": band,
        "notes": notes,
    }
