"""Training: the shared loop (trainer.py), figures, and run directories (runs.py).

The metrics (PSNR, AUROC, ...) live in ``scratchgen.evaluation.metrics``.
"""
from .trainer import Trainer, TrainingDiverged

__all__ = ["Trainer", "TrainingDiverged"]
