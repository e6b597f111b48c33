"""Verification by retraining: do a study's published runs come out again from the code they record?

    python -m prepbench.verify --experiment converged [--runs 3] [--run ID ...] [--pick-seed 0]
        [--dirty-at-base] [--out FILE]

For each chosen FINISHED job run of the study (K at random, without replacement, by `--pick-seed`;
or the runs named by `--run`), it reads what the store recorded (the job's overrides, its git
commit, its data fingerprint) and trains the job again into a scratch store:

- at the recorded commit, from a git worktree of it (`cache_dir/verify/<commit>`), so that the code
  is the code that ran; a commit recorded `-dirty`, or one this clone does not have, cannot be
  recovered: the run is refused with that reason and the next one drawn instead (with
  `--dirty-at-base`, a `-dirty` run is retrained at its base commit instead: if it comes out the
  same, the uncommitted changes did not change its result, whatever they were);
- twice when the run was not deterministic (`trainer.deterministic=false`): the two retrainings of
  the same seed measure how far nondeterminism alone moves test accuracy, and the run verifies when
  its recorded accuracy lies within the retrainings' range widened by the largest such spread seen
  in this verification (the tolerance, stated in the output); once when it was deterministic, and
  then only an identical accuracy verifies;
- with the run's recorded *resolved* values of the settings that resolve by machine (`trainer.precision`:
  a run whose `auto` resolved to bfloat16 is retrained in bfloat16 wherever it runs), and, where the
  machine it runs on is of another kind than the recorded one (another CPU model or accelerator),
  judged against the store's own cross-machine spread instead of exactly (prepbench.study.verify_machines).

The retraining runs `python -m prepbench <overrides> rerun=true` inside the commit's worktree, with
a statistics cache of its own and the scratch store as tracking.uri; it checks that the retrained
run recorded that very commit. The table goes to stdout and, with --out, to a Markdown file.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from prepbench import ROOT
from prepbench.document import Document
from prepbench.errors import PrepbenchError
from prepbench.io import write_text
from prepbench.study import verify_machines as machines

RETRAIN_TIMEOUT_S = 3 * 3600


@dataclass
class Outcome:
    run_id: str
    name: str
    commit: str
    recorded: float | None = None
    retrained: list[float] = field(default_factory=list)
    deterministic: bool = False
    refused: str = ""  # why it was not retrained
    fingerprint_ok: bool | None = None
    recorded_on: str = ""  # the machine kinds (prepbench.track.machine)
    retrained_on: str = ""
    cross: machines.Spread | None = None  # the store's cross-machine spread between them
    notes: list[str] = field(default_factory=list)
    retrained_settings: dict = field(default_factory=dict)  # the resolved settings the retraining logged

    @property
    def other_machine(self) -> bool:
        return bool(self.recorded_on and self.retrained_on and self.recorded_on != self.retrained_on)

    @property
    def code(self) -> str:
        """The commit the retraining checks out: the recorded one, or a -dirty one's base."""
        return self.commit.removesuffix("-dirty")

    @property
    def at_base(self) -> bool:
        return self.commit.endswith("-dirty")

    @property
    def spread(self) -> float:
        return max(self.retrained) - min(self.retrained) if len(self.retrained) > 1 else 0.0


def job_runs(client, experiment: str) -> list:
    """The study's FINISHED job runs, newest first, one per config hash (a rerun's replacement
    stands for the runs it replaced)."""
    exp = client.get_experiment_by_name(experiment)
    if exp is None:
        raise PrepbenchError(f"--experiment {experiment}: no such experiment in the store; expected a study's name")
    runs = client.search_runs(
        [exp.experiment_id],
        "tags.`prepbench.role` = 'job' and attributes.status = 'FINISHED'",
        order_by=["attributes.start_time DESC"],
        max_results=50_000,
    )
    newest: dict[str, object] = {}
    for run in runs:
        newest.setdefault(run.data.tags.get("prepbench.config_hash", run.info.run_id), run)
    return [r for r in newest.values() if "test_accuracy" in r.data.metrics]


