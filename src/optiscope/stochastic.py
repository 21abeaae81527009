"""Stochastic gradients: what GD, SGD and mini-batch SGD see, and gradient noise.

The engine asks a *gradient source* ``source(x [B, D], k) -> [B, D]`` for the gradient the
optimizer sees at step ``k`` (1, 2, ...) and still records the loss of the full, exact objective.
Three ways to make that gradient stochastic:

- ``MiniBatchGradient`` (data objectives only): the loss gradient averaged over ``batch_size``
  examples. Each epoch visits every example once, in a fresh random order per epoch and per
  trajectory (sampling without replacement); when ``batch_size`` does not divide N the last
  batch of the epoch is the smaller remainder (torch's ``DataLoader(shuffle=True,
  drop_last=False)``), so an epoch is ``ceil(N / batch_size)`` steps. ``batch_size = N`` is one
  full batch per epoch (the full gradient, summed in a shuffled order); ``batch_size = 1`` is
  SGD in its original sense.
- ``GaussianNoise``: ``g + sigma * n`` with ``n ~ N(0, I)`` fresh at every step, added to the
  exact (or mini-batch) gradient: the additive-noise style of DeepOBS's 2-D test problems, so
  that any test function can be run "stochastically".
- Both together: noise on top of the mini-batch gradient.

``gradient_source(objective, noise, batch_size, seed)`` builds the right one (None for the
exact gradient: GD). ``optiscope`` maps the seed note's names onto this as::

    GD             = sgd with --batch-size full (the exact gradient; the default)
    SGD            = sgd with --batch-size 1
    mini-batch SGD = sgd with --batch-size m, 1 < m < N

Random streams. Every random number is a pure function of ``(seed, stream, counter, index)``
through a counter-based generator (SplitMix64's finalizer applied to the combined key, as in
Salmon et al. 2011, "Parallel random numbers: as easy as 1, 2, 3", and Steele et al. 2014,
"Fast splittable pseudorandom number generators"). Trajectory ``b`` uses stream ``streams[b]``
(default ``b``); its noise at step ``k`` and its shuffle in epoch ``e`` depend on nothing else.
So a batched run equals the same rows run alone with the same stream ids, bit for bit, the
same seed gives the same run, and there is no Python loop over trajectories. Normal numbers
come from two uniforms by the Box-Muller transform.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from optiscope.errors import OptiscopeError
from optiscope.objectives.base import Objective

MAX_SEED = 2**64 - 1
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_NOISE, _SHUFFLE = 1, 2  # purposes: independent streams for noise and for shuffling
_TO_UNIT = 2.0**-53

Gradient = Callable[[np.ndarray, int], np.ndarray]  # (x [B, D], step) -> [B, D]


def _mix(z: np.ndarray) -> np.ndarray:
    """SplitMix64's finalizer on uint64 arrays (wrapping arithmetic): a bijective scramble."""
    z = (z ^ (z >> np.uint64(30))) * _M1
    z = (z ^ (z >> np.uint64(27))) * _M2
    return z ^ (z >> np.uint64(31))


def _u64(values) -> np.ndarray:
    return np.atleast_1d(np.asarray(values, dtype=np.uint64))


def random_bits(seed: int, purpose: int, streams, counter: int, n: int) -> np.ndarray:
    """``[B, n]`` uint64 random words, a pure function of (seed, purpose, stream, counter, i)."""
    key = _mix(_u64(seed) ^ _mix(_u64(purpose) * _GOLDEN))  # [1]
    key = _mix(key ^ _mix(_u64(streams) * _GOLDEN + _GOLDEN))  # [B]
    key = _mix(key ^ _mix(_u64(counter) * _GOLDEN + _M1))  # [B]
    index = _mix(np.arange(n, dtype=np.uint64) * _GOLDEN + _M2)  # [n]
    return _mix(key[:, None] ^ index[None, :])  # [B, n]


