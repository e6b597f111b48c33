"""The study's plan: its grid read from the experiment's own sweep, sized to the time left (memo: seeds
and epochs; any other experiment file: whole seeds, and for converged then its scarcity ladder), as a
queue of jobs with their overrides.

Every key the experiment sweeps is a dimension of the grid: prep and net, the seeds, and the others
(`net.depth`, `prep.batchnorm`, `data.train_size`, ...) as the grid's cells, each a list of overrides
(`["net.depth=3"]`). A job's `kind` (its net, and its cell when it has one) keys its time estimate;
the probe measures each net as each cell shapes it (`probe_key`: its `net.*` overrides)."""

from __future__ import annotations

import itertools

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
    from prepbench.config import compose as compose_config

    chosen = compose_config([f"experiment={experiment}"], checked=False, return_hydra_config=True).hydra.runtime.choices

    def values(key: str) -> list[str]:
        if key not in params:  # not swept: the one option the experiment composes
            return [str(chosen[key])]
        (override,) = OverridesParser.create().parse_overrides([f"{key}={params[key]}"])
        return [str(v) for v in override.sweep_string_iterator()] if override.is_sweep_override() else [params[key]]

    nets = sorted(values("net"), key=lambda name: -compose([f"net={name}"]).net.depth)
    dims = [key for key in params if key not in ("seed", "prep", "net")]
    cells = [[f"{k}={v}" for k, v in zip(dims, combo)] for combo in itertools.product(*map(values, dims))]
    return {
        "experiment": experiment,
        "preps": values("prep"),
        "nets": nets,
        "seeds": seeds,
        "settings": settings,
        "cells": cells,
        "cell_shapes": {label(cell): cell_shape(experiment, cell) for cell in cells},
    }


def label(cell: list[str]) -> str:
    """A cell by its overrides (`net.depth=3 prep.batchnorm=True`); "" for the grid's one cell."""
    return " ".join(cell)


def kind_of(net: str, cell: list[str]) -> str:
    """What keys a job's time estimate: its net, and its cell's overrides when it has any."""
    return " ".join([net, *cell])


def probe_key(net: str, cell: list[str]) -> str:
    """The network a job trains, as the probe measures it: its net and its cell's `net.*` overrides."""
    return kind_of(net, [o for o in cell if o.startswith("net.")])


def cell_shape(experiment: str, cell: list[str]) -> dict:
    """What sizes a cell's jobs (their training images, null for the whole split; the trainer settings
    prepbench.train.budget reads), as the experiment composes them with the cell's overrides."""
    from omegaconf import OmegaConf

    cfg = compose([f"experiment={experiment}", *cell])
    keys = ("epochs", "steps", "batch_size", "validation_every_steps", "warmup_steps", "warmup_epochs", "schedule")
    trainer = {k: OmegaConf.select(cfg.trainer, k) for k in keys}
    return {"train_size": cfg.data.get("train_size"), "trainer": trainer}


def cell_cost(shape: dict, counts: dict, cell: list[str]) -> dict:
    """A cell's training images, epochs and validations (prepbench.train.budget): `counts` give the
    whole split's images, and the epochs and images where the cell does not set them (a dry run's)."""
    from omegaconf import OmegaConf

    from prepbench.train import budget

    trainer = OmegaConf.create(shape["trainer"])
    if not any(o.startswith("trainer.epochs=") for o in cell):
        trainer.epochs = counts["epochs"]
    sets_train = any(o.startswith("data.train_size=") for o in cell)
    train = min(int(shape["train_size"] or counts["train"]), counts["train"]) if sets_train else counts["train"]
    b = budget.resolve(trainer, train)
    validations = len(budget.validation_epochs(trainer, b.epochs, b.steps_per_epoch))
    return {"train": train, "epochs": b.epochs, "validations": validations}


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


