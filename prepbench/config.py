"""How tools read settings, and the checks Hydra cannot do.

    cfg = compose(["net=deep", "data.train_size=1000"])   # conf/ as a job sees it, with overrides
    cfg = compose(overrides, checked=False, return_hydra_config=True)  # unchecked, with `hydra`
    validate(cfg)                                          # every range rule (compose does it too)
    settle_numbers(cfg)                                    # 10 read as 10.0 where conf/ has a float (compose too)
    check("data.image_size", 4)                            # one rule, for code that reads one value
    compose([f"data.path={quote(path)}"])                  # a path as one value, whatever it holds

`compose` goes through Hydra's compose API, so a tool gets the defaults list, the group options
and the interpolations exactly as `python -m prepbench` does, never a YAML file read on its own.
Every rule lives in prepbench.rules.RULES, once; a bad value is one line naming it and what is
allowed (`one_line`, for Hydra's errors too).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable

from omegaconf import DictConfig, OmegaConf

from prepbench import ROOT
from prepbench.errors import PrepbenchError
from prepbench.rules import REAL_NUMBERS, RULES, check, check_resnet_batchnorm, check_resnet_depth

CONF = ROOT / "conf"


def settle_numbers(cfg: DictConfig) -> None:
    """Read each real-number setting in the type conf/ writes it in (rules.REAL_NUMBERS), where that
    changes no value: `prep.zca_shrinkage=10` becomes 10.0 and `augmentation.rotation_degrees=20.0`
    becomes 20, so that a job's identity does not depend on how a number was typed."""
    for key, kind in REAL_NUMBERS.items():
        parent, leaf = key.rsplit(".", 1)
        node = OmegaConf.select(cfg, parent)
        if not isinstance(node, DictConfig) or leaf not in node or OmegaConf.is_interpolation(node, leaf):
            continue
        value = node[leaf]
        if isinstance(value, bool) or not isinstance(value, int | float) or type(value) is kind:
            continue
        if kind is float or float(value).is_integer():
            node[leaf] = kind(value)


def validate(cfg: DictConfig) -> None:
    """Raise PrepbenchError naming the first bad key, its value and what is allowed."""
    for key in RULES:
        value = OmegaConf.select(cfg, key, default="<absent>")
        if value != "<absent>":
            check(key, value)
    warmup, epochs = OmegaConf.select(cfg, "trainer.warmup_epochs"), OmegaConf.select(cfg, "trainer.epochs")
    steps, warmup_steps = OmegaConf.select(cfg, "trainer.steps"), OmegaConf.select(cfg, "trainer.warmup_steps")
    if warmup_steps is not None and warmup_steps >= (steps if steps is not None else math.inf):
        raise PrepbenchError(
            f"trainer.warmup_steps={warmup_steps} is out of range; expected fewer than trainer.steps={steps}"
        )
    if (
        OmegaConf.select(cfg, "trainer.schedule") == "cosine"
        and warmup is not None
        and warmup >= epochs
        and steps is None
        and warmup_steps is None
    ):
        raise PrepbenchError(
            f"trainer.warmup_epochs={warmup} is out of range; expected fewer than trainer.epochs={epochs}"
        )
    # keras.ops' wrap on JAX is scipy's (period size - 1), not TensorFlow's: the pixels would differ.
    if OmegaConf.select(cfg, "trainer.backend") == "jax" and OmegaConf.select(cfg, "augmentation.fill_mode") == "wrap":
        raise PrepbenchError(
            "augmentation.fill_mode=wrap is not available with trainer.backend=jax; expected nearest, constant or reflect"
        )
    if OmegaConf.select(cfg, "net.family") == "resnet":
        check_resnet_depth(OmegaConf.select(cfg, "net.depth"))
        check_resnet_batchnorm(OmegaConf.select(cfg, "prep.batchnorm"))
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
        validate(cfg)  # on the values as typed: an error names what the user wrote
    settle_numbers(cfg)
    return cfg


def quote(value: str) -> str:
    """`value` as one quoted string in Hydra's override grammar, whatever it holds (spaces,
    parentheses, commas, '=', quotes, non-ASCII letters): compose([f"data.path={quote(path)}"])."""
    # Backslashes are literal except in front of a quote (the closing one included): those are doubled.
    escaped = re.sub(r"(\\+)('|$)", lambda m: m.group(1) * 2 + m.group(2), value)
    return "'" + escaped.replace("'", "\\'") + "'"


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
    from prepbench.train.nets import stage_plan

    return 2 ** len(stage_plan(depth, 1))


def check_image_size(height_width, cfg: DictConfig) -> None:
    """Refuse images too small for the network's pooling stages, naming the minimum."""
    net = cfg.get("net")
    # A residual net halves with strided convolutions that pad: any image size goes through.
    if net is None or not isinstance(net.get("depth"), int) or net.get("family") == "resnet":
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


def one_line(err: BaseException) -> str:
    """A bad-input error as one line that names the bad value and what was expected."""
    from hydra.errors import MissingConfigException

    if isinstance(err, MissingConfigException) and err.missing_cfg_file and err.options:
        group, _, name = err.missing_cfg_file.rpartition("/")
        return f"{group}={name} is unknown; expected one of {', '.join(err.options)}"
    lines = [line.strip() for line in str(err).splitlines()]
    # Hydra adds the config search path and OmegaConf's object details: context, not the message.
    if "Config search path:" in lines:
        lines = lines[: lines.index("Config search path:")]
    if err.__cause__ is not None and str(err.__cause__).strip():  # OmegaConf's reason, as Hydra prints it
        lines.append(str(err.__cause__).strip().splitlines()[0].strip())
    return " ".join(line for line in lines if line and not line.startswith(("full_key:", "object_type=")))
