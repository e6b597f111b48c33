"""Everything MLflow: the experiment, one parent run per sweep, one child run per job, resume.

Runs are written through `MlflowClient` with explicit run ids (no global "active run"), so jobs
in other processes (joblib, submitit) write to the same parent without sharing state. The parent
run's id reaches the jobs through the environment variable PARENT_RUN_ENV.
"""

from __future__ import annotations

import json
import logging
import os
import time
import traceback
from contextlib import closing

from omegaconf import DictConfig, OmegaConf

from prepbench.data.cache import digest
from prepbench.errors import PrepbenchError
from prepbench.track import claims
from prepbench.track.identity import config_hash, flatten
from prepbench.track.names import command_for, run_name, sweep_name
from prepbench.track.provenance import git_commit, study_store, uncommitted_diff, uncommitted_files, versions
from prepbench.track.retries import retry
from prepbench.train.version import CODE_VERSION

PARENT_RUN_ENV = "PREPBENCH_PARENT_RUN_ID"
SWEEP_SIZE_ENV = "PREPBENCH_SWEEP_JOBS"
SCHEMES = ("sqlite", "file", "http", "https", "postgresql", "mysql", "mssql", "databricks")


def client_for(tracking_cfg: DictConfig):
    """An MlflowClient for `tracking.uri`, checked to answer within seconds, before any training."""
    import mlflow
    from mlflow.tracking import MlflowClient

    logging.getLogger("mlflow.store.db.utils").setLevel(logging.WARNING)  # "Creating initial ... tables"
    logging.getLogger("alembic").setLevel(logging.WARNING)
    uri = str(tracking_cfg.uri)
    scheme = uri.split(":", 1)[0] if ":" in uri else ""
    if scheme not in SCHEMES:
        raise PrepbenchError(f"tracking.uri={uri} has unknown scheme {scheme!r}; expected one of {', '.join(SCHEMES)}")
    if scheme == "sqlite":
        from prepbench.track.store import prepare_sqlite

        prepare_sqlite(uri)  # fast refusals, then tables created once under a file lock
    if scheme in ("http", "https"):
        _check_reachable(uri)
    mlflow.set_tracking_uri(uri)
    return MlflowClient(uri)


def _check_reachable(uri: str) -> None:
    import urllib.request

    try:
        urllib.request.urlopen(uri.rstrip("/") + "/health", timeout=5).read()
    except Exception as err:
        reason = getattr(err, "reason", err)
        raise PrepbenchError(
            f"tracking.uri={uri} is unreachable ({reason}); expected a running `mlflow server`"
        ) from None


def experiment_id(client, tracking_cfg: DictConfig) -> str:
    name = str(tracking_cfg.experiment)
    found = retry(client.get_experiment_by_name, name)
    if found is not None:
        mark_training_experiment(client, found)
        follow_moved_store(tracking_cfg, found)
        return found.experiment_id
    try:
        return retry(
            client.create_experiment,
            name,
            artifact_location=_artifact_location(tracking_cfg),
            tags={EXPERIMENT_KIND_TAG: TRAINING_KIND},
        )
    except Exception:  # created meanwhile by a parallel worker
        return retry(client.get_experiment_by_name, name).experiment_id


# MLflow's UI reads this experiment tag to tell model training from GenAI work (mlflow 3.17: the
# server's JS bundle, `"mlflow.experimentKind"` with the value `custom_model_development`).
EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
TRAINING_KIND = "custom_model_development"


def mark_training_experiment(client, experiment) -> None:
    """Tag an experiment made before prepbench tagged them as a model-training experiment (one
    that already has a kind keeps it)."""
    if EXPERIMENT_KIND_TAG not in (experiment.tags or {}):
        retry(client.set_experiment_tag, experiment.experiment_id, EXPERIMENT_KIND_TAG, TRAINING_KIND)


def follow_moved_store(tracking_cfg: DictConfig, experiment) -> None:
    """Point a local store's experiment at the artifact location configured now. MLflow keeps the
    absolute location an experiment was created with, so a committed store resumed from a clone or
    a worktree would write its new runs' artifacts into the folder it was created in, outside the
    store (or fail where that folder cannot be made). MLflow has no API to move it: the experiment's
    row is updated in the SQLite file. Runs keep their own paths (prepbench.ui serves those moved)."""
    wanted = _artifact_location(tracking_cfg)
    uri = str(tracking_cfg.uri)
    if wanted is None or not uri.startswith("sqlite:///") or experiment.artifact_location == wanted:
        return
    if not str(experiment.artifact_location).startswith(("file://", "/")):  # a remote location stays
        return
    import sqlite3

    with closing(sqlite3.connect(uri.removeprefix("sqlite:///"), timeout=30)) as con, con:
        con.execute(
            "UPDATE experiments SET artifact_location = ? WHERE experiment_id = ?",
            (wanted, int(experiment.experiment_id)),
        )


def _artifact_location(tracking_cfg):
    location = tracking_cfg.get("artifact_location")
    uri = str(tracking_cfg.uri)
    # A server decides where artifacts go; a local store keeps them beside its database.
    if not location or uri.startswith(("http", "databricks")):
        return None
    return str(location) if "://" in str(location) else f"file://{location}"


