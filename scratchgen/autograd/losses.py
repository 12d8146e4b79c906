"""Losses, composed from the ops in ``ops.py`` so that they need no derivative of their own.

Each takes ``reduction``: "mean" (over every element), "sum", or "none" (elementwise, or
per-sample for the KL divergence) so that callers choose per-pixel means or per-image sums
explicitly; mixing the two silently changes the balance between the terms of a VAE's loss.
"""
from __future__ import annotations

import math

import numpy as np

from . import ops
from .tensor import OPS, Tensor, as_tensor, register_op

REDUCTIONS = ("mean", "sum", "none")


def _reduce(loss: Tensor, reduction: str, name: str) -> Tensor:
    if reduction == "mean":
        return ops.mean(loss)
    if reduction == "sum":
        return ops.sum(loss)
    if reduction == "none":
        return loss
    raise ValueError(f"{name}: reduction must be one of {REDUCTIONS}, got {reduction!r}")


def _check_same_shape(name: str, a: Tensor, b: Tensor) -> None:
    if a.shape != b.shape:
        raise ValueError(f"{name}: input shape {a.shape} and target shape {b.shape} differ")


@register_op
def binary_cross_entropy_with_logits(logits, targets, reduction: str = "mean") -> Tensor:
    """-[y log s(x) + (1 - y) log(1 - s(x))] = softplus(x) - x y, for logits x and targets y.

    Written with softplus, which never exponentiates a positive number, instead of taking the
    log of clipped probabilities (which loses precision and kills gradients when s(x) saturates).
    """
    logits, targets = ops.operands(logits, targets)
    _check_same_shape("binary_cross_entropy_with_logits", logits, targets)
    return _reduce(ops.softplus(logits) - logits * targets, reduction, "binary_cross_entropy_with_logits")


@register_op
def mse_loss(prediction, target, reduction: str = "mean") -> Tensor:
    """(prediction - target)^2."""
    prediction, target = ops.operands(prediction, target)
    _check_same_shape("mse_loss", prediction, target)
    diff = prediction - target
    return _reduce(diff * diff, reduction, "mse_loss")


@register_op
def gaussian_nll_loss(x, mean, logvar, reduction: str = "mean") -> Tensor:
    """-log N(x; mean, exp(logvar)) = 0.5 [log(2 pi) + logvar + (x - mean)^2 exp(-logvar)], in nats.

    The constant log(2 pi) is kept so that sums over pixels are true negative log-likelihoods.
    """
    x, mean, logvar = ops.operands(x, mean, logvar)
    _check_same_shape("gaussian_nll_loss", mean, x)
    diff = x - mean
    nll = 0.5 * (math.log(2 * math.pi) + logvar + diff * diff * ops.exp(-logvar))
    return _reduce(nll, reduction, "gaussian_nll_loss")


@register_op
def kl_normal_standard(mean, logvar, reduction: str = "mean") -> Tensor:
    """KL( N(mean, diag(exp(logvar))) || N(0, I) ), summed over the last axis (the latent).

    In closed form (Kingma & Welling 2014, appendix B): in one dimension, for q = N(mu, sigma^2)
    and p = N(0, 1),
        KL = E_q[log q(z) - log p(z)]
           = E_q[-1/2 log(2 pi sigma^2) - (z - mu)^2 / (2 sigma^2) + 1/2 log(2 pi) + z^2 / 2]
           = -1/2 log sigma^2 - 1/2 + 1/2 (sigma^2 + mu^2)    (E (z - mu)^2 = sigma^2, E z^2 = sigma^2 + mu^2),
    and a diagonal Gaussian's KL is the sum over the dimensions, with sigma_j^2 = exp(logvar_j):
        KL = -1/2 sum_j (1 + logvar_j - mean_j^2 - exp(logvar_j)).
    With reduction "none" it returns one value per sample; "mean" and "sum" reduce over the samples.
    """
    mean, logvar = ops.operands(mean, logvar)
    if mean.shape != logvar.shape:
        raise ValueError(f"kl_normal_standard: mean shape {mean.shape} and logvar shape {logvar.shape} differ")
    per_sample = -0.5 * ops.sum(1 + logvar - mean * mean - ops.exp(logvar), axis=-1)
    return _reduce(per_sample, reduction, "kl_normal_standard")



@register_op
def cross_entropy(logits, labels, reduction: str = "mean") -> Tensor:
    """-log softmax(logits)[label] for logits (N, K) and integer labels (N,): classification."""
    logits = as_tensor(logits)
    labels = np.asarray(labels)
    if logits.ndim != 2 or labels.shape != logits.shape[:1]:
        raise ValueError(f"cross_entropy: expected logits (N, K) and labels (N,), "
                         f"got {logits.shape} and {labels.shape}")
    if labels.dtype.kind not in "iu" or labels.min(initial=0) < 0 or labels.max(initial=0) >= logits.shape[1]:
        raise ValueError(f"cross_entropy: labels must be integers in [0, {logits.shape[1]})")
    log_probs = ops.log_softmax(logits, axis=1)
    return _reduce(-log_probs[np.arange(len(labels)), labels], reduction, "cross_entropy")

__all__ = sorted(name for name, fn in OPS.items() if fn.__module__ == __name__)
