"""prepbench.verify: retraining a study's runs at their recorded commit."""

import subprocess

import mlflow
import pytest

from prepbench import ROOT
from prepbench.errors import PrepbenchError
from prepbench.study import verify
from tests._proc import TINY, prepbench


def outcome(recorded, retrained, deterministic=False, **kw):
    return verify.Outcome("r" * 32, "zca · deep · seed 0", "abc", recorded, retrained, deterministic, **kw)


def test_the_tolerance_is_the_largest_same_seed_spread_and_a_run_verifies_within_it():
    runs = [outcome(0.600, [0.602, 0.598]), outcome(0.550, [0.551, 0.550]), outcome(0.700, [0.690, 0.691])]
    tol = verify.tolerance(runs)
    assert tol == pytest.approx(0.004)
    assert [verify.verdict(o, tol) for o in runs] == ["within tolerance", "within tolerance", "outside tolerance"]


def test_a_deterministic_run_verifies_only_when_identical_and_refusals_say_so():
    assert verify.verdict(outcome(0.5, [0.5], deterministic=True), 0.01) == "identical"
    assert verify.verdict(outcome(0.5, [0.5001], deterministic=True), 0.01) == "differs"
    assert verify.verdict(outcome(0.5, [], refused="no commit recorded"), 0.0) == "refused"
    assert verify.verdict(outcome(0.5, [0.5], deterministic=True, fingerprint_ok=False), 0.0) == "other data"


def test_unrecoverable_commits_are_named_with_the_reason():
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    assert verify.why_not_recoverable(head) == ""
    assert "uncommitted changes" in verify.why_not_recoverable(head + "-dirty")
    assert verify.why_not_recoverable(head + "-dirty", dirty_at_base=True) == ""
    assert verify.why_not_recoverable("0" * 40) == "commit 000000000000 is not in this clone"
    assert verify.why_not_recoverable("unknown") == "no commit recorded"


def test_a_deterministic_run_retrained_at_its_commit_comes_out_identical(tmp_path):
    done = prepbench(*TINY, "trainer.deterministic=true", "data.train_size=60", store=tmp_path)
    assert done.returncode == 0, done.stderr
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    client = mlflow.tracking.MlflowClient(uri)
    run = client.search_runs([client.get_experiment_by_name("adhoc").experiment_id], "tags.`prepbench.role` = 'job'")[0]
    # The job ran from this working tree, which may hold uncommitted edits; HEAD's code is what CI runs.
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    client.set_tag(run.info.run_id, "prepbench.git_commit", head)
    out = tmp_path / "verify.md"
    code = verify.main(["--experiment", "adhoc", "--tracking-uri", uri, "--runs", "1", "--out", str(out)])
    text = out.read_text()
    assert code == 0, text
    assert f"| {run.info.run_name} (`{run.info.run_id[:8]}`) | `{head[:12]}` |" in text
    assert "| identical | deterministic: must be identical; recorded and retrained on " in text
    # a -dirty run is refused, or retrained at its base commit with --dirty-at-base
    client.set_tag(run.info.run_id, "prepbench.git_commit", head + "-dirty")
    assert verify.main(["--experiment", "adhoc", "--tracking-uri", uri, "--out", str(out)]) == 0
    assert "| refused | recorded commit" in out.read_text()
    assert verify.main(["--experiment", "adhoc", "--tracking-uri", uri, "--dirty-at-base", "--out", str(out)]) == 0
    text = out.read_text()
    assert "| identical | deterministic: must be identical;" in text
    assert "; a -dirty run, retrained at its base commit" in text


def test_bad_input_is_one_line(tmp_path, capsys):
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    mlflow.tracking.MlflowClient(uri).create_experiment("empty")
    assert verify.main(["--experiment", "nope", "--tracking-uri", uri]) == 2
    assert "--experiment nope: no such experiment in the store" in capsys.readouterr().err
    assert verify.main(["--experiment", "empty", "--tracking-uri", uri, "--runs", "0"]) == 2
    assert "--runs=0 is invalid; expected a positive integer" in capsys.readouterr().err
    assert verify.main(["--experiment", "empty", "--tracking-uri", uri, "--run", "abc"]) == 2
    assert "--run abc: not a FINISHED job run of empty" in capsys.readouterr().err
    with pytest.raises(PrepbenchError):
        verify.job_runs(mlflow.tracking.MlflowClient(uri), "nope")


# ---- machines (issue 38) ---------------------------------------------------------------------


def test_a_retraining_on_another_kind_of_machine_is_judged_by_the_cross_machine_spread_not_failed():
    from prepbench.report.machines import Spread
    from prepbench.study import verify_machines as machines

    spread = Spread(0.82, 0.33, 20, "Intel against AMD")
    other = dict(recorded_on="Intel(R) Xeon(R) Processor", retrained_on="AMD EPYC")
    # the two runs of issue 38, deterministic=false, retrained twice each
    near = outcome(0.4878, [0.4883, 0.4883], cross=spread, **other)
    far = outcome(0.6016, [0.6108, 0.6108], cross=spread, **other)
    none = outcome(0.6016, [0.6108, 0.6108], cross=None, **other)
    assert verify.verdict(near, 0.0) == machines.WITHIN
    assert verify.verdict(far, 0.0) == machines.OUTSIDE
    assert verify.verdict(none, 0.0) == machines.NO_VERDICT  # no pairs: no verdict, not "outside tolerance"
    assert verify.note(near, 0.0).startswith(
        "recorded on Intel(R) Xeon(R) Processor, retrained on AMD EPYC: +0.05 pp, within the cross-machine spread "
        "of 0.82 pp (the largest |difference| over 20 same-configuration pairs in the store, Intel against AMD;"
    )
    assert "no cross-machine spread to judge it by" in verify.note(none, 0.0)
    # the same kind of machine: exact, as before
    same = outcome(0.5, [0.5001], deterministic=True, recorded_on="AMD EPYC", retrained_on="AMD EPYC")
    assert verify.verdict(same, 0.0) == "differs"


