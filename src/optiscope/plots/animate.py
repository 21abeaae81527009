"""Animations: each run's path growing over the contour map, its loss curve advancing beside it.

A frame shows step ``k`` of every run (the same ``k`` for all):

* **left**, the objective's contour map (log-spaced filled levels, the gold star at each known
  minimizer, equal aspect, the window of ``_grid.view_box``) with each run's path from its start
  (a white circle, the same for every run) to step ``k`` in its colour, one dot per step, and a large dot, the
  head, at step ``k``. With ``trail=T`` the last ``T`` steps are drawn bright and older ones
  faint, so the recent motion stands out on a long run. A diverged run stops at its last good
  point (``_runs.RunPath`` truncates it) and ends there with an ``X``; a point off the map is
  drawn on its edge.
* **right**, the loss of each run up to step ``k``: the gap ``f - f_min`` on a log axis when
  ``f_min`` is known (gaps below ``TOLERANCE / 100`` run along the bottom of the axis: the run
  has converged far beyond the tolerance line), else ``f`` itself on a symlog axis; a dashed
  cursor at step ``k`` and the counter "step k / N".
* under both, one legend naming each run and the markers.

**Frames.** ``frames`` frames show steps ``round(i * N / (frames - 1))``, ``i = 0 .. frames-1``,
evenly spaced from step 0 to the last step ``N`` (both always shown; distinct, since a run has
at most one frame per step: ``frames`` is capped at ``N + 1``). The default is
``min(N + 1, DEFAULT_FRAMES)``: every step of a run of up to 199 steps, 200 frames (10 s at
20 fps) beyond. Valid ``frames``: ``MIN_FRAMES .. MAX_FRAMES``; ``fps``: ``MIN_FPS ..
MAX_FPS``; ``trail``: ``1 .. MAX_STEPS``.

**Speed.** The figure (a ``matplotlib.figure.Figure`` on the Agg canvas, no pyplot) is laid
out and drawn once without its moving parts; the layout is then frozen. A frame starts from
those pixels and draws only what moves, straight onto the Agg renderer (``_Pen``: the axes'
transform to pixels, then ``draw_path`` / ``draw_markers``, no artist per piece). Lines only
grow, so the pixels of the lines drawn so far are kept from frame to frame and a frame adds the
new steps' pieces only; heads, the trail's bright end, the star, the cursor and the counter are
drawn afresh on every frame. The counter's digits are pasted from pre-rendered tiles (text is
the costliest thing matplotlib draws). The canvas's RGBA buffer then goes straight to the
encoder. A full redraw per frame (``FuncAnimation``) costs about 80 times more (see
``benchmarks/bench_animate.py``).

**Encoding.** GIF through Pillow with **one palette** for every frame: the last frame (which
holds every path) quantized by median cut to ``PALETTE_COLORS - k`` colours, plus the ``k``
exact colours that must not shift (each run's colour, black, white, the star's gold), then
every frame mapped to it without dithering (a flickering palette or dither noise would swamp the
thin paths). Index ``UNCHANGED`` is left out of the palette and marks the pixels a frame does not
change (Pillow's ``optimize`` with that transparency index), which makes the file about ten
times smaller. Frames are kept in palette mode (one byte a pixel) until Pillow writes the file.
A looping GIF holds its last frame ``GIF_HOLD_MS`` so the final picture can be read before it
starts again. GIF delays are whole hundredths of a second and browsers slow delays under 20 ms
down, so a GIF plays at most at 50 fps. MP4 (H.264, yuv420p, for browsers and slides) is made
by piping the raw RGBA frames to the ``ffmpeg`` program the imageio-ffmpeg package ships; it
plays once and stops on its last frame.

Files are written whole or not at all: frames go to a temporary file beside the target that
replaces it only when complete; an error or Ctrl-C removes it.
"""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import BoundaryNorm, to_rgb, to_rgba
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.lines import Line2D
from matplotlib.markers import MarkerStyle
from matplotlib.patches import FancyBboxPatch
from matplotlib.path import Path as MplPath
from matplotlib.ticker import MaxNLocator
from matplotlib.transforms import Affine2D, IdentityTransform
from PIL import Image

from optiscope.engine import MAX_STEPS
from optiscope.errors import OptiscopeError
from optiscope.objectives.base import Objective
from optiscope.output import check_target, output_error, prepare_folder, printable
from optiscope.plots._grid import inside, view_box
from optiscope.plots._runs import Run, RunPath, extract
from optiscope.plots.compare import formula_text, legend_columns, reference_handles
from optiscope.plots.contour import FILL_CMAP, SIGNED_CMAP, function_contours
from optiscope.plots.loss import TOLERANCE, symlog_threshold

try:  # the shared axis names (parameter names of data objectives); plain w1, w2 otherwise
    from optiscope.plots.labels import axis_names
