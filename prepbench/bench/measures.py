"""The measurements: timing primitives, then one function per report section (each takes the
Bench context and returns its section of bench.json), listed in MEASURES in the order they run."""

from __future__ import annotations

import math
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from prepbench.bench.plans import (
    HARNESS_VARIANTS,
    JPEG_ZIP,
    NETS,
    PIPELINE_VARIANTS,
    Plan,
    augmentation_conf,
    conf,
    idg_for,
    preprocessor,
    subset,
)
from prepbench.bench.ratios import median, ratio, seconds


@dataclass
class Bench:
    """What the measures share: the plan, the data, a log, and what one measure hands to a later one."""

    plan: Plan
    splits: object  # prepbench.data.splits.Splits
    data_name: str
    sweep: bool = False  # take the sweep-level figures
    log: Callable[[str], None] = print
    fitted: dict = field(default_factory=dict)  # ZCA fits reused by the pipeline measure
    peaks: list = field(default_factory=list)  # matmul peak readings, taken beside the training


# ---- timing primitives --------------------------------------------------------------------------


def idg_flow_throughput(idg, x, y, *, images: int, batch_size: int) -> dict:
    """IDG `flow`: pull batches covering `images` images; images/s of batches fully produced."""
    it = idg.flow(x[:images], y[:images], batch_size=batch_size, shuffle=True, seed=0)
    batches = math.ceil(min(images, len(x)) / batch_size)

    def pull():
        return sum(len(next(it)[0]) for _ in range(batches))

    elapsed, n = seconds(pull)
    return {"images": n, "seconds": elapsed, "images_per_second": n / elapsed}


def pipeline_throughput(splits, p, *, epochs: int, batch_size: int, cache=None) -> dict:
    """prepbench's training input (fit.make_inputs): setup (static work, once) and then every
    batch of `epochs` epochs fully produced. `images_per_second` is the steady rate the training
    loop sees; `with_setup_images_per_second` charges the one-time static work to these epochs.
    With a `cache` (prepbench.data.cache.JobCache) that already holds the variant's arrays, the setup is
    the batching alone, as for a sweep's later jobs."""
    from prepbench.train import fit

    setup, inputs = seconds(
        lambda: fit.make_inputs(
            splits, p, batch_size=batch_size, epochs=epochs, seed=0, augmentation=augmentation_conf(), cache=cache
        )
    )

    def produce():
        n = 0
        for x, _ in inputs.run_batches(epochs):
            n += int(x.shape[0])
        return n

    elapsed, n = seconds(produce)
    return {
        "images": n,
        "seconds": elapsed,
        "setup_seconds": setup,
        "images_per_second": n / elapsed,
        "with_setup_images_per_second": n / (elapsed + setup),
    }


def zca_fits(x_uint8, *, all_images=None) -> dict:
    """IDG's ZCA fit vs prepbench's, on the same images; optionally prepbench's on the whole split."""
    from prepbench.variants import build

    idg = idg_for("zca")
    idg_seconds, _ = seconds(lambda: idg.fit(x_uint8))
    ours = build("zca")
    ours_seconds, _ = seconds(lambda: ours.fit(x_uint8))
    out = {
        "images": len(x_uint8),
        "idg_seconds": idg_seconds,
        "prepbench_seconds": ours_seconds,
        "idg": idg,
        "prepbench": ours,
    }
    if all_images is not None:
        out["prepbench_all_images"] = len(all_images)
        out["prepbench_all_seconds"] = seconds(lambda: build("zca").fit(all_images))[0]
    return out


def epoch_timer():
    """A Keras callback adding up training seconds per epoch (bare fit has no validation)."""
    import keras

    class EpochTimer(keras.callbacks.Callback):
        seconds = 0.0

        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.seconds += time.perf_counter() - self.start

    return EpochTimer()


def bench_model(net, splits):
    """The network a measurement trains: nets.build_model from a net config, no batch norm, seed 0."""
    from prepbench.train.nets import build_model

    return build_model(
        depth=net.depth,
        width=net.width,
        dense=net.dense,
        num_classes=len(splits.class_names),
        input_shape=splits.x_train.shape[1:],
        batchnorm=False,
        seed=0,
    )


