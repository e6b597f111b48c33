"""One preprocessing variant as a Preprocessor: a normalization, optionally with augmentation or
batch normalization, fitted on the training split and applied to any; its fitted state cached."""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from prepbench.data.cache import digest, load_arrays, save_arrays
from prepbench.errors import PrepbenchError
from prepbench.prep.normalizations import AXES, NORMALIZATIONS, Normalization
from prepbench.prep.zca import RankDeficientWarning, zca_rank_deficient
from prepbench.rules import check


@dataclass
class Preprocessor:
    """One preprocessing variant. Fitted state (`mean_`, `std_`, `whitening_`, ...) exists only
    after `fit`, which must be given the training split alone."""

    normalization: str
    augment: bool | str = False  # true: the memo's augmentation; "crop": He et al.'s (prepbench.prep.augment)
    batchnorm: bool = False
    zca_epsilon: float | None = None
    zca_shrinkage: float | None = None  # None or 0: IDG's ZCA; else s of f = 1 / sqrt(lambda + s * mean(lambda))
    zca_retain: int | float | None = None  # None: every component; int: that many; float: that variance
    zca_fit_images: int | None = None  # None: fit on the images given; the job gives more of the split
    gcn: float | None = None  # None: off; else each image centred and scaled to this L2 norm
    fitted_: bool = field(default=False, init=False, repr=False)
    # zca: fitted on n <= D images (see RankDeficientWarning); recorded on the job's run.
    rank_deficient_: bool = field(default=False, init=False, repr=False)

    def __post_init__(self):
        if self.normalization not in NORMALIZATIONS:
            raise PrepbenchError(
                f"prep.normalization={self.normalization!r} is unknown; expected one of {', '.join(NORMALIZATIONS)}"
            )
        check("prep.augment", self.augment)
        if self.gcn is not None:
            check("prep.gcn", self.gcn)
        self.method.check(self)

    @property
    def method(self) -> type[Normalization]:
        return NORMALIZATIONS[self.normalization]

    @property
    def needs_fit(self) -> bool:
        return bool(self.method.state)

    # ---- fitting ------------------------------------------------------------------------------

    def fit(self, x_train: np.ndarray) -> Preprocessor:
        """Learn the training split's statistics (a no-op for per-image variants)."""
        x = self.scale(x_train)
        if self.normalization == "zca":
            self._note_rank(len(x), x.shape[1:])
        self.method.fit(self, self.contrast(x, np))
        self.fitted_ = True
        return self

    def state(self) -> dict[str, np.ndarray]:
        """The fitted arrays, for caching."""
        return {n: getattr(self, n) for n in self.method.state if getattr(self, n) is not None}

    def load_state(self, arrays: dict[str, np.ndarray]) -> Preprocessor:
        for name in self.method.state:
            setattr(self, name, arrays.get(name))
        if arrays.get("n_fit_") is not None:  # zca: the same warning as at fit time
            self._note_rank(int(arrays["n_fit_"]), self.components_.shape[0])
        self.fitted_ = True
        return self

    def _note_rank(self, n: int, shape) -> None:
        self.n_fit_ = np.int64(n)
        self.rank_deficient_ = zca_rank_deficient(n, shape)
        if self.rank_deficient_:
            d = int(np.prod(shape))
            warnings.warn(
                f"ZCA fitted on {n} images of {d} values each (n <= D): the whitened training images are "
                "orthogonal and a network trained on them falls to chance on new images; use more training "
                "images than H*W*C, or a smaller data.image_size",
                RankDeficientWarning,
                stacklevel=3,
            )

    # ---- transforming -------------------------------------------------------------------------

    def scale(self, x: np.ndarray) -> np.ndarray:
        """uint8 NHWC to float32: x / 255, or unscaled floats for `raw`."""
        check_images(x)
        x = x.astype(np.float32)
        return x * np.float32(1 / 255) if self.method.unit_scale else x

    def transform(self, x: np.ndarray) -> np.ndarray:
        """uint8 NHWC in, float32 NHWC out."""
        return self.normalize(self.scale(x))

    def normalize(self, x: np.ndarray) -> np.ndarray:
        """The normalization alone, on scaled float32 images (numpy)."""
        self._check_fitted()
        return self.method.numpy(self, self.contrast(x, np)).astype(np.float32, copy=False)

    def normalize_tf(self, x):
        """`normalize` as TensorFlow ops, for batches augmented inside tf.data."""
        import tensorflow as tf

        self._check_fitted()
        return self.method.tf(self, self.contrast(x, tf.experimental.numpy))

    def normalize_ops(self, x, state: dict | None = None):
        """`normalize` as keras.ops, for batches augmented on the device on any Keras backend.
        `state` replaces the fitted arrays (`state()`), e.g. with tensors already on the device."""
        self._check_fitted()
        from keras import ops

        s = {k: v.astype(np.float32) for k, v in self.state().items()} | dict(state or {})
        return self.method.ops(self, self.contrast(x, ops), s)

    def contrast(self, x, xp):
        """Global contrast normalization when `gcn` is set (else x unchanged): per image, x - mean,
        then x * gcn / ||x||_2 over H, W and C; a constant image (norm under GCN_MIN_NORM) gives 0.
        `xp` is the array namespace: numpy, tf.experimental.numpy or keras.ops."""
        if self.gcn is None:
            return x
        centred = x - xp.mean(x, axis=AXES, keepdims=True)
        norm = xp.sqrt(xp.sum(centred * centred, axis=AXES, keepdims=True))
        return centred * xp.where(norm < GCN_MIN_NORM, 0.0, self.gcn / xp.maximum(norm, GCN_MIN_NORM))

    def _check_fitted(self):
        if self.needs_fit and not self.fitted_:
            raise PrepbenchError(
                f"the {self.normalization} preprocessor is not fitted; call fit(x_train) before transform"
            )

    def cache_key(self, data_fingerprint: str) -> str:
        # Options at their pre-existing defaults stay out, so statistics cached before they existed hold.
        extra = [
            (k, v)
            for k, v in (
                ("zca_shrinkage", self.zca_shrinkage or None),
                ("zca_retain", self.zca_retain),
                ("zca_fit_images", self.zca_fit_images),
                ("gcn", self.gcn),
            )
            if v is not None
        ]
        return digest(data_fingerprint, self.normalization, self.zca_epsilon, FIT_VERSION, *extra)


