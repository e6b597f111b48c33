"""Arrays cached on disk: written atomically, verified on read, rebuilt when damaged."""

from __future__ import annotations

import hashlib
import logging
import zipfile
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
