"""Normalization kernels shared by batch norm, group norm and layer norm.

Every normalization views its input as a 3-D array x3 of shape (A, B, M) and
normalizes each b over axes 0 and 2 together, so per-b vectors have shape (B,):

    batch norm   (N, C, H*W)            one set of statistics per channel
    group norm   (1, N*G, C/G*H*W)      per (sample, group)
    layer norm   (1, rows, M)           per row

The caller picks eps (rstd = 1 / sqrt(var + eps)) and applies any affine
transform.  Sums are accumulated in float64; results keep the input dtype.

Group norm, the normalization of the diffusion UNet, also has fused kernels that
apply the affine transform in the same pass and, backwards, produce dx and the
per-channel weight and bias gradients from two sweeps over the data; they view
the input as x4 of shape (N, G, C/G, M) and keep per-(sample, group) mean and
rstd in float64.  Only their mean is a float64 sum; the sweeps after it run in the
input dtype (8 float32 lanes instead of 4 float64 ones) on x minus the mean rounded
to that dtype, which is exact for x near the mean, and fold the rounding back in
through float64 constants.
"""
import numpy as np

from ._numba import kernel_array, njit, prange, serial_and_parallel

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


def _columns(x3):
    """Whether x3 (A, B, M) is a (rows, features) matrix, as in BatchNorm1d: M == 1 with several rows.

    The kernels' per-b loops would then stride across every row (one element per 4 KiB row of a
    1024-feature layer); NumPy's axis-0 reductions sweep the rows in memory order and ran 4-10x
    faster, so for these shapes the NumPy twins are the fast path.
    """
    return x3.shape[2] == 1 and x3.shape[0] > 1


def moments(x3):
    """Per-b mean and biased variance of x3 (A, B, M) over axes 0 and 2, each of shape (B,)."""
    if _columns(x3):
        return moments_numpy(x3)
    mean = np.empty(x3.shape[1], dtype=x3.dtype)
    var = np.empty(x3.shape[1], dtype=x3.dtype)
    _moments_kernel(kernel_array(x3), mean, var)
    return mean, var


def normalize_forward(x3, mean, rstd):
    """xhat = (x - mean[b]) * rstd[b]."""
    if _columns(x3):
        return normalize_forward_numpy(x3, mean, rstd)
    xhat3 = np.empty(x3.shape, dtype=x3.dtype)
    _normalize_kernel(kernel_array(x3), kernel_array(mean), kernel_array(rstd), xhat3)
    return xhat3


def normalize_backward(grad_xhat3, xhat3, rstd):
    """dL/dx from dL/dxhat for xhat = (x - mean) * rstd with mean and rstd taken from x itself.

    dx = rstd * (g - mean(g) - xhat * mean(g * xhat)), means per b over axes 0 and 2.
    """
    # dxhat_k/dx_i = rstd*([i==k] - 1/M - xhat_i*xhat_k/M) as dmean/dx_i = 1/M, drstd/dx_i = -rstd**2*xhat_i/M
    if _columns(xhat3):
        return normalize_backward_numpy(grad_xhat3, xhat3, rstd)
    dx3 = np.empty(grad_xhat3.shape, dtype=grad_xhat3.dtype)
    _normalize_backward_kernel(kernel_array(grad_xhat3), kernel_array(xhat3), kernel_array(rstd), dx3)
    return dx3


# Group norm sweeps little data per launch: on the 2-core machines a parallel launch (waking the
# workqueue's sleeping workers, ~0.1-0.25 ms) cost more than the second core saved up to 1.6M
# elements (64x32x28x28: serial 1.77 ms, parallel 2.2 ms per forward + backward) and tied at
# 3.2M-4.8M, where memory bandwidth bounds both; so only larger inputs use the thread pool.
GROUP_NORM_PARALLEL_MIN_SIZE = 1 << 23


