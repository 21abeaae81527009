"""Benchmark: optiscope's animations against matplotlib's FuncAnimation, same frames, one run.

    .venv/bin/python benchmarks/bench_animate.py              # 200 frames of 3 paths
    .venv/bin/python benchmarks/bench_animate.py --quick      # 2 frames (CI: that it runs)
    .venv/bin/python benchmarks/bench_animate.py --markdown   # also a Markdown table

**The case** (the issue's): aniso from (1, 1), 200 steps of ``sgd:lr=0.1``,
``momentum:lr=0.1,momentum=0.99`` and ``rmsprop:lr=0.1,alpha=0.99,eps=1e-10``, 200 frames
evenly spaced over steps 0 to 200 (``frame_steps(200, 200)``), 20 fps. The runs are computed
once, before any clock starts; every entry animates the same runs.

- ``animate_runs GIF`` / ``animate_runs MP4``: ``optiscope.plots.animate.animate_runs`` to a
  .gif / .mp4 (the background drawn once, only the moving parts drawn per frame, frames
  encoded directly: Pillow with one palette, or raw frames piped to ffmpeg).
- ``FuncAnimation + PillowWriter``: what one writes otherwise: the same figure (the same
  background drawers, the paths, heads, loss curves and counter as ``Line2D``/``Text``
  artists whose data an ``update(k)`` sets) saved by
  ``matplotlib.animation.FuncAnimation(fig, update, frames).save(path, PillowWriter(fps))``,
  which redraws the whole figure (its layout included) for every frame.

Each entry's time is wall time from the runs to the file on disk (figure, frames, encoding),
with the CPU seconds of this process and its children (ffmpeg) beside it: on a shared machine
the wall time moves with the load, the CPU time much less. The check column reads every file
back: the frame count and the frame size must be the requested ones (``ok``; ``BAD``
otherwise). Target (the issue's): 200 frames of 3 paths in under 5 s, for GIF and MP4.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import imageio_ffmpeg  # noqa: F401  (its version goes in the report)
import numpy as np

from optiscope.experiments import run_specs
from optiscope.objectives import get_objective
from optiscope.plots import animate

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, versions  # noqa: E402  (beside this file)

FUNCTION, START = "aniso", (1.0, 1.0)
SPECS = ("sgd:lr=0.1", "momentum:lr=0.1,momentum=0.99", "rmsprop:lr=0.1,alpha=0.99,eps=1e-10")
FULL_STEPS, QUICK_STEPS = 200, 2
FPS = 20
TARGET_SECONDS = 5.0
LIBRARIES = ("numpy", "matplotlib", "PIL", "imageio_ffmpeg")


@dataclass(frozen=True)
class Entry:
    name: str
    seconds: float  # wall, median over the repeats
    cpu: float  # this process + children, median over the repeats
    size: int  # bytes of the file
    check: str  # "ok" or "BAD (...)"


def cpu_seconds() -> float:
    """User + system time of this process and its finished children (ffmpeg)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def funcanimation_gif(runs, path: Path, frames: int, fps: int) -> Path:
    """The same animation the usual way: artists updated by FuncAnimation, every frame a full
    redraw, written by PillowWriter."""
    from matplotlib.animation import FuncAnimation, PillowWriter
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from optiscope.plots._grid import view_box
    from optiscope.plots._runs import extract
    from optiscope.plots.compare import formula_text

    objective, paths = extract(runs)
    steps = max(p.steps for p in paths)
    fig = Figure(
        figsize=(animate.WIDTH / animate.DPI, animate.HEIGHT / animate.DPI),
        dpi=animate.DPI,
        layout="constrained",
    )
    FigureCanvasAgg(fig)
    grid = fig.add_gridspec(1, 2, width_ratios=(1.0, 1.15))
    ax_map, ax_loss = fig.add_subplot(grid[0, 0]), fig.add_subplot(grid[0, 1])
    lo, hi = view_box(objective, paths)
    animate._draw_map(ax_map, objective, paths, lo, hi)
    ys = animate._draw_loss_axes(ax_loss, objective, paths, steps)
    mins = np.asarray(objective.minimizers, dtype=np.float64).reshape(-1, 2)
    ax_map.plot(*mins.T, ls="none", marker="*", ms=17, color="gold", mec="black", zorder=8)
    fig.suptitle(f"{objective.name}:  f(w) = {formula_text(objective)}", fontsize=14)
    animate._legend(fig, objective, paths, lo, hi)
    cursor = ax_loss.axvline(0, ls="--", lw=1.0, color="0.35")
    counter = ax_loss.text(1.0, 1.02, "", transform=ax_loss.transAxes, ha="right", fontsize=14)
    moving = []
    for p, y in zip(paths, ys, strict=True):
        line = ax_map.plot([], [], "-", marker="o", ms=3.4, lw=1.8, color=p.color)[0]
        head = ax_map.plot([], [], "o", ms=11, color=p.color, mec="black")[0]
        curve = ax_loss.plot([], [], "-", lw=1.8, color=p.color)[0]
        dot = ax_loss.plot([], [], "o", ms=8, color=p.color, mec="black")[0]
        moving.append((p, y, line, head, curve, dot))
    shown = animate.frame_steps(steps, frames)

    def update(k):
        for p, y, line, head, curve, dot in moving:
            n = int(np.searchsorted(p.steps_drawn, k, side="right"))
            line.set_data(p.xy[:n, 0], p.xy[:n, 1])
            head.set_data([p.xy[n - 1, 0]], [p.xy[n - 1, 1]])
            curve.set_data(p.steps_drawn[:n], y[:n])
            dot.set_data([p.steps_drawn[n - 1]], [y[n - 1]])
        cursor.set_xdata([k, k])
        counter.set_text(f"step {k} / {steps}")

    movie = FuncAnimation(fig, update, frames=[int(k) for k in shown], repeat=False)
    movie.save(str(path), writer=PillowWriter(fps=fps))
    return path