def bare_fit_throughput(splits, net, *, epochs: int, batch_size: int, lr: float = 1e-3) -> dict:
    """Bare Keras: the same network (nets.build_model), `model.fit` on normalized in-memory tensors
    (x / 255), no augmentation, no validation."""
    import keras
    import tensorflow as tf

    from prepbench.train.fit import compile_model
    from prepbench.train.precision import set_keras_policy

    keras.utils.set_random_seed(0)
    set_keras_policy("float32")  # whatever an earlier measure left
    model = bench_model(net, splits)
    compile_model(model, lr=lr)
    x = tf.constant(splits.x_train.astype(np.float32) / 255)
    y = tf.constant(splits.y_train.astype(np.int32))
    timer = epoch_timer()
    model.fit(x, y, batch_size=batch_size, epochs=epochs, shuffle=True, verbose=0, callbacks=[timer])
    n = len(splits.y_train) * epochs
    return {"images": n, "seconds": timer.seconds, "images_per_second": n / timer.seconds}


def harness_throughput(
    splits, net, variant: str, *, epochs: int, batch_size: int, lr: float = 1e-3, precision: str = "float32"
) -> dict:
    """A prepbench job's training: fit.make_inputs + fit.fit_and_evaluate, its own timing."""
    from prepbench.config import compose
    from prepbench.train import fit

    p = preprocessor(variant)
    fit_seconds, _ = seconds(lambda: p.fit(splits.x_train))
    inputs = fit.make_inputs(splits, p, batch_size=batch_size, epochs=epochs, seed=0, augmentation=augmentation_conf())
    settings = dict(epochs=epochs, lr=lr, batch_size=batch_size, precision=precision, schedule="constant")
    trainer = compose([f"trainer.{key}={value}" for key, value in settings.items()]).trainer
    result = fit.fit_and_evaluate(inputs, net=net, trainer=trainer, seed=0, batchnorm=p.batchnorm)
    return {
        "images": len(splits.y_train) * epochs,
        "images_per_second": result.train_images_per_second,
        "steady_images_per_second": steady_rate(len(splits.y_train), result.epoch_train_seconds),
        "prep_fit_seconds": fit_seconds,
    }


def steady_rate(images_per_epoch: int, epoch_seconds: list[float]) -> float:
    """Images/s once training runs: the median epoch after the first, whose time includes tracing
    the train step (seconds on the deep net, as long as a whole bfloat16 epoch of a small plan)."""
    later = epoch_seconds[1:] or epoch_seconds
    return images_per_epoch / median(later)


def training_flops_per_image(model) -> dict:
    """Analytic FLOPs per image: conv 2*H*W*k*k*Cin*Cout (output size), dense 2*in*out, forward;
    training = 3 x forward (forward, gradient w.r.t. inputs, gradient w.r.t. weights). Pooling,
    ReLU, biases and the loss are left out (under 1% here)."""
    from keras import layers

    forward = 0
    for layer in model.layers:
        if isinstance(layer, layers.Conv2D):
            _, h, w, c_out = layer.output.shape
            kh, kw, c_in, _ = layer.kernel.shape
            forward += 2 * h * w * kh * kw * c_in * c_out
        elif isinstance(layer, layers.Dense):
            c_in, c_out = layer.kernel.shape
            forward += 2 * c_in * c_out
    return {"forward": int(forward), "training": int(3 * forward)}


def matmul_peak(n: int = 2048, reps: int = 10, dtype: str = "float32") -> dict:
    """matmul FLOP rate (n x n by n x n) in `dtype`, best of three timings of `reps` chained products."""
    import tensorflow as tf

    a = tf.cast(tf.random.stateless_normal((n, n), seed=(1, 2)) / math.sqrt(n), dtype)

    @tf.function
    def chain(x):
        for _ in range(reps):
            x = tf.matmul(x, a)
        return tf.reduce_sum(x)

    chain(a).numpy()  # trace and warm up
    best = min(seconds(lambda: chain(a).numpy())[0] for _ in range(3))
    return {"n": n, "dtype": dtype, "gflops": 2 * n**3 * reps / best / 1e9}


# ---- the report's sections ----------------------------------------------------------------------


def zca_fit_section(b: Bench) -> dict:
    """ZCA fit, IDG then prepbench, on the same images; the fitted objects go to the pipeline measure."""
    b.log(f"[bench] ZCA fit on {b.plan.zca_fit_images} images (IDG, then prepbench)")
    x_fit = subset(b.splits, b.plan.zca_fit_images).x_train
    fits = zca_fits(x_fit, all_images=b.splits.x_train if b.plan.zca_fit_all else None)
    b.fitted["zca"] = (fits.pop("idg"), fits.pop("prepbench"))
    return fits


