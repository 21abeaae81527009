"""The catalogue of named 2-D test functions, each with analytic gradient and Hessian.

Importing this module registers every function (``optiscope functions`` lists them in this
order). The quadratic bowls live in ``quadratic.py``; the classic benchmark surfaces are here.
Each docstring states the formula; metadata (bounds, minimizers, optimum, citation) is checked
by ``tests/test_objectives.py``. Minimizers without a closed form are computed at import to
full double precision by Newton steps on the analytic gradient and Hessian.
"""

from __future__ import annotations

import math

import numpy as np

from optiscope.objectives import quadratic as _quadratic  # noqa: F401  (registers the bowls)
from optiscope.objectives._build import make_objective, newton_polish
from optiscope.objectives.base import Objective
from optiscope.objectives.registry import register

_SURVEY = (
    "Jamil & Yang 2013, A literature survey of benchmark functions for global optimisation "
    "problems, Int. J. Math. Modelling and Numerical Optimisation 4(2)"
)
_SURFJ = "Surjanovic & Bingham, Virtual Library of Simulation Experiments (sfu.ca/~ssurjano)"


# ---------------------------------------------------------------- Rosenbrock
def _rosen_value(w1, w2):
    return (1.0 - w1) ** 2 + 100.0 * (w2 - w1 * w1) ** 2


def _rosen_grad(w1, w2):
    r = w2 - w1 * w1
    return -2.0 * (1.0 - w1) - 400.0 * w1 * r, 200.0 * r


def _rosen_hess(w1, w2):
    return 2.0 - 400.0 * w2 + 1200.0 * w1 * w1, -400.0 * w1, 200.0


@register("rosenbrock", "curved banana valley (a=1, b=100)", "(1 - w1)^2 + 100*(w2 - w1^2)^2")
def rosenbrock() -> Objective:
    """``f = (1 - w1)^2 + 100*(w2 - w1^2)^2``; minimum 0 at ``(1, 1)``."""
    return make_objective(
        "rosenbrock",
        formula="(1 - w1)^2 + 100*(w2 - w1^2)^2",
        latex=r"$(1 - w_1)^2 + 100\,(w_2 - w_1^2)^2$",
        value=_rosen_value,
        grad=_rosen_grad,
        hessian=_rosen_hess,
        bounds=((-2.0, 2.0), (-1.0, 3.0)),
        start=(-1.2, 1.0),
        minimizers=[(1.0, 1.0)],
        f_min=0.0,
        citation=(
            "Rosenbrock 1960, An automatic method for finding the greatest or least value of "
            f"a function, The Computer Journal 3(3); classic start (-1.2, 1); {_SURVEY}"
        ),
        description="narrow curved valley: easy to reach, slow to follow to (1, 1)",
    )


# ---------------------------------------------------------------- Beale
_BEALE_C = (1.5, 2.25, 2.625)


def _beale_value(w1, w2):
    total = 0.0  # a plain loop (not sum over a generator) so that Numba compiles it too
    for i, c in enumerate(_BEALE_C, 1):
        total = total + (c - w1 + w1 * w2**i) ** 2
    return total


def _beale_grad(w1, w2):
    g1 = g2 = 0.0
    for i, c in enumerate(_BEALE_C, 1):  # t_i = c_i - w1 + w1*w2^i
        t = c - w1 + w1 * w2**i
        g1 = g1 + 2.0 * t * (w2**i - 1.0)
        g2 = g2 + 2.0 * t * i * w1 * w2 ** (i - 1)
    return g1, g2


def _beale_hess(w1, w2):
    h11 = h12 = h22 = 0.0
    for i, c in enumerate(_BEALE_C, 1):
        t = c - w1 + w1 * w2**i
        t1, t2 = w2**i - 1.0, i * w1 * w2 ** (i - 1)  # dt/dw1, dt/dw2
        t22 = i * (i - 1) * w1 * w2 ** (i - 2) if i >= 2 else 0.0
        h11 = h11 + 2.0 * t1 * t1
        h12 = h12 + 2.0 * (t1 * t2 + t * i * w2 ** (i - 1))
        h22 = h22 + 2.0 * (t2 * t2 + t * t22)
    return h11, h12, h22


