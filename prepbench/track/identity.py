"""A job's identity: its config as dotted keys, and the hash of the settings that change its result.

Two runs with one config hash computed the same thing: resume skips a job whose hash has a FINISHED
run, and a newer FINISHED run of a hash supersedes the older ones.
"""

from __future__ import annotations

from omegaconf import DictConfig, OmegaConf

from prepbench.data.cache import digest
from prepbench.train.version import CODE_VERSION

# Keys that do not change what a job computes: left out of its identity (the config hash).
# steps_per_execution changes how fast, not what: the same history to the bit (tests/test_train.py).
NOT_IN_HASH = (
    "tracking",
    "rerun",
    "allow_dirty",
    "whole_seeds",
    "cache_dir",
    "study",
    "trainer.threads",
    "trainer.steps_per_execution",
    "trainer.validation_every_steps",
)
# Params that do not tell one cell of a study (variant x level x seed) from another, besides the
# seed: what is not in a job's identity, and `device` (where a job ran, logged beside the config).
# The report's contexts and the dashboard's groups both leave them out.
NOT_IN_CELL = ("seed", "data.cache_dir", "device", *NOT_IN_HASH)
# Settings added after studies were stored, with the value that computes what runs did before they
# existed (the conf/ default; tests/test_tracking.py checks that the two agree). At that value a
# setting stays out of the config hash, so a stored study's runs keep their identity and resume
# skips them; and a run logged without it reads as having it (the report's cells).
LATE_SETTINGS = {
    "prep.gcn": "null",
    "prep.zca_shrinkage": "0.0",
    "prep.zca_retain": "null",
    "prep.zca_fit_images": "null",
    "trainer.optimizer": "adam",
    "trainer.momentum": "0.9",
    "trainer.nesterov": "False",
    "trainer.weight_decay": "0.0",
    "trainer.steps": "null",
    "trainer.warmup_steps": "null",
    "net.dropout": "0.0",
    "net.input_dropout": "0.0",
    "augmentation.crop_padding": "4",
    "net.family": "plain",
}


def flatten(cfg: DictConfig, resolve: bool = True) -> dict[str, str]:
    """The resolved config as dotted keys, for MLflow params and the config hash (unresolved, for a
    config file alone, whose interpolations may point at settings of others: `depth${net.depth}`)."""
    out: dict[str, str] = {}

    def walk(node, prefix):
        if isinstance(node, dict):
            for key, value in node.items():
                walk(value, f"{prefix}{key}.")
        else:
            out[prefix[:-1]] = "null" if node is None else str(node)

    walk(OmegaConf.to_container(cfg, resolve=resolve), "")
    return out


def config_hash(cfg: DictConfig) -> str:
    """A job's identity: every setting that changes its result, and nothing else."""
    items = {
        k: v
        for k, v in flatten(cfg).items()
        if not any(k == x or k.startswith(x + ".") for x in NOT_IN_HASH) and LATE_SETTINGS.get(k) != v
    }
    if CODE_VERSION > 1:  # version 1 is the code every stored run ran: their identities stay as they were
        items["code_version"] = str(CODE_VERSION)
    return digest(sorted(items.items()))
