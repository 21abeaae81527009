"""The stationary noise floor of GD, heavy ball and Nesterov on the local quadratic model.

With a noisy gradient ``g = H (x - x*) + xi`` a constant-lr linear method does not converge:
in each eigen-direction (eigenvalue ``lam``) the error follows the linear recurrence of
``linear.recurrence`` driven by the noise, and settles into a stationary distribution whose
mean loss gap ``lam/2 * E[x^2]`` is the *noise floor*. Written as one recurrence
``x_{k+1} = p x_k - q x_{k-1} + c0 xi_k + c1 xi_{k-1}`` (torch.optim.SGD's iterations):

- GD: ``p = 1 - h``, ``q = 0``, ``c0 = -lr``, ``c1 = 0`` (``h = lr*lam``);
- heavy ball: ``p = 1 + b - h'``, ``q = b``, ``c0 = -lr'``, ``c1 = 0`` (``lr' = lr(1 - dampening)``,
  ``h' = lr' lam``; from ``buf = b buf + (1-d) g``, ``x -= lr buf``);
- Nesterov: ``p = (1 + b)(1 - h)``, ``q = b(1 - h)``, ``c0 = -lr(1 + b)``, ``c1 = lr b`` (from
  ``x_{k+1} = x_k - (1+b) lr g_k + b (x_k - x_{k-1}) + b lr g_{k-1}``, eliminating the buffer).

For independent noise of variance ``s2`` per step (additive ``N(0, sigma^2 I)``: ``s2 = sigma^2``
in every eigen-direction) the stationary variance solves the Lyapunov equation of that
recurrence; in closed form (derived by solving the Yule-Walker equations, checked against the
numerical Lyapunov solution and long engine runs in tests/test_noise_floor.py)::

    E[x^2] = s2 (c0^2 (1 + q) + 2 c0 c1 p + c1^2 (1 + q)) / ((1 - q)(1 + q - p)(1 + q + p))
    GD:         lr s2 / (lam (2 - lr lam))
    heavy ball: lr' s2 (1 + b) / (lam (1 - b)(2 (1 + b) - lr' lam))
    Nesterov:   lr s2 (1 + b + b h + 2 b^2 h) / (lam (1 - b + b h)(2 + 2b - (1 + 2b) h))

so GD's floor per direction is ``lam/2 E[x^2] = lr s2 / (2 (2 - lr lam))``: proportional to lr,
and it blows up at the stability limit.

Mini-batches (data objectives) sample without replacement, a fresh shuffle per epoch: the
noise of batch ``j`` (size ``m_j``) along a direction has variance
``S2/m_j * (N - m_j)/(N - 1)`` (``S2`` the population variance of the per-example gradients
there, at ``x*``), and two batches of the same epoch have covariance ``-S2/(N - 1)`` (an
epoch's batches sum to the full gradient: the noise cancels over an epoch). The floor is then
periodic over an epoch; ``noise_floor`` computes it exactly for the model (the epoch map of the
state covariance, its fixed point, and the average over the steps of an epoch). The noise is
taken at ``x*`` (state-independent): the leading order when the floor is small. Measured on
``linreg`` with ``sgd:lr=0.1`` (batched runs from ``x*``; tests/test_noise_floor.py checks
6%): batch sizes 8, 32, 100 match within 2%; at batch size 1 the per-example curvature adds
noise that grows with the distance, and the prediction is about 11% low (180 against 202
over 300 runs of 600 steps).

Only the linear methods have this theory; adaptive methods (RMSProp, Adam, ...) rescale the
noise by their own running statistics: no floor is predicted for them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from optiscope.errors import OptiscopeError
from optiscope.objectives.base import Objective
from optiscope.theory.linear import LinearSetting, root_modulus
from optiscope.theory.model import LocalQuadratic


@dataclass(frozen=True)
class GradientNoise:
    """What the gradient noise looks like along each eigen-direction of the model.

    ``sigma`` the additive Gaussian noise's standard deviation (0: none); ``batch_size`` m and
    ``examples`` N for mini-batches (None: the full gradient); ``example_variance`` the
    population variance ``S2`` of the per-example gradients at ``x*`` along each eigenvector
    (``[D]``, zeros without mini-batches).
    """

    sigma: float
    batch_size: int | None
    examples: int | None
    example_variance: np.ndarray  # [D]

    def batch_sizes(self) -> list[int]:
        """The sizes of the batches of one epoch (the last holds the remainder)."""
        if self.batch_size is None or self.examples is None:
            return [0]
        full, rest = divmod(self.examples, self.batch_size)
        return [self.batch_size] * full + ([rest] if rest else [])

    def step_variance(self) -> np.ndarray:
        """The variance of one step's noise along each eigen-direction, ``[D]``: the
        mini-batch part averaged over the batches of an epoch, plus ``sigma^2``."""
        total = np.full_like(self.example_variance, self.sigma * self.sigma)
        if self.batch_size is None or self.examples is None:
            return total
        sizes = np.asarray(self.batch_sizes(), dtype=np.float64)
        n = float(self.examples)
        shares = np.mean((n - sizes) / (sizes * (n - 1.0))) if n > 1 else 0.0
        return total + self.example_variance * shares


def gradient_noise(
    objective: Objective,
    model: LocalQuadratic,
    sigma: float = 0.0,
    batch_size: int | None = None,
) -> GradientNoise:
    """The noise a run sees near the model's minimizer: ``sigma`` (additive) and/or mini-batches.

    For mini-batches the per-example gradients at ``x*`` come from the data objective's
    ``batch_grad`` with batches of one example each; their population variance along each
    eigenvector is ``S2``. Raises OptiscopeError if ``batch_size`` is given for an objective
    without examples.
    """
    dim = len(model.eigenvalues)
    if batch_size is None:
        return GradientNoise(float(sigma), None, None, np.zeros(dim))
    examples = getattr(objective, "examples", None)
    if examples is None or not hasattr(objective, "batch_grad"):
        raise OptiscopeError(
            f"{objective.name} has no examples: a batch size needs a data objective"
        )
    per_example = per_example_gradients(objective, model.point)  # [N, D]
    along = per_example @ model.eigenvectors  # [N, D]: components along the eigenvectors
    variance = np.mean((along - along.mean(axis=0)) ** 2, axis=0)
    return GradientNoise(float(sigma), int(batch_size), int(examples), variance)


def per_example_gradients(objective: Objective, point: Sequence[float]) -> np.ndarray:
    """``[N, D]``: the gradient of each example's loss at ``point`` (a data objective's
    ``batch_grad`` with one example per row; its penalty term is the same in every row)."""
    n = int(objective.examples)  # type: ignore[attr-defined]
    x = np.repeat(np.asarray(point, dtype=np.float64)[None], n, axis=0)
    return objective.batch_grad(x, np.arange(n)[:, None])  # type: ignore[attr-defined]


def arma_coefficients(setting: LinearSetting, lam: float) -> tuple[float, float, float, float]:
    """``(p, q, c0, c1)`` of ``x_{k+1} = p x_k - q x_{k-1} + c0 xi_k + c1 xi_{k-1}`` for the
    iteration's curvature ``lam`` (Hessian eigenvalue + weight decay); see the module notes."""
    lr, b = setting.lr, setting.momentum
    if setting.method == "gd":
        return 1.0 - lr * lam, 0.0, -lr, 0.0
    if setting.method == "heavy_ball":
        lr_eff = setting.effective_lr
        return 1.0 + b - lr_eff * lam, b, -lr_eff, 0.0
    h = lr * lam
    return (1.0 + b) * (1.0 - h), b * (1.0 - h), -lr * (1.0 + b), lr * b


