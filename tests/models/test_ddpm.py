"""Diffusion: the forward process, the posterior, the reverse step with an oracle, DDIM, restoration."""
import math

import numpy as np
import pytest

import scratchgen as sg
import scratchgen.nn as nn
from helpers import OracleNoise
from scratchgen.gradcheck import gradcheck_module
from scratchgen.models.ddpm import Diffusion, NoiseSchedule, to_image_space, to_model_space
from scratchgen.models.unet import MLPDenoiser, UNet, sinusoidal_embedding


def test_linear_schedule_endpoints_and_rescaling():
    s = NoiseSchedule(1000, "linear")
    assert s.betas[0] == pytest.approx(1e-4) and s.betas[-1] == pytest.approx(0.02)
    assert NoiseSchedule(500, "linear").betas[-1] == pytest.approx(0.04)
    assert s.alpha_bars[-1] < 1e-4  # x_T is almost pure noise


def test_cosine_schedule():
    s = NoiseSchedule(1000, "cosine")
    assert np.all(s.betas <= 0.999) and np.all(np.diff(s.alpha_bars) < 0)
    f = lambda t: math.cos((t / 1000 + 0.008) / 1.008 * math.pi / 2) ** 2  # noqa: E731
    assert s.alpha_bars[499] == pytest.approx(f(500) / f(0), rel=1e-9)


def test_bad_schedule_arguments():
    with pytest.raises(ValueError, match="unknown noise schedule"):
        NoiseSchedule(10, "quadratic")
    with pytest.raises(ValueError, match="at least 21 timesteps"):
        NoiseSchedule(10, "linear")
    with pytest.raises(ValueError, match="posterior_variance"):
        Diffusion(MLPDenoiser(hidden=8), NoiseSchedule(30), posterior_variance="sigma")


def test_closed_form_forward_process_matches_iterating_the_one_step_process():
    s = NoiseSchedule(100, "linear")
    diffusion = Diffusion(None, s)
    rng = np.random.default_rng(0)
    x0 = np.full((20000, 1, 1, 1), 0.7, dtype=np.float32)
    t = 25   # alpha-bar_t ~ 0.5: the mean and the variance both depend on it strongly here
    assert 0.3 < s.alpha_bars[t] < 0.7
    x = x0.astype(np.float64)
    for step in range(t + 1):  # x_{step} = sqrt(1 - beta) x_{step-1} + sqrt(beta) eps, eq. (2)
        x = math.sqrt(1 - s.betas[step]) * x + math.sqrt(s.betas[step]) * rng.standard_normal(x.shape)
    closed = diffusion.q_sample(x0, np.full(len(x0), t), rng.standard_normal(x0.shape).astype(np.float32))
    # both are N(sqrt(abar) x0, 1 - abar): compare means and variances (4 standard errors)
    expected_mean, expected_var = math.sqrt(s.alpha_bars[t]) * 0.7, 1 - s.alpha_bars[t]
    for samples in (x, closed):
        assert samples.mean() == pytest.approx(expected_mean, abs=4 * math.sqrt(expected_var / len(x0)))
        assert samples.var() == pytest.approx(expected_var, rel=4 * math.sqrt(2 / len(x0)))


def test_posterior_coefficients_follow_from_bayes_rule():
    s = NoiseSchedule(50, "cosine")
    for t in (1, 10, 49):
        # q(x_{t-1}|x_0) = N(sqrt(abar_{t-1}) x0, 1 - abar_{t-1}); q(x_t|x_{t-1}) = N(sqrt(alpha_t) x_{t-1}, beta_t)
        precision = 1 / (1 - s.alpha_bars[t - 1]) + s.alphas[t] / s.betas[t]
        assert s.posterior_variance[t] == pytest.approx(1 / precision, rel=1e-10)
        assert s.posterior_mean_coef_x0[t] == pytest.approx(
            math.sqrt(s.alpha_bars[t - 1]) / (1 - s.alpha_bars[t - 1]) / precision, rel=1e-10)
        assert s.posterior_mean_coef_xt[t] == pytest.approx(math.sqrt(s.alphas[t]) / s.betas[t] / precision, rel=1e-10)


