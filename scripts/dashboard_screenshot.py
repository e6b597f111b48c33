"""The MLflow dashboard as a user sees it, in headless Chromium (Debian's `chromium` package).

    python scripts/dashboard_screenshot.py [--store DIR] [--experiment smoke] [--out docs/dashboard.png]

Without --store it first runs `python -m prepbench -m experiment=smoke trainer.epochs=1` into a
temporary store. It then serves the store with `mlflow server` on 127.0.0.1 (as `make ui` does),
saves a view of the runs table with the columns prep, net, seed and test_accuracy (an MLflow
"shared view", stored as an experiment tag), checks in the rendered page that those columns and
every job are there, opens the runs' comparison page and checks it lists the same, and writes the
screenshots (OUT and OUT with -compare before the suffix). Exit status 1 if a check fails.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
COLUMNS = ["params.`prep`", "params.`net`", "params.`seed`", "metrics.`test_accuracy`"]


def chromium(url: str, *args: str, budget_ms: int = 20000) -> str:
    command = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--window-size=1600,900",
               f"--virtual-time-budget={budget_ms}", *args, url]
    return subprocess.run(command, capture_output=True, text=True, timeout=120).stdout


def text_of(html: str) -> str:
    html = re.sub(r"<(style|script)\b.*?</\1>", " ", html, flags=re.S)
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", type=Path, help="a folder with mlflow.db (default: run a smoke sweep first)")
    parser.add_argument("--experiment", default="smoke")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "dashboard.png")
    args = parser.parse_args()
    if not Path(CHROMIUM).exists():
        print(f"error: {CHROMIUM} is absent; expected Debian's chromium (apt-get install chromium)", file=sys.stderr)
        return 2
    store = args.store or Path(tempfile.mkdtemp(prefix="prepbench-ui-"))
    if args.store is None:
        subprocess.run([sys.executable, "-m", "prepbench", "-m", "experiment=smoke", "trainer.epochs=1",
                        f"tracking.uri=sqlite:///{store}/mlflow.db", f"tracking.artifact_location={store}/art",
                        f"hydra.sweep.dir={store}/sweep"], cwd=ROOT, check=True,
                       env=dict(os.environ, PREPBENCH_CACHE=str(store / "cache")))

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    uri = f"http://127.0.0.1:{port}"
    server = subprocess.Popen([sys.executable, "-m", "mlflow", "server", "--backend-store-uri", f"sqlite:///{store}/mlflow.db",
                               "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        for _ in range(240):
            try:
                urllib.request.urlopen(f"{uri}/health", timeout=2).read()
                break
            except OSError:
                if server.poll() is not None:
                    raise SystemExit(f"error: mlflow server on {store}/mlflow.db exited with status {server.returncode}") from None
                time.sleep(0.5)
        from mlflow.tracking import MlflowClient

        client = MlflowClient(uri)
        exp = client.get_experiment_by_name(args.experiment)
        found = client.search_runs([exp.experiment_id], order_by=["metrics.test_accuracy DESC"])
        jobs = [r for r in found if r.data.tags.get("prepbench.role") == "job" and r.info.status == "FINISHED"]
        parents = [r for r in found if r.data.tags.get("prepbench.role") == "sweep"]
        view = {
            "selectedColumns": COLUMNS,
            "runsExpanded": {p.info.run_id: True for p in parents},
            "orderByKey": "metrics.`test_accuracy`",
            "orderByAsc": False,
            "compareRunsMode": "TABLE",
        }
        client.set_experiment_tag(exp.experiment_id, "mlflow.sharedViewState.prepbench", json.dumps(view))
        table_url = f"{uri}/#/experiments/{exp.experiment_id}/runs?viewStateShareKey=prepbench&compareRunsMode=TABLE"
        compare_url = (f"{uri}/#/compare-runs?runs={json.dumps([r.info.run_id for r in jobs])}"
                       f"&experiments={json.dumps([exp.experiment_id])}").replace(" ", "")

        problems = []
        table = text_of(chromium(table_url, "--dump-dom"))
        for needed in ("prep", "net", "seed", "test_accuracy", *{r.info.run_name for r in jobs}):
            if needed not in table:
                problems.append(f"runs table lacks {needed!r}")
        compare = text_of(chromium(compare_url, "--dump-dom"))
        for needed in ("prep", "net", "seed", "test_accuracy", *{r.data.params["prep"] for r in jobs}):
            if needed not in compare:
                problems.append(f"comparison page lacks {needed!r}")

        args.out.parent.mkdir(parents=True, exist_ok=True)
        compare_png = args.out.with_name(args.out.stem + "-compare" + args.out.suffix)
        chromium(table_url, f"--screenshot={args.out.resolve()}")
        chromium(compare_url, f"--screenshot={compare_png.resolve()}")
        print(f"{len(jobs)} finished runs; wrote {args.out} and {compare_png}")
        for problem in problems:
            print(f"check failed: {problem}", file=sys.stderr)
        return 1 if problems else 0
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


if __name__ == "__main__":
    sys.exit(main())
