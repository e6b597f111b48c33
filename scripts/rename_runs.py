"""Give the job runs of a store the names today's sweeps give them (prepbench.track.names.run_name).

    python scripts/rename_runs.py results/precision/mlflow.db [--dry-run]

Runs made before run names named every swept setting share names in the dashboard (the precision
study's float32 and bfloat16 runs of one seed, the pilot's three budgets). Each job run's name is
recomputed from the command it logged (tag prepbench.command); nothing else changes.
"""

from __future__ import annotations

import shlex
import sys


def new_name(command: str) -> str:
    from prepbench import config
    from prepbench.track import names

    overrides = [a for a in shlex.split(command)[3:] if a != "-m"]  # after `python -m prepbench`
    return names.run_name(config.compose(overrides, checked=False), overrides)


def main(argv: list[str]) -> int:
    from mlflow.tracking import MlflowClient

    if not argv or not argv[0].endswith(".db"):
        print("usage: python scripts/rename_runs.py STORE.db [--dry-run]", file=sys.stderr)
        return 2
    client = MlflowClient(f"sqlite:///{argv[0]}")
    renamed = 0
    for experiment in client.search_experiments():
        for run in client.search_runs([experiment.experiment_id], "tags.`prepbench.role` = 'job'", max_results=50_000):
            command = run.data.tags.get("prepbench.command")
            if not command or (name := new_name(command)) == run.info.run_name:
                continue
            print(f"{experiment.name}: {run.info.run_name!r} -> {name!r}")
            if "--dry-run" not in argv:
                client.update_run(run.info.run_id, name=name)
            renamed += 1
    print(f"{renamed} run(s) {'to rename' if '--dry-run' in argv else 'renamed'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
