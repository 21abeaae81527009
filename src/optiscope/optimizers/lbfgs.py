"""L-BFGS with an optional strong-Wolfe line search: ``lbfgs`` (torch.optim.LBFGS, batched).

One optiscope step is one L-BFGS iteration: torch.optim.LBFGS with ``max_iter=1`` per
``.step()`` call and ``max_eval=25``. All B trajectories advance together; rows that hold
different numbers of curvature pairs, or whose line searches take different numbers of trials,
are handled with per-row masks (a Python loop runs over history slots and line-search trials,
never over trajectories).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from optiscope.optimizers import _common as c
from optiscope.optimizers.base import Evaluate, HParams, HyperParam, Optimizer

MAX_EVAL = 25  # torch's max_eval per .step(); the line search may use max_eval - 1 more trials
MAX_LS = MAX_EVAL - 1  # torch: max_ls = max_eval - current_evals, with current_evals = 1
# The history is stored as [B, history_size, D] arrays and the two-loop recursion is a Python
# loop over its slots (as torch's is), so a step costs O(history_size) array operations: with
# 1000 pairs (10x torch's default of 100, more than a 2-D or data problem can use) a full-history
# step takes about 50 ms; 10000 took ten times that, and long runs crawled.
MAX_HISTORY = 1000
C1, C2 = 1e-4, 0.9  # torch's strong-Wolfe constants (sufficient decrease, curvature)
# The search's own bracket tolerance: torch's LBFGS.step does not pass its tolerance_change to
# _strong_wolfe, which keeps its default 1e-9 whatever the optimizer's setting.
LS_TOLERANCE_CHANGE = 1e-9
LINE_SEARCHES = ("none", "strong_wolfe")


class LBFGSState(NamedTuple):
    """Per-row L-BFGS memory (torch keeps the same fields in ``optimizer.state``)."""

    d: np.ndarray  # [B, D] the last direction
    t: np.ndarray  # [B, 1] the last step length (the line search's result)
    prev_flat_grad: np.ndarray  # [B, D] the gradient where the last iteration started
    H_diag: np.ndarray  # [B, 1] initial inverse-Hessian scale y.s / y.y (1 at first)  # noqa: N815
    old_dirs: np.ndarray  # [B, H, D] y pairs, oldest first (torch's name)
    old_stps: np.ndarray  # [B, H, D] s pairs, oldest first
    ro: np.ndarray  # [B, H] 1 / y.s
    count: np.ndarray  # [B, 1] pairs held (0 .. history_size)
    n_iter: np.ndarray  # [B, 1] iterations done (torch's state['n_iter'])
    stop_code: np.ndarray  # [B, 1] 0 while running; the STOP_* code once stopped for good


# Why a row stopped (``LBFGSState.stop_code``; 0: it has not). Each phrase is filled in with
# the row's settings (``str.format``) to say which tolerance it was.
STOP_TOLERANCE_GRAD = 1
STOP_TOLERANCE_CHANGE = 2
STOP_ZERO_STEP = 3
STOP_REASONS = {
    STOP_TOLERANCE_GRAD: (
        "tolerance_grad",
        "the gradient's largest entry fell to tolerance_grad {tolerance_grad:g} or below",
    ),
    STOP_TOLERANCE_CHANGE: (
        "tolerance_change",
        "the directional derivative g.d rose above -tolerance_change {tolerance_change:g}: "
        "no descent left along the L-BFGS direction",
    ),
    STOP_ZERO_STEP: (
        "zero_step",
        "the step left the point unchanged (the line search returned t = 0, or t*d vanished "
        "in rounding)",
    ),
}


def _pymax(a, b):
    """Python's ``max(a, b)``: ``a`` unless ``b > a`` (so NaN handling matches torch's code)."""
    return np.where(b > a, b, a)


def _pymin(a, b):
    """Python's ``min(a, b)``: ``a`` unless ``b < a``."""
    return np.where(b < a, b, a)


