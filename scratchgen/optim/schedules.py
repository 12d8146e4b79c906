"""Learning-rate schedules: each sets ``group["lr"]`` of an optimizer's groups as training goes.

A schedule is a pure function ``lr_at(base_lr, step)`` of the base learning rate (the lr the
group had when the first schedule was attached, kept in ``group["initial_lr"]`` as PyTorch
does) and the number of ``step()`` calls so far. Building a schedule applies step 0; call
``step()`` once per optimizer step (or per epoch) after ``optimizer.step()``.

Because the lr is a closed-form function of the step, a resumed schedule (``load_state_dict``)
gives exactly the lrs an uninterrupted one would, and schedules compose: ``LinearWarmup(opt, 500,
after=CosineAnnealingLR(opt, T_max=10_000))`` warms up, then hands over.
"""
from __future__ import annotations

import math
from collections import OrderedDict
from typing import Mapping

import numpy as np

from ..nn.layers import positive_int
from ..nn.serialization import check_state_dict
from .optimizers import Optimizer


class LRScheduler:
    """Base class: ``step()``, ``get_last_lr()``, ``state_dict()``/``load_state_dict()``."""

    def __init__(self, optimizer: Optimizer):
        self.optimizer = optimizer
        for group in optimizer.param_groups:
            group.setdefault("initial_lr", group["lr"])
        self.base_lrs = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_step = 0
        self._apply()

    def lr_at(self, base_lr: float, step: int) -> float:
        raise NotImplementedError

    def _apply(self) -> None:
        for group, base_lr in zip(self.optimizer.param_groups, self.base_lrs):
            group["lr"] = self.lr_at(base_lr, self.last_step)

    def step(self) -> None:
        self.last_step += 1
        self._apply()

    def get_last_lr(self) -> list[float]:
        """The lr of each parameter group, as set by the latest step."""
        return [group["lr"] for group in self.optimizer.param_groups]

    def state_dict(self) -> "OrderedDict[str, np.ndarray]":
        return OrderedDict(last_step=np.array(self.last_step, dtype=np.int64), base_lrs=np.array(self.base_lrs))

    def load_state_dict(self, state: Mapping) -> None:
        """Resume at the saved step (the schedule's settings come from its constructor)."""
        check_state_dict(type(self).__name__, {"last_step": (), "base_lrs": (len(self.base_lrs),)}, state)
        self.last_step = int(state["last_step"])
        self.base_lrs = [float(lr) for lr in state["base_lrs"]]
        self._apply()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(last_step={self.last_step}, lr={self.get_last_lr()})"


class StepLR(LRScheduler):
    """lr = base_lr * gamma^(floor(step / step_size)): multiply by gamma every ``step_size`` steps."""

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1):
        self.step_size = positive_int("StepLR", "step_size", step_size)
        self.gamma = float(gamma)
        super().__init__(optimizer)

    def lr_at(self, base_lr: float, step: int) -> float:
        return base_lr * self.gamma ** (step // self.step_size)


class CosineAnnealingLR(LRScheduler):
    """lr = eta_min + (base_lr - eta_min) (1 + cos(pi step / T_max)) / 2 (Loshchilov & Hutter 2017).

    Falls from base_lr to eta_min over T_max steps; past T_max it rises again along the cosine,
    as PyTorch's does, so set T_max to the length of training.
    """

    def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0):
        self.T_max = positive_int("CosineAnnealingLR", "T_max", T_max)
        self.eta_min = float(eta_min)
        super().__init__(optimizer)

    def lr_at(self, base_lr: float, step: int) -> float:
        return self.eta_min + (base_lr - self.eta_min) * (1 + math.cos(math.pi * step / self.T_max)) / 2


class LinearWarmup(LRScheduler):
    """lr = base_lr (step + 1) / warmup_steps for the first ``warmup_steps`` steps, then ``after``'s lr.

    The first update already uses a non-zero lr, and step ``warmup_steps - 1`` the full one.
    ``after`` (a schedule over the same optimizer) then runs from its own step 0; it is driven
    by this schedule, so call ``step()`` on the warmup only. Without ``after`` the lr stays at base_lr.
    """

    def __init__(self, optimizer: Optimizer, warmup_steps: int, after: LRScheduler | None = None):
        self.warmup_steps = positive_int("LinearWarmup", "warmup_steps", warmup_steps)
        if after is not None and after.optimizer is not optimizer:
            raise ValueError("LinearWarmup: the schedule given as 'after' must drive the same optimizer")
        self.after = after
        super().__init__(optimizer)

    def lr_at(self, base_lr: float, step: int) -> float:
        if step < self.warmup_steps:
            return base_lr * (step + 1) / self.warmup_steps
        if self.after is None:
            return base_lr
        return self.after.lr_at(base_lr, step - self.warmup_steps)
