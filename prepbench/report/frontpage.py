"""The tables of README.md and docs/findings.md, written from the published reports' CSVs.

A page marks each generated table with `<!-- table:NAME -->` ... `<!-- /table:NAME -->`; `write()`
replaces what lies between with `TABLES[NAME]` computed from results/**/effects.csv and summary.csv,
which tests/test_published_reports.py holds to their stores. The prose around the tables is
written by hand. `python -m prepbench.report.published` calls `write()` after the reports, and
tests/test_frontpage.py fails while a page's table differs from what its reports give now."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from prepbench import ROOT

PAGES = ("README.md", "docs/findings.md")
MARKED = re.compile(r"(<!-- table:(?P<name>[\w-]+) -->\n)(?P<body>.*?)(<!-- /table:(?P=name) -->)", re.S)
MINUS = "\u2212"  # the pages print a minus sign, not a hyphen

CONVERGED = "results/converged"
ZCA = "results/converged/zca"
GPU = "results/converged-gpu"
DEPTH = "results/converged/depth"
STEPS = "results/converged/scarcity-steps"
EPOCHS = "results/converged/scarcity"
CPU = "results/cpu"


@dataclass(frozen=True)
class Claim:
    """One row of a claims table: the memo's claim, the report row that tests it, what it predicts."""

    claim: str
    variant: str  # the row's label in effects.csv
    report: str = CONVERGED
    expects: str = "helps"  # or "nothing" (C3: scaling "has no effect")
    front: bool = True  # on the front page too, not only in the findings


CLAIMS = (
    Claim("C1: augmentation may help", "augment"),
    Claim("C2: min-max helps shallow nets, deep nets overcome it", "minmax"),
    Claim("C3: scaling to 0–1 changes nothing", "raw", expects="nothing"),
    Claim("C4: samplewise standardization", "samplewise"),
    Claim("C4: featurewise standardization", "std"),
    Claim("C5: ZCA whitening as the memo ran it (ε = 1e-6)", "zca"),
    Claim("C5: ZCA with IDG's ε = 0.1 (barely regularized)", "zca (ε=0.1)", front=False),
    Claim("C5: ZCA regularized as the literature does it (s = 1)", "zca (s=1.0)", report=ZCA),
    Claim("C6: batch norm learns more efficiently", "batchnorm"),
)
CPU_CLAIMS = tuple(c for c in CLAIMS if c.report == CONVERGED and c.variant != "zca (ε=0.1)")


# -- numbers as the pages print them --------------------------------------------------------------


def number(x: float, digits: int = 2) -> str:
    return f"{100 * x:+.{digits}f}".replace("-", MINUS)


def detectable(row: pd.Series) -> bool:
    """The report's own rule: a direction only where the Holm-adjusted p is below 1 - level."""
    return bool(row["p_holm"] < 1 - row["level"])


def effect(row: pd.Series, digits: int = 2, interval: bool = True) -> str:
    """Mean in pp, bold where detectable, with the Holm interval its verdict uses."""
    mean = number(row["mean"], digits)
    text = f"**{mean}**" if detectable(row) else mean
    if interval:
        text += f" [{number(row['ci_low_holm'], digits)}, {number(row['ci_high_holm'], digits)}]"
    return text


def p_value(p: float) -> str:
    return f"{p:.3f}" if p >= 0.001 else f"{p:.1e}"


