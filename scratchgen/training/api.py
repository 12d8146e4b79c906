"""Train a config into a run directory: the Python API that ``scratchgen train`` and the demo call.

    from scratchgen.training import train_run
    result = train_run({"model": "vae", "epochs": 2}, "runs/vae")

A config names the model family and any of its options; ``make_config`` fills in the rest with
their defaults (``COMMON_OPTIONS`` for every family, then the family's own ``Recipe.options``).
``train_on_arrays`` trains a config the same way on images in memory and returns the model.
"""
from __future__ import annotations

import contextlib
import math
import numbers
import os
import shutil
import tempfile
from dataclasses import dataclass

import numpy as np

from ..autograd import manual_seed
from ..data import DEFAULT_DATASET, DataLoader
from . import runs
from .recipes import RECIPES
from .runs import CHECKPOINT, RUN_FILES, RunError
from .trainer import Trainer

# The options every family has, with their defaults; a family's Recipe.defaults override epochs, batch_size, lr.
COMMON_OPTIONS = dict(data=DEFAULT_DATASET, batch_size=128, lr=1e-3, seed=0, limit=None, epochs=10, minutes=None,
                      eval_images=1000)
# What a resume may change on purpose (recorded in config.json and the log); any other option must match the run.
RESUME_CHANGES = ("epochs", "minutes", "lr")


