"""Generative adversarial networks (Goodfellow et al. 2014) and DCGAN (Radford et al. 2016).

A generator G maps noise z ~ N(0, I) to images; a discriminator D maps an image to a logit,
D(x) = sigmoid(logit) being its belief that x is real. They play the min-max game of eq. (1):

    min_G max_D  V(D, G) = E_x[log D(x)] + E_z[log(1 - D(G(z)))]

Every loss below takes the discriminator's *logits* and uses log D = log_sigmoid(logit) and
log(1 - D) = log_sigmoid(-logit), which stay finite at logits of +-100 where sigmoid rounds to
exactly 0 or 1. The pieces of the game (``discriminator_loss``, ``generator_loss``) are written
here; ``GAN`` holds both players, so that one state dict is the whole game, and plays it:
``GAN.train_step`` is one iteration of Algorithm 1.
"""
from __future__ import annotations

import numpy as np

from .. import nn
from ..autograd import ops
from ..autograd.losses import binary_cross_entropy_with_logits
from ..autograd.tensor import Tensor, as_tensor, no_grad
from .blocks import check_images

GENERATOR_LOSSES = ("non_saturating", "minimax")
DISCRIMINATOR_ACTIVATIONS = ("relu", "leaky_relu")


# ------------------------------------------------------------------------- the players
class MLPGenerator(nn.Module):
    """The source material's generator: blocks of Linear + BatchNorm1d + ReLU, then Linear + Sigmoid.

    The default widths are also the ``gan_mlp`` benchmark's (benchmarks/README.md): z (64) -> 128
    -> 256 -> 512 -> 1024 -> 784 pixels in [0, 1].
    """

    def __init__(self, latent_dim: int = 64, hidden=(128, 256, 512, 1024), image_shape=(1, 28, 28)):
        super().__init__()
        self.latent_dim, self.image_shape = latent_dim, tuple(image_shape)
        widths = (latent_dim, *hidden)
        blocks = []
        for fan_in, fan_out in zip(widths[:-1], widths[1:]):
            blocks += [nn.Linear(fan_in, fan_out), nn.BatchNorm1d(fan_out), nn.ReLU()]
        self.net = nn.Sequential(*blocks, nn.Linear(widths[-1], int(np.prod(image_shape))), nn.Sigmoid())

    def forward(self, z) -> Tensor:
        return self.net(z).reshape(-1, *self.image_shape)


class MLPDiscriminator(nn.Module):
    """Blocks of Linear + ``activation``, then Linear to one logit.

    ``activation="relu"`` is the source material's discriminator. ``"leaky_relu"`` is LeakyReLU(0.2),
    the convention of the DCGAN paper (Radford et al. 2016, section 3: leaky rectifiers in every
    discriminator layer), which the ``gan_mlp`` benchmark layout keeps; a leaky unit still passes
    gradient back to G where its input is negative.
    """

    def __init__(self, hidden=(512, 256, 128), image_shape=(1, 28, 28), activation: str = "relu"):
        super().__init__()
        if activation not in DISCRIMINATOR_ACTIVATIONS:
            raise ValueError(f"MLPDiscriminator: activation must be one of {DISCRIMINATOR_ACTIVATIONS}, "
                             f"got {activation!r}")
        widths = (int(np.prod(image_shape)), *hidden)
        blocks = []
        for fan_in, fan_out in zip(widths[:-1], widths[1:]):
            blocks += [nn.Linear(fan_in, fan_out), nn.ReLU() if activation == "relu" else nn.LeakyReLU(0.2)]
        self.net = nn.Sequential(nn.Flatten(), *blocks, nn.Linear(widths[-1], 1))

    def forward(self, images) -> Tensor:
        return self.net(images).reshape(-1)


class DCGANGenerator(nn.Module):
    """DCGAN for 28x28: project z to 7x7 feature maps, then two stride-2 transposed convolutions.

    z -> Linear -> (2w, 7, 7) -> ConvT 4x4/2 -> (w, 14, 14) -> ConvT 4x4/2 -> (1, 28, 28), with
    batch norm and ReLU between, and a sigmoid at the end (Radford et al. 2016, section 3).
    """

    def __init__(self, latent_dim: int = 64, width: int = 64):
        super().__init__()
        self.latent_dim, self.image_shape = latent_dim, (1, 28, 28)
        self.net = nn.Sequential(
            nn.Linear(latent_dim, 2 * width * 7 * 7), nn.Unflatten(1, (2 * width, 7, 7)),
            nn.BatchNorm2d(2 * width), nn.ReLU(),
            nn.ConvTranspose2d(2 * width, width, 4, stride=2, padding=1), nn.BatchNorm2d(width), nn.ReLU(),
            nn.ConvTranspose2d(width, 1, 4, stride=2, padding=1), nn.Sigmoid())

    def forward(self, z) -> Tensor:
        return self.net(z)


