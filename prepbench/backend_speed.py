"""`python -m prepbench.backend_speed`: the same job on JAX and on TensorFlow, as a speed ratio.

The code is prepbench.bench.backend_speed; this module is where the command is found."""

import sys

from prepbench.bench.backend_speed import main

if __name__ == "__main__":
    sys.exit(main())
