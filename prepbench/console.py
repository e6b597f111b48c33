"""What reaches the terminal: TensorFlow's native start-up lines filtered out of stderr.

TensorFlow's C++ libraries log through absl before absl is initialised, so TF_CPP_MIN_LOG_LEVEL
does not reach them: importing TensorFlow prints "All log messages before absl::InitializeLog()
...", oneDNN and CUDA-stub notices, and, on a machine without a GPU driver, "failed call to
cuInit". `quiet_native_stderr` sends file descriptor 2 to a temporary file while TensorFlow starts
and then writes back every line that is not one of those, so warnings and errors still show.
In a sweep, every job builds a new model in the same process, and TensorFlow warns that
"N out of the last M calls ... triggered tf.function retracing": expected there, so dropped.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import tempfile
from contextlib import contextmanager

NOISE = re.compile(
    r"WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR"
    r"|I\d{4} [\d:.]+ +\d+ \S+\] "  # absl INFO lines: oneDNN, CUDA stub, devices created
    r"|E\d{4} [\d:.]+ +\d+ cuda_platform\.cc:\d+\] failed call to cuInit"  # no GPU driver: not an error here
)


def is_noise(line: str) -> bool:
    return NOISE.match(line) is not None


@contextmanager
def quiet_native_stderr():
    """Within the block, native code's start-up lines on stderr are dropped; the rest is kept."""
    sys.stderr.flush()
    try:
        saved = os.dup(2)
    except OSError:  # no file descriptor 2 (an embedded interpreter): nothing to filter
        yield
        return
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            lines = captured.read().decode(errors="replace").splitlines(keepends=True)
            kept = "".join(line for line in lines if not is_noise(line))
            if kept:
                sys.stderr.write(kept)
                sys.stderr.flush()


class _NotRetracing(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "triggered tf.function retracing" not in record.getMessage()


def quiet_retracing_warning() -> None:
    """Drop TensorFlow's retracing warning (each job of a sweep builds its own model), once."""
    logger = logging.getLogger("tensorflow")
    if not any(isinstance(f, _NotRetracing) for f in logger.filters):
        logger.addFilter(_NotRetracing())
