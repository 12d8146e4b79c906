"""Train a config into a run directory: the Python API that ``scratchgen train`` and the demo call.

    from scratchgen.training import train_run
    result = train_run({"model": "vae", "epochs": 2}, "runs/vae")

A config names the model family and any of its options; ``make_config`` fills in the rest with
their defaults (``COMMON_OPTIONS`` for every family, then the family's own ``Recipe.options``).
"""
from __future__ import annotations

import contextlib
import os
import shutil
from dataclasses import dataclass

from ..autograd import manual_seed
from ..data import DEFAULT_DATASET, DataLoader
from . import runs
from .recipes import RECIPES
from .runs import CHECKPOINT, RUN_FILES, RunError
from .trainer import Trainer

# The options every family has, with their defaults; a family's Recipe.defaults override epochs, batch_size, lr.
COMMON_OPTIONS = dict(data=DEFAULT_DATASET, batch_size=128, lr=1e-3, seed=0, limit=None, epochs=10, minutes=None,
                      eval_images=1000)


def make_config(config: dict) -> dict:
    """The complete config of a new run: ``config`` with every option it omits at its default, the
    family's options checked. Raises RunError for an unknown model or option, ValueError for a bad value."""
    model = config.get("model")
    if model not in RECIPES:
        raise RunError(f"unknown model {model!r}: expected one of {', '.join(RECIPES)}")
    recipe = RECIPES[model]
    known = {"model", *COMMON_OPTIONS, *recipe.options}
    unknown = sorted(set(config) - known)
    if unknown:
        raise RunError(f"unknown option {unknown[0]!r} for a {model} run: expected some of {', '.join(sorted(known))}")
    common = {k: config.get(k, recipe.defaults.get(k, default)) for k, default in COMMON_OPTIONS.items()}
    family = recipe.configure({k: config.get(k, default) for k, default in recipe.options.items()})
    return dict(model=model, **common, **family)


def start_run(config: dict, out: str, *, overwrite: bool = False, resume: bool = False) -> dict:
    """The config of a new run in ``out``, written to its config.json (the run files already there are
    removed only with ``overwrite``), or with ``resume`` the stored config of the run in ``out``, whose
    epochs and minutes ``config`` may change. Raises RunError."""
    if resume:
        stored = runs.read_config(out)
        if not os.path.exists(os.path.join(out, CHECKPOINT)):
            raise RunError(f"cannot resume: no checkpoint in {out} (expected {os.path.join(out, CHECKPOINT)})")
        if stored["model"] != config["model"]:
            raise RunError(f"cannot resume: {out} holds a {stored['model']} run, not {config['model']}")
        stored["epochs"] = config.get("epochs", stored["epochs"])
        stored["minutes"] = config.get("minutes")
        return stored
    existing = [f for f in RUN_FILES if os.path.exists(os.path.join(out, f))]
    if existing and not overwrite:
        raise RunError(f"{out} already holds a run ({', '.join(existing)}): pass --overwrite to replace it, "
                       f"--resume to continue it, or choose another --out")
    config = make_config(config)
    for f in existing:
        path = os.path.join(out, f)
        shutil.rmtree(path) if os.path.isdir(path) else os.remove(path)
    os.makedirs(out, exist_ok=True)
    runs.write_config(out, config)
    return config


@dataclass
class RunResult:
    """How a call of ``train_run`` ended."""
    status: str             # "done", "time budget" or "interrupted"
    epoch: int              # epochs completed
    step: int               # optimizer steps taken
    train_minutes: float    # time spent in training steps
    checkpoint: str
    metrics: dict           # the last evaluation's metrics, {} when there was none


def train_run(config: dict, out: str, *, overwrite: bool = False, resume: bool = False, log_every: int = 50,
              progress: bool | None = None) -> RunResult:
    """Train ``config`` into the run directory ``out`` (see ``start_run``) and return how it ended.

    ``progress``: None shows the bar on a terminal only. Raises RunError or ValueError before
    training starts, and trainer.TrainingDiverged when the loss becomes non-finite.
    """
    config = start_run(config, out, overwrite=overwrite, resume=resume)
    recipe = RECIPES[config["model"]]
    manual_seed(config["seed"])
    model = recipe.build(config)
    images, labels = runs.load_split(config, "train")
    x_eval, y_eval = runs.eval_images(config, config["eval_images"])
    if config["limit"]:
        images, labels = images[:config["limit"]], labels[:config["limit"]]
    loader = DataLoader((images, labels), config["batch_size"], seed=config["seed"], binarize=config.get("binarize"))
    optimizer = recipe.optimizer(model, config)
    ema = recipe.ema(model, config) if recipe.ema else None
    schedule = recipe.schedule(optimizer, config, len(loader)) if recipe.schedule else None
    step = recipe.step(model, optimizer, config, ema) if ema else recipe.step(model, optimizer, config)

    def evaluate(trainer):
        model.eval()
        metrics = recipe.evaluate(model, config, x_eval)
        model.train()
        return metrics

    def figures(trainer, tag):
        model.eval()
        with ema.average_parameters() if ema else contextlib.nullcontext():   # sample as a loaded run would
            recipe.figures(model, config, out, tag, x_eval, y_eval)
        model.train()

    trainer = Trainer(out, model=model, optimizer=optimizer, loader=loader, step=step, evaluate=evaluate,
                      figures=figures, ema=ema, schedule=schedule, generators=step.streams,
                      epochs=config["epochs"], minutes=config["minutes"], log_every=log_every, progress=progress)
    if resume:
        trainer.resume()
        print(f"resuming {out} at epoch {trainer.epoch}, step {trainer.step}")
    print(f"training {recipe.name} on {config['data']} ({len(images)} images, {len(loader)} batches per epoch) "
          f"-> {out}")
    status = trainer.fit()
    evals = [r for r in runs.read_log(out) if r["event"] == "eval"]
    metrics = {k: v for k, v in evals[-1].items() if k not in ("event", "epoch", "step")} if evals else {}
    return RunResult(status, trainer.epoch, trainer.step, trainer.train_seconds / 60, trainer.checkpoint_path, metrics)
