import numpy as np
import pytest
from omegaconf import OmegaConf

from prepbench import ROOT
from prepbench.train.batches import batch_order
from prepbench.train.fit import NonFiniteLossError, fit_and_evaluate, make_inputs
from prepbench.variants import build

AUGMENTATION = OmegaConf.load(ROOT / "conf" / "config.yaml").augmentation
NET = OmegaConf.create(dict(depth=1, width=4, dense=8))


@pytest.fixture(scope="module")
def splits(synthetic_splits):
    return synthetic_splits


def trainer(**overrides):
    """conf/trainer's settings, small, in float32 unless asked otherwise."""
    defaults = OmegaConf.to_container(OmegaConf.load(ROOT / "conf" / "trainer" / "default.yaml"))
    return OmegaConf.create(
        defaults | dict(epochs=2, batch_size=32, precision="float32", backend="tensorflow") | overrides
    )


def test_batch_order_depends_on_the_seed_only_and_changes_each_epoch():
    a, b = batch_order(100, 3, seed=1), batch_order(100, 3, seed=1)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a[0], a[1])
    assert not np.array_equal(a, batch_order(100, 3, seed=2))
    assert all(sorted(epoch) == list(range(100)) for epoch in a)


def labels_seen(inputs, epochs=2):
    return np.concatenate([y.numpy() for _, y in inputs.run_batches(epochs)])


def test_every_variant_sees_the_same_batches_in_the_same_order(splits):
    """The comparison is paired: for one seed the label stream is identical across variants."""
    kwargs = dict(batch_size=32, epochs=2, seed=7, augmentation=AUGMENTATION)
    reference = labels_seen(make_inputs(splits, build("none"), **kwargs))
    assert len(reference) == 2 * len(splits.y_train)
    for name in ("zca", "augment", "minmax"):
        p = build(name).fit(splits.x_train)
        np.testing.assert_array_equal(labels_seen(make_inputs(splits, p, **kwargs)), reference)


@pytest.mark.parametrize("name", ["augment", "crop"])
def test_augmented_batches_are_fresh_each_epoch_and_reproducible(splits, name):
    kwargs = dict(batch_size=len(splits.y_train), epochs=2, seed=7, augmentation=AUGMENTATION)
    first = [x.numpy() for x, _ in make_inputs(splits, build(name), **kwargs).run_batches(2)]
    again = [x.numpy() for x, _ in make_inputs(splits, build(name), **kwargs).run_batches(2)]
    np.testing.assert_array_equal(first[0], again[0])
    order = batch_order(len(splits.y_train), 2, 7)
    # the same images in epoch 1 and 2 (re-ordered back) got different random transforms
    inverse = [np.argsort(order[e]) for e in range(2)]
    assert not np.allclose(first[0][inverse[0]], first[1][inverse[1]])


def test_the_crop_policy_touches_training_batches_only_then_normalizes(splits):
    """prep=std prep.augment=crop: each training batch is the crop of the scaled images, then
    standardized with the training split's statistics; validation and test are never augmented."""
    from prepbench.prep import augment

    p = build("std", augment="crop").fit(splits.x_train)
    inputs = make_inputs(splits, p, batch_size=16, epochs=1, seed=3, augmentation=AUGMENTATION)
    x, _ = next(iter(inputs.train))
    first = splits.x_train[batch_order(len(splits.y_train), 1, 3)[0][:16]]
    ox, oy, flip = augment.draw_crop(np.array([3, 0], np.int32), 16, AUGMENTATION)
    padded = np.pad(p.scale(first), ((0, 0), (4, 4), (4, 4), (0, 0)))
    h, w = first.shape[1:3]
    crops = np.stack([padded[i, oy[i] : oy[i] + h, ox[i] : ox[i] + w] for i in range(16)])
    crops = np.where(flip[:, None, None, None], crops[:, :, ::-1], crops)
    np.testing.assert_allclose(x.numpy(), p.normalize(crops), atol=1e-5)
    for split, images in ((inputs.val, splits.x_val), (inputs.test, splits.x_test)):
        seen = np.concatenate([batch.numpy() for batch, _ in split])
        np.testing.assert_allclose(seen, p.transform(images), atol=1e-6)


def test_the_crop_policy_trains_with_batch_norm(splits):
    """prep=crop prep.batchnorm=true: the augmented input into the batch-normalized net."""
    inputs = make_inputs(splits, build("crop"), batch_size=32, epochs=1, seed=0, augmentation=AUGMENTATION)
    result = fit_and_evaluate(
        inputs, net=NET, trainer=trainer(epochs=1), seed=0, batchnorm=True, batchnorm_momentum=0.9
    )
    assert np.isfinite(result.history["train_loss"]).all()


def test_static_variants_are_normalized_once_up_front(splits):
    p = build("std").fit(splits.x_train)
    inputs = make_inputs(splits, p, batch_size=16, epochs=1, seed=0, augmentation=AUGMENTATION)
    x, _ = next(iter(inputs.train))
    first = batch_order(len(splits.y_train), 1, 0)[0][:16]
    np.testing.assert_allclose(x.numpy(), p.transform(splits.x_train[first]), atol=1e-6)


