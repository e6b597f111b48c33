"""A multirun's life around its jobs (a Hydra callback): parent run before, summary after."""

from __future__ import annotations

import os
import sys
import time
import traceback
from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from prepbench.errors import PrepbenchError
from prepbench.track import claims, tracking
from prepbench.track.retries import retry
from prepbench.track.ui import add_runs_view

# The parent run's lease, renewed while the sweep lives. Not an attribute of the SweepCallback that
# starts it: the task function stops it too (end_parent, on Ctrl-C in a job of the basic launcher;
# the KeyboardInterrupt passes Hydra's run_job, which catches Exception only, so no callback hook
# runs), and Hydra gives the task function no handle on its callback instances.
_HEARTBEAT: claims.Heartbeat | None = None


def sweep_size(config: DictConfig) -> int:
    """How many jobs this multirun will launch (for `job 3/14`), from its overrides."""
    from prepbench.study.hydra_private import sweep_batches

    params = config.hydra.sweeper.get("params") or {}
    arguments = [*(f"{k}={v}" for k, v in params.items()), *config.hydra.overrides.task]
    return sum(len(batch) for batch in sweep_batches(arguments))


class SweepCallback(Callback):
    """Opens the sweep's parent run before any job starts (so parallel workers only add children)
    and, at the end, says how many jobs finished and failed, exiting non-zero if any failed."""

    def on_multirun_start(self, config: DictConfig, **kwargs) -> None:
        # Hydra turns an exception raised here into a warning and launches the jobs anyway, without
        # a parent run: every error stops the sweep here, before any job.
        try:
            self._check(config)
            self._open(config)
        except PrepbenchError as err:
            _stop(f"error: {err}", 2)
        except Exception as err:
            _stop(f"error: the sweep could not start: {type(err).__name__}: {_first_line(err)}", 1)

    def _check(self, config: DictConfig) -> None:
        """What can be refused for the whole sweep at once: its settings that no job sweeps over,
        the launcher, and the default data set's download."""
        from prepbench.config import validate

        validate(config)
        tracking.check_committed_code(config)
        check_launcher(config)
        fetch_data(config)

    def _open(self, config: DictConfig) -> None:
        global _HEARTBEAT
        client = tracking.client_for(config.tracking)
        exp_id = tracking.experiment_id(client, config.tracking)
        add_runs_view(client, exp_id)  # the dashboard's ready runs table (prepbench.track.ui)
        stale = tracking.mark_stale_runs(client, exp_id)
        claims.mark_stale(client, exp_id, role="sweep")
        if stale:
            print(f"marked {stale} run(s) left RUNNING by an interrupted sweep as KILLED", flush=True)
        tracking.mark_superseded(client, exp_id)  # stores written before runs were tagged so
        overrides = list(config.hydra.overrides.task)
        lease = float(config.tracking.lease_seconds)
        self.parent_id = tracking.open_parent_run(
            client, exp_id, str(config.study), overrides, lease, rerun=bool(config.rerun)
        )
        _HEARTBEAT = claims.Heartbeat(client, self.parent_id, lease).start()
        tracking.clear_bad_input(client, self.parent_id)
        clear_elsewhere(client, self.parent_id)
        self.client, self.exp_id = client, exp_id
        os.environ[tracking.PARENT_RUN_ENV] = self.parent_id
        os.environ[tracking.SWEEP_SIZE_ENV] = str(sweep_size(config))
        start_progress(Path(str(config.hydra.sweep.dir)))
        print(
            f"sweep {config.study}: {os.environ[tracking.SWEEP_SIZE_ENV]} jobs, MLflow parent run {self.parent_id}",
            flush=True,
        )

    def on_multirun_end(self, config: DictConfig, **kwargs) -> None:
        try:
            self._close(config)
        except Exception as err:  # as above: never a warning and exit status 0
            _stop(f"error: the sweep's summary could not be written: {type(err).__name__}: {_first_line(err)}", 1)

    def _close(self, config: DictConfig) -> None:
        finished, failed = tracking.sweep_outcome(self.client, self.parent_id, self.exp_id)
        bad = tracking.bad_input(self.client, self.parent_id)
        elsewhere = claimed_elsewhere(self.client, self.parent_id)
        status = "FAILED" if failed or bad else "FINISHED"
        stop_heartbeat()
        retry(self.client.set_terminated, self.parent_id, status=status)
        took = (
            f" in {duration(time.time() - float(os.environ[SWEEP_STARTED_ENV]))}"
            if SWEEP_STARTED_ENV in os.environ
            else ""
        )
        others = f", {len(elsewhere)} left to another sweep that is training them" if elsewhere else ""
        print(
            f"sweep {config.study}: {finished} job(s) finished, {len(failed)} failed, {len(bad)} rejected as bad input{others}{took}",
            flush=True,
        )
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
    stop_heartbeat()
    if parent_id:
        retry(tracking.client_for(cfg.tracking).set_terminated, parent_id, status=status)


