"""`optiscope report` and `optiscope seed --html/--animate`: one self-contained, offline page.

The example file (docs/examples/experiments.toml) is rendered once for the module and read
back: the HTML parses with balanced tags, every experiment has its section, table and figures
(data URIs that Pillow decodes), the table holds `optiscope compare`'s numbers, nothing points
outside the file, and Debian's chromium (headless, through Playwright) opens it with no console
error, every image loaded and the 3-D view drawn. Every mistake in an experiments file exits
with status 2, one line, and no file. `seed --html` holds every seed experiment.

The browser test follows tests/test_web_browser.py: with OPTISCOPE_REQUIRE_BROWSER=1 (as
`make test` sets) a missing browser fails; otherwise it skips with the reason.
"""

from __future__ import annotations

import base64
import io
import json
import os
import re
import tempfile
from html.parser import HTMLParser
from pathlib import Path

import pytest
from PIL import Image

from optiscope.cli import main
from optiscope.experiments import report as comparison_record
from optiscope.experiments import run_specs
from optiscope.report import load_experiments, parse_experiments
from optiscope.report.sections import prepare
from optiscope.seed import REPORT_FILE, seed_experiments
from optiscope.tables import markdown_table

EXAMPLE = Path(__file__).resolve().parents[1] / "docs" / "examples" / "experiments.toml"
VOID = {"meta", "img", "br", "hr", "link", "input", "source", "wbr", "col", "area", "base"}
EXTERNAL = re.compile(
    r"""(?:\b(?:src|href|action|poster|data)\s*=\s*["']?\s*(?:[a-z][a-z0-9+.-]*:)?//)"""
    r"""|(?:url\(\s*["']?\s*(?:[a-z][a-z0-9+.-]*:)?//)|(?:https?:)""",
    re.IGNORECASE,
)