def test_reverse_step_with_an_oracle_recovers_x0_exactly():
    s = NoiseSchedule(100)
    rng = np.random.default_rng(1)
    x0 = rng.uniform(-0.9, 0.9, size=(3, 1, 28, 28)).astype(np.float32)
    diffusion = Diffusion(OracleNoise(x0, s), s)
    x_t = diffusion.q_sample(x0, np.zeros(3, int), rng.standard_normal(x0.shape).astype(np.float32))
    np.testing.assert_allclose(diffusion.p_sample_step(x_t, 0, rng), x0, atol=1e-5)
    # DDIM in a single step from t = T-1 lands on x_0 too
    x_T = diffusion.q_sample(x0, np.full(3, 99), rng.standard_normal(x0.shape).astype(np.float32))
    np.testing.assert_allclose(diffusion.ddim_sample(3, rng, steps=1, x_T=x_T), to_image_space(x0), atol=1e-5)


def test_ddim_with_eta_one_over_a_single_step_is_the_ancestral_step_with_beta_tilde():
    s = NoiseSchedule(100)
    rng = np.random.default_rng(6)
    x0 = rng.uniform(-0.9, 0.9, size=(2, 1, 28, 28)).astype(np.float32)
    t = 60
    x_t = Diffusion(None, s).q_sample(x0, np.full(2, t), rng.standard_normal(x0.shape).astype(np.float32))
    oracle = OracleNoise(x0, s)
    ancestral = Diffusion(oracle, s, posterior_variance="beta_tilde").p_sample_step(x_t, t, np.random.default_rng(7))
    ddim = Diffusion(oracle, s).ddim_step(x_t, t, t - 1, np.random.default_rng(7), eta=1.0)
    np.testing.assert_allclose(ddim, ancestral, atol=1e-5)
    # the same noise with eta = 0.5 lands elsewhere: eta sets the variance
    half = Diffusion(oracle, s).ddim_step(x_t, t, t - 1, np.random.default_rng(7), eta=0.5)
    assert not np.allclose(half, ancestral, atol=1e-3)


def test_ddim_with_eta_zero_is_deterministic_given_x_T():
    sg.manual_seed(0)
    diffusion = Diffusion(MLPDenoiser(hidden=16, time_dim=8), NoiseSchedule(40))
    x_T = np.random.default_rng(2).standard_normal((2, 1, 28, 28)).astype(np.float32)
    a = diffusion.ddim_sample(2, np.random.default_rng(3), steps=5, x_T=x_T)
    b = diffusion.ddim_sample(2, np.random.default_rng(4), steps=5, x_T=x_T)
    np.testing.assert_array_equal(a, b)
    c = diffusion.ddim_sample(2, np.random.default_rng(4), steps=5, eta=1.0, x_T=x_T)
    assert not np.allclose(a, c)
    assert list(diffusion.ddim_timesteps(5)) == [39, 29, 20, 10, 0]
    for eta in (-0.5, 1.5):
        with pytest.raises(ValueError, match="eta must be between 0"):
            diffusion.ddim_sample(2, np.random.default_rng(4), steps=5, eta=eta, x_T=x_T)


