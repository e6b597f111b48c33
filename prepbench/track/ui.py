"""`python -m prepbench.ui [STUDY] [KEY=VALUE ...]`: the MLflow dashboard on a study's store.

Serves the study's MLflow store (`tracking.uri` of `experiments/STUDY.yaml`, or of the default
config for a study without a file) with `mlflow server` on this machine only, and prints two URLs:
the runs table of its jobs, already showing prep, net, seed, test and validation accuracy, grouped
by prep and net, and MLflow's side-by-side comparison of its finished jobs.

How the URLs reach a ready view (MLflow 3.17's UI, read from its JS bundle): `workflowType=
machine_learning` opens the model-training pages rather than the GenAI overview, whatever the
browser remembers; the runs table keeps only its search, sort and time filter in the URL, and its
columns, widths and grouping in a "view" stored as the experiment tag
`mlflow.sharedViewState.<key>` and opened by `viewStateShareKey=<key>`. The sweep writes that view
(`add_runs_view`) when it opens the experiment, so every store carries it, and the dashboard
brings its grouping up to date with the runs the store holds (a `zca (ε=0.1)` row or a scarcity
ladder gets its own groups).

A store committed elsewhere (a fresh clone) holds absolute artifact paths from the machine that
made it. Where those paths are missing and the same files sit beside the store (in
`<store folder>/mlartifacts/`), the dashboard serves a temporary copy of the database whose
paths are rewritten to them; the committed file is never changed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

from prepbench.errors import PrepbenchError

DEFAULT_BASE_URL = "http://127.0.0.1:5000"
VIEW_KEY = "prepbench"
VIEW_NAME = "prepbench: prep x net"
VIEW_TAG = f"mlflow.sharedViewState.{VIEW_KEY}"
ARTIFACTS_DIR = "mlartifacts"  # beside the store's database (conf/tracking, experiments/)
COLUMNS = ["params.`prep`", "params.`net`", "params.`seed`", "metrics.`test_accuracy`", "metrics.`val_accuracy`"]
WIDTHS = {
    "attributes.`Run Name`": 290,
    "runDateAndNestInfo": 125,
    "params.`prep`": 95,
    "params.`net`": 80,
    "params.`seed`": 60,
    "metrics.`test_accuracy`": 115,
    "metrics.`val_accuracy`": 115,
    "duration": 80,
}


# ---- the view and the URLs --------------------------------------------------------------------


FINISHED_JOBS = "tags.`prepbench.role` = 'job' and attributes.status = 'FINISHED'"
# What views show: the finished jobs that no newer run of their config replaced (the report's cells).
CURRENT_JOBS = FINISHED_JOBS + " and tags.`prepbench.superseded_by` IS NULL"


def runs_view_state(extra_groups=()) -> dict:
    """The runs table's view: only the finished jobs (not the sweeps' parent runs), grouped by prep
    and net (and `extra_groups`, group_keys) with the mean of each group, sorted by prep, with the
    columns a comparison needs."""
    groups = ["prep", "net", *extra_groups]
    return {
        # finished jobs only (a killed job's last validation accuracy would enter its group's mean),
        # and no run a newer one replaced (the group's mean would count a cell twice)
        "searchFilter": CURRENT_JOBS,
        "orderByKey": "params.`prep`",
        "orderByAsc": True,
        "selectedColumns": COLUMNS,
        "columnOrder": ["attributes.`Run Name`", *COLUMNS, "runDateAndNestInfo", "duration"],
        "columnWidths": WIDTHS,
        "groupBy": {
            "aggregateFunction": "average",
            "groupByKeys": [{"mode": "param", "groupByData": key} for key in groups],
        },
    }


def group_keys(runs_params: list[dict]) -> list[str]:
    """The settings besides prep and net that tell a cell apart in these job runs' params: those
    that take more than one value among runs of the same prep and net (`prep.zca_epsilon` in a
    study with `zca` and `zca_reg`, which both log prep `zca`; `data.train_size` where a scarcity
    ladder shares the experiment), not seeds nor settings that change no result (as the report's
    contexts: identity.NOT_IN_CELL)."""
    from prepbench.track.identity import LATE_SETTINGS, NOT_IN_CELL

    keys = sorted({k for params in runs_params for k in params})
    out = []
    for key in keys:
        if key in ("prep", "net") or any(key == x or key.startswith(x + ".") for x in NOT_IN_CELL):
            continue
        seen: dict[tuple, set] = {}
        for params in runs_params:
            value = params.get(key, LATE_SETTINGS.get(key))  # logged before the setting existed: its value then
            seen.setdefault((params.get("prep"), params.get("net")), set()).add(value)
        if any(len(values) > 1 for values in seen.values()):
            out.append(key)
    return out


def add_runs_view(client, experiment_id: str) -> None:
    """Store the view in the experiment (it also appears under Views in the UI), grouped by what
    tells its job runs' cells apart (group_keys); an experiment that already has this very view is
    left as it is."""
    from prepbench.track.retries import retry

    jobs = retry(client.search_runs, [experiment_id], FINISHED_JOBS, max_results=50_000)
    state = json.dumps(runs_view_state(group_keys([r.data.params for r in jobs])), sort_keys=True)
    current = (retry(client.get_experiment, experiment_id).tags or {}).get(VIEW_TAG)
    try:
        if current and json.loads(current).get("state") == state:
            return
    except (ValueError, AttributeError):
        pass
    now = int(time.time() * 1000)
    envelope = {"name": VIEW_NAME, "createdAt": now, "updatedAt": now, "state": state}
    retry(client.set_experiment_tag, experiment_id, VIEW_TAG, json.dumps(envelope))


def runs_table_url(experiment_id: str, base_url: str = DEFAULT_BASE_URL) -> str:
    """The runs table of an experiment with prepbench's view (prep, net, seed, test_accuracy and
    val_accuracy, grouped by prep and net), on the model-training pages."""
    query = urllib.parse.urlencode({"viewStateShareKey": VIEW_KEY, "workflowType": "machine_learning"})
    return f"{base_url.rstrip('/')}/#/experiments/{experiment_id}/runs?{query}"


def compare_url(experiment_id: str, run_ids, base_url: str = DEFAULT_BASE_URL) -> str:
    """MLflow's comparison page of these runs (parallel coordinates, params and metrics side by side)."""
    query = urllib.parse.urlencode(
        {
            "runs": json.dumps(list(run_ids), separators=(",", ":")),
            "experiments": json.dumps([str(experiment_id)], separators=(",", ":")),
            "workflowType": "machine_learning",
        }
    )
    return f"{base_url.rstrip('/')}/#/compare-runs?{query}"


