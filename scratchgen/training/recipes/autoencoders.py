"""Training recipes of the autoencoder (``scratchgen train ae``) and the VAE (``train vae``)."""
from __future__ import annotations

import math
import os

import numpy as np

from ... import autograd as ag, figures as fig
from ...autograd import ops
from ...evaluation import restoration
from ...evaluation.metrics import psnr, standard_error
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
    validation_images,
)
from .recipe import Recipe, Step

SHARED_OPTIONS = dict(arch="mlp", hidden=400, binarize="auto", classes=None)
AE_OPTIONS = dict(SHARED_OPTIONS, latent=32, loss="bce", corrupt=None, noise_level=0.5)
VAE_OPTIONS = dict(SHARED_OPTIONS, latent=20, likelihood="bernoulli", beta=1.0, kl_warmup=0, class_conditional=False)
NUM_CLASSES = 10   # the digit labels of a class-conditional VAE (CVAE)


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
    if o["class_conditional"] and o["arch"] != "mlp":
        raise ValueError("class_conditional: the class-conditional VAE is the mlp one (--arch mlp)")
    default = "bernoulli" if o["likelihood"] == "bernoulli" else None
    return dict(arch=o["arch"], latent=o["latent"], hidden=o["hidden"], likelihood=o["likelihood"],
                beta=o["beta"], kl_warmup=o["kl_warmup"], classes=o["classes"], binarize=_binarize(o, default),
                class_conditional=o["class_conditional"])


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
    """Images, their corrupted version (denoising autoencoder) and the reconstructions, row by row."""
    rows, labels, x_in = [x[:n]], ["image"], x[:n]
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
    if c["model"] == "vae" and _vae_conditional(c):
        # the CVAE reconstructs each image given its own label; a latent path between two digits has no one label
        images = np.concatenate([x[:n], model.reconstruct(x[:n], labels[:n])])
        fig.image_grid(path, images, ncols=n, row_labels=["image", "reconstruction"],
                       title="Test images and their reconstructions given their labels")
        return [path]
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


def _vae_conditional(c) -> bool:
    return c.get("class_conditional", False)   # absent from the configs of runs made before the CVAE


def _vae_labels(c, labels):
    """The labels a VAE run's model takes: the images' for a CVAE, None for the plain VAE."""
    return labels if _vae_conditional(c) else None


def _vae_sample(model, c, n, rng, options):
    """Draws from the prior; a CVAE draws the digit ``options["label"]``, or the digits 0-9 in turn."""
    label = options.get("label")
    if not _vae_conditional(c):
        if label is not None:
            raise ValueError("--label needs a run trained with --class-conditional")
        return _sample(model, c, n, rng, options)
    if label is not None and not 0 <= label < NUM_CLASSES:
        raise ValueError(f"--label must be a digit 0..{NUM_CLASSES - 1}, got {label}")
    labels = np.arange(n) % NUM_CLASSES if label is None else np.full(n, label)
    what = f"CVAE samples from the prior, {'labels 0-9 in turn' if label is None else f'label {label}'}"
    return model.sample(n, rng, labels), what


def _inpaint(model, c, damaged, known, rng, options):
    """The reconstruction of the holed image, with the known pixels kept as they are."""
    return restoration.finish("inpaint", model.reconstruct(damaged), damaged, known)


def _denoise(model, c, damaged, known, rng, options):
    return model.reconstruct(np.clip(damaged, 0, 1))


# ---- VAE -------------------------------------------------------------------------------------------
def _vae_build(c):
    return VAE(c["arch"], latent_dim=c["latent"], hidden=c["hidden"], likelihood=c["likelihood"], seed=c["seed"] + 2,
               num_classes=NUM_CLASSES if _vae_conditional(c) else None)


def _vae_step(model, optimizer, c):
    warmup = c.get("kl_warmup", 0)

    def step(x, y, trainer):
        beta = c["beta"] * (min(1.0, (trainer.step + 1) / warmup) if warmup else 1.0)
        optimizer.zero_grad()
        loss, rec, kl = model.loss(x, beta=beta, labels=_vae_labels(c, y))
        loss.backward()
        optimizer.step()
        return {"loss": loss.item(), "recon": -float(np.mean(rec.data)), "kl": float(np.mean(kl.data)), "beta": beta}
    return Step(step, streams={"vae_noise": model.rng})


def _elbo_metrics(model, c, x, labels):
    m = model.evaluate(x, labels=_vae_labels(c, labels))
    return {"loss": -m["elbo"], "elbo": m["elbo"], "recon": -m["recon"], "kl": m["kl"]}


def _vae_evaluate(model, c, x):
    labels = validation_images(c, len(x))[1] if _vae_conditional(c) else None   # x: the first of these images
    return _elbo_metrics(model, c, x, labels)