def parallel_threads() -> int:
    """TensorFlow intra-op threads for one job of this sweep, so that the jobs that run at once on
    this machine share its cores instead of oversubscribing them: cores // parallel jobs."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, cores // concurrent_jobs())


def concurrent_jobs() -> int:
    """How many jobs of this sweep run at once on this machine (1 for the basic launcher and for
    SLURM, where each job has its own allocation)."""
    launcher = HydraConfig.get().launcher
    target = str(launcher.get("_target_", ""))
    if "Joblib" in target:
        n_jobs = int(launcher.get("n_jobs") or 1)
        parallel = n_jobs if n_jobs > 0 else max(1, (os.cpu_count() or 1) + 1 + n_jobs)  # joblib: -1 = all cores
    elif "LocalLauncher" in target:  # submitit_local: all the jobs run at once, as processes here
        parallel = int(os.environ.get(tracking.SWEEP_SIZE_ENV) or 1)
    else:  # basic: one after another; SLURM: each job has its own allocation (sched_getaffinity)
        parallel = 1
    total = int(os.environ.get(tracking.SWEEP_SIZE_ENV) or parallel)
    return max(1, min(parallel, total))


def job_position() -> str:
    """`job 3/14` inside a multirun, empty otherwise."""
    hydra_cfg = HydraConfig.get()
    total = os.environ.get(tracking.SWEEP_SIZE_ENV)
    if hydra_cfg.mode is None or hydra_cfg.mode.name != "MULTIRUN" or not total:
        return ""
    return f"job {hydra_cfg.job.num + 1}/{total}: "


# ---- progress: k/N, elapsed time and an estimate of the time left ---------------------------

SWEEP_STARTED_ENV = "PREPBENCH_SWEEP_STARTED"  # the sweep's start, seconds since the epoch
PROGRESS_ENV = "PREPBENCH_SWEEP_PROGRESS"  # a file with one line per job done: "number status seconds"


def start_progress(sweep_dir: Path) -> None:
    """Called once before the jobs: where they note that they are done (the sweep folder, which
    every launcher's jobs can reach)."""
    sweep_dir.mkdir(parents=True, exist_ok=True)
    path = sweep_dir / "progress.tsv"
    path.write_text("")
    os.environ[SWEEP_STARTED_ENV] = repr(time.time())
    os.environ[PROGRESS_ENV] = str(path)


def note_job_done(status: str, seconds: float) -> None:
    """A job of this sweep ended ("finished", "failed", "skipped", "bad input"): one appended line."""
    path = os.environ.get(PROGRESS_ENV)
    if path and HydraConfig.get().mode.name == "MULTIRUN":
        with open(path, "a") as f:  # one short write in append mode: lines of parallel jobs do not mix
            f.write(f"{HydraConfig.get().job.num}\t{status.replace(' ', '_')}\t{seconds:.1f}\n")


def duration(seconds: float) -> str:
    """1h02m, 4m05s, 12s."""
    seconds = int(round(seconds))
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    if seconds >= 60:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds}s"