@register(
    "beale",
    "flat plateau with steep ridges near the corners",
    "(1.5 - w1 + w1*w2)^2 + (2.25 - w1 + w1*w2^2)^2 + (2.625 - w1 + w1*w2^3)^2",
)
def beale() -> Objective:
    """``f = (1.5 - w1 + w1*w2)^2 + (2.25 - w1 + w1*w2^2)^2 + (2.625 - w1 + w1*w2^3)^2``.

    Minimum 0 at ``(3, 0.5)``.
    """
    return make_objective(
        "beale",
        formula="(1.5 - w1 + w1*w2)^2 + (2.25 - w1 + w1*w2^2)^2 + (2.625 - w1 + w1*w2^3)^2",
        latex=(
            r"$(1.5 - w_1 + w_1 w_2)^2 + (2.25 - w_1 + w_1 w_2^2)^2"
            r" + (2.625 - w_1 + w_1 w_2^3)^2$"
        ),
        value=_beale_value,
        grad=_beale_grad,
        hessian=_beale_hess,
        bounds=((-4.5, 4.5), (-4.5, 4.5)),
        start=(1.0, 1.5),
        minimizers=[(3.0, 0.5)],
        f_min=0.0,
        citation=(
            "Beale 1958, On an iterative method for finding a local minimum of a function of "
            f"more than one variable, Tech. Rep. 25, Princeton University; {_SURVEY}"
        ),
        description="flat plateau and steep ridges: gradient sizes vary over many decades",
    )


# ---------------------------------------------------------------- Himmelblau
def _himmel_value(w1, w2):
    return (w1 * w1 + w2 - 11.0) ** 2 + (w1 + w2 * w2 - 7.0) ** 2


def _himmel_grad(w1, w2):
    p, q = w1 * w1 + w2 - 11.0, w1 + w2 * w2 - 7.0
    return 4.0 * w1 * p + 2.0 * q, 2.0 * p + 4.0 * w2 * q


def _himmel_hess(w1, w2):
    p, q = w1 * w1 + w2 - 11.0, w1 + w2 * w2 - 7.0
    return 4.0 * p + 8.0 * w1 * w1 + 2.0, 4.0 * (w1 + w2), 2.0 + 4.0 * q + 8.0 * w2 * w2


# (3, 2) is exact; the other three have no closed form: refine the literature guesses.
_HIMMEL_MIN = newton_polish(
    _himmel_grad,
    _himmel_hess,
    [(3.0, 2.0), (-2.805118, 3.131312), (-3.779310, -3.283186), (3.584428, -1.848126)],
)


@register("himmelblau", "four equal minima", "(w1^2 + w2 - 11)^2 + (w1 + w2^2 - 7)^2")
def himmelblau() -> Objective:
    """``f = (w1^2 + w2 - 11)^2 + (w1 + w2^2 - 7)^2``; minimum 0 at four points."""
    return make_objective(
        "himmelblau",
        formula="(w1^2 + w2 - 11)^2 + (w1 + w2^2 - 7)^2",
        latex=r"$(w_1^2 + w_2 - 11)^2 + (w_1 + w_2^2 - 7)^2$",
        value=_himmel_value,
        grad=_himmel_grad,
        hessian=_himmel_hess,
        bounds=((-5.0, 5.0), (-5.0, 5.0)),
        start=(0.0, 0.0),
        minimizers=_HIMMEL_MIN,
        f_min=0.0,
        citation=f"Himmelblau 1972, Applied Nonlinear Programming, McGraw-Hill; {_SURVEY}",
        description="four global minima: which one a run finds depends on start and optimizer",
    )


# ---------------------------------------------------------------- Booth
def _booth_value(w1, w2):
    return (w1 + 2.0 * w2 - 7.0) ** 2 + (2.0 * w1 + w2 - 5.0) ** 2


