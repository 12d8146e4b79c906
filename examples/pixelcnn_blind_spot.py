"""The receptive field of one PixelCNN output pixel, computed by autograd: the blind spot of the
masked 3x3 layers, and the gated PixelCNN's two stacks without it.

    python examples/pixelcnn_blind_spot.py     # writes docs/figures/pixelcnn_blind_spot.png (seconds)

Back-propagates from the logit of one pixel to the input image (``models.pixelcnn.receptive_field``)
of untrained models with 4 layers after the first: the pixels with a non-zero gradient are the
ones that influence it; those before it in raster order, within reach, with a zero gradient form
the blind spot.
"""
import argparse

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.colors import ListedColormap  # noqa: E402

import scratchgen as sg  # noqa: E402
from scratchgen.models.pixelcnn import GatedPixelCNN, PixelCNN, receptive_field  # noqa: E402

SIZE, PIXEL = 17, (12, 8)
COLORS = ListedColormap(["white", "0.85", "#4c72b0", "#f0a030", "#c03030"])


def field_kinds(seen: np.ndarray) -> np.ndarray:
    """0: after the pixel (must not be seen), 1: before it, beyond the reach of this depth, 2: seen,
    3: before it and within reach but never seen (the blind spot), 4: the pixel."""
    before = np.arange(SIZE * SIZE).reshape(SIZE, SIZE) < PIXEL[0] * SIZE + PIXEL[1]
    rows, cols = np.nonzero(seen)
    reach = np.zeros_like(seen)                  # the bounding box of the field: deeper nets reach further
    reach[rows.min():rows.max() + 1, cols.min():cols.max() + 1] = True
    kind = np.where(seen, 2, np.where(before & reach, 3, np.where(before, 1, 0)))
    kind[PIXEL] = 4
    return kind


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default="docs/figures/pixelcnn_blind_spot.png", help="PNG to write")
    p.add_argument("--layers", type=int, default=4, help="layers after the first (residual blocks, gated layers)")
    args = p.parse_args()
    models = {f"PixelCNN, {args.layers} masked residual blocks": PixelCNN(8, args.layers, 8),
              f"gated PixelCNN, {args.layers} gated layers": GatedPixelCNN(4, args.layers, 8)}
    fig, axes = plt.subplots(1, 2, figsize=(8.4, 4.6))
    for ax, (name, model) in zip(axes, models.items()):
        sg.manual_seed(0)
        kind = field_kinds(receptive_field(model, (SIZE, SIZE), PIXEL) > 0)
        ax.imshow(kind, cmap=COLORS, vmin=0, vmax=4)
        ax.set_xticks(np.arange(-0.5, SIZE), minor=True)
        ax.set_yticks(np.arange(-0.5, SIZE), minor=True)
        ax.grid(which="minor", color="0.8", linewidth=0.5)
        ax.tick_params(which="both", length=0, labelbottom=False, labelleft=False)
        ax.set_title(f"{name}\n{(kind == 2).sum()} pixels seen, {(kind == 3).sum()} in the blind spot", fontsize=9)
        print(f"{name}: {(kind == 2).sum()} pixels seen, {(kind == 3).sum()} in the blind spot")
    fig.suptitle("What the logit of the red pixel sees (autograd): blue non-zero gradient; orange earlier in raster\n"
                 "order and within reach but never seen (the blind spot); grey earlier, beyond this depth's reach",
                 fontsize=9)
    fig.savefig(args.out, dpi=120, bbox_inches="tight")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