# ---------------------------------------------------------------------------- reading pages
class Page(HTMLParser):
    """The parts of a page the tests check: tag balance, sections, images, tables, scripts."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.problems: list[str] = []
        self.sections: list[dict] = []  # experiment sections, in order
        self.images: list[dict] = []  # every <img>: attrs and the section it is in
        self.links: list[str] = []
        self.scripts: list[dict] = []
        self.tables: list[list[list[str]]] = []  # rows of cells (header row first)
        self._text: list[str] | None = None
        self._cell: list[str] | None = None
        self._script: dict | None = None
        self.feed(text)
        self.close()
        if self.stack:
            self.problems.append(f"unclosed at the end: {self.stack}")

    def handle_starttag(self, tag: str, attrs) -> None:
        a = dict(attrs)
        if tag not in VOID:
            self.stack.append(tag)
        if tag == "section" and a.get("class") == "experiment":
            self.sections.append({"id": a["id"], "name": None, "images": [], "tables": 0})
        if tag == "h2" and self.sections and self.sections[-1]["name"] is None:
            self._text = []
        if tag == "img":
            self.images.append(a)
            if self.sections and "section" in self.stack:
                self.sections[-1]["images"].append(a)
        if tag == "a":
            self.links.append(a.get("href", ""))
        if tag == "script":
            self._script = {"attrs": a, "text": []}
        if tag == "table":
            self.tables.append([])
            if self.sections and "section" in self.stack:
                self.sections[-1]["tables"] += 1
        if tag == "tr":
            self.tables[-1].append([])
        if tag in ("td", "th"):
            self._cell = []
        if tag == "br" and self._cell is not None:
            self._cell.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.problems.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
            return
        self.stack.pop()
        if tag == "h2" and self._text is not None:
            self.sections[-1]["name"] = "".join(self._text).split(". ", 1)[1]
            self._text = None
        if tag in ("td", "th") and self._cell is not None:
            self.tables[-1][-1].append("".join(self._cell))
            self._cell = None
        if tag == "script" and self._script is not None:
            self._script["text"] = "".join(self._script["text"])
            self.scripts.append(self._script)
            self._script = None

    def handle_data(self, data: str) -> None:
        if self._text is not None:
            self._text.append(data)
        if self._cell is not None:
            self._cell.append(data)
        if self._script is not None:
            self._script["text"].append(data)


def decode_image(src: str) -> Image.Image:
    """The image of a ``data:`` URI, fully decoded (a truncated file raises)."""
    head, _, payload = src.partition(",")
    assert head in ("data:image/png;base64", "data:image/gif;base64"), head[:40]
    image = Image.open(io.BytesIO(base64.b64decode(payload, validate=True)))
    assert image.format == head[len("data:image/") : -len(";base64")].upper()
    image.load()
    return image


def without_plotly(text: str) -> str:
    """The page without the inlined plotly.js, after checking it is the installed package's
    own file (its minified code mentions URLs in strings; it is checked to load nothing in the
    browser test)."""
    from plotly.offline import get_plotlyjs

    start = text.find('<script id="plotly-js">')
    if start < 0:
        return text
    end = text.index("</script>", start)
    assert text[start + len('<script id="plotly-js">') : end] == get_plotlyjs()
    return text[:start] + text[end + len("</script>") :]


# ---------------------------------------------------------------------------- the example page
@pytest.fixture(scope="module")
def example(tmp_path_factory):
    out = tmp_path_factory.mktemp("report") / "report.html"
    code = main(["report", str(EXAMPLE), "--out", str(out)])
    assert code == 0
    text = out.read_text(encoding="utf-8")
    return {"path": out, "text": text, "page": Page(text), "spec": load_experiments(EXAMPLE)}


def test_example_page_parses_and_holds_every_experiment(example):
    page, spec = example["page"], example["spec"]
    assert page.problems == []
    assert [s["name"] for s in page.sections] == [e.name for e in spec.experiments]
    ids = [s["id"] for s in page.sections]
    assert [h for h in page.links if h != "#overview"] == [f"#{i}" for i in ids]  # contents
    assert f"<title>{spec.title.replace(chr(39), '&#x27;')}</title>" in example["text"]
    for exp, section in zip(spec.experiments, page.sections, strict=True):
        assert section["tables"] == 1
        kinds = [decode_image(img["src"]) for img in section["images"]]
        formats = [im.format for im in kinds]
        # the comparison figure, then the animation and the internals figure when asked for
        assert formats == ["PNG"] + ["GIF"] * exp.animate + ["PNG"] * exp.internals
        for img, im in zip(section["images"], kinds, strict=True):
            assert (int(img["width"]), int(img["height"])) == im.size
            assert min(im.size) > 200
        if exp.animate:
            assert kinds[1].n_frames == exp.steps + 1  # every step of a short run
        plots = [s for s in page.scripts if s["attrs"].get("id") == f"{section['id']}-plot3d"]
        assert len(plots) == exp.plot3d
        for script in plots:
            figure = json.loads(script["text"])
            kinds3d = [trace["type"] for trace in figure["data"]]
            assert kinds3d[0] == "surface" and kinds3d.count("scatter3d") >= len(exp.specs)
    library = [s for s in page.scripts if s["attrs"].get("id") == "plotly-js"]
    assert len(library) == 1  # inlined once, though only one experiment asks for it


def test_example_tables_are_the_compare_tables(example):
    """Each section's table has exactly the cells of `optiscope compare`'s Markdown table
    for the same runs (computed here independently)."""
    page, spec = example["page"], example["spec"]
    tables = [t for t in page.tables]
    assert len(tables) == len(spec.experiments)
    exp = spec.experiments[1]  # no extras: cheap to run again
    objective, point = prepare(exp)
    results = run_specs(objective, exp.specs, steps=exp.steps, start=point)
    md = markdown_table(
        comparison_record(objective, results, exp.steps, point, exp.tol)["runs"], exp.tol
    )
    rows = [
        [c.strip() for c in line.strip().strip("|").split("|")]
        for line in md.splitlines()
        if line.startswith("|") and not line.startswith("|---")
    ]
    assert tables[1] == rows


def test_example_captions_say_what_the_tables_show(example):
    """The example's captions make claims; its own tables back them."""
    tables = example["page"].tables
    steps = {row[1]: row[4] for row in tables[1][1:]}  # settings -> gap <= tol from step
    assert (
        steps["lr=0.1, momentum=0.99"] == "not reached"
        and steps["lr=0.1365, momentum=0.2281"].isdigit()
    )
    end = {row[1]: row[-1] for row in tables[2][1:]}
    assert end["lr=0.1, alpha=0.1, eps=1e-10"] == "2-cycle, amplitude 0.05"
    assert tables[2][2][4] == "1"  # alpha 0.99: on the minimum after its first step


def test_example_page_has_no_external_reference(example):
    text = without_plotly(example["text"])
    assert EXTERNAL.search(text) is None, EXTERNAL.search(text)
    page = example["page"]
    assert all(img["src"].startswith("data:image/") for img in page.images)
    assert all(href.startswith("#") for href in page.links)
    assert "@import" not in text and "@font-face" not in text
    assert "default-src 'none'" in text  # the browser refuses any other source too


