"""What the figures share: markers per moderator level, offsets, and level names."""

from __future__ import annotations

import numpy as np

MARKERS = ["o", "s", "^", "D", "v", "P"]


def width(n_levels: int) -> float:
    return 0.7 / max(n_levels, 1)


def offset(j: int, n_levels: int) -> float:
    """x offset of the j-th moderator level inside a variant's slot."""
    return (j - (n_levels - 1) / 2) * width(n_levels)


def pct(level: float) -> str:
    return f"{level * 100:g}%"


def errors(sub, low: str, high: str, scale: float = 1.0) -> np.ndarray:
    """Asymmetric error bars (mean - low, high - mean), NaN as 0."""
    return scale * np.nan_to_num(np.vstack([sub["mean"] - sub[low], sub[high] - sub["mean"]]))


def colors(labels) -> dict:
    import matplotlib

    cmap = matplotlib.colormaps["tab10"]
    return {lab: cmap(i % 10) for i, lab in enumerate(labels)}
