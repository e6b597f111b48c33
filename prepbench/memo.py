"""`python -m prepbench.memo --out DIR [--image PATH]`: the memo's pictures and numbers, reproduced.

The practitioner's memo (GUIDE.md section 1) shows min-max normalization, standardization, ZCA
whitening, augmentation and batch normalization, prints a few numbers it cannot explain, and asks
what ZCA decorrelates. This command redoes each of its experiments with prepbench's own
preprocessing library on CIFAR-10 (or on the user's image) and writes

    DIR/memo.md        each section: what the memo said, what we measured, what it means
    DIR/memo.json      every number, under flat keys (a few hold a small dict or a per-layer list)
    DIR/figures/*.png  the figures memo.md shows inline

The computations are plain functions on numpy arrays (tests call them on small synthetic images);
`write_memo` draws and writes. TensorFlow is imported only for augmentation, the batch-norm
network and the Keras 3 checks.
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from prepbench import ROOT, __version__
from prepbench.errors import PrepbenchError
from prepbench.preprocess import build, fit_cached

DEFAULT_ZIP = ROOT.parent / "shared" / "data" / "cifar10-jpeg.zip"
MEMO_SIZE = 128  # the memo shrank its image to 128x128 before ZCA
EPSILONS = (1e-6, 1e-3, 1e-1)
# The Gram route needs a few D-long float64 vectors; past this the native-size run is skipped.
MAX_NATIVE_VALUES = 4_000_000
IDG_SIZE = 16  # ImageDataGenerator builds a D x D matrix: cross-check it on a 16x16 copy (D = 768)


# ---- the computations ------------------------------------------------------------------------


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


def augmentation_grid(image: np.ndarray, params, draws: int, seed: int = 0):
    """Section 6: `draws` augmented copies of one uint8 image (float [0, 1] out) and their draws."""
    import tensorflow as tf

    from prepbench.preprocess import augment_batch, draw_augmentation

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

    from prepbench.train import compile_model

    p = build("batchnorm")
    xs, probe = p.transform(x), p.transform(probe_batch)
    result = {}
    for bn in (False, True):
        keras.utils.set_random_seed(seed)
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
    from omegaconf import OmegaConf

    from prepbench.nets import build_model

    momentum = OmegaConf.load(ROOT / "conf" / "prep" / "batchnorm.yaml").batchnorm_momentum if batchnorm else None
    return build_model(
        depth=int(net_cfg.depth), width=int(net_cfg.width), dense=int(net_cfg.dense),
        num_classes=num_classes, input_shape=tuple(input_shape), batchnorm=batchnorm, seed=seed,
        batchnorm_momentum=momentum,
    )


# Section 8: each line of the memo's code that touches a Keras API, how it is checked here, and its
# Keras 3 replacement. Every snippet runs in this process; `model`, `x`, `y`, `datagen` and `np` are given.
KERAS_LINES = [
    dict(
        memo="from keras.preprocessing.image import ImageDataGenerator",
        check="from keras.preprocessing.image import ImageDataGenerator",
        replacement="from tensorflow.keras.preprocessing.image import ImageDataGenerator",
        check_replacement="from tensorflow.keras.preprocessing.image import ImageDataGenerator as G\n"
        "result = G.__module__",
    ),
    dict(
        memo="y_train = np_utils.to_categorical(y_train, num_classes)",
        check="from keras.utils import np_utils",
        replacement="y_train = keras.utils.to_categorical(y_train, num_classes)",
        check_replacement="import keras\nresult = keras.utils.to_categorical(y, 10).shape",
    ),
    dict(
        memo="model.fit_generator(datagen.flow(x_train, y_train, batch_size=32), ...)",
        check="model.fit_generator",
        replacement="model.fit(datagen.flow(x_train, y_train, batch_size=32), ...)",
        check_replacement="h = model.fit(datagen.flow(x, y, batch_size=4), steps_per_epoch=2, epochs=1, verbose=0)\n"
        "result = 'trained 2 steps, loss %.3f' % h.history['loss'][0]",
    ),
    dict(
        memo="steps_per_epoch=len(x_train) / 32",
        check="model.fit(datagen.flow(x, y, batch_size=4), steps_per_epoch=len(x) / 4, epochs=1, verbose=0)\n"
        "assert len(x) % 4 == 0  # a whole number, and still a float",
        replacement="steps_per_epoch=math.ceil(len(x_train) / 32)  (or leave it out: fit runs the iterator once)",
        check_replacement="import math\nh = model.fit(datagen.flow(x, y, batch_size=4), steps_per_epoch=math.ceil(len(x) / 4),"
        " epochs=1, verbose=0)\nh2 = model.fit(datagen.flow(x, y, batch_size=4), epochs=1, verbose=0)\n"
        "result = 'both train: with math.ceil, and with steps_per_epoch left out'",
    ),
    dict(
        memo="d = datagen.flow(x, batch_size=1).next()",
        check="datagen.flow(x, batch_size=1).next()",
        replacement="d = next(datagen.flow(x, batch_size=1))",
        check_replacement="result = next(datagen.flow(x, batch_size=1)).shape",
    ),
    dict(
        memo="(x_train, y_train), (x_test, y_test) = cifar10.load_data()",
        check="from keras.datasets import cifar10\nassert callable(cifar10.load_data)",
        replacement="unchanged (it downloads; not called here, no network)",
        check_replacement=None,
    ),
]


def check_keras_lines() -> list[dict]:
    """Run each check: does the memo's line still work, and does the replacement?"""
    import keras
    import tensorflow as tf

    x = np.zeros((8, 4, 4, 3), np.float32)
    y = np.zeros(8, np.int64)
    results = []
    for line in KERAS_LINES:
        model = keras.Sequential([keras.Input((4, 4, 3)), keras.layers.Flatten(), keras.layers.Dense(10)])
        model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        env = dict(np=np, x=x, y=y, model=model, datagen=tf.keras.preprocessing.image.ImageDataGenerator())
        entry = dict(memo_line=line["memo"], check=line["check"], replacement=line["replacement"])
        entry["memo_line_works"], entry["memo_line_result"] = run_snippet(line["check"], env)
        if line["check_replacement"]:
            entry["replacement_works"], entry["replacement_result"] = run_snippet(line["check_replacement"], env)
        else:
            entry["replacement_works"], entry["replacement_result"] = None, "not run"
        results.append(entry)
    return results


def run_snippet(code: str, env: dict) -> tuple[bool, str]:
    scope = dict(env)
    try:
        exec(code, scope)  # noqa: S102 (fixed snippets above, not user input)
    except Exception as err:  # noqa: BLE001 (the failure is the finding)
        message = re.sub(r"\(/\S*site-packages/", "(", f"{type(err).__name__}: {err}".splitlines()[0])
        return False, message[:200]
    return True, str(scope.get("result", "ok"))


# ---- inputs --------------------------------------------------------------------------------------


