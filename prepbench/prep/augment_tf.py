"""The memo's augmentation in TensorFlow, vectorised per batch: each batch's rotation, shifts and flips
drawn from a stateless seed, the warp as one op (tf.data's training batches)."""

from __future__ import annotations

import numpy as np


def draw_augmentation(seed, batch_size: int, height: int, width: int, params):
    """Per-image random draws for one batch, from a stateless seed (two int32s): angle in radians,
    shifts in pixels, and a flip flag. Same seed, same draws, on any thread."""
    import tensorflow as tf

    seeds = tf.random.experimental.stateless_split(tf.cast(seed, tf.int32), num=4)
    limit = float(np.deg2rad(params.rotation_degrees))
    angle = tf.random.stateless_uniform([batch_size], seeds[0], -limit, limit)
    dx = tf.random.stateless_uniform([batch_size], seeds[1], -1.0, 1.0) * params.shift_fraction * width
    dy = tf.random.stateless_uniform([batch_size], seeds[2], -1.0, 1.0) * params.shift_fraction * height
    coin = tf.random.stateless_uniform([batch_size], seeds[3])
    flip = tf.logical_and(coin < 0.5, bool(params.horizontal_flip))
    return angle, dx, dy, flip


def augment_batch(images, seed, params):
    """The memo's augmentation on a float32 NHWC batch in one vectorised op: rotation about the
    centre, shift, horizontal flip, bilinear sampling and `params.fill_mode` fill, as IDG does."""
    import tensorflow as tf

    shape = tf.shape(images)
    b, h, w = shape[0], shape[1], shape[2]
    angle, dx, dy, flip = draw_augmentation(seed, b, tf.cast(h, tf.float32), tf.cast(w, tf.float32), params)
    cx, cy = (tf.cast(w, tf.float32) - 1) / 2, (tf.cast(h, tf.float32) - 1) / 2
    f = tf.where(flip, -1.0, 1.0)
    u0 = (1 - f) * cx  # flipping maps output column x to input column (w - 1) - x
    cos, sin = tf.cos(angle), tf.sin(angle)
    # Output pixel (x, y) reads input (a0 x + a1 y + a2, b0 x + b1 y + b2): flip, rotate, shift.
    transforms = tf.stack(
        [
            cos * f,
            -sin,
            cos * (u0 - cx) + sin * cy + cx - dx,
            sin * f,
            cos,
            sin * (u0 - cx) - cos * cy + cy - dy,
            tf.zeros_like(cos),
            tf.zeros_like(cos),
        ],
        axis=1,
    )
    return tf.raw_ops.ImageProjectiveTransformV3(
        images=images,
        transforms=transforms,
        output_shape=shape[1:3],
        fill_value=0.0,
        interpolation="BILINEAR",
        fill_mode=params.fill_mode.upper(),
    )
