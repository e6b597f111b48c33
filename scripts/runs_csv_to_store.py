"""Rebuild a published study's MLflow store from its runs.csv, so the dashboard can show it.

    python scripts/runs_csv_to_store.py results/cpu      # writes results/cpu/mlflow.db

For studies whose store was never committed (cpu, depth): every run of runs.csv becomes a run of
experiment <study> with its name, status, start and end time, params, final metrics and tags
(prepbench's own and the parent link); learning curves are not in a runs.csv and are not invented.
The store is created new; an existing mlflow.db is refused.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pandas as pd


def main(folder: str) -> int:
    from mlflow.entities import Metric, Param, RunTag
    from mlflow.tracking import MlflowClient

    from prepbench.track.ui import add_runs_view

    folder = Path(folder)
    db = folder / "mlflow.db"
    if db.exists():
        print(f"error: {db} exists; expected a folder without a store", file=sys.stderr)
        return 2
    runs = pd.read_csv(folder / "runs.csv", dtype=str, keep_default_na=False)
    client = MlflowClient(tracking_uri=f"sqlite:///{db.resolve()}")
    exp_id = client.create_experiment(
        folder.name,
        artifact_location=str((folder / "mlartifacts" / folder.name).resolve()),
        tags={"mlflow.experimentKind": "custom_model_development", "prepbench.imported_from": "runs.csv"},
    )
    for _, row in runs.iterrows():
        run = client.create_run(exp_id, start_time=int(float(row["start_time"])), run_name=row["run_name"])
        params = [Param(k[len("params.") :], v) for k, v in row.items() if k.startswith("params.") and v != ""]
        # the sweep parent runs are not in runs.csv: the runs stand alone
        tags = [
            RunTag(k[len("tags.") :], v)
            for k, v in row.items()
            if k.startswith("tags.") and v != "" and k != "tags.mlflow.parentRunId"
        ]
        metrics = [
            Metric(k[len("metrics.") :], float(v), int(float(row["end_time"] or row["start_time"])), 0)
            for k, v in row.items()
            if k.startswith("metrics.") and v != "" and math.isfinite(float(v))
        ]
        client.log_batch(run.info.run_id, metrics=metrics, params=params, tags=tags)
        end = int(float(row["end_time"])) if row["end_time"] else None
        client.set_terminated(run.info.run_id, status=row["status"] or "FINISHED", end_time=end)
    add_runs_view(client, exp_id)  # the dashboard's ready view, as a sweep writes it
    print(f"{db}: {len(runs)} runs of experiment {folder.name} (final metrics only, from runs.csv)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
