"""Section 3: ZCA fitted on a single image (claim C5): why its output has std 1/sqrt(D)."""

from __future__ import annotations

import numpy as np

from prepbench.document import Document
from prepbench.memo.compute import IDG_SIZE, MAX_NATIVE_VALUES, MEMO_SIZE, resize, zca_single, zca_single_idg
from prepbench.memo.inputs import Memo
from prepbench.memo.plots import imshow, save, show_memo_way
from prepbench.memo.sections import Section

TITLE = "3 zca single image"
FIGURE = "3_zca_single.png"
SINGLE_KEYS = ("std", "mean", "D", "expected_std", "seconds", "rank", "cosine_to_centred_input", "output_norm")


def section(m: Memo) -> Section:
    img128 = resize(m.demo, MEMO_SIZE)
    single = zca_single(img128)
    numbers = {f"zca_single_{k}": single[k] for k in SINGLE_KEYS}
    native = None
    if m.demo.shape[:2] != (MEMO_SIZE, MEMO_SIZE) and m.demo.size <= MAX_NATIVE_VALUES:
        native = zca_single(m.demo)
        numbers.update({f"zca_native_{k}": native[k] for k in ("std", "mean", "D", "expected_std", "seconds")})
    idg = zca_single_idg(resize(m.demo, IDG_SIZE))
    numbers.update(
        zca_single_idg16_std=idg["std"],
        zca_single_idg16_mean=idg["mean"],
        zca_single_idg16_D=idg["D"],
        zca_single_idg16_expected_std=float(1 / np.sqrt(idg["D"])),
    )
    figure(m, img128, single)
    return Section(document(m, single, native, idg, numbers), numbers, [FIGURE])


def figure(m: Memo, img128: np.ndarray, single: dict) -> None:
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(11, 4))
    imshow(axes[0], img128, f"input, resized to {MEMO_SIZE}x{MEMO_SIZE}")
    imshow(axes[1], show_memo_way(single["output"]), "ZCA output, shown the memo's way")
    centred = img128.astype(np.float32) / 255 - img128.reshape(-1, 3).mean(axis=0) / 255
    imshow(axes[2], show_memo_way(centred), "input minus its channel means,\nsame display: identical")
    fig.suptitle(
        f"C5 ZCA fitted on this one image: std {single['std']:.7f} = 1/sqrt({single['D']}) "
        f"= {single['expected_std']:.7f}"
    )
    save(fig, m.figs / FIGURE)


def document(m: Memo, single: dict, native: dict | None, idg: dict, numbers: dict) -> Document:
    d = single["D"]
    native_line = (
        f" The same run on the image at its own size ({m.demo.shape[1]}x{m.demo.shape[0]}, D = {native['D']:,}) gives "
        f"std {native['std']:.7f} against 1/sqrt(D) = {native['expected_std']:.7f}, in {native['seconds']:.2f} s."
        if native
        else ""
    )
    doc = Document()
    doc.h(2, "3. ZCA whitening fitted on a single image (C5)")
    doc.p(
        "**The memo** fitted `ImageDataGenerator(featurewise_center=True, zca_whitening=True)` on one image, had to "
        "shrink it to 128x128 to make the fit run at all, printed `std: 0.0045105484 ave: 2.2312936e-10`, and "
        "could not say whether the result was right."
    )
    doc.p(
        f"**Measured** on {m.demo_name}, resized to {MEMO_SIZE}x{MEMO_SIZE}x3 (D = {d:,} values), with "
        f"prepbench's `zca` (eps 1e-6): `zca_single_std` = {single['std']:.7f}, `zca_single_mean` = "
        f"{single['mean']:.2g}; 1/sqrt(D) = {single['expected_std']:.7f}. The fit and transform took "
        f"{single['seconds']:.2f} s: prepbench fits from the n x n Gram matrix when n < D and never builds a D x D "
        f"matrix. `ImageDataGenerator` does: the Keras 2 version the memo ran formed the {d:,} x "
        f"{d:,} covariance and took its full SVD, and Keras 3's still forms the {d:,} x "
        f"{d:,} whitening matrix (9.7 GB in float32, `keras/src/legacy/preprocessing/image.py`), which is "
        f"why the memo had to shrink its image.{native_line} Cross-check with the memo's own "
        f"`ImageDataGenerator` code (Keras 3) on a {IDG_SIZE}x{IDG_SIZE} copy (D = {idg['D']}): std "
        f"{idg['std']:.7f}, 1/sqrt(D) = {numbers['zca_single_idg16_expected_std']:.7f}."
    )
    doc.img(f"figures/{FIGURE}", "zca single", caption=False)
    doc.p(
        "**Why the std is 1/sqrt(D)**: fitted on one image, the centred data (the image minus its channel means) is a "
        f"single vector, so its covariance has rank 1 (rank found: {single['rank']}) and ZCA simply divides that "
        f"vector by its own length: the output is a unit vector (its norm here: {single['output_norm']:.6f}) "
        f"pointing exactly along the centred input (cosine {single['cosine_to_centred_input']:.6f}). "
        "A unit vector of D values with mean 0 has std sqrt(1/D) whatever the image, and its mean is 0 up to "
        "float32 rounding (the memo's 2.2e-10, our "
        f"{single['mean']:.2g}). So the memo's output picture is just the input minus its channel means, "
        "displayed with the same stretch (right panel): nothing was decorrelated. ZCA needs many images."
    )
    return doc
