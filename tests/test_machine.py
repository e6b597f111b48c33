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


def test_every_job_run_records_its_machine_and_whole_seeds_leaves_a_seed_begun_elsewhere_to_that_machine(tmp_path):
    import mlflow

    from tests._proc import TINY, prepbench

    done = prepbench(*TINY, "data.train_size=60", store=tmp_path)
    assert done.returncode == 0, done.stderr
    client = mlflow.tracking.MlflowClient(f"sqlite:///{tmp_path}/mlflow.db")
    exp_id = client.get_experiment_by_name("adhoc").experiment_id
    (run,) = client.search_runs([exp_id], "tags.`prepbench.role` = 'job'")
    tags = run.data.tags
    assert tags["prepbench.machine"] == machine.this_kind()
    assert tags["prepbench.cpu_isa"] == machine.isa_family()
    assert {f"prepbench.{k}" for k in machine.TAGS} <= set(tags)
    client.set_tag(run.info.run_id, "prepbench.machine", "Another CPU")  # seed 0 was begun elsewhere
    done = prepbench(*TINY, "data.train_size=60", "prep=std", "whole_seeds=true", store=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "skipped, seed 0 was begun on Another CPU: left to it (whole_seeds=true)" in done.stdout
    done = prepbench(*TINY, "data.train_size=60", "prep=std", "seed=1", "whole_seeds=true", store=tmp_path)
    assert "test_accuracy" in done.stdout  # an untouched seed trains
    assert len(client.search_runs([exp_id], "tags.`prepbench.role` = 'job'")) == 2
