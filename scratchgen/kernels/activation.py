"""Fused elementwise activations: one pass over the data instead of NumPy's chain of temporaries.

SiLU, y = x s(x) with s the logistic sigmoid, is the UNet's activation; NumPy evaluates it (and
its derivative) as five to eight full-size passes with as many temporaries, these kernels as one,
exponential included. Each kernel is compiled twice from the same source: a parallel version for
large arrays and a serial one for small arrays, where starting the worker threads would cost more
than the work (``serial_and_parallel``).
"""
import numpy as np

from ._numba import kernel_array, njit, prange, serial_and_parallel

# Numba's exp is a scalar libm call (no SVML here), ~15x slower than NumPy's SIMD exp; a separate
# NumPy pass for it ran single-threaded and cost as much as the kernels. So the kernels compute
# e = exp(-|x|) themselves, as exp(u)^8192 with u = -|x| / 8192: a Taylor polynomial of degree 9 on
# |u| <= 0.091 (error < 1e-17), then 13 squarings, all in float64, which LLVM vectorizes. Squaring
# multiplies the relative error by 2 each time: ~2e-12 at the end, far below float32's rounding
# and within the float64 twin test's. Below -745 exp underflows anyway, so u stops at -745/8192.
# Both kernels then use s(x) = 1/(1+e) for x >= 0 and e/(1+e) for x < 0, which never
# exponentiates a positive number.
_SQUARINGS = 13


@njit(cache=True, inline="always", fastmath={"contract"})
def _exp_neg_abs(v):
    u = max(-abs(v), -745.0) / 2.0 ** _SQUARINGS
    e = 1.0 + u * (1.0 + u * (1 / 2 + u * (1 / 6 + u * (1 / 24 + u * (1 / 120 + u * (1 / 720 + u * (
        1 / 5040 + u * (1 / 40320 + u * (1 / 362880)))))))))
    for _ in range(_SQUARINGS):
        e = e * e
    return e


@serial_and_parallel(fastmath={"contract"})
def _silu_forward_kernel(x, y):
    for i in prange(x.size):
        v = np.float64(x[i])
        e = _exp_neg_abs(v)
        r = 1 / (1 + e)
        s = r if v >= 0 else e * r
        y[i] = v * s


@serial_and_parallel(fastmath={"contract"})
def _silu_backward_kernel(x, grad, dx):
    for i in prange(x.size):
        v = np.float64(x[i])
        e = _exp_neg_abs(v)
        r = 1 / (1 + e)
        s = r if v >= 0 else e * r
        dx[i] = grad[i] * s * (1 + v * (1 - s))  # d x s(x)/dx = s (1 + x (1 - s))


def silu_forward(x):
    """x * sigmoid(x), same dtype and shape as x."""
    flat = kernel_array(x).reshape(-1)
    y = np.empty_like(flat)
    _silu_forward_kernel(flat, y)
    return y.reshape(x.shape)


def silu_backward(grad_y, x):
    """dL/dx = dL/dy * s(x) (1 + x (1 - s(x))) for y = silu(x)."""
    flat = kernel_array(x).reshape(-1)
    dx = np.empty_like(flat)
    _silu_backward_kernel(flat, kernel_array(grad_y.astype(x.dtype, copy=False)).reshape(-1), dx)
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
