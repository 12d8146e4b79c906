"""Nearest-neighbour upsampling by whole factors, and bilinear resampling with PyTorch's
F.interpolate(mode="bilinear") semantics, of (N, C, H, W) images.

Nearest upsampling copies every pixel into an (sh, sw) block; its adjoint sums each block.  The
NumPy twins are np.repeat along both axes and a sum over the block axes of a reshape, which NumPy
reduces slowly (two short strided axes: 19 ms for a (64, 64, 28, 28) gradient, the kernel ~1 ms).

Bilinear:

Resampling is separable.  Along each axis, output position o reads input
positions lo[o] and hi[o] = min(lo[o] + 1, size - 1) with weights 1 - frac[o]
and frac[o], where lo + frac is the source coordinate

    align_corners=False:  max((o + 0.5) * in/out - 0.5, 0)
    align_corners=True:   o * (in - 1)/(out - 1)   (0 when out == 1)

The Numba fast path applies the two axes one after the other, and its
backward applies the transposed passes in reverse order.  The NumPy twin
builds the dense (out, in) interpolation matrix R of each axis and computes
y = R_h @ x @ R_w^T, whose adjoint dx = R_h^T @ g @ R_w is evident.
"""
import numpy as np

from ._numba import kernel_array, njit, prange


@njit(parallel=True, cache=True)
def _nearest_kernel(image, repeated, scale_h, scale_w, fold):
    """repeated = image with every pixel copied into a (scale_h, scale_w) block or, if ``fold``,
    image = the sum of every block of repeated."""
    n_images, channels, height, width = image.shape
    for plane in prange(n_images * channels):
        n = plane // channels
        c = plane % channels
        source = image[n, c]
        target = repeated[n, c]
        for h in range(height):
            if fold:
                source[h] = 0
            for i in range(scale_h):
                row = target[h * scale_h + i]
                for w in range(width):
                    for j in range(scale_w):
                        if fold:
                            source[h, w] += row[w * scale_w + j]
                        else:
                            row[w * scale_w + j] = source[h, w]


def upsample_nearest2d_forward(x, scale):
    """x (N, C, H, W) -> (N, C, H*sh, W*sw), every pixel repeated over an (sh, sw) block."""
    y = np.empty((*x.shape[:2], x.shape[2] * scale[0], x.shape[3] * scale[1]), dtype=x.dtype)
    _nearest_kernel(kernel_array(x), y, scale[0], scale[1], False)
    return y


