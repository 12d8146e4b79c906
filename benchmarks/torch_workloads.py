"""The same workloads in PyTorch, for the side-by-side comparison of ``run.py --compare torch``.

``twin(workload)`` builds the PyTorch model of a scratchgen ``Workload`` with the same module
names, copies every parameter and buffer from the scratchgen model, and uses the same fixed
inputs, so the first step of both computes the same loss. This is the only module that imports
torch; ``available()`` says whether it can.
"""
from __future__ import annotations

import math

import numpy as np

try:
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
except ImportError:  # the comparison is optional; run.py reports that it is skipped
    torch = None


def available() -> bool:
    return torch is not None


def _copy_weights(torch_module, scratchgen_module):
    state = {name: torch.from_numpy(np.array(value)) for name, value in scratchgen_module.state_dict().items()}
    torch_module.load_state_dict(state, strict=True)
    return torch_module


def _training_step(optimizer, loss_fn):
    def step():
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn()
        loss.backward()
        optimizer.step()
        return loss.item()
    return step


def _vae_loss(logits, x, mean, logvar):
    reconstruction = F.binary_cross_entropy_with_logits(logits, x, reduction="sum")
    kl = -0.5 * torch.sum(1 + logvar - mean * mean - logvar.exp())
    return (reconstruction + kl) / x.shape[0]


def _reparameterize(stats, latent_dim, eps):
    mean, logvar = stats[:, :latent_dim], stats[:, latent_dim:]
    return mean + torch.exp(0.5 * logvar) * eps, mean, logvar


class MlpVAE(nn.Module):
    latent_dim = 20

    def __init__(self):
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(784, 400), nn.ReLU(), nn.Linear(400, 2 * self.latent_dim))
        self.decoder = nn.Sequential(nn.Linear(self.latent_dim, 400), nn.ReLU(), nn.Linear(400, 784))

    def forward(self, x, eps):
        z, mean, logvar = _reparameterize(self.encoder(x), self.latent_dim, eps)
        return self.decoder(z), mean, logvar


class ConvVAE(nn.Module):
    latent_dim = 16

    def __init__(self):
        super().__init__()
        self.encoder = nn.Sequential(
            nn.Conv2d(1, 32, 4, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(32, 64, 4, stride=2, padding=1), nn.ReLU(),
            nn.Flatten(), nn.Linear(3136, 2 * self.latent_dim))
        self.decoder = nn.Sequential(
            nn.Linear(self.latent_dim, 3136), nn.ReLU(), nn.Unflatten(1, (64, 7, 7)),
            nn.ConvTranspose2d(64, 32, 4, stride=2, padding=1), nn.ReLU(),
            nn.ConvTranspose2d(32, 1, 4, stride=2, padding=1))

    def forward(self, x, eps):
        z, mean, logvar = _reparameterize(self.encoder(x), self.latent_dim, eps)
        return self.decoder(z), mean, logvar


def _vae(workload, model_class):
    model = _copy_weights(model_class(), workload.modules["model"])
    x, eps = (torch.from_numpy(workload.inputs[key]) for key in ("x", "eps"))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)

    def loss():
        logits, mean, logvar = model(x, eps)
        return _vae_loss(logits, x, mean, logvar)

    return _training_step(optimizer, loss)


class Generator(nn.Module):
    """scratchgen.models.gan.MLPGenerator, module for module."""

    def __init__(self):
        super().__init__()
        layers, width = [], 64
        for out in (128, 256, 512, 1024):
            layers += [nn.Linear(width, out), nn.BatchNorm1d(out), nn.ReLU()]
            width = out
        self.net = nn.Sequential(*layers, nn.Linear(width, 784), nn.Sigmoid())

    def forward(self, z):
        return self.net(z).reshape(-1, 1, 28, 28)


class Discriminator(nn.Module):
    """scratchgen.models.gan.MLPDiscriminator(activation="leaky_relu"), module for module."""

    def __init__(self):
        super().__init__()
        layers, width = [nn.Flatten()], 784
        for out in (512, 256, 128):
            layers += [nn.Linear(width, out), nn.LeakyReLU(0.2)]
            width = out
        self.net = nn.Sequential(*layers, nn.Linear(width, 1))

    def forward(self, images):
        return self.net(images).reshape(-1)


def _gan(workload):
    generator = _copy_weights(Generator(), workload.modules["generator"])
    discriminator = _copy_weights(Discriminator(), workload.modules["discriminator"])
    real, z = (torch.from_numpy(workload.inputs[key]) for key in ("real", "z"))
    ones, zeros = torch.ones(len(real)), torch.zeros(len(real))
    opt_g = torch.optim.Adam(generator.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(discriminator.parameters(), lr=2e-4, betas=(0.5, 0.999))

    def step():
        opt_d.zero_grad(set_to_none=True)
        fake = generator(z)
        d_loss = (F.binary_cross_entropy_with_logits(discriminator(real), ones)
                  + F.binary_cross_entropy_with_logits(discriminator(fake.detach()), zeros))
        d_loss.backward()
        opt_d.step()
        opt_g.zero_grad(set_to_none=True)
        g_loss = F.binary_cross_entropy_with_logits(discriminator(fake), ones)
        g_loss.backward()
        opt_g.step()
        return d_loss.item() + g_loss.item()

    return step


def sinusoidal_embedding(t, dim=32):
    half = dim // 2
    frequencies = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float64) / half)
    angles = t.to(torch.float64)[:, None] * frequencies[None, :]
    return torch.cat([torch.sin(angles), torch.cos(angles)], dim=1).float()


