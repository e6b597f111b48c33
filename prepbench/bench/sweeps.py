"""The sweep-level figures: the fixed cost of a job, the cost of re-running an all-FINISHED sweep,
and the cost of trainer.deterministic. They run whole jobs (in this process through job.run_job,
or as fresh `python -m prepbench` processes) against a temporary MLflow store."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from prepbench import ROOT
from prepbench.bench.ratios import median, ratio, seconds


def sweep_figures(workdir: Path, cpu_overrides: list[str], repeats: int = 2) -> dict:
    """Fixed cost per job (a 1-epoch job vs a 2-epoch job of the cpu study's budget, in this
    process, through job.run_job) and the wall time of re-running an all-FINISHED sweep."""
    uri = f"sqlite:///{workdir / 'mlflow.db'}"
    out: dict = {"uri": uri}
    # The store and its artifacts in workdir: experiment=cpu would put artifacts in results/ otherwise.
    in_workdir = [*cpu_overrides, f"tracking.uri={uri}", f"tracking.artifact_location={workdir / 'mlartifacts'}"]
    out["fixed_cost"], out["cpu_epochs"] = fixed_cost(in_workdir, repeats)
    out["rerun"] = rerun_cost(workdir, uri)
    out["determinism"] = determinism_cost(workdir, in_workdir)
    return out


def fixed_cost(cpu_overrides: list[str], repeats: int = 2) -> tuple[dict, int]:
    """(jobs' seconds by "prep/epochs" and the fixed and per-epoch seconds by prep, the cpu study's
    epochs): fixed = 2 x t(1 epoch) - t(2 epochs), medians over `repeats` alternated runs."""
    from prepbench.config import compose
    from prepbench.data.cache import JobCache
    from prepbench.study.job import run_job

    cache = JobCache()  # the jobs share it as a sweep's jobs do in one process (prepbench.__main__)

    def job(prep: str, epochs: int) -> float:
        overrides = [
            *cpu_overrides,
            f"prep={prep}",
            "net=shallow",
            f"trainer.epochs={epochs}",
            "study=bench-fixed-cost",
            "rerun=true",
        ]
        cfg = compose(overrides)
        return seconds(lambda: run_job(cfg, overrides, cache=cache))[0]

    jobs: dict = {}
    job("none", 1)  # warm-up, not counted: imports, the MLflow store's creation, the data cache
    for _ in range(repeats):
        for prep in ("none", "zca"):
            for epochs in (1, 2):
                jobs.setdefault(f"{prep}/{epochs}", {"runs": []})["runs"].append(job(prep, epochs))
    for value in jobs.values():
        value["seconds"] = median(value["runs"])
    cpu_epochs = int(compose(["experiment=cpu"]).trainer.epochs)
    for prep in ("none", "zca"):
        one, two = jobs[f"{prep}/1"]["seconds"], jobs[f"{prep}/2"]["seconds"]
        fixed, per_epoch = 2 * one - two, two - one
        jobs[prep] = {
            "per_epoch_seconds": per_epoch,
            "fixed_seconds": fixed,
            "share_of_cpu_job": ratio(fixed, fixed + cpu_epochs * per_epoch),
        }
    return jobs, cpu_epochs


def rerun_cost(workdir: Path, uri: str) -> dict:
    """The smoke sweep run twice in fresh processes: the second run skips every job."""
    command = [
        sys.executable,
        "-m",
        "prepbench",
        "-m",
        "experiment=smoke",
        f"tracking.uri={uri}",
        f"hydra.sweep.dir={workdir / 'sweeps'}",
    ]
    env = dict(os.environ, PYTHONUNBUFFERED="1")

    def run(argv):
        return subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True)

    startup = seconds(lambda: run([sys.executable, "-m", "prepbench", "--help"]))[0]
    first, r1 = seconds(lambda: run(command))
    second, r2 = seconds(lambda: run(command))
    return {
        "command": " ".join(["python -m prepbench", *command[3:]]),
        "jobs": 6,
        "first_seconds": first,
        "second_seconds": second,
        "startup_seconds": startup,
        "per_skipped_job_seconds": (second - startup) / 6,
        "estimated_48_job_seconds": startup + 48 * (second - startup) / 6,
        "second_skipped": r2.stdout.count("skipped, already FINISHED"),
        "returncodes": [r1.returncode, r2.returncode],
    }


def determinism_cost(workdir: Path, cpu_overrides: list[str], repeats: int = 2) -> dict:
    """Training speed with trainer.deterministic=true over false: the same deep-net job in fresh
    processes (op determinism cannot be switched off inside one), alternated to share the noise."""
    import mlflow

    speeds: dict[str, list[float]] = {"true": [], "false": []}
    for _ in range(repeats):
        for flag in ("false", "true"):
            study = f"bench-determinism-{flag}"
            command = [
                sys.executable,
                "-m",
                "prepbench",
                *cpu_overrides,
                "net=deep",
                "trainer.epochs=1",
                f"trainer.deterministic={flag}",
                f"study={study}",
                "rerun=true",
                f"hydra.run.dir={workdir / 'runs'}",
            ]
            subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=True)
            mlflow.set_tracking_uri(f"sqlite:///{workdir / 'mlflow.db'}")
            latest = mlflow.search_runs(
                experiment_names=[study], order_by=["attributes.start_time DESC"], max_results=1
            )
            speeds[flag].append(float(latest["metrics.train_images_per_second"].iloc[0]))
    return {
        "images_per_second": speeds,
        "deterministic_vs_default": ratio(median(speeds["true"]), median(speeds["false"])),
    }
