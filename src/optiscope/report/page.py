"""The report as ONE self-contained HTML page: a pure function of finished sections.

Rules the page keeps (the tests check each one):

- **Offline.** Images are ``data:`` URIs (base64 PNG and GIF), the style sheet is inline, the
  only links are to the page's own anchors, no web font is named. plotly.js (from the installed
  plotly package, ``plotly.offline.get_plotlyjs()``) is inlined once, and only when a section
  has a 3-D view. A Content-Security-Policy forbids every other source: a browser opening the
  page loads nothing from anywhere.
- **Escaped.** Every text that came from the user or from a run (titles, captions, specs,
  formulas, sentences, table cells) goes through ``html.escape``; figure data for Plotly is
  JSON with ``<``, ``>`` and ``&`` written as ``\\u003c``, ``\\u003e``, ``\\u0026``, so it cannot
  close its ``<script>`` element.
- **Readable.** A table of contents, one section per experiment (caption, setup, figure,
  results table, theory, diagnosis, then the extras asked for), a body column of at most
  1240 px, tables that scroll sideways rather than squeeze numbers.
"""

from __future__ import annotations

import base64
import json
import struct
from collections.abc import Sequence
from html import escape
from typing import Any

from optiscope import __version__
from optiscope.report.sections import Section, TableData

CSP = (
    "default-src 'none'; img-src data:; style-src 'unsafe-inline'; "
    "script-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"
)
CSP_NO_SCRIPT = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; base-uri 'none'"

STYLE = """
:root { --fg: #1b1f24; --muted: #57606a; --line: #d0d7de; --soft: #f6f8fa; --accent: #0b5cad; }
* { box-sizing: border-box; }
html { background: #fff; }
body { margin: 0; color: var(--fg); background: #fff;
  font: 16px/1.55 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
main { max-width: 1240px; margin: 0 auto; padding: 20px 28px 64px; }
h1 { font-size: 2rem; line-height: 1.2; margin: 0.4em 0 0.3em; }
h2 { font-size: 1.5rem; margin: 2.4em 0 0.4em; padding-bottom: 0.25em;
  border-bottom: 2px solid var(--line); }
h3 { font-size: 1.1rem; margin: 1.6em 0 0.5em; }
h4 { font-size: 1rem; margin: 0 0 0.2em; }
p { margin: 0.5em 0; max-width: 75em; }
a { color: var(--accent); }
code { font: 0.9em/1.4 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace;
  background: var(--soft); padding: 0.1em 0.3em; border-radius: 4px; overflow-wrap: anywhere; }
.lead { font-size: 1.08rem; }
.muted { color: var(--muted); font-size: 0.92rem; }
nav.toc { background: var(--soft); border: 1px solid var(--line); border-radius: 8px;
  padding: 10px 22px; margin: 1.2em 0; }
nav.toc h2 { font-size: 1.1rem; margin: 0.4em 0; border: 0; padding: 0; }
nav.toc ol { margin: 0.3em 0 0.6em; padding-left: 1.6em; }
nav.toc li { margin: 0.2em 0; }
dl.setup { display: grid; grid-template-columns: max-content 1fr; gap: 3px 18px;
  margin: 0.8em 0; font-size: 0.95rem; }
dl.setup dt { font-weight: 600; color: var(--muted); }
dl.setup dd { margin: 0; }
figure { margin: 1em 0; }
figure img { display: block; max-width: 100%; height: auto; border: 1px solid var(--line);
  border-radius: 6px; background: #fff; }
figcaption { color: var(--muted); font-size: 0.9rem; margin-top: 0.4em; }
.table-wrap { overflow-x: auto; margin: 0.5em 0; }
table { border-collapse: collapse; font-size: 0.86rem; font-variant-numeric: tabular-nums; }
caption { caption-side: top; text-align: left; color: var(--muted); padding-bottom: 4px; }
th, td { border: 1px solid var(--line); padding: 4px 8px; vertical-align: top; }
th { background: var(--soft); text-align: left; font-weight: 600; }
td.num { text-align: right; white-space: nowrap; }
td.prose { min-width: 28em; }
tbody tr:nth-child(even) { background: #fafbfc; }
ul.lines { margin: 0.3em 0; padding-left: 1.3em; }
ul.lines li { margin: 0.25em 0; }
.run { border-left: 4px solid var(--accent); padding: 2px 0 2px 14px; margin: 12px 0; }
.best { border-left: 4px solid #2da44e; padding: 2px 0 2px 14px; }
.plot3d { width: 100%; min-height: 620px; border: 1px solid var(--line); border-radius: 6px; }
footer { margin-top: 3em; border-top: 1px solid var(--line); padding-top: 0.6em; }
@media print { .plot3d { display: none; } h2 { break-before: page; } }
"""

