"""Metrics in plain NumPy: PSNR for reconstructions, AUROC for anomaly scores."""
from __future__ import annotations

import numpy as np


def psnr(estimate: np.ndarray, target: np.ndarray, peak: float = 1.0) -> float:
    """Peak signal-to-noise ratio in dB, averaged over images: mean_n 10 log10(peak^2 / MSE_n).

    MSE_n is the per-pixel mean squared error of image n (floored at 1e-10).
    """
    e = np.asarray(estimate, np.float64).reshape(len(estimate), -1)
    t = np.asarray(target, np.float64).reshape(len(target), -1)
    if e.shape != t.shape:
        raise ValueError(f"psnr: estimate {e.shape} and target {t.shape} differ")
    mse = np.maximum(np.mean((e - t) ** 2, axis=1), 1e-10)
    return float(np.mean(10 * np.log10(peak ** 2 / mse)))


def auroc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Area under the ROC curve: P(score of a positive > score of a negative), ties counting 1/2.

    Computed from ranks (the Mann-Whitney U statistic): with average ranks r over all scores,
    AUROC = (sum of the positives' ranks - P (P + 1) / 2) / (P N).
    """
    scores = np.asarray(scores, np.float64).ravel()
    labels = np.asarray(labels).astype(bool).ravel()
    if scores.shape != labels.shape:
        raise ValueError(f"auroc: {scores.shape[0]} scores but {labels.shape[0]} labels")
    n_pos, n_neg = int(labels.sum()), int((~labels).sum())
    if n_pos == 0 or n_neg == 0:
        raise ValueError("auroc: needs at least one positive and one negative")
    order = np.argsort(scores, kind="mergesort")
    sorted_scores = scores[order]
    ranks = np.empty(len(scores))
    # average rank within each group of tied scores (ranks start at 1)
    boundaries = np.flatnonzero(np.diff(sorted_scores)) + 1
    starts = np.concatenate([[0], boundaries])
    ends = np.concatenate([boundaries, [len(scores)]])
    for s, e in zip(starts, ends):
        ranks[order[s:e]] = (s + 1 + e) / 2
    return float((ranks[labels].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))
