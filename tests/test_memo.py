"""`python -m prepbench.memo`: the numbers with exact answers, and every file the command writes.

The computations are checked on small synthetic images; the command itself runs end to end on a
tiny image-folder tree built in tmp_path (16x16 images, so D = 768 and the deep net still fits).
"""

import io
import json
import re
import zipfile

import numpy as np
import pytest
from PIL import Image

from prepbench.memo.__main__ import main
from prepbench.memo.compute import pixel_correlations, samplewise_demo, whitening_rows, zca_single, zca_single_idg
from prepbench.variants import build


def smooth_images(n, size, seed=0):
    """Images with strong neighbour and channel correlations: blurred noise shared by the channels."""
    rng = np.random.default_rng(seed)
    base = rng.normal(size=(n, size + 4, size + 4))
    kernel = np.ones(5) / 5
    base = np.apply_along_axis(np.convolve, 1, base, kernel, "valid")
    base = np.apply_along_axis(np.convolve, 2, base, kernel, "valid")
    colour = base[..., None] / base.std() + 0.3 * rng.normal(size=(n, size, size, 3))
    scaled = 128 + 60 * colour / colour.std()
    return np.clip(scaled, 0, 255).astype(np.uint8)


# ---- numbers with exact answers --------------------------------------------------------------


def test_samplewise_output_has_std_one_and_mean_zero_over_all_channels():
    image = smooth_images(1, 32)[0]
    out = samplewise_demo(image)
    assert abs(out["samplewise_std"] - 1.0) < 1e-3
    assert abs(out["samplewise_mean"]) < 1e-5
    # Not per channel: the channels keep different means (the memo's "RGB all together").
    skewed = image.copy()
    skewed[..., 0] //= 2
    assert np.ptp(samplewise_demo(skewed)["samplewise_channel_means"]) > 0.1


@pytest.mark.parametrize("size", [8, 128])
def test_zca_on_a_single_image_gives_std_one_over_sqrt_d(size):
    image = smooth_images(1, size, seed=size)[0]
    result = zca_single(image)
    d = size * size * 3
    assert result["D"] == d
    assert result["expected_std"] == pytest.approx(1 / np.sqrt(d))
    assert result["std"] == pytest.approx(1 / np.sqrt(d), rel=0.01)
    assert abs(result["mean"]) < 1e-3 / np.sqrt(d)
    # The reason: rank 1, and the output is the centred input scaled to unit length.
    assert result["rank"] == 1
    assert result["output_norm"] == pytest.approx(1.0, abs=1e-4)
    assert result["cosine_to_centred_input"] == pytest.approx(1.0, abs=1e-5)


def test_the_memos_image_data_generator_code_gives_the_same_std():
    image = smooth_images(1, 16, seed=3)[0]
    idg = zca_single_idg(image)
    assert idg["std"] == pytest.approx(1 / np.sqrt(16 * 16 * 3), rel=1e-3)
    assert idg["std"] == pytest.approx(zca_single(image)["std"], rel=1e-3)


def test_zca_decorrelates_neighbours_distant_pixels_and_channels_on_the_fitted_images():
    x = smooth_images(600, 8)  # D = 192 < n
    before = pixel_correlations(build("none").transform(x))
    assert before["neighbour_pixels"] > 0.5 and before["channels"] > 0.5
    assert before["neighbour_pixels"] > before["distant_pixels"]
    p = build("zca").fit(x)
    after = pixel_correlations(p.transform(x))
    for key in ("neighbour_pixels", "distant_pixels", "channels"):
        assert abs(after[key]) < 0.01, (key, after[key])
    assert max(abs(v) for v in after["profile"]) < 0.01


def test_pixel_correlations_profile_matches_direct_products():
    z = np.random.default_rng(1).normal(size=(40, 6, 6, 3)).cumsum(axis=2)
    result = pixel_correlations(z)
    flat = z.reshape(len(z), -1)
    s = ((flat - flat.mean(0)) / flat.std(0)).reshape(z.shape)
    direct = [(s[:, :, :-d] * s[:, :, d:]).mean() for d in range(1, 6)]
    np.testing.assert_allclose(result["profile"], direct, rtol=1e-4)
    assert result["neighbour_pixels"] == pytest.approx(
        ((s[:, :, :-1] * s[:, :, 1:]).mean() + (s[:, :-1] * s[:, 1:]).mean()) / 2, rel=1e-4
    )


