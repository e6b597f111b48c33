"""An image-folder tree, in a directory or a .zip: train/<class>/* and test/<class>/* (JPEG or PNG),
optionally inside one top-level folder; no image is skipped silently."""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np
from PIL import Image, UnidentifiedImageError

from prepbench.data.decoded import Decoded, cached_or_decoded, content_key, directory_hash, file_digests
from prepbench.data.settings import image_size_setting, require
from prepbench.errors import PrepbenchError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
# Image files of other formats: in a class folder they are refused by name, never skipped silently
# (other files, such as notes.txt, are not images and are ignored).
OTHER_IMAGE_SUFFIXES = (
    ".bmp",
    ".gif",
    ".tif",
    ".tiff",
    ".webp",
    ".ppm",
    ".pgm",
    ".pbm",
    ".pnm",
    ".jp2",
    ".j2k",
    ".jpe",
    ".jfif",
    ".heic",
    ".heif",
    ".avif",
    ".ico",
    ".tga",
    ".dng",
    ".exr",
    ".svg",
)


@dataclass(frozen=True)
class FolderListing:
    """The images of an image-folder tree, in class order then file-name order."""

    class_names: tuple[str, ...]
    train: list[tuple[str, int]]  # (path inside the tree, label)
    test: list[tuple[str, int]]


def load_folder(cfg: dict) -> Decoded:
    """A directory or .zip with train/<class>/* and test/<class>/*, optionally inside one top-level folder."""
    path = Path(require(cfg, "path")).expanduser()
    cache_dir = Path(require(cfg, "cache_dir"))
    image_size = image_size_setting(cfg)
    if not path.exists():
        raise PrepbenchError(
            f"data.path={path} does not exist; expected a directory or a .zip with train/<class>/ and test/<class>/"
        )
    if path.is_dir():
        listing = list_folder_tree(path, [f.relative_to(path).as_posix() for f in path.rglob("*") if f.is_file()])
        # Only the listed images define the content: a stray .DS_Store must not invalidate the cache.
        images = [path / name for name, _ in listing.train + listing.test]
        content_hash = directory_hash(images, path, cache_dir)

        def read_bytes(name):
            return (path / name).read_bytes()

        return cached_or_decoded(
            cfg,
            content_key("folder", content_hash, image_size),
            lambda: decode_listing(path, listing, read_bytes, image_size),
        )
    if not zipfile.is_zipfile(path):
        raise PrepbenchError(
            f"data.path={path} is neither a directory nor a zip file; "
            "expected a directory or a .zip with train/<class>/ and test/<class>/"
        )
    content_hash = file_digests(path, cache_dir)["sha256"]

    def decode():  # on a cache hit the zip is not even opened
        with zipfile.ZipFile(path) as archive:
            names = [info.filename for info in archive.infolist() if not info.is_dir()]
            listing = list_folder_tree(path, names)
            return decode_listing(path, listing, archive.read, image_size)

    return cached_or_decoded(cfg, content_key("folder", content_hash, image_size), decode)


def list_folder_tree(path: Path, names: list[str]) -> FolderListing:
    """Find train/ and test/ (at the top or inside one wrapping folder) and list their images."""
    parts = [PurePosixPath(n).parts for n in names if not is_hidden(n)]
    prefix = ()
    top = {p[0] for p in parts if len(p) > 1}
    if not {"train", "test"} <= top and len(top) == 1:
        prefix = (top.pop(),)  # e.g. cifar10-jpeg.zip holds cifar10-jpeg/{train,test}/
    n = len(prefix)
    inside = [p for p in parts if p[:n] == prefix and len(p) >= n + 2 and p[n] in ("train", "test")]
    found = {p[n] for p in parts if p[:n] == prefix and len(p) > n + 1}
    if not {"train", "test"} <= found:
        where = "/".join(prefix) + "/" if prefix else "its top level"
        raise PrepbenchError(
            f"data.path={path} has no {' and no '.join(s + '/' for s in ('train', 'test') if s not in found)} "
            f"in {where} (found: {', '.join(sorted(found)) or 'nothing'}); expected train/<class>/ and test/<class>/"
        )
    images = {"train": {}, "test": {}}
    misplaced, unsupported = [], []  # never dropped silently: refused, named
    for p in inside:
        name, suffix = "/".join(p), PurePosixPath(p[-1]).suffix.lower()
        if suffix not in IMAGE_SUFFIXES + OTHER_IMAGE_SUFFIXES:
            continue  # not an image (notes.txt)
        if len(p) != n + 3:  # directly in train/, or in a folder inside a class folder
            misplaced.append(name)
        elif suffix in IMAGE_SUFFIXES:  # <prefix>/<split>/<class>/<file>
            images[p[n]].setdefault(p[n + 1], []).append(name)
        else:
            unsupported.append(name)
    if misplaced:
        raise PrepbenchError(
            f"data.path={path}: {_some(misplaced)} not directly in a class folder; expected every image "
            "at train/<class>/<file> or test/<class>/<file> (move nested images up, or make their folder a class)"
        )
    if unsupported:
        raise PrepbenchError(
            f"data.path={path}: {_some(unsupported)} an unsupported image format; "
            "expected JPEG or PNG images (.jpg, .jpeg, .png) in the class folders: convert the others"
        )
    train_classes, test_classes = sorted(images["train"]), sorted(images["test"])
    if train_classes != test_classes:
        only_train = sorted(set(train_classes) - set(test_classes))
        only_test = sorted(set(test_classes) - set(train_classes))
        raise PrepbenchError(
            f"data.path={path}: class folders differ between the splits "
            f"(only in train/: {', '.join(only_train) or 'none'}; only in test/: {', '.join(only_test) or 'none'}); "
            "expected the same class folders under train/ and test/"
        )
    if not train_classes:
        raise PrepbenchError(
            f"data.path={path} has no images in train/<class>/; expected JPEG or PNG files in class folders"
        )

    def labelled(split_name):
        return [(name, label) for label, cls in enumerate(train_classes) for name in sorted(images[split_name][cls])]

    return FolderListing(tuple(train_classes), labelled("train"), labelled("test"))


