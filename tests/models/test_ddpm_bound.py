"""The diffusion model's variational bound (Ho et al. eq. 5): its closed-form terms, the discretized decoder,
and the whole bound against an exact computation on a one-pixel, two-step model."""
import math

import numpy as np
import pytest

import scratchgen as sg
import scratchgen.nn as nn
from helpers import OracleNoise
from scratchgen.models.ddpm import (
    Diffusion,
    NoiseSchedule,
    discretized_gaussian_log_likelihood,
    gaussian_kl,
    log_normal_cdf,
)


class LinearNoise(nn.Module):
    """eps_theta(x_t, t) = gain_t x_t: a hand-built denoiser whose marginal likelihood can be integrated."""

    def __init__(self, gains):
        super().__init__()
        self.gains = np.asarray(gains, np.float32)

    def forward(self, x_t, t, labels=None):
        return sg.as_tensor(x_t) * self.gains[np.asarray(t)].reshape(-1, 1, 1, 1)


def _normal_cdf(z):
    return 0.5 * math.erfc(-z / math.sqrt(2))


def test_gaussian_kl_matches_monte_carlo():
    rng = np.random.default_rng(0)
    mean_q, var_q, mean_p, var_p = 0.3, 0.5, -0.4, 1.7
    x = mean_q + math.sqrt(var_q) * rng.standard_normal(400_000)
    log_ratio = (-0.5 * math.log(var_q) - (x - mean_q) ** 2 / (2 * var_q)
                 + 0.5 * math.log(var_p) + (x - mean_p) ** 2 / (2 * var_p))
    assert gaussian_kl(mean_q, var_q, mean_p, var_p) == pytest.approx(
        log_ratio.mean(), abs=4 * log_ratio.std() / math.sqrt(len(x)))


def test_log_normal_cdf_matches_erfc_on_both_sides_of_the_series_switch():
    z = np.concatenate([np.linspace(-37.5, 8, 400), [-30.0, -30.000001, -29.999999]])
    expected = [math.log(_normal_cdf(v)) for v in z]
    np.testing.assert_allclose(log_normal_cdf(z), expected, rtol=1e-11)
    assert log_normal_cdf(np.array([-1e4]))[0] == pytest.approx(-5e7, rel=1e-6)   # finite far beyond erfc's range


@pytest.mark.parametrize("bins", [256, 2])
def test_discretized_decoder_sums_to_one_over_its_levels(bins):
    levels = np.linspace(-1, 1, bins)
    for mean in (-3.0, -1.0, -0.3, 0.0, 0.999, 5.0):
        for std in (1e-3, 0.01, 1.0):
            log_p = discretized_gaussian_log_likelihood(levels, mean, std, bins)
            assert np.all(np.isfinite(log_p)) and np.all(log_p <= 0)
            assert np.exp(log_p).sum() == pytest.approx(1, abs=1e-9), (mean, std)


def test_discretized_decoder_bins_and_tails():
    # 256 levels: a bin of width 2/255 around its level; 2 levels: the sign of a Gaussian draw
    assert math.exp(discretized_gaussian_log_likelihood(np.array([2 * 100 / 255 - 1]), 0.0, 0.5, 256)[0]) == \
        pytest.approx(_normal_cdf((2 * 100.5 / 255 - 1) / 0.5) - _normal_cdf((2 * 99.5 / 255 - 1) / 0.5), rel=1e-9)
    assert math.exp(discretized_gaussian_log_likelihood(np.array([1.0]), 0.2, 0.3, 2)[0]) == \
        pytest.approx(_normal_cdf(0.2 / 0.3), rel=1e-12)
    # 100 standard deviations away: log Phi(-100), not log 0
    far = discretized_gaussian_log_likelihood(np.array([-1.0]), 1.0, 0.01, 2)[0]
    assert far == pytest.approx(log_normal_cdf(np.array([-100.0]))[0], rel=1e-12) and far > -5100
    with pytest.raises(ValueError, match="not on 2 levels"):
        discretized_gaussian_log_likelihood(np.array([0.5]), 0.0, 1.0, 2)


def test_prior_term_is_near_zero_for_the_long_schedule():
    x0 = np.where(np.random.default_rng(0).random((3, 1, 28, 28)) < 0.3, 1, -1).astype(np.float32)
    s = NoiseSchedule(1000)
    prior = Diffusion(OracleNoise(x0, s), s).variational_bound(x0, np.random.default_rng(0), bins=2)["prior"]
    abar = s.alpha_bars[-1]
    # per pixel KL(N(sqrt(abar) x, 1 - abar) || N(0, 1)) = 0.5 (abar x^2 - abar - log(1 - abar)), with x^2 = 1
    np.testing.assert_allclose(prior, 784 * 0.5 * (abar - abar - math.log(1 - abar)), rtol=1e-9)
    assert np.all(prior < 0.02)


