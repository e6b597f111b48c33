"""The tables of README.md and docs/findings.md, each computed from the published reports' CSVs
(results/**/effects.csv and summary.csv). `TABLES` maps the name a page's marker gives to its table."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from prepbench.report.families import ALPHA
from prepbench.report.pagewords import (
    BN,
    CLAIMS,
    CONVERGED,
    CPU,
    CPU_CLAIMS,
    DEPTH,
    EPOCHS,
    FAMILIES,
    GPU,
    PLAIN_FAMILY,
    RESNET,
    STEPS,
    ZCA,
    claim_status,
    contrast,
    effect,
    effect_words,
    effects,
    h_row,
    label,
    level_of,
    number,
    one,
    p_value,
    report_csv,
    rows_of,
    summary,
    table,
)


def seed_counts(*rows: pd.Series) -> str:
    """The seeds behind the rows of a table line, in their order: "5", or "5/3" where they differ
    (a net whose row is still running)."""
    return "/".join(str(n) for n in dict.fromkeys(int(row["n"]) for row in rows))


def gpu_interaction(gpu: pd.DataFrame, variant: str) -> pd.Series | None:
    """The GPU replication's shallow − deep row of a variant, or None where it never ran there (crop)."""
    found = gpu[(gpu["kind"] == "interaction") & (gpu["variant"] == variant)]
    return found.iloc[0] if len(found) else None


def claims_table(root: Path, full: bool) -> str:
    """The memo's claims at convergence: benefit over `none` per net and the shallow − deep
    interaction, in pp; `full` adds seeds and the GPU replication's interaction."""
    claims = CLAIMS if full else tuple(c for c in CLAIMS if c.front)
    header = ["claim", "contrast", "shallow", "deep", "shallow − deep", "verdict at convergence"]
    if full:
        header[2:2] = ["seeds"]
        header.append("GPU: shallow − deep")
    rows = [["H: helps shallow nets more", "all", *[""] * (len(header) - 4), h_row(root, claims), *[""] * full]]
    gpu = effects(root, GPU)
    for claim in claims:
        shallow, deep, interaction = rows_of(root, claim)
        verdict = f"{claim_status(claim, shallow, deep)}: {effect_words(shallow, deep, interaction)}"
        row = [claim.claim, contrast(shallow), effect(shallow), effect(deep), effect(interaction), verdict]
        if full:
            row[2:2] = [seed_counts(shallow, deep)]
            there = gpu_interaction(gpu, claim.variant)
            row.append("not run" if there is None else effect(there))
        rows.append(row)
    align = ["l", "l"] + ["r"] * (len(header) - 3) + ["l"]
    if full:
        align = ["l", "l", "r", "r", "r", "r", "l", "r"]
    return table(header, align, rows)


def ladder(frame: pd.DataFrame, variant: str) -> list[pd.Series]:
    rows = frame[(frame["kind"] == "benefit") & (frame["variant"] == variant)]
    return sorted((row for _, row in rows.iterrows()), key=lambda row: level_of(row["moderator"]))


def trend_cell(trend: pd.Series) -> str:
    text = f"{number(trend['mean'])} [{number(trend['ci_low_holm'])}, {number(trend['ci_high_holm'])}]"
    return f"{text}, Holm p {p_value(trend['p_holm'])}"


def trend_verdict(trend: pd.Series, along: str, supports_if: str, claim: str) -> str:
    """`along` words the dose after the direction: "with depth", "as the data grows"."""
    for direction in ("falls", "rises"):
        if direction in trend["verdict"]:
            reading = "supports" if direction == supports_if else "contradicts"
            return f"{direction} {along}: **{reading} {claim}**"
    return "no trend detectable"


def none_accuracy_row(accuracy: pd.DataFrame, blanks: int) -> list[str]:
    """A ladder table's first row: `none`'s mean test accuracy at each level, then empty cells."""
    none = accuracy[accuracy["variant"] == "none"].assign(level=lambda f: f["moderator"].map(level_of))
    return ["`none` test accuracy (%)", *[f"{100 * a:.1f}" for a in none.sort_values("level")["mean"]], *[""] * blanks]


