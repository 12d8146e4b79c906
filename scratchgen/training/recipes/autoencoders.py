"""Training recipes of the autoencoder (``scratchgen train ae``) and the VAE (``train vae``)."""
from __future__ import annotations

import math
import os

import numpy as np

from ... import autograd as ag, figures as fig
from ...evaluation.metrics import psnr
from ...models import VAE, Autoencoder, corrupt
from ...models.autoencoder import CORRUPTIONS
from ..runs import (
    INTERPOLATION,
    RECONSTRUCTIONS,
    RunError,
    eval_images,
    figures_dir,
    interpolation_pairs,
    loss_figure,
    refuse_overwrite,
)
from .recipe import Recipe, Step

SHARED_OPTIONS = dict(arch="mlp", hidden=400, binarize="auto", classes=None)
AE_OPTIONS = dict(SHARED_OPTIONS, latent=32, loss="bce", corrupt=None, noise_level=0.5)
VAE_OPTIONS = dict(SHARED_OPTIONS, latent=20, likelihood="bernoulli", beta=1.0, kl_warmup=0)


def _binarize(o, default):
    """The training pixels' binarization: ``"auto"`` is the family's own choice."""
    choice = default if o["binarize"] == "auto" else o["binarize"]
    return None if choice in (None, "none") else choice


def _check_classes(classes) -> None:
    if classes is not None and not (isinstance(classes, (list, tuple)) and classes and all(
            isinstance(d, int) and not isinstance(d, bool) and 0 <= d <= 9 for d in classes)):
        raise ValueError(f"classes: expected None or a list of digits 0-9, e.g. [3] or [1, 7], got {classes!r}")


def _ae_configure(o):
    _check_classes(o["classes"])
    if o["corrupt"] is not None and o["corrupt"] not in CORRUPTIONS:
        raise ValueError(f"corrupt: expected None or one of {', '.join(CORRUPTIONS)}, got {o['corrupt']!r}")
    if not 0 <= o["noise_level"] < math.inf:
        raise ValueError(f"noise_level: expected a finite number >= 0, got {o['noise_level']}")
    return dict(arch=o["arch"], latent=o["latent"], hidden=o["hidden"], loss=o["loss"], classes=o["classes"],
                binarize=_binarize(o, None), corrupt=o["corrupt"], noise_level=o["noise_level"])


def _vae_configure(o):
    _check_classes(o["classes"])
    if not 0 <= o["beta"] < math.inf:
        raise ValueError(f"beta: expected a finite number >= 0 (1 = the true ELBO), got {o['beta']}")
    if o["kl_warmup"] < 0:
        raise ValueError(f"kl_warmup: expected 0 (off) or a number of steps, got {o['kl_warmup']}")
    default = "bernoulli" if o["likelihood"] == "bernoulli" else None
    return dict(arch=o["arch"], latent=o["latent"], hidden=o["hidden"], likelihood=o["likelihood"],
                beta=o["beta"], kl_warmup=o["kl_warmup"], classes=o["classes"], binarize=_binarize(o, default))


# ---- autoencoder ---------------------------------------------------------------------------------
def _ae_build(c):
    return Autoencoder(c["arch"], latent_dim=c["latent"], hidden=c["hidden"], loss=c["loss"])


def _ae_step(model, optimizer, c):
    rng = np.random.default_rng(c["seed"] + 1)   # corruption noise (saved by the trainer)

    def step(x, y, trainer):
        x_in = corrupt(x, c["corrupt"], c["noise_level"], rng) if c.get("corrupt") else x
        optimizer.zero_grad()
        loss = model.reconstruction_loss(x_in, x)
        loss.backward()
        optimizer.step()
        return {"loss": loss.item()}
    return Step(step, streams={"corruption": rng})


def _ae_evaluate(model, c, x):
    rng = np.random.default_rng(0)
    x_in = corrupt(x, c["corrupt"], c["noise_level"], rng) if c.get("corrupt") else x
    with ag.no_grad():
        loss = float(np.mean([model.reconstruction_loss(x_in[s:s + 500], x[s:s + 500]).item()
                              for s in range(0, len(x), 500)]))
    out = {"loss": loss, "psnr": psnr(model.reconstruct(x_in), x)}
    if c.get("corrupt"):
        out["psnr_input"] = psnr(x_in, x)
    return out


def reconstruction_rows(model, c, x, n=10):
    """Test images, their corrupted version (denoising autoencoder) and the reconstructions, row by row."""
    rows, labels, x_in = [x[:n]], ["test image"], x[:n]
    if c.get("corrupt"):
        x_in = corrupt(x[:n], c["corrupt"], c["noise_level"], np.random.default_rng(0))
        rows.append(x_in)
        labels.append(f"{c['corrupt']} {c['noise_level']}")
    rows.append(model.reconstruct(x_in))
    labels.append("reconstruction")
    return np.concatenate(rows), labels


