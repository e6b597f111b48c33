"""How tools read settings, and the checks Hydra cannot do.

    cfg = compose(["net=deep", "data.train_size=1000"])   # conf/ as a job sees it, with overrides
    validate(cfg)                                          # every range rule (compose does it too)
    check("data.image_size", 4)                            # one rule, for code that reads one value

`compose` goes through Hydra's compose API, so a tool gets the defaults list, the group options
and the interpolations exactly as `python -m prepbench` does, never a YAML file read on its own.
Every rule lives in RULES, once; a bad value is one line naming it and what is allowed.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from omegaconf import DictConfig, OmegaConf

from prepbench import ROOT
from prepbench.errors import PrepbenchError

CONF = ROOT / "conf"


def _int(low):
    return lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= low


def _optional_int(low):
    return lambda v: v is None or _int(low)(v)


def _positive(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v > 0


# key: (test, what is allowed). Missing optional keys (prep.zca_epsilon outside zca) are skipped.
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
    "data.split_seed": (_int(0), "an integer >= 0"),
    "data.image_size": (_optional_int(8), "null or an integer >= 8"),
    "prep.zca_epsilon": (_positive, "a positive number such as 1e-6"),
    "prep.batchnorm_momentum": (lambda v: isinstance(v, float) and 0 < v < 1, "a number in (0, 1)"),
    "augmentation.rotation_degrees": (lambda v: isinstance(v, (int, float)) and 0 <= v <= 180, "degrees in [0, 180]"),
    "augmentation.shift_fraction": (lambda v: isinstance(v, (int, float)) and 0 <= v < 1, "a fraction in [0, 1)"),
    "augmentation.fill_mode": (
        lambda v: v in ("nearest", "constant", "reflect", "wrap"),
        "nearest, constant, reflect or wrap",
    ),
}


def check(key: str, value) -> None:
    """Raise PrepbenchError unless `value` passes the rule for `key` (a key of RULES)."""
    ok, allowed = RULES[key]
    if not ok(value):
        raise PrepbenchError(f"{key}={value} is out of range; expected {allowed}")


def validate(cfg: DictConfig) -> None:
    """Raise PrepbenchError naming the first out-of-range key, its value and what is allowed."""
    for key in RULES:
        value = OmegaConf.select(cfg, key, default="<absent>")
        if value != "<absent>":
            check(key, value)
    warmup, epochs = OmegaConf.select(cfg, "trainer.warmup_epochs"), OmegaConf.select(cfg, "trainer.epochs")
    if OmegaConf.select(cfg, "trainer.schedule") == "cosine" and warmup is not None and warmup >= epochs:
        raise PrepbenchError(f"trainer.warmup_epochs={warmup} is out of range; expected fewer than trainer.epochs={epochs}")
    # keras.ops' wrap on JAX is scipy's (period size - 1), not TensorFlow's: the pixels would differ.
    if OmegaConf.select(cfg, "trainer.backend") == "jax" and OmegaConf.select(cfg, "augmentation.fill_mode") == "wrap":
        raise PrepbenchError("augmentation.fill_mode=wrap is not available with trainer.backend=jax; expected nearest, constant or reflect")


def compose(overrides: Iterable[str] = (), *, checked: bool = True) -> DictConfig:
    """The app's config (conf/config.yaml) with `overrides` in the command line's syntax, without
    the `hydra` node; checked against RULES unless `checked` is False. A bad override raises
    PrepbenchError with one line (an unknown option names the options there are).

    Inside a Hydra app (a job) it composes with the app's own search path."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.errors import HydraException

    from prepbench.errors import one_line

    try:
        if GlobalHydra.instance().is_initialized():
            cfg = hydra_compose("config", overrides=list(overrides))
        else:
            with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
                cfg = hydra_compose("config", overrides=list(overrides))
    except HydraException as err:
        raise PrepbenchError(one_line(err)) from err
    if checked:
        validate(cfg)
    return cfg