def load_image(path: Path) -> np.ndarray:
    """A user's image as uint8 HxWx3 RGB."""
    from PIL import Image, UnidentifiedImageError

    if not path.exists():
        raise PrepbenchError(f"--image {path} does not exist; expected a PNG or JPEG file")
    if not path.is_file():
        raise PrepbenchError(f"--image {path} is not a file; expected a PNG or JPEG file")
    try:
        with Image.open(path) as img:
            rgb = np.asarray(img.convert("RGB"), dtype=np.uint8)
    except (UnidentifiedImageError, OSError) as err:
        raise PrepbenchError(f"--image {path} could not be read as an image ({err}); expected a PNG or JPEG file")
    if min(rgb.shape[:2]) < 2:
        raise PrepbenchError(f"--image {path} is {rgb.shape[1]}x{rgb.shape[0]} pixels; expected at least 2x2")
    return rgb


def data_config(data_path: Path | None, train_images: int):
    """The data config: an image folder/zip when a path is given, else the official CIFAR-10."""
    from omegaconf import OmegaConf

    root = OmegaConf.load(ROOT / "conf" / "config.yaml")
    cache_dir = OmegaConf.select(root, "cache_dir")
    if data_path is not None:
        cfg = OmegaConf.load(ROOT / "conf" / "data_splits.yaml")
        cfg.merge_with(dict(source="folder", path=str(data_path)))
    else:
        cfg = OmegaConf.load(ROOT / "conf" / "data" / "cifar10.yaml")
        cfg.merge_with(OmegaConf.load(ROOT / "conf" / "data_splits.yaml"))
        cfg.merge_with(dict(source="cifar10"))
        cfg.pop("defaults", None)
    # No validation split is needed here; the held-out images come from the test split.
    cfg.merge_with(dict(cache_dir=cache_dir, val_size=0, train_size=train_images, test_size=None))
    return cfg


def data_label(data_path: Path | None) -> str:
    if data_path is None:
        return "CIFAR-10 (official release)"
    if data_path.resolve() == DEFAULT_ZIP.resolve():
        return "CIFAR-10 (JPEG q75 copy)"
    return f"the image folder {data_path}"


def pick_class_image(x: np.ndarray, y: np.ndarray, class_names, wanted: str) -> tuple[np.ndarray, str]:
    if wanted in class_names:
        idx = int(np.flatnonzero(y == class_names.index(wanted))[0])
    else:
        idx = 0
    return x[idx], f"test image {idx} ({class_names[int(y[idx])]})"


def lowest_contrast(x: np.ndarray) -> int:
    flat = x.reshape(len(x), -1)
    return int(np.argmin(flat.max(axis=1).astype(int) - flat.min(axis=1)))


# ---- the figures ---------------------------------------------------------------------------------


def show_signed(z: np.ndarray, clip_sigmas: float = 3.0) -> np.ndarray:
    """A signed float image for display: 0 -> mid grey, +-clip_sigmas std -> white/black per channel mix."""
    scale = clip_sigmas * float(z.std()) or 1.0
    return np.clip(0.5 + z / (2 * scale), 0, 1)


def show_memo_way(z: np.ndarray) -> np.ndarray:
    """The memo's display mapping: (d + ofs) / (2 ofs), ofs = max |d|."""
    ofs = float(np.abs(z).max()) or 1.0
    return (z + ofs) / (2 * ofs)


def histograms(ax, img: np.ndarray, bins, title, xlabel):
    for c, colour in enumerate(("red", "green", "blue")[: img.shape[-1]]):
        ax.hist(img[..., c].ravel(), bins=bins, histtype="step", color=colour, label="RGB"[c])
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("pixel count")
    ax.legend(fontsize=8)


def imshow(ax, img, title):
    ax.imshow(img, interpolation="nearest")
    ax.set_title(title, fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])


def save(fig, path: Path):
    fig.savefig(path, dpi=110, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)


# ---- the command ---------------------------------------------------------------------------------


def parse_args(argv):
    parser = argparse.ArgumentParser(
        prog="python -m prepbench.memo",
        description="Reproduce the memo's pictures and numbers (memo.md, memo.json, figures/) and explain them.",
    )
    parser.add_argument("--out", required=True, type=Path, help="output directory")
    parser.add_argument("--image", type=Path, help="your own image for sections 1-3 (default: CIFAR-10 images)")
    parser.add_argument(
        "--data-path", type=Path, default=DEFAULT_ZIP if DEFAULT_ZIP.exists() else None,
        help=f"image-folder tree or .zip (default: {DEFAULT_ZIP} if present, else the official CIFAR-10)",
    )
    parser.add_argument("--train-images", type=int, default=5000,
                        help="training images for the ZCA correlation study; more than D = H*W*C (default 5000)")
    parser.add_argument("--heldout-images", type=int, default=1000, help="test images never fitted on (default 1000)")
    parser.add_argument("--bn-images", type=int, default=2000, help="training images for section 7 (default 2000)")
    parser.add_argument("--bn-epochs", type=int, default=1, help="epochs for section 7 (default 1)")
    parser.add_argument("--augment-draws", type=int, default=11, help="augmented copies in section 6 (default 11)")
    return parser.parse_args(argv)


def validate(args):
    for name in ("train_images", "heldout_images", "bn_images", "bn_epochs", "augment_draws"):
        value = getattr(args, name)
        if value < 1:
            raise PrepbenchError(f"--{name.replace('_', '-')}={value} is invalid; expected a positive integer")
    if args.data_path is not None and not args.data_path.exists():
        raise PrepbenchError(
            f"--data-path {args.data_path} does not exist; expected an image-folder directory or .zip"
        )
    if args.out.exists() and not args.out.is_dir():
        raise PrepbenchError(f"--out {args.out} is a file; expected a directory")


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parse_args(argv)
    try:
        validate(args)
        write_memo(args, argv)
    except PrepbenchError as err:
        print(f"error: {err}", file=sys.stderr, flush=True)
        return 2
    print(f"wrote {args.out / 'memo.md'}, {args.out / 'memo.json'} and {args.out / 'figures'}/")
    return 0


