"""What each ``scratchgen`` command does, as Python functions of plain values.

The parser (parser.py) maps options onto these keyword arguments and the demo calls them
directly. Each raises RunError or ValueError with a one-line message when it cannot run;
``scratchgen.cli.main`` prints that message and exits with status 2.
"""
from __future__ import annotations

import dataclasses
import os
import time
from functools import partial

import numpy as np

from .. import figures as fig
from ..data import SPLITS, load
from ..evaluation import restoration
from ..nn import save_state_dict
from ..training import RECIPES, load_run, reference, runs, train_run
from ..training.recipes.autoencoders import VAE_RESTORE_METHODS
from ..training.recipes.ddpm import SAMPLER_OPTIONS
from ..training.runs import METRICS, SAMPLES, RunError
from . import scoring

SAMPLER_FAMILIES = ("ddpm",)   # the families whose sampling takes the sampler options (--sampler, --eta, ...)
CONDITIONAL_FAMILIES = ("ddpm", "vae")   # the families that can be trained --class-conditional and take --label
RESTORE_METHODS = {"vae": VAE_RESTORE_METHODS}   # family -> its choices of `restore --method`, the default first
IWAE_FAMILIES = ("vae",)       # the families whose evaluation takes --k
IWAE_SAMPLES = 1000            # evaluate's importance samples per image (--k) unless given
BOUND_FAMILIES = ("ddpm",)     # the families whose evaluation takes --bound-images and --bound-binarize
MIN_PER_DIGIT = 2              # evaluate --conditional: the classifier score splits the samples in 10 parts


def _refuse_unused_sampler_options(config: dict, options: dict) -> None:
    """RunError naming the sampler options given that the run's family does not use (--label: conditional ones)."""
    _refuse_unused(config, SAMPLER_FAMILIES, {k: v for k, v in options.items() if k != "label"})
    _refuse_unused(config, CONDITIONAL_FAMILIES, {k: v for k, v in options.items() if k == "label"})


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
    _refuse_unused_sampler_options(config, sampler_options)
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


def _refuse_unused_damage(task: str, mask: str | None, fraction: float | None, noise_std: float | None,
                          factor: int | None = None) -> None:
    """RunError naming the damage options given that ``task`` (with ``mask``) does not use."""
    uses = {"--mask": task in restoration.MASK_TASKS, "--fraction": task in restoration.MASK_TASKS and mask == "random",
            "--noise-std": task == "denoise", "--factor": task == "superres"}
    given = {"--mask": mask, "--fraction": fraction, "--noise-std": noise_std, "--factor": factor}
    unused = [option for option, value in given.items() if value is not None and not uses[option]]
    if unused:
        raise RunError(f"--task {task}{f' --mask {mask}' if mask else ''} does not use {', '.join(unused)}: --mask is "
                       f"for --task inpaint or complete, --fraction for --mask random, --noise-std for --task denoise, "
                       f"--factor for --task superres")


def _print_scores(scores: dict) -> None:
    for k, v in scores.items():
        if isinstance(v, float):
            print(f"{k:>14}: {v:.4f}")
    for name, baseline in scores["baselines"].items():
        print(f"baseline {name}: " + ", ".join(f"{k} {v:.4f}" for k, v in baseline.items()))


