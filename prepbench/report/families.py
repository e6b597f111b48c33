"""`python -m prepbench.report.families NAME=FOLDER NAME=FOLDER ...`: two or more depth ladders (one
per network family) set side by side, variant by variant.

    python -m prepbench.report.families plain=results/converged/plain-family resnet=results/converged/resnet \
        --out results/converged/families

Each FOLDER holds a ladder's report (`python -m prepbench.report --moderator net.depth`, so its
effects.csv has the dose-response rows). Per variant: each family's slope of the paired benefit
per doubling of depth and its benefit at the shallowest and deepest rung it ran at, as its report
printed them (the Holm intervals its verdicts use); then how each family's slope differs from the first
family's: Welch's t test on the per-seed slopes (recomputed from runs.csv; the families share no
runs), Holm across variants. Writes OUT/families.md and OUT/families.csv. Reads the reports' CSVs only.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from prepbench.document import Document
from prepbench.errors import PrepbenchError
from prepbench.io import write_text
from prepbench.report import stats
from prepbench.report.analysis import TEST
from prepbench.report.effects import doses, parse_contrast, series
from prepbench.report.replication import analysed_runs

ALPHA = 0.05
# a report's trend mean recomputed from its runs.csv agrees with its effects.csv to float precision,
# or the report is stale (its runs changed after its effects were written)
SAME = 1e-9


class Family:
    """One ladder's report: its analysed runs, its test-accuracy effects, its rungs in dose order."""

    def __init__(self, name: str, folder: Path):
        self.name, self.folder = name, folder
        self.runs = analysed_runs(folder)
        path = folder / "effects.csv"
        if not path.exists():
            raise PrepbenchError(
                f"{path} does not exist; expected a report's folder (python -m prepbench.report --out)"
            )
        effects = pd.read_csv(path)
        self.effects = effects[effects["metric"] == TEST]
        self.trends = self.effects[self.effects["kind"] == "trend"].set_index("variant")
        levels = [m for m in self.runs["moderator"].dropna().unique()]
        dose = doses(levels)
        if dose is None or self.trends.empty:
            raise PrepbenchError(
                f"{folder} is not a ladder's report (levels {levels}); expected a report with "
                "--moderator net.depth over 3 or more depths"
            )
        along = {str(level).split("=", 1)[0] for level in levels}
        if along != {"depth"}:
            raise PrepbenchError(
                f"{folder} is a ladder over {', '.join(sorted(along))}, not depth; expected a report with "
                "--moderator net.depth"
            )
        self.dose = dict(sorted(dose.items(), key=lambda kv: kv[1]))

    def levels(self, variant: str) -> list[str]:
        """The rungs, in dose order, where the report has the variant's benefit: all of them, or
        fewer where the variant ran at some depths only (its slope then rests on those)."""
        rows = self.effects[(self.effects["kind"] == "benefit") & (self.effects["variant"] == variant)]
        have = set(rows.loc[rows["n"] > 0, "moderator"])
        return [level for level in self.dose if level in have] or list(self.dose)

    def rungs(self, variant: str) -> tuple[str, str]:
        levels = self.levels(variant)
        return levels[0], levels[-1]

    def slopes(self, variant: str) -> list[float]:
        """The per-seed slopes of the variant's benefit on log2 depth, as the report's trend test
        took them; checked against the report's own mean."""
        plus, minus = parse_contrast(self.trends.loc[variant, "contrast"])
        table = pd.DataFrame(
            {
                x: stats.paired_differences(
                    series(self.runs, "test_accuracy", plus, m), series(self.runs, "test_accuracy", minus, m)
                )
                for m, x in self.dose.items()
            }
        )
        slopes = stats.seed_slopes(table)
        published = float(self.trends.loc[variant, "mean"])
        mean = float(np.mean(slopes)) if slopes else np.nan
        if not (abs(mean - published) <= SAME or (np.isnan(mean) and np.isnan(published))):
            raise PrepbenchError(
                f"{self.folder}: the slope of {variant} from runs.csv ({mean:+.6f}) is not the "
                f"report's ({published:+.6f}); regenerate that report (its command is in its report.md)"
            )
        return slopes

    def benefit(self, variant: str, level: str) -> pd.Series | None:
        rows = self.effects[
            (self.effects["kind"] == "benefit")
            & (self.effects["variant"] == variant)
            & (self.effects["moderator"] == level)
        ]
        return rows.iloc[0] if len(rows) else None