def pipeline_section(b: Bench) -> dict:
    """Input pipelines: IDG flow vs fit.make_inputs, the same images, the same batch size."""
    from prepbench.data.cache import JobCache

    plan, bs = b.plan, b.plan.batch_size
    pipe = {}
    pipe_splits = subset(b.splits, plan.pipeline_images, n_eval=bs)
    # Shared by the repeats, as the process-wide cache was before it was passed explicitly: the
    # repeats after the first find the variant's arrays prepared (their setup is the batching alone).
    cache = JobCache()
    for variant in PIPELINE_VARIANTS:
        # IDG's ZCA was fitted on the ZCA-fit images; it flows over the same kind of images.
        if variant in b.fitted:
            idg, p = b.fitted[variant]
        else:
            idg, p = idg_for(variant), preprocessor(variant)
            idg.fit(pipe_splits.x_train)
            p.fit(pipe_splits.x_train)
        rows = []
        for r in range(plan.repeats):
            b.log(f"[bench] pipeline {variant} repeat {r + 1}/{plan.repeats}")
            i = idg_flow_throughput(
                idg, pipe_splits.x_train, pipe_splits.y_train, images=plan.idg_images[variant], batch_size=bs
            )
            o = pipeline_throughput(pipe_splits, p, epochs=plan.pipeline_epochs, batch_size=bs, cache=cache)
            rows.append(
                {
                    "idg": i,
                    "prepbench": o,
                    "ratio": ratio(o["images_per_second"], i["images_per_second"]),
                    "ratio_with_setup": ratio(o["with_setup_images_per_second"], i["images_per_second"]),
                }
            )
        pipe[variant] = {
            "repeats": rows,
            "ratio": median(r["ratio"] for r in rows),
            "ratio_with_setup": median(r["ratio_with_setup"] for r in rows),
        }
    return pipe


def training_section(b: Bench) -> dict:
    """Training: a prepbench job's training loop vs bare Keras, the same net, interleaved repeats.
    The peak is measured beside each net's training too, and the best kept (matmul_peak_section):
    on a shared machine a single reading taken while others load the cores understates it."""
    plan, bs = b.plan, b.plan.batch_size
    b.peaks.append(matmul_peak())
    train_splits = subset(b.splits, plan.train_images)
    training = {}
    for name in NETS:
        net = conf("net", name)
        flops = training_flops_per_image(bench_model(net, b.splits))
        rows = []
        for r in range(plan.repeats):
            b.peaks.append(matmul_peak())
            b.log(f"[bench] {name}: bare Keras, repeat {r + 1}/{plan.repeats}")
            row = {"bare": bare_fit_throughput(train_splits, net, epochs=plan.train_epochs, batch_size=bs)}
            for variant in HARNESS_VARIANTS:
                b.log(f"[bench] {name}: prepbench {variant}, repeat {r + 1}/{plan.repeats}")
                row[variant] = harness_throughput(train_splits, net, variant, epochs=plan.train_epochs, batch_size=bs)
            rows.append(row)
        training[name] = net_summary(rows, flops)
    return training


def net_summary(rows: list[dict], flops: dict) -> dict:
    """One net's training figures: medians over the repeats, ratios to bare Keras, FLOP rates."""

    def ips(key):
        return median(row[key]["images_per_second"] for row in rows)

    ratios = {
        v: median(ratio(row[v]["images_per_second"], row["bare"]["images_per_second"]) for row in rows)
        for v in HARNESS_VARIANTS
    }
    bare_ips, none_ips = ips("bare"), ips("none")
    return {
        "flops_per_image": flops,
        "repeats": rows,
        "harness_vs_bare": ratios,
        "bare_images_per_second": bare_ips,
        "harness_none_images_per_second": none_ips,
        "harness_gflops": none_ips * flops["training"] / 1e9,
        "bare_gflops": bare_ips * flops["training"] / 1e9,
    }


