"""The comparison figure: three panels, the right scales, one line per run, no warnings.

(The readability rules, zoom inset, small multiples, line styles, exits, loss floor, colour
bar, names, envelope, are tested in test_plots_readable.py.)

Trajectories are built here from arrays (gradient descent computed with a NumPy loop), and the
objectives from the Objective dataclass, so these tests depend on neither the engine's loop nor
the catalogue.
"""

from __future__ import annotations

import warnings

import matplotlib.image as mpimg
import numpy as np
import pytest

from optiscope.engine import Trajectories
from optiscope.errors import OptiscopeError
from optiscope.objectives.base import Objective
from optiscope.plots import comparison_figure, save_figure
from optiscope.plots.levels import contour_levels
from optiscope.plots.surface import height_map

ANISO = Objective(
    name="aniso",
    formula="w1^2 + 8*w2^2",
    value_fn=lambda x: x[:, 0] ** 2 + 8 * x[:, 1] ** 2,
    grad_fn=lambda x: np.column_stack([2 * x[:, 0], 16 * x[:, 1]]),
    minimizers=np.zeros((1, 2)),
    f_min=0.0,
    latex=r"w_1^2 + 8 w_2^2",
)
SADDLE = Objective(
    name="saddle",
    formula="w1^2 - w2^2",
    value_fn=lambda x: x[:, 0] ** 2 - x[:, 1] ** 2,
    grad_fn=lambda x: np.column_stack([2 * x[:, 0], -2 * x[:, 1]]),
    latex=r"w_1^2 - w_2^2",
)
ROSENBROCK = Objective(
    name="rosenbrock",
    formula="(1-w1)^2 + 100*(w2-w1^2)^2",
    value_fn=lambda x: (1 - x[:, 0]) ** 2 + 100 * (x[:, 1] - x[:, 0] ** 2) ** 2,
    grad_fn=lambda x: np.column_stack(
        [
            -2 * (1 - x[:, 0]) - 400 * x[:, 0] * (x[:, 1] - x[:, 0] ** 2),
            200 * (x[:, 1] - x[:, 0] ** 2),
        ]
    ),
    bounds=((-2.0, 2.0), (-1.0, 3.0)),
    minimizers=np.ones((1, 2)),
    f_min=0.0,
    latex=r"\unknowncommand{w}",  # not mathtext: the title falls back to the formula
)


def gradient_descent(
    objective: Objective, lrs: list[float], steps: int, start=(1.0, 1.0), escape: float = 1e3
) -> Trajectories:
    """B rows of plain gradient descent, frozen like the engine freezes a diverged row."""
    lr = np.asarray(lrs, dtype=np.float64)[:, None]  # [B, 1]
    x = np.tile(np.asarray(start, dtype=np.float64), (len(lrs), 1))  # [B, 2]
    diverged_at = np.full(len(lrs), -1)
    positions = [x.copy()]
    with np.errstate(all="ignore"):
        for k in range(1, steps + 1):
            new = x - lr * objective.grad(x)
            bad = (diverged_at < 0) & (
                ~np.isfinite(new).all(axis=1) | (np.abs(new) > escape).any(axis=1)
            )
            diverged_at[bad] = k
            x = np.where((diverged_at < 0)[:, None], new, x)
            positions.append(x.copy())
    pos = np.stack(positions)  # [S+1, B, 2]
    losses = np.stack([objective.value(p) for p in pos])  # [S+1, B]
    grads = np.stack([np.linalg.norm(objective.grad(p), axis=1) for p in pos])
    return Trajectories(
        objective=objective,
        optimizer="sgd",
        settings=[{"lr": v} for v in lrs],
        positions=pos,
        losses=losses,
        grad_norms=grads,
        evaluations=np.zeros(losses.shape, dtype=np.int64),
        diverged_at=diverged_at,
    )


@pytest.fixture
def aniso_runs():
    traj = gradient_descent(ANISO, [0.1, 0.2], steps=50)  # lr 0.2 > 2/16: diverges
    assert traj.diverged_at[0] == -1 and traj.diverged_at[1] > 0
    k = traj.diverged_at[1]
    assert np.array_equal(traj.positions[k:, 1], np.repeat(traj.positions[k - 1 : k, 1], 51 - k, 0))
    return [("GD lr=0.1", traj, 0), ("GD lr=0.2", traj, 1)]