def test_training_learns_the_synthetic_data_and_reports_every_metric(splits):
    inputs = make_inputs(splits, build("none"), batch_size=32, epochs=3, seed=0, augmentation=AUGMENTATION)
    seen = []
    result = fit_and_evaluate(
        inputs,
        net=NET,
        trainer=trainer(epochs=3, lr=3e-3),
        seed=0,
        batchnorm=False,
        on_epoch=lambda epoch, metrics: seen.append(epoch),
    )
    assert seen == [1, 2, 3]
    assert set(result.history) == {"train_loss", "train_accuracy", "val_loss", "val_accuracy"}
    assert result.test_accuracy > 1.5 / len(splits.class_names)  # well above chance
    assert result.train_images_per_second > 0 and result.fit_seconds > 0


def test_steps_per_execution_changes_the_speed_not_the_result(splits):
    """Several steps per graph call, with executions that do not divide the epoch (10 steps of 32
    in executions of 3): the same batches in the same epochs, so the same history to the bit."""
    kwargs = dict(batch_size=32, epochs=3, seed=0, augmentation=AUGMENTATION)
    inputs = make_inputs(splits, build("augment"), **kwargs)
    assert inputs.steps_per_epoch % 3
    order = batch_order(len(splits.y_train), 3, 0)
    np.testing.assert_array_equal(labels_seen(inputs, epochs=3), splits.y_train[order.ravel()])
    results = [
        fit_and_evaluate(
            make_inputs(splits, build("augment"), **kwargs),
            net=NET,
            trainer=trainer(epochs=3, steps_per_execution=steps),
            seed=0,
            batchnorm=False,
        )
        for steps in (1, 3)
    ]
    assert results[0].history == results[1].history
    assert results[0].test_accuracy == results[1].test_accuracy


def test_validating_every_few_steps_changes_the_validation_curve_not_the_training(splits):
    """10 steps an epoch, validation every 20 steps: after epochs 2 and 4 and the last, 5, with the
    values an every-epoch run has there, and the same training and test to the bit."""
    kwargs = dict(batch_size=32, epochs=5, seed=0, augmentation=AUGMENTATION)
    runs = {}
    for every in (None, 20):
        seen = []
        runs[every] = fit_and_evaluate(
            make_inputs(splits, build("none"), **kwargs),
            net=NET,
            trainer=trainer(epochs=5, validation_every_steps=every),
            seed=0,
            batchnorm=False,
            on_epoch=lambda epoch, metrics, seen=seen: "val_accuracy" in metrics and seen.append(epoch),
        )
        runs[every].validated = seen
    assert runs[None].validated == [1, 2, 3, 4, 5] and runs[20].validated == [2, 4, 5]
    assert runs[20].history["train_loss"] == runs[None].history["train_loss"]
    assert runs[20].history["val_accuracy"] == [runs[None].history["val_accuracy"][e - 1] for e in (2, 4, 5)]
    assert runs[20].test_accuracy == runs[None].test_accuracy


def test_a_diverging_run_stops_with_a_non_finite_loss_error(splits):
    inputs = make_inputs(splits, build("raw"), batch_size=32, epochs=2, seed=0, augmentation=AUGMENTATION)
    with pytest.raises(NonFiniteLossError, match="non-finite training loss"):
        fit_and_evaluate(inputs, net=NET, trainer=trainer(lr=1e38), seed=0, batchnorm=False)


def test_a_variant_is_transformed_once_per_data_set_not_once_per_job(splits):
    from prepbench.data.cache import JobCache
    from prepbench.train.batches import prepared_arrays

    cache = JobCache()
    first = prepared_arrays(splits, build("std").fit(splits.x_train), cache)
    again = prepared_arrays(splits, build("std").fit(splits.x_train), cache)  # the next job of the sweep
    assert all(a is b for a, b in zip(first, again))
    augmented = prepared_arrays(splits, build("std", augment=True).fit(splits.x_train), cache)
    np.testing.assert_allclose(augmented[0], splits.x_train / 255, atol=1e-6)  # only scaled: normalized per batch
    np.testing.assert_array_equal(augmented[1], first[1])


def test_without_a_cache_each_call_transforms_anew(splits):
    from prepbench.train.batches import prepared_arrays

    p = build("std").fit(splits.x_train)
    first, again = prepared_arrays(splits, p), prepared_arrays(splits, p)
    assert not any(a is b for a, b in zip(first, again))
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)


def test_make_inputs_takes_the_variant_from_the_cache_it_is_given(splits, monkeypatch):
    from prepbench.data.cache import JobCache
    from prepbench.prep.preprocessor import Preprocessor

    calls = []
    transform = Preprocessor.transform
    monkeypatch.setattr(Preprocessor, "transform", lambda self, x: calls.append(len(x)) or transform(self, x))
    p = build("std").fit(splits.x_train)
    kwargs = dict(batch_size=32, epochs=1, augmentation=AUGMENTATION)
    cache = JobCache()
    make_inputs(splits, p, seed=0, cache=cache, **kwargs)
    make_inputs(splits, p, seed=1, cache=cache, **kwargs)
    assert len(calls) == 3  # train, val, test: once for both jobs
    make_inputs(splits, p, seed=2, **kwargs)  # no cache: a job of its own
    assert len(calls) == 6


