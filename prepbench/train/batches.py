"""What both input pipelines share: the paired batch order, the preprocessed arrays, and Inputs,
what the network sees (prepbench.train.pipeline_tf builds it with tf.data on TensorFlow,
prepbench.train.pipeline_numpy from numpy on other Keras backends)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from prepbench.data.cache import JobCache
from prepbench.data.splits import Splits
from prepbench.prep.preprocessor import Preprocessor


@dataclass
class Inputs:
    """What the network sees: batches already preprocessed, plus their shape."""

    # The paired order's batches: with `start_epoch`, one epoch's (a tf.data.Dataset that fit iterates
    # once per epoch, after start_epoch(epoch)); without, the whole run's (a generator).
    train: object
    val: object  # None with data.val_size=0: no per-epoch validation
    test: object
    steps_per_epoch: int
    num_train: int
    input_shape: tuple[int, int, int]
    num_classes: int
    peek: Callable[[], np.ndarray] | None = None  # the first training batch's images, as numpy
    start_epoch: Callable[[int], object] | None = None

    def run_batches(self, epochs: int):
        """Every training batch of an `epochs`-epoch run, in order, as fit sees them."""
        if self.start_epoch is None:
            yield from self.train
            return
        for epoch in range(epochs):
            self.start_epoch(epoch)
            yield from self.train


def batch_order(num_images: int, epochs: int, seed: int) -> np.ndarray:
    """Each epoch's shuffled image order, from the run's seed only: (epochs, num_images)."""
    return np.stack([np.random.default_rng([seed, epoch]).permutation(num_images) for epoch in range(epochs)])


def prepared_arrays(
    splits: Splits, p: Preprocessor, cache: JobCache | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Train, val and test as the network sees them. Training images that are augmented per batch
    are only scaled here: they are normalized after augmentation (IDG's order). With a `cache`, the
    jobs that share it transform each (data set, variant) once."""

    def prepare() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        x_train = p.scale(splits.x_train) if p.augment else p.transform(splits.x_train)
        return x_train, p.transform(splits.x_val), p.transform(splits.x_test)

    if cache is None:
        return prepare()
    return cache.prepared((p.cache_key(splits.fingerprint), bool(p.augment)), prepare)  # either policy: scaled only
