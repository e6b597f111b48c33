"""Training: Keras `fit` over the batches of prepbench.train.batches, validation by epoch, one test.

Static preprocessing runs once on whole splits (numpy). Augmentation runs per batch, vectorised,
from stateless seeds (seed, batch): the batches are the same on every run and for every variant,
whatever the thread timing. The batch order comes from the run's seed alone, so variants compared
on one seed see the same images in the same order. On TensorFlow the batches come from tf.data
(prepbench.train.pipeline_tf); on JAX from numpy with a prefetching thread and augmentation on the device
(prepbench.train.pipeline_numpy), with the same images, order and augmentation parameters.
"""

from __future__ import annotations

import logging
import math
import signal
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field

import keras

from prepbench.data.cache import JobCache
from prepbench.data.splits import Splits
from prepbench.prep.preprocessor import Preprocessor
from prepbench.train import budget
from prepbench.train.batches import Inputs
from prepbench.train.nets import build_net
from prepbench.train.precision import set_keras_policy

log = logging.getLogger(__name__)

EPOCH_METRICS = ("train_loss", "train_accuracy", "val_loss", "val_accuracy")


class NonFiniteLossError(RuntimeError):
    """Training diverged; the job fails and the sweep goes on."""


@dataclass
class TrainResult:
    history: dict[str, list[float]] = field(default_factory=dict)
    test_loss: float = math.nan
    test_accuracy: float = math.nan
    fit_seconds: float = 0.0
    train_images_per_second: float = 0.0
    epoch_train_seconds: list[float] = field(default_factory=list)  # training part of each epoch


def configure_tensorflow(*, threads: int, deterministic: bool) -> None:
    """Thread pools and determinism. TensorFlow takes pool sizes only before its runtime starts, so
    a pool is set only when it differs from the wanted size: the later jobs of a sweep, which want
    the sizes the first one set, change nothing and say nothing; a runtime that already started
    with other sizes keeps them, with a warning."""
    import tensorflow as tf

    pools = tf.config.threading
    # One inter-op thread: a Keras train step is a chain of ops, each already spread over the
    # intra-op pool; a second pool only competes for the cores (on 2 cores, intra 2 / inter 1
    # trained 1.0-1.2x faster than TensorFlow's default 2 / 2, bare Keras and prepbench alike).
    # tf.data's map runs on its own pool and is not affected. threads=0 leaves intra-op as it is.
    wanted = [(pools.get_inter_op_parallelism_threads, pools.set_inter_op_parallelism_threads, 1)]
    if threads > 0:
        wanted.insert(0, (pools.get_intra_op_parallelism_threads, pools.set_intra_op_parallelism_threads, threads))
    try:
        for get, set_, size in wanted:
            if get() != size:
                set_(size)
    except RuntimeError:  # the runtime already started in this process (a test, a notebook)
        log.warning(
            "TensorFlow already started: its thread pools stay as they are (intra-op %d, inter-op %d)",
            pools.get_intra_op_parallelism_threads(),
            pools.get_inter_op_parallelism_threads(),
        )
    if deterministic:
        tf.config.experimental.enable_op_determinism()


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
    """Preprocess the splits once (or take them from `cache`: prepared_arrays) and batch them:
    tf.data on TensorFlow (prepbench.train.pipeline_tf), numpy batches prefetched by a thread on other
    Keras backends (prepbench.train.pipeline_numpy)."""
    if keras.backend.backend() == "tensorflow":
        from prepbench.train.pipeline_tf import make_inputs as make
    else:
        from prepbench.train.pipeline_numpy import make_inputs as make
    return make(splits, p, batch_size=batch_size, epochs=epochs, seed=seed, augmentation=augmentation, cache=cache)


