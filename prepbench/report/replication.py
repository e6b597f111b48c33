"""`python -m prepbench.report.replication LOCAL PUBLISHED`: a retrained study set beside its published one.

    python -m prepbench.report.replication local/cpu results/cpu

Both folders hold a report (runs.csv, effects.csv). Every cell the two reports analysed (variant,
level, seed) is compared on its final test accuracy: identical (the same count of test images
right), within CLOSE_PP (what another CPU gives: a close replicate, not a bit-exact one), or
further apart, with the difference. Then each verdict of the two reports (benefits, interactions,
trends on test accuracy): the same words, or not. Writes LOCAL/replication.md and
LOCAL/replication.csv and prints the summary. Reads the reports' CSVs only.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from prepbench.document import Document
from prepbench.errors import PrepbenchError
from prepbench.io import write_text
from prepbench.report.analysis import TEST
from prepbench.report.effects import TOO_FEW

# The equal-step ladder's 10,000-image cells, trained again on another CPU, differ from the main
# grid's by 0.33 pp on average and 0.82 at most (20 same-seed pairs, docs/findings.md): within this,
# a retraining on other hardware is a close replicate.
CLOSE_PP = 1.0
IDENTICAL_PP = 1e-6  # the same accuracy to float precision: the same test images right
CELL = ["variant", "moderator", "seed"]
FINGERPRINT = "tags.prepbench.data_fingerprint"


def analysed_runs(folder: Path) -> pd.DataFrame:
    """The runs a report analysed (its cells): FINISHED, neither superseded nor left out."""
    path = folder / "runs.csv"
    if not path.exists():
        raise PrepbenchError(f"{path} does not exist; expected a report's folder (python -m prepbench.report --out)")
    runs = pd.read_csv(path, dtype={"seed": str, "left_out": str})
    left_out = runs.get("left_out", pd.Series("", index=runs.index)).fillna("")
    return runs[(runs["status"] == "FINISHED") & (left_out == "")]


def side_by_side(local: pd.DataFrame, published: pd.DataFrame) -> pd.DataFrame:
    """One row per cell of either report: both accuracies (%), local minus published (pp), and
    the agreement: identical, close, differs, or only one side has it."""
    keep = [*CELL, "test_accuracy"]
    both = local[keep].merge(published[keep], on=CELL, how="outer", suffixes=("_local", "_published"))
    both["local"] = 100 * both.pop("test_accuracy_local")
    both["published"] = 100 * both.pop("test_accuracy_published")
    both["diff_pp"] = both["local"] - both["published"]
    size = both["diff_pp"].abs()
    both["agreement"] = np.select(
        [both["published"].isna(), both["local"].isna(), size <= IDENTICAL_PP, size <= CLOSE_PP],
        ["local only", "published only", "identical", "close"],
        default="differs",
    )
    return both.sort_values(CELL, key=_natural).reset_index(drop=True)


def _natural(column: pd.Series) -> pd.Series:
    return pd.to_numeric(column, errors="coerce").fillna(0) if column.name == "seed" else column


def verdicts(local_dir: Path, published_dir: Path) -> pd.DataFrame:
    """Each test-accuracy verdict of either report beside the other's (NaN where one has none)."""
    keys = ["kind", "variant", "moderator"]

    def read(folder: Path) -> pd.DataFrame:
        path = folder / "effects.csv"
        if not path.exists():
            return pd.DataFrame(columns=[*keys, "verdict"])
        effects = pd.read_csv(path)
        return effects[effects["metric"] == TEST][[*keys, "verdict"]]

    both = read(local_dir).merge(read(published_dir), on=keys, how="outer", suffixes=("_local", "_published"))
    both["same"] = both["verdict_local"] == both["verdict_published"]
    return both


def data_sentence(local: pd.DataFrame, published: pd.DataFrame) -> str:
    """Whether both trained on the same images (the runs' data fingerprints)."""
    mine, theirs = (set(runs.get(FINGERPRINT, pd.Series(dtype=str)).dropna()) for runs in (local, published))
    if not mine or not theirs:
        return "data: not recorded on both sides"
    if mine == theirs:
        return f"data: the same images (fingerprint {', '.join(sorted(mine))})"
    return (
        f"data: OTHER images (fingerprint {', '.join(sorted(mine))} here, {', '.join(sorted(theirs))} published): "
        "the numbers are not expected to match; train on the published study's data (its README says which)"
    )


