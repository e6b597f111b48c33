"""prepbench.track.machine: the machine in every run's record, and its kind read back from old runs."""

import os

from prepbench.track import machine


def test_the_isa_family_is_the_widest_present():
    assert machine.isa_family({"avx2", "avx512f", "amx_bf16", "avx512_bf16"}) == "AMX"
    assert machine.isa_family({"avx2", "avx512f", "avx512_bf16"}) == "AVX-512 BF16"
    assert machine.isa_family({"avx", "avx2"}) == "AVX2"
    assert machine.isa_family(set()) == "baseline"


def test_the_kind_is_read_from_the_new_tags_or_from_the_hardware_line_of_old_runs():
    assert machine.kind_of({"prepbench.hardware": "AMD EPYC x2; no GPU"}) == "AMD EPYC"
    assert machine.kind_of({"tags.prepbench.hardware": "Intel(R) Xeon(R) Processor x2; no GPU"}) == (
        "Intel(R) Xeon(R) Processor"
    )
    assert machine.kind_of({"prepbench.hardware": "AMD EPYC x16; GPU: NVIDIA H200"}) == "AMD EPYC + NVIDIA H200"
    assert machine.kind_of({"prepbench.machine": "X", "prepbench.hardware": "Y x2; no GPU"}) == "X"
    assert machine.kind_of({}) == ""


def test_this_machine_is_described_with_every_tag():
    found = machine.describe(threads=0)
    assert set(found) == set(machine.TAGS)
    assert found["threads"] == str(os.cpu_count())
    assert found["machine"] == machine.this_kind()
    assert machine.kind_of({f"prepbench.{k}": v for k, v in found.items()}) == found["machine"]
