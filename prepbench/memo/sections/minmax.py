"""Section 1: the memo's min-max stretch (claim C2) on the user's image and the lowest-contrast test image."""

from __future__ import annotations

import numpy as np

from prepbench.document import Document
from prepbench.memo.compute import minmax_demo
from prepbench.memo.inputs import Memo
from prepbench.memo.plots import histograms, imshow, save
from prepbench.memo.sections import Section, fmt

TITLE = "1 min-max"
FIGURE = "1_minmax.png"


def section(m: Memo) -> Section:
    # The user's image first (if any), then the data's lowest-contrast image: the memo's kind of example.
    rows = ([(m.user_image, m.demo_name)] if m.user_image is not None else []) + [(m.low, m.low_name)]
    results = [minmax_demo(img) for img, _ in rows]
    numbers = {k: v for k, v in results[0].items() if k != "output"}
    if m.user_image is not None:
        numbers["minmax_lowest_contrast_input_min"] = results[1]["minmax_input_min"]
        numbers["minmax_lowest_contrast_input_max"] = results[1]["minmax_input_max"]
    flat = m.x_train.reshape(len(m.x_train), -1)
    ranges = flat.max(axis=1).astype(int) - flat.min(axis=1)
    numbers["minmax_train_median_range"] = float(np.median(ranges))
    numbers["minmax_train_fraction_range_ge_250"] = float(np.mean(ranges >= 250))
    figure(m, rows, results)
    return Section(document(m, rows, results, numbers), numbers, [FIGURE])


def figure(m: Memo, rows, results) -> None:
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(rows), 4, figsize=(16, 4.2 * len(rows)), squeeze=False, layout="constrained")
    for r, ((img, _), res) in enumerate(zip(rows, results)):
        imshow(axes[r, 0], img, f"input: values {res['minmax_input_min']}..{res['minmax_input_max']} of 0..255")
        imshow(axes[r, 1], res["output"], "min-max output: values 0..1")
        histograms(axes[r, 2], img, np.arange(0, 257, 4), "input histogram", "pixel value (0..255)")
        axes[r, 2].set_xlim(0, 255)
        histograms(axes[r, 3], res["output"], np.linspace(0, 1, 65), "output histogram", "pixel value (0..1)")
        axes[r, 3].set_xlim(0, 1)
    fig.suptitle("C2 min-max normalization: (x - min) / (max - min), over all pixels and channels of one image")
    save(fig, m.figs / FIGURE)


def stretch_of(res) -> float:
    return 255 / max(res["minmax_input_max"] - res["minmax_input_min"], 1)


def document(m: Memo, rows, results, numbers) -> Document:
    measured = [
        f"on {name}: the input spans {res['minmax_input_min']}..{res['minmax_input_max']} of 0..255 (a stretch by "
        f"{stretch_of(res):.2f}), the output exactly {fmt(res['minmax_output_min'])}..{fmt(res['minmax_output_max'])}"
        for (_, name), res in zip(rows, results)
    ]
    full_range = [name for (_, name), res in zip(rows, results) if stretch_of(res) <= 1.01]
    doc = Document()
    doc.h(2, "1. Min-max normalization (C2)")
    doc.p(
        "**The memo** stretches each image with `out = (in - in.min) / (in.max - in.min)` and shows a "
        'low-contrast picture beside its stretched version, with histograms that "spread out".'
    )
    doc.p(
        "**Measured** with prepbench's `minmax` (min and max over all pixels *and* channels together; the memo's "
        "code did it on a grey-level image), " + "; and ".join(measured) + "."
    )
    doc.img(f"figures/{FIGURE}", "min-max", caption=False)
    doc.p(
        "**What it means**: min-max is a per-image linear stretch: the histogram keeps its shape and is widened to "
        "fill the range. It changes nothing for an image that already uses the full range"
        + (
            f" ({' and '.join(full_range)} does, so its output is just the input rescaled to 0..1)"
            if full_range
            else ""
        )
        + f"; of the {len(m.x_train):,} training images, {100 * numbers['minmax_train_fraction_range_ge_250']:.0f}% "
        f"span at least 250 of the 255 levels (median range {numbers['minmax_train_median_range']:.0f}), so on "
        f"{m.label} it changes most images little and stretches the few dark or hazy ones a lot. (The memo's "
        "plotting code draws the *input* histogram twice: its `calcHist` of the output is commented out.) Whether "
        "the stretch helps shallow networks more than deep ones (claim H) is what prepbench's training sweeps "
        "measure, not this figure."
    )
    return doc
