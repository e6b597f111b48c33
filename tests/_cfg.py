"""A small job config, as Hydra would compose it, for tests of tracking, identity and names."""

from omegaconf import OmegaConf


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