def compare(families: list[Family]) -> pd.DataFrame:
    """One row per (family, variant): its slope and rung benefits as its report printed them, and,
    for every family after the first, its slope minus the first's (Welch on per-seed slopes, Holm
    across the variants of that family)."""
    first = families[0]
    variants = [v for v in first.trends.index if all(v in f.trends.index for f in families)]
    rows = []
    for f in families:
        tests = []
        for v in variants:
            trend = f.trends.loc[v]
            row = dict(
                family=f.name,
                variant=v,
                seeds=int(trend["n"]),
                contrast=trend["contrast"],
                slope=trend["mean"],
                slope_low=trend["ci_low_holm"],
                slope_high=trend["ci_high_holm"],
                slope_verdict=trend["verdict"],
            )
            for end, level in zip(("shallowest", "deepest"), f.rungs(v)):
                b = f.benefit(v, level)
                row |= {
                    f"{end}": level,
                    f"{end}_benefit": b["mean"] if b is not None else np.nan,
                    f"{end}_low": b["ci_low_holm"] if b is not None else np.nan,
                    f"{end}_high": b["ci_high_holm"] if b is not None else np.nan,
                    f"{end}_verdict": b["verdict"] if b is not None else "",
                }
            if f is not first:
                tests.append(stats.welch(f.slopes(v), first.slopes(v)))
            rows.append(row)
        if tests:
            p_holm, levels = stats.holm([c.p for c in tests]), stats.holm_levels([c.p for c in tests], ALPHA)
            for row, c, ph, lv in zip(rows[-len(tests) :], tests, p_holm, levels):
                low, high = c.interval(lv) if np.isfinite(lv) else (np.nan, np.nan)
                row |= dict(
                    vs=first.name,
                    difference=c.mean,
                    difference_low=low,
                    difference_high=high,
                    difference_level=lv,
                    df=c.df,
                    p=c.p,
                    p_holm=ph,
                    difference_verdict=verdict(c.mean, ph, f.name, first.name),
                )
    order = {v: i for i, v in enumerate(variants)}
    table = pd.DataFrame(rows)
    return table.sort_values("variant", key=lambda v: v.map(order), kind="stable").reset_index(drop=True)


def verdict(difference: float, p_holm: float, name: str, reference: str) -> str:
    if not np.isfinite(p_holm):
        return "not enough seeds"
    if p_holm >= ALPHA:
        return "no difference detectable"
    return f"{name}'s slope {'higher' if difference > 0 else 'lower'} than {reference}'s"


def parse(spec: str) -> tuple[str, Path]:
    name, sep, folder = spec.partition("=")
    if not sep or not re.fullmatch(r"[A-Za-z][\w-]*", name) or not folder:
        raise PrepbenchError(f"{spec!r} is not NAME=FOLDER; expected e.g. plain=results/converged/depth")
    return name, Path(folder)


