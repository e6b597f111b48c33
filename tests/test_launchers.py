"""Scale out with Hydra's launchers: joblib workers on this machine (with TensorFlow threads
shared among them) and submitit (the SLURM code path, run locally), all writing to one SQLite
store without losing a run."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from prepbench import ROOT
from prepbench.study.sweep import parallel_threads  # noqa: F401 (the code under test, imported early)
from prepbench.track import tracking
from tests._proc import TINY, error_lines, jobs, prepbench, runs

CORES = len(os.sched_getaffinity(0))


def one_parent_with(store, experiment, count):
    everything = runs(store, experiment)
    parents = [r for r in everything if r.data.tags.get("prepbench.role") == "sweep"]
    children = jobs(store, experiment)
    assert len(parents) == 1, [p.info for p in parents]
    assert len(children) == count, [(c.info.run_name, c.info.status) for c in children]
    assert {c.data.tags["mlflow.parentRunId"] for c in children} == {parents[0].info.run_id}
    return parents[0], children


@pytest.mark.slow
def test_joblib_workers_share_the_cores_and_lose_no_run(tmp_path):
    out = prepbench(
        "-m",
        *TINY,
        "prep=none,std,minmax",
        "hydra/launcher=parallel",
        "hydra.launcher.n_jobs=2",
        "study=par",
        store=tmp_path,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert "Joblib.Parallel(n_jobs=2" in out.stdout + out.stderr
    assert "locked" not in (out.stdout + out.stderr).lower()
    parent, children = one_parent_with(tmp_path, "par", 3)
    assert parent.info.status == "FINISHED"
    assert sorted(c.data.params["prep"] for c in children) == ["minmax", "none", "std"]
    assert {c.info.status for c in children} == {"FINISHED"}
    assert all("test_accuracy" in c.data.metrics for c in children)
    # cores // parallel jobs TensorFlow threads each, logged as the job's trainer.threads
    assert {c.data.params["trainer.threads"] for c in children} == {str(max(1, CORES // 2))}
    # the workers ran in other processes than the sweep's: job positions and the parent id reached them
    assert all(f"job {i}/3: " in out.stdout for i in (1, 2, 3))


@pytest.mark.slow
def test_bad_input_in_a_joblib_sweep_is_one_line_and_exit_2(tmp_path):
    out = prepbench(
        "-m",
        *TINY,
        "prep=none,std",
        "data.train_size=100000",
        "hydra/launcher=parallel",
        "study=parbad",
        store=tmp_path,
    )
    assert out.returncode == 2
    lines = error_lines(out.stderr)
    assert "Traceback" not in out.stderr
    expected = "data.train_size=100000 is larger than the 320 training images left after data.val_size=80; expected at most 320"
    assert lines[-1] == f"error: {expected}"
    assert sorted(line for line in lines[:-1] if "error:" in line) == [
        f"job 1/2: error: {expected}",
        f"job 2/2: error: {expected}",
    ]
    assert "0 job(s) finished, 0 failed, 2 rejected as bad input" in out.stdout
    assert [r.info.status for r in runs(tmp_path, "parbad")] == ["FAILED"]  # the parent only; no job run


@pytest.mark.slow
def test_submitit_local_runs_the_slurm_code_path(tmp_path):
    out = prepbench("-m", *TINY, "prep=none,std", "hydra/launcher=local", "study=submitit", store=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    parent, children = one_parent_with(tmp_path, "submitit", 2)
    assert parent.info.status == "FINISHED" and {c.info.status for c in children} == {"FINISHED"}
    assert {c.data.params["trainer.threads"] for c in children} == {str(max(1, CORES // 2))}
    logs = list((tmp_path / "sweep" / ".submitit").glob("*/*_log.out"))
    assert len(logs) == 2 and any("test_accuracy" in log.read_text() for log in logs)


def test_the_slurm_preset_composes_with_the_plugins_keys(tmp_path):
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "prepbench",
            "--cfg",
            "hydra",
            "-p",
            "hydra.launcher",
            "hydra/launcher=slurm",
            "hydra.launcher.partition=gpu",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert "hydra_plugins.hydra_submitit_launcher.submitit_launcher.SlurmLauncher" in out.stdout
    assert "partition: gpu" in out.stdout and "cpus_per_task: 8" in out.stdout


# ---- many writers against the embedded SQLite store, without TensorFlow --------------------------

WRITERS, RUNS_EACH = 4, 6


def _writer(cfg, parent_id: str, worker: int) -> list[str]:
    client = tracking.client_for(cfg.tracking)
    exp_id = tracking.experiment_id(client, cfg.tracking)  # all race to create the experiment
    done = []
    for i in range(RUNS_EACH):
        cfg.seed = worker * 100 + i
        run = tracking.JobRun(client, exp_id, cfg, [f"seed={cfg.seed}"], parent_id)
        run.log_config(cfg)
        for step in range(3):
            run.log_metrics({"train_loss": 1.0 / (step + 1), "val_accuracy": 0.1 * step}, step=step)
        run.log_metrics({"test_accuracy": 0.5})
        run.finish()
        done.append(run.run_id)
    return done


def test_parallel_writers_against_sqlite_lose_nothing(tmp_path):
    from joblib import Parallel, delayed
    from mlflow.tracking import MlflowClient

    from tests.test_faults import compose

    cfg = compose(
        "data=synthetic",
        "study=writers",
        f"tracking.uri=sqlite:///{tmp_path}/mlflow.db",
        f"tracking.artifact_location={tmp_path}/art",
    )
    # No experiment yet: the writers create it concurrently (the sweep creates it first; this is worse).
    client = MlflowClient(str(cfg.tracking.uri))
    ids = Parallel(n_jobs=WRITERS, backend="loky")(delayed(_writer)(cfg, None, w) for w in range(WRITERS))
    created = [run_id for worker in ids for run_id in worker]
    assert len(set(created)) == WRITERS * RUNS_EACH
    children = jobs(tmp_path, "writers")
    assert len(children) == WRITERS * RUNS_EACH
    assert {c.info.status for c in children} == {"FINISHED"}
    assert all(len(client.get_metric_history(c.info.run_id, "train_loss")) == 3 for c in children[:5])
    assert all(c.data.metrics["test_accuracy"] == 0.5 and "prep" in c.data.params for c in children)
