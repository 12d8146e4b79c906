"""Normalization kernels shared by batch norm, group norm and layer norm.

Every normalization views its input as a 3-D array x3 of shape (A, B, M) and
normalizes each b over axes 0 and 2 together, so per-b vectors have shape (B,):

    batch norm   (N, C, H*W)            one set of statistics per channel
    group norm   (1, N*G, C/G*H*W)      per (sample, group)
    layer norm   (1, rows, M)           per row

The caller picks eps (rstd = 1 / sqrt(var + eps)) and applies any affine
transform.  Sums are accumulated in float64; results keep the input dtype.
"""
import numpy as np

from ._numba import kernel_array, njit, prange


# Reassociation lets LLVM vectorize the float64 sums (several times faster);
# in float64 the changed summation order is harmless.  The accumulators start
# as np.float64(0) because under NUMBA_DISABLE_JIT NumPy 2 would keep a bare
# 0.0 plus float32 elements at float32.
_REDUCTION_MATH = {"reassoc", "contract"}


@njit(parallel=True, fastmath=_REDUCTION_MATH, cache=True)
def _moments_kernel(x3, mean, var):
    outer, n_sets, inner = x3.shape
    count = outer * inner
    for b in prange(n_sets):
        # Two passes: subtracting the mean before squaring keeps the variance
        # accurate when it is tiny next to mean**2.
        total = np.float64(0)
        for a in range(outer):
            for m in range(inner):
                total += x3[a, b, m]
        mu = total / count
        squares = np.float64(0)
        for a in range(outer):
            for m in range(inner):
                centred = x3[a, b, m] - mu
                squares += centred * centred
        mean[b] = mu
        var[b] = squares / count


@njit(parallel=True, cache=True)
def _normalize_kernel(x3, mean, rstd, xhat3):
    outer, n_sets, inner = x3.shape
    for b in prange(n_sets):
        for a in range(outer):
            for m in range(inner):
                xhat3[a, b, m] = (x3[a, b, m] - mean[b]) * rstd[b]


@njit(parallel=True, fastmath=_REDUCTION_MATH, cache=True)
def _normalize_backward_kernel(grad3, xhat3, rstd, dx3):
    outer, n_sets, inner = grad3.shape
    count = outer * inner
    for b in prange(n_sets):
        grad_total = np.float64(0)
        grad_xhat_total = np.float64(0)
        for a in range(outer):
            for m in range(inner):
                grad_total += grad3[a, b, m]
                grad_xhat_total += grad3[a, b, m] * xhat3[a, b, m]
        grad_mean = grad_total / count
        grad_xhat_mean = grad_xhat_total / count
        for a in range(outer):
            for m in range(inner):
                dx3[a, b, m] = rstd[b] * (grad3[a, b, m] - grad_mean - xhat3[a, b, m] * grad_xhat_mean)


def moments(x3):
    """Per-b mean and biased variance of x3 (A, B, M) over axes 0 and 2, each of shape (B,)."""
    mean = np.empty(x3.shape[1], dtype=x3.dtype)
    var = np.empty(x3.shape[1], dtype=x3.dtype)
    _moments_kernel(kernel_array(x3), mean, var)
    return mean, var


def normalize_forward(x3, mean, rstd):
    """xhat = (x - mean[b]) * rstd[b]."""
    xhat3 = np.empty(x3.shape, dtype=x3.dtype)
    _normalize_kernel(kernel_array(x3), kernel_array(mean), kernel_array(rstd), xhat3)
    return xhat3


def normalize_backward(grad_xhat3, xhat3, rstd):
    """dL/dx from dL/dxhat for xhat = (x - mean) * rstd with mean and rstd taken from x itself.

    dx = rstd * (g - mean(g) - xhat * mean(g * xhat)), means per b over axes 0 and 2.
    """
    # dxhat_k/dx_i = rstd*([i==k] - 1/M - xhat_i*xhat_k/M) as dmean/dx_i = 1/M, drstd/dx_i = -rstd**2*xhat_i/M
    dx3 = np.empty(grad_xhat3.shape, dtype=grad_xhat3.dtype)
    _normalize_backward_kernel(kernel_array(grad_xhat3), kernel_array(xhat3), kernel_array(rstd), dx3)
    return dx3


def _per_set(v):
    """Broadcast a per-b vector (B,) against (A, B, M)."""
    return v[None, :, None]


def moments_numpy(x3):
    """Plain-NumPy twin of moments."""
    x64 = x3.astype(np.float64)
    mean = x64.mean(axis=(0, 2))
    var = ((x64 - _per_set(mean)) ** 2).mean(axis=(0, 2))
    return mean.astype(x3.dtype), var.astype(x3.dtype)


def normalize_forward_numpy(x3, mean, rstd):
    """Plain-NumPy twin of normalize_forward."""
    return ((x3 - _per_set(mean)) * _per_set(rstd)).astype(x3.dtype, copy=False)


def normalize_backward_numpy(grad_xhat3, xhat3, rstd):
    """Plain-NumPy twin of normalize_backward."""
    grad_mean = grad_xhat3.mean(axis=(0, 2), keepdims=True)
    grad_xhat_mean = (grad_xhat3 * xhat3).mean(axis=(0, 2), keepdims=True)
    dx3 = _per_set(rstd) * (grad_xhat3 - grad_mean - xhat3 * grad_xhat_mean)
    return dx3.astype(grad_xhat3.dtype, copy=False)
