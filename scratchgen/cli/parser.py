"""The ``scratchgen`` command (also ``python -m scratchgen``)."""
from __future__ import annotations

import argparse
import sys


def demo(args: argparse.Namespace) -> int:
    """Train, evaluate and show every model family: ``scratchgen.demo``."""
    import os

    from .demo import DemoError, run_demo
    if os.path.exists(os.path.join(args.out, "index.html")) and not args.overwrite:
        return _fail(f"{args.out} already holds a demo: pass --overwrite to replace it, or choose another --out")
    try:
        run_demo(args.data, args.minutes, args.out, args.n_samples, args.seed, progress=not args.no_progress)
    except DemoError as e:
        return _fail(str(e))
    return 0


# ---- train / sample / reconstruct / restore / evaluate ---------------------------------------------
RUN_FILES = ("config.json", "log.jsonl", "checkpoint.npz", "loss_curve.png", "metrics.json",
             "samples.png", "reconstructions.png", "interpolation.png", "figures")
COMMON_DEFAULTS = dict(epochs=10, batch_size=128, lr=1e-3)


def _fail(message: str) -> int:
    print(f"scratchgen: error: {message}", file=sys.stderr)
    return 2


def start_run(args: argparse.Namespace, out: str) -> dict:
    """The config of a new run in ``out`` (existing run files removed only with --overwrite), or of the
    run to resume; raises RunError."""
    import os
    import shutil

    from .training import runs
    from .training.families import FAMILIES
    from .training.trainer import CHECKPOINT
    if args.resume:
        config = runs.read_config(out)
        if not os.path.exists(os.path.join(out, CHECKPOINT)):
            raise runs.RunError(f"cannot resume: no checkpoint in {out} (expected {os.path.join(out, CHECKPOINT)})")
        if config["model"] != args.model:
            raise runs.RunError(f"cannot resume: {out} holds a {config['model']} run, not {args.model}")
        config["epochs"], config["minutes"] = args.epochs, args.minutes
        return config
    existing = [f for f in RUN_FILES if os.path.exists(os.path.join(out, f))]
    if existing and not args.overwrite:
        raise runs.RunError(f"{out} already holds a run ({', '.join(existing)}): pass --overwrite to replace it, "
                            f"--resume to continue it, or choose another --out")
    config = dict(model=args.model, data=args.data, batch_size=args.batch_size, lr=args.lr, seed=args.seed,
                  limit=args.limit, epochs=args.epochs, minutes=args.minutes, eval_images=args.eval_images,
                  **FAMILIES[args.model].configure(args))
    for f in existing:
        path = os.path.join(out, f)
        shutil.rmtree(path) if os.path.isdir(path) else os.remove(path)
    os.makedirs(out, exist_ok=True)
    runs.write_config(out, config)
    return config


def train(args: argparse.Namespace) -> int:
    import contextlib
    import os

    from .autograd import manual_seed
    from .data import DataLoader
    from .training import runs
    from .training.families import FAMILIES
    from .training.trainer import Trainer, TrainingDiverged

    out = args.out or os.path.join("runs", args.model)
    family = FAMILIES[args.model]
    try:
        config = start_run(args, out)
        manual_seed(config["seed"])
        model = family.build(config)
        images, labels = runs.load_split(config, "train")
        x_eval, y_eval = runs.eval_images(config, config["eval_images"])
    except (ValueError, runs.RunError) as e:
        return _fail(str(e).splitlines()[0])
    if config["limit"]:
        images, labels = images[:config["limit"]], labels[:config["limit"]]
    loader = DataLoader((images, labels), config["batch_size"], seed=config["seed"], binarize=config.get("binarize"))
    optimizer = family.optimizer(model, config)
    ema = family.ema(model, config) if family.ema else None
    schedule = family.schedule(optimizer, config, len(loader)) if family.schedule else None
    step = family.step(model, optimizer, config, ema) if ema else family.step(model, optimizer, config)

    def evaluate(trainer):
        model.eval()
        metrics = family.evaluate(model, config, x_eval)
        model.train()
        return metrics

    def figures(trainer, tag):
        model.eval()
        with ema.average_parameters() if ema else contextlib.nullcontext():   # sample as a loaded run would
            family.figures(model, config, out, tag, x_eval, y_eval)
        model.train()

    trainer = Trainer(out, model=model, optimizer=optimizer, loader=loader, step=step, evaluate=evaluate,
                      figures=figures, ema=ema, schedule=schedule, generators=getattr(step, "generators", {}),
                      epochs=config["epochs"], minutes=config["minutes"], log_every=args.log_every,
                      progress=False if args.no_progress else None)
    if args.resume:
        trainer.resume()
        print(f"resuming {out} at epoch {trainer.epoch}, step {trainer.step}")
    print(f"training {family.name} on {config['data']} ({len(images)} images, {len(loader)} batches per epoch) "
          f"-> {out}")
    try:
        status = trainer.fit()
    except TrainingDiverged as e:
        return _fail(str(e))
    last = [r for r in runs.read_log(out) if r["event"] == "eval"]
    summary = ", ".join(f"{k} {v:.4g}" for k, v in last[-1].items()
                        if k not in ("event", "epoch", "step") and isinstance(v, float)) if last else ""
    print(f"{status}: epoch {trainer.epoch}, step {trainer.step}, {trainer.train_seconds / 60:.2f} min of training; "
          f"{summary}")
    print(f"checkpoint: {trainer.checkpoint_path}")
    return 130 if status == "interrupted" else 0


