"""Ctrl-C and SIGTERM: each raises KeyboardInterrupt where Python next runs, and is remembered.

C code that calls back into Python (TensorFlow tracing a training step) can turn that
KeyboardInterrupt into another error, such as `SystemError: bad argument to internal function`: a
job then asks `requested()`, ends its run KILLED all the same and stops the sweep, instead of
ending FAILED and going on to the next job.
"""

from __future__ import annotations

import signal

_requested = False


def _interrupt(signum, frame):
    global _requested
    _requested = True
    raise KeyboardInterrupt(f"signal {signal.Signals(signum).name}")


def install() -> None:
    """Take Ctrl-C and SIGTERM where nobody else has (SLURM's scancel and kill send SIGTERM)."""
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, _interrupt)
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _interrupt)


def requested() -> bool:
    """Whether a Ctrl-C or SIGTERM has arrived in this process."""
    return _requested
