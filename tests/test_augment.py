"""prepbench.prep.augment (and prepbench.prep.augment_tf): TensorFlow's augmentation parameters in numpy, and the keras.ops warp on JAX
against TensorFlow's, pixel by pixel."""

import json
import subprocess
import sys

import numpy as np
import pytest
from omegaconf import OmegaConf

from prepbench import ROOT
from prepbench.prep import augment
from prepbench.prep.augment_tf import augment_batch, crop_batch, draw_augmentation, draw_crop
from prepbench.variants import build

MEMO_AUGMENTATION = OmegaConf.load(ROOT / "conf" / "config.yaml").augmentation
# The JAX warp against TensorFlow's on [0, 1] images, for the same transforms: bilinear sampling
# computed in float32 in another order (XLA vs Eigen), so within float32 rounding of the pixel values.
WARP_TOLERANCE = 1e-5


@pytest.mark.parametrize("seed", [(0, 0), (1, 2), (7, 12345), (-5, 3), (2**31 - 1, -(2**31))])
def test_split_and_uniform_are_tensorflows_bit_for_bit(seed):
    import tensorflow as tf

    tf_seed = tf.constant(seed, tf.int32)
    np.testing.assert_array_equal(
        augment.split(seed, 4), tf.random.experimental.stateless_split(tf_seed, num=4).numpy()
    )
    for count in (1, 4, 37):
        ours = augment.uniform(seed, count, -0.3, 0.3)
        assert ours.dtype == np.float32
        np.testing.assert_array_equal(ours, tf.random.stateless_uniform([count], tf_seed, -0.3, 0.3).numpy())


@pytest.mark.parametrize("batch, count", [(0, 128), (17, 128), (351, 80)])
def test_draws_are_the_tensorflow_paths_bit_for_bit(batch, count):
    """The same rotation, shifts and flips as preprocess.draw_augmentation inside tf.data."""
    import tensorflow as tf

    seed = np.array([3, batch], np.int32)
    expected = [t.numpy() for t in draw_augmentation(tf.constant(seed), count, 32.0, 32.0, MEMO_AUGMENTATION)]
    for ours, theirs in zip(augment.draw(seed, count, 32, 32, MEMO_AUGMENTATION), expected):
        np.testing.assert_array_equal(ours, theirs)


def test_transforms_warp_as_the_tensorflow_path_on_tensorflow():
    """On the TensorFlow backend keras.ops.image.affine_transform is TensorFlow's own op: with our
    transforms it reproduces augment_batch (to numpy's vs Eigen's float32 sin and cos), which checks
    `matrices` against its formulas."""
    import tensorflow as tf

    x = np.random.default_rng(0).random((16, 12, 10, 3), dtype=np.float32)
    t = augment.transforms(5, 9, 16, 12, 10, MEMO_AUGMENTATION)
    ours = augment.apply(tf.constant(x), t, "nearest").numpy()
    theirs = augment_batch(tf.constant(x), tf.constant([5, 9]), MEMO_AUGMENTATION).numpy()
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=WARP_TOLERANCE)


# ---- the crop policy (prep.augment=crop): He et al. 2016's pad, crop and flip -----------------------


def padded_crop(images, ox, oy, flip, padding):
    """The crop policy by its definition: zero padding, the crop at (oy, ox), then the flip."""
    h, w = images.shape[1:3]
    padded = np.pad(images, ((0, 0), (padding, padding), (padding, padding), (0, 0)))
    crops = np.stack([padded[i, oy[i] : oy[i] + h, ox[i] : ox[i] + w] for i in range(len(images))])
    return np.where(flip[:, None, None, None], crops[:, :, ::-1], crops)


@pytest.mark.parametrize("batch, count", [(0, 128), (17, 128), (351, 80)])
def test_crop_draws_are_the_tensorflow_paths_bit_for_bit(batch, count):
    import tensorflow as tf

    seed = np.array([3, batch], np.int32)
    expected = [t.numpy() for t in draw_crop(tf.constant(seed), count, MEMO_AUGMENTATION)]
    for ours, theirs in zip(augment.draw_crop(seed, count, MEMO_AUGMENTATION), expected, strict=True):
        np.testing.assert_array_equal(ours, theirs)