except ImportError:  # pragma: no cover - labels.py ships with this module

    def axis_names(objective: Objective) -> tuple[str, str]:
        return "$w_1$", "$w_2$"


FORMATS = ("gif", "mp4")
DEFAULT_FPS = 20
MIN_FPS, MAX_FPS = 1, 60
DEFAULT_FRAMES = 200
MIN_FRAMES, MAX_FRAMES = 2, 1000
GIF_HOLD_MS = 1500  # a looping GIF's last frame stays this long
PALETTE_COLORS = 255  # the shared palette; index 255 is the GIF's "unchanged" (transparent)
UNCHANGED = 255
GAP_FLOOR = TOLERANCE / 100  # the loss axis ends here: far beyond the tolerance is "converged"
HEADROOM = 1e3  # the loss axis stops this factor above the highest start (blow-ups go off)
FAINT_ALPHA = 0.5  # the older steps of a trail
PATH_WIDTH, FAINT_WIDTH = 1.8, 1.2  # points
MAX_MARKERS = 150  # per path: beyond this many steps a dot marks every k-th step only
WIDTH, HEIGHT, DPI = 1200, 600, 100  # pixels (even: H.264's yuv420p needs even sides)
TITLE_SIZE, PANEL_TITLE_SIZE, LABEL_SIZE, TICK_SIZE, LEGEND_SIZE = 14, 12, 12, 10.5, 11
COUNTER_SIZE = 14

Progress = Callable[[int, int], None]


# --- checks -----------------------------------------------------------------------------------


def animation_format(path: str | Path) -> str:
    """``"gif"`` or ``"mp4"`` from the file's suffix; OptiscopeError naming both otherwise."""
    suffix = Path(path).suffix.lower()
    if suffix[1:] not in FORMATS:
        what = f"as {printable(suffix)}" if suffix else "without a suffix"
        valid = ", ".join(f".{f}" for f in FORMATS)
        raise OptiscopeError(f"cannot write an animation {what}; valid: {valid}")
    return suffix[1:]


def check_options(fps: int, frames: int | None = None, trail: int | None = None) -> None:
    """Refuse an fps, a frame count or a trail outside its range (module notes), one line."""
    _check_int("fps", fps, MIN_FPS, MAX_FPS)
    if frames is not None:
        _check_int("frames", frames, MIN_FRAMES, MAX_FRAMES)
    if trail is not None:
        _check_int("trail", trail, 1, MAX_STEPS)


def _check_int(name: str, value: object, low: int, high: int) -> None:
    if isinstance(value, bool) or not (
        isinstance(value, int | np.integer) and low <= value <= high
    ):
        raise OptiscopeError(f"invalid {name}: {value!r} (valid: {low} <= {name} <= {high})")


def check_two_dimensional(objective: Objective) -> None:
    """An animation draws a map of two coordinates: refuse any other dimension, one line."""
    if objective.dim != 2:
        raise OptiscopeError(
            f"animations need a 2-D function; {printable(objective.name)} has {objective.dim} "
            "parameters: use `optiscope compare` for its loss curves"
        )


def ffmpeg_program() -> str:
    """The ffmpeg executable of the imageio-ffmpeg package; OptiscopeError when it is missing."""
    try:
        import imageio_ffmpeg

        return imageio_ffmpeg.get_ffmpeg_exe()
    except (ImportError, RuntimeError):
        raise OptiscopeError(
            "cannot write MP4: the ffmpeg program was not found (pip install imageio-ffmpeg, "
            "or set IMAGEIO_FFMPEG_EXE); a .gif needs no ffmpeg"
        ) from None


def frame_steps(steps: int, frames: int | None = None) -> np.ndarray:
    """``[n]`` the step each frame shows: ``n = min(steps + 1, frames or DEFAULT_FRAMES)``
    evenly spaced steps from 0 to ``steps``, both included, all distinct (module notes)."""
    count = min(steps + 1, DEFAULT_FRAMES if frames is None else int(frames))
    return np.linspace(0, steps, max(count, 1)).round().astype(np.int64)


# --- public API -------------------------------------------------------------------------------


