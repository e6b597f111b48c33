"""The rule of every setting, once: what values a key takes, for code at any layer that reads one.

    check("data.image_size", 4)      # raises PrepbenchError naming the key, the value and what is allowed

`prepbench.config.validate` applies every rule to a whole config; the data sources and the
preprocessing check the settings they read with `check`, so a value is refused in the same words
wherever it enters.
"""

from __future__ import annotations

import math

from prepbench.errors import PrepbenchError

SEED_MAX = 2**32 - 1  # numpy's and TensorFlow's seeds are 32-bit


def _int(low, high=math.inf):
    return lambda v: isinstance(v, int) and not isinstance(v, bool) and low <= v <= high


def _optional_int(low):
    return lambda v: v is None or _int(low)(v)


def _number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _positive(v) -> bool:
    return _number(v) and v > 0


_bool = (lambda v: isinstance(v, bool), "true or false")
_name = (lambda v: isinstance(v, str) and v.strip() != "", "a non-empty name")

# key: (test, what is allowed). Missing optional keys (prep.zca_epsilon outside zca) are skipped.
RULES = {
    "seed": (_int(0, SEED_MAX), f"an integer from 0 to 2**32-1 = {SEED_MAX}"),
    "rerun": _bool,
    "allow_dirty": _bool,
    "whole_seeds": _bool,
    # an empty PREPBENCH_CACHE would put the caches in whatever folder the command runs from
    "cache_dir": (
        lambda v: isinstance(v, str) and v.strip() != "",
        "a directory (PREPBENCH_CACHE, when set, not empty)",
    ),
    "trainer.epochs": (_int(1), "an integer >= 1"),
    "trainer.steps": (_optional_int(1), "an integer >= 1, or null (train trainer.epochs)"),
    "trainer.warmup_steps": (_optional_int(0), "an integer >= 0 fewer than the run's steps, or null"),
    "trainer.validation_every_steps": (_optional_int(1), "an integer >= 1, or null (every epoch)"),
    "trainer.batch_size": (_int(1), "an integer >= 1"),
    "trainer.lr": (_positive, "a positive finite number"),
    "trainer.optimizer": (lambda v: v in ("adam", "sgd"), "adam or sgd"),
    "trainer.momentum": (lambda v: _number(v) and 0 <= v < 1, "a number in [0, 1)"),
    "trainer.nesterov": _bool,
    "trainer.weight_decay": (lambda v: _number(v) and v >= 0, "a number >= 0 (0: none)"),
    "trainer.threads": (_int(0), "an integer >= 0 (0: all cores)"),
    "trainer.steps_per_execution": (_int(1), "an integer >= 1"),
    "trainer.schedule": (lambda v: v in ("constant", "cosine"), "constant or cosine"),
    "trainer.warmup_epochs": (_int(0), "an integer >= 0, fewer than trainer.epochs"),
    "trainer.precision": (lambda v: v in ("auto", "float32", "bfloat16"), "auto, float32 or bfloat16"),
    "trainer.backend": (lambda v: v in ("tensorflow", "jax"), "tensorflow or jax"),
    "trainer.deterministic": _bool,
    "net.family": (lambda v: v in ("plain", "resnet"), "plain or resnet"),
    "net.depth": (_int(1), "an integer >= 1"),
    "net.width": (_int(1), "an integer >= 1"),
    "net.dense": (_int(1), "an integer >= 1"),
    "net.dropout": (lambda v: _number(v) and 0 <= v < 1, "a rate in [0, 1)"),
    "net.input_dropout": (lambda v: _number(v) and 0 <= v < 1, "a rate in [0, 1)"),
    "data.val_size": (_int(0), "an integer >= 0 (0: no validation split)"),
    "data.train_size": (_optional_int(1), "null or an integer >= 1"),
    "data.test_size": (_optional_int(1), "null or an integer >= 1"),
    "data.split_seed": (_int(0), "an integer >= 0"),
    "data.image_size": (_optional_int(8), "null or an integer >= 8"),
    "prep.augment": (
        lambda v: isinstance(v, bool) or v == "crop",
        "true (the memo's augmentation), crop (He et al.'s pad, crop and flip) or false",
    ),
    "prep.batchnorm": _bool,
    "prep.zca_epsilon": (_positive, "a positive number such as 1e-6"),
    "prep.zca_shrinkage": (lambda v: v is None or (_number(v) and v >= 0), "a number >= 0 such as 0.1 (0: none)"),
    "prep.zca_retain": (
        lambda v: v is None or _int(1)(v) or (isinstance(v, float) and 0 < v <= 1),
        "null, a count of components >= 1, or a fraction of the variance in (0, 1] such as 0.99",
    ),
    "prep.zca_fit_images": (_optional_int(1), "null or an integer >= 1 (images of the training split)"),
    "prep.gcn": (lambda v: v is None or _positive(v), "null or a positive L2 norm per image such as 55"),
    "prep.batchnorm_momentum": (lambda v: isinstance(v, float) and 0 < v < 1, "a number in (0, 1)"),
    "augmentation.rotation_degrees": (lambda v: _number(v) and 0 <= v <= 180, "degrees in [0, 180]"),
    "augmentation.shift_fraction": (lambda v: _number(v) and 0 <= v < 1, "a fraction in [0, 1)"),
    "augmentation.horizontal_flip": _bool,
    "augmentation.crop_padding": (_int(0), "an integer >= 0 (pixels on each side)"),
    "augmentation.fill_mode": (
        lambda v: v in ("nearest", "constant", "reflect", "wrap"),
        "nearest, constant, reflect or wrap",
    ),
    "tracking.experiment": _name,
    "tracking.lease_seconds": (_positive, "a positive number of seconds"),
}


