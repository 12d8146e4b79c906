"""What each ``scratchgen`` command does, as Python functions of plain values.

The parser (parser.py) maps options onto these keyword arguments and the demo calls them
directly. Each raises RunError or ValueError with a one-line message when it cannot run;
``scratchgen.cli.main`` prints that message and exits with status 2.
"""
from __future__ import annotations

import os
import time

import numpy as np

from .. import figures as fig
from ..data import SPLITS, load
from ..evaluation import restoration
from ..training import RECIPES, load_run, runs, train_run
from ..training.runs import METRICS, SAMPLES, RunError
from . import scoring

SAMPLER_FAMILIES = ("ddpm",)   # the families whose sampling takes the sampler options (--sampler, --eta, ...)
IWAE_FAMILIES = ("vae",)       # the families whose evaluation takes --k
IWAE_SAMPLES = 1000            # evaluate's importance samples per image (--k) unless given


def _refuse_unused(config: dict, families: tuple, options: dict) -> None:
    """RunError naming the options given that the run's family does not use: none is silently ignored."""
    if options and config["model"] not in families:
        given = ", ".join("--" + k.replace("_", "-") for k in options)
        raise RunError(f"{config['model']} runs do not use {given}: only {', '.join(families)} runs do")


def train(model: str, out: str | None = None, *, resume: bool = False, overwrite: bool = False, log_every: int = 50,
          progress: bool | None = None, **options) -> int:
    """Train a ``model`` run with ``options`` into ``out`` (default runs/MODEL); 130 when interrupted.

    ``options`` are the ones given on purpose (the parser leaves the others out): train_run fills in
    their defaults, or with ``resume`` takes the stored run's values and refuses a different one."""
    out = out or os.path.join("runs", model)
    result = train_run({"model": model, **options}, out, overwrite=overwrite, resume=resume, log_every=log_every,
                       progress=progress)
    summary = ", ".join(f"{k} {v:.4g}" for k, v in result.metrics.items() if isinstance(v, float))
    print(f"{result.status}: epoch {result.epoch}, step {result.step}, {result.train_minutes:.2f} min of training; "
          f"{summary}")
    print(f"checkpoint: {result.checkpoint}")
    return 130 if result.status == "interrupted" else 0


def load_for(run_dir: str, capability: str, outputs=(), overwrite: bool = False):
    """(config, model, recipe) of ``run_dir``; a RunError when the family cannot do ``capability`` or an
    output file exists without ``overwrite``."""
    config, model = load_run(run_dir)
    recipe = RECIPES[config["model"]]
    if capability and not getattr(recipe, capability):
        able = [name for name, r in RECIPES.items() if getattr(r, capability)]
        raise RunError(f"{run_dir} holds a {config['model']} run, which cannot {capability}: "
                       f"runs of {', '.join(able)} can")
    for path in outputs:
        runs.refuse_overwrite(path, overwrite)
    return config, model, recipe


def sample(run_dir: str, *, n: int = 64, seed: int = 0, output: str | None = None, overwrite: bool = False,
           **sampler_options) -> str:
    """A grid of ``n`` samples written to ``output`` (default RUN_DIR/samples.png); returns its path.
    ``sampler_options`` (ddpm runs only) absent take ddpm's defaults."""
    path = output or os.path.join(run_dir, SAMPLES)
    config, model, recipe = load_for(run_dir, "sample", [path], overwrite)
    _refuse_unused(config, SAMPLER_FAMILIES, sampler_options)
    images, what = recipe.sample(model, config, n, np.random.default_rng(seed), sampler_options)
    fig.image_grid(path, images, ncols=int(np.ceil(np.sqrt(n))), title=f"{what} (seed {seed})")
    print(f"wrote {path}")
    return path


RECONSTRUCT_MOST = 100    # reconstruct's figure is one column per image
RESTORE_FIGURE_MOST = 20  # restore scores all --n images and draws the first ones


