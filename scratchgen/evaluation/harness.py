"""The evaluation harness: every generative model's samples scored the same way.

Each score of the samples is printed beside the same score of *real* images — training images
against test images, with the same number N — because feature-based scores are biased by N
and mean little without that baseline.
"""
from __future__ import annotations

import numpy as np

from ..data import validation_start
from ..models.classifier import DigitClassifier
from .metrics import (
    class_histogram,
    classifier_score,
    frechet_distance,
    kernel_distance,
    memorization_fraction,
    memorization_threshold,
    parzen_evaluation,
)

MEMORIZATION_QUANTILE = 0.05


class ClassifierMismatchError(ValueError):
    """The judging classifier was trained on another dataset than the samples are compared with."""


def check_classifier_dataset(classifier_dataset: str, data: str) -> None:
    if classifier_dataset != data:
        raise ClassifierMismatchError(
            f"the classifier was trained on {classifier_dataset!r} but the samples are scored against {data!r}; "
            f"train one on that dataset with: scratchgen train classifier --data {data}")


def as_unit_images(images: np.ndarray) -> np.ndarray:
    """Images as float32 in [0, 1] of shape (N, 28, 28): uint8 data is divided by 255."""
    images = np.asarray(images)
    if images.dtype == np.uint8:
        return images.astype(np.float32) / 255
    images = images.astype(np.float32).reshape(len(images), *images.shape[-2:])
    if images.min() < -1e-3 or images.max() > 1 + 1e-3:
        raise ValueError(f"expected images with values in [0, 1], "
                         f"got values from {images.min():.3g} to {images.max():.3g}")
    return np.clip(images, 0, 1)


def _feature_scores(features, probabilities, reference_features, seed) -> dict:
    counts, entropy = class_histogram(probabilities)
    score, score_std = classifier_score(probabilities)
    kid, kid_std = kernel_distance(features, reference_features, seed=seed)
    return {"fid": frechet_distance(features, reference_features), "kid": kid, "kid_std": kid_std,
            "classifier_score": score, "classifier_score_std": score_std,
            "class_entropy": entropy, "class_counts": counts.tolist()}


def sample_report(samples: np.ndarray, classifier: DigitClassifier, train_images: np.ndarray,
                  test_images: np.ndarray, *, seed: int = 0) -> dict:
    """Classifier FID, KID, classifier score, class histogram and memorization for ``samples``.

    The reference set is the first N test images (N = number of samples, at most the test set);
    the real-data baseline scores N random training images against the same reference.
    """
    samples = as_unit_images(samples)
    test = as_unit_images(test_images)
    n = min(len(samples), len(test))
    samples, test = samples[:n], test[:n]
    train = as_unit_images(train_images)
    chosen = np.random.default_rng(seed).choice(len(train), n, replace=False)

    test_features, _ = classifier.features_and_probabilities(test)
    threshold = memorization_threshold(train, test, MEMORIZATION_QUANTILE)
    report = {"n": n, "memorization_threshold": threshold, "memorization_quantile": MEMORIZATION_QUANTILE}
    # The real images' own copies are left out of the memorization reference: they stand for
    # images the generator has never seen, and should score about the quantile.
    for name, images, references in (("samples", samples, train),
                                     ("real_baseline", train[chosen], np.delete(train, chosen, axis=0))):
        features, probabilities = classifier.features_and_probabilities(images)
        report[name] = _feature_scores(features, probabilities, test_features, seed)
        report[name]["memorization"] = memorization_fraction(images, references, threshold)
    return report


def _flat(images: np.ndarray) -> np.ndarray:
    return images.reshape(len(images), -1)


def parzen_split(train: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(pool, validation) of a whole training split: sigma is chosen on the first 1,000 of its validation
    images (``data.validation_start``; of MNIST's, train[55000:56000]), images that no run holding them
    out has trained on, as Goodfellow et al. 2014 chose it on their validation set, train[50000:60000];
    the real baseline's kernels come from the pool, the training images before them."""
    cut = validation_start(len(train))
    return train[:cut], train[cut:cut + 1000]


def parzen_report(samples: np.ndarray, train_images: np.ndarray, test_images: np.ndarray, *, seed: int = 0) -> dict:
    """The Parzen-window log-likelihood with the protocol of Goodfellow et al. 2014, and its real baseline.

    ``train_images`` is the dataset's whole training split, validation images included.
    sigma is chosen from 10 values in logspace(-1, 0) by the mean log-likelihood of the validation
    images (``parzen_split``); the result is the mean over the test images with its standard
    error, in nats, for images in [0, 1] flattened to 784 dimensions. The baseline puts the
    kernels on N random pool images instead of the N samples.
    """
    pool, validation = parzen_split(as_unit_images(train_images))
    samples, test = _flat(as_unit_images(samples)), _flat(as_unit_images(test_images))
    n = min(len(samples), len(pool))
    real = pool[np.random.default_rng(seed).choice(len(pool), n, replace=False)]
    return {"n": len(samples), "test_images": len(test),
            "samples": parzen_evaluation(samples, _flat(validation), test),
            "real_baseline": parzen_evaluation(_flat(real), _flat(validation), test)}
