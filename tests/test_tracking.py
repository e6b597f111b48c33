import pytest
from omegaconf import OmegaConf

from prepbench.errors import PrepbenchError
from prepbench.track import tracking


def cfg(**overrides):
    base = dict(
        study="s",
        seed=0,
        rerun=False,
        cache_dir="/c",
        prep=dict(name="zca", normalization="zca"),
        net=dict(name="deep", depth=8),
        trainer=dict(epochs=2, threads=0),
        tracking=dict(uri="sqlite:///x.db", experiment="s"),
    )
    return OmegaConf.merge(OmegaConf.create(base), OmegaConf.create(overrides))


def test_flatten_gives_dotted_keys_and_null():
    flat = tracking.flatten(cfg(data=dict(train_size=None)))
    assert flat["prep.normalization"] == "zca" and flat["trainer.epochs"] == "2"
    assert flat["data.train_size"] == "null"


def test_config_hash_is_the_jobs_identity_and_nothing_else():
    base = tracking.config_hash(cfg())
    assert tracking.config_hash(cfg()) == base
    for same in (
        dict(rerun=True),
        dict(study="other"),
        dict(cache_dir="/elsewhere"),
        dict(tracking=dict(uri="http://h:5000")),
        dict(trainer=dict(threads=4)),
        dict(trainer=dict(steps_per_execution=1)),
    ):
        assert tracking.config_hash(cfg(**same)) == base, same
    for different in (
        dict(seed=1),
        dict(prep=dict(name="std")),
        dict(trainer=dict(epochs=3)),
        dict(net=dict(depth=4)),
        dict(trainer=dict(precision="bfloat16")),
        dict(trainer=dict(schedule="cosine")),
    ):
        assert tracking.config_hash(cfg(**different)) != base, different


def test_run_names_and_commands_read_well():
    assert tracking.run_name(cfg()) == "zca · deep · seed 0"
    assert tracking.run_name(cfg(), ["prep=zca", "net=deep", "seed=0"]) == "zca · deep · seed 0"
    assert tracking.command_for(["prep=zca", "seed=1"]) == "python -m prepbench prep=zca seed=1"
    assert tracking.command_for(["prep=zca"], multirun=True) == "python -m prepbench -m prep=zca"


def test_unknown_tracking_scheme_is_one_line_naming_the_uri():
    with pytest.raises(
        PrepbenchError, match=r"tracking.uri=ftp://x/y has unknown scheme 'ftp'; expected one of sqlite"
    ):
        tracking.client_for(OmegaConf.create(dict(uri="ftp://x/y", experiment="e")))


def test_run_names_name_what_the_command_line_changes():
    job = [
        "prep=zca",
        "net=deep",
        "seed=0",
        "trainer.lr=0.01",
        "tracking.uri=sqlite:///x.db",
        "study=s",
        "rerun=true",
        "hydra/launcher=parallel",
        "experiment=cpu",
        "data=folder",
        "data.path=/far/away/cifar10-jpeg.zip",
    ]
    cpu = cfg(tracking=dict(uri="sqlite:///x.db", experiment="cpu"))  # experiment=cpu logs into `cpu`
    assert tracking.run_name(cpu, job) == "zca · deep · seed 0 · lr 0.01 · data folder · path cifar10-jpeg.zip"
    # an lr sweep: the jobs differ by name, not only by config
    names = {tracking.run_name(cfg(), ["prep=zca", f"trainer.lr={lr}"]) for lr in ("0.1", "0.01")}
    assert names == {"zca · deep · seed 0 · lr 0.1", "zca · deep · seed 0 · lr 0.01"}
    # a net whose shape the command line changed is named by its depth and width, not its preset
    deep50 = cfg(net=dict(name="shallow", depth=50, width=32, dense=128))
    assert tracking.run_name(deep50, ["net.depth=50"]) == "zca · depth 50, width 32 · seed 0"
    assert tracking.run_name(deep50, ["net.dense=128"]) == "zca · depth 50, width 32, dense 128 · seed 0"
    # a preset of another variant's class (zca_reg: prep.name zca, ε 0.1) keeps its own name
    assert tracking.run_name(cfg(), ["prep=zca_reg", "seed=0"]) == "zca_reg · deep · seed 0"
    assert tracking.run_name(cfg(), ["prep=zca", "prep.zca_epsilon=0.1"]) == "zca · deep · seed 0 · zca_epsilon 0.1"
    # two keys with the same last part keep their whole key
    assert tracking.other_settings(["data.size=8", "+prep.size=2"]) == ["data.size 8", "prep.size 2"]
    assert tracking.other_settings(["net.width=4", "seed=1"], net_shape=True) == ["width 4"]  # the terminal's job line


