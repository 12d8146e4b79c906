"""Evaluation: the metrics every model family is scored with (see docs/evaluation.md)."""
from .metrics import (
    PARZEN_SIGMAS,
    auroc,
    class_histogram,
    classifier_score,
    confusion_matrix,
    frechet_distance,
    frechet_distance_from_moments,
    kernel_distance,
    memorization_fraction,
    memorization_threshold,
    nats_to_bits_per_dim,
    nearest_distances,
    parzen_evaluation,
    parzen_log_likelihood,
    psnr,
    ssim,
    trace_sqrt_product,
)

__all__ = ["PARZEN_SIGMAS", "auroc", "class_histogram", "classifier_score", "confusion_matrix", "frechet_distance",
           "frechet_distance_from_moments", "kernel_distance", "memorization_fraction", "memorization_threshold",
           "nats_to_bits_per_dim", "nearest_distances",
           "parzen_evaluation", "parzen_log_likelihood", "psnr", "ssim", "trace_sqrt_product"]
