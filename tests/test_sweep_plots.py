"""Sweep maps: files written, the theory where it applies and nowhere else, the diverged colour
where runs diverged, basin maps, one-axis and three-axis sweeps, bad metric names.

The sweep tables are built here the way ``optiscope.sweep`` lays them out (ISSUE 8, part S):
one row per (setting, start), the optimizer, every hyperparameter, ``start_*``/``final_*`` and
the metrics of ``metrics.columns`` (integers as Int64 with NA, ``minimum`` the index of the
minimizer reached or -1), with ``engine.run`` as the runner, so these tests do not depend on the
sweep module and the numbers in the maps are real measurements.
"""

from __future__ import annotations

import itertools

import matplotlib.image as mpimg
import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import to_rgba

from optiscope import get_objective, get_optimizer, run
from optiscope.errors import OptiscopeError
from optiscope.metrics import columns
from optiscope.plots import sweep_map
from optiscope.plots.sweep_map import DIVERGED_COLOR, draw_maps, sweep_figures

INTEGER_METRICS = ("steps_to_tol", "first_to_tol", "diverged_at", "cycle_period", "evaluations")
REACHED = 1e-3  # a start reached a minimizer when it ended this close to it (times the box)


def sweep_frame(function, optimizer, axes, steps, start=(1.0, 1.0), starts=None, tol=1e-6):
    """The sweep table of ``optimizer`` over the grid ``axes`` = ``{name: (values, log)}``
    (and the start grid ``starts`` = ``(w1 values, w2 values)``), measured by ``engine.run``."""
    objective = get_objective(function)
    opt, base = get_optimizer(optimizer)
    names = list(axes)
    combos = list(itertools.product(*(axes[n][0] for n in names)))
    points = [tuple(start)] if starts is None else list(itertools.product(*starts))
    settings, xs = [], []
    for combo in combos:
        for p in points:
            settings.append({**base, **dict(zip(names, combo, strict=True))})
            xs.append(p)
    traj = run(objective, opt, settings, steps=steps, start=np.asarray(xs, dtype=np.float64))
    cols = columns(traj, tol)
    final = traj.positions[-1]
    data = {"optimizer": [optimizer.split(":")[0]] * len(settings)}
    for key in base:
        data[key] = [s[key] for s in settings]
    data["start_w1"], data["start_w2"] = np.asarray(xs)[:, 0], np.asarray(xs)[:, 1]
    data["final_w1"], data["final_w2"] = final[:, 0], final[:, 1]
    for key, values in cols.items():
        if np.ndim(values) == 1:
            data[key] = values
    df = pd.DataFrame(data)
    for key in INTEGER_METRICS:
        df[key] = pd.array(np.where(df[key] >= 0, df[key], 0), dtype="Int64")
        df.loc[cols[key] < 0, key] = pd.NA
    df["minimum"] = pd.array(minimum_reached(objective, final, cols["diverged_at"]), dtype="Int64")
    df.attrs.update(
        function=function,
        spec=optimizer,
        axes=[{"name": n, "values": list(axes[n][0]), "log": axes[n][1]} for n in names],
        steps=steps,
        tol=tol,
    )
    if starts is not None:
        df.attrs["axes"] += [
            {"name": "start_w1", "values": list(starts[0]), "log": False},
            {"name": "start_w2", "values": list(starts[1]), "log": False},
        ]
        df.attrs["starts"] = "grid"
    return df


def minimum_reached(objective, final, diverged_at):
    """Index of the nearest known minimizer when the row ended within ``REACHED`` box, else -1."""
    mins = np.asarray(objective.minimizers, dtype=np.float64)
    scale = max(hi - lo for lo, hi in objective.bounds)
    dist = np.linalg.norm(final[:, None, :] - mins[None], axis=2)
    nearest = dist.argmin(axis=1)
    ok = (dist.min(axis=1) <= REACHED * scale) & (diverged_at < 0)
    return np.where(ok, nearest, -1)


def gids(fig, kind="lines"):
    """The gids of a figure's lines (or collections) over all its axes."""
    return {a.get_gid() for ax in fig.axes for a in getattr(ax, kind)} - {None}


def by_gid(ax, gid):
    found = [a for a in ax.collections + ax.lines if a.get_gid() == gid]
    assert found, f"no artist with gid {gid!r}"
    return found[0]


@pytest.fixture(scope="module")
def aniso_momentum():
    lrs = np.geomspace(1e-3, 1.0, 14)
    momenta = np.linspace(0.0, 0.95, 12)
    return sweep_frame(
        "aniso", "momentum", {"lr": (lrs, True), "momentum": (momenta, False)}, steps=150
    )


