"""Training recipe of the diffusion model (``scratchgen train ddpm``), its sampling and its restorations.

The checkpoint's model is the noise network eps_theta (a UNet or an MLP); the noise schedule
has no parameters and is rebuilt from config.json. Sampling and the figures use the EMA of the
weights (Ho et al. 2020, appendix B); the loss is evaluated with the trained weights.
"""
from __future__ import annotations

import math
import os

import numpy as np

from ... import autograd as ag, figures as fig
from ...evaluation import restoration
from ...evaluation.metrics import standard_error
from ...models.ddpm import Diffusion, NoiseSchedule, to_model_space
from ...models.unet import MLPDenoiser, UNet
from ...optim import EMA, clip_grad_norm_
from ..runs import TEST_BINARIZATION_SEED, eval_images, figures_dir, loss_figure
from .recipe import Recipe, Step, lr_schedule

NUM_CLASSES = 10          # digit labels; label NUM_CLASSES is the "no label" of classifier-free guidance
DEFAULT_WIDTHS = {"unet": (32, 64), "mlp": (512,)}
GROUPS = 8                # GroupNorm groups of the UNet: its widths must be multiples of this
BATCH = 250               # images per network call when evaluating and sampling
FIGURE_STEPS = 50         # DDIM steps of the per-epoch sample grid
FIGURE_SAMPLES = 64
TRAJECTORY_ROWS = 8
BOUND_IMAGES = 100        # test images of evaluate's variational bound (T network calls per batch) unless given
BOUND_BINARIZATIONS = {   # evaluate --bound-binarize: the test pixels, their decoder's levels, and what that means
    "none": (256, "gray test images on 256 levels, 256-bin discretized decoder (Ho et al. 2020): "
                  "not comparable with a likelihood of binary pixels"),
    "bernoulli": (2, f"test images binarized once by bernoulli draws with seed {TEST_BINARIZATION_SEED}, as "
                     "{-1, +1} with a 2-bin decoder: nats of binary pixels, as pixelcnn's, pixelrnn's and vae's"),
    "threshold": (2, "test images binarized by thresholding at 0.5, as {-1, +1} with a 2-bin decoder: "
                     "nats of binary pixels"),
}


OPTIONS = dict(net="unet", widths=None, timesteps=1000, schedule="linear", ema_decay=0.999, clip_grad=1.0,
               class_conditional=False, label_dropout=0.1, lr_schedule="constant")


def _configure(o):
    if o["net"] not in DEFAULT_WIDTHS:
        raise ValueError(f"net: expected one of {', '.join(DEFAULT_WIDTHS)}, got {o['net']!r}")
    widths = o["widths"] or DEFAULT_WIDTHS[o["net"]]
    if o["net"] == "unet" and (len(widths) != 2 or any(w % GROUPS for w in widths)):
        raise ValueError(f"--widths for the unet is two multiples of {GROUPS} (channels at 28x28 and at 14x14), "
                         f"e.g. 32,64; got {','.join(map(str, widths))}")
    if o["net"] == "mlp" and len(widths) != 1:
        raise ValueError(f"--widths for the mlp is one hidden width, e.g. 512; got {','.join(map(str, widths))}")
    NoiseSchedule(o["timesteps"], o["schedule"])   # a bad schedule fails here, before anything is written
    if not 0 <= o["ema_decay"] < 1:
        raise ValueError(f"--ema-decay must be in [0, 1) (0.999 averages over about 1000 steps), got {o['ema_decay']}")
    if not 0 <= o["label_dropout"] < 1:
        raise ValueError(f"--label-dropout must be in [0, 1), got {o['label_dropout']}")
    if not 0 <= o["clip_grad"] < math.inf:
        raise ValueError(f"--clip-grad must be finite and >= 0 (0: no clipping), got {o['clip_grad']}")
    return dict(net=o["net"], widths=list(widths), timesteps=o["timesteps"], schedule=o["schedule"],
                ema_decay=o["ema_decay"], clip_grad=o["clip_grad"], class_conditional=o["class_conditional"],
                label_dropout=o["label_dropout"], lr_schedule=o["lr_schedule"])


def _build(c):
    num_classes = NUM_CLASSES if c["class_conditional"] else None
    if c["net"] == "unet":
        return UNet(widths=tuple(c["widths"]), groups=GROUPS, num_classes=num_classes)
    return MLPDenoiser(hidden=c["widths"][0], num_classes=num_classes)


def diffusion_of(model, c, **options) -> Diffusion:
    """The trained noise network with the run's noise schedule."""
    return Diffusion(model, NoiseSchedule(c["timesteps"], c["schedule"]), **options)


def _images(x: np.ndarray) -> np.ndarray:
    """Batches of (N, 28, 28) images in [0, 1] as the model's (N, 1, 28, 28) data in [-1, 1]."""
    return to_model_space(x)[:, None]


