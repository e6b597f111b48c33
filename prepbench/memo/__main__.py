"""`python -m prepbench.memo --out DIR [...]`: the driver (see prepbench/memo/__init__.py)."""

from __future__ import annotations

import argparse
import json
import platform
import shlex
import sys
import time
from pathlib import Path

import numpy as np

from prepbench import __version__
from prepbench.document import Document
from prepbench.errors import PrepbenchError
from prepbench.io import write_text
from prepbench.memo.inputs import Memo, prepare
from prepbench.track.provenance import SHARED_ZIP, git_commit

POSITIVE = ("train_images", "heldout_images", "bn_images", "bn_epochs", "augment_draws")


def order():
    """The section modules in the memo's order."""
    from prepbench.memo.sections import (
        augmentation,
        batchnorm,
        keras3,
        minmax,
        samplewise,
        zca_correlations,
        zca_epsilon,
        zca_single,
        zca_spectrum,
    )

    return (
        minmax,
        samplewise,
        zca_single,
        zca_correlations,
        zca_epsilon,
        zca_spectrum,
        augmentation,
        batchnorm,
        keras3,
    )


def parse_args(argv):
    parser = argparse.ArgumentParser(
        prog="python -m prepbench.memo",
        description="Reproduce the memo's pictures and numbers (memo.md, memo.json, figures/) and explain them.",
    )
    parser.add_argument("--out", required=True, type=Path, help="output directory")
    parser.add_argument("--image", type=Path, help="your own image for sections 1-3 (default: CIFAR-10 images)")
    parser.add_argument(
        "--data-path",
        type=Path,
        default=SHARED_ZIP if SHARED_ZIP.exists() else None,
        help=f"image-folder tree or .zip (default: {SHARED_ZIP} if present, else the official CIFAR-10)",
    )
    parser.add_argument(
        "--train-images",
        type=int,
        default=10000,
        help="training images for the ZCA sections, as many as the converged study trains on; more than "
        "D = H*W*C (default 10000)",
    )
    parser.add_argument("--heldout-images", type=int, default=1000, help="test images never fitted on (default 1000)")
    parser.add_argument("--bn-images", type=int, default=2000, help="training images for section 7 (default 2000)")
    parser.add_argument("--bn-epochs", type=int, default=1, help="epochs for section 7 (default 1)")
    parser.add_argument("--augment-draws", type=int, default=11, help="augmented copies in section 6 (default 11)")
    return parser.parse_args(argv)


def validate(args):
    for name in POSITIVE:
        value = getattr(args, name)
        if value < 1:
            raise PrepbenchError(f"--{name.replace('_', '-')}={value} is invalid; expected a positive integer")
    if args.data_path is not None and not args.data_path.exists():
        raise PrepbenchError(f"--data-path {args.data_path} does not exist; expected an image-folder directory or .zip")
    if args.out.exists() and not args.out.is_dir():
        raise PrepbenchError(f"--out {args.out} is a file; expected a directory")


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parse_args(argv)
    try:
        validate(args)
        write_memo(args, argv)
    except PrepbenchError as err:
        print(f"error: {err}", file=sys.stderr, flush=True)
        return 2
    print(f"wrote {args.out / 'memo.md'}, {args.out / 'memo.json'} and {args.out / 'figures'}/")
    return 0


def write_memo(args, argv) -> dict:
    """Every section in the memo's order; memo.md, memo.json and figures/ under args.out."""
    import matplotlib

    matplotlib.use("Agg")
    start = last = time.perf_counter()
    timings = {}

    def done(title):
        nonlocal last
        now = time.perf_counter()
        timings[title], last = round(now - last, 2), now
        print(f"[{now - start:5.1f} s] {title} done", file=sys.stderr, flush=True)

    m = prepare(args)
    done("data")
    numbers = provenance(m, argv)
    body = Document()
    for module in order():
        part = module.section(m)
        numbers.update(part.numbers)
        m.kept.update(part.kept)
        body.extend(part.doc)
        done(module.TITLE)
    numbers["seconds_by_section"] = timings
    numbers["seconds_total"] = time.perf_counter() - start
    doc = header(m, numbers)
    doc.extend(body)
    write_text(args.out / "memo.md", doc.markdown())
    write_text(args.out / "memo.json", json.dumps(numbers, indent=2) + "\n")
    return numbers


def provenance(m: Memo, argv) -> dict:
    """memo.json's first entries: how it was made, from what."""
    return dict(
        command="python -m prepbench.memo " + shlex.join(argv),
        data=m.label,
        data_fingerprint=m.splits.fingerprint,
        train_images=int(len(m.x_train)),
        heldout_images=int(len(m.x_heldout)),
        prepbench_version=__version__,
        commit=git_commit(short=True, paths=("prepbench",)),
        image=str(m.args.image) if m.args.image is not None else m.demo_name,
    )


def header(m: Memo, numbers: dict) -> Document:
    doc = Document()
    doc.h(1, "The memo, reproduced and explained")
    doc.p(
        f"Command: `{numbers['command']}`  \n"
        f"prepbench {__version__}, commit {numbers['commit']}; Keras {numbers['keras_version']}, TensorFlow "
        f"{numbers['tensorflow_version']}, NumPy {np.__version__}, Python {platform.python_version()}  \n"
        f"Data: {m.label}, fingerprint `{m.splits.fingerprint}`, {len(m.x_train):,} training images, "
        f"{len(m.x_heldout):,} held-out test images; single-image sections use {m.demo_name}. "
        f"Run time {numbers['seconds_total']:.0f} s."
    )
    doc.p(
        "The memo (in Japanese, `../shared/memo-ja.txt`; claims C1–C6 in GUIDE.md section 1) walks through image "
        "preprocessing for CNNs with Keras' `ImageDataGenerator`, shows pictures and numbers, and leaves questions "
        "open. Each section below states what the memo claimed or asked, what we measured with prepbench's own "
        "preprocessing library (`prepbench/preprocess.py`), and what it means. Every number is also in "
        "`memo.json`."
    )
    return doc


if __name__ == "__main__":
    sys.exit(main())
