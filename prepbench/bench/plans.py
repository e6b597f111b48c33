"""What the benchmark measures and on what: the plans (how much work each measurement gets), the
data (the shared CIFAR-10 JPEG copy, or synthetic images), and the objects compared (prepbench's
preprocessors and the memo's ImageDataGenerator, both configured from conf/)."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from prepbench.track.provenance import SHARED_ZIP, data_name

JPEG_ZIP = SHARED_ZIP
PIPELINE_VARIANTS = ("std", "zca", "augment")  # augment = the memo's augmentation + featurewise std
HARNESS_VARIANTS = ("none", "std", "zca", "augment")
NETS = ("shallow", "deep")


@dataclass(frozen=True)
class Plan:
    """How much work each measurement gets."""

    name: str
    pipeline_images: int  # training images the pipelines produce per epoch
    pipeline_epochs: int
    idg_images: dict  # images IDG's flow produces, per variant (IDG's ZCA is slow)
    zca_fit_images: int  # the same images for both fits
    zca_fit_all: bool  # also time prepbench's fit on the whole training split
    train_images: int  # harness and bare training
    train_epochs: int
    repeats: int
    batch_size: int = 128
    sweep: bool = False  # the sweep-level figures (fixed cost per job, re-run of a FINISHED sweep)


FULL = Plan("full", 10_000, 2, {"std": 10_000, "zca": 2_560, "augment": 10_000}, 10_000, True, 5_000, 2, 2, sweep=True)
PLANS = {
    "full": FULL,
    # The full plan's measurements on the full plan's images, once: smaller sizes understated the
    # ratios that depend on warm-up and on n (pipeline std, the ZCA fit, the deep net's FLOP rate).
    "quick": replace(FULL, name="quick", repeats=1),
    # Seconds, on small synthetic images: for the tests.
    "tiny": Plan("tiny", 256, 1, {"std": 128, "zca": 128, "augment": 128}, 96, False, 128, 1, 1, batch_size=32),
}


# ---- data ---------------------------------------------------------------------------------------


def load_data(source: str, cache_dir: str | None = None):
    """(Splits, name, note): the shared CIFAR-10 JPEG copy, or synthetic images when it is absent or asked for."""
    from prepbench.config import compose
    from prepbench.data.splits import load_splits

    if source == "auto":
        source = "folder" if JPEG_ZIP.exists() else "synthetic"
        note = "" if source == "folder" else f"{JPEG_ZIP} is absent: SYNTHETIC images, not CIFAR-10"
    else:
        note = "synthetic images, not CIFAR-10" if source == "synthetic" else ""
    if source == "folder":
        cfg = compose(["data=folder"]).data
        cfg.path = str(JPEG_ZIP)
        name = data_name("folder", JPEG_ZIP)
    else:
        sizes = ["size=32", "train_images=1200", "test_images=200", "val_size=100", "num_classes=10"]
        cfg = compose(["data=synthetic", *(f"data.{s}" for s in sizes)]).data
        name = "synthetic 32x32"
    if cache_dir is not None:
        cfg.cache_dir = cache_dir
    return load_splits(cfg), name, note


def subset(splits, n_train: int, n_eval: int = 256):
    """The first n_train training images (a fair sample: splits are class-mixed), small val/test."""
    from prepbench.data.splits import Splits

    def take(x, n):
        return np.resize(x, (n, *x.shape[1:])) if len(x) < n else x[:n]  # repeat if the source is small

    return Splits(
        take(splits.x_train, n_train),
        take(splits.y_train, n_train),
        take(splits.x_val, n_eval),
        take(splits.y_val, n_eval),
        take(splits.x_test, n_eval),
        take(splits.y_test, n_eval),
        splits.class_names,
        splits.fingerprint,
    )


# ---- the objects compared -----------------------------------------------------------------------


def conf(group: str, option: str):
    """One group's settings as a job with `group=option` sees them (prepbench.config.compose)."""
    from prepbench.config import compose

    return compose([f"{group}={option}"])[group]


def augmentation_conf():
    from prepbench.config import compose

    return compose().augmentation


def preprocessor(variant: str):
    """prepbench's preprocessor for a benchmark variant; `augment` carries featurewise std, like the memo."""
    from prepbench.variants import build

    return build("std", augment=True) if variant == "augment" else build(variant)


def idg_for(variant: str):
    """The memo's ImageDataGenerator for the same work (rescale 1/255 first, as the memo does)."""
    import tensorflow as tf

    ImageDataGenerator = tf.keras.preprocessing.image.ImageDataGenerator

    options = dict(rescale=1 / 255, featurewise_center=True)
    if variant in ("std", "augment"):
        options["featurewise_std_normalization"] = True
    if variant == "zca":
        options.update(zca_whitening=True, zca_epsilon=float(conf("prep", "zca").zca_epsilon))
    if variant == "augment":
        a = augmentation_conf()
        options.update(
            rotation_range=a.rotation_degrees,
            width_shift_range=a.shift_fraction,
            height_shift_range=a.shift_fraction,
            horizontal_flip=a.horizontal_flip,
            fill_mode=a.fill_mode,
        )
    return ImageDataGenerator(**options)
