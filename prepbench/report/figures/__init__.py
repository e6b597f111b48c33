"""The report's figures, one module per figure; each `draw(analysis)` returns (figure, file
stem, caption) or None when there is nothing to draw."""

from __future__ import annotations

from pathlib import Path

from prepbench.io import atomic_write
from prepbench.report.analysis import Analysis


def draw_all(a: Analysis, figdir: Path) -> list[tuple[str, str]]:
    """Writes every figure as figdir/NAME.png; returns [(path relative to the report, caption)]."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from prepbench.report.figures import accuracy, benefit, curves, interaction, trend

    figdir.mkdir(parents=True, exist_ok=True)
    out = []
    for module in (accuracy, benefit, interaction, trend, curves):
        drawn = module.draw(a)
        if drawn is None:
            continue
        fig, name, caption = drawn
        path = figdir / f"{name}.png"
        fig.tight_layout()
        with atomic_write(path, "wb") as f:
            fig.savefig(f, format="png", dpi=110)
        plt.close(fig)
        out.append((f"figures/{path.name}", caption))
    return out