@register(
    "booth", "tilted bowl (a quadratic with kappa = 9)", "(w1 + 2*w2 - 7)^2 + (2*w1 + w2 - 5)^2"
)
def booth() -> Objective:
    """``f = (w1 + 2*w2 - 7)^2 + (2*w1 + w2 - 5)^2``; minimum 0 at ``(1, 3)``.

    A quadratic: Hessian ``[[10, 8], [8, 10]]`` with eigenvalues 2 and 18.
    """

    def grad(w1, w2):
        p, q = w1 + 2.0 * w2 - 7.0, 2.0 * w1 + w2 - 5.0
        return 2.0 * p + 4.0 * q, 4.0 * p + 2.0 * q

    return make_objective(
        "booth",
        formula="(w1 + 2*w2 - 7)^2 + (2*w1 + w2 - 5)^2",
        latex=r"$(w_1 + 2 w_2 - 7)^2 + (2 w_1 + w_2 - 5)^2$",
        value=_booth_value,
        grad=grad,
        hessian=lambda w1, w2: (10.0, 8.0, 10.0),
        bounds=((-4.0, 6.0), (-2.0, 8.0)),
        start=(-3.0, -1.0),
        minimizers=[(1.0, 3.0)],
        f_min=0.0,
        citation=f"{_SURVEY}; {_SURFJ}",
        description="bowl tilted at 45 degrees: a quadratic with kappa = 9",
    )


# ---------------------------------------------------------------- Matyas
def _matyas_value(w1, w2):
    return 0.26 * (w1 * w1 + w2 * w2) - 0.48 * w1 * w2


def _matyas_grad(w1, w2):
    return 0.52 * w1 - 0.48 * w2, 0.52 * w2 - 0.48 * w1


@register(
    "matyas",
    "flat diagonal valley (a quadratic with kappa = 25)",
    "0.26*(w1^2 + w2^2) - 0.48*w1*w2",
)
def matyas() -> Objective:
    """``f = 0.26*(w1^2 + w2^2) - 0.48*w1*w2``; minimum 0 at the origin.

    A quadratic: Hessian ``[[0.52, -0.48], [-0.48, 0.52]]`` with eigenvalues 0.04 (along the
    diagonal ``w1 = w2``) and 1.
    """
    return make_objective(
        "matyas",
        formula="0.26*(w1^2 + w2^2) - 0.48*w1*w2",
        latex=r"$0.26\,(w_1^2 + w_2^2) - 0.48\,w_1 w_2$",
        value=_matyas_value,
        grad=_matyas_grad,
        hessian=lambda w1, w2: (0.52, -0.48, 0.52),
        bounds=((-10.0, 10.0), (-10.0, 10.0)),
        start=(8.0, 2.0),
        minimizers=[(0.0, 0.0)],
        f_min=0.0,
        citation=(
            f"Matyas 1965, Random optimization, Automation and Remote Control 26(2); {_SURVEY}"
        ),
        description="shallow valley along w1 = w2: a quadratic with kappa = 25",
    )


# ---------------------------------------------------------------- saddles
def _saddle_value(w1, w2):
    return w1 * w1 - w2 * w2


def _saddle_grad(w1, w2):
    return 2.0 * w1, -2.0 * w2


def _monkey_value(w1, w2):
    return w1**3 - 3.0 * w1 * w2 * w2


def _monkey_grad(w1, w2):
    return 3.0 * (w1 * w1 - w2 * w2), -6.0 * w1 * w2


@register("saddle", "saddle point at the origin, unbounded below", "w1^2 - w2^2")
def saddle() -> Objective:
    """``f = w1^2 - w2^2``: a strict saddle at the origin, no minimum (unbounded below)."""
    return make_objective(
        "saddle",
        formula="w1^2 - w2^2",
        latex=r"$w_1^2 - w_2^2$",
        value=_saddle_value,
        grad=_saddle_grad,
        hessian=lambda w1, w2: (2.0, 0.0, -2.0),
        bounds=((-2.0, 2.0), (-2.0, 2.0)),
        start=(1.0, 0.01),
        f_min=None,
        citation=(
            "hyperbolic paraboloid, the textbook strict saddle; see Dauphin et al. 2014, "
            "Identifying and attacking the saddle point problem, arXiv 1406.2572"
        ),
        description="saddle: attracted along w1, escapes slowly along w2 from a start near w2 = 0",
    )


