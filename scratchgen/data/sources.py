"""Where MNIST and Fashion-MNIST come from: local folders, the cache, the public mirrors.

Each split is a pair of IDX files (images, labels), looked up by name, as ``NAME.gz`` or raw
``NAME``, in this order:

1. the ``root=`` argument, then its subfolder named after the dataset;
2. the folder in ``$SCRATCHGEN_DATA``, then its subfolder named after the dataset;
3. the cache, ``cache_dir()/<dataset>`` (``$XDG_CACHE_HOME/scratchgen``, else
   ``~/.cache/scratchgen``);
4. system folders: Debian's ``dataset-fashion-mnist`` package installs Fashion-MNIST in
   ``/usr/share/datasets/fashion-mnist``;
5. the public mirrors, when online; downloads are verified and written into the cache.

Every file found or downloaded is checked against the md5 of the known uncompressed
bytes; that costs about a tenth of a second per split. It is what lets a folder of MNIST
files sit in the lookup path of Fashion-MNIST (their file names are identical) without
one ever being served as the other: a file holding another known dataset is passed over,
a file matching nothing known is an error.
"""
import hashlib
import http.client
import os
import urllib.request
from pathlib import Path

import numpy as np

from ..atomic_file import atomic_write
from . import idx
from ._cache import cache_dir

ENV_VAR = "SCRATCHGEN_DATA"
TIMEOUT = 10.0  # seconds per request before a mirror counts as unreachable

SPLIT_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
ALL_FILES = SPLIT_FILES["train"] + SPLIT_FILES["test"]
NUM_CLASSES = 10  # labels are 0..9 in every dataset: the models' class embeddings and the classifier have ten

MIRRORS = {
    "mnist": (
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
    ),
    "fashion-mnist": ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
}

# md5 of the uncompressed files: re-compressed copies (whose .gz bytes differ from the
# mirrors') verify as well.
MD5 = {
    "mnist": {
        "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
        "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
        "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
        "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
    },
    # Computed from the files of Debian's dataset-fashion-mnist 0.0~git20200523.55506a9-1.
    # Upstream's README lists md5s of its .gz files only, which Debian's .gz files do not
    # match (they were re-compressed); the uncompressed bytes are the same.
    "fashion-mnist": {
        "train-images-idx3-ubyte": "f4a8712d7a061bf5bd6d2ca38dc4d50a",
        "train-labels-idx1-ubyte": "9018921c3c673c538a1fc5bad174d6f9",
        "t10k-images-idx3-ubyte": "8181f5470baa50b63fa0f6fddb340f0a",
        "t10k-labels-idx1-ubyte": "15d484375f8d13e6eb1aabb0c3f46965",
    },
}

SYSTEM_DIRS = {
    "mnist": (),
    "fashion-mnist": (Path("/usr/share/datasets/fashion-mnist"),),
}


class ChecksumError(ValueError):
    """A file's content is not the one its dataset promises."""


class DatasetNotFoundError(FileNotFoundError):
    """A dataset is neither on disk nor downloadable; the message says how to get it."""


def fetch(url: str) -> bytes:
    """Download ``url``. Tests replace this module attribute to serve bytes offline."""
    with urllib.request.urlopen(url, timeout=TIMEOUT) as response:
        return response.read()


def search_dirs(name: str, root=None) -> list:
    """The folders searched for dataset ``name``, in order, each with why it is searched."""
    places = []
    for base, why in ((root, "root= argument"), (os.environ.get(ENV_VAR), ENV_VAR)):
        if base:
            places += [(Path(base), why), (Path(base) / name, why)]
    places.append((cache_dir() / name, "cache"))
    places += [(folder, "system-wide install") for folder in SYSTEM_DIRS[name]]
    return places


def _md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def _identify(digest: str):
    """The (dataset, file) whose uncompressed md5 is ``digest``, or None."""
    for name, files in MD5.items():
        for filename, known in files.items():
            if known == digest:
                return name, filename
    return None


def _find(name: str, filename: str, places: list, passed_over: list):
    """(path, decompressed bytes) of the first verified copy of ``filename``, or None.

    Files holding another known dataset are listed in ``passed_over``.
    """
    expected = MD5[name][filename]
    for folder, _ in places:
        for path in (folder / f"{filename}.gz", folder / filename):
            if not path.is_file():
                continue
            data = idx.read_bytes(path)
            digest = _md5(data)
            if digest == expected:
                return path, data
            other = _identify(digest)
            if other is not None:
                passed_over.append(f"{path} (holds {other[0]}'s {other[1]})")
                continue
            idx.decode(data, str(path))  # a broken file gets the more precise message
            raise ChecksumError(
                f"{path}: md5 of its uncompressed bytes is {digest}, but {name}'s "
                f"{filename} has {expected}. The file is corrupt or not {name}: "
                "delete or move it, or load its folder by path to use it as a "
                "custom dataset")
    return None


