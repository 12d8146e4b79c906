"""Training recipes of the autoregressive families, PixelCNN and PixelRNN (``scratchgen train pixelcnn|pixelrnn``).

Both are a ``RasterBernoulli``: eq. (1) of the PixelRNN paper, one Bernoulli per pixel given the
pixels before it, so their likelihood is exact and all the rest is shared: the step minimizes the
mean exact NLL, evaluation reports it in nats and bits/dim, samples and completions are drawn
pixel by pixel. A family adds only its options and its network.

Training pixels are binarized afresh every epoch (``binarize="bernoulli"``, as for the Bernoulli
VAE), and by default the learning rate falls to 0 along a cosine over --epochs (each family's
default: about an hour of its default model on 2 cores). Validation and test images are each
binarized once with a fixed seed (``runs.validation_images``, ``runs.eval_images``), so NLLs of
different runs and families and of the VAE's bound are measured on the same bits.
"""
from __future__ import annotations

import os
from functools import partial

import numpy as np
from tqdm import tqdm

from ... import autograd as ag, figures as fig
from ...evaluation.metrics import nats_to_bits_per_dim, standard_error
from ...models.pixelcnn import GatedPixelCNN, PixelCNN
from ...models.pixelrnn import LAYERS, PixelRNN
from ..runs import (
    COMPLETIONS,
    eval_images,
    figures_dir,
    loss_figure,
    read_log,
    refuse_overwrite,
)
from .recipe import Recipe, Step, lr_schedule

COMPLETIONS_PER_INPUT = 4
EVAL_BATCH = 250
LR_SCHEDULES = ("cosine", "constant")


# ------------------------------------------------------------------------- what both families share
def _check_options(o: dict, positive: tuple) -> None:
    """ValueError naming the first option out of range: the ``positive`` sizes, and those both families have."""
    for key in positive:
        if o[key] < 1:
            raise ValueError(f"{key}: expected a positive integer, got {o[key]}")
    if o["figure_samples"] < 0:
        raise ValueError(f"figure_samples: expected 0 or a positive integer, got {o['figure_samples']}")
    if o["lr_schedule"] not in LR_SCHEDULES:
        raise ValueError(f"lr_schedule: expected one of {', '.join(LR_SCHEDULES)}, got {o['lr_schedule']!r}")


def _step(model, optimizer, c):
    def step(x, y, trainer):
        optimizer.zero_grad()
        loss = model.nll(x[:, None]).mean()      # nats per image: eq. (1) summed over the 784 pixels
        loss.backward()
        optimizer.step()
        if trainer.schedule is not None:
            trainer.schedule.step()
        return {"loss": loss.item(), "lr": optimizer.param_groups[0]["lr"]}
    return Step(step, streams={})


def nll_per_image(model, x: np.ndarray, progress: bool | None = False) -> np.ndarray:
    """Exact -log p(x) in nats of each binary image (N, H, W): one forward pass per batch."""
    with ag.no_grad():
        return np.concatenate([model.nll(x[s:s + EVAL_BATCH, None]).data
                               for s in tqdm(range(0, len(x), EVAL_BATCH), desc="exact NLL", unit="batch",
                                             leave=False, disable=(not progress) if progress is not None else None)])


def _nll_metrics(model, x, progress=False) -> dict:
    nats = float(np.mean(nll_per_image(model, x, progress)))
    return {"nll": nats, "bits_per_dim": nats_to_bits_per_dim(nats, x[0].size)}


def _evaluate(model, c, x):
    metrics = _nll_metrics(model, x)
    return {"loss": metrics["nll"], **metrics}


def _nll_curve(family, run_dir) -> None:
    evals = [r for r in read_log(run_dir) if r.get("event") == "eval"]
    fig.line_plot(os.path.join(figures_dir(run_dir), "nll_curve.png"),
                  {"evaluation images": ([r["minutes"] for r in evals], [r["nll"] for r in evals])},
                  "minutes of training", "exact NLL (nats per image)", f"{family}: exact NLL of the evaluation images")


def _figures(family, model, c, run_dir, tag, x, labels):
    if c["figure_samples"]:
        samples = model.sample(c["figure_samples"], np.random.default_rng(1), x.shape[1:])  # same draws every epoch
        fig.image_grid(os.path.join(figures_dir(run_dir), f"samples_{tag}.png"), samples, ncols=8,
                       title=f"{family} samples, pixel by pixel ({tag})")
    loss_figure(run_dir)
    _nll_curve(family, run_dir)


def _final(model, c, run_dir, limit, seed, k):
    """The exact test NLL; `scratchgen evaluate` adds it in bits per dimension and states the binarization."""
    x, _ = eval_images(c, limit)
    nll = nll_per_image(model, x, progress=None)
    metrics = {"test_images": len(x), "nll_exact": float(np.mean(nll))}
    if len(x) > 1:   # over the images, to set the NLL beside other models' bounds on the same images
        metrics["nll_exact_standard_error"] = standard_error(nll)
    return metrics