# Bump when the fitting code changes what it computes: cached statistics of an older version are then
# refitted instead of silently reused.
FIT_VERSION = 2
# A constant image is set to 0, never divided by ~0 (pylearn2's min_divisor): float32's rounding of
# its mean leaves a norm of ~1e-8, and one grey level (1/255) in one pixel is already 4e-3.
GCN_MIN_NORM = 1e-4
SETTINGS = ("zca_epsilon", "zca_shrinkage", "zca_retain", "zca_fit_images", "gcn")  # prep.* a Preprocessor takes


def from_config(prep_cfg) -> Preprocessor:
    """The preprocessor described by a `prep` config node (conf/prep/*.yaml)."""
    return Preprocessor(
        normalization=prep_cfg.normalization,
        augment=prep_cfg.augment,
        batchnorm=bool(prep_cfg.batchnorm),
        **{k: prep_cfg.get(k) for k in SETTINGS},
    )


def fit_cached(p: Preprocessor, x_train: np.ndarray, data_fingerprint: str, cache_dir) -> float:
    """Fit `p`, or load its statistics fitted earlier on the same training data with the same
    options, so a sweep fits ZCA once per data set. Returns the seconds spent."""
    start = time.perf_counter()
    if not p.needs_fit:
        p.fit(x_train[:0])
        return 0.0
    path = Path(cache_dir) / "prep" / f"{p.normalization}-{p.cache_key(data_fingerprint)}.npz"
    state = load_arrays(path)
    if state is not None:
        p.load_state(state)
    else:
        save_arrays(path, **p.fit(x_train).state())
    return time.perf_counter() - start


def check_images(x: np.ndarray) -> None:
    if not isinstance(x, np.ndarray) or x.ndim != 4 or x.dtype != np.uint8:
        shape = getattr(x, "shape", None)
        dtype = getattr(x, "dtype", type(x).__name__)
        raise PrepbenchError(f"expected uint8 images of shape (N, H, W, C); got {dtype} of shape {shape}")
