"""Fixtures shared by the tests: small synthetic images and, where present, the shared JPEG copy."""

import os
from pathlib import Path

import numpy as np
import pytest
from omegaconf import OmegaConf

from prepbench import ROOT
from prepbench.track.provenance import SHARED_ZIP

CIFAR_JPEG_ZIP = SHARED_ZIP
# `trainer.precision=auto` follows the CPU's flags in tests (and in the jobs they start), as before
# the probe existed: a probe per test's fresh cache would cost seconds each (tests/test_precision.py
# tests the measured choice itself).
os.environ.setdefault("PREPBENCH_PRECISION_PROBE", "0")


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="session")
def cifar_jpeg(cache_dir):
    """The shared CIFAR-10 JPEG copy, decoded once per test session."""
    if not CIFAR_JPEG_ZIP.exists():
        pytest.skip(f"{CIFAR_JPEG_ZIP} is absent (CI always has it)")
    from prepbench.data.splits import load_splits

    cfg = OmegaConf.load(ROOT / "conf" / "data_splits.yaml")
    cfg.merge_with(dict(source="folder", path=str(CIFAR_JPEG_ZIP), cache_dir=str(cache_dir), val_size=1000))
    return load_splits(cfg)


@pytest.fixture(scope="session")
def synthetic_splits(cache_dir):
    """conf/data/synthetic.yaml's splits (small random images), made once per test session."""
    from prepbench.data.splits import load_splits

    cfg = OmegaConf.merge(
        OmegaConf.load(ROOT / "conf" / "data_splits.yaml"), OmegaConf.load(ROOT / "conf" / "data" / "synthetic.yaml")
    )
    cfg.pop("defaults")
    cfg.cache_dir = str(cache_dir)
    return load_splits(cfg)


@pytest.fixture
def images():
    return np.random.default_rng(0).integers(0, 256, size=(64, 8, 8, 3), dtype=np.uint8)


@pytest.fixture
def code_repo(tmp_path, monkeypatch) -> Path:
    """A small git checkout standing in for prepbench's own (provenance reads ROOT): committed code,
    a study's store under results/ and the default store git ignores."""
    import subprocess

    from prepbench.track import provenance

    def git(*args):
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)

    (tmp_path / "results" / "study").mkdir(parents=True)
    (tmp_path / "results" / "study" / "mlflow.db").write_text("store")
    (tmp_path / ".gitignore").write_text("/results/mlflow.db\n")
    (tmp_path / "train.py").write_text("code")
    git("init", "-q")
    git("add", ".")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "x")
    monkeypatch.setattr(provenance, "ROOT", tmp_path)
    provenance.git_commit.cache_clear()
    yield tmp_path
    provenance.git_commit.cache_clear()