def test_crop_offsets_are_uniform_over_the_padding_and_flips_a_fair_coin():
    """Offsets 0..8 for 4 pixels of padding, each about 1/9 of the time, independent of each other;
    the flips are the memo policy's (same seed, same images flipped)."""
    ox, oy, flip = augment.draw_crop(np.array([0, 1], np.int32), 45000, MEMO_AUGMENTATION)
    for offsets in (ox, oy):
        assert offsets.min() == 0 and offsets.max() == 8
        np.testing.assert_allclose(np.bincount(offsets) / len(offsets), 1 / 9, atol=0.006)
    assert abs(np.corrcoef(ox, oy)[0, 1]) < 0.02
    assert flip.mean() == pytest.approx(0.5, abs=0.01)
    np.testing.assert_array_equal(flip, augment.draw(np.array([0, 1], np.int32), 45000, 32, 32, MEMO_AUGMENTATION)[3])
    no_flip = OmegaConf.merge(MEMO_AUGMENTATION, dict(horizontal_flip=False, crop_padding=2))
    ox, _, flip = augment.draw_crop(np.array([0, 1], np.int32), 1000, no_flip)
    assert not flip.any() and set(ox) == {0, 1, 2, 3, 4}


def test_crop_batch_is_zero_padding_a_crop_and_a_flip_exactly():
    import tensorflow as tf

    x = np.random.default_rng(0).random((64, 12, 10, 3), dtype=np.float32) + 0.5  # no pixel is the padding's 0
    seed = np.array([5, 9], np.int32)
    ours = crop_batch(tf.constant(x), tf.constant(seed), MEMO_AUGMENTATION).numpy()
    ox, oy, flip = augment.draw_crop(seed, 64, MEMO_AUGMENTATION)
    np.testing.assert_array_equal(ours, padded_crop(x, ox, oy, flip, 4))
    assert flip.any() and (ox != 4).any()  # some images really moved and flipped
    # keras.ops with the numpy transforms (the JAX path's warp, here on TensorFlow): the same pixels
    t = augment.transforms(5, 9, 64, 12, 10, MEMO_AUGMENTATION, policy="crop")
    warped = augment.apply(tf.constant(x), t, **augment.warp_options("crop", MEMO_AUGMENTATION)).numpy()
    np.testing.assert_array_equal(warped, ours)


def test_crop_is_reproducible_per_seed_and_fresh_per_batch():
    import tensorflow as tf

    x = tf.constant(np.random.default_rng(1).random((16, 8, 8, 3), dtype=np.float32))
    a, b, c = (crop_batch(x, tf.constant(s), MEMO_AUGMENTATION).numpy() for s in ([5, 0], [5, 0], [5, 1]))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_prep_augment_names_the_policy():
    assert [augment.policy_of(v) for v in (False, True, "crop")] == [None, "memo", "crop"]
    assert build("crop").augment == "crop" and build("std", augment="crop").normalization == "std"


# ---- against JAX, in a process without TensorFlow ----------------------------------------------


