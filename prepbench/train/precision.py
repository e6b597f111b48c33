"""Which floating-point precision a job trains in: `trainer.precision` = auto, float32 or bfloat16.

bfloat16 is Keras' `mixed_bfloat16` policy: convolutions and matrix products compute in bfloat16,
variables and optimizer state stay float32, and prepbench's classifier layer returns float32 logits,
so the loss and the metrics are float32 too. `auto` resolves from the hardware, without importing a
framework (a skipped job must stay fast):

- an NVIDIA GPU of compute capability 8.0 or later (Ampere, Hopper: bfloat16 tensor cores): bfloat16;
- an x86 CPU with bfloat16 instructions (AMX, `amx_bf16` in /proc/cpuinfo, or AVX-512 BF16,
  `avx512_bf16`: oneDNN has bfloat16 kernels for both), when no GPU is used: bfloat16 where it is
  *measured* at least MIN_GAIN times as fast as float32 for the job's net on this machine
  (prepbench.train.precision_probe: cached per machine and net), else float32. The flag alone does
  not say: with AVX-512 BF16 and no AMX the deep net ran 0.99 times as fast in bfloat16. Without a
  measurement (the probe turned off or failed) the flags decide, as they did before;
- anything else: float32, because emulated bfloat16 is slower than float32.

The resolved value, never `auto`, is what a job logs and hashes: the same config trains in float32
on one machine and in bfloat16 on another, and those are different jobs.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from prepbench.errors import PrepbenchError

CHOICES = ("auto", "float32", "bfloat16")
# CPU flags of native bfloat16 arithmetic. bfloat16 against float32: x2.62 (shallow) and x2.26 (deep)
# for a prepbench job with AMX (Intel Xeon, results/bench); x1.48 and x1.73 in bare Keras with AVX-512
# BF16 alone (AMD EPYC, `scripts/onednn_probe.py --net shallow|deep --setting bfloat16`).
BF16_CPU_FLAGS = frozenset({"amx_bf16", "avx512_bf16"})
KERAS_POLICY = {"float32": "float32", "bfloat16": "mixed_bfloat16"}
# bfloat16 must be at least this much faster than float32, measured, for `auto` to pick it: a tie is
# not worth its rounding (the bench's run-to-run noise on a quiet machine is a few percent).
MIN_GAIN = 1.05


def cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> set[str]:
    """The first CPU's feature flags (empty where /proc/cpuinfo does not exist)."""
    try:
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def nvidia_smi(field: str) -> list[str]:
    """One `--query-gpu` field per NVIDIA GPU that nvidia-smi lists; [] without one."""
    if shutil.which("nvidia-smi") is None:
        return []
    try:
        out = subprocess.run(
            ["nvidia-smi", f"--query-gpu={field}", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=20,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [line.strip() for line in out.splitlines() if line.strip()]


def gpu_compute_capabilities() -> list[float]:
    """Compute capabilities of the NVIDIA GPUs that nvidia-smi lists; [] without one."""
    try:
        return [float(cap) for cap in nvidia_smi("compute_cap")]
    except ValueError:
        return []


def resolve(
    requested: str,
    *,
    flags: set[str] | None = None,
    gpus: list[float] | None = None,
    backend: str = "tensorflow",
    measured=None,
) -> str:
    """`requested` as the precision a job really trains in; `flags` and `gpus` default to this machine's.
    The CPU rule is TensorFlow's (oneDNN's bfloat16 kernels): XLA on CPU, under JAX, trained the deep net
    no faster in bfloat16 than in float32 here, so a JAX job on a CPU resolves to float32. `measured`:
    this net's images/s here, {"float32": .., "bfloat16": ..} (a callable returning it or None is
    asked only where the CPU's flags leave the question open)."""
    if requested not in CHOICES:
        raise PrepbenchError(f"trainer.precision={requested} is unknown; expected auto, float32 or bfloat16")
    if requested != "auto":
        return requested
    gpus = gpu_compute_capabilities() if gpus is None else gpus
    if gpus:
        return "bfloat16" if min(gpus) >= 8.0 else "float32"
    flags = cpu_flags() if flags is None else flags
    if not (flags & BF16_CPU_FLAGS and backend == "tensorflow"):
        return "float32"
    found = measured() if callable(measured) else measured
    if found:
        return "bfloat16" if float(found["bfloat16"]) >= MIN_GAIN * float(found["float32"]) else "float32"
    return "bfloat16"


def set_keras_policy(precision: str) -> None:
    """Set Keras' global dtype policy for the next model. Called for every job, so a float32 job
    after a bfloat16 one in the same process really builds float32 layers."""
    import keras

    keras.mixed_precision.set_global_policy(KERAS_POLICY[precision])
