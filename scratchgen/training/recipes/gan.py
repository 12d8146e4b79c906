"""Training recipes of the MLP GAN (``scratchgen train gan``, by default the source material's players)
and DCGAN (``train dcgan``).

One trainer step is one iteration of Algorithm 1 of Goodfellow et al. 2014: ``--d-steps`` k
discriminator updates, each on the step's real batch and a fresh noise batch, then one generator
update on the last fake batch (as pytorch/examples dcgan does), scored by the updated D.
docs/gan.md describes the logged quantities, the figures and the batch-norm policy.
"""
from __future__ import annotations

import argparse
import glob
import os

import numpy as np

from ...models.gan import (GAN, DCGANDiscriminator, DCGANGenerator, MLPDiscriminator, MLPGenerator,
                           discriminator_loss, generator_loss)
from ...autograd import no_grad
from ...optim import EMA, Adam
from .. import figures as fig
from ..runs import Family, eval_images, figures_dir
from ..trainer import read_log

FIXED_LATENTS = 64          # the latent batch whose samples are drawn after every epoch
EVAL_SAMPLES = 1000         # generated images the per-epoch statistics are computed on
INTERPOLATION_PAIRS = 4
INTERPOLATION_STEPS = 10


def _widths(text):
    try:
        widths = [int(w) for w in text.split(",")]
    except ValueError:
        widths = []
    if not widths or min(widths) < 1:
        raise argparse.ArgumentTypeError(f"expected positive layer widths separated by commas, e.g. 128,256, got {text!r}")
    return widths


def _betas(text):
    try:
        beta1, beta2 = (float(b) for b in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected two Adam betas separated by a comma, e.g. 0.5,0.999, got {text!r}") from None
    if not (0 <= beta1 < 1 and 0 <= beta2 < 1):
        raise argparse.ArgumentTypeError(f"Adam betas must lie in [0, 1), got {text!r}")
    return [beta1, beta2]


def _label_smoothing(text):
    value = float(text)
    if not 0 <= value < 0.5:
        raise argparse.ArgumentTypeError(f"expected a label smoothing in [0, 0.5), e.g. 0.1 (real label 0.9), got {text}")
    return value


def _ema_decay(text):
    value = float(text)
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"expected an EMA decay in [0, 1), e.g. 0.999, got {text}")
    return value


def _shared_arguments(p):
    p.add_argument("--latent", type=int, default=64, help="size of the noise vector z")
    p.add_argument("--loss", choices=["non-saturating", "minimax"], default="non-saturating",
                   help="generator loss: -log D(G(z)) (non-saturating) or log(1 - D(G(z))) (the min-max game)")
    p.add_argument("--d-steps", type=int, default=1, help="discriminator updates per generator update (k of Algorithm 1)")
    p.add_argument("--label-smoothing", type=_label_smoothing, default=0.1,
                   help="one-sided label smoothing: real images are classified against 1 - this (0.1: target 0.9)")
    p.add_argument("--betas", type=_betas, default=[0.5, 0.999], help="Adam's beta1,beta2 for both players")
    p.add_argument("--ema-decay", type=_ema_decay, default=0.999,
                   help="sample from an exponential moving average of the weights with this decay (0: off; "
                        "0.999 averages over about 1000 steps)")


def _gan_arguments(p):
    _shared_arguments(p)
    p.add_argument("--g-widths", type=_widths, default=[128, 256, 512, 1024],
                   help="widths of the generator's Linear+BatchNorm+ReLU blocks")
    p.add_argument("--d-widths", type=_widths, default=[512, 256, 128],
                   help="widths of the discriminator's Linear+activation blocks")
    p.add_argument("--d-activation", choices=["relu", "leaky-relu"], default="relu",
                   help="activation of the discriminator's blocks: relu (the source material's) or leaky-relu "
                        "(LeakyReLU(0.2), the DCGAN paper's convention and the gan_mlp benchmark's)")


def _dcgan_arguments(p):
    _shared_arguments(p)
    p.add_argument("--width", type=int, default=32,
                   help="channels w of the 14x14 layers (the 7x7 layers have 2w), in both players")


