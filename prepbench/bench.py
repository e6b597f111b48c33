"""`python -m prepbench.bench --out DIR [--quick]`: prepbench against the memo's way and bare Keras.

Everything is measured side by side in one process, on the same images, and reported as ratios
(absolute speeds on a shared 2-core machine are noise; ratios measured together are not):

    pipeline_vs_idg.<variant>      prepbench's training-input pipeline (train.make_inputs; images/s of
                                   batches fully produced) / ImageDataGenerator.flow on the same work
    zca_fit_vs_idg                 IDG's ZCA fit time / prepbench's, same images
    harness_vs_bare.<net>.<var>    training images/s of a prepbench job (make_inputs + fit_and_evaluate)
                                   / a bare Keras `fit` of the same model on normalized in-memory tensors
    flops_vs_peak.<net>            training FLOP rate / a float32 matmul's FLOP rate measured in this run

Writes DIR/bench.json (machine-readable: ratios, raw figures, machine, versions, command) and
DIR/bench.md (the same as tables). Speed is never asserted by the tests; this command reports it.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from prepbench import ROOT

JPEG_ZIP = ROOT.parent / "shared" / "data" / "cifar10-jpeg.zip"
PIPELINE_VARIANTS = ("std", "zca", "augment")  # augment = the memo's augmentation + featurewise std
HARNESS_VARIANTS = ("none", "std", "zca", "augment")
NETS = ("shallow", "deep")
TARGETS = {
    "pipeline_vs_idg.std": 4.0,
    "pipeline_vs_idg.zca": 50.0,
    "pipeline_vs_idg.augment": 4.0,
    "zca_fit_vs_idg": 4.0,
    "harness_vs_bare.*": 0.9,
    "flops_vs_peak.deep": 0.6,
}


@dataclass(frozen=True)
class Plan:
    """How much work each measurement gets."""

    name: str
    pipeline_images: int  # training images the pipelines produce per epoch
    pipeline_epochs: int
    idg_images: dict  # images IDG's flow produces, per variant (IDG's ZCA is slow)
    zca_fit_images: int  # the same images for both fits
    zca_fit_all: bool  # also time prepbench's fit on the whole training split
    train_images: int  # harness and bare training
    train_epochs: int
    repeats: int
    batch_size: int = 128
    sweep: bool = False  # the sweep-level figures (fixed cost per job, re-run of a FINISHED sweep)


PLANS = {
    "full": Plan("full", 10_000, 2, {"std": 10_000, "zca": 2_560, "augment": 10_000}, 10_000, True, 5_000, 2, 2, sweep=True),
    "quick": Plan("quick", 5_000, 1, {"std": 2_560, "zca": 1_280, "augment": 2_560}, 2_000, False, 1_280, 2, 1),
    # Seconds, on small synthetic images: for the tests.
    "tiny": Plan("tiny", 256, 1, {"std": 128, "zca": 128, "augment": 128}, 96, False, 128, 1, 1, batch_size=32),
}


# ---- data ---------------------------------------------------------------------------------------


def load_data(source: str, cache_dir: str | None = None):
    """(Splits, note): the shared CIFAR-10 JPEG copy, or synthetic images when it is absent or asked for."""
    from omegaconf import OmegaConf

    from prepbench.data import load_splits

    cache_dir = cache_dir or os.environ.get("PREPBENCH_CACHE", os.path.expanduser("~/.cache/prepbench"))
    cfg = OmegaConf.load(ROOT / "conf" / "data_splits.yaml")
    if source == "auto":
        source = "folder" if JPEG_ZIP.exists() else "synthetic"
        note = "" if source == "folder" else f"{JPEG_ZIP} is absent: SYNTHETIC images, not CIFAR-10"
    else:
        note = "synthetic images, not CIFAR-10" if source == "synthetic" else ""
    if source == "folder":
        cfg.merge_with(dict(source="folder", path=str(JPEG_ZIP), cache_dir=cache_dir))
        name = "CIFAR-10 (JPEG q75 copy)"
    else:
        synthetic = OmegaConf.load(ROOT / "conf" / "data" / "synthetic.yaml")
        synthetic.pop("defaults", None)
        cfg.merge_with(synthetic)
        cfg.merge_with(dict(cache_dir=cache_dir, size=32, train_images=1_200, test_images=200, val_size=100, num_classes=10))
        name = "synthetic 32x32"
    return load_splits(cfg), name, note


def subset(splits, n_train: int, n_eval: int = 256):
    """The first n_train training images (a fair sample: splits are class-mixed), small val/test."""
    from prepbench.data import Splits

    def take(x, n):
        return np.resize(x, (n, *x.shape[1:])) if len(x) < n else x[:n]  # repeat if the source is small

    return Splits(
        take(splits.x_train, n_train), take(splits.y_train, n_train),
        take(splits.x_val, n_eval), take(splits.y_val, n_eval),
        take(splits.x_test, n_eval), take(splits.y_test, n_eval),
        splits.class_names, splits.fingerprint,
    )


# ---- configuration ------------------------------------------------------------------------------


def conf(path: str):
    from omegaconf import OmegaConf

    node = OmegaConf.load(ROOT / "conf" / path)
    node.pop("defaults", None)
    return node


def augmentation_conf():
    from omegaconf import OmegaConf

    return OmegaConf.load(ROOT / "conf" / "config.yaml").augmentation


def preprocessor(variant: str):
    """prepbench's preprocessor for a benchmark variant; `augment` carries featurewise std, like the memo."""
    from prepbench.preprocess import build

    return build("std", augment=True) if variant == "augment" else build(variant)


