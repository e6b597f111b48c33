import numpy as np
import pytest
from omegaconf import OmegaConf

from prepbench import ROOT
from prepbench.errors import PrepbenchError
from prepbench.preprocess import augment_batch, build, draw_augmentation, fit_cached, from_config
from prepbench.variants import names

MEMO_AUGMENTATION = OmegaConf.load(ROOT / "conf" / "config.yaml").augmentation


def idg(**kwargs):
    from tensorflow.keras.preprocessing.image import ImageDataGenerator

    return ImageDataGenerator(rescale=1 / 255, dtype="float64", **kwargs)


def idg_standardize(gen, x):
    return np.stack([gen.standardize(img.astype(np.float64)) for img in x])  # standardize rescales


def assert_matches(ours, reference):
    """Within 1e-4 of the largest output value, the issue's tolerance."""
    scale = np.abs(reference).max()
    np.testing.assert_array_less(np.abs(ours - reference).max() / scale, 1e-4)


# ---- API contract -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", names())
def test_every_variant_maps_uint8_to_float32_nhwc(name, images):
    out = build(name).fit(images).transform(images)
    assert out.dtype == np.float32 and out.shape == images.shape
    assert np.isfinite(out).all()


def test_featurewise_is_std_and_presets_compose_with_augmentation():
    assert build("featurewise") == build("std")
    p = build("zca", augment=True)
    assert (p.normalization, p.augment) == ("zca", True)
    assert build("augment").augment and build("batchnorm").batchnorm


@pytest.mark.parametrize("name", ["std", "zca"])
def test_fitted_state_exists_only_after_fit(name, images):
    p = build(name)
    assert not hasattr(p, "mean_")
    with pytest.raises(PrepbenchError, match="not fitted; call fit"):
        p.transform(images)
    assert hasattr(p.fit(images), "mean_")


def test_fit_sees_only_what_it_is_given(images):
    """Validation and test data cannot change the statistics: transforming them changes nothing."""
    p = build("zca").fit(images[:40])
    before = {k: v.copy() for k, v in p.state().items()}
    p.transform(images[40:])
    for key, value in p.state().items():
        np.testing.assert_array_equal(value, before[key])
    refit = build("zca").fit(images[:40])
    np.testing.assert_array_equal(refit.transform(images[40:]), p.transform(images[40:]))
    assert not np.allclose(build("zca").fit(images).mean_, p.mean_)


def test_bad_inputs_name_what_was_expected(images):
    with pytest.raises(PrepbenchError, match="expected uint8 images of shape"):
        build("none").transform(images.astype(np.float32))
    with pytest.raises(PrepbenchError, match="prep='zxa' is unknown; expected one of none"):
        build("zxa")
    with pytest.raises(PrepbenchError, match="prep.zca_epsilon=0 is out of range; expected a positive"):
        build("zca", zca_epsilon=0)


def test_from_config_reads_every_prep_file():
    for path in sorted((ROOT / "conf" / "prep").glob("*.yaml")):
        cfg = OmegaConf.load(path)
        if "normalization" in cfg:  # featurewise.yaml only points at std.yaml
            assert from_config(cfg) == build(cfg.name)


# ---- exact formulas on synthetic data ---------------------------------------------------------


def test_minmax_is_the_memos_formula_and_a_constant_image_gives_zeros(images):
    x = images.astype(np.float64) / 255
    low, high = x.min(axis=(1, 2, 3), keepdims=True), x.max(axis=(1, 2, 3), keepdims=True)
    np.testing.assert_allclose(build("minmax").transform(images), (x - low) / (high - low), atol=1e-6)
    constant = np.full((2, 4, 4, 3), 77, np.uint8)
    out = build("minmax").transform(constant)
    assert np.isfinite(out).all() and (out == 0).all()


def test_raw_is_unscaled_and_none_is_divided_by_255(images):
    np.testing.assert_array_equal(build("raw").transform(images), images.astype(np.float32))
    np.testing.assert_allclose(build("none").transform(images), images / 255, atol=1e-7)


