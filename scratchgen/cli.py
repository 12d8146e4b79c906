"""The ``scratchgen`` command (also ``python -m scratchgen``)."""
from __future__ import annotations

import argparse
import sys

import numpy as np
from tqdm import tqdm

from . import autograd as ag
from .autograd import losses, ops
from .gradcheck import gradcheck_projection


def demo(args: argparse.Namespace) -> int:
    """Fit a two-layer network to two interleaved spirals with nothing but scratchgen's autograd.

    The models (autoencoder, VAE, GAN, diffusion, PixelCNN) replace this demo as they land.
    """
    rng = np.random.default_rng(args.seed)
    n = 200
    angle = rng.uniform(0.25, 3 * np.pi, size=n)
    label = rng.integers(0, 2, size=n)
    radius = angle / (3 * np.pi)
    sign = np.where(label == 1, 1.0, -1.0)
    points = np.stack([sign * radius * np.cos(angle), sign * radius * np.sin(angle)], axis=1)
    points += rng.normal(scale=0.02, size=points.shape)

    hidden = 32
    params = [
        ag.tensor(rng.normal(scale=1.0, size=(2, hidden)), requires_grad=True),
        ag.tensor(np.zeros(hidden), requires_grad=True),
        ag.tensor(rng.normal(scale=hidden**-0.5, size=(hidden, 1)), requires_grad=True),
        ag.tensor(np.zeros(1), requires_grad=True),
    ]

    def loss_fn(w1, b1, w2, b2, x=points, y=label[:, None]):
        logits = ops.tanh(ag.as_tensor(x, dtype=w1.dtype) @ w1 + b1) @ w2 + b2
        return losses.binary_cross_entropy_with_logits(logits, y), logits

    print("Checking the demo network's gradient against finite differences (float64)...")
    gradcheck_projection(lambda *p: loss_fn(*p)[0], [p.data for p in params], directions=3)
    print("  gradient check passed")

    progress = tqdm(range(args.steps), desc="training", unit="step", disable=None)
    for step in progress:
        loss, logits = loss_fn(*params)
        for p in params:
            p.zero_grad()
        loss.backward()
        with ag.no_grad():
            for p in params:
                p.data -= args.lr * p.grad
        if step % 50 == 0 or step == args.steps - 1:
            accuracy = float(np.mean((logits.data[:, 0] > 0) == label))
            progress.set_postfix(loss=f"{loss.item():.4f}", accuracy=f"{accuracy:.1%}")
    print(f"final loss {loss.item():.4f}, training accuracy {accuracy:.1%} on {n} spiral points")
    return 0



# ---- train / sample / reconstruct / evaluate ----------------------------------------------------
RUN_FILES = ("config.json", "log.jsonl", "checkpoint.npz", "loss_curve.png", "evaluation.json",
             "samples.png", "reconstructions.png", "interpolation.png", "figures")


def _fail(message: str) -> int:
    print(f"scratchgen: error: {message}", file=sys.stderr)
    return 2


