"""Data sources -> uint8 NHWC arrays, int64 labels and class names, split into train/val/test.

Three sources (conf/data/*.yaml): the official CIFAR-10 python archive (`cifar10`), an image-folder
tree in a directory or .zip (`folder`) and generated images (`synthetic`). Decoded arrays are cached
in `<cache_dir>/data/<key>.npz`, the key derived from the source's content and `image_size`; the
split is cheap and recomputed on every load. TensorFlow is deliberately not imported here.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import pickle
import tarfile
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np
from PIL import Image, UnidentifiedImageError

from prepbench.cache import digest, load_arrays, save_arrays
from prepbench.errors import PrepbenchError
from prepbench.io import write_text
from prepbench.rules import check

log = logging.getLogger(__name__)

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
# Bump when decoding changes, so caches written by older code are not reused.
CACHE_FORMAT = 1
CACHE_ARRAYS = ("x_train", "y_train", "x_test", "y_test", "class_names")


@dataclass(frozen=True)
class Splits:
    """The three splits as uint8 NHWC images and int64 labels, plus what identifies them.

    Each split is in an order fixed by split_seed with classes mixed, never grouped by class,
    so a prefix such as `x_train[:1000]` is a fair sample.
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: tuple[str, ...]
    fingerprint: str  # 16 hex chars of content key + split settings
    # Every image of the training split (what validation left), x_train's first: statistics such as
    # ZCA's may be fitted on more of it than the network trains on (prep.zca_fit_images).
    x_pool: np.ndarray | None = None

    def fit_images(self, count: int | None) -> np.ndarray:
        """The first `count` images of the training split, the training images among them; None: x_train."""
        if count is None:
            return self.x_train
        pool = self.x_train if self.x_pool is None else self.x_pool
        if not len(self.x_train) <= count <= len(pool):
            raise PrepbenchError(
                f"prep.zca_fit_images={count} is out of range; expected from the {len(self.x_train)} training images "
                f"to the {len(pool)} images of the training split (data.val_size excluded)"
            )
        return pool[:count]


@dataclass(frozen=True)
class Decoded:
    """A source's full train and test splits before carving out validation or subsets."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: tuple[str, ...]
    content_key: str  # identifies the source content and image_size; names the cache file


def load_splits(data_cfg) -> Splits:
    """Load the source named by `data_cfg.source` (decoding once, then from cache) and split it."""
    cfg = config_as_dict(data_cfg)
    source = require(cfg, "source")
    if source == "cifar10":
        decoded = load_cifar10(cfg)
    elif source == "folder":
        decoded = load_folder(cfg)
    elif source == "synthetic":
        decoded = make_synthetic(cfg)
    else:
        raise PrepbenchError(f"data.source={source!r} is unknown; expected cifar10, folder or synthetic")
    return split(decoded, cfg)


# ---------------------------------------------------------------- config


def config_as_dict(data_cfg) -> dict:
    """A plain dict from a DictConfig (interpolations such as ${cache_dir} resolved) or a dict."""
    from omegaconf import DictConfig, OmegaConf

    if isinstance(data_cfg, DictConfig):
        return OmegaConf.to_container(data_cfg, resolve=True, throw_on_missing=False)
    if isinstance(data_cfg, dict):
        return dict(data_cfg)
    raise PrepbenchError(f"data config is a {type(data_cfg).__name__}; expected a DictConfig or dict")


def require(cfg: dict, key: str):
    """cfg[key], refusing a missing or unset ('???') value with the key's name."""
    value = cfg.get(key)
    if value is None or value == "???":
        raise PrepbenchError(f"data.{key} is not set; expected it in the data config (see conf/data/)")
    return value


def count_setting(cfg: dict, key: str, allow_null: bool) -> int | None:
    """A non-negative int setting of the synthetic source; null only where allowed."""
    value = cfg.get(key)
    if value is None and allow_null:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        expected = "a non-negative integer or null" if allow_null else "a non-negative integer"
        raise PrepbenchError(f"data.{key}={value!r} is invalid; expected {expected}")
    return value