class DCGANDiscriminator(nn.Module):
    """Strided convolutions with LeakyReLU(0.2), batch norm on the second (not on the input layer)."""

    def __init__(self, width: int = 64):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(1, width, 4, stride=2, padding=1), nn.LeakyReLU(0.2),
            nn.Conv2d(width, 2 * width, 4, stride=2, padding=1), nn.BatchNorm2d(2 * width), nn.LeakyReLU(0.2),
            nn.Flatten(), nn.Linear(2 * width * 7 * 7, 1))

    def forward(self, images) -> Tensor:
        return self.net(images).reshape(-1)


class GAN(nn.Module):
    """The generator G and the discriminator D of one game, in one module (one checkpoint).

    ``generator`` maps z (N, latent_dim) to images (N, 1, H, W) in [0, 1] and has a ``latent_dim``
    and an ``image_shape`` (1, H, W); ``discriminator`` maps such images to logits (N,). Sampling
    uses the module's mode: in eval mode G's batch norm uses its running statistics, so each image
    depends on its own z only (up to float32 rounding: BLAS may sum a batch of 3 and a batch of 8
    in different orders).
    """

    def __init__(self, generator: nn.Module, discriminator: nn.Module):
        super().__init__()
        self.generator, self.discriminator = generator, discriminator
        self.latent_dim, self.image_shape = generator.latent_dim, tuple(generator.image_shape)

    def forward(self, z) -> Tensor:
        return self.generator(z)

    def discriminate(self, images) -> Tensor:
        """D's logits for images (N, H, W), (N, 1, H, W) or (N, H*W)."""
        return self.discriminator(check_images(images, self.image_shape, "GAN discriminator"))

    def noise(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """z ~ p_z = N(0, I), shape (n, latent_dim)."""
        return rng.standard_normal((n, self.latent_dim)).astype(np.float32)

    def generate(self, z, batch_size: int = 500) -> np.ndarray:
        """G(z) as images (N, H, W), without a graph."""
        z = np.asarray(z, np.float32)
        with no_grad():
            return np.concatenate([self.generator(z[s:s + batch_size]).data[:, 0]
                                   for s in range(0, len(z), batch_size)])

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return self.generate(self.noise(n, rng))

    def interpolate(self, z0, z1, steps: int, spherical: bool = False) -> np.ndarray:
        """G along the line (or great circle) from z0 to z1: images (steps, H, W)."""
        return self.generate(interpolate_latents(z0, z1, steps, spherical))

    def train_step(self, x, optimizers: dict, rng: np.random.Generator, *, d_steps: int = 1,
                   real_label: float = 1.0, loss: str = "non_saturating") -> dict:
        """One iteration of Algorithm 1 of Goodfellow et al. 2014 on the real batch ``x``:

            for k steps:  z ~ p_z;  ascend D's objective, the mean of log D(x) + log(1 - D(G(z)))
            then:         descend G's loss on the last fake batch, scored by the updated D

        The generator update reuses the last fake batch, as pytorch/examples' dcgan does, instead
        of drawing a fresh z. ``optimizers`` holds a "generator" and a "discriminator" optimizer;
        ``rng`` is the NumPy Generator of the noise. Returns the two losses, D's mean
        probability of "real" on the real and the fake batch, and the norm of G's gradient.
        """
        opt_g, opt_d = optimizers["generator"], optimizers["discriminator"]
        for _ in range(d_steps):
            fake = self(self.noise(len(x), rng))
            opt_d.zero_grad()
            real_logits, fake_logits = self.discriminate(x), self.discriminate(fake.detach())
            d_loss = discriminator_loss(real_logits, fake_logits, real_label)
            d_loss.backward()
            opt_d.step()
        opt_g.zero_grad()
        g_loss = generator_loss(self.discriminate(fake), loss)
        g_loss.backward()
        g_grad_norm = gradient_norm(self.generator.parameters())
        opt_g.step()
        return {"d_loss": d_loss.item(), "g_loss": g_loss.item(), "d_real": mean_probability(real_logits.data),
                "d_fake": mean_probability(fake_logits.data), "g_grad_norm": g_grad_norm}


# ------------------------------------------------------------------------- the losses
def discriminator_loss(real_logits, fake_logits, real_label: float = 1.0) -> Tensor:
    """-V(D, G) for a batch: -mean log D(x) - mean log(1 - D(G(z))), D maximizing eq. (1).

    ``real_label`` < 1 is one-sided label smoothing (Salimans et al. 2016): real images are
    classified against the target 0.9 (say), fakes still against 0, so D is not rewarded for
    ever-larger logits on real data. The fake logits must come from a *detached* fake batch, so
    that this loss sends no gradient into the generator.
    """
    real_logits, fake_logits = as_tensor(real_logits), as_tensor(fake_logits)
    real_term = binary_cross_entropy_with_logits(real_logits, np.full(real_logits.shape, real_label))
    fake_term = binary_cross_entropy_with_logits(fake_logits, np.zeros(fake_logits.shape))
    return real_term + fake_term


def generator_loss(fake_logits, kind: str = "non_saturating") -> Tensor:
    """The generator's loss on D's logits for a fake batch.

    - "minimax": mean log(1 - D(G(z))), the term of eq. (1) that G minimizes. Early in training D
      rejects fakes confidently, D(G(z)) ~ 0, where log(1 - D) is flat: its gradient w.r.t. the
      logit, -D(G(z)), vanishes and G learns nothing (the saturation problem).
    - "non_saturating": -mean log D(G(z)), the heuristic of section 3 of the paper: the same fixed
      point, but gradient -(1 - D(G(z))) ~ -1 exactly where the minimax one vanishes.
    """
    fake_logits = as_tensor(fake_logits)
    if kind == "minimax":
        return ops.mean(ops.log_sigmoid(-fake_logits))
    if kind == "non_saturating":
        return -ops.mean(ops.log_sigmoid(fake_logits))
    raise ValueError(f"generator loss must be one of {GENERATOR_LOSSES}, got {kind!r}")


def mean_probability(logits: np.ndarray) -> float:
    """mean D = mean sigmoid(logit), in the overflow-free form (1 + tanh(l / 2)) / 2."""
    return float(np.mean(0.5 * (1 + np.tanh(0.5 * np.asarray(logits, np.float64)))))


def gradient_norm(parameters) -> float:
    """The Euclidean norm of all the parameters' gradients together."""
    return float(np.sqrt(sum(np.sum(np.square(p.grad, dtype=np.float64)) for p in parameters if p.grad is not None)))


# ------------------------------------------------------------------------- latent-space tools
def interpolate_latents(z0: np.ndarray, z1: np.ndarray, steps: int, spherical: bool = False) -> np.ndarray:
    """``steps`` latent vectors from z0 to z1: straight (lerp) or along the great circle (slerp).

    Gaussian latents concentrate near a sphere of radius sqrt(d); a straight line between two of
    them passes closer to the origin, through codes the generator rarely saw, which slerp avoids
    (White 2016): slerp(t) = sin((1-t) omega)/sin(omega) z0 + sin(t omega)/sin(omega) z1.
    """
    z0, z1 = np.asarray(z0, np.float64), np.asarray(z1, np.float64)
    if z0.shape != z1.shape or z0.ndim != 1:
        raise ValueError(f"interpolate_latents: expected two vectors of the same length, got {z0.shape} and {z1.shape}")
    t = np.linspace(0.0, 1.0, steps)[:, None]
    cos_omega = np.dot(z0, z1) / (np.linalg.norm(z0) * np.linalg.norm(z1))
    omega = np.arccos(np.clip(cos_omega, -1.0, 1.0))
    if not spherical or np.sin(omega) < 1e-6:  # (anti)parallel vectors: the circle is undefined
        return ((1 - t) * z0 + t * z1).astype(np.float32)
    return ((np.sin((1 - t) * omega) * z0 + np.sin(t * omega) * z1) / np.sin(omega)).astype(np.float32)
