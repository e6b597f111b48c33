"""prepbench.data.splits: the split of a data set (sizes, strata, the validation set that never moves)
and what it refuses."""

import numpy as np
import pytest

from prepbench.data.splits import load_splits, stratified_pick
from prepbench.errors import PrepbenchError
from tests._images import folder_cfg, make_tree, synthetic_cfg


def test_split_sizes_and_independence_of_val(tmp_path):
    full = load_splits(synthetic_cfg(tmp_path))
    small = load_splits(synthetic_cfg(tmp_path, train_size=40, test_size=20))
    assert np.bincount(small.y_train).tolist() == [10, 10, 10, 10]
    assert np.bincount(small.y_test).tolist() == [5, 5, 5, 5]
    # Validation never moves when train_size or test_size change.
    assert np.array_equal(full.x_val, small.x_val) and np.array_equal(full.y_val, small.y_val)
    assert small.fingerprint != full.fingerprint
    # Validation and training never share an image (each synthetic image is unique with noise).
    val_rows = {row.tobytes() for row in full.x_val}
    assert not any(row.tobytes() in val_rows for row in full.x_train)
    reseeded = load_splits(synthetic_cfg(tmp_path, split_seed=1))
    assert not np.array_equal(reseeded.x_val, full.x_val)


def test_stratified_pick_rounds_to_exact_count():
    labels = np.array([0] * 7 + [1] * 5 + [2] * 3)
    picked, rest = stratified_pick(labels, np.arange(15), 4, np.random.default_rng(0))
    assert len(picked) == 4 and len(rest) == 11
    assert sorted(np.concatenate([picked, rest]).tolist()) == list(range(15))
    assert np.bincount(labels[picked], minlength=3).tolist() == [2, 1, 1]


@pytest.mark.parametrize(
    "overrides, message",
    [
        (dict(val_size=401), "data.val_size=401 is larger than the 400 training images"),
        (
            dict(train_size=321),
            "data.train_size=321 is larger than the 320 training images left after data.val_size=80",
        ),
        (dict(test_size=121), "data.test_size=121 is larger than the 120 test images"),
        (dict(val_size=-1), "data.val_size=-1 is out of range; expected an integer >= 0"),
        (dict(train_size=1.5), "data.train_size=1.5 is out of range; expected null or an integer >= 1"),
    ],
)
def test_split_sizes_too_large_or_invalid(tmp_path, overrides, message):
    with pytest.raises(PrepbenchError, match=message.replace(".", r"\.")):
        load_splits(synthetic_cfg(tmp_path, **overrides))


def test_unknown_source(tmp_path):
    with pytest.raises(PrepbenchError, match="data.source='imagenet' is unknown"):
        load_splits(synthetic_cfg(tmp_path, source="imagenet"))


def test_fewer_training_images_than_classes_are_refused(tmp_path):
    with pytest.raises(
        PrepbenchError,
        match=r"data.train_size=3 leaves 3 training image\(s\) for 4 classes, none of class "
        r"class_\d; expected at least one training image per class \(train_size >= 4\)",
    ):
        load_splits(synthetic_cfg(tmp_path, train_size=3))
    tree = make_tree(tmp_path / "tree", classes=("cat", "dog", "emu"), per_class=(1, 1))
    with pytest.raises(
        PrepbenchError, match=r"the 3 training images less data.val_size=2 leaves 1 training image\(s\) for 3"
    ):
        load_splits(folder_cfg(tmp_path, tree, val_size=2))
    assert len(load_splits(synthetic_cfg(tmp_path, train_size=4)).y_train) == 4  # one per class is enough


def test_val_size_zero_gives_an_empty_validation_split(tmp_path):
    splits = load_splits(synthetic_cfg(tmp_path, val_size=0))
    assert splits.x_val.shape == (0, 16, 16, 3) and len(splits.y_train) == 400


def test_statistics_can_be_fitted_on_more_of_the_training_split_than_trains(tmp_path):
    small = load_splits(synthetic_cfg(tmp_path, train_size=40))
    full = load_splits(synthetic_cfg(tmp_path))
    fit = small.fit_images(200)
    np.testing.assert_array_equal(fit[:40], small.x_train)  # the training images first
    pool = {image.tobytes() for image in full.x_train}
    assert all(image.tobytes() in pool for image in fit)  # never validation or test
    assert small.fit_images(None) is small.x_train and len(small.fit_images(len(full.x_train))) == len(full.x_train)
    with pytest.raises(PrepbenchError, match=r"prep.zca_fit_images=321 is out of range; expected from the 40"):
        small.fit_images(321)
    with pytest.raises(PrepbenchError, match=r"prep.zca_fit_images=39 is out of range"):
        small.fit_images(39)