def setting(cfg: dict, key: str):
    """A split setting (val_size, train_size, test_size, split_seed, image_size), checked by its
    one rule in prepbench.rules.RULES."""
    value = cfg.get(key)
    check(f"data.{key}", value)
    return value


def image_size_setting(cfg: dict) -> int | None:
    return setting(cfg, "image_size")


# ---------------------------------------------------------------- splitting


def split(decoded: Decoded, cfg: dict) -> Splits:
    """Carve a stratified validation set out of train, then stratified train/test subsets."""
    val_size = setting(cfg, "val_size")
    train_size = setting(cfg, "train_size")
    test_size = setting(cfg, "test_size")
    split_seed = setting(cfg, "split_seed")

    n_train = len(decoded.y_train)
    if val_size > n_train:
        raise PrepbenchError(
            f"data.val_size={val_size} is larger than the {n_train} training images; expected at most {n_train}"
        )
    # Separate streams so that changing train_size or test_size never moves the validation set.
    val_idx, rest_idx = stratified_pick(decoded.y_train, np.arange(n_train), val_size, rng_for(split_seed, 0))
    pool_idx = rest_idx
    if train_size is not None:
        if train_size > len(rest_idx):
            raise PrepbenchError(
                f"data.train_size={train_size} is larger than the {len(rest_idx)} training images left "
                f"after data.val_size={val_size}; expected at most {len(rest_idx)}"
            )
        rest_idx, _ = stratified_pick(decoded.y_train, rest_idx, train_size, rng_for(split_seed, 1))
    n_test = len(decoded.y_test)
    if test_size is not None and test_size > n_test:
        raise PrepbenchError(
            f"data.test_size={test_size} is larger than the {n_test} test images; expected at most {n_test}"
        )
    # All of test is "picked" too when test_size is null: every split comes out in the same kind of order.
    test_idx, _ = stratified_pick(
        decoded.y_test, np.arange(n_test), n_test if test_size is None else test_size, rng_for(split_seed, 2)
    )

    check_every_class_trains(decoded, rest_idx, cfg)
    fingerprint = digest(decoded.content_key, val_size, train_size, test_size, split_seed)
    return Splits(
        x_train=decoded.x_train[rest_idx],
        y_train=decoded.y_train[rest_idx],
        x_val=decoded.x_train[val_idx],
        y_val=decoded.y_train[val_idx],
        x_test=decoded.x_test[test_idx],
        y_test=decoded.y_test[test_idx],
        class_names=decoded.class_names,
        fingerprint=fingerprint,
        # Only when it holds more than x_train: a copy of the split per cached data set otherwise.
        x_pool=None if len(pool_idx) == len(rest_idx) else decoded.x_train[pool_order(rest_idx, pool_idx)],
    )


def pool_order(train_idx: np.ndarray, pool_idx: np.ndarray) -> np.ndarray:
    """The training split's indices with the training subset first, in its order, then the rest."""
    return np.concatenate([train_idx, pool_idx[~np.isin(pool_idx, train_idx)]])


def check_every_class_trains(decoded: Decoded, train_idx: np.ndarray, cfg: dict) -> None:
    """A class without training images can only be guessed: refuse before anything trains."""
    classes = len(decoded.class_names)
    present = np.unique(decoded.y_train[train_idx])
    if len(present) == classes:
        return
    missing = [decoded.class_names[c] for c in range(classes) if c not in set(present.tolist())]
    where = (
        f"data.train_size={cfg['train_size']}"
        if cfg.get("train_size") is not None
        else f"the {len(decoded.y_train)} training images less data.val_size={cfg.get('val_size')}"
    )
    listed = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
    raise PrepbenchError(
        f"{where} leaves {len(train_idx)} training image(s) for {classes} classes, none of class {listed}; "
        f"expected at least one training image per class (train_size >= {classes})"
    )


def rng_for(split_seed: int, stream: int) -> np.random.Generator:
    return np.random.default_rng([split_seed, stream])


