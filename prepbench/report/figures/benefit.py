"""Figure: each variant's benefit over the baseline per moderator level, one panel per metric,
with the Holm-consistent intervals the verdicts use."""

from __future__ import annotations

import numpy as np

from prepbench.report.analysis import Analysis
from prepbench.report.figures import style


def draw(a: Analysis):
    import matplotlib.pyplot as plt

    variants = list(a.contrasts)
    if not variants:
        return None
    levels = list(a.selection.moderators)
    metrics = a.metrics[:2]
    fig, axes = plt.subplots(
        1, len(metrics), squeeze=False, figsize=(max(6, 0.9 * len(variants) + 2) * len(metrics) * 0.8, 4)
    )
    xv = np.arange(len(variants))
    names = [f"{v}\n({a.contrasts[v][0]} − {a.contrasts[v][1]})" if a.contrasts[v][0] != v else v for v in variants]
    for ax, metric in zip(axes[0], metrics):
        table = a.table(metric.name, "benefit")
        for j, m in enumerate(levels):
            sub = table[table["moderator"] == m].set_index("variant").reindex(variants)
            ax.errorbar(
                xv + style.offset(j, len(levels)),
                100 * sub["mean"],
                yerr=style.errors(sub, "ci_low_holm", "ci_high_holm", 100),
                fmt=style.MARKERS[j % 6],
                capsize=4,
                color=f"C{j}",
                label=m,
                ms=7,
            )
        if not table["mean"].notna().any():
            ax.text(
                0.5,
                0.5,
                f"no variant has a paired `{a.selection.baseline}` run:\nsee Coverage in the report",
                ha="center",
                va="center",
                transform=ax.transAxes,
                color="grey",
            )
        ax.axhline(0, color="k", lw=0.8)
        ax.set_xticks(xv, names, fontsize=8)
        ax.set_ylabel("benefit (percentage points)")
        ax.set_title(metric.title)
        ax.grid(axis="y", alpha=0.3)
        ax.legend(title=a.selection.spec.moderator)
    fig.suptitle(f"Benefit over {a.selection.baseline}, paired by seed: mean and Holm-consistent interval")
    return (
        fig,
        "benefit",
        (
            f"Benefit of each variant over `{a.selection.baseline}` (same seed, same "
            f"{a.selection.spec.moderator}), in percentage points: mean and the interval at the Holm-consistent "
            f"level of its table (it excludes 0 exactly when the verdict names a direction); panels: "
            + ", ".join(m.title for m in metrics)
            + "."
        ),
    )
