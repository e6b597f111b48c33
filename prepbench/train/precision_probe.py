"""`trainer.precision=auto` by measurement: is bfloat16 faster than float32 for this net, on this machine?

A CPU with bfloat16 instructions is not enough to say (issue 38): on an AMD EPYC with AVX-512 BF16
and no AMX, the full bench gave bfloat16 / float32 = 1.56 for the shallow net but 0.99 for the deep
one. So `auto` on such a CPU asks a measurement, cached per machine and net:

    <cache_dir>/precision/<machine>.json   {"<net key>": {"float32": img/s, "bfloat16": img/s, ...}}

The measurement is made once, by a short probe in a subprocess (the job's own process has not
imported Keras yet, and a probe must not leave state behind in it):

    python -m prepbench.train.precision_probe --depth 8 --width 32 --dense 128 --out FILE

which trains a throwaway copy of the net on random images in each precision (after a warm-up,
alternated, the best of two rounds) and records training images per second. `auto` then picks
bfloat16 only where it is at least MIN_GAIN times as fast (prepbench.train.precision.resolve). The
probe times a few seconds of training: on a loaded machine its ratio is noise (measured here beside
a running study: 0.84 and 1.31 for the shallow net a minute apart), so measure on a quiet machine,
and delete the file to measure again. PREPBENCH_PRECISION_PROBE=0
turns the probe off: `auto` then follows the CPU's flags alone, as before (the tests do this).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

from prepbench.io import write_text

PROBE_ENV = "PREPBENCH_PRECISION_PROBE"
PROBE_TIMEOUT_S = 600
WARMUP_BATCHES = 3
TIMED_BATCHES = 12
ROUNDS = 2


def net_key(
    depth: int, width: int, dense: int, batchnorm: bool, batch_size: int, image_size: int = 32, family: str = "plain"
) -> str:
    """What the measurement depends on: the net's family and shape, batch norm, batch size and image
    size. A residual net has batch norm and no hidden dense layer whatever the variant."""
    if family == "resnet":
        return f"resnet{depth}-width{width}-batch{batch_size}-{image_size}px"
    return f"depth{depth}-width{width}-dense{dense}-bn{int(bool(batchnorm))}-batch{batch_size}-{image_size}px"


def cache_file(cache_dir: str | Path, machine: str) -> Path:
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", machine).strip("_") or "unknown"
    return Path(cache_dir) / "precision" / f"{slug}.json"


def read(path: Path) -> dict:
    try:
        found = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return {}
    return found if isinstance(found, dict) else {}


def measured(cache_dir: str | Path, machine: str, key: str) -> dict | None:
    """The cached measurement of `key` on `machine`: {"float32": img/s, "bfloat16": img/s}, or None."""
    entry = read(cache_file(cache_dir, machine)).get(key)
    if isinstance(entry, dict) and entry.get("float32") and entry.get("bfloat16"):
        return entry
    return None


def record(cache_dir: str | Path, machine: str, key: str, entry: dict) -> None:
    """Store a measurement (from the probe, or from the bench) for `key` on `machine`."""
    path = cache_file(cache_dir, machine)
    found = read(path)
    found[key] = entry
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text(path, json.dumps(found, indent=1, sort_keys=True) + "\n")


def probe_enabled() -> bool:
    return os.environ.get(PROBE_ENV, "1") not in ("0", "false", "off")


def measure_or_probe(
    cache_dir: str | Path,
    machine: str,
    *,
    depth: int,
    width: int,
    dense: int,
    batchnorm: bool,
    batch_size: int,
    family: str = "plain",
) -> dict | None:
    """The cached measurement, or (probe enabled) a fresh one made by the probe subprocess and
    cached; None when there is none and the probe is off or fails (auto then follows the flags)."""
    key = net_key(depth, width, dense, batchnorm, batch_size, family=family)
    if (found := measured(cache_dir, machine, key)) is not None or not probe_enabled():
        return found
    path = cache_file(cache_dir, machine)
    print(f"trainer.precision=auto: measuring bfloat16 against float32 for {key} on {machine} (once)", flush=True)
    command = [sys.executable, "-m", "prepbench.train.precision_probe", "--out", str(path)]
    command += [f"--family={family}", f"--depth={depth}", f"--width={width}", f"--dense={dense}"]
    command += [f"--batch-size={batch_size}"]
    command += ["--batchnorm"] if batchnorm else []
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=PROBE_TIMEOUT_S)
    except (OSError, subprocess.SubprocessError) as err:
        print(f"warning: the precision probe failed ({err}); auto follows the CPU's flags", flush=True)
        return None
    if done.returncode != 0:
        print(f"warning: the precision probe failed: {done.stderr.strip()[-300:]}", flush=True)
        return None
    return measured(cache_dir, machine, key)


def timed_fit(model, x, y, batch_size: int) -> float:
    """Training images per second of one pass over x (the model already warmed up)."""
    start = time.perf_counter()
    model.fit(x, y, batch_size=batch_size, epochs=1, verbose=0)
    return len(x) / (time.perf_counter() - start)


def probe(
    *, depth: int, width: int, dense: int, batchnorm: bool, batch_size: int, image_size: int = 32, family: str = "plain"
) -> dict:
    """{"float32": img/s, "bfloat16": img/s, "ratio": bf16/fp32, ...} for one net here: both models
    built and warmed up (WARMUP_BATCHES), then timed alternately, ROUNDS times each, the best kept
    (another process's load only slows a round down)."""
    import keras
    import numpy as np

    from prepbench.train.fit import compile_model
    from prepbench.train.nets import build_model
    from prepbench.train.precision import set_keras_policy
    from prepbench.train.resnet import build_resnet

    rng = np.random.default_rng(0)
    x = rng.random((TIMED_BATCHES * batch_size, image_size, image_size, 3), dtype=np.float32)
    y = rng.integers(0, 10, len(x))
    models = {}
    for precision in ("float32", "bfloat16"):
        keras.utils.set_random_seed(0)
        set_keras_policy(precision)
        common = dict(depth=depth, width=width, num_classes=10, input_shape=x.shape[1:], seed=0)
        if family == "resnet":
            models[precision] = build_resnet(**common, batchnorm_momentum=0.9)
        else:
            models[precision] = build_model(**common, dense=dense, batchnorm=batchnorm)
        compile_model(models[precision], lr=1e-3, steps_per_execution=1)
        warm = WARMUP_BATCHES * batch_size
        models[precision].fit(x[:warm], y[:warm], batch_size=batch_size, verbose=0)
    set_keras_policy("float32")  # Keras' default again, for whatever this process builds next
    rates: dict[str, list[float]] = {"float32": [], "bfloat16": []}
    for _ in range(ROUNDS):
        for precision, model in models.items():
            rates[precision].append(timed_fit(model, x, y, batch_size))
    found: dict = {"batches": TIMED_BATCHES, "batch_size": batch_size, "rounds": ROUNDS}
    found.update({p: round(max(r), 1) for p, r in rates.items()})
    found["ratio"] = round(found["bfloat16"] / found["float32"], 3)
    found["measured"] = time.strftime("%Y-%m-%d %H:%M")
    return found


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m prepbench.train.precision_probe", description=__doc__.split("\n")[0])
    ap.add_argument("--family", choices=("plain", "resnet"), default="plain")
    ap.add_argument("--depth", type=int, required=True)
    ap.add_argument("--width", type=int, required=True)
    ap.add_argument("--dense", type=int, default=0, help="the plain family's hidden dense layer")
    ap.add_argument("--batchnorm", action="store_true")
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--out", type=Path, required=True, help="the cache file to add the measurement to")
    args = ap.parse_args(argv)
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    shape = dict(depth=args.depth, width=args.width, dense=args.dense, batchnorm=args.batchnorm, family=args.family)
    entry = probe(**shape, batch_size=args.batch_size)
    found = read(args.out)
    found[net_key(**shape, batch_size=args.batch_size)] = entry
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_text(args.out, json.dumps(found, indent=1, sort_keys=True) + "\n")
    print(json.dumps(entry))
    return 0


if __name__ == "__main__":
    sys.exit(main())
