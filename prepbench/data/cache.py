"""Caches: arrays on disk (written atomically, verified on read, rebuilt when damaged), and the
arrays that the jobs run by one process share in memory (JobCache)."""

from __future__ import annotations

import hashlib
import logging
import zipfile
from collections import OrderedDict
from collections.abc import Callable, Hashable
from pathlib import Path

import numpy as np

from prepbench.io import atomic_write

log = logging.getLogger(__name__)


def save_arrays(path: Path, **arrays: np.ndarray) -> None:
    """Write `arrays` to `path` (.npz) atomically (prepbench.io), so a crash never leaves a
    half-written cache under the real name."""
    with atomic_write(path, "wb") as f:
        np.savez(f, **arrays)


def load_arrays(path: Path) -> dict[str, np.ndarray] | None:
    """Every array of a cache file, or None when it is absent or damaged (then it is removed, so
    the caller rebuilds it). np.savez stores a CRC per array, so reading all of it verifies it."""
    path = Path(path)
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as npz:
            return {name: npz[name] for name in npz.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zipfile.LargeZipFile) as err:
        log.warning("cache file %s is damaged (%s); rebuilding it", path, err)
        path.unlink(missing_ok=True)
        return None


def digest(*parts: object) -> str:
    """A short, stable hex key for cache file names and fingerprints."""
    h = hashlib.sha256()
    for part in parts:
        h.update(repr(part).encode() if not isinstance(part, bytes) else part)
        h.update(b"\0")
    return h.hexdigest()[:16]


class JobCache:
    """What the jobs run by one process share in memory: the decoded data sets, by data config,
    and the preprocessed splits, by (data fingerprint, variant). A sweep's jobs come grouped by
    variant (seeds and nets vary fastest), so each variant is transformed once per sweep, not once
    per job, and the data set is decoded once. Each map keeps the `keep` (2) most recently used
    entries: a data set or a variant's splits can take gigabytes, and one more than the current
    one is all that a sweep's order reuses.

    Whoever runs the jobs owns it (the Hydra app, per process; a benchmark; a script) and hands it
    to each job; code given None instead computes without caching."""

    def __init__(self, keep: int = 2):
        self.keep = keep
        self._splits: OrderedDict = OrderedDict()
        self._prepared: OrderedDict = OrderedDict()

    def splits(self, key: Hashable, load: Callable):
        """The data set cached under `key` (its resolved data config), or `load()`, kept."""
        return self._get(self._splits, key, load)

    def prepared(self, key: Hashable, make: Callable):
        """The preprocessed splits cached under `key`, or `make()`, kept."""
        return self._get(self._prepared, key, make)

    def _get(self, entries: OrderedDict, key: Hashable, make: Callable):
        if key in entries:
            entries.move_to_end(key)
            return entries[key]
        while len(entries) >= self.keep:  # before making the new one: `keep` held, it included
            entries.popitem(last=False)
        entries[key] = value = make()
        return value
