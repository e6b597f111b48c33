"""One job: data -> preprocessing -> network -> training -> MLflow child run.

Bad input (PrepbenchError) is raised before a run exists, so it never leaves a run behind. The run
is the job's claim on its config hash (prepbench.track.claims): a job that finds a live claim, or loses
the race for it, skips and says so; a heartbeat keeps the claim's lease while it trains. Once the
run exists it ends FINISHED only after the test evaluation is logged; anything else that goes
wrong ends it FAILED (or KILLED on Ctrl-C) with the reason as a tag.
"""

from __future__ import annotations

import os
import warnings

from omegaconf import DictConfig, OmegaConf

from prepbench.config import check_image_size, settle_numbers, validate
from prepbench.console import quiet_native_stderr, quiet_retracing_warning
from prepbench.data.cache import JobCache
from prepbench.data.splits import Splits, load_splits
from prepbench.prep.preprocessor import Preprocessor, fit_cached, from_config
from prepbench.prep.zca import RankDeficientWarning, zca_rank_deficient
from prepbench.study import balance, interrupts
from prepbench.track import claims, machine, names, tracking
from prepbench.track.provenance import hardware
from prepbench.train import backend, budget, precision


def run_job(cfg: DictConfig, overrides: list[str], position: str = "", cache: JobCache | None = None) -> str:
    """Train and log one job; returns "finished", "skipped" (already FINISHED), "claimed" (another
    sweep is training it) or "failed". `cache`: what the jobs run by this process share (the data
    set, the preprocessed splits); None decodes and transforms for this job alone."""
    validate(cfg)  # on the values as typed, so that an error names what the user wrote
    settle_numbers(cfg)  # before the config hash: 10 and 10.0 are one job
    tracking.check_committed_code(cfg)
    # The precision this machine really trains in is part of the job's identity (its config hash);
    # `auto` asks this machine's measurement for this net where the CPU's flags leave it open.
    cfg.trainer.precision = precision.resolve(
        cfg.trainer.precision, backend=cfg.trainer.backend, measured=lambda: measured_precision(cfg)
    )
    # Keras picks its backend when first imported: set it (or refuse) before anything imports Keras.
    backend.use(
        cfg.trainer.backend,
        threads=cfg.trainer.threads,
        deterministic=cfg.trainer.deterministic,
        cache_dir=cfg.cache_dir,
    )
    client = tracking.client_for(cfg.tracking)
    exp_id = tracking.experiment_id(client, cfg.tracking)
    label = f"prep={names.prep_label(cfg, overrides)} net={cfg.net.name} seed={cfg.seed}"
    config_hash = tracking.config_hash(cfg)
    if (status := _done_or_claimed(client, exp_id, cfg, config_hash, f"{position}{label}")) is not None:
        return status
    print(f"{position}{label}", *names.other_settings(overrides, net_shape=True), sep=" · ", flush=True)

    splits, preprocessor, prep_fit_seconds, tags = _prepare(cfg, f"{position}{label}", cache)
    trainer = trained_as(cfg.trainer, len(splits.x_train))  # a bad budget is refused before the run exists
    with quiet_native_stderr():  # TensorFlow's C++ start-up lines
        from prepbench.train import fit  # Keras and its backend: imported only once a job really trains

        if cfg.trainer.backend == "tensorflow":
            fit.configure_tensorflow(threads=cfg.trainer.threads, deterministic=cfg.trainer.deterministic)
        tags["hardware"] = hardware()  # lists the GPUs: CUDA starts here
        tags.update(machine.describe(int(cfg.trainer.threads)))  # the machine's kind, CPU family, threads
        device = backend.device()
    quiet_retracing_warning()
    lease = float(cfg.tracking.lease_seconds)
    run = tracking.JobRun(
        client, exp_id, cfg, overrides, os.environ.get(tracking.PARENT_RUN_ENV), extra_tags=claims.claim_tags(lease)
    )
    heartbeat = claims.Heartbeat(client, run.run_id, lease).start()
    try:
        try:
            lost = claims.contest(client, exp_id, run.run_id, config_hash, lease_seconds=lease, rerun=bool(cfg.rerun))
        except BaseException as err:  # Ctrl-C or a store error while claiming: the run does not stay RUNNING
            run.fail(err, status="KILLED" if isinstance(err, KeyboardInterrupt) else "FAILED")
            raise
        if lost is not None:
            heartbeat.stop()
            claims.withdraw(client, run.run_id, lost)
            print(f"{position}{label}: {lost.message()}", flush=True)
            return "skipped" if lost.finished else "claimed"
        return _train(
            run, cfg, trainer, splits, preprocessor, prep_fit_seconds, fit, position, label, tags, device, cache
        )
    finally:
        heartbeat.stop()


