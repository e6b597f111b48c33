from omegaconf import OmegaConf

from prepbench.track import identity
from tests._cfg import cfg


def test_flatten_gives_dotted_keys_and_null():
    flat = identity.flatten(cfg(data=dict(train_size=None)))
    assert flat["prep.normalization"] == "zca" and flat["trainer.epochs"] == "2"
    assert flat["data.train_size"] == "null"


def test_config_hash_is_the_jobs_identity_and_nothing_else():
    base = identity.config_hash(cfg())
    assert identity.config_hash(cfg()) == base
    for same in (
        dict(rerun=True),
        dict(study="other"),
        dict(cache_dir="/elsewhere"),
        dict(tracking=dict(uri="http://h:5000")),
        dict(trainer=dict(threads=4)),
        dict(trainer=dict(steps_per_execution=1)),
    ):
        assert identity.config_hash(cfg(**same)) == base, same
    for different in (
        dict(seed=1),
        dict(prep=dict(name="std")),
        dict(trainer=dict(epochs=3)),
        dict(net=dict(depth=4)),
        dict(trainer=dict(precision="bfloat16")),
        dict(trainer=dict(schedule="cosine")),
    ):
        assert identity.config_hash(cfg(**different)) != base, different


def test_settings_added_later_stay_out_of_the_hash_at_the_value_older_runs_ran_with():
    from prepbench.config import compose

    for option in ("zca", "none"):
        cfg = compose([f"prep={option}", "net=deep"])
        flat = identity.flatten(cfg)
        for key, value in identity.LATE_SETTINGS.items():
            if key in flat:
                assert flat[key] == value, f"conf/ changed the default of {key}: {flat[key]} != {value}"
        without = OmegaConf.masked_copy(cfg, list(cfg.keys()))
        for key in identity.LATE_SETTINGS:
            group, name = key.split(".")
            if name in without[group]:
                del without[group][name]
        assert identity.config_hash(cfg) == identity.config_hash(without)
    cfg = compose(["prep=zca", "prep.zca_shrinkage=0.1"])
    assert identity.config_hash(cfg) != identity.config_hash(compose(["prep=zca"]))