def fma(a, b, c, a_parts=None):
    """``a*b + c`` rounded once, like torch's CPU ``c.add(a, alpha=b)`` (a fused multiply-add).

    NumPy has no FMA; this emulates it with error-free transformations (Dekker's product,
    Knuth's TwoSum), so the iterates follow torch's bit for bit in practice instead of drifting
    apart by an ulp per operation (L-BFGS amplifies such drift). Falls back to ``a*b + c``
    where the emulation overflows. ``a_parts`` is ``_split(a)`` when already known.
    """
    p = a * b
    a_hi, a_lo = _split(a) if a_parts is None else a_parts
    b_hi, b_lo = _split(b)
    err = ((a_hi * b_hi - p) + a_hi * b_lo + a_lo * b_hi) + a_lo * b_lo  # p + err = a*b exactly
    s = p + c
    bb = s - p
    t = (p - (s - bb)) + (c - bb)  # s + t = p + c exactly
    fused = s + (t + err)
    finite = np.isfinite(fused)
    return fused if finite.all() else np.where(finite, fused, p + c)


def _split(a):
    """Veltkamp's split of a double into two halves of 26 bits, ``hi + lo == a``."""
    big = 134217729.0 * a  # 2**27 + 1
    hi = big - (big - a)
    return hi, a - hi


def _where_rows(use: np.ndarray, new: np.ndarray, old: np.ndarray) -> np.ndarray:
    """``np.where(use, new, old)``, skipped when every row uses ``new``."""
    return new if use.all() else np.where(use, new, old)


