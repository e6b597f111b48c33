"""prepbench.train.resnet: He et al. 2016's CIFAR ResNets (net=resnet), their size and cost, the
paired initial weights, the batch-norm rules, and training on both backends and precisions."""

import re

import numpy as np
import pytest
from omegaconf import OmegaConf

from prepbench import ROOT
from prepbench.config import compose, validate
from prepbench.errors import PrepbenchError
from prepbench.train.nets import build_net
from prepbench.train.resnet import blocks_per_stage, build_resnet, depth_table, forward_multiply_adds, markdown_table


def resnet(depth=8, width=4, seed=0, **overrides):
    options = dict(num_classes=10, input_shape=(32, 32, 3), seed=seed, batchnorm_momentum=0.9)
    return build_resnet(depth=depth, width=width, **(options | overrides))


def kinds(model):
    return [type(layer).__name__ for layer in model.layers]


def paper_multiply_adds(n: int, w: int = 16, classes: int = 10) -> int:
    """The count by hand: stem, three stages of n blocks (two 3x3 convolutions each; the first of
    stages 2 and 3 at stride 2 with a 1x1 projection), the classifier; maps 32, 16, 8."""
    total = 32 * 32 * 3 * 3 * 3 * w
    for stage, side in enumerate((32, 16, 8)):
        c = w * 2**stage
        c_in = c if stage == 0 else c // 2
        total += side * side * 9 * c_in * c + side * side * 9 * c * c  # the first block's convolutions
        total += (n - 1) * 2 * side * side * 9 * c * c
        total += side * side * c_in * c if stage else 0  # the projection
    return total + 4 * w * classes


def test_resnet_20_has_the_papers_size_and_cost():
    """He et al.: 0.27 M, 0.46 M and 0.85 M parameters for 20, 32 and 56 layers; ~41 M multiply-adds
    for ResNet-20 (option B's projections add 2 x 1x1 convolutions)."""
    rows = {r["depth"]: r for r in depth_table([20, 32, 56])}
    assert rows[20]["parameters"] == 274_042
    assert [round(rows[d]["parameters"] / 1e6, 2) for d in (20, 32, 56)] == [0.27, 0.47, 0.86]
    for depth, row in rows.items():
        assert row["multiply_adds"] == paper_multiply_adds(blocks_per_stage(depth))
    assert rows[20]["multiply_adds"] == pytest.approx(41e6, rel=0.01)
    table = markdown_table([rows[20]])
    assert "| ResNet-20 | 3 | 274,042 | 272,474 | 40.8 M | 81.6 M |" in table


def test_the_architecture_is_6n_plus_2_layers_with_batch_norm_after_every_convolution():
    m = resnet(depth=14)
    names = kinds(m)
    assert names.count("Conv2D") == 14 - 1 + 2  # the weighted layers but the dense, and two projections
    assert names.count("BatchNormalization") == names.count("Conv2D") and names.count("Add") == 3 * 2
    norms = [layer for layer in m.layers if type(layer).__name__ == "BatchNormalization"]
    normalized = {id(bn.input._keras_history.operation) for bn in norms}  # the layer each one follows
    assert normalized == {id(layer) for layer in m.layers if type(layer).__name__ == "Conv2D"}
    convs = [layer for layer in m.layers if type(layer).__name__ == "Conv2D"]
    assert [c.strides for c in convs if c.strides != (1, 1)] == [(2, 2)] * 4  # 2 blocks + 2 projections
    assert [c.kernel_size for c in convs].count((1, 1)) == 2
    assert {c.filters for c in convs} == {4, 8, 16} and not any(c.use_bias for c in convs)
    assert names[-2:] == ["GlobalAveragePooling2D", "Dense"]
    assert m.layers[-1].dtype_policy.name == "float32"
    assert m(np.zeros((2, 32, 32, 3), np.float32)).shape == (2, 10)
    assert forward_multiply_adds(m) > 0