def why_not_recoverable(commit: str, dirty_at_base: bool = False) -> str:
    """ "" when `commit` can be checked out here (a -dirty one's base, with `dirty_at_base`), else
    the reason it cannot."""
    if not commit or commit == "unknown":
        return "no commit recorded"
    if dirty_at_base:
        commit = commit.removesuffix("-dirty")
    if commit.endswith("-dirty"):
        return f"recorded commit {commit[:12]}… had uncommitted changes: the code that ran is not recoverable"
    found = subprocess.run(["git", "cat-file", "-e", f"{commit}^{{commit}}"], cwd=ROOT, capture_output=True)
    return "" if found.returncode == 0 else f"commit {commit[:12]} is not in this clone"


def checkout(commit: str, cache_dir: Path) -> Path:
    """A worktree of `commit` under cache_dir/verify (made once, reused)."""
    path = cache_dir / "verify" / commit
    if not (path / "prepbench").is_dir():
        path.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(["git", "worktree", "prune"], cwd=ROOT, capture_output=True)
        done = subprocess.run(
            ["git", "worktree", "add", "--detach", "--force", str(path), commit],
            cwd=ROOT,
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            raise PrepbenchError(f"cannot check out {commit[:12]}: {done.stderr.strip().splitlines()[-1]}")
    return path


def retrain(run, code: Path, store: Path, attempt: int, commit: str, resolved: list[str] = ()) -> tuple:
    """Train the run's job again with the code at `code`, with the `resolved` overrides (the run's
    recorded values of settings that resolve by machine); returns (test accuracy, data fingerprint,
    the retrained run's values of those settings).

    It runs in `code` (Python puts the working folder first on its path, so the commit's package
    is the one imported, and its conf/ the one composed), with relative data paths made absolute
    against this checkout (where the study's commands ran) and a cache of its own, so statistics
    that another version of the code fitted are never loaded."""
    from mlflow.tracking import MlflowClient

    overrides = [absolute_path(o) for o in json.loads(run.data.tags["prepbench.overrides"])]
    overrides = [o for o in overrides if not o.lstrip("+").startswith(("tracking.", "rerun=", "cache_dir="))]
    overrides = machines.replace_overrides(overrides, list(resolved))
    experiment = f"verify-{run.info.run_id[:8]}-{attempt}"
    uri = f"sqlite:///{store}"
    command = [
        sys.executable,
        "-m",
        "prepbench",
        *overrides,
        "rerun=true",
        f"tracking.uri={uri}",
        f"tracking.experiment={experiment}",
        f"tracking.artifact_location={store.parent / 'artifacts'}",
    ]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"} | {"PREPBENCH_CACHE": str(code) + "-cache"}
    print("  $", " ".join(command[1:]), flush=True)
    done = subprocess.run(command, cwd=code, env=env, timeout=RETRAIN_TIMEOUT_S, text=True, capture_output=True)
    if done.returncode != 0:
        raise PrepbenchError(f"retraining run {run.info.run_id} failed: {done.stderr.strip().splitlines()[-1:]}")
    client = MlflowClient(tracking_uri=uri)
    again = client.search_runs(
        [client.get_experiment_by_name(experiment).experiment_id], "attributes.status = 'FINISHED'"
    )
    if not again:
        raise PrepbenchError(f"retraining run {run.info.run_id} left no FINISHED run")
    ran = again[0].data.tags.get("prepbench.git_commit", "")
    if ran != commit:  # the check that the commit's code really ran
        raise PrepbenchError(f"retraining run {run.info.run_id} ran commit {ran or 'unknown'}, not the recorded one")
    params = again[0].data.params
    settings = {k: params[k] for k in machines.RESOLVED_BY_MACHINE if k in params}
    return again[0].data.metrics["test_accuracy"], again[0].data.tags.get("prepbench.data_fingerprint", ""), settings


def absolute_path(override: str) -> str:
    """`data.path=REL` made absolute against this checkout; any other override as it is."""
    key, sep, value = override.partition("=")
    if key.lstrip("+") != "data.path" or not sep or Path(value.strip("'\"")).is_absolute():
        return override
    return f"{key}={(ROOT / value.strip(chr(39) + chr(34))).resolve()}"


def verify(
    client,
    experiment: str,
    *,
    count: int,
    run_ids: list[str],
    pick_seed: int,
    cache_dir: Path,
    dirty_at_base: bool = False,
) -> list[Outcome]:
    """Retrain `count` runs drawn at random (or the runs `run_ids`), refusing unrecoverable ones."""
    runs = job_runs(client, experiment)
    if run_ids:
        by_id = {r.info.run_id: r for r in runs}
        missing = [i for i in run_ids if i not in by_id]
        if missing:
            raise PrepbenchError(f"--run {missing[0]}: not a FINISHED job run of {experiment}; expected a run id of it")
        queue = [by_id[i] for i in run_ids]
        count = len(queue)
    else:
        order = np.random.default_rng(pick_seed).permutation(len(runs))
        queue = [runs[i] for i in order]
    from prepbench.track.machine import kind_of, this_kind

    here, cross = this_kind(), machines.CrossMachine(client)
    outcomes: list[Outcome] = []
    with tempfile.TemporaryDirectory(prefix="prepbench-verify-") as scratch:
        for run in queue:
            if sum(1 for o in outcomes if not o.refused) >= count:
                break
            tags, params = run.data.tags, run.data.params
            outcome = Outcome(
                run_id=run.info.run_id,
                name=tags.get("mlflow.runName", ""),
                commit=tags.get("prepbench.git_commit", ""),
                recorded=run.data.metrics["test_accuracy"],
                deterministic=params.get("trainer.deterministic") == "True",
                recorded_on=kind_of(tags),
                retrained_on=here,
            )
            outcomes.append(outcome)
            outcome.refused = why_not_recoverable(outcome.commit, dirty_at_base)
            if outcome.refused:
                print(f"{outcome.name}: refused: {outcome.refused}", flush=True)
                continue
            code = checkout(outcome.code, cache_dir)
            resolved, outcome.notes = machines.resolved_overrides(params, outcome.code)
            where = "the base of " if outcome.at_base else ""
            print(
                f"{outcome.name} (run {run.info.run_id[:8]}, {where}commit {outcome.commit[:8]}): retraining",
                flush=True,
            )
            for attempt in range(1 if outcome.deterministic else 2):
                store = Path(scratch) / f"{run.info.run_id}-{attempt}" / "mlflow.db"
                store.parent.mkdir(parents=True)
                accuracy, fingerprint, outcome.retrained_settings = retrain(
                    run, code, store, attempt, outcome.code, resolved
                )
                outcome.retrained.append(accuracy)
                outcome.fingerprint_ok = fingerprint == tags.get("prepbench.data_fingerprint")
            if outcome.other_machine:
                outcome.cross = cross.spread(outcome.recorded_on, outcome.retrained_on)
    return outcomes


def tolerance(outcomes: list[Outcome]) -> float:
    """The largest test-accuracy spread between two same-seed retrainings seen (0 if none)."""
    return max((o.spread for o in outcomes if len(o.retrained) > 1), default=0.0)


def verdict(o: Outcome, tol: float) -> str:
    if o.refused:
        return "refused"
    if o.fingerprint_ok is False:
        return "other data"
    if o.other_machine:
        return machines.verdict(o.recorded, o.retrained, o.cross, tol if not o.deterministic else 0.0)
    if o.deterministic:
        return "identical" if o.retrained[0] == o.recorded else "differs"
    low, high = min(o.retrained) - tol, max(o.retrained) + tol
    return "within tolerance" if low <= o.recorded <= high else "outside tolerance"


def document(outcomes: list[Outcome], experiment: str, command: str) -> Document:
    tol = tolerance(outcomes)
    doc = Document()
    doc.h(1, f"Verification of `{experiment}` by retraining")
    doc.p(
        f"Produced by `{command}` at commit {current_commit()}. Each retraining ran at the run's recorded "
        "commit (a `-dirty` one's base, where the note says so)."
    )
    doc.table(
        ["run", "commit", "recorded test %", "retrained test %", "verdict", "note"],
        [
            [
                f"{o.name} (`{o.run_id[:8]}`)",
                f"`{o.commit[:12]}`" if o.commit else "—",
                f"{100 * o.recorded:.2f}" if o.recorded is not None else "—",
                ", ".join(f"{100 * a:.2f}" for a in o.retrained) or "—",
                verdict(o, tol),
                note(o, tol),
            ]
            for o in outcomes
        ],
        align="llrrll",
    )
    doc.p(
        f"Tolerance for runs that were not deterministic: {100 * tol:.2f} pp, the largest spread between two "
        "same-seed retrainings above; such a run verifies when its recorded accuracy lies within its "
        "retrainings' range widened by it. A deterministic run verifies only when identical, on the kind of "
        "machine that recorded it. A run recorded on another kind of machine (another CPU model or accelerator) "
        "is judged against the cross-machine spread: the largest test-accuracy difference between runs of one "
        "configuration and seed that the store holds from two kinds of machine (widened by the tolerance "
        "above when not deterministic); with no such pairs, its difference is reported without a verdict."
    )
    here = {o.retrained_on for o in outcomes if o.retrained_on}
    if here:
        doc.p(f"Retrained on: {', '.join(sorted(here))}.")
    return doc


def note(o: Outcome, tol: float = 0.0) -> str:
    if o.refused:
        return o.refused
    text = "deterministic: must be identical" if o.deterministic else "two same-seed retrainings"
    if o.other_machine and o.retrained:
        text = machines.note(o.recorded_on, o.retrained_on, o.recorded, o.retrained, o.cross, verdict(o, tol))
    elif o.recorded_on:
        text += f"; recorded and retrained on {o.retrained_on}"
    if o.retrained_settings:
        text += "; retrained with " + ", ".join(f"{k}={v}" for k, v in o.retrained_settings.items())
    text += "".join(f"; {n}" for n in o.notes)
    if o.at_base:
        text += "; a -dirty run, retrained at its base commit: the same result says its uncommitted changes did not change it"
    return text


def current_commit() -> str:
    from prepbench.track.provenance import git_commit

    return git_commit(short=True)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m prepbench.verify", description=__doc__.split("\n\n")[0])
    p.add_argument("--experiment", required=True, help="the study (experiments/NAME.yaml) whose runs to retrain")
    p.add_argument("--tracking-uri", help="its store (default: the study's tracking.uri)")
    p.add_argument("--runs", type=int, default=3, help="how many runs to retrain (default 3)")
    p.add_argument("--run", action="append", default=[], metavar="ID", help="retrain this run (repeatable)")
    p.add_argument("--pick-seed", type=int, default=0, help="seed of the random choice of runs (default 0)")
    p.add_argument(
        "--dirty-at-base",
        action="store_true",
        help="retrain a run recorded -dirty at its base commit instead of refusing it",
    )
    p.add_argument("--out", type=Path, help="also write the table to this Markdown file")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    command = "python -m prepbench.verify " + " ".join(argv if argv is not None else sys.argv[1:])
    try:
        if args.runs < 1:
            raise PrepbenchError(f"--runs={args.runs} is invalid; expected a positive integer")
        from prepbench import config
        from prepbench.report.load import default_tracking_uri, open_client

        uri = args.tracking_uri or default_tracking_uri(args.experiment)
        cache_dir = Path(str(config.compose(checked=False).cache_dir))
        outcomes = verify(
            open_client(uri),
            args.experiment,
            count=args.runs,
            run_ids=args.run,
            pick_seed=args.pick_seed,
            cache_dir=cache_dir,
            dirty_at_base=args.dirty_at_base,
        )
    except PrepbenchError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    text = document(outcomes, args.experiment, command).markdown()
    print(text)
    if args.out:
        write_text(args.out, text)
    tol = tolerance(outcomes)
    fine = ("identical", "within tolerance", "refused", machines.WITHIN, machines.NO_VERDICT)
    return 0 if all(verdict(o, tol) in fine for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