def measured_precision(cfg: DictConfig) -> dict | None:
    """bfloat16's and float32's images/s for this job's net on this machine (cached, else probed)."""
    from prepbench.train import precision_probe

    return precision_probe.measure_or_probe(
        cfg.cache_dir,
        machine.this_kind(),
        family=str(cfg.net.get("family", "plain")),
        depth=int(cfg.net.depth),
        width=int(cfg.net.width),
        dense=int(cfg.net.get("dense", 0)),  # the residual family has none
        batchnorm=bool(cfg.prep.get("batchnorm", False)),
        batch_size=int(cfg.trainer.batch_size),
    )


def _done_or_claimed(client, exp_id: str, cfg: DictConfig, config_hash: str, label: str) -> str | None:
    """Why this job does not train here: "skipped" when a FINISHED run of this config exists (unless
    cfg.rerun), "claimed" when another sweep's live run holds it; None when it trains. Runs that a
    dead process left RUNNING are marked KILLED on the way."""
    if not cfg.rerun and (done := tracking.finished_run(client, exp_id, cfg)) is not None:
        print(f"{label}: skipped, already FINISHED as run {done.info.run_id} ({done.info.run_name})", flush=True)
        return "skipped"
    if cfg.get("whole_seeds") and (owner := balance.seed_owner(client, exp_id, cfg.seed)) is not None:
        print(f"{label}: skipped, seed {cfg.seed} was begun on {owner}: left to it (whole_seeds=true)", flush=True)
        return "skipped"
    for run, why in claims.mark_stale(client, exp_id, config_hash=config_hash):
        print(f"{label}: run {run.info.run_id} was left RUNNING ({why}): marked KILLED, training again", flush=True)
    if live := claims.live_claims(client, exp_id, config_hash):
        other = live[0].info
        print(f"{label}: skipped, another sweep is training it as run {other.run_id} ({other.run_name})", flush=True)
        return "claimed"
    return None


def _prepare(cfg: DictConfig, label: str, cache: JobCache | None) -> tuple[Splits, Preprocessor, float, dict]:
    """(the data set, the fitted preprocessor, its fit's seconds, the run's extra tags), before the
    run exists: a bad data set or image size is refused without leaving a run behind."""
    data_yaml = OmegaConf.to_yaml(cfg.data, resolve=True)

    def load() -> Splits:
        return load_splits(OmegaConf.create(data_yaml))

    splits = load() if cache is None else cache.splits(data_yaml, load)
    check_image_size(splits.x_train.shape[1:3], cfg)
    preprocessor = from_config(cfg.prep)
    tags = {}
    x_fit = splits.fit_images(preprocessor.zca_fit_images)  # the training images, or more of their split
    if preprocessor.normalization == "zca":
        n_fit = len(x_fit)
        rank_deficient = zca_rank_deficient(n_fit, splits.x_train.shape[1:])
        tags["zca_rank_deficient"] = str(rank_deficient).lower()
        if rank_deficient:
            print(
                f"{label}: warning: ZCA is fitted on {n_fit} training images of "
                f"{splits.x_train[0].size} values each (n <= D): the whitened images are orthogonal and accuracy "
                "falls to chance; the run is tagged prepbench.zca_rank_deficient=true",
                flush=True,
            )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RankDeficientWarning)  # said above, in one line
        prep_fit_seconds = fit_cached(preprocessor, x_fit, splits.fingerprint, cfg.cache_dir)
    return splits, preprocessor, prep_fit_seconds, tags