def document(table: pd.DataFrame, families: list[Family], command: str) -> Document:
    first = families[0]
    doc = Document()
    doc.h(1, "Network families side by side: " + " and ".join(f.name for f in families))
    doc.p(
        "Each family is a depth ladder with its own report; a variant's *slope* is the change of its "
        "paired benefit over `none` per doubling of depth (pp), its *rungs* the benefit at the "
        "shallowest and the deepest depth, all as each report printed them (the Holm intervals its "
        f"verdicts use). The last column tests whether a family's slope differs from {first.name}'s: "
        "Welch's t test on the per-seed slopes, Holm across variants, the interval at the level that "
        f"agrees with the verdict. Produced by `{command}`."
    )
    doc.ul(_rungs(f, shared=set(table["variant"])) for f in families)
    doc.table(
        [
            "variant",
            "family",
            "seeds",
            "slope per doubling (pp)",
            "verdict",
            "shallowest rung",
            "deepest rung",
            f"slope − {first.name}'s (pp)",
            "p (Holm)",
            "verdict",
        ],
        [
            (
                f"`{r.variant}`",
                r.family,
                r.seeds,
                _interval(r.slope, r.slope_low, r.slope_high),
                r.slope_verdict,
                f"{r.shallowest}: {_interval(r.shallowest_benefit, r.shallowest_low, r.shallowest_high)}",
                f"{r.deepest}: {_interval(r.deepest_benefit, r.deepest_low, r.deepest_high)}",
                _interval(r.difference, r.difference_low, r.difference_high),  # "–" on the reference's rows
                f"{r.p_holm:.3g}" if np.isfinite(r.p_holm) else "–",
                r.difference_verdict if isinstance(r.difference_verdict, str) else "",
            )
            for r in table.itertuples()
        ],
        align="llrllllrrl",
    )
    doc.p(
        "A slope is per doubling, so families that span different depths compare in one unit; a "
        "family's slope says nothing past its own rungs."
    )
    return doc


def _rungs(f: Family, shared: set) -> str:
    """The family's depths, the variants that ran at some of them only, and the variants of its
    ladder that not every family has."""
    alone = [f"`{v}`" for v in f.trends.index if v not in shared]
    partial = [
        f"`{v}` only at {', '.join(levels)} ({_doublings(f, levels):.2f} doublings)"
        for v in f.trends.index
        if v in shared and len(levels := f.levels(v)) < len(f.dose)
    ]
    return (
        f"**{f.name}** (`{f.folder}`): {', '.join(f.dose)}; {_doublings(f, list(f.dose)):.2f} doublings of depth"
        + (f"; {'; '.join(partial)}: their slopes and rungs rest on those depths" if partial else "")
        + (f"; not in every family, so left out: {', '.join(alone)}" if alone else "")
    )


def _doublings(f: Family, levels: list[str]) -> float:
    return f.dose[levels[-1]] - f.dose[levels[0]]


def _interval(mean: float, low: float, high: float) -> str:
    if not np.isfinite(mean):
        return "–"
    if not (np.isfinite(low) and np.isfinite(high)):
        return _pp(mean)
    return f"{_pp(mean)} [{_pp(low)}, {_pp(high)}]"


def _pp(x: float) -> str:
    return f"{round(100 * x, 2) + 0.0:+.2f}"  # + 0.0: no "-0.00"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m prepbench.report.families", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "ladders",
        nargs="+",
        metavar="NAME=FOLDER",
        help="a family's name and its ladder's report folder; the first is the reference",
    )
    parser.add_argument("--out", type=Path, required=True, help="folder for families.md and families.csv")
    args = parser.parse_args(argv)
    try:
        if len(args.ladders) < 2:
            raise PrepbenchError(
                f"{len(args.ladders)} ladder given ({args.ladders[0]}); expected two or more NAME=FOLDER"
            )
        names = [parse(spec)[0] for spec in args.ladders]
        twice = sorted({name for name in names if names.count(name) > 1})
        if twice:
            raise PrepbenchError(f"family name {twice[0]!r} given twice; expected one name per ladder")
        families = [Family(*parse(spec)) for spec in args.ladders]
        table = compare(families)
    except PrepbenchError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    command = "python -m prepbench.report.families " + " ".join(args.ladders) + f" --out {args.out}"
    write_text(args.out / "families.csv", table.to_csv(index=False, float_format="%.6g"))
    write_text(args.out / "families.md", document(table, families, command).markdown())
    print(f"{args.out / 'families.md'}: {table['variant'].nunique()} variants in {len(families)} families")
    return 0


if __name__ == "__main__":
    sys.exit(main())