def table(header: list[str], align: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---:" if a == "r" else "---" for a in align) + "|"]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


# -- reading the reports --------------------------------------------------------------------------


def effects(root: Path, report: str, metric: str = "test_accuracy") -> pd.DataFrame:
    frame = pd.read_csv(root / report / "effects.csv")
    return frame[frame["metric"] == metric]


def summary(root: Path, report: str) -> pd.DataFrame:
    return pd.read_csv(root / report / "summary.csv")


def one(frame: pd.DataFrame, **where) -> pd.Series:
    rows = frame
    for key, value in where.items():
        rows = rows[rows[key] == value]
    if len(rows) != 1:
        raise LookupError(f"expected one row where {where}, found {len(rows)}")
    return rows.iloc[0]


def contrast(row: pd.Series) -> str:
    """`augment` − `none` from the report's `augment − none on shallow`."""
    return " − ".join(f"`{side}`" for side in row["contrast"].rsplit(" on ", 1)[0].split(" − "))


def level_of(moderator: str) -> int:
    return int(moderator.split("=", 1)[1])


# -- verdicts in words, from the report's own verdicts --------------------------------------------


def effect_words(shallow: pd.Series, deep: pd.Series, interaction: pd.Series) -> str:
    """What a variant does to the two nets: "helps the deep net only", "hurts both, the shallow more"."""
    words = {"shallow": shallow["verdict"], "deep": deep["verdict"]}
    found = {net: v for net, v in words.items() if v in ("helps", "hurts")}
    if not found:
        if detectable(interaction):  # the difference is detectable where neither benefit is
            larger = "shallow" if interaction["mean"] > 0 else "deep"
            return f"a larger benefit on the {larger} net; neither detectable alone"
        return "no detectable effect on either net"
    if len(found) == 1:
        (net, verdict), (other,) = next(iter(found.items())), set(words) - set(found)
        return f"{verdict} the {net} net; nothing detectable on the {other} one"
    if found["shallow"] != found["deep"]:
        helped = "shallow" if found["shallow"] == "helps" else "deep"
        return f"helps the {helped} net, hurts the {'deep' if helped == 'shallow' else 'shallow'} one"
    text = f"{found['shallow']} both nets"
    if detectable(interaction):
        text += ", the shallow one more" if abs(shallow["mean"]) > abs(deep["mean"]) else ", the deep one more"
    return text


def claim_status(claim: Claim, shallow: pd.Series, deep: pd.Series) -> str:
    verdicts = {shallow["verdict"], deep["verdict"]}
    if claim.expects == "nothing":
        return "**contradicted**" if verdicts & {"helps", "hurts"} else "supported"
    if verdicts == {"helps"}:
        return "**supported**"
    if "helps" in verdicts:
        return "partly supported" if "hurts" not in verdicts else "mixed"
    return "**contradicted**" if "hurts" in verdicts else "not supported"


def h_reading(interaction: pd.Series) -> str:
    """H predicts a larger benefit on the shallow net: the interaction favours one net or neither."""
    favours = interaction.get("favours")
    return {"shallow": "supports", "deep": "contradicts"}.get(favours if isinstance(favours, str) else "", "undecided")


def label(variant: str) -> str:
    return "scaling (`none` − `raw`)" if variant == "raw" else f"`{variant}`"


def rows_of(root: Path, claim: Claim, report: str | None = None) -> tuple[pd.Series, pd.Series, pd.Series]:
    frame = effects(root, report or claim.report)
    return (
        one(frame, kind="benefit", variant=claim.variant, moderator="shallow"),
        one(frame, kind="benefit", variant=claim.variant, moderator="deep"),
        one(frame, kind="interaction", variant=claim.variant),
    )


def h_row(root: Path, claims: tuple[Claim, ...], report: str | None = None) -> str:
    readings: dict[str, list[str]] = {"supports": [], "contradicts": [], "undecided": []}
    for claim in claims:
        readings[h_reading(rows_of(root, claim, report)[2])].append(label(claim.variant))
    parts = [
        f"**{name}** for {', '.join(variants)}"
        for name, variants in (
            ("supported", readings["supports"]),
            ("contradicted", readings["contradicts"]),
            ("undecided", readings["undecided"]),
        )
        if variants
    ]
    return "; ".join(parts)


# -- the tables -----------------------------------------------------------------------------------


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
            seeds = {int(shallow["n"]), int(deep["n"])}
            row[2:2] = ["/".join(str(n) for n in sorted(seeds))]
            found = gpu[(gpu["kind"] == "interaction") & (gpu["variant"] == claim.variant)]
            row.append(effect(found.iloc[0]) if len(found) else "not run")
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


def depth_table(root: Path) -> str:
    """The depth ladder: benefit over `none` at each depth (bold where detectable) and the test
    fixed before the runs, each seed's slope on log2 depth, Holm across variants."""
    frame, accuracy = effects(root, DEPTH), summary(root, DEPTH)
    variants = list(dict.fromkeys(frame[frame["kind"] == "trend"]["variant"]))
    levels = sorted({level_of(m) for m in accuracy["moderator"]})
    header = ["net.depth", *[str(level) for level in levels], "slope per doubling of depth", "verdict on H"]
    none = accuracy[accuracy["variant"] == "none"].assign(level=lambda f: f["moderator"].map(level_of))
    rows = [["`none` test accuracy (%)", *[f"{100 * a:.1f}" for a in none.sort_values("level")["mean"]], "", ""]]
    for variant in variants:
        trend = one(frame, kind="trend", variant=variant)
        cells = [effect(row, interval=False) for row in ladder(frame, variant)]
        rows.append([label(variant), *cells, trend_cell(trend), trend_verdict(trend, "with depth", "falls", "H")])
    return table(header, ["l", *["r"] * len(levels), "l", "l"], rows)


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
    """The fixed-epoch ladder (30 epochs at every size: fewer steps for fewer images)."""
    rows, levels = [], []
    for net in ("shallow", "deep"):
        frame = effects(root, f"{EPOCHS}/{net}")
        benefits = ladder(frame, "augment")
        levels = [level_of(row["moderator"]) for row in benefits]
        difference = one(frame, kind="interaction", variant="augment")
        rows.append(
            [
                f"{net} net",
                *[effect(row) for row in benefits],
                f"{effect(difference)}, p {p_value(difference['p_holm'])}",
            ]
        )
    header = ["training images", *[f"{level:,}" for level in levels], "difference (smaller − larger)"]
    return table(header, ["l", *["r"] * (len(levels) + 1)], rows)


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
        seeds = f"{int(shallow['n'])}"
        words = effect_words(shallow, deep, interaction)
        rows.append([label(variant), seeds, effect(shallow), effect(deep), effect(interaction), words])
    header = ["variant", "seeds", "shallow", "deep", "shallow − deep", "what it does"]
    return table(header, ["l", "r", "r", "r", "r", "l"], rows)


def resolution_table(root: Path) -> str:
    """Per-comparison 95% half-width of each interaction at the seeds reached, CPU and GPU."""
    cpu, gpu = effects(root, CONVERGED), effects(root, GPU)
    rows = []
    for claim in CLAIMS:
        if claim.report != CONVERGED:
            continue
        here = one(cpu, kind="interaction", variant=claim.variant)
        there = one(gpu, kind="interaction", variant=claim.variant)
        seeds = one(cpu, kind="benefit", variant=claim.variant, moderator="shallow")["n"]
        rows.append(
            [
                label(claim.variant),
                f"{int(seeds)}",
                f"±{100 * here['halfwidth']:.2f}",
                f"±{100 * there['halfwidth']:.2f}",
            ]
        )
    return table(["variant", "seeds", "half-width (pp)", "GPU, 10 seeds"], ["l", "r", "r", "r"], rows)


def accuracy_table(root: Path) -> str:
    """Test accuracy of every variant on each net (mean over its seeds), CPU and GPU."""
    rows = []
    cpu, gpu = summary(root, CONVERGED), summary(root, GPU)
    for variant in dict.fromkeys(cpu["variant"]):
        cells = []
        for frame in (cpu, gpu):
            for net in ("shallow", "deep"):
                found = frame[(frame["variant"] == variant) & (frame["moderator"] == net)]
                cells.append(f"{100 * found.iloc[0]['mean']:.2f}" if len(found) else "–")
        seeds = one(cpu, variant=variant, moderator="shallow")["n"]
        rows.append([f"`{variant}`", f"{int(seeds)}", *cells])
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
    "scarcity-steps": steps_table,
    "scarcity-epochs": epochs_table,
    "zca": lambda root: two_net_table(root, ZCA, only="s="),
    "gpu": lambda root: two_net_table(root, GPU),
    "early": lambda root: two_net_table(root, CONVERGED, metric="val_accuracy@epoch8"),
    "accuracy": accuracy_table,
    "resolution": resolution_table,
    "cpu-claims": cpu_table,
    "cpu-depth": cpu_depth_table,
    "cpu-seeds": cpu_seeds_table,
}


