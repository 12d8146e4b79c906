"""The data layer: IDX files, dataset lookup and download, glyph-digits, the loader.

Every test runs offline against files it writes itself: the cache points into tmp_path,
SCRATCHGEN_DATA is unset, system folders are hidden and the network is replaced by a fake.
"""
import argparse
import gzip
import hashlib
import http.client
import os
import re
import urllib.error

import numpy as np
import pytest
from hypothesis import given, strategies as st
from hypothesis.extra import numpy as hnp

from helpers import offline_fetch
from scratchgen import data
from scratchgen.autograd.random import generator_state_array
from scratchgen.cli import data_option
from scratchgen.data import glyphs, idx, sources

MNIST_FILES = sources.SPLIT_FILES["train"]


pytestmark = pytest.mark.usefixtures("isolated_data")   # conftest.py: offline, a cache of its own


def tiny_split(n=12, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.integers(0, 256, (n, 28, 28), dtype=np.uint8),
            rng.integers(0, 10, n, dtype=np.uint8))


def write_split(folder, images, labels, files=MNIST_FILES, gz=True):
    suffix = ".gz" if gz else ""
    idx.write_idx(folder / f"{files[0]}{suffix}", images)
    idx.write_idx(folder / f"{files[1]}{suffix}", labels)


@pytest.fixture
def fake_mnist(monkeypatch):
    """A tiny train split that the checksum table accepts as MNIST's."""
    images, labels = tiny_split()
    digests = {f: hashlib.md5(idx.encode(a)).hexdigest()
               for f, a in zip(MNIST_FILES, (images, labels))}
    monkeypatch.setitem(sources.MD5, "mnist", digests)
    return images, labels


# ---------------------------------------------------------------- IDX format

IDX_DTYPES = [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64]


@given(array=st.sampled_from(IDX_DTYPES).flatmap(
    lambda dt: hnp.arrays(dt, hnp.array_shapes(min_dims=0, max_dims=4, min_side=0,
                                                max_side=5))),
       gz=st.booleans())
def test_idx_round_trip(tmp_path_factory, array, gz):
    path = tmp_path_factory.mktemp("idx") / ("a.idx.gz" if gz else "a.idx")
    data.write_idx(path, array)
    back = data.read_idx(path)
    assert back.dtype == array.dtype and back.shape == array.shape
    np.testing.assert_array_equal(back, array)
    assert path.read_bytes().startswith(b"\x1f\x8b") == gz


def test_idx_header_layout_is_the_mnist_one():
    raw = idx.encode(np.zeros((2, 3, 4), np.int16))
    assert raw[:4] == bytes([0, 0, 0x0B, 3])
    assert raw[4:16] == bytes([0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4])
    assert len(raw) == 16 + 2 * 24


def test_gzip_is_detected_by_content_not_name(tmp_path):
    path = tmp_path / "labels-without-suffix"
    path.write_bytes(gzip.compress(idx.encode(np.arange(5, dtype=np.uint8))))
    np.testing.assert_array_equal(data.read_idx(path), np.arange(5))


@pytest.mark.parametrize("dtype", [np.int64, np.bool_, np.complex64])
def test_unsupported_dtype_is_refused_on_write(tmp_path, dtype):
    with pytest.raises(ValueError, match="IDX cannot store dtype"):
        data.write_idx(tmp_path / "x", np.zeros(3, dtype))


GOOD = idx.encode(np.arange(24, dtype=np.uint8).reshape(2, 3, 4))
CORRUPTIONS = {
    "bad magic": (b"\x01\x00" + GOOD[2:], "bad magic number"),
    "unknown dtype code": (GOOD[:2] + b"\x0a" + GOOD[3:], "unknown dtype code 0x0a"),
    "header too short": (GOOD[:3], "header too short"),
    "dimensions cut off": (GOOD[:10], "header too short"),
    "truncated data": (GOOD[:-1], "truncated"),
    "extra trailing bytes": (GOOD + b"\0", "extra trailing bytes"),
}


@pytest.mark.parametrize("gz", [False, True], ids=["raw", "gz"])
@pytest.mark.parametrize("case", CORRUPTIONS)
def test_corrupt_idx_error_names_file_and_problem(tmp_path, case, gz):
    content, problem = CORRUPTIONS[case]
    path = tmp_path / "broken-idx3-ubyte"
    path.write_bytes(gzip.compress(content) if gz else content)
    with pytest.raises(data.IDXError, match=problem) as err:
        data.read_idx(path)
    assert str(path) in str(err.value)


def test_corrupt_gzip_error_names_file(tmp_path):
    path = tmp_path / "cut.gz"
    path.write_bytes(gzip.compress(GOOD)[:-6])
    with pytest.raises(data.IDXError, match="corrupt gzip data") as err:
        data.read_idx(path)
    assert str(path) in str(err.value)


