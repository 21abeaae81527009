"""Seed parity: the study note's own optimizer classes, transcribed, against optiscope.

The three classes in seed_reference.py are the seed note's code (docs/seed-note.md), kept as close to the
original as possible (scalar w1, w2; printing removed). optiscope must reproduce their
trajectories to 1e-12 for lr 0.1, 50 steps from (1, 1) on the isotropic and the anisotropic
bowl, for every momentum alpha and RMSProp beta the note tried.

The paths are well-conditioned: the seed classes restarted one ulp away (each coordinate, both
directions) move at most 1.1e-15 on every case, so the 1e-12 tolerance holds on any CPU (no
need for the measured-sensitivity rule of tests/sensitivity.py).
"""

import numpy as np
import pytest

import optiscope as osc
from seed_reference import LR, SEED_FUNCTIONS, STEPS, SeedMomentum, SeedRMSProp, SeedSGD, seed_path

CASES = [("sgd:lr=0.1", lambda: SeedSGD(LR))]
for a in (0.1, 0.9, 0.99):
    CASES.append((f"momentum:lr=0.1,momentum={a}", lambda a=a: SeedMomentum(LR, alpha=a)))
for b in (0.1, 0.9, 0.99):
    CASES.append((f"rmsprop:lr=0.1,alpha={b},eps=1e-10", lambda b=b: SeedRMSProp(LR, beta=b)))


@pytest.mark.parametrize("function", sorted(SEED_FUNCTIONS))
@pytest.mark.parametrize(("spec", "make_seed"), CASES, ids=[c[0] for c in CASES])
def test_optiscope_reproduces_the_seed_classes(function, spec, make_seed):
    objective = osc.get_objective(function)
    optimizer, settings = osc.get_optimizer(spec)
    traj = osc.run(objective, optimizer, settings, steps=STEPS, start=(1.0, 1.0))
    expected = seed_path(make_seed(), SEED_FUNCTIONS[function])
    np.testing.assert_allclose(traj.positions[:, 0, :], expected, rtol=0, atol=1e-12)
    assert traj.diverged_at[0] == -1


def test_seed_parity_batched():
    """All three momentum values as one batch give the same paths as the seed, one by one."""
    objective = osc.get_objective("aniso")
    optimizer, _ = osc.get_optimizer("momentum")
    settings = [osc.get_optimizer(f"momentum:lr=0.1,momentum={a}")[1] for a in (0.1, 0.9, 0.99)]
    traj = osc.run(objective, optimizer, settings, steps=STEPS, start=(1.0, 1.0))
    for b, a in enumerate((0.1, 0.9, 0.99)):
        expected = seed_path(SeedMomentum(LR, alpha=a), 8.0)
        np.testing.assert_allclose(traj.positions[:, b, :], expected, rtol=0, atol=1e-12)
