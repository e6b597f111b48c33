"""Which machines ran a study, what that does to it, and how far two machines' runs of one
configuration differ (issue 38).

- `kinds(runs)`: each run's machine kind (prepbench.track.machine.kind_of: the CPU model and the
  accelerator; older runs from their `prepbench.hardware` tag).
- `cross_machine_pairs(runs)`: the store's own same-configuration pairs on different machine kinds:
  runs that trained the same thing (every setting that changes a result, the training as it really
  ran, the seed) but were recorded on two kinds of machine. Their test-accuracy differences are the
  cross-machine spread that `verify` judges a retraining on another machine by.
- For the report: `header` (cells per machine), `confounding` (a treatment or moderator level that
  ran wholly or mostly on one machine: a caveat), and `within_machine` (the paired benefits and
  their trend again, on the seeds whose cells all ran on one machine: a sensitivity check).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from prepbench.report.effects import doses
from prepbench.track.identity import LATE_SETTINGS, NOT_IN_HASH
from prepbench.track.machine import kind_of

MACHINE = "machine"
ACCURACY = "metrics.test_accuracy"
# Settings that say how long a run trained in its own terms: the same training is compared by its
# real epochs, steps and warm-up steps instead (the equal-step ladder's `trainer.steps=2370` at
# 10,000 images is the main grid's 30 epochs).
BUDGET_KEYS = ("trainer.epochs", "trainer.steps", "trainer.warmup_epochs", "trainer.warmup_steps")
NOT_TRAINING = (*NOT_IN_HASH, "device", "data.cache_dir", *BUDGET_KEYS)
MOSTLY = 0.75  # a level "mostly on one machine": at least this share of its cells


def kinds(runs: pd.DataFrame) -> pd.Series:
    """Each run's machine kind ("" where none was recorded)."""
    tags = [c for c in ("tags.prepbench.machine", "tags.prepbench.hardware") if c in runs]
    if not tags:
        return pd.Series("", index=runs.index, dtype=object)
    return runs[tags].apply(lambda row: kind_of(row.dropna().to_dict()), axis=1).astype(object)


def _number(series: pd.Series) -> pd.Series:
    return pd.to_numeric(series.replace("null", np.nan), errors="coerce")


def training_as_run(runs: pd.DataFrame) -> pd.DataFrame:
    """Epochs, optimizer steps and warm-up steps as each run trained: its `prepbench.epochs` and
    `prepbench.steps` tags, else (runs from before those tags) epochs x ceil(train_size / batch)."""
    batch = _number(runs.get("params.trainer.batch_size", pd.Series(np.nan, index=runs.index)))
    size = _number(runs.get("params.data.train_size", pd.Series(np.nan, index=runs.index)))
    per_epoch = np.ceil(size / batch)
    epochs = _number(runs.get("tags.prepbench.epochs", pd.Series(np.nan, index=runs.index)))
    epochs = epochs.fillna(_number(runs.get("params.trainer.epochs", pd.Series(np.nan, index=runs.index))))
    steps = _number(runs.get("tags.prepbench.steps", pd.Series(np.nan, index=runs.index))).fillna(epochs * per_epoch)
    warm_steps = _number(runs.get("params.trainer.warmup_steps", pd.Series(np.nan, index=runs.index)))
    warm_epochs = _number(runs.get("params.trainer.warmup_epochs", pd.Series(0.0, index=runs.index))).fillna(0)
    warmup = warm_steps.fillna((warm_epochs * steps / epochs).round())
    return pd.DataFrame({"_epochs": epochs, "_steps": steps, "_warmup": warmup}, index=runs.index)


def training_key(runs: pd.DataFrame) -> pd.Series:
    """One text per run that is equal exactly when two runs trained the same thing (settings that
    change the result, with the late settings' defaults filled in; the training as it ran; the seed)."""
    params = [
        c
        for c in runs.columns
        if c.startswith("params.")
        and c not in ("params.prep", "params.net", "params.data")  # short names, repeated in prep.name ...
        and not any(c[7:] == k or c[7:].startswith(k + ".") for k in NOT_TRAINING)
    ]
    table = runs[params].copy()
    for key, default in LATE_SETTINGS.items():
        if f"params.{key}" in table:
            table[f"params.{key}"] = table[f"params.{key}"].fillna(default)
    table = table.fillna("null").astype(str)
    table = table.join(training_as_run(runs).astype(str))
    table["_version"] = runs.get("tags.prepbench.code_version", pd.Series("1", index=runs.index)).fillna("1")
    return table.apply(lambda row: "|".join(f"{k}={v}" for k, v in row.items()), axis=1)


