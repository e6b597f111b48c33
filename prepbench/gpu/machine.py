"""The GPU machine (JAX's devices, nvidia-smi, library versions) and its measured throughput: each
net's training and evaluation images/s after compilation, and the device-side augmentation's."""

from __future__ import annotations

import math
import os
import subprocess
import time


def log(message: str) -> None:
    print(f"[gpu_study {time.strftime('%H:%M:%S')}] {message}", flush=True)


def schedule_settings(lr) -> float | dict:
    """A learning rate for gpu.json: the number, or a Keras schedule's class and settings."""
    if isinstance(lr, (int, float)):
        return lr
    return {"schedule": type(lr).__name__, **lr.get_config()}


def machine() -> dict:
    import jax

    from prepbench.track.provenance import versions

    info = {"devices": [f"{d.platform}: {d.device_kind}" for d in jax.devices()], "versions": versions()}
    try:
        info["nvidia_smi"] = subprocess.run(
            ["nvidia-smi", "--query-gpu=name,memory.total,compute_cap,driver_version", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=20,
        ).stdout.strip()
    except OSError:
        info["nvidia_smi"] = None
    info["cpus"] = os.cpu_count()
    return info


def probe(splits, cfg, nets: dict, images: int, epochs: int) -> dict:
    """Training images/s of each net after compilation (epochs 2.. of a short fit on `images`
    training images), evaluation images/s (its per-epoch validation, on the whole validation split),
    and the device-side augmentation's images/s, in this one process. The fit is compiled as a job's
    is (batch size, learning-rate schedule of the whole run, precision, the last short batch of
    training, validation and test), so the workers find these programs in JAX's persistent cache.
    `nets`: each net's config (cfg.net) by name, as the jobs compose it."""
    import dataclasses

    from prepbench.train import fit, precision

    batch = cfg.trainer.batch_size
    precision_used = precision.resolve(cfg.trainer.precision, backend="jax")
    n = len(splits.y_train)
    job_steps = math.ceil(n / batch)  # a job's steps per epoch: its learning-rate schedule's unit
    images = min(n, max(1, images // batch) * batch + n % batch)  # ends with a job's short batch
    small = dataclasses.replace(splits, x_train=splits.x_train[:images], y_train=splits.y_train[:images])
    out = {
        "precision": precision_used,
        "batch_size": batch,
        "images_per_epoch": images,
        "validation_images": len(splits.y_val),
        "learning_rate": schedule_settings(fit.learning_rate(cfg.trainer, job_steps)),
    }
    for net_name, net in nets.items():
        precision.set_keras_policy(precision_used)
        out[net_name] = probe_net(small, cfg, net, epochs=epochs, job_steps=job_steps)
        log(f"probe {net_name}: {out[net_name]}")
    out["augmentation_images_per_second"] = probe_augmentation(small, cfg)
    log(f"probe augmentation: {out['augmentation_images_per_second']} images/s")
    return out


def probe_net(small, cfg, net, *, epochs: int, job_steps: int) -> dict:
    """One net's short fit on `small` (the probe's training images, the whole validation split), as a
    job compiles it; its steady epochs' training and validation rates."""
    import numpy as np

    from prepbench.train import fit
    from prepbench.train.nets import build_net
    from prepbench.variants import build

    images = len(small.y_train)
    inputs = fit.make_inputs(
        small,
        build("none"),
        batch_size=cfg.trainer.batch_size,
        epochs=epochs,
        seed=0,
        augmentation=cfg.augmentation,
    )
    model = build_net(net, num_classes=inputs.num_classes, input_shape=inputs.input_shape, batchnorm=False, seed=0)
    fit.compile_model(model, lr=fit.learning_rate(cfg.trainer, job_steps))
    clock = epoch_clock()
    start = time.perf_counter()
    model.fit(
        inputs.train,
        epochs=epochs,
        steps_per_epoch=inputs.steps_per_epoch,
        validation_data=inputs.val,
        callbacks=[clock],
        shuffle=False,
        verbose=0,
    )
    fit_seconds = time.perf_counter() - start
    model.evaluate(inputs.test, verbose=0)  # the test's programs too (its last short batch)
    steady = float(np.median(clock.train[1:]))
    val = float(np.median(clock.val[1:]))
    return {
        "images_per_second": round(images / steady),
        "eval_images_per_second": round(len(small.y_val) / val) if val > 0 else None,
        "first_epoch_seconds": round(clock.train[0] + clock.val[0], 2),  # compilation included
        "steady_epoch_seconds": round(steady, 3),
        "steady_validation_seconds": round(val, 3),
        "fit_seconds": round(fit_seconds, 2),
    }


def epoch_clock():
    """A Keras callback that records each epoch's training seconds (to the validation's start) and
    validation seconds, the device synchronised at each mark."""
    import keras

    def sync(model):
        keras.ops.convert_to_numpy(model.trainable_variables[-1])

    class Clock(keras.callbacks.Callback):
        """Each epoch's training seconds (to the validation's start) and validation seconds."""

        def __init__(self):
            super().__init__()
            self.train, self.val = [], []

        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()
            self.val_start = None

        def on_test_begin(self, logs=None):
            if self.val_start is None:
                sync(self.model)
                self.val_start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            sync(self.model)
            end = time.perf_counter()
            self.train.append((self.val_start or end) - self.start)
            self.val.append(end - self.val_start if self.val_start else float("nan"))

    return Clock()


def probe_augmentation(small, cfg) -> int:
    """The augmentation alone: warp + normalization on the device, batches prepared by the thread;
    images/s of its second epoch (the first compiles, full and short batch)."""
    import keras

    from prepbench.train import fit
    from prepbench.variants import build

    images = len(small.y_train)
    p = build("augment")
    inputs = fit.make_inputs(
        small, p, batch_size=cfg.trainer.batch_size, epochs=2, seed=0, augmentation=cfg.augmentation
    )
    batches = iter(inputs.train)
    for _ in range(inputs.steps_per_epoch):  # the first epoch compiles (full and short batch)
        x, _ = next(batches)
    keras.ops.convert_to_numpy(x[:1])
    start = time.perf_counter()
    for _ in range(inputs.steps_per_epoch):
        x, _ = next(batches)
    keras.ops.convert_to_numpy(x[:1])
    return round(images / (time.perf_counter() - start))
