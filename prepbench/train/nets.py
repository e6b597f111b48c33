"""The networks by config (`build_net`): the plain family here, the residual one in
prepbench.train.resnet (net.family=resnet).

Plain: shallow and deep CIFAR CNNs from three knobs: depth (convolutions), width, dense units.

Convolutions are spread over up to four stages; each stage doubles the filters and ends with
2x2 max pooling. depth=2: conv(w)-pool-conv(2w)-pool. depth=8: two convolutions per stage, VGG
style. Then flatten, dense(units, relu), dense(classes).

Every layer draws its initial weights from its own seed derived from the run's seed and the
layer's position, so for a given seed and architecture every preprocessing variant starts from
the same weights, with or without batch normalization in between.
"""

from __future__ import annotations

MAX_STAGES = 4


def build_net(net, *, num_classes: int, input_shape, batchnorm: bool, seed: int, batchnorm_momentum=None):
    """The model a net config (conf/net/*.yaml) describes. The plain family takes prep.batchnorm and
    its momentum; the residual one normalizes already (prep.batchnorm=true refused, rules) with its
    own net.batchnorm_momentum, which conf/net/resnet.yaml takes from prep.batchnorm_momentum when set."""
    if net.get("family", "plain") == "resnet":  # configs from before the families were plain
        from prepbench.rules import check_resnet_batchnorm
        from prepbench.train.resnet import build_resnet

        check_resnet_batchnorm(batchnorm)
        return build_resnet(
            depth=net.depth,
            width=net.width,
            num_classes=num_classes,
            input_shape=input_shape,
            seed=seed,
            batchnorm_momentum=net.batchnorm_momentum,
        )
    return build_model(
        depth=net.depth,
        width=net.width,
        dense=net.dense,
        num_classes=num_classes,
        input_shape=input_shape,
        batchnorm=batchnorm,
        batchnorm_momentum=batchnorm_momentum,
        dropout=net.get("dropout", 0.0),
        input_dropout=net.get("input_dropout", 0.0),
        seed=seed,
    )


def stage_plan(depth: int, width: int) -> list[list[int]]:
    """Filters of each convolution, grouped by stage: stage_plan(8, 32) = [[32, 32], [64, 64], ...]."""
    stages = min(depth, MAX_STAGES)
    per_stage = [depth // stages + (i < depth % stages) for i in range(stages)]
    return [[width * 2**i] * count for i, count in enumerate(per_stage)]


def build_model(
    *,
    depth: int,
    width: int,
    dense: int,
    num_classes: int,
    input_shape,
    batchnorm: bool,
    seed: int,
    batchnorm_momentum: float | None = None,
    dropout: float = 0.0,
    input_dropout: float = 0.0,
):
    """An uncompiled Keras model taking preprocessed float32 NHWC images, returning float32 logits;
    the layers in between compute in the global Keras dtype policy (prepbench.train.precision).
    `batchnorm_momentum` None keeps Keras' own (0.99). `dropout` after the hidden dense layer and
    `input_dropout` on the images: a rate of 0 adds no layer, so such a model is the one without."""
    import keras
    from keras import layers

    seeds = iter(range(seed * 1000, seed * 1000 + 1000))
    he = lambda: keras.initializers.HeNormal(seed=next(seeds))  # noqa: E731 (one seed per layer)

    # Dropout draws from seeds after the initializers', so adding it never moves the initial weights.
    dropout_seeds = iter(range(seed * 1000 + 998, seed * 1000 + 1000))
    inputs = keras.Input(shape=tuple(input_shape))
    x = inputs
    if input_dropout:
        x = layers.Dropout(input_dropout, seed=next(dropout_seeds))(x)
    for stage in stage_plan(depth, width):
        for filters in stage:
            x = layers.Conv2D(filters, 3, padding="same", use_bias=not batchnorm, kernel_initializer=he())(x)
            if batchnorm:
                x = layers.BatchNormalization(**({"momentum": batchnorm_momentum} if batchnorm_momentum else {}))(x)
            x = layers.ReLU()(x)
        x = layers.MaxPooling2D()(x)
    x = layers.Flatten()(x)
    x = layers.Dense(dense, activation="relu", kernel_initializer=he())(x)
    if dropout:
        x = layers.Dropout(dropout, seed=next(dropout_seeds))(x)
    # float32 logits under a mixed policy: the softmax, the loss and the metrics stay in float32.
    outputs = layers.Dense(
        num_classes, kernel_initializer=keras.initializers.GlorotUniform(seed=next(seeds)), dtype="float32"
    )(x)
    name = f"cnn_d{depth}_w{width}" + ("_bn" if batchnorm else "")
    return keras.Model(inputs, outputs, name=name)


def describe(model) -> str:
    """One line per layer with its output shape and parameters, for docs/nets.md and the logs."""
    rows = [f"{layer.name:<24} {str(layer.output.shape):<22} {layer.count_params():>9,}" for layer in model.layers[1:]]
    return "\n".join(rows + [f"{'total':<47} {model.count_params():>9,}"])
