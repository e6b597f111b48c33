"""The same prepbench job on JAX and on TensorFlow, on this machine, as a ratio of training speed.

    python -m prepbench.backend_speed [--images 2048] [--epochs 3] [--repeats 2] [--data folder|synthetic]

Keras runs one backend per process, so each measurement is a fresh process (TensorFlow blocked in the
JAX ones), TensorFlow and JAX alternated so that a change in the machine's load hits both. Each process
runs fit.make_inputs + fit.fit_and_evaluate (prepbench.train.fit), the job's own training, in float32 on both backends
(bfloat16 resolves differently per backend: see prepbench.train.precision), and reports

    steady_images_per_second   training images / the median epoch time from epoch 2 on (compiled)
    fit_seconds                the whole fit, compilation and validation included

The ratio is JAX / TensorFlow of the medians over repeats: above 1, JAX trains faster.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

from prepbench import ROOT

NETS = ("shallow", "deep")
VARIANTS = ("none", "augment")


def job_overrides(spec: dict) -> list[str]:
    """The config of the job `spec` measures, as overrides: its data, net, variant and backend, in
    float32, constant learning rate (the speed of the training, not of a schedule)."""
    return [
        *spec["overrides"],
        f"net={spec['net']}",
        f"prep={spec['variant']}",
        f"trainer.epochs={spec['epochs']}",
        "trainer.precision=float32",
        "trainer.schedule=constant",
        "trainer.warmup_epochs=0",
        f"trainer.backend={spec['backend']}",
    ]


def measure(spec: dict) -> dict:
    """Inside the measuring process: one job's training on this process's Keras backend."""
    from prepbench.config import compose
    from prepbench.data.splits import load_splits
    from prepbench.prep.preprocessor import fit_cached, from_config
    from prepbench.train import fit, precision

    cfg = compose(job_overrides(spec))
    splits = load_splits(cfg.data)
    p = from_config(cfg.prep)
    fit_cached(p, splits.x_train, splits.fingerprint, cfg.cache_dir)
    precision.set_keras_policy("float32")
    if spec["backend"] == "tensorflow":
        fit.configure_tensorflow(threads=0, deterministic=False)
    inputs = fit.make_inputs(
        splits, p, batch_size=cfg.trainer.batch_size, epochs=cfg.trainer.epochs, seed=0, augmentation=cfg.augmentation
    )
    marks = []
    start = time.perf_counter()
    result = fit.fit_and_evaluate(
        inputs,
        net=cfg.net,
        trainer=cfg.trainer,
        seed=0,
        batchnorm=False,
        on_epoch=lambda epoch, metrics: marks.append(time.perf_counter()),
    )
    epochs = [b - a for a, b in zip([start, *marks], marks)]
    return {
        "backend": spec["backend"],
        "net": spec["net"],
        "variant": spec["variant"],
        "images": len(splits.y_train),
        "epoch_seconds": [round(s, 3) for s in epochs],
        "steady_images_per_second": len(splits.y_train) / statistics.median(epochs[1:]),
        "fit_seconds": result.fit_seconds,
    }


_CHILD = """
import json, os, sys
if os.environ["KERAS_BACKEND"] == "jax":
    sys.modules["tensorflow"] = None  # as on a machine without TensorFlow
from prepbench.bench.backend_speed import measure
print("RESULT " + json.dumps(measure(json.loads(sys.argv[1]))), flush=True)
"""


def run_one(spec: dict, timeout: float = 1800) -> dict:
    env = {
        **os.environ,
        "KERAS_BACKEND": spec["backend"],
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, json.dumps(spec)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"{spec['backend']} {spec['net']} {spec['variant']} failed: {done.stderr[-2000:]}")
    return json.loads(lines[-1].removeprefix("RESULT "))


def compare(
    overrides: list[str], *, nets=NETS, variants=VARIANTS, epochs: int = 3, repeats: int = 2, log=print
) -> dict:
    """JAX / TensorFlow per net and variant: runs alternate TF, JAX, TF, JAX, ... `overrides`: the
    data (folder_data, SYNTHETIC) and any other setting the jobs share (net.width=4)."""
    rows = {}
    for net in nets:
        for variant in variants:
            runs = {"tensorflow": [], "jax": []}
            for _ in range(repeats):
                for backend in ("tensorflow", "jax"):
                    r = run_one(
                        dict(backend=backend, net=net, variant=variant, epochs=epochs, overrides=list(overrides))
                    )
                    runs[backend].append(r)
                    log(
                        f"{backend:>10} {net:>7} {variant:>7}: {r['steady_images_per_second']:8.0f} images/s "
                        f"(fit {r['fit_seconds']:.1f} s)"
                    )
            med = {b: statistics.median(x["steady_images_per_second"] for x in rs) for b, rs in runs.items()}
            fit = {b: statistics.median(x["fit_seconds"] for x in rs) for b, rs in runs.items()}
            rows[f"{net}.{variant}"] = {
                "tensorflow_images_per_second": round(med["tensorflow"]),
                "jax_images_per_second": round(med["jax"]),
                "ratio": round(med["jax"] / med["tensorflow"], 3),
                "fit_seconds": {b: round(v, 1) for b, v in fit.items()},
                "fit_ratio": round(fit["tensorflow"] / fit["jax"], 3),  # above 1: the JAX fit took less time
                "runs": runs,
            }
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", choices=("folder", "synthetic"), default="folder")
    ap.add_argument("--path", default=str(ROOT.parent / "shared" / "data" / "cifar10-jpeg.zip"))
    ap.add_argument("--images", type=int, default=2048, help="training images per job (folder data)")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--nets", default=",".join(NETS))
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--out", default=None, help="write the figures as JSON here")
    args = ap.parse_args(argv)
    data = folder_data(args.path, args.images) if args.data == "folder" else list(SYNTHETIC)
    rows = compare(
        data, nets=args.nets.split(","), variants=args.variants.split(","), epochs=args.epochs, repeats=args.repeats
    )
    print("\nJAX / TensorFlow, float32, steady training images/s (median of repeats):")
    for key, row in rows.items():
        print(
            f"  {key:<16} {row['jax_images_per_second']:>7} / {row['tensorflow_images_per_second']:>7} = {row['ratio']:.2f}"
            f"   (whole fit: {row['fit_seconds']['jax']} s vs {row['fit_seconds']['tensorflow']} s)"
        )
    if args.out:
        with open(args.out, "w") as f:
            json.dump(rows, f, indent=1)
    return 0


SYNTHETIC = ("data=synthetic",)  # conf/data/synthetic.yaml's small generated images


def folder_data(path, train_images: int) -> list[str]:
    """An image folder or .zip (the shared CIFAR-10 JPEG copy) as data overrides: `train_images`
    training images, 1000 for validation and 1000 for test."""
    from prepbench.config import quote

    return [
        "data=folder",
        f"data.path={quote(str(path))}",
        f"data.train_size={train_images}",
        "data.val_size=1000",
        "data.test_size=1000",
    ]


if __name__ == "__main__":
    sys.exit(main())