@register("monkey_saddle", "degenerate three-valley saddle, unbounded below", "w1^3 - 3*w1*w2^2")
def monkey_saddle() -> Objective:
    """``f = w1^3 - 3*w1*w2^2``: a degenerate saddle (zero Hessian) at the origin, no minimum."""
    return make_objective(
        "monkey_saddle",
        formula="w1^3 - 3*w1*w2^2",
        latex=r"$w_1^3 - 3 w_1 w_2^2$",
        value=_monkey_value,
        grad=_monkey_grad,
        hessian=lambda w1, w2: (6.0 * w1, -6.0 * w2, -6.0 * w1),
        bounds=((-2.0, 2.0), (-2.0, 2.0)),
        start=(1.0, 0.5),
        f_min=None,
        citation=(
            "the monkey saddle, Re((w1 + i*w2)^3); e.g. Hilbert & Cohn-Vossen 1932, "
            "Anschauliche Geometrie (Geometry and the Imagination)"
        ),
        description="three downhill valleys meet at a flat point: second-order tests see nothing",
    )


# ---------------------------------------------------------------- Rastrigin
_TWO_PI = 2.0 * math.pi


def _rastrigin_value(w1, w2):
    return 20.0 + w1 * w1 - 10.0 * np.cos(_TWO_PI * w1) + w2 * w2 - 10.0 * np.cos(_TWO_PI * w2)


def _rastrigin_grad(w1, w2):
    return (
        2.0 * w1 + 10.0 * _TWO_PI * np.sin(_TWO_PI * w1),
        2.0 * w2 + 10.0 * _TWO_PI * np.sin(_TWO_PI * w2),
    )


@register(
    "rastrigin",
    "bowl covered in a grid of local minima (A=10)",
    "20 + w1^2 - 10*cos(2*pi*w1) + w2^2 - 10*cos(2*pi*w2)",
)
def rastrigin() -> Objective:
    """``f = 20 + sum_i (w_i^2 - 10*cos(2*pi*w_i))``; minimum 0 at the origin."""
    return make_objective(
        "rastrigin",
        formula="20 + w1^2 - 10*cos(2*pi*w1) + w2^2 - 10*cos(2*pi*w2)",
        latex=r"$20 + \sum_{i=1}^{2} \left(w_i^2 - 10\cos 2\pi w_i\right)$",
        value=_rastrigin_value,
        grad=_rastrigin_grad,
        hessian=lambda w1, w2: (
            2.0 + 10.0 * _TWO_PI**2 * np.cos(_TWO_PI * w1),
            0.0,
            2.0 + 10.0 * _TWO_PI**2 * np.cos(_TWO_PI * w2),
        ),
        bounds=((-5.12, 5.12), (-5.12, 5.12)),
        start=(-4.3, 3.7),
        minimizers=[(0.0, 0.0)],
        f_min=0.0,
        citation=(
            "Rastrigin 1974, Systems of Extremal Control, Nauka (2-D form); generalised by "
            f"Muehlenbein, Schomisch & Born 1991, Parallel Computing 17; {_SURVEY}"
        ),
        description="a local minimum near every integer point: a test of escaping local traps",
    )


# ---------------------------------------------------------------- Ackley
_ACK_A, _ACK_B, _ACK_C = 20.0, 0.2, 2.0 * math.pi


def _ackley_parts(w1, w2):
    """``r = sqrt((w1^2 + w2^2)/2)``, ``r`` with 0 replaced by 1, ``E1 = exp(-b r)``, ``E2``."""
    r = np.sqrt(0.5 * (w1 * w1 + w2 * w2))
    safe_r = np.where(r > 0.0, r, 1.0)
    e1 = np.exp(-_ACK_B * r)
    e2 = np.exp(0.5 * (np.cos(_ACK_C * w1) + np.cos(_ACK_C * w2)))
    return r, safe_r, e1, e2


def _ackley_value(w1, w2):
    _, _, e1, e2 = _ackley_parts(w1, w2)
    return -_ACK_A * e1 - e2 + _ACK_A + math.e


def _ackley_grad(w1, w2):
    # d/dw_i = a*b*E1*w_i/(2 r) + (c/2)*E2*sin(c w_i); the cone term is set to 0 at r = 0
    r, safe_r, e1, e2 = _ackley_parts(w1, w2)
    k = np.where(r > 0.0, _ACK_A * _ACK_B * e1 / (2.0 * safe_r), 0.0)
    half_c = 0.5 * _ACK_C
    return k * w1 + half_c * e2 * np.sin(_ACK_C * w1), k * w2 + half_c * e2 * np.sin(_ACK_C * w2)