def idg_for(variant: str):
    """The memo's ImageDataGenerator for the same work (rescale 1/255 first, as the memo does)."""
    import tensorflow as tf

    ImageDataGenerator = tf.keras.preprocessing.image.ImageDataGenerator

    options = dict(rescale=1 / 255, featurewise_center=True)
    if variant in ("std", "augment"):
        options["featurewise_std_normalization"] = True
    if variant == "zca":
        options.update(zca_whitening=True, zca_epsilon=float(conf("prep/zca.yaml").zca_epsilon))
    if variant == "augment":
        a = augmentation_conf()
        options.update(
            rotation_range=a.rotation_degrees, width_shift_range=a.shift_fraction, height_shift_range=a.shift_fraction,
            horizontal_flip=a.horizontal_flip, fill_mode=a.fill_mode,
        )
    return ImageDataGenerator(**options)


# ---- measurements -------------------------------------------------------------------------------


def seconds(call):
    start = time.perf_counter()
    value = call()
    return time.perf_counter() - start, value


def idg_flow_throughput(idg, x, y, *, images: int, batch_size: int) -> dict:
    """IDG `flow`: pull batches covering `images` images; images/s of batches fully produced."""
    it = idg.flow(x[:images], y[:images], batch_size=batch_size, shuffle=True, seed=0)
    batches = math.ceil(min(images, len(x)) / batch_size)

    def pull():
        return sum(len(next(it)[0]) for _ in range(batches))

    elapsed, n = seconds(pull)
    return {"images": n, "seconds": elapsed, "images_per_second": n / elapsed}


def pipeline_throughput(splits, p, *, epochs: int, batch_size: int) -> dict:
    """prepbench's training input (train.make_inputs): setup (static work, once) and then every
    batch of `epochs` epochs fully produced. `images_per_second` is the steady rate the training
    loop sees; `with_setup_images_per_second` charges the one-time static work to these epochs."""
    from prepbench import train

    setup, inputs = seconds(
        lambda: train.make_inputs(splits, p, batch_size=batch_size, epochs=epochs, seed=0, augmentation=augmentation_conf())
    )

    def produce():
        n = 0
        for x, _ in inputs.train:
            n += int(x.shape[0])
        return n

    elapsed, n = seconds(produce)
    return {
        "images": n, "seconds": elapsed, "setup_seconds": setup,
        "images_per_second": n / elapsed, "with_setup_images_per_second": n / (elapsed + setup),
    }


