"""Run directories: every file a run writes is named here, and the data a run trains on.

A run directory holds ``config.json`` (everything needed to rebuild the model and the data),
``log.jsonl`` (one JSON record per line), ``checkpoint.npz`` and ``figures/``; the commands
that use a trained run add ``metrics.json``, ``samples.png`` and the like beside them.
"""
from __future__ import annotations

import json
import os
import sys

import numpy as np

from .. import figures as fig
from ..atomic_file import atomic_write
from ..data import load
from ..nn import load_checkpoint

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
IMAGE_SHAPE = (1, 28, 28)           # what every recipe's models take: one-channel 28x28 images
TEST_BINARIZATION_SEED = 20240603   # the test set is binarized once, always with this seed
VALIDATION_BINARIZATION_SEED = 20240604   # and the validation images with this one
VALIDATION_SPLIT = "last-twelfth"   # config.json's "validation": the run holds out Dataset.split_validation's images


def restoration_files(task: str) -> tuple[str, str]:
    """The figure and the scores that restoring with ``task`` writes."""
    return f"restore_{task}.png", f"restore_{task}.json"


def default_classifier_dir(data: str) -> str:
    """The run directory of the classifier that judges samples of ``data``: runs/classifier-<data>."""
    return os.path.join("runs", f"classifier-{os.path.basename(data)}")


class RunError(Exception):
    """A problem with a run directory or its inputs, reported as one line."""


def how_to_repair(run_dir: str) -> str:
    """The end of every message about a damaged file of ``run_dir``."""
    return f"restore the file from a copy, or train again with `scratchgen train ... --out {run_dir} --overwrite`"


class RunConfig(dict):
    """A run's config.json: reading an entry it lacks is a RunError naming the entry, wherever it is read."""

    def __init__(self, entries: dict, run_dir: str):
        super().__init__(entries)
        self.run_dir = run_dir

    def __missing__(self, key):
        raise RunError(f"{os.path.join(self.run_dir, CONFIG)} has no entry {key!r} (was it edited?): add it back, "
                       + how_to_repair(self.run_dir))


# ---- data ----------------------------------------------------------------------------------------
def holds_out_validation(config: dict) -> bool:
    """Whether the run holds out validation images (config.json's ``validation``); a run made before the
    split has no such entry: it trained on the whole training split and was evaluated on test images."""
    split = config.get("validation")
    if split not in (None, VALIDATION_SPLIT):
        where = os.path.join(config.run_dir, CONFIG) if isinstance(config, RunConfig) else CONFIG
        raise RunError(f"{where} has validation {split!r}: expected {VALIDATION_SPLIT!r} (the last twelfth of "
                       f"the training split held out), or no entry for a run made before the split")
    return split is not None


def load_split(config: dict, split: str):
    """The uint8 images and labels of ``split`` as the run uses them: "train" the images it trains on
    (the dataset's training split without its validation images, then only ``classes`` if given),
    "validation" the held-out last twelfth of the training split (``Dataset.split_validation``; every
    class), "test" the test split."""
    if split == "test":
        return load(config["data"], "test", image_shape=IMAGE_SHAPE)
    data = load(config["data"], "train", image_shape=IMAGE_SHAPE)
    if holds_out_validation(config):
        data, validation = data.split_validation()
        if split == "validation":
            return validation
    elif split == "validation":
        raise RunError(f"the run has no validation images: its {CONFIG} predates the validation split")
    if config.get("classes"):
        data = data.restrict(config["classes"])
    return data


def _first_as_pixels(config: dict, split: str, n: int | None):
    """The first n images of ``split`` as float32 in [0, 1], binarized once with the split's fixed seed when
    the model is trained on binary pixels (the same n images get the same bits, whatever n); their labels."""
    images, labels = load_split(config, split)
    if n is not None:
        images, labels = images[:n], labels[:n]
    x = images.astype(np.float32) / 255
    if config.get("binarize") == "bernoulli":
        seed = TEST_BINARIZATION_SEED if split == "test" else VALIDATION_BINARIZATION_SEED
        x = (np.random.default_rng(seed).random(x.shape, np.float32) < x).astype(np.float32)
    elif config.get("binarize") == "threshold":
        x = (x > 0.5).astype(np.float32)
    return x, labels.astype(np.int64)


def eval_images(config: dict, n: int | None = None):
    """The first n test images, for the final figures (``evaluate``, ``reconstruct``, ``restore``), as
    model pixels (``_first_as_pixels``), and their labels."""
    return _first_as_pixels(config, "test", n)


def evaluation_split(config: dict) -> str:
    """The split of the evaluation after every epoch: "validation"; "test" for a run made before the
    validation split, so that the evaluations of such a run, resumed, compare with its earlier ones."""
    return "validation" if holds_out_validation(config) else "test"