def reconstruct(run_dir: str, *, n: int = 10, overwrite: bool = False) -> list[str]:
    """RUN_DIR/reconstructions.png of the first ``n`` test images (and, for a vae, interpolation.png); their paths."""
    if not 1 <= n <= RECONSTRUCT_MOST:
        raise RunError(f"--n {n}: reconstruct draws one column per image, from 1 to {RECONSTRUCT_MOST}; for scores "
                       f"over more test images use scratchgen evaluate")
    config, model, recipe = load_for(run_dir, "reconstruct")
    paths = recipe.reconstruct(model, config, run_dir, n, overwrite)
    print("wrote " + ", ".join(paths))
    return paths


def draws_per_image(restore, k: int, model, config, damaged: np.ndarray, known: np.ndarray | None,
                    rng: np.random.Generator, options: dict) -> np.ndarray:
    """(k, n, H, W): ``k`` restorations of each damaged image, drawn in one batch of k * n images
    (all equal for a deterministic model)."""
    tiled = lambda a: None if a is None else np.tile(a, (k, 1, 1))  # noqa: E731
    restored = restore(model, config, tiled(damaged), tiled(known), rng, options)
    return restored.reshape(k, len(damaged), *restored.shape[1:])


def _refuse_unused_damage(task: str, mask: str | None, fraction: float | None, noise_std: float | None) -> None:
    """RunError naming the damage options given that ``task`` (with ``mask``) does not use."""
    uses = {"--mask": task in restoration.MASK_TASKS, "--fraction": task in restoration.MASK_TASKS and mask == "random",
            "--noise-std": task == "denoise"}
    given = {"--mask": mask, "--fraction": fraction, "--noise-std": noise_std}
    unused = [option for option, value in given.items() if value is not None and not uses[option]]
    if unused:
        raise RunError(f"--task {task}{f' --mask {mask}' if mask else ''} does not use {', '.join(unused)}: --mask is "
                       f"for --task inpaint or complete, --fraction for --mask random, --noise-std for --task denoise")


def restore(run_dir: str, *, task: str, mask: str | None = None, fraction: float | None = None,
            noise_std: float | None = None, resample: int = 1, steps: int | None = None,
            reconstruction_guidance: float = 0.0, samples: int = 1, n: int = 10, seed: int = 0,
            output: str | None = None, overwrite: bool = False) -> dict:
    """Damage the first ``n`` test images, restore them, write the figure and the scores; returns the scores.
    ``mask``, ``fraction`` and ``noise_std`` are refused where the task does not use them; absent, they take
    restoration's defaults."""
    figure = output or os.path.join(run_dir, runs.restoration_files(task)[0])
    metrics_path = os.path.splitext(figure)[0] + ".json"
    config, model, recipe = load_for(run_dir, "restore", [figure, metrics_path], overwrite)
    _refuse_unused_damage(task, mask, fraction, noise_std)
    fraction = restoration.FRACTION if fraction is None else fraction
    noise_std = restoration.NOISE_STD if noise_std is None else noise_std
    if task not in recipe.restore:
        raise RunError(f"a {config['model']} run cannot {task}: it can {', '.join(recipe.restore)}")
    diffusion_inpainting = resample != 1 or steps is not None or reconstruction_guidance
    if diffusion_inpainting and (config["model"], task) != ("ddpm", "inpaint"):
        raise RunError(f"--resample, --steps and --reconstruction-guidance apply to ddpm runs with "
                       f"--task inpaint, not to {config['model']} runs with --task {task}")
    rng = np.random.default_rng(seed)
    clean, _ = runs.eval_images(config, n)
    if len(clean) < n:
        raise RunError(f"--n {n}: the {config['data']} test split has only {len(clean)} images")
    damaged, known, shown = restoration.damage(task, clean, rng, mask=mask, fraction=fraction, noise_std=noise_std)
    options = dict(noise_std=noise_std, resample=resample, steps=steps,
                   reconstruction_guidance=reconstruction_guidance, run_dir=run_dir, overwrite=overwrite)
    draws = draws_per_image(recipe.restore[task], samples, model, config, damaged, known, rng, options)
    mean_image = runs.load_split(config, "train").images.mean(axis=0) / 255 if known is not None else None
    # the mean of the draws estimates the posterior mean E[x | damaged], the fill with the lowest expected error
    restored = draws.mean(axis=0)
    scores = restoration.scores(restored, clean, shown, known, mean_image)
    rows, labels = [clean, shown, restored], ["clean", "damaged", "restored"]
    if samples > 1:
        scores.update({f"one_draw_{k}": v for k, v in restoration.scores(draws[0], clean, shown, known).items()
                       if not k.endswith("_damaged")})
        rows, labels = rows + [draws[0]], ["clean", "damaged", f"mean of {samples}", "one draw"]
    shown_images = min(n, RESTORE_FIGURE_MOST)
    fig.image_grid(figure, np.concatenate([row[:shown_images] for row in rows]), ncols=shown_images, row_labels=labels,
                   title=f"{task}: PSNR {scores['psnr']:.2f} dB (damaged {scores['psnr_damaged']:.2f} dB)"
                         + (f" over {n} images, the first {shown_images} shown" if n > shown_images else ""))
    runs.write_json(metrics_path, {"task": task, "images": len(clean), "samples": samples, **scores})
    for k, v in scores.items():
        print(f"{k:>14}: {v:.4f}")
    print(f"wrote {figure}, {metrics_path}")
    return scores


