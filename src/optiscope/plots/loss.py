"""Panel 3: the loss against the step, one line per run (its colour and line style).

**With ``f_min`` known** the panel shows the gap ``f - f_min`` on a log axis: linear
convergence is a straight line whose slope is the rate, and a dotted line marks the tolerance
``tol`` (1e-6 by default) used to call a run converged. The axis stops at a floor,
``loss_floor``: ``tol / 100`` (two decades under the tolerance, room enough to see who
crossed it and how steeply), or the float64 resolution of the values when that is higher
(``EPS * max(1, |f_min|, f(start))``: a gap below it is rounding, not progress). Curves that go
lower leave through the bottom, and the title says "gaps below 1e-08 not shown". Gaps of
exactly 0 are drawn under the floor (they leave through the bottom too), never at ``log(0)``.

**Without ``f_min``** (a typed formula with no minimum found, a saddle) the raw loss is drawn,
on the scale its values call for (``loss_scale``): linear when they stay within two decades of
one sign (a narrow band, where a log axis would only distort), log when they are positive and
span more, symlog when they cross zero or are negative and span more than two decades (it
shows both signs and the growth).

A diverged run stops at its last good step with an ``X``; when it blew up far above every start,
the axis stops ``HEADROOM`` times above the highest start and the curve leaves through the top
(its legend label says when it diverged), so the converging runs are not squeezed into the
bottom.

**The theory's envelope.** Where the linear theory applies (``theory_rate``: gradient descent,
heavy ball or Nesterov with a constant lr, no weight decay and exact gradients, on an objective
whose quadratic model is exact: the quadratic bowls and least squares), a thin dashed line in
the run's colour beside its curve shows ``C * rate^(2k)``: ``rate`` is the theory's asymptotic
factor per step of the distance to the minimizer (``theory.predicted_rate``), so the gap, a
square of the distance, shrinks by ``rate^2`` per step. ``C`` places the line on the highest
point of the measured curve's second half (above the floor) relative to that slope: it touches
the curve from above where the asymptotic rate has taken over. The line is drawn from the
curve's highest value down to the floor. Its label reads "theory: rate 0.995/step" (the note's
momentum 0.99). A critically damped setting (the theory's optimal momentum) decays like
``k * rate^k``: its curve runs ahead of the line early on and meets it late.

A run with repeats (``RunPath.band``: several starts or noise seeds) is drawn as its median
line with a shaded band (min..max, or 10-90% from 10 runs) instead of one curve; the title
says which.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.ticker import MaxNLocator

from optiscope.errors import OptiscopeError
from optiscope.objectives.base import Objective
from optiscope.plots._runs import RunPath

TOLERANCE = 1e-6
FLOOR_DECADES = 2  # the gap axis stops this many decades under the tolerance
EPS = float(np.finfo(np.float64).eps)
HEADROOM = 1e3  # the log axis stops this factor above the highest start (diverged runs go off)
TINY = np.finfo(np.float64).tiny
NARROW_DECADES = 2.0  # values within this many decades are drawn on a linear axis
ENVELOPE_POINTS = 64
ENVELOPE_STYLE = dict(ls=(0, (7, 3)), lw=1.1, alpha=0.9)


def loss_floor(objective: Objective, paths: Sequence[RunPath], tol: float = TOLERANCE) -> float:
    """The lowest gap the panel shows: ``tol / 10**FLOOR_DECADES``, or the float64 resolution
    ``EPS * max(1, |f_min|, f(start))`` of the values when that is higher (module notes)."""
    starts = [abs(float(p.losses[0])) for p in paths if len(p.losses) and np.isfinite(p.losses[0])]
    scale = max([1.0, abs(float(objective.f_min or 0.0)), *starts])
    return max(tol / 10.0**FLOOR_DECADES, EPS * scale)


def gap_floor(gaps: Sequence[np.ndarray]) -> float:
    """Two decades under the smallest positive finite gap (kept for callers; the panel itself
    draws zero gaps under its ``loss_floor``)."""
    positive = [g[np.isfinite(g) & (g > 0)] for g in gaps]
    smallest = min((float(g.min()) for g in positive if g.size), default=1.0)
    return max(TINY, smallest * 1e-2)


def symlog_threshold(values: Sequence[np.ndarray]) -> float:
    """The symlog linear range: a power of ten near the small end of the |loss| values."""
    mags = np.concatenate([np.abs(v[np.isfinite(v) & (v != 0)]) for v in values] or [np.ones(1)])
    if mags.size == 0:
        return 1.0
    t = float(np.quantile(mags, 0.05))
    return float(np.clip(10.0 ** np.floor(np.log10(t)), 1e-12, 1.0))


def loss_scale(values: Sequence[np.ndarray]) -> str:
    """``"linear"``, ``"log"`` or ``"symlog"`` for raw losses (the rule of the module notes)."""
    v = np.concatenate([np.asarray(x, dtype=np.float64).ravel() for x in values] or [np.ones(1)])
    v = v[np.isfinite(v)]
    if v.size == 0:
        return "linear"
    mags = np.abs(v[v != 0])
    if mags.size == 0:
        return "linear"
    crosses = bool(v.min() < 0 < v.max())
    small = float(np.quantile(mags, 0.05)) if crosses else float(mags.min())
    decades = math.log10(float(mags.max()) / small) if small > 0 else math.inf
    if decades <= NARROW_DECADES:
        return "linear"
    return "log" if v.min() > 0 else "symlog"


def _top(ys: Sequence[np.ndarray]) -> float | None:
    """An upper y limit when some curve climbs far above every start (a blow-up), else None."""
    starts = [float(y[0]) for y in ys if len(y) and np.isfinite(y[0])]
    highest = max((float(np.nanmax(y)) for y in ys if np.isfinite(y).any()), default=None)
    if not starts or highest is None:
        return None
    cap = max(starts) * HEADROOM
    return cap if highest > cap else None


def _curves(p: RunPath) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None]:
    """``(steps, loss, low, high)`` of a run: its own losses, or its repeats' median and band."""
    if p.band is None:
        return p.steps_drawn, p.losses, None, None
    return p.band.steps, p.band.median, p.band.low, p.band.high