def test_the_cross_machine_pairs_are_runs_that_trained_the_same_thing_on_two_kinds_of_machine():
    from prepbench.report.machines import cross_machine_pairs, spread
    from tests._report_runs import frame, job

    intel, amd = "Intel(R) Xeon(R) Processor x2; no GPU", "AMD EPYC x2; no GPU"
    # 30 epochs of 1,000 images at batch 128 (8 steps each) = 240 steps, asked two ways
    by_epochs = job("none", "deep", 0, epochs=30, acc=0.600)
    by_steps = job("none", "deep", 0, epochs=30, acc=0.605, params={"trainer.steps": 240, "tracking.uri": "elsewhere"})
    by_steps.update({"tags.prepbench.epochs": "30", "tags.prepbench.steps": "240"})
    alone = job("none", "deep", 1, epochs=30, acc=0.61)  # seed 1 on one machine only: no pair
    longer = job("none", "deep", 0, epochs=31, acc=0.62)  # trained longer: not the same thing
    by_epochs["tags.prepbench.hardware"] = alone["tags.prepbench.hardware"] = intel
    by_steps["tags.prepbench.hardware"] = longer["tags.prepbench.hardware"] = amd
    pairs = cross_machine_pairs(frame([by_epochs, by_steps, alone, longer]))
    assert len(pairs) == 1
    assert pairs.iloc[0]["diff_pp"] == pytest.approx(-0.5)  # AMD EPYC − Intel: kinds in sorted order
    found = spread(pairs, "Intel(R) Xeon(R) Processor", "AMD EPYC")
    assert (found.largest_pp, found.pairs) == (pytest.approx(0.5), 1)
    assert spread(pairs.iloc[0:0], "a", "b") is None


def test_a_run_whose_auto_resolved_to_bfloat16_is_retrained_in_bfloat16_where_auto_means_float32(tmp_path, monkeypatch):
    """The run trained with trainer.precision=auto (its overrides say so) and recorded bfloat16. Here
    `auto` means float32 (a measurement in the retraining's cache says bfloat16 is slower, and
    without bfloat16 instructions it is float32 anyway); the retraining must still run bfloat16."""
    from prepbench.study import verify_machines as machines
    from prepbench.track.machine import this_kind
    from prepbench.train import precision_probe
    from prepbench.train.precision import resolve

    done = prepbench(
        *TINY, "trainer.deterministic=true", "data.train_size=60", "trainer.precision=bfloat16", store=tmp_path
    )
    assert done.returncode == 0, done.stderr
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    client = mlflow.tracking.MlflowClient(uri)
    run = client.search_runs([client.get_experiment_by_name("adhoc").experiment_id], "tags.`prepbench.role` = 'job'")[0]
    assert run.data.params["trainer.precision"] == "bfloat16"
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    client.set_tag(run.info.run_id, "prepbench.git_commit", head)
    recorded = [o for o in verify.json.loads(run.data.tags["prepbench.overrides"]) if "precision" not in o]
    client.set_tag(run.info.run_id, "prepbench.overrides", verify.json.dumps([*recorded, "trainer.precision=auto"]))
    # this machine's `auto`, in the retraining's own cache, measured: float32 for every net
    cache = tmp_path / "cache"
    monkeypatch.setenv("PREPBENCH_CACHE", str(cache))
    measured = {"float32": 1000.0, "bfloat16": 500.0}
    for depth in (1, 2, 8):  # TINY's nets, whatever depth they compose to
        key = precision_probe.net_key(depth, 4, 8, False, 128)
        precision_probe.record(cache / "verify" / f"{head}-cache", this_kind(), key, measured)
    assert resolve("auto", flags={"avx512_bf16"}, gpus=[], measured=measured) == "float32"
    assert machines.resolved_overrides(run.data.params, head)[0] == [
        "trainer.precision=bfloat16",
        "trainer.backend=tensorflow",
    ]
    out = tmp_path / "verify.md"
    code = verify.main(["--experiment", "adhoc", "--tracking-uri", uri, "--runs", "1", "--out", str(out)])
    text = out.read_text()
    assert code == 0, text
    assert "| identical | deterministic: must be identical; recorded and retrained on " in text
    assert "retrained with trainer.precision=bfloat16, trainer.backend=tensorflow" in text
    # the same run, recorded on another kind of machine: no pairs in this store, so no verdict (exit 0)
    client.set_tag(run.info.run_id, "prepbench.machine", "Another CPU")
    assert verify.main(["--experiment", "adhoc", "--tracking-uri", uri, "--runs", "1", "--out", str(out)]) == 0
    assert (
        f"| {machines.NO_VERDICT} | recorded on Another CPU, retrained on {this_kind()}: +0.00 pp; " in out.read_text()
    )


def test_a_commit_without_the_setting_is_said_to_be_unable_to_reproduce_it():
    from prepbench.study import verify_machines as machines

    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    assert machines.accepts(head, "trainer.precision")
    assert not machines.accepts(head, "trainer.no_such_setting")
    overrides, notes = machines.resolved_overrides({"trainer.precision": "bfloat16"}, "0" * 40)
    assert overrides == [] and "has no setting for: not reproduced here" in notes[0]
    assert machines.replace_overrides(["seed=1", "trainer.precision=auto"], ["trainer.precision=bfloat16"]) == [
        "seed=1",
        "trainer.precision=bfloat16",
    ]