def animate_runs(
    runs: Sequence[Run],
    path: str | Path,
    *,
    fps: int = DEFAULT_FPS,
    frames: int | None = None,
    trail: int | None = None,
    title: str | None = None,
    progress: Progress | None = None,
) -> Path:
    """Write the animation of ``runs`` = ``[(label, trajectories, row), ...]`` to ``path``.

    The suffix names the format (``.gif`` or ``.mp4``); the file is written whole or not at
    all (module notes). ``progress(done, total)`` is called after each frame is encoded.
    Returns the path written.
    """
    fmt = animation_format(path)
    _check_runs(runs, fps, frames, trail, fmt)
    target = check_target(path, "animation")
    prepare_folder(target.parent)
    tmp = None
    try:
        # The temporary file first: a place that cannot be written fails before any drawing.
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
        try:
            os.fchmod(fd, 0o666 & ~_umask())  # mkstemp's 0600 -> what a plain open() gives
        finally:
            os.close(fd)
        scene = _Scene(runs, trail, title)
        shown = frame_steps(scene.steps, frames)
        if fmt == "gif":
            with open(tmp, "wb") as handle:
                _write_gif(scene, shown, fps, handle, progress)
                handle.flush()
                os.fsync(handle.fileno())
        else:
            _write_mp4(scene, shown, fps, Path(tmp), progress)
            with open(tmp, "rb") as handle:  # on disk before it takes the real name
                os.fsync(handle.fileno())
        os.replace(tmp, target)
        tmp = None
    except OSError as err:
        raise output_error("animation", target, err) from None
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
    return target


def animation_bytes(
    runs: Sequence[Run],
    fmt: str,
    *,
    fps: int = DEFAULT_FPS,
    frames: int | None = None,
    trail: int | None = None,
    title: str | None = None,
    progress: Progress | None = None,
) -> bytes:
    """The animation of ``runs`` as the bytes of a ``fmt`` file (``"gif"`` or ``"mp4"``),
    e.g. to embed in a page; see :func:`animate_runs`."""
    if fmt not in FORMATS:
        raise OptiscopeError(f"invalid animation format: {fmt!r} (valid: {', '.join(FORMATS)})")
    _check_runs(runs, fps, frames, trail, fmt)
    scene = _Scene(runs, trail, title)
    shown = frame_steps(scene.steps, frames)
    if fmt == "gif":
        buffer = io.BytesIO()
        _write_gif(scene, shown, fps, buffer, progress)
        return buffer.getvalue()
    with tempfile.TemporaryDirectory(prefix="optiscope-") as folder:
        target = Path(folder) / "animation.mp4"
        _write_mp4(scene, shown, fps, target, progress)
        return target.read_bytes()


def _check_runs(
    runs: Sequence[Run], fps: int, frames: int | None, trail: int | None, fmt: str
) -> None:
    """Everything that can be refused before a frame is drawn."""
    check_options(fps, frames, trail)
    if not runs:
        raise OptiscopeError("nothing to animate: give at least one (label, trajectories, row) run")
    check_two_dimensional(runs[0][1].objective)
    if fmt == "mp4":
        ffmpeg_program()


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


# --- the scene: background drawn once, moving artists per frame --------------------------------


@dataclass(frozen=True)
class _Track:
    """One run as the frames need it, in pixels: its RunPath, the step of each drawn point
    ``[n]``, the points on the map ``px`` ``[n, 2]`` and on the loss panel ``loss_px``
    ``[n, 2]`` (the gap floored at the axis bottom, or f; NaN where not finite), a dot on every
    ``every``-th point, and its colour as RGBA."""

    path: RunPath
    steps: np.ndarray
    px: np.ndarray
    loss_px: np.ndarray
    every: int
    rgba: tuple[float, float, float, float]


