"""The quadratic theory drawn over a sweep map (sgd, momentum, nesterov on a quadratic).

On a quadratic the methods of the sgd family are linear iterations (``optiscope.theory``): for
each ``(lr, momentum)`` the theory gives the asymptotic rate (``predicted_rate``), the largest
stable lr (``stable_lr_max``) and the best tuning (``heavy_ball_optimal``,
``nesterov_optimal``, ``gd_optimal``). Over an ``lr x momentum`` map this module draws

- the stability boundary ``lr_max(momentum)`` (heavy ball ``2(1 + momentum)/L``, Nesterov
  ``2(1 + momentum)/((1 + 2 momentum) L)``, with weight decay and dampening as the theory
  has them): to its right the iteration diverges;
- iso-rate curves of the predicted rate (``ISO_RATES``): where the distance to the minimizer
  shrinks by that factor per step;
- the optimum (lowest predicted rate) as one marker;

and over a line of lr values the predicted rate, the bound and the best lr. Everything is
computed from the theory's functions, never fitted to the measured map. The theory applies
only when the function is exactly quadratic (``local_model(...).quadratic``: the Hessian is
the same everywhere) and the lr is constant (no schedule); otherwise nothing is drawn.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
from matplotlib import patheffects
from matplotlib.axes import Axes
from matplotlib.lines import Line2D

from optiscope.errors import OptiscopeError
from optiscope.objectives.base import Objective
from optiscope.theory import (
    LocalQuadratic,
    gd_optimal,
    heavy_ball_optimal,
    linear_setting,
    local_model,
    nesterov_optimal,
    predicted_rate,
    stable_lr_max,
)

SGD_FAMILY = ("sgd", "momentum", "nesterov")
ISO_RATES = (0.5, 0.8, 0.9, 0.99)
PLANE_GRID = 160  # samples per side of the predicted-rate grid the iso-rate curves come from
LINE_GRID = 400  # samples of the boundary curve and of the 1-D predicted rate
RATE_TOP = 1.05  # the 1-D panel's rate axis stops a little above 1 (unstable: off the top)

BOUNDARY_STYLE = dict(color="black", lw=2.4, ls="-", zorder=6)
ISO_STYLE = dict(colors="white", linewidths=1.1, linestyles="--", zorder=5)
OPTIMUM_STYLE = dict(ls="none", marker="P", ms=15, color="#ff4fd8", mec="black", mew=1.3, zorder=10)
HALO = [patheffects.withStroke(linewidth=3.4, foreground="white")]
DARK_HALO = [patheffects.withStroke(linewidth=2.6, foreground="0.15")]


def quadratic_model(objective: Objective | None) -> LocalQuadratic | None:
    """The objective's quadratic model when the function IS that quadratic, else None.

    None for functions with no model (no Hessian, no strict minimum: OptiscopeError from
    ``local_model``) and for functions that are only locally quadratic (Rosenbrock): there
    the linear theory describes the last steps, not the map.
    """
    if objective is None:
        return None
    try:
        model = local_model(objective)
    except OptiscopeError:
        return None
    return model if model.quadratic else None


def applies(optimizer: str, params: Mapping[str, Any]) -> bool:
    """Whether the linear theory describes ``optimizer`` with these fixed settings: the sgd
    family at a constant lr (a schedule other than ``constant`` changes the map each step)."""
    if optimizer not in SGD_FAMILY:
        return False
    schedule = params.get("schedule")
    return schedule is None or str(schedule) in ("constant", "nan", "None", "")


def _setting(optimizer: str, params: Mapping[str, Any], lr: float, momentum: float):
    return linear_setting(optimizer, {**params, "lr": lr, "momentum": momentum})


def _momentum(params: Mapping[str, Any]) -> float:
    value = params.get("momentum", 0.0)
    return 0.0 if value is None or value != value else float(value)


def boundary_phrase(optimizer: str, params: Mapping[str, Any]) -> str:
    """The stability boundary's formula in words, for the legend."""
    if bool(params.get("nesterov")):
        return "theory: stability boundary lr = 2(1+momentum) / ((1+2 momentum) L)"
    return "theory: stability boundary lr = 2(1+momentum) / L"


def optimum(
    optimizer: str, params: Mapping[str, Any], model: LocalQuadratic
) -> tuple[float, float, float] | None:
    """``(lr, momentum, rate)`` of the best tuning for the eigenvalues the iteration sees.

    Heavy ball (``nesterov`` false) or Nesterov, for eigenvalues shifted by weight decay; a
    dampened heavy ball sees ``lr (1 - dampening)``, so its best lr is divided by that. None
    when dampening is 1 (the gradient never reaches the buffer).
    """
    wd = float(params.get("weight_decay", 0.0) or 0.0)
    mu, L = model.mu + wd, model.L + wd
    if bool(params.get("nesterov")):
        best = nesterov_optimal(mu, L)
        return best["optimal_lr"], best["optimal_momentum"], best["rate"]
    damp = 1.0 - float(params.get("dampening", 0.0) or 0.0)
    if damp <= 0.0:
        return None
    best = heavy_ball_optimal(mu, L)
    return best["optimal_lr"] / damp, best["optimal_momentum"], best["rate"]


def _samples(low: float, high: float, log: bool, n: int) -> np.ndarray:
    return np.geomspace(low, high, n) if log and low > 0 else np.linspace(low, high, n)


