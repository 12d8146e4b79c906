"""Training: the shared loop (trainer.py), figures, metrics, and run directories (runs.py)."""
from .metrics import auroc, psnr
from .trainer import Trainer, TrainingDiverged

__all__ = ["Trainer", "TrainingDiverged", "auroc", "psnr"]