def stationary_variance(setting: LinearSetting, lam: float, s2: float) -> float | None:
    """``E[x^2]`` in the stationary state for independent noise of variance ``s2`` per step
    (the closed form of the module notes); None when the direction is not stable."""
    p, q, c0, c1 = arma_coefficients(setting, lam)
    if not root_modulus(p, q) < 1.0:
        return None
    top = c0 * c0 * (1.0 + q) + 2.0 * c0 * c1 * p + c1 * c1 * (1.0 + q)
    bottom = (1.0 - q) * (1.0 + q - p) * (1.0 + q + p)
    if not bottom > 0.0:  # lr*lam below float64's resolution: 1 + q - p rounds to 0
        return None
    variance = s2 * top / bottom
    return variance if math.isfinite(variance) else None


def _state_space(setting: LinearSetting, lam: float) -> tuple[np.ndarray, np.ndarray]:
    """``A``, ``B`` of ``z_{k+1} = A z_k + B xi_k`` with ``z_k = (x_k, x_{k-1}, xi_{k-1})``."""
    p, q, c0, c1 = arma_coefficients(setting, lam)
    a = np.array([[p, -q, c1], [1.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    return a, np.array([c0, 0.0, 1.0])


def lyapunov_variance(setting: LinearSetting, lam: float, s2: float) -> float:
    """``E[x^2]`` from the discrete Lyapunov equation ``S = A S A^T + s2 B B^T`` solved
    numerically (the check of the closed form ``stationary_variance``)."""
    a, b = _state_space(setting, lam)
    n = a.shape[0]
    vec = np.linalg.solve(np.eye(n * n) - np.kron(a, a), s2 * np.outer(b, b).reshape(-1))
    return float(vec.reshape(n, n)[0, 0])


def epoch_variance(setting: LinearSetting, lam: float, noise: GradientNoise, i: int) -> float:
    """``E[x^2]`` averaged over the steps of an epoch in the periodic stationary state, along
    eigen-direction ``i``, for mini-batches drawn without replacement plus ``sigma^2`` noise.

    Within an epoch ``Var(xi_j) = S2/m_j (N - m_j)/(N - 1) + sigma^2`` and
    ``Cov(xi_j, xi_l) = -S2/(N - 1)`` (``j != l``); epochs are independent. Stepping the state
    covariance through one epoch, ``S_{j+1} = A S_j A^T + Var_j B B^T + A c_j B^T + B c_j^T A^T``
    with ``c_j = Cov(z_j, xi_j) = -S2/(N-1) sum_{l<j} A^(j-1-l) B``, maps the covariance at the
    epoch's start affinely to the next start: ``S -> M S M^T + Q``. Its fixed point, stepped
    through the epoch once more, gives each step's ``E[x^2]``; their mean is returned
    (NaN when the epoch map is singular in float64: a contraction below its resolution).
    """
    a, b = _state_space(setting, lam)
    s2 = float(noise.example_variance[i])
    n = float(noise.examples or 1)
    cross = -s2 / (n - 1.0) if n > 1 else 0.0
    sizes = noise.batch_sizes()

    def through_epoch(start: np.ndarray) -> tuple[np.ndarray, list[float]]:
        cov, r, seen = start, np.zeros(3), []
        for m in sizes:
            var = noise.sigma * noise.sigma + (s2 / m * (n - m) / (n - 1.0) if m and n > 1 else 0.0)
            c = cross * r
            cov = a @ cov @ a.T + var * np.outer(b, b) + np.outer(a @ c, b) + np.outer(b, a @ c)
            r = a @ r + b
            seen.append(float(cov[0, 0]))
        return cov, seen

    q, _ = through_epoch(np.zeros((3, 3)))
    m = np.linalg.matrix_power(a, len(sizes))
    try:
        fixed = np.linalg.solve(np.eye(9) - np.kron(m, m), q.reshape(-1)).reshape(3, 3)
    except np.linalg.LinAlgError:  # a contraction below float64's resolution
        return math.nan
    return float(np.mean(through_epoch(fixed)[1]))


def noise_floor(model: LocalQuadratic, setting: LinearSetting, noise: GradientNoise) -> dict:
    """The stationary mean loss gap of ``setting`` on the model under ``noise``.

    Returns ``{"floor", "per_direction", "variance", "offset"}``: ``floor`` is
    ``sum_i lam_i/2 (d_i^2 + E[x_i^2])`` (``d_i`` the weight-decay offset of the fixed point
    from ``x*``, 0 without weight decay), ``per_direction`` the terms, ``variance`` each
    ``E[x_i^2]``, ``offset`` the ``d_i`` part of the floor. None values (and floor None) when
    a direction is not stable: there is no stationary state.
    """
    lam, wd = model.eigenvalues, setting.weight_decay
    x_star = model.eigenvectors.T @ model.point
    offset = x_star * (lam / (lam + wd) - 1.0) if wd else np.zeros_like(lam)
    iid = noise.batch_size is None
    step_var = noise.step_variance()
    variances: list[float | None] = []
    for i, li in enumerate(lam):
        curv = float(li) + wd
        if iid:
            variances.append(stationary_variance(setting, curv, float(step_var[i])))
        else:
            p, q, _, _ = arma_coefficients(setting, curv)
            stable = root_modulus(p, q) < 1.0
            variances.append(epoch_variance(setting, curv, noise, i) if stable else None)
    if any(v is None or not math.isfinite(v) for v in variances):
        return {"floor": None, "per_direction": None, "variance": None, "offset": None}
    var = np.array(variances, dtype=np.float64)
    off = 0.5 * float(np.sum(lam * offset**2))
    terms = 0.5 * lam * (offset**2 + var)
    return {
        "floor": float(np.sum(terms)),
        "per_direction": terms.tolist(),
        "variance": var.tolist(),
        "offset": off,
    }