def zca_fits(x_uint8, *, all_images=None) -> dict:
    """IDG's ZCA fit vs prepbench's, on the same images; optionally prepbench's on the whole split."""
    from prepbench.preprocess import build

    idg = idg_for("zca")
    idg_seconds, _ = seconds(lambda: idg.fit(x_uint8))
    ours = build("zca")
    ours_seconds, _ = seconds(lambda: ours.fit(x_uint8))
    out = {"images": len(x_uint8), "idg_seconds": idg_seconds, "prepbench_seconds": ours_seconds, "idg": idg, "prepbench": ours}
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


def bare_fit_throughput(splits, net, *, epochs: int, batch_size: int, lr: float = 1e-3) -> dict:
    """Bare Keras: the same network (nets.build_model), `model.fit` on normalized in-memory tensors
    (x / 255), no augmentation, no validation."""
    import keras
    import tensorflow as tf

    from prepbench.nets import build_model
    from prepbench.train import compile_model

    keras.utils.set_random_seed(0)
    model = build_model(
        depth=net.depth, width=net.width, dense=net.dense, num_classes=len(splits.class_names),
        input_shape=splits.x_train.shape[1:], batchnorm=False, seed=0,
    )
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
    """A prepbench job's training: train.make_inputs + train.fit_and_evaluate, its own timing."""
    from omegaconf import OmegaConf

    from prepbench import train

    p = preprocessor(variant)
    fit_seconds, _ = seconds(lambda: p.fit(splits.x_train))
    inputs = train.make_inputs(splits, p, batch_size=batch_size, epochs=epochs, seed=0, augmentation=augmentation_conf())
    trainer = OmegaConf.merge(
        OmegaConf.load(ROOT / "conf" / "trainer" / "default.yaml"),
        dict(epochs=epochs, lr=lr, batch_size=batch_size, precision=precision, schedule="constant"),
    )
    result = train.fit_and_evaluate(inputs, net=net, trainer=trainer, seed=0, batchnorm=p.batchnorm)
    return {
        "images": len(splits.y_train) * epochs, "images_per_second": result.train_images_per_second,
        "prep_fit_seconds": fit_seconds,
    }


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


def matmul_peak(n: int = 2048, reps: int = 10) -> dict:
    """float32 matmul FLOP rate (n x n by n x n), best of three timings of `reps` chained products."""
    import tensorflow as tf

    a = tf.random.stateless_normal((n, n), seed=(1, 2)) / math.sqrt(n)

    @tf.function
    def chain(x):
        for _ in range(reps):
            x = tf.matmul(x, a)
        return tf.reduce_sum(x)

    chain(a).numpy()  # trace and warm up
    best = min(seconds(lambda: chain(a).numpy())[0] for _ in range(3))
    return {"n": n, "gflops": 2 * n**3 * reps / best / 1e9}


# ---- the sweep-level figures --------------------------------------------------------------------


