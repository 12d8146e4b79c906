"""The ``scratchgen`` command line: one small function per command, each mapping its options onto
the keyword arguments of the function in commands.py (or demo.py) that does the work."""
from __future__ import annotations

import argparse

from ..data import DATASETS, DEFAULT_DATASET, resolve_data_arg
from ..evaluation import restoration
from ..evaluation.restoration import MASK_PATTERNS, TASKS
from ..training import COMMON_OPTIONS, RECIPES
from ..training.recipes.ddpm import BOUND_BINARIZATIONS, BOUND_IMAGES, SAMPLER_OPTIONS
from . import commands, demo
from .family_options import add_family_options
from .option_types import count, fraction, non_negative, number, png_file, positive, positive_int, unit_interval
from .scoring import DEFAULT_SAMPLES

FORMATTER = argparse.ArgumentDefaultsHelpFormatter
_digit = number(True, lambda v: 0 <= v <= 9, "a digit 0-9")


def _given_only(kwargs: dict) -> dict:
    """``add_argument``'s keywords for an option that is absent from the parsed arguments unless given,
    its default named in --help all the same: the command can then tell a value chosen on purpose
    from a default (a resumed run keeps its stored options; a family refuses options it does not use)."""
    default = kwargs.pop("default", False if kwargs.get("action") == "store_true" else None)
    help_text = f"{kwargs.get('help', '')} (default: {default})".replace("%", "%%")
    return dict(kwargs, default=argparse.SUPPRESS, help=help_text)


class OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line, like every other error of the command: the usage
    it would print first is one ``--help`` away."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


class GivenOnlyParser(OneLineParser):
    """A parser whose options are all ``_given_only``: `scratchgen train MODEL`'s, where train_run fills
    in the defaults (make_config) or, on --resume, the stored config's values."""

    def add_argument(self, *flags, **kwargs):
        if kwargs.get("default") is argparse.SUPPRESS:    # --help
            return super().add_argument(*flags, **kwargs)
        return super().add_argument(*flags, **_given_only(kwargs))