def dashboard_urls(client, experiment: str, base_url: str = DEFAULT_BASE_URL) -> dict[str, str] | None:
    """{"runs": runs table URL, "compare": comparison of the current FINISHED jobs, "jobs": how many,
    "experiment_id"} of an experiment by name, or None when the store has no such experiment."""
    from prepbench.track.retries import retry

    found = retry(client.get_experiment_by_name, experiment)
    if found is None:
        return None
    jobs = retry(
        client.search_runs,
        [found.experiment_id],
        filter_string=CURRENT_JOBS,
        max_results=1000,
        order_by=["params.prep ASC", "params.net ASC", "params.seed ASC"],
    )
    return {
        "runs": runs_table_url(found.experiment_id, base_url),
        "compare": compare_url(found.experiment_id, [r.info.run_id for r in jobs], base_url),
        "jobs": str(len(jobs)),
        "experiment_id": str(found.experiment_id),
    }


def report_links(
    client, experiment: str, tracking_uri: str, run_ids=(), base_url: str = DEFAULT_BASE_URL
) -> dict | None:
    """What a report says about browsing its runs: the command that serves the store and the two
    URLs it prints ({"command", "runs", "compare", "jobs"}), the comparison showing `run_ids` (the
    runs the report analysed: a `--where` report of 24 cells compares those, not the experiment's
    hundreds); None when the store is not an SQLite file (a server is its own dashboard) or has no
    such experiment."""
    import shlex

    urls = dashboard_urls(client, experiment, base_url) if _sqlite_path(tracking_uri) else None
    if urls is None:
        return None
    if run_ids:
        urls["compare"] = compare_url(urls["experiment_id"], run_ids, base_url)
        urls["jobs"] = str(len(run_ids))
    command = f"python -m prepbench.ui {shlex.quote(experiment)}"
    if study_tracking_uri(experiment) != tracking_uri:
        command += " " + shlex.quote(f"tracking.uri={tracking_uri}")
    return {"command": command, **urls}


# ---- which store ------------------------------------------------------------------------------


def study_tracking_uri(study: str | None, overrides=()) -> str:
    """Where a study's runs are tracked (the report and `make report` read the same store)."""
    from prepbench import config

    return str(config.study(study, overrides).tracking.uri)


