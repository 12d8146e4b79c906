"""Run directories, the data a run trains on, and the ``Family`` recipe every model registers.

A run directory holds ``config.json`` (everything needed to rebuild the model and the data),
``log.jsonl``, ``checkpoint.npz`` and ``figures/``. Each model family (``training/families/``)
describes in one ``Family`` how ``scratchgen train`` builds, trains, evaluates and draws it,
and what ``sample``, ``reconstruct``, ``restore`` and ``evaluate`` do with a trained run.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from ..data import load
from ..optim import CosineAnnealingLR
from . import figures as fig
from .trainer import read_log

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


def refuse_overwrite(path: str, overwrite: bool) -> None:
    if os.path.exists(path) and not overwrite:
        raise RunError(f"{path} already exists: pass --overwrite to replace it")


def figures_dir(run_dir: str) -> str:
    d = os.path.join(run_dir, "figures")
    os.makedirs(d, exist_ok=True)
    return d


def loss_figure(run_dir: str) -> None:
    records = read_log(run_dir)
    if any(r.get("event") in ("train", "eval") for r in records):
        fig.loss_curve(os.path.join(run_dir, "loss_curve.png"), records,
                       title=f"Loss of {os.path.basename(os.path.abspath(run_dir))}")


def interpolation_pairs(labels: np.ndarray, rows: int = 5) -> list[tuple[int, int]]:
    """Pairs of test indices with different digits: the first d and the first (d + 3) mod 10."""
    present = sorted(set(int(v) for v in labels))
    first = {d: int(np.flatnonzero(labels == d)[0]) for d in present}
    pairs = [(first[d], first[present[(i + 3) % len(present)]]) for i, d in enumerate(present)]
    return pairs[:rows]


# ---- the recipe of a model family ---------------------------------------------------------------------
def adam(model, config):
    from ..optim import Adam
    return Adam(model.parameters(), lr=config["lr"])


@dataclass
class Family:
    """How the CLI trains and uses one model family. Functions take the model and the run's config.

    Only ``name`` to ``final`` are required; a family without ``sample`` cannot be sampled,
    without ``reconstruct`` cannot reconstruct, and ``restore`` maps task names to
    ``(model, config, damaged, known, rng, args) -> restored`` for ``scratchgen restore``.
    """
    name: str                  # what the family is, for messages
    add_arguments: Callable    # argparse parser -> None: the family's own `scratchgen train` options
    configure: Callable        # parsed args -> dict: the family's entries of config.json
    build: Callable            # config -> model (an nn.Module; its state is the checkpoint's "model")
    step: Callable             # (model, optimizer, config) -> step(x, y, trainer) -> {"loss": ..., ...}
    evaluate: Callable         # (model, config, x_eval) -> metrics after every epoch
    figures: Callable          # (model, config, run_dir, tag, x_eval, labels) -> None
    final: Callable            # (model, config, args) -> metrics of `scratchgen evaluate`
    optimizer: Callable = adam  # (model, config) -> an optimizer, or {name: optimizer}
    ema: Callable | None = None  # (model, config) -> optim.EMA whose average is used for sampling
    schedule: Callable | None = None  # (optimizer, config, steps_per_epoch) -> an lr schedule: checkpointed by
    #                                   the Trainer, stepped by the family's step through trainer.schedule
    sample: Callable | None = None       # (model, config, n, rng, args) -> (images (n, 28, 28) in [0, 1], title)
    reconstruct: Callable | None = None  # (model, config, run_dir, args) -> paths written
    restore: dict = field(default_factory=dict)
    defaults: dict = field(default_factory=dict)  # the family's defaults of the common options (lr, epochs, ...)


def cosine_schedule(optimizer, c, steps_per_epoch):
    """A learning rate falling to 0 along a cosine over the run's --epochs (one step per optimizer step)."""
    return CosineAnnealingLR(optimizer, T_max=c["epochs"] * steps_per_epoch)


def add_lr_schedule_option(p, default):
    """--lr-schedule of a family whose config carries ``lr_schedule`` and whose schedule is ``lr_schedule``."""
    p.add_argument("--lr-schedule", choices=["cosine", "constant"], default=default,
                   help="cosine: the learning rate falls to 0 over --epochs (the best result for a fixed budget: "
                        "set --epochs to what fits in --minutes); constant: --lr throughout, for open-ended runs")


def lr_schedule(optimizer, c, steps_per_epoch):
    """The run's --lr-schedule: cosine over --epochs, or None for a constant rate (and for runs saved before it)."""
    return cosine_schedule(optimizer, c, steps_per_epoch) if c.get("lr_schedule") == "cosine" else None
