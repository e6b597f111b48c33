"""TensorFlow's native start-up lines are dropped from stderr; everything else reaches it."""

import os
import subprocess
import sys

from prepbench import ROOT
from prepbench.console import is_noise

STARTUP = [
    "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
    "I0000 00:00:1795796067.071895    8131 port.cc:153] oneDNN custom operations are on. You may see ...",
    "I0000 00:00:1795796067.073381    8131 cudart_stub.cc:31] Could not find cuda drivers on your machine, GPU will not be used.",
    "E0000 00:00:1795796070.215594    8131 cuda_platform.cc:52] failed call to cuInit: INTERNAL: CUDA error: ... (303)",
]


def test_start_up_lines_are_noise_and_real_messages_are_not():
    assert all(is_noise(line) for line in STARTUP)
    for kept in (
        "E0000 00:00:1795796070.215594    8131 bfc_allocator.cc:1] Out of memory",
        "W0000 00:00:1795796070.215594    8131 some.cc:1] a warning",
        "error: prep=zxa is unknown",
        "Traceback",
    ):
        assert not is_noise(kept), kept


def test_quiet_native_stderr_filters_file_descriptor_2_and_keeps_the_rest():
    code = (
        "import os, sys\n"
        "from prepbench.console import quiet_native_stderr\n"
        "with quiet_native_stderr():\n"
        f"    os.write(2, {chr(10).join(STARTUP)!r}.encode() + b'\\nkept from C\\n')\n"
        "    print('kept from Python', file=sys.stderr)\n"
        "print('after', file=sys.stderr)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
    )
    assert out.returncode == 0, out.stderr
    assert out.stderr.splitlines() == ["kept from C", "kept from Python", "after"]