# -- the pages ------------------------------------------------------------------------------------


def render(text: str, root: Path = ROOT) -> str:
    """The page with every marked table computed again from the reports."""

    def fill(match: re.Match) -> str:
        name = match["name"]
        if name not in TABLES:
            raise KeyError(f"<!-- table:{name} --> names no table; expected one of {', '.join(TABLES)}")
        return f"{match[1]}\n{TABLES[name](root)}\n\n{match[4]}"

    return MARKED.sub(fill, text)


def marked(text: str) -> list[str]:
    return [match["name"] for match in MARKED.finditer(text)]


def write(root: Path = ROOT) -> list[Path]:
    """Rewrite the pages' tables; the pages that changed."""
    changed = []
    for name in PAGES:
        page = root / name
        text = page.read_text()
        again = render(text, root)
        if again != text:
            page.write_text(again)
            changed.append(page)
    return changed


def main(argv=None) -> int:
    """`python -m prepbench.report.frontpage`: the pages' tables alone, from the reports as they are
    (`python -m prepbench.report.published` regenerates the reports first, then calls this)."""
    import argparse

    argparse.ArgumentParser(prog="python -m prepbench.report.frontpage", description=main.__doc__).parse_args(argv)
    for page in write():
        print(f"{page.relative_to(ROOT)}: tables written again from the reports")
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(main(sys.argv[1:]))
