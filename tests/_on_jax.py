"""`python tests/_on_jax.py IN.npz OUT.npz`: the JAX side of tests/test_augment.py, in a process where
Keras runs on JAX and `import tensorflow` fails. IN holds images, transforms and splits; OUT the
warped images per fill mode and for the crop policy, the keras.ops normalizations and every batch of a
JAX training input under either augmentation policy."""

import json
import os
import sys

sys.modules["tensorflow"] = None
os.environ["KERAS_BACKEND"] = "jax"

import numpy as np  # noqa: E402
from omegaconf import OmegaConf  # noqa: E402

from prepbench.data.splits import Splits  # noqa: E402
from prepbench.prep import augment  # noqa: E402
from prepbench.variants import build  # noqa: E402

FILL_MODES = ("nearest", "constant", "reflect", "wrap")
NORMALIZATIONS = ("minmax", "samplewise", "std", "zca")

data = dict(np.load(sys.argv[1]))
out = {}
for mode in FILL_MODES:
    out[f"warp_{mode}"] = np.asarray(augment.apply(data["images"], data["transforms"], mode))
params = OmegaConf.create(json.loads(str(data["params"])))
crop = augment.warp_options("crop", params)
out["warp_crop"] = np.asarray(augment.apply(data["images"], data["crop_transforms"], **crop))
for name in NORMALIZATIONS:
    p = build(name).fit(data["x_train"])
    out[f"normalize_{name}"] = np.asarray(p.normalize_ops(p.scale(data["x_train"][:20])))

import keras  # noqa: E402

from prepbench.train.pipeline_numpy import make_inputs  # noqa: E402

assert keras.backend.backend() == "jax"
splits = Splits(
    *(data[k] for k in ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test")), ("a", "b", "c"), "test"
)
for name, policy in (("pipeline", True), ("crop_pipeline", "crop")):
    p = build("std", augment=policy).fit(splits.x_train)
    batches = list(make_inputs(splits, p, batch_size=24, epochs=2, seed=3, augmentation=params).run_batches(2))
    out[f"{name}_x"] = np.concatenate([np.asarray(x) for x, _ in batches])
    out[f"{name}_y"] = np.concatenate([np.asarray(y) for _, y in batches])
    out[f"{name}_sizes"] = np.array([len(y) for _, y in batches])
np.savez(sys.argv[2], **out)
