"""The one exception type for a user's mistake (bad spec, bad value, unsafe formula).

The CLI turns it into one line on stderr and exit status 2; anything else is a bug.
"""


class OptiscopeError(ValueError):
    """A user's input was invalid; the message names the problem and the valid choices."""