def _ackley_hess(w1, w2):
    # cone term: k*delta_ij - (a*b/4)*E1*(b r + 1)*w_i*w_j/r^3, k = a*b*E1/(2 r) (+inf at r = 0)
    # cosine term: (c^2/2)*E2*cos(c w_i)*delta_ij - (c^2/4)*E2*sin(c w_i)*sin(c w_j)
    r, safe_r, e1, e2 = _ackley_parts(w1, w2)
    k = np.where(r > 0.0, _ACK_A * _ACK_B * e1 / (2.0 * safe_r), np.inf)
    m = 0.25 * _ACK_A * _ACK_B * e1 * (_ACK_B * r + 1.0) / safe_r**3
    s1, s2 = np.sin(_ACK_C * w1), np.sin(_ACK_C * w2)
    cc = _ACK_C * _ACK_C
    h11 = k - m * w1 * w1 + 0.5 * cc * e2 * np.cos(_ACK_C * w1) - 0.25 * cc * e2 * s1 * s1
    h22 = k - m * w2 * w2 + 0.5 * cc * e2 * np.cos(_ACK_C * w2) - 0.25 * cc * e2 * s2 * s2
    h12 = -m * w1 * w2 - 0.25 * cc * e2 * s1 * s2
    return h11, h12, h22


@register(
    "ackley",
    "nearly flat, bumpy plateau around a sharp central funnel",
    "-20*exp(-0.2*sqrt((w1^2 + w2^2)/2)) - exp((cos(2*pi*w1) + cos(2*pi*w2))/2) + 20 + e",
)
def ackley() -> Objective:
    """``f = -20*exp(-0.2*sqrt((w1^2+w2^2)/2)) - exp((cos(2 pi w1)+cos(2 pi w2))/2) + 20 + e``.

    Minimum 0 at the origin, where ``f`` has a cone point (not differentiable): the gradient
    there is defined as 0 (a subgradient) and the Hessian's diagonal as ``+inf``.
    """
    return make_objective(
        "ackley",
        formula=(
            "-20*exp(-0.2*sqrt((w1^2 + w2^2)/2)) - exp((cos(2*pi*w1) + cos(2*pi*w2))/2) + 20 + e"
        ),
        latex=(
            r"$-20\,e^{-0.2\sqrt{(w_1^2 + w_2^2)/2}}"
            r" - e^{(\cos 2\pi w_1 + \cos 2\pi w_2)/2} + 20 + e$"
        ),
        value=_ackley_value,
        grad=_ackley_grad,
        hessian=_ackley_hess,
        bounds=((-5.0, 5.0), (-5.0, 5.0)),
        start=(-3.2, 2.6),
        minimizers=[(0.0, 0.0)],
        f_min=0.0,
        citation=(
            "Ackley 1987, A Connectionist Machine for Genetic Hillclimbing, Kluwer "
            f"(a=20, b=0.2, c=2*pi, the form of Baeck 1996); {_SURVEY}"
        ),
        description="many shallow local minima on a plateau, one deep funnel at the origin",
    )


# ---------------------------------------------------------------- Styblinski-Tang
def _st_grad(w1, w2):
    return 2.0 * w1**3 - 16.0 * w1 + 2.5, 2.0 * w2**3 - 16.0 * w2 + 2.5


def _st_hess(w1, w2):
    return 6.0 * w1 * w1 - 16.0, 0.0, 6.0 * w2 * w2 - 16.0


def _st_value(w1, w2):
    return 0.5 * (w1**4 - 16.0 * w1 * w1 + 5.0 * w1 + w2**4 - 16.0 * w2 * w2 + 5.0 * w2)


# each coordinate: the most negative root of 2x^3 - 16x + 2.5 (the cubic f_i' = 0), refined
_ST_X = float(min(np.roots([2.0, 0.0, -16.0, 2.5]).real))
_ST_MIN = newton_polish(_st_grad, _st_hess, [(_ST_X, _ST_X)])


