"""How tools read settings, and the checks Hydra cannot do.

    cfg = compose(["net=deep", "data.train_size=1000"])   # conf/ as a job sees it, with overrides
    cfg = compose(overrides, checked=False, return_hydra_config=True)  # unchecked, with `hydra`
    validate(cfg)                                          # every range rule (compose does it too)
    check("data.image_size", 4)                            # one rule, for code that reads one value
    compose([f"data.path={quote(path)}"])                  # a path as one value, whatever it holds

`compose` goes through Hydra's compose API, so a tool gets the defaults list, the group options
and the interpolations exactly as `python -m prepbench` does, never a YAML file read on its own.
Every rule lives in RULES, once; a bad value is one line naming it and what is allowed.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable

from omegaconf import DictConfig, OmegaConf

from prepbench import ROOT
from prepbench.errors import PrepbenchError

CONF = ROOT / "conf"
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
    "trainer.epochs": (_int(1), "an integer >= 1"),
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
    "prep.augment": _bool,
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
    "augmentation.fill_mode": (
        lambda v: v in ("nearest", "constant", "reflect", "wrap"),
        "nearest, constant, reflect or wrap",
    ),
    "tracking.experiment": _name,
    "tracking.lease_seconds": (_positive, "a positive number of seconds"),
}


def check(key: str, value) -> None:
    """Raise PrepbenchError unless `value` passes the rule for `key` (a key of RULES)."""
    ok, allowed = RULES[key]
    if not ok(value):
        problem = "is out of range" if _number(value) else "is invalid"
        raise PrepbenchError(f"{key}={_show(value)} {problem}; expected {allowed}")


def validate(cfg: DictConfig) -> None:
    """Raise PrepbenchError naming the first bad key, its value and what is allowed."""
    for key in RULES:
        value = OmegaConf.select(cfg, key, default="<absent>")
        if value != "<absent>":
            check(key, value)
    warmup, epochs = OmegaConf.select(cfg, "trainer.warmup_epochs"), OmegaConf.select(cfg, "trainer.epochs")
    if OmegaConf.select(cfg, "trainer.schedule") == "cosine" and warmup is not None and warmup >= epochs:
        raise PrepbenchError(
            f"trainer.warmup_epochs={warmup} is out of range; expected fewer than trainer.epochs={epochs}"
        )
    # keras.ops' wrap on JAX is scipy's (period size - 1), not TensorFlow's: the pixels would differ.
    if OmegaConf.select(cfg, "trainer.backend") == "jax" and OmegaConf.select(cfg, "augmentation.fill_mode") == "wrap":
        raise PrepbenchError(
            "augmentation.fill_mode=wrap is not available with trainer.backend=jax; expected nearest, constant or reflect"
        )
    known = _known_image_size(cfg)
    if known is not None:
        check_image_size(known, cfg)


def compose(overrides: Iterable[str] = (), *, checked: bool = True, return_hydra_config: bool = False) -> DictConfig:
    """The app's config (conf/config.yaml) with `overrides` in the command line's syntax, without
    the `hydra` node unless `return_hydra_config` (the sweeper's params, the launcher); checked
    against RULES unless `checked` is False. A bad override raises PrepbenchError with one line (an
    unknown option names the options there are).

    Inside a Hydra app (a job) it composes with the app's own search path."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.errors import HydraException

    from prepbench.errors import one_line

    def composed() -> DictConfig:
        return hydra_compose("config", overrides=list(overrides), return_hydra_config=return_hydra_config)

    try:
        if GlobalHydra.instance().is_initialized():
            cfg = composed()
        else:
            with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
                cfg = composed()
    except HydraException as err:
        raise PrepbenchError(one_line(err)) from err
    if checked:
        validate(cfg)
    return cfg


def quote(value: str) -> str:
    """`value` as one quoted string in Hydra's override grammar, whatever it holds (spaces,
    parentheses, commas, '=', quotes, non-ASCII letters): compose([f"data.path={quote(path)}"])."""
    # Backslashes are literal except in front of a quote (the closing one included): those are doubled.
    escaped = re.sub(r"(\\+)('|$)", lambda m: m.group(1) * 2 + m.group(2), value)
    return "'" + escaped.replace("'", "\\'") + "'"


def _show(value) -> str:
    return repr(value) if isinstance(value, str) and (value == "" or value != value.strip()) else str(value)


def _known_image_size(cfg: DictConfig):
    """The images' height and width when the config alone tells (resized, or synthetic)."""
    data = cfg.get("data")
    if data is None:
        return None
    size = data.get("image_size")
    if size is None and data.get("source") == "synthetic":
        size = data.get("size")
    return None if not isinstance(size, int) or isinstance(size, bool) else (size, size)


def min_image_size(depth: int) -> int:
    """The smallest side that survives the net's pooling stages (each halves it, rounding down)."""
    from prepbench.nets import stage_plan

    return 2 ** len(stage_plan(depth, 1))


def check_image_size(height_width, cfg: DictConfig) -> None:
    """Refuse images too small for the network's pooling stages, naming the minimum."""
    net = cfg.get("net")
    if net is None or not isinstance(net.get("depth"), int):
        return
    depth = int(net.depth)
    need = min_image_size(depth)
    side = min(int(v) for v in height_width)
    if side >= need:
        return
    stages = need.bit_length() - 1
    halvings = [side]
    while len(halvings) <= stages:
        halvings.append(halvings[-1] // 2)
    why = f"net={net.get('name', '?')} (depth {depth}, {stages} pooling stages: {' -> '.join(map(str, halvings))})"
    if cfg.data.get("image_size") is not None:
        raise PrepbenchError(f"data.image_size={side} is too small for {why}; expected at least {need}")
    raise PrepbenchError(
        f"the images are {height_width[1]}x{height_width[0]} (data.image_size=null keeps their size), too small "
        f"for {why}; expected data.image_size={need} or more"
    )


def study(name: str | None, overrides: Iterable[str] = ()) -> DictConfig:
    """The composed config of a study, for tools that read its store (report, dashboard):
    `experiment=NAME` where experiments/NAME.yaml exists, else the defaults with `study=NAME` (an
    ad-hoc sweep's experiment in the default store); no name: the defaults."""
    chosen = []
    if name:
        chosen = [f"experiment={name}"] if (ROOT / "experiments" / f"{name}.yaml").exists() else [f"study={name}"]
    return compose([*chosen, *overrides], checked=False)
