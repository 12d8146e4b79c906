"""Each family's own ``scratchgen train MODEL`` options: argparse over the recipe's ``options``.

The defaults are the recipe's (``training/recipes/``) and --help shows them, but an option left out
is absent from the parsed arguments (parser.GivenOnlyParser): ``train_run`` fills it in, so the CLI
and the Python API agree, and on --resume the stored run's value is the default. The option's
destination is the config key it sets.
"""
from __future__ import annotations

import argparse

from ..models.autoencoder import CORRUPTIONS
from ..models.pixelrnn import LAYERS
from ..training import RECIPES
from .option_types import below_one, count, non_negative, number, positive_int


def _integers(text: str, example: str, what: str = "positive integers") -> list[int]:
    try:
        values = [int(v) for v in text.split(",")]
    except ValueError:
        values = []
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected {what} separated by commas, e.g. {example}, got {text!r}")
    return values


def _classes(text):
    try:
        digits = [int(c) for c in text.split(",")]
    except ValueError:
        digits = []
    if not digits or not all(0 <= d <= 9 for d in digits):
        raise argparse.ArgumentTypeError(f"expected digits 0-9 separated by commas, e.g. 3 or 1,7, got {text!r}")
    return digits


def _betas(text):
    try:
        betas = [below_one(b) for b in text.split(",")]
    except argparse.ArgumentTypeError:
        betas = []
    if len(betas) != 2:
        raise argparse.ArgumentTypeError(f"expected two Adam betas in [0, 1) separated by a comma, e.g. 0.5,0.999, "
                                         f"got {text!r}")
    return betas


_label_smoothing = number(False, lambda v: 0 <= v < 0.5, "a number in [0, 0.5)")


def _lr_schedule(p, d):
    p.add_argument("--lr-schedule", choices=["cosine", "constant"], default=d["lr_schedule"],
                   help="cosine: the learning rate falls to 0 over --epochs (the best result for a fixed budget: "
                        "set --epochs to what fits in --minutes); constant: --lr throughout, for open-ended runs")


def _classifier(p, d):
    p.add_argument("--width", type=positive_int, default=d["width"],
                   help="channels of the first convolution (the second has twice as many)")


def _autoencoders(p, d):
    p.add_argument("--arch", choices=["mlp", "conv"], default=d["arch"],
                   help="mlp: dense 784-HIDDEN-LATENT; conv: two stride-2 convolutions each way "
                        "(the vae_conv benchmark, benchmarks/README.md)")
    p.add_argument("--latent", type=positive_int, default=d["latent"], help="size of the code")
    p.add_argument("--hidden", type=positive_int, default=d["hidden"],
                   help="hidden width of the mlp encoder and decoder")
    p.add_argument("--binarize", choices=["auto", "bernoulli", "threshold", "none"], default=d["binarize"],
                   help="training pixels: auto = bernoulli (fresh samples every epoch) for a Bernoulli vae, "
                        "gray otherwise")
    p.add_argument("--classes", type=_classes, default=d["classes"],
                   help="train only on these digits, e.g. 3 or 1,7 (one-class anomaly detection)")


def _ae(p, d):
    _autoencoders(p, d)
    p.add_argument("--loss", choices=["bce", "mse"], default=d["loss"],
                   help="reconstruction loss: Bernoulli cross-entropy or squared error, summed over pixels")
    p.add_argument("--corrupt", choices=list(CORRUPTIONS), default=d["corrupt"],
                   help="train a denoising autoencoder on corrupted inputs with clean targets (hole: an inpainting "
                        "one, a random square of side --noise-level x 28 removed)")
    p.add_argument("--noise-level", type=non_negative, default=d["noise_level"],
                   help="with --corrupt: the Gaussian sigma, or the fraction of pixels hit")


def _vae(p, d):
    _autoencoders(p, d)
    p.add_argument("--likelihood", choices=["bernoulli", "gaussian"], default=d["likelihood"],
                   help="decoder: bernoulli for binarized pixels, gaussian for gray values")
    p.add_argument("--beta", type=non_negative, default=d["beta"], help="weight of the KL term (1 = the true ELBO)")
    p.add_argument("--kl-warmup", type=count, default=d["kl_warmup"],
                   help="raise the KL weight linearly from 0 to --beta over this many steps (0: off)")
    p.add_argument("--class-conditional", action="store_true", default=d["class_conditional"],
                   help="a conditional VAE (CVAE, --arch mlp): the one-hot digit label enters the encoder and the "
                        "decoder, the prior stays N(0, I) (`sample --label D`)")


def _gans(p, d):
    p.add_argument("--latent", type=positive_int, default=d["latent"], help="size of the noise vector z")
    p.add_argument("--loss", choices=["non-saturating", "minimax"], default=d["loss"].replace("_", "-"),
                   help="generator loss: -log D(G(z)) (non-saturating) or log(1 - D(G(z))) (the min-max game)")
    p.add_argument("--d-steps", type=positive_int, default=d["d_steps"],
                   help="discriminator updates per generator update (k of Algorithm 1)")
    p.add_argument("--label-smoothing", type=_label_smoothing, default=d["label_smoothing"],
                   help="one-sided label smoothing: real images are classified against 1 - this (0.1: target 0.9)")
    p.add_argument("--betas", type=_betas, default=d["betas"], help="Adam's beta1,beta2 for both players")
    p.add_argument("--ema-decay", type=below_one, default=d["ema_decay"],
                   help="sample from an exponential moving average of the weights with this decay (0: off; "
                        "0.999 averages over about 1000 steps)")


