"""Both augmentation policies for any Keras backend: parameters drawn in numpy, the warp with keras.ops.

`prep.augment` picks the policy (`policy_of`): true is the memo's (rotation, shifts, flip: `draw`), crop
is He et al. 2016's (zero padding, a random crop back to the image's size, flip: `draw_crop`).

The TensorFlow path (`augment_tf.draw_augmentation`, `augment_tf.augment_batch`) draws each batch's
rotation, shifts and flips inside tf.data from TensorFlow's stateless RNG, seeded by (seed, batch).
`draw` below computes the very same numbers in numpy: TensorFlow's stateless RNG on CPU and GPU is
Philox-4x32-10 with a fixed seed scrambling, reproduced here bit for bit (tests/test_augment.py
compares both). So a job on JAX gets, batch for batch, the transforms its TensorFlow twin gets,
without TensorFlow and without changing a number on the TensorFlow path.

    >>> t = transforms(seed=0, batch=3, count=128, height=32, width=32, params=cfg.augmentation)
    >>> x = apply(images, t, fill_mode="nearest")       # keras.ops: on the backend's device
    >>> t = transforms(0, 3, 128, 32, 32, cfg.augmentation, policy="crop")
    >>> x = apply(images, t, **warp_options("crop", cfg.augmentation))   # nearest, zeros outside

`apply` warps with `keras.ops.image.affine_transform` (bilinear, the fill mode of the config); it
matches TensorFlow's ImageProjectiveTransformV3 to float rounding (the test states the tolerance).
"""

from __future__ import annotations

import numpy as np

_MASK = np.uint64(0xFFFFFFFF)
_M0, _M1 = np.uint64(0xD2511F53), np.uint64(0xCD9E8D57)  # Philox-4x32 multipliers
_W0, _W1 = np.uint64(0x9E3779B9), np.uint64(0xBB67AE85)  # Weyl key increments
_SCRAMBLE_KEY = (np.uint64(0x3EC8F720), np.uint64(0x02461E29))  # TensorFlow's seed-scrambling key


def philox(counters: np.ndarray, key) -> np.ndarray:
    """Philox-4x32-10 on (n, 4) uint32 counters with a 2 x uint32 key: (n, 4) uint32 outputs."""
    c = [counters[:, i].astype(np.uint64) for i in range(4)]
    k0, k1 = np.uint64(key[0]), np.uint64(key[1])
    for _ in range(10):
        p0, p1 = _M0 * c[0], _M1 * c[2]  # 32 x 32 -> 64 bits: exact in uint64
        c = [((p1 >> np.uint64(32)) ^ c[1] ^ k0), p1 & _MASK, ((p0 >> np.uint64(32)) ^ c[3] ^ k1), p0 & _MASK]
        k0, k1 = (k0 + _W0) & _MASK, (k1 + _W1) & _MASK
    return np.stack(c, axis=1).astype(np.uint32)


def _key_counter(seed) -> tuple[tuple[np.uint64, np.uint64], np.ndarray]:
    """TensorFlow's StatelessRandomGetKeyCounter for Philox: an int32 seed pair, each sign-extended to
    64 bits, is the counter of one Philox block under a fixed key; its output is the key and counter."""
    s = np.asarray(seed, dtype=np.int64).astype(np.uint64)  # int32 -> uint64 sign-extends, as TF does
    counter = np.array([[s[0] & _MASK, s[0] >> np.uint64(32), s[1] & _MASK, s[1] >> np.uint64(32)]], np.uint64)
    mix = philox(counter.astype(np.uint32), _SCRAMBLE_KEY)[0]
    return (mix[0], mix[1]), np.array([0, 0, mix[2], mix[3]], np.uint32)


