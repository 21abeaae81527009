"""Data objectives: least squares and logistic regression on real data shipped with scikit-learn.

Two catalogue entries, each a loss averaged over the examples of a data set that ships inside
scikit-learn (nothing is downloaded at run time):

- ``linreg`` (least squares, diabetes: 442 patients, 10 baseline variables, target = disease
  progression one year later)::

      f(w, b) = 1/(2N) * sum_i (x_i . w + b - y_i)^2

- ``logreg`` (logistic regression, breast_cancer: 569 tumours, 30 cell-nucleus measurements,
  y_i = 1 for benign, 0 for malignant)::

      f(w, b) = 1/N * sum_i [log(1 + exp(z_i)) - y_i z_i] + l2/2 * |w|^2,   z_i = x_i . w + b

  (``log(1 + exp(z))`` as ``max(z, 0) + log1p(exp(-|z|))``, no overflow; the penalty leaves
  the bias alone, like scikit-learn's LogisticRegression).

The parameter vector is ``(w_1, ..., w_F, b)``: the weights of the chosen features, then the
bias. ``features=bmi`` (one feature) gives a 2-parameter problem ``(w, b)`` that is drawn as a
contour map like the 2-D test functions; ``features=all`` (or ``bmi+bp+s5``) gives the
full-dimensional problem (loss curves, no contour).

``scale=true`` (the default) standardizes each feature to mean 0 and variance 1 (over the data
set); ``scale=false`` keeps the raw units (``load_diabetes(scaled=False)``: bmi in kg/m^2,
blood pressure in mm Hg; the breast-cancer measurements as published). A raw feature with a
mean far from 0 couples weight and bias and stretches the valley: for ``linreg`` on raw bmi the
Hessian's condition number is about 2.6e4, standardized it is exactly 1 (a round bowl). This is
the seed note's anisotropy appearing in a real problem, and the reason practitioners scale.

The Hessians are analytic (``linreg``: ``X^T X / N``; ``logreg``: ``X^T diag(p(1-p)) X / N`` plus
``l2`` on the weights), and the minimizer is computed exactly: a least-squares solve for
``linreg``; for ``logreg`` a tightly converged scipy L-BFGS-B solve polished by Newton steps on
the analytic Hessian. With all 30 features the breast-cancer classes are linearly separable,
so without a penalty the logistic loss has no minimum (it keeps falling as the weights grow):
``l2`` defaults to 0.001 (about scikit-learn's default C=1 on this data, 1/569), and ``l2=0`` is
refused with that explanation when the chosen features separate the classes.

A minimizer is claimed only when float64 determines it: the gradient is known to about
``eps * sqrt(N) * mean|x_i|`` and that error moves the minimizer by ``error / lambda_min``
(the Hessian's lowest eigenvalue), which must stay within 1e-6 of ``max(1, |w*|)``. With
separable classes and a tiny ``l2`` the loss is flat to rounding far out (``lambda_min ~ l2``
while ``|w*|`` grows like ``log(1/l2)``), so such an ``l2`` is refused with the numbers: on
breast_cancer with all 30 standardized features ``l2=1e-11`` is certified and ``l2=1e-12``
is not (uncertainty 0.027 at ``|w*|`` = 6.3e3). ``l2`` is at most 1e6.

Data objectives also expose the examples (``inputs`` ``[N, D]`` with a last column of ones,
``targets`` ``[N]``) and ``batch_grad(x, idx)``, the gradient of the loss averaged over a
mini-batch of examples, for stochastic gradient descent (see ``optiscope.stochastic``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache, lru_cache

import numpy as np

from optiscope.errors import OptiscopeError
from optiscope.objectives.base import Objective
from optiscope.objectives.registry import Param, register
from optiscope.specs import closest_names

CHUNK = 2_000_000  # at most this many temporary numbers per chunk of rows
MINIMIZER_PRECISION = 1e-6  # a logreg minimizer must be known to this fraction of its norm
L2_MAX = 1e6  # beyond, the penalty alone shapes the loss (weights ~ 1e-7) and kappa explodes
DATA_FOR = {"linreg": ("diabetes",), "logreg": ("breast_cancer",)}  # data sets each model takes


@dataclass(frozen=True)
class DataSet:
    """A data set shipped with scikit-learn: raw inputs ``[N, F]``, targets ``[N]``, names."""

    name: str
    inputs: np.ndarray
    targets: np.ndarray
    features: tuple[str, ...]
    default_feature: str
    summary: str
    citation: str


def _normalize(name: str) -> str:
    return name.strip().lower().replace(" ", "_")


@cache
def load_dataset(name: str) -> DataSet:
    """Load ``diabetes`` (raw units) or ``breast_cancer`` from scikit-learn's bundled files."""
    from sklearn import datasets  # imported lazily: only data objectives need it

    if name == "diabetes":
        bunch = datasets.load_diabetes(scaled=False)
        default, summary = "bmi", "442 patients; y = disease progression one year after baseline"
        citation = (
            "Efron, Hastie, Johnstone & Tibshirani 2004, Least Angle Regression, Annals of "
            "Statistics 32(2); shipped with scikit-learn (sklearn.datasets.load_diabetes)"
        )
    elif name == "breast_cancer":
        bunch = datasets.load_breast_cancer()
        default, summary = "mean_radius", "569 tumours; y = 1 benign, 0 malignant"
        citation = (
            "Street, Wolberg & Mangasarian 1993, Nuclear feature extraction for breast tumor "
            "diagnosis (Wisconsin Diagnostic Breast Cancer, UCI); shipped with scikit-learn "
            "(sklearn.datasets.load_breast_cancer)"
        )
    else:  # the registry's choices stop this first; kept for direct calls
        raise OptiscopeError(f"unknown data set {name!r}; valid: diabetes, breast_cancer")
    inputs = np.array(bunch.data, dtype=np.float64)
    targets = np.array(bunch.target, dtype=np.float64)
    inputs.flags.writeable = False
    targets.flags.writeable = False
    names = tuple(_normalize(str(f)) for f in bunch.feature_names)
    return DataSet(name, inputs, targets, names, default, summary, citation)


