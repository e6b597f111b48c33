"""A multirun's life around its jobs (a Hydra callback): parent run before, summary after."""

from __future__ import annotations

import os
import sys
import traceback

from hydra.core.hydra_config import HydraConfig
from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from prepbench import tracking
from prepbench.errors import PrepbenchError


def sweep_size(config: DictConfig) -> int:
    """How many jobs this multirun will launch (for `job 3/14`), from its overrides."""
    from prepbench.hydra_private import sweep_batches

    params = config.hydra.sweeper.get("params") or {}
    arguments = [*(f"{k}={v}" for k, v in params.items()), *config.hydra.overrides.task]
    return sum(len(batch) for batch in sweep_batches(arguments))


class SweepCallback(Callback):
    """Opens the sweep's parent run before any job starts (so parallel workers only add children)
    and, at the end, says how many jobs finished and failed, exiting non-zero if any failed."""

    def on_multirun_start(self, config: DictConfig, **kwargs) -> None:
        try:
            self._open(config)
        except PrepbenchError as err:  # Hydra would turn it into a warning and launch the jobs
            if os.environ.get("HYDRA_FULL_ERROR") == "1":
                traceback.print_exc()
            else:
                print(f"error: {err}", file=sys.stderr, flush=True)
            sys.exit(2)

    def _open(self, config: DictConfig) -> None:
        client = tracking.client_for(config.tracking)
        exp_id = tracking.experiment_id(client, config.tracking)
        stale = tracking.mark_stale_runs(client, exp_id)
        if stale:
            print(f"marked {stale} run(s) left RUNNING by an interrupted sweep as KILLED", flush=True)
        overrides = list(config.hydra.overrides.task)
        self.parent_id = tracking.open_parent_run(client, exp_id, str(config.study), overrides)
        tracking.clear_bad_input(client, self.parent_id)
        self.client, self.exp_id = client, exp_id
        os.environ[tracking.PARENT_RUN_ENV] = self.parent_id
        os.environ[tracking.SWEEP_SIZE_ENV] = str(sweep_size(config))
        print(f"sweep {config.study}: {os.environ[tracking.SWEEP_SIZE_ENV]} jobs, MLflow parent run {self.parent_id}", flush=True)

    def on_multirun_end(self, config: DictConfig, **kwargs) -> None:
        finished, failed = tracking.sweep_outcome(self.client, self.parent_id, self.exp_id)
        bad = tracking.bad_input(self.client, self.parent_id)
        status = "FAILED" if failed or bad else "FINISHED"
        tracking.retry(self.client.set_terminated, self.parent_id, status=status)
        print(f"sweep {config.study}: {finished} job(s) finished, {len(failed)} failed, {len(bad)} rejected as bad input", flush=True)
        for name in failed:
            print(f"  not finished: {name}", flush=True)
        if bad:
            print(f"error: {bad[0]}", file=sys.stderr, flush=True)
            sys.exit(2)
        if failed:
            sys.exit(1)


def record_bad_input(cfg: DictConfig, message: str) -> None:
    """A job of this sweep rejected its input: noted on the parent run for the summary."""
    parent_id = os.environ.get(tracking.PARENT_RUN_ENV)
    if parent_id:
        tracking.note_bad_input(tracking.client_for(cfg.tracking), parent_id, HydraConfig.get().job.num, message)


def end_parent(cfg: DictConfig, status: str) -> None:
    """Ctrl-C in a sweep: the parent run ends with its jobs, not RUNNING."""
    parent_id = os.environ.get(tracking.PARENT_RUN_ENV)
    if parent_id:
        tracking.retry(tracking.client_for(cfg.tracking).set_terminated, parent_id, status=status)


def parallel_threads() -> int:
    """TensorFlow intra-op threads for one job of this sweep, so that the jobs that run at once on
    this machine share its cores instead of oversubscribing them: cores // parallel jobs."""
    hydra_cfg = HydraConfig.get()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    launcher = hydra_cfg.launcher
    target = str(launcher.get("_target_", ""))
    if "Joblib" in target:
        n_jobs = int(launcher.get("n_jobs") or 1)
        parallel = n_jobs if n_jobs > 0 else max(1, (os.cpu_count() or 1) + 1 + n_jobs)  # joblib: -1 = all cores
    elif "LocalLauncher" in target:  # submitit_local: all the jobs run at once, as processes here
        parallel = int(os.environ.get(tracking.SWEEP_SIZE_ENV) or 1)
    else:  # basic: one after another; SLURM: each job has its own allocation (sched_getaffinity)
        parallel = 1
    total = int(os.environ.get(tracking.SWEEP_SIZE_ENV) or parallel)
    return max(1, cores // max(1, min(parallel, total)))


def job_position() -> str:
    """`job 3/14` inside a multirun, empty otherwise."""
    hydra_cfg = HydraConfig.get()
    total = os.environ.get(tracking.SWEEP_SIZE_ENV)
    if hydra_cfg.mode is None or hydra_cfg.mode.name != "MULTIRUN" or not total:
        return ""
    return f"job {hydra_cfg.job.num + 1}/{total}: "
