"""Seeds on demand: `python -m prepbench.seeds [-m] OVERRIDES... --halfwidth PP [--min-seeds N]
[--max-seeds M] [--step K]` runs a study's grid, then adds seeds in rounds to every variant whose
headline interval is wider than ±PP percentage points, until it is narrower or has M seeds.

* Round 0 is the study's own sweep (`python -m prepbench -m OVERRIDES seed=0..N-1`; without
  --min-seeds, the study's seed list), run as a subprocess: runs are tracked exactly as any sweep's.
* After each round the report's own analysis (prepbench.report) is run on the experiment, on the
  runs of this grid (every setting of the composed config that is not the treatment's, the
  moderator's or the seed is a `--where`). A variant's headline half-width is the widest
  per-comparison interval of its interactions (its benefits when the moderator has one level).
* A variant is stopped by **precision** (half-width <= PP) or by **max seeds** (M seeds tried,
  finished or not); else it gets K more seeds (the lowest seed numbers it has not tried), and the
  baseline runs at every seed a variant runs. The rule looks at half-widths only, never at an
  estimate's value or p, so the intervals keep their coverage.
* Run again, it resumes: finished jobs are skipped by the sweeps and the rounds recompute from
  MLflow. At the end the plan and each variant's stopping rule are written as experiment tags
  (`prepbench.seeds.plan`, `prepbench.seeds.stops`), which the report shows.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
from dataclasses import dataclass

from prepbench.errors import PrepbenchError

MULTIRUN_FLAGS = ("-m", "--multirun")


@dataclass(frozen=True)
class Plan:
    overrides: tuple  # the Hydra overrides of the grid (no seed=, no -m)
    halfwidth: float  # pp
    min_seeds: int | None
    max_seeds: int
    step: int
    level: float
    treatment: str = "prep"
    baseline: str = "none"
    moderator: str = "net"


@dataclass(frozen=True)
class Decision:
    variant: str
    rule: str  # "precision", "max seeds", or "more"
    tried: int  # seeds tried (any status)
    halfwidth: float  # widest headline half-width now (fraction; NaN if none yet)
    new_seeds: tuple


def _parsed(overrides):
    from hydra.core.override_parser.overrides_parser import OverridesParser

    return OverridesParser.create().parse_overrides(list(overrides))


def compose_study(overrides) -> tuple[dict, dict, list]:
    """(the composed config's settings, flattened; the sweeper's params; the study's seeds) for
    the grid's overrides, read the way a job reads them (Hydra's compose API)."""
    from omegaconf import OmegaConf

    from prepbench.config import compose
    from prepbench.track.identity import flatten

    parsed = _parsed(overrides)
    plain = [o.input_line for o in parsed if not o.is_sweep_override() and not o.key_or_group.startswith("hydra")]
    cfg = compose(plain, checked=False, return_hydra_config=True)  # an unknown option or key: one line
    params = {str(k): str(v) for k, v in (cfg.hydra.sweeper.get("params") or {}).items()}
    settings = flatten(OmegaConf.masked_copy(cfg, [k for k in cfg if k != "hydra"]))
    seeds = [o for o in parsed if o.key_or_group == "seed"]
    line = seeds[-1].input_line if seeds else f"seed={params.get('seed', settings['seed'])}"
    seed_override = _parsed([line])[0]
    values = (
        list(seed_override.sweep_string_iterator()) if seed_override.is_sweep_override() else [seed_override.value()]
    )
    return settings, params, [int(v) for v in values]


def grid_where(settings: dict, runs_settings, plan: Plan) -> tuple:
    """`--where` items that keep the runs of this grid: its settings outside the factors' groups.
    `runs_settings`: the runs' settings (prepbench.report.select.settings). A setting whose value
    no run has is resolved when a job starts (trainer.precision=auto logs float32 or bfloat16),
    so it selects nothing and is left out."""
    from prepbench.report.select import _ignored, canonical, group_of

    own = {group_of(plan.treatment), group_of(plan.moderator)}
    out = []
    for k, v in settings.items():
        if k not in runs_settings or k == "seed" or _ignored(k) or group_of(k) in own:
            continue
        if canonical(v) in set(runs_settings[k].map(canonical).dropna()):
            out.append((k, (v,)))
    return tuple(out)


def decide(a, plan: Plan) -> list[Decision]:
    """Per variant: stopped by precision or max seeds, or the seeds to add (module docstring)."""
    from prepbench.report.analysis import TEST
    from prepbench.report.select import NOT_PLANNED

    head = a.table(TEST, "interaction") if a.pairs else a.table(TEST, "benefit")
    cells = a.selection.cells
    tried_cells = cells[~cells["status"].isin(["MISSING", NOT_PLANNED])]
    out = []
    for v in a.contrasts:
        widths = head.loc[head["variant"] == v, "halfwidth"].to_numpy(float)
        worst = float(widths.max()) if len(widths) and all(map(math.isfinite, widths)) else math.nan
        tried = set(tried_cells.loc[tried_cells["variant"] == v, "seed"].astype(int))
        if len(tried) >= (plan.min_seeds or 0) and math.isfinite(worst) and 100 * worst <= plan.halfwidth:
            rule, target = "precision", len(tried)
        elif len(tried) >= plan.max_seeds:
            rule, target = "max seeds", len(tried)
        else:
            rule, target = "more", min(plan.max_seeds, max(plan.min_seeds or 0, len(tried) + plan.step))
        new, s = [], 0
        while len(tried) + len(new) < target:
            if s not in tried:
                new.append(s)
            s += 1
        out.append(Decision(v, rule, len(tried), worst, tuple(new)))
    return out


def cells_to_run(a, decisions: list[Decision]) -> list[tuple]:
    """New seeds of the variants that need them (and the baseline at those seeds, on every level),
    plus every planned cell that has not finished (a retry)."""
    from prepbench.report.select import NOT_PLANNED

    sel = a.selection
    todo = []
    for d in decisions:
        for s in d.new_seeds:
            todo += [(v, m, s) for v in (d.variant, sel.baseline) for m in sel.moderators]
    c = sel.cells
    todo += list(
        map(tuple, c[~c["status"].isin(["FINISHED", NOT_PLANNED])][["variant", "moderator", "seed"]].to_numpy())
    )
    return list(dict.fromkeys((v, m, int(s)) for v, m, s in todo))


def run_sweep(items: list[str]) -> int:
    """One `python -m prepbench -m ...` in a subprocess, its output passed through."""
    cmd = [sys.executable, "-m", "prepbench", "-m", *items]
    print("$ python -m prepbench -m " + " ".join(items), flush=True)
    return subprocess.run(cmd).returncode


def _analyse(plan: Plan, settings: dict, uri: str, experiment: str):
    from prepbench.report import load
    from prepbench.report.analysis import analyse
    from prepbench.report.select import Spec, select, split_roles
    from prepbench.report.select import settings as run_settings

    loaded = load.load_experiment(uri, experiment)
    jobs = split_roles(loaded.runs)[1]
    spec = Spec(
        treatment=plan.treatment,
        baseline=plan.baseline,
        moderator=plan.moderator,
        level=plan.level,
        where=grid_where(settings, run_settings(jobs), plan),
    )
    return analyse(select(loaded.runs, spec), {}, experiment), loaded


def _checked(rc: int) -> int:
    if rc in (2, 130):  # bad input or interrupted: the sweep said why
        raise SystemExit(rc)
    return rc


def _say(round_: int, decisions: list[Decision], plan: Plan) -> None:
    for d in decisions:
        width = f"±{100 * d.halfwidth:.2f} pp" if math.isfinite(d.halfwidth) else "no interval yet"
        what = {
            "precision": f"stopped: precision ({width} <= ±{plan.halfwidth:g})",
            "max seeds": f"stopped: max seeds ({width})",
        }.get(d.rule, f"{width}: adding seeds {list(d.new_seeds)}")
        print(f"seeds round {round_}: {d.variant}: {d.tried} seeds, {what}", flush=True)


def record(loaded, experiment: str, plan: Plan, decisions: list[Decision], command: str) -> None:
    """The plan and each variant's stopping rule, as experiment tags the report reads."""
    from prepbench.report.load import SEEDS_PLAN_TAG, SEEDS_STOPS_TAG

    exp = loaded.client.get_experiment_by_name(experiment)
    exp_id = exp.experiment_id
    plan_tag = {
        "treatment": plan.treatment,
        "baseline": plan.baseline,
        "moderator": plan.moderator,
        "halfwidth": plan.halfwidth,
        "min_seeds": plan.min_seeds,
        "max_seeds": plan.max_seeds,
        "step": plan.step,
        "level": plan.level,
        "command": command,
    }
    # Studies that share an experiment (a grid and the rows added to it later) run the same rule
    # from their own experiment files: the commands accumulate, so the report names every one.
    earlier = json.loads((exp.tags or {}).get(SEEDS_PLAN_TAG, "{}"))
    same_rule = {k: v for k, v in earlier.items() if k not in ("command", "commands")} == {
        k: v for k, v in plan_tag.items() if k != "command"
    }
    commands = earlier.get("commands", [earlier["command"]] if "command" in earlier else []) if same_rule else []
    plan_tag["commands"] = [*commands, *([command] if command not in commands else [])]
    stops = {
        d.variant: {
            "rule": d.rule if d.rule != "more" else "not stopped (runs did not finish)",
            "seeds": d.tried,
            "halfwidth": d.halfwidth if math.isfinite(d.halfwidth) else None,
        }
        for d in decisions
    }
    from prepbench.track.retries import retry

    retry(loaded.client.set_experiment_tag, exp_id, SEEDS_PLAN_TAG, json.dumps(plan_tag))
    retry(loaded.client.set_experiment_tag, exp_id, SEEDS_STOPS_TAG, json.dumps(stops))