def cross_machine_pairs(runs: pd.DataFrame) -> pd.DataFrame:
    """Per configuration recorded on two machine kinds: (machine_a, machine_b, accuracy_a,
    accuracy_b, diff_pp, seed, prep, net), each machine's accuracy the mean of its runs there.
    `runs`: FINISHED job runs (params.*, tags.*, metrics.test_accuracy)."""
    columns = ["machine_a", "machine_b", "accuracy_a", "accuracy_b", "diff_pp", "seed", "prep", "net"]
    if runs.empty or ACCURACY not in runs:
        return pd.DataFrame(columns=columns)
    runs = runs[runs[ACCURACY].notna()].assign(_kind=kinds(runs))
    runs = runs[runs["_kind"] != ""]
    if runs.empty:
        return pd.DataFrame(columns=columns)
    runs = runs.assign(_key=training_key(runs))
    rows = []
    for _, group in runs.groupby("_key"):
        if group["_kind"].nunique() < 2:
            continue
        means = group.groupby("_kind")[ACCURACY].mean().sort_index()
        first = group.iloc[0]
        for i, a in enumerate(means.index):
            for b in means.index[i + 1 :]:
                rows.append(
                    (
                        a,
                        b,
                        means[a],
                        means[b],
                        100 * (means[b] - means[a]),
                        first.get("params.seed"),
                        first.get("params.prep"),
                        first.get("params.net"),
                    )
                )
    return pd.DataFrame(rows, columns=columns)


@dataclass(frozen=True)
class Spread:
    """The cross-machine spread between two kinds (or between any, where those two have no pairs)."""

    largest_pp: float
    mean_pp: float
    pairs: int
    between: str  # the two kinds, or "any two machine kinds"

    def sentence(self) -> str:
        return (
            f"{self.largest_pp:.2f} pp (the largest |difference| over {self.pairs} same-configuration pairs in "
            f"the store, {self.between}; mean {self.mean_pp:.2f} pp)"
        )


def spread(pairs: pd.DataFrame, a: str, b: str) -> Spread | None:
    """The spread from pairs between kinds `a` and `b`, else from all cross-machine pairs; None when none."""
    between = pairs[
        ((pairs["machine_a"] == a) & (pairs["machine_b"] == b))
        | ((pairs["machine_a"] == b) & (pairs["machine_b"] == a))
    ]
    label = f"{a} against {b}"
    if between.empty:
        between, label = pairs, "between any two machine kinds"
    if between.empty:
        return None
    diffs = between["diff_pp"].abs()
    return Spread(float(diffs.max()), float(diffs.mean()), len(between), label)


# ---- the report: header, caveats, and a sensitivity check ---------------------------------------


def analysed(a) -> pd.DataFrame:
    """The analysed cells (FINISHED), each with its run's machine kind."""
    cells = a.selection.cells
    cells = cells[cells["status"] == "FINISHED"]
    runs = a.selection.runs.set_index("run_id")
    found = kinds(runs.reset_index()).set_axis(runs.index)
    return cells.assign(**{MACHINE: cells["run_id"].map(found).fillna("")})


def header(a) -> str:
    """One sentence for the report's head: the analysed cells per machine kind."""
    cells = analysed(a)
    counts = cells[MACHINE].replace("", "not recorded").value_counts()
    if counts.empty:
        return ""
    if len(counts) == 1:
        return f"All {int(counts.iloc[0])} cells ran on one kind of machine: {counts.index[0]}."
    return (
        f"The cells ran on {len(counts)} kinds of machine: "
        + "; ".join(f"{kind} {int(n)}" for kind, n in counts.items())
        + " (see the caveats)."
    )


