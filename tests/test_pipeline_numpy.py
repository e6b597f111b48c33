"""prepbench.train.pipeline_numpy: the tf.data-free training input, checked here on the TensorFlow backend
(its keras.ops run anywhere) against prepbench.train.pipeline_tf; tests/test_augment.py checks it on JAX."""

import threading
import time

import numpy as np
import pytest
from omegaconf import OmegaConf

from prepbench import ROOT
from prepbench.train.pipeline_numpy import Slices, make_inputs, prefetched
from prepbench.variants import build

AUGMENTATION = OmegaConf.load(ROOT / "conf" / "config.yaml").augmentation


@pytest.fixture(scope="module")
def splits(synthetic_splits):
    return synthetic_splits


@pytest.mark.parametrize(
    "name, augment",
    [("none", None), ("zca", None), ("augment", None), ("samplewise", True), ("crop", None), ("std", "crop")],
)
def test_batches_are_the_tf_data_ones(splits, name, augment):
    from prepbench.train import pipeline_tf

    p = build(name, augment=augment).fit(splits.x_train)
    kwargs = dict(batch_size=48, epochs=2, seed=5, augmentation=AUGMENTATION)
    ours, theirs = make_inputs(splits, p, **kwargs), pipeline_tf.make_inputs(splits, p, **kwargs)
    assert ours.steps_per_epoch == theirs.steps_per_epoch
    pairs = list(zip(ours.run_batches(2), theirs.run_batches(2), strict=True))
    assert len(pairs) == 2 * ours.steps_per_epoch
    for (x, y), (tx, ty) in pairs:
        np.testing.assert_array_equal(np.asarray(y), ty.numpy())
        np.testing.assert_allclose(np.asarray(x), tx.numpy(), rtol=0, atol=1e-4)
    np.testing.assert_allclose(ours.peek(), theirs.peek(), rtol=0, atol=1e-4)


def test_validation_and_test_slices_cover_each_split_once_in_order(splits):
    inputs = make_inputs(splits, build("none"), batch_size=32, epochs=1, seed=0, augmentation=AUGMENTATION)
    y = np.concatenate([inputs.val[i][1] for i in range(len(inputs.val))])
    np.testing.assert_array_equal(y, splits.y_val)
    sizes = [len(b[1]) for b in Slices(np.zeros((600, 1)), np.zeros(600), 256)]
    assert sizes == [256, 256, 88]


def test_prefetched_yields_in_order_and_runs_ahead():
    made = []

    def make(i):
        made.append(i)
        return i * i

    items = prefetched(make, 10, ahead=3)
    assert made == []  # nothing happens before the first item is asked for
    assert next(items) == 0
    time.sleep(0.3)
    assert 2 <= len(made) <= 5  # one handed out, up to `ahead` queued, one in hand
    assert list(items) == [i * i for i in range(1, 10)]


def test_an_error_while_preparing_a_batch_is_raised_to_the_consumer():
    def make(i):
        if i == 2:
            raise ZeroDivisionError("batch 2")
        return i

    items = prefetched(make, 5)
    assert [next(items), next(items)] == [0, 1]
    with pytest.raises(ZeroDivisionError, match="batch 2"):
        next(items)


def test_closing_the_generator_stops_its_thread():
    before = threading.active_count()
    items = prefetched(lambda i: i, 1_000_000, ahead=2)
    next(items)
    items.close()
    deadline = time.monotonic() + 5
    while threading.active_count() > before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert threading.active_count() == before
