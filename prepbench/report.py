"""The research report: reads one MLflow experiment (nothing else) and writes what was compared,
how big each effect is, how sure we are, and what that says about the hypothesis
"preprocessing helps shallow networks more than deep ones".

    python -m prepbench.report --experiment NAME [--tracking-uri URI] --out DIR

writes DIR/report.md, DIR/report.html (self-contained), DIR/runs.csv, DIR/summary.csv,
DIR/effects.csv and DIR/figures/*.png, then logs DIR under `report/` of the experiment's newest
sweep parent run (unless --no-log-artifact). The statistics live in prepbench.stats.

Runs whose budget or data differ (data.*, trainer.epochs/batch_size/lr, augmentation.*, the data
fingerprint) are never pooled: each comparable set is analysed as its own group. Networks of
one name with different depth/width/dense become separate labels, e.g. "shallow (depth 4)".
"""

from __future__ import annotations

import argparse
import base64
import html
import json
import math
import os
import re
import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from prepbench import ROOT, stats
from prepbench.errors import PrepbenchError

LEVEL = stats.LEVEL
BASELINE = "none"
PREP_ORDER = ["none", "raw", "minmax", "samplewise", "std", "featurewise", "zca", "augment", "batchnorm"]

HYPOTHESIS = "Preprocessing helps shallow networks more than deep ones."
CLAIMS = [
    ("C1", "augment", "Data augmentation (rotation ±20°, shifts ±20%, horizontal flip) may raise "
                      "accuracy when data is scarce."),
    ("C2", "minmax", "Per-image min-max normalization may raise accuracy; effective for shallow "
                     "networks, deep networks often overcome it."),
    ("C3", "raw", "Scaling 0–255 integers to 0–1 floats has no effect on accuracy at all "
                  "(tested as raw 0–255 input versus none = x/255)."),
    ("C4", "samplewise, std", "Standardization (per image: samplewise; per channel over the "
                              "training set: std/featurewise) brings out features."),
    ("C5", "zca", "ZCA whitening (standardization plus decorrelation) helps."),
    ("C6", "batchnorm", "Batch normalization makes learning more efficient."),
]
PREP_CLAIM = {"augment": "C1", "minmax": "C2", "raw": "C3", "samplewise": "C4", "std": "C4",
              "featurewise": "C4", "zca": "C5", "batchnorm": "C6"}

# What makes runs comparable; everything else (prep.*, seed, rerun, tracking.*, threads, ...) may vary.
BUDGET_KEYS = ("trainer.epochs", "trainer.batch_size", "trainer.lr")
BUDGET_PREFIXES = ("data.", "augmentation.")
BUDGET_EXCLUDED = ("data.cache_dir",)
FINGERPRINT = "tags.prepbench.data_fingerprint"
NET_KEYS = ("net.depth", "net.width", "net.dense")

# Override items that name the job's cell; dropped when printing commands for other cells.
_CELL_ITEMS = ("prep=", "prep.", "+prep.", "seed=", "net=", "net.", "+net.", "rerun=", "hydra.",
               "hydra/", "+hydra", "-m", "--multirun")


# ----------------------------------------------------------------------------------- loading

def default_tracking_uri() -> str:
    """The embedded store, read from conf/tracking/mlflow.yaml (defaults live only in conf/)."""
    from omegaconf import OmegaConf

    return str(OmegaConf.load(ROOT / "conf" / "tracking" / "mlflow.yaml").uri)


def _client(tracking_uri: str):
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=tracking_uri)


def load_runs(client, experiment: str) -> tuple[object, pd.DataFrame]:
    """All active runs of `experiment` as one row each: run_id, run_name, status, start_time,
    end_time, params.*, metrics.* (last value), tags.* (prepbench.* and the parent id)."""
    exp = client.get_experiment_by_name(experiment)
    if exp is None:
        names = sorted(e.name for e in client.search_experiments())
        raise PrepbenchError(f"no MLflow experiment named {experiment!r}; "
                             f"the store has: {', '.join(names) or 'none'}")
    runs, token = [], None
    while True:
        page = client.search_runs([exp.experiment_id], max_results=1000, page_token=token)
        runs.extend(page)
        token = page.token
        if not token:
            break
    rows = []
    for r in runs:
        row = {"run_id": r.info.run_id, "run_name": r.info.run_name, "status": r.info.status,
               "start_time": r.info.start_time, "end_time": r.info.end_time}
        row.update({f"params.{k}": v for k, v in r.data.params.items()})
        row.update({f"metrics.{k}": v for k, v in r.data.metrics.items()})
        row.update({f"tags.{k}": v for k, v in r.data.tags.items()
                    if k.startswith("prepbench.") or k == "mlflow.parentRunId"})
        rows.append(row)
    return exp, pd.DataFrame(rows)


def _col(df: pd.DataFrame, name: str, default=np.nan) -> pd.Series:
    return df[name] if name in df.columns else pd.Series(default, index=df.index, dtype=object)