@serial_and_parallel(min_size=GROUP_NORM_PARALLEL_MIN_SIZE, fastmath=_REDUCTION_MATH)
def _group_norm_forward_kernel(x3, weight, bias, eps, y3, mean, rstd):
    n_sets, group_channels, inner = x3.shape
    groups = weight.shape[0] // group_channels
    count = group_channels * inner
    in_dtype = x3.dtype.type
    for s in prange(n_sets):
        g = s % groups
        total = np.float64(0)
        for c in range(group_channels):
            for m in range(inner):
                total += x3[s, c, m]
        mu = total / count
        # The mean rounded to the input dtype, mu_x = mu + offset: x - mu_x is exact for x near the
        # mean (Sterbenz), so the sweeps below run in the input dtype without losing the small
        # deviations of a near-constant group; offset enters only through float64 constants.
        mu_x = in_dtype(mu)
        offset = np.float64(mu_x) - mu
        squares = np.float64(0)
        for c in range(group_channels):
            channel_squares = in_dtype(0)
            for m in range(inner):
                centred = x3[s, c, m] - mu_x
                channel_squares += centred * centred
            squares += channel_squares
        # sum (x - mu)^2 = sum (x - mu_x)^2 - count offset^2, as sum (x - mu_x) = -count offset
        r = 1.0 / np.sqrt(squares / count - offset * offset + eps)
        mean[s], rstd[s] = mu, r
        for c in range(group_channels):
            # y = (x - mu) r w + b = (x - mu_x) a + (b + offset a) with a = r w
            channel = g * group_channels + c
            scale = r * weight[channel]
            scale_x, shift_x = in_dtype(scale), in_dtype(bias[channel] + offset * scale)
            for m in range(inner):
                y3[s, c, m] = (x3[s, c, m] - mu_x) * scale_x + shift_x


@serial_and_parallel(min_size=GROUP_NORM_PARALLEL_MIN_SIZE, fastmath=_REDUCTION_MATH)
def _group_norm_backward_kernel(grad3, x3, mean, rstd, weight, dx3, dweight_nc, dbias_nc):
    n_sets, group_channels, inner = x3.shape
    groups = weight.shape[0] // group_channels
    count = group_channels * inner
    in_dtype = x3.dtype.type
    for s in prange(n_sets):
        n, g = s // groups, s % groups
        mu, r = mean[s], rstd[s]
        mu_x = in_dtype(mu)  # as in the forward kernel: x - mu_x exact, offset = mu_x - mu in float64
        offset = np.float64(mu_x) - mu
        grad_xhat_total = np.float64(0)  # sum of dL/dxhat = g w
        grad_xhat_xhat_total = np.float64(0)  # sum of dL/dxhat * xhat
        for c in range(group_channels):
            channel = g * group_channels + c
            grad_sum = in_dtype(0)
            grad_centred_sum = in_dtype(0)
            for m in range(inner):
                grad_sum += grad3[s, c, m]
                grad_centred_sum += grad3[s, c, m] * (x3[s, c, m] - mu_x)
            # sum of g xhat over this channel's pixels, with x - mu = (x - mu_x) + offset
            grad_xhat_sum = (grad_centred_sum + offset * grad_sum) * r
            dbias_nc[n, channel] = grad_sum
            dweight_nc[n, channel] = grad_xhat_sum
            grad_xhat_total += weight[channel] * np.float64(grad_sum)
            grad_xhat_xhat_total += weight[channel] * grad_xhat_sum
        grad_xhat_mean = grad_xhat_total / count
        grad_xhat_xhat_mean = grad_xhat_xhat_total / count
        # dx = r (g w - mean(g w) - xhat mean(g w xhat)) = g (r w) + (x - mu_x) slope + constant
        slope = -r * r * grad_xhat_xhat_mean
        slope_x, constant_x = in_dtype(slope), in_dtype(offset * slope - r * grad_xhat_mean)
        for c in range(group_channels):
            scale_x = in_dtype(r * weight[g * group_channels + c])
            for m in range(inner):
                dx3[s, c, m] = grad3[s, c, m] * scale_x + (x3[s, c, m] - mu_x) * slope_x + constant_x


