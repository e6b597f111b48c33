"""A study (`memo` or `converged`) on one GPU within a wall-clock budget, on JAX (no TensorFlow on
that machine).

    OUT=DIR python scripts/gpu_study.py --experiment converged --data SUBSET.zip --budget 540   # via gpu_study.sh

1. Looks at the machine: JAX's devices, nvidia-smi, library versions.
2. Loads the data once (data=folder), so the workers read the decoded cache.
3. Measures training throughput (images/s) of each net of the study in one process, on real
   images, after compilation, in the precision `auto` resolves to, with the study's own learning
   rate schedule and batch shapes (so its compiled programs land in JAX's persistent cache for the
   workers); also evaluation images/s (validation) and the device-side augmentation's rate.
4. Sizes the study to the time left, from the experiment's own sweep (`hydra.sweeper.params` of
   experiments/<experiment>.yaml, composed as prepbench.study.seeds reads it), run by K worker processes
   at once on the one GPU (small networks leave a GPU mostly idle from one process):
   * `memo`: every variant x both nets, seeds 0..S-1, E epochs, with S and E the largest that the
     measured throughput predicts will finish (E at most the memo's 30, on the whole subset).
   * `converged`: the design is fixed (its 30 epochs, cosine schedule, 10,000 train / 5,000 val
     images, the full test split, all 9 variants x both nets): only the number of whole seeds S is
     sized (at most 10; seeds past the sweep's list continue its numbering), from each job's real
     cost: epochs x (train images + validation images) + test images + a per-job overhead. If room
     is left, the scarcity ladder of experiments/converged-scarce.yaml (same experiment and store)
     follows for as many of those seeds as fit.
   Jobs are ordered seed by seed, deeper net first, the scarcity ladder last, so a study cut short
   holds complete seeds first.
5. Each worker runs its jobs through prepbench.study.job.run_job (the same code as `python -m prepbench`),
   and starts a job only if its own measured job time says it ends before the deadline; at the
   deadline any job still running is stopped (KILLED in MLflow) and the report is made from the
   FINISHED ones.
6. Writes to OUT: <experiment>-gpu.tar.gz (the MLflow store, its artifacts, the report and the
   logs; if that is over 15 MiB, the artifacts go to <experiment>-gpu-artifacts-1.tar.gz, -2, ...),
   report.md, gpu.json (machine, throughput, plan, wall times), study.log.

7. --resume ARCHIVE (converged): the store starts as a previous call's <experiment>-gpu.tar.gz
   instead of empty; its whole seeds are counted as done and the plan sizes only the seeds after
   them (still at most 10 in all), so a second call adds seeds to the same store. The earlier
   calls' gpu.json stay in the new one under `earlier_calls`.

GPU_TINY=1 shrinks everything for a CPU dry run (a few hundred images, 2 epochs, 1 seed, width 4;
for `converged` also one seed of the scarcity ladder at 200 images).
"""

from __future__ import annotations

import argparse
import json
import math
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

EXPERIMENTS = ("memo", "converged")
SCARCE = {"converged": "converged-scarce"}  # run after the main grid's seeds if the plan leaves room
# Per experiment: the most seeds, the probe's training images and epochs. The probe's time is
# mostly compilation (the deep net's first epoch: ~19 s on an H200), which the workers then find in
# JAX's cache; its later epochs cost ~0.05 s per 2,048 images there, so 2 of them are measured.
DEFAULTS = {
    "memo": {"max_seeds": 5, "probe_images": 8192, "probe_epochs": 3},
    "converged": {"max_seeds": 10, "probe_images": 2048, "probe_epochs": 3},
}
MAX_EPOCHS = 30  # experiments/memo.yaml
MAX_WORKERS = 8  # processes sharing the GPU (16 CPU cores: a batch thread and a main thread each)
REPORT_RESERVE_S = 35  # the report, the archive and a margin, after the study's deadline
TAR_LIMIT = 15 * 2**20  # a file that comes back from the device machine: at most 16 MiB
# A plan's size settings and the overrides that set them (only those in plan["sizes"] are passed).
SIZE_OVERRIDES = {
    "train_size": "data.train_size",
    "val_size": "data.val_size",
    "test_size": "data.test_size",
    "epochs": "trainer.epochs",
}


