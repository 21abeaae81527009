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
"""

from optiscope.engine import Trajectories, run
from optiscope.errors import OptiscopeError
from optiscope.objectives import Objective, get_objective
from optiscope.optimizers import Optimizer, get_optimizer

__all__ = [
    "Objective",
    "OptiscopeError",
    "Optimizer",
    "Trajectories",
    "get_objective",
    "get_optimizer",
    "run",
]
__version__ = "0.1.0"