def depth_table(root: Path) -> str:
    """The depth ladder: benefit over `none` at each depth (bold where detectable) and the test
    fixed before the runs, each seed's slope on log2 depth, Holm across variants."""
    frame, accuracy = effects(root, DEPTH), summary(root, DEPTH)
    variants = list(dict.fromkeys(frame[frame["kind"] == "trend"]["variant"]))
    levels = sorted({level_of(m) for m in accuracy["moderator"]})
    header = ["net.depth", *[str(level) for level in levels], "slope per doubling of depth", "verdict on H"]
    rows = [none_accuracy_row(accuracy, blanks=2)]
    for variant in variants:
        trend = one(frame, kind="trend", variant=variant)
        cells = [effect(row, interval=False) for row in ladder(frame, variant)]
        rows.append([label(variant), *cells, trend_cell(trend), trend_verdict(trend, "with depth", "falls", "H")])
    return table(header, ["l", *["r"] * len(levels), "l", "l"], rows)


def normalization_table(root: Path) -> str:
    """Depth or normalization? Each variant's benefit over `none` on both plain nets without and
    with batch norm after every convolution, the plain ladder's slope per doubling of depth, and
    the residual ladder's (batch norm throughout) benefit at its shallowest and deepest rung and its
    slope; "running" where the residual ladder's report does not have the variant yet."""
    bn = {net: effects(root, f"{BN}/{net}") for net in ("shallow", "deep")}
    plain = effects(root, PLAIN_FAMILY)
    published = (root / RESNET / "effects.csv").exists()
    residual = effects(root, RESNET) if published else plain.iloc[:0]  # no rows: every residual cell "running"
    depths = sorted({level_of(m) for m in residual[residual["kind"] == "benefit"]["moderator"]})
    rows = []
    claim_of = {claim.variant: claim.claim.split(":")[0] for claim in CLAIMS}  # "C3", the claims table's rows
    for variant in dict.fromkeys(bn["deep"][bn["deep"]["kind"] == "interaction"]["variant"]):
        row = [claim_of.get(variant, ""), label(variant)]
        for net in ("shallow", "deep"):
            for on in (False, True):
                benefit = one(bn[net], kind="benefit", variant=variant, moderator=f"batchnorm={on}")
                row.append(effect(benefit, interval=False))
        row.append(family_slope(plain, variant))
        rungs = [r for r in ladder(residual, variant) if r["n"] > 0]
        if rungs:
            row += [
                effect(rungs[0], interval=False),
                effect(rungs[-1], interval=False),
                family_slope(residual, variant),
            ]
        else:
            row += ["running"] * 3
        rows.append(row)
    ends = [f"ResNet-{depths[0]}", f"ResNet-{depths[-1]}"] if depths else ["shallowest ResNet", "deepest ResNet"]
    header = [
        "claim",
        "variant",
        "shallow plain net",
        "with batch norm",
        "deep plain net",
        "with batch norm",
        "plain nets: slope per doubling of depth",
        *ends,
        "residual nets: slope per doubling of depth",
    ]
    return table(header, ["l", "l", "r", "r", "r", "r", "l", "r", "r", "l"], rows)


def family_slope(frame: pd.DataFrame, variant: str) -> str:
    """A ladder's slope with its Holm interval, and the depths it rests on where the variant ran at
    some of the ladder's depths only."""
    text = effect(one(frame, kind="trend", variant=variant))
    benefits = ladder(frame, variant)
    ran = [level_of(r["moderator"]) for r in benefits if r["n"] > 0]
    if len(ran) < len(benefits):
        text += f" (depths {', '.join(map(str, ran))} only)"
    return text


def residual_table(root: Path) -> str:
    """The residual ladder: benefit over `none` at each ResNet depth, its slope per doubling (the
    test fixed before the runs), the plain ladder's slope, and the families table's test of the
    difference (Welch on the per-seed slopes, Holm across variants)."""
    frame, accuracy = effects(root, RESNET), summary(root, RESNET)
    plain = effects(root, PLAIN_FAMILY)
    families = report_csv(root, FAMILIES, "families.csv")
    levels = sorted({level_of(m) for m in accuracy["moderator"]})
    header = [
        "ResNet depth",
        *[str(level) for level in levels],
        "slope per doubling of depth",
        "plain nets' slope",
        "residual − plain slope",
    ]
    rows = [none_accuracy_row(accuracy, blanks=3)]
    for variant in dict.fromkeys(frame[frame["kind"] == "trend"]["variant"]):
        trend = one(frame, kind="trend", variant=variant)
        cells = [effect(row) for row in ladder(frame, variant)]
        versus = one(families, family="resnet", variant=variant)
        slope = f"{effect(trend)}, Holm p {p_value(trend['p_holm'])}"
        rows.append([label(variant), *cells, slope, family_slope(plain, variant), slope_difference(versus)])
    return table(header, ["l", *["r"] * len(levels), "l", "l", "l"], rows)