def git_commit() -> str:
    try:
        sha = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                             check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", "prepbench"], cwd=ROOT, capture_output=True,
                               text=True, check=True).stdout.strip()
        return sha + (" (tracked files in prepbench/ have uncommitted changes)" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def fmt(v: float) -> str:
    return f"{v:.4g}"


def write_memo(args, argv):  # noqa: C901 (one section after another, in the memo's order)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from omegaconf import OmegaConf

    from prepbench.data import load_splits

    t0 = time.perf_counter()
    timings = {}
    clock = [t0]

    def done(section):
        now = time.perf_counter()
        timings[section] = round(now - clock[0], 2)
        clock[0] = now
        print(f"[{now - t0:5.1f} s] {section} done", file=sys.stderr, flush=True)

    out, figs = args.out, args.out / "figures"
    figs.mkdir(parents=True, exist_ok=True)
    user_image = load_image(args.image) if args.image is not None else None

    conf = OmegaConf.load(ROOT / "conf" / "config.yaml")
    net_cfg = OmegaConf.load(ROOT / "conf" / "net" / "deep.yaml")
    trainer_cfg = OmegaConf.load(ROOT / "conf" / "trainer" / "default.yaml")

    splits = load_splits(data_config(args.data_path, args.train_images))
    label = data_label(args.data_path)
    x_train, y_train = splits.x_train, splits.y_train
    h, w, c = x_train.shape[1:]
    d_train = h * w * c
    if len(x_train) <= d_train:
        raise PrepbenchError(
            f"--train-images={args.train_images} is too small for ZCA on {h}x{w}x{c} images; "
            f"expected more than D = {d_train} so that the covariance has full rank"
        )
    if c != 3:
        raise PrepbenchError(f"the data has {c} channels; expected RGB images (3 channels)")
    k = min(args.heldout_images, len(splits.x_test))
    heldout_idx = np.sort(np.random.default_rng(0).permutation(len(splits.x_test))[:k])
    x_heldout = splits.x_test[heldout_idx]
    done("data")

    M = dict(
        command="python -m prepbench.memo " + shlex.join(argv),
        data=label, data_fingerprint=splits.fingerprint, train_images=int(len(x_train)),
        heldout_images=int(k), prepbench_version=__version__, commit=git_commit(),
    )
    md = []

    # Images used for the per-image sections.
    if user_image is not None:
        demo, demo_name = user_image, f"your image {args.image.name} ({user_image.shape[1]}x{user_image.shape[0]})"
    else:
        demo, demo_name = pick_class_image(splits.x_test, splits.y_test, splits.class_names, "horse")
    i = lowest_contrast(splits.x_test)
    low, low_name = splits.x_test[i], f"test image {i} ({splits.class_names[int(splits.y_test[i])]}), " \
        "the lowest-contrast image of the test split"
    M["image"] = str(args.image) if args.image is not None else demo_name

    # ---- 1. min-max ----
    # The user's image first (if any), then the data's lowest-contrast image: the memo's kind of example.
    minmax_rows = ([(user_image, demo_name)] if user_image is not None else []) + [(low, low_name)]
    results = [minmax_demo(img) for img, _ in minmax_rows]
    mm = results[0]
    M.update({k_: v for k_, v in mm.items() if k_ != "output"})
    if user_image is not None:
        M["minmax_lowest_contrast_input_min"] = results[1]["minmax_input_min"]
        M["minmax_lowest_contrast_input_max"] = results[1]["minmax_input_max"]
    flat = x_train.reshape(len(x_train), -1)
    ranges = flat.max(axis=1).astype(int) - flat.min(axis=1)
    M["minmax_train_median_range"] = float(np.median(ranges))
    M["minmax_train_fraction_range_ge_250"] = float(np.mean(ranges >= 250))
    fig, axes = plt.subplots(len(minmax_rows), 4, figsize=(16, 4.2 * len(minmax_rows)), squeeze=False,
                             layout="constrained")
    for r, ((img, _), res) in enumerate(zip(minmax_rows, results)):
        imshow(axes[r, 0], img, f"input: values {res['minmax_input_min']}..{res['minmax_input_max']} of 0..255")
        imshow(axes[r, 1], res["output"], "min-max output: values 0..1")
        histograms(axes[r, 2], img, np.arange(0, 257, 4), "input histogram", "pixel value (0..255)")
        axes[r, 2].set_xlim(0, 255)
        histograms(axes[r, 3], res["output"], np.linspace(0, 1, 65), "output histogram", "pixel value (0..1)")
        axes[r, 3].set_xlim(0, 1)
    fig.suptitle("C2 min-max normalization: (x - min) / (max - min), over all pixels and channels of one image")
    save(fig, figs / "1_minmax.png")

    def stretch_of(res):
        return 255 / max(res["minmax_input_max"] - res["minmax_input_min"], 1)

    measured = [
        f"on {name}: the input spans {res['minmax_input_min']}..{res['minmax_input_max']} of 0..255 (a stretch by "
        f"{stretch_of(res):.2f}), the output exactly {fmt(res['minmax_output_min'])}..{fmt(res['minmax_output_max'])}"
        for (_, name), res in zip(minmax_rows, results)
    ]
    full_range = [name for (_, name), res in zip(minmax_rows, results) if stretch_of(res) <= 1.01]
    md += [
        "## 1. Min-max normalization (C2)",
        "",
        "**The memo** stretches each image with `out = (in - in.min) / (in.max - in.min)` and shows a "
        "low-contrast picture beside its stretched version, with histograms that \"spread out\".",
        "",
        "**Measured** with prepbench's `minmax` (min and max over all pixels *and* channels together; the memo's "
        "code did it on a grey-level image), " + "; and ".join(measured) + ".",
        "",
        "![min-max](figures/1_minmax.png)",
        "",
        "**What it means**: min-max is a per-image linear stretch: the histogram keeps its shape and is widened to "
        "fill the range. It changes nothing for an image that already uses the full range"
        + (f" ({' and '.join(full_range)} does, so its output is just the input rescaled to 0..1)" if full_range else "")
        + f"; of the {len(x_train):,} training images, {100 * M['minmax_train_fraction_range_ge_250']:.0f}% span at "
        f"least 250 of the 255 levels (median range {M['minmax_train_median_range']:.0f}), so on {label} it "
        "changes most images little and stretches the few dark or hazy ones a lot. (The memo's plotting code draws "
        "the *input* histogram twice: its `calcHist` of the output is commented out.) Whether the stretch helps "
        "shallow networks more than deep ones (claim H) is what prepbench's training sweeps measure, not this figure.",
        "",
    ]

    done("1 min-max")

    # ---- 2. samplewise ----
    sw = samplewise_demo(demo)
    M.update({k_: v for k_, v in sw.items() if k_ != "output"})
    train_sw = build("samplewise").transform(x_train[:1000])
    per_image_std = train_sw.std(axis=(1, 2, 3))
    M["samplewise_train_std_max_abs_dev"] = float(np.abs(per_image_std - 1).max())
    fig, axes = plt.subplots(1, 4, figsize=(15, 3.8), gridspec_kw=dict(width_ratios=[1, 1, 1.3, 1.3]))
    imshow(axes[0], demo, "input")
    imshow(axes[1], show_memo_way(sw["output"]), "output, shown the memo's way\n(d + ofs) / (2 ofs), ofs = max|d|")
    histograms(axes[2], demo.astype(np.float32) / 255, np.linspace(0, 1, 65), "input histogram", "value x / 255")
    histograms(axes[3], sw["output"], 64, "output histogram", "standardized value")
    axes[3].set_title(f"output: mean {sw['samplewise_mean']:.2g}, std {sw['samplewise_std']:.4f}")
    fig.suptitle("C4 samplewise standardization: (x - mean) / (std + 1e-6), mean and std over H, W and C together")
    save(fig, figs / "2_samplewise.png")
    cm = ", ".join(f"{v:+.3f}" for v in sw["samplewise_channel_means"])
    md += [
        "## 2. Samplewise standardization (C4)",
        "",
        "**The memo** used `ImageDataGenerator(samplewise_center=True, samplewise_std_normalization=True)` and "
        "printed `std: 1.0 ave: 5.6888285e-07`; it noted that the statistics are taken over R, G and B together.",
        "",
        f"**Measured** on {demo_name} with prepbench's `samplewise` (float32, like the memo): "
        f"`samplewise_std` = {sw['samplewise_std']:.7f}, `samplewise_mean` = {sw['samplewise_mean']:.3g}. "
        f"Per channel the means are {cm} and the stds "
        + ", ".join(f"{v:.3f}" for v in sw["samplewise_channel_stds"])
        + f": only the three channels *together* have mean 0 and std 1. Over 1,000 training images of {label} "
        f"the largest deviation of an image's std from 1 is {M['samplewise_train_std_max_abs_dev']:.2g}.",
        "",
        "![samplewise](figures/2_samplewise.png)",
        "",
        "**What it means**: the std is 1 by construction (up to the 1e-6 guard in the denominator); the mean is 0, "
        "and what is printed instead (the memo's 5.7e-07, our "
        f"{sw['samplewise_mean']:.2g}) is float32 rounding: a float32 has about 7 significant digits, so a mean of "
        "values of order 1 cannot come out smaller than about 1e-8..1e-7. Samplewise standardization removes each "
        "image's brightness and contrast. Shown the memo's way (a linear map back to 0..1) the output looks like the "
        "input, because samplewise standardization is itself a linear map of the image; as the memo said, "
        "\"turning it into a picture is not very meaningful\".",
        "",
    ]

    done("2 samplewise")

    # ---- 3. ZCA on one image ----
    img128 = resize(demo, MEMO_SIZE)
    single = zca_single(img128)
    M.update(zca_single_std=single["std"], zca_single_mean=single["mean"], zca_single_D=single["D"],
             zca_single_expected_std=single["expected_std"], zca_single_seconds=single["seconds"],
             zca_single_rank=single["rank"], zca_single_cosine_to_centred_input=single["cosine_to_centred_input"],
             zca_single_output_norm=single["output_norm"])
    native = None
    if demo.shape[:2] != (MEMO_SIZE, MEMO_SIZE) and demo.size <= MAX_NATIVE_VALUES:
        native = zca_single(demo)
        M.update(zca_native_std=native["std"], zca_native_mean=native["mean"], zca_native_D=native["D"],
                 zca_native_expected_std=native["expected_std"], zca_native_seconds=native["seconds"])
    idg = zca_single_idg(resize(demo, IDG_SIZE))
    M.update(zca_single_idg16_std=idg["std"], zca_single_idg16_mean=idg["mean"], zca_single_idg16_D=idg["D"],
             zca_single_idg16_expected_std=float(1 / np.sqrt(idg["D"])))
    fig, axes = plt.subplots(1, 3, figsize=(11, 4))
    imshow(axes[0], img128, f"input, resized to {MEMO_SIZE}x{MEMO_SIZE}")
    imshow(axes[1], show_memo_way(single["output"]), "ZCA output, shown the memo's way")
    centred = img128.astype(np.float32) / 255 - img128.reshape(-1, 3).mean(axis=0) / 255
    imshow(axes[2], show_memo_way(centred), "input minus its channel means,\nsame display: identical")
    fig.suptitle(f"C5 ZCA fitted on this one image: std {single['std']:.7f} = 1/sqrt({single['D']}) "
                 f"= {single['expected_std']:.7f}")
    save(fig, figs / "3_zca_single.png")
    native_line = (
        f" The same run on the image at its own size ({demo.shape[1]}x{demo.shape[0]}, D = {native['D']:,}) gives "
        f"std {native['std']:.7f} against 1/sqrt(D) = {native['expected_std']:.7f}, in {native['seconds']:.2f} s."
        if native else ""
    )
    md += [
        "## 3. ZCA whitening fitted on a single image (C5)",
        "",
        "**The memo** fitted `ImageDataGenerator(featurewise_center=True, zca_whitening=True)` on one image, had to "
        "shrink it to 128x128 to make the fit run at all, printed `std: 0.0045105484 ave: 2.2312936e-10`, and "
        "could not say whether the result was right.",
        "",
        f"**Measured** on {demo_name}, resized to {MEMO_SIZE}x{MEMO_SIZE}x3 (D = {single['D']:,} values), with "
        f"prepbench's `zca` (eps 1e-6): `zca_single_std` = {single['std']:.7f}, `zca_single_mean` = "
        f"{single['mean']:.2g}; 1/sqrt(D) = {single['expected_std']:.7f}. The fit and transform took "
        f"{single['seconds']:.2f} s: prepbench fits from the n x n Gram matrix when n < D and never builds a D x D "
        f"matrix. `ImageDataGenerator` does: the Keras 2 version the memo ran formed the {single['D']:,} x "
        f"{single['D']:,} covariance and took its full SVD, and Keras 3's still forms the {single['D']:,} x "
        f"{single['D']:,} whitening matrix (9.7 GB in float32, `keras/src/legacy/preprocessing/image.py`), which is "
        f"why the memo had to shrink its image.{native_line} Cross-check with the memo's own "
        f"`ImageDataGenerator` code (Keras 3) on a {IDG_SIZE}x{IDG_SIZE} copy (D = {idg['D']}): std "
        f"{idg['std']:.7f}, 1/sqrt(D) = {M['zca_single_idg16_expected_std']:.7f}.",
        "",
        "![zca single](figures/3_zca_single.png)",
        "",
        "**Why the std is 1/sqrt(D)**: fitted on one image, the centred data (the image minus its channel means) is a "
        f"single vector, so its covariance has rank 1 (rank found: {single['rank']}) and ZCA simply divides that "
        f"vector by its own length: the output is a unit vector (its norm here: {single['output_norm']:.6f}) "
        f"pointing exactly along the centred input (cosine {single['cosine_to_centred_input']:.6f}). "
        "A unit vector of D values with mean 0 has std sqrt(1/D) whatever the image, and its mean is 0 up to "
        "float32 rounding (the memo's 2.2e-10, our "
        f"{single['mean']:.2g}). So the memo's output picture is just the input minus its channel means, "
        "displayed with the same stretch (right panel): nothing was decorrelated. ZCA needs many images.",
        "",
    ]

    done("3 zca single image")

    # ---- 4. what ZCA decorrelates ----
    cache_dir = OmegaConf.select(conf, "cache_dir")
    p_zca, fit_seconds, from_cache = fit_zca_on(x_train, EPSILONS[0], splits.fingerprint, cache_dir)
    before_train = build("none").transform(x_train)
    after_train = p_zca.transform(x_train)
    after_heldout = p_zca.transform(x_heldout)
    cb, ca, ch = (pixel_correlations(z) for z in (before_train, after_train, after_heldout))
    keys = ("neighbour_pixels", "distant_pixels", "channels")
    M["corr_before"] = {key: cb[key] for key in keys}
    M["corr_after"] = {key: ca[key] for key in keys}
    M["corr_after_heldout"] = {key: ch[key] for key in keys}
    M["corr_D"] = d_train
    M["zca_fit_seconds"] = fit_seconds
    M["zca_fit_loaded_from_cache"] = from_cache
    centre = (h // 2, w // 2, 0)
    fig = plt.figure(figsize=(15, 7))
    grid = fig.add_gridspec(2, 4, width_ratios=[1, 1, 1, 1.6], wspace=0.3, hspace=0.35)
    for row, (z, what) in enumerate(((before_train, "before ZCA"), (after_train, "after ZCA"))):
        cmap = correlation_map(z, centre)
        for ch_i, ch_name in enumerate("RGB"):
            ax = fig.add_subplot(grid[row, ch_i])
            im = ax.imshow(cmap[..., ch_i], cmap="RdBu_r", vmin=-1, vmax=1, interpolation="nearest")
            ax.plot(centre[1], centre[0], "s", ms=9, mfc="none", mec="black", mew=1)
            ax.set_title(f"{what}:\nR at the square vs {ch_name} at each pixel", fontsize=9)
            ax.set_xlabel("column")
            ax.set_ylabel("row")
    fig.colorbar(im, ax=fig.axes[:6], shrink=0.8, label="correlation across training images")
    ax = fig.add_subplot(grid[:, 3])
    dist = np.arange(1, w)
    ax.plot(dist, cb["profile"], "o-", label="before ZCA (training images)")
    ax.plot(dist, ca["profile"], "s-", label="after ZCA (training images)")
    ax.plot(dist, ch["profile"], "^-", label="after ZCA (held-out test images)")
    ax.axhline(0, color="grey", lw=0.8)
    ax.set_xlabel(f"horizontal distance between the two pixels (pixels; {w}-d pairs per row)")
    ax.set_ylabel("mean correlation, same channel")
    ax.set_title("correlation vs distance")
    ax.legend(fontsize=8)
    fig.suptitle(f"What ZCA decorrelates: every pair of the D = {d_train} pixel values, over {len(x_train)} "
                 f"training images of {label}")
    save(fig, figs / "4_zca_correlations.png")

    picks = [(h // 2, w // 2, 0), (h // 2, w // 2, 1), (h // 2, w // 2, 2), (h // 4, w // 4, 0)]
    rows = whitening_rows(p_zca, picks, (h, w, c))
    fig, axes = plt.subplots(2, 4, figsize=(13, 7.2))
    zoom = max(1, min(4, h // 4, w // 4))  # a (2 zoom + 1)^2 window; the weights beyond are ~0
    side = 2 * zoom + 1
    for i, (pick, row_w) in enumerate(zip(picks, rows)):
        window = row_w[pick[0] - zoom : pick[0] + zoom + 1, pick[1] - zoom : pick[1] + zoom + 1]
        surround = window.copy()
        surround[zoom, zoom, pick[2]] = 0
        scale = np.abs(surround).max()  # the own-value weight saturates; the rest stays readable
        imshow(axes[0, i], np.clip(0.5 + window / (2 * scale), 0, 1),
               f"output {'RGB'[pick[2]]} at ({pick[0]},{pick[1]})\n{side}x{side} window around it")
    r0, c0 = h // 2, w // 2
    crop = rows[0][r0 - zoom : r0 + zoom + 1, c0 - zoom : c0 + zoom + 1]
    lim = np.abs(crop).max()
    for ch_i, ch_name in enumerate("RGB"):
        ax = axes[1, ch_i]
        im = ax.imshow(crop[..., ch_i], cmap="RdBu_r", vmin=-lim, vmax=lim, interpolation="nearest")
        ax.set_title(f"output R at ({r0},{c0}):\nweights on input {ch_name}", fontsize=9)
        ax.set_xticks(range(0, 2 * zoom + 1, 2), range(c0 - zoom, c0 + zoom + 1, 2))
        ax.set_yticks(range(0, 2 * zoom + 1, 2), range(r0 - zoom, r0 + zoom + 1, 2))
        ax.set_xlabel("column")
        ax.set_ylabel("row")
    fig.colorbar(im, ax=axes[1, :3], shrink=0.8, label="weight")
    ax = axes[1, 3]
    profile_r = rows[0][r0, :, 0]
    ax.plot(np.arange(w), profile_r, "o-", color="red", ms=3)
    ax.axhline(0, color="grey", lw=0.8)
    ax.set_xlabel("column (row %d)" % r0)
    ax.set_ylabel("R weight")
    ax.set_title(f"output R at ({r0},{c0}):\nweights on input R along row {r0}", fontsize=9)
    fig.suptitle("ZCA whitening filters = rows of W: each output value is this weighted sum of the input values\n"
                 "top: RGB composites, grey = 0, the weight on the value itself clipped; bottom: the first filter per "
                 "channel", fontsize=11)
    save(fig, figs / "4_zca_filters.png")
    centre_weight = float(rows[0][r0, c0, 0])
    neighbour_weights = float(np.mean([rows[0][r0 + dr, c0 + dc, 0] for dr, dc in ((0, 1), (0, -1), (1, 0), (-1, 0))]))
    M.update(zca_filter_centre_weight=centre_weight, zca_filter_neighbour_weight_mean=neighbour_weights,
             zca_filter_centre_weight_on_G=float(rows[0][r0, c0, 1]),
             zca_filter_centre_weight_on_B=float(rows[0][r0, c0, 2]),
             zca_filter_energy_within_2px=float(
                 (rows[0][r0 - 2 : r0 + 3, c0 - 2 : c0 + 3] ** 2).sum() / (rows[0] ** 2).sum()))

    def corr_row(name, key):
        return f"| {name} | {cb[key]:.3f} | {ca[key]:.3g} | {ch[key]:.3f} |"

    md += [
        "## 4. What ZCA decorrelates (the memo's open question)",
        "",
        "**The memo** asked: \"what is it that becomes uncorrelated? It looks like the correlation between R, G and "
        "B, but is that so?\"",
        "",
        f"**Measured** on {len(x_train):,} training images of {label}, D = {h}x{w}x{c} = {d_train} values per image; "
        "ZCA fitted by prepbench with eps 1e-6 ("
        + (f"loaded in {fit_seconds:.1f} s from prepbench's statistics cache, where an earlier run stored the fit"
           if from_cache else f"fitted in {fit_seconds:.1f} s, and stored in prepbench's statistics cache")
        + "). Each number is the correlation, across "
        "images, between two pixel values of the same image, averaged over all such pairs in the image:",
        "",
        "| pair of values | before (`corr_before`) | after, training images (`corr_after`) | after, held-out test images |",
        "|---|---|---|---|",
        corr_row("neighbouring pixels, same channel", "neighbour_pixels"),
        corr_row(f"pixels {w // 2} apart, same channel", "distant_pixels"),
        corr_row("R, G and B of one pixel", "channels"),
        "",
        "![correlations](figures/4_zca_correlations.png)",
        "",
        "The maps show the correlation of the centre pixel's R value with the R, G and B values at every pixel: "
        "before ZCA a broad blob spanning most of the image and all three channels; after ZCA a single "
        "point (its correlation with itself).",
        "",
        "![filters](figures/4_zca_filters.png)",
        "",
        f"Each row of W is the filter that produces one output value. They are local centre-surround filters: the "
        f"centre-R filter has weight {centre_weight:.3g} on its own pixel, {neighbour_weights:.3g} on average on "
        f"its four neighbours, {M['zca_filter_centre_weight_on_G']:.3g} and {M['zca_filter_centre_weight_on_B']:.3g} "
        f"on the G and B values of its own pixel (it subtracts what the other channels predict: that removes the "
        f"R-G-B correlation), and {100 * M['zca_filter_energy_within_2px']:.0f}% of its squared weight within 2 "
        "pixels. ZCA is the whitening that changes the images least, "
        "so each output pixel stays where it was and keeps mostly its own value, minus a prediction from its "
        "neighbours: it behaves like an edge detector.",
        "",
        "**Answer**: ZCA decorrelates every pair of the D = H x W x C pixel values across the training images — "
        "neighbouring pixels, distant pixels and the three channels of one pixel alike (correlations "
        f"{cb['neighbour_pixels']:.2f}, {cb['distant_pixels']:.2f} and {cb['channels']:.2f} become "
        f"{ca['neighbour_pixels']:.1g}, {ca['distant_pixels']:.1g} and {ca['channels']:.1g}) — not just R, G and B.",
        "",
        f"On held-out images, never fitted on, the decorrelation is only approximate (last column) because "
        f"{len(x_train):,} images estimate the {d_train} x {d_train} covariance imperfectly; section 5 shows the "
        "directions where that matters.",
        "",
    ]

    done("4 zca correlations")

    # ---- 5. zca_epsilon ----
    fitted = {EPSILONS[0]: p_zca}
    for eps in EPSILONS[1:]:
        fitted[eps] = fit_zca_on(x_train, eps, splits.fingerprint, cache_dir)[0]
    effect = zca_epsilon_effect(fitted, x_train, x_heldout)
    heldout_corr = {eps: pixel_correlations(fitted[eps].transform(x_heldout)) for eps in EPSILONS}
    # Gain = the factor each principal direction is multiplied by; sorted ascending = variance descending.
    gains = {eps: np.sort(fitted[eps].scales_) for eps in EPSILONS}
    base = gains[EPSILONS[0]]
    M["zca_eps_values"] = list(EPSILONS)
    M["zca_eps_train_std"] = {f"{e:g}": effect[e]["train_std"] for e in EPSILONS}
    M["zca_eps_heldout_std"] = {f"{e:g}": effect[e]["heldout_std"] for e in EPSILONS}
    M["zca_eps_heldout_corr"] = {f"{e:g}": {key: heldout_corr[e][key] for key in keys} for e in EPSILONS}
    M["zca_eps_max_gain"] = {f"{e:g}": float(gains[e].max()) for e in EPSILONS}
    M["zca_eps_directions_damped_2x"] = {f"{e:g}": int(np.sum(gains[e] < base / 2)) for e in EPSILONS}
    M["zca_gain_ratio_max_to_min_default"] = float(base.max() / base.min())
    examples = [demo if demo.shape == x_train.shape[1:] else resize(demo, h), x_heldout[1], x_heldout[2]]
    fig, axes = plt.subplots(len(examples), 1 + len(EPSILONS), figsize=(3 * (1 + len(EPSILONS)), 3.1 * len(examples)))
    for r, img in enumerate(examples):
        imshow(axes[r, 0], img, "held-out input" + (" (the demo image)" if r == 0 else ""))
        for j, eps in enumerate(EPSILONS):
            z = fitted[eps].transform(img[None])[0]
            imshow(axes[r, j + 1], show_signed(z), f"zca_epsilon = {eps:g}\noutput std {z.std():.3g}")
    fig.suptitle("ZCA output for three values of zca_epsilon (grey = 0, white/black = ±3 std of each output)")
    save(fig, figs / "5_zca_epsilon.png")
    fig, ax = plt.subplots(figsize=(8, 4.5))
    rank = np.arange(1, len(base) + 1)
    for eps in EPSILONS:
        ax.plot(rank, gains[eps], label=f"zca_epsilon = {eps:g}")
    ax.set_yscale("log")
    ax.set_xlabel(f"principal direction, from most to least variance (1..{len(base)})")
    ax.set_ylabel("gain: factor applied by W")
    ax.set_title(f"ZCA gain per principal direction, fitted on {len(x_train):,} training images")
    ax.legend()
    ax.grid(alpha=0.3)
    save(fig, figs / "5_zca_epsilon_gain.png")
    n_fit = len(x_train)
    e0, e1, e2 = EPSILONS
    hs = M["zca_eps_heldout_std"]
    md += [
        "## 5. The effect of `zca_epsilon`",
        "",
        "**Context**: Keras 3's `ImageDataGenerator` (and prepbench, same formula) whitens with W = U diag(sqrt(n) / "
        "(s + eps)) Uᵀ, where s are the singular values of the centred n x D training matrix and eps = `zca_epsilon`, "
        "default 1e-6 (Keras 2, which the memo ran, added eps to the covariance's eigenvalues instead: "
        "1/sqrt(eigenvalue + eps)). Equivalently, eps/sqrt(n) is added to the square root of each eigenvalue of the covariance (with n = "
        f"{n_fit:,}: {e0 / np.sqrt(n_fit):.2g}, {e1 / np.sqrt(n_fit):.2g} and {e2 / np.sqrt(n_fit):.2g}), and each "
        "principal direction is multiplied by the gain 1/(sqrt(eigenvalue) + eps/sqrt(n)). Directions with almost "
        "no variance in the training images (the finest, pixel-level detail) get the largest gains.",
        "",
        "| zca_epsilon | largest gain | directions damped ≥2x vs 1e-6 | output std, training | output std, "
        "held-out | held-out corr. neighbours / channels |",
        "|---|---|---|---|---|---|",
        *[f"| {e:g} | {gains[e].max():.0f} | {M['zca_eps_directions_damped_2x'][f'{e:g}']} of {len(base)} | "
          f"{effect[e]['train_std']:.3f} | {effect[e]['heldout_std']:.3f} | "
          f"{heldout_corr[e]['neighbour_pixels']:.3f} / {heldout_corr[e]['channels']:.3f} |" for e in EPSILONS],
        "",
        "![epsilon](figures/5_zca_epsilon.png)",
        "",
        "![gain](figures/5_zca_epsilon_gain.png)",
        "",
        f"**What it means**: with the default eps the gains span a factor {M['zca_gain_ratio_max_to_min_default']:.0f} "
        "between the strongest and the weakest direction. Training images come out with std "
        f"{effect[e0]['train_std']:.2f} (that is what whitening means), but held-out images with std {hs[f'{e0:g}']:.2f}: "
        "directions that happened to have tiny variance in this training sample carry more in new images and are "
        "blown up, so the whitened pictures are dominated by pixel-level noise with the edges faintly visible. "
        f"eps = {e1:g} is practically the same as the default (it adds {e1 / np.sqrt(n_fit):.1g} to square roots of "
        f"eigenvalues that are mostly far larger); eps = {e2:g} damps {M['zca_eps_directions_damped_2x'][f'{e2:g}']} "
        f"directions at least 2x, lowers the held-out std to {hs[f'{e2:g}']:.2f}, brings the held-out correlations "
        f"of neighbours and channels from {heldout_corr[e0]['neighbour_pixels']:.2f} / "
        f"{heldout_corr[e0]['channels']:.2f} to {heldout_corr[e2]['neighbour_pixels']:.2f} / "
        f"{heldout_corr[e2]['channels']:.2f}, and makes the edges stand out more from the noise. "
        "So in Keras' convention (eps added to singular values of the n x D matrix) a useful eps is much larger "
        "than the default, and it grows with sqrt(n); it is a setting to sweep, not a constant.",
        "",
    ]

    done("5 zca epsilon")

    # ---- 6. augmentation ----
    import tensorflow as tf  # noqa: F401 (first use here; import cost is paid once)

    params = conf.augmentation
    aug_image = demo if max(demo.shape[:2]) <= 256 else resize(demo, 256)
    aug, draws = augmentation_grid(aug_image, params, args.augment_draws, seed=int(conf.seed))
    cols = 4
    rows_n = int(np.ceil((1 + len(aug)) / cols))
    fig, axes = plt.subplots(rows_n, cols, figsize=(3 * cols, 3.2 * rows_n))
    axes = np.atleast_2d(axes)
    imshow(axes[0, 0], aug_image, "original")
    for i, img in enumerate(aug, start=1):
        ax = axes.flat[i]
        imshow(ax, np.clip(img, 0, 1), f"rot {draws['degrees'][i - 1]:+.0f}°, dx {draws['dx'][i - 1]:+.1f} px, "
               f"dy {draws['dy'][i - 1]:+.1f} px\nflip: {'yes' if draws['flip'][i - 1] else 'no'}")
    for ax in axes.flat[1 + len(aug):]:
        ax.axis("off")
    fig.suptitle(f"C1 augmentation, the memo's settings: rotation ±{params.rotation_degrees}°, shifts "
                 f"±{params.shift_fraction:.0%}, horizontal flip, fill '{params.fill_mode}' ({len(aug)} draws)")
    save(fig, figs / "6_augmentation.png")
    M["augment_draws"] = len(aug)
    M["augment_params"] = OmegaConf.to_container(params)
    md += [
        "## 6. Augmentation (C1)",
        "",
        f"**The memo** augments with `ImageDataGenerator(rotation_range={params.rotation_degrees}, "
        f"width_shift_range={params.shift_fraction}, height_shift_range={params.shift_fraction}, "
        "horizontal_flip=True)` and says it may raise accuracy when data is scarce.",
        "",
        f"**Shown**: {demo_name if aug_image is demo else demo_name + ' (resized to 256x256)'} under {len(aug)} "
        "random draws of those settings (prepbench's vectorised `augment_batch`, read from `augmentation:` in "
        "conf/config.yaml; fill mode nearest, as IDG's default). The titles give each draw.",
        "",
        "![augmentation](figures/6_augmentation.png)",
        "",
        "**What it means**: every epoch the network sees a differently rotated, shifted and mirrored copy, so it "
        f"cannot memorise pixel positions. On {h}x{w} images a {params.shift_fraction:.0%} shift is up to "
        f"{params.shift_fraction * w:.0f} pixels, and 'nearest' fill smears the border pixels into the gap (the "
        "streaks at the edges). Whether it helps shallow and deep networks equally is measured by the training sweeps.",
        "",
    ]

    done("6 augmentation")

    # ---- 7. batch normalization ----
    n_bn = min(args.bn_images, len(x_train))
    bn = batchnorm_study(
        x_train[:n_bn], y_train[:n_bn], x_heldout[:256], net_cfg=net_cfg, num_classes=len(splits.class_names),
        epochs=args.bn_epochs, batch_size=int(trainer_cfg.batch_size), lr=float(trainer_cfg.lr), seed=int(conf.seed),
    )
    for tag, flag in (("without", False), ("with", True)):
        s = bn[flag]["trained"]
        M[f"bn_pre_mean_{tag}"], M[f"bn_pre_std_{tag}"] = s.pre_mean, s.pre_std
        M[f"bn_post_mean_{tag}"], M[f"bn_post_std_{tag}"] = s.post_mean, s.post_std
        M[f"bn_train_loss_{tag}"] = bn[flag]["loss"]
        M[f"bn_train_accuracy_{tag}"] = bn[flag]["accuracy"]
        M[f"bn_init_post_std_{tag}"] = bn[flag]["init"].post_std
    M.update(bn_layers=bn[False]["trained"].layers, bn_images=n_bn, bn_epochs=args.bn_epochs,
             bn_batch_size=int(trainer_cfg.batch_size), bn_probe_batch=int(min(256, len(x_heldout))))
    layers = np.arange(1, len(bn[False]["trained"].layers) + 1)
    fig, axes = plt.subplots(2, 2, figsize=(12, 8), sharex=True)
    for flag, colour, name in ((False, "tab:orange", "without BN"), (True, "tab:blue", "with BN")):
        for stage, style in (("init", "--"), ("trained", "-")):
            s = bn[flag][stage]
            lab = f"{name}, {'at initialisation' if stage == 'init' else 'after training'}"
            axes[0, 0].plot(layers, s.pre_mean, style, color=colour, marker="o", label=lab)
            axes[0, 1].plot(layers, s.pre_std, style, color=colour, marker="o", label=lab)
            axes[1, 0].plot(layers, s.post_mean, style, color=colour, marker="o", label=lab)
            axes[1, 1].plot(layers, s.post_std, style, color=colour, marker="o", label=lab)
    titles = [["before ReLU (conv output, or BN output): mean", "before ReLU: std"],
              ["after ReLU (input to the next layer): mean", "after ReLU: std"]]
    for r in range(2):
        for cc in range(2):
            ax = axes[r, cc]
            ax.set_title(titles[r][cc], fontsize=10)
            ax.axhline(0, color="grey", lw=0.6)
            ax.set_ylabel("std" if cc else "mean")
            ax.set_xticks(layers)
        axes[1, r].set_xlabel("convolution layer")
    for ax in (axes[0, 1], axes[1, 1]):
        ax.set_ylim(bottom=0)
    handles, labels_ = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels_, loc="lower center", ncol=4, fontsize=9, bbox_to_anchor=(0.5, -0.01))
    fig.subplots_adjust(bottom=0.12)
    fig.suptitle(f"C6 batch normalization: activations of the deep net (conf/net/deep.yaml, {len(layers)} convs)\n"
                 f"on one batch of {M['bn_probe_batch']} held-out images, after {args.bn_epochs} epoch(s) on {n_bn} images")
    save(fig, figs / "7_batchnorm.png")
    sw_, sb_ = bn[False]["trained"], bn[True]["trained"]
    iw_ = bn[False]["init"]
    md += [
        "## 7. Batch normalization (C6)",
        "",
        "**The memo** says batch normalization standardizes each layer's inputs per mini-batch and is expected to "
        "make learning more efficient, and leaves it there.",
        "",
        f"**Measured**: the deep net of conf/net/deep.yaml (depth {net_cfg.depth}, width {net_cfg.width}, dense "
        f"{net_cfg.dense}), with and without a BatchNormalization after every convolution, same initial weights, "
        f"inputs x / 255, trained for {args.bn_epochs} epoch(s) on {n_bn:,} training images (Adam, lr "
        f"{trainer_cfg.lr:g}, batch {trainer_cfg.batch_size}) — deliberately short, to look at activations, not "
        f"accuracy. Then the mean and std of every convolution block's activations over one batch of "
        f"{M['bn_probe_batch']} held-out images (with BN, computed as in training: from the batch's own statistics). "
        f"Training loss of the last epoch: {bn[False]['loss'][-1]:.3f} without BN, {bn[True]['loss'][-1]:.3f} with.",
        "",
        "| layer | pre-ReLU std, without BN | pre-ReLU std, with BN | post-ReLU mean without / with |",
        "|---|---|---|---|",
        *[f"| {sw_.layers[i]} | {sw_.pre_std[i]:.3g} | {sb_.pre_std[i]:.3g} | "
          f"{sw_.post_mean[i]:.3g} / {sb_.post_mean[i]:.3g} |" for i in range(len(layers))],
        "",
        "![batchnorm](figures/7_batchnorm.png)",
        "",
        "**What it means**: with BN every layer receives inputs on the same scale — BN output at mean "
        f"{min(sb_.pre_mean):.2g}..{max(sb_.pre_mean):.2g} and std {min(sb_.pre_std):.3f}..{max(sb_.pre_std):.3f} in "
        f"every layer, so after the ReLU mean ≈ {np.mean(sb_.post_mean):.2f} and std ≈ {np.mean(sb_.post_std):.2f} "
        "(those of a rectified standard normal, 0.40 and 0.58), at initialisation and after training alike. Without "
        "BN each layer's scale is whatever the weights and the layers below make it: the He initialisation keeps "
        f"the pre-ReLU std between {min(iw_.pre_std):.2f} and {max(iw_.pre_std):.2f} at the start, and after this "
        f"short training it ranges from {min(sw_.pre_std):.3g} (conv{int(np.argmin(sw_.pre_std)) + 1}) to "
        f"{max(sw_.pre_std):.3g} (conv{int(np.argmax(sw_.pre_std)) + 1}): the scale drifts as the weights change, "
        "and every layer has to keep adapting to the drift of the layers below. With BN a fixed learning rate suits "
        "every layer, which is the mechanism behind \"more efficient learning\". "
        "This short run shows the mechanism only; whether BN trains faster or better here is measured by the "
        "`batchnorm` variant in the training sweeps.",
        "",
    ]

    done("7 batch normalization")

    # ---- 8. the memo's code on Keras 3 ----
    import keras

    checks = check_keras_lines()
    M["keras_version"] = keras.__version__
    M["tensorflow_version"] = tf.__version__
    M["keras3_checks"] = checks

    def cell(text):
        return str(text).replace("|", "\\|").replace("\n", "; ")

    md += [
        "## 8. The memo's code on Keras 3",
        "",
        f"Each Keras line of the memo was run in this process against the installed Keras {keras.__version__} "
        f"(TensorFlow {tf.__version__}), on a tiny model and 8 zero images; the table shows what happened. "
        "(`cv2` lines are OpenCV, not Keras, and are not checked.)",
        "",
        "| memo's line | result on Keras 3 | replacement | replacement's result |",
        "|---|---|---|---|",
        *[
            f"| `{cell(c_['memo_line'])}` | {'works' if c_['memo_line_works'] else 'fails: ' + cell(c_['memo_line_result'])}"
            f" | `{cell(c_['replacement'])}` | "
            + ("—" if c_["replacement_works"] is None else ("works: " if c_["replacement_works"] else "fails: ")
               + cell(c_["replacement_result"])) + " |"
            for c_ in checks
        ],
        "",
        "**What it means**: the memo's training code fails on Keras 3 before it trains anything (`np_utils` is gone). "
        "`ImageDataGenerator` still exists only as `tf.keras.preprocessing.image.ImageDataGenerator` (source "
        "`keras/src/legacy/preprocessing/image.py`, a legacy API kept for compatibility); its iterators are "
        "ordinary Python iterators (`next(it)`), `model.fit` takes them directly, and `steps_per_epoch` must be an "
        "integer. Its ZCA fit on a 128x128 image still forms a 49,152 x 49,152 whitening matrix; prepbench's "
        "Gram route (section 3) never forms one.",
        "",
    ]

    done("8 keras 3 checks")
    M["seconds_by_section"] = timings
    M["seconds_total"] = time.perf_counter() - t0
    header = [
        "# The memo, reproduced and explained",
        "",
        f"Command: `{M['command']}`  ",
        f"prepbench {__version__}, commit {M['commit']}; Keras {keras.__version__}, TensorFlow {tf.__version__}, "
        f"NumPy {np.__version__}, Python {platform.python_version()}  ",
        f"Data: {label}, fingerprint `{splits.fingerprint}`, {len(x_train):,} training images, {k:,} held-out test "
        f"images; single-image sections use {demo_name}. Run time {M['seconds_total']:.0f} s.",
        "",
        "The memo (in Japanese, `../shared/memo-ja.txt`; claims C1–C6 in GUIDE.md section 1) walks through image "
        "preprocessing for CNNs with Keras' `ImageDataGenerator`, shows pictures and numbers, and leaves questions "
        "open. Each section below states what the memo claimed or asked, what we measured with prepbench's own "
        "preprocessing library (`prepbench/preprocess.py`), and what it means. Every number is also in "
        "`memo.json`.",
        "",
    ]
    (out / "memo.md").write_text("\n".join(header + md))
    (out / "memo.json").write_text(json.dumps(M, indent=2) + "\n")
    return M


if __name__ == "__main__":
    sys.exit(main())
