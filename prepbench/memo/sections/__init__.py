"""The memo's sections, one module each, in the memo's order. Each has TITLE (for the timings)
and `section(memo) -> Section`: its markdown, the figures it wrote and the numbers it measured."""

from __future__ import annotations

from dataclasses import dataclass, field

from prepbench.document import Document


@dataclass
class Section:
    doc: Document  # the section's part of memo.md
    numbers: dict  # its entries of memo.json, in order
    figures: list[str]  # the files it wrote under figures/
    kept: dict = field(default_factory=dict)  # objects later sections use (not written)


def fmt(v: float) -> str:
    return f"{v:.4g}"


def order():
    """The section modules in the memo's order."""
    from prepbench.memo.sections import (
        augmentation,
        batchnorm,
        keras3,
        minmax,
        samplewise,
        zca_correlations,
        zca_epsilon,
        zca_single,
        zca_spectrum,
    )

    return (
        minmax,
        samplewise,
        zca_single,
        zca_correlations,
        zca_epsilon,
        zca_spectrum,
        augmentation,
        batchnorm,
        keras3,
    )
