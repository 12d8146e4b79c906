"""Noise-prediction networks for diffusion: the ``ddpm_unet`` UNet and a small MLP.

Both map a noisy image x_t (N, 1, 28, 28) and its timesteps t (N,) to a prediction of the noise
that was added, eps_theta(x_t, t), of the same shape as x_t (Ho et al. 2020, section 3.2).
The UNet follows the ``ddpm_unet`` layout of benchmarks/README.md, with configurable widths.
"""
from __future__ import annotations

import math

import numpy as np

from .. import nn
from ..autograd import ops
from ..autograd.tensor import Tensor


def sinusoidal_embedding(t: np.ndarray, dim: int) -> np.ndarray:
    """Transformer-style features of the timestep (Vaswani et al. 2017, section 3.5).

    [sin(t w_0), ..., sin(t w_{d/2-1}), cos(t w_0), ..., cos(t w_{d/2-1})] with
    w_i = 10000^(-i / (d/2)): geometrically spaced frequencies, so nearby timesteps get similar
    features and every timestep a distinct one.
    """
    half = dim // 2
    frequencies = np.exp(-math.log(10000.0) * np.arange(half) / half)
    angles = np.asarray(t, np.float64)[:, None] * frequencies[None, :]
    return np.concatenate([np.sin(angles), np.cos(angles)], axis=1).astype(np.float32)


class TimeEmbedding(nn.Module):
    """Sinusoidal features of t, then Linear, SiLU, Linear; plus an optional class embedding.

    For classifier-free guidance the class embedding has one extra row, index ``num_classes``,
    that stands for "no label" (Ho & Salimans 2022).
    """

    def __init__(self, features: int = 32, dim: int = 128, num_classes: int | None = None):
        super().__init__()
        self.features = features
        self.mlp = nn.Sequential(nn.Linear(features, dim), nn.SiLU(), nn.Linear(dim, dim))
        self.num_classes = num_classes
        self.labels = nn.Embedding(num_classes + 1, dim) if num_classes else None

    def forward(self, t: np.ndarray, labels: np.ndarray | None = None) -> Tensor:
        emb = self.mlp(sinusoidal_embedding(t, self.features).astype(self.mlp[0].weight.dtype))
        if self.labels is None:
            if labels is not None:
                raise ValueError("this network was built without num_classes; it cannot take labels")
            return emb
        if labels is None:
            labels = np.full(len(t), self.num_classes)
        return emb + self.labels(np.asarray(labels))


class ResBlock(nn.Module):
    """GroupNorm, SiLU, Conv3x3; add a projection of the time embedding; GroupNorm, SiLU, Conv3x3; skip."""

    def __init__(self, cin: int, cout: int, time_dim: int, groups: int = 8):
        super().__init__()
        self.norm1, self.conv1 = nn.GroupNorm(groups, cin), nn.Conv2d(cin, cout, 3, padding=1)
        self.time = nn.Linear(time_dim, cout)
        self.norm2, self.conv2 = nn.GroupNorm(groups, cout), nn.Conv2d(cout, cout, 3, padding=1)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x: Tensor, temb: Tensor) -> Tensor:
        h = self.conv1(ops.silu(self.norm1(x)))
        h = h + self.time(ops.silu(temb)).reshape(h.shape[0], h.shape[1], 1, 1)  # one shift per channel
        h = self.conv2(ops.silu(self.norm2(h)))
        return h + self.skip(x)


class UNet(nn.Module):
    """The ``ddpm_unet`` network: 28x28 -> 14x14 -> 7x7 and back, with skip connections.

    ``widths`` = (c1, c2) are the channels at 28x28 and at 14x14/7x7 (the benchmark uses
    (32, 64)); ``time_dim`` the size of the time embedding.
    """

    def __init__(self, widths=(32, 64), time_dim: int = 128, time_features: int = 32, groups: int = 8,
                 num_classes: int | None = None):
        super().__init__()
        c1, c2 = widths
        self.time_embedding = TimeEmbedding(time_features, time_dim, num_classes)
        self.stem = nn.Conv2d(1, c1, 3, padding=1)
        self.down1, self.downsample1 = ResBlock(c1, c1, time_dim, groups), nn.Conv2d(c1, c1, 3, stride=2, padding=1)
        self.down2, self.downsample2 = ResBlock(c1, c2, time_dim, groups), nn.Conv2d(c2, c2, 3, stride=2, padding=1)
        self.middle1, self.middle2 = ResBlock(c2, c2, time_dim, groups), ResBlock(c2, c2, time_dim, groups)
        self.upsample2, self.up2 = nn.Conv2d(c2, c2, 3, padding=1), ResBlock(2 * c2, c2, time_dim, groups)
        self.upsample1, self.up1 = nn.Conv2d(c2, c2, 3, padding=1), ResBlock(c2 + c1, c1, time_dim, groups)
        self.out_norm, self.out_conv = nn.GroupNorm(groups, c1), nn.Conv2d(c1, 1, 3, padding=1)

    def forward(self, x, t: np.ndarray, labels: np.ndarray | None = None) -> Tensor:
        temb = self.time_embedding(t, labels)
        skip1 = self.down1(self.stem(x), temb)                                  # c1 x 28 x 28
        skip2 = self.down2(self.downsample1(skip1), temb)                       # c2 x 14 x 14
        h = self.middle2(self.middle1(self.downsample2(skip2), temb), temb)     # c2 x 7 x 7
        h = self.upsample2(nn.functional.interpolate(h, scale_factor=2))        # c2 x 14 x 14
        h = self.up2(ops.concatenate([h, skip2], axis=1), temb)
        h = self.upsample1(nn.functional.interpolate(h, scale_factor=2))        # c2 x 28 x 28
        h = self.up1(ops.concatenate([h, skip1], axis=1), temb)
        return self.out_conv(ops.silu(self.out_norm(h)))


class MLPDenoiser(nn.Module):
    """The quickest noise predictor: the flattened image and the time embedding through an MLP, plus c(t) x_t.

    A hidden layer narrower than the image cannot pass the 784-dimensional noise through, yet at
    large t the noise is nearly all of x_t. For Gaussian data the best prediction of eps is
    linear in x_t with a coefficient that depends on t only, so a learned c(t) times x_t carries
    that part and the MLP learns the rest.
    """

    def __init__(self, hidden: int = 512, time_dim: int = 128, image_shape=(1, 28, 28), num_classes: int | None = None):
        super().__init__()
        self.image_shape = tuple(image_shape)
        pixels = int(np.prod(image_shape))
        self.time_embedding = TimeEmbedding(32, time_dim, num_classes)
        self.net = nn.Sequential(nn.Linear(pixels + time_dim, hidden), nn.SiLU(), nn.Linear(hidden, hidden), nn.SiLU(),
                                 nn.Linear(hidden, pixels))
        self.input_scale = nn.Linear(time_dim, 1)     # c(t)

    def forward(self, x, t: np.ndarray, labels: np.ndarray | None = None) -> Tensor:
        n = x.shape[0]
        temb = self.time_embedding(t, labels)
        h = ops.concatenate([ops.reshape(x, (n, -1)), temb], axis=1)
        return self.net(h).reshape(n, *self.image_shape) + self.input_scale(ops.silu(temb)).reshape(n, 1, 1, 1) * x
