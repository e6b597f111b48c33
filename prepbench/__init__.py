"""prepbench: measure which image preprocessing helps a CNN, and for which networks."""

import os
from pathlib import Path

from omegaconf import OmegaConf

__version__ = "0.1.0"

# TensorFlow prints pages of C++ start-up logs; users asked for errors only.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# The repository root (conf/, results/); conf/ uses it for paths that must not depend on the cwd.
ROOT = Path(__file__).resolve().parents[1]

OmegaConf.register_new_resolver("prepbench_root", lambda: str(ROOT), replace=True)


def cli() -> None:
    """The console script `prepbench`: exactly `python -m prepbench` (Hydra finds conf/ from the
    file it runs, which a console script importing prepbench.__main__ would not give it)."""
    import runpy

    runpy.run_module("prepbench", run_name="__main__", alter_sys=True)
