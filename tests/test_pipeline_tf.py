"""prepbench.train.pipeline_tf: the TensorFlow backend's tf.data input (its batches are checked
against the numpy pipeline's in tests/test_pipeline_numpy.py)."""

import numpy as np
from omegaconf import OmegaConf

from prepbench import ROOT
from prepbench.variants import build


def test_no_dataset_autotunes_so_no_epoch_waits_on_a_tuning_thread(synthetic_splits):
    """Keras makes each dataset's iterator anew every epoch, and an autotuned iterator's release
    waits for its tuning thread's timed sleep; with a fixed parallelism the batches are the same,
    in the same order, epoch after epoch."""
    from prepbench.train import pipeline_tf

    augmentation = OmegaConf.load(ROOT / "conf" / "config.yaml").augmentation
    inputs = pipeline_tf.make_inputs(
        synthetic_splits, build("crop"), batch_size=32, epochs=2, seed=1, augmentation=augmentation
    )
    for dataset in (inputs.train, inputs.val, inputs.test):
        assert dataset.options().autotune.enabled is False
    first = [x.numpy() for x, _ in inputs.run_batches(2)]
    again = [x.numpy() for x, _ in inputs.run_batches(2)]
    assert len(first) == 2 * inputs.steps_per_epoch
    for a, b in zip(first, again, strict=True):
        np.testing.assert_array_equal(a, b)
