"""Figure: test accuracy per variant and moderator level, mean and interval, seeds as dots."""

from __future__ import annotations

import numpy as np

from prepbench.report.analysis import Analysis
from prepbench.report.effects import series
from prepbench.report.figures import style


def draw(a: Analysis):
    import matplotlib.pyplot as plt

    sel, s = a.selection, a.summary
    variants, levels = list(sel.variants), list(sel.moderators)
    fig, ax = plt.subplots(figsize=(max(6, 1.0 * len(variants) + 2), 4))
    x = np.arange(len(variants))
    for j, m in enumerate(levels):
        sub = s[s["moderator"] == m].set_index("variant").reindex(variants)
        xs = x + style.offset(j, len(levels))
        ax.errorbar(
            xs,
            100 * sub["mean"],
            yerr=style.errors(sub, "ci_low", "ci_high", 100),
            fmt=style.MARKERS[j % 6],
            capsize=4,
            color=f"C{j}",
            label=m,
            ms=7,
        )
        for i, v in enumerate(variants):
            vals = 100 * series(a.cells, "test_accuracy", v, m).to_numpy()
            ax.scatter(
                np.full(len(vals), xs[i] + style.width(len(levels)) * 0.25), vals, s=10, color=f"C{j}", alpha=0.4
            )
    ax.set_xticks(x, variants, rotation=20 if max(map(len, variants)) > 10 else 0)
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(f"Test accuracy: mean and {style.pct(a.level)} CI over seeds (dots: seeds)")
    ax.legend(title=sel.spec.moderator)
    ax.grid(axis="y", alpha=0.3)
    return (
        fig,
        "accuracy",
        (
            f"Test accuracy per variant and {sel.spec.moderator}: mean with "
            f"{style.pct(a.level)} t interval over seeds, clipped to [0, 100]; "
            "small dots are individual seeds."
        ),
    )
