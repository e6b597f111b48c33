"""Figure: each variant's benefit against the moderator's dose (depth, data size) on a log2 axis,
one line per variant, with the Holm-consistent intervals; drawn when the moderator is a dose."""

from __future__ import annotations

import numpy as np

from prepbench.report.analysis import TEST, Analysis, doses
from prepbench.report.figures import style


def draw(a: Analysis):
    import matplotlib.pyplot as plt

    x = doses(a.selection.moderators)
    trend = a.table(TEST, "trend")
    if x is None or trend.empty:
        return None
    table = a.table(TEST, "benefit")
    moderator = a.selection.spec.moderator
    fig, ax = plt.subplots(figsize=(7, 4.2))
    levels = list(x)
    for j, variant in enumerate(a.contrasts):
        sub = table[table["variant"] == variant].set_index("moderator").reindex(levels)
        xs = np.array([x[m] for m in levels]) + 0.04 * (j - (len(a.contrasts) - 1) / 2)
        slope = trend[trend["variant"] == variant].iloc[0]
        ax.errorbar(
            xs,
            100 * sub["mean"],
            yerr=style.errors(sub, "ci_low_holm", "ci_high_holm", 100),
            fmt=f"{style.MARKERS[j % 6]}-",
            capsize=3,
            color=f"C{j}",
            label=f"{variant} ({100 * slope['mean']:+.2f} pp per doubling)",
            ms=6,
        )
    ax.axhline(0, color="k", lw=0.8)
    ax.set_xticks([x[m] for m in levels], [str(m).rsplit("=", 1)[-1] for m in levels])
    ax.set_xlabel(f"{moderator} (log2 scale)")
    ax.set_ylabel(f"benefit over {a.selection.baseline} (pp)")
    ax.set_title("Benefit against the dose: mean and Holm-consistent interval per level")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return (
        fig,
        "trend",
        (
            f"Benefit of each variant over `{a.selection.baseline}` (same seed) at each level of `{moderator}`, "
            "with the interval its verdict uses; the legend gives each variant's slope per doubling, "
            "tested in the dose-response table."
        ),
    )
