"""scripts/snapshot_store.py: a growing store copied into the checkout, its database consistent, its
artifacts added and never overwritten."""

import importlib.util

import pytest

from prepbench import ROOT


def _script():
    spec = importlib.util.spec_from_file_location("snapshot_store", ROOT / "scripts" / "snapshot_store.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture()
def growing(tmp_path):
    """A worktree's store: one FINISHED and one RUNNING run, two artifact files."""
    from mlflow.tracking import MlflowClient

    source = tmp_path / "worktree" / "results" / "study"
    (source / "mlartifacts" / "1" / "run-a").mkdir(parents=True)
    client = MlflowClient(f"sqlite:///{source / 'mlflow.db'}")
    exp = client.create_experiment("study", artifact_location=str(source / "mlartifacts" / "1"))
    done = client.create_run(exp).info.run_id
    client.set_terminated(done, "FINISHED")
    client.create_run(exp)
    (source / "mlartifacts" / "1" / "run-a" / "report.md").write_text("new")
    (source / "mlartifacts" / "1" / "run-a" / "curve.csv").write_text("1,2")
    return source


def test_the_store_is_backed_up_and_only_missing_artifacts_are_copied(growing, tmp_path, capsys):
    snap = _script()
    target = tmp_path / "main" / "results" / "study"
    (target / "mlartifacts" / "1" / "run-a").mkdir(parents=True)
    (target / "mlartifacts" / "1" / "run-a" / "report.md").write_text("committed")
    assert snap.main([str(growing), str(target)]) == 0
    assert (
        snap.counts(target / "mlflow.db")
        == snap.counts(growing / "mlflow.db")
        == [
            ("study", "FINISHED", 1),
            ("study", "RUNNING", 1),
        ]
    )
    assert (target / "mlartifacts" / "1" / "run-a" / "curve.csv").read_text() == "1,2"
    assert (target / "mlartifacts" / "1" / "run-a" / "report.md").read_text() == "committed"  # never overwritten
    out = capsys.readouterr().out
    assert "1 new artifact file(s)" in out and "study: 1 RUNNING" in out
    assert "python -m prepbench.report.published" in out  # the reports counted the old store's runs


@pytest.mark.parametrize("case", ["absent", "same"])
def test_a_bad_folder_is_one_line_and_writes_nothing(growing, tmp_path, capsys, case):
    source = tmp_path / "absent" if case == "absent" else growing
    target = tmp_path / "target" if case == "absent" else growing
    assert _script().main([str(source), str(target)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and str(source) in err
    assert not (tmp_path / "target").exists()
