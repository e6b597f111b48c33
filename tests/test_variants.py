"""prepbench.variants: conf/prep is the one list of variants, in the order reports show them."""

import pytest

from prepbench import ROOT
from prepbench.errors import PrepbenchError
from prepbench.prep.normalizations import NORMALIZATIONS
from prepbench.variants import build, names, order_key, variant, variants


def test_every_prep_file_is_a_variant_in_report_order():
    files = {p.stem for p in (ROOT / "conf" / "prep").glob("*.yaml")}
    assert set(names()) == files
    assert names() == [
        "none",
        "raw",
        "minmax",
        "samplewise",
        "std",
        "featurewise",
        "zca",
        "zca_reg",
        "zca_shrunk",
        "zca_shrunk10",
        "zca_shrunk_all",
        "zca_shrunk_gcn",
        "zca_shrunk_pca",
        "augment",
        "crop",
        "batchnorm",
    ]


def test_every_variant_uses_a_registered_normalization_and_builds():
    for v in variants().values():
        assert v.normalization in NORMALIZATIONS
        p = build(v.option)
        assert (p.normalization, p.augment, p.batchnorm) == (v.normalization, v.augment, v.batchnorm)


def test_an_alias_inherits_its_targets_settings():
    assert variant("featurewise").name == "std" and variant("featurewise").alias
    assert variant("featurewise").settings == variant("std").settings == {"gcn": None}
    zca = {"gcn": None, "zca_epsilon": 1e-6, "zca_shrinkage": 0.0, "zca_retain": None, "zca_fit_images": None}
    assert variant("zca").settings == zca
    assert variant("zca_reg").settings == zca | {"zca_epsilon": 0.1}
    assert variant("batchnorm").settings == {"gcn": None, "batchnorm_momentum": 0.9}


def test_an_option_and_its_settings_on_the_command_line_are_one_job():
    """The s = 10 rows ran as `prep=zca_shrunk prep.zca_shrinkage=10.0` (issue 36, sixth sitting):
    they are zca_shrunk10's runs (one identity, so resume and `--where prep=zca_shrunk10` find them),
    with batch norm too, and not zca_shrunk's (s = 1)."""
    from prepbench.config import compose
    from prepbench.track.identity import config_hash

    def job(*overrides, experiment="converged"):
        return config_hash(compose([f"experiment={experiment}", "net=deep", "seed=3", *overrides]))

    assert variant("zca_shrunk10").settings["zca_shrinkage"] == 10.0
    by_option = job("prep=zca_shrunk10")
    assert job("prep=zca_shrunk", "prep.zca_shrinkage=10.0") == by_option
    assert job("prep=zca_shrunk") != by_option
    crossed = job("prep=zca_shrunk", "prep.zca_shrinkage=10.0", experiment="converged-bn")
    assert crossed == job("prep=zca_shrunk10", experiment="converged-bn") != by_option


def test_unknown_names_sort_last_and_are_refused_by_name():
    assert sorted(["zzz", "batchnorm", "none", "zca"], key=order_key) == ["none", "zca", "batchnorm", "zzz"]
    with pytest.raises(PrepbenchError, match="prep='zxa' is unknown; expected one of none, raw, minmax"):
        variant("zxa")


def test_a_new_normalization_class_registers_itself():
    from prepbench.prep.normalizations import Normalization

    class Halve(Normalization):
        name = "halve-test"

        @staticmethod
        def numpy(p, x):
            return x / 2

    try:
        assert list(NORMALIZATIONS)[-1] == "halve-test"
    finally:
        del NORMALIZATIONS["halve-test"]
