"""`python -m prepbench` exactly as users type it, in real processes, into a temporary store."""

import os
import subprocess
import sys
from pathlib import Path

import mlflow
import pandas as pd
import pytest

from prepbench import ROOT
from tests.conftest import CIFAR_JPEG_ZIP

TINY = ["trainer.epochs=1", "net.width=4", "net.dense=8"]


def prepbench(*args, store, env_extra=None, timeout=300):
    env = dict(os.environ, PREPBENCH_CACHE=str(store / "cache"), **(env_extra or {}))
    tracking = [f"tracking.uri=sqlite:///{store}/mlflow.db", f"tracking.artifact_location={store}/art"]
    return subprocess.run(
        [sys.executable, "-m", "prepbench", *args, *tracking],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def runs(store, experiment):
    mlflow.set_tracking_uri(f"sqlite:///{store}/mlflow.db")
    return mlflow.search_runs(experiment_names=[experiment])


def test_help_lists_groups_without_importing_tensorflow():
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "prepbench", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0
    assert "prep: augment, batchnorm, crop, featurewise, minmax, none, raw, samplewise, std, zca" in out.stdout
    experiments = ", ".join(sorted(p.stem for p in (ROOT / "experiments").glob("*.yaml")))
    assert "net: deep, resnet, shallow" in out.stdout and f"experiment: {experiments}" in out.stdout
    assert "tensorflow" not in out.stderr  # -X importtime lists every imported module


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    store = tmp_path_factory.mktemp("store")
    first = prepbench("-m", "data=synthetic", "prep=none,zca", "net=shallow,deep", "study=cli", *TINY, store=store)
    return store, first


def test_a_sweep_leaves_one_finished_child_run_per_job_under_one_parent(sweep):
    store, first = sweep
    assert first.returncode == 0, first.stderr[-2000:]
    assert "job 4/4: prep=zca net=deep seed=0" in first.stdout
    df = runs(store, "cli")
    parents = df[df["tags.prepbench.role"] == "sweep"]
    children = df[df["tags.prepbench.role"] == "job"]
    assert len(parents) == 1 and parents["tags.mlflow.runName"].item().startswith("cli · 20")  # study · time · ...
    assert (
        parents["tags.mlflow.runName"]
        .item()
        .endswith(" · data synthetic · prep none,zca · net shallow,deep · epochs 1 · width 4 · dense 8")
    )
    assert len(children) == 4 and set(children["status"]) == {"FINISHED"}
    assert set(children["tags.mlflow.parentRunId"]) == {parents["run_id"].item()}
    assert set(zip(children["params.prep"], children["params.net"])) == {
        ("none", "shallow"),
        ("none", "deep"),
        ("zca", "shallow"),
        ("zca", "deep"),
    }
    assert set(children["params.seed"]) == {"0"} and set(children["params.data"]) == {"synthetic"}
    assert set(children["params.trainer.epochs"]) == {"1"}  # the whole resolved config, flattened
    for metric in (
        "test_accuracy",
        "test_loss",
        "fit_seconds",
        "prep_fit_seconds",
        "train_images_per_second",
        "train_loss",
        "train_accuracy",
        "val_loss",
        "val_accuracy",
    ):
        assert children[f"metrics.{metric}"].notna().all(), metric
    for tag in ("config_hash", "git_commit", "versions", "data_fingerprint", "hardware", "command"):
        assert children[f"tags.prepbench.{tag}"].notna().all(), tag
    names = set(children["tags.mlflow.runName"])
    assert len(names) == 4 and "zca · depth 8, width 4, dense 8 · seed 0 · data synthetic · epochs 1" in names
    assert "job 3/4: 2 of 4 done, " in first.stdout and " left" in first.stdout  # progress with an estimate
    tags = mlflow.MlflowClient().get_experiment_by_name("cli").tags  # the dashboard opens on the runs, ready
    assert tags["mlflow.experimentKind"] == "custom_model_development" and "mlflow.sharedViewState.prepbench" in tags
    # 320 synthetic training images of 16x16x3 = 768 values: ZCA is rank deficient, said and tagged
    flags = dict(
        zip(children["params.prep"] + "/" + children["params.net"], children["tags.prepbench.zca_rank_deficient"])
    )
    assert flags["zca/shallow"] == flags["zca/deep"] == "true" and pd.isna(flags["none/deep"])  # only zca runs carry it
    assert first.stdout.count("warning: ZCA is fitted on 320 training images of 768 values each (n <= D)") == 2
    run_id = children["run_id"].iloc[0]
    names = {a.path for a in mlflow.MlflowClient().list_artifacts(run_id)}
    assert {"config.yaml", "training_images.png"} <= names


def test_the_same_sweep_again_trains_nothing(sweep):
    store, _ = sweep
    again = prepbench("-m", "data=synthetic", "prep=none,zca", "net=shallow,deep", "study=cli", *TINY, store=store)
    assert again.returncode == 0, again.stderr[-2000:]
    assert again.stdout.count("skipped, already FINISHED as run") == 4
    df = runs(store, "cli")
    assert len(df[df["tags.prepbench.role"] == "job"]) == 4 and len(df) == 5
    # numbers typed the other way (0 for 0.0, 20.0 for 20) are the same jobs
    typed = ["net.dropout=0", "augmentation.rotation_degrees=20.0"]
    retyped = prepbench(
        "-m", "data=synthetic", "prep=none,zca", "net=shallow,deep", "study=cli", *TINY, *typed, store=store
    )
    assert retyped.returncode == 0, retyped.stderr[-2000:]
    assert retyped.stdout.count("skipped, already FINISHED as run") == 4
    df = runs(store, "cli")
    assert len(df[df["tags.prepbench.role"] == "job"]) == 4


def test_a_diverging_job_fails_and_the_sweep_goes_on_then_exits_non_zero(tmp_path):
    out = prepbench("-m", "data=synthetic", "prep=raw", "trainer.lr=1e-3,1e38", "study=diverge", *TINY, store=tmp_path)
    assert out.returncode == 1
    assert "1 job(s) finished, 1 failed" in out.stdout
    df = runs(tmp_path, "diverge")
    children = df[df["tags.prepbench.role"] == "job"].set_index("params.trainer.lr")
    assert children.loc["0.001", "status"] == "FINISHED"
    assert children.loc["1e+38", "status"] == "FAILED"
    assert "non-finite training loss" in children.loc["1e+38", "tags.prepbench.failure_reason"]


def test_out_of_range_value_fails_before_training_with_one_line(tmp_path):
    out = prepbench("trainer.epochs=0", "data=synthetic", store=tmp_path)
    assert out.returncode == 2
    assert out.stderr.strip().splitlines()[-1] == "error: trainer.epochs=0 is out of range; expected an integer >= 1"
    assert "Traceback" not in out.stderr


def test_unknown_option_lists_the_valid_ones(tmp_path):
    out = prepbench("prep=zxa", store=tmp_path)
    assert out.returncode != 0
    assert (
        "zxa" in out.stderr
        and "augment, batchnorm, crop, featurewise, minmax, none, raw, samplewise, std, zca" in out.stderr
    )


@pytest.mark.skipif(not CIFAR_JPEG_ZIP.exists(), reason=f"{CIFAR_JPEG_ZIP} is absent (CI always has it)")
def test_one_real_job_on_a_few_hundred_images_of_the_jpeg_copy(tmp_path):
    out = prepbench(
        "data=folder",
        f"data.path={CIFAR_JPEG_ZIP}",
        "data.train_size=300",
        "data.val_size=100",
        "data.test_size=200",
        "prep=std",
        "trainer.epochs=2",
        "study=real",
        store=tmp_path,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    df = runs(tmp_path, "real")
    assert df["status"].item() == "FINISHED" and df["params.data"].item() == "folder"
    assert 0 <= df["metrics.test_accuracy"].item() <= 1


def test_every_console_script_names_a_callable_main():
    """`[project.scripts]` in pyproject.toml: each command resolves (a module split into a package
    must keep its `main`, or the entry must follow it)."""
    import importlib
    import tomllib

    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert {"prepbench", "prepbench-report", "prepbench-ui", "prepbench-memo", "prepbench-bench"} <= set(scripts)
    for name, target in scripts.items():
        module, _, function = target.partition(":")
        assert callable(getattr(importlib.import_module(module), function)), name


def test_val_size_zero_trains_without_per_epoch_validation(tmp_path):
    out = prepbench("data=synthetic", "data.val_size=0", "study=noval", *TINY, store=tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "val_loss" not in out.stdout and "epoch 1/1: loss" in out.stdout
    df = runs(tmp_path, "noval")
    assert df["status"].item() == "FINISHED" and df["metrics.test_accuracy"].notna().all()
    assert "metrics.val_accuracy" not in df or df["metrics.val_accuracy"].isna().all()


def test_paths_with_spaces_and_non_ascii_work_and_the_logged_command_runs_when_pasted(tmp_path):
    """Folder data and the store under `my data é (1)/`, typed unquoted; then the run's
    prepbench.command, pasted into a shell, finds the same job (same config hash) FINISHED."""
    import shlex

    import numpy as np
    from PIL import Image

    odd = tmp_path / "my data é (1)"
    rng = np.random.default_rng(0)
    for split, count in (("train", 6), ("test", 2)):
        for c in ("chat", "chien"):
            (odd / "images" / split / c).mkdir(parents=True)
            for i in range(count):
                Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)).save(
                    odd / "images" / split / c / f"{i}.png"
                )
    args = ["data=folder", f"data.path={odd}/images", "data.val_size=2", "study=odd", *TINY]
    out = prepbench(*args, store=odd)
    assert out.returncode == 0, out.stderr[-2000:]
    df = runs(odd, "odd")
    assert df["status"].item() == "FINISHED" and df["params.data.path"].item() == f"{odd}/images"
    command = df["tags.prepbench.command"].item()
    assert command.startswith("python -m prepbench ")
    python_dir = os.path.dirname(sys.executable)
    pasted = subprocess.run(
        ["bash", "-c", command],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env=dict(os.environ, PATH=f"{python_dir}:{os.environ['PATH']}", PREPBENCH_CACHE=str(odd / "cache")),
    )
    assert pasted.returncode == 0, (command, pasted.stderr[-2000:])
    assert "skipped, already FINISHED as run" in pasted.stdout
    words = shlex.split(command)  # one shell word, as typed (Hydra's own quotes kept inside it)
    assert f"data.path={odd}/images" in words or f"data.path='{odd}/images'" in words


def make_n(target: str, tmp_path, **variables) -> str:
    """What `make -n TARGET` prints, with a fake python under BIN that records any call (none must
    come: `make -n` runs nothing) and `install` up to date."""
    fake = tmp_path / "bin"
    fake.mkdir(exist_ok=True)
    (fake / "python").write_text(f"#!/bin/sh\necho called >> {tmp_path}/calls\n")
    (fake / "python").chmod(0o755)
    (fake / "prepbench-installed").write_text("")
    given = [f"{key}={value}" for key, value in {"BIN": fake, **variables}.items()]
    out = subprocess.run(["make", "-n", target, *given], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert not (tmp_path / "calls").exists(), target
    return out.stdout.replace(str(fake), "BIN")


def test_make_n_runs_nothing(tmp_path):
    printed = {
        target: make_n(target, tmp_path, STUDY="smoke") for target in ("all", "run", "publish", "report", "test")
    }
    assert "BIN/python -m prepbench -m experiment=smoke" in printed["run"] == printed["all"]
    assert "BIN/python -m prepbench.report --experiment smoke --out local/smoke" in printed["run"]
    assert "BIN/python -m prepbench.report.replication local/smoke results/smoke" in printed["run"]
    assert "BIN/python -m prepbench.report --experiment smoke --out results/smoke" in printed["publish"]


def _ignored(path: Path) -> bool:
    return subprocess.run(["git", "check-ignore", "-q", str(path)], cwd=ROOT).returncode == 0


def test_make_writes_where_git_ignores_and_never_into_a_published_store(tmp_path):
    """For every study with a published store (its experiment file's tracking.uri is under results/
    and committed), `make STUDY=...` trains into a store that git ignores, outside results/, and
    writes its report beside it: the sweep's command line, composed as Hydra composes it, says so.
    Without the recipe's redirect the same command line would reach the published store: only
    `make publish` keeps that."""
    import shlex

    from prepbench.config import compose
    from prepbench.track.provenance import study_store

    results = (ROOT / "results").resolve()
    published = [
        path.stem
        for path in sorted((ROOT / "experiments").glob("*.yaml"))
        if study_store(str(compose([f"experiment={path.stem}"], checked=False).tracking.uri)) is not None
    ]
    assert "cpu" in published and "converged" in published
    for study in published:
        lines = make_n("all", tmp_path, STUDY=study).splitlines()
        sweep = shlex.split(next(line for line in lines if " -m prepbench -m " in line).split("; status=")[0])
        overrides = sweep[sweep.index("-m", 3) + 1 :]  # after `BIN/python -m prepbench -m`
        cfg = compose(overrides, checked=False, return_hydra_config=True)
        uri, artifacts = str(cfg.tracking.uri), Path(str(cfg.tracking.artifact_location))
        logs = Path(str(cfg.hydra.sweep.dir))
        assert study_store(uri) is None, (study, uri)
        report = shlex.split(
            next(line for line in lines if "-m prepbench.report --experiment" in line).split(" && ")[0]
        )
        assert report[report.index("--tracking-uri") + 1] == uri
        for path in (Path(uri.removeprefix("sqlite:///")), artifacts, logs, ROOT / report[report.index("--out") + 1]):
            assert not path.resolve().is_relative_to(results), (study, path)
            assert _ignored(path.resolve().relative_to(ROOT.resolve())), (study, path)
        as_published = compose([o for o in overrides if not o.startswith("tracking.")], checked=False)
        assert study_store(str(as_published.tracking.uri)) is not None, study


def test_the_prepbench_console_script_runs_the_app_as_python_m_does():
    code = "import sys; sys.argv = ['prepbench', '--help']; import prepbench; prepbench.cli()"
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd="/",
        capture_output=True,
        text=True,
        timeout=120,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert "prep: augment, batchnorm" in out.stdout