def train(args: argparse.Namespace) -> int:
    import os
    import shutil

    from .autograd import manual_seed
    from .data import DataLoader
    from .optim import Adam
    from .training import runs
    from .training.trainer import CHECKPOINT, Trainer, TrainingDiverged

    out = args.out or os.path.join("runs", args.model)
    if args.resume:
        try:
            config = runs.read_config(out)
        except runs.RunError as e:
            return _fail(str(e))
        if not os.path.exists(os.path.join(out, CHECKPOINT)):
            return _fail(f"cannot resume: no checkpoint in {out} (expected {os.path.join(out, CHECKPOINT)})")
        if config["model"] != args.model:
            return _fail(f"cannot resume: {out} holds a {config['model']} run, not {args.model}")
        config["epochs"], config["minutes"] = args.epochs, args.minutes
    else:
        existing = [f for f in RUN_FILES if os.path.exists(os.path.join(out, f))]
        if existing and not args.overwrite:
            return _fail(f"{out} already holds a run ({', '.join(existing)}): pass --overwrite to replace it, "
                         f"--resume to continue it, or choose another --out")
        for f in existing:
            path = os.path.join(out, f)
            shutil.rmtree(path) if os.path.isdir(path) else os.remove(path)
        vae = args.model == "vae"
        likelihood = args.likelihood or "bernoulli"
        binarize = args.binarize if args.binarize != "auto" else ("bernoulli" if vae and likelihood == "bernoulli" else None)
        if binarize == "none":
            binarize = None
        config = dict(model=args.model, data=args.data, arch=args.arch,
                      latent=args.latent or (20 if vae else 32), hidden=args.hidden,
                      likelihood=likelihood if vae else None, loss=args.loss if not vae else None,
                      beta=args.beta, kl_warmup=args.kl_warmup, binarize=binarize,
                      corrupt=args.corrupt, noise_level=args.noise_level, classes=args.classes,
                      batch_size=args.batch_size, lr=args.lr, seed=args.seed, limit=args.limit,
                      epochs=args.epochs, minutes=args.minutes, eval_images=args.eval_images)
        os.makedirs(out, exist_ok=True)
        runs.write_config(out, config)

    family = runs.FAMILIES[config["model"]]
    manual_seed(config["seed"])
    try:
        model = family.build(config)
        train_data = runs.load_split(config, "train")
        x_eval, y_eval = runs.eval_images(config, config["eval_images"])
    except (ValueError, runs.RunError) as e:
        return _fail(str(e).splitlines()[0])
    images, labels = train_data
    if config["limit"]:
        images, labels = images[:config["limit"]], labels[:config["limit"]]
    loader = DataLoader((images, labels), config["batch_size"], seed=config["seed"], binarize=config["binarize"])
    optimizer = Adam(model.parameters(), lr=config["lr"])
    step = family.step(model, optimizer, config)

    def evaluate(trainer):
        model.eval()
        metrics = family.evaluate(model, config, x_eval)
        model.train()
        return metrics

    def figures(trainer, tag):
        model.eval()
        family.figures(model, config, out, tag, x_eval, y_eval)
        model.train()

    trainer = Trainer(out, model=model, optimizer=optimizer, loader=loader, step=step, evaluate=evaluate,
                      figures=figures, generators=getattr(step, "generators", {}), epochs=config["epochs"],
                      minutes=config["minutes"], log_every=args.log_every,
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
    summary = ", ".join(f"{k} {v:.4g}" for k, v in last[-1].items() if k not in ("event", "epoch", "step")) if last else ""
    print(f"{status}: epoch {trainer.epoch}, step {trainer.step}, {trainer.train_seconds / 60:.2f} min of training; "
          f"{summary}")
    print(f"checkpoint: {trainer.checkpoint_path}")
    return 130 if status == "interrupted" else 0


def _load(args):
    from .training import runs
    return runs.load_run(args.run_dir)


def sample(args: argparse.Namespace) -> int:
    import os

    import numpy as np

    from .training import figures as fig
    from .training import runs
    try:
        config, model = _load(args)
        path = args.output or os.path.join(args.run_dir, "samples.png")
        runs.refuse_overwrite(path, args.overwrite)
    except runs.RunError as e:
        return _fail(str(e))
    images = model.sample(args.n, np.random.default_rng(args.seed))
    what = "VAE samples from the prior" if config["model"] == "vae" else "Autoencoder decodings of codes drawn from N(0, I)"
    fig.image_grid(path, images, ncols=int(np.ceil(np.sqrt(args.n))), title=f"{what} (seed {args.seed})")
    print(f"wrote {path}")
    return 0


def reconstruct(args: argparse.Namespace) -> int:
    import os

    import numpy as np

    from .training import figures as fig
    from .training import runs
    try:
        config, model = _load(args)
        path = os.path.join(args.run_dir, "reconstructions.png")
        runs.refuse_overwrite(path, args.overwrite)
        x, labels = runs.eval_images(config, max(args.n, 200))
        outputs = [path]
        if config["model"] == "vae":
            runs.refuse_overwrite(os.path.join(args.run_dir, "interpolation.png"), args.overwrite)
    except (runs.RunError, ValueError) as e:
        return _fail(str(e).splitlines()[0])
    images, row_labels, n = runs._reconstruction_rows(model, config, x, args.n)
    fig.image_grid(path, images, ncols=n, row_labels=row_labels, title="Test images and their reconstructions")
    if config["model"] == "vae":
        # interpolate between pairs of test images of different digits
        rows = []
        for a, b in runs.interpolation_pairs(labels):
            rows.append(np.concatenate([x[a][None], model.interpolate(x[a], x[b], 10), x[b][None]]))
        p = os.path.join(args.run_dir, "interpolation.png")
        fig.image_grid(p, np.concatenate(rows), ncols=12,
                       title="Latent interpolation: image, decoded (1-t) mu(a) + t mu(b) for t = 0..1, image")
        outputs.append(p)
    print("wrote " + ", ".join(outputs))
    return 0


def evaluate(args: argparse.Namespace) -> int:
    import json
    import os
    import time

    from .training import runs
    try:
        config, model = _load(args)
        path = os.path.join(args.run_dir, "evaluation.json")
        runs.refuse_overwrite(path, args.overwrite)
    except runs.RunError as e:
        return _fail(str(e))
    started = time.perf_counter()
    metrics = runs.FAMILIES[config["model"]].final(model, config, args)
    x, labels = runs.eval_images(config, args.limit)
    if config["model"] == "vae" and config["latent"] == 2:
        runs.vae_latent_figures(model, config, args.run_dir, x, labels)
    metrics = {"test_images": len(x), **metrics, "seconds": round(time.perf_counter() - started, 1)}
    with open(path, "w") as f:
        json.dump(metrics, f, indent=2)
    for k, v in metrics.items():
        print(f"{k:>16}: {v:.4f}" if isinstance(v, float) else f"{k:>16}: {v}")
    print(f"wrote {path}")
    return 0


def _positive_int(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text}")
    return value


def _classes(text):
    try:
        return [int(c) for c in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected digits separated by commas, e.g. 3 or 1,7, got {text!r}") from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="scratchgen", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    demo_parser = commands.add_parser("demo", help="a short demo of the autograd: fit a network to two spirals")
    demo_parser.add_argument("--steps", type=int, default=3000, help="gradient descent steps (default 3000)")
    demo_parser.add_argument("--lr", type=float, default=1.0, help="learning rate (default 1.0)")
    demo_parser.add_argument("--seed", type=int, default=0, help="seed for the data and the weights (default 0)")
    demo_parser.set_defaults(run=demo)

    from .data import DATASETS, DEFAULT_DATASET, resolve_data_arg
    formatter = argparse.ArgumentDefaultsHelpFormatter
    t = commands.add_parser("train", formatter_class=formatter, help="train a model into a run directory",
                            description="Train a model. The run directory (--out) receives config.json, log.jsonl "
                                        "(one JSON record per line), checkpoint.npz (written atomically after every "
                                        "epoch, on Ctrl-C and at the end), loss_curve.png and figures/ (sample and "
                                        "reconstruction grids after every epoch).")
    t.add_argument("model", choices=["ae", "vae"], help="ae: autoencoder; vae: variational autoencoder")
    t.add_argument("--data", type=resolve_data_arg, default=DEFAULT_DATASET,
                   help=f"dataset: one of {', '.join(DATASETS)}, or a folder of MNIST-format IDX files")
    t.add_argument("--epochs", type=_positive_int, default=10, help="epochs to train (the total, when resuming)")
    t.add_argument("--minutes", type=float, default=None,
                   help="time budget: stop after this many minutes of training steps (evaluation not counted)")
    t.add_argument("--out", default=None, help="run directory (default runs/MODEL)")
    t.add_argument("--arch", choices=["mlp", "conv"], default="mlp",
                   help="mlp: dense 784-HIDDEN-LATENT; conv: two stride-2 convolutions each way (BENCHMARKS.md vae_conv)")
    t.add_argument("--latent", type=_positive_int, default=None,
                   help="code size (ae, default 32) or latent dimension (vae, default 20)")
    t.add_argument("--hidden", type=_positive_int, default=400, help="hidden width of the mlp encoder and decoder")
    t.add_argument("--likelihood", choices=["bernoulli", "gaussian"], default=None,
                   help="vae decoder: bernoulli for binarized pixels (default), gaussian for gray values")
    t.add_argument("--loss", choices=["bce", "mse"], default="bce",
                   help="ae reconstruction loss: Bernoulli cross-entropy or squared error, summed over pixels")
    t.add_argument("--beta", type=float, default=1.0, help="vae: weight of the KL term (1 = the true ELBO)")
    t.add_argument("--kl-warmup", type=int, default=0,
                   help="vae: raise the KL weight linearly from 0 to --beta over this many steps (0: off)")
    t.add_argument("--binarize", choices=["auto", "bernoulli", "threshold", "none"], default="auto",
                   help="training pixels: auto = bernoulli (fresh samples every epoch) for a Bernoulli vae, gray otherwise")
    t.add_argument("--corrupt", choices=["gaussian", "salt-pepper", "mask"], default=None,
                   help="ae: train a denoising autoencoder on corrupted inputs with clean targets")
    t.add_argument("--noise-level", type=float, default=0.5,
                   help="with --corrupt: the Gaussian sigma, or the fraction of pixels hit")
    t.add_argument("--classes", type=_classes, default=None,
                   help="train only on these digits, e.g. 3 or 1,7 (one-class anomaly detection)")
    t.add_argument("--batch-size", type=_positive_int, default=128, help="images per step")
    t.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate")
    t.add_argument("--seed", type=int, default=0, help="seed of every random choice (weights, order, binarization, noise)")
    t.add_argument("--limit", type=_positive_int, default=None, help="train on the first N training images only")
    t.add_argument("--eval-images", type=_positive_int, default=1000,
                   help="test images used for the evaluation after every epoch")
    t.add_argument("--log-every", type=_positive_int, default=50, help="write a training record every N steps")
    t.add_argument("--resume", action="store_true",
                   help="continue the run in --out from its checkpoint, exactly as if it had not stopped")
    t.add_argument("--overwrite", action="store_true", help="replace an existing run in --out")
    t.add_argument("--no-progress", action="store_true", help="no progress bar")
    t.set_defaults(run=train)

    def run_dir_parser(name, help, description):
        p = commands.add_parser(name, formatter_class=formatter, help=help, description=description)
        p.add_argument("run_dir", metavar="RUN_DIR", help="a run directory written by `scratchgen train`")
        p.add_argument("--overwrite", action="store_true", help="replace output files that already exist")
        return p

    s = run_dir_parser("sample", "draw samples from a trained model",
                       "Decode codes drawn from N(0, I) (the VAE's prior) into a grid; writes RUN_DIR/samples.png.")
    s.add_argument("--n", type=_positive_int, default=64, help="number of samples")
    s.add_argument("--seed", type=int, default=0, help="seed of the latent draws")
    s.add_argument("--output", default=None, help="PNG to write instead of RUN_DIR/samples.png")
    s.set_defaults(run=sample)
    r = run_dir_parser("reconstruct", "reconstruct test images (and interpolate, for a vae)",
                       "Write RUN_DIR/reconstructions.png (test images, their corrupted version for a denoising ae, "
                       "and the reconstructions) and, for a vae, RUN_DIR/interpolation.png.")
    r.add_argument("--n", type=_positive_int, default=10, help="test images to reconstruct")
    r.set_defaults(run=reconstruct)
    e = run_dir_parser("evaluate", "test-set metrics of a trained model",
                       "Evaluate on the test set: for a vae the ELBO and the importance-weighted bound IWAE-k "
                       "(nats per image; binary test images are binarized once with a fixed seed), for an ae the "
                       "reconstruction loss and PSNR. A 2-d vae also gets figures/manifold.png and "
                       "figures/latent_means.png. Writes RUN_DIR/evaluation.json.")
    e.add_argument("--k", type=int, default=1000, help="vae: importance samples per image for IWAE-k (0: skip)")
    e.add_argument("--limit", type=_positive_int, default=None, help="use only the first N test images")
    e.add_argument("--seed", type=int, default=0, help="seed of the importance samples")
    e.set_defaults(run=evaluate)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
