import pytest
from omegaconf import OmegaConf

from prepbench import tracking
from prepbench.errors import PrepbenchError


def cfg(**overrides):
    base = dict(
        study="s", seed=0, rerun=False, cache_dir="/c",
        prep=dict(name="zca", normalization="zca"), net=dict(name="deep", depth=8),
        trainer=dict(epochs=2, threads=0), tracking=dict(uri="sqlite:///x.db", experiment="s"),
    )
    return OmegaConf.merge(OmegaConf.create(base), OmegaConf.create(overrides))


def test_flatten_gives_dotted_keys_and_null():
    flat = tracking.flatten(cfg(data=dict(train_size=None)))
    assert flat["prep.normalization"] == "zca" and flat["trainer.epochs"] == "2"
    assert flat["data.train_size"] == "null"


def test_config_hash_is_the_jobs_identity_and_nothing_else():
    base = tracking.config_hash(cfg())
    assert tracking.config_hash(cfg()) == base
    for same in (dict(rerun=True), dict(study="other"), dict(cache_dir="/elsewhere"),
                 dict(tracking=dict(uri="http://h:5000")), dict(trainer=dict(threads=4))):
        assert tracking.config_hash(cfg(**same)) == base, same
    for different in (dict(seed=1), dict(prep=dict(name="std")), dict(trainer=dict(epochs=3)), dict(net=dict(depth=4)),
                      dict(trainer=dict(precision="bfloat16")), dict(trainer=dict(schedule="cosine"))):
        assert tracking.config_hash(cfg(**different)) != base, different


def test_run_names_and_commands_read_well():
    assert tracking.run_name(cfg()) == "zca · deep · seed 0"
    assert tracking.command_for(["prep=zca", "seed=1"]) == "python -m prepbench prep=zca seed=1"
    assert tracking.command_for(["prep=zca"], multirun=True) == "python -m prepbench -m prep=zca"


def test_retry_waits_out_a_locked_database_and_reraises_anything_else(monkeypatch):
    monkeypatch.setattr(tracking.time, "sleep", lambda seconds: None)
    calls = []

    def flaky():
        calls.append(1)
        if len(calls) < 3:
            raise RuntimeError("(sqlite3.OperationalError) database is locked")
        return "ok"

    assert tracking.retry(flaky) == "ok" and len(calls) == 3
    with pytest.raises(ValueError):
        tracking.retry(lambda: (_ for _ in ()).throw(ValueError("bad")))


def test_unknown_tracking_scheme_is_one_line_naming_the_uri():
    with pytest.raises(PrepbenchError, match=r"tracking.uri=ftp://x/y has unknown scheme 'ftp'; expected one of sqlite"):
        tracking.client_for(OmegaConf.create(dict(uri="ftp://x/y", experiment="e")))
