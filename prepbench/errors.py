"""The one exception type that reaches users as a single line, without a traceback (Hydra's errors
become that line through prepbench.config.one_line)."""


class PrepbenchError(Exception):
    """Bad input or an impossible request. The message names the bad value and what was expected."""