def test_configure_tensorflow_sets_the_pools_once_and_warns_only_when_they_cannot_change(tmp_path):
    """In a fresh process: the wanted pools are set before the runtime starts; asking again for
    the same ones is silent (a sweep's later jobs); asking for other ones then warns."""
    import subprocess
    import sys

    code = (
        "import logging, tensorflow as tf\n"
        "from prepbench.train.fit import configure_tensorflow\n"
        "logging.basicConfig(level=logging.WARNING, format='%(message)s')\n"
        "configure_tensorflow(threads=1, deterministic=False)\n"
        "tf.constant(1.0) + 1\n"  # the runtime starts
        "configure_tensorflow(threads=1, deterministic=False)\n"
        "configure_tensorflow(threads=0, deterministic=False)\n"
        "print('pools', tf.config.threading.get_intra_op_parallelism_threads(),"
        " tf.config.threading.get_inter_op_parallelism_threads(), flush=True)\n"
        "logging.warning('--- now other pools')\n"
        "configure_tensorflow(threads=2, deterministic=False)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300, check=True
    )
    assert "pools 1 1" in done.stdout
    before, after = done.stderr.split("--- now other pools")
    assert "TensorFlow already started" not in before
    assert "TensorFlow already started: its thread pools stay as they are (intra-op 1, inter-op 1)" in after


def test_a_float32_job_after_a_bfloat16_job_in_one_process_really_runs_in_float32(splits):
    import keras

    inputs = make_inputs(splits, build("none"), batch_size=32, epochs=1, seed=0, augmentation=AUGMENTATION)
    policy_while_training = {}
    for precision in ("bfloat16", "float32"):
        fit_and_evaluate(
            inputs,
            net=NET,
            trainer=trainer(epochs=1, precision=precision),
            seed=0,
            batchnorm=False,
            on_epoch=lambda epoch, metrics, p=precision: policy_while_training.update(
                {p: keras.mixed_precision.global_policy().compute_dtype}
            ),
        )
    assert policy_while_training == {"bfloat16": "bfloat16", "float32": "float32"}


def test_bfloat16_computes_in_bfloat16_with_float32_variables_and_logits():
    import keras

    from prepbench.train.nets import build_model
    from prepbench.train.precision import set_keras_policy

    set_keras_policy("bfloat16")
    try:
        model = build_model(depth=2, width=4, dense=8, num_classes=3, input_shape=(8, 8, 3), batchnorm=True, seed=0)
    finally:
        set_keras_policy("float32")
    conv = next(layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D))
    assert conv.compute_dtype == "bfloat16" and conv.variable_dtype == "float32"
    logits = model(np.zeros((2, 8, 8, 3), np.float32))
    assert keras.backend.standardize_dtype(logits.dtype) == "float32"


def test_cosine_schedule_warms_up_then_decays_to_zero():
    from prepbench.train.fit import learning_rate

    schedule = learning_rate(trainer(schedule="cosine", epochs=4, warmup_epochs=1, lr=0.01), steps_per_epoch=10)
    lr = [float(schedule(step)) for step in (0, 5, 10, 25, 40)]
    assert lr[0] == 0 and 0.004 < lr[1] < 0.006 and abs(lr[2] - 0.01) < 1e-9
    assert 0.004 < lr[3] < 0.006 and lr[4] < 1e-9
    assert learning_rate(trainer(schedule="constant", lr=0.01), steps_per_epoch=10) == 0.01


def test_sgd_with_nesterov_momentum_and_weight_decay_is_built_as_configured():
    from prepbench.train.fit import make_optimizer

    sgd = make_optimizer(trainer(optimizer="sgd", momentum=0.8, nesterov=True, weight_decay=5e-4), 0.05)
    assert type(sgd).__name__ == "SGD" and sgd.nesterov and sgd.momentum == 0.8 and sgd.weight_decay == 5e-4
    adam = make_optimizer(trainer(), 1e-3)
    assert type(adam).__name__ == "Adam" and adam.weight_decay is None


def test_sgd_trains_and_weight_decay_changes_the_result(splits):
    inputs = make_inputs(splits, build("none"), batch_size=32, epochs=2, seed=0, augmentation=AUGMENTATION)
    runs = [
        fit_and_evaluate(
            inputs, net=NET, trainer=trainer(optimizer="sgd", lr=0.05, weight_decay=wd), seed=0, batchnorm=False
        )
        for wd in (0.0, 0.5)
    ]
    assert runs[0].test_accuracy > 1.5 / len(splits.class_names)
    assert runs[0].history["train_loss"] != runs[1].history["train_loss"]
