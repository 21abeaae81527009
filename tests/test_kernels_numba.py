"""The per-coordinate kernels are written once so a fused loop can compile them with Numba.

Each kernel (and the small helpers it calls) is compiled in nopython mode and must give the
same numbers as the NumPy path, bit for bit, on scalars: the unit a fused loop over
trajectories and coordinates would call. This guards the "plain arithmetic only" rule.
"""

import inspect
import types

import numba
import numpy as np
import pytest

from optiscope.optimizers import OPTIMIZERS, get_optimizer

get_optimizer("sgd")  # loads the registry
ELEMENTWISE = [o for o in OPTIMIZERS.values() if not o.evaluates]
# The kernel each registered optimizer's update calls (sgd, momentum, nesterov share one).
KERNELS = list({id(o.kernel): o.kernel for o in ELEMENTWISE if hasattr(o, "kernel")}.values())
FLAGS = {"nesterov", "centered", "amsgrad", "decoupled", "seed_form"}


def compiled(kernel):
    """``numba.njit`` of the kernel, with the optiscope helpers it calls compiled too."""
    env = dict(kernel.__globals__)
    for name, value in kernel.__globals__.items():
        if isinstance(value, types.ModuleType) and value.__name__.startswith("optiscope."):
            jitted = types.ModuleType(value.__name__)
            for attr, obj in vars(value).items():
                if inspect.isfunction(obj) and obj.__module__ == value.__name__:
                    setattr(jitted, attr, numba.njit(obj))
            env[name] = jitted
        elif (
            inspect.isfunction(value)
            and value is not kernel
            and value.__module__.startswith("optiscope.")
        ):
            env[name] = numba.njit(value)
    clone = types.FunctionType(kernel.__code__, env, kernel.__name__, kernel.__defaults__)
    return numba.njit(clone)


def sample_arguments(kernel, rng, flag):
    args = []
    for p in inspect.signature(kernel).parameters.values():
        if p.name in FLAGS:
            args.append(flag)
        elif p.name == "t":
            args.append(float(rng.integers(1, 50)))
        elif p.name == "lr_power":
            args.append(-0.5)
        elif p.name in ("momentum", "alpha", "beta1", "beta2", "rho", "dampening"):
            args.append(float(rng.uniform(0.0, 0.99)))
        elif p.name in ("w", "g"):
            args.append(float(rng.uniform(-2.0, 2.0)))
        elif p.name == "grad_avg":  # centered RMSProp needs grad_avg^2 <= square_avg
            args.append(float(rng.uniform(-0.2, 0.2)))
        else:
            args.append(float(rng.uniform(0.05, 1.0)))
    return args


def test_every_optimizer_family_has_a_kernel():
    assert all(hasattr(o, "kernel") for o in ELEMENTWISE), "an elementwise optimizer lacks one"
    assert {k.__name__ for k in KERNELS} == {
        "sgd_kernel",
        "rmsprop_kernel",
        "adam_kernel",
        "adagrad_kernel",
        "adadelta_kernel",
        "ftrl_kernel",
    }


@pytest.mark.parametrize("kernel", KERNELS, ids=lambda k: k.__name__)
def test_kernel_compiles_and_matches_numpy_bit_for_bit(kernel):
    fast = compiled(kernel)
    rng = np.random.default_rng(0)
    for trial in range(40):
        args = sample_arguments(kernel, rng, flag=float(trial % 2))
        expected = kernel(*args)
        got = fast(*args)
        assert np.array_equal(np.array(got), np.array(expected), equal_nan=True), (
            args,
            got,
            expected,
        )
