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


def test_auto_follows_the_measurement_for_the_net_where_the_flags_leave_it_open(tmp_path):
    from prepbench.train import precision_probe

    amd = {"avx512f", "avx512_bf16"}  # AVX-512 BF16, no AMX: measured, not assumed
    # the deep net on an AMD EPYC (full bench): 533 against 538 images/s; the shallow one 1.56x
    assert resolve("auto", flags=amd, gpus=[], measured={"float32": 538, "bfloat16": 533}) == "float32"
    assert resolve("auto", flags=amd, gpus=[], measured={"float32": 2700, "bfloat16": 4212}) == "bfloat16"
    assert resolve("auto", flags=amd, gpus=[], measured=None) == "bfloat16"  # no measurement: the flags
    # a cached measurement per machine and net, read back as the job asks it
    key = precision_probe.net_key(8, 32, 128, False, 128)
    precision_probe.record(tmp_path, "AMD EPYC", key, {"float32": 538.0, "bfloat16": 533.0})
    found = precision_probe.measure_or_probe(
        tmp_path, "AMD EPYC", depth=8, width=32, dense=128, batchnorm=False, batch_size=128
    )
    assert found == {"float32": 538.0, "bfloat16": 533.0}
    assert resolve("auto", flags=amd, gpus=[], measured=lambda: found) == "float32"
    assert precision_probe.measured(tmp_path, "Intel Xeon", key) is None  # another machine: not this one's
    # where the flags settle it, the measurement is never asked
    never = lambda: (_ for _ in ()).throw(AssertionError("asked"))  # noqa: E731
    assert resolve("auto", flags={"avx2"}, gpus=[], measured=never) == "float32"
    assert resolve("bfloat16", flags=amd, gpus=[], measured=never) == "bfloat16"


def test_the_probe_measures_both_precisions_of_a_tiny_net(tmp_path):
    from prepbench.train import precision_probe

    out = tmp_path / "m.json"
    assert precision_probe.main(["--depth=1", "--width=4", "--dense=8", "--batch-size=16", "--out", str(out)]) == 0
    entry = precision_probe.read(out)[precision_probe.net_key(1, 4, 8, False, 16)]
    assert entry["float32"] > 0 and entry["bfloat16"] > 0 and entry["ratio"] > 0


def test_a_residual_net_is_measured_as_itself(tmp_path, monkeypatch):
    """net=resnet has no hidden dense layer and batch norm whatever the variant: its measurement has
    a key of its own, and the probe times a residual net, not a plain one of the same depth."""
    from prepbench.train import precision_probe, resnet

    built = []
    original = resnet.build_resnet
    monkeypatch.setattr(resnet, "build_resnet", lambda **kw: built.append(kw["depth"]) or original(**kw))

    assert precision_probe.net_key(8, 16, 0, False, 128, family="resnet") == "resnet8-width16-batch128-32px"
    assert precision_probe.net_key(8, 16, 0, False, 128) != precision_probe.net_key(
        8, 16, 0, False, 128, family="resnet"
    )
    out = tmp_path / "m.json"
    argv = ["--family=resnet", "--depth=8", "--width=4", "--batch-size=8", "--out", str(out)]
    assert precision_probe.main(argv) == 0
    entry = precision_probe.read(out)["resnet8-width4-batch8-32px"]
    assert entry["float32"] > 0 and entry["bfloat16"] > 0
    assert built == [8, 8]  # one residual net per precision
