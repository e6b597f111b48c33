"""The bad-input catalogue (docs/bad-input.md), each case through a real `python -m prepbench`:
one line naming the bad value and what was expected, exit status 2, no traceback unless
HYDRA_FULL_ERROR=1, and no FINISHED run left behind."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
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
    for split in ("train", "test"):
        for c in "ab":
            for i in range(3):
                image(root / "nested" / split / c / f"{i}.png")
                image(root / "bmp" / split / c / f"{i}.png")
    image(root / "nested" / "train" / "a" / "more" / "0.png")
    for i in range(3):
        (root / "bmp" / "train" / "b" / f"{i}.png").rename(root / "bmp" / "train" / "b" / f"{i}.bmp")
    (root / "store-dir").mkdir()
    (root / "notes.txt").write_text("not a database\n")


# id: (arguments, the one line on stderr; {d} is the folder of generated data sets, {s} the case's store)
CASES = {
    "unknown-prep": (["prep=zxa"], f"error: prep=zxa is unknown; expected one of {PREPS}"),
    "unknown-net": (["net=huge"], "error: net=huge is unknown; expected one of deep, resnet, shallow"),
    "unknown-launcher": (
        ["hydra/launcher=nope"],
        "error: hydra/launcher=nope is unknown; expected one of basic, joblib, local, parallel, slurm, submitit_local, submitit_slurm",
    ),
    "unknown-key": (
        ["trainer.beta1=0.9"],
        "error: Could not override 'trainer.beta1'. To append to your config use +trainer.beta1=0.9 Key 'beta1' is not in struct",
    ),
    "epochs-zero": (
        ["data=synthetic", "trainer.epochs=0"],
        "error: trainer.epochs=0 is out of range; expected an integer >= 1",
    ),
    "lr-negative": (
        ["data=synthetic", "trainer.lr=-0.1"],
        "error: trainer.lr=-0.1 is out of range; expected a positive finite number",
    ),
    "path-unset": (["data=folder"], "error: data.path is not set; expected it in the data config (see conf/data/)"),
    "path-missing": (
        ["data=folder", "data.path={d}/nowhere"],
        "error: data.path={d}/nowhere does not exist; expected a directory or a .zip with train/<class>/ and test/<class>/",
    ),
    "path-unreadable": (
        ["data=folder", "data.path={d}/broken.zip"],
        "error: data.path={d}/broken.zip is neither a directory nor a zip file; expected a directory or a .zip with train/<class>/ and test/<class>/",
    ),
    "not-image-folders": (
        ["data=folder", "data.path={d}/flat"],
        "error: data.path={d}/flat has no train/ and no test/ in its top level (found: nothing); expected train/<class>/ and test/<class>/",
    ),
    "classes-differ": (
        ["data=folder", "data.path={d}/differ"],
        "error: data.path={d}/differ: class folders differ between the splits (only in train/: b; only in test/: c); expected the same class folders under train/ and test/",
    ),
    "corrupt-image": (
        ["data=folder", "data.path={d}/corrupt"],
        "error: data.path={d}/corrupt: cannot decode train/a/1.png (unknown image format); expected a readable JPEG or PNG image",
    ),
    "train-size": (
        ["data=synthetic", "data.train_size=100000"],
        "error: data.train_size=100000 is larger than the 320 training images left after data.val_size=80; expected at most 320",
    ),
    "zca-epsilon-zero": (
        ["data=synthetic", "prep=zca", "prep.zca_epsilon=0"],
        "error: prep.zca_epsilon=0 is out of range; expected a positive number such as 1e-6",
    ),
    "backend-unknown": (
        ["data=synthetic", "trainer.backend=torch"],
        "error: trainer.backend=torch is invalid; expected tensorflow or jax",
    ),
    "wrap-on-jax": (
        ["data=synthetic", "trainer.backend=jax", "augmentation.fill_mode=wrap"],
        "error: augmentation.fill_mode=wrap is not available with trainer.backend=jax; expected nearest, constant or reflect",
    ),
    "tracking-scheme": (
        ["data=synthetic", "tracking.uri=ftp://example.org/mlflow"],
        "error: tracking.uri=ftp://example.org/mlflow has unknown scheme 'ftp'; expected one of sqlite, file, http, https, postgresql, mysql, mssql, databricks",
    ),
    "nested-images": (
        ["data=folder", "data.path={d}/nested"],
        "error: data.path={d}/nested: train/a/more/0.png is not directly in a class folder; expected every image at train/<class>/<file> or test/<class>/<file> (move nested images up, or make their folder a class)",
    ),
    "unsupported-images": (
        ["data=folder", "data.path={d}/bmp"],
        "error: data.path={d}/bmp: train/b/0.bmp, train/b/1.bmp, train/b/2.bmp are an unsupported image format; expected JPEG or PNG images (.jpg, .jpeg, .png) in the class folders: convert the others",
    ),
    "fewer-images-than-classes": (
        ["data=synthetic", "data.train_size=3"],
        "error: data.train_size=3 leaves 3 training image(s) for 4 classes, none of class class_3; expected at least one training image per class (train_size >= 4)",
    ),
    "image-size-for-depth": (
        ["data=synthetic", "net=deep", "data.image_size=8"],
        "error: data.image_size=8 is too small for net=deep (depth 8, 4 pooling stages: 8 -> 4 -> 2 -> 1 -> 0); expected at least 16",
    ),
    "seed-too-big": (
        ["data=synthetic", "seed=4294967296"],
        "error: seed=4294967296 is out of range; expected an integer from 0 to 2**32-1 = 4294967295",
    ),
    "boolean-as-word": (
        ["data=synthetic", "trainer.deterministic=no"],
        "error: trainer.deterministic=no is invalid; expected true or false",
    ),
    "experiment-empty": (
        ["data=synthetic", "tracking.experiment="],
        "error: tracking.experiment='' is invalid; expected a non-empty name",
    ),
    "uri-directory": (
        ["data=synthetic", "tracking.uri=sqlite:///{d}/store-dir"],
        "error: tracking.uri=sqlite:///{d}/store-dir is a directory; expected a database file in it, such as {d}/store-dir/mlflow.db",
    ),
    "uri-not-a-database": (
        ["data=synthetic", "tracking.uri=sqlite:///{d}/notes.txt"],
        "error: tracking.uri=sqlite:///{d}/notes.txt: {d}/notes.txt is not an SQLite database; expected an MLflow store or a new file name",
    ),
    "offline-download": (
        ["data.url=http://127.0.0.1:9/cifar-10-python.tar.gz"],
        "error: cannot download data.url=http://127.0.0.1:9/cifar-10-python.tar.gz ([Errno 111] Connection refused); expected a reachable CIFAR-10 python archive (or a copy at {s}/cache/downloads/cifar-10-python.tar.gz), or use your own images: data=folder data.path=DIR_OR_ZIP",
    ),
    # In a sweep: the same line (the sweep's summary repeats it last) and the same exit status.
    "sweep-unknown-prep": (
        ["-m", "data=synthetic", "prep=none,zxa"],
        f"error: prep=zxa is unknown; expected one of {PREPS}",
    ),
    "sweep-out-of-range": (
        ["-m", "data=synthetic", "trainer.epochs=0"],
        "error: trainer.epochs=0 is out of range; expected an integer >= 1",
    ),
    "sweep-path-missing": (
        ["-m", "data=folder", "data.path={d}/nowhere"],
        "error: data.path={d}/nowhere does not exist; expected a directory or a .zip with train/<class>/ and test/<class>/",
    ),
    # Refused by the sweep before its parent run opens: one line, no run at all.
    "sweep-offline-download": (
        ["-m", "prep=none,std,minmax", "data.url=http://127.0.0.1:9/cifar-10-python.tar.gz"],
        "error: cannot download data.url=http://127.0.0.1:9/cifar-10-python.tar.gz ([Errno 111] Connection refused); expected a reachable CIFAR-10 python archive (or a copy at {s}/cache/downloads/cifar-10-python.tar.gz), or use your own images: data=folder data.path=DIR_OR_ZIP",
    ),
    "sweep-n-jobs-zero": (
        ["-m", "data=synthetic", "prep=none,std", "hydra/launcher=parallel", "hydra.launcher.n_jobs=0"],
        "error: hydra.launcher.n_jobs=0 is invalid; expected a number of parallel jobs >= 1, or -1 for one per core (-2: all but one, ...)",
    ),
    "sweep-uri-not-a-database": (
        ["-m", "data=synthetic", "prep=none,std", "tracking.uri=sqlite:///{d}/notes.txt"],
        "error: tracking.uri=sqlite:///{d}/notes.txt: {d}/notes.txt is not an SQLite database; expected an MLflow store or a new file name",
    ),
    "sweep-experiment-empty": (
        ["-m", "data=synthetic", "prep=none,std", "study="],
        "error: tracking.experiment='' is invalid; expected a non-empty name",
    ),
}
# Cases that must leave no run at all (not even a sweep's parent), and answer within seconds
# (an unusable SQLite store used to cost 105 s of MLflow's retries).
NO_RUN_AT_ALL = [
    c
    for c in CASES
    if not c.startswith("sweep-")
    or c in ("sweep-offline-download", "sweep-n-jobs-zero", "sweep-uri-not-a-database", "sweep-experiment-empty")
]


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory):
    """Every case once, three processes at a time (each is seconds: bad input stops before TensorFlow)."""
    root = tmp_path_factory.mktemp("bad")
    make_folders(root)

    def one(case):
        store = root / case
        store.mkdir()
        args = [a.format(d=root, s=store) for a in CASES[case][0]]
        own_store = not any(a.startswith("tracking.uri=") for a in args)
        started = time.monotonic()
        out = prepbench(*args, store=store, tracking=own_store, timeout=120)
        return case, (out, store, time.monotonic() - started)

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
    out, store, seconds = done[case]
    expected = CASES[case][1].format(d=root, s=store)
    lines = error_lines(out.stderr)
    assert out.returncode == 2, out.stderr[-3000:]
    assert "Traceback" not in out.stderr and "HYDRA_FULL_ERROR" not in out.stderr
    if case.startswith("sweep-") and len(lines) > 1:  # the job's line, then the sweep's summary repeats it
        assert lines[-1] == expected
        assert all(line.startswith("job ") and line.endswith(expected) for line in lines[:-1])
    else:
        assert lines == [expected]
    assert finished_runs(store) == 0
    if case in NO_RUN_AT_ALL:
        assert all_runs(store) == 0
        assert "epoch" not in out.stdout and "job 1/" not in out.stdout  # stopped before any job
        assert seconds < 60, seconds  # a few seconds alone; this machine is shared


def all_runs(store: Path) -> int:
    db = store / "mlflow.db"
    if not db.exists():
        return 0
    with sqlite3.connect(db) as con:
        return con.execute("select count(*) from runs").fetchone()[0]


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
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "prepbench.report",
            "--experiment",
            "someone-elses",
            "--tracking-uri",
            uri,
            "--out",
            str(tmp_path / "report"),
        ],
        cwd=ROOT,
        env=env(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 2, out.stderr[-3000:]
    lines = error_lines(out.stderr)
    assert len(lines) == 1 and lines[0].startswith("error: experiment 'someone-elses'"), lines
    assert "Traceback" not in out.stderr
    assert len(client.search_runs([exp])) == 1  # nothing added


def test_a_store_on_a_read_only_file_system_is_one_line_at_once(tmp_path, monkeypatch):
    """In process: the check that answers before MLflow's retries (os.access says EROFS)."""
    from prepbench.errors import PrepbenchError
    from prepbench.track.store import check_sqlite

    (tmp_path / "ro").mkdir()
    real_access = os.access
    monkeypatch.setattr(
        os,
        "access",
        lambda p, mode, **kw: False if str(p).startswith(str(tmp_path / "ro")) else real_access(p, mode, **kw),
    )
    monkeypatch.setattr("prepbench.track.store._read_only_fs", lambda path: True)
    uri = f"sqlite:///{tmp_path}/ro/mlflow.db"
    with pytest.raises(
        PrepbenchError,
        match=rf"^tracking.uri={uri}: {tmp_path}/ro is not writable \(a read-only file system\); "
        r"expected a writable file path such as results/mlflow.db$",
    ):
        check_sqlite(uri)