def test_predicted_noise_is_recomputed_from_the_clipped_x0():
    """predict's (eps, x_0) satisfy eq. (4) with x_t even where x_0 was clipped; elsewhere eps is the network's."""
    sg.manual_seed(0)
    s = NoiseSchedule(40)
    diffusion, t = Diffusion(MLPDenoiser(hidden=16, time_dim=8), s), 3
    x_t = np.random.default_rng(5).uniform(-2, 2, (2, 1, 28, 28)).astype(np.float32)
    eps, x0 = diffusion.predict(x_t, t)
    clipped = np.abs(x0) == 1
    assert 0 < clipped.mean() < 1
    np.testing.assert_allclose(math.sqrt(s.alpha_bars[t]) * x0 + math.sqrt(1 - s.alpha_bars[t]) * eps, x_t, atol=1e-5)
    raw = diffusion.predict_noise(x_t, np.full(2, t))
    np.testing.assert_allclose(eps[~clipped], raw[~clipped], atol=1e-3)
    assert not np.allclose(eps[clipped], raw[clipped], atol=1e-3)


@pytest.mark.parametrize("variance", ["beta", "beta_tilde"])
def test_ancestral_sampling_gives_images_in_range(variance):
    sg.manual_seed(0)
    diffusion = Diffusion(MLPDenoiser(hidden=16, time_dim=8), NoiseSchedule(10, "cosine"), posterior_variance=variance)
    images, trajectory = diffusion.sample(2, np.random.default_rng(0), trajectory_every=5)
    assert images.shape == (2, 1, 28, 28) and images.min() >= 0 and images.max() <= 1
    assert len(trajectory) == 2


def test_inpainting_keeps_the_known_pixels_and_super_resolution_keeps_the_low_resolution_image():
    sg.manual_seed(0)
    diffusion = Diffusion(MLPDenoiser(hidden=16, time_dim=8), NoiseSchedule(10, "cosine"))
    rng = np.random.default_rng(5)
    images = rng.uniform(size=(2, 28, 28)).astype(np.float32)
    known = np.ones((28, 28), bool)
    known[7:21, 7:21] = False
    filled = diffusion.inpaint(images, known, rng, resample=2)
    np.testing.assert_allclose(filled[:, 0][:, known], images[:, known], atol=1e-6)
    low = rng.uniform(0.2, 0.8, size=(2, 14, 14)).astype(np.float32)
    high = diffusion.super_resolve(low, rng)
    assert high.shape == (2, 1, 28, 28)
    blocks = high[:, 0].reshape(2, 14, 2, 14, 2)
    unclipped = ((blocks > 0) & (blocks < 1)).all(axis=(2, 4))  # clipping to [0, 1] may break the constraint
    assert unclipped.mean() > 0.3
    np.testing.assert_allclose(blocks.mean(axis=(2, 4))[unclipped], low[unclipped], atol=1e-5)


def test_denoising_starts_at_the_timestep_with_the_matching_noise_level():
    s = NoiseSchedule(1000)
    diffusion = Diffusion(None, s)
    t = diffusion.matching_timestep(0.5)  # noise std 0.5 in [0, 1] units = 1.0 in [-1, 1] units
    assert math.sqrt((1 - s.alpha_bars[t]) / s.alpha_bars[t]) == pytest.approx(1.0, rel=0.02)


def test_sinusoidal_embedding():
    emb = sinusoidal_embedding(np.array([0, 1, 500]), 32)
    assert emb.shape == (3, 32)
    np.testing.assert_allclose(emb[0], np.r_[np.zeros(16), np.ones(16)])
    assert emb[1, 0] == pytest.approx(math.sin(1.0))


def test_unet_shapes_and_class_conditioning():
    sg.manual_seed(0)
    net = UNet(widths=(8, 16), time_dim=16, time_features=8, num_classes=10)
    x = np.zeros((2, 1, 28, 28), np.float32)
    assert net(x, np.array([3, 999]), np.array([1, 10])).shape == (2, 1, 28, 28)
    with pytest.raises(ValueError, match="without num_classes"):
        UNet(widths=(8, 16), time_dim=16)(x, np.array([0, 1]), np.array([1, 2]))


class ImageOnly(nn.Module):
    """A noise network with its timesteps (and labels) fixed: a function of the image alone, to gradcheck."""

    def __init__(self, net, t, labels=None):
        super().__init__()
        self.net, self.t, self.labels = net, t, labels

    def forward(self, x):
        return self.net(x, self.t, self.labels)


