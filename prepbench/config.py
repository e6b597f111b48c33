"""Checks of a composed config that Hydra cannot do: ranges, with one line per bad value."""

from __future__ import annotations

import math

from omegaconf import DictConfig, OmegaConf

from prepbench.errors import PrepbenchError

# key: (test, what is allowed). Missing optional keys (prep.zca_epsilon outside zca) are skipped.
_int = lambda low: (lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= low)  # noqa: E731
_optional_int = lambda low: (lambda v: v is None or _int(low)(v))  # noqa: E731
_positive = lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v > 0  # noqa: E731
RULES = {
    "seed": (_int(0), "an integer >= 0"),
    "trainer.epochs": (_int(1), "an integer >= 1"),
    "trainer.batch_size": (_int(1), "an integer >= 1"),
    "trainer.lr": (_positive, "a positive finite number"),
    "trainer.threads": (_int(0), "an integer >= 0 (0: all cores)"),
    "trainer.schedule": (lambda v: v in ("constant", "cosine"), "constant or cosine"),
    "trainer.warmup_epochs": (_int(0), "an integer >= 0, fewer than trainer.epochs"),
    "trainer.precision": (lambda v: v in ("auto", "float32", "bfloat16"), "auto, float32 or bfloat16"),
    "trainer.backend": (lambda v: v in ("tensorflow", "jax"), "tensorflow or jax"),
    "net.depth": (_int(1), "an integer >= 1"),
    "net.width": (_int(1), "an integer >= 1"),
    "net.dense": (_int(1), "an integer >= 1"),
    "data.val_size": (_int(0), "an integer >= 0"),
    "data.train_size": (_optional_int(1), "null or an integer >= 1"),
    "data.test_size": (_optional_int(1), "null or an integer >= 1"),
    "data.image_size": (_optional_int(8), "null or an integer >= 8"),
    "prep.zca_epsilon": (_positive, "a positive number such as 1e-6"),
    "prep.batchnorm_momentum": (lambda v: isinstance(v, float) and 0 < v < 1, "a number in (0, 1)"),
    "augmentation.rotation_degrees": (lambda v: isinstance(v, (int, float)) and 0 <= v <= 180, "degrees in [0, 180]"),
    "augmentation.shift_fraction": (lambda v: isinstance(v, (int, float)) and 0 <= v < 1, "a fraction in [0, 1)"),
    "augmentation.fill_mode": (lambda v: v in ("nearest", "constant", "reflect", "wrap"), "nearest, constant, reflect or wrap"),
}


def validate(cfg: DictConfig) -> None:
    """Raise PrepbenchError naming the first out-of-range key, its value and what is allowed."""
    for key, (ok, allowed) in RULES.items():
        value = OmegaConf.select(cfg, key, default="<absent>")
        if value == "<absent>":
            continue
        if not ok(value):
            raise PrepbenchError(f"{key}={value} is out of range; expected {allowed}")
    warmup, epochs = OmegaConf.select(cfg, "trainer.warmup_epochs"), OmegaConf.select(cfg, "trainer.epochs")
    if OmegaConf.select(cfg, "trainer.schedule") == "cosine" and warmup is not None and warmup >= epochs:
        raise PrepbenchError(f"trainer.warmup_epochs={warmup} is out of range; expected fewer than trainer.epochs={epochs}")
