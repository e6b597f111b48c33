"""The residual family (`net=resnet`): He et al. 2016's CIFAR ResNets, 6n+2 weighted layers.

    conv3x3(w), BN, ReLU
    three stages of n basic blocks at w, 2w, 4w filters (feature maps 32, 16, 8 for CIFAR);
      a block: conv3x3, BN, ReLU, conv3x3, BN, + shortcut, ReLU
      stride 2 in the first convolution of stages 2 and 3
      shortcut: identity, or where the shape changes a 1x1 convolution with stride 2 and BN
      (the paper's option B; its CIFAR experiments used option A, zero-padded identity)
    global average pooling, dense(classes)

With w = 16: ResNet-20 (n = 3) has 274,042 parameters (batch norm's moving statistics included)
and 40.8 M multiply-adds per 32x32 image (`forward_multiply_adds`); `python -m prepbench.nets
--resnet 8,14,20,32,56` prints the table per depth.

Every layer draws its initial weights from its own seed, derived from the run's seed and the
layer's position, as the plain nets do (prepbench.train.nets): for one seed and depth every
preprocessing variant starts from the same weights.
"""

from __future__ import annotations

import math

from prepbench.rules import check_resnet_depth

STAGES = 3


def blocks_per_stage(depth: int) -> int:
    """n of a 6n+2-layer ResNet; any other depth is refused in one line."""
    check_resnet_depth(depth)
    return (depth - 2) // 6


def build_resnet(*, depth: int, width: int, num_classes: int, input_shape, seed: int, batchnorm_momentum: float):
    """An uncompiled Keras ResNet taking preprocessed float32 NHWC images, returning float32 logits;
    the layers in between compute in the global Keras dtype policy (prepbench.train.precision)."""
    import keras
    from keras import layers

    blocks = blocks_per_stage(depth)
    seeds = iter(range(seed * 1000, seed * 1000 + 1000))  # one per layer, as in prepbench.train.nets

    def conv(filters, size, strides=1):
        # No bias: the batch norm after every convolution has its own shift.
        he = keras.initializers.HeNormal(seed=next(seeds))
        return layers.Conv2D(filters, size, strides=strides, padding="same", use_bias=False, kernel_initializer=he)

    def norm():
        return layers.BatchNormalization(momentum=batchnorm_momentum)

    inputs = keras.Input(shape=tuple(input_shape))
    x = layers.ReLU()(norm()(conv(width, 3)(inputs)))
    for stage in range(STAGES):
        filters = width * 2**stage
        for block in range(blocks):
            strides = 2 if stage > 0 and block == 0 else 1
            y = layers.ReLU()(norm()(conv(filters, 3, strides)(x)))
            y = norm()(conv(filters, 3)(y))
            if strides != 1 or x.shape[-1] != filters:  # option B: a projection where the shape changes
                x = norm()(conv(filters, 1, strides)(x))
            x = layers.ReLU()(layers.Add()([x, y]))  # the shortcut joins before the block's second ReLU
    x = layers.GlobalAveragePooling2D()(x)
    # float32 logits under a mixed policy: the softmax, the loss and the metrics stay in float32.
    outputs = layers.Dense(
        num_classes, kernel_initializer=keras.initializers.GlorotUniform(seed=next(seeds)), dtype="float32"
    )(x)
    return keras.Model(inputs, outputs, name=f"resnet{depth}_w{width}")


def forward_multiply_adds(model) -> int:
    """Multiply-adds of one image's forward pass through the convolutions and dense layers, read
    from the built model's layer shapes (what the literature calls FLOPs: ResNet-20's ~41 M). Batch
    norm, ReLU, the additions and the pooling are left out: under 1% here."""
    total = 0
    for layer in model.layers:
        kind = type(layer).__name__
        if kind == "Conv2D":
            kh, kw, cin, cout = layer.kernel.shape
            _, h, w, _ = layer.output.shape
            total += h * w * cout * kh * kw * cin
        elif kind == "Dense":
            total += layer.kernel.shape[0] * layer.kernel.shape[1]
    return int(total)


def depth_table(depths, *, width: int = 16, num_classes: int = 10, input_shape=(32, 32, 3)) -> list[dict]:
    """Per depth: n, parameters (all, and trainable) and forward multiply-adds of one image."""
    rows = []
    for depth in depths:
        model = build_resnet(
            depth=depth, width=width, num_classes=num_classes, input_shape=input_shape, seed=0, batchnorm_momentum=0.9
        )
        trainable = sum(math.prod(w.shape) for w in model.trainable_weights)
        rows.append(
            dict(
                depth=depth,
                blocks=blocks_per_stage(depth),
                parameters=model.count_params(),
                trainable=trainable,
                multiply_adds=forward_multiply_adds(model),
            )
        )
    return rows


def markdown_table(rows: list[dict]) -> str:
    """The depth table as the docs show it (docs/resnet.md)."""
    lines = [
        "| net | n | parameters | trainable | forward multiply-adds | forward FLOPs (2 per multiply-add) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        macs = r["multiply_adds"]
        lines.append(
            f"| ResNet-{r['depth']} | {r['blocks']} | {r['parameters']:,} | {r['trainable']:,} | "
            f"{macs / 1e6:.1f} M | {2 * macs / 1e6:.1f} M |"
        )
    return "\n".join(lines)
