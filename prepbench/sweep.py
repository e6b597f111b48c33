"""A multirun's life around its jobs (a Hydra callback): parent run before, summary after."""

from __future__ import annotations

import os
import sys

from hydra.core.hydra_config import HydraConfig
from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from prepbench import tracking


def sweep_size(config: DictConfig) -> int:
    """How many jobs this multirun will launch (for `job 3/14`), from its overrides."""
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.override_parser.overrides_parser import OverridesParser

    params = config.hydra.sweeper.get("params") or {}
    arguments = [*(f"{k}={v}" for k, v in params.items()), *config.hydra.overrides.task]
    parsed = OverridesParser.create().parse_overrides(arguments)
    return sum(len(batch) for batch in BasicSweeper.split_arguments(parsed, max_batch_size=None))


class SweepCallback(Callback):
    """Opens the sweep's parent run before any job starts (so parallel workers only add children)
    and, at the end, says how many jobs finished and failed, exiting non-zero if any failed."""

    def on_multirun_start(self, config: DictConfig, **kwargs) -> None:
        client = tracking.client_for(config.tracking)
        exp_id = tracking.experiment_id(client, config.tracking)
        stale = tracking.mark_stale_runs(client, exp_id)
        if stale:
            print(f"marked {stale} run(s) left RUNNING by an interrupted sweep as KILLED", flush=True)
        overrides = list(config.hydra.overrides.task)
        self.parent_id = tracking.open_parent_run(client, exp_id, str(config.study), overrides)
        self.client, self.exp_id = client, exp_id
        os.environ[tracking.PARENT_RUN_ENV] = self.parent_id
        os.environ[tracking.SWEEP_SIZE_ENV] = str(sweep_size(config))
        print(f"sweep {config.study}: {os.environ[tracking.SWEEP_SIZE_ENV]} jobs, MLflow parent run {self.parent_id}", flush=True)

    def on_multirun_end(self, config: DictConfig, **kwargs) -> None:
        finished, failed = tracking.sweep_outcome(self.client, self.parent_id, self.exp_id)
        status = "FAILED" if failed else "FINISHED"
        tracking.retry(self.client.set_terminated, self.parent_id, status=status)
        print(f"sweep {config.study}: {finished} job(s) finished, {len(failed)} failed", flush=True)
        for name in failed:
            print(f"  not finished: {name}", flush=True)
        if failed:
            sys.exit(1)


def job_position() -> str:
    """`job 3/14` inside a multirun, empty otherwise."""
    hydra_cfg = HydraConfig.get()
    total = os.environ.get(tracking.SWEEP_SIZE_ENV)
    if hydra_cfg.mode is None or hydra_cfg.mode.name != "MULTIRUN" or not total:
        return ""
    return f"job {hydra_cfg.job.num + 1}/{total}: "