def stratified_pick(labels: np.ndarray, candidates: np.ndarray, count: int, rng: np.random.Generator):
    """Pick `count` of `candidates` with class proportions kept; returns (picked, remaining), both shuffled.

    Per-class quotas are proportional, rounded by largest remainder so they sum to `count` exactly.
    """
    candidate_labels = labels[candidates]
    classes, class_counts = np.unique(candidate_labels, return_counts=True)
    exact = count * class_counts / max(len(candidates), 1)
    quotas = np.floor(exact).astype(int)
    shortfall = count - quotas.sum()
    # Stable sort: ties go to the lower class index, so the allocation is deterministic.
    quotas[np.argsort(-(exact - quotas), kind="stable")[:shortfall]] += 1
    picked, remaining = [], []
    for cls, quota in zip(classes, quotas):
        members = rng.permutation(candidates[candidate_labels == cls])
        picked.append(members[:quota])
        remaining.append(members[quota:])
    picked = rng.permutation(np.concatenate(picked)) if picked else np.empty(0, np.int64)
    remaining = rng.permutation(np.concatenate(remaining)) if remaining else np.empty(0, np.int64)
    return picked, remaining


# ---------------------------------------------------------------- decoded-array cache


def cache_path(cfg: dict, content_key: str) -> Path:
    return Path(require(cfg, "cache_dir")) / "data" / f"{content_key}.npz"


def read_cache(path: Path) -> Decoded | None:
    """The cached arrays, or None if absent or damaged (a damaged file is deleted and rebuilt)."""
    arrays = load_arrays(path)
    if arrays is None:
        return None
    if set(CACHE_ARRAYS) - set(arrays) or len(arrays["x_train"]) != len(arrays["y_train"]):
        log.warning("data cache %s is incomplete; decoding the source again", path)
        path.unlink(missing_ok=True)
        return None
    return Decoded(
        x_train=arrays["x_train"],
        y_train=arrays["y_train"],
        x_test=arrays["x_test"],
        y_test=arrays["y_test"],
        class_names=tuple(str(name) for name in arrays["class_names"]),
        content_key=path.stem,
    )


def write_cache(path: Path, decoded: Decoded) -> None:
    save_arrays(
        path,
        x_train=decoded.x_train,
        y_train=decoded.y_train,
        x_test=decoded.x_test,
        y_test=decoded.y_test,
        class_names=np.array(decoded.class_names, dtype=str),
    )


def cached_or_decoded(cfg: dict, key: str, decode) -> Decoded:
    """Read `<cache_dir>/data/<key>.npz`, or call `decode()` and cache its result."""
    path = cache_path(cfg, key)
    decoded = read_cache(path)
    if decoded is None:
        x_train, y_train, x_test, y_test, class_names = decode()
        decoded = Decoded(x_train, y_train, x_test, y_test, tuple(class_names), key)
        write_cache(path, decoded)
    return decoded


def content_key(source: str, content_hash: str, image_size: int | None) -> str:
    return f"{source}-{content_hash[:16]}-size{image_size or 'orig'}-v{CACHE_FORMAT}"


# ---------------------------------------------------------------- content hashes


def file_digests(path: Path, cache_dir: Path) -> dict:
    """md5 and sha256 of a file, remembered by (path, size, mtime) so unchanged files are hashed once."""
    stat = path.stat()
    memo = cache_dir / "digests" / f"{digest(str(path.resolve()), stat.st_size, stat.st_mtime_ns)}.json"
    if memo.exists():
        try:
            return json.loads(memo.read_text())
        except ValueError:
            pass  # a damaged memo is simply recomputed
    md5, sha256 = hashlib.md5(), hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            md5.update(chunk)
            sha256.update(chunk)
    digests = {"md5": md5.hexdigest(), "sha256": sha256.hexdigest()}
    write_text(memo, json.dumps(digests))
    return digests


