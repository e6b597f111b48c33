"""prepbench.bench.backend_speed: the same job on both backends, each in its own process."""

import pytest

from prepbench.bench import backend_speed
from prepbench.config import quote


@pytest.mark.slow
def test_the_same_job_runs_on_both_backends_and_gives_a_ratio(tmp_path):
    pytest.importorskip("jax")
    rows = backend_speed.compare(
        [*backend_speed.SYNTHETIC, f"cache_dir={quote(str(tmp_path))}", "net.width=4", "net.dense=8"],
        nets=("shallow",),
        variants=("augment",),
        epochs=2,
        repeats=1,
        log=lambda line: None,
    )
    row = rows["shallow.augment"]
    assert row["ratio"] > 0 and row["tensorflow_images_per_second"] > 0 and row["jax_images_per_second"] > 0
    assert [r["backend"] for r in row["runs"]["jax"]] == ["jax"]
    assert [len(r["epoch_seconds"]) for rs in row["runs"].values() for r in rs] == [2, 2]


def test_the_jobs_config_is_composed_from_overrides(tmp_path):
    """The measured job's settings come from conf/ through Hydra's compose API, as a job's do."""
    from prepbench.config import compose

    path = tmp_path / "café (2)" / "it's,a=zip.zip"
    spec = dict(backend="jax", net="deep", variant="zca", epochs=2, overrides=backend_speed.folder_data(path, 300))
    cfg = compose(backend_speed.job_overrides(spec))
    assert (cfg.data.source, cfg.data.path, cfg.data.train_size, cfg.data.val_size) == ("folder", str(path), 300, 1000)
    assert (cfg.net.name, cfg.prep.name, cfg.trainer.backend, cfg.trainer.epochs) == ("deep", "zca", "jax", 2)
    assert (cfg.trainer.precision, cfg.trainer.schedule, cfg.trainer.warmup_epochs) == ("float32", "constant", 0)
    assert cfg.trainer.batch_size == compose([]).trainer.batch_size
