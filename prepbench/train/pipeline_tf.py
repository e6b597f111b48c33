"""The TensorFlow backend's training input: tf.data over the preprocessed arrays.

Augmentation and the normalization after it run per batch inside tf.data, vectorised, in a parallel
map, from stateless seeds (seed, batch): the batches are the same on every run and for every variant,
whatever the thread timing.
"""

from __future__ import annotations

import math

import numpy as np
import tensorflow as tf

from prepbench.data.cache import JobCache
from prepbench.data.splits import Splits
from prepbench.prep.augment import policy_of
from prepbench.prep.augment_tf import augment_policy_batch
from prepbench.prep.preprocessor import Preprocessor
from prepbench.train.batches import Inputs, batch_order, prepared_arrays

# Keras makes a new iterator of each dataset every epoch, and destroying an iterator waits for its
# autotuning thread to wake from a timed sleep that doubles up to 60 s: on a 2-core CPU, ResNet-20's
# 20 s epochs sat idle for up to 20 s more. A fixed parallelism leaves the batches as they were (the
# map is deterministic), so it changes the speed alone (docs/resnet.md, tests/test_pipeline_tf.py).
# Under UNTUNED, AUTOTUNE is resolved once: min(16, cores) parallel calls, and never retuned.
UNTUNED = tf.data.Options()
UNTUNED.autotune.enabled = False


def make_inputs(
    splits: Splits,
    p: Preprocessor,
    *,
    batch_size: int,
    epochs: int,
    seed: int,
    augmentation,
    cache: JobCache | None = None,
) -> Inputs:
    """Preprocess the splits once (from `cache` if it holds them: batches.prepared_arrays) and wrap
    them in tf.data pipelines."""
    n = len(splits.y_train)
    x_train, x_val, x_test = prepared_arrays(splits, p, cache)
    # Variables, not constants: a dataset function captures a variable by handle, while a captured
    # constant is copied into the dataset graph each time an iterator is made (0.1 s per 100 MB).
    x_train = tf.Variable(x_train, trainable=False)
    y_train = tf.Variable(splits.y_train.astype(np.int32), trainable=False)
    steps = math.ceil(n / batch_size)
    order = tf.Variable(batch_order(n, epochs, seed).astype(np.int32), trainable=False)

    # Keras iterates `train` once per epoch; `start_epoch` (called by fit at each epoch's start) says
    # which epoch that is. Each epoch ending with its own data is what lets a graph call run several
    # steps (trainer.steps_per_execution) without one running into the next epoch's batches.
    epoch = tf.Variable(0, dtype=tf.int32, trainable=False)
    policy = policy_of(p.augment)

    def load(i):
        # Batch i of the whole run: epoch i // steps, step i % steps; the last batch of an epoch is
        # short. One map stage, one gather per batch; the batch's augmentation seed is (seed, i).
        idx = order[i // steps, (i % steps) * batch_size : tf.minimum((i % steps + 1) * batch_size, n)]
        x = tf.gather(x_train, idx)
        if policy:
            x = p.normalize_tf(
                augment_policy_batch(x, tf.stack([tf.constant(seed, tf.int32), i]), augmentation, policy)
            )
        return x, tf.gather(y_train, idx)

    train = (
        tf.data.Dataset.range(steps, output_type=tf.int32)
        .map(lambda step: load(epoch * steps + step), num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        .prefetch(tf.data.AUTOTUNE)
        .with_options(UNTUNED)
    )

    def evaluation(x, y):
        ds = tf.data.Dataset.from_tensor_slices((x, y.astype(np.int32)))
        return ds.batch(max(batch_size, 256)).prefetch(tf.data.AUTOTUNE).with_options(UNTUNED)

    return Inputs(
        train=train,
        val=evaluation(x_val, splits.y_val) if len(splits.y_val) else None,
        test=evaluation(x_test, splits.y_test),
        steps_per_epoch=steps,
        num_train=len(splits.y_train),
        input_shape=tuple(splits.x_train.shape[1:]),
        num_classes=len(splits.class_names),
        peek=lambda: load(tf.constant(0))[0].numpy(),
        start_epoch=epoch.assign,
    )