def test_whitening_rows_from_the_full_matrix_and_from_low_rank_factors():
    full = build("zca").fit(smooth_images(300, 6))  # D = 108 <= n: W is built
    picks = [(3, 3, 0), (0, 5, 2)]
    rows = whitening_rows(full, picks, (6, 6, 3))
    flat = [np.ravel_multi_index(i, (6, 6, 3)) for i in picks]
    np.testing.assert_allclose(rows.reshape(2, -1), full.whitening_[flat])
    low = build("zca").fit(smooth_images(20, 6))  # n < D: only the factors exist
    assert low.whitening_ is None
    w = (low.components_ * low.scales_) @ low.components_.T
    np.testing.assert_allclose(whitening_rows(low, picks, (6, 6, 3)).reshape(2, -1), w[flat], rtol=1e-10)


def test_chroma_stored_at_half_resolution_leaves_half_the_directions_empty():
    """4:2:0 keeps H*W luma and 2 * H*W/4 chroma values of D = 3*H*W: D/2 directions hold only the
    rounding to uint8 (variance ~1e-6 against ~1e-2 for the rest)."""
    from prepbench.memo.compute import chroma_detail, covariance_spectrum, subsample_chroma

    x = np.random.default_rng(7).integers(80, 176, size=(3000, 8, 8, 3), dtype=np.uint8)  # no clipping back
    full, half = covariance_spectrum(x), covariance_spectrum(subsample_chroma(x))
    d = full.size
    assert (full < 1e-4).sum() == 0
    assert (half < 1e-4).sum() == d // 2 and half[: d // 2].min() > 1e-3
    shares = chroma_detail(subsample_chroma(x))
    assert shares["Cb"] < 1e-3 and shares["Cr"] < 1e-3 and shares["Y"] > 0.5
    assert min(chroma_detail(x).values()) > 0.5


def test_damping_thresholds_of_both_conventions():
    from prepbench.memo.compute import damping_threshold

    eigvals = np.array([3.0, 1.0, 0.0, 0.0])  # mean 1
    assert damping_threshold(eigvals, 10_000, epsilon=0.1) == pytest.approx(1e-6)
    assert damping_threshold(eigvals, 10_000, epsilon=1e-6, shrinkage=0.1) == pytest.approx(0.1)


# ---- the command ---------------------------------------------------------------------------------

FIGURES = [
    "1_minmax.png",
    "2_samplewise.png",
    "3_zca_single.png",
    "4_zca_correlations.png",
    "4_zca_filters.png",
    "5_zca_epsilon.png",
    "5_zca_epsilon_gain.png",
    "5b_zca_spectrum.png",
    "6_augmentation.png",
    "7_batchnorm.png",
]


@pytest.fixture(scope="module")
def tiny_tree(tmp_path_factory):
    """A .zip, like the shared CIFAR-10 copy, of tiny/train/<class>/*.png (800 images, more than
    D = 768) and tiny/test/<class>/*.png, 16x16 RGB."""
    path = tmp_path_factory.mktemp("tiny") / "tiny.zip"
    with zipfile.ZipFile(path, "w") as archive:
        for split, count in (("train", 800), ("test", 80)):
            for i, image in enumerate(smooth_images(count, 16, seed=len(split))):
                png = io.BytesIO()
                Image.fromarray(image).save(png, format="PNG")
                archive.writestr(f"tiny/{split}/class{i % 4}/{i:04d}.png", png.getvalue())
    return path


@pytest.fixture(scope="module")
def memo_run(tiny_tree, tmp_path_factory):
    """One run of the command on the tiny tree with a user image (non-square, so the native-size
    ZCA and the 128x128 resize both run)."""
    work = tmp_path_factory.mktemp("run")
    photo = work / "photo.png"
    Image.fromarray(smooth_images(1, 48, seed=9)[0][:40]).save(photo)  # 48 wide, 40 high
    out = work / "memo"
    mp = pytest.MonkeyPatch()
    mp.setenv("PREPBENCH_CACHE", str(work / "cache"))
    argv = [
        "--out",
        str(out),
        "--image",
        str(photo),
        "--data-path",
        str(tiny_tree),
        "--train-images",
        "780",
        "--heldout-images",
        "40",
        "--bn-images",
        "64",
        "--bn-epochs",
        "1",
        "--augment-draws",
        "3",
    ]
    try:
        code = main(argv)
    finally:
        mp.undo()
    return code, out, argv


