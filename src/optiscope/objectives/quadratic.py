"""Quadratic bowls: the seed's isotropic and anisotropic functions and a rotated family.

Every function here is ``f(w) = w^T A w`` with a constant symmetric ``A``, so the gradient is
``2 A w``, the Hessian ``2 A`` and the only minimizer is the origin with ``f_min = 0``.
"""

from __future__ import annotations

import numpy as np

from optiscope.objectives._build import fmt, make_objective
from optiscope.objectives.base import Objective
from optiscope.objectives.registry import Param, register

_SEED = "the seed note (docs/seed-note.md): momentum and RMSProp on a hand-written quadratic"
_THEORY = (
    "Polyak 1964, Some methods of speeding up the convergence of iteration methods, "
    "USSR Comput. Math. Math. Phys. 4(5); Goh 2017, Why Momentum Really Works, Distill"
)


def _bowl(
    name: str,
    a11: float,
    a12: float,
    a22: float,
    **meta,
) -> Objective:
    """``f = a11*w1^2 + 2*a12*w1*w2 + a22*w2^2``; gradient ``2 A w``, Hessian ``2 A``."""

    # named functions (not lambdas) so that a compiled loop can read their source
    def value(w1, w2):
        return a11 * w1 * w1 + 2.0 * a12 * w1 * w2 + a22 * w2 * w2

    def grad(w1, w2):
        return 2.0 * (a11 * w1 + a12 * w2), 2.0 * (a12 * w1 + a22 * w2)

    return make_objective(
        name,
        value=value,
        grad=grad,
        hessian=lambda w1, w2: (2.0 * a11, 2.0 * a12, 2.0 * a22),
        minimizers=[(0.0, 0.0)],
        f_min=0.0,
        **meta,
    )


@register("iso", "round bowl (the study note's isotropic case)", "w1^2 + w2^2")
def iso() -> Objective:
    """``f = w1^2 + w2^2``: Hessian ``diag(2, 2)``, condition number 1."""
    return _bowl(
        "iso",
        1.0,
        0.0,
        1.0,
        formula="w1^2 + w2^2",
        latex=r"$w_1^2 + w_2^2$",
        bounds=((-1.5, 1.5), (-1.5, 1.5)),
        start=(1.0, 1.0),
        citation=f"isotropic example of {_SEED}",
        description="round bowl: every direction has the same curvature (kappa = 1)",
    )


@register("aniso", "elongated bowl w1^2 + 8*w2^2 (the seed note's function)", "w1^2 + 8*w2^2")
def aniso() -> Objective:
    """``f = w1^2 + 8*w2^2``: Hessian ``diag(2, 16)``, condition number 8."""
    return _bowl(
        "aniso",
        1.0,
        0.0,
        8.0,
        formula="w1^2 + 8*w2^2",
        latex=r"$w_1^2 + 8 w_2^2$",
        bounds=((-1.5, 1.5), (-1.5, 1.5)),
        start=(1.0, 1.0),
        citation=f"anisotropic example of {_SEED}",
        description="elongated bowl: kappa = 8, the seed note's function",
    )


QUADRATIC_PARAMS = (
    Param(
        "kappa", 10.0, "condition number: ratio of the largest to the smallest curvature", low=1.0
    ),
    Param("angle", 30.0, "direction of the valley's long (flat) axis, degrees from the w1 axis"),
    Param(
        "scale",
        1.0,
        "overall curvature: Hessian eigenvalues are 2*scale, 2*scale*kappa",
        low=0.0,
        low_open=True,
    ),
)


@register(
    "quadratic",
    "rotated elongated bowl with a chosen condition number",
    "scale*(u1^2 + kappa*u2^2), u = R(-angle) w",
    params=QUADRATIC_PARAMS,
)
def quadratic(kappa: float = 10.0, angle: float = 30.0, scale: float = 1.0) -> Objective:
    """``f(w) = scale*(u1^2 + kappa*u2^2)`` with ``u = R(-angle) w``.

    ``u1 = cos(t)*w1 + sin(t)*w2`` and ``u2 = -sin(t)*w1 + cos(t)*w2`` (``t = angle`` in
    degrees), so the long, flat axis of the valley points along ``(cos t, sin t)`` (Hessian
    eigenvalue ``2*scale``) and the steep axis along ``(-sin t, cos t)``, i.e. at
    ``angle + 90`` degrees (eigenvalue ``2*scale*kappa``). ``quadratic:kappa=8,angle=0``
    is ``aniso``. The default start ``R(angle) (1, 1)`` excites both eigen-directions equally
    (it is ``aniso``'s start ``(1, 1)`` when ``angle = 0``).
    """
    values = {"kappa": float(kappa), "angle": float(angle), "scale": float(scale)}
    for p in QUADRATIC_PARAMS:  # the same checks as a spec, for direct Python calls
        p.convert(repr(float(values[p.name])), "quadratic")
    t = np.deg2rad(angle)
    c, s = float(np.cos(t)), float(np.sin(t))
    # A = scale * R diag(1, kappa) R^T
    a11 = scale * (c * c + kappa * s * s)
    a12 = scale * (1.0 - kappa) * c * s
    a22 = scale * (s * s + kappa * c * c)
    k, a, sc = fmt(kappa), fmt(angle), fmt(scale)
    cos_, sin_ = f"cos({a} deg)", f"sin({a} deg)"
    factor = "" if scale == 1.0 else rf"{sc}\,"
    return _bowl(
        f"quadratic:kappa={k},angle={a},scale={sc}",
        a11,
        a12,
        a22,
        formula=(
            f"{sc}*(u1^2 + {k}*u2^2), u1 = {cos_}*w1 + {sin_}*w2, u2 = -{sin_}*w1 + {cos_}*w2"
        ),
        latex=rf"${factor}(u_1^2 + {k}\,u_2^2),\ u = R({fmt(-angle)}^\circ)\,w$",
        bounds=((-2.0, 2.0), (-2.0, 2.0)),
        start=(c - s, s + c),
        citation=f"the standard model for condition-number effects: {_THEORY}",
        description=f"rotated elongated bowl: kappa = {k}, long axis at {a} degrees",
        params=values,
    )
