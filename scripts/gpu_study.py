"""The `memo` study on one GPU within a wall-clock budget, on JAX (no TensorFlow on that machine).

    OUT=DIR python scripts/gpu_study.py --data SUBSET.zip --budget 470     # via scripts/gpu_study.sh

1. Looks at the machine: JAX's devices, nvidia-smi, library versions.
2. Loads the data once (data=folder), so the workers read the decoded cache.
3. Measures training throughput (images/s) of the shallow and the deep net in one process, on
   real images, after compilation, in the precision `auto` resolves to, and the device-side
   augmentation's rate.
4. Sizes the study to the time left: every variant x both nets of experiments/memo.yaml, seeds
   0..S-1, E epochs, with S and E the largest that the measured throughput predicts will finish
   (E at most the memo's 30), run by K worker processes at once on the one GPU (small networks
   leave a GPU mostly idle from one process). Jobs are ordered seed by seed, deep before shallow,
   so a study cut short holds complete seeds first.
5. Each worker runs its jobs through prepbench.job.run_job (the same code as `python -m prepbench`),
   and starts a job only if its own measured job time says it ends before the deadline; at the
   deadline any job still running is stopped (KILLED in MLflow) and the report is made from the
   FINISHED ones.
6. Writes to OUT: memo-gpu.tar.gz (the MLflow store, its artifacts, the report and the logs),
   report.md, gpu.json (machine, throughput, plan, wall times), study.log.

GPU_TINY=1 shrinks everything for a CPU dry run (a few hundred images, 2 epochs, 1 seed).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PREPS = ("none", "raw", "minmax", "samplewise", "std", "zca", "augment", "batchnorm")
NETS = ("deep", "shallow")
MAX_EPOCHS = 30  # experiments/memo.yaml
REPORT_RESERVE_S = 35  # the report, the archive and a margin, after the study's deadline


def log(message: str) -> None:
    print(f"[gpu_study {time.strftime('%H:%M:%S')}] {message}", flush=True)


def overrides_for(args, plan: dict, prep: str, net: str, seed: int) -> list[str]:
    out = [
        "experiment=memo",
        f"prep={prep}",
        f"net={net}",
        f"seed={seed}",
        "trainer.backend=jax",
        "data=folder",
        f"data.path={args.data}",
        f"data.val_size={plan['val_size']}",
        f"trainer.epochs={plan['epochs']}",
        f"tracking.uri=sqlite:///{args.store}/mlflow.db",
        f"tracking.artifact_location={args.store}/mlartifacts",
    ]
    if plan.get("train_size"):
        out.append(f"data.train_size={plan['train_size']}")
    if plan.get("test_size"):
        out.append(f"data.test_size={plan['test_size']}")
    return out + plan.get("extra", [])


def compose(overrides: list[str]):
    """The job's config (prepbench.config.compose); run_job checks it."""
    from prepbench.config import compose as compose_config

    return compose_config(overrides, checked=False)


# ---- the machine --------------------------------------------------------------------------------


