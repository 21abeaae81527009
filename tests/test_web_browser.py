"""The live playground in a real browser: Debian's chromium, headless, driven by Playwright.

One server (uvicorn on 127.0.0.1, a free port) and one browser for the module; each test opens
its own page. The page's Plotly divs are read back (``gd.data``) to check what is drawn;
screenshots go to /tmp/playground_*.png for a person to look at.

Run: ``.venv/bin/python -m pytest tests/test_web_browser.py -q -s`` (``-s`` prints the
measured slider-to-redraw times).
"""

from __future__ import annotations

import math
import os
import statistics
from urllib.parse import urlparse

import pytest

# `make test` installs the browser and sets OPTISCOPE_REQUIRE_BROWSER: there a missing piece
# fails the run; a bare `pytest` without them says what is missing and skips this file
REQUIRED = os.environ.get("OPTISCOPE_REQUIRE_BROWSER") == "1"
for needed in ("fastapi", "uvicorn", "playwright.sync_api"):
    if REQUIRED:
        __import__(needed)
    else:
        pytest.importorskip(needed)

from web_fixtures import CHROMIUM, Chromium, LiveServer  # noqa: E402

if not CHROMIUM.exists():
    message = f"no chromium at {CHROMIUM} (apt-get install chromium)"
    if REQUIRED:
        raise RuntimeError(message)
    pytest.skip(message, allow_module_level=True)

READY = "document.getElementById('status').textContent === 'ready'"
TIMEOUT_MS = 30_000
HOSTILE = "__import__('os').system('x')"


@pytest.fixture(scope="module")
def server():
    live = LiveServer().start()
    yield live
    live.stop()


@pytest.fixture(scope="module")
def browser():
    chromium = Chromium()
    yield chromium
    chromium.close()


class Recorder:
    """Everything a page did that a test must see: console errors, page errors, requests,
    dialogs (an alert would be one)."""

    def __init__(self, page) -> None:
        self.errors: list[str] = []
        self.requests: list[str] = []
        self.dialogs: list[str] = []
        page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        page.on("request", lambda r: self.requests.append(r.url))
        page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))


class FlightCounter:
    """How many slider runs (POST /api/run without the optimizer state) a page sent, and the
    most that were on their way at once."""

    def __init__(self, page) -> None:
        self.sent = self.now = self.most = 0
        page.on("request", self._start)
        page.on("requestfinished", self._end)
        page.on("requestfailed", self._end)

    @staticmethod
    def _is_slider_run(request) -> bool:
        return request.url.endswith("/api/run") and '"state":false' in (request.post_data or "")

    def _start(self, request) -> None:
        if self._is_slider_run(request):
            self.sent += 1
            self.now += 1
            self.most = max(self.most, self.now)

    def _end(self, request) -> None:
        if self._is_slider_run(request):
            self.now -= 1


@pytest.fixture
def page(browser):
    tab = browser.context.new_page()
    tab.recorder = Recorder(tab)
    yield tab
    tab.close()


def open_page(page, url: str) -> None:
    page.goto(url)
    wait_ready(page)


def wait_ready(page) -> None:
    page.wait_for_function(READY, timeout=TIMEOUT_MS)


def stays_on_the_machine(url: str) -> bool:
    """A request to the loopback server, or for data the page made itself (data:, blob: of
    the page's own origin)."""
    if url.startswith("data:"):
        return True
    inner = url.removeprefix("blob:")
    return urlparse(inner).hostname == "127.0.0.1"


def wait_for_internals(page) -> None:
    """Until the scrubber's table shows the optimizer state (fetched after the paths)."""
    page.wait_for_function(
        "document.getElementById('internals').textContent.includes('momentum_buffer')",
        timeout=TIMEOUT_MS,
    )


def path_traces(page) -> list[dict]:
    """The path traces drawn on the contour: name, x, y."""
    return page.evaluate(
        """() => document.getElementById('contour').data
            .filter((t) => t.meta === 'path')
            .map((t) => ({name: t.name, x: Array.from(t.x), y: Array.from(t.y)}))"""
    )