def _some(names: list[str]) -> str:
    """`a is` / `a, b and 3 more are`: up to three names, and how many more."""
    shown = ", ".join(sorted(names)[:3])
    more = f" and {len(names) - 3} more" if len(names) > 3 else ""
    return f"{shown}{more} {'is' if len(names) == 1 else 'are'}"


def is_hidden(name: str) -> bool:
    """Hidden files and macOS zip metadata (__MACOSX/, .DS_Store) are not part of the data."""
    return any(part.startswith(".") or part == "__MACOSX" for part in PurePosixPath(name).parts)


def decode_listing(path: Path, listing: FolderListing, read_bytes, image_size: int | None):
    x_train = decode_images(path, listing.train, read_bytes, image_size)
    x_test = decode_images(path, listing.test, read_bytes, image_size or x_train.shape[1:3])
    y_train = np.array([label for _, label in listing.train], dtype=np.int64)
    y_test = np.array([label for _, label in listing.test], dtype=np.int64)
    return x_train, y_train, x_test, y_test, listing.class_names


def decode_images(path: Path, items: list[tuple[str, int]], read_bytes, size) -> np.ndarray:
    """Decode with PIL to RGB; `size` is an int (resize to size x size), an (H, W) every image must have, or None."""
    if isinstance(size, int):
        size = (size, size)
        resize = True
    else:
        resize = False
    images = None
    for i, (name, _) in enumerate(items):
        try:
            image = Image.open(io.BytesIO(read_bytes(name)))
            image.load()  # Image.open is lazy: force the decode so a corrupt file fails here, named
        except (OSError, ValueError, Image.DecompressionBombError) as error:
            # PIL's own message for an unknown format names a BytesIO object, not the file.
            reason = "unknown image format" if isinstance(error, UnidentifiedImageError) else str(error)
            raise PrepbenchError(
                f"data.path={path}: cannot decode {name} ({reason}); expected a readable JPEG or PNG image"
            ) from None
        if image.mode.startswith("I"):  # 16-bit grayscale PNG ("I;16", or "I"): PIL's convert would clip at 255
            gray = np.round(np.asarray(image, dtype=np.float64) * (255 / 65535))
            image = Image.fromarray(np.clip(gray, 0, 255).astype(np.uint8)).convert("RGB")
        elif image.mode != "RGB":
            image = image.convert("RGB")  # grayscale, palette and RGBA all become plain RGB (16-bit RGB too)
        if resize and image.size != size[::-1]:
            image = image.resize(size[::-1], Image.BILINEAR)
        pixels = np.asarray(image)
        if images is None:
            size = size or pixels.shape[:2]
            images = np.empty((len(items), *size, 3), np.uint8)
        if pixels.shape[:2] != tuple(size):
            raise PrepbenchError(
                f"data.path={path}: {name} is {pixels.shape[1]}x{pixels.shape[0]} but earlier images are "
                f"{size[1]}x{size[0]}; expected one size, or set data.image_size=N to resize to NxN"
            )
        images[i] = pixels
    if images is None:
        images = np.empty((0, *(size or (0, 0)), 3), np.uint8)
    return images
