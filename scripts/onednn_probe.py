"""What moves training speed on this CPU: the deep or shallow net in bare Keras, one fresh process per
setting (oneDNN reads its options when TensorFlow starts), steady images/s after the first epoch.

    python scripts/onednn_probe.py [--net deep] [--repeats 2] [--setting float32 --setting bfloat16]

Settings: bfloat16 (Keras mixed_bfloat16, AMX kernels); bfloat16 with oneDNN limited to AVX-512
BF16 (no AMX: ONEDNN_MAX_CPU_ISA=AVX512_CORE_BF16); float32; float32 with oneDNN allowed to compute
float32 convolutions in bfloat16 (ONEDNN_DEFAULT_FPMATH_MODE=BF16); bfloat16 with XLA
(jit_compile=True); bfloat16 with steps_per_execution=8. Settings alternate within each repeat so
that a change in the machine's load hits all of them.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys

SETTINGS = {
    "bfloat16": ({}, "bfloat16", {}),
    "bfloat16, no AMX": ({"ONEDNN_MAX_CPU_ISA": "AVX512_CORE_BF16"}, "bfloat16", {}),
    "float32": ({}, "float32", {}),
    "float32, fpmath bf16": ({"ONEDNN_DEFAULT_FPMATH_MODE": "BF16"}, "float32", {}),
    "bfloat16, XLA": ({}, "bfloat16", {"jit_compile": True}),
    "bfloat16, steps_per_execution 8": ({}, "bfloat16", {"steps_per_execution": 8}),
}

_CHILD = """
import json, statistics, sys, time
import numpy as np
import tensorflow as tf
tf.config.threading.set_inter_op_parallelism_threads(1)  # as prepbench.train.fit sets it
import keras
from prepbench import config
from prepbench.train.nets import build_model
from prepbench.train.precision import set_keras_policy
net, precision, compile_args = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
n, batch = 5120, 128
rng = np.random.default_rng(0)
x, y = rng.random((n, 32, 32, 3), dtype=np.float32), rng.integers(0, 10, n).astype(np.int32)
data = tf.data.Dataset.from_tensor_slices((x, y)).batch(batch).repeat().prefetch(2)
cfg = config.compose([f"net={net}"]).net
set_keras_policy(precision)
model = build_model(depth=cfg.depth, width=cfg.width, dense=cfg.dense, num_classes=10, input_shape=(32, 32, 3),
                    batchnorm=False, seed=0)
model.compile(optimizer=keras.optimizers.Adam(1e-3), metrics=["accuracy"],
              loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), **{"jit_compile": False, **compile_args})
times = []
class Clock(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None): self.start = time.perf_counter()
    def on_epoch_end(self, epoch, logs=None): times.append(time.perf_counter() - self.start)
model.fit(data, epochs=3, steps_per_epoch=n // batch, callbacks=[Clock()], verbose=0)
print("RESULT", n / statistics.median(times[1:]))
"""


def measure(net: str, env: dict, precision: str, compile_args: dict) -> float:
    import json

    from prepbench import ROOT

    done = subprocess.run(
        [sys.executable, "-c", _CHILD, net, precision, json.dumps(compile_args)],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=True,
    )
    return float(next(line for line in done.stdout.splitlines() if line.startswith("RESULT")).split()[1])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--net", default="deep", choices=("deep", "shallow"))
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument(
        "--setting", action="append", choices=tuple(SETTINGS), help="only these settings (repeatable; float32 always)"
    )
    args = ap.parse_args(argv)
    chosen = {name: SETTINGS[name] for name in SETTINGS if not args.setting or name in {"float32", *args.setting}}
    results: dict[str, list[float]] = {name: [] for name in chosen}
    for _ in range(args.repeats):
        for name, (env, precision, compile_args) in chosen.items():
            results[name].append(measure(args.net, env, precision, compile_args))
            print(f"{args.net} {name:<34} {results[name][-1]:8.0f} images/s", flush=True)
    base = statistics.median(results["float32"])
    print(f"\n{args.net}, median of {args.repeats} (x float32):")
    for name, values in results.items():
        value = statistics.median(values)
        print(f"  {name:<34} {value:8.0f} images/s  x{value / base:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
