"""Claims and leases (prepbench.track.claims) on a real SQLite store, in one process: what is live and what
is stale, the bakery under many interleavings, the heartbeat, and a sweep reopening its parent."""

from __future__ import annotations

import os
import random
import re
import signal
import socket
import subprocess
import threading
import time

import pytest

from prepbench import ROOT
from prepbench.track import claims, retries
from tests._proc import TINY, argv, env, start, wait_for
from tests.test_server import server  # noqa: F401 (the `mlflow server` fixture)

HASH = "h" * 16


@pytest.fixture
def store(tmp_path):
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{tmp_path}/mlflow.db"
    from prepbench.track.store import prepare_sqlite

    prepare_sqlite(uri)
    client = MlflowClient(uri)
    exp_id = client.create_experiment("claims", artifact_location=f"file://{tmp_path}/art")
    return client, exp_id


def job_run(client, exp_id, *, tags=None, lease: float | None = 60, owner: str | None = None, config_hash=HASH):
    base = {"prepbench.role": "job", "prepbench.config_hash": config_hash}
    if lease is not None:
        base[claims.LEASE_TAG] = f"{time.time() + lease:.3f}"
        base[claims.OWNER_TAG] = owner or claims.owner()
    return client.create_run(exp_id, run_name="j", tags={**base, **(tags or {})}).info.run_id


def dead_owner() -> str:
    proc = subprocess.Popen(["true"])
    proc.wait()
    host, boot, _, _ = claims.owner().split("/")
    return f"{host}/{boot}/{proc.pid}/1"


def test_what_is_live_and_what_is_stale(store):
    client, exp = store
    cases = {
        "live": job_run(client, exp),
        "expired": job_run(client, exp, lease=-5),
        "no-lease": job_run(client, exp, lease=None),
        "process-gone": job_run(client, exp, owner=dead_owner()),
        "other-host-live": job_run(client, exp, owner="elsewhere/boot/1/1"),
        "other-host-expired": job_run(client, exp, lease=-1, owner="elsewhere/boot/1/1"),
        "finished": job_run(client, exp),
    }
    client.set_terminated(cases["finished"], status="FINISHED")
    verdicts = {name: claims.state(client.get_run(run_id)) for name, run_id in cases.items()}
    assert {name for name, v in verdicts.items() if v.live} == {"live", "other-host-live"}
    assert re.fullmatch(r"its lease expired [5-9] s ago", verdicts["expired"].why)
    assert "has ended" in verdicts["process-gone"].why and "older prepbench" in verdicts["no-lease"].why

    marked = {run.info.run_id for run, _ in claims.mark_stale(client, exp)}
    assert marked == {cases[n] for n in ("expired", "no-lease", "process-gone", "other-host-expired")}
    for name in ("live", "other-host-live"):  # untouched: still RUNNING, no reason written
        run = client.get_run(cases[name])
        assert run.info.status == "RUNNING" and claims.REASON_TAG not in run.data.tags
    run = client.get_run(cases["expired"])
    assert run.info.status == "KILLED" and run.data.tags[claims.REASON_TAG].startswith("interrupted: found RUNNING")


def test_the_owner_of_this_process_is_alive_and_a_reused_pid_is_not_the_owner():
    me = claims.owner()
    host, boot, pid, start = me.split("/")
    assert host == socket.gethostname() and not claims.owner_gone(me)
    with subprocess.Popen(["sleep", "30"]) as proc:
        alive = f"{host}/{boot}/{proc.pid}/{claims._process_start(proc.pid)}"
        assert not claims.owner_gone(alive)
        assert claims.owner_gone(f"{host}/{boot}/{proc.pid}/12345")  # same pid, another process
        proc.kill()
        time.sleep(0.5)  # ended, not yet reaped (a zombie): gone already
        assert claims.owner_gone(alive)
    assert claims.owner_gone(alive)


def test_a_claim_made_after_another_loses_to_it_and_a_finished_run_beats_both(store):
    client, exp = store
    first = job_run(client, exp)
    assert claims.contest(client, exp, first, HASH, lease_seconds=5, rerun=False) is None
    second = job_run(client, exp)
    lost = claims.contest(client, exp, second, HASH, lease_seconds=5, rerun=False)
    assert lost is not None and lost.run_id == first and not lost.finished
    claims.withdraw(client, second, lost)
    assert [r.info.run_id for r in claims.live_claims(client, exp, HASH)] == [first]  # the loser is gone
    client.set_terminated(first, status="FINISHED")
    third = job_run(client, exp)
    lost = claims.contest(client, exp, third, HASH, lease_seconds=5, rerun=False)
    assert lost.finished and lost.run_id == first and "FINISHED meanwhile" in lost.message()
    assert claims.contest(client, exp, third, HASH, lease_seconds=5, rerun=True) is None  # rerun=true trains again