def upsample_nearest2d_backward(grad_y, scale):
    """Gradient of upsample_nearest2d_forward: each (sh, sw) block of grad_y summed into its pixel."""
    n_images, channels, height, width = grad_y.shape
    dx = np.empty((n_images, channels, height // scale[0], width // scale[1]), dtype=grad_y.dtype)
    _nearest_kernel(dx, kernel_array(grad_y), scale[0], scale[1], True)
    return dx


def upsample_nearest2d_forward_numpy(x, scale):
    """Plain-NumPy twin of upsample_nearest2d_forward."""
    return np.repeat(np.repeat(x, scale[0], axis=2), scale[1], axis=3)


def upsample_nearest2d_backward_numpy(grad_y, scale):
    """Plain-NumPy twin of upsample_nearest2d_backward."""
    n_images, channels, height, width = grad_y.shape
    blocks = grad_y.reshape(n_images, channels, height // scale[0], scale[0], width // scale[1], scale[1])
    return blocks.sum(axis=(3, 5))


def _source_taps(in_size, out_size, align_corners, dtype):
    """Per output position along one axis: (lo, hi, lo_weight, hi_weight).

    lo and hi are unsigned because Numba checks signed indices for negative
    wraparound on every access, which made the kernels' gathers ~1.5x slower.
    """
    dst = np.arange(out_size, dtype=np.float64)
    if align_corners:
        src = dst * ((in_size - 1) / (out_size - 1) if out_size > 1 else 0.0)
    else:
        src = np.maximum((dst + 0.5) * (in_size / out_size) - 0.5, 0.0)
    lo = src.astype(np.uint64)  # floor, because src >= 0
    hi = np.minimum(lo + 1, in_size - 1)
    frac = src - lo
    return lo, hi, (1 - frac).astype(dtype), frac.astype(dtype)


def _taps_per_axis(in_hw, out_hw, align_corners, dtype):
    return tuple(_source_taps(i, o, align_corners, dtype) for i, o in zip(in_hw, out_hw))


# Both kernels run one task per (n, c) plane (so the adjoint's scatter never
# races) and resample in two passes: along each row into ``across`` (H, OW),
# then across rows, whose blend of two whole rows is a contiguous loop.  That
# does about half the work of gathering four taps per output pixel.


@njit(parallel=True, cache=True)
def _bilinear_kernel(image, resampled, rows, cols):
    """resampled = bilinear(image)."""
    top, bottom, top_weight, bottom_weight = rows
    left, right, left_weight, right_weight = cols
    n_images, channels, height, _ = image.shape
    out_h, out_w = resampled.shape[2], resampled.shape[3]
    for plane in prange(n_images * channels):
        n = plane // channels
        c = plane % channels
        source = image[n, c]
        target = resampled[n, c]
        across = np.empty((height, out_w), dtype=image.dtype)
        for h in range(height):
            for ow in range(out_w):
                across[h, ow] = (
                    left_weight[ow] * source[h, left[ow]] + right_weight[ow] * source[h, right[ow]]
                )
        for oh in range(out_h):
            upper, lower = across[top[oh]], across[bottom[oh]]
            for ow in range(out_w):
                target[oh, ow] = top_weight[oh] * upper[ow] + bottom_weight[oh] * lower[ow]


@njit(parallel=True, cache=True)
def _bilinear_adjoint_kernel(image, resampled, rows, cols):
    """image += bilinear^T(resampled): the forward's two passes transposed, in reverse order."""
    top, bottom, top_weight, bottom_weight = rows
    left, right, left_weight, right_weight = cols
    n_images, channels, height, _ = image.shape
    out_h, out_w = resampled.shape[2], resampled.shape[3]
    for plane in prange(n_images * channels):
        n = plane // channels
        c = plane % channels
        source = image[n, c]
        target = resampled[n, c]
        across = np.zeros((height, out_w), dtype=image.dtype)
        for oh in range(out_h):
            upper, lower = across[top[oh]], across[bottom[oh]]
            for ow in range(out_w):
                upper[ow] += top_weight[oh] * target[oh, ow]
                lower[ow] += bottom_weight[oh] * target[oh, ow]
        for h in range(height):
            for ow in range(out_w):
                source[h, left[ow]] += left_weight[ow] * across[h, ow]
                source[h, right[ow]] += right_weight[ow] * across[h, ow]


def upsample_bilinear2d_forward(x, out_size, align_corners):
    """Resample x (N, C, H, W) to (N, C, *out_size) bilinearly."""
    y = np.empty((*x.shape[:2], *out_size), dtype=x.dtype)
    rows, cols = _taps_per_axis(x.shape[2:], out_size, align_corners, x.dtype)
    _bilinear_kernel(kernel_array(x), y, rows, cols)
    return y


def upsample_bilinear2d_backward(grad_y, x_shape, align_corners):
    """Gradient of upsample_bilinear2d_forward with respect to x of shape ``x_shape``."""
    dx = np.zeros(x_shape, dtype=grad_y.dtype)
    rows, cols = _taps_per_axis(x_shape[2:], grad_y.shape[2:], align_corners, grad_y.dtype)
    _bilinear_adjoint_kernel(dx, kernel_array(grad_y), rows, cols)
    return dx


def _interpolation_matrix(in_size, out_size, align_corners, dtype):
    """Dense (out, in) matrix R of one axis: resampled = R @ original."""
    lo, hi, lo_weight, hi_weight = _source_taps(in_size, out_size, align_corners, dtype)
    matrix = np.zeros((out_size, in_size), dtype=dtype)
    positions = np.arange(out_size)
    # add.at, not assignment: lo == hi at the last input position.
    np.add.at(matrix, (positions, lo), lo_weight)
    np.add.at(matrix, (positions, hi), hi_weight)
    return matrix


def _interpolation_matrices(in_hw, out_hw, align_corners, dtype):
    return tuple(_interpolation_matrix(i, o, align_corners, dtype) for i, o in zip(in_hw, out_hw))


def upsample_bilinear2d_forward_numpy(x, out_size, align_corners):
    """Plain-NumPy twin of upsample_bilinear2d_forward."""
    rows, cols = _interpolation_matrices(x.shape[2:], out_size, align_corners, x.dtype)
    return rows @ x @ cols.T


def upsample_bilinear2d_backward_numpy(grad_y, x_shape, align_corners):
    """Plain-NumPy twin of upsample_bilinear2d_backward."""
    rows, cols = _interpolation_matrices(x_shape[2:], grad_y.shape[2:], align_corners, grad_y.dtype)
    return rows.T @ grad_y @ cols
