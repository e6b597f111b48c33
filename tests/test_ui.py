"""`python -m prepbench.ui`: which store a study has, the dashboard's URLs and view, and a store
committed in one folder served from another (a fresh clone) with its artifacts."""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request

import pytest
from mlflow.tracking import MlflowClient

from prepbench import ROOT
from prepbench.track import ui


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_store(folder, experiment="s"):
    """A store as a sweep leaves it: the experiment's artifacts under <folder>/mlartifacts/<experiment>,
    one FINISHED job run with an artifact."""
    client = MlflowClient(f"sqlite:///{folder}/mlflow.db")
    exp_id = client.create_experiment(experiment, artifact_location=f"file://{folder}/mlartifacts/{experiment}")
    run = client.create_run(exp_id, run_name="zca · deep · seed 0", tags={"prepbench.role": "job"})
    client.log_param(run.info.run_id, "prep", "zca")
    client.log_text(run.info.run_id, "prep: zca\n", "config.yaml")
    client.set_terminated(run.info.run_id, "FINISHED")
    return client, exp_id, run.info.run_id


def test_urls_open_the_training_runs_with_prepbenchs_view_and_the_comparison():
    table = ui.runs_table_url("7", "http://127.0.0.1:5001")
    assert (
        table == "http://127.0.0.1:5001/#/experiments/7/runs?viewStateShareKey=prepbench&workflowType=machine_learning"
    )
    compare = ui.compare_url("7", ["a1", "b2"])
    assert compare.startswith(ui.DEFAULT_BASE_URL + "/#/compare-runs?")
    query = urllib.parse.parse_qs(compare.split("?", 1)[1])
    assert json.loads(query["runs"][0]) == ["a1", "b2"] and json.loads(query["experiments"][0]) == ["7"]


def test_the_view_shows_the_jobs_columns_grouped_by_prep_and_net():
    state = ui.runs_view_state()
    assert state["selectedColumns"] == [
        "params.`prep`",
        "params.`net`",
        "params.`seed`",
        "metrics.`test_accuracy`",
        "metrics.`val_accuracy`",
    ]
    assert [k["groupByData"] for k in state["groupBy"]["groupByKeys"]] == ["prep", "net"]
    assert state["searchFilter"] == (
        "tags.`prepbench.role` = 'job' and attributes.status = 'FINISHED' and tags.`prepbench.superseded_by` IS NULL"
    )


def test_the_view_groups_by_what_tells_cells_apart_besides_prep_and_net():
    def run(prep, seed, **extra):
        return {
            "prep": prep,
            "net": "deep",
            "seed": str(seed),
            "prep.name": prep,
            "data.path": "/m/x.zip",
            "device": f"gpu {seed}",
            **extra,
        }

    plain = [run("none", s) for s in range(3)] + [run("zca", s, **{"prep.zca_epsilon": "1e-06"}) for s in range(3)]
    assert ui.group_keys(plain) == []  # seeds and where a job ran do not split a cell
    assert ui.group_keys([{**r, "trainer.steps_per_execution": str(s)} for s, r in enumerate(plain)]) == []
    # other data is another cell, as in the config hash and the report's contexts
    assert ui.group_keys(plain + [{**plain[0], "data.path": "/other.zip"}]) == ["data.path"]
    regularised = [run("zca", s, **{"prep.zca_epsilon": "0.1"}) for s in range(3)]  # prep=zca_reg logs prep zca
    ladder = [run("none", s, **{"data.train_size": "2500"}) for s in range(3)]
    mixed = plain + regularised + ladder + [{**r, "data.train_size": "10000"} for r in plain]
    assert ui.group_keys(mixed) == ["data.train_size", "prep.zca_epsilon"]
    state = ui.runs_view_state(ui.group_keys(mixed))
    assert [k["groupByData"] for k in state["groupBy"]["groupByKeys"]] == [
        "prep",
        "net",
        "data.train_size",
        "prep.zca_epsilon",
    ]


def test_the_view_is_stored_once_in_the_experiment(tmp_path):
    client, exp_id, _ = make_store(tmp_path)
    ui.add_runs_view(client, exp_id)
    stored = client.get_experiment(exp_id).tags[ui.VIEW_TAG]
    envelope = json.loads(stored)
    assert envelope["name"] == ui.VIEW_NAME and json.loads(envelope["state"]) == ui.runs_view_state()
    ui.add_runs_view(client, exp_id)  # the same view: left as it is (a committed store stays unchanged)
    assert client.get_experiment(exp_id).tags[ui.VIEW_TAG] == stored
    urls = ui.dashboard_urls(client, "s", "http://h:1")
    assert urls["jobs"] == "1" and urls["runs"] == ui.runs_table_url(exp_id, "http://h:1")
    assert ui.dashboard_urls(client, "absent") is None


def test_a_study_with_its_own_store_and_the_default_one():
    assert ui.study_tracking_uri("cpu") == f"sqlite:///{ROOT}/results/cpu/mlflow.db"
    assert ui.study_tracking_uri(None) == ui.study_tracking_uri("adhoc") == f"sqlite:///{ROOT}/results/mlflow.db"
    assert ui.study_tracking_uri("cpu", ["tracking.uri=sqlite:////x.db"]) == "sqlite:////x.db"


