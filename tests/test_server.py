"""A shared tracking server: `mlflow server` on 127.0.0.1 (what `make ui` starts), a sweep logging
to it over http, and an unreachable tracking URI failing fast with one line, before any training."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from prepbench import ROOT
from tests._proc import TINY, error_lines, prepbench


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """`mlflow server` bound to 127.0.0.1 on a free port, started for these tests and stopped after."""
    root = tmp_path_factory.mktemp("server")
    port = free_port()
    log = open(root / "server.log", "w")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mlflow",
            "server",
            "--backend-store-uri",
            f"sqlite:///{root}/mlflow.db",
            "--artifacts-destination",
            str(root / "artifacts"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
        ],
        cwd=root,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    uri = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        try:
            urllib.request.urlopen(f"{uri}/health", timeout=2).read()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                os.killpg(proc.pid, signal.SIGKILL)
                pytest.fail("mlflow server did not start:\n" + (root / "server.log").read_text()[-3000:])
            time.sleep(0.5)
    yield uri
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    log.close()


@pytest.mark.slow
def test_a_sweep_logs_to_the_tracking_server(server, tmp_path):
    from mlflow.tracking import MlflowClient

    out = prepbench(
        "-m", *TINY, "prep=none,std", "study=served", f"tracking.uri={server}", store=tmp_path, tracking=False
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert "2 job(s) finished, 0 failed" in out.stdout
    client = MlflowClient(server)
    exp = client.get_experiment_by_name("served")
    found = client.search_runs([exp.experiment_id])
    children = [r for r in found if r.data.tags.get("prepbench.role") == "job"]
    parents = [r for r in found if r.data.tags.get("prepbench.role") == "sweep"]
    assert len(parents) == 1 and len(children) == 2
    assert {r.info.status for r in found} == {"FINISHED"}
    assert all("test_accuracy" in r.data.metrics for r in children)
    names = {a.path for a in client.list_artifacts(children[0].info.run_id)}
    assert {"config.yaml", "training_images.png"} <= names  # uploaded through the server
    assert not (tmp_path / "mlflow.db").exists()  # nothing went to the embedded store


@pytest.mark.parametrize("multirun", [False, True], ids=["run", "sweep"])
def test_an_unreachable_tracking_uri_fails_within_15_s_with_one_line(tmp_path, multirun):
    uri = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    started = time.monotonic()
    out = prepbench(
        *(["-m"] if multirun else []), *TINY, f"tracking.uri={uri}", store=tmp_path, tracking=False, timeout=60
    )
    took = time.monotonic() - started
    assert out.returncode == 2
    assert took < 15, took
    assert error_lines(out.stderr) == [
        f"error: tracking.uri={uri} is unreachable ([Errno 111] Connection refused); expected a running `mlflow server`"
    ]
    assert "epoch" not in out.stdout and "job 1/" not in out.stdout  # before any training


def test_make_ui_serves_the_studys_store_on_localhost_only():
    text = (ROOT / "Makefile").read_text()
    ui = text[text.index("\nui:") :]
    assert "-m prepbench.ui $(STUDY)" in ui and "--host 127.0.0.1" in ui
