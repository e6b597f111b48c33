import pytest
from omegaconf import OmegaConf

from prepbench.errors import PrepbenchError
from prepbench.track import tracking
from tests._cfg import cfg


def test_unknown_tracking_scheme_is_one_line_naming_the_uri():
    with pytest.raises(
        PrepbenchError, match=r"tracking.uri=ftp://x/y has unknown scheme 'ftp'; expected one of sqlite"
    ):
        tracking.client_for(OmegaConf.create(dict(uri="ftp://x/y", experiment="e")))


def test_experiments_are_tagged_as_model_training_once(tmp_path):

    tracking_cfg = OmegaConf.create(
        dict(uri=f"sqlite:///{tmp_path}/mlflow.db", experiment="e", artifact_location=str(tmp_path / "a"))
    )
    client = tracking.client_for(tracking_cfg)
    exp_id = tracking.experiment_id(client, tracking_cfg)
    assert client.get_experiment(exp_id).tags["mlflow.experimentKind"] == "custom_model_development"
    # an experiment made before (untagged) is tagged when opened; one with a kind keeps it
    old = client.create_experiment("old")
    other = client.create_experiment("other", tags={"mlflow.experimentKind": "genai_development"})
    for name in ("old", "other"):
        tracking.experiment_id(client, OmegaConf.merge(tracking_cfg, dict(experiment=name)))
    assert client.get_experiment(old).tags["mlflow.experimentKind"] == "custom_model_development"
    assert client.get_experiment(other).tags["mlflow.experimentKind"] == "genai_development"


def test_a_store_moved_to_another_folder_writes_new_artifacts_beside_itself(tmp_path):
    """A committed store opened from a clone: its experiment still names the folder it was created
    in; the next job's run writes its artifacts beside the store it is in now."""
    here = tmp_path / "clone" / "results"
    cfg = OmegaConf.create(
        dict(uri=f"sqlite:///{here}/mlflow.db", experiment="e", artifact_location=str(here / "mlartifacts" / "e"))
    )
    here.mkdir(parents=True)
    client = tracking.client_for(cfg)
    created_elsewhere = client.create_experiment(
        "e", artifact_location=(tmp_path / "origin" / "mlartifacts" / "e").as_uri()
    )
    assert tracking.experiment_id(client, cfg) == created_elsewhere
    run = client.create_run(created_elsewhere)
    client.log_text(run.info.run_id, "x", "note.txt")
    assert (here / "mlartifacts" / "e" / run.info.run_id / "artifacts" / "note.txt").read_text() == "x"
    assert not (tmp_path / "origin").exists()
    # a store already in place, or one whose artifacts live on a server, is left as it is
    remote = client.create_experiment("remote", artifact_location="s3://bucket/e")
    tracking.experiment_id(client, OmegaConf.merge(cfg, dict(experiment="remote")))
    assert client.get_experiment(remote).artifact_location == "s3://bucket/e"


def test_a_study_store_takes_runs_of_committed_code_only(code_repo):
    study = cfg(tracking=dict(uri=f"sqlite:///{code_repo}/results/study/mlflow.db"))
    tracking.check_committed_code(study)  # clean
    (code_repo / "train.py").write_text("code, changed")
    with pytest.raises(
        PrepbenchError, match=r"results/study/mlflow\.db .*uncommitted changes \(train\.py\).*allow_dirty=true"
    ):
        tracking.check_committed_code(study)
    tracking.check_committed_code(OmegaConf.merge(study, dict(allow_dirty=True)))
    tracking.check_committed_code(
        cfg(tracking=dict(uri=f"sqlite:///{code_repo}/results/mlflow.db"))
    )  # the default store


def test_a_study_store_refuses_a_new_module_no_commit_holds(code_repo):
    study = cfg(tracking=dict(uri=f"sqlite:///{code_repo}/results/study/mlflow.db"))
    (code_repo / "prepbench").mkdir()
    (code_repo / "prepbench" / "variant.py").write_text("new code")
    with pytest.raises(PrepbenchError, match=r"uncommitted changes \(prepbench/variant\.py\)"):
        tracking.check_committed_code(study)