def _shared_configure(args):
    return dict(latent=args.latent, loss=args.loss.replace("-", "_"), d_steps=args.d_steps,
                label_smoothing=args.label_smoothing, betas=args.betas, ema_decay=args.ema_decay)


def _gan_configure(args):
    return dict(**_shared_configure(args), g_widths=args.g_widths, d_widths=args.d_widths,
                d_activation=args.d_activation.replace("-", "_"))


def _dcgan_configure(args):
    return dict(**_shared_configure(args), width=args.width)


def _gan_build(c):
    # Runs from before --d-activation existed were trained with LeakyReLU(0.2).
    discriminator = MLPDiscriminator(c["d_widths"], activation=c.get("d_activation", "leaky_relu"))
    return GAN(MLPGenerator(c["latent"], c["g_widths"]), discriminator)


def _dcgan_build(c):
    return GAN(DCGANGenerator(c["latent"], c["width"]), DCGANDiscriminator(c["width"]))


def _optimizers(model, c):
    return {player: Adam(getattr(model, player).parameters(), lr=c["lr"], betas=tuple(c["betas"]))
            for player in ("generator", "discriminator")}


def _probability(logits: np.ndarray) -> float:
    """mean D = mean sigmoid(logit), in the overflow-free form (1 + tanh(l / 2)) / 2."""
    return float(np.mean(0.5 * (1 + np.tanh(0.5 * np.asarray(logits, np.float64)))))


def gradient_norm(parameters) -> float:
    """The Euclidean norm of all the parameters' gradients together."""
    return float(np.sqrt(sum(np.sum(np.square(p.grad, dtype=np.float64)) for p in parameters if p.grad is not None)))


def _ema(model, c):
    """The average of the weights that sampling uses (Yazici et al. 2019: it smooths G's oscillation), or None."""
    return EMA(model, c["ema_decay"], warmup=True) if c.get("ema_decay") else None


def _step(model, optimizers, c, ema=None):
    opt_g, opt_d = optimizers["generator"], optimizers["discriminator"]
    rng = np.random.default_rng(c["seed"] + 1)      # the noise z (saved by the trainer)
    real_label = 1 - c["label_smoothing"]

    def step(x, y, trainer):
        for _ in range(c["d_steps"]):
            fake = model(model.noise(len(x), rng))
            opt_d.zero_grad()
            real_logits, fake_logits = model.discriminate(x), model.discriminate(fake.detach())
            d_loss = discriminator_loss(real_logits, fake_logits, real_label)
            d_loss.backward()
            opt_d.step()
        opt_g.zero_grad()
        g_loss = generator_loss(model.discriminate(fake), c["loss"])
        g_loss.backward()
        g_grad_norm = gradient_norm(model.generator.parameters())
        opt_g.step()
        if ema is not None:
            ema.update()
        # "loss" is the sum of both players' losses so that the trainer's stop on a non-finite loss watches both.
        return {"loss": d_loss.item() + g_loss.item(), "d_loss": d_loss.item(), "g_loss": g_loss.item(),
                "d_real": _probability(real_logits.data), "d_fake": _probability(fake_logits.data),
                "g_grad_norm": g_grad_norm}
    step.generators = {"noise": rng}
    return step


def _fixed_latents(model, c, n):
    """The same latent batch at every call: the samples of one run show the model changing, not z."""
    return model.noise(n, np.random.default_rng(c["seed"] + 2))


def _spread(images: np.ndarray) -> float:
    """Mean pairwise Euclidean distance between images: collapses towards 0 when G collapses."""
    flat = images.reshape(len(images), -1).astype(np.float64)
    squared = np.sum(flat ** 2, axis=1)
    distances = np.sqrt(np.maximum(squared[:, None] + squared[None, :] - 2 * flat @ flat.T, 0))
    return float(distances.sum() / (len(flat) * (len(flat) - 1)))


