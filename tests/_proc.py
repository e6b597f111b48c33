"""Real `python -m prepbench` processes against a temporary MLflow store (for the fault, launcher,
server and bad-input tests)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from prepbench import ROOT

TINY = ["data=synthetic", "trainer.epochs=1", "net.width=4", "net.dense=8"]


def argv(*args: str, store: Path, tracking: bool = True) -> list[str]:
    where = [f"tracking.uri=sqlite:///{store}/mlflow.db", f"tracking.artifact_location={store}/art"] if tracking else []
    return [
        sys.executable,
        "-m",
        "prepbench",
        *args,
        *where,
        f"hydra.sweep.dir={store}/sweep",
        f"hydra.run.dir={store}/run",
    ]


def env(store: Path, **extra: str) -> dict[str, str]:
    out = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}
    return {**out, "PREPBENCH_CACHE": str(store / "cache"), "PYTHONUNBUFFERED": "1", **extra}


def prepbench(*args: str, store: Path, tracking: bool = True, timeout: float = 300, **extra: str):
    return subprocess.run(
        argv(*args, store=store, tracking=tracking),
        cwd=ROOT,
        env=env(store, **extra),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def start(*args: str, store: Path) -> subprocess.Popen:
    """A sweep in the background, its stdout readable line by line (stderr merged)."""
    return subprocess.Popen(
        argv(*args, store=store),
        cwd=ROOT,
        env=env(store),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
        start_new_session=True,
    )


def wait_for(proc: subprocess.Popen, *needles: str, timeout: float = 240) -> list[str]:
    """Read proc's output until a line holds every needle in turn (one needle per line, in order)."""
    import selectors
    import time

    seen, todo, deadline = [], list(needles), time.monotonic() + timeout
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    while todo:
        if time.monotonic() > deadline or not sel.select(timeout=max(0.0, deadline - time.monotonic())):
            raise TimeoutError(f"no line with {todo[0]!r} in:\n" + "".join(seen[-40:]))
        line = proc.stdout.readline()
        if not line:
            raise EOFError(f"the process ended (status {proc.wait()}) before {todo[0]!r}:\n" + "".join(seen[-40:]))
        seen.append(line)
        if todo[0] in line:
            todo.pop(0)
    return seen


def runs(store: Path, experiment: str):
    """The experiment's runs as MlflowClient Run objects (all statuses)."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{store}/mlflow.db")
    exp = client.get_experiment_by_name(experiment)
    return [] if exp is None else client.search_runs([exp.experiment_id], max_results=1000)


def jobs(store: Path, experiment: str):
    return [r for r in runs(store, experiment) if r.data.tags.get("prepbench.role") == "job"]


def error_lines(stderr: str) -> list[str]:
    """stderr without TensorFlow's C++ start-up chatter (which appears once a job trains)."""
    noise = ("I0000 ", "E0000 ", "W0000 ", "WARNING: All log messages before absl")
    return [line for line in stderr.splitlines() if line.strip() and not line.startswith(noise)]
