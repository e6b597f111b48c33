"""The report end to end on synthetic sweeps written to a temporary MLflow store with the schema
that prepbench.tracking writes: planted effects must be found, null ones not, and gaps reported."""

import json
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest

from prepbench import ROOT
from prepbench.report import default_tracking_uri, main

SEEDS = range(6)
# symmetric per-seed noise with mean exactly 0: benefits have exactly the planted mean
NOISE = np.array([0.004, -0.003, 0.002, -0.004, 0.003, -0.002])
BASE = {"shallow": 0.55, "deep": 0.65}
# planted benefit over none at the end of training, per (prep, net)
FINAL = {"zca": {"shallow": 0.05, "deep": 0.01},        # interaction +4 pp: helps shallow more
         "std": {"shallow": 0.02, "deep": 0.02},        # benefit on both, interaction 0
         "batchnorm": {"shallow": 0.00, "deep": 0.04},  # helps deep more
         "samplewise": {"shallow": 0.00, "deep": 0.00},  # nothing at the end ...
         "minmax": {"shallow": 0.01, "deep": 0.01}}
EARLY = {("samplewise", "deep"): 0.06}                    # ... but deep gets there earlier with it


def accuracy(prep, net, seed):
    """Final test accuracy: net base + seed effect shared by all preps (pairing) + planted + noise."""
    net = net.split(" ")[0]  # "shallow d4" in a depth ladder
    if prep == "none":
        return BASE[net] + 0.01 * seed
    sign = 1 if net == "shallow" else -1
    return BASE[net] + 0.01 * seed + FINAL[prep][net] + sign * NOISE[seed]


def curve(prep, net, seed, epochs):
    final = accuracy(prep, net, seed)
    bonus = EARLY.get((prep, net), 0.0)
    return [final - 0.03 * (epochs - e) + bonus * (epochs - e) / max(1, epochs - 1)
            for e in range(1, epochs + 1)]


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    from mlflow.tracking import MlflowClient

    root = tmp_path_factory.mktemp("mlflow")
    uri = f"sqlite:///{root}/mlflow.db"
    return uri, MlflowClient(uri), root


def make_sweep(store, name, preps, nets=("shallow", "deep"), seeds=SEEDS, epochs=4, failed=(),
               skip=(), extra_params=None, depth=None, fingerprint="fp-abc", overrides_extra=None):
    """A parent run plus one child per (prep, net, seed) in the prepbench schema.
    failed: cells logged as FAILED with no test metrics; skip: cells never run."""
    from mlflow.entities import Metric, Param, RunTag

    uri, client, root = store
    exp = client.get_experiment_by_name(name)
    exp_id = exp.experiment_id if exp else client.create_experiment(name, artifact_location=str(root / name))
    parent = client.create_run(exp_id, run_name=name, tags={"prepbench.role": "sweep",
                                                            "prepbench.command": f"python -m prepbench -m study={name}"})
    ts = int(time.time() * 1000)
    depths = depth or {"shallow": 2, "deep": 8}
    for prep in preps:
        for net in nets:
            net_name = net.split(" ")[0]
            d = depths[net]
            for seed in seeds:
                if (prep, net, seed) in skip:
                    continue
                params = {"prep": prep, "net": net_name, "seed": seed, "data": "folder",
                          "data.source": "folder", "data.path": "/x.zip", "data.train_size": 1000,
                          "data.val_size": 200, "data.test_size": "None", "data.split_seed": 0,
                          "data.image_size": "None", "data.cache_dir": f"/tmp/cache{seed}",
                          "prep.name": prep, "prep.normalization": prep, "prep.augment": False,
                          "net.name": net_name, "net.depth": d, "net.width": 32, "net.dense": 128,
                          "trainer.epochs": epochs, "trainer.batch_size": 128, "trainer.lr": 0.001,
                          "trainer.threads": seed % 2, "trainer.deterministic": False,
                          "augmentation.rotation_degrees": 20, "study": name, "rerun": False,
                          "tracking.uri": uri, **(extra_params or {})}
                ov = [f"prep={prep}", f"net={net_name}", f"seed={seed}", "data=folder",
                      "data.path=/x.zip", f"trainer.epochs={epochs}", *(overrides_extra or [])]
                if d != depths.get(net_name, d) or (depth and net != net_name):
                    ov.append(f"net.depth={d}")
                tags = {"mlflow.parentRunId": parent.info.run_id, "prepbench.role": "job",
                        "prepbench.config_hash": f"h{prep}{net}{seed}", "prepbench.git_commit": "abc1234",
                        "prepbench.versions": json.dumps({"tensorflow": "2.21.0", "numpy": "2.1.0"}),
                        "prepbench.data_fingerprint": fingerprint, "prepbench.hardware": "2 CPU cores",
                        "prepbench.overrides": json.dumps(ov),
                        "prepbench.command": "python -m prepbench " + " ".join(ov)}
                run = client.create_run(exp_id, run_name=f"{prep}-{net_name}-{seed}", tags=tags)
                metrics = []
                if (prep, net, seed) in failed:
                    client.log_batch(run.info.run_id, params=[Param(k, str(v)) for k, v in params.items()],
                                     tags=[RunTag("prepbench.failure_reason", "OOM in epoch 2")])
                    client.set_terminated(run.info.run_id, "FAILED")
                    continue
                for e, v in enumerate(curve(prep, net, seed, epochs), start=1):
                    metrics += [Metric("val_accuracy", v, ts + e, e), Metric("train_accuracy", v + 0.05, ts + e, e),
                                Metric("val_loss", 1 - v, ts + e, e), Metric("train_loss", 0.9 - v, ts + e, e)]
                a = accuracy(prep, net, seed)
                metrics += [Metric("test_accuracy", a, ts, 0), Metric("test_loss", 1 - a, ts, 0),
                            Metric("fit_seconds", 10.0, ts, 0), Metric("prep_fit_seconds", 0.1, ts, 0),
                            Metric("train_images_per_second", 500.0, ts, 0)]
                client.log_batch(run.info.run_id, metrics=metrics,
                                 params=[Param(k, str(v)) for k, v in params.items()])
                client.set_terminated(run.info.run_id, "FINISHED")
    client.set_terminated(parent.info.run_id, "FINISHED")
    return parent.info.run_id


