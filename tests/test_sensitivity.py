"""The comparison rule of tests/sensitivity.py on paths whose behaviour is known: a contracting
map (well-conditioned all the way), the logistic map at r = 3.9 (chaotic: a one-ulp change
doubles every step or two), a map that falls back onto a fixed point, and wrong paths that
must be caught."""

from __future__ import annotations

import numpy as np
import pytest

from sensitivity import (
    FACTOR,
    Nudge,
    check_against_spread,
    compare_with_reference,
    one_ulp_nudges,
    self_spread,
)

STEPS = 160
TOL = 1e-10
START = (0.3, 0.8)


def logistic(nudge: Nudge | None = None, r: float = 3.9, chaos_until: int = STEPS) -> np.ndarray:
    """[S+1, 2] from START: x <- r x (1 - x) on the first coordinate (r = 2.5, contracting to
    the fixed point 0.6, from step ``chaos_until`` on), y <- y / 2 on the second."""
    w = np.array(START)
    out = [w]
    for k in range(STEPS):
        if nudge is not None:
            w = nudge(k, w)
        rk = r if k < chaos_until else 2.5
        w = np.array([rk * w[0] * (1.0 - w[0]), w[1] / 2.0])
        out.append(w)
    return np.array(out)


def logistic_expanded(r: float = 3.9) -> np.ndarray:
    """The same map written r x - r x^2: equal in exact arithmetic, not in rounding."""
    x, y = START
    out = [(x, y)]
    for _ in range(STEPS):
        x, y = r * x - r * x * x, y / 2.0
        out.append((x, y))
    return np.array(out)


def _tight(ref: np.ndarray) -> np.ndarray:
    return TOL * (1 + np.abs(ref))


def test_each_nudge_moves_every_coordinate_one_ulp_the_same_way_each_time() -> None:
    x = np.array([0.3, -2.0, 1e-300])
    up, down = np.nextafter(x, np.inf), np.nextafter(x, -np.inf)
    moved = [nudge(k, x) for nudge in one_ulp_nudges() for k in range(20)]
    assert all(((m == up) | (m == down)).all() for m in moved)
    assert len({tuple(m == up) for m in moved}) > 4  # the directions vary
    again = [nudge(k, x) for nudge in one_ulp_nudges() for k in range(20)]
    assert all(np.array_equal(a, b) for a, b in zip(moved, again, strict=True))


def test_a_path_within_the_tight_tolerance_needs_no_measurement() -> None:
    calls = []

    def reference(nudge):
        calls.append(nudge)
        return logistic(nudge, r=2.5)

    ref = logistic(r=2.5)
    ours = logistic_expanded(r=2.5)
    assert 0 < np.abs(ours - ref).max() <= 1e-15  # rounding apart, within tolerance
    result = compare_with_reference(ours, ref, _tight(ref), reference, label="c", min_steps=50)
    assert result.compared == STEPS + 1 and not result.measured and calls == []


def test_the_chaotic_map_passes_on_its_measured_sensitivity() -> None:
    ref = logistic()
    ours = logistic_expanded()
    tight = _tight(ref)
    assert np.abs(ours - ref).max() > 0.1  # rounding apart at first, unrelated in the end
    assert not (np.abs(ours - ref) <= tight).all()  # a plain tight comparison fails ...
    result = compare_with_reference(  # ... the rule compares what can be compared
        ours, ref, tight, logistic, label="logistic", min_steps=20
    )
    assert result.measured and result.lost_at is not None
    assert 20 <= result.exact_steps <= result.lost_at < 100 and result.compared >= 20


def test_a_wrong_map_is_caught_where_the_reference_is_well_conditioned() -> None:
    ref = logistic()
    wrong = logistic(r=3.9 + 1e-9)
    with pytest.raises(AssertionError, match="at step 1, where the reference is well-cond"):
        compare_with_reference(wrong, ref, _tight(ref), logistic, label="r", min_steps=20)


def test_a_wrong_step_in_the_sensitive_stretch_is_caught() -> None:
    ref = logistic()
    spread = self_spread(logistic, ref)
    result = check_against_spread(ref, ref, _tight(ref), spread, label="self", min_steps=20)
    k = result.exact_steps + 2  # past the well-conditioned start, before the path is lost
    assert k < result.lost_at
    ours = ref.copy()
    ours[k, 0] += 2 * FACTOR * spread[k].max()  # off by twice the allowance
    with pytest.raises(AssertionError, match=f"at step {k}, more than {FACTOR:g} x the ref"):
        check_against_spread(ours, ref, _tight(ref), spread, label="off", min_steps=20)


def test_too_short_a_comparable_stretch_fails_and_says_why() -> None:
    ref = logistic()
    ours = logistic_expanded()
    with pytest.raises(AssertionError, match="too sensitive a case for a conformance test"):
        compare_with_reference(ours, ref, _tight(ref), logistic, label="l", min_steps=100)


def test_a_path_that_falls_back_onto_a_fixed_point_is_compared_again() -> None:
    """Chaotic for 100 steps, then r = 2.5 pulls every path onto the fixed point 0.6: the
    steps after the loss are compared again once the nudged runs agree within the tolerance."""

    def switched(nudge):
        return logistic(nudge, chaos_until=100)

    ref = switched(None)
    spread = self_spread(switched, ref)
    result = check_against_spread(ref, ref, _tight(ref), spread, label="fixed", min_steps=20)
    assert result.lost_at is not None and result.lost_at < 100
    assert result.compared > result.lost_at + 20  # the fixed point's stretch counts
    ours = ref.copy()
    ours[-1, 0] += 1e-6  # wrong at the end, where every nudged run agrees
    with pytest.raises(AssertionError, match=f"at step {STEPS}, where the reference is well"):
        check_against_spread(ours, ref, _tight(ref), spread, label="end", min_steps=20)


def test_a_path_sensitive_only_after_settling_is_caught_by_nudges_along_the_way() -> None:
    """A path that settles exactly on a fixed point absorbs a perturbation of its start, then
    turns chaotic: only perturbations along the way show it. 80 contracting steps (r = 2.5),
    then r = 3.9: the spread measured with nudges at every step grows after step 80."""

    def settle_then_chaos(nudge):
        w = np.array(START)
        out = [w]
        for k in range(STEPS):
            if nudge is not None:
                w = nudge(k, w)
            r = 2.5 if k < 80 else 3.9
            w = np.array([r * w[0] * (1.0 - w[0]), w[1] / 2.0])
            out.append(w)
        return np.array(out)

    ref = settle_then_chaos(None)
    spread = self_spread(settle_then_chaos, ref)
    assert spread[:80].max() < 1e-14 and spread[140:].max() > 1e-3