PROSE_CELL = 60  # a column with a cell longer than this is prose: given room to wrap in

FIGURE_NOTE = (
    "Where each path goes over the function's contours, the 3-D surface, and how the loss "
    "falls step by step."
)
LOSS_ONLY_NOTE = "The loss step by step (more than two parameters: no map of the paths)."
ANIMATION_NOTE = "The paths growing step by step over the contours, with the loss beside them."
INTERNALS_NOTE = (
    "What each optimizer carries over time: velocity, accumulators and the effective step "
    "per coordinate (log axis)."
)
PLOT3D_NOTE = "Interactive: drag to turn, scroll to zoom, hover a point for its values."

BOOT_SCRIPT = """
document.querySelectorAll("div.plot3d").forEach(function (div) {
  var figure = JSON.parse(document.getElementById(div.dataset.figure).textContent);
  Plotly.newPlot(div, figure.data, figure.layout, {
    responsive: true, displaylogo: false, showLink: false, showSendToCloud: false,
    showEditInChartStudio: false, toImageButtonOptions: {format: "png"}
  });
});
"""


def _e(text: Any) -> str:
    return escape(str(text), quote=True)


def image_size(data: bytes) -> tuple[int, int] | None:
    """``(width, height)`` from a PNG or GIF header; None for anything else."""
    if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) >= 24:
        return struct.unpack(">II", data[16:24])
    if data[:6] in (b"GIF87a", b"GIF89a") and len(data) >= 10:
        return struct.unpack("<HH", data[6:10])
    return None


def data_uri(data: bytes) -> str:
    """A ``data:`` URI of PNG or GIF bytes (the type read from the header)."""
    kind = "gif" if data[:3] == b"GIF" else "png"
    return f"data:image/{kind};base64," + base64.b64encode(data).decode("ascii")


def image(data: bytes, alt: str, note: str) -> str:
    """A ``<figure>`` with the image inline and its caption."""
    size = image_size(data)
    dims = "" if size is None else f' width="{size[0]}" height="{size[1]}"'
    return (
        f'<figure><img src="{data_uri(data)}" alt="{_e(alt)}"{dims} loading="eager">'
        f"<figcaption>{_e(note)}</figcaption></figure>"
    )


def table_html(table: TableData) -> str:
    """The table's cells, escaped; a cell's line break (median, then spread) becomes <br>."""
    parts = ['<div class="table-wrap"><table>']
    if table.title:
        parts.append(f"<caption>{_e(table.title)}</caption>")
    parts.append("<thead><tr>")
    parts += [f'<th scope="col">{_e(h)}</th>' for h in table.header]
    parts.append("</tr></thead><tbody>")
    longest = [max((len(row[i]) for row in table.rows if i < len(row)), default=0)
               for i in range(len(table.header))]  # fmt: skip
    for row in table.rows:
        parts.append("<tr>")
        for i, (cell, numeric) in enumerate(zip(row, table.numeric, strict=False)):
            text = "<br>".join(_e(line) for line in cell.split("\n"))
            kind = "num" if numeric else ("prose" if longest[i] > PROSE_CELL else "")
            parts.append(f'<td class="{kind}">{text}</td>' if kind else f"<td>{text}</td>")
        parts.append("</tr>")
    parts.append("</tbody></table></div>")
    return "".join(parts)


def _lines(lines: Sequence[str]) -> str:
    return '<ul class="lines">' + "".join(f"<li>{_e(s)}</li>" for s in lines) + "</ul>"


