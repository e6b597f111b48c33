"""prepbench.backend_speed: the same job on both backends, each in its own process."""

import pytest

from prepbench import backend_speed


@pytest.mark.slow
def test_the_same_job_runs_on_both_backends_and_gives_a_ratio(tmp_path):
    pytest.importorskip("jax")
    data = dict(backend_speed.synthetic_data(), cache_dir=str(tmp_path))
    rows = backend_speed.compare(
        data,
        nets=("shallow",),
        variants=("augment",),
        epochs=2,
        repeats=1,
        net_overrides=dict(width=4, dense=8),
        log=lambda line: None,
    )
    row = rows["shallow.augment"]
    assert row["ratio"] > 0 and row["tensorflow_images_per_second"] > 0 and row["jax_images_per_second"] > 0
    assert [r["backend"] for r in row["runs"]["jax"]] == ["jax"]
    assert [len(r["epoch_seconds"]) for rs in row["runs"].values() for r in rs] == [2, 2]