def _sets(x4):
    """x4 (N, G, C/G, M) as the kernels' (N*G, C/G, M): one row of sets per (sample, group)."""
    return kernel_array(x4).reshape(-1, *x4.shape[2:])


def group_norm_forward(x4, weight, bias, eps):
    """y = (x - mean) rstd weight[c] + bias[c] per (sample, group) of x4 (N, G, C/G, M).

    Returns y (dtype of x4) and the float64 mean and rstd, each (N, G).
    """
    x3 = _sets(x4)
    y3 = np.empty(x3.shape, dtype=x4.dtype)
    mean = np.empty(len(x3))
    rstd = np.empty(len(x3))
    _group_norm_forward_kernel(x3, kernel_array(weight.astype(x4.dtype, copy=False)),
                               kernel_array(bias.astype(x4.dtype, copy=False)), float(eps), y3, mean, rstd)
    return y3.reshape(x4.shape), mean.reshape(x4.shape[:2]), rstd.reshape(x4.shape[:2])


def group_norm_backward(grad_y4, x4, mean, rstd, weight):
    """(dx, dweight, dbias) of group_norm_forward, from its saved mean and rstd.

    With xhat = (x - mean) rstd and gx = g w:  dx = rstd (gx - mean(gx) - xhat mean(gx xhat)),
    dweight = sum of g xhat and dbias = sum of g over samples and pixels.
    """
    n_images, channels = x4.shape[0], x4.shape[1] * x4.shape[2]
    x3 = _sets(x4)
    dx3 = np.empty(x3.shape, dtype=x4.dtype)
    dweight_nc = np.empty((n_images, channels))
    dbias_nc = np.empty((n_images, channels))
    _group_norm_backward_kernel(_sets(grad_y4), x3, kernel_array(mean).reshape(-1), kernel_array(rstd).reshape(-1),
                                kernel_array(weight.astype(x4.dtype, copy=False)), dx3, dweight_nc, dbias_nc)
    return dx3.reshape(x4.shape), dweight_nc.sum(axis=0).astype(x4.dtype), dbias_nc.sum(axis=0).astype(x4.dtype)


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


def _per_group_channel(v, x4):
    """A per-channel vector (C,) broadcast against x4 (N, G, C/G, M)."""
    return v.reshape(1, x4.shape[1], x4.shape[2], 1)


def group_norm_forward_numpy(x4, weight, bias, eps):
    """Plain-NumPy twin of group_norm_forward."""
    x64 = x4.astype(np.float64)
    mean = x64.mean(axis=(2, 3))
    var = ((x64 - mean[:, :, None, None]) ** 2).mean(axis=(2, 3))
    rstd = 1 / np.sqrt(var + eps)
    xhat = (x64 - mean[:, :, None, None]) * rstd[:, :, None, None]
    y4 = xhat * _per_group_channel(weight, x4) + _per_group_channel(bias, x4)
    return y4.astype(x4.dtype), mean, rstd


def group_norm_backward_numpy(grad_y4, x4, mean, rstd, weight):
    """Plain-NumPy twin of group_norm_backward."""
    g64 = grad_y4.astype(np.float64)
    xhat = (x4.astype(np.float64) - mean[:, :, None, None]) * rstd[:, :, None, None]
    dweight = (g64 * xhat).sum(axis=(0, 3)).reshape(-1)
    dbias = g64.sum(axis=(0, 3)).reshape(-1)
    grad_xhat = g64 * _per_group_channel(weight.astype(np.float64), x4)
    grad_xhat_mean = grad_xhat.mean(axis=(2, 3), keepdims=True)
    grad_xhat_xhat_mean = (grad_xhat * xhat).mean(axis=(2, 3), keepdims=True)
    dx4 = rstd[:, :, None, None] * (grad_xhat - grad_xhat_mean - xhat * grad_xhat_xhat_mean)
    return dx4.astype(x4.dtype), dweight.astype(x4.dtype), dbias.astype(x4.dtype)