def learning_rate(trainer, steps_per_epoch: int):
    """`trainer.lr` as the optimizer's learning rate: constant, or a cosine decay to 0 over the whole run
    after a linear warm-up from 0 (a plateau in fewer epochs than constant): `trainer.warmup_steps`
    steps where set, else `trainer.warmup_epochs` epochs. `trainer.epochs` is the run's (with
    `trainer.steps`, as prepbench.train.budget resolved it)."""
    if trainer.schedule == "constant":
        return trainer.lr
    total = trainer.epochs * steps_per_epoch
    warmup = trainer.get("warmup_steps")
    warmup = int(warmup) if warmup is not None else trainer.warmup_epochs * steps_per_epoch
    return keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=0.0 if warmup else trainer.lr,
        decay_steps=total - warmup,
        alpha=0.0,
        warmup_target=trainer.lr if warmup else None,
        warmup_steps=warmup,
    )


def make_optimizer(trainer, lr):
    """`trainer.optimizer`: Adam, or SGD with `trainer.momentum` (Nesterov's with `trainer.nesterov`);
    `trainer.weight_decay` is Keras' decoupled decay (weights times 1 - lr * wd each step), 0: none.
    A trainer without these keys (older configs) trains with Adam, as before they existed."""
    decay = trainer.get("weight_decay", 0.0) or None
    if trainer.get("optimizer", "adam") == "sgd":
        return keras.optimizers.SGD(
            learning_rate=lr, momentum=trainer.momentum, nesterov=bool(trainer.nesterov), weight_decay=decay
        )
    return keras.optimizers.Adam(learning_rate=lr, weight_decay=decay)


def compile_model(model, *, lr, steps_per_execution: int = 1, optimizer=None) -> None:
    """Cross-entropy on logits, accuracy: how every prepbench network is trained, by `optimizer`
    (`make_optimizer`; None: Adam at `lr`, a number or a Keras learning-rate schedule)."""
    model.compile(
        optimizer=optimizer if optimizer is not None else keras.optimizers.Adam(learning_rate=lr),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
        # TensorFlow: no XLA (slower on CPU here). JAX: XLA always, since without it Keras runs every
        # op of a step eagerly (on an H200: 645 images/s for the deep net, the speed of 2 CPU cores).
        jit_compile=keras.backend.backend() != "tensorflow",
        steps_per_execution=steps_per_execution,
    )


def fit_and_evaluate(
    inputs: Inputs, *, net, trainer, seed: int, batchnorm: bool, batchnorm_momentum: float | None = None, on_epoch=None
) -> TrainResult:
    """Train (`make_optimizer`), validate after the epochs of `budget.validation_epochs`, evaluate on
    test once. `on_epoch(epoch, metrics)` receives each epoch's metrics (epochs counted from 1; the
    validation metrics only after a validated epoch). `trainer.precision` must be resolved
    (float32 or bfloat16, see prepbench.train.precision); the policy is set for every job."""
    keras.utils.set_random_seed(seed)
    set_keras_policy(trainer.precision)
    model = build_net(
        net,
        num_classes=inputs.num_classes,
        input_shape=inputs.input_shape,
        batchnorm=batchnorm,
        batchnorm_momentum=batchnorm_momentum,
        seed=seed,
    )
    # Several steps per graph call only where the input ends with each epoch (Inputs.start_epoch):
    # Keras runs whole executions, and on a whole-run input they would cross into the next epoch.
    steps_per_execution = trainer.steps_per_execution if inputs.start_epoch else 1
    lr = learning_rate(trainer, inputs.steps_per_epoch)
    compile_model(model, lr=lr, steps_per_execution=steps_per_execution, optimizer=make_optimizer(trainer, lr))
    result = TrainResult(history={name: [] for name in EPOCH_METRICS})
    progress = _Progress(
        trainer.epochs, inputs.num_train, result, on_epoch, asynchronous=keras.backend.backend() != "tensorflow"
    )
    callbacks = [progress]
    if inputs.start_epoch:
        callbacks.insert(
            0, keras.callbacks.LambdaCallback(on_epoch_begin=lambda epoch, logs: inputs.start_epoch(epoch))
        )
    start = time.perf_counter()
    with _stop_on_signal(progress):
        model.fit(
            inputs.train,
            epochs=trainer.epochs,
            steps_per_epoch=None if inputs.start_epoch else inputs.steps_per_epoch,
            validation_data=inputs.val,
            validation_freq=budget.validation_epochs(trainer, trainer.epochs, inputs.steps_per_epoch),
            callbacks=callbacks,
            shuffle=False,  # the pipeline already has the paired order
            verbose=1 if sys.stdout.isatty() else 0,
        )
    result.fit_seconds = time.perf_counter() - start
    result.test_loss, result.test_accuracy = (float(v) for v in model.evaluate(inputs.test, verbose=0))
    result.train_images_per_second = progress.images / max(progress.train_seconds, 1e-9)
    return result


