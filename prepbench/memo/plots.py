"""The memo's figure helpers: display mappings, histograms, image panels, saving."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def show_signed(z: np.ndarray, clip_sigmas: float = 3.0) -> np.ndarray:
    """A signed float image for display: 0 -> mid grey, +-clip_sigmas std -> white/black per channel mix."""
    scale = clip_sigmas * float(z.std()) or 1.0
    return np.clip(0.5 + z / (2 * scale), 0, 1)


def show_memo_way(z: np.ndarray) -> np.ndarray:
    """The memo's display mapping: (d + ofs) / (2 ofs), ofs = max |d|."""
    ofs = float(np.abs(z).max()) or 1.0
    return (z + ofs) / (2 * ofs)


def histograms(ax, img: np.ndarray, bins, title, xlabel):
    for c, colour in enumerate(("red", "green", "blue")[: img.shape[-1]]):
        ax.hist(img[..., c].ravel(), bins=bins, histtype="step", color=colour, label="RGB"[c])
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("pixel count")
    ax.legend(fontsize=8)


def imshow(ax, img, title):
    ax.imshow(img, interpolation="nearest")
    ax.set_title(title, fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])


def save(fig, path: Path):
    fig.savefig(path, dpi=110, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
