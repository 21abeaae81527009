"""The plotting window, the objective evaluated on a grid over it, and the geometry of paths in
it: where a diverged run leaves it (``exit_path``) and where motion hides too small to see
(``hidden_motion``, ``zoom_box``: the map's zoom inset)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from optiscope.objectives.base import Objective
from optiscope.plots._runs import RunPath

MAX_EXTENSION = 3.0  # the window may grow to this many times the objective's plot box
MARGIN = 0.05  # breathing room around path points that extend the window, as a fraction
MAX_ASPECT = 1.25  # an extended window is widened on its short side up to this ratio


def view_box(objective: Objective, paths: Sequence[RunPath]) -> tuple[np.ndarray, np.ndarray]:
    """``(low, high)`` of the window, each ``[2]``: the objective's bounds, grown to hold the paths.

    Path points that are non-finite or beyond ``MAX_EXTENSION`` times the box (about its centre)
    are left outside, and so are diverged runs, which are on their way to infinity: they must not
    shrink the converging runs to a dot (they are drawn leaving the window, their ``X`` on its
    edge). A window that had
    to grow is then widened on its short side, symmetrically, until its sides are within
    ``MAX_ASPECT`` of each other: with equal aspect a 1:3 strip would waste most of a square
    panel, while the extra margin just shows more of the function.
    """
    lo = np.array([b[0] for b in objective.bounds[:2]], dtype=np.float64)
    hi = np.array([b[1] for b in objective.bounds[:2]], dtype=np.float64)
    centre, half = (lo + hi) / 2, (hi - lo) / 2
    far_lo, far_hi = centre - MAX_EXTENSION * half, centre + MAX_EXTENSION * half
    pts = np.concatenate([np.zeros((0, 2))] + [p.xy for p in paths if not p.diverged])
    pts = pts[np.isfinite(pts).all(axis=1)]
    pts = pts[((pts >= far_lo) & (pts <= far_hi)).all(axis=1)]
    if len(pts):
        p_lo, p_hi = pts.min(axis=0), pts.max(axis=0)
        pad = MARGIN * (hi - lo)
        lo = np.where(p_lo < lo, np.maximum(p_lo - pad, far_lo), lo)
        hi = np.where(p_hi > hi, np.minimum(p_hi + pad, far_hi), hi)
        grown = (p_lo < centre - half) | (p_hi > centre + half)
        if grown.any():
            side = hi - lo
            want = np.maximum(side, side.max() / MAX_ASPECT)
            mid = (lo + hi) / 2
            lo, hi = mid - want / 2, mid + want / 2
    return lo, hi


def evaluate_grid(
    objective: Objective, lo: np.ndarray, hi: np.ndarray, n: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``X, Y, Z`` ``[n, n]`` over the window; non-finite values become NaN (masked when drawn)."""
    X, Y = np.meshgrid(np.linspace(lo[0], hi[0], n), np.linspace(lo[1], hi[1], n))
    with np.errstate(all="ignore"):
        Z = np.asarray(objective.value(np.column_stack([X.ravel(), Y.ravel()])), dtype=np.float64)
    Z = Z.reshape(X.shape)
    Z[~np.isfinite(Z)] = np.nan
    return X, Y, Z


