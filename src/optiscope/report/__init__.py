"""``optiscope report``: experiments described in a TOML file, as one self-contained HTML page.

- :mod:`optiscope.report.spec`: the file format, read and checked before anything runs
  (``load_experiments``, ``parse_experiments``);
- :mod:`optiscope.report.sections`: one experiment run and gathered into a ``Section``
  (figure, table, theory, diagnosis, extras);
- :mod:`optiscope.report.page`: the page, a pure function of the sections;
- :mod:`optiscope.report.surface3d`: the optional interactive 3-D view (Plotly).

Not to be confused with ``optiscope.theory.report`` (the theory's JSON report) or
``optiscope.experiments.report`` (a comparison's JSON record).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from optiscope.output import check_target, write_atomic
from optiscope.report.page import render_page
from optiscope.report.sections import Section, build_section, run_experiment
from optiscope.report.spec import Experiment, ReportSpec, load_experiments, parse_experiments

__all__ = [
    "Experiment",
    "ReportSpec",
    "Section",
    "build_section",
    "build_report",
    "load_experiments",
    "parse_experiments",
    "render_page",
    "run_experiment",
    "write_report",
]


def build_report(
    spec: ReportSpec, progress: Callable[[int, int, Experiment], None] | None = None
) -> str:
    """Run every experiment of ``spec`` in order and return the page's HTML.

    ``progress(i, n, experiment)`` is called before experiment ``i`` of ``n`` (1-based) runs.
    """
    sections = []
    for i, exp in enumerate(spec.experiments, start=1):
        if progress is not None:
            progress(i, len(spec.experiments), exp)
        sections.append(run_experiment(exp))
    return render_page(spec.title, spec.intro, sections)


def write_report(
    spec: ReportSpec,
    out: Path | str,
    progress: Callable[[int, int, Experiment], None] | None = None,
) -> Path:
    """Build the page of ``spec`` and write it to ``out`` whole or not at all.

    A destination that cannot be a file is refused before anything runs.
    """
    check_target(out, "report")
    return write_atomic(out, build_report(spec, progress), "report")
