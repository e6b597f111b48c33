"""The training input on Keras backends without tf.data (JAX): numpy batches, prepared ahead by a thread.

Batch i of a run (epoch i // steps, step i % steps) holds the same images, in the same order, as on
the TensorFlow path (`batches.batch_order`); an augmented batch gets the transforms the TensorFlow path
draws for it from the stateless seed (seed, i) (`prepbench.prep.augment` reproduces TensorFlow's RNG in
numpy), warped and normalized on the device with keras.ops in one compiled function. A background
thread gathers, transfers and augments the next few batches while the device trains on the current
one. Validation and test batches are slices of the preprocessed arrays (`keras.utils.PyDataset`).
"""

from __future__ import annotations

import math
import queue
import threading

import keras
import numpy as np

from prepbench.data.cache import JobCache
from prepbench.data.splits import Splits
from prepbench.prep import augment
from prepbench.prep.preprocessor import Preprocessor
from prepbench.train.batches import Inputs, batch_order, prepared_arrays

PREFETCH = 4  # batches ready ahead of the training step


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
    """Preprocess the splits once (numpy, shared with the TensorFlow path; from `cache` if it holds
    them: batches.prepared_arrays) and batch them."""
    n = len(splits.y_train)
    x_train, x_val, x_test = prepared_arrays(splits, p, cache)
    y_train = splits.y_train.astype(np.int32)
    steps = math.ceil(n / batch_size)
    order = batch_order(n, epochs, seed)
    height, width = x_train.shape[1:3]
    policy = augment.policy_of(p.augment)
    warp = _on_device(p, augment.warp_options(policy, augmentation)) if policy else None

    def batch(i: int):
        epoch, step = divmod(i, steps)
        idx = order[epoch, step * batch_size : min((step + 1) * batch_size, n)]
        x = keras.ops.convert_to_tensor(x_train[idx])  # on the device, ahead of the step
        if warp is not None:
            x = warp(x, augment.transforms(seed, i, len(idx), height, width, augmentation, policy))
        return x, y_train[idx]

    eval_batch = max(batch_size, 256)
    return Inputs(
        train=prefetched(batch, epochs * steps),
        val=Slices(x_val, splits.y_val, eval_batch) if len(splits.y_val) else None,
        test=Slices(x_test, splits.y_test, eval_batch),
        steps_per_epoch=steps,
        num_train=n,
        input_shape=tuple(splits.x_train.shape[1:]),
        num_classes=len(splits.class_names),
        peek=lambda: np.asarray(batch(0)[0]),
    )


def _on_device(p: Preprocessor, sampling: dict):
    """augment.apply (with `sampling`: augment.warp_options) then p.normalize_ops as one function of (batch, transforms), compiled on JAX;
    the fitted statistics go to the device once and enter as arguments, not as constants."""
    names = sorted(p.state())
    arrays = [keras.ops.convert_to_tensor(p.state()[name].astype(np.float32)) for name in names]

    def warp(x, transforms, *state):
        return p.normalize_ops(augment.apply(x, transforms, **sampling), dict(zip(names, state)))

    if keras.backend.backend() == "jax":
        import jax

        warp = jax.jit(warp)
    return lambda x, transforms: warp(x, keras.ops.convert_to_tensor(transforms), *arrays)


class _Failed:
    def __init__(self, error: BaseException):
        self.error = error


def prefetched(make, count: int, ahead: int = PREFETCH):
    """A generator of make(0), ..., make(count - 1), each made by a background thread up to `ahead`
    items early. An error in the thread is raised here; closing the generator stops the thread."""
    ready: queue.Queue = queue.Queue(maxsize=ahead)
    stop = threading.Event()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                ready.put(item, timeout=0.1)
                return True
            except queue.Full:
                pass
        return False

    def work():
        try:
            for i in range(count):
                if not put(make(i)):
                    return
        except BaseException as err:  # noqa: BLE001 (handed to the consumer, raised there)
            put(_Failed(err))

    def generate():
        thread = threading.Thread(target=work, name="prepbench-batches", daemon=True)
        thread.start()
        try:
            for _ in range(count):
                item = ready.get()
                if isinstance(item, _Failed):
                    raise item.error
                yield item
        finally:
            stop.set()

    return generate()


class Slices(keras.utils.PyDataset):
    """Consecutive batches of preprocessed arrays, for validation and test (any backend)."""

    def __init__(self, x: np.ndarray, y: np.ndarray, batch_size: int):
        super().__init__()
        self.x, self.y, self.batch_size = x, y.astype(np.int32), batch_size

    def __len__(self) -> int:
        return math.ceil(len(self.y) / self.batch_size)

    def __getitem__(self, index: int):
        part = slice(index * self.batch_size, (index + 1) * self.batch_size)
        return self.x[part], self.y[part]