def test_command_writes_every_figure_and_the_report(memo_run):
    code, out, argv = memo_run
    assert code == 0
    for name in FIGURES:
        path = out / "figures" / name
        assert path.is_file() and path.stat().st_size > 5000, name
        with Image.open(path) as img:
            assert min(img.size) > 200
    text = (out / "memo.md").read_text()
    assert "python -m prepbench.memo " + " ".join(argv) in text.splitlines()[2]
    linked = re.findall(r"!\[[^\]]*\]\((figures/[^)]+)\)", text)
    assert sorted(p.split("/")[1] for p in linked) == sorted(FIGURES)
    for n in range(1, 9):
        assert f"## {n}. " in text


def test_command_records_the_exact_numbers(memo_run):
    _, out, _ = memo_run
    m = json.loads((out / "memo.json").read_text())
    assert abs(m["samplewise_std"] - 1) < 1e-3
    assert abs(m["samplewise_mean"]) < 1e-5
    assert m["zca_single_D"] == 128 * 128 * 3
    assert m["zca_single_std"] == pytest.approx(1 / np.sqrt(128 * 128 * 3), rel=0.01)
    assert m["zca_native_D"] == 48 * 40 * 3
    assert m["zca_native_std"] == pytest.approx(1 / np.sqrt(48 * 40 * 3), rel=0.01)
    assert m["minmax_output_min"] == 0 and m["minmax_output_max"] == pytest.approx(1)
    assert m["minmax_lowest_contrast_input_max"] > m["minmax_lowest_contrast_input_min"]  # the second row
    for key in ("neighbour_pixels", "distant_pixels", "channels"):
        assert abs(m["corr_after"][key]) < 0.01
        assert m["corr_before"][key] > abs(m["corr_after"][key])
    assert set(m["zca_eps_heldout_std"]) == {"1e-06", "0.001", "0.1"}
    assert len(m["bn_pre_std_with"]) == len(m["bn_layers"]) == 8
    assert all(abs(s - 1) < 0.05 for s in m["bn_pre_std_with"])  # BN output: std 1 per batch


def test_the_memos_keras_lines_fail_on_keras_3_and_the_replacements_work(memo_run):
    _, out, _ = memo_run
    checks = {c["memo_line"]: c for c in json.loads((out / "memo.json").read_text())["keras3_checks"]}
    failing = [line for line in checks if "load_data" not in line]
    assert len(failing) == 5
    for line in failing:
        assert checks[line]["memo_line_works"] is False, line
        assert checks[line]["replacement_works"] is True, (line, checks[line]["replacement_result"])
    assert "ImportError" in checks["from keras.preprocessing.image import ImageDataGenerator"]["memo_line_result"]


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--image", "/no/such/image.png"], "--image /no/such/image.png does not exist"),
        (["--train-images", "0"], "--train-images=0 is invalid"),
        (["--data-path", "/no/such.zip"], "--data-path /no/such.zip does not exist"),
    ],
)
def test_bad_input_is_one_line_and_exit_code_2(tmp_path, capsys, extra, message):
    assert main(["--out", str(tmp_path / "out"), *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err and "Traceback" not in err


def test_unreadable_image_and_too_few_training_images(tmp_path, capsys, tiny_tree, monkeypatch):
    monkeypatch.setenv("PREPBENCH_CACHE", str(tmp_path / "cache"))
    bogus = tmp_path / "notes.png"
    bogus.write_text("not an image")
    assert main(["--out", str(tmp_path / "a"), "--image", str(bogus), "--data-path", str(tiny_tree)]) == 2
    assert f"--image {bogus} could not be read as an image" in capsys.readouterr().err
    assert main(["--out", str(tmp_path / "b"), "--data-path", str(tiny_tree), "--train-images", "100"]) == 2
    err = capsys.readouterr().err
    assert "--train-images=100 is too small" in err and "D = 768" in err
