"""Denoising autoencoders (Vincent et al. 2008): trained on corrupted inputs with clean targets,
evaluated on corrupted test images by PSNR before and after denoising.

    python examples/ae_denoising.py                        # built-in glyph-digits, ~1 minute
    python examples/ae_denoising.py --data mnist           # real MNIST

Three corruptions: Gaussian noise (sigma 0.5, clipped to [0, 1]), salt-and-pepper (20% of the
pixels set to 0 or 1) and masking (50% of the pixels set to 0). Each autoencoder is trained by
``scratchgen.training.train_run`` (what ``scratchgen train ae --corrupt KIND --noise-level LEVEL``
does) into its own run directory, --out/KIND-LEVEL, and read back with ``load_run``. Writes
denoising.md and denoising.png into --out.
"""
import argparse
import os

import numpy as np

from scratchgen import figures
from scratchgen.cli import data_option
from scratchgen.data import DEFAULT_DATASET, load
from scratchgen.evaluation.metrics import psnr
from scratchgen.models import corrupt
from scratchgen.training import load_run, train_run

CORRUPTIONS = [("gaussian", 0.5), ("salt-pepper", 0.2), ("mask", 0.5)]


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=data_option, default=DEFAULT_DATASET, help="dataset name or IDX folder")
    p.add_argument("--epochs", type=int, default=3, help="epochs per autoencoder")
    p.add_argument("--limit", type=int, default=0, help="training images (0: all)")
    p.add_argument("--code", type=int, default=128, help="code size")
    p.add_argument("--arch", choices=["mlp", "conv"], default="mlp", help="autoencoder architecture")
    p.add_argument("--loss", choices=["bce", "mse"], default="bce", help="reconstruction loss against the clean image")
    p.add_argument("--only", choices=[k for k, _ in CORRUPTIONS], nargs="+", default=None,
                   help="run only these corruptions")
    p.add_argument("--out", default="runs/ae_denoising", help="output folder (its run directories are replaced)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    os.makedirs(args.out, exist_ok=True)

    train = load(args.data, "train").images
    train = train[:args.limit] if args.limit else train
    test = load(args.data, "test").images.astype(np.float32) / 255

    rows = ["| corruption | PSNR of the corrupted input (dB) | PSNR after denoising (dB) | gain (dB) |",
            "|---|---:|---:|---:|"]
    grid, labels = [], []
    for kind, level in CORRUPTIONS:
        if args.only and kind not in args.only:
            continue
        run_dir = os.path.join(args.out, f"{kind}-{level}")
        train_run({"model": "ae", "arch": args.arch, "latent": args.code, "hidden": 400, "loss": args.loss,
                   "corrupt": kind, "noise_level": level, "limit": args.limit or None, "epochs": args.epochs,
                   "batch_size": 128, "lr": 1e-3, "seed": args.seed, "data": args.data}, run_dir, overwrite=True)
        _, model = load_run(run_dir)
        noisy = corrupt(test, kind, level, np.random.default_rng(1234))     # a fixed corrupted test set
        clean = model.reconstruct(noisy)
        before, after = psnr(noisy, test), psnr(clean, test)
        rows.append(f"| {kind} {level} | {before:.2f} | {after:.2f} | {after - before:+.2f} |")
        print(rows[-1])
        grid += [test[:10], noisy[:10], clean[:10]]
        labels += ["clean", f"{kind} {level}", "denoised"]
    note = (f"\n\n{args.data}, {len(train)} training images, {args.epochs} epochs, {args.arch} autoencoder "
            f"784-400-{args.code}, {args.loss} against the clean image; PSNR averaged over the "
            f"{len(test)} corrupted test images.\n")
    with open(os.path.join(args.out, "denoising.md"), "w") as f:
        f.write("\n".join(rows) + note)
    print("\n".join(rows) + note)
    path = figures.image_grid(os.path.join(args.out, "denoising.png"), np.concatenate(grid), ncols=10,
                              row_labels=labels, title=f"Denoising autoencoders ({args.data} test set)")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