class ResBlock(nn.Module):
    def __init__(self, cin, cout, temb_dim=128):
        super().__init__()
        self.norm1 = nn.GroupNorm(8, cin)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.time = nn.Linear(temb_dim, cout)
        self.norm2 = nn.GroupNorm(8, cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x, temb):
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.time(F.silu(temb))[:, :, None, None]
        h = self.conv2(F.silu(self.norm2(h)))
        return h + self.skip(x)


class TimeEmbedding(nn.Module):
    def __init__(self):
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(32, 128), nn.SiLU(), nn.Linear(128, 128))

    def forward(self, t):
        return self.mlp(sinusoidal_embedding(t))


class UNet(nn.Module):
    """scratchgen.models.unet.UNet with widths (32, 64), module for module."""

    def __init__(self):
        super().__init__()
        self.time_embedding = TimeEmbedding()
        self.stem = nn.Conv2d(1, 32, 3, padding=1)
        self.down1 = ResBlock(32, 32)
        self.downsample1 = nn.Conv2d(32, 32, 3, stride=2, padding=1)
        self.down2 = ResBlock(32, 64)
        self.downsample2 = nn.Conv2d(64, 64, 3, stride=2, padding=1)
        self.middle1 = ResBlock(64, 64)
        self.middle2 = ResBlock(64, 64)
        self.upsample2 = nn.Conv2d(64, 64, 3, padding=1)
        self.up2 = ResBlock(128, 64)
        self.upsample1 = nn.Conv2d(64, 64, 3, padding=1)
        self.up1 = ResBlock(96, 32)
        self.out_norm = nn.GroupNorm(8, 32)
        self.out_conv = nn.Conv2d(32, 1, 3, padding=1)

    def forward(self, x, t):
        temb = self.time_embedding(t)
        h = self.stem(x)
        skip1 = self.down1(h, temb)
        skip2 = self.down2(self.downsample1(skip1), temb)
        h = self.middle2(self.middle1(self.downsample2(skip2), temb), temb)
        h = self.upsample2(F.interpolate(h, scale_factor=2, mode="nearest"))
        h = self.up2(torch.cat([h, skip2], dim=1), temb)
        h = self.upsample1(F.interpolate(h, scale_factor=2, mode="nearest"))
        h = self.up1(torch.cat([h, skip1], dim=1), temb)
        return self.out_conv(F.silu(self.out_norm(h)))


def _ddpm_unet(workload):
    model = _copy_weights(UNet(), workload.modules["model"])
    x_t, t, noise = (torch.from_numpy(workload.inputs[key]) for key in ("x_t", "t", "noise"))
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-4)
    return _training_step(optimizer, lambda: F.mse_loss(model(x_t, t), noise))


def _ddpm_sample(workload):
    model = _copy_weights(UNet(), workload.modules["model"]).eval()
    x_t, t, z = (torch.from_numpy(workload.inputs[key]) for key in ("x_t", "t", "z"))
    constants = workload.extra

    def step():
        with torch.no_grad():
            eps = model(x_t, t)
            x_prev = constants["scale"] * (x_t - constants["eps_scale"] * eps) + constants["sigma"] * z
        return float(x_prev.double().mean())

    return step


def _op(workload, forward, names):
    tensors = [torch.from_numpy(workload.inputs[name]).clone().requires_grad_() for name in names]
    upstream = torch.from_numpy(workload.inputs["upstream"])

    def step():
        for tensor in tensors:
            tensor.grad = None
        y = forward(*tensors)
        y.backward(upstream)
        return float(torch.vdot(y.detach().reshape(-1), upstream.reshape(-1)))

    return step


_TWINS = {
    "vae_mlp": lambda w: _vae(w, MlpVAE),
    "vae_conv": lambda w: _vae(w, ConvVAE),
    "gan_mlp": _gan,
    "ddpm_unet": _ddpm_unet,
    "ddpm_sample": _ddpm_sample,
    "conv2d": lambda w: _op(w, lambda x, w_, b: F.conv2d(x, w_, b, stride=1, padding=1), ("x", "w", "b")),
    "conv_transpose2d": lambda w: _op(w, lambda x, w_, b: F.conv_transpose2d(x, w_, b, stride=2, padding=1),
                                      ("x", "w", "b")),
    "groupnorm": lambda w: _op(w, lambda x, weight, bias: F.group_norm(x, 8, weight, bias),
                               ("x", "weight", "bias")),
    "matmul": lambda w: _op(w, F.linear, ("x", "weight", "bias")),
}


def twin(workload):
    """The PyTorch step function computing what ``workload.step`` computes, from the same weights and inputs."""
    return _TWINS[workload.name](workload)


def set_threads(threads: int) -> None:
    torch.set_num_threads(threads)


def version() -> str:
    return torch.__version__
