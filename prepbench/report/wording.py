"""How the report words a number, an effect, a data set or a pair of levels: the small helpers every
section uses."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from prepbench.report import claims
from prepbench.report.analysis import TEST, Analysis
from prepbench.report.effects import TOO_FEW


def fin(x) -> bool:
    return x is not None and isinstance(x, (int, float, np.floating)) and np.isfinite(x)


def pct(x) -> str:
    return f"{100 * x:.2f}%" if fin(x) else "–"


def pp(x) -> str:
    return f"{100 * x:+.2f}" if fin(x) else "–"


def ci(lo, hi) -> str:
    return f"[{100 * lo:+.2f}, {100 * hi:+.2f}]" if fin(lo) and fin(hi) else "–"


def pval(x) -> str:
    return (f"{x:.3f}" if x >= 0.001 else f"{x:.1e}") if fin(x) else "–"


def lvl(x) -> str:
    return f"{100 * x:.4g}%" if fin(x) else "–"


def seeds_text(x) -> str:
    return "–" if not fin(x) and x != math.inf else ("> 100,000" if x == math.inf else f"{int(x)}")


def holm_effect(r) -> str:
    """An effect with the interval its verdict uses: mean [Holm-consistent interval] (level)."""
    if r is None:
        return "–"
    return f"{pp(r['mean'])} {ci(r['ci_low_holm'], r['ci_high_holm'])} ({lvl(r['level_holm'])})"


def effect_words(r) -> str:
    return "–" if r is None else f"{r['verdict']}: {holm_effect(r)}, n={int(r['n'])}"


def test_text(r) -> str:
    """The test an effect's p comes from; an interaction adds its sensitivity check."""
    corr = f", r = {r['corr']:+.2f} over {int(r['corr_n'])} seeds" if fin(r["corr"]) else ""
    text = f"{r['test']} (df {r['df']:.1f}{corr})" if fin(r["df"]) else f"{r['test']}{corr}"
    paired = r.get("p_paired", math.nan)
    return text + (f"; paired p {pval(paired)}" if fin(paired) else "")


def data_name(source: str, path: str) -> str:
    """How a report names its data; results on the shared JPEG re-encoding must say so."""
    if source == "cifar10":
        return "CIFAR-10 (official release)"
    if source == "folder" and Path(path).name == "cifar10-jpeg.zip":
        return (
            "**CIFAR-10 (JPEG q75 copy)**: re-encoded as JPEG, so accuracies are close to, not "
            "identical with, the official set's"
        )
    return {"synthetic": "synthetic images"}.get(source, "an image folder")


def contrast_of(a: Analysis, v: str) -> str:
    plus, minus = a.contrasts[v]
    name = f"{claims.REVERSED[v]}: " if plus != v and v in claims.REVERSED else ""
    return f"{name}`{plus}` − `{minus}`"


def dashboard_sentence(links: dict, markdown: bool = True) -> str:
    """How to browse the report's runs in MLflow: the command, then the two views it opens."""
    runs, compare = links["runs"], links["compare"]
    if not markdown:
        return (
            f"browse the runs: {links['command']}  (serves the store), then open\n"
            f"  runs table (prep, net, seed, test and validation accuracy, grouped by prep and net): {runs}\n"
            f"  comparison of the {links['jobs']} runs analysed: {compare}"
        )
    return (
        f"Browse these runs in MLflow: `{links['command']}` serves the store on this machine"
        f", then open the [runs table]({runs}) (prep, net, seed, test and validation accuracy, "
        f"grouped by prep and net) and the [comparison of the {links['jobs']} runs analysed]({compare})."
    )


def pair_sentence(a: Analysis, x: str, y: str) -> str:
    """One sentence per pair of levels: where the benefit is larger, where not, and how."""
    inter = a.table(TEST, "interaction")
    inter = inter[inter["moderator"] == f"{x} - {y}"]
    first = [f"`{r.variant}` ({r.verdict})" for r in inter.itertuples() if r.favours == x]
    second = [f"`{r.variant}` ({r.verdict})" for r in inter.itertuples() if r.favours == y]
    null = [f"`{r.variant}`" for r in inter.itertuples() if not r.favours and r.verdict != TOO_FEW]
    lacking = [f"`{r.variant}`" for r in inter.itertuples() if r.verdict == TOO_FEW]
    h = a.claims_apply and a.depth_moderator
    head = f"**{x} vs {y}, at family-wise {1 - a.level:g} (Holm):** "
    parts = [
        (f"H is supported for {', '.join(first)}" if first else "H is supported for no variant")
        if h
        else (f"larger benefit on `{x}` for {', '.join(first)}" if first else f"no variant benefits more on `{x}`")
    ]
    if second:
        parts.append(
            (f"contradicted (larger benefit on `{y}`) for " if h else f"larger benefit on `{y}` for ")
            + ", ".join(second)
        )
    if null:
        parts.append(
            f"undecided for {len(null)} of {len(inter)} variants, whose intervals include 0 ({', '.join(null)})"
        )
    if lacking:
        parts.append(f"untestable for {', '.join(lacking)}: not enough paired seeds (see Coverage)")
    return head + "; ".join(parts) + "."
