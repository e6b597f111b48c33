"""`python -m prepbench.gpu` (or scripts/gpu_study.py, as scripts/gpu_study.sh runs it): one call of the
GPU runner, from its options to what it brings back (the package's docstring says what it does).
A worker process is the same command with --worker."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from prepbench import ROOT
from prepbench.errors import PrepbenchError
from prepbench.gpu import __doc__ as package_doc
from prepbench.gpu.machine import log, machine, probe
from prepbench.gpu.plan import (
    compose,
    finished_seeds,
    job_key,
    job_list,
    job_sizes,
    overrides_for,
    plan_for,
    probe_key,
    study_grid,
    tiny_cell,
)
from prepbench.gpu.results import archive, outcome, resume
from prepbench.gpu.stamp import commit_for_call
from prepbench.gpu.workers import launch, wait, worker

EXPERIMENTS = tuple(sorted(path.stem for path in (ROOT / "experiments").glob("*.yaml")))
SCARCE = {"converged": "converged-scarce"}  # run after the main grid's seeds if the plan leaves room
# Per experiment: the most seeds, the probe's training images and epochs. The probe's time is
# mostly compilation (the deep net's first epoch: ~19 s on an H200), which the workers then find in
# JAX's cache; its later epochs cost ~0.05 s per 2,048 images there, so 2 of them are measured.
# Any experiment but memo is sized as converged is: whole seeds of its own design.
DEFAULTS = {
    "memo": {"max_seeds": 5, "probe_images": 8192, "probe_epochs": 3},
    "converged": {"max_seeds": 10, "probe_images": 2048, "probe_epochs": 3},
}
MAX_EPOCHS = 30  # experiments/memo.yaml
MAX_WORKERS = 8  # processes sharing the GPU (16 CPU cores: a batch thread and a main thread each)
REPORT_RESERVE_S = 35  # the report, the archive and a margin, after the study's deadline


def workers_count(text: str) -> int:
    value = int(text)
    if not 1 <= value <= MAX_WORKERS:
        raise argparse.ArgumentTypeError(f"expected 1 to {MAX_WORKERS} workers, got {value}")
    return value


def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=package_doc.split("\n\n")[0])
    ap.add_argument(
        "--experiment", choices=EXPERIMENTS, default="memo", help="the study (experiments/NAME.yaml), any of them"
    )
    ap.add_argument("--data", type=Path, help="the image-folder zip (scripts/cifar_subset.py)")
    ap.add_argument("--out", type=Path, default=Path(os.environ.get("OUT", "gpu-out")))
    ap.add_argument("--store", type=Path, default=None, help="where the MLflow store is written (/tmp/NAME-gpu)")
    ap.add_argument("--budget", type=float, default=470, help="seconds of wall time for everything from the start")
    ap.add_argument("--started", type=float, default=None, help="the wall-clock start (epoch seconds), if earlier")
    ap.add_argument("--workers", type=workers_count, default=6, help=f"processes sharing the GPU, 1 to {MAX_WORKERS}")
    ap.add_argument("--efficiency", type=float, default=0.5, help="each worker's share of its alone throughput")
    ap.add_argument("--job-overhead", type=float, default=12.0, help="seconds per job besides its epochs")
    ap.add_argument("--val-seconds", type=float, default=0.4, help="memo: validation per epoch, seconds")
    ap.add_argument(
        "--epoch-overhead", type=float, default=0.1, help="converged: seconds per epoch besides training and validation"
    )
    ap.add_argument("--fill", type=float, default=0.85, help="the share of the window the plan fills")
    ap.add_argument("--max-seeds", type=int, default=None, help="memo: 5, converged: 10")
    ap.add_argument("--max-epochs", type=int, default=MAX_EPOCHS, help="memo only (converged runs its own epochs)")
    ap.add_argument("--probe-images", type=int, default=None, help="memo: 8192, converged: 2048")
    ap.add_argument("--probe-epochs", type=int, default=None, help="memo and converged: 3 (the first compiles)")
    ap.add_argument("--resume", type=Path, default=None, help="any but memo: a previous call's archive to add seeds to")
    ap.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    args.data = args.data.resolve() if args.data else None
    if args.resume and (args.experiment == "memo" or not args.resume.is_file()):
        ap.error(f"--resume {args.resume}: expected the archive of a previous call of an experiment other than memo")
    args.store = args.store or Path(f"/tmp/{args.experiment}-gpu")
    for name, value in DEFAULTS.get(args.experiment, DEFAULTS["converged"]).items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    return args


@dataclass
class Call:
    """One call: its options, its start, its workers' logs, and the summary that becomes gpu.json."""

    args: argparse.Namespace
    started: float
    tiny: bool
    logs: Path
    summary: dict

    @property
    def deadline_all(self) -> float:
        return self.started + self.args.budget

    @property
    def name(self) -> str:
        return f"{self.args.experiment}-gpu"


