"""Helpers for the data tests: data configs, and image-folder trees written as PNG or JPEG files."""

import zipfile
from pathlib import Path

import numpy as np
from PIL import Image

SPLIT_SETTINGS = dict(val_size=0, train_size=None, test_size=None, split_seed=0, image_size=None)


def synthetic_cfg(tmp_path, **overrides):
    cfg = dict(
        SPLIT_SETTINGS,
        source="synthetic",
        num_classes=4,
        train_images=400,
        test_images=120,
        size=16,
        noise=0.25,
        generator_seed=0,
        val_size=80,
        cache_dir=str(tmp_path / "cache"),
    )
    return {**cfg, **overrides}


def folder_cfg(tmp_path, path, **overrides):
    return {**SPLIT_SETTINGS, "source": "folder", "path": str(path), "cache_dir": str(tmp_path / "cache"), **overrides}


def save_image(path: Path, pixels: np.ndarray, mode: str | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.fromarray(pixels)
    if mode:
        image = image.convert(mode)
    fmt = "PNG" if path.suffix.lower() == ".png" else "JPEG"
    image.save(path, format=fmt)


def colour_image(value: int, size=(8, 8)) -> np.ndarray:
    return np.full((*size, 3), value, np.uint8)


def make_tree(root: Path, classes=("cat", "dog"), per_class=(3, 2), suffix=".png") -> Path:
    """train/<class>/ and test/<class>/ of flat PNGs whose value encodes split, class and index."""
    for split_index, (split, count) in enumerate(zip(("train", "test"), per_class)):
        for label, cls in enumerate(classes):
            for i in range(count):
                save_image(root / split / cls / f"{i:03d}{suffix}", colour_image(100 * split_index + 10 * label + i))
    return root


def in_source_order(x, y):
    """Undo the split's shuffle for trees from make_tree, whose images have distinct flat values."""
    order = np.lexsort((x[:, 0, 0, 0], y))
    return x[order], y[order]


def zip_tree(tree: Path, zip_path: Path, wrapper: str = "") -> Path:
    with zipfile.ZipFile(zip_path, "w") as archive:
        for f in sorted(tree.rglob("*")):
            if f.is_file():
                archive.write(f, f"{wrapper}{f.relative_to(tree).as_posix()}")
    return zip_path