# Real-number settings and the type conf/ writes each in. A value typed the other way is the same
# number (`prep.zca_shrinkage=10` is 10.0), so it is read in this type (prepbench.config.settle_numbers)
# and stays one job, one config hash. Not prep.zca_retain, where an integer (a count of components)
# and a fraction mean different things.
REAL_NUMBERS = {
    "trainer.lr": float,
    "trainer.momentum": float,
    "trainer.weight_decay": float,
    "net.dropout": float,
    "net.input_dropout": float,
    "prep.zca_epsilon": float,
    "prep.zca_shrinkage": float,
    "prep.gcn": float,
    "prep.batchnorm_momentum": float,
    "augmentation.rotation_degrees": int,
    "augmentation.shift_fraction": float,
}

# A ResNet's layers take one seed each from the run seed's block of 1,000 (prepbench.train.nets):
# depth - 1 convolutions, two projections and the dense layer fit up to 6 * 165 + 2.
RESNET_MAX_DEPTH = 992


def check_resnet_depth(depth) -> None:
    """Raise PrepbenchError unless `depth` is a CIFAR ResNet's 6n+2 (net.family=resnet)."""
    if not (_int(8, RESNET_MAX_DEPTH)(depth) and (depth - 2) % 6 == 0):
        raise PrepbenchError(
            f"net.depth={_show(depth)} is invalid for net=resnet; expected 6n+2 layers with n >= 1: "
            f"8, 14, 20, 32, 44, 56, 110, ... up to {RESNET_MAX_DEPTH}"
        )


def check_resnet_batchnorm(batchnorm) -> None:
    """A residual net already has batch norm after every convolution: prep.batchnorm=true is refused
    rather than read as a second treatment that would train the same network under another name."""
    if batchnorm:
        raise PrepbenchError(
            "prep.batchnorm=true is invalid with net=resnet, which has batch normalization after every "
            "convolution already; expected prep.batchnorm=false (prep=none is its input as the batchnorm row's)"
        )


def check(key: str, value) -> None:
    """Raise PrepbenchError unless `value` passes the rule for `key` (a key of RULES)."""
    ok, allowed = RULES[key]
    if not ok(value):
        problem = "is out of range" if _number(value) else "is invalid"
        raise PrepbenchError(f"{key}={_show(value)} {problem}; expected {allowed}")


def _show(value) -> str:
    return repr(value) if isinstance(value, str) and (value == "" or value != value.strip()) else str(value)
