"""Dataset names, the ``--data`` convention, and ``load``."""
import os
from typing import NamedTuple

import numpy as np

from . import glyphs, sources
from .idx import IDXError

DATASETS = ("mnist", "fashion-mnist", "glyph-digits")
DEFAULT_DATASET = "glyph-digits"  # needs no download: the quickstart's and the tests' choice
SPLITS = ("train", "test")


class UnknownDatasetError(ValueError):
    """A ``--data`` value that is neither a known name nor a folder."""


class Dataset(NamedTuple):
    """uint8 images (N, H, W) and their integer labels (N,); unpacks as ``images, labels``.

    Being a tuple, ``len(dataset)`` is 2; the number of examples is ``len(dataset.images)``.
    """

    images: np.ndarray
    labels: np.ndarray

    def restrict(self, classes) -> "Dataset":
        """Only the examples whose label is in ``classes``, e.g. the normal class(es) that an
        anomaly detector trains on."""
        classes = np.unique(np.asarray(classes).ravel())
        present = np.unique(self.labels)
        absent = np.setdiff1d(classes, present)
        if classes.size == 0 or absent.size:
            raise ValueError(f"cannot restrict to classes {classes.tolist()}: the labels "
                             f"present are {present.tolist()}")
        keep = np.isin(self.labels, classes)
        return Dataset(self.images[keep], self.labels[keep])

    def split_validation(self) -> tuple:
        """(training, validation): the examples before ``validation_start`` and the ones from it on,
        both in their original order. The split is fixed, not drawn: every run on a dataset holds out
        the same validation images, whatever its seed."""
        cut = validation_start(len(self.labels))
        return (Dataset(self.images[:cut], self.labels[:cut]),
                Dataset(self.images[cut:], self.labels[cut:]))


def validation_start(n: int) -> int:
    """Where the validation examples of a training split of ``n`` begin: its last twelfth, rounded up,
    is held out (MNIST's 60,000 give the usual 55,000 training and 5,000 validation images), so that
    both parts of any split of two or more are non-empty."""
    if n < 2:
        raise ValueError(f"a training split of {n} example{'s' if n != 1 else ''} cannot hold out validation "
                         "examples: it needs at least 2, one to train on and one to validate on")
    return n - -(-n // 12)


def resolve_data_arg(value: str) -> str:
    """Normalise a ``--data`` value: a name from DATASETS, or a folder holding IDX files.

    Returns the dataset name, or the folder as an absolute path; known names win over folders of
    the same name (write ``./mnist`` for those). ``scratchgen.cli.data_option`` is its argparse
    ``type=``, which shows this function's message instead of argparse's "invalid value".
    """
    name = value.strip().lower()
    if name in DATASETS:
        return name
    if os.path.isdir(value):
        return os.path.abspath(value)
    if os.path.exists(value):
        raise UnknownDatasetError(f"{value!r} is a file, not a folder: give the folder that holds "
                                  f"{', '.join(sources.ALL_FILES)} (each raw or .gz), or one of "
                                  f"{', '.join(DATASETS)}")
    raise UnknownDatasetError(f"unknown dataset {value!r} (and not a folder): use one of "
                              f"{', '.join(DATASETS)}, or a folder holding IDX files")


def check_image_shape(images: np.ndarray, image_shape, source: str) -> None:
    """Raise IDXError naming ``source`` unless images (N, H, W) fit a model whose ``image_shape`` is
    (1, H, W); every dataset here has one channel."""
    c, h, w = (int(n) for n in image_shape)
    if c != 1:
        raise ValueError(f"the datasets hold one-channel images; a model of image_shape {(c, h, w)} "
                         "cannot train on them")
    if images.shape[1:] != (h, w):
        raise IDXError(f"{source}: images of shape {images.shape}, but the model takes uint8 images "
                       f"(N, {h}, {w}): use {h}x{w} images (resize these and rewrite them with "
                       "scratchgen.data.write_idx), or a model of their size")


def load(name_or_path: str = DEFAULT_DATASET, split: str = "train", *, root=None,
         classes=None, image_shape=None) -> Dataset:
    """Load ``split`` ("train" or "test") of a dataset: a name from DATASETS or a folder.

    mnist and fashion-mnist are looked up in ``root``, ``$SCRATCHGEN_DATA``, the cache and
    system folders, then downloaded (see ``scratchgen.data.sources``); ``root`` does not
    apply to glyph-digits, which is generated on first use and cached, or to folders.
    ``classes`` keeps only those labels (see ``Dataset.restrict``). ``image_shape``, a model's
    (1, H, W), makes images of another size an error naming their file (``check_image_shape``);
    without it, any (N, H, W) loads.
    """
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}: use one of {', '.join(SPLITS)}")
    name = resolve_data_arg(name_or_path)
    if name == "glyph-digits":
        images, labels = glyphs.glyph_digits(split)
        source = f"glyph-digits {split} split"
    elif name in sources.MIRRORS:
        images, labels, source = sources.load_known(name, split, root)
    else:
        images, labels, source = sources.load_folder(name, split)
    if image_shape is not None:
        check_image_shape(images, image_shape, source)
    dataset = Dataset(images, labels)
    return dataset if classes is None else dataset.restrict(classes)