class _Scene:
    """The figure of one animation: ``render(k)`` draws step ``k`` and returns the RGBA pixels.

    The moving parts are drawn straight onto the Agg renderer (``_Pen``), in pixels, over the
    restored background: per run its faint trail, bright path, dots, head (or cross) on the
    map and its loss curve and head on the loss panel, then the cursor and the step counter.
    A diverged run is drawn first, so a converging run lies over a blow-up.
    """

    def __init__(self, runs: Sequence[Run], trail: int | None, title: str | None) -> None:
        objective, paths = extract(runs)
        self.steps = max(p.steps for p in paths)
        self.trail = trail
        with np.errstate(all="ignore"):
            fig = Figure(figsize=(WIDTH / DPI, HEIGHT / DPI), dpi=DPI, layout="constrained")
            self.canvas = FigureCanvasAgg(fig)
            grid = fig.add_gridspec(1, 2, width_ratios=(1.0, 1.15))
            ax_map, ax_loss = fig.add_subplot(grid[0, 0]), fig.add_subplot(grid[0, 1])
            self.lo, self.hi = view_box(objective, paths)
            mins = np.asarray(objective.minimizers, dtype=np.float64).reshape(-1, 2)
            self.minimizers = mins[inside(mins, self.lo, self.hi)]
            _draw_map(ax_map, objective, paths, self.lo, self.hi)
            ys = _draw_loss_axes(ax_loss, objective, paths, self.steps)
            head = f"{objective.name}:  f(w) = {formula_text(objective)}"
            if title is not None:  # the user's text, shown as typed (a "$" starts no math)
                head = printable(title).replace("$", r"\$") + "\n" + head
            fig.suptitle(head, fontsize=TITLE_SIZE)
            _legend(fig, objective, paths, self.lo, self.hi)
            self.canvas.draw()  # the one full draw: constrained layout places the panels ...
            fig.set_layout_engine("none")  # ... and they stay there for every frame
            renderer = self.canvas.get_renderer()
            self.counter = _Counter(fig, ax_loss, self.steps, renderer)  # draws its box
            self.background = np.asarray(self.canvas.buffer_rgba()).copy()
            # Every point in pixels, once: the layout is fixed from here on.
            self.map_pen, self.loss_pen = _Pen(renderer, ax_map), _Pen(renderer, ax_loss)
            order = sorted(range(len(paths)), key=lambda i: not paths[i].diverged)
            self.tracks = [
                _Track(
                    paths[i], paths[i].steps_drawn, self.map_pen.pixels(paths[i].xy),
                    self.loss_pen.pixels(np.column_stack([paths[i].steps_drawn, ys[i]])),
                    max(1, len(paths[i].xy) // MAX_MARKERS), to_rgba(paths[i].color),
                )
                for i in order
            ]  # fmt: skip
            self.star_px = self.map_pen.pixels(self.minimizers)
            corners = self.map_pen.pixels(np.array([self.lo, self.hi]))
            self.box_px = (corners.min(axis=0), corners.max(axis=0))  # the map, in pixels
            bottom = ax_loss.get_ylim()[0]
            self.cursor_x = self.loss_pen.pixels(
                np.column_stack([np.arange(self.steps + 1.0), np.full(self.steps + 1, bottom)])
            )[:, 0]
            self.cursor_y = (ax_loss.bbox.y0, ax_loss.bbox.y1)
        # Only the panels (and the counter's box) change from frame to frame.
        self.regions = [_pixel_box(ax.bbox, self.background.shape[0]) for ax in (ax_map, ax_loss)]
        self.kept = self.background.copy()  # the background with the lines drawn so far
        self.kept_step = -1  # the step of the last frame rendered
        self.kept_map = [0] * len(self.tracks)  # points of each path in ``kept``
        self.kept_loss = [0] * len(self.tracks)  # points of each loss curve in ``kept``
        self.figure = fig
        width, height = self.canvas.get_width_height()
        self.size = (int(width), int(height))
        self.colors = [_rgb255(p.color) for p in paths]

    def render(self, k: int) -> memoryview:
        """The pixels ``[height, width, 4]`` (RGBA bytes) of step ``k``; valid until the next
        call.

        Lines only grow, so what is drawn once stays: the pixels of the last frame without
        its transient parts (heads, the trail's bright end, cursor, counter) are kept, and a
        frame adds only the new steps' pieces to them. Frames in increasing ``k`` cost the
        new pieces only; an earlier ``k`` starts again from the background.
        """
        pixels = np.asarray(self.canvas.buffer_rgba())
        if k < self.kept_step:
            self.kept[...] = self.background
            self.kept_map = [0] * len(self.tracks)
            self.kept_loss = [0] * len(self.tracks)
        self.kept_step = k
        for region in self.regions:
            pixels[region] = self.kept[region]
        drawn = [self._drawn(t, k) for t in self.tracks]
        pen, loss = self.map_pen, self.loss_pen
        grown = False
        with np.errstate(all="ignore"):
            for i, (t, (first, n, _)) in enumerate(zip(self.tracks, drawn, strict=True)):
                upto = n if self.trail is None else first + 1  # the points that stay
                done = self.kept_map[i]
                if upto > done:  # each new piece starts at the last point already drawn
                    piece = t.px[max(done - 1, 0) : upto]
                    if self.trail is None:
                        pen.line(piece, t.rgba, PATH_WIDTH)
                        pen.marks(t.px[_dotted(t, done, upto)], DOT, t.rgba, 0.0)
                    else:
                        pen.line(piece, t.rgba[:3] + (FAINT_ALPHA,), FAINT_WIDTH)
                    self.kept_map[i], grown = upto, True
                done = self.kept_loss[i]
                if n > done:
                    loss.line(t.loss_px[max(done - 1, 0) : n], t.rgba, PATH_WIDTH)
                    self.kept_loss[i], grown = n, True
            if grown:
                for region in self.regions:
                    self.kept[region] = pixels[region]
            x = self.cursor_x[k]
            cursor = np.array([[x, self.cursor_y[0]], [x, self.cursor_y[1]]])
            loss.line(cursor, CURSOR, 1.0, dashes=(4.0, 3.0))
            if self.trail is not None:
                for t, (first, n, _) in zip(self.tracks, drawn, strict=True):
                    pen.line(t.px[first:n], t.rgba, PATH_WIDTH)
                    pen.marks(t.px[_dotted(t, first, n)], DOT, t.rgba, 0.0)
            pen.marks(self.star_px, STAR, GOLD, 0.9)  # over the paths, under the heads
            for t, (_, n, ended) in zip(self.tracks, drawn, strict=True):
                point = np.clip(t.px[n - 1 : n], *self.box_px)  # off the map: on its edge
                pen.marks(point, CROSS if ended else HEAD, t.rgba, 1.0 if ended else 1.3)
                last = t.loss_px[n - 1 : n]
                if np.isfinite(last).all():
                    loss.marks(last, LOSS_CROSS if ended else LOSS_HEAD, t.rgba, 1.0)
        self.counter.paste(pixels, k)
        return self.canvas.buffer_rgba()

    def _drawn(self, t: _Track, k: int) -> tuple[int, int, bool]:
        """``(first, n, ended)`` at step ``k``: the drawn points are ``0 .. n-1`` (steps
        ``<= k``), the bright ones from ``first`` (steps ``>= k - trail``); ``ended``: a
        diverged run at its last good point."""
        n = int(np.searchsorted(t.steps, k, side="right"))  # >= 1: step 0 is always drawn
        first = 0
        if self.trail is not None:
            first = min(int(np.searchsorted(t.steps, k - self.trail, side="left")), n - 1)
        return first, n, t.path.diverged and n == len(t.path.xy)

    def image(self, k: int) -> Image.Image:
        """Step ``k`` as an RGB Pillow image (a copy)."""
        return Image.frombytes("RGB", self.size, self.render(k), "raw", "RGBX")


def _pixel_box(bbox, height: int) -> tuple[slice, slice]:
    """``(rows, columns)`` of the buffer covering a display-space ``bbox`` (rows from the top),
    one pixel wider on every side for antialiasing."""
    rows = slice(max(0, int(height - bbox.y1) - 1), int(np.ceil(height - bbox.y0)) + 1)
    return rows, slice(max(0, int(bbox.x0) - 1), int(np.ceil(bbox.x1)) + 1)


def _rgb255(color) -> tuple[int, int, int]:
    r, g, b = (round(255 * c) for c in to_rgb(color))
    return r, g, b


def _dotted(t: _Track, start: int, stop: int) -> np.ndarray:
    """The indices in ``start .. stop-1`` of the points that carry a dot (every
    ``t.every``-th point of the path, counted from its start, so dots stay put)."""
    return np.arange(start + (-start % t.every), stop, t.every)


class _Counter:
    """The counter "step k / N" at the top right of the loss panel, pasted from digit tiles.

    Text costs a few milliseconds a frame (every glyph laid out and rasterized), more than
    all the paths. So the box, "step" and "/ N" are part of the background, and the digits of
    ``k`` are copied from ten tiles rendered once (on the box's plain white), right-aligned in
    a field of ``len(str(N))`` digit cells. The box is restored over any curve drawn under it.
    Positions are whole pixels (display coordinates; rows of the buffer count from the top).
    """

    def __init__(self, fig: Figure, ax: Axes, steps: int, renderer) -> None:
        self.prop = FontProperties(size=COUNTER_SIZE)
        self.height_px = int(fig.bbox.height)

        def width(text: str) -> float:
            return renderer.get_text_width_height_descent(text, self.prop, ismath=False)[0]

        self.cell = int(np.ceil((width("0" * 20) - width("0" * 10)) / 10))  # a digit's advance
        gap = max(2, self.cell // 2)
        _, text_height, _ = renderer.get_text_width_height_descent(
            "step 0123456789 /", self.prop, ismath=False
        )
        pad = 5
        # Above the panel's top right corner, in the title row (the title is on the left).
        x1, y1 = ax.transAxes.transform((1.0, 1.0))
        right = round(x1) - pad - 1
        top = round(y1) + 6 + pad + int(np.ceil(text_height))
        self.top = top
        self.right = round(right - width(f"/ {steps}") - gap)  # the digit field's right end
        self.left = self.right - len(str(steps)) * self.cell
        start = self.left - gap - width("step")
        self.rows = slice(self.height_px - top - 2, self.height_px - top + int(text_height) + 3)
        kw = dict(fontproperties=self.prop, va="top", transform=IdentityTransform(), zorder=10)
        fixed = [
            fig.text(start, top, "step", **kw),
            fig.text(self.right + gap, top, f"/ {steps}", **kw),
        ]
        self.digit = fig.text(self.left, top, "", animated=True, **kw)
        self.box = FancyBboxPatch(
            (start - pad, top - text_height - pad), right - start + 2 * pad,
            text_height + 2 * pad, boxstyle="round,pad=0,rounding_size=5", fc="white",
            ec="0.6", lw=1.0, transform=IdentityTransform(), zorder=9.9,
        )  # fmt: skip
        fig.add_artist(self.box)
        # The figure is drawn already: draw the box and its fixed words on it, keep the box's
        # pixels, and render the ten digit tiles on them.
        for artist in (self.box, *fixed):
            artist.draw(renderer)
        pixels = np.asarray(fig.canvas.buffer_rgba())
        extent = self.box.get_window_extent(renderer)
        h = self.height_px
        self.box_rows = slice(max(0, int(h - extent.y1) - 2), int(h - extent.y0) + 3)
        self.box_cols = slice(max(0, int(extent.x0) - 2), int(extent.x1) + 3)
        self.box_pixels = pixels[self.box_rows, self.box_cols].copy()
        self.tiles = []
        for d in "0123456789":
            self.digit.set_text(d)
            self.digit.draw(renderer)
            self.tiles.append(pixels[self.rows, self.left : self.left + self.cell].copy())
            pixels[self.box_rows, self.box_cols] = self.box_pixels

    def paste(self, pixels: np.ndarray, k: int) -> None:
        """Write "k" into the field of ``pixels`` ``[H, W, 4]`` (the canvas's buffer)."""
        pixels[self.box_rows, self.box_cols] = self.box_pixels
        text = str(k)
        for j, ch in enumerate(text):
            x = self.right - (len(text) - j) * self.cell
            pixels[self.rows, x : x + self.cell] = self.tiles[ord(ch) - 48]


@dataclass(frozen=True)
class _Marker:
    """A marker shape and its size in points (its width, like Line2D's ``markersize``)."""

    shape: str
    size: float


DOT, HEAD, CROSS = _Marker("o", 3.4), _Marker("o", 11.0), _Marker("X", 14.0)
LOSS_HEAD, LOSS_CROSS = _Marker("o", 8.0), _Marker("X", 12.0)
STAR = _Marker("*", 17.0)
CURSOR, GOLD = (0.35, 0.35, 0.35, 1.0), to_rgba("gold")


class _Pen:
    """Draws lines and markers straight onto the Agg renderer, clipped to one axes.

    This is what an artist's ``draw`` does, without the artist: points are taken to pixels
    once (``pixels``: the axes' data transform, log scales included), then each piece goes to
    ``draw_path`` / ``draw_markers``. Widths and marker sizes are in points, as in matplotlib.
    """

    def __init__(self, renderer, ax: Axes) -> None:
        self.renderer = renderer
        self.data = ax.transData.frozen()  # the layout is fixed: no invalidation checks
        self.clip = ax.bbox
        self.shapes: dict[_Marker, tuple] = {}
        self.identity = IdentityTransform()

    def pixels(self, xy: np.ndarray) -> np.ndarray:
        """Data coordinates ``[n, 2]`` -> display pixels ``[n, 2]`` (NaN where undefined)."""
        if len(xy) == 0:
            return np.zeros((0, 2))
        with np.errstate(all="ignore"):
            return np.asarray(self.data.transform(np.asarray(xy, dtype=np.float64)))

    def _gc(self, rgba, width: float):
        gc = self.renderer.new_gc()
        gc.set_clip_rectangle(self.clip)
        gc.set_antialiased(True)
        gc.set_linewidth(width)
        gc.set_foreground(rgba, isRGBA=True)
        gc.set_joinstyle("round")
        gc.set_capstyle("round")
        return gc

    def line(self, px: np.ndarray, rgba, width: float, dashes=None) -> None:
        """A polyline through the pixels ``px`` ``[n, 2]`` (a NaN point breaks it)."""
        if len(px) < 2:
            return
        gc = self._gc(rgba, width)
        if dashes is not None:
            gc.set_dashes(0, dashes)
            gc.set_capstyle("butt")
        self.renderer.draw_path(gc, MplPath(px), self.identity)
        gc.restore()

    def marks(self, px: np.ndarray, marker: _Marker, rgba, edge: float) -> None:
        """``marker`` filled with ``rgba`` at each of the pixels ``px`` ``[n, 2]``, with a black
        edge ``edge`` points wide (0: none)."""
        if len(px) == 0:
            return
        if marker not in self.shapes:
            style = MarkerStyle(marker.shape)
            scale = Affine2D().scale(self.renderer.points_to_pixels(marker.size))
            self.shapes[marker] = (style.get_path(), style.get_transform() + scale)
        shape, transform = self.shapes[marker]
        gc = self._gc((0.0, 0.0, 0.0, 1.0) if edge else rgba, edge)
        self.renderer.draw_markers(gc, shape, transform, MplPath(px), self.identity, rgba)
        gc.restore()


def _draw_map(ax: Axes, objective: Objective, paths: Sequence[RunPath], lo, hi) -> None:
    """The static part of the map: contours, starts, labels (the minimizers' stars are drawn
    on every frame, over the paths)."""
    found = function_contours(objective, lo, hi)
    if found is not None:
        X, Y, Zm, levels = found
        cmap = colormaps[SIGNED_CMAP if levels.signed else FILL_CMAP]
        norm = BoundaryNorm(levels.values, cmap.N, extend="both")
        alpha = 0.45 if levels.signed else 0.55
        ax.contourf(
            X, Y, Zm, levels=levels.values, cmap=cmap, norm=norm, extend="both", alpha=alpha
        )
        ax.contour(X, Y, Zm, levels=levels.values, colors="0.25", linewidths=0.5, alpha=0.6)
        ax.set_title(f"Paths on contours\n({levels.description})", fontsize=PANEL_TITLE_SIZE)
    else:
        ax.set_title("Paths (the function is flat over this window)", fontsize=PANEL_TITLE_SIZE)
    starts = np.unique(np.clip(np.array([p.xy[0] for p in paths]), lo, hi), axis=0)
    ax.plot(*starts.T, ls="none", marker="o", ms=10, mfc="white", mec="black", mew=1.5, zorder=5)
    ax.set_xlim(lo[0], hi[0])
    ax.set_ylim(lo[1], hi[1])
    ax.set_aspect("equal", adjustable="box")
    x_name, y_name = axis_names(objective)
    ax.set_xlabel(x_name, fontsize=LABEL_SIZE)
    ax.set_ylabel(y_name, fontsize=LABEL_SIZE)
    ax.tick_params(labelsize=TICK_SIZE)


def _draw_loss_axes(
    ax: Axes, objective: Objective, paths: Sequence[RunPath], steps: int
) -> list[np.ndarray]:
    """Scale, limits, labels and tolerance line of the loss panel; returns each run's curve.

    ``f_min`` known: the gap on a log axis; gaps below ``max(smallest positive gap / 2,
    GAP_FLOOR)`` are drawn at that floor, just above the axis' bottom; the top is twice the
    largest gap, capped at ``HEADROOM`` times the highest start when a run blows up.
    Unknown: f on a symlog axis, 4% of its drawn height beyond the extreme values.
    """
    f_min = objective.f_min
    with np.errstate(all="ignore"):
        if f_min is not None:
            raw = [p.losses - f_min for p in paths]
        else:
            raw = [p.losses.copy() for p in paths]
    ys = [np.where(np.isfinite(y), y, np.nan) for y in raw]
    finite = np.concatenate([y[np.isfinite(y)] for y in ys] or [np.zeros(0)])
    if f_min is not None:
        positive = finite[finite > 0]
        bottom = max(float(positive.min()) / 2, GAP_FLOOR) if positive.size else GAP_FLOOR
        ys = [np.where(np.isnan(y), np.nan, np.maximum(y, bottom)) for y in ys]
        starts = [float(y[0]) for y in ys if len(y) and np.isfinite(y[0])]
        top = float(np.nanmax(np.concatenate(ys))) if finite.size else bottom * 1e3
        if starts and top > max(starts) * HEADROOM:
            top = max(starts) * HEADROOM
        top = max(top * 2, bottom * 10)
        ax.set_yscale("log")
        ax.set_ylim(bottom / 3, top)  # the floor a little above the edge: its heads show whole
        if bottom < TOLERANCE < top:
            ax.axhline(TOLERANCE, ls=":", lw=1.3, color="0.3")
        ax.set_ylabel("loss gap  f(w) − f_min  (log scale)", fontsize=LABEL_SIZE)
        ax.set_title("Loss gap against step", fontsize=PANEL_TITLE_SIZE, loc="left")
    else:
        ax.set_yscale("symlog", linthresh=symlog_threshold(ys))
        low, high = (float(finite.min()), float(finite.max())) if finite.size else (-1.0, 1.0)
        if not high > low:
            low, high = low - max(1.0, abs(low)), high + max(1.0, abs(high))
        scale = ax.yaxis.get_transform()  # pad by 4% of the axis as drawn (symlog), not of f
        t_low, t_high = scale.transform([low, high])
        pad = 0.04 * (t_high - t_low)
        ax.set_ylim(*scale.inverted().transform([t_low - pad, t_high + pad]))
        ax.set_ylabel("loss f(w)  (symlog scale; f_min unknown)", fontsize=LABEL_SIZE)
        ax.set_title("Loss against step", fontsize=PANEL_TITLE_SIZE, loc="left")
    last = max(1, steps)
    ax.set_xticks(MaxNLocator(integer=True).tick_values(0, last))  # ticks over 0 .. N ...
    ax.set_xlim(-0.015 * last, 1.015 * last)  # ... and room for the heads at both ends
    ax.set_xlabel("step", fontsize=LABEL_SIZE)
    ax.grid(True, which="major", alpha=0.35)
    ax.tick_params(labelsize=TICK_SIZE)
    ax.set_autoscale_on(False)
    return ys


def _legend(fig: Figure, objective: Objective, paths: Sequence[RunPath], lo, hi) -> None:
    """One legend under the panels: each run, then what the markers mean."""
    handles = [
        Line2D([], [], color=p.color, lw=2, marker="o", ms=4, label=p.legend_label) for p in paths
    ]
    key = dict(ls="none", color="0.35", mec="black")
    handles.append(Line2D([], [], marker="o", ms=9, mfc="white", mew=1.5, label="start", **key))
    handles.append(Line2D([], [], marker="o", ms=10, label="step shown", **key))
    if any(p.diverged for p in paths):
        handles.append(
            Line2D([], [], marker="X", ms=11, label="last point before divergence", **key)
        )
    handles += reference_handles(objective, lo, hi, TOLERANCE)
    labels = [h.get_label() for h in handles]
    fig.legend(
        handles=handles,
        loc="outside lower center",
        ncol=legend_columns(labels, len(labels), fig.get_figwidth(), LEGEND_SIZE),
        frameon=False,
        fontsize=LEGEND_SIZE,
    )


# --- encoders ---------------------------------------------------------------------------------


def _frames_reported(total: int, progress: Progress | None) -> Iterator[int]:
    """``0 .. total-1``, calling ``progress(i + 1, total)`` after frame ``i`` is handled."""
    for i in range(total):
        yield i
        if progress is not None:
            progress(i + 1, total)


def shared_palette(image: Image.Image, exact: Sequence[tuple[int, int, int]]) -> Image.Image:
    """A palette image for every frame: ``image`` (RGB) quantized by median cut to
    ``PALETTE_COLORS - len(exact)`` colours, then the ``exact`` colours, which frames keep
    exactly. Index ``UNCHANGED`` is left out: the GIF marks unchanged pixels with it."""
    exact = list(dict.fromkeys(tuple(int(v) for v in c) for c in exact))[:64]
    room = PALETTE_COLORS - len(exact)
    base = image.quantize(colors=room, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    colours = (base.getpalette() or [])[: 3 * room]
    colours += [0] * (3 * room - len(colours))
    palette = Image.new("P", (1, 1))
    palette.putpalette(colours + [v for c in exact for v in c])  # PALETTE_COLORS entries
    return palette


def gif_durations(count: int, fps: int) -> list[int]:
    """Each frame's delay in ms: ``1000 / fps`` in whole hundredths of a second, at least 20
    ms (browsers slow shorter delays down); the last frame at least ``GIF_HOLD_MS``."""
    delay = max(20, 10 * round(100 / fps))
    return [delay] * (count - 1) + [max(delay, GIF_HOLD_MS)]


def _write_gif(
    scene: _Scene, shown: np.ndarray, fps: int, handle, progress: Progress | None
) -> None:
    """Encode the frames ``shown`` as a looping GIF with one shared palette into ``handle``."""
    exact = [*scene.colors, (0, 0, 0), (255, 255, 255), _rgb255(GOLD)]
    palette = shared_palette(scene.image(int(shown[-1])), exact)

    def frames() -> Iterator[Image.Image]:
        for i in _frames_reported(len(shown), progress):
            yield scene.image(int(shown[i])).quantize(palette=palette, dither=Image.Dither.NONE)

    stream = frames()
    first = next(stream)
    first.save(
        handle,
        format="GIF",
        save_all=True,
        append_images=stream,
        duration=gif_durations(len(shown), fps),
        loop=0,
        optimize=True,  # with ``transparency``: unchanged pixels -> UNCHANGED (10x smaller)
        transparency=UNCHANGED,
    )


def _write_mp4(
    scene: _Scene, shown: np.ndarray, fps: int, target: Path, progress: Progress | None
) -> None:
    """Pipe the frames ``shown`` as raw RGBA to ffmpeg (H.264, yuv420p) writing ``target``."""
    width, height = scene.size
    command = [
        ffmpeg_program(), "-hide_banner", "-loglevel", "error", "-nostdin", "-y",
        "-f", "rawvideo", "-pix_fmt", "rgba", "-s", f"{width}x{height}", "-r", str(fps),
        "-i", "pipe:0", "-an", "-c:v", "libx264", "-preset", "veryfast", "-crf", "20",
        "-pix_fmt", "yuv420p", "-movflags", "+faststart", "-f", "mp4", str(target),
    ]  # fmt: skip
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=log
        )
        try:
            assert proc.stdin is not None
            try:
                for i in _frames_reported(len(shown), progress):
                    proc.stdin.write(scene.render(int(shown[i])))
                proc.stdin.close()
            except BrokenPipeError:  # ffmpeg stopped early: its log says why
                pass
            code = proc.wait()
        except BaseException:  # Ctrl-C, a failing progress callback: stop ffmpeg too
            proc.kill()
            proc.wait()
            raise
        if code != 0:
            log.seek(0)
            lines = log.read().decode("utf-8", "replace").strip().splitlines()
            reason = lines[-1] if lines else f"exit status {code}"
            raise OptiscopeError(f"ffmpeg could not write the MP4: {printable(reason)}")
