"""The memo's computations: plain functions on numpy arrays (the tests call them on small synthetic
images). TensorFlow is imported only for augmentation, the batch-norm network and the IDG check."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from prepbench.prep.preprocessor import fit_cached
from prepbench.variants import build

MEMO_SIZE = 128  # the memo shrank its image to 128x128 before ZCA
EPSILONS = (1e-6, 1e-3, 1e-1)
# The Gram route needs a few D-long float64 vectors; past this the native-size run is skipped.
MAX_NATIVE_VALUES = 4_000_000
IDG_SIZE = 16  # ImageDataGenerator builds a D x D matrix: cross-check it on a 16x16 copy (D = 768)


def minmax_demo(image: np.ndarray) -> dict:
    """Section 1: the memo's min-max stretch (prepbench's `minmax`) on one uint8 HxWxC image."""
    out = build("minmax").transform(image[None])[0]
    return dict(
        output=out,
        minmax_input_min=int(image.min()),
        minmax_input_max=int(image.max()),
        minmax_output_min=float(out.min()),
        minmax_output_max=float(out.max()),
    )


def samplewise_demo(image: np.ndarray) -> dict:
    """Section 2: samplewise standardization; std and mean over all three channels together,
    in float32 as the memo's `np.std(d[0])` was."""
    out = build("samplewise").transform(image[None])[0]
    return dict(
        output=out,
        samplewise_std=float(np.std(out)),
        samplewise_mean=float(np.mean(out)),
        samplewise_channel_means=[float(v) for v in out.mean(axis=(0, 1))],
        samplewise_channel_stds=[float(v) for v in out.std(axis=(0, 1))],
    )


def zca_single(image: np.ndarray, epsilon: float | None = None) -> dict:
    """Section 3: ZCA fitted on one image and applied to it (the memo's experiment); epsilon None
    takes conf/prep/zca.yaml's."""
    start = time.perf_counter()
    p = build("zca", zca_epsilon=epsilon).fit(image[None])
    out = p.transform(image[None])[0]
    seconds = time.perf_counter() - start
    centred = p.scale(image[None])[0] - p.mean_
    return dict(
        output=out,
        std=float(np.std(out)),
        mean=float(np.mean(out)),
        D=int(image.size),
        expected_std=float(1 / np.sqrt(image.size)),
        rank=int(p.components_.shape[1]),
        seconds=seconds,
        # ZCA maps the centred image x_c to x_c / (||x_c|| + eps'), i.e. to a unit vector along x_c.
        cosine_to_centred_input=float(
            np.dot(out.ravel(), centred.ravel()) / (np.linalg.norm(out) * np.linalg.norm(centred))
        ),
        output_norm=float(np.linalg.norm(out)),
    )


def zca_single_idg(image: np.ndarray) -> dict:
    """The memo's ImageDataGenerator code (featurewise_center + zca_whitening, raw 0-255 floats)
    on the same image, for the cross-check; only small images (it builds a D x D matrix)."""
    from tensorflow.keras.preprocessing.image import ImageDataGenerator

    x = image[None].astype(np.float32)
    gen = ImageDataGenerator(featurewise_center=True, zca_whitening=True)
    gen.fit(x)
    out = next(gen.flow(x, batch_size=1, shuffle=False))[0]
    return dict(std=float(np.std(out)), mean=float(np.mean(out)), D=int(image.size))


def resize(image: np.ndarray, size: int) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.fromarray(image).resize((size, size), Image.BILINEAR), dtype=np.uint8)


def standardized_features(z: np.ndarray) -> np.ndarray:
    """(n, H, W, C) -> (n, D) float32, each value standardized across the n images (for correlations;
    statistics in float64, the big array in float32 to halve the memory traffic)."""
    flat = z.reshape(len(z), -1)
    mean = flat.mean(axis=0, dtype=np.float64)
    std = np.sqrt(((flat - mean) ** 2).mean(axis=0))
    return ((flat - mean) / np.where(std > 0, std, 1.0)).astype(np.float32)


def pixel_correlations(z: np.ndarray) -> dict:
    """Correlations across images between pixel values of one image: horizontally and vertically
    neighbouring pixels (same channel), pixels half the image apart (same channel), and the three
    channels of one pixel. Each is the average over all such pairs; plus the profile over distance."""
    n, h, w, c = z.shape
    s = standardized_features(z).reshape(n, h, w, c)

    def corr(a, b):
        return float((a * b).mean())  # mean over images and pairs of products of standardized values

    neighbour = (corr(s[:, :, :-1], s[:, :, 1:]) + corr(s[:, :-1], s[:, 1:])) / 2
    far_w, far_h = w // 2, h // 2
    distant = (corr(s[:, :, :-far_w], s[:, :, far_w:]) + corr(s[:, :-far_h], s[:, far_h:])) / 2
    pairs = [(0, 1), (1, 2), (0, 2)] if c == 3 else []
    channels = float(np.mean([corr(s[..., i], s[..., j]) for i, j in pairs])) if pairs else float("nan")
    # All horizontal lags at once: autocorrelation of every (image, row, channel) line via FFT.
    lines = np.moveaxis(s, 2, -1).reshape(-1, w)
    spectrum = np.fft.rfft(lines, n=2 * w, axis=1)
    lag_sums = np.fft.irfft((spectrum * spectrum.conj()).sum(axis=0), n=2 * w)[:w]
    profile = [float(lag_sums[d] / (len(lines) * (w - d))) for d in range(1, w)]
    return dict(neighbour_pixels=neighbour, distant_pixels=distant, channels=channels, profile=profile)


