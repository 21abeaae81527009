"""The plotting window and the objective evaluated on a grid over it (shared by both maps)."""

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
