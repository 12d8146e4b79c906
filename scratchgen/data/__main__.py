"""``python -m scratchgen.data``: inspect a dataset, or draw the glyph-digits figure.

    python -m scratchgen.data summary --data mnist
    python -m scratchgen.data figure docs/figures/glyph_digits.png
"""
import argparse
import time

import numpy as np

from .datasets import DEFAULT_DATASET, SPLITS, load, resolve_data_arg


def summary(data: str) -> None:
    for split in SPLITS:
        start = time.perf_counter()
        images, labels = load(data, split)
        print(f"{data} {split}: images {images.shape} {images.dtype}, "
              f"label counts {np.bincount(labels).tolist()}, "
              f"loaded in {time.perf_counter() - start:.1f} s")


def figure(path: str, data: str) -> None:
    """A 10x10 grid: the first ten training images of each class, one class per row."""
    import matplotlib.pyplot as plt

    images, labels = load(data, "train")
    rows = [images[np.flatnonzero(labels == c)[:10]] for c in range(10)]
    tiles = np.pad(np.array(rows), ((0, 0), (0, 0), (1, 1), (1, 1)), constant_values=96)
    grid = tiles.transpose(0, 2, 1, 3).reshape(10 * 30, 10 * 30)
    plt.imsave(path, np.kron(grid, np.ones((3, 3), np.uint8)), cmap="gray", vmin=0, vmax=255)
    print(f"wrote {path}")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m scratchgen.data", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    show = commands.add_parser("summary", help="shapes and label counts of both splits")
    show.add_argument("--data", type=resolve_data_arg, default=DEFAULT_DATASET)
    draw = commands.add_parser("figure", help="save a 10x10 grid of training images")
    draw.add_argument("path")
    draw.add_argument("--data", type=resolve_data_arg, default=DEFAULT_DATASET)
    args = parser.parse_args(argv)
    try:
        if args.command == "summary":
            summary(args.data)
        else:
            figure(args.path, args.data)
    except (OSError, ValueError) as err:  # missing or broken data: the message says why
        parser.exit(1, f"error: {err}\n")


if __name__ == "__main__":
    main()