def _vae_figures(model, c, run_dir, tag, x, labels):
    d = figures_dir(run_dir)
    z_rng = np.random.default_rng(1)     # the same z every epoch: the grids show the model changing
    samples, what = _vae_sample(model, c, 64, z_rng, {})
    fig.image_grid(os.path.join(d, f"samples_{tag}.png"), samples, ncols=8, title=f"{what} ({tag})")
    images = np.concatenate([x[:10], model.reconstruct(x[:10], _vae_labels(c, labels[:10]))])
    fig.image_grid(os.path.join(d, f"reconstructions_{tag}.png"), images, ncols=10,
                   row_labels=["image", "reconstruction"], title=f"VAE reconstructions ({tag})")
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
    metrics = {"test_images": len(x), **_elbo_metrics(model, c, x, labels)}
    if k:
        bound = model.iwae_bound(x, k=k, rng=np.random.default_rng(seed), labels=_vae_labels(c, labels))
        metrics[f"iwae_{k}"] = float(np.mean(bound))
        metrics[f"nll_iwae_{k}"] = -float(np.mean(bound))
        if len(x) > 1:   # over the images, to set the bound beside other models' on the same images
            metrics[f"nll_iwae_{k}_standard_error"] = standard_error(bound)
    if _vae_conditional(c):
        metrics["likelihood_conditioned_on"] = "the test labels: bounds on log p(x | y), not log p(x)"
    elif c["latent"] == 2:
        vae_latent_figures(model, run_dir, x, labels)
    return metrics


# ---- VAE restoration: through the encoder, or by the MAP latent --------------------------------------
VAE_RESTORE_METHODS = ("latent", "encoder")   # the first is the default of `scratchgen restore --method`
ENCODER_PASSES = 5   # inpaint through the encoder: fill the hole with the reconstruction, encode again


def _vae_encoder_restoration(model, task, damaged, known, factor):
    """Decode the encoder's mean of the damaged image: for a hole, again and again with the hole filled by the
    last reconstruction; noise clipped to [0, 1]; low resolution upsampled bicubically first."""
    if task == "inpaint":
        filled = damaged
        for _ in range(ENCODER_PASSES):
            filled = np.where(known, damaged, model.reconstruct(filled)).astype(np.float32)
        return filled
    if task == "denoise":
        return model.reconstruct(np.clip(damaged, 0, 1))
    return model.reconstruct(restoration.interpolate_up(damaged, factor, cubic=True).astype(np.float32))


def _vae_latent_restoration(model, task, damaged, known, rng, options, start):
    """The decoded MAP latent: argmin_z -log p(damaged | z) + ||z||^2/2, from the encoder's mean of ``start``
    (the encoder's restoration) and from RESTARTS - 1 draws of the prior. For a hole, -log p is the decoder's
    own likelihood of the known pixels; for noise and low resolution, a Gaussian around (the average pooling
    of) the decoder's mean image."""
    def negative_log_likelihood(z, damaged, known):
        out = model.decode(z)
        if task == "inpaint":
            return -model.log_likelihood(damaged[:, None], out, known[:, None])
        mean_images = ops.sigmoid(out) if model.likelihood == "bernoulli" else out
        return restoration.gaussian_observation_nll(task, mean_images, damaged, known, factor=options["factor"],
                                                    noise_std=options["noise_std"] if task == "denoise" else 0.0)
    starts = np.concatenate([model.latent_means(start),
                             rng.standard_normal(((restoration.RESTARTS - 1) * len(damaged), model.latent_dim))])
    with restoration.frozen(model):
        z = restoration.map_latents(negative_log_likelihood, starts.astype(np.float32), damaged, known)
    return model.decode_mean(z)


def _vae_restore(task):
    def restore(model, c, damaged, known, rng, options):
        """--method latent (the default) or encoder; see _vae_latent_restoration and _vae_encoder_restoration."""
        if _vae_conditional(c):
            raise ValueError("a class-conditional vae restores nothing yet: its encoder and decoder need the digit "
                             "of the damaged image")
        method = options.get("method") or VAE_RESTORE_METHODS[0]
        if method not in VAE_RESTORE_METHODS:
            raise ValueError(f"--method {method!r}: a vae restores by one of {', '.join(VAE_RESTORE_METHODS)}")
        factor = options.get("factor", restoration.FACTOR)
        restored = _vae_encoder_restoration(model, task, damaged, known, factor)
        if method == "latent":
            options = {"noise_std": restoration.NOISE_STD, **options, "factor": factor}
            restored = _vae_latent_restoration(model, task, damaged, known, rng, options, start=restored)
        return restoration.finish(task, restored, damaged, known, factor)
    return restore


RECIPES = {
    "ae": Recipe("autoencoder", AE_OPTIONS, _ae_configure, _ae_build, _ae_step, _ae_evaluate, _ae_figures,
                 _ae_final, sample=_sample, reconstruct=_reconstruct,
                 restore={"inpaint": _inpaint, "denoise": _denoise}),
    "vae": Recipe("variational autoencoder", VAE_OPTIONS, _vae_configure, _vae_build, _vae_step, _vae_evaluate,
                  _vae_figures, _vae_final, sample=_vae_sample, reconstruct=_reconstruct,
                  restore={task: _vae_restore(task) for task in ("inpaint", "denoise", "superres")}),
}

