"""A source's decoded arrays (Decoded), cached in `<cache_dir>/data/<key>.npz` under a key derived
from the source's content (the hashes below, remembered by path, size and mtime) and `image_size`."""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from prepbench.data.cache import digest, load_arrays, save_arrays
from prepbench.data.settings import require
from prepbench.io import write_text

log = logging.getLogger(__name__)

# Bump when decoding changes, so caches written by older code are not reused.
CACHE_FORMAT = 1
CACHE_ARRAYS = ("x_train", "y_train", "x_test", "y_test", "class_names")


@dataclass(frozen=True)
class Decoded:
    """A source's full train and test splits before carving out validation or subsets."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: tuple[str, ...]
    content_key: str  # identifies the source content and image_size; names the cache file


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
