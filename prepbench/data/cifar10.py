"""The official CIFAR-10 python archive: downloaded once into <cache_dir>/downloads/ (checked against
its md5), decoded once into the cache."""

from __future__ import annotations

import hashlib
import logging
import os
import pickle
import tarfile
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path, PurePosixPath

import numpy as np
from PIL import Image

from prepbench.data.decoded import Decoded, cached_or_decoded, content_key, file_digests
from prepbench.data.settings import image_size_setting, require
from prepbench.errors import PrepbenchError

log = logging.getLogger(__name__)


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
