"""PixelRNN with each of its recurrent layers, start to finish, with the Python API: a Row LSTM and a
Diagonal BiLSTM of the same size trained for the same time on the same digits, their exact test
negative log-likelihoods side by side, their samples, and completions of test digits from their top
half.

    python examples/pixelrnn.py                            # glyph-digits, 2 x 1 minute of training, ~3 minutes
    python examples/pixelrnn.py --data mnist --minutes 10 --hidden 16 --layers 4

Each model is trained by ``scratchgen.training.train_run`` (what ``scratchgen train pixelrnn --layer
LAYER --hidden 8 --layers 2 --lr 2e-3 --lr-schedule constant --minutes 1 --epochs 100 --eval-images
200 --figure-samples 0`` does) into --out/LAYER (replaced) and read back with ``load_run``. The NLL
is exact (eq. 1 of the paper, one Bernoulli per pixel given the pixels before it) on test images
binarized once with a fixed seed, as ``scratchgen evaluate`` measures it. Writes samples.png and
completions.png into each run directory, and pixelrnn.md (the table) into --out.
"""
import argparse
import os
import time

import numpy as np

from scratchgen import figures
from scratchgen.cli import data_option
from scratchgen.data import DEFAULT_DATASET
from scratchgen.evaluation.metrics import nats_to_bits_per_dim
from scratchgen.training import load_run, train_run
from scratchgen.training.recipes.autoregressive import nll_per_image
from scratchgen.training.runs import eval_images

LAYER_NAMES = {"row": "Row LSTM", "diagonal": "Diagonal BiLSTM"}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=data_option, default=DEFAULT_DATASET, help="dataset name or IDX folder")
    p.add_argument("--minutes", type=float, default=1.0, help="training time of each model")
    p.add_argument("--hidden", type=int, default=8, help="features of each LSTM gate (the residual stream has 2x)")
    p.add_argument("--layers", type=int, default=2, help="recurrent layers")
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--test-images", type=int, default=1000, help="test images for the exact NLL")
    p.add_argument("--n", type=int, default=8, help="samples, and test digits to complete, per model")
    p.add_argument("--out", default="runs/pixelrnn_example", help="output folder")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()

    # A time budget, so the learning rate stays constant: a cosine falls to 0 over a number of epochs.
    rows = ["| layer | training steps | exact test NLL (nats) | bits/dim | seconds per sampled image |",
            "|---|---:|---:|---:|---:|"]
    for layer, name in LAYER_NAMES.items():
        run_dir = os.path.join(args.out, layer)
        trained = train_run({"model": "pixelrnn", "layer": layer, "hidden": args.hidden, "layers": args.layers,
                             "data": args.data, "minutes": args.minutes, "epochs": 100, "lr": args.lr,
                             "lr_schedule": "constant", "figure_samples": 0, "eval_images": 200, "seed": args.seed},
                            run_dir, overwrite=True)
        if trained.status == "interrupted":
            raise SystemExit(130)
        config, model = load_run(run_dir)

        test, _ = eval_images(config, args.test_images)
        nats = float(np.mean(nll_per_image(model, test, progress=None)))
        bits = nats_to_bits_per_dim(nats, test[0].size)

        rng = np.random.default_rng(args.seed)
        started = time.perf_counter()
        samples = model.sample(args.n, rng, progress=None)[:, 0]
        per_image = (time.perf_counter() - started) / args.n
        figures.image_grid(os.path.join(run_dir, "samples.png"), samples, ncols=args.n,
                           title=f"PixelRNN ({name}) samples, drawn pixel by pixel")

        digits = test[:args.n]
        top_half = np.zeros(digits.shape, bool)
        top_half[:, :14] = True
        completed = model.sample(args.n, rng, known=digits, known_mask=top_half, progress=None)[:, 0]
        figures.image_grid(os.path.join(run_dir, "completions.png"),
                           np.concatenate([digits, np.where(top_half, digits, 0.5), completed]), ncols=args.n,
                           row_labels=["test digit", "given", "completed"],
                           title=f"PixelRNN ({name}): the bottom half drawn given the top half")
        rows.append(f"| {name} | {trained.step} | {nats:.2f} | {bits:.4f} | {per_image:.2f} |")
        print(f"{name}: {trained.step} steps in {trained.train_minutes:.1f} min; exact test NLL {nats:.2f} nats "
              f"({bits:.4f} bits/dim) on {len(test)} images; wrote {run_dir}/samples.png, completions.png")

    note = (f"\n\n{args.data}, hidden {args.hidden}, {args.layers} layers, {args.minutes} minutes of training each "
            f"at a constant lr {args.lr}; NLL on the first {len(test)} test images, binarized once with a fixed "
            f"seed.\n")
    with open(os.path.join(args.out, "pixelrnn.md"), "w") as f:
        f.write("\n".join(rows) + note)
    print("\n".join(rows) + note)


if __name__ == "__main__":
    main()