def _step(model, optimizer, c, ema):
    diffusion = diffusion_of(model, c)
    rng = np.random.default_rng(c["seed"] + 1)   # t, noise and label dropout (saved by the trainer)
    max_norm = c["clip_grad"] or math.inf        # inf: the norm is measured, nothing is clipped

    def step(x, y, trainer):
        labels = None
        if c["class_conditional"]:
            labels = np.where(rng.random(len(y)) < c["label_dropout"], NUM_CLASSES, y)
        optimizer.zero_grad()
        loss = diffusion.loss(_images(x), rng, labels)
        loss.backward()
        grad_norm = clip_grad_norm_(model.parameters(), max_norm)
        optimizer.step()
        ema.update()
        if trainer.schedule is not None:
            trainer.schedule.step()
        return {"loss": loss.item(), "grad_norm": grad_norm, "lr": optimizer.param_groups[0]["lr"]}
    return Step(step, streams={"diffusion": rng})


def _evaluate(model, c, x):
    """L_simple on the evaluation images with the same t and noise every time (seed 0), so epochs compare."""
    diffusion, rng, x0 = diffusion_of(model, c), np.random.default_rng(0), _images(x)
    with ag.no_grad():
        total = sum(diffusion.loss(x0[s:s + BATCH], rng).item() * len(x0[s:s + BATCH])
                    for s in range(0, len(x0), BATCH))
    return {"loss": total / len(x0)}


def _labels_to_draw(c, n, label):
    """Labels for n samples of a class-conditional run: all ``label``, or 0..9 in turn; None otherwise."""
    if not c["class_conditional"]:
        return None
    if label is None:
        return np.arange(n) % NUM_CLASSES
    return np.full(n, label)


def forward_process_figure(path, diffusion, x, rows=3, columns=9):
    """Images x_0 and draws of q(x_t | x_0), eq. (4), at evenly spaced t (one noise per image)."""
    T = diffusion.schedule.timesteps
    ts = np.linspace(0, T - 1, columns - 1).round().astype(int)
    x0 = _images(x[:rows])
    noise = np.random.default_rng(0).standard_normal(x0.shape).astype(np.float32)
    noised = [diffusion.q_sample(x0, np.full(rows, t), noise) for t in ts]
    grid = np.stack([x0] + noised, axis=1).reshape(-1, *x0.shape[-2:])
    fig.image_grid(path, np.clip((grid + 1) / 2, 0, 1), ncols=columns,
                   title="Forward process: x_0, then x_t ~ q(x_t | x_0) at t = " + ", ".join(str(t + 1) for t in ts))


def _figures(model, c, run_dir, tag, x, labels):
    d = figures_dir(run_dir)
    diffusion = diffusion_of(model, c)
    forward = os.path.join(d, "forward_process.png")
    if not os.path.exists(forward):
        forward_process_figure(forward, diffusion, x)
    steps = min(FIGURE_STEPS, c["timesteps"])
    every = math.ceil(steps / 10)
    noise_rng = np.random.default_rng(1)     # the same x_T every epoch: the grids show the model changing
    images, trajectory = diffusion.ddim_sample(FIGURE_SAMPLES, noise_rng, steps=steps, trajectory_every=every,
                                               labels=_labels_to_draw(c, FIGURE_SAMPLES, None))
    fig.image_grid(os.path.join(d, f"samples_{tag}.png"), images, ncols=8,
                   title=f"DDIM-{steps} samples, EMA weights ({tag})")
    rows = np.stack(trajectory + [images], axis=1)[:TRAJECTORY_ROWS]
    fig.image_grid(os.path.join(d, f"trajectory_{tag}.png"), rows.reshape(-1, *images.shape[-2:]),
                   ncols=rows.shape[1],
                   title=f"DDIM-{steps} from x_T (left) to x_0 (right), every {every} steps ({tag})")
    loss_figure(run_dir)


def variational_bound(model, c, n, seed, binarize, variance) -> dict:
    """The negative ELBO (``Diffusion.variational_bound``) of the first n test images with its standard error
    over images, as ``nll_elbo`` (evaluate adds bits per dimension), and the mean of each of its terms.
    ``binarize`` (a BOUND_BINARIZATIONS key) chooses the pixels; ``variance`` the reverse process's."""
    bins, statement = BOUND_BINARIZATIONS[binarize]
    x, _ = eval_images({**c, "binarize": None if binarize == "none" else binarize}, n)
    diffusion, rng = diffusion_of(model, c, posterior_variance=variance, progress=True), np.random.default_rng(seed)
    batches = [diffusion.variational_bound(_images(x[s:s + BATCH]), rng, bins) for s in range(0, len(x), BATCH)]
    terms = {key: np.concatenate([b[key] for b in batches]) for key in batches[0]}
    metrics = {"bound_images": len(x), "nll_elbo": float(terms["total"].mean())}
    if len(x) > 1:
        metrics["nll_elbo_standard_error"] = standard_error(terms["total"])
    metrics.update({f"elbo_{key}_nats": float(terms[key].mean()) for key in ("prior", "denoising", "decoder")})
    return {**metrics, "elbo_variance": variance, "likelihood_binarization": statement}