def run(plan: Plan, runner=run_sweep, command: str = "python -m prepbench.seeds") -> int:
    """Round 0 (the grid), then rounds of added seeds until every variant is stopped; returns the
    exit status: 0, or 1 if some planned job did not finish."""
    from prepbench.report.commands import sweeps_for

    settings, _, study_seeds = compose_study(plan.overrides)
    uri, experiment = settings["tracking.uri"], settings["tracking.experiment"]
    grid = [o for o in plan.overrides if o.lstrip("+~").split("=", 1)[0] != "seed"]
    hydra_items = tuple(o for o in plan.overrides if o.lstrip("+~").startswith("hydra"))
    first = list(range(plan.min_seeds)) if plan.min_seeds else study_seeds
    _checked(runner([*grid, f"seed={','.join(map(str, first))}"]))
    previous = None
    for round_ in range(1, plan.max_seeds + 3):
        a, loaded = _analyse(plan, settings, uri, experiment)
        decisions = decide(a, plan)
        todo = cells_to_run(a, decisions)
        _say(round_, decisions, plan)
        if not todo or (todo == previous and not any(d.new_seeds for d in decisions)):
            break  # every variant stopped, or only retries of jobs that failed again are left
        for items, _ in sweeps_for(todo, a.selection, experiment, extra=hydra_items):
            _checked(runner(items))
        previous = todo
    else:  # cannot happen: each round adds a seed to some variant, at most max_seeds per variant
        raise PrepbenchError(f"seeds did not converge in {plan.max_seeds + 2} rounds")
    record(loaded, experiment, plan, decisions, command)
    print(f"seeds: done; the report: python -m prepbench.report --experiment {experiment} --out results/{experiment}")
    unfinished = a.selection.cells[a.selection.cells["status"].isin(["FAILED", "KILLED", "MISSING", "RUNNING"])]
    return 1 if len(unfinished) else 0


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="python -m prepbench.seeds",
        description=__doc__.split("\n\n")[0],
        epilog="Any other argument is a Hydra override of the sweep, as for "
        "`python -m prepbench -m` (e.g. experiment=cpu data=folder data.path=...).",
    )
    ap.add_argument("--halfwidth", type=float, required=True, help="target half-width of the headline intervals, in pp")
    ap.add_argument("--min-seeds", type=int, default=None, help="seeds of round 0 (default: the study's seed list)")
    ap.add_argument("--max-seeds", type=int, default=20, help="most seeds per variant (default 20)")
    ap.add_argument("--step", type=int, default=1, help="seeds added per round to a variant still too wide (default 1)")
    ap.add_argument("--level", type=float, default=0.95, help="confidence level of the half-width (default 0.95)")
    ap.add_argument("--treatment", default="prep")
    ap.add_argument("--baseline", default="none")
    ap.add_argument("--moderator", default="net")
    return ap