def uniforms(bits: np.ndarray, open_low: bool = False) -> np.ndarray:
    """53-bit uniforms from words: in ``[0, 1)``, or ``(0, 1]`` when ``open_low``."""
    top = (bits >> np.uint64(11)).astype(np.float64)
    return (top + 1.0) * _TO_UNIT if open_low else top * _TO_UNIT


def normals(seed: int, streams, step: int, dim: int) -> np.ndarray:
    """``[B, dim]`` standard normals for ``step`` (Box-Muller: ``sqrt(-2 ln u1) cos(2 pi u2)``)."""
    bits = random_bits(seed, _NOISE, streams, step, 2 * dim)
    u1 = uniforms(bits[:, :dim], open_low=True)  # (0, 1]: the log is finite
    u2 = uniforms(bits[:, dim:])
    return np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * math.pi * u2)


def permutations(seed: int, streams, epoch: int, n: int) -> np.ndarray:
    """``[B, n]`` random permutations of ``0..n-1`` for ``epoch`` (argsort of random keys)."""
    return np.argsort(random_bits(seed, _SHUFFLE, streams, epoch, n), axis=1, kind="stable")


def _streams(streams, batch: int) -> np.ndarray:
    ids = np.arange(batch) if streams is None else np.asarray(streams).reshape(-1)
    if ids.shape[0] != batch:
        raise ValueError(f"{ids.shape[0]} stream ids for a batch of {batch} trajectories")
    return ids


@dataclass
class ExactGradient:
    """The objective's exact gradient (what GD sees)."""

    objective: Objective

    def __call__(self, x: np.ndarray, step: int) -> np.ndarray:
        return self.objective.grad(x)


@dataclass
class GaussianNoise:
    """``base(x, k) + sigma * n_k``, ``n_k ~ N(0, I)`` drawn per step and per trajectory.

    ``streams`` (``[B]`` non-negative ints, default ``0..B-1``) picks each row's random stream.
    """

    base: Gradient
    sigma: float
    seed: int = 0
    streams: np.ndarray | None = None

    def __call__(self, x: np.ndarray, step: int) -> np.ndarray:
        g = self.base(x, step)
        ids = _streams(self.streams, x.shape[0])
        return g + self.sigma * normals(self.seed, ids, step, x.shape[1])


