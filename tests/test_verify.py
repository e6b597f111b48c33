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
    assert "| identical | deterministic: must be identical |" in text
    # a -dirty run is refused, or retrained at its base commit with --dirty-at-base
    client.set_tag(run.info.run_id, "prepbench.git_commit", head + "-dirty")
    assert verify.main(["--experiment", "adhoc", "--tracking-uri", uri, "--out", str(out)]) == 0
    assert "| refused | recorded commit" in out.read_text()
    assert verify.main(["--experiment", "adhoc", "--tracking-uri", uri, "--dirty-at-base", "--out", str(out)]) == 0
    assert (
        "| identical | deterministic: must be identical; a -dirty run, retrained at its base commit" in out.read_text()
    )


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
