"""Autoencoders: an encoder maps an image to a low-dimensional code h = f(x), a decoder maps it
back, x_hat = g(h), and both are trained to make x_hat close to x (Hinton & Salakhutdinov,
Science 2006). docs/autoencoder.md has the math and the three uses shown in examples/:
compression (against PCA), denoising (Vincent et al., ICML 2008) and one-class anomaly detection.

Reconstruction losses, per image as a sum over pixels (mean over the batch for training):
  "mse": sum_i (x_i - x_hat_i)^2 with x_hat = sigmoid(g(h))
  "bce": sum_i -[x_i log x_hat_i + (1 - x_i) log(1 - x_hat_i)], computed from the logits g(h).
"""
from __future__ import annotations

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
RECON_LOSSES = ("mse", "bce")
CORRUPTIONS = ("gaussian", "salt-pepper", "mask", "hole")


class Autoencoder(nn.Module):
    """Dense (``arch="mlp"``: 784-hidden-latent_dim) or convolutional autoencoder; the decoder gives logits."""

    def __init__(self, arch: str = "mlp", latent_dim: int = 32, hidden: int = 400, loss: str = "bce",
                 image_shape=(1, 28, 28)):
        super().__init__()
        if arch not in ARCHS:
            raise ValueError(f"unknown autoencoder architecture {arch!r}: expected one of {', '.join(ARCHS)}")
        if loss not in RECON_LOSSES:
            raise ValueError(f"unknown reconstruction loss {loss!r}: expected one of {', '.join(RECON_LOSSES)}")
        self.arch, self.latent_dim, self.hidden, self.loss_name = arch, int(latent_dim), int(hidden), loss
        self.image_shape = single_channel_shape(image_shape, "Autoencoder")
        if arch == "mlp":
            self.encoder = mlp_encoder(int(np.prod(self.image_shape)), hidden, latent_dim)
            self.decoder = mlp_decoder(latent_dim, hidden, self.image_shape)
        else:
            self.encoder = conv_encoder(latent_dim)
            self.decoder = conv_decoder(latent_dim)

    def config(self) -> dict:
        return dict(arch=self.arch, latent_dim=self.latent_dim, hidden=self.hidden, loss=self.loss_name,
                    image_shape=list(self.image_shape))

    def encode(self, x):
        """h = f(x): the code, shape (N, latent_dim)."""
        return self.encoder(check_images(x, self.image_shape, "Autoencoder"))

    def decode(self, h):
        """g(h): logits of the reconstruction, shape (N, 1, H, W)."""
        return self.decoder(h)

    def forward(self, x):
        return self.decode(self.encode(x))

    def reconstruction_loss(self, x_in, target=None):
        """Mean over the batch of the per-image reconstruction loss of ``target`` (default x_in)
        from the code of ``x_in``: denoising trains on corrupted x_in with a clean target."""
        x_in = check_images(x_in, self.image_shape, "Autoencoder")
        target = x_in if target is None else check_images(target, self.image_shape, "Autoencoder")
        logits = self(x_in)
        if self.loss_name == "bce":
            per_pixel = losses.binary_cross_entropy_with_logits(logits, target, reduction="none")
        else:
            diff = ops.sigmoid(logits) - target
            per_pixel = diff * diff
        return ops.mean(ops.sum(ops.reshape(per_pixel, len(target), -1), axis=1))

    def reconstruct(self, x, batch: int = 1000) -> np.ndarray:
        """x_hat = sigmoid(g(f(x))) as float32 (N, H, W), without a graph."""
        x = check_images(x, self.image_shape, "Autoencoder")
        with ag.no_grad():
            parts = [self(x[s:s + batch]).data for s in range(0, len(x), batch)]
        return (0.5 * (1 + np.tanh(0.5 * np.concatenate(parts))))[:, 0].astype(np.float32)   # sigmoid

    def sample(self, n: int, rng=None) -> np.ndarray:
        """Not a generative model: decodes codes drawn from N(0, I) to show what the decoder does."""
        rng = np.random.default_rng(0) if rng is None else rng
        with ag.no_grad():
            out = self.decode(rng.standard_normal((n, self.latent_dim)).astype(np.float32)).data
        return (0.5 * (1 + np.tanh(0.5 * out)))[:, 0]


def corrupt(x: np.ndarray, kind: str, level: float, rng: np.random.Generator) -> np.ndarray:
    """Corrupt images in [0, 1] for denoising.

    gaussian:    x + level * N(0, 1), clipped to [0, 1]
    salt-pepper: each pixel with probability ``level`` becomes 0 or 1 (equally likely)
    mask:        each pixel with probability ``level`` is set to 0 (dropped)
    hole:        a square of side round(level * width) at a random place in each image is set to 0
                 (an inpainting autoencoder: level 0.5 is a 14x14 hole in a 28x28 digit)
    """
    x = np.asarray(x, np.float32)
    if kind == "gaussian":
        return np.clip(x + level * rng.standard_normal(x.shape).astype(np.float32), 0, 1)
    if kind == "salt-pepper":
        hit = rng.random(x.shape) < level
        salt = rng.random(x.shape) < 0.5
        return np.where(hit, salt.astype(np.float32), x)
    if kind == "mask":
        return np.where(rng.random(x.shape) < level, np.float32(0), x)
    if kind == "hole":
        height, width = x.shape[-2:]
        side = int(round(level * width))
        if not 0 < side <= min(height, width):
            raise ValueError(f"hole corruption: level {level} gives a {side}-pixel hole; expected 0 < level <= 1")
        rows = rng.integers(0, height - side + 1, size=len(x))
        cols = rng.integers(0, width - side + 1, size=len(x))
        i, j = np.arange(height)[None, :, None], np.arange(width)[None, None, :]
        r, c = rows[:, None, None], cols[:, None, None]
        inside = (i >= r) & (i < r + side) & (j >= c) & (j < c + side)
        return np.where(inside.reshape(len(x), *([1] * (x.ndim - 3)), height, width), np.float32(0), x)
    raise ValueError(f"unknown corruption {kind!r}: expected one of {', '.join(CORRUPTIONS)}")


def pca_reconstruct(train: np.ndarray, test: np.ndarray, latent_dim: int) -> np.ndarray:
    """PCA with ``latent_dim`` components from NumPy's SVD of the centred training images.

    X - m = U S V^T; the code of x is h = V_k^T (x - m), the reconstruction m + V_k h.
    """
    a = train.reshape(len(train), -1).astype(np.float64)
    m = a.mean(axis=0)
    _, _, vt = np.linalg.svd(a - m, full_matrices=False)
    v = vt[:latent_dim].T
    t = test.reshape(len(test), -1).astype(np.float64)
    return (m + (t - m) @ v @ v.T).reshape(test.shape).astype(np.float32)
