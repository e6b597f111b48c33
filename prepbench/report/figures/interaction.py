"""Figure: forest plot of the interactions (benefit on one level minus on another)."""

from __future__ import annotations

import numpy as np

from prepbench.report.analysis import Analysis
from prepbench.report.figures import style


def draw(a: Analysis):
    import matplotlib.pyplot as plt

    if not a.pairs or not a.contrasts:
        return None
    variants = list(a.contrasts)
    pairs = [f"{x} - {y}" for x, y in a.pairs]
    metrics = a.metrics[:2]
    labels = [(v, p) for v in variants for p in pairs]
    fig, axes = plt.subplots(
        1, len(metrics), squeeze=False, sharey=True, figsize=(5.5 * len(metrics), 0.5 * len(labels) + 1.8)
    )
    colors = style.colors(variants)
    y = np.arange(len(labels))[::-1]
    for ax, metric in zip(axes[0], metrics):
        sub = a.table(metric.name, "interaction").set_index(["variant", "moderator"])
        for yi, key in zip(y, labels):
            if key not in sub.index:
                continue
            r = sub.loc[key]
            if np.isfinite(r["ci_low_holm"]):
                ax.plot([100 * r["ci_low_holm"], 100 * r["ci_high_holm"]], [yi, yi], color=colors[key[0]], lw=2)
            ax.plot(100 * r["mean"], yi, "D", color=colors[key[0]], ms=7)
        if not sub["mean"].notna().any():
            ax.text(
                0.5,
                0.5,
                "no variant has its benefit on two levels",
                ha="center",
                va="center",
                transform=ax.transAxes,
                color="grey",
            )
        ax.axvline(0, color="k", lw=0.8)
        ax.set_xlabel("benefit on the first level minus on the second (pp)")
        ax.set_title(metric.title)
        ax.grid(axis="x", alpha=0.3)
    axes[0][0].set_yticks(y, [v if len(pairs) == 1 else f"{v}: {p}" for v, p in labels])
    axes[0][0].set_ylim(-0.6, len(labels) - 0.4)
    fig.suptitle(
        f"Interaction ({pairs[0] if len(pairs) == 1 else 'per pair'}): mean and Holm-consistent "
        "interval; right of 0 = larger benefit on the first level",
        fontsize=10,
    )
    return (
        fig,
        "interaction",
        (
            f"Forest plot of the interaction per variant ({' / '.join(pairs)}): mean and the interval at the "
            "Holm-consistent level of its table. Right of zero: the variant's benefit is larger on the first "
            "level of the pair."
        ),
    )