class MiniBatchGradient:
    """The gradient averaged over a mini-batch of examples of a data objective.

    Step ``k`` (1-based) is batch ``j = (k-1) mod nb`` of epoch ``e = (k-1) // nb``, where
    ``nb = ceil(N / batch_size)``: examples ``perm_e[j*m : min((j+1)*m, N)]`` of that epoch's
    permutation (per trajectory). The last batch of an epoch holds the remainder when ``m``
    does not divide N, so every example is used exactly once per epoch.
    """

    def __init__(self, objective, batch_size: int, seed: int = 0, streams=None) -> None:
        self.objective = objective
        self.batch_size = int(batch_size)
        self.seed = int(seed)
        self.streams = streams
        self.examples = int(objective.examples)
        self.per_epoch = -(-self.examples // self.batch_size)
        self._cache: tuple[int, int, np.ndarray] | None = None  # (epoch, B, perms)

    def indices(self, step: int, batch: int) -> np.ndarray:
        """``[B, m_k]`` example indices of every trajectory's mini-batch at ``step``."""
        t = step - 1
        epoch, j = divmod(t, self.per_epoch)
        if self._cache is None or self._cache[:2] != (epoch, batch):
            ids = _streams(self.streams, batch)
            self._cache = (epoch, batch, permutations(self.seed, ids, epoch, self.examples))
        lo = j * self.batch_size
        return self._cache[2][:, lo : min(lo + self.batch_size, self.examples)]

    def __call__(self, x: np.ndarray, step: int) -> np.ndarray:
        return self.objective.batch_grad(x, self.indices(step, x.shape[0]))


def source_objective(source: Any) -> Objective | None:
    """The objective a gradient source computes gradients of (None: not one of ours)."""
    while isinstance(source, GaussianNoise):
        source = source.base
    return getattr(source, "objective", None)


def check_source_matches(source: Any, objective: Objective) -> None:
    """Refuse a gradient source built for another objective (it would drive the run silently).

    Objectives are compared by name: the name is the spec that recreates the function, and a
    copy with a found minimum (``dataclasses.replace``) keeps it.
    """
    if source is None:
        return
    if not callable(source):
        raise OptiscopeError(
            f"gradient must be a gradient source (see optiscope.stochastic.gradient_source), "
            f"got {type(source).__name__}"
        )
    own = source_objective(source)
    if own is not None and own.name != objective.name:
        raise OptiscopeError(
            f"the gradient source was built for {own.name!r}, not for {objective.name!r}: "
            "build it with gradient_source(objective, ...) of the objective you run"
        )


# ---------------------------------------------------------------- validation and assembly
# The messages name the value, not a flag: the same checks serve --noise and a spec's noise=.
def check_noise(noise: float) -> float:
    if not (isinstance(noise, int | float) and math.isfinite(noise) and noise >= 0):
        raise OptiscopeError(f"invalid noise: {noise} (valid: a finite number >= 0)")
    return float(noise)


def check_seed(seed: int) -> int:
    if not (isinstance(seed, int) and 0 <= seed <= MAX_SEED):
        raise OptiscopeError(f"invalid seed: {seed} (valid: an integer from 0 to 2**64-1)")
    return seed


def parse_batch_size(value: str | int | None) -> int | None:
    """``"full"`` / None -> None (the full gradient), ``"32"`` / 32 -> 32; >= 1 is checked."""
    if value is None:
        return None
    text = str(value).strip().lower()
    if text == "full":
        return None
    try:
        size = int(text)
    except ValueError:
        raise OptiscopeError(
            f"invalid batch size: {value!r} (valid: a whole number >= 1, or full)"
        ) from None
    if size < 1:
        raise OptiscopeError(
            f"invalid batch size: {size} (valid: a whole number >= 1 (1 = SGD), or full (GD))"
        )
    return size


def examples_used(examples: int | None, batch_size: int | None, gradients: int) -> int | None:
    """Training examples read by ``gradients`` gradient evaluations: an honest cost.

    ``examples`` is N for a data objective (None for a test function: None is returned);
    ``batch_size`` None for the full gradient (N examples per evaluation, whatever the
    optimizer: an L-BFGS line-search trial reads all N too), else m. Mini-batch step ``k`` reads
    the k-th batch of :class:`MiniBatchGradient`'s epochs, so ``n`` steps read
    ``(n // nb) * N + (n % nb) * m`` examples (``nb = ceil(N / m)``; within an epoch only its
    last batch is short).
    """
    if examples is None:
        return None
    if batch_size is None:
        return int(gradients) * int(examples)
    per_epoch = -(-examples // batch_size)
    epochs, batches = divmod(int(gradients), per_epoch)
    return epochs * examples + batches * batch_size


def gradient_source(
    objective: Objective,
    noise: float = 0.0,
    batch_size: str | int | None = None,
    seed: int = 0,
    streams=None,
) -> Gradient | None:
    """The gradient source for these options, or None for the exact gradient (GD).

    ``batch_size`` is None/``"full"`` or a number of examples (data objectives only); ``noise``
    the standard deviation of additive Gaussian noise; ``streams`` the ``[B]`` stream ids of the
    rows (default ``0..B-1``). Raises OptiscopeError for invalid values.
    """
    noise = check_noise(noise)
    seed = check_seed(seed)
    size = parse_batch_size(batch_size)
    source: Gradient | None = None
    if size is not None:
        examples = getattr(objective, "examples", None)
        if examples is None or not hasattr(objective, "batch_grad"):
            raise OptiscopeError(
                "a batch size needs a data objective such as linreg:data=diabetes; "
                "use noise for test functions"
            )
        if size > examples:
            raise OptiscopeError(
                f"invalid batch size: {size} ({objective.name} has {examples} examples; "
                f"valid: 1 to {examples}, or full)"
            )
        source = MiniBatchGradient(objective, size, seed, streams)
    if noise > 0:
        source = GaussianNoise(source or ExactGradient(objective), noise, seed, streams)
    return source
