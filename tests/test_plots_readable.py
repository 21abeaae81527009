"""Readable comparison figures (issue 11, item 3), checked on the figure's artists.

Each rule of ``optiscope.plots`` is checked where it shows: the zoom inset on RMSProp's 2-cycle
(and its absence for plain gradient descent), one map per run beyond 4 runs, line styles that
keep identical paths apart, a diverged run cut at the window's edge without moving the window,
the loss axis's floor, the colour bar, parameter names on the axes, the neutral start, the
3-D panel's rule and the theory's envelope with the theory's own slope.

The hard cases are also saved as PNG files for a person to look at: into the folder named by
the environment variable ``OPTISCOPE_REVIEW_DIR`` when it is set (the review used
``/tmp/review11/C``), else into pytest's temporary folder.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import pytest
from matplotlib.axes import Axes

from optiscope.experiments import run_specs
from optiscope.objectives import get_objective
from optiscope.plots import comparison_figure, save_figure
from optiscope.plots._grid import hidden_motion, view_box
from optiscope.plots._runs import extract
from optiscope.plots.labels import axis_names, parameter_names
from optiscope.plots.loss import loss_floor, loss_scale
from optiscope.theory import theory_report, with_found_minimum

RMSPROP_CYCLE = "rmsprop:lr=0.1,alpha=0.1,eps=1e-10"


def runs_of(function: str, specs: list[str], steps: int = 50, start=(1.0, 1.0)):
    objective = with_found_minimum(get_objective(function), start)
    results = run_specs(objective, specs, steps=steps, start=start)
    return [(r.label, r.trajectories, r.row) for r in results]


def maps(fig) -> list[Axes]:
    return [ax for ax in fig.axes if ax.get_gid() == "map"]


def lines(ax: Axes, gid: str) -> list:
    return [line for line in ax.get_lines() if line.get_gid() == gid]


def zoom_of(ax: Axes) -> Axes | None:
    insets = [child for child in ax.child_axes if child.get_gid() == "zoom"]
    return insets[0] if insets else None


def loss_axes(fig) -> Axes:
    return next(ax for ax in fig.axes if ax.get_xlabel() == "step")


@pytest.fixture(scope="module")
def review_dir(tmp_path_factory) -> Path:
    folder = os.environ.get("OPTISCOPE_REVIEW_DIR")
    path = Path(folder) if folder else tmp_path_factory.mktemp("review")
    path.mkdir(parents=True, exist_ok=True)
    return path


# --- the zoom inset --------------------------------------------------------------------------


def test_zoom_inset_shows_the_rmsprop_two_cycle(review_dir):
    runs = runs_of("aniso", ["sgd:lr=0.1", RMSPROP_CYCLE])
    cycle = runs[1][1].positions[-2:, runs[1][2]]  # the 2-cycle's two points
    assert np.all(np.abs(cycle) > 0.04) and np.all(np.abs(cycle) < 0.06)  # amplitude ~0.05
    fig = comparison_figure(runs, title="RMSProp's 2-cycle")
    (ax,) = maps(fig)
    inset = zoom_of(ax)
    assert inset is not None
    (x0, x1), (y0, y1) = inset.get_xlim(), inset.get_ylim()
    for x, y in cycle:  # both points of the cycle inside the inset, which zooms in a lot
        assert x0 < x < x1 and y0 < y < y1
    window = np.subtract(ax.get_xlim()[1], ax.get_xlim()[0])
    assert (x1 - x0) < 0.1 * window
    tail = lines(inset, "zoom_path")[1]  # the RMSProp run's last steps, drawn in the inset
    drawn = tail.get_xydata()
    assert all(np.isclose(drawn, point).all(axis=1).any() for point in cycle)
    assert len(lines(inset, "zoom_end")) == 2
    assert [a for a in ax.get_children() if a.get_gid() == "zoom_box"]  # the rectangle
    save_figure(fig, review_dir / "cycle.png")


def test_no_inset_for_plain_gradient_descent_on_a_bowl():
    for steps in (20, 50, 200):  # converging: ever smaller steps, nothing hides
        fig = comparison_figure(runs_of("aniso", ["sgd:lr=0.1"], steps=steps))
        assert zoom_of(maps(fig)[0]) is None
    objective, paths = extract(runs_of("aniso", [RMSPROP_CYCLE, "sgd:lr=0.1"]))
    lo, hi = view_box(objective, paths)
    assert hidden_motion(paths[0], lo, hi) is not None and hidden_motion(paths[1], lo, hi) is None


# --- many runs, identical runs, diverged runs ------------------------------------------------


def test_six_runs_get_six_map_panels():
    specs = ["sgd:lr=0.05", "sgd:lr=0.1", "momentum:lr=0.05,momentum=0.5",
             "nesterov:lr=0.05,momentum=0.5", "adam:lr=0.1", RMSPROP_CYCLE]  # fmt: skip
    fig = comparison_figure(runs_of("aniso", specs))
    panels = maps(fig)
    assert len(panels) == 6
    for ax, spec in zip(panels, specs, strict=True):
        (own,) = lines(ax, "path")
        assert len(lines(ax, "faint")) == 5  # the other runs, grey
        assert ax.get_title().startswith(spec.split(":")[0])
        assert own.get_label() == ax.get_title()
    assert len(lines(loss_axes(fig), "loss")) == 6
    assert sum(ax.get_gid() == "colorbar" for ax in fig.axes) == 1  # shared
    assert not any(ax.name == "3d" for ax in fig.axes)  # beyond 3 runs: off by default
    assert zoom_of(panels[5]) is not None and zoom_of(panels[0]) is None
    xlims = {ax.get_xlim() for ax in panels}
    assert len(xlims) == 1  # one window for all


def test_identical_runs_have_different_line_styles():
    fig = comparison_figure(runs_of("aniso", ["sgd:lr=0.1", "sgd:lr=0.1"]))
    first, second = lines(maps(fig)[0], "path")
    np.testing.assert_array_equal(first.get_xydata(), second.get_xydata())
    assert first.get_linestyle() != second.get_linestyle()
    assert first.get_marker() != second.get_marker()
    assert first.get_color() != second.get_color()
    a, b = lines(loss_axes(fig), "loss")
    assert a.get_linestyle() != b.get_linestyle()


def test_diverging_run_leaves_through_the_edge_without_moving_the_window():
    converging = runs_of("aniso", ["sgd:lr=0.1"])
    both = runs_of("aniso", ["sgd:lr=0.1", "sgd:lr=0.3"])
    assert both[1][1].diverged_at[both[1][2]] > 0
    alone = maps(comparison_figure(converging))[0]
    ax = maps(comparison_figure(both))[0]
    assert ax.get_xlim() == alone.get_xlim() and ax.get_ylim() == alone.get_ylim()
    (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
    path = lines(ax, "path")[1].get_xydata()
    end = path[-1]
    assert end[0] in (x0, x1) or end[1] in (y0, y1)  # on the edge
    assert np.all((path[:-1] >= [x0, y0]) & (path[:-1] <= [x1, y1]))
    (marker,) = [m for m in lines(ax, "end") if m.get_marker() == "X"]
    np.testing.assert_array_equal(np.ravel(marker.get_xydata()), end)


# --- the loss panel --------------------------------------------------------------------------


def test_loss_axis_stops_at_the_floor():
    runs = runs_of("aniso", ["sgd:lr=0.1", "rmsprop:lr=0.1,alpha=0.99,eps=1e-10"])
    assert runs[1][1].losses[-1, runs[1][2]] < 1e-100  # the gap that used to set the axis
    ax = loss_axes(comparison_figure(runs))
    assert ax.get_ylim()[0] == pytest.approx(1e-6 / 100)
    assert "below 1e-08 not shown" in ax.get_title()
    ax = loss_axes(comparison_figure(runs, tol=1e-3))
    assert ax.get_ylim()[0] == pytest.approx(1e-5)
    objective, paths = extract(runs)
    assert loss_floor(objective, paths) == 1e-8
    far = with_found_minimum(get_objective("1e12 + w1**2 + 8*w2**2"), (1.0, 1.0))
    _, far_paths = extract(runs_of("1e12 + w1**2 + 8*w2**2", ["sgd:lr=0.1"]))
    floor = loss_floor(far, far_paths)
    assert floor == pytest.approx(np.finfo(float).eps * far.f_min) and floor > 1e-8


def test_loss_scale_without_a_minimum():
    rng = np.random.default_rng(0)
    assert loss_scale([5 + rng.random(50)]) == "linear"  # a narrow positive band
    assert loss_scale([np.geomspace(1e3, 1e-3, 50)]) == "log"
    assert loss_scale([np.linspace(-1, 1, 51)]) == "linear"  # crosses 0, narrow
    assert loss_scale([-np.geomspace(1e-3, 1e4, 50), np.geomspace(1e-3, 1, 9)]) == "symlog"
    runs = runs_of("5 + w1 + 0.1*w2**2", ["sgd:lr=0.1", "adam:lr=0.1"], steps=30)
    assert runs[0][1].objective.f_min is None  # no minimum: f itself is drawn
    ax = loss_axes(comparison_figure(runs))
    assert ax.get_yscale() == "linear" and "linear scale; f_min unknown" in ax.get_ylabel()


def test_theory_envelope_has_the_theory_slope():
    spec = "momentum:lr=0.1,momentum=0.99"
    ax = loss_axes(comparison_figure(runs_of("aniso", ["sgd:lr=0.1", spec])))
    envelopes = lines(ax, "envelope")
    assert len(envelopes) == 2
    report = theory_report("aniso", ["sgd:lr=0.1", spec], start=(1.0, 1.0))
    for line, run in zip(envelopes, report["runs"], strict=True):
        rate = run["predicted_rate"]  # per step of the distance: the gap falls by rate^2
        k, y = line.get_xdata(), line.get_ydata()
        slope = (math.log(y[-1]) - math.log(y[0])) / (k[-1] - k[0])
        assert slope == pytest.approx(2 * math.log(rate), rel=1e-9)
        assert line.get_label() == f"theory: rate {rate:.3g}/step"
    assert envelopes[1].get_label() == "theory: rate 0.995/step"  # the note's momentum 0.99


def test_no_envelope_where_the_theory_does_not_apply():
    ax = loss_axes(comparison_figure(runs_of("aniso", ["adam:lr=0.1", RMSPROP_CYCLE])))
    assert not lines(ax, "envelope")  # adaptive methods: no linear rate
    runs = runs_of("rosenbrock", ["adam:lr=0.05", "momentum:lr=0.001,momentum=0.9"], 100,
                   (-1.2, 1.0))  # fmt: skip
    assert not lines(loss_axes(comparison_figure(runs)), "envelope")  # not a quadratic
    runs = runs_of("aniso", ["sgd:lr=0.1"])
    assert not lines(loss_axes(comparison_figure(runs, theory=False)), "envelope")


# --- colour bar, names, start marker, 3-D panel ----------------------------------------------


def test_colour_bar_names_the_level_scale():
    fig = comparison_figure(runs_of("aniso", ["sgd:lr=0.1"]))
    (bar,) = [ax for ax in fig.axes if ax.get_gid() == "colorbar"]
    assert bar.get_xlabel() == "f − f_min  (levels log-spaced)"  # a horizontal bar, under
    ticks = [float(t.get_text()) for t in bar.get_xticklabels() if t.get_text()]
    assert len(ticks) >= 3 and ticks == sorted(ticks)
    # small multiples: one vertical bar beside the maps, the same scale
    many = comparison_figure(runs_of("aniso", ["sgd:lr=0.1"] * 5))
    (bar,) = [ax for ax in many.axes if ax.get_gid() == "colorbar"]
    assert bar.get_ylabel() == "f − f_min  (levels log-spaced)"


def test_data_objective_axes_carry_the_parameter_names():
    runs = runs_of("linreg:features=bmi", ["sgd:lr=0.1"], steps=30, start=(0.0, 0.0))
    ax = maps(comparison_figure(runs))[0]
    assert (ax.get_xlabel(), ax.get_ylabel()) == axis_names(runs[0][1].objective)
    assert ax.get_xlabel() == r"$w_{\mathrm{bmi}}$" and ax.get_ylabel() == "$b$"
    assert axis_names(get_objective("aniso")) == ("$w_1$", "$w_2$")
    full = get_objective("linreg:features=all")
    assert parameter_names(full)[:3] == ["w_age", "w_sex", "w_bmi"]
    assert parameter_names(full)[-1] == "b" and len(parameter_names(full)) == full.dim


def test_one_neutral_start_marker():
    fig = comparison_figure(runs_of("aniso", ["sgd:lr=0.1", "adam:lr=0.1", RMSPROP_CYCLE]))
    (start,) = lines(maps(fig)[0], "start")
    assert start.get_markerfacecolor() == "white" and start.get_markeredgecolor() == "black"


def test_the_3d_panel_only_where_it_helps():
    def has_3d(fig) -> bool:
        return any(ax.name == "3d" for ax in fig.axes)

    three = runs_of("aniso", ["sgd:lr=0.1", "adam:lr=0.1", RMSPROP_CYCLE])
    four = runs_of("aniso", ["sgd:lr=0.1", "adam:lr=0.1", RMSPROP_CYCLE, "sgd:lr=0.05"])
    assert has_3d(comparison_figure(three)) and not has_3d(comparison_figure(four))
    assert has_3d(comparison_figure(four, surface=True))
    assert not has_3d(comparison_figure(three, surface=False))
    rugged = runs_of("rastrigin", ["sgd:lr=0.002"], start=(2.2, 2.7))
    assert not has_3d(comparison_figure(rugged))
    fig = comparison_figure(rugged, surface=True)
    (ax3d,) = [ax for ax in fig.axes if ax.name == "3d"]
    assert lines(ax3d, "surface_path")  # the path drawn on the surface


# --- the hard cases, saved for review ---------------------------------------------------------

ROSENBROCK_10 = ["sgd:lr=0.001", "momentum:lr=0.001,momentum=0.9",
                 "nesterov:lr=0.001,momentum=0.9", "rmsprop:lr=0.01", "adam:lr=0.05",
                 "adagrad:lr=0.5", "adadelta:lr=1", "ftrl:lr=0.5", "lbfgs",
                 "adam:lr=0.2"]  # fmt: skip
HARD_CASES = {
    "rosenbrock_10_runs": ("rosenbrock", ROSENBROCK_10, 300, (-1.2, 1.0)),
    "diverging": ("aniso", ["sgd:lr=0.1", "sgd:lr=0.3", "momentum:lr=0.1,momentum=0.5"], 50,
                  (1.0, 1.0)),
    "data_linreg_bmi": ("linreg:features=bmi", ["sgd:lr=0.1", "momentum:lr=0.1,momentum=0.9",
                        "adam:lr=1"], 100, (0.0, 0.0)),
    "momentum_0.99": ("aniso", ["sgd:lr=0.1", "momentum:lr=0.1,momentum=0.99"], 50, (1.0, 1.0)),
    "formula_no_minimum": ("5 + w1 + 0.1*w2**2", ["sgd:lr=0.1", "adam:lr=0.1"], 30, (1.0, 1.0)),
}  # fmt: skip


@pytest.mark.parametrize("name", list(HARD_CASES))
def test_hard_cases_are_drawn_and_saved(name, review_dir):
    function, specs, steps, start = HARD_CASES[name]
    runs = runs_of(function, specs, steps, start)
    fig = comparison_figure(runs, title=name)
    panels = maps(fig)
    assert len(panels) == (len(runs) if len(runs) >= 5 else 1)
    assert sum(len(lines(ax, "path")) for ax in panels) == len(runs)
    path = save_figure(fig, review_dir / f"{name}.png")
    assert path.stat().st_size > 50_000