def _final(model, c, run_dir, limit, seed, k, bound_images=BOUND_IMAGES, bound_binarize=None, variance=None):
    """L_simple on the test images, and the variational bound on the first ``bound_images`` of them (0: none),
    on the run's own pixels unless ``bound_binarize``, with the sampler's reverse variance unless ``variance``."""
    x, _ = eval_images(c, limit)
    metrics = {"test_images": len(x), **_evaluate(model, c, x)}
    if bound_images:
        metrics.update(variational_bound(model, c, min(bound_images, len(x)), seed,
                                         bound_binarize or c.get("binarize") or "none",
                                         variance or SAMPLER_OPTIONS["variance"]))
    return metrics


SAMPLER_OPTIONS = dict(sampler="ddim", steps=50, eta=0.0, variance="beta", guidance=0.0, label=None)


def _sample(model, c, n, rng, options):
    """DDIM (default: 50 steps, eta 0) or ancestral sampling, in batches; every x_T is drawn first, so
    both samplers with the same seed start from the same noises. Options absent from ``options``
    take their SAMPLER_OPTIONS default."""
    o = {**SAMPLER_OPTIONS, **options}
    sampler, steps, eta, variance, guidance, label = (o[k] for k in SAMPLER_OPTIONS)
    if not c["class_conditional"] and (guidance or label is not None):
        raise ValueError("--guidance and --label need a run trained with --class-conditional")
    if label is not None and not 0 <= label < NUM_CLASSES:
        raise ValueError(f"--label must be a digit 0..{NUM_CLASSES - 1}, got {label}")
    diffusion = diffusion_of(model, c, posterior_variance=variance, progress=True)
    labels = _labels_to_draw(c, n, label)
    x_T = rng.standard_normal((n, *diffusion.image_shape)).astype(np.float32)
    batches = []
    for s in range(0, n, BATCH):
        batch_labels = None if labels is None else labels[s:s + BATCH]
        if sampler == "ddim":
            batches.append(diffusion.ddim_sample(len(x_T[s:s + BATCH]), rng, steps=steps, eta=eta,
                                                 labels=batch_labels, guidance=guidance, x_T=x_T[s:s + BATCH]))
        else:
            batches.append(diffusion.sample(len(x_T[s:s + BATCH]), rng, labels=batch_labels, guidance=guidance,
                                            x_T=x_T[s:s + BATCH]))
    what = (f"DDIM-{steps} samples (eta {eta:g})" if sampler == "ddim"
            else f"Ancestral DDPM samples ({c['timesteps']} steps, variance {variance})")
    if labels is not None:
        what += f", label {label}" if label is not None else ", labels 0-9 in turn"
        what += f", guidance {guidance:g}"
    return np.concatenate(batches)[:, 0], what


# ---- restoration: the damaged images are in [0, 1] image units, as restoration.damage makes them ----
def _inpaint(model, c, damaged, known, rng, options):
    """RePaint: the known pixels imposed from the forward process at every step (``resample`` r times),
    over all T steps or ``steps`` evenly spaced ones, with ``reconstruction_guidance`` w."""
    return diffusion_of(model, c, progress=True).inpaint(
        damaged, known, rng, resample=options.get("resample", 1), steps=options.get("steps"),
        reconstruction_guidance=options.get("reconstruction_guidance", 0.0))[:, 0]


def _denoise(model, c, damaged, known, rng, options):
    """The reverse process from the t whose noise level matches ``noise_std`` (the noisy image is not clipped)."""
    return diffusion_of(model, c, progress=True).denoise(damaged, options["noise_std"], rng)[:, 0]


def _superres(model, c, damaged, known, rng, options):
    """ILVR: 28x28 samples whose factor x factor block means are the average-pooled input (14x14 or 7x7)."""
    factor = options.get("factor", restoration.FACTOR)
    return diffusion_of(model, c, progress=True).super_resolve(damaged, rng, factor=factor)[:, 0]


RECIPES = {
    "ddpm": Recipe("denoising diffusion model (DDPM)", OPTIONS, _configure, _build, _step, _evaluate, _figures,
                   _final, ema=lambda model, c: EMA(model, c["ema_decay"], warmup=True), schedule=lr_schedule,
                   sample=_sample,
                   restore={"inpaint": _inpaint, "denoise": _denoise, "superres": _superres},
                   defaults=dict(lr=2e-4, batch_size=64, epochs=100)),
}