@pytest.mark.parametrize("depth", [7, 10, 21, 2, 998])
def test_other_depths_are_refused_in_one_line(depth):
    message = f"net.depth={depth} is invalid for net=resnet; expected 6n+2 layers with n >= 1: 8, 14, 20"
    with pytest.raises(PrepbenchError, match=re.escape(message)):
        resnet(depth=depth)
    with pytest.raises(PrepbenchError) as err:
        validate(compose(["net=resnet", f"net.depth={depth}"], checked=False))
    assert str(err.value).startswith(message) and "\n" not in str(err.value)


def test_same_seed_same_initial_weights_for_every_variant():
    """Pairing: the weights depend on the seed and the depth only, as in the plain nets."""
    net = compose(["net=resnet", "net.depth=8", "net.width=4"]).net
    a = build_net(net, num_classes=10, input_shape=(32, 32, 3), batchnorm=False, seed=3)
    b = resnet(seed=3)
    for x, y in zip(a.get_weights(), b.get_weights(), strict=True):
        np.testing.assert_array_equal(x, y)
    c = resnet(seed=4)
    assert not np.array_equal(a.get_weights()[0], c.get_weights()[0])


def test_batch_norm_momentum_is_the_plain_nets_and_prep_batchnorm_is_refused():
    batchnorm_variant = OmegaConf.load(ROOT / "conf" / "prep" / "batchnorm.yaml").batchnorm_momentum
    assert compose(["net=resnet"]).net.batchnorm_momentum == batchnorm_variant
    assert compose(["net=resnet", "+prep.batchnorm_momentum=0.5"]).net.batchnorm_momentum == 0.5
    net = compose(["net=resnet", "net.depth=8", "net.width=4", "+prep.batchnorm_momentum=0.5"]).net
    model = build_net(net, num_classes=10, input_shape=(16, 16, 3), batchnorm=False, seed=0)
    assert {layer.momentum for layer in model.layers if type(layer).__name__ == "BatchNormalization"} == {0.5}
    message = "prep.batchnorm=true is invalid with net=resnet, which has batch normalization after every convolution"
    for overrides in (["prep=batchnorm"], ["prep=std", "prep.batchnorm=true"]):
        with pytest.raises(PrepbenchError, match=message):
            compose(["net=resnet", *overrides])
    with pytest.raises(PrepbenchError, match=message):
        build_net(net, num_classes=10, input_shape=(16, 16, 3), batchnorm=True, seed=0)


def test_the_plain_family_is_the_default_and_stays_out_of_older_runs_identity():
    from prepbench.track.identity import LATE_SETTINGS, config_hash

    deep = compose(["net=deep"])
    assert deep.net.family == compose(["net=shallow"]).net.family == LATE_SETTINGS["net.family"] == "plain"
    without = OmegaConf.create(OmegaConf.to_container(deep))
    del without.net["family"]
    assert config_hash(deep) == config_hash(without)
    assert compose(["net=resnet", "data=synthetic"]).net.depth == 20  # any image size: no pooling floor


@pytest.mark.parametrize("precision", ["float32", "bfloat16"])
def test_a_resnet_trains_on_the_synthetic_data_in_both_precisions(tmp_path, precision):
    from prepbench.data.splits import load_splits
    from prepbench.train.fit import fit_and_evaluate, make_inputs
    from prepbench.variants import build

    cfg = compose(["data=synthetic", "net=resnet", "net.depth=8", "net.width=8", f"cache_dir={tmp_path}"])
    splits = load_splits(OmegaConf.merge(cfg.data, dict(cache_dir=str(tmp_path))))
    inputs = make_inputs(splits, build("crop"), batch_size=32, epochs=3, seed=0, augmentation=cfg.augmentation)
    trainer = OmegaConf.merge(cfg.trainer, dict(epochs=3, precision=precision, backend="tensorflow", lr=3e-3))
    result = fit_and_evaluate(inputs, net=cfg.net, trainer=trainer, seed=0, batchnorm=False)
    assert np.isfinite(result.history["train_loss"]).all()
    assert result.history["train_loss"][-1] < result.history["train_loss"][0]