@pytest.fixture(scope="module")
def on_jax(tmp_path_factory):
    pytest.importorskip("jax")
    rng = np.random.default_rng(1)
    images = rng.random((32, 16, 16, 3), dtype=np.float32)
    splits = dict(
        x_train=rng.integers(0, 256, (100, 8, 8, 3), dtype=np.uint8),
        y_train=rng.integers(0, 3, 100),
        x_val=rng.integers(0, 256, (10, 8, 8, 3), dtype=np.uint8),
        y_val=rng.integers(0, 3, 10),
        x_test=rng.integers(0, 256, (10, 8, 8, 3), dtype=np.uint8),
        y_test=rng.integers(0, 3, 10),
    )
    params = np.array(json.dumps(OmegaConf.to_container(MEMO_AUGMENTATION)))
    folder = tmp_path_factory.mktemp("jax")
    data = dict(
        images=images,
        transforms=augment.transforms(0, 4, 32, 16, 16, MEMO_AUGMENTATION),
        crop_transforms=augment.transforms(0, 4, 32, 16, 16, MEMO_AUGMENTATION, policy="crop"),
        params=params,
        **splits,
    )
    np.savez(folder / "in.npz", **data)
    done = subprocess.run(
        [sys.executable, str(ROOT / "tests" / "_on_jax.py"), str(folder / "in.npz"), str(folder / "out.npz")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return data, dict(np.load(folder / "out.npz"))


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["nearest", "constant", "reflect"])
def test_jax_warp_matches_tensorflows_pixels_for_the_same_parameters(on_jax, mode):
    import tensorflow as tf

    data, out = on_jax
    params = OmegaConf.merge(MEMO_AUGMENTATION, dict(fill_mode=mode))
    theirs = augment_batch(tf.constant(data["images"]), tf.constant([0, 4]), params).numpy()
    np.testing.assert_allclose(out[f"warp_{mode}"], theirs, rtol=0, atol=WARP_TOLERANCE)


@pytest.mark.slow
def test_jax_wrap_differs_from_tensorflows_so_config_refuses_it(on_jax):
    """keras.ops' wrap on JAX is scipy's; config.validate refuses fill_mode=wrap on JAX for that."""
    import tensorflow as tf

    from prepbench.config import validate
    from prepbench.errors import PrepbenchError

    data, out = on_jax
    params = OmegaConf.merge(MEMO_AUGMENTATION, dict(fill_mode="wrap"))
    theirs = augment_batch(tf.constant(data["images"]), tf.constant([0, 4]), params).numpy()
    assert np.abs(out["warp_wrap"] - theirs).max() > 0.1
    cfg = OmegaConf.create(dict(trainer=dict(backend="jax"), augmentation=dict(fill_mode="wrap")))
    with pytest.raises(PrepbenchError, match="augmentation.fill_mode=wrap is not available with trainer.backend=jax"):
        validate(cfg)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["minmax", "samplewise", "std", "zca"])
def test_keras_ops_normalization_on_jax_matches_numpy(on_jax, name):
    data, out = on_jax
    p = build(name).fit(data["x_train"])
    expected = p.normalize(p.scale(data["x_train"][:20]))
    np.testing.assert_allclose(out[f"normalize_{name}"], expected, atol=1e-4 * np.abs(expected).max())


@pytest.mark.slow
@pytest.mark.parametrize("policy", [True, "crop"])
def test_jax_training_input_is_the_tensorflow_one(on_jax, policy):
    """Same labels in the same batches, and the same augmented, standardized images (to the warp's
    tolerance, scaled by the standardization's 1 / std), under either policy."""
    from prepbench.data.splits import Splits
    from prepbench.train.pipeline_tf import make_inputs

    data, out = on_jax
    splits = Splits(
        *(data[k] for k in ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test")), ("a", "b", "c"), "test"
    )
    p = build("std", augment=policy).fit(splits.x_train)
    batches = list(
        make_inputs(splits, p, batch_size=24, epochs=2, seed=3, augmentation=MEMO_AUGMENTATION).run_batches(2)
    )
    name = "pipeline" if policy is True else "crop_pipeline"
    np.testing.assert_array_equal(out[f"{name}_sizes"], [len(y) for _, y in batches])
    np.testing.assert_array_equal(out[f"{name}_y"], np.concatenate([y.numpy() for _, y in batches]))
    x = np.concatenate([x.numpy() for x, _ in batches])
    np.testing.assert_allclose(out[f"{name}_x"], x, rtol=0, atol=WARP_TOLERANCE / p.std_.min())


@pytest.mark.slow
def test_jax_crop_is_tensorflows_pixel_for_pixel(on_jax):
    import tensorflow as tf

    data, out = on_jax
    theirs = crop_batch(tf.constant(data["images"]), tf.constant([0, 4]), MEMO_AUGMENTATION).numpy()
    np.testing.assert_array_equal(out["warp_crop"], theirs)
