"""prepbench.train.version: the training code's version, declared for every change to that code."""

import shutil

from prepbench.track import identity
from prepbench.train import version


def test_the_training_code_is_the_code_its_version_was_declared_for():
    found = version.training_code_digest()
    assert found == version.CODE_DIGEST, (
        f"the training code changed (digest {found}, recorded {version.CODE_DIGEST} for version "
        f"{version.CODE_VERSION}). If the change alters what a job computes, bump CODE_VERSION in "
        f"prepbench/train/version.py; either way record CODE_DIGEST = {found!r} there"
    )


def test_the_digest_sees_code_and_not_comments_docstrings_or_formatting(tmp_path, monkeypatch):
    package = tmp_path / "prepbench"
    shutil.copytree(version.PACKAGE / "train", package / "train")
    for name in ("data", "prep"):
        shutil.copytree(version.PACKAGE / name, package / name)
    shutil.copy(version.PACKAGE / "variants.py", package / "variants.py")
    (package / "study").mkdir()
    shutil.copy(version.PACKAGE / "study" / "job.py", package / "study" / "job.py")
    monkeypatch.setattr(version, "PACKAGE", package)
    before = version.training_code_digest()
    assert before == version.CODE_DIGEST
    nets = package / "train" / "nets.py"
    source = nets.read_text()
    assert source.startswith('"""')
    reworded = '"""Reworded.\n\n' + source[3:].replace("\n\n\n", "\n# a comment\n\n\n\n")
    nets.write_text(reworded)
    assert version.training_code_digest() == before
    nets.write_text(source + "\nEXTRA = 1\n")
    assert version.training_code_digest() != before


def test_the_code_version_is_part_of_a_jobs_identity_from_version_2(monkeypatch):
    from prepbench.config import compose

    cfg = compose(["prep=zca", "net=deep"])
    at_1 = identity.config_hash(cfg)
    monkeypatch.setattr(identity, "CODE_VERSION", 2)
    at_2 = identity.config_hash(cfg)
    monkeypatch.setattr(identity, "CODE_VERSION", 3)
    assert len({at_1, at_2, identity.config_hash(cfg)}) == 3
