"""``python -m optiscope`` and the console script."""

import sys

from optiscope.cli import main


def entry() -> None:
    sys.exit(main())


if __name__ == "__main__":
    entry()
