"""Denoising diffusion probabilistic models (Ho et al. 2020), DDIM sampling, and restoration.

Images live in [-1, 1] inside this module (``to_model_space`` / ``to_image_space`` convert from
and to [0, 1]). Timesteps are 0-based: t = 0 .. T-1 stands for the paper's t = 1 .. T, so
``alpha_bars[t]`` is the paper's alpha-bar_{t+1}.

The forward process adds Gaussian noise in T small steps, eq. (2):
    q(x_t | x_{t-1}) = N(sqrt(1 - beta_t) x_{t-1}, beta_t I),
and the learned reverse process removes it, eq. (1):
    p_theta(x_{t-1} | x_t) = N(mu_theta(x_t, t), sigma_t^2 I).
"""
from __future__ import annotations

import math

import numpy as np
from tqdm import tqdm

from .. import nn
from ..autograd import losses
from ..autograd.tensor import Tensor, no_grad

SCHEDULES = ("linear", "cosine")
POSTERIOR_VARIANCES = ("beta", "beta_tilde")


def to_model_space(images: np.ndarray) -> np.ndarray:
    """Images in [0, 1] as the model's data in [-1, 1]."""
    return (2 * np.asarray(images, np.float32) - 1).astype(np.float32)


def to_image_space(x: np.ndarray) -> np.ndarray:
    return np.clip((np.asarray(x) + 1) / 2, 0, 1).astype(np.float32)


class NoiseSchedule:
    """beta_1..beta_T and every coefficient derived from them, precomputed once in float64."""

    def __init__(self, timesteps: int = 1000, kind: str = "linear"):
        if kind not in SCHEDULES:
            raise ValueError(f"unknown noise schedule {kind!r}: use one of {SCHEDULES}")
        if timesteps < 2:
            raise ValueError(f"a diffusion needs at least 2 timesteps, got {timesteps}")
        self.timesteps, self.kind = timesteps, kind
        if kind == "linear":
            # Ho et al.'s 1e-4 .. 0.02 for T = 1000; rescaled so other T add the same total noise
            scale = 1000 / timesteps
            if scale * 0.02 >= 1:
                raise ValueError(f"the linear schedule rescaled to {timesteps} steps would need betas above 1: "
                                 "use at least 21 timesteps, or the cosine schedule")
            self.betas = np.linspace(scale * 1e-4, scale * 0.02, timesteps, dtype=np.float64)
        else:
            # Nichol & Dhariwal 2021, eq. (17): alpha-bar_t = f(t)/f(0), f(t) = cos^2(((t/T + s)/(1 + s)) pi/2)
            s = 0.008
            f = np.cos((np.arange(timesteps + 1) / timesteps + s) / (1 + s) * math.pi / 2) ** 2
            self.betas = np.clip(1 - f[1:] / f[:-1], 0, 0.999)
        self.alphas = 1.0 - self.betas
        self.alpha_bars = np.cumprod(self.alphas)                           # eq. (4): alpha-bar_t = prod alpha_s
        self.alpha_bars_prev = np.concatenate([[1.0], self.alpha_bars[:-1]])
        # the posterior q(x_{t-1} | x_t, x_0) = N(mean_coef_x0 x_0 + mean_coef_xt x_t, beta-tilde_t I), eqs. (6)-(7)
        self.posterior_variance = self.betas * (1 - self.alpha_bars_prev) / (1 - self.alpha_bars)
        self.posterior_mean_coef_x0 = np.sqrt(self.alpha_bars_prev) * self.betas / (1 - self.alpha_bars)
        self.posterior_mean_coef_xt = np.sqrt(self.alphas) * (1 - self.alpha_bars_prev) / (1 - self.alpha_bars)


def gaussian_kl(mean_q, var_q, mean_p, var_p) -> np.ndarray:
    """KL(N(mean_q, var_q) || N(mean_p, var_p)) per element, in nats."""
    return 0.5 * (np.log(var_p / var_q) + (var_q + (np.asarray(mean_q) - mean_p) ** 2) / var_p - 1)


