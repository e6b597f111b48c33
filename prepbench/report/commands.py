"""The sweep commands that run given cells (variant, moderator level, seed), built from the
overrides the runs recorded (`prepbench.overrides`), so that a row such as
`prep=zca prep.zca_epsilon=0.1` is run again as itself."""

from __future__ import annotations

import json
import shlex

import pandas as pd

from prepbench.report.select import Selection, group_of

# Items that never carry over to a command for other cells.
_DROP = ("seed=", "rerun=", "allow_dirty=", "hydra.", "hydra/", "+hydra", "-m", "--multirun")
_RECONSTRUCT = (
    "data.path",
    "data.train_size",
    "data.val_size",
    "data.test_size",
    "data.image_size",
    "data.split_seed",
    "trainer.epochs",
    "trainer.batch_size",
    "trainer.lr",
)


def recorded_overrides(run: pd.Series) -> list[str] | None:
    raw = run.get("tags.prepbench.overrides")
    if not isinstance(raw, str):
        return None
    try:
        items = json.loads(raw)
    except json.JSONDecodeError:
        return None
    return [str(x) for x in items] if isinstance(items, list) else None


def _reconstructed(run: pd.Series) -> list[str]:
    """Overrides rebuilt from params when a run lacks the overrides tag."""
    items = [f"data={run['params.data']}"] if isinstance(run.get("params.data"), str) else []
    for k in _RECONSTRUCT:
        v = run.get(f"params.{k}")
        if isinstance(v, str) and v not in ("None", "null"):
            items.append(f"{k}={v}")
    return items


def _key(item: str) -> str:
    return item.lstrip("+~").split("=", 1)[0]


def _parts(run: pd.Series | None, factor: str, fallback: list[str]) -> tuple[list[str], list[str], bool]:
    """(the factor's own items, every other item, rebuilt from params?) of a representative run."""
    if run is None:
        return fallback, [], False
    ov = recorded_overrides(run)
    rebuilt = ov is None
    ov = _reconstructed(run) if rebuilt else ov
    ov = [o for o in ov if not o.startswith(_DROP)]
    own = [o for o in ov if group_of(_key(o)) == group_of(factor)]
    if not own:
        own = fallback
    return own, [o for o in ov if group_of(_key(o)) != group_of(factor)], rebuilt


def _representative(sel: Selection, column: str, label: str) -> pd.Series | None:
    runs = sel.runs[sel.runs[column] == label].sort_values("start_time")
    with_ov = runs[runs.get("tags.prepbench.overrides", pd.Series(index=runs.index, dtype=object)).notna()]
    pick = with_ov if len(with_ov) else runs
    return None if pick.empty else pick.iloc[-1]


def _sweepable(own: list[str], factor: str) -> tuple[str, str | None, tuple]:
    """(the key to sweep, its value, the other items): the factor itself when it was overridden,
    else the one item that made the level (`net.depth=4` in a depth ladder), else nothing."""
    keys = [_key(o) for o in own]
    pick = factor if factor in keys else (keys[0] if len(own) == 1 else None)
    if pick is None:
        return "", None, tuple(own)
    item = own[keys.index(pick)]
    return item.split("=", 1)[0], item.split("=", 1)[1], tuple(o for o in own if o is not item)


def sweeps_for(cells, sel: Selection, experiment: str, extra: tuple = ()) -> list[tuple[list[str], bool]]:
    """The fewest sweeps (the items after `python -m prepbench -m`, and whether they were rebuilt
    from params) that run exactly the cells given, an iterable of (variant, moderator, seed);
    `extra` items are appended to each."""
    t, m = sel.spec.treatment, sel.spec.moderator
    values = [sel.items["variant"][v][0].split("=", 1)[1] for v in sel.variants]
    rank = {x: values.index(x) for x in values}  # the report's order: baseline first
    blocks: dict[tuple, dict] = {}
    for v, lev, s in cells:
        v_own, v_rest, v_rebuilt = _parts(_representative(sel, "variant", v), t, sel.items["variant"][v])
        m_own, m_rest, m_rebuilt = _parts(_representative(sel, "moderator", lev), m, sel.items["moderator"][lev])
        rest = tuple(o for o in (v_rest or m_rest) if group_of(_key(o)) not in (group_of(t), group_of(m)))
        t_key, t_value, v_extra = _sweepable(v_own, t)
        m_key, m_value, m_extra = _sweepable(m_own, m)
        key = (t_key, v_extra, m_key, m_extra, rest, v_rebuilt or m_rebuilt, m_value)
        blocks.setdefault(key, {}).setdefault(int(s), []).append(t_value)
    merged: dict[tuple, list] = {}
    for (t_key, v_extra, m_key, m_extra, rest, rebuilt, m_value), by_seed in blocks.items():
        by_values: dict[tuple, list[int]] = {}
        for s, values in sorted(by_seed.items()):
            by_values.setdefault(tuple(sorted(dict.fromkeys(values), key=lambda x: rank.get(x, len(rank)))), []).append(
                s
            )
        for values, seeds in by_values.items():
            merged.setdefault((t_key, values, m_key, tuple(seeds), v_extra, m_extra, rest, rebuilt), []).append(m_value)
    return [_items(k, m_values, experiment, extra) for k, m_values in merged.items()]


def commands_for(cells, sel: Selection, experiment: str, extra: tuple = ()) -> list[str]:
    """`sweeps_for` as shell commands, `python -m prepbench -m ...`."""
    out = []
    for items, rebuilt in sweeps_for(cells, sel, experiment, extra):
        cmd = " ".join(shlex.quote(i) for i in ["python", "-m", "prepbench", "-m", *items])
        out.append(cmd + ("    # rebuilt from params: the runs carry no overrides tag" if rebuilt else ""))
    return out


def _items(block: tuple, m_values: list, experiment: str, extra: tuple) -> tuple[list[str], bool]:
    t_key, values, m_key, seeds, v_extra, m_extra, rest, rebuilt = block
    rest = list(rest)
    if not any(_key(o) in ("study", "experiment", "tracking.experiment") for o in rest):
        rest.append(f"study={experiment}")
    sweep = []
    if values != (None,):
        sweep.append(f"{t_key}={','.join(values)}")
    if m_values != [None]:
        sweep.append(f"{m_key}={','.join(dict.fromkeys(m_values))}")
    return [*sweep, f"seed={','.join(map(str, seeds))}", *v_extra, *m_extra, *rest, *extra], rebuilt