def select_features(data: DataSet, features: str) -> tuple[str, ...]:
    """``"all"``, one feature name or names joined by ``+``; raises for unknown or repeated."""
    text = _normalize(features)
    if text == "all":
        return data.features
    chosen = tuple(part.strip() for part in text.split("+"))
    valid = f"valid: {', '.join(data.features)}, all, or names joined by '+'"
    for part in chosen:
        if part not in data.features:
            hint = closest_names(part, list(data.features))
            raise OptiscopeError(f"unknown feature {part!r} of {data.name}{hint}; {valid}")
    if len(set(chosen)) != len(chosen):
        raise OptiscopeError(f"feature given twice in {features!r}; {valid}")
    return chosen


@dataclass(frozen=True, eq=False)
class DataObjective(Objective):
    """An Objective that is an average over examples, so that mini-batches make sense.

    ``inputs`` ``[N, D]`` are the (scaled) features with a last column of ones (the bias),
    ``targets`` ``[N]``; ``model`` is ``"linreg"`` or ``"logreg"``; ``l2`` the penalty on the
    weights (not the bias); ``coordinates`` names each parameter (``w_bmi``, ..., ``b``).
    """

    inputs: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))
    targets: np.ndarray = field(default_factory=lambda: np.zeros(0))
    model: str = "linreg"
    l2: float = 0.0
    coordinates: tuple[str, ...] = ()
    condition_number: float = float("nan")

    @property
    def examples(self) -> int:
        """N, the number of examples the loss averages over."""
        return int(self.inputs.shape[0])

    def batch_grad(self, x: np.ndarray, idx: np.ndarray) -> np.ndarray:
        """Gradient of the loss averaged over examples ``idx[b]`` at ``x[b]``: ``[B, D]``.

        ``idx`` is ``[B, m]`` integer indices (row b's mini-batch); the l2 penalty is added in
        full, so the mini-batch gradient is an unbiased estimate of ``grad(x)`` and averaging
        the batches of one epoch (weighted by size) gives it back exactly, up to rounding.
        Every row is computed by the same element-wise operations whatever B is (no BLAS), so
        a row's result does not depend on the other rows.
        """
        x = self._check(x)
        idx = np.asarray(idx)
        if idx.ndim != 2 or idx.shape[0] != x.shape[0] or idx.shape[1] < 1:
            raise ValueError(f"idx must be [B, m] with B = {x.shape[0]}, got {idx.shape}")
        m = idx.shape[1]
        out = np.empty_like(x)
        rows = max(1, CHUNK // (m * self.dim))
        for s in range(0, x.shape[0], rows):
            xb, ib = x[s : s + rows], idx[s : s + rows]
            a = self.inputs[ib]  # [b, m, D]
            z = a[:, :, 0] * xb[:, :1]  # [b, m]: x_i . w + b, accumulated over D
            for d in range(1, self.dim):
                z += a[:, :, d] * xb[:, d : d + 1]
            r = _residual(self.model, z, self.targets[ib])  # dloss_i/dz_i
            for d in range(self.dim):
                out[s : s + rows, d] = np.sum(r * a[:, :, d], axis=1) / m
        return out + self.l2 * _weights_only(x)


def _weights_only(x: np.ndarray) -> np.ndarray:
    """``x`` with the bias column (the last) set to 0: the gradient of ``|w|^2 / 2``."""
    w = x.copy()
    w[:, -1] = 0.0
    return w


def _sigmoid(z: np.ndarray) -> np.ndarray:
    """``1 / (1 + exp(-z))``; exp overflowing to inf for z << 0 gives exactly 0, as it should."""
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + np.exp(-z))


