"""`python -m prepbench.memo --out DIR [--image PATH]`: the memo's pictures and numbers, reproduced.

The practitioner's memo (GUIDE.md section 1) shows min-max normalization, standardization, ZCA
whitening, augmentation and batch normalization, prints a few numbers it cannot explain, and asks
what ZCA decorrelates. This command redoes each of its experiments with prepbench's own
preprocessing library on CIFAR-10 (or on the user's image) and writes

    DIR/memo.md        each section: what the memo said, what we measured, what it means
    DIR/memo.json      every number, under flat keys (a few hold a small dict or a per-layer list)
    DIR/figures/*.png  the figures memo.md shows inline

The parts: `compute` (the computations, plain functions on numpy arrays that the tests call on
small synthetic images), `inputs` (options, settings and data, gathered into a `Memo`), `plots`
(figure helpers), `sections/` (one module per memo section, each returning its markdown, figures
and numbers) and `__main__` (the driver). TensorFlow is imported only for augmentation, the
batch-norm network and the Keras 3 checks.
"""
