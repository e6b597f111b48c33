"""The config exactly as users compose it (lightning-hydra-template's habit): every option of every
group, every experiment, and the range checks."""

from pathlib import Path

import pytest
import yaml
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import OmegaConf

from prepbench import ROOT
from prepbench.config import validate
from prepbench.errors import PrepbenchError

CONF = ROOT / "conf"
GROUPS = {
    group: sorted(p.stem for p in (CONF / group).glob("*.yaml"))
    for group in ("data", "prep", "net", "trainer", "tracking")
}
EXPERIMENTS = sorted(p.stem for p in (ROOT / "experiments").glob("*.yaml"))


def composed(*overrides, return_hydra_config=False):
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose("config", overrides=list(overrides), return_hydra_config=return_hydra_config)


@pytest.mark.parametrize("group,option", [(g, o) for g, options in GROUPS.items() for o in options])
def test_every_group_option_composes_and_validates(group, option):
    extra = ["data.path=/somewhere.zip"] if (group, option) == ("data", "folder") else []
    cfg = composed(f"{group}={option}", *extra)
    OmegaConf.resolve(cfg)
    validate(cfg)


def test_the_user_interface_keys_exist():
    cfg = composed("data=folder", "data.path=x.zip")
    for key in (
        "data.path",
        "data.train_size",
        "data.val_size",
        "data.test_size",
        "trainer.epochs",
        "trainer.batch_size",
        "trainer.lr",
        "tracking.uri",
        "tracking.experiment",
        "seed",
    ):
        assert OmegaConf.select(cfg, key, default="<absent>") != "<absent>", key


def test_featurewise_selects_std():
    assert composed("prep=featurewise").prep == composed("prep=std").prep


def test_experiment_name_follows_the_study_and_paths_are_absolute():
    cfg = composed("experiment=smoke")
    assert cfg.tracking.experiment == "smoke"
    assert cfg.tracking.uri == f"sqlite:///{ROOT}/results/mlflow.db"
    # a published study keeps its own store beside its results, committed for a fresh clone
    cfg = composed("experiment=cpu")
    assert cfg.tracking.experiment == "cpu"
    assert cfg.tracking.uri == f"sqlite:///{ROOT}/results/cpu/mlflow.db"
    assert cfg.tracking.artifact_location == f"{ROOT}/results/cpu/mlartifacts/cpu"


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_every_experiment_composes_with_its_sweep(experiment):
    cfg = composed(f"experiment={experiment}", return_hydra_config=True)
    OmegaConf.resolve(cfg)
    validate(cfg)
    params = cfg.hydra.sweeper.params
    assert "seed" in params and ("prep" in params)
    # a study of its own, or a part of one that shares its store and experiment (converged-scarce)
    assert cfg.study == experiment or experiment.startswith(f"{cfg.study}-")


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_a_study_with_a_committed_store_pins_its_precision(experiment):
    # `auto` resolves from the machine, and the resolved value is in the config hash: on a machine
    # unlike the one that stored the study, the same command would train every job again.
    cfg = composed(f"experiment={experiment}")
    store = Path(cfg.tracking.uri.removeprefix("sqlite:///"))
    if store.is_relative_to(ROOT / "results") and store.exists():
        assert cfg.trainer.precision != "auto"
        sweep = composed(f"experiment={experiment}", return_hydra_config=True).hydra.sweeper.params
        assert sweep.get("trainer.precision", "float32") != "auto"


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_an_experiment_file_lists_its_sweep_in_the_order_hydra_runs_it(experiment):
    # Keys a file inherits keep their place in the merged sweep and its own new keys go last, whatever
    # order the file writes them in: a file that wrote `net` first to run one net's ladder first ran
    # seed-major all the same.
    own = yaml.safe_load((ROOT / "experiments" / f"{experiment}.yaml").read_text()) or {}
    listed = list(((own.get("hydra") or {}).get("sweeper") or {}).get("params") or {})
    ran = list(composed(f"experiment={experiment}", return_hydra_config=True).hydra.sweeper.params)
    assert listed in ([], ran), f"experiments/{experiment}.yaml lists {listed}; Hydra sweeps {ran}"


def test_the_smoke_study_is_synthetic_and_the_cpu_study_covers_every_variant_and_both_nets():
    assert composed("experiment=smoke").data.source == "synthetic"
    params = composed("experiment=cpu", return_hydra_config=True).hydra.sweeper.params
    assert set(params.prep.split(",")) == {"none", "raw", "minmax", "samplewise", "std", "zca", "augment", "batchnorm"}
    assert set(params.net.split(",")) == {"shallow", "deep"} and len(params.seed.split(",")) >= 3


