"""Model equations held to independent computations where the answer is known in closed form.

Each test here pins an equation that a plausible bug could break while the rest of the suite
still passes (a forgotten - log k in the IWAE bound, a network conditioned on another timestep
than the one that noised its input, RePaint re-noising with the wrong noise level, ...).
The reference values are computed in float64; statistical tests use fixed seeds and tolerances
of several standard errors derived from the estimator's own variance.
"""
import math

import numpy as np
import pytest

import scratchgen as sg
from scratchgen import nn
from scratchgen.models import VAE
from scratchgen.models.ddpm import Diffusion, NoiseSchedule, to_model_space

# ---------------------------------------------------------------------------------------------
# VAE: the IWAE bound where log p(x) is known.
# A linear-Gaussian VAE, p(z) = N(0, I), p(x | z) = N(W z + b, s2 I), has p(x) = N(b, W W^T + s2 I).
# With orthogonal columns of W the exact posterior p(z | x) is a diagonal Gaussian, which the
# VAE's encoder family can represent: covariance (I + W^T W / s2)^-1, mean cov W^T (x - b) / s2.
# ---------------------------------------------------------------------------------------------
LATENT, SIDE = 2, 2                       # z in R^2, x in R^4 (2 x 2 "images")
PIXELS = SIDE * SIDE
NOISE_VAR = 0.5
_Q = np.linalg.qr(np.random.default_rng(0).standard_normal((PIXELS, LATENT)))[0]
W = _Q * np.array([1.5, 0.8])             # orthogonal columns of lengths 1.5 and 0.8
B = np.array([0.3, -0.2, 0.1, 0.5])
POSTERIOR_VAR = 1 / (1 + np.sum(W ** 2, axis=0) / NOISE_VAR)                # diagonal, (LATENT,)
POSTERIOR_GAIN = POSTERIOR_VAR[:, None] * W.T / NOISE_VAR                  # mean = gain (x - b)


def _linear(weight, bias):
    layer = nn.Linear(weight.shape[1], weight.shape[0]).double()
    layer.weight.data[...] = weight
    layer.bias.data[...] = bias
    return layer


def _linear_gaussian_vae(mean_shift=(0.0, 0.0), logvar_shift=(0.0, 0.0)):
    """The VAE class with a linear decoder and a linear encoder: q(z | x) is the exact posterior
    moved by ``mean_shift`` and with its log-variance raised by ``logvar_shift``."""
    mean_shift, logvar_shift = np.asarray(mean_shift), np.asarray(logvar_shift)
    model = VAE("mlp", latent_dim=LATENT, hidden=1, likelihood="gaussian", image_shape=(1, SIDE, SIDE)).double()
    model.decoder = nn.Sequential(_linear(W, B), nn.Unflatten(1, (1, SIDE, SIDE)))
    encoder_weight = np.vstack([POSTERIOR_GAIN, np.zeros((LATENT, PIXELS))])
    encoder_bias = np.concatenate([-POSTERIOR_GAIN @ B + mean_shift, np.log(POSTERIOR_VAR) + logvar_shift])
    model.encoder = nn.Sequential(nn.Flatten(), _linear(encoder_weight, encoder_bias))
    model.decoder_logvar.data = np.full((1, 1, SIDE, SIDE), math.log(NOISE_VAR))
    return model


def _log_marginal(x):
    """log N(x; b, W W^T + s2 I) for each row of x (N, PIXELS), by a Cholesky factorization."""
    chol = np.linalg.cholesky(W @ W.T + NOISE_VAR * np.eye(PIXELS))
    white = np.linalg.solve(chol, (x - B).T)
    return -0.5 * (PIXELS * math.log(2 * math.pi) + np.sum(white ** 2, axis=0)) - np.sum(np.log(np.diag(chol)))


def _data(n, seed=1):
    """Draws of the model's p(x), as (n, PIXELS) float64 rows."""
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, LATENT)) @ W.T + B + math.sqrt(NOISE_VAR) * rng.standard_normal((n, PIXELS))


def _gaussian_kl(mean_q, var_q, mean_p, var_p):
    """KL(N(mean_q, diag var_q) || N(mean_p, diag var_p)), summed over the last axis."""
    return 0.5 * np.sum(var_q / var_p + (mean_q - mean_p) ** 2 / var_p - 1 + np.log(var_p / var_q), axis=-1)


