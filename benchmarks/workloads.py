"""The benchmark workloads of benchmarks/README.md, built from scratchgen.nn.

Each workload is a ``Workload``: its scratchgen modules (whose ``state_dict`` the PyTorch twin in
``torch_workloads.py`` copies), its fixed inputs (NumPy arrays drawn once, so both sides compute
on the same numbers), and ``step()``, the timed unit, which returns the step's loss as a float.
The architectures are the contract; keep them exactly as benchmarks/README.md writes them.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

import scratchgen as sg
import scratchgen.nn as nn
import scratchgen.nn.functional as F
from scratchgen.models.ddpm import Diffusion, NoiseSchedule
from scratchgen.models.gan import MLPDiscriminator, MLPGenerator, discriminator_loss, generator_loss
from scratchgen.models.pixelrnn import PixelRNN
from scratchgen.models.unet import UNet
from scratchgen.optim import Adam

NAMES = ("vae_mlp", "gan_mlp", "vae_conv", "ddpm_unet", "ddpm_sample", "pixelrnn_row", "pixelrnn_diagonal",
         "conv2d", "conv_transpose2d", "groupnorm", "matmul")


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


def _reparameterize(stats, latent_dim, eps):
    """z = mean + exp(0.5 logvar) eps, with mean and logvar the two halves of ``stats``."""
    mean, logvar = stats[:, :latent_dim], stats[:, latent_dim:]
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

    latent_dim = 20

    def __init__(self):
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(784, 400), nn.ReLU(), nn.Linear(400, 2 * self.latent_dim))
        self.decoder = nn.Sequential(nn.Linear(self.latent_dim, 400), nn.ReLU(), nn.Linear(400, 784))

    def forward(self, x, eps):
        z, mean, logvar = _reparameterize(self.encoder(x), self.latent_dim, eps)
        return self.decoder(z), mean, logvar


class ConvVAE(nn.Module):
    """Two stride-2 convs to (64,7,7), Linear(3136,32) -> (mean, logvar); the mirror image back to logits."""

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


def _vae_workload(name, model, x_shape, seed):
    rng = np.random.default_rng(seed)
    x = _uniform(rng, *x_shape)
    eps = _normal(rng, x_shape[0], model.latent_dim)
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
def gan_mlp(seed=0, batch=128):
    sg.manual_seed(seed)
    # The source material's widths, with the DCGAN paper's LeakyReLU(0.2) in the discriminator.
    generator, discriminator = MLPGenerator(), MLPDiscriminator(activation="leaky_relu")
    rng = np.random.default_rng(seed)
    real, z = _uniform(rng, batch, 784), _normal(rng, batch, 64)
    opt_g = Adam(generator.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = Adam(discriminator.parameters(), lr=2e-4, betas=(0.5, 0.999))

    def step():
        """One discriminator update on real and detached fake images, then one generator update."""
        opt_d.zero_grad()
        fake = generator(z)
        d_loss = discriminator_loss(discriminator(real), discriminator(fake.detach()))
        d_loss.backward()
        opt_d.step()
        opt_g.zero_grad()
        g_loss = generator_loss(discriminator(fake), "non_saturating")
        g_loss.backward()
        opt_g.step()
        return d_loss.item() + g_loss.item()

    return Workload("gan_mlp", {"generator": generator, "discriminator": discriminator},
                    {"real": real, "z": z}, step, f"batch {batch}")


# ------------------------------------------------------------------------------------------ DDPM
def ddpm_unet(seed=0, batch=64):
    sg.manual_seed(seed)
    model = UNet()
    schedule = NoiseSchedule(1000, "linear")
    rng = np.random.default_rng(seed)
    x0, noise = _uniform(rng, batch, 1, 28, 28), _normal(rng, batch, 1, 28, 28)
    t = rng.integers(0, schedule.timesteps, size=batch)
    x_t = Diffusion(model, schedule).q_sample(x0, t, noise)
    optimizer = Adam(model.parameters(), lr=2e-4)

    def loss():
        return F.mse_loss(model(x_t, t), noise)  # the network predicts the noise

    return Workload("ddpm_unet", {"model": model}, {"x_t": x_t, "t": t, "noise": noise},
                    _training_step(optimizer, loss), f"batch {batch}")


def ddpm_sample(seed=0, batch=64, timestep=500):
    sg.manual_seed(seed)
    model = UNet()
    schedule = NoiseSchedule(1000, "linear")
    rng = np.random.default_rng(seed)
    x_t, z = _normal(rng, batch, 1, 28, 28), _normal(rng, batch, 1, 28, 28)
    t = np.full(batch, timestep)
    beta, abar = schedule.betas[timestep], schedule.alpha_bars[timestep]
    constants = dict(scale=1 / math.sqrt(1 - beta), eps_scale=beta / math.sqrt(1 - abar), sigma=math.sqrt(beta))

    def step():
        """x_{t-1} = (x_t - beta_t / sqrt(1 - abar_t) eps(x_t, t)) / sqrt(alpha_t) + sqrt(beta_t) z."""
        with sg.no_grad():
            eps = model(x_t, t).data
        x_prev = (constants["scale"] * (x_t - np.float32(constants["eps_scale"]) * eps)
                  + np.float32(constants["sigma"]) * z)
        return float(np.mean(x_prev, dtype=np.float64))

    model.eval()
    return Workload("ddpm_sample", {"model": model}, {"x_t": x_t, "t": t, "z": z}, step, f"batch {batch}",
                    extra=constants)


# ------------------------------------------------------------------------------------------ PixelRNN
def _pixelrnn_workload(name, layer, seed, batch):
    sg.manual_seed(seed)
    model = PixelRNN(layer=layer)
    rng = np.random.default_rng(seed)
    # Binary images with each pixel on with probability 0.13, about MNIST's mean intensity.
    x = (_uniform(rng, batch, 1, 28, 28) < 0.13).astype(np.float32)
    optimizer = Adam(model.parameters(), lr=1e-3)
    return Workload(name, {"model": model}, {"x": x}, _training_step(optimizer, lambda: model.nll(x).mean()),
                    f"batch {batch}")


def pixelrnn_row(seed=0, batch=64):
    return _pixelrnn_workload("pixelrnn_row", "row", seed, batch)


def pixelrnn_diagonal(seed=0, batch=64):
    return _pixelrnn_workload("pixelrnn_diagonal", "diagonal", seed, batch)


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
