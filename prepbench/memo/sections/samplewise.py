"""Section 2: samplewise standardization (claim C4): std 1 and mean 0 over the three channels together."""

from __future__ import annotations

import numpy as np

from prepbench.document import Document
from prepbench.memo.compute import samplewise_demo
from prepbench.memo.inputs import Memo
from prepbench.memo.plots import histograms, imshow, save, show_memo_way
from prepbench.memo.sections import Section
from prepbench.variants import build

TITLE = "2 samplewise"
FIGURE = "2_samplewise.png"


def section(m: Memo) -> Section:
    sw = samplewise_demo(m.demo)
    numbers = {k: v for k, v in sw.items() if k != "output"}
    per_image_std = build("samplewise").transform(m.x_train[:1000]).std(axis=(1, 2, 3))
    numbers["samplewise_train_std_max_abs_dev"] = float(np.abs(per_image_std - 1).max())
    figure(m, sw)
    return Section(document(m, sw, numbers), numbers, [FIGURE])


def figure(m: Memo, sw: dict) -> None:
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 4, figsize=(15, 3.8), gridspec_kw=dict(width_ratios=[1, 1, 1.3, 1.3]))
    imshow(axes[0], m.demo, "input")
    imshow(axes[1], show_memo_way(sw["output"]), "output, shown the memo's way\n(d + ofs) / (2 ofs), ofs = max|d|")
    histograms(axes[2], m.demo.astype(np.float32) / 255, np.linspace(0, 1, 65), "input histogram", "value x / 255")
    histograms(axes[3], sw["output"], 64, "output histogram", "standardized value")
    axes[3].set_title(f"output: mean {sw['samplewise_mean']:.2g}, std {sw['samplewise_std']:.4f}")
    fig.suptitle("C4 samplewise standardization: (x - mean) / (std + 1e-6), mean and std over H, W and C together")
    save(fig, m.figs / FIGURE)


def document(m: Memo, sw: dict, numbers: dict) -> Document:
    cm = ", ".join(f"{v:+.3f}" for v in sw["samplewise_channel_means"])
    doc = Document()
    doc.h(2, "2. Samplewise standardization (C4)")
    doc.p(
        "**The memo** used `ImageDataGenerator(samplewise_center=True, samplewise_std_normalization=True)` and "
        "printed `std: 1.0 ave: 5.6888285e-07`; it noted that the statistics are taken over R, G and B together."
    )
    doc.p(
        f"**Measured** on {m.demo_name} with prepbench's `samplewise` (float32, like the memo): "
        f"`samplewise_std` = {sw['samplewise_std']:.7f}, `samplewise_mean` = {sw['samplewise_mean']:.3g}. "
        f"Per channel the means are {cm} and the stds "
        + ", ".join(f"{v:.3f}" for v in sw["samplewise_channel_stds"])
        + f": only the three channels *together* have mean 0 and std 1. Over 1,000 training images of {m.label} "
        f"the largest deviation of an image's std from 1 is {numbers['samplewise_train_std_max_abs_dev']:.2g}."
    )
    doc.img(f"figures/{FIGURE}", "samplewise", caption=False)
    doc.p(
        "**What it means**: the std is 1 by construction (up to the 1e-6 guard in the denominator); the mean is 0, "
        "and what is printed instead (the memo's 5.7e-07, our "
        f"{sw['samplewise_mean']:.2g}) is float32 rounding: a float32 has about 7 significant digits, so a mean of "
        "values of order 1 cannot come out smaller than about 1e-8..1e-7. Samplewise standardization removes each "
        "image's brightness and contrast. Shown the memo's way (a linear map back to 0..1) the output looks like the "
        "input, because samplewise standardization is itself a linear map of the image; as the memo said, "
        '"turning it into a picture is not very meaningful".'
    )
    return doc
