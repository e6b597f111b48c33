"""The study's plan: its grid read from the experiment's own sweep, sized to the time left (memo: seeds
and epochs; converged: whole seeds, then its scarcity ladder), as a queue of jobs with their overrides."""

from __future__ import annotations

# A plan's size settings and the overrides that set them (only those in plan["sizes"] are passed).
SIZE_OVERRIDES = {
    "train_size": "data.train_size",
    "val_size": "data.val_size",
    "test_size": "data.test_size",
    "epochs": "trainer.epochs",
}


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