def _is_whole(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _check_common(c: dict) -> None:
    """ValueError naming the first common option out of range (the CLI's types check the same when parsing)."""
    if not isinstance(c["data"], (str, os.PathLike)):
        raise ValueError(f"data: expected a dataset name or the path of a folder of IDX files, got {c['data']!r}")
    for key in ("batch_size", "epochs", "eval_images", "limit"):
        if not (key == "limit" and c[key] is None) and not (_is_whole(c[key]) and c[key] > 0):
            raise ValueError(f"{key}: expected a positive integer, got {c[key]!r}")
    if not (_is_whole(c["seed"]) and c["seed"] >= 0):
        raise ValueError(f"seed: expected 0 or a positive integer, got {c['seed']!r}")
    for key in ("lr", "minutes"):
        value = c[key]
        if not (key == "minutes" and value is None) and not (
                isinstance(value, numbers.Real) and not isinstance(value, bool) and 0 < value < math.inf):
            raise ValueError(f"{key}: expected a positive finite number, got {value!r}")


def _kind(default) -> str | None:
    """What a family option whose default is ``default`` takes, as a message names it; None: no one type."""
    if isinstance(default, bool):
        return "True or False"
    if _is_whole(default):
        return "an integer"
    if isinstance(default, float):
        return "a number"
    if isinstance(default, str):
        return "a string"
    if isinstance(default, list):
        return "a list of numbers"
    return None


def _has_kind(value, kind: str) -> bool:
    number = isinstance(value, numbers.Real) and not isinstance(value, bool)
    return {"True or False": isinstance(value, bool), "an integer": _is_whole(value), "a number": number,
            "a string": isinstance(value, str),
            "a list of numbers": isinstance(value, (list, tuple)) and all(
                isinstance(v, numbers.Real) and not isinstance(v, bool) for v in value)}[kind]


def _check_family_types(options: dict, defaults: dict) -> None:
    """ValueError naming the first family option not of its default's type (a recipe checks the values;
    None, which a stored config holds for some choices, e.g. binarize, is left to the recipe too)."""
    for key, value in options.items():
        kind = _kind(defaults[key])
        if kind and value is not None and not _has_kind(value, kind):
            raise ValueError(f"{key}: expected {kind}, got {value!r}")


def _check_is_dict(config) -> None:
    if not isinstance(config, dict):
        raise ValueError(f"config: expected a dict of options, e.g. {{'model': 'vae'}}, got {config!r}")


def _check_arguments(config, out) -> None:
    """ValueError unless ``config`` is a dict and ``out`` a path: what train_run and start_run are given."""
    _check_is_dict(config)
    if not isinstance(out, (str, os.PathLike)):
        raise ValueError(f"out: expected the path of the run directory, got {out!r}")


def _known_options(model: str) -> set:
    return {"model", *COMMON_OPTIONS, "validation", *RECIPES[model].options}


def make_config(config: dict) -> dict:
    """The complete config of a new run: ``config`` with every option it omits at its default, the
    options checked. Raises RunError for an unknown model or option, ValueError for a bad value."""
    _check_is_dict(config)
    model = config.get("model")
    if model not in RECIPES:
        raise RunError(f"unknown model {model!r}: expected one of {', '.join(RECIPES)}")
    recipe = RECIPES[model]
    known = _known_options(model)
    unknown = sorted(set(config) - known)
    if unknown:
        raise RunError(f"unknown option {unknown[0]!r} for a {model} run: expected some of {', '.join(sorted(known))}")
    common = {k: config.get(k, recipe.defaults.get(k, default)) for k, default in COMMON_OPTIONS.items()}
    _check_common(common)
    _check_family_types({k: config[k] for k in recipe.options if k in config}, recipe.options)
    family = recipe.configure({k: config.get(k, default) for k, default in recipe.options.items()})
    # Recorded, not chosen: a config.json without it is a run made before the validation split (runs.load_split).
    if config.get("validation", runs.VALIDATION_SPLIT) != runs.VALIDATION_SPLIT:
        raise ValueError(f"validation: expected {runs.VALIDATION_SPLIT!r}, the only split, "
                         f"got {config['validation']!r}")
    return dict(model=model, **common, validation=runs.VALIDATION_SPLIT, **family)


def _option(key: str) -> str:
    return "--" + key.replace("_", "-")


def resumed_config(config: dict, out: str) -> tuple[dict, dict]:
    """The stored config of the run in ``out`` as a resume trains it, and what changed.

    The stored config is the default of every option. The keys of ``config`` are the options given
    on purpose: ``epochs``, ``minutes`` and ``lr`` replace the stored values (the changes are
    returned as {key: {"from": stored, "to": new}}); any other that differs from the stored value
    is refused with a RunError naming it, so that nothing given is silently ignored.
    """
    stored = runs.read_config(out)
    if not os.path.exists(os.path.join(out, CHECKPOINT)):
        raise RunError(f"cannot resume: no checkpoint in {out} (expected {os.path.join(out, CHECKPOINT)})")
    stored_model = stored["model"]   # a RunError naming the entry when config.json lacks it
    model = config.get("model", stored_model)
    if stored_model != model:
        raise RunError(f"cannot resume: {out} holds a {stored_model} run, not {model}")
    if model not in RECIPES:
        raise RunError(f"cannot resume: unknown model {model!r} in {os.path.join(out, runs.CONFIG)}")
    given = {k: v for k, v in config.items() if k != "model"}
    # Both sides through make_config: the CLI's spellings ("non-saturating") and defaults ("auto") compare as stored.
    known = _known_options(model)
    as_stored = make_config({k: v for k, v in stored.items() if k in known})
    as_given = make_config({**{k: v for k, v in as_stored.items() if k in known}, **given})
    refused = [f"{_option(k)} {given[k]} (the run has {as_stored.get(k)})" for k in given
               if k not in RESUME_CHANGES and as_given.get(k) != as_stored.get(k)]
    if refused:
        raise RunError(f"cannot resume {out} with {', '.join(refused)}: a resumed run keeps its options and "
                       f"--resume changes only {', '.join(map(_option, RESUME_CHANGES))}; to train with other "
                       f"options start a new run (another --out, or --overwrite)")
    changed = {k: {"from": stored.get(k), "to": as_given[k]} for k in RESUME_CHANGES
               if k in given and as_given[k] != stored.get(k)}
    # Still a RunConfig: an entry config.json lacks is a one-line RunError wherever it is read.
    return runs.RunConfig({**stored, **{k: change["to"] for k, change in changed.items()}}, out), changed


def _check_writable(out: str) -> None:
    """RunError unless the run directory ``out`` is, or can be made, a directory we can write in."""
    if os.path.exists(out) and not os.path.isdir(out):
        raise RunError(f"--out {out} is a file, not a directory: choose another --out")
    existing = out
    while not os.path.exists(existing):
        existing = os.path.dirname(os.path.abspath(existing))
    if not os.path.isdir(existing):
        raise RunError(f"cannot create {out}: {existing} is a file, not a directory")
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as e:
        raise RunError(f"cannot write in {existing} ({e.strerror}): choose another --out") from None


@dataclass
class _Inputs:
    """Everything a run needs, checked and loaded before the run directory is touched."""
    config: dict
    model: object
    train: tuple        # (images, labels)
    evaluation: tuple   # (x_eval, y_eval): the images of the evaluation after every epoch


def _load_inputs(config: dict, out: str) -> _Inputs:
    """The seeded model, its training images and the validation images of its evaluation, the test split
    checked to load, and ``out`` checked to be writable."""
    manual_seed(config["seed"])
    model = RECIPES[config["model"]].build(config)
    images, labels = runs.load_split(config, "train")
    evaluation = runs.validation_images(config, config["eval_images"])
    # Unused in training, but evaluate, reconstruct and restore need it: a missing or broken test split is
    # refused now, not after the training.
    runs.load_split(config, "test")
    _check_writable(out)
    return _Inputs(config, model, (images, labels), evaluation)


def _new_run(config: dict, out: str, overwrite: bool) -> _Inputs:
    existing = [f for f in RUN_FILES if os.path.exists(os.path.join(out, f))]
    if existing and not overwrite:
        raise RunError(f"{out} already holds a run ({', '.join(existing)}): pass --overwrite to replace it, "
                       f"--resume to continue it, or choose another --out")
    inputs = _load_inputs(make_config(config), out)
    for f in existing:
        path = os.path.join(out, f)
        shutil.rmtree(path) if os.path.isdir(path) else os.remove(path)
    os.makedirs(out, exist_ok=True)
    runs.write_config(out, inputs.config)
    return inputs


def start_run(config: dict, out: str, *, overwrite: bool = False) -> dict:
    """The complete config of a new run in ``out``, written to its config.json once the config, the
    seed, the training, validation and test images, the model and ``out`` itself are checked: a failed
    start leaves ``out`` as it was. The run files already in ``out`` are removed, after those checks,
    only with ``overwrite``.
    Raises RunError, ValueError or OSError."""
    _check_arguments(config, out)
    return _new_run(config, out, overwrite).config


def _set_learning_rate(optimizer, schedule, lr: float) -> None:
    """Replace the lr a resumed optimizer (one, or a dict of them) and its schedule restored. A schedule
    computes every step's lr from a base lr (the cosine's peak), so the new lr becomes that base and
    the schedule goes on from the same step."""
    for one in optimizer.values() if isinstance(optimizer, dict) else [optimizer]:
        for group in one.param_groups:
            group["lr"] = lr
            if "initial_lr" in group:
                group["initial_lr"] = lr
    if schedule is not None:
        state = schedule.state_dict()
        state["base_lrs"] = np.full_like(state["base_lrs"], lr)
        schedule.load_state_dict(state)


def _trainer(config: dict, model, images: np.ndarray, labels: np.ndarray, out: str, **trainer_options) -> Trainer:
    """The Trainer of ``model`` by ``config``'s recipe (its optimizer, EMA, schedule and step) over the uint8
    (images, labels), shuffled and binarized as ``config`` says, writing its log and checkpoints in ``out``."""
    recipe = RECIPES[config["model"]]
    loader = DataLoader((images, labels), config["batch_size"], seed=config["seed"], binarize=config.get("binarize"))
    optimizer = recipe.optimizer(model, config)
    ema = recipe.ema(model, config) if recipe.ema else None
    schedule = recipe.schedule(optimizer, config, len(loader)) if recipe.schedule else None
    step = recipe.step(model, optimizer, config, ema) if ema else recipe.step(model, optimizer, config)
    return Trainer(out, model=model, optimizer=optimizer, loader=loader, step=step, ema=ema, schedule=schedule,
                   generators=step.streams, epochs=config["epochs"], minutes=config["minutes"], **trainer_options)


def train_on_arrays(config: dict, images: np.ndarray, labels: np.ndarray):
    """The model of ``config`` (any option left out at its default, as ``make_config`` fills them in) trained
    on the uint8 (images, labels) in memory as ``train_run`` trains it on a dataset, seeded alike, without
    evaluations, figures or a run directory to keep (the dataset's options, ``data``, ``limit`` and
    ``eval_images``, play no part); returned in eval mode. E.g. the classifiers of ``scratchgen evaluate
    --conditional --cas-images``. Raises KeyboardInterrupt when interrupted (Ctrl-C) and
    trainer.TrainingDiverged when the loss becomes non-finite."""
    config = make_config(config)
    manual_seed(config["seed"])
    model = RECIPES[config["model"]].build(config)
    with tempfile.TemporaryDirectory() as out:   # the Trainer's log and checkpoints, of no use afterwards
        status = _trainer(config, model, images, labels, out, progress=False).fit()
    if status == "interrupted":
        raise KeyboardInterrupt
    model.eval()
    return model


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
    """Train ``config`` into the run directory ``out`` and return how it ended.

    A new run is started as ``start_run`` does: everything is checked before ``out`` is touched.
    With ``resume`` the run in ``out`` continues from its checkpoint with its stored config; the
    keys of ``config`` are the options given on purpose (see ``resumed_config``), and a change of
    epochs, minutes or lr is written to config.json and logged as {"event": "resume", "changed": ...}.
    ``progress``: None shows the bar on a terminal only. Raises RunError, ValueError or OSError
    before training starts, and trainer.TrainingDiverged when the loss becomes non-finite.
    """
    _check_arguments(config, out)
    if resume and overwrite:
        raise RunError(f"--resume continues the run in {out} and --overwrite replaces it: pass one of them")
    if resume:
        resumed, changed = resumed_config(config, out)
        inputs = _load_inputs(resumed, out)
    else:
        inputs = _new_run(config, out, overwrite)
    config, model = inputs.config, inputs.model
    recipe = RECIPES[config["model"]]
    images, labels = inputs.train
    x_eval, y_eval = inputs.evaluation
    if config["limit"]:
        images, labels = images[:config["limit"]], labels[:config["limit"]]

    def evaluate(trainer):
        model.eval()
        metrics = recipe.evaluate(model, config, x_eval)
        model.train()
        return metrics

    def figures(trainer, tag):
        model.eval()
        ema = trainer.ema
        with ema.average_parameters() if ema else contextlib.nullcontext():   # sample as a loaded run would
            recipe.figures(model, config, out, tag, x_eval, y_eval)
        model.train()

    trainer = _trainer(config, model, images, labels, out, evaluate=evaluate, figures=figures, log_every=log_every,
                       progress=progress)
    if resume:
        trainer.resume()
        if config["minutes"] is not None and trainer.train_seconds >= 60 * config["minutes"]:
            raise RunError(f"cannot resume {out}: its time budget of {config['minutes']:g} minutes is spent "
                           f"({trainer.train_seconds / 60:.3g} trained): pass --minutes with a larger budget")
        if "lr" in changed:
            _set_learning_rate(trainer.optimizer, trainer.schedule, config["lr"])
        if changed:
            runs.write_config(out, config)
            trainer.log({"event": "resume", "changed": changed})
        print(f"resuming {out} at epoch {trainer.epoch}, step {trainer.step}"
              + "".join(f"; {k} {c['from']} -> {c['to']}" for k, c in changed.items()))
    print(f"training {recipe.name} on {config['data']} ({len(images)} images, {len(trainer.loader)} batches per "
          f"epoch; evaluated on {len(x_eval)} {runs.evaluation_split(config)} images) -> {out}")
    status = trainer.fit()
    evals = [r for r in runs.read_log(out) if r["event"] == "eval"]
    metrics = {k: v for k, v in evals[-1].items() if k not in ("event", "epoch", "step")} if evals else {}
    return RunResult(status, trainer.epoch, trainer.step, trainer.train_seconds / 60, trainer.checkpoint_path, metrics)
