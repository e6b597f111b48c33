"""`python tests/without_tensorflow.py ARGS...` runs `python -m prepbench ARGS...` as on a machine
without TensorFlow: `import tensorflow` fails in this process (CI's JAX smoke study)."""

import runpy
import sys

sys.modules["tensorflow"] = None  # any `import tensorflow` now raises ImportError
sys.argv[0] = "prepbench"
runpy.run_module("prepbench", run_name="__main__", alter_sys=True)
