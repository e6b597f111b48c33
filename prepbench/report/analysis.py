"""The numbers of a report, computed once from a Selection: no I/O, nothing filled in later.

The cells (with their validation accuracy), the metrics measured on them, the summary per variant
and level, the effects and their verdicts (prepbench.report.effects), and the commands that would
run what is missing, assembled into one Analysis.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from prepbench.report import claims, stats
from prepbench.report.commands import commands_for
from prepbench.report.effects import Metric, effects
from prepbench.report.select import NOT_PLANNED, Selection

TEST = "test_accuracy"


@dataclass(frozen=True)
class Analysis:
    """Everything the figures and the document show; built whole by `analyse`."""

    selection: Selection
    experiment: str
    epochs: int | None
    early: int | None
    metrics: tuple
    contrasts: dict  # variant -> (plus, minus): benefit = plus - minus
    pairs: tuple  # (moderator a, moderator b): interaction = benefit on a - benefit on b
    cells: pd.DataFrame
    summary: pd.DataFrame
    effects: pd.DataFrame
    curves: dict
    missing_baseline: tuple
    baseline_commands: tuple
    missing_commands: tuple
    seeds_plan: dict
    seeds_stops: dict

    @property
    def level(self) -> float:
        return self.selection.spec.level

    @property
    def alpha(self) -> float:
        return 1 - self.selection.spec.level

    @property
    def claims_apply(self) -> bool:
        return claims.applies(self.selection.spec.treatment, self.selection.spec.baseline)

    @property
    def final_label(self) -> str:
        """Where the final validation accuracy is read: "epoch 30", or each run's own last epoch
        where the runs trained different numbers of epochs (a ladder at fixed `trainer.steps`)."""
        return f"epoch {self.epochs}" if self.epochs else "the last epoch"

    @property
    def early_label(self) -> str:
        return f"epoch {self.early}" if self.early else "an early epoch"

    @property
    def depth_moderator(self) -> bool:
        return self.selection.spec.moderator in claims.DEPTH_MODERATORS

    def table(self, metric: str, kind: str) -> pd.DataFrame:
        e = self.effects
        return e[(e["metric"] == metric) & (e["kind"] == kind)]

    def row(self, metric: str, kind: str, variant: str, moderator: str):
        sub = self.effects
        sub = sub[
            (sub["metric"] == metric)
            & (sub["kind"] == kind)
            & (sub["variant"] == variant)
            & (sub["moderator"] == moderator)
        ]
        return None if sub.empty else sub.iloc[0]


def pairs_for(levels) -> tuple:
    """Neighbouring levels, then the extremes (once): (a, b) with a before b in the order."""
    levels = list(levels)
    pairs = [(a, b) for a, b in zip(levels, levels[1:])]
    if len(levels) > 2:
        pairs.append((levels[0], levels[-1]))
    return tuple(pairs)


def contrasts_for(sel: Selection) -> dict:
    """variant -> (plus, minus); the memo's C3 is tested as baseline minus raw (scaling)."""
    reverse = claims.applies(sel.spec.treatment, sel.spec.baseline)
    out = {}
    for v in sel.variants:
        if v == sel.baseline:
            continue
        out[v] = (sel.baseline, v) if reverse and v in claims.REVERSED else (v, sel.baseline)
    return out


def _mean(runs: pd.DataFrame, col: str) -> float:
    return float(pd.to_numeric(runs[col], errors="coerce").mean()) if col in runs else math.nan


def summarise(sel: Selection, cells: pd.DataFrame, early: int | None, level: float) -> pd.DataFrame:
    """Per variant and level: test accuracy (t interval clipped to [0, 1]), validation accuracy
    early and at the end, failed and missing cells, mean fit time and throughput."""
    rows = []
    for v in sel.variants:
        for m in sel.moderators:
            cell = cells[(cells["variant"] == v) & (cells["moderator"] == m)]
            fin = cell[cell["status"] == "FINISHED"]
            iv = stats.clip_interval(stats.t_interval(fin["test_accuracy"], level))
            runs = sel.runs[sel.runs["run_id"].isin(fin["run_id"])]
            rows.append(
                dict(
                    variant=v,
                    moderator=m,
                    n=iv.n,
                    mean=iv.mean,
                    sd=iv.sd,
                    ci_low=iv.low,
                    ci_high=iv.high,
                    level=level,
                    early_epoch=early,
                    val_early_mean=fin["val_early"].mean() if len(fin) else math.nan,
                    val_final_mean=fin["val_final"].mean() if len(fin) else math.nan,
                    n_failed=int(cell["status"].isin(["FAILED", "KILLED"]).sum()),
                    n_missing=int((cell["status"] == "MISSING").sum()),
                    n_running=int((cell["status"] == "RUNNING").sum()),
                    fit_seconds_mean=_mean(runs, "metrics.fit_seconds"),
                    train_images_per_second_mean=_mean(runs, "metrics.train_images_per_second"),
                )
            )
    return pd.DataFrame(rows)