def sweep_figures(workdir: Path, cpu_overrides: list[str], repeats: int = 2) -> dict:
    """Fixed cost per job (a 1-epoch job vs a 2-epoch job of the cpu study's budget, in this
    process, through job.run_job) and the wall time of re-running an all-FINISHED sweep."""
    from hydra import compose, initialize_config_dir

    from prepbench.job import run_job

    db = workdir / "mlflow.db"
    uri = f"sqlite:///{db}"
    out: dict = {"uri": uri}
    jobs: dict = {}
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):

        def job(prep: str, epochs: int) -> float:
            overrides = [*cpu_overrides, f"prep={prep}", "net=shallow", f"trainer.epochs={epochs}",
                         f"tracking.uri={uri}", "study=bench-fixed-cost", "rerun=true"]
            cfg = compose(config_name="config", overrides=overrides)
            return seconds(lambda: run_job(cfg, overrides))[0]

        job("none", 1)  # warm-up, not counted: imports, the MLflow store's creation, the data cache
        for _ in range(repeats):
            for prep in ("none", "zca"):
                for epochs in (1, 2):
                    jobs.setdefault(f"{prep}/{epochs}", {"runs": []})["runs"].append(job(prep, epochs))
    for key, value in list(jobs.items()):
        value["seconds"] = median(value["runs"])
    for prep in ("none", "zca"):
        one, two = jobs[f"{prep}/1"]["seconds"], jobs[f"{prep}/2"]["seconds"]
        jobs[prep] = {"per_epoch_seconds": two - one, "fixed_seconds": 2 * one - two}
    out["fixed_cost"] = jobs
    from omegaconf import OmegaConf

    cpu_epochs = int(OmegaConf.load(ROOT / "experiments" / "cpu.yaml").trainer.epochs)
    for prep in ("none", "zca"):
        fc = jobs[prep]
        fc["share_of_cpu_job"] = ratio(fc["fixed_seconds"], fc["fixed_seconds"] + cpu_epochs * fc["per_epoch_seconds"])
    out["cpu_epochs"] = cpu_epochs

    command = [sys.executable, "-m", "prepbench", "-m", "experiment=smoke", f"tracking.uri={uri}",
               f"hydra.sweep.dir={workdir / 'sweeps'}"]
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    startup = seconds(lambda: subprocess.run([sys.executable, "-m", "prepbench", "--help"], cwd=ROOT, env=env, capture_output=True))[0]
    first, r1 = seconds(lambda: subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True))
    second, r2 = seconds(lambda: subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True))
    out["rerun"] = {
        "command": " ".join(["python -m prepbench", *command[3:]]), "jobs": 6,
        "first_seconds": first, "second_seconds": second, "startup_seconds": startup,
        "per_skipped_job_seconds": (second - startup) / 6,
        "estimated_48_job_seconds": startup + 48 * (second - startup) / 6,
        "second_skipped": r2.stdout.count("skipped, already FINISHED"), "returncodes": [r1.returncode, r2.returncode],
    }
    out["determinism"] = determinism_cost(workdir, cpu_overrides, uri)
    return out


def determinism_cost(workdir: Path, cpu_overrides: list[str], uri: str, repeats: int = 2) -> dict:
    """Training speed with trainer.deterministic=true over false: the same deep-net job in fresh
    processes (op determinism cannot be switched off inside one), alternated to share the noise."""
    import mlflow

    speeds: dict[str, list[float]] = {"true": [], "false": []}
    for _ in range(repeats):
        for flag in ("false", "true"):
            study = f"bench-determinism-{flag}"
            command = [sys.executable, "-m", "prepbench", *cpu_overrides, "net=deep", "trainer.epochs=1",
                       f"trainer.deterministic={flag}", f"tracking.uri={uri}", f"study={study}", "rerun=true",
                       f"hydra.run.dir={workdir / 'runs'}"]
            subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=True)
            mlflow.set_tracking_uri(uri)
            latest = mlflow.search_runs(experiment_names=[study], order_by=["attributes.start_time DESC"], max_results=1)
            speeds[flag].append(float(latest["metrics.train_images_per_second"].iloc[0]))
    return {
        "images_per_second": speeds,
        "deterministic_vs_default": ratio(median(speeds["true"]), median(speeds["false"])),
    }


# ---- the run ------------------------------------------------------------------------------------


def median(values):
    return float(statistics.median(values))


def ratio(numerator: float, denominator: float) -> float:
    """numerator / denominator, NaN when the denominator is not a positive finite number."""
    if not (denominator > 0 and math.isfinite(denominator)):
        return math.nan
    return float(numerator) / float(denominator)


def machine_info() -> dict:
    from prepbench.tracking import hardware

    gpus = []
    if "tensorflow" in sys.modules:
        import tensorflow as tf

        for device in tf.config.list_physical_devices("GPU"):
            gpus.append(tf.config.experimental.get_device_details(device).get("device_name", device.name))
    return {
        "hardware": hardware(), "cpu_count": os.cpu_count(), "platform": platform.platform(),
        "gpus": gpus, "loadavg_start": list(os.getloadavg()),
    }


