"""Which runs enter the analysis, and as which cell (variant, moderator level, seed).

A run's *settings* are its params (the resolved config) and its data fingerprint; `seed` and the
keys that do not change what a job computes (tracking.*, rerun, study, cache dirs, threads) are
not settings. The rules, in order:

1. **Superseded.** A FINISHED run is superseded by a newer FINISHED run with the same seed that
   agrees on every setting the older run recorded. A setting the older run lacks (its key did not
   exist yet, e.g. `prep.batchnorm_momentum` before it was introduced) does not stop that: the
   newer run, trained with the setting made explicit, replaces it. Superseded runs stay in
   runs.csv with the column `superseded_by`; they never enter a cell.
2. **--where KEY=V1,V2**: only runs whose KEY is one of the values. For `prep` and `net`, a value
   that is an option of conf/ but no run's name (`zca_shrunk`, whose runs are named `zca`) selects
   the runs with exactly that option's settings.
3. **Factors.** The treatment (default `prep`) and the moderator (default `net`) are params. A
   setting of the same config group as a factor (`prep.*`, `net.*`) that varies *within* one of
   its values refines it into its own row or level: `zca (ε=0.1)` beside `zca`,
   `shallow (depth 4)` beside `shallow`. The label names only the settings that differ from the
   option's defaults in conf/, so the default row keeps the bare name. Settings of the group that
   follow the value (`prep.normalization`) are part of it.
4. **Context.** Every other setting that varies (data.*, trainer.*, augmentation.*, the data
   fingerprint, ...) would mix unlike runs. The report analyses the most common combination of
   those settings (ties: the one with the newest run) and names every run it left out, with the
   `--where` that reports them instead. Nothing is ever pooled across a context.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from prepbench import variants
from prepbench.errors import PrepbenchError
from prepbench.report import claims, stats
from prepbench.track import identity

# Not settings that define a context (identity.NOT_IN_CELL). A FINISHED run counts for its config
# wherever and however fast it ran, as the sweep's resume counts it, and runs logged before such a
# param existed have none.
IGNORED = identity.NOT_IN_CELL
ALIASES = {"prep": "prep.name", "net": "net.name", "data": "data.source"}
FINGERPRINT = "data_fingerprint"
NOT_PLANNED = "—"


@dataclass(frozen=True)
class Spec:
    """What to compare: `treatment` values against `baseline`, across `moderator` levels."""

    treatment: str = "prep"
    baseline: str = "none"
    moderator: str = "net"
    where: tuple = ()  # ((key, (value, ...)), ...)
    # --exact-options: a `prep`/`net` value of --where that is an option of conf/ selects that option's
    # settings exactly even where runs bear its name (`raw` leaves out `raw` with batch norm).
    exact_options: bool = False
    level: float = stats.LEVEL


@dataclass(frozen=True)
class Selection:
    """The runs and cells of one analysis. `runs`: every job run with the columns variant,
    moderator, seed, superseded_by, left_out (why it is not analysed, "" if it is); `cells`: one
    row per (variant, moderator, seed) of the design, with status (FINISHED, FAILED, KILLED,
    RUNNING, MISSING, or NOT_PLANNED where that variant never ran that seed), run_id,
    test_accuracy, val_final; `context`: the settings the analysed runs share that vary in the
    experiment; `left_out`: (reason, runs) for runs not analysed; `items`: per variant and per
    moderator level, the overrides that make it (for commands)."""

    spec: Spec
    runs: pd.DataFrame
    parents: pd.DataFrame
    cells: pd.DataFrame
    variants: tuple
    moderators: tuple
    seeds: tuple
    baseline: str
    context: tuple
    left_out: tuple
    items: dict


def canonical(value):
    """A setting's value for comparison: numbers by value (1e-6 == 1e-06, 2500 == 2500.0),
    booleans as MLflow logs them (`false` == False), None/null/"" as "null", NaN (absent) kept as NaN."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return np.nan
    text = str(value).strip()
    if text in ("None", "null", ""):
        return "null"
    if text.lower() in ("true", "false"):
        return text.capitalize()
    try:
        number = float(text)
    except ValueError:
        return text
    return repr(number) if math.isfinite(number) else text


def _ignored(key: str) -> bool:
    return any(key == x or key.startswith(x + ".") for x in IGNORED)