def _sqlite_path(uri: str) -> Path | None:
    return Path(uri.removeprefix("sqlite:///")) if uri.startswith("sqlite:///") else None


def _local_path(location: str) -> Path | None:
    if location.startswith("file://"):
        return Path(urllib.parse.unquote(urllib.parse.urlparse(location).path))
    return Path(location) if location.startswith("/") else None


def relocated(location: str, store_dir: Path) -> str | None:
    """An artifact location that does not exist here, pointed at the same files beside the store
    (`.../mlartifacts/<experiment>/...` -> `<store_dir>/mlartifacts/<experiment>/...`); None when
    the location exists, is not local, or has no counterpart beside the store."""
    path = _local_path(location)
    if path is None or path.exists() or ARTIFACTS_DIR not in path.parts:
        return None
    parts = path.parts
    below = parts[len(parts) - parts[::-1].index(ARTIFACTS_DIR) :]  # after the last "mlartifacts"
    moved = store_dir / ARTIFACTS_DIR / Path(*below) if below else store_dir / ARTIFACTS_DIR
    top = store_dir / ARTIFACTS_DIR / below[0] if below else moved
    if not top.exists() or moved == path:  # nothing beside the store, or not moved (a run without artifacts)
        return None
    return moved.as_uri() if location.startswith("file://") else str(moved)


def relocations(db: Path) -> dict[str, dict[str, str]]:
    """{"experiments": {id: new location}, "runs": {run id: new artifact uri}} for the locations
    of a store that must move to be read here."""
    store_dir = db.resolve().parent
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as con:
        experiments = con.execute("SELECT experiment_id, artifact_location FROM experiments").fetchall()
        runs = con.execute("SELECT run_uuid, artifact_uri FROM runs").fetchall()
    out: dict[str, dict[str, str]] = {"experiments": {}, "runs": {}}
    for table, rows in (("experiments", experiments), ("runs", runs)):
        for key, location in rows:
            if location and (new := relocated(str(location), store_dir)):
                out[table][str(key)] = new
    return out


def servable_copy(db: Path, moves: dict[str, dict[str, str]], workdir: Path) -> Path:
    """A copy of the store with its artifact locations moved (the original is left untouched)."""
    copy = workdir / "mlflow.db"
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as source, sqlite3.connect(copy) as target:
        source.backup(target)
        target.executemany(
            "UPDATE experiments SET artifact_location = ? WHERE experiment_id = ?",
            [(new, int(key)) for key, new in moves["experiments"].items()],
        )
        target.executemany(
            "UPDATE runs SET artifact_uri = ? WHERE run_uuid = ?", [(new, key) for key, new in moves["runs"].items()]
        )
    return copy


# ---- serving ----------------------------------------------------------------------------------


