"""The training loop shared by every model family.

A model family supplies a ``step(x, y, trainer) -> {"loss": float, ...}`` that does one full
update (zero the gradients, forward, backward, optimizer step: a GAN does two, with a dict of
two optimizers), an optional
``evaluate(trainer) -> {metric: float}`` and an optional ``figures(trainer, tag)``. The
trainer owns everything else: epochs and a time budget, the tqdm bar (loss, images/s, ETA),
the JSON-lines log, checkpoints with every RNG state (so ``--resume`` continues bit for bit),
Ctrl-C handling, and stopping on a non-finite loss. docs/training.md describes the files.
"""
from __future__ import annotations

import json
import math
import os
import signal
import time
from collections import OrderedDict

import numpy as np
from tqdm import tqdm

from ..atomic_file import atomic_write
from ..autograd.random import (
    default_generator,
    generator_state_array,
    set_generator_state,
)
from ..nn import save_checkpoint
from .runs import CHECKPOINT, LOG, checkpoint_mismatch, read_checkpoint, read_log


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; the last good checkpoint is left as it was."""


class Trainer:
    """Run ``step`` over ``loader`` for ``epochs`` epochs or ``minutes`` of training, whichever ends first.

    ``optimizer`` is one optimizer or a dict of named ones (a GAN's generator and discriminator).
    ``generators`` names every np.random.Generator the step draws from (e.g. the VAE's noise;
    a recipe's ``Step.streams``); they are checkpointed together with the loader's state
    (``DataLoader.state_dict``: its shuffling and binarization streams) and scratchgen's default
    generator.
    """

    def __init__(self, run_dir, *, model, optimizer, loader, step, evaluate=None, figures=None,
                 ema=None, schedule=None, generators=None, epochs=10, minutes=None, log_every=50,
                 progress=None, figures_every=1):
        self.run_dir = run_dir
        self.model, self.optimizer, self.loader, self.ema, self.schedule = model, optimizer, loader, ema, schedule
        self.step_fn, self.evaluate_fn, self.figures_fn = step, evaluate, figures
        self.generators = dict(generators or {})
        self.epochs, self.minutes, self.log_every = epochs, minutes, log_every
        self.progress, self.figures_every = progress, figures_every
        self.epoch = 0          # completed epochs
        self.step = 0           # optimizer steps taken
        self.batch = 0          # batches done in the current epoch
        self.train_seconds = 0.0
        self._epoch_sums: dict[str, float] = {}
        self._epoch_count = 0
        self._loader_snapshot = None
        self._stop_requested = False
        self._saving = False
        os.makedirs(run_dir, exist_ok=True)

    # ---- RNG states -------------------------------------------------------------------------
    def _all_generators(self) -> dict:
        gens = OrderedDict(self.generators)
        gens["scratchgen_default"] = default_generator()
        return gens

    # ---- checkpoints -----------------------------------------------------------------------------
    def _optimizers(self) -> dict:
        """Checkpoint part name of each optimizer: "optimizer", or "optimizer_<name>" for a dict."""
        if isinstance(self.optimizer, dict):
            return {f"optimizer_{name}": optimizer for name, optimizer in self.optimizer.items()}
        return {"optimizer": self.optimizer}

    @property
    def checkpoint_path(self) -> str:
        return os.path.join(self.run_dir, CHECKPOINT)

    def save(self) -> str:
        """Write model, optimizer, EMA, schedule, RNG states and counters in one atomic file."""
        trainer = OrderedDict(epoch=np.int64(self.epoch), step=np.int64(self.step), batch=np.int64(self.batch),
                              train_seconds=np.float64(self.train_seconds), epoch_count=np.int64(self._epoch_count))
        for name, value in self._epoch_sums.items():
            trainer[f"sum_{name}"] = np.float64(value)
        rng = OrderedDict((name, generator_state_array(g)) for name, g in self._all_generators().items())
        for name, array in self._loader_snapshot.items():
            rng[f"loader_{name}"] = array
        parts = dict(model=self.model, **self._optimizers(), rng=rng, trainer=trainer)
        if self.ema is not None:
            parts["ema"] = self.ema
        if self.schedule is not None:
            parts["schedule"] = self.schedule
        self._saving = True
        try:
            save_checkpoint(self.checkpoint_path, **parts)
        finally:
            self._saving = False
        return self.checkpoint_path

    def resume(self) -> None:
        """Restore everything ``save`` wrote; the next step is the one the saved run would take."""
        parts = read_checkpoint(self.run_dir)
        try:
            self.model.load_state_dict(parts["model"])
            for part, optimizer in self._optimizers().items():
                optimizer.load_state_dict(parts[part])
            if self.ema is not None:
                self.ema.load_state_dict(parts["ema"])
            if self.schedule is not None:
                self.schedule.load_state_dict(parts["schedule"])
            t = parts["trainer"]
            self.epoch, self.step, self.batch = int(t["epoch"]), int(t["step"]), int(t["batch"])
            self.train_seconds, self._epoch_count = float(t["train_seconds"]), int(t["epoch_count"])
            self._epoch_sums = {k[4:]: float(v) for k, v in t.items() if k.startswith("sum_")}
            for name, g in self._all_generators().items():
                set_generator_state(g, parts["rng"][name])
            self._loader_snapshot = {name[len("loader_"):]: array for name, array in parts["rng"].items()
                                     if name.startswith("loader_")}
            self.loader.load_state_dict(self._loader_snapshot)
        except (KeyError, ValueError) as e:   # a part or an entry this run's model, optimizer... do not fit
            raise checkpoint_mismatch(self.run_dir, self.model, e) from None
        # Records written after the checkpoint (a crash, a NaN) are dropped: the run redoes them.
        kept = "".join(json.dumps(r) + "\n" for r in read_log(self.run_dir) if r.get("step", 0) <= self.step)
        atomic_write(os.path.join(self.run_dir, LOG), lambda f: f.write(kept.encode()))

    # ---- logging ---------------------------------------------------------------------------------
    def log(self, record: dict) -> None:
        record = {"event": record.pop("event"), "epoch": self.epoch, "step": self.step,
                  "minutes": round(self.train_seconds / 60, 4), **record}
        with open(os.path.join(self.run_dir, LOG), "a") as f:
            f.write(json.dumps(record) + "\n")

    def _evaluate_and_draw(self, tag: str) -> dict:
        metrics = {}
        if self.evaluate_fn is not None:
            metrics = self.evaluate_fn(self)
            self.log({"event": "eval", **metrics})
        if self.figures_fn is not None:
            self.figures_fn(self, tag)
        return metrics

    # ---- the loop ----------------------------------------------------------------------------------
    def _budget_spent(self) -> bool:
        return self.minutes is not None and self.train_seconds >= 60 * self.minutes

    def _on_sigint(self, signum, frame):
        # A second Ctrl-C stops at once, except while a checkpoint is written: the write is let
        # finish (it takes a moment), and the run stops right after it as the first Ctrl-C asked.
        if self._stop_requested and not self._saving:
            raise KeyboardInterrupt
        self._stop_requested = True

    def fit(self) -> str:
        """Train; returns "done", "time budget", or "interrupted" (a checkpoint is saved in each case).

        Raises TrainingDiverged on a non-finite loss, without saving.
        """
        previous_handler = None
        try:
            previous_handler = signal.signal(signal.SIGINT, self._on_sigint)
        except ValueError:                 # not in the main thread: Ctrl-C is left as it is
            pass
        try:
            return self._fit()
        finally:
            if previous_handler is not None:
                signal.signal(signal.SIGINT, previous_handler)

    def _fit(self) -> str:
        per_epoch = len(self.loader)
        total = self.epochs * per_epoch if self.epochs is not None else None
        bar = tqdm(total=total, initial=self.step, unit="step", dynamic_ncols=True,
                   disable=(not self.progress) if self.progress is not None else None)
        status = "done"
        try:
            while self.epochs is None or self.epoch < self.epochs:
                if self.batch == 0:
                    self._loader_snapshot = self.loader.state_dict()
                bar.set_description(f"epoch {self.epoch + 1}" + (f"/{self.epochs}" if self.epochs else ""))
                for index, (x, y) in enumerate(self.loader):
                    if index < self.batch:           # resuming mid-epoch: replay the loader's draws
                        continue
                    started = time.perf_counter()
                    metrics = self.step_fn(x, y, self)
                    loss = float(metrics["loss"])
                    if not math.isfinite(loss):
                        bar.close()
                        raise TrainingDiverged(
                            f"the loss became {loss} at epoch {self.epoch + 1}, step {self.step + 1}; training "
                            f"stopped and nothing was saved: " + (
                                f"the last good checkpoint is {self.checkpoint_path}"
                                if os.path.exists(self.checkpoint_path) else "there is no earlier checkpoint")
                            + " (try a lower --lr)")
                    seconds = time.perf_counter() - started
                    self.train_seconds += seconds
                    self.step += 1
                    self.batch = index + 1
                    for name, value in metrics.items():
                        self._epoch_sums[name] = self._epoch_sums.get(name, 0.0) + float(value) * len(x)
                    self._epoch_count += len(x)
                    if self.step % self.log_every == 0:
                        self.log({"event": "train", **{k: float(v) for k, v in metrics.items()}})
                    bar.update(1)
                    bar.set_postfix(loss=f"{loss:.4g}", img_s=f"{len(x) / max(seconds, 1e-9):.0f}")
                    if self._stop_requested or self._budget_spent():
                        status = "interrupted" if self._stop_requested else "time budget"
                        break
                if status != "done":
                    break
                # ---- end of an epoch ----
                means = {k: v / max(self._epoch_count, 1) for k, v in self._epoch_sums.items()}
                self.epoch += 1
                self.batch = 0
                self._epoch_sums, self._epoch_count = {}, 0
                self.log({"event": "epoch", **means})
                if self.epoch % self.figures_every == 0 or self.epoch == self.epochs:
                    self._evaluate_and_draw(f"epoch{self.epoch:03d}")
                self._loader_snapshot = self.loader.state_dict()
                self.save()
            if status == "time budget":
                self._evaluate_and_draw(f"step{self.step:06d}")
            if status != "done" or self.batch != 0:
                self.save()
        finally:
            bar.close()
        return status
