"""A smaller copy of an image-folder zip (train/<class>/*, test/<class>/*), class-balanced, for a
machine that can receive only so many bytes (the GPU machine: 64 MiB with everything else).

    python scripts/cifar_subset.py ../shared/data/cifar10-jpeg.zip .gpu/cifar10-jpeg-subset.zip --train 27000 --test 6000

The images are copied byte for byte (no re-encoding), `train` per class and `test` per class in
equal parts, drawn with numpy's default_rng(seed); the zip stores them without recompressing (JPEG
is compressed already). `data=folder data.path=SUBSET.zip` reads it like the full copy.
"""

from __future__ import annotations

import argparse
import zipfile
from collections import defaultdict
from pathlib import PurePosixPath

import numpy as np


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("source")
    parser.add_argument("out")
    parser.add_argument("--train", type=int, required=True, help="training images kept (all classes together)")
    parser.add_argument("--test", type=int, required=True, help="test images kept (all classes together)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    with zipfile.ZipFile(args.source) as src:
        files: dict[tuple[str, str], list[zipfile.ZipInfo]] = defaultdict(list)
        for info in src.infolist():
            parts = PurePosixPath(info.filename).parts
            if info.is_dir() or len(parts) < 3 or parts[-3] not in ("train", "test"):
                continue
            files[parts[-3], parts[-2]].append(info)
        with zipfile.ZipFile(args.out, "w", zipfile.ZIP_STORED) as out:
            for split, total in (("train", args.train), ("test", args.test)):
                classes = sorted(c for s, c in files if s == split)
                for i, name in enumerate(classes):
                    members = sorted(files[split, name], key=lambda m: m.filename)
                    count = total // len(classes) + (i < total % len(classes))
                    if count > len(members):
                        raise SystemExit(
                            f"error: --{split}={total} needs {count} images of {name}; the source has {len(members)}"
                        )
                    for k in sorted(rng.choice(len(members), size=count, replace=False)):
                        out.writestr(members[k], src.read(members[k]), compress_type=zipfile.ZIP_STORED)
    print(f"{args.out}: {args.train} training and {args.test} test images")


if __name__ == "__main__":
    main()