def machine() -> dict:
    import jax

    from prepbench.provenance import versions

    info = {"devices": [f"{d.platform}: {d.device_kind}" for d in jax.devices()], "versions": versions()}
    try:
        info["nvidia_smi"] = subprocess.run(
            ["nvidia-smi", "--query-gpu=name,memory.total,compute_cap,driver_version", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=20,
        ).stdout.strip()
    except OSError:
        info["nvidia_smi"] = None
    info["cpus"] = os.cpu_count()
    return info


# ---- throughput ------------------------------------------------------------------------------------


def probe(splits, cfg, images: int, epochs: int = 3) -> dict:
    """Training images/s of each net after compilation (epochs 2.. of a short fit, batch 128, the
    resolved precision), and the device-side augmentation's images/s, in this one process."""
    import dataclasses

    import keras
    import numpy as np

    from prepbench import precision, train
    from prepbench.nets import build_model
    from prepbench.preprocess import build

    precision_used = precision.resolve(cfg.trainer.precision, backend="jax")
    small = dataclasses.replace(splits, x_train=splits.x_train[:images], y_train=splits.y_train[:images])
    out = {"precision": precision_used, "batch_size": cfg.trainer.batch_size, "images_per_epoch": len(small.y_train)}

    class Clock(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.seconds = []

        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            keras.ops.convert_to_numpy(self.model.trainable_variables[-1])
            self.seconds.append(time.perf_counter() - self.start)

    for net_name in NETS:
        net = compose([f"net={net_name}"]).net
        precision.set_keras_policy(precision_used)
        inputs = train.make_inputs(
            small,
            build("none"),
            batch_size=cfg.trainer.batch_size,
            epochs=epochs,
            seed=0,
            augmentation=cfg.augmentation,
        )
        model = build_model(
            depth=net.depth,
            width=net.width,
            dense=net.dense,
            num_classes=inputs.num_classes,
            input_shape=inputs.input_shape,
            batchnorm=False,
            seed=0,
        )
        train.compile_model(model, lr=cfg.trainer.lr)
        clock = Clock()
        start = time.perf_counter()
        model.fit(
            inputs.train,
            epochs=epochs,
            steps_per_epoch=inputs.steps_per_epoch,
            callbacks=[clock],
            shuffle=False,
            verbose=0,
        )
        steady = float(np.median(clock.seconds[1:]))
        out[net_name] = {
            "images_per_second": round(len(small.y_train) / steady),
            "first_epoch_seconds": round(clock.seconds[0], 2),  # compilation included
            "steady_epoch_seconds": round(steady, 3),
            "fit_seconds": round(time.perf_counter() - start, 2),
        }
        log(f"probe {net_name}: {out[net_name]}")
    # The augmentation alone: warp + normalization on the device, batches prepared by the thread.
    p = build("augment")
    inputs = train.make_inputs(
        small, p, batch_size=cfg.trainer.batch_size, epochs=2, seed=0, augmentation=cfg.augmentation
    )
    batches = iter(inputs.train)
    for _ in range(inputs.steps_per_epoch):  # the first epoch compiles (full and short batch)
        x, _ = next(batches)
    keras.ops.convert_to_numpy(x[:1])
    start = time.perf_counter()
    for _ in range(inputs.steps_per_epoch):
        x, _ = next(batches)
    keras.ops.convert_to_numpy(x[:1])
    out["augmentation_images_per_second"] = round(len(small.y_train) / (time.perf_counter() - start))
    log(f"probe augmentation: {out['augmentation_images_per_second']} images/s")
    return out


# ---- the plan -------------------------------------------------------------------------------------


def make_plan(args, measured: dict, window: float, num_train: int) -> dict:
    """Seeds S and epochs E that the measured throughput predicts will fit `window` seconds with K
    workers. Several processes share the GPU at an efficiency `args.efficiency` each (measured in the
    study itself afterwards); each job also pays `args.job_overhead` seconds (start, compilation,
    validation, test, logging)."""
    k = args.workers
    per_image = {net: 1.0 / (measured[net]["images_per_second"] * args.efficiency) for net in NETS}
    per_epoch = {net: num_train * per_image[net] + args.val_seconds for net in NETS}
    choice = None
    # (seeds, the fewest epochs worth running with them): the memo's 5 seeds only near its 30 epochs.
    for seeds, least in ((5, 25), (4, 20), (3, 8), (2, 5), (1, 1)):
        if seeds > args.max_seeds:
            continue
        jobs_per_net = seeds * len(PREPS)
        fixed = jobs_per_net * len(NETS) * args.job_overhead
        epoch_cost = jobs_per_net * sum(per_epoch.values())
        epochs = min(int((window * k * args.fill - fixed) // epoch_cost), args.max_epochs)
        if epochs >= least:
            choice = (seeds, epochs)
            break
    if choice is None:
        choice = (1, 1)
    seeds, epochs = choice
    est = {net: round(args.job_overhead + epochs * per_epoch[net], 1) for net in NETS}
    return {
        "seeds": seeds,
        "epochs": epochs,
        "workers": k,
        "window_seconds": round(window),
        "job_seconds_estimate": est,
        "efficiency_assumed": args.efficiency,
        "job_overhead_assumed": args.job_overhead,
    }


def job_list(plan: dict) -> list[tuple[int, str, str]]:
    """Seed by seed (a study cut short keeps whole seeds), deep first within a seed (longer jobs first)."""
    return [(seed, net, prep) for seed in range(plan["seeds"]) for net in NETS for prep in PREPS]


# ---- workers ------------------------------------------------------------------------------------


def worker(args) -> int:
    """Run this worker's jobs in order; start one only if it is predicted to end before the deadline."""
    from prepbench.cache import JobCache
    from prepbench.job import run_job

    cache = JobCache()  # this worker's jobs share the decoded data set, as a sweep's jobs do

    def stop(signum, frame):  # the deadline: the running job ends KILLED, as under `python -m prepbench`
        raise KeyboardInterrupt(f"signal {signal.Signals(signum).name}")

    signal.signal(signal.SIGTERM, stop)
    spec = json.loads(Path(args.worker).read_text())
    estimate = dict(spec["estimate"])
    done = 0
    for k, (seed, net, prep) in enumerate(spec["jobs"]):
        left = spec["deadline"] - time.time()
        label = f"worker {spec['index']} job {k + 1}/{len(spec['jobs'])}: "
        if left < estimate[net]:
            log(
                f"{label}prep={prep} net={net} seed={seed}: not started ({left:.0f} s left, ~{estimate[net]:.0f} s needed)"
            )
            continue
        overrides = overrides_for(args, spec["plan"], prep, net, seed)
        start = time.time()
        try:
            status = run_job(compose(overrides), overrides, label, cache)
        except KeyboardInterrupt:
            log(f"{label}stopped at the deadline")
            return 130
        took = time.time() - start
        if status == "finished":
            done += 1
            estimate[net] = took * 1.05  # this worker's own pace from now on
    return 0


def launch(args, plan: dict, deadline: float, logs: Path) -> list[subprocess.Popen]:
    jobs = job_list(plan)
    # Longest-first onto the least-loaded worker, keeping the seed order inside each worker.
    loads, shares = [0.0] * plan["workers"], [[] for _ in range(plan["workers"])]
    for job in jobs:
        w = loads.index(min(loads))
        shares[w].append(job)
        loads[w] += plan["job_seconds_estimate"][job[1]]
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
            __file__,
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


# ---- the outcome ----------------------------------------------------------------------------------


def outcome(store: Path) -> dict:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{store}/mlflow.db")
    exp = client.get_experiment_by_name("memo")
    runs = [] if exp is None else client.search_runs([exp.experiment_id], max_results=5000)
    jobs = []
    for r in runs:
        if r.data.tags.get("prepbench.role") != "job":
            continue
        m, p = r.data.metrics, r.data.params
        jobs.append(
            {
                "prep": p.get("prep"),
                "net": p.get("net"),
                "seed": int(p.get("seed", -1)),
                "status": r.info.status,
                "test_accuracy": m.get("test_accuracy"),
                "fit_seconds": m.get("fit_seconds"),
                "train_images_per_second": m.get("train_images_per_second"),
                "precision": p.get("trainer.precision"),
                "device": p.get("device"),
                "epochs": p.get("trainer.epochs"),
            }
        )
    return {"jobs": sorted(jobs, key=lambda j: (j["seed"], j["net"], j["prep"]))}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, help="the image-folder zip (scripts/cifar_subset.py)")
    ap.add_argument("--out", type=Path, default=Path(os.environ.get("OUT", "gpu-out")))
    ap.add_argument("--store", type=Path, default=Path("/tmp/memo-gpu"), help="where the MLflow store is written")
    ap.add_argument("--budget", type=float, default=470, help="seconds of wall time for everything from the start")
    ap.add_argument("--started", type=float, default=None, help="the wall-clock start (epoch seconds), if earlier")
    ap.add_argument("--workers", type=int, default=6)
    ap.add_argument("--efficiency", type=float, default=0.5, help="each worker's share of its alone throughput")
    ap.add_argument("--job-overhead", type=float, default=12.0)
    ap.add_argument("--val-seconds", type=float, default=0.4, help="validation per epoch, seconds")
    ap.add_argument("--fill", type=float, default=0.85, help="the share of the window the plan fills")
    ap.add_argument("--max-seeds", type=int, default=5)
    ap.add_argument("--max-epochs", type=int, default=MAX_EPOCHS)
    ap.add_argument("--probe-images", type=int, default=8192)
    ap.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    args.data = args.data.resolve() if args.data else None
    if args.worker:
        return worker(args)

    started = args.started or time.time()
    deadline_all = started + args.budget
    tiny = os.environ.get("GPU_TINY") == "1"
    out, store = args.out, args.store
    out.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(store, ignore_errors=True)
    logs = store / "logs"
    logs.mkdir(parents=True)
    summary: dict = {
        "started": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(started)),
        "budget_seconds": args.budget,
        "tiny": tiny,
        "data": str(args.data),
        "code_commit": os.environ.get("GPU_CODE_COMMIT", ""),
    }
    try:
        summary["machine"] = machine()
        log(f"machine: {summary['machine']}")
        if not tiny and not any(d.startswith("gpu") for d in summary["machine"]["devices"]):
            raise SystemExit("error: JAX sees no GPU; expected one (GPU_TINY=1 for a CPU dry run)")

        base = {"val_size": 5000}
        extra: list[str] = []
        if tiny:
            base = {"val_size": 100, "train_size": 400, "test_size": 200}
            extra = ["net.width=4", "net.dense=8"]
        cfg = compose(overrides_for(args, {**base, "epochs": 1, "extra": extra}, "none", "shallow", 0))
        from prepbench import tracking
        from prepbench.data import load_splits

        t = time.time()
        splits = load_splits(cfg.data)
        summary["data_load_seconds"] = round(time.time() - t, 1)
        summary["images"] = {"train": len(splits.y_train), "val": len(splits.y_val), "test": len(splits.y_test)}
        log(f"data: {summary['images']} in {summary['data_load_seconds']} s")
        client = tracking.client_for(cfg.tracking)  # the store and the experiment, once, before the workers
        tracking.experiment_id(client, cfg.tracking)

        from prepbench import backend

        backend.use("jax", cache_dir=cfg.cache_dir)
        t = time.time()
        summary["throughput"] = probe(splits, cfg, min(args.probe_images, len(splits.y_train)), epochs=2 if tiny else 3)
        summary["probe_seconds"] = round(time.time() - t, 1)

        deadline = deadline_all - REPORT_RESERVE_S
        plan = make_plan(args, summary["throughput"], deadline - time.time(), len(splits.y_train))
        if tiny:
            plan.update(seeds=1, epochs=min(plan["epochs"], 2))
        plan.update(base, extra=extra)
        summary["plan"] = plan
        log(f"plan: {plan}")
        t = time.time()
        codes = wait(launch(args, plan, deadline, logs), deadline)
        summary["study_seconds"] = round(time.time() - t, 1)
        summary["worker_exit_codes"] = codes
        summary.update(outcome(store))
        done = [j for j in summary["jobs"] if j["status"] == "FINISHED"]
        trained = sum(plan["epochs"] * summary["images"]["train"] for _ in done)
        summary["aggregate_training_images_per_second"] = round(trained / max(summary["study_seconds"], 1e-9))
        log(f"{len(done)} jobs FINISHED of {len(job_list(plan))} planned in {summary['study_seconds']} s")
        report = subprocess.run(
            [
                sys.executable,
                "-m",
                "prepbench.report",
                "--experiment",
                "memo",
                "--tracking-uri",
                f"sqlite:///{store}/mlflow.db",
                "--out",
                str(store / "report"),
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=max(10, deadline_all - time.time() - 5),
        )
        (logs / "report.log").write_text(report.stdout + report.stderr)
        summary["report_exit_code"] = report.returncode
        if (store / "report" / "report.md").exists():
            shutil.copy(store / "report" / "report.md", out / "report.md")
    except BaseException as err:  # noqa: BLE001 (whatever happened, bring back what exists)
        summary["error"] = f"{type(err).__name__}: {err}"
        log(f"error: {summary['error']}")
    finally:
        summary["wall_seconds"] = round(time.time() - started, 1)
        (out / "gpu.json").write_text(json.dumps(summary, indent=1, default=str))
        shutil.copy(out / "gpu.json", store / "gpu.json")
        with tarfile.open(out / "memo-gpu.tar.gz", "w:gz") as tar:
            tar.add(store, arcname="memo-gpu")
        log(
            f"wrote {out}/memo-gpu.tar.gz ({(out / 'memo-gpu.tar.gz').stat().st_size / 1e6:.1f} MB), gpu.json; "
            f"{summary['wall_seconds']} s in all"
        )
    return 1 if "error" in summary else 0


if __name__ == "__main__":
    sys.exit(main())
