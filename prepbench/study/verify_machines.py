"""What `verify` needs to know about machines (issue 38): the settings that resolve by machine, and
how far a retraining on another kind of machine may fall from the recorded run.

- **Settings that resolve by machine** (RESOLVED_BY_MACHINE): `trainer.precision=auto` trains in
  bfloat16 on one machine and float32 on another; `trainer.backend` follows KERAS_BACKEND. A run
  logs the value it resolved to, so the retraining passes that value as an override, where the
  recorded commit's conf/ has the setting; where it does not, the note says the retraining could
  not be told it.
- **Machine kinds** (prepbench.track.machine): on the kind that recorded the run, a deterministic
  run must come out identical, as before. On another kind, the floating-point kernels differ, and
  the retraining is judged against the store's own cross-machine spread: the largest test-accuracy
  difference between runs of one configuration recorded on two kinds of machine
  (prepbench.report.machines.cross_machine_pairs). Where the store has no such pairs, the
  difference is reported without a verdict.
"""

from __future__ import annotations

import subprocess

import pandas as pd
import yaml

from prepbench import ROOT
from prepbench.report.machines import Spread, cross_machine_pairs, spread

RESOLVED_BY_MACHINE = ("trainer.precision", "trainer.backend")
CONF_FILE = {"trainer": "conf/trainer/default.yaml"}  # where a group's settings are declared

NO_VERDICT = "no verdict (other machine)"
WITHIN = "within cross-machine spread"
OUTSIDE = "outside cross-machine spread"


def accepts(commit: str, key: str) -> bool:
    """Whether the code at `commit` has the setting `key` (its conf/ declares it)."""
    group, _, leaf = key.partition(".")
    path = CONF_FILE.get(group)
    if path is None:
        return False
    shown = subprocess.run(["git", "show", f"{commit}:{path}"], cwd=ROOT, capture_output=True, text=True)
    if shown.returncode != 0:
        return False
    try:
        declared = yaml.safe_load(shown.stdout) or {}
    except yaml.YAMLError:
        return False
    return isinstance(declared, dict) and leaf in declared


def resolved_overrides(params: dict, commit: str) -> tuple[list[str], list[str]]:
    """(overrides that replay the run's recorded resolved values, notes on those that cannot be)."""
    overrides, notes = [], []
    for key in RESOLVED_BY_MACHINE:
        value = params.get(key)
        if value is None:
            continue
        if accepts(commit, key):
            overrides.append(f"{key}={value}")
        else:
            notes.append(f"recorded {key}={value}, which commit {commit[:8]} has no setting for: not reproduced here")
    return overrides, notes


def replace_overrides(overrides: list[str], resolved: list[str]) -> list[str]:
    """The recorded overrides with any of the resolved keys (e.g. `trainer.precision=auto`) replaced."""
    keys = {r.split("=", 1)[0] for r in resolved}
    return [o for o in overrides if o.lstrip("+").split("=", 1)[0] not in keys] + resolved


def store_runs(client) -> pd.DataFrame:
    """Every FINISHED job run of the store, all experiments: params.*, tags.prepbench.*, metrics.*."""
    rows = []
    for exp in client.search_experiments():
        token = None
        while True:
            page = client.search_runs(
                [exp.experiment_id],
                "tags.`prepbench.role` = 'job' and attributes.status = 'FINISHED'",
                max_results=1000,
                page_token=token,
            )
            for r in page:
                row = {"run_id": r.info.run_id}
                row.update({f"params.{k}": v for k, v in r.data.params.items()})
                row.update({f"metrics.{k}": v for k, v in r.data.metrics.items()})
                row.update({f"tags.{k}": v for k, v in r.data.tags.items() if k.startswith("prepbench.")})
                rows.append(row)
            token = page.token
            if not token:
                break
    return pd.DataFrame(rows)


class CrossMachine:
    """The store's cross-machine pairs, read once, asked per pair of machine kinds."""

    def __init__(self, client):
        self.client = client
        self._pairs: pd.DataFrame | None = None

    def spread(self, recorded: str, here: str) -> Spread | None:
        if self._pairs is None:
            self._pairs = cross_machine_pairs(store_runs(self.client))
        return spread(self._pairs, recorded, here)


def verdict(recorded: float, retrained: list[float], cross: Spread | None, tol: float) -> str:
    """A retraining on another machine kind: within the cross-machine spread (widened by the
    same-seed tolerance `tol` for a non-deterministic run), outside it, or no verdict without pairs."""
    if cross is None:
        return NO_VERDICT
    closest = min(abs(a - recorded) for a in retrained)
    return WITHIN if 100 * closest <= cross.largest_pp + 100 * tol + 1e-9 else OUTSIDE


def note(recorded_on: str, retrained_on: str, recorded: float, retrained: list[float], cross, judged: str) -> str:
    """ "recorded on X, retrained on Y: ..., within the cross-machine spread of Z pp (...)"; `judged`:
    the verdict."""
    diff = 100 * (sum(retrained) / len(retrained) - recorded)
    head = f"recorded on {recorded_on}, retrained on {retrained_on}: {diff:+.2f} pp"
    if cross is None:
        return head + (
            "; the store has no run of one configuration on two kinds of machine, so there is no cross-machine "
            "spread to judge it by"
        )
    word = "within" if judged == WITHIN else "outside"
    return head + f", {word} the cross-machine spread of {cross.sentence()}"
