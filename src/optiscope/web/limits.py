"""What one request to the playground's API may ask for, and the checks that enforce it.

The server runs on a learner's machine but may be bound to a network (``optiscope serve
--host 0.0.0.0``), so every request is bounded before anything runs:

- ``steps``: at most ``MAX_STEPS`` (5000) optimizer steps;
- ``specs``: 1 to ``MAX_SPECS`` (6) optimizer specs (the page's cards); /api/theory takes 0;
- ``formula``: a typed-in function of at most ``MAX_FORMULA`` (300) characters, parsed by
  optiscope's own whitelisting parser (never evaluated as Python);
- ``contour``: a grid of ``MIN_GRID`` to ``MAX_GRID`` points per side;
- ``compute time``: at most ``COMPUTE_SECONDS`` (5 s) of computation per request. The run
  loop checks a deadline after every step (``Deadline.tick``) and gives up when it has
  passed, so a refused request frees its worker; at most ``WORKERS`` requests compute at
  once, in worker threads, while the server's event loop keeps answering the others.

A request over a limit is refused with HTTP 422 and ``{"error": "<one line naming the limit>",
"limit": "<its name>"}`` (``LimitError``); ``GET /api/limits`` returns :func:`Limits.as_json`.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any

from optiscope.errors import OptiscopeError

MAX_STEPS = 5000
MAX_SPECS = 6
MAX_FORMULA = 300
MIN_GRID, MAX_GRID = 10, 200
COMPUTE_SECONDS = 5.0
WORKERS = 4
LIMIT_STATUS = 422  # a request over a limit: well-formed JSON asking for too much


class LimitError(OptiscopeError):
    """A request over one of the limits; ``limit`` names it (``"steps"``, ``"specs"``, ...)."""

    def __init__(self, message: str, limit: str) -> None:
        super().__init__(message)
        self.limit = limit


@dataclass(frozen=True)
class Limits:
    """The limits one app enforces (``create_app(limits=...)``; tests shrink the time)."""

    max_steps: int = MAX_STEPS
    max_specs: int = MAX_SPECS
    max_formula: int = MAX_FORMULA
    min_grid: int = MIN_GRID
    max_grid: int = MAX_GRID
    compute_seconds: float = COMPUTE_SECONDS
    workers: int = WORKERS

    def as_json(self) -> dict[str, Any]:
        return asdict(self)

    def check_steps(self, steps: int) -> int:
        if not 1 <= steps <= self.max_steps:
            raise LimitError(
                f"steps {steps} is outside the limit of 1 to {self.max_steps} steps per request",
                "steps",
            )
        return steps

    def check_specs(self, specs: list[str], least: int = 1) -> list[str]:
        if not least <= len(specs) <= self.max_specs:
            raise LimitError(
                f"{len(specs)} optimizer specs is outside the limit of {least} to "
                f"{self.max_specs} specs per request",
                "specs",
            )
        return specs

    def check_function(self, function: str) -> str:
        """The function text, refused above ``max_formula`` characters (names are short)."""
        if len(function) > self.max_formula:
            raise LimitError(
                f"function is {len(function)} characters long, over the limit of "
                f"{self.max_formula} characters per formula",
                "formula",
            )
        return function

    def check_grid(self, n: int) -> int:
        if not self.min_grid <= n <= self.max_grid:
            raise LimitError(
                f"contour grid n={n} is outside the limit of {self.min_grid} to "
                f"{self.max_grid} points per side",
                "grid",
            )
        return n

    def deadline(self) -> Deadline:
        return Deadline(self.compute_seconds)


class Deadline:
    """The compute-time limit of one request, started when its computation starts."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.ends = time.monotonic() + seconds

    def tick(self, *_: Any) -> None:
        """Raise LimitError once the time is up (a ``run_specs`` progress callback)."""
        if time.monotonic() > self.ends:
            raise self.error()

    def error(self) -> LimitError:
        return LimitError(
            f"the computation took longer than the limit of {self.seconds:g} s per request; "
            "use fewer steps or fewer optimizers",
            "compute_seconds",
        )