def correlation_map(z: np.ndarray, index: tuple[int, int, int]) -> np.ndarray:
    """Correlation of one pixel value (row, column, channel) with every pixel value: (H, W, C)."""
    s = standardized_features(z)
    flat_index = np.ravel_multi_index(index, z.shape[1:])
    return (s.T @ s[:, flat_index] / len(s)).reshape(z.shape[1:])


def whitening_rows(p, indices, image_shape) -> np.ndarray:
    """Rows of the fitted W (= columns: W is symmetric) for pixel values `indices` (row, column,
    channel), each reshaped to `image_shape`: (k, H, W, C)."""
    flat = [np.ravel_multi_index(i, image_shape) for i in indices]
    if p.whitening_ is not None:
        rows = p.whitening_[flat]
    else:  # low-rank fit: W = U diag(f) U^T, never built
        rows = (p.components_[flat] * p.scales_) @ p.components_.T
    return rows.reshape((len(flat),) + tuple(image_shape))


def fit_zca_on(x_train: np.ndarray, epsilon: float, fingerprint: str | None = None, cache_dir=None):
    """The library's ZCA fitted on the training images: (preprocessor, seconds, loaded from cache?).
    With a data fingerprint and cache directory it goes through prepbench's statistics cache, so a
    rerun loads the fit; a cache hit is recognised by no new file appearing in the cache."""
    p = build("zca", zca_epsilon=epsilon)
    if fingerprint is None or cache_dir is None:
        start = time.perf_counter()
        return p.fit(x_train), time.perf_counter() - start, False
    before = set(Path(cache_dir).rglob("*"))
    seconds = fit_cached(p, x_train, fingerprint, cache_dir)
    return p, seconds, set(Path(cache_dir).rglob("*")) <= before


def zca_epsilon_effect(fitted: dict, x_train: np.ndarray, x_heldout: np.ndarray) -> dict:
    """Section 5: std of whitened training and held-out images for each fitted epsilon."""
    out = {}
    for eps, p in fitted.items():
        out[eps] = dict(
            train_std=float(p.transform(x_train[:1000]).std()),
            heldout_std=float(p.transform(x_heldout).std()),
        )
    return out


SPECTRUM_FLOORS = (1e-4, 1e-5, 1e-6)  # eigenvalue levels counted in section 5b
SHRINKAGES = (1e-3, 1e-2, 1e-1, 1.0)  # the ZCA pilot's values of prep.zca_shrinkage
# JPEG's YCbCr (ITU-R BT.601, full range): rows give Y, Cb, Cr from R, G, B in [0, 1].
YCBCR = np.array([[0.299, 0.587, 0.114], [-0.168736, -0.331264, 0.5], [0.5, -0.418688, -0.081312]])


def covariance_spectrum(x_train: np.ndarray) -> np.ndarray:
    """Eigenvalues of the training covariance that ZCA whitens (pixels in [0, 1], per-channel centred),
    largest first, in float64."""
    from prepbench.prep.zca import covariance_eigh

    scaled = x_train.astype(np.float64) / 255
    centred = (scaled - scaled.mean(axis=(0, 1, 2))).reshape(len(x_train), -1)
    return covariance_eigh(centred)[0][::-1]


def damping_threshold(eigvals: np.ndarray, n: int, *, epsilon: float = 0.0, shrinkage: float = 0.0) -> float:
    """The eigenvalue below which a ZCA setting's regularizer outweighs the direction's own spread,
    so its gain is cut to half or less of unregularized whitening's: IDG's eps / sqrt(n) equals
    sqrt(lambda) at lambda = eps^2 / n; the shrinkage s * mean(lambda) equals lambda at that value."""
    return max(epsilon**2 / n, shrinkage * float(eigvals.mean()))


