"""Reverse-mode automatic differentiation over NumPy arrays.

``tensor.py`` holds the Tensor and the engine, ``ops.py`` the differentiable operations with
their derivatives, ``losses.py`` the losses composed from those operations, ``nn_ops.py`` the layer operations
(convolution, pooling, normalization...) whose loops run in ``scratchgen.kernels``.
"""
from . import losses, nn_ops, ops
from .random import default_generator, manual_seed
from .tensor import OPS, Tensor, as_tensor, is_grad_enabled, no_grad, register_op, tensor, unbroadcast

__all__ = ["OPS", "Tensor", "as_tensor", "default_generator", "manual_seed", "is_grad_enabled", "losses", "nn_ops",
           "no_grad", "ops", "register_op", "tensor", "unbroadcast"]