def evaluate(run_dir: str, *, k: int | None = None, limit: int | None = None, seed: int = 0,
             n_samples: int | None = None, classifier: str | None = None, parzen: bool = False,
             overwrite: bool = False, **sampler_options) -> dict:
    """Test metrics of the run and of its samples, written to RUN_DIR/metrics.json; returns them.
    ``k`` (vae runs only) defaults to IWAE_SAMPLES, ``n_samples`` (families that sample) to
    scoring.DEFAULT_SAMPLES; ``sampler_options`` as for ``sample``."""
    path = os.path.join(run_dir, METRICS)
    config, model, recipe = load_for(run_dir, "", [path], overwrite)
    _refuse_unused(config, IWAE_FAMILIES, {} if k is None else {"k": k})
    _refuse_unused(config, SAMPLER_FAMILIES, sampler_options)
    sample_scoring = {"n_samples": n_samples, "classifier": classifier, "parzen": parzen or None}
    _refuse_unused(config, tuple(name for name, r in RECIPES.items() if r.sample),
                   {key: value for key, value in sample_scoring.items() if value is not None})
    k = IWAE_SAMPLES if k is None else k
    n_samples = scoring.DEFAULT_SAMPLES if n_samples is None else n_samples
    started = time.perf_counter()
    metrics = scoring.evaluate_run(run_dir, recipe, model, config, k=k, limit=limit, seed=seed, n_samples=n_samples,
                                   classifier=classifier, parzen=parzen, sampler_options=sampler_options)
    metrics["seconds"] = round(time.perf_counter() - started, 1)
    runs.write_json(path, metrics)
    print(scoring.table(metrics))
    print(f"wrote {path}")
    return metrics


def data_summary(data: str) -> None:
    """``scratchgen data summary``: the shapes and label counts of both splits."""
    for split in SPLITS:
        start = time.perf_counter()
        images, labels = load(data, split)
        print(f"{data} {split}: images {images.shape} {images.dtype}, "
              f"label counts {np.bincount(labels).tolist()}, "
              f"loaded in {time.perf_counter() - start:.1f} s")


def data_figure(path: str, data: str, overwrite: bool = False) -> str:
    """``scratchgen data figure``: a 10x10 grid, the first ten training images of each class, one class per row."""
    runs.refuse_overwrite(path, overwrite)
    images, labels = load(data, "train")
    rows = [images[np.flatnonzero(labels == c)[:10]] for c in range(10)]
    tiles = np.pad(np.array(rows), ((0, 0), (0, 0), (1, 1), (1, 1)), constant_values=96)
    grid = tiles.transpose(0, 2, 1, 3).reshape(10 * 30, 10 * 30)
    fig.save_gray(path, np.kron(grid, np.ones((3, 3), np.uint8)))
    print(f"wrote {path}")
    return path
