"""The seed note's three optimizer classes, transcribed as the reference for parity tests.

Kept as close to the note's code (docs/seed-note.md) as possible: scalar w1, w2; printing removed.
"""

import numpy as np


class SeedSGD:
    def __init__(self, learning_rate):
        self.learning_rate = learning_rate

    def update(self, w1, w2, grad_w1, grad_w2):
        w1 -= self.learning_rate * grad_w1
        w2 -= self.learning_rate * grad_w2
        return w1, w2


class SeedMomentum:
    def __init__(self, learning_rate, alpha=0.9):
        self.learning_rate = learning_rate
        self.alpha = alpha
        self.v_w1 = 0
        self.v_w2 = 0

    def update(self, w1, w2, grad_w1, grad_w2):
        self.v_w1 = self.alpha * self.v_w1 + self.learning_rate * grad_w1
        self.v_w2 = self.alpha * self.v_w2 + self.learning_rate * grad_w2
        w1 -= self.v_w1
        w2 -= self.v_w2
        return w1, w2


class SeedRMSProp:
    def __init__(self, learning_rate, beta=0.9):
        self.learning_rate = learning_rate
        self.beta = beta
        self.s_w1 = 0
        self.s_w2 = 0

    def update(self, w1, w2, grad_w1, grad_w2):
        self.s_w1 = self.beta * self.s_w1 + (1 - self.beta) * grad_w1**2
        self.s_w2 = self.beta * self.s_w2 + (1 - self.beta) * grad_w2**2
        w1 -= self.learning_rate * grad_w1 / (np.sqrt(self.s_w1) + 1e-10)
        w2 -= self.learning_rate * grad_w2 / (np.sqrt(self.s_w2) + 1e-10)
        return w1, w2


# The note's gradients: 2*w1 and 2*8*w2 for w1^2 + 8*w2^2; 2*w1 and 2*w2 for w1^2 + w2^2.
SEED_FUNCTIONS = {"iso": 1.0, "aniso": 8.0}
LR, STEPS = 0.1, 50


def seed_path(seed_optimizer, c2: float) -> np.ndarray:
    w1, w2 = 1.0, 1.0
    path = [(w1, w2)]
    for _ in range(STEPS):
        w1, w2 = seed_optimizer.update(w1, w2, 2 * w1, 2 * c2 * w2)
        path.append((w1, w2))
    return np.array(path)