def restore(run_dir: str, *, task: str, mask: str | None = None, fraction: float | None = None,
            noise_std: float | None = None, factor: int | None = None, method: str | None = None,
            resample: int = 1, steps: int | None = None,
            reconstruction_guidance: float = 0.0, samples: int = 1, n: int = 10, seed: int = 0,
            output: str | None = None, overwrite: bool = False) -> dict:
    """Damage the first ``n`` test images, restore them, write the figure, the images and the scores (the
    model's, the damaged input's and the classical baselines'); returns the scores. Beside the figure, a .json
    holds the scores and an .npz (no pickle) the float32 images of all ``n``: ``clean``, ``damaged`` (as shown),
    ``restored`` (the mean of the draws, as scored), ``observed`` (the damaged images the model and the
    baselines receive: the noise unclipped, the low-resolution images) and, for a hole, ``known`` (bool) and
    ``mean_image``. ``mask``, ``fraction``, ``noise_std`` and ``factor`` are refused where the task does not
    use them, ``method`` where the family has no choice; absent, they take restoration's (and the family's)
    defaults. A superres by another factor than 2 writes restore_superres_{factor}x.png (.npz, .json) by
    default."""
    factor_label = task if task != "superres" or factor in (None, restoration.FACTOR) else f"{task}_{factor}x"
    figure = output or os.path.join(run_dir, runs.restoration_files(factor_label)[0])
    metrics_path, arrays_path = (os.path.splitext(figure)[0] + suffix for suffix in (".json", ".npz"))
    config, model, recipe = load_for(run_dir, "restore", [figure, arrays_path, metrics_path], overwrite)
    _refuse_unused_damage(task, mask, fraction, noise_std, factor)
    _refuse_unused(config, tuple(RESTORE_METHODS), {} if method is None else {"method": method})
    fraction = restoration.FRACTION if fraction is None else fraction
    noise_std = restoration.NOISE_STD if noise_std is None else noise_std
    factor = restoration.FACTOR if factor is None else factor
    if task not in recipe.restore:
        article = "an" if config["model"][0] in "aeiou" else "a"
        raise RunError(f"{article} {config['model']} run cannot {task}: it can {', '.join(recipe.restore)}")
    diffusion_inpainting = resample != 1 or steps is not None or reconstruction_guidance
    if diffusion_inpainting and (config["model"], task) != ("ddpm", "inpaint"):
        raise RunError(f"--resample, --steps and --reconstruction-guidance apply to ddpm runs with "
                       f"--task inpaint, not to {config['model']} runs with --task {task}")
    rng = np.random.default_rng(seed)
    clean, _ = runs.eval_images(config, n)
    if len(clean) < n:
        raise RunError(f"--n {n}: the {config['data']} test split has only {len(clean)} images")
    damaged, known, shown = restoration.damage(task, clean, rng, mask=mask, fraction=fraction, noise_std=noise_std,
                                               factor=factor)
    options = dict(noise_std=noise_std, factor=factor, method=method, resample=resample, steps=steps,
                   reconstruction_guidance=reconstruction_guidance, run_dir=run_dir, overwrite=overwrite)
    draws = draws_per_image(recipe.restore[task], samples, model, config, damaged, known, rng, options)
    mean_image = (None if known is None
                  else (runs.load_split(config, "train").images.mean(axis=0) / 255).astype(np.float32))
    # the mean of the draws estimates the posterior mean E[x | damaged], the fill with the lowest expected error;
    # scored as saved (float32), so the .npz reproduces the .json's numbers
    restored = draws.mean(axis=0).astype(np.float32)
    scores = restoration.scores(restored, clean, shown, known, mean_image)
    scores["baselines"] = restoration.baseline_scores(task, damaged, known, clean, factor=factor,
                                                      mean_image=mean_image)
    rows, labels = [clean, shown, restored], ["clean", "damaged", "restored"]
    if samples > 1:
        scores.update({f"one_draw_{k}": v for k, v in restoration.scores(draws[0], clean, shown, known).items()
                       if not k.endswith("_damaged")})
        rows, labels = rows + [draws[0]], ["clean", "damaged", f"mean of {samples}", "one draw"]
    shown_images = min(n, RESTORE_FIGURE_MOST)
    fig.image_grid(figure, np.concatenate([row[:shown_images] for row in rows]), ncols=shown_images, row_labels=labels,
                   title=f"{task}: PSNR {scores['psnr']:.2f} dB (damaged {scores['psnr_damaged']:.2f} dB)"
                         + (f" over {n} images, the first {shown_images} shown" if n > shown_images else ""))
    hole = {} if known is None else {"known": known, "mean_image": mean_image}
    save_state_dict(arrays_path, {"clean": clean, "damaged": shown, "restored": restored, "observed": damaged,
                                  **hole})
    described = {"factor": factor} if task == "superres" else {}
    if config["model"] in RESTORE_METHODS:
        described["method"] = method or RESTORE_METHODS[config["model"]][0]
    runs.write_json(metrics_path, {"task": task, **described, "images": len(clean), "samples": samples, **scores})
    _print_scores(scores)
    print(f"wrote {figure}, {arrays_path}, {metrics_path}")
    return scores