def test_small_unet_passes_a_float64_gradient_check():
    sg.manual_seed(0)
    net = UNet(widths=(4, 8), time_dim=8, time_features=4, groups=2).double()
    x = np.random.default_rng(6).standard_normal((2, 1, 28, 28))
    assert gradcheck_module(ImageOnly(net, np.array([5, 700])), [x], directions=3)


def test_training_loss_is_the_noise_prediction_mse():
    sg.manual_seed(0)
    diffusion = Diffusion(MLPDenoiser(hidden=16, time_dim=8), NoiseSchedule(30))
    x0 = to_model_space(np.random.default_rng(7).uniform(size=(4, 1, 28, 28)))
    loss = diffusion.loss(x0, np.random.default_rng(8))
    assert loss.shape == () and loss.requires_grad and 0.1 < loss.item() < 10


class RecordingOracle(OracleNoise):
    """The oracle, remembering the noise it returns at every call."""

    def __init__(self, x0, schedule):
        super().__init__(x0, schedule)
        self.calls = []

    def forward(self, x_t, t, labels=None):
        eps = super().forward(x_t, t, labels)
        self.calls.append((int(np.asarray(t)[0]), eps.data))
        return eps


def test_restorations_with_an_oracle_recover_the_clean_images():
    """Each restoration path (image-space inputs, model-space process) lands on x_0 when eps_theta is exact."""
    s = NoiseSchedule(50, "cosine")
    rng = np.random.default_rng(9)
    images = rng.uniform(0.05, 0.95, size=(2, 28, 28)).astype(np.float32)
    diffusion = Diffusion(OracleNoise(to_model_space(images)[:, None], s), s)
    known = np.ones((2, 28, 28), bool)
    known[:, 7:21, 7:21] = False
    restored = {
        "inpaint": diffusion.inpaint(np.where(known, images, 0), known, rng, resample=2),
        "inpaint, 7 of the 50 steps": diffusion.inpaint(np.where(known, images, 0), known, rng, resample=2, steps=7),
        # the oracle's x_0 agrees with the known pixels everywhere, so guidance must leave it alone
        "inpaint, guided": diffusion.inpaint(np.where(known, images, 0), known, rng, resample=2, steps=7,
                                             reconstruction_guidance=5.0),
        "denoise": diffusion.denoise(images + 0.3 * rng.standard_normal(images.shape), 0.3, rng),
        "superres": diffusion.super_resolve(images.reshape(2, 14, 2, 14, 2).mean(axis=(2, 4)), rng),
    }
    for task, result in restored.items():
        np.testing.assert_allclose(result[:, 0], images, atol=1e-4, err_msg=task)


