"""The data config's values, read from a DictConfig or a dict and checked where they are read."""

from __future__ import annotations

from prepbench.errors import PrepbenchError
from prepbench.rules import check


def config_as_dict(data_cfg) -> dict:
    """A plain dict from a DictConfig (interpolations such as ${cache_dir} resolved) or a dict."""
    from omegaconf import DictConfig, OmegaConf

    if isinstance(data_cfg, DictConfig):
        return OmegaConf.to_container(data_cfg, resolve=True, throw_on_missing=False)
    if isinstance(data_cfg, dict):
        return dict(data_cfg)
    raise PrepbenchError(f"data config is a {type(data_cfg).__name__}; expected a DictConfig or dict")


def require(cfg: dict, key: str):
    """cfg[key], refusing a missing or unset ('???') value with the key's name."""
    value = cfg.get(key)
    if value is None or value == "???":
        raise PrepbenchError(f"data.{key} is not set; expected it in the data config (see conf/data/)")
    return value


def count_setting(cfg: dict, key: str, allow_null: bool) -> int | None:
    """A non-negative int setting of the synthetic source; null only where allowed."""
    value = cfg.get(key)
    if value is None and allow_null:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        expected = "a non-negative integer or null" if allow_null else "a non-negative integer"
        raise PrepbenchError(f"data.{key}={value!r} is invalid; expected {expected}")
    return value


def setting(cfg: dict, key: str):
    """A split setting (val_size, train_size, test_size, split_seed, image_size), checked by its
    one rule in prepbench.rules.RULES."""
    value = cfg.get(key)
    check(f"data.{key}", value)
    return value


def image_size_setting(cfg: dict) -> int | None:
    return setting(cfg, "image_size")