def _statistics(model, c, x, z) -> dict:
    """D's view of test images and of G(z), and how spread out the samples are compared with the test images."""
    fakes = model.generate(z)
    real_logits = np.concatenate([model.discriminate(x[s:s + 500]).data for s in range(0, len(x), 500)])
    fake_logits = np.concatenate([model.discriminate(fakes[s:s + 500]).data for s in range(0, len(fakes), 500)])
    return {"d_real": _probability(real_logits), "d_fake": _probability(fake_logits),
            "d_loss": discriminator_loss(real_logits.astype(np.float64), fake_logits.astype(np.float64)).item(),
            "spread_ratio": _spread(fakes) / _spread(x)}


def _evaluate(model, c, x):
    with no_grad():
        return _statistics(model, c, x, _fixed_latents(model, c, EVAL_SAMPLES))


def interpolation_figure(model, c, path, rng) -> str:
    """Rows of G along the line and the great circle between pairs of latents (linear row above spherical)."""
    ends = model.noise(2 * INTERPOLATION_PAIRS, rng)
    rows, labels = [], []
    for a, b in zip(ends[0::2], ends[1::2]):
        for spherical in (False, True):
            rows.append(model.interpolate(a, b, INTERPOLATION_STEPS, spherical))
            labels.append("spherical" if spherical else "linear")
    return fig.image_grid(path, np.concatenate(rows), ncols=INTERPOLATION_STEPS, row_labels=labels,
                          title="G between two latents: straight line and great circle (slerp)")


def _curves(run_dir):
    records = [r for r in read_log(run_dir) if r.get("event") == "train"]
    if not records:
        return
    steps = [r["step"] for r in records]
    fig.line_plot(os.path.join(run_dir, "loss_curve.png"),
                  {name: (steps, [r[name] for r in records]) for name in ("d_loss", "g_loss")},
                  "optimizer step", "loss", f"Losses of {os.path.basename(os.path.abspath(run_dir))}")
    fig.line_plot(os.path.join(figures_dir(run_dir), "discriminator.png"),
                  {f"mean {label}": (steps, [r[name] for r in records])
                   for name, label in (("d_real", "D(x)"), ("d_fake", "D(G(z))"))},
                  "optimizer step", "probability of 'real'", "The discriminator on real and generated batches")


def _figures(model, c, run_dir, tag, x, labels):
    d = figures_dir(run_dir)
    fig.image_grid(os.path.join(d, f"samples_{tag}.png"), model.generate(_fixed_latents(model, c, FIXED_LATENTS)),
                   ncols=8, title=f"{c['model'].upper()} samples of a fixed z ({tag})")
    # Every grid drawn so far, epoch ends and time-budget stops, in the order they were drawn.
    frames = sorted(glob.glob(os.path.join(d, "samples_epoch*.png")) + glob.glob(os.path.join(d, "samples_step*.png")),
                    key=os.path.getmtime)
    fig.animated_gif(os.path.join(d, "progress.gif"), frames)
    interpolation_figure(model, c, os.path.join(d, "interpolation.png"), np.random.default_rng(c["seed"] + 3))
    _curves(run_dir)


def _sample(model, c, n, rng, args):
    return model.sample(n, rng), f"{c['model'].upper()} samples, z ~ N(0, I)"


def _final(model, c, args):
    x, _ = eval_images(c, args.limit)
    interpolation_figure(model, c, os.path.join(figures_dir(args.run_dir), "interpolation.png"),
                         np.random.default_rng(args.seed))
    with no_grad():
        return {"test_images": len(x), **_statistics(model, c, x, model.noise(len(x), np.random.default_rng(args.seed)))}


# Both players: Adam with lr 2e-4 and betas (0.5, 0.999), batch 128 (the gan_mlp benchmark's). The epoch
# limit is high so that --minutes is what ends a budgeted run.
DEFAULTS = dict(lr=2e-4, batch_size=128, epochs=100)

FAMILIES = {
    "gan": Family("GAN (MLP players)", _gan_arguments, _gan_configure, _gan_build, _step,
                  _evaluate, _figures, _final, optimizer=_optimizers, ema=_ema, sample=_sample, defaults=DEFAULTS),
    "dcgan": Family("DCGAN (transposed/strided convolutions)", _dcgan_arguments, _dcgan_configure, _dcgan_build,
                    _step, _evaluate, _figures, _final, optimizer=_optimizers, ema=_ema, sample=_sample,
                    defaults=DEFAULTS),
}
