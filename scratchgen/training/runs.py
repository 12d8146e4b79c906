"""Run directories and the model families' training recipes, used by the ``scratchgen`` command.

A run directory holds ``config.json`` (everything needed to rebuild the model and the data),
``log.jsonl``, ``checkpoint.npz`` and ``figures/``. Each family registers a ``Family`` with
how to build its model, its training step, its periodic evaluation, its figures, and what
``sample``/``reconstruct``/``evaluate`` do. Later families (GAN, DDPM, PixelCNN) add entries.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Callable

import numpy as np

from .. import autograd as ag
from ..data import DataLoader, load
from ..evaluation.metrics import psnr
from ..models import VAE, Autoencoder, corrupt
from ..nn import load_checkpoint
from . import figures as fig
from .trainer import CHECKPOINT, read_log

CONFIG = "config.json"
TEST_BINARIZATION_SEED = 20240603   # the test set is binarized once, always with this seed


class RunError(Exception):
    """A problem with a run directory or its inputs, reported as one line."""


# ---- data ----------------------------------------------------------------------------------------
def load_split(config: dict, split: str):
    data = load(config["data"], split)
    if config.get("classes") and split == "train":
        data = data.restrict(config["classes"])
    return data


def eval_images(config: dict, n: int | None = None):
    """The first n test images as float32 in [0, 1], binarized once with a fixed seed when the
    model is trained on binary pixels; and their labels."""
    images, labels = load(config["data"], "test")
    if n is not None:
        images, labels = images[:n], labels[:n]
    x = images.astype(np.float32) / 255
    if config.get("binarize") == "bernoulli":
        x = (np.random.default_rng(TEST_BINARIZATION_SEED).random(x.shape, np.float32) < x).astype(np.float32)
    elif config.get("binarize") == "threshold":
        x = (x > 0.5).astype(np.float32)
    return x, labels.astype(np.int64)


# ---- run directories -------------------------------------------------------------------------------
def write_config(run_dir: str, config: dict) -> None:
    with open(os.path.join(run_dir, CONFIG), "w") as f:
        json.dump(config, f, indent=2)


def read_config(run_dir: str) -> dict:
    path = os.path.join(run_dir, CONFIG)
    if not os.path.isdir(run_dir):
        raise RunError(f"{run_dir} is not a directory: expected a run directory made by `scratchgen train`")
    if not os.path.exists(path):
        raise RunError(f"{run_dir} has no {CONFIG}: expected a run directory made by `scratchgen train`")
    with open(path) as f:
        return json.load(f)


def build_model(config: dict):
    kind = config["model"]
    if kind not in FAMILIES:
        raise RunError(f"unknown model {kind!r}: expected one of {', '.join(FAMILIES)}")
    return FAMILIES[kind].build(config)


def load_run(run_dir: str):
    """(config, model with the checkpoint's weights): one-line errors for every way it can fail."""
    config = read_config(run_dir)
    path = os.path.join(run_dir, CHECKPOINT)
    if not os.path.exists(path):
        raise RunError(f"no checkpoint in {run_dir}: expected {path} (train with `scratchgen train ... --out {run_dir}`)")
    model = build_model(config)
    state = load_checkpoint(path)["model"]
    try:
        model.load_state_dict(state)
    except ValueError as e:
        first = str(e).splitlines()[1].strip() if len(str(e).splitlines()) > 1 else str(e)
        items = first.split("; ")
        first = "; ".join(items[:2]) + (f"; and {len(items) - 2} more" if len(items) > 2 else "")
        raise RunError(f"{path} does not match the architecture in {CONFIG} "
                       f"({', '.join(f'{k}={v}' for k, v in model.config().items())}): {first}") from None
    model.eval()
    return config, model


def refuse_overwrite(path: str, overwrite: bool) -> None:
    if os.path.exists(path) and not overwrite:
        raise RunError(f"{path} already exists: pass --overwrite to replace it")


def figures_dir(run_dir: str) -> str:
    d = os.path.join(run_dir, "figures")
    os.makedirs(d, exist_ok=True)
    return d


# ---- families ------------------------------------------------------------------------------------
@dataclass
class Family:
    build: Callable            # config -> model
    step: Callable             # (model, optimizer, config) -> step(x, y, trainer)
    evaluate: Callable         # (model, config, x_eval) -> metrics dict ("loss" comparable to training)
    figures: Callable          # (model, config, run_dir, tag, x_eval, labels)
    final: Callable            # `scratchgen evaluate`: (model, config, args) -> metrics dict
    name: str = ""


# -- autoencoder --
def _ae_build(c):
    return Autoencoder(c["arch"], code=c["latent"], hidden=c["hidden"], loss=c["loss"])


def _ae_step(model, optimizer, c):
    rng = np.random.default_rng(c["seed"] + 1)   # corruption noise (saved by the trainer)

    def step(x, y, trainer):
        x_in = corrupt(x, c["corrupt"], c["noise_level"], rng) if c.get("corrupt") else x
        optimizer.zero_grad()
        loss = model.reconstruction_loss(x_in, x)
        loss.backward()
        optimizer.step()
        return {"loss": loss.item()}
    step.generators = {"corruption": rng}
    return step


def _ae_evaluate(model, c, x):
    rng = np.random.default_rng(0)
    x_in = corrupt(x, c["corrupt"], c["noise_level"], rng) if c.get("corrupt") else x
    with ag.no_grad():
        loss = float(np.mean([model.reconstruction_loss(x_in[s:s + 500], x[s:s + 500]).item()
                              for s in range(0, len(x), 500)]))
    rec = model.reconstruct(x_in)
    out = {"loss": loss, "psnr": psnr(rec, x)}
    if c.get("corrupt"):
        out["psnr_input"] = psnr(x_in, x)
    return out


def _reconstruction_rows(model, c, x, n=10):
    rng = np.random.default_rng(0)
    rows = [x[:n]]
    labels = ["test image"]
    x_in = x[:n]
    if c.get("corrupt"):
        x_in = corrupt(x[:n], c["corrupt"], c["noise_level"], rng)
        rows.append(x_in)
        labels.append(f"{c['corrupt']} {c['noise_level']}")
    rows.append(model.reconstruct(x_in))
    labels.append("reconstruction")
    return np.concatenate(rows), labels, n


def _ae_figures(model, c, run_dir, tag, x, labels):
    d = figures_dir(run_dir)
    images, row_labels, n = _reconstruction_rows(model, c, x)
    fig.image_grid(os.path.join(d, f"reconstructions_{tag}.png"), images, ncols=n, row_labels=row_labels,
                   title=f"Autoencoder reconstructions ({tag})")
    _loss_figure(run_dir)


def _ae_final(model, c, args):
    x, _ = eval_images(c, args.limit)
    return _ae_evaluate(model, c, x)


# -- VAE --
def _vae_build(c):
    return VAE(c["arch"], latent=c["latent"], hidden=c["hidden"], likelihood=c["likelihood"], seed=c["seed"] + 2)


def _vae_step(model, optimizer, c):
    warmup = c.get("kl_warmup", 0)

    def step(x, y, trainer):
        beta = c["beta"] * (min(1.0, (trainer.step + 1) / warmup) if warmup else 1.0)
        optimizer.zero_grad()
        loss, rec, kl = model.loss(x, beta=beta)
        loss.backward()
        optimizer.step()
        return {"loss": loss.item(), "recon": -float(np.mean(rec.data)), "kl": float(np.mean(kl.data)), "beta": beta}
    step.generators = {"vae_noise": model.generator}
    return step


def _vae_evaluate(model, c, x):
    m = model.evaluate(x)
    return {"loss": -m["elbo"], "elbo": m["elbo"], "recon": -m["recon"], "kl": m["kl"]}


def _vae_figures(model, c, run_dir, tag, x, labels):
    d = figures_dir(run_dir)
    z_rng = np.random.default_rng(1)     # the same z every epoch: the grids show the model changing
    fig.image_grid(os.path.join(d, f"samples_{tag}.png"), model.sample(64, z_rng), ncols=8,
                   title=f"VAE samples from the prior ({tag})")
    images = np.concatenate([x[:10], model.reconstruct(x[:10])])
    fig.image_grid(os.path.join(d, f"reconstructions_{tag}.png"), images, ncols=10,
                   row_labels=["test image", "reconstruction"], title=f"VAE reconstructions ({tag})")
    _loss_figure(run_dir)


def vae_latent_figures(model, c, run_dir, x, labels, overwrite=True) -> list[str]:
    """For a 2-d latent: the decoded manifold grid and the test latent means coloured by label."""
    d = figures_dir(run_dir)
    paths = [os.path.join(d, "manifold.png"), os.path.join(d, "latent_means.png")]
    for p in paths:
        refuse_overwrite(p, overwrite)
    grid = model.manifold(20)
    fig.image_grid(paths[0], grid.reshape(-1, *grid.shape[2:]), ncols=20,
                   title="Decoded manifold: z on a 20x20 grid over [-3, 3]^2")
    fig.latent_scatter(paths[1], model.latent_means(x), labels,
                       title=f"Latent means of {len(x)} test images")
    return paths


def _vae_final(model, c, args):
    x, _ = eval_images(c, args.limit)
    metrics = _vae_evaluate(model, c, x)
    if args.k:
        bound = model.iwae_bound(x, k=args.k, generator=np.random.default_rng(args.seed))
        metrics[f"iwae_{args.k}"] = float(np.mean(bound))
        metrics[f"nll_iwae_{args.k}"] = -float(np.mean(bound))
    return metrics


FAMILIES = {
    "ae": Family(_ae_build, _ae_step, _ae_evaluate, _ae_figures, _ae_final, "autoencoder"),
    "vae": Family(_vae_build, _vae_step, _vae_evaluate, _vae_figures, _vae_final, "variational autoencoder"),
}


def _loss_figure(run_dir):
    records = read_log(run_dir)
    if any(r.get("event") in ("train", "eval") for r in records):
        fig.loss_curve(os.path.join(run_dir, "loss_curve.png"), records,
                       title=f"Loss of {os.path.basename(os.path.abspath(run_dir))}")


def fit_autoencoder(model, images: np.ndarray, *, epochs: int = 5, batch_size: int = 128, lr: float = 1e-3,
                    seed: int = 0, corruption=None, desc: str = "training", progress=None) -> list[float]:
    """Train an Autoencoder on uint8 images with Adam; returns the mean loss of each epoch.

    ``corruption = (kind, level)`` trains a denoising autoencoder: corrupted inputs, clean targets.
    The examples use this short loop; ``scratchgen train ae`` uses the full Trainer.
    """
    from tqdm import tqdm

    from ..optim import Adam
    optimizer = Adam(model.parameters(), lr=lr)
    loader = DataLoader((images, np.zeros(len(images), np.int64)), batch_size, seed=seed)
    rng = np.random.default_rng(seed + 1)
    history = []
    bar = tqdm(total=epochs * len(loader), desc=desc, unit="step", leave=False,
               disable=(not progress) if progress is not None else None)
    for _ in range(epochs):
        total = 0.0
        for x, _ in loader:
            x_in = corrupt(x, *corruption, rng) if corruption else x
            optimizer.zero_grad()
            loss = model.reconstruction_loss(x_in, x)
            loss.backward()
            optimizer.step()
            total += loss.item() * len(x)
            bar.update(1)
            bar.set_postfix(loss=f"{loss.item():.3g}")
        history.append(total / len(images))
    bar.close()
    return history


def interpolation_pairs(labels: np.ndarray, rows: int = 5) -> list[tuple[int, int]]:
    """Pairs of test indices with different digits: the first d and the first (d + 3) mod 10."""
    present = sorted(set(int(v) for v in labels))
    first = {d: int(np.flatnonzero(labels == d)[0]) for d in present}
    pairs = [(first[d], first[present[(i + 3) % len(present)]]) for i, d in enumerate(present)]
    return pairs[:rows]