def validation_images(config: dict, n: int | None = None):
    """The images of the evaluation after every epoch: the first n images of ``evaluation_split`` as model
    pixels (``_first_as_pixels``), and their labels."""
    return _first_as_pixels(config, evaluation_split(config), n)


# ---- the files -------------------------------------------------------------------------------------
def write_json(path: str, value) -> None:
    """Write ``value`` as indented JSON in one atomic step: a failed write leaves the old file."""
    text = json.dumps(value, indent=2)
    atomic_write(path, lambda f: f.write(text.encode()))


def write_config(run_dir: str, config: dict) -> None:
    write_json(os.path.join(run_dir, CONFIG), config)


def read_config(run_dir: str) -> RunConfig:
    path = os.path.join(run_dir, CONFIG)
    if not os.path.isdir(run_dir):
        raise RunError(f"{run_dir} is not a directory: expected a run directory made by `scratchgen train`")
    if not os.path.exists(path):
        raise RunError(f"{run_dir} has no {CONFIG}: expected a run directory made by `scratchgen train`")
    with open(path, "rb") as f:
        text = f.read()
    try:
        config = json.loads(text)
    except ValueError as e:   # json.JSONDecodeError, or bytes that are not text
        raise RunError(f"{path} is not valid JSON ({e}): fix it, " + how_to_repair(run_dir)) from None
    if not isinstance(config, dict):
        raise RunError(f"{path} holds a JSON {type(config).__name__}, not an object of settings: "
                       + how_to_repair(run_dir))
    return RunConfig(config, run_dir)


def read_log(run_dir) -> list[dict]:
    """The records of log.jsonl. A cut last line (a kill during a write leaves one) is skipped with a
    warning on stderr; a damaged line before it is a RunError."""
    path = os.path.join(run_dir, LOG)
    if not os.path.exists(path):
        return []
    with open(path, "rb") as f:
        lines = [(number, line) for number, line in enumerate(f.read().split(b"\n"), 1) if line.strip()]
    records = []
    for number, line in lines:
        try:
            records.append(json.loads(line))
        except ValueError:
            if number != lines[-1][0]:
                raise RunError(f"line {number} of {path} is not a JSON record: delete that line, "
                               + how_to_repair(run_dir)) from None
            print(f"scratchgen: warning: the last line of {path} is cut short (the run was stopped while "
                  f"writing it); it is skipped", file=sys.stderr)
    return records


def read_metrics(run_dir: str) -> dict:
    """The run's metrics.json; a RunError when `scratchgen evaluate` has not written it or it is damaged."""
    path = os.path.join(run_dir, METRICS)
    if not os.path.exists(path):
        raise RunError(f"{run_dir} has no {METRICS}: run `scratchgen evaluate {run_dir}` first")
    evaluate_again = f"evaluate again with `scratchgen evaluate {run_dir} --overwrite`"
    with open(path, "rb") as f:
        text = f.read()
    try:
        metrics = json.loads(text)
    except ValueError as e:   # json.JSONDecodeError, or bytes that are not text
        raise RunError(f"{path} is not valid JSON ({e}): {evaluate_again}") from None
    if not isinstance(metrics, dict):
        raise RunError(f"{path} holds a JSON {type(metrics).__name__}, not an object of metrics: {evaluate_again}")
    return metrics


def read_checkpoint(run_dir: str) -> dict:
    """The parts of the run's checkpoint (``nn.load_checkpoint``); a RunError when it is missing or unreadable."""
    path = os.path.join(run_dir, CHECKPOINT)
    if not os.path.exists(path):
        raise RunError(f"no checkpoint in {run_dir}: expected {path} "
                       f"(train with `scratchgen train ... --out {run_dir}`)")
    try:
        return load_checkpoint(path)
    except ValueError as e:
        raise RunError(f"{e}; " + how_to_repair(run_dir)) from None


def checkpoint_mismatch(run_dir: str, model, error: Exception) -> RunError:
    """The RunError for a checkpoint whose states do not fit the model that config.json builds."""
    if isinstance(error, KeyError):
        first = f"it has no {error.args[0]!r} part"
    else:   # check_state_dict's message: a header line, then the problems separated by "; "
        lines = str(error).splitlines()
        items = (lines[1].strip() if len(lines) > 1 else lines[0]).split("; ")
        first = "; ".join(items[:2]) + (f"; and {len(items) - 2} more" if len(items) > 2 else "")
    settings = ", ".join(f"{k}={v}" for k, v in model.config().items()) if hasattr(model, "config") else ""
    return RunError(f"{os.path.join(run_dir, CHECKPOINT)} does not match the architecture in {CONFIG} ({settings}): "
                    f"{first}; was {CONFIG} edited after training? Set it back, or train again with "
                    f"`scratchgen train ... --out {run_dir} --overwrite`")


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
