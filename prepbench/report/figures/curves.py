"""Figure: validation accuracy per epoch, mean ± 1 SD over seeds, one panel per level."""

from __future__ import annotations

import pandas as pd

from prepbench.report.analysis import Analysis
from prepbench.report.figures import style


def draw(a: Analysis):
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    if not any(len(s) for s in a.curves.values()):
        return None
    levels = list(a.selection.moderators)
    fig, axes = plt.subplots(1, len(levels), figsize=(5.2 * len(levels), 4), squeeze=False, sharey=True)
    colors = style.colors(a.selection.variants)
    fin = a.cells[a.cells["status"] == "FINISHED"]
    for ax, m in zip(axes[0], levels):
        for v in a.selection.variants:
            rids = fin[(fin["variant"] == v) & (fin["moderator"] == m)]["run_id"]
            curves = [a.curves[r] for r in rids if r in a.curves and len(a.curves[r])]
            if not curves:
                continue
            frame = pd.concat(curves, axis=1)
            mean, sd = frame.mean(axis=1), frame.std(axis=1, ddof=1).fillna(0)
            ax.plot(frame.index, 100 * mean, color=colors[v], label=f"{v} (n={len(curves)})")
            ax.fill_between(frame.index, 100 * (mean - sd), 100 * (mean + sd), color=colors[v], alpha=0.15)
        if a.early:
            ax.axvline(a.early, color="grey", ls=":", lw=1)
        ax.set_title(m)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    axes[0][0].set_ylabel("validation accuracy (%)")
    fig.suptitle("Validation accuracy per epoch: mean ± 1 SD over seeds")
    return (
        fig,
        "curves",
        (
            "Validation accuracy per epoch, mean over seeds with a ±1 SD band"
            + (
                f"; the dotted line marks the early epoch ({a.early}) at which the early benefit is measured "
                f"({style.pct(a.level)} intervals elsewhere)."
                if a.early
                else "."
            )
        ),
    )
