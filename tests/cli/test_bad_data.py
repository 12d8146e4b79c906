"""`scratchgen train` on broken data folders: exit status 2 and one line, `scratchgen: error: ...`, that names
the problem; never a traceback. The data layer's own tests of these cases are in tests/data/test_data.py."""
import gzip
import hashlib

import numpy as np
import pytest

from helpers import run
from scratchgen.data import idx, sources

TRAIN, TEST = sources.SPLIT_FILES["train"], sources.SPLIT_FILES["test"]


pytestmark = pytest.mark.usefixtures("isolated_data")   # conftest.py: offline, a cache of its own


def split(seed, n=60, size=28):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, size, size), dtype=np.uint8), np.arange(n, dtype=np.uint8) % 10


def write(folder, files, images, labels):
    folder.mkdir(parents=True, exist_ok=True)
    idx.write_idx(folder / f"{files[0]}.gz", images)
    idx.write_idx(folder / f"{files[1]}.gz", labels)


def folder(tmp_path, train=split(0), test=split(1)):
    d = tmp_path / "data"
    d.mkdir()
    if train:
        write(d, TRAIN, *train)
    if test:
        write(d, TEST, *test)
    return d


def assert_one_line_error(result, *needles):
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == 2, (result.returncode, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("scratchgen: error: "), result.stderr
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])


def train(tmp_path, data, model="vae"):
    return run("train", model, "--data", str(data), "--limit", "48", "--epochs", "1",
               "--out", str(tmp_path / "out"), "--no-progress")


@pytest.mark.parametrize("model", ["vae", "pixelcnn", "classifier"])
def test_images_of_another_size(tmp_path, model):
    """Refused by the data check before any model sees them (a PixelCNN would train on 32x32 images)."""
    assert_one_line_error(train(tmp_path, folder(tmp_path, split(0, size=32), split(1, size=32)), model),
                          "32, 32)", "but the model takes uint8 images (N, 28, 28)")
    assert not (tmp_path / "out").exists()


def test_folder_without_the_test_split(tmp_path):
    d = folder(tmp_path, test=None)
    assert_one_line_error(train(tmp_path, d), f"{d} has no test split", *sources.ALL_FILES)


def test_empty_folder(tmp_path):
    d = tmp_path / "empty"
    d.mkdir()
    assert_one_line_error(train(tmp_path, d), f"{d} holds none of the IDX files", *sources.ALL_FILES)


@pytest.mark.parametrize("label, dtype", [(11, np.uint8), (-1, np.int8)])
def test_labels_out_of_range(tmp_path, label, dtype):
    images, labels = split(0)
    labels = labels.astype(dtype)
    labels[5] = label
    d = folder(tmp_path, (images, labels))
    assert_one_line_error(train(tmp_path, d), f"{d / TRAIN[1]}.gz: labels must be 0..9", f"the first, {label},")


def cut(path):
    path.write_bytes(path.read_bytes()[:-20])


def bad_magic(path):
    content = bytearray(gzip.decompress(path.read_bytes()))
    content[0] = 7
    path.write_bytes(bytes(content))


@pytest.mark.parametrize("culprit, change, problem", [
    (TRAIN[0], cut, "corrupt gzip data"),
    (TRAIN[0], bad_magic, "bad magic number"),
    (TRAIN[0], lambda path: idx.write_idx(path, np.zeros((60, 28, 28), np.float32)), "expected uint8 images"),
    (TRAIN[1], lambda path: idx.write_idx(path, np.zeros(50, np.uint8)), "holds 50 labels"),
], ids=["truncated gzip", "wrong magic", "wrong dtype", "lengths differ"])
def test_broken_files(tmp_path, culprit, change, problem):
    d = folder(tmp_path)
    change(d / f"{culprit}.gz")
    assert_one_line_error(train(tmp_path, d), str(d / f"{culprit}.gz"), problem)


def test_missing_mnist_offline_says_how_to_get_it(tmp_path):
    assert_one_line_error(train(tmp_path, "mnist"), "mnist train split not found", "no network in tests",
                          f"set {sources.ENV_VAR}=/path/to/that/folder", "--data glyph-digits")


@pytest.fixture
def stand_ins(monkeypatch):
    """Tiny stand-ins for both splits of MNIST and Fashion-MNIST that the checksum table accepts."""
    made = {}
    for k, name in enumerate(("mnist", "fashion-mnist")):
        made[name] = {"train": split(10 * k), "test": split(10 * k + 1)}
        monkeypatch.setitem(sources.MD5, name, {
            f: hashlib.md5(idx.encode(a)).hexdigest()
            for s, arrays in made[name].items() for f, a in zip(sources.SPLIT_FILES[s], arrays)})
    return made


def test_scratchgen_data_with_the_training_split_only(tmp_path, monkeypatch, stand_ins):
    d = tmp_path / "env"
    write(d, TRAIN, *stand_ins["mnist"]["train"])
    monkeypatch.setenv(sources.ENV_VAR, str(d))
    assert_one_line_error(train(tmp_path, "mnist"), "mnist test split not found", f"in {d} ({sources.ENV_VAR})",
                          TEST[0], TEST[1])


@pytest.mark.parametrize("present, requested", [("mnist", "fashion-mnist"), ("fashion-mnist", "mnist")])
def test_the_other_dataset_is_passed_over_not_served(tmp_path, monkeypatch, stand_ins, present, requested):
    d = tmp_path / "env"
    for s, files in sources.SPLIT_FILES.items():
        write(d, files, *stand_ins[present][s])
    monkeypatch.setenv(sources.ENV_VAR, str(d))
    assert_one_line_error(train(tmp_path, requested), f"{requested} train split not found",
                          f"(holds {present}'s {TRAIN[0]})")


def test_a_file_as_the_data_folder(tmp_path):
    path = tmp_path / TRAIN[0]
    path.write_bytes(b"")
    result = train(tmp_path, path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    # argparse reports a bad --data itself, in one line like every other error
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("scratchgen train vae: error: argument --data: ")
    assert (f"{str(path)!r} is a file, not a folder: give the folder that holds " + ", ".join(sources.ALL_FILES)
            + " (each raw or .gz), or one of mnist, fashion-mnist, glyph-digits") in lines[0]