def chroma_detail(x: np.ndarray) -> dict[str, float]:
    """For Y, Cb and Cr: the share of each channel's variance (over images and pixels) that lies in
    detail finer than 2x2 blocks (the channel minus its 2x2 block means). JPEG's 4:2:0 subsampling
    stores Cb and Cr at half resolution, so there that share is only what decoding interpolates."""
    ycc = (x.astype(np.float64) / 255) @ YCBCR.T
    n, h, w, _ = ycc.shape
    blocks = ycc[:, : h // 2 * 2, : w // 2 * 2].reshape(n, h // 2, 2, w // 2, 2, 3)
    detail = blocks - blocks.mean(axis=(2, 4), keepdims=True)
    centred = ycc - ycc.mean(axis=(0, 1, 2))
    share = (detail**2).sum(axis=(0, 1, 2, 3, 4)) / (centred**2).sum(axis=(0, 1, 2))
    return dict(zip(("Y", "Cb", "Cr"), (float(v) for v in share)))


def subsample_chroma(x: np.ndarray) -> np.ndarray:
    """`x` (uint8 RGB, even sides) with its chroma stored at half resolution, as JPEG's 4:2:0 does
    (without the compression): Cb and Cr averaged over 2x2 blocks and repeated back."""
    ycc = (x.astype(np.float64) / 255) @ YCBCR.T
    n, h, w, _ = ycc.shape
    chroma = ycc[..., 1:].reshape(n, h // 2, 2, w // 2, 2, 2).mean(axis=(2, 4))
    ycc[..., 1:] = chroma.repeat(2, axis=1).repeat(2, axis=2)
    rgb = ycc @ np.linalg.inv(YCBCR).T
    return np.clip(np.round(rgb * 255), 0, 255).astype(np.uint8)


def augmentation_grid(image: np.ndarray, params, draws: int, seed: int = 0):
    """Section 6: `draws` augmented copies of one uint8 image (float [0, 1] out) and their draws."""
    import tensorflow as tf

    from prepbench.prep.augment_tf import augment_batch, draw_augmentation

    batch = tf.constant(np.repeat(image[None].astype(np.float32) / 255, draws, axis=0))
    seed_pair = tf.constant([seed, 0], tf.int32)
    images = augment_batch(batch, seed_pair, params).numpy()
    h, w = image.shape[:2]
    angle, dx, dy, flip = (t.numpy() for t in draw_augmentation(seed_pair, draws, float(h), float(w), params))
    return images, dict(degrees=np.rad2deg(angle), dx=dx, dy=dy, flip=flip)


@dataclass
class ActivationStats:
    layers: list[str] = field(default_factory=list)
    pre_mean: list[float] = field(default_factory=list)  # conv output (or BN output), before ReLU
    pre_std: list[float] = field(default_factory=list)
    post_mean: list[float] = field(default_factory=list)  # after ReLU: what the next layer receives
    post_std: list[float] = field(default_factory=list)


def activation_stats(model, batch: np.ndarray) -> ActivationStats:
    """Mean and std (over batch, H, W and channels) of every convolution block's activations,
    computed as in training (batch normalization uses the batch's own statistics)."""
    import keras

    relus = [layer for layer in model.layers if isinstance(layer, keras.layers.ReLU)]
    before = [model.layers[model.layers.index(layer) - 1] for layer in relus]
    probe = keras.Model(model.input, [layer.output for layer in before + relus])
    outputs = [np.asarray(o) for o in probe(batch, training=True)]
    k = len(relus)
    stats = ActivationStats()
    for i in range(k):
        stats.layers.append(f"conv{i + 1}")
        stats.pre_mean.append(float(outputs[i].mean()))
        stats.pre_std.append(float(outputs[i].std()))
        stats.post_mean.append(float(outputs[k + i].mean()))
        stats.post_std.append(float(outputs[k + i].std()))
    return stats


def batchnorm_study(x, y, probe_batch, *, net_cfg, num_classes, epochs, batch_size, lr, seed) -> dict:
    """Section 7: the deep net with and without batch normalization, same initial weights, trained
    briefly on inputs preprocessed as `none` (x / 255); activation statistics at init and after."""
    import keras

    from prepbench.train.fit import compile_model
    from prepbench.train.precision import set_keras_policy

    p = build("batchnorm")
    xs, probe = p.transform(x), p.transform(probe_batch)
    result = {}
    for bn in (False, True):
        keras.utils.set_random_seed(seed)
        set_keras_policy("float32")  # the memo's numbers are float32's, whatever ran before in this process
        model = build_model_from(net_cfg, num_classes, x.shape[1:], bn, seed)
        at_init = activation_stats(model, probe)
        compile_model(model, lr=lr)
        start = time.perf_counter()
        history = model.fit(xs, y, batch_size=batch_size, epochs=epochs, shuffle=True, verbose=0)
        result[bn] = dict(
            init=at_init,
            trained=activation_stats(model, probe),
            loss=[float(v) for v in history.history["loss"]],
            accuracy=[float(v) for v in history.history["accuracy"]],
            seconds=time.perf_counter() - start,
        )
    return result


def build_model_from(net_cfg, num_classes, input_shape, batchnorm, seed):
    """The net as a `prep=batchnorm` job builds it, batch normalization's momentum included."""
    from prepbench.config import compose
    from prepbench.train.nets import build_model

    momentum = compose(["prep=batchnorm"]).prep.batchnorm_momentum if batchnorm else None
    return build_model(
        depth=int(net_cfg.depth),
        width=int(net_cfg.width),
        dense=int(net_cfg.dense),
        num_classes=num_classes,
        input_shape=tuple(input_shape),
        batchnorm=batchnorm,
        seed=seed,
        batchnorm_momentum=momentum,
    )
