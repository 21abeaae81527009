"""The names of an objective's parameters, for axis labels and tables.

Rule: a data objective (``objectives.data``) names its parameter vector ``(w_1, ..., w_F, b)``
after the chosen features (its ``coordinates``: ``w_bmi``, ..., ``b``); every other objective
(catalogue test functions, typed formulas) has coordinates ``w1 .. wD``. ``parameter_names``
gives them as plain text (``w_bmi``, ``w1``); ``axis_names`` gives the first two as mathtext
labels (``$w_1$``, ``$w_{\\mathrm{bmi}}$``, ``$b$``). A feature name is put in mathtext only when
it is made of letters, digits and underscores (every scikit-learn feature name here is: ``bmi``,
``mean_radius``); anything else is shown as plain text, so a label never fails to render.
"""

from __future__ import annotations

import re

from optiscope.objectives.base import Objective

_SAFE = re.compile(r"^[A-Za-z0-9_]+$")


def parameter_names(objective: Objective) -> list[str]:
    """All ``D`` coordinate names as plain text: ``w_bmi, ..., b`` or ``w1, ..., wD``."""
    names = tuple(getattr(objective, "coordinates", ()) or ())
    if len(names) == objective.dim:
        return [str(n) for n in names]
    return [f"w{i + 1}" for i in range(objective.dim)]


def axis_names(objective: Objective) -> tuple[str, str]:
    """The first two parameter names as axis labels (mathtext where it is safe)."""
    names = [_mathtext(n) for n in parameter_names(objective)[:2]]
    while len(names) < 2:  # a 1-D objective: the second axis has no parameter
        names.append("")
    return names[0], names[1]


def _mathtext(name: str) -> str:
    """``w1`` -> ``$w_1$``; ``w_bmi`` -> ``$w_{\\mathrm{bmi}}$``; ``b`` -> ``$b$``; else plain."""
    m = re.fullmatch(r"w(\d+)", name)
    if m:
        digits = m.group(1)
        return f"$w_{digits}$" if len(digits) == 1 else f"$w_{{{digits}}}$"
    if name.startswith("w_") and _SAFE.match(name[2:]):
        feature = name[2:].replace("_", r"\_")
        return f"$w_{{\\mathrm{{{feature}}}}}$"
    if len(name) == 1 and name.isalpha():
        return f"${name}$"
    return name
