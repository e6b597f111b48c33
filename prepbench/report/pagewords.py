"""How the front page and the findings word the published reports: the claims and the report rows
that test them, numbers as the pages print them, and verdicts in words from the reports' own
verdicts. `prepbench.report.pagetables` builds the tables from these."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from prepbench.errors import PrepbenchError

MINUS = "\u2212"  # the pages print a minus sign, not a hyphen

CONVERGED = "results/converged"
ZCA = "results/converged/zca"
GPU = "results/converged-gpu"
DEPTH = "results/converged/depth"
BN = "results/converged/bn"  # batch norm crossed with the preprocessing, per plain net (issue 36)
PLAIN_FAMILY = "results/converged/plain-family"  # the plain ladder with every variant the residual one has
RESNET = "results/converged/resnet"  # the residual ladder (issue 36)
FAMILIES = "results/converged/families"  # the plain and residual ladders side by side
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
    Claim("C1: augmentation may help (the memo's policy)", "augment"),
    Claim("C1: the standard augmentation (pad, crop, flip)", "crop"),
    Claim("C2: min-max helps shallow nets, deep nets overcome it", "minmax"),
    Claim("C3: scaling to 0–1 changes nothing", "raw", expects="nothing"),
    Claim("C4: samplewise standardization", "samplewise"),
    Claim("C4: featurewise standardization", "std"),
    Claim("C5: ZCA whitening as the memo ran it (ε = 1e-6)", "zca"),
    Claim("C5: ZCA with IDG's ε = 0.1 (barely regularized)", "zca (ε=0.1)", front=False),
    Claim("C5: ZCA regularized as the literature does it (s = 1)", "zca (s=1.0)", report=ZCA),
    Claim("C5: ZCA regularized at the bracket's s = 10", "zca (s=10.0)", report=ZCA),  # issue 36's bracket
    Claim("C6: batch norm learns more efficiently", "batchnorm"),
)
# The cpu study ran the memo's variants only: not IDG's ε, not the standard augmentation (issue 36).
CPU_CLAIMS = tuple(c for c in CLAIMS if c.report == CONVERGED and c.variant not in ("zca (ε=0.1)", "crop"))


# -- numbers as the pages print them --------------------------------------------------------------


def number(x: float, digits: int = 2) -> str:
    return f"{round(100 * x, digits) + 0.0:+.{digits}f}".replace("-", MINUS)  # + 0.0: no "−0.00"


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


def report_csv(root: Path, report: str, name: str) -> pd.DataFrame:
    """One CSV of a published report, or a one-line error naming the file that is missing."""
    path = root / report / name
    if not path.is_file():
        raise PrepbenchError(
            f"{path} does not exist; expected the report's {name} (python -m prepbench.report.published writes it)"
        )
    return pd.read_csv(path)


def effects(root: Path, report: str, metric: str = "test_accuracy") -> pd.DataFrame:
    frame = report_csv(root, report, "effects.csv")
    return frame[frame["metric"] == metric]


def summary(root: Path, report: str) -> pd.DataFrame:
    return report_csv(root, report, "summary.csv")


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
