"""Exponential moving average of a model's parameters (Polyak averaging), for sampling.

Generative models (DDPM above all) sample much better from an average of the recent weights
than from the latest, noisy ones. After each optimizer step, ``update()`` does

    average <- decay * average + (1 - decay) * parameter

for every parameter, so the average spans roughly the last 1 / (1 - decay) steps.

Started from the initial weights, a plain average still holds decay^t of them after t steps —
a quarter after 1,400 steps at 0.999, enough to ruin the samples of a short run. With
``warmup=True`` the decay of step t is min(decay, (1 + t) / (10 + t)) (TensorFlow's
``ExponentialMovingAverage`` with ``num_updates``): the average forgets the start quickly and
reaches the full decay after about 10 / (1 - decay) steps.

Buffers are excluded on purpose. They are not trained by gradient descent, so there is nothing
noisy to smooth: masks are constants, counters such as ``num_batches_tracked`` are integers
that averaging would corrupt, and batch norm's running statistics are already running averages
computed by the layer itself, in step with the activations they describe. ``copy_to`` and
``average_parameters`` therefore touch parameters only and leave every buffer as the model has it.
"""
from __future__ import annotations

import contextlib
from collections import OrderedDict
from typing import Mapping

import numpy as np

from ..nn.module import Module
from ..nn.serialization import check_state_dict


class EMA:
    """Keeps the average of ``model``'s parameters; ``average_parameters()`` swaps it in for sampling."""

    def __init__(self, model: Module, decay: float = 0.999, warmup: bool = False):
        if not 0 <= decay < 1:
            raise ValueError(f"EMA: decay must be in [0, 1), got {decay!r} (0.999 averages over ~1000 steps)")
        self.model = model
        self.decay = float(decay)
        self.warmup = warmup
        self.num_updates = 0
        self.shadow = OrderedDict((name, param.data.copy()) for name, param in model.named_parameters())

    def update(self) -> None:
        """Fold the model's current parameters into the average (call after optimizer.step())."""
        decay = self.current_decay()
        for name, param in self.model.named_parameters():
            average = self.shadow[name]
            average *= decay
            average += (1 - decay) * param.data
        self.num_updates += 1

    def current_decay(self) -> float:
        """The decay the next ``update`` uses: ``decay``, or during the warm-up the smaller (1 + t) / (10 + t)."""
        return min(self.decay, (1 + self.num_updates) / (10 + self.num_updates)) if self.warmup else self.decay

    def _parameters_of(self, model: Module | None) -> "OrderedDict[str, np.ndarray]":
        model = self.model if model is None else model
        params = OrderedDict((name, param.data) for name, param in model.named_parameters())
        check_state_dict(type(model).__name__, {name: data.shape for name, data in params.items()}, self.shadow)
        return params

    def copy_to(self, model: Module | None = None) -> None:
        """Overwrite the parameters of ``model`` (default: the tracked model) with the averages."""
        for name, data in self._parameters_of(model).items():
            data[...] = self.shadow[name]

    @contextlib.contextmanager
    def average_parameters(self, model: Module | None = None):
        """Use the averages inside the ``with`` block and restore the trained parameters after it."""
        params = self._parameters_of(model)
        trained = {name: data.copy() for name, data in params.items()}
        try:
            for name, data in params.items():
                data[...] = self.shadow[name]
            yield
        finally:
            for name, data in params.items():
                data[...] = trained[name]

    def state_dict(self) -> "OrderedDict[str, np.ndarray]":
        state = OrderedDict(decay=np.array(self.decay), num_updates=np.array(self.num_updates, dtype=np.int64))
        state.update((f"shadow.{name}", average.copy()) for name, average in self.shadow.items())
        return state

    def load_state_dict(self, state: Mapping) -> None:
        expected = {"decay": (), "num_updates": (), **{f"shadow.{name}": a.shape for name, a in self.shadow.items()}}
        check_state_dict("EMA", expected, state)
        self.decay = float(state["decay"])
        self.num_updates = int(state["num_updates"])
        for name, average in self.shadow.items():
            average[...] = state[f"shadow.{name}"]
