"""Autoencoders as compressors: test reconstruction error and PSNR for code sizes 2, 8 and 32,
beside PCA with the same number of components (computed with NumPy's SVD).

    python examples/ae_compression.py                      # built-in glyph-digits, ~1 minute
    python examples/ae_compression.py --data mnist         # real MNIST

Each autoencoder is trained by ``scratchgen.training.train_run`` (what ``scratchgen train ae``
does) into its own run directory, --out/code-K, and read back with ``load_run``. Writes
compression.md (the table) and compression.png (test images, PCA and autoencoder
reconstructions for each code size) into --out.
"""
import argparse
import os

import numpy as np

from scratchgen import figures
from scratchgen.cli import data_option
from scratchgen.data import DEFAULT_DATASET, load
from scratchgen.evaluation.metrics import psnr
from scratchgen.models import pca_reconstruct
from scratchgen.training import load_run, train_run


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=data_option, default=DEFAULT_DATASET, help="dataset name or IDX folder")
    p.add_argument("--codes", type=int, nargs="+", default=[2, 8, 32], help="code sizes")
    p.add_argument("--epochs", type=int, default=5, help="epochs per autoencoder")
    p.add_argument("--limit", type=int, default=20000, help="training images (0: all)")
    p.add_argument("--arch", choices=["mlp", "conv"], default="mlp", help="autoencoder architecture")
    p.add_argument("--out", default="runs/ae_compression", help="output folder (its run directories are replaced)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    os.makedirs(args.out, exist_ok=True)

    train = load(args.data, "train").images
    train = train[:args.limit] if args.limit else train
    test = load(args.data, "test").images.astype(np.float32) / 255
    x_train = train.astype(np.float32) / 255

    rows = ["| code size | PCA MSE | PCA PSNR (dB) | autoencoder MSE | autoencoder PSNR (dB) |",
            "|---:|---:|---:|---:|---:|"]
    grid, labels = [test[:10]], ["test image"]

    def mse(restored):  # per image, summed over pixels
        return float(np.mean(np.sum((restored - test) ** 2, axis=(1, 2))))

    for code in args.codes:
        pca = pca_reconstruct(x_train, test, code)
        run_dir = os.path.join(args.out, f"code-{code}")
        trained = train_run({"model": "ae", "arch": args.arch, "latent": code, "hidden": 400, "loss": "bce",
                             "limit": args.limit or None, "epochs": args.epochs, "batch_size": 128, "lr": 1e-3,
                             "seed": args.seed, "data": args.data}, run_dir, overwrite=True)
        _, model = load_run(run_dir)
        ae = model.reconstruct(test)
        rows.append(f"| {code} | {mse(pca):.2f} | {psnr(pca, test):.2f} | {mse(ae):.2f} | {psnr(ae, test):.2f} |")
        print(rows[-1], f"({60 * trained.train_minutes:.0f} s of training)")
        grid += [np.clip(pca[:10], 0, 1), ae[:10]]
        labels += [f"PCA, {code}", f"AE, {code}"]
    table = "\n".join(rows)
    note = (f"\n\n{args.data}, {len(train)} training images, {args.epochs} epochs, {args.arch} autoencoder "
            f"(784-400-code, Bernoulli cross-entropy, Adam 1e-3); MSE is summed over the 784 pixels "
            f"and averaged over the {len(test)} test images; PSNR is the mean over test images.\n")
    with open(os.path.join(args.out, "compression.md"), "w") as f:
        f.write(table + note)
    print(table + note)
    path = figures.image_grid(os.path.join(args.out, "compression.png"), np.concatenate(grid), ncols=10,
                              row_labels=labels, title=f"Reconstructions by code size ({args.data} test set)")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