def theory_rate(objective: Objective, p: RunPath) -> float | None:
    """The theory's rate per step of the distance for run ``p``, None where it does not apply.

    It applies to gradient descent, heavy ball and Nesterov (``theory.linear_setting``) with a
    constant lr, no weight decay and exact gradients, that did not diverge, on a 2-D objective
    whose local quadratic model is exact (``LocalQuadratic.quadratic``), with a rate < 1.
    """
    from optiscope.theory import linear_setting, local_model
    from optiscope.theory.adaptive import schedule_of
    from optiscope.theory.linear import predicted_rate

    if p.diverged or p.band is not None or p.stochastic or not p.settings or not p.optimizer:
        return None
    if objective.f_min is None or objective.dim != 2 or objective.hessian_fn is None:
        return None
    try:
        setting = linear_setting(p.optimizer, p.settings)
        if setting is None or setting.weight_decay != 0.0 or schedule_of(p.settings):
            return None
        model = local_model(objective, p.xy[0, :2])
        with np.errstate(all="ignore"):
            rate = predicted_rate(setting, model.eigenvalues)
    except (OptiscopeError, KeyError, TypeError, ValueError, ArithmeticError):
        return None
    if not model.quadratic or not (0.0 < rate < 1.0):
        return None
    return float(rate)


def envelope(
    steps: np.ndarray, gaps: np.ndarray, rate: float, floor: float, last: int
) -> tuple[np.ndarray, np.ndarray] | None:
    """``(k, C * rate^(2k))`` with ``C`` placed on the measured gaps (module notes), drawn
    between the steps where it is at the curve's highest gap and where it reaches the floor
    (at most from 0 to ``last``); None when the curve has no point above the floor."""
    ok = np.isfinite(gaps) & (gaps > floor)
    k, g = np.asarray(steps, dtype=np.float64)[ok], gaps[ok]
    if k.size == 0:
        return None
    late = k >= k.max() / 2
    slope = 2.0 * math.log(rate)  # log of the gap's factor per step (< 0)
    log_c = float(np.max(np.log(g[late]) - slope * k[late]))
    first = max(0.0, (math.log(float(g.max())) - log_c) / slope)
    end = min(float(last), (math.log(floor) - log_c) / slope)
    if not end > first:
        return None
    ks = np.linspace(first, end, ENVELOPE_POINTS)
    return ks, np.exp(log_c + slope * ks)