def _second_moment_of_weights(mean_q, var_q, mean_p, var_p):
    """E_q[(p(z) / q(z))^2] = int p^2 / q for diagonal Gaussians (finite when var_q > var_p / 2).

    Per dimension, p^2 / q is an unnormalized Gaussian in z with precision a = 2/var_p - 1/var_q;
    completing the square gives the integral below.
    """
    a = 2 / var_p - 1 / var_q
    linear = 2 * mean_p / var_p - mean_q / var_q
    constant = 2 * mean_p ** 2 / var_p - mean_q ** 2 / var_q
    log_per_dim = (0.5 * np.log(var_q) - np.log(var_p) - 0.5 * np.log(a)
                   + 0.5 * (linear ** 2 / a - constant))
    return np.exp(np.sum(log_per_dim, axis=-1))


def test_iwae_with_the_exact_posterior_as_q_is_log_p_x_for_every_k():
    """With q = p(z | x) every weight p(x, z) / q(z | x) is p(x), so L_k = log p(x) exactly, for any k:
    a bound that sums the weights instead of averaging them is off by log k."""
    model = _linear_gaussian_vae()
    x = _data(5)
    log_px = _log_marginal(x)
    for k in (1, 2, 10, 1000):
        iwae = model.iwae_bound(x, k, np.random.default_rng(k))
        np.testing.assert_allclose(iwae, log_px, rtol=0, atol=1e-9, err_msg=f"k = {k}")


def test_iwae_approaches_log_p_x_within_the_estimators_spread():
    """With q off the posterior, L_5000 is within its delta-method bias and 5 standard deviations of log p(x).

    For normalized weights r = w / p(x) (E r = 1, Var r = chi2 = E_q[(p(z|x)/q(z))^2] - 1, in closed
    form for Gaussians), log mean(r) over k draws has bias ~ -chi2 / (2k) and sd ~ sqrt(chi2 / k).
    The ELBO's gap KL(q || p(z|x)) is far larger than that tolerance, so the bound moved towards log p(x).
    """
    mean_shift, logvar_shift = np.array([0.4, -0.3]), np.array([0.5, 0.3])   # q wider: bounded weights
    model = _linear_gaussian_vae(mean_shift, logvar_shift)
    x = _data(4, seed=2)
    log_px = _log_marginal(x)
    posterior_mean = (x - B) @ POSTERIOR_GAIN.T
    q_var = POSTERIOR_VAR * np.exp(logvar_shift)
    chi2 = _second_moment_of_weights(posterior_mean + mean_shift, q_var, posterior_mean, POSTERIOR_VAR) - 1
    k = 5000
    tolerance = chi2 / (2 * k) + 5 * np.sqrt(chi2 / k)
    elbo_gap = _gaussian_kl(posterior_mean + mean_shift, q_var, posterior_mean, POSTERIOR_VAR)
    assert np.all(elbo_gap > 5 * tolerance) and np.all(tolerance < 0.1), (elbo_gap, tolerance)
    iwae = model.iwae_bound(x, k, np.random.default_rng(3))
    assert np.all(np.abs(iwae - log_px) < tolerance), (iwae - log_px, tolerance)


