"""Section 8: each Keras line of the memo run against the installed Keras 3, with its replacement."""

from __future__ import annotations

import re

import numpy as np

from prepbench.document import Document
from prepbench.memo.inputs import Memo
from prepbench.memo.sections import Section

TITLE = "8 keras 3 checks"

# Section 8: each line of the memo's code that touches a Keras API, how it is checked here, and its
# Keras 3 replacement. Every snippet runs in this process; `model`, `x`, `y`, `datagen` and `np` are given.
KERAS_LINES = [
    dict(
        memo="from keras.preprocessing.image import ImageDataGenerator",
        check="from keras.preprocessing.image import ImageDataGenerator",
        replacement="from tensorflow.keras.preprocessing.image import ImageDataGenerator",
        check_replacement="from tensorflow.keras.preprocessing.image import ImageDataGenerator as G\n"
        "result = G.__module__",
    ),
    dict(
        memo="y_train = np_utils.to_categorical(y_train, num_classes)",
        check="from keras.utils import np_utils",
        replacement="y_train = keras.utils.to_categorical(y_train, num_classes)",
        check_replacement="import keras\nresult = keras.utils.to_categorical(y, 10).shape",
    ),
    dict(
        memo="model.fit_generator(datagen.flow(x_train, y_train, batch_size=32), ...)",
        check="model.fit_generator",
        replacement="model.fit(datagen.flow(x_train, y_train, batch_size=32), ...)",
        check_replacement="h = model.fit(datagen.flow(x, y, batch_size=4), steps_per_epoch=2, epochs=1, verbose=0)\n"
        "result = 'trained 2 steps, loss %.3f' % h.history['loss'][0]",
    ),
    dict(
        memo="steps_per_epoch=len(x_train) / 32",
        check="model.fit(datagen.flow(x, y, batch_size=4), steps_per_epoch=len(x) / 4, epochs=1, verbose=0)\n"
        "assert len(x) % 4 == 0  # a whole number, and still a float",
        replacement="steps_per_epoch=math.ceil(len(x_train) / 32)  (or leave it out: fit runs the iterator once)",
        check_replacement="import math\nh = model.fit(datagen.flow(x, y, batch_size=4), steps_per_epoch=math.ceil(len(x) / 4),"
        " epochs=1, verbose=0)\nh2 = model.fit(datagen.flow(x, y, batch_size=4), epochs=1, verbose=0)\n"
        "result = 'both train: with math.ceil, and with steps_per_epoch left out'",
    ),
    dict(
        memo="d = datagen.flow(x, batch_size=1).next()",
        check="datagen.flow(x, batch_size=1).next()",
        replacement="d = next(datagen.flow(x, batch_size=1))",
        check_replacement="result = next(datagen.flow(x, batch_size=1)).shape",
    ),
    dict(
        memo="(x_train, y_train), (x_test, y_test) = cifar10.load_data()",
        check="from keras.datasets import cifar10\nassert callable(cifar10.load_data)",
        replacement="unchanged (it downloads; not called here, no network)",
        check_replacement=None,
    ),
]


def check_keras_lines() -> list[dict]:
    """Run each check: does the memo's line still work, and does the replacement?"""
    import keras
    import tensorflow as tf

    x = np.zeros((8, 4, 4, 3), np.float32)
    y = np.zeros(8, np.int64)
    results = []
    for line in KERAS_LINES:
        model = keras.Sequential([keras.Input((4, 4, 3)), keras.layers.Flatten(), keras.layers.Dense(10)])
        model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        env = dict(np=np, x=x, y=y, model=model, datagen=tf.keras.preprocessing.image.ImageDataGenerator())
        entry = dict(memo_line=line["memo"], check=line["check"], replacement=line["replacement"])
        entry["memo_line_works"], entry["memo_line_result"] = run_snippet(line["check"], env)
        if line["check_replacement"]:
            entry["replacement_works"], entry["replacement_result"] = run_snippet(line["check_replacement"], env)
        else:
            entry["replacement_works"], entry["replacement_result"] = None, "not run"
        results.append(entry)
    return results


def run_snippet(code: str, env: dict) -> tuple[bool, str]:
    scope = dict(env)
    try:
        exec(code, scope)  # fixed snippets above, not user input
    except Exception as err:  # the failure is the finding
        message = re.sub(r"\(/\S*site-packages/", "(", f"{type(err).__name__}: {err}".splitlines()[0])
        return False, message[:200]
    return True, str(scope.get("result", "ok"))


def section(m: Memo) -> Section:
    import keras
    import tensorflow as tf

    checks = check_keras_lines()
    numbers = {"keras_version": keras.__version__, "tensorflow_version": tf.__version__, "keras3_checks": checks}
    return Section(document(checks, keras.__version__, tf.__version__), numbers, [])


def cell(text) -> str:
    return str(text).replace("\n", "; ")  # the document escapes "|"


def result(works, text) -> str:
    return "—" if works is None else ("works: " if works else "fails: ") + cell(text)


def document(checks: list[dict], keras_version: str, tf_version: str) -> Document:
    doc = Document()
    doc.h(2, "8. The memo's code on Keras 3")
    doc.p(
        f"Each Keras line of the memo was run in this process against the installed Keras {keras_version} "
        f"(TensorFlow {tf_version}), on a tiny model and 8 zero images; the table shows what happened. "
        "(`cv2` lines are OpenCV, not Keras, and are not checked.)"
    )
    rows = [
        [
            f"`{cell(c['memo_line'])}`",
            "works" if c["memo_line_works"] else "fails: " + cell(c["memo_line_result"]),
            f"`{cell(c['replacement'])}`",
            result(c["replacement_works"], c["replacement_result"]),
        ]
        for c in checks
    ]
    doc.table(["memo's line", "result on Keras 3", "replacement", "replacement's result"], rows)
    doc.p(
        "**What it means**: the memo's training code fails on Keras 3 before it trains anything (`np_utils` is gone). "
        "`ImageDataGenerator` still exists only as `tf.keras.preprocessing.image.ImageDataGenerator` (source "
        "`keras/src/legacy/preprocessing/image.py`, a legacy API kept for compatibility); its iterators are "
        "ordinary Python iterators (`next(it)`), `model.fit` takes them directly, and `steps_per_epoch` must be an "
        "integer. Its ZCA fit on a 128x128 image still forms a 49,152 x 49,152 whitening matrix; prepbench's "
        "Gram route (section 3) never forms one."
    )
    return doc