_LOWER_TAIL = -30.0   # log Phi switches from erfc to its asymptotic series here (erfc underflows near z = -38)
_erfc = np.frompyfunc(math.erfc, 1, 1)


def log_normal_cdf(z) -> np.ndarray:
    """log Phi(z) per element in float64, finite however far into the lower tail z is."""
    z = np.asarray(z, np.float64)
    out = np.empty_like(z)
    body = z >= _LOWER_TAIL
    out[body] = np.log(0.5 * _erfc(-z[body] / math.sqrt(2)).astype(np.float64))
    tail = z[~body]
    # Phi(z) = phi(z)/(-z) (1 - 1/z^2 + 3/z^4 - 15/z^6 + 105/z^8 - ...) (Abramowitz & Stegun 26.2.12);
    # the first term left out is below 1e-12 relative for z <= -30
    r = 1 / tail**2
    out[~body] = (-tail**2 / 2 - np.log(-tail) - 0.5 * math.log(2 * math.pi)
                  + np.log1p(r * (-1 + r * (3 + r * (-15 + r * 105)))))
    return out


def discretized_gaussian_log_likelihood(x, mean, std: float, bins: int) -> np.ndarray:
    """log P(x) per element under the discretized Gaussian decoder of Ho et al. eq. (13).

    ``bins`` levels evenly spaced over [-1, 1] (256 for 8-bit images, 2 for binary ones as {-1, +1});
    a level's probability is the mass of N(mean, std^2) over its bin, the bins' edges halfway between
    levels and the outermost at -inf and +inf, so the probabilities of the levels sum to 1. x must lie on
    the levels (a ValueError otherwise).
    """
    half_width = 1 / (bins - 1)
    x = np.asarray(x, np.float64)
    level = np.rint((x + 1) / (2 * half_width))
    centre = 2 * half_width * level - 1
    if np.any(np.abs(x - centre) > half_width / 4) or np.any((level < 0) | (level > bins - 1)):
        raise ValueError(f"the data are not on {bins} levels evenly spaced over [-1, 1]: "
                         + ("binarize the images first" if bins == 2 else "use 8-bit images mapped to [-1, 1]"))
    lower = np.where(level == 0, -np.inf, centre - half_width)
    upper = np.where(level == bins - 1, np.inf, centre + half_width)
    z_lower, z_upper = (lower - mean) / std, (upper - mean) / std
    # a bin above the mean is mirrored below it: log Phi is precise in the lower tail, 1 - Phi is not
    above = (lower + upper) / 2 > mean
    lo, hi = np.where(above, -z_upper, z_lower), np.where(above, -z_lower, z_upper)
    log_hi = log_normal_cdf(hi)
    return log_hi + np.log(-np.expm1(log_normal_cdf(lo) - log_hi))   # log(Phi(hi) - Phi(lo))


def _per_sample(values: np.ndarray, t: np.ndarray) -> np.ndarray:
    """The coefficients of timesteps t (N,) shaped (N, 1, 1, 1) to scale a batch of images, in float32."""
    return values[np.asarray(t)].reshape(-1, 1, 1, 1).astype(np.float32)


