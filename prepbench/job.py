"""One job: data -> preprocessing -> network -> training -> MLflow child run.

Bad input (PrepbenchError) is raised before a run exists, so it never leaves a run behind. Once
the run exists it ends FINISHED only after the test evaluation is logged; anything else that goes
wrong ends it FAILED (or KILLED on Ctrl-C) with the reason as a tag.
"""

from __future__ import annotations

import os
from functools import lru_cache

from omegaconf import DictConfig, OmegaConf

from prepbench import tracking
from prepbench.config import validate
from prepbench.data import Splits, load_splits
from prepbench.preprocess import fit_cached, from_config


@lru_cache(maxsize=2)
def _splits(data_yaml: str) -> Splits:
    """Jobs of one sweep in one process share the decoded data set."""
    return load_splits(OmegaConf.create(data_yaml))


def run_job(cfg: DictConfig, overrides: list[str], position: str = "") -> str:
    """Train and log one job; returns "finished", "skipped" or "failed"."""
    validate(cfg)
    client = tracking.client_for(cfg.tracking)
    exp_id = tracking.experiment_id(client, cfg.tracking)
    label = f"prep={cfg.prep.name} net={cfg.net.name} seed={cfg.seed}"
    if not cfg.rerun and (done := tracking.finished_run(client, exp_id, cfg)) is not None:
        print(f"{position}{label}: skipped, already FINISHED as run {done.info.run_id} ({done.info.run_name})", flush=True)
        return "skipped"
    if not os.environ.get(tracking.PARENT_RUN_ENV):  # a sweep's callback did this for all its jobs
        tracking.mark_stale_runs(client, exp_id, cfg)
    print(f"{position}{label}", flush=True)

    splits = _splits(OmegaConf.to_yaml(cfg.data, resolve=True))
    preprocessor = from_config(cfg.prep)
    prep_fit_seconds = fit_cached(preprocessor, splits.x_train, splits.fingerprint, cfg.cache_dir)

    from prepbench import train  # TensorFlow: imported only once a job really trains

    train.configure_tensorflow(threads=cfg.trainer.threads, deterministic=cfg.trainer.deterministic)
    run = tracking.JobRun(client, exp_id, cfg, overrides, os.environ.get(tracking.PARENT_RUN_ENV))
    try:
        run.log_config(cfg)
        run.set_tags(data_fingerprint=splits.fingerprint, hardware=tracking.hardware())
        inputs = train.make_inputs(
            splits, preprocessor, batch_size=cfg.trainer.batch_size, epochs=cfg.trainer.epochs,
            seed=cfg.seed, augmentation=cfg.augmentation,
        )
        run.log_figure(training_images_figure(inputs, splits.class_names, run_name=tracking.run_name(cfg)), "training_images.png")
        result = train.fit_and_evaluate(
            inputs, net=cfg.net, trainer=cfg.trainer, seed=cfg.seed, batchnorm=preprocessor.batchnorm,
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
        run.fail(err)
        print(f"{position}{label}: FAILED: {type(err).__name__}: {err}", flush=True)
        return "failed"
    run.finish()
    print(f"{position}{label}: test_accuracy {result.test_accuracy:.4f} ({result.fit_seconds:.0f} s)", flush=True)
    return "finished"


def training_images_figure(inputs, class_names, run_name: str, count: int = 32):
    """The first training batch as the network sees it (each image rescaled to its own range,
    since normalized values are not displayable)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    images, labels = next(iter(inputs.train.take(1)))
    images, labels = images.numpy()[:count], labels.numpy()[:count]
    cols = 8
    fig, axes = plt.subplots(int(np.ceil(len(images) / cols)), cols, figsize=(cols * 1.3, 1.5 * len(images) / cols + 0.6))
    for ax, image, label in zip(axes.flat, images, labels):
        low, high = image.min(), image.max()
        ax.imshow((image - low) / (high - low if high > low else 1))
        ax.set_title(class_names[label], fontsize=7)
    for ax in axes.flat:
        ax.axis("off")
    fig.suptitle(f"{run_name}: first training batch after preprocessing", fontsize=9)
    fig.tight_layout()
    return fig