def directory_hash(files: list[Path], root: Path, cache_dir: Path) -> str:
    """Hash over relative paths and bytes, remembered by the files' paths, sizes and mtimes."""
    stats = []
    for f in files:
        stat = f.stat()
        stats.append((f.relative_to(root).as_posix(), stat.st_size, stat.st_mtime_ns))
    memo = cache_dir / "digests" / f"dir-{digest(str(root.resolve()), stats)}.txt"
    if memo.exists():
        return memo.read_text().strip()
    content = hashlib.sha256()
    for f in files:
        content.update(f.relative_to(root).as_posix().encode() + b"\0")
        content.update(f.read_bytes())
    write_text(memo, content.hexdigest())
    return content.hexdigest()


# ---------------------------------------------------------------- source: cifar10


def load_cifar10(cfg: dict) -> Decoded:
    """The official python archive: downloaded once into <cache_dir>/downloads/, decoded once."""
    cache_dir = Path(require(cfg, "cache_dir"))
    image_size = image_size_setting(cfg)
    archive = download(require(cfg, "url"), require(cfg, "md5"), cache_dir)
    sha256 = file_digests(archive, cache_dir)["sha256"]
    return cached_or_decoded(
        cfg, content_key("cifar10", sha256, image_size), lambda: decode_cifar10(archive, image_size)
    )