def data_option(text: str) -> str:
    """argparse's ``type=`` for ``--data``: ``data.resolve_data_arg``, its message as the usage error."""
    try:
        return resolve_data_arg(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _data_parser(commands_):
    d = commands_.add_parser("data", help="inspect a dataset, or draw a grid of its images",
                             description="Inspect a dataset (shapes and label counts of both splits), or save a "
                                         "10x10 grid of its first training images of each class.")
    what = d.add_subparsers(dest="what", required=True, metavar="WHAT")
    summary = what.add_parser("summary", formatter_class=FORMATTER, help="shapes and label counts of both splits")
    summary.add_argument("--data", type=data_option, default=DEFAULT_DATASET, help="dataset name or IDX folder")
    summary.set_defaults(run=commands.data_summary)
    grid = what.add_parser("figure", formatter_class=FORMATTER, help="save a 10x10 grid of training images")
    grid.add_argument("path", type=png_file, help="the PNG to write")
    grid.add_argument("--overwrite", action="store_true", help="replace the PNG if it already exists")
    grid.add_argument("--data", type=data_option, default=DEFAULT_DATASET, help="dataset name or IDX folder")
    grid.set_defaults(run=commands.data_figure)


def _demo_parser(commands_):
    d = commands_.add_parser("demo", formatter_class=FORMATTER,
                             help="train, evaluate and show every model family in one gallery",
                             description="Train the judging classifier, an autoencoder, a VAE, a GAN, a DDPM, a "
                                         "PixelCNN and a PixelRNN within a time budget, evaluate each, sample and "
                                         "restore, and write OUT/index.html (a self-contained page) and "
                                         "OUT/summary.md. Each model's run directory is OUT/MODEL.")
    d.add_argument("--data", type=data_option, default=DEFAULT_DATASET,
                   help="dataset (the built-in glyph-digits needs no download)")
    d.add_argument("--minutes", type=positive, default=10, help="the time budget of the whole demo")
    d.add_argument("--out", default="runs/demo", help="directory of the gallery and the runs")
    d.add_argument("--n-samples", type=positive_int, default=500, help="samples scored per model")
    d.add_argument("--seed", type=count, default=0, help="seed of every run")
    d.add_argument("--overwrite", action="store_true", help="replace an earlier demo in --out")
    d.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bars")
    d.set_defaults(run=demo.demo)


def _add_common_train_arguments(p, defaults):
    """The options every model has; ``defaults`` holds the model's values of COMMON_OPTIONS.

    Each model's parser gets its own copies: argparse parents share their actions, so one model's
    defaults would overwrite another's.
    """
    p.add_argument("--data", type=data_option, default=defaults["data"],
                   help=f"dataset: one of {', '.join(DATASETS)}, or a folder of MNIST-format IDX files")
    p.add_argument("--epochs", type=positive_int, default=defaults["epochs"],
                   help="epochs to train (the total, when resuming)")
    p.add_argument("--minutes", type=positive, default=defaults["minutes"],
                   help="time budget: stop after this many minutes of training steps (evaluation not counted)")
    p.add_argument("--out", default=None, help="run directory (default runs/MODEL)")
    p.add_argument("--batch-size", type=positive_int, default=defaults["batch_size"], help="images per step")
    p.add_argument("--lr", type=positive, default=defaults["lr"], help="learning rate")
    p.add_argument("--seed", type=count, default=defaults["seed"],
                   help="seed of every random choice (weights, order, noise)")
    p.add_argument("--limit", type=positive_int, default=defaults["limit"],
                   help="train on the first N training images only")
    p.add_argument("--eval-images", type=positive_int, default=defaults["eval_images"],
                   help="validation images (the last twelfth of the training split, never trained on) scored "
                        "by the evaluation after every epoch")
    p.add_argument("--log-every", type=positive_int, default=50, help="write a training record every N steps")
    p.add_argument("--resume", action="store_true",
                   help="continue the run in --out from its checkpoint, exactly as if it had not stopped")
    p.add_argument("--overwrite", action="store_true", help="replace an existing run in --out")
    p.add_argument("--no-progress", dest="progress", action="store_const", const=False, default=None,
                   help="no progress bar")


def _train_parser(commands_):
    t = commands_.add_parser("train", help="train a model into a run directory",
                             description="Train a model. The run directory (--out) receives config.json, log.jsonl "
                                         "(one JSON record per line), checkpoint.npz (written atomically after every "
                                         "epoch, on Ctrl-C and at the end), loss_curve.png and figures/. "
                                         "`scratchgen train MODEL --help` lists the options of MODEL.")
    models = t.add_subparsers(dest="model", required=True, metavar="MODEL", parser_class=GivenOnlyParser)
    for name, recipe in RECIPES.items():
        article = "an" if recipe.name[0] in "aeiou" else "a"
        p = models.add_parser(name, formatter_class=FORMATTER, help=recipe.name,
                              description=f"Train {article} {recipe.name}.")
        _add_common_train_arguments(p, {**COMMON_OPTIONS, **recipe.defaults})
        add_family_options(p, name)
        p.set_defaults(run=commands.train)


def _run_dir_parser(commands_, name, help, description, run):
    p = commands_.add_parser(name, formatter_class=FORMATTER, help=help, description=description)
    p.add_argument("run_dir", metavar="RUN_DIR", help="a run directory written by `scratchgen train`")
    p.add_argument("--overwrite", action="store_true", help="replace output files that already exist")
    p.set_defaults(run=run)
    return p


def guidance_weights(text: str) -> list[float]:
    """argparse's ``type=`` for evaluate's ``--guidance``: one weight, or several separated by commas."""
    try:
        weights = [non_negative(w) for w in text.split(",")]
    except argparse.ArgumentTypeError:
        weights = []
    if not weights or len(set(weights)) != len(weights):
        raise argparse.ArgumentTypeError(f"expected distinct finite numbers >= 0 separated by commas, e.g. 0,1,3, "
                                         f"got {text!r}")
    return weights


def _add_sampler_options(p: argparse.ArgumentParser, several_weights: bool = False) -> None:
    """How a ddpm run draws its samples: options shared by `sample` and `evaluate` (whose --conditional takes
    ``several_weights``)."""
    d = SAMPLER_OPTIONS
    p.add_argument("--sampler", **_given_only(dict(
        choices=["ddim", "ddpm"], default=d["sampler"],
        help="ddpm runs: DDIM with --steps steps, or ancestral sampling through all T steps")))
    p.add_argument("--steps", **_given_only(dict(type=positive_int, default=d["steps"],
                                                 help="ddpm runs, --sampler ddim: number of steps")))
    p.add_argument("--eta", **_given_only(dict(
        type=unit_interval, default=d["eta"],
        help="ddpm runs, --sampler ddim: 0 is deterministic given x_T, 1 the ancestral variance "
             "(docs/ddpm.md: the better samples from short training)")))
    p.add_argument("--variance", **_given_only(dict(
        choices=["beta", "beta_tilde"], default=d["variance"],
        help="ddpm runs, --sampler ddpm: reverse-step variance beta_t or the posterior's beta-tilde_t")))
    p.add_argument("--guidance", **_given_only(dict(
        type=guidance_weights if several_weights else non_negative, default=d["guidance"],
        help="class-conditional ddpm runs: classifier-free guidance weight w, (1+w) eps(x,y) - w eps(x)"
             + ("; with --conditional, several separated by commas, e.g. 0,1,3" if several_weights else ""))))
    p.add_argument("--label", **_given_only(dict(
        type=_digit, default=d["label"],
        help="class-conditional ddpm and vae runs: draw only this digit (without it: the digits 0-9 in turn)")))


def _sample_parser(commands_):
    s = _run_dir_parser(commands_, "sample", "draw samples from a trained model",
                        "Draw samples from a trained model into a grid; writes RUN_DIR/samples.png. A ddpm run samples "
                        "with its EMA weights, by DDIM with 50 steps unless --sampler ddpm is given.", commands.sample)
    s.add_argument("--n", type=positive_int, default=64, help="number of samples")
    s.add_argument("--seed", type=count, default=0, help="seed of the random draws")
    s.add_argument("--output", type=png_file, default=None, help="PNG to write instead of RUN_DIR/samples.png")
    _add_sampler_options(s)


def _reconstruct_parser(commands_):
    r = _run_dir_parser(commands_, "reconstruct", "reconstruct test images (and interpolate, for a vae)",
                        "Write RUN_DIR/reconstructions.png (test images, their corrupted version for a denoising ae, "
                        "and the reconstructions) and, for a vae, RUN_DIR/interpolation.png.", commands.reconstruct)
    r.add_argument("--n", type=number(True, lambda v: 1 <= v <= commands.RECONSTRUCT_MOST,
                                      f"an integer from 1 to {commands.RECONSTRUCT_MOST}"),
                   default=10, help="test images to reconstruct, one column each")


def _restore_parser(commands_):
    rs = _run_dir_parser(commands_, "restore", "restore damaged test images with a trained model",
                         "Damage the first N test images, restore them with the model, and write "
                         "RUN_DIR/restore_TASK.png (clean, damaged, restored), restore_TASK.npz (the same images of "
                         "all N as arrays, and the model's input) and restore_TASK.json (PSNR and SSIM of the "
                         "restoration, of the damaged input and of classical baselines). Tasks: "
                         + "; ".join(f"{k}: {v}" for k, v in TASKS.items()) + ".", commands.restore)
    rs.add_argument("--task", choices=list(TASKS), required=True, help="what to restore")
    rs.add_argument("--mask", default=None, help=f"inpaint: {', '.join(MASK_PATTERNS)}, or a 28x28 PNG "
                                                 f"(black = missing); default center. complete: bottom (the default) "
                                                 f"or a PNG whose known pixels come first in raster order")
    rs.add_argument("--fraction", **_given_only(dict(type=fraction, default=restoration.FRACTION,
                                                     help="--mask random: fraction of pixels missing")))
    rs.add_argument("--noise-std", **_given_only(dict(type=non_negative, default=restoration.NOISE_STD,
                                                      help="denoise: standard deviation of the noise")))
    rs.add_argument("--factor", **_given_only(dict(type=int, choices=restoration.FACTORS, default=restoration.FACTOR,
                                                   help="superres: upsampling factor (from 14x14 or 7x7)")))
    rs.add_argument("--method", **_given_only(dict(
        choices=commands.RESTORE_METHODS["vae"], default=commands.RESTORE_METHODS["vae"][0],
        help="vae runs: decode the MAP latent found by Adam against the known pixels and the prior, or decode "
             "the encoder's mean of the damaged image (docs/restoration.md)")))
    rs.add_argument("--resample", type=positive_int, default=1,
                    help="ddpm inpaint: RePaint resampling, each reverse step repeated this many times")
    rs.add_argument("--steps", type=positive_int, default=None,
                    help="ddpm inpaint: reverse steps, evenly spaced (default: all T)")
    rs.add_argument("--reconstruction-guidance", type=non_negative, default=0.0, metavar="W",
                    help="ddpm inpaint: steer every step's predicted image towards the known pixels by W times the "
                         "gradient of their squared error (Ho et al. 2022); costs a backward pass per step")
    rs.add_argument("--samples", type=positive_int, default=1,
                    help="restorations drawn per image; the figure and the scores are of their mean, which "
                         "estimates the posterior mean (the fill with the best expected PSNR), and of one draw")
    rs.add_argument("--n", type=positive_int, default=10,
                    help=f"test images to restore and score (the figure shows the first "
                         f"{commands.RESTORE_FIGURE_MOST})")
    rs.add_argument("--seed", type=count, default=0, help="seed of the damage and of the restoration")
    rs.add_argument("--output", type=png_file, default=None,
                    help="PNG to write instead of RUN_DIR/restore_TASK.png (the images and the scores go beside "
                         "it, in an .npz and a .json)")


def _evaluate_parser(commands_):
    e = _run_dir_parser(commands_, "evaluate", "test-set metrics of a trained model, and of its samples",
                        "Evaluate on the test set and write RUN_DIR/metrics.json: for a vae the ELBO and the "
                        "importance-weighted bound IWAE-k, for a pixelcnn or a pixelrnn the exact NLL (nats per "
                        "image and bits per dimension; binary test images are binarized once with a fixed seed), for "
                        "a ddpm the test loss and the variational bound on --bound-images images, for "
                        "an ae the reconstruction loss and PSNR, for a classifier the test accuracy. A 2-d vae also "
                        "gets figures/manifold.png and figures/latent_means.png. A model that can sample also has N "
                        "samples scored by a classifier run of the same dataset (classifier FID, KID, classifier "
                        "score, class entropy, memorization), each beside the same score of N real training images. "
                        "docs/evaluation.md defines them.", commands.evaluate)
    e.add_argument("--k", **_given_only(dict(type=count, default=commands.IWAE_SAMPLES,
                                             help="vae: importance samples per image for IWAE-k (0: skip)")))
    e.add_argument("--limit", type=positive_int, default=None, help="use only the first N test images")
    e.add_argument("--seed", type=count, default=0, help="seed of the random draws")
    e.add_argument("--n-samples", **_given_only(dict(
        type=count, default=DEFAULT_SAMPLES,
        help="models that sample: samples to score (0: no sample metrics); the real baseline uses as many images")))
    e.add_argument("--classifier", metavar="CLASSIFIER_RUN_DIR", default=None,
                   help="the classifier run that judges the samples (default runs/classifier-DATA)")
    e.add_argument("--parzen", action="store_true",
                   help="also the Parzen-window log-likelihood of the test set (Goodfellow et al. 2014) for the "
                        "samples and for real images: two kernel densities over all test images, about a minute "
                        "for 10000 samples on MNIST")
    e.add_argument("--conditional", action="store_true",
                   help="class-conditional ddpm and vae runs: draw --n-samples/10 samples of each digit at each "
                        "--guidance weight and score them per requested digit: the judging classifier's accuracy, "
                        "classifier FID and class entropy (docs/evaluation.md)")
    e.add_argument("--cas-images", **_given_only(dict(
        type=count, default=0,
        help="with --conditional: the classification accuracy score, a classifier trained on this many generated "
             "images (a multiple of 10) and tested on real ones, beside one trained on as many real images "
             "(0: skip)")))
    e.add_argument("--bound-images", **_given_only(dict(
        type=count, default=BOUND_IMAGES,
        help="ddpm runs: test images of the variational bound, nll_elbo (0: skip); T network calls per 250 "
             "images; --variance chooses the reverse variance (docs/ddpm.md)")))
    e.add_argument("--bound-binarize", **_given_only(dict(
        choices=list(BOUND_BINARIZATIONS), default="the run's own pixels: none for gray",
        help="ddpm runs: the bound on gray test images (none, 256 levels), or on test images binarized as "
             "pixelcnn's (bernoulli, fixed seed) or by threshold, with a 2-level decoder: the units of a "
             "likelihood of binary pixels")))
    # with one --seed, both samplers start from the same noises (up to 1000 samples)
    _add_sampler_options(e, several_weights=True)


def _check_parser(commands_):
    c = commands_.add_parser("check", formatter_class=FORMATTER, help="compare a run's log with the reference bands",
                             description="Compare the evaluation logged after every epoch of a run (log.jsonl) "
                                         "with the reference band of its model and dataset: the range measured over "
                                         "several seeds of a short reference configuration (docs/reference.md). "
                                         "Prints epoch, metric, value, band and verdict, then 'as expected' or where "
                                         "and by how much the run departs, and notes the options the run was trained "
                                         "with that differ from the reference. Exit status 0: as expected; 1: the run "
                                         "departs from a band; 2: nothing to compare (no run, no band for its model "
                                         "and data, no completed epoch).")
    c.add_argument("run_dir", metavar="RUN_DIR", help="a run directory written by `scratchgen train`")
    c.add_argument("--table", default=None, metavar="JSON",
                   help="a table of bands of your own, written by benchmarks/reference_bands.py "
                        "(default: the one installed with scratchgen)")
    c.set_defaults(run=commands.check)


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="scratchgen",
                                     description="The ``scratchgen`` command (also ``python -m scratchgen``).")
    commands_ = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in (_demo_parser, _train_parser, _sample_parser, _reconstruct_parser, _restore_parser, _evaluate_parser,
                _check_parser, _data_parser):
        add(commands_)
    return parser