def confounding(a) -> list[str]:
    """Caveats: each treatment or moderator level that ran wholly or mostly (MOSTLY) on one machine
    while the study as a whole ran on several, and the seeds whose paired benefit mixes machines."""
    cells = analysed(a)
    cells = cells[cells[MACHINE] != ""]
    if cells[MACHINE].nunique() < 2:
        return []
    spec = a.selection.spec
    out = []
    for column, factor in (("moderator", spec.moderator), ("variant", spec.treatment)):
        lopsided = confounded_levels(cells, column)
        if lopsided:
            out.append(
                f"The machine is confounded with `{factor}`: "
                + "; ".join(
                    f"`{level}` ran {'wholly' if s == 1 else f'{100 * s:.0f}%'} on {m} ({n} cells)"
                    for level, m, s, n in lopsided
                )
                + ". A difference between those levels may partly be a difference between machines (the same "
                "configuration differs by a few tenths of a point between CPUs: `python -m prepbench.verify`)."
            )
    mixed = mixed_seeds(cells, a.selection.baseline)
    if mixed:
        out.append(
            f"{len(mixed)} paired benefits mix machines (a variant and its baseline `{a.selection.baseline}` of one "
            "seed on different machines): "
            + ", ".join(f"`{v}` at `{m}` seed {s}" for v, m, s in mixed[:8])
            + (f" and {len(mixed) - 8} more" if len(mixed) > 8 else "")
            + "."
        )
    return out


def confounded_levels(cells: pd.DataFrame, column: str) -> list[tuple]:
    """(level, machine, share, cells) for each level of `column` that ran at least MOSTLY on one
    machine while some other level did not: the levels differ in which machine ran them."""
    shares = {level: g[MACHINE].value_counts(normalize=True) for level, g in cells.groupby(column, sort=False)}
    sizes = cells.groupby(column, sort=False).size()
    out = []
    for level, share in shares.items():
        top, fraction = share.index[0], float(share.iloc[0])
        others = [o for o, s in shares.items() if o != level and float(s.get(top, 0.0)) < MOSTLY]
        if fraction >= MOSTLY and others:
            out.append((level, top, fraction, int(sizes[level])))
    return out


def mixed_seeds(cells: pd.DataFrame, baseline: str) -> list[tuple]:
    """(variant, moderator level, seed) whose variant cell and baseline cell ran on different machines."""
    base = cells[cells["variant"] == baseline].set_index(["moderator", "seed"])[MACHINE]
    out = []
    for r in cells[cells["variant"] != baseline].itertuples():
        other = base.get((r.moderator, r.seed))
        if isinstance(other, str) and other and other != getattr(r, MACHINE):
            out.append((r.variant, r.moderator, r.seed))
    return out


def within_machine(a, metric_column: str = "test_accuracy") -> pd.DataFrame:
    """The paired benefit per variant and level again (the report's contrasts: plus − minus), on
    each machine's own seeds (a seed counts for a machine when both cells of its contrast ran
    there): machine, variant, moderator, n, mean_pp; and, where the moderator is a dose (depth=4,
    train_size=2500), the least-squares slope of the benefit on log2 of the dose per machine and,
    for comparison, over both machines' same-machine seeds together (moderator "slope ...")."""
    per_seed = same_machine_benefits(a, metric_column)
    if per_seed.empty:
        return pd.DataFrame(columns=["machine", "variant", "moderator", "n", "mean_pp"])
    table = (
        per_seed.groupby(["machine", "variant", "moderator"], sort=False)["benefit_pp"]
        .agg(n="count", mean_pp="mean")
        .reset_index()
    )
    slopes = _slopes(per_seed, doses(a.selection.moderators, minimum=2))  # a slope per machine: two levels do
    return pd.concat([table, slopes], ignore_index=True) if len(slopes) else table


