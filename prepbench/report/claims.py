"""What the report knows about the memo's variants: the hypothesis, the claims, the order in which
variants are listed, and which contrast tests a claim (C3 is about *scaling*: none minus raw).

Until a registry of variants exists, this is the report's only variant-specific knowledge."""

from __future__ import annotations

HYPOTHESIS = "Preprocessing helps shallow networks more than deep ones."
CLAIMS = [
    (
        "C1",
        "augment, crop",
        "Data augmentation may raise accuracy when data is scarce (augment: the memo's rotation ±20°, "
        "shifts ±20%, horizontal flip; crop: the standard CIFAR policy of He et al. 2016, "
        "4-pixel padding, random 32x32 crop, horizontal flip).",
    ),
    (
        "C2",
        "minmax",
        "Per-image min-max normalization may raise accuracy; effective for shallow "
        "networks, deep networks often overcome it.",
    ),
    (
        "C3",
        "raw",
        "Scaling 0–255 integers to 0–1 floats has no effect on accuracy at all "
        "(tested as the benefit of scaling: none = x/255 minus raw 0–255 input).",
    ),
    (
        "C4",
        "samplewise, std",
        "Standardization (per image: samplewise; per channel over the "
        "training set: std/featurewise) brings out features.",
    ),
    (
        "C5",
        "zca, zca_reg",
        "ZCA whitening (standardization plus decorrelation) helps (zca: the memo's "
        "ε = 1e-6; zca_reg: IDG's ε = 0.1, still unregularized on CIFAR-10; s: the literature's "
        "shrinkage, s · mean eigenvalue added to every eigenvalue).",
    ),
    ("C6", "batchnorm", "Batch normalization makes learning more efficient."),
]
PREP_CLAIM = {
    "augment": "C1",
    "crop": "C1",
    "minmax": "C2",
    "raw": "C3",
    "samplewise": "C4",
    "std": "C4",
    "featurewise": "C4",
    "zca": "C5",
    "zca_reg": "C5",
    "batchnorm": "C6",
}


def claim_of(variant: str) -> str:
    """The claim a report row tests: its prep's (`zca (ε=0.1)` is zca with another ε: C5), or ""."""
    return PREP_CLAIM.get(variant.split(" (", 1)[0], "")


REVERSED = {"raw": "scaling"}
"""Variants whose claim is about the baseline's own step: their effect is reported as baseline
minus variant (the benefit of scaling to [0, 1] is none − raw), named by the value here."""

SYMBOLS = {
    "prep.zca_epsilon": "ε",
    "prep.zca_shrinkage": "s",
    "prep.zca_retain": "keep",
    "prep.zca_fit_images": "fit on",
    "prep.gcn": "GCN",
    "prep.batchnorm_momentum": "momentum",
}
"""Short names of settings in row labels: `zca (ε=0.1)`."""

DEPTH_MODERATORS = ("net", "net.depth")
"""Moderators that order networks from shallow to deep: the hypothesis H is read for them."""

SCARCITY_MODERATOR = "data.train_size"
"""C1 says augmentation helps when data is scarce: along this moderator its benefit should fall."""


def applies(treatment: str, baseline: str) -> bool:
    """The memo's claims and reversed contrasts apply to the default factor only."""
    return treatment == "prep" and baseline == "none"
