"""MLflow calls that a parallel writer got in the way of, retried; and Ctrl-C or SIGTERM held while a
call runs, so a store is never left mid-transaction. Every MLflow call of prepbench.track goes
through `retry` (tracking's runs and claims' tags alike)."""

from __future__ import annotations

import signal
import threading
import time
from contextlib import contextmanager

RETRIES = 8  # SQLite under parallel writers can report "database is locked"; MLflow calls retry
# Errors a parallel writer causes and a moment's wait cures: SQLite locked by another process; and
# two sweeps setting one experiment tag at once (MLflow's SQL store reads, then inserts: the slower
# insert breaks the table's unique key, and once the row exists the same call updates it).
TRANSIENT = ("locked", "unique constraint failed: experiment_tags")
STOPS = (signal.SIGINT, signal.SIGTERM)


def retry(call, *args, **kwargs):
    """Call an MLflow function, retrying briefly when a parallel writer got in the way (TRANSIENT).
    A Ctrl-C or SIGTERM during the call takes effect when the call returns (_signals_deferred)."""
    for attempt in range(RETRIES):
        try:
            with _signals_deferred():
                return call(*args, **kwargs)
        except Exception as err:  # MLflow wraps the driver's error in its own exception types
            if not any(t in str(err).lower() for t in TRANSIENT) or attempt == RETRIES - 1:
                raise
            time.sleep(0.2 * 2**attempt)


@contextmanager
def _signals_deferred():
    """Hold SIGINT and SIGTERM until the block ends, then deliver the first to the handler in place.
    A KeyboardInterrupt inside SQLAlchemy leaves its connection mid-transaction, holding SQLite's
    lock, and the job's own next write (marking its run KILLED) then waited on it without end.
    A second signal stops at once (a store call can hang: an unreachable server is retried for
    minutes)."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signals reach the main thread only
        return
    caught: list[int] = []

    def hold(signum, frame):
        caught.append(signum)
        if len(caught) > 1:
            raise KeyboardInterrupt(f"signal {signal.Signals(signum).name}, twice")

    previous = {sig: signal.signal(sig, hold) for sig in STOPS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)
        if len(caught) == 1:
            signal.raise_signal(caught[0])