@register(
    "styblinski_tang",
    "quartic with one global and three local minima",
    "(w1^4 - 16*w1^2 + 5*w1 + w2^4 - 16*w2^2 + 5*w2)/2",
)
def styblinski_tang() -> Objective:
    """``f = sum_i (w_i^4 - 16*w_i^2 + 5*w_i)/2``; minimum ``-78.3323...`` at ``(-2.9035..)^2``.

    Each coordinate's minimizer is the smallest root of ``2x^3 - 16x + 2.5 = 0``.
    """
    return make_objective(
        "styblinski_tang",
        formula="(w1^4 - 16*w1^2 + 5*w1 + w2^4 - 16*w2^2 + 5*w2)/2",
        latex=r"$\frac{1}{2}\sum_{i=1}^{2} \left(w_i^4 - 16 w_i^2 + 5 w_i\right)$",
        value=_st_value,
        grad=_st_grad,
        hessian=_st_hess,
        bounds=((-5.0, 5.0), (-5.0, 5.0)),
        start=(0.0, 0.0),
        minimizers=_ST_MIN,
        f_min=float(_st_value(_ST_MIN[0, 0], _ST_MIN[0, 1])),
        citation=(
            "Styblinski & Tang 1990, Experiments in nonconvex optimization: stochastic "
            f"approximation with function smoothing and simulated annealing, Neural Networks 3(4); "
            f"{_SURFJ}"
        ),
        description="four basins, one per sign pattern: the deepest at (-2.90, -2.90)",
    )


# ---------------------------------------------------------------- Goldstein-Price
def _gp_parts(w1, w2):
    """Factors ``A = 1 + a^2 P``, ``B = 30 + b^2 Q`` with first and second derivatives."""
    a = w1 + w2 + 1.0  # da/dw = (1, 1)
    p = 19.0 - 14.0 * w1 + 3.0 * w1 * w1 - 14.0 * w2 + 6.0 * w1 * w2 + 3.0 * w2 * w2
    p1 = p2 = -14.0 + 6.0 * w1 + 6.0 * w2  # p11 = p12 = p22 = 6
    A = 1.0 + a * a * p
    A1, A2 = 2.0 * a * p + a * a * p1, 2.0 * a * p + a * a * p2
    A11 = 2.0 * p + 4.0 * a * p1 + 6.0 * a * a
    A12 = 2.0 * p + 2.0 * a * (p1 + p2) + 6.0 * a * a
    A22 = 2.0 * p + 4.0 * a * p2 + 6.0 * a * a
    b = 2.0 * w1 - 3.0 * w2  # db/dw = (2, -3)
    q = 18.0 - 32.0 * w1 + 12.0 * w1 * w1 + 48.0 * w2 - 36.0 * w1 * w2 + 27.0 * w2 * w2
    q1, q2 = (
        -32.0 + 24.0 * w1 - 36.0 * w2,
        48.0 - 36.0 * w1 + 54.0 * w2,
    )  # q11, q12, q22 = 24, -36, 54
    B = 30.0 + b * b * q
    B1, B2 = 4.0 * b * q + b * b * q1, -6.0 * b * q + b * b * q2
    B11 = 8.0 * q + 8.0 * b * q1 + 24.0 * b * b
    B12 = -12.0 * q + 4.0 * b * q2 - 6.0 * b * q1 - 36.0 * b * b
    B22 = 18.0 * q - 12.0 * b * q2 + 54.0 * b * b
    return (A, A1, A2, A11, A12, A22), (B, B1, B2, B11, B12, B22)


# indexing, not starred unpacking, so that Numba compiles these too (optiscope.fused)
def _gp_value(w1, w2):
    a, b = _gp_parts(w1, w2)
    return a[0] * b[0]


def _gp_grad(w1, w2):
    a, b = _gp_parts(w1, w2)
    A, A1, A2 = a[0], a[1], a[2]
    B, B1, B2 = b[0], b[1], b[2]
    return A1 * B + A * B1, A2 * B + A * B2


def _gp_hess(w1, w2):
    (A, A1, A2, A11, A12, A22), (B, B1, B2, B11, B12, B22) = _gp_parts(w1, w2)
    return (
        A11 * B + 2.0 * A1 * B1 + A * B11,
        A12 * B + A1 * B2 + A2 * B1 + A * B12,
        A22 * B + 2.0 * A2 * B2 + A * B22,
    )


