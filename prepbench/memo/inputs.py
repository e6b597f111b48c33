"""What the memo works on: the command's options, the settings from conf/, the data, and the
images the single-image sections show, gathered once into a `Memo` that every section reads."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from prepbench.errors import PrepbenchError
from prepbench.track.provenance import data_name


@dataclass
class Memo:
    """Everything the sections share. `kept` carries objects from one section to a later one
    (section 4's ZCA fit to section 5)."""

    args: argparse.Namespace
    figs: Path  # where the figures go
    cfg: object  # the composed config: seed, augmentation, cache_dir, net (deep), trainer
    splits: object  # prepbench.data.splits.Splits
    label: str  # the data's name
    x_heldout: np.ndarray  # test images never fitted on
    user_image: np.ndarray | None
    demo: np.ndarray  # the image of the single-image sections
    demo_name: str
    low: np.ndarray  # the test split's lowest-contrast image
    low_name: str
    kept: dict = field(default_factory=dict)

    @property
    def x_train(self) -> np.ndarray:
        return self.splits.x_train


def load_image(path: Path) -> np.ndarray:
    """A user's image as uint8 HxWx3 RGB."""
    from PIL import Image, UnidentifiedImageError

    if not path.exists():
        raise PrepbenchError(f"--image {path} does not exist; expected a PNG or JPEG file")
    if not path.is_file():
        raise PrepbenchError(f"--image {path} is not a file; expected a PNG or JPEG file")
    try:
        with Image.open(path) as img:
            rgb = np.asarray(img.convert("RGB"), dtype=np.uint8)
    except (UnidentifiedImageError, OSError) as err:
        raise PrepbenchError(
            f"--image {path} could not be read as an image ({err}); expected a PNG or JPEG file"
        ) from None
    if min(rgb.shape[:2]) < 2:
        raise PrepbenchError(f"--image {path} is {rgb.shape[1]}x{rgb.shape[0]} pixels; expected at least 2x2")
    return rgb


def settings(data_path: Path | None, train_images: int):
    """The app's config for the memo: the deep net, and as data an image folder/zip when a path is
    given, else the official CIFAR-10; no validation split (the held-out images come from the
    test split)."""
    from prepbench.config import compose

    source = "cifar10" if data_path is None else "folder"
    split = ["data.val_size=0", f"data.train_size={train_images}", "data.test_size=null"]
    cfg = compose([f"data={source}", *split, "net=deep"])
    if data_path is not None:
        cfg.data.path = str(data_path)  # set, not an override: a path needs no quoting this way
    return cfg


def data_label(data_path: Path | None) -> str:
    return data_name("cifar10") if data_path is None else data_name("folder", data_path)


def pick_class_image(x: np.ndarray, y: np.ndarray, class_names, wanted: str) -> tuple[np.ndarray, str]:
    if wanted in class_names:
        idx = int(np.flatnonzero(y == class_names.index(wanted))[0])
    else:
        idx = 0
    return x[idx], f"test image {idx} ({class_names[int(y[idx])]})"


def lowest_contrast(x: np.ndarray) -> int:
    flat = x.reshape(len(x), -1)
    return int(np.argmin(flat.max(axis=1).astype(int) - flat.min(axis=1)))


def prepare(args: argparse.Namespace) -> Memo:
    """Load the data and pick the images; refuse data the memo cannot use."""
    from prepbench.data.splits import load_splits

    args.out.joinpath("figures").mkdir(parents=True, exist_ok=True)
    user_image = load_image(args.image) if args.image is not None else None
    cfg = settings(args.data_path, args.train_images)
    splits = load_splits(cfg.data)
    h, w, c = splits.x_train.shape[1:]
    if len(splits.x_train) <= h * w * c:
        raise PrepbenchError(
            f"--train-images={args.train_images} is too small for ZCA on {h}x{w}x{c} images; "
            f"expected more than D = {h * w * c} so that the covariance has full rank"
        )
    if c != 3:
        raise PrepbenchError(f"the data has {c} channels; expected RGB images (3 channels)")
    k = min(args.heldout_images, len(splits.x_test))
    heldout_idx = np.sort(np.random.default_rng(0).permutation(len(splits.x_test))[:k])
    if user_image is not None:
        demo, demo_name = user_image, f"your image {args.image.name} ({user_image.shape[1]}x{user_image.shape[0]})"
    else:
        demo, demo_name = pick_class_image(splits.x_test, splits.y_test, splits.class_names, "horse")
    i = lowest_contrast(splits.x_test)
    low_name = (
        f"test image {i} ({splits.class_names[int(splits.y_test[i])]}), the lowest-contrast image of the test split"
    )
    return Memo(
        args=args,
        figs=args.out / "figures",
        cfg=cfg,
        splits=splits,
        label=data_label(args.data_path),
        x_heldout=splits.x_test[heldout_idx],
        user_image=user_image,
        demo=demo,
        demo_name=demo_name,
        low=splits.x_test[i],
        low_name=low_name,
    )
