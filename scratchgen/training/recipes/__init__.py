"""Every model family ``scratchgen.training`` knows: one ``Recipe`` each, and loading a trained run back.

A recipe says how a family is built from its config, trained (step, optimizer, EMA, schedule,
the random streams its step draws from), evaluated and drawn, and what can be done with a
trained run (sample, reconstruct, restore). The CLI and ``train_run`` are built from this
registry, so a new family is one new module and one line here.
"""
from __future__ import annotations

import os

from ...nn import load_checkpoint
from ...optim import EMA
from ..runs import CHECKPOINT, CONFIG, RunError, read_config
from . import autoencoders, classifier, ddpm, gan, pixelcnn
from .recipe import Recipe

__all__ = ["RECIPES", "Recipe", "build_model", "load_run"]

RECIPES = {**classifier.RECIPES, **autoencoders.RECIPES, **gan.RECIPES, **ddpm.RECIPES, **pixelcnn.RECIPES}


def build_model(config: dict):
    kind = config.get("model")
    if kind not in RECIPES:
        raise RunError(f"unknown model {kind!r} in {CONFIG}: expected one of {', '.join(RECIPES)}")
    return RECIPES[kind].build(config)


def _first_mismatch(error: ValueError) -> str:
    lines = str(error).splitlines()
    items = (lines[1].strip() if len(lines) > 1 else lines[0]).split("; ")
    return "; ".join(items[:2]) + (f"; and {len(items) - 2} more" if len(items) > 2 else "")


def load_run(run_dir: str):
    """(config, model with the checkpoint's weights, in eval mode): one-line errors for every way it can fail.

    When the run keeps an exponential moving average of the weights (``ema`` in the checkpoint),
    the model gets the averaged weights: those are the ones to sample from.
    """
    config = read_config(run_dir)
    path = os.path.join(run_dir, CHECKPOINT)
    if not os.path.exists(path):
        raise RunError(f"no checkpoint in {run_dir}: expected {path} "
                       f"(train with `scratchgen train ... --out {run_dir}`)")
    model = build_model(config)
    parts = load_checkpoint(path)
    try:
        model.load_state_dict(parts["model"])
        if "ema" in parts:
            ema = EMA(model)
            ema.load_state_dict(parts["ema"])
            ema.copy_to(model)
    except ValueError as e:
        settings = ", ".join(f"{k}={v}" for k, v in model.config().items()) if hasattr(model, "config") else ""
        raise RunError(f"{path} does not match the architecture in {CONFIG} ({settings}): "
                       f"{_first_mismatch(e)}") from None
    model.eval()
    return config, model