@pytest.mark.slow
def test_resnets_train_on_jax_without_tensorflow_in_both_precisions(tmp_path):
    """The CLI on JAX (tests/without_tensorflow.py): ResNet-8 in float32 and bfloat16, with the crop."""
    pytest.importorskip("jax")
    import subprocess

    from tests._proc import argv, env, jobs

    command = argv(
        "-m",
        "data=synthetic",
        "net=resnet",
        "net.depth=8",
        "net.width=4",
        "prep=crop",
        "trainer.epochs=1",
        "trainer.backend=jax",
        "trainer.precision=float32,bfloat16",
        store=tmp_path,
    )
    command[1:3] = [str(ROOT / "tests" / "without_tensorflow.py")]
    out = subprocess.run(command, cwd=ROOT, env=env(tmp_path), capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    runs = jobs(tmp_path, "adhoc")
    assert len(runs) == 2 and {r.info.status for r in runs} == {"FINISHED"}
    assert {r.data.params["trainer.precision"] for r in runs} == {"float32", "bfloat16"}
    assert all(np.isfinite(r.data.metrics["train_loss"]) for r in runs)


def test_the_nets_command_prints_the_depth_table_and_refuses_other_depths(capsys):
    from prepbench import nets

    nets.main(["--resnet", "8,20"])
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("| net | n | parameters") and len(out) == 4
    assert out[3].startswith("| ResNet-20 | 3 | 274,042 |")
    with pytest.raises(SystemExit) as stop:
        nets.main(["--resnet", "8,10"])
    assert stop.value.code == 2 and "net.depth=10 is invalid for net=resnet" in capsys.readouterr().err


def test_the_nets_command_lists_every_preset_the_residual_one_without_a_batchnorm_twin(capsys):
    from prepbench import nets

    nets.main([])
    out = capsys.readouterr().out
    assert "== net=resnet: 274,042 parameters" in out and "net=resnet prep=batchnorm" not in out
    assert "== net=deep prep=batchnorm" in out and "== net=shallow: 545,098 parameters" in out


def test_the_residual_ladder_is_paired_by_seed_at_the_rate_its_pilot_chose():
    """experiments/converged-resnet.yaml, fixed before its runs (issue 36): ResNet-8, -14 and -20,
    the core variants first, every variant of a seed and depth one job apart from `none` in its
    prep alone, at the learning rate the residual pilot chose on validation accuracy."""
    import pandas as pd

    from prepbench.track.identity import flatten

    cfg = compose(["experiment=converged-resnet"], return_hydra_config=True)
    sweep = cfg.hydra.sweeper.params
    assert (sweep.seed, sweep.net, sweep["net.depth"]) == ("0,1,2,3,4", "resnet", "8,14,20")
    assert sweep.prep.split(",") == ["none", "raw", "std", "crop", "zca_shrunk10", "augment"]
    assert (cfg.study, cfg.trainer.precision, cfg.trainer.epochs) == ("converged-resnet", "bfloat16", 30)

    pilot = pd.read_csv(ROOT / "results" / "converged" / "resnet-pilot" / "pilot.csv")
    assert cfg.trainer.lr == pilot.loc[pilot["score"].idxmax(), "value"]

    def job(prep, depth):
        return flatten(compose(["experiment=converged-resnet", f"prep={prep}", f"net.depth={depth}", "seed=2"]))

    for depth in (8, 20):
        base = job("none", depth)
        for prep in ("raw", "crop", "zca_shrunk10"):
            differ = {k for k, v in job(prep, depth).items() if base.get(k) != v}
            assert differ and all(k.startswith(("prep.", "augmentation.")) for k in differ), (prep, differ)


def test_the_whole_split_run_is_resnet20_with_crop_at_the_ladders_rate():
    """experiments/converged-resnet-full.yaml (issue 36): one ResNet-20 on all 45,000 training images,
    He et al.'s augmentation, the ladder's budget and rate, in an experiment of its own."""
    full = compose(["experiment=converged-resnet-full"], return_hydra_config=True)
    ladder = compose(["experiment=converged-resnet"])
    sweep = full.hydra.sweeper.params
    assert (sweep.seed, sweep.net, sweep.prep, sweep["net.depth"]) == ("0", "resnet", "crop", "20")
    assert (full.study, full.data.train_size, full.data.val_size, full.data.test_size) == (
        "converged-resnet-full",
        45000,
        5000,
        None,
    )
    assert full.trainer == ladder.trainer  # the ladder's rate, budget, schedule and precision