def test_a_run_of_uncommitted_code_keeps_the_diff(code_repo, tmp_path_factory):
    from mlflow.tracking import MlflowClient

    store = tmp_path_factory.mktemp("store")
    client = MlflowClient(f"sqlite:///{store}/mlflow.db")
    exp_id = client.create_experiment("e", artifact_location=f"file://{store}/artifacts")
    clean = client.create_run(exp_id).info.run_id
    tracking.log_dirty_diff(client, clean)
    (code_repo / "train.py").write_text("code, changed")
    from prepbench.track import provenance

    provenance.git_commit.cache_clear()
    dirty = client.create_run(exp_id).info.run_id
    tracking.log_dirty_diff(client, dirty)
    assert "prepbench.dirty" not in client.get_run(clean).data.tags
    assert client.get_run(dirty).data.tags["prepbench.dirty"] == "true"
    diff = client.download_artifacts(dirty, tracking.DIRTY_DIFF, str(tmp_path_factory.mktemp("a")))
    assert "+code, changed" in open(diff).read()


def _client(tmp_path):
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{tmp_path}/mlflow.db")
    return client, client.create_experiment("e", artifact_location=f"file://{tmp_path}/artifacts")


def test_a_newer_finished_run_of_a_config_supersedes_the_older_in_every_view(tmp_path):
    from prepbench.track.ui import CURRENT_JOBS

    client, exp = _client(tmp_path)

    def job(config_hash, status="FINISHED"):
        run_id = client.create_run(
            exp, tags={"prepbench.role": "job", "prepbench.config_hash": config_hash}
        ).info.run_id
        client.set_terminated(run_id, status=status)
        return run_id

    first, other, second, failed = job("a"), job("b"), job("a"), job("a", status="FAILED")
    assert tracking.mark_superseded(client, exp) == 1
    assert client.get_run(first).data.tags[tracking.SUPERSEDED_TAG] == second
    assert {r.info.run_id for r in client.search_runs([exp], CURRENT_JOBS)} == {other, second}
    third = job("a")
    assert tracking.mark_superseded(client, exp, config_hash="a") == 2  # both older runs now name the newest
    assert {r.info.run_id for r in client.search_runs([exp], CURRENT_JOBS)} == {other, third}
    assert tracking.mark_superseded(client, exp) == 0 and failed


def test_a_rerun_sweep_is_its_own_parent_and_a_resumed_one_reopens_its_parent(tmp_path):
    client, exp = _client(tmp_path)
    first = tracking.open_parent_run(client, exp, "s", ["prep=none"], lease_seconds=30)
    client.set_terminated(first, status="KILLED")
    assert tracking.open_parent_run(client, exp, "s", ["prep=none"], lease_seconds=30) == first  # resumed
    client.set_terminated(first, status="FINISHED")
    rerun = tracking.open_parent_run(client, exp, "s", ["prep=none"], lease_seconds=30, rerun=True)
    client.set_terminated(rerun, status="FINISHED")
    again = tracking.open_parent_run(client, exp, "s", ["prep=none"], lease_seconds=30, rerun=True)
    assert len({first, rerun, again}) == 3


def test_two_sweeps_of_one_command_started_in_the_same_second_have_distinct_parents(tmp_path, monkeypatch):
    client, exp = _client(tmp_path)
    monkeypatch.setattr(tracking.time, "time", lambda: 1_700_000_000.0)  # both start at one instant
    first = tracking.open_parent_run(client, exp, "s", ["prep=none"], lease_seconds=30)
    second = tracking.open_parent_run(client, exp, "s", ["prep=none"], lease_seconds=30)  # first still running
    assert first != second
    names = [client.get_run(run_id).info.run_name for run_id in (first, second)]
    assert names[0] != names[1]
    assert all(f" · {run_id[:8]} · prep none" in name for run_id, name in zip((first, second), names))