def test_samplewise_has_mean_0_std_1_over_all_channels(images):
    out = build("samplewise").transform(images).astype(np.float64)
    np.testing.assert_allclose(out.mean(axis=(1, 2, 3)), 0, atol=1e-6)
    np.testing.assert_allclose(out.std(axis=(1, 2, 3)), 1, atol=1e-4)


def test_zca_whitens_training_data_to_identity_covariance():
    rng = np.random.default_rng(1)
    mixing = rng.normal(size=(48, 48))
    x = np.clip(rng.normal(size=(2000, 48)) @ mixing * 20 + 128, 0, 255).astype(np.uint8).reshape(-1, 4, 4, 3)
    out = build("zca", zca_epsilon=1e-9).fit(x).transform(x).reshape(len(x), -1).astype(np.float64)
    cov = np.cov(out - out.mean(axis=0), rowvar=False, bias=True)
    np.testing.assert_allclose(cov, np.eye(48), atol=2e-3)


@pytest.mark.parametrize("size", [8, 128])
def test_zca_on_one_image_gives_std_one_over_sqrt_d(size):
    """The memo's puzzle: one image whitens to a unit vector, whose D values have std 1/sqrt(D)."""
    image = np.random.default_rng(2).integers(0, 256, size=(1, size, size, 3), dtype=np.uint8)
    out = build("zca").fit(image).transform(image)
    assert out.std() == pytest.approx(1 / np.sqrt(size * size * 3), rel=0.01)
    assert build("zca").fit(image).whitening_ is None  # n < D: no D x D matrix was built


@pytest.mark.parametrize("n", [40, 200])  # D = 48: the Gram route, then the covariance route
def test_zca_equals_the_svd_formula_of_image_data_generator(n):
    """W = U diag(sqrt(n) / (s + eps)) U^T from the thin SVD of the centred n x D data (IDG)."""
    x = np.random.default_rng(3).integers(0, 256, size=(n, 4, 4, 3), dtype=np.uint8)
    scaled = x.astype(np.float64) / 255
    centred = (scaled - scaled.mean(axis=(0, 1, 2))).reshape(n, -1)
    u, s, _ = np.linalg.svd(centred.T, full_matrices=False)
    reference = centred @ ((u * (np.sqrt(n) / (s + 1e-6))) @ u.T)
    ours = build("zca").fit(x).transform(x).reshape(n, -1)
    np.testing.assert_allclose(ours, reference, atol=1e-4 * np.abs(reference).max())


def _reference_zca(x, *, shrinkage=0.0, retain=None, epsilon=1e-6):
    """The formula of conf/prep/zca.yaml in float64 from numpy's own eigh, independent of fit_zca."""
    scaled = x.astype(np.float64) / 255
    centred = (scaled - scaled.mean(axis=(0, 1, 2))).reshape(len(x), -1)
    lam, u = np.linalg.eigh(centred.T @ centred / len(x))
    lam = np.clip(lam, 0, None)
    f = 1 / (np.sqrt(lam + shrinkage * lam.mean()) + epsilon / np.sqrt(len(x)))
    order = np.argsort(lam)[::-1]
    if isinstance(retain, int):
        keep = order[:retain]
    elif retain is not None:
        keep = order[: np.searchsorted(np.cumsum(lam[order]) / lam.sum(), retain) + 1]
    else:
        keep = order
    return centred @ ((u[:, keep] * f[keep]) @ u[:, keep].T)


@pytest.mark.parametrize(
    "settings",
    [{"zca_shrinkage": 0.1}, {"zca_shrinkage": 1.0, "zca_epsilon": 0.5}, {"zca_retain": 10}, {"zca_retain": 0.9}],
)
def test_regularized_zca_equals_a_float64_reference(settings):
    x = np.random.default_rng(4).integers(0, 256, size=(300, 4, 4, 3), dtype=np.uint8)
    reference = _reference_zca(
        x,
        shrinkage=settings.get("zca_shrinkage", 0.0),
        retain=settings.get("zca_retain"),
        epsilon=settings.get("zca_epsilon", 1e-6),
    )
    p = build("zca", **settings).fit(x)
    ours = p.transform(x).reshape(len(x), -1)
    np.testing.assert_allclose(ours, reference, atol=1e-4 * np.abs(reference).max())
    if "zca_retain" in settings:
        assert p.components_.shape[1] == np.linalg.matrix_rank(reference) < 48