def _train(run, cfg, trainer, splits, preprocessor, prep_fit_seconds, fit, position, label, tags, device, cache) -> str:
    """The claimed job's training, logged to its run; the run ends FINISHED, FAILED or KILLED."""
    try:
        run.log_config(cfg)
        run.log_params(device=device)
        run.set_tags(data_fingerprint=splits.fingerprint, **tags)
        run.set_tags(epochs=str(trainer.epochs), steps=str(trainer.steps))
        inputs = fit.make_inputs(
            splits,
            preprocessor,
            batch_size=trainer.batch_size,
            epochs=trainer.epochs,
            seed=cfg.seed,
            augmentation=cfg.augmentation,
            cache=cache,
        )
        run.log_image(training_images_montage(inputs), "training_images.png")
        result = fit.fit_and_evaluate(
            inputs,
            net=cfg.net,
            trainer=trainer,
            seed=cfg.seed,
            batchnorm=preprocessor.batchnorm,
            batchnorm_momentum=cfg.prep.get("batchnorm_momentum"),
            on_epoch=lambda epoch, metrics: run.log_metrics(metrics, step=epoch),
        )
        run.log_metrics(
            {
                "test_accuracy": result.test_accuracy,
                "test_loss": result.test_loss,
                "fit_seconds": result.fit_seconds,
                "prep_fit_seconds": prep_fit_seconds,
                "train_images_per_second": result.train_images_per_second,
            }
        )
    except KeyboardInterrupt as err:
        run.fail(err, status="KILLED")
        raise
    except Exception as err:
        if interrupts.requested():  # a Ctrl-C that C code turned into another error: still an interrupt
            run.fail(err, status="KILLED")
            raise KeyboardInterrupt(f"interrupted, surfacing as {type(err).__name__}") from err
        run.fail(err)
        print(f"{position}{label}: FAILED: {type(err).__name__}: {err}", flush=True)
        return "failed"
    run.finish()
    print(f"{position}{label}: test_accuracy {result.test_accuracy:.4f} ({result.fit_seconds:.0f} s)", flush=True)
    return "finished"


def trained_as(trainer: DictConfig, num_train: int) -> DictConfig:
    """The trainer settings as this run trains: its epochs (from `trainer.steps` where set, for
    these images) and its warm-up in steps. The config as given is what the run logs and hashes."""
    b = budget.resolve(trainer, num_train)
    return OmegaConf.merge(trainer, {"epochs": b.epochs, "steps": b.steps, "warmup_steps": b.warmup_steps})


def training_images_montage(inputs, count: int = 32, columns: int = 8):
    """The first training batch as the network sees it, tiled into one RGB image (each image
    stretched to its own range: normalized values are not displayable). Plain numpy, no figure:
    it is made once per job, and matplotlib's subplots cost more than a shallow epoch here."""
    import numpy as np

    images = inputs.peek()[:count]
    low = images.min(axis=(1, 2, 3), keepdims=True)
    high = images.max(axis=(1, 2, 3), keepdims=True)
    images = (images - low) / np.where(high > low, high - low, 1)
    rows = -(-len(images) // columns)
    n, h, w, c = images.shape
    canvas = np.ones((rows * (h + 2), columns * (w + 2), c), np.float32)
    for i, image in enumerate(images):
        r, col = divmod(i, columns)
        canvas[r * (h + 2) + 1 : r * (h + 2) + 1 + h, col * (w + 2) + 1 : col * (w + 2) + 1 + w] = image
    zoom = max(1, 96 // h)  # CIFAR's 32x32 shown at 96x96, pixel for pixel
    canvas = canvas.repeat(zoom, axis=0).repeat(zoom, axis=1)
    return (canvas * 255).round().astype(np.uint8)
