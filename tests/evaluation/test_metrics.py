"""Every metric on cases whose answer is known in closed form."""
import math

import numpy as np
import pytest

from scratchgen.evaluation import (
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


def random_spd(rng, d):
    a = rng.standard_normal((d, d))
    return a @ a.T + 0.1 * np.eye(d)


def test_trace_sqrt_product_matches_a_known_square_root():
    rng = np.random.default_rng(0)
    root = random_spd(rng, 4)
    # for cov_a = I, (cov_a cov_b)^(1/2) = cov_b^(1/2) = root when cov_b = root^2
    assert trace_sqrt_product(np.eye(4), root @ root) == pytest.approx(np.trace(root), rel=1e-10)
    # commuting diagonal matrices: sqrt of the product is the product of the square roots
    assert trace_sqrt_product(np.diag([1.0, 4.0]), np.diag([9.0, 16.0])) == pytest.approx(3 + 8)


def test_frechet_distance_between_diagonal_gaussians_is_closed_form():
    mean_a, mean_b = np.array([0.0, 1.0, -2.0]), np.array([1.0, 1.0, 0.0])
    std_a, std_b = np.array([1.0, 2.0, 0.5]), np.array([2.0, 1.0, 0.5])
    expected = np.sum((mean_a - mean_b) ** 2) + np.sum((std_a - std_b) ** 2)  # W2^2 for diagonal Gaussians
    value = frechet_distance_from_moments(mean_a, np.diag(std_a**2), mean_b, np.diag(std_b**2))
    assert value == pytest.approx(expected, rel=1e-10)


def test_frechet_distance_of_samples():
    rng = np.random.default_rng(1)
    features = rng.standard_normal((2000, 5))
    assert frechet_distance(features, features) == pytest.approx(0.0, abs=1e-8)
    shifted = features + np.array([3.0, 0, 0, 0, 0])
    assert frechet_distance(features, shifted) == pytest.approx(9.0, rel=1e-6)  # only the means differ
    with pytest.raises(ValueError, match="feature arrays"):
        frechet_distance(features, features[:, :3])


def test_kernel_distance_is_near_zero_for_one_distribution_and_positive_for_two():
    rng = np.random.default_rng(2)
    a, b = rng.standard_normal((600, 8)), rng.standard_normal((600, 8))
    same, spread = kernel_distance(a, b, subsets=5, subset_size=300)
    different, _ = kernel_distance(a, b + 1.0, subsets=5, subset_size=300)
    assert abs(same) < 3 * spread + 1e-3
    assert different > 50 * abs(same)


def test_classifier_score_bounds():
    confident_even = np.eye(10)[np.arange(1000) % 10]
    assert classifier_score(confident_even)[0] == pytest.approx(10.0, rel=1e-6)
    one_class = np.eye(10)[np.zeros(1000, dtype=int)]
    assert classifier_score(one_class)[0] == pytest.approx(1.0, rel=1e-6)
    uncertain = np.full((1000, 10), 0.1)
    assert classifier_score(uncertain)[0] == pytest.approx(1.0, rel=1e-6)


def test_class_entropy_flags_a_constant_generator():
    counts, entropy = class_histogram(np.eye(10)[np.full(500, 3)])
    assert counts[3] == 500 and entropy == pytest.approx(0.0)
    counts, entropy = class_histogram(np.eye(10)[np.arange(500) % 10])
    assert np.all(counts == 50) and entropy == pytest.approx(math.log(10))


def test_memorization_flags_copies_of_training_images():
    rng = np.random.default_rng(3)
    train, test = rng.uniform(size=(300, 16)), rng.uniform(size=(200, 16))
    assert nearest_distances(train[:5], train) == pytest.approx(np.zeros(5), abs=1e-6)
    threshold = memorization_threshold(train, test, quantile=0.05)
    assert memorization_fraction(train[:100] + 1e-3, train, threshold) == 1.0
    assert memorization_fraction(rng.uniform(size=(200, 16)), train, threshold) < 0.2


def test_parzen_density_of_a_single_sample_is_the_gaussian_density():
    sample, point, sigma = np.zeros((1, 2)), np.array([[1.0, 0.0]]), 0.5
    expected = -1.0 / (2 * sigma**2) - math.log(2 * math.pi * sigma**2)
    assert parzen_log_likelihood(sample, point, sigma)[0] == pytest.approx(expected)


def test_parzen_is_high_on_the_samples_own_distribution_and_picks_a_sigma_from_the_grid():
    rng = np.random.default_rng(4)
    samples = rng.normal(0.5, 0.2, size=(500, 4))
    near, far = rng.normal(0.5, 0.2, size=(200, 4)), rng.normal(2.0, 0.2, size=(200, 4))
    result = parzen_evaluation(samples, near[:100], near[100:])
    assert result["sigma"] in np.logspace(-1, 0, 10)
    assert result["mean"] > parzen_log_likelihood(samples, far, result["sigma"]).mean() + 10
    assert result["standard_error"] > 0


def test_bits_per_dimension():
    assert nats_to_bits_per_dim(784 * math.log(2), 784) == pytest.approx(1.0)


def test_psnr_known_values():
    clean = np.zeros((2, 28, 28))
    assert psnr(clean + 0.1, clean) == pytest.approx(20.0)  # MSE 0.01
    assert psnr(clean, clean) == pytest.approx(100.0)  # MSE floored at 1e-10
    hole = np.zeros((2, 28, 28), bool)
    hole[:, 7:21, 7:21] = True
    restored = np.where(hole, 0.1, 0.0)
    assert psnr(restored, clean, where=hole) == pytest.approx(20.0)          # the MSE of the hole alone
    assert psnr(restored, clean, where=~hole) == pytest.approx(100.0)
    assert psnr(restored, clean) == pytest.approx(20.0 + 10 * math.log10(4))  # a quarter of the pixels


def test_ssim_known_values():
    rng = np.random.default_rng(5)
    image = rng.uniform(size=(3, 28, 28))
    assert ssim(image, image) == pytest.approx(1.0)
    # two constant images: only the luminance term differs from 1
    a, b, c1 = np.full((1, 16, 16), 0.2), np.full((1, 16, 16), 0.6), 0.01**2
    assert ssim(a, b) == pytest.approx((2 * 0.2 * 0.6 + c1) / (0.2**2 + 0.6**2 + c1))
    noisy = np.clip(image + rng.normal(scale=0.3, size=image.shape), 0, 1)
    assert ssim(noisy, image) < 0.9
    with pytest.raises(ValueError, match="at least 11x11"):
        ssim(np.zeros((1, 5, 5)), np.zeros((1, 5, 5)))


def test_ssim_matches_scikit_image_when_installed():
    metrics = pytest.importorskip("skimage.metrics")
    rng = np.random.default_rng(6)
    clean = rng.uniform(size=(28, 28))
    noisy = np.clip(clean + rng.normal(scale=0.2, size=clean.shape), 0, 1)
    expected = metrics.structural_similarity(noisy, clean, gaussian_weights=True, sigma=1.5,
                                             use_sample_covariance=False, data_range=1.0)
    assert ssim(noisy[None], clean[None]) == pytest.approx(expected, rel=1e-10)


def test_confusion_matrix_counts_each_true_predicted_pair():
    counts = confusion_matrix([0, 0, 1, 2, 2, 2], [0, 1, 1, 2, 0, 2], 3)
    np.testing.assert_array_equal(counts, [[1, 1, 0], [0, 1, 0], [1, 0, 2]])
    assert counts.sum() == 6 and np.trace(counts) == 4