def _dot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise dot product of ``[B, D]`` arrays, ``[B]``."""
    return np.sum(a * b, axis=-1)


def cubic_interpolate(x1, f1, g1, x2, f2, g2, lo=None, hi=None):
    """torch's ``_cubic_interpolate``, elementwise: the minimizer of the cubic through
    ``(x1, f1, g1)`` and ``(x2, f2, g2)``, clipped to ``[lo, hi]`` (default: between x1 and x2);
    the midpoint of the bounds when the cubic has no real minimizer."""
    no = np.zeros(np.shape(x1), dtype=bool)
    bounds = None if lo is None else ((lo, no), (hi, no))
    return _cubic((x1, no), f1, g1, (x2, no), f2, g2, bounds)[0]


# torch's line search mixes Python floats (lr, 0, the losses) with 0-d tensors (anything derived
# from a gradient), and ``float / tensor`` is computed as ``reciprocal(tensor) * float``, which
# can differ from a true division in the last bit. To follow torch bit for bit, every step
# length below travels with a flag, "would be a tensor in torch", as a pair (value, flag).


def _cubic(p1, f1, g1, p2, f2, g2, bounds=None):
    """:func:`cubic_interpolate` on (value, tensor-flag) pairs; returns such a pair."""
    (x1, x1_t), (x2, x2_t) = p1, p2
    if bounds is None:
        ordered = x1 <= x2
        lo, lo_t = np.where(ordered, x1, x2), np.where(ordered, x1_t, x2_t)
        hi, hi_t = np.where(ordered, x2, x1), np.where(ordered, x2_t, x1_t)
    else:
        (lo, lo_t), (hi, hi_t) = bounds
    num, den = 3 * (f1 - f2), x1 - x2
    quotient = np.where(x1_t | x2_t, (1.0 / den) * num, num / den)
    d1 = g1 + g2 - quotient
    d2_square = d1**2 - g1 * g2
    real = d2_square >= 0
    d2 = np.sqrt(np.where(real, d2_square, 0.0))
    min_pos = np.where(
        x1 <= x2,
        x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2)),
        x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2)),
    )
    # Python's min(max(min_pos, lo), hi) returns one of its arguments, flag included.
    raised = lo > min_pos
    clipped, clipped_t = np.where(raised, lo, min_pos), np.where(raised, lo_t, True)
    capped = hi < clipped
    clipped, clipped_t = np.where(capped, hi, clipped), np.where(capped, hi_t, clipped_t)
    return (
        np.where(real, clipped, (lo + hi) / 2.0),
        np.where(real, clipped_t, lo_t | hi_t),
    )


def strong_wolfe(
    evaluate,
    active,
    x,
    t,
    d,
    f,
    g,
    gtd,
    tolerance_change=LS_TOLERANCE_CHANGE,
    t_is_tensor=None,
    max_ls=MAX_LS,
):
    """torch's ``_strong_wolfe`` (c1=1e-4, c2=0.9, cubic interpolation, zoom) on every row of
    ``active`` at once.

    Shapes: ``active`` ``[B]`` bool, ``x, d, g`` ``[B, D]``, ``t, f, gtd`` ``[B]``; ``t_is_tensor`` ``[B]`` bool says whether torch's initial ``t`` is a tensor (see
    ``_cubic``). ``evaluate`` is called on all rows (inactive and finished rows sit at ``x``)
    and only the rows still searching use the result. Returns ``(t [B], evaluations [B] int)``:
    the accepted step length and the function+gradient evaluations each row used (0 for
    inactive rows; at most ``max_ls + 1``, as in torch).
    """
    batch = x.shape[0]
    rows = np.arange(batch)
    d_norm = np.abs(d).max(axis=1)
    no = np.zeros(batch, dtype=bool)
    t_t = no if t_is_tensor is None else np.asarray(t_is_tensor, dtype=bool)

    def trial(mask, step):
        point = np.where(mask[:, None], fma(d, step[:, None], x), x)
        f_t, g_t = evaluate(point)
        return np.asarray(f_t, dtype=np.float64), np.asarray(g_t, dtype=np.float64)

    f_new, g_new = trial(active, t)
    evals = active.astype(np.int64)
    ls_iter = np.zeros(batch, dtype=np.int64)
    gtd_new = _dot(g_new, d)
    t_prev, t_prev_t, f_prev, g_prev, gtd_prev = np.zeros(batch), no, f, g, gtd
    done = np.zeros(batch, dtype=bool)
    # the bracket [B, 2]: step lengths (and tensor flags), values, gradients [B, 2, D] and
    # directional derivatives
    b = np.zeros((batch, 2))
    b_t = np.zeros((batch, 2), dtype=bool)
    bf = np.zeros((batch, 2))
    bg = np.zeros((batch, 2, x.shape[1]))
    bgtd = np.zeros((batch, 2))

    def set_bracket(mask, p0, p1, f0, f1, g0, g1, gtd0, gtd1):
        b[mask] = np.stack([p0[0], p1[0]], axis=1)[mask]
        b_t[mask] = np.stack([p0[1], p1[1]], axis=1)[mask]
        bf[mask] = np.stack([f0, f1], axis=1)[mask]
        bg[mask] = np.stack([g0, g1], axis=1)[mask]
        bgtd[mask] = np.stack([gtd0, gtd1], axis=1)[mask]

    def copy_bracket(sel, dst, src):
        """``bracket[dst] = bracket[src]`` for the rows ``sel`` (``src`` None: the new trial)."""
        r, to = rows[sel], dst[sel]
        if src is None:
            b[r, to], b_t[r, to] = t[sel], t_t[sel]
            bf[r, to], bg[r, to], bgtd[r, to] = f_new[sel], g_new[sel], gtd_new[sel]
        else:
            fr = src[sel]
            b[r, to], b_t[r, to] = b[r, fr], b_t[r, fr]
            bf[r, to], bg[r, to], bgtd[r, to] = bf[r, fr], bg[r, fr], bgtd[r, fr]

    # bracketing phase: grow t until an interval holds a point meeting the strong-Wolfe test
    searching = active.copy()
    while searching.any():
        armijo = searching & ((f_new > f + C1 * t * gtd) | ((ls_iter > 1) & (f_new >= f_prev)))
        set_bracket(
            armijo, (t_prev, t_prev_t), (t, t_t), f_prev, f_new, g_prev, g_new, gtd_prev, gtd_new
        )
        rest = searching & ~armijo
        wolfe = rest & (np.abs(gtd_new) <= -C2 * gtd)
        set_bracket(wolfe, (t, t_t), (t, t_t), f_new, f_new, g_new, g_new, gtd_new, gtd_new)
        done |= wolfe
        rest &= ~wolfe
        uphill = rest & (gtd_new >= 0)
        set_bracket(
            uphill, (t_prev, t_prev_t), (t, t_t), f_prev, f_new, g_prev, g_new, gtd_prev, gtd_new
        )
        rest &= ~uphill
        if not rest.any():
            break
        min_step = (t + 0.01 * (t - t_prev), t_t | t_prev_t)
        max_step = (t * 10, t_t)
        t_next, t_next_t = _cubic(
            (t_prev, t_prev_t), f_prev, gtd_prev, (t, t_t), f_new, gtd_new, (min_step, max_step)
        )
        t_prev, t_prev_t = np.where(rest, t, t_prev), np.where(rest, t_t, t_prev_t)
        f_prev = np.where(rest, f_new, f_prev)
        g_prev = np.where(rest[:, None], g_new, g_prev)
        gtd_prev = np.where(rest, gtd_new, gtd_prev)
        t, t_t = np.where(rest, t_next, t), np.where(rest, t_next_t, t_t)
        f_t, g_t = trial(rest, t)
        f_new = np.where(rest, f_t, f_new)
        g_new = np.where(rest[:, None], g_t, g_new)
        gtd_new = np.where(rest, _dot(g_t, d), gtd_new)
        evals += rest
        ls_iter += rest
        spent = rest & (ls_iter == max_ls)  # out of trials: bracket [0, t]
        set_bracket(spent, (0 * t, no), (t, t_t), f, f_new, g, g_new, gtd, gtd_new)
        searching = rest & ~spent

    # zoom phase: shrink the bracket until a point meets the strong-Wolfe test
    low = np.where(bf[:, 0] <= bf[:, 1], 0, 1)
    insuf_progress = np.zeros(batch, dtype=bool)
    zooming = active & ~done & (ls_iter < max_ls)
    while True:
        zooming &= ~(np.abs(b[:, 1] - b[:, 0]) * d_norm < tolerance_change)
        if not zooming.any():
            break
        t_z, t_z_t = _cubic(
            (b[:, 0], b_t[:, 0]), bf[:, 0], bgtd[:, 0], (b[:, 1], b_t[:, 1]), bf[:, 1], bgtd[:, 1]
        )
        b_max, b_min = _pymax(b[:, 0], b[:, 1]), _pymin(b[:, 0], b[:, 1])
        eps = 0.1 * (b_max - b_min)
        near = _pymin(b_max - t_z, t_z - b_min) < eps
        jump = near & (insuf_progress | (t_z >= b_max) | (t_z <= b_min))
        t_jump = np.where(np.abs(t_z - b_max) < np.abs(t_z - b_min), b_max - eps, b_min + eps)
        insuf_progress = np.where(zooming, near & ~jump, insuf_progress)
        t = np.where(zooming, np.where(jump, t_jump, t_z), t)
        t_t = np.where(zooming, np.where(jump, b_t[:, 0] | b_t[:, 1], t_z_t), t_t)
        f_t, g_t = trial(zooming, t)
        f_new = np.where(zooming, f_t, f_new)
        g_new = np.where(zooming[:, None], g_t, g_new)
        gtd_new = np.where(zooming, _dot(g_t, d), gtd_new)
        evals += zooming
        ls_iter += zooming
        high = 1 - low
        worse = zooming & ((f_new > f + C1 * t * gtd) | (f_new >= bf[rows, low]))
        copy_bracket(worse, high, None)  # Armijo fails or no lower than the low end
        low = np.where(worse, np.where(bf[:, 0] <= bf[:, 1], 0, 1), low)
        better = zooming & ~worse
        wolfe = better & (np.abs(gtd_new) <= -C2 * gtd)
        done |= wolfe
        flip = better & ~wolfe & (gtd_new * (b[rows, high] - b[rows, low]) >= 0)
        copy_bracket(flip, high, low)  # the old low end becomes the high end
        copy_bracket(better, low, None)  # the trial becomes the low end
        zooming &= ~done & (ls_iter < max_ls)

    return b[rows, low], evals


class LBFGS(Optimizer):
    """torch.optim.LBFGS (torch/optim/lbfgs.py) with ``max_iter=1, max_eval=25``, batched.

    One optiscope step is one ``.step()`` call of ``torch.optim.LBFGS(params, lr,
    max_iter=1, max_eval=25, tolerance_grad, tolerance_change, history_size, line_search_fn)``
    (torch's default ``max_eval = max_iter*5//4`` would be 1 here and leave the line search no
    evaluations). With g the gradient at the current point w and k counting iterations::

        stop (tolerance_grad) if max|g| <= tolerance_grad       (torch returns at once)
        k == 1: d = -g, H_diag = 1
        k > 1:  y = g - g_prev, s = t_prev * d_prev
                if y.s > 1e-10: store (s, y, 1/y.s), dropping the oldest pair when
                history_size are held; H_diag = y.s / y.y
                d = -H g by the two-loop recursion over the stored pairs, H_0 = H_diag * I
        t = min(1, 1/||g||_1) * lr  if k == 1 else lr         (L1 norm, first iteration only)
        stop (tolerance_change) if g.d > -tolerance_change    (no descent left)
        line_search = strong_wolfe: t from torch's strong-Wolfe search (c1=1e-4, c2=0.9,
            cubic interpolation and zoom, at most 24 + 1 trials; its bracket tolerance is
            1e-9 whatever tolerance_change is, as in torch, which does not pass it on)
        w <- w + t * d

    Defaults: lr=1, history_size=100, line_search=none, tolerance_grad=1e-7,
    tolerance_change=1e-9 (torch's; ``line_search`` is torch's ``line_search_fn``).
    Valid: lr > 0, history_size an integer in 1 .. 1000 (``MAX_HISTORY``: each step loops over
    the stored pairs, as torch does; torch has no cap), tolerances >= 0.

    **Evaluations.** A step uses the function+gradient evaluation at its starting point
    (every gradient method needs it; the engine's evaluation at the previous step's end
    supplies it) plus the line search's trials: 1 per step without a line search, 1 + trials
    with strong_wolfe. That is exactly the increment of torch's ``state['func_evals']`` in the
    same ``.step()`` call (torch re-evaluates the starting point with its closure; with
    ``max_iter=1`` it never evaluates after a fixed step). So evaluation counts compare
    honestly with the other optimizers, which use one gradient per step.

    **Stopping.** A row stops for good (``state.stop_code`` > 0; the engine reports the step
    as ``converged_at`` and the code as ``stop_codes``), stops moving and uses no more
    evaluations from the first step at which

    1. ``max|g| <= tolerance_grad`` at its start (torch's ``.step()`` returns without moving):
       code 1, ``"tolerance_grad"``;
    2. ``g.d > -tolerance_change`` (torch breaks before moving; with x unchanged, y = 0 is not
       stored, so the next call computes the same d and breaks again, forever): code 2,
       ``"tolerance_change"``; or
    3. after the first iteration, the step left w exactly unchanged (the line search returned
       t = 0, or t*d vanished in rounding): torch would repeat the identical iteration
       forever: code 3, ``"zero_step"``.

    The codes, names and phrases are ``STOP_REASONS`` (the class attribute ``stop_reasons``).
    A stop is not a convergence: test 2 in particular fires wherever the gradient is tiny, on
    a plateau or near a saddle as well as at a minimum. In each case torch would never move the
    row again, so the paths agree step for step with torch's, which keeps calling ``.step()``. torch's other tests (``max|t d| <=
    tolerance_change``, ``|loss change| < tolerance_change``) only end the inner loop of one
    ``.step()`` call, and with ``max_iter=1`` are never reached (the ``n_iter == max_iter``
    break comes first); they do not stop a row here either. Overflow or NaN is divergence,
    reported by the engine, never convergence.

    References: Nocedal, "Updating quasi-Newton matrices with limited storage", Math. Comp. 35,
    1980; Liu & Nocedal, "On the limited memory BFGS method for large scale optimization",
    Math. Programming 45, 1989; Nocedal & Wright, Numerical Optimization, 2nd ed., Alg. 7.4
    (two-loop recursion) and Alg. 3.5-3.6 (strong-Wolfe line search); torch/optim/lbfgs.py
    (ported from minFunc / torch7 optim's lswolfe.lua).
    """

    name = "lbfgs"
    summary = "limited-memory BFGS, one iteration per step, optional strong-Wolfe line search"
    reference = "torch/optim/lbfgs.py; Liu & Nocedal 1989; Nocedal & Wright Alg. 7.4, 3.5"
    hyperparams = (
        c.lr(1.0),
        HyperParam(
            "history_size",
            100,
            "curvature pairs (s, y) kept for the inverse-Hessian estimate",
            low=1,
            high=MAX_HISTORY,
            kind="int",
        ),
        HyperParam(
            "line_search",
            "none",
            "none: fixed step t = lr; strong_wolfe: torch's strong-Wolfe line search",
            kind="choice",
            choices=LINE_SEARCHES,
        ),
        HyperParam("tolerance_grad", 1e-7, "stop when max|g| <= tolerance_grad", low=0.0),
        HyperParam(
            "tolerance_change",
            1e-9,
            "stop when the directional derivative g.d > -tolerance_change",
            low=0.0,
        ),
    )
    #: code -> (name, phrase): why a row stopped (see "Stopping" above).
    stop_reasons = STOP_REASONS
    plot_state = ("d", "prev_flat_grad")
    state_meanings = {
        "d": "the L-BFGS search direction (the step is t*d)",
        "prev_flat_grad": "the gradient where the last iteration started",
    }
    evaluates = True

    def init(self, params: np.ndarray, hp: HParams) -> LBFGSState:
        batch, dim = np.shape(params)
        size = int(np.max(hp["history_size"]))
        zero = c.step_zero(params)
        return LBFGSState(
            d=c.zeros(params),
            t=zero.copy(),
            prev_flat_grad=c.zeros(params),
            H_diag=np.ones((batch, 1)),
            old_dirs=np.zeros((batch, size, dim)),
            old_stps=np.zeros((batch, size, dim)),
            ro=np.zeros((batch, size)),
            count=zero.copy(),
            n_iter=zero.copy(),
            stop_code=zero.copy(),
        )

    def step(
        self,
        evaluate: Evaluate,
        state: LBFGSState,
        params: np.ndarray,
        loss: np.ndarray,
        grad: np.ndarray,
        hp: HParams,
    ) -> tuple[np.ndarray, LBFGSState, np.ndarray]:
        """One L-BFGS iteration per row; returns (new params, new state, evaluations [B])."""
        with np.errstate(all="ignore"):
            return self._step(evaluate, state, params, loss, grad, hp)

    def _step(self, evaluate, state, params, loss, grad, hp):
        x = c.as_float64(params)  # [B, D]
        f = c.as_float64(loss).reshape(-1)  # [B]
        g = c.as_float64(grad)  # [B, D]
        lr, history_size = hp["lr"], hp["history_size"]  # [B, 1]
        tol_grad, tol_change = hp["tolerance_grad"], hp["tolerance_change"]
        finished = state.stop_code > 0  # [B, 1]
        optimal = np.abs(g).max(axis=1, keepdims=True) <= tol_grad
        runs = ~finished & ~optimal  # rows doing an iteration
        n_iter = state.n_iter + runs
        first = n_iter == 1

        # curvature pair from the last iteration, stored if y.s > 1e-10
        y = g - state.prev_flat_grad
        s = state.d * state.t
        ys = _dot(y, s)[:, None]  # [B, 1]
        store = runs & ~first & (ys > 1e-10)
        old_dirs, old_stps, ro, count = state.old_dirs, state.old_stps, state.ro, state.count
        if store.any():
            full = store & (count >= history_size)  # drop the oldest pair: shift left by one
            shift = full[:, :, None]
            old_dirs = np.where(shift, np.roll(old_dirs, -1, axis=1), old_dirs)
            old_stps = np.where(shift, np.roll(old_stps, -1, axis=1), old_stps)
            ro = np.where(full, np.roll(ro, -1, axis=1), ro)
            slot = np.where(full, history_size - 1, count).astype(np.int64)[:, 0]  # [B]
            where = np.flatnonzero(store[:, 0])
            old_dirs[where, slot[where]] = y[where]
            old_stps[where, slot[where]] = s[where]
            ro[where, slot[where]] = 1.0 / ys[where, 0]
            count = np.where(store & ~full, count + 1, count)
        H_diag = np.where(store, ys / _dot(y, y)[:, None], state.H_diag)
        H_diag = np.where(runs & first, 1.0, H_diag)

        # two-loop recursion, rows masked by the number of pairs they hold
        held = int(np.max(np.where(runs, count, 0)))
        dirs_hi, dirs_lo = _split(old_dirs[:, :held])  # [B, held, D], for the FMAs below
        stps_hi, stps_lo = _split(old_stps[:, :held])
        q = -g
        al = [np.zeros((x.shape[0], 1))] * held
        for i in range(held - 1, -1, -1):
            al[i] = _dot(old_stps[:, i], q)[:, None] * ro[:, i : i + 1]
            q_i = fma(old_dirs[:, i], -al[i], q, (dirs_hi[:, i], dirs_lo[:, i]))
            q = _where_rows(i < count, q_i, q)
        r = q * H_diag
        for i in range(held):
            be_i = _dot(old_dirs[:, i], r)[:, None] * ro[:, i : i + 1]
            r_i = fma(old_stps[:, i], al[i] - be_i, r, (stps_hi[:, i], stps_lo[:, i]))
            r = _where_rows(i < count, r_i, r)
        d = np.where(first, -g, r)

        l1 = np.sum(np.abs(g), axis=1, keepdims=True)
        t = np.where(first, _pymin(np.ones_like(l1), 1.0 / l1) * lr, lr)
        gtd = _dot(g, d)[:, None]
        flat = runs & (gtd > -tol_change)  # no descent direction left: torch breaks
        moves = runs & ~flat

        evaluations = np.where(finished, 0, 1)[:, 0]
        search = (moves & (hp["line_search"] == 1.0))[:, 0]
        if search.any():
            t_is_tensor = (first & (1.0 / l1 < 1.0))[:, 0]  # torch: min(1.0, tensor) * lr
            t_ls, ls_evals = strong_wolfe(
                evaluate, search, x, t[:, 0], d, f, g, gtd[:, 0], t_is_tensor=t_is_tensor
            )
            t = np.where(search[:, None], t_ls[:, None], t)
            evaluations = evaluations + ls_evals
        x_new = np.where(moves, fma(d, t, x), x)
        stalled = moves & ~first & (x_new == x).all(axis=1, keepdims=True)

        keep = runs  # rows that did not iterate keep their memory
        new_state = LBFGSState(
            d=np.where(keep, d, state.d),
            t=np.where(keep, t, state.t),
            prev_flat_grad=np.where(keep, g, state.prev_flat_grad),
            H_diag=np.where(keep, H_diag, state.H_diag),
            old_dirs=old_dirs,
            old_stps=old_stps,
            ro=ro,
            count=count,
            n_iter=n_iter,
            stop_code=_stop_code(state.stop_code, optimal, flat, stalled),
        )
        return x_new, new_state, evaluations


def _stop_code(old: np.ndarray, optimal, flat, stalled) -> np.ndarray:
    """The row's stop code after this step: kept once set, else the test that fired (or 0).

    The tests are exclusive within a step (a row that is ``optimal`` does not iterate, so it
    is never ``flat`` or ``stalled``); all arguments are ``[B, 1]``.
    """
    new = np.select(
        [optimal, flat, stalled], [STOP_TOLERANCE_GRAD, STOP_TOLERANCE_CHANGE, STOP_ZERO_STEP], 0
    )
    return np.where(old > 0, old, 1.0 * new)