@pytest.fixture(scope="module")
def full(store, tmp_path_factory):
    preps = ["none", "minmax", "samplewise", "std", "zca", "batchnorm"]
    parent = make_sweep(store, "full", preps, failed={("minmax", "deep", 2)})
    out = tmp_path_factory.mktemp("report")
    rc = main(["--experiment", "full", "--tracking-uri", store[0], "--out", str(out)])
    assert rc == 0
    return out, parent


def _effects(out):
    return pd.read_csv(out / "effects.csv")


def _pick(e, kind, prep, net=None, metric="test_accuracy"):
    sub = e[(e["kind"] == kind) & (e["prep"] == prep) & (e["metric"] == metric)]
    if net is not None:
        sub = sub[sub["net"] == net]
    assert len(sub) == 1, sub
    return sub.iloc[0]


def test_planted_interaction_found_null_not(full):
    out, _ = full
    e = _effects(out)
    zca = _pick(e, "interaction", "zca")
    assert zca["net"] == "shallow - deep" and zca["n"] == 6
    assert zca["mean"] == pytest.approx(0.04) and zca["ci_low"] > 0
    assert zca["verdict"] == "helps shallow more" and zca["p_signflip"] == pytest.approx(2 / 64)
    assert zca["prob_beats"] == 1.0
    std = _pick(e, "interaction", "std")
    assert std["mean"] == pytest.approx(0, abs=1e-12) and std["ci_low"] < 0 < std["ci_high"]
    assert std["verdict"] == "no detectable difference"
    assert _pick(e, "interaction", "batchnorm")["verdict"] == "helps deep more"
    # benefits over none, paired by seed: the seed effect (1 pp per seed) cancels exactly
    b = _pick(e, "benefit", "std", "shallow")
    assert b["mean"] == pytest.approx(0.02) and b["sd"] == pytest.approx(np.std(NOISE, ddof=1))
    assert b["verdict"] == "helps" and b["prob_beats"] == 1.0 and b["ci_method"] == "t"
    assert _pick(e, "benefit", "samplewise", "deep")["verdict"] == "no detectable difference"
    # Holm adjustment exists for the interactions only
    assert e.loc[e["kind"] == "interaction", "p_t_holm"].notna().all()
    assert e.loc[e["kind"] == "benefit", "p_t_holm"].isna().all()