def port_free(host: str, port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex((host, port)) != 0


def start_server(db: Path, host: str, port: int, log) -> subprocess.Popen:
    """`mlflow server` on the SQLite store, bound to `host` (127.0.0.1: this machine only)."""
    command = [
        sys.executable,
        "-m",
        "mlflow",
        "server",
        "--backend-store-uri",
        f"sqlite:///{db}",
        "--artifacts-destination",
        str(db.parent / ARTIFACTS_DIR),
        "--host",
        host,
        "--port",
        str(port),
        "--workers",
        "1",
    ]
    # The server's job runner (GenAI scorers, periodic tasks) is not needed and starts 7 processes.
    env = dict(os.environ, MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false")
    return subprocess.Popen(
        command, cwd=db.parent, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
    )


def wait_until_up(server: subprocess.Popen, base_url: str, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            urllib.request.urlopen(f"{base_url}/health", timeout=2).read()
            return
        except OSError:
            if server.poll() is not None:
                raise PrepbenchError(
                    f"mlflow server exited with status {server.returncode} before answering; "
                    "expected it to serve the store (run it by hand to see why)"
                ) from None
            if time.monotonic() > deadline:
                raise PrepbenchError(
                    f"mlflow server did not answer at {base_url} within {timeout:.0f} s; expected a started server"
                ) from None
            time.sleep(0.5)


def stop_server(server: subprocess.Popen) -> None:
    if server.poll() is None:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


def describe(experiment: str, urls: dict[str, str] | None) -> list[str]:
    if urls is None:
        return [f"  experiment {experiment!r} is not in this store yet (it appears once a job of it has run)"]
    return [
        f"  runs table of {experiment!r}: prep, net, seed, test and validation accuracy, grouped by prep and net",
        f"    {urls['runs']}",
        f"  comparison of its {urls['jobs']} finished jobs (parallel coordinates, params and metrics side by side)",
        f"    {urls['compare']}",
    ]


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m prepbench.ui", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "study",
        nargs="?",
        help="a study of experiments/ (cpu, depth, ...) or an experiment of "
        "the default store (adhoc); default: every experiment of the default store",
    )
    parser.add_argument(
        "overrides", nargs="*", help="config overrides, e.g. tracking.uri=sqlite:////elsewhere/mlflow.db"
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)"
    )
    parser.add_argument("--port", type=int, default=5000, help="port (default 5000)")
    parser.add_argument("--print-tracking-uri", action="store_true", help="print the study's tracking URI and exit")
    args = parser.parse_args(argv)
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:  # kill, timeout: stop the server too
        signal.signal(signal.SIGTERM, _interrupt)
    if args.study and "=" in args.study:  # only overrides were given
        args.overrides, args.study = [args.study, *args.overrides], None
    try:
        return _serve(args)
    except PrepbenchError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


def _serve(args) -> int:
    from prepbench import config

    cfg = config.study(args.study, args.overrides)
    uri = str(cfg.tracking.uri)
    if args.print_tracking_uri:
        print(uri)
        return 0
    db = _checked_store(uri, args)
    workdir = Path(tempfile.mkdtemp(prefix="prepbench-ui-"))
    try:
        served = _servable(db, workdir)
        from mlflow.tracking import MlflowClient

        client = MlflowClient(f"sqlite:///{served}")
        wanted = [str(cfg.tracking.experiment)] if args.study else _job_experiments(client)
        for name in wanted:
            if (found := client.get_experiment_by_name(name)) is not None:
                add_runs_view(client, found.experiment_id)  # grouped by what its runs hold now

        base_url = f"http://{args.host}:{args.port}"
        with open(workdir / "server.log", "w") as log:
            server = start_server(served, args.host, args.port, log)
            try:
                print(f"starting mlflow server on {served} ...", flush=True)
                wait_until_up(server, base_url)
                print(f"MLflow dashboard at {base_url} (Ctrl-C stops it)", flush=True)
                for name in wanted:
                    print("\n".join(describe(name, dashboard_urls(client, name, base_url))), flush=True)
                if not wanted:
                    print("  no prepbench runs in this store yet", flush=True)
                server.wait()
            except KeyboardInterrupt:
                print("stopped", flush=True)
            finally:
                stop_server(server)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


def _checked_store(uri: str, args) -> Path:
    """The SQLite file behind `uri`, refused (one line) when it is not one, is missing, or the port
    is taken. The path is made absolute: the server runs beside the store, in its folder."""
    db = _sqlite_path(uri)
    if db is None:
        raise PrepbenchError(
            f"tracking.uri={uri} is not an SQLite store; expected sqlite:///PATH (a server at "
            f"http://... is its own dashboard: open it)"
        )
    if not db.exists():
        made_by = f"python -m prepbench -m experiment={args.study}" if args.study else "python -m prepbench ..."
        raise PrepbenchError(f"no MLflow store at {db}; expected one made by `{made_by}`")
    db = db.resolve()
    if not port_free(args.host, args.port):
        raise PrepbenchError(
            f"port {args.port} on {args.host} is in use; expected a free port (--port N, or make ui PORT=N)"
        )
    return db


def _servable(db: Path, workdir: Path) -> Path:
    """The store itself, or a copy in `workdir` whose artifact paths point beside the store."""
    moves = relocations(db)
    if not (moves["experiments"] or moves["runs"]):
        return db
    served = servable_copy(db, moves, workdir)
    (workdir / ARTIFACTS_DIR).symlink_to(db.parent / ARTIFACTS_DIR)  # the copy's artifacts stay beside the store
    print(
        f"{db} was written on another machine or folder: serving a copy whose artifact paths point to "
        f"{db.parent / ARTIFACTS_DIR} (the committed file is not changed)",
        flush=True,
    )
    return served


def _job_experiments(client) -> list[str]:
    """The store's experiments that hold prepbench jobs."""
    return [
        e.name
        for e in client.search_experiments()
        if client.search_runs([e.experiment_id], filter_string="tags.`prepbench.role` = 'job'", max_results=1)
    ]


if __name__ == "__main__":
    sys.exit(main())
