"""Section 5: the effect of `zca_epsilon`: the gain per principal direction, and what it does to
held-out images (uses section 4's fit for the default epsilon)."""

from __future__ import annotations

import numpy as np

from prepbench.document import Document
from prepbench.memo.compute import EPSILONS, fit_zca_on, pixel_correlations, resize, zca_epsilon_effect
from prepbench.memo.inputs import Memo
from prepbench.memo.plots import imshow, save, show_signed
from prepbench.memo.sections import Section
from prepbench.memo.sections.zca_correlations import KEYS

TITLE = "5 zca epsilon"
FIGURES = ("5_zca_epsilon.png", "5_zca_epsilon_gain.png")


def section(m: Memo) -> Section:
    fitted = {EPSILONS[0]: m.kept["zca"]}
    for eps in EPSILONS[1:]:
        fitted[eps] = fit_zca_on(m.x_train, eps, m.splits.fingerprint, m.cfg.cache_dir)[0]
    effect = zca_epsilon_effect(fitted, m.x_train, m.x_heldout)
    heldout_corr = {eps: pixel_correlations(fitted[eps].transform(m.x_heldout)) for eps in EPSILONS}
    # Gain = the factor each principal direction is multiplied by; sorted ascending = variance descending.
    gains = {eps: np.sort(fitted[eps].scales_) for eps in EPSILONS}
    base = gains[EPSILONS[0]]
    numbers = {
        "zca_eps_values": list(EPSILONS),
        "zca_eps_train_std": {f"{e:g}": effect[e]["train_std"] for e in EPSILONS},
        "zca_eps_heldout_std": {f"{e:g}": effect[e]["heldout_std"] for e in EPSILONS},
        "zca_eps_heldout_corr": {f"{e:g}": {key: heldout_corr[e][key] for key in KEYS} for e in EPSILONS},
        "zca_eps_max_gain": {f"{e:g}": float(gains[e].max()) for e in EPSILONS},
        "zca_eps_directions_damped_2x": {f"{e:g}": int(np.sum(gains[e] < base / 2)) for e in EPSILONS},
        "zca_gain_ratio_max_to_min_default": float(base.max() / base.min()),
    }
    outputs_figure(m, fitted)
    gain_figure(m, gains)
    return Section(document(m, numbers, gains, effect, heldout_corr), numbers, list(FIGURES))


def outputs_figure(m: Memo, fitted: dict) -> None:
    import matplotlib.pyplot as plt

    h = m.x_train.shape[1]
    examples = [m.demo if m.demo.shape == m.x_train.shape[1:] else resize(m.demo, h), m.x_heldout[1], m.x_heldout[2]]
    fig, axes = plt.subplots(len(examples), 1 + len(EPSILONS), figsize=(3 * (1 + len(EPSILONS)), 3.1 * len(examples)))
    for r, img in enumerate(examples):
        imshow(axes[r, 0], img, "held-out input" + (" (the demo image)" if r == 0 else ""))
        for j, eps in enumerate(EPSILONS):
            z = fitted[eps].transform(img[None])[0]
            imshow(axes[r, j + 1], show_signed(z), f"zca_epsilon = {eps:g}\noutput std {z.std():.3g}")
    fig.suptitle("ZCA output for three values of zca_epsilon (grey = 0, white/black = ±3 std of each output)")
    save(fig, m.figs / FIGURES[0])


def gain_figure(m: Memo, gains: dict) -> None:
    import matplotlib.pyplot as plt

    base = gains[EPSILONS[0]]
    fig, ax = plt.subplots(figsize=(8, 4.5))
    rank = np.arange(1, len(base) + 1)
    for eps in EPSILONS:
        ax.plot(rank, gains[eps], label=f"zca_epsilon = {eps:g}")
    ax.set_yscale("log")
    ax.set_xlabel(f"principal direction, from most to least variance (1..{len(base)})")
    ax.set_ylabel("gain: factor applied by W")
    ax.set_title(f"ZCA gain per principal direction, fitted on {len(m.x_train):,} training images")
    ax.legend()
    ax.grid(alpha=0.3)
    save(fig, m.figs / FIGURES[1])


