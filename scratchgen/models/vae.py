"""Variational autoencoder (Kingma & Welling, "Auto-Encoding Variational Bayes", ICLR 2014)
with the importance-weighted bound of Burda, Grosse & Salakhutdinov ("Importance Weighted
Autoencoders", 2015) for evaluation. Read top to bottom like the paper; docs/vae.md derives
every equation.

Generative model (K&W section 2.1):   p(z) = N(0, I),   p_theta(x | z) = Bernoulli(sigmoid(f(z)))
for binarized images, or N(f(z), exp(s)) per pixel for gray values.
Recognition model (K&W eq. 9):        q_phi(z | x) = N(mu(x), diag(exp(logvar(x)))).

Class-conditional (CVAE, Sohn, Lee & Yan, "Learning Structured Output Representation using Deep
Conditional Generative Models", NeurIPS 2015), with ``num_classes``: the label y enters as a one-hot
vector concatenated to the encoder's input pixels and to z at the decoder,
    q_phi(z | x, y),   p_theta(x | z, y),   and the prior p(z | y) = p(z) = N(0, I), independent of y,
so the bound of Sohn et al. eq. 4 (their x is our label, their y our image) is
    log p(x | y) >= E_q[log p(x | z, y)] - KL(q(z | x, y) || N(0, I)).

Shapes: images (N, 28, 28) or (N, 1, 28, 28) or (N, 784), values in [0, 1]; ``image_shape`` is (1, H, W).
Everything "per image" is a *sum over pixels* (nats per image), never a per-pixel mean.
"""
from __future__ import annotations

import math

import numpy as np

from .. import autograd as ag, nn
from ..autograd import losses, ops
from .blocks import (
    check_images,
    conv_decoder,
    conv_encoder,
    mlp_decoder,
    mlp_encoder,
    single_channel_shape,
)

ARCHS = ("mlp", "conv")
LIKELIHOODS = ("bernoulli", "gaussian")
LOG_2PI = math.log(2 * math.pi)


def _bernoulli_log_likelihood_rows(x: np.ndarray, logits: np.ndarray) -> np.ndarray:
    """log Bernoulli(x | sigmoid(f)) = sum_i x_i f_i - softplus(f_i) for logits (m, n, D), x (n, D).

    softplus(f) = max(f, 0) + log(1 + exp(-|f|)) with float32 exp and log (vectorized, about 5x
    faster than log1p here); 1 + exp(-|f|) lies in [1, 2], so the absolute error per pixel
    stays below 1e-7 and the sum over 784 pixels is accurate to ~1e-4 nats. Sums in float64.
    """
    s = np.abs(logits)
    np.negative(s, out=s)
    np.exp(s, out=s)
    s += 1
    np.log(s, out=s)
    s += np.maximum(logits, 0)
    return np.einsum("mnd,nd->mn", logits, x, dtype=np.float64) - s.sum(axis=2, dtype=np.float64)


