"""Where a training step's time goes on this CPU, by oneDNN primitive: the deep or shallow net in bare
Keras (prepbench's model and compile), the second of two epochs, ONEDNN_VERBOSE=profile_exec.

    python scripts/onednn_profile.py [--net deep] [--precision bfloat16] [--steps 40] [--ops]

Prints, for the timed epoch: the time in each kind of primitive (convolution forward, backward data,
backward weights, pooling, ...), the convolutions' GFLOP/s per direction (from the shapes oneDNN
logs), and the share of the epoch's wall time spent outside oneDNN (TensorFlow's own kernels: the
optimizer, activations, casts, the loss). The verbose log itself slows the step a little.
--ops: instead, TensorFlow's profiler on the same epoch, time per op type (oneDNN's ops are the
_Mkl* ones); the profiler slows the step more than the verbose log does.
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import subprocess
import sys
import tempfile

_CHILD = """
import sys, time
import numpy as np
import tensorflow as tf
tf.config.threading.set_inter_op_parallelism_threads(1)  # as prepbench.train.fit sets it
import keras
from prepbench import config
from prepbench.train.nets import build_model
from prepbench.train.precision import set_keras_policy
from prepbench.train.fit import compile_model
net, precision, steps = sys.argv[1], sys.argv[2], int(sys.argv[3])
batch = 128
rng = np.random.default_rng(0)
x, y = rng.random((steps * batch, 32, 32, 3), dtype=np.float32), rng.integers(0, 10, steps * batch).astype(np.int32)
data = tf.data.Dataset.from_tensor_slices((x, y)).batch(batch).prefetch(2)
cfg = config.compose([f"net={net}"]).net
set_keras_policy(precision)
model = build_model(depth=cfg.depth, width=cfg.width, dense=cfg.dense, num_classes=10, input_shape=(32, 32, 3),
                    batchnorm=False, seed=0)
compile_model(model, lr=1e-3)
class Window(keras.callbacks.Callback):  # the second epoch's wall-clock window, in oneDNN's milliseconds
    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.time() * 1e3
    def on_epoch_end(self, epoch, logs=None):
        if epoch == 1:
            print("window", self.start, time.time() * 1e3, flush=True)
class Ops(keras.callbacks.Callback):  # TensorFlow's profiler around the second epoch
    def on_epoch_begin(self, epoch, logs=None):
        if epoch == 1:
            tf.profiler.experimental.start(sys.argv[5])
    def on_epoch_end(self, epoch, logs=None):
        if epoch == 1:
            tf.profiler.experimental.stop()
ops = sys.argv[4] == "ops"
model.fit(data, epochs=2, verbose=0, callbacks=[Ops() if ops else Window()])
if ops:
    import collections, pathlib
    from tensorflow.tsl.profiler.protobuf import xplane_pb2
    space = xplane_pb2.XSpace()
    space.ParseFromString(next(pathlib.Path(sys.argv[5]).rglob("*.xplane.pb")).read_bytes())
    took, calls = collections.Counter(), collections.Counter()
    for plane in space.planes:
        for line in plane.lines if plane.name == "/host:CPU" else ():
            for event in line.events:
                name = plane.event_metadata[event.metadata_id].name
                if line.name.startswith("tf_") and ":" in name:  # executor events: "node name:OpType"
                    took[name.rsplit(":", 1)[1]] += event.duration_ps / 1e9
                    calls[name.rsplit(":", 1)[1]] += 1
    for op, ms in took.most_common():
        print("op", op, ms, calls[op])
