"""The MLflow dashboard as a first-time user meets it, checked in headless Chromium.

    python scripts/dashboard_screenshot.py [--out docs/dashboard.png] [--keep]

On a fresh store that nobody prepared: runs the smoke sweep (`python -m prepbench -m
experiment=smoke`, 6 jobs on synthetic data) into a temporary folder, starts `python -m
prepbench.ui smoke` on it exactly as `make ui` does, takes the two URLs it prints, and opens each
in a fresh headless Chromium profile (no cookies, no local storage, nothing picked by hand).
Checks that the runs table is on the model-training pages (not the GenAI overview) and shows the
columns prep, net, seed, test_accuracy and val_accuracy and every job by name, and that the
comparison page lists every job; writes the screenshots (OUT, and OUT with -compare before the
suffix). Exit status 1 if a check fails, 2 if Chromium is missing
(`apt-get install -y chromium chromium-driver`).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--window-size=1600,1000",
]
COLUMNS = ("prep", "net", "seed", "test_accuracy", "val_accuracy")


def chromium(url: str, *args: str, budget_ms: int = 30000) -> str:
    """One page load in a fresh profile, as a first-time user's browser."""
    profile = tempfile.mkdtemp(prefix="prepbench-chromium-")
    try:
        command = [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", f"--virtual-time-budget={budget_ms}", *args, url]
        return subprocess.run(command, capture_output=True, text=True, timeout=180).stdout
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def text_of(html: str) -> str:
    html = re.sub(r"<(style|script)\b.*?</\1>", " ", html, flags=re.S)
    return " ".join(re.sub(r"<[^>]+>", " ", html).split()).replace("&amp;", "&")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "dashboard.png")
    parser.add_argument("--keep", action="store_true", help="keep the temporary store (its path is printed)")
    args = parser.parse_args()
    if not Path(CHROMIUM).exists():
        print(
            f"error: {CHROMIUM} is absent; expected Chromium (apt-get install -y chromium chromium-driver)",
            file=sys.stderr,
        )
        return 2
    store = Path(tempfile.mkdtemp(prefix="prepbench-dashboard-"))
    env = dict(os.environ, PREPBENCH_CACHE=str(store / "cache"), PYTHONPATH=str(ROOT))
    where = [f"tracking.uri=sqlite:///{store}/mlflow.db", f"tracking.artifact_location={store}/mlartifacts/smoke"]
    subprocess.run(
        [sys.executable, "-m", "prepbench", "-m", "experiment=smoke", *where, f"hydra.sweep.dir={store}/sweep"],
        cwd=ROOT,
        env=env,
        check=True,
    )

    port = free_port()
    ui = subprocess.Popen(
        [sys.executable, "-m", "prepbench.ui", "smoke", where[0], "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        lines: list[str] = []
        deadline = time.monotonic() + 300
        while not any("compare-runs" in line for line in lines):
            line = ui.stdout.readline()
            if not line or time.monotonic() > deadline:
                raise SystemExit("error: python -m prepbench.ui printed no URLs:\n" + "".join(lines))
            print(line, end="")
            lines.append(line)
        table_url, compare_url = [line.strip() for line in lines if line.strip().startswith("http")][:2]

        from mlflow.tracking import MlflowClient

        client = MlflowClient(f"sqlite:///{store}/mlflow.db")
        exp = client.get_experiment_by_name("smoke")
        jobs = [r for r in client.search_runs([exp.experiment_id]) if r.data.tags.get("prepbench.role") == "job"]

        problems = []
        table = text_of(chromium(table_url, "--dump-dom"))
        if "Detect Issues" in table or "Runs" not in table:
            problems.append("the runs table URL does not open the training runs")
        for needed in (*COLUMNS, *(r.info.run_name for r in jobs), "Group: prep:"):
            if needed not in table:
                problems.append(f"runs table lacks {needed!r}")
        compare = text_of(chromium(compare_url, "--dump-dom"))
        if f"Comparing {len(jobs)} Runs" not in compare:
            problems.append(f"comparison page does not compare the {len(jobs)} jobs")
        for needed in ("test_accuracy", *(r.info.run_name for r in jobs)):
            if needed not in compare:
                problems.append(f"comparison page lacks {needed!r}")

        args.out.parent.mkdir(parents=True, exist_ok=True)
        compare_png = args.out.with_name(args.out.stem + "-compare" + args.out.suffix)
        chromium(table_url, f"--screenshot={args.out.resolve()}")
        chromium(compare_url, f"--screenshot={compare_png.resolve()}")
        print(f"{len(jobs)} jobs; wrote {args.out} and {compare_png}")
        for problem in problems:
            print(f"check failed: {problem}", file=sys.stderr)
        return 1 if problems else 0
    finally:
        os.killpg(ui.pid, signal.SIGTERM)  # prepbench.ui stops its server
        ui.wait(timeout=60)
        if args.keep:
            print(f"store kept in {store}")
        else:
            shutil.rmtree(store, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