class VAE(nn.Module):
    """VAE with a diagonal-Gaussian encoder and a Bernoulli or Gaussian decoder.

    ``arch="mlp"`` is the ``vae_mlp`` layout of benchmarks/README.md (784-400-(20+20), 20-400-784)
    with the defaults; ``arch="conv"`` is ``vae_conv`` (use ``latent_dim=16``). ``rng`` feeds the noise
    eps of the reparameterization; the trainer saves and restores its state.

    ``num_classes`` C makes it the CVAE (mlp only): the first layers of the encoder and of the decoder
    take C more inputs, the one-hot label, and every method that encodes or decodes takes ``labels``
    (N integers in 0..C-1). Without it the model, its parameters and checkpoints are the plain VAE's.
    """

    def __init__(self, arch: str = "mlp", latent_dim: int = 20, hidden: int = 400,
                 likelihood: str = "bernoulli", image_shape=(1, 28, 28), seed: int = 0,
                 num_classes: int | None = None):
        super().__init__()
        if arch not in ARCHS:
            raise ValueError(f"unknown VAE architecture {arch!r}: expected one of {', '.join(ARCHS)}")
        if likelihood not in LIKELIHOODS:
            raise ValueError(f"unknown likelihood {likelihood!r}: expected one of {', '.join(LIKELIHOODS)}")
        image_shape = single_channel_shape(image_shape, "VAE")
        if arch == "conv" and image_shape != (1, 28, 28):
            raise ValueError(f"the conv VAE expects 1x28x28 images, got {image_shape}")
        if num_classes is not None and (arch != "mlp" or num_classes < 2):
            raise ValueError(f"the class-conditional VAE is the mlp one with at least 2 classes, "
                             f"got arch {arch!r} with {num_classes} classes")
        self.arch, self.latent_dim, self.hidden = arch, int(latent_dim), int(hidden)
        self.likelihood, self.image_shape = likelihood, image_shape
        self.num_classes = None if num_classes is None else int(num_classes)
        pixels = int(np.prod(image_shape))
        label_inputs = self.num_classes or 0
        if arch == "mlp":
            self.encoder = mlp_encoder(pixels + label_inputs, hidden, 2 * latent_dim)
            self.decoder = mlp_decoder(latent_dim + label_inputs, hidden, image_shape)
        else:
            self.encoder = conv_encoder(2 * latent_dim)
            self.decoder = conv_decoder(latent_dim)
        if likelihood == "gaussian":
            # One learned log-variance s per pixel: p(x_i | z) = N(f_i(z), exp(s_i)).
            self.decoder_logvar = nn.Parameter(np.full((1, *image_shape), -3.0, np.float32))
        self.rng = np.random.default_rng(seed)

    def config(self) -> dict:
        conditional = {} if self.num_classes is None else {"num_classes": self.num_classes}
        return dict(arch=self.arch, latent_dim=self.latent_dim, hidden=self.hidden,
                    likelihood=self.likelihood, image_shape=list(self.image_shape), **conditional)

    def with_label(self, features, labels):
        """[features, one_hot(y)] for the CVAE (rows of ``features`` flattened); ``features`` unchanged for the
        VAE. A one-line error when the labels are missing, superfluous, of another length or out of range."""
        if self.num_classes is None:
            if labels is not None:
                raise ValueError("this VAE is not class-conditional: it takes no labels")
            return features
        if labels is None:
            raise ValueError(f"this VAE is class-conditional: give the labels (integers 0..{self.num_classes - 1})")
        labels = np.asarray(labels)
        n = features.shape[0]
        in_range = labels.dtype.kind in "iu" and np.all((0 <= labels) & (labels < self.num_classes))
        if labels.shape != (n,) or not in_range:
            raise ValueError(f"labels: expected {n} integers in 0..{self.num_classes - 1}, got shape {labels.shape} "
                             f"of {labels.dtype}")
        one_hot = np.eye(self.num_classes, dtype=features.dtype)[labels]
        if isinstance(features, ag.Tensor):
            return ops.concatenate([ops.reshape(features, n, -1), one_hot], axis=1)
        return np.concatenate([features.reshape(n, -1), one_hot], axis=1)

    # ---- q_phi(z | x[, y]): K&W eq. 9 ----------------------------------------------------
    def encode(self, x, labels=None):
        """mu, log sigma^2 = encoder(x[, y]): the parameters of q(z | x[, y]) = N(mu, diag(sigma^2))."""
        h = self.encoder(self.with_label(check_images(x, self.image_shape, "VAE"), labels))
        return h[:, :self.latent_dim], h[:, self.latent_dim:]

    # ---- the reparameterization trick: K&W eq. 10 / section 2.4 -----------------------
    def reparameterize(self, mean, logvar, eps=None):
        """z = mu + sigma * eps with eps ~ N(0, I) and sigma = exp(0.5 * logvar) (not exp(logvar)).

        The randomness is moved into eps, which does not depend on phi, so z is a
        differentiable function of (mu, logvar) and gradients flow through the sample.
        """
        if eps is None:
            eps = self.rng.standard_normal(mean.shape).astype(mean.dtype)
        return mean + ops.exp(0.5 * logvar) * eps

    # ---- p_theta(x | z[, y]) -------------------------------------------------------------
    def decode(self, z, labels=None):
        """Decoder output at z (and the label y of the CVAE): Bernoulli logits, or the Gaussian means (N, 1, H, W)."""
        return self.decoder(self.with_label(z, labels))

    def log_likelihood(self, x, out, known=None):
        """log p(x | z) per image, summed over pixels (K&W appendix C.1 / C.2).

        Bernoulli: sum_i x_i log s(f_i) + (1 - x_i) log(1 - s(f_i)) = -BCE_with_logits.
        Gaussian:  sum_i log N(x_i; f_i, exp(s_i)).
        With a boolean mask ``known`` shaped like ``out``, the sum runs over the known pixels only: the
        pixels are independent given z, so that is log p(x_known | z), the unknown ones marginalized.
        """
        x = ops.operand_like(x, out)
        if self.likelihood == "bernoulli":
            per_pixel = -losses.binary_cross_entropy_with_logits(out, x, reduction="none")
        else:
            per_pixel = -losses.gaussian_nll_loss(x, out, self.decoder_logvar, reduction="none")
        if known is not None:
            per_pixel = per_pixel * np.asarray(known, per_pixel.dtype)
        return ops.sum(ops.reshape(per_pixel, out.shape[0], -1), axis=1)

    def mean_image(self, out) -> np.ndarray:
        """E[x | z] as a NumPy array: sigmoid of the logits, or the Gaussian mean (clipped to [0, 1])."""
        data = out.data if isinstance(out, ag.Tensor) else out
        if self.likelihood == "bernoulli":
            return 0.5 * (1 + np.tanh(0.5 * data))   # the sigmoid, without overflow
        return np.clip(data, 0, 1)

    # ---- the ELBO: K&W eq. 3 and eq. 10 ---------------------------------------------------
    def forward(self, x, beta: float = 1.0, eps=None, labels=None):
        """The training loss, -mean ELBO (see ``loss``)."""
        return self.loss(x, beta, eps, labels)[0]

    def elbo(self, x, beta: float = 1.0, eps=None, labels=None):
        """Per-image  L(x) = E_q[log p(x | z)] - beta * KL(q(z | x) || p(z))  with one sample of z.

        The KL is in closed form, derived where it is computed: ``losses.kl_normal_standard``.
        Returns (elbo, log_likelihood, kl), each a Tensor of shape (N,), in nats per image.
        beta = 1 is the true bound; beta < 1 during KL warm-up. For the CVAE, with the images' ``labels``,
        it is Sohn et al.'s bound on log p(x | y): q and p take y, the prior stays N(0, I).
        """
        x = check_images(x, self.image_shape, "VAE")
        mean, logvar = self.encode(x, labels)
        z = self.reparameterize(mean, logvar, eps)
        rec = self.log_likelihood(x, self.decode(z, labels))
        kl = losses.kl_normal_standard(mean, logvar, reduction="none")
        return rec - beta * kl, rec, kl

    def loss(self, x, beta: float = 1.0, eps=None, labels=None):
        """The training loss: negative ELBO averaged over the batch (nats per image)."""
        elbo, rec, kl = self.elbo(x, beta, eps, labels)
        return -ops.mean(elbo), rec, kl

    # ---- the importance-weighted bound: Burda et al. eq. 8 -----------------------------
    def log_importance_weights(self, x, k: int, rng=None, chunk: int = 50000, labels=None) -> np.ndarray:
        """log w_i = log p(x | z_i) + log p(z_i) - log q(z_i | x) for k draws z_i ~ q(z | x): (N, k).

        Burda et al. eq. 7 without the average; computed in float64 without a graph, decoding at
        most ``chunk`` latent samples at a time. z_i = mu + exp(0.5 logvar) eps_i as in training.
        For the CVAE every term is conditioned on the images' ``labels`` (the prior is N(0, I) all the same).
        """
        rng = self.rng if rng is None else rng
        x = check_images(x, self.image_shape, "VAE")
        n = len(x)
        with ag.no_grad():
            mean, logvar = (t.data.astype(np.float64) for t in self.encode(x, labels))
            logw = np.empty((n, k))
            per = max(1, chunk // n)                  # latent samples per image per chunk
            for s in range(0, k, per):
                m = min(k, s + per) - s
                eps = rng.standard_normal((m, n, self.latent_dim))
                z = mean + np.exp(0.5 * logvar) * eps                              # (m, n, d)
                log_q = -0.5 * np.sum(LOG_2PI + logvar + eps ** 2, axis=2)         # log N(z; mu, sigma^2)
                log_pz = -0.5 * np.sum(LOG_2PI + z ** 2, axis=2)                   # log N(z; 0, I)
                repeated = None if labels is None else np.tile(np.asarray(labels), m)   # z rows: m draws of n images
                dec = self.decode(z.reshape(m * n, -1).astype(x.dtype), repeated).data.reshape(m, n, -1)
                if self.likelihood == "bernoulli":
                    log_px = _bernoulli_log_likelihood_rows(x.reshape(n, -1), dec)
                else:
                    s2 = self.decoder_logvar.data.reshape(1, 1, -1).astype(np.float64)
                    diff = x.reshape(1, n, -1).astype(np.float64) - dec
                    log_px = -0.5 * np.sum(LOG_2PI + s2 + diff ** 2 * np.exp(-s2), axis=2)
                logw[:, s:s + m] = (log_px + log_pz - log_q).T
        return logw

    def iwae_bound(self, x, k: int = 1000, rng=None, chunk: int = 50000, labels=None) -> np.ndarray:
        """Per image, log p(x) >= L_k = E[ log (1/k) sum_i w_i ],  w_i = p(x, z_i) / q(z_i | x)
        (Burda et al. eq. 8), estimated with one draw of the k samples.

        L_1 is the ELBO; L_k <= L_{k+1} and L_k -> log p(x) as k grows (Burda et al. theorem 1).
        Images are processed in groups so that one group decodes about ``chunk`` samples; k = 5000
        runs on the whole test set. The average is a log-sum-exp, stable for log w ~ -100.
        For the CVAE, with the images' ``labels``, it bounds log p(x | y).
        """
        rng = self.rng if rng is None else rng
        x = check_images(x, self.image_shape, "VAE")
        out = np.empty(len(x), np.float64)
        per = max(1, chunk // k)
        for start in range(0, len(x), per):
            group_labels = None if labels is None else np.asarray(labels)[start:start + per]
            logw = self.log_importance_weights(x[start:start + per], k, rng, chunk, group_labels)
            top = logw.max(axis=1, keepdims=True)
            out[start:start + per] = top[:, 0] + np.log(np.mean(np.exp(logw - top), axis=1))
        return out

    # ---- generation ---------------------------------------------------------------------------
    def sample(self, n: int, rng=None, labels=None) -> np.ndarray:
        """x ~ E[p(x | z[, y])], z ~ p(z) = N(0, I): the decoder's mean images (n, H, W); the CVAE draws
        image i of the class ``labels[i]``."""
        rng = self.rng if rng is None else rng
        z = rng.standard_normal((n, self.latent_dim)).astype(np.float32)
        return self.decode_mean(z, labels)

    def decode_mean(self, z, labels=None) -> np.ndarray:
        with ag.no_grad():
            return self.mean_image(self.decode(np.asarray(z, np.float32), labels))[:, 0]

    def reconstruct(self, x, labels=None) -> np.ndarray:
        """Decoder mean at the encoder mean, mu(x[, y]): a deterministic reconstruction (N, H, W)."""
        with ag.no_grad():
            mean, _ = self.encode(x, labels)
            return self.decode_mean(mean.data, labels)

    def latent_means(self, x, batch: int = 1000, labels=None) -> np.ndarray:
        part = lambda s: None if labels is None else np.asarray(labels)[s:s + batch]  # noqa: E731
        with ag.no_grad():
            return np.concatenate([self.encode(x[s:s + batch], part(s))[0].data for s in range(0, len(x), batch)])

    def interpolate(self, x0, x1, steps: int = 10) -> np.ndarray:
        """Decode (1 - t) mu(x0) + t mu(x1) for t in [0, 1]: (steps, H, W)."""
        ends = [check_images(x[None], self.image_shape, "VAE")[0] for x in (x0, x1)]
        m = self.latent_means(np.stack(ends))
        t = np.linspace(0, 1, steps, dtype=np.float32)[:, None]
        return self.decode_mean((1 - t) * m[0] + t * m[1])

    def manifold(self, n: int = 20, span: float = 3.0) -> np.ndarray:
        """For a 2-d latent: decode an n x n grid of z over [-span, span]^2 -> (n, n, H, W)."""
        if self.latent_dim != 2:
            raise ValueError(f"the manifold grid needs a 2-d latent, this model has {self.latent_dim}")
        g = np.linspace(-span, span, n, dtype=np.float32)
        z = np.stack(np.meshgrid(g, g[::-1]), axis=-1).reshape(-1, 2)   # rows: z2 from top to bottom
        return self.decode_mean(z).reshape(n, n, *self.image_shape[1:])

    def evaluate(self, x, batch: int = 500, seed: int = 0, labels=None) -> dict:
        """Mean ELBO, log-likelihood and KL (nats per image) over ``x`` (with its ``labels`` for the CVAE),
        one z per image.

        The noise comes from its own generator seeded with ``seed``, so evaluating does not
        advance the training noise (and resumed runs stay identical to uninterrupted ones).
        """
        rng = np.random.default_rng(seed)
        total = np.zeros(3)
        with ag.no_grad():
            for s in range(0, len(x), batch):
                xb = x[s:s + batch]
                eps = rng.standard_normal((len(xb), self.latent_dim)).astype(np.float32)
                e, r, k = self.elbo(xb, eps=eps, labels=None if labels is None else np.asarray(labels)[s:s + batch])
                total += [float(np.sum(e.data)), float(np.sum(r.data)), float(np.sum(k.data))]
        total /= len(x)
        return {"elbo": total[0], "recon": total[1], "kl": total[2]}
