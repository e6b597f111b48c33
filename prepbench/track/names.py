"""Run names: what a person reads in the runs table and the terminal (`zca · deep · seed 1 · lr 0.01`),
and the command line that reproduces a run."""

from __future__ import annotations

import os
import shlex
import time

from omegaconf import DictConfig, OmegaConf

from prepbench import ROOT
from prepbench.track.identity import NOT_IN_HASH, flatten

# Overrides left out of run names: they change where a run is logged, not what it computes.
NOT_IN_NAME = (*NOT_IN_HASH, "experiment", "hydra")
NET_SHAPE = ("net.depth", "net.width", "net.dense")


def _parse_override(item: str) -> tuple[str, str] | None:
    """`+prep.x=1` -> ("prep.x", "1"); None for deletions (`~key`) and flags."""
    if item.startswith("~") or "=" not in item:
        return None
    key, value = item.lstrip("+").split("=", 1)
    return key.replace("/", "."), value


def _named_overrides(overrides) -> list[tuple[str, str]]:
    """The overrides that change what a job computes, as (key, value)."""
    out = []
    for item in overrides:
        parsed = _parse_override(str(item))
        if parsed and not any(parsed[0] == x or parsed[0].startswith(x + ".") for x in NOT_IN_NAME):
            out.append(parsed)
    return out


def _short(key: str, value: str, keys: list[str]) -> str:
    """One override in a name: the last part of its key (the whole key where two would read the
    same), and a path by its file name."""
    last = key.rsplit(".", 1)[-1]
    label = last if sum(k.rsplit(".", 1)[-1] == last for k in keys) == 1 else key
    if last.endswith("path"):
        value = ",".join(os.path.basename(v.rstrip("/")) or v for v in value.split(","))
    return f"{label} {value}"


def net_label(cfg: DictConfig, overrides=()) -> str:
    """A net by its preset's name, or by its depth and width (and dense units) when a command line
    changed them: `net.depth=50` on the shallow preset is no longer "shallow". A residual net by
    its depth always, as the literature names them (`resnet-20`), with its width when changed."""
    changed = {key for key, _ in _named_overrides(overrides)}
    if cfg.net.get("family") == "resnet":
        return f"resnet-{cfg.net.depth}" + (f", width {cfg.net.width}" if "net.width" in changed else "")
    if not changed & set(NET_SHAPE):
        return str(cfg.net.name)
    shape = f"depth {cfg.net.depth}, width {cfg.net.width}"
    return shape + (f", dense {cfg.net.dense}" if "net.dense" in changed else "")


def prep_label(cfg: DictConfig, overrides=()) -> str:
    """A variant by the `prep=` option chosen on the command line (`zca_reg`, a preset whose
    prep.name is `zca`, stays apart from `zca`), else by its prep.name."""
    chosen = [value for key, value in _named_overrides(overrides) if key == "prep"]
    return chosen[-1] if chosen else str(cfg.prep.name)


def run_name(cfg: DictConfig, overrides=()) -> str:
    """A job's run name: prep, net and seed, then every other setting its command line changes
    (`zca · deep · seed 1 · lr 0.01`), so that no two jobs of a sweep share a name; and the
    settings of an experiment that logs into another study's experiment (borrowed_settings)."""
    parts = [
        prep_label(cfg, overrides),
        net_label(cfg, overrides),
        f"seed {cfg.seed}",
        *borrowed_settings(cfg, overrides),
        *other_settings(overrides),
    ]
    return " · ".join(parts)


def borrowed_settings(cfg: DictConfig, overrides=()) -> list[str]:
    """`experiment=converged-scarce` logs into the `converged` experiment with settings of its own
    file (`data.train_size: 2500`): those settings, in short (`train_size 2500`), so that its runs
    and the study's own cells do not share names in one runs table. Nothing for an experiment that
    logs into its own."""
    parsed = [_parse_override(str(item)) for item in overrides]
    chosen = [item[1] for item in parsed if item and item[0] == "experiment"]
    path = ROOT / "experiments" / f"{chosen[-1]}.yaml" if chosen else None
    if path is None or chosen[-1] == str(cfg.tracking.experiment) or not path.exists():
        return []
    own = OmegaConf.to_container(OmegaConf.load(path))
    own = {k: v for k, v in own.items() if k not in ("defaults", "hydra", "tracking", "study")}
    on_command_line = {key for key, _ in _named_overrides(overrides)}
    keys = [
        k
        for k in flatten(OmegaConf.create(own), resolve=False)
        if k not in on_command_line
        and k not in ("prep.name", "net.name")  # the name's label says it
        and not any(k == x or k.startswith(x + ".") for x in NOT_IN_HASH)  # not what the run computes
    ]
    return [_short(k, str(OmegaConf.select(cfg, k)), keys) for k in keys]


def other_settings(overrides, net_shape: bool = False) -> list[str]:
    """The settings a command line changes besides prep, net and seed, in short (`lr 0.01`); the
    net's depth, width and dense units too with `net_shape` (a run name has them in the net)."""
    left_out = ("prep", "net", "seed", *(() if net_shape else NET_SHAPE))
    rest = [(k, v) for k, v in _named_overrides(overrides) if k not in left_out]
    keys = [k for k, _ in rest]
    return [_short(k, v, keys) for k, v in rest]


def sweep_name(study: str, overrides, started: float | None = None, run_id: str = "") -> str:
    """A sweep's parent run name: the study, when it started, the start of its run id, and its command
    line in short (`adhoc · 2026-05-02 14:03 · 3f9a1c0e · prep zca,std · lr 0.01`). The run id tells
    apart two sweeps of one command started in the same minute (time alone would name them alike)."""
    named = _named_overrides(overrides)
    keys = [k for k, _ in named]
    when = time.strftime("%Y-%m-%d %H:%M", time.localtime(started))
    return " · ".join([study, when, *([run_id[:8]] if run_id else []), *(_short(k, v, keys) for k, v in named)])


def command_for(overrides: list[str], multirun: bool = False) -> str:
    """The command line that reproduces a run, quoted for a POSIX shell (paths with spaces, quotes
    or non-ASCII characters paste as they were given)."""
    return " ".join(["python -m prepbench", *(["-m"] if multirun else []), *map(shlex.quote, overrides)])
