import numpy as np
import pytest

from prepbench.train.nets import build_model, describe, stage_plan


@pytest.mark.parametrize(
    "depth,plan",
    [
        (1, [[32]]),
        (2, [[32], [64]]),
        (4, [[32], [64], [128], [256]]),
        (8, [[32, 32], [64, 64], [128, 128], [256, 256]]),
        (6, [[32, 32], [64, 64], [128], [256]]),
    ],
)
def test_stage_plan_spreads_convolutions_over_up_to_four_stages(depth, plan):
    assert stage_plan(depth, 32) == plan
    assert sum(map(len, plan)) == depth


def model(**overrides):
    options = dict(depth=2, width=8, dense=16, num_classes=10, input_shape=(32, 32, 3), batchnorm=False, seed=0)
    return build_model(**(options | overrides))


def conv_kernels(m):
    return [layer.get_weights()[0] for layer in m.layers if layer.__class__.__name__ == "Conv2D"]


def test_batch_norm_after_every_convolution_and_nowhere_else():
    m = model(depth=8, batchnorm=True)
    names = [layer.__class__.__name__ for layer in m.layers]
    assert names.count("Conv2D") == 8 and names.count("BatchNormalization") == 8
    assert all(names[i + 1] == "BatchNormalization" for i, n in enumerate(names) if n == "Conv2D")
    assert "BatchNormalization" not in [layer.__class__.__name__ for layer in model(depth=8).layers]


def test_same_seed_same_initial_weights_with_or_without_batch_norm():
    """Pairing: for one seed every variant, batchnorm included, starts from the same kernels."""
    for a, b in zip(conv_kernels(model(seed=3)), conv_kernels(model(seed=3, batchnorm=True))):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(conv_kernels(model(seed=3))[0], conv_kernels(model(seed=4))[0])


def test_logits_shape_and_describe_lists_every_layer():
    m = model()
    assert m(np.zeros((2, 32, 32, 3), np.float32)).shape == (2, 10)
    text = describe(m)
    assert "conv2d" in text and text.strip().endswith(f"{m.count_params():,}")


def test_batch_norm_momentum_comes_from_the_caller_or_stays_keras_default():
    momenta = lambda m: {layer.momentum for layer in m.layers if layer.__class__.__name__ == "BatchNormalization"}  # noqa: E731
    assert momenta(model(batchnorm=True, batchnorm_momentum=0.9)) == {0.9}
    assert momenta(model(batchnorm=True)) == {0.99}


def test_dropout_adds_layers_without_moving_the_initial_weights():
    def model(**dropout):
        return build_model(
            depth=2, width=4, dense=8, num_classes=3, input_shape=(8, 8, 3), batchnorm=False, seed=1, **dropout
        )

    plain, dropped = model(), model(dropout=0.5, input_dropout=0.1)
    assert [type(layer).__name__ for layer in dropped.layers].count("Dropout") == 2
    assert not any(type(layer).__name__ == "Dropout" for layer in plain.layers)
    for a, b in zip(plain.get_weights(), dropped.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
