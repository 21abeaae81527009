"""``optiscope animate``: the paths growing over the contours, the loss curves beside them.

Registered on ``optiscope.cli.app`` when this module is imported (``cli.py`` imports it).
Messages, exit statuses and output follow ``optiscope.cli``: one line and status 2 for a
user's mistake (checked before anything runs), the file written whole or not at all (Ctrl-C
leaves no partial file), a progress bar on a terminal while the frames are encoded.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from optiscope.cli import (
    BatchOpt,
    FunctionArg,
    NoiseOpt,
    OptspecsArg,
    SeedOpt,
    StartOpt,
    StepsOpt,
    _objective_and_start,
    app,
    counted_progress,
    out,
)
from optiscope.experiments import run_specs
from optiscope.output import check_target, printable

# The ranges of the help text; ``optiscope.plots.animate`` holds the rules and checks the values
# (it is imported when the command runs: matplotlib is not loaded for the other commands).
# tests/test_animate.py checks that these are the library's numbers.
DEFAULT_FPS, FPS_RANGE, DEFAULT_FRAMES, FRAMES_RANGE = 20, (1, 60), 200, (2, 1000)


@app.command("animate")
def animate_command(
    function: FunctionArg,
    optspecs: OptspecsArg,
    steps: StepsOpt = 100,
    start: StartOpt = None,
    out_path: Annotated[
        Path,
        typer.Option(
            "--out",
            "-o",
            metavar="FILE",
            help="Where to write the animation; the suffix names the format: .gif (loops, "
            "plays anywhere) or .mp4 (H.264, small, for slides and browsers).",
        ),
    ] = Path("animation.gif"),
    fps: Annotated[
        int,
        typer.Option(
            "--fps",
            metavar="FPS",
            help=f"Frames per second ({FPS_RANGE[0]} to {FPS_RANGE[1]}; a GIF plays at most 50).",
        ),
    ] = DEFAULT_FPS,
    frames: Annotated[
        int | None,
        typer.Option(
            "--frames",
            metavar="N",
            help=f"Number of frames ({FRAMES_RANGE[0]} to {FRAMES_RANGE[1]}; default: every step up to "
            f"{DEFAULT_FRAMES} frames); more steps than frames: evenly spaced steps, the "
            "first and the last always shown.",
        ),
    ] = None,
    trail: Annotated[
        int | None,
        typer.Option(
            "--trail",
            metavar="T",
            help="Draw the last T steps of each path bright and the older ones faint.",
        ),
    ] = None,
    noise: NoiseOpt = 0.0,
    batch_size: BatchOpt = "full",
    seed: SeedOpt = 0,
    title: Annotated[
        str | None,
        typer.Option("--title", metavar="TEXT", help="A title above the function's formula."),
    ] = None,
) -> None:
    """Animate optimizers' paths: each path grows over the contours, step by step, with the
    loss curves advancing beside it.

    One frame per step (or evenly spaced steps when there are more than --frames): on the left
    every run's path up to that step on the function's contour map (a large dot at the current
    point, an X where a run diverged), on the right the loss gap f - f_min of every run up to
    that step on a log axis, and the counter "step k / N". Functions with two parameters only.

    Examples (the first shows the note's momentum spiral and RMSProp's first jump):

    \b
      optiscope animate aniso momentum:lr=0.1,momentum=0.99 \\
          rmsprop:lr=0.1,alpha=0.99,eps=1e-10 --start 1,1 --steps 100 --out a.gif
      optiscope animate aniso sgd:lr=0.1 momentum:lr=0.1,momentum=0.9 --start 1,1 --out a.mp4
      optiscope animate rosenbrock adam:lr=0.05 momentum:lr=0.001,momentum=0.9 \\
          --steps 1000 --frames 200 --trail 50 --out rosen.gif
      optiscope animate aniso sgd:lr=0.1 --noise 0.5 --seed 3 --fps 10 --out noisy.gif
    """
    from optiscope.plots import animate

    # Everything that can be refused is refused before anything runs.
    fmt = animate.animation_format(out_path)
    animate.check_options(fps, frames, trail)
    check_target(out_path, "animation")
    if fmt == "mp4":
        animate.ffmpeg_program()
    objective, point = _objective_and_start(function, start)
    animate.check_two_dimensional(objective)
    results = run_specs(
        objective, optspecs, steps=steps, start=point, noise=noise, batch_size=batch_size,
        seed=seed,
    )  # fmt: skip
    runs = [(r.label, r.trajectories, r.row) for r in results]
    count = len(animate.frame_steps(steps, frames))
    began = time.perf_counter()
    with counted_progress("encoding frames") as progress:
        path = animate.animate_runs(
            runs, out_path, fps=fps, frames=frames, trail=trail, title=title, progress=progress
        )
    seconds = time.perf_counter() - began
    out.print(
        f"wrote {printable(str(path))} ({count} frames, {animate.WIDTH}x{animate.HEIGHT}, "
        f"{count / fps:.1f} s at {fps} fps; made in {seconds:.1f} s)",
        markup=False,
        highlight=False,
    )