def test_a_ladder_logged_into_another_studys_experiment_is_named_by_its_own_settings():
    """converged-scarce logs into `converged`: its 2,500-image cells and the study's 10,000-image
    ones must not share names in that runs table."""
    from prepbench.config import compose

    ladder = ["experiment=converged-scarce", "prep=augment", "net=deep", "seed=3", "data=folder", "data.path=/d/x.zip"]
    assert tracking.run_name(compose(ladder, checked=False), ladder) == (
        "augment · deep · seed 3 · train_size 2500 · data folder · path x.zip"
    )
    main = ["experiment=converged", "prep=augment", "net=deep", "seed=3", "data=folder", "data.path=/d/x.zip"]
    assert tracking.run_name(compose(main, checked=False), main) == "augment · deep · seed 3 · data folder · path x.zip"
    # a size the command line sets is named once, where the command line puts it
    smaller = [*ladder[:4], "data.train_size=1000"]
    assert tracking.run_name(compose(smaller, checked=False), smaller) == "augment · deep · seed 3 · train_size 1000"
    # an experiment file whose settings interpolate others (net.name: depth${net.depth}); equal steps
    depth = ["experiment=converged-depth", "prep=std", "net.depth=3", "seed=0"]
    assert tracking.run_name(compose(depth, checked=False), depth) == "std · depth 3, width 32 · seed 0"
    steps = ["experiment=converged-scarce-steps", "prep=none", "net=deep", "seed=0", "data.train_size=1250"]
    assert tracking.run_name(compose(steps, checked=False), steps) == (
        "none · deep · seed 0 · steps 2370 · warmup_steps 79 · train_size 1250"
    )


def test_sweep_names_give_the_study_the_time_and_the_command_line_in_short():
    when = 1_700_000_000.0
    stamp = tracking.time.strftime("%Y-%m-%d %H:%M", tracking.time.localtime(when))
    assert tracking.sweep_name("cpu", [], when) == f"cpu · {stamp}"
    assert tracking.sweep_name("adhoc", ["prep=zca,std", "trainer.lr=0.1,0.01", "tracking.uri=x"], when) == (
        f"adhoc · {stamp} · prep zca,std · lr 0.1,0.01"
    )


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


def test_settings_added_later_stay_out_of_the_hash_at_the_value_older_runs_ran_with():
    from prepbench.config import compose

    for option in ("zca", "none"):
        cfg = compose([f"prep={option}", "net=deep"])
        flat = tracking.flatten(cfg)
        for key, value in tracking.LATE_SETTINGS.items():
            if key in flat:
                assert flat[key] == value, f"conf/ changed the default of {key}: {flat[key]} != {value}"
        without = OmegaConf.masked_copy(cfg, list(cfg.keys()))
        for key in tracking.LATE_SETTINGS:
            group, name = key.split(".")
            if name in without[group]:
                del without[group][name]
        assert tracking.config_hash(cfg) == tracking.config_hash(without)
    cfg = compose(["prep=zca", "prep.zca_shrinkage=0.1"])
    assert tracking.config_hash(cfg) != tracking.config_hash(compose(["prep=zca"]))


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
