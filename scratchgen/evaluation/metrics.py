"""Sample-quality, likelihood and restoration metrics, in plain NumPy.

Every function takes arrays and returns numbers; none knows about models. The feature-based
metrics (Fréchet distance, kernel distance, classifier score) take features or class
probabilities computed by a classifier elsewhere. Images are arrays of values in [0, 1].
"""
from __future__ import annotations

import math

import numpy as np


# ------------------------------------------------------------------------- Fréchet distance
def trace_sqrt_product(cov_a: np.ndarray, cov_b: np.ndarray) -> float:
    """tr( (cov_a cov_b)^(1/2) ) for symmetric positive semi-definite covariances.

    cov_a cov_b is not symmetric, so its square root is unstable to compute directly. But it is
    similar to the symmetric PSD matrix S = A^(1/2) cov_b A^(1/2) with A^(1/2) the symmetric
    square root of cov_a (S = A^(-1/2) (cov_a cov_b) A^(1/2) when cov_a is invertible, and by
    continuity otherwise), so both have the same eigenvalues; the trace of the square root is
    the sum of their square roots. Two symmetric eigendecompositions, no complex arithmetic.
    """
    eigenvalues, eigenvectors = np.linalg.eigh(cov_a)
    sqrt_a = (eigenvectors * np.sqrt(np.clip(eigenvalues, 0, None))) @ eigenvectors.T
    symmetric = sqrt_a @ cov_b @ sqrt_a
    product_eigenvalues = np.linalg.eigvalsh((symmetric + symmetric.T) / 2)
    return float(np.sum(np.sqrt(np.clip(product_eigenvalues, 0, None))))


def frechet_distance_from_moments(mean_a, cov_a, mean_b, cov_b) -> float:
    """||mu_a - mu_b||^2 + tr(cov_a) + tr(cov_b) - 2 tr((cov_a cov_b)^(1/2)).

    The squared 2-Wasserstein distance between the Gaussians N(mu_a, cov_a) and N(mu_b, cov_b)
    (Dowson & Landau 1982), which is what FID computes on network features.
    """
    diff = np.asarray(mean_a, np.float64) - np.asarray(mean_b, np.float64)
    value = diff @ diff + np.trace(cov_a) + np.trace(cov_b) - 2 * trace_sqrt_product(cov_a, cov_b)
    return float(max(value, 0.0))  # round-off can leave a tiny negative number for equal moments


