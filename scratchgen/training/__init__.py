"""Training: the loop (trainer.py), each family's recipe (recipes/), run directories (runs.py), the
Python API that trains a config into a run directory (api.py), and the reference bands a run's log
is checked against (reference.py).

The metrics (PSNR, AUROC, ...) live in ``scratchgen.evaluation.metrics``.
"""
from .api import COMMON_OPTIONS, RunResult, make_config, start_run, train_run
from .recipes import RECIPES, Recipe, load_run
from .reference import CheckResult, check_run
from .runs import RunError, read_config, read_log, read_metrics
from .trainer import Trainer, TrainingDiverged

__all__ = ["COMMON_OPTIONS", "RECIPES", "CheckResult", "Recipe", "RunError", "RunResult", "Trainer",
           "TrainingDiverged", "check_run", "load_run", "make_config", "read_config", "read_log",
           "read_metrics", "start_run", "train_run"]
