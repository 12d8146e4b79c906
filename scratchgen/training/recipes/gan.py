"""Training recipes of the MLP GAN (``scratchgen train gan``, by default the source material's players)
and DCGAN (``train dcgan``).

One trainer step is one iteration of Algorithm 1 (``GAN.train_step``): ``d_steps`` k
discriminator updates, each on the step's real batch and a fresh noise batch, then one generator
update on the last fake batch, scored by the updated D.
docs/gan.md describes the logged quantities, the figures and the batch-norm policy.
"""
from __future__ import annotations

import glob
import os

import numpy as np

from ... import figures as fig
from ...autograd import no_grad
from ...evaluation import restoration
from ...models.gan import (
    GAN,
    GENERATOR_LOSSES,
    DCGANDiscriminator,
    DCGANGenerator,
    MLPDiscriminator,
    MLPGenerator,
    discriminator_loss,
    mean_probability,
)
from ...optim import EMA, Adam
from ..runs import INTERPOLATION, LOSS_CURVE, eval_images, figures_dir, read_log
from .recipe import Recipe, Step

FIXED_LATENTS = 64          # the latent batch whose samples are drawn after every epoch
EVAL_SAMPLES = 1000         # generated images the per-epoch statistics are computed on
INTERPOLATION_PAIRS = 4
INTERPOLATION_STEPS = 10


SHARED_OPTIONS = dict(latent=64, loss="non_saturating", d_steps=1, label_smoothing=0.1, betas=[0.5, 0.999],
                      ema_decay=0.999)
GAN_OPTIONS = dict(SHARED_OPTIONS, g_widths=[128, 256, 512, 1024], d_widths=[512, 256, 128], d_activation="relu")
DCGAN_OPTIONS = dict(SHARED_OPTIONS, width=32)


def _shared_configure(o):
    if o["loss"].replace("-", "_") not in GENERATOR_LOSSES:
        raise ValueError(f"loss: expected one of {', '.join(GENERATOR_LOSSES)}, got {o['loss']!r}")
    if o["d_steps"] < 1:
        raise ValueError(f"d_steps: expected a positive number of discriminator updates, got {o['d_steps']}")
    if not 0 <= o["label_smoothing"] < 0.5:
        raise ValueError(f"expected a label smoothing in [0, 0.5), e.g. 0.1 (real label 0.9), "
                         f"got {o['label_smoothing']}")
    if not all(0 <= beta < 1 for beta in o["betas"]) or len(o["betas"]) != 2:
        raise ValueError(f"Adam betas must be two numbers in [0, 1), got {o['betas']}")
    if not 0 <= o["ema_decay"] < 1:
        raise ValueError(f"expected an EMA decay in [0, 1), e.g. 0.999, got {o['ema_decay']}")
    return dict(latent=o["latent"], loss=o["loss"].replace("-", "_"), d_steps=o["d_steps"],
                label_smoothing=o["label_smoothing"], betas=list(o["betas"]), ema_decay=o["ema_decay"])


def _gan_configure(o):
    for key in ("g_widths", "d_widths"):
        if not o[key]:
            raise ValueError(f"{key}: expected the widths of one or more hidden layers, e.g. [128, 256], "
                             f"got {o[key]!r}")
    return dict(**_shared_configure(o), g_widths=list(o["g_widths"]), d_widths=list(o["d_widths"]),
                d_activation=o["d_activation"].replace("-", "_"))


def _dcgan_configure(o):
    return dict(**_shared_configure(o), width=o["width"])


def _gan_build(c):
    # Runs from before --d-activation existed were trained with LeakyReLU(0.2).
    discriminator = MLPDiscriminator(c["d_widths"], activation=c.get("d_activation", "leaky_relu"))
    return GAN(MLPGenerator(c["latent"], c["g_widths"]), discriminator)


def _dcgan_build(c):
    return GAN(DCGANGenerator(c["latent"], c["width"]), DCGANDiscriminator(c["width"]))


def _optimizers(model, c):
    return {player: Adam(getattr(model, player).parameters(), lr=c["lr"], betas=tuple(c["betas"]))
            for player in ("generator", "discriminator")}