def document(m: Memo, numbers: dict, gains: dict, effect: dict, heldout_corr: dict) -> Document:
    n_fit, directions = len(m.x_train), len(gains[EPSILONS[0]])
    e0, e1, e2 = EPSILONS
    damped = numbers["zca_eps_directions_damped_2x"]
    doc = Document()
    doc.h(2, "5. The effect of `zca_epsilon`")
    doc.p(
        "**Context**: Keras 3's `ImageDataGenerator` (and prepbench, same formula) whitens with W = U diag(sqrt(n) / "
        "(s + eps)) Uᵀ, where s are the singular values of the centred n x D training matrix and eps = `zca_epsilon`, "
        "default 1e-6 (Keras 2, which the memo ran, added eps to the covariance's eigenvalues instead: "
        "1/sqrt(eigenvalue + eps)). Equivalently, eps/sqrt(n) is added to the square root of each eigenvalue of the "
        f"covariance (with n = {n_fit:,}: {e0 / np.sqrt(n_fit):.2g}, {e1 / np.sqrt(n_fit):.2g} and "
        f"{e2 / np.sqrt(n_fit):.2g}), and each principal direction is multiplied by the gain "
        "1/(sqrt(eigenvalue) + eps/sqrt(n)). Directions with almost no variance in the training images (the finest, "
        "pixel-level detail) get the largest gains."
    )
    header = [
        "zca_epsilon",
        "largest gain",
        "directions damped ≥2x vs 1e-6",
        "output std, training",
        "output std, held-out",
        "held-out corr. neighbours / channels",
    ]
    rows = [
        [
            f"{e:g}",
            f"{gains[e].max():.0f}",
            f"{damped[f'{e:g}']} of {directions}",
            f"{effect[e]['train_std']:.3f}",
            f"{effect[e]['heldout_std']:.3f}",
            f"{heldout_corr[e]['neighbour_pixels']:.3f} / {heldout_corr[e]['channels']:.3f}",
        ]
        for e in EPSILONS
    ]
    doc.table(header, rows)
    doc.img(f"figures/{FIGURES[0]}", "epsilon", caption=False)
    doc.img(f"figures/{FIGURES[1]}", "gain", caption=False)
    doc.p(meaning(numbers, heldout_corr, n_fit, effect))
    return doc


def meaning(numbers: dict, heldout_corr: dict, n_fit: int, effect: dict) -> str:
    e0, e1, e2 = EPSILONS
    hs, damped = numbers["zca_eps_heldout_std"], numbers["zca_eps_directions_damped_2x"]
    return (
        f"**What it means**: with the default eps the gains span a factor "
        f"{numbers['zca_gain_ratio_max_to_min_default']:.0f} between the strongest and the weakest direction. "
        f"Training images come out with std {effect[e0]['train_std']:.2f} (that is what whitening means), but "
        f"held-out images with std {hs[f'{e0:g}']:.2f}: directions that happened to have tiny variance in this "
        "training sample carry more in new images and are blown up, so the whitened pictures are dominated by "
        f"pixel-level noise with the edges faintly visible. eps = {e1:g} is practically the same as the default (it "
        f"adds {e1 / np.sqrt(n_fit):.1g} to square roots of eigenvalues that are mostly far larger); eps = {e2:g} "
        f"damps {damped[f'{e2:g}']} directions at least 2x, lowers the held-out std to {hs[f'{e2:g}']:.2f}, brings "
        f"the held-out correlations of neighbours and channels from {heldout_corr[e0]['neighbour_pixels']:.2f} / "
        f"{heldout_corr[e0]['channels']:.2f} to {heldout_corr[e2]['neighbour_pixels']:.2f} / "
        f"{heldout_corr[e2]['channels']:.2f}, and makes the edges stand out more from the noise. "
        "So in Keras' convention (eps added to singular values of the n x D matrix) a useful eps is much larger "
        "than the default, and it grows with sqrt(n); it is a setting to sweep, not a constant."
    )