def path_lines(fig):
    return [line for line in fig.axes[0].get_lines() if line.get_gid() == "path"]


def test_three_panels_equal_aspect_log_loss(aniso_runs):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fig = comparison_figure(aniso_runs, title="zig-zag")
        fig.canvas.draw()
    assert len(fig.axes) == 4  # three panels and the contour's colour bar
    contour, surface, loss, bar = fig.axes
    assert bar.get_gid() == "colorbar" and "f − f_min" in bar.get_xlabel()  # under the map
    assert contour.get_aspect() == 1.0
    assert surface.name == "3d"
    assert loss.get_yscale() == "log"
    assert "gap" in loss.get_ylabel()
    assert len(path_lines(fig)) == len(aniso_runs)
    assert [line.get_gid() for line in loss.get_lines()].count("loss") == len(aniso_runs)
    assert any(np.allclose(line.get_ydata(), 1e-6) for line in loss.get_lines())  # tolerance


def test_diverged_run_labelled_and_cut_at_last_good_point(aniso_runs):
    fig = comparison_figure(aniso_runs)
    traj, k = aniso_runs[1][1], int(aniso_runs[1][1].diverged_at[1])
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert f"GD lr=0.2 (diverged at step {k})" in labels
    assert "GD lr=0.1" in labels
    diverged = path_lines(fig)[1]
    xy = np.column_stack([diverged.get_xdata(), diverged.get_ydata()])
    # drawn until it leaves the window (step 1: w2 goes 1 -> -2.2), cut at the window's edge on
    # the segment towards the next point; the frozen tail is not drawn
    assert len(xy) == 2 <= k
    np.testing.assert_array_equal(xy[0], traj.positions[0, 1])
    assert xy[1, 1] == fig.axes[0].get_ylim()[0]
    step = traj.positions[1, 1] - traj.positions[0, 1]
    t = (xy[1, 1] - xy[0, 1]) / step[1]
    np.testing.assert_allclose(xy[1], traj.positions[0, 1] + t * step)
    ends = [line for line in fig.axes[0].get_lines() if line.get_gid() == "end"]
    assert [line.get_marker() for line in ends] == ["o", "X"]
    np.testing.assert_array_equal(np.ravel(ends[1].get_xydata()), xy[-1])  # the X where it left
    # the converging run's zero-free gap reaches far below the tolerance on the log axis
    assert fig.axes[2].get_ylim()[0] < 1e-6


def test_contour_levels_are_log_spaced_for_the_bowl():
    X, Y = np.meshgrid(np.linspace(-2, 2, 101), np.linspace(-2, 2, 101))
    levels = contour_levels(X**2 + 8 * Y**2, f_min=0.0)
    ratios = levels.values[1:] / levels.values[:-1]
    assert np.allclose(ratios, ratios[0]) and ratios[0] > 1.5
    assert levels.values[0] < 1e-2 * levels.values[-1]  # lines near the bottom too
    saddle = contour_levels(X**2 - Y**2, f_min=None)
    assert saddle.signed and 0.0 in saddle.values
    assert np.allclose(saddle.values, -saddle.values[::-1])


def test_saddle_without_f_min_uses_symlog(tmp_path):
    traj = gradient_descent(SADDLE, [0.1, 0.3], steps=40, start=(1.5, 0.01), escape=10)
    runs = [("lr 0.1", traj, 0), ("lr 0.3", traj, 1)]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fig = comparison_figure(runs)
        out = save_figure(fig, tmp_path / "saddle.svg")
    assert out.suffix == ".svg" and out.read_text().lstrip().startswith("<?xml")
    fig = comparison_figure(runs)
    assert fig.axes[2].get_yscale() == "symlog"
    assert len(path_lines(fig)) == 2
    assert not any(line.get_gid() == "minimizer" for line in fig.axes[0].get_lines())