REQUIRED = os.environ.get("OPTISCOPE_REQUIRE_BROWSER") == "1"


def _browser_missing() -> str | None:
    """Why the browser test cannot run here, or None (REQUIRED: raise instead of skip)."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        if REQUIRED:
            raise
        return "playwright is not installed"
    from web_fixtures import CHROMIUM

    if not CHROMIUM.exists():
        message = f"no chromium at {CHROMIUM} (apt-get install chromium)"
        if REQUIRED:
            raise RuntimeError(message)
        return message
    return None


def test_example_page_opens_offline_in_chromium(example):
    missing = _browser_missing()
    if missing:
        pytest.skip(missing)
    from web_fixtures import Chromium

    browser = Chromium()
    try:
        page = browser.context.new_page()
        errors: list[str] = []
        requests: list[str] = []
        page.on("console", lambda m: m.type == "error" and errors.append(m.text))
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("request", lambda r: requests.append(r.url))
        url = example["path"].resolve().as_uri()
        page.goto(url, wait_until="load", timeout=60_000)
        page.wait_for_function(
            "Array.from(document.querySelectorAll('div.plot3d'))"
            ".every(d => d._fullLayout && d.querySelector('canvas'))",
            timeout=60_000,
        )
        images = page.evaluate(
            "Array.from(document.images).map(i => [i.alt, i.complete, i.naturalWidth])"
        )
        shot = Path(tempfile.gettempdir()) / "optiscope_report.png"
        page.screenshot(path=str(shot))  # the top of the page (a full page costs seconds)
    finally:
        browser.close()
    assert errors == []
    assert [r for r in requests if not r.startswith("data:")] == [url]
    assert len(images) == len(example["page"].images) >= len(example["spec"].experiments)
    assert all(complete and width > 0 for _, complete, width in images), images
    assert Image.open(shot).size == (1280, 800)


# ---------------------------------------------------------------------------- mistakes
GOOD = 'name = "a"\nfunction = "aniso"\nspecs = ["sgd:lr=0.1"]\nsteps = 5\n'
MISTAKES = {
    "syntax": ('[[experiment]]\nname = "a"\nfunction = \n', "invalid TOML: Invalid value (at line 3, column 12)"),
    "top key": ('titel = "x"\n[[experiment]]\n' + GOOD, "unknown key 'titel'; did you mean 'title'? (valid: title, intro, defaults, experiment)"),
    "experiment key": ("[[experiment]]\n" + GOOD + "stpes = 3\n", "experiment 1 (a): unknown key 'stpes'; did you mean 'steps'?"),
    "defaults key": ("[defaults]\nanimation = true\n[[experiment]]\n" + GOOD, "[defaults]: unknown key 'animation'; did you mean 'animate'?"),
    "steps type": ("[[experiment]]\n" + GOOD.replace("steps = 5", 'steps = "5"'), "steps must be an integer, got a string '5'"),
    "bool as int": ("[defaults]\nseed = true\n[[experiment]]\n" + GOOD, "seed must be an integer, got a boolean True"),
    "flag type": ("[[experiment]]\n" + GOOD + "plot3d = 1\n", "plot3d must be true or false, got an integer 1"),
    "start type": ("[[experiment]]\n" + GOOD + "start = 1\n", "start must be an array of numbers"),
    "start dim": ("[[experiment]]\n" + GOOD + "start = [1, 2, 3]\n", "expected 2 numbers"),
    "start text": ("[[experiment]]\n" + GOOD + 'start = "1;2"\n', "invalid start '1;2'"),
    "missing function": ('[[experiment]]\nname = "a"\nspecs = ["sgd"]\n', "experiment 1 (a): missing function"),
    "missing specs": ('[[experiment]]\nname = "a"\nfunction = "iso"\n', "missing specs"),
    "missing name": ('[[experiment]]\nfunction = "iso"\nspecs = ["sgd"]\n', "experiment 1: missing name"),
    "empty specs": ('[[experiment]]\nname = "a"\nfunction = "iso"\nspecs = []\n', "specs is empty"),
    "specs type": ('[[experiment]]\nname = "a"\nfunction = "iso"\nspecs = "sgd"\n', "specs must be an array of optimizer specs"),
    "spec type": ('[[experiment]]\nname = "a"\nfunction = "iso"\nspecs = [1]\n', "specs[0] must be a string, got an integer 1"),
    "no experiments": ('title = "x"\n', "no experiments: add at least one [[experiment]]"),
    "experiment type": ("experiment = 3\n", "experiment must be an array of tables"),
    "duplicate": ("[[experiment]]\n" + GOOD + "[[experiment]]\n" + GOOD, "experiments 1 and 2 have the same name 'a'"),
    "unknown function": ("[[experiment]]\n" + GOOD.replace('"aniso"', '"rosenbrok"'), "rosenbrok"),
    "unsafe formula": ("[[experiment]]\n" + GOOD.replace('"aniso"', "\"__import__('os').system('x')\""), "experiment 1 (a): "),
    "unknown optimizer": ("[[experiment]]\n" + GOOD.replace("sgd:lr=0.1", "adamm:lr=0.1"), "adamm"),
    "unknown hyperparameter": ("[[experiment]]\n" + GOOD.replace("lr=0.1", "lrr=0.1"), "lrr"),
    "bad hyperparameter": ("[[experiment]]\n" + GOOD.replace("lr=0.1", "lr=-1"), "lr"),
    "steps range": ("[[experiment]]\n" + GOOD.replace("steps = 5", "steps = 0"), "invalid steps: 0"),
    "tol range": ("[defaults]\ntol = -1\n[[experiment]]\n" + GOOD, "tol"),
    "seeds without noise": ("[[experiment]]\n" + GOOD + "seeds = 3\n", "invalid seeds: 3 with exact gradients"),
    "batch on a test function": ("[[experiment]]\n" + GOOD + "batch_size = 8\n", "batch"),
    "plot3d beyond 2-D": ('[[experiment]]\nname = "a"\nfunction = "linreg:features=bmi+bp"\nspecs = ["sgd"]\nplot3d = true\n', "plot3d needs a function of two parameters"),
    "animate beyond 2-D": ('[[experiment]]\nname = "a"\nfunction = "linreg:features=bmi+bp"\nspecs = ["sgd"]\nanimate = true\n', "animate needs a function of two parameters"),
    "internals rows": ("[[experiment]]\n" + GOOD.replace('["sgd:lr=0.1"]', str([f"sgd:lr=0.0{i}" for i in range(1, 8)]).replace("'", '"')) + "internals = true\n", "internals draws one row per optimizer spec, at most 6; got 7"),
    "second experiment": ("[[experiment]]\n" + GOOD + '[[experiment]]\nname = "b"\nfunction = "iso"\nspecs = ["nope"]\n', "experiment 2 (b): "),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(MISTAKES))
def test_every_mistake_is_one_line_exit_2_and_no_file(case, tmp_path, capsys):
    text, expected = MISTAKES[case]
    source = tmp_path / "exp.toml"
    source.write_text(text, encoding="utf-8")
    out = tmp_path / "report.html"
    assert main(["report", str(source), "--out", str(out)]) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("optiscope: error: "), captured.err
    assert f"{source}: " in lines[0] and expected in lines[0], lines[0]
    assert captured.out == "" and "[1/" not in captured.err  # checked before anything ran
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["exp.toml"]


def test_unreadable_files_are_one_line_and_exit_2(tmp_path, capsys):
    binary = tmp_path / "latin1.toml"
    binary.write_bytes('title = "caf\xe9"\n'.encode("latin-1"))
    for path, expected in (
        (tmp_path / "missing.toml", "no such file"),
        (tmp_path, "is a folder"),
        (binary, "not UTF-8 text"),
    ):
        assert main(["report", str(path), "--out", str(tmp_path / "r.html")]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and expected in err, err
    assert not (tmp_path / "r.html").exists()


def test_a_bad_destination_is_refused_before_running(tmp_path, capsys):
    source = tmp_path / "exp.toml"
    source.write_text("[[experiment]]\n" + GOOD, encoding="utf-8")
    assert main(["report", str(source), "--out", str(tmp_path)]) == 2  # a folder
    err = capsys.readouterr().err
    assert "it is a folder" in err and "[1/" not in err


def test_user_text_is_escaped_and_never_breaks_a_figure(tmp_path, capsys):
    hostile = "<script>alert(1)</script> & \"q\" 'a' $x^{$ \\"
    source = tmp_path / "exp.toml"
    source.write_text(
        f"title = {json.dumps(hostile)}\nintro = {json.dumps(hostile)}\n[[experiment]]\n"
        f"name = {json.dumps(hostile)}\ncaption = {json.dumps(hostile)}\nfunction = "
        '"w1**2 + 3*w2**2"\nspecs = ["sgd:lr=0.1"]\nsteps = 8\nstart = "1,1"\nplot3d = true\n',
        encoding="utf-8",
    )
    out = tmp_path / "r.html"
    assert main(["report", str(source), "--out", str(out)]) == 0
    assert "[1/1] <script>" in capsys.readouterr().err  # progress on stderr
    text = without_plotly(out.read_text(encoding="utf-8"))
    assert "<script>alert" not in text and "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    page = Page(text)
    assert page.problems == [] and page.sections[0]["name"] == hostile
    assert decode_image(page.sections[0]["images"][0]["src"]).format == "PNG"
    figure = next(s for s in page.scripts if s["attrs"].get("type") == "application/json")
    assert "<" not in figure["text"] and json.loads(figure["text"])["data"][0]["type"] == "surface"


def test_parse_experiments_applies_defaults_and_overrides():
    spec = parse_experiments(
        'title = "t"\n[defaults]\nsteps = 7\nstart = [0.5, -1]\nanimate = true\n'
        '[[experiment]]\nname = "a"\nfunction = "iso"\nspecs = ["sgd"]\n'
        '[[experiment]]\nname = "b"\nfunction = "aniso"\nspecs = ["adam"]\nsteps = 9\n'
        "animate = false\n",
        "t.toml",
    )
    a, b = spec.experiments
    assert (a.steps, a.start, a.animate) == (7, (0.5, -1.0), True)
    assert (b.steps, b.start, b.animate) == (9, (0.5, -1.0), False)
    assert spec.title == "t" and spec.intro == ""


# ---------------------------------------------------------------------------- seed --html
def small_figure(runs, title=None, **_):
    """A stand-in for the comparison figure (drawing eight of them is the seed's slow part
    and is tested elsewhere): a small real figure that names its runs."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(3, 2), dpi=100)
    FigureCanvasAgg(fig)
    fig.suptitle(" / ".join(label for label, _, _ in runs), fontsize=5)
    return fig