def test_shrinkage_damps_a_known_noise_floor_and_idg_epsilon_does_not():
    """A rank-8 signal plus isotropic noise of variance 1e-4 (D = 48): unregularized whitening blows
    the 40 noise directions up to unit variance, as the JPEG copy's chroma noise is; s = 0.1 keeps them
    far below it, and IDG's eps = 0.1 leaves most of it (0.1 / sqrt(n) is under sqrt(1e-4))."""
    rng = np.random.default_rng(5)
    n, d = 4000, 48
    signal = rng.normal(size=(n, 8)) @ rng.normal(size=(8, d)) * 0.05  # std ~0.14: little clipping
    noise = rng.normal(size=(n, d)) * 1e-2
    x = np.clip((signal + noise + 0.5) * 255, 0, 255).round().astype(np.uint8).reshape(n, 4, 4, 3)
    flat = x.reshape(n, -1).astype(np.float64) / 255
    _, _, vt = np.linalg.svd(flat - flat.mean(axis=0), full_matrices=False)
    noise_dirs = vt[8:].T

    def noise_variance(**settings):
        out = build("zca", **settings).fit(x).transform(x).reshape(n, -1).astype(np.float64)
        return ((out - out.mean(axis=0)) @ noise_dirs).var(axis=0).mean()

    assert noise_variance() == pytest.approx(1, rel=0.05)
    assert noise_variance(zca_epsilon=0.1) > 0.7  # (0.01 / (0.01 + 0.1 / sqrt(4000)))^2 = 0.74
    assert noise_variance(zca_shrinkage=0.1) < 0.1  # 1e-4 / (1e-4 + 0.1 * mean(lambda) = 0.002): 0.05


def test_gcn_centres_each_image_and_sets_its_norm_on_every_backend(images):
    import keras
    import tensorflow as tf

    p = build("none", gcn=55.0).fit(images)
    out = p.transform(images).astype(np.float64)
    np.testing.assert_allclose(out.mean(axis=(1, 2, 3)), 0, atol=1e-5)
    np.testing.assert_allclose(np.sqrt((out**2).sum(axis=(1, 2, 3))), 55, rtol=1e-5)
    scaled = p.scale(images)
    np.testing.assert_allclose(p.normalize_tf(tf.constant(scaled)).numpy(), out, atol=1e-4)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(p.normalize_ops(scaled)), out, atol=1e-4)
    flat = np.full((1, 4, 4, 3), 7, np.uint8)
    assert not np.isnan(p.transform(flat)).any() and (p.transform(flat) == 0).all()


def test_gcn_composes_with_zca_which_is_fitted_on_the_contrast_normalized_images(images):
    normalized = build("none", gcn=55.0).transform(images).astype(np.float64)
    centred = (normalized - normalized.mean(axis=(0, 1, 2))).reshape(len(images), -1)
    lam, u = np.linalg.eigh(centred.T @ centred / len(images))
    reference = centred @ ((u / (np.sqrt(np.clip(lam, 0, None)) + 0.1 / np.sqrt(len(images)))) @ u.T)
    ours = build("zca", gcn=55.0, zca_epsilon=0.1).fit(images).transform(images).reshape(len(images), -1)
    np.testing.assert_allclose(ours, reference, atol=1e-4 * np.abs(reference).max())


def test_every_zca_setting_is_part_of_the_statistics_cache_key():
    keys = {
        build("zca", **settings).cache_key("data")
        for settings in ({}, {"zca_shrinkage": 0.1}, {"zca_retain": 0.99}, {"zca_fit_images": 500}, {"gcn": 55.0})
    }
    assert len(keys) == 5
    assert build("zca", zca_shrinkage=0.0).cache_key("data") == build("zca").cache_key("data")