def _conditional_settings(run_dir: str, config: dict, conditional: bool, n_samples: int, cas_images: int | None,
                          parzen: bool, sampler_options: dict) -> tuple:
    """(guidance weights, samples per digit, CAS images per digit) of ``evaluate --conditional``; the one
    --guidance weight of a plain evaluation stays in ``sampler_options``. RunError for options that do not fit."""
    weights = sampler_options.pop("guidance", None)
    if isinstance(weights, (int, float)):   # the Python API's one weight; the CLI's --guidance is a list
        weights = [weights]
    if not conditional:
        if cas_images is not None:
            raise RunError("--cas-images is part of evaluate --conditional: add --conditional")
        if weights is not None and len(weights) > 1:
            raise RunError(f"--guidance {','.join(f'{w:g}' for w in weights)}: several weights need --conditional "
                           f"(a plain evaluation samples with one)")
        if weights is not None:
            sampler_options["guidance"] = weights[0]
        return None, 0, 0
    if config["model"] not in CONDITIONAL_FAMILIES or not config.get("class_conditional"):
        raise RunError(f"--conditional measures a class-conditional run; {run_dir} holds a {config['model']} run "
                       f"trained without --class-conditional (only {' and '.join(CONDITIONAL_FAMILIES)} runs can be)")
    if "label" in sampler_options or parzen:
        raise RunError(f"--conditional draws every digit in turn and scores the draws of each: leave out "
                       f"{'--label' if 'label' in sampler_options else '--parzen'}")
    for option, value in (("--n-samples", n_samples), ("--cas-images", cas_images or 0)):
        if value % 10:
            raise RunError(f"{option} {value}: --conditional draws as many samples of each digit, expected a "
                           f"multiple of 10")
    if n_samples < 10 * MIN_PER_DIGIT:
        raise RunError(f"--n-samples {n_samples}: --conditional scores at least {MIN_PER_DIGIT} samples of each "
                       f"digit, expected at least {10 * MIN_PER_DIGIT}")
    weights = [None] if config["model"] not in SAMPLER_FAMILIES else weights or [SAMPLER_OPTIONS["guidance"]]
    return weights, n_samples // 10, (cas_images or 0) // 10


def evaluate(run_dir: str, *, k: int | None = None, limit: int | None = None, seed: int = 0,
             n_samples: int | None = None, classifier: str | None = None, parzen: bool = False,
             conditional: bool = False, cas_images: int | None = None, overwrite: bool = False,
             bound_images: int | None = None, bound_binarize: str | None = None, **sampler_options) -> dict:
    """Test metrics of the run and of its samples, written to RUN_DIR/metrics.json; returns them.
    ``k`` (vae runs only) defaults to IWAE_SAMPLES, ``n_samples`` (families that sample) to
    scoring.DEFAULT_SAMPLES; ``sampler_options`` as for ``sample``, but ``guidance`` may be a list of weights.
    With ``conditional`` (class-conditional runs), the samples are scored per requested digit at each
    guidance weight instead (``scoring.conditional_metrics``), with the CAS of ``cas_images`` images.
    ``bound_images`` and ``bound_binarize`` (ddpm runs) as the ddpm recipe's ``final``, which also takes
    the sampler's ``variance``."""
    path = os.path.join(run_dir, METRICS)
    config, model, recipe = load_for(run_dir, "", [path], overwrite)
    _refuse_unused(config, IWAE_FAMILIES, {} if k is None else {"k": k})
    bound = {key: value for key, value in dict(bound_images=bound_images, bound_binarize=bound_binarize).items()
             if value is not None}
    _refuse_unused(config, BOUND_FAMILIES, bound)
    if config["model"] in BOUND_FAMILIES:   # the bound's options reach only this family's final
        bound.update({"variance": sampler_options["variance"]} if "variance" in sampler_options else {})
        recipe = dataclasses.replace(recipe, final=partial(recipe.final, **bound))
    _refuse_unused_sampler_options(config, sampler_options)
    weights, per_digit, cas_per_digit = _conditional_settings(
        run_dir, config, conditional, scoring.DEFAULT_SAMPLES if n_samples is None else n_samples, cas_images,
        parzen, sampler_options)
    sample_scoring = {"n_samples": n_samples, "classifier": classifier, "parzen": parzen or None}
    _refuse_unused(config, tuple(name for name, r in RECIPES.items() if r.sample),
                   {key: value for key, value in sample_scoring.items() if value is not None})
    k = IWAE_SAMPLES if k is None else k
    n_samples = scoring.DEFAULT_SAMPLES if n_samples is None else n_samples
    started = time.perf_counter()
    if conditional:   # the judge is loaded before recipe.final writes its figures: a refused evaluation writes nothing
        classifier_dir, judge = scoring.load_classifier(classifier, config["data"])
    metrics = scoring.evaluate_run(run_dir, recipe, model, config, k=k, limit=limit, seed=seed,
                                   n_samples=0 if conditional else n_samples, classifier=classifier, parzen=parzen,
                                   sampler_options=sampler_options)
    if conditional:
        metrics["conditional"] = {"classifier": classifier_dir, **scoring.conditional_metrics(
            recipe, model, config, judge, weights=weights, per_class=per_digit, cas_per_class=cas_per_digit,
            seed=seed, sampler_options=sampler_options)}
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


def check(run_dir: str, table: str | None = None) -> int:
    """``scratchgen check``: the run's log against the reference bands (``table``: a JSON of one's own);
    prints the comparisons and the verdict, and returns 0 when as expected, 1 when the run departs."""
    result = reference.check_run(run_dir, None if table is None else reference.load_table(table))
    print(result.report())
    return 0 if result.as_expected else 1