def test_iwae_with_one_sample_is_the_elbo_in_expectation():
    """E[L_1] = E[ELBO] = log p(x) - KL(q || p(z | x)): both estimators, averaged over many draws,
    agree with the closed form within 5 standard errors (the ELBO uses the closed-form KL to N(0, I))."""
    mean_shift, logvar_shift = np.array([0.4, -0.3]), np.array([-0.4, 0.3])
    model = _linear_gaussian_vae(mean_shift, logvar_shift)
    x = _data(3, seed=4)
    posterior_mean = (x - B) @ POSTERIOR_GAIN.T
    q_var = POSTERIOR_VAR * np.exp(logvar_shift)
    expected = _log_marginal(x) - _gaussian_kl(posterior_mean + mean_shift, q_var, posterior_mean, POSTERIOR_VAR)
    draws = 20000
    repeated = np.repeat(x, draws, axis=0)                  # each image `draws` times: independent z per row
    iwae_1 = model.iwae_bound(repeated, 1, np.random.default_rng(5)).reshape(len(x), draws)
    eps = np.random.default_rng(6).standard_normal((len(repeated), LATENT))
    with sg.no_grad():
        elbo, _, kl = (part.data.reshape(len(x), draws) for part in model.elbo(repeated, eps=eps))
    # the ELBO's KL term is KL(q(z | x) || N(0, I)) in closed form, exactly, for every draw
    np.testing.assert_allclose(kl, np.repeat(_gaussian_kl(posterior_mean + mean_shift, q_var, 0, 1)[:, None], draws, 1),
                               rtol=1e-12)
    for estimate in (iwae_1, elbo):
        standard_error = estimate.std(axis=1) / math.sqrt(draws)
        assert np.all(np.abs(estimate.mean(axis=1) - expected) < 5 * standard_error), \
            (estimate.mean(axis=1) - expected, standard_error)
    assert np.all(np.abs(expected - _log_marginal(x)) > 0.2)   # q is far enough off for the KL to matter


# ---------------------------------------------------------------------------------------------
# DDPM training: the network must see the x_t that q_sample made at the t it is given, and the
# loss's target must be that same eps; every timestep 0 .. T-1 (the paper's 1 .. T) is drawn.
# ---------------------------------------------------------------------------------------------
def _linear_betas(timesteps):
    """Ho et al.'s betas 1e-4 .. 0.02 rescaled by 1000 / T, from the schedule's definition, not NoiseSchedule."""
    scale = 1000 / timesteps
    return np.linspace(scale * 1e-4, scale * 0.02, timesteps)


def _linear_alpha_bars(timesteps):
    """alpha-bar_t = prod_{s <= t} (1 - beta_s)."""
    return np.cumprod(1 - _linear_betas(timesteps))


class InvertingSpy(nn.Module):
    """A noise network that records the (x_t, t) it receives and returns the eps that eq. (4),
    x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps, implies at that t for the known x_0."""

    def __init__(self, x0, alpha_bars):
        super().__init__()
        self.x0, self.alpha_bars, self.timesteps = x0.astype(np.float64), alpha_bars, []

    def forward(self, x_t, t, labels=None):
        self.timesteps.append(np.asarray(t).copy())
        abar = self.alpha_bars[np.asarray(t)].reshape(-1, 1, 1, 1)
        return sg.tensor((np.asarray(x_t, np.float64) - np.sqrt(abar) * self.x0) / np.sqrt(1 - abar), dtype=np.float64)


def test_training_noises_x0_at_the_timestep_the_network_is_given_and_targets_that_noise():
    """With the spy's eps the noise-prediction loss is zero (float32 rounding aside) only if x_t was
    made by eq. (4) at the very t passed to the network and the target is the eps that made it."""
    timesteps = 50
    x0 = to_model_space(np.random.default_rng(0).uniform(size=(64, 1, 3, 3)))
    spy = InvertingSpy(x0, _linear_alpha_bars(timesteps))
    diffusion = Diffusion(spy, NoiseSchedule(timesteps, "linear"))
    rng = np.random.default_rng(1)
    losses = [diffusion.loss(x0, rng).item() for _ in range(20)]
    assert max(losses) < 1e-8, losses
    assert 0 in np.concatenate(spy.timesteps)   # the first step, where abar is closest to 1, was checked


def test_training_draws_every_timestep_uniformly():
    """t covers exactly {0, ..., T-1}, and Pearson's chi-square over 20000 draws is below 100 (49 degrees
    of freedom: a uniform draw exceeds it with probability 2.4e-5; missing one step adds about 400)."""
    timesteps, batch, batches = 50, 100, 200
    x0 = np.zeros((batch, 1, 1, 1), np.float32)
    spy = InvertingSpy(x0, _linear_alpha_bars(timesteps))
    diffusion = Diffusion(spy, NoiseSchedule(timesteps, "linear"))
    rng = np.random.default_rng(2)
    for _ in range(batches):
        diffusion.loss(x0, rng)
    drawn = np.concatenate(spy.timesteps)
    assert drawn.dtype.kind in "iu" and set(np.unique(drawn)) == set(range(timesteps))
    counts = np.bincount(drawn, minlength=timesteps)
    expected = batch * batches / timesteps
    chi_square = np.sum((counts - expected) ** 2 / expected)
    assert chi_square < 100, (chi_square, counts)