def test_huge_range_gets_a_log_surface_and_a_plain_title():
    traj = gradient_descent(ROSENBROCK, [1e-3], steps=300, start=(-1.5, 2.0))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fig = comparison_figure([("GD", traj, 0)])
        fig.canvas.draw()
    assert "log10" in fig.axes[1].get_zlabel()
    assert "(1-w1)^2" in fig._suptitle.get_text()
    X, Y = np.meshgrid(np.linspace(-2, 2, 60), np.linspace(-2, 2, 60))
    assert height_map(X**2 + 8 * Y**2, 0.0).log_ref is None  # a bowl keeps f as its height


def test_save_png_round_trip(tmp_path, aniso_runs):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        path = save_figure(comparison_figure(aniso_runs), tmp_path / "deep" / "dir" / "cmp.png")
    assert path.exists() and path.stat().st_size > 10_000
    image = mpimg.imread(path)
    assert image.shape[:2] == (round(6.6 * 120), 18 * 120)


def test_save_without_suffix_and_bad_suffix(tmp_path, aniso_runs):
    assert save_figure(comparison_figure(aniso_runs), tmp_path / "plain").suffix == ".png"
    with pytest.raises(OptiscopeError, match="valid"):
        save_figure(comparison_figure(aniso_runs), tmp_path / "x.docx")


def test_non_finite_values_do_not_warn_or_crash(aniso_runs):
    traj = aniso_runs[0][1]
    losses = traj.losses.copy()
    losses[5, 0] = np.nan
    losses[6, 0] = np.inf
    positions = traj.positions.copy()
    positions[7, 0] = [np.nan, np.inf]
    broken = Trajectories(
        traj.objective,
        traj.optimizer,
        traj.settings,
        positions,
        losses,
        traj.grad_norms,
        traj.evaluations,
        traj.diverged_at,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fig = comparison_figure([("broken", broken, 0)])
        fig.canvas.draw()
    assert len(path_lines(fig)) == 1


def test_bad_runs_are_rejected(aniso_runs):
    with pytest.raises(OptiscopeError, match="nothing to plot"):
        comparison_figure([])
    with pytest.raises(OptiscopeError, match="invalid row 5"):
        comparison_figure([("x", aniso_runs[0][1], 5)])
    other = gradient_descent(SADDLE, [0.1], steps=3)
    with pytest.raises(OptiscopeError, match="share one objective"):
        comparison_figure([aniso_runs[0], ("saddle", other, 0)])


def test_long_paths_are_drawn_at_a_bounded_resolution():
    """A 20,000-step run is drawn from at most MAX_POINTS points: the first half of the budget
    in full, then evenly spaced steps ending at the last one; the loss curve's x values are
    those steps, so the thinned curve stays where the full one is."""
    from optiscope.plots._runs import MAX_POINTS, extract

    steps = 20_000
    traj = gradient_descent(ANISO, [0.0001], steps)
    _, (path,) = extract([("gd", traj, 0)])
    kept = path.steps_drawn
    assert len(kept) <= MAX_POINTS < steps
    np.testing.assert_array_equal(kept[: MAX_POINTS // 2], np.arange(MAX_POINTS // 2))
    assert kept[-1] == steps and (np.diff(kept) > 0).all()
    np.testing.assert_array_equal(path.xy, traj.positions[kept, 0])
    fig = comparison_figure([("gd", traj, 0)])
    (line,) = [ln for ln in fig.axes[2].get_lines() if ln.get_gid() == "loss"]
    np.testing.assert_array_equal(line.get_xdata(), kept)
    np.testing.assert_array_equal(line.get_ydata(), traj.losses[kept, 0])


def test_legend_columns_wrap_long_labels_and_keep_short_ones_in_one_row():
    from optiscope.plots.compare import FIGSIZE, legend_columns

    short = ["sgd", "momentum", "start", "end", "global minimum"]
    assert legend_columns(short, len(short), FIGSIZE[0]) == len(short)
    long = ["adam (lr 0.2531, beta1 0.9266, beta2 0.9378, eps 2.305e-07) (5 runs)"] * 2
    long += ["start", "other starts / seeds (thin)", "end", "global minimum", "tolerance 1e-06"]
    ncol = legend_columns(long, len(long), FIGSIZE[0])
    assert 1 < ncol < len(long)
    assert legend_columns(long, len(long), FIGSIZE[0] * 4) == len(long)  # a wider figure fits