def random_bits(seed, count: int) -> np.ndarray:
    """`count` uint32s as TensorFlow's stateless ops draw them from `seed` (output i is word i % 4
    of the Philox block at counter + i // 4)."""
    key, counter = _key_counter(seed)
    blocks = -(-count // 4)
    counters = np.tile(counter, (blocks, 1))
    counters[:, 0] = np.arange(blocks, dtype=np.uint32)  # the counter's low words start at 0: no carry
    return philox(counters, key).reshape(-1)[:count]


def split(seed, num: int) -> np.ndarray:
    """tf.random.experimental.stateless_split for an int32 seed pair: (num, 2) int32 seeds."""
    return random_bits(seed, 2 * num).view(np.int32).reshape(num, 2)


def uniform(seed, count: int, low: float = 0.0, high: float = 1.0) -> np.ndarray:
    """tf.random.stateless_uniform(float32) in [low, high): 23 random mantissa bits, then
    u * (high - low) + low in float32, as TensorFlow computes it."""
    bits = (random_bits(seed, count) & np.uint32(0x7FFFFF)) | np.uint32(0x3F800000)
    u = bits.view(np.float32) - np.float32(1.0)
    low, high = np.float32(low), np.float32(high)
    return u * (high - low) + low


def draw(seed, count: int, height: int, width: int, params):
    """`augment_tf.draw_augmentation` in numpy: per image angle (radians), shifts dx, dy (pixels)
    and a flip flag, for a batch of `count` images whose stateless seed is the int32 pair `seed`."""
    seeds = split(seed, 4)
    limit = float(np.deg2rad(params.rotation_degrees))
    angle = uniform(seeds[0], count, -limit, limit)
    dx = uniform(seeds[1], count, -1.0, 1.0) * np.float32(params.shift_fraction) * np.float32(width)
    dy = uniform(seeds[2], count, -1.0, 1.0) * np.float32(params.shift_fraction) * np.float32(height)
    flip = (uniform(seeds[3], count) < np.float32(0.5)) & bool(params.horizontal_flip)
    return angle, dx, dy, flip


def draw_crop(seed, count: int, params):
    """`augment_tf.draw_crop` in numpy: per image the crop's offsets ox, oy in the padded image
    (integers 0 .. 2 * crop_padding, uniform) and a flip flag. The flips are the memo policy's draws
    (the same split seed), so a batch flips the same images under either policy."""
    seeds = split(seed, 4)
    positions = np.float32(2 * params.crop_padding + 1)
    ox = np.minimum(np.floor(uniform(seeds[1], count, 0.0, positions)), positions - 1)
    oy = np.minimum(np.floor(uniform(seeds[2], count, 0.0, positions)), positions - 1)
    flip = (uniform(seeds[3], count) < np.float32(0.5)) & bool(params.horizontal_flip)
    return ox.astype(np.int32), oy.astype(np.int32), flip


def crop_matrices(ox, oy, flip, padding: int, width: int) -> np.ndarray:
    """The (count, 8) transforms of pad-crop-flip as an integer shift: output pixel (x, y) reads input
    (x' + ox - padding, y + oy - padding), x' = width - 1 - x when flipped; outside the image is the
    padding's zero."""
    f = np.where(flip, np.float32(-1), np.float32(1))
    start = np.where(flip, np.float32(width - 1), np.float32(0))
    one, zero = np.ones_like(f), np.zeros_like(f)
    rows = [f, zero, start + (ox - padding), zero, one, (oy - padding) * one, zero, zero]
    return np.stack(rows, axis=1).astype(np.float32)


def matrices(angle, dx, dy, flip, height: int, width: int) -> np.ndarray:
    """The (count, 8) projective transforms of `augment_tf.augment_batch`, float32: output pixel
    (x, y) reads input (a0 x + a1 y + a2, b0 x + b1 y + b2): flip, rotate about the centre, shift."""
    f32 = np.float32
    cx, cy = (f32(width) - f32(1)) / f32(2), (f32(height) - f32(1)) / f32(2)
    f = np.where(flip, f32(-1), f32(1))
    u0 = (f32(1) - f) * cx
    cos, sin = np.cos(angle), np.sin(angle)
    zero = np.zeros_like(cos)
    rows = [
        cos * f,
        -sin,
        cos * (u0 - cx) + sin * cy + cx - dx,
        sin * f,
        cos,
        sin * (u0 - cx) - cos * cy + cy - dy,
        zero,
        zero,
    ]
    return np.stack(rows, axis=1).astype(np.float32)


def transforms(seed: int, batch: int, count: int, height: int, width: int, params, policy: str = "memo") -> np.ndarray:
    """The transforms of batch `batch` (counted over the whole run) of a job with seed `seed`: the
    TensorFlow path seeds that batch's draws with the pair (seed, batch) too."""
    pair = np.array([seed, batch], np.int32)
    if policy == "crop":
        return crop_matrices(*draw_crop(pair, count, params), params.crop_padding, width)
    angle, dx, dy, flip = draw(pair, count, height, width, params)
    return matrices(angle, dx, dy, flip, height, width)


def policy_of(augment) -> str | None:
    """`prep.augment` as a policy: false None, true "memo" (the memo's settings), "crop" itself."""
    return "memo" if augment is True else (augment or None)


def warp_options(policy: str, params) -> dict:
    """`apply`'s sampling for a policy: the memo's bilinear with its fill mode; crop's integer shift
    read exactly (nearest) with zeros outside (He et al.'s zero padding)."""
    if policy == "crop":
        return dict(fill_mode="constant", interpolation="nearest")
    return dict(fill_mode=params.fill_mode, interpolation="bilinear")


def apply(images, transform, fill_mode: str, interpolation: str = "bilinear"):
    """Warp a float NHWC batch by (count, 8) transforms with keras.ops, bilinear (or nearest),
    `fill_mode` fill (nearest, constant with 0, reflect or wrap, named as TensorFlow names them)."""
    import keras

    return keras.ops.image.affine_transform(
        images, transform, interpolation=interpolation, fill_mode=fill_mode, fill_value=0.0, data_format="channels_last"
    )
