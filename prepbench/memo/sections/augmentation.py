"""Section 6: augmentation (claim C1) with the memo's settings, as prepbench draws it."""

from __future__ import annotations

import numpy as np
from omegaconf import OmegaConf

from prepbench.document import Document
from prepbench.memo.compute import augmentation_grid, resize
from prepbench.memo.inputs import Memo
from prepbench.memo.plots import imshow, save
from prepbench.memo.sections import Section

TITLE = "6 augmentation"
FIGURE = "6_augmentation.png"


def section(m: Memo) -> Section:
    params = m.cfg.augmentation
    image = m.demo if max(m.demo.shape[:2]) <= 256 else resize(m.demo, 256)
    aug, draws = augmentation_grid(image, params, m.args.augment_draws, seed=int(m.cfg.seed))
    figure(m, image, aug, draws, params)
    numbers = {"augment_draws": len(aug), "augment_params": OmegaConf.to_container(params)}
    return Section(document(m, image, len(aug), params), numbers, [FIGURE])


def figure(m: Memo, image, aug, draws, params) -> None:
    import matplotlib.pyplot as plt

    cols = 4
    rows_n = int(np.ceil((1 + len(aug)) / cols))
    fig, axes = plt.subplots(rows_n, cols, figsize=(3 * cols, 3.2 * rows_n))
    axes = np.atleast_2d(axes)
    imshow(axes[0, 0], image, "original")
    for i, img in enumerate(aug, start=1):
        title = (
            f"rot {draws['degrees'][i - 1]:+.0f}°, dx {draws['dx'][i - 1]:+.1f} px, "
            f"dy {draws['dy'][i - 1]:+.1f} px\nflip: {'yes' if draws['flip'][i - 1] else 'no'}"
        )
        imshow(axes.flat[i], np.clip(img, 0, 1), title)
    for ax in axes.flat[1 + len(aug) :]:
        ax.axis("off")
    fig.suptitle(
        f"C1 augmentation, the memo's settings: rotation ±{params.rotation_degrees}°, shifts "
        f"±{params.shift_fraction:.0%}, horizontal flip, fill '{params.fill_mode}' ({len(aug)} draws)"
    )
    save(fig, m.figs / FIGURE)


def document(m: Memo, image, draws: int, params) -> Document:
    h, w = m.x_train.shape[1:3]
    doc = Document()
    doc.h(2, "6. Augmentation (C1)")
    doc.p(
        f"**The memo** augments with `ImageDataGenerator(rotation_range={params.rotation_degrees}, "
        f"width_shift_range={params.shift_fraction}, height_shift_range={params.shift_fraction}, "
        "horizontal_flip=True)` and says it may raise accuracy when data is scarce."
    )
    shown = m.demo_name if image is m.demo else m.demo_name + " (resized to 256x256)"
    doc.p(
        f"**Shown**: {shown} under {draws} "
        "random draws of those settings (prepbench's vectorised `augment_batch`, read from `augmentation:` in "
        "conf/config.yaml; fill mode nearest, as IDG's default). The titles give each draw."
    )
    doc.img(f"figures/{FIGURE}", "augmentation", caption=False)
    doc.p(
        "**What it means**: every epoch the network sees a differently rotated, shifted and mirrored copy, so it "
        f"cannot memorise pixel positions. On {h}x{w} images a {params.shift_fraction:.0%} shift is up to "
        f"{params.shift_fraction * w:.0f} pixels, and 'nearest' fill smears the border pixels into the gap (the "
        "streaks at the edges). Whether it helps shallow and deep networks equally is measured by the training sweeps."
    )
    return doc