def test_quadratic_momentum_map_has_the_theory_in_place(aniso_momentum, tmp_path):
    [(suffix, fig)] = sweep_figures(aniso_momentum, "steps_to_tol")
    assert suffix == ""
    ax = fig.axes[0]
    assert {"theory_boundary", "theory_optimum"} <= gids(fig)
    assert "theory_iso_rate" in gids(fig, "collections")
    # aniso = w1^2 + 8 w2^2: L = 16, so heavy ball is stable iff lr < 2(1 + momentum)/16
    lr, momentum = by_gid(ax, "theory_boundary").get_data()
    np.testing.assert_allclose(lr, 2 * (1 + momentum) / 16, rtol=1e-12)
    # the optimum the issue quotes for this function: lr 0.1365, momentum 0.2281
    (opt_lr,), (opt_m,) = by_gid(ax, "theory_optimum").get_data()
    assert opt_lr == pytest.approx(0.1365, abs=1e-4)
    assert opt_m == pytest.approx(0.2281, abs=1e-4)
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert any(t.startswith("theory: iso-rate") for t in labels)
    assert any(t.startswith("best measured") for t in labels)
    assert ax.get_xscale() == "log" and ax.get_yscale() == "linear"


def test_map_file_is_a_readable_png(aniso_momentum, tmp_path):
    [written] = draw_maps(aniso_momentum, "rate", tmp_path / "maps" / "rate")
    assert written == tmp_path / "maps" / "rate.png"
    assert written.stat().st_size > 0
    image = mpimg.imread(written)
    assert image.ndim == 3 and image.shape[0] > 500 and image.shape[1] > 500