def _download(name: str, filename: str):
    """Fetch ``filename`` from the mirrors into the cache.

    Returns ((path, decompressed bytes), []) or (None, [why each mirror failed]).
    """
    expected = MD5[name][filename]
    failures = []
    for mirror in MIRRORS[name]:
        url = f"{mirror}{filename}.gz"
        try:
            raw = fetch(url)
        except (OSError, http.client.HTTPException) as err:
            failures.append(f"{url}: {getattr(err, 'reason', err)}")
            continue
        data = idx.gunzip(raw, url)
        digest = _md5(data)
        if digest != expected:
            # Verified before anything is written, so no partial or wrong file remains.
            raise ChecksumError(
                f"{url}: md5 of the uncompressed download is {digest}, expected "
                f"{expected}; nothing was saved. Retry later, or put a good copy of "
                f"{filename}.gz in a folder and point {ENV_VAR} at it")
        path = cache_dir() / name / f"{filename}.gz"
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, lambda f: f.write(raw))
        return (path, data), []
    return None, failures


def _not_found(name, split, places, missing, passed_over, failures) -> str:
    """One line (the CLI shows one): what is missing, where it was looked for, and the ways out."""
    looked = ", ".join(f"{folder} ({why})" for folder, why in places)
    if not os.environ.get(ENV_VAR):
        looked += f" ({ENV_VAR} is not set)"
    elif not os.path.isdir(os.environ[ENV_VAR]):
        looked += f" ({ENV_VAR}={os.environ[ENV_VAR]} is not a folder)"
    passed = ""
    if passed_over:
        passed = (f"; passed over, as another dataset's files: {', '.join(passed_over)} (keep each dataset "
                  f"in its own subfolder, e.g. {ENV_VAR}/mnist/ and {ENV_VAR}/fashion-mnist/)")
    return (f"{name} {split} split not found, and downloading it failed: looked for {' and '.join(missing)} "
            f"(each as NAME.gz or raw NAME) in {looked}{passed}; download attempts: {'; '.join(failures)}. "
            f"Either copy {name}'s IDX files ({', '.join(ALL_FILES)}) into a folder and set "
            f"{ENV_VAR}=/path/to/that/folder, or use the built-in synthetic digits instead: "
            'load("glyph-digits") or --data glyph-digits')


def check_pair(images: np.ndarray, labels: np.ndarray, images_src: str, labels_src: str):
    """Check that IDX arrays form a dataset: uint8 images (N, H, W) and N labels 0..9."""
    if images.ndim != 3 or images.dtype != np.uint8:
        raise idx.IDXError(f"{images_src}: expected uint8 images of shape (N, rows, cols), "
                           f"got {images.dtype} of shape {images.shape}")
    if labels.ndim != 1 or labels.dtype.kind not in "iu":
        raise idx.IDXError(f"{labels_src}: expected integer labels of shape (N,), got "
                           f"{labels.dtype} of shape {labels.shape}")
    if len(images) != len(labels):
        raise idx.IDXError(f"{images_src} holds {len(images)} images but {labels_src} "
                           f"holds {len(labels)} labels: a split needs one label per image")
    outside = np.flatnonzero((labels < 0) | (labels >= NUM_CLASSES))
    if outside.size:
        raise idx.IDXError(
            f"{labels_src}: labels must be 0..{NUM_CLASSES - 1}, but {outside.size} of {len(labels)} are not "
            f"(the first, {labels[outside[0]]}, at index {outside[0]}): relabel them 0..{NUM_CLASSES - 1}")


def _pair(found: list) -> tuple:
    """Decode [(path, bytes) of images, (path, bytes) of labels] and check they match.

    Returns (images, labels, the images' path as a string, for later messages)."""
    (images_path, images), (labels_path, labels) = found
    images = idx.decode(images, str(images_path))
    labels = idx.decode(labels, str(labels_path))
    check_pair(images, labels, str(images_path), str(labels_path))
    return images, labels, str(images_path)


def locate(name: str, split: str, root=None) -> list:
    """[(path, uncompressed bytes)] of the images and labels files of a known dataset's
    split, found in the lookup order or downloaded into the cache, and verified."""
    places = search_dirs(name, root)
    files = SPLIT_FILES[split]
    passed_over = []
    found = {f: _find(name, f, places, passed_over) for f in files}
    missing = [f for f in files if found[f] is None]
    for filename in missing:
        found[filename], failures = _download(name, filename)
        if found[filename] is None:
            raise DatasetNotFoundError(
                _not_found(name, split, places, missing, passed_over, failures))
    return [found[f] for f in files]


def load_known(name: str, split: str, root=None) -> tuple:
    """Images and labels of the known dataset ``name`` ("mnist" or "fashion-mnist"), and the
    images' path."""
    return _pair(locate(name, split, root))


def _file_in(folder: Path, filename: str):
    """``folder/filename.gz``, else the raw ``folder/filename``, else None."""
    return next((p for p in (folder / f"{filename}.gz", folder / filename) if p.is_file()), None)


def load_folder(folder, split: str) -> tuple:
    """Images and labels of ``split`` from a folder of IDX files, not checksummed, and the images' path."""
    folder = Path(folder)
    paths = {filename: _file_in(folder, filename) for filename in SPLIT_FILES[split]}
    missing = [filename for filename, path in paths.items() if path is None]
    if missing:
        if not any(_file_in(folder, filename) for filename in ALL_FILES):
            problem = "holds none of the IDX files of a dataset"
        else:
            problem = f"has no {split} split: {' and '.join(missing)} (raw or .gz) missing"
        raise DatasetNotFoundError(
            f"{folder} {problem}; a dataset folder holds {', '.join(ALL_FILES)} (each raw or .gz): "
            f"add the missing files, or pass another folder or a dataset name")
    return _pair([(path, idx.read_bytes(path)) for path in paths.values()])