def run(plan: Plan, *, data: str = "auto", threads: int = 0, cache_dir: str | None = None, sweep: bool | None = None, log=print) -> dict:
    """All measurements of one plan; returns the report as a dict (ratios, raw figures, context)."""
    start = time.perf_counter()
    load_start = list(os.getloadavg())
    splits, data_name, data_note = load_data(data, cache_dir)

    import tensorflow as tf  # noqa: F401

    from prepbench import train
    from prepbench.nets import build_model
    from prepbench.tracking import git_commit, versions

    train.configure_tensorflow(threads=threads, deterministic=False)
    report: dict = {
        "command": " ".join(["python -m prepbench.bench", *sys.argv[1:]]) if sys.argv[0].endswith("bench.py") else None,
        "plan": plan.__dict__ | {"idg_images": dict(plan.idg_images)},
        "git_commit": git_commit(), "versions": versions(), "machine": machine_info() | {"loadavg_start": load_start},
        "threads": {"intra_op": tf.config.threading.get_intra_op_parallelism_threads(),
                    "inter_op": tf.config.threading.get_inter_op_parallelism_threads(), "setting": threads},
        "data": {"name": data_name, "note": data_note, "fingerprint": splits.fingerprint,
                 "train_images_available": len(splits.y_train)},
        "targets": TARGETS,
    }
    bs = plan.batch_size

    # ZCA fit: the same images for both; IDG's fitted generators are reused for its flow below.
    log(f"[bench] ZCA fit on {plan.zca_fit_images} images (IDG, then prepbench)")
    x_fit = subset(splits, plan.zca_fit_images).x_train
    fits = zca_fits(x_fit, all_images=splits.x_train if plan.zca_fit_all else None)
    report["zca_fit"] = {k: v for k, v in fits.items() if k not in ("idg", "prepbench")}

    # Input pipelines: IDG flow vs train.make_inputs, the same images, the same batch size.
    pipe = {}
    pipe_splits = subset(splits, plan.pipeline_images, n_eval=bs)
    for variant in PIPELINE_VARIANTS:
        idg, p = (fits["idg"], fits["prepbench"]) if variant == "zca" else (idg_for(variant), preprocessor(variant))
        if variant != "zca":
            idg.fit(pipe_splits.x_train)
            p.fit(pipe_splits.x_train)
        # IDG's ZCA was fitted on the ZCA-fit images; it flows over the same kind of images.
        rows = []
        for r in range(plan.repeats):
            log(f"[bench] pipeline {variant} repeat {r + 1}/{plan.repeats}")
            i = idg_flow_throughput(idg, pipe_splits.x_train, pipe_splits.y_train, images=plan.idg_images[variant], batch_size=bs)
            o = pipeline_throughput(pipe_splits, p, epochs=plan.pipeline_epochs, batch_size=bs)
            rows.append({"idg": i, "prepbench": o, "ratio": ratio(o["images_per_second"], i["images_per_second"]),
                         "ratio_with_setup": ratio(o["with_setup_images_per_second"], i["images_per_second"])})
        pipe[variant] = {"repeats": rows, "ratio": median(r["ratio"] for r in rows),
                         "ratio_with_setup": median(r["ratio_with_setup"] for r in rows)}
    report["pipeline"] = pipe

    # Training: a prepbench job's training loop vs bare Keras, the same net, interleaved repeats.
    # The peak is measured beside each net's training too, and the best kept: on a shared machine a
    # single reading taken while others load the cores understates it (a ratio above 1 once).
    peaks = [matmul_peak()]
    train_splits = subset(splits, plan.train_images)
    training = {}
    for name in NETS:
        net = conf(f"net/{name}.yaml")
        model = build_model(depth=net.depth, width=net.width, dense=net.dense, num_classes=len(splits.class_names),
                            input_shape=splits.x_train.shape[1:], batchnorm=False, seed=0)
        flops = training_flops_per_image(model)
        rows = []
        for r in range(plan.repeats):
            peaks.append(matmul_peak())
            row = {}
            log(f"[bench] {name}: bare Keras, repeat {r + 1}/{plan.repeats}")
            row["bare"] = bare_fit_throughput(train_splits, net, epochs=plan.train_epochs, batch_size=bs)
            for variant in HARNESS_VARIANTS:
                log(f"[bench] {name}: prepbench {variant}, repeat {r + 1}/{plan.repeats}")
                row[variant] = harness_throughput(train_splits, net, variant, epochs=plan.train_epochs, batch_size=bs)
            rows.append(row)
        ratios = {v: median(ratio(row[v]["images_per_second"], row["bare"]["images_per_second"]) for row in rows) for v in HARNESS_VARIANTS}
        bare_ips = median(row["bare"]["images_per_second"] for row in rows)
        none_ips = median(row["none"]["images_per_second"] for row in rows)
        training[name] = {
            "flops_per_image": flops, "repeats": rows, "harness_vs_bare": ratios,
            "bare_images_per_second": bare_ips, "harness_none_images_per_second": none_ips,
            "harness_gflops": none_ips * flops["training"] / 1e9, "bare_gflops": bare_ips * flops["training"] / 1e9,
        }
    report["training"] = training
    report["matmul_peak"] = max(peaks, key=lambda p: p["gflops"]) | {"readings_gflops": [p["gflops"] for p in peaks]}

    if plan.sweep if sweep is None else sweep:
        log("[bench] sweep-level figures (fixed cost per job, re-run of a FINISHED sweep)")
        cpu = ["experiment=cpu"] + (["data=folder", f"data.path={JPEG_ZIP}"] if data_name.startswith("CIFAR") else ["data=synthetic"])
        with tempfile.TemporaryDirectory(prefix="prepbench-bench-") as workdir:
            report["sweep"] = sweep_figures(Path(workdir), cpu)

    report["ratios"] = compute_ratios(report)
    report["machine"]["loadavg_end"] = list(os.getloadavg())
    report["wall_seconds"] = time.perf_counter() - start
    return report