def slope_difference(row: pd.Series) -> str:
    """A families.csv difference of slopes, bold where the families report finds it (Holm p below
    its alpha; `difference_level` is the level of the interval at Holm's step, not that alpha)."""
    mean = number(row["difference"])
    text = f"**{mean}**" if row["p_holm"] < ALPHA else mean
    low, high = number(row["difference_low"]), number(row["difference_high"])
    return f"{text} [{low}, {high}], Holm p {p_value(row['p_holm'])}"


def steps_table(root: Path) -> str:
    """Augmentation's benefit at equal steps (2,370 at every training-set size), per net, and the
    test fixed before the runs: its slope on log2 of the training images."""
    rows, levels = [], []
    for net in ("shallow", "deep"):
        frame = effects(root, f"{STEPS}/{net}")
        benefits = ladder(frame, "augment")
        levels = [level_of(row["moderator"]) for row in benefits]
        trend = one(frame, kind="trend", variant="augment")
        verdict = trend_verdict(trend, "as the data grows", "falls", "C1")
        rows.append([f"{net} net", *[effect(row, interval=False) for row in benefits], trend_cell(trend), verdict])
    header = ["training images", *[f"{level:,}" for level in levels], "slope per doubling of the data", "verdict on C1"]
    return table(header, ["l", *["r"] * len(levels), "l", "l"], rows)


def epochs_table(root: Path) -> str:
    """The fixed-epoch ladder (30 epochs at every size: fewer steps for fewer images), on this CPU
    and in the GPU replication."""
    rows, levels = [], []
    for where, report in (("", EPOCHS), (", GPU", f"{GPU}/scarcity")):
        for net in ("shallow", "deep"):
            frame = effects(root, f"{report}/{net}")
            benefits = ladder(frame, "augment")
            levels = [level_of(row["moderator"]) for row in benefits]
            difference = one(frame, kind="interaction", variant="augment")
            seeds = f"{int(benefits[0]['n'])}"
            rows.append(
                [
                    f"{net} net{where}",
                    seeds,
                    *[effect(row) for row in benefits],
                    f"{effect(difference)}, p {p_value(difference['p_holm'])}",
                ]
            )
    header = ["training images", "seeds", *[f"{level:,}" for level in levels], "difference (smaller − larger)"]
    return table(header, ["l", *["r"] * (len(levels) + 2)], rows)


def two_net_table(root: Path, report: str, metric: str = "test_accuracy", only: str = "") -> str:
    """Every variant of a two-net report: benefit per net, the interaction, what it does in words;
    `only` keeps the variants whose label contains it."""
    frame = effects(root, report, metric)
    rows = []
    for variant in dict.fromkeys(frame[frame["kind"] == "interaction"]["variant"]):
        if only not in variant:
            continue
        shallow, deep, interaction = (
            one(frame, kind="benefit", variant=variant, moderator="shallow"),
            one(frame, kind="benefit", variant=variant, moderator="deep"),
            one(frame, kind="interaction", variant=variant),
        )
        words = effect_words(shallow, deep, interaction)
        rows.append(
            [label(variant), seed_counts(shallow, deep), effect(shallow), effect(deep), effect(interaction), words]
        )
    header = ["variant", "seeds", "shallow", "deep", "shallow − deep", "what it does"]
    return table(header, ["l", "r", "r", "r", "r", "l"], rows)


def resolution_table(root: Path) -> str:
    """Per-comparison 95% half-width of each interaction at the seeds reached, CPU and GPU."""
    gpu = effects(root, GPU)
    rows = []
    for claim in CLAIMS:
        if claim.report != CONVERGED:
            continue
        shallow, deep, here = rows_of(root, claim)
        there = gpu_interaction(gpu, claim.variant)
        on_gpu = "not run" if there is None else f"±{100 * there['halfwidth']:.2f}"
        rows.append([label(claim.variant), seed_counts(shallow, deep), f"±{100 * here['halfwidth']:.2f}", on_gpu])
    return table(["variant", "seeds", "half-width (pp)", "GPU, 10 seeds"], ["l", "r", "r", "r"], rows)


