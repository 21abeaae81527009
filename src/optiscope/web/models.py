"""The request bodies of the playground's API (pydantic), with the note's defaults.

Types are checked here (FastAPI answers a wrong type with 422 and one line, see ``app``);
values are checked by optiscope itself (specs, start, noise, batch size: OptiscopeError ->
400) and by ``optiscope.web.limits`` (steps, number of specs, formula length: 422).
Unknown keys are refused, so a typo in a key is not silently ignored.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from optiscope.metrics import DEFAULT_TOL

NOTE_FUNCTION = "aniso"
NOTE_SPECS = ["momentum:lr=0.1,momentum=0.9", "rmsprop:lr=0.1,alpha=0.9,eps=1e-10"]
NOTE_STEPS = 50
NOTE_START = [1.0, 1.0]

FUNCTION_HELP = (
    "A catalogue spec (aniso, quadratic:kappa=50,angle=30; see /api/functions) or a formula "
    "in w1, w2 such as (1-w1)**2 + 100*(w2-w1**2)**2 (at most 300 characters)."
)
SPECS_HELP = "Optimizer specs NAME or NAME:key=value,... (1 to 6; see /api/optimizers)."
START_HELP = "Start point [w1, w2]; null: the function's own start."


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ContourRequest(Body):
    """``POST /api/contour``: the function on an n x n grid over ``bounds``."""

    function: str = Field(NOTE_FUNCTION, description=FUNCTION_HELP)
    bounds: list[list[float]] | None = Field(
        None, description="[[w1_lo, w1_hi], [w2_lo, w2_hi]]; null: the function's plot box."
    )
    n: int = Field(80, description="Grid points per side (10 to 200).")


class StochasticFields(Body):
    noise: float = Field(0.0, description="Std of Gaussian noise added to every gradient.")
    batch_size: str | int = Field(
        "full", description="Data objectives: examples per gradient; full = GD, 1 = SGD."
    )
    seed: int = Field(0, description="Seed of the noise and the shuffles (0 to 2**64-1).")


class ExplainRequest(StochasticFields):
    """``POST /api/explain``: what ``optiscope explain --json`` says."""

    function: str = Field(NOTE_FUNCTION, description=FUNCTION_HELP)
    specs: list[str] = Field(default_factory=lambda: list(NOTE_SPECS), description=SPECS_HELP)
    steps: int = Field(NOTE_STEPS, description="Optimizer steps (1 to 5000).")
    start: list[float] | None = Field(
        default_factory=lambda: list(NOTE_START), description=START_HELP
    )
    tol: float = Field(DEFAULT_TOL, description="Loss-gap tolerance of steps_to_tol.")


class RunRequest(ExplainRequest):
    """``POST /api/run``: what ``optiscope compare --json --path`` runs (the same fields as
    explain's, and the state on request)."""

    state: bool = Field(
        False, description="Also return each run's optimizer state and effective step."
    )


class TheoryRequest(Body):
    """``POST /api/theory``: what ``optiscope theory --json`` predicts."""

    function: str = Field(NOTE_FUNCTION, description=FUNCTION_HELP)
    specs: list[str] = Field(
        default_factory=lambda: list(NOTE_SPECS), description="Optimizer specs (0 to 6)."
    )
    start: list[float] | None = Field(
        default_factory=lambda: list(NOTE_START), description=START_HELP
    )
    tol: float = Field(DEFAULT_TOL, description="Loss-gap tolerance of the predicted steps.")
