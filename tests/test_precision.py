import pytest

from prepbench.errors import PrepbenchError
from prepbench.train.precision import cpu_flags, resolve


def test_auto_is_bfloat16_on_a_cpu_with_bfloat16_instructions_and_float32_without():
    assert resolve("auto", flags={"avx512f", "amx_bf16", "amx_tile"}, gpus=[]) == "bfloat16"
    assert resolve("auto", flags={"avx512f", "avx512_bf16"}, gpus=[]) == "bfloat16"  # AMD EPYC: no AMX
    assert resolve("auto", flags={"avx2", "avx512f"}, gpus=[]) == "float32"
    assert resolve("auto", flags=set(), gpus=[]) == "float32"


def test_auto_follows_the_gpu_when_there_is_one():
    assert resolve("auto", flags={"amx_bf16"}, gpus=[9.0]) == "bfloat16"  # Hopper
    assert resolve("auto", flags={"amx_bf16"}, gpus=[7.0]) == "float32"  # Volta: no bfloat16 units
    assert resolve("auto", flags=set(), gpus=[8.0, 7.5]) == "float32"  # the slowest decides


def test_auto_on_jax_is_float32_on_any_cpu_and_follows_the_gpu():
    assert resolve("auto", flags={"amx_bf16"}, gpus=[], backend="jax") == "float32"  # XLA's CPU: no AMX kernels
    assert resolve("auto", flags={"amx_bf16"}, gpus=[9.0], backend="jax") == "bfloat16"


def test_a_forced_precision_is_kept_whatever_the_hardware():
    assert resolve("float32", flags={"amx_bf16"}, gpus=[]) == "float32"
    assert resolve("bfloat16", flags=set(), gpus=[]) == "bfloat16"


def test_an_unknown_precision_is_refused_naming_it():
    with pytest.raises(PrepbenchError, match="trainer.precision=fp16 .*auto, float32 or bfloat16"):
        resolve("fp16")


def test_cpu_flags_reads_the_flags_line(tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nflags\t\t: fpu sse2 amx_bf16\n")
    assert cpu_flags(info) == {"fpu", "sse2", "amx_bf16"}
    assert cpu_flags(tmp_path / "absent") == set()
