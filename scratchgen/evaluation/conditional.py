"""Conditional generation measured: does a class-conditional model draw the digit it is asked for, how good
are its samples, and can a classifier learn the digits from its samples alone?

Every function takes ``draw(digit, n) -> n images`` (values in [0, 1]) of the requested digit, so DDPM at
each guidance weight, the CVAE, or a fake that returns real images are all measured the same way:

- the requested-class accuracy: the fraction of the samples of digit d that the judge (the classifier run
  of ``scratchgen evaluate --classifier``) classifies as d, per digit and overall, beside the judge's own
  accuracy on real test images of each digit;
- the quality of the same samples: ``harness.sample_report`` (classifier FID, KID, class entropy, ...);
- the classification accuracy score (CAS, Ravuri & Vinyals, "Classification Accuracy Score for Conditional
  Generative Models", NeurIPS 2019): a fresh classifier trained only on generated images, labelled by the
  digit requested, and tested on the real test images, beside the same classifier trained the same way on
  as many real training images of each digit. Both are trained by the one
  ``train_classifier(images, labels, seed) -> classifier`` the caller passes in: training sits above
  evaluation, and ``scratchgen evaluate`` passes the classifier recipe's (``training.api.train_on_arrays``).
"""
from __future__ import annotations

import numpy as np

from ..data import validation_start
from ..models.classifier import DigitClassifier
from .harness import as_unit_images, sample_report
from .metrics import confusion_matrix

NUM_CLASSES = 10


def draw_each_class(draw, per_class: int, num_classes: int = NUM_CLASSES) -> tuple[np.ndarray, np.ndarray]:
    """(images, requested digits): ``per_class`` draws of each digit 0..num_classes-1, digit by digit."""
    images = []
    for digit in range(num_classes):
        drawn = as_unit_images(draw(digit, per_class))
        if len(drawn) != per_class:
            raise ValueError(f"draw({digit}, {per_class}) returned {len(drawn)} images")
        images.append(drawn)
    return np.concatenate(images), np.repeat(np.arange(num_classes), per_class)


def requested_class_accuracy(images: np.ndarray, requested: np.ndarray, judge: DigitClassifier) -> dict:
    """How often the judge sees the requested digit: overall, per digit (the rows of the confusion matrix
    of requested against judged digits, normalized), and the confusion counts themselves."""
    _, probabilities = judge.features_and_probabilities(as_unit_images(images))
    num_classes = probabilities.shape[1]
    counts = confusion_matrix(requested, probabilities.argmax(axis=1), num_classes)
    per_digit = np.diag(counts) / np.maximum(counts.sum(axis=1), 1)
    return {"accuracy": float(np.trace(counts) / counts.sum()), "per_class_accuracy": per_digit.tolist(),
            "confusion": counts.tolist()}


def conditional_report(draw, judge: DigitClassifier, train_images: np.ndarray, test_images: np.ndarray,
                       per_class: int, *, seed: int = 0) -> dict:
    """The requested-class accuracy and the sample quality of ``per_class`` draws of every digit."""
    images, requested = draw_each_class(draw, per_class)
    # sample_report keeps as many samples as there are test images: shuffled, the digits stay balanced
    shuffled = images[np.random.default_rng(seed).permutation(len(images))]
    return {"per_class": per_class, **requested_class_accuracy(images, requested, judge),
            "quality": sample_report(shuffled, judge, train_images, test_images, seed=seed)}


def trained_classifier_accuracy(images: np.ndarray, labels: np.ndarray, test_images: np.ndarray,
                                test_labels: np.ndarray, train_classifier, seed: int) -> dict:
    """Accuracy on the real test images, overall and per digit, of ``train_classifier(images, labels, seed)``.
    It is given the images as uint8 (values in [0, 1] rounded to 1/255), as datasets hold them, and the
    labels as int64."""
    as_bytes = np.round(as_unit_images(images) * 255).astype(np.uint8)
    model = train_classifier(as_bytes, np.asarray(labels, np.int64), seed)
    scores = requested_class_accuracy(test_images, test_labels, model)
    return {"images": len(images), "accuracy": scores["accuracy"], "per_class_accuracy": scores["per_class_accuracy"]}