def job_seconds(
    args, measured: dict, net: str, *, train: int, val: int, test: int, epochs: int, validations: int | None = None
) -> float:
    """One job's predicted seconds on a worker sharing the GPU (at `args.efficiency` of the measured
    images/s alone): its overhead, then each epoch's training and fixed cost, its validations (every
    epoch unless given), then test."""
    fit = measured[net]["images_per_second"] * args.efficiency
    evaluate = (measured[net].get("eval_images_per_second") or measured[net]["images_per_second"]) * args.efficiency
    validations = epochs if validations is None else validations
    return (
        args.job_overhead
        + epochs * (train / fit + args.epoch_overhead)
        + validations * val / evaluate
        + test / evaluate
    )


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
    est = {}
    for net in nets:
        for cell in grid.get("cells", [[]]):
            shape = grid.get("cell_shapes", {}).get(label(cell))
            if shape is None:  # a grid without cell shapes: the experiment's own sizes
                cost = {"train": counts["train"], "epochs": counts["epochs"]}
            else:
                cost = cell_cost(shape, counts, cell)
            size = {**common, **cost}
            est[kind_of(net, cell)] = job_seconds(args, measured, probe_key(net, cell), **size)
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
        "job_seconds_estimate": {kind: round(seconds, 1) for kind, seconds in est.items()},
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
    jobs first), then cell by cell; the scarcity ladder's seeds after the main grid's. A job's `kind`
    keys its time; its cell's overrides come last on its command line."""

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
    cells = plan.get("cells", [[]])
    jobs = [
        job(plan["experiment"], s, n, p, kind_of(n, cell), cell)
        for s in seeds
        for n in plan["nets"]
        for cell in cells
        for p in plan["preps"]
    ]
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
    """A cell of outcome()'s jobs: the sweep's prep choice, net, seed and training images, and the
    other overrides of its command line (a grid cell's: `net.depth=3`)."""
    return job["prep_choice"], job["net"], job["seed"], str(job["train_size"]), tuple(job.get("cell", ()))


def finished_seeds(jobs: list[dict], grid: dict, scarce: dict | None, counts: dict, max_seeds: int) -> dict:
    """How many whole seeds, in seed_list order, a resumed store holds: every variant x net FINISHED,
    for the main grid (`counts["train"]` images) and for the scarcity ladder (`counts["scarce_train"]`)."""
    finished = {}
    for j in jobs:
        if j["status"] == "FINISHED":
            finished.setdefault(job_key(j)[:3], []).append(j)

    def held(p, n, seed, train, cell) -> bool:
        # the job's training images where the cell does not set them; its cell among its overrides
        return any(
            (str(j["train_size"]) == str(train) or any(o.startswith("data.train_size=") for o in cell))
            and set(cell) <= set(j.get("cell", ()))
            for j in finished.get((p, n, seed), [])
        )

    def whole(preps: list[str], train: int | None, cells) -> int:
        count = 0
        for seed in seed_list(grid["seeds"], max_seeds):
            if not all(held(p, n, seed, train, c) for p in preps for n in grid["nets"] for c in cells):
                break
            count += 1
        return count

    return {
        "grid": whole(grid["preps"], counts["train"], grid.get("cells", [[]])),
        "scarce": whole(scarce["preps"], counts["scarce_train"], [[]]) if scarce else 0,
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
    # a dry run trains its 2 epochs whatever steps the experiment asks (tiny_cell caps its sizes);
    # ++ sets net.dense on a plain net and adds it, unused, to a residual one
    extra = ["net.width=4", "++net.dense=8", "trainer.steps=null", "trainer.warmup_steps=null"]
    return sizes, extra, 200 if scarce else None


def tiny_cell(cell: list[str], sizes: dict) -> list[str]:
    """A dry run's cell: training images at most the dry run's (the data it loads holds no more)."""
    limit = sizes.get("train_size")
    if not limit:
        return cell
    out = []
    for o in cell:
        key, _, value = o.partition("=")
        out.append(f"{key}={min(int(value), limit)}" if key == "data.train_size" and value.isdigit() else o)
    return out


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
