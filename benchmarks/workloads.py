"""The benchmark workloads of ../shared/BENCHMARKS.md, built from scratchgen.nn.

Each workload is a ``Workload``: its scratchgen modules (whose ``state_dict`` the PyTorch twin in
``torch_workloads.py`` copies), its fixed inputs (NumPy arrays drawn once, so both sides compute
on the same numbers), and ``step()``, the timed unit, which returns the step's loss as a float.
The architectures are the contract; keep them exactly as BENCHMARKS.md writes them.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

import scratchgen as sg
import scratchgen.nn as nn
import scratchgen.nn.functional as F
from scratchgen.optim import Adam

NAMES = ("vae_mlp", "gan_mlp", "vae_conv", "ddpm_unet", "ddpm_sample", "conv2d", "conv_transpose2d",
         "groupnorm", "matmul")


@dataclass
class Workload:
    name: str
    modules: dict  # name -> scratchgen Module, mirrored by the PyTorch twin under the same name
    inputs: dict  # name -> float32 (or int64) array, shared with the PyTorch twin
    step: Callable[[], float]  # one timed step; returns its loss
    shape: str = ""  # one line for the table
    extra: dict = field(default_factory=dict)  # constants the twin needs (e.g. the DDPM schedule)


def _uniform(rng, *shape):
    return rng.random(shape, dtype=np.float32)


def _normal(rng, *shape):
    return rng.standard_normal(shape, dtype=np.float32)


def _vae_loss(logits, x, mean, logvar):
    """Bernoulli NLL summed over pixels plus KL(q(z|x) || N(0, I)), averaged over the batch."""
    reconstruction = F.binary_cross_entropy_with_logits(logits, x, reduction="sum")
    kl = sg.kl_normal_standard(mean, logvar, reduction="sum")
    return (reconstruction + kl) / x.shape[0]


def _reparameterize(stats, latent, eps):
    """z = mean + exp(0.5 logvar) eps, with mean and logvar the two halves of ``stats``."""
    mean, logvar = stats[:, :latent], stats[:, latent:]
    return mean + sg.exp(0.5 * logvar) * eps, mean, logvar


def _training_step(optimizer, loss_fn):
    def step():
        optimizer.zero_grad()
        loss = loss_fn()
        loss.backward()
        optimizer.step()
        return loss.item()
    return step


# ------------------------------------------------------------------------------------------ VAEs
class MlpVAE(nn.Module):
    """Linear(784,400), ReLU, Linear(400,40) -> (mean, logvar); Linear(20,400), ReLU, Linear(400,784)."""

    latent = 20

    def __init__(self):
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(784, 400), nn.ReLU(), nn.Linear(400, 2 * self.latent))
        self.decoder = nn.Sequential(nn.Linear(self.latent, 400), nn.ReLU(), nn.Linear(400, 784))

    def forward(self, x, eps):
        z, mean, logvar = _reparameterize(self.encoder(x), self.latent, eps)
        return self.decoder(z), mean, logvar


class ConvVAE(nn.Module):
    """Two stride-2 convs to (64,7,7), Linear(3136,32) -> (mean, logvar); the mirror image back to logits."""

    latent = 16

    def __init__(self):
        super().__init__()
        self.encoder = nn.Sequential(
            nn.Conv2d(1, 32, 4, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(32, 64, 4, stride=2, padding=1), nn.ReLU(),
            nn.Flatten(), nn.Linear(3136, 2 * self.latent))
        self.decoder = nn.Sequential(
            nn.Linear(self.latent, 3136), nn.ReLU(), nn.Unflatten(1, (64, 7, 7)),
            nn.ConvTranspose2d(64, 32, 4, stride=2, padding=1), nn.ReLU(),
            nn.ConvTranspose2d(32, 1, 4, stride=2, padding=1))

    def forward(self, x, eps):
        z, mean, logvar = _reparameterize(self.encoder(x), self.latent, eps)
        return self.decoder(z), mean, logvar


def _vae_workload(name, model, x_shape, seed):
    rng = np.random.default_rng(seed)
    x = _uniform(rng, *x_shape)
    eps = _normal(rng, x_shape[0], model.latent)
    optimizer = Adam(model.parameters(), lr=1e-3)

    def loss():
        logits, mean, logvar = model(x, eps)
        return _vae_loss(logits, sg.tensor(x).reshape(logits.shape), mean, logvar)

    return Workload(name, {"model": model}, {"x": x, "eps": eps}, _training_step(optimizer, loss),
                    f"batch {x_shape[0]}")


def vae_mlp(seed=0):
    sg.manual_seed(seed)
    return _vae_workload("vae_mlp", MlpVAE(), (128, 784), seed)


def vae_conv(seed=0):
    sg.manual_seed(seed)
    return _vae_workload("vae_conv", ConvVAE(), (128, 1, 28, 28), seed)


# ------------------------------------------------------------------------------------------ GAN
def gan_generator(z_dim=64):
    """z, four Linear+BatchNorm1d+ReLU blocks (128, 256, 512, 1024), Linear(1024,784), Sigmoid."""
    layers, width = [], z_dim
    for out in (128, 256, 512, 1024):
        layers += [nn.Linear(width, out), nn.BatchNorm1d(out), nn.ReLU()]
        width = out
    return nn.Sequential(*layers, nn.Linear(width, 784), nn.Sigmoid())


def gan_discriminator():
    """Three Linear+LeakyReLU(0.2) blocks (512, 256, 128), Linear(128,1) giving a logit."""
    layers, width = [], 784
    for out in (512, 256, 128):
        layers += [nn.Linear(width, out), nn.LeakyReLU(0.2)]
        width = out
    return nn.Sequential(*layers, nn.Linear(width, 1))


def gan_mlp(seed=0, batch=128):
    sg.manual_seed(seed)
    generator, discriminator = gan_generator(), gan_discriminator()
    rng = np.random.default_rng(seed)
    real, z = _uniform(rng, batch, 784), _normal(rng, batch, 64)
    ones, zeros = np.ones((batch, 1), np.float32), np.zeros((batch, 1), np.float32)
    opt_g = Adam(generator.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = Adam(discriminator.parameters(), lr=2e-4, betas=(0.5, 0.999))

    def step():
        """One discriminator update on real and detached fake images, then one generator update."""
        opt_d.zero_grad()
        fake = generator(z)
        d_loss = (F.binary_cross_entropy_with_logits(discriminator(real), ones)
                  + F.binary_cross_entropy_with_logits(discriminator(fake.detach()), zeros))
        d_loss.backward()
        opt_d.step()
        opt_g.zero_grad()
        g_loss = F.binary_cross_entropy_with_logits(discriminator(fake), ones)  # non-saturating
        g_loss.backward()
        opt_g.step()
        return d_loss.item() + g_loss.item()

    return Workload("gan_mlp", {"generator": generator, "discriminator": discriminator},
                    {"real": real, "z": z}, step, f"batch {batch}")


# ------------------------------------------------------------------------------------------ DDPM
def sinusoidal_embedding(t, dim=32):
    """[sin(t w_k), cos(t w_k)] with w_k = 10000^(-k/(dim/2)), k < dim/2 (Vaswani et al.), float32."""
    half = dim // 2
    frequencies = np.exp(-math.log(10000.0) * np.arange(half) / half)
    angles = np.asarray(t, dtype=np.float64)[:, None] * frequencies[None, :]
    return np.concatenate([np.sin(angles), np.cos(angles)], axis=1).astype(np.float32)


class ResBlock(nn.Module):
    """GroupNorm, SiLU, Conv3x3; + Linear(SiLU(temb)) per channel; GroupNorm, SiLU, Conv3x3; + skip."""

    def __init__(self, cin, cout, temb_dim=128):
        super().__init__()
        self.norm1 = nn.GroupNorm(8, cin)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.temb_proj = nn.Linear(temb_dim, cout)
        self.norm2 = nn.GroupNorm(8, cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x, temb):
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.temb_proj(F.silu(temb)).reshape(temb.shape[0], -1, 1, 1)
        h = self.conv2(F.silu(self.norm2(h)))
        return h + self.skip(x)


class UNet(nn.Module):
    """The small DDPM UNet of BENCHMARKS.md: 28x28 -> 14x14 -> 7x7 and back, with skips at 28 and 14."""

    def __init__(self):
        super().__init__()
        self.time_mlp = nn.Sequential(nn.Linear(32, 128), nn.SiLU(), nn.Linear(128, 128))
        self.stem = nn.Conv2d(1, 32, 3, padding=1)
        self.down1 = ResBlock(32, 32)
        self.downsample1 = nn.Conv2d(32, 32, 3, stride=2, padding=1)
        self.down2 = ResBlock(32, 64)
        self.downsample2 = nn.Conv2d(64, 64, 3, stride=2, padding=1)
        self.mid1 = ResBlock(64, 64)
        self.mid2 = ResBlock(64, 64)
        self.upconv2 = nn.Conv2d(64, 64, 3, padding=1)
        self.up2 = ResBlock(128, 64)
        self.upconv1 = nn.Conv2d(64, 64, 3, padding=1)
        self.up1 = ResBlock(96, 32)
        self.out_norm = nn.GroupNorm(8, 32)
        self.out_conv = nn.Conv2d(32, 1, 3, padding=1)

    def forward(self, x, t):
        temb = self.time_mlp(sinusoidal_embedding(t))
        h = self.stem(x)
        skip1 = self.down1(h, temb)
        skip2 = self.down2(self.downsample1(skip1), temb)
        h = self.mid2(self.mid1(self.downsample2(skip2), temb), temb)
        h = self.upconv2(F.upsample_nearest2d(h, 2))
        h = self.up2(sg.concatenate([h, skip2], axis=1), temb)
        h = self.upconv1(F.upsample_nearest2d(h, 2))
        h = self.up1(sg.concatenate([h, skip1], axis=1), temb)
        return self.out_conv(F.silu(self.out_norm(h)))


def ddpm_schedule(steps=1000):
    """Linear betas from 1e-4 to 0.02 and the cumulative products alpha_bar_t = prod_{s<=t} (1 - beta_s)."""
    betas = np.linspace(1e-4, 0.02, steps)
    return betas, np.cumprod(1.0 - betas)


def ddpm_unet(seed=0, batch=64):
    sg.manual_seed(seed)
    model = UNet()
    betas, alpha_bars = ddpm_schedule()
    rng = np.random.default_rng(seed)
    x0, noise = _uniform(rng, batch, 1, 28, 28), _normal(rng, batch, 1, 28, 28)
    t = rng.integers(0, len(betas), size=batch)
    # q(x_t | x_0) = N(sqrt(abar_t) x_0, (1 - abar_t) I): x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) noise
    abar = alpha_bars[t].reshape(-1, 1, 1, 1)
    x_t = (np.sqrt(abar) * x0 + np.sqrt(1 - abar) * noise).astype(np.float32)
    optimizer = Adam(model.parameters(), lr=2e-4)

    def loss():
        return F.mse_loss(model(x_t, t), noise)  # the network predicts the noise

    return Workload("ddpm_unet", {"model": model}, {"x_t": x_t, "t": t, "noise": noise},
                    _training_step(optimizer, loss), f"batch {batch}")


def ddpm_sample(seed=0, batch=64, timestep=500):
    sg.manual_seed(seed)
    model = UNet()
    betas, alpha_bars = ddpm_schedule()
    rng = np.random.default_rng(seed)
    x_t, z = _normal(rng, batch, 1, 28, 28), _normal(rng, batch, 1, 28, 28)
    t = np.full(batch, timestep)
    beta, abar = betas[timestep], alpha_bars[timestep]
    constants = dict(scale=1 / math.sqrt(1 - beta), eps_scale=beta / math.sqrt(1 - abar), sigma=math.sqrt(beta))

    def step():
        """x_{t-1} = (x_t - beta_t / sqrt(1 - abar_t) eps(x_t, t)) / sqrt(alpha_t) + sqrt(beta_t) z."""
        with sg.no_grad():
            eps = model(x_t, t).data
        x_prev = constants["scale"] * (x_t - np.float32(constants["eps_scale"]) * eps) + np.float32(constants["sigma"]) * z
        return float(np.mean(x_prev, dtype=np.float64))

    model.eval()
    return Workload("ddpm_sample", {"model": model}, {"x_t": x_t, "t": t, "z": z}, step, f"batch {batch}",
                    extra=constants)


# ------------------------------------------------------------------------------------------ single ops
def _op_workload(name, shape, forward, arrays, seed):
    """forward(tensors...) then backward with a fixed random upstream gradient u; loss = sum(y u)."""
    rng = np.random.default_rng(seed + 1)
    tensors = [sg.tensor(a, requires_grad=True) for a in arrays.values()]
    upstream = _normal(rng, *forward(*tensors).shape)

    def step():
        for tensor in tensors:
            tensor.zero_grad()
        y = forward(*tensors)
        y.backward(upstream)
        return float(np.vdot(y.data, upstream))

    return Workload(name, {}, {**arrays, "upstream": upstream}, step, shape)


def conv2d(seed=0):
    rng = np.random.default_rng(seed)
    arrays = {"x": _uniform(rng, 64, 32, 14, 14), "w": _normal(rng, 64, 32, 3, 3) * 0.1, "b": _normal(rng, 64)}
    return _op_workload("conv2d", "x (64,32,14,14) w (64,32,3,3) s1 p1",
                        lambda x, w, b: F.conv2d(x, w, b, stride=1, padding=1), arrays, seed)


def conv_transpose2d(seed=0):
    rng = np.random.default_rng(seed)
    arrays = {"x": _uniform(rng, 128, 64, 7, 7), "w": _normal(rng, 64, 32, 4, 4) * 0.1, "b": _normal(rng, 32)}
    return _op_workload("conv_transpose2d", "x (128,64,7,7) -> (128,32,14,14) k4 s2 p1",
                        lambda x, w, b: F.conv_transpose2d(x, w, b, stride=2, padding=1), arrays, seed)


def groupnorm(seed=0):
    rng = np.random.default_rng(seed)
    arrays = {"x": _uniform(rng, 64, 64, 14, 14), "weight": 1 + 0.1 * _normal(rng, 64), "bias": _normal(rng, 64)}
    return _op_workload("groupnorm", "x (64,64,14,14) 8 groups affine",
                        lambda x, weight, bias: F.group_norm(x, 8, weight, bias), arrays, seed)


def matmul(seed=0):
    rng = np.random.default_rng(seed)
    arrays = {"x": _uniform(rng, 128, 784), "weight": _normal(rng, 400, 784) * 0.03, "bias": _normal(rng, 400)}
    return _op_workload("matmul", "(128,784) @ (784,400) + bias", F.linear, arrays, seed)


BUILDERS = {name: globals()[name] for name in NAMES}


def build(name, seed=0, **kwargs) -> Workload:
    """The scratchgen workload ``name`` with fixed inputs and weights drawn from ``seed``."""
    return BUILDERS[name](seed=seed, **kwargs)