def test_deep_is_really_deeper():
    assert composed("net=shallow").net.depth <= 2 and composed("net=deep").net.depth >= 8


@pytest.mark.parametrize(
    "override,message",
    [
        ("trainer.epochs=0", "trainer.epochs=0 is out of range; expected an integer >= 1"),
        ("trainer.batch_size=-1", "trainer.batch_size=-1 is out of range; expected an integer >= 1"),
        ("trainer.lr=0", "trainer.lr=0 is out of range; expected a positive finite number"),
        ("net.depth=0", "net.depth=0 is out of range"),
        ("data.train_size=0", "data.train_size=0 is out of range; expected null or an integer >= 1"),
        ("augmentation.shift_fraction=1.5", "augmentation.shift_fraction=1.5 is out of range"),
    ],
)
def test_out_of_range_values_name_key_value_and_what_is_allowed(override, message):
    with pytest.raises(PrepbenchError, match=message.replace("(", r"\(")):
        validate(composed(override))


def test_zca_epsilon_must_be_positive():
    with pytest.raises(PrepbenchError, match=r"prep.zca_epsilon=-1.0 is out of range; expected a positive number"):
        validate(composed("prep=zca", "prep.zca_epsilon=-1.0"))


def test_the_crop_policy_is_a_variant_and_composes_with_normalizations_and_batch_norm():
    assert (composed("prep=crop").prep.augment, composed("prep=crop").augmentation.crop_padding) == ("crop", 4)
    for overrides in (("prep=crop", "prep.batchnorm=true"), ("prep=std", "prep.augment=crop")):
        validate(composed(*overrides))
    with pytest.raises(PrepbenchError, match=r"prep.augment=rotate is invalid; expected true \(the memo's"):
        validate(composed("prep.augment=rotate"))
    with pytest.raises(PrepbenchError, match=r"augmentation.crop_padding=-1 is out of range"):
        validate(composed("prep=crop", "augmentation.crop_padding=-1"))


def test_batchnorm_momentum_is_in_range_and_only_on_the_batchnorm_variant():
    assert composed("prep=batchnorm").prep.batchnorm_momentum == 0.9
    assert "batchnorm_momentum" not in composed("prep=none").prep
    with pytest.raises(PrepbenchError, match=r"prep.batchnorm_momentum=1.5 is out of range"):
        validate(composed("prep=batchnorm", "prep.batchnorm_momentum=1.5"))


def test_compose_is_the_config_a_job_sees_with_overrides():
    from prepbench.config import compose

    cfg = compose(["net=deep", "data.train_size=100"])
    assert cfg == composed("net=deep", "data.train_size=100")
    assert cfg.net.depth == 8 and cfg.data.train_size == 100 and "hydra" not in cfg


def test_compose_inside_an_initialised_hydra_uses_it():
    from prepbench.config import compose

    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        assert compose(["prep=zca"]).prep.zca_epsilon == 1e-6


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["prep=zxa"], "prep=zxa is unknown; expected one of augment, batchnorm, crop, featurewise, minmax, none"),
        (["trainer.beta=0.9"], "Could not override 'trainer.beta'"),
        (["trainer.epochs=0"], "trainer.epochs=0 is out of range; expected an integer >= 1"),
    ],
)
def test_compose_refuses_bad_overrides_with_one_line(overrides, message):
    from prepbench.config import compose

    with pytest.raises(PrepbenchError) as err:
        compose(overrides)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_compose_unchecked_lets_a_tool_see_any_value():
    from prepbench.config import compose

    assert compose(["trainer.epochs=0"], checked=False).trainer.epochs == 0


def test_compose_can_return_the_hydra_node_for_tools_that_read_the_sweep():
    from prepbench.config import compose

    cfg = compose(["experiment=cpu"], checked=False, return_hydra_config=True)
    assert "prep" in cfg.hydra.sweeper.params and cfg.study == "cpu"


@pytest.mark.parametrize(
    "path",
    ["/data/café (2)/x.zip", "/d/it's,a=b.zip", "/d/ends with\\", "/d/back\\'quote", "C:\\dir\\f.zip", '/d/"q"'],
)
def test_quote_makes_any_path_one_value_of_an_override(path):
    from prepbench.config import compose, quote

    assert compose(["data=folder", f"data.path={quote(path)}"], checked=False).data.path == path


def test_each_rule_is_checked_alone():
    from prepbench.config import check

    check("data.image_size", 8)
    with pytest.raises(PrepbenchError, match=r"data.image_size=4 is out of range; expected null or an integer >= 8"):
        check("data.image_size", 4)