@pytest.mark.parametrize("images, labels, problem, culprit", [
    (np.zeros((4, 28), np.uint8), np.zeros(4, np.uint8), "shape \\(N, rows, cols\\)", 0),
    (np.zeros((4, 28, 28), np.uint8), np.zeros((4, 1), np.uint8), "labels of shape", 1),
    (np.zeros((4, 28, 28), np.float32), np.zeros(4, np.uint8), "expected uint8 images", 0),
    (np.zeros((4, 28, 28), np.uint8), np.zeros(3, np.uint8), "4 images but .* 3 labels", 0),
])
def test_images_and_labels_must_match(tmp_path, images, labels, problem, culprit):
    write_split(tmp_path, images, labels)
    with pytest.raises(data.IDXError, match=problem) as err:
        data.load(str(tmp_path))
    assert MNIST_FILES[culprit] in str(err.value)


# ---------------------------------------------------------------- names and folders

def test_known_names_and_the_cli_convention(tmp_path):
    assert data.DATASETS == ("mnist", "fashion-mnist", "glyph-digits")
    assert data.DEFAULT_DATASET in data.DATASETS
    assert data.resolve_data_arg("MNIST") == "mnist"
    assert data.resolve_data_arg(str(tmp_path)) == os.path.abspath(tmp_path)


def test_unknown_name_is_a_one_line_error_listing_the_names():
    with pytest.raises(ValueError) as err:
        data.resolve_data_arg("cifar10")
    message = str(err.value)
    assert "\n" not in message and "'cifar10'" in message
    assert all(name in message for name in data.DATASETS)


def test_argparse_shows_the_unknown_name_message(capsys):
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=data_option, default=data.DEFAULT_DATASET)
    assert parser.parse_args(["--data", "fashion-mnist"]).data == "fashion-mnist"
    with pytest.raises(SystemExit):
        parser.parse_args(["--data", "cifar10"])
    assert "use one of mnist, fashion-mnist, glyph-digits" in capsys.readouterr().err


def test_unknown_split_is_refused():
    with pytest.raises(ValueError, match="unknown split 'validation'"):
        data.load("glyph-digits", "validation")


@pytest.mark.parametrize("gz", [True, False], ids=["gz", "raw"])
def test_folder_path_loads_any_idx_files_without_checksums(tmp_path, gz):
    images, labels = tiny_split()
    write_split(tmp_path, images, labels, gz=gz)
    loaded = data.load(str(tmp_path), "train")
    np.testing.assert_array_equal(loaded.images, images)
    np.testing.assert_array_equal(loaded.labels, labels)


def test_folder_without_the_files_says_which_are_expected(tmp_path):
    with pytest.raises(FileNotFoundError, match="t10k-images-idx3-ubyte") as err:
        data.load(str(tmp_path), "test")
    assert str(tmp_path) in str(err.value)


# ---------------------------------------------------------------- lookup order

def test_cache_dir_honours_xdg_cache_home(tmp_path, monkeypatch):
    assert data.cache_dir() == tmp_path / "cache" / "scratchgen"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/path")  # invalid per the XDG spec
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert data.cache_dir() == tmp_path / "home" / ".cache" / "scratchgen"


def test_lookup_order_root_then_env_then_cache_then_system(tmp_path, monkeypatch, fake_mnist):
    folders = {k: tmp_path / k for k in ("root", "env", "system")}
    folders["cache"] = data.cache_dir() / "mnist"
    for folder in folders.values():
        folder.mkdir(parents=True)
        write_split(folder, *fake_mnist)
    monkeypatch.setenv(sources.ENV_VAR, str(folders["env"]))
    monkeypatch.setitem(sources.SYSTEM_DIRS, "mnist", (folders["system"],))

    def used(root=None):
        (images_path, _), (labels_path, _) = sources.locate("mnist", "train", root)
        assert images_path.parent == labels_path.parent
        return images_path.parent

    assert used(root=folders["root"]) == folders["root"]
    assert used() == folders["env"]
    monkeypatch.delenv(sources.ENV_VAR)
    assert used() == folders["cache"]
    for f in folders["cache"].iterdir():
        f.unlink()
    assert used() == folders["system"]


def test_subfolder_named_after_the_dataset_and_raw_files(tmp_path, monkeypatch, fake_mnist):
    write_split(tmp_path / "mnist", *fake_mnist, gz=False)
    monkeypatch.setenv(sources.ENV_VAR, str(tmp_path))
    loaded = data.load("mnist")
    np.testing.assert_array_equal(loaded.images, fake_mnist[0])


def test_another_datasets_files_are_passed_over(tmp_path, monkeypatch, fake_mnist):
    images, labels = tiny_split(seed=1)
    monkeypatch.setitem(sources.MD5, "fashion-mnist", {
        f: hashlib.md5(idx.encode(a)).hexdigest() for f, a in zip(MNIST_FILES, (images, labels))})
    write_split(tmp_path, images, labels)  # Fashion-MNIST's files, under the same names
    monkeypatch.setenv(sources.ENV_VAR, str(tmp_path))
    with pytest.raises(data.DatasetNotFoundError, match="passed over, as another dataset.s files") as err:
        data.load("mnist")
    assert "holds fashion-mnist's train-images-idx3-ubyte" in str(err.value)
    write_split(data.cache_dir() / "mnist", *fake_mnist)
    np.testing.assert_array_equal(data.load("mnist").images, fake_mnist[0])
    np.testing.assert_array_equal(data.load("fashion-mnist").images, images)


