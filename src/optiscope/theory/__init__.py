"""Closed-form theory of gradient methods on quadratics and on local quadratic models.

Near a strict local minimizer ``x*`` every smooth function is, to second order, the quadratic
``f(x) ~ f(x*) + 1/2 (x - x*)^T H (x - x*)`` with ``H`` its Hessian there (analytic for the
catalogue, exact derivatives of the formula tree for typed-in formulas). ``local_model`` builds that model; the rest is the
linear-iteration theory of that quadratic (nothing here runs an optimizer):

- eigenvalues ``mu = lambda_min <= L = lambda_max`` of ``H``, ``kappa = L/mu``, the direction of
  the flat (slow) valley axis relative to the axes;
- GD, heavy-ball momentum and Nesterov momentum are linear iterations. In each eigen-direction
  (eigenvalue ``lam``) the error obeys ``x_{k+1} = p x_k - q x_{k-1}``; the characteristic roots
  ``s^2 - p s + q = 0`` give the rate (``max |s|``), stability (``max |s| < 1``), oscillation
  (complex roots) and, in closed form, the whole error sequence;
- adaptive methods (RMSProp, Adam, Adagrad, Adadelta, FTRL) are not linear: only notes;
  L-BFGS builds its own curvature model (no fixed linear rate), and under a learning-rate
  schedule other than constant the iteration is not one fixed linear map: no prediction;
- only a strict minimum has a quadratic model: a degenerate one (``w1^4 + w2^4``, where the
  curvature changes by orders of magnitude within a short distance) is refused, as is a
  ``kappa`` beyond float64's resolution (``KAPPA_MAX``); a large ``kappa`` below it is fine.

Beyond the minimum's model: ``noise`` gives the stationary noise floor of the linear methods
under additive gradient noise or mini-batches (sampled without replacement); ``landscape``
finds the local minimum a run is stuck in and the saddle a start is near, with the predicted
escape time along the negative-curvature direction.

Robustness: every number the report holds is finite. A Hessian whose eigenvalues overflow, a
kink, a curvature below float64's normal range are refused with one line (OptiscopeError);
an lr whose ``(lr*lambda)^2`` overflows is reported unstable without roots, and a stable
setting whose rate rounds to 1 in float64 (``lr = 5e-324``) says so instead of "unstable".

Modules: ``model`` (the local quadratic model; ``minimizer`` finds the point when none is
known, and ``with_found_minimum`` gives a typed formula that minimum once), ``optimal`` (best
tunings), ``linear`` (the per-direction iteration analysis), ``predict`` (closed-form paths
and steps to a tolerance), ``noise`` (noise floors), ``landscape`` (local minima, saddles),
``adaptive`` (notes for adaptive methods), ``report`` (the JSON report) and ``text`` (its
terminal lines).

Sources: Polyak 1964, "Some methods of speeding up the convergence of iteration methods",
USSR Comput. Math. Math. Phys. 4(5) (heavy ball, its optimal tuning); Goh 2017, "Why Momentum
Really Works", Distill (eigen-direction analysis, critical damping); Lessard, Recht & Packard
2016, "Analysis and design of optimization algorithms via integral quadratic constraints",
SIAM J. Optim. 26(1) (Nesterov's tuning for quadratics). The iterations are torch.optim.SGD's
(see docs/reference.md): for a constant lr the seed's momentum form is the same iteration.
"""

from optiscope.theory.adaptive import SIGN_DESCENT_MAX
from optiscope.theory.landscape import (
    LocalMinimum,
    Saddle,
    escape_steps,
    growth_factor,
    local_minimum_near,
    saddle_near,
)
from optiscope.theory.linear import (
    LINEAR_METHODS,
    REPEATED_RTOL,
    LinearSetting,
    char_roots,
    direction,
    linear_setting,
    predicted_rate,
    recurrence,
    stable_lr_max,
)
from optiscope.theory.minimizer import with_found_minimum
from optiscope.theory.model import AXIS_TOL_DEG, KAPPA_MAX, LocalQuadratic, local_model
from optiscope.theory.noise import (
    GradientNoise,
    gradient_noise,
    noise_floor,
    stationary_variance,
)
from optiscope.theory.optimal import gd_optimal, heavy_ball_optimal, nesterov_optimal
from optiscope.theory.predict import (
    EXACT_STEPS_MAX,
    STEPS_MAX,
    check_tol,
    predicted_path,
    predicted_steps_to_tol,
)
from optiscope.theory.report import theory_report
from optiscope.theory.text import theory_text

__all__ = [
    "AXIS_TOL_DEG",
    "EXACT_STEPS_MAX",
    "KAPPA_MAX",
    "LINEAR_METHODS",
    "REPEATED_RTOL",
    "SIGN_DESCENT_MAX",
    "STEPS_MAX",
    "GradientNoise",
    "LinearSetting",
    "LocalMinimum",
    "LocalQuadratic",
    "Saddle",
    "char_roots",
    "check_tol",
    "direction",
    "escape_steps",
    "gd_optimal",
    "gradient_noise",
    "growth_factor",
    "heavy_ball_optimal",
    "linear_setting",
    "local_minimum_near",
    "local_model",
    "nesterov_optimal",
    "noise_floor",
    "predicted_path",
    "predicted_rate",
    "predicted_steps_to_tol",
    "recurrence",
    "saddle_near",
    "stable_lr_max",
    "stationary_variance",
    "theory_report",
    "theory_text",
    "with_found_minimum",
]