# ---------------------------------------------------------------------------------------------
# RePaint: between two resampling passes, x_{t_prev} goes back to x_t by the forward process
# q(x_t | x_{t_prev}) = N(sqrt(abar_t / abar_{t_prev}) x_{t_prev}, (1 - abar_t / abar_{t_prev}) I), which for
# t_prev = t - 1 is eq. (2), N(sqrt(1 - beta_t) x_{t-1}, beta_t I).
# ---------------------------------------------------------------------------------------------
class ConstantNoise:
    """A stand-in generator whose every standard-normal draw is the same known value c."""

    def __init__(self, value):
        self.value = value

    def standard_normal(self, shape):
        return np.full(shape, self.value)


class RecordingNetwork(nn.Module):
    """Records every (t, x_t) it sees and predicts zero noise."""

    def __init__(self):
        super().__init__()
        self.calls = []

    def forward(self, x_t, t, labels=None):
        t = np.asarray(t)
        assert np.all(t == t[0])
        self.calls.append((int(t[0]), np.array(x_t, np.float64)))
        return sg.tensor(np.zeros(np.shape(x_t)), dtype=np.float64)


@pytest.mark.parametrize("steps", [None, 7])
def test_repaint_renoises_with_the_forward_process_between_resampling_passes(steps):
    """Every pixel known and every draw of the noise equal to c: the pass before the second visit of t
    imposed x_{t_prev} = sqrt(abar_prev) x_0 + sqrt(1 - abar_prev) c, so the network's second input
    at t must be sqrt(a) x_{t_prev} + sqrt(1 - a) c with a = prod_{t_prev < s <= t} (1 - beta_s)
    (= 1 - beta_t for the single steps of steps=None; the alpha-bar ratio for the jumps of steps=7)."""
    timesteps, noise = 30, 0.7
    schedule = NoiseSchedule(timesteps, "linear")
    betas = _linear_betas(timesteps)
    images = np.random.default_rng(3).uniform(size=(2, 3, 3)).astype(np.float32)
    x0 = to_model_space(images)[:, None].astype(np.float64)
    network = RecordingNetwork()
    Diffusion(network, schedule).inpaint(images, np.ones((3, 3), bool), ConstantNoise(noise), resample=2, steps=steps)

    visited = [t for t, _ in network.calls]
    pairs = [(t, t - 1) for t in range(timesteps - 1, 0, -1)] if steps is None else \
        [(29, 24), (24, 19), (19, 14), (14, 10), (10, 5), (5, 0)]
    assert visited == [t for t, _ in pairs for _ in range(2)] + [0]
    for i, (t, t_prev) in enumerate(pairs):
        kept = np.prod(1 - betas[t_prev + 1:t + 1])
        abar_prev = np.prod(1 - betas[:t_prev + 1])
        imposed = math.sqrt(abar_prev) * x0 + math.sqrt(1 - abar_prev) * noise
        renoised = math.sqrt(kept) * imposed + math.sqrt(1 - kept) * noise
        np.testing.assert_allclose(network.calls[2 * i + 1][1], renoised, rtol=0, atol=2e-6,
                                   err_msg=f"second pass at t = {t} after t_prev = {t_prev}")


# ---------------------------------------------------------------------------------------------
# The reverse steps against Bayes' rule on the forward process. For s < t and a = abar_t / abar_s,
# q(x_s | x_0) = N(sqrt(abar_s) x_0, 1 - abar_s) and q(x_t | x_s) = N(sqrt(a) x_s, 1 - a), so
# q(x_s | x_t, x_0) is Gaussian with precision 1/(1 - abar_s) + a/(1 - a). With an exact noise
# network and a known noise c (c = 0 gives the step's mean, c = 1 adds its standard deviation),
# both samplers are checked coefficient by coefficient.
# ---------------------------------------------------------------------------------------------
def _forward_posterior(x0, x_t, abar_s, abar_t):
    a = abar_t / abar_s
    variance = 1 / (1 / (1 - abar_s) + a / (1 - a))
    return variance * (math.sqrt(abar_s) / (1 - abar_s) * x0 + math.sqrt(a) / (1 - a) * x_t), variance


