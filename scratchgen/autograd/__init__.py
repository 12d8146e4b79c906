"""Reverse-mode automatic differentiation over NumPy arrays.

``tensor.py`` holds the Tensor and the engine, ``ops.py`` the differentiable operations with
their derivatives, ``losses.py`` the losses composed from those operations.
"""
from . import losses, ops
from .tensor import OPS, Tensor, as_tensor, is_grad_enabled, no_grad, register_op, tensor, unbroadcast

__all__ = ["OPS", "Tensor", "as_tensor", "is_grad_enabled", "losses", "no_grad", "ops", "register_op",
           "tensor", "unbroadcast"]