"""

# Events of TensorFlow's executor that enclose the ops (Process: about the sum of the ops' times).
EXECUTOR_EVENTS = ("Process", "DoCompute", "Root", "Start")
SHAPE = re.compile(r"mb(\d+)_ic(\d+)oc(\d+)_ih\d+oh(\d+)kh(\d+)\w*?_iw\d+ow(\d+)kw(\d+)")


def profile(lines: list[str]) -> tuple[dict, dict, float]:
    """Milliseconds per (primitive, direction), conv FLOPs per direction, and the epoch's seconds:
    the primitives that started inside the second epoch's window (ONEDNN_VERBOSE_TIMESTAMP)."""
    start, end = (float(v) for v in next(line.split()[1:] for line in lines if line.startswith("window ")))
    ms: dict = collections.defaultdict(float)
    flops: dict = collections.defaultdict(float)
    for line in lines:
        fields = line.split(",")
        if not line.startswith("onednn_verbose,") or len(fields) < 10 or fields[4] != "exec":
            continue
        if not start <= float(fields[2]) <= end:
            continue
        kind, direction, took = fields[6], fields[8], float(fields[-1])
        ms[kind, direction] += took
        if kind == "convolution" and (m := SHAPE.search(fields[-2])):
            mb, ic, oc, oh, kh, ow, kw = map(int, m.groups())
            flops[direction] += 2 * mb * ic * oc * oh * ow * kh * kw
    return ms, flops, (end - start) / 1e3


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--net", default="deep", choices=("deep", "shallow"))
    ap.add_argument("--precision", default="bfloat16", choices=("bfloat16", "float32"))
    ap.add_argument("--steps", type=int, default=40, help="training steps of batch 128 per epoch")
    ap.add_argument("--ops", action="store_true", help="TensorFlow's profiler: time per op type")
    args = ap.parse_args(argv)
    if args.ops:
        return op_table(args)
    env = {**os.environ, "ONEDNN_VERBOSE": "profile_exec", "ONEDNN_VERBOSE_TIMESTAMP": "1", "TF_CPP_MIN_LOG_LEVEL": "2"}
    child = subprocess.run(
        [sys.executable, "-c", _CHILD, args.net, args.precision, str(args.steps)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    ms, flops, seconds = profile(child.stdout.splitlines())
    total = sum(ms.values()) / 1e3
    print(f"net={args.net} precision={args.precision}: {args.steps} steps of 128 in {seconds:.2f} s (timed epoch)\n")
    print("| oneDNN primitive | direction | ms per step | share of the epoch | conv GFLOP/s |")
    print("|---|---|---:|---:|---:|")
    for (kind, direction), took in sorted(ms.items(), key=lambda item: -item[1]):
        rate = f"{flops[direction] / took / 1e6:,.0f}" if kind == "convolution" and flops[direction] else ""
        print(f"| {kind} | {direction} | {took / args.steps:.2f} | {took / 1e3 / seconds:.0%} | {rate} |")
    print(f"| outside oneDNN | | {(seconds - total) * 1e3 / args.steps:.2f} | {(seconds - total) / seconds:.0%} | |")
    conv = sum(took for (kind, _), took in ms.items() if kind == "convolution")
    print(f"\nall convolutions: {sum(flops.values()) / conv / 1e6:,.0f} GFLOP/s")
    return 0


def op_table(args) -> int:
    """--ops: TensorFlow's own profile of the second epoch, by op type."""
    with tempfile.TemporaryDirectory(prefix="onednn-profile-") as logdir:
        child = subprocess.run(
            [sys.executable, "-c", _CHILD, args.net, args.precision, str(args.steps), "ops", logdir],
            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
            capture_output=True,
            text=True,
            check=True,
        )
    rows = [line.split()[1:] for line in child.stdout.splitlines() if line.startswith("op ")]
    rows = [row for row in rows if row[0] not in EXECUTOR_EVENTS]
    print(f"net={args.net} precision={args.precision}: TensorFlow ops, {args.steps} steps of 128 (profiled epoch)\n")
    print("| op type | ms per step | calls per step |")
    print("|---|---:|---:|")
    for op, ms, calls in rows[:20]:
        print(f"| {op} | {float(ms) / args.steps:.2f} | {int(calls) / args.steps:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