def _gan(p, d):
    _gans(p, d)
    widths = lambda text: _integers(text, "128,256", "positive layer widths")  # noqa: E731
    p.add_argument("--g-widths", type=widths, default=d["g_widths"],
                   help="widths of the generator's Linear+BatchNorm+ReLU blocks")
    p.add_argument("--d-widths", type=widths, default=d["d_widths"],
                   help="widths of the discriminator's Linear+activation blocks")
    p.add_argument("--d-activation", choices=["relu", "leaky-relu"], default=d["d_activation"].replace("_", "-"),
                   help="activation of the discriminator's blocks: relu (the source material's) or leaky-relu "
                        "(LeakyReLU(0.2), the DCGAN paper's convention and the gan_mlp benchmark's)")


def _dcgan(p, d):
    _gans(p, d)
    p.add_argument("--width", type=positive_int, default=d["width"],
                   help="channels w of the 14x14 layers (the 7x7 layers have 2w), in both players")


def _ddpm(p, d):
    p.add_argument("--net", choices=["unet", "mlp"], default=d["net"],
                   help="noise network: the ddpm_unet UNet of benchmarks/README.md, "
                        "or a two-hidden-layer MLP (quickest)")
    p.add_argument("--widths", type=lambda text: _integers(text, "32,64"), default=d["widths"],
                   help="unet: channels at 28x28 and at 14x14/7x7, multiples of 8 (default 32,64); "
                        "mlp: the hidden width (default 512)")
    p.add_argument("--timesteps", type=positive_int, default=d["timesteps"],
                   help="diffusion steps T (linear schedule: at least 21)")
    p.add_argument("--schedule", choices=["linear", "cosine"], default=d["schedule"],
                   help="betas: linear 1e-4..0.02 (scaled by 1000/T), or cosine (Nichol & Dhariwal 2021)")
    p.add_argument("--ema-decay", type=below_one, default=d["ema_decay"],
                   help="decay of the moving average of the weights that sampling uses")
    p.add_argument("--clip-grad", type=non_negative, default=d["clip_grad"],
                   help="clip the gradient norm to this (0: no clipping)")
    p.add_argument("--class-conditional", action="store_true", default=d["class_conditional"],
                   help="condition on the digit label (classifier-free guidance: `sample --guidance W --label D`)")
    p.add_argument("--label-dropout", type=below_one, default=d["label_dropout"],
                   help="with --class-conditional: fraction of training labels replaced by 'no label'")
    _lr_schedule(p, d)


def _autoregressive(p, d):
    _lr_schedule(p, d)
    p.add_argument("--figure-samples", type=count, default=d["figure_samples"],
                   help="samples drawn for the figure after every epoch, 784 forward passes (0: no sample figure)")


def _pixelcnn(p, d):
    p.add_argument("--channels", type=positive_int, default=d["channels"],
                   help="feature maps of the 7x7 mask-A layer and the residual stream")
    p.add_argument("--blocks", type=positive_int, default=d["blocks"],
                   help="residual blocks (1x1, masked 3x3 type B, 1x1), or 3x3 gated layers with --gated")
    p.add_argument("--hidden", type=positive_int, default=d["hidden"],
                   help="width of the 1x1 output layer before the logits")
    p.add_argument("--gated", action="store_true", default=d["gated"],
                   help="gated PixelCNN (vertical and horizontal stacks, no blind spot); ~7x the cost per layer "
                        "at equal --channels")
    _autoregressive(p, d)


def _pixelrnn(p, d):
    p.add_argument("--layer", choices=list(LAYERS), default=d["layer"],
                   help="the recurrent layer: row (Row LSTM: one LSTM step per row, sees the triangle above and the "
                        "pixels to the left) or diagonal (Diagonal BiLSTM: sees the whole past, ~2.4x the time per "
                        "step and far slower sampling: about 3.4 epochs fit in an hour, e.g. --epochs 4 "
                        "--minutes 60)")
    p.add_argument("--hidden", type=positive_int, default=d["hidden"],
                   help="features h of each LSTM gate; the residual stream between the layers has 2h")
    p.add_argument("--layers", type=positive_int, default=d["layers"],
                   help="recurrent layers, each with a residual connection")
    p.add_argument("--output-hidden", type=positive_int, default=d["output_hidden"],
                   help="width of the 1x1 output layer before the logits")
    _autoregressive(p, d)


_ADDERS = {"classifier": _classifier, "ae": _ae, "vae": _vae, "gan": _gan, "dcgan": _dcgan, "ddpm": _ddpm,
           "pixelcnn": _pixelcnn, "pixelrnn": _pixelrnn}


def add_family_options(p: argparse.ArgumentParser, model: str) -> None:
    """The options of ``model``'s recipe, each defaulting to the recipe's value."""
    _ADDERS[model](p, RECIPES[model].options)