# ---- clean code behind a study's runs ----------------------------------------------------------

DIRTY_DIFF = "code.diff"  # the artifact that holds what a -dirty run ran


def check_committed_code(cfg: DictConfig) -> None:
    """A study's own store publishes its runs: refuse code that no commit holds, before any run
    exists (allow_dirty=true trains anyway, and each run keeps the diff)."""
    uri = str(cfg.tracking.uri)
    if cfg.get("allow_dirty") or study_store(uri) is None:
        return
    files = uncommitted_files()
    if files:
        shown = ", ".join(files[:3]) + (f" and {len(files) - 3} more" if len(files) > 3 else "")
        raise PrepbenchError(
            f"tracking.uri={uri} is a study's own store under results/ and the code has uncommitted changes "
            f"({shown}); expected committed code: commit, run from a worktree at a commit, or pass allow_dirty=true"
        )


def log_dirty_diff(client, run_id: str) -> None:
    """A run of uncommitted code: tagged, with the uncommitted changes as an artifact."""
    if git_commit().endswith("-dirty"):
        retry(client.set_tag, run_id, "prepbench.dirty", "true")
        retry(client.log_text, run_id, uncommitted_diff(), DIRTY_DIFF)


# ---- the sweep's parent run ------------------------------------------------------------------


def open_parent_run(
    client, exp_id: str, study: str, overrides: list[str], lease_seconds: float, rerun: bool = False
) -> str:
    """The parent run of this sweep: the one an earlier try of the same command opened, reopened,
    so a resumed sweep keeps all its jobs under one parent; else (none, the same command is running
    right now in another sweep, or a sweep with rerun=true, which trains everything anew) a new one.
    It is a claim with a lease (prepbench.track.claims): the caller keeps it alive with a
    claims.Heartbeat."""
    key = digest(study, sorted(overrides), *([time.time(), os.getpid()] if rerun else []))
    tags = {
        "prepbench.role": "sweep",
        "prepbench.sweep_key": key,
        "prepbench.command": command_for(overrides, multirun=True),
        "prepbench.overrides": json.dumps(overrides),
        "prepbench.git_commit": git_commit(),
        **claims.claim_tags(lease_seconds),
    }
    started = time.time()
    new_id = retry(client.create_run, exp_id, run_name=sweep_name(study, overrides, started), tags=tags).info.run_id
    retry(client.update_run, new_id, name=sweep_name(study, overrides, started, run_id=new_id))
    log_dirty_diff(client, new_id)
    return claims.settle_parent(client, exp_id, new_id, key, lease_seconds=lease_seconds)


def mark_stale_runs(client, exp_id: str, cfg: DictConfig | None = None) -> int:
    """Jobs left RUNNING by a killed sweep are not finished: mark them KILLED before resuming (all
    of the experiment's, or only those of cfg's config). Only stale claims (lease expired, or the
    process gone): a job another sweep is training right now is left alone."""
    return len(claims.mark_stale(client, exp_id, config_hash=config_hash(cfg) if cfg is not None else None))


BAD_INPUT_TAG = "prepbench.bad_input."


def note_bad_input(client, parent_id: str, job_num: int, message: str) -> None:
    retry(client.set_tag, parent_id, f"{BAD_INPUT_TAG}{job_num}", message[:4000])


def bad_input(client, parent_id: str) -> list[str]:
    """The messages of the parent's jobs that rejected their input, in job order."""
    tags = retry(client.get_run, parent_id).data.tags
    found = [(int(k.removeprefix(BAD_INPUT_TAG)), v) for k, v in tags.items() if k.startswith(BAD_INPUT_TAG)]
    return [message for _, message in sorted(found)]


def clear_bad_input(client, parent_id: str) -> None:
    """A resumed sweep judges its input afresh."""
    for key in retry(client.get_run, parent_id).data.tags:
        if key.startswith(BAD_INPUT_TAG):
            retry(client.delete_tag, parent_id, key)


def sweep_outcome(client, parent_id: str, exp_id: str) -> tuple[int, list[str]]:
    """How many of the parent's jobs finished, and the names of those that failed."""
    runs = retry(client.search_runs, [exp_id], filter_string=f"tags.`mlflow.parentRunId` = '{parent_id}'")
    # Per job of the grid (its command-line overrides), the newest attempt decides: a job trained
    # again after a config change (a new default in conf/) is still one job.
    latest: dict[str, object] = {}
    for run in sorted(runs, key=lambda r: r.info.start_time):
        latest[run.data.tags.get("prepbench.overrides") or run.data.tags.get("prepbench.config_hash")] = run
    failed = [r.info.run_name for r in latest.values() if r.info.status != "FINISHED"]
    return len(latest) - len(failed), failed


# ---- a job's child run -----------------------------------------------------------------------