def check_file(path: Path, frames: int) -> str:
    """``ok`` when the file has ``frames`` frames of the animation's size, else what differs."""
    size = (animate.WIDTH, animate.HEIGHT)
    if path.suffix == ".gif":
        from PIL import Image

        with Image.open(path) as im:
            found, found_size = im.n_frames, im.size
    else:
        import imageio_ffmpeg

        found, _ = imageio_ffmpeg.count_frames_and_secs(str(path))
        reader = imageio_ffmpeg.read_frames(str(path))
        found_size = tuple(next(reader)["size"])
        reader.close()
    if found == frames and tuple(found_size) == size:
        return "ok"
    return f"BAD ({found} frames of {found_size[0]}x{found_size[1]})"


def measure(
    name: str, make: Callable[[Path], Path], suffix: str, frames: int, repeat: int, folder: Path
) -> Entry:
    walls, cpus = [], []
    for i in range(repeat):
        path = folder / f"{name.split()[0]}_{i}{suffix}"
        cpu0, wall0 = cpu_seconds(), time.perf_counter()
        make(path)
        walls.append(time.perf_counter() - wall0)
        cpus.append(cpu_seconds() - cpu0)
    return Entry(
        name,
        statistics.median(walls),
        statistics.median(cpus),
        path.stat().st_size,
        check_file(path, frames),
    )


def command_text() -> str:
    return " ".join(
        [f".venv/bin/{Path(sys.executable).name}", "benchmarks/bench_animate.py", *sys.argv[1:]]
    )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_STEPS} steps (CI)")
    parser.add_argument("--steps", type=int, help=f"steps and frames (default {FULL_STEPS})")
    parser.add_argument("--repeat", type=int, default=1, help="times per entry (median)")
    parser.add_argument(
        "--no-funcanimation", action="store_true", help="skip the FuncAnimation entry"
    )
    parser.add_argument("--markdown", action="store_true", help="also print a Markdown table")
    args = parser.parse_args(argv)
    if args.steps is None:
        args.steps = QUICK_STEPS if args.quick else FULL_STEPS
    if not 1 <= args.steps <= animate.MAX_FRAMES:
        parser.error(f"--steps: {args.steps} (valid: 1 to {animate.MAX_FRAMES})")
    if args.repeat < 1:
        parser.error(f"--repeat: {args.repeat} (valid: 1 or more)")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    objective = get_objective(FUNCTION)
    results = run_specs(objective, list(SPECS), steps=args.steps, start=START)
    runs = [(r.label, r.trajectories, r.row) for r in results]
    frames = max(args.steps, animate.MIN_FRAMES)  # N frames over steps 0..N (the 200)
    count = len(animate.frame_steps(args.steps, frames))
    print(f"bench_animate: {machine()}; {versions(LIBRARIES)}")
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())  # other work on the machine
    print(f"load average before the run (1, 5, 15 min): {load}")
    print(f"command: {command_text()}")
    print(
        f"case: {FUNCTION} from {START}, {args.steps} steps of {', '.join(SPECS)}; "
        f"{count} frames at {FPS} fps, {animate.WIDTH}x{animate.HEIGHT}",
        flush=True,
    )

    def ours(path: Path) -> Path:
        return animate.animate_runs(runs, path, fps=FPS, frames=frames)

    def theirs(path: Path) -> Path:
        return funcanimation_gif(runs, path, frames, FPS)

    with tempfile.TemporaryDirectory(prefix="bench_animate-") as folder:
        where = Path(folder)
        entries = [
            measure("animate_runs GIF", ours, ".gif", count, args.repeat, where),
            measure("animate_runs MP4", ours, ".mp4", count, args.repeat, where),
        ]
        if not args.no_funcanimation:
            entries.append(measure("FuncAnimation + PillowWriter", theirs, ".gif", count, 1, where))
    slow = entries[-1].seconds if not args.no_funcanimation else None
    print(f"{'entry':<30} {'wall s':>8} {'cpu s':>8} {'x faster':>9} {'file':>10}  check")
    for e in entries:
        ratio = f"{slow / e.seconds:.1f}" if slow else "-"
        print(
            f"{e.name:<30} {e.seconds:>8.2f} {e.cpu:>8.2f} {ratio:>9} "
            f"{e.size / 1e6:>8.2f}MB  {e.check}"
        )
    verdicts = []
    for e in entries[:2]:
        met = "PASS" if e.seconds < TARGET_SECONDS else "FAIL"
        verdicts.append(f"{e.name.split()[-1]} {e.seconds:.2f} s ({met})")
    full = args.steps == FULL_STEPS and len(SPECS) == 3
    scope = "" if full else f" [this run: {count} frames, not the target's 200]"
    print(f"target: 200 frames of 3 paths in < {TARGET_SECONDS:g} s: {', '.join(verdicts)}{scope}")
    if args.markdown:
        print()
        print(f"Machine: {machine()}. Command: `{command_text()}`.\n")
        print("| entry | wall s | CPU s | x faster than FuncAnimation | file | check |")
        print("|---|---:|---:|---:|---:|---|")
        for e in entries:
            ratio = f"{slow / e.seconds:.1f}" if slow else "-"
            print(
                f"| {e.name} | {e.seconds:.2f} | {e.cpu:.2f} | {ratio} | "
                f"{e.size / 1e6:.2f} MB | {e.check} |"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
