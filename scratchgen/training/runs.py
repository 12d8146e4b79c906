"""Run directories: every file a run writes is named here, and the data a run trains on.

A run directory holds ``config.json`` (everything needed to rebuild the model and the data),
``log.jsonl`` (one JSON record per line), ``checkpoint.npz`` and ``figures/``; the commands
that use a trained run add ``metrics.json``, ``samples.png`` and the like beside them.
"""
from __future__ import annotations

import json
import os

import numpy as np

from .. import figures as fig
from ..atomic_file import atomic_write
from ..data import load

CONFIG = "config.json"
LOG = "log.jsonl"
CHECKPOINT = "checkpoint.npz"
LOSS_CURVE = "loss_curve.png"
FIGURES = "figures"
METRICS = "metrics.json"
SAMPLES = "samples.png"
RECONSTRUCTIONS = "reconstructions.png"
INTERPOLATION = "interpolation.png"
COMPLETIONS = "completions.png"
RUN_FILES = (CONFIG, LOG, CHECKPOINT, LOSS_CURVE, METRICS, SAMPLES, RECONSTRUCTIONS, INTERPOLATION, FIGURES)
TEST_BINARIZATION_SEED = 20240603   # the test set is binarized once, always with this seed


def restoration_files(task: str) -> tuple[str, str]:
    """The figure and the scores that restoring with ``task`` writes."""
    return f"restore_{task}.png", f"restore_{task}.json"


def default_classifier_dir(data: str) -> str:
    """The run directory of the classifier that judges samples of ``data``: runs/classifier-<data>."""
    return os.path.join("runs", f"classifier-{os.path.basename(data)}")


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


# ---- the files -------------------------------------------------------------------------------------
def write_config(run_dir: str, config: dict) -> None:
    text = json.dumps(config, indent=2)
    atomic_write(os.path.join(run_dir, CONFIG), lambda f: f.write(text.encode()))


def read_config(run_dir: str) -> dict:
    path = os.path.join(run_dir, CONFIG)
    if not os.path.isdir(run_dir):
        raise RunError(f"{run_dir} is not a directory: expected a run directory made by `scratchgen train`")
    if not os.path.exists(path):
        raise RunError(f"{run_dir} has no {CONFIG}: expected a run directory made by `scratchgen train`")
    with open(path) as f:
        return json.load(f)


def read_log(run_dir) -> list[dict]:
    path = os.path.join(run_dir, LOG)
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def refuse_overwrite(path: str, overwrite: bool) -> None:
    if os.path.exists(path) and not overwrite:
        raise RunError(f"{path} already exists: pass --overwrite to replace it")


def figures_dir(run_dir: str) -> str:
    d = os.path.join(run_dir, FIGURES)
    os.makedirs(d, exist_ok=True)
    return d


def loss_figure(run_dir: str) -> None:
    records = read_log(run_dir)
    if any(r.get("event") in ("train", "eval") for r in records):
        fig.loss_curve(os.path.join(run_dir, LOSS_CURVE), records,
                       title=f"Loss of {os.path.basename(os.path.abspath(run_dir))}")


def interpolation_pairs(labels: np.ndarray, rows: int = 5) -> list[tuple[int, int]]:
    """Pairs of test indices with different digits: the first d and the first (d + 3) mod 10."""
    present = sorted(set(int(v) for v in labels))
    first = {d: int(np.flatnonzero(labels == d)[0]) for d in present}
    pairs = [(first[d], first[present[(i + 3) % len(present)]]) for i, d in enumerate(present)]
    return pairs[:rows]