def test_missing_artifact_paths_are_pointed_beside_the_store(tmp_path):
    here = tmp_path / "clone" / "results" / "cpu"
    (here / "mlartifacts" / "cpu" / "r1").mkdir(parents=True)
    gone = "file:///work/main/results/cpu/mlartifacts/cpu/r1/artifacts"
    assert ui.relocated(gone, here) == (here / "mlartifacts" / "cpu" / "r1" / "artifacts").as_uri()
    assert ui.relocated("/work/main/results/cpu/mlartifacts/cpu", here) == str(here / "mlartifacts" / "cpu")
    assert ui.relocated(here.as_uri(), here) is None  # exists: left alone
    not_written = here / "mlartifacts" / "cpu" / "r2" / "artifacts"  # a run without artifacts, not moved
    assert ui.relocated(not_written.as_uri(), here) is None
    assert ui.relocated("file:///nowhere/mlartifacts/other/r", here) is None  # nothing beside the store
    assert ui.relocated("file:///nowhere/elsewhere/r", here) is None
    assert ui.relocated("s3://bucket/mlartifacts/cpu", here) is None


def moved_store(tmp_path):
    """A store written in one folder, then moved (as git moves it to a fresh clone)."""
    made, moved = tmp_path / "made" / "results" / "s", tmp_path / "clone" / "results" / "s"
    made.mkdir(parents=True)
    client, exp_id, run_id = make_store(made)
    moved.parent.mkdir(parents=True)
    shutil.move(made, moved)
    return moved / "mlflow.db", exp_id, run_id


def test_a_moved_store_is_served_from_a_copy_with_its_artifacts_and_left_unchanged(tmp_path):
    db, exp_id, run_id = moved_store(tmp_path)
    before = hashlib.sha256(db.read_bytes()).hexdigest()
    moves = ui.relocations(db)
    assert set(moves["experiments"]) == {exp_id} and set(moves["runs"]) == {run_id}
    work = tmp_path / "work"
    work.mkdir()
    copy = ui.servable_copy(db, moves, work)
    client = MlflowClient(f"sqlite:///{copy}")
    assert client.get_experiment(exp_id).artifact_location == (db.parent / "mlartifacts" / "s").as_uri()
    assert [a.path for a in client.list_artifacts(run_id)] == ["config.yaml"]
    assert hashlib.sha256(db.read_bytes()).hexdigest() == before
    assert ui.relocations(copy) == {"experiments": {}, "runs": {}}  # nothing left to move


def run_ui(*args, timeout=60):
    return subprocess.run(
        [sys.executable, "-m", "prepbench.ui", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
    )


def test_no_store_or_a_busy_port_is_one_line_and_status_2(tmp_path):
    out = run_ui("cpu", f"tracking.uri=sqlite:///{tmp_path}/none.db")
    assert out.returncode == 2
    assert out.stderr.strip() == (
        f"error: no MLflow store at {tmp_path}/none.db; expected one made by `python -m prepbench -m experiment=cpu`"
    )
    make_store(tmp_path)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        out = run_ui("s", f"tracking.uri=sqlite:///{tmp_path}/mlflow.db", "--port", str(port))
    assert out.returncode == 2
    assert (
        out.stderr.strip()
        == f"error: port {port} on 127.0.0.1 is in use; expected a free port (--port N, or make ui PORT=N)"
    )


def test_a_relative_store_path_reaches_the_server_absolute(tmp_path, monkeypatch):
    """The server runs in the store's folder: `tracking.uri=sqlite:///results/x/mlflow.db`, as the
    report prints it, must not open (and create) results/x/results/x/mlflow.db there."""
    make_store(tmp_path / "results" / "x")
    monkeypatch.chdir(tmp_path)
    args = argparse.Namespace(study="s", host="127.0.0.1", port=free_port())
    db = ui._checked_store("sqlite:///results/x/mlflow.db", args)
    assert db == tmp_path / "results" / "x" / "mlflow.db" and db.is_absolute()


@pytest.mark.slow
def test_make_ui_on_a_moved_store_prints_the_urls_and_serves_its_artifacts(tmp_path):
    db, exp_id, run_id = moved_store(tmp_path)
    before = hashlib.sha256(db.read_bytes()).hexdigest()
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "prepbench.ui", "s", f"tracking.uri=sqlite:///{db}", "--port", str(port)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
    )
    lines = []
    try:
        deadline = time.monotonic() + 240
        while not any("compare-runs" in line for line in lines):
            line = proc.stdout.readline()
            assert line and time.monotonic() < deadline, "".join(lines)
            lines.append(line)
        assert f"http://127.0.0.1:{port}/#/experiments/{exp_id}/runs?viewStateShareKey=prepbench" in "".join(lines)
        assert "serving a copy" in "".join(lines)
        base = f"http://127.0.0.1:{port}"
        artifact = urllib.request.urlopen(f"{base}/get-artifact?path=config.yaml&run_uuid={run_id}", timeout=30).read()
        assert artifact == b"prep: zca\n"
    finally:
        os.killpg(proc.pid, signal.SIGTERM)  # as `timeout` or kill would: the server stops with it
        proc.wait(timeout=60)
        proc.stdout.close()
    out = subprocess.run(["pgrep", "-f", f"--port {port}"], capture_output=True, text=True)
    assert out.stdout == "", "mlflow server left running"
    assert hashlib.sha256(db.read_bytes()).hexdigest() == before  # the committed store is not changed
