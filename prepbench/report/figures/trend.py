"""Figure: each variant's benefit against the moderator's dose (depth, data size) on a log2 axis,
one line per variant, with the Holm-consistent intervals; drawn when the moderator is a dose."""

from __future__ import annotations

import numpy as np

from prepbench.report.analysis import TEST, Analysis
from prepbench.report.effects import doses
from prepbench.report.figures import style

# A variant whose benefits are this many times larger than the next one's gets its own panel: on a
# shared axis, scaling's +46 pp at depth 1 flattens every other variant's few points into one line.
PANEL_RATIO = 4.0


def panels(scales: dict[str, float]) -> list[list[str]]:
    """Variants grouped onto panels by the size of their benefits (largest |benefit| or interval end):
    one panel, or two where the larger group dwarfs the rest by PANEL_RATIO; each keeps its order."""
    ranked = sorted(scales, key=lambda v: -scales[v])
    for i in range(1, len(ranked)):
        if scales[ranked[i - 1]] > PANEL_RATIO * max(scales[ranked[i]], 1e-12):
            large = set(ranked[:i])
            return [[v for v in scales if v in large], [v for v in scales if v not in large]]
    return [list(scales)]


def draw(a: Analysis):
    import matplotlib.pyplot as plt

    x = doses(a.selection.moderators)
    trend = a.table(TEST, "trend")
    if x is None or trend.empty:
        return None
    table = a.table(TEST, "benefit")
    moderator = a.selection.spec.moderator
    levels = list(x)
    rows = {v: table[table["variant"] == v].set_index("moderator").reindex(levels) for v in a.contrasts}
    groups = panels(
        {
            v: float(np.nanmax(np.abs(sub[["mean", "ci_low_holm", "ci_high_holm"]].to_numpy())))
            for v, sub in rows.items()
        }
    )
    fig, axes = plt.subplots(1, len(groups), figsize=(7 * len(groups) ** 0.5, 4.2), squeeze=False)
    for ax, group in zip(axes[0], groups):
        for variant in group:
            j = list(a.contrasts).index(variant)
            sub = rows[variant]
            xs = np.array([x[m] for m in levels]) + 0.04 * (j - (len(a.contrasts) - 1) / 2)
            ran = sub["mean"].notna().to_numpy()  # a variant run at some levels only: one line through those
            xs, sub = xs[ran], sub[ran]
            slope = trend[trend["variant"] == variant].iloc[0]
            ax.errorbar(
                xs,
                100 * sub["mean"],
                yerr=style.errors(sub, "ci_low_holm", "ci_high_holm", 100),
                fmt=f"{style.MARKERS[j % 6]}-",
                capsize=3,
                color=f"C{j}",
                label=f"{variant} ({round(100 * slope['mean'], 2) + 0.0:+.2f} pp per doubling)",  # + 0.0: no "-0.00"
                ms=6,
            )
        ax.axhline(0, color="k", lw=0.8)
        ax.set_xticks([x[m] for m in levels], [str(m).rsplit("=", 1)[-1] for m in levels])
        ax.set_xlabel(f"{moderator} (log2 scale)")
        ax.set_ylabel(f"benefit over {a.selection.baseline} (pp)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle("Benefit against the dose: mean and Holm-consistent interval per level")
    split = (
        f" Variants whose benefits are over {PANEL_RATIO:g} times the others' are drawn on their own panel (own y axis)."
        if len(groups) > 1
        else ""
    )
    return (
        fig,
        "trend",
        (
            f"Benefit of each variant over `{a.selection.baseline}` (same seed) at each level of `{moderator}`, "
            "with the interval its verdict uses; the legend gives each variant's slope per doubling, "
            f"tested in the dose-response table.{split}"
        ),
    )