def inside(xy: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """``[n]`` bool: finite points within the window."""
    with np.errstate(invalid="ignore"):
        return np.isfinite(xy).all(axis=1) & ((xy >= lo) & (xy <= hi)).all(axis=1)


def exit_path(
    path: RunPath, lo: np.ndarray, hi: np.ndarray
) -> tuple[np.ndarray, np.ndarray | None]:
    """``(points, exit)``: a diverged run's path as drawn, cut where it first leaves the window.

    The points are the run's points up to the last one inside the window, then the point where
    the segment to the next one (its next recorded point, or for a run that left the escape box
    the point outside it, ``RunPath.beyond``) crosses the window's edge: ``exit``, where the
    figure puts the run's ``X``. ``exit`` is None when the run blew up inside the window (its
    next value was not finite: there is no direction to follow); the path then ends at its last
    good point. The window is never grown for it (``view_box`` leaves diverged runs out).
    """
    pts = path.xy[:, :2]
    if path.beyond is not None and np.isfinite(path.beyond).all():
        pts = np.concatenate([pts, path.beyond[None, :2]])
    ok = inside(pts, lo, hi)
    if ok.all() or not ok[0]:
        return path.xy[:, :2], None
    j = int(np.argmin(ok))  # the first point outside the window
    a, b = pts[j - 1], pts[j]
    if not np.isfinite(b).all():
        return pts[:j], None
    exit_point = edge_crossing(a, b, lo, hi)
    return np.concatenate([pts[:j], exit_point[None]]), exit_point


def edge_crossing(a: np.ndarray, b: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Where the segment from ``a`` (inside the window) to ``b`` (outside) crosses its edge.

    ``a + t (b - a)`` with the smallest ``t`` in ``[0, 1]`` at which a coordinate reaches its
    bound; computed on coordinates scaled by ``max(|a|, |b|)`` so that a far ``b`` (1e300) does
    not overflow ``b - a``.
    """
    scale = float(np.max(np.abs(np.concatenate([a, b])))) or 1.0
    a_s, b_s, lo_s, hi_s = a / scale, b / scale, lo / scale, hi / scale
    d = b_s - a_s
    with np.errstate(divide="ignore", invalid="ignore"):
        t_hi = np.where(b_s > hi_s, (hi_s - a_s) / d, np.inf)
        t_lo = np.where(b_s < lo_s, (lo_s - a_s) / d, np.inf)
    ts = np.concatenate([t_hi, t_lo])  # [2D]: per coordinate, reaching high then low
    first = int(np.argmin(ts))
    t = float(np.clip(ts[first], 0.0, 1.0))
    point = np.clip((a_s + t * d) * scale, lo, hi)
    dim = len(a)
    if np.isfinite(ts[first]):  # the coordinate that reaches the edge sits on it exactly
        point[first % dim] = hi[first] if first < dim else lo[first - dim]
    return point


ZOOM_SPREAD = 0.05  # a run's tail narrower than this fraction of the window hides under markers
TAIL_FRACTION = 0.25  # the tail: the last quarter of a run's points ...
MIN_TAIL = 8  # ... and at least this many (short tails of converging runs still shrink)
UNSETTLED = 0.1  # still moving: the last step is at least this fraction of the tail's spread
ZOOM_PAD = 0.25  # margin around the zoomed region, as a fraction of its side
TINY_SPREAD = 1e-9  # below this fraction of the window a tail is rounding, not motion


def hidden_motion(path: RunPath, lo: np.ndarray, hi: np.ndarray) -> np.ndarray | None:
    """The tail of a run whose last motion is too small to see on the map, else None.

    The rule (all relative to the window's sides): take the run's tail, its last quarter of
    points (at least ``MIN_TAIL``); its spread is the largest extent of the tail along an axis.
    The motion is hidden when the spread is under ``ZOOM_SPREAD`` (5%: the size of the end
    marker) yet the run has not settled: its last step is at least ``UNSETTLED`` (a tenth) of
    that spread. A run that converges (gradient descent on a bowl) takes ever smaller steps and
    is left alone; a limit cycle (RMSProp's 2-cycle of amplitude 0.05 on ``aniso``), a slow
    spiral or a noise ball keeps stepping and is zoomed on. Diverged runs never are.
    """
    if path.diverged or len(path.xy) < MIN_TAIL + 1:
        return None
    side = hi - lo
    n = max(MIN_TAIL, int(np.ceil(TAIL_FRACTION * len(path.xy))))
    tail = path.xy[-n:, :2]
    if not np.isfinite(tail).all():
        return None
    spread = float(np.max((tail.max(axis=0) - tail.min(axis=0)) / side))
    last = float(np.max(np.abs(tail[-1] - tail[-2]) / side))
    if TINY_SPREAD < spread < ZOOM_SPREAD and last >= UNSETTLED * spread:
        return tail
    return None


def zoom_box(
    paths: Sequence[RunPath], lo: np.ndarray, hi: np.ndarray, minimizers: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray] | None:
    """``(low, high)`` of a square zoom region around the hidden motion, or None.

    The region holds the tails of the runs with hidden motion (``hidden_motion``), plus the
    end points of the other converging runs and the known minimizers that lie within one
    region's side of it (the cycle is seen around the minimum it circles), with a margin of
    ``ZOOM_PAD`` on each side; it is made square (equal aspect, like the map).
    """
    tails = [t for p in paths if (t := hidden_motion(p, lo, hi)) is not None]
    if not tails:
        return None
    pts = np.concatenate(tails)
    z_lo, z_hi = pts.min(axis=0), pts.max(axis=0)
    reach = float(np.max(z_hi - z_lo))
    near = [p.xy[-1, :2] for p in paths if not p.diverged and np.isfinite(p.xy[-1, :2]).all()]
    if minimizers is not None:
        near += list(np.asarray(minimizers, dtype=np.float64).reshape(-1, 2))
    for q in near:
        if np.all(q >= z_lo - reach) and np.all(q <= z_hi + reach):
            z_lo, z_hi = np.minimum(z_lo, q), np.maximum(z_hi, q)
    centre = (z_lo + z_hi) / 2
    half = 0.5 * float(np.max(z_hi - z_lo)) * (1 + 2 * ZOOM_PAD)
    half = max(half, TINY_SPREAD * float(np.max(hi - lo)))
    return centre - half, centre + half