def frechet_distance(features_a: np.ndarray, features_b: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to two sets of features (rows are samples)."""
    a, b = (np.asarray(f, np.float64) for f in (features_a, features_b))
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1] or min(len(a), len(b)) < 2:
        raise ValueError(f"frechet_distance: expected two (N, D) feature arrays with N >= 2, "
                         f"got {a.shape} and {b.shape}")
    return frechet_distance_from_moments(a.mean(0), np.cov(a, rowvar=False), b.mean(0), np.cov(b, rowvar=False))


# ------------------------------------------------------------------------- kernel distance
def _polynomial_kernel(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    # k(x, y) = (x.y / d + 1)^3, the kernel of Binkowski et al. 2018
    return (x @ y.T / x.shape[1] + 1.0) ** 3


def kernel_distance(features_a: np.ndarray, features_b: np.ndarray, *, subsets: int = 10,
                    subset_size: int = 1000, seed: int = 0) -> tuple[float, float]:
    """Kernel (inception) distance: unbiased MMD^2 with a cubic polynomial kernel.

    Averaged over ``subsets`` random subsets of ``subset_size`` rows from each set; returns
    (mean, standard deviation over subsets). Unbiased: the diagonal terms k(x, x) are left out,
    so equal distributions give 0 on average (single subsets may be slightly negative).
    """
    a, b = (np.asarray(f, np.float64) for f in (features_a, features_b))
    m = min(subset_size, len(a), len(b))
    if m < 2:
        raise ValueError("kernel_distance: needs at least 2 samples in each set")
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(subsets):
        x = a[rng.choice(len(a), m, replace=False)]
        y = b[rng.choice(len(b), m, replace=False)]
        k_xx, k_yy, k_xy = _polynomial_kernel(x, x), _polynomial_kernel(y, y), _polynomial_kernel(x, y)
        within = (k_xx.sum() - np.trace(k_xx) + k_yy.sum() - np.trace(k_yy)) / (m * (m - 1))
        values.append(within - 2 * k_xy.mean())
    return float(np.mean(values)), float(np.std(values))


# ------------------------------------------------------------------------- class predictions
def classifier_score(probabilities: np.ndarray, splits: int = 10) -> tuple[float, float]:
    """The Inception Score computed with our classifier: exp( E_x KL(p(y|x) || p(y)) ).

    High when each sample is classified confidently (low-entropy p(y|x)) and the classes are
    used evenly (high-entropy p(y)); at most the number of classes. Mean and standard deviation
    over ``splits`` equal parts, as in Salimans et al. 2016.
    """
    p = np.asarray(probabilities, np.float64)
    if p.ndim != 2 or len(p) < splits:
        raise ValueError(f"classifier_score: expected (N, K) probabilities with N >= {splits}, got {p.shape}")
    scores = []
    for part in np.array_split(p, splits):
        marginal = part.mean(axis=0, keepdims=True)
        kl = np.sum(part * (np.log(part + 1e-12) - np.log(marginal + 1e-12)), axis=1)
        scores.append(math.exp(kl.mean()))
    return float(np.mean(scores)), float(np.std(scores))


def class_histogram(probabilities: np.ndarray) -> tuple[np.ndarray, float]:
    """Counts of the predicted classes and the entropy (nats) of their frequencies.

    The entropy is log(K) when every class is generated equally often and 0 when a generator
    produces a single class: a direct check for mode collapse.
    """
    p = np.asarray(probabilities)
    counts = np.bincount(p.argmax(axis=1), minlength=p.shape[1])
    freq = counts[counts > 0] / counts.sum()
    return counts, float(-np.sum(freq * np.log(freq)))


def confusion_matrix(labels: np.ndarray, predictions: np.ndarray, num_classes: int) -> np.ndarray:
    """counts[i, j] = number of images of class i predicted as class j; the trace counts the correct ones."""
    labels, predictions = np.asarray(labels, np.int64), np.asarray(predictions, np.int64)
    if labels.shape != predictions.shape:
        raise ValueError(f"confusion_matrix: {labels.shape} labels but {predictions.shape} predictions")
    return np.bincount(labels * num_classes + predictions, minlength=num_classes**2).reshape(num_classes, num_classes)


# ------------------------------------------------------------------------- memorization
def nearest_distances(queries: np.ndarray, references: np.ndarray, batch_size: int = 1000) -> np.ndarray:
    """Euclidean distance from each query row to its nearest reference row (batched)."""
    q = np.asarray(queries, np.float64).reshape(len(queries), -1)
    r = np.asarray(references, np.float64).reshape(len(references), -1)
    r_sq = np.sum(r * r, axis=1)
    nearest = np.empty(len(q))
    for start in range(0, len(q), batch_size):
        block = q[start:start + batch_size]
        # ||q - r||^2 = ||q||^2 + ||r||^2 - 2 q.r, one matrix product per block
        squared = np.sum(block * block, axis=1, keepdims=True) + r_sq - 2 * block @ r.T
        nearest[start:start + batch_size] = np.sqrt(np.clip(squared.min(axis=1), 0, None))
    return nearest


def memorization_threshold(train: np.ndarray, test: np.ndarray, quantile: float = 0.05) -> float:
    """The ``quantile`` of the test images' distances to their nearest training image.

    Real unseen images fall below it with probability ``quantile`` by construction.
    """
    return float(np.quantile(nearest_distances(test, train), quantile))


def memorization_fraction(samples: np.ndarray, train: np.ndarray, threshold: float) -> float:
    """Fraction of samples closer to a training image than ``threshold`` (see memorization_threshold).

    A generator that generalizes like real data scores about the threshold's quantile; one that
    copies its training set scores far more.
    """
    return float(np.mean(nearest_distances(samples, train) < threshold))


# ------------------------------------------------------------------------- Parzen window
PARZEN_SIGMAS = np.logspace(-1, 0, 10)


def parzen_log_likelihood(samples: np.ndarray, points: np.ndarray, sigma: float, batch_size: int = 100) -> np.ndarray:
    """log p(x) for each point under a Gaussian kernel density on the samples (Goodfellow et al. 2014).

    p(x) = 1/N sum_i N(x; s_i, sigma^2 I), so
    log p(x) = logsumexp_i( -||x - s_i||^2 / (2 sigma^2) ) - log N - d/2 log(2 pi sigma^2).
    """
    s = np.asarray(samples, np.float64).reshape(len(samples), -1)
    x = np.asarray(points, np.float64).reshape(len(points), -1)
    d = s.shape[1]
    s_sq = np.sum(s * s, axis=1)
    out = np.empty(len(x))
    for start in range(0, len(x), batch_size):
        block = x[start:start + batch_size]
        squared = np.clip(np.sum(block * block, axis=1, keepdims=True) + s_sq - 2 * block @ s.T, 0, None)
        exponent = -squared / (2 * sigma**2)
        shift = exponent.max(axis=1, keepdims=True)  # logsumexp, stable
        out[start:start + batch_size] = (shift[:, 0] + np.log(np.exp(exponent - shift).sum(axis=1))
                                         - math.log(len(s)) - d / 2 * math.log(2 * math.pi * sigma**2))
    return out


def parzen_evaluation(samples: np.ndarray, validation: np.ndarray, test: np.ndarray,
                      sigmas: np.ndarray = PARZEN_SIGMAS) -> dict:
    """Choose sigma by mean validation log-likelihood, then report the test mean and its standard error."""
    validation_means = [float(parzen_log_likelihood(samples, validation, s).mean()) for s in sigmas]
    sigma = float(sigmas[int(np.argmax(validation_means))])
    values = parzen_log_likelihood(samples, test, sigma)
    return {"sigma": sigma, "mean": float(values.mean()),
            "standard_error": standard_error(values),
            "validation_means": dict(zip(map(float, sigmas), validation_means))}


# ------------------------------------------------------------------------- likelihoods
def standard_error(values: np.ndarray) -> float:
    """The standard error of the mean of ``values`` (at least two): their sample std (ddof 1) / sqrt(n)."""
    values = np.asarray(values, dtype=np.float64)
    return float(values.std(ddof=1) / math.sqrt(len(values)))


def nats_to_bits_per_dim(nats_per_image: float, dimensions: int) -> float:
    """A negative log-likelihood in nats per image as bits per dimension: nats / (D ln 2)."""
    return nats_per_image / (dimensions * math.log(2))


# ------------------------------------------------------------------------- restoration
def psnr(restored: np.ndarray, clean: np.ndarray, data_range: float = 1.0, where: np.ndarray | None = None) -> float:
    """Peak signal-to-noise ratio in dB, averaged over images: mean_n 10 log10(range^2 / MSE_n).

    MSE_n is the per-pixel mean squared error of image n — over the pixels where ``where`` (boolean,
    shaped like the images) is True, e.g. an inpainted hole — floored at 1e-10 (so identical
    images score 100 dB instead of infinity).
    """
    x = np.asarray(restored, np.float64).reshape(len(restored), -1)
    y = np.asarray(clean, np.float64).reshape(len(clean), -1)
    if x.shape != y.shape:
        raise ValueError(f"psnr: restored {x.shape} and clean {y.shape} differ")
    pixels = np.ones(x.shape, bool) if where is None else np.broadcast_to(where, restored.shape).reshape(x.shape)
    mse = np.maximum(np.sum((x - y) ** 2 * pixels, axis=1) / np.maximum(pixels.sum(axis=1), 1), 1e-10)
    return float(np.mean(10 * np.log10(data_range**2 / mse)))


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


def _gaussian_window(size: int = 11, sigma: float = 1.5) -> np.ndarray:
    offsets = np.arange(size) - (size - 1) / 2
    g = np.exp(-offsets**2 / (2 * sigma**2))
    return g / g.sum()


def _filter_valid(images: np.ndarray, window: np.ndarray) -> np.ndarray:
    """Separable 'valid' filtering of (N, H, W) images with a 1-D window along both axes."""
    k = len(window)
    rows = sum(window[i] * images[:, i:images.shape[1] - k + 1 + i, :] for i in range(k))
    return sum(window[j] * rows[:, :, j:rows.shape[2] - k + 1 + j] for j in range(k))


def ssim(restored: np.ndarray, clean: np.ndarray, data_range: float = 1.0) -> float:
    """Mean structural similarity (Wang et al. 2004) with an 11x11 Gaussian window, sigma 1.5.

    SSIM = (2 mu_x mu_y + C1)(2 cov_xy + C2) / ((mu_x^2 + mu_y^2 + C1)(var_x + var_y + C2)),
    C1 = (0.01 L)^2, C2 = (0.03 L)^2, with local statistics from the window, averaged over the
    positions where the window fits, then over the images (N, H, W) or (N, 1, H, W).
    """
    x, y = (np.asarray(a, np.float64) for a in (restored, clean))
    if x.shape != y.shape:
        raise ValueError(f"ssim: shapes {x.shape} and {y.shape} differ")
    x, y = x.reshape(-1, *x.shape[-2:]), y.reshape(-1, *y.shape[-2:])
    window = _gaussian_window()
    if min(x.shape[-2:]) < len(window):
        raise ValueError(f"ssim: images must be at least {len(window)}x{len(window)}, got {x.shape[-2:]}")
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    mu_x, mu_y = _filter_valid(x, window), _filter_valid(y, window)
    var_x = _filter_valid(x * x, window) - mu_x**2
    var_y = _filter_valid(y * y, window) - mu_y**2
    cov = _filter_valid(x * y, window) - mu_x * mu_y
    index = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2))
    return float(index.mean())
