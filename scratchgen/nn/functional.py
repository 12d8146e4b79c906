"""The functional namespace, like ``torch.nn.functional``: activations, losses and layer ops.

Nothing is defined here; every function lives in ``scratchgen.autograd`` (``ops``, ``losses``,
``nn_ops``) next to its derivative. Layers (``scratchgen.nn``) are these functions plus the
parameters they own.
"""
from ..autograd.losses import (
    binary_cross_entropy_with_logits,
    cross_entropy,
    gaussian_nll_loss,
    kl_normal_standard,
    mse_loss,
)
from ..autograd.nn_ops import (
    avg_pool2d,
    batch_norm,
    conv2d,
    conv_transpose2d,
    dropout,
    embedding,
    group_norm,
    interpolate,
    layer_norm,
    linear,
    lstm_scan,
    max_pool2d,
    upsample_bilinear2d,
    upsample_nearest2d,
)
from ..autograd.ops import leaky_relu, log_sigmoid, log_softmax, relu, sigmoid, silu, softmax, softplus, tanh

__all__ = [
    "relu", "leaky_relu", "silu", "sigmoid", "tanh", "softplus", "log_sigmoid", "softmax", "log_softmax",
    "binary_cross_entropy_with_logits", "cross_entropy", "gaussian_nll_loss", "kl_normal_standard", "mse_loss",
    "linear", "conv2d", "conv_transpose2d", "max_pool2d", "avg_pool2d",
    "interpolate", "upsample_nearest2d", "upsample_bilinear2d", "batch_norm", "group_norm", "layer_norm",
    "dropout", "embedding", "lstm_scan",
]
