"""Panel 3: the loss against the step, on a log scale, one line per run.

With ``f_min`` known the panel shows the gap ``f - f_min`` on a log axis: linear convergence is
a straight line whose slope is the rate, and a dotted line marks the tolerance ``1e-6`` often
used to call a run converged. Gaps of exactly 0 (or a rounding hair below) are drawn at a floor
two decades under the smallest positive gap, never at ``log(0)``. Without ``f_min`` (a saddle,
an unbounded function) the raw loss is drawn on a symlog axis, which shows negative values and
their growth too. A diverged run stops at its last good step with an ``X``; when it blew up far
above every start, the axis stops ``HEADROOM`` times above the highest start and the curve
leaves through the top (its legend label says when it diverged), so the converging runs are
not squeezed into the bottom.

A run with repeats (``RunPath.band``: several starts or noise seeds) is drawn as its median
line with a shaded band (min..max, or 10-90% from 10 runs) instead of one curve; the title
says which.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.ticker import MaxNLocator

from optiscope.objectives.base import Objective
from optiscope.plots._runs import RunPath

TOLERANCE = 1e-6
HEADROOM = 1e3  # the log axis stops this factor above the highest start (diverged runs go off)
TINY = np.finfo(np.float64).tiny


def gap_floor(gaps: Sequence[np.ndarray]) -> float:
    """Where zero gaps are drawn: two decades under the smallest positive finite gap."""
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


def draw_loss(ax: Axes, objective: Objective, paths: Sequence[RunPath]) -> None:
    """Draw one loss curve per run on ``ax`` (a median and a band for a run with repeats)."""
    f_min = objective.f_min
    curves = [_curves(p) for p in paths]
    edges = [e for _, _, low, high in curves if low is not None for e in (low, high)]
    if f_min is not None:
        with np.errstate(all="ignore"):
            ys = [y - f_min for _, y, _, _ in curves]
            edges = [e - f_min for e in edges]
        floor = gap_floor(ys + edges)
        ys = [np.where(np.isnan(y), np.nan, np.maximum(y, floor)) for y in ys]
        edges = [np.where(np.isnan(e), np.nan, np.maximum(e, floor)) for e in edges]
        ax.set_yscale("log")
        ax.set_ylabel("loss gap  f(w) − f_min  (log scale)")
        ax.set_title("Loss gap against step" + _band_note(paths))
    else:
        ys = [y for _, y, _, _ in curves]
        ax.set_yscale("symlog", linthresh=symlog_threshold(ys))
        ax.set_ylabel("loss f(w)  (symlog scale; f_min unknown)")
        ax.set_title("Loss against step" + _band_note(paths))

    ys = [np.where(np.isfinite(y), y, np.nan) for y in ys]
    edges = [np.where(np.isfinite(e), e, np.nan) for e in edges]
    top = _top(ys + edges[1::2]) if f_min is not None else None
    bands = iter(zip(edges[0::2], edges[1::2], strict=True))
    for p, (steps, _, low, _), y in zip(paths, curves, ys, strict=True):
        if low is not None:
            band_low, band_high = next(bands)
            ax.fill_between(steps, band_low, band_high, color=p.color, alpha=0.2, lw=0, gid="band")
            ax.plot(steps, y, "-", lw=1.8, color=p.color, label=p.legend_label, gid="median")
            continue
        ax.plot(steps, y, "-", lw=1.8, color=p.color, label=p.legend_label, gid="loss")
        if p.diverged and np.isfinite(y[-1]) and (top is None or y[-1] <= top):
            ax.plot(
                steps[-1],
                y[-1],
                marker="X",
                ms=11,
                color=p.color,
                mec="black",
                mew=1,
                zorder=5,
            )

    if f_min is not None:
        ax.axhline(TOLERANCE, ls=":", lw=1.3, color="0.3", label=f"tolerance {TOLERANCE:g}")
        if top is not None:
            ax.set_ylim(top=top)
    ax.set_xlabel("step")
    ax.grid(True, which="major", alpha=0.35)
    ax.set_xlim(0, max(1, *(p.steps for p in paths)))
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def _band_note(paths: Sequence[RunPath]) -> str:
    """``"\n(median of 8 runs per spec, band min..max)"`` when some run has repeats."""
    bands = [p.band for p in paths if p.band is not None]
    if not bands:
        return ""
    counts = " or ".join(str(c) for c in sorted({b.count for b in bands}))
    statistic = " or ".join(sorted({b.statistic for b in bands}))
    return f"\n(median of {counts} runs per spec, band {statistic})"