def _oracle_setup(timesteps=30, seed=4, **options):
    """A diffusion whose network is exact for a random x_0 in (-0.9, 0.9), so x_0 is never clipped."""
    rng = np.random.default_rng(seed)
    x0 = rng.uniform(-0.9, 0.9, (2, 1, 3, 3))
    network = InvertingSpy(x0, _linear_alpha_bars(timesteps))
    return Diffusion(network, NoiseSchedule(timesteps, "linear"), **options), x0, rng


@pytest.mark.parametrize("variance", ["beta", "beta_tilde"])
def test_ancestral_step_is_the_forward_posterior_mean_plus_the_chosen_noise(variance):
    """x_{t-1} = mean of q(x_{t-1} | x_t, x_0) + sigma_t c, with sigma_t^2 = beta_t or
    beta-tilde_t = (1 - abar_{t-1}) / (1 - abar_t) beta_t (Ho et al. section 3.2), and no noise at t = 0."""
    diffusion, x0, rng = _oracle_setup(posterior_variance=variance)
    abar = _linear_alpha_bars(30)
    for t in (0, 1, 15, 29):
        x_t = np.sqrt(abar[t]) * x0 + np.sqrt(1 - abar[t]) * rng.standard_normal(x0.shape)
        mean_step = diffusion.p_sample_step(x_t, t, ConstantNoise(0.0))
        noise_std = diffusion.p_sample_step(x_t, t, ConstantNoise(1.0)) - mean_step
        if t == 0:
            np.testing.assert_allclose(mean_step, x0, atol=1e-5)
            np.testing.assert_allclose(noise_std, 0, atol=0)
            continue
        beta = 1 - abar[t] / abar[t - 1]
        expected_var = beta if variance == "beta" else (1 - abar[t - 1]) / (1 - abar[t]) * beta
        posterior_mean, _ = _forward_posterior(x0, x_t, abar[t - 1], abar[t])
        np.testing.assert_allclose(mean_step, posterior_mean, atol=1e-5, err_msg=f"t = {t}")
        np.testing.assert_allclose(noise_std, math.sqrt(expected_var), rtol=1e-5, err_msg=f"t = {t}")


@pytest.mark.parametrize("eta", [0.0, 0.5, 1.0])
def test_ddim_jump_keeps_the_marginal_and_its_noise_is_eta_times_the_posterior_std(eta):
    """Song et al. 2021, eq. (12) and lemma 1: x_s = sqrt(abar_s) x_0 + k eps + sigma c with eps the noise
    of x_t, k^2 + sigma^2 = 1 - abar_s (so x_s ~ q(x_s | x_0) whatever eta), and sigma = eta times the std of
    q(x_s | x_t, x_0); at eta = 1 the step is that posterior exactly, also for jumps over several steps."""
    diffusion, x0, rng = _oracle_setup()
    abar = _linear_alpha_bars(30)
    # abar_t >= 3e-3, so the float32 x_0 = (x_t - sqrt(1 - abar_t) eps) / sqrt(abar_t) stays within 1e-5
    for t, s in [(15, 0), (20, 10), (10, 9)]:
        eps = rng.standard_normal(x0.shape)
        x_t = np.sqrt(abar[t]) * x0 + np.sqrt(1 - abar[t]) * eps
        mean_step = diffusion.ddim_step(x_t, t, s, ConstantNoise(0.0), eta=eta)
        sigma = diffusion.ddim_step(x_t, t, s, ConstantNoise(1.0), eta=eta) - mean_step
        posterior_mean, posterior_var = _forward_posterior(x0, x_t, abar[s], abar[t])
        np.testing.assert_allclose(sigma, eta * math.sqrt(posterior_var), rtol=1e-5, atol=1e-7, err_msg=f"{t} -> {s}")
        k = math.sqrt(1 - abar[s] - eta ** 2 * posterior_var)
        np.testing.assert_allclose(mean_step, np.sqrt(abar[s]) * x0 + k * eps, atol=1e-5, err_msg=f"{t} -> {s}")
        if eta == 1:
            np.testing.assert_allclose(mean_step, posterior_mean, atol=1e-5, err_msg=f"{t} -> {s}")