def test_claims_made_at_once_elect_exactly_one_under_any_interleaving(store, monkeypatch):
    """4 claimants at once, 15 rounds, every store call delayed at random (0-30 ms): one winner each
    round. (A check-then-create, or 'oldest start time wins', elects two in some rounds.)"""
    client, exp = store
    real_retry = retries.retry

    def slow_retry(call, *args, **kwargs):
        time.sleep(random.uniform(0, 0.03))
        return real_retry(call, *args, **kwargs)

    monkeypatch.setattr(retries, "retry", slow_retry)
    monkeypatch.setattr(claims, "POLL_SECONDS", 0.01)
    random.seed(1)
    for round_ in range(15):
        config_hash = f"round{round_:02d}".ljust(16, "x")
        results, barrier = {}, threading.Barrier(4)

        def claimant(i):
            barrier.wait()
            time.sleep(random.uniform(0, 0.05))
            run_id = slow_retry(job_run, client, exp, config_hash=config_hash)
            results[i] = claims.contest(client, exp, run_id, config_hash, lease_seconds=30, rerun=False)

        threads = [threading.Thread(target=claimant, args=(i,)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert len(results) == 4
        assert sum(lost is None for lost in results.values()) == 1, (round_, results)


def test_the_heartbeat_renews_the_lease_until_stopped(store):
    client, exp = store
    # Leases of seconds, not tenths: on a loaded machine a SQLite write can take longer than 0.4 s.
    run_id = job_run(client, exp, lease=1.5)
    lease = lambda: float(client.get_run(run_id).data.tags[claims.LEASE_TAG])  # noqa: E731
    with claims.Heartbeat(client, run_id, 1.5):
        time.sleep(3.75)
        assert claims.state(client.get_run(run_id)).live  # 2.5 leases later, still live
        renewed = lease()
        assert renewed > time.time()
    time.sleep(2.25)
    assert lease() == pytest.approx(renewed, abs=0.75)  # stopped: no more renewals
    assert not claims.state(client.get_run(run_id)).live


def parent(client, exp, key, *, lease=60, owner=None, status="RUNNING"):
    tags = {"prepbench.role": "sweep", "prepbench.sweep_key": key}
    if lease is not None:
        tags.update({claims.LEASE_TAG: f"{time.time() + lease:.3f}", claims.OWNER_TAG: owner or claims.owner()})
    run_id = client.create_run(exp, run_name="sweep", tags=tags).info.run_id
    if status != "RUNNING":
        client.set_terminated(run_id, status=status)
    return run_id


def test_a_resumed_sweep_reopens_its_parent_unless_a_live_sweep_of_the_same_command_holds_it(store):
    client, exp = store
    old = parent(client, exp, "k1", status="FINISHED")
    new = parent(client, exp, "k1")
    assert claims.settle_parent(client, exp, new, "k1", lease_seconds=30) == old  # reopened
    assert client.get_run(old).info.status == "RUNNING" and client.get_run(new).info.lifecycle_stage == "deleted"
    assert client.get_run(new).info.status == "KILLED"  # the superseded parent is not left RUNNING
    # The same command again while that sweep runs: a parent of its own, the live one untouched.
    other = parent(client, exp, "k1")
    assert claims.settle_parent(client, exp, other, "k1", lease_seconds=30) == other
    assert client.get_run(old).data.tags[claims.OWNER_TAG] == claims.owner()
    # A parent left RUNNING by a killed sweep (its process gone) is free again.
    killed = parent(client, exp, "k2", owner=dead_owner())
    fresh = parent(client, exp, "k2")
    assert claims.settle_parent(client, exp, fresh, "k2", lease_seconds=30) == killed


def test_two_sweeps_resuming_at_once_reopen_the_old_parent_once(store):
    client, exp = store
    for round_ in range(5):
        key = f"race{round_}"
        old = parent(client, exp, key, status="FINISHED")
        chosen, barrier = [], threading.Barrier(2)

        def sweep():
            new = parent(client, exp, key)
            barrier.wait()
            chosen.append(claims.settle_parent(client, exp, new, key, lease_seconds=30))

        threads = [threading.Thread(target=sweep) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert chosen.count(old) == 1 and len(set(chosen)) == 2, chosen


# ---- sweeps that meet, in real processes ---------------------------------------------------------

ROUNDS = 2  # the first on a new store, the next ones on the store the earlier rounds left
FOUR = [*TINY, "prep=none,std,minmax,samplewise"]


def two_at_once(*args: str, store, uri: str | None = None) -> list[subprocess.CompletedProcess]:
    """The same sweep twice, started together (each its own Hydra folder); both run to the end."""
    where = [f"tracking.uri={uri}"] if uri else []
    procs = []
    for name in ("a", "b"):
        cmd = [
            c.replace(f"{store}/sweep", f"{store}/sweep-{name}")
            for c in argv("-m", *args, *where, store=store, tracking=uri is None)
        ]
        procs.append(
            subprocess.Popen(cmd, cwd=ROOT, env=env(store), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        )
    outs = []
    for proc in procs:
        out, err = proc.communicate(timeout=600)
        outs.append(subprocess.CompletedProcess(proc.args, proc.returncode, out, err))
    return outs


def store_runs(client, experiment):
    exp = client.get_experiment_by_name(experiment)
    return client.search_runs([exp.experiment_id], max_results=1000)


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite", "server"])
def test_two_identical_sweeps_at_once_train_every_job_exactly_once(tmp_path, backend, request):
    """2 processes x 4 jobs, ROUNDS times (a new store, then the existing one): both exit 0, one
    FINISHED run per job and no other job run, two parent runs per round, both FINISHED, and the
    two summaries add up to the 4 jobs with nothing failed."""
    from mlflow.tracking import MlflowClient

    uri = request.getfixturevalue("server") if backend == "server" else f"sqlite:///{tmp_path}/mlflow.db"
    client = MlflowClient(uri)
    study = f"meet-{backend}-{tmp_path.name}"[:60]
    for round_ in range(ROUNDS):
        outs = two_at_once(
            *FOUR, f"seed={round_}", f"study={study}", store=tmp_path, uri=uri if backend == "server" else None
        )
        for out in outs:
            assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-3000:]
            assert "Traceback" not in out.stderr and "Callback" not in out.stderr, out.stderr[-3000:]
        everything = store_runs(client, study)
        jobs_now = [
            r
            for r in everything
            if r.data.tags.get("prepbench.role") == "job" and r.data.params.get("seed") == str(round_)
        ]
        assert sorted(r.data.params["prep"] for r in jobs_now) == ["minmax", "none", "samplewise", "std"], [
            (r.data.params.get("prep"), r.info.status) for r in jobs_now
        ]
        assert {r.info.status for r in jobs_now} == {"FINISHED"}
        parents = {r.info.run_id: r for r in everything if r.data.tags.get("prepbench.role") == "sweep"}
        summaries = []
        for out in outs:
            (line,) = [x for x in out.stdout.splitlines() if x.startswith("sweep ") and "job(s) finished" in x]
            summaries.append(line)
            parent_id = [x for x in out.stdout.splitlines() if "MLflow parent run" in x][0].split()[-1]
            assert parents[parent_id].info.status == "FINISHED"
            assert ", 0 failed, 0 rejected as bad input" in line, line
            trained = [r for r in jobs_now if r.data.tags["mlflow.parentRunId"] == parent_id]
            assert line.split(": ", 1)[1].startswith(f"{len(trained)} job(s) finished"), (line, len(trained))
        assert len({x.split()[-1] for out in outs for x in out.stdout.splitlines() if "MLflow parent run" in x}) == 2
        assert sum(int(s.split(": ", 1)[1].split()[0]) for s in summaries) == 4, summaries


@pytest.mark.slow
def test_a_sweep_started_while_another_trains_touches_no_live_run(tmp_path):
    from mlflow.tracking import MlflowClient

    """Sweep A trains one long job with a 1 s lease (renewed every 0.25 s); sweep B, the same
    command, starts seconds later: B skips the job, saying so, exits 0, and A's job and parent runs
    are exactly as A left them. Then A is stopped with Ctrl-C and its job ends KILLED by A itself."""
    args = ["-m", *TINY, "prep=none", "trainer.epochs=400", "tracking.lease_seconds=1", "study=live"]
    a = start(*args, store=tmp_path)
    try:
        wait_for(a, "MLflow parent run", "epoch 2/400")
        time.sleep(3)  # several leases: only the heartbeat keeps A's claim live now
        client = MlflowClient(f"sqlite:///{tmp_path}/mlflow.db")
        before = {r.info.run_id: r for r in store_runs(client, "live")}
        b = subprocess.run(
            argv(*args, store=tmp_path), cwd=ROOT, env=env(tmp_path), capture_output=True, text=True, timeout=300
        )
        assert b.returncode == 0, b.stderr[-3000:]
        assert "job 1/1: prep=none net=shallow seed=0: skipped, another sweep is training it as run" in b.stdout
        assert "0 job(s) finished, 0 failed, 0 rejected as bad input, 1 left to another sweep" in b.stdout
        assert "marked" not in b.stdout
        after = {r.info.run_id: r for r in store_runs(client, "live")}
        for run_id, run in before.items():  # A's runs: still RUNNING, nothing written by B
            now = after[run_id]
            assert now.info.status == "RUNNING" and claims.REASON_TAG not in now.data.tags
            assert now.data.tags[claims.OWNER_TAG] == run.data.tags[claims.OWNER_TAG]
            assert float(now.data.tags[claims.LEASE_TAG]) > time.time()
        new = [r for r in after.values() if r.info.run_id not in before]
        assert [r.data.tags["prepbench.role"] for r in new] == ["sweep"]  # B's own parent, no job run
    finally:
        os.killpg(a.pid, signal.SIGINT)
        a.wait(timeout=120)
        a.stdout.close()
    assert a.returncode == 130
    (job,) = [r for r in store_runs(client, "live") if r.data.tags.get("prepbench.role") == "job"]
    assert job.info.status == "KILLED" and job.data.tags[claims.REASON_TAG].startswith("KeyboardInterrupt")
