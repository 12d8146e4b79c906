"""One-class anomaly detection with autoencoders: for each digit c, train on the training images
of class c only, score every test image by its reconstruction error, and measure how well the
score separates the other digits (anomalies, positive) from class c (normal): AUROC per class
and the mean over the 10 classes.

    python examples/ae_anomaly.py                          # built-in glyph-digits, ~1 minute
    python examples/ae_anomaly.py --data mnist             # real MNIST

Each autoencoder is trained by ``scratchgen.training.train_run`` (what ``scratchgen train ae
--classes C`` does) into its own run directory, --out/digit-C, and read back with ``load_run``.
Writes anomaly.md and anomaly.png (AUROC per class) into --out.
"""
import argparse
import os

import numpy as np

from scratchgen import figures
from scratchgen.cli import data_option
from scratchgen.data import DEFAULT_DATASET, load
from scratchgen.evaluation.metrics import auroc
from scratchgen.training import load_run, train_run


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=data_option, default=DEFAULT_DATASET, help="dataset name or IDX folder")
    p.add_argument("--epochs", type=int, default=10, help="epochs per class")
    p.add_argument("--limit", type=int, default=3000, help="training images per class (0: all)")
    p.add_argument("--code", type=int, default=16, help="code size")
    p.add_argument("--loss", choices=["bce", "mse"], default="mse", help="reconstruction loss")
    p.add_argument("--out", default="runs/ae_anomaly", help="output folder (its run directories are replaced)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    os.makedirs(args.out, exist_ok=True)

    train = load(args.data, "train")
    test_images, test_labels = load(args.data, "test")
    x_test = test_images.astype(np.float32) / 255

    scores = []
    for c in range(10):
        run_dir = os.path.join(args.out, f"digit-{c}")
        train_run({"model": "ae", "arch": "mlp", "latent": args.code, "hidden": 256, "loss": args.loss,
                   "classes": [c], "limit": args.limit or None, "epochs": args.epochs, "batch_size": 64,
                   "lr": 1e-3, "seed": args.seed, "data": args.data}, run_dir, overwrite=True)
        _, model = load_run(run_dir)
        trained_on = len(train.restrict([c]).images[:args.limit or None])
        error = np.sum((model.reconstruct(x_test) - x_test) ** 2, axis=(1, 2))   # the anomaly score
        scores.append(auroc(error, test_labels != c))
        print(f"digit {c}: AUROC {scores[-1]:.4f} ({trained_on} training images)")
    mean = float(np.mean(scores))
    rows = ["| normal class | " + " | ".join(str(c) for c in range(10)) + " | mean |",
            "|---" * 12 + "|",
            "| AUROC | " + " | ".join(f"{s:.3f}" for s in scores) + f" | **{mean:.3f}** |"]
    note = (f"\n\n{args.data}; per class {args.limit or 'all'} training images of that digit, {args.epochs} epochs, "
            f"autoencoder 784-256-{args.code} ({args.loss}); score = squared reconstruction error; "
            f"all {len(x_test)} test images.\n")
    with open(os.path.join(args.out, "anomaly.md"), "w") as f:
        f.write("\n".join(rows) + note)
    print("\n".join(rows) + note)
    import matplotlib.pyplot as plt  # noqa: PLC0415 (after scratchgen.figures selects the Agg backend)
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.bar(range(10), scores, color="tab:blue")
    ax.axhline(mean, color="tab:orange", linestyle="--", label=f"mean {mean:.3f}")
    ax.set_xticks(range(10))
    ax.set_ylim(min(0.5, min(scores) - 0.05), 1.0)
    ax.set_xlabel("normal digit (trained on)")
    ax.set_ylabel("AUROC")
    ax.set_title(f"One-class anomaly detection by reconstruction error ({args.data})")
    ax.legend(loc="lower right")
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    path = figures._save(fig, os.path.join(args.out, "anomaly.png"))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