def compute_ratios(report: dict) -> dict:
    """The headline ratios from the raw figures."""
    peak = report["matmul_peak"]["gflops"]
    return {
        "pipeline_vs_idg": {v: report["pipeline"][v]["ratio"] for v in PIPELINE_VARIANTS},
        "zca_fit_vs_idg": ratio(report["zca_fit"]["idg_seconds"], report["zca_fit"]["prepbench_seconds"]),
        "harness_vs_bare": {net: dict(t["harness_vs_bare"]) for net, t in report["training"].items()},
        "flops_vs_peak": {net: ratio(t["harness_gflops"], peak) for net, t in report["training"].items()},
    }


def target_for(key: str):
    if key in TARGETS:
        return TARGETS[key]
    return TARGETS.get(key.split(".")[0] + ".*")


def flat_ratios(ratios: dict, prefix: str = "") -> dict:
    out = {}
    for key, value in ratios.items():
        name = f"{prefix}{key}"
        out.update(flat_ratios(value, name + ".") if isinstance(value, dict) else {name: value})
    return out


# ---- writing ------------------------------------------------------------------------------------


def markdown(report: dict) -> str:
    r = report
    f = lambda v, d=1: "n/a" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:,.{d}f}"  # noqa: E731
    lines = [
        "# prepbench benchmark",
        "",
        f"Command: `{r.get('command') or 'python -m prepbench.bench'}`  ",
        f"Commit: `{r['git_commit']}`  ",
        f"Data: {r['data']['name']} (fingerprint `{r['data']['fingerprint']}`)" + (f" — **{r['data']['note']}**" if r["data"]["note"] else ""),
        f"Machine: {r['machine']['hardware']}; load average at start {', '.join(f(x, 2) for x in r['machine']['loadavg_start'])}, "
        f"at end {', '.join(f(x, 2) for x in r['machine'].get('loadavg_end', []))} (other engineers share this machine)  ",
        f"TensorFlow threads: intra-op {r['threads']['intra_op']}, inter-op {r['threads']['inter_op']} (0 = TensorFlow's default)  ",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in r["versions"].items()) + "  ",
        f"Plan `{r['plan']['name']}`: {r['plan']['repeats']} repeat(s), batch {r['plan']['batch_size']}; wall time {f(r.get('wall_seconds', 0), 0)} s",
        "",
        "## Headline ratios (higher is better)",
        "",
        "| ratio | measured | target |",
        "|---|---:|---:|",
    ]
    for key, value in flat_ratios(r["ratios"]).items():
        target = target_for(key)
        mark = "" if target is None else (" ✓" if value >= target else " ✗")
        lines.append(f"| `{key}` | {f(value, 2)}{mark} | {'' if target is None else f'≥ {target:g}'} |")

    z = r["zca_fit"]
    lines += ["", "## ZCA fit", "",
              f"On the same {z['images']:,} training images: IDG `fit` {f(z['idg_seconds'])} s, prepbench `fit` {f(z['prepbench_seconds'])} s."]
    if "prepbench_all_seconds" in z:
        lines.append(f"prepbench on all {z['prepbench_all_images']:,} training images: {f(z['prepbench_all_seconds'])} s (target < 30 s).")

    lines += ["", "## Input pipelines (images/s of batches fully produced)", "",
              "IDG: `ImageDataGenerator(rescale=1/255, featurewise ...).flow(x, y, batch_size)`, pulled batch by batch. "
              "prepbench: `train.make_inputs(...).train`, iterated; static work (scaling, standardization, whitening) "
              "is done once in make_inputs (`setup`), augmentation + normalization per batch in tf.data. "
              "`augment` = the memo's rotation 20°, shifts 0.2, flip, nearest fill, then featurewise standardization.",
              "", "| variant | IDG img/s | prepbench img/s | ratio | prepbench setup s | ratio incl. setup |", "|---|---:|---:|---:|---:|---:|"]
    for v, d in r["pipeline"].items():
        i = median(x["idg"]["images_per_second"] for x in d["repeats"])
        o = median(x["prepbench"]["images_per_second"] for x in d["repeats"])
        s = median(x["prepbench"]["setup_seconds"] for x in d["repeats"])
        lines.append(f"| {v} | {f(i, 0)} | {f(o, 0)} | {f(d['ratio'], 1)} | {f(s, 2)} | {f(d['ratio_with_setup'], 1)} |")
    lines += ["", f"Images: IDG {', '.join(f'{k} {v:,}' for k, v in r['plan']['idg_images'].items())}; prepbench "
              f"{r['plan']['pipeline_images']:,} x {r['plan']['pipeline_epochs']} epoch(s). 'incl. setup' charges the "
              "one-time static transform to those epochs only."]

    lines += ["", "## Training: a prepbench job vs bare Keras (training images/s, validation excluded)", "",
              "prepbench: `train.make_inputs` + `train.fit_and_evaluate` (its own timing). Bare: the same "
              "`nets.build_model` network, same compile, `model.fit(x, y, batch_size)` on x/255 tensors in memory, no augmentation.",
              "", "| net | bare img/s | " + " | ".join(f"{v} img/s (ratio)" for v in HARNESS_VARIANTS) + " |",
              "|---|---:|" + "---:|" * len(HARNESS_VARIANTS)]
    for net, t in r["training"].items():
        cells = []
        for v in HARNESS_VARIANTS:
            ips = median(row[v]["images_per_second"] for row in t["repeats"])
            cells.append(f"{f(ips, 0)} ({f(t['harness_vs_bare'][v], 2)})")
        lines.append(f"| {net} | {f(t['bare_images_per_second'], 0)} | " + " | ".join(cells) + " |")
    lines += ["", f"{r['plan']['train_images']:,} images x {r['plan']['train_epochs']} epochs per measurement; "
              "ratio = median over repeats of (prepbench / bare) measured back to back.", "",
              "## FLOP rate", "",
              "FLOPs counted analytically from the layer shapes: conv 2·H·W·k·k·Cin·Cout per image forward, dense "
              "2·in·out; training = 3 x forward; pooling, ReLU, biases and loss left out. Peak: float32 "
              f"{r['matmul_peak']['n']}x{r['matmul_peak']['n']} `tf.matmul`, measured in this run beside each net's training, "
              f"best reading kept: {f(r['matmul_peak']['gflops'])} GFLOP/s (readings: "
              f"{', '.join(f(g) for g in r['matmul_peak'].get('readings_gflops', [r['matmul_peak']['gflops']]))}). The convolutions "
              "(oneDNN) can beat a plain matmul, so a ratio above 1 is possible.",
              "", "| net | training MFLOP/image | prepbench (none) GFLOP/s | bare GFLOP/s | prepbench / peak |", "|---|---:|---:|---:|---:|"]
    for net, t in r["training"].items():
        lines.append(f"| {net} | {f(t['flops_per_image']['training'] / 1e6)} | {f(t['harness_gflops'])} | "
                     f"{f(t['bare_gflops'])} | {f(r['ratios']['flops_vs_peak'][net], 2)} |")

    if "sweep" in r:
        s = r["sweep"]
        lines += ["", "## Sweep-level figures", "",
                  "Fixed cost per job = 2 x t(1 epoch) - t(2 epochs), through `job.run_job` in one process "
                  "(MLflow run, figure, data, preprocessing, model build, test evaluation; not the TensorFlow import), "
                  "`cpu` study budget, shallow net:", "", "| prep | job 1 epoch s | job 2 epochs s | per epoch s | fixed s | fixed / cpu-study job |", "|---|---:|---:|---:|---:|---:|"]
        for prep in ("none", "zca"):
            fc = s["fixed_cost"]
            lines.append(f"| {prep} | {f(fc[prep + '/1']['seconds'])} | {f(fc[prep + '/2']['seconds'])} | "
                         f"{f(fc[prep]['per_epoch_seconds'])} | {f(fc[prep]['fixed_seconds'])} | {f(100 * fc[prep]['share_of_cpu_job'], 0)}% |")
        rr = s["rerun"]
        lines += ["", f"Re-run of an all-FINISHED sweep: `{rr['command']}` ({rr['jobs']} jobs): first run "
                  f"{f(rr['first_seconds'])} s, second run (all skipped: {rr['second_skipped']}) {f(rr['second_seconds'])} s, "
                  "a new Python process each (target: under 30 s). `python -m prepbench --help` takes "
                  f"{f(rr['startup_seconds'])} s, so a skipped job costs {f(rr['per_skipped_job_seconds'], 2)} s and re-running the "
                  f"48-job `cpu` study with everything FINISHED takes about {f(rr['estimated_48_job_seconds'])} s (estimate)."]
        det = s["determinism"]
        lines += ["", "`trainer.deterministic=true` (TensorFlow op determinism), deep net, one epoch of the `cpu` budget, "
                  f"fresh processes alternated: {f(median(det['images_per_second']['true']))} vs "
                  f"{f(median(det['images_per_second']['false']))} training images/s, a ratio of "
                  f"{f(det['deterministic_vs_default'], 2)}."]
    lines.append("")
    return "\n".join(lines)


