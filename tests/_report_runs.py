"""Constructed job runs with known answers, in the schema prepbench.track.tracking writes: as a
DataFrame (what prepbench.report.load returns) or logged to a temporary MLflow store."""

from __future__ import annotations

import json
import time

import numpy as np
import pandas as pd

SEEDS = range(6)
# symmetric per-seed noise with mean exactly 0: benefits have exactly the planted mean
NOISE = np.array([0.004, -0.003, 0.002, -0.004, 0.003, -0.002])
BASE = {"shallow": 0.55, "deep": 0.65}
# planted benefit over none at the end of training, per (prep, net)
FINAL = {
    "zca": {"shallow": 0.05, "deep": 0.01},  # helps both, shallow more
    "std": {"shallow": 0.02, "deep": 0.02},  # helps both equally
    "batchnorm": {"shallow": 0.00, "deep": 0.04},  # helps deep only
    "samplewise": {"shallow": 0.00, "deep": 0.00},  # nothing at the end ...
    "minmax": {"shallow": 0.01, "deep": 0.01},
    "augment": {"shallow": -0.08, "deep": -0.02},  # hurts both, shallow more
    "raw": {"shallow": -0.20, "deep": -0.05},
}  # hurts both, shallow more: scaling helps shallow more
EARLY = {("samplewise", "deep"): 0.06}  # ... but deep gets there earlier with it


def accuracy(prep, net, seed, extra=0.0):
    """Final test accuracy: net base + seed effect shared by all preps (pairing) + planted + noise."""
    kind = "shallow" if net.startswith("shallow") or net in ("depth1", "depth2", "depth4") else "deep"
    if prep == "none":
        return BASE[kind] + 0.01 * seed + extra
    sign = 1 if kind == "shallow" else -1
    return BASE[kind] + 0.01 * seed + FINAL[prep][kind] + sign * NOISE[seed % 6] + extra


def curve(prep, net, seed, epochs, final):
    bonus = EARLY.get((prep, net), 0.0)
    return [final - 0.03 * (epochs - e) + bonus * (epochs - e) / max(1, epochs - 1) for e in range(1, epochs + 1)]


def job(
    prep,
    net,
    seed,
    *,
    name="study",
    epochs=4,
    depth=None,
    status="FINISHED",
    acc=None,
    start=0,
    params=None,
    overrides=(),
    fingerprint="fp-abc",
    drop=(),
):
    """One job run as a dict of run_id, status, start_time, params.*, metrics.*, tags.*, plus its
    per-epoch validation curve under the key `curve`."""
    net_name = net.split(" ")[0]
    d = depth if depth is not None else {"shallow": 2, "deep": 8}.get(net_name, 2)
    p = {
        "prep": prep,
        "net": net_name,
        "seed": seed,
        "data": "folder",
        "data.source": "folder",
        "data.path": "/x.zip",
        "data.train_size": 1000,
        "data.val_size": 200,
        "data.test_size": "None",
        "data.split_seed": 0,
        "data.image_size": "None",
        "data.cache_dir": f"/tmp/cache{seed}",
        "prep.name": prep,
        "prep.normalization": prep,
        "prep.augment": False,
        "net.name": net_name,
        "net.depth": d,
        "net.width": 32,
        "net.dense": 128,
        "trainer.epochs": epochs,
        "trainer.batch_size": 128,
        "trainer.lr": 0.001,
        "trainer.threads": seed % 2,
        "trainer.deterministic": False,
        "augmentation.rotation_degrees": 20,
        "study": name,
        "rerun": False,
        **(params or {}),
    }
    for k in drop:
        p.pop(k, None)
    ov = [
        f"prep={prep}",
        f"net={net_name}",
        f"seed={seed}",
        "data=folder",
        "data.path=/x.zip",
        f"trainer.epochs={epochs}",
        *overrides,
    ]
    run_id = f"{prep}-{net}-{seed}-{start}-{abs(hash(json.dumps(p, sort_keys=True, default=str))) % 10**8}".replace(
        " ", "_"
    )
    row = {
        "run_id": run_id,
        "run_name": f"{prep} · {net_name} · seed {seed}",
        "status": status,
        "start_time": start,
        "end_time": start + 1,
        **{f"params.{k}": str(v) for k, v in p.items()},
        "tags.prepbench.role": "job",
        "tags.prepbench.config_hash": f"h{run_id}",
        "tags.prepbench.git_commit": "abc1234",
        "tags.prepbench.versions": json.dumps({"tensorflow": "2.21.0", "numpy": "2.1.0"}),
        "tags.prepbench.data_fingerprint": fingerprint,
        "tags.prepbench.hardware": "2 CPU cores",
        "tags.prepbench.overrides": json.dumps(ov),
        "tags.prepbench.command": "python -m prepbench " + " ".join(ov),
    }
    if status == "FINISHED":
        a = accuracy(prep, net, seed) if acc is None else acc
        row.update(
            {
                "metrics.test_accuracy": a,
                "metrics.test_loss": 1 - a,
                "metrics.fit_seconds": 10.0,
                "metrics.train_images_per_second": 500.0,
                "curve": curve(prep, net, seed, epochs, a),
            }
        )
        row["metrics.val_accuracy"] = row["curve"][-1]
    else:
        row["tags.prepbench.failure_reason"] = "OOM in epoch 2"
    return row