def script_json(value: Any) -> str:
    """JSON text that is safe inside a ``<script>`` element (no ``<``, ``>`` or ``&``)."""
    text = json.dumps(value, allow_nan=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def anchor(index: int) -> str:
    """The id of section ``index`` (1-based): ``exp-3``."""
    return f"exp-{index}"


def section_html(section: Section, index: int) -> str:
    """One experiment's section (see the module notes for its order)."""
    exp = section.experiment
    out = [f'<section class="experiment" id="{anchor(index)}">']
    out.append(f"<h2>{index}. {_e(exp.name)}</h2>")
    if exp.caption:
        out.append(f'<p class="lead">{_e(exp.caption)}</p>')
    out.append('<dl class="setup">')
    for what, value in section.setup:
        out.append(f"<dt>{_e(what)}</dt><dd><code>{_e(value)}</code></dd>")
    out.append("</dl>")
    note = LOSS_ONLY_NOTE if section.loss_only else FIGURE_NOTE
    out.append(image(section.figure_png, f"{exp.name}: comparison figure", note))
    out.append("<h3>Results</h3>")
    out.append(table_html(section.table))
    out.append("<h3>Theory</h3>")
    out.append(_lines(section.theory))
    out.append("<h3>Diagnosis</h3>")
    for run in section.runs:
        out.append(f'<div class="run"><h4><code>{_e(run.spec)}</code></h4>')
        out.append(_lines(run.sentences) + "</div>")
    if section.best:
        out.append('<div class="best">' + _lines(section.best) + "</div>")
    if section.animation_gif is not None:
        out.append("<h3>Animation</h3>")
        out.append(image(section.animation_gif, f"{exp.name}: animation", ANIMATION_NOTE))
    if section.internals_png is not None:
        out.append("<h3>Optimizer internals</h3>")
        out.append(image(section.internals_png, f"{exp.name}: internals", INTERNALS_NOTE))
    if section.plot3d is not None:
        out.append("<h3>Interactive 3-D view</h3>")
        source = f"{anchor(index)}-plot3d"
        out.append(
            f'<div class="plot3d" id="{source}-view" data-figure="{source}" role="img" '
            f'aria-label="{_e(exp.name)}: interactive 3-D surface with the paths"></div>'
        )
        out.append(f'<script type="application/json" id="{source}">')
        out.append(script_json(section.plot3d) + "</script>")
        out.append(f'<p class="muted">{_e(PLOT3D_NOTE)}</p>')
    out.append(f'<p class="muted">Ran and drawn in {section.seconds:.1f} s.</p>')
    out.append("</section>")
    return "\n".join(out)


def plotly_js() -> str:
    """plotly.js as shipped in the installed plotly package (never a CDN)."""
    from plotly.offline import get_plotlyjs

    js = get_plotlyjs()
    if "</script" in js.lower():  # would end the inline element early
        raise RuntimeError("the installed plotly.js cannot be inlined: it holds '</script'")
    return js


def render_page(
    title: str,
    intro: str,
    sections: Sequence[Section],
    overview: TableData | None = None,
    overview_note: str = "",
) -> str:
    """The whole page: heading, intro, contents, an optional overview table, the sections."""
    plots = any(s.plot3d is not None for s in sections)
    head = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{CSP if plots else CSP_NO_SCRIPT}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        '<meta name="referrer" content="no-referrer">',
        f'<meta name="generator" content="optiscope {_e(__version__)}">',
        f"<title>{_e(title)}</title>",
        f"<style>{STYLE}</style>",
        "</head>",
        "<body>",
        "<main>",
        f"<h1>{_e(title)}</h1>",
    ]
    if intro:
        head += [f'<p class="lead">{_e(p)}</p>' for p in intro.split("\n\n") if p.strip()]
    toc = ['<nav class="toc" aria-label="Contents"><h2>Contents</h2>']
    if overview is not None:
        toc.append('<p><a href="#overview">All runs at a glance</a></p>')
    toc.append("<ol>")
    for i, s in enumerate(sections, start=1):
        caption = s.experiment.caption
        tail = f' <span class="muted">{_e(caption)}</span>' if caption else ""
        toc.append(f'<li><a href="#{anchor(i)}">{_e(s.experiment.name)}</a>{tail}</li>')
    toc.append("</ol></nav>")
    body = []
    if overview is not None:
        body.append('<section id="overview"><h2>All runs at a glance</h2>')
        if overview_note:
            body.append(f"<p>{_e(overview_note)}</p>")
        body.append(table_html(overview) + "</section>")
    body += [section_html(s, i) for i, s in enumerate(sections, start=1)]
    tail = [
        '<footer class="muted">',
        f"Written by optiscope {_e(__version__)}. Self-contained: every figure, style and "
        "script is inside this file; it loads nothing from the network.",
        "</footer>",
        "</main>",
    ]
    if plots:
        tail.append(f'<script id="plotly-js">{plotly_js()}</script>')
        tail.append(f"<script>{BOOT_SCRIPT}</script>")
    tail += ["</body>", "</html>", ""]
    return "\n".join(head + toc + body + tail)
