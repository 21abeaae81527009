"""Hypothesis profiles: the suite replays the same examples everywhere unless asked to explore.

``ci`` (the default) derandomizes every property test and keeps no example database, so a
fresh clone on any machine runs exactly what ran here; no deadline, because the time a single
example takes on a shared machine is not a property under test (the CLI fuzz test bounds its
commands' time itself). ``OPTISCOPE_HYPOTHESIS=explore`` draws new random examples and keeps
the ones that fail, for a bug hunt.
"""

import os

from hypothesis import settings

settings.register_profile("ci", derandomize=True, database=None, deadline=None)
settings.register_profile("explore", deadline=None)
settings.load_profile(os.environ.get("OPTISCOPE_HYPOTHESIS", "ci"))
