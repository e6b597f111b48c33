"""Never lose a run: SIGKILL mid-job then resume, Ctrl-C/SIGTERM end the run KILLED, a job that
raises ends FAILED with its reason and traceback, and a deterministic job repeats exactly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from prepbench import ROOT
from prepbench.track import tracking
from tests._proc import jobs, prepbench, runs, start, wait_for

SMALL = ["data=synthetic", "net=shallow", "net.width=4", "net.dense=8"]


@pytest.mark.slow
def test_sigkill_mid_job_then_the_same_command_resumes_and_loses_nothing(tmp_path):
    args = ["-m", *SMALL, "prep=none,std,minmax", "trainer.epochs=20", "study=resume"]
    sweep = start(*args, store=tmp_path)
    try:
        # Job 1 finishes; job 2 is killed once its run exists and it is training.
        wait_for(sweep, "job 1/3: prep=none net=shallow seed=0: test_accuracy", "job 2/3: prep=std", "epoch 1/20")
        os.killpg(sweep.pid, signal.SIGKILL)
    finally:
        sweep.wait(timeout=60)
        sweep.stdout.close()
    assert sweep.returncode == -signal.SIGKILL
    before = {r.data.params["prep"]: r.info.status for r in jobs(tmp_path, "resume")}
    assert before == {"none": "FINISHED", "std": "RUNNING"}  # as the killed process left them

    again = prepbench(*args, store=tmp_path)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "marked 1 run(s) left RUNNING by an interrupted sweep as KILLED" in again.stdout
    assert "job 1/3: prep=none net=shallow seed=0: skipped, already FINISHED" in again.stdout
    assert "job 2/3: prep=std net=shallow seed=0: test_accuracy" in again.stdout
    assert "job 3/3: prep=minmax net=shallow seed=0: test_accuracy" in again.stdout

    children = jobs(tmp_path, "resume")
    finished = [r for r in children if r.info.status == "FINISHED"]
    assert sorted(r.data.params["prep"] for r in finished) == ["minmax", "none", "std"]  # exactly one per job
    assert len({r.data.tags["prepbench.config_hash"] for r in finished}) == 3
    killed = [r for r in children if r.info.status != "FINISHED"]
    assert [(r.data.params["prep"], r.info.status) for r in killed] == [("std", "KILLED")]
    assert killed[0].data.tags["prepbench.failure_reason"].startswith("interrupted")
    parents = [r for r in runs(tmp_path, "resume") if r.data.tags.get("prepbench.role") == "sweep"]
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"  # the resumed sweep reopened its parent
    assert {r.data.tags["mlflow.parentRunId"] for r in children} == {parents[0].info.run_id}


@pytest.mark.slow
@pytest.mark.parametrize(
    "sig, multirun", [(signal.SIGINT, True), (signal.SIGTERM, False)], ids=["ctrl-c-sweep", "sigterm-run"]
)
def test_an_interrupt_ends_the_current_run_killed(tmp_path, sig, multirun):
    proc = start(*(["-m"] if multirun else []), *SMALL, "prep=none", "trainer.epochs=500", "study=stop", store=tmp_path)
    try:
        wait_for(proc, "epoch 1/500")
        os.killpg(proc.pid, sig)  # Ctrl-C signals the whole foreground process group
        out = proc.stdout.read()
    finally:
        proc.wait(timeout=60)
        proc.stdout.close()
    assert proc.returncode == 130, out[-3000:]
    assert "Traceback" not in out
    assert "interrupted: the current run is marked KILLED" in out
    (job,) = jobs(tmp_path, "stop")
    assert job.info.status == "KILLED"
    assert job.data.tags["prepbench.failure_reason"].startswith("KeyboardInterrupt")
    parents = [r for r in runs(tmp_path, "stop") if r.data.tags.get("prepbench.role") == "sweep"]
    assert [p.info.status for p in parents] == (["KILLED"] if multirun else [])


# ---- a job that raises, in process, with the training replaced by the failure -------------------


class _Failing:
    """Stands in for prepbench.train.fit: the job gets as far as training, which raises `error`."""

    def __init__(self, error: BaseException):
        self.error = error

    def configure_tensorflow(self, **kwargs):
        pass

    def make_inputs(self, *args, **kwargs):
        def deep_inside():
            raise self.error

        deep_inside()


def compose(*overrides: str):
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        return hydra_compose("config", overrides=list(overrides))


@pytest.mark.parametrize(
    "error, reason",
    [
        (
            FloatingPointError("non-finite training loss nan at epoch 1, batch 3"),
            "FloatingPointError: non-finite training loss",
        ),
        (MemoryError("OOM when allocating tensor with shape[4096,4096,64]"), "MemoryError: OOM when allocating"),
        (ZeroDivisionError("division by zero"), "ZeroDivisionError: division by zero"),
    ],
    ids=["non-finite-loss", "out-of-memory", "bug"],
)
def test_a_job_that_raises_ends_failed_with_reason_and_traceback(tmp_path, monkeypatch, error, reason):
    from mlflow.tracking import MlflowClient

    import prepbench.train
    from prepbench.study.job import run_job

    monkeypatch.setenv("PREPBENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv(tracking.PARENT_RUN_ENV, raising=False)
    fake = _Failing(error)
    monkeypatch.setitem(sys.modules, "prepbench.train.fit", fake)
    monkeypatch.setattr(prepbench.train, "fit", fake, raising=False)
    cfg = compose(
        *SMALL,
        "study=raises",
        f"tracking.uri=sqlite:///{tmp_path}/mlflow.db",
        f"tracking.artifact_location={tmp_path}/art",
    )

    assert run_job(cfg, ["prep=none"]) == "failed"

    (run,) = jobs(tmp_path, "raises")
    assert run.info.status == "FAILED"
    assert run.data.tags["prepbench.failure_reason"].startswith(reason)
    client = MlflowClient(str(cfg.tracking.uri))
    trace = open(client.download_artifacts(run.info.run_id, "traceback.txt", str(tmp_path))).read()
    assert trace.startswith("Traceback") and "deep_inside" in trace and reason.split(":")[0] in trace
    # The same job again trains again (nothing FINISHED to skip) and fails the same way.
    assert run_job(cfg, ["prep=none"]) == "failed"
    assert [r.info.status for r in jobs(tmp_path, "raises")] == ["FAILED", "FAILED"]


def test_an_error_raised_while_an_interrupt_is_pending_ends_the_run_killed_and_stops(tmp_path, monkeypatch):
    """Ctrl-C inside C code that TensorFlow calls back into surfaced as `SystemError: bad argument to
    internal function` (the residual pilot's sitting 12): the run ended FAILED and the sweep went on."""
    import prepbench.train
    from prepbench.study import interrupts
    from prepbench.study.job import run_job

    monkeypatch.setenv("PREPBENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv(tracking.PARENT_RUN_ENV, raising=False)
    fake = _Failing(SystemError("Objects/listobject.c:338: bad argument to internal function"))
    monkeypatch.setitem(sys.modules, "prepbench.train.fit", fake)
    monkeypatch.setattr(prepbench.train, "fit", fake, raising=False)
    monkeypatch.setattr(interrupts, "_requested", True)
    cfg = compose(*SMALL, "study=interrupted", f"tracking.uri=sqlite:///{tmp_path}/mlflow.db")

    with pytest.raises(KeyboardInterrupt):
        run_job(cfg, ["prep=none"])
    (run,) = jobs(tmp_path, "interrupted")
    assert run.info.status == "KILLED"
    assert run.data.tags["prepbench.failure_reason"].startswith("SystemError: Objects/listobject.c")


@pytest.mark.slow
def test_same_config_and_seed_with_deterministic_true_gives_identical_metrics(tmp_path):
    from mlflow.tracking import MlflowClient

    args = [*SMALL, "prep=zca", "trainer.epochs=3", "trainer.deterministic=true", "seed=3", "study=det"]
    stores = [tmp_path / "a", tmp_path / "b"]
    procs = [  # two separate processes, at once
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "prepbench",
                *args,
                f"tracking.uri=sqlite:///{s}/mlflow.db",
                f"tracking.artifact_location={s}/art",
                f"hydra.run.dir={s}/run",
            ],
            cwd=ROOT,
            env=dict(os.environ, PREPBENCH_CACHE=str(tmp_path / "cache")),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for s in stores
    ]
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err[-3000:]
    histories = []
    for store in stores:
        (run,) = jobs(store, "det")
        client = MlflowClient(f"sqlite:///{store}/mlflow.db")
        assert run.info.status == "FINISHED"
        histories.append(
            {
                key: [
                    (m.step, m.value)
                    for m in sorted(client.get_metric_history(run.info.run_id, key), key=lambda m: m.step)
                ]
                for key in ("train_loss", "val_loss", "val_accuracy", "test_accuracy", "test_loss")
            }
        )
    assert len(histories[0]["train_loss"]) == 3
    assert histories[0] == histories[1]