def log(message: str) -> None:
    print(f"[gpu_study {time.strftime('%H:%M:%S')}] {message}", flush=True)


def overrides_for(args, plan: dict, job: dict) -> list[str]:
    """A job's overrides: its experiment and cell, the GPU machine's data and store, the plan's
    sizes (memo: validation and epochs; converged: none but in a dry run), then the job's own."""
    sizes = plan.get("sizes", {})
    return [
        f"experiment={job['experiment']}",
        f"prep={job['prep']}",
        f"net={job['net']}",
        f"seed={job['seed']}",
        "trainer.backend=jax",
        "data=folder",
        f"data.path={args.data}",
        *(f"{key}={sizes[name]}" for name, key in SIZE_OVERRIDES.items() if sizes.get(name)),
        f"tracking.uri=sqlite:///{args.store}/mlflow.db",
        f"tracking.artifact_location={args.store}/mlartifacts",
        *plan.get("extra", []),
        *job.get("overrides", []),
    ]


def compose(overrides: list[str]):
    """The job's config (prepbench.config.compose); run_job checks it."""
    from prepbench.config import compose as compose_config

    return compose_config(overrides, checked=False)


def study_grid(experiment: str) -> dict:
    """The experiment's sweep as its config declares it (hydra.sweeper.params, composed as
    prepbench.study.seeds reads a study): its variants, nets (deepest first: longer jobs first) and seeds,
    and its composed settings."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    from prepbench.study.seeds import compose_study

    settings, params, seeds = compose_study([f"experiment={experiment}"])

    def values(key: str) -> list[str]:
        (override,) = OverridesParser.create().parse_overrides([f"{key}={params[key]}"])
        return [str(v) for v in override.sweep_string_iterator()] if override.is_sweep_override() else [params[key]]

    nets = sorted(values("net"), key=lambda name: -compose([f"net={name}"]).net.depth)
    return {"experiment": experiment, "preps": values("prep"), "nets": nets, "seeds": seeds, "settings": settings}


def seed_list(sweep_seeds: list[int], count: int) -> list[int]:
    """The first `count` seeds: the sweep's own, then the integers after its largest."""
    seeds = list(sweep_seeds)[:count]
    nxt = max(sweep_seeds, default=-1) + 1
    while len(seeds) < count:
        seeds.append(nxt)
        nxt += 1
    return seeds


# ---- the machine --------------------------------------------------------------------------------


def schedule_settings(lr) -> float | dict:
    """A learning rate for gpu.json: the number, or a Keras schedule's class and settings."""
    if isinstance(lr, (int, float)):
        return lr
    return {"schedule": type(lr).__name__, **lr.get_config()}


def machine() -> dict:
    import jax

    from prepbench.track.provenance import versions

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