def jsonable(value):
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, (np.floating, np.integer)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write(report: dict, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench.json").write_text(json.dumps(jsonable(report), indent=2) + "\n")
    (out / "bench.md").write_text(markdown(report))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m prepbench.bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, type=Path, help="folder for bench.md and bench.json")
    parser.add_argument("--quick", action="store_true", help="fewer images and repeats: under five minutes on 2 cores")
    parser.add_argument("--plan", choices=sorted(PLANS), help="full, quick or tiny (tests); overrides --quick")
    parser.add_argument("--data", choices=("auto", "folder", "synthetic"), default="auto",
                        help="auto: the shared CIFAR-10 JPEG copy if present, else synthetic")
    parser.add_argument("--threads", type=int, default=0, help="TensorFlow intra-op threads (0: TensorFlow's default)")
    parser.add_argument("--no-sweep", action="store_true", help="skip the sweep-level figures")
    args = parser.parse_args(argv)
    plan = PLANS[args.plan or ("quick" if args.quick else "full")]
    report = run(plan, data=args.data, threads=args.threads, sweep=False if args.no_sweep else None)
    report["command"] = " ".join(["python -m prepbench.bench", *(argv if argv is not None else sys.argv[1:])])
    write(report, args.out)
    print((args.out / "bench.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