def _epochs(sel: Selection, curves: dict) -> int | None:
    """The epochs the analysed runs trained (the tag prepbench.epochs; before it, the param), or
    None where they differ: a ladder at fixed `trainer.steps` trains fewer images more epochs, so
    there is no common epoch to read every run at."""
    used = sel.runs[sel.runs["run_id"].isin(sel.cells["run_id"].dropna())]
    empty = pd.Series(dtype=object, index=used.index)
    trained = pd.to_numeric(used.get("tags.prepbench.epochs", empty), errors="coerce")
    given = pd.to_numeric(used.get("params.trainer.epochs", empty), errors="coerce")
    ep = trained.fillna(given).dropna()
    if len(ep):
        return int(ep.iloc[0]) if ep.nunique() == 1 else None
    steps = [int(s.index.max()) for s in curves.values() if len(s)]
    return max(steps) if steps else None


def with_validation(cells: pd.DataFrame, curves: dict, early: int | None, epochs: int | None) -> pd.DataFrame:
    """The cells with val_early (the curve at the early epoch) and val_final (the curve at the
    last epoch, else the run's last logged val_accuracy)."""
    cells = cells.copy()
    empty = pd.Series(dtype=float)
    cells["val_early"] = [curves.get(r, empty).get(early, math.nan) if early else math.nan for r in cells["run_id"]]
    final = [curves.get(r, empty).get(epochs, math.nan) if epochs else math.nan for r in cells["run_id"]]
    cells["val_final"] = pd.Series(final, index=cells.index).fillna(cells["val_final"])
    return cells


def metrics_for(cells: pd.DataFrame, early: int | None, epochs: int | None) -> tuple:
    """Test accuracy (the headline), then validation accuracy at the early and the last epoch,
    each only when measured (a runs.csv has no curves; a 1-epoch run has no early epoch; runs that
    trained different epochs have no common early epoch, and each is read at its own last)."""
    out = [Metric(TEST, "test_accuracy", "final test accuracy")]
    if early and epochs and early < epochs and cells["val_early"].notna().any():
        out.append(Metric(f"val_accuracy@epoch{early}", "val_early", f"validation accuracy at epoch {early}"))
    if cells["val_final"].notna().any():
        name, label = (f"epoch{epochs}", f"epoch {epochs} (the last)") if epochs else ("last", "each run's last epoch")
        out.append(Metric(f"val_accuracy@{name}", "val_final", f"validation accuracy at {label}"))
    return tuple(out)


def missing(sel: Selection, experiment: str) -> tuple:
    """(baseline (level, seed) pairs that block a benefit, the commands that add them, the
    commands that run every expected cell that is not FINISHED)."""
    c = sel.cells
    ran = set(map(tuple, c[(c["variant"] != sel.baseline) & c["run_id"].notna()][["moderator", "seed"]].to_numpy()))
    base = c[(c["variant"] == sel.baseline) & (c["status"] != "FINISHED") & (c["status"] != NOT_PLANNED)]
    gaps = [(m, int(s)) for m, s in base[["moderator", "seed"]].to_numpy() if (m, s) in ran]
    todo = c[~c["status"].isin(["FINISHED", NOT_PLANNED])]
    return (
        tuple(gaps),
        tuple(commands_for([(sel.baseline, m, s) for m, s in gaps], sel, experiment)),
        tuple(commands_for(map(tuple, todo[["variant", "moderator", "seed"]].to_numpy()), sel, experiment)),
    )


def plan_applies(plan: dict, spec) -> bool:
    """Whether the seeds command's plan was made for this analysis: the same treatment, baseline and
    moderator (plans recorded before these were tagged were made for the defaults)."""
    made_for = (plan.get("treatment", "prep"), plan.get("baseline", "none"), plan.get("moderator", "net"))
    return made_for == (spec.treatment, spec.baseline, spec.moderator)


def analyse(
    sel: Selection, curves: dict, experiment: str, seeds_plan: dict | None = None, seeds_stops: dict | None = None
) -> Analysis:
    """The whole analysis of one selection; `curves`: run id -> validation accuracy per epoch."""
    epochs = _epochs(sel, curves)
    early = stats.early_epoch(epochs) if epochs else None
    cells = with_validation(sel.cells, curves, early, epochs)
    metrics = metrics_for(cells, early, epochs)
    contrasts = contrasts_for(sel)
    pairs = pairs_for(sel.moderators)
    gaps, base_cmds, todo_cmds = missing(sel, experiment)
    if not plan_applies(seeds_plan or {}, sel.spec):  # another analysis's seeds: not this one's resolution
        seeds_plan, seeds_stops = {}, {}
    return Analysis(
        selection=sel,
        experiment=experiment,
        epochs=epochs,
        early=early,
        metrics=metrics,
        contrasts=contrasts,
        pairs=pairs,
        cells=cells,
        summary=summarise(sel, cells, early, sel.spec.level),
        effects=effects(cells, metrics, contrasts, sel.moderators, pairs, sel.spec.level),
        curves=curves,
        missing_baseline=gaps,
        baseline_commands=base_cmds,
        missing_commands=todo_cmds,
        seeds_plan=dict(seeds_plan or {}),
        seeds_stops=dict(seeds_stops or {}),
    )