def _sample(family, model, c, n, rng, options):
    return model.sample(n, rng, progress=None)[:, 0], f"{family} samples, drawn pixel by pixel"


def _complete(family, model, c, damaged, known, rng, options):
    """Sample the unknown pixels given the known ones; also writes completions.png into
    ``options["run_dir"]`` with several completions of each input (the first is the one returned)."""
    path = os.path.join(options["run_dir"], COMPLETIONS)
    refuse_overwrite(path, options.get("overwrite", False))
    k = COMPLETIONS_PER_INPUT
    drawn = model.sample(k * len(damaged), rng, damaged.shape[1:], known=np.tile(damaged, (k, 1, 1)),
                         known_mask=np.tile(known, (k, 1, 1)), progress=None)[:, 0]
    shown = np.where(known, damaged, 0.5)
    fig.image_grid(path, np.concatenate([shown, drawn]), ncols=len(damaged),
                   row_labels=["given"] + [f"completion {i + 1}" for i in range(k)],
                   title=f"{family} completions: {k} samples of the missing pixels per input")
    print(f"wrote {path}")
    return drawn[:len(damaged)]


def _autoregressive(family: str, options: dict, configure, build, defaults: dict) -> Recipe:
    """The recipe of an autoregressive family, ``family`` naming it in titles and messages."""
    return Recipe(family, options, configure, build, _step, _evaluate, partial(_figures, family), _final,
                  sample=partial(_sample, family), restore={"complete": partial(_complete, family)},
                  schedule=lr_schedule, defaults=defaults)


# ------------------------------------------------------------------------- PixelCNN
# 48 x 12 beat 64 x 5 in the same hour at lr 1e-3 (90.7 against 92.8 nats): the receptive field grows one
# pixel per block, and 5 blocks saw only ~8 pixels up and to the left. Sampling the figure costs one forward
# pass per pixel (784 for MNIST) whatever the number of images: about a minute of the default model on
# 2 cores, beside ~9 minutes of training per epoch.
PIXELCNN_OPTIONS = dict(channels=48, blocks=12, hidden=64, gated=False, lr_schedule="cosine", figure_samples=16)


def _configure_pixelcnn(o):
    _check_options(o, positive=("channels", "blocks", "hidden"))
    return dict(channels=o["channels"], blocks=o["blocks"], hidden=o["hidden"], gated=o["gated"],
                figure_samples=o["figure_samples"], lr_schedule=o["lr_schedule"], binarize="bernoulli")


def _build_pixelcnn(c):
    if c["gated"]:
        return GatedPixelCNN(channels=c["channels"], layers=c["blocks"], hidden=c["hidden"])
    return PixelCNN(channels=c["channels"], residual_blocks=c["blocks"], hidden=c["hidden"])


# ------------------------------------------------------------------------- PixelRNN
# The Row LSTM by default, as in models/pixelrnn.py: its context misses the pixels beyond the triangle
# above, which the Diagonal BiLSTM sees (and did better with in the paper, Table 4: 79.20 against 80.54
# nats), but a training step costs about 0.4 of the Diagonal's (0.45 against 1.07 s at batch 64), so it
# gets over twice the steps in a fixed time, and samples faster, reusing its states of the rows already
# drawn where the Diagonal BiLSTM recomputes the rows above each new pixel.
PIXELRNN_OPTIONS = dict(layer="row", hidden=16, layers=4, output_hidden=32, lr_schedule="cosine",
                        figure_samples=16)


def _configure_pixelrnn(o):
    if o["layer"] not in LAYERS:
        raise ValueError(f"layer: expected one of {', '.join(LAYERS)}, got {o['layer']!r}")
    _check_options(o, positive=("hidden", "layers", "output_hidden"))
    return dict(layer=o["layer"], hidden=o["hidden"], layers=o["layers"], output_hidden=o["output_hidden"],
                figure_samples=o["figure_samples"], lr_schedule=o["lr_schedule"], binarize="bernoulli")


def _build_pixelrnn(c):
    return PixelRNN(layer=c["layer"], hidden=c["hidden"], layers=c["layers"], output_hidden=c["output_hidden"])


RECIPES = {
    "pixelcnn": _autoregressive("PixelCNN", PIXELCNN_OPTIONS, _configure_pixelcnn, _build_pixelcnn,
                                # lr 3e-3: one hour reached 88.71 nats against 90.71 at 1e-3 (docs/pixelcnn.md)
                                defaults=dict(lr=3e-3, batch_size=64, epochs=6)),
    "pixelrnn": _autoregressive("PixelRNN", PIXELRNN_OPTIONS, _configure_pixelrnn, _build_pixelrnn,
                                # lr 3e-3 beat 1e-3 over 5 minutes on 5,000 validation images held out of the
                                # training set (91.1 against 93.9 nats); 10 epochs of Row LSTM steps at ~0.42 s
                                # take about 66 minutes on 2 cores: --minutes 60 ends in the tenth (84.26 nats)
                                defaults=dict(lr=3e-3, batch_size=64, epochs=10)),
}
