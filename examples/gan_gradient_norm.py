"""The saturation of the min-max generator loss, measured: train the same GAN twice from the same
seed, once with log(1 - D(G(z))) and once with -log D(G(z)), and plot the norm of the generator's
gradient over the first steps of training (docs/gan.md, "Why the non-saturating loss exists").

    python examples/gan_gradient_norm.py --data mnist      # 2 x 300 steps of gan_mlp, a few minutes

Both runs are trained by ``scratchgen.training.train_run`` (what ``scratchgen train gan --loss LOSS
--log-every 2`` does). Writes the two run directories, --out/minimax and --out/non-saturating
(replaced), and gan_gradient_norm.png into --out.
"""
import argparse
import os

import numpy as np

from scratchgen import figures
from scratchgen.cli import data_option
from scratchgen.data import DEFAULT_DATASET
from scratchgen.training import read_log, train_run

LOSSES = ("minimax", "non-saturating")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=data_option, default=DEFAULT_DATASET, help="dataset name or IDX folder")
    p.add_argument("--steps", type=int, default=300, help="generator updates per run (one epoch of steps x 128 images)")
    p.add_argument("--seed", type=int, default=0, help="seed of both runs")
    p.add_argument("--out", default="runs/gan_gradient_norm", help="output folder")
    args = p.parse_args()

    series = {}
    for loss in LOSSES:
        run_dir = os.path.join(args.out, loss)
        trained = train_run({"model": "gan", "data": args.data, "loss": loss, "epochs": 1, "batch_size": 128,
                             "limit": 128 * args.steps, "seed": args.seed}, run_dir, overwrite=True, log_every=2)
        if trained.status == "interrupted":
            raise SystemExit(130)
        records = [r for r in read_log(run_dir) if r["event"] == "train"]
        series[loss] = ([r["step"] for r in records], [r["g_grad_norm"] for r in records])
        first = [r for r in records if r["step"] <= 50]
        print(f"{loss}: over the first 50 steps median |grad G| {np.median([r['g_grad_norm'] for r in first]):.3g}, "
              f"mean D(G(z)) {np.mean([r['d_fake'] for r in first]):.3g}; over all {len(records)} logged steps "
              f"median |grad G| {np.median(series[loss][1]):.3g}")
    path = figures.line_plot(os.path.join(args.out, "gan_gradient_norm.png"), series, "generator update",
                             "norm of the generator's gradient", "gan_mlp, early training: min-max vs non-saturating",
                             logy=True)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
