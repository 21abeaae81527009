"""Animations: valid files of the requested frames and size, paths that grow and end where the
runs end, the trail, files written whole or not at all, the command and its refusals."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import imageio_ffmpeg
import numpy as np
import pytest
from PIL import Image

from optiscope.cli import main
from optiscope.errors import OptiscopeError
from optiscope.experiments import run_specs
from optiscope.objectives import get_objective
from optiscope.plots import animate
from optiscope.plots.animate import animate_runs, animation_bytes, frame_steps

BENCH = Path(__file__).resolve().parent.parent / "benchmarks" / "bench_animate.py"
DONE_WHEN = [
    "animate", "aniso", "momentum:lr=0.1,momentum=0.99", "rmsprop:lr=0.1,alpha=0.99,eps=1e-10",
    "--start", "1,1", "--steps", "100",
]  # fmt: skip
# Two slow runs that end far apart, and one that diverges (aniso: w2 *= 1 - 16 lr = -2.2).
SPECS = ["sgd:lr=0.005", "sgd:lr=0.02", "sgd:lr=0.2"]
STEPS = 30


@pytest.fixture(scope="module")
def runs():
    results = run_specs(get_objective("aniso"), SPECS, steps=STEPS, start=(1.0, 1.0))
    assert results[2].trajectories.diverged_at[results[2].row] > 0  # the case the X is for
    return [(r.label, r.trajectories, r.row) for r in results]


@pytest.fixture(scope="module")
def scene(runs):
    """The figure the frames are drawn on: where each data point lands in pixels."""
    return animate._Scene(runs, None, None)


def gif_frames(path: Path) -> list[np.ndarray]:
    """Every frame of a GIF as RGB ``[H, W, 3]`` (each one composed over the previous)."""
    frames = []
    with Image.open(path) as im:
        for i in range(im.n_frames):
            im.seek(i)
            frames.append(np.asarray(im.convert("RGB")).astype(np.int32))
    return frames


def pixel(scene, xy) -> tuple[int, int]:
    """(row, column) in the frame of the map point ``xy``."""
    x, y = scene.map_pen.data.transform(np.asarray(xy, dtype=np.float64).reshape(1, 2))[0]
    return int(round(scene.size[1] - y)), int(round(x))


def near_color(frame: np.ndarray, where: tuple[int, int], rgb, radius: int = 5) -> int:
    """How many pixels within ``radius`` of ``where`` are within 40 of ``rgb`` (max channel)."""
    r, c = where
    patch = frame[max(r - radius, 0) : r + radius + 1, max(c - radius, 0) : c + radius + 1]
    return int((np.abs(patch - np.asarray(rgb)).max(axis=-1) <= 40).sum())


def map_color_count(scene, frame: np.ndarray, rgb) -> int:
    """Pixels of colour ``rgb`` (within 40) inside the map panel."""
    (r0, c0), (r1, c1) = pixel(scene, scene.lo[[0, 1]]), pixel(scene, scene.hi[[0, 1]])
    region = frame[min(r0, r1) : max(r0, r1), min(c0, c1) : max(c0, c1)]
    return int((np.abs(region - np.asarray(rgb)).max(axis=-1) <= 40).sum())


# --- frames -----------------------------------------------------------------------------------


def test_frame_steps_are_even_distinct_and_include_both_ends():
    shown = frame_steps(100, 12)
    assert len(shown) == 12 and shown[0] == 0 and shown[-1] == 100
    assert (np.diff(shown) > 0).all() and np.diff(shown).max() - np.diff(shown).min() <= 1
    assert list(frame_steps(5, 50)) == [0, 1, 2, 3, 4, 5]  # at most one frame per step
    assert len(frame_steps(1000)) == animate.DEFAULT_FRAMES  # the default cap
    assert list(frame_steps(30)) == list(range(31))  # a short run: every step
    for steps in (1, 7, 199, 200, 201, 999):
        for frames in (2, 3, 50, 200, 1000):
            shown = frame_steps(steps, frames)
            assert len(shown) == min(steps + 1, frames) and shown[0] == 0 and shown[-1] == steps
            assert (np.diff(shown) > 0).all()


@pytest.fixture(scope="module")
def gif(runs, tmp_path_factory):
    """Four frames (steps 0, 10, 20, 30) at 10 fps."""
    return animate_runs(runs, tmp_path_factory.mktemp("gif") / "a.gif", frames=4, fps=10)


def test_gif_has_the_requested_frames_size_and_timing(gif):
    with Image.open(gif) as im:
        assert im.format == "GIF" and im.n_frames == 4
        assert im.size == (animate.WIDTH, animate.HEIGHT)
        assert im.info["loop"] == 0
        durations = []
        for i in range(im.n_frames):
            im.seek(i)
            durations.append(im.info["duration"])
    assert durations == [100, 100, 100, animate.GIF_HOLD_MS]


def test_mp4_has_the_requested_frames_and_size(runs, tmp_path):
    data = animation_bytes(runs, "mp4", frames=4, fps=10)
    assert data[4:8] == b"ftyp"
    path = tmp_path / "a.mp4"
    path.write_bytes(data)
    count, seconds = imageio_ffmpeg.count_frames_and_secs(str(path))
    assert count == 4 and seconds == pytest.approx(0.4, abs=0.05)
    reader = imageio_ffmpeg.read_frames(str(path))
    meta = next(reader)
    first = next(reader)
    reader.close()
    assert tuple(meta["size"]) == (animate.WIDTH, animate.HEIGHT)
    assert len(first) == animate.WIDTH * animate.HEIGHT * 3  # rgb24 bytes of one frame


def test_paths_grow_and_the_last_frame_shows_each_run_at_its_end(runs, scene, gif):
    first, _, middle, last = gif_frames(gif)  # steps 0, 10, 20, 30
    for label, traj, row in runs:
        rgb = scene.colors[[r[0] for r in runs].index(label)]
        k = int(traj.diverged_at[row])
        end = traj.positions[(k - 1) if k > 0 else -1, row]  # the last good point
        end = np.clip(end, scene.lo, scene.hi)  # a diverged run's X sits on the map's edge
        # The head (a dot, or the X of a diverged run) fills the middle of the end point.
        assert near_color(last, pixel(scene, end), rgb, radius=4) >= 40, label
        assert near_color(first, pixel(scene, end), rgb) == 0, label  # not there at step 0
        # The path grows: more of the run's colour on the map as the steps go by (the
        # diverged run stops growing at its last good step, before step 20).
        counts = [map_color_count(scene, f, rgb) for f in (first, middle, last)]
        assert counts[0] < counts[1], (label, counts)
        assert counts[1] < counts[2] or (k > 0 and k <= 20), (label, counts)


def test_the_trail_draws_older_steps_faint(runs):
    one = runs[:1]
    plain_scene, trail_scene = animate._Scene(one, None, None), animate._Scene(one, 3, None)
    plain = np.asarray(plain_scene.image(STEPS)).astype(np.int32)
    trail = np.asarray(trail_scene.image(STEPS)).astype(np.int32)
    _, traj, row = one[0]
    rgb = plain_scene.colors[0]
    # Midway along an early step (far from the last 3): full colour without a trail, faint with.
    early = pixel(plain_scene, traj.positions[[5, 6], row].mean(axis=0))
    assert near_color(plain, early, rgb, radius=2) >= 3
    assert near_color(trail, early, rgb, radius=2) == 0
    assert (
        not np.array_equal(plain[early], trail[early]) and trail[early].sum() > plain[early].sum()
    )
    # The last steps are bright in both.
    recent = pixel(plain_scene, traj.positions[[STEPS - 1, STEPS], row].mean(axis=0))
    assert near_color(trail, recent, rgb, radius=2) >= 3


def test_animation_bytes_are_the_file_and_progress_is_per_frame(runs):
    seen = []
    gif = animation_bytes(runs, "gif", frames=3, progress=lambda *done: seen.append(done))
    assert seen == [(1, 3), (2, 3), (3, 3)]
    assert gif.startswith(b"GIF89a")
    with pytest.raises(OptiscopeError, match="valid: gif, mp4"):
        animation_bytes(runs, "webm")


@pytest.mark.parametrize("suffix", [".gif", ".mp4"])
def test_an_interrupted_animation_leaves_no_file_and_keeps_the_old_one(runs, tmp_path, suffix):
    target = tmp_path / f"a{suffix}"
    target.write_bytes(b"before")

    def stop(done, total):
        if done == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        animate_runs(runs, target, frames=5, progress=stop)
    assert target.read_bytes() == b"before"
    assert sorted(p.name for p in tmp_path.iterdir()) == [target.name]  # no temporary left


def test_library_refusals_name_the_valid_choices(runs, tmp_path):
    cases = [
        (dict(path=tmp_path / "a.png"), "valid: .gif, .mp4"),
        (dict(path=tmp_path / "a"), "without a suffix"),
        (dict(fps=0), "1 <= fps <= 60"),
        (dict(fps=61), "1 <= fps <= 60"),
        (dict(fps=True), "invalid fps"),
        (dict(frames=1), "2 <= frames <= 1000"),
        (dict(frames=1001), "2 <= frames <= 1000"),
        (dict(trail=0), "1 <= trail"),
    ]
    for kwargs, message in cases:
        path = kwargs.pop("path", tmp_path / "ok.gif")
        with pytest.raises(OptiscopeError, match=message):
            animate_runs(runs, path, **kwargs)
    assert list(tmp_path.iterdir()) == []
    flat = run_specs(get_objective("linreg:features=bmi+bp"), ["sgd"], steps=3)
    with pytest.raises(OptiscopeError, match="animations need a 2-D function"):
        animate_runs([(flat[0].label, flat[0].trajectories, flat[0].row)], tmp_path / "a.gif")


# --- the command ------------------------------------------------------------------------------


def cli(capsys, *argv):
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_the_done_when_command_writes_the_gif(capsys, tmp_path):
    path = tmp_path / "a.gif"
    code, out, err = cli(capsys, *DONE_WHEN, "--out", str(path))
    assert code == 0, err
    with Image.open(path) as im:
        assert im.n_frames == 101 and im.size == (animate.WIDTH, animate.HEIGHT)
    assert out.startswith(f"wrote {path} (101 frames, {animate.WIDTH}x{animate.HEIGHT}, ")
    assert "at 20 fps; made in " in out and out.count("\n") == 1


def test_the_command_writes_mp4_with_options(capsys, tmp_path):
    path = tmp_path / "b.mp4"
    code, _, err = cli(
        capsys, "animate", "aniso", "sgd:lr=0.1", "--steps", "40", "--frames", "5", "--fps",
        "5", "--trail", "3", "--title", "two", "--noise", "0.1", "--seed", "2", "--out", str(path),
    )  # fmt: skip
    assert code == 0, err
    assert imageio_ffmpeg.count_frames_and_secs(str(path))[0] == 5


@pytest.mark.parametrize(
    "args, message",
    [
        (["--out", "{dir}/a.png"], "cannot write an animation as .png; valid: .gif, .mp4"),
        (["--fps", "0"], "invalid fps: 0 (valid: 1 <= fps <= 60)"),
        (["--fps", "61"], "invalid fps: 61"),
        (["--frames", "1"], "invalid frames: 1 (valid: 2 <= frames <= 1000)"),
        (["--frames", "1001"], "invalid frames: 1001"),
        (["--trail", "0"], "invalid trail: 0"),
        (["--out", "{dir}/file.txt/a.gif"], "cannot write animation"),
        (["--steps", "0"], "invalid steps"),
        (["--start", "1,2,3"], "start"),
    ],
)
def test_bad_input_is_one_line_and_status_2(capsys, tmp_path, args, message):
    (tmp_path / "file.txt").write_text("a file, not a folder")
    args = [a.replace("{dir}", str(tmp_path)) for a in args]
    if "--out" not in args:
        args += ["--out", str(tmp_path / "a.gif")]
    code, out, err = cli(capsys, "animate", "aniso", "sgd:lr=0.1", *args)
    assert code == 2
    assert out == "" and err.count("\n") == 1 and message in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file.txt"]


def test_a_function_that_is_not_2d_is_refused(capsys, tmp_path):
    code, _, err = cli(
        capsys, "animate", "linreg:features=bmi+bp", "sgd", "--out", str(tmp_path / "a.gif")
    )
    assert code == 2 and err.count("\n") == 1
    name = get_objective("linreg:features=bmi+bp").name
    assert f"animations need a 2-D function; {name} has 3 parameters" in err
    assert "use `optiscope compare` for its loss curves" in err
    assert list(tmp_path.iterdir()) == []


def test_mp4_without_ffmpeg_is_refused_before_running(capsys, tmp_path, monkeypatch):
    def missing():
        raise RuntimeError("no ffmpeg")

    monkeypatch.setattr(imageio_ffmpeg, "get_ffmpeg_exe", missing)
    code, _, err = cli(capsys, "animate", "aniso", "sgd", "--out", str(tmp_path / "a.mp4"))
    assert code == 2 and err.count("\n") == 1 and "ffmpeg program was not found" in err
    assert ".gif needs no ffmpeg" in err
    assert list(tmp_path.iterdir()) == []


def test_help_teaches_with_the_done_when_example_first(capfd):
    code, out, _ = cli(capfd, "animate", "--help")  # help is printed by click, past capsys
    assert code == 0
    examples = out[out.index("Examples") :]
    first = next(line for line in examples.splitlines() if "optiscope animate" in line)
    assert "optiscope animate aniso momentum:lr=0.1,momentum=0.99" in first
    for flag in ("--out", "--fps", "--frames", "--trail", "--steps", "--start", "--title"):
        assert flag in out


def test_the_commands_help_ranges_are_the_librarys():
    from optiscope import cli_animate

    assert cli_animate.DEFAULT_FPS == animate.DEFAULT_FPS
    assert cli_animate.FPS_RANGE == (animate.MIN_FPS, animate.MAX_FPS)
    assert cli_animate.DEFAULT_FRAMES == animate.DEFAULT_FRAMES
    assert cli_animate.FRAMES_RANGE == (animate.MIN_FRAMES, animate.MAX_FRAMES)


# --- the benchmark ----------------------------------------------------------------------------


def test_quick_benchmark_runs_and_every_file_checks(tmp_path):
    proc = subprocess.run(
        [sys.executable, str(BENCH), "--quick", "--markdown"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = proc.stdout
    for entry in ("animate_runs GIF", "animate_runs MP4", "FuncAnimation + PillowWriter"):
        rows = [line for line in out.splitlines() if line.startswith(entry)]
        assert len(rows) == 1 and rows[0].endswith("  ok"), out
    assert "target: 200 frames of 3 paths in < 5 s" in out