def group_of(key: str) -> str:
    """The config group of a setting; the data fingerprint is computed from the data settings, so
    it follows them (a `data.train_size` moderator has one fingerprint per level)."""
    return "data" if key == FINGERPRINT else key.split(".", 1)[0]


def split_roles(df: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(sweep parent runs, job runs). A job has role 'job', or no role but a `prep` param."""
    if df.empty:
        return df, df
    role = df.get("tags.prepbench.role", pd.Series(np.nan, index=df.index))
    has_prep = df.get("params.prep", pd.Series(np.nan, index=df.index)).notna()
    if "params.prep.name" in df:
        has_prep |= df["params.prep.name"].notna()
    return df[role == "sweep"].copy(), df[(role == "job") | (role.isna() & has_prep)].copy()


def settings(jobs: pd.DataFrame) -> pd.DataFrame:
    """The runs' settings as text, one column per key (params without the prefix, the aliases
    prep/net/data filled from prep.name/net.name/data.source, and the data fingerprint)."""
    cols = {c[len("params.") :]: jobs[c] for c in jobs.columns if c.startswith("params.")}
    frame = pd.DataFrame(cols, index=jobs.index).astype(object)
    for alias, full in ALIASES.items():
        if full in frame:
            frame[alias] = frame[alias].fillna(frame[full]) if alias in frame else frame[full]
    if "tags.prepbench.data_fingerprint" in jobs:
        frame[FINGERPRINT] = jobs["tags.prepbench.data_fingerprint"]
    for key, value in identity.LATE_SETTINGS.items():  # logged before the setting existed: ran at this
        if key in frame:
            frame[key] = frame[key].fillna(value)
    return frame.where(frame.notna(), np.nan)


def superseded_by(jobs: pd.DataFrame, canon: pd.DataFrame, keys: list[str]) -> pd.Series:
    """For each FINISHED run, the id of the newest later FINISHED run with the same seed that
    agrees on every setting the earlier one recorded (rule 1 of the module); else None."""
    out = pd.Series(None, index=jobs.index, dtype=object)
    done = jobs[(jobs["status"] == "FINISHED") & jobs["test_accuracy"].notna()].sort_values("start_time")
    for _, group in done.groupby("seed"):
        idx = list(group.index)
        values = canon.loc[idx, keys].to_numpy(dtype=object)
        known = ~pd.isna(canon.loc[idx, keys]).to_numpy()
        for i in range(len(idx) - 1):
            later = values[i + 1 :][:, known[i]]
            same = (later == values[i, known[i]]).all(axis=1)
            hits = np.flatnonzero(same)
            if hits.size:
                out[idx[i]] = group.loc[idx[i + 1 + hits[-1]], "run_id"]
    return out


def option_defaults(group: str, option: str) -> dict:
    """The settings `group=option` has by default in conf/ (canonical), or {} if no such option."""
    from prepbench.config import compose
    from prepbench.track.identity import flatten

    try:
        cfg = compose([f"{group}={option}"], checked=False)
    except PrepbenchError:  # an option that conf/ does not have (any more): no defaults to compare with
        return {}
    late = {k: canonical(v) for k, v in identity.LATE_SETTINGS.items() if group_of(k) == group}
    return late | {k: canonical(v) for k, v in flatten(cfg).items() if group_of(k) == group}


def _numeric_key(value) -> tuple:
    c = canonical(value)
    try:
        return (0, float(c), "")
    except (TypeError, ValueError):
        return (1, 0.0, str(value))


def _varies_within(canon: pd.DataFrame, factor: str, key: str) -> bool:
    return bool((canon.fillna("(unset)").groupby(factor)[key].nunique() > 1).any())


def _nan(v) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def _differs(value, default) -> bool:
    if _nan(value) or _nan(default):
        return not (_nan(value) and _nan(default))
    return value != default


def _value_text(factor: str, value) -> str:
    return str(value) if factor in ("prep", "net") else f"{factor.split('.')[-1]}={value}"


def factor_labels(raw: pd.DataFrame, canon: pd.DataFrame, factor: str, refine: list[str]):
    """Per run, the label of its factor value (rule 3 of the module), and per label a sort key
    and the overrides that make it: (labels, {label: (sort key, [items])})."""
    defaults = {}
    if refine and factor in ("prep", "net"):
        defaults = {
            v: option_defaults(factor, str(raw.loc[canon[factor] == v, factor].iloc[0]))
            for v in canon[factor].dropna().unique()
        }
    labels = pd.Series("", index=raw.index, dtype=object)
    meta: dict[str, tuple] = {}
    for i in raw.index:
        value, cv = raw.at[i, factor], canon.at[i, factor]
        extra = [(k, raw.at[i, k]) for k in refine if _differs(canon.at[i, k], defaults.get(cv, {}).get(k))]
        text = ", ".join(f"{claims.SYMBOLS.get(k, k.split('.')[-1])}={'unset' if _nan(v) else v}" for k, v in extra)
        label = _value_text(factor, value) + (f" ({text})" if text else "")
        labels[i] = label
        if label not in meta:
            items = [f"{factor}={value}"] + [f"{k}={v}" for k, v in extra if not _nan(v)]
            meta[label] = (_sort_key(factor, raw, canon, i, extra), items)
    return labels, meta


def _sort_key(factor: str, raw: pd.DataFrame, canon: pd.DataFrame, i, extra) -> tuple:
    value = raw.at[i, factor]
    if factor == "prep":
        head = (variants.order_key(str(value))[0], 0.0, str(value))  # conf/prep's order (prepbench.variants)
    elif factor == "net":  # shallow before deep: by depth, then by name
        depth = _numeric_key(raw.at[i, "net.depth"] if "net.depth" in raw else None)
        head = (depth[1] if depth[0] == 0 else 1e9, {"shallow": 0, "deep": 2}.get(str(value), 1), str(value))
    else:
        head = _numeric_key(value)
    return (head, tuple(_numeric_key(v) for _, v in extra))


def _off_default(canon: pd.DataFrame, factor: str, key: str) -> bool:
    """Whether some run of a `prep`/`net` value sets a variant's knob (the settings with a short name
    in row labels) unlike that option's conf/ default: the row is named by it even when every run of
    the value agrees (`zca (s=1.0)` selected alone, not `zca`)."""
    if factor not in ("prep", "net") or key not in claims.SYMBOLS:
        return False
    for value, runs in canon.groupby(factor)[key]:
        default = option_defaults(factor, value).get(key)
        if default is not None and (runs.notna() & runs.ne(default)).any():
            return True
    return False


def _follows(canon: pd.DataFrame, factor: str, key: str, other: str) -> bool:
    """Whether `key` belongs to `factor` rather than to `other` of the same config group: it is one
    value per level of `factor` (`prep.batchnorm_momentum` follows a `prep.batchnorm` moderator,
    `prep.normalization` follows the `prep` treatment), so it refines neither `other` nor is it
    refined by it."""
    return group_of(key) == group_of(factor) == group_of(other) and not _varies_within(canon, factor, key)


def classify(canon: pd.DataFrame, keys: list[str], spec: Spec) -> tuple[list, list, list]:
    """(treatment refinements, moderator refinements, context keys) among the varying `keys`."""
    t, m = spec.treatment, spec.moderator
    varying = [k for k in keys if canon[k].fillna("(unset)").nunique() > 1]
    refine_t = [
        k
        for k in varying
        if k not in (t, m)
        and group_of(k) == group_of(t)
        and not _follows(canon, m, k, t)
        and (_varies_within(canon, t, k) or _off_default(canon, t, k))
    ]
    refine_m = [
        k
        for k in varying
        if k not in (t, m)
        and k not in refine_t
        and group_of(k) == group_of(m)
        and not _follows(canon, t, k, m)
        and _varies_within(canon, m, k)
    ]
    own = {t, m, *refine_t, *refine_m}
    context = [k for k in varying if k not in own and group_of(k) not in (group_of(t), group_of(m))]
    return refine_t, refine_m, context


def choose_context(raw: pd.DataFrame, canon: pd.DataFrame, keys: list[str], start: pd.Series):
    """The most common combination of `keys` (ties: the one with the newest run); returns
    (chosen [(key, value)], per run the reason it is left out or "")."""
    reasons = pd.Series("", index=canon.index, dtype=object)
    if not keys:
        return [], reasons
    combo = canon[keys].fillna("(unset)").apply(tuple, axis=1)
    table = pd.DataFrame({"combo": combo, "start": start})
    stats_ = table.groupby("combo").agg(n=("start", "size"), newest=("start", "max"))
    best = stats_.sort_values(["n", "newest"], ascending=False).index[0]
    first = combo[combo == best].index[0]
    chosen = [(k, raw.at[first, k]) for k in keys]
    for i in combo.index[combo != best]:
        diff = [
            f"{k}={'unset' if _nan(raw.at[i, k]) else raw.at[i, k]}"
            for k, b in zip(keys, best)
            if canon[k].fillna("(unset)").at[i] != b
        ]
        reasons[i] = ", ".join(diff)
    return chosen, reasons


def design_cells(runs: pd.DataFrame, variants: list, moderators: list, baseline: str) -> pd.DataFrame:
    """One row per (variant, moderator, seed): the analysed run (newest FINISHED with a test
    accuracy), else the newest attempt's status, MISSING where the design expects a run (a seed
    the variant ran on another level; every seed for the baseline), else NOT_PLANNED."""
    seeds_of = runs.groupby("variant")["seed"].agg(lambda s: set(s.astype(int))).to_dict()
    all_seeds = sorted(set().union(*seeds_of.values())) if seeds_of else []
    by_cell = {k: g.sort_values("start_time") for k, g in runs.groupby(["variant", "moderator", "seed"])}
    rows = []
    for v in variants:
        planned = set(all_seeds) if v == baseline else seeds_of.get(v, set())
        for m in moderators:
            for s in all_seeds:
                g = by_cell.get((v, m, s))
                row = dict(
                    variant=v,
                    moderator=m,
                    seed=s,
                    status=NOT_PLANNED if s not in planned else "MISSING",
                    run_id=None,
                    test_accuracy=np.nan,
                    val_final=np.nan,
                    failure_reason=None,
                )
                if g is not None:
                    ok = g[(g["status"] == "FINISHED") & g["test_accuracy"].notna()]
                    r = ok.iloc[-1] if len(ok) else g.iloc[-1]
                    row.update(
                        status="FINISHED" if len(ok) else str(r["status"]),
                        run_id=r["run_id"],
                        test_accuracy=r["test_accuracy"],
                        val_final=r["val_final"],
                        failure_reason=r.get("tags.prepbench.failure_reason"),
                    )
                rows.append(row)
    return pd.DataFrame(
        rows,
        columns=["variant", "moderator", "seed", "status", "run_id", "test_accuracy", "val_final", "failure_reason"],
    )


def _jobs(df: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    parents, jobs = split_roles(df)
    if jobs.empty:
        raise PrepbenchError("has no job runs (runs with tag prepbench.role=job); nothing to report")
    jobs["seed"] = pd.to_numeric(jobs.get("params.seed"), errors="coerce")
    jobs = jobs[jobs["seed"].notna()].copy()
    if jobs.empty:
        raise PrepbenchError("no job run carries the param seed")
    jobs["seed"] = jobs["seed"].astype(int)
    for col, metric in (("test_accuracy", "metrics.test_accuracy"), ("val_final", "metrics.val_accuracy")):
        jobs[col] = pd.to_numeric(jobs[metric], errors="coerce") if metric in jobs else np.nan
    jobs["start_time"] = pd.to_numeric(jobs.get("start_time"), errors="coerce").fillna(0)
    return parents, jobs


def _check_factor(raw: pd.DataFrame, key: str, flag: str, keys: list[str]) -> None:
    if key == "seed" or key not in raw or raw[key].isna().all():
        varying = [k for k in keys if raw[k].map(canonical).fillna("(unset)").nunique() > 1]
        raise PrepbenchError(
            f"{flag} {key} is not a setting of these runs; expected one of "
            f"{', '.join(sorted(varying)) or 'the params of the runs'}"
        )


def _baseline_label(canon: pd.DataFrame, labels: pd.Series, meta: dict, spec: Spec) -> str:
    """The baseline's row: the bare label of the baseline value (added, empty, if it never ran)."""
    bare = _value_text(spec.treatment, spec.baseline)
    found = list(dict.fromkeys(labels[canon[spec.treatment] == canonical(spec.baseline)]))
    if bare in found or not found:
        meta.setdefault(bare, (((-1, 0.0, ""),), [f"{spec.treatment}={spec.baseline}"]))
        return bare
    return found[0]