def test_reconstruction_guidance_moves_x0_by_the_gradient_of_the_known_pixel_error():
    """x0_tilde = x0_hat - (w sqrt(abar_t)/2) grad_{x_t} ||known * (x_0 - x0_hat(x_t))||^2, with the gradient
    held to central differences in float64 along directions inside and outside the known pixels."""
    sg.manual_seed(0)
    net = UNet(widths=(4, 8), time_dim=8, time_features=4, groups=2).double()
    for p in net.parameters():  # weights large enough that the unknown pixels of x_t reach x0_hat
        p.data[...] = np.random.default_rng(p.size).normal(0, 0.3, p.shape)
    s = NoiseSchedule(10, "cosine")
    diffusion, t, weight = Diffusion(net, s), 1, 1e-3
    rng = np.random.default_rng(11)
    x_t, x0 = rng.uniform(-0.3, 0.3, (2, 1, 28, 28)), rng.uniform(-0.5, 0.5, (2, 1, 28, 28))
    known = np.ones(x0.shape, bool)
    known[..., 7:21, 7:21] = False
    sqrt_abar, sqrt_one_minus_abar = math.sqrt(s.alpha_bars[t]), math.sqrt(1 - s.alpha_bars[t])

    def x0_hat(x):
        return (x - sqrt_one_minus_abar * diffusion.predict_noise(x, np.full(2, t))) / sqrt_abar

    def known_pixel_error(x):
        return np.sum((known * (x0 - x0_hat(x))) ** 2)

    eps, x0_guided = diffusion.reconstruction_guided(x_t, t, x0, known, weight)
    assert np.abs(x0_hat(x_t)).max() < 1 and np.abs(x0_guided).max() < 1   # no clipping in the way
    gradient = (x0_hat(x_t) - x0_guided) / (weight * sqrt_abar / 2)
    assert np.abs(gradient[~known]).max() > 1e-3   # the unknown pixels are steered through the network
    np.testing.assert_allclose(sqrt_abar * x0_guided + sqrt_one_minus_abar * eps, x_t, atol=1e-12)
    for inside in (known, ~known):
        v = rng.standard_normal(x_t.shape) * inside
        h = 1e-4   # the network's float64 roundoff (~1e-10) swamps smaller steps
        numeric = (known_pixel_error(x_t + h * v) - known_pixel_error(x_t - h * v)) / (2 * h)
        assert np.vdot(gradient, v) == pytest.approx(numeric, rel=1e-3)
    with pytest.raises(ValueError, match="guidance weight must be >= 0"):
        diffusion.inpaint(np.zeros((1, 28, 28)), known[0, 0], rng, reconstruction_guidance=-1.0)
    assert all(p.requires_grad for p in net.parameters())   # frozen only during the backward pass


def test_denoising_feeds_the_network_an_x_t_with_the_noise_level_of_its_t():
    """Noise of std s in [0, 1] units is std 2s in [-1, 1] units; scaled by sqrt(abar_t) it must be
    exactly the sqrt(1 - abar_t) eps of the forward process, so the oracle's eps has unit variance."""
    s = NoiseSchedule(200)
    rng = np.random.default_rng(10)
    images = rng.uniform(0.2, 0.8, size=(8, 28, 28)).astype(np.float32)
    oracle = RecordingOracle(to_model_space(images)[:, None], s)
    diffusion = Diffusion(oracle, s)
    for noise_std in (0.1, 0.4):
        oracle.calls.clear()
        diffusion.denoise(images + noise_std * rng.standard_normal(images.shape), noise_std, rng)
        t, eps = oracle.calls[0]
        assert t == diffusion.matching_timestep(noise_std) and len(oracle.calls) == t + 1
        ratio = math.sqrt((1 - s.alpha_bars[t]) / s.alpha_bars[t])
        assert eps.std() == pytest.approx(2 * noise_std / ratio, rel=0.03)   # the discrete t is close, not exact
        assert eps.std() == pytest.approx(1.0, rel=0.1)


def test_ddim_trajectory_starts_at_x_T():
    sg.manual_seed(0)
    diffusion = Diffusion(MLPDenoiser(hidden=16, time_dim=8), NoiseSchedule(30))
    x_T = np.random.default_rng(11).standard_normal((2, 1, 28, 28)).astype(np.float32)
    images, trajectory = diffusion.ddim_sample(2, None, steps=10, x_T=x_T, trajectory_every=3)
    assert len(trajectory) == 4     # before steps 0, 3, 6, 9
    np.testing.assert_array_equal(trajectory[0], to_image_space(x_T))
    np.testing.assert_array_equal(images, diffusion.ddim_sample(2, None, steps=10, x_T=x_T))


def test_mlp_denoiser_passes_a_float64_gradient_check():
    sg.manual_seed(0)
    net = MLPDenoiser(hidden=8, time_dim=8, num_classes=3).double()
    x = np.random.default_rng(12).standard_normal((2, 1, 28, 28))
    assert gradcheck_module(ImageOnly(net, np.array([3, 20]), np.array([0, 3])), [x], directions=3)