def _load_for(args, capability: str, *outputs: str):
    """(config, model, family) of RUN_DIR; a RunError when the family cannot do ``capability`` or an
    output file exists without --overwrite."""
    import os

    from .training import runs
    from .training.families import FAMILIES, load_run
    config, model = load_run(args.run_dir)
    family = FAMILIES[config["model"]]
    if capability and not getattr(family, capability):
        able = [name for name, f in FAMILIES.items() if getattr(f, capability)]
        raise runs.RunError(f"{args.run_dir} holds a {config['model']} run, which cannot {capability}: "
                            f"runs of {', '.join(able)} can")
    for name in outputs:
        runs.refuse_overwrite(os.path.join(args.run_dir, name) if not os.path.isabs(name) else name, args.overwrite)
    return config, model, family


def sample(args: argparse.Namespace) -> int:
    import os

    import numpy as np

    from .training import figures as fig
    from .training import runs
    path = args.output or os.path.join(args.run_dir, "samples.png")
    try:
        config, model, family = _load_for(args, "sample", path)
        images, what = family.sample(model, config, args.n, np.random.default_rng(args.seed), args)
    except (runs.RunError, ValueError) as e:
        return _fail(str(e).splitlines()[0])
    fig.image_grid(path, images, ncols=int(np.ceil(np.sqrt(args.n))), title=f"{what} (seed {args.seed})")
    print(f"wrote {path}")
    return 0


def reconstruct(args: argparse.Namespace) -> int:
    from .training import runs
    try:
        config, model, family = _load_for(args, "reconstruct")
        paths = family.reconstruct(model, config, args.run_dir, args)
    except (runs.RunError, ValueError) as e:
        return _fail(str(e).splitlines()[0])
    print("wrote " + ", ".join(paths))
    return 0