class _Progress(keras.callbacks.Callback):
    """Per-epoch line, metric hand-off, training-only timing, and a stop on a non-finite loss."""

    def __init__(self, epochs, images_per_epoch, result, on_epoch, asynchronous=False):
        super().__init__()
        self.epochs, self.images_per_epoch, self.result, self.on_epoch = epochs, images_per_epoch, result, on_epoch
        self.images, self.train_seconds = 0, 0.0
        # JAX dispatches steps asynchronously: the per-batch checks then run on Keras' callback thread
        # (reading a batch's loss waits for its step) and the epoch's clock stops once the device is done.
        self.asynchronous = self.async_safe = asynchronous

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch_start = time.perf_counter()
        self.train_end = None

    stop_reason = None  # set by a signal: see _stop_on_signal

    def on_train_batch_end(self, batch, logs=None):
        if self.stop_reason:
            raise KeyboardInterrupt(self.stop_reason)
        if logs and not math.isfinite(float(logs.get("loss", 0.0))):
            raise NonFiniteLossError(
                f"non-finite training loss {logs['loss']} at epoch {self.current + 1}, batch {batch + 1}"
            )

    def on_test_begin(self, logs=None):
        if self.asynchronous:
            keras.ops.convert_to_numpy(self.model.trainable_variables[-1])  # waits for the last step
        self.train_end = time.perf_counter()

    @property
    def current(self):
        return len(self.result.history["train_loss"])

    def on_epoch_end(self, epoch, logs=None):
        train_end = self.train_end or time.perf_counter()
        self.train_seconds += train_end - self.epoch_start
        self.result.epoch_train_seconds.append(train_end - self.epoch_start)
        self.images += self.images_per_epoch
        metrics = {"train_loss": logs["loss"], "train_accuracy": logs["accuracy"]}
        if "val_loss" in logs:  # absent with data.val_size=0
            metrics.update(val_loss=logs["val_loss"], val_accuracy=logs["val_accuracy"])
        metrics = {k: float(v) for k, v in metrics.items()}
        for name, value in metrics.items():
            self.result.history[name].append(value)
        seconds = time.perf_counter() - self.epoch_start
        val = (
            f"  val_loss {metrics['val_loss']:.4f}  val_acc {metrics['val_accuracy']:.4f}"
            if "val_loss" in metrics
            else ""
        )
        print(
            f"  epoch {epoch + 1}/{self.epochs}: loss {metrics['train_loss']:.4f}  acc {metrics['train_accuracy']:.4f}"
            f"{val}  ({seconds:.1f} s)",
            flush=True,
        )
        if self.on_epoch:
            self.on_epoch(epoch + 1, metrics)


@contextmanager
def _stop_on_signal(progress: _Progress):
    """Ctrl-C and SIGTERM stop training: at once, and again at the next batch in case a library
    swallowed the first KeyboardInterrupt (SQLAlchemy's connection pool catches BaseException)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    stops = (signal.SIGINT, signal.SIGTERM)
    previous = {sig: signal.getsignal(sig) for sig in stops}

    def stop(signum, frame):
        progress.stop_reason = f"signal {signal.Signals(signum).name}"
        raise KeyboardInterrupt(progress.stop_reason)

    for sig in stops:
        signal.signal(sig, stop)
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
