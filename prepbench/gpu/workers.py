"""The worker processes that share the GPU: the plan's jobs spread over them, each job run through
prepbench.study.job.run_job and started only if it is predicted to end before the deadline; at the
deadline a running job is stopped (KILLED in MLflow)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from prepbench import ROOT
from prepbench.gpu.machine import log
from prepbench.gpu.plan import compose, job_list, overrides_for


def worker(args) -> int:
    """Run this worker's jobs in order; start one only if it is predicted to end before the deadline."""
    from prepbench.data.cache import JobCache
    from prepbench.study.job import run_job

    cache = JobCache()  # this worker's jobs share the decoded data set, as a sweep's jobs do

    def stop(signum, frame):  # the deadline: the running job ends KILLED, as under `python -m prepbench`
        raise KeyboardInterrupt(f"signal {signal.Signals(signum).name}")

    signal.signal(signal.SIGTERM, stop)
    spec = json.loads(Path(args.worker).read_text())
    estimate = dict(spec["estimate"])
    done = 0
    for k, job in enumerate(spec["jobs"]):
        left = spec["deadline"] - time.time()
        other = f" ({job['experiment']})" if job["experiment"] != spec["plan"]["experiment"] else ""
        label = f"worker {spec['index']} job {k + 1}/{len(spec['jobs'])}{other}: "
        kind = job["kind"]
        if left < estimate[kind]:
            cell = "".join(f" {o}" for o in job.get("overrides", []))
            log(
                f"{label}prep={job['prep']} net={job['net']} seed={job['seed']}{cell}: "
                f"not started ({left:.0f} s left, ~{estimate[kind]:.0f} s needed)"
            )
            continue
        overrides = overrides_for(args, spec["plan"], job)
        start = time.time()
        try:
            status = run_job(compose(overrides), overrides, label, cache)
        except KeyboardInterrupt:
            log(f"{label}stopped at the deadline")
            return 130
        took = time.time() - start
        if status == "finished":
            done += 1
            estimate[kind] = took * 1.05  # this worker's own pace from now on
    return 0


def launch(args, plan: dict, deadline: float, logs: Path) -> list[subprocess.Popen]:
    jobs = job_list(plan)
    # Longest-first onto the least-loaded worker, keeping the seed order inside each worker.
    loads, shares = [0.0] * plan["workers"], [[] for _ in range(plan["workers"])]
    for job in jobs:
        w = loads.index(min(loads))
        shares[w].append(job)
        loads[w] += plan["job_seconds_estimate"][job["kind"]]
    procs = []
    for w, share in enumerate(shares):
        spec = logs / f"worker-{w}.json"
        spec.write_text(
            json.dumps(
                {
                    "index": w,
                    "jobs": share,
                    "deadline": deadline,
                    "plan": plan,
                    "estimate": plan["job_seconds_estimate"],
                }
            )
        )
        command = [
            sys.executable,
            "-m",
            "prepbench.gpu",
            "--worker",
            str(spec),
            "--data",
            str(args.data),
            "--store",
            str(args.store),
        ]
        out = open(logs / f"worker-{w}.log", "w")
        procs.append(subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT, start_new_session=True))
    return procs


def wait(procs: list[subprocess.Popen], deadline: float) -> list[int | None]:
    while time.time() < deadline and any(p.poll() is None for p in procs):
        time.sleep(1)
    for p in procs:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGTERM)  # the running job ends KILLED
    end = time.time() + 15
    while time.time() < end and any(p.poll() is None for p in procs):
        time.sleep(0.5)
    for p in procs:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
    return [p.wait() for p in procs]