def accuracy_table(root: Path) -> str:
    """Test accuracy of every variant on each net (mean over its seeds), CPU and GPU; the whitening
    study's regularized rows after the main grid's."""
    rows = []
    main, zca, gpu = summary(root, CONVERGED), summary(root, ZCA), summary(root, GPU)
    regularized = zca[zca["variant"].str.contains("s=", regex=False)]
    for cpu in (main, regularized):
        for variant in dict.fromkeys(cpu["variant"]):
            cells = []
            for frame in (cpu, gpu):
                for net in ("shallow", "deep"):
                    found = frame[(frame["variant"] == variant) & (frame["moderator"] == net)]
                    mean = found.iloc[0]["mean"] if len(found) else math.nan  # a net it has not run on: NaN
                    cells.append("–" if math.isnan(mean) else f"{100 * mean:.2f}")
            seeds = seed_counts(*(one(cpu, variant=variant, moderator=net) for net in ("shallow", "deep")))
            rows.append([f"`{variant}`", seeds, *cells])
    header = ["variant", "seeds (CPU)", "shallow (%)", "deep (%)", "GPU: shallow (%)", "GPU: deep (%)"]
    return table(header, ["l", *["r"] * 5], rows)


def cpu_table(root: Path) -> str:
    """The early-training `cpu` study's claims, in the same form (3 seeds, 1 decimal)."""
    rows = [["H: helps shallow nets more", "all", "", "", "", h_row(root, CPU_CLAIMS, CPU)]]
    for claim in CPU_CLAIMS:
        shallow, deep, interaction = rows_of(root, claim, CPU)
        verdict = f"{claim_status(claim, shallow, deep)}: {effect_words(shallow, deep, interaction)}"
        rows.append(
            [
                claim.claim.split(" as the memo")[0],
                contrast(shallow),
                effect(shallow, 1),
                effect(deep, 1),
                effect(interaction, 1),
                verdict,
            ]
        )
    header = ["claim", "contrast", "shallow", "deep", "shallow − deep (Welch)", "verdict after 7 epochs"]
    return table(header, ["l", "l", "r", "r", "r", "l"], rows)


def cpu_depth_table(root: Path) -> str:
    """The `cpu` budget's depth ladder: one variant's benefit per depth, per-comparison 95% interval."""
    frame = effects(root, "results/depth")
    variants = list(dict.fromkeys(frame[frame["kind"] == "trend"]["variant"]))
    rows = []
    for variant in variants:
        cells = [
            f"{number(r['mean'], 1)} [{number(r['ci_low'], 1)}, {number(r['ci_high'], 1)}]"
            for r in ladder(frame, variant)
        ]
        trend = one(frame, kind="trend", variant=variant)
        rows.append(
            [label(variant), *cells, f"{number(trend['mean'])}, p {p_value(trend['p_holm'])}: {trend['verdict']}"]
        )
    levels = [level_of(row["moderator"]) for row in ladder(frame, variants[0])]
    header = ["net.depth", *[str(level) for level in levels], "slope per doubling"]
    return table(header, ["l", *["r"] * len(levels), "l"], rows)


def cpu_seeds_table(root: Path) -> str:
    """Seeds each interaction of the `cpu` study would need for a ±2 and a ±1 pp interval."""
    frame = effects(root, CPU)
    rows = [
        [label(row["variant"]), f"{int(row['seeds_for_2pp'])}", f"{int(row['seeds_for_1pp'])}"]
        for _, row in frame[frame["kind"] == "interaction"].iterrows()
    ]
    return table(["variant", "seeds for ±2 pp", "seeds for ±1 pp"], ["l", "r", "r"], rows)


TABLES: dict[str, Callable[[Path], str]] = {
    "claims": lambda root: claims_table(root, full=False),
    "findings-claims": lambda root: claims_table(root, full=True),
    "depth": depth_table,
    "normalization": normalization_table,
    "residual": residual_table,
    "scarcity-steps": steps_table,
    "scarcity-epochs": epochs_table,
    "zca": lambda root: two_net_table(root, ZCA, only="s="),
    "zca-sgd": lambda root: two_net_table(root, f"{ZCA}/sgd"),
    "zca-vs-std": lambda root: two_net_table(root, f"{ZCA}/vs-std", only="s="),
    "gpu": lambda root: two_net_table(root, GPU),
    "early": lambda root: two_net_table(root, CONVERGED, metric="val_accuracy@epoch8"),
    "accuracy": accuracy_table,
    "resolution": resolution_table,
    "cpu-claims": cpu_table,
    "cpu-depth": cpu_depth_table,
    "cpu-seeds": cpu_seeds_table,
}