@pytest.mark.parametrize(
    "overrides,message",
    [
        (["trainer.deterministic=no"], "trainer.deterministic=no is invalid; expected true or false"),
        (["rerun=1"], "rerun=1 is out of range; expected true or false"),
        (
            ["prep=augment", "prep.augment=yes"],
            "prep.augment=yes is invalid; expected true (the memo's augmentation), crop",
        ),
        (["augmentation.horizontal_flip=0"], "augmentation.horizontal_flip=0 is out of range; expected true or false"),
        (["seed=4294967296"], "seed=4294967296 is out of range; expected an integer from 0 to 2**32-1 = 4294967295"),
        (["tracking.experiment="], "tracking.experiment='' is invalid; expected a non-empty name"),
        (["study="], "tracking.experiment='' is invalid; expected a non-empty name"),
        (["cache_dir="], "cache_dir='' is invalid; expected a directory (PREPBENCH_CACHE, when set, not empty)"),
        (
            ["trainer.steps=0"],
            "trainer.steps=0 is out of range; expected an integer >= 1, or null (train trainer.epochs)",
        ),
        (
            ["trainer.steps=100", "trainer.warmup_steps=100"],
            "trainer.warmup_steps=100 is out of range; expected fewer than trainer.steps=100",
        ),
        (
            ["tracking.lease_seconds=0"],
            "tracking.lease_seconds=0 is out of range; expected a positive number of seconds",
        ),
        (
            ["data=synthetic", "net=deep", "data.image_size=8"],
            "data.image_size=8 is too small for net=deep (depth 8, 4 pooling stages: 8 -> 4 -> 2 -> 1 -> 0); expected at least 16",
        ),
        (
            ["data=synthetic", "net=deep", "data.size=12"],
            "the images are 12x12 (data.image_size=null keeps their size), too small for net=deep (depth 8, 4 pooling "
            "stages: 12 -> 6 -> 3 -> 1 -> 0); expected data.image_size=16 or more",
        ),
    ],
)
def test_booleans_seeds_names_leases_and_image_sizes_are_checked(overrides, message):
    import re

    with pytest.raises(PrepbenchError, match=re.escape(message)):
        validate(composed(*overrides))


def test_the_smallest_image_each_net_takes_is_accepted():
    from prepbench.config import min_image_size

    assert [min_image_size(d) for d in (1, 2, 3, 4, 8)] == [2, 4, 8, 16, 16]
    validate(composed("data=synthetic", "net=deep", "data.image_size=16"))
    validate(composed("data=synthetic", "net=shallow", "data.size=8"))
    validate(composed("seed=4294967295", "trainer.deterministic=true", "data.val_size=0"))


def test_a_number_typed_either_way_is_one_job():
    """prepbench.config.compose settles the numbers as a job does before its config hash."""
    from prepbench import config
    from prepbench.track.identity import config_hash

    def job(*overrides):
        return config_hash(config.compose(["prep=zca_shrunk", *overrides]))

    shrunk = config.compose(["prep=zca_shrunk", "prep.zca_shrinkage=10"]).prep.zca_shrinkage
    assert shrunk == 10.0 and isinstance(shrunk, float)
    assert job("prep.zca_shrinkage=10") == job("prep.zca_shrinkage=10.0") != job()
    assert job("net.dropout=0", "augmentation.rotation_degrees=20.0", "trainer.weight_decay=0") == job()
    rotation = config.compose(["augmentation.rotation_degrees=20.5"]).augmentation.rotation_degrees
    assert rotation == 20.5  # not an integer: kept
    retain = config.compose(["prep=zca_shrunk_pca", "prep.zca_retain=1"]).prep.zca_retain
    assert retain == 1 and isinstance(retain, int)  # one component, not 100% of the variance


def test_every_real_number_setting_is_written_in_its_type_in_conf():
    """rules.REAL_NUMBERS names the type conf/ writes each setting in: read from the YAML files
    themselves (compose would already have settled them)."""
    from prepbench.rules import REAL_NUMBERS

    def leaves(node, prefix=""):
        for key, value in node.items():
            if isinstance(value, dict):
                yield from leaves(value, f"{prefix}{key}.")
            else:
                yield f"{prefix}{key}", value

    seen = set()
    for path in sorted((ROOT / "conf").rglob("*.yaml")):
        text = path.read_text()
        if "hydra" in path.relative_to(ROOT / "conf").parts[:1]:
            continue
        node = yaml.safe_load(text) or {}
        node.pop("defaults", None)
        node.pop("hydra", None)
        is_global = "@package _global_" in text or path.parent == ROOT / "conf"
        for key, value in leaves(node, "" if is_global else f"{path.parent.name}."):
            if key in REAL_NUMBERS and value is not None and not isinstance(value, str):
                assert type(value) is REAL_NUMBERS[key], f"{path}: {key}={value!r}"
                seen.add(key)
    assert seen == set(REAL_NUMBERS)