@pytest.mark.parametrize("variance", ["beta", "beta_tilde"])
def test_with_an_oracle_the_transition_terms_are_only_the_variance_mismatch(variance):
    """With x_0 predicted exactly, p_theta(x_{t-1} | x_t) has q's mean: each KL is the variance term alone
    (zero for beta-tilde), and the decoder is centred on the image's own level."""
    x0 = (2 * np.random.default_rng(1).integers(0, 256, (2, 1, 4, 4)) / 255 - 1).astype(np.float32)
    s = NoiseSchedule(40)
    terms = Diffusion(OracleNoise(x0, s), s, posterior_variance=variance).variational_bound(
        x0, np.random.default_rng(0), bins=256)
    ratio = s.posterior_variance[1:] / (s.betas[1:] if variance == "beta" else s.posterior_variance[1:])
    mismatch = 16 * np.sum(0.5 * (-np.log(ratio) + ratio - 1))
    np.testing.assert_allclose(terms["denoising"], mismatch, rtol=1e-6, atol=1e-6)
    sigma = math.sqrt(s.betas[0] if variance == "beta" else s.posterior_variance[1])
    interior = -math.log(_normal_cdf(1 / 255 / sigma) - _normal_cdf(-1 / 255 / sigma))
    edge = -math.log(_normal_cdf(1 / 255 / sigma))
    edges = np.sum(np.abs(x0.reshape(2, -1)) == 1, axis=1)
    np.testing.assert_allclose(terms["decoder"], (16 - edges) * interior + edges * edge, rtol=1e-5)


def _exact_two_step(gains, variance, x0, bins):
    """(the bound's expectation, the exact -log p_theta(x_0)) of one pixel under T = 2 by numerical integration,
    written from the equations, independently of ddpm.py's code."""
    s = NoiseSchedule(2, "cosine")
    beta, abar = s.betas, s.alpha_bars
    beta_tilde_2 = (1 - abar[0]) / (1 - abar[1]) * beta[1]
    sigma2 = {"beta": (beta[0], beta[1]), "beta_tilde": (beta_tilde_2, beta_tilde_2)}[variance]
    coef_x0_2 = math.sqrt(abar[0]) * beta[1] / (1 - abar[1])
    coef_xt_2 = math.sqrt(1 - beta[1]) * (1 - abar[0]) / (1 - abar[1])

    def x0_hat(x, i):   # code step i: the paper's t = i + 1
        return np.clip((x - math.sqrt(1 - abar[i]) * gains[i] * x) / math.sqrt(abar[i]), -1, 1)

    def mean_2(x2):     # p_theta(x_1 | x_2)
        return coef_x0_2 * x0_hat(x2, 1) + coef_xt_2 * x2

    half = 1 / (bins - 1)
    lower = -np.inf if x0 == -1 else x0 - half
    upper = np.inf if x0 == 1 else x0 + half

    def decoder(x1):    # p_theta(x_0 | x_1): at the paper's t = 1 the mean is x0_hat itself
        mu, sd = x0_hat(x1, 0), math.sqrt(sigma2[0])
        cdf = np.vectorize(_normal_cdf)
        return cdf((upper - mu) / sd) - cdf((lower - mu) / sd)

    e, de = np.linspace(-9, 9, 6001, retstep=True)
    weight = np.exp(-e**2 / 2) / math.sqrt(2 * math.pi) * de
    prior = 0.5 * (abar[1] * x0**2 + (1 - abar[1]) - 1 - math.log(1 - abar[1]))
    x2 = math.sqrt(abar[1]) * x0 + math.sqrt(1 - abar[1]) * e
    kl = 0.5 * (math.log(sigma2[1] / beta_tilde_2) + beta_tilde_2 / sigma2[1]
                + (coef_x0_2 * x0 + coef_xt_2 * x2 - mean_2(x2)) ** 2 / sigma2[1] - 1)
    x1 = math.sqrt(abar[0]) * x0 + math.sqrt(1 - abar[0]) * e
    bound = prior + np.sum(weight * kl) + np.sum(weight * -np.log(decoder(x1)))
    # p(x_0) = E_{x_2 ~ N(0, 1)} E_{x_1 ~ p(x_1 | x_2)} p(x_0 | x_1): x_1 on a grid, x_2 at the nodes e
    grid, dx = np.linspace(-12, 12, 4001, retstep=True)
    density_x1 = weight @ (np.exp(-(grid[None] - mean_2(e)[:, None]) ** 2 / (2 * sigma2[1]))
                           / math.sqrt(2 * math.pi * sigma2[1]))
    nll = -math.log(np.sum(density_x1 * decoder(grid)) * dx)
    return bound, nll


@pytest.mark.parametrize("variance,x0,bins", [("beta", 1.0, 2), ("beta_tilde", -1.0, 2),
                                              ("beta", 2 * 170 / 255 - 1, 256), ("beta_tilde", 2 * 30 / 255 - 1, 256)])
def test_bound_matches_its_exact_expectation_and_exceeds_the_exact_nll(variance, x0, bins):
    gains = (0.6, 1.3)
    expected_bound, exact_nll = _exact_two_step(gains, variance, x0, bins)
    assert expected_bound > exact_nll + 0.01   # the bound holds, with a visible gap on this model
    s = NoiseSchedule(2, "cosine")
    images = np.full((40_000, 1, 1, 1), x0, np.float32)
    total = Diffusion(LinearNoise(gains), s, posterior_variance=variance, image_shape=(1, 1, 1)).variational_bound(
        images, np.random.default_rng(0), bins)["total"]
    standard_error = total.std() / math.sqrt(len(total))
    assert total.mean() == pytest.approx(expected_bound, abs=4 * standard_error)
    assert standard_error < 0.01
