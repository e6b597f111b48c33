"""prepbench.track.provenance: commit, versions, hardware and data names as every tool writes them."""

import os
import re

from prepbench.track import provenance


def test_git_commit_is_the_checked_out_commit(monkeypatch):
    full = provenance.git_commit()
    assert re.fullmatch(r"[0-9a-f]{40}(-dirty)?", full), full
    short = provenance.git_commit(short=True, paths=("prepbench",))
    assert re.fullmatch(r"[0-9a-f]{7,12}(-dirty)?", short) and full.startswith(short.removesuffix("-dirty"))


def test_git_commit_outside_a_checkout_is_unknown(monkeypatch, tmp_path):
    monkeypatch.setattr(provenance, "ROOT", tmp_path)
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))
    provenance.git_commit.cache_clear()
    try:
        assert provenance.git_commit() == "unknown"
    finally:
        provenance.git_commit.cache_clear()


def test_versions_and_hardware():
    v = provenance.versions()
    assert set(v) == {"python", *provenance.LIBRARIES} and all(v.values())
    assert re.fullmatch(rf".+ x{os.cpu_count()}; (no GPU|GPU: .+)", provenance.hardware())


def test_data_names_say_which_cifar10():
    assert provenance.data_name("cifar10") == "CIFAR-10 (official release)"
    assert provenance.data_name("folder", provenance.SHARED_ZIP) == "CIFAR-10 (JPEG q75 copy)"
    assert provenance.data_name("folder", "../shared/data/cifar10-jpeg.zip") == "CIFAR-10 (JPEG q75 copy)"
    assert provenance.data_name("folder", "/x/flowers") == "the image folder /x/flowers"
    assert provenance.data_name("folder") == "an image folder"
    assert provenance.data_name("synthetic") == "synthetic images"


def test_a_study_store_changing_under_results_leaves_the_commit_clean(code_repo):
    (code_repo / "results" / "study" / "mlflow.db").write_text("store, grown")
    (code_repo / "notes.txt").write_text("untracked")
    assert not provenance.git_commit().endswith("-dirty")
    assert provenance.uncommitted_files() == [] and provenance.uncommitted_diff() == ""
    provenance.git_commit.cache_clear()
    (code_repo / "train.py").write_text("code, changed")
    assert provenance.git_commit().endswith("-dirty")
    assert provenance.uncommitted_files() == ["train.py"]
    assert "+code, changed" in provenance.uncommitted_diff()


def test_new_files_of_the_code_count_as_uncommitted_and_ignored_ones_do_not(code_repo):
    """A new module, config option or experiment is code that a run would use though no commit
    holds it; a file git ignores (a cache) or a new file outside the code (notes) is not."""
    (code_repo / ".git" / "info" / "exclude").write_text("__pycache__/\n")
    for folder in ("prepbench/__pycache__", "conf/prep", "experiments"):
        (code_repo / folder).mkdir(parents=True)
    (code_repo / "prepbench" / "__pycache__" / "new.cpython-311.pyc").write_bytes(b"\x00")
    (code_repo / "notes.txt").write_text("untracked, not code")
    assert provenance.uncommitted_files() == [] and not provenance.git_commit().endswith("-dirty")
    (code_repo / "prepbench" / "new.py").write_text("NEW = 1\n")
    (code_repo / "conf" / "prep" / "new.yaml").write_text("name: new\n")
    (code_repo / "experiments" / "new.yaml").write_text("study: new\n")
    provenance.git_commit.cache_clear()
    assert provenance.uncommitted_files() == ["conf/prep/new.yaml", "experiments/new.yaml", "prepbench/new.py"]
    assert provenance.git_commit().endswith("-dirty")
    assert provenance.uncommitted_files(("prepbench",)) == ["prepbench/new.py"]
    assert "+NEW = 1" in provenance.uncommitted_diff() and "+study: new" in provenance.uncommitted_diff()


def test_a_study_store_is_a_local_store_under_results_that_git_keeps(code_repo, monkeypatch):
    monkeypatch.chdir(code_repo)
    code_repo = code_repo.resolve()
    study = code_repo / "results" / "study" / "mlflow.db"
    assert provenance.study_store(f"sqlite:///{study}") == study
    assert provenance.study_store("sqlite:///results/study/mlflow.db") == code_repo / "results/study/mlflow.db"
    assert provenance.study_store(f"file://{code_repo}/results/other/mlruns") == code_repo / "results/other/mlruns"
    assert provenance.study_store(f"sqlite:///{code_repo}/results/mlflow.db") is None  # ignored: the default store
    assert provenance.study_store(f"sqlite:///{code_repo}/elsewhere.db") is None
    assert provenance.study_store("http://localhost:5000") is None
