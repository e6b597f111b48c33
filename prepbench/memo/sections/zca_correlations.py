"""Section 4: what ZCA decorrelates (the memo's open question): every pair of pixel values, shown
as correlation maps and as the whitening filters (rows of W)."""

from __future__ import annotations

import numpy as np

from prepbench.document import Document
from prepbench.memo.compute import EPSILONS, correlation_map, fit_zca_on, pixel_correlations, whitening_rows
from prepbench.memo.inputs import Memo
from prepbench.memo.plots import imshow, save
from prepbench.memo.sections import Section
from prepbench.variants import build

TITLE = "4 zca correlations"
FIGURES = ("4_zca_correlations.png", "4_zca_filters.png")
KEYS = ("neighbour_pixels", "distant_pixels", "channels")


def section(m: Memo) -> Section:
    h, w, c = m.x_train.shape[1:]
    p_zca, fit_seconds, from_cache = fit_zca_on(m.x_train, EPSILONS[0], m.splits.fingerprint, m.cfg.cache_dir)
    before_train = build("none").transform(m.x_train)
    after_train = p_zca.transform(m.x_train)
    cb, ca, ch = (pixel_correlations(z) for z in (before_train, after_train, p_zca.transform(m.x_heldout)))
    numbers = {
        "corr_before": {key: cb[key] for key in KEYS},
        "corr_after": {key: ca[key] for key in KEYS},
        "corr_after_heldout": {key: ch[key] for key in KEYS},
        "corr_D": h * w * c,
        "zca_fit_seconds": fit_seconds,
        "zca_fit_loaded_from_cache": from_cache,
    }
    correlations_figure(m, before_train, after_train, (cb, ca, ch))
    rows = whitening_rows(p_zca, filter_picks(h, w), (h, w, c))
    filters_figure(m, rows)
    numbers.update(filter_numbers(rows, h, w))
    doc = document(m, numbers, (cb, ca, ch))
    return Section(doc, numbers, list(FIGURES), kept={"zca": p_zca})


