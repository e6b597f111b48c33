"""The memo's sections, one module each (their order is the driver's, prepbench.memo.__main__).
Each has TITLE (for the timings) and `section(memo) -> Section`: its markdown, the figures it wrote
and the numbers it measured. This package's own module holds only what they share."""

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
