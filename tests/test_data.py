"""prepbench.data: the three sources, the on-disk cache, the command line and every refused input (the
split itself: tests/test_split.py)."""

import hashlib
import io
import logging
import pickle
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import prepbench
from prepbench.data import folder
from prepbench.data.__main__ import main
from prepbench.data.cifar10 import decode_cifar10
from prepbench.data.decoded import read_cache
from prepbench.data.folder import list_folder_tree
from prepbench.data.splits import Splits, load_splits
from prepbench.errors import PrepbenchError
from prepbench.track.provenance import SHARED_ZIP
from tests._images import (
    SPLIT_SETTINGS,
    colour_image,
    folder_cfg,
    in_source_order,
    make_tree,
    save_image,
    synthetic_cfg,
    zip_tree,
)

REAL_ZIP = SHARED_ZIP
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
needs_real_zip = pytest.mark.skipif(not REAL_ZIP.exists(), reason=f"{REAL_ZIP} is absent (see shared/data/README.md)")


# ---------------------------------------------------------------- synthetic source and splitting


def test_synthetic_shapes_dtypes_and_stratified_val(tmp_path):
    splits = load_splits(synthetic_cfg(tmp_path))
    assert isinstance(splits, Splits)
    assert splits.x_train.shape == (320, 16, 16, 3) and splits.x_train.dtype == np.uint8
    assert splits.x_val.shape == (80, 16, 16, 3) and splits.x_test.shape == (120, 16, 16, 3)
    assert splits.y_train.dtype == np.int64 and splits.y_train.shape == (320,)
    assert splits.class_names == ("class_0", "class_1", "class_2", "class_3")
    assert np.bincount(splits.y_val).tolist() == [20, 20, 20, 20]
    assert len(splits.fingerprint) == 16 and int(splits.fingerprint, 16) >= 0


def test_synthetic_is_deterministic_and_seeded(tmp_path):
    first, second = load_splits(synthetic_cfg(tmp_path)), load_splits(synthetic_cfg(tmp_path))
    assert np.array_equal(first.x_train, second.x_train) and np.array_equal(first.y_val, second.y_val)
    assert first.fingerprint == second.fingerprint
    other = load_splits(synthetic_cfg(tmp_path, generator_seed=1))
    assert not np.array_equal(first.x_test, other.x_test)
    assert other.fingerprint != first.fingerprint


def test_synthetic_classes_are_learnable(tmp_path):
    # Nearest class centroid on stripe power spectra (orientation) and on mean colour: both far above chance (0.25).
    splits = load_splits(synthetic_cfg(tmp_path))

    def spectrum(x):
        gray = x.astype(float).mean(-1)
        gray -= gray.mean(axis=(1, 2), keepdims=True)
        return (np.abs(np.fft.fft2(gray)) ** 2).reshape(len(x), -1)

    def mean_colour(x):
        return x.reshape(len(x), -1, 3).mean(1)

    for features in (spectrum, mean_colour):
        train, test = features(splits.x_train), features(splits.x_test)
        centroids = np.stack([train[splits.y_train == k].mean(0) for k in range(4)])
        predicted = np.argmin(((test[:, None] - centroids) ** 2).sum(-1), axis=1)
        assert (predicted == splits.y_test).mean() > 0.7, features.__name__


def test_composed_config_loads(tmp_path):
    # The data node exactly as Hydra composes it, with ${cache_dir} interpolated from the root.
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(str(prepbench.ROOT / "conf"), version_base="1.3"):
        cfg = compose("config", overrides=["data=synthetic", f"cache_dir={tmp_path}", "hydra/help=default"])
    splits = load_splits(cfg.data)
    assert len(splits.y_val) == cfg.data.val_size
    assert len(splits.y_train) + len(splits.y_val) == cfg.data.train_images


# ---------------------------------------------------------------- cifar10 source (no network: file:// urls)


def make_cifar_archive(path: Path, per_batch=4) -> tuple[Path, np.ndarray]:
    """An archive in the official layout; returns it and all its images in CHW rows order."""
    rng = np.random.default_rng(0)
    rows = rng.integers(0, 256, size=(6 * per_batch, 3072), dtype=np.uint8)
    labels = np.arange(6 * per_batch) % 3
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    with tarfile.open(path, "w:gz") as tar:
        members = {
            name: {
                b"data": rows[i * per_batch : (i + 1) * per_batch],
                b"labels": labels[i * per_batch : (i + 1) * per_batch].tolist(),
                b"batch_label": name.encode(),
            }
            for i, name in enumerate(names)
        }
        members["batches.meta"] = {b"label_names": [b"ant", b"bee", b"cow"], b"num_vis": 3072}
        for name, content in members.items():
            blob = pickle.dumps(content, protocol=2)
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))
    return path, rows


