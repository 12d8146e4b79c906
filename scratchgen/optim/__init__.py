"""Optimizers, learning-rate schedules and the parameter EMA, with PyTorch's update rules.

    import scratchgen.optim as optim
    optimizer = optim.Adam(model.parameters(), lr=2e-4)
    schedule = optim.LinearWarmup(optimizer, 500, after=optim.CosineAnnealingLR(optimizer, T_max=10_000))
    ema = optim.EMA(model, decay=0.999)
    # per step: optimizer.zero_grad(); loss.backward(); optimizer.step(); schedule.step(); ema.update()

See docs/nn.md for the update equations.
"""
from .ema import EMA
from .optimizers import SGD, Adam, AdamW, Optimizer, clip_grad_norm_
from .schedules import CosineAnnealingLR, LinearWarmup, LRScheduler, StepLR

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "clip_grad_norm_", "LRScheduler", "StepLR", "CosineAnnealingLR",
           "LinearWarmup", "EMA"]
