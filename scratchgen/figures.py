"""Figures with one look: image grids with thin gaps, loss curves, latent scatter plots.

matplotlib with the Agg backend (no display needed); every function writes a PNG and returns its path.
"""
from __future__ import annotations

import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from .atomic_file import atomic_write  # noqa: E402

GAP_COLOR = 0.5


def tile(images: np.ndarray, ncols: int | None = None, gap: int = 1) -> np.ndarray:
    """Arrange images (N, H, W) in [0, 1] into one array with ``gap``-pixel grey lines between them."""
    images = np.clip(np.asarray(images, np.float32), 0, 1)
    n, h, w = images.shape[0], images.shape[-2], images.shape[-1]
    images = images.reshape(n, h, w)
    ncols = ncols or int(np.ceil(np.sqrt(n)))
    nrows = int(np.ceil(n / ncols))
    out = np.full((nrows * (h + gap) + gap, ncols * (w + gap) + gap), GAP_COLOR, np.float32)
    for k in range(n):
        r, c = divmod(k, ncols)
        out[gap + r * (h + gap):gap + r * (h + gap) + h, gap + c * (w + gap):gap + c * (w + gap) + w] = images[k]
    return out


def _write_png(path, save) -> str:
    """``save(file)`` writes a PNG to ``path`` in one atomic step: a write that fails (a full disk) leaves
    the previous file whole, and its OSError names ``path``, not the temporary file."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    try:
        atomic_write(path, save)
    except OSError as e:
        raise OSError(e.errno, e.strerror, os.fspath(path)) from e
    return path


def _save(fig, path) -> str:
    try:
        return _write_png(path, lambda f: fig.savefig(f, format="png", dpi=100, bbox_inches="tight"))
    finally:
        plt.close(fig)


def save_gray(path, image: np.ndarray) -> str:
    """Save a uint8 array (H, W) as a grey PNG, pixel for pixel (no axes, no resampling)."""
    return _write_png(path, lambda f: plt.imsave(f, image, cmap="gray", vmin=0, vmax=255, format="png"))


def image_grid(path, images, ncols=None, title=None, row_labels=None, scale: float = 0.32) -> str:
    """Save a grid of images (N, H, W) with thin gaps; optional title and one label per row."""
    grid = tile(images, ncols)
    fig, ax = plt.subplots(figsize=(max(2.0, grid.shape[1] * scale / 10), max(2.0, grid.shape[0] * scale / 10)))
    ax.imshow(grid, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    ax.set_xticks([])
    if row_labels is not None:
        h = images.shape[-2] + 1
        ax.set_yticks([1 + h * i + h / 2 - 1 for i in range(len(row_labels))])
        ax.set_yticklabels(row_labels)
        ax.tick_params(length=0)
    else:
        ax.set_yticks([])
    for side in ax.spines.values():
        side.set_visible(False)
    if title:
        ax.set_title(title, fontsize=10)
    return _save(fig, path)


def image_panels(path, panels: list[tuple[str, str]], title: str, ncols: int = 3) -> str:
    """Lay PNGs already written (caption, path) side by side in one figure: an overview of several runs."""
    nrows = -(-len(panels) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.2 * ncols, 4.4 * nrows), squeeze=False)
    for ax in axes.flat:
        ax.set_axis_off()
    for ax, (caption, png) in zip(axes.flat, panels):
        ax.imshow(plt.imread(png), interpolation="lanczos")
        ax.set_title(caption, fontsize=11)
    fig.suptitle(title, fontsize=13)
    fig.tight_layout()
    return _save(fig, path)


def line_plot(path, series: dict, xlabel: str, ylabel: str, title: str, logy: bool = False,
              legend_loc: str = "best") -> str:
    """Save curves {label: (x, y)} with labelled axes and a light grid."""
    fig, ax = plt.subplots(figsize=(6, 4))
    for label, (x, y) in series.items():
        ax.plot(x, y, label=label, marker="o" if len(x) < 30 else None, markersize=3)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    if logy:
        ax.set_yscale("log")
    ax.grid(alpha=0.3)
    if len(series) > 1:
        ax.legend(loc=legend_loc)
    fig.tight_layout()
    return _save(fig, path)


def loss_curve(path, log_records: list[dict], title: str = "Training loss") -> str:
    """Loss per logged step and per-epoch evaluation from the JSON-lines log records."""
    train = [r for r in log_records if r.get("event") == "train"]
    evals = [r for r in log_records if r.get("event") == "eval" and "loss" in r]
    series = {}
    if train:
        series["training batch (logged steps)"] = ([r["step"] for r in train], [r["loss"] for r in train])
    if evals:
        series["evaluation"] = ([r["step"] for r in evals], [r["loss"] for r in evals])
    return line_plot(path, series, "optimizer step", "loss per image", title)


def latent_scatter(path, means: np.ndarray, labels: np.ndarray, title: str) -> str:
    """2-d latent means coloured by label, with a legend of the 10 classes."""
    fig, ax = plt.subplots(figsize=(6, 5.5))
    cmap = plt.get_cmap("tab10")
    for c in np.unique(labels):
        sel = labels == c
        ax.scatter(means[sel, 0], means[sel, 1], s=2, color=cmap(int(c) % 10), label=str(c), alpha=0.6)
    ax.set_xlabel("$\\mu_1$")
    ax.set_ylabel("$\\mu_2$")
    ax.set_title(title)
    ax.legend(markerscale=5, title="label", loc="center left", bbox_to_anchor=(1, 0.5))
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return _save(fig, path)


def animated_gif(path, pngs: list[str], seconds_per_frame: float = 0.4) -> str:
    """Save the PNGs (e.g. one sample grid per epoch) as frames of a looping GIF, padded white to one size.

    Pillow writes it: matplotlib depends on Pillow, so it is always installed beside matplotlib.
    """
    frames = [Image.open(p).convert("RGB") for p in pngs]
    width, height = max(f.width for f in frames), max(f.height for f in frames)
    padded = []
    for frame in frames:
        canvas = Image.new("RGB", (width, height), "white")
        canvas.paste(frame, (0, 0))
        padded.append(canvas)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    padded[0].save(path, save_all=True, append_images=padded[1:], duration=int(1000 * seconds_per_frame), loop=0)
    return path


def confusion_plot(path, counts: np.ndarray, title: str) -> str:
    """A confusion matrix (rows: true class, columns: predicted class) with the count in every cell."""
    k = len(counts)
    fig, ax = plt.subplots(figsize=(5.5, 5))
    ax.imshow(np.log1p(counts), cmap="Blues")   # log: the diagonal would wash out the errors
    for i in range(k):
        for j in range(k):
            ax.text(j, i, str(counts[i, j]), ha="center", va="center", fontsize=7,
                    color="white" if i == j else "black")
    ax.set_xticks(range(k))
    ax.set_yticks(range(k))
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return _save(fig, path)