def test_diverged_cells_are_drawn_in_the_diverged_colour(aniso_momentum):
    df = aniso_momentum
    [(_, fig)] = sweep_figures(df, "steps_to_tol")
    ax = fig.axes[0]
    mesh = by_gid(ax, "diverged")
    diverged = df["diverged_at"].notna().to_numpy().reshape(14, 12).T  # [momentum, lr]
    assert diverged.any() and not diverged.all()
    np.testing.assert_array_equal(~np.ma.getmaskarray(mesh.get_array()).reshape(12, 14), diverged)
    # and in the rendered picture: the pixel at a diverged cell's centre is that red
    fig.canvas.draw()
    pixels = np.asarray(fig.canvas.buffer_rgba())
    j, i = np.argwhere(diverged)[len(np.argwhere(diverged)) // 2]
    x = df["lr"].unique()[i]
    y = df["momentum"].unique()[j]
    px, py = ax.transData.transform((x, y))
    rgba = pixels[int(round(pixels.shape[0] - py)), int(round(px))] / 255.0
    np.testing.assert_allclose(rgba, to_rgba(DIVERGED_COLOR), atol=0.02)


def test_no_theory_on_rosenbrock():
    df = sweep_frame(
        "rosenbrock",
        "momentum",
        {"lr": (np.geomspace(1e-4, 1e-2, 5), True), "momentum": (np.linspace(0, 0.9, 4), False)},
        steps=60,
        start=(-1.0, 1.0),
    )
    [(_, fig)] = sweep_figures(df, "gap_final")
    assert not {g for g in gids(fig) | gids(fig, "collections") if g.startswith("theory")}
    assert "metric" in gids(fig, "collections")


def test_one_axis_sweep_is_a_line_with_the_theory():
    df = sweep_frame("aniso", "sgd", {"lr": (np.geomspace(1e-2, 0.3, 16), True)}, steps=120)
    [(_, fig)] = sweep_figures(df, "rate")
    ax = fig.axes[0]
    assert by_gid(ax, "metric").get_xdata().size == 16
    # GD on L = 16: stable iff lr < 2/16; best lr 2/(L + mu) = 2/18
    assert by_gid(ax, "theory_boundary").get_xdata()[0] == pytest.approx(2 / 16)
    assert by_gid(ax, "theory_optimum").get_xdata()[0] == pytest.approx(2 / 18)
    assert "diverged" in {p.get_gid() for p in ax.patches}  # lr > 0.125 diverges


def test_three_axes_give_small_multiples_through_the_best_setting():
    axes = {
        "lr": (np.geomspace(1e-3, 0.5, 6), True),
        "beta1": (np.linspace(0.0, 0.95, 5), False),
        "beta2": (np.array([0.9, 0.95, 0.99, 0.995, 0.999, 0.9995, 0.9999, 0.99999]), True),
    }
    df = sweep_frame("aniso", "adam", axes, steps=80)
    [(_, fig)] = sweep_figures(df, "gap_final")
    panels = [ax for ax in fig.axes if ax.get_visible() and ax.get_title()]
    assert len(panels) == sweep_map.MAX_PANELS
    titles = [ax.get_title() for ax in panels]
    best = sweep_map.best_row(
        sweep_map.settings_table(df, sweep_map.swept_axes(df)[0], "gap_final", False),
        sweep_map.METRICS["gap_final"],
    )[0]
    assert f"beta2 = {df['beta2'].iloc[best]:g}" in titles
    assert sum("best" in {line.get_gid() for line in ax.lines} for ax in panels) == 1


def test_himmelblau_basin_map_has_four_basin_colours(tmp_path):
    grid = np.linspace(-4.5, 4.5, 14)
    df = sweep_frame("himmelblau", "sgd:lr=0.01", {}, steps=300, starts=(grid, grid))
    figures = sweep_figures(df, "steps_to_tol")
    assert [s for s, _ in figures] == [""]
    left = figures[0][1].axes[0]
    mesh = by_gid(left, "basins")
    figures[0][1].canvas.draw()  # the mesh's colours are set when it is drawn
    colours = {tuple(np.round(c, 3)) for c in mesh.get_facecolors()}
    basin_colours = {tuple(np.round(to_rgba(c), 3)) for c in sweep_map.BASIN_COLORS[:4]}
    assert colours & basin_colours == basin_colours
    assert len([g for g in left.lines if g.get_gid() == "minimizer"]) == 4
    written = draw_maps(df, "steps_to_tol", tmp_path / "basins.png")
    assert mpimg.imread(written[0]).shape[2] == 4


def test_starts_and_settings_give_a_map_and_a_basin_map(tmp_path):
    grid = np.linspace(-4.0, 4.0, 5)
    df = sweep_frame(
        "himmelblau", "sgd", {"lr": (np.array([0.001, 0.01, 0.02]), True)}, 100, starts=(grid, grid)
    )
    written = draw_maps(df, "steps_to_tol", tmp_path / "steps.png")
    assert [p.name for p in written] == ["steps.png", "steps_basins.png"]


def test_unknown_metric_names_the_valid_ones(aniso_momentum):
    with pytest.raises(OptiscopeError, match=r"unknown metric 'speed'.*valid:.*steps_to_tol"):
        sweep_figures(aniso_momentum, "speed")


def synthetic(values, diverged, lr, momentum):
    """A hand-made table over ``lr x momentum`` (no run): metric ``rate``."""
    lr_grid, m_grid = np.meshgrid(lr, momentum, indexing="ij")
    df = pd.DataFrame(
        {
            "optimizer": "adam",
            "lr": lr_grid.ravel(),
            "momentum": m_grid.ravel(),
            "start_w1": 1.0,
            "start_w2": 1.0,
            "rate": values,
            "diverged_at": pd.array([5 if d else None for d in diverged], dtype="Int64"),
        }
    )
    df.attrs.update(
        function="aniso",
        steps=10,
        tol=1e-6,
        axes=[
            {"name": "lr", "values": list(lr), "log": True},
            {"name": "momentum", "values": list(momentum), "log": False},
        ],
    )
    return df


def test_missing_rows_are_not_run_cells_and_nan_is_undefined():
    lr, momentum = np.array([0.01, 0.1, 1.0]), np.array([0.0, 0.5])
    values = np.array([0.9, np.nan, 0.5, 0.4, 0.7, 0.8])
    df = synthetic(values, [False, False, False, False, True, False], lr, momentum).iloc[:5]
    [(_, fig)] = sweep_figures(df, "rate")
    ax = fig.axes[0]
    not_run = ~np.ma.getmaskarray(by_gid(ax, "not_run").get_array()).reshape(2, 3)
    np.testing.assert_array_equal(not_run, [[False, False, False], [False, False, True]])
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert {"diverged", "not run", "no rate (cycle, stall, too short ...)"} <= set(labels)
    # adam on a quadratic: no linear theory; the best is the lowest rate among the finite ones
    assert not any(g.startswith("theory") for g in gids(fig))
    (bx,), (by,) = by_gid(ax, "best").get_data()
    assert (bx, by) == (0.1, 0.5)


def test_sampled_settings_are_dots():
    rng = np.random.default_rng(0)
    df = synthetic(rng.uniform(0.1, 0.9, 6), [False] * 6, np.array([0.01, 0.1, 1.0]), [0.0, 0.5])
    df["lr"] = rng.uniform(0.01, 1.0, 6)
    df.attrs["axes"] = [
        {"name": "lr", "values": [0.01, 1.0], "log": True},
        {"name": "momentum", "values": [0.0, 0.5], "log": False},
    ]
    [(_, fig)] = sweep_figures(df, "rate")
    dots = by_gid(fig.axes[0], "metric")
    assert len(dots.get_offsets()) == 6


def test_axis_values_print_as_typed_and_stay_distinct():
    axis = sweep_map.Axis("beta2", (0.999, 0.9999, 0.99999), log=True)
    assert [axis.text(v) for v in axis.values] == ["0.999", "0.9999", "0.99999"]
    dense = sweep_map.Axis("lr", tuple(np.geomspace(1e-3, 1.0, 200)), log=True)
    texts = [dense.text(v) for v in dense.values]
    assert len(set(texts)) == 200 and max(len(t) for t in texts) <= 10