@pytest.mark.slow
def test_a_store_on_a_really_read_only_mount_is_one_line_exit_2_within_seconds(tmp_path):
    """A read-only tmpfs, where the machine lets us mount one (root in a container); the in-process
    test above covers the check everywhere."""
    mount = tmp_path / "ro"
    mount.mkdir()
    if subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(mount)], capture_output=True
    ).returncode:
        pytest.skip(
            "cannot mount a read-only tmpfs here (needs root); test_a_store_on_a_read_only_file_system... covers the check"
        )
    try:
        started = time.monotonic()
        out = prepbench(
            "data=synthetic", f"tracking.uri=sqlite:///{mount}/mlflow.db", store=tmp_path, tracking=False, timeout=120
        )
        took = time.monotonic() - started
    finally:
        subprocess.run(["umount", str(mount)], check=True)
    assert out.returncode == 2 and took < 60, (took, out.stderr[-2000:])
    assert error_lines(out.stderr) == [
        f"error: tracking.uri=sqlite:///{mount}/mlflow.db: {mount} is not writable "
        "(a read-only file system); expected a writable file path such as results/mlflow.db"
    ]


def test_report_out_at_a_file_is_one_line_before_reading_the_store(tmp_path):
    (tmp_path / "taken").write_text("a file")
    for out_dir, why in (
        (tmp_path / "taken", "is a file"),
        (tmp_path / "taken" / "sub", f"lies under {tmp_path}/taken, which is a file"),
    ):
        started = time.monotonic()
        out = subprocess.run(
            [
                sys.executable,
                "-m",
                "prepbench.report",
                "--experiment",
                "x",
                "--tracking-uri",
                f"sqlite:///{tmp_path}/none.db",
                "--out",
                str(out_dir),
            ],
            cwd=ROOT,
            env=env(tmp_path),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert out.returncode == 2 and time.monotonic() - started < 60
        assert error_lines(out.stderr) == [f"error: --out {out_dir} {why}; expected a directory (created if missing)"]
    assert not (tmp_path / "none.db").exists()
