"""The registered optimizers, in the order ``optiscope optimizers`` lists them."""

from optiscope.optimizers.adadelta import Adadelta
from optiscope.optimizers.adagrad import Adagrad
from optiscope.optimizers.adam import Adam, AdamW
from optiscope.optimizers.ftrl import Ftrl
from optiscope.optimizers.lbfgs import LBFGS
from optiscope.optimizers.registry import register
from optiscope.optimizers.rmsprop import RMSprop
from optiscope.optimizers.sgd import SGD, Momentum, Nesterov

for _optimizer in (
    SGD(),
    Momentum(),
    Nesterov(),
    RMSprop(),
    Adam(),
    AdamW(),
    Adagrad(),
    Adadelta(),
    Ftrl(),
    LBFGS(),
):
    register(_optimizer)