def cifar_cfg(tmp_path, archive: Path, md5: str, **overrides):
    return {
        **SPLIT_SETTINGS,
        "source": "cifar10",
        "url": archive.resolve().as_uri(),
        "md5": md5,
        "cache_dir": str(tmp_path / "cache"),
        **overrides,
    }


def test_cifar10_download_parse_and_offline_reuse(tmp_path):
    archive, rows = make_cifar_archive(tmp_path / "cifar-10-python.tar.gz")
    md5 = hashlib.md5(archive.read_bytes()).hexdigest()
    splits = load_splits(cifar_cfg(tmp_path, archive, md5))

    assert (tmp_path / "cache/downloads/cifar-10-python.tar.gz").read_bytes() == archive.read_bytes()
    assert splits.class_names == ("ant", "bee", "cow")
    assert splits.x_train.shape == (20, 32, 32, 3) and splits.x_test.shape == (4, 32, 32, 3)
    # A row is 1024 red, then 1024 green, then 1024 blue bytes, each 32x32 row-major.
    downloaded = tmp_path / "cache/downloads/cifar-10-python.tar.gz"
    x_train, y_train, x_test, y_test, _ = decode_cifar10(downloaded, None)
    assert np.array_equal(x_test, rows[20:].reshape(4, 3, 32, 32).transpose(0, 2, 3, 1))
    assert x_test[1, 2, 5, 1] == rows[21, 1024 + 2 * 32 + 5]
    assert y_test.tolist() == [2, 0, 1, 2] and y_train.tolist() == (np.arange(20) % 3).tolist()

    # The split shuffles, but keeps every image with its label.
    def pairs(x, y):
        return sorted((image.tobytes(), label) for image, label in zip(x, y))

    assert pairs(splits.x_test, splits.y_test) == pairs(x_test, y_test)
    assert pairs(splits.x_train, splits.y_train) == pairs(x_train, y_train)

    # No network afterwards: the url now points nowhere, and both caches answer.
    gone = tmp_path / "nowhere" / "cifar-10-python.tar.gz"
    again = load_splits(cifar_cfg(tmp_path, gone, md5))
    assert np.array_equal(again.x_train, splits.x_train) and again.fingerprint == splits.fingerprint
    for decoded in (tmp_path / "cache/data").glob("*.npz"):
        decoded.unlink()  # forces decoding from the downloaded archive, still offline
    decoded_again = load_splits(cifar_cfg(tmp_path, gone, md5))
    assert np.array_equal(decoded_again.x_test, splits.x_test)


def test_cifar10_md5_mismatch_names_url_and_both_md5s(tmp_path):
    archive, _ = make_cifar_archive(tmp_path / "cifar-10-python.tar.gz")
    actual = hashlib.md5(archive.read_bytes()).hexdigest()
    cfg = cifar_cfg(tmp_path, archive, "0" * 32)
    with pytest.raises(PrepbenchError) as error:
        load_splits(cfg)
    assert cfg["url"] in str(error.value) and "0" * 32 in str(error.value) and actual in str(error.value)
    assert not list((tmp_path / "cache/downloads").iterdir())  # nothing half-trusted left behind


def test_cifar10_unreachable_url_without_cache(tmp_path):
    with pytest.raises(PrepbenchError, match="cannot download data.url=file://"):
        load_splits(cifar_cfg(tmp_path, tmp_path / "missing.tar.gz", "0" * 32))


def test_cifar10_image_size_resizes(tmp_path):
    archive, _ = make_cifar_archive(tmp_path / "cifar-10-python.tar.gz")
    md5 = hashlib.md5(archive.read_bytes()).hexdigest()
    splits = load_splits(cifar_cfg(tmp_path, archive, md5, image_size=16))
    assert splits.x_train.shape == (20, 16, 16, 3)


# ---------------------------------------------------------------- folder source


