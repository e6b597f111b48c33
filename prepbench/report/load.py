"""Reading runs, the only I/O of the analysis: an MLflow experiment, or a `runs.csv` that an
earlier report wrote (for recomputing a published study whose store is not at hand)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from prepbench.errors import PrepbenchError

RUN_COLUMNS = ("run_id", "run_name", "status", "start_time", "end_time")
SEEDS_PLAN_TAG = "prepbench.seeds.plan"
SEEDS_STOPS_TAG = "prepbench.seeds.stops"


@dataclass(frozen=True)
class Loaded:
    """What the report reads: the runs (one row each: run_id, run_name, status, start_time,
    end_time, params.*, metrics.* with each metric's last value, tags.*), where they came from,
    and the seeds command's plan and stopping rules if it ran on this experiment."""

    source: str
    runs: pd.DataFrame
    seeds_plan: dict = field(default_factory=dict)
    seeds_stops: dict = field(default_factory=dict)
    client: object = None


def default_tracking_uri(experiment: str | None = None) -> str:
    """The store of the study `experiment` (experiments/NAME.yaml's tracking.uri), else the
    embedded default store; composed from conf/ (defaults live only there)."""
    from prepbench import config

    return str(config.study(experiment).tracking.uri)


def open_client(tracking_uri: str):
    """An MlflowClient; a missing SQLite file is an error (reading must not create a store)."""
    from mlflow.tracking import MlflowClient

    if tracking_uri.startswith("sqlite:///"):
        db = Path(tracking_uri[len("sqlite:///") :])
        if not db.is_file():
            raise PrepbenchError(
                f"no MLflow store at {db} (from --tracking-uri {tracking_uri}); "
                "run a sweep first or pass the store's URI"
            )
    return MlflowClient(tracking_uri=tracking_uri)


def _json_tag(tags: dict, key: str) -> dict:
    try:
        value = json.loads(tags.get(key) or "{}")
    except json.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def load_experiment(tracking_uri: str, experiment: str) -> Loaded:
    """Every run of `experiment`; an unreadable store or unknown name is one PrepbenchError."""
    client = open_client(tracking_uri)
    try:
        exp = client.get_experiment_by_name(experiment)
        if exp is None:
            names = sorted(e.name for e in client.search_experiments())
            raise PrepbenchError(
                f"no MLflow experiment named {experiment!r}; the store has: {', '.join(names) or 'none'}"
            )
        runs = _search_all(client, exp.experiment_id)
    except PrepbenchError:
        raise
    except Exception as err:  # an unreadable store: one line, not a traceback
        first = str(err).strip().splitlines()[0] if str(err).strip() else ""
        raise PrepbenchError(f"cannot read the MLflow store {tracking_uri}: {type(err).__name__}: {first}") from err
    rows = []
    for r in runs:
        row = {
            "run_id": r.info.run_id,
            "run_name": r.info.run_name,
            "status": r.info.status,
            "start_time": r.info.start_time,
            "end_time": r.info.end_time,
        }
        row.update({f"params.{k}": v for k, v in r.data.params.items()})
        row.update({f"metrics.{k}": v for k, v in r.data.metrics.items()})
        row.update(
            {f"tags.{k}": v for k, v in r.data.tags.items() if k.startswith("prepbench.") or k == "mlflow.parentRunId"}
        )
        rows.append(row)
    tags = dict(exp.tags or {})
    return Loaded(
        f"the MLflow experiment `{experiment}` at `{tracking_uri}`",
        pd.DataFrame(rows),
        _json_tag(tags, SEEDS_PLAN_TAG),
        _json_tag(tags, SEEDS_STOPS_TAG),
        client,
    )


def _search_all(client, experiment_id: str) -> list:
    runs, token = [], None
    while True:
        page = client.search_runs([experiment_id], max_results=1000, page_token=token)
        runs.extend(page)
        token = page.token
        if not token:
            return runs


def load_runs_csv(path: str | Path) -> Loaded:
    """The runs of a `runs.csv` written by this report: params and tags as text (as MLflow stores
    them), metrics as numbers. Learning curves are not in it, so early-epoch effects are absent."""
    path = Path(path)
    if not path.is_file():
        raise PrepbenchError(f"--runs-csv {path} does not exist; expected a runs.csv written by the report")
    head = pd.read_csv(path, nrows=0).columns
    text = {c: str for c in head if c.startswith(("params.", "tags.")) or c in ("run_id", "run_name", "status")}
    df = pd.read_csv(path, dtype=text)
    keep = [c for c in df.columns if c in RUN_COLUMNS or c.startswith(("params.", "metrics.", "tags."))]
    if "run_id" not in keep:
        raise PrepbenchError(f"--runs-csv {path} has no run_id column; expected a runs.csv written by the report")
    return Loaded(f"`{path}` (a runs.csv; no learning curves)", df[keep].copy())


def load_curves(client, run_ids, metric: str = "val_accuracy") -> dict[str, pd.Series]:
    """Each run's per-epoch `metric` (step -> value, the last value logged per step)."""
    curves = {}
    if client is None:
        return curves
    for rid in run_ids:
        hist = client.get_metric_history(rid, metric)
        curves[rid] = pd.Series(
            {m.step: m.value for m in sorted(hist, key=lambda m: m.timestamp)}, dtype=float
        ).sort_index()
    return curves
