"""The machine a run trained on, as every job records it and `verify` and the report read it.

A job run's tags (beside `prepbench.hardware`, the one-line summary older runs carry alone):

- `prepbench.cpu`: the CPU's model name (/proc/cpuinfo), e.g. "AMD EPYC";
- `prepbench.cpu_isa`: its widest instruction-set family for this work: AMX, AVX-512 BF16, AVX-512,
  AVX2, AVX, NEON, or "baseline";
- `prepbench.accelerator`: the GPUs the backend sees, or "none";
- `prepbench.threads`: the intra-op threads the job trained with (`trainer.threads`, or all cores);
- `prepbench.machine`: the machine's *kind*, what tells two machines apart for reproducibility: the
  CPU model, and the accelerator if any. Runs recorded before these tags existed get theirs from
  `prepbench.hardware` ("<CPU model> x<cores>; no GPU" or "...; GPU: <devices>"), so both read alike.

Two runs on one kind of machine (same CPU model, same accelerator) should agree to the bit when
deterministic; across kinds, floating-point kernels differ (oneDNN picks AMX, AVX-512 BF16 or AVX2
code), so a retraining there is a close replicate, not an exact one (prepbench.study.verify).
"""

from __future__ import annotations

import os
import platform
import re

from prepbench.train.precision import cpu_flags, nvidia_smi

# (flag in /proc/cpuinfo, family), widest first: the first one present names the CPU's family.
ISA_FAMILIES = (
    ("amx_bf16", "AMX"),
    ("avx512_bf16", "AVX-512 BF16"),
    ("avx512f", "AVX-512"),
    ("avx2", "AVX2"),
    ("avx", "AVX"),
    ("asimd", "NEON"),
)
TAGS = ("cpu", "cpu_isa", "accelerator", "threads", "machine")


def cpu_model(cpuinfo: str = "/proc/cpuinfo") -> str:
    """The CPU's model name ("model name" in /proc/cpuinfo), else what platform says."""
    try:
        with open(cpuinfo) as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def isa_family(flags: set[str] | None = None) -> str:
    """The widest instruction-set family among `flags` (this CPU's by default)."""
    flags = cpu_flags() if flags is None else flags
    return next((name for flag, name in ISA_FAMILIES if flag in flags), "baseline")


def kind(cpu: str, accelerator: str = "none") -> str:
    """A machine's kind: its CPU model, and its accelerator when it has one."""
    return cpu if accelerator in ("", "none") else f"{cpu} + {accelerator}"


def describe(threads: int) -> dict[str, str]:
    """This machine's tags (without the prefix `prepbench.`); `threads`: the job's intra-op threads
    (0: all cores)."""
    cpu = cpu_model()
    acc = gpu_names() or "none"
    return {
        "cpu": cpu,
        "cpu_isa": isa_family(),
        "accelerator": acc,
        "threads": str(threads if threads > 0 else os.cpu_count()),
        "machine": kind(cpu, acc),
    }


_HARDWARE = re.compile(r"^(?P<cpu>.*?) x\d+; (?:no GPU|GPU: (?P<gpu>.*))$")


def kind_of(tags: dict) -> str:
    """The kind of machine a run recorded (its tags, keys with the `prepbench.` prefix, or `tags.`
    columns of a report's table): `prepbench.machine`, else parsed from `prepbench.hardware`; ""
    when neither was recorded."""

    def get(key: str) -> str:
        value = tags.get(f"prepbench.{key}", tags.get(f"tags.prepbench.{key}"))
        return value if isinstance(value, str) else ""

    if recorded := get("machine"):
        return recorded
    hardware = get("hardware")
    match = _HARDWARE.match(hardware)
    if not match:
        return hardware
    return kind(match["cpu"], match["gpu"] or "none")


def gpu_names() -> str:
    """The NVIDIA GPUs nvidia-smi lists ("NVIDIA H200", as JAX names them too), comma-separated; ""
    without one."""
    return ", ".join(nvidia_smi("name"))


def this_kind() -> str:
    """This machine's kind, as a job here records it."""
    return kind(cpu_model(), gpu_names() or "none")
