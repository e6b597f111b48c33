"""prepbench.track.retries: MLflow calls retried when a parallel writer got in the way, and stop signals
held until a store call returns."""

import os
import signal
import time

import pytest

from prepbench.track.retries import retry


def test_a_stop_signal_during_a_store_call_takes_effect_when_the_call_returns():
    """Ctrl-C or SIGTERM inside an MLflow call would leave SQLAlchemy's connection mid-transaction
    (SQLite stays locked against the job's next write): the signal waits for the call to return."""
    events = []

    class Stopped(Exception):
        pass

    def stop(signum, frame):
        events.append("handler")
        raise Stopped

    def store_call():
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.05)  # the signal has arrived: Python runs handlers between bytecodes
        events.append("call completed")
        return "value"

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        with pytest.raises(Stopped):
            retry(store_call)
        assert events == ["call completed", "handler"]
        assert signal.getsignal(signal.SIGTERM) is stop  # the handler in place is back
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_a_second_stop_signal_stops_a_store_call_at_once():
    events = []

    def hanging_store_call():
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.05)
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.05)
        events.append("call completed")

    previous = signal.signal(signal.SIGTERM, lambda signum, frame: events.append("handler"))
    try:
        with pytest.raises(KeyboardInterrupt, match="twice"):
            retry(hanging_store_call)
        assert events == []  # stopped inside the call; the handler in place is not run again
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_retry_waits_out_a_locked_database_and_reraises_anything_else(monkeypatch):
    monkeypatch.setattr(time, "sleep", lambda seconds: None)
    calls = []

    def flaky():
        calls.append(1)
        if len(calls) < 3:
            raise RuntimeError("(sqlite3.OperationalError) database is locked")
        return "ok"

    assert retry(flaky) == "ok" and len(calls) == 3
    with pytest.raises(ValueError):
        retry(lambda: (_ for _ in ()).throw(ValueError("bad")))


def test_retry_waits_out_two_sweeps_setting_one_experiment_tag_at_once(tmp_path, monkeypatch):
    """MLflow's SQL store reads, then inserts: the slower of two writers of one new tag breaks the
    unique key (seen on an mlflow server in tests/test_claims.py); once the row exists, the same
    call is an update."""
    from mlflow.tracking import MlflowClient

    monkeypatch.setattr(time, "sleep", lambda seconds: None)
    client = MlflowClient(f"sqlite:///{tmp_path}/mlflow.db")
    exp_id = client.create_experiment("e")
    raced = []

    def set_tag(*args):
        if not raced:  # the other sweep's insert lands first
            raced.append(1)
            client.set_experiment_tag(exp_id, "k", "theirs")
            raise RuntimeError(
                "RestException: BAD_REQUEST: (sqlite3.IntegrityError) UNIQUE constraint failed: "
                "experiment_tags.key, experiment_tags.experiment_id"
            )
        return client.set_experiment_tag(*args)

    retry(set_tag, exp_id, "k", "ours")
    assert client.get_experiment(exp_id).tags["k"] == "ours"
    with pytest.raises(RuntimeError, match="UNIQUE constraint failed: runs"):
        retry(lambda: (_ for _ in ()).throw(RuntimeError("UNIQUE constraint failed: runs.run_uuid")))
