"""The ``Recipe`` each model family fills in, its training ``Step``, and the optimizer and schedules they share."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from ...optim import Adam, CosineAnnealingLR


def adam(model, config):
    return Adam(model.parameters(), lr=config["lr"])


def cosine_schedule(optimizer, c, steps_per_epoch):
    """A learning rate falling to 0 along a cosine over the run's epochs (one step per optimizer step)."""
    return CosineAnnealingLR(optimizer, T_max=c["epochs"] * steps_per_epoch)


def lr_schedule(optimizer, c, steps_per_epoch):
    """The run's ``lr_schedule``: cosine over the epochs, or None for a constant rate (and for runs saved before it)."""
    return cosine_schedule(optimizer, c, steps_per_epoch) if c.get("lr_schedule") == "cosine" else None


@dataclass
class Step:
    """One training step, ``update(x, y, trainer) -> {"loss": float, ...}``, and by name every NumPy
    Generator it draws from. The Trainer checkpoints the streams, so that a resumed run draws what
    the uninterrupted one would: a stream left out resumes from a fresh state (tests/training/test_recipes.py
    resumes every recipe and compares it bit for bit with a run never stopped)."""
    update: Callable
    streams: dict

    def __call__(self, x, y, trainer) -> dict:
        return self.update(x, y, trainer)


@dataclass
class Recipe:
    """How one model family is trained and used. Functions take the model and the run's config ``c``.

    ``options`` are the family's own entries of config.json with their defaults; ``configure``
    checks a dict of them and returns the entries as stored (ValueError naming the option when
    one is wrong). A recipe without ``sample`` cannot be sampled, without ``reconstruct`` cannot
    reconstruct, and ``restore`` maps task names to
    ``(model, c, damaged, known, rng, options) -> restored``.

    ``evaluate`` and ``figures`` run after every epoch on the first ``eval_images`` validation images
    (``runs.validation_images``); ``final`` and ``reconstruct`` use test images (``runs.eval_images``).
    """
    name: str                  # what the family is, for messages
    options: dict              # option -> default: the family's entries of config.json
    configure: Callable        # options -> the family's entries of config.json, checked
    build: Callable            # c -> model (an nn.Module; its state is the checkpoint's "model")
    step: Callable             # (model, optimizer, c[, ema]) -> Step
    evaluate: Callable         # (model, c, x_eval) -> metrics after every epoch
    figures: Callable          # (model, c, run_dir, tag, x_eval, labels) -> None
    final: Callable            # (model, c, run_dir, limit, seed, k) -> test metrics (`scratchgen evaluate`)
    optimizer: Callable = adam  # (model, c) -> an optimizer, or {name: optimizer}
    ema: Callable | None = None  # (model, c) -> optim.EMA whose average is used for sampling
    schedule: Callable | None = None  # (optimizer, c, steps_per_epoch) -> an lr schedule: checkpointed by
    #                                   the Trainer, stepped by the family's step through trainer.schedule
    sample: Callable | None = None       # (model, c, n, rng, options) -> (images (n, 28, 28) in [0, 1], title)
    reconstruct: Callable | None = None  # (model, c, run_dir, n, overwrite) -> paths written
    restore: dict = field(default_factory=dict)
    defaults: dict = field(default_factory=dict)  # the family's defaults of the common options (lr, epochs, ...)
