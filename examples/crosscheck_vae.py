"""Check a PyTorch VAE against scratchgen's, tensor by tensor, and watch two classic bugs get caught.

    pip install "scratchgen[bench]"        # PyTorch 2.13.0, CPU build (optional extra)
    python examples/crosscheck_vae.py

``TorchVAE`` is a PyTorch VAE written to match scratchgen's MLP VAE (``scratchgen.models.VAE``):
the same layers under the same names, so that ``compare`` can copy scratchgen's weights into it,
feed both the same images and the same noise eps, and compare the loss, every parameter's
gradient and every parameter after one SGD step, in float64. Then the same VAE with each of two
mistakes that train without complaint and give wrong numbers:

- exp(logvar) used as the standard deviation (it is exp(logvar / 2));
- the reconstruction term averaged over pixels (a per-pixel mean) where the ELBO sums them per image.

Exit status 0 when the faithful VAE agrees and both buggy ones are reported.
"""
import sys

import numpy as np

from scratchgen.crosscheck import compare
from scratchgen.data import DEFAULT_DATASET, load
from scratchgen.models import VAE

try:
    import torch
    from torch import nn
    from torch.nn import functional as F
except ImportError:
    sys.exit('this example needs PyTorch: pip install "scratchgen[bench]"')

BUGS = ("exp(logvar) as the std", "per-pixel mean")


class TorchVAE(nn.Module):
    """scratchgen's MLP VAE in PyTorch, module for module; ``bug`` plants one of BUGS."""

    def __init__(self, bug=None, latent=20):
        super().__init__()
        self.bug, self.latent = bug, latent
        self.encoder = nn.Sequential(nn.Flatten(), nn.Linear(784, 400), nn.ReLU(), nn.Linear(400, 2 * latent))
        self.decoder = nn.Sequential(nn.Linear(latent, 400), nn.ReLU(), nn.Linear(400, 784),
                                     nn.Unflatten(1, (1, 28, 28)))

    def forward(self, x, eps):
        """The training loss, -mean ELBO, with z = mean + std * eps."""
        h = self.encoder(x)
        mean, logvar = h[:, :self.latent], h[:, self.latent:]
        std = torch.exp(logvar) if self.bug == BUGS[0] else torch.exp(0.5 * logvar)
        logits = self.decoder(mean + std * eps)
        bce = F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1)
        reconstruction = bce.mean(1) if self.bug == BUGS[1] else bce.sum(1)
        kl = -0.5 * torch.sum(1 + logvar - mean ** 2 - logvar.exp(), dim=1)
        return (reconstruction + kl).mean()


def main():
    images, _ = load(DEFAULT_DATASET, "test")
    rng = np.random.default_rng(0)
    x = (rng.random((16, 1, 28, 28)) < images[:16, None] / 255).astype(np.float32)   # binarized digits
    eps = rng.standard_normal((16, 20)).astype(np.float32)
    reference = VAE()   # scratchgen's, with its own initial weights: compare copies them over

    print("The faithful PyTorch VAE:")
    faithful = compare(reference, TorchVAE(), (x,), kwargs={"eps": eps})
    print(faithful, "\n")
    caught = []
    for bug in BUGS:
        report = compare(reference, TorchVAE(bug), (x,), kwargs={"eps": eps})
        print(f"With {bug}:")
        print(report if bug == BUGS[0] else report.verdict, "\n")
        caught.append(not report.ok)
    return 0 if faithful.ok and all(caught) else 1


if __name__ == "__main__":
    sys.exit(main())
