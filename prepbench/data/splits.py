"""The three splits (Splits) of a data set, and `load_splits`: the source named by data.source,
decoded once, then split: validation carved out of the training split, stratified by class, with
data.split_seed; then stratified subsets of what remains and of the test split."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from prepbench.data.cache import digest
from prepbench.data.cifar10 import load_cifar10
from prepbench.data.decoded import Decoded
from prepbench.data.folder import load_folder
from prepbench.data.settings import config_as_dict, require, setting
from prepbench.data.synthetic import make_synthetic
from prepbench.errors import PrepbenchError


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