def summary(cells: pd.DataFrame, verdict: pd.DataFrame, data: str) -> list[str]:
    """The comparison in a few lines: the cells that match, those that differ and by how much, the
    verdicts that differ."""
    counts = cells["agreement"].value_counts()
    compared = cells[cells["diff_pp"].notna()]
    line = f"cells: {len(compared)} trained on both sides; {counts.get('identical', 0)} identical"
    line += f", {counts.get('close', 0)} within {CLOSE_PP:g} pp, {counts.get('differs', 0)} further apart"
    if len(compared):
        worst = compared.loc[compared["diff_pp"].abs().idxmax()]
        line += (
            f"; mean |difference| {compared['diff_pp'].abs().mean():.2f} pp, largest {worst['diff_pp']:+.2f} pp "
            f"({worst['variant']} · {worst['moderator']} · seed {worst['seed']})"
        )
    lines = [data, line]
    for side in ("published only", "local only"):
        if counts.get(side, 0):
            lines.append(f"cells {side}: {counts[side]} (not trained on the other side yet)")
    judged = verdict.dropna(subset=["verdict_local", "verdict_published"])
    too_few = judged[["verdict_local", "verdict_published"]].eq(TOO_FEW).any(axis=1)
    judged = judged[~too_few]  # a side with too few seeds has no verdict to compare
    differ = judged[~judged["same"]]
    lines.append(
        f"verdicts: {len(judged) - len(differ)} of {len(judged)} the same"
        + (f" ({int(too_few.sum())} more need more seeds on one side)" if too_few.any() else "")
        + "".join(
            f"; {r.kind} of {r.variant} on {r.moderator}: '{r.verdict_local}' here, '{r.verdict_published}' published"
            for r in differ.itertuples()
        )
    )
    return lines


def document(cells: pd.DataFrame, verdict: pd.DataFrame, lines: list[str], command: str) -> Document:
    doc = Document()
    doc.h(1, "A retraining beside the published study")
    doc.p(
        f"Final test accuracy of every cell (variant, level, seed) the two reports analysed; "
        f"*identical*: the same accuracy; *close*: within {CLOSE_PP:g} pp, as a retraining on another CPU "
        f"gives. Produced by `{command}`."
    )
    doc.ul(lines)
    # means over the seeds both sides trained, so that a seed one side lacks does not move them
    paired = cells.assign(**{side: cells[side].where(cells["diff_pp"].notna()) for side in ("local", "published")})
    per_cell = paired.groupby(["variant", "moderator"], sort=False)
    doc.table(
        [
            "variant",
            "level",
            "seeds",
            "here, mean %",
            "published, mean %",
            "mean diff (pp)",
            "largest |diff| (pp)",
            "agreement",
        ],
        [
            (
                f"`{variant}`",
                moderator,
                int(group["diff_pp"].notna().sum()),
                _pct(group["local"].mean()),
                _pct(group["published"].mean()),
                _pp(group["diff_pp"].mean()),
                _pp(group["diff_pp"].abs().max(), sign=False),
                ", ".join(f"{n} {kind}" for kind, n in group["agreement"].value_counts().items()),
            )
            for (variant, moderator), group in per_cell
        ],
        align="llrrrrrl",
    )
    differ = verdict[~verdict["same"]]
    if len(differ):  # one side's verdict missing (NaN) differs too: a cell not trained there yet
        doc.h(2, "Verdicts that differ")
        doc.table(
            ["kind", "variant", "level(s)", "here", "published"],
            [
                (r.kind, f"`{r.variant}`", r.moderator, r.verdict_local, r.verdict_published)
                for r in differ.itertuples()
            ],
        )
    return doc


def _pct(x: float) -> str:
    return f"{x:.2f}" if np.isfinite(x) else "–"


def _pp(x: float, sign: bool = True) -> str:
    return (f"{x:+.2f}" if sign else f"{x:.2f}") if np.isfinite(x) else "–"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m prepbench.report.replication", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("local", type=Path, help="the retrained study's report folder, e.g. local/cpu")
    parser.add_argument("published", type=Path, help="the published study's report folder, e.g. results/cpu")
    args = parser.parse_args(argv)
    if not (args.published / "runs.csv").exists():
        print(f"{args.published} holds no published report: nothing to set the runs beside")
        return 0
    try:
        local, published = analysed_runs(args.local), analysed_runs(args.published)
    except PrepbenchError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    cells, verdict = side_by_side(local, published), verdicts(args.local, args.published)
    lines = summary(cells, verdict, data_sentence(local, published))
    command = f"python -m prepbench.report.replication {args.local} {args.published}"
    write_text(args.local / "replication.csv", cells.to_csv(index=False, float_format="%.4f"))
    write_text(args.local / "replication.md", document(cells, verdict, lines, command).markdown())
    print(f"{args.local} beside the published {args.published}:")
    print("\n".join(f"  {line}" for line in lines))
    print(f"  cell by cell: {args.local / 'replication.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