def test_folder_directory_labels_order_and_conversions(tmp_path):
    tree = make_tree(tmp_path / "tree", classes=("zebra", "ant"))
    save_image(tree / "train/ant/gray.PNG", colour_image(77), mode="L")  # grayscale, upper-case extension
    save_image(tree / "train/ant/alpha.png", colour_image(66), mode="RGBA")
    save_image(tree / "train/zebra/photo.JPEG", colour_image(128))
    (tree / "train/zebra/notes.txt").write_text("not an image")
    splits = load_splits(folder_cfg(tmp_path, tree))

    assert splits.class_names == ("ant", "zebra")  # sorted, not creation order
    assert splits.x_train.shape == (9, 8, 8, 3) and splits.x_test.shape == (4, 8, 8, 3)  # notes.txt ignored
    x, y = in_source_order(splits.x_train, splits.y_train)
    assert y.tolist() == [0, 0, 0, 0, 0, 1, 1, 1, 1]
    # make_tree gave zebra (first) values 0..2 and ant 10..12; labels follow sorted names instead.
    assert x[:, 0, 0, 0].tolist()[:8] == [10, 11, 12, 66, 77, 0, 1, 2]
    assert x[3].tolist() == colour_image(66).tolist()  # RGBA -> RGB
    assert x[4].tolist() == colour_image(77).tolist()  # L -> RGB
    assert abs(int(x[8, 4, 4, 0]) - 128) <= 2  # JPEG is lossy


def test_folder_zip_with_wrapper_matches_directory(tmp_path):
    tree = make_tree(tmp_path / "tree")
    from_dir = load_splits(folder_cfg(tmp_path, tree))
    archive = zip_tree(tree, tmp_path / "tree.zip", wrapper="tree/")
    from_zip = load_splits(folder_cfg(tmp_path, archive))
    assert from_zip.class_names == from_dir.class_names == ("cat", "dog")
    assert np.array_equal(from_zip.x_train, from_dir.x_train) and np.array_equal(from_zip.y_test, from_dir.y_test)


def test_folder_image_size_resizes_mixed_sizes(tmp_path):
    tree = make_tree(tmp_path / "tree")
    save_image(tree / "train/cat/big.png", colour_image(50, size=(20, 12)))
    with pytest.raises(PrepbenchError, match=r"train/cat/big\.png is 12x20 but earlier images are 8x8"):
        load_splits(folder_cfg(tmp_path, tree))
    splits = load_splits(folder_cfg(tmp_path, tree, image_size=8))
    assert splits.x_train.shape == (7, 8, 8, 3) and splits.x_test.shape == (4, 8, 8, 3)
    assert (splits.x_train == 50).all(axis=(1, 2, 3)).sum() == 1  # big.png, resized


def test_folder_second_load_reads_cache(tmp_path, monkeypatch):
    tree = make_tree(tmp_path / "tree")
    archive = zip_tree(tree, tmp_path / "tree.zip")
    first = load_splits(folder_cfg(tmp_path, archive))
    assert len(list((tmp_path / "cache/data").glob("folder-*.npz"))) == 1

    def no_decoding(*args, **kwargs):
        raise AssertionError("decoded again despite the cache")

    monkeypatch.setattr(folder, "decode_listing", no_decoding)
    second = load_splits(folder_cfg(tmp_path, archive))
    assert np.array_equal(second.x_train, first.x_train) and second.fingerprint == first.fingerprint
    with pytest.raises(AssertionError, match="decoded again"):  # the patch is live: an uncached source decodes
        load_splits(folder_cfg(tmp_path, tree))


def test_folder_directory_cache_is_keyed_by_content(tmp_path, monkeypatch):
    tree = make_tree(tmp_path / "tree")
    first = load_splits(folder_cfg(tmp_path, tree))
    save_image(tree / "train/cat/000.png", colour_image(200))  # same name, new content
    changed = load_splits(folder_cfg(tmp_path, tree))
    assert 200 in changed.x_train[:, 0, 0, 0] and 200 not in first.x_train[:, 0, 0, 0]
    assert changed.fingerprint != first.fingerprint
    assert len(list((tmp_path / "cache/data").glob("*.npz"))) == 2


