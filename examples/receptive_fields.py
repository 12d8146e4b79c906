"""The receptive field of one output pixel of four autoregressive models, computed by autograd:
PixelCNN's blind spot, the gated PixelCNN's two stacks without it, the PixelRNN Row LSTM's
triangle and the Diagonal BiLSTM's whole past.

    python examples/receptive_fields.py     # writes docs/figures/receptive_fields.png (seconds)

Back-propagates from the logit of one pixel to the input image (``models.pixelcnn.receptive_field``)
of small untrained models with 4 layers after the first: the pixels with a non-zero gradient are
the ones that influence it; those before it in raster order, within the field's extent, with a
zero gradient are missed (for PixelCNN, the blind spot).
"""
import argparse

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.colors import ListedColormap  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

import scratchgen as sg  # noqa: E402
from scratchgen.models.pixelcnn import GatedPixelCNN, PixelCNN, receptive_field  # noqa: E402
from scratchgen.models.pixelrnn import PixelRNN  # noqa: E402

SIZE, PIXEL = 17, (12, 7)
KINDS = [("white", "later in raster order: must not be seen"),
         ("0.85", "earlier, outside the field's extent"),
         ("#4c72b0", "seen (non-zero gradient)"),
         ("#f0a030", "earlier, inside the field's extent, never seen"),
         ("#c03030", "the output pixel")]
COLORS = ListedColormap([color for color, _ in KINDS])


def field_kinds(seen: np.ndarray) -> np.ndarray:
    """The index in KINDS of each pixel: 0 after the pixel, 1 before it and beyond the field's bounding
    box, 2 seen, 3 before it and inside the bounding box but never seen, 4 the pixel."""
    before = np.arange(SIZE * SIZE).reshape(SIZE, SIZE) < PIXEL[0] * SIZE + PIXEL[1]
    rows, cols = np.nonzero(seen)
    reach = np.zeros_like(seen)                  # the bounding box of the field: deeper nets reach further
    reach[rows.min():rows.max() + 1, cols.min():cols.max() + 1] = True
    kind = np.where(seen, 2, np.where(before & reach, 3, np.where(before, 1, 0)))
    kind[PIXEL] = 4
    return kind


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default="docs/figures/receptive_fields.png", help="PNG to write")
    p.add_argument("--layers", type=int, default=4,
                   help="layers after the first (residual blocks, gated layers, recurrent layers)")
    args = p.parse_args()
    layers = args.layers
    # 16 channels: with 8, ReLUs that are off at the random input cut some paths, and the field drawn
    # is smaller than the one the masks allow
    models = {f"PixelCNN\n{layers} masked residual blocks": lambda: PixelCNN(16, layers, 16),
              f"gated PixelCNN\n{layers} gated layers": lambda: GatedPixelCNN(4, layers, 8),
              f"PixelRNN, Row LSTM\n{layers} layers": lambda: PixelRNN("row", 4, layers, 8),
              f"PixelRNN, Diagonal BiLSTM\n{layers} layers": lambda: PixelRNN("diagonal", 4, layers, 8)}
    fig, axes = plt.subplots(1, len(models), figsize=(3.3 * len(models), 4.3))
    for ax, (name, build) in zip(axes, models.items()):
        sg.manual_seed(0)
        kind = field_kinds(receptive_field(build(), (SIZE, SIZE), PIXEL) > 0)
        ax.imshow(kind, cmap=COLORS, vmin=0, vmax=len(KINDS) - 1)
        ax.set_xticks(np.arange(-0.5, SIZE), minor=True)
        ax.set_yticks(np.arange(-0.5, SIZE), minor=True)
        ax.grid(which="minor", color="0.8", linewidth=0.5)
        ax.tick_params(which="both", length=0, labelbottom=False, labelleft=False)
        counts = f"{(kind == 2).sum()} pixels seen, {(kind == 3).sum()} never seen"
        ax.set_title(f"{name}\n{counts}", fontsize=9.5)
        print(f"{' '.join(name.split())}: {counts}")
    fig.legend(handles=[Patch(facecolor=color, edgecolor="0.6", label=label) for color, label in KINDS],
               loc="lower center", ncol=len(KINDS), fontsize=9, frameon=False, bbox_to_anchor=(0.5, -0.02))
    fig.suptitle(f"What the logit of the red pixel of a {SIZE}x{SIZE} image sees, by autograd "
                 "(untrained models)", fontsize=11)
    fig.tight_layout(rect=(0, 0.06, 1, 0.93))
    fig.savefig(args.out, dpi=120, bbox_inches="tight")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