def plan_from(argv: list[str]) -> Plan:
    args, rest = parser().parse_known_args(argv)
    unknown = [a for a in rest if a.startswith("-") and a not in MULTIRUN_FLAGS]
    if unknown:
        raise PrepbenchError(
            f"{unknown[0]} is not an option of python -m prepbench.seeds; expected --halfwidth, "
            "--min-seeds, --max-seeds, --step, --level, --treatment, --baseline, --moderator or Hydra overrides"
        )
    if not args.halfwidth > 0:
        raise PrepbenchError(
            f"--halfwidth {args.halfwidth:g} is out of range; expected a positive number of pp such as 2"
        )
    if args.min_seeds is not None and args.min_seeds < 2:
        raise PrepbenchError(f"--min-seeds {args.min_seeds} is out of range; expected an integer >= 2")
    if args.max_seeds < max(2, args.min_seeds or 2):
        raise PrepbenchError(
            f"--max-seeds {args.max_seeds} is out of range; expected an integer >= --min-seeds and >= 2"
        )
    if args.step < 1:
        raise PrepbenchError(f"--step {args.step} is out of range; expected an integer >= 1")
    if not 0 < args.level < 1:
        raise PrepbenchError(f"--level {args.level} is out of range; expected a number in (0, 1)")
    return Plan(
        tuple(a for a in rest if a not in MULTIRUN_FLAGS),
        args.halfwidth,
        args.min_seeds,
        args.max_seeds,
        args.step,
        args.level,
        args.treatment,
        args.baseline,
        args.moderator,
    )


def main(argv=None) -> int:
    import shlex

    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        plan = plan_from(argv)
        return run(plan, command="python -m prepbench.seeds " + " ".join(shlex.quote(a) for a in argv))
    except PrepbenchError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