def test_early_epoch_tells_later_from_never(full):
    out, _ = full
    e = _effects(out)
    early = "val_accuracy@epoch1"  # 4 epochs -> ceil(4/4) = 1
    assert _pick(e, "benefit", "samplewise", "deep", early)["mean"] == pytest.approx(0.06)
    assert _pick(e, "benefit", "samplewise", "deep", early)["verdict"] == "helps"
    assert _pick(e, "interaction", "samplewise", metric=early)["verdict"] == "helps deep more"
    md = (out / "report.md").read_text()
    assert "`deep` gets there anyway, but later" in md


def test_summary_and_coverage_with_failed_run(full):
    out, _ = full
    s = pd.read_csv(out / "summary.csv")
    assert {"prep", "net", "n", "mean", "sd", "ci_low", "ci_high"} <= set(s.columns)
    assert len(s) == 6 * 2
    row = s[(s["prep"] == "minmax") & (s["net"] == "deep")].iloc[0]
    assert row["n"] == 5 and row["n_failed"] == 1
    none = s[(s["prep"] == "none") & (s["net"] == "shallow")].iloc[0]
    assert none["mean"] == pytest.approx(0.55 + 0.025) and none["ci_low"] < none["mean"] < none["ci_high"]
    # interactions use only seeds where all four runs finished
    assert _pick(_effects(out), "interaction", "minmax")["n"] == 5
    runs = pd.read_csv(out / "runs.csv")
    assert len(runs) == 6 * 2 * 6 and (runs["status"] == "FAILED").sum() == 1
    assert {"prep", "net", "seed", "status", "params.trainer.epochs", "metrics.test_accuracy",
            "tags.prepbench.command"} <= set(runs.columns)
    md = (out / "report.md").read_text()
    assert "**FAILED**" in md and "OOM in epoch 2" in md
    assert "prep=minmax net=deep seed=2" in md  # the command that completes the sweep


def test_report_files_order_and_artifact(full, store):
    out, parent = full
    md = (out / "report.md").read_text()
    heads = [md.index(h) for h in ("The hypothesis and the claims", "Setup", "Results", "Verdicts",
                                    "Caveats", "Reproducibility")]
    assert heads == sorted(heads)
    for word in ("abc1234", "fp-abc", "python -m prepbench -m study=full", "2 CPU cores", "tensorflow", "python -m prepbench prep=none net=shallow seed=0",
                 "Bouthillier", "95%", "H is supported for `zca`"):
        assert word in md, word
    figs = sorted(p.name for p in (out / "figures").glob("*.png"))
    assert figs == ["accuracy.png", "benefit.png", "curves.png", "interaction.png"]
    page = (out / "report.html").read_text()
    assert page.count("data:image/png;base64,") == 4 and 'src="figures' not in page
    arts = [a.path for a in store[1].list_artifacts(parent, "report")]
    assert "report/report.md" in arts and "report/effects.csv" in arts


def test_missing_baseline_says_so_and_prints_the_command(store, tmp_path):
    # a sweep `prep=zca,std`: no baseline at all
    make_sweep(store, "nobase", ["zca", "std"], seeds=range(3), epochs=2)
    rc = main(["--experiment", "nobase", "--tracking-uri", store[0], "--out", str(tmp_path / "a"),
               "--no-log-artifact"])
    assert rc == 0
    md = (tmp_path / "a" / "report.md").read_text()
    assert "Baseline missing" in md
    assert ("python -m prepbench -m prep=none net=shallow,deep seed=0,1,2 data=folder data.path=/x.zip "
            "trainer.epochs=2 study=nobase") in md
    e = pd.read_csv(tmp_path / "a" / "effects.csv")
    assert (e["verdict"] == "not enough seeds").all()
    # a partial baseline: only the missing (net, seed) pairs are asked for
    make_sweep(store, "partial", ["none", "zca"], seeds=range(3), epochs=2,
               skip={("none", "deep", 1), ("none", "deep", 2)})
    main(["--experiment", "partial", "--tracking-uri", store[0], "--out", str(tmp_path / "b"),
          "--no-log-artifact"])
    md = (tmp_path / "b" / "report.md").read_text()
    assert "deep seed 1, deep seed 2" in md
    assert "python -m prepbench -m prep=none net=deep seed=1,2 data=folder" in md
    assert "net=shallow,deep" not in md