def draw_plane_theory(
    ax: Axes,
    lr_range: tuple[float, float, bool],
    momentum_range: tuple[float, float, bool],
    lr_on_x: bool,
    optimizer: str,
    params: Mapping[str, Any],
    model: LocalQuadratic,
) -> list[Any]:
    """Draw the boundary, the iso-rate curves and the optimum on an ``lr x momentum`` panel.

    ``*_range`` = ``(low, high, log)`` of the panel's axes (its cell edges). Returns legend
    handles. Artists carry gids ``theory_boundary``, ``theory_iso_rate``, ``theory_optimum``.
    """

    def xy(lr, momentum):
        return (lr, momentum) if lr_on_x else (momentum, lr)

    handles: list[Any] = []
    momenta = _samples(*momentum_range, LINE_GRID)
    bound = np.array([stable_lr_max(_setting(optimizer, params, 1.0, m), model.L) for m in momenta])
    finite = np.isfinite(bound)
    if finite.any():
        (line,) = ax.plot(
            *xy(bound[finite], momenta[finite]),
            gid="theory_boundary",
            label=boundary_phrase(optimizer, params),
            path_effects=HALO,
            **BOUNDARY_STYLE,
        )
        handles.append(line)

    lrs = _samples(*lr_range, PLANE_GRID)
    ms = _samples(*momentum_range, PLANE_GRID)
    rates = np.array(
        [
            [predicted_rate(_setting(optimizer, params, lr, m), model.eigenvalues) for lr in lrs]
            for m in ms
        ]
    )  # [momentum, lr]
    levels = [r for r in ISO_RATES if np.nanmin(rates) < r < np.nanmax(rates)]
    if levels:
        grid_lr, grid_m = np.meshgrid(lrs, ms)
        gx, gy = xy(grid_lr, grid_m)
        contours = ax.contour(gx, gy, rates, levels=levels, **ISO_STYLE)
        contours.set_gid("theory_iso_rate")
        contours.set_path_effects(DARK_HALO)
        labels = ax.clabel(contours, fmt=lambda r: f"{r:g}", fontsize=9, inline=True)
        for text in labels:
            text.set_color("white")
            text.set_path_effects(DARK_HALO)
        rates_text = ", ".join(f"{r:g}" for r in levels)
        handles.append(
            Line2D(
                [],
                [],
                color="white",
                ls="--",
                lw=1.1,
                path_effects=DARK_HALO,
                label=f"theory: iso-rate curves (predicted rate {rates_text})",
            )
        )

    best = optimum(optimizer, params, model)
    if best is not None:
        lr, m, rate = best
        inside = lr_range[0] <= lr <= lr_range[1] and momentum_range[0] <= m <= momentum_range[1]
        where = "" if inside else " (outside the map)"
        (mark,) = ax.plot(
            *xy([lr], [m]),
            gid="theory_optimum",
            label=f"theory optimum: lr {lr:.4g}, momentum {m:.4g} (rate {rate:.3g}){where}",
            **OPTIMUM_STYLE,
        )
        handles.append(mark)
    return handles


def draw_line_theory(
    ax: Axes,
    lr_range: tuple[float, float, bool],
    optimizer: str,
    params: Mapping[str, Any],
    model: LocalQuadratic,
    same_axis: bool,
) -> list[Any]:
    """Draw the predicted rate against lr, the stability bound and the best lr on a line plot.

    ``same_axis``: the plotted metric is the measured rate, so the prediction shares its axis;
    otherwise it gets a second y axis on the right. Returns legend handles (gids
    ``theory_rate``, ``theory_boundary``, ``theory_optimum``).
    """
    momentum = _momentum(params)
    lrs = _samples(*lr_range, LINE_GRID)
    rates = np.array(
        [predicted_rate(_setting(optimizer, params, lr, momentum), model.eigenvalues) for lr in lrs]
    )
    target = ax if same_axis else ax.twinx()
    (curve,) = target.plot(
        lrs,
        np.where(rates <= RATE_TOP, rates, np.nan),
        color="black",
        lw=1.8,
        ls="--",
        gid="theory_rate",
        label=f"theory: predicted rate (momentum {momentum:g})",
    )
    if not same_axis:
        target.set_ylim(0.0, RATE_TOP)
        target.set_ylabel("theory: predicted rate (factor per step)")
    handles = [curve]
    bound = stable_lr_max(_setting(optimizer, params, 1.0, momentum), model.L)
    if math.isfinite(bound):
        handles.append(
            ax.axvline(
                bound,
                color="black",
                lw=2.2,
                gid="theory_boundary",
                label=f"theory: stability bound lr < {bound:.4g}",
            )
        )
    best_lr = _best_lr(optimizer, params, model, lrs, rates, momentum)
    handles.append(
        ax.axvline(
            best_lr,
            color="#ff4fd8",
            lw=2.0,
            ls=":",
            gid="theory_optimum",
            label=f"theory: best lr at momentum {momentum:g}: {best_lr:.4g}",
        )
    )
    return handles


def _best_lr(optimizer, params, model, lrs, rates, momentum) -> float:
    """GD's closed form ``2/(L + mu)`` at momentum 0, else the lowest predicted rate sampled."""
    if momentum == 0.0:
        wd = float(params.get("weight_decay", 0.0) or 0.0)
        return gd_optimal(model.mu + wd, model.L + wd)["optimal_lr"]
    return float(lrs[int(np.nanargmin(rates))])
