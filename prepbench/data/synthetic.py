"""Generated images with learnable class structure, for tests and demos (not cached: cheap)."""

from __future__ import annotations

import numpy as np

from prepbench.data.cache import digest
from prepbench.data.cifar10 import resize_all
from prepbench.data.decoded import Decoded, content_key
from prepbench.data.settings import count_setting, image_size_setting, require
from prepbench.errors import PrepbenchError


def make_synthetic(cfg: dict) -> Decoded:
    """Per-class colour and oriented-stripe templates plus noise: learnable, deterministic, cheap (not cached)."""
    counts = ("num_classes", "train_images", "test_images", "size", "generator_seed")
    settings = {key: count_setting(cfg, key, allow_null=False) for key in counts}
    settings["noise"] = require(cfg, "noise")
    for key in ("num_classes", "size"):
        if settings[key] < 1:
            raise PrepbenchError(f"data.{key}={settings[key]} is invalid; expected a positive integer")
    image_size = image_size_setting(cfg)
    rng = np.random.default_rng(settings["generator_seed"])
    num_classes, size = settings["num_classes"], settings["size"]
    colours = rng.uniform(0.25, 0.75, size=(num_classes, 3))
    angles = np.pi * np.arange(num_classes) / num_classes  # one stripe orientation per class
    rows, cols = np.mgrid[0:size, 0:size] / size

    def generate(count):
        labels = np.arange(count) % num_classes  # balanced classes
        labels = rng.permutation(labels)
        phases = rng.uniform(0, 2 * np.pi, count)  # stripes shift per image, so position alone says nothing
        along = np.cos(angles[labels])[:, None, None] * cols + np.sin(angles[labels])[:, None, None] * rows
        stripes = 0.2 * np.sin(2 * np.pi * 3 * along + phases[:, None, None])
        # Per-image colour jitter: colour is a strong cue but not a perfect one, so stripes matter too.
        tints = colours[labels] + 0.1 * rng.standard_normal((count, 3))
        images = tints[:, None, None, :] + stripes[..., None]
        images = images + settings["noise"] * rng.standard_normal(images.shape)
        pixels = np.clip(np.round(images * 255), 0, 255).astype(np.uint8)
        return resize_all(pixels, image_size), labels.astype(np.int64)

    x_train, y_train = generate(settings["train_images"])
    x_test, y_test = generate(settings["test_images"])
    class_names = tuple(f"class_{i}" for i in range(num_classes))
    key = content_key("synthetic", digest(settings), image_size)
    return Decoded(x_train, y_train, x_test, y_test, class_names, key)
