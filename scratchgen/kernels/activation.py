"""Fused elementwise activations: one pass over the data instead of NumPy's chain of temporaries.

SiLU, y = x s(x) with s the logistic sigmoid, is the UNet's activation; NumPy evaluates it (and
its derivative) as five or six full-size passes, these kernels as one. Each kernel is compiled
twice from the same source: a parallel version for large arrays and a serial one for small
arrays, where starting the worker threads would cost more than the work.
"""
import math

import numpy as np

from ._numba import kernel_array, njit, prange

# Below this many elements the serial kernel is faster than waking the thread pool.
PARALLEL_MIN_SIZE = 1 << 15


def _silu_forward_loop(x, y):
    for i in prange(x.size):
        # s(x) = 1/(1+e^-x) for x >= 0 and e^x/(1+e^x) for x < 0: never exponentiates a positive number
        v = x[i]
        if v >= 0:
            s = 1 / (1 + math.exp(-v))
        else:
            e = math.exp(v)
            s = e / (1 + e)
        y[i] = v * s


def _silu_backward_loop(grad, x, dx):
    for i in prange(x.size):
        v = x[i]
        if v >= 0:
            s = 1 / (1 + math.exp(-v))
        else:
            e = math.exp(v)
            s = e / (1 + e)
        dx[i] = grad[i] * s * (1 + v * (1 - s))  # d x s(x)/dx = s (1 + x (1 - s))


_KERNELS = {
    name: (njit(cache=True)(loop), njit(parallel=True, cache=True)(loop))
    for name, loop in (("silu_forward", _silu_forward_loop), ("silu_backward", _silu_backward_loop))
}


def _launch(name, *arrays):
    serial, parallel = _KERNELS[name]
    (parallel if arrays[0].size >= PARALLEL_MIN_SIZE else serial)(*arrays)


def silu_forward(x):
    """x * sigmoid(x), same dtype and shape as x."""
    flat = kernel_array(x).reshape(-1)
    y = np.empty_like(flat)
    _launch("silu_forward", flat, y)
    return y.reshape(x.shape)


def silu_backward(grad_y, x):
    """dL/dx = dL/dy * s(x) (1 + x (1 - s(x))) for y = silu(x)."""
    flat = kernel_array(x).reshape(-1)
    dx = np.empty_like(flat)
    _launch("silu_backward", kernel_array(grad_y.astype(x.dtype, copy=False)).reshape(-1), flat, dx)
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