class JobRun:
    """One job's MLflow run: created RUNNING, ended FINISHED, FAILED or KILLED, never left open."""

    def __init__(
        self,
        client,
        exp_id: str,
        cfg: DictConfig,
        overrides: list[str],
        parent_id: str | None,
        extra_tags: dict[str, str] | None = None,
    ):
        self.exp_id, self.config_hash = exp_id, config_hash(cfg)
        tags = {
            "prepbench.role": "job",
            "prepbench.config_hash": self.config_hash,
            "prepbench.code_version": str(CODE_VERSION),
            "prepbench.git_commit": git_commit(),
            "prepbench.versions": json.dumps(versions()),
            "prepbench.overrides": json.dumps(overrides),
            "prepbench.command": command_for(overrides),
        }
        if parent_id:
            tags["mlflow.parentRunId"] = parent_id
        tags.update(extra_tags or {})
        self.client = client
        self.run_id = retry(client.create_run, exp_id, run_name=run_name(cfg, overrides), tags=tags).info.run_id
        log_dirty_diff(client, self.run_id)

    def log_config(self, cfg: DictConfig) -> None:
        from mlflow.entities import Param

        params = {"prep": cfg.prep.name, "net": cfg.net.name, "seed": str(cfg.seed), "data": cfg.data.source}
        params.update(flatten(cfg))
        items = [Param(k, v[:6000]) for k, v in params.items()]
        for start in range(0, len(items), 100):
            retry(self.client.log_batch, self.run_id, params=items[start : start + 100])
        retry(self.client.log_text, self.run_id, OmegaConf.to_yaml(cfg, resolve=True), "config.yaml")

    def log_params(self, **params: str) -> None:
        from mlflow.entities import Param

        retry(self.client.log_batch, self.run_id, params=[Param(k, str(v)) for k, v in params.items()])

    def set_tags(self, **tags: str) -> None:
        for key, value in tags.items():
            retry(self.client.set_tag, self.run_id, f"prepbench.{key}", value)

    def log_metrics(self, metrics: dict[str, float], step: int = 0) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        retry(self.client.log_batch, self.run_id, metrics=[Metric(k, float(v), now, step) for k, v in metrics.items()])

    def log_image(self, image, name: str) -> None:
        retry(self.client.log_image, self.run_id, image, artifact_file=name)

    def finish(self) -> None:
        retry(self.client.set_terminated, self.run_id, status="FINISHED")
        mark_superseded(self.client, self.exp_id, self.config_hash)

    def fail(self, err: BaseException, status: str = "FAILED") -> None:
        """End the run as not finished, with the reason as a tag and the traceback as an artifact."""
        reason = f"{type(err).__name__}: {err}".strip()[:4000]
        try:
            retry(self.client.set_tag, self.run_id, "prepbench.failure_reason", reason)
            trace = "".join(traceback.format_exception(type(err), err, err.__traceback__))
            retry(self.client.log_text, self.run_id, trace, "traceback.txt")
        finally:
            retry(self.client.set_terminated, self.run_id, status=status)


def finished_run(client, exp_id: str, cfg: DictConfig):
    """The FINISHED run of this exact config in the experiment, if there is one."""
    found = retry(
        client.search_runs,
        [exp_id],
        filter_string=f"tags.`prepbench.config_hash` = '{config_hash(cfg)}' and attributes.status = 'FINISHED'",
        max_results=1,
    )
    return found[0] if found else None


# ---- superseded runs: a newer FINISHED run of the same config replaces an older one ---------------

SUPERSEDED_TAG = "prepbench.superseded_by"  # the dashboard's view leaves these out (ui.CURRENT_JOBS)


def mark_superseded(client, exp_id: str, config_hash: str | None = None) -> int:
    """Tag every FINISHED job run that a newer FINISHED run of its config hash replaced (rerun=true,
    or a run trained again by hand) with that run's id, so that views filter it out as the report
    does; of one config hash, or of the whole experiment. Returns how many it tagged."""
    where = "tags.`prepbench.role` = 'job' and attributes.status = 'FINISHED'"
    if config_hash is not None:
        where += f" and tags.`prepbench.config_hash` = '{config_hash}'"
    runs = retry(client.search_runs, [exp_id], where, max_results=50_000, order_by=["attributes.start_time DESC"])
    newest: dict[str, str] = {}
    replaced = {}
    for run in runs:  # newest first
        key = run.data.tags.get("prepbench.config_hash")
        if key is None:
            continue
        if key in newest:
            replaced[run.info.run_id] = newest[key]
        else:
            newest[key] = run.info.run_id
    return tag_superseded(client, replaced, {r.info.run_id: r.data.tags.get(SUPERSEDED_TAG) for r in runs})


def tag_superseded(client, replaced: dict[str, str], tagged_now: dict[str, str | None]) -> int:
    """Set SUPERSEDED_TAG on the runs of `replaced` (run id -> its replacement) whose tag
    (`tagged_now`, run id -> its value or None) says otherwise; returns how many it set."""
    changed = [run_id for run_id, by in replaced.items() if tagged_now.get(run_id) != by]
    for run_id in changed:
        retry(client.set_tag, run_id, SUPERSEDED_TAG, replaced[run_id])
    return len(changed)