@pytest.mark.parametrize("damage", ["truncate", "flip_byte"])
def test_corrupt_cache_is_detected_deleted_and_rebuilt(tmp_path, caplog, damage):
    tree = make_tree(tmp_path / "tree")
    first = load_splits(folder_cfg(tmp_path, tree))
    (cache_file,) = (tmp_path / "cache/data").glob("*.npz")
    blob = cache_file.read_bytes()
    if damage == "truncate":
        cache_file.write_bytes(blob[: len(blob) // 2])
    else:  # a flipped bit inside the image array, caught by the zip member's CRC
        middle = blob.index(b"x_train.npy") + 400
        cache_file.write_bytes(blob[:middle] + bytes([blob[middle] ^ 1]) + blob[middle + 1 :])
    with caplog.at_level(logging.WARNING, logger="prepbench"):
        rebuilt = load_splits(folder_cfg(tmp_path, tree))
    assert "is damaged" in caplog.text and str(cache_file) in caplog.text
    assert np.array_equal(rebuilt.x_train, first.x_train)
    assert read_cache(cache_file) is not None  # rewritten whole


# ---------------------------------------------------------------- folder source: refused inputs


def test_path_does_not_exist(tmp_path):
    with pytest.raises(PrepbenchError, match=r"data.path=.*/nope does not exist; expected a directory or a \.zip"):
        load_splits(folder_cfg(tmp_path, tmp_path / "nope"))


def test_path_unset(tmp_path):
    with pytest.raises(PrepbenchError, match=r"data.path is not set"):
        load_splits(folder_cfg(tmp_path, "???"))


def test_path_is_neither_zip_nor_directory(tmp_path):
    not_zip = tmp_path / "images.zip"
    not_zip.write_text("plain text")
    with pytest.raises(PrepbenchError, match=r"images\.zip is neither a directory nor a zip file"):
        load_splits(folder_cfg(tmp_path, not_zip))


def test_missing_train_or_test(tmp_path):
    tree = make_tree(tmp_path / "tree")
    (tree / "test").rename(tree / "validation")
    with pytest.raises(PrepbenchError, match=r"has no test/ .*found: train, validation"):
        load_splits(folder_cfg(tmp_path, tree))
    archive = zip_tree(tree, tmp_path / "tree.zip", wrapper="wrapped/")
    with pytest.raises(PrepbenchError, match=r"has no test/ in wrapped/"):
        load_splits(folder_cfg(tmp_path, archive))


def test_class_folders_differ_between_splits(tmp_path):
    tree = make_tree(tmp_path / "tree")
    save_image(tree / "train/emu/000.png", colour_image(1))
    (tree / "test/dog").rename(tree / "test/dingo")
    with pytest.raises(PrepbenchError, match=r"only in train/: dog, emu; only in test/: dingo"):
        load_splits(folder_cfg(tmp_path, tree))


def test_corrupt_image_is_named(tmp_path):
    tree = make_tree(tmp_path / "tree")
    (tree / "train/dog/001.png").write_bytes(b"\x89PNG\r\n\x1a\n but not really")
    with pytest.raises(PrepbenchError, match=r"cannot decode train/dog/001\.png"):
        load_splits(folder_cfg(tmp_path, tree))
    truncated = tree / "test/cat/000.png"
    (tree / "train/dog/001.png").write_bytes(truncated.read_bytes())
    truncated.write_bytes(truncated.read_bytes()[:50])  # cuts into the pixel data
    archive = zip_tree(tree, tmp_path / "tree.zip")
    with pytest.raises(PrepbenchError, match=r"cannot decode test/cat/000\.png"):
        load_splits(folder_cfg(tmp_path, archive))


def png16(pixels: np.ndarray) -> bytes:
    """A 16-bit PNG (grayscale for HxW, RGB for HxWx3), written by hand: PIL writes neither."""
    import struct
    import zlib

    colour_type = 0 if pixels.ndim == 2 else 2
    rows = b"".join(b"\x00" + row.astype(">u2").tobytes() for row in pixels)

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", pixels.shape[1], pixels.shape[0], 16, colour_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def test_16_bit_pngs_are_scaled_to_8_bits_not_clipped(tmp_path):
    tree = make_tree(tmp_path / "tree")
    levels = np.array([0, 257 * 40, 257 * 89, 257 * 200, 65535], np.uint16)  # 8-bit 0, 40, 89, 200, 255
    gray = np.resize(levels, (8, 8)).astype(np.uint16)
    (tree / "train/cat/gray16.png").write_bytes(png16(gray))
    (tree / "train/cat/rgb16.png").write_bytes(png16(np.stack([gray, gray // 2, 65535 - gray], -1)))
    splits = load_splits(folder_cfg(tmp_path, tree))
    x = splits.x_train.reshape(len(splits.x_train), -1)
    with Image.open(tree / "train/cat/gray16.png") as im:
        assert im.mode.startswith("I")  # PIL's convert("RGB") of this saturates at 255
    expected_gray = np.round(gray / 257).astype(np.uint8)
    found = [row for row in x if np.array_equal(row, np.repeat(expected_gray.reshape(-1), 3))]
    assert len(found) == 1 and found[0].mean() == pytest.approx(expected_gray.mean())
    rgb = np.stack([expected_gray, np.round(gray // 2 / 257), np.round((65535 - gray) / 257)], -1)
    close = [row for row in x if np.abs(row.astype(int) - rgb.reshape(-1)).max() <= 1]
    assert len(close) == 1  # 16-bit RGB: PIL keeps the high byte (within 1 of the exact scaling)


@pytest.mark.parametrize("where", ["train/cat/more/extra.png", "test/dog/2024/extra.jpg", "train/loose.png"])
def test_images_outside_a_class_folder_are_refused_by_name_not_dropped(tmp_path, where):
    tree = make_tree(tmp_path / "tree")
    save_image(tree / where, colour_image(5))
    (tree / "train/cat/more").mkdir(exist_ok=True)
    (tree / "train/cat/more/readme.txt").write_text("not an image: ignored")
    with pytest.raises(
        PrepbenchError,
        match=rf"{where} is not directly in a class folder; expected every image at "
        r"train/<class>/<file>",
    ):
        load_splits(folder_cfg(tmp_path, tree))
    with pytest.raises(PrepbenchError, match=rf"{where} is not directly in a class folder"):
        load_splits(folder_cfg(tmp_path, zip_tree(tree, tmp_path / "tree.zip", wrapper="top/")))


def test_unsupported_image_files_are_named(tmp_path):
    tree = make_tree(tmp_path / "tree", classes=("cat", "dog", "emu"))
    for i in range(3):  # a class whose training images are all BMP, and a GIF
        (tree / f"train/emu/{i:03d}.png").rename(tree / f"train/emu/{i:03d}.bmp")
    Image.fromarray(colour_image(9)).save(tree / "train/emu/003.gif")
    with pytest.raises(
        PrepbenchError,
        match=r"tree: train/emu/000\.bmp, train/emu/001\.bmp, train/emu/002\.bmp and 1 more "
        r"are an unsupported image format; expected JPEG or PNG images \(\.jpg",
    ):
        load_splits(folder_cfg(tmp_path, tree))


def test_a_failed_download_suggests_folder_data(tmp_path):
    with pytest.raises(
        PrepbenchError,
        match=r"cannot download data.url=file://.*or use your own images: "
        r"data=folder data.path=DIR_OR_ZIP$",
    ):
        load_splits(cifar_cfg(tmp_path, tmp_path / "missing.tar.gz", "0" * 32))


# ---------------------------------------------------------------- the real JPEG zip (reads only a few hundred images)


@needs_real_zip
def test_real_zip_class_list_and_counts():
    with zipfile.ZipFile(REAL_ZIP) as archive:
        listing = list_folder_tree(REAL_ZIP, archive.namelist())
    assert listing.class_names == CIFAR10_CLASSES
    assert len(listing.train) == 50_000 and len(listing.test) == 10_000
    assert np.bincount([label for _, label in listing.train]).tolist() == [5000] * 10


@needs_real_zip
def test_real_zip_subset_loads(tmp_path):
    # 20 train and 5 test images per class, copied byte for byte with the real wrapping folder.
    subset = tmp_path / "subset.zip"
    with zipfile.ZipFile(REAL_ZIP) as real, zipfile.ZipFile(subset, "w") as small:
        for split, count in (("train", 20), ("test", 5)):
            for cls in CIFAR10_CLASSES:
                for i in range(count):
                    name = f"cifar10-jpeg/{split}/{cls}/{i:04d}.jpg"
                    small.writestr(name, real.read(name))
        reference = np.asarray(Image.open(io.BytesIO(real.read("cifar10-jpeg/test/ship/0003.jpg"))).convert("RGB"))
    splits = load_splits(folder_cfg(tmp_path, subset, val_size=50, train_size=100))
    assert splits.class_names == CIFAR10_CLASSES
    assert splits.x_train.shape == (100, 32, 32, 3) and splits.x_val.shape == (50, 32, 32, 3)
    assert np.bincount(splits.y_val).tolist() == [5] * 10 and np.bincount(splits.y_train).tolist() == [10] * 10
    assert splits.x_test.shape == (50, 32, 32, 3)
    ship = CIFAR10_CLASSES.index("ship")
    assert sum(np.array_equal(image, reference) for image in splits.x_test[splits.y_test == ship]) == 1


def test_command_line_loads_and_reports_or_names_the_bad_value(tmp_path, capsys):
    assert main(["data=synthetic", f"cache_dir={tmp_path}"]) == 0
    assert "synthetic: 320 train / 80 val / 120 test images" in capsys.readouterr().out
    assert main(["data=folder", f"data.path={tmp_path}/nope.zip", f"cache_dir={tmp_path}"]) == 2
    assert "nope.zip does not exist" in capsys.readouterr().err


def test_command_line_help_and_unknown_option(capsys):
    assert main(["--help"]) == 0 and "usage: python -m prepbench.data" in capsys.readouterr().out
    assert main(["data=nope"]) == 2
    assert capsys.readouterr().err.strip() == "error: data=nope is unknown; expected one of cifar10, folder, synthetic"