def download(url: str, md5: str, cache_dir: Path) -> Path:
    """Fetch `url` into <cache_dir>/downloads/ unless a copy with the expected md5 is already there."""
    target = cache_dir / "downloads" / PurePosixPath(urllib.parse.urlparse(url).path).name
    if target.exists():
        if file_digests(target, cache_dir)["md5"] == md5:
            return target  # no network needed
        log.warning("%s does not have md5 %s (data.md5); downloading it again", target, md5)
        target.unlink(missing_ok=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    log.info("downloading %s to %s", url, target)
    digest = hashlib.md5()
    with tempfile.NamedTemporaryFile(dir=target.parent, suffix=".part", delete=False) as tmp:
        try:
            with urllib.request.urlopen(url) as response:
                while chunk := response.read(1 << 20):
                    digest.update(chunk)
                    tmp.write(chunk)
        except (urllib.error.URLError, OSError, ValueError) as error:
            tmp.close()
            os.unlink(tmp.name)
            reason = getattr(error, "reason", error)
            raise PrepbenchError(
                f"cannot download data.url={url} ({reason}); expected a reachable CIFAR-10 python archive "
                f"(or a copy at {target}), or use your own images: data=folder data.path=DIR_OR_ZIP"
            ) from None
    if digest.hexdigest() != md5:
        os.unlink(tmp.name)
        raise PrepbenchError(f"data.url={url} downloaded with md5 {digest.hexdigest()}; expected data.md5={md5}")
    os.replace(tmp.name, target)
    return target


def decode_cifar10(archive: Path, image_size: int | None):
    """Parse data_batch_1..5, test_batch and batches.meta; rows are 3072 bytes in CHW order."""
    batches = {}
    try:
        with tarfile.open(archive, "r:*") as tar:
            for member in tar.getmembers():
                name = PurePosixPath(member.name).name
                if member.isfile() and (name.startswith("data_batch_") or name in ("test_batch", "batches.meta")):
                    # The official archive is pickled by Python 2: keys and strings come back as bytes.
                    batches[name] = pickle.load(tar.extractfile(member), encoding="bytes")
    except (tarfile.TarError, OSError, pickle.UnpicklingError, EOFError) as error:
        raise PrepbenchError(f"{archive} cannot be read ({error}); expected the CIFAR-10 python archive") from None
    wanted = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch", "batches.meta"]
    missing = [name for name in wanted if name not in batches]
    if missing:
        raise PrepbenchError(f"{archive} lacks {', '.join(missing)}; expected the CIFAR-10 python archive")

    def images_and_labels(names):
        data = np.concatenate([np.asarray(batches[n][b"data"], dtype=np.uint8) for n in names])
        labels = np.concatenate([np.asarray(batches[n][b"labels"], dtype=np.int64) for n in names])
        images = data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
        return np.ascontiguousarray(resize_all(images, image_size)), labels

    x_train, y_train = images_and_labels(wanted[:5])
    x_test, y_test = images_and_labels(["test_batch"])
    class_names = [n.decode() for n in batches["batches.meta"][b"label_names"]]
    return x_train, y_train, x_test, y_test, class_names


def resize_all(images: np.ndarray, image_size: int | None) -> np.ndarray:
    """Resize NHWC uint8 images to image_size x image_size with PIL bilinear (as the folder source does)."""
    if image_size is None or images.shape[1:3] == (image_size, image_size):
        return images
    resized = np.empty((len(images), image_size, image_size, 3), np.uint8)
    for i, image in enumerate(images):
        resized[i] = np.asarray(Image.fromarray(image).resize((image_size, image_size), Image.BILINEAR))
    return resized


# ---------------------------------------------------------------- source: folder


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


# ---------------------------------------------------------------- source: synthetic


def make_synthetic(cfg: dict) -> Decoded:
    """Per-class colour and oriented-stripe templates plus noise: learnable, deterministic, cheap (not cached)."""
    counts = ("num_classes", "train_images", "test_images", "size", "generator_seed")
    settings = {key: count_setting(cfg, key, allow_null=False) for key in counts}
    settings["noise"] = require(cfg, "noise")
    for key in ("num_classes", "size"):
        if settings[key] < 1:
            raise PrepbenchError(f"data.{key}={settings[key]} is invalid; expected a positive integer")
    image_size = image_size_setting(cfg)
    rng = np.random.default_rng(settings["generator_seed"])
    num_classes, size = settings["num_classes"], settings["size"]
    colours = rng.uniform(0.25, 0.75, size=(num_classes, 3))
    angles = np.pi * np.arange(num_classes) / num_classes  # one stripe orientation per class
    rows, cols = np.mgrid[0:size, 0:size] / size

    def generate(count):
        labels = np.arange(count) % num_classes  # balanced classes
        labels = rng.permutation(labels)
        phases = rng.uniform(0, 2 * np.pi, count)  # stripes shift per image, so position alone says nothing
        along = np.cos(angles[labels])[:, None, None] * cols + np.sin(angles[labels])[:, None, None] * rows
        stripes = 0.2 * np.sin(2 * np.pi * 3 * along + phases[:, None, None])
        # Per-image colour jitter: colour is a strong cue but not a perfect one, so stripes matter too.
        tints = colours[labels] + 0.1 * rng.standard_normal((count, 3))
        images = tints[:, None, None, :] + stripes[..., None]
        images = images + settings["noise"] * rng.standard_normal(images.shape)
        pixels = np.clip(np.round(images * 255), 0, 255).astype(np.uint8)
        return resize_all(pixels, image_size), labels.astype(np.int64)

    x_train, y_train = generate(settings["train_images"])
    x_test, y_test = generate(settings["test_images"])
    class_names = tuple(f"class_{i}" for i in range(num_classes))
    key = content_key("synthetic", digest(settings), image_size)
    return Decoded(x_train, y_train, x_test, y_test, class_names, key)


def main(argv=None) -> int:
    """`python -m prepbench.data data=folder data.path=PATH ...`: load a data set as a job would
    (decoding it, or reading the cache) and say how long it took and what came out."""
    import sys
    import time

    from prepbench.config import compose

    overrides = list(sys.argv[1:] if argv is None else argv)
    if {"-h", "--help"} & set(overrides):
        print(
            "usage: python -m prepbench.data [KEY=VALUE ...]   (the app's data settings, e.g. "
            "data=folder data.path=PATH.zip data.train_size=5000)"
        )
        return 0
    try:
        cfg = compose(overrides)
        start = time.perf_counter()
        splits = load_splits(cfg.data)
    except PrepbenchError as err:
        print(f"error: {str(err).splitlines()[0]}", file=sys.stderr)
        return 2
    seconds = time.perf_counter() - start
    print(
        f"{cfg.data.source}: {len(splits.y_train):,} train / {len(splits.y_val):,} val / {len(splits.y_test):,} test "
        f"images of {splits.x_train.shape[1:]}, {len(splits.class_names)} classes, fingerprint {splits.fingerprint}, "
        f"loaded in {seconds:.2f} s (cache: {cfg.data.cache_dir})"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
