"""The bad-input catalogue (README "Bad input"), each case through a real `python -m prepbench`:
one line naming the bad value and what was expected, exit status 2, no traceback unless
HYDRA_FULL_ERROR=1, and no FINISHED run left behind."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from prepbench import ROOT
from tests._proc import env, error_lines, prepbench

PREPS = ", ".join(sorted(p.stem for p in (ROOT / "conf" / "prep").glob("*.yaml")))  # as Hydra lists them


def make_folders(root: Path) -> None:
    rng = np.random.default_rng(0)

    def image(path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)).save(path)

    for split, classes in (("train", "ab"), ("test", "ac")):
        for c in classes:
            for i in range(3):
                image(root / "differ" / split / c / f"{i}.png")
    for i in range(3):
        image(root / "flat" / f"{i}.png")
    for split in ("train", "test"):
        for c in "ab":
            for i in range(3):
                image(root / "corrupt" / split / c / f"{i}.png")
    (root / "corrupt" / "train" / "a" / "1.png").write_bytes(b"not a png at all")
    (root / "broken.zip").write_bytes(b"PK\x03\x04 a zip cut short")


# id: (arguments, the one line on stderr; {d} is the folder of generated data sets)
CASES = {
    "unknown-prep": (["prep=zxa"], f"error: prep=zxa is unknown; expected one of {PREPS}"),
    "unknown-net": (["net=huge"], "error: net=huge is unknown; expected one of deep, shallow"),
    "unknown-launcher": (["hydra/launcher=nope"], "error: hydra/launcher=nope is unknown; expected one of basic, joblib, local, parallel, slurm, submitit_local, submitit_slurm"),
    "unknown-key": (["trainer.momentum=0.9"], "error: Could not override 'trainer.momentum'. To append to your config use +trainer.momentum=0.9 Key 'momentum' is not in struct"),
    "epochs-zero": (["data=synthetic", "trainer.epochs=0"], "error: trainer.epochs=0 is out of range; expected an integer >= 1"),
    "lr-negative": (["data=synthetic", "trainer.lr=-0.1"], "error: trainer.lr=-0.1 is out of range; expected a positive finite number"),
    "path-unset": (["data=folder"], "error: data.path is not set; expected it in the data config (see conf/data/)"),
    "path-missing": (["data=folder", "data.path={d}/nowhere"], "error: data.path={d}/nowhere does not exist; expected a directory or a .zip with train/<class>/ and test/<class>/"),
    "path-unreadable": (["data=folder", "data.path={d}/broken.zip"], "error: data.path={d}/broken.zip is neither a directory nor a zip file; expected a directory or a .zip with train/<class>/ and test/<class>/"),
    "not-image-folders": (["data=folder", "data.path={d}/flat"], "error: data.path={d}/flat has no train/ and no test/ in its top level (found: nothing); expected train/<class>/ and test/<class>/"),
    "classes-differ": (["data=folder", "data.path={d}/differ"], "error: data.path={d}/differ: class folders differ between the splits (only in train/: b; only in test/: c); expected the same class folders under train/ and test/"),
    "corrupt-image": (["data=folder", "data.path={d}/corrupt"], "error: data.path={d}/corrupt: cannot decode train/a/1.png (unknown image format); expected a readable JPEG or PNG image"),
    "train-size": (["data=synthetic", "data.train_size=100000"], "error: data.train_size=100000 is larger than the 320 training images left after data.val_size=80; expected at most 320"),
    "zca-epsilon-zero": (["data=synthetic", "prep=zca", "prep.zca_epsilon=0"], "error: prep.zca_epsilon=0 is out of range; expected a positive number such as 1e-6"),
    "backend-unknown": (["data=synthetic", "trainer.backend=torch"], "error: trainer.backend=torch is out of range; expected tensorflow or jax"),
    "wrap-on-jax": (["data=synthetic", "trainer.backend=jax", "augmentation.fill_mode=wrap"], "error: augmentation.fill_mode=wrap is not available with trainer.backend=jax; expected nearest, constant or reflect"),
    "tracking-scheme": (["data=synthetic", "tracking.uri=ftp://example.org/mlflow"], "error: tracking.uri=ftp://example.org/mlflow has unknown scheme 'ftp'; expected one of sqlite, file, http, https, postgresql, mysql, mssql, databricks"),
    # In a sweep: the same line (the sweep's summary repeats it last) and the same exit status.
    "sweep-unknown-prep": (["-m", "prep=none,zxa"], f"error: prep=zxa is unknown; expected one of {PREPS}"),
    "sweep-out-of-range": (["-m", "data=synthetic", "trainer.epochs=0"], "error: trainer.epochs=0 is out of range; expected an integer >= 1"),
    "sweep-path-missing": (["-m", "data=folder", "data.path={d}/nowhere"], "error: data.path={d}/nowhere does not exist; expected a directory or a .zip with train/<class>/ and test/<class>/"),
}


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory):
    """Every case once, three processes at a time (each is seconds: bad input stops before TensorFlow)."""
    root = tmp_path_factory.mktemp("bad")
    make_folders(root)

    def one(case):
        store = root / case
        store.mkdir()
        args = [a.format(d=root) for a in CASES[case][0]]
        own_store = not any(a.startswith("tracking.uri=") for a in args)
        return case, (prepbench(*args, store=store, tracking=own_store, timeout=120), store)

    with ThreadPoolExecutor(max_workers=3) as pool:
        done = dict(pool.map(one, CASES))
    return root, done


def finished_runs(store: Path) -> int:
    db = store / "mlflow.db"
    if not db.exists():
        return 0
    with sqlite3.connect(db) as con:
        return con.execute("select count(*) from runs where status = 'FINISHED'").fetchone()[0]


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES)
def test_bad_input_is_one_line_exit_2_and_no_finished_run(outcomes, case):
    root, done = outcomes
    out, store = done[case]
    expected = CASES[case][1].format(d=root)
    lines = error_lines(out.stderr)
    assert out.returncode == 2, out.stderr[-3000:]
    assert "Traceback" not in out.stderr and "HYDRA_FULL_ERROR" not in out.stderr
    if case.startswith("sweep-") and len(lines) > 1:  # the job's line, then the sweep's summary repeats it
        assert lines[-1] == expected
        assert all(line.startswith("job ") and line.endswith(expected) for line in lines[:-1])
    else:
        assert lines == [expected]
    assert finished_runs(store) == 0


def test_hydra_full_error_shows_the_traceback(tmp_path):
    out = prepbench("data=synthetic", "trainer.epochs=0", store=tmp_path, HYDRA_FULL_ERROR="1")
    assert out.returncode != 0
    assert "Traceback" in out.stderr and "PrepbenchError: trainer.epochs=0 is out of range" in out.stderr
    out = prepbench("prep=zxa", store=tmp_path, HYDRA_FULL_ERROR="1")
    assert out.returncode != 0 and "Traceback" in out.stderr and "Could not find 'prep/zxa'" in out.stderr


def test_a_report_on_an_experiment_with_incompatible_runs_is_one_line(tmp_path):
    """An experiment name that exists but holds runs that are not prepbench jobs."""
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{tmp_path}/mlflow.db"
    client = MlflowClient(uri)
    exp = client.create_experiment("someone-elses", artifact_location=f"file://{tmp_path}/art")
    run = client.create_run(exp, run_name="not a prepbench job")
    client.log_param(run.info.run_id, "learning_rate", "0.1")
    client.log_metric(run.info.run_id, "accuracy", 0.9)
    client.set_terminated(run.info.run_id)
    out = subprocess.run([sys.executable, "-m", "prepbench.report", "--experiment", "someone-elses", "--tracking-uri", uri,
                          "--out", str(tmp_path / "report")], cwd=ROOT, env=env(tmp_path), capture_output=True, text=True, timeout=120)
    assert out.returncode == 2, out.stderr[-3000:]
    lines = error_lines(out.stderr)
    assert len(lines) == 1 and lines[0].startswith("error: experiment 'someone-elses'"), lines
    assert "Traceback" not in out.stderr
    assert len(client.search_runs([exp])) == 1  # nothing added
