"""What every benchmark script prints the same way: the machine, library versions, and the
comma lists of its command line."""

from __future__ import annotations

import os
import platform
import sys
from collections.abc import Sequence
from pathlib import Path


def machine() -> str:
    """``"AMD EPYC ..., 2 cores, Linux, Python 3.11.7"``: the CPU model, the cores this
    process may use, the system and Python."""
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"{model}, {cores} cores, {platform.system()}, Python {platform.python_version()}"


def versions(names: Sequence[str]) -> str:
    """``"numpy 2.4.6, numba 0.68.1"`` for those of ``names`` already imported."""
    found = []
    for name in names:
        module = sys.modules.get(name)
        if module is not None:
            found.append(f"{name} {module.__version__}")
    return ", ".join(found)


def choose(text: str, valid: tuple[str, ...], flag: str, parser) -> list[str]:
    """A comma list of ``valid`` names (``"all"``: every one), in ``valid``'s order; an
    argparse error naming the unknown ones otherwise."""
    if text == "all":
        return list(valid)
    chosen = [t.strip() for t in text.split(",") if t.strip()]
    unknown = [t for t in chosen if t not in valid]
    if unknown or not chosen:
        parser.error(
            f"{flag}: unknown {', '.join(unknown) or 'empty list'}; valid: {', '.join(valid)}"
        )
    return [v for v in valid if v in chosen]  # in the table's order
