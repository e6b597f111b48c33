"""A study (`memo` or `converged`) on one GPU within a wall-clock budget, on JAX: the command
scripts/gpu_study.sh runs, the same as `python -m prepbench.gpu` (prepbench/gpu/ says what it does).

    OUT=DIR python scripts/gpu_study.py --experiment converged --data SUBSET.zip --budget 540
"""

import sys
from pathlib import Path

# The repository's prepbench, also where it is not installed (the GPU machine installs only wheels).
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from prepbench.gpu.__main__ import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
