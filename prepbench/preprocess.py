"""The memo's preprocessing variants, scikit-learn style: `fit` on the training split, `transform` any.

    >>> from prepbench.preprocess import build
    >>> p = build("zca", zca_epsilon=1e-6).fit(x_train)      # x_train: uint8 NHWC
    >>> x = p.transform(x_test)                                # float32 NHWC

Every variant but `raw` first scales pixels to [0, 1], as `ImageDataGenerator(rescale=1/255)`
does before its statistics. Then, with statistics from the training split only:

    none        x
    raw         x * 255 (pixels as floats in 0..255, unscaled)
    minmax      per image: (x - min) / (max - min); a constant image gives 0
    samplewise  per image, over H, W and C: (x - mean) / (std + 1e-6)
    std         per channel, over N, H, W of the training set: (x - mean) / (std + 1e-6), ddof=0
    zca         per-channel centring, flatten to D = H*W*C, then x @ W with
                W = U diag(f) U^T from the eigenpairs (lambda, U) of the training covariance,
                f = 1 / (sqrt(lambda + s * mean(lambda)) + eps / sqrt(n)):
                  eps (zca_epsilon) in IDG's units: s = 0 gives IDG's U diag(sqrt(n) / (sv + eps)) U^T
                  from the SVD of the n x D data, exactly (the memo's ZCA);
                  s (zca_shrinkage) in the spectrum's own units, a fraction of the mean eigenvalue:
                  directions with lambda << s * mean(lambda) are damped, whatever the data's scale.
                zca_retain keeps only the leading components (a count, or a fraction of the variance;
                Krizhevsky 2009); zca_fit_images fits on more images of the training split.

and, before any normalization, per image when `gcn` is a number (Goodfellow et al. 2013's global
contrast normalization): x - mean(x), then scaled to an L2 norm of `gcn` (55 in their pipeline);
a constant image gives 0.

Each normalization is one class (a `Normalization` subclass, registered in NORMALIZATIONS by
being defined); the variants users select are conf/prep/*.yaml, listed by prepbench.variants.

`augment` (training batches only, see `augment_batch`) runs before the normalization, in IDG's
order; `batchnorm` changes the network, not the input. TensorFlow is imported only by the
functions that build tf.data graphs, so fitting and transforming stay cheap to import.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import numpy as np

from prepbench.data.cache import digest, load_arrays, save_arrays
from prepbench.errors import PrepbenchError
from prepbench.rules import check
from prepbench.variants import variant

# ImageDataGenerator's guard against division by zero; part of the formulas above, not a setting.
STD_GUARD = 1e-6
AXES = (1, 2, 3)  # per image: over H, W and C together

# ---- the normalizations: one class each ---------------------------------------------------------

NORMALIZATIONS: dict[str, type[Normalization]] = {}  # by name, in definition order (= report order)


class Normalization:
    """One normalization, as `fit` (on scaled float32 training images, setting the fitted
    attributes listed in `state` on the Preprocessor) and `numpy` / `tf` (scaled images in,
    normalized out). Defining a subclass registers it; a variant that uses it is a conf/prep/*.yaml.
    `ops` is the same with keras.ops on any Keras backend (JAX's augmented batches), the fitted arrays
    given as `s` (tensors already on the device)."""

    name: ClassVar[str]
    unit_scale: ClassVar[bool] = True  # pixels / 255 first
    state: ClassVar[tuple[str, ...]] = ()  # fitted attributes, cached by fit_cached

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        NORMALIZATIONS[cls.name] = cls

    @staticmethod
    def check(p: Preprocessor) -> None:
        """Refuse options this normalization cannot work with."""

    @staticmethod
    def fit(p: Preprocessor, x: np.ndarray) -> None:
        pass

    @staticmethod
    def numpy(p: Preprocessor, x: np.ndarray) -> np.ndarray:
        return x

    @staticmethod
    def tf(p: Preprocessor, x):
        return x

    @staticmethod
    def ops(p: Preprocessor, x, s: dict):
        return x


class Identity(Normalization):
    name = "none"


class Raw(Normalization):
    name = "raw"
    unit_scale = False


class MinMax(Normalization):
    name = "minmax"

    @staticmethod
    def numpy(p, x):
        low, high = x.min(axis=AXES, keepdims=True), x.max(axis=AXES, keepdims=True)
        return (x - low) / np.where(high > low, high - low, 1).astype(np.float32)

    @staticmethod
    def tf(p, x):
        import tensorflow as tf

        low = tf.reduce_min(x, axis=AXES, keepdims=True)
        high = tf.reduce_max(x, axis=AXES, keepdims=True)
        return (x - low) / tf.where(high > low, high - low, 1.0)

    @staticmethod
    def ops(p, x, s):
        from keras import ops

        low, high = ops.min(x, axis=AXES, keepdims=True), ops.max(x, axis=AXES, keepdims=True)
        return (x - low) / ops.where(high > low, high - low, 1.0)


class Samplewise(Normalization):
    name = "samplewise"

    @staticmethod
    def numpy(p, x):
        return (x - x.mean(axis=AXES, keepdims=True)) / (x.std(axis=AXES, keepdims=True) + STD_GUARD)

    @staticmethod
    def tf(p, x):
        import tensorflow as tf

        mean, var = tf.nn.moments(x, axes=AXES, keepdims=True)
        return (x - mean) / (tf.sqrt(var) + STD_GUARD)

    @staticmethod
    def ops(p, x, s):
        from keras import ops

        return (x - ops.mean(x, axis=AXES, keepdims=True)) / (ops.std(x, axis=AXES, keepdims=True) + STD_GUARD)


class Std(Normalization):
    name = "std"
    state = ("mean_", "std_")

    @staticmethod
    def fit(p, x):
        p.mean_, p.std_ = channel_mean_std(x)

    @staticmethod
    def numpy(p, x):
        return ((x - p.mean_) / (p.std_ + STD_GUARD)).astype(np.float32)

    @staticmethod
    def tf(p, x):
        return (x - p.mean_) / (p.std_ + STD_GUARD)

    @staticmethod
    def ops(p, x, s):
        return (x - s["mean_"]) / (s["std_"] + STD_GUARD)


class Zca(Normalization):
    name = "zca"
    state = ("mean_", "components_", "scales_", "whitening_", "n_fit_")

    @staticmethod
    def check(p):
        check("prep.zca_epsilon", p.zca_epsilon)
        check("prep.zca_shrinkage", p.zca_shrinkage)
        check("prep.zca_retain", p.zca_retain)
        check("prep.zca_fit_images", p.zca_fit_images)

    @staticmethod
    def fit(p, x):
        p.mean_ = x.mean(axis=(0, 1, 2), dtype=np.float64).astype(np.float32)
        p.components_, p.scales_ = fit_zca(x - p.mean_, p.zca_epsilon, shrinkage=p.zca_shrinkage, retain=p.zca_retain)
        d = p.components_.shape[0]
        # With a full basis one D x D matrix is cheaper to apply than two thin factors.
        p.whitening_ = (
            # Applied in float32 anyway; the eigenpairs above are where float64 matters.
            (p.components_ * p.scales_).astype(np.float32) @ p.components_.T.astype(np.float32)
            if p.components_.shape[1] == d
            else None
        )

    @staticmethod
    def numpy(p, x):
        flat = (x - p.mean_).reshape(len(x), -1).astype(np.float32)
        return Zca.whiten(p, flat, matmul=np.matmul).reshape(x.shape)

    @staticmethod
    def tf(p, x):
        import tensorflow as tf

        flat = tf.reshape(x - p.mean_, (tf.shape(x)[0], -1))
        return tf.reshape(Zca.whiten(p, flat, matmul=tf.matmul), tf.shape(x))

    @staticmethod
    def ops(p, x, s):
        from keras import ops

        flat = ops.reshape(x - s["mean_"], (ops.shape(x)[0], -1))
        if "whitening_" in s:
            white = ops.matmul(flat, s["whitening_"])
        else:  # low rank, as in `whiten`
            white = ops.matmul(ops.matmul(flat, s["components_"]) * s["scales_"], ops.transpose(s["components_"]))
        return ops.reshape(white, ops.shape(x))

    @staticmethod
    def whiten(p, flat, matmul):
        if p.whitening_ is not None:
            return matmul(flat, p.whitening_.astype(np.float32))
        # Low rank (fitted on fewer images than D): W = U diag(f) U^T without building D x D.
        u = p.components_.astype(np.float32)
        return matmul(matmul(flat, u) * p.scales_.astype(np.float32), u.T)


# ---- a variant: a normalization, optionally with augmentation or batch norm ---------------------


class RankDeficientWarning(UserWarning):
    """ZCA fitted on no more images than dimensions (n <= D = H*W*C): the whitened training images
    are mutually orthogonal, so what a network learns from them does not carry over to new images."""


def zca_rank_deficient(n: int, shape) -> bool:
    """True when n images of `shape` (H, W, C) cannot span their D = H*W*C dimensions."""
    return n <= int(np.prod(shape))


@dataclass
class Preprocessor:
    """One preprocessing variant. Fitted state (`mean_`, `std_`, `whitening_`, ...) exists only
    after `fit`, which must be given the training split alone."""

    normalization: str
    augment: bool = False
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


def build(name: str, *, augment: bool | None = None, **settings) -> Preprocessor:
    """A preprocessor for a variant (prepbench.variants: conf/prep/<name>.yaml); `augment=True` adds
    augmentation to any. `settings` (zca_epsilon, zca_shrinkage, zca_retain, zca_fit_images, gcn)
    override the variant's; those not given take its values in conf/prep/."""
    v = variant(name)
    unknown = set(settings) - set(SETTINGS)
    if unknown:
        raise PrepbenchError(f"build() got {', '.join(sorted(unknown))}; expected settings among {', '.join(SETTINGS)}")
    chosen = {k: v.settings.get(k) for k in SETTINGS} | {k: x for k, x in settings.items() if x is not None}
    return Preprocessor(
        normalization=v.normalization,
        augment=v.augment if augment is None else augment,
        batchnorm=v.batchnorm,
        **chosen,
    )


def from_config(prep_cfg) -> Preprocessor:
    """The preprocessor described by a `prep` config node (conf/prep/*.yaml)."""
    return Preprocessor(
        normalization=prep_cfg.normalization,
        augment=bool(prep_cfg.augment),
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


# ---- the statistics ---------------------------------------------------------------------------


def check_images(x: np.ndarray) -> None:
    if not isinstance(x, np.ndarray) or x.ndim != 4 or x.dtype != np.uint8:
        shape = getattr(x, "shape", None)
        dtype = getattr(x, "dtype", type(x).__name__)
        raise PrepbenchError(f"expected uint8 images of shape (N, H, W, C); got {dtype} of shape {shape}")


def channel_mean_std(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and std (ddof=0) over N, H, W, accumulated in float64 (float32 sums over
    millions of pixels drift by ~1e-4)."""
    mean = x.mean(axis=(0, 1, 2), dtype=np.float64)
    var = np.zeros_like(mean)
    for chunk in np.array_split(x, max(1, len(x) // 4096)):
        var += ((chunk.astype(np.float64) - mean) ** 2).sum(axis=(0, 1, 2))
    std = np.sqrt(var / (x.shape[0] * x.shape[1] * x.shape[2]))
    return mean.astype(np.float32), std.astype(np.float32)


def fit_zca(
    centred: np.ndarray, epsilon: float, *, shrinkage: float | None = None, retain: int | float | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """ZCA factors (U, f) with W = U diag(f) U^T, f = 1 / (sqrt(lambda + s * mean(lambda)) + eps / sqrt(n)).

    `epsilon` is IDG's (added to the singular values of the n x D data, so to sqrt(lambda) as
    eps / sqrt(n)); `shrinkage` s is a fraction of the mean eigenvalue, trace(C) / D, added to every
    eigenvalue (Coates et al. 2011's and pylearn2's regularizer, in units of the data's own spectrum).
    The two meet where (eps / sqrt(n))^2 = s * mean(lambda). `retain` keeps the leading components
    only: an int, that many; a float in (0, 1], the fewest whose eigenvalues hold that fraction of the
    variance (U is then D x k and W projects onto them).

    From the D x D covariance when n >= D, else from the n x n Gram matrix (U = X^T V / s), so a
    single 128x128 image (D = 49,152) never builds a D x D matrix. float64 throughout: the smallest
    eigenvalues of natural images sit ~1e-8 below the largest, under float32's resolution.
    """
    n = len(centred)
    flat = centred.reshape(n, -1)
    eigvals, u = covariance_eigh(flat)
    mean_eigval = eigvals.sum() / flat.shape[1]  # = trace(C) / D, zeros of a rank-deficient C included
    if retain is not None:
        keep = retained_components(eigvals, retain)
        eigvals, u = eigvals[keep], u[:, keep]
    damping = (shrinkage or 0.0) * mean_eigval
    scales = 1.0 / (np.sqrt(eigvals + damping) + epsilon / np.sqrt(n))
    return u, scales


def covariance_eigh(flat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The eigenpairs (lambda ascending, U) of C = X^T X / n for centred n x D data, in float64;
    with n < D only the nonzero ones, from the n x n Gram matrix."""
    import scipy.linalg

    n, d = flat.shape
    if n >= d:
        cov = np.zeros((d, d))
        for chunk in np.array_split(flat, max(1, n // 4096)):
            c = chunk.astype(np.float64)
            cov += c.T @ c
        # LAPACK's MRRR driver (syevr): all eigenpairs to the same accuracy as numpy's syevd,
        # about twice as fast on this 3072 x 3072 problem with 2 cores.
        eigvals, u = scipy.linalg.eigh(cov / n, driver="evr", check_finite=False, overwrite_a=True)
    else:
        x64 = flat.astype(np.float64)
        s2, v = np.linalg.eigh(x64 @ x64.T)  # = s^2, the squared singular values of X
        keep = s2 > s2.max() * 1e-12 if s2.max() > 0 else s2 > 0
        s2, v = s2[keep], v[:, keep]
        u = (x64.T @ v) / np.sqrt(s2)
        eigvals = s2 / n
    return np.clip(eigvals, 0, None), u


def retained_components(eigvals: np.ndarray, retain: int | float) -> np.ndarray:
    """Indices of the leading components: `retain` of them (int), or the fewest whose eigenvalues
    sum to at least the fraction `retain` (float) of the total."""
    order = np.argsort(eigvals)[::-1]
    if isinstance(retain, (int, np.integer)) and not isinstance(retain, bool):
        count = min(int(retain), len(order))
    else:
        cumulative = np.cumsum(eigvals[order]) / max(eigvals.sum(), np.finfo(float).tiny)
        count = int(np.searchsorted(cumulative, float(retain) * (1 - 1e-12)) + 1)
    return np.sort(order[: min(count, len(order))])


# ---- augmentation (TensorFlow, vectorised per batch) ------------------------------------------


def draw_augmentation(seed, batch_size: int, height: int, width: int, params):
    """Per-image random draws for one batch, from a stateless seed (two int32s): angle in radians,
    shifts in pixels, and a flip flag. Same seed, same draws, on any thread."""
    import tensorflow as tf

    seeds = tf.random.experimental.stateless_split(tf.cast(seed, tf.int32), num=4)
    limit = float(np.deg2rad(params.rotation_degrees))
    angle = tf.random.stateless_uniform([batch_size], seeds[0], -limit, limit)
    dx = tf.random.stateless_uniform([batch_size], seeds[1], -1.0, 1.0) * params.shift_fraction * width
    dy = tf.random.stateless_uniform([batch_size], seeds[2], -1.0, 1.0) * params.shift_fraction * height
    coin = tf.random.stateless_uniform([batch_size], seeds[3])
    flip = tf.logical_and(coin < 0.5, bool(params.horizontal_flip))
    return angle, dx, dy, flip


def augment_batch(images, seed, params):
    """The memo's augmentation on a float32 NHWC batch in one vectorised op: rotation about the
    centre, shift, horizontal flip, bilinear sampling and `params.fill_mode` fill, as IDG does."""
    import tensorflow as tf

    shape = tf.shape(images)
    b, h, w = shape[0], shape[1], shape[2]
    angle, dx, dy, flip = draw_augmentation(seed, b, tf.cast(h, tf.float32), tf.cast(w, tf.float32), params)
    cx, cy = (tf.cast(w, tf.float32) - 1) / 2, (tf.cast(h, tf.float32) - 1) / 2
    f = tf.where(flip, -1.0, 1.0)
    u0 = (1 - f) * cx  # flipping maps output column x to input column (w - 1) - x
    cos, sin = tf.cos(angle), tf.sin(angle)
    # Output pixel (x, y) reads input (a0 x + a1 y + a2, b0 x + b1 y + b2): flip, rotate, shift.
    transforms = tf.stack(
        [
            cos * f,
            -sin,
            cos * (u0 - cx) + sin * cy + cx - dx,
            sin * f,
            cos,
            sin * (u0 - cx) - cos * cy + cy - dy,
            tf.zeros_like(cos),
            tf.zeros_like(cos),
        ],
        axis=1,
    )
    return tf.raw_ops.ImageProjectiveTransformV3(
        images=images,
        transforms=transforms,
        output_shape=shape[1:3],
        fill_value=0.0,
        interpolation="BILINEAR",
        fill_mode=params.fill_mode.upper(),
    )