@dataclass
class Study:
    """The study as the probe and the plan see it: its grid (and scarcity ladder), the sizes every
    job overrides, and the probe job's config."""

    grid: dict
    scarce: dict | None
    sizes: dict
    extra: list[str]
    scarce_train: int | None
    probe_job: dict
    cfg: object  # prepbench.config.compose's DictConfig

    @property
    def probe_plan(self) -> dict:
        return {"sizes": self.sizes, "extra": self.extra}

    @property
    def experiment(self) -> str:
        return self.cfg.tracking.experiment


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.worker:
        return worker(args)
    call = start(args)
    try:
        run(call)
    except BaseException as err:  # noqa: BLE001 (whatever happened, bring back what exists)
        call.summary["error"] = f"{type(err).__name__}: {err}"
        log(f"error: {call.summary['error']}")
    finally:
        bring_back(call)
    return 1 if "error" in call.summary else 0


def start(args) -> Call:
    """The store made afresh (or unpacked from --resume's archive), its logs folder, the summary's head."""
    started = args.started or time.time()
    tiny = os.environ.get("GPU_TINY") == "1"
    out, store, name = args.out, args.store, f"{args.experiment}-gpu"
    out.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(store, ignore_errors=True)
    earlier_calls = resume(args.resume, store, name) if args.resume else []
    logs = store / "logs"
    if logs.exists():  # a resumed store's worker logs: kept beside this call's
        logs.rename(store / f"logs-{len(earlier_calls)}")
    logs.mkdir(parents=True)
    summary: dict = {
        "started": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(started)),
        "budget_seconds": args.budget,
        "experiment": args.experiment,
        "tiny": tiny,
        "data": str(args.data),
        # the commit the code is (git, or the stamp the copy was checked against): a dirty tree is refused
        "code_commit": _commit(tiny or os.environ.get("GPU_ALLOW_DIRTY") == "1"),
        **({"resumed_from": str(args.resume), "earlier_calls": earlier_calls} if args.resume else {}),
    }
    return Call(args, started, tiny, logs, summary)


def _commit(allow_dirty: bool) -> str:
    try:
        return commit_for_call(allow_dirty)
    except PrepbenchError as err:
        raise SystemExit(f"error: {err}") from None


def run(call: Call) -> None:
    """Steps 1 to 5 of the package's docstring, then the report."""
    summary = call.summary
    summary["machine"] = machine()
    log(f"machine: {summary['machine']}")
    if not call.tiny and not any(d.startswith("gpu") for d in summary["machine"]["devices"]):
        raise SystemExit("error: JAX sees no GPU; expected one (GPU_TINY=1 for a CPU dry run)")
    study = design(call.args, call.tiny)
    summary["tracking_experiment"] = study.experiment
    splits = load_and_probe(call, study)
    deadline = call.deadline_all - REPORT_RESERVE_S
    plan, before = planned(call, study, window=deadline - time.time())
    run_workers(call, study, splits, plan, before, deadline)
    report(call, study.experiment)


def design(args, tiny: bool) -> Study:
    """The experiment's grid (and its scarcity ladder), the sizes every job overrides, and the
    config of the job the probe measures (variant none, the shallowest net, seed 0)."""
    grid = study_grid(args.experiment)
    scarce = study_grid(SCARCE[args.experiment]) if args.experiment in SCARCE else None
    sizes, extra, scarce_train = job_sizes(args.experiment, tiny, scarce)
    if tiny:
        grid["cells"] = [tiny_cell(cell, sizes) for cell in grid["cells"]]
    probe_job = {"experiment": args.experiment, "prep": "none", "net": grid["nets"][-1], "seed": 0}
    cfg = compose(overrides_for(args, {"sizes": sizes, "extra": extra}, probe_job))
    return Study(grid, scarce, sizes, extra, scarce_train, probe_job, cfg)