def estimate(total: int, done: list[tuple[str, float]], elapsed: float, parallel: int = 1) -> str:
    """`3 of 14 done, 2m10s elapsed, about 8m left`: the time left is the jobs not yet done times
    the mean time of the jobs done that trained (skipped jobs take no time), over the jobs that run
    at once."""
    text = f"{len(done)} of {total} done, {duration(elapsed)} elapsed"
    trained = [seconds for status, seconds in done if status in ("finished", "failed")]
    left = total - len(done)
    if left <= 0:
        return text
    if not trained:
        return text + ", time left known after the first job that trains"
    return text + f", about {duration(left * sum(trained) / len(trained) / max(1, parallel))} left"


def job_progress() -> str:
    """The progress line printed before each job of a multirun (empty outside one)."""
    position, total = job_position(), os.environ.get(tracking.SWEEP_SIZE_ENV)
    started, path = os.environ.get(SWEEP_STARTED_ENV), os.environ.get(PROGRESS_ENV)
    if not (position and total and started and path):
        return ""
    try:
        lines = Path(path).read_text().splitlines()
    except OSError:
        lines = []
    done = []
    for line in lines:
        parts = line.split("\t")
        if len(parts) == 3:
            done.append((parts[1], float(parts[2])))
    return f"{position}{estimate(int(total), done, time.time() - float(started), concurrent_jobs())}"


# ---- what a sweep refuses before any job, and what it leaves to other sweeps ----------------------


def _first_line(err: BaseException) -> str:
    return (str(err).strip().splitlines() or [""])[0]


def _stop(message: str, status: int) -> None:
    if os.environ.get("HYDRA_FULL_ERROR") == "1":
        traceback.print_exc()
    else:
        print(message, file=sys.stderr, flush=True)
    stop_heartbeat()
    sys.exit(status)


def stop_heartbeat() -> None:
    global _HEARTBEAT
    if _HEARTBEAT is not None:
        _HEARTBEAT.stop()
        _HEARTBEAT = None


def check_launcher(config: DictConfig) -> None:
    """joblib's n_jobs: 0 would fail inside joblib after the parent run opened."""
    launcher = config.hydra.get("launcher") or {}
    if "Joblib" in str(launcher.get("_target_", "")):
        n_jobs = launcher.get("n_jobs")
        if n_jobs is not None and (isinstance(n_jobs, bool) or not isinstance(n_jobs, int) or n_jobs == 0):
            raise PrepbenchError(
                f"hydra.launcher.n_jobs={n_jobs} is invalid; expected a number of parallel "
                "jobs >= 1, or -1 for one per core (-2: all but one, ...)"
            )


def _swept(config: DictConfig, prefix: str) -> bool:
    """Whether a sweep override (a, b or a sweep function) names `prefix` or a key under it."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    params = config.hydra.sweeper.get("params") or {}
    arguments = [*(f"{k}={v}" for k, v in params.items()), *config.hydra.overrides.task]
    for override in OverridesParser.create().parse_overrides(arguments):
        key = override.key_or_group.split("@")[0].lstrip("+~")
        if override.is_sweep_override() and (key == prefix or key.startswith(prefix + ".")):
            return True
    return False


def fetch_data(config: DictConfig) -> None:
    """Download the default data set once, before any job: offline, the sweep stops here with one
    line instead of every job failing the same way."""
    data = config.get("data")
    if data is None or data.get("source") != "cifar10" or _swept(config, "data"):
        return
    from pathlib import Path

    from prepbench.data.cifar10 import download

    download(str(data.url), str(data.md5), Path(str(data.cache_dir)))


ELSEWHERE_TAG = "prepbench.elsewhere."


def note_elsewhere(cfg: DictConfig) -> None:
    """A job of this sweep was left to another sweep that holds its claim: noted for the summary."""
    parent_id = os.environ.get(tracking.PARENT_RUN_ENV)
    if parent_id:
        client = tracking.client_for(cfg.tracking)
        retry(client.set_tag, parent_id, f"{ELSEWHERE_TAG}{HydraConfig.get().job.num}", "claimed by another sweep")


def claimed_elsewhere(client, parent_id: str) -> list[str]:
    tags = retry(client.get_run, parent_id).data.tags
    return sorted(k for k in tags if k.startswith(ELSEWHERE_TAG))


def clear_elsewhere(client, parent_id: str) -> None:
    for key in claimed_elsewhere(client, parent_id):
        retry(client.delete_tag, parent_id, key)