def test_local_file_with_unknown_content_is_a_checksum_error(tmp_path, fake_mnist):
    images, labels = fake_mnist
    write_split(tmp_path, images, labels[::-1].copy())
    with pytest.raises(data.ChecksumError) as err:
        data.load("mnist", root=tmp_path)
    message = str(err.value)
    assert str(tmp_path / f"{MNIST_FILES[1]}.gz") in message
    assert sources.MD5["mnist"][MNIST_FILES[1]] in message


def test_truncated_local_file_reports_the_truncation(tmp_path, fake_mnist):
    write_split(tmp_path, *fake_mnist, gz=False)
    path = tmp_path / MNIST_FILES[0]
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(data.IDXError, match="truncated") as err:
        data.load("mnist", root=tmp_path)
    assert str(path) in str(err.value)


# ---------------------------------------------------------------- downloads

def serve(files: dict, log: list):
    """A fake fetch serving {url: bytes} and recording the URLs asked for."""
    def fetch(url):
        log.append(url)
        if url not in files:
            raise urllib.error.HTTPError(url, 404, "Not Found", None, None)
        return files[url]
    return fetch


def mirror_files(mirror, images, labels):
    return {f"{mirror}{f}.gz": gzip.compress(idx.encode(a))
            for f, a in zip(MNIST_FILES, (images, labels))}


def test_download_verifies_and_fills_the_cache(monkeypatch, fake_mnist):
    log = []
    first, second = sources.MIRRORS["mnist"]
    monkeypatch.setattr(sources, "fetch", serve(mirror_files(second, *fake_mnist), log))
    loaded = data.load("mnist")
    np.testing.assert_array_equal(loaded.images, fake_mnist[0])
    np.testing.assert_array_equal(loaded.labels, fake_mnist[1])
    assert log == [f"{m}{f}.gz" for f in MNIST_FILES for m in (first, second)]
    cached = sorted(p.name for p in (data.cache_dir() / "mnist").iterdir())
    assert cached == sorted(f"{f}.gz" for f in MNIST_FILES)  # and no temporary leftovers
    monkeypatch.setattr(sources, "fetch", offline_fetch)
    np.testing.assert_array_equal(data.load("mnist").images, fake_mnist[0])


@pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")
def test_cache_files_get_the_mode_open_gives_a_new_file(monkeypatch, fake_mnist):
    # Written by scratchgen.atomic_file (tests/test_atomic_file.py), not tempfile's owner-only 0o600.
    monkeypatch.setattr(sources, "fetch", serve(mirror_files(sources.MIRRORS["mnist"][0], *fake_mnist), []))
    monkeypatch.setattr(glyphs, "SPLITS", {"train": (30, 1), "test": (20, 2)})
    previous = os.umask(0o027)
    try:
        data.load("mnist")
        data.load("glyph-digits", "test")
    finally:
        os.umask(previous)
    cached = [*(data.cache_dir() / "mnist").iterdir(), glyphs.cache_path(20, 2)]
    modes = {path.name: oct(os.stat(path).st_mode & 0o777) for path in cached}
    assert len(modes) == 3 and set(modes.values()) == {"0o640"}, modes


def test_download_checksum_mismatch_names_both_digests_and_saves_nothing(
        monkeypatch, fake_mnist):
    images, labels = fake_mnist
    mirror = sources.MIRRORS["mnist"][0]
    files = mirror_files(mirror, images[::-1].copy(), labels)
    monkeypatch.setattr(sources, "fetch", serve(files, []))
    with pytest.raises(data.ChecksumError) as err:
        data.load("mnist")
    expected = sources.MD5["mnist"][MNIST_FILES[0]]
    actual = hashlib.md5(idx.encode(images[::-1])).hexdigest()
    message = str(err.value)
    assert expected in message and actual in message and f"{mirror}{MNIST_FILES[0]}" in message
    cache = data.cache_dir() / "mnist"
    assert not cache.exists() or not any(cache.iterdir())


def test_download_that_is_not_gzip_is_refused(monkeypatch, fake_mnist):
    mirror = sources.MIRRORS["mnist"][0]
    monkeypatch.setattr(sources, "fetch", serve(
        {f"{mirror}{f}.gz": b"<html>moved</html>" for f in MNIST_FILES}, []))
    with pytest.raises(data.IDXError, match="corrupt gzip data") as err:
        data.load("mnist")
    assert f"{mirror}{MNIST_FILES[0]}.gz" in str(err.value)