def restore(args: argparse.Namespace) -> int:
    import json
    import os

    import numpy as np

    from .training import figures as fig
    from .training import restoration, runs
    figure = args.output or os.path.join(args.run_dir, f"restore_{args.task}.png")
    try:
        config, model, family = _load_for(args, "restore", figure)
        if args.task not in family.restore:
            raise runs.RunError(f"a {config['model']} run cannot {args.task}: it can "
                                f"{', '.join(family.restore)}")
        diffusion_inpainting = args.resample != 1 or args.steps is not None or args.reconstruction_guidance
        if diffusion_inpainting and (config["model"], args.task) != ("ddpm", "inpaint"):
            raise runs.RunError(f"--resample, --steps and --reconstruction-guidance apply to ddpm runs with "
                                f"--task inpaint, not to {config['model']} runs with --task {args.task}")
        rng = np.random.default_rng(args.seed)
        clean, _ = runs.eval_images(config, args.n)
        damaged, known, shown = restoration.damage(args.task, clean, rng, mask=args.mask, fraction=args.fraction,
                                                   noise_std=args.noise_std)
        draws = restoration.draws_per_image(family.restore[args.task], args.samples, model, config, damaged, known,
                                            rng, args)
    except (runs.RunError, ValueError) as e:
        return _fail(str(e).splitlines()[0])
    mean_image = runs.load_split(config, "train").images.mean(axis=0) / 255 if known is not None else None
    # the mean of the draws estimates the posterior mean E[x | damaged], the fill with the lowest expected error
    restored = draws.mean(axis=0)
    scores = restoration.scores(restored, clean, shown, known, mean_image)
    rows, labels = [clean, shown, restored], ["clean", "damaged", "restored"]
    if args.samples > 1:
        scores.update({f"one_draw_{k}": v for k, v in restoration.scores(draws[0], clean, shown, known).items()
                       if not k.endswith("_damaged")})
        rows, labels = rows + [draws[0]], ["clean", "damaged", f"mean of {args.samples}", "one draw"]
    fig.image_grid(figure, np.concatenate(rows), ncols=len(clean), row_labels=labels,
                   title=f"{args.task}: PSNR {scores['psnr']:.2f} dB (damaged {scores['psnr_damaged']:.2f} dB)")
    metrics_path = os.path.splitext(figure)[0] + ".json"
    with open(metrics_path, "w") as f:
        json.dump({"task": args.task, "images": len(clean), "samples": args.samples, **scores}, f, indent=2)
    for k, v in scores.items():
        print(f"{k:>14}: {v:.4f}")
    print(f"wrote {figure}, {metrics_path}")
    return 0


def evaluate(args: argparse.Namespace) -> int:
    import json
    import os
    import time

    from .training import runs, scoring
    path = os.path.join(args.run_dir, "metrics.json")
    try:
        config, model, family = _load_for(args, "", path)
        started = time.perf_counter()
        metrics = scoring.evaluate_run(args, family, model, config)
    except (runs.RunError, ValueError) as e:
        return _fail(str(e).splitlines()[0])
    metrics["seconds"] = round(time.perf_counter() - started, 1)
    with open(path, "w") as f:
        json.dump(metrics, f, indent=2)
    print(scoring.table(metrics))
    print(f"wrote {path}")
    return 0


def _positive_int(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text}")
    return value


def _add_common_train_arguments(p, defaults):
    """The options every model has; ``defaults`` holds the model's epochs, batch_size and lr.

    Each model's parser gets its own copies: argparse parents share their actions, so one model's
    defaults would overwrite another's.
    """
    from .data import DATASETS, DEFAULT_DATASET, resolve_data_arg
    p.add_argument("--data", type=resolve_data_arg, default=DEFAULT_DATASET,
                   help=f"dataset: one of {', '.join(DATASETS)}, or a folder of MNIST-format IDX files")
    p.add_argument("--epochs", type=_positive_int, default=defaults["epochs"],
                   help="epochs to train (the total, when resuming)")
    p.add_argument("--minutes", type=float, default=None,
                   help="time budget: stop after this many minutes of training steps (evaluation not counted)")
    p.add_argument("--out", default=None, help="run directory (default runs/MODEL)")
    p.add_argument("--batch-size", type=_positive_int, default=defaults["batch_size"], help="images per step")
    p.add_argument("--lr", type=float, default=defaults["lr"], help="learning rate")
    p.add_argument("--seed", type=int, default=0, help="seed of every random choice (weights, order, noise)")
    p.add_argument("--limit", type=_positive_int, default=None, help="train on the first N training images only")
    p.add_argument("--eval-images", type=_positive_int, default=1000,
                   help="test images used for the evaluation after every epoch")
    p.add_argument("--log-every", type=_positive_int, default=50, help="write a training record every N steps")
    p.add_argument("--resume", action="store_true",
                   help="continue the run in --out from its checkpoint, exactly as if it had not stopped")
    p.add_argument("--overwrite", action="store_true", help="replace an existing run in --out")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def _train_parser(commands, formatter):
    from .training.families import FAMILIES
    t = commands.add_parser("train", help="train a model into a run directory",
                            description="Train a model. The run directory (--out) receives config.json, log.jsonl "
                                        "(one JSON record per line), checkpoint.npz (written atomically after every "
                                        "epoch, on Ctrl-C and at the end), loss_curve.png and figures/. "
                                        "`scratchgen train MODEL --help` lists the options of MODEL.")
    models = t.add_subparsers(dest="model", required=True, metavar="MODEL")
    for name, family in FAMILIES.items():
        article = "an" if family.name[0] in "aeiou" else "a"
        p = models.add_parser(name, formatter_class=formatter, help=family.name,
                              description=f"Train {article} {family.name}.")
        _add_common_train_arguments(p, {**COMMON_DEFAULTS, **family.defaults})
        family.add_arguments(p)
        p.set_defaults(run=train)