def _ema(model, c):
    """The average of the weights that sampling uses (Yazici et al. 2019: it smooths G's oscillation), or None."""
    return EMA(model, c["ema_decay"], warmup=True) if c.get("ema_decay") else None


def _step(model, optimizers, c, ema=None):
    rng = np.random.default_rng(c["seed"] + 1)      # the noise z (saved by the trainer)

    def step(x, y, trainer):
        metrics = model.train_step(x, optimizers, rng, d_steps=c["d_steps"], real_label=1 - c["label_smoothing"],
                                   loss=c["loss"])
        if ema is not None:
            ema.update()
        # "loss" is the sum of both players' losses so that the trainer's stop on a non-finite loss watches both.
        return {"loss": metrics["d_loss"] + metrics["g_loss"], **metrics}
    return Step(step, streams={"noise": rng})


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
    """D's view of real images and of G(z), and how spread out the samples are compared with the real images."""
    fakes = model.generate(z)
    real_logits = np.concatenate([model.discriminate(x[s:s + 500]).data for s in range(0, len(x), 500)])
    fake_logits = np.concatenate([model.discriminate(fakes[s:s + 500]).data for s in range(0, len(fakes), 500)])
    return {"d_real": mean_probability(real_logits), "d_fake": mean_probability(fake_logits),
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
    fig.line_plot(os.path.join(run_dir, LOSS_CURVE),
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
    interpolation_figure(model, c, os.path.join(d, INTERPOLATION), np.random.default_rng(c["seed"] + 3))
    _curves(run_dir)


def _sample(model, c, n, rng, options):
    return model.sample(n, rng), f"{c['model'].upper()} samples, z ~ N(0, I)"


def _final(model, c, run_dir, limit, seed, k):
    x, _ = eval_images(c, limit)
    interpolation_figure(model, c, os.path.join(figures_dir(run_dir), INTERPOLATION), np.random.default_rng(seed))
    with no_grad():
        return {"test_images": len(x), **_statistics(model, c, x, model.noise(len(x), np.random.default_rng(seed)))}


def _restore(task):
    def restore(model, c, damaged, known, rng, options):
        """G of the MAP latent, argmin_z ||observe(G(z)) - damaged||^2 / (2 s^2) + ||z||^2 / 2 over the observed
        values (restoration.gaussian_observation_nll), from RESTARTS draws of the prior per image."""
        factor = options.get("factor", restoration.FACTOR)
        noise_std = options.get("noise_std", restoration.NOISE_STD) if task == "denoise" else 0.0

        def negative_log_likelihood(z, damaged, known):
            return restoration.gaussian_observation_nll(task, model(z), damaged, known, noise_std=noise_std,
                                                        factor=factor)
        starts = model.noise(restoration.RESTARTS * len(damaged), rng)
        with restoration.frozen(model):
            z = restoration.map_latents(negative_log_likelihood, starts, damaged, known)
        return restoration.finish(task, model.generate(z), damaged, known, factor)
    return restore


RESTORE = {task: _restore(task) for task in ("inpaint", "denoise", "superres")}

# Both players: Adam with lr 2e-4 and betas (0.5, 0.999), batch 128 (the gan_mlp benchmark's). The epoch
# limit is high so that --minutes is what ends a budgeted run.
DEFAULTS = dict(lr=2e-4, batch_size=128, epochs=100)

RECIPES = {
    "gan": Recipe("GAN (MLP players)", GAN_OPTIONS, _gan_configure, _gan_build, _step,
                  _evaluate, _figures, _final, optimizer=_optimizers, ema=_ema, sample=_sample, restore=RESTORE,
                  defaults=DEFAULTS),
    "dcgan": Recipe("DCGAN (transposed/strided convolutions)", DCGAN_OPTIONS, _dcgan_configure, _dcgan_build,
                    _step, _evaluate, _figures, _final, optimizer=_optimizers, ema=_ema, sample=_sample,
                    restore=RESTORE, defaults=DEFAULTS),
}