def same_machine_benefits(a, metric_column: str = "test_accuracy") -> pd.DataFrame:
    """One row per (variant, level, seed) whose two contrasted cells ran on one machine."""
    cells = analysed(a).set_index(["variant", "moderator", "seed"])
    rows = []
    for variant, (plus, minus) in a.contrasts.items():
        for moderator in a.selection.moderators:
            for seed in a.selection.seeds:
                try:
                    p, m = cells.loc[(plus, moderator, seed)], cells.loc[(minus, moderator, seed)]
                except KeyError:
                    continue
                if not p[MACHINE] or p[MACHINE] != m[MACHINE]:
                    continue
                benefit = 100 * (p[metric_column] - m[metric_column])
                rows.append((p[MACHINE], variant, moderator, seed, benefit))
    return pd.DataFrame(rows, columns=["machine", "variant", "moderator", "seed", "benefit_pp"])


def _slopes(per_seed: pd.DataFrame, x: dict | None) -> pd.DataFrame:
    """Per machine and variant (and over all same-machine seeds): the least-squares slope of the
    benefit on log2 of the dose, over the levels with such seeds (at least two)."""
    if x is None:
        return pd.DataFrame()
    per_seed = per_seed.assign(_x=per_seed["moderator"].map(x))
    groups = [(m, v, g) for (m, v), g in per_seed.groupby(["machine", "variant"], sort=False)]
    groups += [("both, same-machine seeds", v, g) for v, g in per_seed.groupby("variant", sort=False)]
    rows = []
    for m, v, group in groups:
        if group["_x"].nunique() < 2:
            continue
        slope = float(np.polyfit(group["_x"], group["benefit_pp"], 1)[0])
        levels = sorted(group["moderator"].unique(), key=lambda level: x[level])
        rows.append((m, v, "slope per doubling (" + ", ".join(map(str, levels)) + ")", len(group), slope))
    return pd.DataFrame(rows, columns=["machine", "variant", "moderator", "n", "mean_pp"])


def section(d, a, slopes: dict | None = None) -> None:
    """The report's machine sensitivity check, where the cells ran on more than one machine:
    the benefits (and slopes) per machine, beside the pooled ones."""
    cells = analysed(a)
    if cells[MACHINE].replace("", np.nan).dropna().nunique() < 2:
        return
    table = within_machine(a)
    d.h(3, "Sensitivity: each machine alone")
    d.p(
        "The cells ran on more than one kind of machine. Below, each benefit (test accuracy, pp, the contrast of "
        "the tables above) again on the seeds whose two contrasted cells ran on the same machine, per machine; "
        "where the moderator is a dose, also the least-squares slope of those benefits on log2 of the level "
        "(pp per doubling), per machine over the levels it ran, and over both machines' same-machine seeds "
        "together. A slope that differs between machines more than between seeds says the pooled trend "
        "depends on which machine ran which level."
    )
    if table.empty:
        d.p("No seed has both cells of a contrast on the same machine.")
        return
    d.table(
        ["machine", "variant", a.selection.spec.moderator, "n", "benefit or slope (pp)"],
        [(r.machine, r.variant, r.moderator, int(r.n), _pp(r.mean_pp)) for r in table.itertuples()],
        align="lllrr",
    )
    if sentence := slopes_sentence(table):
        d.p(sentence)


def slopes_sentence(table: pd.DataFrame) -> str:
    """What the machine mix does to the slopes: per variant, the machines' slopes side by side."""
    slopes = table[table["moderator"].astype(str).str.startswith("slope") & ~table["machine"].str.startswith("both")]
    machines = list(slopes.drop_duplicates("machine")["machine"])
    parts, flips = [], []
    for variant, group in slopes.groupby("variant", sort=False):
        if len(group) < 2:
            continue
        values = dict(zip(group["machine"], group["mean_pp"]))
        parts.append(f"`{variant}` " + " / ".join(f"{values[m]:+.2f}" if m in values else "—" for m in machines))
        if len({np.sign(v) for v in values.values()}) > 1:
            flips.append(f"`{variant}`")
    if not parts:
        return ""
    return (
        f"Slopes per machine ({' / '.join(machines)}, pp per doubling): "
        + "; ".join(parts)
        + ". "
        + (
            f"The sign differs between machines for {', '.join(flips)}: read that trend as not settled by this design."
            if flips
            else "Every slope keeps its sign on each machine alone."
        )
    )


def _pp(value: float) -> str:
    return "—" if not math.isfinite(value) else f"{value:+.2f}"