_GP_FORMULA = (
    "(1 + (w1 + w2 + 1)^2*(19 - 14*w1 + 3*w1^2 - 14*w2 + 6*w1*w2 + 3*w2^2))"
    "*(30 + (2*w1 - 3*w2)^2*(18 - 32*w1 + 12*w1^2 + 48*w2 - 36*w1*w2 + 27*w2^2))"
)


@register(
    "goldstein_price", "product of two polynomials: huge range, several local minima", _GP_FORMULA
)
def goldstein_price() -> Objective:
    """``f = [1 + (w1+w2+1)^2 (19 - 14w1 + 3w1^2 - 14w2 + 6w1w2 + 3w2^2)]
    * [30 + (2w1-3w2)^2 (18 - 32w1 + 12w1^2 + 48w2 - 36w1w2 + 27w2^2)]``; minimum 3 at ``(0, -1)``.
    """
    return make_objective(
        "goldstein_price",
        formula=_GP_FORMULA,
        latex=(
            r"$[1 + (w_1 + w_2 + 1)^2 (19 - 14 w_1 + 3 w_1^2 - 14 w_2 + 6 w_1 w_2 + 3 w_2^2)]"
            r"\,[30 + (2 w_1 - 3 w_2)^2 (18 - 32 w_1 + 12 w_1^2 + 48 w_2 - 36 w_1 w_2"
            r" + 27 w_2^2)]$"
        ),
        value=_gp_value,
        grad=_gp_grad,
        hessian=_gp_hess,
        bounds=((-2.0, 2.0), (-2.0, 2.0)),
        start=(0.5, 0.5),
        minimizers=[(0.0, -1.0)],
        f_min=3.0,
        citation=(
            "Goldstein & Price 1971, On descent from local minima, Mathematics of Computation "
            f"25(115); {_SURVEY}"
        ),
        description="values span six decades inside the box: a test of step-size robustness",
    )


# ---------------------------------------------------------------- six-hump camel
def _camel_value(w1, w2):
    return (4.0 - 2.1 * w1**2 + w1**4 / 3.0) * w1**2 + w1 * w2 + (-4.0 + 4.0 * w2**2) * w2**2


def _camel_grad(w1, w2):
    return 8.0 * w1 - 8.4 * w1**3 + 2.0 * w1**5 + w2, w1 - 8.0 * w2 + 16.0 * w2**3


def _camel_hess(w1, w2):
    return 8.0 - 25.2 * w1**2 + 10.0 * w1**4, 1.0, -8.0 + 48.0 * w2**2


# f(-w) = f(w): refine one literature guess, the other minimizer is its mirror image
_CAMEL_ONE = newton_polish(_camel_grad, _camel_hess, [(0.0898, -0.7126)])[0]
_CAMEL_MIN = np.stack([_CAMEL_ONE, -_CAMEL_ONE])


@register(
    "six_hump_camel",
    "six local minima, two of them global",
    "(4 - 2.1*w1^2 + w1^4/3)*w1^2 + w1*w2 + (-4 + 4*w2^2)*w2^2",
)
def six_hump_camel() -> Objective:
    """``f = (4 - 2.1*w1^2 + w1^4/3)*w1^2 + w1*w2 + (-4 + 4*w2^2)*w2^2``.

    Minimum ``-1.0316...`` at ``+-(0.0898.., -0.7126..)``.
    """
    return make_objective(
        "six_hump_camel",
        formula="(4 - 2.1*w1^2 + w1^4/3)*w1^2 + w1*w2 + (-4 + 4*w2^2)*w2^2",
        latex=r"$(4 - 2.1 w_1^2 + w_1^4/3)\,w_1^2 + w_1 w_2 + (-4 + 4 w_2^2)\,w_2^2$",
        value=_camel_value,
        grad=_camel_grad,
        hessian=_camel_hess,
        bounds=((-2.0, 2.0), (-1.2, 1.2)),
        start=(-1.5, 1.0),
        minimizers=_CAMEL_MIN,
        f_min=float(_camel_value(_CAMEL_ONE[0], _CAMEL_ONE[1])),
        citation=(f"Dixon & Szegoe 1978, Towards Global Optimisation 2, North-Holland; {_SURVEY}"),
        description="six minima, two global and mirror images: where a run ends depends on start",
    )