class Diffusion:
    """A noise-prediction network eps_theta together with its noise schedule."""

    def __init__(self, model: nn.Module, schedule: NoiseSchedule, posterior_variance: str = "beta",
                 image_shape=(1, 28, 28), progress: bool = False):
        if posterior_variance not in POSTERIOR_VARIANCES:
            raise ValueError(f"posterior_variance must be one of {POSTERIOR_VARIANCES}, got {posterior_variance!r}")
        self.model, self.schedule, self.posterior_variance = model, schedule, posterior_variance
        self.image_shape = tuple(image_shape)
        self.progress = progress   # a tqdm bar over the reverse steps (when stderr is a terminal)

    # ----------------------------------------------------------------- forward process
    def q_sample(self, x0: np.ndarray, t: np.ndarray, noise: np.ndarray) -> np.ndarray:
        """x_t ~ q(x_t | x_0) in closed form, eq. (4): sqrt(alpha-bar_t) x_0 + sqrt(1 - alpha-bar_t) eps."""
        abar = self.schedule.alpha_bars
        return _per_sample(np.sqrt(abar), t) * x0 + _per_sample(np.sqrt(1 - abar), t) * noise

    # ----------------------------------------------------------------- training
    def loss(self, x0: np.ndarray, rng: np.random.Generator, labels: np.ndarray | None = None) -> Tensor:
        """L_simple, eq. (14): E_{t, x_0, eps} || eps - eps_theta(sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps, t) ||^2.

        t is uniform over the T steps; the mean over pixels and batch (the paper's unweighted bound).
        """
        t = rng.integers(0, self.schedule.timesteps, size=len(x0))
        noise = rng.standard_normal(x0.shape).astype(np.float32)
        return losses.mse_loss(self.model(self.q_sample(x0, t, noise), t, labels), noise)

    # ----------------------------------------------------------------- the reverse process
    def predict_noise(self, x_t: np.ndarray, t: np.ndarray, labels=None, guidance: float = 0.0) -> np.ndarray:
        """eps_theta(x_t, t), with classifier-free guidance (1 + w) eps(x, y) - w eps(x) when w > 0."""
        with no_grad():
            eps = self.model(x_t, t, labels).data
            if guidance and labels is not None:
                eps = (1 + guidance) * eps - guidance * self.model(x_t, t, None).data
        return eps

    def predict_x0(self, x_t: np.ndarray, t: np.ndarray, eps: np.ndarray) -> np.ndarray:
        """Invert eq. (4): x_0 = (x_t - sqrt(1 - abar_t) eps) / sqrt(abar_t), clipped to the data range."""
        abar = self.schedule.alpha_bars
        return np.clip((x_t - _per_sample(np.sqrt(1 - abar), t) * eps) / _per_sample(np.sqrt(abar), t), -1, 1)

    def noise_between(self, x_t: np.ndarray, t: int, x0: np.ndarray) -> np.ndarray:
        """Eq. (4) solved for eps: the noise that puts x_t at step t from x_0."""
        abar = self.schedule.alpha_bars[t]
        return ((x_t - math.sqrt(abar) * x0) / math.sqrt(1 - abar)).astype(x_t.dtype)

    def predict(self, x_t: np.ndarray, t: int, labels=None, guidance: float = 0.0) -> tuple:
        """(eps, x_0) at x_t: what a reverse step needs from the network.

        x_0 is inverted from eps_theta(x_t, t) and clipped to the data range; eps is then recomputed
        from the clipped x_0, so that DDIM's jump, which recombines the two (eq. 12 of Song et al.),
        starts from a consistent pair (on the one-hour MNIST UNet, DDIM-50's FID 82.0 -> 70.2).
        """
        t_batch = np.full(len(x_t), t)
        x0 = self.predict_x0(x_t, t_batch, self.predict_noise(x_t, t_batch, labels, guidance))
        return self.noise_between(x_t, t, x0), x0

    def reconstruction_guided(self, x_t: np.ndarray, t: int, x0: np.ndarray, known: np.ndarray,
                              weight: float) -> tuple:
        """(eps, x_0) at x_t with the predicted x_0 pulled towards the known pixels of ``x0``.

        Reconstruction guidance, Ho et al. 2022 (Video Diffusion Models), eq. (7):
            x0_tilde = x0_hat(x_t) - (w sqrt(abar_t) / 2) grad_{x_t} || known * (x_0 - x0_hat(x_t)) ||^2.
        Re-imposing the known pixels of x_t (RePaint) leaves the network free to predict an x_0 that
        disagrees with them; the gradient through the network says how the unknown pixels of x_t
        should move so that it agrees. eps is recomputed from x0_tilde, so a step keeps x_t, x0_tilde
        and eps on one line (eq. 4).
        """
        abar = self.schedule.alpha_bars[t]
        sqrt_abar, sqrt_one_minus_abar = math.sqrt(abar), math.sqrt(1 - abar)
        x = Tensor(x_t, requires_grad=True, dtype=x_t.dtype)
        trainable = [p for p in self.model.parameters() if p.requires_grad]
        for p in trainable:   # only d/dx_t is wanted
            p.requires_grad = False
        try:
            x0_hat = (x - sqrt_one_minus_abar * self.model(x, np.full(len(x_t), t))) / sqrt_abar   # eq. (4) inverted
            residual = (x0 - x0_hat) * np.asarray(known, x_t.dtype)   # a no-op for inpaint's float mask
            (residual * residual).sum().backward()
        finally:
            for p in trainable:
                p.requires_grad = True
        x0_guided = np.clip(x0_hat.data - (weight * sqrt_abar / 2) * x.grad, -1, 1).astype(x_t.dtype)
        return self.noise_between(x_t, t, x0_guided), x0_guided

    def p_sample_step(self, x_t: np.ndarray, t: int, rng: np.random.Generator, labels=None,
                      guidance: float = 0.0, prediction: tuple | None = None) -> np.ndarray:
        """One ancestral step x_t -> x_{t-1} ~ p_theta(x_{t-1} | x_t), Algorithm 2.

        The mean is the posterior mean of q(x_{t-1} | x_t, x_0) at the predicted x_0, eq. (7);
        the variance is beta_t or beta-tilde_t (section 3.2: both give similar samples). No
        noise is added at the last step. ``prediction``: (eps, x_0) to use instead of the network's.
        """
        _, x0 = prediction or self.predict(x_t, t, labels, guidance)
        mean = self.posterior_mean(x0, x_t, t)
        if t == 0:
            return mean.astype(np.float32)
        return (mean + math.sqrt(self.reverse_variance(t)) * rng.standard_normal(x_t.shape)).astype(np.float32)

    def posterior_mean(self, x0: np.ndarray, x_t: np.ndarray, t: int) -> np.ndarray:
        """The mean of q(x_{t-1} | x_t, x_0), eq. (7); at a predicted x_0, the mean of p_theta(x_{t-1} | x_t)."""
        s = self.schedule
        return s.posterior_mean_coef_x0[t] * x0 + s.posterior_mean_coef_xt[t] * x_t

    def reverse_variance(self, t: int) -> float:
        """sigma_t^2 of p_theta(x_{t-1} | x_t): beta_t or beta-tilde_t (``posterior_variance``).

        At t = 0 (the paper's t = 1) it is the variance of the decoder p_theta(x_0 | x_1), which the
        sampler does not draw from (its last step returns the mean); beta-tilde_1 = 0 there, so
        beta-tilde_2 stands in, as in Ho et al.'s code (posterior_log_variance_clipped).
        """
        s = self.schedule
        return float(s.betas[t] if self.posterior_variance == "beta" else s.posterior_variance[max(t, 1)])

    def sample(self, n: int, rng: np.random.Generator, labels=None, guidance: float = 0.0, x_T=None,
               trajectory_every: int | None = None):
        """Ancestral sampling from x_T ~ N(0, I) through all T steps; images in [0, 1].

        With ``trajectory_every`` also returns x_t (in image space) before every that many steps.
        """
        return self._reverse(self._start_noise(n, rng, x_T), list(reversed(range(self.schedule.timesteps))),
                             lambda x, t: self.p_sample_step(x, t, rng, labels, guidance), trajectory_every)

    def variational_bound(self, x0: np.ndarray, rng: np.random.Generator, bins: int = 256) -> dict:
        """The negative ELBO of eq. (5) of each image, in nats: a bound on its -log p_theta(x_0).

        ``x0``: (N, C, H, W) images in [-1, 1] on ``bins`` levels (256 for 8-bit images; 2 for binary
        ones as {-1, +1}, whose bound is then on the likelihood of binary pixels). Returns per-image arrays:
        "prior" L_T = KL(q(x_T | x_0) || N(0, I)), "denoising" the sum over the paper's t = 2..T of
        KL(q(x_{t-1} | x_t, x_0) || p_theta(x_{t-1} | x_t)), "decoder" L_0 = -log p_theta(x_0 | x_1)
        (``discretized_gaussian_log_likelihood``), and their "total". Every term is computed, each at one
        draw x_t ~ q(x_t | x_0) from ``rng``: T network calls. p_theta is the ancestral sampler's: mean
        ``posterior_mean`` at the clipped predicted x_0, variance ``reverse_variance``.
        """
        s, n = self.schedule, len(x0)
        x0 = np.asarray(x0, np.float32)
        exact_x0 = x0.astype(np.float64)

        def per_image(values):
            return values.reshape(n, -1).sum(axis=1)

        abar_T = s.alpha_bars[-1]
        prior = per_image(gaussian_kl(math.sqrt(abar_T) * exact_x0, 1 - abar_T, 0.0, 1.0))
        denoising = np.zeros(n)
        for t in tqdm(range(s.timesteps - 1, -1, -1), desc="variational bound", unit="step", leave=False,
                      disable=None if self.progress else True):
            x_t = self.q_sample(x0, np.full(n, t), rng.standard_normal(x0.shape).astype(np.float32))
            exact_x_t = x_t.astype(np.float64)
            model_mean = self.posterior_mean(self.predict(x_t, t)[1].astype(np.float64), exact_x_t, t)
            if t == 0:
                decoder = -per_image(discretized_gaussian_log_likelihood(
                    exact_x0, model_mean, math.sqrt(self.reverse_variance(0)), bins))
            else:
                denoising += per_image(gaussian_kl(self.posterior_mean(exact_x0, exact_x_t, t), s.posterior_variance[t],
                                                   model_mean, self.reverse_variance(t)))
        return {"prior": prior, "denoising": denoising, "decoder": decoder, "total": prior + denoising + decoder}

    def ddim_timesteps(self, steps: int) -> np.ndarray:
        """``steps`` evenly spaced timesteps from T-1 down to 0 (the sub-sequence tau of Song et al. 2021)."""
        if not 1 <= steps <= self.schedule.timesteps:
            raise ValueError(f"DDIM steps must be between 1 and {self.schedule.timesteps}, got {steps}")
        return np.unique(np.linspace(0, self.schedule.timesteps - 1, steps).round().astype(int))[::-1]

    def ddim_pairs(self, steps: int) -> list:
        """The (t, t_prev) jumps of a ``steps``-step DDIM pass; t_prev = -1 stands for x_0."""
        sequence = self.ddim_timesteps(steps)
        return list(zip(sequence, list(sequence[1:]) + [-1]))

    def ddim_step(self, x_t: np.ndarray, t: int, t_prev: int, rng: np.random.Generator, eta: float = 0.0,
                  labels=None, guidance: float = 0.0, prediction: tuple | None = None) -> np.ndarray:
        """One DDIM jump x_t -> x_{t_prev}, eq. (12) of Song et al. 2021.

        x_prev = sqrt(abar_prev) x0_hat + sqrt(1 - abar_prev - sigma^2) eps_hat + sigma z, with
        sigma = eta sqrt((1 - abar_prev)/(1 - abar_t)) sqrt(1 - abar_t/abar_prev). eta = 0 is
        deterministic; eta = 1 with t_prev = t - 1 is the ancestral step with variance beta-tilde_t.
        ``prediction``: (eps, x_0) to use instead of the network's.
        """
        abar = self.schedule.alpha_bars
        eps, x0 = prediction or self.predict(x_t, t, labels, guidance)
        abar_prev = abar[t_prev] if t_prev >= 0 else 1.0
        sigma = eta * math.sqrt((1 - abar_prev) / (1 - abar[t]) * (1 - abar[t] / abar_prev))
        x = math.sqrt(abar_prev) * x0 + math.sqrt(max(1 - abar_prev - sigma**2, 0.0)) * eps
        if sigma > 0:
            x = x + sigma * rng.standard_normal(x.shape)
        return x.astype(np.float32)

    def ddim_sample(self, n: int, rng: np.random.Generator, steps: int = 50, eta: float = 0.0, labels=None,
                    guidance: float = 0.0, x_T=None, trajectory_every: int | None = None):
        """DDIM (Song et al. 2021): the same trained network, far fewer steps (``ddim_step``)."""
        if not 0 <= eta <= 1:   # beyond 1, sigma^2 can exceed 1 - abar_prev and eq. (12) has no eps term left
            raise ValueError(f"DDIM eta must be between 0 (deterministic) and 1 (the ancestral variance), got {eta}")
        return self._reverse(self._start_noise(n, rng, x_T), self.ddim_pairs(steps),
                             lambda x, pair: self.ddim_step(x, *pair, rng, eta, labels, guidance), trajectory_every)

    def _reverse(self, x: np.ndarray, steps: list, step, trajectory_every: int | None):
        """Apply ``step(x, s)`` for each s of ``steps`` (a tqdm bar when ``self.progress``); images in [0, 1],
        and with ``trajectory_every`` the list of x (in image space) before steps 0, k, 2k, ..."""
        trajectory = []
        for i, s in enumerate(tqdm(steps, desc="reverse diffusion", unit="step", leave=False,
                                   disable=None if self.progress else True)):
            if trajectory_every and i % trajectory_every == 0:
                trajectory.append(to_image_space(x))
            x = step(x, s)
        return (to_image_space(x), trajectory) if trajectory_every else to_image_space(x)

    # ----------------------------------------------------------------- restoration
    def inpaint(self, images: np.ndarray, known: np.ndarray, rng: np.random.Generator, resample: int = 1,
                steps: int | None = None, reconstruction_guidance: float = 0.0) -> np.ndarray:
        """Fill the pixels where ``known`` is False (RePaint, Lugmayr et al. 2022).

        At every step x_t -> x_{t_prev} the known pixels are replaced by a draw of q(x_{t_prev} | x_0)
        of the given image, so the unknown ones are generated in agreement with them; ``resample``
        > 1 goes back (x_{t_prev} -> x_t by the forward process) and repeats, which lets the
        generated region harmonize with the imposed one. ``steps`` jumps over that many evenly
        spaced timesteps (DDIM steps with eta = 1, the ancestral variance) instead of all T.
        ``reconstruction_guidance`` w > 0 also steers each step's predicted x_0 towards the known
        pixels (``reconstruction_guided``), at the cost of a backward pass through the network.
        """
        if reconstruction_guidance < 0:
            raise ValueError(f"the reconstruction guidance weight must be >= 0, got {reconstruction_guidance}")
        x0 = to_model_space(images).reshape(-1, 1, *np.shape(images)[-2:])
        known = np.broadcast_to(np.asarray(known, bool).reshape(-1, 1, *x0.shape[-2:]), x0.shape)
        known_weights = known.astype(np.float32)   # the guidance's 0/1 mask, converted once for every step
        abar = self.schedule.alpha_bars
        pairs = self.ddim_pairs(steps or self.schedule.timesteps)   # all T steps: (t, t - 1) down to (0, -1)
        if steps is None:
            reverse_step = lambda x, t, t_prev, p: self.p_sample_step(x, t, rng, prediction=p)  # noqa: E731
        else:
            reverse_step = lambda x, t, t_prev, p: self.ddim_step(x, t, t_prev, rng, eta=1.0, prediction=p)  # noqa: E731

        def repaint_step(x, pair):
            t, t_prev = pair
            for r in range(resample):
                prediction = (self.reconstruction_guided(x, t, x0, known_weights, reconstruction_guidance)
                              if reconstruction_guidance else None)
                generated = reverse_step(x, t, t_prev, prediction)
                imposed = (x0 if t_prev < 0 else self.q_sample(x0, np.full(len(x0), t_prev),
                                                               rng.standard_normal(x0.shape).astype(np.float32)))
                x_prev = np.where(known, imposed, generated).astype(np.float32)
                if r == resample - 1 or t_prev < 0:
                    return x_prev
                # back to x_t by the forward process q(x_t | x_{t_prev}), eq. (2) over t - t_prev steps
                kept = abar[t] / abar[t_prev]
                x = (math.sqrt(kept) * x_prev + math.sqrt(1 - kept) * rng.standard_normal(x0.shape)).astype(np.float32)
        # at t_prev = -1 the known pixels are x_0 itself, so they come back exactly
        return self._reverse(rng.standard_normal(x0.shape).astype(np.float32), pairs, repaint_step, None)

    def matching_timestep(self, noise_std: float) -> int:
        """The t whose forward process has the given noise-to-signal ratio (for [0, 1] images).

        x_t / sqrt(abar_t) = x_0 + sqrt((1 - abar_t)/abar_t) eps, so a noisy image y = x_0 + s n
        (s in model space, twice the [0, 1] value) is x_t/sqrt(abar_t) at the t where the ratio is s.
        """
        ratio = np.sqrt((1 - self.schedule.alpha_bars) / self.schedule.alpha_bars)
        return int(np.argmin(np.abs(ratio - 2 * noise_std)))

    def denoise(self, noisy_images: np.ndarray, noise_std: float, rng: np.random.Generator) -> np.ndarray:
        """Remove Gaussian noise of std ``noise_std`` (in [0, 1] units) by starting the reverse process mid-way."""
        t_start = self.matching_timestep(noise_std)
        y = (2 * np.asarray(noisy_images, np.float32) - 1).reshape(-1, 1, *np.shape(noisy_images)[-2:])
        x = (math.sqrt(self.schedule.alpha_bars[t_start]) * y).astype(np.float32)
        return self._reverse(x, list(reversed(range(t_start + 1))), lambda x, t: self.p_sample_step(x, t, rng), None)

    def super_resolve(self, low_res: np.ndarray, rng: np.random.Generator, factor: int = 2) -> np.ndarray:
        """Upsample by ``factor``, keeping the result's downsampled image equal to ``low_res``.

        ILVR (Choi et al. 2021): after each step, replace the low frequencies of x_{t-1},
        phi(x) = up(down(x)), by those of the reference noised to the same step:
        x_{t-1} <- x_{t-1} - phi(x_{t-1}) + phi(q_sample(y, t-1)).
        """
        y = to_model_space(low_res).reshape(-1, 1, *np.shape(low_res)[-2:])
        reference = np.repeat(np.repeat(y, factor, axis=2), factor, axis=3)

        def low_pass(images):
            n, c, h, w = images.shape
            down = images.reshape(n, c, h // factor, factor, w // factor, factor).mean(axis=(3, 5))
            return np.repeat(np.repeat(down, factor, axis=2), factor, axis=3)

        def ilvr_step(x, t):
            x = self.p_sample_step(x, t, rng)
            target = reference if t == 0 else self.q_sample(reference, np.full(len(x), t - 1),
                                                            rng.standard_normal(x.shape).astype(np.float32))
            return (x - low_pass(x) + low_pass(target)).astype(np.float32)
        return self._reverse(rng.standard_normal(reference.shape).astype(np.float32),
                             list(reversed(range(self.schedule.timesteps))), ilvr_step, None)

    def _start_noise(self, n: int, rng: np.random.Generator, x_T) -> np.ndarray:
        """x_T ~ N(0, I), unless a starting noise is given (to compare samplers from the same x_T)."""
        if x_T is None:
            return rng.standard_normal((n, *self.image_shape)).astype(np.float32)
        return np.asarray(x_T, np.float32)
