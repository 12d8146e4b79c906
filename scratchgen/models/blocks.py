"""Pieces shared by the image models: the input check and the MLP and conv encoders and decoders.

Every model names its images' shape ``image_shape = (C, H, W)`` (channels first, as PyTorch's
layers do) and its code or noise size ``latent_dim``.
"""
from __future__ import annotations

import numpy as np

from .. import autograd as ag, nn
from ..autograd import ops


def single_channel_shape(image_shape, owner: str) -> tuple:
    """``image_shape`` as a tuple (1, H, W), or a one-line error for any other (C, H, W)."""
    shape = tuple(int(n) for n in image_shape)
    if len(shape) != 3 or shape[0] != 1:
        raise ValueError(f"{owner} expects image_shape (1, H, W) for one-channel images, got {shape}")
    return shape


def check_images(x, image_shape, owner: str = "model"):
    """Accept (N, C, H, W), (N, C*H*W) or, for one channel, (N, H, W); return (N, C, H, W) or raise
    a one-line error. ``image_shape`` is the model's (C, H, W).

    NumPy input becomes a float32 (or float64) array; a Tensor stays a Tensor (reshaped in the graph).
    """
    is_tensor = isinstance(x, ag.Tensor)
    if not is_tensor:
        x = np.asarray(x)
    c, h, w = image_shape
    pixels = c * h * w
    if not ((x.ndim == 2 and x.shape[1] == pixels) or (x.ndim == 3 and c == 1 and x.shape[1:] == (h, w))
            or (x.ndim == 4 and x.shape[1:] == (c, h, w))):
        accepted = f"(N, {h}, {w}), (N, 1, {h}, {w})" if c == 1 else f"(N, {c}, {h}, {w})"
        raise ValueError(f"{owner} expected an image batch of shape {accepted} or (N, {pixels}), "
                         f"got shape {tuple(x.shape)}")
    if is_tensor:
        return ops.reshape(x, x.shape[0], c, h, w)
    x = x.reshape(len(x), c, h, w)
    return x if x.dtype in (np.float32, np.float64) else x.astype(np.float32)


def mlp_encoder(pixels: int, hidden: int, out: int) -> nn.Module:
    return nn.Sequential(nn.Flatten(), nn.Linear(pixels, hidden), nn.ReLU(), nn.Linear(hidden, out))


def mlp_decoder(latent_dim: int, hidden: int, image_shape) -> nn.Module:
    pixels = int(np.prod(image_shape))
    return nn.Sequential(nn.Linear(latent_dim, hidden), nn.ReLU(), nn.Linear(hidden, pixels),
                         nn.Unflatten(1, tuple(image_shape)))


def conv_encoder(out: int) -> nn.Module:
    """The ``vae_conv`` encoder of benchmarks/README.md: 1x28x28 -> 32x14x14 -> 64x7x7 -> out."""
    return nn.Sequential(nn.Conv2d(1, 32, 4, stride=2, padding=1), nn.ReLU(),
                         nn.Conv2d(32, 64, 4, stride=2, padding=1), nn.ReLU(),
                         nn.Flatten(), nn.Linear(64 * 7 * 7, out))


def conv_decoder(latent_dim: int) -> nn.Module:
    return nn.Sequential(nn.Linear(latent_dim, 64 * 7 * 7), nn.ReLU(), nn.Unflatten(1, (64, 7, 7)),
                         nn.ConvTranspose2d(64, 32, 4, stride=2, padding=1), nn.ReLU(),
                         nn.ConvTranspose2d(32, 1, 4, stride=2, padding=1))
