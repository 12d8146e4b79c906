"""The harness: baselines beside every score, refusing a classifier from another dataset."""
import numpy as np
import pytest

import scratchgen as sg
from scratchgen.data import validation_start
from scratchgen.data.glyphs import generate
from scratchgen.evaluation.harness import (
    ClassifierMismatchError,
    as_unit_images,
    check_classifier_dataset,
    parzen_report,
    parzen_split,
    sample_report,
)
from scratchgen.models.classifier import FEATURE_DIM, DigitClassifier


@pytest.fixture(scope="module")
def digits():
    return generate(400, seed=1)[0], generate(200, seed=2)[0]


def test_report_scores_samples_beside_a_real_baseline_and_flags_a_constant_generator(digits):
    train, test = digits
    sg.manual_seed(0)
    classifier = DigitClassifier(width=4)
    constant = np.repeat(train[:1], 150, axis=0)
    report = sample_report(constant, classifier, train, test)
    assert report["n"] == 150
    for part in ("samples", "real_baseline"):
        assert set(report[part]) >= {"fid", "kid", "classifier_score", "class_entropy", "class_counts", "memorization"}
    assert report["samples"]["class_entropy"] == pytest.approx(0.0)  # one image: one predicted class
    assert report["samples"]["memorization"] == 1.0       # a copy of a training image
    assert report["samples"]["fid"] > report["real_baseline"]["fid"]
    assert report["real_baseline"]["memorization"] < 0.5  # held-out real images are not copies


def test_features_have_the_documented_size(digits):
    sg.manual_seed(0)
    features, probabilities = DigitClassifier(width=4).features_and_probabilities(digits[1][:7])
    assert features.shape == (7, FEATURE_DIM) and probabilities.shape == (7, 10)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)


def test_parzen_is_higher_for_real_images_than_for_noise(digits):
    train, test = digits
    noise = parzen_report(np.random.default_rng(0).uniform(size=(200, 28, 28)), train, test)
    assert noise["n"] == 200 and noise["test_images"] == len(test)
    assert noise["real_baseline"]["mean"] > noise["samples"]["mean"]


def test_parzen_validation_is_held_out_of_the_baseline_pool():
    pool, validation = parzen_split(np.arange(60000))
    assert validation[0] == 55000 and len(validation) == 1000 and pool[-1] == 54999 and len(pool) == 55000
    pool, validation = parzen_split(np.arange(400))
    assert len(validation) == 34 and len(pool) == 366 and pool[-1] < validation[0]


def test_parzen_sigma_is_chosen_on_the_validation_images(digits):
    """Samples that copy the validation images (the last twelfth of the training split) make the
    narrowest kernel the likeliest there; chosen on any other images, sigma would be wider."""
    train, test = digits
    validation = train[validation_start(len(train)):]
    copies = parzen_report(validation, train, test)
    assert copies["samples"]["sigma"] == pytest.approx(0.1)
    assert parzen_report(train[:len(validation)], train, test)["samples"]["sigma"] > 0.1


def test_classifier_from_another_dataset_is_refused():
    check_classifier_dataset("mnist", "mnist")
    with pytest.raises(ClassifierMismatchError, match="scratchgen train classifier --data fashion-mnist"):
        check_classifier_dataset("mnist", "fashion-mnist")


def test_images_outside_the_unit_range_are_rejected():
    with pytest.raises(ValueError, match=r"values in \[0, 1\]"):
        as_unit_images(np.full((2, 28, 28), 3.0))