def precision_section(b: Bench) -> dict:
    """The same prepbench job (variant none) in float32 and in bfloat16, alternated back to back,
    steady training rate (after the first epoch); the bfloat16 matmul peak read beside each repeat,
    best reading kept."""
    plan, bs = b.plan, b.plan.batch_size
    train_splits = subset(b.splits, plan.train_images)
    out, peaks = {}, []
    for name in NETS:
        net = conf("net", name)
        flops = training_flops_per_image(bench_model(net, b.splits))
        rows = []
        for r in range(plan.repeats):
            peaks.append(matmul_peak(dtype="bfloat16"))
            row = {}
            for precision in ("float32", "bfloat16"):
                b.log(f"[bench] {name}: prepbench none in {precision}, repeat {r + 1}/{plan.repeats}")
                row[precision] = harness_throughput(
                    train_splits, net, "none", epochs=plan.train_epochs, batch_size=bs, precision=precision
                )
            rows.append(row)

        def steady(precision, rows=rows):
            return median(row[precision]["steady_images_per_second"] for row in rows)

        out[name] = {
            "flops_per_image": flops,
            "repeats": rows,
            "float32_images_per_second": steady("float32"),
            "bfloat16_images_per_second": steady("bfloat16"),
            "ratio": median(
                ratio(row["bfloat16"]["steady_images_per_second"], row["float32"]["steady_images_per_second"])
                for row in rows
            ),
            "bfloat16_gflops": steady("bfloat16") * flops["training"] / 1e9,
            "float32_gflops": steady("float32") * flops["training"] / 1e9,
        }
    from prepbench.train.precision import set_keras_policy

    set_keras_policy("float32")  # leave the process as the other measures expect it
    peak = max(peaks, key=lambda p: p["gflops"]) | {"readings_gflops": [p["gflops"] for p in peaks]}
    return {"nets": out, "matmul_peak_bf16": peak}


def matmul_peak_section(b: Bench) -> dict:
    """The best matmul reading of the run (no measurement of its own: the training section's readings)."""
    return max(b.peaks, key=lambda p: p["gflops"]) | {"readings_gflops": [p["gflops"] for p in b.peaks]}


def sweep_section(b: Bench) -> dict:
    """Fixed cost per job, re-run of a FINISHED sweep, determinism cost (prepbench.bench.sweeps)."""
    from prepbench.bench.sweeps import sweep_figures

    b.log("[bench] sweep-level figures (fixed cost per job, re-run of a FINISHED sweep)")
    data = ["data=folder", f"data.path={JPEG_ZIP}"] if b.data_name.startswith("CIFAR") else ["data=synthetic"]
    with tempfile.TemporaryDirectory(prefix="prepbench-bench-") as workdir:
        return sweep_figures(Path(workdir), ["experiment=cpu", *data])


def backends_section(b: Bench) -> dict:
    """The same prepbench job (variant none, float32) on JAX and on TensorFlow: each run a fresh
    process (Keras runs one backend per process; TensorFlow blocked in the JAX ones), alternated,
    steady training rate (prepbench.bench.backend_speed)."""
    from prepbench.bench import backend_speed
    from prepbench.train import backend

    if not backend.installed("jax"):
        return {"skipped": "jax is not installed (pip install -e '.[jax]')"}
    plan = b.plan
    if b.data_name.startswith("CIFAR"):
        data = backend_speed.folder_data(JPEG_ZIP, plan.train_images)
    else:
        data = list(backend_speed.SYNTHETIC)
    b.log("[bench] the same job on JAX and on TensorFlow (fresh processes, alternated)")
    rows = backend_speed.compare(
        data, nets=NETS, variants=("none",), epochs=max(2, plan.train_epochs), repeats=plan.repeats, log=b.log
    )
    return {"jobs": rows}


@dataclass(frozen=True)
class Measure:
    key: str  # its section of bench.json
    run: Callable[[Bench], dict]
    when: Callable[[Bench], bool] = lambda b: True


MEASURES = (
    Measure("zca_fit", zca_fit_section),
    Measure("pipeline", pipeline_section),
    Measure("training", training_section),
    Measure("precision", precision_section),
    Measure("matmul_peak", matmul_peak_section),
    Measure("sweep", sweep_section, when=lambda b: b.sweep),
    # Processes that train full-size nets on both backends: not in the tests' tiny plan
    # (tests/test_backend_speed.py checks the measure on tiny nets).
    Measure("backends", backends_section, when=lambda b: b.plan.name != "tiny"),
)
