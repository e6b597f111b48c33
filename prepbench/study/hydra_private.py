"""Every use of Hydra's private API (`hydra._internal`), in one place. Hydra has no public hook
for either, and both are checked by tests/test_hydra_private.py, which fails naming this module
on a Hydra release that moves or changes them.

- `wrap_run_and_report(wrapper)`: Hydra's `run_and_report` turns any exception of the app (a bad
  override, an unknown group option) into a trimmed traceback and exit status 1; the app wraps
  it to print one line and exit 2 instead.
- `sweep_batches(arguments)`: how Hydra's basic sweeper expands `prep=a,b net=x,y` into jobs, to
  count a sweep's jobs before they start (`job 3/14`).
"""

from __future__ import annotations

from collections.abc import Callable

TESTED = "1.3"  # hydra-core's minor version this module is tested with (pyproject pins 1.3.*)


def wrap_run_and_report(wrapper: Callable[[Callable], Callable]) -> None:
    """Replace hydra._internal.utils.run_and_report(func) by wrapper(original)."""
    import hydra._internal.utils as hydra_utils

    hydra_utils.run_and_report = wrapper(hydra_utils.run_and_report)


def sweep_batches(arguments: list[str]) -> list[list[list[str]]]:
    """The basic sweeper's expansion of command-line overrides: one list of overrides per job
    (in batches; all in one batch here)."""
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parsed = OverridesParser.create().parse_overrides(arguments)
    return BasicSweeper.split_arguments(parsed, max_batch_size=None)