def probe(splits, cfg, nets: dict, images: int, epochs: int) -> dict:
    """Training images/s of each net after compilation (epochs 2.. of a short fit on `images`
    training images), evaluation images/s (its per-epoch validation, on the whole validation split),
    and the device-side augmentation's images/s, in this one process. The fit is compiled as a job's
    is (batch size, learning-rate schedule of the whole run, precision, the last short batch of
    training, validation and test), so the workers find these programs in JAX's persistent cache.
    `nets`: each net's config (cfg.net) by name, as the jobs compose it."""
    import dataclasses

    import keras
    import numpy as np

    from prepbench.train import fit, precision
    from prepbench.train.nets import build_model
    from prepbench.variants import build

    batch = cfg.trainer.batch_size
    precision_used = precision.resolve(cfg.trainer.precision, backend="jax")
    n = len(splits.y_train)
    job_steps = math.ceil(n / batch)  # a job's steps per epoch: its learning-rate schedule's unit
    images = min(n, max(1, images // batch) * batch + n % batch)  # ends with a job's short batch
    small = dataclasses.replace(splits, x_train=splits.x_train[:images], y_train=splits.y_train[:images])
    out = {
        "precision": precision_used,
        "batch_size": batch,
        "images_per_epoch": images,
        "validation_images": len(splits.y_val),
        "learning_rate": schedule_settings(fit.learning_rate(cfg.trainer, job_steps)),
    }

    def sync(model):
        keras.ops.convert_to_numpy(model.trainable_variables[-1])

    class Clock(keras.callbacks.Callback):
        """Each epoch's training seconds (to the validation's start) and validation seconds."""

        def __init__(self):
            super().__init__()
            self.train, self.val = [], []

        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()
            self.val_start = None

        def on_test_begin(self, logs=None):
            if self.val_start is None:
                sync(self.model)
                self.val_start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            sync(self.model)
            end = time.perf_counter()
            self.train.append((self.val_start or end) - self.start)
            self.val.append(end - self.val_start if self.val_start else float("nan"))

    for net_name, net in nets.items():
        precision.set_keras_policy(precision_used)
        inputs = fit.make_inputs(
            small,
            build("none"),
            batch_size=batch,
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
        fit.compile_model(model, lr=fit.learning_rate(cfg.trainer, job_steps))
        clock = Clock()
        start = time.perf_counter()
        model.fit(
            inputs.train,
            epochs=epochs,
            steps_per_epoch=inputs.steps_per_epoch,
            validation_data=inputs.val,
            callbacks=[clock],
            shuffle=False,
            verbose=0,
        )
        fit_seconds = time.perf_counter() - start
        model.evaluate(inputs.test, verbose=0)  # the test's programs too (its last short batch)
        steady = float(np.median(clock.train[1:]))
        val = float(np.median(clock.val[1:]))
        out[net_name] = {
            "images_per_second": round(images / steady),
            "eval_images_per_second": round(len(splits.y_val) / val) if val > 0 else None,
            "first_epoch_seconds": round(clock.train[0] + clock.val[0], 2),  # compilation included
            "steady_epoch_seconds": round(steady, 3),
            "steady_validation_seconds": round(val, 3),
            "fit_seconds": round(fit_seconds, 2),
        }
        log(f"probe {net_name}: {out[net_name]}")
    # The augmentation alone: warp + normalization on the device, batches prepared by the thread.
    p = build("augment")
    inputs = fit.make_inputs(small, p, batch_size=batch, epochs=2, seed=0, augmentation=cfg.augmentation)
    batches = iter(inputs.train)
    for _ in range(inputs.steps_per_epoch):  # the first epoch compiles (full and short batch)
        x, _ = next(batches)
    keras.ops.convert_to_numpy(x[:1])
    start = time.perf_counter()
    for _ in range(inputs.steps_per_epoch):
        x, _ = next(batches)
    keras.ops.convert_to_numpy(x[:1])
    out["augmentation_images_per_second"] = round(images / (time.perf_counter() - start))
    log(f"probe augmentation: {out['augmentation_images_per_second']} images/s")
    return out


# ---- the plan -------------------------------------------------------------------------------------


def make_plan(args, measured: dict, window: float, num_train: int, grid: dict) -> dict:
    """`memo`: seeds S and epochs E that the measured throughput predicts will fit `window` seconds
    with K workers. Several processes share the GPU at an efficiency `args.efficiency` each
    (measured in the study itself afterwards); each job also pays `args.job_overhead` seconds
    (start, compilation, validation, test, logging)."""
    k, nets = args.workers, grid["nets"]
    per_image = {net: 1.0 / (measured[net]["images_per_second"] * args.efficiency) for net in nets}
    per_epoch = {net: num_train * per_image[net] + args.val_seconds for net in nets}
    choice = None
    # (seeds, the fewest epochs worth running with them): the memo's 5 seeds only near its 30 epochs.
    for seeds, least in ((5, 25), (4, 20), (3, 8), (2, 5), (1, 1)):
        if seeds > args.max_seeds:
            continue
        jobs_per_net = seeds * len(grid["preps"])
        fixed = jobs_per_net * len(nets) * args.job_overhead
        epoch_cost = jobs_per_net * sum(per_epoch.values())
        epochs = min(int((window * k * args.fill - fixed) // epoch_cost), args.max_epochs)
        if epochs >= least:
            choice = (seeds, epochs)
            break
    if choice is None:
        choice = (1, 1)
    seeds, epochs = choice
    est = {net: round(args.job_overhead + epochs * per_epoch[net], 1) for net in nets}
    return {
        "seeds": seeds,
        "epochs": epochs,
        "workers": k,
        "window_seconds": round(window),
        "job_seconds_estimate": est,
        "train_images": {net: num_train for net in nets},
        "efficiency_assumed": args.efficiency,
        "job_overhead_assumed": args.job_overhead,
    }


def job_seconds(args, measured: dict, net: str, *, train: int, val: int, test: int, epochs: int) -> float:
    """One job's predicted seconds on a worker sharing the GPU (at `args.efficiency` of the measured
    images/s alone): its overhead, then each epoch's training, validation and fixed cost, then test."""
    fit = measured[net]["images_per_second"] * args.efficiency
    evaluate = (measured[net].get("eval_images_per_second") or measured[net]["images_per_second"]) * args.efficiency
    epoch = train / fit + val / evaluate + args.epoch_overhead
    return args.job_overhead + epochs * epoch + test / evaluate


def seeds_plan(
    args, measured: dict, window: float, counts: dict, grid: dict, scarce: dict | None, done: dict | None = None
) -> dict:
    """`converged`: the number of whole seeds S (every variant x every net, at the experiment's own
    sizes and epochs) that K workers are predicted to finish in `window` seconds, at least 1 and at
    most `args.max_seeds`; then, in what room is left, the scarcity ladder (`scarce`'s variants x
    every net at `counts["scarce_train"]` images) for as many of those S seeds as fit. `counts`: the
    images of train, val and test, and the epochs. `done` (a resumed store, finished_seeds): the
    whole seeds of the grid and of the ladder already finished; S then counts the seeds after them,
    at most `args.max_seeds` in all, and none when that many are done."""
    done = done or {"grid": 0, "scarce": 0}
    nets = grid["nets"]
    capacity = window * args.workers * args.fill  # worker-seconds
    common = {"val": counts["val"], "test": counts["test"], "epochs": counts["epochs"]}
    est = {net: job_seconds(args, measured, net, train=counts["train"], **common) for net in nets}
    per_seed = len(grid["preps"]) * sum(est.values())
    least = 0 if done["grid"] else 1
    seeds = max(least, min(args.max_seeds - done["grid"], int(capacity // per_seed)))
    every = seed_list(grid["seeds"], done["grid"] + seeds)
    plan = {
        "seeds": seeds,
        "seed_list": every[done["grid"] :],
        "seeds_done": every[: done["grid"]],
        "epochs": counts["epochs"],
        "workers": args.workers,
        "window_seconds": round(window),
        "capacity_worker_seconds": round(capacity),
        "seed_seconds_estimate": round(per_seed, 1),
        "job_seconds_estimate": {net: round(est[net], 1) for net in nets},
        "train_images": {net: counts["train"] for net in nets},
        "efficiency_assumed": args.efficiency,
        "job_overhead_assumed": args.job_overhead,
        "epoch_overhead_assumed": args.epoch_overhead,
    }
    if scarce is not None:
        scarce_est = {net: job_seconds(args, measured, net, train=counts["scarce_train"], **common) for net in nets}
        per_scarce_seed = len(scarce["preps"]) * sum(scarce_est.values())
        left = capacity - seeds * per_seed
        # the ladder never has more seeds than the main grid it is compared with
        room = min(len(every) - done["scarce"], int(left // per_scarce_seed))
        scarce_seeds = max(0, room)
        plan["scarce"] = {
            "experiment": scarce["experiment"],
            "preps": scarce["preps"],
            "seeds": scarce_seeds,
            "seed_list": every[done["scarce"] : done["scarce"] + scarce_seeds],
            "train_images": counts["scarce_train"],
            "seed_seconds_estimate": round(per_scarce_seed, 1),
            "overrides": [],
        }
        for net in nets:
            plan["job_seconds_estimate"][scarce_kind(net)] = round(scarce_est[net], 1)
            plan["train_images"][scarce_kind(net)] = counts["scarce_train"]
    plan["predicted_worker_seconds"] = round(
        seeds * per_seed + (plan["scarce"]["seeds"] * per_scarce_seed if plan.get("scarce") else 0)
    )
    return plan


def scarce_kind(net: str) -> str:
    return f"{net} scarce"


def job_list(plan: dict) -> list[dict]:
    """Seed by seed (a study cut short keeps whole seeds), deeper net first within a seed (longer
    jobs first); the scarcity ladder's seeds after the main grid's. A job's `kind` keys its time."""

    def job(experiment, seed, net, prep, kind, overrides=()):
        return {
            "experiment": experiment,
            "seed": seed,
            "net": net,
            "prep": prep,
            "kind": kind,
            "overrides": list(overrides),
        }

    seeds = plan.get("seed_list", list(range(plan["seeds"])))
    jobs = [job(plan["experiment"], s, n, p, n) for s in seeds for n in plan["nets"] for p in plan["preps"]]
    scarce = plan.get("scarce")
    if scarce:
        jobs += [
            job(scarce["experiment"], s, n, p, scarce_kind(n), scarce["overrides"])
            for s in scarce.get("seed_list", seeds[: scarce["seeds"]])
            for n in plan["nets"]
            for p in scarce["preps"]
        ]
    return jobs


# ---- workers ------------------------------------------------------------------------------------


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
            log(
                f"{label}prep={job['prep']} net={job['net']} seed={job['seed']}: "
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


def outcome(store: Path, experiment: str) -> dict:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{store}/mlflow.db")
    exp = client.get_experiment_by_name(experiment)
    runs = [] if exp is None else client.search_runs([exp.experiment_id], max_results=5000)
    jobs = []
    for r in runs:
        if r.data.tags.get("prepbench.role") != "job":
            continue
        m, p = r.data.metrics, r.data.params
        overrides = json.loads(r.data.tags.get("prepbench.overrides", "[]"))
        jobs.append(
            {
                "prep": p.get("prep"),
                # the sweep's choice: prep=zca_reg logs prep `zca` with its own epsilon
                "prep_choice": next((o.split("=", 1)[1] for o in overrides if o.startswith("prep=")), p.get("prep")),
                "net": p.get("net"),
                "seed": int(p.get("seed", -1)),
                "status": r.info.status,
                "test_accuracy": m.get("test_accuracy"),
                "fit_seconds": m.get("fit_seconds"),
                "train_images_per_second": m.get("train_images_per_second"),
                "precision": p.get("trainer.precision"),
                "device": p.get("device"),
                "epochs": p.get("trainer.epochs"),
                "train_size": p.get("data.train_size"),
            }
        )
    return {"jobs": sorted(jobs, key=lambda j: (j["seed"], j["net"], j["prep"], str(j["train_size"])))}


def job_key(job: dict) -> tuple:
    """A cell of outcome()'s jobs: the sweep's prep choice, net, seed and training images."""
    return job["prep_choice"], job["net"], job["seed"], str(job["train_size"])


def finished_seeds(jobs: list[dict], grid: dict, scarce: dict | None, counts: dict, max_seeds: int) -> dict:
    """How many whole seeds, in seed_list order, a resumed store holds: every variant x net FINISHED,
    for the main grid (`counts["train"]` images) and for the scarcity ladder (`counts["scarce_train"]`)."""
    finished = {job_key(j) for j in jobs if j["status"] == "FINISHED"}

    def whole(preps: list[str], train: int | None) -> int:
        count = 0
        for seed in seed_list(grid["seeds"], max_seeds):
            if not all((p, n, seed, str(train)) in finished for p in preps for n in grid["nets"]):
                break
            count += 1
        return count

    return {
        "grid": whole(grid["preps"], counts["train"]),
        "scarce": whole(scarce["preps"], counts["scarce_train"]) if scarce else 0,
    }


def resume(archive_path: Path, store: Path, name: str) -> list[dict]:
    """Unpack a previous call's archive (<name>/ inside), and its artifact parts if they lie beside
    it (archive), as the store; returns its calls' gpu.json."""
    stem = archive_path.name.removesuffix(".tar.gz")
    for path in [archive_path, *sorted(archive_path.parent.glob(f"{stem}-artifacts-*.tar.gz"))]:
        with tarfile.open(path) as tar:
            tar.extractall(store.parent / f".{name}-resume", filter="data")
    shutil.move(store.parent / f".{name}-resume" / name, store)
    shutil.rmtree(store.parent / f".{name}-resume")
    earlier = json.loads((store / "gpu.json").read_text())
    return [*earlier.pop("earlier_calls", []), earlier]


def archive(store: Path, out: Path, name: str) -> list[Path]:
    """OUT/<name>.tar.gz holding the store as <name>/; if that is over TAR_LIMIT (a file that big
    would not come back from the device machine), the store without its artifacts there, and the
    artifacts in parts of at most TAR_LIMIT bytes before compression, a run's folder whole in one:
    OUT/<name>-artifacts-1.tar.gz, -2, ..."""
    whole = out / f"{name}.tar.gz"
    with tarfile.open(whole, "w:gz") as tar:
        tar.add(store, arcname=name)
    artifacts = store / "mlartifacts"
    if whole.stat().st_size <= TAR_LIMIT or not artifacts.exists():
        return [whole]
    with tarfile.open(whole, "w:gz") as tar:
        tar.add(store, arcname=name, filter=lambda info: None if info.name.startswith(f"{name}/mlartifacts") else info)
    parts: list[list[Path]] = [[]]
    used = 0
    for run in sorted(p for p in artifacts.glob("*/*") if p.is_dir()):  # mlartifacts/<experiment>/<run>
        size = sum(f.stat().st_size for f in run.rglob("*") if f.is_file())
        if parts[-1] and used + size > TAR_LIMIT:
            parts.append([])
            used = 0
        parts[-1].append(run)
        used += size
    paths = []
    for k, runs in enumerate(parts, 1):
        path = out / f"{name}-artifacts-{k}.tar.gz"
        with tarfile.open(path, "w:gz") as tar:
            for run in runs:
                tar.add(run, arcname=f"{name}/{run.relative_to(store)}")
        paths.append(path)
    return [whole, *paths]


def job_sizes(experiment: str, tiny: bool, scarce: dict | None) -> tuple[dict, list[str], int | None]:
    """(the sizes every job overrides, other overrides, the scarcity ladder's training images): memo
    overrides its 5,000 validation images (and, once planned, its epochs); converged nothing, its
    design is its own. A dry run shrinks everything."""
    scarce_train = int(scarce["settings"]["data.train_size"]) if scarce else None
    if not tiny:
        return ({"val_size": 5000} if experiment == "memo" else {}), [], scarce_train
    sizes = {"val_size": 100, "train_size": 400, "test_size": 200}
    if experiment != "memo":
        sizes["epochs"] = 2
    return sizes, ["net.width=4", "net.dense=8"], 200 if scarce else None


def plan_for(
    args, tiny: bool, measured: dict, window: float, counts: dict, grid: dict, scarce: dict | None, done: dict
) -> dict:
    """The study's plan (make_plan, seeds_plan); a dry run's has 1 new seed, at most 2 epochs and,
    for converged, one seed of the scarcity ladder at its smaller size (none when resumed)."""
    if tiny:
        args.max_seeds = done["grid"] + 1
    if args.experiment == "memo":
        plan = make_plan(args, measured, window, counts["train"], grid)
        if tiny:
            plan.update(epochs=min(plan["epochs"], 2))
        return plan
    plan = seeds_plan(args, measured, window, counts, grid, scarce, done)
    if tiny and scarce is not None:
        ladder = plan["seed_list"][:1] if not done["scarce"] else []
        plan["scarce"].update(
            seeds=len(ladder), seed_list=ladder, overrides=[f"data.train_size={counts['scarce_train']}"]
        )
    return plan


def workers_count(text: str) -> int:
    value = int(text)
    if not 1 <= value <= MAX_WORKERS:
        raise argparse.ArgumentTypeError(f"expected 1 to {MAX_WORKERS} workers, got {value}")
    return value


def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--experiment", choices=EXPERIMENTS, default="memo", help="the study (experiments/NAME.yaml)")
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
    ap.add_argument("--resume", type=Path, default=None, help="converged: a previous call's archive to add seeds to")
    ap.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    args.data = args.data.resolve() if args.data else None
    if args.resume and (args.experiment != "converged" or not args.resume.is_file()):
        ap.error(f"--resume {args.resume}: expected the archive of a previous call of --experiment converged")
    args.store = args.store or Path(f"/tmp/{args.experiment}-gpu")
    for name, value in DEFAULTS[args.experiment].items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.worker:
        return worker(args)

    started = args.started or time.time()
    deadline_all = started + args.budget
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
        "code_commit": os.environ.get("GPU_CODE_COMMIT", ""),
        **({"resumed_from": str(args.resume), "earlier_calls": earlier_calls} if args.resume else {}),
    }
    try:
        summary["machine"] = machine()
        log(f"machine: {summary['machine']}")
        if not tiny and not any(d.startswith("gpu") for d in summary["machine"]["devices"]):
            raise SystemExit("error: JAX sees no GPU; expected one (GPU_TINY=1 for a CPU dry run)")

        grid = study_grid(args.experiment)
        scarce = study_grid(SCARCE[args.experiment]) if args.experiment in SCARCE else None
        sizes, extra, scarce_train = job_sizes(args.experiment, tiny, scarce)
        probe_job = {"experiment": args.experiment, "prep": "none", "net": grid["nets"][-1], "seed": 0}
        probe_plan = {"sizes": sizes, "extra": extra}
        cfg = compose(overrides_for(args, probe_plan, probe_job))
        experiment = cfg.tracking.experiment
        summary["tracking_experiment"] = experiment
        from prepbench.data.splits import load_splits
        from prepbench.track import tracking

        t = time.time()
        splits = load_splits(cfg.data)
        summary["data_load_seconds"] = round(time.time() - t, 1)
        summary["images"] = {"train": len(splits.y_train), "val": len(splits.y_val), "test": len(splits.y_test)}
        log(f"data: {summary['images']} in {summary['data_load_seconds']} s")
        client = tracking.client_for(cfg.tracking)  # the store and the experiment, once, before the workers
        tracking.experiment_id(client, cfg.tracking)

        from prepbench.train import backend

        backend.use("jax", cache_dir=cfg.cache_dir)
        t = time.time()
        images = min(args.probe_images, len(splits.y_train))
        nets = {net: compose(overrides_for(args, probe_plan, {**probe_job, "net": net})).net for net in grid["nets"]}
        summary["throughput"] = probe(splits, cfg, nets, images, epochs=2 if tiny else args.probe_epochs)
        summary["probe_seconds"] = round(time.time() - t, 1)

        deadline = deadline_all - REPORT_RESERVE_S
        window = deadline - time.time()
        counts = {**summary["images"], "epochs": cfg.trainer.epochs, "scarce_train": scarce_train}
        done, before = {"grid": 0, "scarce": 0}, set()
        if args.resume:
            earlier_jobs = outcome(store, experiment)["jobs"]
            before = {job_key(j) for j in earlier_jobs if j["status"] == "FINISHED"}
            done = finished_seeds(earlier_jobs, grid, scarce, counts, args.max_seeds)
            log(f"resumed {args.resume}: whole seeds finished {done}")
        plan = plan_for(args, tiny, summary["throughput"], window, counts, grid, scarce, done)
        if args.experiment == "memo":
            sizes["epochs"] = plan["epochs"]
        plan.update(experiment=args.experiment, preps=grid["preps"], nets=grid["nets"], sizes=sizes, extra=extra)
        summary["plan"] = plan
        log(f"plan: {plan}")
        t = time.time()
        codes = wait(launch(args, plan, deadline, logs), deadline)
        summary["study_seconds"] = round(time.time() - t, 1)
        summary["worker_exit_codes"] = codes
        summary.update(outcome(store, experiment))
        finished = [j for j in summary["jobs"] if j["status"] == "FINISHED"]
        new = [j for j in finished if job_key(j) not in before]  # this call's (a resumed store holds others)
        # A job's training images: its data.train_size, or (null) the whole training split.
        train_images = [int(j["train_size"]) if str(j["train_size"]).isdigit() else len(splits.y_train) for j in new]
        trained = sum(int(j["epochs"]) * n for j, n in zip(new, train_images))
        summary["aggregate_training_images_per_second"] = round(trained / max(summary["study_seconds"], 1e-9))
        held = f" ({len(finished)} in the store)" if before else ""
        log(f"{len(new)} jobs FINISHED of {len(job_list(plan))} planned in {summary['study_seconds']} s{held}")
        report = subprocess.run(
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
        tars = archive(store, out, name)
        sizes_mb = ", ".join(f"{t.name} ({t.stat().st_size / 1e6:.1f} MB)" for t in tars)
        log(f"wrote {out}/: {sizes_mb}, gpu.json; {summary['wall_seconds']} s in all")
    return 1 if "error" in summary else 0


if __name__ == "__main__":
    sys.exit(main())
