"""The normalizations, one class each: defining a `Normalization` subclass registers it in
NORMALIZATIONS, in definition order, which is the report's order."""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from prepbench.prep.zca import fit_zca
from prepbench.rules import check

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
    given as `s` (tensors already on the device). `p` is the Preprocessor that holds the settings and
    the fitted state."""

    name: ClassVar[str]
    unit_scale: ClassVar[bool] = True  # pixels / 255 first
    state: ClassVar[tuple[str, ...]] = ()  # fitted attributes, cached by fit_cached

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        NORMALIZATIONS[cls.name] = cls

    @staticmethod
    def check(p) -> None:
        """Refuse options this normalization cannot work with."""

    @staticmethod
    def fit(p, x: np.ndarray) -> None:
        pass

    @staticmethod
    def numpy(p, x: np.ndarray) -> np.ndarray:
        return x

    @staticmethod
    def tf(p, x):
        return x

    @staticmethod
    def ops(p, x, s: dict):
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


def channel_mean_std(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and std (ddof=0) over N, H, W, accumulated in float64 (float32 sums over
    millions of pixels drift by ~1e-4)."""
    mean = x.mean(axis=(0, 1, 2), dtype=np.float64)
    var = np.zeros_like(mean)
    for chunk in np.array_split(x, max(1, len(x) // 4096)):
        var += ((chunk.astype(np.float64) - mean) ** 2).sum(axis=(0, 1, 2))
    std = np.sqrt(var / (x.shape[0] * x.shape[1] * x.shape[2]))
    return mean.astype(np.float32), std.astype(np.float32)