def metrics_rows(page) -> list[list[str]]:
    return page.eval_on_selector_all(
        "#metrics tbody tr", "rows => rows.map(r => Array.from(r.cells, c => c.textContent))"
    )


def path_length(trace: dict) -> float:
    pts = list(zip(trace["x"], trace["y"], strict=True))
    return sum(math.dist(a, b) for a, b in zip(pts, pts[1:], strict=False))


def late_extent(values: list[float]) -> float:
    """max - min over the second half of a path's coordinates."""
    late = values[len(values) // 2 :]
    return max(late) - min(late)


def momentum_slider_position(server_url: str, page, value: float) -> int:
    """The slider position of momentum ``value`` from the API's slider scale (log of 1 - x)."""
    optimizers = page.request.get(f"{server_url}/api/optimizers").json()["optimizers"]
    hp = next(
        h
        for o in optimizers
        if o["name"] == "momentum"
        for h in o["hyperparams"]
        if h["name"] == "momentum"
    )
    assert hp["scale"] == "log1m"
    lo, hi = hp["slider"]
    u = math.log((1 - value) / (1 - lo)) / math.log((1 - hi) / (1 - lo))
    steps = int(page.get_attribute(".card[data-optimizer=momentum] input[data-hp=momentum]", "max"))
    return round(u * steps)


def set_momentum(page, server_url: str, value: float) -> None:
    slider = page.locator(".card[data-optimizer=momentum] input[data-hp=momentum]")
    slider.fill(str(momentum_slider_position(server_url, page, value)))
    wait_ready(page)


def test_default_page_loads_offline_and_draws_the_note(server, page):
    open_page(page, server.url + "/")
    page.wait_for_function("document.getElementById('explain').textContent.length > 0")
    page.wait_for_function("document.getElementById('theory').textContent.length > 0")
    wait_for_internals(page)
    page.screenshot(path="/tmp/playground_default.png")

    rec = page.recorder
    assert rec.errors == []
    assert rec.dialogs == []
    outside = [u for u in rec.requests if not stays_on_the_machine(u)]
    assert outside == [], outside
    assert any(u.endswith("/static/vendor/plotly.min.js") for u in rec.requests)

    contour_types = page.evaluate("document.getElementById('contour').data.map(t => t.type)")
    assert "heatmap" in contour_types  # f under the mouse; the level lines are a picture:
    picture = page.evaluate("document.getElementById('contour').layout.images[0].source")
    assert picture.startswith("data:image/png;base64,")
    paths = path_traces(page)
    assert [p["name"].split(" ")[0] for p in paths] == ["momentum", "rmsprop"]
    # what is drawn is the API's record for the note's settings, from (1, 1), 50 steps
    record = page.request.post(
        f"{server.url}/api/run",
        data={
            "function": "aniso",
            "specs": ["momentum:lr=0.1,momentum=0.9", "rmsprop:lr=0.1,alpha=0.9,eps=1e-10"],
            "steps": 50,
            "start": [1, 1],
        },
    ).json()
    for drawn, run in zip(paths, record["runs"], strict=True):
        assert drawn["x"] == [p[0] for p in run["path"]]
        assert drawn["y"] == [p[1] for p in run["path"]]
    loss_traces = page.evaluate("document.getElementById('loss').data.length")
    assert loss_traces == 2
    assert page.evaluate("document.getElementById('loss').layout.yaxis.type") == "log"
    rows = metrics_rows(page)
    assert [r[0].split(" ")[0] for r in rows] == ["momentum", "rmsprop"]
    assert "momentum=0.9" in page.text_content("#command")
    assert "did not reach" in page.text_content("#explain") or "reached" in page.text_content(
        "#explain"
    )


def test_momentum_slider_turns_the_path_into_the_wide_spiral(server, page):
    open_page(page, server.url + "/")
    before = path_traces(page)[0]
    rows_before = metrics_rows(page)

    set_momentum(page, server.url, 0.99)
    assert page.text_content(".card[data-optimizer=momentum] [data-value=momentum]") == "0.99"
    first_move = page.evaluate("[window.optiscopeTimings.at(-1), window.optiscopeTimingParts]")
    print(
        f"\nslider move to redraw, the note's view (2 optimizers x 50 steps): "
        f"{first_move[0]:.1f} ms (fetch {first_move[1]['fetch_ms']:.1f} ms, Plotly.react "
        f"{first_move[1]['contour_ms'] + first_move[1]['loss_ms']:.1f} ms)"
    )
    after = path_traces(page)[0]
    assert "momentum=0.99" in page.text_content("#command")
    assert after["x"][0] == before["x"][0] and after["y"][0] == before["y"][0]  # same start
    assert after["x"] != before["x"]
    assert metrics_rows(page)[0] != rows_before[0]
    assert metrics_rows(page)[1] == rows_before[1]  # RMSProp untouched
    # the wide spiral: at 0.9 the path has settled near the minimizer by the second half of
    # the run; at 0.99 it still circles wide around it (extent of the second half, both axes)
    for axis in ("x", "y"):
        extent_before, extent_after = late_extent(before[axis]), late_extent(after[axis])
        print(
            f"\nmomentum path, w{'xy'.index(axis) + 1} extent over the second half: "
            f"{extent_before:.3f} -> {extent_after:.3f}"
        )
        assert extent_after > 2 * extent_before
    assert path_length(after) > 1.5 * path_length(before)
    wait_for_internals(page)
    page.screenshot(path="/tmp/playground_momentum_099.png")
    assert page.recorder.errors == []

    # a mouse drag: many input events, one run in flight at a time, the last settings drawn
    slider = page.locator(".card[data-optimizer=momentum] input[data-hp=momentum]")
    box = slider.bounding_box()
    y = box["y"] + box["height"] / 2
    flight = FlightCounter(page)
    page.evaluate(
        """() => { window.dragInputs = 0; document.querySelector(
            '.card[data-optimizer=momentum] input[data-hp=momentum]')
            .addEventListener('input', () => window.dragInputs++); }"""
    )
    page.mouse.move(box["x"] + 0.5 * box["width"], y)
    page.mouse.down()
    page.mouse.move(box["x"] + 0.2 * box["width"], y, steps=30)
    page.mouse.up()
    wait_ready(page)
    inputs = page.evaluate("window.dragInputs")
    shown = page.text_content(".card[data-optimizer=momentum] [data-value=momentum]")
    print(
        f"drag: {inputs} input events, {flight.sent} runs sent, at most {flight.most} in "
        f"flight, ends at momentum {shown}"
    )
    assert inputs >= 10 and flight.sent >= 1 and flight.most == 1
    assert f"momentum:lr=0.1,momentum={shown} " in page.text_content("#command")

    # the speed case: 3 optimizers x 500 steps, one slider move at a time
    page.select_option("#add-optimizer", "adam")
    page.click("#add-card")
    wait_ready(page)
    page.locator("#steps").fill(str(steps_position(page, 500)))
    wait_ready(page)
    assert page.text_content("#steps-value") == "500"
    assert len(path_traces(page)) == 3
    page.evaluate("window.optiscopeTimings.length = 0")
    parts = []
    for value in (0.9, 0.99, 0.95, 0.999, 0.9, 0.99, 0.95, 0.999, 0.9, 0.99):
        page.wait_for_timeout(700)  # one move at a time: the slower panels have caught up
        set_momentum(page, server.url, value)
        parts.append(page.evaluate("window.optiscopeTimingParts"))
    timings = page.evaluate("window.optiscopeTimings")
    navigation = page.evaluate(
        """() => { const n = performance.getEntriesByType('navigation')[0];
                   return {dom: n.domContentLoadedEventEnd, load: n.loadEventEnd}; }"""
    )
    warm = timings[-5:]  # the server compiles the fused loops in the background at first
    print(
        f"slider move to redraw, 3 optimizers x 500 steps: {[round(t, 1) for t in timings]} ms "
        f"(median {statistics.median(timings):.1f} ms, of the last 5 {statistics.median(warm):.1f}"
        f" ms); input to the new paths drawn {[round(p['paths_ms'], 1) for p in parts]} ms; "
        f"/api/run fetch {[round(p['fetch_ms'], 1) for p in parts]} ms; Plotly.react contour "
        f"{[round(p['contour_ms'], 1) for p in parts]} ms, loss "
        f"{[round(p['loss_ms'], 1) for p in parts]} ms; page DOMContentLoaded "
        f"{navigation['dom']:.0f} ms, load {navigation['load']:.0f} ms"
    )
    assert len(timings) == 10 and all(t > 0 for t in timings)
    assert page.recorder.errors == []


def steps_position(page, steps: int) -> int:
    """The steps slider's position for ``steps``: its scale is logarithmic from 1 to the max."""
    top = int(page.get_attribute("#steps", "max"))
    return round(math.log(steps) / math.log(5000) * top)


def contour_value_at(page, i: int, j: int) -> tuple[float, float, float]:
    """(w1, w2, f) of the contour grid's point (row i, column j), as the page hovers it."""
    return tuple(
        page.evaluate(
            """([i, j]) => { const t = document.getElementById('contour').data
                 .find((t) => t.meta === 'f');
               return [t.x[j], t.y[i], t.z[i][j]]; }""",
            [i, j],
        )
    )


def type_formula(page, text: str) -> None:
    page.fill("#formula", text)
    page.press("#formula", "Enter")


def test_formula_shows_its_contour_and_hostile_ones_a_clear_error(server, page):
    open_page(page, server.url + "/")
    type_formula(page, "(w1 - 1)^2 + 4*w2^2")
    wait_ready(page)
    assert page.text_content("#formula-error") == ""
    for i, j in [(5, 7), (40, 60), (70, 20)]:
        w1, w2, f = contour_value_at(page, i, j)
        assert f == pytest.approx((w1 - 1) ** 2 + 4 * w2**2, rel=1e-12, abs=1e-12)
    assert len(path_traces(page)) == 2
    wait_for_internals(page)
    page.screenshot(path="/tmp/playground_formula.png")
    drawn = path_traces(page)

    for hostile in (HOSTILE, "w1 + " * 80 + "w2"):
        type_formula(page, hostile)
        page.wait_for_function(
            "document.getElementById('formula-error').textContent.length > 0", timeout=TIMEOUT_MS
        )
        message = page.text_content("#formula-error")
        print(f"\nformula {hostile[:40]!r}... -> {message!r}")
        assert "Traceback" not in message and "\n" not in message.strip()
        assert path_traces(page) == drawn  # the picture stays
    assert "300" in message  # the length limit is named
    assert page.recorder.dialogs == []

    # the page keeps working: a slider still re-runs on the last good formula
    set_momentum(page, server.url, 0.99)
    assert path_traces(page)[0]["x"] != drawn[0]["x"]
    assert page.recorder.errors == [] or all("400" in e or "422" in e for e in page.recorder.errors)


def test_shared_link_restores_the_same_picture(server, page, browser):
    open_page(page, server.url + "/")
    page.select_option("#function", "quadratic")
    wait_ready(page)
    page.fill("#function-params input[data-param=kappa]", "20")
    page.locator("#function-params input[data-param=kappa]").blur()
    wait_ready(page)
    assert "quadratic:kappa=20" in page.text_content("#command")
    # click on the contour: the start moves there
    box = page.locator("#contour .nsewdrag").bounding_box()
    page.mouse.click(box["x"] + 0.3 * box["width"], box["y"] + 0.7 * box["height"])
    wait_ready(page)
    start_text = page.text_content("#start-text")
    first = path_traces(page)[0]
    own_start = next(
        f["start"]
        for f in page.request.get(f"{server.url}/api/functions").json()["functions"]
        if f["name"] == "quadratic"
    )
    assert [first["x"][0], first["y"][0]] != own_start  # the click moved the start
    assert start_text == f"({first['x'][0]:.4g}, {first['y'][0]:.4g})"
    page.locator("#steps").fill(str(steps_position(page, 80)))
    wait_ready(page)
    set_momentum(page, server.url, 0.95)
    link = page.get_attribute("#share", "href")
    assert link.startswith(server.url)

    other = browser.context.new_page()
    other.recorder = Recorder(other)
    try:
        open_page(other, link)
        assert other.input_value("#function") == "quadratic"
        assert other.input_value("#function-params input[data-param=kappa]") == "20"
        assert other.text_content("#start-text") == start_text
        assert other.text_content("#steps-value") == "80"
        assert other.text_content("#command") == page.text_content("#command")
        assert path_traces(other) == path_traces(page)
        assert other.recorder.errors == []
    finally:
        other.close()


def test_theory_scrubber_cards_and_export(server, page):
    open_page(page, server.url + "/")
    # the theory panel's optimal settings (aniso is a quadratic) go into the momentum card
    page.wait_for_selector("#use-optimal:not([disabled])", timeout=TIMEOUT_MS)
    theory = page.request.post(
        f"{server.url}/api/theory",
        data={"function": "aniso", "specs": ["momentum:lr=0.1,momentum=0.9"], "start": [1, 1]},
    ).json()
    page.click("#use-optimal")
    wait_ready(page)
    card = ".card[data-optimizer=momentum]"
    shown_lr = float(page.text_content(f"{card} [data-value=lr]"))
    shown_momentum = float(page.text_content(f"{card} [data-value=momentum]"))
    assert shown_lr == pytest.approx(theory["momentum"]["optimal_lr"], rel=1e-3)
    assert shown_momentum == pytest.approx(theory["momentum"]["optimal_momentum"], rel=1e-3)
    assert metrics_rows(page)[0][1].isdigit()  # now it reaches the tolerance within 50 steps

    # the scrubber moves a marker along every path and shows the state at that step
    page.locator("#scrubber").fill("10")
    assert page.text_content("#scrub-value") == "10 of 50"
    markers = page.evaluate(
        """() => document.getElementById('contour').data.filter((t) => t.meta === 'scrub')
            .map((t) => [t.x[0], t.y[0]])"""
    )
    assert markers == [[p["x"][10], p["y"][10]] for p in path_traces(page)]
    wait_for_internals(page)

    # cards: up to six, then the add button is off; removing one removes its path
    for name in ("adam", "sgd", "adagrad", "nesterov"):
        page.select_option("#add-optimizer", name)
        page.click("#add-card")
        wait_ready(page)
    assert len(path_traces(page)) == 6
    assert page.is_disabled("#add-card")
    page.click(".card[data-optimizer=adagrad] .remove")
    wait_ready(page)
    assert [p["name"].split(" ")[0] for p in path_traces(page)] == [
        "momentum", "rmsprop", "adam", "sgd", "nesterov",
    ]  # fmt: skip
    assert page.is_enabled("#add-card")

    # gradient noise changes the runs; the seed makes them repeatable
    before = path_traces(page)
    page.fill("#noise", "0.5")
    page.press("#noise", "Enter")
    page.locator("#noise").blur()
    wait_ready(page)
    noisy = path_traces(page)
    assert noisy[0]["x"] != before[0]["x"]
    assert "--noise 0.5" in page.text_content("#command")

    with page.expect_download() as download:
        page.click("#export-png")
    assert download.value.suggested_filename.endswith(".png")
    assert page.recorder.errors == []