@pytest.mark.parametrize("failure", [
    urllib.error.URLError("[Errno -2] Name or service not known"),
    TimeoutError("timed out"),
    ConnectionResetError("reset by peer"),
    http.client.IncompleteRead(b""),
])
def test_network_failures_fall_through_to_the_offline_message(monkeypatch, failure):
    def fetch(url):
        raise failure
    monkeypatch.setattr(sources, "fetch", fetch)
    with pytest.raises(data.DatasetNotFoundError, match="downloading it failed"):
        data.load("mnist")


def test_offline_message_says_where_what_and_the_two_ways_out(tmp_path, monkeypatch):
    monkeypatch.setenv(sources.ENV_VAR, str(tmp_path / "env"))
    with pytest.raises(data.DatasetNotFoundError) as err:
        data.load("fashion-mnist", "test", root=tmp_path / "root")
    message = str(err.value)
    for expected in [
        str(tmp_path / "root"), str(tmp_path / "env"), str(data.cache_dir() / "fashion-mnist"),
        "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte",
        sources.MIRRORS["fashion-mnist"][0], "no network in tests",
        f"{sources.ENV_VAR}=", 'load("glyph-digits")', "--data glyph-digits",
    ]:
        assert expected in message, expected


def test_offline_message_mentions_an_unset_env_var():
    with pytest.raises(data.DatasetNotFoundError, match=f"{sources.ENV_VAR} is not set"):
        data.load("mnist")


def test_fashion_mnist_found_where_debian_installs_it(tmp_path, monkeypatch):
    images, labels = tiny_split(seed=2)
    write_split(tmp_path, images, labels)
    monkeypatch.setitem(sources.MD5, "fashion-mnist", {
        f: hashlib.md5(idx.encode(a)).hexdigest() for f, a in zip(MNIST_FILES, (images, labels))})
    monkeypatch.setitem(sources.SYSTEM_DIRS, "fashion-mnist", (tmp_path,))
    np.testing.assert_array_equal(data.load("fashion-mnist").labels, labels)


# ---------------------------------------------------------------- glyph-digits

def test_glyph_digits_are_deterministic_per_seed():
    a_images, a_labels = glyphs.generate(40, seed=3)
    b_images, b_labels = glyphs.generate(40, seed=3)
    assert a_images.tobytes() == b_images.tobytes() and a_labels.tobytes() == b_labels.tobytes()
    c_images, _ = glyphs.generate(40, seed=4)
    assert (a_images != c_images).any()


def test_glyph_digits_do_not_depend_on_chunking(monkeypatch):
    whole, _ = glyphs.generate(30, seed=5)
    monkeypatch.setattr(glyphs, "_CHUNK", 7)
    np.testing.assert_array_equal(glyphs.generate(30, seed=5)[0], whole)
    # Rounding to uint8 hides most last-bit differences, so also hold a float step to it: the centres of mass.
    ink = np.random.default_rng(0).uniform(size=(30, 28, 28)).astype(np.float32)
    chunked = np.concatenate([glyphs._centre_of_mass(ink[start:start + 7]) for start in range(0, 30, 7)])
    np.testing.assert_array_equal(chunked, glyphs._centre_of_mass(ink))


def test_glyph_digits_look_like_mnist_digits():
    images, labels = glyphs.generate(200, seed=6)
    assert images.shape == (200, 28, 28) and images.dtype == np.uint8
    assert np.bincount(labels, minlength=10).tolist() == [20] * 10
    assert images.max(axis=(1, 2)).min() >= 250  # every digit has solid strokes
    # MNIST's convention: centre of mass at (14, 14), ink inside the central 20x20 box
    mass = images.astype(float)
    grid = np.arange(28)
    com_y = (mass.sum(2) @ grid) / mass.sum((1, 2))
    com_x = (mass.sum(1) @ grid) / mass.sum((1, 2))
    assert abs(com_y - 14).max() < 1 and abs(com_x - 14).max() < 1
    assert images[:, :2].max() < 128 and images[:, :, -2:].max() < 128


def test_glyph_digits_are_learnable():
    """Nearest class means, fitted on one seed, classify another well above chance."""
    train_x, train_y = glyphs.generate(1000, seed=7)
    test_x, test_y = glyphs.generate(300, seed=8)
    flat = lambda x: x.reshape(len(x), -1).astype(np.float32) / 255  # noqa: E731
    means = np.stack([flat(train_x[train_y == c]).mean(0) for c in range(10)])
    distance = ((flat(test_x)[:, None] - means[None]) ** 2).sum(-1)
    assert (distance.argmin(1) == test_y).mean() > 0.5


def test_glyph_splits_are_cached(monkeypatch):
    monkeypatch.setattr(glyphs, "SPLITS", {"train": (30, 1), "test": (20, 2)})
    train = data.load("glyph-digits", "train")
    assert glyphs.cache_path(30, 1).is_file() and len(train.images) == 30

    def no_generation(n, seed):
        raise AssertionError("the cache should have been used")
    monkeypatch.setattr(glyphs, "generate", no_generation)
    np.testing.assert_array_equal(data.load("glyph-digits", "train").images, train.images)
    with pytest.raises(AssertionError, match="cache should have been used"):
        data.load("glyph-digits", "test")  # a different seed: not in the cache