def real_training_subset(train_images: np.ndarray, train_labels: np.ndarray, labels: np.ndarray,
                         seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """As many real training images of each digit as ``labels`` has, drawn at random (seeded) from the images
    before the validation split (``data.validation_start``: the ones generative runs train on)."""
    cut = validation_start(len(train_images))
    pool_images, pool_labels = train_images[:cut], np.asarray(train_labels)[:cut]
    rng = np.random.default_rng(seed)
    chosen = []
    for digit, count in enumerate(np.bincount(labels, minlength=NUM_CLASSES)):
        candidates = np.flatnonzero(pool_labels == digit)
        if count > len(candidates):
            raise ValueError(f"the real baseline needs {count} training images of digit {digit}, "
                             f"the training split has {len(candidates)}")
        chosen.append(rng.choice(candidates, count, replace=False))
    chosen = np.concatenate(chosen)
    return pool_images[chosen], pool_labels[chosen]


def classification_accuracy_score(draw, per_class: int, test_images: np.ndarray, test_labels: np.ndarray,
                                  train_classifier, *, seed: int = 0) -> dict:
    """CAS: the test accuracy of a classifier trained (``trained_classifier_accuracy``) only on ``per_class``
    draws of every digit, labelled by the digit requested. Compare with ``real_baseline_accuracy`` of the same
    ``per_class``, ``train_classifier`` and ``seed``."""
    images, requested = draw_each_class(draw, per_class)
    return trained_classifier_accuracy(images, requested, test_images, test_labels, train_classifier, seed)


def real_baseline_accuracy(train_images: np.ndarray, train_labels: np.ndarray, per_class: int,
                           test_images: np.ndarray, test_labels: np.ndarray, train_classifier, *,
                           seed: int = 0) -> dict:
    """The CAS of real data: the same classifier, trained the same way on ``per_class`` real training images
    of every digit (drawn with ``seed``)."""
    images, labels = real_training_subset(train_images, train_labels, np.repeat(np.arange(NUM_CLASSES), per_class),
                                          seed)
    return trained_classifier_accuracy(images, labels, test_images, test_labels, train_classifier, seed)


def conditional_evaluation(draw, weights, judge: DigitClassifier, train_images: np.ndarray, train_labels: np.ndarray,
                           test_images: np.ndarray, test_labels: np.ndarray, *, per_class: int, train_classifier,
                           cas_per_class: int = 0, seed: int = 0) -> dict:
    """Everything above for ``draw(digit, n, weight)`` at each guidance weight of ``weights`` ([None] for a
    model without guidance): the judge's accuracy on real test images of each digit (what samples as
    recognizable as real digits would score), then per weight the ``conditional_report`` of ``per_class``
    draws of each digit and, when ``cas_per_class`` > 0, the CAS of ``cas_per_class`` further draws, beside
    the real baseline, both by ``train_classifier(images, labels, seed)``."""
    report = {"judge_on_real_test": requested_class_accuracy(test_images, test_labels, judge), "by_guidance": []}
    for weight in weights:
        at_weight = lambda digit, n: draw(digit, n, weight)  # noqa: E731
        entry = {} if weight is None else {"guidance": weight}
        entry.update(conditional_report(at_weight, judge, train_images, test_images, per_class, seed=seed))
        if cas_per_class:
            entry["cas"] = classification_accuracy_score(at_weight, cas_per_class, test_images, test_labels,
                                                         train_classifier, seed=seed)
        report["by_guidance"].append(entry)
    if cas_per_class:
        report["cas_real_baseline"] = real_baseline_accuracy(train_images, train_labels, cas_per_class, test_images,
                                                             test_labels, train_classifier, seed=seed)
    return report