def test_incompatible_budgets_are_never_pooled(store, tmp_path):
    make_sweep(store, "mixed", ["none", "zca"], seeds=range(3), epochs=2)
    make_sweep(store, "mixed", ["none", "zca"], seeds=range(3), epochs=4)
    main(["--experiment", "mixed", "--tracking-uri", store[0], "--out", str(tmp_path), "--no-log-artifact"])
    s = pd.read_csv(tmp_path / "summary.csv")
    assert sorted(set(s["group"])) == ["g1", "g2"]
    assert (s["n"] == 3).all()  # 3 seeds each, never 6
    md = (tmp_path / "report.md").read_text()
    assert "not all comparable" in md and "`trainer.epochs`" in md
    assert "group g1 (trainer.epochs=2)" in md and "group g2 (trainer.epochs=4)" in md
    assert (tmp_path / "figures" / "accuracy_g1.png").exists()
    e = pd.read_csv(tmp_path / "effects.csv")
    assert set(e.loc[e["group"] == "g1", "metric"]) == {"test_accuracy", "val_accuracy@epoch1"}
    # a different data fingerprint alone also separates
    make_sweep(store, "fps", ["none", "zca"], seeds=range(2), epochs=2)
    make_sweep(store, "fps", ["none", "zca"], seeds=range(2), epochs=2, fingerprint="fp-other")
    main(["--experiment", "fps", "--tracking-uri", store[0], "--out", str(tmp_path / "f"), "--no-log-artifact"])
    assert "`data_fingerprint`" in (tmp_path / "f" / "report.md").read_text()


def test_depth_ladder_gets_separate_labels(store, tmp_path):
    make_sweep(store, "ladder", ["none", "zca"], nets=("shallow", "shallow d4", "deep"), seeds=range(3),
               epochs=2, depth={"shallow": 2, "shallow d4": 4, "deep": 8})
    main(["--experiment", "ladder", "--tracking-uri", store[0], "--out", str(tmp_path), "--no-log-artifact"])
    s = pd.read_csv(tmp_path / "summary.csv")
    assert list(dict.fromkeys(s["net"])) == ["shallow (depth 2)", "shallow (depth 4)", "deep"]
    e = pd.read_csv(tmp_path / "effects.csv")
    assert set(e.loc[e["kind"] == "interaction", "net"]) == {"shallow (depth 2) - deep", "shallow (depth 4) - deep"}


def test_errors_are_one_line_exit_2(store, tmp_path, capsys):
    assert main(["--experiment", "nope", "--tracking-uri", store[0], "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: no MLflow experiment named 'nope'") and err.count("\n") == 1
    store[1].create_experiment("empty", artifact_location=str(store[2] / "empty"))
    assert main(["--experiment", "empty", "--tracking-uri", store[0], "--out", str(tmp_path)]) == 2
    assert "no job runs" in capsys.readouterr().err
    missing = tmp_path / "absent.db"
    assert main(["--experiment", "x", "--tracking-uri", f"sqlite:///{missing}", "--out", str(tmp_path)]) == 2
    assert "no MLflow store at" in capsys.readouterr().err and not missing.exists()


def test_level_flag_changes_the_intervals(full, store, tmp_path):
    out, _ = full
    main(["--experiment", "full", "--tracking-uri", store[0], "--out", str(tmp_path), "--level", "0.8",
          "--no-log-artifact"])
    wide, narrow = _pick(_effects(out), "interaction", "zca"), _pick(_effects(tmp_path), "interaction", "zca")
    assert narrow["level"] == 0.8 and narrow["ci_high"] - narrow["ci_low"] < wide["ci_high"] - wide["ci_low"]
    assert "80% confidence" in (tmp_path / "report.md").read_text()


def test_default_store_comes_from_conf():
    assert default_tracking_uri() == f"sqlite:///{ROOT}/results/mlflow.db"


def test_does_not_import_tensorflow():
    code = "import sys, prepbench.report; assert 'tensorflow' not in sys.modules; print('ok')"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert r.stdout.strip() == "ok", r.stderr


def test_results_on_the_jpeg_copy_say_so():
    from prepbench.report import data_name

    assert "CIFAR-10 (JPEG q75 copy)" in data_name("folder", "../shared/data/cifar10-jpeg.zip")
    assert data_name("cifar10", "null") == "CIFAR-10 (official release)"
    assert "JPEG" not in data_name("folder", "/my/photos.zip")
