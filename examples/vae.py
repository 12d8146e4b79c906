"""A variational autoencoder, start to finish, with the Python API: train with the shared Trainer,
then sample from the prior, reconstruct, interpolate in latent space, draw the 2-d manifold and
the test set's latent means, and bound the test log-likelihood with IWAE-k.

    python examples/vae.py                                 # glyph-digits, 2-d latent, ~3 minutes
    python examples/vae.py --data mnist --latent 20 --minutes 8 --k 1000

Everything lands in --out (default runs/vae_example): log.jsonl, checkpoint.npz, loss_curve.png,
samples.png, reconstructions.png, interpolation.png, manifold.png and latent_means.png (2-d latent).
The same run can be made with `scratchgen train vae` and inspected with `scratchgen sample|reconstruct|evaluate`.
"""
import argparse
import os

import numpy as np

import scratchgen as sg
from scratchgen import figures
from scratchgen.cli import data_option
from scratchgen.data import DEFAULT_DATASET, DataLoader, load
from scratchgen.models import VAE
from scratchgen.optim import Adam
from scratchgen.training import Trainer, read_log
from scratchgen.training.runs import interpolation_pairs


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=data_option, default=DEFAULT_DATASET, help="dataset name or IDX folder")
    p.add_argument("--latent", type=int, default=2, help="latent dimension (2 draws the manifold)")
    p.add_argument("--arch", choices=["mlp", "conv"], default="mlp")
    p.add_argument("--epochs", type=int, default=100, help="at most this many epochs")
    p.add_argument("--minutes", type=float, default=2.5, help="time budget for training")
    p.add_argument("--k", type=int, default=200, help="importance samples for the IWAE bound")
    p.add_argument("--test-images", type=int, default=2000, help="test images for the final bounds")
    p.add_argument("--out", default="runs/vae_example", help="output folder (replaced)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    os.makedirs(args.out, exist_ok=True)
    for stale in ("checkpoint.npz", "log.jsonl"):           # an example starts afresh
        if os.path.exists(os.path.join(args.out, stale)):
            os.remove(os.path.join(args.out, stale))

    # Data: binarized afresh every epoch for training; the test set binarized once, fixed seed.
    sg.manual_seed(args.seed)
    train = load(args.data, "train")
    test_images, test_labels = load(args.data, "test")
    x_test = test_images[:args.test_images].astype(np.float32) / 255
    x_test = (np.random.default_rng(1).random(x_test.shape, np.float32) < x_test).astype(np.float32)
    labels = test_labels[:args.test_images]
    loader = DataLoader(train, 128, seed=args.seed, binarize="bernoulli")

    # Model and the step: minimize -ELBO (nats per image, averaged over the batch).
    model = VAE(args.arch, latent_dim=args.latent, hidden=400, likelihood="bernoulli", seed=args.seed + 1)
    optimizer = Adam(model.parameters(), lr=1e-3)

    def step(x, y, trainer):
        optimizer.zero_grad()
        loss, rec, kl = model.loss(x)
        loss.backward()
        optimizer.step()
        return {"loss": loss.item(), "kl": float(np.mean(kl.data))}

    def evaluate(trainer):
        return {"loss": -model.evaluate(x_test[:1000])["elbo"]}

    trainer = Trainer(args.out, model=model, optimizer=optimizer, loader=loader, step=step, evaluate=evaluate,
                      generators={"noise": model.rng}, epochs=args.epochs, minutes=args.minutes)
    status = trainer.fit()
    print(f"{status} after {trainer.epoch} epochs ({trainer.step} steps, {trainer.train_seconds / 60:.1f} min)")

    # Figures.
    def out(name):
        return os.path.join(args.out, name)

    figures.loss_curve(out("loss_curve.png"), read_log(args.out),
                       title=f"VAE (latent {args.latent}) on {args.data}: -ELBO per image")
    figures.image_grid(out("samples.png"), model.sample(64, np.random.default_rng(0)), ncols=8,
                       title="Samples: decoder means at z ~ N(0, I)")
    figures.image_grid(out("reconstructions.png"), np.concatenate([x_test[:10], model.reconstruct(x_test[:10])]),
                       ncols=10, row_labels=["test image", "reconstruction"], title="Reconstructions at z = mu(x)")
    pairs = interpolation_pairs(labels)
    rows = [np.concatenate([x_test[a][None], model.interpolate(x_test[a], x_test[b], 10), x_test[b][None]])
            for a, b in pairs]
    figures.image_grid(out("interpolation.png"), np.concatenate(rows), ncols=12,
                       title="Interpolation: decode (1-t) mu(a) + t mu(b), t = 0..1")
    if args.latent == 2:
        grid = model.manifold(20)
        figures.image_grid(out("manifold.png"), grid.reshape(-1, 28, 28), ncols=20,
                           title="Decoded manifold, z on a grid over [-3, 3]^2")
        figures.latent_scatter(out("latent_means.png"), model.latent_means(x_test), labels,
                               title=f"Latent means of {len(x_test)} test images")

    # Bounds on log p(x), nats per image: ELBO <= IWAE_k <= log p(x).
    elbo = model.evaluate(x_test)["elbo"]
    iwae = model.iwae_bound(x_test, k=args.k, rng=np.random.default_rng(2)).mean()
    print(f"test ELBO {elbo:.2f}, IWAE-{args.k} {iwae:.2f} nats per image ({len(x_test)} test images)")
    print(f"figures in {args.out}")


if __name__ == "__main__":
    main()