def test_seed_html_holds_every_seed_experiment(tmp_path, monkeypatch, capsys):
    import optiscope.plots

    monkeypatch.setattr(optiscope.plots, "comparison_figure", small_figure)
    assert main(["seed", "--html", "--out", str(tmp_path)]) == 0
    assert str(tmp_path / REPORT_FILE) in capsys.readouterr().out
    text = (tmp_path / REPORT_FILE).read_text(encoding="utf-8")
    page = Page(text)
    assert page.problems == []
    keys = [e.key for e in seed_experiments()]
    assert [s["name"] for s in page.sections] == keys
    summary = json.loads((tmp_path / "summary.json").read_text())
    overview = page.tables[0]
    assert overview[0] == summary["columns"] and overview[1:] == summary["rows"]
    for key, section in zip(keys, page.sections, strict=True):
        assert section["tables"] == 1 and len(section["images"]) == 1
        embedded = base64.b64decode(section["images"][0]["src"].partition(",")[2])
        assert embedded == (tmp_path / f"{key}.png").read_bytes()  # the same figure
    assert EXTERNAL.search(text) is None and "plotly-js" not in text
    assert not list(tmp_path.glob("*.gif"))


def test_seed_animate_writes_a_gif_beside_each_figure(tmp_path, monkeypatch, capsys):
    import optiscope.plots
    import optiscope.seed as seed

    chosen = seed.seed_experiments()[5:6]  # RMSProp's 2-cycle: one is enough here
    monkeypatch.setattr(seed, "seed_experiments", lambda: chosen)
    monkeypatch.setattr(optiscope.plots, "comparison_figure", small_figure)
    assert main(["seed", "--animate", "--html", "--out", str(tmp_path)]) == 0
    summary = json.loads((tmp_path / "summary.json").read_text())
    page = Page((tmp_path / REPORT_FILE).read_text(encoding="utf-8"))
    for exp, entry, section in zip(chosen, summary["experiments"], page.sections, strict=True):
        gif = tmp_path / f"{exp.key}.gif"
        assert entry["animation"] == gif.name
        with Image.open(gif) as im:
            assert im.format == "GIF" and im.n_frames == seed.SEED_STEPS + 1
        sources = [img["src"] for img in section["images"]]
        assert base64.b64decode(sources[1].partition(",")[2]) == gif.read_bytes()
    capsys.readouterr()