def test_unreadable_glyph_cache_is_regenerated(monkeypatch):
    monkeypatch.setattr(glyphs, "SPLITS", {"train": (30, 1), "test": (20, 2)})
    fresh = data.load("glyph-digits", "test")
    glyphs.cache_path(20, 2).write_bytes(b"not a zip file")
    with pytest.warns(UserWarning, match="regenerating"):
        again = data.load("glyph-digits", "test")
    np.testing.assert_array_equal(again.images, fresh.images)


def test_train_and_test_splits_differ():
    (n_train, seed_train), (n_test, seed_test) = glyphs.SPLITS["train"], glyphs.SPLITS["test"]
    assert (n_train, n_test) == (60_000, 10_000) and seed_train != seed_test


# ---------------------------------------------------------------- loader

@pytest.fixture
def dataset():
    return data.Dataset(*tiny_split(n=50, seed=9))


def epochs(loader, count=2):
    return [list(loader) for _ in range(count)]


def test_batches_are_float32_in_unit_range_and_cover_each_example_once(dataset):
    loader = data.DataLoader(dataset, batch_size=16, seed=1)
    assert len(loader) == 4
    batches = list(loader)
    assert [len(x) for x, _ in batches] == [16, 16, 16, 2]
    for x, y in batches:
        assert x.dtype == np.float32 and y.dtype == np.int64 and x.shape[1:] == (28, 28)
        assert 0 <= x.min() and x.max() <= 1
    seen = np.concatenate([x for x, _ in batches])
    order = np.lexsort(seen.reshape(50, -1).T)
    expected = dataset.images.astype(np.float32) / 255
    np.testing.assert_array_equal(seen[order], expected[np.lexsort(expected.reshape(50, -1).T)])


def test_shuffling_is_reproducible_and_changes_every_epoch(dataset):
    def label_orders(seed):
        return [np.concatenate([y for _, y in e]).tolist()
                for e in epochs(data.DataLoader(dataset, 10, seed=seed))]
    first, second = label_orders(seed=1)
    assert [first, second] == label_orders(seed=1)
    assert first != second
    assert label_orders(seed=2) != [first, second]


def test_no_shuffle_keeps_the_order(dataset):
    y = np.concatenate([y for _, y in data.DataLoader(dataset, 7, shuffle=False)])
    np.testing.assert_array_equal(y, dataset.labels)


def test_drop_last_skips_the_short_batch(dataset):
    loader = data.DataLoader(dataset, batch_size=16, drop_last=True)
    assert len(loader) == 3 and [len(x) for x, _ in loader] == [16, 16, 16]


def test_threshold_binarization_is_fixed(dataset):
    loader = data.DataLoader(dataset, 50, shuffle=False, binarize="threshold", threshold=0.3)
    (x1, _), = list(loader)
    (x2, _), = list(loader)
    np.testing.assert_array_equal(x1, dataset.images > 0.3 * 255)
    np.testing.assert_array_equal(x1, x2)


def test_bernoulli_binarization_is_resampled_each_epoch_with_the_right_mean():
    images = np.full((400, 28, 28), 64, np.uint8)
    loader = data.DataLoader((images, np.zeros(400)), 400, binarize="bernoulli", seed=3)
    (x1, _), = list(loader)
    (x2, _), = list(loader)
    assert set(np.unique(x1)) == {0.0, 1.0} and (x1 != x2).any()
    assert abs(x1.mean() - 64 / 255) < 0.005
    (x1_again, _), = list(data.DataLoader((images, np.zeros(400)), 400,
                                          binarize="bernoulli", seed=3))
    np.testing.assert_array_equal(x1, x1_again)


def test_binarization_does_not_change_the_order(dataset):
    def labels(**kw):
        return np.concatenate([y for _, y in data.DataLoader(dataset, 8, seed=4, **kw)])
    np.testing.assert_array_equal(labels(), labels(binarize="bernoulli"))


@pytest.mark.parametrize("kwargs, problem", [
    ({"batch_size": 0}, "batch_size"),
    ({"batch_size": 2.5}, "batch_size"),
    ({"binarize": "dynamic"}, "unknown binarize"),
])
def test_loader_rejects_bad_options(dataset, kwargs, problem):
    with pytest.raises(ValueError, match=problem):
        data.DataLoader(dataset, **kwargs)


def test_loader_rejects_float_images():
    with pytest.raises(ValueError, match="uint8 images"):
        data.DataLoader((np.zeros((3, 28, 28)), np.zeros(3)))


