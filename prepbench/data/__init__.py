"""Data sources -> uint8 NHWC arrays, int64 labels and class names, split into train/val/test.

Three sources (conf/data/*.yaml): the official CIFAR-10 python archive (`cifar10`), an image-folder
tree in a directory or .zip (`folder`) and generated images (`synthetic`). Decoded arrays are cached
in `<cache_dir>/data/<key>.npz`, the key derived from the source's content and `image_size`; the
split is cheap and recomputed on every load. TensorFlow is deliberately not imported here.

    splits = load_splits(cfg.data)      # prepbench.data.splits: the source named by data.source, split

The parts: `splits` (Splits, load_splits and the stratified split), the sources `cifar10`,
`folder` and `synthetic`, `decoded` (a source's decoded arrays, cached on disk and keyed by
content), `settings` (the data config's values, checked), `cache` (arrays on disk, `digest`, and
the JobCache that a process's jobs share) and `__main__` (`python -m prepbench.data`).
"""