def load_and_probe(call: Call, study: Study):
    """The data set loaded once (the workers then read the decoded cache), the store and its
    experiment made before the workers start, and the throughput measured; returns the splits."""
    from prepbench.data.splits import load_splits
    from prepbench.track import tracking
    from prepbench.train import backend

    args, summary, cfg = call.args, call.summary, study.cfg
    t = time.time()
    splits = load_splits(cfg.data)
    summary["data_load_seconds"] = round(time.time() - t, 1)
    summary["images"] = {"train": len(splits.y_train), "val": len(splits.y_val), "test": len(splits.y_test)}
    log(f"data: {summary['images']} in {summary['data_load_seconds']} s")
    client = tracking.client_for(cfg.tracking)  # the store and the experiment, once, before the workers
    tracking.experiment_id(client, cfg.tracking)
    backend.use("jax", cache_dir=cfg.cache_dir)
    t = time.time()
    images = min(args.probe_images, len(splits.y_train))
    # each net as the grid's cells shape it (net.depth=3 is another network to measure)
    nets = {
        probe_key(net, cell): compose(
            overrides_for(args, study.probe_plan, {**study.probe_job, "net": net, "overrides": cell})
        ).net
        for net in study.grid["nets"]
        for cell in study.grid["cells"]
    }
    summary["throughput"] = probe(splits, cfg, nets, images, epochs=2 if call.tiny else args.probe_epochs)
    summary["probe_seconds"] = round(time.time() - t, 1)
    return splits


def planned(call: Call, study: Study, window: float) -> tuple[dict, set]:
    """The plan for `window` seconds (after a resumed store's whole seeds), and the jobs the store
    already held FINISHED."""
    args, summary = call.args, call.summary
    counts = {**summary["images"], "epochs": study.cfg.trainer.epochs, "scarce_train": study.scarce_train}
    done, before = {"grid": 0, "scarce": 0}, set()
    if args.resume:
        earlier_jobs = outcome(args.store, study.experiment)["jobs"]
        before = {job_key(j) for j in earlier_jobs if j["status"] == "FINISHED"}
        done = finished_seeds(earlier_jobs, study.grid, study.scarce, counts, args.max_seeds)
        log(f"resumed {args.resume}: whole seeds finished {done}")
    plan = plan_for(args, call.tiny, summary["throughput"], window, counts, study.grid, study.scarce, done)
    if args.experiment == "memo":
        study.sizes["epochs"] = plan["epochs"]
    grid = study.grid
    plan.update(
        experiment=args.experiment,
        preps=grid["preps"],
        nets=grid["nets"],
        cells=grid["cells"],
        sizes=study.sizes,
        extra=study.extra,
    )
    summary["plan"] = plan
    log(f"plan: {plan}")
    return plan, before


def run_workers(call: Call, study: Study, splits, plan: dict, before: set, deadline: float) -> None:
    """The workers until they are done or the deadline, then what the store holds and this call's
    training rate."""
    summary = call.summary
    t = time.time()
    codes = wait(launch(call.args, plan, deadline, call.logs), deadline)
    summary["study_seconds"] = round(time.time() - t, 1)
    summary["worker_exit_codes"] = codes
    summary.update(outcome(call.args.store, study.experiment))
    finished = [j for j in summary["jobs"] if j["status"] == "FINISHED"]
    new = [j for j in finished if job_key(j) not in before]  # this call's (a resumed store holds others)
    # A job's training images: its data.train_size, or (null) the whole training split.
    train_images = [int(j["train_size"]) if str(j["train_size"]).isdigit() else len(splits.y_train) for j in new]
    trained = sum(int(j["epochs"]) * n for j, n in zip(new, train_images))
    summary["aggregate_training_images_per_second"] = round(trained / max(summary["study_seconds"], 1e-9))
    held = f" ({len(finished)} in the store)" if before else ""
    log(f"{len(new)} jobs FINISHED of {len(job_list(plan))} planned in {summary['study_seconds']} s{held}")


def report(call: Call, experiment: str) -> None:
    """`python -m prepbench.report` on the store, within what is left of the budget."""
    store = call.args.store
    made = subprocess.run(
        [
            sys.executable,
            "-m",
            "prepbench.report",
            "--experiment",
            experiment,
            "--tracking-uri",
            f"sqlite:///{store}/mlflow.db",
            "--out",
            str(store / "report"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=max(10, call.deadline_all - time.time() - 5),
    )
    (call.logs / "report.log").write_text(made.stdout + made.stderr)
    call.summary["report_exit_code"] = made.returncode
    if (store / "report" / "report.md").exists():
        shutil.copy(store / "report" / "report.md", call.args.out / "report.md")


def bring_back(call: Call) -> None:
    """gpu.json in OUT and in the store, and the store packed into OUT, whatever happened."""
    summary, out, store = call.summary, call.args.out, call.args.store
    summary["wall_seconds"] = round(time.time() - call.started, 1)
    (out / "gpu.json").write_text(json.dumps(summary, indent=1, default=str))
    shutil.copy(out / "gpu.json", store / "gpu.json")
    tars = archive(store, out, call.name)
    sizes_mb = ", ".join(f"{t.name} ({t.stat().st_size / 1e6:.1f} MB)" for t in tars)
    log(f"wrote {out}/: {sizes_mb}, gpu.json; {summary['wall_seconds']} s in all")


if __name__ == "__main__":
    sys.exit(main())
