"""Section 5b: the spectrum ZCA's epsilon acts on: the training covariance's eigenvalues, where each
ZCA setting starts to damp them, what that does to held-out images, and why the JPEG copy has so
many directions of almost no variance (4:2:0 chroma subsampling)."""

from __future__ import annotations

import numpy as np

from prepbench.document import Document
from prepbench.memo.compute import (
    SHRINKAGES,
    SPECTRUM_FLOORS,
    chroma_detail,
    covariance_spectrum,
    damping_threshold,
)
from prepbench.memo.inputs import Memo
from prepbench.memo.plots import save
from prepbench.memo.sections import Section, fmt
from prepbench.prep.preprocessor import fit_cached
from prepbench.variants import build

TITLE = "5b zca spectrum"
FIGURES = ("5b_zca_spectrum.png",)
RETAIN = 0.99  # the truncated row of the study (experiments/converged-zca.yaml)


def settings() -> list[tuple[str, dict]]:
    """(label, build() settings): the memo's ZCA, zca_reg, and the pilot's shrinkages."""
    rows = [("zca (the memo's, ε = 1e-6)", {}), ("zca_reg (IDG's ε = 0.1)", {"zca_epsilon": 0.1})]
    rows += [(f"zca, s = {s:g}", {"zca_shrinkage": s}) for s in SHRINKAGES]
    return rows + [(f"zca, {RETAIN:.0%} of the variance kept", {"zca_retain": RETAIN})]


def section(m: Memo) -> Section:
    eigvals = covariance_spectrum(m.x_train)
    n = len(m.x_train)
    rows = []
    for label, chosen in settings():
        p = build("zca", **chosen)
        fit_cached(p, m.x_train, m.splits.fingerprint, m.cfg.cache_dir)
        threshold = damping_threshold(eigvals, n, epsilon=p.zca_epsilon, shrinkage=chosen.get("zca_shrinkage", 0.0))
        rows.append(
            dict(
                setting=label,
                threshold=threshold,
                damped=int((eigvals < threshold).sum()),
                kept=int(p.components_.shape[1]),
                train_std=float(p.transform(m.x_train[:1000]).std()),
                heldout_std=float(p.transform(m.x_heldout).std()),
            )
        )
    chroma = chroma_detail(m.x_train)
    numbers = {
        "spectrum_n": n,
        "spectrum_D": int(eigvals.size),
        "spectrum_mean": float(eigvals.mean()),
        "spectrum_max": float(eigvals.max()),
        "spectrum_below": {f"{f:g}": int((eigvals < f).sum()) for f in SPECTRUM_FLOORS},
        "spectrum_settings": rows,
        "chroma_detail_share": chroma,
    }
    figure(m, eigvals, rows)
    return Section(document(m, numbers), numbers, list(FIGURES))


def figure(m: Memo, eigvals: np.ndarray, rows: list[dict]) -> None:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8.5, 4.8))
    rank = np.arange(1, eigvals.size + 1)
    ax.plot(rank, np.clip(eigvals, 1e-12, None), color="black", label="eigenvalues of the training covariance")
    colours = plt.cm.viridis(np.linspace(0, 0.9, len(rows)))
    bottom = float(eigvals[eigvals > 0].min()) / 10
    for row, colour in zip(rows, colours):
        if row["kept"] < eigvals.size:
            continue
        label = f"damps below: {row['setting']}"
        if row["threshold"] > bottom:
            ax.axhline(row["threshold"], color=colour, linestyle="--", linewidth=1, label=label)
        else:  # the memo's threshold is ~1e-16: drawn, it would flatten the spectrum
            ax.plot([], [], color=colour, linestyle="--", label=f"{label} ({fmt(row['threshold'])}, off the plot)")
    kept = next(r["kept"] for r in rows if r["kept"] < eigvals.size)
    ax.axvline(kept, color="grey", linestyle=":", label=f"{RETAIN:.0%} of the variance: the first {kept}")
    ax.axvline(eigvals.size / 2, color="tab:red", linestyle=":", label="D/2: 4:2:0 leaves no chroma detail beyond")
    ax.set_yscale("log")
    ax.set_ylim(bottom=bottom)
    ax.set_xlabel(f"principal direction, from most to least variance (1..{eigvals.size})")
    ax.set_ylabel("variance (pixels in [0, 1])")
    ax.set_title(f"Where each ZCA setting damps: {len(m.x_train):,} training images, {m.label}")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper right")
    save(fig, m.figs / FIGURES[0])


def document(m: Memo, numbers: dict) -> Document:
    n, d = numbers["spectrum_n"], numbers["spectrum_D"]
    below = numbers["spectrum_below"]
    chroma = numbers["chroma_detail_share"]
    doc = Document()
    doc.h(2, "5b. The spectrum that ZCA's ε acts on")
    doc.p(
        f"**Measured** on {n:,} training images of {m.label} (pixels in [0, 1], per-channel centred), D = {d}: "
        f"mean eigenvalue {fmt(numbers['spectrum_mean'])}, largest {fmt(numbers['spectrum_max'])}; "
        + ", ".join(f"{below[f'{f:g}']} below {f:g}" for f in SPECTRUM_FLOORS)
        + ". IDG's ε (the memo's) is added to sqrt(λ) as ε / sqrt(n), so it damps a direction only where "
        "λ < ε² / n; the literature's shrinkage s adds s · mean(λ) to every λ (conf/prep/zca.yaml), "
        "whatever the data's scale. A setting damps a direction's gain at least 2x where λ is below its threshold:"
    )
    doc.table(
        [
            "setting",
            "damps below λ =",
            "directions damped",
            "components",
            "output std, training",
            "output std, held-out",
        ],
        [
            [
                r["setting"],
                fmt(r["threshold"]),
                f"{r['damped']} of {d}",
                r["kept"],
                f"{r['train_std']:.3f}",
                f"{r['heldout_std']:.3f}",
            ]
            for r in numbers["spectrum_settings"]
        ],
        align="lrrrrr",
    )
    doc.img(f"figures/{FIGURES[0]}", "spectrum", caption=False)
    doc.p(
        "**Why so many tiny directions**: a JPEG stores colour (Cb, Cr) at half resolution when it uses 4:2:0 "
        "chroma subsampling, the usual setting and the one of the shared copy; decoding interpolates the missing "
        "chroma values from their neighbours. So about half of the 2,048 chroma values of a 32x32 image carry no "
        "information of their own, and their directions hold little but compression and rounding noise. Measured "
        "here, the share of each channel's variance in detail finer than 2x2 blocks: "
        f"Y {chroma['Y']:.1%}, Cb {chroma['Cb']:.1%}, Cr {chroma['Cr']:.1%}. Whitening that does not damp them "
        "scales that noise up to the variance of the real structure, and a network can memorize it; "
        "`tests/test_memo.py` checks on synthetic images that subsampled chroma leaves H·W/2 directions empty."
    )
    return doc
