"""The memo's preprocessing, scikit-learn style: `fit` on the training split, `transform` any.

    >>> from prepbench.preprocess import build
    >>> p = build("zca", zca_epsilon=1e-6).fit(x_train)      # x_train: uint8 NHWC
    >>> x = p.transform(x_test)                                # float32 NHWC

Every variant but `raw` first scales pixels to [0, 1], as `ImageDataGenerator(rescale=1/255)`
does before its statistics. Then, with statistics from the training split only:

    none        x
    raw         x * 255 (pixels as floats in 0..255, unscaled)
    minmax      per image: (x - min) / (max - min); a constant image gives 0
    samplewise  per image, over H, W and C: (x - mean) / (std + 1e-6)
    std         per channel, over N, H, W of the training set: (x - mean) / (std + 1e-6), ddof=0
    zca         per-channel centring, flatten to D = H*W*C, then x @ W with
                W = U diag(f) U^T from the eigenpairs (lambda, U) of the training covariance,
                f = 1 / (sqrt(lambda + s * mean(lambda)) + eps / sqrt(n)):
                  eps (zca_epsilon) in IDG's units: s = 0 gives IDG's U diag(sqrt(n) / (sv + eps)) U^T
                  from the SVD of the n x D data, exactly (the memo's ZCA);
                  s (zca_shrinkage) in the spectrum's own units, a fraction of the mean eigenvalue:
                  directions with lambda << s * mean(lambda) are damped, whatever the data's scale.
                zca_retain keeps only the leading components (a count, or a fraction of the variance;
                Krizhevsky 2009); zca_fit_images fits on more images of the training split.

and, before any normalization, per image when `gcn` is a number (Goodfellow et al. 2013's global
contrast normalization): x - mean(x), then scaled to an L2 norm of `gcn` (55 in their pipeline);
a constant image gives 0.

Each normalization is one class (a `Normalization` subclass, registered in NORMALIZATIONS by
being defined); the variants users select are conf/prep/*.yaml, listed by prepbench.variants,
which also builds a variant's preprocessor by name (`build`). The library's names, all in one
place, are prepbench.preprocess.

`augment` (training batches only) runs before the normalization, in IDG's order; `batchnorm`
changes the network, not the input. TensorFlow is imported only by the functions that build
tf.data graphs, so fitting and transforming stay cheap to import.

The parts: `preprocessor` (Preprocessor: fit, transform, the fitted state and its cache;
from_config, fit_cached), `normalizations` (one class each, NORMALIZATIONS), `zca` (the whitening's
statistics), `augment_tf` (the memo's augmentation as one TensorFlow op per batch) and `augment`
(the same augmentation on any Keras backend: its random draws in numpy, the warp in keras.ops).
"""
