"""The preprocessing library's names in one place, as docs/variants.md uses them:

    >>> from prepbench.preprocess import build
    >>> p = build("zca", zca_epsilon=1e-6).fit(x_train)      # x_train: uint8 NHWC
    >>> x = p.transform(x_test)                                # float32 NHWC

The code lives in prepbench.prep (the preprocessor, the normalizations, ZCA, the augmentation) and
prepbench.variants (the variants of conf/prep/ and `build`); code inside prepbench imports it from
there.
"""

from prepbench.prep.augment_tf import augment_batch, crop_batch, draw_augmentation, draw_crop
from prepbench.prep.normalizations import (
    AXES,
    NORMALIZATIONS,
    STD_GUARD,
    Identity,
    MinMax,
    Normalization,
    Raw,
    Samplewise,
    Std,
    Zca,
    channel_mean_std,
)
from prepbench.prep.preprocessor import (
    FIT_VERSION,
    GCN_MIN_NORM,
    SETTINGS,
    Preprocessor,
    check_images,
    fit_cached,
    from_config,
)
from prepbench.prep.zca import RankDeficientWarning, covariance_eigh, fit_zca, retained_components, zca_rank_deficient
from prepbench.variants import build

__all__ = [
    "AXES",
    "FIT_VERSION",
    "GCN_MIN_NORM",
    "NORMALIZATIONS",
    "SETTINGS",
    "STD_GUARD",
    "Identity",
    "MinMax",
    "Normalization",
    "Preprocessor",
    "RankDeficientWarning",
    "Raw",
    "Samplewise",
    "Std",
    "Zca",
    "augment_batch",
    "build",
    "channel_mean_std",
    "crop_batch",
    "check_images",
    "covariance_eigh",
    "draw_augmentation",
    "draw_crop",
    "fit_cached",
    "fit_zca",
    "from_config",
    "retained_components",
    "zca_rank_deficient",
]
