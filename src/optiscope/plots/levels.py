"""Contour levels that show the shape of the function where the optimizer actually is.

Linear levels put almost every line on the steep walls of a bowl and none near the bottom, so
the zig-zag of gradient descent on an elongated bowl is invisible. Log-spaced levels of the gap
``f - f_min`` give the same number of lines per decade: nested ellipses all the way down, and
a zig-zag path is seen crossing them back and forth.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

LINES_PER_DECADE = 4
MAX_DECADES = 6  # the finest level is at most this many decades below the largest gap
MIN_LEVELS, MAX_LEVELS = 8, 40
HUGE = 1e200  # matplotlib's filled contours extend to +-1e250: levels must stay well inside


@dataclass(frozen=True)
class Levels:
    """Increasing contour ``values`` (in units of f), a phrase saying how they were spaced, and
    whether they straddle 0 symmetrically (f of both signs).

    ``ref`` is the value the levels are spaced above (``f_min``, or the window's lowest f;
    0 for signed levels) and ``quantity`` names ``f - ref`` (what a colour bar shows).
    """

    values: np.ndarray
    description: str
    signed: bool = False
    ref: float = 0.0
    quantity: str = "f"


def _geometric(top: float, smallest: float) -> np.ndarray:
    """Log-spaced values from ``max(smallest, top * 10**-MAX_DECADES)`` to ``top``."""
    top = min(top, HUGE)
    low = min(max(smallest, top * 10.0**-MAX_DECADES), top / 10)
    decades = np.log10(top / low)
    n = int(np.clip(round(decades * LINES_PER_DECADE) + 1, MIN_LEVELS, MAX_LEVELS))
    return np.geomspace(low, top, n)


def contour_levels(Z: np.ndarray, f_min: float | None) -> Levels | None:
    """Levels for the grid values ``Z`` (NaN = not finite); None when Z is flat or empty.

    - ``f_min`` known: log-spaced levels of ``f - f_min``;
    - unknown, and f takes both signs over the window (a saddle, an unbounded-below function):
      log-spaced levels of ``|f|`` on both sides of 0, plus 0 itself, so the level set through
      the saddle and the hyperbolas around it all show;
    - unknown, one sign: log-spaced levels of ``f - min f`` over the window.
    """
    finite = Z[np.isfinite(Z)]
    if finite.size == 0:
        return None
    z_lo, z_hi = float(finite.min()), float(finite.max())
    if not z_hi > z_lo:
        return None
    if f_min is None and z_lo < 0 < z_hi:
        top = max(-z_lo, z_hi)
        mags = np.abs(finite[finite != 0])
        pos = _geometric(top, float(mags.min()))
        values = np.concatenate([-pos[::-1], [0.0], pos])
        values = values[(values >= z_lo) & (values <= z_hi)]
        return Levels(values, "levels log-spaced in |f|, both signs", signed=True, quantity="f")
    if f_min is not None:
        ref, what = min(float(f_min), z_lo), "f − f_min"
    else:
        ref, what = z_lo, "f − min f over the window"
    gaps = finite - ref
    positive = gaps[gaps > 0]
    values = np.unique(ref + _geometric(float(positive.max()), float(positive.min())))
    values = values[np.abs(values) < HUGE * 10]
    if len(values) < 2:
        return None
    return Levels(values, f"log-spaced levels of {what}", ref=ref, quantity=what)