def add_sampler_options(p: argparse.ArgumentParser) -> None:
    """How a ddpm run draws its samples: options shared by `sample` and `evaluate`."""
    p.add_argument("--sampler", choices=["ddim", "ddpm"], default="ddim",
                   help="ddpm runs: DDIM with --steps steps, or ancestral sampling through all T steps")
    p.add_argument("--steps", type=_positive_int, default=50, help="ddpm runs, --sampler ddim: number of steps")
    p.add_argument("--eta", type=float, default=0.0,
                   help="ddpm runs, --sampler ddim: 0 is deterministic given x_T, 1 the ancestral variance "
                        "(docs/ddpm.md: the better samples from short training)")
    p.add_argument("--variance", choices=["beta", "beta_tilde"], default="beta",
                   help="ddpm runs, --sampler ddpm: reverse-step variance beta_t or the posterior's beta-tilde_t")
    p.add_argument("--guidance", type=float, default=0.0,
                   help="class-conditional ddpm runs: classifier-free guidance weight w, (1+w) eps(x,y) - w eps(x)")
    p.add_argument("--label", type=int, default=None,
                   help="class-conditional ddpm runs: draw only this digit (without it: the digits 0-9 in turn)")


def build_parser() -> argparse.ArgumentParser:
    from .training.restoration import MASK_PATTERNS, TASKS
    from .training.scoring import DEFAULT_SAMPLES
    parser = argparse.ArgumentParser(prog="scratchgen", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    from .data import DEFAULT_DATASET, resolve_data_arg
    d = commands.add_parser("demo", formatter_class=argparse.ArgumentDefaultsHelpFormatter,
                            help="train, evaluate and show every model family in one gallery",
                            description="Train the judging classifier, an autoencoder, a VAE, a GAN, a DDPM and a "
                                        "PixelCNN within a time budget, evaluate each, sample and restore, and write "
                                        "OUT/index.html (a self-contained page) and OUT/summary.md. Each model's run "
                                        "directory is OUT/MODEL.")
    d.add_argument("--data", type=resolve_data_arg, default=DEFAULT_DATASET,
                   help="dataset (the built-in glyph-digits needs no download)")
    d.add_argument("--minutes", type=float, default=10, help="the time budget of the whole demo")
    d.add_argument("--out", default="runs/demo", help="directory of the gallery and the runs")
    d.add_argument("--n-samples", type=_positive_int, default=500, help="samples scored per model")
    d.add_argument("--seed", type=int, default=0, help="seed of every run")
    d.add_argument("--overwrite", action="store_true", help="replace an earlier demo in --out")
    d.add_argument("--no-progress", action="store_true", help="no progress bars")
    d.set_defaults(run=demo)

    formatter = argparse.ArgumentDefaultsHelpFormatter
    _train_parser(commands, formatter)

    def run_dir_parser(name, help, description):
        p = commands.add_parser(name, formatter_class=formatter, help=help, description=description)
        p.add_argument("run_dir", metavar="RUN_DIR", help="a run directory written by `scratchgen train`")
        p.add_argument("--overwrite", action="store_true", help="replace output files that already exist")
        return p

    s = run_dir_parser("sample", "draw samples from a trained model",
                       "Draw samples from a trained model into a grid; writes RUN_DIR/samples.png. A ddpm run samples "
                       "with its EMA weights, by DDIM with 50 steps unless --sampler ddpm is given.")
    s.add_argument("--n", type=_positive_int, default=64, help="number of samples")
    s.add_argument("--seed", type=int, default=0, help="seed of the random draws")
    s.add_argument("--output", default=None, help="PNG to write instead of RUN_DIR/samples.png")
    add_sampler_options(s)
    s.set_defaults(run=sample)
    r = run_dir_parser("reconstruct", "reconstruct test images (and interpolate, for a vae)",
                       "Write RUN_DIR/reconstructions.png (test images, their corrupted version for a denoising ae, "
                       "and the reconstructions) and, for a vae, RUN_DIR/interpolation.png.")
    r.add_argument("--n", type=_positive_int, default=10, help="test images to reconstruct")
    r.set_defaults(run=reconstruct)
    rs = run_dir_parser("restore", "restore damaged test images with a trained model",
                        "Damage the first N test images, restore them with the model, and write "
                        "RUN_DIR/restore_TASK.png (clean, damaged, restored) and restore_TASK.json (PSNR and SSIM of "
                        "the restoration and of the damaged input). Tasks: "
                        + "; ".join(f"{k}: {v}" for k, v in TASKS.items()) + ".")
    rs.add_argument("--task", choices=list(TASKS), required=True, help="what to restore")
    rs.add_argument("--mask", default=None, help=f"inpaint: {', '.join(MASK_PATTERNS)}, or a 28x28 PNG "
                                                 f"(black = missing); default center. complete: bottom (the default) "
                                                 f"or a PNG whose known pixels come first in raster order")
    rs.add_argument("--fraction", type=float, default=0.5, help="--mask random: fraction of pixels missing")
    rs.add_argument("--noise-std", type=float, default=0.3, help="denoise: standard deviation of the noise")
    rs.add_argument("--resample", type=_positive_int, default=1,
                    help="ddpm inpaint: RePaint resampling, each reverse step repeated this many times")
    rs.add_argument("--steps", type=_positive_int, default=None,
                    help="ddpm inpaint: reverse steps, evenly spaced (default: all T)")
    rs.add_argument("--reconstruction-guidance", type=float, default=0.0, metavar="W",
                    help="ddpm inpaint: steer every step's predicted image towards the known pixels by W times the "
                         "gradient of their squared error (Ho et al. 2022); costs a backward pass per step")
    rs.add_argument("--samples", type=_positive_int, default=1,
                    help="restorations drawn per image; the figure and the scores are of their mean, which "
                         "estimates the posterior mean (the fill with the best expected PSNR), and of one draw")
    rs.add_argument("--n", type=_positive_int, default=10, help="test images to restore")
    rs.add_argument("--seed", type=int, default=0, help="seed of the damage and of the restoration")
    rs.add_argument("--output", default=None, help="PNG to write instead of RUN_DIR/restore_TASK.png")
    rs.set_defaults(run=restore)
    e = run_dir_parser("evaluate", "test-set metrics of a trained model, and of its samples",
                       "Evaluate on the test set and write RUN_DIR/metrics.json: for a vae the ELBO and the "
                       "importance-weighted bound IWAE-k and for a pixelcnn the exact NLL (nats per image and bits "
                       "per dimension; binary test images are binarized once with a fixed seed), for an ae the "
                       "reconstruction loss and PSNR, for a classifier the test accuracy. A 2-d vae also gets "
                       "figures/manifold.png and figures/latent_means.png. A model that can sample also has N samples "
                       "scored by a classifier run of the same dataset (classifier FID, KID, classifier score, class "
                       "entropy, memorization), each beside the same score of N real training images. "
                       "docs/evaluation.md defines them.")
    e.add_argument("--k", type=int, default=1000, help="vae: importance samples per image for IWAE-k (0: skip)")
    e.add_argument("--limit", type=_positive_int, default=None, help="use only the first N test images")
    e.add_argument("--seed", type=int, default=0, help="seed of the random draws")
    e.add_argument("--n-samples", type=int, default=DEFAULT_SAMPLES,
                   help="samples to score (0: no sample metrics); the real baseline uses as many images")
    e.add_argument("--classifier", metavar="CLASSIFIER_RUN_DIR", default=None,
                   help="the classifier run that judges the samples (default runs/classifier-DATA)")
    e.add_argument("--parzen", action="store_true",
                   help="also the Parzen-window log-likelihood of the test set (Goodfellow et al. 2014) for the "
                        "samples and for real images: two kernel densities over all test images, about a minute "
                        "for 10000 samples on MNIST")
    add_sampler_options(e)   # with one --seed, both samplers start from the same noises (up to 1000 samples)
    e.set_defaults(run=evaluate)
    return parser


def main(argv: list[str] | None = None) -> int:
    from .allocator import keep_freed_memory
    args = build_parser().parse_args(argv)
    keep_freed_memory()
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