def draw_loss(
    ax: Axes,
    objective: Objective,
    paths: Sequence[RunPath],
    *,
    tol: float = TOLERANCE,
    theory: bool = True,
) -> None:
    """Draw one loss curve per run on ``ax`` (a median and a band for a run with repeats).

    ``tol``: the tolerance line and the floor (``loss_floor``); ``theory``: draw the theory's
    envelope beside the runs it applies to (``theory_rate``).
    """
    f_min = objective.f_min
    curves = [_curves(p) for p in paths]
    edges = [e for _, _, low, high in curves if low is not None for e in (low, high)]
    floor = None
    below = False
    if f_min is not None:
        with np.errstate(all="ignore"):
            ys = [y - f_min for _, y, _, _ in curves]
            edges = [e - f_min for e in edges]
        floor = loss_floor(objective, paths, tol)
        under = floor * 1e-3  # where zero gaps are drawn: off the axis, through the bottom
        below = any(bool(np.any(np.isfinite(y) & (y < floor))) for y in ys + edges)
        ys = [np.where(np.isnan(y), np.nan, np.maximum(y, under)) for y in ys]
        edges = [np.where(np.isnan(e), np.nan, np.maximum(e, under)) for e in edges]
        ax.set_yscale("log")
        ax.set_ylabel("loss gap  f(w) − f_min  (log scale)")
        head = "Loss gap against step"
        if below:
            head += f"\n(gaps below {floor:.0e} not shown)"
        ax.set_title(head + _band_note(paths))
    else:
        ys = [y for _, y, _, _ in curves]
        scale = loss_scale(_capped(ys))
        if scale == "symlog":
            ax.set_yscale("symlog", linthresh=symlog_threshold(ys))
        else:
            ax.set_yscale(scale)
        ax.set_ylabel(f"loss f(w)  ({scale} scale; f_min unknown)")
        ax.set_title("Loss against step" + _band_note(paths))

    ys = [np.where(np.isfinite(y), y, np.nan) for y in ys]
    edges = [np.where(np.isfinite(e), e, np.nan) for e in edges]
    top = _top(ys + edges[1::2]) if f_min is not None else None
    bands = iter(zip(edges[0::2], edges[1::2], strict=True))
    last = max(1, *(p.steps for p in paths))
    for p, (steps, _, low, _), y in zip(paths, curves, ys, strict=True):
        if low is not None:
            band_low, band_high = next(bands)
            ax.fill_between(steps, band_low, band_high, color=p.color, alpha=0.2, lw=0, gid="band")
            ax.plot(steps, y, ls=p.linestyle, lw=1.8, color=p.color, label=p.legend_label,
                    gid="median")  # fmt: skip
            continue
        ax.plot(steps, y, ls=p.linestyle, lw=2.0 if p.linestyle == ":" else 1.8, color=p.color,
                label=p.legend_label, gid="loss")  # fmt: skip
        if p.diverged and np.isfinite(y[-1]) and (top is None or y[-1] <= top):
            ax.plot(steps[-1], y[-1], marker="X", ms=11, color=p.color, mec="black", mew=1,
                    zorder=5)  # fmt: skip
        if theory and floor is not None:
            _draw_envelope(ax, objective, p, steps, y, floor, last)

    if f_min is not None:
        ax.axhline(tol, ls=":", lw=1.3, color="0.3", label=f"tolerance {tol:g}")
        if top is not None:
            ax.set_ylim(top=top)
        if below:
            ax.set_ylim(bottom=floor)
    ax.set_xlabel("step")
    ax.grid(True, which="major", alpha=0.35)
    ax.set_xlim(0, last)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def _draw_envelope(ax: Axes, objective: Objective, p: RunPath, steps, gaps, floor, last) -> None:
    """The theory's ``C * rate^(2k)`` beside run ``p``'s gap curve, labelled with the rate."""
    rate = theory_rate(objective, p)
    if rate is None:
        return
    found = envelope(steps, gaps, rate, floor, last)
    if found is None:
        return
    ks, env = found
    label = f"theory: rate {rate:.3g}/step"
    ax.plot(ks, env, color=p.color, label=label, gid="envelope", zorder=1.5, **ENVELOPE_STYLE)
    ax.annotate(f"{rate:.3g}/step", (ks[-1], env[-1]), xytext=(-4, 4), textcoords="offset points",
                ha="right", va="bottom", fontsize=9, color=p.color,
                gid="envelope_label")  # fmt: skip


def _capped(ys: Sequence[np.ndarray]) -> list[np.ndarray]:
    """The values that decide the scale: a blow-up beyond ``HEADROOM`` times every start's
    magnitude is left out (it leaves the axis anyway)."""
    starts = [abs(float(y[0])) for y in ys if len(y) and np.isfinite(y[0])]
    cap = max([1.0, *starts]) * HEADROOM
    return [y[np.isfinite(y) & (np.abs(y) <= cap)] for y in ys]


def _band_note(paths: Sequence[RunPath]) -> str:
    """``"\n(median of 8 runs per spec, band min..max)"`` when some run has repeats."""
    bands = [p.band for p in paths if p.band is not None]
    if not bands:
        return ""
    counts = " or ".join(str(c) for c in sorted({b.count for b in bands}))
    statistic = " or ".join(sorted({b.statistic for b in bands}))
    return f"\n(median of {counts} runs per spec, band {statistic})"
