"""Section 7: batch normalization (claim C6): each layer's activations with and without it."""

from __future__ import annotations

import numpy as np

from prepbench.document import Document
from prepbench.memo.compute import batchnorm_study
from prepbench.memo.inputs import Memo
from prepbench.memo.plots import save
from prepbench.memo.sections import Section

TITLE = "7 batch normalization"
FIGURE = "7_batchnorm.png"


def section(m: Memo) -> Section:
    n_bn = min(m.args.bn_images, len(m.x_train))
    trainer = m.cfg.trainer
    bn = batchnorm_study(
        m.x_train[:n_bn],
        m.splits.y_train[:n_bn],
        m.x_heldout[:256],
        net_cfg=m.cfg.net,
        num_classes=len(m.splits.class_names),
        epochs=m.args.bn_epochs,
        batch_size=int(trainer.batch_size),
        lr=float(trainer.lr),
        seed=int(m.cfg.seed),
    )
    numbers = {}
    for tag, flag in (("without", False), ("with", True)):
        s = bn[flag]["trained"]
        numbers[f"bn_pre_mean_{tag}"], numbers[f"bn_pre_std_{tag}"] = s.pre_mean, s.pre_std
        numbers[f"bn_post_mean_{tag}"], numbers[f"bn_post_std_{tag}"] = s.post_mean, s.post_std
        numbers[f"bn_train_loss_{tag}"] = bn[flag]["loss"]
        numbers[f"bn_train_accuracy_{tag}"] = bn[flag]["accuracy"]
        numbers[f"bn_init_post_std_{tag}"] = bn[flag]["init"].post_std
    numbers.update(
        bn_layers=bn[False]["trained"].layers,
        bn_images=n_bn,
        bn_epochs=m.args.bn_epochs,
        bn_batch_size=int(trainer.batch_size),
        bn_probe_batch=int(min(256, len(m.x_heldout))),
    )
    figure(m, bn, numbers)
    return Section(document(m, bn, numbers), numbers, [FIGURE])


def figure(m: Memo, bn: dict, numbers: dict) -> None:
    import matplotlib.pyplot as plt

    layers = np.arange(1, len(bn[False]["trained"].layers) + 1)
    fig, axes = plt.subplots(2, 2, figsize=(12, 8), sharex=True)
    for flag, colour, name in ((False, "tab:orange", "without BN"), (True, "tab:blue", "with BN")):
        for stage, style in (("init", "--"), ("trained", "-")):
            s = bn[flag][stage]
            lab = f"{name}, {'at initialisation' if stage == 'init' else 'after training'}"
            axes[0, 0].plot(layers, s.pre_mean, style, color=colour, marker="o", label=lab)
            axes[0, 1].plot(layers, s.pre_std, style, color=colour, marker="o", label=lab)
            axes[1, 0].plot(layers, s.post_mean, style, color=colour, marker="o", label=lab)
            axes[1, 1].plot(layers, s.post_std, style, color=colour, marker="o", label=lab)
    titles = [
        ["before ReLU (conv output, or BN output): mean", "before ReLU: std"],
        ["after ReLU (input to the next layer): mean", "after ReLU: std"],
    ]
    for r in range(2):
        for cc in range(2):
            ax = axes[r, cc]
            ax.set_title(titles[r][cc], fontsize=10)
            ax.axhline(0, color="grey", lw=0.6)
            ax.set_ylabel("std" if cc else "mean")
            ax.set_xticks(layers)
        axes[1, r].set_xlabel("convolution layer")
    for ax in (axes[0, 1], axes[1, 1]):
        ax.set_ylim(bottom=0)
    handles, labels_ = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels_, loc="lower center", ncol=4, fontsize=9, bbox_to_anchor=(0.5, -0.01))
    fig.subplots_adjust(bottom=0.12)
    fig.suptitle(
        f"C6 batch normalization: activations of the deep net (conf/net/deep.yaml, {len(layers)} convs)\n"
        f"on one batch of {numbers['bn_probe_batch']} held-out images, after {m.args.bn_epochs} epoch(s) on "
        f"{numbers['bn_images']} images"
    )
    save(fig, m.figs / FIGURE)


def document(m: Memo, bn: dict, numbers: dict) -> Document:
    net, trainer = m.cfg.net, m.cfg.trainer
    sw_, sb_ = bn[False]["trained"], bn[True]["trained"]
    doc = Document()
    doc.h(2, "7. Batch normalization (C6)")
    doc.p(
        "**The memo** says batch normalization standardizes each layer's inputs per mini-batch and is expected to "
        "make learning more efficient, and leaves it there."
    )
    doc.p(
        f"**Measured**: the deep net of conf/net/deep.yaml (depth {net.depth}, width {net.width}, dense "
        f"{net.dense}), with and without a BatchNormalization after every convolution, same initial weights, "
        f"inputs x / 255, trained for {m.args.bn_epochs} epoch(s) on {numbers['bn_images']:,} training images (Adam, "
        f"lr {trainer.lr:g}, batch {trainer.batch_size}) — deliberately short, to look at activations, not "
        f"accuracy. Then the mean and std of every convolution block's activations over one batch of "
        f"{numbers['bn_probe_batch']} held-out images (with BN, computed as in training: from the batch's own "
        f"statistics). Training loss of the last epoch: {bn[False]['loss'][-1]:.3f} without BN, "
        f"{bn[True]['loss'][-1]:.3f} with."
    )
    rows = [
        [
            sw_.layers[i],
            f"{sw_.pre_std[i]:.3g}",
            f"{sb_.pre_std[i]:.3g}",
            f"{sw_.post_mean[i]:.3g} / {sb_.post_mean[i]:.3g}",
        ]
        for i in range(len(sw_.layers))
    ]
    header = ["layer", "pre-ReLU std, without BN", "pre-ReLU std, with BN", "post-ReLU mean without / with"]
    doc.table(header, rows)
    doc.img(f"figures/{FIGURE}", "batchnorm", caption=False)
    doc.p(meaning(bn))
    return doc


def meaning(bn: dict) -> str:
    sw_, sb_, iw_ = bn[False]["trained"], bn[True]["trained"], bn[False]["init"]
    return (
        "**What it means**: with BN every layer receives inputs on the same scale — BN output at mean "
        f"{min(sb_.pre_mean):.2g}..{max(sb_.pre_mean):.2g} and std {min(sb_.pre_std):.3f}..{max(sb_.pre_std):.3f} in "
        f"every layer, so after the ReLU mean ≈ {np.mean(sb_.post_mean):.2f} and std ≈ {np.mean(sb_.post_std):.2f} "
        "(those of a rectified standard normal, 0.40 and 0.58), at initialisation and after training alike. Without "
        "BN each layer's scale is whatever the weights and the layers below make it: the He initialisation keeps "
        f"the pre-ReLU std between {min(iw_.pre_std):.2f} and {max(iw_.pre_std):.2f} at the start, and after this "
        f"short training it ranges from {min(sw_.pre_std):.3g} (conv{int(np.argmin(sw_.pre_std)) + 1}) to "
        f"{max(sw_.pre_std):.3g} (conv{int(np.argmax(sw_.pre_std)) + 1}): the scale drifts as the weights change, "
        "and every layer has to keep adapting to the drift of the layers below. With BN a fixed learning rate suits "
        'every layer, which is the mechanism behind "more efficient learning". '
        "This short run shows the mechanism only; whether BN trains faster or better here is measured by the "
        "`batchnorm` variant in the training sweeps."
    )