def _matches(canon: pd.DataFrame, key: str, values, moderator: str, exact: bool = False) -> tuple[pd.Series, dict]:
    """Runs whose `key` is one of `values` (rule 2), and {name: option} for the options matched by
    their settings. For `prep` and `net`, a value that no run has as its name but that is an option
    of conf/ (`zca_shrunk`, named `zca`) selects the runs with exactly that option's settings:
    `--where prep=none,zca_shrunk` leaves out the other ZCA rows that `--where prep=none,zca` keeps.
    A moderator of the same group (`prep.batchnorm`), and what follows it, may differ from the
    option's default: `zca_shrunk` with batch norm is still `zca_shrunk` on that level. `exact`
    (--exact-options): every value that is an option selects its settings so, run name or not."""
    by_settings: dict = {}
    if key not in ("prep", "net"):
        return canon[key].isin([canonical(v) for v in values]), by_settings
    by_option = {v: option_defaults(key, v) for v in values}
    names = set(canon[key])
    loose = [v for v in values if not by_option[v] or (canonical(v) in names and not exact)]
    hit = canon[key].isin([canonical(v) for v in loose])
    group = [
        k
        for k in canon.columns
        if group_of(k) == key
        and k not in (key, moderator)
        and (moderator == key or not _follows(canon, moderator, k, key))
    ]
    for value in values:
        if value in loose:
            continue
        defaults = by_option[value]
        same = pd.Series(True, index=canon.index)
        for k in group:  # the option's value of every setting; none of the settings it does not have
            same &= canon[k].eq(defaults[k]) if k in defaults else canon[k].isna()
        hit |= same
        by_settings.setdefault(defaults.get(f"{key}.name"), value)
    return hit, by_settings