def _softplus(z: np.ndarray) -> np.ndarray:
    """``log(1 + exp(z))`` without overflow: ``max(z, 0) + log1p(exp(-|z|))``."""
    return np.maximum(z, 0.0) + np.log1p(np.exp(-np.abs(z)))


def _residual(model: str, z: np.ndarray, y: np.ndarray) -> np.ndarray:
    """d(per-example loss)/dz: ``z - y`` (least squares) or ``sigmoid(z) - y`` (logistic)."""
    return z - y if model == "linreg" else _sigmoid(z) - y


def _rowwise_linear(x: np.ndarray, m: np.ndarray) -> np.ndarray:
    """``x @ m.T`` for ``x`` ``[B, K]``, ``m`` ``[J, K]`` -> ``[B, J]``, without BLAS.

    Each row goes through the same sequence of element-wise operations whatever B is (BLAS
    may block a product differently for different B), so batched runs equal looped ones bit
    for bit. A short K is accumulated term by term (``z = x . a_i``: K = D parameters);
    a long K is summed per output column (``X^T r``: K = N examples, J = D).
    """
    out = np.empty((x.shape[0], m.shape[0]))
    if m.shape[1] <= m.shape[0]:  # accumulate over the short axis K
        mt = np.ascontiguousarray(m.T)  # [K, J]
        for k in range(m.shape[1]):
            if k == 0:
                np.multiply(x[:, :1], mt[0][None, :], out=out)
            else:
                out += x[:, k : k + 1] * mt[k][None, :]
        return out
    rows = max(1, CHUNK // m.shape[1])  # sum over the long axis K, one column at a time
    for s in range(0, x.shape[0], rows):
        xs = x[s : s + rows]
        for j in range(m.shape[0]):
            out[s : s + rows, j] = np.sum(xs * m[j][None, :], axis=1)
    return out


def _row_chunks(rows: int, width: int, budget: int = 1 << 18) -> list[slice]:
    """Slices of at most ``budget // width`` rows: big grids are evaluated piece by piece."""
    step = max(1, budget // width)
    return [slice(s, s + step) for s in range(0, rows, step)]


# ---------------------------------------------------------------- design matrices and solves
def _design(data: DataSet, chosen: tuple[str, ...], scale: bool) -> np.ndarray:
    """The chosen columns (standardized when ``scale``) and a last column of ones: ``[N, D]``."""
    cols = data.inputs[:, [data.features.index(f) for f in chosen]]
    if scale:
        std = cols.std(axis=0)
        cols = (cols - cols.mean(axis=0)) / np.where(std > 0, std, 1.0)
    design = np.hstack([cols, np.ones((cols.shape[0], 1))])
    design.flags.writeable = False
    return design


def _least_squares(a: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, float]:
    """The least-squares solution of ``a w = y`` and ``f* = |a w* - y|^2 / (2N)``."""
    w, _, rank, _ = np.linalg.lstsq(a, y, rcond=None)
    if rank < a.shape[1]:
        raise OptiscopeError("these features are linearly dependent: the minimizer is not unique")
    # One step of iterative refinement on the normal equations (A w = c): exact to rounding.
    n = a.shape[0]
    hess = a.T @ a / n
    w = w - np.linalg.solve(hess, hess @ w - a.T @ y / n)
    r = a @ w - y
    return w, float(r @ r) / (2 * n)


def _logistic_functions(a: np.ndarray, y: np.ndarray, l2: float):
    """Batched value ``[B]``, gradient ``[B, D]`` and Hessian ``[B, D, D]`` of the mean logistic
    loss plus ``l2/2 |w|^2`` for points ``x`` ``[B, D]``: the one implementation, used by the
    objective and by the minimizer's solve alike."""
    n, dim = a.shape
    mask = np.ones(dim)
    mask[-1] = 0.0

    def value_fn(x: np.ndarray) -> np.ndarray:
        loss = np.empty(x.shape[0])
        for s in _row_chunks(x.shape[0], n):  # [rows, N] temporaries stay in cache
            z = _rowwise_linear(x[s], a)
            loss[s] = np.mean(_softplus(z) - y * z, axis=1)
        return loss + 0.5 * l2 * np.sum(mask * x * x, axis=1)

    def grad_fn(x: np.ndarray) -> np.ndarray:
        g = np.empty_like(x)
        for s in _row_chunks(x.shape[0], n):
            r = _sigmoid(_rowwise_linear(x[s], a)) - y  # [rows, N]
            g[s] = _rowwise_linear(r, a.T) / n
        return g + l2 * mask * x

    def hessian_fn(x: np.ndarray) -> np.ndarray:  # X^T diag(p(1-p)) X / N + l2 diag(mask)
        z = _rowwise_linear(x, a)
        s = np.exp(-np.logaddexp(0.0, z) - np.logaddexp(0.0, -z))  # p(1-p) [B, N]
        return np.einsum("bn,nd,ne->bde", s, a, a) / n + l2 * np.diag(mask)

    return value_fn, grad_fn, hessian_fn


def _separable(a: np.ndarray, y: np.ndarray) -> bool:
    """True when a hyperplane puts every example strictly on its own side (an LP feasibility)."""
    from scipy.optimize import linprog

    s = 2.0 * y - 1.0
    res = linprog(
        np.zeros(a.shape[1]),
        A_ub=-(s[:, None] * a),
        b_ub=-np.ones(a.shape[0]),
        bounds=[(None, None)] * a.shape[1],
        method="highs",
    )
    return bool(res.status == 0)


def _logistic_minimum(a: np.ndarray, y: np.ndarray, l2: float, name: str, functions) -> np.ndarray:
    """The minimizer: scipy L-BFGS-B to a tight tolerance, then Newton steps to full precision.

    Both use the objective's own batched ``functions`` (value, gradient, Hessian from
    :func:`_logistic_functions`) on ``w[None]``: one implementation of the loss.
    """
    from scipy.optimize import minimize

    if l2 == 0.0 and _separable(a, y):
        raise OptiscopeError(
            f"{name} has no minimizer: these features separate the classes, so the loss keeps "
            "falling as the weights grow; use l2 > 0 (e.g. l2=0.001, the default)"
        )
    value_fn, grad_fn, hessian_fn = functions

    def value(w: np.ndarray) -> float:
        return float(value_fn(w[None])[0])

    def grad(w: np.ndarray) -> np.ndarray:
        return grad_fn(w[None])[0]

    def hess(w: np.ndarray) -> np.ndarray:
        return hessian_fn(w[None])[0]

    res = minimize(
        value,
        np.zeros(a.shape[1]),
        jac=grad,
        method="L-BFGS-B",
        options={"gtol": 1e-12, "ftol": 1e-15, "maxiter": 20_000, "maxcor": 30},
    )
    w = res.x
    best = float(np.linalg.norm(grad(w)))
    for _ in range(20):  # Newton polish: quadratic convergence from a close start
        try:
            w_new = w - np.linalg.solve(hess(w), grad(w))
        except np.linalg.LinAlgError:  # a Hessian singular to rounding: nothing to polish
            break
        g_new = float(np.linalg.norm(grad(w_new)))
        if not g_new < best:
            break
        w, best = w_new, g_new
    if not best <= 1e-8 * max(1.0, float(np.linalg.norm(grad(np.zeros_like(w))))):
        raise OptiscopeError(
            f"{name}: the logistic solve did not converge (gradient norm {best:.3g}); "
            "try scale=true or a larger l2"
        )
    _certify_minimizer(a, y, l2, name, w, grad(w), hess(w))
    return w


def _minimizer_uncertainty(a: np.ndarray, l2: float, w: np.ndarray, g: np.ndarray, h: np.ndarray):
    """How far rounding may leave the computed minimizer ``w`` from the exact one.

    The gradient is a mean of N terms of size ``|a_i|`` (times a residual of at most 1), so it
    is known to about ``eps sqrt(N) mean|a_i|`` (plus the penalty's own rounding); a gradient
    error ``e`` moves the minimizer by ``e / lambda_min`` along the flattest direction of the
    Hessian. Returns ``(uncertainty, gradient error, lambda_min)``; the uncertainty is inf
    when the Hessian is not positive definite.
    """
    eps = float(np.finfo(np.float64).eps)
    terms = float(np.mean(np.linalg.norm(a, axis=1))) + l2 * float(np.linalg.norm(w))
    error = max(float(np.linalg.norm(g)), eps * np.sqrt(a.shape[0]) * terms)
    lowest = float(np.linalg.eigvalsh(h)[0])
    return (error / lowest if lowest > 0.0 else np.inf), error, lowest


def _certify_minimizer(
    a: np.ndarray, y: np.ndarray, l2: float, name: str, w: np.ndarray, g, h
) -> None:
    """Refuse a minimizer that rounding leaves uncertain by more than MINIMIZER_PRECISION of
    its norm (or of 1): with separable classes and a tiny l2 the loss is flat to rounding far
    out, and the computed point would be a made-up "exact" minimum."""
    uncertainty, error, lowest = _minimizer_uncertainty(a, l2, w, g, h)
    size = max(1.0, float(np.linalg.norm(w)))
    if uncertainty <= MINIMIZER_PRECISION * size:
        return
    why = (
        "the classes are separable, so only l2 holds the weights"
        if _separable(a, y)
        else "the loss is too flat there"
    )
    curvature = f"the lowest curvature is {lowest:.3g}" if lowest > 0 else "the Hessian is singular"
    raise OptiscopeError(
        f"{name}: the minimizer cannot be certified in float64 ({why}): at the computed point "
        f"(|w| = {size:.3g}) the gradient is known to {error:.2g} and {curvature}, which leaves "
        f"it uncertain by {uncertainty:.3g} (more than {MINIMIZER_PRECISION:g} of |w|); "
        "use a larger l2, e.g. 0.001 (the default)"
    )


# ---------------------------------------------------------------- building the objectives
def _bounds(minimizer: np.ndarray, start: np.ndarray) -> tuple[tuple[float, float], ...]:
    """A square plot box around the minimizer that holds the start with a margin."""
    half = 1.25 * max(1.0, float(np.max(np.abs(start - minimizer))))
    return tuple((float(c - half), float(c + half)) for c in minimizer)


def _fmt_number(v: float) -> str:
    text = f"{v:g}"
    return text if float(text) == v else repr(float(v))


@lru_cache(maxsize=64)
def build(model: str, data: str, features: str, scale: bool, l2: float) -> DataObjective:
    """The ``model`` loss on ``data`` with the chosen ``features``; cached (it is immutable)."""
    if data not in DATA_FOR[model]:
        raise OptiscopeError(
            f"unknown data set {data!r} for {model}; valid: {', '.join(DATA_FOR[model])}"
        )
    dataset = load_dataset(data)
    chosen = select_features(dataset, features)
    a = _design(dataset, chosen, scale)
    y = dataset.targets
    n, dim = a.shape
    spec_features = "all" if chosen == dataset.features else "+".join(chosen)
    name = f"{model}:data={data},features={spec_features},scale={'true' if scale else 'false'}"
    if model == "logreg":
        name += f",l2={_fmt_number(l2)}"
    how = "standardized" if scale else "raw units"
    what = chosen[0] if len(chosen) == 1 else f"{len(chosen)} features"
    start = np.zeros(dim)

    if model == "linreg":
        w_star, f_star = _least_squares(a, y)
        hess = a.T @ a / n  # [D, D]
        c = a.T @ y / n  # [D]

        def value_fn(x: np.ndarray) -> np.ndarray:  # f* + (x - w*)^T H (x - w*) / 2, exact
            d = x - w_star
            return f_star + 0.5 * np.sum(d * _rowwise_linear(d, hess), axis=1)

        def grad_fn(x: np.ndarray) -> np.ndarray:  # X^T (X x - y) / N = H x - c
            return _rowwise_linear(x, hess) - c

        def hessian_fn(x: np.ndarray) -> np.ndarray:
            return np.broadcast_to(hess, (x.shape[0], dim, dim)).copy()

        formula = f"1/(2N) * sum_i (x_i . w + b - y_i)^2, N = {n}, x = {what} ({how})"
        latex = r"$\frac{1}{2N}\sum_i (x_i^\top w + b - y_i)^2$"
        kind = "least squares"
    else:
        value_fn, grad_fn, hessian_fn = _logistic_functions(a, y, l2)
        w_star = _logistic_minimum(a, y, l2, name, (value_fn, grad_fn, hessian_fn))
        formula = (
            f"1/N * sum_i (log(1 + exp(z_i)) - y_i z_i) + {_fmt_number(l2)}/2 * |w|^2, "
            f"z_i = x_i . w + b, N = {n}, x = {what} ({how})"
        )
        latex = (
            r"$\frac{1}{N}\sum_i \left[\log(1+e^{z_i}) - y_i z_i\right] + \frac{\lambda}{2}|w|^2$"
        )
        kind = "logistic regression"
        f_star = float(value_fn(w_star[None])[0])  # the same arithmetic as every later value

    h_star = hessian_fn(w_star[None])[0]
    kappa = float(np.linalg.cond(h_star))
    minimizers = w_star.reshape(1, dim).copy()
    minimizers.flags.writeable = False
    coordinates = tuple(f"w_{f}" for f in chosen) + ("b",)
    params: dict[str, object] = {"data": data, "features": spec_features, "scale": scale}
    if model == "logreg":
        params["l2"] = l2
    return DataObjective(
        name=name,
        formula=formula,
        value_fn=value_fn,
        grad_fn=grad_fn,
        dim=dim,
        bounds=_bounds(w_star, start),
        minimizers=minimizers,
        f_min=float(f_star),
        start=tuple(float(v) for v in start),
        citation=dataset.citation,
        latex=latex,
        hessian_fn=hessian_fn,
        params=params,
        description=(
            f"{kind} on {data} ({dataset.summary}); x = {what}, {how}; "
            f"{dim} parameters ({', '.join(coordinates) if dim <= 4 else 'weights, then b'}); "
            f"Hessian condition number at the minimum {kappa:.3g}"
        ),
        inputs=a,
        targets=y,
        model=model,
        l2=l2,
        coordinates=coordinates,
        condition_number=kappa,
    )


_FEATURES_MEANING = "a feature name, names joined by '+', or all (full-dimensional: no contour)"
_SCALE_MEANING = "true: standardize each feature (mean 0, variance 1); false: raw units"

LINREG_PARAMS = (
    Param("data", "diabetes", "data set shipped with scikit-learn", kind="choice",
          choices=DATA_FOR["linreg"]),
    Param("features", "bmi", f"{_FEATURES_MEANING}; diabetes: age, sex, bmi, bp, s1..s6",
          kind="text"),
    Param("scale", True, _SCALE_MEANING, kind="bool"),
)  # fmt: skip
LOGREG_PARAMS = (
    Param("data", "breast_cancer", "data set shipped with scikit-learn", kind="choice",
          choices=DATA_FOR["logreg"]),
    Param("features", "mean_radius", f"{_FEATURES_MEANING}; e.g. mean_radius, worst_area",
          kind="text"),
    Param("scale", True, _SCALE_MEANING, kind="bool"),
    Param("l2", 0.001, "penalty l2/2*|w|^2 on the weights (not the bias); needed for "
          "features=all, where the classes are separable", low=0.0, high=L2_MAX),
)  # fmt: skip


@register(
    "linreg",
    "least-squares regression on real data (diabetes, shipped with scikit-learn)",
    "1/(2N) * sum_i (x_i . w + b - y_i)^2",
    params=LINREG_PARAMS,
)
def linreg(data: str = "diabetes", features: str = "bmi", scale: bool = True) -> DataObjective:
    """Least squares ``f(w, b) = 1/(2N) sum_i (x_i . w + b - y_i)^2`` on ``data``."""
    return build("linreg", data, _normalize(features), bool(scale), 0.0)


@register(
    "logreg",
    "logistic regression on real data (breast_cancer, shipped with scikit-learn)",
    "1/N * sum_i (log(1 + exp(z_i)) - y_i z_i) + l2/2*|w|^2, z_i = x_i . w + b",
    params=LOGREG_PARAMS,
)
def logreg(
    data: str = "breast_cancer",
    features: str = "mean_radius",
    scale: bool = True,
    l2: float = 0.001,
) -> DataObjective:
    """Mean logistic loss (labels 0/1) plus ``l2/2 |w|^2`` on ``data``."""
    LOGREG_PARAMS[3].convert(repr(float(l2)), "logreg")
    return build("logreg", data, _normalize(features), bool(scale), float(l2))
