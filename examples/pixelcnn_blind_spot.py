"""The receptive field of one PixelCNN output pixel, computed by autograd, and its blind spot.

    python examples/pixelcnn_blind_spot.py     # writes docs/figures/pixelcnn_blind_spot.png (seconds)

Back-propagates from the logit of one pixel to the input image (``models.pixelcnn.receptive_field``)
of an untrained PixelCNN with 4 residual blocks: the pixels with a non-zero gradient are the ones
that influence it; those before it in raster order with a zero gradient form the blind spot.
"""
import argparse

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.colors import ListedColormap  # noqa: E402

import scratchgen as sg  # noqa: E402
from scratchgen.models.pixelcnn import PixelCNN, receptive_field  # noqa: E402

SIZE, PIXEL = 17, (12, 8)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default="docs/figures/pixelcnn_blind_spot.png", help="PNG to write")
    p.add_argument("--blocks", type=int, default=4, help="residual blocks of the PixelCNN")
    args = p.parse_args()
    sg.manual_seed(0)
    seen = receptive_field(PixelCNN(channels=8, residual_blocks=args.blocks, hidden=8), (SIZE, SIZE), PIXEL) > 0
    before = np.arange(SIZE * SIZE).reshape(SIZE, SIZE) < PIXEL[0] * SIZE + PIXEL[1]
    rows, cols = np.nonzero(seen)
    reach = np.zeros_like(seen)                  # the bounding box of the field: deeper nets reach further
    reach[rows.min():rows.max() + 1, cols.min():cols.max() + 1] = True
    # 0: after the pixel (must not be seen), 1: before it, out of reach at this depth, 2: seen,
    # 3: before it and within reach but never seen (the blind spot), 4: the pixel
    kind = np.where(seen, 2, np.where(before & reach, 3, np.where(before, 1, 0)))
    kind[PIXEL] = 4
    fig, ax = plt.subplots(figsize=(4.6, 4.6))
    ax.imshow(kind, cmap=ListedColormap(["white", "0.85", "#4c72b0", "#f0a030", "#c03030"]), vmin=0, vmax=4)
    ax.set_xticks(np.arange(-0.5, SIZE), minor=True)
    ax.set_yticks(np.arange(-0.5, SIZE), minor=True)
    ax.grid(which="minor", color="0.8", linewidth=0.5)
    ax.tick_params(which="both", length=0, labelbottom=False, labelleft=False)
    ax.set_title(f"PixelCNN ({args.blocks} residual blocks): what the logit of the red pixel sees\n"
                 "blue: non-zero gradient; orange: earlier in raster order and within reach,\n"
                 "but never seen (the blind spot); grey: earlier, beyond the reach of this depth", fontsize=8)
    fig.savefig(args.out, dpi=120, bbox_inches="tight")
    print(f"{seen.sum()} pixels seen, {(kind == 3).sum()} in the blind spot; wrote {args.out}")


if __name__ == "__main__":
    main()
