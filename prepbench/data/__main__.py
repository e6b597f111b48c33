"""`python -m prepbench.data [KEY=VALUE ...]`: load a data set as a job would and time it."""

from __future__ import annotations

from prepbench.data.splits import load_splits
from prepbench.errors import PrepbenchError


def main(argv=None) -> int:
    """`python -m prepbench.data data=folder data.path=PATH ...`: load a data set as a job would
    (decoding it, or reading the cache) and say how long it took and what came out."""
    import sys
    import time

    from prepbench.config import compose

    overrides = list(sys.argv[1:] if argv is None else argv)
    if {"-h", "--help"} & set(overrides):
        print(
            "usage: python -m prepbench.data [KEY=VALUE ...]   (the app's data settings, e.g. "
            "data=folder data.path=PATH.zip data.train_size=5000)"
        )
        return 0
    try:
        cfg = compose(overrides)
        start = time.perf_counter()
        splits = load_splits(cfg.data)
    except PrepbenchError as err:
        print(f"error: {str(err).splitlines()[0]}", file=sys.stderr)
        return 2
    seconds = time.perf_counter() - start
    print(
        f"{cfg.data.source}: {len(splits.y_train):,} train / {len(splits.y_val):,} val / {len(splits.y_test):,} test "
        f"images of {splits.x_train.shape[1:]}, {len(splits.class_names)} classes, fingerprint {splits.fingerprint}, "
        f"loaded in {seconds:.2f} s (cache: {cfg.data.cache_dir})"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