@pytest.mark.parametrize(
    "settings, message",
    [
        ({"zca_shrinkage": -0.1}, "prep.zca_shrinkage=-0.1 is out of range"),
        ({"zca_retain": 1.5}, "prep.zca_retain=1.5 is out of range"),
        ({"zca_retain": 0}, "prep.zca_retain=0 is out of range"),
        ({"gcn": 0.0}, "prep.gcn=0.0 is out of range"),
    ],
)
def test_bad_zca_settings_are_refused_by_name(settings, message):
    with pytest.raises(PrepbenchError, match=message):
        build("zca", **settings)


def test_tensorflow_normalization_matches_numpy(images):
    import tensorflow as tf

    for name in ("minmax", "samplewise", "std", "zca"):
        p = build(name).fit(images)
        scaled = p.scale(images)
        np.testing.assert_allclose(p.normalize_tf(tf.constant(scaled)).numpy(), p.normalize(scaled), atol=1e-5)


def test_fit_cached_fits_once_per_data_and_options(images, tmp_path):
    first = build("zca")
    fit_cached(first, images, "data-a", tmp_path)
    cached = list((tmp_path / "prep").glob("*.npz"))
    assert len(cached) == 1
    again = build("zca")
    fit_cached(again, images[:10], "data-a", tmp_path)  # same fingerprint: loaded, not refitted
    np.testing.assert_array_equal(again.whitening_, first.whitening_)
    fit_cached(build("zca", zca_epsilon=1e-3), images, "data-a", tmp_path)
    fit_cached(build("zca"), images, "data-b", tmp_path)
    assert len(list((tmp_path / "prep").glob("*.npz"))) == 3


def test_truncated_statistics_cache_is_rebuilt(images, tmp_path):
    fit_cached(build("std"), images, "data-a", tmp_path)
    (path,) = (tmp_path / "prep").glob("*.npz")
    path.write_bytes(path.read_bytes()[:50])
    p = build("std")
    fit_cached(p, images, "data-a", tmp_path)
    np.testing.assert_allclose(p.mean_, build("std").fit(images).mean_)


# ---- augmentation ----------------------------------------------------------------------------


def test_augmentation_draws_respect_the_memos_bounds():
    import tensorflow as tf

    angle, dx, dy, flip = (
        t.numpy() for t in draw_augmentation(tf.constant([0, 1]), 20000, 32.0, 32.0, MEMO_AUGMENTATION)
    )
    assert np.abs(np.rad2deg(angle)).max() <= 20 and np.abs(np.rad2deg(angle)).max() > 19.9
    assert np.abs(dx).max() <= 0.2 * 32 and np.abs(dy).max() <= 0.2 * 32 and np.abs(dx).max() > 6.3
    assert flip.mean() == pytest.approx(0.5, abs=0.02)
    assert abs(np.corrcoef(angle, dx)[0, 1]) < 0.05  # independent draws


def test_augmentation_is_reproducible_per_seed_and_fresh_per_seed(images):
    import tensorflow as tf

    x = tf.constant(images.astype(np.float32))
    a = augment_batch(x, tf.constant([5, 0]), MEMO_AUGMENTATION).numpy()
    b = augment_batch(x, tf.constant([5, 0]), MEMO_AUGMENTATION).numpy()
    c = augment_batch(x, tf.constant([5, 1]), MEMO_AUGMENTATION).numpy()
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_augmentation_geometry_flips_and_shifts_as_specified():
    import tensorflow as tf

    image = np.arange(8 * 8 * 3, dtype=np.float32).reshape(1, 8, 8, 3)
    flip_only = OmegaConf.create(dict(rotation_degrees=0, shift_fraction=0, horizontal_flip=True, fill_mode="nearest"))
    outs = [augment_batch(tf.constant(image), tf.constant([s, 0]), flip_only).numpy()[0] for s in range(12)]
    assert any(np.array_equal(o, image[0, :, ::-1]) for o in outs)  # flipped left-right exactly
    assert any(np.array_equal(o, image[0]) for o in outs)  # or untouched
    # A bright column moves by the drawn horizontal shift; rows are uniform, so dy changes nothing.
    shift = OmegaConf.create(dict(rotation_degrees=0, shift_fraction=0.4, horizontal_flip=False, fill_mode="nearest"))
    column = np.zeros((1, 16, 16, 1), np.float32)
    column[:, :, 6] = 1
    seed = tf.constant([3, 4])
    dx = draw_augmentation(seed, 1, 16.0, 16.0, shift)[1].numpy()[0]
    moved = augment_batch(tf.constant(column), seed, shift).numpy()[0, :, :, 0].mean(axis=0)
    assert abs(dx) > 0.5
    assert abs(np.argmax(moved) - (6 + dx)) <= 0.5 + 1e-6