def filter_picks(h: int, w: int) -> list[tuple[int, int, int]]:
    """The pixel values (row, column, channel) whose filters are shown: R, G, B at the centre, R at a quarter."""
    return [(h // 2, w // 2, 0), (h // 2, w // 2, 1), (h // 2, w // 2, 2), (h // 4, w // 4, 0)]


def filter_numbers(rows: np.ndarray, h: int, w: int) -> dict:
    """The centre-R filter's weights: on itself, its four neighbours, G and B of its pixel; energy within 2 px."""
    r0, c0 = h // 2, w // 2
    first = rows[0]
    neighbours = [first[r0 + dr, c0 + dc, 0] for dr, dc in ((0, 1), (0, -1), (1, 0), (-1, 0))]
    return {
        "zca_filter_centre_weight": float(first[r0, c0, 0]),
        "zca_filter_neighbour_weight_mean": float(np.mean(neighbours)),
        "zca_filter_centre_weight_on_G": float(first[r0, c0, 1]),
        "zca_filter_centre_weight_on_B": float(first[r0, c0, 2]),
        "zca_filter_energy_within_2px": float((first[r0 - 2 : r0 + 3, c0 - 2 : c0 + 3] ** 2).sum() / (first**2).sum()),
    }


def correlations_figure(m: Memo, before_train, after_train, profiles) -> None:
    import matplotlib.pyplot as plt

    n, h, w, c = m.x_train.shape
    centre = (h // 2, w // 2, 0)
    fig = plt.figure(figsize=(15, 7))
    grid = fig.add_gridspec(2, 4, width_ratios=[1, 1, 1, 1.6], wspace=0.3, hspace=0.35)
    for row, (z, what) in enumerate(((before_train, "before ZCA"), (after_train, "after ZCA"))):
        cmap = correlation_map(z, centre)
        for ch_i, ch_name in enumerate("RGB"):
            ax = fig.add_subplot(grid[row, ch_i])
            im = ax.imshow(cmap[..., ch_i], cmap="RdBu_r", vmin=-1, vmax=1, interpolation="nearest")
            ax.plot(centre[1], centre[0], "s", ms=9, mfc="none", mec="black", mew=1)
            ax.set_title(f"{what}:\nR at the square vs {ch_name} at each pixel", fontsize=9)
            ax.set_xlabel("column")
            ax.set_ylabel("row")
    fig.colorbar(im, ax=fig.axes[:6], shrink=0.8, label="correlation across training images")
    ax = fig.add_subplot(grid[:, 3])
    dist = np.arange(1, w)
    labels = ("before ZCA (training images)", "after ZCA (training images)", "after ZCA (held-out test images)")
    for corr, style, label in zip(profiles, ("o-", "s-", "^-"), labels):
        ax.plot(dist, corr["profile"], style, label=label)
    ax.axhline(0, color="grey", lw=0.8)
    ax.set_xlabel(f"horizontal distance between the two pixels (pixels; {w}-d pairs per row)")
    ax.set_ylabel("mean correlation, same channel")
    ax.set_title("correlation vs distance")
    ax.legend(fontsize=8)
    fig.suptitle(
        f"What ZCA decorrelates: every pair of the D = {h * w * c} pixel values, over {n} training images of {m.label}"
    )
    save(fig, m.figs / FIGURES[0])


def filters_figure(m: Memo, rows: np.ndarray) -> None:
    """Top: the four filters as RGB composites around their pixel; bottom: the first, per channel, and along its row."""
    import matplotlib.pyplot as plt

    h, w = m.x_train.shape[1:3]
    fig, axes = plt.subplots(2, 4, figsize=(13, 7.2))
    zoom = max(1, min(4, h // 4, w // 4))  # a (2 zoom + 1)^2 window; the weights beyond are ~0
    side = 2 * zoom + 1
    for i, (pick, row_w) in enumerate(zip(filter_picks(h, w), rows)):
        window = row_w[pick[0] - zoom : pick[0] + zoom + 1, pick[1] - zoom : pick[1] + zoom + 1]
        surround = window.copy()
        surround[zoom, zoom, pick[2]] = 0
        scale = np.abs(surround).max()  # the own-value weight saturates; the rest stays readable
        imshow(
            axes[0, i],
            np.clip(0.5 + window / (2 * scale), 0, 1),
            f"output {'RGB'[pick[2]]} at ({pick[0]},{pick[1]})\n{side}x{side} window around it",
        )
    r0, c0 = h // 2, w // 2
    crop = rows[0][r0 - zoom : r0 + zoom + 1, c0 - zoom : c0 + zoom + 1]
    lim = np.abs(crop).max()
    for ch_i, ch_name in enumerate("RGB"):
        ax = axes[1, ch_i]
        im = ax.imshow(crop[..., ch_i], cmap="RdBu_r", vmin=-lim, vmax=lim, interpolation="nearest")
        ax.set_title(f"output R at ({r0},{c0}):\nweights on input {ch_name}", fontsize=9)
        ax.set_xticks(range(0, 2 * zoom + 1, 2), range(c0 - zoom, c0 + zoom + 1, 2))
        ax.set_yticks(range(0, 2 * zoom + 1, 2), range(r0 - zoom, r0 + zoom + 1, 2))
        ax.set_xlabel("column")
        ax.set_ylabel("row")
    fig.colorbar(im, ax=axes[1, :3], shrink=0.8, label="weight")
    ax = axes[1, 3]
    ax.plot(np.arange(w), rows[0][r0, :, 0], "o-", color="red", ms=3)
    ax.axhline(0, color="grey", lw=0.8)
    ax.set_xlabel(f"column (row {r0})")
    ax.set_ylabel("R weight")
    ax.set_title(f"output R at ({r0},{c0}):\nweights on input R along row {r0}", fontsize=9)
    fig.suptitle(
        "ZCA whitening filters = rows of W: each output value is this weighted sum of the input values\n"
        "top: RGB composites, grey = 0, the weight on the value itself clipped; bottom: the first filter per "
        "channel",
        fontsize=11,
    )
    save(fig, m.figs / FIGURES[1])


def document(m: Memo, numbers: dict, correlations) -> Document:
    cb, ca, ch = correlations
    n, h, w, c = m.x_train.shape
    d = h * w * c
    fit_seconds = numbers["zca_fit_seconds"]
    doc = Document()
    doc.h(2, "4. What ZCA decorrelates (the memo's open question)")
    doc.p(
        '**The memo** asked: "what is it that becomes uncorrelated? It looks like the correlation between R, G and '
        'B, but is that so?"'
    )
    doc.p(
        f"**Measured** on {n:,} training images of {m.label}, D = {h}x{w}x{c} = {d} values per image; "
        "ZCA fitted by prepbench with eps 1e-6 ("
        + (
            f"loaded in {fit_seconds:.1f} s from prepbench's statistics cache, where an earlier run stored the fit"
            if numbers["zca_fit_loaded_from_cache"]
            else f"fitted in {fit_seconds:.1f} s, and stored in prepbench's statistics cache"
        )
        + "). Each number is the correlation, across "
        "images, between two pixel values of the same image, averaged over all such pairs in the image:"
    )
    rows = [
        (name, f"{cb[key]:.3f}", f"{ca[key]:.3g}", f"{ch[key]:.3f}")
        for name, key in (
            ("neighbouring pixels, same channel", "neighbour_pixels"),
            (f"pixels {w // 2} apart, same channel", "distant_pixels"),
            ("R, G and B of one pixel", "channels"),
        )
    ]
    header = [
        "pair of values",
        "before (`corr_before`)",
        "after, training images (`corr_after`)",
        "after, held-out test images",
    ]
    doc.table(header, rows)
    doc.img(f"figures/{FIGURES[0]}", "correlations", caption=False)
    doc.p(
        "The maps show the correlation of the centre pixel's R value with the R, G and B values at every pixel: "
        "before ZCA a broad blob spanning most of the image and all three channels; after ZCA a single "
        "point (its correlation with itself)."
    )
    doc.img(f"figures/{FIGURES[1]}", "filters", caption=False)
    doc.p(filters_text(numbers))
    doc.p(
        "**Answer**: ZCA decorrelates every pair of the D = H x W x C pixel values across the training images — "
        "neighbouring pixels, distant pixels and the three channels of one pixel alike (correlations "
        f"{cb['neighbour_pixels']:.2f}, {cb['distant_pixels']:.2f} and {cb['channels']:.2f} become "
        f"{ca['neighbour_pixels']:.1g}, {ca['distant_pixels']:.1g} and {ca['channels']:.1g}) — not just R, G and B."
    )
    doc.p(
        f"On held-out images, never fitted on, the decorrelation is only approximate (last column) because "
        f"{n:,} images estimate the {d} x {d} covariance imperfectly; section 5 shows the "
        "directions where that matters."
    )
    return doc


def filters_text(numbers: dict) -> str:
    return (
        f"Each row of W is the filter that produces one output value. They are local centre-surround filters: the "
        f"centre-R filter has weight {numbers['zca_filter_centre_weight']:.3g} on its own pixel, "
        f"{numbers['zca_filter_neighbour_weight_mean']:.3g} on average on "
        f"its four neighbours, {numbers['zca_filter_centre_weight_on_G']:.3g} and "
        f"{numbers['zca_filter_centre_weight_on_B']:.3g} "
        f"on the G and B values of its own pixel (it subtracts what the other channels predict: that removes the "
        f"R-G-B correlation), and {100 * numbers['zca_filter_energy_within_2px']:.0f}% of its squared weight within 2 "
        "pixels. ZCA is the whitening that changes the images least, "
        "so each output pixel stays where it was and keeps mostly its own value, minus a prediction from its "
        "neighbours: it behaves like an edge detector."
    )
