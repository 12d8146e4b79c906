"""The measurement of conditional generation (evaluation/conditional.py) on fake samplers whose answer is known.

The judge is a nearest-class-mean classifier of glyph digits (no training needed); CAS trains tiny
DigitClassifiers by the classifier recipe (what `scratchgen evaluate` passes, with a smaller width, batch and
fewer epochs), so it runs on few images and few epochs.
"""
import numpy as np
import pytest

from scratchgen.data.glyphs import generate
from scratchgen.evaluation import conditional
from scratchgen.training.api import train_on_arrays

PER_DIGIT = 100


class NearestMeanJudge:
    """Classifies an image as the digit whose mean training image is nearest; features: the 10 distances."""

    def __init__(self, images, labels):
        self.means = np.stack([images[labels == d].mean(axis=0).ravel() for d in range(10)])

    def features_and_probabilities(self, images):
        flat = np.asarray(images, np.float64).reshape(len(images), -1)
        distances = np.sqrt(((flat[:, None, :] - self.means[None]) ** 2).sum(axis=2))
        logits = -distances / 0.1
        exps = np.exp(logits - logits.max(axis=1, keepdims=True))
        return distances, exps / exps.sum(axis=1, keepdims=True)


@pytest.fixture(scope="module")
def glyphs():
    train, train_labels = generate(3000, 21)
    test, test_labels = generate(2000, 22)
    return train.astype(np.float32) / 255, train_labels, test.astype(np.float32) / 255, test_labels


def _real_sampler(images, labels):
    """draw(digit, n): the first n of ``images`` whose label is ``digit``."""
    return lambda digit, n: images[labels == digit][:n]


def test_requested_class_accuracy_of_real_images_is_the_judges_accuracy_on_them(glyphs):
    train, train_labels, test, test_labels = glyphs
    judge = NearestMeanJudge(train, train_labels)
    report = conditional.conditional_report(_real_sampler(test, test_labels), judge, train, test, PER_DIGIT)
    for digit in range(10):
        shown = test[test_labels == digit][:PER_DIGIT]
        judged = judge.features_and_probabilities(shown)[1].argmax(axis=1)
        assert report["per_class_accuracy"][digit] == pytest.approx(np.mean(judged == digit))
        assert sum(report["confusion"][digit]) == PER_DIGIT
    assert report["accuracy"] == pytest.approx(np.mean(report["per_class_accuracy"]))
    on_real = conditional.requested_class_accuracy(test, test_labels, judge)["accuracy"]
    assert 0.5 < on_real and report["accuracy"] == pytest.approx(on_real, abs=0.05)
    assert report["quality"]["n"] == 10 * PER_DIGIT and report["quality"]["samples"]["class_entropy"] > 2.2


def test_a_sampler_that_ignores_the_class_scores_chance(glyphs):
    # whatever the judge, images that do not depend on the requested digit are judged as that digit with
    # probability 1/10 on average over the digits
    train, train_labels, test, test_labels = glyphs
    rng = np.random.default_rng(0)
    ignoring = lambda digit, n: test[rng.choice(len(test), n, replace=False)]  # noqa: E731
    report = conditional.conditional_report(ignoring, NearestMeanJudge(train, train_labels), train, test, PER_DIGIT)
    assert report["accuracy"] == pytest.approx(0.1, abs=0.03)   # 5 standard errors of 1000 draws


def test_a_sampler_must_return_the_images_asked_for(glyphs):
    train, train_labels, test, test_labels = glyphs
    with pytest.raises(ValueError, match=r"draw\(0, 5\) returned 4 images"):
        conditional.draw_each_class(lambda digit, n: test[:n - 1], 5)


TINY_CLASSIFIER = dict(model="classifier", epochs=4, width=4, batch_size=10)
CAS_PER_DIGIT = 20
SEED = 0


def train_tiny_classifier(images, labels, seed):
    return train_on_arrays({**TINY_CLASSIFIER, "seed": seed}, images, labels)


@pytest.fixture(scope="module")
def real_baseline(glyphs):
    train, train_labels, test, test_labels = glyphs
    return conditional.real_baseline_accuracy(train, train_labels, CAS_PER_DIGIT, test[:500], test_labels[:500],
                                              train_tiny_classifier, seed=SEED)


def test_cas_of_real_training_images_is_the_real_baseline(glyphs, real_baseline):
    # the sampler returns the very images the baseline trains on: the two classifiers must be trained alike
    train, train_labels, test, test_labels = glyphs
    images, labels = conditional.real_training_subset(train, train_labels, np.repeat(np.arange(10), CAS_PER_DIGIT),
                                                      seed=SEED)
    cas = conditional.classification_accuracy_score(_real_sampler(images, labels), CAS_PER_DIGIT, test[:500],
                                                    test_labels[:500], train_tiny_classifier, seed=SEED)
    assert cas == real_baseline and cas["images"] == 10 * CAS_PER_DIGIT
    assert real_baseline["accuracy"] > 0.3   # learned something in 4 epochs: chance is 0.1


def test_cas_of_mislabelled_images_falls_below_the_baseline(glyphs, real_baseline):
    # images of digit d + 1 served as digit d: a classifier trained on them answers d for the images of d + 1
    train, train_labels, test, test_labels = glyphs
    shifted = lambda digit, n: train[train_labels == (digit + 1) % 10][:n]  # noqa: E731
    cas = conditional.classification_accuracy_score(shifted, CAS_PER_DIGIT, test[:500], test_labels[:500],
                                                     train_tiny_classifier, seed=SEED)
    assert cas["accuracy"] < real_baseline["accuracy"] - 0.2


def test_every_cas_classifier_is_trained_by_the_function_given_with_the_seed(glyphs):
    # one classifier per guidance weight and one for the real baseline, each given uint8 images of the digits
    # drawn, as many of each, and the evaluation's seed; a nearest-mean "training" keeps it fast
    train, train_labels, test, test_labels = glyphs
    given = []

    def train_nearest_mean(images, labels, seed):
        given.append((images.dtype, np.bincount(labels, minlength=10).tolist(), seed))
        return NearestMeanJudge(images / 255, labels)

    draw = lambda digit, n, weight: test[test_labels == digit][:n]  # noqa: E731
    judge = NearestMeanJudge(train, train_labels)
    report = conditional.conditional_evaluation(draw, [0.0, 1.0], judge, train, train_labels, test, test_labels,
                                                per_class=20, train_classifier=train_nearest_mean,
                                                cas_per_class=5, seed=7)
    assert given == [(np.uint8, [5] * 10, 7)] * 3
    assert [entry["cas"]["images"] for entry in report["by_guidance"]] == [50, 50]
    assert report["cas_real_baseline"]["images"] == 50 and report["cas_real_baseline"]["accuracy"] > 0.5
