"""Datasets for scratchgen: MNIST, Fashion-MNIST and the built-in synthetic glyph-digits.

    from scratchgen.data import load, DataLoader
    train, val = load("glyph-digits", "train").split_validation()   # 55,000 and the last 5,000
    for x, y in DataLoader(train, batch_size=128, binarize="bernoulli"):
        ...  # x: float32 (128, 28, 28) in {0, 1}; y: int64 (128,)

Command-line tools take ``--data mnist|fashion-mnist|glyph-digits|PATH``:

    from scratchgen.cli import data_option
    parser.add_argument("--data", type=data_option, default=DEFAULT_DATASET)

See docs/data.md for the lookup order, the offline story and how glyph-digits is made.
"""
from ._cache import cache_dir
from .datasets import (
    DATASETS,
    DEFAULT_DATASET,
    SPLITS,
    Dataset,
    UnknownDatasetError,
    load,
    resolve_data_arg,
    validation_start,
)
from .idx import IDXError, read_idx, write_idx
from .loader import BINARIZE, DataLoader
from .sources import ENV_VAR, ChecksumError, DatasetNotFoundError

__all__ = [
    "BINARIZE", "DATASETS", "DEFAULT_DATASET", "ENV_VAR", "SPLITS", "ChecksumError",
    "DataLoader", "Dataset", "DatasetNotFoundError", "IDXError", "UnknownDatasetError",
    "cache_dir", "load", "read_idx", "resolve_data_arg", "validation_start", "write_idx",
]
