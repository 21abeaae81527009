"""optiscope: see, measure, explain and tune how gradient-based optimizers move.

The public API is small and layered (data flows one way):

    objectives  --+
                  +--> engine.run --> Trajectories --> plots / tables / JSON
    optimizers  --+

Example::

    import optiscope as osc
    f = osc.get_objective("aniso")
    opt, hp = osc.get_optimizer("momentum:lr=0.1,momentum=0.9")
    traj = osc.run(f, opt, hp, steps=50)
    table = osc.sweep("aniso", "momentum:lr=0.001..1@log50,momentum=0..0.99@50")  # a DataFrame
"""

from optiscope.engine import Trajectories, run
from optiscope.errors import OptiscopeError
from optiscope.objectives import Objective, get_objective
from optiscope.optimizers import Optimizer, get_optimizer
from optiscope.sweep import sweep  # the function; its module stays importable by name
from optiscope.tune import tune  # the function, as sweep

__all__ = [
    "Objective",
    "OptiscopeError",
    "Optimizer",
    "Trajectories",
    "get_objective",
    "get_optimizer",
    "run",
    "sweep",
    "tune",
]
__version__ = "0.1.0"