def test_restrict_to_classes(dataset):
    normal = dataset.restrict([3, 7])
    assert set(normal.labels.tolist()) == {3, 7}
    assert len(normal.images) == np.isin(dataset.labels, [3, 7]).sum()
    with pytest.raises(ValueError, match="labels present"):
        dataset.restrict([10])


def test_load_with_classes(monkeypatch):
    monkeypatch.setattr(glyphs, "SPLITS", {"train": (40, 1), "test": (20, 2)})
    images, labels = data.load("glyph-digits", classes=[0])
    assert labels.tolist() == [0] * 4 and images.shape == (4, 28, 28)


def test_validation_split_is_the_last_twelfth_disjoint_and_complete(dataset):
    train, val = dataset.split_validation()
    assert (len(train.labels), len(val.labels)) == (45, 5)   # 50 - ceil(50 / 12)
    np.testing.assert_array_equal(np.concatenate([train.images, val.images]), dataset.images)
    np.testing.assert_array_equal(np.concatenate([train.labels, val.labels]), dataset.labels)
    rows = lambda d: {im.tobytes() for im in d.images}  # noqa: E731
    assert not rows(train) & rows(val)


@given(st.integers(2, 200_000))
def test_validation_start_keeps_both_parts_and_holds_out_mnists_5000(n):
    start = data.validation_start(n)
    assert 1 <= start < n and n - start == -(-n // 12)
    assert data.validation_start(60_000) == 55_000


@pytest.mark.parametrize("n", [0, 1])
def test_a_split_too_small_to_hold_out_validation_is_refused(n):
    with pytest.raises(ValueError, match="needs at least 2, one to train on and one to validate on"):
        data.Dataset(np.zeros((n, 28, 28), np.uint8), np.zeros(n, np.uint8)).split_validation()


# ---------------------------------------------------------------- loader state (state_dict / load_state_dict)

def assert_same_epochs(got, expected):
    assert len(got) == len(expected)
    for got_epoch, expected_epoch in zip(got, expected):
        assert len(got_epoch) == len(expected_epoch)
        for (x, y), (x_expected, y_expected) in zip(got_epoch, expected_epoch):
            assert x.dtype == x_expected.dtype and y.dtype == y_expected.dtype
            np.testing.assert_array_equal(x, x_expected)
            np.testing.assert_array_equal(y, y_expected)


def epochs_differ(a, b):
    return any((x != x_b).any() or (y != y_b).any()
               for epoch_a, epoch_b in zip(a, b) for (x, y), (x_b, y_b) in zip(epoch_a, epoch_b))


@pytest.mark.parametrize("binarize", [None, "bernoulli"])
@pytest.mark.parametrize("epochs_before", [0, 2])
def test_loader_state_gives_the_same_next_epochs_bit_for_bit(dataset, binarize, epochs_before):
    saved = data.DataLoader(dataset, 16, seed=1, binarize=binarize)
    epochs(saved, epochs_before)
    state = saved.state_dict()
    assert set(state) == {"order", "bits"}
    assert all(a.dtype == np.uint8 and a.ndim == 1 for a in state.values())
    expected = epochs(saved, 3)
    restored = data.DataLoader(dataset, 16, seed=2, binarize=binarize)
    assert epochs_differ(epochs(restored, 3), expected)
    restored.load_state_dict(state)
    assert_same_epochs(epochs(restored, 3), expected)


def test_loader_state_restores_the_binarization_stream_on_its_own(dataset):
    # Without shuffling the order is fixed, so only the bits stream can make the epochs agree.
    saved = data.DataLoader(dataset, 50, shuffle=False, seed=1, binarize="bernoulli")
    epochs(saved, 1)
    state = saved.state_dict()
    expected = epochs(saved, 2)
    restored = data.DataLoader(dataset, 50, shuffle=False, seed=2, binarize="bernoulli")
    restored.load_state_dict(state)
    assert_same_epochs(epochs(restored, 2), expected)


def test_loader_state_taken_mid_epoch_gives_the_next_epoch_a_new_loop_would_start(dataset):
    saved = data.DataLoader(dataset, 16, seed=1, binarize="bernoulli")
    next(iter(saved))
    state = saved.state_dict()
    expected = epochs(saved, 1)
    restored = data.DataLoader(dataset, 16, seed=2, binarize="bernoulli")
    restored.load_state_dict(state)
    assert_same_epochs(epochs(restored, 1), expected)


def test_loader_state_round_trips_through_npz_without_pickle(dataset, tmp_path):
    saved = data.DataLoader(dataset, 16, seed=1, binarize="bernoulli")
    epochs(saved, 1)
    np.savez(tmp_path / "loader.npz", **saved.state_dict())
    expected = epochs(saved, 2)
    restored = data.DataLoader(dataset, 16, seed=2, binarize="bernoulli")
    with np.load(tmp_path / "loader.npz", allow_pickle=False) as state:
        restored.load_state_dict(state)
    assert_same_epochs(epochs(restored, 2), expected)


def other_generators_state():
    return generator_state_array(np.random.Generator(np.random.PCG64DXSM(0)))


@pytest.mark.parametrize("change, problem", [
    (lambda s: {"order": s["order"]}, "missing (expected but absent from the state): bits"),
    (lambda s: {}, "missing (expected but absent from the state): order, bits"),
    (lambda s: {**s, "epoch": np.int64(3)}, "unexpected (in the state but not expected): epoch"),
    (lambda s: {"order": s["order"], "bit": s["bits"]},
     "missing (expected but absent from the state): bits; unexpected (in the state but not expected): bit"),
    (lambda s: {**s, "bits": s["bits"][:-1]},
     "bits: not a saved state of a PCG64 generator: JSONDecodeError"),
    (lambda s: {**s, "bits": s["bits"].astype(np.int64)},
     "bits: a saved generator state is a 1-d uint8 array (JSON bytes), got int64 of shape"),
    (lambda s: {**s, "bits": other_generators_state()},
     "bits: not a saved state of a PCG64 generator: ValueError("),
])
def test_loader_refuses_a_bad_state_in_one_line_and_changes_nothing(dataset, change, problem):
    loader = data.DataLoader(dataset, 16, seed=1, binarize="bernoulli")
    before = loader.state_dict()
    # A valid "order" from another loader, so that a load stopping halfway would show.
    good = data.DataLoader(dataset, 16, seed=2).state_dict()
    message = "^" + re.escape("cannot load the state into DataLoader: " + problem)
    with pytest.raises(ValueError, match=message) as error:
        loader.load_state_dict(change(good))
    assert "\n" not in str(error.value)
    after = loader.state_dict()
    assert all(np.array_equal(before[name], after[name]) for name in before)


# ---------------------------------------------------------------- bad data folders: one-line errors (issue 23)
# Each bad input a user can hand the data layer ends in one ValueError or OSError line that names the
# file or split, the problem and the way out; the CLI prints that line (tests/cli/test_bad_data.py).

def one_line(err) -> str:
    message = str(err.value)
    assert message and "\n" not in message, message
    return message


def test_images_of_another_size_load_but_not_for_a_model_of_28x28(tmp_path):
    rng = np.random.default_rng(0)
    write_split(tmp_path, rng.integers(0, 256, (6, 32, 32), dtype=np.uint8), np.arange(6, dtype=np.uint8))
    assert data.load(str(tmp_path)).images.shape == (6, 32, 32)  # any size loads without a model's shape
    assert data.load(str(tmp_path), image_shape=(1, 32, 32)).images.shape == (6, 32, 32)
    with pytest.raises(data.IDXError) as err:
        data.load(str(tmp_path), image_shape=(1, 28, 28))
    message = one_line(err)
    assert str(tmp_path / f"{MNIST_FILES[0]}.gz") in message
    assert "(6, 32, 32)" in message and "(N, 28, 28)" in message and "uint8" in message


def test_glyph_digits_for_a_model_of_another_size_name_the_split(monkeypatch):
    monkeypatch.setattr(glyphs, "SPLITS", {"train": (30, 1), "test": (20, 2)})
    with pytest.raises(data.IDXError) as err:
        data.load("glyph-digits", "test", image_shape=(1, 5, 7))
    assert "glyph-digits test split: images of shape (20, 28, 28)" in one_line(err)
    with pytest.raises(ValueError, match="one-channel images; a model of image_shape \\(3, 28, 28\\)"):
        data.load("glyph-digits", "test", image_shape=(3, 28, 28))


def test_folder_without_the_test_split_names_the_split_and_all_four_files(tmp_path):
    write_split(tmp_path, *tiny_split())
    data.load(str(tmp_path), "train")
    with pytest.raises(data.DatasetNotFoundError) as err:
        data.load(str(tmp_path), "test")
    assert isinstance(err.value, OSError)
    message = one_line(err)
    assert f"{tmp_path} has no test split: t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte" in message
    assert all(name in message for name in sources.ALL_FILES)


def test_empty_folder_says_which_files_a_dataset_folder_holds(tmp_path):
    with pytest.raises(data.DatasetNotFoundError) as err:
        data.load(str(tmp_path))
    message = one_line(err)
    assert f"{tmp_path} holds none of the IDX files" in message
    assert all(name in message for name in sources.ALL_FILES)


@pytest.mark.parametrize("label", [np.uint8(11), np.int8(-1), np.int16(10)], ids=["11", "-1", "10"])
def test_labels_outside_0_to_9_name_the_file_and_the_first_one(tmp_path, label):
    images, labels = tiny_split(n=5)
    labels = labels.astype(label.dtype)
    labels[3] = label
    write_split(tmp_path, images, labels)
    with pytest.raises(data.IDXError) as err:
        data.load(str(tmp_path))
    message = one_line(err)
    assert str(tmp_path / f"{MNIST_FILES[1]}.gz") in message
    assert "labels must be 0..9" in message and f"the first, {label}, at index 3" in message


def test_labels_0_to_9_all_load(tmp_path):
    write_split(tmp_path, tiny_split(n=10)[0], np.arange(10, dtype=np.uint8))
    np.testing.assert_array_equal(data.load(str(tmp_path)).labels, np.arange(10))


def cut_gzip(path):
    path.write_bytes(path.read_bytes()[:-20])


def set_byte(offset, value):
    def change(path):
        content = bytearray(gzip.decompress(path.read_bytes()))
        content[offset] = value
        path.write_bytes(bytes(content))
    return change


@pytest.mark.parametrize("culprit, change, problem", [
    (0, cut_gzip, "corrupt gzip data"),
    (0, set_byte(0, 7), "bad magic number 07000803"),
    (1, set_byte(2, 0x07), "unknown dtype code 0x07"),
    (0, lambda path: idx.write_idx(path, np.zeros((12, 28, 28), np.float32)), "expected uint8 images"),
    (1, lambda path: idx.write_idx(path, np.zeros(11, np.uint8)), "holds 12 images but .* holds 11 labels"),
], ids=["truncated gzip", "wrong magic", "wrong dtype code", "float images", "lengths differ"])
def test_broken_files_in_a_folder_are_one_line_naming_the_file(tmp_path, culprit, change, problem):
    write_split(tmp_path, *tiny_split())
    path = tmp_path / f"{MNIST_FILES[culprit]}.gz"
    change(path)
    with pytest.raises(data.IDXError) as err:
        data.load(str(tmp_path))
    message = one_line(err)
    assert str(path) in message and re.search(problem, message), message


def test_a_file_given_as_the_data_folder_is_one_line(tmp_path):
    path = tmp_path / MNIST_FILES[0]
    path.write_bytes(b"")
    with pytest.raises(data.UnknownDatasetError) as err:
        data.load(str(path))
    message = one_line(err)
    assert f"{str(path)!r} is a file, not a folder" in message
    assert all(name in message for name in (*sources.ALL_FILES, *data.DATASETS))


@pytest.fixture
def two_known_datasets(monkeypatch):
    """Tiny stand-ins for both splits of MNIST and of Fashion-MNIST, which the checksum table accepts."""
    stand_ins = {}
    for seed, name in enumerate(("mnist", "fashion-mnist")):
        splits = {split: tiny_split(seed=10 * seed + k) for k, split in enumerate(sources.SPLIT_FILES)}
        monkeypatch.setitem(sources.MD5, name, {
            f: hashlib.md5(idx.encode(a)).hexdigest()
            for split, arrays in splits.items() for f, a in zip(sources.SPLIT_FILES[split], arrays)})
        stand_ins[name] = splits
    return stand_ins


def test_scratchgen_data_with_the_training_split_only(tmp_path, monkeypatch, two_known_datasets):
    write_split(tmp_path, *two_known_datasets["mnist"]["train"])
    monkeypatch.setenv(sources.ENV_VAR, str(tmp_path))
    np.testing.assert_array_equal(data.load("mnist", "train").labels, two_known_datasets["mnist"]["train"][1])
    with pytest.raises(data.DatasetNotFoundError) as err:
        data.load("mnist", "test")
    message = one_line(err)
    assert message.startswith("mnist test split not found")
    assert f"t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte (each as NAME.gz or raw NAME) in {tmp_path} " \
           f"({sources.ENV_VAR})" in message
    assert f"set {sources.ENV_VAR}=" in message and "--data glyph-digits" in message


@pytest.mark.parametrize("present, requested", [("mnist", "fashion-mnist"), ("fashion-mnist", "mnist")])
def test_one_dataset_is_never_served_as_the_other(tmp_path, monkeypatch, two_known_datasets, present, requested):
    for split, files in sources.SPLIT_FILES.items():
        write_split(tmp_path, *two_known_datasets[present][split], files=files)
    monkeypatch.setenv(sources.ENV_VAR, str(tmp_path))
    for split in sources.SPLIT_FILES:
        with pytest.raises(data.DatasetNotFoundError) as err:
            data.load(requested, split)
        message = one_line(err)
        assert message.startswith(f"{requested} {split} split not found")
        assert f"(holds {present}'s {sources.SPLIT_FILES[split][0]})" in message
        assert f"{sources.ENV_VAR}/{requested}/" in message  # the way out: one subfolder per dataset
        np.testing.assert_array_equal(data.load(present, split).images, two_known_datasets[present][split][0])


def test_missing_mnist_offline_is_one_line_saying_how_to_get_it():
    with pytest.raises(data.DatasetNotFoundError) as err:
        data.load("mnist")
    message = one_line(err)
    assert message.startswith("mnist train split not found, and downloading it failed")
    assert "no network in tests" in message and f"{sources.ENV_VAR} is not set" in message
    assert all(name in message for name in sources.ALL_FILES)
    assert f"set {sources.ENV_VAR}=/path/to/that/folder" in message and "--data glyph-digits" in message
