"""Both augmentation policies in TensorFlow, vectorised per batch (tf.data's training batches): the
memo's rotation, shifts and flips (`augment_batch`) or He et al.'s pad, crop and flip (`crop_batch`),
drawn from a stateless seed, the warp as one op."""

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


def draw_crop(seed, batch_size: int, params):
    """Per-image draws of the crop policy from a stateless seed: the crop's offsets in the padded
    image (integers 0 .. 2 * crop_padding, uniform) and a flip flag, the memo policy's flip draw."""
    import tensorflow as tf

    seeds = tf.random.experimental.stateless_split(tf.cast(seed, tf.int32), num=4)
    positions = float(2 * params.crop_padding + 1)
    # floor of a float draw, not an integer draw: prepbench.prep.augment reproduces it bit for bit
    ox = tf.minimum(tf.floor(tf.random.stateless_uniform([batch_size], seeds[1], 0.0, positions)), positions - 1)
    oy = tf.minimum(tf.floor(tf.random.stateless_uniform([batch_size], seeds[2], 0.0, positions)), positions - 1)
    coin = tf.random.stateless_uniform([batch_size], seeds[3])
    flip = tf.logical_and(coin < 0.5, bool(params.horizontal_flip))
    return tf.cast(ox, tf.int32), tf.cast(oy, tf.int32), flip


def crop_batch(images, seed, params):
    """He et al. 2016's augmentation on a float32 NHWC batch in one op: zero padding by
    `params.crop_padding` pixels, a random crop back to the batch's size, a horizontal flip. An
    integer shift read with nearest sampling, so every pixel is an input pixel or the padding's 0."""
    import tensorflow as tf

    shape = tf.shape(images)
    ox, oy, flip = draw_crop(seed, shape[0], params)
    pad = float(params.crop_padding)
    f = tf.where(flip, -1.0, 1.0)
    start = tf.where(flip, tf.cast(shape[2], tf.float32) - 1, 0.0)
    one, zero = tf.ones_like(f), tf.zeros_like(f)
    # Output pixel (x, y) reads input (f x + start + ox - pad, y + oy - pad): crop, then flip.
    dx, dy = tf.cast(ox, tf.float32) - pad, tf.cast(oy, tf.float32) - pad
    transforms = tf.stack([f, zero, start + dx, zero, one, dy, zero, zero], axis=1)
    return tf.raw_ops.ImageProjectiveTransformV3(
        images=images,
        transforms=transforms,
        output_shape=shape[1:3],
        fill_value=0.0,
        interpolation="NEAREST",
        fill_mode="CONSTANT",
    )


def augment_policy_batch(images, seed, params, policy: str):
    """The batch augmented by `policy` (prepbench.prep.augment.policy_of): crop, or the memo's."""
    return crop_batch(images, seed, params) if policy == "crop" else augment_batch(images, seed, params)
