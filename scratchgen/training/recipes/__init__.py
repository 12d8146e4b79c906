"""Every model family ``scratchgen.training`` knows: one ``Recipe`` each, and loading a trained run back.

A recipe says how a family is built from its config, trained (step, optimizer, EMA, schedule,
the random streams its step draws from), evaluated and drawn, and what can be done with a
trained run (sample, reconstruct, restore). The CLI and ``train_run`` are built from this
registry, so a new family is one new recipe: in a module of its own and one line here, or beside
the family it shares most with (PixelRNN beside PixelCNN in autoregressive.py).
"""
from __future__ import annotations

from ...optim import EMA
from ..runs import CONFIG, RunError, checkpoint_mismatch, read_checkpoint, read_config
from . import autoencoders, autoregressive, classifier, ddpm, gan
from .recipe import Recipe

__all__ = ["RECIPES", "Recipe", "build_model", "load_run"]

RECIPES = {**classifier.RECIPES, **autoencoders.RECIPES, **gan.RECIPES, **ddpm.RECIPES, **autoregressive.RECIPES}


def build_model(config: dict):
    kind = config["model"]
    if kind not in RECIPES:
        raise RunError(f"unknown model {kind!r} in {CONFIG}: expected one of {', '.join(RECIPES)}")
    return RECIPES[kind].build(config)


def load_run(run_dir: str):
    """(config, model with the checkpoint's weights, in eval mode): one-line errors for every way it can fail.

    When the run keeps an exponential moving average of the weights (``ema`` in the checkpoint),
    the model gets the averaged weights: those are the ones to sample from.
    """
    config = read_config(run_dir)
    parts = read_checkpoint(run_dir)
    model = build_model(config)
    try:
        model.load_state_dict(parts["model"])
        if "ema" in parts:
            ema = EMA(model)
            ema.load_state_dict(parts["ema"])
            ema.copy_to(model)
    except (KeyError, ValueError) as e:
        raise checkpoint_mismatch(run_dir, model, e) from None
    model.eval()
    return config, model