def _ae_figures(model, c, run_dir, tag, x, labels):
    images, row_labels = reconstruction_rows(model, c, x)
    fig.image_grid(os.path.join(figures_dir(run_dir), f"reconstructions_{tag}.png"), images, ncols=10,
                   row_labels=row_labels, title=f"Autoencoder reconstructions ({tag})")
    loss_figure(run_dir)


def _ae_final(model, c, run_dir, limit, seed, k):
    x, _ = eval_images(c, limit)
    return {"test_images": len(x), **_ae_evaluate(model, c, x)}


def _reconstruct(model, c, run_dir, n, overwrite):
    path = os.path.join(run_dir, RECONSTRUCTIONS)
    refuse_overwrite(path, overwrite)
    interpolation = os.path.join(run_dir, INTERPOLATION)
    if c["model"] == "vae":
        refuse_overwrite(interpolation, overwrite)
    x, labels = eval_images(c, max(n, 200))
    if len(x) < n:
        raise RunError(f"--n {n}: the {c['data']} test split has only {len(x)} images")
    images, row_labels = reconstruction_rows(model, c, x, n)
    fig.image_grid(path, images, ncols=n, row_labels=row_labels, title="Test images and their reconstructions")
    if c["model"] != "vae":
        return [path]
    rows = [np.concatenate([x[a][None], model.interpolate(x[a], x[b], 10), x[b][None]])
            for a, b in interpolation_pairs(labels)]
    fig.image_grid(interpolation, np.concatenate(rows), ncols=12,
                   title="Latent interpolation: image, decoded (1-t) mu(a) + t mu(b) for t = 0..1, image")
    return [path, interpolation]


def _sample(model, c, n, rng, options):
    what = "VAE samples from the prior" if c["model"] == "vae" else "Autoencoder decodings of codes drawn from N(0, I)"
    return model.sample(n, rng), what


def _inpaint(model, c, damaged, known, rng, options):
    """The reconstruction of the holed image, with the known pixels kept as they are."""
    return np.where(known, damaged, model.reconstruct(damaged)).astype(np.float32)


def _denoise(model, c, damaged, known, rng, options):
    return model.reconstruct(np.clip(damaged, 0, 1))


# ---- VAE -------------------------------------------------------------------------------------------
def _vae_build(c):
    return VAE(c["arch"], latent_dim=c["latent"], hidden=c["hidden"], likelihood=c["likelihood"], seed=c["seed"] + 2)


def _vae_step(model, optimizer, c):
    warmup = c.get("kl_warmup", 0)

    def step(x, y, trainer):
        beta = c["beta"] * (min(1.0, (trainer.step + 1) / warmup) if warmup else 1.0)
        optimizer.zero_grad()
        loss, rec, kl = model.loss(x, beta=beta)
        loss.backward()
        optimizer.step()
        return {"loss": loss.item(), "recon": -float(np.mean(rec.data)), "kl": float(np.mean(kl.data)), "beta": beta}
    return Step(step, streams={"vae_noise": model.rng})


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
    loss_figure(run_dir)


def vae_latent_figures(model, run_dir, x, labels, overwrite=True) -> list[str]:
    """For a 2-d latent: the decoded manifold grid and the test latent means coloured by label."""
    d = figures_dir(run_dir)
    paths = [os.path.join(d, "manifold.png"), os.path.join(d, "latent_means.png")]
    for p in paths:
        refuse_overwrite(p, overwrite)
    grid = model.manifold(20)
    fig.image_grid(paths[0], grid.reshape(-1, *grid.shape[2:]), ncols=20,
                   title="Decoded manifold: z on a 20x20 grid over [-3, 3]^2")
    fig.latent_scatter(paths[1], model.latent_means(x), labels, title=f"Latent means of {len(x)} test images")
    return paths


def _vae_final(model, c, run_dir, limit, seed, k):
    x, labels = eval_images(c, limit)
    metrics = {"test_images": len(x), **_vae_evaluate(model, c, x)}
    if k:
        bound = model.iwae_bound(x, k=k, rng=np.random.default_rng(seed))
        metrics[f"iwae_{k}"] = float(np.mean(bound))
        metrics[f"nll_iwae_{k}"] = -float(np.mean(bound))
    if c["latent"] == 2:
        vae_latent_figures(model, run_dir, x, labels)
    return metrics


RECIPES = {
    "ae": Recipe("autoencoder", AE_OPTIONS, _ae_configure, _ae_build, _ae_step, _ae_evaluate, _ae_figures,
                 _ae_final, sample=_sample, reconstruct=_reconstruct,
                 restore={"inpaint": _inpaint, "denoise": _denoise}),
    "vae": Recipe("variational autoencoder", VAE_OPTIONS, _vae_configure, _vae_build, _vae_step, _vae_evaluate,
                  _vae_figures, _vae_final, sample=_sample, reconstruct=_reconstruct),
}