# ---- equivalence with ImageDataGenerator on real CIFAR-10 images ---------------------------------


def test_samplewise_matches_image_data_generator(cifar_jpeg):
    x = cifar_jpeg.x_test[:200]
    ref = idg_standardize(idg(samplewise_center=True, samplewise_std_normalization=True), x)
    assert_matches(build("samplewise").transform(x), ref)


def test_std_matches_image_data_generator(cifar_jpeg):
    x_train, x = cifar_jpeg.x_train[:4000], cifar_jpeg.x_val[:200]
    gen = idg(featurewise_center=True, featurewise_std_normalization=True)
    gen.fit(x_train)
    assert_matches(build("std").fit(x_train).transform(x), idg_standardize(gen, x))


def test_zca_matches_image_data_generator_with_n_above_d(cifar_jpeg):
    x_train, x = cifar_jpeg.x_train[:4000], cifar_jpeg.x_val[:100]  # n = 4000 > D = 3072
    gen = idg(featurewise_center=True, zca_whitening=True)
    gen.fit(x_train)
    assert_matches(build("zca", zca_epsilon=gen.zca_epsilon).fit(x_train).transform(x), idg_standardize(gen, x))


def test_zca_fitted_on_fewer_images_than_d_makes_them_orthogonal():
    """Why ZCA with n < D trains at chance: the whitened training images have Gram matrix n * I
    (X W = sqrt(n) U V^T), so every image is orthogonal to every other and nothing is shared."""
    x = np.random.default_rng(4).integers(0, 256, size=(30, 4, 4, 3), dtype=np.uint8)  # n=30 < D=48
    white = build("zca", zca_epsilon=1e-9).fit(x).transform(x).reshape(30, -1).astype(np.float64)
    np.testing.assert_allclose(white @ white.T, 30 * np.eye(30), atol=1e-2)


def test_the_documented_snippet_runs(capsys):
    page = (ROOT / "docs/variants.md").read_text()
    snippet = page.split("```python\n", 1)[1].split("```", 1)[0]
    exec(compile(snippet, "docs/variants.md", "exec"), {})
    assert "(10, 8, 8, 3) float32" in capsys.readouterr().out


def test_zca_on_no_more_images_than_dimensions_warns_at_fit_and_says_so_after_a_cached_load(tmp_path):
    import warnings

    from prepbench.preprocess import RankDeficientWarning, zca_rank_deficient

    rng = np.random.default_rng(0)
    few = rng.integers(0, 256, (40, 4, 4, 3), dtype=np.uint8)  # n = 40 <= D = 48
    many = rng.integers(0, 256, (60, 4, 4, 3), dtype=np.uint8)  # n = 60 > D
    assert zca_rank_deficient(48, (4, 4, 3)) and not zca_rank_deficient(49, (4, 4, 3))
    with pytest.warns(RankDeficientWarning, match=r"ZCA fitted on 40 images of 48 values each \(n <= D\)"):
        p = build("zca").fit(few)
    assert p.rank_deficient_
    # what the memo measured: the whitened training images are orthogonal (their Gram matrix is n*I)
    out = p.transform(few).reshape(40, -1).astype(np.float64)
    gram = out @ out.T
    assert np.abs(gram - np.diag(np.diag(gram))).max() < 1e-3 * np.diag(gram).min()
    with warnings.catch_warnings():
        warnings.simplefilter("error", RankDeficientWarning)
        assert not build("zca").fit(many).rank_deficient_
    fit_cached(build("zca"), few, "fp", tmp_path)  # fitted and cached (warns)
    with pytest.warns(RankDeficientWarning):
        loaded = build("zca")
        fit_cached(loaded, few, "fp", tmp_path)  # from the cache
    assert loaded.rank_deficient_
