"""`python -m prepbench [-m] KEY=VALUE ...`: the Hydra app. TensorFlow is imported only by jobs
that train, so --help and skipped jobs answer quickly."""

from __future__ import annotations

import os
import sys

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

import prepbench  # noqa: F401 (registers the ${prepbench_root:} resolver used by conf/)
from prepbench.errors import PrepbenchError


@hydra.main(version_base="1.3", config_path="../conf", config_name="config")
def main(cfg: DictConfig) -> None:
    from prepbench.job import run_job
    from prepbench.sweep import job_position

    try:
        status = run_job(cfg, list(HydraConfig.get().overrides.task), job_position())
    except PrepbenchError as err:
        if os.environ.get("HYDRA_FULL_ERROR") == "1":
            raise
        print(f"error: {err}", file=sys.stderr, flush=True)
        sys.exit(2)
    if status == "failed" and HydraConfig.get().mode.name != "MULTIRUN":
        sys.exit(1)  # in a sweep the jobs go on; the sweep's summary sets the exit code


if __name__ == "__main__":
    main()