def select(df: pd.DataFrame, spec: Spec) -> Selection:
    """Rules 1-4 of the module on the runs of one experiment (parents and jobs together)."""
    parents, jobs = _jobs(df)
    raw = settings(jobs)
    canon = raw.map(canonical)
    keys = [k for k in raw.columns if not _ignored(k)]
    _check_factor(raw, spec.treatment, "--treatment", keys)
    _check_factor(raw, spec.moderator, "--moderator", keys)
    if spec.treatment == spec.moderator:
        raise PrepbenchError(f"--treatment and --moderator are both {spec.treatment}; expected two different settings")
    jobs["superseded_by"] = superseded_by(jobs, canon, keys)
    left = pd.Series("", index=jobs.index, dtype=object)
    left[jobs["superseded_by"].notna()] = "superseded"
    for key, values in spec.where:
        if key not in raw:
            raise PrepbenchError(
                f"--where {key}={','.join(values)} names no setting of these runs; "
                f"expected a param such as data.train_size"
            )
        hit, by_settings = _matches(canon, key, values, spec.moderator, spec.exact_options)
        outside = (left == "") & ~hit
        left[outside] = [
            f"{key}={'unset' if _nan(v) else v}"
            + (f", not the settings of {by_settings[c]}" if c in by_settings else "")
            + " (--where)"
            for v, c in zip(raw.loc[outside, key], canon.loc[outside, key])
        ]
    for key in (spec.treatment, spec.moderator):
        left[(left == "") & canon[key].isna()] = f"no {key} setting"
    pool = left == ""
    if not pool.any():
        raise PrepbenchError(
            "no run is left to analyse: " + "; ".join(f"{n} {r}" for r, n in left.value_counts().items())
        )
    context_keys = classify(canon[pool], keys, spec)[2]
    chosen, reasons = choose_context(raw[pool], canon[pool], context_keys, jobs.loc[pool, "start_time"])
    left.loc[reasons.index] = reasons
    sel = left == ""
    refine_t, refine_m, _ = classify(canon[sel], keys, spec)
    vlab, vmeta = factor_labels(raw[sel], canon[sel], spec.treatment, refine_t)
    mlab, mmeta = factor_labels(raw[sel], canon[sel], spec.moderator, refine_m)
    jobs["variant"], jobs["moderator"], jobs["left_out"] = vlab, mlab, left
    baseline = _baseline_label(canon[sel], vlab, vmeta, spec)
    variants = [baseline] + sorted((v for v in vmeta if v != baseline), key=lambda v: vmeta[v][0])
    moderators = sorted(mmeta, key=lambda m: mmeta[m][0])
    cells = design_cells(jobs[sel], variants, moderators, baseline)
    out = left[left != ""]
    return Selection(
        spec=spec,
        runs=jobs,
        parents=parents,
        cells=cells,
        variants=tuple(variants),
        moderators=tuple(moderators),
        seeds=tuple(sorted(set(cells["seed"]))),
        baseline=baseline,
        context=tuple(chosen),
        left_out=tuple(out.value_counts().sort_index().items()),
        items={"variant": {k: v[1] for k, v in vmeta.items()}, "moderator": {k: v[1] for k, v in mmeta.items()}},
    )