def split_roles(df: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(sweep parent runs, job runs). A job has role 'job', or no role but a `prep` param."""
    if df.empty:
        return df, df
    role = _col(df, "tags.prepbench.role")
    parents = df[role == "sweep"]
    has_prep = _col(df, "params.prep").notna() | _col(df, "params.prep.name").notna()
    jobs = df[(role == "job") | (role.isna() & has_prep)].copy()
    return parents, jobs


def _num(x):
    try:
        v = float(x)
    except (TypeError, ValueError):
        return math.nan
    return v


def normalise_jobs(jobs: pd.DataFrame) -> pd.DataFrame:
    """Adds prep, net_name, seed (int), test_accuracy; drops jobs that lack prep/net/seed."""
    jobs = jobs.copy()
    jobs["prep"] = _col(jobs, "params.prep").fillna(_col(jobs, "params.prep.name"))
    jobs["net_name"] = _col(jobs, "params.net").fillna(_col(jobs, "params.net.name"))
    jobs["seed"] = pd.to_numeric(_col(jobs, "params.seed"), errors="coerce")
    jobs = jobs.dropna(subset=["prep", "net_name", "seed"]).copy()
    jobs["seed"] = jobs["seed"].astype(int)
    jobs["test_accuracy"] = pd.to_numeric(_col(jobs, "metrics.test_accuracy"), errors="coerce")
    return jobs


# ------------------------------------------------------------------------------------ groups

def budget_columns(jobs: pd.DataFrame) -> list[str]:
    """The columns whose values must agree for runs to be pooled."""
    cols = []
    for c in jobs.columns:
        if not c.startswith("params."):
            continue
        key = c[len("params."):]
        if key in BUDGET_EXCLUDED:
            continue
        if key in BUDGET_KEYS or key.startswith(BUDGET_PREFIXES):
            cols.append(c)
    if FINGERPRINT in jobs.columns:
        cols.append(FINGERPRINT)
    return sorted(cols)


def assign_groups(jobs: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """Adds `group` ("" when everything is comparable, else g1, g2, ...) and `group_label`
    (the differing keys and their values). Returns (jobs, differing keys).

    A run without a data fingerprint (e.g. one that failed before loading data) takes the
    fingerprint of its budget group when that group has exactly one."""
    jobs = jobs.copy()
    cols = budget_columns(jobs)
    keyed = jobs[cols].astype(object).where(jobs[cols].notna(), "(unset)")
    if FINGERPRINT in cols:
        other = [c for c in cols if c != FINGERPRINT]
        for _, idx in keyed.groupby(other, dropna=False).groups.items() if other else [(None, keyed.index)]:
            fps = set(keyed.loc[idx, FINGERPRINT]) - {"(unset)"}
            if len(fps) == 1:
                keyed.loc[idx, FINGERPRINT] = fps.pop()
    differing = [c for c in cols if keyed[c].nunique() > 1]
    if not differing:
        jobs["group"] = ""
        jobs["group_label"] = ""
        return jobs, []
    label = keyed[differing].apply(
        lambda r: ", ".join(f"{_short(c)}={v}" for c, v in r.items()), axis=1)
    def natural(lab):  # trainer.epochs=2 before trainer.epochs=10
        return [(0, float(t), "") if re.fullmatch(r"[-+.\deE]+", t) and _num(t) == _num(t) else (1, 0.0, t)
                for t in re.split(r"([-+]?\d*\.?\d+(?:[eE][-+]?\d+)?)", lab)]

    order = {lab: i + 1 for i, lab in enumerate(sorted(label.unique(), key=natural))}
    jobs["group"] = label.map(lambda v: f"g{order[v]}")
    jobs["group_label"] = label
    return jobs, [_short(c) for c in differing]


def _short(col: str) -> str:
    if col == FINGERPRINT:
        return "data_fingerprint"
    return col.split(".", 1)[1] if col.startswith(("params.", "metrics.")) else col


def net_labels(jobs: pd.DataFrame) -> tuple[pd.Series, list[str]]:
    """A label per run: the net name, plus the architecture keys that differ among runs of that
    name ("shallow (depth 4)"). Returns (labels, labels ordered shallowest first)."""
    arch = {k: _col(jobs, f"params.{k}").astype(object) for k in NET_KEYS}
    labels = jobs["net_name"].astype(str).copy()
    depth_of: dict[str, float] = {}
    for name, idx in jobs.groupby("net_name").groups.items():
        differing = [k for k in NET_KEYS if arch[k].loc[idx].nunique(dropna=False) > 1]
        for i in idx:
            if differing:
                labels.loc[i] = f"{name} (" + ", ".join(
                    f"{k.split('.')[1]} {arch[k].loc[i]}" for k in differing) + ")"
            depth_of.setdefault(labels.loc[i], _num(arch["net.depth"].loc[i]))
    rank = {"shallow": 0, "deep": 2}

    def key(lab):
        d = depth_of.get(lab, math.nan)
        base = lab.split(" (")[0]
        return (d if np.isfinite(d) else 1e9, rank.get(base, 1), lab)

    return labels, sorted(set(labels), key=key)


def _prep_key(p: str):
    return (PREP_ORDER.index(p) if p in PREP_ORDER else len(PREP_ORDER), p)


# ---------------------------------------------------------------------------------- analysis

@dataclass
class Group:
    gid: str
    label: str
    jobs: pd.DataFrame
    nets: list[str]
    preps: list[str]
    seeds: list[int]
    epochs: int | None
    early: int | None
    cells: pd.DataFrame = None
    coverage: pd.DataFrame = None
    summary: pd.DataFrame = None
    effects: pd.DataFrame = None
    curves: dict = field(default_factory=dict)
    pairs: list = field(default_factory=list)
    missing_baseline: list = field(default_factory=list)
    baseline_commands: list = field(default_factory=list)
    missing_commands: list = field(default_factory=list)
    duplicates: int = 0

    @property
    def suffix(self) -> str:
        return f"_{self.gid}" if self.gid else ""

    @property
    def early_metric(self) -> str:
        return f"val_accuracy@epoch{self.early}"


def choose_cells(jobs: pd.DataFrame, preps, nets, seeds) -> tuple[pd.DataFrame, int]:
    """One row per expected (prep, net, seed): the newest FINISHED run with a test accuracy, or
    else the newest run's status, or "MISSING". Returns (cells, number of superseded runs)."""
    rows, dup = [], 0
    by_cell = {k: g for k, g in jobs.groupby(["prep", "net", "seed"])}
    for p in preps:
        for n in nets:
            for s in seeds:
                g = by_cell.get((p, n, s))
                if g is None:
                    rows.append(dict(prep=p, net=n, seed=s, status="MISSING", run_id=None,
                                     test_accuracy=math.nan, failure_reason=None))
                    continue
                g = g.sort_values("start_time")
                ok = g[(g["status"] == "FINISHED") & g["test_accuracy"].notna()]
                if len(ok):
                    dup += len(ok) - 1
                    r = ok.iloc[-1]
                else:
                    r = g.iloc[-1]
                rows.append(dict(prep=p, net=n, seed=s,
                                 status="FINISHED" if len(ok) else str(r["status"]),
                                 run_id=r["run_id"], test_accuracy=r["test_accuracy"],
                                 failure_reason=r.get("tags.prepbench.failure_reason")))
    return pd.DataFrame(rows), dup


def _series(cells: pd.DataFrame, metric: str, prep: str, net: str) -> pd.Series:
    c = cells[(cells["prep"] == prep) & (cells["net"] == net) & (cells["status"] == "FINISHED")]
    return pd.Series(c[metric].to_numpy(dtype=float), index=c["seed"].to_numpy())


def summarise(g: Group, level: float) -> pd.DataFrame:
    rows = []
    c = g.cells
    for p in g.preps:
        for n in g.nets:
            cell = c[(c["prep"] == p) & (c["net"] == n)]
            fin = cell[cell["status"] == "FINISHED"]
            iv = stats.mean_interval(fin["test_accuracy"], level)
            runs = g.jobs[g.jobs["run_id"].isin(fin["run_id"])]
            rows.append(dict(
                group=g.gid, prep=p, net=n, n=iv.n, mean=iv.mean, sd=iv.sd, ci_low=iv.low,
                ci_high=iv.high, ci_method=iv.method, level=level,
                early_epoch=g.early, val_accuracy_early_mean=float(fin["val_early"].mean()) if len(fin) else math.nan,
                n_failed=int(cell["status"].isin(["FAILED", "KILLED"]).sum()),
                n_missing=int((cell["status"] == "MISSING").sum()),
                n_running=int((cell["status"] == "RUNNING").sum()),
                fit_seconds_mean=pd.to_numeric(_col(runs, "metrics.fit_seconds"), errors="coerce").mean(),
                train_images_per_second_mean=pd.to_numeric(
                    _col(runs, "metrics.train_images_per_second"), errors="coerce").mean(),
            ))
    return pd.DataFrame(rows)


def effects(g: Group, level: float) -> pd.DataFrame:
    """Benefit over `none` per (prep, net) and the interaction per prep and network pair, for
    final test accuracy and for validation accuracy at the early epoch."""
    rows = []
    metrics = [("test_accuracy", "test_accuracy")]
    if g.early is not None:
        metrics.append((g.early_metric, "val_early"))
    for metric, col in metrics:
        start = len(rows)
        for p in g.preps:
            if p == BASELINE:
                continue
            for n in g.nets:
                d = stats.paired_differences(_series(g.cells, col, p, n), _series(g.cells, col, BASELINE, n))
                r = stats.describe(d, level)
                rows.append(dict(group=g.gid, metric=metric, kind="benefit", prep=p, net=n,
                                 contrast=f"{p} - {BASELINE} on {n}", **r, level=level,
                                 verdict=stats.verdict(r["ci_low"], r["ci_high"], "helps", "hurts"),
                                 seeds=" ".join(map(str, d.index))))
            for a, b in g.pairs:
                d = stats.interaction_differences(
                    _series(g.cells, col, p, a), _series(g.cells, col, BASELINE, a),
                    _series(g.cells, col, p, b), _series(g.cells, col, BASELINE, b))
                r = stats.describe(d, level)
                rows.append(dict(group=g.gid, metric=metric, kind="interaction", prep=p,
                                 net=f"{a} - {b}",
                                 contrast=f"({p} - {BASELINE}) on {a} minus on {b}", **r, level=level,
                                 verdict=stats.verdict(r["ci_low"], r["ci_high"],
                                                       f"helps {a} more", f"helps {b} more"),
                                 seeds=" ".join(map(str, d.index))))
        block = pd.DataFrame(rows[start:])
        if len(block):
            inter = block["kind"] == "interaction"
            adj = np.full(len(block), np.nan)
            adj[inter.to_numpy()] = stats.holm(block.loc[inter, "p_t"])
            for i, v in enumerate(adj):
                rows[start + i]["p_t_holm"] = v
    cols = ["group", "metric", "kind", "prep", "net", "contrast", "n", "mean", "sd", "ci_low",
            "ci_high", "ci_method", "level", "p_t", "p_t_holm", "p_signflip", "signflip_exact",
            "signflip_min_p", "prob_beats", "prob_beats_low", "prob_beats_high", "verdict", "seeds"]
    df = pd.DataFrame(rows)
    return df.reindex(columns=cols) if len(df) else pd.DataFrame(columns=cols)


# ---------------------------------------------------------------------------------- commands

def _overrides(run: pd.Series) -> list[str] | None:
    raw = run.get("tags.prepbench.overrides")
    if not isinstance(raw, str):
        return None
    try:
        items = json.loads(raw)
    except json.JSONDecodeError:
        return None
    return [str(x) for x in items] if isinstance(items, list) else None


def _reconstructed(run: pd.Series) -> list[str]:
    """Overrides rebuilt from params when a run lacks the overrides tag."""
    items = []
    if isinstance(run.get("params.data"), str):
        items.append(f"data={run['params.data']}")
    for k in ("data.path", "data.train_size", "data.val_size", "data.test_size", "data.image_size",
              "data.split_seed", "trainer.epochs", "trainer.batch_size", "trainer.lr"):
        v = run.get(f"params.{k}")
        if isinstance(v, str) and v not in ("None", "null"):
            items.append(f"{k}={v}")
    return items


def _cell_parts(run: pd.Series) -> tuple[list[str], list[str], bool]:
    """(the rest of the command: data, budget, study; the net.* items; reconstructed?)"""
    ov = _overrides(run)
    recon = ov is None
    if recon:
        ov = _reconstructed(run)
    rest = [o for o in ov if not o.startswith(_CELL_ITEMS)]
    netdot = [o for o in ov if o.startswith(("net.", "+net."))]
    return rest, netdot, recon


def commands_for(cells: list[tuple[str, str, int]], g: Group, experiment: str) -> list[str]:
    """The fewest `python -m prepbench -m ...` commands (one per distinct set of preps x seeds
    and network overrides) that run exactly the (prep, net label, seed) cells given."""
    if not cells:
        return []
    jobs = g.jobs.sort_values("start_time")
    per_label = {}
    for lab in {n for _, n, _ in cells}:
        runs = jobs[jobs["net"] == lab]
        with_ov = [r for _, r in runs.iterrows() if _overrides(r) is not None]
        rep = with_ov[-1] if with_ov else runs.iloc[-1]
        per_label[lab] = (*_cell_parts(rep), str(rep["net_name"]))
    # label -> seed -> preps
    want: dict[str, dict[int, set]] = {}
    for p, n, s in cells:
        want.setdefault(n, {}).setdefault(s, set()).add(p)
    blocks: dict[tuple, list[str]] = {}
    for lab in sorted(want, key=g.nets.index if set(want) <= set(g.nets) else str):
        rest, netdot, recon, name = per_label[lab]
        by_preps: dict[tuple, list[int]] = {}
        for s, ps in sorted(want[lab].items()):
            by_preps.setdefault(tuple(sorted(ps, key=_prep_key)), []).append(s)
        for ps, seeds in by_preps.items():
            key = (ps, tuple(seeds), tuple(netdot), tuple(rest), recon)
            if name not in blocks.setdefault(key, []):
                blocks[key].append(name)
    out = []
    for (ps, seeds, netdot, rest, recon), names in blocks.items():
        rest = list(rest)
        if not any(o.startswith(("study=", "experiment=", "+experiment=", "tracking.experiment="))
                   for o in rest):
            rest.append(f"study={experiment}")
        items = ["python", "-m", "prepbench", "-m", f"prep={','.join(ps)}", f"net={','.join(names)}",
                 f"seed={','.join(map(str, seeds))}", *netdot, *rest]
        cmd = " ".join(shlex.quote(i) for i in items)
        out.append(cmd + ("    # rebuilt from params: the runs carry no overrides tag" if recon else ""))
    return out


# ---------------------------------------------------------------------------------- analysis

def analyse(jobs: pd.DataFrame, experiment: str, client, level: float) -> list[Group]:
    groups = []
    for gid, gj in jobs.groupby("group", sort=True):
        gj = gj.copy()
        gj["net"], nets = net_labels(gj)
        preps = sorted(set(gj["prep"]) | {BASELINE}, key=_prep_key)
        seeds = sorted(set(gj["seed"]))
        ep = pd.to_numeric(_col(gj, "params.trainer.epochs"), errors="coerce").dropna()
        epochs = int(ep.max()) if len(ep) else None
        g = Group(gid=gid, label=str(gj["group_label"].iloc[0]), jobs=gj, nets=nets, preps=preps,
                  seeds=seeds, epochs=epochs, early=None)
        g.cells, g.duplicates = choose_cells(gj, preps, nets, seeds)
        # learning curves of the analysed runs
        for rid in g.cells.loc[g.cells["status"] == "FINISHED", "run_id"]:
            hist = client.get_metric_history(rid, "val_accuracy")
            s = pd.Series({m.step: m.value for m in sorted(hist, key=lambda m: m.timestamp)},
                          dtype=float).sort_index()
            g.curves[rid] = s
        if g.epochs is None and g.curves:
            g.epochs = int(max(s.index.max() for s in g.curves.values() if len(s)) or 0) or None
        g.early = stats.early_epoch(g.epochs) if g.epochs else None
        g.cells["val_early"] = [
            g.curves.get(r, pd.Series(dtype=float)).get(g.early, math.nan) if g.early else math.nan
            for r in g.cells["run_id"]]
        g.coverage = g.cells.pivot(index=["prep", "net"], columns="seed", values="status").reindex(
            pd.MultiIndex.from_product([preps, nets], names=["prep", "net"]))
        g.pairs = [(a, nets[-1]) for a in nets[:-1]]
        g.summary = summarise(g, level)
        g.effects = effects(g, level)
        # the baseline: (net, seed) where some variant ran but `none` never finished
        fin = g.cells[g.cells["status"] == "FINISHED"]
        tried = gj[gj["prep"] != BASELINE][["net", "seed"]].drop_duplicates()
        have = set(map(tuple, fin[fin["prep"] == BASELINE][["net", "seed"]].to_numpy()))
        g.missing_baseline = sorted({(n, int(s)) for n, s in tried.to_numpy() if (n, s) not in have},
                                    key=lambda t: (nets.index(t[0]), t[1]))
        g.baseline_commands = commands_for([(BASELINE, n, s) for n, s in g.missing_baseline], g, experiment)
        todo = g.cells[g.cells["status"] != "FINISHED"]
        g.missing_commands = commands_for(list(map(tuple, todo[["prep", "net", "seed"]].to_numpy())),
                                          g, experiment)
        groups.append(g)
    return groups


# ----------------------------------------------------------------------------------- figures

def _colors(preps):
    import matplotlib

    cmap = matplotlib.colormaps["tab10"]
    return {p: cmap(i % 10) for i, p in enumerate(sorted(set(preps) | set(PREP_ORDER), key=_prep_key))}


def draw_figures(g: Group, figdir: Path, level: float) -> list[tuple[str, str]]:
    """Writes the group's PNGs; returns [(path relative to the report, caption)]."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    figdir.mkdir(parents=True, exist_ok=True)
    out = []
    pct = int(round(level * 100))
    colors = _colors(g.preps)
    net_markers = ["o", "s", "^", "D", "v", "P"]
    nn = len(g.nets)
    width = 0.7 / max(nn, 1)
    title_sfx = f" [{g.label}]" if g.label else ""

    def offsets(j):
        return (j - (nn - 1) / 2) * width

    def save(fig, name, caption):
        path = figdir / f"{name}{g.suffix}.png"
        fig.tight_layout()
        fig.savefig(path, dpi=110)
        plt.close(fig)
        out.append((f"figures/{path.name}", caption))

    # 1. test accuracy per prep and net, with CIs and the seeds
    fig, ax = plt.subplots(figsize=(max(6, 1.0 * len(g.preps) + 2), 4))
    s = g.summary
    x = np.arange(len(g.preps))
    for j, n in enumerate(g.nets):
        sub = s[s["net"] == n].set_index("prep").reindex(g.preps)
        xs = x + offsets(j)
        err = np.vstack([sub["mean"] - sub["ci_low"], sub["ci_high"] - sub["mean"]])
        ax.errorbar(xs, sub["mean"], yerr=np.nan_to_num(err), fmt=net_markers[j % 6], capsize=4,
                    color=f"C{j}", label=n, ms=7)
        for i, p in enumerate(g.preps):
            vals = _series(g.cells, "test_accuracy", p, n).to_numpy()
            ax.scatter(np.full(len(vals), xs[i] + width * 0.25), vals, s=10, color=f"C{j}", alpha=0.4)
    ax.set_xticks(x, g.preps)
    ax.set_ylabel("test accuracy")
    ax.set_title(f"Test accuracy: mean and {pct}% CI over seeds (dots: seeds){title_sfx}")
    ax.legend(title="network")
    ax.grid(axis="y", alpha=0.3)
    save(fig, "accuracy", f"Test accuracy per variant and network: mean with {pct}% CI over seeds; "
                          "small dots are individual seeds.")

    # 2. benefit over none, shallow beside deep: final and early
    e = g.effects
    variants = [p for p in g.preps if p != BASELINE]
    metrics = [m for m in ["test_accuracy", g.early_metric if g.early else None] if m]
    if variants and len(e):
        fig, axes = plt.subplots(1, len(metrics), figsize=(max(6, 0.9 * len(variants) + 2) * len(metrics) * 0.8, 4),
                                 squeeze=False)
        for ax, m in zip(axes[0], metrics):
            xv = np.arange(len(variants))
            for j, n in enumerate(g.nets):
                sub = e[(e["metric"] == m) & (e["kind"] == "benefit") & (e["net"] == n)].set_index("prep").reindex(variants)
                err = np.vstack([sub["mean"] - sub["ci_low"], sub["ci_high"] - sub["mean"]])
                ax.errorbar(xv + offsets(j), 100 * sub["mean"], yerr=100 * np.nan_to_num(err),
                            fmt=net_markers[j % 6], capsize=4, color=f"C{j}", label=n, ms=7)
            if not e.loc[(e["metric"] == m) & (e["kind"] == "benefit"), "mean"].notna().any():
                ax.text(0.5, 0.5, f"no variant has a paired `{BASELINE}` run:\nsee Coverage in the report",
                        ha="center", va="center", transform=ax.transAxes, color="grey")
            ax.axhline(0, color="k", lw=0.8)
            ax.set_xticks(xv, variants)
            ax.set_ylabel("benefit over none (percentage points)")
            ax.set_title("final test accuracy" if m == "test_accuracy" else f"validation accuracy at epoch {g.early}")
            ax.grid(axis="y", alpha=0.3)
            ax.legend(title="network")
        fig.suptitle(f"Benefit over none, paired by seed: mean and {pct}% CI{title_sfx}")
        save(fig, "benefit", f"Benefit of each variant over `none` (same seed, same network), in "
                             f"percentage points, mean and {pct}% CI; left: final test accuracy, "
                             f"right: validation accuracy at epoch {g.early} of {g.epochs}.")

    # 3. interaction forest plot
    inter = e[e["kind"] == "interaction"] if len(e) else e
    if len(inter):
        pairs = list(dict.fromkeys(inter["net"]))
        fig, axes = plt.subplots(1, len(metrics), figsize=(5.5 * len(metrics), 0.5 * len(variants) * len(pairs) + 1.8),
                                 squeeze=False, sharey=True)
        labels = [(p, pr) for p in variants for pr in pairs]
        y = np.arange(len(labels))[::-1]
        for ax, m in zip(axes[0], metrics):
            sub = inter[inter["metric"] == m].set_index(["prep", "net"])
            for yi, key in zip(y, labels):
                if key not in sub.index:
                    continue
                r = sub.loc[key]
                col = colors[key[0]]
                if np.isfinite(r["ci_low"]):
                    ax.plot([100 * r["ci_low"], 100 * r["ci_high"]], [yi, yi], color=col, lw=2)
                ax.plot(100 * r["mean"], yi, "D", color=col, ms=7)
            if not sub["mean"].notna().any():
                ax.text(0.5, 0.5, f"no seed has all four runs\n(variant and `{BASELINE}` on both nets)",
                        ha="center", va="center", transform=ax.transAxes, color="grey")
            ax.axvline(0, color="k", lw=0.8)
            ax.set_xlabel("benefit on shallower minus benefit on deeper (pp)")
            ax.set_title("final test accuracy" if m == "test_accuracy" else f"val. accuracy at epoch {g.early}")
            ax.grid(axis="x", alpha=0.3)
        axes[0][0].set_yticks(y, [p if len(pairs) == 1 else f"{p}: {pr}" for p, pr in labels])
        axes[0][0].set_ylim(-0.6, len(labels) - 0.4)
        fig.suptitle(f"Interaction ({pairs[0] if len(pairs) == 1 else 'per pair'}): "
                     f"mean and {pct}% CI; right of 0 = helps the shallower net more{title_sfx}", fontsize=10)
        save(fig, "interaction", f"Forest plot of the interaction per variant: (benefit on "
                                 f"{' / '.join(pairs)}), mean and {pct}% CI over seeds. Right of "
                                 "zero: the variant helps the shallower network more.")

    # 4. learning curves
    if g.curves:
        fig, axes = plt.subplots(1, nn, figsize=(5.2 * nn, 4), squeeze=False, sharey=True)
        for ax, n in zip(axes[0], g.nets):
            for p in g.preps:
                rids = g.cells[(g.cells["prep"] == p) & (g.cells["net"] == n) & (g.cells["status"] == "FINISHED")]["run_id"]
                curves = [g.curves[r] for r in rids if r in g.curves and len(g.curves[r])]
                if not curves:
                    continue
                m = pd.concat(curves, axis=1)
                mean, sd = m.mean(axis=1), m.std(axis=1, ddof=1).fillna(0)
                ax.plot(m.index, mean, color=colors[p], label=f"{p} (n={len(curves)})")
                ax.fill_between(m.index, mean - sd, mean + sd, color=colors[p], alpha=0.15)
            if g.early:
                ax.axvline(g.early, color="grey", ls=":", lw=1)
            ax.set_title(n)
            ax.set_xlabel("epoch")
            ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
            ax.grid(alpha=0.3)
            ax.legend(fontsize=8)
        axes[0][0].set_ylabel("validation accuracy")
        fig.suptitle(f"Validation accuracy per epoch: mean ± 1 SD over seeds{title_sfx}")
        save(fig, "curves", "Validation accuracy per epoch, mean over seeds with a ±1 SD band; the "
                            f"dotted line marks the early epoch ({g.early}) used for the early benefit.")
    return out


# ---------------------------------------------------------------------------------- document

class Doc:
    """A small document model rendered to Markdown and to self-contained HTML."""

    def __init__(self):
        self.blocks = []

    def h(self, level, text):
        self.blocks.append(("h", level, text))

    def p(self, text):
        self.blocks.append(("p", text))

    def ul(self, items):
        if items:
            self.blocks.append(("ul", list(items)))

    def code(self, text):
        self.blocks.append(("code", text))

    def table(self, header, rows):
        self.blocks.append(("table", list(header), [list(map(str, r)) for r in rows]))

    def img(self, path, caption):
        self.blocks.append(("img", path, caption))

    def markdown(self) -> str:
        out = []
        for b in self.blocks:
            if b[0] == "h":
                out.append("#" * b[1] + " " + b[2])
            elif b[0] == "p":
                out.append(b[1])
            elif b[0] == "ul":
                out.append("\n".join(f"- {i}" for i in b[1]))
            elif b[0] == "code":
                out.append("```\n" + b[1] + "\n```")
            elif b[0] == "table":
                esc = lambda s: s.replace("|", "\\|").replace("\n", " ")
                lines = ["| " + " | ".join(map(esc, b[1])) + " |", "|" + "---|" * len(b[1])]
                lines += ["| " + " | ".join(map(esc, r)) + " |" for r in b[2]]
                out.append("\n".join(lines))
            elif b[0] == "img":
                out.append(f"![{b[2]}]({b[1]})\n\n*{b[2]}*")
        return "\n\n".join(out) + "\n"

    @staticmethod
    def _inline(text: str) -> str:
        t = html.escape(text, quote=False)
        t = re.sub(r"`([^`]+)`", r"<code>\1</code>", t)
        t = re.sub(r"\*\*([^*]+)\*\*", r"<strong>\1</strong>", t)
        t = re.sub(r"(?<![*\w])\*([^*]+)\*(?![*\w])", r"<em>\1</em>", t)
        return t

    def html(self, base: Path, title: str) -> str:
        out = []
        for b in self.blocks:
            if b[0] == "h":
                out.append(f"<h{b[1]}>{self._inline(b[2])}</h{b[1]}>")
            elif b[0] == "p":
                out.append(f"<p>{self._inline(b[1])}</p>")
            elif b[0] == "ul":
                out.append("<ul>" + "".join(f"<li>{self._inline(i)}</li>" for i in b[1]) + "</ul>")
            elif b[0] == "code":
                out.append(f"<pre><code>{html.escape(b[1])}</code></pre>")
            elif b[0] == "table":
                head = "".join(f"<th>{self._inline(c)}</th>" for c in b[1])
                body = "".join("<tr>" + "".join(f"<td>{self._inline(c)}</td>" for c in r) + "</tr>" for r in b[2])
                out.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
            elif b[0] == "img":
                data = base64.b64encode((base / b[1]).read_bytes()).decode("ascii")
                out.append(f'<figure><img alt="{html.escape(b[2])}" src="data:image/png;base64,{data}">'
                           f"<figcaption>{self._inline(b[2])}</figcaption></figure>")
        css = ("body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;"
               "line-height:1.45;color:#222}table{border-collapse:collapse;margin:1em 0;font-size:.9em}"
               "th,td{border:1px solid #ccc;padding:.25em .5em;text-align:left}th{background:#f3f3f3}"
               "pre{background:#f6f6f6;padding:.7em;overflow-x:auto;font-size:.85em}"
               "img{max-width:100%}figcaption{font-size:.9em;color:#555}code{background:#f3f3f3}")
        return (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{html.escape(title)}"
                f"</title><style>{css}</style></head><body>\n" + "\n".join(out) + "\n</body></html>\n")


def _pct(x) -> str:
    return "–" if not np.isfinite(x) else f"{100 * x:.2f}%"


def _pp(x) -> str:
    return "–" if not np.isfinite(x) else f"{100 * x:+.2f}"


def _ci(lo, hi) -> str:
    return "–" if not (np.isfinite(lo) and np.isfinite(hi)) else f"[{100 * lo:+.2f}, {100 * hi:+.2f}]"


def _p(x) -> str:
    return "–" if not np.isfinite(x) else (f"{x:.3f}" if x >= 0.001 else f"{x:.1e}")


def _prob(r) -> str:
    if not np.isfinite(r["prob_beats"]):
        return "–"
    return f"{r['prob_beats']:.2f} [{r['prob_beats_low']:.2f}, {r['prob_beats_high']:.2f}]"


def _effect_text(r) -> str:
    return f"{r['verdict']} ({_pp(r['mean'])} pp {_ci(r['ci_low'], r['ci_high'])}, n={r['n']})"


def _row(e, metric, kind, prep, net):
    sub = e[(e["metric"] == metric) & (e["kind"] == kind) & (e["prep"] == prep) & (e["net"] == net)]
    return None if sub.empty else sub.iloc[0]


def build_document(experiment: str, tracking_uri: str, groups: list[Group], differing: list[str],
                   parents: pd.DataFrame, jobs: pd.DataFrame, figures: dict, level: float) -> Doc:
    pct = f"{level * 100:g}%"
    alpha = 1 - level
    d = Doc()
    d.h(1, f"prepbench report: {experiment}")
    d.p(f"Generated by `python -m prepbench.report` from the MLflow experiment `{experiment}` "
        f"({len(jobs)} job runs) alone. All intervals are two-sided {pct} confidence intervals; "
        f"effects are in percentage points (pp) of accuracy.")

    # -- hypothesis and claims
    d.h(2, "1. The hypothesis and the claims tested")
    d.p(f"**Hypothesis H:** {HYPOTHESIS} It comes from a practitioner's memo on preparing images for "
        "CNN training, which makes the claims below. Each preprocessing variant is compared with the "
        "baseline `none` (pixels scaled to [0, 1]) on a shallow and a deep CNN, with the same seeds. "
        "H predicts, for a variant, a larger benefit over `none` on the shallow network than on the "
        "deep one: a positive *interaction* (benefit on shallow minus benefit on deep).")
    d.table(["claim", "variant(s)", "what the memo claims"], [(c, f"`{v}`", t) for c, v, t in CLAIMS])
    brief = [_h_sentence(g, a, b, level) for g in groups for a, b in g.pairs]
    if brief:
        d.p("**In brief** (details, intervals and caveats below):")
        d.ul(brief)

    # -- setup
    d.h(2, "2. Setup: what was compared")
    if differing:
        d.p(f"**These runs are not all comparable**: they differ in {', '.join(f'`{k}`' for k in differing)}. "
            "Runs with different budgets or data are never pooled; each comparable set is analysed "
            "separately below as its own group.")
        d.table(["group", "differing settings", "job runs"],
                [(g.gid, g.label, len(g.jobs)) for g in groups])
    d.p("**Method.** Every effect is paired by seed: a variant's run minus the `none` run with the same "
        "seed on the same network and data (same initial weights, batch order and augmentation draws). "
        f"Seeds are the replication unit. The {pct} interval of a mean over n seeds is a Student t "
        f"interval (mean ± t·sd/√n; assumes the per-seed differences are independent and roughly "
        f"normal) when n < {stats.BOOTSTRAP_MIN_N}, and a percentile bootstrap (10,000 resamples) "
        f"from n = {stats.BOOTSTRAP_MIN_N} on. The interaction of a variant is computed per seed as "
        "(variant − none on the shallower net) − (variant − none on the deeper net), over seeds where "
        "all four runs finished. p-values: two-sided one-sample t test, and a two-sided sign-flip "
        f"permutation test (exact up to {stats.EXACT_SIGN_FLIP_MAX_N} seeds; assumes only symmetry "
        "under no effect). **P(beats)** is the fraction of paired seeds where the variant beats `none` "
        "(ties count one half; Bouthillier et al., MLSys 2021), with a Clopper–Pearson interval. "
        f"A verdict names a direction only when the {pct} interval excludes 0, otherwise "
        "\"no detectable difference\" — which is not evidence of no effect: the interval bounds it. "
        "The benefit is also measured at an early epoch (a quarter of training, rounded up) to tell "
        "\"deep nets overcome it\" apart from \"deep nets get there anyway, but later\".")
    for g in groups:
        _setup_group(d, g, jobs)

    # -- results
    d.h(2, "3. Results")
    for g in groups:
        _results_group(d, g, figures.get(g.gid, []), level)

    # -- verdicts
    d.h(2, "4. Verdicts")
    for g in groups:
        _verdicts_group(d, g, level)

    # -- caveats
    d.h(2, "5. Caveats")
    d.ul(_caveats(groups, jobs, level))

    # -- reproducibility
    d.h(2, "6. Reproducibility")
    _repro(d, groups, parents, jobs, experiment, tracking_uri)
    return d


def data_name(source: str, path: str) -> str:
    """How a report names its data; results on the shared JPEG re-encoding must say so."""
    if source == "cifar10":
        return "CIFAR-10 (official release)"
    if source == "folder" and Path(path).name == "cifar10-jpeg.zip":
        return "**CIFAR-10 (JPEG q75 copy)**: re-encoded as JPEG, so accuracies are close to, not identical with, the official set's"
    return {"synthetic": "synthetic images"}.get(source, "an image folder")


def _gh(d: Doc, g: Group, title: str, level=3):
    d.h(level, title + (f" — group {g.gid} ({g.label})" if g.gid else ""))


def _setup_group(d: Doc, g: Group, jobs: pd.DataFrame):
    _gh(d, g, "Design")
    first = g.jobs.sort_values("start_time").iloc[-1]

    def param(k):
        v = first.get(f"params.{k}")
        return "–" if v is None or (isinstance(v, float) and math.isnan(v)) else str(v)

    d.ul([
        f"variants: {', '.join(f'`{p}`' for p in g.preps)} (baseline `{BASELINE}`)",
        f"networks: " + ", ".join(
            f"`{n}` (depth {param_for(g, n, 'net.depth')}, width {param_for(g, n, 'net.width')}, "
            f"dense {param_for(g, n, 'net.dense')})" for n in g.nets),
        f"seeds: {', '.join(map(str, g.seeds))} ({len(g.seeds)})",
        f"data: {data_name(param('data.source'), param('data.path'))} (source `{param('data.source')}`, path `{param('data.path')}`), "
        f"train_size {param('data.train_size')}, val_size {param('data.val_size')}, "
        f"test_size {param('data.test_size')}, split_seed {param('data.split_seed')}, "
        f"image_size {param('data.image_size')}",
        f"training: {g.epochs} epochs, batch {param('trainer.batch_size')}, Adam lr {param('trainer.lr')}; "
        f"early epoch for the early benefit: {g.early}",
        f"runs: {len(g.jobs)} job runs; {int((g.cells['status'] == 'FINISHED').sum())} of "
        f"{len(g.cells)} cells (prep × net × seed) finished",
    ])
    _gh(d, g, "Coverage (prep × net × seed)", 4)
    cov = g.coverage
    marks = {"FINISHED": "done", "MISSING": "missing"}
    d.table(["prep", "net", *[f"seed {s}" for s in cov.columns]],
            [(p, n, *[marks.get(v, f"**{v}**") for v in row]) for (p, n), row in cov.iterrows()])
    bad = g.cells[~g.cells["status"].isin(["FINISHED", "MISSING"])]
    if len(bad):
        d.p("Runs that did not finish (the newest attempt per cell):")
        d.ul([f"`{r.prep}` / `{r.net}` / seed {r.seed}: {r.status}"
              + (f" — {r.failure_reason}" if isinstance(r.failure_reason, str) else "")
              + f" (run `{r.run_id}`)" for r in bad.itertuples()])
    if g.missing_baseline:
        d.p(f"**Baseline missing:** `{BASELINE}` has no finished run for "
            + ", ".join(f"{n} seed {s}" for n, s in g.missing_baseline)
            + ", so the benefits there cannot be computed. This adds only the missing baseline runs:")
        d.code("\n".join(g.baseline_commands))
    if g.missing_commands and g.missing_commands != g.baseline_commands:
        d.p("This runs every cell above that is missing or did not finish (finished runs are reused):")
        d.code("\n".join(g.missing_commands))


def param_for(g: Group, net: str, key: str) -> str:
    v = _col(g.jobs[g.jobs["net"] == net], f"params.{key}").dropna()
    return "–" if v.empty else str(v.iloc[-1])


def _results_group(d: Doc, g: Group, figs, level):
    pct = f"{level * 100:g}%"
    e, s = g.effects, g.summary
    _gh(d, g, "Headline: the interaction per variant (tests H)")
    inter = e[(e["kind"] == "interaction") & (e["metric"] == "test_accuracy")]
    if len(g.pairs) == 0:
        d.p("Only one network label: no interaction can be computed.")
    else:
        rows = []
        for r in inter.itertuples():
            a, b = r.net.split(" - ")
            ba = _row(e, "test_accuracy", "benefit", r.prep, a)
            bb = _row(e, "test_accuracy", "benefit", r.prep, b)
            rows.append((f"`{r.prep}`", PREP_CLAIM.get(r.prep, ""),
                         f"{_pp(ba['mean'])} {_ci(ba['ci_low'], ba['ci_high'])}",
                         f"{_pp(bb['mean'])} {_ci(bb['ci_low'], bb['ci_high'])}",
                         r.net, f"{_pp(r.mean)} {_ci(r.ci_low, r.ci_high)}", r.n, _p(r.p_t), _p(r.p_signflip),
                         f"**{r.verdict}**"))
        d.p(f"Final test accuracy. Benefit = variant − `{BASELINE}` (pp, {pct} CI); "
            "interaction = benefit on the first network minus on the second; n = seeds with all four runs.")
        d.table(["variant", "claim", "benefit shallower", "benefit deeper", "pair", "interaction",
                 "n", "p (t)", "p (sign-flip)", "verdict"], rows)
    _gh(d, g, "Test accuracy per variant and network")
    d.table(["variant", "net", "n", "mean", "sd (pp)", f"{pct} CI", f"val. acc. @ epoch {g.early}", "failed", "missing"],
            [(f"`{r.prep}`", r.net, r.n, _pct(r.mean), f"{100 * r.sd:.2f}" if np.isfinite(r.sd) else "–",
              f"[{_pct(r.ci_low)}, {_pct(r.ci_high)}]", _pct(r.val_accuracy_early_mean), r.n_failed, r.n_missing)
             for r in s.itertuples()])
    _gh(d, g, f"Benefit over `{BASELINE}`, paired by seed")
    rows = []
    for r in e[e["kind"] == "benefit"].itertuples():
        rows.append((f"`{r.prep}`", r.net, "final test" if r.metric == "test_accuracy" else f"val. @ epoch {g.early}",
                     r.n, _pp(r.mean), _ci(r.ci_low, r.ci_high), _p(r.p_t), _p(r.p_signflip),
                     _prob(r._asdict()), r.verdict))
    d.table(["variant", "net", "measured at", "n", "benefit (pp)", f"{pct} CI", "p (t)", "p (sign-flip)",
             "P(beats none)", "verdict"], rows)
    early_inter = e[(e["kind"] == "interaction") & (e["metric"] != "test_accuracy")]
    if len(early_inter):
        _gh(d, g, f"Interaction at the early epoch ({g.early} of {g.epochs})")
        d.table(["variant", "pair", "n", "interaction (pp)", f"{pct} CI", "p (t)", "p (sign-flip)", "verdict"],
                [(f"`{r.prep}`", r.net, r.n, _pp(r.mean), _ci(r.ci_low, r.ci_high), _p(r.p_t),
                  _p(r.p_signflip), r.verdict) for r in early_inter.itertuples()])
    for path, cap in figs:
        d.img(path, cap)


def _deep_reading(g: Group, prep: str, deep: str) -> str:
    e = g.effects
    fin = _row(e, "test_accuracy", "benefit", prep, deep)
    early = _row(e, g.early_metric, "benefit", prep, deep) if g.early else None
    if fin is None or fin["verdict"] == "not enough seeds":
        return "not enough seeds on the deeper network"
    fv = fin["verdict"]
    ev = early["verdict"] if early is not None else "not measured"
    if fv == "helps":
        return f"still helps `{deep}` at the end"
    if fv == "hurts":
        return f"hurts `{deep}` at the end"
    if ev == "helps":
        return (f"`{deep}` gets there anyway, but later: a benefit at epoch {g.early}, none "
                "detectable at the end")
    if ev == "hurts":
        return f"`{deep}` catches up: worse at epoch {g.early}, no detectable difference at the end"
    return f"no detectable effect on `{deep}` at epoch {g.early} or at the end"


def _h_sentence(g: Group, a: str, b: str, level: float, with_group: bool = True) -> str:
    """One sentence: for which variants H is supported, contradicted, undecided (final accuracy)."""
    e = g.effects
    inter = e[(e["kind"] == "interaction") & (e["metric"] == "test_accuracy") & (e["net"] == f"{a} - {b}")]
    by: dict[str, list[str]] = {}
    for r in inter.itertuples():
        by.setdefault(r.verdict, []).append(f"`{r.prep}`")
    sup = by.get(f"helps {a} more", [])
    con = by.get(f"helps {b} more", [])
    null = by.get("no detectable difference", [])
    lacking = by.get("not enough seeds", [])
    where = f" (group {g.gid}: {g.label})" if with_group and g.gid else ""
    return (f"**{a} vs {b}{where}, final test accuracy, at {level * 100:g}%:** "
            + (f"H is supported for {', '.join(sup)}" if sup else "H is supported for no variant")
            + (f"; contradicted (helps {b} more) for {', '.join(con)}" if con else "")
            + (f"; undecided for {len(null)} of {len(inter)} variants, whose intervals include 0 ({', '.join(null)})"
               if null else "")
            + (f"; untestable for {', '.join(lacking)}: not enough paired seeds (see the baseline note)" if lacking else "")
            + ".")


def _verdicts_group(d: Doc, g: Group, level: float):
    pct = f"{level * 100:g}%"
    e = g.effects
    _gh(d, g, "Hypothesis H")
    if not g.pairs:
        d.p("Only one network: H cannot be tested in this group.")
    for a, b in g.pairs:
        inter = e[(e["kind"] == "interaction") & (e["metric"] == "test_accuracy") & (e["net"] == f"{a} - {b}")]
        d.p(_h_sentence(g, a, b, level, with_group=False))
        d.table(["variant", "interaction, final", f"interaction, epoch {g.early}", f"reading for `{b}`"],
                [(f"`{r.prep}`", _effect_text(r._asdict()),
                  _effect_text(x) if (x := _row(e, g.early_metric, "interaction", r.prep, r.net)) is not None else "–",
                  _deep_reading(g, r.prep, b)) for r in inter.itertuples()])
    _gh(d, g, "The memo's claims")
    rows = []
    for cid, variants, text in CLAIMS:
        for v in [x.strip() for x in variants.split(",")]:
            if v not in g.preps:
                rows.append((cid, f"`{v}`", "not run", "", ""))
                continue
            for n in g.nets:
                f = _row(e, "test_accuracy", "benefit", v, n)
                ea = _row(e, g.early_metric, "benefit", v, n) if g.early else None
                rows.append((cid, f"`{v}`", n, _effect_text(f) if f is not None else "–",
                             _effect_text(ea) if ea is not None else "–"))
    d.table(["claim", "variant", "net", "benefit over none, final", f"benefit at epoch {g.early}"], rows)
    notes = []
    for n in g.nets:
        f = _row(e, "test_accuracy", "benefit", "raw", n)
        if f is not None and np.isfinite(f["ci_low"]):
            if f["verdict"] == "no detectable difference":
                notes.append(f"C3 on `{n}`: no detectable difference between raw 0–255 input and x/255; the "
                             f"data are compatible with effects from {_pp(f['ci_low'])} to {_pp(f['ci_high'])} pp, "
                             "which is as far as \"no effect at all\" can be confirmed here.")
            else:
                notes.append(f"C3 on `{n}`: contradicted — raw 0–255 input {f['verdict']} "
                             f"({_pp(f['mean'])} pp {_ci(f['ci_low'], f['ci_high'])}).")
    if "batchnorm" in g.preps and g.early:
        notes.append(f"C6 (efficiency) is best read from the epoch-{g.early} column: a benefit early in "
                     "training is faster learning even where the final accuracy is the same.")
    d.ul(notes)


def _caveats(groups: list[Group], jobs: pd.DataFrame, level: float) -> list[str]:
    alpha = 1 - level
    out = []
    for g in groups:
        tag = f"Group {g.gid}: " if g.gid else ""
        e = g.effects
        ns = sorted(set(int(n) for n in e["n"])) if len(e) else []
        if ns:
            floors = ", ".join(f"{2 / 2 ** n:.3g} with {n}" for n in ns if n > 0)
            out.append(f"{tag}effects rest on {', '.join(map(str, ns))} paired seeds. With so few, the t "
                       "interval's normality assumption cannot be checked; the sign-flip test makes no "
                       f"such assumption but its p-value cannot go below 2/2^n ({floors} seeds)"
                       + (f" — below {math.ceil(math.log2(2 / alpha))} seeds it can never reach "
                          f"{alpha:g}, so there only the t interval can give a directional verdict."
                          if min(ns) > 0 and 2 / 2 ** min(ns) >= alpha else "."))
        if len(e):
            directional = ~e["verdict"].isin(["no detectable difference", "not enough seeds"])
            disagree = e[directional & (e["p_signflip"] >= alpha)]
            if len(disagree):
                out.append(f"{tag}{len(disagree)} directional verdict(s) are not confirmed by the "
                           f"sign-flip test at {alpha:g}: " + ", ".join(
                               f"{r.prep} on {r.net} ({r.metric})" for r in disagree.itertuples())
                           + "; treat them as tentative.")
            m = int((e["kind"] == "interaction").sum() // max(1, e["metric"].nunique()))
            out.append(f"{tag}verdicts are per comparison, not corrected for multiplicity "
                       f"({m} interaction tests per metric); `effects.csv` has Holm-adjusted t-test "
                       "p-values (`p_t_holm`) for the interactions.")
        bad = g.cells[g.cells["status"] != "FINISHED"]
        if len(bad):
            out.append(f"{tag}{len(bad)} of {len(g.cells)} cells did not finish or are missing (see Coverage); "
                       "the effects use only seeds where the paired runs finished, so n differs between rows.")
        if g.duplicates:
            out.append(f"{tag}{g.duplicates} finished run(s) were superseded by a newer finished run of the "
                       "same prep, net and seed (reruns); only the newest is used, never both.")
        for key, what in (("tags.prepbench.git_commit", "git commits"), ("tags.prepbench.hardware", "hardware"),
                          ("tags.prepbench.versions", "library versions")):
            vals = _col(g.jobs, key).dropna().unique()
            if len(vals) > 1:
                out.append(f"{tag}the runs span {len(vals)} different {what}.")
    out.append("Every run uses the same fixed train/validation/test split (`data.split_seed`); the variance "
               "from the choice of split is not sampled, so intervals describe seed-to-seed variation only.")
    out.append("Results hold for the stated budget (epochs, training-set size, learning rate); a different "
               "budget may change them, which is why budgets are never pooled.")
    out.append("Networks of different depth share only the seed number, not weights, so pairing across "
               "networks does not reduce the variance of the interaction; it only keeps one value per seed.")
    return out


def _repro(d: Doc, groups, parents, jobs, experiment, tracking_uri):
    d.p(f"Tracking store: `{tracking_uri}`, experiment `{experiment}`. Regenerate this report with:")
    d.code(f"python -m prepbench.report --experiment {shlex.quote(experiment)} "
           f"--tracking-uri {shlex.quote(tracking_uri)} --out DIR")
    if len(parents):
        d.p("Sweep parent run(s):")
        d.ul([f"`{r.run_id}` ({r.status})" + (
            f": `{r.cmd}`" if isinstance(r.cmd, str) else "")
              for r in parents.assign(cmd=_col(parents, "tags.prepbench.command")).itertuples()])
    rows = []
    for key, name in (("tags.prepbench.git_commit", "git commit"),
                      ("tags.prepbench.data_fingerprint", "data fingerprint"),
                      ("tags.prepbench.hardware", "hardware"),
                      ("tags.prepbench.config_hash", "config hashes")):
        vc = _col(jobs, key).dropna().value_counts()
        if key.endswith("config_hash"):
            rows.append((name, f"{len(vc)} distinct"))
        else:
            rows.append((name, "; ".join(f"`{v}` ({c} runs)" for v, c in vc.items()) or "not recorded"))
    d.table(["what", "value (runs)"], rows)
    versions: dict[str, dict[str, int]] = {}
    for raw in _col(jobs, "tags.prepbench.versions").dropna():
        try:
            for lib, ver in json.loads(raw).items():
                versions.setdefault(lib, {}).setdefault(str(ver), 0)
                versions[lib][str(ver)] += 1
        except (json.JSONDecodeError, AttributeError):
            continue
    if versions:
        d.p("Library versions:")
        d.table(["library", "version (runs)"],
                [(lib, "; ".join(f"{v} ({c})" for v, c in vs.items())) for lib, vs in sorted(versions.items())])
    ordered = jobs.sort_values(["prep", "net_name", "seed"], key=lambda c: c.map(
        _prep_key if c.name == "prep" else {"shallow": 0, "deep": 1}.get) if c.name != "seed" else c)
    cmds = _col(ordered, "tags.prepbench.command").dropna()
    if len(cmds):
        shown = list(cmds.iloc[:12])
        d.p(f"Exact commands of the job runs ({len(cmds)}; all in `runs.csv`, column `tags.prepbench.command`)"
            + (", first 12:" if len(cmds) > 12 else ":"))
        d.code("\n".join(shown))


# ------------------------------------------------------------------------------------ driver

def runs_table(jobs: pd.DataFrame) -> pd.DataFrame:
    lead = ["group", "group_label", "prep", "net", "net_name", "seed", "status", "test_accuracy",
            "run_id", "run_name", "start_time", "end_time"]
    rest = sorted(c for c in jobs.columns if c not in lead and c.startswith(("params.", "metrics.", "tags.")))
    return jobs.reindex(columns=[c for c in lead if c in jobs.columns] + rest).sort_values(
        ["group", "prep", "net", "seed", "start_time"], key=lambda s: s.map(_prep_key) if s.name == "prep" else s)


def check_out_dir(out: Path) -> None:
    """--out must be, or be creatable as, a writable directory: said before the store is read."""
    existing = next(p for p in (out, *out.parents) if p.exists() or p == Path(p.anchor or "."))
    if not existing.is_dir():
        what = "is a file" if existing == out else f"lies under {existing}, which is a file"
        raise PrepbenchError(f"--out {out} {what}; expected a directory (created if missing)")
    if not os.access(existing, os.W_OK):
        raise PrepbenchError(f"--out {out}: {existing} is not writable; expected a writable directory")


def write_report(experiment: str, out: str | Path, tracking_uri: str | None = None,
                 level: float = LEVEL, log_artifact: bool = True) -> Path:
    """Reads `experiment` from the store, writes the report into `out`, and (if `log_artifact`)
    logs `out` under `report/` of the experiment's newest sweep parent run. Returns `out`."""
    if not 0 < level < 1:
        raise PrepbenchError(f"--level must lie strictly between 0 and 1, got {level}")
    tracking_uri = tracking_uri or default_tracking_uri()
    out = Path(out)
    check_out_dir(out)
    if tracking_uri.startswith("sqlite:///"):
        db = Path(tracking_uri[len("sqlite:///"):])
        if not db.is_file():  # reading must not create an empty store
            raise PrepbenchError(f"no MLflow store at {db} (from --tracking-uri {tracking_uri}); "
                                 "run a sweep first or pass the store's URI")
    client = _client(tracking_uri)
    try:
        exp, df = load_runs(client, experiment)
    except PrepbenchError:
        raise
    except Exception as err:  # an unreadable store: one line, not a traceback
        first = str(err).strip().splitlines()[0] if str(err).strip() else ""
        raise PrepbenchError(f"cannot read the MLflow store {tracking_uri}: {type(err).__name__}: {first}") from err
    parents, jobs = split_roles(df)
    if jobs.empty:
        raise PrepbenchError(f"experiment {experiment!r} at {tracking_uri} has no job runs "
                             f"(runs with tag prepbench.role=job); nothing to report")
    jobs = normalise_jobs(jobs)
    if jobs.empty:
        raise PrepbenchError(f"experiment {experiment!r}: no job run carries the params prep, net and seed")
    jobs, differing = assign_groups(jobs)
    groups = analyse(jobs, experiment, client, level)
    jobs = pd.concat([g.jobs for g in groups])  # with the `net` labels

    out.mkdir(parents=True, exist_ok=True)
    figures = {g.gid: draw_figures(g, out / "figures", level) for g in groups}
    runs_table(jobs).to_csv(out / "runs.csv", index=False)
    pd.concat([g.summary for g in groups]).to_csv(out / "summary.csv", index=False)
    pd.concat([g.effects for g in groups]).to_csv(out / "effects.csv", index=False)
    doc = build_document(experiment, tracking_uri, groups, differing, parents, jobs, figures, level)
    (out / "report.md").write_text(doc.markdown(), encoding="utf-8")
    (out / "report.html").write_text(doc.html(out, f"prepbench report: {experiment}"), encoding="utf-8")

    if log_artifact and len(parents):
        newest = parents.sort_values("start_time").iloc[-1]
        try:
            # from a copy: `out` may lie inside the artifact store itself, and logging a folder into
            # one of its own subfolders would recurse
            import shutil
            import tempfile

            with tempfile.TemporaryDirectory() as tmp:
                shutil.copytree(out, Path(tmp) / "report")
                client.log_artifacts(newest["run_id"], str(Path(tmp) / "report"), artifact_path="report")
        except Exception as err:  # the report exists even if the artifact store is unreachable
            print(f"warning: could not log the report to run {newest['run_id']}: {err}", file=sys.stderr)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m prepbench.report", description=__doc__.split("\n\n")[0])
    ap.add_argument("--experiment", required=True, help="MLflow experiment (= study) name")
    ap.add_argument("--tracking-uri", default=None,
                    help="MLflow tracking URI (default: the embedded store of conf/tracking/mlflow.yaml)")
    ap.add_argument("--out", required=True, help="output directory")
    ap.add_argument("--level", type=float, default=LEVEL, help=f"confidence level (default {LEVEL})")
    ap.add_argument("--no-log-artifact", action="store_true",
                    help="do not log the report to the sweep's parent run")
    args = ap.parse_args(argv)
    try:
        out = write_report(args.experiment, args.out, args.tracking_uri, args.level, not args.no_log_artifact)
    except PrepbenchError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"report written to {out / 'report.md'} and {out / 'report.html'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