def grid(preps, nets=("shallow", "deep"), seeds=SEEDS, skip=(), failed=(), **kw):
    return [
        job(p, n, s, status="FAILED" if (p, n, s) in failed else "FINISHED", start=k, **kw)
        for k, (p, n, s) in enumerate((p, n, s) for p in preps for n in nets for s in seeds)
        if (p, n, s) not in skip
    ]


def frame(rows) -> pd.DataFrame:
    return pd.DataFrame([{k: v for k, v in r.items() if k != "curve"} for r in rows])


def curves(rows) -> dict:
    return {r["run_id"]: pd.Series(r["curve"], index=range(1, len(r["curve"]) + 1)) for r in rows if "curve" in r}


def log(client, root, name, rows, parent_command=None) -> str:
    """The rows as child runs of one new sweep parent run in experiment `name`; returns the parent id."""
    from mlflow.entities import Metric, Param

    exp = client.get_experiment_by_name(name)
    exp_id = exp.experiment_id if exp else client.create_experiment(name, artifact_location=str(root / name))
    parent = client.create_run(
        exp_id,
        run_name=name,
        tags={"prepbench.role": "sweep", "prepbench.command": parent_command or f"python -m prepbench -m study={name}"},
    )
    ts = int(time.time() * 1000)
    for r in rows:
        tags = {k[5:]: v for k, v in r.items() if k.startswith("tags.")}
        run = client.create_run(exp_id, run_name=r["run_name"], tags={**tags, "mlflow.parentRunId": parent.info.run_id})
        params = [Param(k[7:], v) for k, v in r.items() if k.startswith("params.")]
        metrics = [
            Metric(k[8:], v, ts, 0) for k, v in r.items() if k.startswith("metrics.") and k != "metrics.val_accuracy"
        ]
        metrics += [Metric("val_accuracy", v, ts + e, e) for e, v in enumerate(r.get("curve", []), start=1)]
        client.log_batch(run.info.run_id, metrics=metrics, params=params)
        client.set_terminated(run.info.run_id, r["status"])
    client.set_terminated(parent.info.run_id, "FINISHED")
    return parent.info.run_id


LADDER_NOISE = [0.003, -0.002, 0.001, -0.003, 0.001]  # mean exactly 0 over the 5 seeds


def ladder_report(folder, depths, raw_benefit, variants=("none", "raw", "std"), only=None):
    """A depth ladder's report written into `folder` (`python -m prepbench.report --moderator
    net.depth`), from runs whose planted benefit of scaling (none − raw) at depth d is raw_benefit(d);
    std is none plus noise (no trend). `only` maps a variant to the depths it ran at, where that is
    not all of them. Per-seed slopes differ, so they have a spread; their mean is the planted one."""
    from prepbench.report.driver import main as report

    rows = []
    for d in depths:
        for s in range(5):
            none = 0.60 + 0.01 * s
            wobble = LADDER_NOISE[s] * np.log2(d)
            accs = {"none": none, "raw": none - raw_benefit(d) + wobble, "std": none + wobble}
            accs = {p: a for p, a in accs.items() if p in variants and d in (only or {}).get(p, depths)}
            rows += [
                job(p, f"{folder.name}{d}", s, depth=d, acc=a, start=len(rows) + i)
                for i, (p, a) in enumerate(accs.items())
            ]
    folder.mkdir(parents=True)
    frame(rows).to_csv(folder / "input.csv", index=False)
    assert report(["--runs-csv", str(folder / "input.csv"), "--moderator", "net.depth", "--out", str(folder)]) == 0
    return folder
