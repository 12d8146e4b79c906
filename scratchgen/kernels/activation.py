"""Fused elementwise activations: one pass over the data instead of NumPy's chain of temporaries.

SiLU, y = x s(x) with s the logistic sigmoid, is the UNet's activation; NumPy evaluates it (and
its derivative) as five to eight full-size passes with as many temporaries, these as four. Each kernel is compiled
twice from the same source: a parallel version for large arrays and a serial one for small
arrays, where starting the worker threads would cost more than the work (``serial_and_parallel``).
"""
import numpy as np

from ._numba import kernel_array, prange, serial_and_parallel

# Numba's exp is scalar (no SVML here) and ~15x slower than NumPy's SIMD exp, so NumPy computes
# e = exp(-|x|) and the kernels fuse everything after it, which LLVM vectorizes. Both kernels use
# s(x) = 1/(1+e) for x >= 0 and e/(1+e) for x < 0, which never exponentiates a positive number.


@serial_and_parallel
def _silu_forward_kernel(x, e, y):
    for i in prange(x.size):
        r = 1 / (1 + e[i])
        s = r if x[i] >= 0 else e[i] * r
        y[i] = x[i] * s


@serial_and_parallel
def _silu_backward_kernel(x, e, grad, dx):
    for i in prange(x.size):
        r = 1 / (1 + e[i])
        s = r if x[i] >= 0 else e[i] * r
        dx[i] = grad[i] * s * (1 + x[i] * (1 - s))  # d x s(x)/dx = s (1 + x (1 - s))


def _exp_neg_abs(flat):
    e = np.abs(flat)
    np.negative(e, out=e)
    return np.exp(e, out=e)


def silu_forward(x):
    """x * sigmoid(x), same dtype and shape as x."""
    flat = kernel_array(x).reshape(-1)
    y = np.empty_like(flat)
    _silu_forward_kernel(flat, _exp_neg_abs(flat), y)
    return y.reshape(x.shape)


def silu_backward(grad_y, x):
    """dL/dx = dL/dy * s(x) (1 + x (1 - s(x))) for y = silu(x)."""
    flat = kernel_array(x).reshape(-1)
    dx = np.empty_like(flat)
    _silu_backward_kernel(flat, _exp_neg_abs(flat), kernel_array(grad_y.astype(x.dtype, copy=False)).reshape(-1), dx)
    return dx.reshape(x.shape)


def _sigmoid_numpy(x):
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype, copy=False)


def silu_forward_numpy(x):
    """Plain-NumPy twin of silu_forward."""
    return (x * _sigmoid_numpy(x)).astype(x.dtype, copy=False)


def silu_backward_numpy(grad_y, x):
    """Plain-NumPy twin of silu_backward."""
    s = _sigmoid_numpy(x)
    return (grad_y * s * (1 + x * (1 - s))).astype(x.dtype, copy=False)
