"""Optimizers: torch.optim names, defaults and semantics, batched over trajectories.

``get_optimizer("momentum:lr=0.1,momentum=0.9")`` returns the Optimizer and the complete,
validated setting (every hyperparameter with its value).
"""

from optiscope.optimizers.base import HParams, HyperParam, Optimizer
from optiscope.optimizers.registry import OPTIMIZERS, get_optimizer

__all__ = ["OPTIMIZERS", "HParams", "HyperParam", "Optimizer", "get_optimizer"]
